//! `struct kref` (include/linux/kref.h), built on [`RefcountT`] as the kernel's is: a get
//! from zero (the object may already be on its way to being freed) and an underflow are
//! `refcount` violations, where the kernel would WARN and saturate.

use std::sync::Arc;

use crate::check::{raise, Kind};
use crate::kernel::kasan::Shadow;
use crate::kernel::refcount::{add, refcount_read, sub_and_test, RefcountT, Saturation};
use crate::trace::Obj;

/// A reference count embedded in an object.
pub struct Kref {
    refcount: RefcountT,
}

/// `kref_init(kref)`: the count starts at 1.
pub fn kref_init(obj: Obj, shadow: Arc<Shadow>) -> Kref {
    Kref {
        refcount: RefcountT::in_allocation(obj, 1, shadow),
    }
}

/// `kref_get(kref)`: `refcount_inc`, which orders nothing.
#[track_caller]
pub fn kref_get(k: &Kref) {
    match add(&k.refcount, "refcount_inc", 1) {
        Ok(_) => {}
        Err(s @ Saturation::AddUaf) => raise(
            Kind::Refcount,
            format!(
                "kref_get on a zero refcount ({}): the object is being released",
                s.warning()
            ),
        ),
        Err(s) => raise(Kind::Refcount, format!("kref_get: {}", s.warning())),
    }
}

/// `kref_put(kref, release)`: drop a reference; at zero, call `release`. True if released.
/// `refcount_dec_and_test`: release ordering, and acquire ordering when it reaches zero.
#[track_caller]
pub fn kref_put(k: &Kref, release: impl FnOnce()) -> bool {
    match sub_and_test(&k.refcount, "refcount_dec_and_test", 1) {
        Ok(true) => {
            release();
            true
        }
        Ok(false) => false,
        Err(s) => raise(
            Kind::Refcount,
            format!("kref_put below zero ({})", s.warning()),
        ),
    }
}

/// `kref_read(kref)`: the count, as the kernel's `unsigned int`.
#[track_caller]
pub fn kref_read(k: &Kref) -> u64 {
    u64::from(refcount_read(&k.refcount) as u32)
}
