//! A task-to-task hand-off allocates nothing: thread-ring is run under a counting allocator and
//! the allocations per hop are measured (this is a count, not a timing).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use tern_tests::{node, thread_ring};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter has no effect
// on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which we pass on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[tokio::test(flavor = "current_thread")]
async fn a_hand_off_between_tasks_on_one_worker_allocates_nothing() {
    let n = node("alloc", 1).await;
    // Warm up: channels, tasks and queues reach their steady-state capacity.
    assert_eq!(thread_ring(&n, "warm", 503, 5_000).await, 5_000 % 503 + 1);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let count = |prefix: &'static str, token: u64| {
        let n = n.clone();
        async move {
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let winner = thread_ring(&n, prefix, 503, token).await;
            assert_eq!(u64::from(winner), token % 503 + 1);
            // Let the ring's teardown (503 tasks ending after their inboxes close) finish
            // inside this window, so each window holds exactly one set-up and one teardown.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            ALLOCATIONS.load(Ordering::Relaxed) - before
        }
    };
    // Two rings that differ only in the number of hops: the difference is the hops' cost.
    let short = count("short", 1_000).await;
    let long = count("long", 201_000).await;
    let per_hop = long.saturating_sub(short) as f64 / 200_000.0;
    println!("ring set-up and 1,000 hops: {short} allocations; 200,000 more hops: {} more ({per_hop:.5} per hop)", long.saturating_sub(short));
    assert!(per_hop < 0.001, "{per_hop} allocations per hop");
    n.shutdown().await;
}
