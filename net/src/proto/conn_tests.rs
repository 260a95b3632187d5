//! Unit tests of the connection state machine: two endpoints wired back to back in memory,
//! with a hand-driven clock.

use std::time::{Duration, Instant};

use super::*;
use crate::proto::{ChannelId, Message, ToHome};

fn id(s: &str) -> NodeId {
    NodeId::new(s).expect("node id")
}

fn local(name: &str, inc: u64) -> Local {
    Local {
        node: id(name),
        incarnation: Incarnation(inc),
    }
}

fn dialer(now: Instant) -> Connection {
    Connection::new(
        Role::Dialer,
        local("a", 1),
        id("b"),
        ConnConfig::default(),
        now,
    )
}

fn listener(now: Instant) -> Connection {
    Connection::new(
        Role::Listener,
        local("b", 2),
        id("a"),
        ConnConfig::default(),
        now,
    )
}

fn drain(c: &mut Connection) -> Vec<Action> {
    std::iter::from_fn(|| c.poll()).collect()
}

/// The messages among `actions`.
fn sent(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transmit(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn closed(actions: &[Action]) -> Option<&CloseReason> {
    actions.iter().find_map(|a| match a {
        Action::Closed(r) => Some(r),
        _ => None,
    })
}

/// Delivers everything `from` wants to send to `to`; returns `to`'s actions.
fn pass(now: Instant, from: &mut Connection, to: &mut Connection) -> Vec<Action> {
    for m in sent(&drain(from)) {
        to.handle_message(now, m);
    }
    drain(to)
}

/// Delivers the messages among `actions` to `to`; returns `to`'s actions.
fn forward(now: Instant, actions: &[Action], to: &mut Connection) -> Vec<Action> {
    for m in sent(actions) {
        to.handle_message(now, m);
    }
    drain(to)
}

fn established_pair(now: Instant) -> (Connection, Connection) {
    let (mut d, mut l) = (dialer(now), listener(now));
    let la = drain(&mut l);
    assert!(la.is_empty(), "a listener speaks first: {la:?}");
    for m in sent(&drain(&mut d)) {
        l.handle_message(now, m);
    }
    for m in sent(&drain(&mut l)) {
        d.handle_message(now, m);
    }
    drain(&mut d);
    assert_eq!(d.state(), ConnState::Established);
    assert_eq!(l.state(), ConnState::Established);
    (d, l)
}

fn app_message() -> Message {
    Message::ToHome(ToHome::Close {
        chan: ChannelId::of::<u64>("jobs", 0),
    })
}

#[test]
fn handshake_establishes_both_sides_with_the_peers_details() {
    let now = Instant::now();
    let (mut d, mut l) = (dialer(now), listener(now));
    let out = drain(&mut d);
    assert!(matches!(&out[..], [Action::Transmit(Message::Hello(h))]
        if h.node.as_str() == "a" && h.incarnation == Incarnation(1) && h.version == WIRE_VERSION));
    l.handle_message(now, sent(&out).remove(0));
    let la = drain(&mut l);
    assert!(
        matches!(&la[..], [Action::Transmit(Message::HelloAck(_)), Action::Established(p)]
        if p.node.as_str() == "a" && p.incarnation == Incarnation(1))
    );
    for m in sent(&la) {
        d.handle_message(now, m);
    }
    let da = drain(&mut d);
    assert!(matches!(&da[..], [Action::Established(p)]
        if p.node.as_str() == "b" && p.incarnation == Incarnation(2)
            && p.max_frame == Limits::default().max_frame));
    assert_eq!(d.peer().map(|p| p.node.as_str()), Some("b"));
}

#[test]
fn listener_refuses_a_hello_that_claims_another_id() {
    let now = Instant::now();
    let mut d = Connection::new(
        Role::Dialer,
        local("mallory", 1),
        id("b"),
        ConnConfig::default(),
        now,
    );
    // The listener's TLS layer saw a certificate for "a".
    let mut l = listener(now);
    let la = pass(now, &mut d, &mut l);
    let expected = RefuseReason::IdMismatch {
        claimed: id("mallory"),
        certified: id("a"),
    };
    assert_eq!(sent(&la), [Message::Refuse(expected.clone())]);
    assert_eq!(closed(&la), Some(&CloseReason::Refused(expected.clone())));
    assert!(!la.iter().any(|a| matches!(a, Action::Established(_))));
    let da = forward(now, &la, &mut d);
    assert_eq!(closed(&da), Some(&CloseReason::RefusedByPeer(expected)));
    assert_eq!(d.state(), ConnState::Closed);
}

#[test]
fn listener_refuses_another_major_version_and_itself() {
    let now = Instant::now();
    let cfg = ConnConfig {
        version: WireVersion { major: 2, minor: 0 },
        ..ConnConfig::default()
    };
    let mut d = Connection::new(Role::Dialer, local("a", 1), id("b"), cfg, now);
    let mut l = listener(now);
    let la = pass(now, &mut d, &mut l);
    assert!(
        matches!(closed(&la), Some(CloseReason::Refused(RefuseReason::Version { supported }))
        if *supported == WIRE_VERSION)
    );

    let mut me = Connection::new(
        Role::Dialer,
        local("b", 9),
        id("b"),
        ConnConfig::default(),
        now,
    );
    let mut l = Connection::new(
        Role::Listener,
        local("b", 2),
        id("b"),
        ConnConfig::default(),
        now,
    );
    let la = pass(now, &mut me, &mut l);
    assert_eq!(
        closed(&la),
        Some(&CloseReason::Refused(RefuseReason::SelfConnect))
    );
}

#[test]
fn listener_refuses_a_tiny_frame_limit() {
    let now = Instant::now();
    let mut cfg = ConnConfig::default();
    cfg.limits.max_frame = 100;
    let mut d = Connection::new(Role::Dialer, local("a", 1), id("b"), cfg, now);
    let mut l = listener(now);
    let la = pass(now, &mut d, &mut l);
    assert!(matches!(
        closed(&la),
        Some(CloseReason::Refused(
            RefuseReason::FrameLimitTooSmall { .. }
        ))
    ));
}

#[test]
fn minor_versions_settle_on_the_smaller() {
    let now = Instant::now();
    let newer = ConnConfig {
        version: WireVersion {
            major: WIRE_VERSION.major,
            minor: WIRE_VERSION.minor + 3,
        },
        ..ConnConfig::default()
    };
    let mut d = Connection::new(Role::Dialer, local("a", 1), id("b"), newer, now);
    let mut l = listener(now);
    let la = pass(now, &mut d, &mut l);
    assert!(matches!(&la[1], Action::Established(p) if p.version == WIRE_VERSION));
    let da = forward(now, &la, &mut d);
    assert!(matches!(&da[..], [Action::Established(p)] if p.version == WIRE_VERSION));
}

#[test]
fn dialer_rejects_an_ack_from_another_node_than_its_certificate() {
    let now = Instant::now();
    let mut d = dialer(now);
    drain(&mut d);
    d.handle_message(
        now,
        Message::HelloAck(HelloAck {
            version: WIRE_VERSION,
            node: id("impostor"),
            incarnation: Incarnation(5),
            max_frame: 1 << 20,
        }),
    );
    let da = drain(&mut d);
    assert_eq!(
        sent(&da),
        [Message::Goodbye(GoodbyeReason::ProtocolViolation)]
    );
    assert!(
        matches!(closed(&da), Some(CloseReason::PeerIdMismatch { claimed, .. })
        if claimed.as_str() == "impostor")
    );
}

#[test]
fn dialer_rejects_an_ack_with_a_newer_minor_or_another_major() {
    let now = Instant::now();
    for version in [
        WireVersion {
            major: WIRE_VERSION.major + 1,
            minor: 0,
        },
        WireVersion {
            major: WIRE_VERSION.major,
            minor: WIRE_VERSION.minor + 1,
        },
    ] {
        let mut d = dialer(now);
        drain(&mut d);
        d.handle_message(
            now,
            Message::HelloAck(HelloAck {
                version,
                node: id("b"),
                incarnation: Incarnation(5),
                max_frame: 1 << 20,
            }),
        );
        assert_eq!(closed(&drain(&mut d)), Some(&CloseReason::BadHelloAck));
    }
}

#[test]
fn messages_out_of_place_close_the_connection() {
    let now = Instant::now();
    // Application traffic before the handshake.
    let mut l = listener(now);
    l.handle_message(now, app_message());
    let la = drain(&mut l);
    assert_eq!(
        sent(&la),
        [Message::Goodbye(GoodbyeReason::ProtocolViolation)]
    );
    assert_eq!(
        closed(&la),
        Some(&CloseReason::Unexpected {
            message: "ToHome::Close",
            state: ConnState::Handshaking
        })
    );
    // A second Hello once established.
    let (mut d, mut l) = established_pair(now);
    let hello = Hello {
        version: WIRE_VERSION,
        node: id("a"),
        incarnation: Incarnation(1),
        max_frame: 1 << 20,
    };
    l.handle_message(now, Message::Hello(hello));
    assert!(matches!(
        closed(&drain(&mut l)),
        Some(CloseReason::Unexpected {
            message: "Hello",
            state: ConnState::Established
        })
    ));
    // A listener never gets a HelloAck; a dialer never gets a Hello.
    let mut d2 = dialer(now);
    drain(&mut d2);
    d2.handle_message(now, Message::Ping(1));
    assert!(matches!(
        closed(&drain(&mut d2)),
        Some(CloseReason::Unexpected {
            message: "Ping",
            ..
        })
    ));
    d.handle_message(now, Message::Refuse(RefuseReason::ShuttingDown));
    assert!(matches!(
        closed(&drain(&mut d)),
        Some(CloseReason::Unexpected {
            message: "Refuse",
            ..
        })
    ));
}

#[test]
fn application_messages_are_delivered_once_established() {
    let now = Instant::now();
    let (mut d, mut l) = established_pair(now);
    l.handle_message(now, app_message());
    assert_eq!(drain(&mut l), [Action::Deliver(app_message())]);
    d.handle_message(now, app_message());
    assert_eq!(drain(&mut d), [Action::Deliver(app_message())]);
}

#[test]
fn handshake_times_out() {
    let now = Instant::now();
    let mut d = dialer(now);
    drain(&mut d);
    let deadline = d.poll_timeout().unwrap();
    assert_eq!(deadline, now + ConnConfig::default().handshake_timeout);
    d.handle_timeout(deadline - Duration::from_millis(1));
    assert!(drain(&mut d).is_empty());
    d.handle_timeout(deadline);
    assert_eq!(
        drain(&mut d),
        [Action::Closed(CloseReason::HandshakeTimeout)]
    );
    assert_eq!(d.poll_timeout(), None);
}

#[test]
fn silence_sends_a_ping_and_the_pong_keeps_the_connection() {
    let t0 = Instant::now();
    let cfg = ConnConfig::default();
    let (mut d, mut l) = established_pair(t0);
    // First deadline: the keep-alive.
    let t1 = d.poll_timeout().unwrap();
    assert_eq!(t1, t0 + cfg.keepalive);
    d.handle_timeout(t1);
    let out = drain(&mut d);
    assert_eq!(sent(&out), [Message::Ping(1)]);
    assert_eq!(d.stats().pings_sent, 1);
    // With a ping outstanding the next deadline is the idle timeout, and no second ping.
    assert_eq!(d.poll_timeout(), Some(t0 + cfg.idle_timeout));
    d.handle_timeout(t1 + Duration::from_millis(1));
    assert!(drain(&mut d).is_empty());
    // The listener answers; the pong refreshes the dialer.
    for m in sent(&out) {
        l.handle_message(t1, m);
    }
    let la = drain(&mut l);
    assert_eq!(sent(&la), [Message::Pong(1)]);
    let t2 = t1 + Duration::from_millis(500);
    for m in sent(&la) {
        d.handle_message(t2, m);
    }
    assert_eq!(d.poll_timeout(), Some(t2 + cfg.keepalive));
    assert_eq!(d.state(), ConnState::Established);
}

#[test]
fn idle_timeout_declares_the_peer_down() {
    let t0 = Instant::now();
    let cfg = ConnConfig::default();
    let (mut d, _l) = established_pair(t0);
    d.handle_timeout(t0 + cfg.keepalive);
    drain(&mut d);
    // A stray pong with the wrong nonce does not count as an answer, but is a sign of life.
    let t1 = t0 + cfg.keepalive + Duration::from_secs(1);
    d.handle_message(t1, Message::Pong(99));
    assert_eq!(d.poll_timeout(), Some(t1 + cfg.idle_timeout));
    d.handle_timeout(t1 + cfg.idle_timeout);
    assert_eq!(drain(&mut d), [Action::Closed(CloseReason::IdleTimeout)]);
    // Nothing happens after Closed.
    d.handle_message(t1, app_message());
    d.handle_timeout(t1 + cfg.idle_timeout * 2);
    d.close(GoodbyeReason::Shutdown);
    assert!(drain(&mut d).is_empty());
}

#[test]
fn keepalive_is_clamped_below_the_idle_timeout() {
    let t0 = Instant::now();
    let cfg = ConnConfig {
        keepalive: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(4),
        ..ConnConfig::default()
    };
    let mut d = Connection::new(Role::Dialer, local("a", 1), id("b"), cfg, t0);
    let mut l = Connection::new(Role::Listener, local("b", 2), id("a"), cfg, t0);
    let la = pass(t0, &mut d, &mut l);
    forward(t0, &la, &mut d);
    assert_eq!(d.poll_timeout(), Some(t0 + Duration::from_secs(2)));
}

#[test]
fn decode_errors_are_counted_or_fatal() {
    let now = Instant::now();
    let (mut d, _l) = established_pair(now);
    d.handle_decode_error(now, &ProtoError::TrailingBytes(3));
    assert!(drain(&mut d).is_empty());
    assert_eq!(d.stats().bad_frames, 1);
    assert_eq!(d.state(), ConnState::Established);
    let fatal = ProtoError::Oversize {
        len: u64::from(u32::MAX),
        limit: 16,
    };
    d.handle_decode_error(now, &fatal);
    let out = drain(&mut d);
    assert_eq!(
        sent(&out),
        [Message::Goodbye(GoodbyeReason::ProtocolViolation)]
    );
    assert_eq!(closed(&out), Some(&CloseReason::Decode(fatal)));
}

#[test]
fn closing_says_goodbye_and_the_peer_hears_it() {
    let now = Instant::now();
    let (mut d, mut l) = established_pair(now);
    d.close(GoodbyeReason::Superseded);
    let la = pass(now, &mut d, &mut l);
    assert_eq!(
        la,
        [Action::Closed(CloseReason::PeerGoodbye(
            GoodbyeReason::Superseded
        ))]
    );
    assert_eq!(d.state(), ConnState::Closed);
}

#[test]
fn a_listener_shutting_down_during_the_handshake_refuses() {
    let now = Instant::now();
    let (mut d, mut l) = (dialer(now), listener(now));
    l.close(GoodbyeReason::Shutdown);
    let da = pass(now, &mut l, &mut d);
    assert_eq!(
        closed(&da),
        Some(&CloseReason::RefusedByPeer(RefuseReason::ShuttingDown))
    );
}

#[test]
fn the_smaller_id_dialler_survives() {
    let (a, b) = (id("alpha"), id("beta"));
    assert_eq!(surviving_dialer(&a, &b), &a);
    assert_eq!(surviving_dialer(&b, &a), &a);
}
