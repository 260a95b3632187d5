//! loom models of `executor::park`: the announce / re-check / park protocol against a waker
//! that publishes work then wakes one sleeper, the remembered permit, and shutdown.
//! Asserted: no lost wake-up (loom reports a worker parked forever as a deadlock).
//!
//! The protocol is a store-buffering pattern on two `SeqCst` atomics (`Idle::idle` and the
//! queue's length hint). loom models `SeqCst` accesses as `AcqRel` (loom's README, "Unsupported
//! features"), so it would report the forbidden outcome "both re-checks read stale" as a lost
//! wake-up. `sc_order` puts a `SeqCst` fence where the real code relies on the single total
//! order of its `SeqCst` accesses; without it this model deadlocks under loom.

use loom::thread;

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

/// Stands for the `SeqCst` total order between a `SeqCst` store and the following `SeqCst`
/// load of another location in the same thread, which loom does not model (see above).
fn sc_order() {
    loom::sync::atomic::fence(Ordering::SeqCst);
}

impl Pool {
    /// `Executor::inject` then `Executor::wake_one`.
    fn inject(&self, item: u32) {
        self.injector.push(item);
        sc_order();
        if let Some(i) = self.idle.take_one() {
            assert_eq!(i, WORKER);
            self.parker.unpark();
        }
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
}

#[test]
fn inject_wakes_a_parking_worker() {
    loom::model(|| {
        let pool = Arc::new(Pool::default());
        let p = Arc::clone(&pool);
        let worker = thread::spawn(move || p.worker(1));
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
        let pool = Arc::new(Pool::default());
        let p = Arc::clone(&pool);
        let worker = thread::spawn(move || p.worker(1));
        // `Executor::stop`.
        pool.shutdown.store(true, Ordering::SeqCst);
        for i in pool.idle.take_all() {
            assert_eq!(i, WORKER);
            pool.parker.unpark();
        }
        pool.parker.unpark();
        assert!(worker.join().unwrap().is_empty());
    });
}
