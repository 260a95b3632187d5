//! loom models of the biased lock (`bias`): its owner's lock-free path against threads that
//! revoke the bias, and two workers racing to own a fresh lock. The value is a plain counter in
//! loom's `UnsafeCell`, so two threads inside at once fail the model on their own; the final
//! count is asserted too.

use loom::thread;

use crate::bias::{become_worker, BiasedLock};
use crate::sync::Arc;

fn bump(lock: &BiasedLock<u32>) {
    *lock.lock() += 1;
}

/// The owner enters twice (claiming the lock, then on its fast path) while a thread outside
/// the executor enters once, revoking the bias at any point of the owner's sections.
#[test]
fn owner_fast_path_races_revoker() {
    loom::model(|| {
        let lock = Arc::new(BiasedLock::new(0u32));
        let l = Arc::clone(&lock);
        let owner = thread::spawn(move || {
            become_worker();
            bump(&l);
            bump(&l);
        });
        bump(&lock);
        owner.join().expect("owner");
        assert_eq!(*lock.lock(), 3);
        assert!(lock.is_shared(), "the other thread revoked the bias");
    });
}

/// Two workers race for a fresh lock: one owns it, the other revokes.
#[test]
fn two_workers_race_to_own() {
    loom::model(|| {
        let lock = Arc::new(BiasedLock::new(0u32));
        let l = Arc::clone(&lock);
        let other = thread::spawn(move || {
            become_worker();
            bump(&l);
            bump(&l);
        });
        become_worker();
        bump(&lock);
        other.join().expect("other");
        assert_eq!(*lock.lock(), 3);
    });
}
