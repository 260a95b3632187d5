//! The coordinator process: makes the cluster's PEM files, starts the node processes and
//! checks what they report.

use super::*;

// ---------------------------------------------------------------------------------------------
// The coordinator.

pub(crate) fn coordinate(args: &[String]) -> Result<(), Error> {
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

pub(crate) fn parse_jobs(args: &[String]) -> Result<u64, Error> {
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
pub(crate) fn write_pem_files(dir: &Path) -> Result<(), Error> {
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
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn create() -> Result<TempDir, Error> {
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

    pub(crate) fn path(&self) -> &Path {
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
pub(crate) struct Nodes {
    pub(crate) children: Vec<Child>,
    pub(crate) stdins: Vec<Option<ChildStdin>>,
}

/// A line a node wrote on its stdout (`None`: its stdout closed), with the node's index.
pub(crate) type Mail = (usize, Option<String>);

impl Nodes {
    /// Starts every node as `<this program> node <id> <pem dir> <jobs>`, with a thread per
    /// node that forwards its stdout lines to the returned mailbox.
    pub(crate) fn start(
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
    pub(crate) fn tell(&mut self, i: usize, line: &str) -> Result<(), Error> {
        let stdin = self.stdins[i]
            .as_mut()
            .ok_or_else(|| format!("{}'s stdin is closed", NODES[i]))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to {}: {e}", NODES[i]).into())
    }

    pub(crate) fn tell_all(&mut self, line: &str) -> Result<(), Error> {
        (0..NODES.len()).try_for_each(|i| self.tell(i, line))
    }

    /// Closes every node's stdin (the signal to shut down) and waits until `deadline` for
    /// every node to exit successfully.
    pub(crate) fn finish(&mut self, deadline: Instant) -> Result<(), Error> {
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
pub(crate) type OtherLine<'a> = dyn FnMut(usize, &str, &[String]) -> Result<bool, Error> + 'a;

/// The lines the nodes write, in arrival order.
pub(crate) struct Mailbox {
    pub(crate) rx: mpsc::Receiver<Mail>,
    pub(crate) t0: Instant,
    pub(crate) deadline: Instant,
}

impl Mailbox {
    /// Waits for one `<keyword> <words>...` line from every node, printing the progress lines
    /// that come meanwhile; returns each node's words, in node order.
    ///
    /// # Errors
    /// When a node exits first, writes any other line, or the deadline passes.
    pub(crate) fn gather(&self, keyword: &str) -> Result<Vec<Vec<String>>, Error> {
        self.gather_with(keyword, &mut |_, _, _| Ok(false))
    }

    /// As [`gather`](Self::gather), and passes every other line (node index, first word,
    /// other words) to `other`, which returns whether it was one it expected.
    pub(crate) fn gather_with(
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
pub(crate) fn field(words: &[String], key: &str, node: &str) -> Result<u64, Error> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{node} sent no number {key}=: {words:?}").into())
}

pub(crate) fn say(t0: Instant, node: &str, area: &str, line: impl std::fmt::Display) {
    println!(
        "[{:7.3}s] {node:<5} {area:<8} {line}",
        t0.elapsed().as_secs_f64()
    );
}

pub(crate) fn check(ok: bool, what: String) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}
