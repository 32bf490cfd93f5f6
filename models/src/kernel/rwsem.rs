//! `struct rw_semaphore` (include/linux/rwsem.h): a sleeping reader-writer lock. `down_read`
//! and `down_write` may sleep; the trylocks do not.
//!
//! Lockdep sees `down_read` as a non-recursive read: a second `down_read` by the holder
//! deadlocks once a writer queues between the two, so it is "possible recursive locking"
//! although the engines (whose readers never wait for a queued writer) cannot deadlock on it.

use crate::kernel::lockdep::{Acquire, Mode, WaitType};
use crate::kernel::rwlock::{RwCore, RwGuard};
use crate::kernel::sched::might_sleep_unrecorded;
use crate::kernel::spinlock::IrqUnlock;

/// A `struct rw_semaphore`, named as in the kernel source (`mmap_lock`).
pub struct RwSemaphore {
    core: RwCore,
}

impl RwSemaphore {
    /// `init_rwsem`.
    pub fn new(name: &'static str) -> Self {
        RwSemaphore {
            core: RwCore::new(name),
        }
    }

    /// The acquisition lockdep sees: a non-recursive read or a write, `LD_WAIT_SLEEP`.
    fn acquire(&self, how: &'static str, write: bool) -> Acquire {
        let mode = if write { Mode::Write } else { Mode::Read };
        self.core.acquire(how, false, mode, WaitType::Sleep)
    }
}

#[track_caller]
fn down<'a>(
    s: &'a RwSemaphore,
    how: &'static str,
    unlock: &'static str,
    write: bool,
) -> RwGuard<'a> {
    might_sleep_unrecorded(how);
    s.core.lock(&s.acquire(how, write), unlock, IrqUnlock::Keep)
}

/// `down_read(sem)`: may sleep.
#[track_caller]
pub fn down_read(sem: &RwSemaphore) -> RwGuard<'_> {
    down(sem, "down_read", "up_read", false)
}

/// `down_write(sem)`: may sleep.
#[track_caller]
pub fn down_write(sem: &RwSemaphore) -> RwGuard<'_> {
    down(sem, "down_write", "up_write", true)
}

/// `down_read_trylock(sem)`: the read side if it is free now (the kernel's 1), else `None`.
#[track_caller]
pub fn down_read_trylock(sem: &RwSemaphore) -> Option<RwGuard<'_>> {
    sem.core
        .try_lock(&sem.acquire("down_read_trylock", false), "up_read")
}

/// `down_write_trylock(sem)`: the write side if it is free now (the kernel's 1), else `None`.
#[track_caller]
pub fn down_write_trylock(sem: &RwSemaphore) -> Option<RwGuard<'_>> {
    sem.core
        .try_lock(&sem.acquire("down_write_trylock", true), "up_write")
}

/// `up_read(sem)`.
#[track_caller]
pub fn up_read(g: RwGuard<'_>) {
    drop(g)
}

/// `up_write(sem)`.
#[track_caller]
pub fn up_write(g: RwGuard<'_>) {
    drop(g)
}
