//! loom models of `ChanCore`'s external-future paths (send, receive, cancel, close).
//! Asserted: every value ends exactly once with a receiver, in the channel, or back with its
//! sender; sends complete; no stale waiting entry is left behind.

use std::future::poll_fn;
use std::task::Poll;

use loom::future::block_on;
use loom::thread;

use crate::channel::{ChanCore, ChannelId, ExtReg};
use crate::error::ChannelError;
use crate::sync::Arc;
use crate::value::Value;

/// What an external send ended with.
pub(super) type SendResult = Result<(), (ChannelError, Option<Value>)>;

/// A fresh channel core of capacity `cap` (0: rendezvous).
pub(super) fn chan(cap: usize) -> Arc<ChanCore> {
    ChanCore::new(ChannelId {
        name: Arc::from("loom"),
        ty: 0,
        cap,
    })
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

#[test]
fn rendezvous_send_meets_recv() {
    loom::model(|| {
        let core = chan(0);
        let c = Arc::clone(&core);
        let sender = thread::spawn(move || send(&c, 5));
        let c = Arc::clone(&core);
        let receiver = thread::spawn(move || recv(&c));
        assert!(sender.join().unwrap().is_ok(), "the send completes");
        assert_eq!(receiver.join().unwrap(), Ok(5), "the value arrives once");
        assert_eq!(core.balance(), 0);
        assert_eq!(core.len(), 0);
    });
}

#[test]
fn close_races_send_and_recv() {
    loom::model(|| {
        let core = chan(0);
        let c = Arc::clone(&core);
        let sender = thread::spawn(move || send(&c, 5));
        let c = Arc::clone(&core);
        let receiver = thread::spawn(move || recv(&c));
        core.close();
        let back = returned(sender.join().unwrap());
        let got = receiver.join().unwrap();
        match (back, got) {
            (None, Ok(5)) => {}
            (Some(5), Err(ChannelError::Closed)) => {}
            other => panic!("lost or duplicated: (returned, received) = {other:?}"),
        }
        assert_eq!(core.balance(), 0);
        assert_eq!(core.len(), 0);
    });
}

/// A receive polled once, then dropped if pending (what `RecvFuture`'s `Drop` does).
fn recv_once_then_cancel(core: &ChanCore) -> Option<u64> {
    let mut reg = ExtReg::default();
    let first = block_on(poll_fn(|cx| Poll::Ready(core.poll_recv_ext(&mut reg, cx))));
    match first {
        Poll::Ready(r) => r.ok().map(as_u64),
        Poll::Pending => {
            core.cancel_ext(&mut reg);
            None
        }
    }
}

#[test]
fn cancelled_recv_races_send_and_close() {
    loom::model(|| {
        let core = chan(0);
        let c = Arc::clone(&core);
        let sender = thread::spawn(move || send(&c, 5));
        let c = Arc::clone(&core);
        let receiver = thread::spawn(move || recv_once_then_cancel(&c));
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
        let core = chan(0);
        let c = Arc::clone(&core);
        let sender = thread::spawn(move || send(&c, 5));
        let c = Arc::clone(&core);
        let cancelled = thread::spawn(move || recv_once_then_cancel(&c));
        let c = Arc::clone(&core);
        let receiver = thread::spawn(move || recv(&c).ok());
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
        let core = chan(0);
        let c = Arc::clone(&core);
        // A send polled once, then dropped if pending: its value is dropped, unsent.
        let sender = thread::spawn(move || {
            let mut reg = ExtReg::default();
            let mut value = Some(Value::new(5u64));
            let first = block_on(poll_fn(|cx| {
                Poll::Ready(c.poll_send_ext(&mut reg, &mut value, cx))
            }));
            match first {
                Poll::Ready(r) => r.is_ok(),
                Poll::Pending => {
                    c.cancel_ext(&mut reg);
                    false
                }
            }
        });
        let c = Arc::clone(&core);
        let receiver = thread::spawn(move || recv(&c));
        let completed = sender.join().unwrap();
        core.close();
        let got = receiver.join().unwrap();
        if completed {
            assert_eq!(got, Ok(5), "a completed send was received");
        }
        assert!(matches!(got, Ok(5) | Err(ChannelError::Closed)), "{got:?}");
        assert_eq!(core.balance(), 0);
        assert_eq!(core.len(), 0);
    });
}

#[test]
fn buffered_two_senders_fifo_per_sender() {
    loom::model(|| {
        let core = chan(1);
        let c = Arc::clone(&core);
        let a = thread::spawn(move || {
            send(&c, 10).unwrap();
            send(&c, 11).unwrap();
        });
        let c = Arc::clone(&core);
        let b = thread::spawn(move || send(&c, 20).unwrap());
        let got: Vec<u64> = (0..3).map(|_| recv(&core).unwrap()).collect();
        a.join().unwrap();
        b.join().unwrap();
        let from_a: Vec<u64> = got.iter().copied().filter(|v| *v < 20).collect();
        assert_eq!(from_a, [10, 11], "FIFO per sender: {got:?}");
        assert!(got.contains(&20), "no loss: {got:?}");
        assert_eq!(core.balance(), 0);
        assert_eq!(core.len(), 0);
    });
}
