//! Lock bookkeeping shared by every sleeping and spinning lock (kernel/locking/lockdep.c, in
//! spirit): which thread holds and waits for which lock, and the lock-order graph.
//!
//! The order graph is kept across all executions of a run, as lockdep keeps it across the
//! life of a kernel: an A-then-B order seen in one execution and B-then-A in another is a
//! `lock-order` violation even if no explored execution deadlocked. A lock's class is its
//! name.

use std::panic::Location;

use crate::check::{raise, Kind};
use crate::kernel::engine::{thread_index, with_recorder, RawGuard, RawLock};
use crate::trace::{record, HeldLock, Obj, Op, OrderEdge};

fn at(l: &Location<'_>) -> String {
    format!("{}:{}", l.file(), l.line())
}

fn thread_name(t: usize) -> String {
    if t == 0 {
        "setup".into()
    } else {
        format!("thread {t}")
    }
}

fn describe_edge(e: &OrderEdge) -> String {
    format!(
        "{} took {} ({} at {}) while holding {} ({} at {})",
        thread_name(e.thread),
        e.to.name,
        e.to.how,
        at(e.to.location),
        e.from.name,
        e.from.how,
        at(e.from.location)
    )
}

/// Take `raw` as `how` (`spin_lock_irqsave`), checking the lock order first.
#[track_caller]
pub(crate) fn lock<'a>(
    raw: &'a RawLock,
    name: &'static str,
    how: &'static str,
    atomic: bool,
) -> RawGuard<'a> {
    let me = thread_index();
    let held = HeldLock {
        name,
        how,
        atomic,
        location: Location::caller(),
    };
    if let Some(Some((old, new))) = with_recorder(|r| r.acquiring(me, held.clone())) {
        raise(
            Kind::LockOrder,
            format!(
                "possible circular locking dependency: {}; but earlier {}",
                describe_edge(&new),
                describe_edge(&old)
            ),
        );
    }
    let g = raw.lock();
    with_recorder(|r| r.acquired(me, held));
    record(Op::Lock(how), Obj::Named(name));
    g
}

/// Release a lock taken by [`lock`].
#[track_caller]
pub(crate) fn unlock(g: RawGuard<'_>, name: &'static str, how: &'static str) {
    if !std::thread::panicking() {
        record(Op::Unlock(how), Obj::Named(name));
    }
    let me = thread_index();
    with_recorder(|r| r.released(me, name));
    g.release();
}
