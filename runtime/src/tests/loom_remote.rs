//! loom model of a remote call's reply racing the freeze of the task that waits for it.
//!
//! A call cannot be withdrawn (the owner may already have acted on it), so a freezer must
//! never take a task out of its cell while its call is in flight: it waits until the reply
//! has completed the task (`TaskShared::poll_freeze`). Threads: the reply (`remote::perform`'s
//! completion: unpark, complete), the freezer (`handle::freeze`), and main as a worker of a
//! fake scheduler (`run_task`'s freeze check, see `loom_freeze`).

use std::future::poll_fn;

use loom::future::block_on;
use loom::thread;

use super::loom_channel::chan;
use super::loom_freeze::{worker, FakeSched};
use crate::executor::Schedule;
use crate::sync::Arc;
use crate::task::{FrameStack, RequestKind, Response, ResponseKind, Task, TaskId, TaskShared};

#[test]
fn a_reply_races_the_freeze_of_its_caller() {
    loom::model(|| {
        crate::bias::become_worker();
        let idle = chan(0);
        let sched = Arc::new(FakeSched::default());
        let shared = TaskShared::new(TaskId::next(1));
        let dyn_sched: Arc<dyn Schedule> = Arc::clone(&sched) as Arc<dyn Schedule>;
        let mut task = Task::new(Arc::clone(&shared), dyn_sched, FrameStack::default());
        task.set_pending(RequestKind::Remote {
            call: Box::new(crate::remote::CallSpec::dummy()),
        });
        drop(TaskShared::park(task));

        let sh = Arc::clone(&shared);
        let reply = thread::spawn(move || {
            let task = sh
                .unpark()
                .expect("only the reply takes a task out during its call");
            task.complete(Response(ResponseKind::Unit));
        });
        let (sh, s) = (Arc::clone(&shared), Arc::clone(&sched));
        let freezer = thread::spawn(move || {
            sh.request_freeze();
            let task = block_on(poll_fn(|cx| sh.poll_freeze(cx))).expect("the task never finishes");
            s.ready.lock().freezer_done = true;
            s.cv.notify_all();
            task
        });

        // The worker runs the task if the reply scheduled it before the freeze flag was up:
        // it consumes the reply and parks on `idle`.
        let consumed = worker(&idle, &sched);
        let mut frozen = freezer.join().unwrap();
        reply.join().unwrap();
        assert_eq!(consumed, None, "a unit reply carries no value");
        match (frozen.pending(), frozen.response()) {
            (Some(RequestKind::Remote { .. }), _) => panic!("frozen while its call was in flight"),
            // Frozen with the reply to resume with, or after consuming it.
            (None, Some(_)) | (Some(RequestKind::Recv { .. }), None) => {}
            (p, r) => panic!("inconsistent frozen task: pending {p:?}, response {r:?}"),
        }
        if let Some(RequestKind::Recv { chan }) = frozen.pending() {
            chan.withdraw(&shared);
        }
        frozen.detached = true;
        drop(frozen);
        assert!(sched.ready.lock().tasks.is_empty());
    });
}
