//! Memory barriers (include/asm-generic/barrier.h), mapped to C11 fences.

use std::sync::atomic::Ordering;

use crate::engine::fence;
use crate::kernel::atomic::Atomic64;
use crate::trace::{record, Obj, Op};

#[track_caller]
fn barrier(name: &'static str, o: Ordering) {
    fence(o);
    record(Op::Barrier(name), Obj::None);
}

/// `smp_wmb()`: orders earlier stores before later stores. Modelled as `fence(Release)`,
/// which also orders earlier loads: it can only hide a load->store reordering.
#[track_caller]
pub fn smp_wmb() {
    barrier("smp_wmb", Ordering::Release)
}

/// `smp_rmb()`: orders earlier loads before later loads; `fence(Acquire)`.
#[track_caller]
pub fn smp_rmb() {
    barrier("smp_rmb", Ordering::Acquire)
}

/// `smp_mb()`: full barrier; `fence(SeqCst)`.
#[track_caller]
pub fn smp_mb() {
    barrier("smp_mb", Ordering::SeqCst)
}

/// `smp_acquire__after_ctrl_dep()`: after a control dependency (the branch on
/// `refcount_dec_and_test`), orders the earlier load before later loads and stores;
/// `fence(Acquire)`.
#[track_caller]
pub fn smp_acquire_after_ctrl_dep() {
    barrier("smp_acquire__after_ctrl_dep", Ordering::Acquire)
}

/// `dma_wmb()`: orders CPU stores to coherent memory before later stores seen by a device;
/// `fence(Release)`, the device's reads being modelled as acquiring loads of pointers.
#[track_caller]
pub fn dma_wmb() {
    barrier("dma_wmb", Ordering::Release)
}

/// `smp_store_release(p, v)`.
#[track_caller]
pub fn smp_store_release(p: &Atomic64, v: u64) {
    p.store(v, Ordering::Release)
}

/// `smp_load_acquire(p)`.
#[track_caller]
pub fn smp_load_acquire(p: &Atomic64) -> u64 {
    p.load(Ordering::Acquire)
}
