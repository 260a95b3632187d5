//! What a peer can do to a node's mesh: stall a lane (other lanes keep flowing, senders wait),
//! fire garbage frames on an authenticated stream and random datagrams at the socket (the node
//! keeps serving), or claim another node's id (refused, reaches nothing).

mod quic_support;

use std::collections::HashMap;

use quic_support::*;
use tern_net::proto::{Decoder, Limits, Message, ToHome};
use tern_net::quic::{
    ConnectError, Delivery, MeshConfig, PeerEvent, QuicConfig, Refusal, SendError,
};

/// The first frame of a stream the mesh opened towards the raw peer, and the stream.
async fn first_frame(
    mut recv: quinn::RecvStream,
) -> (Message, quinn::RecvStream, Decoder, Vec<u8>) {
    let mut decoder = Decoder::new(Limits::default());
    let mut pending = Vec::new();
    let first = read_message(&mut recv, &mut decoder, &mut pending)
        .await
        .expect("a first frame");
    (first, recv, decoder, pending)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_lane_does_not_block_another() {
    let (alpha, mut inbox) = node("alpha", 1);
    let raw = RawPeer::connect("rho", "rho", alpha.local_addr().expect("addr"))
        .await
        .expect("raw peer");
    let rho = id("rho");
    assert!(matches!(next_event(&mut inbox).await, PeerEvent::Up { node, .. } if node == rho));
    let (stalled, free) = two_lanes("stalled", "free");

    // 200 × 32 KiB on the stalled lane: more than the lane buffer and QUIC's stream window.
    let flood = {
        let (alpha, rho, stalled) = (alpha.clone(), rho.clone(), stalled.clone());
        tokio::spawn(async move {
            for seq in 0..200 {
                alpha
                    .send(&rho, numbered(&stalled, 1, seq, 32 << 10))
                    .await
                    .expect("flood send");
            }
        })
    };
    // The raw peer reads the first frame of each stream and then stops reading the stalled one.
    let stalled_stream = {
        let recv = tokio::time::timeout(GUARD, raw.conn.accept_uni())
            .await
            .expect("hang guard")
            .expect("stream");
        let (first, recv, decoder, pending) = first_frame(recv).await;
        assert_eq!(number_of(&first), (stalled.clone(), 1, 0));
        (recv, decoder, pending)
    };
    // Wait (no clock) until the stalled lane's buffer is full: a probe is refused.
    let mut probes = 0;
    loop {
        match alpha.try_send(&rho, numbered(&stalled, 2, probes, 32 << 10)) {
            Ok(()) => probes += 1,
            Err(SendError::Full { .. }) => break,
            Err(other) => panic!("{other:?}"),
        }
        tokio::task::yield_now().await;
    }

    // Another lane flows meanwhile, in order.
    let free_task = {
        let (alpha, rho, free) = (alpha.clone(), rho.clone(), free.clone());
        tokio::spawn(async move {
            for seq in 0..100 {
                alpha
                    .send(&rho, numbered(&free, 3, seq, 64))
                    .await
                    .expect("free send");
            }
        })
    };
    let recv = tokio::time::timeout(GUARD, raw.conn.accept_uni())
        .await
        .expect("hang guard")
        .expect("stream");
    let (first, mut recv, mut decoder, mut pending) = first_frame(recv).await;
    assert_eq!(number_of(&first), (free.clone(), 3, 0));
    for seq in 1..100 {
        let msg = read_message(&mut recv, &mut decoder, &mut pending)
            .await
            .expect("free message");
        assert_eq!(number_of(&msg), (free.clone(), 3, seq));
    }
    free_task.await.expect("free sender");
    assert!(
        !flood.is_finished(),
        "the stalled lane's sender must be waiting"
    );

    // Unstall: everything arrives, in order per sender, and the flood's sends complete.
    let (mut recv, mut decoder, mut pending) = stalled_stream;
    let mut next_seq: HashMap<u64, u64> = HashMap::from([(1, 1), (2, 0)]);
    while next_seq[&1] < 200 || next_seq[&2] < probes {
        let msg = read_message(&mut recv, &mut decoder, &mut pending)
            .await
            .expect("stalled message");
        let (chan, party, seq) = number_of(&msg);
        assert_eq!(chan, stalled);
        let want = next_seq.get_mut(&party).expect("known party");
        assert_eq!(seq, *want, "party {party}");
        *want += 1;
    }
    tokio::time::timeout(GUARD, flood)
        .await
        .expect("hang guard")
        .expect("flood");
    alpha.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_and_datagrams_leave_the_node_serving() {
    let (alpha, mut inbox) = node("alpha", 1);
    let addr = alpha.local_addr().expect("addr");
    let raw = RawPeer::connect("rho", "rho", addr)
        .await
        .expect("raw peer");
    assert!(matches!(next_event(&mut inbox).await, PeerEvent::Up { .. }));

    // 10k garbage frames on one authenticated stream: a length prefix and a body that starts
    // with a tag no message has (8..=127), then one good message on the same stream.
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let mut garbage = Vec::new();
    for _ in 0..10_000 {
        let len = 1 + (rng.next() % 48) as usize;
        let mut body = rng.bytes(len);
        body[0] = 8 + (body[0] % 120);
        garbage.extend_from_slice(&(len as u32).to_le_bytes());
        garbage.extend_from_slice(&body);
    }
    garbage.extend_from_slice(&frame(&numbered("after-garbage", 5, 0, 4)));
    let mut stream = raw.write_stream(&garbage).await;
    stream.finish().expect("finish");
    // A stream whose framing breaks: an oversize length prefix.
    let mut oversize = (Limits::default().max_frame + 1).to_le_bytes().to_vec();
    oversize.extend_from_slice(&[0; 64]);
    let _broken = raw.write_stream(&oversize).await;

    // 10k random datagrams at the node's socket.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    for i in 0..10_000u32 {
        let len = 1 + (rng.next() % 1400) as usize;
        let mut datagram = rng.bytes(len);
        if i % 4 == 0 {
            // Shaped like a QUIC v1 long-header packet, to reach quinn's packet parsing.
            datagram[0] |= 0xc0;
            if len > 5 {
                datagram[1..5].copy_from_slice(&1u32.to_be_bytes());
            }
        }
        // Loopback may drop some under load; the test only needs them fired.
        if let Err(e) = socket.send_to(&datagram, addr) {
            assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
        }
    }

    // The good message after the garbage arrives: every garbage frame before it was skipped.
    let (from, msg) = next_message(&mut inbox).await;
    assert_eq!(
        (from, number_of(&msg)),
        (id("rho"), ("after-garbage".into(), 5, 0))
    );
    let stats = alpha.stats();
    assert_eq!(stats.bad_frames, 10_000, "{stats:?}");

    // The node keeps serving: a good peer connects and exchanges messages both ways.
    let (beta, mut b_inbox) = node("beta", 2);
    let peer = beta.connect(addr).await.expect("good peer connects");
    assert_eq!(peer, id("alpha"));
    beta.send(&peer, numbered("hello", 6, 0, 8))
        .await
        .expect("send");
    let (from, msg) = next_message(&mut inbox).await;
    assert_eq!((from, number_of(&msg).0), (id("beta"), "hello".into()));
    alpha
        .send(&id("beta"), numbered("back", 7, 0, 8))
        .await
        .expect("send back");
    assert_eq!(next_message(&mut b_inbox).await.0, id("alpha"));
    // The raw peer's connection survived its garbage too.
    raw.write_stream(&frame(&numbered("still-here", 8, 0, 1)))
        .await;
    let (from, msg) = next_message(&mut inbox).await;
    assert_eq!((from, number_of(&msg).0), (id("rho"), "still-here".into()));
    // The oversize stream is read by its own reader, in no order with the others.
    tokio::time::timeout(GUARD, async {
        while alpha.stats().streams_reset == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("hang guard: the broken stream was never stopped");
    assert_eq!(alpha.stats().streams_reset, 1);
    alpha.shutdown().await;
    beta.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_claiming_another_id_is_refused_and_reaches_nothing() {
    let (alpha, mut inbox) = node("alpha", 1);
    let addr = alpha.local_addr().expect("addr");
    // mallory's certificate is valid, but it claims to be beta.
    match RawPeer::connect("mallory", "beta", addr).await {
        Err(ConnectError::RefusedByPeer(Refusal::IdMismatch)) => {}
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a false claim was accepted"),
    }
    // The node keeps serving; the first thing it delivers is the good peer's.
    let (beta, _b) = node("beta", 2);
    beta.connect(addr).await.expect("good peer");
    beta.send(&id("alpha"), numbered("hi", 1, 0, 1))
        .await
        .expect("send");
    match next(&mut inbox).await {
        Delivery::Event(PeerEvent::Up { node, .. }) => assert_eq!(node, id("beta")),
        other => panic!("{other:?}"),
    }
    assert_eq!(next_message(&mut inbox).await.0, id("beta"));
    assert!(alpha.stats().refused >= 1);
    assert_eq!(alpha.peers(), vec![id("beta")]);
    alpha.shutdown().await;
    beta.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_read_before_the_hello() {
    let config =
        MeshConfig::default().with_handshake_timeout(std::time::Duration::from_millis(300));
    let (alpha, mut inbox) = node_with("alpha", 1, QuicConfig::default(), config);
    let addr = alpha.local_addr().expect("addr");
    // A certified peer that skips the hello and writes a channel message straight away.
    let endpoint =
        tern_net::quic::NodeEndpoint::bind(localhost(), &tls("rho"), &QuicConfig::default())
            .expect("bind");
    let (conn, _) = endpoint.connect(addr).await.expect("tls");
    let mut lane = conn.open_uni().await.expect("open");
    lane.write_all(&frame(&Message::ToHome(ToHome::Close {
        chan: tern_net::proto::ChannelId::of::<u8>("sneaky", 0),
    })))
    .await
    .expect("write");
    // The node closes it when the hello does not come.
    let closed = tokio::time::timeout(GUARD, conn.closed())
        .await
        .expect("hang guard");
    assert!(
        matches!(closed, quinn::ConnectionError::ApplicationClosed(_)),
        "{closed:?}"
    );
    // The first delivery is a good peer's: the sneaky message reached nothing.
    let (beta, _b) = node("beta", 2);
    beta.connect(addr).await.expect("good peer");
    beta.send(&id("alpha"), numbered("hi", 1, 0, 1))
        .await
        .expect("send");
    assert!(
        matches!(next(&mut inbox).await, Delivery::Event(PeerEvent::Up { node, .. }) if node == id("beta"))
    );
    let (from, msg) = next_message(&mut inbox).await;
    assert_eq!((from, number_of(&msg).0), (id("beta"), "hi".into()));
    assert_eq!(alpha.stats().messages_received, 1);
    alpha.shutdown().await;
    beta.shutdown().await;
}
