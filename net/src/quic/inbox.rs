//! The inbox: one bounded queue of deliveries from every connection of a mesh, filled in
//! batches by the lane readers and emptied by the [`Inbox`] handle.
//!
//! # How deliveries travel
//!
//! A lane reader decodes every frame it can read without waiting and pushes them with one
//! [`InboxQueue::push`]: one lock and at most one wakeup of the consumer per batch. The
//! consumer takes the whole queue under one lock into its own buffer and hands deliveries out
//! from there without locking.
//!
//! # Invariants
//!
//! - **Bounded.** `items` and `bytes` count what producers put in and the consumer has not yet
//!   finished with: the shared queue plus the consumer's buffer. The consumer gives the room
//!   of a batch back once it has handed out the batch's last delivery. A delivery is queued
//!   only while it fits both bounds, or when nothing is held (a frame larger than the whole
//!   inbox waits for it to be empty).
//! - **Order.** A batch is appended whole and in order (or the part that fits, the rest
//!   following before anything else from the same producer), and the consumer hands out in
//!   queue order. A producer that awaits its push before producing more (every one does) keeps
//!   its deliveries in order relative to everything it pushes later.
//! - **Fair.** A producer that finds no room queues on a FIFO turnstile; while one waits, no
//!   other producer jumps ahead of it.
//! - **Ends.** After [`InboxQueue::shut`] (the mesh shut down) or once the mesh is gone, the
//!   consumer gets what is queued, then `None`. Once the [`Inbox`] is dropped, pushes fail.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use tokio::sync::Notify;

use super::events::Delivery;
use super::link::lock;
use super::waiting::{wait_turn, CountsWaiters};

/// A delivery and the bytes of inbox room it takes.
pub(super) type Item = (Delivery, usize);

struct State {
    /// Deliveries not yet taken by the consumer.
    queue: VecDeque<Item>,
    /// Deliveries held: in `queue` or in the consumer's current batch.
    items: usize,
    /// Their bytes.
    bytes: usize,
    /// Producers in the slow path (on the turnstile or waiting for room).
    waiting: usize,
    /// The consumer, when it waits for a delivery.
    consumer: Option<Waker>,
    /// The mesh shut down or is gone: no more deliveries are coming.
    ended: bool,
    /// The [`Inbox`] was dropped: nobody takes deliveries any more.
    dropped: bool,
}

impl CountsWaiters for State {
    fn waiting(&mut self) -> &mut usize {
        &mut self.waiting
    }
}

/// The queue shared by the mesh's producers and its [`Inbox`].
pub(super) struct InboxQueue {
    state: Mutex<State>,
    /// Most items held ([`MeshConfig::inbox_messages`](super::MeshConfig::inbox_messages)).
    max_items: usize,
    /// Most bytes held ([`MeshConfig::inbox_bytes`](super::MeshConfig::inbox_bytes)).
    max_bytes: usize,
    /// Wakes the producer waiting for room.
    room: Notify,
    /// Orders producers that found no room, first come first served.
    turnstile: tokio::sync::Mutex<()>,
}

/// Whether a push moved everything, or why not.
enum Moved {
    All,
    Some,
    Dropped,
}

impl InboxQueue {
    /// A queue of at most `max_items` deliveries and `max_bytes` bytes (both at least 1).
    pub(super) fn new(max_items: usize, max_bytes: usize) -> Arc<Self> {
        Arc::new(InboxQueue {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                items: 0,
                bytes: 0,
                waiting: 0,
                consumer: None,
                ended: false,
                dropped: false,
            }),
            max_items: max_items.max(1),
            max_bytes: max_bytes.max(1),
            room: Notify::new(),
            turnstile: tokio::sync::Mutex::new(()),
        })
    }

    /// The handle that takes deliveries from this queue.
    pub(super) fn inbox(self: &Arc<Self>) -> Inbox {
        Inbox {
            queue: self.clone(),
            batch: VecDeque::new(),
            batch_items: 0,
            batch_bytes: 0,
        }
    }

    /// Appends `items` in order (emptying it), waiting for room; `false` if the inbox was
    /// dropped (what was not yet queued is left in `items`). A size is clamped to the inbox's
    /// byte bound.
    ///
    /// Cancel safe: what was not queued stays in `items`.
    pub(super) async fn push(&self, items: &mut VecDeque<Item>) -> bool {
        match self.move_fitting(items, false) {
            Moved::All => return true,
            Moved::Dropped => return false,
            Moved::Some => {}
        }
        wait_turn(&self.state, &self.room, &self.turnstile, || {
            match self.move_fitting(items, true) {
                Moved::All => Some(true),
                Moved::Dropped => Some(false),
                Moved::Some => None,
            }
        })
        .await
    }

    /// Appends one delivery taking `size` bytes, waiting for room; `false` if the inbox was
    /// dropped.
    pub(super) async fn push_one(&self, delivery: Delivery, size: usize) -> bool {
        let mut items = VecDeque::from([(delivery, size)]);
        self.push(&mut items).await
    }

    /// Moves what fits of `items` into the queue; `first` says the caller is the producer at
    /// the head of the turnstile (others yield to waiting producers).
    fn move_fitting(&self, items: &mut VecDeque<Item>, first: bool) -> Moved {
        let consumer = {
            let mut s = lock(&self.state);
            if s.dropped {
                return Moved::Dropped;
            }
            if !first && s.waiting > 0 {
                return Moved::Some;
            }
            let before = s.queue.len();
            // Clamp the sizes once; the whole batch goes in by a swap when it fits an empty
            // queue (the common case: the consumer keeps up).
            let mut total = 0;
            for (_, size) in items.iter_mut() {
                *size = (*size).min(self.max_bytes);
                total += *size;
            }
            if before == 0
                && s.items + items.len() <= self.max_items
                && s.bytes + total <= self.max_bytes
            {
                s.items += items.len();
                s.bytes += total;
                std::mem::swap(&mut s.queue, items);
            }
            while let Some((_, size)) = items.front() {
                let size = *size;
                let fits =
                    s.items == 0 || (s.items < self.max_items && s.bytes + size <= self.max_bytes);
                if !fits {
                    break;
                }
                let Some((delivery, _)) = items.pop_front() else {
                    break;
                };
                s.items += 1;
                s.bytes += size;
                s.queue.push_back((delivery, size));
            }
            if s.queue.len() > before {
                s.consumer.take()
            } else {
                None
            }
        };
        if let Some(consumer) = consumer {
            consumer.wake();
        }
        if items.is_empty() {
            Moved::All
        } else {
            Moved::Some
        }
    }

    /// No more deliveries are coming: the consumer gets what is queued, then `None`.
    pub(super) fn end(&self) {
        let consumer = {
            let mut s = lock(&self.state);
            s.ended = true;
            s.consumer.take()
        };
        if let Some(consumer) = consumer {
            consumer.wake();
        }
    }
}

/// Everything the mesh receives: messages from peers and peer events, in one bounded queue.
/// See [`Delivery`] for the order per peer.
///
/// Taking from the inbox is cheap: the inbox takes every queued delivery at once under one
/// lock and hands them out from its own buffer; their room is given back to the readers once
/// the last of them is handed out. [`recv_many`](Self::recv_many) takes several at once.
pub struct Inbox {
    queue: Arc<InboxQueue>,
    /// Deliveries taken from the queue, not yet handed out.
    batch: VecDeque<Item>,
    /// Room the current batch holds (given back when it is empty).
    batch_items: usize,
    batch_bytes: usize,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("buffered", &self.batch.len())
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// The next delivery; `None` once the mesh has shut down and everything queued before was
    /// taken.
    ///
    /// # Cancel safety
    /// Cancel safe: a delivery is never lost by dropping this future.
    pub async fn recv(&mut self) -> Option<Delivery> {
        if let Some(delivery) = self.pop() {
            return Some(delivery);
        }
        poll_fn(|cx| match self.refill(Some(cx.waker())) {
            Some(true) => Poll::Ready(self.pop()),
            Some(false) => Poll::Pending,
            None => Poll::Ready(None),
        })
        .await
    }

    /// The next delivery if one is queued.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        if self.batch.is_empty() {
            self.refill(None);
        }
        self.pop()
    }

    /// Waits for at least one delivery, then moves up to `limit` queued deliveries to the end
    /// of `buffer`; how many it moved. `0` once the mesh has shut down and everything queued
    /// before was taken, or when `limit` is 0.
    ///
    /// Like [`recv`](Self::recv) repeated, without waiting between the items.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn drain(inbox: &mut tern_net::quic::Inbox) {
    /// let mut deliveries = Vec::new();
    /// while inbox.recv_many(&mut deliveries, 64).await > 0 {
    ///     for delivery in deliveries.drain(..) {
    ///         println!("{delivery:?}");
    ///     }
    /// }
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// Cancel safe: a delivery is never lost by dropping this future.
    pub async fn recv_many(&mut self, buffer: &mut Vec<Delivery>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        let Some(first) = self.recv().await else {
            return 0;
        };
        buffer.push(first);
        let mut moved = 1;
        while moved < limit {
            match self.try_recv() {
                Some(delivery) => {
                    buffer.push(delivery);
                    moved += 1;
                }
                None => break,
            }
        }
        moved
    }

    /// The next delivery of the current batch. After its last, gives the batch's room back
    /// and takes what is queued as the next batch, under the same lock.
    fn pop(&mut self) -> Option<Delivery> {
        let (delivery, _) = self.batch.pop_front()?;
        if self.batch.is_empty() {
            self.refill(None);
        }
        Some(delivery)
    }

    /// Gives the current (empty) batch's room back.
    fn give_back(&mut self, s: &mut State) {
        if self.batch_items == 0 {
            return;
        }
        s.items -= self.batch_items;
        s.bytes -= self.batch_bytes;
        self.batch_items = 0;
        self.batch_bytes = 0;
        if s.waiting > 0 {
            self.queue.room.notify_waiters();
        }
    }

    /// Takes every queued delivery as the new batch: `Some(true)` if there is one,
    /// `Some(false)` if none is queued (the consumer's `waker`, if given, is woken on the next
    /// push), `None` if none is queued and none is coming.
    fn refill(&mut self, waker: Option<&Waker>) -> Option<bool> {
        let queue = self.queue.clone();
        let mut s = lock(&queue.state);
        self.give_back(&mut s);
        if s.queue.is_empty() {
            if s.ended {
                return None;
            }
            if let Some(waker) = waker {
                match &mut s.consumer {
                    Some(w) if w.will_wake(waker) => {}
                    other => *other = Some(waker.clone()),
                }
            }
            return Some(false);
        }
        std::mem::swap(&mut s.queue, &mut self.batch);
        self.batch_items = self.batch.len();
        self.batch_bytes = self.batch.iter().map(|(_, size)| size).sum();
        Some(true)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let queued = {
            let mut s = lock(&self.queue.state);
            s.dropped = true;
            s.consumer = None;
            std::mem::take(&mut s.queue)
        };
        // Producers waiting for room learn that nobody reads any more.
        self.queue.room.notify_waiters();
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proto::{Message, NodeId};

    fn message(n: u64) -> Delivery {
        Delivery::Message {
            from: NodeId::new("peer").expect("id"),
            message: Message::Ping(n),
        }
    }

    fn number(delivery: Delivery) -> u64 {
        match delivery {
            Delivery::Message {
                message: Message::Ping(n),
                ..
            } => n,
            other => panic!("{other:?}"),
        }
    }

    fn held(queue: &InboxQueue) -> (usize, usize) {
        let s = lock(&queue.state);
        (s.items, s.bytes)
    }

    async fn wait_for_waiter(queue: &InboxQueue) {
        while lock(&queue.state).waiting == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_batch_goes_in_as_far_as_it_fits_and_the_rest_follows_in_order() {
        let queue = InboxQueue::new(3, 1000);
        let mut inbox = queue.inbox();
        let producer = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut batch: VecDeque<Item> = (0..5).map(|n| (message(n), 10)).collect();
                queue.push(&mut batch).await
            })
        };
        wait_for_waiter(&queue).await;
        assert_eq!(held(&queue), (3, 30));
        let got: Vec<u64> = std::iter::from_fn(|| inbox.try_recv())
            .map(number)
            .collect();
        assert!(producer.await.expect("producer"));
        let rest: Vec<u64> = std::iter::from_fn(|| inbox.try_recv())
            .map(number)
            .collect();
        assert_eq!([got, rest].concat(), [0, 1, 2, 3, 4]);
        assert_eq!(held(&queue), (0, 0));
    }

    #[tokio::test]
    async fn bytes_bound_the_inbox_and_an_oversize_item_waits_for_it_to_be_empty() {
        let queue = InboxQueue::new(100, 100);
        let mut inbox = queue.inbox();
        assert!(queue.push_one(message(0), 60).await);
        let big = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.push_one(message(1), 1 << 20).await })
        };
        wait_for_waiter(&queue).await;
        // The big one waits first: a small one that would fit queues behind it.
        let small = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.push_one(message(2), 1).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(held(&queue), (1, 60));
        assert_eq!(inbox.recv().await.map(number), Some(0));
        assert!(big.await.expect("big"));
        assert_eq!(inbox.recv().await.map(number), Some(1));
        assert!(small.await.expect("small"));
        assert_eq!(inbox.recv().await.map(number), Some(2));
    }

    #[tokio::test]
    async fn room_comes_back_when_a_taken_batch_is_handed_out() {
        let queue = InboxQueue::new(2, 100);
        let mut inbox = queue.inbox();
        let mut batch: VecDeque<Item> = (0..2).map(|n| (message(n), 1)).collect();
        assert!(queue.push(&mut batch).await);
        assert_eq!(inbox.recv().await.map(number), Some(0));
        // One item is still in the consumer's batch: the inbox holds it.
        assert_eq!(held(&queue), (2, 2));
        assert_eq!(inbox.recv().await.map(number), Some(1));
        assert_eq!(held(&queue), (0, 0));
    }

    #[tokio::test]
    async fn recv_many_takes_what_is_there_up_to_the_limit() {
        let queue = InboxQueue::new(100, 1000);
        let mut inbox = queue.inbox();
        let mut batch: VecDeque<Item> = (0..5).map(|n| (message(n), 1)).collect();
        assert!(queue.push(&mut batch).await);
        let mut got = Vec::new();
        assert_eq!(inbox.recv_many(&mut got, 3).await, 3);
        assert_eq!(inbox.recv_many(&mut got, 0).await, 0);
        assert_eq!(inbox.recv_many(&mut got, 10).await, 2);
        assert_eq!(
            got.into_iter().map(number).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
    }

    #[tokio::test]
    async fn the_inbox_ends_after_what_was_queued_and_a_dropped_inbox_fails_pushes() {
        let queue = InboxQueue::new(1, 1000);
        let mut inbox = queue.inbox();
        let waiting = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let consumer = tokio::spawn(async move { inbox.recv().await.map(number) });
                tokio::time::sleep(Duration::from_millis(10)).await;
                assert!(queue.push_one(message(7), 1).await);
                consumer.await.expect("consumer")
            })
        };
        assert_eq!(waiting.await.expect("task"), Some(7));

        let queue = InboxQueue::new(1, 1000);
        let mut inbox = queue.inbox();
        assert!(queue.push_one(message(1), 1).await);
        queue.end();
        assert_eq!(inbox.recv().await.map(number), Some(1));
        assert_eq!(inbox.recv().await, None);

        let queue = InboxQueue::new(1, 1000);
        let inbox = queue.inbox();
        assert!(queue.push_one(message(1), 1).await);
        let blocked = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.push_one(message(2), 1).await })
        };
        wait_for_waiter(&queue).await;
        drop(inbox);
        assert!(!blocked.await.expect("blocked"));
        assert!(!queue.push_one(message(3), 1).await);
    }
}
