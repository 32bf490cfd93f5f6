//! Tests of the reserved-iova model (seed 001, "[PATCH v6 6/7] dma-reserved-iommu:
//! iommu_get/put_single_reserved") and of the kernel checks it introduced.
//!
//! 1. Fire/silent pairs of the new kernel checks (sleep-in-atomic, refcount, kzalloc/kfree
//!    shadows, lockdep across executions) and of the IOVA allocator, run sequentially under
//!    the Std engine: the faulty program raises the exact kind with a message naming the
//!    culprit; its correct twin stays silent.
//! 2. quickcheck properties of `Span::of`, the page arithmetic of `iommu_get_reserved_iova`.
//! 3. proptest: random single-thread get/put/free_domain sequences driven through the
//!    `Model` trait, against a reference map of the gets not yet put; the model's state
//!    (live bindings, their refcounts, the domain's PTEs) is read back from the trace.

#![allow(missing_docs)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::{run_in, run_std, Run};
use iommu_models::check::Kind;
use iommu_models::dma::reserved_iova::{
    Flow, Op as ModelOp, ReservedIova, Span, Variant, WINDOW_BASE,
};
use iommu_models::kernel::iova::{alloc_iova, find_iova, free_iova, Iova, IovaDomain};
use iommu_models::kernel::{
    in_atomic_context, kfree, kref_get, kref_init, kref_put, kref_read, kzalloc, might_sleep,
    mutex_lock, mutex_unlock, spin_lock, spin_lock_irqsave, spin_unlock, spin_unlock_irqrestore,
    Errno, Gfp, Mutex, Slab, SpinLock,
};
use iommu_models::spec::{Call, Model, Operations};
use iommu_models::trace::{Obj, Op, Recorder};

// ---------------------------------------------------------------------------------------
// 1. Fire/silent pairs.
// ---------------------------------------------------------------------------------------

// --- sleep-in-atomic ---

#[test]
fn might_sleep_under_spin_lock_irqsave_fires() {
    let run = run_std(|| {
        let l = SpinLock::new("reserved_lock");
        let g = spin_lock_irqsave(&l);
        might_sleep("x");
        spin_unlock_irqrestore(g);
    });
    run.fires(
        Kind::SleepInAtomic,
        &[
            "x may sleep, but the context is atomic: reserved_lock is held (spin_lock_irqsave at models/tests/reserved_iova.rs:",
        ],
    );
}

#[test]
fn might_sleep_after_spin_unlock_irqrestore_is_silent() {
    run_std(|| {
        let l = SpinLock::new("reserved_lock");
        let g = spin_lock_irqsave(&l);
        spin_unlock_irqrestore(g);
        might_sleep("x");
    })
    .silent();
}

#[test]
fn might_sleep_in_declared_atomic_context_fires() {
    let run = run_std(|| in_atomic_context("msi_domain_activate", || might_sleep("x")));
    run.fires(Kind::SleepInAtomic, &["x may sleep", "msi_domain_activate"]);
}

#[test]
fn might_sleep_after_leaving_atomic_context_is_silent() {
    run_std(|| {
        in_atomic_context("msi_domain_activate", || ());
        might_sleep("x");
    })
    .silent();
}

#[test]
fn kzalloc_gfp_kernel_under_spinlock_fires() {
    let run = run_std(|| {
        let slab = Slab::new("binding");
        let l = SpinLock::new("reserved_lock");
        let g = spin_lock(&l);
        let b = kzalloc(&slab, Gfp::Kernel, |_, _| 0u64);
        spin_unlock(g);
        b.map(|_| ())
    });
    run.fires(
        Kind::SleepInAtomic,
        &["kzalloc(GFP_KERNEL)", "reserved_lock is held (spin_lock at"],
    );
}

#[test]
fn kzalloc_gfp_atomic_under_spinlock_is_silent() {
    let v = run_std(|| {
        let slab = Slab::new("binding");
        let l = SpinLock::new("reserved_lock");
        let g = spin_lock_irqsave(&l);
        let b = kzalloc(&slab, Gfp::Atomic, |_, _| 7u64).expect("allocation");
        spin_unlock_irqrestore(g);
        let v = *b.get();
        kfree(&b);
        slab.check_no_leak("the test");
        v
    })
    .silent();
    assert_eq!(v, 7);
}

#[test]
fn mutex_lock_under_spinlock_fires() {
    let run = run_std(|| {
        let l = SpinLock::new("reserved_lock");
        let m = Mutex::new("reserved_mutex");
        let g = spin_lock_irqsave(&l);
        let mg = mutex_lock(&m);
        mutex_unlock(mg);
        spin_unlock_irqrestore(g);
    });
    run.fires(
        Kind::SleepInAtomic,
        &[
            "mutex_lock may sleep",
            "reserved_lock is held (spin_lock_irqsave at",
        ],
    );
}

#[test]
fn mutex_lock_alone_is_silent() {
    let rec = Arc::new(Recorder::default());
    run_in(&rec, || {
        let m = Mutex::new("reserved_mutex");
        let mg = mutex_lock(&m);
        let held = rec.held(0);
        assert_eq!(held.len(), 1);
        assert_eq!(
            (held[0].name, held[0].how, held[0].atomic),
            ("reserved_mutex", "mutex_lock", false)
        );
        // A mutex is not an atomic context: sleeping under it is allowed.
        might_sleep("x");
        mutex_unlock(mg);
        assert!(rec.held(0).is_empty());
    })
    .silent();
}

// --- refcount ---

#[test]
fn kref_get_after_release_to_zero_fires() {
    let run = run_std(|| {
        let slab = Slab::new("binding");
        let b = kzalloc(&slab, Gfp::Kernel, kref_init).expect("allocation");
        let released = kref_put(b.get(), || ());
        assert!(released, "kref_put from 1 releases");
        kref_get(b.get());
    });
    run.fires(Kind::Refcount, &["kref_get on a zero refcount"]);
}

#[test]
fn kref_get_at_one_is_silent() {
    let counts = run_std(|| {
        let slab = Slab::new("binding");
        let b = kzalloc(&slab, Gfp::Kernel, kref_init).expect("allocation");
        let at_init = kref_read(b.get());
        kref_get(b.get());
        let after_get = kref_read(b.get());
        let r1 = kref_put(b.get(), || panic!("released while a reference is held"));
        let mut released = false;
        let r2 = kref_put(b.get(), || released = true);
        kfree(&b);
        (at_init, after_get, r1, r2, released)
    })
    .silent();
    assert_eq!(counts, (1, 2, false, true, true));
}

#[test]
fn kref_put_past_zero_fires() {
    let run = run_std(|| {
        let slab = Slab::new("binding");
        let b = kzalloc(&slab, Gfp::Kernel, kref_init).expect("allocation");
        kref_put(b.get(), || ());
        kref_put(b.get(), || ());
    });
    run.fires(Kind::Refcount, &["underflow"]);
}

// --- kzalloc/kfree shadows ---

#[test]
fn kbox_get_after_kfree_fires() {
    let run = run_std(|| {
        let slab = Slab::new("binding");
        let b = kzalloc(&slab, Gfp::Kernel, |_, _| 1u64).expect("allocation");
        kfree(&b);
        *b.get()
    });
    run.fires(Kind::UseAfterFree, &["binding 0", "freed"]);
}

#[test]
fn kbox_get_before_kfree_is_silent() {
    let v = run_std(|| {
        let slab = Slab::new("binding");
        let b = kzalloc(&slab, Gfp::Kernel, |_, _| 1u64).expect("allocation");
        let v = *b.get();
        kfree(&b);
        v
    })
    .silent();
    assert_eq!(v, 1);
}

#[test]
fn double_kfree_fires() {
    let run = run_std(|| {
        let slab = Slab::new("binding");
        let b = kzalloc(&slab, Gfp::Kernel, |_, _| 1u64).expect("allocation");
        kfree(&b);
        kfree(&b);
    });
    run.fires(Kind::DoubleFree, &["binding 0 freed twice"]);
}

#[test]
fn check_no_leak_with_live_object_fires() {
    let run = run_std(|| {
        let slab = Slab::new("binding");
        let _a = kzalloc(&slab, Gfp::Kernel, |_, _| 1u64).expect("allocation");
        let b = kzalloc(&slab, Gfp::Kernel, |_, _| 2u64).expect("allocation");
        kfree(&b);
        slab.check_no_leak("teardown");
    });
    // Only the live object is named: "binding 0", not "binding 1".
    let v = run.fires(Kind::Leak, &["binding 0 still allocated after teardown"]);
    assert!(!v.message.contains("binding 1"), "{v:?}");
}

#[test]
fn check_no_leak_after_kfree_is_silent() {
    run_std(|| {
        let slab = Slab::new("binding");
        let a = kzalloc(&slab, Gfp::Kernel, |_, _| 1u64).expect("allocation");
        kfree(&a);
        slab.check_no_leak("teardown");
    })
    .silent();
}

#[test]
fn fail_nth_zero_fails_only_the_first_kzalloc() {
    let rec = Arc::new(Recorder::default());
    let (first, second) = run_in(&rec, || {
        let slab = Slab::new("binding");
        slab.fail_nth(0);
        let first = kzalloc(&slab, Gfp::Kernel, |_, _| 1u64).map(|_| ());
        let second = kzalloc(&slab, Gfp::Kernel, |_, _| 2u64).map(|b| {
            let v = *b.get();
            kfree(&b);
            v
        });
        // The failed allocation is not live: no leak.
        slab.check_no_leak("teardown");
        (first, second)
    })
    .silent();
    assert_eq!(first, Err(Errno::ENOMEM));
    assert_eq!(second, Ok(2));
    let fails: Vec<Obj> = rec
        .events()
        .iter()
        .filter(|e| e.op == Op::AllocFail)
        .map(|e| e.obj)
        .collect();
    assert_eq!(
        fails,
        vec![Obj::Object {
            class: "binding",
            id: 0
        }]
    );
}

// --- lock order (lockdep), across executions of one run ---

/// Two executions on one recorder: the first nests `first.0` then `first.1`, the second
/// (after `rec.reset()`) nests `second.0` then `second.1`. Returns the second run.
fn two_executions(
    first: (&'static str, &'static str),
    second: (&'static str, &'static str),
) -> Run<()> {
    let rec = Arc::new(Recorder::default());
    let nest = |outer: &'static str, inner: &'static str| {
        move || {
            let a = SpinLock::new(outer);
            let b = SpinLock::new(inner);
            let ga = spin_lock(&a);
            let gb = spin_lock(&b);
            spin_unlock(gb);
            spin_unlock(ga);
        }
    };
    run_in(&rec, nest(first.0, first.1)).silent();
    rec.reset();
    assert_eq!(rec.violation(), None);
    assert!(rec.is_empty(), "reset forgets the events");
    run_in(&rec, nest(second.0, second.1))
}

#[test]
fn lock_order_inversion_across_executions_fires() {
    // Single thread: the inversion can never deadlock, yet lockdep remembers A->B from the
    // first execution and flags B->A in the second.
    let run = two_executions(("lock_a", "lock_b"), ("lock_b", "lock_a"));
    let v = run.fires(
        Kind::LockOrder,
        &["possible circular locking dependency", "lock_a", "lock_b"],
    );
    // Both orders, each lock with the call that took it and where.
    let lines: Vec<&str> = v.message.lines().map(str::trim).collect();
    assert_eq!(lines[1], "setup takes lock_a");
    assert!(lines[2].starts_with("spin_lock at models/tests/reserved_iova.rs:"));
    assert_eq!(lines[3], "while holding lock_b");
    assert_eq!(lines[5], "but earlier in the run");
    assert_eq!(lines[6], "setup took lock_b");
    assert_eq!(lines[8], "while holding lock_a");
    // It fired on the nested acquisition of lock_a, before taking it; the attempt is the
    // event the report marks. Unwinding released lock_b.
    let held: Vec<&str> = run.rec.held(0).iter().map(|h| h.name).collect();
    assert!(
        held.is_empty(),
        "the unwinding released everything: {held:?}"
    );
    let locks: Vec<Obj> = run
        .rec
        .events()
        .iter()
        .filter(|e| matches!(e.op, Op::Lock(_)))
        .map(|e| e.obj)
        .collect();
    assert_eq!(locks, vec![Obj::Named("lock_b"), Obj::Named("lock_a")]);
}

#[test]
fn lock_order_same_order_across_executions_is_silent() {
    two_executions(("lock_a", "lock_b"), ("lock_a", "lock_b")).silent();
}

#[test]
fn recorder_tracks_held_spinlocks() {
    let rec = Arc::new(Recorder::default());
    run_in(&rec, || {
        let a = SpinLock::new("lock_a");
        assert!(rec.held(0).is_empty());
        let g = spin_lock(&a);
        let held = rec.held(0);
        assert_eq!(held.len(), 1);
        assert_eq!(
            (held[0].name, held[0].how, held[0].atomic),
            ("lock_a", "spin_lock", true)
        );
        assert!(rec.blocked().is_empty(), "acquired, so not waiting");
        spin_unlock(g);
        assert!(rec.held(0).is_empty());
        let g = spin_lock_irqsave(&a);
        assert_eq!(rec.held(0)[0].how, "spin_lock_irqsave");
        spin_unlock_irqrestore(g);
        assert!(rec.held(0).is_empty());
    })
    .silent();
}

// --- the IOVA allocator ---

/// An iova_domain of pfns [0x100, 0x10f], shift 12, as `ReservedIova::new` builds one.
fn with_iovad<R>(f: impl FnOnce(&IovaDomain) -> R) -> R {
    let slab = Slab::new("iova_domain");
    let iovad = kzalloc(&slab, Gfp::Kernel, |obj, shadow| {
        IovaDomain::new(obj, shadow, 12, 0x100, 0x10f)
    })
    .expect("allocation");
    let r = f(iovad.get());
    kfree(&iovad);
    r
}

#[test]
fn alloc_iova_is_top_down_aligned_and_frees() {
    run_std(|| {
        with_iovad(|d| {
            let one = |lo| {
                Some(Iova {
                    pfn_lo: lo,
                    pfn_hi: lo,
                })
            };
            assert_eq!(alloc_iova(d, 1, 0x10f, true), one(0x10f));
            assert_eq!(alloc_iova(d, 1, 0x10f, true), one(0x10e));
            // Size 2, size-aligned: the highest even pfn_lo below the two taken.
            let two = alloc_iova(d, 2, 0x10f, true).expect("room for two");
            assert_eq!(
                two,
                Iova {
                    pfn_lo: 0x10c,
                    pfn_hi: 0x10d
                }
            );
            assert_eq!(two.pfn_lo % 2, 0);
            // Size 2 with 0x10f free again: still aligned (0x10e is taken, so 0x10a).
            free_iova(d, 0x10f);
            assert_eq!(find_iova(d, 0x10f), None);
            let two_b = alloc_iova(d, 2, 0x10f, true).expect("room for two");
            assert_eq!(two_b.pfn_lo % 2, 0, "{two_b:?}");
            assert_eq!(
                two_b,
                Iova {
                    pfn_lo: 0x10a,
                    pfn_hi: 0x10b
                }
            );
            // find_iova finds a range by any of its pfns; free_iova by any of them too.
            assert_eq!(find_iova(d, 0x10b), Some(two_b));
            free_iova(d, 0x10b);
            assert_eq!(find_iova(d, 0x10a), None);
            assert_eq!(find_iova(d, 0x10b), None);
            assert_eq!(find_iova(d, 0x10c), Some(two));
            // A lower limit is honoured.
            assert_eq!(alloc_iova(d, 1, 0x105, false), one(0x105));
            // Fill the rest of the window, one page at a time, then it is full.
            let mut got = BTreeSet::new();
            while let Some(i) = alloc_iova(d, 1, 0x10f, true) {
                assert!((0x100..=0x10f).contains(&i.pfn_lo), "{i:?}");
                assert!(got.insert(i.pfn_lo), "pfn {:#x} handed out twice", i.pfn_lo);
            }
            let all: BTreeSet<u64> = d
                .allocated()
                .iter()
                .flat_map(|i| i.pfn_lo..=i.pfn_hi)
                .collect();
            assert_eq!(all, (0x100..=0x10f).collect::<BTreeSet<u64>>());
            assert_eq!(alloc_iova(d, 1, 0x10f, true), None);
            assert_eq!(alloc_iova(d, 2, 0x10f, true), None);
        })
    })
    .silent();
}

#[test]
fn alloc_iova_when_full_returns_none() {
    run_std(|| {
        with_iovad(|d| {
            for _ in 0..8 {
                let i = alloc_iova(d, 2, 0x10f, true).expect("eight pairs fit");
                assert_eq!(i.pfn_lo % 2, 0);
            }
            assert_eq!(alloc_iova(d, 1, 0x10f, true), None);
            free_iova(d, 0x104);
            assert_eq!(
                alloc_iova(d, 1, 0x10f, true),
                Some(Iova {
                    pfn_lo: 0x105,
                    pfn_hi: 0x105
                })
            );
        })
    })
    .silent();
}

/// Brute force: the highest `size`-page range (size-aligned if asked) inside
/// `[start, limit]` that avoids every taken pfn.
fn alloc_reference(
    taken: &BTreeSet<u64>,
    start: u64,
    limit: u64,
    size: u64,
    aligned: bool,
) -> Option<u64> {
    let align = if aligned { size.next_power_of_two() } else { 1 };
    let mut cand = (limit + 1).checked_sub(size)? / align * align;
    loop {
        if cand < start {
            return None;
        }
        if (cand..cand + size).all(|p| !taken.contains(&p)) {
            return Some(cand);
        }
        cand = cand.checked_sub(align)?;
    }
}

mod iova_props {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    #[derive(Clone, Debug)]
    enum IovaOp {
        /// size 1..=4, limit offset from start_pfn (clamped to the window top), size_aligned.
        Alloc(u64, u64, bool),
        /// Free the n-th allocated range (mod how many there are), by its last pfn.
        Free(usize),
    }

    fn ops() -> impl Strategy<Value = Vec<IovaOp>> {
        let op = prop_oneof![
            3 => (1u64..=4, 0u64..18, any::<bool>()).prop_map(|(s, l, a)| IovaOp::Alloc(s, l, a)),
            1 => any::<usize>().prop_map(IovaOp::Free),
        ];
        prop::collection::vec(op, 0..=16)
    }

    proptest! {
        // 64 cases; no regression files are written.
        #![proptest_config(Config { cases: 64, failure_persistence: None, ..Config::default() })]

        /// alloc_iova returns the highest fitting range, as a brute-force search finds it,
        /// and find_iova/free_iova agree with what is allocated.
        #[test]
        fn alloc_iova_matches_brute_force(ops in ops()) {
            run_std(|| with_iovad(|d| {
                let mut taken: BTreeMap<u64, u64> = BTreeMap::new();
                for op in &ops {
                    match *op {
                        IovaOp::Alloc(size, l, aligned) => {
                            let limit = 0x100 + l;
                            let set: BTreeSet<u64> = taken.iter().flat_map(|(&lo, &hi)| lo..=hi).collect();
                            let want = alloc_reference(&set, 0x100, limit.min(0x10f), size, aligned);
                            let got = alloc_iova(d, size, limit.min(0x10f), aligned);
                            assert_eq!(got.map(|i| i.pfn_lo), want, "{op:?} with {taken:x?}");
                            if let Some(i) = got {
                                assert_eq!(i.pfn_hi, i.pfn_lo + size - 1);
                                assert_eq!(find_iova(d, i.pfn_hi), Some(i));
                                taken.insert(i.pfn_lo, i.pfn_hi);
                            }
                        }
                        IovaOp::Free(n) if !taken.is_empty() => {
                            let (&lo, &hi) = taken.iter().nth(n % taken.len()).expect("nonempty");
                            free_iova(d, hi);
                            taken.remove(&lo);
                            assert_eq!(find_iova(d, lo), None);
                        }
                        IovaOp::Free(_) => {}
                    }
                    let model: BTreeMap<u64, u64> =
                        d.allocated().iter().map(|i| (i.pfn_lo, i.pfn_hi)).collect();
                    assert_eq!(model, taken);
                }
            }))
            .silent();
        }
    }
}

// ---------------------------------------------------------------------------------------
// 2. quickcheck: the page arithmetic of iommu_get_reserved_iova.
// ---------------------------------------------------------------------------------------

mod span_props {
    use super::Span;
    use quickcheck::{Arbitrary, Gen, QuickCheck};

    /// `addr < 1 << 48`, `1 <= size <= 1 << 20`. Biased towards small sizes and addresses
    /// near a 64 KiB (so also 4 KiB) boundary, so that both "one page" and "crosses a page"
    /// are common for both orders.
    #[derive(Clone, Copy, Debug)]
    struct Case {
        addr: u64,
        size: u64,
    }

    const ADDR_MAX: u64 = 1 << 48;
    const SIZE_MAX: u64 = 1 << 20;

    impl Arbitrary for Case {
        fn arbitrary(g: &mut Gen) -> Case {
            let a = u64::arbitrary(g) % ADDR_MAX;
            let addr = if bool::arbitrary(g) {
                // Within 64 bytes below or above a 64 KiB boundary.
                let boundary = (a & !0xffff).max(0x1_0000);
                boundary - 64 + u64::arbitrary(g) % 128
            } else {
                a
            };
            let size = match u8::arbitrary(g) % 3 {
                0 => u64::arbitrary(g) % 128 + 1,
                1 => u64::arbitrary(g) % 0x2_0000 + 1,
                _ => u64::arbitrary(g) % SIZE_MAX + 1,
            };
            Case { addr, size }
        }

        fn shrink(&self) -> Box<dyn Iterator<Item = Case>> {
            let c = *self;
            let addrs = c.addr.shrink().map(move |addr| Case { addr, ..c });
            let sizes = c
                .size
                .shrink()
                .filter(|&s| s >= 1)
                .map(move |size| Case { size, ..c });
            Box::new(addrs.chain(sizes))
        }
    }

    /// Check `prop` for both IOMMU page orders the brief asks about.
    fn both_orders(c: Case, prop: fn(u64, u64, u32, Span) -> bool) -> bool {
        assert!(c.addr < ADDR_MAX + 0x1_0000 && (1..=SIZE_MAX).contains(&c.size));
        [12u32, 16]
            .into_iter()
            .all(|o| prop(c.addr, c.size, o, Span::of(c.addr, c.size, o)))
    }

    fn qc(prop: fn(Case) -> bool) {
        QuickCheck::new().tests(2000).quickcheck(prop);
    }

    #[test]
    fn aligned_base_is_page_aligned_and_not_above_addr() {
        qc(|c| {
            both_orders(c, |addr, _, o, s| {
                s.aligned_base % (1 << o) == 0 && s.aligned_base <= addr
            })
        });
    }

    #[test]
    fn offset_is_within_a_page_and_locates_addr() {
        qc(|c| {
            both_orders(c, |addr, _, o, s| {
                s.offset < 1 << o && s.aligned_base + s.offset == addr
            })
        });
    }

    #[test]
    fn binding_covers_the_range() {
        qc(|c| {
            both_orders(c, |addr, size, _, s| {
                s.aligned_base + s.binding_size >= addr + size
            })
        });
    }

    #[test]
    fn binding_is_tight() {
        // The last page of the binding holds the last byte: no page too many.
        qc(|c| {
            both_orders(c, |addr, size, o, s| {
                s.aligned_base + s.binding_size - (1 << o) < addr + size
            })
        });
    }

    #[test]
    fn binding_size_is_whole_pages() {
        qc(|c| {
            both_orders(c, |_, _, o, s| {
                s.nb_iommu_pages >= 1 && s.binding_size == s.nb_iommu_pages << o
            })
        });
    }

    #[test]
    fn one_page_exactly_when_not_crossing_a_boundary() {
        qc(|c| {
            both_orders(c, |addr, size, o, s| {
                (s.nb_iommu_pages == 1) == (addr >> o == (addr + size - 1) >> o)
            })
        });
    }

    #[test]
    fn generator_covers_both_one_page_and_crossing() {
        // The biconditional above is only meaningful if both sides occur, for both orders.
        let mut g = Gen::new(100);
        let mut seen = [[false; 2]; 2];
        for _ in 0..2000 {
            let c = Case::arbitrary(&mut g);
            for (i, o) in [12u32, 16].into_iter().enumerate() {
                seen[i][usize::from(Span::of(c.addr, c.size, o).nb_iommu_pages == 1)] = true;
            }
        }
        assert_eq!(seen, [[true; 2]; 2]);
    }

    #[test]
    fn doorbell_crossing_a_page_boundary_needs_two_pages() {
        let s = Span::of(0x900_0ffc, 8, 12);
        assert_eq!(
            s,
            Span {
                base_pfn: 0x9000,
                end_pfn: 0x9001,
                nb_iommu_pages: 2,
                aligned_base: 0x900_0000,
                offset: 0xffc,
                binding_size: 0x2000,
            }
        );
        // The same doorbell at 64 KiB pages fits in one.
        assert_eq!(Span::of(0x900_0ffc, 8, 16).nb_iommu_pages, 1);
        // The last 4 bytes of a page: one page.
        assert_eq!(Span::of(0x900_0ffc, 4, 12).nb_iommu_pages, 1);
    }
}

// ---------------------------------------------------------------------------------------
// 3. proptest: sequential get/put/free_domain against a reference map.
// ---------------------------------------------------------------------------------------

/// Doorbells: two in one 4 KiB page (they share a binding) and one whose 4 bytes cross a page
/// boundary (a 2-page, size-aligned binding). No doorbell partly overlaps another's binding.
const DOORBELLS: [u64; 3] = [0x900_0000, 0x900_0040, 0x900_5ffe];
const DOORBELL_SIZE: u64 = 4;

/// The model's typed operation, from a scenario's words.
fn call(op: &'static str, args: Vec<u64>) -> ModelOp {
    ModelOp::from_call(&Call {
        op,
        args,
        flags: vec![],
    })
}

/// The model's state, read back from the trace: live bindings with their refcounts (a
/// binding's kref lives in the binding's allocation, so its read-modify-writes are recorded
/// on the binding), the domain's valid PTEs (index -> PA), and whether the iova_domain lives.
#[derive(Debug, Default)]
struct Observed {
    bindings: BTreeMap<u32, u64>,
    ptes: BTreeMap<u32, u64>,
    iovad_live: bool,
}

fn observe(rec: &Recorder) -> Observed {
    let mut o = Observed::default();
    for e in rec.events() {
        let Obj::Object { class, id } = e.obj else {
            continue;
        };
        match (class, &e.op) {
            ("binding", Op::Alloc) => {
                o.bindings.insert(id, 1);
            }
            ("binding", Op::Free) => {
                o.bindings.remove(&id);
            }
            ("binding", Op::Rmw { after, .. }) => {
                if let Some(c) = o.bindings.get_mut(&id) {
                    *c = *after;
                }
            }
            ("iova_domain", Op::Alloc) => o.iovad_live = true,
            ("iova_domain", Op::Free) => o.iovad_live = false,
            ("domain pte", Op::Store(v)) => {
                if v & 1 != 0 {
                    o.ptes.insert(id, v & !0xfff);
                } else {
                    o.ptes.remove(&id);
                }
            }
            _ => {}
        }
    }
    o
}

/// The 4 KiB pages a binding of `pa` covers.
fn pages_of(pa: u64) -> Vec<u64> {
    let s = Span::of(pa, DOORBELL_SIZE, 12);
    (0..s.nb_iommu_pages)
        .map(|i| s.aligned_base + (i << 12))
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Get(usize),
    Put(usize),
    FreeDomain,
}

/// What the reference expects of the model.
struct Reference {
    variant: Variant,
    /// Doorbell PA -> gets that succeeded and were not yet put.
    count: BTreeMap<u64, u64>,
    /// prepare: the doorbells prepared (each holds one binding until the domain goes).
    prepared: Vec<u64>,
    freed: bool,
}

impl Reference {
    fn get_succeeds(&self, pa: u64) -> bool {
        !self.freed
            && (self.variant != Variant::Prepare
                || self.prepared.iter().any(|&p| pages_of(p) == pages_of(pa)))
    }

    /// Bindings (as their page sets) that must exist now.
    fn bindings(&self) -> BTreeSet<Vec<u64>> {
        let mut b: BTreeSet<Vec<u64>> = self
            .count
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(&pa, _)| pages_of(pa))
            .collect();
        if self.variant == Variant::Prepare {
            b = if self.freed {
                BTreeSet::new()
            } else {
                self.prepared.iter().map(|&pa| pages_of(pa)).collect()
            };
        }
        b
    }

    /// Sum of the live bindings' refcounts.
    fn refcount_sum(&self) -> u64 {
        if self.variant == Variant::Prepare && self.freed {
            return 0;
        }
        let base = if self.variant == Variant::Prepare {
            self.bindings().len() as u64
        } else {
            0
        };
        base + self.count.values().sum::<u64>()
    }

    fn all_put(&self) -> bool {
        self.count.values().all(|&n| n == 0)
    }

    /// Compare with what the trace shows.
    fn check(&self, o: &Observed, after: &str) {
        let want = self.bindings();
        assert_eq!(
            o.bindings.len(),
            want.len(),
            "live bindings after {after}: {o:?}"
        );
        assert_eq!(
            o.bindings.values().sum::<u64>(),
            self.refcount_sum(),
            "refcounts after {after}: {o:?}"
        );
        // Every mapped IOMMU page translates to a page of a live binding, and every page
        // of a live binding is mapped exactly once.
        let mut mapped: Vec<u64> = o.ptes.values().copied().collect();
        mapped.sort_unstable();
        let mut want_pages: Vec<u64> = want.iter().flatten().copied().collect();
        want_pages.sort_unstable();
        assert_eq!(mapped, want_pages, "mapped PAs after {after}: {o:?}");
        // A multi-page binding is mapped at consecutive IOVAs, size-aligned.
        for pages in &want {
            let idx: Vec<u32> = pages
                .iter()
                .map(|pa| *o.ptes.iter().find(|(_, &p)| p == *pa).expect("mapped").0)
                .collect();
            for w in idx.windows(2) {
                assert_eq!(w[1], w[0] + 1, "pages {pages:x?} not contiguous: {o:?}");
            }
            let first_pfn = (WINDOW_BASE >> 12) + u64::from(idx[0]);
            assert_eq!(first_pfn % pages.len().next_power_of_two() as u64, 0);
        }
        assert_eq!(o.iovad_live, !self.freed, "iova_domain after {after}");
    }
}

/// Run `steps` on one thread through the `Model` trait and compare with the reference after
/// every step and after `finish`.
fn run_sequence(variant: Variant, steps: &[Step]) {
    let rec = Arc::new(Recorder::default());
    // v6 leaves the cookie pointing at the freed iova_domain: the first get, or put of a
    // reference held, after free_domain reads it (iova_shift) -- a use-after-free, where
    // the sequence ends.
    let prepared = variant.mechanics().flow == Flow::PrepareMaps;
    let uaf_expected = std::cell::Cell::new(None::<usize>);
    let r = run_in(&rec, || {
        let w = ReservedIova::new(variant, 16);
        let mut reference = Reference {
            variant,
            count: BTreeMap::new(),
            prepared: vec![],
            freed: false,
        };
        if variant == Variant::Prepare {
            for &pa in &DOORBELLS {
                w.run(&call("prepare", vec![pa, DOORBELL_SIZE]));
                assert_eq!(rec.violation(), None, "prepare {pa:#x}");
                // Two doorbells share a page: the second prepare finds the first's binding.
                if !reference
                    .prepared
                    .iter()
                    .any(|&p| pages_of(p) == pages_of(pa))
                {
                    reference.prepared.push(pa);
                }
            }
            reference.check(&observe(&rec), "prepare");
        }
        for (i, &step) in steps.iter().enumerate() {
            match step {
                Step::Get(d) => {
                    let pa = DOORBELLS[d];
                    if reference.freed && !prepared {
                        uaf_expected.set(Some(i));
                    }
                    w.run(&call("get", vec![pa, DOORBELL_SIZE]));
                    assert_eq!(rec.violation(), None, "get {pa:#x}");
                    if reference.get_succeeds(pa) {
                        *reference.count.entry(pa).or_default() += 1;
                    }
                }
                Step::Put(d) => {
                    let pa = DOORBELLS[d];
                    // The model keys its references by binding (page), not by doorbell:
                    // a put of a doorbell never got while its page-mate holds a reference
                    // would put the page-mate's. Only issue puts the reference can name:
                    // one of this doorbell's own gets, or a put of nothing at all.
                    let own = reference.count.get(&pa).copied().unwrap_or(0) > 0;
                    let mate_holds = reference
                        .count
                        .iter()
                        .any(|(&p, &n)| p != pa && n > 0 && pages_of(p) == pages_of(pa));
                    if !own && mate_holds {
                        continue;
                    }
                    if own && reference.freed && !prepared {
                        uaf_expected.set(Some(i));
                    }
                    w.run(&call("put", vec![pa, DOORBELL_SIZE]));
                    assert_eq!(rec.violation(), None, "put {pa:#x}");
                    if own {
                        *reference.count.get_mut(&pa).expect("counted") -= 1;
                    }
                }
                Step::FreeDomain => {
                    w.run(&call("free_domain", vec![]));
                    assert_eq!(rec.violation(), None, "free_domain");
                    reference.freed = true;
                }
            }
            reference.check(&observe(&rec), &format!("step {i} {step:?}"));
        }
        w.finish();
        assert_eq!(rec.violation(), None, "finish");
        let o = observe(&rec);
        if reference.all_put() {
            // finish freed the domain, and with it every binding, IOVA and mapping.
            reference.freed = true;
            assert!(o.bindings.is_empty(), "bindings after finish: {o:?}");
            assert!(o.ptes.is_empty(), "mappings after finish: {o:?}");
            assert!(!o.iovad_live, "iova_domain after finish");
        } else if !reference.freed {
            // finish leaves a domain with references held alone.
            reference.check(&o, "finish");
        }
        reference.all_put()
    });
    if let Some(i) = uaf_expected.get() {
        r.fires(Kind::UseAfterFree, &["iova_domain 0"]);
        assert!(
            matches!(steps[i], Step::Get(_) | Step::Put(_)),
            "{variant:?} {steps:?}: step {i}"
        );
        return;
    }
    if let Err(m) = &r.result {
        panic!(
            "{variant:?} {steps:?}: {m} (violation: {:?})",
            r.rec.violation()
        );
    }
    assert_eq!(r.rec.violation(), None);
}

mod sequences {
    use super::{run_sequence, Step, Variant};
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    /// Up to 12 gets and puts, then free_domain at most once, within the last 3 positions.
    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            (0usize..3).prop_map(Step::Get),
            (0usize..3).prop_map(Step::Put),
        ];
        (
            prop::collection::vec(step, 0..=11),
            prop::option::of(0usize..3),
        )
            .prop_map(|(mut v, free)| {
                if let Some(back) = free {
                    let at = v.len().saturating_sub(back);
                    v.insert(at, Step::FreeDomain);
                }
                v
            })
    }

    proptest! {
        // 64 cases per variant; no regression files are written.
        #![proptest_config(Config { cases: 64, failure_persistence: None, ..Config::default() })]

        #[test]
        fn v6_matches_reference(s in steps()) {
            run_sequence(Variant::V6, &s);
        }

        #[test]
        fn v6_atomic_matches_reference(s in steps()) {
            run_sequence(Variant::V6Atomic, &s);
        }

        #[test]
        fn prepare_matches_reference(s in steps()) {
            run_sequence(Variant::Prepare, &s);
        }

        #[test]
        fn unlocked_release_matches_reference_sequentially(s in steps()) {
            run_sequence(Variant::UnlockedRelease, &s);
        }

        #[test]
        fn no_recheck_matches_reference_sequentially(s in steps()) {
            run_sequence(Variant::NoRecheck, &s);
        }
    }
}

/// A fixed sequence where every get is put: finish frees the domain without a violation,
/// for every variant, and the sequence really did map something.
#[test]
fn every_get_put_then_finish_is_silent_for_every_variant() {
    use Step::*;
    let steps = [
        Get(0),
        Get(1),
        Get(2),
        Get(0),
        Put(0),
        Put(2),
        Put(1),
        Put(0),
    ];
    for v in [
        Variant::V6,
        Variant::V6Atomic,
        Variant::Prepare,
        Variant::UnlockedRelease,
        Variant::NoRecheck,
    ] {
        run_sequence(v, &steps);
    }
}

// ---------------------------------------------------------------------------------------
// The thread's points, through the model's operations.
// ---------------------------------------------------------------------------------------

fn atomic_get(w: &ReservedIova, pa: u64) {
    w.run(&ModelOp::Get {
        pa,
        size: DOORBELL_SIZE,
        atomic: true,
    });
}

#[test]
fn v6_get_from_msi_domain_activate_fires_on_kzalloc() {
    // Jean-Philippe: the get runs under irq_desc->lock, so kzalloc(GFP_KERNEL) may not sleep.
    run_std(|| atomic_get(&ReservedIova::new(Variant::V6, 16), DOORBELLS[0])).fires(
        Kind::SleepInAtomic,
        &[
            "kzalloc(GFP_KERNEL) may sleep",
            "irq_desc->lock is held (raw_spin_lock_irqsave at",
            ", in msi_domain_activate)",
        ],
    );
}

#[test]
fn v6_atomic_get_from_msi_domain_activate_still_fires_on_iommu_map() {
    // Eric: with GFP_ATOMIC, iommu_map is still not guaranteed atomic.
    run_std(|| atomic_get(&ReservedIova::new(Variant::V6Atomic, 16), DOORBELLS[0])).fires(
        Kind::SleepInAtomic,
        &[
            "iommu_map may sleep",
            "irq_desc->lock is held (raw_spin_lock_irqsave at",
        ],
    );
}

#[test]
fn prepare_get_from_msi_domain_activate_is_silent() {
    // Jean-Philippe's proposal: map in prepare (sleepable), only look up in activate.
    let rec = Arc::new(Recorder::default());
    run_in(&rec, || {
        let w = ReservedIova::new(Variant::Prepare, 16);
        w.run(&call("prepare", vec![DOORBELLS[0], DOORBELL_SIZE]));
        atomic_get(&w, DOORBELLS[0]);
        atomic_get(&w, DOORBELLS[1]);
        w.run(&call("put", vec![DOORBELLS[0], DOORBELL_SIZE]));
        w.run(&call("put", vec![DOORBELLS[1], DOORBELL_SIZE]));
        w.finish();
    })
    .silent();
    // The gets really took references: two kref_gets on the prepared binding.
    let gets = rec
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e.op,
                Op::Rmw {
                    name: "refcount_inc",
                    ..
                }
            ) && e.obj
                == Obj::Object {
                    class: "binding",
                    id: 0,
                }
        })
        .count();
    assert_eq!(gets, 2);
}

#[test]
fn partial_overlap_lookup_returns_wrong_iova_fires() {
    // Not in the thread: find_reserved_binding matches any *overlapping* binding, and the
    // get adds the offset from its own aligned base. A binding of the two-page doorbell
    // region 0x9001000+0x2000 is found for the doorbell 0x9002000+4 in its second page, whose
    // IOVA then points into page 0x9001000; in the other order, the one-page binding of
    // 0x9002000 is found for the region, whose IOVA then points into page 0x9002000. Both
    // orders, v6 and prepare.
    let region = (0x900_1000, 0x2000);
    let doorbell = (0x900_2000, DOORBELL_SIZE);
    for variant in [Variant::V6, Variant::Prepare] {
        for (first, second) in [(region, doorbell), (doorbell, region)] {
            let run = run_std(|| {
                let w = ReservedIova::new(variant, 16);
                let ops: &[&str] = if variant == Variant::Prepare {
                    &["prepare", "get"]
                } else {
                    &["get"]
                };
                for op in ops {
                    for (pa, size) in [first, second] {
                        w.run(&call(op, vec![pa, size]));
                    }
                }
            });
            run.fires(
                Kind::LostMapping,
                &[&format!("get of PA {:#x} returns IOVA", second.0)],
            );
        }
    }
}

#[test]
fn disjoint_multi_page_bindings_are_silent() {
    // The silent twin: the same two-page region next to a doorbell that does not share its
    // pages.
    let ranges = [(0x900_1000, 0x2000), (0x900_3000, DOORBELL_SIZE)];
    for variant in [Variant::V6, Variant::Prepare] {
        run_std(|| {
            let w = ReservedIova::new(variant, 16);
            for (pa, size) in ranges {
                if variant == Variant::Prepare {
                    w.run(&call("prepare", vec![pa, size]));
                }
                w.run(&call("get", vec![pa, size]));
            }
            for (pa, size) in ranges {
                w.run(&call("put", vec![pa, size]));
            }
            w.finish();
        })
        .silent();
    }
}

#[test]
fn the_checkers_own_reads_are_marked_and_the_kernels_are_not() {
    let rec = Arc::new(Recorder::default());
    run_in(&rec, || {
        ReservedIova::new(Variant::V6, 16).run(&call("get", vec![DOORBELLS[0], DOORBELL_SIZE]))
    })
    .silent();
    let pte = |e: &&iommu_models::trace::Event| {
        matches!(
            e.obj,
            Obj::Object {
                class: "domain pte",
                ..
            }
        )
    };
    let events = rec.events();
    // iommu_map reads and writes the PTE; the check that the IOVA translates reads it again.
    let (checker, kernel): (Vec<_>, Vec<_>) = events.iter().filter(pte).partition(|e| e.by_checker);
    assert!(
        kernel.iter().any(|e| matches!(e.op, Op::Store(_))),
        "{kernel:?}"
    );
    assert!(kernel.iter().all(|e| !e.by_checker));
    assert_eq!(checker.len(), 1, "{checker:?}");
    assert!(matches!(checker[0].op, Op::Load(_)));
    // Outside the check, nothing is marked.
    assert!(events.iter().filter(|e| e.by_checker).all(|e| pte(&e)));
}
