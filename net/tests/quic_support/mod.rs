//! Helpers shared by the mesh tests: nodes on loopback, messages that carry a sequence number,
//! and a raw peer that speaks the hello by hand and then writes whatever a test wants.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use quinn::{RecvStream, SendStream};
use tern_net::proto::{
    encode, ChannelId, Decoder, Hello, Incarnation, Limits, Message, NodeId, OpId, PartyId,
    Payload, ToHome, WIRE_VERSION,
};
use tern_net::quic::{
    ConnectError, Delivery, Inbox, Mesh, MeshConfig, NodeEndpoint, PeerEvent, QuicConfig,
};
use tern_net::tls::{self, TlsConfig};

/// A hang guard: long enough never to fire on a loaded machine, short enough to fail a hung
/// test.
pub const GUARD: Duration = Duration::from_secs(60);

pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

pub fn tls(name: &str) -> TlsConfig {
    TlsConfig::dev(&tls::NodeId::new(name).expect("id")).expect("dev tls")
}

pub fn node(name: &str, incarnation: u64) -> (Mesh, Inbox) {
    node_with(
        name,
        incarnation,
        QuicConfig::default(),
        MeshConfig::default(),
    )
}

pub fn node_with(
    name: &str,
    incarnation: u64,
    quic: QuicConfig,
    mesh: MeshConfig,
) -> (Mesh, Inbox) {
    let endpoint = NodeEndpoint::bind(localhost(), &tls(name), &quic).expect("bind");
    Mesh::start(endpoint, Incarnation(incarnation), mesh)
}

pub fn id(name: &str) -> NodeId {
    NodeId::new(name).expect("node id")
}

/// `ToHome::Send` on channel `chan` by party `party`, op `seq`, with `len` payload bytes.
pub fn numbered(chan: &str, party: u64, seq: u64, len: usize) -> Message {
    Message::ToHome(ToHome::Send {
        chan: ChannelId::of::<Vec<u8>>(chan, 0),
        op: OpId {
            party: PartyId {
                origin: party,
                seq: 0,
            },
            epoch: 0,
            seq,
        },
        value: Payload(vec![seq as u8; len]),
    })
}

/// `(channel, party, seq)` of a message made by [`numbered`].
pub fn number_of(message: &Message) -> (String, u64, u64) {
    match message {
        Message::ToHome(ToHome::Send { chan, op, .. }) => {
            (chan.name.as_str().to_owned(), op.party.origin, op.seq)
        }
        other => panic!("not a numbered message: {other:?}"),
    }
}

/// Waits (under the guard) for the inbox's next delivery.
pub async fn next(inbox: &mut Inbox) -> Delivery {
    tokio::time::timeout(GUARD, inbox.recv())
        .await
        .expect("hang guard: no delivery")
        .expect("inbox ended")
}

/// The next message, skipping events.
pub async fn next_message(inbox: &mut Inbox) -> (NodeId, Message) {
    loop {
        if let Delivery::Message { from, message } = next(inbox).await {
            return (from, message);
        }
    }
}

/// The next event, failing on a message.
pub async fn next_event(inbox: &mut Inbox) -> PeerEvent {
    match next(inbox).await {
        Delivery::Event(event) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Two channel names on different lanes.
pub fn two_lanes(a: &str, b: &str) -> (String, String) {
    let lane = |name: &str| tern_net::quic::mesh::lane_of(&numbered(name, 0, 0, 0));
    let first = a.to_owned();
    let second = (0..)
        .map(|i| format!("{b}-{i}"))
        .find(|n| lane(n) != lane(&first))
        .expect("some name lands elsewhere");
    (first, second)
}

/// A tiny deterministic generator for garbage.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A peer that speaks the hello by hand, then lets the test write raw bytes.
pub struct RawPeer {
    pub endpoint: NodeEndpoint,
    pub conn: quinn::Connection,
    pub control: (SendStream, RecvStream),
}

/// Reads the next message from `recv` through `decoder`.
pub async fn read_message(
    recv: &mut RecvStream,
    decoder: &mut Decoder,
    pending: &mut Vec<u8>,
) -> Option<Message> {
    loop {
        let mut input = &pending[..];
        let got = decoder.decode(&mut input).expect("peer frames decode");
        let used = pending.len() - input.len();
        pending.drain(..used);
        if got.is_some() {
            return got;
        }
        match recv.read_chunk(64 << 10, true).await {
            Ok(Some(chunk)) => pending.extend_from_slice(&chunk.bytes),
            Ok(None) | Err(_) => return None,
        }
    }
}

impl RawPeer {
    /// Dials `addr` as the node `name` (certificate) claiming `claim` in its hello; returns
    /// once the hello is answered.
    pub async fn connect(
        name: &str,
        claim: &str,
        addr: SocketAddr,
    ) -> Result<RawPeer, ConnectError> {
        let endpoint =
            NodeEndpoint::bind(localhost(), &tls(name), &QuicConfig::default()).expect("bind");
        let (conn, _) = endpoint.connect(addr).await?;
        let (mut send, mut recv) = conn.open_bi().await?;
        let hello = Message::Hello(Hello {
            version: WIRE_VERSION,
            node: id(claim),
            incarnation: Incarnation(77),
            max_frame: Limits::default().max_frame,
        });
        let mut frame = Vec::new();
        encode(&hello, &Limits::default(), &mut frame).expect("encode");
        if let Err(e) = send.write_all(&frame).await {
            return Err(match e {
                quinn::WriteError::ConnectionLost(e) => ConnectError::from(e),
                other => panic!("{other}"),
            });
        }
        let mut decoder = Decoder::new(Limits::default());
        let mut pending = Vec::new();
        match read_message(&mut recv, &mut decoder, &mut pending).await {
            Some(Message::HelloAck(_)) => Ok(RawPeer {
                endpoint,
                conn,
                control: (send, recv),
            }),
            Some(other) => panic!("unexpected answer to hello: {other:?}"),
            None => Err(conn
                .close_reason()
                .map_or(ConnectError::Closed, ConnectError::from)),
        }
    }

    /// Opens a lane stream and writes `bytes` to it.
    pub async fn write_stream(&self, bytes: &[u8]) -> SendStream {
        let mut stream = self.conn.open_uni().await.expect("open");
        stream.write_all(bytes).await.expect("write");
        stream
    }
}

/// `msg` as a frame.
pub fn frame(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    encode(msg, &Limits::default(), &mut out).expect("encode");
    out
}
