//! A test-and-set lock for the channel core and the task cell.
//!
//! Those critical sections are a few dozen instructions and almost never contended (a worker
//! hands values between its own tasks). An uncontended `parking_lot` lock and unlock costs two
//! locked read-modify-writes; this lock costs one (an exchange to lock, a plain release store
//! to unlock), about 10% of a thread-ring hop on this machine (see `benches/README.md`). Under
//! contention it spins briefly, then yields the thread, so a preempted holder is not starved.
//!
//! Under `--cfg tern_loom` the lock is loom's mutex behind the same interface: loom cannot
//! explore spin-waits once its preemption bound is spent, and what the models check is the
//! protocol built on mutual exclusion. The lock itself is checked by the stress test below.

#[cfg(not(tern_loom))]
mod imp {
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A spin lock guarding a `T`.
    #[derive(Debug, Default)]
    pub(crate) struct SpinLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out access to `value` to one thread at a time (see `lock`), so
    // sharing the lock between threads is sound exactly when moving a `T` between them is.
    unsafe impl<T: Send> Sync for SpinLock<T> {}

    /// Exclusive access to a [`SpinLock`]'s value; unlocks on drop.
    pub(crate) struct SpinGuard<'a, T> {
        lock: &'a SpinLock<T>,
    }

    impl<T> SpinLock<T> {
        pub(crate) fn new(value: T) -> Self {
            SpinLock {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        /// Takes the lock, spinning (then yielding) while another thread holds it.
        #[inline]
        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            if self.locked.swap(true, Ordering::Acquire) {
                self.lock_contended();
            }
            SpinGuard { lock: self }
        }

        #[cold]
        fn lock_contended(&self) {
            let mut spins = 0u32;
            loop {
                while self.locked.load(Ordering::Relaxed) {
                    if spins < 64 {
                        spins += 1;
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                if !self.locked.swap(true, Ordering::Acquire) {
                    return;
                }
            }
        }
    }

    /// Waits while `cond` holds: spins briefly, then yields the thread (the other party may
    /// have been preempted).
    #[cold]
    pub(crate) fn wait_while(cond: impl Fn() -> bool) {
        let mut spins = 0u32;
        while cond() {
            if spins < 64 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    impl<T> Drop for SpinGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.lock.locked.store(false, Ordering::Release);
        }
    }

    impl<T> Deref for SpinGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            // SAFETY: a guard exists only while its thread holds the lock (taken with Acquire,
            // released with Release on drop), so no other reference to the value exists.
            unsafe { &*self.lock.value.get() }
        }
    }

    impl<T> DerefMut for SpinGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as in `deref`; `&mut self` makes this the only reference via the guard.
            unsafe { &mut *self.lock.value.get() }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::SpinLock;

        #[test]
        fn contended_increments_are_never_lost() {
            const THREADS: u64 = 4;
            const EACH: u64 = 100_000;
            let lock = std::sync::Arc::new(SpinLock::new(0u64));
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let lock = std::sync::Arc::clone(&lock);
                    std::thread::spawn(move || {
                        for _ in 0..EACH {
                            let mut g = lock.lock();
                            // A read-modify-write split in two: lost if two threads overlap.
                            let v = *g;
                            std::hint::black_box(&mut *g);
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(*lock.lock(), THREADS * EACH);
        }
    }
}

#[cfg(tern_loom)]
mod imp {
    /// Loom's mutex behind the spin lock's interface (see the module docs).
    pub(crate) type SpinLock<T> = crate::sync::Mutex<T>;
    /// Its guard.
    pub(crate) type SpinGuard<'a, T> = crate::sync::MutexGuard<'a, T>;

    /// Waits while `cond` holds, letting loom run the other threads.
    pub(crate) fn wait_while(cond: impl Fn() -> bool) {
        while cond() {
            loom::thread::yield_now();
        }
    }
}

pub(crate) use imp::{wait_while, SpinGuard, SpinLock};
