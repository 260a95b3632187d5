//! A node's remote objects: those it owns (exposed, with their reference accounts and the
//! calls it serves) and those it refers to (handles, the calls it waits for, and its streams
//! of reference operations to their owners).
//!
//! Locking: one mutex per node ([`Objects::state`]). Messages are handed to the mesh under it
//! (`Cluster::transmit` never waits), so a node's reference operations leave in the order the
//! lock took them. Nothing that can run user code — dropping a freed object, running a
//! method — happens under it: a freed object is dropped after the lock is released (its
//! `Drop` may drop remote references, which takes the lock again).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use tern_net::proto::remote::{
    Admission, Fault, FaultKind, Ledger, MinterId, ObjectId, RefOp, RefOutbox, Remote as Msg,
    Served,
};
use tern_net::proto::{Incarnation, Message, NodeId, Payload};
use tokio::sync::oneshot;

use super::{BoxFuture, Dispatched, Implements, Interface, RemoteError, RemoteErrorKind};
use crate::node::NodeInner;
use crate::task::{PanicReport, TaskReport};

/// Calls of one caller an owner serves at once (running or waiting for their `Done`).
const SERVED_PER_CALLER: usize = 65_536;

/// The largest arguments or result a call carries: a frame's limit, less room for the rest
/// of the message. Larger ones fail the call (page them: `RemoteVec`) instead of a message
/// the mesh would refuse to send.
pub(crate) const MAX_PAYLOAD: usize = (tern_net::proto::Limits::DEFAULT_MAX_FRAME as usize) - 4096;

/// The fault for a result that does not fit a frame.
fn oversize(len: usize) -> Fault {
    Fault::new(
        FaultKind::BadResult,
        format!("the result takes {len} bytes, more than a call carries ({MAX_PAYLOAD}): page it"),
    )
}

/// An exposed object, type-erased.
pub(crate) struct Exposed {
    name: &'static str,
    methods: &'static [&'static str],
    iface: u64,
    call: Box<dyn Fn(u16, Vec<u8>) -> Dispatched + Send + Sync>,
    /// For objects exposed with `expose_fetchable`: the type fingerprint of the object's
    /// concrete type, and how to encode a copy of it.
    fetch: Option<Fetch>,
}

/// How a fetchable object is copied for a caller.
pub(crate) struct Fetch {
    pub(crate) ty: u64,
    pub(crate) type_name: &'static str,
    pub(crate) encode: Box<dyn Fn() -> Result<Vec<u8>, postcard::Error> + Send + Sync>,
}

/// `Trait::method` for method number `method` of the interface `name`.
fn describe(name: &str, methods: &[&str], method: u16) -> String {
    let m = match method {
        FETCH_METHOD => "fetch",
        _ => methods.get(usize::from(method)).copied().unwrap_or("?"),
    };
    format!("{name}::{m}")
}

/// The method number a `Remote::fetch` call uses (no interface has that many methods).
pub(crate) const FETCH_METHOD: u16 = u16::MAX;

/// One node's handle on a remote object: what one deserialization (or the `expose`) made.
/// Clones of a `Remote` share it; dropping the last releases it at the owner.
pub(crate) struct Handle {
    pub(crate) owner: NodeId,
    pub(crate) obj: ObjectId,
    pub(crate) iface: u64,
    pub(crate) name: &'static str,
    pub(crate) methods: &'static [&'static str],
    pub(crate) node: Weak<NodeInner>,
}

impl Handle {
    /// A handle on nothing, for models (its drop tells nobody).
    #[cfg(all(test, tern_loom))]
    pub(crate) fn dummy() -> Handle {
        Handle {
            owner: NodeId::new("loom").expect("a node id"),
            obj: ObjectId {
                incarnation: Incarnation(0),
                seq: 0,
            },
            iface: 0,
            name: "loom",
            methods: &[],
            node: Weak::new(),
        }
    }

    /// `Trait::method`.
    pub(crate) fn describe(&self, method: u16) -> String {
        describe(self.name, self.methods, method)
    }

    pub(crate) fn error(
        &self,
        method: u16,
        kind: RemoteErrorKind,
        message: impl Into<String>,
    ) -> RemoteError {
        RemoteError {
            node: self.owner.to_string(),
            method: self.describe(method),
            kind,
            message: message.into(),
            report: None,
        }
    }

    fn fault(&self, method: u16, fault: Fault) -> RemoteError {
        let report = fault
            .report
            .and_then(|p| postcard::from_bytes::<TaskReport>(&p.0).ok())
            .map(Box::new);
        RemoteError {
            report,
            ..self.error(
                method,
                RemoteErrorKind::from_fault(fault.kind),
                fault.message,
            )
        }
    }

    /// Makes call number `method` with `args`.
    pub(crate) fn invoke(
        self: Arc<Self>,
        method: u16,
        args: Vec<u8>,
    ) -> BoxFuture<'static, Result<Vec<u8>, RemoteError>> {
        let Some(node) = self.node.upgrade().filter(|n| !n.is_stopped()) else {
            let e = self.error(
                method,
                RemoteErrorKind::ShuttingDown,
                "this node has stopped",
            );
            return Box::pin(async move { Err(e) });
        };
        // On the owner, or on another node of this process that owns it: no network.
        let owner_node = if node.id == self.owner {
            Some(Arc::clone(&node))
        } else if node.cluster.is_none() {
            crate::node::lookup(self.owner.as_str()).map(|n| n.inner)
        } else {
            None
        };
        if let Some(owner) = owner_node {
            return Box::pin(async move {
                let served = owner
                    .objects
                    .serve_here(&owner, self.obj, self.iface, method, args);
                match served {
                    Ok(fut) => fut.await.map_err(|f| self.fault(method, f)),
                    Err(f) => Err(self.fault(method, f)),
                }
            });
        }
        let Some(cluster) = node.cluster.clone() else {
            let e = self.error(
                method,
                RemoteErrorKind::NodeDown,
                "the owner is not a node of this process, and this node does not listen",
            );
            return Box::pin(async move { Err(e) });
        };
        if !cluster.members().contains(&self.owner) {
            let e = self.error(
                method,
                RemoteErrorKind::NodeDown,
                "the owner is not a member this node knows",
            );
            return Box::pin(async move { Err(e) });
        }
        if args.len() > MAX_PAYLOAD {
            let e = self.error(
                method,
                RemoteErrorKind::BadArgs,
                format!(
                    "the arguments take {} bytes, more than a call carries ({MAX_PAYLOAD})",
                    args.len()
                ),
            );
            return Box::pin(async move { Err(e) });
        }
        let call = node.objects.next_call.fetch_add(1, Ordering::Relaxed);
        let msg = Msg::Call {
            call,
            obj: self.obj,
            iface: self.iface,
            method,
            args: Payload(args),
        };
        let (tx, rx) = oneshot::channel();
        {
            let mut st = node.objects.state.lock();
            st.pending.insert(
                call,
                Pending {
                    peer: self.owner.clone(),
                    msg: msg.clone(),
                    tx,
                },
            );
            cluster.transmit(&self.owner, Message::Remote(msg));
        }
        node.objects.stats.calls_out.fetch_add(1, Ordering::Relaxed);
        let objects = Arc::clone(&node);
        drop(node);
        Box::pin(async move {
            // Dropped before the reply: forget the call (its reply is acknowledged anyway).
            struct Forget(Arc<NodeInner>, u64);
            impl Drop for Forget {
                fn drop(&mut self) {
                    self.0.objects.state.lock().pending.remove(&self.1);
                }
            }
            let _forget = Forget(objects, call);
            match rx.await {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(Reply::Fault(f))) => Err(self.fault(method, f)),
                Ok(Err(Reply::NodeDown)) | Err(_) => Err(self.error(
                    method,
                    RemoteErrorKind::NodeDown,
                    "the owner went down before it answered",
                )),
                Ok(Err(Reply::Stopped)) => Err(self.error(
                    method,
                    RemoteErrorKind::ShuttingDown,
                    "this node stopped before the owner answered",
                )),
            }
        })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(node) = self.node.upgrade() {
            node.objects
                .send_op(&node, &self.owner, RefOp::Release { obj: self.obj });
        }
    }
}

/// How a call this node waits for ended, when it did not succeed.
enum Reply {
    Fault(Fault),
    NodeDown,
    Stopped,
}

/// A call this node made and waits for.
struct Pending {
    peer: NodeId,
    msg: Msg,
    tx: oneshot::Sender<Result<Vec<u8>, Reply>>,
}

struct State {
    ledger: Ledger,
    exposed: HashMap<u64, Arc<Exposed>>,
    served: Served,
    outboxes: HashMap<NodeId, RefOutbox>,
    pending: HashMap<u64, Pending>,
}

/// Counters of a node's remote objects and calls.
#[derive(Default)]
pub(crate) struct RemoteStatsCounters {
    pub(crate) calls_out: AtomicU64,
    pub(crate) calls_in: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) reply_bytes_out: AtomicU64,
    pub(crate) reply_bytes_in: AtomicU64,
    pub(crate) freed: AtomicU64,
    pub(crate) unknown_refs: AtomicU64,
}

/// Remote objects and references of one node.
pub(crate) struct Objects {
    me: NodeId,
    state: parking_lot::Mutex<State>,
    next_call: AtomicU64,
    next_token: AtomicU64,
    pub(crate) stats: RemoteStatsCounters,
}

/// What a deserialized reference says.
pub(crate) struct Adoption {
    pub(crate) owner: NodeId,
    pub(crate) obj: ObjectId,
    pub(crate) iface: u64,
    pub(crate) minter: MinterId,
    pub(crate) token: u64,
}

impl Objects {
    pub(crate) fn new(me: NodeId, incarnation: Incarnation) -> Objects {
        Objects {
            state: parking_lot::Mutex::new(State {
                ledger: Ledger::new(&me, incarnation),
                exposed: HashMap::new(),
                served: Served::new(SERVED_PER_CALLER),
                outboxes: HashMap::new(),
                pending: HashMap::new(),
            }),
            me,
            next_call: AtomicU64::new(1),
            next_token: AtomicU64::new(1),
            stats: RemoteStatsCounters::default(),
        }
    }

    /// Exposes `obj` as the interface `T`.
    pub(crate) fn expose<T: ?Sized + Implements<S>, S>(
        &self,
        node: &Arc<NodeInner>,
        obj: Arc<S>,
        fetch: Option<Fetch>,
    ) -> Arc<Handle> {
        let this: Arc<T> = T::wrap(obj);
        let exposed = Arc::new(Exposed {
            name: T::NAME,
            methods: T::METHODS,
            iface: T::FINGERPRINT,
            call: Box::new(move |method, args| T::dispatch(Arc::clone(&this), method, args)),
            fetch,
        });
        let obj = {
            let mut st = self.state.lock();
            let obj = st.ledger.expose();
            st.exposed.insert(obj.seq, exposed);
            obj
        };
        Arc::new(Handle {
            owner: self.me.clone(),
            obj,
            iface: <T as Interface>::FINGERPRINT,
            name: T::NAME,
            methods: T::METHODS,
            node: Arc::downgrade(node),
        })
    }

    /// The counters, with the number of objects exposed.
    pub(crate) fn stats_snapshot(&self) -> super::RemoteStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let s = &self.stats;
        super::RemoteStats {
            exposed: self.state.lock().exposed.len() as u64,
            freed: get(&s.freed),
            calls_out: get(&s.calls_out),
            calls_in: get(&s.calls_in),
            panics: get(&s.panics),
            reply_bytes_out: get(&s.reply_bytes_out),
            reply_bytes_in: get(&s.reply_bytes_in),
            unknown_refs: get(&s.unknown_refs),
        }
    }

    /// Sends (or applies) one reference operation to `owner`, in this node's order.
    pub(crate) fn send_op(&self, node: &Arc<NodeInner>, owner: &NodeId, op: RefOp) {
        if *owner == self.me {
            let freed = {
                let mut st = self.state.lock();
                let applied = st.ledger.apply_local(op);
                take_freed(&mut st, applied.freed, applied.unknown, &self.stats)
            };
            drop(freed);
            return;
        }
        match &node.cluster {
            Some(cluster) => {
                let mut st = self.state.lock();
                let msg = st.outboxes.entry(owner.clone()).or_default().push(op);
                cluster.transmit(owner, Message::Remote(msg));
            }
            None => {
                // Another node of this process, or nobody this node can reach.
                if let Some(other) = crate::node::lookup(owner.as_str()) {
                    other.inner.objects.apply_from(&self.me, op);
                }
            }
        }
    }

    /// Applies an operation of a node of this process (in-process calls are in order).
    fn apply_from(&self, from: &NodeId, op: RefOp) {
        let freed = {
            let mut st = self.state.lock();
            let applied = st.ledger.apply_unordered(from, op);
            take_freed(&mut st, applied.freed, applied.unknown, &self.stats)
        };
        drop(freed);
    }

    /// Serializing a reference: a new token, held at the owner until adopted.
    pub(crate) fn mint(
        &self,
        node: &Arc<NodeInner>,
        owner: &NodeId,
        obj: ObjectId,
    ) -> (MinterId, u64) {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.send_op(node, owner, RefOp::Hold { obj, token });
        (MinterId::of(&self.me), token)
    }

    /// Deserializing a reference: a new handle here, which uses its token up.
    pub(crate) fn adopt(
        &self,
        node: &Arc<NodeInner>,
        a: Adoption,
        name: &'static str,
        methods: &'static [&'static str],
    ) -> Arc<Handle> {
        self.send_op(
            node,
            &a.owner,
            RefOp::Adopt {
                obj: a.obj,
                minter: a.minter,
                token: a.token,
            },
        );
        Arc::new(Handle {
            owner: a.owner,
            obj: a.obj,
            iface: a.iface,
            name,
            methods,
            node: Arc::downgrade(node),
        })
    }

    /// Starts serving a call on this node (the owner). `Err` when it cannot run at all.
    fn serve_here(
        &self,
        node: &Arc<NodeInner>,
        obj: ObjectId,
        iface: u64,
        method: u16,
        args: Vec<u8>,
    ) -> Result<BoxFuture<'static, Result<Vec<u8>, Fault>>, Fault> {
        let exposed = {
            let st = self.state.lock();
            let known = st.ledger.contains(obj);
            known.then(|| st.exposed.get(&obj.seq).cloned()).flatten()
        };
        let Some(exposed) = exposed else {
            return Err(Fault::new(
                FaultKind::Gone,
                format!("no object {} is exposed on {}", obj.seq, self.me),
            ));
        };
        if exposed.iface != iface {
            return Err(Fault::new(
                FaultKind::Mismatch,
                format!(
                    "{} on {} has another definition than the caller's (fingerprint {:#x}, caller's {iface:#x})",
                    exposed.name, self.me, exposed.iface
                ),
            ));
        }
        self.stats.calls_in.fetch_add(1, Ordering::Relaxed);
        let describe = describe(exposed.name, exposed.methods, method);
        let fut = if method == FETCH_METHOD {
            fetch_copy(&exposed, &self.me, &args)
        } else {
            crate::node::with_current(node, || (exposed.call)(method, args))
        };
        let node = Arc::clone(node);
        Ok(Box::pin(async move {
            let out = CatchUnwind {
                inner: fut,
                node: Arc::clone(&node),
            }
            .await;
            match out {
                // The same cap on every path, so a call means the same wherever it comes from.
                Ok(Ok(bytes)) if bytes.len() > MAX_PAYLOAD => Err(oversize(bytes.len())),
                Ok(r) => r,
                Err((message, location)) => {
                    node.objects.stats.panics.fetch_add(1, Ordering::Relaxed);
                    let report = TaskReport {
                        node: node.id.to_string(),
                        task: format!("a call of {describe}"),
                        task_type: describe.clone(),
                        suspension_point: None,
                        frames: Vec::new(),
                        panic: Some(PanicReport {
                            message: message.clone(),
                            location,
                        }),
                    };
                    Err(Fault {
                        kind: FaultKind::Panicked,
                        message: format!("{describe} panicked: {message}"),
                        report: postcard::to_allocvec(&report).ok().map(Payload),
                    })
                }
            }
        }))
    }

    // ---- the network side ----------------------------------------------------------------

    /// A remote-object message from `from`.
    pub(crate) fn on_message(&self, node: &Arc<NodeInner>, from: &NodeId, msg: Msg) {
        let Some(cluster) = node.cluster.clone() else {
            return;
        };
        match msg {
            Msg::Call {
                call,
                obj,
                iface,
                method,
                args,
            } => {
                let admission = {
                    let mut st = self.state.lock();
                    st.served.admit(from, call)
                };
                let reply = |result: Result<Payload, Fault>| {
                    if let Ok(p) = &result {
                        self.stats
                            .reply_bytes_out
                            .fetch_add(p.0.len() as u64, Ordering::Relaxed);
                    }
                    cluster.transmit(from, Message::Remote(Msg::Reply { call, result }));
                };
                match admission {
                    Admission::Running => {}
                    Admission::Again(result) => reply(result),
                    Admission::Overloaded => reply(Err(Fault::new(
                        FaultKind::Overloaded,
                        format!("{} serves too many calls of {from}", self.me),
                    ))),
                    Admission::Run => match self.serve_here(node, obj, iface, method, args.0) {
                        Err(fault) => {
                            let result = Err(fault);
                            self.state.lock().served.finish(from, call, &result);
                            reply(result);
                        }
                        Ok(fut) => {
                            let node = Arc::clone(node);
                            let from = from.clone();
                            cluster.rt().spawn(async move {
                                let result = fut.await.map(Payload);
                                let objects = &node.objects;
                                let keep = objects.state.lock().served.finish(&from, call, &result);
                                let Some(c) = node.cluster.as_ref().filter(|_| keep) else {
                                    return; // the caller is gone
                                };
                                if let Ok(p) = &result {
                                    objects
                                        .stats
                                        .reply_bytes_out
                                        .fetch_add(p.0.len() as u64, Ordering::Relaxed);
                                }
                                c.transmit(&from, Message::Remote(Msg::Reply { call, result }));
                            });
                        }
                    },
                }
            }
            Msg::Reply { call, result } => {
                let pending = self.state.lock().pending.remove(&call);
                if let Some(p) = pending {
                    if let Ok(bytes) = &result {
                        self.stats
                            .reply_bytes_in
                            .fetch_add(bytes.0.len() as u64, Ordering::Relaxed);
                    }
                    p.tx.send(result.map(|p| p.0).map_err(Reply::Fault)).ok();
                }
                cluster.transmit(from, Message::Remote(Msg::Done { call }));
            }
            Msg::Done { call } => self.state.lock().served.done(from, call),
            Msg::Ref { seq, op } => {
                let freed = {
                    let mut st = self.state.lock();
                    let applied = st.ledger.apply(from, seq, op);
                    if let Some(upto) = applied.ack {
                        cluster.transmit(from, Message::Remote(Msg::RefAck { upto }));
                    }
                    take_freed(&mut st, applied.freed, applied.unknown, &self.stats)
                };
                drop(freed);
            }
            Msg::RefAck { upto } => {
                if let Some(out) = self.state.lock().outboxes.get_mut(from) {
                    out.ack(upto);
                }
            }
        }
    }

    /// The node stops: its calls in flight fail, its objects are dropped (after the lock).
    pub(crate) fn shutdown(&self) {
        let (pending, exposed) = {
            let mut st = self.state.lock();
            let pending: Vec<Pending> = st.pending.drain().map(|(_, p)| p).collect();
            let exposed: Vec<Arc<Exposed>> = st.exposed.drain().map(|(_, e)| e).collect();
            (pending, exposed)
        };
        for p in pending {
            p.tx.send(Err(Reply::Stopped)).ok();
        }
        drop(exposed);
    }

    /// `peer` is back with the same incarnation: send again what it may have lost.
    pub(crate) fn reconnected(&self, node: &Arc<NodeInner>, peer: &NodeId) {
        let Some(cluster) = &node.cluster else { return };
        let st = self.state.lock();
        if let Some(out) = st.outboxes.get(peer) {
            for msg in out.resend() {
                cluster.transmit(peer, Message::Remote(msg));
            }
        }
        for p in st.pending.values().filter(|p| p.peer == *peer) {
            cluster.transmit(peer, Message::Remote(p.msg.clone()));
        }
    }

    /// `peer` restarted or was declared down: its references count no more, its calls here
    /// are forgotten, this node's calls to it fail.
    pub(crate) fn peer_gone(&self, peer: &NodeId) {
        let (freed, failed) = {
            let mut st = self.state.lock();
            let gone = st.ledger.node_gone(peer);
            let freed: Vec<_> = gone
                .into_iter()
                .filter_map(|obj| st.exposed.remove(&obj.seq))
                .collect();
            self.stats
                .freed
                .fetch_add(freed.len() as u64, Ordering::Relaxed);
            st.served.caller_gone(peer);
            st.outboxes.remove(peer);
            let calls: Vec<u64> = st
                .pending
                .iter()
                .filter(|(_, p)| p.peer == *peer)
                .map(|(c, _)| *c)
                .collect();
            let failed: Vec<Pending> = calls
                .into_iter()
                .filter_map(|c| st.pending.remove(&c))
                .collect();
            (freed, failed)
        };
        for p in failed {
            p.tx.send(Err(Reply::NodeDown)).ok();
        }
        drop(freed);
    }
}

/// A `Remote::fetch`: a copy of the object, if it was exposed fetchable as the type the caller
/// asks for (`args`: the fingerprint of that type).
fn fetch_copy(exposed: &Arc<Exposed>, me: &NodeId, args: &[u8]) -> Dispatched {
    let asked: Result<(u64,), Fault> = super::__private::decode_args(args, "Remote::fetch");
    let outcome = match (asked, &exposed.fetch) {
        (Err(f), _) => Err(f),
        (Ok(_), None) => Err(Fault::new(
            FaultKind::UnknownMethod,
            format!(
                "the {} on {me} was not exposed with `expose_fetchable`: it cannot be copied",
                exposed.name
            ),
        )),
        (Ok((ty,)), Some(f)) if ty != f.ty => Err(Fault::new(
            FaultKind::Mismatch,
            format!(
                "the {} on {me} is a `{}`, not the type the caller asked for",
                exposed.name, f.type_name
            ),
        )),
        (Ok(_), Some(f)) => (f.encode)().map_err(|e| {
            Fault::new(
                FaultKind::BadResult,
                format!("a copy of the `{}` does not encode: {e}", f.type_name),
            )
        }),
    };
    Box::pin(async move { outcome })
}

/// Takes a freed object out of the table, to be dropped once the lock is released.
fn take_freed(
    st: &mut State,
    freed: Option<ObjectId>,
    unknown: bool,
    stats: &RemoteStatsCounters,
) -> Option<Arc<Exposed>> {
    if unknown {
        stats.unknown_refs.fetch_add(1, Ordering::Relaxed);
    }
    let obj = freed?;
    stats.freed.fetch_add(1, Ordering::Relaxed);
    st.exposed.remove(&obj.seq)
}

/// Runs a method's future, turning a panic into its message and location.
struct CatchUnwind {
    inner: BoxFuture<'static, Result<Vec<u8>, Fault>>,
    node: Arc<NodeInner>,
}

impl std::future::Future for CatchUnwind {
    type Output = Result<Result<Vec<u8>, Fault>, (String, Option<crate::task::SourceLocation>)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        crate::task::install_panic_hook();
        let this = &mut *self;
        let node = Arc::clone(&this.node);
        let polled = crate::node::with_current(&node, || {
            std::panic::catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx)))
        });
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
            Err(payload) => Poll::Ready(Err((
                crate::task::panic_message(&*payload),
                crate::task::take_panic_location(),
            ))),
        }
    }
}
