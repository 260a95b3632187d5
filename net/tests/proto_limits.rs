//! Hostile length prefixes cost no memory: a counting allocator records the largest single
//! allocation made while decoding frames that announce huge bodies.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tern_net::proto::{Decoder, Limits, ProtoError};

/// The system allocator, recording the largest request while `WATCH` is set.
struct Counting;

static WATCH: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// bookkeeping only touches atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCH.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (every allocation goes
        // through `alloc` or `realloc` above).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCH.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The largest allocation `f` makes. This file has a single test, so no other test thread's
/// allocations are counted.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::Relaxed);
    WATCH.store(true, Ordering::Relaxed);
    f();
    WATCH.store(false, Ordering::Relaxed);
    LARGEST.load(Ordering::Relaxed)
}

// One test function, so the harness runs no other test thread while we count.
#[test]
fn hostile_prefixes_allocate_nothing_large() {
    let limits = Limits::default();
    // 1. A prefix of u32::MAX and of cap + 1: refused before any allocation for the body.
    for len in [u32::MAX, limits.max_frame + 1] {
        let mut d = Decoder::new(limits);
        let mut got = None;
        let largest = largest_allocation(|| {
            let bytes = len.to_le_bytes();
            got = Some(d.decode(&mut &bytes[..]));
        });
        assert!(
            matches!(got, Some(Err(ProtoError::Oversize { .. }))),
            "{got:?}"
        );
        assert!(largest < 4096, "prefix {len}: allocated {largest} bytes");
    }
    // 2. A prefix of exactly the cap (16 MiB) followed by a trickle of bytes: memory follows
    //    what arrived, not what was announced.
    let mut d = Decoder::new(limits);
    let largest = largest_allocation(|| {
        let mut bytes = limits.max_frame.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 1000]);
        for chunk in bytes.chunks(100) {
            assert_eq!(d.decode(&mut &chunk[..]), Ok(None));
        }
    });
    assert!(
        largest < 64 << 10,
        "allocated {largest} bytes for 1000 received"
    );
    assert_eq!(d.buffered(), 1004);
}
