//! loom models of `executor::park`: the announce / re-check / park protocol against a waker
//! that publishes work then wakes one sleeper, the remembered permit, and shutdown.
//! Asserted: no lost wake-up (loom reports a worker parked forever as a deadlock).

use loom::thread::{self, JoinHandle};

use crate::executor::park::{Idle, Parker};
use crate::executor::queue::Shared;
use crate::sync::{Arc, AtomicBool, Ordering};

/// The parts of `Executor` the protocol touches, with one worker.
#[derive(Default)]
struct Pool {
    injector: Shared<u32>,
    idle: Idle,
    parker: Parker,
    shutdown: AtomicBool,
}

const WORKER: usize = 0;

/// The protocol is store buffering on two `SeqCst` atomics (`Idle::idle`, the queue's length
/// hint): the single total order of `SeqCst` accesses forbids "both re-checks read stale", but
/// loom models `SeqCst` accesses as `AcqRel` (its README, "Unsupported features") and reports
/// that outcome as a lost wake-up. This fence, placed between each side's `SeqCst` store and
/// its `SeqCst` load, restores the order the real code relies on; without it the model fails.
fn sc_order() {
    loom::sync::atomic::fence(Ordering::SeqCst);
}

impl Pool {
    /// `Executor::inject`: push (handed back once the injector is closed), then
    /// `Executor::wake_one`. Returns whether the item was queued.
    fn inject(&self, item: u32) -> bool {
        if self.injector.push(item).is_err() {
            return false;
        }
        sc_order();
        if let Some(i) = self.idle.take_one() {
            assert_eq!(i, WORKER);
            self.parker.unpark();
        }
        true
    }

    /// `Executor::has_work` for the injector (the worker's re-check after announcing).
    fn has_work(&self) -> bool {
        !self.injector.is_empty_hint()
    }

    /// `Executor::park`.
    fn park(&self) {
        self.idle.announce(WORKER);
        sc_order();
        if self.has_work() || self.shutdown.load(Ordering::SeqCst) {
            if !self.idle.withdraw(WORKER) {
                // A waker took us off the list and left a permit: consume it.
                self.parker.park();
            }
            return;
        }
        self.parker.park();
        self.idle.withdraw(WORKER);
    }

    /// `Executor::worker_main` until it has taken `want` items or sees shutdown.
    fn worker(&self, want: usize) -> Vec<u32> {
        let mut got = Vec::new();
        while got.len() < want {
            if let Some(item) = self.injector.pop() {
                got.push(item);
                continue;
            }
            if self.shutdown.load(Ordering::SeqCst) {
                break;
            }
            self.park();
        }
        got
    }

    /// `Executor::stop`'s first steps: set the flag, then take every sleeper off the list and
    /// unpark it. Returns the sleepers it took.
    fn stop_and_wake(&self) -> Vec<usize> {
        self.shutdown.store(true, Ordering::SeqCst);
        let sleepers = self.idle.take_all();
        for _ in &sleepers {
            self.parker.unpark();
        }
        sleepers
    }
}

/// A fresh pool with a loom thread running `f` on it (the `Arc` is cloned before the spawn).
fn pool_with<T: 'static>(f: impl FnOnce(&Pool) -> T + 'static) -> (Arc<Pool>, JoinHandle<T>) {
    let pool = Arc::new(Pool::default());
    let p = Arc::clone(&pool);
    (pool, thread::spawn(move || f(&p)))
}

#[test]
fn inject_wakes_a_parking_worker() {
    loom::model(|| {
        let (pool, worker) = pool_with(|p| p.worker(1));
        pool.inject(7);
        assert_eq!(worker.join().unwrap(), [7], "the worker sees the work");
        assert_eq!(pool.idle.count(), 0, "no stale sleeper");
    });
}

#[test]
fn unpark_before_park_is_remembered() {
    loom::model(|| {
        let parker = Arc::new(Parker::default());
        // Deterministically first: the permit is kept for the next park.
        parker.unpark();
        parker.park();
        // Either order across threads.
        let p = Arc::clone(&parker);
        let waker = thread::spawn(move || p.unpark());
        parker.park();
        waker.join().unwrap();
    });
}

#[test]
fn shutdown_wakes_a_parked_worker() {
    loom::model(|| {
        let (pool, worker) = pool_with(|p| p.worker(1));
        // `Executor::stop`.
        for i in pool.stop_and_wake() {
            assert_eq!(i, WORKER);
        }
        pool.parker.unpark();
        assert!(worker.join().unwrap().is_empty());
    });
}

/// Regression (found by this model): `inject` racing `Executor::stop` could queue a task after
/// stop's drain, where it was never run nor dropped. The injector now closes under its lock.
#[test]
fn inject_racing_stop_leaves_nothing_queued() {
    loom::model(|| {
        let (pool, injector) = pool_with(|p| p.inject(7));
        // `Executor::stop` with its workers gone: flag, wake sleepers, close and drain.
        pool.stop_and_wake();
        let drained = pool.injector.close_and_drain();
        let queued = injector.join().unwrap();
        // A task left behind is never run nor dropped: it holds the executor that holds it.
        assert!(pool.injector.is_empty_hint(), "queued after stop's drain");
        assert_eq!(
            queued,
            drained == [7],
            "the item is drained if and only if it was queued"
        );
    });
}
