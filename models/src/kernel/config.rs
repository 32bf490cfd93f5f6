//! The kernel configuration an execution runs under (`CONFIG_PREEMPT_RT`,
//! `CONFIG_PROVE_RAW_LOCK_NESTING`), set before the execution's threads start and read as a
//! fixed setting.
//!
//! It is ghost state by the rule for values fixed before the threads start: no thread's
//! path depends on an order of writes to it. Outside an execution, and until set, it is
//! [`Config::default`] (neither option).

use crate::trace::with_recorder;

/// The configuration options the kernel API reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `CONFIG_PREEMPT_RT`: `spinlock_t` and `rwlock_t` are sleeping locks (rtmutex based),
    /// `spin_lock_irqsave` of a `spinlock_t` leaves interrupts enabled, and only
    /// `raw_spinlock_t` spins.
    pub preempt_rt: bool,
    /// `CONFIG_PROVE_RAW_LOCK_NESTING`: lockdep checks wait types as on PREEMPT_RT, even on
    /// a kernel without it (a `spinlock_t` inside a `raw_spinlock_t` is reported). Since
    /// v6.13 it is on by default with `CONFIG_PROVE_LOCKING` on architectures that support
    /// PREEMPT_RT (x86, arm64, ...): set it to check code as a current lockdep kernel there
    /// would; off, the model checks a non-RT kernel without it (before v6.13, or another
    /// architecture).
    pub prove_raw_lock_nesting: bool,
}

/// Set the configuration of the current execution (before its threads start).
pub fn set_config(c: Config) {
    with_recorder(|r| r.lockdep(|s: &mut crate::kernel::lockdep::State| s.config = c));
}

/// The configuration of the current execution.
pub fn config() -> Config {
    with_recorder(|r| r.lockdep(|s: &mut crate::kernel::lockdep::State| s.config))
        .unwrap_or_default()
}
