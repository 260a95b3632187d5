//! Sleeping tasks: a deadline heap served by one timer thread per executor.
//!
//! A sleeping task is parked in its cell like a task waiting on a channel; the heap holds only
//! references. When a deadline passes, the timer takes the task out of its cell (skipping it if
//! a freezer got there first) and schedules it through the injector.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::sync::{Arc, Condvar, Mutex};
use crate::task::{Response, ResponseKind, Task, TaskShared};

struct Entry {
    until: Instant,
    seq: u64,
    task: Arc<TaskShared>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.until, self.seq) == (other.until, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.until, other.seq).cmp(&(self.until, self.seq))
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Entry>,
    seq: u64,
    shutdown: bool,
}

/// The deadline heap.
#[derive(Default)]
pub(crate) struct Timer {
    state: Mutex<State>,
    cv: Condvar,
}

impl Timer {
    /// Parks `task` until `until`.
    pub(crate) fn add(&self, until: Instant, task: Box<Task>) {
        let mut st = self.state.lock();
        if st.shutdown {
            drop(st);
            drop(task); // the node is gone: the joiner sees a cancel
            return;
        }
        st.seq += 1;
        let seq = st.seq;
        let earliest = st.heap.peek().is_none_or(|e| until < e.until);
        st.heap.push(Entry {
            until,
            seq,
            task: TaskShared::park(task),
        });
        drop(st);
        if earliest {
            self.cv.notify_one();
        }
    }

    /// The timer thread's loop; returns on [`shutdown`](Self::shutdown).
    pub(crate) fn run(&self) {
        let mut st = self.state.lock();
        loop {
            if st.shutdown {
                return;
            }
            let now = Instant::now();
            while st.heap.peek().is_some_and(|e| e.until <= now) {
                if let Some(e) = st.heap.pop() {
                    if let Some(task) = e.task.unpark() {
                        task.complete(Response(ResponseKind::Unit));
                    }
                }
            }
            st = match st.heap.peek() {
                Some(e) => {
                    let until = e.until;
                    self.cv.wait_until(st, until)
                }
                None => self.cv.wait(st),
            };
        }
    }

    /// Removes `task`'s entry (it was frozen while asleep). Taking the lock also waits out a
    /// timer thread that popped the entry before the freezer emptied the cell.
    pub(crate) fn withdraw(&self, task: &Arc<TaskShared>) {
        self.state
            .lock()
            .heap
            .retain(|e| !Arc::ptr_eq(&e.task, task));
    }

    /// Stops the thread and returns the tasks still asleep.
    #[expect(clippy::vec_box, reason = "tasks move between owners as boxes")]
    pub(crate) fn shutdown(&self) -> Vec<Box<Task>> {
        let mut st = self.state.lock();
        st.shutdown = true;
        let heap = std::mem::take(&mut st.heap);
        drop(st);
        self.cv.notify_all();
        heap.into_iter().filter_map(|e| e.task.unpark()).collect()
    }
}
