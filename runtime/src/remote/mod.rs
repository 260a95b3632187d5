//! Remote references: objects that stay on their node, called from anywhere.
//!
//! Some things cannot move with a task: a database connection, a large index, the owner of a
//! socket. [`Node::expose`](crate::Node::expose) publishes such an object and returns a
//! [`Remote<dyn Trait>`](Remote): a small reference that is `Clone`, `Serialize` and
//! `Deserialize`, so it travels in channel messages and in task snapshots like any value.
//! Calling a method through it from any node sends only the arguments to the object's
//! *owner* node and brings back only the result.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use tern::{Node, Remote};
//!
//! /// A counter that lives on one node.
//! #[tern::remote]
//! pub trait Counter {
//!     async fn add(&self, n: u64) -> u64;
//! }
//!
//! #[derive(Default)]
//! struct Local(AtomicU64);
//!
//! #[tern::remote]
//! impl Counter for Local {
//!     async fn add(&self, n: u64) -> u64 {
//!         self.0.fetch_add(n, Ordering::SeqCst) + n
//!     }
//! }
//!
//! let alpha = Node::builder("alpha").listen("127.0.0.1:0".parse()?).start().await?;
//! let beta = Node::builder("beta").listen("127.0.0.1:0".parse()?).start().await?;
//! alpha.connect(beta.local_addr().unwrap()).await?;
//!
//! let counter: Remote<dyn Counter> = alpha.expose(Local::default());
//! // Send the reference to beta through a channel; calls from there go back to alpha.
//! let refs = alpha.buffered_channel::<Remote<dyn Counter>>("counters", 1);
//! refs.send(counter.clone()).await?;
//! let on_beta = beta.buffered_channel::<Remote<dyn Counter>>("counters", 1).recv().await?;
//! assert_eq!(on_beta.add(2).await?, 2);
//! assert_eq!(counter.add(3).await?, 5);
//! # alpha.shutdown().await; beta.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Interfaces
//!
//! `#[tern::remote]` on a trait whose methods are `async fn(&self, …)` makes it an
//! interface: it adds `Send + Sync + 'static` to the trait's supertraits, turns each method
//! into one returning a boxed future (so `dyn Trait` exists), and generates the proxy that
//! [`Remote<dyn Trait>`](Remote) dereferences to: one method per trait method, taking the same
//! arguments and returning a [`Call`], which resolves to `Result<Output, RemoteError>`. Put
//! `#[tern::remote]` on each `impl` of the trait as well (it boxes the `async fn`s the same
//! way).
//!
//! A `Call` is awaited like a future in ordinary async code, and inside a
//! `#[migratable]` function it is a suspension point like a channel receive: the task waits
//! for the reply as a request to the runtime. A task cannot be frozen while one of its calls
//! runs: a move or snapshot waits for the reply (a call is not withdrawn, since the owner may
//! already have acted on it).
//!
//! # Copy rules
//!
//! - **Arguments and results are copied**: they are `Serialize + DeserializeOwned`, encoded
//!   with postcard, and the method sees its own copy — also when the caller is on the owner
//!   node, so a call means the same thing wherever it comes from.
//! - **References stay references**: a `Remote<…>` argument or result is copied as a
//!   reference to the same object, so a callback to an object of the caller works (the
//!   callee calls back through it).
//! - **Errors cross typed**: a method that returns `Result<T, E>` gives its caller
//!   `Ok(Err(e))` with the `E` it returned. Failures of the call itself are a
//!   [`RemoteError`]: the owner's node, a [`RemoteErrorKind`], a message and, when the method
//!   panicked, a [`TaskReport`] with the panic. A panic inside a method is an error for its
//!   caller; the owner keeps running.
//!
//! # Copies and collections
//!
//! When a task wants the data itself rather than calls on it, expose the object with
//! [`Node::expose_fetchable`](crate::Node::expose_fetchable): [`Remote::fetch`] then brings a
//! copy of it to the caller. Large collections stay put and are read lazily:
//! [`Node::expose_vec`](crate::Node::expose_vec) and
//! [`Node::expose_map`](crate::Node::expose_map) give a [`RemoteVec`] or [`RemoteMap`] whose
//! `len`, `get` and `iter` fetch what is used, in pages (see [`collections`]).
//!
//! # Lifetime
//!
//! The owner counts the references each node holds, and the references in transit (see
//! `tern_net::proto::remote` for the protocol). An object is dropped on its owner once no node
//! holds a reference and none is in transit — and never while one does. A node that
//! restarts, or stays unreachable past the grace period, is counted as holding nothing. A
//! reference that is serialized but never deserialized (a message dropped with a closed
//! channel) keeps its object alive: a leak, never a dangling reference. A reference whose
//! owner is gone fails its calls with [`RemoteErrorKind::Gone`] or
//! [`RemoteErrorKind::NodeDown`].

mod call;
pub mod collections;
mod table;

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tern_net::proto::remote::{MinterId, ObjectId};

pub use call::Call;
pub(crate) use call::CallSpec;
pub use collections::{RemoteMap, RemoteMapIter, RemoteVec, RemoteVecIter, DEFAULT_PAGE, MAX_PAGE};
pub(crate) use table::{Fetch, Handle, Objects};

use crate::task::TaskReport;
use crate::NodeId;

/// A boxed future that can move between threads: what interface methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What an interface method's dispatcher returns: the result encoded, or why not.
#[doc(hidden)]
pub type Dispatched = BoxFuture<'static, Result<Vec<u8>, Fault>>;

/// A trait made remote by `#[tern::remote]`, seen as `dyn Trait`. Generated; do not implement
/// it by hand unless you write what the macro would.
pub trait Interface: Send + Sync + 'static {
    /// The trait's path, for messages and for checking a reference's type on decode.
    const NAME: &'static str;
    /// A hash of the trait's definition: a call from a build whose trait differs is refused
    /// ([`RemoteErrorKind::Mismatch`]).
    const FINGERPRINT: u64;
    /// The method names, by index.
    const METHODS: &'static [&'static str];
    /// What [`Remote<Self>`](Remote) dereferences to: one method per trait method. It must
    /// be a `#[repr(transparent)]` struct holding only a [`RawRemote`] (checked when a
    /// `Remote` is made).
    type Proxy: Clone + Send + Sync + 'static;

    /// Wraps an untyped reference in the proxy.
    #[doc(hidden)]
    fn proxy(raw: RawRemote) -> Self::Proxy;

    /// The untyped reference inside a proxy.
    #[doc(hidden)]
    fn raw(proxy: &Self::Proxy) -> &RawRemote;

    /// Runs method number `method` of `this` with the encoded `args`.
    #[doc(hidden)]
    fn dispatch(this: Arc<Self>, method: u16, args: Vec<u8>) -> Dispatched;
}

/// `S` can be exposed as the interface `Self` (generated for every `S` that implements the
/// trait).
pub trait Implements<S>: Interface {
    /// Puts `obj` behind the interface (an unsizing coercion: the allocation is shared).
    fn wrap(obj: Arc<S>) -> Arc<Self>;
}

/// A reference to an object exposed on some node of the cluster, usable from every node.
///
/// Dereferences to the interface's proxy, whose methods return [`Call`]s. See the [module
/// documentation](self) for the copy rules and the lifetime of the object.
pub struct Remote<T: ?Sized> {
    // Only the untyped reference: a field of type `T::Proxy` would make the compiler lose
    // `dyn Trait`'s `'static` when it checks that a future holding a `Remote` is `Send`.
    raw: RawRemote,
    _t: PhantomData<fn() -> Box<T>>,
}

impl<T: ?Sized + Interface> Remote<T> {
    pub(crate) fn from_raw(raw: RawRemote) -> Self {
        check_proxy_layout::<T>(&raw);
        Remote {
            raw,
            _t: PhantomData,
        }
    }

    fn raw(&self) -> &RawRemote {
        &self.raw
    }

    /// The node that owns the object (where its methods run).
    pub fn owner(&self) -> &NodeId {
        &self.raw().handle.owner
    }

    /// A copy of the object itself, as of the call, decoded as `S` — for an object exposed
    /// with [`Node::expose_fetchable`](crate::Node::expose_fetchable), when the caller wants
    /// the data rather than calls on it. `S` must be the object's type (checked by the owner:
    /// [`RemoteErrorKind::Mismatch`] otherwise); an object exposed with `expose` cannot be
    /// copied ([`RemoteErrorKind::UnknownMethod`]).
    pub fn fetch<S: DeserializeOwned + Send + 'static>(&self) -> Call<S> {
        let ty = crate::channel::type_fingerprint::<S>();
        self.raw.call(table::FETCH_METHOD, &(ty,))
    }

    /// Whether `a` and `b` refer to the same object.
    pub fn same_object(a: &Self, b: &Self) -> bool {
        let (a, b) = (&a.raw().handle, &b.raw().handle);
        a.owner == b.owner && a.obj == b.obj
    }
}

/// Checks that `T::Proxy` is a transparent wrapper of [`RawRemote`] (what `#[tern::remote]`
/// generates: `#[repr(transparent)]`), so that a `&RawRemote` can be viewed as a proxy.
///
/// # Panics
/// When it is not: a hand-written [`Interface`] whose proxy holds more than the reference.
fn check_proxy_layout<T: ?Sized + Interface>(raw: &RawRemote) {
    use std::mem::{align_of, size_of};
    let proxy = T::proxy(raw.clone());
    let outer = std::ptr::from_ref(&proxy).cast::<u8>();
    let inner = std::ptr::from_ref(T::raw(&proxy)).cast::<u8>();
    assert!(
        size_of::<T::Proxy>() == size_of::<RawRemote>()
            && align_of::<T::Proxy>() == align_of::<RawRemote>()
            && std::ptr::eq(outer, inner),
        "the proxy of `{}` must be a #[repr(transparent)] struct holding only a RawRemote",
        T::NAME
    );
}

impl<T: ?Sized + Interface> Deref for Remote<T> {
    type Target = T::Proxy;

    fn deref(&self) -> &T::Proxy {
        // SAFETY: `from_raw`, the only constructor, checked that `T::Proxy` has the size and
        // alignment of `RawRemote` and holds it at offset 0: a transparent wrapper, as
        // `#[tern::remote]` declares it (`#[repr(transparent)]`).
        unsafe { &*std::ptr::from_ref(&self.raw).cast::<T::Proxy>() }
    }
}

impl<T: ?Sized> Clone for Remote<T> {
    fn clone(&self) -> Self {
        Remote {
            raw: self.raw.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: ?Sized + Interface> fmt::Debug for Remote<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.raw().handle;
        write!(
            f,
            "Remote<{}>(object {} on {})",
            T::NAME,
            h.obj.seq,
            h.owner
        )
    }
}

impl<T: ?Sized> Serialize for Remote<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de, T: ?Sized + Interface> Deserialize<'de> for Remote<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = WireRef::deserialize(d)?;
        if wire.key != interface_key(T::NAME) {
            return Err(serde::de::Error::custom(format_args!(
                "a remote reference of another interface was decoded as `Remote<dyn {}>`",
                T::NAME
            )));
        }
        let node = crate::node::current().ok_or_else(|| {
            serde::de::Error::custom(
                "a Remote can only be deserialized on a node (inside a task, a channel receive or a restore)",
            )
        })?;
        let handle = node.inner.objects.adopt(
            &node.inner,
            table::Adoption {
                owner: wire.owner,
                obj: wire.obj,
                // The interface this build calls it through: the owner checks it against its
                // own (version skew), whatever the sender's build was.
                iface: T::FINGERPRINT,
                minter: wire.minter,
                token: wire.token,
            },
            T::NAME,
            T::METHODS,
        );
        Ok(Remote::from_raw(RawRemote { handle }))
    }
}

/// Performs a task's remote call: parks the task and makes the call on the node's tokio
/// runtime; the reply completes the task.
pub(crate) fn perform(
    mut task: Box<crate::task::Task>,
    mut call: Box<CallSpec>,
) -> Option<Box<crate::task::Task>> {
    use crate::task::{RequestKind, Response, ResponseKind, TaskShared};
    let Some(node) = call.target.handle.node.upgrade() else {
        let e = call.target.handle.error(
            call.method,
            RemoteErrorKind::ShuttingDown,
            "the node this reference belongs to has stopped",
        );
        task.respond(Response(ResponseKind::Remote(Box::new(Err(e)))));
        return Some(task);
    };
    let args = std::mem::replace(&mut call.args, Ok(Vec::new()));
    let made = CallSpec {
        target: call.target.clone(),
        method: call.method,
        args,
    }
    .invoke();
    let shared = Arc::clone(&task.shared);
    task.set_pending(RequestKind::Remote { call });
    // Parked before the call can complete: the completion always finds it (or a freezer
    // holding it, which leaves it in the cell for the reply: `TaskShared::poll_freeze`).
    drop(TaskShared::park(task));
    node.rt.spawn(async move {
        let reply = made.await;
        if let Some(task) = shared.unpark() {
            task.complete(Response(ResponseKind::Remote(Box::new(reply))));
        }
    });
    None
}

/// The key a reference's interface is checked by on decode: a hash of its name.
fn interface_key(name: &str) -> u64 {
    tern_net::proto::fnv1a(name.as_bytes())
}

/// An untyped reference: what a proxy holds. Used by the code `#[tern::remote]` generates.
#[doc(hidden)]
#[derive(Clone)]
pub struct RawRemote {
    handle: Arc<Handle>,
}

impl RawRemote {
    pub(crate) fn from_handle(handle: Arc<Handle>) -> RawRemote {
        RawRemote { handle }
    }

    /// Describes a call of method number `method` with the arguments `args` (a tuple).
    ///
    /// The arguments are encoded now: a reference among them is counted as in transit from
    /// this moment.
    pub fn call<A: Serialize, R: DeserializeOwned>(&self, method: u16, args: &A) -> Call<R> {
        Call::new(self.clone(), method, postcard::to_allocvec(args))
    }
}

/// How a reference is written: the owner, the object, its interface and the token that keeps
/// the object alive until the reference is deserialized.
#[derive(Serialize, Deserialize)]
struct WireRef {
    owner: NodeId,
    obj: ObjectId,
    key: u64,
    iface: u64,
    minter: MinterId,
    token: u64,
}

impl Serialize for RawRemote {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = &self.handle;
        let Some(node) = h.node.upgrade() else {
            return Err(serde::ser::Error::custom(
                "the node this remote reference belongs to has stopped",
            ));
        };
        let (minter, token) = node.objects.mint(&node, &h.owner, h.obj);
        WireRef {
            owner: h.owner.clone(),
            obj: h.obj,
            key: interface_key(h.name),
            iface: h.iface,
            minter,
            token,
        }
        .serialize(s)
    }
}

/// Counters of a node's remote objects and calls ([`Node::remote_stats`](crate::Node::remote_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteStats {
    /// Objects this node exposes that something still refers to.
    pub exposed: u64,
    /// Objects dropped because nothing referred to them any more.
    pub freed: u64,
    /// Calls this node sent to other nodes.
    pub calls_out: u64,
    /// Calls this node served (from anywhere, itself included).
    pub calls_in: u64,
    /// Calls served here whose method panicked.
    pub panics: u64,
    /// Bytes of results this node sent to callers on other nodes.
    pub reply_bytes_out: u64,
    /// Bytes of results this node received from owners on other nodes.
    pub reply_bytes_in: u64,
    /// Reference operations that named an object not exposed here (any more).
    pub unknown_refs: u64,
}

/// A remote call that failed: where, how, and the post-mortem when the method panicked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("remote call {method} on node {node:?} failed: {kind}: {message}")]
#[non_exhaustive]
pub struct RemoteError {
    /// The object's owner: the node the call was for.
    pub node: String,
    /// The interface and method called, as `Trait::method`.
    pub method: String,
    /// What went wrong.
    pub kind: RemoteErrorKind,
    /// A human-readable account (a panic's message, a decode error).
    pub message: String,
    /// The post-mortem of a method that panicked: its node, the panic's message and source
    /// location.
    pub report: Option<Box<TaskReport>>,
}

/// The kinds of [`RemoteError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteErrorKind {
    /// The method panicked (the owner kept running).
    #[error("the method panicked")]
    Panicked,
    /// The object is not exposed any more: nothing referred to it and it was dropped, or its
    /// owner restarted since the reference was made.
    #[error("the object is gone")]
    Gone,
    /// The owner's interface differs from the caller's (another version of the trait).
    #[error("the interface differs on the owner (version skew)")]
    Mismatch,
    /// The owner's interface has no such method.
    #[error("no such method on the owner")]
    UnknownMethod,
    /// The arguments could not be encoded, or did not decode on the owner.
    #[error("bad arguments")]
    BadArgs,
    /// The result could not be encoded on the owner, or did not decode here.
    #[error("bad result")]
    BadResult,
    /// The owner has too many calls from this node in progress.
    #[error("the owner is overloaded")]
    Overloaded,
    /// The owner is shutting down.
    #[error("the owner is shutting down")]
    ShuttingDown,
    /// The owner node went down (restarted, or unreachable past the grace period), or is not
    /// a member this node knows.
    #[error("the owner node is down")]
    NodeDown,
}

impl RemoteErrorKind {
    fn from_fault(kind: tern_net::proto::remote::FaultKind) -> RemoteErrorKind {
        use tern_net::proto::remote::FaultKind as F;
        match kind {
            F::Panicked => RemoteErrorKind::Panicked,
            F::Gone => RemoteErrorKind::Gone,
            F::Mismatch => RemoteErrorKind::Mismatch,
            F::UnknownMethod => RemoteErrorKind::UnknownMethod,
            F::BadArgs => RemoteErrorKind::BadArgs,
            F::BadResult => RemoteErrorKind::BadResult,
            F::Overloaded => RemoteErrorKind::Overloaded,
            F::ShuttingDown => RemoteErrorKind::ShuttingDown,
            _ => RemoteErrorKind::BadResult,
        }
    }
}

pub use tern_net::proto::remote::Fault;

/// Helpers for the code `#[tern::remote]` generates.
#[doc(hidden)]
pub mod __private {
    use super::Fault;
    use tern_net::proto::remote::FaultKind;

    /// Decodes a method's arguments (a tuple).
    pub fn decode_args<A: serde::de::DeserializeOwned>(
        bytes: &[u8],
        method: &str,
    ) -> Result<A, Fault> {
        // Every byte must belong to the arguments: a prefix of another method's arguments
        // (a caller of another version) must not decode as these.
        match postcard::take_from_bytes(bytes) {
            Ok((args, [])) => Ok(args),
            Ok((_, rest)) => Err(Fault::new(
                FaultKind::BadArgs,
                format!(
                    "the arguments of {method} decode with {} bytes left over",
                    rest.len()
                ),
            )),
            Err(e) => Err(Fault::new(
                FaultKind::BadArgs,
                format!("the arguments of {method} do not decode: {e}"),
            )),
        }
    }

    /// Encodes a method's result.
    pub fn encode_result<R: serde::Serialize>(result: &R, method: &str) -> Result<Vec<u8>, Fault> {
        postcard::to_allocvec(result).map_err(|e| {
            Fault::new(
                FaultKind::BadResult,
                format!("the result of {method} does not encode: {e}"),
            )
        })
    }

    /// The fault for a method index the interface does not have.
    pub fn unknown_method(name: &str, method: u16) -> Fault {
        Fault::new(
            FaultKind::UnknownMethod,
            format!("{name} has no method number {method}"),
        )
    }
}
