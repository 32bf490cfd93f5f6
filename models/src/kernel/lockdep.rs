//! Lock bookkeeping shared by every sleeping and spinning lock (kernel/locking/lockdep.c, in
//! spirit): which thread holds and waits for which lock, and the lock-order graph.
//!
//! The order graph is kept across all executions of a run, as lockdep keeps it across the
//! life of a kernel: an A-then-B order seen in one execution and B-then-A in another is a
//! `lock-order` violation even if no explored execution deadlocked. A lock's class is its
//! name.

use std::panic::Location;

use crate::check::{raise, Kind};
use crate::kernel::engine::{
    engine, thread_index, with_recorder, Engine, RawGuard, RawLock, RawWait,
};
use crate::trace::{record, HeldLock, Obj, Op, OrderEdge, Recorder};

/// One order, as lockdep prints it: who took which lock under which, and where each was
/// taken. Lines are separated by `\n`; reports keep them.
fn describe_edge(r: &Recorder, verb: &str, e: &OrderEdge) -> String {
    r.describe_wait(e.thread, verb, &e.to, std::slice::from_ref(&e.from))
}

/// Take `raw` as `how` (`spin_lock_irqsave`), checking the lock order first.
#[track_caller]
pub(crate) fn lock<'a>(
    raw: &'a RawLock,
    name: &'static str,
    how: &'static str,
    atomic: bool,
) -> RawGuard<'a> {
    let held = acquiring(name, how, atomic);
    let g = raw.lock();
    acquired(held);
    g
}

/// The running thread is about to take (or wait for) `name` as `how`: check the order
/// against every lock it holds, and record the wait. `atomic`: holding it makes the
/// context atomic. Pass what it returns to [`acquired`] once it is taken.
///
/// Besides locks, this is how a wait on something a lock-holding thread must finish is
/// seen, as lockdep's `lock_map_acquire` on a timer or a work item: `del_timer_sync` and
/// `flush_work` take the item's class, and so does the handler while it runs.
#[track_caller]
pub(crate) fn acquiring(name: &'static str, how: &'static str, atomic: bool) -> HeldLock {
    let me = thread_index();
    let held = HeldLock {
        name,
        how,
        atomic,
        location: Location::caller(),
        step: with_recorder(|r| r.last_step(me)).flatten(),
    };
    let inversion = with_recorder(|r| {
        r.acquiring(me, held.clone()).map(|(old, new)| {
            format!(
                "possible circular locking dependency:\n{}\nbut earlier in the run\n{}",
                describe_edge(r, "takes", &new),
                describe_edge(r, "took", &old)
            )
        })
    });
    if let Some(Some(message)) = inversion {
        // The attempt is the event the report marks.
        record(Op::Lock(how), Obj::Named(name));
        raise(Kind::LockOrder, message);
    }
    held
}

/// The running thread now holds `held` (see [`acquiring`]).
#[track_caller]
pub(crate) fn acquired(held: HeldLock) {
    let me = thread_index();
    let (name, how) = (held.name, held.how);
    with_recorder(|r| r.acquired(me, held));
    record(Op::Lock(how), Obj::Named(name));
}

/// Block on `w` until `ready(word)`, then change the word with `f`, seen by lockdep as
/// taking `class` as `how` (`wait_for_completion`, `del_timer_sync`): the wait is checked
/// against the locks held and recorded, so a deadlock report names what each blocked
/// thread waits for. A wait under real threads that runs out of patience is a `deadlock`.
#[track_caller]
pub(crate) fn wait<R>(
    w: &RawWait,
    class: &'static str,
    how: &'static str,
    ready: impl Fn(u64) -> bool,
    f: impl FnOnce(&mut u64) -> R,
) -> R {
    let held = acquiring(class, how, false);
    let Some(r) = w.wait(ready, f) else {
        raise(
            Kind::Deadlock,
            format!(
                "{how}({class}) waited {} s and nothing ended the wait",
                RawWait::STD_PATIENCE.as_secs()
            ),
        );
    };
    acquired(held);
    released(class, how);
    r
}

/// Release a lock taken by [`lock`].
#[track_caller]
pub(crate) fn unlock(g: RawGuard<'_>, name: &'static str, how: &'static str) {
    if std::thread::panicking() && engine() != Engine::Std {
        // A loom or shuttle execution that ends in a panic (a violation, a deadlock) is
        // over, and its runtime may be gone: asking it which thread this is would panic in
        // a destructor and abort. The recorder forgets the held locks at the next reset.
        g.release();
        return;
    }
    released(name, how);
    g.release();
}

/// The running thread no longer holds `name`, released as `how`.
#[track_caller]
pub(crate) fn released(name: &'static str, how: &'static str) {
    if !std::thread::panicking() {
        record(Op::Unlock(how), Obj::Named(name));
    }
    let me = thread_index();
    with_recorder(|r| r.released(me, name));
}
