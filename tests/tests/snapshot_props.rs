//! Property tests: the snapshot decoder never panics on hostile bytes, and any sequence of moves
//! at any suspension points gives the output of an uninterrupted run.

use proptest::prelude::*;
use tern::{Node, Snapshot, SnapshotError};
use tern_tests::{node, Relay};

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    }
}

/// A snapshot of a relay that has summed 3 + 4 and waits in `send`.
async fn sample(n: &Node) -> Snapshot {
    let t = n.spawn(Relay::new(n.channel("p-in"), n.channel("p-out")));
    n.channel::<u64>("p-in").send(3).await.unwrap();
    assert_eq!(n.channel::<u64>("p-out").recv().await, Ok(3));
    n.channel::<u64>("p-in").send(4).await.unwrap();
    t.snapshot().await.unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let rt = runtime();
        rt.block_on(async {
            let n = node("prop-rand", 1).await;
            let mut with_magic = b"TERN\x01\x00".to_vec();
            with_magic.extend_from_slice(&bytes);
            for b in [bytes.clone(), with_magic] {
                // Any outcome but a panic is acceptable; a success must be a working task.
                if let Ok(t) = n.restore::<u64>(&Snapshot::from_bytes(b)) {
                    drop(t);
                }
            }
            n.shutdown().await;
        });
    }

    #[test]
    fn mutated_snapshots_are_refused_or_restored_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
    ) {
        let rt = runtime();
        rt.block_on(async {
            let n = node("prop-mut", 1).await;
            let mut bytes = sample(&n).await.into_bytes();
            for (at, v) in &flips {
                let i = at.index(bytes.len());
                bytes[i] ^= v | 1;
            }
            match n.restore::<u64>(&Snapshot::from_bytes(bytes)) {
                Ok(t) => drop(t),
                Err(SnapshotError::Empty) => panic!("non-empty bytes reported empty"),
                Err(_) => {}
            }
            n.shutdown().await;
        });
    }

    #[test]
    fn any_sequence_of_moves_gives_the_uninterrupted_result(
        inputs in proptest::collection::vec(0u64..1000, 1..8),
        moves in proptest::collection::vec(any::<bool>(), 16),
    ) {
        let rt = runtime();
        let (outputs, total) = rt.block_on(async {
            let nodes = [node("prop-a", 1).await, node("prop-b", 1).await];
            let mut at = 0usize;
            let task = nodes[0].spawn(Relay::new(nodes[0].channel("in"), nodes[0].channel("out")));
            let mut outputs = Vec::new();
            let mut step = 0usize;
            for v in &inputs {
                for phase in 0..2 {
                    if moves[(step + phase) % moves.len()] {
                        at = 1 - at;
                        task.move_to(nodes[at].id().as_str()).await.unwrap();
                    }
                    if phase == 0 {
                        nodes[at].channel::<u64>("in").send(*v).await.unwrap();
                    } else {
                        outputs.push(nodes[at].channel::<u64>("out").recv().await.unwrap());
                    }
                }
                step += 2;
            }
            nodes[at].channel::<u64>("in").close();
            let total = task.join().await.unwrap();
            for n in &nodes {
                n.shutdown().await;
            }
            (outputs, total)
        });
        let expected: Vec<u64> = inputs.iter().scan(0u64, |s, v| { *s += v; Some(*s) }).collect();
        prop_assert_eq!(&outputs, &expected);
        prop_assert_eq!(total, inputs.iter().sum::<u64>());
    }
}
