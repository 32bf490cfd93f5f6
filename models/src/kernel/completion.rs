//! `struct completion` (include/linux/completion.h): `init_completion`, `complete`,
//! `complete_all`, `wait_for_completion`, `try_wait_for_completion`, `reinit_completion`.
//!
//! The count (`done`) is an engine word behind an engine lock, with an engine condition
//! variable for the waiters, so `complete` and the wait it ends are ordered as the kernel's
//! `swait` spinlock orders them (release/acquire). A wait that nothing will complete leaves
//! its thread blocked: under loom and shuttle, once every thread left is blocked, that is a
//! `deadlock`, and the report names the completion each blocked thread waits for.

use crate::engine::RawWait;
use crate::kernel::lockdep;
use crate::kernel::sched::might_sleep_unrecorded;
use crate::trace::{record, Obj, Op};

/// `done` after `complete_all`: every waiter, present and future, passes (`UINT_MAX`).
const ALL: u64 = u32::MAX as u64;

/// A completion, named as in the kernel source (`dev->probe_done`).
pub struct Completion {
    done: RawWait,
    name: &'static str,
}

/// `init_completion(x)`: not done.
pub fn init_completion(name: &'static str) -> Completion {
    Completion {
        done: RawWait::new(0),
        name,
    }
}

/// `complete(x)`: let one waiter (present or future) through.
#[track_caller]
pub fn complete(x: &Completion) {
    record(Op::Call("complete"), Obj::Named(x.name));
    x.done.update(|d| {
        if *d != ALL {
            *d += 1
        }
    });
}

/// `complete_all(x)`: let every waiter through, until `reinit_completion`.
#[track_caller]
pub fn complete_all(x: &Completion) {
    record(Op::Call("complete_all"), Obj::Named(x.name));
    x.done.update(|d| *d = ALL);
}

/// Take one `done` (none is taken after `complete_all`).
fn take(d: &mut u64) {
    if *d != ALL {
        *d -= 1
    }
}

/// `wait_for_completion(x)`: may sleep; blocks until `x` is completed. The wait is recorded
/// as the thread waiting for `x`, so a deadlock report names it.
#[track_caller]
pub fn wait_for_completion(x: &Completion) {
    might_sleep_unrecorded("wait_for_completion");
    lockdep::wait(&x.done, x.name, "wait_for_completion", |d| d > 0, take);
}

/// `try_wait_for_completion(x)`: take a `done` without blocking; false if there was none.
#[track_caller]
pub fn try_wait_for_completion(x: &Completion) -> bool {
    record(Op::Call("try_wait_for_completion"), Obj::Named(x.name));
    x.done.update(|d| {
        let ok = *d > 0;
        if ok {
            take(d)
        }
        ok
    })
}

/// `reinit_completion(x)`: not done again.
#[track_caller]
pub fn reinit_completion(x: &Completion) {
    record(Op::Call("reinit_completion"), Obj::Named(x.name));
    x.done.update(|d| *d = 0);
}
