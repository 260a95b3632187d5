//! The connection state machine: handshake, keep-alive and the failure detector, sans-IO.
//! See [`Connection`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::codec::Limits;
use super::error::ProtoError;
use super::ids::{Incarnation, NodeId};
use super::message::{GoodbyeReason, Hello, HelloAck, Message, RefuseReason, WireVersion};
use super::WIRE_VERSION;

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We dialled: we send `Hello`.
    Dialer,
    /// We accepted: we answer `Hello`.
    Listener,
}

/// Who we are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Local {
    /// Our node id (the one our certificate names).
    pub node: NodeId,
    /// Our incarnation, drawn when the node started.
    pub incarnation: Incarnation,
}

/// Timeouts and limits of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnConfig {
    /// How long the handshake may take. Default: 10 s.
    pub handshake_timeout: Duration,
    /// Silence after which we send a `Ping`. Default: 2 s. Clamped to half the idle timeout.
    pub keepalive: Duration,
    /// Silence after which the peer is declared down. Default: 10 s.
    pub idle_timeout: Duration,
    /// What we accept (our `max_frame` is announced to the peer).
    pub limits: Limits,
    /// The version we speak. Default: [`WIRE_VERSION`].
    pub version: WireVersion,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            handshake_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            version: WIRE_VERSION,
        }
    }
}

/// What the handshake established about the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node id (checked against its certificate).
    pub node: NodeId,
    /// The peer's incarnation: compare with the one known from an earlier connection to tell
    /// a reconnect (same) from a restart (different).
    pub incarnation: Incarnation,
    /// The version both sides use.
    pub version: WireVersion,
    /// The largest frame body the peer accepts: encode towards it with this limit.
    pub max_frame: u32,
}

/// Where a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting for `Hello` (listener) or `HelloAck` (dialer).
    Handshaking,
    /// Both sides know each other; application messages flow.
    Established,
    /// Over; every input is ignored.
    Closed,
}

/// Why a connection closed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// We refused the peer's `Hello` (and told it why).
    Refused(RefuseReason),
    /// The peer refused our `Hello`.
    RefusedByPeer(RefuseReason),
    /// The handshake did not complete in time.
    HandshakeTimeout,
    /// Nothing arrived for the idle timeout: the peer is considered down.
    IdleTimeout,
    /// The peer said goodbye.
    PeerGoodbye(GoodbyeReason),
    /// We closed (shutdown, or another connection to the peer survives).
    Local(GoodbyeReason),
    /// The peer sent a message that has no place in the connection's state.
    Unexpected {
        /// The message's kind ([`Message::kind`]).
        message: &'static str,
        /// The state it arrived in.
        state: ConnState,
    },
    /// The listener's `HelloAck` names another node than its certificate.
    PeerIdMismatch {
        /// The id the `HelloAck` claimed.
        claimed: NodeId,
        /// The id the certificate names.
        certified: NodeId,
    },
    /// The listener answered with another major version or an unusable frame limit.
    BadHelloAck,
    /// A stream's framing broke (a fatal decode error).
    Decode(ProtoError),
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this message on the control stream.
    Transmit(Message),
    /// The handshake completed; application messages may flow.
    Established(PeerInfo),
    /// An application message from the peer (`ToHome` or `FromHome`), to route.
    Deliver(Message),
    /// The connection is over: close the transport (after sending what was transmitted).
    Closed(CloseReason),
}

/// Counters of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Frames that failed to decode without breaking the framing (skipped).
    pub bad_frames: u64,
    /// Pings sent.
    pub pings_sent: u64,
}

/// The sans-IO state of one connection: handshake, keep-alive and the failure detector.
///
/// A [`Connection`] is fed what happens — a message decoded from any of the connection's
/// streams ([`handle_message`](Connection::handle_message)), a bad frame
/// ([`handle_decode_error`](Connection::handle_decode_error)), the clock reaching
/// [`poll_timeout`](Connection::poll_timeout) ([`handle_timeout`](Connection::handle_timeout)),
/// a local decision to close ([`close`](Connection::close)) — and answers with [`Action`]s to
/// drain with [`poll`](Connection::poll): messages to send on the control stream, the
/// handshake's result, application messages to route, and at most one `Closed`.
///
/// ```text
///            dialer: send Hello
/// Handshaking ───────────────────────► Established ──────────► Closed
///      │  listener: Hello ok → HelloAck     │ Ping→Pong          ▲
///      │  dialer: HelloAck ok               │ idle timeout ──────┤
///      │                                    │ Goodbye, violation ┤
///      └── Refuse / timeout / violation ─────────────────────────┘
/// ```
///
/// Invariants: nothing but handshake messages is accepted before `Established`; `Established`
/// is emitted at most once and before any `Deliver`; `Closed` is emitted exactly once, last,
/// and after it the connection ignores every input. The driver must not read streams other
/// than the control stream before `Established` (the transport's flow control bounds what
/// waits there), so a fast peer's first channel messages are not taken for a violation.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use tern_net::proto::{Action, ConnConfig, Connection, Incarnation, Local, NodeId, Role};
///
/// let now = Instant::now();
/// let (a, b): (NodeId, NodeId) = ("a".parse()?, "b".parse()?);
/// let me = |node: &NodeId, n| Local { node: node.clone(), incarnation: Incarnation(n) };
/// let cfg = ConnConfig::default();
/// let mut dialer = Connection::new(Role::Dialer, me(&a, 1), b.clone(), cfg, now);
/// let mut listener = Connection::new(Role::Listener, me(&b, 2), a.clone(), cfg, now);
///
/// let Some(Action::Transmit(hello)) = dialer.poll() else { panic!() };
/// listener.handle_message(now, hello);
/// let Some(Action::Transmit(ack)) = listener.poll() else { panic!() };
/// assert!(matches!(listener.poll(), Some(Action::Established(p)) if p.node.as_str() == "a"));
/// dialer.handle_message(now, ack);
/// assert!(matches!(dialer.poll(), Some(Action::Established(p)) if p.incarnation == Incarnation(2)));
/// # Ok::<(), tern_net::proto::NodeIdError>(())
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    local: Local,
    certified: NodeId,
    config: ConnConfig,
    state: ConnState,
    peer: Option<PeerInfo>,
    /// Deadline of the handshake.
    handshake_deadline: Instant,
    /// When something last arrived.
    last_rx: Instant,
    /// The nonce of the ping waiting for its pong.
    ping_outstanding: Option<u64>,
    next_nonce: u64,
    actions: VecDeque<Action>,
    stats: ConnStats,
}

impl Connection {
    /// A connection to the peer whose certificate names `certified`, starting `now`. A dialer
    /// queues its `Hello` at once.
    pub fn new(
        role: Role,
        local: Local,
        certified: NodeId,
        config: ConnConfig,
        now: Instant,
    ) -> Connection {
        let mut c = Connection {
            role,
            local,
            certified,
            config,
            state: ConnState::Handshaking,
            peer: None,
            handshake_deadline: now + config.handshake_timeout,
            last_rx: now,
            ping_outstanding: None,
            next_nonce: 1,
            actions: VecDeque::new(),
            stats: ConnStats::default(),
        };
        if role == Role::Dialer {
            let hello = Hello {
                version: c.config.version,
                node: c.local.node.clone(),
                incarnation: c.local.incarnation,
                max_frame: c.config.limits.max_frame,
            };
            c.actions.push_back(Action::Transmit(Message::Hello(hello)));
        }
        c
    }

    /// The current state.
    pub fn state(&self) -> ConnState {
        self.state
    }

    /// Which side we are.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer, once established.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// The counters.
    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// The next action for the driver, if any.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next (`None` once closed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ConnState::Handshaking => Some(self.handshake_deadline),
            ConnState::Established => {
                let idle = self.last_rx + self.config.idle_timeout;
                Some(match self.ping_outstanding {
                    Some(_) => idle,
                    None => (self.last_rx + self.keepalive()).min(idle),
                })
            }
            ConnState::Closed => None,
        }
    }

    fn keepalive(&self) -> Duration {
        self.config.keepalive.min(self.config.idle_timeout / 2)
    }

    /// The clock reached (or passed) a deadline from [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            ConnState::Handshaking if now >= self.handshake_deadline => {
                self.finish(CloseReason::HandshakeTimeout);
            }
            ConnState::Established => {
                if now >= self.last_rx + self.config.idle_timeout {
                    self.finish(CloseReason::IdleTimeout);
                } else if self.ping_outstanding.is_none() && now >= self.last_rx + self.keepalive()
                {
                    let nonce = self.next_nonce;
                    self.next_nonce += 1;
                    self.ping_outstanding = Some(nonce);
                    self.stats.pings_sent += 1;
                    self.transmit(Message::Ping(nonce));
                }
            }
            _ => {}
        }
    }

    /// A frame from the peer failed to decode. Any frame counts as a sign of life; a fatal
    /// error closes the connection, the others are counted and skipped.
    pub fn handle_decode_error(&mut self, now: Instant, error: &ProtoError) {
        if self.state == ConnState::Closed {
            return;
        }
        self.last_rx = now;
        if error.is_fatal() {
            self.transmit(Message::Goodbye(GoodbyeReason::ProtocolViolation));
            self.finish(CloseReason::Decode(error.clone()));
        } else {
            self.stats.bad_frames += 1;
        }
    }

    /// Closes the connection from our side: a `Goodbye` (or, for a listener still in the
    /// handshake and shutting down, a `Refuse`), then `Closed`.
    pub fn close(&mut self, reason: GoodbyeReason) {
        match self.state {
            ConnState::Closed => return,
            ConnState::Handshaking
                if self.role == Role::Listener && reason == GoodbyeReason::Shutdown =>
            {
                self.transmit(Message::Refuse(RefuseReason::ShuttingDown));
            }
            _ => self.transmit(Message::Goodbye(reason.clone())),
        }
        self.finish(CloseReason::Local(reason));
    }

    /// A message decoded from any of the connection's streams arrived.
    pub fn handle_message(&mut self, now: Instant, msg: Message) {
        if self.state == ConnState::Closed {
            return;
        }
        self.last_rx = now;
        match (self.state, self.role, msg) {
            (_, _, Message::Goodbye(reason)) => self.finish(CloseReason::PeerGoodbye(reason)),
            (ConnState::Handshaking, Role::Listener, Message::Hello(hello)) => {
                self.on_hello(hello);
            }
            (ConnState::Handshaking, Role::Dialer, Message::HelloAck(ack)) => self.on_ack(ack),
            (ConnState::Handshaking, Role::Dialer, Message::Refuse(reason)) => {
                self.finish(CloseReason::RefusedByPeer(reason));
            }
            (ConnState::Established, _, Message::Ping(nonce)) => {
                self.transmit(Message::Pong(nonce));
            }
            (ConnState::Established, _, Message::Pong(nonce)) => {
                if self.ping_outstanding == Some(nonce) {
                    self.ping_outstanding = None;
                }
            }
            (ConnState::Established, _, m) if m.is_application() => {
                self.actions.push_back(Action::Deliver(m));
            }
            (state, _, m) => {
                self.transmit(Message::Goodbye(GoodbyeReason::ProtocolViolation));
                self.finish(CloseReason::Unexpected {
                    message: m.kind(),
                    state,
                });
            }
        }
    }

    fn on_hello(&mut self, hello: Hello) {
        let refusal = if hello.version.major != self.config.version.major {
            Some(RefuseReason::Version {
                supported: self.config.version,
            })
        } else if hello.node == self.local.node {
            Some(RefuseReason::SelfConnect)
        } else if hello.node != self.certified {
            Some(RefuseReason::IdMismatch {
                claimed: hello.node.clone(),
                certified: self.certified.clone(),
            })
        } else if hello.max_frame < Limits::MIN_MAX_FRAME {
            Some(RefuseReason::FrameLimitTooSmall {
                min: Limits::MIN_MAX_FRAME,
            })
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.transmit(Message::Refuse(reason.clone()));
            self.finish(CloseReason::Refused(reason));
            return;
        }
        let version = WireVersion {
            major: self.config.version.major,
            minor: self.config.version.minor.min(hello.version.minor),
        };
        self.transmit(Message::HelloAck(HelloAck {
            version,
            node: self.local.node.clone(),
            incarnation: self.local.incarnation,
            max_frame: self.config.limits.max_frame,
        }));
        self.establish(PeerInfo {
            node: hello.node,
            incarnation: hello.incarnation,
            version,
            max_frame: hello.max_frame,
        });
    }

    fn on_ack(&mut self, ack: HelloAck) {
        if ack.node != self.certified {
            self.transmit(Message::Goodbye(GoodbyeReason::ProtocolViolation));
            self.finish(CloseReason::PeerIdMismatch {
                claimed: ack.node,
                certified: self.certified.clone(),
            });
            return;
        }
        if ack.version.major != self.config.version.major
            || ack.version.minor > self.config.version.minor
            || ack.max_frame < Limits::MIN_MAX_FRAME
        {
            self.transmit(Message::Goodbye(GoodbyeReason::ProtocolViolation));
            self.finish(CloseReason::BadHelloAck);
            return;
        }
        self.establish(PeerInfo {
            node: ack.node,
            incarnation: ack.incarnation,
            version: ack.version,
            max_frame: ack.max_frame,
        });
    }

    fn establish(&mut self, peer: PeerInfo) {
        self.state = ConnState::Established;
        self.peer = Some(peer.clone());
        self.actions.push_back(Action::Established(peer));
    }

    fn transmit(&mut self, msg: Message) {
        self.actions.push_back(Action::Transmit(msg));
    }

    fn finish(&mut self, reason: CloseReason) {
        self.state = ConnState::Closed;
        self.actions.push_back(Action::Closed(reason));
    }
}

/// Of two connections between the same pair of nodes (both dialled at once), the one dialled
/// by the node this returns survives: the smaller id. Both sides compute the same answer
/// without talking; the other connection is closed with [`GoodbyeReason::Superseded`].
pub fn surviving_dialer<'a>(a: &'a NodeId, b: &'a NodeId) -> &'a NodeId {
    a.min(b)
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
