//! Violations: one vocabulary for code, scenario files and reports, raised as structured
//! panics that the engines catch.
//!
//! `raise` records the violation (kind, message, the event it points at) in the execution's
//! recorder and then panics. The payload is a `String`, so that shuttle can append the
//! failing schedule to it; the structured data is read back from the recorder.

use std::fmt;

/// The kinds of violation iommu-mc reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Read or write of a freed page or object (KASAN).
    UseAfterFree,
    /// A page or object freed twice.
    DoubleFree,
    /// A page or object still allocated after teardown.
    Leak,
    /// A read that cannot see the initialisation of what it reads.
    UninitializedRead,
    /// A mapping that succeeded and was not unmapped does not translate.
    LostMapping,
    /// Something translates that should not, or to the wrong address.
    StaleTranslation,
    /// A dirty bit the hardware set was lost.
    LostDirty,
    /// A page reported dirty that was not written.
    FalseDirty,
    /// refcount_t misuse: get from zero, underflow.
    Refcount,
    /// Two bindings for the same resource.
    DuplicateBinding,
    /// A quota exceeded.
    QuotaExceeded,
    /// A sleeping call in atomic context.
    SleepInAtomic,
    /// `assert_spin_locked` (or lockdep_assert_held) failed.
    LockNotHeld,
    /// Threads blocked on each other.
    Deadlock,
    /// Two locks taken in opposite orders (lockdep).
    LockOrder,
    /// A model's own named property.
    Invariant,
    /// A lock class used in hardirq context and taken with interrupts enabled (lockdep's
    /// "inconsistent lock state").
    InconsistentLockState,
    /// A HARDIRQ-safe lock class ordered before a HARDIRQ-unsafe one (lockdep's "possible
    /// irq lock inversion dependency" and "HARDIRQ-safe -> HARDIRQ-unsafe lock order").
    IrqLockInversion,
    /// A lock taken in a context that may not wait the way it waits (lockdep's "BUG:
    /// Invalid wait context": a `spinlock_t` under a `raw_spinlock_t` on PREEMPT_RT).
    InvalidWaitContext,
    /// A read-write lock class taken again by the thread holding it (lockdep's "possible
    /// recursive locking detected").
    RecursiveLocking,
}

impl Kind {
    /// Every kind, in vocabulary order.
    pub const ALL: [Kind; 20] = [
        Kind::UseAfterFree,
        Kind::DoubleFree,
        Kind::Leak,
        Kind::UninitializedRead,
        Kind::LostMapping,
        Kind::StaleTranslation,
        Kind::LostDirty,
        Kind::FalseDirty,
        Kind::Refcount,
        Kind::DuplicateBinding,
        Kind::QuotaExceeded,
        Kind::SleepInAtomic,
        Kind::LockNotHeld,
        Kind::Deadlock,
        Kind::LockOrder,
        Kind::Invariant,
        Kind::InconsistentLockState,
        Kind::IrqLockInversion,
        Kind::InvalidWaitContext,
        Kind::RecursiveLocking,
    ];

    /// The name used in scenario files and reports (`use-after-free`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::UseAfterFree => "use-after-free",
            Kind::DoubleFree => "double-free",
            Kind::Leak => "leak",
            Kind::UninitializedRead => "uninitialized-read",
            Kind::LostMapping => "lost-mapping",
            Kind::StaleTranslation => "stale-translation",
            Kind::LostDirty => "lost-dirty",
            Kind::FalseDirty => "false-dirty",
            Kind::Refcount => "refcount",
            Kind::DuplicateBinding => "duplicate-binding",
            Kind::QuotaExceeded => "quota-exceeded",
            Kind::SleepInAtomic => "sleep-in-atomic",
            Kind::LockNotHeld => "lock-not-held",
            Kind::Deadlock => "deadlock",
            Kind::LockOrder => "lock-order",
            Kind::Invariant => "invariant",
            Kind::InconsistentLockState => "inconsistent-lock-state",
            Kind::IrqLockInversion => "irq-lock-inversion",
            Kind::InvalidWaitContext => "invalid-wait-context",
            Kind::RecursiveLocking => "recursive-locking",
        }
    }

    /// Parse a name from a scenario file.
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A violation raised in an execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// What kind.
    pub kind: Kind,
    /// What happened, in a sentence a reviewer can quote.
    pub message: String,
    /// Index of the trace event it points at (the offending access), if any.
    pub event: Option<usize>,
    /// Model-thread index that raised it.
    pub thread: usize,
}

/// The prefix of every violation panic message.
pub const PANIC_PREFIX: &str = "iommu-mc violation";

/// Raise a violation of `kind`, pointing at the last recorded event of this thread.
#[track_caller]
pub fn raise(kind: Kind, message: impl Into<String>) -> ! {
    let message = message.into();
    let thread = crate::kernel::engine::thread_index();
    crate::kernel::engine::with_recorder(|r| {
        let event = r.len().checked_sub(1);
        r.set_violation(Violation {
            kind,
            message: message.clone(),
            event,
            thread,
        })
    });
    std::panic::panic_any(format!("{PANIC_PREFIX}: {kind}: {message}"))
}

/// Raise `kind` unless `cond` holds.
#[track_caller]
pub fn ensure(cond: bool, kind: Kind, message: impl FnOnce() -> String) {
    if !cond {
        raise(kind, message());
    }
}
