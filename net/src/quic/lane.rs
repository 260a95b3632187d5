//! The sending side of one lane: a bounded byte queue of encoded frames, and the writer task
//! that drains it into the lane's stream.
//!
//! # How a frame travels
//!
//! [`Mesh::send`](super::Mesh::send) encodes a message into a per-thread scratch buffer and
//! appends the bytes to the last block of the lane's queue ([`Lane::try_push`]) under the
//! lane's lock: no semaphore, no channel and no allocation per message (one per block of
//! [`batch_bytes`](super::MeshConfig::batch_bytes)). The writer ([`write_lane`]) takes every
//! queued block at once under the same lock and hands each to quinn as it is, without a
//! copy: one stream write per block. A sender wakes the writer only when the writer said it
//! was idle, so a busy lane costs no wakeup per frame.
//!
//! # Invariants
//!
//! - **Bounded.** `held` counts the bytes queued plus the bytes the writer took and has not
//!   yet handed to quinn; a frame is queued only while `held + len <= capacity`, or when
//!   `held == 0` (a frame larger than the whole buffer waits for the lane to be empty).
//! - **FIFO.** Frames are appended in the order their pushes took the lock, and the writer
//!   writes the blocks it took whole and in order before it takes more.
//! - **Fair.** A sender that finds no room queues on a FIFO turnstile and waits for room; while
//!   one waits, no other sender jumps ahead of it (the fast path requires `waiting == 0`), so a
//!   large frame is not starved by small ones.
//! - **Failure wakes everyone.** [`Lane::fail`] (the connection is going down, or the writer
//!   stopped) drops what is queued, marks the lane closed, and wakes the waiting sender and the
//!   writer; pushes then fail and the sender looks for another connection.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use quinn::VarInt;
use tokio::sync::Notify;

use crate::proto::{encode, Limits, Message, ProtoError};

use super::link::{code, lock, Link, LocalClose};
use super::mesh::Shared;
use super::waiting::{wait_turn, CountsWaiters};

/// The most a block starts with when the lane was idle.
const MAX_FIRST_BLOCK: usize = 4 << 10;

/// The most a block starts with (it grows up to `batch_bytes`, which may be larger).
const MAX_BLOCK_ALLOCATION: usize = 64 << 10;

thread_local! {
    /// Where [`encode_scratch`] encodes, reused by every send on the thread.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Encodes `message` for a peer with `limits` into this thread's scratch buffer and runs `f`
/// on the frame.
///
/// # Errors
/// The encoder's.
pub(super) fn encode_scratch<R>(
    message: &Message,
    limits: &Limits,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, ProtoError> {
    SCRATCH.with(|scratch| {
        // Re-entrance cannot happen (`f` does not send), but do not panic if it did.
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            let mut own = Vec::new();
            encode(message, limits, &mut own)?;
            return Ok(f(&own));
        };
        buf.clear();
        encode(message, limits, &mut buf)?;
        let result = f(&buf);
        if buf.capacity() > 64 << 10 {
            *buf = Vec::new();
        }
        Ok(result)
    })
}

/// The outcome of [`Lane::try_push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Push {
    /// The frame is queued.
    Queued,
    /// No room now (or another sender waits for room first).
    Full,
    /// The lane failed: its connection is going down.
    Closed,
}

struct State {
    /// Encoded frames, in order, not yet taken by the writer, in blocks of at most `block`
    /// bytes (or one frame larger than that).
    blocks: VecDeque<Vec<u8>>,
    /// Frames in `blocks`.
    frames: u64,
    /// Bytes in `blocks` plus bytes the writer took and has not written yet.
    held: usize,
    /// Senders in the slow path (on the turnstile or waiting for room).
    waiting: usize,
    /// The writer found nothing to do and waits for `Lane::work`.
    writer_idle: bool,
    /// `false` once the lane failed.
    open: bool,
}

impl CountsWaiters for State {
    fn waiting(&mut self) -> &mut usize {
        &mut self.waiting
    }
}

/// One lane's queue, shared by its senders and its writer.
pub(super) struct Lane {
    state: Mutex<State>,
    /// Bytes the lane may hold ([`MeshConfig::lane_buffer`](super::MeshConfig::lane_buffer)).
    capacity: usize,
    /// Bytes of a block: one stream write
    /// ([`MeshConfig::batch_bytes`](super::MeshConfig::batch_bytes)).
    block: usize,
    /// Wakes the writer.
    work: Notify,
    /// Wakes the sender waiting for room.
    room: Notify,
    /// Orders senders that found no room, first come first served.
    turnstile: tokio::sync::Mutex<()>,
}

impl Lane {
    /// A lane holding up to `capacity` bytes, written in blocks of `block` bytes.
    pub(super) fn new(capacity: usize, block: usize) -> Self {
        Lane {
            state: Mutex::new(State {
                blocks: VecDeque::new(),
                frames: 0,
                held: 0,
                waiting: 0,
                writer_idle: false,
                open: true,
            }),
            capacity,
            block: block.max(1),
            work: Notify::new(),
            room: Notify::new(),
            turnstile: tokio::sync::Mutex::new(()),
        }
    }

    /// Queues `frame` if there is room and no other sender waits for room first.
    pub(super) fn try_push(&self, frame: &[u8]) -> Push {
        self.push_now(frame, false)
    }

    /// Queues `frame`, waiting (first come first served) for room; `false` if the lane failed.
    ///
    /// Cancel safe: a dropped push has queued nothing.
    pub(super) async fn push(&self, frame: &[u8]) -> bool {
        match self.push_now(frame, false) {
            Push::Queued => return true,
            Push::Closed => return false,
            Push::Full => {}
        }
        wait_turn(&self.state, &self.room, &self.turnstile, || {
            match self.push_now(frame, true) {
                Push::Queued => Some(true),
                Push::Closed => Some(false),
                Push::Full => None,
            }
        })
        .await
    }

    /// Queues `frame` if it fits; `first` says the caller is the sender at the head of the
    /// turnstile (others yield to waiting senders).
    fn push_now(&self, frame: &[u8], first: bool) -> Push {
        let wake = {
            let mut s = lock(&self.state);
            if !s.open {
                return Push::Closed;
            }
            let fits = s.held == 0 || s.held + frame.len() <= self.capacity;
            if !fits || (!first && s.waiting > 0) {
                return Push::Full;
            }
            match s.blocks.back_mut() {
                Some(last) if last.len() + frame.len() <= self.block => {
                    last.extend_from_slice(frame);
                }
                _ => {
                    // A backlog fills whole blocks; an idle lane's next block starts small
                    // (and grows, up to a block, if more frames follow before the writer
                    // takes it).
                    let size = if s.blocks.is_empty() {
                        self.block
                            .min(frame.len().saturating_mul(8))
                            .min(MAX_FIRST_BLOCK)
                    } else {
                        self.block.min(MAX_BLOCK_ALLOCATION)
                    };
                    let mut block = Vec::with_capacity(size.max(frame.len()));
                    block.extend_from_slice(frame);
                    s.blocks.push_back(block);
                }
            }
            s.frames += 1;
            s.held += frame.len();
            std::mem::take(&mut s.writer_idle)
        };
        if wake {
            self.work.notify_one();
        }
        Push::Queued
    }

    /// Fails the lane: what is queued is dropped, pushes fail from now on, the waiting sender
    /// and the writer wake up.
    pub(super) fn fail(&self) {
        {
            let mut s = lock(&self.state);
            s.open = false;
            let queued: usize = s.blocks.iter().map(Vec::len).sum();
            s.held -= queued;
            s.blocks = VecDeque::new();
            s.frames = 0;
        }
        self.room.notify_waiters();
        self.work.notify_one();
    }

    /// Swaps the queued blocks into `out` (empty on entry): how many frames they hold, or
    /// `None` once the lane failed. Waits while nothing is queued.
    async fn take(&self, out: &mut VecDeque<Vec<u8>>) -> Option<u64> {
        loop {
            {
                let mut s = lock(&self.state);
                if !s.open {
                    return None;
                }
                if !s.blocks.is_empty() {
                    std::mem::swap(&mut s.blocks, out);
                    return Some(std::mem::take(&mut s.frames));
                }
                s.writer_idle = true;
            }
            self.work.notified().await;
        }
    }

    /// `written` bytes the writer took have reached quinn: room for senders.
    fn release(&self, written: usize) {
        let wake = {
            let mut s = lock(&self.state);
            s.held = s.held.saturating_sub(written);
            s.waiting > 0
        };
        if wake {
            self.room.notify_waiters();
        }
    }
}

/// Writes lane `index` of `link`: opens its stream, then writes what is queued, in stream
/// writes of up to `batch_bytes`. Fails the lane when it stops; closes the connection if the
/// peer stopped the stream.
pub(super) async fn write_lane(shared: Arc<Shared>, link: Arc<Link>, index: usize) {
    let Some(lane) = link.made_lane(index) else {
        return;
    };
    let Ok(mut stream) = link.conn.open_uni().await else {
        lane.fail();
        return;
    };
    let mut out = VecDeque::new();
    while let Some(frames) = lane.take(&mut out).await {
        let mut writes = 0;
        let mut result = Ok(());
        while let Some(block) = out.pop_front() {
            let len = block.len();
            // Handed to quinn as is: no copy.
            let mut chunk = block.into();
            result = stream
                .write_all_chunks(std::slice::from_mut(&mut chunk))
                .await;
            writes += 1;
            lane.release(len);
            if result.is_err() {
                lane.release(out.drain(..).map(|block| block.len()).sum());
                break;
            }
        }
        shared
            .stats
            .frames_written
            .fetch_add(frames, Ordering::Relaxed);
        shared
            .stats
            .batches_written
            .fetch_add(writes, Ordering::Relaxed);
        match result {
            Ok(()) => {}
            Err(quinn::WriteError::Stopped(stop)) => {
                if stop == VarInt::from_u32(code::BAD_FRAMING) {
                    // The peer could not decode what we wrote: a bug on one side.
                    tracing::warn!(code = %stop, "peer stopped a lane");
                } else {
                    // Its reader broke off: its inbox is gone.
                    tracing::debug!(code = %stop, "peer stopped reading a lane");
                }
                link.close(LocalClose::LaneStopped);
                lane.fail();
                return;
            }
            Err(_) => {
                lane.fail();
                return;
            }
        }
    }
    if stream.finish().is_err() {
        tracing::trace!("lane closed before finishing");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn held(lane: &Lane) -> (usize, u64) {
        let s = lock(&lane.state);
        (s.held, s.frames)
    }

    #[test]
    fn pushes_stop_at_the_capacity_but_an_oversize_frame_fits_an_empty_lane() {
        let lane = Lane::new(10, 4);
        assert_eq!(lane.try_push(&[1; 6]), Push::Queued);
        assert_eq!(lane.try_push(&[2; 4]), Push::Queued);
        assert_eq!(lane.try_push(&[3; 1]), Push::Full);
        assert_eq!(held(&lane), (10, 2));

        let big = Lane::new(10, 4);
        assert_eq!(big.try_push(&[0; 50]), Push::Queued);
        assert_eq!(big.try_push(&[0; 1]), Push::Full);
    }

    #[tokio::test]
    async fn the_writer_takes_everything_in_order_and_room_comes_back_on_release() {
        let lane = Lane::new(8, 4);
        assert_eq!(lane.try_push(&[1, 2, 3]), Push::Queued);
        assert_eq!(lane.try_push(&[4, 5]), Push::Queued);
        let mut out = VecDeque::new();
        assert_eq!(lane.take(&mut out).await, Some(2));
        // Blocks of at most 4 bytes, unless one frame is larger.
        assert_eq!(out, [vec![1, 2, 3], vec![4, 5]]);
        // Taken but not written: still held.
        assert_eq!(lane.try_push(&[0; 4]), Push::Full);
        lane.release(5);
        assert_eq!(lane.try_push(&[6; 4]), Push::Queued);
        out.clear();
        assert_eq!(lane.take(&mut out).await, Some(1));
        assert_eq!(out, [vec![6; 4]]);
        // A frame larger than a block gets a block of its own.
        lane.release(4);
        assert_eq!(lane.try_push(&[8; 6]), Push::Queued);
        out.clear();
        assert_eq!(lane.take(&mut out).await, Some(1));
        assert_eq!(out, [vec![8; 6]]);
    }

    #[tokio::test]
    async fn a_waiting_sender_goes_first_and_failure_wakes_it() {
        let lane = Arc::new(Lane::new(4, 64));
        assert_eq!(lane.try_push(&[0; 4]), Push::Queued);
        let waiter = {
            let lane = lane.clone();
            tokio::spawn(async move { lane.push(&[1; 2]).await })
        };
        while lock(&lane.state).waiting == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Room for one byte, but the waiter is first in line.
        let mut out = VecDeque::new();
        assert_eq!(lane.take(&mut out).await, Some(1));
        lane.release(4);
        assert!(waiter.await.expect("waiter"));
        assert_eq!(held(&lane), (2, 1));

        assert_eq!(lane.try_push(&[2; 2]), Push::Queued);
        let waiter = {
            let lane = lane.clone();
            tokio::spawn(async move { lane.push(&[3; 2]).await })
        };
        while lock(&lane.state).waiting == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(lane.try_push(&[]), Push::Full, "the waiter is first");
        lane.fail();
        assert!(!waiter.await.expect("waiter"));
        assert_eq!(lane.try_push(&[4]), Push::Closed);
        assert_eq!(lane.take(&mut VecDeque::new()).await, None);
        assert_eq!(lock(&lane.state).waiting, 0);
    }

    #[test]
    fn the_scratch_buffer_encodes_like_encode() {
        let message = Message::Ping(7);
        let mut want = Vec::new();
        encode(&message, &Limits::default(), &mut want).expect("encode");
        let got = encode_scratch(&message, &Limits::default(), <[u8]>::to_vec).expect("encode");
        assert_eq!(got, want);
        let again = encode_scratch(&message, &Limits::default(), <[u8]>::to_vec).expect("encode");
        assert_eq!(again, want, "the scratch buffer starts empty every time");
    }
}
