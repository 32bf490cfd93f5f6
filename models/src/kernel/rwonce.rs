//! `READ_ONCE` / `WRITE_ONCE` (include/asm-generic/rwonce.h).

use std::sync::atomic::Ordering;

use crate::kernel::atomic::Atomic64;

/// `READ_ONCE(x)`: a single, untorn, unordered load.
#[track_caller]
pub fn read_once(x: &Atomic64) -> u64 {
    x.load(Ordering::Relaxed)
}

/// `READ_ONCE(x)` of a value the caller then dereferences (a page-table pointer): a load
/// through the pointer is address-dependent on this one, which every architecture orders
/// (Alpha through `READ_ONCE`'s barrier). Modelled as an Acquire load, which also orders
/// later accesses that do not depend on the pointer; arm64 and POWER reorder those, so
/// this can hide a bug there (fidelity row `READ_ONCE` of a table pointer).
#[track_caller]
pub fn read_once_dep(x: &Atomic64) -> u64 {
    x.load(Ordering::Acquire)
}

/// `WRITE_ONCE(x, v)`: a single, untorn, unordered store.
#[track_caller]
pub fn write_once(x: &Atomic64, v: u64) {
    x.store(v, Ordering::Relaxed)
}
