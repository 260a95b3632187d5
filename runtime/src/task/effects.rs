//! Effects that are not about channels: yielding and sleeping.

use std::time::{Duration, Instant};

use super::{Cx, Effect, RequestKind, RequestKindBox, Response};

/// Lets other tasks run, then resumes. Created by [`yield_now`].
#[derive(Debug, Clone, Copy)]
#[must_use = "an effect does nothing until it is awaited"]
pub struct YieldNow(());

/// Lets the other runnable tasks on this worker run before the task resumes.
pub fn yield_now() -> YieldNow {
    YieldNow(())
}

impl Effect for YieldNow {
    type Output = ();
    fn into_request(self, _cx: &mut Cx<'_>) -> RequestKindBox {
        RequestKindBox(RequestKind::Yield)
    }
    fn decode(_response: Response) {}
}

/// Resumes after a delay. Created by [`sleep`].
#[derive(Debug, Clone, Copy)]
#[must_use = "an effect does nothing until it is awaited"]
pub struct Sleep {
    until: Instant,
}

/// Suspends the task for `duration`. A task asleep can be frozen and moved; the time left
/// travels in the snapshot.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        until: Instant::now() + duration,
    }
}

impl Effect for Sleep {
    type Output = ();
    fn into_request(self, _cx: &mut Cx<'_>) -> RequestKindBox {
        RequestKindBox(RequestKind::Sleep { until: self.until })
    }
    fn decode(_response: Response) {}
}

/// Moves the current task to another node. Created by [`move_to`](crate::move_to).
#[derive(Debug, Clone)]
#[must_use = "an effect does nothing until it is awaited"]
pub struct MoveTo {
    to: Result<crate::NodeId, String>,
}

/// Moves the task calling it to the node `to` (DStackless' `tasklet.move`): the task is
/// frozen at this `.await`, shipped, and resumes on `to` with `Ok(())` — its locals and
/// channel bindings intact. Moving to the node it is on does nothing.
///
/// Inside a `#[migratable]` function only: it is a request to the runtime, not a future.
///
/// # Errors
/// Every [`MoveError`](crate::MoveError): the target unknown, unreachable, at capacity,
/// shutting down, or refusing the snapshot (task type not registered there, code
/// fingerprint differs). In every case the task resumes on its node, where it was.
pub fn move_to(to: impl AsRef<str>) -> MoveTo {
    let to = to.as_ref();
    MoveTo {
        to: crate::NodeId::new(to).map_err(|_| to.to_owned()),
    }
}

impl Effect for MoveTo {
    type Output = Result<(), crate::MoveError>;
    fn into_request(self, _cx: &mut Cx<'_>) -> RequestKindBox {
        match self.to {
            Ok(to) => RequestKindBox(RequestKind::Move { to }),
            Err(bad) => RequestKindBox(RequestKind::Immediate(Response(
                super::ResponseKind::MoveFailed(Box::new(crate::MoveError::UnknownNode(bad))),
            ))),
        }
    }
    fn decode(response: Response) -> Result<(), crate::MoveError> {
        match response.0 {
            super::ResponseKind::MoveFailed(e) => Err(*e),
            _ => Ok(()),
        }
    }
}
