//! `spinlock_t` (include/linux/spinlock.h).
//!
//! A spinlock is modelled as a blocking lock of the engine: a spinning waiter and a blocked
//! one reach the same states, and blocking keeps loom's exploration finite and lets the
//! engines detect a realized deadlock. The holder is ghost state, read only by the thread
//! that asks whether it holds the lock itself (`lockdep_assert_held`), which no other thread
//! can change; `assert_spin_locked` asks the engine's lock.

use crate::check::{raise, Kind};
use crate::kernel::engine::{thread_index, Ghost, RawGuard, RawLock};
use crate::kernel::lockdep;

/// A spinlock, named as in the kernel source (`page_table_lock`).
pub struct SpinLock {
    raw: RawLock,
    name: &'static str,
    holder: Ghost<Option<usize>>,
}

impl SpinLock {
    /// `spin_lock_init`.
    pub fn new(name: &'static str) -> Self {
        SpinLock {
            raw: RawLock::new(),
            name,
            holder: Ghost::new(None),
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
    lock.holder.with(|h| *h = Some(thread_index()));
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
