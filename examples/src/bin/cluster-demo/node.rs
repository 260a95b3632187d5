//! A node process: runs its share of the pipeline and reports to the coordinator.

use super::*;

// ---------------------------------------------------------------------------------------------
// A node process.

pub(crate) fn node_main(args: &[String]) -> Result<(), Error> {
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
pub(crate) fn report(area: &str, line: impl std::fmt::Display) {
    println!("say {area} {line}");
}

pub(crate) async fn run_node(id: &str, dir: &Path, jobs: u64) -> Result<(), Error> {
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
pub(crate) async fn drain(node: &Node, coordinator: &mut Coordinator) -> Result<String, Error> {
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
pub(crate) async fn move_worker(
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
pub(crate) fn next_node<'a>(nodes: &[&'a str], at: &str) -> &'a str {
    let i = nodes.iter().position(|n| *n == at).map_or(0, |i| i + 1);
    nodes[i % nodes.len()]
}

/// Per-worker bookkeeping of the answers collected.
#[derive(Default)]
pub(crate) struct Seen {
    /// `counts[c]`: the answer stamped with count `c` arrived.
    pub(crate) counts: Vec<bool>,
    pub(crate) answers: u64,
    pub(crate) sum: u64,
    /// The running sum stamped on the answer with the highest count.
    pub(crate) last_sum: u64,
}

/// `alpha`: spawns the workers and places them, runs the producers, collects and checks the
/// answers, moves workers by their handles while they work, asks for `gamma`'s drain, then
/// joins everything and checks each worker's tally. Returns the `done` line's fields.
pub(crate) async fn conduct(
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
pub(crate) struct Answers {
    pub(crate) queue: tokio::sync::mpsc::UnboundedReceiver<Result<Answer, ChannelError>>,
    pub(crate) running: usize,
}

impl Answers {
    pub(crate) fn start(results: &Channel<Answer>) -> Answers {
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
    pub(crate) async fn next(&mut self) -> Result<Answer, Error> {
        match self.queue.recv().await {
            Some(Ok(answer)) => Ok(answer),
            Some(Err(e)) => Err(format!("receiving on \"results\": {e}").into()),
            None => Err("the receivers of \"results\" are gone".into()),
        }
    }

    /// Once `"results"` is closed: counts (and reports) the answers that still arrive until
    /// every receiver has seen the channel closed and empty.
    pub(crate) async fn drain(mut self) -> Result<u64, Error> {
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
pub(crate) struct Coordinator {
    pub(crate) lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    pub(crate) may_close: Arc<AtomicBool>,
}

impl Coordinator {
    /// Starts the thread that reads stdin. If stdin closes before [`may_close`](Self::may_close)
    /// (the coordinator went away), the thread ends the process with a failure, whatever the
    /// node is doing.
    pub(crate) fn from_stdin() -> Coordinator {
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
    pub(crate) fn may_close(&self) {
        self.may_close.store(true, Ordering::Release);
    }

    /// Waits for the command `word` and returns its arguments.
    pub(crate) async fn next(&mut self, word: &str) -> Result<Vec<String>, Error> {
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
    pub(crate) async fn closed(&mut self) -> Result<(), Error> {
        match self.lines.recv().await {
            None => Ok(()),
            Some(line) => Err(format!("unexpected command {line:?}").into()),
        }
    }
}
