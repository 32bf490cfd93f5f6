//! `spinlock_t` and `raw_spinlock_t` (include/linux/spinlock.h).
//!
//! A spinlock is modelled as a blocking lock of the engine: a spinning waiter and a blocked
//! one reach the same states, and blocking keeps loom's exploration finite and lets the
//! engines detect a realized deadlock. The holder is ghost state, read only by the thread
//! that asks whether it holds the lock itself (`lockdep_assert_held`), which no other thread
//! can change; `assert_spin_locked` asks the engine's lock.
//!
//! `raw_spinlock_t` and `spinlock_t` are one Rust type; which one a lock is, is fixed when it
//! is initialised ([`SpinLock::new_raw`] or [`SpinLock::new`]) and is its lockdep wait type
//! (`LD_WAIT_SPIN` or `LD_WAIT_CONFIG`), whichever call takes it. On PREEMPT_RT a
//! `spinlock_t` sleeps, and its `_irqsave`/`_irq` forms leave interrupts enabled.
//!
//! [`LockedBy`] holds data that only code holding one given spinlock touches (the IOVA rbtree
//! under `iova_rbtree_lock`, a binding list under `reserved_lock`): the lock orders every
//! access, so the data need not be engine words of its own.

use crate::check::{raise, Kind};
use crate::engine::{thread_index, unlock_lock_barrier, Ghost, IdSource, RawGuard, RawLock};
use crate::kernel::config::config;
use crate::kernel::irqflags::{self, IrqFlags};
use crate::kernel::lockdep::{self, Acquire, Mode, WaitType};
use crate::trace::{at, with_recorder};
use std::panic::Location;

/// A spinlock, named as in the kernel source (`page_table_lock`).
pub struct SpinLock {
    raw: RawLock,
    name: &'static str,
    holder: Ghost<Option<usize>>,
    /// Identity of this lock (names repeat: every `irq_desc->lock`), for [`LockedBy`].
    id: u64,
    /// `LD_WAIT_SPIN` for a `raw_spinlock_t`, `LD_WAIT_CONFIG` for a `spinlock_t`.
    wait: WaitType,
}

/// `raw_spinlock_t`: a [`SpinLock`] made by [`SpinLock::new_raw`].
pub type RawSpinLock = SpinLock;

/// Source of [`SpinLock`] identities (an identity only, never a scheduling point).
static NEXT_LOCK_ID: IdSource = IdSource::new();

impl SpinLock {
    /// `spin_lock_init`: a `spinlock_t`.
    pub fn new(name: &'static str) -> Self {
        Self::with_wait(name, WaitType::Config)
    }

    /// `raw_spin_lock_init`: a `raw_spinlock_t`, which spins even on PREEMPT_RT.
    pub fn new_raw(name: &'static str) -> Self {
        Self::with_wait(name, WaitType::Spin)
    }

    fn with_wait(name: &'static str, wait: WaitType) -> Self {
        SpinLock {
            raw: RawLock::new(),
            name,
            holder: Ghost::new(None),
            id: NEXT_LOCK_ID.next(),
            wait,
        }
    }

    /// The lock's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// True if the lock's `_irqsave`/`_irq` forms disable interrupts: always for a
    /// `raw_spinlock_t`, and for a `spinlock_t` unless on PREEMPT_RT.
    fn disables_irqs(&self) -> bool {
        self.wait == WaitType::Spin || !config().preempt_rt
    }
}

/// What a lock call does to the interrupt flag, and its unlock undoes.
#[derive(Clone, Copy)]
pub(crate) enum Irq {
    /// Nothing (`spin_lock`).
    Keep,
    /// Disable, restoring the saved state at unlock (`_irqsave`).
    Save,
    /// Disable, enabling at unlock (`_irq`).
    Disable,
}

/// What an unlock does to the interrupt flag.
#[derive(Clone, Copy)]
pub(crate) enum IrqUnlock {
    /// Nothing.
    Keep,
    /// `local_irq_restore(flags)`.
    Restore(IrqFlags),
    /// `local_irq_enable()`.
    Enable,
}

impl Irq {
    /// Apply at lock time (if `disables`, else the call leaves interrupts as they are),
    /// returning what the unlock does.
    #[track_caller]
    pub(crate) fn lock(self, how: &'static str, disables: bool) -> IrqUnlock {
        match self {
            Irq::Save if disables => IrqUnlock::Restore(irqflags::save(how)),
            Irq::Disable if disables => {
                irqflags::save(how);
                IrqUnlock::Enable
            }
            _ => IrqUnlock::Keep,
        }
    }
}

impl IrqUnlock {
    /// Apply at unlock time, after the lock is released. Nothing when unwinding.
    #[track_caller]
    pub(crate) fn unlock(self) {
        if std::thread::panicking() {
            return;
        }
        match self {
            IrqUnlock::Keep => {}
            IrqUnlock::Restore(f) => irqflags::restore(f),
            IrqUnlock::Enable => lockdep::set_irqs(None),
        }
    }
}

/// A held spinlock; released by the unlock call that matches its lock call (or when
/// dropped, as the kernel's scoped guards do).
pub struct SpinGuard<'a> {
    lock: &'a SpinLock,
    raw: Option<RawGuard<'a>>,
    unlock_name: &'static str,
    irq: IrqUnlock,
    /// Where it was taken: where a guard dropped without an unlock call is recorded.
    taken_at: &'static Location<'static>,
}

#[track_caller]
fn acquire<'a>(
    lock: &'a SpinLock,
    name: &'static str,
    unlock_name: &'static str,
    irq: Irq,
) -> SpinGuard<'a> {
    let irq = irq.lock(name, lock.disables_irqs());
    let a = Acquire {
        name: lock.name,
        how: name,
        atomic: true,
        mode: Mode::Write,
        wait: lock.wait,
    };
    let raw = lockdep::lock(&a, || lock.raw.lock());
    let me = thread_index();
    if with_recorder(|r| r.has_unlocked(me)) == Some(true) {
        unlock_lock_barrier();
    }
    lock.holder.with(|h| *h = Some(me));
    SpinGuard {
        lock,
        raw: Some(raw),
        taken_at: Location::caller(),
        unlock_name,
        irq,
    }
}

/// `spin_lock(lock)`.
#[track_caller]
pub fn spin_lock(lock: &SpinLock) -> SpinGuard<'_> {
    acquire(lock, "spin_lock", "spin_unlock", Irq::Keep)
}

/// `spin_lock_irqsave(lock, flags)`: the flags are kept in the guard.
#[track_caller]
pub fn spin_lock_irqsave(lock: &SpinLock) -> SpinGuard<'_> {
    acquire(
        lock,
        "spin_lock_irqsave",
        "spin_unlock_irqrestore",
        Irq::Save,
    )
}

/// `spin_lock_irq(lock)`.
#[track_caller]
pub fn spin_lock_irq(lock: &SpinLock) -> SpinGuard<'_> {
    acquire(lock, "spin_lock_irq", "spin_unlock_irq", Irq::Disable)
}

/// `raw_spin_lock(lock)`.
#[track_caller]
pub fn raw_spin_lock(lock: &RawSpinLock) -> SpinGuard<'_> {
    acquire(lock, "raw_spin_lock", "raw_spin_unlock", Irq::Keep)
}

/// `raw_spin_lock_irqsave(lock, flags)`, as `irq_desc->lock` is taken.
#[track_caller]
pub fn raw_spin_lock_irqsave(lock: &RawSpinLock) -> SpinGuard<'_> {
    acquire(
        lock,
        "raw_spin_lock_irqsave",
        "raw_spin_unlock_irqrestore",
        Irq::Save,
    )
}

/// `raw_spin_lock_irq(lock)`.
#[track_caller]
pub fn raw_spin_lock_irq(lock: &RawSpinLock) -> SpinGuard<'_> {
    acquire(
        lock,
        "raw_spin_lock_irq",
        "raw_spin_unlock_irq",
        Irq::Disable,
    )
}

/// `spin_unlock(lock)`.
#[track_caller]
pub fn spin_unlock(g: SpinGuard<'_>) {
    at(Location::caller(), || drop(g))
}

/// `spin_unlock_irqrestore(lock, flags)`.
#[track_caller]
pub fn spin_unlock_irqrestore(g: SpinGuard<'_>) {
    at(Location::caller(), || drop(g))
}

/// `spin_unlock_irq(lock)`.
#[track_caller]
pub fn spin_unlock_irq(g: SpinGuard<'_>) {
    at(Location::caller(), || drop(g))
}

/// `raw_spin_unlock(lock)`.
#[track_caller]
pub fn raw_spin_unlock(g: SpinGuard<'_>) {
    at(Location::caller(), || drop(g))
}

/// `raw_spin_unlock_irqrestore(lock, flags)`.
#[track_caller]
pub fn raw_spin_unlock_irqrestore(g: SpinGuard<'_>) {
    at(Location::caller(), || drop(g))
}

/// `raw_spin_unlock_irq(lock)`.
#[track_caller]
pub fn raw_spin_unlock_irq(g: SpinGuard<'_>) {
    at(Location::caller(), || drop(g))
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        // Dropped at the end of a scope rather than by an unlock call: recorded where it
        // was taken.
        let taken = self.taken_at;
        at(taken, || self.release());
    }
}

impl SpinGuard<'_> {
    fn release(&mut self) {
        if let Some(raw) = self.raw.take() {
            self.lock.holder.with(|h| *h = None);
            if !std::thread::panicking() {
                let me = thread_index();
                with_recorder(|r| r.unlocked_spinlock(me));
            }
            lockdep::unlock(|| raw.release(), self.lock.name, self.unlock_name);
            self.irq.unlock();
        }
    }
}

/// `assert_spin_locked(lock)`: the lock is held (by anyone), else `lock-not-held`.
///
/// Held by this thread is this thread's own state; held by another is a `try_lock` of the
/// engine's lock, which the engine orders against the other thread's lock and unlock.
#[track_caller]
pub fn assert_spin_locked(lock: &SpinLock) {
    let me = thread_index();
    if lock.holder.with(|h| *h == Some(me)) {
        return;
    }
    let free = lock.raw.try_lock().map(RawGuard::release).is_some();
    if free {
        raise(
            Kind::LockNotHeld,
            format!(
                "assert_spin_locked({}) failed: the lock is not held",
                lock.name
            ),
        );
    }
}

/// `lockdep_assert_held(lock)`: the current thread holds the lock, else `lock-not-held`.
#[track_caller]
pub fn lockdep_assert_held(lock: &SpinLock) {
    let me = thread_index();
    if lock.holder.with(|h| *h != Some(me)) {
        raise(
            Kind::LockNotHeld,
            format!(
                "lockdep_assert_held({}) failed: not held by this thread",
                lock.name
            ),
        );
    }
}

/// Data protected by one spinlock, reachable only through a guard of that lock (as
/// Rust-for-Linux's `LockedBy`).
///
/// This is how lock-protected state stays a plain container and still decides what threads
/// do soundly: every access holds the engine lock, and the engines order lock acquisitions
/// (loom's DPOR treats two acquisitions of one lock as dependent), so every order of the
/// critical sections, and with it every order of the accesses, is explored. The rule is
/// enforced, not assumed: [`LockedBy::access`] panics (a model bug, not a verdict) when the
/// guard is of another lock. Readers after the threads joined (final checks) take the lock
/// too, which costs one uncontended acquisition.
pub struct LockedBy<T> {
    lock: u64,
    name: &'static str,
    value: Ghost<T>,
}

impl<T> LockedBy<T> {
    /// `v`, protected by `lock`.
    pub fn new(lock: &SpinLock, v: T) -> Self {
        LockedBy {
            lock: lock.id,
            name: lock.name,
            value: Ghost::new(v),
        }
    }

    /// Run `f` on the value; `g` must be a guard of the protecting lock (so this thread holds
    /// it), else a panic: the model touched the data outside its lock.
    #[track_caller]
    pub fn access<R>(&self, g: &SpinGuard<'_>, f: impl FnOnce(&mut T) -> R) -> R {
        assert!(
            g.lock.id == self.lock,
            "data protected by {} accessed under {} instead",
            self.name,
            g.lock.name
        );
        self.value.with(f)
    }
}
