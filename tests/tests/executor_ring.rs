//! The executor under load: thread-ring at 1 and 2 workers, and many tasks at once.

use tern_tests::{node, thread_ring, Members, Relay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_ring_prints_the_expected_winner() {
    for (workers, members) in [
        (1, Members::HandWritten),
        (2, Members::HandWritten),
        (1, Members::Generated),
        (2, Members::Generated),
    ] {
        let n = node("ring", workers).await;
        for (token, winner) in [
            (1000u64, 498u32),
            (503, 1),
            (10_000, (10_000 % 503) as u32 + 1),
        ] {
            let prefix = format!("w{workers}-t{token}-{members:?}");
            assert_eq!(
                thread_ring(&n, &prefix, 503, token, members).await,
                winner,
                "N = {token}, {workers} workers, {members:?} members"
            );
        }
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_relays_in_a_chain_deliver_every_value() {
    let n = node("chain", 2).await;
    const LEN: usize = 1000;
    let chans: Vec<_> = (0..=LEN)
        .map(|i| n.buffered_channel::<u64>(&format!("c{i}"), 2))
        .collect();
    let tasks: Vec<_> = (0..LEN)
        .map(|i| n.spawn(Relay::new(chans[i].clone(), chans[i + 1].clone())))
        .collect();
    for v in 1..=20u64 {
        chans[0].send(v).await.unwrap();
    }
    // Relay k outputs the running (wrapping) totals of relay k-1's outputs: the last channel
    // carries 1..=20 prefix-summed LEN times.
    let mut expected: Vec<u64> = (1..=20).collect();
    for _ in 0..LEN {
        let mut acc = 0u64;
        for x in expected.iter_mut() {
            acc = acc.wrapping_add(*x);
            *x = acc;
        }
    }
    for e in &expected {
        assert_eq!(chans[LEN].recv().await.unwrap(), *e);
    }
    for c in &chans {
        c.close();
    }
    for t in tasks {
        t.join().await.unwrap();
    }
    n.shutdown().await;
}
