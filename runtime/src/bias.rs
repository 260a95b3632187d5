//! A lock biased towards one worker thread: the channel core's lock.
//!
//! Most channels are used by tasks of one worker only (a worker schedules the tasks a channel
//! operation wakes onto its own queue, so a pipeline settles on one core). For such a channel
//! an ordinary lock costs a locked instruction per operation for nothing. A [`BiasedLock`]
//! belongs to the first worker that takes it (one compare-and-swap, once), and that worker
//! then enters and leaves it with plain loads and stores. The first time any other thread —
//! another worker, or code outside the executor such as a `tokio` task awaiting a channel —
//! takes the lock, the bias is *revoked* for good and the lock behaves as a plain spin lock
//! from then on.
//!
//! # Protocol
//!
//! State: `owner` (0 = nobody yet, [`SHARED`] = revoked, otherwise the owner's worker token),
//! `busy` (the owner is inside without the spin lock), and the spin lock.
//!
//! - **Owner, fast path:** raise `busy`; [`asym::light`](crate::asym::light) (a compiler
//!   barrier); re-read `owner`. Still ours: enter, and leave by lowering `busy` (`Release`).
//!   Revoked meanwhile: lower `busy` and take the slow path.
//! - **Anyone else, slow path:** take the spin lock; if the bias is not yet revoked, revoke it:
//!   swap `owner` to [`SHARED`], and if there was an owner, run
//!   [`asym::heavy`](crate::asym::heavy) and wait until `busy` is down. Then enter.
//!
//! The pair of fences makes `busy`/`owner` a Dekker handshake (see `asym`): either the owner
//! sees [`SHARED`] and backs off to the spin lock, or the revoker sees `busy` up and waits for
//! the owner to leave — whose `Release` store then hands the revoker everything the owner did
//! inside. Revocation happens once per lock, under the spin lock, so a second slow-path thread
//! can only enter after the first has finished waiting for the owner. After revocation every
//! thread, the former owner included, uses the spin lock.
//!
//! A revocation costs a `membarrier` system call (microseconds), once per channel that is ever
//! shared; a channel is never re-biased.
//!
//! Like the spin lock it replaces, the lock is not re-entrant: the critical sections never
//! take the same channel's lock again.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};

use crate::asym;
use crate::spin::{SpinGuard, SpinLock};
use crate::sync::{AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// `owner` once the bias is revoked.
const SHARED: usize = usize::MAX;
/// `owner` before anyone took the lock.
const NOBODY: usize = 0;

#[cfg(not(tern_loom))]
std::thread_local! {
    static TOKEN: Cell<usize> = const { Cell::new(0) };
}

#[cfg(tern_loom)]
loom::thread_local! {
    static TOKEN: Cell<usize> = Cell::new(0);
}

/// Gives the current thread a worker token: from now on it can own biased locks. Called once
/// by every worker thread when it starts.
pub(crate) fn become_worker() {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    TOKEN.with(|t| {
        if t.get() == 0 {
            t.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        }
    });
}

#[inline(always)]
fn token() -> usize {
    TOKEN.with(Cell::get)
}

/// A lock that its owning worker takes without a locked instruction (see the module docs).
pub(crate) struct BiasedLock<T> {
    owner: AtomicUsize,
    busy: AtomicBool,
    lock: SpinLock<()>,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through a `BiasedGuard`, and guards exclude each other by the
// protocol of the module docs; a `T` may move between threads when it is `Send`.
unsafe impl<T: Send> Sync for BiasedLock<T> {}

/// Access to a [`BiasedLock`]'s value; leaves the lock on drop.
pub(crate) struct BiasedGuard<'a, T> {
    lock: &'a BiasedLock<T>,
    /// The spin lock's guard on the slow path; `None` on the owner's fast path.
    slow: Option<SpinGuard<'a, ()>>,
    #[cfg(tern_loom)]
    ptr: loom::cell::MutPtr<T>,
}

impl<T: Default> Default for BiasedLock<T> {
    fn default() -> Self {
        BiasedLock::new(T::default())
    }
}

impl<T> BiasedLock<T> {
    pub(crate) fn new(value: T) -> Self {
        BiasedLock {
            owner: AtomicUsize::new(NOBODY),
            busy: AtomicBool::new(false),
            lock: SpinLock::new(()),
            value: UnsafeCell::new(value),
        }
    }

    /// Enters the lock.
    #[inline]
    pub(crate) fn lock(&self) -> BiasedGuard<'_, T> {
        let me = token();
        if me != 0 {
            let owner = self.owner.load(Ordering::Relaxed);
            if (owner == me || (owner == NOBODY && self.claim(me))) && self.enter_fast(me) {
                return self.guard(None);
            }
        }
        self.lock_slow()
    }

    /// Tries to become the owner of a lock nobody has taken yet.
    #[cold]
    fn claim(&self, me: usize) -> bool {
        self.owner
            .compare_exchange(NOBODY, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// The owner's entry: true when the bias still holds (then `busy` is up).
    #[inline(always)]
    fn enter_fast(&self, me: usize) -> bool {
        self.busy.store(true, Ordering::Relaxed);
        asym::light();
        if self.owner.load(Ordering::Acquire) == me {
            return true;
        }
        self.busy.store(false, Ordering::Release);
        false
    }

    #[cold]
    fn lock_slow(&self) -> BiasedGuard<'_, T> {
        let slow = self.lock.lock();
        if self.owner.load(Ordering::Acquire) != SHARED {
            let previous = self.owner.swap(SHARED, Ordering::SeqCst);
            if previous != NOBODY && previous != SHARED {
                asym::heavy();
                crate::spin::wait_while(|| self.busy.load(Ordering::Acquire));
            }
        }
        self.guard(Some(slow))
    }

    #[inline(always)]
    fn guard<'a>(&'a self, slow: Option<SpinGuard<'a, ()>>) -> BiasedGuard<'a, T> {
        BiasedGuard {
            lock: self,
            slow,
            #[cfg(tern_loom)]
            ptr: self.value.get_mut(),
        }
    }

    /// Whether the bias has been revoked (for tests and the benches' explanations).
    #[cfg(test)]
    pub(crate) fn is_shared(&self) -> bool {
        self.owner.load(Ordering::Acquire) == SHARED
    }
}

impl<T> Drop for BiasedGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.slow.is_none() {
            self.lock.busy.store(false, Ordering::Release);
        }
        // A slow guard unlocks the spin lock when `slow` drops, after this.
    }
}

impl<T> Deref for BiasedGuard<'_, T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        #[cfg(not(tern_loom))]
        // SAFETY: the guard's holder is alone inside the lock (module docs).
        return self.lock.value.with_mut(|v| unsafe { &*v });
        #[cfg(tern_loom)]
        // SAFETY: as above; loom tracks the access for as long as the guard lives.
        return unsafe { self.ptr.deref() };
    }
}

impl<T> DerefMut for BiasedGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        #[cfg(not(tern_loom))]
        // SAFETY: the guard's holder is alone inside the lock (module docs).
        return self.lock.value.with_mut(|v| unsafe { &mut *v });
        #[cfg(tern_loom)]
        // SAFETY: as above.
        return unsafe { self.ptr.deref() };
    }
}

#[cfg(all(test, not(tern_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The owner increments without the spin lock while other threads (workers and not) come
    /// and revoke the bias: no increment is lost. The increments are split reads and writes,
    /// so two threads inside at once would lose some.
    #[test]
    fn owner_and_revokers_never_overlap() {
        const EACH: u64 = 200_000;
        crate::asym::init();
        let lock = Arc::new(BiasedLock::new(0u64));
        let bump = |lock: &BiasedLock<u64>| {
            let mut g = lock.lock();
            let v = *g;
            std::hint::black_box(&mut *g);
            *g = v + 1;
        };
        let progress = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let owner = {
            let (lock, progress) = (Arc::clone(&lock), Arc::clone(&progress));
            std::thread::spawn(move || {
                become_worker();
                for _ in 0..EACH {
                    bump(&lock);
                    progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        };
        // Let the owner claim the lock and run on its fast path for a while.
        crate::spin::wait_while(|| progress.load(std::sync::atomic::Ordering::Relaxed) < EACH / 4);
        let others: Vec<_> = (0..2)
            .map(|i| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    if i == 0 {
                        become_worker();
                    }
                    for _ in 0..EACH {
                        bump(&lock);
                    }
                })
            })
            .collect();
        owner.join().expect("owner");
        for t in others {
            t.join().expect("other");
        }
        assert!(lock.is_shared());
        assert_eq!(*lock.lock(), 3 * EACH);
    }

    /// A worker that is alone with a lock keeps it biased; a second thread revokes it.
    #[test]
    fn bias_is_kept_until_another_thread_comes() {
        let lock = Arc::new(BiasedLock::new(0u32));
        let l = Arc::clone(&lock);
        std::thread::spawn(move || {
            become_worker();
            for _ in 0..10 {
                *l.lock() += 1;
            }
            assert!(!l.is_shared(), "the owner alone keeps the bias");
        })
        .join()
        .expect("owner");
        *lock.lock() += 1;
        assert!(lock.is_shared(), "another thread revokes it");
        assert_eq!(*lock.lock(), 11);
    }
}
