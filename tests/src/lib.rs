//! State machines shared by the integration tests and the benches.
//!
//! Most are hand-written: they use the documented escape hatch (implementing
//! [`tern::Machine`] directly), and each one is registered so its snapshots can be restored.
//! Some have a `#[migratable]` twin written as an `async fn` beside them ([`relay`] for
//! [`Relay`], [`ring_member`] for [`RingMember`], [`skynet`] for [`Skynet`]): the same program,
//! so that the benches can measure what the macro costs against the hand-written machine.

pub mod cluster;
pub mod corpus;
pub mod golden;

use serde::{Deserialize, Serialize};
use tern::{Channel, Cx, Machine, Node, Step};

/// A node id unique within this process (tests run in parallel in one process).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Starts an embedded node with a unique id.
pub async fn node(prefix: &str, workers: usize) -> Node {
    match Node::builder(unique(prefix)).workers(workers).start().await {
        Ok(n) => n,
        Err(e) => panic!("node {prefix} did not start: {e}"),
    }
}

/// Receives numbers on `input` and sends each running (wrapping) total on `output`; returns the total
/// when `input` closes (or `output` does).
#[derive(Debug, Serialize, Deserialize)]
pub struct Relay {
    /// Where numbers arrive.
    pub input: Channel<u64>,
    /// Where running totals go.
    pub output: Channel<u64>,
    /// The sum so far.
    pub total: u64,
    /// The suspension point.
    pub at: RelayAt,
}

/// [`Relay`]'s suspension points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayAt {
    /// Not started.
    Start,
    /// Waiting in `input.recv()`.
    Receiving,
    /// Waiting in `output.send(total)`.
    Sending,
}

impl Relay {
    /// A relay between two channels.
    pub fn new(input: Channel<u64>, output: Channel<u64>) -> Self {
        Relay {
            input,
            output,
            total: 0,
            at: RelayAt::Start,
        }
    }
}

impl Machine for Relay {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_tests::Relay";
    const FINGERPRINT: u64 = 0x5e1a_0001;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        match self.at {
            RelayAt::Start => {}
            RelayAt::Receiving => match cx.resumed(|| self.input.recv()) {
                Ok(v) => {
                    self.total = self.total.wrapping_add(v);
                    self.at = RelayAt::Sending;
                    return cx.suspend(self.output.send(self.total));
                }
                Err(_closed) => return Step::Done(self.total),
            },
            RelayAt::Sending => {
                if cx.resumed(|| self.output.send(0)).is_err() {
                    return Step::Done(self.total);
                }
            }
        }
        self.at = RelayAt::Receiving;
        cx.suspend(self.input.recv())
    }
}
tern::register_machine!(Relay);

/// The same task as [`Relay`], written as a `#[migratable]` function: receives numbers on
/// `input`, sends each running (wrapping) total on `output`, and returns the total when
/// `input` closes (or `output` does).
#[tern::migratable]
pub async fn relay(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut total: u64 = 0;
    while let Ok(v) = input.recv().await {
        total = total.wrapping_add(v);
        if output.send(total).await.is_err() {
            return total;
        }
    }
    total
}

/// One member of thread-ring: receives a token; at 0 reports its name on `done` and waits for
/// the next token; otherwise passes `token - 1` to `next`. Ends when its inbox closes.
#[derive(Debug, Serialize, Deserialize)]
pub struct RingMember {
    /// 1-based name.
    pub name: u32,
    /// This member's inbox.
    pub inbox: Channel<u64>,
    /// The next member's inbox.
    pub next: Channel<u64>,
    /// Where the winner reports.
    pub done: Channel<u32>,
    /// 0 = start, 1 = receiving, 2 = passing, 3 = reporting.
    pub at: u8,
}

impl Machine for RingMember {
    type Output = ();
    const TYPE_KEY: &'static str = "tern_tests::RingMember";
    const FINGERPRINT: u64 = 0x5e1a_0002;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<()> {
        match self.at {
            1 => match cx.resumed(|| self.inbox.recv()) {
                Ok(0) => {
                    self.at = 3;
                    return cx.suspend(self.done.send(self.name));
                }
                Ok(token) => {
                    self.at = 2;
                    return cx.suspend(self.next.send(token - 1));
                }
                Err(_closed) => return Step::Done(()),
            },
            // Passed the token on; a closed ring ends this member.
            2 if cx.resumed(|| self.next.send(0)).is_err() => return Step::Done(()),
            // Reported the win; a closed report channel ends this member.
            3 if cx.resumed(|| self.done.send(0)).is_err() => return Step::Done(()),
            _ => {}
        }
        self.at = 1;
        cx.suspend(self.inbox.recv())
    }
}
tern::register_machine!(RingMember);

/// The same member as [`RingMember`], written as a `#[migratable]` function (the benches
/// compare the two to measure what the macro costs).
#[tern::migratable]
pub async fn ring_member(name: u32, inbox: Channel<u64>, next: Channel<u64>, done: Channel<u32>) {
    while let Ok(token) = inbox.recv().await {
        if token == 0 {
            if done.send(name).await.is_err() {
                return;
            }
        } else if next.send(token - 1).await.is_err() {
            return;
        }
    }
}

/// Which of two twin machines to run: the hand-written one or its `#[migratable]` twin (a
/// [`Ring`]'s members, a skynet, or a bench's tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Members {
    /// The hand-written machine ([`RingMember`], [`Skynet`], …).
    HandWritten,
    /// The `#[migratable]` function ([`ring_member`], [`skynet`], …).
    Generated,
}

/// A thread-ring of tasks on one node, every member parked in `recv` and ready for a token.
pub struct Ring {
    inboxes: Vec<Channel<u64>>,
    done: Channel<u32>,
}

impl Ring {
    /// Spawns `size` members on `node` under channel names `{prefix}/ring/…` and waits until
    /// every one of them waits on its inbox.
    pub async fn new(node: &Node, prefix: &str, size: u32) -> Ring {
        Ring::with_members(node, prefix, size, Members::HandWritten).await
    }

    /// [`Ring::new`] with the members of your choice.
    pub async fn with_members(node: &Node, prefix: &str, size: u32, members: Members) -> Ring {
        let inboxes: Vec<Channel<u64>> = (0..size)
            .map(|i| node.channel(&format!("{prefix}/ring/{i}")))
            .collect();
        let done = node.buffered_channel::<u32>(&format!("{prefix}/ring/done"), 1);
        for i in 0..size as usize {
            let (name, inbox) = (i as u32 + 1, inboxes[i].clone());
            let next = inboxes[(i + 1) % size as usize].clone();
            match members {
                Members::HandWritten => drop(node.spawn(RingMember {
                    name,
                    inbox,
                    next,
                    done: done.clone(),
                    at: 0,
                })),
                Members::Generated => {
                    drop(node.spawn(ring_member(name, inbox, next, done.clone())))
                }
            }
        }
        while inboxes.iter().any(|c| c.balance() != -1) {
            std::thread::yield_now();
        }
        Ring { inboxes, done }
    }

    /// Injects `token` and returns the name of the member that receives 0; every member is
    /// waiting on its inbox again afterwards.
    pub async fn pass(&self, token: u64) -> u32 {
        if let Err(e) = self.inboxes[0].send(token).await {
            panic!("ring start failed: {e}");
        }
        match self.done.recv().await {
            Ok(w) => w,
            Err(e) => panic!("ring report failed: {e}"),
        }
    }

    /// Closes every inbox: the members end.
    pub fn close(&self) {
        for ch in &self.inboxes {
            ch.close();
        }
    }
}

/// Builds a thread-ring of `size` `members` on `node` under channel names `{prefix}/ring/…`,
/// injects `token`, and returns the winner's name. Closes the ring afterwards.
pub async fn thread_ring(
    node: &Node,
    prefix: &str,
    size: u32,
    token: u64,
    members: Members,
) -> u32 {
    let ring = Ring::with_members(node, prefix, size, members).await;
    let winner = ring.pass(token).await;
    ring.close();
    winner
}

/// Panics with `message` after receiving one value, for post-mortem tests.
#[derive(Debug, Serialize, Deserialize)]
pub struct Faulty {
    /// Where the trigger arrives.
    pub input: Channel<u64>,
    /// State visible in the report.
    pub seen: Vec<u64>,
    /// The panic message.
    pub message: String,
    /// Whether the task has suspended once.
    pub started: bool,
}

impl Machine for Faulty {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_tests::Faulty";
    const FINGERPRINT: u64 = 0x5e1a_0003;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if !self.started {
            self.started = true;
            return cx.suspend(self.input.recv());
        }
        if let Ok(v) = cx.resumed(|| self.input.recv()) {
            self.seen.push(v);
        }
        panic!("{}", self.message);
    }
}
tern::register_machine!(Faulty);

/// Calls a nested [`Relay`] frame for `rounds` numbers, then returns its total times `factor`
/// (exercises `Call` frames in snapshots and reports).
#[derive(Debug, Serialize, Deserialize)]
pub struct Outer {
    /// The nested relay's input.
    pub input: Channel<u64>,
    /// The nested relay's output.
    pub output: Channel<u64>,
    /// Multiplier for the nested result.
    pub factor: u64,
    /// Whether the call has been made.
    pub called: bool,
}

impl Machine for Outer {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_tests::Outer";
    const FINGERPRINT: u64 = 0x5e1a_0004;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if !self.called {
            self.called = true;
            return cx.suspend(Relay::new(self.input.clone(), self.output.clone()));
        }
        let inner = cx.resumed(|| Relay::new(self.input.clone(), self.output.clone()));
        Step::Done(inner * self.factor)
    }
}
tern::register_machine!(Outer);

/// Sleeps `millis`, then returns `value`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sleeper {
    /// How long to sleep.
    pub millis: u64,
    /// What to return.
    pub value: u64,
    /// Whether the sleep has started.
    pub slept: bool,
}

impl Machine for Sleeper {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_tests::Sleeper";
    const FINGERPRINT: u64 = 0x5e1a_0005;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if !self.slept {
            self.slept = true;
            return cx.suspend(tern::sleep(std::time::Duration::from_millis(self.millis)));
        }
        cx.resumed(|| tern::sleep(std::time::Duration::ZERO));
        Step::Done(self.value)
    }
}
tern::register_machine!(Sleeper);

/// skynet: a task of `size` leaves spawns `fan_out` children and sums what they return; a
/// leaf returns its ordinal. `Skynet::root(1_000_000, 10)` returns 499999500000.
#[derive(Debug, Serialize, Deserialize)]
pub struct Skynet {
    /// The first ordinal under this task.
    pub num: u64,
    /// The number of leaves under this task.
    pub size: u64,
    /// Children per task.
    pub fan_out: u64,
    /// Children not joined yet.
    pub children: Vec<tern::TaskHandle<u64>>,
    /// The sum of the children joined so far.
    pub sum: u64,
    /// Whether the children have been spawned.
    pub started: bool,
}

impl Skynet {
    /// The root of a skynet of `size` leaves.
    pub fn root(size: u64, fan_out: u64) -> Self {
        Skynet {
            num: 0,
            size,
            fan_out,
            children: Vec::new(),
            sum: 0,
            started: false,
        }
    }
}

impl Machine for Skynet {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_tests::Skynet";
    const FINGERPRINT: u64 = 0x5e1a_0006;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if !self.started {
            self.started = true;
            if self.size <= 1 {
                return Step::Done(self.num);
            }
            let part = self.size / self.fan_out;
            for i in 0..self.fan_out {
                self.children.push(tern::spawn(Skynet {
                    num: self.num + i * part,
                    size: part,
                    fan_out: self.fan_out,
                    children: Vec::new(),
                    sum: 0,
                    started: false,
                }));
            }
        } else {
            // The closure only names the awaited expression's type; it is never called.
            match cx.resumed(|| self.children.pop().unwrap().join()) {
                Ok(v) => self.sum += v,
                Err(e) => panic!("a skynet child failed: {e}"),
            }
        }
        match self.children.pop() {
            Some(child) => cx.suspend(child.join()),
            None => Step::Done(self.sum),
        }
    }
}
tern::register_machine!(Skynet);

/// The same task as [`Skynet`], written as a `#[migratable]` function: a task over `size`
/// leaves starting at ordinal `num` spawns `fan_out` children and sums what they return (joined
/// last to first, like [`Skynet`]); a leaf returns its ordinal. `skynet(0, 1_000_000, 10)`
/// returns 499999500000.
///
/// # Panics
/// When a child fails (the failure reaches whoever joins the root).
#[tern::migratable]
pub async fn skynet(num: u64, size: u64, fan_out: u64) -> u64 {
    if size <= 1 {
        return num;
    }
    let part = size / fan_out;
    let mut children: Vec<tern::TaskHandle<u64>> = Vec::new();
    for i in 0..fan_out {
        children.push(tern::spawn(skynet(num + i * part, part, fan_out)));
    }
    let mut sum: u64 = 0;
    while let Some(child) = children.pop() {
        match child.join().await {
            Ok(v) => sum += v,
            Err(e) => panic!("a skynet child failed: {e}"),
        }
    }
    sum
}

/// Spawns a skynet of `leaves` leaves (fan-out 10) of the chosen `kind` on `node` and joins it.
///
/// # Panics
/// When the root task fails.
pub async fn run_skynet(node: &Node, leaves: u64, kind: Members) -> u64 {
    let root = match kind {
        Members::HandWritten => node.spawn(Skynet::root(leaves, 10)),
        Members::Generated => node.spawn(skynet(0, leaves, 10)),
    };
    match root.join().await {
        Ok(sum) => sum,
        Err(e) => panic!("skynet ({kind:?}) failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_generated_skynet_answers_like_the_hand_written_one() {
        for workers in [1, 2] {
            let node = node("skynet-twins", workers).await;
            for leaves in [1, 10, 1000] {
                let want = leaves * (leaves - 1) / 2;
                let hand = run_skynet(&node, leaves, Members::HandWritten).await;
                let gen = run_skynet(&node, leaves, Members::Generated).await;
                assert_eq!(
                    (hand, gen),
                    (want, want),
                    "{leaves} leaves, {workers} workers"
                );
            }
            node.shutdown().await;
        }
    }

    #[tokio::test]
    async fn a_generated_skynet_survives_a_snapshot() {
        let node = node("skynet-frozen", 1).await;
        // A tree of 16 leaves (fan-out 2) frozen wherever its root is (at the start or waiting
        // for a child, whose handle the state then holds), then restored.
        // The tree may finish before the freeze reaches it (a busy machine can deschedule
        // this thread right after the spawn): then its output must be right, and we try again.
        let mut tries = 0;
        let snap = loop {
            tries += 1;
            let task = node.spawn(skynet(40, 16, 2));
            match task.snapshot().await {
                Ok(s) => break s,
                Err(tern::SnapshotError::Finished) if tries < 50 => {
                    assert_eq!(task.join().await.ok(), Some((40..56).sum::<u64>()));
                }
                Err(e) => panic!("snapshot failed after {tries} tries: {e}"),
            }
        };
        let restored = match node.restore::<u64>(&snap) {
            Ok(h) => h,
            Err(e) => panic!("restore failed: {e}"),
        };
        // Leaves 40..56: the sum of the ordinals.
        assert_eq!(restored.join().await.ok(), Some((40..56).sum::<u64>()));
        node.shutdown().await;
    }

    /// Sends `values` through a relay of either kind and returns its totals and its output.
    async fn through_relay(kind: Members, values: &[u64], freeze: bool) -> (Vec<u64>, u64) {
        let node = node("relay-twins", 1).await;
        let (input, output) = (node.channel::<u64>("in"), node.channel::<u64>("out"));
        let mut task = match kind {
            Members::HandWritten => node.spawn(Relay::new(input.clone(), output.clone())),
            Members::Generated => node.spawn(relay(input.clone(), output.clone())),
        };
        let mut totals = Vec::new();
        for &v in values {
            if freeze {
                let snap = match task.snapshot().await {
                    Ok(s) => s,
                    Err(e) => panic!("snapshot of {kind:?} failed: {e}"),
                };
                task = match node.restore::<u64>(&snap) {
                    Ok(h) => h,
                    Err(e) => panic!("restore of {kind:?} failed: {e}"),
                };
            }
            if let Err(e) = input.send(v).await {
                panic!("relay input: {e}");
            }
            match output.recv().await {
                Ok(t) => totals.push(t),
                Err(e) => panic!("relay output: {e}"),
            }
        }
        input.close();
        let out = match task.join().await {
            Ok(t) => t,
            Err(e) => panic!("relay {kind:?} failed: {e}"),
        };
        node.shutdown().await;
        (totals, out)
    }

    #[tokio::test]
    async fn the_generated_relay_behaves_like_the_hand_written_one() {
        let values = [5, 7, u64::MAX, 3];
        let want = (vec![5, 12, 11, 14], 14);
        for freeze in [false, true] {
            assert_eq!(
                through_relay(Members::HandWritten, &values, freeze).await,
                want
            );
            assert_eq!(
                through_relay(Members::Generated, &values, freeze).await,
                want
            );
        }
    }
}
