//! Seeds of the simulation sweep that once failed, kept as tests (RELIABILITY.md: "any
//! failing seed is kept as a regression test"). Each says what broke and what fixed it.

use tern_net::sim::{run_seed, Event};

#[test]
fn seed_377_a_crash_takes_values_until_every_node_has_learnt_of_it() {
    // Both receivers of a channel had moved to n2 when it crashed; they were respawned only
    // where they had started, so the channel had no receiver left and its sender stalled
    // (fixed: dead receivers come back on the node they died on). Then a value sent after
    // the crash, before the home had learnt of the restart, went to a dead receiver still
    // parked at the home: a loss the protocol allows (at most once across a crash), which
    // the checker took for a loss without a crash (fixed: a crash may take values until
    // the last node has learnt of it, `Event::Detect`).
    let report = run_seed(377);
    assert!(report.is_ok(), "{}", report.failure(80));
    let events = report.history.events();
    assert!(events
        .iter()
        .any(|(_, e)| matches!(e, Event::Crash { node: 2 })));
    assert!(events
        .iter()
        .any(|(_, e)| matches!(e, Event::Detect { peer: 2, .. })));
}
