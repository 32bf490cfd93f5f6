//! `refcount_t` (include/linux/refcount.h): an `atomic_t` reference count whose misuse is
//! caught. Where the kernel warns and saturates the count (`refcount_warn_saturate`), the
//! model raises a `refcount` violation: an increment from zero (the object is being freed:
//! use-after-free), a decrement below zero, a decrement to zero that frees nothing
//! (`refcount_dec`), and an overflow.
//!
//! Orderings, as the header's comments give them:
//! - `refcount_inc`/`refcount_add`: `atomic_fetch_add_relaxed`, unordered;
//! - `refcount_inc_not_zero`: a read, then relaxed `cmpxchg` until it succeeds or reads
//!   zero: no ordering, only the control dependency on success (which orders later stores);
//! - `refcount_dec_and_test`/`refcount_sub_and_test`: `atomic_fetch_sub_release`, and when
//!   the count reaches zero `smp_acquire__after_ctrl_dep()`, so that whoever frees the
//!   object sees every earlier holder's accesses;
//! - `refcount_dec`: `atomic_fetch_sub_release`.

use std::sync::Arc;

use crate::check::{raise, Kind};
use crate::kernel::atomic_instrumented::{
    atomic_read, atomic_set, fetch_add, fetch_add_unless, AtomicT, Order,
};
use crate::kernel::barrier::smp_acquire_after_ctrl_dep;
use crate::kernel::kasan::Shadow;
use crate::trace::Obj;

/// `refcount_t`.
pub struct RefcountT {
    refs: AtomicT,
}

/// What `refcount_warn_saturate` would have warned about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saturation {
    /// `REFCOUNT_ADD_UAF`: an increment from zero.
    AddUaf,
    /// `REFCOUNT_ADD_OVF`, `REFCOUNT_ADD_NOT_ZERO_OVF`: the count passed `INT_MAX`.
    AddOvf,
    /// `REFCOUNT_SUB_UAF`: a decrement below zero.
    SubUaf,
    /// `REFCOUNT_DEC_LEAK`: `refcount_dec` reached zero, so nothing frees the object.
    DecLeak,
}

impl Saturation {
    /// The kernel's warning text.
    pub fn warning(self) -> &'static str {
        match self {
            Saturation::AddUaf => "refcount_t: addition on 0; use-after-free",
            Saturation::AddOvf => "refcount_t: saturated; leaking memory",
            Saturation::SubUaf => "refcount_t: underflow; use-after-free",
            Saturation::DecLeak => "refcount_t: decrement hit 0; leaking memory",
        }
    }
}

impl RefcountT {
    /// `REFCOUNT_INIT(n)`: a count named `obj` holding `n`.
    pub fn new(obj: Obj, n: i32) -> Self {
        RefcountT {
            refs: AtomicT::new(obj, n),
        }
    }

    /// A count inside an allocation whose shadow is checked on every access.
    pub fn in_allocation(obj: Obj, n: i32, shadow: Arc<Shadow>) -> Self {
        RefcountT {
            refs: AtomicT::in_allocation(obj, n, shadow),
        }
    }
}

/// Raise the `refcount` violation for `s`, met by `what`.
#[track_caller]
fn warn(what: &str, s: Saturation) -> ! {
    raise(Kind::Refcount, format!("{what}: {}", s.warning()))
}

/// The body of `refcount_add(i, r)`, recorded as `name`: the old value, or what the kernel
/// would warn about.
#[track_caller]
pub(crate) fn add(r: &RefcountT, name: &'static str, i: i32) -> Result<i32, Saturation> {
    let old = fetch_add(&r.refs, name, Order::Relaxed, i);
    if old == 0 {
        Err(Saturation::AddUaf)
    } else if old < 0 || old.checked_add(i).is_none_or(|n| n < 0) {
        Err(Saturation::AddOvf)
    } else {
        Ok(old)
    }
}

/// Subtract `i` from `r` with release ordering, recorded as `name`: the old value, or the
/// underflow the kernel would warn about.
#[track_caller]
fn sub(r: &RefcountT, name: &'static str, i: i32) -> Result<i32, Saturation> {
    let old = fetch_add(&r.refs, name, Order::Release, i.wrapping_neg());
    if old <= 0 || old < i {
        Err(Saturation::SubUaf)
    } else {
        Ok(old)
    }
}

/// The body of `refcount_sub_and_test(i, r)`, recorded as `name`: true if the count reached
/// zero (then with acquire ordering), or what the kernel would warn about.
#[track_caller]
pub(crate) fn sub_and_test(r: &RefcountT, name: &'static str, i: i32) -> Result<bool, Saturation> {
    let zero = sub(r, name, i)? == i;
    if zero {
        smp_acquire_after_ctrl_dep();
    }
    Ok(zero)
}

/// `refcount_set(r, n)`.
#[track_caller]
pub fn refcount_set(r: &RefcountT, n: i32) {
    atomic_set(&r.refs, n)
}

/// `refcount_read(r)`: unordered.
#[track_caller]
pub fn refcount_read(r: &RefcountT) -> i32 {
    atomic_read(&r.refs)
}

/// `refcount_add(i, r)`: unordered; an addition on zero or an overflow is a violation.
#[track_caller]
pub fn refcount_add(i: i32, r: &RefcountT) {
    if let Err(s) = add(r, "refcount_add", i) {
        warn("refcount_add", s)
    }
}

/// `refcount_inc(r)`: unordered; an increment from zero (use-after-free) or an overflow is
/// a violation.
#[track_caller]
pub fn refcount_inc(r: &RefcountT) {
    if let Err(s) = add(r, "refcount_inc", 1) {
        warn("refcount_inc", s)
    }
}

/// `refcount_inc_not_zero(r)`: increment unless zero; true if it did. Unordered (a control
/// dependency on success); an overflow is a violation.
#[track_caller]
pub fn refcount_inc_not_zero(r: &RefcountT) -> bool {
    let old = fetch_add_unless(&r.refs, "refcount_inc_not_zero", Order::Relaxed, 1, 0);
    if old < 0 || old == i32::MAX {
        warn("refcount_inc_not_zero", Saturation::AddOvf)
    }
    old != 0
}

/// `refcount_sub_and_test(i, r)`: true if the count reached zero. Release ordering, and
/// acquire ordering when it reaches zero; a decrement below zero is a violation.
#[track_caller]
pub fn refcount_sub_and_test(i: i32, r: &RefcountT) -> bool {
    sub_and_test(r, "refcount_sub_and_test", i).unwrap_or_else(|s| warn("refcount_sub_and_test", s))
}

/// `refcount_dec_and_test(r)`: true if the count reached zero. Release ordering, and
/// acquire ordering when it reaches zero; a decrement below zero is a violation.
#[track_caller]
pub fn refcount_dec_and_test(r: &RefcountT) -> bool {
    sub_and_test(r, "refcount_dec_and_test", 1).unwrap_or_else(|s| warn("refcount_dec_and_test", s))
}

/// `refcount_dec(r)`: release ordering; reaching zero (nothing will free the object) or
/// going below it is a violation, which the kernel words as a leak either way (it warns
/// `REFCOUNT_DEC_LEAK` for every old value up to 1).
#[track_caller]
pub fn refcount_dec(r: &RefcountT) {
    if !matches!(sub(r, "refcount_dec", 1), Ok(old) if old > 1) {
        warn("refcount_dec", Saturation::DecLeak)
    }
}
