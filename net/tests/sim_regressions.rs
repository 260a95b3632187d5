//! Seeds of the simulation sweep that once failed, kept as tests (RELIABILITY.md: "any
//! failing seed is kept as a regression test"). Each says what broke and what fixed it.

use tern_net::sim::{run_seed, run_storm, Event};

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

#[test]
fn seed_259_a_restarted_peer_is_declared_down_to_the_migrations_before_the_parties_move() {
    // n2 saw n0 restarted; its parties failed with `NodeDown` and one of them, frozen to
    // move, offered itself to the new n0 at once; then `peer_down(n0)` failed that fresh
    // offer, while n0 held the copy for ever (no commit, no drop) and the run never ended
    // (fixed: the node calls `peer_down` before its parties hear `NodeDown`).
    let report = run_seed(259);
    assert!(report.is_ok(), "{}", report.failure(80));
}

#[test]
fn storm_992_a_repeated_commit_for_a_task_that_moved_on_is_acknowledged() {
    // n2 moved party 7 to n3 (epoch 3); n3's `Committed` was lost with the connection, and
    // n3 moved the party on. On the reconnect n2 resent `Commit`; n3, which no longer held
    // nor ran the party at epoch 3, called it out of place and did not answer, so n2 would
    // resend it after every reconnect (fixed in `proto::migrate`: a `Commit` the target
    // knows is past is acknowledged).
    let report = run_storm(992);
    assert!(report.is_ok(), "{}", report.failure(80));
    assert!(report.stats.moves > 20, "{:?}", report.stats);
}
