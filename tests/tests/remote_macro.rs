//! `#[tern::remote]` between real nodes over QUIC: calls from another node, a callback through
//! a reference passed as an argument, typed errors, and a `#[migratable]` task that awaits
//! calls on a remote object (also after moving to the object's owner), and one that moves
//! away and keeps calling the object it left behind.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tern::{migratable, Channel, Remote};
use tern_tests::cluster::{cluster, shutdown};

/// A key-value store that lives on one node.
#[tern::remote]
pub trait Store {
    /// The value of `key`.
    async fn get(&self, key: String) -> Option<u64>;
    /// Sets `key` to `value`; returns the previous value.
    async fn put(&self, key: String, value: u64) -> Option<u64>;
    /// Takes `n` from the value of `key`; returns what is left.
    async fn take(&self, key: String, n: u64) -> Result<u64, StoreError>;
    /// Pushes every entry to `sink`, in key order; returns how many.
    async fn dump(&self, sink: Remote<dyn Sink>) -> u64;
}

/// Why [`Store::take`] refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreError {
    /// No such key.
    Missing(String),
    /// Less than asked for.
    Short {
        /// What the key holds.
        have: u64,
        /// What was asked for.
        wanted: u64,
    },
}

/// Receives entries.
#[tern::remote]
pub trait Sink {
    /// Takes one entry.
    async fn push(&self, key: String, value: u64);
}

#[derive(Default)]
struct MapStore(Mutex<BTreeMap<String, u64>>);

#[tern::remote]
impl Store for MapStore {
    async fn get(&self, key: String) -> Option<u64> {
        self.0.lock().unwrap().get(&key).copied()
    }

    async fn put(&self, key: String, value: u64) -> Option<u64> {
        self.0.lock().unwrap().insert(key, value)
    }

    async fn take(&self, key: String, n: u64) -> Result<u64, StoreError> {
        let mut map = self.0.lock().unwrap();
        let have = map.get_mut(&key).ok_or(StoreError::Missing(key))?;
        if *have < n {
            return Err(StoreError::Short {
                have: *have,
                wanted: n,
            });
        }
        *have -= n;
        Ok(*have)
    }

    async fn dump(&self, sink: Remote<dyn Sink>) -> u64 {
        let entries: Vec<(String, u64)> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (key, value) in &entries {
            sink.push(key.clone(), *value).await.expect("the callback");
        }
        entries.len() as u64
    }
}

/// A sink whose entries the test reads.
struct Collect(Arc<Mutex<Vec<(String, u64)>>>);

#[tern::remote]
impl Sink for Collect {
    async fn push(&self, key: String, value: u64) {
        self.0.lock().unwrap().push((key, value));
    }
}

/// Sends a reference from `from` to `to` through a channel.
async fn hand_over<T: ?Sized + tern::remote::Interface>(
    from: &tern::Node,
    to: &tern::Node,
    name: &str,
    r: Remote<T>,
) -> Remote<T> {
    from.buffered_channel::<Remote<T>>(name, 1)
        .send(r)
        .await
        .unwrap();
    to.buffered_channel::<Remote<T>>(name, 1)
        .recv()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_trait_is_called_from_another_node() {
    let nodes = cluster(&["rm-a", "rm-b"]).await;
    let store: Remote<dyn Store> = nodes[1].expose(MapStore::default());
    let there = hand_over(&nodes[1], &nodes[0], "rm-refs", store.clone()).await;
    assert_eq!(there.owner().as_str(), "rm-b");
    assert_eq!(there.put("x".into(), 5).await.unwrap(), None);
    assert_eq!(there.put("x".into(), 7).await.unwrap(), Some(5));
    assert_eq!(store.get("x".into()).await.unwrap(), Some(7));
    assert_eq!(there.get("y".into()).await.unwrap(), None);
    assert!(nodes[0].remote_stats().calls_out >= 3);
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_errors_reach_the_caller() {
    let nodes = cluster(&["re-a", "re-b"]).await;
    let store = hand_over(
        &nodes[1],
        &nodes[0],
        "re-refs",
        nodes[1].expose::<dyn Store, _>(MapStore::default()),
    )
    .await;
    store.put("k".into(), 10).await.unwrap();
    assert_eq!(store.take("k".into(), 4).await.unwrap(), Ok(6));
    assert_eq!(
        store.take("k".into(), 7).await.unwrap(),
        Err(StoreError::Short { have: 6, wanted: 7 })
    );
    assert_eq!(
        store.take("nope".into(), 1).await.unwrap(),
        Err(StoreError::Missing("nope".into()))
    );
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_through_a_reference_reaches_the_callers_object() {
    let nodes = cluster(&["rc-a", "rc-b"]).await;
    // The store lives on b; a holds a reference to it.
    let store = hand_over(
        &nodes[1],
        &nodes[0],
        "rc-refs",
        nodes[1].expose::<dyn Store, _>(MapStore::default()),
    )
    .await;
    for (k, v) in [("one", 1), ("two", 2), ("three", 3)] {
        store.put(k.into(), v).await.unwrap();
    }
    // The sink lives on a; the store on b calls back into it.
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink: Remote<dyn Sink> = nodes[0].expose(Collect(Arc::clone(&got)));
    assert_eq!(sink.owner().as_str(), "rc-a");
    assert_eq!(store.dump(sink).await.unwrap(), 3);
    assert_eq!(
        *got.lock().unwrap(),
        [("one".into(), 1), ("three".into(), 3), ("two".into(), 2)]
    );
    assert!(nodes[0].remote_stats().calls_in >= 3);
    assert!(nodes[1].remote_stats().calls_out >= 3);
    shutdown(nodes).await;
}

/// Adds the values of `keys` in the store, moving to `to` halfway; records the sum under
/// `"sum"` and returns it.
#[migratable(name = "remote_macro::tally")]
async fn tally(store: Remote<dyn Store>, keys: Vec<String>, to: String) -> u64 {
    let mut total: u64 = 0;
    let half: usize = keys.len() / 2;
    let mut seen: usize = 0;
    for key in keys {
        if seen == half {
            tern::move_to(&to).await.expect("move");
        }
        seen += 1;
        let value: Option<u64> = store.get(key).await.expect("the call");
        total += value.unwrap_or(0);
    }
    store.put("sum".to_owned(), total).await.expect("the call");
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migratable_task_awaits_calls_on_a_remote_object() {
    let nodes = cluster(&["rt-a", "rt-b"]).await;
    let store = hand_over(
        &nodes[1],
        &nodes[0],
        "rt-refs",
        nodes[1].expose::<dyn Store, _>(MapStore::default()),
    )
    .await;
    let mut keys = Vec::new();
    for i in 0..6u64 {
        store.put(format!("k{i}"), i * 10).await.unwrap();
        keys.push(format!("k{i}"));
    }
    keys.push("absent".to_owned());
    // Starts on a, calls the store on b, moves to b (the reference travels in the task's
    // snapshot) and calls it there.
    let task = nodes[0].spawn(tally(store.clone(), keys, "rt-b".to_owned()));
    assert_eq!(task.join().await.unwrap(), 150);
    assert_eq!(store.get("sum".into()).await.unwrap(), Some(150));
    assert_eq!(
        nodes
            .iter()
            .map(|n| n.cluster_stats().moves_out)
            .sum::<u64>(),
        1
    );
    shutdown(nodes).await;
}

/// A running total that stays on the node that exposed it.
#[tern::remote]
pub trait Ledger {
    /// Adds `n`; returns the new total.
    async fn add(&self, n: u64) -> u64;
    /// Adds `n` after `ms` milliseconds; returns the new total.
    async fn slow_add(&self, n: u64, ms: u64) -> u64;
}

struct Book {
    total: std::sync::atomic::AtomicU64,
    dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Book {
    fn drop(&mut self) {
        self.dropped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tern::remote]
impl Ledger for Book {
    async fn add(&self, n: u64) -> u64 {
        self.total.fetch_add(n, std::sync::atomic::Ordering::SeqCst) + n
    }
    async fn slow_add(&self, n: u64, ms: u64) -> u64 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        self.add(n).await
    }
}

/// Adds what arrives on `input` to `book` (0 means: a slow add of 1), reporting each total on
/// `totals`; returns where it ended and the last total.
#[migratable(name = "remote_macro::bookkeeper")]
async fn bookkeeper(
    book: Remote<dyn Ledger>,
    input: Channel<u64>,
    totals: Channel<u64>,
) -> (String, u64) {
    let mut last: u64 = 0;
    while let Ok(v) = input.recv().await {
        let v: u64 = v;
        let total: u64 = if v == 0 {
            book.slow_add(1, 300).await.expect("slow add")
        } else {
            book.add(v).await.expect("add")
        };
        totals.send(total).await.expect("report");
        last = last.max(total);
    }
    let here: String = tern::current_node().expect("a node").id().to_string();
    (here, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_moves_away_keeps_calling_the_object_it_left_behind() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let nodes = cluster(&["dd-a", "dd-b", "dd-c"]).await;
    let dropped = std::sync::Arc::new(AtomicBool::new(false));
    let book: Remote<dyn Ledger> = nodes[0].expose(Book {
        total: AtomicU64::new(0),
        dropped: std::sync::Arc::clone(&dropped),
    });
    let input = tern_tests::cluster::name_homed_at(&nodes, "dd-in", &nodes[0]);
    let totals = tern_tests::cluster::name_homed_at(&nodes, "dd-totals", &nodes[0]);
    let feed = nodes[0].channel::<u64>(&input);
    let out = nodes[0].buffered_channel::<u64>(&totals, 8);
    let task = nodes[0].spawn(bookkeeper(
        book.clone(),
        nodes[0].channel(&input),
        nodes[0].buffered_channel(&totals, 8),
    ));
    feed.send(2).await.unwrap();
    assert_eq!(out.recv().await.unwrap(), 2);
    // A slow call is in flight when the move is asked for: the move waits for its reply (a
    // call is never withdrawn), and the call runs once.
    feed.send(0).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    task.move_to("dd-b").await.expect("move to b");
    assert_eq!(out.recv().await.unwrap(), 3);
    task.move_to("dd-c").await.expect("move to c");
    feed.send(5).await.unwrap();
    assert_eq!(out.recv().await.unwrap(), 8);
    feed.close();
    assert_eq!(task.join().await.unwrap(), ("dd-c".to_owned(), 8));
    assert_eq!(book.add(0).await.unwrap(), 8, "every call ran exactly once");
    assert_eq!(book.owner().as_str(), "dd-a");
    // The task's reference went with it (a → b → c) and was dropped with it; ours is the
    // last one.
    drop(book);
    let mut waited = 0;
    while !dropped.load(Ordering::SeqCst) && waited < 1000 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    assert!(
        dropped.load(Ordering::SeqCst),
        "the book outlived its last reference"
    );
    assert_eq!(nodes[0].remote_stats().exposed, 0);
    shutdown(nodes).await;
}

/// Prices, on one node.
#[tern::remote]
pub trait Catalog {
    /// The price of `item`, if listed.
    async fn price(&self, item: String) -> Option<u64>;
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PriceList(BTreeMap<String, u64>);

#[tern::remote]
impl Catalog for PriceList {
    async fn price(&self, item: String) -> Option<u64> {
        self.0.get(&item).copied()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_copies_a_fetchable_object_to_the_caller() {
    let nodes = cluster(&["fe-a", "fe-b"]).await;
    let list = PriceList(BTreeMap::from([
        ("bolt".to_owned(), 3),
        ("gear".to_owned(), 12),
    ]));
    let catalog = hand_over(
        &nodes[0],
        &nodes[1],
        "fe-refs",
        nodes[0].expose_fetchable::<dyn Catalog, _>(list.clone()),
    )
    .await;
    assert_eq!(catalog.price("gear".into()).await.unwrap(), Some(12));
    // The whole object, copied to b.
    let copy: PriceList = catalog.fetch().await.unwrap();
    assert_eq!(copy, list);
    // As another type: refused by the owner.
    let err = catalog.fetch::<Vec<u64>>().await.unwrap_err();
    assert_eq!(err.kind, tern::RemoteErrorKind::Mismatch, "{err}");
    // An object exposed with `expose` is only called, never copied.
    let store = hand_over(
        &nodes[0],
        &nodes[1],
        "fe-store",
        nodes[0].expose::<dyn Store, _>(MapStore::default()),
    )
    .await;
    let err = store.fetch::<u64>().await.unwrap_err();
    assert_eq!(err.kind, tern::RemoteErrorKind::UnknownMethod, "{err}");
    assert!(err.method.ends_with("::fetch"), "{err}");
    shutdown(nodes).await;
}
