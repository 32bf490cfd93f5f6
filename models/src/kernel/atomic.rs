//! Atomic 64-bit values with the kernel's operations (include/linux/atomic.h, bitops.h,
//! cmpxchg). Each call is one scheduling point of the engine and one trace event.
//!
//! Orderings follow Documentation/atomic_t.txt: value-returning read-modify-writes
//! (`cmpxchg`, `xchg`, `test_and_set_bit`, `atomic64_*_return`) are fully ordered, which the
//! LKMM defines as `smp_mb(); op_relaxed(); smp_mb();`, and that is how they are built here
//! ([`fully_ordered`]); a `cmpxchg` that fails (finds another value) orders nothing
//! ([`conditionally_ordered`]). `test_and_set_bit` is fully ordered even when it finds the bit
//! set: Documentation/atomic_bitops.txt says so since v6.0 (the generic early-exit read that
//! made a failure unordered is gone). `set_bit`/`clear_bit` and plain reads and writes are
//! unordered.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine::{engine, full_barrier, Engine, RawAtomic};
use crate::kernel::kasan::{AllocState, Shadow};
use crate::trace::{record_access, Obj, Op};

/// A 64-bit word that threads (and the hardware) access concurrently: a page-table entry,
/// a refcount, a flag word.
pub struct Atomic64 {
    raw: RawAtomic,
    obj: Obj,
    shadow: Option<Arc<Shadow>>,
    /// This word's number, for the trace (see `Event::word`). Ghost: no thread branches on
    /// it and no check reads it.
    word: u64,
}

/// A fresh word number: distinct from every other word's for the life of the process.
fn next_word() -> u64 {
    static NEXT: crate::engine::IdSource = crate::engine::IdSource::new();
    NEXT.next()
}

impl Atomic64 {
    /// A word named `obj` holding `v`.
    pub fn new(obj: Obj, v: u64) -> Self {
        Atomic64 {
            raw: RawAtomic::new(v),
            obj,
            shadow: None,
            word: next_word(),
        }
    }

    /// A word inside an allocation whose shadow is checked on every access.
    pub fn in_allocation(obj: Obj, v: u64, shadow: Arc<Shadow>) -> Self {
        Atomic64 {
            raw: RawAtomic::new(v),
            obj,
            shadow: Some(shadow),
            word: next_word(),
        }
    }

    /// The object this word is.
    pub fn obj(&self) -> Obj {
        self.obj
    }

    /// The shadow state this access is judged by, read before the access under loom.
    fn before(&self) -> Option<AllocState> {
        self.shadow.as_ref().and_then(|s| s.before_access())
    }

    #[track_caller]
    fn after(&self, before: Option<AllocState>, op: Op, write: bool, loaded: Option<u64>) {
        record_access(op, self.obj, self.word);
        if let Some(s) = &self.shadow {
            s.check_access(before, write, loaded);
        }
    }

    /// Load with `o`.
    #[track_caller]
    pub fn load(&self, o: Ordering) -> u64 {
        let b = self.before();
        let v = self.raw.load(o);
        self.after(b, Op::Load(v), false, Some(v));
        v
    }

    /// Store `v` with `o`.
    #[track_caller]
    pub fn store(&self, v: u64, o: Ordering) {
        let b = self.before();
        self.raw.store(v, o);
        self.after(b, Op::Store(v), true, None);
    }

    /// Fill without recording or checking: the allocator's own `clear_page` and poisoning.
    pub(crate) fn fill(&self, v: u64) {
        self.raw.fill(v);
    }

    /// A read-modify-write `f` of the raw word, recorded as `name` with the value before and
    /// `after(before)`; returns the value before.
    #[track_caller]
    pub(crate) fn rmw(
        &self,
        name: &'static str,
        f: impl FnOnce(&RawAtomic) -> u64,
        after: impl FnOnce(u64) -> u64,
    ) -> u64 {
        let b = self.before();
        let before = f(&self.raw);
        self.after(
            b,
            Op::Rmw {
                name,
                before,
                after: after(before),
            },
            true,
            Some(before),
        );
        before
    }
}

/// A fully ordered read-modify-write as the LKMM defines one: `smp_mb()` before and after a
/// relaxed `op`. Loom treats a SeqCst read-modify-write as AcqRel, which lets a later load
/// pass it (store buffering through two `xchg`s): the barriers forbid that, as the kernel's
/// full ordering does.
pub(crate) fn fully_ordered(op: impl FnOnce() -> u64) -> u64 {
    full_barrier();
    let v = op();
    full_barrier();
    v
}

/// A conditional read-modify-write (`cmpxchg`): fully ordered when it succeeds, unordered
/// when it fails (Documentation/atomic_t.txt); `failed(value before)` says which.
///
/// Under loom the barriers of a success must come before the operation, and a failure has
/// none. So a relaxed `probe`, a read-modify-write that writes back what it read, runs
/// first: if it sees a failure, that is the operation, with no barrier. Otherwise the fully
/// ordered `op` follows. Only when another thread writes between the two does a failure keep
/// the leading barrier (the fidelity table's row). Shuttle and real threads need no probe.
fn conditionally_ordered(
    probe: impl FnOnce() -> u64,
    failed: impl Fn(u64) -> bool,
    op: impl FnOnce() -> u64,
) -> u64 {
    if engine() == Engine::Loom {
        let p = probe();
        if failed(p) {
            return p;
        }
    }
    full_barrier();
    let v = op();
    if !failed(v) {
        full_barrier();
    }
    v
}

/// `cmpxchg(ptr, old, new)`: fully ordered on success, unordered on failure; returns the
/// value found.
#[track_caller]
pub fn cmpxchg(a: &Atomic64, old: u64, new: u64) -> u64 {
    let b = a.before();
    let found = conditionally_ordered(
        || a.raw.compare_exchange(old, old, Ordering::Relaxed),
        |found| found != old,
        || a.raw.compare_exchange(old, new, Ordering::Relaxed),
    );
    a.after(b, Op::Cmpxchg { old, new, found }, true, Some(found));
    found
}

/// `xchg(ptr, new)`: fully ordered; returns the old value.
#[track_caller]
pub fn xchg(a: &Atomic64, new: u64) -> u64 {
    a.rmw(
        "xchg",
        |r| fully_ordered(|| r.swap(new, Ordering::Relaxed)),
        |_| new,
    )
}

/// `set_bit(nr, addr)`: atomic, unordered.
#[track_caller]
pub fn set_bit(nr: u32, a: &Atomic64) {
    let m = 1u64 << nr;
    a.rmw("set_bit", |r| r.fetch_or(m, Ordering::Relaxed), |v| v | m);
}

/// `clear_bit(nr, addr)`: atomic, unordered.
#[track_caller]
pub fn clear_bit(nr: u32, a: &Atomic64) {
    let m = 1u64 << nr;
    a.rmw(
        "clear_bit",
        |r| r.fetch_and(!m, Ordering::Relaxed),
        |v| v & !m,
    );
}

/// `test_and_set_bit(nr, addr)`: true if the bit was set before. Fully ordered, also when
/// the bit was already set (v6.0 on; before, such a "failure" was unordered).
#[track_caller]
pub fn test_and_set_bit(nr: u32, a: &Atomic64) -> bool {
    let m = 1u64 << nr;
    let f = |r: &RawAtomic| fully_ordered(|| r.fetch_or(m, Ordering::Relaxed));
    let before = a.rmw("test_and_set_bit", f, |v| v | m);
    before & m != 0
}

/// `atomic64_add_return(i, v)`: fully ordered.
#[track_caller]
pub fn atomic64_add_return(i: u64, a: &Atomic64) -> u64 {
    let f = |r: &RawAtomic| fully_ordered(|| r.fetch_add(i, Ordering::Relaxed));
    a.rmw("atomic64_add_return", f, |v| v.wrapping_add(i))
        .wrapping_add(i)
}

/// `atomic64_sub_return(i, v)`: fully ordered.
#[track_caller]
pub fn atomic64_sub_return(i: u64, a: &Atomic64) -> u64 {
    let f = |r: &RawAtomic| fully_ordered(|| r.fetch_sub(i, Ordering::Relaxed));
    a.rmw("atomic64_sub_return", f, |v| v.wrapping_sub(i))
        .wrapping_sub(i)
}

/// `atomic64_sub_return_relaxed(i, v)`: atomic, unordered.
#[track_caller]
pub fn atomic64_sub_return_relaxed(i: u64, a: &Atomic64) -> u64 {
    let f = |r: &RawAtomic| r.fetch_sub(i, Ordering::Relaxed);
    a.rmw("atomic64_sub_return_relaxed", f, |v| v.wrapping_sub(i))
        .wrapping_sub(i)
}
