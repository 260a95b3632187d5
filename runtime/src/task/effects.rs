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
