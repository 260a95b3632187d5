//! The checker must catch each kind of bad history, and pass good ones.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A history built step by step, one millisecond apart.
#[derive(Default)]
struct H {
    h: History,
    t: u64,
}

impl H {
    fn ev(mut self, e: Event) -> H {
        self.t += 1;
        self.h.push(ms(self.t), e);
        self
    }

    fn at(mut self, t: u64, e: Event) -> H {
        self.t = t;
        self.h.push(ms(t), e);
        self
    }

    fn send(self, sender: u64, chan: usize, seq: u32) -> H {
        self.ev(Event::Send { sender, chan, seq })
    }

    fn done(self, sender: u64, seq: u32, result: SendResult) -> H {
        self.ev(Event::SendDone {
            sender,
            seq,
            result,
        })
    }

    fn deliver(self, receiver: u64, chan: usize, sender: u64, seq: u32) -> H {
        self.ev(Event::Deliver {
            receiver,
            chan,
            sender,
            seq,
            node: 0,
            epoch: 0,
        })
    }

    /// A complete send: started, taken, delivered to `receiver`.
    fn sent(self, sender: u64, chan: usize, seq: u32, receiver: u64) -> H {
        self.send(sender, chan, seq)
            .done(sender, seq, SendResult::Sent)
            .deliver(receiver, chan, sender, seq)
    }

    fn end(self) -> H {
        self.ev(Event::End { complete: true })
    }

    fn check(&self) -> Vec<Violation> {
        check(&self.h, &CheckConfig::default())
    }

    fn invariants(&self) -> Vec<&'static str> {
        self.check().iter().map(Violation::invariant).collect()
    }
}

#[test]
fn a_good_history_passes() {
    let h = H::default()
        .sent(1, 0, 0, 10)
        .sent(1, 0, 1, 11)
        .sent(2, 0, 0, 10)
        .sent(1, 1, 2, 10)
        // Sent values may be delivered after the sender saw Sent, by other receivers.
        .send(1, 0, 3)
        .deliver(11, 0, 1, 3)
        .done(1, 3, SendResult::Sent)
        .send(2, 0, 1)
        .done(2, 1, SendResult::Returned)
        .end();
    assert_eq!(h.check(), []);
}

#[test]
fn i1_out_of_order_values_are_caught() {
    let h = H::default()
        .send(1, 0, 0)
        .send(1, 0, 1)
        .done(1, 0, SendResult::Sent)
        .done(1, 1, SendResult::Sent)
        .deliver(10, 0, 1, 1)
        .deliver(10, 0, 1, 0)
        .end();
    assert_eq!(
        h.check(),
        [Violation::Fifo {
            receiver: 10,
            sender: 1,
            chan: 0,
            seq: 0,
            after: 1
        }]
    );
    // Two receivers each seeing an increasing subsequence is fine.
    let ok = H::default()
        .send(1, 0, 0)
        .send(1, 0, 1)
        .done(1, 0, SendResult::Sent)
        .done(1, 1, SendResult::Sent)
        .deliver(11, 0, 1, 1)
        .deliver(10, 0, 1, 0)
        .end();
    assert_eq!(ok.check(), []);
}

#[test]
fn i2_duplicates_phantoms_and_returned_values_are_caught() {
    let dup = H::default().sent(1, 0, 0, 10).deliver(11, 0, 1, 0).end();
    assert_eq!(
        dup.check(),
        [Violation::Duplicate {
            sender: 1,
            seq: 0,
            times: 2
        }]
    );
    // A value never sent, and one sent on another channel.
    let phantom = H::default()
        .deliver(10, 0, 7, 0)
        .sent(1, 0, 0, 10)
        .deliver(11, 1, 1, 0)
        .end();
    assert_eq!(phantom.invariants(), ["I2", "I2"]);
    // A value handed back to its sender must not arrive anyway.
    let returned = H::default()
        .send(1, 0, 0)
        .done(1, 0, SendResult::Returned)
        .deliver(10, 0, 1, 0)
        .end();
    assert_eq!(
        returned.check(),
        [Violation::ReturnedDelivered { sender: 1, seq: 0 }]
    );
}

#[test]
fn i4_a_lost_value_is_caught_unless_a_crash_explains_it() {
    let lost = H::default()
        .send(1, 0, 0)
        .done(1, 0, SendResult::Sent)
        .end();
    assert_eq!(lost.check(), [Violation::Lost { sender: 1, seq: 0 }]);
    let crashed = H::default()
        .send(1, 0, 0)
        .done(1, 0, SendResult::Sent)
        .ev(Event::Crash { node: 2 })
        .ev(Event::Restart { node: 2 })
        .end();
    assert_eq!(crashed.check(), []);
    // A crash learnt of before the send began explains nothing.
    let early = H::default()
        .ev(Event::Crash { node: 2 })
        .ev(Event::Restart { node: 2 })
        .ev(Event::Detect { node: 0, peer: 2 })
        .send(1, 0, 0)
        .done(1, 0, SendResult::Sent)
        .end();
    assert_eq!(early.invariants(), ["I4"]);
    // A value sent after the crash is still at risk until the last node learns of it…
    let undetected = H::default()
        .ev(Event::Crash { node: 2 })
        .ev(Event::Restart { node: 2 })
        .ev(Event::Detect { node: 0, peer: 2 })
        .send(1, 0, 0)
        .done(1, 0, SendResult::Sent)
        .ev(Event::Detect { node: 1, peer: 2 })
        .end();
    assert_eq!(undetected.check(), []);
    // …and not after.
    let detected = H::default()
        .ev(Event::Crash { node: 2 })
        .ev(Event::Restart { node: 2 })
        .ev(Event::Detect { node: 0, peer: 2 })
        .ev(Event::Detect { node: 1, peer: 2 })
        .send(1, 0, 0)
        .done(1, 0, SendResult::Sent)
        .end();
    assert_eq!(detected.invariants(), ["I4"]);
    // NodeDown needs a crash.
    let down = H::default()
        .send(1, 0, 0)
        .done(1, 0, SendResult::NodeDown)
        .end();
    assert_eq!(
        down.check(),
        [Violation::SpuriousNodeDown { sender: 1, seq: 0 }]
    );
}

#[test]
fn i6_unfinished_sends_and_unfinished_runs_are_caught() {
    let stuck = H::default()
        .sent(1, 0, 0, 10)
        .send(1, 0, 1)
        .send(2, 0, 0)
        .ev(Event::Died { party: 2 })
        .end();
    assert_eq!(stuck.check(), [Violation::Unfinished { sender: 1, seq: 1 }]);
    let cut_short = H::default()
        .sent(1, 0, 0, 10)
        .ev(Event::End { complete: false });
    assert_eq!(cut_short.check(), [Violation::Incomplete]);
    let no_end = H::default().sent(1, 0, 0, 10);
    assert_eq!(no_end.check(), [Violation::Incomplete]);
}

#[test]
fn i6_work_outstanding_at_the_heal_must_resume_in_time() {
    let slow = H::default()
        .ev(Event::Cut { from: 0, to: 1 })
        .send(1, 0, 0)
        .at(1_000, Event::Mend { from: 0, to: 1 })
        .at(
            12_000,
            Event::SendDone {
                sender: 1,
                seq: 0,
                result: SendResult::Sent,
            },
        )
        .deliver(10, 0, 1, 0)
        .end();
    assert_eq!(
        slow.check(),
        [Violation::NoResume {
            healed: ms(1_000),
            first: Some(ms(12_000))
        }]
    );
    let prompt = H::default()
        .ev(Event::Cut { from: 0, to: 1 })
        .send(1, 0, 0)
        .at(1_000, Event::Mend { from: 0, to: 1 })
        .at(
            1_500,
            Event::SendDone {
                sender: 1,
                seq: 0,
                result: SendResult::Sent,
            },
        )
        // Work started after the heal may take as long as it likes.
        .send(1, 0, 1)
        .at(
            60_000,
            Event::SendDone {
                sender: 1,
                seq: 1,
                result: SendResult::Sent,
            },
        )
        .deliver(10, 0, 1, 0)
        .deliver(10, 0, 1, 1)
        .end();
    assert_eq!(prompt.check(), []);
}

#[test]
fn unexpected_protocol_events_fail_the_run() {
    let h = H::default()
        .ev(Event::Unexpected {
            what: "stale".into(),
        })
        .send(1, 0, 0)
        .done(1, 0, SendResult::Returned)
        .done(1, 0, SendResult::Returned)
        .end();
    let v = h.check();
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.iter().all(|v| v.invariant() == "protocol"));
    assert!(v[0].to_string().contains("stale"), "{}", v[0]);
}

#[test]
fn i3_two_incarnations_a_run_before_the_commit_and_a_party_lost_in_a_move_are_caught() {
    let run = |party, node, epoch| Event::Run { party, node, epoch };
    let h = H::default()
        .ev(run(5, 0, 0))
        .ev(run(5, 1, 1)) // still running on n0
        .end();
    let v = h.check();
    assert!(
        matches!(v[..], [Violation::TwoIncarnations { party: 5, .. }]),
        "{v:?}"
    );
    let h = H::default()
        .ev(run(5, 0, 0))
        .ev(Event::Freeze {
            party: 5,
            node: 0,
            epoch: 0,
        })
        .ev(Event::MoveStart {
            party: 5,
            from: 0,
            to: 1,
            epoch: 1,
        })
        .ev(run(5, 1, 1)) // before the source let go
        .end();
    let v = h.check();
    assert!(
        matches!(v[..], [Violation::RunBeforeCommit { party: 5, .. }]),
        "{v:?}"
    );
    let h = H::default()
        .ev(run(5, 0, 0))
        .ev(Event::Freeze {
            party: 5,
            node: 0,
            epoch: 0,
        })
        .ev(Event::MoveStart {
            party: 5,
            from: 0,
            to: 1,
            epoch: 1,
        })
        .end();
    let v = h.check();
    assert!(
        matches!(v[..], [Violation::LostInMove { party: 5, .. }]),
        "{v:?}"
    );
    // The same, with a crash of the target after the move began: explained.
    let h = H::default()
        .ev(run(5, 0, 0))
        .ev(Event::MoveStart {
            party: 5,
            from: 0,
            to: 1,
            epoch: 1,
        })
        .ev(Event::Crash { node: 1 })
        .end();
    assert!(h.check().iter().all(|v| v.invariant() != "I3"));
}
