//! Asymmetric fences: a free fence for the side of a protocol that runs on every hand-off, and
//! an expensive one for the side that runs once in a long while.
//!
//! A Dekker-style handshake ("I raise my flag, then look at yours") needs a full fence between
//! the store and the load on *both* sides; on x86 that is a locked instruction or an `mfence`.
//! When one side is hot and the other rare, the cost can be moved entirely to the rare side:
//! the hot side orders its store and load with a compiler barrier only ([`light`]), and the
//! rare side calls [`heavy`], which makes every thread of the process execute a full fence
//! (Linux `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: an inter-processor interrupt to each
//! CPU running one of our threads; a thread not running gets its fence from the context
//! switch). After `heavy` returns, either the hot side's store is visible to the rare side or
//! the hot side's later load sees the rare side's store — the guarantee a pair of `SeqCst`
//! fences gives. Folly's `asymmetricLightBarrier`/`asymmetricHeavyBarrier` and userspace RCU
//! rest on the same system call.
//!
//! The mode is decided once per process by [`init`] (called when a node starts): if the kernel
//! lets the process register for private expedited barriers, `light` is a compiler barrier;
//! otherwise (another OS, an old kernel, a seccomp filter) both sides fall back to a real
//! `SeqCst` fence. The mode only ever goes from "fence" to "membarrier", and a `light` that
//! still ran as a real fence pairs correctly with either kind of `heavy`.
//!
//! Under `--cfg tern_loom` both functions are `SeqCst` fences, the textbook model of the pair.

#[cfg(not(tern_loom))]
mod imp {
    use std::sync::atomic::{compiler_fence, fence, AtomicU8, Ordering};

    /// Not decided yet, or membarrier is unavailable: both sides use a real fence.
    const FENCE: u8 = 0;
    /// Registered for private expedited membarriers.
    const MEMBARRIER: u8 = 1;

    static MODE: AtomicU8 = AtomicU8::new(FENCE);

    /// Decides the mode for this process (idempotent; cheap after the first call).
    pub(crate) fn init() {
        if MODE.load(Ordering::Acquire) == MEMBARRIER {
            return;
        }
        if sys::register() {
            MODE.store(MEMBARRIER, Ordering::Release);
        }
    }

    /// The hot side's fence: orders an earlier store before a later load.
    #[inline(always)]
    pub(crate) fn light() {
        if MODE.load(Ordering::Relaxed) == MEMBARRIER {
            compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }

    /// The rare side's fence: a full fence on every thread of the process.
    pub(crate) fn heavy() {
        // Registering here too means a `light` that ran as a compiler barrier (it saw the
        // membarrier mode) is never paired with a plain fence.
        init();
        if MODE.load(Ordering::Acquire) == MEMBARRIER {
            sys::barrier();
        } else {
            fence(Ordering::SeqCst);
        }
    }

    #[cfg(target_os = "linux")]
    mod sys {
        const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
        const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

        fn membarrier(cmd: libc::c_int) -> libc::c_long {
            // SAFETY: `membarrier(cmd, flags = 0, cpu_id = 0)` takes no pointers; an unknown
            // command fails with an error code, nothing else.
            unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    cmd,
                    0 as libc::c_uint,
                    0 as libc::c_int,
                )
            }
        }

        /// Registers the process; false when the kernel refuses (the fallback is then used).
        pub(super) fn register() -> bool {
            membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
        }

        pub(super) fn barrier() {
            // After a successful registration the command cannot fail; should it ever, retrying
            // after a yield is correct (the barrier has simply not happened yet).
            while membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 {
                std::thread::yield_now();
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    mod sys {
        pub(super) fn register() -> bool {
            false
        }

        pub(super) fn barrier() {
            std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[cfg(tern_loom)]
mod imp {
    use loom::sync::atomic::{fence, Ordering};

    pub(crate) fn init() {}

    pub(crate) fn light() {
        fence(Ordering::SeqCst);
    }

    pub(crate) fn heavy() {
        fence(Ordering::SeqCst);
    }
}

pub(crate) use imp::*;
