//! The mesh: a node's connections to its peers over QUIC, as a message layer.
//!
//! A [`Mesh`] turns a [`NodeEndpoint`] into "send this [`Message`] to that node" and "here is
//! the next message from any node" ([`Inbox`]). It runs the sans-IO
//! [`Connection`](crate::proto::Connection) of
//! [`crate::proto`] on each connection and leaves channel semantics, resends and
//! deduplication to the layer above ([`OpLog`](crate::proto::OpLog)).
//!
//! # Connections
//!
//! - **Authenticated before anything else.** A connection passes mutual TLS
//!   ([`NodeEndpoint`]), then the hello on the control stream (the first bidirectional stream,
//!   opened by the dialer). The listener checks the id the `Hello` claims against the
//!   certificate ([`check_claim`](super::check_claim)) before it feeds the hello to the
//!   handshake: a peer that claims another id is refused with
//!   [`Refusal::IdMismatch`](super::Refusal::IdMismatch), and neither side reads any other
//!   stream of a connection before its hello succeeded. A refused peer reaches nothing.
//! - **One connection per pair, whoever dialled.** When two connections to one peer complete
//!   (simultaneous dials, a redial, a restart), both ends keep the same one by a rule they
//!   apply independently (see `peers.rs`): a new incarnation wins, else the connection dialled
//!   by [`surviving_dialer`](crate::proto::surviving_dialer), else the newer. A node dials a
//!   peer only when it has no connection to it, one dial at a time.
//! - **The failure detector is QUIC's idle timeout** ([`QuicConfig`](super::QuicConfig)):
//!   keep-alives every `keep_alive`, and a connection that hears nothing for `idle_timeout`
//!   fails. (The sans-IO core's own ping is not used: its idle timeout is set to a day.)
//! - **Redial.** When a connection fails (idle timeout, reset) and the peer did not say
//!   goodbye, the side that [`surviving_dialer`](crate::proto::surviving_dialer) names redials
//!   the address it knew, with backoff, for [`MeshConfig::redial_for`]; the other side waits.
//!
//! # Lanes: streams per class
//!
//! Application messages travel on [`LANES`] unidirectional streams per direction, opened on
//! first use. A message's lane is a hash of its channel's name ([`lane_of`]), so every message
//! about one channel between two nodes travels in order on one stream, and channels on other
//! lanes never wait behind it: a stalled lane (a peer that stops reading it, a huge value
//! crossing it) blocks only its own senders. The control stream has priority over every lane.
//!
//! # Buffers and backpressure
//!
//! Every buffer is bounded, and a full one makes its producer wait:
//!
//! - **Sending.** [`send`](Mesh::send) encodes the message (with the peer's announced frame
//!   limit) and waits for room in its lane's buffer ([`MeshConfig::lane_buffer`] bytes; a
//!   frame larger than the whole buffer waits for it to be empty). Senders that wait are
//!   served first come, first served. A lane's writer drains the buffer into its stream,
//!   **batching** small frames: frames are queued in blocks of up to
//!   [`MeshConfig::batch_bytes`], the writer takes every block queued at that moment and
//!   writes each in one stream write; their room is given back as each write completes. When the peer stops reading, QUIC's stream flow control blocks the
//!   writer, the lane's buffer fills, and `send` waits.
//! - **Receiving.** Readers decode frames with a [`Decoder`](crate::proto::Decoder) (the size
//!   cap is checked before a byte of the body is buffered) into the [`Inbox`], bounded both in
//!   items ([`MeshConfig::inbox_messages`]) and in bytes ([`MeshConfig::inbox_bytes`]). A
//!   reader decodes every frame its stream has ready (up to 256 messages or about 64 KiB)
//!   and puts them into the inbox at once, with one wakeup of the consumer. A slow consumer fills the inbox;
//!   readers then stop reading, and QUIC flow control pushes back on the peers.
//! - **Per connection**, a peer can make this node hold at most [`LANES`] streams × (QUIC's
//!   stream window + one partial frame ≤ `max_frame` + one read batch, under 128 KiB of
//!   frames, waiting for inbox room), plus its share of the inbox.
//!
//! # Bad input
//!
//! On an authenticated lane, a frame that does not decode (or is not an application message)
//! is counted ([`MeshStats::bad_frames`]) and skipped; a frame that breaks the framing (a
//! length prefix above the cap) stops that stream ([`MeshStats::streams_reset`]). Neither closes
//! the connection, and the node keeps serving. Datagrams that are not QUIC for a known
//! connection never get past quinn.
//!
//! # What the mesh guarantees, and what it does not
//!
//! - **FIFO per lane while a connection lives**: messages one task sends to one peer about one
//!   channel arrive in the order sent, with no gap and no duplicate, as long as the connection
//!   they were sent on lives.
//! - **`Ok` from `send` means queued on a live connection, not delivered.** When a connection
//!   ends, what was queued or in flight on it may be lost: the mesh never resends. The peer's
//!   [`PeerEvent::Down`](super::PeerEvent::Down) (or the next [`PeerEvent::Up`](super::PeerEvent::Up), when a connection is replaced without
//!   going down) is the signal: the layer above resends every operation not yet answered, with
//!   the same op id, and the home deduplicates ([`OpLog`](crate::proto::OpLog)). Across a
//!   restart of the peer (a new incarnation in `Up`), pending operations fail instead.
//! - **No duplicates from the mesh**: a frame is written once and delivered at most once.
//! - **Nothing waits forever on a dead peer**: when a connection fails, every `send` waiting
//!   on it fails with [`SendError::NodeDown`] at once, and later sends fail the same way until
//!   the next `Up`; a connection fails at the latest one idle timeout after the peer fell
//!   silent.
//! - **Events in connection order**: per peer, the inbox yields `Up` of a connection before
//!   any message read from it, those messages, then its `Down` if it went down, then the next
//!   connection's `Up`.
//!
//! Deadlock note: the inbox consumer must not block indefinitely on a send while it stops
//! reading the inbox (two nodes doing so to each other would wait forever). Use
//! [`try_send`](Mesh::try_send), or send from another task; the channel protocol bounds
//! what is outstanding (one operation in flight per party, homes answer `Overloaded`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::proto::remote::Remote;
use crate::proto::ProtoError;

use crate::proto::{
    fnv1a, ConnConfig, Incarnation, Limits, Local, Message, NodeId, Role, WIRE_VERSION,
};

use super::events::{Delivery, MeshStats, PeerStatus, SendError};
pub use super::inbox::Inbox;
use super::inbox::InboxQueue;
use super::lane::{encode_scratch, Push};
use super::link::{code, lock, run_link, Link, LocalClose};
use super::peers::Peers;
use super::{ConnectError, NodeEndpoint};

/// Lanes (unidirectional streams per direction) of a connection. Part of the wire: every node
/// of a cluster uses the same number.
pub const LANES: usize = 16;

pub(super) const LANES_VARINT: quinn::VarInt = quinn::VarInt::from_u32(LANES as u32);

/// Incoming connections that may be in their handshake at once; more are refused.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// The idle timeout given to the sans-IO core, whose ping is not used (QUIC's idle timeout is
/// the failure detector).
const CORE_IDLE: Duration = Duration::from_secs(24 * 3600);

/// The lane a message travels on: a hash of its channel's name, or `None` for the driver's own
/// messages (handshake, ping, goodbye), which travel on the control stream.
///
/// # Examples
///
/// ```
/// use tern_net::proto::{ChannelId, Message, ToHome};
/// use tern_net::quic::mesh::lane_of;
///
/// let open = |name: &str| Message::ToHome(ToHome::Open { chan: ChannelId::of::<u64>(name, 0) });
/// assert_eq!(lane_of(&open("jobs")), lane_of(&open("jobs")));
/// assert_eq!(lane_of(&Message::Ping(1)), None);
/// ```
pub fn lane_of(message: &Message) -> Option<usize> {
    let h = match message {
        Message::ToHome(m) => fnv1a(m.chan().name.as_str().as_bytes()),
        Message::FromHome(m) => fnv1a(m.chan().name.as_str().as_bytes()),
        // All messages about one task travel on one lane.
        Message::Migrate(m) => {
            let t = m.task();
            fnv1a(&[t.origin.to_le_bytes(), t.seq.to_le_bytes()].concat())
        }
        // A node's reference operations to one owner are one ordered stream; calls spread.
        Message::Remote(m) => match m {
            Remote::Call { call, .. } | Remote::Reply { call, .. } | Remote::Done { call } => {
                fnv1a(&call.to_le_bytes())
            }
            Remote::Ref { .. } | Remote::RefAck { .. } => fnv1a(b"remote references"),
        },
        _ => return None,
    };
    // Fold the high bits in: FNV's low bits alone are weak.
    Some(((h ^ (h >> 29) ^ (h >> 47)) % LANES as u64) as usize)
}

/// Buffer sizes and timeouts of a [`Mesh`]. Timing of the failure detector is the endpoint's
/// ([`QuicConfig`](super::QuicConfig)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tern_net::quic::MeshConfig;
///
/// let config = MeshConfig::default()
///     .with_lane_buffer(256 << 10)
///     .with_redial_for(Duration::ZERO); // never redial
/// assert_eq!(config.lane_buffer, 256 << 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MeshConfig {
    /// Bytes of encoded frames a lane queues before `send` waits. Default: 1 MiB.
    pub lane_buffer: usize,
    /// The most bytes a lane's writer gathers into one stream write. Default: 64 KiB.
    pub batch_bytes: usize,
    /// Items the inbox holds before readers stop reading. Default: 4096.
    pub inbox_messages: usize,
    /// Bytes of frames the inbox holds before readers stop reading. Default: 32 MiB.
    pub inbox_bytes: usize,
    /// The largest frame accepted (announced to peers in the hello). Default: 16 MiB.
    pub max_frame: u32,
    /// How long the hello may take after TLS. Default: 10 s.
    pub handshake_timeout: Duration,
    /// How long the dialing side keeps redialling a lost peer. Default: 30 s; zero never
    /// redials.
    pub redial_for: Duration,
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            lane_buffer: 1 << 20,
            batch_bytes: 64 << 10,
            inbox_messages: 4096,
            inbox_bytes: 32 << 20,
            max_frame: Limits::default().max_frame,
            handshake_timeout: Duration::from_secs(10),
            redial_for: Duration::from_secs(30),
        }
    }
}

impl MeshConfig {
    /// Sets [`lane_buffer`](Self::lane_buffer).
    pub fn with_lane_buffer(mut self, bytes: usize) -> Self {
        self.lane_buffer = bytes;
        self
    }

    /// Sets [`batch_bytes`](Self::batch_bytes).
    pub fn with_batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes;
        self
    }

    /// Sets [`inbox_messages`](Self::inbox_messages) and [`inbox_bytes`](Self::inbox_bytes).
    pub fn with_inbox(mut self, messages: usize, bytes: usize) -> Self {
        self.inbox_messages = messages;
        self.inbox_bytes = bytes;
        self
    }

    /// Sets [`max_frame`](Self::max_frame) (at least
    /// [`Limits::MIN_MAX_FRAME`](crate::proto::Limits::MIN_MAX_FRAME)).
    pub fn with_max_frame(mut self, bytes: u32) -> Self {
        self.max_frame = bytes.max(Limits::MIN_MAX_FRAME);
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`redial_for`](Self::redial_for).
    pub fn with_redial_for(mut self, window: Duration) -> Self {
        self.redial_for = window;
        self
    }

    /// Bounds every size at 1 and keeps the semaphores' ranges.
    fn sanitized(mut self) -> Self {
        let cap = Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        self.lane_buffer = self.lane_buffer.clamp(1, cap);
        self.batch_bytes = self.batch_bytes.max(1);
        self.inbox_messages = self.inbox_messages.max(1);
        self.inbox_bytes = self.inbox_bytes.clamp(1, cap);
        self.max_frame = self.max_frame.max(Limits::MIN_MAX_FRAME);
        self
    }
}

/// Counters, updated by every task of the mesh.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) connections: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) superseded: AtomicU64,
    pub(super) bad_frames: AtomicU64,
    pub(super) streams_reset: AtomicU64,
    pub(super) frames_written: AtomicU64,
    pub(super) batches_written: AtomicU64,
    pub(super) messages_received: AtomicU64,
}

/// What every task of a mesh shares.
pub(super) struct Shared {
    pub(super) endpoint: NodeEndpoint,
    pub(super) local: Local,
    pub(super) config: MeshConfig,
    pub(super) conn_config: ConnConfig,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) peers: Mutex<Peers<Link>>,
    pub(super) stats: Counters,
    pub(super) generation: AtomicU64,
    pub(super) inbox: Arc<InboxQueue>,
    dial_locks: Mutex<HashMap<NodeId, Arc<tokio::sync::Mutex<()>>>>,
    handshakes: Arc<Semaphore>,
    shutting_down: AtomicBool,
}

impl Drop for Shared {
    /// The mesh is gone: the inbox ends once drained.
    fn drop(&mut self) {
        self.inbox.end();
    }
}

impl Shared {
    /// Puts an event into the inbox, waiting for room; `false` if nobody reads it any more.
    pub(super) async fn deliver(&self, delivery: Delivery) -> bool {
        self.inbox.push_one(delivery, 0).await
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Runs the hello on a connection this node dialled, unless a connection to the peer
    /// already exists; one dial per peer at a time.
    async fn dial(
        self: &Arc<Self>,
        conn: quinn::Connection,
        peer: NodeId,
    ) -> Result<NodeId, ConnectError> {
        let gate = lock(&self.dial_locks)
            .entry(peer.clone())
            .or_default()
            .clone();
        let _one_dial = gate.lock().await;
        if lock(&self.peers).current(&peer).is_some() {
            conn.close(
                quinn::VarInt::from_u32(code::SUPERSEDED),
                b"already connected",
            );
            return Ok(peer);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.runtime
            .spawn(run_link(self.clone(), conn, peer, Role::Dialer, Some(tx)));
        rx.await.unwrap_or(Err(ConnectError::Closed))
    }
}

/// Starts redialling `peer` at `addr` unless a redial of it already runs.
pub(super) fn spawn_redial(shared: &Arc<Shared>, peer: NodeId, addr: SocketAddr) {
    if shared.config.redial_for.is_zero() || shared.is_shutting_down() {
        return;
    }
    if !lock(&shared.peers).start_redial(&peer) {
        return;
    }
    shared.runtime.spawn(redial(shared.clone(), peer, addr));
}

async fn redial(shared: Arc<Shared>, peer: NodeId, addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + shared.config.redial_for;
    let mut backoff = Duration::from_millis(50);
    loop {
        if shared.is_shutting_down() || lock(&shared.peers).current(&peer).is_some() {
            break;
        }
        let attempt = tokio::time::timeout_at(deadline, shared.endpoint.connect(addr)).await;
        let done = match attempt {
            Err(_elapsed) => true,
            Ok(Ok((conn, certified))) if certified != peer => {
                tracing::info!(%peer, found = %certified, %addr, "another node answers at the peer's address");
                conn.close(
                    quinn::VarInt::from_u32(code::HELLO),
                    b"not the node redialled",
                );
                true
            }
            Ok(Ok((conn, certified))) => match shared.dial(conn, certified).await {
                Ok(_) => true,
                Err(error) => {
                    tracing::debug!(%peer, %error, "redial failed");
                    matches!(
                        error,
                        ConnectError::Refused(_) | ConnectError::RefusedByPeer(_)
                    )
                }
            },
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "redial failed");
                matches!(
                    error,
                    ConnectError::Refused(_) | ConnectError::RefusedByPeer(_)
                )
            }
        };
        if done || tokio::time::Instant::now() + backoff >= deadline {
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
    lock(&shared.peers).end_redial(&peer);
}

async fn accept_loop(shared: Arc<Shared>) {
    while let Some(incoming) = shared.endpoint.accept().await {
        if shared.is_shutting_down() {
            incoming.refuse();
            continue;
        }
        let Ok(slot) = shared.handshakes.clone().try_acquire_owned() else {
            tracing::info!(remote = %incoming.remote_address(), "too many handshakes; refused");
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            incoming.refuse();
            continue;
        };
        let shared = shared.clone();
        let runtime = shared.runtime.clone();
        runtime.spawn(async move {
            let completed = incoming.complete().await;
            drop(slot);
            match completed {
                Ok((conn, peer)) => run_link(shared, conn, peer, Role::Listener, None).await,
                Err(_) => {
                    shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// Why a send was refused before it queued anything.
enum Refused {
    Reserved,
    Shutdown,
    NodeDown,
    Encode(ProtoError),
}

impl Refused {
    fn with(self, peer: &NodeId, message: Message) -> SendError {
        match self {
            Refused::Reserved => SendError::Reserved { message },
            Refused::Shutdown => SendError::Shutdown { message },
            Refused::NodeDown => SendError::NodeDown {
                peer: peer.clone(),
                message,
            },
            Refused::Encode(error) => SendError::Encode { error, message },
        }
    }
}

/// A node's connections to its peers: send messages to a peer, receive them from all through
/// the [`Inbox`]. See the [module docs](self) for the contract.
///
/// Cheap to clone; every clone drives the same mesh. Background tasks accept connections
/// until [`shutdown`](Self::shutdown) (or until the tokio runtime stops).
///
/// # Examples
///
/// ```
/// use tern_net::proto::{ChannelId, Incarnation, Message, ToHome};
/// use tern_net::quic::{Delivery, Mesh, MeshConfig, NodeEndpoint, QuicConfig};
/// use tern_net::tls::{NodeId, TlsConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let start = |name: &str, incarnation| -> Result<_, Box<dyn std::error::Error>> {
///     let tls = TlsConfig::dev(&NodeId::new(name)?)?;
///     let endpoint = NodeEndpoint::bind("127.0.0.1:0".parse()?, &tls, &QuicConfig::default())?;
///     Ok(Mesh::start(endpoint, Incarnation(incarnation), MeshConfig::default()))
/// };
/// let (alpha, _alpha_inbox) = start("alpha", 1)?;
/// let (beta, mut beta_inbox) = start("beta", 2)?;
///
/// let peer = alpha.connect(beta.local_addr()?).await?;
/// assert_eq!(peer.as_str(), "beta");
/// let open = Message::ToHome(ToHome::Open { chan: ChannelId::of::<u64>("jobs", 0) });
/// alpha.send(&peer, open.clone()).await?;
///
/// // Beta sees alpha come up, then the message.
/// assert!(matches!(beta_inbox.recv().await, Some(Delivery::Event(_))));
/// match beta_inbox.recv().await {
///     Some(Delivery::Message { from, message }) => {
///         assert_eq!(from.as_str(), "alpha");
///         assert_eq!(message, open);
///     }
///     other => panic!("{other:?}"),
/// }
/// alpha.shutdown().await;
/// beta.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Mesh {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("node", &self.shared.local.node)
            .field("incarnation", &self.shared.local.incarnation)
            .finish_non_exhaustive()
    }
}

impl Mesh {
    /// Starts a mesh on `endpoint` for this node's `incarnation` (a number drawn when the node
    /// starts; see [`Incarnation`]), and starts accepting connections. The node's id is the
    /// endpoint's certificate's.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(
        endpoint: NodeEndpoint,
        incarnation: Incarnation,
        config: MeshConfig,
    ) -> (Mesh, Inbox) {
        let config = config.sanitized();
        let local = Local {
            node: endpoint.node_id().clone(),
            incarnation,
        };
        let conn_config = ConnConfig {
            handshake_timeout: config.handshake_timeout,
            keepalive: CORE_IDLE,
            idle_timeout: CORE_IDLE,
            limits: Limits {
                max_frame: config.max_frame,
                ..Limits::default()
            },
            version: WIRE_VERSION,
        };
        let inbox = InboxQueue::new(config.inbox_messages, config.inbox_bytes);
        let shared = Arc::new(Shared {
            peers: Mutex::new(Peers::new(local.node.clone())),
            endpoint,
            local,
            config,
            conn_config,
            runtime: tokio::runtime::Handle::current(),
            stats: Counters::default(),
            generation: AtomicU64::new(0),
            inbox: inbox.clone(),
            dial_locks: Mutex::new(HashMap::new()),
            handshakes: Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES)),
            shutting_down: AtomicBool::new(false),
        });
        shared.runtime.spawn(accept_loop(shared.clone()));
        (Mesh { shared }, inbox.inbox())
    }

    /// This node's id.
    pub fn node_id(&self) -> &NodeId {
        &self.shared.local.node
    }

    /// This node's incarnation.
    pub fn incarnation(&self) -> Incarnation {
        self.shared.local.incarnation
    }

    /// The address peers dial.
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.shared.endpoint.local_addr()
    }

    /// Connects to the node at `addr` and returns its id (its certificate's). If a connection
    /// to that node exists already (whoever dialled), returns at once without a second one.
    ///
    /// # Errors
    /// The [`ConnectError`]s of [`NodeEndpoint::connect`]; [`ConnectError::Hello`] when the
    /// hello fails; [`ConnectError::RefusedByPeer`] with
    /// [`Refusal::IdMismatch`](super::Refusal::IdMismatch) if the peer refuses the id this
    /// node claims; [`ConnectError::Closed`] after [`shutdown`](Self::shutdown).
    ///
    /// # Cancel safety
    /// Dropping the future abandons the attempt; a hello already under way may still complete
    /// and give an `Up`.
    pub async fn connect(&self, addr: SocketAddr) -> Result<NodeId, ConnectError> {
        if self.shared.is_shutting_down() {
            return Err(ConnectError::Closed);
        }
        if let Some(peer) = lock(&self.shared.peers).peer_at(addr) {
            return Ok(peer);
        }
        let (conn, certified) = self.shared.endpoint.connect(addr).await?;
        self.shared.dial(conn, certified).await
    }

    /// Sends `message` to `peer` on the message's lane, waiting while the lane's buffer is
    /// full. `Ok` means queued on a live connection, not delivered (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// [`SendError::NodeDown`] when no connection to `peer` is up or it goes down while this
    /// waits; [`SendError::Encode`] when the message breaks the peer's limits;
    /// [`SendError::Reserved`] for a message that is not `ToHome`/`FromHome`;
    /// [`SendError::Shutdown`] after [`shutdown`](Self::shutdown). Each hands the message back.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `send` has queued nothing.
    pub async fn send(&self, peer: &NodeId, message: Message) -> Result<(), SendError> {
        let mut failed = None;
        loop {
            let (link, index) = match self.route(peer, &message, failed.as_ref()) {
                Ok(route) => route,
                Err(refused) => return Err(refused.with(peer, message)),
            };
            let Some(lane) = link.lane(index, &self.shared) else {
                return Err(Refused::NodeDown.with(peer, message));
            };
            // Fast path: room now, queued straight from the scratch buffer.
            let tried = encode_scratch(&message, &link.peer_limits(), |frame| {
                match lane.try_push(frame) {
                    // No room: wait with a frame of its own.
                    Push::Full => Err(frame.to_vec()),
                    pushed => Ok(pushed == Push::Queued),
                }
            });
            let queued = match tried {
                Err(error) => return Err(Refused::Encode(error).with(peer, message)),
                Ok(Ok(queued)) => queued,
                Ok(Err(frame)) => lane.push(&frame).await,
            };
            if queued {
                return Ok(());
            }
            // The connection failed: look again.
            failed = Some(link);
        }
    }

    /// Like [`send`](Self::send), but fails with [`SendError::Full`] instead of waiting.
    ///
    /// # Errors
    /// Those of [`send`](Self::send), and [`SendError::Full`].
    // The error hands the message back by value, as channel errors do.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, peer: &NodeId, message: Message) -> Result<(), SendError> {
        let mut failed = None;
        loop {
            let (link, index) = match self.route(peer, &message, failed.as_ref()) {
                Ok(route) => route,
                Err(refused) => return Err(refused.with(peer, message)),
            };
            let Some(lane) = link.lane(index, &self.shared) else {
                return Err(Refused::NodeDown.with(peer, message));
            };
            let pushed =
                encode_scratch(&message, &link.peer_limits(), |frame| lane.try_push(frame));
            match pushed {
                Err(error) => return Err(Refused::Encode(error).with(peer, message)),
                Ok(Push::Queued) => return Ok(()),
                Ok(Push::Full) => return Err(SendError::Full { message }),
                Ok(Push::Closed) => {}
            }
            failed = Some(link);
        }
    }

    /// The connection and lane number for `message` to `peer`. `failed` is a connection
    /// that already failed this send: if it is still listed, it is going down.
    fn route(
        &self,
        peer: &NodeId,
        message: &Message,
        failed: Option<&Arc<Link>>,
    ) -> Result<(Arc<Link>, usize), Refused> {
        let lane = lane_of(message).ok_or(Refused::Reserved)?;
        let shared = &self.shared;
        if shared.is_shutting_down() {
            return Err(Refused::Shutdown);
        }
        let link = lock(&shared.peers)
            .current(peer)
            .filter(|link| !failed.is_some_and(|f| Arc::ptr_eq(f, link)))
            .ok_or(Refused::NodeDown)?;
        Ok((link, lane))
    }

    /// The peers with a connection up.
    pub fn peers(&self) -> Vec<NodeId> {
        let mut peers: Vec<NodeId> = lock(&self.shared.peers)
            .all()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        peers.sort();
        peers
    }

    /// The connection to `peer`, if one is up.
    pub fn peer_info(&self, peer: &NodeId) -> Option<PeerStatus> {
        lock(&self.shared.peers)
            .current(peer)
            .map(|link| link.status())
    }

    /// The counters.
    pub fn stats(&self) -> MeshStats {
        let c = &self.shared.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MeshStats {
            connections: get(&c.connections),
            refused: get(&c.refused),
            superseded: get(&c.superseded),
            bad_frames: get(&c.bad_frames),
            streams_reset: get(&c.streams_reset),
            frames_written: get(&c.frames_written),
            batches_written: get(&c.batches_written),
            messages_received: get(&c.messages_received),
        }
    }

    /// Drops the connection to `peer` the way a network failure would (both sides see it
    /// lost, the dialing side redials); for fault tests and operators. Returns whether a
    /// connection was up.
    pub fn disconnect(&self, peer: &NodeId) -> bool {
        match lock(&self.shared.peers).current(peer) {
            Some(link) => {
                link.close(LocalClose::Disconnect);
                true
            }
            None => false,
        }
    }

    /// Closes every connection (peers see [`DownReason::Shutdown`](super::DownReason) and do
    /// not redial), stops accepting, and waits briefly for the closes to be delivered.
    /// Queued messages are dropped. Later sends fail with [`SendError::Shutdown`]; the inbox
    /// ends once drained.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.shutting_down.store(true, Ordering::Release);
        for (_, link) in lock(&shared.peers).all() {
            link.fail_lanes();
            link.close(LocalClose::Shutdown);
        }
        shared.endpoint.close(code::SHUTDOWN, b"shutdown");
        shared.inbox.end();
        // Bounded: a peer that is gone never acknowledges the close.
        if tokio::time::timeout(Duration::from_secs(1), shared.endpoint.wait_idle())
            .await
            .is_err()
        {
            tracing::debug!("closes not all acknowledged");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ChannelId, ToHome};

    #[test]
    fn lanes_spread_channels_and_keep_each_on_one() {
        let open = |name: String| {
            Message::ToHome(ToHome::Open {
                chan: ChannelId::of::<u8>(name, 0),
            })
        };
        let mut used = [0usize; LANES];
        for i in 0..1600 {
            let lane = lane_of(&open(format!("c{i}"))).expect("lane");
            assert_eq!(lane_of(&open(format!("c{i}"))), Some(lane));
            used[lane] += 1;
        }
        assert!(used.iter().all(|&n| n > 50), "{used:?}");
        assert_eq!(lane_of(&Message::Pong(3)), None);
    }

    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync + Unpin>() {}
        send_sync::<Mesh>();
        send_sync::<Inbox>();
    }

    #[test]
    fn configs_are_sanitized() {
        let c = MeshConfig::default()
            .with_lane_buffer(0)
            .with_inbox(0, usize::MAX)
            .with_max_frame(1)
            .sanitized();
        assert_eq!(c.lane_buffer, 1);
        assert_eq!(c.inbox_messages, 1);
        assert!(c.inbox_bytes <= u32::MAX as usize);
        assert_eq!(c.max_frame, Limits::MIN_MAX_FRAME);
    }
}
