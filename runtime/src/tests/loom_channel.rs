//! loom models of `ChanCore`'s external-future paths (send, receive, cancel, close).
//! Asserted: every value ends exactly once with a receiver, in the channel, or back with its
//! sender; sends complete; no stale waiting entry is left behind.

use std::future::poll_fn;
use std::task::{Context, Poll};

use loom::future::block_on;
use loom::thread::{self, JoinHandle};

use crate::channel::{ChanCore, ChannelId, ExtReg};
use crate::error::ChannelError;
use crate::sync::Arc;
use crate::value::Value;

/// What an external send ended with.
pub(super) type SendResult = Result<(), (ChannelError, Option<Value>)>;

/// A fresh channel core of capacity `cap` (0: rendezvous).
pub(super) fn chan(cap: usize) -> Arc<ChanCore> {
    ChanCore::new(
        ChannelId {
            name: Arc::from("loom"),
            ty: 0,
            cap,
        },
        None,
    )
}

/// An external send of `v`, driven to completion (like `SendFuture`).
pub(super) fn send(core: &ChanCore, v: u64) -> SendResult {
    let mut reg = ExtReg::default();
    let mut value = Some(Value::new(v));
    block_on(poll_fn(|cx| core.poll_send_ext(&mut reg, &mut value, cx)))
}

/// An external receive, driven to completion (like `RecvFuture`).
pub(super) fn recv(core: &ChanCore) -> Result<u64, ChannelError> {
    let mut reg = ExtReg::default();
    block_on(poll_fn(|cx| core.poll_recv_ext(&mut reg, cx))).map(as_u64)
}

/// The `u64` inside a value.
pub(super) fn as_u64(v: Value) -> u64 {
    v.take::<u64>().expect("a u64")
}

/// The value a failed send handed back (it must hand one back).
pub(super) fn returned(r: SendResult) -> Option<u64> {
    match r {
        Ok(()) => None,
        Err((ChannelError::Closed, Some(v))) => Some(as_u64(v)),
        Err((e, v)) => panic!("send failed with {e:?} and {v:?}"),
    }
}

/// Receives what is left in a closed channel.
pub(super) fn drain_closed(core: &ChanCore) -> Vec<u64> {
    assert!(core.is_closed());
    let mut out = Vec::new();
    loop {
        match recv(core) {
            Ok(v) => out.push(v),
            Err(ChannelError::Closed) => return out,
            Err(e) => panic!("recv failed with {e:?}"),
        }
    }
}

/// Runs `f` on `core` in a new loom thread (the `Arc` is cloned here, before the spawn).
fn spawn_on<T: 'static>(
    core: &Arc<ChanCore>,
    f: impl FnOnce(&ChanCore) -> T + 'static,
) -> JoinHandle<T> {
    let c = Arc::clone(core);
    thread::spawn(move || f(&c))
}

/// A rendezvous channel with a sending thread running `sender` on it, then a receiving thread
/// running `receiver`.
fn rendezvous<S: 'static, R: 'static>(
    sender: impl FnOnce(&ChanCore) -> S + 'static,
    receiver: impl FnOnce(&ChanCore) -> R + 'static,
) -> (Arc<ChanCore>, JoinHandle<S>, JoinHandle<R>) {
    let core = chan(0);
    let sender = spawn_on(&core, sender);
    let receiver = spawn_on(&core, receiver);
    (core, sender, receiver)
}

/// No stale waiting entry and nothing left in the channel.
fn assert_settled(core: &ChanCore) {
    assert_eq!(core.balance(), 0);
    assert_eq!(core.len(), 0);
}

/// An external future polled once by `poll`, then dropped if pending (what the futures' `Drop`
/// does): `None` if it was cancelled.
fn once_then_cancel<T>(
    core: &ChanCore,
    mut poll: impl FnMut(&mut ExtReg, &mut Context<'_>) -> Poll<T>,
) -> Option<T> {
    let mut reg = ExtReg::default();
    let first = block_on(poll_fn(|cx| Poll::Ready(poll(&mut reg, cx))));
    match first {
        Poll::Ready(r) => Some(r),
        Poll::Pending => {
            core.cancel_ext(&mut reg);
            None
        }
    }
}

/// A receive polled once, then dropped if pending (what `RecvFuture`'s `Drop` does).
fn recv_once_then_cancel(core: &ChanCore) -> Option<u64> {
    once_then_cancel(core, |reg, cx| core.poll_recv_ext(reg, cx))
        .and_then(Result::ok)
        .map(as_u64)
}

/// A send of `v` polled once, then dropped if pending (what `SendFuture`'s `Drop` does): its
/// value is dropped, unsent. Whether the send completed.
fn send_once_then_cancel(core: &ChanCore, v: u64) -> bool {
    let mut value = Some(Value::new(v));
    once_then_cancel(core, |reg, cx| core.poll_send_ext(reg, &mut value, cx))
        .is_some_and(|r| r.is_ok())
}

#[test]
fn rendezvous_send_meets_recv() {
    loom::model(|| {
        let (core, sender, receiver) = rendezvous(|c| send(c, 5), recv);
        assert!(sender.join().unwrap().is_ok(), "the send completes");
        assert_eq!(receiver.join().unwrap(), Ok(5), "the value arrives once");
        assert_settled(&core);
    });
}

#[test]
fn close_races_send_and_recv() {
    loom::model(|| {
        let (core, sender, receiver) = rendezvous(|c| send(c, 5), recv);
        core.close();
        let back = returned(sender.join().unwrap());
        let got = receiver.join().unwrap();
        match (back, got) {
            (None, Ok(5)) => {}
            (Some(5), Err(ChannelError::Closed)) => {}
            other => panic!("lost or duplicated: (returned, received) = {other:?}"),
        }
        assert_settled(&core);
    });
}

#[test]
fn cancelled_recv_races_send_and_close() {
    loom::model(|| {
        let (core, sender, receiver) = rendezvous(|c| send(c, 5), recv_once_then_cancel);
        core.close();
        let got = receiver.join().unwrap();
        let back = returned(sender.join().unwrap());
        // A value delivered to the cancelled receiver goes back into the channel.
        let mut seen = drain_closed(&core);
        seen.extend(back);
        seen.extend(got);
        assert_eq!(
            seen,
            [5],
            "exactly once: received, returned or left in the channel"
        );
        assert_eq!(core.balance(), 0);
    });
}

#[test]
fn cancelled_recv_passes_the_value_on() {
    loom::model(|| {
        let (core, sender, cancelled) = rendezvous(|c| send(c, 5), recv_once_then_cancel);
        let receiver = spawn_on(&core, |c| recv(c).ok());
        // One receiver always stays to take the value, so the send completes.
        assert!(sender.join().unwrap().is_ok());
        let first = cancelled.join().unwrap();
        core.close(); // releases the other receiver if the first one took the value
        let second = receiver.join().unwrap();
        let mut seen = drain_closed(&core);
        seen.extend(first);
        seen.extend(second);
        assert_eq!(seen, [5], "exactly once");
        assert_eq!(core.balance(), 0);
    });
}

#[test]
fn cancelled_send_is_taken_or_dropped() {
    loom::model(|| {
        let (core, sender, receiver) = rendezvous(|c| send_once_then_cancel(c, 5), recv);
        let completed = sender.join().unwrap();
        core.close();
        let got = receiver.join().unwrap();
        if completed {
            assert_eq!(got, Ok(5), "a completed send was received");
        }
        assert!(matches!(got, Ok(5) | Err(ChannelError::Closed)), "{got:?}");
        assert_settled(&core);
    });
}

#[test]
fn buffered_two_senders_fifo_per_sender() {
    loom::model(|| {
        let core = chan(1);
        let a = spawn_on(&core, |c| {
            send(c, 10).unwrap();
            send(c, 11).unwrap();
        });
        let b = spawn_on(&core, |c| send(c, 20).unwrap());
        let got: Vec<u64> = (0..3).map(|_| recv(&core).unwrap()).collect();
        a.join().unwrap();
        b.join().unwrap();
        let from_a: Vec<u64> = got.iter().copied().filter(|v| *v < 20).collect();
        assert_eq!(from_a, [10, 11], "FIFO per sender: {got:?}");
        assert!(got.contains(&20), "no loss: {got:?}");
        assert_settled(&core);
    });
}
