//! The node: one member of a cluster (DStackless' "interpreter").
//!
//! A node owns an executor, a registry of named channels, and the limits it applies to
//! snapshots.
//!
//! The channel registry forgets unused names as described in [`crate::channel`] ("Lifetime"). A node that never listens is the embedded default: everything works in one
//! process with no network. Nodes of one process find each other by id (for
//! [`TaskHandle::move_to`]); the cluster (QUIC between processes) builds on the same ids.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{OnceLock, Weak};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::channel::{fnv1a, type_fingerprint, ChanCore, Channel, ChannelId, Message};
use crate::cluster::{Cluster, ClusterStats};
use crate::error::{NodeError, SnapshotError};
use crate::executor::{Executor, Schedule};
use crate::handle::TaskHandle;
use crate::snapshot::{self, Limits, Snapshot};
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::task::{FrameStack, Machine, Task, TaskId, TaskShared};
use tern_net::quic::{Mesh, MeshConfig, NodeEndpoint, QuicConfig};
use tern_net::tls::TlsConfig;

/// A node's id: unique in a cluster, and the name its certificate carries.
///
/// A lower-case DNS label: 1 to 63 characters from `a-z`, `0-9` and `-`, not starting or
/// ending with `-` (so it can be printed, put in a certificate and keyed on anywhere).
pub use tern_net::proto::NodeId;

/// Configures and starts a [`Node`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tern::Error> {
/// let node = tern::Node::builder("alpha").workers(2).start().await?;
/// assert_eq!(node.id().as_str(), "alpha");
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct NodeBuilder {
    id: String,
    workers: Option<usize>,
    limits: Limits,
    listen: Option<SocketAddr>,
    tls: Option<TlsConfig>,
    quic: QuicConfig,
    grace: Duration,
    max_tasks: Option<u64>,
    capture_locals: bool,
}

impl NodeBuilder {
    /// Keeps the state of each task's running frame as of its last resume, so that the
    /// [`TaskReport`](crate::TaskReport) of a task that panics shows the locals its innermost
    /// frame resumed with, not only those of the frames suspended below it (default: off).
    ///
    /// A frame's locals live on the stack while it runs and are unwound by its panic; this
    /// keeps their `Debug` text from the last resume instead, which costs a format of the
    /// frame's state on every resume: for debugging, not for production hot paths.
    pub fn capture_locals(mut self, on: bool) -> Self {
        self.capture_locals = on;
        self
    }

    /// The number of worker threads (default: the number of available cores).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n.max(1));
        self
    }

    /// The largest snapshot this node restores (default 16 MiB).
    pub fn max_snapshot_bytes(mut self, n: usize) -> Self {
        self.limits.max_bytes = n;
        self
    }

    /// The deepest frame stack this node restores (default 256).
    pub fn max_snapshot_frames(mut self, n: usize) -> Self {
        self.limits.max_frames = n;
        self
    }

    /// The most tasks this node runs before it refuses tasks moved to it
    /// ([`MoveError::OverCapacity`](crate::MoveError::OverCapacity)); spawning is not
    /// limited. Default: no limit.
    pub fn max_tasks(mut self, n: u64) -> Self {
        self.max_tasks = Some(n);
        self
    }

    /// Test hook: this node behaves as a build whose code for the task type `task_type`
    /// (its type key, e.g. `"my_crate::worker"`) differs from this one's, so that snapshots
    /// of it are refused with a fingerprint mismatch — version skew without a second build.
    #[doc(hidden)]
    pub fn simulate_version_skew(mut self, task_type: &str) -> Self {
        self.limits.skewed = fnv1a(task_type.as_bytes());
        self
    }

    /// Makes the node a cluster member listening for peers on `addr` (UDP, QUIC with mutual
    /// TLS; port 0 picks a free port, see [`Node::local_addr`]). Without it the node is
    /// embedded: everything works in this process, with no network.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// The TLS identity and cluster trust of a listening node, typically from PEM files
    /// ([`TlsConfig::from_pem_files`](crate::net::TlsConfig::from_pem_files)). Default: a
    /// certificate from a throwaway per-process development CA, so that only nodes of the
    /// same process can join each other. The certificate must name this node's id.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The failure detector's timing: keep-alive interval and idle timeout (default 2 s and
    /// 10 s). A peer silent for the idle timeout is disconnected.
    pub fn quic(mut self, quic: QuicConfig) -> Self {
        self.quic = quic;
        self
    }

    /// How long a disconnected peer may take to come back before what waits on it fails with
    /// [`ChannelError::NodeDown`](crate::ChannelError::NodeDown) (default 10 s). Within it, a
    /// reconnect loses and duplicates nothing.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Starts the node: its worker threads and timer, and, for a listening node, its
    /// endpoint.
    ///
    /// # Errors
    /// [`NodeError::InvalidId`] when the id is not a lower-case DNS label;
    /// [`NodeError::DuplicateId`] when a live node of this process has the same id;
    /// [`NodeError::Spawn`] when threads cannot be started; [`NodeError::Tls`] when the TLS
    /// configuration is unusable or names another node; [`NodeError::Listen`] when the
    /// address cannot be bound.
    pub async fn start(self) -> Result<Node, crate::Error> {
        let id = NodeId::new(&self.id).map_err(|e| NodeError::InvalidId {
            id: self.id.clone(),
            reason: e.to_string(),
        })?;
        let mesh = match self.listen {
            None => None,
            Some(addr) => Some(start_mesh(&id, addr, self.tls.clone(), &self.quic)?),
        };
        self.start_with(id, mesh)
    }

    fn start_with(
        self,
        id: NodeId,
        mesh: Option<(Mesh, tern_net::quic::Inbox)>,
    ) -> Result<Node, crate::Error> {
        crate::task::install_panic_hook();
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let mut dir = directory().lock();
        if dir.get(id.as_str()).is_some_and(|w| w.strong_count() > 0) {
            if let Some((mesh, _)) = &mesh {
                let mesh = mesh.clone();
                tokio::spawn(async move { mesh.shutdown().await });
            }
            return Err(NodeError::DuplicateId(id.to_string()).into());
        }
        let cell: Arc<OnceLock<Weak<NodeInner>>> = Arc::new(OnceLock::new());
        let on_start = {
            let cell = Arc::clone(&cell);
            Arc::new(move || CURRENT.with(|c| *c.borrow_mut() = Some(Arc::clone(&cell))))
        };
        let exec = Executor::start(Arc::from(id.as_str()), workers, on_start)
            .map_err(|e| NodeError::Spawn(e.to_string()))?;
        exec.set_capture_locals(self.capture_locals);
        let grace = self.grace;
        let mut inbox = None;
        let incarnation = mesh.as_ref().map_or_else(
            || tern_net::proto::Incarnation(random_u64()),
            |(m, _)| m.incarnation(),
        );
        let rt = tokio::runtime::Handle::current();
        let inner = std::sync::Arc::new_cyclic(|weak| {
            let cluster = mesh.map(|(mesh, rx)| {
                inbox = Some(rx);
                Cluster::new(
                    id.clone(),
                    mesh,
                    weak.clone(),
                    grace,
                    self.max_tasks,
                    tokio::runtime::Handle::current(),
                )
            });
            NodeInner {
                id_hash: fnv1a(id.as_str().as_bytes()),
                id: id.clone(),
                exec,
                channels: parking_lot::Mutex::new(Registry::default()),
                limits: self.limits,
                stopped: AtomicBool::new(false),
                cluster,
                objects: crate::remote::Objects::new(id.clone(), incarnation),
                rt,
            }
        });
        if let (Some(cluster), Some(inbox)) = (&inner.cluster, inbox) {
            crate::cluster::spawn_driver(cluster, inbox);
        }
        // The cell is set exactly once, here; `set` can only fail if it was already set.
        cell.set(Arc::downgrade(&inner)).ok();
        dir.insert(id.to_string(), Arc::downgrade(&inner));
        drop(dir);
        tracing::debug!(node = %id, workers, "node started");
        Ok(Node { inner })
    }
}

/// What [`Node::drain`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DrainReport {
    /// Tasks moved to other nodes.
    pub moved: usize,
    /// Tasks that ended before they could be moved.
    pub finished: usize,
    /// Tasks no peer took: they keep running here.
    pub failed: usize,
    /// Why, for each task that failed.
    pub errors: Vec<crate::MoveError>,
}

/// One member of a cluster: runs tasks, owns named channels, restores snapshots.
///
/// `Node` is a cheap handle (`Clone`). See the crate docs for an overview.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.id)
            .field("workers", &self.inner.exec.workers())
            .finish_non_exhaustive()
    }
}

pub(crate) struct NodeInner {
    pub(crate) id: NodeId,
    id_hash: u64,
    pub(crate) exec: Arc<Executor>,
    channels: parking_lot::Mutex<Registry>,
    pub(crate) limits: Limits,
    stopped: AtomicBool,
    /// The cluster, when the node listens.
    pub(crate) cluster: Option<std::sync::Arc<Cluster>>,
    /// Remote objects this node exposes or refers to.
    pub(crate) objects: crate::remote::Objects,
    /// The tokio runtime the node was started on (runs remote calls made by tasks).
    pub(crate) rt: tokio::runtime::Handle,
}

/// Binds a listening node's endpoint and starts its mesh.
fn start_mesh(
    id: &NodeId,
    addr: SocketAddr,
    tls: Option<TlsConfig>,
    quic: &QuicConfig,
) -> Result<(Mesh, tern_net::quic::Inbox), NodeError> {
    let tls = match tls {
        Some(tls) => tls,
        None => TlsConfig::dev(id).map_err(|e| NodeError::Tls(e.to_string()))?,
    };
    if tls.node_id() != id {
        return Err(NodeError::Tls(format!(
            "the certificate names node {:?}, not {:?}",
            tls.node_id().as_str(),
            id.as_str()
        )));
    }
    let endpoint = NodeEndpoint::bind(addr, &tls, quic).map_err(|e| NodeError::Listen {
        addr,
        reason: e.to_string(),
    })?;
    let incarnation = tern_net::proto::Incarnation(random_u64());
    Ok(Mesh::start(endpoint, incarnation, MeshConfig::default()))
}

/// A number that differs between processes and starts (for incarnations).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn directory() -> &'static parking_lot::Mutex<HashMap<String, Weak<NodeInner>>> {
    static DIR: OnceLock<parking_lot::Mutex<HashMap<String, Weak<NodeInner>>>> = OnceLock::new();
    DIR.get_or_init(Default::default)
}

/// The live node of this process with id `id`.
pub(crate) fn lookup(id: &str) -> Option<Node> {
    directory()
        .lock()
        .get(id)
        .and_then(Weak::upgrade)
        .map(|inner| Node { inner })
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<Arc<OnceLock<Weak<NodeInner>>>>> =
        const { std::cell::RefCell::new(None) };
    static OVERRIDE: std::cell::RefCell<Vec<Weak<NodeInner>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The node whose worker this thread is, or the node a restore is decoding for.
pub(crate) fn current() -> Option<Node> {
    let over = OVERRIDE.with(|o| o.borrow().last().and_then(Weak::upgrade));
    over.or_else(|| {
        CURRENT.with(|c| {
            c.borrow()
                .as_ref()
                .and_then(|cell| cell.get())
                .and_then(Weak::upgrade)
        })
    })
    .map(|inner| Node { inner })
}

/// Runs `f` with `node` as the current node of this thread.
pub(crate) fn with_current<R>(node: &Arc<NodeInner>, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.borrow_mut().pop());
        }
    }
    OVERRIDE.with(|o| o.borrow_mut().push(Arc::downgrade(node)));
    let _pop = Pop;
    f()
}

/// The named channels of a node.
struct Registry {
    map: HashMap<Arc<str>, Arc<ChanCore>>,
    /// Forget unused channels when the map reaches this size.
    collect_at: usize,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            map: HashMap::new(),
            collect_at: 64,
        }
    }
}

impl Registry {
    /// Forgets every channel that nothing else refers to and that holds nothing (see
    /// `crate::channel`, "Lifetime"). Nobody can obtain a new reference to a channel without this registry's
    /// lock, which the caller holds, so a count of one cannot grow during the pass.
    fn forget_unused(&mut self) {
        self.map
            .retain(|_, core| Arc::strong_count(core) > 1 || !core.is_idle());
        self.collect_at = (2 * self.map.len()).max(64);
    }
}

impl NodeInner {
    /// The channel core with this identity's name, created with this identity if new.
    pub(crate) fn core_for(this: &Arc<NodeInner>, id: ChannelId) -> Arc<ChanCore> {
        let mut reg = this.channels.lock();
        if let Some(core) = reg.map.get(&id.name) {
            return Arc::clone(core);
        }
        if reg.map.len() >= reg.collect_at {
            reg.forget_unused();
        }
        let name = Arc::clone(&id.name);
        let core = ChanCore::new(id, this.cluster.clone());
        reg.map.insert(name, Arc::clone(&core));
        core
    }

    /// The channel named `name`, if this node holds it.
    pub(crate) fn channel_named(&self, name: &str) -> Option<Arc<ChanCore>> {
        self.channels.lock().map.get(name).cloned()
    }

    /// Every channel this node holds.
    pub(crate) fn cores(&self) -> Vec<Arc<ChanCore>> {
        self.channels.lock().map.values().cloned().collect()
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(cluster) = &self.cluster {
            let mesh = cluster.mesh().clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { mesh.shutdown().await });
            }
        }
        drop(self.exec.stop());
        self.objects.shutdown();
        let cores: Vec<_> = self.channels.lock().map.values().cloned().collect();
        for core in cores {
            drop(core.drain_tasks());
        }
        let mut dir = directory().lock();
        if dir
            .get(self.id.as_str())
            .is_some_and(|w| w.strong_count() == 0 || std::ptr::eq(w.as_ptr(), self))
        {
            dir.remove(self.id.as_str());
        }
        tracing::debug!(node = %self.id, "node stopped");
    }
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Node {
    /// Starts configuring a node with this id.
    pub fn builder(id: impl Into<String>) -> NodeBuilder {
        NodeBuilder {
            id: id.into(),
            workers: None,
            limits: Limits::default(),
            listen: None,
            tls: None,
            quic: QuicConfig::default(),
            grace: Duration::from_secs(10),
            max_tasks: None,
            capture_locals: false,
        }
    }

    pub(crate) fn from_inner(inner: Arc<NodeInner>) -> Node {
        Node { inner }
    }

    /// Exposes `obj` to the cluster as the remote interface `T` (a `dyn Trait` made with
    /// `#[tern::remote]`), and returns the first reference to it.
    ///
    /// The object stays on this node; the reference travels anywhere and its calls run here.
    /// The object is dropped once no node refers to it any more (see [`remote`](mod@crate::remote)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// #[tern::remote]
    /// pub trait Greeter {
    ///     async fn greet(&self, name: String) -> String;
    /// }
    /// struct English;
    /// #[tern::remote]
    /// impl Greeter for English {
    ///     async fn greet(&self, name: String) -> String {
    ///         format!("hello, {name}")
    ///     }
    /// }
    /// let node = tern::Node::builder("doc-expose").start().await?;
    /// let greeter: tern::Remote<dyn Greeter> = node.expose(English);
    /// assert_eq!(greeter.greet("ada".into()).await?, "hello, ada");
    /// # node.shutdown().await; Ok(()) }
    /// ```
    pub fn expose<T, S>(&self, obj: S) -> crate::Remote<T>
    where
        T: ?Sized + crate::remote::Implements<S>,
    {
        let handle = self
            .inner
            .objects
            .expose::<T, S>(&self.inner, Arc::new(obj), None);
        crate::Remote::from_raw(crate::remote::RawRemote::from_handle(handle))
    }

    /// Like [`expose`](Self::expose), for an object that can also be copied:
    /// [`Remote::fetch`](crate::Remote::fetch) brings a copy of it (as of the call) to the
    /// caller, when a task wants the data itself rather than calls on it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// #[tern::remote]
    /// pub trait Settings {
    ///     async fn get(&self, key: String) -> Option<String>;
    /// }
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Table(Vec<(String, String)>);
    /// #[tern::remote]
    /// impl Settings for Table {
    ///     async fn get(&self, key: String) -> Option<String> {
    ///         self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    ///     }
    /// }
    /// let node = tern::Node::builder("doc-fetchable").start().await?;
    /// let table = Table(vec![("mode".into(), "fast".into())]);
    /// let settings: tern::Remote<dyn Settings> = node.expose_fetchable(table);
    /// assert_eq!(settings.get("mode".into()).await?.as_deref(), Some("fast"));
    /// let copy: Table = settings.fetch().await?;          // the whole object, copied
    /// assert_eq!(copy, Table(vec![("mode".into(), "fast".into())]));
    /// # node.shutdown().await; Ok(()) }
    /// ```
    pub fn expose_fetchable<T, S>(&self, obj: S) -> crate::Remote<T>
    where
        T: ?Sized + crate::remote::Implements<S>,
        S: serde::Serialize + Send + Sync + 'static,
    {
        let obj = Arc::new(obj);
        let copy = Arc::clone(&obj);
        let fetch = crate::remote::Fetch {
            ty: crate::channel::type_fingerprint::<S>(),
            type_name: std::any::type_name::<S>(),
            encode: Box::new(move || postcard::to_allocvec(&*copy)),
        };
        let handle = self
            .inner
            .objects
            .expose::<T, S>(&self.inner, obj, Some(fetch));
        crate::Remote::from_raw(crate::remote::RawRemote::from_handle(handle))
    }

    /// Exposes `items` as a lazy remote vector: the owner (this node) keeps them, immutable,
    /// and readers on any node fetch only what they read, in pages (see
    /// [`RemoteVec`](crate::RemoteVec)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let node = tern::Node::builder("doc-expose-vec").start().await?;
    /// let items: tern::RemoteVec<u64> = node.expose_vec((0..1_000).collect());
    /// assert_eq!(items.page(998, 10).await?, [998, 999]);
    /// # node.shutdown().await; Ok(()) }
    /// ```
    pub fn expose_vec<T>(&self, items: Vec<T>) -> crate::RemoteVec<T>
    where
        T: serde::Serialize + Send + Sync + 'static,
    {
        crate::RemoteVec::expose(self, items)
    }

    /// Exposes `map` as a lazy remote map: the owner (this node) keeps it, immutable, and
    /// readers on any node fetch only what they read, in pages in key order (see
    /// [`RemoteMap`](crate::RemoteMap)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::collections::BTreeMap;
    /// let node = tern::Node::builder("doc-expose-map").start().await?;
    /// let map: tern::RemoteMap<u32, String> =
    ///     node.expose_map(BTreeMap::from([(1, "one".to_owned()), (2, "two".to_owned())]));
    /// assert_eq!(map.get(&2).await?.as_deref(), Some("two"));
    /// # node.shutdown().await; Ok(()) }
    /// ```
    pub fn expose_map<K, V>(&self, map: std::collections::BTreeMap<K, V>) -> crate::RemoteMap<K, V>
    where
        K: serde::Serialize + serde::de::DeserializeOwned + Ord + Send + Sync + 'static,
        V: serde::Serialize + Send + Sync + 'static,
    {
        crate::RemoteMap::expose(self, map)
    }

    /// Counters of this node's remote objects and calls.
    pub fn remote_stats(&self) -> crate::remote::RemoteStats {
        self.inner.objects.stats_snapshot()
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.inner.id
    }

    /// The address peers reach this node at, if it listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.cluster.as_ref()?.mesh().local_addr().ok()
    }

    /// Connects to the node listening at `addr` and returns its id (as its certificate
    /// names it). There is one connection per pair of nodes, whoever dialled: connecting to a
    /// peer already connected returns at once.
    ///
    /// Channels are homed over the nodes this node is connected to (see [`crate::cluster`]):
    /// connect every pair of nodes that share channel names, before they share them.
    ///
    /// # Errors
    /// [`NodeError::NotListening`] on a node without [`listen`](NodeBuilder::listen);
    /// [`NodeError::Connect`] when the peer cannot be reached or either side refuses the
    /// other's certificate.
    pub async fn connect(&self, addr: SocketAddr) -> Result<NodeId, crate::Error> {
        let cluster = self.inner.cluster.as_ref().ok_or(NodeError::NotListening)?;
        let peer = cluster
            .mesh()
            .connect(addr)
            .await
            .map_err(|e| NodeError::Connect {
                addr,
                reason: e.to_string(),
            })?;
        // Wait until both ends count each other as members, so that channels used next are
        // homed alike on both: the peer's answer comes after its `Up` of this connection, and
        // reaches this node's driver after this node's `Up` of it.
        if !cluster.sync_with(&peer).await {
            return Err(NodeError::Connect {
                addr,
                reason: format!("{peer} did not answer after the connection came up"),
            }
            .into());
        }
        Ok(peer)
    }

    /// Drops the connection to `peer` the way a network failure would, for fault tests and
    /// operators: both sides see it lost and the mesh redials; operations in flight are sent
    /// again when it is back, losing and duplicating nothing. Returns whether a connection
    /// was up.
    pub fn disconnect(&self, peer: &NodeId) -> bool {
        self.inner
            .cluster
            .as_ref()
            .is_some_and(|c| c.mesh().disconnect(peer))
    }

    /// The peers this node has a connection to, sorted.
    pub fn peers(&self) -> Vec<NodeId> {
        self.inner
            .cluster
            .as_ref()
            .map(|c| c.peers())
            .unwrap_or_default()
    }

    /// The cluster members this node homes channels over: itself and its peers (including
    /// peers within their grace period after a disconnect), sorted.
    pub fn members(&self) -> Vec<NodeId> {
        match &self.inner.cluster {
            Some(c) => c.members(),
            None => vec![self.inner.id.clone()],
        }
    }

    /// The node that is the home of the channel `name` under this node's membership.
    pub fn home_of(&self, name: &str) -> NodeId {
        self.inner
            .cluster
            .as_ref()
            .and_then(|c| c.home_of(name))
            .unwrap_or_else(|| self.inner.id.clone())
    }

    /// Counters of the cluster traffic (all zero on a node that does not listen).
    pub fn cluster_stats(&self) -> ClusterStats {
        self.inner
            .cluster
            .as_ref()
            .map(|c| c.stats())
            .unwrap_or_default()
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.inner.exec.workers()
    }

    /// The number of named channels this node currently remembers (see
    /// [`channel`](mod@crate::channel), "Lifetime", for when a name is forgotten).
    pub fn channel_count(&self) -> usize {
        self.inner.channels.lock().map.len()
    }

    /// Spawns a migratable task and returns its handle.
    ///
    /// Spawning on a node that has shut down returns a handle whose `join` reports
    /// [`JoinError::Cancelled`](crate::JoinError::Cancelled).
    pub fn spawn<M: Machine>(&self, machine: M) -> TaskHandle<M::Output> {
        let shared = TaskShared::new(TaskId::next(self.inner.id_hash));
        let sched: Arc<dyn Schedule> = self.inner.exec.clone();
        let task = Task::new(
            Arc::clone(&shared),
            sched,
            FrameStack::new(Box::new(machine)),
        );
        if let Some(cluster) = &self.inner.cluster {
            cluster.moves.track(&shared, None);
        }
        self.inner.exec.schedule(task);
        TaskHandle::new(shared, self.clone())
    }

    /// The rendezvous channel named `name`: a send completes only when a receiver has taken
    /// the value. The same name on this node is the same channel.
    pub fn channel<T: Message>(&self, name: &str) -> Channel<T> {
        self.channel_with_capacity(name, 0)
    }

    /// The buffered (FIFO) channel named `name` with room for `capacity` values
    /// (`capacity == 0` is a rendezvous channel).
    pub fn buffered_channel<T: Message>(&self, name: &str, capacity: usize) -> Channel<T> {
        self.channel_with_capacity(name, capacity)
    }

    pub(crate) fn channel_with_capacity<T: Message>(&self, name: &str, cap: usize) -> Channel<T> {
        let id = ChannelId {
            name: name.into(),
            ty: type_fingerprint::<T>(),
            cap,
        };
        Channel::bind(NodeInner::core_for(&self.inner, id), cap)
    }

    /// Restores a task from a snapshot on this node and starts it where it was suspended.
    ///
    /// Channel handles in the task's state and its pending request bind to this node's
    /// channels of the same names.
    ///
    /// # Errors
    /// Every [`SnapshotError`] of the decoding checks (see [`crate::snapshot`]), and
    /// [`SnapshotError::OutputType`] when `O` is not the task's output type.
    pub fn restore<O: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        snapshot: &Snapshot,
    ) -> Result<TaskHandle<O>, SnapshotError> {
        let decoded = snapshot::decode(snapshot.as_bytes(), &self.inner, self.inner.limits)?;
        if decoded.header.output_type != snapshot::output_fingerprint::<O>() {
            return Err(SnapshotError::OutputType(decoded.header.task_type));
        }
        let shared = TaskShared::new(decoded.header.task);
        if let Some(cluster) = &self.inner.cluster {
            cluster.moves.track(&shared, None);
        }
        self.install(Arc::clone(&shared), decoded, 0);
        Ok(TaskHandle::new(shared, self.clone()))
    }

    /// Installs a decoded task under `shared` and resubmits its pending request.
    pub(crate) fn install(&self, shared: Arc<TaskShared>, d: snapshot::Decoded, epoch_bump: u64) {
        let epoch = d.header.epoch + epoch_bump;
        self.install_at(shared, d, epoch);
    }

    /// Installs a decoded task under `shared` with `epoch` and resubmits its pending request.
    pub(crate) fn install_at(&self, shared: Arc<TaskShared>, d: snapshot::Decoded, epoch: u64) {
        let sched: Arc<dyn Schedule> = self.inner.exec.clone();
        let mut task = Task::new(shared, sched, FrameStack::from_vec(d.frames));
        task.set_wait(d.wait);
        task.epoch = epoch;
        task.restored_location = d.location.map(Box::new);
        self.resubmit(task);
    }

    /// Moves every task running on this node to the other members, spreading them evenly,
    /// and refuses tasks moved here from now on: before a node shuts down for a rolling
    /// restart, so that no work is lost. Tasks that end meanwhile are not moved.
    ///
    /// Returns what happened to each task. Joins keep working from the handles (on the
    /// tasks' home nodes); a task homed on this node reports its outcome here, so keep the
    /// node up until those joins are done, or spawn long-lived work elsewhere.
    ///
    /// # Errors
    /// [`NodeError::NotListening`] on a node that is not a cluster member.
    pub async fn drain(&self) -> Result<DrainReport, crate::Error> {
        let cluster = self.inner.cluster.as_ref().ok_or(NodeError::NotListening)?;
        cluster.moves.set_draining();
        let targets: Vec<NodeId> = cluster.peers();
        let mut report = DrainReport::default();
        if targets.is_empty() {
            report.failed = cluster.moves.running().len();
            return Ok(report);
        }
        let tasks = cluster.moves.running();
        tracing::info!(node = %self.id(), tasks = tasks.len(), to = ?targets, "draining");
        // A bounded number of moves in flight at once, round robin over the peers.
        let mut pending = tokio::task::JoinSet::new();
        let mut next = 0usize;
        let mut results = Vec::new();
        for (i, shared) in tasks.into_iter().enumerate() {
            while pending.len() >= 64 {
                if let Some(r) = pending.join_next().await {
                    results.push(r);
                }
            }
            let cluster = std::sync::Arc::clone(cluster);
            let node = self.clone();
            let start = next;
            next = next.wrapping_add(1);
            let targets = targets.clone();
            pending.spawn(async move {
                // Try each peer once, starting with this task's turn.
                let mut last = None;
                for k in 0..targets.len() {
                    let target = &targets[(start + k) % targets.len()];
                    match crate::cluster::moves::move_task(&cluster, &node, &shared, target).await {
                        Ok(()) => return (i, Ok(())),
                        Err(e @ crate::MoveError::Refused(SnapshotError::Finished)) => {
                            return (i, Err(e))
                        }
                        Err(e) => last = Some(e),
                    }
                }
                (i, Err(last.unwrap_or(crate::MoveError::NotFound)))
            });
        }
        while let Some(r) = pending.join_next().await {
            results.push(r);
        }
        for r in results {
            match r {
                Ok((_, Ok(()))) => report.moved += 1,
                Ok((_, Err(crate::MoveError::Refused(SnapshotError::Finished)))) => {
                    report.finished += 1
                }
                Ok((_, Err(e))) => {
                    report.failed += 1;
                    report.errors.push(e);
                }
                Err(_) => report.failed += 1,
            }
        }
        tracing::info!(node = %self.id(), moved = report.moved, finished = report.finished, failed = report.failed, "drained");
        Ok(report)
    }

    /// Makes a task runnable again from where it stands (see `Executor::resubmit`).
    pub(crate) fn resubmit(&self, task: Box<Task>) {
        self.inner.exec.resubmit(task);
    }

    /// Stops the node: its workers finish the step they are in, then every task still on the
    /// node is dropped (joiners see [`JoinError::Cancelled`](crate::JoinError::Cancelled)) and
    /// waiting external futures see [`ChannelError::Closed`](crate::ChannelError::Closed).
    pub async fn shutdown(&self) {
        if let Some(cluster) = &self.inner.cluster {
            cluster.mesh().shutdown().await;
        }
        self.inner.stop();
    }
}
