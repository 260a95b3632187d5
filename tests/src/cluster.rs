//! Clusters of real nodes for the multi-node tests: each node has its own QUIC endpoint on
//! loopback; nodes of one process trust each other through the per-process dev CA.

use std::time::Duration;

use tern::Node;

/// Starts nodes `ids` listening on loopback and connects every pair; returns once every
/// node counts all the others as members.
///
/// # Panics
/// When a node does not start or a connection fails.
pub async fn cluster(ids: &[&str]) -> Vec<Node> {
    cluster_with(ids, |b| b).await
}

/// Like [`cluster`], with each node's builder adjusted by `configure`.
///
/// # Panics
/// When a node does not start or a connection fails.
pub async fn cluster_with(
    ids: &[&str],
    configure: impl Fn(tern::NodeBuilder) -> tern::NodeBuilder,
) -> Vec<Node> {
    let mut nodes = Vec::new();
    for id in ids {
        let builder = Node::builder(*id)
            .workers(1)
            .listen("127.0.0.1:0".parse().expect("address"));
        let node = configure(builder)
            .start()
            .await
            .unwrap_or_else(|e| panic!("start {id}: {e}"));
        nodes.push(node);
    }
    for i in 0..nodes.len() {
        for j in i + 1..nodes.len() {
            let addr = nodes[j].local_addr().expect("listening");
            let peer = nodes[i].connect(addr).await.expect("connect");
            assert_eq!(peer, *nodes[j].id());
        }
    }
    for node in &nodes {
        while node.members().len() < nodes.len() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    nodes
}

/// Shuts every node down.
pub async fn shutdown(nodes: Vec<Node>) {
    for node in nodes {
        node.shutdown().await;
    }
}

/// The first name `prefix-<i>` whose home is `home` on every node of `nodes`.
///
/// # Panics
/// When none of the first 10,000 names is.
pub fn name_homed_at(nodes: &[Node], prefix: &str, home: &Node) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}-{i}"))
        .find(|name| nodes.iter().all(|n| n.home_of(name) == *home.id()))
        .expect("some name is homed there")
}
