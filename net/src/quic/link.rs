//! One connection of a mesh: the hello on the control stream, the lanes' writers and readers,
//! and the teardown that turns a lost connection into a `Down` event.
//!
//! Tasks of a connection:
//!
//! - **control** ([`run_link`]): runs the sans-IO [`Connection`] on the control stream (the
//!   first bidirectional stream, opened by the dialer), registers the connection with the peer
//!   table once the hello succeeds, and tears down when the connection ends.
//! - **lanes** ([`run_lanes`]): waits until the peer's previous connection has delivered
//!   everything, delivers `Up`, then accepts the peer's unidirectional streams (one per lane)
//!   and spawns a reader for each. Nothing is read from a stream other than the control stream
//!   before the hello succeeded.
//! - **writer** ([`write_lane`](super::lane::write_lane)), one per lane used: drains the lane's
//!   queue, several frames per stream write.
//! - **reader** ([`read_lane`]), one per stream the peer opened: decodes frames into the inbox,
//!   every frame that is ready in one push.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use quinn::{RecvStream, SendStream, VarInt};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::proto::{
    encode, surviving_dialer, Action, CloseReason, ConnState, Connection, Decoder, GoodbyeReason,
    Limits, Message, NodeId, PeerInfo, ProtoError, Role,
};

use super::events::{Delivery, DownReason, PeerEvent, PeerStatus};
use super::lane::{write_lane, Lane};
use super::mesh::{Shared, LANES};
use super::peers::{LinkKey, PeerLink, Registration};
use super::{check_claim, ConnectError};

/// Application close codes of a mesh connection (after the refusal codes of
/// [`REFUSAL_CODE_BASE`](super::REFUSAL_CODE_BASE)).
pub(super) mod code {
    const BASE: u32 = 0x7465_1000;
    /// The node shuts down.
    pub(crate) const SHUTDOWN: u32 = BASE + 1;
    /// Another connection between the pair survives.
    pub(crate) const SUPERSEDED: u32 = BASE + 2;
    /// The peer broke the protocol.
    pub(crate) const PROTOCOL: u32 = BASE + 3;
    /// Dropped on purpose, as a network failure would ([`Mesh::disconnect`](super::super::Mesh::disconnect)).
    pub(crate) const DISCONNECT: u32 = BASE + 4;
    /// The peer restarted; a connection from its new incarnation replaced this one.
    pub(crate) const REPLACED: u32 = BASE + 5;
    /// The hello failed.
    pub(crate) const HELLO: u32 = BASE + 6;
    /// Stream error code: a frame on the stream broke the framing.
    pub(crate) const BAD_FRAMING: u32 = BASE + 7;
}

/// The largest chunk taken from a stream at once, and about the most bytes of frames a lane
/// reader gathers into one push into the inbox.
const READ_CHUNK: usize = 64 << 10;

/// The most messages a lane reader gathers into one push into the inbox.
const MAX_BATCH: usize = 256;

/// How long a closing side waits for its goodbye or refusal to reach the peer before it
/// closes the connection (which discards unsent stream data).
const LINGER: Duration = Duration::from_millis(500);

/// Stream priority of the control stream: ahead of every lane.
const CONTROL_PRIORITY: i32 = 1;

/// Locks a std mutex, ignoring poisoning (no code here panics while holding one).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why this node closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LocalClose {
    Shutdown,
    Superseded,
    Replaced,
    Disconnect,
    /// The peer stopped one of our lanes: its reader broke off (bad framing, or its inbox is
    /// gone), and the lane cannot go on.
    LaneStopped,
}

impl LocalClose {
    fn code(self) -> u32 {
        match self {
            LocalClose::Shutdown => code::SHUTDOWN,
            LocalClose::Superseded => code::SUPERSEDED,
            LocalClose::Replaced => code::REPLACED,
            LocalClose::Disconnect => code::DISCONNECT,
            LocalClose::LaneStopped => code::PROTOCOL,
        }
    }
}

/// A connection that completed its hello.
pub(super) struct Link {
    key: LinkKey,
    pub(super) peer: PeerInfo,
    pub(super) conn: quinn::Connection,
    addr: SocketAddr,
    /// The lanes this node sends on, made on first use; read without a lock.
    lanes: [OnceLock<Lane>; LANES],
    /// Whether lanes may still be made; lanes are made and failed under this lock.
    lanes_open: Mutex<bool>,
    local_close: Mutex<Option<LocalClose>>,
    finished: watch::Sender<bool>,
}

impl PeerLink for Link {
    fn key(&self) -> &LinkKey {
        &self.key
    }
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Link {
    pub(super) fn generation(&self) -> u64 {
        self.key.generation
    }

    pub(super) fn status(&self) -> PeerStatus {
        PeerStatus {
            incarnation: self.peer.incarnation,
            generation: self.key.generation,
            dialer: self.key.dialer.clone(),
            addr: self.addr,
        }
    }

    /// The limits to encode towards the peer: its announced frame limit.
    pub(super) fn peer_limits(&self) -> Limits {
        Limits {
            max_frame: self.peer.max_frame,
            ..Limits::default()
        }
    }

    /// Lane `index`'s queue, starting its writer on first use; `None` once the link failed
    /// (a lane that exists fails its pushes instead).
    pub(super) fn lane(self: &Arc<Self>, index: usize, shared: &Arc<Shared>) -> Option<&Lane> {
        let slot = self.lanes.get(index)?;
        if let Some(lane) = slot.get() {
            return Some(lane);
        }
        let open = lock(&self.lanes_open);
        if !*open {
            return None;
        }
        let mut made = false;
        let lane = slot.get_or_init(|| {
            made = true;
            Lane::new(shared.config.lane_buffer, shared.config.batch_bytes)
        });
        if made {
            shared
                .runtime
                .spawn(write_lane(shared.clone(), self.clone(), index));
        }
        Some(lane)
    }

    /// Lane `index`, if it was made.
    pub(super) fn made_lane(&self, index: usize) -> Option<&Lane> {
        self.lanes.get(index)?.get()
    }

    /// Stops every lane: senders waiting for buffer space wake up and look for another
    /// connection; what is queued is dropped.
    pub(super) fn fail_lanes(&self) {
        let mut open = lock(&self.lanes_open);
        *open = false;
        for lane in self.lanes.iter().filter_map(OnceLock::get) {
            lane.fail();
        }
    }

    /// Closes the connection for `why` (the first reason given sticks).
    pub(super) fn close(&self, why: LocalClose) {
        lock(&self.local_close).get_or_insert(why);
        self.conn
            .close(VarInt::from_u32(why.code()), format!("{why:?}").as_bytes());
    }

    fn local_close(&self) -> Option<LocalClose> {
        *lock(&self.local_close)
    }

    async fn wait_finished(&self) {
        let mut rx = self.finished.subscribe();
        // An error means the sender is gone, which only happens once the link is dropped.
        if rx.wait_for(|done| *done).await.is_err() {
            tracing::trace!("link dropped before finishing");
        }
    }
}

/// Why the connection to a peer ended, from what this side knows.
fn down_reason(link: &Link, closed: Option<&CloseReason>) -> DownReason {
    match link.local_close() {
        Some(LocalClose::Shutdown) => return DownReason::Closed,
        Some(LocalClose::Disconnect) => return DownReason::Lost("disconnected".into()),
        Some(LocalClose::Replaced) => return DownReason::Restarted,
        Some(LocalClose::Superseded) => return DownReason::Superseded,
        Some(LocalClose::LaneStopped) => {
            return DownReason::Lost("the peer stopped reading a lane".into())
        }
        None => {}
    }
    match closed {
        Some(CloseReason::PeerGoodbye(GoodbyeReason::Shutdown)) => return DownReason::Shutdown,
        Some(CloseReason::PeerGoodbye(GoodbyeReason::Superseded)) => return DownReason::Superseded,
        Some(other) => return DownReason::Lost(format!("{other:?}")),
        None => {}
    }
    match link.conn.close_reason() {
        Some(quinn::ConnectionError::ApplicationClosed(close)) => {
            match u32::try_from(close.error_code.into_inner()) {
                Ok(code::SHUTDOWN) => DownReason::Shutdown,
                Ok(code::SUPERSEDED) => DownReason::Superseded,
                _ => DownReason::Lost(format!("closed by the peer: {close}")),
            }
        }
        Some(error) => DownReason::from(ConnectError::from(error)),
        None => DownReason::Lost("control stream failed".into()),
    }
}

/// The application close code for a connection the sans-IO core closed.
fn close_code(reason: &CloseReason) -> u32 {
    match reason {
        CloseReason::Local(GoodbyeReason::Shutdown)
        | CloseReason::PeerGoodbye(GoodbyeReason::Shutdown) => code::SHUTDOWN,
        CloseReason::Local(GoodbyeReason::Superseded)
        | CloseReason::PeerGoodbye(GoodbyeReason::Superseded) => code::SUPERSEDED,
        CloseReason::Refused(_)
        | CloseReason::RefusedByPeer(_)
        | CloseReason::HandshakeTimeout
        | CloseReason::PeerIdMismatch { .. }
        | CloseReason::BadHelloAck => code::HELLO,
        _ => code::PROTOCOL,
    }
}

/// Why a frame could not be read.
pub(super) enum ReadFail {
    /// The bytes were bad; [`ProtoError::is_fatal`] says whether the stream can go on.
    Frame(ProtoError),
    /// The stream or the connection failed.
    Stream(quinn::ReadError),
}

/// Frames from one stream, through a [`Decoder`] (whose size cap is checked before anything
/// is buffered).
pub(super) struct FrameReader {
    recv: RecvStream,
    decoder: Decoder,
    /// The chunk being decoded and how far.
    chunk: Option<(quinn::Chunk, usize)>,
    /// Bytes consumed since the last message returned.
    used: usize,
}

impl FrameReader {
    pub(super) fn new(recv: RecvStream, limits: Limits) -> Self {
        FrameReader {
            recv,
            decoder: Decoder::new(limits),
            chunk: None,
            used: 0,
        }
    }

    /// The next message and the bytes it took (about: counted since the previous message),
    /// or `None` at the end of the stream.
    ///
    /// Cancel safe: a partial frame stays in the decoder.
    pub(super) async fn next(&mut self) -> Result<Option<(Message, usize)>, ReadFail> {
        loop {
            if let Some(result) = self.decode_ready() {
                return result.map(Some).map_err(ReadFail::Frame);
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next message (and the bytes it took) from what was read already, without waiting;
    /// `None` when that is used up (a partial frame stays in the decoder).
    fn decode_ready(&mut self) -> Option<Result<(Message, usize), ProtoError>> {
        let (chunk, pos) = self.chunk.as_mut()?;
        let mut input = &chunk.bytes[*pos..];
        let before = input.len();
        let result = self.decoder.decode(&mut input);
        let taken = before - input.len();
        *pos += taken;
        self.used += taken;
        if *pos == chunk.bytes.len() {
            self.chunk = None;
        }
        match result {
            Ok(Some(message)) => Some(Ok((message, std::mem::take(&mut self.used)))),
            // The decoder took all of the input.
            Ok(None) => None,
            Err(error) => {
                if error.is_fatal() {
                    self.chunk = None;
                }
                Some(Err(error))
            }
        }
    }

    /// Waits for the next chunk of the stream (once what was read is used up): `false` at
    /// the end of the stream.
    ///
    /// Cancel safe.
    async fn fill(&mut self) -> Result<bool, ReadFail> {
        debug_assert!(self.chunk.is_none(), "fill before the chunk was used up");
        match self.recv.read_chunk(READ_CHUNK, true).await {
            Ok(Some(chunk)) => {
                self.chunk = Some((chunk, 0));
                Ok(true)
            }
            Ok(None) => match self.decoder.finish() {
                Ok(()) => Ok(false),
                Err(e) => Err(ReadFail::Frame(e)),
            },
            Err(e) => Err(ReadFail::Stream(e)),
        }
    }

    /// [`fill`](Self::fill) if the stream has data (or its end) ready; `None` if it would
    /// wait.
    async fn fill_if_ready(&mut self) -> Option<Result<bool, ReadFail>> {
        let mut fill = pin!(self.fill());
        poll_fn(|cx| match fill.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(Some(result)),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }

    /// Stops the stream: the peer's writes to it fail.
    pub(super) fn stop(&mut self, code: u32) {
        if self.recv.stop(VarInt::from_u32(code)).is_err() {
            tracing::trace!("stream already closed");
        }
    }
}

/// The control side of one connection, from TLS to teardown. `ready` learns the hello's
/// outcome (a dialer's `connect` waits on it).
pub(super) async fn run_link(
    shared: Arc<Shared>,
    conn: quinn::Connection,
    peer: NodeId,
    role: Role,
    ready: Option<oneshot::Sender<Result<NodeId, ConnectError>>>,
) {
    let streams = match role {
        Role::Dialer => conn.open_bi().await.map_err(ConnectError::from),
        Role::Listener => {
            match tokio::time::timeout(shared.config.handshake_timeout, conn.accept_bi()).await {
                Ok(result) => result.map_err(ConnectError::from),
                Err(_) => Err(ConnectError::Hello(CloseReason::HandshakeTimeout)),
            }
        }
    };
    let (send, recv) = match streams {
        Ok(streams) => streams,
        Err(error) => {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            conn.close(VarInt::from_u32(code::HELLO), b"no control stream");
            tracing::debug!(%error, %peer, "no control stream");
            if let Some(ready) = ready {
                // The dialler may have given up; then nobody waits for the answer.
                if ready.send(Err(error)).is_err() {
                    tracing::trace!("connect abandoned");
                }
            }
            return;
        }
    };
    if send.set_priority(CONTROL_PRIORITY).is_err() {
        tracing::trace!("control stream closed early");
    }
    let proto = Connection::new(
        role,
        shared.local.clone(),
        peer.clone(),
        shared.conn_config,
        Instant::now(),
    );
    let reader = FrameReader::new(recv, shared.conn_config.limits);
    let control = Control {
        shared,
        conn,
        peer,
        role,
        send,
        reader,
        proto,
        peer_limits: Limits::default(),
        link: None,
        lanes_task: None,
        ready,
        closed: None,
    };
    control.run().await;
}

struct Control {
    shared: Arc<Shared>,
    conn: quinn::Connection,
    /// The peer's id, as its certificate names it.
    peer: NodeId,
    role: Role,
    send: SendStream,
    reader: FrameReader,
    proto: Connection,
    peer_limits: Limits,
    link: Option<Arc<Link>>,
    lanes_task: Option<tokio::task::JoinHandle<()>>,
    ready: Option<oneshot::Sender<Result<NodeId, ConnectError>>>,
    /// Why the sans-IO core closed, if it did.
    closed: Option<CloseReason>,
}

impl Control {
    async fn run(mut self) {
        loop {
            if !self.drain().await {
                break;
            }
            let deadline = self.proto.poll_timeout();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                read = self.reader.next() => match read {
                    Ok(Some((msg, _))) => {
                        if !self.claim_ok(&msg) {
                            return;
                        }
                        self.proto.handle_message(Instant::now(), msg);
                    }
                    // The control stream lives as long as the connection.
                    Ok(None) => self.proto.close(GoodbyeReason::ProtocolViolation),
                    Err(ReadFail::Frame(e)) => {
                        if !e.is_fatal() {
                            self.shared.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
                        }
                        self.proto.handle_decode_error(Instant::now(), &e);
                    }
                    Err(ReadFail::Stream(_)) => break,
                },
                () = timer => self.proto.handle_timeout(Instant::now()),
                _ = self.conn.closed() => break,
            }
        }
        self.teardown().await;
    }

    /// A listener checks the id a `Hello` claims against the certificate before anything
    /// else: a peer that claims another id is refused with [`Refusal::IdMismatch`](super::Refusal)
    /// and reaches nothing.
    fn claim_ok(&mut self, msg: &Message) -> bool {
        let Message::Hello(hello) = msg else {
            return true;
        };
        if self.role != Role::Listener || self.proto.state() != ConnState::Handshaking {
            return true;
        }
        match check_claim(&self.conn, &self.peer, hello.node.as_str()) {
            Ok(()) => true,
            Err(_) => {
                self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Carries out the core's actions; `false` once the connection is over.
    async fn drain(&mut self) -> bool {
        let mut actions: Vec<Action> = std::iter::from_fn(|| self.proto.poll()).collect();
        let established = actions.iter().find_map(|a| match a {
            Action::Established(info) => Some(info.clone()),
            _ => None,
        });
        if let Some(info) = established {
            if !self.register(info) {
                // Superseded: a listener answers the hello with a goodbye instead.
                actions.retain(|a| !matches!(a, Action::Transmit(Message::HelloAck(_))));
                self.proto.close(GoodbyeReason::Superseded);
                actions.extend(std::iter::from_fn(|| self.proto.poll()));
            }
        }
        for action in actions {
            match action {
                Action::Transmit(msg) => {
                    let mut frame = Vec::new();
                    if let Err(error) = encode(&msg, &self.peer_limits, &mut frame) {
                        tracing::warn!(%error, kind = msg.kind(), "control message does not encode");
                        continue;
                    }
                    if self.send.write_all(&frame).await.is_err() {
                        return false;
                    }
                }
                Action::Established(_) => {}
                // Application messages travel on lanes; one on the control stream is a bad
                // frame.
                Action::Deliver(_) => {
                    self.shared.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
                }
                Action::Closed(reason) => {
                    self.closed = Some(reason);
                    return false;
                }
            }
        }
        true
    }

    /// Offers the connection to the peer table; `false` if another one wins.
    fn register(&mut self, info: PeerInfo) -> bool {
        let shared = &self.shared;
        self.peer_limits = Limits {
            max_frame: info.max_frame,
            ..Limits::default()
        };
        let dialer = match self.role {
            Role::Dialer => shared.local.node.clone(),
            Role::Listener => info.node.clone(),
        };
        let link = Arc::new(Link {
            key: LinkKey {
                dialer,
                incarnation: info.incarnation,
                generation: shared.generation.fetch_add(1, Ordering::Relaxed) + 1,
            },
            addr: self.conn.remote_address(),
            peer: info,
            conn: self.conn.clone(),
            lanes: std::array::from_fn(|_| OnceLock::new()),
            lanes_open: Mutex::new(true),
            local_close: Mutex::new(None),
            finished: watch::Sender::new(false),
        });
        let registration = lock(&shared.peers).register(&self.peer, link.clone());
        let installed = match registration {
            Registration::Installed { replaced, previous } => {
                shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                if let Some(old) = replaced {
                    let why = if old.key.incarnation == link.key.incarnation {
                        shared.stats.superseded.fetch_add(1, Ordering::Relaxed);
                        LocalClose::Superseded
                    } else {
                        LocalClose::Replaced
                    };
                    old.fail_lanes();
                    old.close(why);
                }
                tracing::debug!(peer = %self.peer, generation = link.key.generation, "connection up");
                self.lanes_task = Some(shared.runtime.spawn(run_lanes(
                    shared.clone(),
                    link.clone(),
                    previous,
                )));
                self.link = Some(link);
                true
            }
            Registration::Rejected => {
                shared.stats.superseded.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(peer = %self.peer, "connection superseded by an existing one");
                false
            }
        };
        if let Some(ready) = self.ready.take() {
            if ready.send(Ok(self.peer.clone())).is_err() {
                tracing::trace!("connect abandoned");
            }
        }
        installed
    }

    /// The connection ended before it became the peer's: tell the dialler (if any) why.
    ///
    /// A hello answered with `Goodbye(Superseded)` means the peer keeps another connection to
    /// this node; when that one is registered here too (a simultaneous dial: the winner
    /// reaches the loser's side first, see `peers.rs`), the connect succeeded.
    fn hello_failed(&mut self) {
        let error = match self.closed.take() {
            Some(reason) => ConnectError::Hello(reason),
            None => self
                .conn
                .close_reason()
                .map_or(ConnectError::Closed, ConnectError::from),
        };
        let superseded = match &error {
            ConnectError::Hello(
                CloseReason::Local(GoodbyeReason::Superseded)
                | CloseReason::PeerGoodbye(GoodbyeReason::Superseded),
            ) => true,
            ConnectError::Lost(quinn::ConnectionError::ApplicationClosed(close)) => {
                close.error_code == VarInt::from_u32(code::SUPERSEDED)
            }
            _ => false,
        };
        if !superseded {
            self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
        }
        let Some(ready) = self.ready.take() else {
            return;
        };
        let result = if superseded && lock(&self.shared.peers).current(&self.peer).is_some() {
            Ok(self.peer.clone())
        } else {
            Err(error)
        };
        if ready.send(result).is_err() {
            tracing::trace!("connect abandoned");
        }
    }

    async fn teardown(mut self) {
        if let Some(reason) = &self.closed {
            // Let a goodbye or refusal of ours reach the peer, which closes on reading it.
            // When the peer said goodbye or refused us, it waits for this side to close:
            // close at once (lingering here too would make both sides wait out LINGER).
            let ours = !matches!(
                reason,
                CloseReason::PeerGoodbye(_) | CloseReason::RefusedByPeer(_)
            );
            if ours && self.send.finish().is_ok() {
                // Bounded: the peer may be gone.
                if tokio::time::timeout(LINGER, self.conn.closed())
                    .await
                    .is_err()
                {
                    tracing::trace!("peer did not close after our goodbye");
                }
            }
            self.conn.close(
                VarInt::from_u32(close_code(reason)),
                format!("{reason:?}").as_bytes(),
            );
        }
        let Some(link) = self.link.take() else {
            self.hello_failed();
            return;
        };
        // Read why before closing: a local close overwrites quinn's reason.
        let reason = down_reason(&link, self.closed.as_ref());
        // Make sure the connection is over, whatever ended the control loop.
        if self.conn.close_reason().is_none() {
            self.conn
                .close(VarInt::from_u32(code::PROTOCOL), b"control ended");
        }
        let shared = self.shared;
        let was_current = lock(&shared.peers).remove(&self.peer, &link);
        link.fail_lanes();
        tracing::debug!(peer = %self.peer, ?reason, was_current, "connection down");
        if was_current
            && reason.redial()
            && surviving_dialer(&shared.local.node, &self.peer) == &shared.local.node
        {
            super::mesh::spawn_redial(&shared, self.peer.clone(), link.addr);
        }
        if let Some(task) = self.lanes_task.take() {
            if let Err(error) = task.await {
                tracing::warn!(%error, "lanes task failed");
            }
        }
        if was_current || reason == DownReason::Restarted {
            shared
                .deliver(Delivery::Event(PeerEvent::Down {
                    node: self.peer.clone(),
                    generation: link.generation(),
                    reason,
                }))
                .await;
        }
        link.finished.send_replace(true);
        lock(&shared.peers).finished(&self.peer, &link);
    }
}

/// Delivers `Up` once the peer's previous connection has delivered everything, then reads
/// every stream the peer opens on `link`.
async fn run_lanes(shared: Arc<Shared>, link: Arc<Link>, previous: Option<Arc<Link>>) {
    if let Some(previous) = previous {
        previous.wait_finished().await;
    }
    let node = link.peer.node.clone();
    let up = PeerEvent::Up {
        node: node.clone(),
        incarnation: link.peer.incarnation,
        generation: link.generation(),
        addr: link.addr,
    };
    shared.deliver(Delivery::Event(up)).await;
    let mut readers = JoinSet::new();
    loop {
        tokio::select! {
            stream = link.conn.accept_uni() => match stream {
                Ok(recv) => {
                    readers.spawn(read_lane(shared.clone(), node.clone(), recv));
                }
                Err(_) => break,
            },
            Some(_) = readers.join_next(), if !readers.is_empty() => {}
        }
    }
    while readers.join_next().await.is_some() {}
}

/// Reads one lane stream of `peer` into the inbox until it ends.
///
/// Every frame that can be read without waiting (up to [`MAX_BATCH`] messages or about
/// [`READ_CHUNK`] bytes) is decoded and pushed into the inbox at once. A frame that does not decode, or is not an application
/// message, is counted and skipped; a frame that breaks the framing (an oversize length
/// prefix) stops the stream after the frames before it are delivered. Either way the
/// connection stays up. Waiting for inbox space stops reading, so QUIC flow control holds
/// the peer back.
async fn read_lane(shared: Arc<Shared>, peer: NodeId, recv: RecvStream) {
    let mut reader = FrameReader::new(recv, shared.conn_config.limits);
    let mut batch = VecDeque::new();
    loop {
        // Decode what was read, and read on while the stream has data ready.
        let mut read = 0;
        let end = 'gather: loop {
            while batch.len() < MAX_BATCH {
                let Some(result) = reader.decode_ready() else {
                    break;
                };
                match result {
                    Ok((message, size)) if message.is_application() => {
                        read += size;
                        let delivery = Delivery::Message {
                            from: peer.clone(),
                            message,
                        };
                        batch.push_back((delivery, size));
                    }
                    Ok((message, _)) => {
                        tracing::debug!(%peer, kind = message.kind(), "control message on a lane");
                        shared.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) if !error.is_fatal() => {
                        tracing::debug!(%peer, %error, "bad frame skipped");
                        shared.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => break 'gather Some(Err(ReadFail::Frame(error))),
                }
            }
            if batch.len() >= MAX_BATCH || read >= READ_CHUNK || reader.chunk.is_some() {
                break None;
            }
            match reader.fill_if_ready().await {
                Some(Ok(true)) => {}
                Some(Ok(false)) => break Some(Ok(())),
                Some(Err(fail)) => break Some(Err(fail)),
                None => break None,
            }
        };
        if !batch.is_empty() {
            shared
                .stats
                .messages_received
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            if !shared.inbox.push(&mut batch).await {
                return;
            }
            // The push may have handed back the inbox's old queue: keep no large one.
            if batch.capacity() > 2 * MAX_BATCH {
                batch = VecDeque::new();
            }
        }
        let end = match end {
            Some(end) => end,
            // The batch is full; the chunk has more.
            None if reader.chunk.is_some() => continue,
            None => match reader.fill().await {
                Ok(true) => continue,
                Ok(false) => Ok(()),
                Err(fail) => Err(fail),
            },
        };
        match end {
            Ok(()) => {}
            Err(ReadFail::Frame(error)) if !error.is_fatal() => {
                // A frame cut off by the end of the stream.
                tracing::debug!(%peer, %error, "bad frame skipped");
                shared.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
            }
            Err(ReadFail::Frame(error)) => {
                tracing::info!(%peer, %error, "stream framing broken; stream stopped");
                shared.stats.streams_reset.fetch_add(1, Ordering::Relaxed);
                reader.stop(code::BAD_FRAMING);
            }
            Err(ReadFail::Stream(error)) => {
                tracing::trace!(%peer, %error, "lane ended");
            }
        }
        return;
    }
}
