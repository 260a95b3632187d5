//! loom models of a channel operation racing the freeze of the task parked on it.
//! Asserted: the value is delivered exactly once — carried by the frozen task (as its response
//! or its withdrawn send), consumed by a worker that ran the task first, left in the channel, or
//! handed back to the external sender — and no stale waiting entry is left in the channel.
//!
//! Thread A is the external party (`poll_send_ext` / `poll_recv_ext`), thread B the freezer
//! (`handle::freeze`), the main thread a worker of a fake scheduler (`Executor::run_task`'s
//! freeze check). On a rendezvous channel the external party blocks when the freezer wins, so
//! the main thread closes the channel once the freezer is done; that hands the value back.

use std::future::poll_fn;

use loom::future::block_on;
use loom::thread;

use super::loom_channel::{as_u64, chan, drain_closed, recv, returned, send};
use crate::channel::ChanCore;
use crate::executor::Schedule;
use crate::sync::{Arc, Condvar, Mutex};
use crate::task::{RequestKind, Response, ResponseKind, Task, TaskId, TaskShared};
use crate::value::Value;

/// A scheduler that only records what it is given.
#[derive(Default)]
struct FakeSched {
    ready: Mutex<Ready>,
    cv: Condvar,
}

#[derive(Default)]
struct Ready {
    #[expect(clippy::vec_box, reason = "tasks move between owners as boxes")]
    tasks: Vec<Box<Task>>,
    /// The freezer has its task: nothing more will be scheduled before the close.
    freezer_done: bool,
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

/// What the task was suspended on.
#[derive(Clone, Copy)]
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
    let mut task = Task::new(Arc::clone(&shared), sched, vec![]);
    let chan = Arc::clone(core);
    let parked = match how {
        Parked::Recv => {
            task.pending = Some(RequestKind::Recv { chan });
            core.recv_task(task)
        }
        Parked::Send => {
            task.pending = Some(RequestKind::Send {
                chan,
                value: Some(Value::new(5u64)),
            });
            core.send_task(task)
        }
    };
    assert!(parked.is_none(), "the task parks");
    shared
}

/// `handle::freeze`: flag, wait for the cell, withdraw the request at its wait site.
fn freeze(shared: &Arc<TaskShared>, core: &ChanCore, sched: &FakeSched, how: Parked) -> Box<Task> {
    shared.request_freeze();
    let task = block_on(poll_fn(|cx| shared.poll_freeze(cx))).expect("the task never finishes");
    match &task.pending {
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
fn worker(idle: &Arc<ChanCore>, sched: &FakeSched) -> Option<u64> {
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
        task.pending.is_none(),
        "a scheduled task has completed its request"
    );
    let consumed = match task.response.take() {
        Some(Response(ResponseKind::Value(v))) => Some(as_u64(v)),
        Some(Response(ResponseKind::Unit)) => None,
        other => panic!("unexpected response {other:?}"),
    };
    task.pending = Some(RequestKind::Recv {
        chan: Arc::clone(idle),
    });
    assert!(idle.recv_task(task).is_none(), "nobody sends on `idle`");
    consumed
}

/// The value the frozen task carries: its response, or its withdrawn send's value.
fn carried_by(mut task: Box<Task>) -> Option<u64> {
    let carried = match (task.pending.take(), task.response.take()) {
        (None, Some(Response(ResponseKind::Value(v)))) => Some(as_u64(v)),
        (None, Some(Response(ResponseKind::Unit))) => None,
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
/// external party does the opposite operation once and a freezer freezes the task.
fn model(cap: usize, prefill: Option<u64>, how: Parked) {
    loom::model(move || {
        let core = chan(cap);
        let idle = chan(0);
        if let Some(v) = prefill {
            send(&core, v).expect("room in the buffer");
        }
        let sched = Arc::new(FakeSched::default());
        let shared = parked_task(&core, &sched, how);

        let c = Arc::clone(&core);
        let external = thread::spawn(move || match how {
            Parked::Recv => (returned(send(&c, 5)), None),
            Parked::Send => (None, recv(&c).ok()),
        });
        let (c, s, sh) = (Arc::clone(&core), Arc::clone(&sched), Arc::clone(&shared));
        let freezer = thread::spawn(move || freeze(&sh, &c, &s, how));

        let consumed = worker(&idle, &sched);
        let frozen = freezer.join().unwrap();
        // Releases an external party left waiting by a freezer that won.
        core.close();
        let (sent_back, received) = external.join().unwrap();

        let mut seen: Vec<u64> = drain_closed(&core);
        seen.extend(carried_by(frozen));
        seen.extend(consumed);
        seen.extend(sent_back);
        seen.extend(received);
        seen.sort_unstable();
        let mut want: Vec<u64> = prefill.into_iter().chain([5]).collect();
        want.sort_unstable();
        assert_eq!(seen, want, "every value exactly once");
        assert_eq!(core.balance(), 0);
        assert_eq!(idle.balance(), 0, "the frozen task left `idle`");
        assert!(sched.ready.lock().tasks.is_empty());
    });
}

#[test]
fn send_races_freeze_of_receiver_rendezvous() {
    model(0, None, Parked::Recv);
}

#[test]
fn send_races_freeze_of_receiver_buffered() {
    model(1, None, Parked::Recv);
}

#[test]
fn recv_races_freeze_of_sender_rendezvous() {
    model(0, None, Parked::Send);
}

#[test]
fn recv_refill_races_freeze_of_sender_buffered() {
    // The receive takes 4 from the full buffer and refills it from the parked sender's 5.
    model(1, Some(4), Parked::Send);
}
