//! Unit tests of [`Home`]: local channel semantics, exactly-once answers, withdrawals, limits
//! and restarts.

use super::*;
use crate::proto::TypeKey;

fn node(s: &str) -> NodeId {
    NodeId::new(s).expect("node id")
}

fn op(origin: u64, epoch: u64, seq: u64) -> OpId {
    OpId {
        party: PartyId { origin, seq: 0 },
        epoch,
        seq,
    }
}

fn val(b: u8) -> Payload {
    Payload(vec![b])
}

struct Fixture {
    home: Home,
    chan: ChannelId,
}

impl Fixture {
    fn new(cap: u64) -> Fixture {
        Fixture::with(cap, HomeConfig::default())
    }

    fn with(cap: u64, config: HomeConfig) -> Fixture {
        let chan = ChannelId::of::<u8>("c", cap);
        Fixture {
            home: Home::new(chan.clone(), config),
            chan,
        }
    }

    fn send(&mut self, from: &str, op: OpId, b: u8) {
        let chan = self.chan.clone();
        self.home.handle(
            &node(from),
            ToHome::Send {
                chan,
                op,
                value: val(b),
            },
        );
    }

    fn recv(&mut self, from: &str, op: OpId) {
        let chan = self.chan.clone();
        self.home.handle(&node(from), ToHome::Recv { chan, op });
    }

    fn withdraw(&mut self, from: &str, op: OpId) {
        let chan = self.chan.clone();
        self.home.handle(&node(from), ToHome::Withdraw { chan, op });
    }

    fn msg(&mut self, from: &str, msg: ToHome) {
        self.home.handle(&node(from), msg);
    }

    /// Every answer sent, as (node, op, outcome); other messages are returned as-is.
    fn drain(&mut self) -> Vec<(String, OpId, Outcome)> {
        let mut got = Vec::new();
        while let Some((to, msg)) = self.home.poll_transmit() {
            match msg {
                FromHome::Done { op, outcome, .. } => got.push((to.to_string(), op, outcome)),
                other => panic!("unexpected {other:?}"),
            }
        }
        got
    }
}

fn done(to: &str, op: OpId, outcome: Outcome) -> (String, OpId, Outcome) {
    (to.to_owned(), op, outcome)
}

fn received(b: u8) -> Outcome {
    Outcome::Received(val(b))
}

#[test]
fn rendezvous_matches_a_parked_receiver_and_a_parked_sender() {
    let mut f = Fixture::new(0);
    f.recv("a", op(1, 0, 1));
    assert!(f.drain().is_empty());
    assert_eq!(f.home.balance(), -1);
    f.send("b", op(2, 0, 1), 5);
    assert_eq!(
        f.drain(),
        [
            done("a", op(1, 0, 1), received(5)),
            done("b", op(2, 0, 1), Outcome::Sent)
        ]
    );
    // A send with nobody waiting parks: a rendezvous never buffers.
    f.send("b", op(2, 0, 2), 6);
    assert!(f.drain().is_empty());
    assert_eq!((f.home.balance(), f.home.len()), (1, 0));
    f.recv("a", op(1, 0, 2));
    assert_eq!(
        f.drain(),
        [
            done("b", op(2, 0, 2), Outcome::Sent),
            done("a", op(1, 0, 2), received(6))
        ]
    );
    assert_eq!(f.home.balance(), 0);
}

#[test]
fn a_buffered_channel_is_fifo_and_parks_senders_when_full() {
    let mut f = Fixture::new(2);
    f.send("a", op(1, 0, 1), 1);
    f.send("b", op(2, 0, 1), 2);
    assert_eq!(
        f.drain(),
        [
            done("a", op(1, 0, 1), Outcome::Sent),
            done("b", op(2, 0, 1), Outcome::Sent)
        ]
    );
    // Full: the third send parks until a receive makes room.
    f.send("c", op(3, 0, 1), 3);
    assert!(f.drain().is_empty());
    assert_eq!((f.home.len(), f.home.balance()), (2, 1));
    f.recv("r", op(9, 0, 1));
    assert_eq!(
        f.drain(),
        [
            done("c", op(3, 0, 1), Outcome::Sent),
            done("r", op(9, 0, 1), received(1))
        ]
    );
    for (seq, want) in [(2, 2), (3, 3)] {
        f.recv("r", op(9, 0, seq));
        assert_eq!(f.drain(), [done("r", op(9, 0, seq), received(want))]);
    }
    assert!(f.home.is_empty());
}

#[test]
fn a_repeated_op_is_answered_again_never_performed_again() {
    let mut f = Fixture::new(1);
    f.send("a", op(1, 0, 1), 7);
    assert_eq!(f.drain(), [done("a", op(1, 0, 1), Outcome::Sent)]);
    // The answer was lost with the connection: the node resends the op twice.
    f.send("a", op(1, 0, 1), 7);
    f.send("a", op(1, 0, 1), 7);
    assert_eq!(
        f.drain(),
        [
            done("a", op(1, 0, 1), Outcome::Sent),
            done("a", op(1, 0, 1), Outcome::Sent)
        ]
    );
    assert_eq!(f.home.len(), 1, "the value was buffered once");
    // A repeat of a parked op is ignored: the parked copy answers when it matches.
    f.recv("r", op(2, 0, 1));
    f.drain();
    f.recv("r", op(2, 0, 2));
    f.recv("r", op(2, 0, 2));
    assert!(f.drain().is_empty());
    assert_eq!(f.home.balance(), -1);
    f.send("a", op(1, 0, 2), 8);
    assert_eq!(
        f.drain(),
        [
            done("r", op(2, 0, 2), received(8)),
            done("a", op(1, 0, 2), Outcome::Sent)
        ]
    );
    assert_eq!(f.home.stats().repeats, 3);
    // Acked: forgotten.
    let chan = f.chan.clone();
    f.msg(
        "r",
        ToHome::Ack {
            chan: chan.clone(),
            op: op(2, 0, 2),
        },
    );
    f.msg(
        "a",
        ToHome::Ack {
            chan,
            op: op(1, 0, 2),
        },
    );
    assert!(f.home.is_idle());
}

#[test]
fn withdraw_takes_back_a_waiting_op_or_repeats_the_outcome() {
    let mut f = Fixture::new(0);
    f.send("a", op(1, 0, 1), 4);
    f.withdraw("a", op(1, 0, 1));
    assert_eq!(
        f.drain(),
        [done(
            "a",
            op(1, 0, 1),
            Outcome::Withdrawn {
                value: Some(val(4))
            }
        )]
    );
    assert_eq!(f.home.balance(), 0);
    // The withdrawal's answer is repeated to a second Withdraw.
    f.withdraw("a", op(1, 0, 1));
    assert_eq!(f.drain().len(), 1);
    // A receive that already matched: the withdrawal gets the value (it travels in the
    // snapshot).
    f.recv("r", op(2, 0, 1));
    f.send("a", op(1, 1, 1), 5);
    f.drain();
    f.withdraw("r", op(2, 0, 1));
    assert_eq!(f.drain(), [done("r", op(2, 0, 1), received(5))]);
    // An op the home never saw (lost with a connection).
    f.withdraw("r", op(2, 0, 9));
    assert_eq!(
        f.drain(),
        [done(
            "r",
            op(2, 0, 9),
            Outcome::Rejected {
                reason: Rejection::UnknownOp,
                value: None
            }
        )]
    );
}

#[test]
fn a_stale_epoch_is_refused_with_the_value() {
    let mut f = Fixture::new(4);
    f.send("b", op(1, 3, 1), 1);
    f.drain();
    f.send("a", op(1, 2, 7), 2);
    assert_eq!(
        f.drain(),
        [done(
            "a",
            op(1, 2, 7),
            Outcome::Rejected {
                reason: Rejection::Stale { current: 3 },
                value: Some(val(2))
            }
        )]
    );
    assert_eq!((f.home.len(), f.home.stats().stale), (1, 1));
}

#[test]
fn another_type_or_capacity_is_refused_and_counted() {
    let mut f = Fixture::new(0);
    let wrong = ChannelId::of::<u64>("c", 0);
    f.msg(
        "a",
        ToHome::Send {
            chan: wrong.clone(),
            op: op(1, 0, 1),
            value: val(1),
        },
    );
    f.msg(
        "a",
        ToHome::Open {
            chan: ChannelId::of::<u8>("c", 3),
        },
    );
    let mismatch = Rejection::Mismatch {
        found_ty: TypeKey::of::<u8>(),
        found_cap: 0,
    };
    let Some((_, FromHome::Done { chan, outcome, .. })) = f.home.poll_transmit() else {
        panic!()
    };
    assert_eq!(chan, wrong, "answers name the channel as the asker did");
    assert_eq!(
        outcome,
        Outcome::Rejected {
            reason: mismatch.clone(),
            value: Some(val(1))
        }
    );
    assert!(matches!(
        f.home.poll_transmit(),
        Some((_, FromHome::Rejected { reason, .. })) if reason == mismatch
    ));
    assert_eq!(f.home.stats().mismatches, 2);
    assert_eq!(f.home.balance(), 0);
    assert!(f.home.is_idle());
}

#[test]
fn a_peer_parks_a_bounded_number_of_ops() {
    let mut f = Fixture::with(
        0,
        HomeConfig {
            max_parked_per_peer: 2,
        },
    );
    f.send("a", op(1, 0, 1), 1);
    f.send("a", op(2, 0, 1), 2);
    f.send("a", op(3, 0, 1), 3);
    assert_eq!(
        f.drain(),
        [done(
            "a",
            op(3, 0, 1),
            Outcome::Rejected {
                reason: Rejection::Overloaded,
                value: Some(val(3))
            }
        )]
    );
    // Another peer still parks.
    f.recv("b", op(9, 0, 1));
    f.drain();
    f.send("b", op(8, 0, 1), 8);
    assert!(f.drain().is_empty());
    // Room again: the refused op is retried with the same id and parks.
    f.send("a", op(3, 0, 1), 3);
    assert!(f.drain().is_empty());
    assert_eq!(f.home.balance(), 3);
    assert_eq!(f.home.stats().overloaded, 1);
}

#[test]
fn close_answers_the_waiting_and_keeps_the_buffer() {
    let mut f = Fixture::new(1);
    let chan = f.chan.clone();
    f.msg("x", ToHome::Open { chan: chan.clone() });
    assert!(matches!(
        f.home.poll_transmit(),
        Some((_, FromHome::Opened { closed: false, .. }))
    ));
    f.send("a", op(1, 0, 1), 1);
    f.send("a", op(2, 0, 1), 2);
    f.drain();
    f.msg("x", ToHome::Close { chan: chan.clone() });
    let mut got = Vec::new();
    while let Some(m) = f.home.poll_transmit() {
        got.push(m);
    }
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        matches!(&got[0], (_, FromHome::Done { outcome: Outcome::Closed { value: Some(v) }, .. }) if *v == val(2))
    );
    assert!(matches!(&got[1], (n, FromHome::ChannelClosed { .. }) if n.as_str() == "x"));
    f.recv("r", op(3, 0, 1));
    f.recv("r", op(3, 0, 2));
    f.send("a", op(1, 0, 2), 9);
    assert_eq!(
        f.drain(),
        [
            done("r", op(3, 0, 1), received(1)),
            done("r", op(3, 0, 2), Outcome::Closed { value: None }),
            done(
                "a",
                op(1, 0, 2),
                Outcome::Closed {
                    value: Some(val(9))
                }
            )
        ]
    );
    assert!(f.home.is_closed());
}

#[test]
fn a_restarted_peer_loses_its_ops_and_outcomes_only() {
    let mut f = Fixture::new(0);
    f.recv("a", op(1, 0, 1)); // parked, from a
    f.send("b", op(2, 0, 1), 2); // matched with a's receive: outcome kept for a
    f.recv("a", op(3, 0, 1)); // parked, from a
    f.recv("b", op(4, 0, 1)); // parked, from b
    f.drain();
    assert_eq!(f.home.balance(), -2);
    f.home.peer_restarted(&node("a"));
    assert_eq!(f.home.balance(), -1);
    assert!(f.drain().is_empty(), "nobody is answered");
    assert_eq!(f.home.stats().purged, 2);
    // a's old receive is forgotten: its resend (impossible after a restart, but a new party
    // may reuse the id) is new; b's operations are untouched.
    f.withdraw("a", op(1, 0, 1));
    assert!(matches!(
        f.drain()[0].2,
        Outcome::Rejected {
            reason: Rejection::UnknownOp,
            ..
        }
    ));
    f.send("c", op(5, 0, 1), 5);
    assert_eq!(
        f.drain(),
        [
            done("b", op(4, 0, 1), received(5)),
            done("c", op(5, 0, 1), Outcome::Sent)
        ]
    );
    f.send("b", op(2, 0, 1), 2);
    assert_eq!(f.drain(), [done("b", op(2, 0, 1), Outcome::Sent)]);
}

#[test]
fn balance_and_release() {
    let mut f = Fixture::new(0);
    let chan = f.chan.clone();
    f.msg("a", ToHome::Open { chan: chan.clone() });
    f.home.poll_transmit();
    f.recv("a", op(1, 0, 1));
    f.msg(
        "b",
        ToHome::Balance {
            chan: chan.clone(),
            query: 4,
        },
    );
    assert!(matches!(
        f.home.poll_transmit(),
        Some((
            _,
            FromHome::BalanceIs {
                query: 4,
                balance: -1,
                len: 0,
                closed: false,
                ..
            }
        ))
    ));
    f.withdraw("a", op(1, 0, 1));
    f.drain();
    f.msg(
        "a",
        ToHome::Ack {
            chan: chan.clone(),
            op: op(1, 0, 1),
        },
    );
    assert!(!f.home.is_idle(), "a still holds it open");
    f.msg("a", ToHome::Release { chan });
    assert!(f.home.is_idle());
}
