//! The violation vocabulary: every kind a check can raise, and a raised violation.
//! A leaf: it names nothing else of the crate, so the trace can hold a violation and the
//! checks can raise one without either importing the other.

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
    /// A `list_head` whose pointers do not agree (CONFIG_DEBUG_LIST's `list_add corruption`,
    /// `list_del corruption`), or a walk that followed a deleted entry's `LIST_POISON`.
    ListCorruption,
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
    /// After the flush that the VT-d spec's guidance requires for a change of an entry
    /// returned, a cache still holds something derived from the entry's old version, though
    /// what it translates to did not change (a PRE flip): the spec's rule is broken, and
    /// what it costs depends on what the hardware keeps with the entry.
    UnflushedEntry,
}

impl Kind {
    /// Every kind, in vocabulary order.
    pub const ALL: [Kind; 22] = [
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
        Kind::ListCorruption,
        Kind::InconsistentLockState,
        Kind::IrqLockInversion,
        Kind::InvalidWaitContext,
        Kind::RecursiveLocking,
        Kind::UnflushedEntry,
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
            Kind::ListCorruption => "list-corruption",
            Kind::InconsistentLockState => "inconsistent-lock-state",
            Kind::IrqLockInversion => "irq-lock-inversion",
            Kind::InvalidWaitContext => "invalid-wait-context",
            Kind::RecursiveLocking => "recursive-locking",
            Kind::UnflushedEntry => "unflushed-entry",
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
