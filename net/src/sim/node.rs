//! A simulated node: its connections (driving [`Connection`]), the homes it holds (driving
//! [`Home`]) and the routing between them and the parties.

use std::collections::BTreeMap;
use std::time::Duration;

use super::history::Event;
use super::net::{ConnId, NetEvent, NodeIx, StreamId};
use super::world::World;
use crate::proto::migrate::{MigrateConfig, Migrations};
use crate::proto::{
    encode, fnv1a, Action, ChannelId, ChannelName, CloseReason, Connection, Decoder, FromHome,
    GoodbyeReason, Home, Incarnation, Limits, Local, Message, NodeId, PeerInfo, Rejection, Role,
    ToHome,
};

/// One side of a connection, as its node holds it.
#[derive(Debug)]
pub(super) struct Endpoint {
    pub(super) peer: NodeIx,
    pub(super) conn: Connection,
    decoders: BTreeMap<StreamId, Decoder>,
    /// Channel-stream bytes that arrived before the handshake completed.
    held: Vec<(StreamId, Vec<u8>)>,
    established: bool,
    /// Channels this connection has sent `Open` for.
    opened: Vec<ChannelId>,
    /// The peer's limits (from its handshake).
    limits: Limits,
}

/// A node's state. Everything is lost in a crash.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) id: NodeId,
    pub(super) up: bool,
    pub(super) incarnation: Incarnation,
    pub(super) eps: BTreeMap<ConnId, Endpoint>,
    /// The connection used to talk to each peer: the newest established one.
    pub(super) current: BTreeMap<NodeIx, ConnId>,
    /// The incarnation each peer had when last connected.
    known: BTreeMap<NodeIx, Incarnation>,
    pub(super) homes: BTreeMap<ChannelName, Home>,
    /// When to dial each peer next.
    pub(super) redial: BTreeMap<NodeIx, Duration>,
    /// The migration protocol's bookkeeping (moves in and out, pointers, records).
    pub(super) migr: Migrations,
}

impl Node {
    pub(super) fn new(id: NodeId, incarnation: Incarnation) -> Node {
        Node {
            up: true,
            incarnation,
            eps: BTreeMap::new(),
            current: BTreeMap::new(),
            known: BTreeMap::new(),
            homes: BTreeMap::new(),
            redial: BTreeMap::new(),
            migr: Migrations::new(id.clone(), MigrateConfig::default()),
            id,
        }
    }

    pub(super) fn crash(&mut self) {
        self.up = false;
        self.eps.clear();
        self.current.clear();
        self.known.clear();
        self.homes.clear();
        self.redial.clear();
        self.migr = Migrations::new(self.id.clone(), MigrateConfig::default());
    }

    pub(super) fn restart(&mut self, incarnation: Incarnation) {
        self.up = true;
        self.incarnation = incarnation;
    }
}

/// The stream that carries a channel's messages (one per channel name and direction).
pub(super) fn stream_of(chan: &ChannelId) -> StreamId {
    StreamId(fnv1a(chan.name.as_str().as_bytes()).max(1))
}

impl World {
    /// Dials `peer` from `node` unless a connection to it exists.
    pub(super) fn dial(&mut self, node: NodeIx, peer: NodeIx) {
        let n = &self.nodes[node];
        if !n.up || n.eps.values().any(|ep| ep.peer == peer) {
            return;
        }
        let conn = self.net.dial(node, peer);
        self.log(format_args!("n{node} dials n{peer} ({conn:?})"));
        self.add_endpoint(node, conn, peer, Role::Dialer);
    }

    fn add_endpoint(&mut self, node: NodeIx, conn: ConnId, peer: NodeIx, role: Role) {
        let local = Local {
            node: self.nodes[node].id.clone(),
            incarnation: self.nodes[node].incarnation,
        };
        let certified = self.members[peer].clone();
        let now = self.instant(self.now);
        let ep = Endpoint {
            peer,
            conn: Connection::new(role, local, certified, self.cfg.conn, now),
            decoders: BTreeMap::new(),
            held: Vec::new(),
            established: false,
            opened: Vec::new(),
            limits: Limits::default(),
        };
        self.nodes[node].eps.insert(conn, ep);
        self.drain(node, conn);
    }

    pub(super) fn on_net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Incoming { node, conn, peer } => {
                if self.nodes[node].up {
                    self.add_endpoint(node, conn, peer, Role::Listener);
                }
            }
            NetEvent::Data {
                node,
                conn,
                stream,
                bytes,
            } => self.on_data(node, conn, stream, bytes),
            NetEvent::Closed { node, conn } => {
                if self.nodes[node].eps.contains_key(&conn) {
                    self.log(format_args!("n{node} {conn:?} closed by the peer"));
                    self.lost(node, conn);
                }
            }
        }
    }

    fn on_data(&mut self, node: NodeIx, conn: ConnId, stream: StreamId, bytes: Vec<u8>) {
        let Some(ep) = self.nodes[node].eps.get_mut(&conn) else {
            return;
        };
        if stream != StreamId::CONTROL && !ep.established {
            // Streams other than the control stream wait for the handshake.
            ep.held.push((stream, bytes));
            return;
        }
        let mut input = &bytes[..];
        let limits = self.cfg.conn.limits;
        let now = self.instant(self.now);
        loop {
            let Some(ep) = self.nodes[node].eps.get_mut(&conn) else {
                return;
            };
            let decoder = ep
                .decoders
                .entry(stream)
                .or_insert_with(|| Decoder::new(limits));
            match decoder.decode(&mut input) {
                Ok(Some(msg)) => ep.conn.handle_message(now, msg),
                Ok(None) => return,
                Err(e) => {
                    ep.conn.handle_decode_error(now, &e);
                    let fatal = e.is_fatal();
                    self.unexpected(format!("n{node} {conn:?}: undecodable frame: {e}"));
                    if fatal {
                        self.drain(node, conn);
                        return;
                    }
                }
            }
            self.drain(node, conn);
        }
    }

    /// Carries out what a connection asks for.
    pub(super) fn drain(&mut self, node: NodeIx, conn: ConnId) {
        loop {
            let Some(ep) = self.nodes[node].eps.get_mut(&conn) else {
                return;
            };
            let Some(action) = ep.conn.poll() else { return };
            match action {
                Action::Transmit(msg) => {
                    let limits = ep.limits;
                    self.transmit(node, conn, StreamId::CONTROL, &msg, limits);
                }
                Action::Established(info) => self.established(node, conn, info),
                Action::Deliver(msg) => {
                    let peer = ep.peer;
                    self.route(node, peer, msg);
                }
                Action::Closed(reason) => {
                    self.closed(node, conn, &reason);
                    return;
                }
            }
        }
    }

    fn transmit(
        &mut self,
        node: NodeIx,
        conn: ConnId,
        stream: StreamId,
        msg: &Message,
        limits: Limits,
    ) {
        let mut bytes = Vec::new();
        match encode(msg, &limits, &mut bytes) {
            Ok(()) => {
                self.net.send(self.now, node, conn, stream, &bytes);
            }
            Err(e) => self.unexpected(format!("n{node}: {} does not encode: {e}", msg.kind())),
        }
    }

    fn closed(&mut self, node: NodeIx, conn: ConnId, reason: &CloseReason) {
        self.log(format_args!("n{node} {conn:?} closed: {reason:?}"));
        if matches!(
            reason,
            CloseReason::Unexpected { .. } | CloseReason::Decode(_)
        ) {
            self.unexpected(format!("n{node} {conn:?} closed: {reason:?}"));
        }
        self.net.close(self.now, node, conn);
        self.lost(node, conn);
    }

    /// A connection is gone: forget it, and redial if this node is the pair's dialer.
    fn lost(&mut self, node: NodeIx, conn: ConnId) {
        let n = &mut self.nodes[node];
        let Some(ep) = n.eps.remove(&conn) else {
            return;
        };
        let peer = ep.peer;
        if ep.established {
            self.stats.losses += 1;
        }
        if n.current.get(&peer) == Some(&conn) {
            n.current.remove(&peer);
        }
        if node < peer && n.up && !n.eps.values().any(|e| e.peer == peer) {
            let wait = self
                .rng
                .duration(Duration::from_millis(10), self.cfg.redial);
            let at = self.now + wait;
            self.nodes[node].redial.insert(peer, at);
        }
    }

    fn established(&mut self, node: NodeIx, conn: ConnId, info: PeerInfo) {
        let Some(ep) = self.nodes[node].eps.get_mut(&conn) else {
            return;
        };
        let peer = ep.peer;
        ep.established = true;
        ep.limits = Limits {
            max_frame: info.max_frame,
            ..Limits::default()
        };
        self.stats.connections += 1;
        self.log(format_args!(
            "n{node} {conn:?} established with n{peer} ({:?})",
            info.incarnation
        ));
        self.nodes[node].current.insert(peer, conn);
        // One connection per pair: the newest established one replaces any other, so nothing
        // sent on an older one can arrive after what is sent on this one.
        let older: Vec<ConnId> = self.nodes[node]
            .eps
            .iter()
            .filter(|(c, e)| **c != conn && e.peer == peer)
            .map(|(c, _)| *c)
            .collect();
        for c in older {
            if let Some(e) = self.nodes[node].eps.get_mut(&c) {
                e.conn.close(GoodbyeReason::Superseded);
            }
            self.drain(node, c);
        }
        let known = self.nodes[node].known.insert(peer, info.incarnation);
        if known.is_some_and(|k| k != info.incarnation) {
            self.peer_restarted(node, peer);
        } else {
            // The same incarnation (or the first connection): migration messages sent while
            // no connection was up, or lost with the old one, go again.
            let id = self.members[peer].clone();
            self.nodes[node].migr.reconnected(&id);
            self.pump_migrations_sorted(node);
        }
        self.resend(node, peer);
        let held = match self.nodes[node].eps.get_mut(&conn) {
            Some(ep) => std::mem::take(&mut ep.held),
            None => Vec::new(),
        };
        for (stream, bytes) in held {
            self.on_data(node, conn, stream, bytes);
        }
    }

    /// `peer` came back with a new incarnation: what its parties had at our homes is gone,
    /// and so is everything our parties had at its homes (`NodeDown`).
    fn peer_restarted(&mut self, node: NodeIx, peer: NodeIx) {
        self.log(format_args!("n{node} sees n{peer} restarted"));
        self.record(Event::Detect { node, peer });
        let id = self.members[peer].clone();
        for home in self.nodes[node].homes.values_mut() {
            home.peer_restarted(&id);
        }
        // Moves to it fail, copies it offered here are dropped. Before the parties hear
        // `NodeDown`: a party that then moves may offer itself to the new incarnation, and
        // that offer must not be failed with the old one's.
        self.nodes[node].migr.peer_down(&id);
        self.pump_migrations_sorted(node);
        self.node_down(node, peer);
    }

    /// Sends a channel message to `peer` over the current connection, opening the channel on
    /// that connection first. Returns `false` if no connection to `peer` is up.
    pub(super) fn send_app(&mut self, node: NodeIx, peer: NodeIx, msg: Message) -> bool {
        let chan = match &msg {
            Message::ToHome(m) => m.chan().clone(),
            Message::FromHome(m) => m.chan().clone(),
            _ => return false,
        };
        let stream = stream_of(&chan);
        self.send_on(node, peer, stream, msg)
    }

    /// Sends `msg` to `peer` on `stream` of the current connection (a channel message opens
    /// its channel on that connection first). Returns `false` if no connection is up.
    pub(super) fn send_on(
        &mut self,
        node: NodeIx,
        peer: NodeIx,
        stream: StreamId,
        msg: Message,
    ) -> bool {
        let Some(&conn) = self.nodes[node].current.get(&peer) else {
            self.stats.unsent += 1;
            return false;
        };
        let Some(ep) = self.nodes[node].eps.get_mut(&conn) else {
            self.stats.unsent += 1;
            return false;
        };
        let limits = ep.limits;
        if let Message::ToHome(m) = &msg {
            let chan = m.chan();
            if !matches!(m, ToHome::Open { .. }) && !ep.opened.contains(chan) {
                ep.opened.push(chan.clone());
                let open = Message::ToHome(ToHome::Open { chan: chan.clone() });
                self.transmit(node, conn, stream, &open, limits);
            }
        }
        self.transmit(node, conn, stream, &msg, limits);
        true
    }

    /// Routes an application message that arrived from `peer`.
    fn route(&mut self, node: NodeIx, peer: NodeIx, msg: Message) {
        match msg {
            Message::ToHome(m) => {
                let from = self.members[peer].clone();
                self.home_handle(node, &from, m);
            }
            Message::FromHome(m) => self.answer_parties(node, m),
            Message::Migrate(m) => self.migrate_in(node, peer, m),
            // Remote references are not modelled by the simulation yet.
            other => self.unexpected(format!("n{node}: {} routed", other.kind())),
        }
    }

    /// A message for a channel's home, from a party on `from` (this node's own id for local
    /// parties: their operations never become frames).
    pub(super) fn home_handle(&mut self, node: NodeIx, from: &NodeId, msg: ToHome) {
        let name = msg.chan().name.clone();
        let home = crate::proto::home_of(name.as_str(), &self.members);
        if home != Some(&self.nodes[node].id) {
            self.unexpected(format!("n{node} is not the home of {name:?}"));
            return;
        }
        let cfg = self.cfg.home;
        let h = self.nodes[node]
            .homes
            .entry(name)
            .or_insert_with(|| Home::new(msg.chan().clone(), cfg));
        h.handle(from, msg);
        let mut out = Vec::new();
        while let Some(m) = h.poll_transmit() {
            out.push(m);
        }
        for (to, m) in out {
            if to == self.nodes[node].id {
                self.answer_parties(node, m);
            } else if let Some(peer) = self.members.iter().position(|x| *x == to) {
                self.send_app(node, peer, Message::FromHome(m));
            }
        }
    }

    /// A message from a channel's home, for the parties on `node`.
    fn answer_parties(&mut self, node: NodeIx, msg: FromHome) {
        match msg {
            FromHome::Done { op, outcome, .. } => self.party_done(node, op, outcome),
            FromHome::Rejected { chan, reason } => {
                if matches!(reason, Rejection::Mismatch { .. }) {
                    self.log(format_args!(
                        "n{node}: open of {chan:?} refused: {reason:?}"
                    ));
                } else {
                    self.unexpected(format!("n{node}: {chan:?} refused: {reason:?}"));
                }
            }
            FromHome::Opened { .. }
            | FromHome::ChannelClosed { .. }
            | FromHome::BalanceIs { .. }
            | FromHome::Credit { .. } => {}
        }
    }

    pub(super) fn unexpected(&mut self, what: String) {
        self.log(format_args!("UNEXPECTED {what}"));
        self.record(Event::Unexpected { what });
    }
}
