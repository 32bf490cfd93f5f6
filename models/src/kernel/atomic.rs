//! Atomic 64-bit values with the kernel's operations (include/linux/atomic.h, bitops.h,
//! cmpxchg). Each call is one scheduling point of the engine and one trace event.
//!
//! Orderings follow Documentation/atomic_t.txt: value-returning read-modify-writes
//! (`cmpxchg`, `xchg`, `test_and_set_bit`) are fully ordered; `set_bit`/`clear_bit` and
//! plain reads and writes are unordered.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::kernel::engine::RawAtomic;
use crate::kernel::kasan::{AllocState, Shadow};
use crate::trace::{record, Obj, Op};

/// A 64-bit word that threads (and the hardware) access concurrently: a page-table entry,
/// a refcount, a flag word.
pub struct Atomic64 {
    raw: RawAtomic,
    obj: Obj,
    shadow: Option<Arc<Shadow>>,
}

impl Atomic64 {
    /// A word named `obj` holding `v`.
    pub fn new(obj: Obj, v: u64) -> Self {
        Atomic64 {
            raw: RawAtomic::new(v),
            obj,
            shadow: None,
        }
    }

    /// A word inside an allocation whose shadow is checked on every access.
    pub fn in_allocation(obj: Obj, v: u64, shadow: Arc<Shadow>) -> Self {
        Atomic64 {
            raw: RawAtomic::new(v),
            obj,
            shadow: Some(shadow),
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
        record(op, self.obj);
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

    #[track_caller]
    fn rmw(&self, name: &'static str, f: impl FnOnce(&RawAtomic) -> u64, after: u64) -> u64 {
        let b = self.before();
        let before = f(&self.raw);
        self.after(
            b,
            Op::Rmw {
                name,
                before,
                after,
            },
            true,
            Some(before),
        );
        before
    }
}

/// `cmpxchg(ptr, old, new)`: fully ordered; returns the value found.
#[track_caller]
pub fn cmpxchg(a: &Atomic64, old: u64, new: u64) -> u64 {
    let b = a.before();
    let found = a.raw.compare_exchange(old, new, Ordering::SeqCst);
    a.after(b, Op::Cmpxchg { old, new, found }, true, Some(found));
    found
}

/// `xchg(ptr, new)`: fully ordered; returns the old value.
#[track_caller]
pub fn xchg(a: &Atomic64, new: u64) -> u64 {
    a.rmw("xchg", |r| r.swap(new, Ordering::SeqCst), new)
}

/// `set_bit(nr, addr)`: atomic, unordered.
#[track_caller]
pub fn set_bit(nr: u32, a: &Atomic64) {
    let m = 1u64 << nr;
    let b = a.before();
    let before = a.raw.fetch_or(m, Ordering::Relaxed);
    a.after(
        b,
        Op::Rmw {
            name: "set_bit",
            before,
            after: before | m,
        },
        true,
        Some(before),
    );
}

/// `clear_bit(nr, addr)`: atomic, unordered.
#[track_caller]
pub fn clear_bit(nr: u32, a: &Atomic64) {
    let m = 1u64 << nr;
    let b = a.before();
    let before = a.raw.fetch_and(!m, Ordering::Relaxed);
    a.after(
        b,
        Op::Rmw {
            name: "clear_bit",
            before,
            after: before & !m,
        },
        true,
        Some(before),
    );
}

/// `test_and_set_bit(nr, addr)`: fully ordered; true if the bit was set before.
#[track_caller]
pub fn test_and_set_bit(nr: u32, a: &Atomic64) -> bool {
    let m = 1u64 << nr;
    let b = a.before();
    let before = a.raw.fetch_or(m, Ordering::SeqCst);
    a.after(
        b,
        Op::Rmw {
            name: "test_and_set_bit",
            before,
            after: before | m,
        },
        true,
        Some(before),
    );
    before & m != 0
}

/// `atomic64_add_return(i, v)`: fully ordered.
#[track_caller]
pub fn atomic64_add_return(i: u64, a: &Atomic64) -> u64 {
    let b = a.before();
    let before = a.raw.fetch_add(i, Ordering::SeqCst);
    let after = before.wrapping_add(i);
    a.after(
        b,
        Op::Rmw {
            name: "atomic64_add_return",
            before,
            after,
        },
        true,
        Some(before),
    );
    after
}

/// `atomic64_sub_return(i, v)`: fully ordered.
#[track_caller]
pub fn atomic64_sub_return(i: u64, a: &Atomic64) -> u64 {
    let b = a.before();
    let before = a.raw.fetch_sub(i, Ordering::SeqCst);
    let after = before.wrapping_sub(i);
    a.after(
        b,
        Op::Rmw {
            name: "atomic64_sub_return",
            before,
            after,
        },
        true,
        Some(before),
    );
    after
}
