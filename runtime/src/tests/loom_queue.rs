//! loom models of `executor::queue::Shared`: a pusher racing a stealer, and the length hint.
//! Asserted: every item is taken exactly once, in push order; a hint read after a push (in the
//! synchronisation order) does not claim the queue is empty.

use std::collections::VecDeque;

use loom::thread;

use crate::executor::queue::Shared;
use crate::sync::{Arc, AtomicBool, Ordering};

#[test]
fn push_races_steal_half_and_pop() {
    loom::model(|| {
        let q: Arc<Shared<u32>> = Arc::new(Shared::default());
        let p = Arc::clone(&q);
        let pusher = thread::spawn(move || {
            p.push(1).unwrap();
            p.push_batch([2, 3, 4]);
        });
        // The stealer: half of what it sees, then one more.
        let mut taken = VecDeque::new();
        let n = q.steal_half(&mut taken, 8);
        assert_eq!(n, taken.len());
        taken.extend(q.pop());
        pusher.join().unwrap();
        let all: Vec<u32> = taken.into_iter().chain(q.close_and_drain()).collect();
        assert_eq!(all, [1, 2, 3, 4], "each item once, in push order");
        assert!(q.is_empty_hint());
        assert_eq!(q.len(), 0);
    });
}

#[test]
fn two_stealers_split_a_batch() {
    loom::model(|| {
        let q: Arc<Shared<u32>> = Arc::new(Shared::default());
        let p = Arc::clone(&q);
        let pusher = thread::spawn(move || p.push_batch([1, 2, 3]));
        let s = Arc::clone(&q);
        let stealer = thread::spawn(move || {
            let mut taken = VecDeque::new();
            let n = s.steal_half(&mut taken, 1);
            assert_eq!(n, taken.len());
            assert!(n <= 1, "at most `max`");
            taken
        });
        let mut mine = VecDeque::new();
        q.steal_half(&mut mine, 8);
        pusher.join().unwrap();
        let theirs = stealer.join().unwrap();
        // Each stealer's share is a run of consecutive items, oldest first.
        for part in [&mine, &theirs] {
            let v: Vec<u32> = part.iter().copied().collect();
            assert!(v.windows(2).all(|w| w[1] == w[0] + 1), "order kept: {v:?}");
        }
        let mut all: Vec<u32> = mine
            .into_iter()
            .chain(theirs)
            .chain(q.close_and_drain())
            .collect();
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3], "each item exactly once");
    });
}

#[test]
fn hint_after_push_is_not_empty() {
    loom::model(|| {
        let q: Arc<Shared<u32>> = Arc::new(Shared::default());
        let pushed = Arc::new(AtomicBool::new(false));
        let (p, f) = (Arc::clone(&q), Arc::clone(&pushed));
        let pusher = thread::spawn(move || {
            p.push(7).unwrap();
            f.store(true, Ordering::SeqCst);
        });
        if pushed.load(Ordering::SeqCst) {
            // The push precedes this read: neither the hint nor `pop` may miss it.
            assert!(!q.is_empty_hint(), "stale empty hint after a push");
            assert_eq!(q.pop(), Some(7));
        } else {
            // A stale "empty" is allowed here; a non-empty answer must be real.
            if !q.is_empty_hint() {
                assert_eq!(q.len(), 1);
            }
        }
        pusher.join().unwrap();
    });
}
