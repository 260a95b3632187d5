//! The cluster's tokio tasks: the inbox reader and one writer per (peer, lane).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tern_net::proto::{FromHome, Message, NodeId, Outcome, Rejection, ToHome};
use tern_net::quic::{Delivery, Inbox, PeerEvent, SendError};
use tokio::sync::mpsc;

use super::{bump, Cluster};
use crate::channel::ChanCore;
use crate::node::NodeInner;

/// How long a party waits before it asks again after a refusal for now (not home,
/// overloaded).
const RETRY_AFTER: Duration = Duration::from_millis(20);

/// Starts the inbox reader.
pub(crate) fn spawn_driver(cluster: &Arc<Cluster>, inbox: Inbox) {
    cluster.rt.spawn(read_inbox(Arc::clone(cluster), inbox));
}

async fn read_inbox(cluster: Arc<Cluster>, mut inbox: Inbox) {
    while let Some(delivery) = inbox.recv().await {
        let Some(node) = cluster.node() else { break };
        match delivery {
            Delivery::Message { from, message } => {
                bump(&cluster.stats.received);
                on_message(&cluster, &node, &from, message);
            }
            Delivery::Event(event) => on_event(&cluster, &node, event),
        }
    }
    tracing::debug!(node = %cluster.me, "cluster inbox closed");
}

/// Writes one (peer, lane)'s messages in order. A message the mesh cannot send (the peer is
/// down) is dropped: what it carried is sent again when the peer is back (`resend_to`) or
/// failed when it is declared down.
pub(super) async fn write_lane(
    cluster: Arc<Cluster>,
    peer: NodeId,
    mut rx: mpsc::UnboundedReceiver<Message>,
    backlog: Arc<AtomicUsize>,
) {
    while let Some(message) = rx.recv().await {
        let sent = cluster.mesh.send(&peer, message).await;
        // Only now is the message in the lane's buffer: a sender that sees no backlog may
        // then write straight to the buffer, after it.
        backlog.fetch_sub(1, Ordering::AcqRel);
        match sent {
            Ok(()) => bump(&cluster.stats.sent),
            Err(SendError::Shutdown { .. }) => break,
            Err(e) => {
                bump(&cluster.stats.dropped);
                tracing::debug!(node = %cluster.me, %peer, error = %e, "message not sent");
            }
        }
    }
}

/// The channel core `msg` is about, made if this node has none of that name. When this node
/// holds the name with another type or capacity, the message is refused (a send gets its
/// value back), counted, and `None` returned.
fn core_for(
    cluster: &Arc<Cluster>,
    node: &Arc<NodeInner>,
    from: &NodeId,
    msg: ToHome,
) -> Option<(Arc<ChanCore>, ToHome)> {
    let chan = msg.chan();
    let id = crate::channel::ChannelId {
        name: chan.name.as_str().into(),
        ty: chan.ty.0,
        cap: usize::try_from(chan.cap).unwrap_or(usize::MAX),
    };
    let core = NodeInner::core_for(node, id.clone());
    if core.id() == &id {
        return Some((core, msg));
    }
    cluster.count_mismatch();
    tracing::debug!(node = %cluster.me, %from, channel = ?chan, "channel message refused: type or capacity mismatch");
    let found = core.id();
    let reason = Rejection::Mismatch {
        found_ty: tern_net::proto::TypeKey(found.ty),
        found_cap: found.cap as u64,
    };
    let reply = match msg {
        ToHome::Send { chan, op, value } => FromHome::Done {
            chan,
            op,
            outcome: Outcome::Rejected {
                reason,
                value: Some(value),
            },
        },
        ToHome::Recv { chan, op } => FromHome::Done {
            chan,
            op,
            outcome: Outcome::Rejected {
                reason,
                value: None,
            },
        },
        other => FromHome::Rejected {
            chan: other.chan().clone(),
            reason,
        },
    };
    cluster.transmit(from, Message::FromHome(reply));
    None
}

fn on_message(cluster: &Arc<Cluster>, node: &Arc<NodeInner>, from: &NodeId, message: Message) {
    match message {
        Message::ToHome(msg) => {
            if let ToHome::Balance { chan, query } = &msg {
                if node.channel_named(chan.name.as_str()).is_none() {
                    // A channel nobody has used here is empty; asking does not create it
                    // (and a new peer uses this to learn that this node counts it).
                    let reply = FromHome::BalanceIs {
                        chan: chan.clone(),
                        query: *query,
                        balance: 0,
                        len: 0,
                        closed: false,
                    };
                    cluster.transmit(from, Message::FromHome(reply));
                    return;
                }
            }
            if matches!(msg, ToHome::Ack { .. } | ToHome::Release { .. }) {
                // Bookkeeping: never creates a channel, never answered.
                if let Some(core) = node.channel_named(msg.chan().name.as_str()) {
                    if core.id().ty == msg.chan().ty.0 {
                        core.on_to_home(from, msg);
                    }
                }
                return;
            }
            let Some((core, msg)) = core_for(cluster, node, from, msg) else {
                return;
            };
            if !core.on_to_home(from, msg) {
                bump(&cluster.stats.not_home);
            }
        }
        Message::FromHome(msg) => match msg {
            FromHome::Done { chan, op, outcome } => {
                let Some(core) = node.channel_named(chan.name.as_str()) else {
                    // No party of this node waits on that channel: a repeated answer.
                    let ack = ToHome::Ack { chan, op };
                    cluster.transmit(from, Message::ToHome(ack));
                    return;
                };
                if core.on_done(from, op, outcome) {
                    let cluster = Arc::clone(cluster);
                    cluster.rt.clone().spawn(async move {
                        tokio::time::sleep(RETRY_AFTER).await;
                        core.retry(op);
                        drop(cluster);
                    });
                }
            }
            FromHome::ChannelClosed { chan } => {
                if let Some(core) = node.channel_named(chan.name.as_str()) {
                    core.closed_at_home();
                }
            }
            FromHome::Credit {
                chan,
                acked,
                credit,
                ..
            } => {
                if let Some(core) = node.channel_named(chan.name.as_str()) {
                    core.on_credit(acked, credit);
                }
            }
            FromHome::BalanceIs { query, .. } => {
                if let Some(tx) = cluster.queries.lock().remove(&query) {
                    tx.send(()).ok();
                }
            }
            FromHome::Opened { .. } | FromHome::Rejected { .. } => {}
        },
        Message::Migrate(msg) => super::moves::on_message(cluster, from, msg),
        Message::Remote(msg) => node.objects.on_message(node, from, msg),
        other => {
            tracing::debug!(node = %cluster.me, %from, kind = other.kind(), "unexpected message from the mesh");
        }
    }
}

fn on_event(cluster: &Arc<Cluster>, node: &Arc<NodeInner>, event: PeerEvent) {
    match event {
        PeerEvent::Up {
            node: peer,
            incarnation,
            ..
        } => {
            let restarted = {
                let mut m = cluster.members.lock();
                let before =
                    m.up.get(&peer)
                        .copied()
                        .or_else(|| m.down.get(&peer).map(|(inc, _)| *inc));
                m.down.remove(&peer);
                m.up.insert(peer.clone(), incarnation);
                cluster.relist(&mut m);
                before.is_some_and(|b| b != incarnation)
            };
            tracing::info!(node = %cluster.me, %peer, restarted, "peer up");
            if restarted {
                peer_gone(cluster, node, &peer, true);
            } else {
                let n: usize = node.cores().iter().map(|c| c.resend_to(&peer)).sum();
                cluster
                    .stats
                    .resent
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                super::moves::reconnected(cluster, &peer);
                node.objects.reconnected(node, &peer);
            }
        }
        PeerEvent::Down {
            node: peer, reason, ..
        } => {
            tracing::info!(node = %cluster.me, %peer, ?reason, "peer down");
            let shutdown = matches!(reason, tern_net::quic::DownReason::Shutdown);
            let n = {
                let mut m = cluster.members.lock();
                let Some(inc) = m.up.remove(&peer) else {
                    return;
                };
                let n = cluster
                    .downs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if !shutdown {
                    m.down.insert(peer.clone(), (inc, n));
                }
                cluster.relist(&mut m);
                n
            };
            if shutdown {
                // It will not come back as the same incarnation: what it held is gone.
                peer_gone(cluster, node, &peer, true);
                return;
            }
            let cluster = Arc::clone(cluster);
            let rt = cluster.rt.clone();
            rt.spawn(async move {
                tokio::time::sleep(cluster.grace).await;
                let expired = {
                    let mut m = cluster.members.lock();
                    let expired = m.down.get(&peer).is_some_and(|(_, k)| *k == n);
                    if expired {
                        m.down.remove(&peer);
                        cluster.relist(&mut m);
                    }
                    expired
                };
                if expired {
                    tracing::info!(node = %cluster.me, %peer, "peer declared down");
                    if let Some(node) = cluster.node() {
                        peer_gone(&cluster, &node, &peer, false);
                    }
                }
            });
        }
    }
}

/// Fails what this node's parties have in flight at `peer`, drops what `peer`'s parties wait
/// for here.
fn peer_gone(cluster: &Arc<Cluster>, node: &Arc<NodeInner>, peer: &NodeId, restarted: bool) {
    super::moves::peer_down(cluster, peer);
    node.objects.peer_gone(peer);
    let n: usize = node
        .cores()
        .iter()
        .map(|c| c.peer_gone(peer, restarted))
        .sum();
    cluster
        .stats
        .node_down
        .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
}
