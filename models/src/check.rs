//! Violations: one vocabulary for code, scenario files and reports, raised as structured
//! panics that the engines catch.
//!
//! `raise` records the violation (kind, message, the event it points at) in the execution's
//! recorder and then panics. The payload is a `String`, so that shuttle can append the
//! failing schedule to it; the structured data is read back from the recorder.

pub use crate::violation::{Kind, Violation};

/// The prefix of every violation panic message.
pub const PANIC_PREFIX: &str = "iommu-mc violation";

/// Raise a violation of `kind`, pointing at the last recorded event of this thread.
#[track_caller]
pub fn raise(kind: Kind, message: impl Into<String>) -> ! {
    raise_at(kind, message, None)
}

/// Raise a violation of `kind` pointing at event `at` (from [`crate::trace::last_event`]):
/// an earlier access the check found wrong, such as the stale cache entry, rather than the
/// bookkeeping read that decided it; `None` points at the last event.
#[track_caller]
pub fn raise_at(kind: Kind, message: impl Into<String>, at: Option<usize>) -> ! {
    let message = message.into();
    let thread = crate::engine::thread_index();
    crate::trace::with_recorder(|r| {
        let event = at.or(r.len().checked_sub(1));
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
