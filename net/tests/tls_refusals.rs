//! Security tests of mutual TLS over real QUIC on loopback.
//!
//! One accepting node ("server") serves a sequence of dialling peers. Each bad peer is refused
//! with its own typed error on both sides, and after each refusal a good peer is accepted and
//! exchanges one message on a bidirectional stream: a refusal never stops the node serving.
//!
//! The dialling side sends the id it claims as its whole stream (a stand-in for the hello) and
//! expects `welcome <id>` back. A refused dialler may see its `connect` succeed (TLS 1.3
//! clients finish before the server checks their certificate) and the refusal only at its first
//! stream operation; [`Step`] records where it showed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use quinn::{ConnectionError, ReadError, ReadToEndError, WriteError};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tern_net::quic::{check_claim, ConnectError, NodeEndpoint, QuicConfig, Refusal};
use tern_net::tls::{ClusterCa, NodeId, TlsConfig, ALPN};
use tokio::sync::mpsc;

/// Where a dialler saw its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `connect` (or the raw handshake) failed.
    Connect,
    /// The handshake succeeded; a stream operation after it failed.
    Stream,
}

type Outcome = Result<NodeId, ConnectError>;

fn id(s: &str) -> NodeId {
    NodeId::new(s).expect("valid id")
}

fn lost(e: ConnectionError) -> (Step, ConnectError) {
    (Step::Stream, ConnectError::from(e))
}

fn read_err(e: ReadToEndError) -> (Step, ConnectError) {
    match e {
        ReadToEndError::Read(ReadError::ConnectionLost(e)) => lost(e),
        other => panic!("unexpected read error: {other}"),
    }
}

fn write_err(e: WriteError) -> (Step, ConnectError) {
    match e {
        WriteError::ConnectionLost(e) => lost(e),
        other => panic!("unexpected write error: {other}"),
    }
}

/// The accepting node: hands every attempt's outcome to the test, in order.
struct Server {
    ca: ClusterCa,
    addr: SocketAddr,
    endpoint: NodeEndpoint,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
}

impl Server {
    async fn start() -> Server {
        let ca = ClusterCa::generate("refusal tests").expect("ca");
        let tls = TlsConfig::new(ca.trust(), ca.issue(&id("server")).expect("issue"));
        let endpoint = NodeEndpoint::bind(localhost(), &tls, &QuicConfig::default()).expect("bind");
        let addr = endpoint.local_addr().expect("addr");
        let (tx, outcomes) = mpsc::unbounded_channel();
        let accepting = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let outcome = serve(incoming).await;
                    tx.send(outcome).expect("the test outlives the server");
                });
            }
        });
        Server {
            ca,
            addr,
            endpoint,
            outcomes,
        }
    }

    async fn outcome(&mut self) -> Outcome {
        self.outcomes.recv().await.expect("server running")
    }

    /// A dialling node with a certificate from this cluster's CA.
    fn peer(&self, name: &str) -> TlsConfig {
        TlsConfig::new(self.ca.trust(), self.ca.issue(&id(name)).expect("issue"))
    }

    /// A good peer is accepted and exchanges a message: the node still serves.
    async fn still_serves(&mut self) {
        let good = self.peer("good");
        assert_eq!(
            dial(&good, self.addr, "good").await.expect("good peer"),
            "welcome good"
        );
        assert_eq!(self.outcome().await.expect("accepted"), "good");
    }
}

async fn serve(incoming: tern_net::quic::Incoming) -> Outcome {
    let (connection, peer) = incoming.complete().await?;
    let (mut send, mut recv) = connection.accept_bi().await?;
    let claimed = recv.read_to_end(64).await.map_err(|e| read_err(e).1)?;
    let claimed = String::from_utf8(claimed).expect("test peers send UTF-8");
    check_claim(&connection, &peer, &claimed)?;
    send.write_all(format!("welcome {peer}").as_bytes())
        .await
        .map_err(|e| write_err(e).1)?;
    send.finish().expect("stream open");
    // The dialler closes once it has read the reply.
    connection.closed().await;
    Ok(peer)
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

/// Dials with `tls`, claims `claim`, returns the server's reply.
async fn dial(
    tls: &TlsConfig,
    addr: SocketAddr,
    claim: &str,
) -> Result<String, (Step, ConnectError)> {
    let endpoint = NodeEndpoint::bind(localhost(), tls, &QuicConfig::default()).expect("bind");
    let (connection, peer) = endpoint
        .connect(addr)
        .await
        .map_err(|e| (Step::Connect, e))?;
    assert_eq!(peer, "server", "the dialler learns the server's id");
    let reply = exchange(&connection, claim).await;
    connection.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
    reply
}

async fn exchange(
    connection: &quinn::Connection,
    claim: &str,
) -> Result<String, (Step, ConnectError)> {
    let (mut send, mut recv) = connection.open_bi().await.map_err(lost)?;
    send.write_all(claim.as_bytes()).await.map_err(write_err)?;
    // A refusal may already have closed the stream's connection: that shows at the read.
    if let Err(e) = send.finish() {
        panic!("finish on a fresh stream: {e}");
    }
    let reply = recv.read_to_end(64).await.map_err(read_err)?;
    Ok(String::from_utf8(reply).expect("server sends UTF-8"))
}

/// Dials with a hand-made rustls client (to present no certificate, or one that names no
/// node), verifying the server in the ordinary way.
async fn dial_raw(
    ca: &ClusterCa,
    addr: SocketAddr,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<String, (Step, ConnectError)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .expect("tls 1.3")
    .with_root_certificates(roots);
    let mut config = match client_cert {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(config).expect("quic crypto");
    let mut endpoint = quinn::Endpoint::client(localhost()).expect("client endpoint");
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let connection = endpoint
        .connect(addr, "server.node.tern")
        .expect("dial")
        .await
        .map_err(|e| (Step::Connect, ConnectError::from(e)))?;
    let reply = exchange(&connection, "raw").await;
    connection.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
    reply
}

#[tokio::test]
async fn no_client_certificate_is_refused() {
    let mut server = Server::start().await;
    let err = dial_raw(&server.ca, server.addr, None)
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            (
                Step::Stream,
                ConnectError::RefusedByPeer(Refusal::NoCertificate)
            )
        ),
        "{err:?}"
    );
    let outcome = server.outcome().await;
    assert!(
        matches!(outcome, Err(ConnectError::Refused(Refusal::NoCertificate))),
        "{outcome:?}"
    );
    server.still_serves().await;
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let mut server = Server::start().await;
    let other = ClusterCa::generate("another cluster").expect("ca");
    // Trusts the right CA (it could download its certificate) but holds a certificate from
    // another one.
    let forged = TlsConfig::new(server.ca.trust(), other.issue(&id("alpha")).expect("issue"));
    let err = dial(&forged, server.addr, "alpha")
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            (
                Step::Stream,
                ConnectError::RefusedByPeer(Refusal::UnknownCa)
            )
        ),
        "{err:?}"
    );
    let outcome = server.outcome().await;
    assert!(
        matches!(outcome, Err(ConnectError::Refused(Refusal::UnknownCa))),
        "{outcome:?}"
    );
    server.still_serves().await;
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    let mut server = Server::start().await;
    let day = Duration::from_secs(24 * 60 * 60);
    let now = SystemTime::now();
    let expired = server
        .ca
        .issue_valid(&id("alpha"), now - 2 * day, now - day)
        .expect("issue");
    let expired = TlsConfig::new(server.ca.trust(), expired);
    let err = dial(&expired, server.addr, "alpha")
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            (Step::Stream, ConnectError::RefusedByPeer(Refusal::Expired))
        ),
        "{err:?}"
    );
    let outcome = server.outcome().await;
    assert!(
        matches!(outcome, Err(ConnectError::Refused(Refusal::Expired))),
        "{outcome:?}"
    );
    server.still_serves().await;
}

#[tokio::test]
async fn wrong_alpn_is_refused() {
    let mut server = Server::start().await;
    let future = server
        .peer("alpha")
        .with_alpn_protocols(vec![b"tern/999".to_vec()]);
    let err = dial(&future, server.addr, "alpha")
        .await
        .expect_err("refused");
    // The server refuses in its first flight, before the dialler could finish.
    assert!(
        matches!(
            err,
            (
                Step::Connect,
                ConnectError::RefusedByPeer(Refusal::WrongProtocol)
            )
        ),
        "{err:?}"
    );
    let outcome = server.outcome().await;
    assert!(
        matches!(outcome, Err(ConnectError::Refused(Refusal::WrongProtocol))),
        "{outcome:?}"
    );
    server.still_serves().await;
}

#[tokio::test]
async fn valid_certificate_claiming_another_id_is_refused() {
    let mut server = Server::start().await;
    let mallory = server.peer("mallory");
    let err = dial(&mallory, server.addr, "alpha")
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            (
                Step::Stream,
                ConnectError::RefusedByPeer(Refusal::IdMismatch)
            )
        ),
        "{err:?}"
    );
    match server.outcome().await {
        Err(ConnectError::IdMismatch { claimed, certified }) => {
            assert_eq!(claimed, "alpha");
            assert_eq!(certified, "mallory");
        }
        other => panic!("{other:?}"),
    }
    server.still_serves().await;
}

#[tokio::test]
async fn certificate_naming_no_node_is_refused() {
    let mut server = Server::start().await;
    // Signed by the cluster CA, valid, but for a host name rather than a node.
    let ca_key = KeyPair::from_pem(&server.ca.key_pem()).expect("ca key");
    let issuer = Issuer::from_ca_cert_pem(server.ca.cert_pem(), ca_key).expect("issuer");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["alpha.example.com".to_owned()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, "alpha");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).expect("sign");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let err = dial_raw(
        &server.ca,
        server.addr,
        Some((vec![cert.der().clone()], key)),
    )
    .await
    .expect_err("refused");
    assert!(
        matches!(
            err,
            (Step::Stream, ConnectError::RefusedByPeer(Refusal::NoNodeId))
        ),
        "{err:?}"
    );
    let outcome = server.outcome().await;
    assert!(
        matches!(outcome, Err(ConnectError::Refused(Refusal::NoNodeId))),
        "{outcome:?}"
    );
    server.still_serves().await;
}

#[tokio::test]
async fn every_refusal_in_a_row_then_a_good_peer() {
    let mut server = Server::start().await;
    let other = ClusterCa::generate("another cluster").expect("ca");
    let now = SystemTime::now();
    let day = Duration::from_secs(24 * 60 * 60);
    let bad = [
        TlsConfig::new(server.ca.trust(), other.issue(&id("a")).expect("issue")),
        TlsConfig::new(
            server.ca.trust(),
            server
                .ca
                .issue_valid(&id("b"), now - 2 * day, now - day)
                .expect("issue"),
        ),
        server
            .peer("c")
            .with_alpn_protocols(vec![b"tern/0".to_vec()]),
    ];
    for tls in &bad {
        dial(tls, server.addr, tls.node_id().as_str())
            .await
            .expect_err("refused");
        server.outcome().await.expect_err("refused");
    }
    dial_raw(&server.ca, server.addr, None)
        .await
        .expect_err("refused");
    server.outcome().await.expect_err("refused");
    server.still_serves().await;
    server.still_serves().await;
    server.endpoint.close(0, b"done");
}

#[tokio::test]
async fn a_server_from_another_ca_is_refused_by_the_dialler() {
    let impostor_ca = ClusterCa::generate("impostor").expect("ca");
    let impostor_tls = TlsConfig::new(
        impostor_ca.trust(),
        impostor_ca.issue(&id("server")).expect("issue"),
    );
    let impostor =
        NodeEndpoint::bind(localhost(), &impostor_tls, &QuicConfig::default()).expect("bind");
    let addr = impostor.local_addr().expect("addr");
    let accepting = tokio::spawn(async move {
        let incoming = impostor.accept().await.expect("open");
        incoming.complete().await.map(|(_, peer)| peer)
    });
    let ca = ClusterCa::generate("real").expect("ca");
    let honest = TlsConfig::new(ca.trust(), ca.issue(&id("alpha")).expect("issue"));
    let err = dial(&honest, addr, "alpha").await.expect_err("refused");
    assert!(
        matches!(
            err,
            (Step::Connect, ConnectError::Refused(Refusal::UnknownCa))
        ),
        "{err:?}"
    );
    let outcome = accepting.await.expect("task");
    assert!(
        matches!(
            outcome,
            Err(ConnectError::RefusedByPeer(Refusal::UnknownCa))
        ),
        "{outcome:?}"
    );
}
