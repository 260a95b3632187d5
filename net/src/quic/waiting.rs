//! Producers waiting for room in one of the mesh's bounded queues (a lane's buffer, the
//! inbox): first come first served, and counted, so that a consumer making room knows
//! whether to wake one.

use std::sync::Mutex;

use tokio::sync::Notify;

use super::link::lock;

/// A queue's state that counts its waiting producers.
pub(super) trait CountsWaiters {
    /// The count.
    fn waiting(&mut self) -> &mut usize;
}

/// Counts a producer as waiting while it lives.
struct Waiting<'a, S: CountsWaiters>(&'a Mutex<S>);

impl<'a, S: CountsWaiters> Waiting<'a, S> {
    fn new(state: &'a Mutex<S>) -> Self {
        *lock(state).waiting() += 1;
        Waiting(state)
    }
}

impl<S: CountsWaiters> Drop for Waiting<'_, S> {
    fn drop(&mut self) {
        *lock(self.0).waiting() -= 1;
    }
}

/// Waits for room, first come first served: counted as waiting in `state`, behind the
/// producers already at `turnstile`, retrying `attempt` each time `room` is notified until it
/// gives an answer (`None`: still no room). Cancel safe as long as `attempt` is.
pub(super) async fn wait_turn<S: CountsWaiters>(
    state: &Mutex<S>,
    room: &Notify,
    turnstile: &tokio::sync::Mutex<()>,
    mut attempt: impl FnMut() -> Option<bool>,
) -> bool {
    let _waiting = Waiting::new(state);
    let _turn = turnstile.lock().await;
    loop {
        let notified = room.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(done) = attempt() {
            return done;
        }
        notified.await;
    }
}
