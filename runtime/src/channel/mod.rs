//! Named channels: `Channel<T>`, the effects `recv`/`send`, and their futures.
//!
//! A [`Channel<T>`] is a typed handle on an untyped core owned by a node, found by name:
//! the same name on the same node is the same channel. Its identity is the name, a fingerprint
//! of `T` and the capacity; asking for a name that exists with another type or capacity gives a
//! handle whose every operation fails with [`ChannelError::Mismatch`] — never a misdecode.
//!
//! The handle serializes as its identity and, when deserialized (in a snapshot being restored,
//! or inside a task), binds to the channel of that name on the node doing the decoding. While a
//! snapshot's frames are encoded or decoded, each handle also notes its core in the snapshot's
//! channel context (`crate::snapshot::chans`), so the task's pending request can name its
//! channel by index instead of repeating the identity; elsewhere that note does nothing.
//!
//! `recv()` and `send(v)` return small descriptors that are both [`Effect`]s (inside a task, an
//! `.await` on them is a suspension point) and [`IntoFuture`]s (anywhere else, e.g. a tokio task
//! or `main`, they are ordinary futures).
//!
//! # Lifetime
//!
//! A node forgets a name that nothing refers to any more (no handle, no task waiting on it or
//! holding it in a request) and that holds nothing (no buffered value, no waiting party). Such
//! a channel can no longer be observed, so a later `channel(name)` creating a new, open one is
//! indistinguishable from keeping it — except that a channel closed and then forgotten comes
//! back open. Forgetting runs when the registry has doubled since its last pass, so memory
//! stays proportional to the channels in use and the cost is amortised over creations.
//!
//! # Cancel safety
//!
//! The futures are cancel-safe: dropping a [`RecvFuture`] before it completes loses no value (a
//! value handed to it and not yet read goes back to the front of the channel); dropping a
//! [`SendFuture`] before it completes means the value was not sent. On a node that is not the
//! channel's home (see [`crate::cluster`]), a dropped receive's value, if the home had already
//! handed it over, goes to this node's next receiver of the channel; a dropped send is
//! withdrawn at the home, but if the home had already taken the value, it was sent.

pub(crate) mod core;
pub(crate) mod remote;

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) use self::core::{ChanCore, ChannelId, ExtReg};
use crate::error::{ChannelError, MismatchError, SendError};
use crate::sync::Arc;
use crate::task::{Cx, Effect, RequestKind, RequestKindBox, Response, ResponseKind};
use crate::value::Value;

/// The bounds every channel element type meets.
pub trait Message: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Message for T {}

/// A stable fingerprint of a type: FNV-1a of its type name.
pub(crate) fn type_fingerprint<T: ?Sized>() -> u64 {
    fnv1a(std::any::type_name::<T>().as_bytes())
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A named channel carrying values of type `T`.
///
/// Cloning is cheap (a reference count). See the [module docs](self).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tern::Error> {
/// let node = tern::Node::builder("doc-channel").workers(1).start().await?;
/// let jobs = node.buffered_channel::<String>("jobs", 16);
/// jobs.send("compile".to_string()).await?;
/// assert_eq!(node.buffered_channel::<String>("jobs", 16).recv().await?, "compile");
///
/// // Same name, other type: a clear error, not a misdecode.
/// let wrong = node.buffered_channel::<u64>("jobs", 16);
/// assert!(matches!(wrong.recv().await, Err(tern::ChannelError::Mismatch(_))));
/// # node.shutdown().await; Ok(()) }
/// ```
pub struct Channel<T> {
    core: Arc<ChanCore>,
    /// Set when the existing channel of this name has another type or capacity.
    mismatch: Option<Box<MismatchError>>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            core: Arc::clone(&self.core),
            mismatch: self.mismatch.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Channel({:?}", self.core.id().name)?;
        if self.core.id().cap > 0 {
            write!(f, ", capacity {}", self.core.id().cap)?;
        }
        f.write_str(")")
    }
}

impl<T: Message> Channel<T> {
    /// Binds a handle of element type `T` and capacity `cap` to `core`.
    pub(crate) fn bind(core: Arc<ChanCore>, cap: usize) -> Channel<T> {
        let wanted_ty = type_fingerprint::<T>();
        let id = core.id();
        if id.ty == wanted_ty {
            core.ty_name.get_or_init(std::any::type_name::<T>);
        }
        let mismatch = (id.ty != wanted_ty || id.cap != cap).then(|| {
            Box::new(MismatchError {
                name: id.name.to_string(),
                expected_type: std::any::type_name::<T>(),
                expected_capacity: cap,
                found_capacity: id.cap,
                same_type: id.ty == wanted_ty,
            })
        });
        Channel {
            core,
            mismatch,
            _t: PhantomData,
        }
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.core.id().name
    }

    /// The capacity: 0 for a rendezvous channel.
    pub fn capacity(&self) -> usize {
        self.core.id().cap
    }

    /// Receives the next value, waiting for one.
    ///
    /// Inside a task, `.await` on it is a suspension point; elsewhere it is a future
    /// ([`RecvFuture`]). Yields `Err(ChannelError::Closed)` once the channel is closed and empty.
    #[must_use = "an effect does nothing until it is awaited"]
    pub fn recv(&self) -> Recv<'_, T> {
        Recv { ch: self }
    }

    /// Sends `value`, waiting until a receiver has taken it (rendezvous) or there is room in
    /// the buffer (buffered). On failure the value comes back inside the [`SendError`].
    #[must_use = "an effect does nothing until it is awaited"]
    pub fn send(&self, value: T) -> SendEffect<'_, T> {
        SendEffect { ch: self, value }
    }

    /// Closes the channel for everyone: waiting receivers and senders wake with an error
    /// (senders get their values back); values already buffered can still be received.
    pub fn close(&self) {
        self.core.close();
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Stackless' balance: the number of senders waiting (> 0) or minus the number of receivers
    /// waiting (< 0).
    pub fn balance(&self) -> isize {
        self.core.balance()
    }

    /// The number of values buffered and not yet received.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check(&self) -> Result<(), ChannelError> {
        match &self.mismatch {
            None => Ok(()),
            Some(m) => Err(ChannelError::Mismatch(m.clone())),
        }
    }
}

fn take_value<T: Message>(v: Value) -> Result<T, ChannelError> {
    v.take::<T>().map_err(|_| ChannelError::Undecodable {
        type_name: std::any::type_name::<T>(),
    })
}

/// The identity a channel handle serializes as.
#[derive(Serialize, Deserialize)]
struct WireChannel<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    ty: u64,
    cap: usize,
}

impl<T> Serialize for Channel<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let id = self.core.id();
        crate::snapshot::chans::note_encoded(&self.core);
        WireChannel {
            name: std::borrow::Cow::Borrowed(&id.name),
            ty: id.ty,
            cap: id.cap,
        }
        .serialize(s)
    }
}

impl<'de, T: Message> Deserialize<'de> for Channel<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = WireChannel::deserialize(d)?;
        if wire.ty != type_fingerprint::<T>() {
            return Err(serde::de::Error::custom(format_args!(
                "channel {:?} was serialized with another element type than `{}`",
                wire.name,
                std::any::type_name::<T>()
            )));
        }
        let node = crate::node::current().ok_or_else(|| {
            serde::de::Error::custom(
                "a Channel can only be deserialized on a node (inside a task or a restore)",
            )
        })?;
        let chan = node.channel_with_capacity::<T>(&wire.name, wire.cap);
        crate::snapshot::chans::note_decoded(&chan.core);
        Ok(chan)
    }
}

// ---- recv ------------------------------------------------------------------------------------

/// The descriptor returned by [`Channel::recv`]: an [`Effect`] inside tasks, an [`IntoFuture`]
/// elsewhere.
#[must_use = "an effect does nothing until it is awaited"]
pub struct Recv<'a, T> {
    ch: &'a Channel<T>,
}

impl<T: Message> Effect for Recv<'_, T> {
    type Output = Result<T, ChannelError>;

    #[inline]
    fn into_request(self, cx: &mut Cx<'_>) -> RequestKindBox {
        RequestKindBox(match self.ch.check() {
            Ok(()) => RequestKind::Recv {
                chan: cx.chans.take_or_clone(&self.ch.core),
            },
            Err(e) => RequestKind::Immediate(Response(ResponseKind::Channel(e, None))),
        })
    }

    fn decode(response: Response) -> Result<T, ChannelError> {
        match response.0 {
            ResponseKind::Value(v) => take_value(v),
            ResponseKind::Channel(e, _) => Err(e),
            ResponseKind::Unit
            | ResponseKind::Joined(_)
            | ResponseKind::MoveFailed(_)
            | ResponseKind::Remote(_) => Err(ChannelError::Undecodable { type_name: "()" }),
        }
    }
}

impl<'a, T: Message> IntoFuture for Recv<'a, T> {
    type Output = Result<T, ChannelError>;
    type IntoFuture = RecvFuture<'a, T>;

    fn into_future(self) -> RecvFuture<'a, T> {
        RecvFuture {
            ch: self.ch,
            reg: ExtReg::default(),
            done: false,
        }
    }
}

/// A receive awaited outside a task. Cancel-safe (see the [module docs](self)).
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    ch: &'a Channel<T>,
    reg: ExtReg,
    done: bool,
}

impl<T: Message> Future for RecvFuture<'_, T> {
    type Output = Result<T, ChannelError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Err(e) = this.ch.check() {
            this.done = true;
            return Poll::Ready(Err(e));
        }
        match this.ch.core.poll_recv_ext(&mut this.reg, cx) {
            Poll::Ready(r) => {
                this.done = true;
                // A value from another node may hold channels or remote references, which
                // bind to the node that decodes them: this channel's.
                let node = match &r {
                    Ok(Value::Encoded(_)) => this.ch.core.cluster.as_ref().and_then(|c| c.node()),
                    _ => None,
                };
                Poll::Ready(match node {
                    Some(node) => crate::node::with_current(&node, || r.and_then(take_value)),
                    None => r.and_then(take_value),
                })
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.ch.core.cancel_ext(&mut self.reg);
        }
    }
}

// ---- send ------------------------------------------------------------------------------------

/// The descriptor returned by [`Channel::send`]: an [`Effect`] inside tasks, an [`IntoFuture`]
/// elsewhere.
#[must_use = "an effect does nothing until it is awaited"]
pub struct SendEffect<'a, T> {
    ch: &'a Channel<T>,
    value: T,
}

impl<T: Message> Effect for SendEffect<'_, T> {
    type Output = Result<(), SendError<T>>;

    #[inline]
    fn into_request(self, cx: &mut Cx<'_>) -> RequestKindBox {
        RequestKindBox(match self.ch.check() {
            Ok(()) => RequestKind::Send {
                chan: cx.chans.take_or_clone(&self.ch.core),
                value: Some(Value::new(self.value)),
            },
            Err(e) => RequestKind::Immediate(Response(ResponseKind::Channel(
                e,
                Some(Value::new(self.value)),
            ))),
        })
    }

    fn decode(response: Response) -> Result<(), SendError<T>> {
        match response.0 {
            ResponseKind::Unit => Ok(()),
            ResponseKind::Channel(kind, Some(v)) => match v.take::<T>() {
                Ok(value) => Err(SendError { value, kind }),
                Err(_) => panic!("a failed send handed back a value of another type"),
            },
            other => panic!("send resumed with {other:?}"),
        }
    }
}

impl<'a, T: Message> IntoFuture for SendEffect<'a, T> {
    type Output = Result<(), SendError<T>>;
    type IntoFuture = SendFuture<'a, T>;

    fn into_future(self) -> SendFuture<'a, T> {
        SendFuture {
            ch: self.ch,
            reg: ExtReg::default(),
            value: Some(Value::new(self.value)),
            done: false,
        }
    }
}

/// A send awaited outside a task. Cancel-safe (see the [module docs](self)).
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    ch: &'a Channel<T>,
    reg: ExtReg,
    value: Option<Value>,
    done: bool,
}

impl<T: Message> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let give_back = |kind, v: Option<Value>| match v.map(Value::take::<T>) {
            Some(Ok(value)) => Err(SendError { value, kind }),
            _ => panic!("tern bug: a failed send did not hand its value back"),
        };
        if let Err(kind) = this.ch.check() {
            this.done = true;
            return Poll::Ready(give_back(kind, this.value.take()));
        }
        match this
            .ch
            .core
            .poll_send_ext(&mut this.reg, &mut this.value, cx)
        {
            Poll::Ready(r) => {
                this.done = true;
                Poll::Ready(r.or_else(|(kind, v)| give_back(kind, v)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.ch.core.cancel_ext(&mut self.reg);
        }
    }
}
