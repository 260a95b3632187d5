//! The migration-storm sweep (issue 5): over a thousand seeded runs in which parties freeze
//! and move between nodes with the real migration protocol (`proto::migrate::Migrations`:
//! offer, held install, commit, refusal) over the in-memory network with loss, reordering,
//! duplication, delay and partitions, while the source or the target of a move crashes at a
//! protocol phase. Each run is checked for I1, I2, I3, I4 and I6 (RELIABILITY.md).
//!
//! - `cargo test -p tern-net --test sim_migration` runs storms `0..1024` in four shards.
//! - `TERN_SIM_SEED=<n>` runs only storm `n` and prints its whole trace.
//! - `TERN_SIM_SEEDS=<count>` (and `TERN_SIM_SEED_START=<first>`) runs more, e.g.
//!   `TERN_SIM_SEEDS=100000 cargo test --release -p tern-net --test sim_migration`.
//!
//! A failing seed prints its number, the violations and the end of its trace; once fixed,
//! it becomes a test in `sim_regressions.rs`.

use std::env;

use tern_net::sim::{run_storm, SimStats};

/// Storms run by default (in CI).
const CI_SEEDS: u64 = 1024;
const SHARDS: u64 = 4;

fn env_u64(name: &str) -> Option<u64> {
    let v = env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

fn sweep(shard: u64) {
    if let Some(seed) = env_u64("TERN_SIM_SEED") {
        if shard == 0 {
            let report = run_storm(seed);
            eprintln!("{}", report.trace.join("\n"));
            eprintln!("storm {seed}: {:?}", report.stats);
            assert!(report.is_ok(), "{}", report.failure(0));
        }
        return;
    }
    let start = env_u64("TERN_SIM_SEED_START").unwrap_or(0);
    let count = env_u64("TERN_SIM_SEEDS").unwrap_or(CI_SEEDS);
    let mut failures = Vec::new();
    let mut total = Totals::default();
    for seed in (start..start + count).filter(|s| s % SHARDS == shard) {
        let report = run_storm(seed);
        total.add(&report.stats);
        if !report.is_ok() {
            failures.push(report.failure(80));
            if failures.len() == 3 {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing seed(s) in shard {shard}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("shard {shard}: {total:?}");
    if count >= 256 {
        total.assert_exercised();
    }
}

/// Sums over a shard, to check the sweep exercised what it claims to.
#[derive(Debug, Default)]
struct Totals {
    runs: u64,
    deliveries: u64,
    datagrams_lost: u64,
    reordered: u64,
    connections_lost: u64,
    moves_started: u64,
    moves: u64,
    moves_failed: u64,
    refused: u64,
    held_dropped: u64,
    phase_crashes: u64,
    node_down: u64,
}

impl Totals {
    fn add(&mut self, s: &SimStats) {
        self.runs += 1;
        self.deliveries += s.deliveries;
        self.datagrams_lost += s.net.lost;
        self.reordered += s.net.reordered;
        self.connections_lost += s.losses;
        self.moves_started += s.moves_started;
        self.moves += s.moves;
        self.moves_failed += s.moves_failed;
        self.refused += s.refused;
        self.held_dropped += s.held_dropped;
        self.phase_crashes += s.phase_crashes;
        self.node_down += s.node_down;
    }

    /// A storm that never failed a move or crashed mid-move proves little.
    fn assert_exercised(&self) {
        let counts = [
            ("deliveries", self.deliveries),
            ("datagrams lost", self.datagrams_lost),
            ("datagrams reordered", self.reordered),
            ("connections lost", self.connections_lost),
            ("moves started", self.moves_started),
            ("moves committed", self.moves),
            ("moves failed", self.moves_failed),
            ("offers refused", self.refused),
            ("held copies dropped", self.held_dropped),
            ("crashes at a phase", self.phase_crashes),
            ("NodeDown", self.node_down),
        ];
        for (what, n) in counts {
            assert!(n > 0, "the storm never exercised {what}: {self:?}");
        }
        assert!(
            self.moves_started >= 10 * self.runs,
            "too few moves for a storm: {self:?}"
        );
    }
}

#[test]
fn storms_shard_0() {
    sweep(0);
}

#[test]
fn storms_shard_1() {
    sweep(1);
}

#[test]
fn storms_shard_2() {
    sweep(2);
}

#[test]
fn storms_shard_3() {
    sweep(3);
}
