//! Lazy remote collections: [`RemoteVec`] and [`RemoteMap`], a vector and an ordered map that
//! stay on the node that exposed them and are read from anywhere, a little at a time.
//!
//! [`Node::expose_vec`](crate::Node::expose_vec) and
//! [`Node::expose_map`](crate::Node::expose_map) publish a collection and return a small
//! reference: `Clone`, `Serialize` and `Deserialize` like a [`Remote`], so it travels in channel
//! messages and task snapshots. **Nothing is fetched before it is used**: making, sending or
//! receiving the reference moves no item. Each read is one call to the owner that brings back
//! only what it asked for:
//!
//! | method | brings back |
//! |---|---|
//! | `len()` | the number of items (one integer) |
//! | `get(i)` / `get(&k)` | one item, or `None` |
//! | `page(start, count)` / `page_after(after, count)` | up to `count` items, in order |
//! | `fetch()` | a copy of the whole collection (the seed's `fetch()`) |
//!
//! Each returns a [`Call`], so it is awaited in ordinary async code and is a suspension point
//! inside a `#[migratable]` function, like any remote method. Iteration in async code —
//! [`RemoteVec::iter`], [`RemoteMap::iter`] — streams pages: it fetches a page (1,024 items by
//! default, [`DEFAULT_PAGE`]) when its buffer runs out, and nothing before the first
//! `next()`. It does not prefetch: a page is asked for when the previous one is used up, so
//! reading `n` items makes exactly `ceil(n / page)` calls. (Inside a `#[migratable]` function,
//! call `page` in a loop: an iterator's `next` is not an effect.)
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = tern::Node::builder("doc-collections").start().await?;
//! let squares: tern::RemoteVec<u64> = node.expose_vec((0..10_000u64).map(|i| i * i).collect());
//! assert_eq!(squares.len().await?, 10_000);
//! assert_eq!(squares.get(12).await?, Some(144));
//! assert_eq!(squares.page(3, 2).await?, vec![9, 16]);
//! let mut it = squares.iter_with_page(100);
//! let mut sum = 0;
//! while let Some(square) = it.next().await {
//!     sum += square?;
//! }
//! assert_eq!(sum, (0..10_000u64).map(|i| i * i).sum::<u64>());
//! # node.shutdown().await; Ok(()) }
//! ```
//!
//! # Snapshots
//!
//! An exposed collection is **immutable**: the owner keeps the `Vec` or `BTreeMap` it was
//! given, as it was, and frees it when no reference is left (see the [lifetime
//! rules](super#lifetime)). That is what makes reading it in pieces correct: two pages read at
//! different times are pages of the same collection, an index or a cursor means the same thing
//! in every call, and an iterator neither skips nor repeats an item. To publish a new version,
//! expose it again and hand out the new reference.
//!
//! # Types
//!
//! Items are copied as the copy rules of remote calls say: encoded with postcard on the owner,
//! decoded by the reader. A reference carries the type it was made with (a fingerprint of
//! `RemoteVec<T>` or `RemoteMap<K, V>`), and decoding it as another type — a `RemoteVec<u64>`
//! as a `RemoteVec<String>` — is a decode error, not a misreading of the items.
//!
//! # Limits
//!
//! A page holds at most [`MAX_PAGE`] items: a larger count is cut to it (by the reader and by
//! the owner), and a page shorter than the count asked for means the collection ends there.
//! Besides, a reply crosses the network in one frame: a page or a `fetch()` whose encoding
//! exceeds the frame limit (16 MiB by default, less room for the message) fails with
//! [`RemoteErrorKind::BadResult`](super::RemoteErrorKind::BadResult) — read a large
//! collection in pages rather than with `fetch()`.
//!
//! # How it works
//!
//! Both types are one internal, non-generic remote interface, `Paged`, whose methods take and
//! return bytes: the reader encodes its typed arguments (an index or a key, a cursor and a
//! count), the owner's typed source (`VecSource<T>` or `MapSource<K, V>`) decodes them as its
//! own types and encodes the items, and the reader decodes the reply as the `Call`'s type. The
//! interface is written by hand, as `#[tern::remote]` would write it (the runtime cannot use
//! its own macro).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Bound;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::__private::{decode_args, encode_result, unknown_method};
use super::{Call, Dispatched, Fault, Implements, Interface, RawRemote, Remote, RemoteError};
use crate::channel::type_fingerprint;
use crate::NodeId;

/// The most items one page holds; a larger count is cut to it.
pub const MAX_PAGE: u64 = 65_536;

/// The page size of [`RemoteVec::iter`] and [`RemoteMap::iter`].
pub const DEFAULT_PAGE: u64 = 1_024;

// ---- the interface ---------------------------------------------------------------------------

/// Method numbers of [`Paged`].
const LEN: u16 = 0;
const GET: u16 = 1;
const PAGE: u16 = 2;
const FETCH: u16 = 3;

/// A collection read in pieces, with byte-level methods: the arguments arrive encoded as the
/// reader's tuple, the results leave encoded as the reader's `Call` type.
pub(crate) trait Paged: Send + Sync + 'static {
    /// The number of items.
    fn count(&self) -> u64;
    /// `args` is a 1-tuple of a key (an index, or a map's key); returns `Option<item>`.
    fn get(&self, args: &[u8]) -> Result<Vec<u8>, Fault>;
    /// `args` is `(cursor, count)`; returns the sequence of at most `min(count, MAX_PAGE)` items
    /// from the cursor on, shorter only at the end of the collection.
    fn page(&self, args: &[u8]) -> Result<Vec<u8>, Fault>;
    /// The whole collection.
    fn fetch(&self) -> Result<Vec<u8>, Fault>;
}

/// What `Remote<dyn Paged>` dereferences to (the collection types call through the untyped
/// reference instead).
#[derive(Clone)]
#[repr(transparent)]
pub(crate) struct PagedProxy {
    raw: RawRemote,
}

impl Interface for dyn Paged {
    const NAME: &'static str = "tern::remote::Paged";
    // Changes whenever the methods or their encodings do.
    const FINGERPRINT: u64 = 0x7061_6765_6400_0001;
    const METHODS: &'static [&'static str] = &["len", "get", "page", "fetch"];
    type Proxy = PagedProxy;

    fn proxy(raw: RawRemote) -> PagedProxy {
        PagedProxy { raw }
    }

    fn raw(proxy: &PagedProxy) -> &RawRemote {
        &proxy.raw
    }

    fn dispatch(this: Arc<Self>, method: u16, args: Vec<u8>) -> Dispatched {
        Box::pin(async move {
            match method {
                LEN => encode_result(&this.count(), "Paged::len"),
                GET => this.get(&args),
                PAGE => this.page(&args),
                FETCH => this.fetch(),
                _ => Err(unknown_method(<Self as Interface>::NAME, method)),
            }
        })
    }
}

impl<S: Paged> Implements<S> for dyn Paged {
    fn wrap(obj: Arc<S>) -> Arc<dyn Paged> {
        obj
    }
}

/// The items of a `Vec`, on the owner.
struct VecSource<T> {
    items: Vec<T>,
}

impl<T: Serialize + Send + Sync + 'static> Paged for VecSource<T> {
    fn count(&self) -> u64 {
        self.items.len() as u64
    }

    fn get(&self, args: &[u8]) -> Result<Vec<u8>, Fault> {
        let (index,): (u64,) = decode_args(args, "Paged::get")?;
        let item = usize::try_from(index).ok().and_then(|i| self.items.get(i));
        encode_result(&item, "Paged::get")
    }

    fn page(&self, args: &[u8]) -> Result<Vec<u8>, Fault> {
        let (start, count): (u64, u64) = decode_args(args, "Paged::page")?;
        let len = self.items.len();
        let start = usize::try_from(start).map_or(len, |s| s.min(len));
        let count = usize::try_from(count.min(MAX_PAGE)).unwrap_or(0);
        let end = start + count.min(len - start);
        encode_result(&&self.items[start..end], "Paged::page")
    }

    fn fetch(&self) -> Result<Vec<u8>, Fault> {
        encode_result(&self.items, "Paged::fetch")
    }
}

/// The entries of a `BTreeMap`, on the owner.
struct MapSource<K, V> {
    map: BTreeMap<K, V>,
}

impl<K, V> Paged for MapSource<K, V>
where
    K: Serialize + DeserializeOwned + Ord + Send + Sync + 'static,
    V: Serialize + Send + Sync + 'static,
{
    fn count(&self) -> u64 {
        self.map.len() as u64
    }

    fn get(&self, args: &[u8]) -> Result<Vec<u8>, Fault> {
        let (key,): (K,) = decode_args(args, "Paged::get")?;
        encode_result(&self.map.get(&key), "Paged::get")
    }

    fn page(&self, args: &[u8]) -> Result<Vec<u8>, Fault> {
        let (after, count): (Option<K>, u64) = decode_args(args, "Paged::page")?;
        let count = usize::try_from(count.min(MAX_PAGE)).unwrap_or(0);
        let from = match &after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        let page: Vec<(&K, &V)> = self
            .map
            .range((from, Bound::Unbounded))
            .take(count)
            .collect();
        encode_result(&page, "Paged::page")
    }

    fn fetch(&self) -> Result<Vec<u8>, Fault> {
        encode_result(&self.map, "Paged::fetch")
    }
}

// ---- the reference on the wire -----------------------------------------------------------------

/// How a collection reference is written: the reference, then the fingerprint of the client
/// type (checked after the reference is adopted, so a refused one is released, not leaked).
#[derive(Serialize)]
struct WireOut<'a> {
    paged: &'a Remote<dyn Paged>,
    ty: u64,
}

#[derive(Deserialize)]
struct WireIn {
    paged: Remote<dyn Paged>,
    ty: u64,
}

fn decode_ref<'de, D: Deserializer<'de>, C>(d: D) -> Result<Remote<dyn Paged>, D::Error> {
    let wire = WireIn::deserialize(d)?;
    if wire.ty != type_fingerprint::<C>() {
        return Err(serde::de::Error::custom(format_args!(
            "a remote collection of another type was decoded as `{}`",
            std::any::type_name::<C>()
        )));
    }
    Ok(wire.paged)
}

// ---- RemoteVec ---------------------------------------------------------------------------------

/// A vector that stays on the node that exposed it ([`Node::expose_vec`](crate::Node::expose_vec)),
/// read from any node in calls that fetch only what they return.
///
/// The vector is an immutable snapshot kept by its owner; see the [module
/// documentation](self) for the paging rules and limits.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = tern::Node::builder("doc-remote-vec").start().await?;
/// let words = node.expose_vec(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]);
/// assert_eq!(words.len().await?, 3);
/// assert_eq!(words.get(1).await?.as_deref(), Some("b"));
/// assert_eq!(words.get(3).await?, None);
/// assert_eq!(words.page(1, 10).await?, ["b", "c"]);
/// assert_eq!(words.fetch().await?, ["a", "b", "c"]);
/// # node.shutdown().await; Ok(()) }
/// ```
pub struct RemoteVec<T> {
    paged: Remote<dyn Paged>,
    _t: PhantomData<fn() -> T>,
}

impl<T> RemoteVec<T> {
    /// Exposes `items` on `node`.
    pub(crate) fn expose(node: &crate::Node, items: Vec<T>) -> RemoteVec<T>
    where
        T: Serialize + Send + Sync + 'static,
    {
        RemoteVec {
            paged: node.expose::<dyn Paged, _>(VecSource { items }),
            _t: PhantomData,
        }
    }

    /// The node that holds the items.
    pub fn owner(&self) -> &NodeId {
        self.paged.owner()
    }
}

impl<T: DeserializeOwned + Send + 'static> RemoteVec<T> {
    /// The number of items.
    pub fn len(&self) -> Call<u64> {
        self.paged.raw().call(LEN, &())
    }

    /// The item at `index`, or `None` past the end.
    pub fn get(&self, index: u64) -> Call<Option<T>> {
        self.paged.raw().call(GET, &(index,))
    }

    /// The items from `start` on, at most `count` of them (and at most [`MAX_PAGE`]): fewer
    /// only at the end, none from `start` past the end.
    pub fn page(&self, start: u64, count: u64) -> Call<Vec<T>> {
        self.paged.raw().call(PAGE, &(start, count.min(MAX_PAGE)))
    }

    /// A copy of the whole vector, in one reply (which must fit a frame: see the [module
    /// documentation](self#limits)).
    pub fn fetch(&self) -> Call<Vec<T>> {
        self.paged.raw().call(FETCH, &())
    }

    /// Iterates over the items, fetching pages of [`DEFAULT_PAGE`] items as they are needed.
    pub fn iter(&self) -> RemoteVecIter<T> {
        self.iter_with_page(DEFAULT_PAGE)
    }

    /// Iterates over the items, fetching pages of `page` items (1 to [`MAX_PAGE`]) as they are
    /// needed.
    pub fn iter_with_page(&self, page: u64) -> RemoteVecIter<T> {
        RemoteVecIter {
            items: self.clone(),
            next: 0,
            page: page.clamp(1, MAX_PAGE),
            buf: Vec::new().into_iter(),
            done: false,
        }
    }
}

impl<T> Clone for RemoteVec<T> {
    fn clone(&self) -> Self {
        RemoteVec {
            paged: self.paged.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for RemoteVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RemoteVec<{}>({:?})",
            std::any::type_name::<T>(),
            self.paged
        )
    }
}

impl<T> Serialize for RemoteVec<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireOut {
            paged: &self.paged,
            ty: type_fingerprint::<Self>(),
        }
        .serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for RemoteVec<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RemoteVec {
            paged: decode_ref::<D, Self>(d)?,
            _t: PhantomData,
        })
    }
}

/// Iterates over a [`RemoteVec`], one page at a time ([`RemoteVec::iter`]).
///
/// A page is fetched when the items of the previous one are used up, never before. A failed
/// fetch is returned as `Some(Err(…))` and ends the iteration; [`position`](Self::position)
/// says where to resume with [`RemoteVec::page`].
pub struct RemoteVecIter<T> {
    items: RemoteVec<T>,
    /// The index of the first item of the next page.
    next: u64,
    page: u64,
    buf: std::vec::IntoIter<T>,
    done: bool,
}

impl<T: DeserializeOwned + Send + 'static> RemoteVecIter<T> {
    /// The next item, fetching a page first when none is buffered; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<T, RemoteError>> {
        if let Some(item) = self.buf.next() {
            return Some(Ok(item));
        }
        if self.done {
            return None;
        }
        match self.items.page(self.next, self.page).await {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(page) => {
                let got = page.len() as u64;
                self.next += got;
                self.done = got < self.page;
                self.buf = page.into_iter();
                self.buf.next().map(Ok)
            }
        }
    }

    /// The index of the item `next` returns next.
    pub fn position(&self) -> u64 {
        self.next - self.buf.len() as u64
    }
}

impl<T> fmt::Debug for RemoteVecIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteVecIter")
            .field("items", &self.items)
            .field("next_page_at", &self.next)
            .field("page", &self.page)
            .field("buffered", &self.buf.len())
            .field("done", &self.done)
            .finish()
    }
}

// ---- RemoteMap ---------------------------------------------------------------------------------

/// An ordered map that stays on the node that exposed it
/// ([`Node::expose_map`](crate::Node::expose_map)), read from any node in calls that fetch
/// only what they return. Pages and iteration go in key order.
///
/// The map is an immutable snapshot kept by its owner; see the [module
/// documentation](self) for the paging rules and limits.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::collections::BTreeMap;
/// let node = tern::Node::builder("doc-remote-map").start().await?;
/// let ages: BTreeMap<String, u32> = [("ada", 36), ("alan", 41), ("grace", 85)]
///     .into_iter()
///     .map(|(k, v)| (k.to_owned(), v))
///     .collect();
/// let ages = node.expose_map(ages);
/// assert_eq!(ages.get(&"alan".to_owned()).await?, Some(41));
/// let first = ages.page_after(None, 2).await?;
/// assert_eq!(first, [("ada".to_owned(), 36), ("alan".to_owned(), 41)]);
/// let rest = ages.page_after(Some(&first[1].0), 2).await?;
/// assert_eq!(rest, [("grace".to_owned(), 85)]);
/// let mut it = ages.iter();
/// let mut names = Vec::new();
/// while let Some(entry) = it.next().await {
///     names.push(entry?.0);
/// }
/// assert_eq!(names, ["ada", "alan", "grace"]);
/// # node.shutdown().await; Ok(()) }
/// ```
pub struct RemoteMap<K, V> {
    paged: Remote<dyn Paged>,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K, V> RemoteMap<K, V> {
    /// Exposes `map` on `node`.
    pub(crate) fn expose(node: &crate::Node, map: BTreeMap<K, V>) -> RemoteMap<K, V>
    where
        K: Serialize + DeserializeOwned + Ord + Send + Sync + 'static,
        V: Serialize + Send + Sync + 'static,
    {
        RemoteMap {
            paged: node.expose::<dyn Paged, _>(MapSource { map }),
            _t: PhantomData,
        }
    }

    /// The node that holds the entries.
    pub fn owner(&self) -> &NodeId {
        self.paged.owner()
    }
}

impl<K, V> RemoteMap<K, V>
where
    K: Serialize + DeserializeOwned + Ord + Clone + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    /// The number of entries.
    pub fn len(&self) -> Call<u64> {
        self.paged.raw().call(LEN, &())
    }

    /// The value of `key`, or `None`.
    pub fn get(&self, key: &K) -> Call<Option<V>> {
        self.paged.raw().call(GET, &(key,))
    }

    /// The entries with keys after `after` (from the first with `None`), in key order, at most
    /// `count` of them (and at most [`MAX_PAGE`]): fewer only at the end. Pass the last key of
    /// a page to get the next one.
    pub fn page_after(&self, after: Option<&K>, count: u64) -> Call<Vec<(K, V)>> {
        self.paged.raw().call(PAGE, &(after, count.min(MAX_PAGE)))
    }

    /// A copy of the whole map, in one reply (which must fit a frame: see the [module
    /// documentation](self#limits)).
    pub fn fetch(&self) -> Call<BTreeMap<K, V>> {
        self.paged.raw().call(FETCH, &())
    }

    /// Iterates over the entries in key order, fetching pages of [`DEFAULT_PAGE`] entries as
    /// they are needed.
    pub fn iter(&self) -> RemoteMapIter<K, V> {
        self.iter_with_page(DEFAULT_PAGE)
    }

    /// Iterates over the entries in key order, fetching pages of `page` entries (1 to
    /// [`MAX_PAGE`]) as they are needed.
    pub fn iter_with_page(&self, page: u64) -> RemoteMapIter<K, V> {
        RemoteMapIter {
            map: self.clone(),
            after: None,
            page: page.clamp(1, MAX_PAGE),
            buf: Vec::new().into_iter(),
            done: false,
        }
    }
}

impl<K, V> Clone for RemoteMap<K, V> {
    fn clone(&self) -> Self {
        RemoteMap {
            paged: self.paged.clone(),
            _t: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for RemoteMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RemoteMap<{}, {}>({:?})",
            std::any::type_name::<K>(),
            std::any::type_name::<V>(),
            self.paged
        )
    }
}

impl<K, V> Serialize for RemoteMap<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireOut {
            paged: &self.paged,
            ty: type_fingerprint::<Self>(),
        }
        .serialize(s)
    }
}

impl<'de, K, V> Deserialize<'de> for RemoteMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RemoteMap {
            paged: decode_ref::<D, Self>(d)?,
            _t: PhantomData,
        })
    }
}

/// Iterates over a [`RemoteMap`] in key order, one page at a time ([`RemoteMap::iter`]).
///
/// A page is fetched when the entries of the previous one are used up, never before. A failed
/// fetch is returned as `Some(Err(…))` and ends the iteration; resume with
/// [`RemoteMap::page_after`] from the last key seen.
pub struct RemoteMapIter<K, V> {
    map: RemoteMap<K, V>,
    /// The last key of the last page fetched.
    after: Option<K>,
    page: u64,
    buf: std::vec::IntoIter<(K, V)>,
    done: bool,
}

impl<K, V> RemoteMapIter<K, V>
where
    K: Serialize + DeserializeOwned + Ord + Clone + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    /// The next entry, fetching a page first when none is buffered; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<(K, V), RemoteError>> {
        if let Some(entry) = self.buf.next() {
            return Some(Ok(entry));
        }
        if self.done {
            return None;
        }
        match self.map.page_after(self.after.as_ref(), self.page).await {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(page) => {
                self.done = (page.len() as u64) < self.page;
                if let Some((last, _)) = page.last() {
                    self.after = Some(last.clone());
                }
                self.buf = page.into_iter();
                self.buf.next().map(Ok)
            }
        }
    }
}

impl<K, V> fmt::Debug for RemoteMapIter<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteMapIter")
            .field("map", &self.map)
            .field("page", &self.page)
            .field("buffered", &self.buf.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{RemoteMap, RemoteVec, MAX_PAGE};
    use crate::{Node, RemoteErrorKind};

    async fn node(name: &str) -> Node {
        Node::builder(name).start().await.expect("a node")
    }

    async fn drain<T: serde::de::DeserializeOwned + Send + 'static>(
        v: &RemoteVec<T>,
        page: u64,
    ) -> Vec<T> {
        let mut it = v.iter_with_page(page);
        let mut out = Vec::new();
        while let Some(item) = it.next().await {
            out.push(item.expect("an item"));
        }
        assert!(it.next().await.is_none(), "the iterator is fused");
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_empty_vec() {
        let n = node("coll-empty-vec").await;
        let v: RemoteVec<u64> = n.expose_vec(Vec::new());
        assert_eq!(v.len().await.unwrap(), 0);
        assert_eq!(v.get(0).await.unwrap(), None);
        assert_eq!(v.page(0, 10).await.unwrap(), Vec::<u64>::new());
        assert_eq!(v.fetch().await.unwrap(), Vec::<u64>::new());
        assert_eq!(drain(&v, 4).await, Vec::<u64>::new());
        let m: RemoteMap<String, u64> = n.expose_map(BTreeMap::new());
        assert_eq!(m.len().await.unwrap(), 0);
        assert_eq!(m.get(&"x".to_owned()).await.unwrap(), None);
        assert!(m.page_after(None, 5).await.unwrap().is_empty());
        assert!(m.fetch().await.unwrap().is_empty());
        assert!(m.iter().next().await.is_none());
        n.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn vec_pages_and_their_edges() {
        let n = node("coll-vec-pages").await;
        let items: Vec<u64> = (0..10).map(|i| i * 10).collect();
        let v = n.expose_vec(items.clone());
        assert_eq!(v.len().await.unwrap(), 10);
        assert_eq!(v.get(9).await.unwrap(), Some(90));
        assert_eq!(v.get(10).await.unwrap(), None);
        assert_eq!(v.get(u64::MAX).await.unwrap(), None);
        assert_eq!(v.page(0, 4).await.unwrap(), [0, 10, 20, 30]);
        assert_eq!(v.page(8, 4).await.unwrap(), [80, 90], "short at the end");
        assert_eq!(v.page(3, 0).await.unwrap(), Vec::<u64>::new(), "count 0");
        assert_eq!(
            v.page(10, 3).await.unwrap(),
            Vec::<u64>::new(),
            "at the end"
        );
        assert_eq!(v.page(11, 3).await.unwrap(), Vec::<u64>::new(), "past it");
        assert_eq!(v.page(u64::MAX, u64::MAX).await.unwrap(), Vec::<u64>::new());
        assert_eq!(v.page(0, u64::MAX).await.unwrap(), items, "cut to MAX_PAGE");
        assert_eq!(v.fetch().await.unwrap(), items);
        // Pages dividing the length exactly, not dividing it, larger than it, of one item.
        for page in [1, 3, 5, 10, 11, MAX_PAGE, u64::MAX, 0] {
            assert_eq!(drain(&v, page).await, items, "page {page}");
        }
        let mut it = v.iter_with_page(4);
        assert_eq!(it.position(), 0);
        it.next().await.unwrap().unwrap();
        it.next().await.unwrap().unwrap();
        assert_eq!(it.position(), 2);
        n.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_page_is_at_most_max_page_items() {
        let n = node("coll-max-page").await;
        let len = MAX_PAGE + 10;
        let v = n.expose_vec((0..len).collect::<Vec<u64>>());
        let page = v.page(5, MAX_PAGE + 1000).await.unwrap();
        assert_eq!(page.len() as u64, MAX_PAGE);
        assert_eq!(page[0], 5);
        let all = drain(&v, u64::MAX).await;
        assert_eq!(all.len() as u64, len);
        assert_eq!(all.last(), Some(&(len - 1)));
        n.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn map_pages_and_their_edges() {
        let n = node("coll-map-pages").await;
        let map: BTreeMap<String, u64> = (0..7).map(|i| (format!("k{i}"), i)).collect();
        let m = n.expose_map(map.clone());
        assert_eq!(m.len().await.unwrap(), 7);
        assert_eq!(m.get(&"k3".to_owned()).await.unwrap(), Some(3));
        assert_eq!(m.get(&"k7".to_owned()).await.unwrap(), None);
        let first = m.page_after(None, 3).await.unwrap();
        assert_eq!(
            first,
            [("k0".into(), 0), ("k1".into(), 1), ("k2".into(), 2)]
        );
        let next = m.page_after(Some(&first[2].0), 3).await.unwrap();
        assert_eq!(next[0], ("k3".into(), 3));
        // A cursor that is not a key: the entries after where it would be.
        let between = m.page_after(Some(&"k3a".to_owned()), 1).await.unwrap();
        assert_eq!(between, [("k4".into(), 4)]);
        assert!(m
            .page_after(Some(&"k6".to_owned()), 3)
            .await
            .unwrap()
            .is_empty());
        assert!(m
            .page_after(Some(&"z".to_owned()), 3)
            .await
            .unwrap()
            .is_empty());
        assert!(m.page_after(None, 0).await.unwrap().is_empty());
        assert_eq!(m.fetch().await.unwrap(), map);
        let want: Vec<(String, u64)> = map.into_iter().collect();
        for page in [1, 2, 7, 8, 0] {
            let mut it = m.iter_with_page(page);
            let mut got = Vec::new();
            while let Some(e) = it.next().await {
                got.push(e.unwrap());
            }
            assert_eq!(got, want, "page {page}");
        }
        n.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reference_decodes_only_as_its_own_type() {
        let n = node("coll-types").await;
        let v = n.expose_vec(vec![1u64, 2, 3]);
        let m = n.expose_map(BTreeMap::from([(1u64, 2u64)]));
        let bytes = postcard::to_allocvec(&v).unwrap();
        let map_bytes = postcard::to_allocvec(&m).unwrap();
        crate::node::with_current(&n.inner, || {
            let same: RemoteVec<u64> = postcard::from_bytes(&bytes).expect("same type");
            drop(same);
            assert!(postcard::from_bytes::<RemoteVec<String>>(&bytes).is_err());
            assert!(postcard::from_bytes::<RemoteMap<u64, u64>>(&bytes).is_err());
            assert!(postcard::from_bytes::<RemoteVec<(u64, u64)>>(&map_bytes).is_err());
            assert!(postcard::from_bytes::<RemoteMap<u64, u64>>(&map_bytes).is_ok());
        });
        // The decoded copies were released: only the two originals keep their objects.
        drop((v, m));
        for _ in 0..100 {
            if n.remote_stats().exposed == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(n.remote_stats().exposed, 0);
        n.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_cursor_is_a_typed_error() {
        let n = node("coll-bad-args").await;
        let m = n.expose_map(BTreeMap::from([(1u64, 2u64)]));
        // A page asked for with arguments that do not decode as the owner's (cursor, count).
        let wrong: super::Call<Vec<(u64, u64)>> = m.paged.raw().call(super::PAGE, &());
        let err = wrong.await.unwrap_err();
        assert_eq!(err.kind, RemoteErrorKind::BadArgs, "{err}");
        assert_eq!(m.get(&1).await.unwrap(), Some(2), "the owner kept going");
        n.shutdown().await;
    }
}
