//! `struct work_struct` (include/linux/workqueue.h): `INIT_WORK`, `queue_work`,
//! `flush_work`, `cancel_work_sync`.
//!
//! Queued work runs on a kworker agent (see [`agents`](crate::kernel::agents)) that the
//! engine schedules like any thread, in process context, at any point until it is
//! cancelled. As in the kernel, the pending bit is cleared before the function runs, so the
//! function may queue its work again; one work item never runs twice at once. The function
//! runs holding the work's lockdep class, which `flush_work` and `cancel_work_sync` take
//! to wait for it.

use std::sync::Arc;

use crate::kernel::agents::Deferred;
use crate::kernel::sched::might_sleep;
use crate::trace::{record, Obj, Op};

/// A work item, named as in the kernel source (`domain->flush_work`).
pub struct WorkStruct {
    deferred: Arc<Deferred>,
}

/// A workqueue (`system_wq`, or one made by `alloc_workqueue`). Every queue runs its work on
/// agents of its own; the queue itself holds nothing the model needs.
pub struct WorkqueueStruct {
    name: &'static str,
}

impl WorkqueueStruct {
    /// `alloc_workqueue(name, ...)`.
    pub fn new(name: &'static str) -> Self {
        WorkqueueStruct { name }
    }

    /// The queue's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// `INIT_WORK(work, func)`: a work item named `name` running `func` (a closure over the
/// object that embeds the work, as `container_of` finds it).
#[allow(non_snake_case)]
pub fn INIT_WORK(name: &'static str, func: impl Fn() + Send + Sync + 'static) -> WorkStruct {
    WorkStruct {
        deferred: Deferred::new(name, "kworker", "process_one_work", false, Arc::new(func)),
    }
}

/// `queue_work(wq, work)`: queue `work` unless it is already pending; false if it was.
#[track_caller]
pub fn queue_work(wq: &WorkqueueStruct, work: &WorkStruct) -> bool {
    record(Op::Call("queue_work"), Obj::Named(work.deferred.class()));
    let _ = wq;
    !work.deferred.arm()
}

/// `flush_work(work)`: may sleep; wait for the last queueing of the work (and a running
/// instance) to finish, but not for a queueing made after the call began: a work that
/// queued itself again may be pending on return. True if it had to wait for something.
#[track_caller]
pub fn flush_work(work: &WorkStruct) -> bool {
    might_sleep("flush_work");
    work.deferred.flush("flush_work")
}

/// `cancel_work_sync(work)`: may sleep; unqueue the work and wait for a running instance
/// to return, refusing to queue it meanwhile (`queue_work` returns false), so a work that
/// queues itself is stopped too: on return it is neither pending nor running. True if it
/// was pending.
#[track_caller]
pub fn cancel_work_sync(work: &WorkStruct) -> bool {
    might_sleep("cancel_work_sync");
    record(
        Op::Call("cancel_work_sync"),
        Obj::Named(work.deferred.class()),
    );
    work.deferred.cancel_sync("cancel_work_sync")
}
