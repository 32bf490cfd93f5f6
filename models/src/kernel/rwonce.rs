//! `READ_ONCE` / `WRITE_ONCE` (include/asm-generic/rwonce.h).

use std::sync::atomic::Ordering;

use crate::kernel::atomic::Atomic64;

/// `READ_ONCE(x)`: a single, untorn, unordered load.
#[track_caller]
pub fn read_once(x: &Atomic64) -> u64 {
    x.load(Ordering::Relaxed)
}

/// `READ_ONCE(x)` of a value the caller then dereferences (a page-table pointer): the next
/// load is address-dependent on this one, which every architecture but Alpha orders. Modelled
/// as an Acquire load; this can hide a bug only on Alpha.
#[track_caller]
pub fn read_once_dep(x: &Atomic64) -> u64 {
    x.load(Ordering::Acquire)
}

/// `WRITE_ONCE(x, v)`: a single, untorn, unordered store.
#[track_caller]
pub fn write_once(x: &Atomic64, v: u64) {
    x.store(v, Ordering::Relaxed)
}
