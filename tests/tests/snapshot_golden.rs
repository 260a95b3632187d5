//! Golden snapshot files: snapshots committed under `tests/golden/` must keep restoring, and a
//! snapshot of the same task taken now must be the same bytes (the format is stable).
//!
//! For each file, one test:
//! 1. restores the committed file on a fresh node and drives it to completion, checking the
//!    exact output its frozen state implies;
//! 2. freezes the same task, driven the same way, and compares the bytes with the file (every
//!    byte, once the task id's sequence number — a process-wide counter — is set to 0 as in
//!    the file);
//! 3. refuses the file with its code fingerprint changed (`FingerprintMismatch`) and with its
//!    type key changed (`UnknownType`), each on a fresh node that then restores the good file
//!    and runs it to completion.
//!
//! `TERN_BLESS=1` rewrites the files from step 2's snapshots before checking; see
//! `tests/golden/README.md`.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tern::snapshot::MAGIC;
use tern::{Channel, Node, Snapshot, SnapshotError, SnapshotHeader, TaskHandle};
use tern_tests::golden::{batches, squares, tally, BATCHES_IN, SQUARES_CAP, SQUARES_OUT, TALLY_IN};
use tern_tests::node;

/// The bytes before the postcard header: the magic and the format version (`u16`).
const PREFIX: usize = MAGIC.len() + std::mem::size_of::<u16>();

/// The command that rewrites the files.
const BLESS: &str = "TERN_BLESS=1 cargo test -p tern-tests --test snapshot_golden";

/// One golden file.
struct Case {
    /// The file's stem under `tests/golden/`.
    name: &'static str,
    /// The root task's type key.
    key: &'static str,
}

impl Case {
    fn path(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("golden")
            .join(format!("{}.snap", self.name))
    }

    fn shown(&self) -> String {
        format!("tests/golden/{}.snap", self.name)
    }
}

fn blessing() -> bool {
    std::env::var_os("TERN_BLESS").is_some_and(|v| v == "1")
}

// ---- the three golden tasks: how each is frozen, and how its restored form must finish --------

/// Starts the node that takes a golden snapshot. Its id is the header's `origin` and is hashed
/// into the task id, so it is fixed.
async fn origin_node(case: &Case) -> Node {
    match Node::builder(format!("golden-{}", case.name))
        .workers(1)
        .start()
        .await
    {
        Ok(n) => n,
        Err(e) => panic!("the node freezing {} did not start: {e}", case.name),
    }
}

/// Waits until `ch` has `balance` waiting parties (and `len` buffered values): the task has
/// handled everything sent to it and parked at the next suspension point.
async fn parked<T: tern::Message>(ch: &Channel<T>, balance: isize, len: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while ch.balance() != balance || ch.len() != len {
        assert!(
            Instant::now() < deadline,
            "the golden task did not park: balance {} (want {balance}), {} buffered (want {len})",
            ch.balance(),
            ch.len()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn frozen<O: Serialize + DeserializeOwned + Send + 'static>(
    node: Node,
    task: TaskHandle<O>,
) -> Vec<u8> {
    let snap = match task.snapshot().await {
        Ok(s) => s,
        Err(e) => panic!("freezing a golden task failed: {e}"),
    };
    node.shutdown().await;
    snap.into_bytes()
}

async fn send<T: tern::Message>(ch: &Channel<T>, v: T) {
    if let Err(e) = ch.send(v).await {
        panic!("send to a golden task: {e}");
    }
}

async fn joined<O: Serialize + DeserializeOwned + Send + 'static>(task: TaskHandle<O>) -> O {
    match task.join().await {
        Ok(v) => v,
        Err(e) => panic!("a restored golden task failed: {e}"),
    }
}

const TALLY: Case = Case {
    name: "tally",
    key: "golden::tally",
};

/// `tally` after 3, 1, 4, parked in `recv` with `total` 8, `log` "tally +3 +1 +4" and `seen`
/// [3, 1, 4].
async fn freeze_tally() -> Vec<u8> {
    let node = origin_node(&TALLY).await;
    let input = node.channel::<u32>(TALLY_IN);
    let task = node.spawn(tally(input.clone()));
    for v in [3, 1, 4] {
        send(&input, v).await;
    }
    parked(&input, -1, 0).await;
    frozen(node, task).await
}

async fn finish_tally(node: Node, task: TaskHandle<String>) {
    let input = node.channel::<u32>(TALLY_IN);
    send(&input, 1).await;
    send(&input, 5).await;
    input.close();
    assert_eq!(
        joined(task).await,
        "tally +3 +1 +4 +1 +5 = 14 from [3, 1, 4, 1, 5]"
    );
}

const BATCHES: Case = Case {
    name: "batches",
    key: "golden::batches",
};

/// `batches(_, 100)` after 10, 20 (first batch: 30) and 1: two frames, the root holding
/// `first` 30 and `factor` 100, the nested `sum_of` parked in `recv` with `sum` 1 and two
/// numbers to go.
async fn freeze_batches() -> Vec<u8> {
    let node = origin_node(&BATCHES).await;
    let input = node.channel::<u64>(BATCHES_IN);
    let task = node.spawn(batches(input.clone(), 100));
    for v in [10, 20, 1] {
        send(&input, v).await;
    }
    parked(&input, -1, 0).await;
    frozen(node, task).await
}

async fn finish_batches(node: Node, task: TaskHandle<u64>) {
    let input = node.channel::<u64>(BATCHES_IN);
    send(&input, 2).await;
    send(&input, 3).await;
    // 30 * 100 + (1 + 2 + 3)
    assert_eq!(joined(task).await, 3006);
}

const SQUARES: Case = Case {
    name: "squares",
    key: "golden::squares",
};

/// `squares(_, 5)` with 0 and 1 in its channel's buffer (capacity 2), parked in `send` with 4
/// pending and `sent` 1. The buffered values stay on the node that froze it.
async fn freeze_squares() -> Vec<u8> {
    let node = origin_node(&SQUARES).await;
    let out = node.buffered_channel::<u64>(SQUARES_OUT, SQUARES_CAP);
    let task = node.spawn(squares(out.clone(), 5));
    parked(&out, 1, SQUARES_CAP).await;
    frozen(node, task).await
}

async fn finish_squares(node: Node, task: TaskHandle<u64>) {
    let out = node.buffered_channel::<u64>(SQUARES_OUT, SQUARES_CAP);
    let mut got = Vec::new();
    for _ in 0..3 {
        match out.recv().await {
            Ok(v) => got.push(v),
            Err(e) => panic!("receive from the restored squares: {e}"),
        }
    }
    assert_eq!(got, [4, 9, 16], "the pending 4 first, then the rest");
    // 0 + 1 + 4 + 9 + 16
    assert_eq!(joined(task).await, 30);
    assert!(out.is_empty());
}

#[tokio::test]
async fn golden_tally_on_a_channel_recv() {
    check(&TALLY, freeze_tally().await, finish_tally).await;
}

#[tokio::test]
async fn golden_batches_with_a_nested_frame() {
    check(&BATCHES, freeze_batches().await, finish_batches).await;
}

#[tokio::test]
async fn golden_squares_on_a_buffered_send() {
    check(&SQUARES, freeze_squares().await, finish_squares).await;
}

// ---- the checks --------------------------------------------------------------------------------

async fn check<O, F, Fut>(case: &Case, fresh: Vec<u8>, finish: F)
where
    O: Serialize + DeserializeOwned + Send + 'static,
    F: Fn(Node, TaskHandle<O>) -> Fut,
    Fut: Future<Output = ()>,
{
    let fresh = canonical(&fresh);
    let path = case.path();
    if blessing() {
        if let Err(e) = std::fs::write(&path, &fresh) {
            panic!("cannot bless {}: {e}", path.display());
        }
        eprintln!("blessed {} ({} bytes)", case.shown(), fresh.len());
    }
    let golden = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => panic!(
            "cannot read {} ({e}); to create it, run\n    {BLESS}",
            case.shown()
        ),
    };
    let (header, _) = match split(&golden) {
        Ok(h) => h,
        Err(e) => panic!(
            "{}: the header does not decode in this build ({e}).\n{}",
            case.shown(),
            format_changed()
        ),
    };
    assert_eq!(
        header.task_type,
        case.key,
        "{}: root type key",
        case.shown()
    );

    // 1. The committed file restores and finishes as its state says.
    let n = node("golden-restore", 1).await;
    let task = restore_or_explain::<O>(case, &n, &golden);
    finish(n.clone(), task).await;
    n.shutdown().await;

    // 2. A snapshot taken now is the same bytes.
    assert_same(case, &golden, &fresh);

    // 3. A changed fingerprint or type key is refused; the node restores the good file next.
    let fingerprint_at = PREFIX + encoded(&header.task_type).len();
    let (found, _) = postcard::take_from_bytes::<u64>(&golden[fingerprint_at..])
        .unwrap_or_else(|e| panic!("{}: no varint at the fingerprint: {e}", case.shown()));
    assert_eq!(
        found,
        header.fingerprint,
        "{}: the fingerprint follows the type key",
        case.shown()
    );
    let mut other_fingerprint = golden.clone();
    // The low bit of the varint's first byte: the value changes, the length does not.
    other_fingerprint[fingerprint_at] ^= 1;
    let local = header.fingerprint;
    refused::<O, _, _>(case, &golden, other_fingerprint, &finish, |e| {
        matches!(e, SnapshotError::FingerprintMismatch { key, snapshot, local: l }
            if key == case.key && *snapshot == local ^ 1 && *l == local)
    })
    .await;
    let unknown = "golden::no_such_task";
    let other_key = with_header(&golden, |h| h.task_type = unknown.to_owned());
    refused::<O, _, _>(
        case,
        &golden,
        other_key,
        &finish,
        |e| matches!(e, SnapshotError::UnknownType(k) if k == unknown),
    )
    .await;
}

/// Restores `bad` on a fresh node, expecting an error `expected` accepts and no trace of it on
/// the node; then restores `good` there and runs it to completion.
async fn refused<O, F, Fut>(
    case: &Case,
    good: &[u8],
    bad: Vec<u8>,
    finish: &F,
    expected: impl Fn(&SnapshotError) -> bool,
) where
    O: Serialize + DeserializeOwned + Send + 'static,
    F: Fn(Node, TaskHandle<O>) -> Fut,
    Fut: Future<Output = ()>,
{
    let n = node("golden-refuse", 1).await;
    let channels = n.channel_count();
    match n.restore::<O>(&Snapshot::from_bytes(bad)) {
        Ok(_) => panic!("{}: a tampered copy was restored", case.shown()),
        Err(e) => assert!(
            expected(&e),
            "{}: a tampered copy was refused with the wrong error: {e:?}",
            case.shown()
        ),
    }
    assert_eq!(
        n.channel_count(),
        channels,
        "{}: a refused restore bound channels",
        case.shown()
    );
    let task = restore_or_explain::<O>(case, &n, good);
    finish(n.clone(), task).await;
    n.shutdown().await;
}

fn restore_or_explain<O>(case: &Case, n: &Node, golden: &[u8]) -> TaskHandle<O>
where
    O: Serialize + DeserializeOwned + Send + 'static,
{
    match n.restore::<O>(&Snapshot::from_bytes(golden.to_vec())) {
        Ok(t) => t,
        Err(SnapshotError::FingerprintMismatch {
            key,
            snapshot,
            local,
        }) => panic!(
            "{} no longer restores: task type `{key}` has code fingerprint {local:#018x} in \
             this build but {snapshot:#018x} in the file.\n{}",
            case.shown(),
            code_changed()
        ),
        Err(e) => panic!(
            "{} no longer restores: {e}.\n{}",
            case.shown(),
            format_changed()
        ),
    }
}

/// Fails, saying where and why, unless `fresh` is `golden`.
fn assert_same(case: &Case, golden: &[u8], fresh: &[u8]) {
    if golden == fresh {
        return;
    }
    let mut diffs = Vec::new();
    let mut fingerprint_moved = false;
    match (split(golden), split(fresh)) {
        (Ok((g, g_end)), Ok((f, f_end))) => {
            if golden[..PREFIX] != fresh[..PREFIX] {
                diffs.push(format!(
                    "magic and version: {:02x?} in the file, {:02x?} now",
                    &golden[..PREFIX],
                    &fresh[..PREFIX]
                ));
            }
            let fields: [(&str, String, String); 5] = [
                (
                    "task_type",
                    format!("{:?}", g.task_type),
                    format!("{:?}", f.task_type),
                ),
                (
                    "fingerprint",
                    format!("{:#018x}", g.fingerprint),
                    format!("{:#018x}", f.fingerprint),
                ),
                (
                    "output_type",
                    format!("{:#018x}", g.output_type),
                    format!("{:#018x}", f.output_type),
                ),
                ("epoch", g.epoch.to_string(), f.epoch.to_string()),
                (
                    "origin",
                    format!("{:?}", g.origin),
                    format!("{:?}", f.origin),
                ),
            ];
            for (field, was, now) in fields {
                if was != now {
                    diffs.push(format!("header {field}: {was} in the file, {now} now"));
                }
            }
            fingerprint_moved = g.fingerprint != f.fingerprint;
            if g != f && diffs.is_empty() {
                diffs.push(format!("header: {g:?} in the file, {f:?} now"));
            }
            let (gb, fb) = (&golden[g_end..], &fresh[f_end..]);
            if gb != fb {
                let at = gb.iter().zip(fb).take_while(|(a, b)| a == b).count();
                diffs.push(format!(
                    "body: {} bytes in the file, {} now, first difference at body byte {at} \
                     (file byte {})",
                    gb.len(),
                    fb.len(),
                    g_end + at
                ));
            }
        }
        (g, f) => diffs.push(format!(
            "a header does not decode: file {:?}, now {:?}",
            g.err(),
            f.err()
        )),
    }
    panic!(
        "a snapshot of the golden task taken now differs from {}:\n  - {}\n  \
         file: {}\n  now:  {}\n{}",
        case.shown(),
        diffs.join("\n  - "),
        hex(golden),
        hex(fresh),
        if fingerprint_moved {
            code_changed()
        } else {
            format_changed()
        }
    );
}

fn code_changed() -> String {
    format!(
        "The golden tasks in tests/src/golden.rs are frozen: a #[migratable] function's \
         fingerprint hashes its tokens (signature, doc comments, body), so any edit to one of \
         them — or a change in how #[migratable] hashes a function — makes every snapshot \
         taken before it unrestorable.\n\
         If you did not mean to change them, undo the edit. If you did (on purpose: this \
         changes what old snapshots restore), re-bless the files and commit them with the \
         change:\n    {BLESS}\n\
         and record in CHANGELOG.md which snapshots no longer restore."
    )
}

fn format_changed() -> String {
    format!(
        "The snapshot format changed: snapshots written by earlier builds may no longer \
         restore, or restore differently (runtime/src/snapshot/mod.rs documents the format).\n\
         If this is not intended, fix the encoder. If it is, make it deliberate: bump \
         snapshot::FORMAT_VERSION unless this build still reads the old bytes, update the \
         format docs and CHANGELOG.md, then re-bless the golden files and commit them with \
         the change:\n    {BLESS}"
    )
}

fn hex(bytes: &[u8]) -> String {
    let bytes: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    bytes.join(" ")
}

// ---- header surgery ----------------------------------------------------------------------------

fn encoded<T: Serialize>(value: &T) -> Vec<u8> {
    match postcard::to_allocvec(value) {
        Ok(b) => b,
        Err(e) => panic!("postcard: {e}"),
    }
}

fn decoded<T: DeserializeOwned>(bytes: &[u8]) -> T {
    match postcard::from_bytes(bytes) {
        Ok(v) => v,
        Err(e) => panic!("postcard: {e}"),
    }
}

/// The header and where the body starts.
fn split(bytes: &[u8]) -> Result<(SnapshotHeader, usize), SnapshotError> {
    let header = Snapshot::from_bytes(bytes.to_vec()).header()?;
    // `header()` checked the prefix, so `PREFIX` is in range.
    let (again, body) = postcard::take_from_bytes::<SnapshotHeader>(&bytes[PREFIX..])
        .map_err(|e| SnapshotError::Malformed(e.to_string()))?;
    assert_eq!(again, header);
    Ok((header, bytes.len() - body.len()))
}

/// `bytes` with its header changed by `edit` (re-encoded; the rest is kept).
fn with_header(bytes: &[u8], edit: impl FnOnce(&mut SnapshotHeader)) -> Vec<u8> {
    let (mut header, body) = match split(bytes) {
        Ok(h) => h,
        Err(e) => panic!("a golden snapshot's header does not decode: {e}"),
    };
    let mut out = bytes[..PREFIX].to_vec();
    assert_eq!(
        encoded(&header),
        bytes[PREFIX..body],
        "the header re-encodes to other bytes"
    );
    edit(&mut header);
    out.extend_from_slice(&encoded(&header));
    out.extend_from_slice(&bytes[body..]);
    out
}

/// `bytes` with the task id's sequence number set to 0. The task id is (a hash of the origin
/// node's id, a process-wide sequence number): the first is fixed by the origin node's id, the
/// second depends on how many tasks this process has spawned, and 0 is never given out.
fn canonical(bytes: &[u8]) -> Vec<u8> {
    with_header(bytes, |h| {
        let (origin, _seq): (u64, u64) = decoded(&encoded(&h.task));
        h.task = decoded(&encoded(&(origin, 0u64)));
    })
}
