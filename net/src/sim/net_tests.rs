//! The simulated network keeps QUIC's promises over a bad link.

use super::*;

fn lossy() -> LinkConfig {
    LinkConfig {
        loss: 0.3,
        duplicate: 0.2,
        delay: Duration::from_millis(2),
        jitter: Duration::from_millis(20),
        mss: 7,
        ..LinkConfig::default()
    }
}

/// Runs the network until nothing is in flight (or `until`), returning every event with its
/// time.
fn drain(net: &mut Network, until: Duration) -> Vec<(Duration, NetEvent)> {
    let mut got = Vec::new();
    while let Some(t) = net.next_time() {
        if t > until {
            break;
        }
        while let Some(e) = net.poll(t) {
            got.push((t, e));
        }
    }
    got
}

/// The bytes `node` received on `stream`, concatenated.
fn received(events: &[(Duration, NetEvent)], node: NodeIx, stream: StreamId) -> Vec<u8> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            NetEvent::Data {
                node: n,
                stream: s,
                bytes,
                ..
            } if *n == node && *s == stream => Some(bytes.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn streams_stay_ordered_and_exact_over_a_lossy_reordering_duplicating_link() {
    let mut net = Network::new(2, lossy(), Rng::new(3));
    let conn = net.dial(0, 1);
    let (a, b) = (StreamId(1), StreamId(2));
    let msg_a: Vec<u8> = (0..=255).collect();
    let msg_b: Vec<u8> = (0..=255).rev().collect();
    for chunk in msg_a.chunks(40) {
        assert!(net.send(Duration::ZERO, 0, conn, a, chunk));
    }
    assert!(net.send(Duration::ZERO, 0, conn, b, &msg_b));
    let events = drain(&mut net, Duration::from_secs(60));
    assert!(matches!(
        events[0].1,
        NetEvent::Incoming {
            node: 1,
            peer: 0,
            ..
        }
    ));
    assert_eq!(received(&events, 1, a), msg_a);
    assert_eq!(received(&events, 1, b), msg_b);
    let s = net.stats();
    assert!(
        s.lost > 0 && s.duplicated > 0 && s.reordered > 0,
        "the link misbehaved: {s:?}"
    );
}

#[test]
fn a_cut_delays_a_stream_and_healing_resumes_it() {
    let mut net = Network::new(2, LinkConfig::default(), Rng::new(1));
    let conn = net.dial(0, 1);
    net.block(0, 1);
    net.block(0, 1);
    net.send(Duration::ZERO, 0, conn, StreamId(1), b"hello");
    let during = drain(&mut net, Duration::from_secs(5));
    assert!(during.is_empty(), "{during:?}");
    net.unblock(0, 1);
    assert!(net.is_blocked(0, 1), "cuts nest");
    // The reverse direction is independent (a one-way cut).
    assert!(!net.is_blocked(1, 0));
    net.unblock(0, 1);
    let after = drain(&mut net, Duration::from_secs(10));
    assert_eq!(received(&after, 1, StreamId(1)), b"hello");
    // Retransmissions back off up to rto_max: resumed within about rto_max of the heal.
    assert!(after
        .iter()
        .all(|(t, _)| *t <= Duration::from_millis(5_802)));
}

#[test]
fn a_close_notice_reaches_the_peer_and_stops_the_stream() {
    let mut net = Network::new(2, LinkConfig::default(), Rng::new(1));
    let conn = net.dial(0, 1);
    net.send(Duration::ZERO, 0, conn, StreamId::CONTROL, b"hi");
    let first = drain(&mut net, Duration::from_secs(1));
    assert_eq!(received(&first, 1, StreamId::CONTROL), b"hi");
    net.send(Duration::from_secs(1), 1, conn, StreamId::CONTROL, b"back");
    net.close(Duration::from_secs(1), 1, conn);
    assert!(!net.send(Duration::from_secs(1), 1, conn, StreamId::CONTROL, b"more"));
    let events = drain(&mut net, Duration::from_secs(2));
    // Bytes written before the close get their one try; then the notice.
    assert_eq!(received(&events, 0, StreamId::CONTROL), b"back");
    assert!(matches!(
        events.last(),
        Some((_, NetEvent::Closed { node: 0, .. }))
    ));
    assert!(!net.send(Duration::from_secs(2), 0, conn, StreamId::CONTROL, b"x"));
}

#[test]
fn a_restarted_node_refuses_connections_dialled_before_its_crash() {
    let mut net = Network::new(2, LinkConfig::default(), Rng::new(1));
    net.block(0, 1);
    let old = net.dial(0, 1);
    net.send(Duration::ZERO, 0, old, StreamId::CONTROL, b"hello");
    net.crash(1);
    net.restart(1);
    net.unblock(0, 1);
    let events = drain(&mut net, Duration::from_secs(5));
    assert!(events.is_empty(), "{events:?}");
    let new = net.dial(0, 1);
    net.send(Duration::from_secs(5), 0, new, StreamId::CONTROL, b"hello");
    let events = drain(&mut net, Duration::from_secs(10));
    assert_eq!(received(&events, 1, StreamId::CONTROL), b"hello");
    // A crashed node's sides vanish without a notice; nothing reaches a down node.
    net.crash(1);
    assert!(net.send(Duration::from_secs(10), 0, new, StreamId::CONTROL, b"x"));
    assert!(drain(&mut net, Duration::from_secs(20)).is_empty());
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut net = Network::new(2, lossy(), Rng::new(seed));
        let conn = net.dial(0, 1);
        net.send(Duration::ZERO, 0, conn, StreamId(1), &[7; 300]);
        let events = drain(&mut net, Duration::from_secs(60));
        (
            events.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            net.stats(),
        )
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
}
