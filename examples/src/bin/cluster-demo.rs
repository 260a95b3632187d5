//! The cluster demo: three node processes run a pipeline of stateful `#[migratable]` workers
//! over named channels, on QUIC with mutual TLS, and **move the workers between the processes
//! while the messages flow** — by handle, by the worker itself, and by draining a node.
//!
//! Run without arguments, this program is the **coordinator**. It:
//!
//! 1. makes a cluster CA in a fresh temporary directory and writes the CA certificate and a
//!    certificate and key for each of the nodes `alpha`, `beta` and `gamma` (the CA's own key
//!    is never written: it lives and dies in this process);
//! 2. starts the three nodes as processes of its own binary (`cluster-demo node <id> <dir>
//!    <jobs>`), reads the address each listens on, and tells each node the addresses of the
//!    nodes started before it to dial, so that every pair of nodes is connected before any
//!    channel is used. The processes run the same binary, so every worker type is registered
//!    in every process: a worker's snapshot can resume in any of them;
//! 3. lets the pipeline run: on `alpha`, two producer tasks send numbered jobs on the buffered
//!    channel `"jobs"`; six `#[migratable]` stage workers, spawned on `alpha` (their home,
//!    where their handles and joins live) and at once moved out to `beta` and `gamma`, square
//!    the jobs and keep a running state (how many jobs they did, the sum of their squares),
//!    stamping each answer on `"results"` with it; `alpha` collects and checks the answers.
//!    Meanwhile:
//!    - `alpha` moves a worker by its handle every few hundred answers, wherever it runs
//!      (`TaskHandle::move_to`, over the network, the handle following the worker);
//!    - one worker, the *wanderer*, moves itself from `beta` to `alpha` and back from inside
//!      its loop (`tern::move_to`);
//!    - at 40 % of the answers, `alpha` asks for `gamma` to be drained: `Node::drain` moves
//!      every worker on `gamma` to the two other nodes, and `gamma` refuses arrivals from
//!      then on;
//!
//!    and every worker says where it resumed, with the state it carried there;
//! 4. cross-checks what the nodes report — every job answered exactly once, the sum of the
//!    squares, each worker's own tally (joined at home, on `alpha`, wherever the worker ended)
//!    against the answers it sent, the moves the demo made against the moves the nodes count
//!    (`cluster_stats().moves_out`, summed over the nodes) — has `alpha` close `"results"`
//!    and find it empty, and lets the nodes exit.
//!
//! The nodes' progress lines are forwarded with the node's name. Any failed check or move, a
//! node that exits early, or a run longer than 60 seconds ends the demo with a non-zero status
//! (and the node processes killed).
//!
//! Run: `cargo run --release -p tern-examples --bin cluster-demo [-- --jobs N]` (default
//! 12 000 jobs; the producers pace themselves at about 2 400 jobs a second, so that the moves
//! happen while the messages flow).
//!
//! # The coordinator's line protocol
//!
//! A node writes one line per event on its stdout: `listening <addr>`, `ready <jobs home>
//! <results home>`, `drain` (`alpha`: drain `gamma` now), `drained <key=value>...` (`gamma`),
//! `done <key=value>...`, `finished <key=value>...`, and `say <area> <message>` for a progress
//! line. The coordinator writes one line per step on the node's stdin: `peers <id>=<addr>...`,
//! `go`, `drain` (to `gamma`), `drained <key=value>...` (to `alpha`), `finish`; then it closes
//! the node's stdin, and the node shuts down and exits. A node whose stdin closes early (the
//! coordinator went away) exits with a failure.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tern::net::{ClusterCa, TlsConfig};
use tern::{migratable, Channel, ChannelError, MoveError, Node, NodeId, TaskHandle};

type Error = Box<dyn std::error::Error>;

/// The nodes, in the order the coordinator starts them. `alpha` produces, collects, and is the
/// home of every task; `gamma` is drained halfway through.
const NODES: [&str; 3] = ["alpha", "beta", "gamma"];
/// The node that produces, collects and spawns (the workers' home).
const ALPHA: &str = NODES[0];
/// The node drained while the jobs flow.
const DRAINED: &str = NODES[2];
/// Jobs sent when `--jobs` is not given.
const DEFAULT_JOBS: u64 = 12_000;
/// The fewest jobs `--jobs` accepts (so that there is time for the moves and the drain).
const MIN_JOBS: u64 = 100;
/// The most jobs `--jobs` accepts (so that the paced run fits the time limit).
const MAX_JOBS: u64 = 100_000;
/// Producer tasks on `alpha`.
const PRODUCERS: u64 = 2;
/// A producer pauses [`PAUSE`] after every `BATCH` jobs: about 2 400 jobs a second in all.
const BATCH: u64 = 12;
const PAUSE: Duration = Duration::from_millis(10);
/// Stage workers (all spawned on `alpha`).
const WORKERS: u64 = 6;
/// The worker that moves itself; the others are moved by their handles and by the drain.
const WANDERER: u64 = WORKERS - 1;
/// The self-moves the wanderer makes, between beta and alpha (its home).
const SELF_MOVES: u64 = 4;
/// Where each worker is moved right after it is spawned.
const PLACEMENT: [&str; WORKERS as usize] = ["beta", "beta", "gamma", "gamma", "alpha", "beta"];
/// Receivers of `"results"` on `alpha`.
const COLLECTORS: usize = 4;
/// Room in each of `"jobs"` and `"results"`.
const CAPACITY: usize = 64;
/// The longest the whole run may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a node waits for its connections to be counted as members.
const MESH_TIMEOUT: Duration = Duration::from_secs(10);

/// A worker's answer to one job, stamped with the worker's running state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Answer {
    /// The job: a number from 1 to the number of jobs.
    job: u64,
    /// Its square.
    square: u64,
    /// The worker that answered.
    worker: u64,
    /// How many jobs that worker has answered, this one included (1, 2, 3, ...).
    count: u64,
    /// The sum of the squares that worker has answered, this one included.
    sum: u64,
    /// The node it ran on.
    node: String,
}

/// What a worker returns: its running state at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tally {
    /// Jobs answered.
    count: u64,
    /// The sum of their squares.
    sum: u64,
    /// Changes of node the worker saw.
    hops: u64,
    /// Moves it made itself (`tern::move_to`).
    self_moves: u64,
    /// The node it ended on.
    node: String,
}

/// Sends the jobs `first`, `first + step`, ... up to `last` on `jobs`, pausing after every
/// [`BATCH`]; returns how many it sent.
#[migratable]
async fn produce(jobs: Channel<u64>, first: u64, last: u64, step: u64) -> u64 {
    let mut sent: u64 = 0;
    let mut job: u64 = first;
    while job <= last {
        if jobs.send(job).await.is_err() {
            return sent;
        }
        sent += 1;
        job += step;
        if sent % BATCH == 0 {
            tern::sleep(PAUSE).await;
        }
    }
    sent
}

/// The index in [`NODES`] of the node running the calling task.
fn here() -> u64 {
    let id = tern::current_node().map(|n| n.id().to_string());
    NODES
        .iter()
        .position(|n| Some(*n) == id.as_deref())
        .map_or(u64::MAX, |i| i as u64)
}

/// The name of the node of index `i` in [`NODES`].
fn name(i: u64) -> &'static str {
    usize::try_from(i)
        .ok()
        .and_then(|i| NODES.get(i))
        .copied()
        .unwrap_or("?")
}

/// A stage worker: squares every job from `jobs` and sends the answer, stamped with its
/// running state, to `results`, until `jobs` is closed and empty. When `hop_every` is not 0
/// it moves itself between `alpha` and `beta` after every `hop_every` jobs.
#[migratable]
async fn stage(jobs: Channel<u64>, results: Channel<Answer>, worker: u64, hop_every: u64) -> Tally {
    let mut count: u64 = 0;
    let mut sum: u64 = 0;
    let mut hops: u64 = 0;
    let mut self_moves: u64 = 0;
    // The node it runs on, as an index in NODES: a change means it was moved.
    let mut at: u64 = here();
    while let Ok(job) = jobs.recv().await {
        if here() != at {
            hops += 1;
            report(
                "worker",
                format_args!(
                    "worker-{worker} resumed on {} (from {}, hop {hops}) with its state: {count} jobs, sum {sum}",
                    name(here()),
                    name(at)
                ),
            );
            at = here();
        }
        count += 1;
        sum += job * job;
        let answer = Answer {
            job,
            square: job * job,
            worker,
            count,
            sum,
            node: name(at).to_string(),
        };
        if results.send(answer).await.is_err() {
            break;
        }
        if hop_every > 0 && count % hop_every == 0 && self_moves < SELF_MOVES {
            // alpha (0) <-> beta (1)
            let to: u64 = if at == 0 { 1 } else { 0 };
            let refused: Option<String> =
                tern::move_to(name(to)).await.err().map(|e| e.to_string());
            if let Some(e) = refused {
                report(
                    "move",
                    format_args!(
                        "worker-{worker} stays on {}: its move to {} failed: {e}",
                        name(at),
                        name(to)
                    ),
                );
            } else {
                self_moves += 1;
                hops += 1;
                report(
                    "move",
                    format_args!(
                        "moved worker-{worker} {} -> {} by itself (hop {hops}, {count} jobs, sum {sum})",
                        name(at),
                        name(to)
                    ),
                );
                at = to;
            }
        }
    }
    Tally {
        count,
        sum,
        hops,
        self_moves,
        node: name(here()).to_string(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (role, result) = match args.first().map(String::as_str) {
        Some("node") => {
            let id = args.get(1).cloned().unwrap_or_default();
            (format!("cluster-demo node {id}"), node_main(&args[1..]))
        }
        _ => ("cluster-demo".to_string(), coordinate(&args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{role} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The coordinator.

fn coordinate(args: &[String]) -> Result<(), Error> {
    let jobs = parse_jobs(args)?;
    let t0 = Instant::now();
    let deadline = t0 + TIMEOUT;

    // Declared before the processes, so dropped after them: the files outlive the nodes.
    let pem_dir = TempDir::create()?;
    write_pem_files(pem_dir.path())?;
    say(
        t0,
        "coord",
        "tls",
        format_args!(
            "cluster CA and certificates for {} in {}",
            NODES.join(", "),
            pem_dir.path().display()
        ),
    );

    let (mut nodes, mail) = Nodes::start(pem_dir.path(), jobs, t0, deadline)?;
    let listening = mail.gather("listening")?;
    let mut addrs = Vec::new();
    for (i, words) in listening.iter().enumerate() {
        let addr: SocketAddr = words
            .first()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{} sent no address: {words:?}", NODES[i]))?;
        addrs.push(addr);
    }
    say(
        t0,
        "coord",
        "cluster",
        format_args!(
            "{} node processes listening: {}",
            NODES.len(),
            NODES
                .iter()
                .zip(&addrs)
                .map(|(id, a)| format!("{id} on {a}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );

    // Each node dials the nodes started before it: one dial per pair makes the full mesh.
    // (Both ends of a pair may dial — the mesh keeps one connection — but the dial that loses
    // such a race can take half a second to return.)
    for (i, _) in NODES.iter().enumerate() {
        let earlier: Vec<String> = NODES
            .iter()
            .zip(&addrs)
            .enumerate()
            .filter(|(j, _)| *j < i)
            .map(|(_, (id, a))| format!("{id}={a}"))
            .collect();
        nodes.tell(i, &format!("peers {}", earlier.join(" ")))?;
    }
    let ready = mail.gather("ready")?;
    let homes = &ready[0];
    if homes.len() != 2 || ready.iter().any(|h| h != homes) {
        return Err(format!("the nodes disagree on the channels' homes: {ready:?}").into());
    }
    say(
        t0,
        "coord",
        "homes",
        format_args!(
            "every node homes \"jobs\" on {} and \"results\" on {}",
            homes[0], homes[1]
        ),
    );

    let work_start = Instant::now();
    nodes.tell_all("go")?;
    // While the jobs flow: `alpha` asks for the drain, `gamma` reports it, `alpha` hears of it.
    let drained_ix = NODES.iter().position(|n| *n == DRAINED).expect("a node");
    let mut drained: Option<Vec<String>> = None;
    let done = mail.gather_with("done", &mut |i, word, words| match word {
        "drain" if i == 0 => {
            say(
                t0,
                "coord",
                "drain",
                format_args!("{ALPHA} asks for {DRAINED} to be drained"),
            );
            nodes.tell(drained_ix, "drain")?;
            Ok(true)
        }
        "drained" if i == drained_ix && drained.is_none() => {
            drained = Some(words.to_vec());
            nodes.tell(0, &format!("drained {}", words.join(" ")))?;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    let work_time = work_start.elapsed();
    let drained = drained.ok_or_else(|| format!("{DRAINED} was never drained"))?;
    let drain_moved = field(&drained, "moved", DRAINED)?;
    let alpha = &done[0];
    let collected = field(alpha, "collected", ALPHA)?;
    let sum = field(alpha, "sum", ALPHA)?;
    let by_handle = field(alpha, "by_handle", ALPHA)?;
    let by_self = field(alpha, "by_self", ALPHA)?;
    let expected_sum: u64 = (1..=jobs).map(|j| j * j).sum();
    check(
        collected == jobs,
        format!("alpha collected {collected} answers to {jobs} jobs"),
    )?;
    check(
        sum == expected_sum,
        format!("the squares sum to {sum}, expected {expected_sum}"),
    )?;
    check(
        drain_moved > 0,
        format!("draining {DRAINED} moved no worker"),
    )?;
    say(
        t0,
        "coord",
        "check",
        format_args!(
            "{jobs} jobs answered once each in {:.2} s, while workers moved between the processes ✓",
            work_time.as_secs_f64(),
        ),
    );

    nodes.tell_all("finish")?;
    let finished = mail.gather("finished")?;
    let extra = field(&finished[0], "extra", ALPHA)?;
    check(
        extra == 0,
        format!("{extra} answers left in \"results\" after all jobs were answered"),
    )?;
    let (mut node_down, mut moves_out, mut moves_in) = (0, 0, 0);
    for (i, id) in NODES.iter().enumerate() {
        node_down += field(&finished[i], "node_down", id)?;
        moves_out += field(&finished[i], "moves_out", id)?;
        moves_in += field(&finished[i], "moves_in", id)?;
    }
    check(
        node_down == 0,
        format!("{node_down} channel operations failed with NodeDown"),
    )?;
    let moves = by_handle + by_self + drain_moved;
    check(
        moves_out == moves && moves_in == moves,
        format!(
            "the demo made {moves} moves ({by_handle} by handles, {by_self} by a worker itself, {drain_moved} by the drain), the nodes count {moves_out} out and {moves_in} in"
        ),
    )?;
    say(
        t0,
        "coord",
        "check",
        format_args!(
            "{moves} moves made, {moves_out} counted out and {moves_in} counted in by the nodes ✓"
        ),
    );

    nodes.finish(deadline)?;
    say(
        t0,
        "coord",
        "cluster",
        "every node shut down and exited cleanly",
    );
    println!(
        "verified: {jobs} jobs through {WORKERS} stateful workers across {} processes over QUIC + mutual TLS, sum of squares {sum}, every worker's totals match; 0 lost, 0 duplicated, {moves} moves ({by_handle} by handles, {by_self} self, {drain_moved} by draining {DRAINED})",
        NODES.len()
    );
    Ok(())
}

fn parse_jobs(args: &[String]) -> Result<u64, Error> {
    match args {
        [] => Ok(DEFAULT_JOBS),
        [flag, n] if flag == "--jobs" => match n.parse::<u64>() {
            Ok(n) if (MIN_JOBS..=MAX_JOBS).contains(&n) => Ok(n),
            _ => Err(
                format!("--jobs takes a number from {MIN_JOBS} to {MAX_JOBS}, not {n:?}").into(),
            ),
        },
        _ => Err(format!("usage: cluster-demo [--jobs N] (got {args:?})").into()),
    }
}

/// Makes the cluster CA and writes `ca.pem`, `<id>.pem` and `<id>.key` for every node.
fn write_pem_files(dir: &Path) -> Result<(), Error> {
    let ca = ClusterCa::generate("tern cluster-demo CA")?;
    fs::write(dir.join("ca.pem"), ca.cert_pem())?;
    for id in NODES {
        let pem = ca.issue_pem(&NodeId::new(id)?)?;
        fs::write(dir.join(format!("{id}.pem")), &pem.cert_chain)?;
        fs::write(dir.join(format!("{id}.key")), &pem.key)?;
    }
    Ok(())
}

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> Result<TempDir, Error> {
        let path = std::env::temp_dir().join(format!("tern-cluster-demo-{}", std::process::id()));
        // A directory left by an earlier process with the same id holds nothing of ours.
        if path.exists() {
            fs::remove_dir_all(&path)?;
        }
        fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The directory holds the nodes' private keys.
            fs::set_permissions(&path, fs::Permissions::from_mode(0o700))?;
        }
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            eprintln!("cluster-demo: cannot remove {}: {e}", self.0.display());
        }
    }
}

/// The node processes. Dropping it kills the ones still running.
struct Nodes {
    children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
}

/// A line a node wrote on its stdout (`None`: its stdout closed), with the node's index.
type Mail = (usize, Option<String>);

impl Nodes {
    /// Starts every node as `<this program> node <id> <pem dir> <jobs>`, with a thread per
    /// node that forwards its stdout lines to the returned mailbox.
    fn start(
        pem_dir: &Path,
        jobs: u64,
        t0: Instant,
        deadline: Instant,
    ) -> Result<(Nodes, Mailbox), Error> {
        let exe = std::env::current_exe()?;
        let (tx, rx) = mpsc::channel::<Mail>();
        let mut nodes = Nodes {
            children: Vec::new(),
            stdins: Vec::new(),
        };
        for (i, id) in NODES.iter().enumerate() {
            let mut child = Command::new(&exe)
                .arg("node")
                .arg(id)
                .arg(pem_dir)
                .arg(jobs.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("cannot start node {id} ({}): {e}", exe.display()))?;
            let stdout = child.stdout.take().expect("stdout was piped");
            nodes.stdins.push(child.stdin.take());
            nodes.children.push(child);
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((i, Some(line))).is_err() {
                        return;
                    }
                }
                tx.send((i, None)).ok();
            });
        }
        Ok((nodes, Mailbox { rx, t0, deadline }))
    }

    /// Writes `line` on node `i`'s stdin.
    fn tell(&mut self, i: usize, line: &str) -> Result<(), Error> {
        let stdin = self.stdins[i]
            .as_mut()
            .ok_or_else(|| format!("{}'s stdin is closed", NODES[i]))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to {}: {e}", NODES[i]).into())
    }

    fn tell_all(&mut self, line: &str) -> Result<(), Error> {
        (0..NODES.len()).try_for_each(|i| self.tell(i, line))
    }

    /// Closes every node's stdin (the signal to shut down) and waits until `deadline` for
    /// every node to exit successfully.
    fn finish(&mut self, deadline: Instant) -> Result<(), Error> {
        self.stdins.iter_mut().for_each(|s| drop(s.take()));
        for (i, child) in self.children.iter_mut().enumerate() {
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if Instant::now() >= deadline {
                    return Err(format!("timed out waiting for {} to exit", NODES[i]).into());
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            check(
                status.success(),
                format!("{} exited with {status}", NODES[i]),
            )?;
        }
        Ok(())
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                child.kill().ok();
            }
            child.wait().ok();
        }
    }
}

/// A handler of the lines a node writes besides the one awaited: node index, first word,
/// other words; returns whether it was one it expected.
type OtherLine<'a> = dyn FnMut(usize, &str, &[String]) -> Result<bool, Error> + 'a;

/// The lines the nodes write, in arrival order.
struct Mailbox {
    rx: mpsc::Receiver<Mail>,
    t0: Instant,
    deadline: Instant,
}

impl Mailbox {
    /// Waits for one `<keyword> <words>...` line from every node, printing the progress lines
    /// that come meanwhile; returns each node's words, in node order.
    ///
    /// # Errors
    /// When a node exits first, writes any other line, or the deadline passes.
    fn gather(&self, keyword: &str) -> Result<Vec<Vec<String>>, Error> {
        self.gather_with(keyword, &mut |_, _, _| Ok(false))
    }

    /// As [`gather`](Self::gather), and passes every other line (node index, first word,
    /// other words) to `other`, which returns whether it was one it expected.
    fn gather_with(
        &self,
        keyword: &str,
        other: &mut OtherLine<'_>,
    ) -> Result<Vec<Vec<String>>, Error> {
        let mut got: Vec<Option<Vec<String>>> = vec![None; NODES.len()];
        while got.iter().any(Option::is_none) {
            let left = self.deadline.saturating_duration_since(Instant::now());
            let (i, line) = match self.rx.recv_timeout(left) {
                Ok(mail) => mail,
                Err(_) => {
                    let waiting: Vec<&str> = (0..NODES.len())
                        .filter(|&i| got[i].is_none())
                        .map(|i| NODES[i])
                        .collect();
                    return Err(format!(
                        "timed out after {} s waiting for `{keyword}` from {}",
                        TIMEOUT.as_secs(),
                        waiting.join(", ")
                    )
                    .into());
                }
            };
            let id = NODES[i];
            let Some(line) = line else {
                return Err(format!("{id} exited before it sent `{keyword}`").into());
            };
            let (word, rest) = line.split_once(' ').unwrap_or((&line, ""));
            if word == "say" {
                let (area, message) = rest.split_once(' ').unwrap_or((rest, ""));
                say(self.t0, id, area, message);
            } else if word == keyword && got[i].is_none() {
                got[i] = Some(rest.split_whitespace().map(str::to_string).collect());
            } else if other(
                i,
                word,
                &rest
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            )? {
                continue;
            } else {
                return Err(
                    format!("{id} sent {line:?} while the demo waited for `{keyword}`").into(),
                );
            }
        }
        Ok(got.into_iter().flatten().collect())
    }
}

/// The number in the `key=<number>` word of `words`, which `node` sent.
fn field(words: &[String], key: &str, node: &str) -> Result<u64, Error> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{node} sent no number {key}=: {words:?}").into())
}

fn say(t0: Instant, node: &str, area: &str, line: impl std::fmt::Display) {
    println!(
        "[{:7.3}s] {node:<5} {area:<8} {line}",
        t0.elapsed().as_secs_f64()
    );
}

fn check(ok: bool, what: String) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

// ---------------------------------------------------------------------------------------------
// A node process.

fn node_main(args: &[String]) -> Result<(), Error> {
    let [id, dir, jobs] = args else {
        return Err(
            format!("usage: cluster-demo node <id> <pem dir> <jobs> (got {args:?})").into(),
        );
    };
    let jobs: u64 = jobs
        .parse()
        .map_err(|e| format!("bad job count {jobs:?}: {e}"))?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run_node(id, Path::new(dir), jobs))
}

/// A progress line, for the coordinator to print (also from inside tasks: the line comes
/// from the process the task runs in).
fn report(area: &str, line: impl std::fmt::Display) {
    println!("say {area} {line}");
}

async fn run_node(id: &str, dir: &Path, jobs: u64) -> Result<(), Error> {
    let tls = TlsConfig::from_pem_files(
        dir.join("ca.pem"),
        dir.join(format!("{id}.pem")),
        dir.join(format!("{id}.key")),
    )
    .map_err(|e| format!("cannot load the TLS files in {}: {e}", dir.display()))?;
    let node = Node::builder(id)
        .workers(1)
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .tls(tls)
        .start()
        .await?;
    let addr = node.local_addr().ok_or("the node has no address")?;
    println!("listening {addr}");
    let mut coordinator = Coordinator::from_stdin();

    // Dial the peers named, then wait until every node counts as a member (the later ones dial
    // this one): channel homes are picked over the members, so every node must know all of
    // them before using a name.
    for peer in coordinator.next("peers").await? {
        let (want, addr) = peer
            .split_once('=')
            .ok_or_else(|| format!("bad peer {peer:?}: want <id>=<addr>"))?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| format!("bad address of {want}, {addr:?}: {e}"))?;
        let got = node.connect(addr).await?;
        check(
            got.as_str() == want,
            format!("{addr} is {got}, expected {want}"),
        )?;
    }
    let mesh_deadline = Instant::now() + MESH_TIMEOUT;
    while node.members().len() < NODES.len() {
        check(
            Instant::now() < mesh_deadline,
            format!("members are still {:?}", node.members()),
        )?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let peers: Vec<String> = node.peers().iter().map(|p| p.to_string()).collect();
    report("mesh", format_args!("connected to {}", peers.join(" and ")));

    // Held until the node exits, so no node forgets a channel while another still uses it.
    let jobs_ch = node.buffered_channel::<u64>("jobs", CAPACITY);
    let results = node.buffered_channel::<Answer>("results", CAPACITY);
    println!("ready {} {}", node.home_of("jobs"), node.home_of("results"));

    coordinator.next("go").await?;
    let mut answers = (id == ALPHA).then(|| Answers::start(&results));
    let done = match &mut answers {
        Some(answers) => {
            conduct(&node, &jobs_ch, &results, answers, jobs, &mut coordinator).await?
        }
        None if id == DRAINED => drain(&node, &mut coordinator).await?,
        None => {
            report(
                "work",
                "hosting whichever workers move here (their code is in this binary too)",
            );
            String::new()
        }
    };
    println!("done {done}");

    coordinator.next("finish").await?;
    // Every worker has returned: nothing more may arrive on "results".
    let extra = match answers {
        Some(answers) => {
            results.close();
            answers.drain().await?
        }
        None => 0,
    };
    let stats = node.cluster_stats();
    report(
        "stats",
        format_args!(
            "moves: {} out, {} in, {} failed; {} channel messages sent, {} received; {} resent, {} dropped",
            stats.moves_out, stats.moves_in, stats.moves_failed, stats.sent, stats.received, stats.resent, stats.dropped
        ),
    );
    coordinator.may_close();
    println!(
        "finished extra={extra} node_down={} moves_out={} moves_in={}",
        stats.node_down, stats.moves_out, stats.moves_in
    );

    coordinator.closed().await?;
    drop((jobs_ch, results));
    node.shutdown().await;
    Ok(())
}

/// `gamma`: when the coordinator says so, moves every worker running here to the other nodes
/// (`Node::drain`). Returns the `done` line's fields.
///
/// The drained node could shut down now as far as the workers' joins go: they are homed on
/// `alpha`, which spawned them, and a worker's outcome is routed to its home wherever it
/// ends. It stays up, running no task and refusing arrivals, because it is still a member of
/// the cluster — and the homes of named channels are picked over the members, so `"jobs"` or
/// `"results"` may live here: shutting it down would fail the channel operations with
/// `NodeDown`. A rolling restart would first move the channels' homes; tern does not yet.
async fn drain(node: &Node, coordinator: &mut Coordinator) -> Result<String, Error> {
    report("drain", "waiting to be drained");
    coordinator.next("drain").await?;
    let started = Instant::now();
    let drained = node.drain().await?;
    check(
        drained.failed == 0,
        format!(
            "draining {}: {} workers failed to move: {:?}",
            node.id(),
            drained.failed,
            drained.errors
        ),
    )?;
    let homes: Vec<&str> = ["jobs", "results"]
        .into_iter()
        .filter(|c| node.home_of(c) == *node.id())
        .collect();
    report(
        "drain",
        format_args!(
            "drained in {:.1} ms: {} workers moved to {} and {} ({} had ended); refusing arrivals from now on, up only as {}",
            started.elapsed().as_secs_f64() * 1000.0,
            drained.moved,
            NODES[0],
            NODES[1],
            drained.finished,
            if homes.is_empty() {
                "a member".to_string()
            } else {
                format!("the home of {}", homes.join(" and "))
            }
        ),
    );
    println!(
        "drained moved={} finished={}",
        drained.moved, drained.finished
    );
    Ok(format!("drained={}", drained.moved))
}

/// Moves the worker `w` to `to` by its handle, retrying while the worker is busy with another
/// move (a legitimate refusal); counts the move in `moves`.
async fn move_worker(
    handle: &TaskHandle<Tally>,
    w: u64,
    to: &str,
    moves: &mut u64,
) -> Result<(), Error> {
    let from = handle.location();
    for _ in 0..100 {
        match handle.move_to(to).await {
            Ok(()) => {
                *moves += 1;
                let at = handle.location();
                check(
                    at.as_str() == to,
                    format!("worker-{w} moved to {to}, its handle says it is on {at}"),
                )?;
                report(
                    "move",
                    format_args!(
                        "moved worker-{w} {from} -> {to} by its handle (move {moves} by handles)"
                    ),
                );
                return Ok(());
            }
            Err(MoveError::Busy { .. }) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => return Err(format!("moving worker-{w} {from} -> {to}: {e}").into()),
        }
    }
    Err(format!("worker-{w} stayed busy: no move {from} -> {to}").into())
}

/// The next node after `at` among `nodes`, in a cycle.
fn next_node<'a>(nodes: &[&'a str], at: &str) -> &'a str {
    let i = nodes.iter().position(|n| *n == at).map_or(0, |i| i + 1);
    nodes[i % nodes.len()]
}

/// Per-worker bookkeeping of the answers collected.
#[derive(Default)]
struct Seen {
    /// `counts[c]`: the answer stamped with count `c` arrived.
    counts: Vec<bool>,
    answers: u64,
    sum: u64,
    /// The running sum stamped on the answer with the highest count.
    last_sum: u64,
}

/// `alpha`: spawns the workers and places them, runs the producers, collects and checks the
/// answers, moves workers by their handles while they work, asks for `gamma`'s drain, then
/// joins everything and checks each worker's tally. Returns the `done` line's fields.
async fn conduct(
    node: &Node,
    jobs_ch: &Channel<u64>,
    results: &Channel<Answer>,
    answers: &mut Answers,
    jobs: u64,
    coordinator: &mut Coordinator,
) -> Result<String, Error> {
    // The wanderer does about a sixth of the jobs: it moves itself in its first half.
    let hop_every = (jobs / WORKERS / 4).max(1);
    let workers: Vec<TaskHandle<Tally>> = (0..WORKERS)
        .map(|w| {
            let hops = if w == WANDERER { hop_every } else { 0 };
            node.spawn(stage(jobs_ch.clone(), results.clone(), w, hops))
        })
        .collect();
    report(
        "work",
        format_args!(
            "{WORKERS} #[migratable] stage workers spawned here (their home): \"jobs\" → square, keep count and sum → \"results\"; worker-{WANDERER} moves itself after every {hop_every} jobs, {SELF_MOVES} times"
        ),
    );
    let mut by_handle = 0u64;
    for (w, to) in PLACEMENT.iter().enumerate() {
        if *to != ALPHA {
            move_worker(&workers[w], w as u64, to, &mut by_handle).await?;
        }
    }

    report(
        "jobs",
        format_args!(
            "{PRODUCERS} producer tasks sending jobs 1..={jobs} on \"jobs\" (buffered, {CAPACITY}), about {} a second",
            PRODUCERS * BATCH * 1000 / PAUSE.as_millis() as u64
        ),
    );
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| node.spawn(produce(jobs_ch.clone(), p + 1, jobs, PRODUCERS)))
        .collect();

    let move_every = (jobs / 24).max(1);
    let drain_at = jobs * 2 / 5;
    let mut drain_asked = false;
    let mut step = 0u64;
    let n = usize::try_from(jobs)?;
    let mut done = vec![false; n + 1];
    let mut sum = 0u64;
    let mut seen: Vec<Seen> = (0..WORKERS).map(|_| Seen::default()).collect();
    let mut by_node: BTreeMap<String, u64> = NODES.iter().map(|id| (id.to_string(), 0)).collect();
    for k in 1..=jobs {
        let answer = answers
            .next()
            .await
            .map_err(|e| format!("{e} after {} answers", k - 1))?;
        let job = usize::try_from(answer.job)?;
        check(
            (1..=n).contains(&job),
            format!("an answer to job {job}, which was never sent: {answer:?}"),
        )?;
        check(!done[job], format!("job {job} answered twice: {answer:?}"))?;
        check(
            answer.square == answer.job * answer.job,
            format!("a wrong square: {answer:?}"),
        )?;
        done[job] = true;
        sum += answer.square;
        let s = seen
            .get_mut(usize::try_from(answer.worker)?)
            .ok_or_else(|| format!("an answer from an unknown worker: {answer:?}"))?;
        let c = usize::try_from(answer.count)?;
        if s.counts.len() <= c {
            s.counts.resize(c + 1, false);
        }
        check(
            c > 0 && !s.counts[c],
            format!(
                "worker-{} stamped count {c} twice: {answer:?}",
                answer.worker
            ),
        )?;
        s.counts[c] = true;
        s.answers += 1;
        s.sum += answer.square;
        if c + 1 == s.counts.len() {
            s.last_sum = answer.sum;
        }
        *by_node
            .get_mut(&answer.node)
            .ok_or_else(|| format!("an answer from an unknown node: {answer:?}"))? += 1;

        if k == drain_at {
            // Two workers on gamma at least, then no more moves there: the drain moves them.
            for w in [2, 3] {
                if workers[w].location().as_str() != DRAINED {
                    move_worker(&workers[w], w as u64, DRAINED, &mut by_handle).await?;
                }
            }
            drain_asked = true;
            report(
                "drain",
                format_args!("{k} of {jobs} answers in: asking for {DRAINED} to be drained"),
            );
            println!("drain");
        } else if k % move_every == 0 {
            // The next worker in turn (not the wanderer, which moves itself), to the next node.
            let w = step % WANDERER;
            step += 1;
            let handle = &workers[w as usize];
            let at = handle.location();
            let to = if drain_asked {
                (at.as_str() != DRAINED).then(|| next_node(&[ALPHA, NODES[1]], at.as_str()))
            } else {
                Some(next_node(&NODES, at.as_str()))
            };
            if let Some(to) = to {
                move_worker(handle, w, to, &mut by_handle).await?;
            }
        }
        if k % (jobs / 4).max(1) == 0 {
            let split: Vec<String> = by_node.iter().map(|(n, c)| format!("{n} {c}")).collect();
            report(
                "results",
                format_args!(
                    "{k} of {jobs} answers in, each job once so far (answered on {})",
                    split.join(", ")
                ),
            );
        }
    }

    // The drain is done (and reported) before the workers may end.
    let drained = coordinator.next("drained").await?;
    let drain_moved = field(&drained, "moved", DRAINED)?;
    let mut sent = 0;
    for p in producers {
        sent += p.join().await?;
    }
    check(
        sent == jobs,
        format!("the producers sent {sent} of {jobs} jobs"),
    )?;
    jobs_ch.close();
    // Joined here, at home, wherever each worker ended: its outcome was routed home.
    let mut by_self = 0;
    for (w, handle) in workers.into_iter().enumerate() {
        let tally = handle
            .join()
            .await
            .map_err(|e| format!("joining worker-{w}: {e}"))?;
        let s = &seen[w];
        check(
            tally.count == s.answers
                && s.counts.len() as u64 == tally.count + 1
                && tally.sum == s.sum
                && (tally.count == 0 || s.last_sum == tally.sum),
            format!(
                "worker-{w} says {} jobs with sum {}, its answers say {} jobs with sum {} (last stamped sum {})",
                tally.count, tally.sum, s.answers, s.sum, s.last_sum
            ),
        )?;
        by_self += tally.self_moves;
        report(
            "join",
            format_args!(
                "worker-{w} joined at home, ended on {} after {} hops ({} by itself): {} jobs, sum {} = its answers ✓",
                tally.node, tally.hops, tally.self_moves, tally.count, tally.sum
            ),
        );
    }
    let split: Vec<String> = by_node.iter().map(|(n, c)| format!("{n} {c}")).collect();
    report(
        "results",
        format_args!(
            "{jobs} of {jobs} answers, each job once, squares sum to {sum} ✓ (answered on {}); {} moves: {by_handle} by handles, {by_self} self, {drain_moved} by the drain",
            split.join(", "),
            by_handle + by_self + drain_moved
        ),
    );
    Ok(format!(
        "collected={jobs} sum={sum} by_handle={by_handle} by_self={by_self}"
    ))
}

/// `alpha`'s receivers on `"results"`: several, so that their round trips to the channel's
/// home overlap. They forward what they receive, and the error that ends each, to one queue.
struct Answers {
    queue: tokio::sync::mpsc::UnboundedReceiver<Result<Answer, ChannelError>>,
    running: usize,
}

impl Answers {
    fn start(results: &Channel<Answer>) -> Answers {
        let (tx, queue) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..COLLECTORS {
            let (results, tx) = (results.clone(), tx.clone());
            tokio::spawn(async move {
                loop {
                    let received = results.recv().await;
                    let end = received.is_err();
                    if tx.send(received).is_err() || end {
                        break;
                    }
                }
            });
        }
        Answers {
            queue,
            running: COLLECTORS,
        }
    }

    /// The next answer.
    async fn next(&mut self) -> Result<Answer, Error> {
        match self.queue.recv().await {
            Some(Ok(answer)) => Ok(answer),
            Some(Err(e)) => Err(format!("receiving on \"results\": {e}").into()),
            None => Err("the receivers of \"results\" are gone".into()),
        }
    }

    /// Once `"results"` is closed: counts (and reports) the answers that still arrive until
    /// every receiver has seen the channel closed and empty.
    async fn drain(mut self) -> Result<u64, Error> {
        let mut extra = 0;
        while self.running > 0 {
            match self.queue.recv().await {
                Some(Ok(answer)) => {
                    extra += 1;
                    report(
                        "results",
                        format_args!("an answer after the last one: {answer:?}"),
                    );
                }
                Some(Err(ChannelError::Closed)) => self.running -= 1,
                Some(Err(e)) => return Err(format!("draining \"results\": {e}").into()),
                None => return Err("the receivers of \"results\" are gone".into()),
            }
        }
        Ok(extra)
    }
}

/// The coordinator's commands, read from stdin by a thread.
struct Coordinator {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    may_close: Arc<AtomicBool>,
}

impl Coordinator {
    /// Starts the thread that reads stdin. If stdin closes before [`may_close`](Self::may_close)
    /// (the coordinator went away), the thread ends the process with a failure, whatever the
    /// node is doing.
    fn from_stdin() -> Coordinator {
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let may_close = Arc::new(AtomicBool::new(false));
        let closing = Arc::clone(&may_close);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    return;
                }
            }
            if !closing.load(Ordering::Acquire) {
                eprintln!("cluster-demo node: the coordinator went away; exiting");
                std::process::exit(2);
            }
        });
        Coordinator { lines, may_close }
    }

    /// From now on, stdin closing is the signal to exit.
    fn may_close(&self) {
        self.may_close.store(true, Ordering::Release);
    }

    /// Waits for the command `word` and returns its arguments.
    async fn next(&mut self, word: &str) -> Result<Vec<String>, Error> {
        let line = self
            .lines
            .recv()
            .await
            .ok_or_else(|| format!("the coordinator went away before `{word}`"))?;
        let mut words = line.split_whitespace().map(str::to_string);
        match words.next() {
            Some(w) if w == word => Ok(words.collect()),
            _ => Err(format!("expected `{word}` from the coordinator, got {line:?}").into()),
        }
    }

    /// Waits for the coordinator to close stdin: the signal to exit.
    async fn closed(&mut self) -> Result<(), Error> {
        match self.lines.recv().await {
            None => Ok(()),
            Some(line) => Err(format!("unexpected command {line:?}").into()),
        }
    }
}
