//! The peer table: at most one connection per peer, and the rule both ends use to pick it.
//!
//! # Which connection survives
//!
//! Two connections between the same pair can exist for a moment: both nodes dialled at once,
//! one side redialled while the other still holds the old connection, or the peer restarted.
//! Each side applies [`prefer_new`] when a connection completes its hello, and the rule gives
//! the same answer on both ends, so both keep the same connection without talking:
//!
//! 1. **A new incarnation wins.** The peer restarted; its old connection belongs to a dead
//!    process.
//! 2. **Otherwise the connection dialled by [`surviving_dialer`] wins** (the smaller node id).
//!    Both ends know who dialled each connection.
//! 3. **Same dialer: the newer wins.** A node dials a peer only when it holds no connection to
//!    it (dials are serialized per peer, see `Mesh::connect`), so the older one is dead on the
//!    dialler's side and merely undetected here. "Newer" is the order of completion here; the
//!    dialler's second hello follows its first, so the order is the same on both ends.
//!
//! A listener applies the rule *before* it answers the hello: a losing connection is closed
//! with `Goodbye(Superseded)` instead of a `HelloAck`, so its dialler never uses it, and a
//! connection that supersedes another is registered on the listener before the dialler can
//! learn of it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::proto::{surviving_dialer, Incarnation, NodeId};

/// What the rule looks at in a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkKey {
    /// Who dialled it.
    pub(crate) dialer: NodeId,
    /// The peer's incarnation, from the hello.
    pub(crate) incarnation: Incarnation,
    /// The order of completion on this node (grows).
    pub(crate) generation: u64,
}

/// Whether a connection `new` to `peer` replaces `current` (see the [module docs](self)).
pub(crate) fn prefer_new(me: &NodeId, peer: &NodeId, current: &LinkKey, new: &LinkKey) -> bool {
    if new.incarnation != current.incarnation {
        return true;
    }
    if new.dialer != current.dialer {
        return &new.dialer == surviving_dialer(me, peer);
    }
    new.generation > current.generation
}

/// What the table needs from a connection.
pub(crate) trait PeerLink {
    /// The rule's inputs.
    fn key(&self) -> &LinkKey;
    /// The peer's address.
    fn addr(&self) -> SocketAddr;
}

#[derive(Debug)]
struct Slot<L> {
    /// The connection in use.
    current: Option<Arc<L>>,
    /// The connection registered last (in use or not): the next one waits for it to finish
    /// delivering before it delivers, so a peer's deliveries stay in connection order.
    last: Option<Arc<L>>,
    /// A redial is running.
    redialing: bool,
}

impl<L> Default for Slot<L> {
    fn default() -> Self {
        Slot {
            current: None,
            last: None,
            redialing: false,
        }
    }
}

/// The outcome of [`Peers::register`].
#[derive(Debug)]
pub(crate) enum Registration<L> {
    /// The connection is now the peer's.
    Installed {
        /// The connection it replaced (to close), if any.
        replaced: Option<Arc<L>>,
        /// The connection registered before it, which must finish delivering first.
        previous: Option<Arc<L>>,
    },
    /// The current connection wins; close the new one as superseded.
    Rejected,
}

/// FNV-1a, for the table's keys: every send looks its peer up, and the keys are node ids from
/// certificates of the cluster's CA, which an outsider cannot choose to collide.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Every peer's connection.
#[derive(Debug)]
pub(crate) struct Peers<L> {
    me: NodeId,
    slots: HashMap<NodeId, Slot<L>, BuildHasherDefault<Fnv>>,
}

impl<L: PeerLink> Peers<L> {
    /// An empty table for the node `me`.
    pub(crate) fn new(me: NodeId) -> Self {
        Peers {
            me,
            slots: HashMap::default(),
        }
    }

    /// Offers `link` as `peer`'s connection.
    pub(crate) fn register(&mut self, peer: &NodeId, link: Arc<L>) -> Registration<L> {
        let slot = self.slots.entry(peer.clone()).or_default();
        if let Some(current) = &slot.current {
            if !prefer_new(&self.me, peer, current.key(), link.key()) {
                return Registration::Rejected;
            }
        }
        let replaced = slot.current.replace(link.clone());
        let previous = slot.last.replace(link);
        Registration::Installed { replaced, previous }
    }

    /// `peer`'s connection.
    pub(crate) fn current(&self, peer: &NodeId) -> Option<Arc<L>> {
        self.slots.get(peer).and_then(|s| s.current.clone())
    }

    /// The peer whose connection comes from `addr`.
    pub(crate) fn peer_at(&self, addr: SocketAddr) -> Option<NodeId> {
        self.slots.iter().find_map(|(id, slot)| {
            slot.current
                .as_ref()
                .filter(|l| l.addr() == addr)
                .map(|_| id.clone())
        })
    }

    /// Forgets `link` if it is `peer`'s connection; returns whether it was.
    pub(crate) fn remove(&mut self, peer: &NodeId, link: &Arc<L>) -> bool {
        match self.slots.get_mut(peer) {
            Some(slot) if slot.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, link)) => {
                slot.current = None;
                true
            }
            _ => false,
        }
    }

    /// Forgets `link` as the last registered one once it has finished delivering, so the
    /// table holds no finished connection.
    pub(crate) fn finished(&mut self, peer: &NodeId, link: &Arc<L>) {
        if let Some(slot) = self.slots.get_mut(peer) {
            if slot.last.as_ref().is_some_and(|l| Arc::ptr_eq(l, link)) {
                slot.last = None;
            }
            if slot.current.is_none() && slot.last.is_none() && !slot.redialing {
                self.slots.remove(peer);
            }
        }
    }

    /// Marks a redial of `peer` as running; `false` if one already is.
    pub(crate) fn start_redial(&mut self, peer: &NodeId) -> bool {
        let slot = self.slots.entry(peer.clone()).or_default();
        !std::mem::replace(&mut slot.redialing, true)
    }

    /// Marks the redial of `peer` as over.
    pub(crate) fn end_redial(&mut self, peer: &NodeId) {
        if let Some(slot) = self.slots.get_mut(peer) {
            slot.redialing = false;
            if slot.current.is_none() && slot.last.is_none() {
                self.slots.remove(peer);
            }
        }
    }

    /// Every peer with a connection, and it.
    pub(crate) fn all(&self) -> Vec<(NodeId, Arc<L>)> {
        self.slots
            .iter()
            .filter_map(|(id, s)| s.current.clone().map(|c| (id.clone(), c)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fake(LinkKey);

    impl PeerLink for Fake {
        fn key(&self) -> &LinkKey {
            &self.0
        }
        fn addr(&self) -> SocketAddr {
            SocketAddr::from(([127, 0, 0, 1], 9000))
        }
    }

    fn id(s: &str) -> NodeId {
        NodeId::new(s).expect("node id")
    }

    fn key(dialer: &str, incarnation: u64, generation: u64) -> LinkKey {
        LinkKey {
            dialer: id(dialer),
            incarnation: Incarnation(incarnation),
            generation,
        }
    }

    #[test]
    fn simultaneous_dials_agree_on_the_smaller_dialer() {
        let (a, b) = (id("a"), id("b"));
        // On a: current dialled by b, new dialled by a (and the reverse order of arrival).
        assert!(prefer_new(&a, &b, &key("b", 2, 1), &key("a", 2, 2)));
        assert!(!prefer_new(&a, &b, &key("a", 2, 1), &key("b", 2, 2)));
        // On b, with the incarnation of a.
        assert!(prefer_new(&b, &a, &key("b", 1, 1), &key("a", 1, 2)));
        assert!(!prefer_new(&b, &a, &key("a", 1, 1), &key("b", 1, 2)));
    }

    #[test]
    fn a_new_incarnation_or_a_newer_redial_wins() {
        let (a, b) = (id("a"), id("b"));
        // b restarted and dialled: its new incarnation beats a's old connection.
        assert!(prefer_new(&a, &b, &key("a", 2, 1), &key("b", 3, 2)));
        // a redialled while b still held a's old connection.
        assert!(prefer_new(&b, &a, &key("a", 1, 1), &key("a", 1, 5)));
    }

    #[test]
    fn the_table_keeps_one_connection_and_chains_deliveries() {
        let (a, b) = (id("a"), id("b"));
        let mut peers = Peers::new(a.clone());
        let first = Arc::new(Fake(key("b", 2, 1)));
        assert!(matches!(
            peers.register(&b, first.clone()),
            Registration::Installed {
                replaced: None,
                previous: None
            }
        ));
        let winner = Arc::new(Fake(key("a", 2, 2)));
        match peers.register(&b, winner.clone()) {
            Registration::Installed { replaced, previous } => {
                assert!(Arc::ptr_eq(&replaced.expect("replaced"), &first));
                assert!(Arc::ptr_eq(&previous.expect("previous"), &first));
            }
            Registration::Rejected => panic!("the smaller dialer must win"),
        }
        let loser = Arc::new(Fake(key("b", 2, 3)));
        assert!(matches!(peers.register(&b, loser), Registration::Rejected));
        assert_eq!(peers.peer_at(winner.addr()), Some(b.clone()));
        assert!(!peers.remove(&b, &first));
        assert!(peers.remove(&b, &winner));
        assert!(peers.current(&b).is_none());
        peers.finished(&b, &winner);
        assert!(peers.all().is_empty());
        assert!(peers.start_redial(&b));
        assert!(!peers.start_redial(&b));
        peers.end_redial(&b);
        assert!(peers.slots.is_empty());
    }
}
