//! Failures over real QUIC on loopback: a peer whose runtime is dropped goes `Down` within the
//! idle timeout and sends to it fail instead of hanging; a dropped connection between two live
//! nodes is redialled and messages continue.

mod quic_support;

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use quic_support::*;
use tern_net::quic::{DownReason, MeshConfig, PeerEvent, QuicConfig, SendError};

/// Short failure detection for these tests (only idle peers are judged by it).
fn fast() -> QuicConfig {
    QuicConfig::default()
        .with_keep_alive(Duration::from_millis(200))
        .with_idle_timeout(Duration::from_millis(1500))
}

/// Runs a node named `name` on a runtime of its own thread, which never reads its inbox
/// (a slow consumer); returns its address and a switch that drops the runtime.
fn victim(
    name: &'static str,
    inbox: (usize, usize),
) -> (std::net::SocketAddr, std_mpsc::Sender<()>) {
    let (addr_tx, addr_rx) = std_mpsc::channel();
    let (kill_tx, kill_rx) = std_mpsc::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (mesh, inbox) = runtime.block_on(async {
            node_with(
                name,
                99,
                fast(),
                MeshConfig::default().with_inbox(inbox.0, inbox.1),
            )
        });
        addr_tx
            .send(mesh.local_addr().expect("addr"))
            .expect("report address");
        // Killed: the runtime goes without closing anything, as a crashed process would. The
        // inbox goes after the runtime: dropped first, it would end the victim's readers,
        // which stop their streams, and alpha would see that (`Lost`) instead of a crash.
        kill_rx.recv().ok();
        runtime.shutdown_background();
        drop(inbox);
    });
    let addr = addr_rx.recv().expect("victim started");
    (addr, kill_tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_peer_goes_down_and_pending_sends_fail() {
    let (alpha, mut inbox) = node_with("alpha", 1, fast(), MeshConfig::default());
    // The victim's inbox takes 4 small messages, so alpha's sends soon wait for room.
    let (addr, kill) = victim("zulu", (4, 64 << 10));
    let zulu = alpha.connect(addr).await.expect("connect");
    assert!(matches!(next_event(&mut inbox).await, PeerEvent::Up { node, .. } if node == zulu));

    let flooder = {
        let (alpha, zulu) = (alpha.clone(), zulu.clone());
        tokio::spawn(async move {
            let mut seq = 0;
            loop {
                if let Err(e) = alpha.send(&zulu, numbered("flood", 1, seq, 16 << 10)).await {
                    return e;
                }
                seq += 1;
            }
        })
    };
    // The flood cannot complete: zulu reads nothing. Kill zulu.
    kill.send(()).expect("kill");

    match next_event(&mut inbox).await {
        PeerEvent::Down { node, reason, .. } => {
            assert_eq!(node, zulu);
            // Usually the idle timeout; a runtime torn down mid-step may still get quinn's
            // implicit close out.
            assert!(
                matches!(reason, DownReason::TimedOut | DownReason::Lost(_)),
                "{reason:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let error = tokio::time::timeout(GUARD, flooder)
        .await
        .expect("hang guard: the pending send never failed")
        .expect("flooder");
    assert!(
        matches!(error, SendError::NodeDown { ref peer, .. } if *peer == zulu),
        "{error:?}"
    );
    assert!(matches!(
        alpha.try_send(&zulu, numbered("after", 1, 0, 1)),
        Err(SendError::NodeDown { .. })
    ));
    assert!(alpha.peers().is_empty());
    alpha.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_lost_not_closed() {
    let (alpha, mut inbox) = node("alpha", 1);
    let (beta, beta_inbox) = node("beta", 2);
    // Nobody reads beta's deliveries: its readers stop every lane alpha opens.
    drop(beta_inbox);
    let peer = alpha
        .connect(beta.local_addr().expect("addr"))
        .await
        .expect("connect");
    assert!(matches!(next_event(&mut inbox).await, PeerEvent::Up { .. }));
    let sender = {
        let alpha = alpha.clone();
        tokio::spawn(async move {
            let mut seq = 0;
            loop {
                if let Err(e) = alpha.send(&peer, numbered("stopped", 1, seq, 8)).await {
                    return e;
                }
                seq += 1;
                tokio::task::yield_now().await;
            }
        })
    };
    match next_event(&mut inbox).await {
        // Not `Closed`: that would say this node shut down.
        PeerEvent::Down { reason, .. } => {
            assert!(matches!(reason, DownReason::Lost(_)), "{reason:?}")
        }
        other => panic!("{other:?}"),
    }
    let error = tokio::time::timeout(GUARD, sender)
        .await
        .expect("hang guard: sends never failed")
        .expect("sender");
    assert!(matches!(error, SendError::NodeDown { .. }), "{error:?}");
    alpha.shutdown().await;
    beta.shutdown().await;
}

/// The next `Up` (incarnation, generation), after at most one `Down` of a lost connection: a
/// side that sees the redialled connection before it noticed the old one fail gets the new
/// `Up` with no `Down` (the old connection was replaced, not down).
async fn next_up(inbox: &mut tern_net::quic::Inbox, round: usize) -> (u64, u64) {
    let mut downs = 0;
    loop {
        match next_event(inbox).await {
            PeerEvent::Up {
                incarnation,
                generation,
                ..
            } => return (incarnation.0, generation),
            PeerEvent::Down { reason, .. } if downs == 0 => {
                assert!(matches!(reason, DownReason::Lost(_)), "{reason:?}");
                downs += 1;
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_redialled_and_messages_continue() {
    // alpha < beta: alpha is the side that redials, whichever side dropped the connection.
    let (alpha, mut a_inbox) = node("alpha", 1);
    let (beta, mut b_inbox) = node("beta", 2);
    // beta dials, so the redial (by alpha) makes a connection dialled the other way.
    let peer = beta
        .connect(alpha.local_addr().expect("addr"))
        .await
        .expect("connect");
    assert_eq!(peer, id("alpha"));
    let mut seq = 0;
    let mut last_generation = [0u64; 2];
    for (dropper, round) in [("alpha", 0), ("beta", 1), ("alpha", 2), ("none", 3)] {
        for (side, inbox) in [&mut a_inbox, &mut b_inbox].into_iter().enumerate() {
            let (incarnation, generation) = next_up(inbox, round).await;
            assert_eq!(incarnation, [2, 1][side], "a reconnect, not a restart");
            assert!(generation > last_generation[side], "round {round}");
            last_generation[side] = generation;
        }
        // Traffic both ways on this connection, in order.
        for _ in 0..50 {
            alpha
                .send(&id("beta"), numbered("ab", 1, seq, 32))
                .await
                .expect("a → b");
            beta.send(&id("alpha"), numbered("ba", 2, seq, 32))
                .await
                .expect("b → a");
            assert_eq!(number_of(&next_message(&mut b_inbox).await.1).2, seq);
            assert_eq!(number_of(&next_message(&mut a_inbox).await.1).2, seq);
            seq += 1;
        }
        let dropped = match dropper {
            "alpha" => alpha.disconnect(&id("beta")),
            "beta" => beta.disconnect(&id("alpha")),
            _ => break,
        };
        assert!(dropped, "round {round}");
    }
    let status = alpha.peer_info(&id("beta")).expect("up again");
    assert_eq!(status.dialer, id("alpha"));
    alpha.shutdown().await;
    match next_event(&mut b_inbox).await {
        PeerEvent::Down { reason, .. } => assert_eq!(reason, DownReason::Shutdown),
        other => panic!("{other:?}"),
    }
    beta.shutdown().await;
}
