//! Parking idle workers and waking them without losing a wake-up.
//!
//! Protocol (modelled in `tests/loom_park.rs`):
//!
//! - A worker that finds no work *announces* itself in `sleepers` (and `idle` mirrors the
//!   number of sleepers), then re-checks every queue, then parks on its own [`Parker`].
//! - Whoever makes work available (pushes to the injector or a stealable queue) first
//!   publishes the work, then calls [`Idle::wake_one`], which reads `idle` and, when it is not
//!   zero, pops a sleeper and unparks it.
//!
//! The re-check after announcing is what prevents a lost wake-up: either the waker's read of
//! `idle` sees the announcement (and wakes someone), or the worker's re-check sees the work.
//! Both sides put a `SeqCst` fence between their store and their load (the textbook
//! store-buffering fix), which also lets loom, which treats `SeqCst` accesses as acquire/release,
//! check the protocol.
//! A [`Parker`] remembers an unpark that arrives before its park.

use crate::sync::{fence, AtomicUsize, Condvar, Mutex, Ordering};

/// A one-permit parking spot for one thread.
#[derive(Debug, Default)]
pub(crate) struct Parker {
    notified: Mutex<bool>,
    cv: Condvar,
}

impl Parker {
    /// Blocks until unparked (returns at once if an unpark is pending), consuming the permit.
    pub(crate) fn park(&self) {
        let mut n = self.notified.lock();
        while !*n {
            n = self.cv.wait(n);
        }
        *n = false;
    }

    /// Gives the permit and wakes the parked thread, if any.
    pub(crate) fn unpark(&self) {
        *self.notified.lock() = true;
        self.cv.notify_one();
    }
}

/// The set of parked workers.
#[derive(Debug, Default)]
pub(crate) struct Idle {
    sleepers: Mutex<Vec<usize>>,
    idle: AtomicUsize,
}

impl Idle {
    /// Announces worker `index` as about to park.
    pub(crate) fn announce(&self, index: usize) {
        let mut s = self.sleepers.lock();
        s.push(index);
        self.idle.store(s.len(), Ordering::SeqCst);
        drop(s);
        // Orders the announcement before the caller's re-check of the queues (store → load).
        fence(Ordering::SeqCst);
    }

    /// Withdraws an announcement; `false` if a waker already took this worker off the list
    /// (its parker then holds a permit).
    pub(crate) fn withdraw(&self, index: usize) -> bool {
        let mut s = self.sleepers.lock();
        let found = match s.iter().position(|&i| i == index) {
            Some(pos) => {
                s.swap_remove(pos);
                true
            }
            None => false,
        };
        self.idle.store(s.len(), Ordering::SeqCst);
        found
    }

    /// The number of announced sleepers (a cheap read for the hot path).
    pub(crate) fn count(&self) -> usize {
        self.idle.load(Ordering::SeqCst)
    }

    /// Takes one sleeper off the list; the caller must unpark it.
    pub(crate) fn take_one(&self) -> Option<usize> {
        // Orders the caller's publication of work before this read of `idle` (store → load).
        fence(Ordering::SeqCst);
        if self.count() == 0 {
            return None;
        }
        let mut s = self.sleepers.lock();
        let i = s.pop();
        self.idle.store(s.len(), Ordering::SeqCst);
        i
    }

    /// Takes every sleeper off the list.
    pub(crate) fn take_all(&self) -> Vec<usize> {
        let mut s = self.sleepers.lock();
        self.idle.store(0, Ordering::SeqCst);
        std::mem::take(&mut *s)
    }
}
