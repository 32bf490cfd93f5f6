//! `struct kref` (include/linux/kref.h) over `refcount_t` semantics: a get from zero (the
//! object may already be on its way to being freed) and an underflow are `refcount`
//! violations, where the kernel would WARN and saturate.

use std::sync::Arc;

use crate::check::{raise, Kind};
use std::sync::atomic::Ordering;

use crate::engine::RawAtomic;
use crate::kernel::atomic::Atomic64;
use crate::kernel::barrier::smp_acquire_after_ctrl_dep;
use crate::kernel::kasan::Shadow;
use crate::trace::Obj;

/// A reference count embedded in an object.
pub struct Kref {
    refcount: Atomic64,
}

/// `kref_init(kref)`: the count starts at 1.
pub fn kref_init(obj: Obj, shadow: Arc<Shadow>) -> Kref {
    Kref {
        refcount: Atomic64::in_allocation(obj, 1, shadow),
    }
}

/// `kref_get(kref)`: `refcount_inc`, which orders nothing.
#[track_caller]
pub fn kref_get(k: &Kref) {
    let f = |r: &RawAtomic| r.fetch_add(1, Ordering::Relaxed);
    let after = k.refcount.rmw("refcount_inc", f, |v| v.wrapping_add(1)) + 1;
    if after == 1 {
        raise(
            Kind::Refcount,
            "kref_get on a zero refcount (refcount_t: addition on 0; use-after-free): the object is being released",
        );
    }
}

/// `kref_put(kref, release)`: drop a reference; at zero, call `release`. True if released.
/// `refcount_dec_and_test`: release ordering, and acquire ordering when it reaches zero.
#[track_caller]
pub fn kref_put(k: &Kref, release: impl FnOnce()) -> bool {
    let f = |r: &RawAtomic| r.fetch_sub(1, Ordering::Release);
    let after = k
        .refcount
        .rmw("refcount_dec_and_test", f, |v| v.wrapping_sub(1))
        .wrapping_sub(1);
    if after == u64::MAX {
        raise(
            Kind::Refcount,
            "kref_put below zero (refcount_t: underflow; use-after-free)",
        );
    }
    if after == 0 {
        smp_acquire_after_ctrl_dep();
        release();
        true
    } else {
        false
    }
}

/// `kref_read(kref)`.
#[track_caller]
pub fn kref_read(k: &Kref) -> u64 {
    k.refcount.load(std::sync::atomic::Ordering::Relaxed)
}
