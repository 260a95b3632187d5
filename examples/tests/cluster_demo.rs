//! Runs the `cluster-demo` binary end to end: a coordinator and three node processes on
//! loopback, QUIC with mutual TLS from a CA the demo makes, jobs and results over named
//! channels, workers moved between the processes (by handle, by themselves, by a drain); it
//! must exit successfully and print its `verified:` line with moves made and a drain.

use std::process::Command;
use std::time::Instant;

#[test]
fn three_processes_answer_every_job_once() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_cluster-demo"))
        .args(["--jobs", "300"])
        .output()
        .expect("run cluster-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cluster-demo exited with {} after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status,
        started.elapsed()
    );
    let verified = stdout
        .lines()
        .find(|l| l.starts_with("verified: "))
        .unwrap_or_else(|| panic!("no `verified:` line\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    assert!(
        verified.contains("300 jobs") && verified.contains("0 lost, 0 duplicated"),
        "{verified}"
    );
    // "..., N moves (H by handles, S self, D by draining gamma)"
    let count = |after: &str| -> u64 {
        let (head, _) = verified
            .split_once(after)
            .unwrap_or_else(|| panic!("no {after:?} in {verified}"));
        let n = head.rsplit([' ', '(']).next().unwrap_or_default();
        n.parse()
            .unwrap_or_else(|_| panic!("no count before {after:?} in {verified}"))
    };
    assert!(count(" moves (") > 0, "{verified}");
    assert!(count(" by handles") > 0, "{verified}");
    assert!(count(" self") > 0, "{verified}");
    assert!(count(" by draining gamma") > 0, "{verified}");
    assert!(stdout.contains("gamma drain    drained in"), "{stdout}");
    for node in ["alpha", "beta", "gamma"] {
        assert!(
            stdout.contains(&format!("] {node} ")),
            "no progress line from {node}\n{stdout}"
        );
    }
}
