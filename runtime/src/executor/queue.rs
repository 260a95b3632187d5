//! Run queues: a private queue per worker, a shared stealable queue per worker, one injector.
//!
//! The private queue is a plain `VecDeque` owned by the worker thread: pushing and popping it
//! touches no atomic, so a hand-off between two tasks of one worker stays on that worker. When
//! other workers are idle, a busy worker moves half of its private queue into its *stealable*
//! queue (a [`Shared`] queue) and wakes one of them; idle workers take half of a stealable
//! queue at a time. Wake-ups from other threads (the network, timers, foreign runtimes, `main`)
//! go to the injector, which is also a [`Shared`] queue.

use std::collections::VecDeque;

use crate::sync::{AtomicUsize, Mutex, Ordering};

/// A queue shared between threads, with a length hint readable without the lock.
///
/// Once [closed](Shared::close_and_drain) it accepts nothing more: a push racing the close
/// either lands before the drain (and is drained) or is handed back — never left behind.
#[derive(Debug)]
pub(crate) struct Shared<T> {
    items: Mutex<Items<T>>,
    len: AtomicUsize,
}

#[derive(Debug)]
struct Items<T> {
    queue: VecDeque<T>,
    closed: bool,
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared {
            items: Mutex::new(Items {
                queue: VecDeque::new(),
                closed: false,
            }),
            len: AtomicUsize::new(0),
        }
    }
}

impl<T> Shared<T> {
    /// Pushes one item at the back, or hands it back if the queue is closed.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut items = self.items.lock();
        if items.closed {
            return Err(item);
        }
        items.queue.push_back(item);
        self.len.store(items.queue.len(), Ordering::SeqCst);
        Ok(())
    }

    /// Moves every item of `batch` to the back, keeping their order.
    /// (Only the owning worker pushes batches, and it has stopped before its queue is closed.)
    pub(crate) fn push_batch(&self, batch: impl IntoIterator<Item = T>) {
        let mut items = self.items.lock();
        items.queue.extend(batch);
        self.len.store(items.queue.len(), Ordering::SeqCst);
    }

    /// Pops one item from the front.
    pub(crate) fn pop(&self) -> Option<T> {
        if self.is_empty_hint() {
            return None;
        }
        let mut items = self.items.lock();
        let item = items.queue.pop_front();
        self.len.store(items.queue.len(), Ordering::SeqCst);
        item
    }

    /// Moves up to half of the items (at least one, at most `max`) to `into`, oldest first.
    /// Returns how many moved.
    pub(crate) fn steal_half(&self, into: &mut VecDeque<T>, max: usize) -> usize {
        if self.is_empty_hint() {
            return 0;
        }
        let mut items = self.items.lock();
        let n = items.queue.len().div_ceil(2).min(max);
        into.extend(items.queue.drain(..n));
        self.len.store(items.queue.len(), Ordering::SeqCst);
        n
    }

    /// Closes the queue (later pushes are handed back) and takes every item.
    pub(crate) fn close_and_drain(&self) -> Vec<T> {
        let mut items = self.items.lock();
        items.closed = true;
        self.len.store(0, Ordering::SeqCst);
        items.queue.drain(..).collect()
    }

    /// A hint: `true` may be stale, but a `false` read after an item's push (in the
    /// synchronisation order) is not; parking re-checks under the lock.
    pub(crate) fn is_empty_hint(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    /// The exact length, under the lock.
    #[cfg(all(test, tern_loom))]
    pub(crate) fn len(&self) -> usize {
        self.items.lock().queue.len()
    }
}
