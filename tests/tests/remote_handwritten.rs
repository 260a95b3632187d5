//! A remote interface written by hand, exactly as `#[tern::remote]` expands one: the
//! contract between the macro and the runtime, checked against real nodes over QUIC.

#![allow(missing_docs)] // the items mimic generated code

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tern::remote::{BoxFuture, Call, Dispatched, Implements, Interface, RawRemote};
use tern::{Remote, RemoteErrorKind};
use tern_tests::cluster::{cluster, cluster_with, shutdown};

// ---- what the user writes, after expansion ---------------------------------------------------

/// A key-value store (source: `async fn get(&self, key: String) -> Option<u64>;` and
/// `async fn put(&self, key: String, value: u64) -> Option<u64>;`).
pub trait Store: Send + Sync + 'static {
    fn get<'tern>(&'tern self, key: String) -> BoxFuture<'tern, Option<u64>>;
    fn put<'tern>(&'tern self, key: String, value: u64) -> BoxFuture<'tern, Option<u64>>;
}

/// The proxy `Remote<dyn Store>` dereferences to.
#[derive(Clone)]
#[repr(transparent)]
pub struct StoreProxy {
    raw: RawRemote,
}

impl StoreProxy {
    pub fn get(&self, key: String) -> Call<Option<u64>> {
        self.raw.call(0, &(key,))
    }
    pub fn put(&self, key: String, value: u64) -> Call<Option<u64>> {
        self.raw.call(1, &(key, value))
    }
    /// Not generated: a call of a method number the interface does not have.
    pub fn no_such_method(&self) -> Call<()> {
        self.raw.call(9, &())
    }
    /// Not generated: `put` with arguments of the wrong types.
    pub fn put_garbage(&self) -> Call<Option<u64>> {
        self.raw.call(1, &(u8::MAX,))
    }
}

/// Another build's `Store`: the same name, another definition (version skew).
pub trait StoreV2: Send + Sync + 'static {}

impl Interface for dyn StoreV2 {
    const NAME: &'static str = <dyn Store as Interface>::NAME;
    const FINGERPRINT: u64 = 0x5707_e002;
    const METHODS: &'static [&'static str] = &["get", "put"];
    type Proxy = StoreProxy;

    fn proxy(raw: RawRemote) -> StoreProxy {
        StoreProxy { raw }
    }

    fn raw(proxy: &StoreProxy) -> &RawRemote {
        &proxy.raw
    }

    fn dispatch(_this: Arc<Self>, method: u16, _args: Vec<u8>) -> Dispatched {
        Box::pin(async move { Err(tern::remote::__private::unknown_method("StoreV2", method)) })
    }
}

impl Interface for dyn Store {
    const NAME: &'static str = concat!(module_path!(), "::Store");
    const FINGERPRINT: u64 = 0x5707_e001;
    const METHODS: &'static [&'static str] = &["get", "put"];
    type Proxy = StoreProxy;

    fn proxy(raw: RawRemote) -> StoreProxy {
        StoreProxy { raw }
    }

    fn raw(proxy: &StoreProxy) -> &RawRemote {
        &proxy.raw
    }

    fn dispatch(this: Arc<Self>, method: u16, args: Vec<u8>) -> Dispatched {
        Box::pin(async move {
            use tern::remote::__private as p;
            match method {
                0 => {
                    let (key,): (String,) = p::decode_args(&args, "Store::get")?;
                    p::encode_result(&this.get(key).await, "Store::get")
                }
                1 => {
                    let (key, value): (String, u64) = p::decode_args(&args, "Store::put")?;
                    p::encode_result(&this.put(key, value).await, "Store::put")
                }
                _ => Err(p::unknown_method(<Self as Interface>::NAME, method)),
            }
        })
    }
}

impl<S: Store> Implements<S> for dyn Store {
    fn wrap(obj: Arc<S>) -> Arc<dyn Store> {
        obj
    }
}

// ---- an implementation ------------------------------------------------------------------------

#[derive(Default)]
struct MapStore {
    map: std::sync::Mutex<HashMap<String, u64>>,
    /// Raised when the store is dropped.
    dropped: Arc<AtomicBool>,
}

impl Drop for MapStore {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl Store for MapStore {
    fn get<'tern>(&'tern self, key: String) -> BoxFuture<'tern, Option<u64>> {
        Box::pin(async move {
            if key == "boom" {
                panic!("the store was asked for boom");
            }
            self.map.lock().unwrap().get(&key).copied()
        })
    }
    fn put<'tern>(&'tern self, key: String, value: u64) -> BoxFuture<'tern, Option<u64>> {
        Box::pin(async move { self.map.lock().unwrap().insert(key, value) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_interface_is_called_across_nodes() {
    let nodes = cluster(&["hw-a", "hw-b"]).await;
    let store: Remote<dyn Store> = nodes[0].expose(MapStore::default());
    assert_eq!(store.put("x".into(), 1).await.unwrap(), None);

    let refs = nodes[0].buffered_channel::<Remote<dyn Store>>("hw-refs", 1);
    refs.send(store.clone()).await.unwrap();
    let there = nodes[1]
        .buffered_channel::<Remote<dyn Store>>("hw-refs", 1)
        .recv()
        .await
        .unwrap();
    assert_eq!(there.owner().as_str(), "hw-a");
    assert_eq!(there.get("x".into()).await.unwrap(), Some(1));
    assert_eq!(there.put("x".into(), 2).await.unwrap(), Some(1));
    assert_eq!(store.get("x".into()).await.unwrap(), Some(2));

    let err = there.get("boom".into()).await.unwrap_err();
    assert_eq!(err.kind, RemoteErrorKind::Panicked, "{err}");
    assert_eq!(err.node, "hw-a");
    assert!(err.method.ends_with("::Store::get"), "{}", err.method);
    let report = err.report.expect("a report");
    assert!(report.panic.unwrap().message.contains("asked for boom"));
    // The owner kept running.
    assert_eq!(there.get("x".into()).await.unwrap(), Some(2));
    // A reference held across an `.await` in a spawned (`Send`) future.
    let spawned = tokio::spawn(async move {
        let held: Remote<dyn Store> = there.clone();
        held.put("y".into(), 3).await.unwrap();
        held.get("y".into()).await.unwrap()
    });
    assert_eq!(spawned.await.unwrap(), Some(3));
    shutdown(nodes).await;
}

/// Waits up to 10 s for `flag`; returns whether it was raised.
async fn raised(flag: &AtomicBool) -> bool {
    for _ in 0..1000 {
        if flag.load(Ordering::SeqCst) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Sends `r` from `from` to `to` through a channel; returns the copy `to` received.
async fn pass(
    from: &tern::Node,
    to: &tern::Node,
    name: &str,
    r: &Remote<dyn Store>,
) -> Remote<dyn Store> {
    from.buffered_channel::<Remote<dyn Store>>(name, 4)
        .send(r.clone())
        .await
        .unwrap();
    to.buffered_channel::<Remote<dyn Store>>(name, 4)
        .recv()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_is_dropped_after_its_last_reference_and_not_before() {
    let nodes = cluster(&["lt-a", "lt-b", "lt-c"]).await;
    let dropped = Arc::new(AtomicBool::new(false));
    let store: Remote<dyn Store> = nodes[0].expose(MapStore {
        map: Default::default(),
        dropped: Arc::clone(&dropped),
    });
    store.put("k".into(), 7).await.unwrap();
    // a → b → c, and a lets go: b and c keep it alive.
    let on_b = pass(&nodes[0], &nodes[1], "lt-1", &store).await;
    let on_c = pass(&nodes[1], &nodes[2], "lt-2", &on_b).await;
    drop(store);
    assert_eq!(on_b.get("k".into()).await.unwrap(), Some(7));
    drop(on_b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!dropped.load(Ordering::SeqCst), "dropped while c holds it");
    assert_eq!(on_c.get("k".into()).await.unwrap(), Some(7));
    assert_eq!(nodes[0].remote_stats().exposed, 1);
    // A clone and the original are one handle: dropping both releases it.
    let again = on_c.clone();
    drop(on_c);
    assert_eq!(again.get("k".into()).await.unwrap(), Some(7));
    drop(again);
    assert!(
        raised(&dropped).await,
        "not dropped after the last reference went"
    );
    assert_eq!(nodes[0].remote_stats().exposed, 0);
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_references_are_released() {
    let mut nodes = cluster_with(&["ld-a", "ld-b"], |b| b.grace(Duration::from_millis(300))).await;
    let dropped = Arc::new(AtomicBool::new(false));
    let store: Remote<dyn Store> = nodes[0].expose(MapStore {
        map: Default::default(),
        dropped: Arc::clone(&dropped),
    });
    let on_b = pass(&nodes[0], &nodes[1], "ld-1", &store).await;
    drop(store);
    assert_eq!(on_b.get("k".into()).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!dropped.load(Ordering::SeqCst), "dropped while b holds it");
    // b stops without letting go (its handle outlives it).
    let b = nodes.pop().unwrap();
    b.shutdown().await;
    assert!(
        raised(&dropped).await,
        "b's reference kept the object after b went down"
    );
    // The handle on the stopped node fails with a typed error.
    let err = on_b.get("k".into()).await.unwrap_err();
    assert!(
        matches!(
            err.kind,
            RemoteErrorKind::ShuttingDown | RemoteErrorKind::NodeDown
        ),
        "{err}"
    );
    shutdown(nodes).await;
}

/// Decodes `bytes` (a `Remote<dyn Store>`) as another build's `StoreV2` on the task's node,
/// and calls it.
#[tern::migratable]
async fn call_as_v2(bytes: Vec<u8>) -> Result<(), RemoteErrorKind> {
    let v2: Remote<dyn StoreV2> = postcard::from_bytes(&bytes).expect("decodes");
    let got: Result<Option<u64>, tern::RemoteError> = v2.get("k".into()).await;
    got.map(|_| ()).map_err(|e| e.kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_calls_get_typed_errors_and_the_owner_keeps_serving() {
    let nodes = cluster(&["bc-a", "bc-b"]).await;
    let store: Remote<dyn Store> = nodes[0].expose(MapStore::default());
    let there = pass(&nodes[0], &nodes[1], "bc-1", &store).await;
    let err = there.no_such_method().await.unwrap_err();
    assert_eq!(err.kind, RemoteErrorKind::UnknownMethod, "{err}");
    let err = there.put_garbage().await.unwrap_err();
    assert_eq!(err.kind, RemoteErrorKind::BadArgs, "{err}");
    // A reference decoded by a build whose `Store` differs: refused by the owner.
    let bytes = postcard::to_allocvec(&store).unwrap();
    let skewed = nodes[1].spawn(call_as_v2(bytes));
    assert_eq!(skewed.join().await.unwrap(), Err(RemoteErrorKind::Mismatch));
    // Through all of it the owner kept serving.
    assert_eq!(there.put("k".into(), 1).await.unwrap(), None);
    assert_eq!(store.get("k".into()).await.unwrap(), Some(1));
    shutdown(nodes).await;
}
