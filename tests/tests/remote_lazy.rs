//! Lazy remote collections over QUIC: a `RemoteVec` and a `RemoteMap` exposed on one node and
//! read from another, with the owner's reply bytes counted to show that nothing is fetched
//! before it is used and that a read brings back only what it asked for.

use std::collections::BTreeMap;

use tern::remote::RemoteStats;
use tern::{Node, RemoteMap, RemoteVec};
use tern_tests::cluster::{cluster, shutdown};

/// Items of the large vector.
const LEN: u64 = 1_000_000;

/// Item `i` of the large vector.
fn item(i: u64) -> u64 {
    i * 7
}

/// Calls `node` made and reply bytes it received since `before`.
fn delta(node: &Node, before: RemoteStats) -> (u64, u64) {
    let now = node.remote_stats();
    (
        now.calls_out - before.calls_out,
        now.reply_bytes_in - before.reply_bytes_in,
    )
}

/// Sends `value` from `from` to `to` through a channel named `name`; returns what `to` got.
async fn pass<T: tern::Message>(from: &Node, to: &Node, name: &str, value: T) -> T {
    from.buffered_channel::<T>(name, 1)
        .send(value)
        .await
        .expect("send");
    to.buffered_channel::<T>(name, 1)
        .recv()
        .await
        .expect("recv")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_vec_fetches_only_what_is_read() {
    let nodes = cluster(&["lazy-a", "lazy-b"]).await;
    let (a, b) = (&nodes[0], &nodes[1]);

    let before = b.remote_stats();
    let on_a: RemoteVec<u64> = a.expose_vec((0..LEN).map(item).collect());
    let v = pass(a, b, "lazy-vec", on_a.clone()).await;
    assert_eq!(v.owner().as_str(), "lazy-a");
    assert_eq!(delta(b, before), (0, 0), "the reference fetched something");

    let before = b.remote_stats();
    assert_eq!(v.len().await.unwrap(), LEN);
    let (calls, bytes) = delta(b, before);
    assert_eq!(calls, 1);
    assert!(bytes <= 10, "len() received {bytes} bytes");

    let before = b.remote_stats();
    assert_eq!(v.get(123_456).await.unwrap(), Some(item(123_456)));
    let (calls, bytes) = delta(b, before);
    assert_eq!(calls, 1);
    assert!(bytes <= 11, "get() received {bytes} bytes");

    // Iteration: nothing before the first `next()`, then one page per 1,024 items.
    let before = b.remote_stats();
    let mut it = v.iter_with_page(1_024);
    assert_eq!(delta(b, before), (0, 0), "iter() fetched before next()");
    for i in 0..2_500 {
        assert_eq!(it.next().await.unwrap().unwrap(), item(i));
    }
    assert_eq!(it.position(), 2_500);
    let (page_calls, page_bytes) = delta(b, before);
    assert_eq!(page_calls, 3, "2,500 items in pages of 1,024");

    let before = b.remote_stats();
    let all = v.fetch().await.unwrap();
    let (calls, fetch_bytes) = delta(b, before);
    assert_eq!(calls, 1);
    assert_eq!(all.len() as u64, LEN);
    assert!(all.iter().enumerate().all(|(i, x)| *x == item(i as u64)));
    assert!(
        page_bytes * 100 < fetch_bytes,
        "3 pages took {page_bytes} bytes, the whole vector {fetch_bytes}"
    );
    // The owner's copy and the reader's agree.
    assert_eq!(
        on_a.page(LEN - 2, 10).await.unwrap(),
        v.page(LEN - 2, 10).await.unwrap()
    );
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_map_is_read_in_key_order() {
    let nodes = cluster(&["lazymap-a", "lazymap-b"]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let map: BTreeMap<String, u64> = (0..10_000u64).map(|i| (format!("key-{i:05}"), i)).collect();

    let before = b.remote_stats();
    let m: RemoteMap<String, u64> = pass(a, b, "lazy-map", a.expose_map(map.clone())).await;
    assert_eq!(delta(b, before), (0, 0), "the reference fetched something");

    let before = b.remote_stats();
    assert_eq!(m.len().await.unwrap(), 10_000);
    assert_eq!(m.get(&"key-04242".to_owned()).await.unwrap(), Some(4242));
    assert_eq!(m.get(&"nope".to_owned()).await.unwrap(), None);
    let (calls, bytes) = delta(b, before);
    assert_eq!(calls, 3);
    assert!(bytes <= 20, "len and two gets received {bytes} bytes");

    let first = m.page_after(None, 3).await.unwrap();
    assert_eq!(
        first,
        [
            ("key-00000".to_owned(), 0),
            ("key-00001".to_owned(), 1),
            ("key-00002".to_owned(), 2)
        ]
    );
    let next = m.page_after(Some(&first[2].0), 2).await.unwrap();
    assert_eq!(
        next,
        [("key-00003".to_owned(), 3), ("key-00004".to_owned(), 4)]
    );
    let last = m
        .page_after(Some(&"key-09998".to_owned()), 5)
        .await
        .unwrap();
    assert_eq!(last, [("key-09999".to_owned(), 9999)]);
    assert!(m
        .page_after(Some(&"key-09999".to_owned()), 5)
        .await
        .unwrap()
        .is_empty());

    // The whole map in pages of 1,000: 10 full pages and an empty one that ends it.
    let before = b.remote_stats();
    let mut it = m.iter_with_page(1_000);
    let mut seen = Vec::new();
    while let Some(entry) = it.next().await {
        seen.push(entry.unwrap());
    }
    let (calls, _) = delta(b, before);
    assert_eq!(calls, 11);
    assert_eq!(seen, map.clone().into_iter().collect::<Vec<_>>());
    assert_eq!(m.fetch().await.unwrap(), map);
    shutdown(nodes).await;
}

/// Sums the vector's items, `page` at a time: a remote call per page inside a task.
#[tern::migratable(name = "remote_lazy::sum_pages")]
async fn sum_pages(items: RemoteVec<u64>, page: u64) -> (u64, u64) {
    let mut start: u64 = 0;
    let mut sum: u64 = 0;
    let mut pages: u64 = 0;
    loop {
        let got: Vec<u64> = items.page(start, page).await.expect("a page");
        pages += 1;
        let n: u64 = got.len() as u64;
        sum += got.iter().sum::<u64>();
        start += n;
        if n < page {
            break;
        }
    }
    (sum, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migratable_task_reads_a_remote_vec_in_pages() {
    let nodes = cluster(&["lazytask-a", "lazytask-b"]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let v = pass(
        a,
        b,
        "lazy-task",
        a.expose_vec((0..LEN).map(item).collect::<Vec<u64>>()),
    )
    .await;
    let before = b.remote_stats();
    let task = b.spawn(sum_pages(v, 65_536));
    let (sum, pages) = task.join().await.unwrap();
    assert_eq!(sum, (0..LEN).map(item).sum::<u64>());
    assert_eq!(pages, LEN.div_ceil(65_536));
    assert_eq!(delta(b, before).0, pages, "one call per page, from b");
    shutdown(nodes).await;
}
