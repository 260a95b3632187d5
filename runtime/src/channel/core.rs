//! The untyped core of a named channel: one queue of values and two queues of waiting parties.
//!
//! # State
//!
//! - `buffer`: values sent and not yet received, at most `cap` of them — plus, past the cap,
//!   values handed back by cancelled receivers (they go to the front, so FIFO holds);
//! - `senders`: parties blocked in `send`, oldest first, each still holding its value;
//! - `receivers`: parties blocked in `recv`, oldest first.
//!
//! Invariants (checked by the tests and the loom models): `senders` and `receivers` are never
//! both non-empty; `receivers` non-empty implies `buffer` empty; `senders` non-empty implies the
//! buffer is full. A rendezvous channel is the case `cap == 0`: a send completes only when a
//! receiver takes the value.
//!
//! A party is a task (parked in its [`TaskShared`] cell, see `task::cell`) or an external future
//! (an [`ExtSlot`]). Matching takes the party out of its cell or slot; a party that is gone
//! (withdrawn by a freezer, or a dropped future) is skipped, so a value is delivered to exactly
//! one live party or stays in the channel.
//!
//! # Reference counts
//!
//! A task's entry ([`Parked`]) holds no count on its `TaskShared` (`task::cell`, "Channel wait
//! queues", says why it is alive whenever it is used), and a task that parks keeps the channel
//! reference its request brought (moved into the pending request, not cloned). A completed
//! request leaves that reference in the task's channel cache (`task::ChanCache`), where the
//! next request on the same channel takes it back, so a same-worker hand-off moves no
//! reference count at all.
//!
//! # The lock
//!
//! The state sits behind a [`BiasedLock`]: the worker that first uses a channel enters it with
//! plain loads and stores for as long as no other thread comes (a same-worker hand-off then
//! executes no locked instruction); the first other thread revokes the bias for good.
//!
//! Lock order: the channel's lock, then a task cell's or an external slot's lock.

use std::collections::VecDeque;
use std::fmt;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use crate::bias::{BiasedGuard, BiasedLock};
use crate::cluster::Cluster;
use crate::error::ChannelError;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::task::RequestKind;
use crate::task::{Response, ResponseKind, Task, TaskShared};
use crate::value::Value;

/// What makes two channels the same: name, element type fingerprint and capacity.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ChannelId {
    pub(crate) name: Arc<str>,
    /// Fingerprint of the element type (see `channel::type_fingerprint`).
    pub(crate) ty: u64,
    /// 0 for a rendezvous channel.
    pub(crate) cap: usize,
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}(type {:016x}, capacity {})",
            self.name, self.ty, self.cap
        )
    }
}

/// A waiting party.
pub(crate) enum Waiter {
    Task(Parked),
    Ext(Arc<ExtSlot>),
    /// A party on another node, at this channel's home (see `channel::remote`).
    Remote(Box<super::remote::RemoteParty>),
}

/// A wait queue's entry for a task parked in its cell: the address of its `TaskShared`, without
/// a reference count ([`TaskShared::park_in_channel`]).
pub(crate) struct Parked(pub(super) NonNull<TaskShared>);

// SAFETY: a `Parked` is an address of a `TaskShared`, which is `Sync`; it is dereferenced only
// under its channel's lock (see `Parked::unpark`), from whichever thread holds it.
unsafe impl Send for Parked {}

impl Parked {
    /// Parks `task` in its cell; the entry to queue. Call with the channel's lock held.
    #[inline]
    pub(super) fn park(task: Box<Task>) -> Parked {
        Parked(TaskShared::park_in_channel(task))
    }

    /// Whether this entry is `shared`'s.
    pub(super) fn is(&self, shared: &TaskShared) -> bool {
        std::ptr::eq(self.0.as_ptr(), shared)
    }

    /// Takes the task out of its cell, if it is still there (a freezer may have taken it).
    ///
    /// Only ever called under the channel's lock on an entry just popped from its queue (every
    /// caller is a `ChanState` method or holds the guard).
    #[inline]
    pub(super) fn unpark(self) -> Option<Box<Task>> {
        // SAFETY: the entry was in this channel's queue and the channel's lock is held, so the
        // `TaskShared` is alive: its task, in the cell, holds a count, or a freezer that took the
        // task holds one until it has withdrawn this entry under the same lock (`task::cell`,
        // "Channel wait queues").
        let shared = unsafe { self.0.as_ref() };
        shared.unpark()
    }
}

/// The rendezvous point of an external (non-task) future waiting on a channel.
#[derive(Default)]
pub(crate) struct ExtSlot {
    pub(super) state: Mutex<ExtState>,
}

#[derive(Default)]
pub(super) struct ExtState {
    /// A sender's value until a receiver takes it; a receiver's value once delivered.
    pub(super) value: Option<Value>,
    /// Set once the operation completed.
    pub(super) done: Option<Result<(), ChannelError>>,
    pub(super) waker: Option<Waker>,
    /// The future was dropped before completion: skip this party.
    pub(super) cancelled: bool,
    /// The operation must start again from the beginning (its channel's home moved here).
    pub(super) restart: bool,
}

impl ExtState {
    /// Whether the future still waits: not completed, not cancelled.
    pub(super) fn is_live(&self) -> bool {
        !self.cancelled && self.done.is_none()
    }

    /// Completes the operation with `result` and wakes the future.
    pub(super) fn complete(&mut self, result: Result<(), ChannelError>) {
        self.restart = false;
        self.done = Some(result);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// An external future's registration with a channel; drop it through [`ChanCore::cancel_ext`].
#[derive(Default)]
pub(crate) struct ExtReg {
    pub(super) slot: Option<Arc<ExtSlot>>,
}

/// The channel core.
pub(crate) struct ChanCore {
    pub(super) id: ChannelId,
    /// Biased to the first worker that uses the channel (see `bias`). Entered through
    /// [`ChanCore::enter`] only, which keeps `seen` up to date.
    state: BiasedLock<ChanState>,
    /// What the queries read without entering the lock (see [`Seen`]).
    seen: Seen,
    /// The node's cluster, when the node listens (`crate::cluster`).
    pub(super) cluster: Option<std::sync::Arc<Cluster>>,
    /// The element type's name, once a typed handle has bound (for error messages).
    pub(super) ty_name: std::sync::OnceLock<&'static str>,
}

/// The channel's counts, published by the [`StateGuard`] before it releases a waiting party
/// and as it leaves the lock. The queries (`balance`, `len`, `is_closed`, `is_idle`) read these
/// instead of entering the lock, so watching a channel from outside the executor does not
/// revoke its worker's bias. A query answers the counts of some moment between its call and
/// its return (a moment inside an operation that refills a buffer from a waiting sender may
/// show the buffer one short); whoever learns of a match from the released party — its
/// response, a value on another channel — reads counts at least as new as that match.
#[derive(Default)]
struct Seen {
    /// Senders waiting minus receivers waiting, as `isize` bits.
    balance: AtomicUsize,
    /// Values buffered.
    len: AtomicUsize,
    closed: AtomicBool,
    /// The channel has cluster bookkeeping that must outlive its handles (operations in
    /// flight or logged, credit granted or held): the node must not forget it.
    pinned: AtomicBool,
}

/// Inside a channel's lock; publishes the counts to [`Seen`] on the way out.
pub(super) struct StateGuard<'a> {
    pub(super) core: &'a ChanCore,
    /// Dropped by hand in `drop`, after the messages for other nodes are handed to the
    /// mesh: handed over under the lock, they leave in the order of the lock (an operation
    /// is never overtaken by its own withdrawal sent from another thread).
    st: std::mem::ManuallyDrop<BiasedGuard<'a, ChanState>>,
}

impl Drop for StateGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.publish();
        let out = match &mut self.st.net {
            None => None,
            Some(net) => net.take_outbox(),
        };
        // `transmit` never waits: it writes into the lane's buffer or queues behind the
        // lane's writer task.
        if let (Some(out), Some(cluster)) = (out, &self.core.cluster) {
            for (to, message) in out {
                cluster.transmit(&to, message);
            }
        }
        // SAFETY: `st` is dropped here once and never used again.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.st) };
    }
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = ChanState;
    #[inline(always)]
    fn deref(&self) -> &ChanState {
        &self.st
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut ChanState {
        &mut self.st
    }
}

#[derive(Default)]
pub(super) struct ChanState {
    pub(super) buffer: VecDeque<Value>,
    pub(super) senders: VecDeque<Waiter>,
    pub(super) receivers: VecDeque<Waiter>,
    pub(super) closed: bool,
    /// Cluster bookkeeping, made on the first operation of a listening node
    /// (`channel::remote`).
    pub(super) net: Option<Box<super::remote::NetState>>,
}

pub(super) fn respond(task: Box<Task>, kind: ResponseKind) {
    task.complete(Response(kind));
}

// The operations on the state live on the guard, which can publish the counts (`publish`)
// before a party it releases can tell anyone: a thread that learns of a match through the
// released party then never reads counts older than the match.
impl StateGuard<'_> {
    /// Publishes the counts to [`Seen`].
    #[inline]
    pub(super) fn publish(&self) {
        let st = &*self.st;
        let (senders, receivers) = match &st.net {
            None => (st.senders.len(), st.receivers.len()),
            Some(net) => {
                let (s, r) = net.in_flight_counts();
                (st.senders.len() + s, st.receivers.len() + r)
            }
        };
        let balance = senders as isize - receivers as isize;
        let seen = &self.core.seen;
        seen.balance.store(balance as usize, Ordering::Release);
        seen.len.store(st.buffer.len(), Ordering::Release);
        seen.closed.store(st.closed, Ordering::Release);
        if let Some(net) = &st.net {
            seen.pinned.store(net.is_pinned(), Ordering::Release);
        }
    }

    /// Hands `v` to the oldest live waiting receiver, or gives it back.
    pub(super) fn deliver(&mut self, mut v: Value) -> Result<(), Value> {
        while let Some(w) = self.receivers.pop_front() {
            match w {
                Waiter::Task(parked) => {
                    if let Some(task) = parked.unpark() {
                        self.publish();
                        respond(task, ResponseKind::Value(v));
                        return Ok(());
                    }
                }
                Waiter::Ext(slot) => {
                    let mut s = slot.state.lock();
                    if s.is_live() {
                        self.publish();
                        s.value = Some(v);
                        s.complete(Ok(()));
                        return Ok(());
                    }
                }
                Waiter::Remote(party) => match self.deliver_remote(*party, v) {
                    Ok(()) => return Ok(()),
                    Err(back) => v = back,
                },
            }
        }
        Err(v)
    }

    /// Takes the value of the oldest live waiting sender, completing its send.
    fn take_from_sender(&mut self) -> Option<Value> {
        while let Some(w) = self.senders.pop_front() {
            match w {
                Waiter::Task(parked) => {
                    if let Some(mut task) = parked.unpark() {
                        let value = task.take_send_value();
                        self.publish();
                        respond(task, ResponseKind::Unit);
                        if value.is_some() {
                            return value;
                        }
                    }
                }
                Waiter::Ext(slot) => {
                    let mut s = slot.state.lock();
                    if s.is_live() {
                        let v = s.value.take();
                        self.publish();
                        s.complete(Ok(()));
                        if v.is_some() {
                            return v;
                        }
                    }
                }
                Waiter::Remote(party) => {
                    if let Some(v) = self.take_remote(*party) {
                        return Some(v);
                    }
                }
            }
        }
        None
    }

    /// The next value for a receiver, if one is available without waiting.
    pub(super) fn take_value(&mut self, cap: usize) -> Option<Value> {
        if let Some(v) = self.buffer.pop_front() {
            if self.buffer.len() < cap {
                if let Some(next) = self.take_from_sender() {
                    self.buffer.push_back(next);
                }
            }
            return Some(v);
        }
        self.take_from_sender()
    }

    /// Offers `v` without waiting: to a receiver, else to the buffer; gives it back when full.
    pub(super) fn offer(&mut self, v: Value, cap: usize) -> Result<(), Value> {
        let v = match self.deliver(v) {
            Ok(()) => return Ok(()),
            Err(v) => v,
        };
        if self.buffer.len() < cap {
            self.buffer.push_back(v);
            Ok(())
        } else {
            Err(v)
        }
    }
}

impl ChanCore {
    pub(crate) fn new(id: ChannelId, cluster: Option<std::sync::Arc<Cluster>>) -> Arc<ChanCore> {
        Arc::new(ChanCore {
            id,
            state: BiasedLock::new(ChanState::default()),
            seen: Seen::default(),
            cluster,
            ty_name: std::sync::OnceLock::new(),
        })
    }

    pub(crate) fn id(&self) -> &ChannelId {
        &self.id
    }

    /// Enters the channel's lock.
    #[inline(always)]
    pub(super) fn enter(&self) -> StateGuard<'_> {
        StateGuard {
            core: self,
            st: std::mem::ManuallyDrop::new(self.state.lock()),
        }
    }

    // ---- tasks -------------------------------------------------------------------------------

    /// Performs a `Send` of the value in the task's pending request (the loom models' entry).
    #[cfg(all(test, tern_loom))]
    pub(crate) fn send_task(chan: Arc<Self>, mut task: Box<Task>) -> Option<Box<Task>> {
        let value = task.take_send_value();
        ChanCore::send_value(chan, task, value)
    }

    /// Performs a task's `Send` of `value` on `chan`, the reference its request brought.
    /// Returns the task when the send completed (or failed) at once, with its response set;
    /// `None` when the task was parked, holding the request — and `chan`, moved, not cloned.
    #[inline]
    pub(crate) fn send_value(
        chan: Arc<ChanCore>,
        mut task: Box<Task>,
        value: Option<Value>,
    ) -> Option<Box<Task>> {
        let Some(value) = value else {
            // A send whose value is gone has already been delivered: complete it.
            task.chans.put(chan);
            task.respond(Response(ResponseKind::Unit));
            return Some(task);
        };
        let core = Arc::as_ptr(&chan);
        // SAFETY: `chan` is alive until it moves into the task (its request or its channel
        // cache) below; the task is then either returned, keeping it, or holds it in its cell
        // until the guard is dropped (module docs of `task::cell`: a
        // matcher needs this lock to take it out, and a freezer that takes it keeps the task
        // until it has withdrawn the request under this lock).
        let core = unsafe { &*core };
        let mut st = core.enter();
        if core.cluster.is_some() {
            if let Some(home) = st.remote_home() {
                return st.proxy_task_send(home, chan, task, value);
            }
        }
        if st.closed {
            task.chans.put(chan);
            task.respond(Response(ResponseKind::Channel(
                ChannelError::Closed,
                Some(value),
            )));
            return Some(task);
        }
        match st.offer(value, core.id.cap) {
            Ok(()) => {
                task.chans.put(chan);
                task.respond(Response(ResponseKind::Unit));
                Some(task)
            }
            Err(value) => {
                task.set_pending(RequestKind::Send {
                    chan,
                    value: Some(value),
                });
                st.senders.push_back(Waiter::Task(Parked::park(task)));
                None
            }
        }
    }

    /// Performs a task's `Recv` on `chan`; like [`send_value`](Self::send_value).
    #[inline]
    pub(crate) fn recv_task(chan: Arc<ChanCore>, mut task: Box<Task>) -> Option<Box<Task>> {
        let core = Arc::as_ptr(&chan);
        // SAFETY: as in `send_value`: `chan` moves into the task, which is returned or stays
        // in the cell while the guard is held.
        let core = unsafe { &*core };
        let mut st = core.enter();
        if core.cluster.is_some() {
            if let Some(home) = st.remote_home() {
                return st.proxy_task_recv(home, chan, task);
            }
        }
        let kind = if let Some(v) = st.take_value(core.id.cap) {
            ResponseKind::Value(v)
        } else if st.closed {
            ResponseKind::Channel(ChannelError::Closed, None)
        } else {
            task.set_pending(RequestKind::Recv { chan });
            st.receivers.push_back(Waiter::Task(Parked::park(task)));
            return None;
        };
        task.chans.put(chan);
        task.respond(Response(kind));
        Some(task)
    }

    /// Removes a withdrawn task's (stale) entries from the wait queues. When the task's
    /// operation is in flight at another node (the channel's home), asks the home to withdraw
    /// it and returns where its answer will arrive: the request is withdrawn, or its outcome
    /// had already been decided there (see `channel::remote`).
    pub(crate) fn withdraw(&self, shared: &TaskShared) -> Option<super::remote::Withdrawal> {
        let mut st = self.enter();
        let keep = |w: &Waiter| !matches!(w, Waiter::Task(p) if p.is(shared));
        st.senders.retain(keep);
        st.receivers.retain(keep);
        st.withdraw_in_flight(shared)
    }

    // ---- external futures --------------------------------------------------------------------

    /// Polls an external send of `value` (taken on the first poll).
    ///
    /// On failure the value is handed back with the error.
    pub(crate) fn poll_send_ext(
        &self,
        reg: &mut ExtReg,
        value: &mut Option<Value>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), (ChannelError, Option<Value>)>> {
        if let Some(slot) = &reg.slot {
            let mut s = slot.state.lock();
            if s.restart {
                // The home moved here: start again with the value.
                *value = s.value.take();
                drop(s);
                reg.slot = None;
                return self.poll_send_ext(reg, value, cx);
            }
            return match s.done.take() {
                Some(Ok(())) => Poll::Ready(Ok(())),
                Some(Err(e)) => Poll::Ready(Err((e, s.value.take()))),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            };
        }
        let Some(v) = value.take() else {
            return Poll::Ready(Ok(()));
        };
        let mut st = self.enter();
        if self.cluster.is_some() {
            if let Some(home) = st.remote_home() {
                return st.proxy_ext_send(home, reg, v, cx);
            }
        }
        if st.closed {
            return Poll::Ready(Err((ChannelError::Closed, Some(v))));
        }
        match st.offer(v, self.id.cap) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(v) => {
                let slot = Arc::new(ExtSlot::default());
                {
                    let mut s = slot.state.lock();
                    s.value = Some(v);
                    s.waker = Some(cx.waker().clone());
                }
                st.senders.push_back(Waiter::Ext(Arc::clone(&slot)));
                reg.slot = Some(slot);
                Poll::Pending
            }
        }
    }

    /// Polls an external receive.
    pub(crate) fn poll_recv_ext(
        &self,
        reg: &mut ExtReg,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Value, ChannelError>> {
        if let Some(slot) = &reg.slot {
            let mut s = slot.state.lock();
            if s.restart {
                drop(s);
                reg.slot = None;
                return self.poll_recv_ext(reg, cx);
            }
            return match s.done.take() {
                Some(Ok(())) => match s.value.take() {
                    Some(v) => Poll::Ready(Ok(v)),
                    None => Poll::Ready(Err(ChannelError::Closed)),
                },
                Some(Err(e)) => Poll::Ready(Err(e)),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            };
        }
        let mut st = self.enter();
        if self.cluster.is_some() {
            if let Some(home) = st.remote_home() {
                return st.proxy_ext_recv(home, reg, cx);
            }
        }
        if let Some(v) = st.take_value(self.id.cap) {
            return Poll::Ready(Ok(v));
        }
        if st.closed {
            return Poll::Ready(Err(ChannelError::Closed));
        }
        let slot = Arc::new(ExtSlot::default());
        slot.state.lock().waker = Some(cx.waker().clone());
        st.receivers.push_back(Waiter::Ext(Arc::clone(&slot)));
        reg.slot = Some(slot);
        Poll::Pending
    }

    /// Cancels an external registration (its future was dropped). A value delivered to a
    /// receiver that never read it goes back to the front of the channel; a sender's value that
    /// no receiver took is dropped, unsent.
    pub(crate) fn cancel_ext(&self, reg: &mut ExtReg) {
        let Some(slot) = reg.slot.take() else { return };
        let mut st = self.enter();
        if st.cancel_in_flight(&slot) {
            return;
        }
        let mut s = slot.state.lock();
        match s.done {
            None => {
                s.cancelled = true;
                s.value = None;
                drop(s);
                st.senders
                    .retain(|w| !matches!(w, Waiter::Ext(x) if Arc::ptr_eq(x, &slot)));
                st.receivers
                    .retain(|w| !matches!(w, Waiter::Ext(x) if Arc::ptr_eq(x, &slot)));
            }
            Some(Ok(())) => {
                // A receiver that was handed a value and dropped before reading it.
                if let Some(v) = s.value.take() {
                    drop(s);
                    if let Err(v) = st.deliver(v) {
                        st.buffer.push_front(v);
                    }
                }
            }
            Some(Err(_)) => {}
        }
    }

    // ---- control -----------------------------------------------------------------------------

    /// Closes the channel: every waiting receiver gets [`ChannelError::Closed`], every waiting
    /// sender gets its value back. Buffered values stay receivable.
    pub(crate) fn close(&self) {
        let mut st = self.enter();
        if self.cluster.is_some() {
            if let Some(home) = st.remote_home() {
                st.proxy_close(home);
                return;
            }
        }
        st.closed = true;
        let receivers = std::mem::take(&mut st.receivers);
        let senders = std::mem::take(&mut st.senders);
        st.publish();
        for w in receivers {
            match w {
                Waiter::Task(parked) => {
                    if let Some(task) = parked.unpark() {
                        respond(task, ResponseKind::Channel(ChannelError::Closed, None));
                    }
                }
                Waiter::Ext(slot) => Self::fail_ext(&slot),
                Waiter::Remote(party) => st.answer_closed(*party),
            }
        }
        for w in senders {
            match w {
                Waiter::Task(parked) => {
                    if let Some(mut task) = parked.unpark() {
                        let value = task.take_send_value();
                        respond(task, ResponseKind::Channel(ChannelError::Closed, value));
                    }
                }
                Waiter::Ext(slot) => Self::fail_ext(&slot),
                Waiter::Remote(party) => st.answer_closed(*party),
            }
        }
    }

    pub(super) fn fail_ext(slot: &ExtSlot) {
        let mut s = slot.state.lock();
        if s.is_live() {
            s.complete(Err(ChannelError::Closed));
        }
    }

    /// Whether the channel holds nothing: no buffered value and no waiting party.
    pub(crate) fn is_idle(&self) -> bool {
        // The waiting senders and receivers are never both non-empty: a balance of 0 means
        // neither waits.
        self.balance() == 0 && self.len() == 0 && !self.seen.pinned.load(Ordering::Acquire)
    }

    /// Whether [`close`](Self::close) has been called.
    pub(crate) fn is_closed(&self) -> bool {
        self.seen.closed.load(Ordering::Acquire)
    }

    /// Senders waiting minus receivers waiting (Stackless' `balance`).
    pub(crate) fn balance(&self) -> isize {
        self.seen.balance.load(Ordering::Acquire) as isize
    }

    /// Values buffered and not yet received.
    pub(crate) fn len(&self) -> usize {
        self.seen.len.load(Ordering::Acquire)
    }

    /// Drops every waiting task (the node is shutting down); their joiners see a cancel.
    #[expect(clippy::vec_box, reason = "tasks move between owners as boxes")]
    pub(crate) fn drain_tasks(&self) -> Vec<Box<Task>> {
        let mut st = self.enter();
        let mut out = Vec::new();
        let senders = std::mem::take(&mut st.senders);
        let receivers = std::mem::take(&mut st.receivers);
        st.publish();
        for w in senders.into_iter().chain(receivers) {
            match w {
                Waiter::Task(parked) => out.extend(parked.unpark()),
                Waiter::Ext(slot) => Self::fail_ext(&slot),
                // The node shuts down: the party's node sees it go down.
                Waiter::Remote(_) => {}
            }
        }
        out
    }
}
