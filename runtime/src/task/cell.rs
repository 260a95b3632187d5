//! The task object and the cell that decides who owns a suspended task.
//!
//! # Ownership
//!
//! A [`Task`] is a `Box` with exactly one owner at any moment: a worker running it, a run
//! queue, or — while it waits on a channel or a timer — its own [`TaskShared`] *slot*. Channel
//! and timer queues never hold the task itself, only a reference to its `TaskShared`. Whoever
//! takes the task out of the slot owns it:
//!
//! - a *matcher* (a channel operation, the timer, a finishing task's joiner wake-up) takes it
//!   to complete its request and schedule it;
//! - a *freezer* takes it to snapshot it (the request is then *withdrawn*).
//!
//! A reference whose slot turns out empty is stale and is skipped. This makes "a send races the
//! freeze of its receiver" a race between two `take`s of one `Option`: exactly one wins, so a
//! value is either delivered (and the task, with the value as its response, goes to a run queue,
//! where the freezer collects it) or not delivered at all (and the withdrawn request travels in
//! the snapshot). Nothing is lost and nothing is delivered twice.
//!
//! # Two sides, and a handshake instead of a lock
//!
//! Every access to the slot comes from one of two sides:
//!
//! - the *site side*: whoever parks the task at a wait site or takes it from there. The task
//!   waits at one site at a time and those accesses are made under the site's own lock (a
//!   channel's, the timer's, the joined task's join lock) or by the task's owner, so the site
//!   side never races itself;
//! - the *freezer side*, which comes from anywhere, rarely.
//!
//! The site side runs on every hand-off, so it takes no lock while no freezer is at work: it
//! raises `busy`, orders that with a free fence ([`asym::light`](crate::asym::light)), and looks
//! at the freeze count; if the count is 0 it uses the slot directly and lowers `busy` (a
//! `Release` store). A freezer raises the count, runs [`asym::heavy`](crate::asym::heavy) (a
//! process-wide fence), and waits until `busy` is down. The fences make the two flags a Dekker
//! handshake: either the site side sees the count and backs off, or the freezer sees `busy` and
//! waits for that access to end — after which every new site access sees the count. While the
//! count is not 0, both sides take the cell's spin lock, which is all the old protocol was.
//! Lowering the count (`Release`) after the freezer's last locked access hands the slot back to
//! the fast path.
//!
//! # Freezing
//!
//! [`TaskShared::request_freeze`] raises the count, which every worker also checks before it
//! resumes a task; a flagged task is put into its slot instead of being run. The freezer then
//! waits (as a future) until the slot holds the task, or until the task has finished. Several
//! freezers may work at once (each holds one unit of the count); one gets the task.
//!
//! Lock order: a channel's lock, then a cell's lock. Never the reverse.
//!
//! # Channel wait queues
//!
//! A channel's wait queue holds the address of a parked task's `TaskShared` (see
//! [`TaskShared::park_in_channel`]), without a reference count: a hand-off moves no count. It is dereferenced only under the
//! channel's lock while the entry is in the queue, and the `TaskShared` is alive then: while the
//! task is in its cell, the task's own `shared` field holds a count; a freezer that takes the
//! task out of the cell holds the handle's count, and keeps the task, until it has withdrawn the
//! entry under that same lock ([`ChanCore::withdraw`](crate::channel::ChanCore::withdraw)).
//! Only the channel operations, which pop the entry under the lock, take the task out otherwise.

use std::panic::Location;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::frame::FrameStack;
use super::{ChanCache, RequestKind, Response, ResponseKind, TaskId, TaskReport};
use crate::asym;
use crate::executor::Schedule;
use crate::spin::SpinLock;
use crate::sync::{Arc, AtomicBool, AtomicU32, Mutex, Ordering, UnsafeCell};
use crate::value::Value;

/// The part of a task that outlives moves between owners: its identity, its parking cell and
/// its join slot. Shared by the task, the queues it waits in, and its handle.
pub(crate) struct TaskShared {
    pub(crate) id: TaskId,
    /// The task, while it waits at a site or while a freezer collects it (module docs).
    slot: UnsafeCell<Option<Box<Task>>>,
    /// A site-side access to `slot` without the cell's lock is in progress.
    busy: AtomicBool,
    /// Freezers at work on this task; while not 0, every slot access takes the cell's lock.
    freeze: AtomicU32,
    cell: SpinLock<CellState>,
    join: Mutex<JoinState>,
    /// Findable by id in this process (a handle or a join of it was serialized).
    published: AtomicBool,
}

// SAFETY: the only field that is not `Sync` by itself is `slot`, and every access to it is
// exclusive by the protocol of the module docs ("Two sides"): the site side is serialized by
// its wait site, and the site side and freezers exclude each other through the `busy`/`freeze`
// handshake or the cell's lock. What crosses threads through the slot is a `Box<Task>`, which
// is `Send`.
unsafe impl Sync for TaskShared {}

/// What the cell's lock guards besides the slot.
#[derive(Default)]
pub(crate) struct CellState {
    /// The task has finished: nothing will ever be parked here again.
    pub(crate) finished: bool,
    /// A freezer waiting for the task to reach the cell.
    freezer: Option<Waker>,
}

#[derive(Default)]
struct JoinState {
    /// An outcome has been recorded (it may since have been taken by the joiner).
    done: bool,
    outcome: Option<JoinOutcome>,
    /// A joiner outside tasks (a `JoinFuture` polled by other async code).
    waker: Option<Waker>,
    /// A task suspended in a `Join` request on this task.
    joiner: Option<Arc<TaskShared>>,
}

/// How a task ended, as seen by its joiner.
#[derive(Debug)]
pub(crate) enum JoinOutcome {
    /// It returned this output.
    Output(Value),
    /// It panicked or failed.
    Failed(Box<TaskReport>),
    /// It was dropped without finishing (its node shut down).
    Cancelled,
    /// It was frozen into a snapshot and left this handle's reach.
    Frozen,
    /// The node it ran on went down (crashed, or gone past the grace period).
    NodeDown(crate::NodeId),
}

/// Where a task stands with the runtime between two resumes. A request and its response are
/// never held at once: the response replaces the request.
#[derive(Debug)]
pub(crate) enum Wait {
    /// Neither: a fresh frame starts (its first resume has no response).
    Start,
    /// The request in flight, while it waits to be completed.
    Pending(RequestKind),
    /// The response to resume with, once the request has completed.
    Ready(Response),
}

/// A task: its frame stack and the request it is suspended on.
pub(crate) struct Task {
    pub(crate) shared: Arc<TaskShared>,
    /// The executor that runs the task (and the node it lives on).
    pub(crate) sched: Arc<dyn Schedule>,
    /// The frame stack; the innermost frame is the one to resume.
    pub(crate) frames: FrameStack,
    /// The request in flight, or the response to resume with.
    wait: Wait,
    /// Channel references kept for the next requests (see [`ChanCache`]).
    pub(crate) chans: ChanCache,
    /// Incremented by every move.
    pub(crate) epoch: u64,
    /// Where the task last suspended.
    pub(crate) location: Option<&'static Location<'static>>,
    /// Where the task last suspended before it was restored (until it suspends again here).
    pub(crate) restored_location: Option<Box<super::SourceLocation>>,
    /// The task was handed off whole (frozen into a snapshot): dropping it is not a cancel.
    pub(crate) detached: bool,
}

impl Task {
    pub(crate) fn new(
        shared: Arc<TaskShared>,
        sched: Arc<dyn Schedule>,
        frames: FrameStack,
    ) -> Box<Task> {
        Box::new(Task {
            shared,
            sched,
            frames,
            wait: Wait::Start,
            chans: ChanCache::default(),
            epoch: 0,
            location: None,
            restored_location: None,
            detached: false,
        })
    }

    /// The request in flight, if any.
    pub(crate) fn pending(&self) -> Option<&RequestKind> {
        match &self.wait {
            Wait::Pending(r) => Some(r),
            _ => None,
        }
    }

    /// The request in flight, mutably.
    pub(crate) fn pending_mut(&mut self) -> Option<&mut RequestKind> {
        match &mut self.wait {
            Wait::Pending(r) => Some(r),
            _ => None,
        }
    }

    /// Takes the request in flight out (the task then waits for nothing).
    pub(crate) fn take_pending(&mut self) -> Option<RequestKind> {
        match std::mem::replace(&mut self.wait, Wait::Start) {
            Wait::Pending(r) => Some(r),
            other => {
                self.wait = other;
                None
            }
        }
    }

    /// Takes the value out of a pending `Send` (a receiver is taking it, or the channel closed).
    pub(crate) fn take_send_value(&mut self) -> Option<Value> {
        match self.pending_mut() {
            Some(RequestKind::Send { value, .. }) => value.take(),
            _ => None,
        }
    }

    /// Sets where the task stands (a restored task's request or response).
    pub(crate) fn set_wait(&mut self, wait: Wait) {
        self.wait = wait;
    }

    /// Suspends the task on `request`.
    pub(crate) fn set_pending(&mut self, request: RequestKind) {
        self.wait = Wait::Pending(request);
    }

    /// The response to resume with, if it has arrived.
    pub(crate) fn response(&self) -> Option<&Response> {
        match &self.wait {
            Wait::Ready(r) => Some(r),
            _ => None,
        }
    }

    /// Completes the request in flight with `response` (without scheduling the task). A
    /// channel request's reference goes to the task's [`ChanCache`] for its next request.
    #[inline]
    pub(crate) fn respond(&mut self, response: Response) {
        match std::mem::replace(&mut self.wait, Wait::Ready(response)) {
            Wait::Pending(RequestKind::Recv { chan } | RequestKind::Send { chan, .. }) => {
                self.chans.put(chan);
            }
            Wait::Start => {}
            other => drop(other),
        }
    }

    /// Takes the response to resume with.
    pub(crate) fn take_response(&mut self) -> Option<Response> {
        match std::mem::replace(&mut self.wait, Wait::Start) {
            Wait::Ready(r) => Some(r),
            other => {
                self.wait = other;
                None
            }
        }
    }

    /// Hands the task to its executor's run queue.
    #[inline]
    pub(crate) fn schedule(self: Box<Self>) {
        if let Err(task) = crate::executor::push_local(self) {
            let sched = Arc::clone(&task.sched);
            sched.schedule(task);
        }
    }

    /// Withdraws this task's entry from its executor's timer (it was frozen while asleep).
    pub(crate) fn sched_timer_withdraw(&self) {
        self.sched.withdraw_timer(&self.shared);
    }

    /// Ends the task with `outcome`: records it for the joiner, then drops the task.
    #[expect(clippy::boxed_local, reason = "consumes the task: it is dropped here")]
    pub(crate) fn finish(mut self: Box<Self>, outcome: JoinOutcome) {
        self.shared.finish(outcome);
        self.detached = true;
    }

    /// Drops a task that has been handed off whole (frozen into a snapshot): not a cancel.
    #[expect(clippy::boxed_local, reason = "consumes the task: it is dropped here")]
    pub(crate) fn discard(mut self: Box<Self>) {
        self.detached = true;
    }

    /// The fingerprint of the task's output type (recorded in its snapshots): its root
    /// frame's, from the registry of machine types (0 for an unregistered machine, which no
    /// node could restore anyway).
    pub(crate) fn output_type(&self) -> u64 {
        self.frames
            .first()
            .and_then(|f| super::MachineType::find(f.type_key()))
            .map_or(0, |t| t.output_type())
    }

    /// Where the task last suspended, here or before it was restored.
    pub(crate) fn suspension_point(&self) -> Option<super::SourceLocation> {
        self.location
            .map(Into::into)
            .or_else(|| self.restored_location.as_deref().cloned())
    }

    /// Completes the pending request with `response` and schedules the task.
    #[inline]
    pub(crate) fn complete(mut self: Box<Self>, response: Response) {
        self.respond(response);
        self.schedule();
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if !self.detached {
            self.shared.finish(JoinOutcome::Cancelled);
        }
    }
}

impl TaskShared {
    pub(crate) fn new(id: TaskId) -> Arc<TaskShared> {
        Arc::new(TaskShared {
            id,
            slot: UnsafeCell::new(None),
            busy: AtomicBool::new(false),
            freeze: AtomicU32::new(0),
            cell: SpinLock::new(CellState::default()),
            join: Mutex::new(JoinState::default()),
            published: AtomicBool::new(false),
        })
    }

    /// Parks `task` in its cell and returns the reference a wait queue keeps.
    ///
    /// Call with the wait site's lock held, so that no matcher can look for the task between
    /// the site's decision to park it and the task reaching the cell.
    #[inline]
    pub(crate) fn park(task: Box<Task>) -> Arc<TaskShared> {
        let shared = Arc::clone(&task.shared);
        Self::park_in_channel(task);
        shared
    }

    /// Parks `task` in its cell and returns its address, moving no reference count: what a
    /// channel wait queue keeps (module docs, "Channel wait queues").
    ///
    /// Call with the channel's lock held, like [`park`](Self::park).
    #[inline]
    pub(crate) fn park_in_channel(task: Box<Task>) -> NonNull<TaskShared> {
        let ptr = NonNull::from(&*task.shared);
        // SAFETY: `task` holds a count on its `TaskShared`. It stays alive while this function
        // uses it: the task is in the slot from the `put` on, and a freezer that takes it out
        // first waits for `busy` to go down (fast path) or for the cell's lock (slow path); after
        // the lock, only the waker taken out under it is used.
        let shared = unsafe { ptr.as_ref() };
        if shared.site_enter() {
            // SAFETY: the site side owns the slot between `site_enter` and `site_exit`.
            unsafe { shared.put(task) };
            shared.site_exit();
            return ptr;
        }
        let mut cell = shared.cell.lock();
        // SAFETY: the cell's lock is held and a freezer is at work, so every access to the slot
        // is made under that lock.
        unsafe { shared.put(task) };
        let freezer = cell.freezer.take();
        drop(cell);
        if let Some(w) = freezer {
            w.wake();
        }
        ptr
    }

    /// Takes the parked task out of its slot, if it is there. Site side: call it under the lock
    /// of the site the task was parked at.
    #[inline]
    pub(crate) fn unpark(&self) -> Option<Box<Task>> {
        if self.site_enter() {
            // SAFETY: the site side owns the slot between `site_enter` and `site_exit`.
            let task = unsafe { self.take() };
            self.site_exit();
            return task;
        }
        let _cell = self.cell.lock();
        // SAFETY: under the cell's lock while a freezer is at work (see `park_in_channel`).
        unsafe { self.take() }
    }

    /// Starts a site-side access to the slot: true when no freezer is at work, and the access
    /// may go without the lock (then end it with [`site_exit`](Self::site_exit)).
    #[inline(always)]
    fn site_enter(&self) -> bool {
        self.busy.store(true, Ordering::Relaxed);
        asym::light();
        if self.freeze.load(Ordering::Acquire) == 0 {
            return true;
        }
        self.busy.store(false, Ordering::Release);
        false
    }

    /// Ends a lock-free site-side access: publishes it to a freezer waiting in
    /// [`request_freeze`](Self::request_freeze).
    #[inline(always)]
    fn site_exit(&self) {
        self.busy.store(false, Ordering::Release);
    }

    /// Puts `task` into the slot.
    ///
    /// # Safety
    /// The caller has exclusive access to the slot: it is between `site_enter` (true) and
    /// `site_exit`, or holds the cell's lock while the freeze count is not 0.
    #[inline(always)]
    unsafe fn put(&self, task: Box<Task>) {
        // SAFETY: exclusive access, by the caller's contract.
        self.slot.with_mut(|slot| unsafe { *slot = Some(task) });
    }

    /// Takes the task out of the slot.
    ///
    /// # Safety
    /// As for [`put`](Self::put).
    #[inline(always)]
    unsafe fn take(&self) -> Option<Box<Task>> {
        // SAFETY: exclusive access, by the caller's contract.
        self.slot.with_mut(|slot| unsafe { (*slot).take() })
    }

    /// Whether a freezer wants this task; checked before every resume.
    #[inline]
    pub(crate) fn freeze_requested(&self) -> bool {
        self.freeze.load(Ordering::Acquire) != 0
    }

    /// Asks every worker to stop resuming the task and hand it to the cell, and moves every
    /// access to the slot under the cell's lock (module docs, "Two sides"). Pair with one
    /// [`clear_freeze`](Self::clear_freeze) unless the task leaves for good.
    pub(crate) fn request_freeze(&self) {
        self.freeze.fetch_add(1, Ordering::SeqCst);
        asym::heavy();
        crate::spin::wait_while(|| self.busy.load(Ordering::Acquire));
    }

    /// Withdraws a freeze request (after a failed freeze or on restore).
    pub(crate) fn clear_freeze(&self) {
        let before = self.freeze.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(before > 0, "clear_freeze without request_freeze");
    }

    /// A worker found the freeze flag up: puts the (runnable) task in the cell for the freezer.
    pub(crate) fn hand_over(task: Box<Task>) {
        drop(TaskShared::park(task));
    }

    /// Polls for the task to reach the cell after [`request_freeze`](Self::request_freeze).
    /// `Ready(None)` means the task finished first.
    pub(crate) fn poll_freeze(&self, cx: &mut Context<'_>) -> Poll<Option<Box<Task>>> {
        let mut cell = self.cell.lock();
        // SAFETY: the freeze count is not 0 (this freezer holds a unit) and the cell's lock is
        // held: the slow path's exclusive access.
        if let Some(task) = unsafe { self.take() } {
            if !matches!(task.pending(), Some(RequestKind::Remote { .. })) {
                return Poll::Ready(Some(task));
            }
            // A remote call cannot be withdrawn (the owner may have acted on it): leave the
            // task to its reply, which completes it here under the freeze (`hand_over`).
            // SAFETY: as for the `take` above.
            unsafe { self.put(task) };
        }
        if cell.finished {
            return Poll::Ready(None);
        }
        cell.freezer = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Re-opens the cell of a task being restored in place (a failed or in-process move).
    ///
    /// A waker left by another freezer stays: that freezer still waits for the task.
    pub(crate) fn reopen(&self) {
        self.cell.lock().finished = false;
        self.clear_freeze();
    }

    /// Records how the task ended (the first outcome wins) and wakes the joiner and any freezer.
    pub(crate) fn finish(&self, outcome: JoinOutcome) {
        let mut join = self.join.lock();
        if !join.done {
            join.done = true;
            let joiner = join.joiner.take().and_then(|j| j.unpark());
            let waker = join.waker.take();
            // No joiner, or it was frozen meanwhile: keep the outcome for whoever joins.
            let deliver = match joiner {
                Some(task) => Some((task, outcome)),
                None => {
                    join.outcome = Some(outcome);
                    None
                }
            };
            drop(join);
            if let Some((task, outcome)) = deliver {
                task.complete(Response(ResponseKind::Joined(outcome)));
                self.outcome_taken();
            }
            if let Some(w) = waker {
                w.wake();
            }
        } else {
            drop(join);
        }
        let mut cell = self.cell.lock();
        cell.finished = true;
        let freezer = cell.freezer.take();
        drop(cell);
        if let Some(w) = freezer {
            w.wake();
        }
    }

    /// Marks the task as published (see `handle::publish`); returns whether it already was.
    pub(crate) fn mark_published(&self) -> bool {
        self.published.swap(true, Ordering::SeqCst)
    }

    /// The outcome has been handed to its joiner: nobody needs to find the task any more.
    fn outcome_taken(&self) {
        if self.published.swap(false, Ordering::SeqCst) {
            crate::handle::unpublish(self.id);
        }
    }

    /// Polls for the task's outcome.
    pub(crate) fn poll_join(&self, cx: &mut Context<'_>) -> Poll<JoinOutcome> {
        let mut join = self.join.lock();
        match join.outcome.take() {
            Some(outcome) => {
                drop(join);
                self.outcome_taken();
                Poll::Ready(outcome)
            }
            None => {
                join.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Performs a `Join` request of `joiner` on this task: completes it at once when the outcome
    /// is known (returning the joiner), or parks it, holding the request, until
    /// [`finish`](Self::finish).
    pub(crate) fn join_task(self: Arc<Self>, mut joiner: Box<Task>) -> Option<Box<Task>> {
        let mut join = self.join.lock();
        match join.outcome.take() {
            Some(outcome) => {
                drop(join);
                self.outcome_taken();
                joiner.respond(Response(ResponseKind::Joined(outcome)));
                Some(joiner)
            }
            None if join.done => {
                joiner.respond(Response(ResponseKind::Joined(JoinOutcome::Cancelled)));
                Some(joiner)
            }
            None => {
                joiner.set_pending(RequestKind::Join {
                    task: Arc::clone(&self),
                });
                join.joiner = Some(TaskShared::park(joiner));
                None
            }
        }
    }

    /// Removes a frozen joiner's registration (see `freeze`).
    pub(crate) fn withdraw_joiner(&self, joiner: &Arc<TaskShared>) {
        let mut join = self.join.lock();
        if join.joiner.as_ref().is_some_and(|j| Arc::ptr_eq(j, joiner)) {
            join.joiner = None;
        }
    }

    /// Whether the task has ended (finished, failed or been cancelled).
    pub(crate) fn is_finished(&self) -> bool {
        self.join.lock().done
    }
}

#[cfg(all(test, not(tern_loom)))]
mod tests {
    use super::*;

    /// An idle task costs a `Task`, a `TaskShared` and its frames: keep the first two within
    /// budget (bytes per idle task is one of the benchmarked figures).
    #[test]
    fn idle_task_footprint_stays_within_budget() {
        let (task, shared) = (
            std::mem::size_of::<Task>(),
            std::mem::size_of::<TaskShared>(),
        );
        assert!(task <= 152, "Task grew to {task} bytes");
        assert!(shared <= 128, "TaskShared grew to {shared} bytes");
        assert!(std::mem::size_of::<Value>() <= 24);
    }

    /// A scheduler that is never used: the tasks below are only parked and taken.
    struct NoSched;

    impl Schedule for NoSched {
        fn schedule(&self, _task: Box<Task>) {
            unreachable!("nothing is scheduled in this test")
        }
        fn node_name(&self) -> &str {
            "test"
        }
        fn withdraw_timer(&self, _task: &Arc<TaskShared>) {}
    }

    /// The site side's lock-free path against freezers on real threads, with the real fences
    /// (loom checks the protocol with `SeqCst` fences standing in for the asymmetric pair; this
    /// checks the pair itself): a site thread keeps taking the task out of its slot and parking
    /// it again, a freezer thread keeps freezing it and handing it back. `holders` counts the
    /// threads holding the task and must never exceed one.
    #[test]
    fn site_side_and_freezer_never_hold_the_task_at_once() {
        use std::sync::atomic::AtomicUsize;
        const FREEZES: usize = 2_000;
        crate::asym::init();
        let shared = TaskShared::new(TaskId::next(7));
        let sched: Arc<dyn Schedule> = Arc::new(NoSched);
        let task = Task::new(Arc::clone(&shared), sched, FrameStack::default());
        TaskShared::park(task);
        let holders = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let hold = |holders: &AtomicUsize| {
            assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
            std::hint::black_box(());
            holders.fetch_sub(1, Ordering::SeqCst);
        };
        let site = {
            let (shared, holders) = (Arc::clone(&shared), Arc::clone(&holders));
            let (taken, done) = (Arc::clone(&taken), Arc::clone(&done));
            std::thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    if let Some(task) = shared.unpark() {
                        hold(&holders);
                        TaskShared::park_in_channel(task);
                        taken.fetch_add(1, Ordering::Release);
                    }
                }
            })
        };
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..FREEZES {
            // Let the site side have the task at least once between two freezes, so that both
            // its paths (with and without the lock) run against this thread.
            let seen = taken.load(Ordering::Acquire);
            crate::spin::wait_while(|| taken.load(Ordering::Acquire) == seen);
            shared.request_freeze();
            let task = loop {
                match shared.poll_freeze(&mut cx) {
                    Poll::Ready(Some(task)) => break task,
                    Poll::Ready(None) => unreachable!("the task never finishes"),
                    Poll::Pending => std::thread::yield_now(),
                }
            };
            hold(&holders);
            TaskShared::hand_over(task);
            shared.clear_freeze();
        }
        done.store(true, Ordering::Release);
        site.join().expect("site thread");
        let task = shared.unpark().expect("the task ends parked");
        task.discard();
    }
}
