use super::*;

fn id(s: &str) -> NodeId {
    NodeId::new(s).expect("valid id")
}

const T: PartyId = PartyId { origin: 7, seq: 1 };

fn snap() -> Payload {
    Payload(vec![1, 2, 3])
}

/// Delivers every queued message between the nodes until none is left; returns how many.
fn pump(nodes: &mut [&mut Migrations]) -> usize {
    let mut n = 0;
    loop {
        let mut moved = false;
        for i in 0..nodes.len() {
            while let Some((to, msg)) = nodes[i].poll_transmit() {
                let from = nodes[i].me().clone();
                let j = nodes
                    .iter()
                    .position(|m| m.me() == &to)
                    .expect("known node");
                nodes[j].handle(&from, msg).expect("expected message");
                moved = true;
                n += 1;
            }
        }
        if !moved {
            return n;
        }
    }
}

fn events(m: &mut Migrations) -> Vec<MoveEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn node(s: &str) -> Migrations {
    Migrations::new(id(s), MigrateConfig::default())
}

#[test]
fn a_move_installs_holds_then_runs_after_the_commit() {
    let (mut a, mut b) = (node("a"), node("b"));
    a.offer(T, 1, id("a"), id("b"), snap()).expect("offer");
    assert!(a.is_leaving(T));
    let (to, offer) = a.poll_transmit().expect("offer sent");
    assert_eq!(to, id("b"));
    b.handle(&id("a"), offer).expect("ok");
    let ev = events(&mut b);
    assert!(
        matches!(
            &ev[..],
            [MoveEvent::Offered {
                task: T,
                epoch: 1,
                ..
            }]
        ),
        "{ev:?}"
    );
    // Held: nothing runs before the commit.
    b.installed(T, 1);
    let (_, installed) = b.poll_transmit().expect("installed sent");
    a.handle(&id("b"), installed).expect("ok");
    assert_eq!(
        events(&mut a),
        vec![MoveEvent::Moved {
            task: T,
            epoch: 1,
            to: id("b")
        }]
    );
    assert!(
        events(&mut b).is_empty(),
        "b must not run before the commit"
    );
    pump(&mut [&mut a, &mut b]);
    assert_eq!(events(&mut b), vec![MoveEvent::Run { task: T, epoch: 1 }]);
    assert_eq!(a.pointer(T), Some((&id("b"), 1)));
    // a is the home: its record says b.
    assert_eq!(a.owner(T), Some((&id("b"), 1)));
    assert_eq!(a.stats().moved, 1);
    assert_eq!(b.stats().arrived, 1);
}

#[test]
fn a_refusal_resumes_on_the_source() {
    let (mut a, mut b) = (node("a"), node("b"));
    a.offer(T, 1, id("a"), id("b"), snap()).expect("offer");
    pump(&mut [&mut a, &mut b]);
    events(&mut b);
    b.refuse(T, 1, MoveRefusal::OverCapacity { limit: 3 });
    pump(&mut [&mut a, &mut b]);
    assert_eq!(
        events(&mut a),
        vec![MoveEvent::Failed {
            task: T,
            epoch: 1,
            reason: MoveRefusal::OverCapacity { limit: 3 }
        }]
    );
    assert!(!a.is_leaving(T));
    assert_eq!(a.pointer(T), None);
}

#[test]
fn target_down_before_installed_fails_the_move_and_source_down_drops_the_held_copy() {
    let (mut a, mut b) = (node("a"), node("b"));
    a.offer(T, 1, id("a"), id("b"), snap()).expect("offer");
    pump(&mut [&mut a, &mut b]);
    events(&mut b);
    b.installed(T, 1);
    // The Installed is lost with the connection; both sides declare the other down.
    b.poll_transmit();
    a.peer_down(&id("b"));
    b.peer_down(&id("a"));
    assert_eq!(
        events(&mut a),
        vec![MoveEvent::Failed {
            task: T,
            epoch: 1,
            reason: MoveRefusal::Unreachable
        }]
    );
    assert_eq!(events(&mut b), vec![MoveEvent::Drop { task: T, epoch: 1 }]);
}

#[test]
fn lost_messages_are_resent_after_a_reconnect_and_repeats_are_harmless() {
    let (mut a, mut b) = (node("a"), node("b"));
    a.offer(T, 1, id("a"), id("b"), snap()).expect("offer");
    // The offer is lost.
    a.poll_transmit();
    a.reconnected(&id("b"));
    pump(&mut [&mut a, &mut b]);
    events(&mut b);
    b.installed(T, 1);
    // Installed lost: the source resends the offer, the target repeats Installed.
    b.poll_transmit();
    a.reconnected(&id("b"));
    pump(&mut [&mut a, &mut b]);
    assert!(matches!(&events(&mut a)[..], [MoveEvent::Moved { .. }]));
    assert_eq!(events(&mut b), vec![MoveEvent::Run { task: T, epoch: 1 }]);
    // Everything again: no second run, no second move.
    a.reconnected(&id("b"));
    b.reconnected(&id("a"));
    pump(&mut [&mut a, &mut b]);
    assert!(events(&mut a).is_empty());
    assert!(events(&mut b).is_empty());
}

#[test]
fn a_lost_commit_is_resent() {
    let (mut a, mut b) = (node("a"), node("b"));
    a.offer(T, 1, id("a"), id("b"), snap()).expect("offer");
    pump(&mut [&mut a, &mut b]);
    events(&mut b);
    b.installed(T, 1);
    let (_, installed) = b.poll_transmit().expect("installed");
    a.handle(&id("b"), installed).expect("ok");
    // The commit is lost.
    a.poll_transmit();
    assert!(events(&mut b).is_empty());
    a.reconnected(&id("b"));
    pump(&mut [&mut a, &mut b]);
    assert_eq!(events(&mut b), vec![MoveEvent::Run { task: T, epoch: 1 }]);
}

#[test]
fn stale_and_concurrent_offers_are_refused() {
    let (mut a, mut b, mut c) = (node("a"), node("b"), node("c"));
    // T goes a -> b (epoch 1), then b -> c (epoch 2).
    a.offer(T, 1, id("a"), id("b"), snap()).expect("offer");
    pump(&mut [&mut a, &mut b, &mut c]);
    events(&mut b);
    b.installed(T, 1);
    pump(&mut [&mut a, &mut b, &mut c]);
    b.offer(T, 2, id("a"), id("c"), snap()).expect("offer");
    assert_eq!(
        b.offer(T, 2, id("a"), id("c"), snap()),
        Err(MoveRefusal::Busy)
    );
    pump(&mut [&mut a, &mut b, &mut c]);
    events(&mut c);
    c.installed(T, 2);
    pump(&mut [&mut a, &mut b, &mut c]);
    // An old incarnation offering epoch 2 to b again is stale there (b knows epoch 2).
    b.handle(
        &id("a"),
        Migrate::Offer {
            task: T,
            epoch: 2,
            home: id("a"),
            snapshot: snap(),
        },
    )
    .expect("ok");
    let (_, answer) = b.poll_transmit().expect("answer");
    assert!(
        matches!(
            answer,
            Migrate::Refused {
                reason: MoveRefusal::Stale { current: 2 },
                ..
            }
        ),
        "{answer:?}"
    );
    // The home's record follows the task.
    events(&mut a);
    assert_eq!(a.owner(T), Some((&id("c"), 2)));
}

#[test]
fn control_follows_pointers_and_parks_while_the_task_leaves() {
    let (mut a, mut b, mut c) = (node("a"), node("b"), node("c"));
    a.offer(T, 1, id("a"), id("b"), snap()).expect("offer");
    pump(&mut [&mut a, &mut b, &mut c]);
    events(&mut b);
    b.installed(T, 1);
    pump(&mut [&mut a, &mut b, &mut c]);
    events(&mut a);
    events(&mut b);
    // b starts moving T to c; a control from c (which believes it is at a) arrives at b
    // while it leaves, waits, then follows the task to c.
    b.offer(T, 2, id("a"), id("c"), snap()).expect("offer");
    let (_, offer) = b.poll_transmit().expect("offer");
    let req = c.control(T, id("a"), Command::Locate);
    pump(&mut [&mut a, &mut b]); // a forwards to b; b parks it (the offer is held back)
    assert!(events(&mut b).is_empty());
    c.handle(&id("b"), offer).expect("ok");
    events(&mut c);
    c.installed(T, 2);
    pump(&mut [&mut a, &mut b, &mut c]);
    let ev = events(&mut c);
    assert!(
        ev.contains(&MoveEvent::Control {
            task: T,
            req,
            from: id("c"),
            cmd: Command::Locate
        }),
        "{ev:?}"
    );
    c.reply(T, req, id("c"), ControlReply::At { node: id("c") });
    assert_eq!(
        events(&mut c),
        vec![MoveEvent::Reply {
            task: T,
            req,
            reply: ControlReply::At { node: id("c") }
        }]
    );
    assert!(a.stats().forwarded + b.stats().forwarded >= 1);
}

#[test]
fn control_stops_at_the_hop_limit() {
    let (mut a, mut b) = (node("a"), node("b"));
    // Pointers that loop (a corrupt history): the hop limit ends it.
    a.set_pointer(T, id("b"), 1);
    b.set_pointer(T, id("a"), 2);
    let req = a.control(T, id("b"), Command::Locate);
    let n = pump(&mut [&mut a, &mut b]);
    assert!(n <= usize::from(HOP_LIMIT) + 2, "{n} messages");
    assert_eq!(
        events(&mut a),
        vec![MoveEvent::Reply {
            task: T,
            req,
            reply: ControlReply::NotFound
        }]
    );
}

#[test]
fn ended_reaches_the_home_once_even_before_the_owner_record() {
    let (mut h, mut x) = (node("h"), node("x"));
    x.ended(T, 3, id("h"), Payload(vec![9]));
    x.reconnected(&id("h")); // a resend
    pump(&mut [&mut h, &mut x]);
    assert_eq!(
        events(&mut h),
        vec![MoveEvent::Ended {
            task: T,
            outcome: Payload(vec![9])
        }]
    );
    // A late Owner of an earlier move changes nothing; the ack stopped the resends.
    h.handle(
        &id("x"),
        Migrate::Owner {
            task: T,
            epoch: 2,
            node: id("x"),
        },
    )
    .expect("ok");
    assert!(events(&mut h).is_empty());
    assert_eq!(h.owner(T), None);
    x.reconnected(&id("h"));
    assert_eq!(x.poll_transmit(), None);
}

#[test]
fn a_repeated_commit_for_a_task_that_moved_on_is_acknowledged() {
    // Found by the simulation (storm 992): a -> b, b runs T and moves it on to c; b's
    // `Committed` to a was lost with the connection, so a resends `Commit` on reconnect.
    // b must acknowledge it (not call it out of place), or a resends it for ever.
    let (mut a, mut b, mut c) = (node("a"), node("b"), node("c"));
    a.offer(T, 1, id("a"), id("b"), snap()).expect("offer");
    pump(&mut [&mut a, &mut b, &mut c]);
    events(&mut b);
    b.installed(T, 1);
    let (_, installed) = b.poll_transmit().expect("installed");
    a.handle(&id("b"), installed).expect("ok");
    let (_, commit) = a.poll_transmit().expect("commit");
    while a.poll_transmit().is_some() {}
    b.handle(&id("a"), commit).expect("ok");
    // The Committed is lost.
    while b.poll_transmit().is_some() {}
    assert_eq!(events(&mut b), vec![MoveEvent::Run { task: T, epoch: 1 }]);
    b.offer(T, 2, id("a"), id("c"), snap()).expect("offer");
    pump(&mut [&mut a, &mut b, &mut c]);
    events(&mut c);
    c.installed(T, 2);
    pump(&mut [&mut a, &mut b, &mut c]);
    // The reconnect: a resends its Commit; b acknowledges it and a stops.
    a.reconnected(&id("b"));
    pump(&mut [&mut a, &mut b, &mut c]);
    assert!(!events(&mut b).contains(&MoveEvent::Run { task: T, epoch: 1 }));
    assert_eq!(b.stats().unexpected, 0);
    a.reconnected(&id("b"));
    assert!(
        std::iter::from_fn(|| a.poll_transmit()).all(|(_, m)| !matches!(m, Migrate::Commit { .. })),
        "the Commit is still resent"
    );
}

#[test]
fn a_commit_for_nothing_held_is_unexpected() {
    let mut b = node("b");
    let err = b
        .handle(&id("a"), Migrate::Commit { task: T, epoch: 4 })
        .expect_err("unexpected");
    assert_eq!(err.kind, "Migrate::Commit");
    assert_eq!(b.stats().unexpected, 1);
    assert!(events(&mut b).is_empty());
}

#[test]
fn incoming_offers_are_bounded() {
    let mut b = Migrations::new(
        id("b"),
        MigrateConfig {
            max_incoming: 2,
            ..MigrateConfig::default()
        },
    );
    for seq in 0..3 {
        b.handle(
            &id("a"),
            Migrate::Offer {
                task: PartyId { origin: 1, seq },
                epoch: 1,
                home: id("a"),
                snapshot: snap(),
            },
        )
        .expect("ok");
    }
    assert_eq!(events(&mut b).len(), 2);
    let (_, refused) = b.poll_transmit().expect("refusal");
    assert!(matches!(
        refused,
        Migrate::Refused {
            reason: MoveRefusal::Busy,
            ..
        }
    ));
}

#[test]
fn pointers_are_bounded() {
    let mut a = Migrations::new(
        id("a"),
        MigrateConfig {
            max_pointers: 4,
            ..MigrateConfig::default()
        },
    );
    for seq in 0..10 {
        a.set_pointer(PartyId { origin: 1, seq }, id("b"), 1);
    }
    assert_eq!(a.pointers.len(), 4);
    assert!(a.pointer(PartyId { origin: 1, seq: 9 }).is_some());
    assert!(a.pointer(PartyId { origin: 1, seq: 0 }).is_none());
}

#[test]
fn migrate_messages_round_trip_through_the_codec() {
    use crate::proto::{encode, Decoder, Limits, Message};
    let msgs = [
        Migrate::Offer {
            task: T,
            epoch: 1,
            home: id("a"),
            snapshot: snap(),
        },
        Migrate::Refused {
            task: T,
            epoch: 1,
            reason: MoveRefusal::Fingerprint {
                key: "k".into(),
                snapshot: 1,
                local: 2,
            },
        },
        Migrate::Control {
            task: T,
            req: 5,
            from: id("c"),
            hops: 3,
            cmd: Command::MoveTo(id("b")),
        },
    ];
    let limits = Limits::default();
    let mut dec = Decoder::new(limits);
    for m in msgs {
        let mut out = Vec::new();
        encode(&Message::Migrate(m.clone()), &limits, &mut out).expect("encode");
        let mut input = &out[..];
        let back = dec.decode(&mut input).expect("decodes").expect("a frame");
        assert_eq!(back, Message::Migrate(m));
    }
}
