//! Seeded scenarios: a cluster, links, a workload and faults drawn from one number.

use std::time::Duration;

use super::history::CheckConfig;
use super::migration::{Phase, PhaseFault, Victim};
use super::net::LinkConfig;
use super::rng::Rng;
use super::world::{
    run, ChannelSpec, Fault, ImpostorSpec, ReceiverSpec, Sabotage, SenderSpec, SimConfig, SimReport,
};
use crate::proto::{ConnConfig, HomeConfig};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl SimConfig {
    /// The scenario of `seed`: 3–5 nodes; links with 0–20 % loss, duplication, delay and
    /// jitter (reordering), small datagrams; 1–3 channels (rendezvous or buffered) with 1–2
    /// receivers each; 2–4 senders of 5–20 messages; sometimes an impostor using a
    /// channel's name with another type; withdrawals followed by moves; up to three
    /// partitions (two-way, one-way, or a node cut off from all) of up to 8 s, and sometimes
    /// a crash and restart. Connections keep alive every 0.5 s and give up after 3 s of
    /// silence, so partitions cost connections.
    pub fn from_seed(seed: u64) -> SimConfig {
        let mut r = Rng::new(seed);
        let nodes = r.range(3, 5) as usize;
        let link = LinkConfig {
            loss: if r.chance(0.8) {
                r.range(0, 20) as f64 / 100.0
            } else {
                0.0
            },
            duplicate: if r.chance(0.5) {
                r.range(1, 5) as f64 / 100.0
            } else {
                0.0
            },
            delay: ms(r.range(1, 10)),
            jitter: ms(r.range(0, 30)),
            rto: ms(30),
            rto_max: ms(800),
            mss: r.range(8, 400) as usize,
        };
        let conn = ConnConfig {
            handshake_timeout: ms(2_000),
            keepalive: ms(500),
            idle_timeout: ms(3_000),
            ..ConnConfig::default()
        };
        let home = HomeConfig {
            max_parked_per_peer: if r.chance(0.2) {
                r.range(1, 2) as usize
            } else {
                1024
            },
        };
        let tag = r.below(10_000);
        let channels: Vec<ChannelSpec> = (0..r.range(1, 3))
            .map(|k| ChannelSpec {
                name: format!("ch{tag}-{k}"),
                cap: if r.chance(0.4) { 0 } else { r.range(1, 4) },
            })
            .collect();
        let mut receivers = Vec::new();
        for chan in 0..channels.len() {
            for _ in 0..r.range(1, 2) {
                receivers.push(ReceiverSpec {
                    node: r.index(nodes),
                    chan,
                });
            }
        }
        let senders = (0..r.range(2, 4))
            .map(|_| {
                let fixed = r.chance(0.5).then(|| r.index(channels.len()));
                let n = r.range(5, 20);
                SenderSpec {
                    node: r.index(nodes),
                    chans: (0..n)
                        .map(|_| fixed.unwrap_or_else(|| r.index(channels.len())))
                        .collect(),
                }
            })
            .collect();
        let impostors = if r.chance(0.15) {
            vec![ImpostorSpec {
                node: r.index(nodes),
                chan: r.index(channels.len()),
                count: r.range(1, 4) as u32,
            }]
        } else {
            Vec::new()
        };
        let mut faults = Vec::new();
        let horizon = ms(15_000);
        for _ in 0..r.range(0, 3) {
            let start = r.duration(Duration::ZERO, horizon);
            let end = start + r.duration(ms(50), ms(8_000));
            let a = r.index(nodes);
            let b = (a + 1 + r.index(nodes - 1)) % nodes;
            let cuts: Vec<(usize, usize)> = match r.below(3) {
                0 => vec![(a, b), (b, a)],
                1 => vec![(a, b)],
                _ => (0..nodes)
                    .filter(|n| *n != a)
                    .flat_map(|n| [(a, n), (n, a)])
                    .collect(),
            };
            for (from, to) in cuts {
                faults.push((start, Fault::Cut { from, to }));
                faults.push((end, Fault::Mend { from, to }));
            }
        }
        if r.chance(0.3) {
            let node = r.index(nodes);
            let at = r.duration(Duration::ZERO, horizon);
            faults.push((at, Fault::Crash { node }));
            faults.push((at + r.duration(ms(200), ms(4_000)), Fault::Restart { node }));
        }
        let withdraw = if r.chance(0.3) {
            0.0
        } else {
            r.range(2, 25) as f64 / 100.0
        };
        let last = faults.iter().map(|(t, _)| *t).max().unwrap_or_default();
        SimConfig {
            seed,
            nodes,
            link,
            conn,
            home,
            channels,
            senders,
            receivers,
            impostors,
            faults,
            withdraw,
            withdraw_within: ms(300),
            refuse: 0.0,
            capacity: usize::MAX,
            phase_faults: Vec::new(),
            rerun: "sim_seeds",
            think: ms(r.range(0, 50)),
            redial: ms(500),
            limit: last + Duration::from_secs(120),
            check: CheckConfig {
                resume_within: Duration::from_secs(10),
            },
            sabotage: Sabotage::None,
        }
    }
}

/// Runs the scenario of `seed` ([`SimConfig::from_seed`]) and checks it.
pub fn run_seed(seed: u64) -> SimReport {
    run(SimConfig::from_seed(seed))
}

impl SimConfig {
    /// A migration storm: the scenario of `seed` ([`SimConfig::from_seed`]) with parties
    /// that freeze and move far more often (20–60 % of their operations, withdrawn within
    /// 2–40 ms), targets that
    /// refuse offers (a task type "not registered" at random, or a node at capacity), and
    /// usually one or two crashes of a move's source or target at a protocol phase
    /// ([`PhaseFault`]), each restarted 0.1–4 s later.
    pub fn storm_from_seed(seed: u64) -> SimConfig {
        let mut c = SimConfig::from_seed(seed);
        let mut r = Rng::new(seed ^ 0x5354_4f52_4d5f_4d56);
        c.withdraw = r.range(20, 60) as f64 / 100.0;
        c.withdraw_within = ms(r.range(2, 40));
        c.refuse = if r.chance(0.6) {
            r.range(5, 40) as f64 / 100.0
        } else {
            0.0
        };
        c.capacity = if r.chance(0.3) {
            r.range(3, 6) as usize
        } else {
            usize::MAX
        };
        let faults = if r.chance(0.85) { r.range(1, 2) } else { 0 };
        c.phase_faults = (0..faults)
            .map(|_| PhaseFault {
                phase: Phase::ALL[r.index(Phase::ALL.len())],
                victim: if r.chance(0.5) {
                    Victim::Source
                } else {
                    Victim::Target
                },
                nth: r.below(8) as u32,
                restart_after: r.duration(ms(100), ms(4_000)),
            })
            .collect();
        c.rerun = "sim_migration";
        c
    }
}

/// Runs the migration storm of `seed` ([`SimConfig::storm_from_seed`]) and checks it.
pub fn run_storm(seed: u64) -> SimReport {
    run(SimConfig::storm_from_seed(seed))
}
