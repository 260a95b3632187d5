//! A task-to-task hand-off allocates nothing: thread-ring is run under a counting allocator and
//! the allocations per hop are measured (this is a count, not a timing).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use tern_tests::{node, Ring};

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
    let ring = Ring::new(&n, "alloc", 503).await;
    // Warm up: queues reach their steady-state capacity.
    assert_eq!(ring.pass(5_000).await, 5_000 % 503 + 1);
    let hops: u64 = 200_000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let winner = ring.pass(hops).await;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(u64::from(winner), hops % 503 + 1);
    println!("{allocations} allocations for {hops} hops");
    // The only allocation allowed is the outside waiter's registration on the report channel.
    assert!(
        allocations <= 2,
        "{allocations} allocations for {hops} hops"
    );
    ring.close();
    n.shutdown().await;
}
