//! The node endpoint over real QUIC on loopback: both ends learn each other's id, keep-alives
//! hold an idle connection open, and a peer that vanishes is detected by the idle timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tern_net::quic::{ConnectError, EndpointError, NodeEndpoint, QuicConfig};
use tern_net::tls::{NodeId, TlsConfig};

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

fn dev(name: &str) -> TlsConfig {
    TlsConfig::dev(&NodeId::new(name).expect("id")).expect("dev tls")
}

/// Accepts one connection and echoes every bidirectional stream until the connection ends;
/// returns the peer's id and why the connection ended.
async fn echo_one(endpoint: NodeEndpoint) -> (NodeId, ConnectError) {
    let incoming = endpoint.accept().await.expect("endpoint open");
    let (connection, peer) = incoming.complete().await.expect("handshake");
    loop {
        match connection.accept_bi().await {
            Ok((mut send, mut recv)) => {
                let message = recv.read_to_end(1024).await.expect("read");
                send.write_all(&message).await.expect("write");
                send.finish().expect("finish");
            }
            Err(e) => return (peer, ConnectError::from(e)),
        }
    }
}

async fn round_trip(connection: &quinn::Connection, message: &[u8]) -> Vec<u8> {
    let (mut send, mut recv) = connection.open_bi().await.expect("open");
    send.write_all(message).await.expect("write");
    send.finish().expect("finish");
    recv.read_to_end(1024).await.expect("read")
}

#[tokio::test]
async fn both_ends_learn_the_peer_id_from_the_certificate() {
    let quic = QuicConfig::default();
    let alpha = NodeEndpoint::bind(localhost(), &dev("alpha"), &quic).expect("bind");
    let beta = NodeEndpoint::bind(localhost(), &dev("beta"), &quic).expect("bind");
    assert_eq!(alpha.node_id(), "alpha");
    let server = tokio::spawn(echo_one(beta.clone()));
    let (connection, peer) = alpha
        .connect(beta.local_addr().expect("addr"))
        .await
        .expect("connect");
    assert_eq!(peer, "beta");
    assert_eq!(round_trip(&connection, b"one").await, b"one");
    assert_eq!(round_trip(&connection, b"two").await, b"two");
    connection.close(7u32.into(), b"bye");
    let (peer, ended) = server.await.expect("server task");
    assert_eq!(peer, "alpha");
    match ended {
        ConnectError::Lost(quinn::ConnectionError::ApplicationClosed(close)) => {
            assert_eq!(close.error_code, 7u32.into());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn one_endpoint_dials_and_accepts() {
    let quic = QuicConfig::default();
    let alpha = NodeEndpoint::bind(localhost(), &dev("alpha"), &quic).expect("bind");
    let beta = NodeEndpoint::bind(localhost(), &dev("beta"), &quic).expect("bind");
    let alpha_serves = tokio::spawn(echo_one(alpha.clone()));
    let beta_serves = tokio::spawn(echo_one(beta.clone()));
    let (to_beta, _) = alpha
        .connect(beta.local_addr().expect("addr"))
        .await
        .expect("alpha → beta");
    let (to_alpha, _) = beta
        .connect(alpha.local_addr().expect("addr"))
        .await
        .expect("beta → alpha");
    assert_eq!(to_alpha.remote_address(), alpha.local_addr().expect("addr"));
    assert_eq!(round_trip(&to_beta, b"a").await, b"a");
    assert_eq!(round_trip(&to_alpha, b"b").await, b"b");
    to_beta.close(0u32.into(), b"");
    to_alpha.close(0u32.into(), b"");
    assert_eq!(alpha_serves.await.expect("task").0, "beta");
    assert_eq!(beta_serves.await.expect("task").0, "alpha");
}

#[tokio::test]
async fn keep_alives_hold_an_idle_connection_open() {
    let quic = QuicConfig::default()
        .with_keep_alive(Duration::from_millis(100))
        .with_idle_timeout(Duration::from_millis(1500));
    let alpha = NodeEndpoint::bind(localhost(), &dev("alpha"), &quic).expect("bind");
    let beta = NodeEndpoint::bind(localhost(), &dev("beta"), &quic).expect("bind");
    let server = tokio::spawn(echo_one(beta.clone()));
    let (connection, _) = alpha
        .connect(beta.local_addr().expect("addr"))
        .await
        .expect("connect");
    // Idle for well over the idle timeout: only keep-alives cross.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(round_trip(&connection, b"still here").await, b"still here");
    connection.close(0u32.into(), b"");
    server.await.expect("task");
}

#[tokio::test]
async fn a_vanished_peer_times_out() {
    let quic = QuicConfig::default()
        .with_keep_alive(Duration::from_millis(100))
        .with_idle_timeout(Duration::from_millis(500));
    // The peer runs on a runtime of its own, which the test then drops: its tasks stop
    // without closing anything, as if the process had been killed.
    let peer_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let beta = {
        let _inside = peer_runtime.enter();
        NodeEndpoint::bind(localhost(), &dev("beta"), &quic).expect("bind")
    };
    let beta_addr = beta.local_addr().expect("addr");
    peer_runtime.spawn(echo_one(beta));
    let alpha = NodeEndpoint::bind(localhost(), &dev("alpha"), &quic).expect("bind");
    let (connection, _) = alpha.connect(beta_addr).await.expect("connect");
    assert_eq!(round_trip(&connection, b"ping").await, b"ping");
    peer_runtime.shutdown_background();
    let ended = ConnectError::from(connection.closed().await);
    assert!(matches!(ended, ConnectError::TimedOut), "{ended:?}");
}

#[tokio::test]
async fn keep_alive_must_be_shorter_than_the_idle_timeout() {
    let quic = QuicConfig::default()
        .with_keep_alive(Duration::from_secs(5))
        .with_idle_timeout(Duration::from_secs(5));
    let err = NodeEndpoint::bind(localhost(), &dev("alpha"), &quic).expect_err("refused");
    assert!(
        matches!(err, EndpointError::KeepAliveTooLong { .. }),
        "{err:?}"
    );
}

#[test]
fn binding_needs_a_runtime() {
    let err = NodeEndpoint::bind(localhost(), &dev("alpha"), &QuicConfig::default())
        .expect_err("no runtime");
    assert!(matches!(err, EndpointError::Io(_)), "{err:?}");
}
