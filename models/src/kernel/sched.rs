//! Execution context (include/linux/sched.h, kernel.h, preempt.h): `might_sleep()` and the
//! atomic contexts that forbid it.
//!
//! A context is atomic while the thread holds a spinlock (with or without irqsave), runs in
//! hardirq context or with interrupts disabled, or runs inside a context the scenario
//! declares atomic: `msi_domain_activate` is called
//! under the irq descriptor's raw spinlock. `might_sleep()` there is `sleep-in-atomic`,
//! naming the sleeping call and what made the context atomic, and where.

use std::panic::Location;

use crate::check::{raise, Kind};
use crate::engine::thread_index;
use crate::kernel::lockdep::irq_reason;
use crate::trace::with_recorder;
use crate::trace::{record, Obj, Op};

/// `might_sleep()`, on behalf of `call` (`kzalloc(GFP_KERNEL)`, `iommu_map`): the call is
/// recorded, then checked.
#[track_caller]
pub fn might_sleep(call: &'static str) {
    record(Op::Call(call), Obj::None);
    if let Some(why) = atomic_reason() {
        raise_sleep(call, why);
    }
}

/// `might_sleep()` inside a call whose own event follows (`mutex_lock`, recorded as the lock
/// it takes): recorded only when it fires, so a trace does not show the call twice.
#[track_caller]
pub(crate) fn might_sleep_unrecorded(call: &'static str) {
    if let Some(why) = atomic_reason() {
        record(Op::Call(call), Obj::None);
        raise_sleep(call, why);
    }
}

#[track_caller]
fn raise_sleep(call: &'static str, why: String) {
    raise(
        Kind::SleepInAtomic,
        format!("{call} may sleep, but the context is atomic: {why}"),
    );
}

/// What makes the running thread's context atomic: the innermost spinlock it holds, else the
/// innermost declared context.
fn atomic_reason() -> Option<String> {
    let me = thread_index();
    with_recorder(|r| {
        let held = r.held(me);
        if let Some(h) = held.iter().rev().find(|h| h.atomic) {
            return Some(format!("{} is held ({})", h.name, h.taken()));
        }
        r.atomic_contexts(me).last().map(|(what, l)| {
            format!(
                "called in atomic context: {what} ({}:{})",
                l.file(),
                l.line()
            )
        })
    })
    .flatten()
    .or_else(irq_reason)
}

/// Run `f` in an atomic context the caller is known to run in (`msi_domain_activate`, under
/// `irq_desc->lock`), as `in_atomic()` would report it.
#[track_caller]
pub fn in_atomic_context<R>(what: &'static str, f: impl FnOnce() -> R) -> R {
    let me = thread_index();
    let loc = Location::caller();
    record(Op::Call(what), Obj::None);
    with_recorder(|r| r.set_atomic(me, Some((what, loc))));
    let out = f();
    with_recorder(|r| r.set_atomic(me, None));
    out
}
