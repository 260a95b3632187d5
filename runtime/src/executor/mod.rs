//! The executor: worker threads that resume tasks and perform their requests.
//!
//! # Design
//!
//! - One OS thread per worker (default: the number of available cores). Each owns a private
//!   run queue ([`queue`]) that it pushes to and pops from without atomics; channel operations
//!   performed on a worker schedule the tasks they wake onto that worker's private queue, so a
//!   hand-off between two tasks stays on one core.
//! - Tasks woken from other threads go through the injector; idle workers park ([`park`]) and
//!   are woken when work is injected or shared. A busy worker shares half of its queue when
//!   it sees idle workers; idle workers steal half of a shared queue.
//! - Running a task means: resume its top frame with its response; perform the request it
//!   suspends with; repeat while the request completes at once (up to a budget, then the task
//!   goes to the back of the queue). A request that must wait parks the task in its cell.
//! - Before each resume the worker checks the task's freeze flag; a flagged task goes to its
//!   cell for the freezer instead of running.
//! - A panic inside a frame is caught and becomes the task's [`TaskReport`].

pub(crate) mod park;
pub(crate) mod queue;
pub(crate) mod timer;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;

use crate::channel::ChanCore;
use crate::sync::{Arc, AtomicBool, Mutex, Ordering};
use crate::task::{
    Cx, FrameReport, FrameStep, JoinOutcome, PanicReport, RequestKind, Response, ResponseKind,
    Task, TaskReport, TaskShared,
};
use park::{Idle, Parker};
use queue::Shared;
use timer::Timer;

/// Where woken tasks go: implemented by the executor (and by fakes in the loom models).
pub(crate) trait Schedule: Send + Sync {
    /// Makes `task` runnable.
    fn schedule(&self, task: Box<Task>);
    /// The id of the node this scheduler belongs to (for reports).
    fn node_name(&self) -> &str;
    /// Removes a frozen task's entry from the timer, if it sleeps there.
    fn withdraw_timer(&self, task: &Arc<TaskShared>);
}

/// How many consecutive steps a task may take before it goes to the back of the queue.
const BUDGET: u32 = 128;
/// Every this many tasks, a worker looks at the injector before its own queue (fairness).
const INJECTOR_INTERVAL: u32 = 61;
/// The most tasks taken from a shared queue at once.
const STEAL_MAX: usize = 256;

/// The state of one executor shared by its workers and by whoever schedules onto it.
pub(crate) struct Executor {
    node: Arc<str>,
    injector: Shared<Box<Task>>,
    stealable: Box<[Shared<Box<Task>>]>,
    parkers: Box<[Parker]>,
    idle: Idle,
    pub(crate) timer: Timer,
    shutdown: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Keep the running frame's state text as of each resume, for post-mortems
    /// (`NodeBuilder::capture_locals`).
    capture_locals: AtomicBool,
}

struct Local {
    /// The address of the executor this thread works for.
    exec: usize,
    queue: VecDeque<Box<Task>>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Pushes `task` onto the current thread's private run queue when this thread is a worker of
/// the executor the task belongs to; otherwise hands the task back.
///
/// The executor is identified by its address, which cannot be reused while `task` (which holds
/// a reference to it) is alive.
#[inline]
pub(crate) fn push_local(task: Box<Task>) -> Result<(), Box<Task>> {
    let exec = Arc::as_ptr(&task.sched) as *const () as usize;
    LOCAL.with(|l| match l.try_borrow_mut() {
        Ok(mut l) => match l.as_mut() {
            Some(local) if local.exec == exec => {
                local.queue.push_back(task);
                Ok(())
            }
            _ => Err(task),
        },
        Err(_) => Err(task),
    })
}

impl Schedule for Executor {
    #[inline]
    fn schedule(&self, task: Box<Task>) {
        if let Err(task) = push_local(task) {
            self.inject(task);
        }
    }

    fn node_name(&self) -> &str {
        &self.node
    }

    fn withdraw_timer(&self, task: &Arc<TaskShared>) {
        self.timer.withdraw(task);
    }
}

impl Executor {
    /// Keeps (or stops keeping) the running frame's state text as of each resume, so that a
    /// panic's report shows the locals the frame resumed with.
    pub(crate) fn set_capture_locals(&self, on: bool) {
        self.capture_locals.store(on, Ordering::Relaxed);
    }

    /// Creates the executor and starts `workers` threads (and the timer thread).
    /// `on_start` runs first on every thread (it sets the thread's current node).
    pub(crate) fn start(
        node: Arc<str>,
        workers: usize,
        on_start: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Arc<Executor>> {
        let workers = workers.max(1);
        crate::asym::init();
        let exec = Arc::new(Executor {
            node: Arc::clone(&node),
            injector: Shared::default(),
            stealable: (0..workers).map(|_| Shared::default()).collect(),
            parkers: (0..workers).map(|_| Parker::default()).collect(),
            idle: Idle::default(),
            timer: Timer::default(),
            shutdown: AtomicBool::new(false),
            capture_locals: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        });
        let mut threads = Vec::with_capacity(workers + 1);
        for index in 0..workers {
            let e = Arc::clone(&exec);
            let on_start = Arc::clone(&on_start);
            let spawned = std::thread::Builder::new()
                .name(format!("tern-{node}-w{index}"))
                .spawn(move || {
                    on_start();
                    e.worker_main(index);
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(err) => {
                    exec.threads.lock().extend(threads);
                    exec.stop();
                    return Err(err);
                }
            }
        }
        let e = Arc::clone(&exec);
        let timer = std::thread::Builder::new()
            .name(format!("tern-{node}-timer"))
            .spawn(move || e.timer.run());
        match timer {
            Ok(t) => threads.push(t),
            Err(err) => {
                exec.threads.lock().extend(threads);
                exec.stop();
                return Err(err);
            }
        }
        exec.threads.lock().extend(threads);
        Ok(exec)
    }

    /// Number of worker threads.
    pub(crate) fn workers(&self) -> usize {
        self.parkers.len()
    }

    /// Schedules `task` from outside this executor's workers.
    ///
    /// After [`stop`](Self::stop) the task is dropped (its joiner sees a cancel): the injector is
    /// closed under its lock, so a task can never be queued behind the final drain.
    pub(crate) fn inject(&self, task: Box<Task>) {
        match self.injector.push(task) {
            Ok(()) => self.wake_one(),
            Err(task) => drop(task),
        }
    }

    fn wake_one(&self) {
        if let Some(i) = self.idle.take_one() {
            self.parkers[i].unpark();
        }
    }

    /// Stops the workers and the timer, waits for their threads, and returns every task that
    /// was still queued or asleep (the caller drops them, cancelling their joins).
    #[expect(clippy::vec_box, reason = "tasks move between owners as boxes")]
    pub(crate) fn stop(&self) -> Vec<Box<Task>> {
        self.shutdown.store(true, Ordering::SeqCst);
        let mut left = self.timer.shutdown();
        // Every worker, parked or about to park, gets a permit and then sees the flag.
        drop(self.idle.take_all());
        for p in self.parkers.iter() {
            p.unpark();
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                // A worker that panicked outside a task has nothing left to report.
                t.join().ok();
            }
        }
        left.extend(self.injector.close_and_drain());
        for s in self.stealable.iter() {
            left.extend(s.close_and_drain());
        }
        left
    }

    // ---- the worker loop ---------------------------------------------------------------------

    fn worker_main(self: &Arc<Self>, index: usize) {
        crate::bias::become_worker();
        LOCAL.with(|l| {
            *l.borrow_mut() = Some(Local {
                exec: Arc::as_ptr(self) as *const () as usize,
                queue: VecDeque::new(),
            });
        });
        let mut tick: u32 = 0;
        loop {
            tick = tick.wrapping_add(1);
            match self.next_task(index, tick) {
                Some(task) => {
                    self.run_task(task);
                    self.maybe_share(index);
                }
                None => {
                    if self.shutdown.load(Ordering::SeqCst) {
                        break;
                    }
                    self.park(index);
                }
            }
        }
        // Tasks still in the private queue are cancelled with the node.
        let left = LOCAL.with(|l| l.borrow_mut().take().map(|l| l.queue).unwrap_or_default());
        drop(left);
    }

    fn pop_local() -> Option<Box<Task>> {
        LOCAL.with(|l| l.borrow_mut().as_mut().and_then(|l| l.queue.pop_front()))
    }

    fn next_task(&self, index: usize, tick: u32) -> Option<Box<Task>> {
        if self.shutdown.load(Ordering::Relaxed) {
            return None;
        }
        if tick % INJECTOR_INTERVAL == 0 {
            if let Some(t) = self.injector.pop() {
                return Some(t);
            }
        }
        if let Some(t) = Self::pop_local() {
            return Some(t);
        }
        // Refill the private queue: injector, own shared queue, then the others'.
        LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            let local = l.as_mut()?;
            let q = &mut local.queue;
            if self.injector.steal_half(q, STEAL_MAX) == 0
                && self.stealable[index].steal_half(q, STEAL_MAX) == 0
            {
                let n = self.stealable.len();
                for k in 1..n {
                    if self.stealable[(index + k) % n].steal_half(q, STEAL_MAX) > 0 {
                        break;
                    }
                }
            }
            q.pop_front()
        })
    }

    /// Shares half of the private queue when other workers are idle.
    #[inline]
    fn maybe_share(&self, index: usize) {
        if self.idle.count() == 0 {
            return;
        }
        let shared = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            let Some(local) = l.as_mut() else {
                return false;
            };
            let len = local.queue.len();
            if len < 2 {
                return false;
            }
            self.stealable[index].push_batch(local.queue.drain(len / 2..));
            true
        });
        if shared {
            self.wake_one();
        }
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty_hint()
            || self.stealable.iter().any(|s| !s.is_empty_hint())
            || LOCAL.with(|l| l.borrow().as_ref().is_some_and(|l| !l.queue.is_empty()))
    }

    fn park(&self, index: usize) {
        self.idle.announce(index);
        if self.has_work() || self.shutdown.load(Ordering::SeqCst) {
            if !self.idle.withdraw(index) {
                // A waker took us off the list and left a permit: consume it.
                self.parkers[index].park();
            }
            return;
        }
        self.parkers[index].park();
        // Woken by `wake_one` (which removed us) or by shutdown.
        self.idle.withdraw(index);
    }

    // ---- running a task ----------------------------------------------------------------------

    fn run_task(&self, mut task: Box<Task>) {
        let mut budget = BUDGET;
        loop {
            if task.shared.freeze_requested() {
                TaskShared::hand_over(task);
                return;
            }
            let response = task.take_response();
            let task_ref = &mut *task;
            let mut cx = Cx::new(response, &mut task_ref.chans);
            let Some(frame) = task_ref.frames.last_mut() else {
                // A task with no frames has nothing to run; treat as finished with ().
                task.finish(JoinOutcome::Output(crate::value::Value::Unit));
                return;
            };
            // A plain load (no locked instruction); the format only when asked for.
            let resumed_from = self
                .capture_locals
                .load(Ordering::Relaxed)
                .then(|| frame.debug_state());
            let step = catch_unwind(AssertUnwindSafe(|| frame.resume(&mut cx)));
            match step {
                Err(payload) => {
                    let report = report(&task, &*payload, self.node_name(), resumed_from);
                    tracing::debug!(task = %task.shared.id, "task panicked");
                    task.finish(JoinOutcome::Failed(Box::new(report)));
                    return;
                }
                Ok(FrameStep::Done(out)) => {
                    task.frames.pop();
                    if task.frames.is_empty() {
                        task.finish(JoinOutcome::Output(out));
                        return;
                    }
                    task.respond(Response(ResponseKind::Value(out)));
                }
                Ok(FrameStep::Suspend(req)) => {
                    task.location = Some(req.location);
                    match self.perform(task, req.kind) {
                        Some(t) => task = t,
                        None => return,
                    }
                }
            }
            budget -= 1;
            if budget == 0 {
                self.schedule(task);
                return;
            }
        }
    }

    /// Performs `request` for `task`. Returns the task when it can resume at once (its
    /// response set); otherwise the task is parked (holding the request) or queued.
    ///
    /// The request is moved, not stored and re-read: it goes into the task only when the task
    /// has to wait.
    #[inline]
    pub(crate) fn perform(&self, mut task: Box<Task>, request: RequestKind) -> Option<Box<Task>> {
        match request {
            RequestKind::Recv { chan } => ChanCore::recv_task(chan, task),
            RequestKind::Send { chan, value } => ChanCore::send_value(chan, task, value),
            RequestKind::Sleep { until } => {
                if until <= std::time::Instant::now() {
                    task.respond(Response(ResponseKind::Unit));
                    return Some(task);
                }
                task.set_pending(RequestKind::Sleep { until });
                self.timer.add(until, task);
                None
            }
            RequestKind::Yield => {
                task.respond(Response(ResponseKind::Unit));
                self.schedule(task);
                None
            }
            RequestKind::Call { frame } => {
                task.frames.push(frame);
                Some(task)
            }
            RequestKind::Join { task: joined } => joined.join_task(task),
            RequestKind::Immediate(response) => {
                task.respond(response);
                Some(task)
            }
            RequestKind::Move { to } => crate::handle::move_self(task, to),
            RequestKind::Remote { call } => crate::remote::perform(task, call),
        }
    }

    /// Makes a task runnable again from where it stands: performs the request it holds (which
    /// may park it) or queues it to resume with its response.
    pub(crate) fn resubmit(&self, mut task: Box<Task>) {
        let task = match task.take_pending() {
            Some(request) => self.perform(task, request),
            None => Some(task),
        };
        if let Some(task) = task {
            self.schedule(task);
        }
    }
}

/// The post-mortem of a task that panicked. `resumed_from` is the running frame's state text
/// as of its last resume, when the node keeps it: the frame's own state is gone by the time
/// it panics (its locals lived on the unwound stack).
fn report(
    task: &Task,
    payload: &(dyn std::any::Any + Send),
    node: &str,
    resumed_from: Option<String>,
) -> TaskReport {
    let last = task.frames.iter().count().saturating_sub(1);
    TaskReport {
        node: node.to_owned(),
        task: task.shared.id.to_string(),
        task_type: task
            .frames
            .first()
            .map(|f| f.type_key().to_owned())
            .unwrap_or_default(),
        suspension_point: task.suspension_point(),
        frames: task
            .frames
            .iter()
            .enumerate()
            .map(|(i, f)| FrameReport {
                task_type: f.type_key().to_owned(),
                state: match (&resumed_from, i == last) {
                    (Some(state), true) => format!(
                        "{state}\n(the state it resumed with: it panicked before its next suspension point)"
                    ),
                    _ => f.debug_state(),
                },
            })
            .collect(),
        panic: Some(PanicReport {
            message: crate::task::panic_message(payload),
            location: crate::task::take_panic_location(),
        }),
    }
}
