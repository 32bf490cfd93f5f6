//! Soundness pairs under loom: each program has two threads whose violation needs one order
//! of otherwise unsynchronised operations, so loom finds it only if the state that decides it
//! is state loom explores. Its fixed twin must come out `holds (complete)`: loom exhausts
//! every execution without a violation, and the code the violation needs was reached.
//!
//! One pair per kind the issue lists: use-after-free (slab object, page), double-free,
//! refcount, uninitialized-read, lost-mapping, stale-translation, lock-not-held,
//! sleep-in-atomic, deadlock, lock-order.
//!
//! The headline case: a `kfree` of a kzalloc'ed object in one thread, an access of one of
//! its fields in the other, nothing else shared. When the slab shadow was ghost state, loom
//! never tried the free before the access and said the program holds.

#![allow(missing_docs)]

mod common;

use common::explore::{explore_reaching as explore, new_object, reached, Outcome};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use iommu_models::check::{ensure, Kind};
use iommu_models::engine::spawn;
use iommu_models::kernel::{
    assert_spin_locked, atomic64_sub_return, atomic64_sub_return_relaxed, clear_bit, kfree,
    kref_init, kref_put, kzalloc, raw_spin_lock_irqsave, raw_spin_unlock_irqrestore, read_once,
    set_bit, smp_load_acquire, smp_store_release, spin_lock, spin_unlock, write_once, xchg,
    Atomic64, Gfp, Kref, PagePool, Slab, SpinLock,
};
use iommu_models::trace::Obj;

/// Spawn threads 1 and 2, each running `f(its index)`, and join them.
fn two_threads(f: impl Fn(usize) + Clone + Send + 'static) {
    let t: Vec<_> = (1..=2)
        .map(|i| {
            let f = f.clone();
            spawn(i, move || f(i))
        })
        .collect();
    for h in t {
        h.join();
    }
}

/// Spawn thread 1 running `reader` and thread 2 running `writer`, both given one flag (0 at
/// first), and join them. Thread 1 is spawned first, so loom's first schedule runs the
/// reader before the writer: the order in which the reader sees the flag set is one loom
/// must choose to try.
fn reader_and_writer(
    reader: impl FnOnce(&Atomic64) + Send + 'static,
    writer: impl FnOnce(&Atomic64) + Send + 'static,
) {
    let flag = Arc::new(Atomic64::new(Obj::Named("flag"), 0));
    let f = flag.clone();
    let r = spawn(1, move || reader(&f));
    let w = spawn(2, move || writer(&flag));
    w.join();
    r.join();
}

fn fires(o: Outcome, kind: Kind) {
    o.fires(kind)
}

fn holds(o: Outcome) {
    o.holds()
}

// ---------------------------------------------------------------- use-after-free (slab)

/// A frees the object; B reads a field. B is spawned first, so loom's first schedule runs
/// the access before the free: only a free that loom sees makes it try the other order.
/// With `lock`, both sides take one spinlock, and A marks the object dead before freeing it,
/// so B reads only a live object.
fn slab_free_vs_access(lock: bool) -> Outcome {
    explore(move || {
        let cache = Arc::new(Slab::new("obj"));
        let lk = Arc::new(SpinLock::new("obj_lock"));
        let dead = Arc::new(Atomic64::new(Obj::Named("dead"), 0));
        let p = new_object(&cache);
        let b = {
            let (p, lk, dead) = (p.clone(), lk.clone(), dead.clone());
            spawn(1, move || {
                let g = lock.then(|| spin_lock(&lk));
                if read_once(&dead) == 0 {
                    reached();
                    read_once(&p.get().field);
                }
                if let Some(g) = g {
                    spin_unlock(g);
                }
            })
        };
        let a = {
            spawn(2, move || {
                if lock {
                    let g = spin_lock(&lk);
                    write_once(&dead, 1);
                    spin_unlock(g);
                }
                kfree(&p);
            })
        };
        a.join();
        b.join();
    })
}

#[test]
fn slab_use_after_free_is_found() {
    fires(slab_free_vs_access(false), Kind::UseAfterFree);
}

#[test]
fn slab_access_under_the_lock_holds() {
    holds(slab_free_vs_access(true));
}

// ---------------------------------------------------------------- use-after-free (page)

/// A frees a table page; B reads one of its entries (the same pattern, for the page
/// allocator's per-frame shadow).
fn page_free_vs_access(lock: bool) -> Outcome {
    explore(move || {
        let pool = Arc::new(PagePool::new(2, 2));
        let lk = Arc::new(SpinLock::new("page_table_lock"));
        let dead = Arc::new(Atomic64::new(Obj::Named("dead"), 0));
        let f = pool.alloc_pgtable_page().unwrap();
        let b = {
            let (pool, lk, dead) = (pool.clone(), lk.clone(), dead.clone());
            spawn(1, move || {
                let g = lock.then(|| spin_lock(&lk));
                if read_once(&dead) == 0 {
                    reached();
                    read_once(pool.frame(f).entry(1));
                }
                if let Some(g) = g {
                    spin_unlock(g);
                }
            })
        };
        let a = {
            let pool = pool.clone();
            spawn(2, move || {
                if lock {
                    let g = spin_lock(&lk);
                    write_once(&dead, 1);
                    spin_unlock(g);
                }
                pool.free_pgtable_page(f);
            })
        };
        a.join();
        b.join();
    })
}

#[test]
fn page_use_after_free_is_found() {
    fires(page_free_vs_access(false), Kind::UseAfterFree);
}

#[test]
fn page_access_under_the_lock_holds() {
    holds(page_free_vs_access(true));
}

// ---------------------------------------------------------------- double-free

/// Both threads free the object; with `claim`, each frees only if its `xchg` of a "freed"
/// flag found it clear, so exactly one does.
fn both_free(claim: bool) -> Outcome {
    explore(move || {
        let cache = Arc::new(Slab::new("obj"));
        let freed = Arc::new(Atomic64::new(Obj::Named("freed"), 0));
        let p = new_object(&cache);
        two_threads(move |_| {
            if !claim || xchg(&freed, 1) == 0 {
                reached();
                kfree(&p);
            }
        });
        cache.check_no_leak("both threads");
    })
}

#[test]
fn double_free_is_found() {
    fires(both_free(false), Kind::DoubleFree);
}

#[test]
fn claimed_free_holds() {
    holds(both_free(true));
}

// ---------------------------------------------------------------- refcount

/// Each thread drops a reference; the object starts with one (`short`) or two.
fn two_puts(short: bool) -> Outcome {
    explore(move || {
        let cache = Arc::new(Slab::new("obj"));
        let p = kzalloc(&cache, Gfp::Kernel, kref_init).unwrap();
        if !short {
            iommu_models::kernel::kref_get(p.get());
        }
        two_threads(move |_| {
            reached();
            kref_put(p.get(), || kfree(&p));
        });
        cache.check_no_leak("both puts");
    })
}

#[test]
fn refcount_underflow_is_found() {
    let o = two_puts(true);
    // The second put dereferences a freed object or drops the count below zero, whichever
    // check it meets first; both are this bug.
    assert!(
        matches!(o.violation, Some(Kind::UseAfterFree | Kind::Refcount)),
        "{o:?}"
    );
}

#[test]
fn balanced_puts_hold() {
    holds(two_puts(false));
}

// ------------------------------------- use-after-free: an access not ordered before the free

/// An object with a field and two references, one per thread. Each thread writes the field
/// and drops its reference; the one that drops the last frees the object. With `kref_put`
/// (`refcount_dec_and_test`: release, and acquire at zero) the other thread's write is
/// ordered before the free. With a relaxed decrement it is not: on a weakly ordered CPU it
/// can land after the free, though loom may run it first. The free's check is loom's
/// causality check, not the order the threads ran in.
struct Counted {
    field: Atomic64,
    kref: Kref,
    count: Atomic64,
}

/// With `deref_only`, each thread only dereferences the object (reads a plain field), as
/// models read a binding's iova and size through `KBox::get`, and the count is a word
/// outside the object (so the dereference is the only access of the object to order):
/// fully ordered `atomic64_sub_return` when `ordered`, relaxed otherwise.
fn last_put_frees(ordered: bool, deref_only: bool) -> Outcome {
    explore(move || {
        let cache = Arc::new(Slab::new("obj"));
        let p = kzalloc(&cache, Gfp::Kernel, |obj, shadow| Counted {
            field: Atomic64::in_allocation(obj, 0, shadow.clone()),
            kref: kref_init(obj, shadow.clone()),
            count: Atomic64::in_allocation(obj, 2, shadow),
        })
        .unwrap();
        iommu_models::kernel::kref_get(&p.get().kref);
        let refs = Arc::new(Atomic64::new(Obj::Named("refs"), 2));
        two_threads(move |i| {
            if deref_only {
                let _plain_field = p.get();
                reached();
                let left = if ordered {
                    atomic64_sub_return(1, &refs)
                } else {
                    atomic64_sub_return_relaxed(1, &refs)
                };
                if left == 0 {
                    kfree(&p);
                }
                return;
            }
            write_once(&p.get().field, i as u64);
            reached();
            if ordered {
                kref_put(&p.get().kref, || kfree(&p));
            } else if atomic64_sub_return_relaxed(1, &p.get().count) == 0 {
                kfree(&p);
            }
        });
    })
}

#[test]
fn a_write_not_ordered_before_the_free_is_found() {
    fires(last_put_frees(false, false), Kind::UseAfterFree);
}

#[test]
fn kref_put_orders_the_write_before_the_free() {
    holds(last_put_frees(true, false));
}

#[test]
fn a_dereference_not_ordered_before_the_free_is_found() {
    fires(last_put_frees(false, true), Kind::UseAfterFree);
}

#[test]
fn a_fully_ordered_put_orders_the_dereference_before_the_free() {
    holds(last_put_frees(true, true));
}

// ---------------------------------------------------------------- uninitialized-read

/// A allocates a page, fills an entry and publishes its number; B reads the number and, if
/// published, the entry. Without the release, B may see the number before the page's
/// zeroing and A's write.
fn publish_page(release: bool) -> Outcome {
    explore(move || {
        let pool = Arc::new(PagePool::new(2, 2));
        let slot = Arc::new(Atomic64::new(Obj::Named("slot"), u64::MAX));
        let a = {
            let (pool, slot) = (pool.clone(), slot.clone());
            spawn(1, move || {
                let f = pool.alloc_pgtable_page().unwrap();
                write_once(pool.frame(f).entry(0), 5);
                if release {
                    smp_store_release(&slot, f as u64);
                } else {
                    write_once(&slot, f as u64);
                }
            })
        };
        let b = {
            let (pool, slot) = (pool.clone(), slot.clone());
            spawn(2, move || {
                let f = if release {
                    smp_load_acquire(&slot)
                } else {
                    read_once(&slot)
                };
                if f != u64::MAX {
                    reached();
                    read_once(pool.frame(f as u32).entry(1));
                }
            })
        };
        a.join();
        b.join();
    })
}

#[test]
fn unpublished_page_read_is_found() {
    fires(publish_page(false), Kind::UninitializedRead);
}

#[test]
fn released_page_read_holds() {
    holds(publish_page(true));
}

// ---------------------------------------------------------------- lost-mapping, stale-translation

/// One page-table word whose bits 1 and 2 say that pages 1 and 2 are mapped. Thread `i`
/// maps (`map`) or unmaps its page `i`, by a plain read-modify-write or (`atomic`) by
/// `set_bit`/`clear_bit`. After both, each page must translate exactly when it is mapped:
/// the final check of the page-table models, on the word itself. Without atomicity, the
/// write that lands last drops the other thread's change: a lost mapping when both map, a
/// page that still translates after its unmap when both unmap.
fn two_updates_of_one_word(map: bool, atomic: bool) -> Outcome {
    explore(move || {
        let pte = Arc::new(Atomic64::new(
            Obj::Named("pte"),
            if map { 0 } else { 0b110 },
        ));
        let p = pte.clone();
        two_threads(move |i| {
            reached();
            let bit = 1u64 << i;
            match (atomic, map) {
                (true, true) => set_bit(i as u32, &p),
                (true, false) => clear_bit(i as u32, &p),
                (false, true) => write_once(&p, read_once(&p) | bit),
                (false, false) => write_once(&p, read_once(&p) & !bit),
            }
        });
        let v = read_once(&pte);
        for i in 1..=2 {
            let translates = v & (1 << i) != 0;
            if map {
                ensure(translates, Kind::LostMapping, || {
                    format!("page {i} was mapped and not unmapped, but does not translate")
                });
            } else {
                ensure(!translates, Kind::StaleTranslation, || {
                    format!("page {i} was unmapped, but still translates")
                });
            }
        }
    })
}

#[test]
fn lost_mapping_is_found() {
    fires(two_updates_of_one_word(true, false), Kind::LostMapping);
}

#[test]
fn atomic_maps_hold() {
    holds(two_updates_of_one_word(true, true));
}

#[test]
fn stale_translation_is_found() {
    fires(
        two_updates_of_one_word(false, false),
        Kind::StaleTranslation,
    );
}

#[test]
fn atomic_unmaps_hold() {
    holds(two_updates_of_one_word(false, true));
}

// ---------------------------------------------------------------- lock-not-held

/// A sets `busy` inside its critical section; B, seeing `busy`, calls code that asserts the
/// lock is held (`assert_spin_locked`: held by anyone), trusting A to still hold it. It
/// fails when B's assertion comes after A's unlock. With `own`, B takes the lock itself.
///
/// `assert_spin_locked` asks the engine's lock (a `try_lock`) when the caller does not hold
/// it, so loom orders the assertion against A's lock and unlock.
fn assert_on_anothers_lock(own: bool) -> Outcome {
    explore(move || {
        let lk = Arc::new(SpinLock::new("page_table_lock"));
        let l = lk.clone();
        reader_and_writer(
            move |busy| {
                if read_once(busy) == 1 {
                    reached();
                    let g = own.then(|| spin_lock(&l));
                    assert_spin_locked(&l);
                    if let Some(g) = g {
                        spin_unlock(g);
                    }
                }
            },
            move |busy| {
                let g = spin_lock(&lk);
                write_once(busy, 1);
                spin_unlock(g);
            },
        );
    })
}

#[test]
fn assert_after_anothers_unlock_is_found() {
    fires(assert_on_anothers_lock(false), Kind::LockNotHeld);
}

#[test]
fn assert_under_own_lock_holds() {
    holds(assert_on_anothers_lock(true));
}

// ---------------------------------------------------------------- sleep-in-atomic

/// A asks for a table (`need`); B, under a spinlock, allocates one if asked, with
/// `GFP_KERNEL` (may sleep) or, fixed, `GFP_ATOMIC`. B is spawned first, so loom's first
/// schedule finds no request (see [`reader_and_writer`]).
fn alloc_under_spinlock(gfp: Gfp) -> Outcome {
    explore(move || {
        let cache = Slab::new("table");
        let lk = SpinLock::new("page_table_lock");
        reader_and_writer(
            move |need| {
                let g = spin_lock(&lk);
                if read_once(need) == 1 {
                    reached();
                    if let Ok(t) = kzalloc(&cache, gfp, |_, _| ()) {
                        kfree(&t);
                    }
                }
                spin_unlock(g);
            },
            |need| write_once(need, 1),
        );
    })
}

#[test]
fn gfp_kernel_under_spinlock_is_found() {
    fires(alloc_under_spinlock(Gfp::Kernel), Kind::SleepInAtomic);
}

#[test]
fn gfp_atomic_under_spinlock_holds() {
    holds(alloc_under_spinlock(Gfp::Atomic));
}

// ---------------------------------------------------------------- deadlock

/// Two locks of one class (two `irq_desc->lock`s): thread 1 takes x then y, thread 2 takes
/// y then x (or, fixed, x then y too). Lockdep keys the order graph by class, so it cannot
/// tell these apart (see the fidelity table): only an execution that deadlocks shows the
/// bug, and that needs each thread to take its first lock before the other takes its second.
fn two_locks_of_one_class(same_order: bool) -> Outcome {
    explore(move || {
        let x = Arc::new(SpinLock::new("irq_desc->lock"));
        let y = Arc::new(SpinLock::new("irq_desc->lock"));
        two_threads(move |i| {
            let (first, second) = if i == 2 && !same_order {
                (&y, &x)
            } else {
                (&x, &y)
            };
            let g1 = raw_spin_lock_irqsave(first);
            let g2 = raw_spin_lock_irqsave(second);
            reached();
            raw_spin_unlock_irqrestore(g2);
            raw_spin_unlock_irqrestore(g1);
        });
    })
}

#[test]
fn abba_deadlock_is_found() {
    fires(two_locks_of_one_class(false), Kind::Deadlock);
}

#[test]
fn one_lock_order_holds() {
    holds(two_locks_of_one_class(true));
}

// ---------------------------------------------------------------- lock-order

/// Thread 1 takes `a_lock` and `b_lock`, in an order that depends on whether it read thread
/// 2's flag: a then b if not, b then a if so (or, fixed, a then b either way). No execution
/// takes both orders, and only one thread takes locks, so none deadlocks: only lockdep's
/// order graph, kept across the executions of a run, reports the inversion, once loom has
/// tried the flag's write before its read.
fn order_by_flag(fixed: bool) -> Outcome {
    explore(move || {
        let a = SpinLock::new("a_lock");
        let b = SpinLock::new("b_lock");
        reader_and_writer(
            move |flag| {
                let (first, second) = if read_once(flag) == 1 {
                    reached();
                    if fixed {
                        (&a, &b)
                    } else {
                        (&b, &a)
                    }
                } else {
                    (&a, &b)
                };
                let g1 = spin_lock(first);
                let g2 = spin_lock(second);
                spin_unlock(g2);
                spin_unlock(g1);
            },
            |flag| write_once(flag, 1),
        );
    })
}

#[test]
fn inverted_lock_order_is_found() {
    fires(order_by_flag(false), Kind::LockOrder);
}

#[test]
fn one_lock_order_across_paths_holds() {
    holds(order_by_flag(true));
}

// ---------------------------------------------------------------- smp_mb (LKMM)

/// Store buffering: P1 writes x then reads y, P2 writes y then reads x, each with `smp_mb()`
/// between (if `mb`); P3 writes x = 2, then z. Returns (executions, executions where both
/// reads returned 0). The LKMM forbids that outcome with the barriers, and allows it without.
/// (The issue reports a three-thread store-buffering shape that loom's `fence(SeqCst)` lets
/// through; this one it does not, so this pair is a conformance check, not that reproducer.)
fn store_buffering(mb: bool) -> (usize, usize) {
    let both_zero = Arc::new(AtomicUsize::new(0));
    let seen = both_zero.clone();
    let o = explore(move || {
        let x = Arc::new(Atomic64::new(Obj::Named("x"), 0));
        let y = Arc::new(Atomic64::new(Obj::Named("y"), 0));
        let z = Arc::new(Atomic64::new(Obj::Named("z"), 0));
        let r: Arc<Mutex<[u64; 2]>> = Arc::default();
        let side =
            |i: usize, mine: Arc<Atomic64>, other: Arc<Atomic64>, r: Arc<Mutex<[u64; 2]>>| {
                spawn(i, move || {
                    write_once(&mine, 1);
                    if mb {
                        iommu_models::kernel::smp_mb();
                    }
                    let v = read_once(&other);
                    r.lock().unwrap()[i - 1] = v;
                })
            };
        let p1 = side(1, x.clone(), y.clone(), r.clone());
        let p2 = side(2, y, x.clone(), r.clone());
        let x3 = x.clone();
        let p3 = spawn(3, move || {
            write_once(&x3, 2);
            write_once(&z, 1);
        });
        p1.join();
        p2.join();
        p3.join();
        reached();
        if *r.lock().unwrap() == [0, 0] {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert_eq!(o.violation, None);
    (o.executions, both_zero.load(Ordering::Relaxed))
}

#[test]
fn store_buffering_without_a_barrier_reads_both_zero() {
    let (_, both_zero) = store_buffering(false);
    assert!(
        both_zero > 0,
        "loom never showed the store-buffering outcome"
    );
}

#[test]
fn store_buffering_with_smp_mb_never_reads_both_zero_with_three_threads() {
    let (execs, both_zero) = store_buffering(true);
    assert!(execs > 1);
    assert_eq!(
        both_zero, 0,
        "smp_mb let store buffering through ({execs} executions)"
    );
}
