//! The remote-object bookkeeping: calls served at most once, reference accounts that free an
//! object exactly when nothing refers to it, whatever order the messages arrive in.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

fn node(s: &str) -> NodeId {
    NodeId::new(s).expect("a node id")
}

#[test]
fn a_repeated_call_runs_once_and_is_answered_again() {
    let mut served = Served::new(4);
    let c = node("caller");
    assert_eq!(served.admit(&c, 7), Admission::Run);
    assert_eq!(served.admit(&c, 7), Admission::Running);
    let reply = Ok(Payload(vec![1, 2]));
    assert!(served.finish(&c, 7, &reply));
    assert_eq!(served.admit(&c, 7), Admission::Again(reply));
    served.done(&c, 7);
    assert!(served.is_empty());
}

#[test]
fn a_caller_with_too_many_calls_is_refused_without_a_record() {
    let mut served = Served::new(2);
    let c = node("caller");
    assert_eq!(served.admit(&c, 1), Admission::Run);
    assert_eq!(served.admit(&c, 2), Admission::Run);
    assert_eq!(served.admit(&c, 3), Admission::Overloaded);
    assert!(served.finish(&c, 1, &Ok(Payload(vec![]))));
    served.done(&c, 1);
    assert_eq!(served.admit(&c, 3), Admission::Run);
    // Another caller has its own room.
    assert_eq!(served.admit(&node("other"), 1), Admission::Run);
}

#[test]
fn a_done_before_the_reply_and_a_gone_caller_are_harmless() {
    let mut served = Served::new(4);
    let c = node("caller");
    assert_eq!(served.admit(&c, 1), Admission::Run);
    served.done(&c, 1); // not finished: kept
    assert_eq!(served.admit(&c, 1), Admission::Running);
    served.caller_gone(&c);
    assert!(
        !served.finish(&c, 1, &Ok(Payload(vec![]))),
        "the caller is gone"
    );
    assert!(served.is_empty());
}

#[test]
fn an_outbox_resends_what_is_not_acknowledged_in_order() {
    let obj = ObjectId {
        incarnation: Incarnation(1),
        seq: 1,
    };
    let mut out = RefOutbox::default();
    for token in 0..3 {
        out.push(RefOp::Hold { obj, token });
    }
    out.ack(3); // 1 and 2 applied
    let again: Vec<_> = out.resend().collect();
    assert_eq!(
        again,
        vec![Remote::Ref {
            seq: 3,
            op: RefOp::Hold { obj, token: 2 }
        }]
    );
    out.ack(4);
    assert_eq!(out.pending(), 0);
}

#[test]
fn a_ledger_applies_a_stream_in_order_once() {
    let owner = node("owner");
    let holder = node("holder");
    let mut ledger = Ledger::new(&owner, Incarnation(5));
    let obj = ledger.expose();
    let hold = RefOp::Hold { obj, token: 1 };
    let release = RefOp::Release { obj };
    // An operation beyond the next is left for its resend; a repeat is not applied again.
    assert_eq!(ledger.apply(&holder, 2, release).ack, Some(1));
    assert_eq!(ledger.apply(&holder, 1, hold).ack, Some(2));
    assert_eq!(ledger.apply(&holder, 1, hold).ack, Some(2));
    assert_eq!(ledger.account(obj).map(Account::in_transit), Some(1));
    // The owner lets go; the token keeps the object.
    assert_eq!(ledger.apply_local(RefOp::Release { obj }).freed, None);
    let adopt = RefOp::Adopt {
        obj,
        minter: MinterId::of(&holder),
        token: 1,
    };
    assert_eq!(ledger.apply(&node("third"), 1, adopt).freed, None);
    assert_eq!(ledger.account(obj).map(Account::handles), Some(1));
    // The third node goes down: nothing refers to the object any more.
    assert_eq!(ledger.node_gone(&node("third")), vec![obj]);
    assert!(ledger.is_empty());
    // An object of another incarnation is unknown here.
    let stale = ObjectId {
        incarnation: Incarnation(4),
        seq: obj.seq,
    };
    assert!(ledger.apply_local(RefOp::Release { obj: stale }).unknown);
}

/// One step of the model, chosen by a number (interpreted against the state, so every
/// sequence of numbers is a valid run).
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Node `from` (if it holds a handle) serializes a reference for node `to`.
    Send { from: usize, to: usize },
    /// The `i`-th reference in transit (if any) is deserialized by its receiver.
    Receive { i: usize },
    /// Node `n` drops one of its handles (if it has one).
    Drop { n: usize },
    /// The next operation of node `n`'s stream (if any) reaches the owner.
    Deliver { n: usize },
    /// Node `n`'s last delivered operation reaches the owner again (a resend).
    Repeat { n: usize },
}

const NODES: usize = 4; // node 0 owns the object

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..NODES, 0..NODES).prop_map(|(from, to)| Step::Send { from, to }),
        (0..8usize).prop_map(|i| Step::Receive { i }),
        (0..NODES).prop_map(|n| Step::Drop { n }),
        (1..NODES).prop_map(|n| Step::Deliver { n }),
        (1..NODES).prop_map(|n| Step::Repeat { n }),
    ]
}

struct Model {
    ids: Vec<NodeId>,
    ledger: Ledger,
    obj: ObjectId,
    handles: [u32; NODES],
    /// References in transit: (minter, token, receiver).
    transit: Vec<(usize, u64, usize)>,
    /// Per node, operations not yet delivered to the owner, and the last one delivered.
    streams: Vec<RefOutbox>,
    queued: Vec<VecDeque<Remote>>,
    last: Vec<Option<Remote>>,
    next_token: u64,
    freed: bool,
}

impl Model {
    fn new() -> Model {
        let ids: Vec<NodeId> = (0..NODES).map(|i| node(&format!("n{i}"))).collect();
        let mut ledger = Ledger::new(&ids[0], Incarnation(9));
        let obj = ledger.expose();
        let mut handles = [0; NODES];
        handles[0] = 1;
        Model {
            ids,
            ledger,
            obj,
            handles,
            transit: Vec::new(),
            streams: (0..NODES).map(|_| RefOutbox::default()).collect(),
            queued: vec![VecDeque::new(); NODES],
            last: vec![None; NODES],
            next_token: 1,
            freed: false,
        }
    }

    fn op(&mut self, n: usize, op: RefOp) {
        if n == 0 {
            let applied = self.ledger.apply_local(op);
            self.freed |= applied.freed.is_some();
        } else {
            let msg = self.streams[n].push(op);
            self.queued[n].push_back(msg);
        }
    }

    fn apply(&mut self, n: usize, msg: &Remote) {
        let Remote::Ref { seq, op } = *msg else {
            unreachable!("only reference operations are queued")
        };
        let applied = self.ledger.apply(&self.ids[n], seq, op);
        if let Some(upto) = applied.ack {
            self.streams[n].ack(upto);
        }
        self.freed |= applied.freed.is_some();
    }

    fn run(&mut self, s: Step) {
        let obj = self.obj;
        match s {
            Step::Send { from, to } if self.handles[from] > 0 => {
                let token = self.next_token;
                self.next_token += 1;
                self.op(from, RefOp::Hold { obj, token });
                self.transit.push((from, token, to));
            }
            Step::Receive { i } if !self.transit.is_empty() => {
                let (minter, token, to) = self.transit.remove(i % self.transit.len());
                self.handles[to] += 1;
                let minter = MinterId::of(&self.ids[minter]);
                self.op(to, RefOp::Adopt { obj, minter, token });
            }
            Step::Drop { n } if self.handles[n] > 0 => {
                self.handles[n] -= 1;
                self.op(n, RefOp::Release { obj });
            }
            Step::Deliver { n } => {
                if let Some(msg) = self.queued[n].pop_front() {
                    self.apply(n, &msg);
                    self.last[n] = Some(msg);
                }
            }
            Step::Repeat { n } => {
                if let Some(msg) = self.last[n].clone() {
                    self.apply(n, &msg);
                }
            }
            _ => {}
        }
    }

    /// Someone still refers to the object: a handle, or a reference in transit.
    fn referenced(&self) -> bool {
        self.handles.iter().any(|h| *h > 0) || !self.transit.is_empty()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever the order of deliveries across nodes (each node's stream in order, with
    /// repeats), the object is never freed while referenced, and is freed once every
    /// reference is gone and every message has arrived.
    #[test]
    fn an_object_is_freed_exactly_when_nothing_refers_to_it(steps in proptest::collection::vec(step(), 0..120)) {
        let mut m = Model::new();
        for s in steps {
            m.run(s);
            prop_assert!(!(m.freed && m.referenced()), "freed while referenced after {s:?}");
        }
        // Wind down: receive everything in transit, drop every handle, deliver everything.
        while !m.transit.is_empty() {
            m.run(Step::Receive { i: 0 });
        }
        for n in 0..NODES {
            while m.handles[n] > 0 {
                m.run(Step::Drop { n });
            }
        }
        for n in 1..NODES {
            while !m.queued[n].is_empty() {
                m.run(Step::Deliver { n });
                prop_assert!(!(m.freed && m.referenced()));
            }
        }
        prop_assert!(m.freed, "leaked: nothing refers to the object and it is still exposed");
        prop_assert!(m.ledger.is_empty());
    }
}
