//! `atomic_t` and its operations (include/linux/atomic/atomic-instrumented.h, the API that
//! include/linux/atomic.h exports), with the ordering Documentation/atomic_t.txt gives each:
//!
//! - `atomic_read`/`atomic_set` are `READ_ONCE`/`WRITE_ONCE`: unordered; `atomic_read_acquire`
//!   and `atomic_set_release` are an acquire load and a release store.
//! - Read-modify-writes that return nothing (`atomic_inc`, `atomic_add`, ...) are unordered.
//! - Those that return a value (`atomic_add_return`, `atomic_fetch_add`, `atomic_xchg`,
//!   `atomic_dec_and_test`, ...) are fully ordered, `smp_mb(); op_relaxed(); smp_mb();`, built
//!   by the same code as `xchg`; their `_relaxed`, `_acquire` and `_release` forms have only
//!   the ordering their name says (acquire on the load, release on the store).
//! - A conditional one (`atomic_cmpxchg`, `atomic_inc_not_zero`) is ordered as its form says
//!   when it succeeds and orders nothing when it fails, as `cmpxchg`.
//!
//! The counter is an `int`. It lives in one engine word ([`Atomic64`]) holding the value
//! sign-extended: reads return the low 32 bits, so a count that passes `INT_MAX` reads back
//! wrapped, as the kernel's does; only a compare (`atomic_cmpxchg`) sees the unwrapped word
//! (the fidelity table's row).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine::RawAtomic;
use crate::kernel::atomic::{self, fully_ordered, Atomic64};
use crate::kernel::kasan::Shadow;
use crate::trace::Obj;

/// `atomic_t`: an `int` that threads update atomically.
pub struct AtomicT {
    counter: Atomic64,
}

/// The engine word holding `v`.
fn word(v: i32) -> u64 {
    i64::from(v) as u64
}

/// The `int` an engine word holds (its low 32 bits: the kernel's wrap).
fn int(w: u64) -> i32 {
    w as i32
}

impl AtomicT {
    /// `ATOMIC_INIT(v)`: a counter named `obj` holding `v`.
    pub fn new(obj: Obj, v: i32) -> Self {
        AtomicT {
            counter: Atomic64::new(obj, word(v)),
        }
    }

    /// A counter inside an allocation whose shadow is checked on every access.
    pub fn in_allocation(obj: Obj, v: i32, shadow: Arc<Shadow>) -> Self {
        AtomicT {
            counter: Atomic64::in_allocation(obj, word(v), shadow),
        }
    }

    /// The object this counter is.
    pub fn obj(&self) -> Obj {
        self.counter.obj()
    }
}

/// The ordering of one read-modify-write, as its name's suffix says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// `_relaxed`, and the void operations: atomic, unordered.
    Relaxed,
    /// `_acquire`: the load is an acquire.
    Acquire,
    /// `_release`: the store is a release.
    Release,
    /// No suffix, value-returning: `smp_mb()` before and after.
    Full,
}

impl Order {
    /// The C11 ordering of the operation itself; `None` for a fully ordered one, which is a
    /// relaxed operation between two full barriers.
    fn c11(self) -> Option<Ordering> {
        match self {
            Order::Relaxed => Some(Ordering::Relaxed),
            Order::Acquire => Some(Ordering::Acquire),
            Order::Release => Some(Ordering::Release),
            Order::Full => None,
        }
    }
}

/// `op` on `v`'s word with `order`, recorded as `name`; returns the value before.
#[track_caller]
fn rmw(
    v: &AtomicT,
    name: &'static str,
    order: Order,
    op: impl FnOnce(&RawAtomic, Ordering) -> u64,
    after: impl FnOnce(u64) -> u64,
) -> i32 {
    let f = |r: &RawAtomic| match order.c11() {
        Some(o) => op(r, o),
        None => fully_ordered(|| op(r, Ordering::Relaxed)),
    };
    int(v.counter.rmw(name, f, after))
}

/// Add `i` to `v` with `order`, recorded as `name`; returns the value before (the body of
/// every add, sub, inc and dec).
#[track_caller]
pub(crate) fn fetch_add(v: &AtomicT, name: &'static str, order: Order, i: i32) -> i32 {
    let d = word(i);
    rmw(
        v,
        name,
        order,
        |r, o| r.fetch_add(d, o),
        |w| w.wrapping_add(d),
    )
}

/// `cmpxchg` of `v` from `old` to `new` with `order` on success, nothing on failure,
/// recorded as `name` (a fully ordered one is the kernel's `cmpxchg`, and recorded as one);
/// returns the value found.
#[track_caller]
pub(crate) fn cmpxchg(v: &AtomicT, name: &'static str, order: Order, old: i32, new: i32) -> i32 {
    let (o, n) = (word(old), word(new));
    match order.c11() {
        None => int(atomic::cmpxchg(&v.counter, o, n)),
        Some(_) => rmw(
            v,
            name,
            order,
            |r, ord| r.compare_exchange(o, n, ord),
            |found| if found == o { n } else { found },
        ),
    }
}

/// Add `a` to `v` unless it holds `u`, as the kernel's generic `atomic_fetch_add_unless`
/// does: read, then `cmpxchg` with `order` until one succeeds or the value is `u`. Returns
/// the value before; `u` means nothing was added (and nothing ordered).
#[track_caller]
pub(crate) fn fetch_add_unless(
    v: &AtomicT,
    name: &'static str,
    order: Order,
    a: i32,
    u: i32,
) -> i32 {
    let mut c = atomic_read(v);
    while c != u {
        let found = cmpxchg(v, name, order, c, c.wrapping_add(a));
        if found == c {
            break;
        }
        c = found;
    }
    c
}

/// `atomic_read(v)`: `READ_ONCE`, unordered.
#[track_caller]
pub fn atomic_read(v: &AtomicT) -> i32 {
    int(v.counter.load(Ordering::Relaxed))
}

/// `atomic_read_acquire(v)`: an acquire load.
#[track_caller]
pub fn atomic_read_acquire(v: &AtomicT) -> i32 {
    int(v.counter.load(Ordering::Acquire))
}

/// `atomic_set(v, i)`: `WRITE_ONCE`, unordered.
#[track_caller]
pub fn atomic_set(v: &AtomicT, i: i32) {
    v.counter.store(word(i), Ordering::Relaxed)
}

/// `atomic_set_release(v, i)`: a release store.
#[track_caller]
pub fn atomic_set_release(v: &AtomicT, i: i32) {
    v.counter.store(word(i), Ordering::Release)
}

/// `atomic_add(i, v)`: atomic, unordered.
#[track_caller]
pub fn atomic_add(i: i32, v: &AtomicT) {
    fetch_add(v, "atomic_add", Order::Relaxed, i);
}

/// `atomic_sub(i, v)`: atomic, unordered.
#[track_caller]
pub fn atomic_sub(i: i32, v: &AtomicT) {
    fetch_add(v, "atomic_sub", Order::Relaxed, i.wrapping_neg());
}

/// `atomic_inc(v)`: atomic, unordered.
#[track_caller]
pub fn atomic_inc(v: &AtomicT) {
    fetch_add(v, "atomic_inc", Order::Relaxed, 1);
}

/// `atomic_dec(v)`: atomic, unordered.
#[track_caller]
pub fn atomic_dec(v: &AtomicT) {
    fetch_add(v, "atomic_dec", Order::Relaxed, -1);
}

/// Defines an operation's fully ordered form and its `_relaxed`, `_acquire` and `_release`
/// forms: `[names] (params) -> ret, |order, name| body`.
macro_rules! orderings {
    ($what:literal [$full:ident, $relaxed:ident, $acquire:ident, $release:ident]
     ($($p:ident: $t:ty),*) -> $ret:ty, |$o:ident, $n:ident| $body:expr) => {
        orderings!(@one $what, " Fully ordered.", $full, Full, ($($p: $t),*) -> $ret, |$o, $n| $body);
        orderings!(@one $what, " Atomic, unordered.", $relaxed, Relaxed, ($($p: $t),*) -> $ret, |$o, $n| $body);
        orderings!(@one $what, " The load is an acquire.", $acquire, Acquire, ($($p: $t),*) -> $ret, |$o, $n| $body);
        orderings!(@one $what, " The store is a release.", $release, Release, ($($p: $t),*) -> $ret, |$o, $n| $body);
    };
    (@one $what:literal, $how:literal, $name:ident, $order:ident,
     ($($p:ident: $t:ty),*) -> $ret:ty, |$o:ident, $n:ident| $body:expr) => {
        #[doc = concat!("`", stringify!($name), "`: ", $what, $how)]
        #[track_caller]
        pub fn $name($($p: $t),*) -> $ret {
            let ($o, $n) = (Order::$order, stringify!($name));
            $body
        }
    };
}

orderings!("add `i` to `v`, return the new value."
    [atomic_add_return, atomic_add_return_relaxed, atomic_add_return_acquire, atomic_add_return_release]
    (i: i32, v: &AtomicT) -> i32, |o, n| fetch_add(v, n, o, i).wrapping_add(i));
orderings!("subtract `i` from `v`, return the new value."
    [atomic_sub_return, atomic_sub_return_relaxed, atomic_sub_return_acquire, atomic_sub_return_release]
    (i: i32, v: &AtomicT) -> i32, |o, n| fetch_add(v, n, o, i.wrapping_neg()).wrapping_sub(i));
orderings!("increment `v`, return the new value."
    [atomic_inc_return, atomic_inc_return_relaxed, atomic_inc_return_acquire, atomic_inc_return_release]
    (v: &AtomicT) -> i32, |o, n| fetch_add(v, n, o, 1).wrapping_add(1));
orderings!("decrement `v`, return the new value."
    [atomic_dec_return, atomic_dec_return_relaxed, atomic_dec_return_acquire, atomic_dec_return_release]
    (v: &AtomicT) -> i32, |o, n| fetch_add(v, n, o, -1).wrapping_sub(1));
orderings!("add `i` to `v`, return the old value."
    [atomic_fetch_add, atomic_fetch_add_relaxed, atomic_fetch_add_acquire, atomic_fetch_add_release]
    (i: i32, v: &AtomicT) -> i32, |o, n| fetch_add(v, n, o, i));
orderings!("subtract `i` from `v`, return the old value."
    [atomic_fetch_sub, atomic_fetch_sub_relaxed, atomic_fetch_sub_acquire, atomic_fetch_sub_release]
    (i: i32, v: &AtomicT) -> i32, |o, n| fetch_add(v, n, o, i.wrapping_neg()));
orderings!("increment `v`, return the old value."
    [atomic_fetch_inc, atomic_fetch_inc_relaxed, atomic_fetch_inc_acquire, atomic_fetch_inc_release]
    (v: &AtomicT) -> i32, |o, n| fetch_add(v, n, o, 1));
orderings!("decrement `v`, return the old value."
    [atomic_fetch_dec, atomic_fetch_dec_relaxed, atomic_fetch_dec_acquire, atomic_fetch_dec_release]
    (v: &AtomicT) -> i32, |o, n| fetch_add(v, n, o, -1));
orderings!("store `new` in `v`, return the old value."
    [atomic_xchg, atomic_xchg_relaxed, atomic_xchg_acquire, atomic_xchg_release]
    (v: &AtomicT, new: i32) -> i32,
    |o, n| rmw(v, n, o, |r, ord| r.swap(word(new), ord), |_| word(new)));
orderings!("if `v` holds `old`, store `new`; return the value found. A failure orders nothing."
    [atomic_cmpxchg, atomic_cmpxchg_relaxed, atomic_cmpxchg_acquire, atomic_cmpxchg_release]
    (v: &AtomicT, old: i32, new: i32) -> i32, |o, n| cmpxchg(v, n, o, old, new));

/// `atomic_dec_and_test(v)`: decrement; true if the result is zero. Fully ordered.
#[track_caller]
pub fn atomic_dec_and_test(v: &AtomicT) -> bool {
    fetch_add(v, "atomic_dec_and_test", Order::Full, -1) == 1
}

/// `atomic_inc_and_test(v)`: increment; true if the result is zero. Fully ordered.
#[track_caller]
pub fn atomic_inc_and_test(v: &AtomicT) -> bool {
    fetch_add(v, "atomic_inc_and_test", Order::Full, 1) == -1
}

/// `atomic_sub_and_test(i, v)`: subtract; true if the result is zero. Fully ordered.
#[track_caller]
pub fn atomic_sub_and_test(i: i32, v: &AtomicT) -> bool {
    fetch_add(v, "atomic_sub_and_test", Order::Full, i.wrapping_neg()) == i
}

/// `atomic_fetch_add_unless(v, a, u)`: add `a` unless `v` holds `u`; return the old value.
/// Fully ordered when it adds; orders nothing when it does not.
#[track_caller]
pub fn atomic_fetch_add_unless(v: &AtomicT, a: i32, u: i32) -> i32 {
    fetch_add_unless(v, "atomic_fetch_add_unless", Order::Full, a, u)
}

/// `atomic_add_unless(v, a, u)`: add `a` unless `v` holds `u`; true if it added. Fully
/// ordered when it adds; orders nothing when it does not.
#[track_caller]
pub fn atomic_add_unless(v: &AtomicT, a: i32, u: i32) -> bool {
    fetch_add_unless(v, "atomic_add_unless", Order::Full, a, u) != u
}

/// `atomic_inc_not_zero(v)`: increment unless zero; true if it did. Fully ordered when it
/// increments; orders nothing when `v` is zero.
#[track_caller]
pub fn atomic_inc_not_zero(v: &AtomicT) -> bool {
    fetch_add_unless(v, "atomic_inc_not_zero", Order::Full, 1, 0) != 0
}
