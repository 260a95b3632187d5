//! The cluster demo: three node processes exchange jobs and results over named channels, on
//! QUIC with mutual TLS, narrated.
//!
//! Run without arguments, this program is the **coordinator**. It:
//!
//! 1. makes a cluster CA in a fresh temporary directory and writes the CA certificate and a
//!    certificate and key for each of the nodes `alpha`, `beta` and `gamma` (the CA's own key
//!    is never written: it lives and dies in this process);
//! 2. starts the three nodes as processes of its own binary (`cluster-demo node <id> <dir>
//!    <jobs>`), reads the address each listens on, and tells each node the addresses of the
//!    nodes started before it to dial, so that every pair of nodes is connected before any
//!    channel is used;
//! 3. checks that every node puts the homes of `"jobs"` and `"results"` on the same node,
//!    then lets them run: `alpha`'s producer tasks send numbered jobs on the buffered channel
//!    `"jobs"`; `beta` and `gamma` each run `#[migratable]` worker tasks that square the jobs
//!    and send the answers on `"results"`; `alpha` collects and checks them;
//! 4. cross-checks what the nodes report — every job answered exactly once, the sum of the
//!    squares, each node's count of jobs as seen by `alpha` and by the node itself — has
//!    `alpha` close `"results"` and find it empty, and lets the nodes exit.
//!
//! The nodes' progress lines are forwarded with the node's name. Any failed check, a node
//! that exits early, or a run longer than 60 seconds ends the demo with a non-zero status
//! (and the node processes killed).
//!
//! Run: `cargo run --release -p tern-examples --bin cluster-demo [-- --jobs N]` (default
//! 10 000 jobs).
//!
//! # The coordinator's line protocol
//!
//! A node writes one line per event on its stdout: `listening <addr>`, `ready <jobs home>
//! <results home>`, `done <key=value>...`, `finished <key=value>...`, and `say <area>
//! <message>` for a progress line. The coordinator writes one line per step on the node's
//! stdin: `peers <id>=<addr>...`, `go`, `finish`; then it closes the node's stdin, and the
//! node shuts down and exits. A node whose stdin closes early (the coordinator went away)
//! exits with a failure.

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
use tern::{migratable, Channel, ChannelError, Node, NodeId};

type Error = Box<dyn std::error::Error>;

/// The nodes, in the order the coordinator starts them. `alpha` produces and collects; the
/// others work.
const NODES: [&str; 3] = ["alpha", "beta", "gamma"];
/// Jobs sent when `--jobs` is not given.
const DEFAULT_JOBS: u64 = 10_000;
/// The most jobs `--jobs` accepts (so that the sum of the squares fits a `u64`).
const MAX_JOBS: u64 = 1_000_000;
/// Producer tasks on `alpha`.
const PRODUCERS: u64 = 2;
/// Worker tasks on each of `beta` and `gamma`.
const WORKERS: u32 = 4;
/// Receivers of `"results"` on `alpha`.
const COLLECTORS: usize = 4;
/// Room in each of `"jobs"` and `"results"`.
const CAPACITY: usize = 64;
/// The longest the whole run may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a node waits for its connections to be counted as members.
const MESH_TIMEOUT: Duration = Duration::from_secs(10);

/// A worker's answer to one job.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Answer {
    /// The job: a number from 1 to the number of jobs.
    job: u64,
    /// Its square.
    square: u64,
    /// The worker that answered, `<node>-<index>`.
    worker: String,
}

/// Sends the jobs `first`, `first + step`, ... up to `last` on `jobs`; returns how many it
/// sent.
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
    }
    sent
}

/// Squares every job from `jobs` and sends the answer to `results`, until `jobs` is closed
/// and empty; returns how many jobs it answered.
#[migratable]
async fn square(jobs: Channel<u64>, results: Channel<Answer>, worker: String) -> u64 {
    let mut answered: u64 = 0;
    while let Ok(job) = jobs.recv().await {
        let answer = Answer {
            job,
            square: job * job,
            worker: worker.clone(),
        };
        if results.send(answer).await.is_err() {
            return answered;
        }
        answered += 1;
    }
    answered
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
    let done = mail.gather("done")?;
    let work_time = work_start.elapsed();
    let alpha = &done[0];
    let collected = field(alpha, "collected", "alpha")?;
    let sum = field(alpha, "sum", "alpha")?;
    let expected_sum: u64 = (1..=jobs).map(|j| j * j).sum();
    check(
        collected == jobs,
        format!("alpha collected {collected} answers to {jobs} jobs"),
    )?;
    check(
        sum == expected_sum,
        format!("the squares sum to {sum}, expected {expected_sum}"),
    )?;
    let mut worked_total = 0;
    for (i, id) in NODES.iter().enumerate().skip(1) {
        let worked = field(&done[i], "worked", id)?;
        let seen = field(alpha, id, "alpha")?;
        check(
            worked == seen,
            format!("{id} answered {worked} jobs, alpha got {seen} answers from it"),
        )?;
        worked_total += worked;
    }
    check(
        worked_total == jobs,
        format!("the workers answered {worked_total} jobs, {jobs} were sent"),
    )?;
    say(
        t0,
        "coord",
        "check",
        format_args!(
            "{jobs} jobs answered once each in {:.2} s ({:.0} jobs/s across 3 processes) ✓",
            work_time.as_secs_f64(),
            jobs as f64 / work_time.as_secs_f64()
        ),
    );

    nodes.tell_all("finish")?;
    let finished = mail.gather("finished")?;
    let extra = field(&finished[0], "extra", "alpha")?;
    check(
        extra == 0,
        format!("{extra} answers left in \"results\" after all jobs were answered"),
    )?;
    let mut node_down = 0;
    for (i, id) in NODES.iter().enumerate() {
        node_down += field(&finished[i], "node_down", id)?;
    }
    check(
        node_down == 0,
        format!("{node_down} channel operations failed with NodeDown"),
    )?;

    nodes.finish(deadline)?;
    say(
        t0,
        "coord",
        "cluster",
        "every node shut down and exited cleanly",
    );
    println!(
        "verified: {jobs} jobs squared across {} processes over QUIC + mutual TLS, sum of squares {sum}; 0 lost, 0 duplicated",
        NODES.len()
    );
    Ok(())
}

fn parse_jobs(args: &[String]) -> Result<u64, Error> {
    match args {
        [] => Ok(DEFAULT_JOBS),
        [flag, n] if flag == "--jobs" => match n.parse::<u64>() {
            Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
            _ => Err(format!("--jobs takes a number from 1 to {MAX_JOBS}, not {n:?}").into()),
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

/// A progress line, for the coordinator to print.
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
    let mut answers = (id == NODES[0]).then(|| Answers::start(&results));
    let done = match &mut answers {
        Some(answers) => produce_and_collect(&node, &jobs_ch, answers, jobs).await?,
        None => work(&node, &jobs_ch, &results).await?,
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
            "{} channel messages sent, {} received; {} resent, {} repeats, {} dropped",
            stats.sent, stats.received, stats.resent, stats.repeats, stats.dropped
        ),
    );
    coordinator.may_close();
    println!("finished extra={extra} node_down={}", stats.node_down);

    coordinator.closed().await?;
    drop((jobs_ch, results));
    node.shutdown().await;
    Ok(())
}

/// `alpha`: producer tasks send the jobs 1..=`jobs` while this collects and checks the
/// answers; then closes `"jobs"`. Returns the `done` line's fields.
async fn produce_and_collect(
    node: &Node,
    jobs_ch: &Channel<u64>,
    answers: &mut Answers,
    jobs: u64,
) -> Result<String, Error> {
    report(
        "jobs",
        format_args!(
            "{PRODUCERS} producer tasks sending jobs 1..={jobs} on \"jobs\" (buffered, {CAPACITY})"
        ),
    );
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| node.spawn(produce(jobs_ch.clone(), p + 1, jobs, PRODUCERS)))
        .collect();
    let n = usize::try_from(jobs)?;
    let mut seen = vec![false; n + 1];
    let mut sum = 0u64;
    let mut by_node: BTreeMap<String, u64> =
        NODES[1..].iter().map(|id| (id.to_string(), 0)).collect();
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
        check(!seen[job], format!("job {job} answered twice: {answer:?}"))?;
        check(
            answer.square == answer.job * answer.job,
            format!("a wrong square: {answer:?}"),
        )?;
        seen[job] = true;
        sum += answer.square;
        let worker_node = answer
            .worker
            .rsplit_once('-')
            .map_or(answer.worker.as_str(), |(node, _)| node);
        *by_node
            .get_mut(worker_node)
            .ok_or_else(|| format!("an answer from an unknown worker: {answer:?}"))? += 1;
        if k == jobs / 2 {
            report(
                "results",
                format_args!("{k} of {jobs} answers in, each job once so far"),
            );
        }
    }
    let mut sent = 0;
    for p in producers {
        sent += p.join().await?;
    }
    check(
        sent == jobs,
        format!("the producers sent {sent} of {jobs} jobs"),
    )?;
    jobs_ch.close();
    let split: Vec<String> = by_node.iter().map(|(n, c)| format!("{n} {c}")).collect();
    report(
        "results",
        format_args!(
            "{jobs} of {jobs} answers, each job once, squares sum to {sum} ✓ ({}); \"jobs\" closed",
            split.join(", ")
        ),
    );
    let counts: Vec<String> = by_node.iter().map(|(n, c)| format!("{n}={c}")).collect();
    Ok(format!("collected={jobs} sum={sum} {}", counts.join(" ")))
}

/// `beta` and `gamma`: worker tasks square jobs until `"jobs"` is closed and empty. Returns
/// the `done` line's fields.
async fn work(
    node: &Node,
    jobs_ch: &Channel<u64>,
    results: &Channel<Answer>,
) -> Result<String, Error> {
    report(
        "work",
        format_args!("{WORKERS} #[migratable] worker tasks: \"jobs\" → square → \"results\""),
    );
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            node.spawn(square(
                jobs_ch.clone(),
                results.clone(),
                format!("{}-{w}", node.id()),
            ))
        })
        .collect();
    let mut answered = Vec::new();
    for w in workers {
        answered.push(w.join().await?);
    }
    let total: u64 = answered.iter().sum();
    report(
        "work",
        format_args!("\"jobs\" closed: {total} jobs squared ({answered:?} per worker)"),
    );
    Ok(format!("worked={total}"))
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
