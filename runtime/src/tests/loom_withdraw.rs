//! loom models of a remote party's withdrawal racing a local party at the channel's home.
//!
//! A party of another node parks at the home as a `Waiter::Remote`; its node freezes the task
//! to move it and sends `ToHome::Withdraw`, which the cluster driver applies with
//! [`ChanCore::on_to_home`] while a local party on the home (an external future or a task)
//! sends or receives on the channel. Asserted:
//!
//! - every `Done` the home sends for the operation carries the same outcome: `Withdrawn` (a
//!   send's value handed back in it) or the match (`Received`, `Sent`), never both;
//! - every value exactly once: in that outcome, with the local party, or in the channel;
//! - no stale entry: no remote waiter is left in the queues, a repeated withdraw (a resend
//!   after a lost connection) is answered from the log with the same outcome, and once the
//!   node acknowledges it the home has forgotten the operation (`UnknownOp`; nothing keeps
//!   the channel pinned but the credit grant a buffered home makes after a remote send).
//!
//! Threads: the local party, the cluster driver withdrawing, and main, which closes the
//! channel once the withdrawal is done (releasing a local party left waiting on a rendezvous
//! channel when the withdrawal won) and then checks. The home has no cluster: what it sends
//! is read back with [`ChanCore::take_sent`] (the loom build's stand-in for the network).

use tern_net::proto::{
    self, FromHome, Message, NodeId, OpId, Outcome, PartyId, Payload, Rejection, ToHome, TypeKey,
};

use loom::thread;

use super::loom_channel::{as_u64, chan, drain_closed, recv, returned, send};
use crate::channel::ChanCore;
use crate::error::ChannelError;
use crate::executor::Schedule;
use crate::sync::{Arc, Mutex};
use crate::task::{FrameStack, RequestKind, ResponseKind, Task, TaskId, TaskShared};
use crate::value::Value;

/// The node whose party waits at the home.
fn beta() -> NodeId {
    NodeId::new("beta").expect("a valid node id")
}

/// The remote party's operation.
const OP: OpId = OpId {
    party: PartyId { origin: 7, seq: 1 },
    epoch: 1,
    seq: 1,
};

/// A message from `beta` to the home, applied as the cluster driver does.
fn to_home(core: &ChanCore, msg: ToHome) {
    assert!(core.on_to_home(&beta(), msg), "this node is the home");
}

/// The channel's identity on the wire.
fn wire(core: &ChanCore) -> proto::ChannelId {
    proto::ChannelId::new("loom", TypeKey(0), core.id().cap as u64)
}

/// `beta`'s node withdraws `OP` (its task freezes to move).
fn withdraw(core: &ChanCore) {
    to_home(
        core,
        ToHome::Withdraw {
            chan: wire(core),
            op: OP,
        },
    );
}

/// The outcomes of the `Done`s the home has sent for `OP` since last asked, oldest first.
fn answers(core: &ChanCore) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (to, msg) in core.take_sent() {
        assert_eq!(to, beta());
        match msg {
            Message::FromHome(FromHome::Done { op, outcome, .. }) => {
                assert_eq!(op, OP);
                out.push(outcome);
            }
            // A grant after a remote send completed on a buffered channel.
            Message::FromHome(FromHome::Credit { .. }) => {}
            other => panic!("unexpected message {other:?}"),
        }
    }
    out
}

/// The one outcome of `OP`: every `Done` sent for it must agree.
fn the_outcome(core: &ChanCore) -> Outcome {
    let all = answers(core);
    let first = all
        .first()
        .expect("the home answered the withdrawal")
        .clone();
    assert!(
        all.iter().all(|o| *o == first),
        "the home answered both ways: {all:?}"
    );
    first
}

/// The `u64` in a payload.
fn decode(p: Payload) -> u64 {
    as_u64(Value::Encoded(p.0))
}

/// Once the node has the outcome: a repeated withdraw is answered from the log with the same
/// outcome; after the acknowledgement, the home has forgotten the operation.
fn settle(core: &ChanCore, outcome: &Outcome, pinned_by_grant: bool) {
    withdraw(core);
    assert_eq!(
        answers(core),
        std::slice::from_ref(outcome),
        "a repeat is answered from the log"
    );
    to_home(
        core,
        ToHome::Ack {
            chan: wire(core),
            op: OP,
        },
    );
    withdraw(core);
    match answers(core).as_slice() {
        [Outcome::Rejected {
            reason: Rejection::UnknownOp,
            value: None,
        }] => {}
        other => panic!("the acknowledged operation is still known: {other:?}"),
    }
    assert_eq!(core.balance(), 0, "a stale waiting entry");
    assert_eq!(core.len(), 0);
    // A buffered channel that completed a remote send keeps its (empty) grant for the node.
    assert!(core.is_idle() || pinned_by_grant, "stale bookkeeping");
}

/// A scheduler that keeps what it is given.
#[derive(Default)]
#[expect(clippy::vec_box, reason = "tasks move between owners as boxes")]
struct Keep(Mutex<Vec<Box<Task>>>);

impl Schedule for Keep {
    fn schedule(&self, task: Box<Task>) {
        self.0.lock().push(task);
    }
    fn node_name(&self) -> &str {
        "loom"
    }
    fn withdraw_timer(&self, _task: &Arc<TaskShared>) {}
}

/// The value a task's finished send hands back (`None`: sent); the task is consumed.
fn handed_back(task: &mut Task) -> Option<u64> {
    assert!(task.pending().is_none(), "the send finished");
    let back = match task.take_response().expect("a response").0 {
        ResponseKind::Unit => None,
        ResponseKind::Channel(ChannelError::Closed, v) => Some(as_u64(v.expect("the value"))),
        other => panic!("unexpected response {other:?}"),
    };
    task.detached = true; // consumed deliberately: not a cancel
    back
}

/// Who sends on the home while the remote receiver withdraws.
#[derive(Clone, Copy)]
enum Sender {
    /// An external future (`SendFuture`).
    Ext,
    /// A task (`ChanCore::send_value`), scheduled again when a close releases it.
    Task,
}

/// A remote receive parked at the home of a channel of capacity `cap` is withdrawn while a
/// local `sender` sends 5.
fn send_races_withdraw(cap: usize, sender: Sender) {
    loom::model(move || {
        crate::bias::become_worker();
        let core = chan(cap);
        to_home(
            &core,
            ToHome::Recv {
                chan: wire(&core),
                op: OP,
            },
        );
        assert_eq!(core.balance(), -1, "the remote receiver waits");
        let sched = Arc::new(Keep::default());

        let (c, s) = (Arc::clone(&core), Arc::clone(&sched));
        let local = thread::spawn(move || match sender {
            Sender::Ext => returned(send(&c, 5)),
            Sender::Task => {
                let s: Arc<dyn Schedule> = s;
                let mut task =
                    Task::new(TaskShared::new(TaskId::next(1)), s, FrameStack::default());
                task.set_pending(RequestKind::Send {
                    chan: Arc::clone(&c),
                    value: Some(Value::new(5u64)),
                });
                // Parked: the close hands the task to the scheduler.
                ChanCore::send_task(c, task).and_then(|mut t| handed_back(&mut t))
            }
        });
        let c = Arc::clone(&core);
        let driver = thread::spawn(move || withdraw(&c));

        driver.join().unwrap();
        assert!(core.balance() >= 0, "a stale remote receiver");
        core.close();
        let mut seen = local.join().unwrap().into_iter().collect::<Vec<_>>();
        seen.extend(
            sched
                .0
                .lock()
                .drain(..)
                .filter_map(|mut t| handed_back(&mut t)),
        );
        seen.extend(drain_closed(&core));
        let outcome = the_outcome(&core);
        match outcome.clone() {
            Outcome::Received(p) => seen.push(decode(p)),
            Outcome::Withdrawn { value: None } => {}
            other => panic!("unexpected outcome {other:?}"),
        }
        assert_eq!(seen, [5], "the value exactly once");
        settle(&core, &outcome, false);
    });
}

/// A remote send of 5 parked at the home of a channel of capacity `cap` (holding `prefill`)
/// is withdrawn while a local external receiver receives.
fn recv_races_withdraw(cap: usize, prefill: Option<u64>) {
    loom::model(move || {
        crate::bias::become_worker();
        let core = chan(cap);
        if let Some(v) = prefill {
            send(&core, v).expect("room in the buffer");
        }
        let value = Payload(Value::new(5u64).to_bytes().expect("a u64 encodes"));
        let msg = ToHome::Send {
            chan: wire(&core),
            op: OP,
            value,
        };
        to_home(&core, msg);
        assert_eq!(core.balance(), 1, "the remote sender waits");

        let c = Arc::clone(&core);
        let local = thread::spawn(move || recv(&c).ok());
        let c = Arc::clone(&core);
        let driver = thread::spawn(move || withdraw(&c));

        driver.join().unwrap();
        assert!(core.balance() <= 0, "a stale remote sender");
        core.close();
        let mut seen: Vec<u64> = local.join().unwrap().into_iter().collect();
        seen.extend(drain_closed(&core));
        let outcome = the_outcome(&core);
        let sent = match outcome.clone() {
            Outcome::Sent => true,
            Outcome::Withdrawn { value: Some(p) } => {
                seen.push(decode(p));
                false
            }
            other => panic!("unexpected outcome {other:?}"),
        };
        seen.sort_unstable();
        let mut want: Vec<u64> = prefill.into_iter().chain([5]).collect();
        want.sort_unstable();
        assert_eq!(seen, want, "every value exactly once");
        settle(&core, &outcome, sent && cap > 0);
    });
}

#[test]
fn ext_send_races_withdraw_of_remote_receiver_rendezvous() {
    send_races_withdraw(0, Sender::Ext);
}

#[test]
fn ext_send_races_withdraw_of_remote_receiver_buffered() {
    send_races_withdraw(1, Sender::Ext);
}

#[test]
fn task_send_races_withdraw_of_remote_receiver_rendezvous() {
    send_races_withdraw(0, Sender::Task);
}

#[test]
fn recv_races_withdraw_of_remote_sender_rendezvous() {
    recv_races_withdraw(0, None);
}

#[test]
fn recv_refill_races_withdraw_of_remote_sender_buffered() {
    // The receive takes 4 from the full buffer and refills it from the remote sender's 5.
    recv_races_withdraw(1, Some(4));
}
