//! `kzalloc(size, gfp)` / `kfree` (include/linux/slab.h) of model objects, with KASAN-like
//! shadows: an access to a freed object through [`KBox::get`] or one of its [`Atomic64`]
//! fields is a `use-after-free`; a second `kfree` a `double-free`; an object still live at
//! teardown a `leak`.
//!
//! [`Atomic64`]: crate::kernel::Atomic64

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::check::{raise, Kind};
use crate::engine::{Ghost, RawAtomic};
use crate::kernel::kasan::{AllocState, Shadow};
use crate::kernel::sched::might_sleep;
use crate::kernel::Errno;
use crate::trace::{record, Obj, Op};

/// Allocation flags (include/linux/gfp_types.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gfp {
    /// `GFP_KERNEL`: may sleep to reclaim memory.
    Kernel,
    /// `GFP_ATOMIC`: never sleeps; may fail.
    Atomic,
}

/// A slab cache of one class of object (`struct iommu_reserved_binding`): counts objects,
/// remembers their shadows for the leak check, and can be told to fail allocations.
pub struct Slab {
    class: &'static str,
    book: Ghost<SlabBook>,
    allocations: RawAtomic,
}

/// The cache's bookkeeping. The object list only names objects and finds leaks after the
/// threads are joined, so it may be ghost. Which allocation fails decides a thread's path,
/// so it is counted by an engine word, and only when a failure is asked for (an unused
/// counter would make every allocation conflict with every other).
#[derive(Default)]
struct SlabBook {
    objects: Vec<Arc<Shadow>>,
    fail: Vec<u32>,
}

impl Slab {
    /// A cache of `class` objects.
    pub fn new(class: &'static str) -> Self {
        Slab {
            class,
            book: Ghost::new(SlabBook::default()),
            allocations: RawAtomic::new(0),
        }
    }

    /// Make allocation number `n` (0-based, counted in this cache) fail with -ENOMEM, so a
    /// scenario explores the error path.
    pub fn fail_nth(&self, n: u32) {
        self.book.with(|b| b.fail.push(n));
    }

    /// Raise `leak` if an object of this cache is still live.
    #[track_caller]
    pub fn check_no_leak(&self, what: &str) {
        let live: Vec<String> = self.book.with(|b| {
            b.objects
                .iter()
                .enumerate()
                .filter(|(_, s)| s.state() == AllocState::Live)
                .map(|(i, _)| format!("{} {i}", self.class))
                .collect()
        });
        if !live.is_empty() {
            raise(
                Kind::Leak,
                format!("{} still allocated after {what}", live.join(", ")),
            );
        }
    }
}

/// A kzalloc'ed object: a pointer that stays valid memory after `kfree`, as in C, but whose
/// every use is checked against the shadow.
pub struct KBox<T> {
    obj: Obj,
    shadow: Arc<Shadow>,
    value: Arc<T>,
}

impl<T> Clone for KBox<T> {
    fn clone(&self) -> Self {
        KBox {
            obj: self.obj,
            shadow: self.shadow.clone(),
            value: self.value.clone(),
        }
    }
}

impl<T> KBox<T> {
    /// Dereference: a `use-after-free` if the object was freed.
    #[track_caller]
    pub fn get(&self) -> &T {
        // Under loom the dereference takes the object's cell, so loom's causality check
        // orders it against the free (a read of a plain field after a put without release
        // ordering, say), and reads the shadow, which the free writes; a plain read under
        // shuttle, where a dereference is not a scheduling point.
        let state = self
            .shadow
            .before_access()
            .unwrap_or_else(|| self.shadow.state());
        if state != AllocState::Live {
            record(Op::Call("dereference"), self.obj);
            self.shadow.check_access(Some(state), false, None);
        }
        &self.value
    }

    /// The object's name in traces (`binding 1`).
    pub fn obj(&self) -> Obj {
        self.obj
    }

    /// True if both point to the same object.
    pub fn same(&self, other: &KBox<T>) -> bool {
        Arc::ptr_eq(&self.value, &other.value)
    }
}

/// `kzalloc(sizeof(T), gfp)`: `init` builds the object, given its name and shadow for the
/// [`Atomic64`](crate::kernel::Atomic64) fields it holds. `GFP_KERNEL` may sleep.
#[track_caller]
pub fn kzalloc<T>(
    cache: &Slab,
    gfp: Gfp,
    init: impl FnOnce(Obj, Arc<Shadow>) -> T,
) -> Result<KBox<T>, Errno> {
    if gfp == Gfp::Kernel {
        might_sleep("kzalloc(GFP_KERNEL)");
    }
    // Count (an engine step) only if a failure was asked for, before the threads started.
    let (id, fail_at) = cache
        .book
        .with(|b| (b.objects.len() as u32, b.fail.clone()));
    let fail = !fail_at.is_empty()
        && fail_at.contains(&(cache.allocations.fetch_add(1, Ordering::AcqRel) as u32));
    let obj = Obj::Object {
        class: cache.class,
        id,
    };
    if fail {
        cache
            .book
            .with(|b| b.objects.push(Arc::new(Shadow::new(obj))));
        record(Op::AllocFail, obj);
        return Err(Errno::ENOMEM);
    }
    let shadow = Arc::new(Shadow::new_live(obj));
    cache.book.with(|b| b.objects.push(shadow.clone()));
    record(Op::Alloc, obj);
    let value = Arc::new(init(obj, shadow.clone()));
    Ok(KBox { obj, shadow, value })
}

/// `kfree(p)`.
#[track_caller]
pub fn kfree<T>(p: &KBox<T>) {
    record(Op::Free, p.obj);
    p.shadow.free();
}
