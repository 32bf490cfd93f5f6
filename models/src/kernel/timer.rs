//! `struct timer_list` (include/linux/timer.h): `timer_setup`, `mod_timer`, `del_timer`,
//! `del_timer_sync`, `timer_pending`.
//!
//! Time is not modelled: an armed timer's handler runs on a softirq agent (see
//! [`agents`](crate::kernel::agents)) that the engine schedules like any thread, so it may
//! run at any point until the timer is deleted, whatever `expires` says. The handler runs in
//! atomic context (softirq), holding the timer's lockdep class, which `del_timer_sync` also
//! takes: waiting for a handler while holding a lock it takes is `lock-order` (lockdep's
//! report), or `deadlock` in an execution where it happens.

use std::sync::Arc;

use crate::kernel::agents::Deferred;
use crate::trace::{record, Obj, Op};

/// A timer, named as its field is in the kernel source (`iovad->fq_timer`).
pub struct TimerList {
    deferred: Arc<Deferred>,
}

/// `timer_setup(timer, callback, flags)`: a timer named `name` whose handler is
/// `callback` (a closure over the object that embeds the timer, as `from_timer` finds it).
pub fn timer_setup(name: &'static str, callback: impl Fn() + Send + Sync + 'static) -> TimerList {
    TimerList {
        deferred: Deferred::new(name, "softirq", "call_timer_fn", true, Arc::new(callback)),
    }
}

/// `mod_timer(timer, expires)`: arm the timer; the handler runs once, at any later point.
/// Returns true if it was already pending (then it still runs once).
#[track_caller]
pub fn mod_timer(timer: &TimerList, _expires: u64) -> bool {
    record(Op::Call("mod_timer"), Obj::Named(timer.deferred.class()));
    timer.deferred.arm()
}

/// `del_timer(timer)`: disarm; true if it was pending. A handler already running goes on
/// running.
#[track_caller]
pub fn del_timer(timer: &TimerList) -> bool {
    record(Op::Call("del_timer"), Obj::Named(timer.deferred.class()));
    timer.deferred.disarm()
}

/// `del_timer_sync(timer)`: wait for a running handler to return, then disarm; true if it
/// was pending then. As the kernel's retry loop, it also stops a handler that re-arms its
/// own timer: on return the timer is neither pending nor running. Must not be called
/// holding a lock the handler takes.
#[track_caller]
pub fn del_timer_sync(timer: &TimerList) -> bool {
    record(
        Op::Call("del_timer_sync"),
        Obj::Named(timer.deferred.class()),
    );
    timer.deferred.disarm_sync("del_timer_sync")
}

/// `timer_pending(timer)`: armed and its handler not yet started.
#[track_caller]
pub fn timer_pending(timer: &TimerList) -> bool {
    timer.deferred.pending()
}
