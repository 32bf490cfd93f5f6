//! `struct mutex` (include/linux/mutex.h): a sleeping lock. `mutex_lock` may sleep.

use crate::engine::{RawGuard, RawLock};
use crate::kernel::lockdep::{self, Acquire, Mode, WaitType};
use crate::kernel::sched::might_sleep_unrecorded;
use crate::trace::at;
use std::panic::Location;

/// A mutex, named as in the kernel source.
pub struct Mutex {
    raw: RawLock,
    name: &'static str,
}

impl Mutex {
    /// `mutex_init`.
    pub fn new(name: &'static str) -> Self {
        Mutex {
            raw: RawLock::new(),
            name,
        }
    }
}

/// A held mutex; released by [`mutex_unlock`] or when dropped.
pub struct MutexGuard<'a> {
    lock: &'a Mutex,
    raw: Option<RawGuard<'a>>,
    /// Where it was taken: where a guard dropped without `mutex_unlock` is recorded.
    taken_at: &'static Location<'static>,
}

/// `mutex_lock(lock)`: may sleep.
#[track_caller]
pub fn mutex_lock(lock: &Mutex) -> MutexGuard<'_> {
    might_sleep_unrecorded("mutex_lock");
    let a = Acquire {
        name: lock.name,
        how: "mutex_lock",
        atomic: false,
        mode: Mode::Write,
        wait: WaitType::Sleep,
    };
    let raw = lockdep::lock(&a, || lock.raw.lock());
    MutexGuard {
        lock,
        raw: Some(raw),
        taken_at: Location::caller(),
    }
}

/// `mutex_unlock(lock)`.
#[track_caller]
pub fn mutex_unlock(g: MutexGuard<'_>) {
    at(Location::caller(), || drop(g))
}

impl Drop for MutexGuard<'_> {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            let (name, taken) = (self.lock.name, self.taken_at);
            at(taken, || {
                lockdep::unlock(|| raw.release(), name, "mutex_unlock")
            });
        }
    }
}
