//! Remote references: calls on objects that stay on their node, and the accounting that keeps
//! such an object alive exactly while some node refers to it.
//!
//! An object is **exposed** on its *owner* node and named everywhere by a [`ObjectId`] (the
//! owner's incarnation and a number it never reuses). This layer knows nothing of the
//! objects themselves, their traits or their values: arguments and results are [`Payload`]s.
//!
//! # Calls
//!
//! ```text
//! caller C                                                owner O
//!   |-- Call { call, obj, iface, method, args } ------------>|  runs the method (once)
//!   |<-- Reply { call, Ok(result) | Err(Fault) } ------------|  keeps the reply until `Done`
//!   |-- Done { call } -------------------------------------->|  forgets it
//! ```
//!
//! - `call` is the caller's number for the call, unique per caller incarnation. A call the
//!   caller sends again after a reconnect (the mesh may lose what was queued on a failing
//!   connection) is answered from [`Served`] — with the kept reply, or not at all while the
//!   first copy still runs — so a method runs **at most once per call**, and exactly once
//!   while neither node crashes.
//! - `iface` is the fingerprint of the interface the caller's reference was typed with; the
//!   owner refuses a call whose fingerprint differs from the exposed object's
//!   ([`FaultKind::Mismatch`]: version skew between the caller's build and the owner's).
//! - Every failure crosses as a typed [`Fault`]; a method that panics is a fault for its
//!   caller, never a crash of the owner.
//! - A caller whose owner restarts (new incarnation) or is declared down fails its calls in
//!   flight with `NodeDown`; an owner drops what it kept for a caller that is gone.
//!
//! # Reference accounting
//!
//! Each node counts the **handles** it holds on each remote object (a handle is what one
//! deserialization of a reference made; clones share it). The owner keeps, per object, an
//! [`Account`]: the handles each node holds, plus **tokens**: references that were serialized
//! and are somewhere in transit — inside a message, a channel's buffer, a task's snapshot.
//! The object is dropped when the account is empty, and not before:
//!
//! ```text
//! holder H (serializes a ref)     receiver R (deserializes it)       owner O
//!   |-- Ref { seq, Hold { obj, token } } ---------------------------->|  tokens += (H, token)
//!   |   ...the bytes travel to R (any path, any delay)...             |
//!   |                               |-- Ref { seq', Adopt { obj, minter: H, token } } -->|
//!   |                               |      handles[R] += 1, tokens -= (H, token)
//!   |-- Ref { seq, Release { obj } } -------------------------------->|  handles[H] -= 1
//!   |<-- RefAck { upto } ---------------------------------------------|  (to each sender)
//! ```
//!
//! - **Order per sender.** Each node numbers the operations it sends to one owner (`seq`)
//!   and keeps them until acknowledged ([`RefOutbox`]); the owner applies a sender's
//!   operations in that order, exactly once ([`Ledger::apply`]), and sends them again after
//!   a reconnect. So a holder's `Hold` for a reference it serialized always reaches the owner
//!   before the `Release` of its own handle, and the object cannot be freed in between.
//! - **Adopt before Hold.** The receiver's `Adopt` may overtake the minter's `Hold` (they
//!   travel on different connections). The owner then records the token as *consumed*, and
//!   the `Hold` that arrives later cancels against it. The receiver's handle already counts,
//!   and the minter's `Hold` is still ahead of its `Release`, so the count never reaches 0
//!   while either of them holds the object.
//! - **A reference serialized and never deserialized** (a message dropped with a closed
//!   channel, a snapshot refused before it was decoded) keeps its token: the object leaks
//!   rather than being freed under a reader that may still come. (A snapshot refused before
//!   the target decoded it leaks its tokens this way: the source cannot tell whether the
//!   target adopted them, and cancelling a token the target is adopting would free the object
//!   under it.)
//! - **Crashes.** When a node restarts or is declared down, the owner drops the node's
//!   handles and the tokens it minted (a reference in transit from a dead node is lost with
//!   it: at most once across a crash), so a dead node never keeps an object alive past the
//!   failure timeout. The holders of references to a dead owner see `NodeDown` on calls.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::ids::{Incarnation, NodeId, Payload};

/// An exposed object's name: unique across the cluster's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectId {
    /// The owner's incarnation when it exposed the object (a restarted owner never answers
    /// for objects of its previous life).
    pub incarnation: Incarnation,
    /// The owner's number for the object, never reused within an incarnation.
    pub seq: u64,
}

/// Messages about remote objects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Remote {
    /// Caller → owner: run `method` of `obj` with `args`.
    Call {
        /// The caller's number for the call.
        call: u64,
        /// The object.
        obj: ObjectId,
        /// The fingerprint of the interface the caller's reference is typed with.
        iface: u64,
        /// The method's index in the interface.
        method: u16,
        /// The arguments, encoded (the runtime's encoding).
        args: Payload,
    },
    /// Owner → caller: how the call ended.
    Reply {
        /// The caller's number for the call.
        call: u64,
        /// The result, encoded, or the fault.
        result: Result<Payload, Fault>,
    },
    /// Caller → owner: the reply arrived; forget it.
    Done {
        /// The caller's number for the call.
        call: u64,
    },
    /// A holder → the owner: one reference operation, the sender's `seq`-th to this owner.
    Ref {
        /// The operation's place in the sender's stream to this owner (from 1).
        seq: u64,
        /// The operation.
        op: RefOp,
    },
    /// Owner → a holder: every operation of the holder's stream numbered below `upto` has
    /// been applied.
    RefAck {
        /// One past the last operation applied.
        upto: u64,
    },
}

/// A change to the references a node holds or has serialized (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefOp {
    /// The sender serialized a reference to `obj` and named it `token`: keep the object
    /// alive until some node adopts the token.
    Hold {
        /// The object.
        obj: ObjectId,
        /// The sender's number for the serialized reference.
        token: u64,
    },
    /// The sender deserialized the reference `minter` serialized as `token`: it holds one
    /// more handle on `obj`, and the token is used up.
    Adopt {
        /// The object.
        obj: ObjectId,
        /// The node that serialized the reference.
        minter: MinterId,
        /// Its number for it.
        token: u64,
    },
    /// The sender dropped one of its handles on `obj`.
    Release {
        /// The object.
        obj: ObjectId,
    },
}

impl RefOp {
    /// The object the operation is about.
    pub fn obj(&self) -> ObjectId {
        match *self {
            RefOp::Hold { obj, .. } | RefOp::Adopt { obj, .. } | RefOp::Release { obj } => obj,
        }
    }
}

/// The node that minted a token, as the owner names it in its accounts: a hash of its node
/// id (a `NodeId` would make every `Adopt` carry a string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MinterId(pub u64);

impl MinterId {
    /// The minter id of `node`.
    pub fn of(node: &NodeId) -> MinterId {
        MinterId(super::ids::fnv1a(node.as_str().as_bytes()))
    }
}

/// Why a call failed on the owner's side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The kind of failure.
    pub kind: FaultKind,
    /// A human-readable account (a panic's message, a decode error).
    pub message: String,
    /// A post-mortem of the failure (the runtime's encoding of a task report), if any.
    pub report: Option<Payload>,
}

impl Fault {
    /// A fault with no report.
    pub fn new(kind: FaultKind, message: impl Into<String>) -> Fault {
        Fault {
            kind,
            message: message.into(),
            report: None,
        }
    }
}

/// The kinds of [`Fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FaultKind {
    /// The method panicked.
    Panicked,
    /// The object is not exposed here any more (or never was, or belongs to a previous
    /// incarnation of the owner).
    Gone,
    /// The caller's interface differs from the exposed object's (another trait, or another
    /// version of it).
    Mismatch,
    /// The interface has no method with that index.
    UnknownMethod,
    /// The arguments did not decode as the method's parameters.
    BadArgs,
    /// The result could not be encoded, or did not decode at the caller.
    BadResult,
    /// The owner has too many calls of this caller in progress.
    Overloaded,
    /// The owner is shutting down.
    ShuttingDown,
}

// ---- calls -----------------------------------------------------------------------------------

/// What an owner does with an incoming [`Remote::Call`] (from [`Served::admit`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// A new call: run it, then [`Served::finish`] it.
    Run,
    /// A repeat of a call that is still running: ignore it (its reply will come).
    Running,
    /// A repeat of a call that has finished: send this reply again.
    Again(Result<Payload, Fault>),
    /// Too many calls of this caller are running or unacknowledged: refuse it with
    /// [`FaultKind::Overloaded`] (not recorded: a later repeat may run).
    Overloaded,
}

/// An owner's record of the calls it is serving: what makes a repeated call harmless.
#[derive(Debug)]
pub struct Served {
    calls: HashMap<NodeId, HashMap<u64, Option<Result<Payload, Fault>>>>,
    per_caller: usize,
}

impl Served {
    /// A record that keeps at most `per_caller` calls of each caller (running or waiting for
    /// their `Done`).
    pub fn new(per_caller: usize) -> Served {
        Served {
            calls: HashMap::new(),
            per_caller: per_caller.max(1),
        }
    }

    /// Looks `call` of `caller` up, and records it as running if it is new.
    pub fn admit(&mut self, caller: &NodeId, call: u64) -> Admission {
        let calls = self.calls.entry(caller.clone()).or_default();
        if let Some(kept) = calls.get(&call) {
            return match kept {
                None => Admission::Running,
                Some(reply) => Admission::Again(reply.clone()),
            };
        }
        if calls.len() >= self.per_caller {
            return Admission::Overloaded;
        }
        calls.insert(call, None);
        Admission::Run
    }

    /// Records how `call` ended; returns `false` (and records nothing) if the caller is gone.
    pub fn finish(&mut self, caller: &NodeId, call: u64, reply: &Result<Payload, Fault>) -> bool {
        match self.calls.get_mut(caller).and_then(|c| c.get_mut(&call)) {
            Some(slot) => {
                *slot = Some(reply.clone());
                true
            }
            None => false,
        }
    }

    /// The caller has the reply: forget the call.
    pub fn done(&mut self, caller: &NodeId, call: u64) {
        if let Some(calls) = self.calls.get_mut(caller) {
            // Only a finished call is forgotten: a `Done` cannot precede its reply.
            if matches!(calls.get(&call), Some(Some(_))) {
                calls.remove(&call);
            }
            if calls.is_empty() {
                self.calls.remove(caller);
            }
        }
    }

    /// The caller restarted or is down: forget its calls (replies still to come are dropped).
    pub fn caller_gone(&mut self, caller: &NodeId) {
        self.calls.remove(caller);
    }

    /// Calls kept, running or finished.
    pub fn len(&self) -> usize {
        self.calls.values().map(HashMap::len).sum()
    }

    /// Whether no call is kept.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

// ---- reference accounting --------------------------------------------------------------------

/// A holder's stream of reference operations to one owner, kept until acknowledged.
#[derive(Debug)]
pub struct RefOutbox {
    next: u64,
    unacked: VecDeque<(u64, RefOp)>,
}

impl Default for RefOutbox {
    fn default() -> Self {
        RefOutbox {
            next: 1,
            unacked: VecDeque::new(),
        }
    }
}

impl RefOutbox {
    /// Numbers `op` and keeps it; returns the message to send.
    pub fn push(&mut self, op: RefOp) -> Remote {
        let seq = self.next;
        self.next += 1;
        self.unacked.push_back((seq, op));
        Remote::Ref { seq, op }
    }

    /// The owner applied everything below `upto`.
    pub fn ack(&mut self, upto: u64) {
        while self.unacked.front().is_some_and(|(seq, _)| *seq < upto) {
            self.unacked.pop_front();
        }
    }

    /// What must be sent again after a reconnect, in order.
    pub fn resend(&self) -> impl Iterator<Item = Remote> + '_ {
        self.unacked
            .iter()
            .map(|&(seq, op)| Remote::Ref { seq, op })
    }

    /// Operations not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.unacked.len()
    }
}

/// What the owner keeps for one exposed object (module docs, "Reference accounting").
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Account {
    /// Handles per node (the owner's own included).
    handles: HashMap<MinterId, u64>,
    /// Tokens in transit (`true`), or adopted before their `Hold` arrived (`false`).
    tokens: HashMap<(MinterId, u64), bool>,
}

impl Account {
    /// Whether nothing refers to the object any more.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty() && !self.tokens.values().any(|held| *held)
    }

    /// Handles held, over all nodes.
    pub fn handles(&self) -> u64 {
        self.handles.values().sum()
    }

    /// Tokens in transit.
    pub fn in_transit(&self) -> usize {
        self.tokens.values().filter(|held| **held).count()
    }
}

/// What applying one operation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The acknowledgement to send the operation's sender (`RefAck { upto }`), if it came
    /// from another node.
    pub ack: Option<u64>,
    /// The object became unreferenced: drop it.
    pub freed: Option<ObjectId>,
    /// The operation named an object that is not exposed here (freed already, or never):
    /// counted, otherwise ignored.
    pub unknown: bool,
}

/// An owner's reference accounts: one [`Account`] per object it exposes, and the position of
/// each holder's stream.
#[derive(Debug)]
pub struct Ledger {
    me: MinterId,
    incarnation: Incarnation,
    next_seq: u64,
    accounts: HashMap<u64, Account>,
    /// Per sender, the next operation number it will apply.
    streams: HashMap<MinterId, u64>,
}

impl Ledger {
    /// The ledger of node `me` in its incarnation `incarnation`.
    pub fn new(me: &NodeId, incarnation: Incarnation) -> Ledger {
        Ledger {
            me: MinterId::of(me),
            incarnation,
            next_seq: 1,
            accounts: HashMap::new(),
            streams: HashMap::new(),
        }
    }

    /// A new object, with one handle held by the owner itself.
    pub fn expose(&mut self) -> ObjectId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut account = Account::default();
        account.handles.insert(self.me, 1);
        self.accounts.insert(seq, account);
        ObjectId {
            incarnation: self.incarnation,
            seq,
        }
    }

    /// Whether `obj` is exposed here.
    pub fn contains(&self, obj: ObjectId) -> bool {
        obj.incarnation == self.incarnation && self.accounts.contains_key(&obj.seq)
    }

    /// The account of `obj`, if it is exposed here.
    pub fn account(&self, obj: ObjectId) -> Option<&Account> {
        if obj.incarnation != self.incarnation {
            return None;
        }
        self.accounts.get(&obj.seq)
    }

    /// Objects exposed and still referenced.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether no object is exposed.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Applies an operation of the owner itself (no stream: it is applied at once).
    pub fn apply_local(&mut self, op: RefOp) -> Applied {
        let me = self.me;
        self.apply_op(me, op)
    }

    /// Applies an operation of `from` that comes outside a stream: from a node of the same
    /// process, whose operations arrive in order by construction.
    pub fn apply_unordered(&mut self, from: &NodeId, op: RefOp) -> Applied {
        self.apply_op(MinterId::of(from), op)
    }

    /// Applies operation `seq` of `from`'s stream, if it is the next one; an operation
    /// applied before is acknowledged again and not applied; one beyond the next is left for
    /// its resend (the operations before it were lost with a connection).
    pub fn apply(&mut self, from: &NodeId, seq: u64, op: RefOp) -> Applied {
        let sender = MinterId::of(from);
        let next = self.streams.entry(sender).or_insert(1);
        if seq != *next {
            let upto = *next;
            return Applied {
                ack: Some(upto),
                ..Applied::default()
            };
        }
        *next += 1;
        let upto = *next;
        let mut applied = self.apply_op(sender, op);
        applied.ack = Some(upto);
        applied
    }

    fn apply_op(&mut self, sender: MinterId, op: RefOp) -> Applied {
        let obj = op.obj();
        let account = match self.accounts.get_mut(&obj.seq) {
            Some(a) if obj.incarnation == self.incarnation => a,
            _ => {
                return Applied {
                    unknown: true,
                    ..Applied::default()
                }
            }
        };
        match op {
            RefOp::Hold { token, .. } => match account.tokens.entry((sender, token)) {
                // Adopted before its `Hold` arrived: the two cancel.
                Entry::Occupied(e) if !*e.get() => {
                    e.remove();
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(e) => {
                    e.insert(true);
                }
            },
            RefOp::Adopt { minter, token, .. } => {
                *account.handles.entry(sender).or_insert(0) += 1;
                match account.tokens.entry((minter, token)) {
                    Entry::Occupied(e) if *e.get() => {
                        e.remove();
                    }
                    Entry::Occupied(_) => {}
                    Entry::Vacant(e) => {
                        e.insert(false);
                    }
                }
            }
            RefOp::Release { .. } => {
                if let Entry::Occupied(mut e) = account.handles.entry(sender) {
                    *e.get_mut() -= 1;
                    if *e.get() == 0 {
                        e.remove();
                    }
                }
            }
        }
        let freed = account.is_empty().then(|| {
            self.accounts.remove(&obj.seq);
            obj
        });
        Applied {
            freed,
            ..Applied::default()
        }
    }

    /// `node` restarted or was declared down: drop its handles and the tokens it minted, and
    /// forget its stream. Returns the objects nothing refers to any more.
    pub fn node_gone(&mut self, node: &NodeId) -> Vec<ObjectId> {
        let gone = MinterId::of(node);
        self.streams.remove(&gone);
        let mut freed = Vec::new();
        self.accounts.retain(|&seq, account| {
            account.handles.remove(&gone);
            account.tokens.retain(|(minter, _), _| *minter != gone);
            if account.is_empty() {
                freed.push(ObjectId {
                    incarnation: self.incarnation,
                    seq,
                });
                false
            } else {
                true
            }
        });
        freed
    }
}

#[cfg(test)]
#[path = "remote_tests.rs"]
mod tests;
