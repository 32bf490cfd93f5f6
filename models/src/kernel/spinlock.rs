//! `spinlock_t` (include/linux/spinlock.h).
//!
//! A spinlock is modelled as a blocking lock of the engine: a spinning waiter and a blocked
//! one reach the same states, and blocking keeps loom's exploration finite and lets the
//! engines detect a realized deadlock. The holder is ghost state, read only by the thread
//! that asks whether it holds the lock itself (`lockdep_assert_held`), which no other thread
//! can change; `assert_spin_locked` asks the engine's lock.
//!
//! [`LockedBy`] holds data that only code holding one given spinlock touches (the IOVA rbtree
//! under `iova_rbtree_lock`, a binding list under `reserved_lock`): the lock orders every
//! access, so the data need not be engine words of its own.

use crate::check::{raise, Kind};
use crate::engine::{thread_index, unlock_lock_barrier, Ghost, IdSource, RawGuard, RawLock};
use crate::kernel::lockdep;
use crate::trace::with_recorder;

/// A spinlock, named as in the kernel source (`page_table_lock`).
pub struct SpinLock {
    raw: RawLock,
    name: &'static str,
    holder: Ghost<Option<usize>>,
    /// Identity of this lock (names repeat: every `irq_desc->lock`), for [`LockedBy`].
    id: u64,
}

/// Source of [`SpinLock`] identities (an identity only, never a scheduling point).
static NEXT_LOCK_ID: IdSource = IdSource::new();

impl SpinLock {
    /// `spin_lock_init`.
    pub fn new(name: &'static str) -> Self {
        SpinLock {
            raw: RawLock::new(),
            name,
            holder: Ghost::new(None),
            id: NEXT_LOCK_ID.next(),
        }
    }

    /// The lock's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// A held spinlock; released by [`spin_unlock`] or [`spin_unlock_irqrestore`] (or when
/// dropped, as the kernel's scoped guards do).
pub struct SpinGuard<'a> {
    lock: &'a SpinLock,
    raw: Option<RawGuard<'a>>,
    unlock_name: &'static str,
}

#[track_caller]
fn acquire<'a>(lock: &'a SpinLock, name: &'static str, unlock_name: &'static str) -> SpinGuard<'a> {
    let raw = lockdep::lock(&lock.raw, lock.name, name, true);
    let me = thread_index();
    if with_recorder(|r| r.has_unlocked(me)) == Some(true) {
        unlock_lock_barrier();
    }
    lock.holder.with(|h| *h = Some(me));
    SpinGuard {
        lock,
        raw: Some(raw),
        unlock_name,
    }
}

/// `spin_lock(lock)`.
#[track_caller]
pub fn spin_lock(lock: &SpinLock) -> SpinGuard<'_> {
    acquire(lock, "spin_lock", "spin_unlock")
}

/// `spin_lock_irqsave(lock, flags)`.
#[track_caller]
pub fn spin_lock_irqsave(lock: &SpinLock) -> SpinGuard<'_> {
    acquire(lock, "spin_lock_irqsave", "spin_unlock_irqrestore")
}

/// `raw_spin_lock_irqsave(lock, flags)`: a `raw_spinlock_t`, as `irq_desc->lock` is. The
/// model keeps one lock type: on a non-RT kernel both spin, and both make the context atomic.
#[track_caller]
pub fn raw_spin_lock_irqsave(lock: &SpinLock) -> SpinGuard<'_> {
    acquire(lock, "raw_spin_lock_irqsave", "raw_spin_unlock_irqrestore")
}

/// `spin_unlock(lock)`.
#[track_caller]
pub fn spin_unlock(g: SpinGuard<'_>) {
    drop(g)
}

/// `spin_unlock_irqrestore(lock, flags)`.
#[track_caller]
pub fn spin_unlock_irqrestore(g: SpinGuard<'_>) {
    drop(g)
}

/// `raw_spin_unlock_irqrestore(lock, flags)`.
#[track_caller]
pub fn raw_spin_unlock_irqrestore(g: SpinGuard<'_>) {
    drop(g)
}

impl Drop for SpinGuard<'_> {
    #[track_caller]
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            self.lock.holder.with(|h| *h = None);
            if !std::thread::panicking() {
                let me = thread_index();
                with_recorder(|r| r.unlocked_spinlock(me));
            }
            lockdep::unlock(raw, self.lock.name, self.unlock_name);
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
