//! loom models of an external send, receive or close racing the freeze of a task parked on the
//! channel. Asserted: every value exactly once (frozen task, worker, channel, external party);
//! the frozen task leaves no stale entry behind.
//!
//! Threads: the external party, the freezer (`handle::freeze`), and main as a worker of a fake
//! scheduler (`run_task`'s freeze check). Once the freezer is done, main closes the channel to
//! release an external party left waiting on a rendezvous channel by a freezer that won.

use std::future::poll_fn;

use loom::future::block_on;
use loom::thread;

use super::loom_channel::{as_u64, chan, drain_closed, recv, returned, send};
use crate::channel::ChanCore;
use crate::error::ChannelError;
use crate::executor::Schedule;
use crate::sync::{Arc, Condvar, Mutex};
use crate::task::{FrameStack, RequestKind, Response, ResponseKind, Task, TaskId, TaskShared};
use crate::value::Value;

/// A scheduler that only records what it is given.
#[derive(Default)]
pub(super) struct FakeSched {
    pub(super) ready: Mutex<Ready>,
    pub(super) cv: Condvar,
}

#[derive(Default)]
pub(super) struct Ready {
    #[expect(clippy::vec_box, reason = "tasks move between owners as boxes")]
    pub(super) tasks: Vec<Box<Task>>,
    /// The freezer has its task: nothing more will be scheduled before the close.
    pub(super) freezer_done: bool,
}

impl Schedule for FakeSched {
    fn schedule(&self, task: Box<Task>) {
        self.ready.lock().tasks.push(task);
        self.cv.notify_all();
    }
    fn node_name(&self) -> &str {
        "loom"
    }
    fn withdraw_timer(&self, _task: &Arc<TaskShared>) {}
}

/// What the external thread does.
#[derive(Clone, Copy, PartialEq)]
enum Other {
    /// The operation opposite the task's, once.
    Opposite,
    /// Closes the channel.
    Close,
}

/// What the task was suspended on.
#[derive(Clone, Copy, PartialEq)]
enum Parked {
    /// A receive; the external party sends 5.
    Recv,
    /// A send of 5; the external party receives.
    Send,
}

/// A task parked on `core` as `how`, scheduled by `sched`.
fn parked_task(core: &Arc<ChanCore>, sched: &Arc<FakeSched>, how: Parked) -> Arc<TaskShared> {
    let shared = TaskShared::new(TaskId::next(1));
    let sched: Arc<dyn Schedule> = Arc::clone(sched) as Arc<dyn Schedule>;
    let mut task = Task::new(Arc::clone(&shared), sched, FrameStack::default());
    let chan = Arc::clone(core);
    let parked = match how {
        Parked::Recv => {
            task.set_pending(RequestKind::Recv {
                chan: Arc::clone(&chan),
            });
            ChanCore::recv_task(chan, task)
        }
        Parked::Send => {
            task.set_pending(RequestKind::Send {
                chan: Arc::clone(&chan),
                value: Some(Value::new(5u64)),
            });
            ChanCore::send_task(chan, task)
        }
    };
    assert!(parked.is_none(), "the task parks");
    shared
}

/// `handle::freeze`: flag, wait for the cell, withdraw the request at its wait site.
fn freeze(shared: &Arc<TaskShared>, core: &ChanCore, sched: &FakeSched, how: Parked) -> Box<Task> {
    shared.request_freeze();
    let task = block_on(poll_fn(|cx| shared.poll_freeze(cx))).expect("the task never finishes");
    match task.pending() {
        Some(RequestKind::Recv { chan }) | Some(RequestKind::Send { chan, .. }) => {
            chan.withdraw(shared);
        }
        _ => {}
    }
    // The external party may be waiting on the other side; the frozen task must not be.
    let balance = core.balance();
    match how {
        Parked::Recv => assert!(balance >= 0, "a stale receiver entry is left"),
        Parked::Send => assert!(balance <= 0, "a stale sender entry is left"),
    }
    sched.ready.lock().freezer_done = true;
    sched.cv.notify_all();
    task
}

/// A worker: takes the task if it is scheduled before the freezer is done. When its freeze
/// flag is up it hands the task over (`run_task`); otherwise it "runs" it: the task consumes
/// its response and suspends on a receive of `idle`, a channel nobody sends to. Returns the
/// value the task consumed, if any.
pub(super) fn worker(idle: &Arc<ChanCore>, sched: &FakeSched) -> Option<u64> {
    let task = {
        let mut r = sched.ready.lock();
        loop {
            if let Some(t) = r.tasks.pop() {
                break Some(t);
            }
            if r.freezer_done {
                break None;
            }
            r = sched.cv.wait(r);
        }
    };
    let mut task = task?;
    if task.shared.freeze_requested() {
        TaskShared::hand_over(task);
        return None;
    }
    assert!(
        task.pending().is_none(),
        "a scheduled task has completed its request"
    );
    let consumed = match task.take_response() {
        Some(r) => value_of(r),
        None => panic!("a scheduled task has a response"),
    };
    task.set_pending(RequestKind::Recv {
        chan: Arc::clone(idle),
    });
    assert!(
        ChanCore::recv_task(Arc::clone(idle), task).is_none(),
        "nobody sends on `idle`"
    );
    consumed
}

/// The value a response carries: a received value, or a failed send's value handed back.
fn value_of(response: Response) -> Option<u64> {
    match response.0 {
        ResponseKind::Value(v) => Some(as_u64(v)),
        ResponseKind::Unit => None,
        ResponseKind::Channel(ChannelError::Closed, v) => v.map(as_u64),
        other => panic!("unexpected response {other:?}"),
    }
}

/// The value the frozen task carries: in its response, or in its withdrawn send.
fn carried_by(task: &mut Task) -> Option<u64> {
    let carried = match (task.take_pending(), task.take_response()) {
        (None, Some(r)) => value_of(r),
        (Some(RequestKind::Recv { .. }), None) => None,
        (Some(RequestKind::Send { value, .. }), None) => {
            Some(as_u64(value.expect("a withdrawn send keeps its value")))
        }
        (p, r) => panic!("inconsistent frozen task: pending {p:?}, response {r:?}"),
    };
    task.detached = true; // consumed deliberately: not a cancel
    carried
}

/// The task is parked on a channel of capacity `cap` (holding `prefill`) as `how` while the
/// external thread does `other` and a freezer freezes the task.
fn model(cap: usize, prefill: Option<u64>, how: Parked, other: Other) {
    loom::model(move || {
        // Main is the worker: the channels become biased to it, and the external party and
        // the freezer revoke the bias while the task's side may be on its lock-free path.
        crate::bias::become_worker();
        let core = chan(cap);
        let idle = chan(0);
        if let Some(v) = prefill {
            send(&core, v).expect("room in the buffer");
        }
        let sched = Arc::new(FakeSched::default());
        let shared = parked_task(&core, &sched, how);

        let c = Arc::clone(&core);
        let external = thread::spawn(move || match (other, how) {
            (Other::Close, _) => {
                c.close();
                (None, None)
            }
            (Other::Opposite, Parked::Recv) => (returned(send(&c, 5)), None),
            (Other::Opposite, Parked::Send) => (None, recv(&c).ok()),
        });
        let (c, s, sh) = (Arc::clone(&core), Arc::clone(&sched), Arc::clone(&shared));
        let freezer = thread::spawn(move || freeze(&sh, &c, &s, how));

        let consumed = worker(&idle, &sched);
        let mut frozen = freezer.join().unwrap();
        // Releases an external party left waiting by a freezer that won.
        core.close();
        let (sent_back, received) = external.join().unwrap();

        let mut seen: Vec<u64> = drain_closed(&core);
        seen.extend(carried_by(&mut frozen));
        drop(frozen);
        seen.extend(consumed);
        seen.extend(sent_back);
        seen.extend(received);
        seen.sort_unstable();
        let five = how == Parked::Send || other == Other::Opposite;
        let mut want: Vec<u64> = prefill.into_iter().chain(five.then_some(5)).collect();
        want.sort_unstable();
        assert_eq!(seen, want, "every value exactly once");
        assert_eq!(idle.balance(), 0, "the frozen task left `idle`");
        assert!(sched.ready.lock().tasks.is_empty());
    });
}

#[test]
fn send_races_freeze_of_receiver_rendezvous() {
    model(0, None, Parked::Recv, Other::Opposite);
}

#[test]
fn send_races_freeze_of_receiver_buffered() {
    model(1, None, Parked::Recv, Other::Opposite);
}

#[test]
fn recv_races_freeze_of_sender_rendezvous() {
    model(0, None, Parked::Send, Other::Opposite);
}

#[test]
fn recv_refill_races_freeze_of_sender_buffered() {
    // The receive takes 4 from the full buffer and refills it from the parked sender's 5.
    model(1, Some(4), Parked::Send, Other::Opposite);
}

#[test]
fn close_races_freeze_of_receiver() {
    model(0, None, Parked::Recv, Other::Close);
}

#[test]
fn close_races_freeze_of_sender() {
    model(0, None, Parked::Send, Other::Close);
}
