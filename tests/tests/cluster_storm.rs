//! The acceptance storm of live migration: over real QUIC between three nodes, 100
//! `#[migratable]` relays are each moved at least 10 times, at whatever suspension point they
//! are at (a receive or a send, waiting at a remote home or not), while 4 producers stream
//! 100,000 messages through them. The history checker (`tern_net::sim::check`) then shows
//! no loss, no duplicate and FIFO per sender; every relay numbers what it forwards, so a
//! second live incarnation would show as a repeated or skipped number; every join is right.
//!
//! The seed of the move schedule is printed; `TERN_STORM_SEED=<n>` replays a schedule (the
//! network's timing still varies).
//!
//! The default run streams 10,000 messages (2,500 per producer) so that the test suite stays
//! within its time budget in a debug build; `TERN_STORM_MESSAGES=100000` runs the full
//! acceptance size (about 2 minutes in a debug build on 2 cores).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern::{migratable, Channel, MoveError};
use tern_net::sim::{check, CheckConfig, Event, History, SendResult};
use tern_tests::cluster::{cluster, name_homed_at, shutdown};

/// What a relay forwards: (relay, its forward number, sender, sender's seq, node index).
type Fwd = (u64, u64, u64, u32, u64);

#[migratable(name = "storm::relay")]
async fn relay(id: u64, input: Channel<(u64, u32)>, output: Channel<Fwd>) -> u64 {
    let mut n: u64 = 0;
    while let Ok(v) = input.recv().await {
        let here: u64 = node_index();
        output.send((id, n, v.0, v.1, here)).await.expect("forward");
        n += 1;
    }
    n
}

fn node_index() -> u64 {
    let node = tern::current_node().expect("runs on a node");
    u64::from(
        node.id()
            .as_str()
            .as_bytes()
            .last()
            .copied()
            .unwrap_or(b'a')
            - b'a',
    )
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_tasks_moved_ten_times_each_while_four_producers_stream_100k_messages() {
    const RELAYS: u64 = 100;
    const PRODUCERS: u64 = 4;
    const MOVES_EACH: u32 = 10;
    let messages: u64 = std::env::var("TERN_STORM_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let per_producer = u32::try_from(messages / PRODUCERS).expect("a sane size");
    let total = PRODUCERS * u64::from(per_producer);
    let seed = std::env::var("TERN_STORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("storm seed {seed} (TERN_STORM_SEED={seed} replays the move schedule)");

    let nodes = cluster(&["storm-a", "storm-b", "storm-c"]).await;
    let ids: Vec<String> = nodes.iter().map(|n| n.id().to_string()).collect();
    let input = name_homed_at(&nodes, "storm-in", &nodes[1]);
    let output = name_homed_at(&nodes, "storm-out", &nodes[2]);
    let start = Instant::now();
    let history = Arc::new(Mutex::new(History::new()));
    let record = {
        let history = Arc::clone(&history);
        Arc::new(move |event: Event| history.lock().unwrap().push(start.elapsed(), event))
    };

    // The relays are spawned on a: their handles and joins are there.
    let mut handles: Vec<_> = (0..RELAYS)
        .map(|id| {
            nodes[0].spawn(relay(
                id,
                nodes[0].buffered_channel(&input, 64),
                nodes[0].buffered_channel(&output, 1024),
            ))
        })
        .collect();

    // The collector records what the relays forward, in the order each relay forwarded it.
    let collector = {
        let out = nodes[0].buffered_channel::<Fwd>(&output, 1024);
        let record = Arc::clone(&record);
        tokio::spawn(async move {
            let mut next: HashMap<u64, u64> = HashMap::new();
            let mut per_relay: HashMap<u64, u64> = HashMap::new();
            for _ in 0..total {
                let (relay, n, sender, seq, node) =
                    tokio::time::timeout(Duration::from_secs(60), out.recv())
                        .await
                        .expect("the stream keeps flowing")
                        .expect("recv");
                let expected = next.entry(relay).or_insert(0);
                assert_eq!(
                    n, *expected,
                    "relay {relay} forwarded #{n} where #{expected} was due: two incarnations, or a lost forward"
                );
                *expected += 1;
                *per_relay.entry(relay).or_insert(0) += 1;
                record(Event::Deliver {
                    receiver: relay,
                    chan: 0,
                    sender,
                    seq,
                    node: node as usize,
                    epoch: 0,
                });
            }
            per_relay
        })
    };

    // Four producers, on a, b, c and b.
    let producers: Vec<_> = [0usize, 1, 2, 1]
        .iter()
        .enumerate()
        .map(|(key, &n)| {
            let ch = nodes[n].buffered_channel::<(u64, u32)>(&input, 64);
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                for seq in 0..per_producer {
                    record(Event::Send {
                        sender: key as u64,
                        chan: 0,
                        seq,
                    });
                    ch.send((key as u64, seq)).await.expect("send");
                    record(Event::SendDone {
                        sender: key as u64,
                        seq,
                        result: SendResult::Sent,
                    });
                }
            })
        })
        .collect();

    // The mover: every relay moves at least MOVES_EACH times, to a random other node, in a
    // random order, while the stream flows.
    let mut rng = Rng(seed);
    let mut moves = vec![0u32; RELAYS as usize];
    let mut busy = 0u32;
    let mut rounds = 0;
    while moves.iter().any(|&m| m < MOVES_EACH) {
        rounds += 1;
        let i = (rng.next() % RELAYS) as usize;
        let here = handles[i].location();
        let others: Vec<&String> = ids.iter().filter(|id| **id != here.as_str()).collect();
        let to = others[(rng.next() % others.len() as u64) as usize];
        match handles[i].move_to(to).await {
            Ok(()) => moves[i] += 1,
            // A move refused as busy (the target is settling an earlier move of it) is retried.
            Err(MoveError::Busy { .. }) => busy += 1,
            Err(e) => panic!("move {rounds} of relay {i} {here} -> {to}: {e}"),
        }
        if rounds % 200 == 0 {
            eprintln!(
                "[{:?}] {rounds} moves tried, fewest per relay {}",
                start.elapsed(),
                moves.iter().min().unwrap()
            );
        }
    }
    let moved: u32 = moves.iter().sum();
    eprintln!(
        "[{:?}] moves done: {moved} ({busy} busy refusals retried)",
        start.elapsed()
    );
    // No relay may end before its input closes (one that failed shows its report here).
    let mut waited = 0;
    while !collector.is_finished() {
        if let Some(i) = handles.iter().position(|h| h.is_finished()) {
            let h = handles.swap_remove(i);
            panic!("a relay ended early: {:?}", h.join().await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
        if waited % 100 == 0 && std::env::var("TERN_STORM_DEBUG").is_ok() {
            let i = nodes[1].buffered_channel::<(u64, u32)>(&input, 64);
            let o = nodes[2].buffered_channel::<Fwd>(&output, 1024);
            eprintln!(
                "input at home: balance {} len {}; output at home: balance {} len {}",
                i.balance(),
                i.len(),
                o.balance(),
                o.len()
            );
            let fin: Vec<usize> = handles
                .iter()
                .enumerate()
                .filter(|(_, h)| h.is_finished())
                .map(|(i, _)| i)
                .collect();
            let mut at = std::collections::BTreeMap::new();
            for h in &handles {
                *at.entry(h.location().to_string()).or_insert(0) += 1;
            }
            eprintln!("finished {fin:?}; locations {at:?}");
            eprintln!(
                "[{:?}] waiting for the stream; stats {:?}",
                start.elapsed(),
                nodes.iter().map(|n| n.cluster_stats()).collect::<Vec<_>>()
            );
        }
    }
    for p in producers {
        p.await.unwrap();
    }
    let per_relay = collector.await.unwrap();
    nodes[1].buffered_channel::<(u64, u32)>(&input, 64).close();
    let mut joined_total = 0;
    for (id, h) in handles.into_iter().enumerate() {
        let n = tokio::time::timeout(Duration::from_secs(60), h.join())
            .await
            .expect("join within a minute")
            .expect("relay joined");
        assert_eq!(
            n,
            per_relay.get(&(id as u64)).copied().unwrap_or(0),
            "relay {id}'s join"
        );
        joined_total += n;
    }
    assert_eq!(joined_total, total);
    record(Event::End { complete: true });

    let history = history.lock().unwrap().clone();
    assert_eq!(history.deliveries() as u64, total);
    let violations = check(
        &history,
        &CheckConfig {
            resume_within: Duration::from_secs(3600),
        },
    );
    assert!(
        violations.is_empty(),
        "seed {seed}: {} violations, first: {:?}",
        violations.len(),
        violations.first()
    );
    let out: u64 = nodes.iter().map(|n| n.cluster_stats().moves_out).sum();
    let failed: u64 = nodes.iter().map(|n| n.cluster_stats().moves_failed).sum();
    assert!(out >= u64::from(moved), "{out} moves counted, {moved} made");
    eprintln!(
        "{total} messages through {RELAYS} relays with {moved} moves ({failed} failed and retried) in {:?}",
        start.elapsed()
    );
    shutdown(nodes).await;
}
