//! Raw quinn peers for the network benches (`net_mesh`, `cluster_remote`): the floor that the
//! tern-net mesh and tern's remote channels are measured against.
//!
//! Endpoints are [`NodeEndpoint`]s with a dev TLS certificate (mutual TLS 1.3, ALPN `tern/1`,
//! tern's QUIC transport settings) on loopback, so the raw variants pay the same TLS and QUIC
//! as tern and differ only in what runs above quinn. Frames are a `u32` little-endian length
//! and a body whose first 8 bytes are a sequence number (the rest `0xa5`); readers check the
//! order of every frame.
//!
//! - Round trips: [`RawEcho`] (one bidirectional stream, echoed frame by frame by a task on
//!   the other side), built from [`raw_echo`] and [`raw_round_trips`].
//! - One-way streams: [`RawOneWay`] (one unidirectional stream, frames gathered up to a batch
//!   size per write), built from [`raw_write`], [`raw_read`] and [`raw_stream`].

use std::time::{Duration, Instant};

use quinn::{RecvStream, SendStream};
use tern_net::proto::NodeId;
use tern_net::quic::{NodeEndpoint, QuicConfig};
use tern_net::tls::TlsConfig;
use tokio::runtime::Runtime;

/// An endpoint on loopback with a dev certificate for `name`.
pub fn endpoint(name: &str) -> NodeEndpoint {
    let id = NodeId::new(name).unwrap_or_else(|e| panic!("{e}"));
    let tls = TlsConfig::dev(&id).unwrap_or_else(|e| panic!("dev tls: {e}"));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    NodeEndpoint::bind(addr, &tls, &QuicConfig::default()).unwrap_or_else(|e| panic!("bind: {e}"))
}

/// Awaits a spawned task's result.
///
/// # Panics
/// When the task panicked or was cancelled.
pub async fn join<T>(task: tokio::task::JoinHandle<T>) -> T {
    match task.await {
        Ok(v) => v,
        Err(e) => panic!("bench task failed: {e}"),
    }
}

/// Two endpoints and a connection between them (alpha dialled beta).
pub struct RawPair {
    /// Alpha's end.
    pub alpha: quinn::Connection,
    /// Beta's end.
    pub beta: quinn::Connection,
    /// The endpoints, kept open while the connection is used.
    pub _endpoints: [NodeEndpoint; 2],
}

/// Binds endpoints `alpha` and `beta` (see [`endpoint`]) and connects alpha to beta.
pub async fn raw_pair(alpha: &str, beta: &str) -> RawPair {
    let (alpha, beta) = (endpoint(alpha), endpoint(beta));
    let addr = beta.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let accepting = beta.clone();
    let accepting = tokio::spawn(async move {
        let beta = accepting;
        let incoming = beta.accept().await.unwrap_or_else(|| panic!("beta closed"));
        let (conn, _) = incoming
            .complete()
            .await
            .unwrap_or_else(|e| panic!("accept: {e}"));
        conn
    });
    let (conn, _) = alpha
        .connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    RawPair {
        alpha: conn,
        beta: join(accepting).await,
        _endpoints: [alpha, beta],
    }
}

/// Writes frame `seq` (length prefix, then `len - 4` body bytes starting with `seq`) to `out`.
pub fn push_frame(out: &mut Vec<u8>, seq: u64, len: usize) {
    let body = len - 4;
    let prefix = u32::try_from(body).unwrap_or_else(|e| panic!("{e}"));
    out.extend_from_slice(&prefix.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.resize(out.len() + body - 8, 0xa5);
}

/// Reads one frame of `len` bytes into `buf`; its sequence number.
pub async fn read_frame(recv: &mut RecvStream, buf: &mut [u8]) -> u64 {
    if let Err(e) = recv.read_exact(buf).await {
        panic!("read: {e}");
    }
    seq_in(buf)
}

/// The sequence number of a whole frame.
pub fn seq_in(frame: &[u8]) -> u64 {
    let mut seq = [0; 8];
    seq.copy_from_slice(&frame[4..12]);
    u64::from_le_bytes(seq)
}

/// Beta's side of the raw echo: reads frames of `len` bytes and writes each back.
pub async fn raw_echo(mut send: SendStream, mut recv: RecvStream, len: usize) {
    let mut buf = vec![0; len];
    loop {
        match recv.read_exact(&mut buf).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(0)) => return,
            Err(e) => panic!("echo read: {e}"),
        }
        if let Err(e) = send.write_all(&buf).await {
            panic!("echo write: {e}");
        }
    }
}

/// `rounds` raw round trips numbered from `first`; the time they took.
pub async fn raw_round_trips(
    send: &mut SendStream,
    recv: &mut RecvStream,
    len: usize,
    first: u64,
    rounds: u64,
) -> Duration {
    let mut out = Vec::with_capacity(len);
    let mut back = vec![0; len];
    let start = Instant::now();
    for seq in first..first + rounds {
        out.clear();
        push_frame(&mut out, seq, len);
        if let Err(e) = send.write_all(&out).await {
            panic!("write {seq}: {e}");
        }
        assert_eq!(read_frame(recv, &mut back).await, seq, "round trip {seq}");
    }
    start.elapsed()
}

/// Writes frames `first..first + count` of `len` bytes, gathering up to `batch` bytes per
/// write (1 byte: one write per frame).
pub async fn raw_write(
    mut send: SendStream,
    len: usize,
    batch: usize,
    first: u64,
    count: u64,
) -> SendStream {
    let mut out = Vec::with_capacity(batch + len);
    for seq in first..first + count {
        push_frame(&mut out, seq, len);
        if out.len() + len > batch {
            if let Err(e) = send.write_all(&out).await {
                panic!("write {seq}: {e}");
            }
            out.clear();
        }
    }
    if !out.is_empty() {
        if let Err(e) = send.write_all(&out).await {
            panic!("write: {e}");
        }
    }
    send
}

/// Reads frames `first..first + count` of `len` bytes from `recv`, checking their order; the
/// stream carries nothing more.
pub async fn raw_read(
    recv: &mut RecvStream,
    pending: &mut Vec<u8>,
    len: usize,
    first: u64,
    count: u64,
) {
    let mut next = first;
    let end = first + count;
    while next < end {
        let chunk = match recv.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => panic!("stream ended at frame {next}"),
            Err(e) => panic!("read: {e}"),
        };
        pending.extend_from_slice(&chunk.bytes);
        let mut at = 0;
        while pending.len() - at >= len {
            let frame = &pending[at..at + len];
            let prefix = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
            assert_eq!(prefix as usize, len - 4, "frame {next}: bad length");
            assert_eq!(seq_in(frame), next, "frame out of order");
            next += 1;
            at += len;
        }
        pending.drain(..at);
    }
    assert!(pending.is_empty(), "bytes after the last frame");
}

/// `count` raw frames one way, numbered from `first`; the time until beta has read the last.
pub async fn raw_stream(
    send: SendStream,
    recv: &mut RecvStream,
    pending: &mut Vec<u8>,
    (len, batch): (usize, usize),
    (first, count): (u64, u64),
) -> (Duration, SendStream) {
    let start = Instant::now();
    let writer = tokio::spawn(raw_write(send, len, batch, first, count));
    raw_read(recv, pending, len, first, count).await;
    let elapsed = start.elapsed();
    (elapsed, join(writer).await)
}

/// A raw echo ready for round trips: alpha's ends of one bidirectional stream, which a task on
/// beta echoes frame by frame.
pub struct RawEcho {
    pair: RawPair,
    send: SendStream,
    recv: RecvStream,
    echo: tokio::task::JoinHandle<()>,
    len: usize,
    next: u64,
}

impl RawEcho {
    /// Connects endpoints `alpha` and `beta` on `rt`, opens the stream and makes one round trip
    /// on it (the peer learns of a stream when data arrives on it).
    pub fn start(rt: &Runtime, (alpha, beta): (&str, &str), len: usize) -> RawEcho {
        let pair = rt.block_on(raw_pair(alpha, beta));
        let (send, mut recv) = rt.block_on(async {
            let (mut send, recv) = pair.alpha.open_bi().await.unwrap_or_else(|e| panic!("{e}"));
            let mut first = Vec::new();
            push_frame(&mut first, 0, len);
            send.write_all(&first)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (send, recv)
        });
        let beta_conn = pair.beta.clone();
        let echo = rt.spawn(async move {
            let (send, recv) = beta_conn
                .accept_bi()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            raw_echo(send, recv, len).await;
        });
        let mut back = vec![0; len];
        assert_eq!(rt.block_on(read_frame(&mut recv, &mut back)), 0);
        RawEcho {
            pair,
            send,
            recv,
            echo,
            len,
            next: 1,
        }
    }

    /// `rounds` round trips, each answer checked; the time they took.
    pub fn round_trips(&mut self, rt: &Runtime, rounds: u64) -> Duration {
        let d = rt.block_on(raw_round_trips(
            &mut self.send,
            &mut self.recv,
            self.len,
            self.next,
            rounds,
        ));
        self.next += rounds;
        d
    }

    /// Ends the stream, waits for the echo to see the end and closes the connection.
    pub fn finish(self, rt: &Runtime) {
        let RawEcho {
            pair,
            mut send,
            echo,
            ..
        } = self;
        rt.block_on(async {
            send.finish().unwrap_or_else(|e| panic!("{e}"));
            join(echo).await;
            pair.alpha.close(0u32.into(), b"done");
            pair.beta.closed().await;
        });
    }
}

/// A raw one-way stream ready for runs: alpha writes frames of `len` bytes on one
/// unidirectional stream, up to `batch` bytes per write; beta reads and checks them.
pub struct RawOneWay {
    pair: RawPair,
    send: Option<SendStream>,
    recv: RecvStream,
    pending: Vec<u8>,
    len: usize,
    batch: usize,
    next: u64,
}

impl RawOneWay {
    /// Connects endpoints `alpha` and `beta` on `rt` and opens the stream with frame 0 (which
    /// makes it known to beta).
    pub fn start(rt: &Runtime, (alpha, beta): (&str, &str), len: usize, batch: usize) -> Self {
        let pair = rt.block_on(raw_pair(alpha, beta));
        let mut pending = Vec::new();
        let (send, recv) = rt.block_on(async {
            let send = pair
                .alpha
                .open_uni()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let send = raw_write(send, len, batch, 0, 1).await;
            let mut recv = pair
                .beta
                .accept_uni()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            raw_read(&mut recv, &mut pending, len, 0, 1).await;
            (send, recv)
        });
        RawOneWay {
            pair,
            send: Some(send),
            recv,
            pending,
            len,
            batch,
            next: 1,
        }
    }

    /// `count` frames one way, order checked; the time until beta has read the last.
    pub fn run(&mut self, rt: &Runtime, count: u64) -> Duration {
        let send = self.send.take().unwrap_or_else(|| panic!("no stream"));
        let (d, send) = rt.block_on(raw_stream(
            send,
            &mut self.recv,
            &mut self.pending,
            (self.len, self.batch),
            (self.next, count),
        ));
        self.send = Some(send);
        self.next += count;
        d
    }

    /// Closes the connection.
    pub fn finish(self, rt: &Runtime) {
        rt.block_on(async {
            self.pair.alpha.close(0u32.into(), b"done");
            self.pair.beta.closed().await;
        });
    }
}
