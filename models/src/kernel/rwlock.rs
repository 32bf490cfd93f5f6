//! `rwlock_t` (include/linux/rwlock.h): a spinning reader-writer lock, and the read-write
//! core it shares with `struct rw_semaphore` ([`crate::kernel::rwsem`]).
//!
//! The engine's reader-writer lock holds it. A read by a thread that already reads the lock
//! (a hardirq on the CPU of a reader, taking it again) is counted in the lock's ghost map of
//! readers, which only that thread reads, and not taken from the engine again; the engine's
//! read is given back when the thread's reads are all released, which the model must do in
//! the reverse order it took them.
//!
//! Lockdep sees `read_lock` as a recursive read only in interrupt context
//! (`read_lock_is_recursive`), as on queued rwlocks (x86, arm64), where a reader in process
//! context waits behind a queued writer and one in interrupt context does not. The model's
//! interrupt context is hardirq only: a `read_lock` in softirq or BH-disabled code, which
//! the kernel also counts as recursive, is not modelled. `write_lock` is exclusive. On PREEMPT_RT an `rwlock_t`
//! sleeps (`LD_WAIT_CONFIG`) and its `_irqsave`/`_irq` forms leave interrupts enabled.

use std::collections::BTreeMap;

use crate::engine::{thread_index, Ghost, RawRwGuard, RawRwLock};
use crate::kernel::config::config;
use crate::kernel::hardirq::in_hardirq;
use crate::kernel::lockdep::{self, Acquire, Mode, WaitType};
use crate::kernel::spinlock::{Irq, IrqUnlock};

/// The body of a reader-writer lock: the engine's lock, its name, who reads it how often.
pub(crate) struct RwCore {
    raw: RawRwLock,
    name: &'static str,
    /// Per thread: how many reads it holds. Each thread reads and writes only its own entry.
    readers: Ghost<BTreeMap<usize, u32>>,
}

/// A held read or write side of an [`RwLock`] or an
/// [`RwSemaphore`](crate::kernel::rwsem::RwSemaphore); released by the unlock call that
/// matches its lock call (or when dropped).
pub struct RwGuard<'a> {
    core: &'a RwCore,
    /// The engine's guard; `None` for a read nested in another read of the same thread.
    raw: Option<RawRwGuard<'a>>,
    read: bool,
    unlock_name: &'static str,
    irq: IrqUnlock,
}

impl RwCore {
    pub(crate) fn new(name: &'static str) -> Self {
        RwCore {
            raw: RawRwLock::new(),
            name,
            readers: Ghost::new(BTreeMap::new()),
        }
    }

    /// The acquisition lockdep sees.
    pub(crate) fn acquire(
        &self,
        how: &'static str,
        atomic: bool,
        mode: Mode,
        wait: WaitType,
    ) -> Acquire {
        Acquire {
            name: self.name,
            how,
            atomic,
            mode,
            wait,
        }
    }

    /// Count one more read by this thread.
    fn count_read(&self) {
        let me = thread_index();
        self.readers.with(|r| *r.entry(me).or_default() += 1);
    }

    fn guard<'a>(
        &'a self,
        raw: Option<RawRwGuard<'a>>,
        read: bool,
        unlock_name: &'static str,
        irq: IrqUnlock,
    ) -> RwGuard<'a> {
        if read {
            self.count_read();
        }
        RwGuard {
            core: self,
            raw,
            read,
            unlock_name,
            irq,
        }
    }

    /// True if the running thread holds a read of this lock already.
    fn reading(&self) -> bool {
        let me = thread_index();
        self.readers.with(|r| r.get(&me).is_some_and(|n| *n > 0))
    }

    /// Take the lock as `a` says (blocking), the interrupt flag handled as `irq` says.
    #[track_caller]
    pub(crate) fn lock(
        &self,
        a: &Acquire,
        unlock_name: &'static str,
        irq: IrqUnlock,
    ) -> RwGuard<'_> {
        let read = a.mode != Mode::Write;
        let nested = read && self.reading();
        let raw = lockdep::lock(a, || (!nested).then(|| self.raw.lock(!read)));
        self.guard(raw, read, unlock_name, irq)
    }

    /// Take the lock as `a` says if it is free now (a trylock).
    #[track_caller]
    pub(crate) fn try_lock(&self, a: &Acquire, unlock_name: &'static str) -> Option<RwGuard<'_>> {
        let read = a.mode != Mode::Write;
        let nested = read && self.reading();
        let raw = lockdep::trylock(a, || {
            if nested {
                Some(None)
            } else {
                self.raw.try_lock(!read).map(Some)
            }
        })?;
        Some(self.guard(raw, read, unlock_name, IrqUnlock::Keep))
    }
}

impl Drop for RwGuard<'_> {
    #[track_caller]
    fn drop(&mut self) {
        if self.read && !std::thread::panicking() {
            let me = thread_index();
            self.core.readers.with(|r| {
                if let Some(n) = r.get_mut(&me) {
                    *n = n.saturating_sub(1);
                }
            });
        }
        let raw = self.raw.take();
        lockdep::unlock(
            || {
                if let Some(g) = raw {
                    g.release()
                }
            },
            self.core.name,
            self.unlock_name,
        );
        self.irq.unlock();
    }
}

/// An `rwlock_t`, named as in the kernel source (`tasklist_lock`).
pub struct RwLock {
    core: RwCore,
}

impl RwLock {
    /// `rwlock_init`.
    pub fn new(name: &'static str) -> Self {
        RwLock {
            core: RwCore::new(name),
        }
    }
}

#[track_caller]
fn rw<'a>(
    lock: &'a RwLock,
    how: &'static str,
    unlock: &'static str,
    write: bool,
    irq: Irq,
) -> RwGuard<'a> {
    let rt = config().preempt_rt;
    let irq = irq.lock(how, !rt);
    // lockdep's read_lock_is_recursive(): a queued rwlock's read is recursive only in
    // interrupt context; PREEMPT_RT has no queued rwlocks (QUEUED_RWLOCKS depends on
    // !PREEMPT_RT), so there every read is.
    let mode = match (write, in_hardirq() || rt) {
        (true, _) => Mode::Write,
        (false, true) => Mode::RecursiveRead,
        (false, false) => Mode::Read,
    };
    let a = lock.core.acquire(how, true, mode, WaitType::Config);
    lock.core.lock(&a, unlock, irq)
}

/// `read_lock(lock)`.
#[track_caller]
pub fn read_lock(lock: &RwLock) -> RwGuard<'_> {
    rw(lock, "read_lock", "read_unlock", false, Irq::Keep)
}

/// `read_lock_irqsave(lock, flags)`.
#[track_caller]
pub fn read_lock_irqsave(lock: &RwLock) -> RwGuard<'_> {
    rw(
        lock,
        "read_lock_irqsave",
        "read_unlock_irqrestore",
        false,
        Irq::Save,
    )
}

/// `read_lock_irq(lock)`.
#[track_caller]
pub fn read_lock_irq(lock: &RwLock) -> RwGuard<'_> {
    rw(
        lock,
        "read_lock_irq",
        "read_unlock_irq",
        false,
        Irq::Disable,
    )
}

/// `write_lock(lock)`.
#[track_caller]
pub fn write_lock(lock: &RwLock) -> RwGuard<'_> {
    rw(lock, "write_lock", "write_unlock", true, Irq::Keep)
}

/// `write_lock_irqsave(lock, flags)`.
#[track_caller]
pub fn write_lock_irqsave(lock: &RwLock) -> RwGuard<'_> {
    rw(
        lock,
        "write_lock_irqsave",
        "write_unlock_irqrestore",
        true,
        Irq::Save,
    )
}

/// `write_lock_irq(lock)`.
#[track_caller]
pub fn write_lock_irq(lock: &RwLock) -> RwGuard<'_> {
    rw(
        lock,
        "write_lock_irq",
        "write_unlock_irq",
        true,
        Irq::Disable,
    )
}

/// `read_unlock(lock)`.
#[track_caller]
pub fn read_unlock(g: RwGuard<'_>) {
    drop(g)
}

/// `read_unlock_irqrestore(lock, flags)`.
#[track_caller]
pub fn read_unlock_irqrestore(g: RwGuard<'_>) {
    drop(g)
}

/// `read_unlock_irq(lock)`.
#[track_caller]
pub fn read_unlock_irq(g: RwGuard<'_>) {
    drop(g)
}

/// `write_unlock(lock)`.
#[track_caller]
pub fn write_unlock(g: RwGuard<'_>) {
    drop(g)
}

/// `write_unlock_irqrestore(lock, flags)`.
#[track_caller]
pub fn write_unlock_irqrestore(g: RwGuard<'_>) {
    drop(g)
}

/// `write_unlock_irq(lock)`.
#[track_caller]
pub fn write_unlock_irq(g: RwGuard<'_>) {
    drop(g)
}
