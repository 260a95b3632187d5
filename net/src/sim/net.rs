//! The simulated network: QUIC-like connections of ordered, reliable streams over lossy,
//! reordering, duplicating datagram links. See [`Network`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::Duration;

use super::rng::Rng;

/// A node's index in the simulated cluster.
pub type NodeIx = usize;

/// A connection's id, unique within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// A stream of a connection. Each direction of each stream is an ordered, reliable byte
/// stream, independent of the others (a lost datagram delays only its own stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);

impl StreamId {
    /// The control stream: handshake, keep-alive, goodbye.
    pub const CONTROL: StreamId = StreamId(0);
}

/// How the links between nodes behave. Every datagram draws its own fate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// Probability that a datagram is lost (it is then retransmitted).
    pub loss: f64,
    /// Probability that a datagram that arrives arrives twice.
    pub duplicate: f64,
    /// The one-way delay of every datagram.
    pub delay: Duration,
    /// Up to this much extra delay, drawn per datagram: datagrams overtake each other.
    pub jitter: Duration,
    /// The first retransmission timeout; it doubles with each retry of a datagram.
    pub rto: Duration,
    /// The largest retransmission timeout.
    pub rto_max: Duration,
    /// The most stream bytes in one datagram (at least 1): frames are cut at random sizes
    /// up to this, so decoders see them in pieces.
    pub mss: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            loss: 0.0,
            duplicate: 0.0,
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            rto: Duration::from_millis(30),
            rto_max: Duration::from_millis(800),
            mss: 1200,
        }
    }
}

/// What the network tells a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// A connection dialled by `peer` reached `node` (its first datagram arrived).
    Incoming {
        /// The listening node.
        node: NodeIx,
        /// The connection.
        conn: ConnId,
        /// The dialer.
        peer: NodeIx,
    },
    /// The next bytes of a stream, in order.
    Data {
        /// The receiving node.
        node: NodeIx,
        /// The connection.
        conn: ConnId,
        /// The stream.
        stream: StreamId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The peer closed the connection (its close notice arrived).
    Closed {
        /// The node told.
        node: NodeIx,
        /// The connection.
        conn: ConnId,
    },
}

/// Counters of a network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams put on a link (first transmissions and retransmissions).
    pub datagrams: u64,
    /// Datagrams lost (to the loss rate or a cut link).
    pub lost: u64,
    /// Datagrams that arrived twice.
    pub duplicated: u64,
    /// Datagrams that arrived ahead of an earlier part of their stream.
    pub reordered: u64,
    /// Connections dialled.
    pub dials: u64,
}

/// One direction's reassembly of a stream.
#[derive(Debug, Default)]
struct Reassembly {
    /// The next offset to hand out.
    next: u64,
    /// Datagrams that arrived ahead of `next`, by offset.
    early: BTreeMap<u64, Vec<u8>>,
}

#[derive(Debug, Default)]
struct Endpoint {
    sent: BTreeMap<StreamId, u64>,
    recv: BTreeMap<StreamId, Reassembly>,
}

#[derive(Debug)]
enum SideState {
    /// A listener side no datagram has reached yet.
    Pending,
    Open(Endpoint),
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Dialer = 0,
    Listener = 1,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Dialer => Side::Listener,
            Side::Listener => Side::Dialer,
        }
    }
}

#[derive(Debug)]
struct Conn {
    nodes: [NodeIx; 2],
    /// The listener's boot count when the connection was dialled: a node that restarted
    /// since never accepts it (a QUIC server forgets connections when it restarts).
    listener_boot: u64,
    sides: [SideState; 2],
}

impl Conn {
    fn side_of(&self, node: NodeIx) -> Option<Side> {
        // A node never dials itself, so at most one side matches.
        [Side::Dialer, Side::Listener]
            .into_iter()
            .find(|s| self.nodes[*s as usize] == node)
    }
}

#[derive(Debug)]
enum Ev {
    /// A (re)transmission of stream bytes.
    Attempt {
        conn: ConnId,
        from: Side,
        stream: StreamId,
        offset: u64,
        bytes: Vec<u8>,
        tries: u32,
    },
    Arrive {
        conn: ConnId,
        to: Side,
        stream: StreamId,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// The close notice leaves.
    CloseSend {
        conn: ConnId,
        from: Side,
    },
    CloseNotice {
        conn: ConnId,
        to: Side,
    },
}

#[derive(Debug)]
struct Scheduled {
    at: Duration,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A deterministic network of nodes with QUIC's service model, driven by virtual time.
///
/// What it models, and what the protocol code above sees:
///
/// - **Connections** between two nodes, dialled by one. The listener learns of a connection
///   when its first datagram arrives ([`NetEvent::Incoming`]); a node that restarted never
///   accepts a connection dialled before (a new QUIC server has no state for it).
/// - **Streams**: per connection, any number of independent byte streams per direction,
///   each ordered and reliable. Bytes are cut into datagrams of random size up to
///   [`LinkConfig::mss`]; each datagram is lost with [`LinkConfig::loss`] (and retransmitted
///   after a timeout that doubles up to [`LinkConfig::rto_max`]), delayed by
///   [`LinkConfig::delay`] plus up to [`LinkConfig::jitter`] (so datagrams overtake each
///   other), and duplicated with [`LinkConfig::duplicate`]. The receiver reassembles by
///   offset: **loss becomes delay, never reordering or duplication within a stream**; across
///   streams anything goes.
/// - **Cuts** ([`block`](Network::block)): a cut link loses every datagram, one direction at
///   a time (a one-way partition is one cut; cuts nest). Retransmissions continue with
///   backoff, so a stream resumes by itself when the cut heals — if its connection is still
///   open.
/// - **Closing**: a side that closes stops retransmitting (its bytes sent before the close
///   get one try) and sends one close notice, which the link may lose; the other side
///   learns of the close from the notice ([`NetEvent::Closed`]) or not at all. There is no
///   transport idle timeout: the protocol's keep-alive and idle timeout are the failure
///   detector, as with the real driver.
/// - **Crashes** ([`crash`](Network::crash)): every side of the node vanishes without a
///   notice, and datagrams to it are dropped until [`restart`](Network::restart).
///
/// Time only moves when the caller says: [`next_time`](Network::next_time) says when the
/// next datagram lands, [`poll`](Network::poll) processes everything due by `now`. Same
/// seed, same calls: same run.
#[derive(Debug)]
pub struct Network {
    config: LinkConfig,
    rng: Rng,
    up: Vec<bool>,
    boot: Vec<u64>,
    /// Cut counts per directed link (cuts nest).
    cuts: BTreeMap<(NodeIx, NodeIx), u32>,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    out: VecDeque<NetEvent>,
    stats: NetStats,
}

impl Network {
    /// A network of `nodes` nodes, all up, no cut, no connection.
    pub fn new(nodes: usize, config: LinkConfig, rng: Rng) -> Network {
        Network {
            config,
            rng,
            up: vec![true; nodes],
            boot: vec![0; nodes],
            cuts: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            queue: BinaryHeap::new(),
            seq: 0,
            out: VecDeque::new(),
            stats: NetStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Opens a connection from `from` to `to`; `from`'s side is open at once.
    pub fn dial(&mut self, from: NodeIx, to: NodeIx) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.stats.dials += 1;
        self.conns.insert(
            id,
            Conn {
                nodes: [from, to],
                listener_boot: self.boot[to],
                sides: [SideState::Open(Endpoint::default()), SideState::Pending],
            },
        );
        id
    }

    /// Writes `bytes` to `node`'s side of `stream` on `conn`. Returns `false` (and sends
    /// nothing) if that side is not open.
    pub fn send(
        &mut self,
        now: Duration,
        node: NodeIx,
        conn: ConnId,
        stream: StreamId,
        bytes: &[u8],
    ) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let Some(side) = c.side_of(node) else {
            return false;
        };
        let SideState::Open(ep) = &mut c.sides[side as usize] else {
            return false;
        };
        let offset = ep.sent.entry(stream).or_insert(0);
        let mut start = *offset;
        *offset += bytes.len() as u64;
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = (self.rng.range(1, self.config.mss.max(1) as u64) as usize).min(rest.len());
            let (seg, tail) = rest.split_at(n);
            rest = tail;
            let ev = Ev::Attempt {
                conn,
                from: side,
                stream,
                offset: start,
                bytes: seg.to_vec(),
                tries: 0,
            };
            start += n as u64;
            self.schedule(now, ev);
        }
        true
    }

    /// Closes `node`'s side of `conn`: it stops retransmitting and sends a close notice.
    pub fn close(&mut self, now: Duration, node: NodeIx, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(side) = c.side_of(node) else { return };
        c.sides[side as usize] = SideState::Closed;
        match c.sides[side.other() as usize] {
            // The notice leaves after the bytes written before the close.
            SideState::Open(_) => self.schedule(now, Ev::CloseSend { conn, from: side }),
            // The listener never heard of it, or it is closed too: forget it.
            SideState::Pending | SideState::Closed => {
                self.conns.remove(&conn);
            }
        }
    }

    /// Crashes `node`: its sides vanish silently; it receives nothing until restarted.
    pub fn crash(&mut self, node: NodeIx) {
        self.up[node] = false;
        self.boot[node] += 1;
        for c in self.conns.values_mut() {
            if let Some(side) = c.side_of(node) {
                c.sides[side as usize] = SideState::Closed;
            }
        }
    }

    /// Restarts a crashed `node`.
    pub fn restart(&mut self, node: NodeIx) {
        self.up[node] = true;
    }

    /// Cuts the link `from → to` (cuts nest: each `block` needs its `unblock`).
    pub fn block(&mut self, from: NodeIx, to: NodeIx) {
        *self.cuts.entry((from, to)).or_insert(0) += 1;
    }

    /// Heals one cut of the link `from → to`.
    pub fn unblock(&mut self, from: NodeIx, to: NodeIx) {
        if let Some(n) = self.cuts.get_mut(&(from, to)) {
            *n -= 1;
            if *n == 0 {
                self.cuts.remove(&(from, to));
            }
        }
    }

    /// Whether the link `from → to` is cut.
    pub fn is_blocked(&self, from: NodeIx, to: NodeIx) -> bool {
        self.cuts.contains_key(&(from, to))
    }

    /// When the next datagram lands, if any is in flight (`Some(ZERO)`-like "now" when events
    /// are waiting to be polled).
    pub fn next_time(&self) -> Option<Duration> {
        if !self.out.is_empty() {
            return Some(Duration::ZERO);
        }
        self.queue.peek().map(|Reverse(s)| s.at)
    }

    /// The next event due by `now`, processing the datagrams that land by then.
    pub fn poll(&mut self, now: Duration) -> Option<NetEvent> {
        loop {
            if let Some(e) = self.out.pop_front() {
                return Some(e);
            }
            match self.queue.peek() {
                Some(Reverse(s)) if s.at <= now => {}
                _ => return None,
            }
            let Reverse(s) = self.queue.pop()?;
            self.process(s.at, s.ev);
        }
    }

    fn schedule(&mut self, at: Duration, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            ev,
        }));
    }

    fn delay(&mut self) -> Duration {
        self.config.delay + self.rng.duration(Duration::ZERO, self.config.jitter)
    }

    /// Whether a datagram from `from` to `to` gets through.
    fn fate(&mut self, from: NodeIx, to: NodeIx) -> bool {
        self.stats.datagrams += 1;
        if self.is_blocked(from, to) || self.rng.chance(self.config.loss) {
            self.stats.lost += 1;
            false
        } else {
            true
        }
    }

    fn process(&mut self, now: Duration, ev: Ev) {
        match ev {
            Ev::Attempt {
                conn,
                from,
                stream,
                offset,
                bytes,
                tries,
            } => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                let open = matches!(c.sides[from as usize], SideState::Open(_));
                if !open && tries > 0 {
                    return;
                }
                let (a, b) = (c.nodes[from as usize], c.nodes[from.other() as usize]);
                if self.fate(a, b) {
                    let to = from.other();
                    if self.rng.chance(self.config.duplicate) {
                        self.stats.duplicated += 1;
                        let at = now + self.delay();
                        let copy = bytes.clone();
                        self.schedule(
                            at,
                            Ev::Arrive {
                                conn,
                                to,
                                stream,
                                offset,
                                bytes: copy,
                            },
                        );
                    }
                    let at = now + self.delay();
                    self.schedule(
                        at,
                        Ev::Arrive {
                            conn,
                            to,
                            stream,
                            offset,
                            bytes,
                        },
                    );
                } else if open {
                    let rto = self
                        .config
                        .rto
                        .saturating_mul(1 << tries.min(16))
                        .min(self.config.rto_max);
                    self.schedule(
                        now + rto,
                        Ev::Attempt {
                            conn,
                            from,
                            stream,
                            offset,
                            bytes,
                            tries: tries + 1,
                        },
                    );
                }
            }
            Ev::Arrive {
                conn,
                to,
                stream,
                offset,
                bytes,
            } => self.arrive(conn, to, stream, offset, bytes),
            Ev::CloseSend { conn, from } => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                let (a, b) = (c.nodes[from as usize], c.nodes[from.other() as usize]);
                if self.fate(a, b) {
                    let at = now + self.delay();
                    let to = from.other();
                    self.schedule(at, Ev::CloseNotice { conn, to });
                }
            }
            Ev::CloseNotice { conn, to } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                let node = c.nodes[to as usize];
                if self.up[node] && matches!(c.sides[to as usize], SideState::Open(_)) {
                    self.out.push_back(NetEvent::Closed { node, conn });
                }
                self.conns.remove(&conn);
            }
        }
    }

    fn arrive(&mut self, conn: ConnId, to: Side, stream: StreamId, offset: u64, bytes: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let node = c.nodes[to as usize];
        if !self.up[node] {
            return;
        }
        if matches!(c.sides[to as usize], SideState::Pending) {
            if self.boot[node] != c.listener_boot {
                return;
            }
            c.sides[to as usize] = SideState::Open(Endpoint::default());
            self.out.push_back(NetEvent::Incoming {
                node,
                conn,
                peer: c.nodes[to.other() as usize],
            });
        }
        let SideState::Open(ep) = &mut c.sides[to as usize] else {
            return;
        };
        let r = ep.recv.entry(stream).or_default();
        let end = offset + bytes.len() as u64;
        if end <= r.next {
            return; // a duplicate of what was handed out
        }
        if offset > r.next {
            self.stats.reordered += 1;
            r.early.entry(offset).or_insert(bytes);
            return;
        }
        let mut data = bytes[(r.next - offset) as usize..].to_vec();
        r.next = end;
        while let Some(entry) = r.early.first_entry() {
            let off = *entry.key();
            if off > r.next {
                break;
            }
            let seg = entry.remove();
            let seg_end = off + seg.len() as u64;
            if seg_end > r.next {
                data.extend_from_slice(&seg[(r.next - off) as usize..]);
                r.next = seg_end;
            }
        }
        self.out.push_back(NetEvent::Data {
            node,
            conn,
            stream,
            bytes: data,
        });
    }
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;
