//! Home placement: which member of the cluster holds a channel. See [`home_of`].

use super::ids::{fnv1a, NodeId};

/// The SplitMix64 finalizer: spreads FNV's weak low bits over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The score of `member` for the channel `name`.
fn score(member: &NodeId, name: &str) -> u64 {
    let mut key = Vec::with_capacity(member.as_str().len() + 1 + name.len());
    key.extend_from_slice(member.as_str().as_bytes());
    key.push(0xff);
    key.extend_from_slice(name.as_bytes());
    mix(fnv1a(&key))
}

/// The home of the channel `name` among `members`, or `None` if there are none.
///
/// Rendezvous (highest-random-weight) hashing: every member gets a score for the channel name,
/// `splitmix64(fnv1a(member ‖ 0xff ‖ name))`, and the highest score wins; equal scores (which
/// need a 64-bit collision) go to the smaller node id. The 0xff separator never occurs in
/// UTF-8, so `("ab", "c")` and `("a", "bc")` hash differently.
///
/// Properties (tested below):
/// - **Deterministic and agreed.** The result depends only on the name and the *set* of
///   members — not their order, not duplicates, not the machine — so nodes that agree on the
///   membership agree on every home without talking.
/// - **Minimal disruption.** When a member joins, only the names it now wins move (to it);
///   when one leaves, only the names it held move. Every other channel keeps its home.
/// - **Balance.** Each member holds about `1/n` of the names.
///
/// # Examples
///
/// ```
/// use tern_net::proto::{home_of, NodeId};
/// let members = ["alpha", "beta", "gamma"].map(|id| NodeId::new(id).unwrap());
/// let home = home_of("numbers", &members).unwrap();
/// // Every node computes the same home, whatever order it lists the members in.
/// let reversed: Vec<NodeId> = members.iter().rev().cloned().collect();
/// assert_eq!(home_of("numbers", &reversed), Some(home));
/// ```
pub fn home_of<'a>(
    name: &str,
    members: impl IntoIterator<Item = &'a NodeId>,
) -> Option<&'a NodeId> {
    members
        .into_iter()
        .map(|m| (score(m, name), m))
        .max_by(|(sa, a), (sb, b)| sa.cmp(sb).then_with(|| b.cmp(a)))
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(ids: &[&str]) -> Vec<NodeId> {
        ids.iter()
            .map(|s| NodeId::new(s).expect("node id"))
            .collect()
    }

    fn names(n: usize) -> impl Iterator<Item = String> {
        (0..n).map(|i| format!("channel-{i}"))
    }

    #[test]
    fn no_members_no_home() {
        assert_eq!(home_of("x", &[]), None);
        let one = nodes(&["solo"]);
        assert_eq!(home_of("x", &one), Some(&one[0]));
    }

    #[test]
    fn pinned_placements_do_not_change_between_builds() {
        // Nodes of different builds must agree: pin results so a change to the hash is caught
        // here rather than as a split-brain channel in a mixed cluster.
        let m = nodes(&["alpha", "beta", "gamma"]);
        let got: Vec<&str> = ["numbers", "totals", "jobs", "a", "b", "c", "d", "e"]
            .iter()
            .map(|n| home_of(n, &m).unwrap().as_str())
            .collect();
        assert_eq!(
            got,
            ["gamma", "beta", "beta", "alpha", "beta", "beta", "gamma", "alpha"]
        );
        assert_eq!(mix(0), 0);
        assert_eq!(mix(1), 0x5692_161d_100b_05e5);
    }

    #[test]
    fn order_and_duplicates_do_not_matter() {
        let a = nodes(&["alpha", "beta", "gamma", "delta"]);
        let b = nodes(&["delta", "beta", "alpha", "gamma", "beta"]);
        for name in names(2000) {
            assert_eq!(home_of(&name, &a), home_of(&name, &b), "{name}");
        }
    }

    #[test]
    fn adding_a_member_moves_only_names_to_it() {
        let before = nodes(&["alpha", "beta", "gamma"]);
        let after = nodes(&["alpha", "beta", "gamma", "delta"]);
        let mut moved = 0;
        for name in names(4000) {
            let (h0, h1) = (
                home_of(&name, &before).unwrap(),
                home_of(&name, &after).unwrap(),
            );
            if h0 != h1 {
                assert_eq!(h1.as_str(), "delta", "{name} moved between old members");
                moved += 1;
            }
        }
        // About a quarter of the names move to the newcomer.
        assert!((700..1300).contains(&moved), "{moved} names moved");
    }

    #[test]
    fn removing_a_member_moves_only_its_names() {
        let before = nodes(&["alpha", "beta", "gamma", "delta"]);
        let after = nodes(&["alpha", "beta", "delta"]);
        for name in names(4000) {
            let (h0, h1) = (
                home_of(&name, &before).unwrap(),
                home_of(&name, &after).unwrap(),
            );
            if h0 != h1 {
                assert_eq!(
                    h0.as_str(),
                    "gamma",
                    "{name} moved off a member that stayed"
                );
            }
        }
    }

    #[test]
    fn homes_are_balanced() {
        let m = nodes(&["n0", "n1", "n2", "n3", "n4"]);
        let mut count = [0usize; 5];
        for name in names(10_000) {
            let h = home_of(&name, &m).unwrap();
            count[m.iter().position(|x| x == h).unwrap()] += 1;
        }
        for c in count {
            assert!((1600..2400).contains(&c), "{count:?}");
        }
    }

    #[test]
    fn similar_member_names_do_not_collide() {
        // "ab"+"c" and "a"+"bc" are different keys thanks to the separator.
        assert_ne!(
            score(&nodes(&["ab"])[0], "c"),
            score(&nodes(&["a"])[0], "bc")
        );
    }
}
