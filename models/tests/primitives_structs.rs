//! `list_head`, the xarray and the MMIO accessors: a loom fire/silent pair for each race
//! they check (as models/tests/soundness.rs), and sequential tests of their API and of the
//! checks no race is needed for.
//!
//! A twin counts as reaching its code if the trace has the step the test names (a walk
//! visiting the entry a free races, a use of a loaded entry, a device fetching its
//! descriptor ...). Loom threads per execution: main plus two (a device is one of the two).

#![allow(missing_docs)]

mod common;

use std::sync::Arc;

use common::explore::{explore, Outcome};
use common::run_std;

use iommu_models::check::{ensure, Kind};
use iommu_models::engine::spawn;
use iommu_models::kernel::{
    atomic64_add_return, dma_read, dma_write, kfree, kref_get, kref_init, kref_put, kzalloc,
    list_add, list_add_rcu, list_add_tail, list_del, list_del_init, list_del_rcu, list_empty,
    list_entry_is_linked, list_first_entry_or_null, list_for_each_entry, list_for_each_entry_rcu,
    read_once, readl, readl_relaxed, spin_lock, spin_unlock, write_once, writel, writel_relaxed,
    xa_destroy, xa_erase, xa_for_each, xa_init, xa_insert, xa_load, xa_lock, xa_store, xa_unlock,
    Atomic64, Errno, Gfp, IoMem, KBox, Kref, List, ListEntry, ListHead, Slab, SpinLock, XArray,
};
use iommu_models::trace::{step, Obj, Op, Recorder};

/// An object that sits on a list or in an xarray: a `list_head`, a refcount, a value.
struct Item {
    node: ListHead,
    kref: Kref,
    val: Atomic64,
}

impl ListEntry for Item {
    fn list_head(&self) -> &ListHead {
        &self.node
    }
}

fn new_item(cache: &Slab, v: u64) -> KBox<Item> {
    kzalloc(cache, Gfp::Kernel, |obj, shadow| Item {
        node: ListHead::new(obj, shadow.clone()),
        kref: kref_init(obj.field("kref"), shadow.clone()),
        val: Atomic64::in_allocation(obj.field("val"), v, shadow),
    })
    .unwrap()
}

/// Drop a reference to `e`, freeing it with the last.
fn put(e: &KBox<Item>) {
    kref_put(&e.get().kref, || kfree(e));
}

/// Explore `body` under loom; an execution reaches the code under test if its trace has
/// the step `label`.
fn explore_to(label: &'static str, body: impl Fn() + Send + Sync + 'static) -> Outcome {
    explore(body, move |r: &Recorder| {
        r.with_events(|ev| ev.iter().any(|e| e.op == Op::Step(label.into())))
    })
}

/// Spawn thread 1 running `a` and thread 2 running `b`, and join them.
fn both(a: impl FnOnce() + Send + 'static, b: impl FnOnce() + Send + 'static) {
    let ha = spawn(1, a);
    let hb = spawn(2, b);
    ha.join();
    hb.join();
}

/// A list protected by `lock`, with items 1 and 2 on it (in that order).
fn two_item_list(cache: &Slab, lock: &Arc<SpinLock>) -> (Arc<List<Item>>, KBox<Item>) {
    let list = Arc::new(List::protected_by("items", lock.clone()));
    let (a, b) = (new_item(cache, 1), new_item(cache, 2));
    let g = spin_lock(lock);
    list_add_tail(&a, &list);
    list_add_tail(&b, &list);
    spin_unlock(g);
    (list, a)
}

// ------------------------------------------------ list: a walk through a freed entry

/// Thread 1 walks the list, touching nothing but the list; thread 2 unlinks item 1 under
/// the lock and frees it. Racy: the walk is lockless (`list_for_each_entry_rcu`) and the
/// deleter frees right after `list_del_rcu`, with no grace period between. Fixed: the walk
/// holds the lock, so it finds item 1 linked and live, or not at all.
fn walk_vs_free(racy: bool) -> Outcome {
    explore_to("walk item 1", move || {
        let cache = Slab::new("item");
        let lock = Arc::new(SpinLock::new("items_lock"));
        let (list, a) = two_item_list(&cache, &lock);
        let (l1, lk1, a1) = (list.clone(), lock.clone(), a.clone());
        both(
            move || {
                let g = (!racy).then(|| spin_lock(&lk1));
                let walk: Box<dyn Iterator<Item = KBox<Item>>> = if racy {
                    Box::new(list_for_each_entry_rcu(&l1))
                } else {
                    Box::new(list_for_each_entry(&l1))
                };
                for e in walk {
                    if e.same(&a1) {
                        step("walk item 1");
                    }
                }
                if let Some(g) = g {
                    spin_unlock(g);
                }
            },
            move || {
                let g = spin_lock(&lock);
                if racy {
                    list_del_rcu(&a, &list);
                } else {
                    list_del(&a, &list);
                }
                spin_unlock(g);
                kfree(&a);
            },
        );
    })
}

#[test]
fn list_walk_through_a_freed_entry_is_found() {
    walk_vs_free(true).fires(Kind::UseAfterFree);
}

#[test]
fn list_walk_under_the_lock_holds() {
    walk_vs_free(false).holds();
}

// ------------------------------------------------ list: list_del of a deleted entry

/// Two threads each remove item 1 if it is still on the list, as `on_list` says. Racy: the
/// flag is tested before the lock is taken, so both can find it set and both `list_del`:
/// the second finds `LIST_POISON1` in the entry. Fixed: the test is under the lock.
fn double_del(racy: bool) -> Outcome {
    explore_to("list_del item 1", move || {
        let cache = Slab::new("item");
        let lock = Arc::new(SpinLock::new("items_lock"));
        let (list, a) = two_item_list(&cache, &lock);
        let on_list = Arc::new(Atomic64::new(Obj::Named("on_list"), 1));
        let remover = move || {
            if racy && read_once(&on_list) == 0 {
                return;
            }
            let g = spin_lock(&lock);
            if racy || read_once(&on_list) == 1 {
                step("list_del item 1");
                list_del(&a, &list);
                write_once(&on_list, 0);
            }
            spin_unlock(g);
        };
        both(remover.clone(), remover);
    })
}

#[test]
fn list_del_of_a_deleted_entry_is_found() {
    double_del(true).fires(Kind::ListCorruption);
}

#[test]
fn list_del_decided_under_the_lock_holds() {
    double_del(false).holds();
}

// ------------------------------------------------ list: publishing to a lockless walker

/// Thread 1 adds item 1 under the lock; thread 2 walks the list locklessly (spawned second:
/// see `loom_tries_a_load_before_another_threads_load_then_store`). Racy: with
/// `list_add`, whose publishing store is a plain `WRITE_ONCE`, the walker can reach item 1
/// and read its `next` before `list_add` set it (NULL from kzalloc). Fixed: `list_add_rcu`
/// publishes with `rcu_assign_pointer`.
fn publish(racy: bool) -> Outcome {
    explore_to("walk item 1", move || {
        let cache = Slab::new("item");
        let lock = Arc::new(SpinLock::new("items_lock"));
        let list = Arc::new(List::protected_by("items", lock.clone()));
        let a = new_item(&cache, 1);
        let l2 = list.clone();
        both(
            move || {
                let g = spin_lock(&lock);
                if racy {
                    list_add(&a, &list);
                } else {
                    list_add_rcu(&a, &list);
                }
                spin_unlock(g);
            },
            move || {
                for _ in list_for_each_entry_rcu(&l2) {
                    step("walk item 1");
                }
            },
        );
    })
}

#[test]
fn list_add_seen_by_a_lockless_walker_is_found() {
    publish(true).fires(Kind::UninitializedRead);
}

#[test]
fn list_add_rcu_seen_by_a_lockless_walker_holds() {
    publish(false).holds();
}

// ------------------------------------------------ list: sequential API and checks

#[test]
fn list_api_keeps_the_kernel_order() {
    run_std(|| {
        let cache = Slab::new("item");
        let lock = Arc::new(SpinLock::new("items_lock"));
        let list = List::protected_by("items", lock.clone());
        let items: Vec<_> = (1..=3).map(|v| new_item(&cache, v)).collect();
        let g = spin_lock(&lock);
        assert!(list_empty(&list));
        assert!(list_first_entry_or_null(&list).is_none());
        list_add(&items[1], &list);
        list_add_tail(&items[2], &list);
        list_add(&items[0], &list);
        let vals = |l: &List<Item>| -> Vec<u64> {
            list_for_each_entry(l)
                .map(|e| read_once(&e.get().val))
                .collect()
        };
        assert_eq!(vals(&list), [1, 2, 3]);
        assert!(list_entry_is_linked(&items[1]));
        list_del_init(&items[1], &list);
        assert!(!list_entry_is_linked(&items[1]));
        assert_eq!(vals(&list), [1, 3]);
        list_add_tail(&items[1], &list);
        assert_eq!(vals(&list), [1, 3, 2]);
        list_del(&items[0], &list);
        let first = list_first_entry_or_null(&list).unwrap();
        assert!(first.same(&items[2]));
        assert!(!list_empty(&list));
        spin_unlock(g);
    })
    .silent();
}

/// An unprotected list `items` and an item not on it (with its cache).
fn unlocked_list_and_item() -> (Slab, List<Item>, KBox<Item>) {
    let cache = Slab::new("item");
    let a = new_item(&cache, 1);
    (cache, List::new("items"), a)
}

#[test]
fn list_del_of_an_entry_never_added_is_corruption() {
    let run = run_std(|| {
        let (_cache, list, a) = unlocked_list_and_item();
        list_del(&a, &list);
    });
    run.fires(
        Kind::ListCorruption,
        &["list_del corruption on items", "item 0->next is NULL"],
    );
}

#[test]
fn list_del_twice_names_the_poison() {
    let run = run_std(|| {
        let (_cache, list, a) = unlocked_list_and_item();
        list_add(&a, &list);
        list_del(&a, &list);
        list_del(&a, &list);
    });
    run.fires(Kind::ListCorruption, &["item 0->next is LIST_POISON1"]);
}

#[test]
fn a_walk_standing_on_an_entry_list_del_poisons_follows_list_poison1() {
    let run = run_std(|| {
        let (_cache, list, a) = unlocked_list_and_item();
        list_add(&a, &list);
        let mut walk = list_for_each_entry_rcu(&list);
        assert!(walk.next().unwrap().same(&a));
        list_del(&a, &list);
        walk.next().is_none()
    });
    run.fires(
        Kind::ListCorruption,
        &["a walk of items followed LIST_POISON1"],
    );
}

#[test]
fn list_add_twice_is_corruption() {
    let run = run_std(|| {
        let (_cache, list, a) = unlocked_list_and_item();
        list_add(&a, &list);
        list_add(&a, &list);
    });
    run.fires(Kind::ListCorruption, &["list_add corruption on items"]);
}

#[test]
fn list_add_without_its_lock_is_lock_not_held() {
    let run = run_std(|| {
        let cache = Slab::new("item");
        let lock = Arc::new(SpinLock::new("items_lock"));
        let list = List::protected_by("items", lock);
        list_add(&new_item(&cache, 1), &list);
    });
    run.fires(Kind::LockNotHeld, &["items_lock"]);
}

// ------------------------------------------------ xarray: use of a loaded entry

/// Entry 1 holds an item with one reference (the array's). Thread 1 loads it and reads its
/// value; thread 2 erases it and drops the array's reference, freeing it. Racy: a plain
/// `xa_load`, no reference taken. Fixed: the load and a `kref_get` under `xa_lock`, the use
/// after, then the reader's own put.
fn load_vs_erase(racy: bool) -> Outcome {
    explore_to("use entry 1", move || {
        let cache = Slab::new("item");
        let xa: Arc<XArray<Item>> = Arc::new(xa_init("items_xa"));
        xa_store(&xa, 1, &new_item(&cache, 7), Gfp::Kernel).unwrap();
        let x1 = xa.clone();
        both(
            move || {
                let e = if racy {
                    xa_load(&x1, 1)
                } else {
                    let g = xa_lock(&x1);
                    let e = xa_load(&x1, 1);
                    if let Some(e) = &e {
                        kref_get(&e.get().kref);
                    }
                    xa_unlock(g);
                    e
                };
                if let Some(e) = e {
                    step("use entry 1");
                    read_once(&e.get().val);
                    if !racy {
                        put(&e);
                    }
                }
            },
            move || {
                if let Some(e) = xa_erase(&xa, 1) {
                    put(&e);
                }
            },
        );
    })
}

#[test]
fn xa_load_then_use_racing_erase_is_found() {
    load_vs_erase(true).fires(Kind::UseAfterFree);
}

#[test]
fn xa_load_with_a_reference_under_xa_lock_holds() {
    load_vs_erase(false).holds();
}

// ------------------------------------------------ xarray: two inserts at one index

/// Threads 1 and 2 each put their own item at index 2 if it is free, counting successes.
/// Racy: `xa_load` then `xa_store`, so both can find it free. Fixed: `xa_insert`, which
/// tests under `xa_lock` and says -EBUSY. Two successes are `duplicate-binding`.
fn two_inserts(racy: bool) -> Outcome {
    explore_to("inserted", move || {
        let cache = Slab::new("item");
        let xa: Arc<XArray<Item>> = Arc::new(xa_init("items_xa"));
        let won = Arc::new(Atomic64::new(Obj::Named("inserted"), 0));
        let insert = |mine: KBox<Item>| {
            let (xa, won) = (xa.clone(), won.clone());
            move || {
                let ok = if racy {
                    xa_load(&xa, 2).is_none() && xa_store(&xa, 2, &mine, Gfp::Kernel).is_ok()
                } else {
                    match xa_insert(&xa, 2, &mine, Gfp::Kernel) {
                        Ok(()) => true,
                        Err(e) => {
                            assert_eq!(e, Errno::EBUSY);
                            false
                        }
                    }
                };
                if ok {
                    step("inserted");
                    atomic64_add_return(1, &won);
                }
            }
        };
        both(insert(new_item(&cache, 1)), insert(new_item(&cache, 2)));
        let n = read_once(&won);
        ensure(n == 1, Kind::DuplicateBinding, || {
            format!("{n} threads inserted an entry at index 2")
        });
    })
}

#[test]
fn xa_load_then_store_at_one_index_is_found() {
    two_inserts(true).fires(Kind::DuplicateBinding);
}

#[test]
fn xa_insert_at_one_index_holds() {
    two_inserts(false).holds();
}

// ------------------------------------------------ xarray: sequential API and checks

#[test]
fn xa_api_keeps_its_entries() {
    run_std(|| {
        let cache = Slab::new("item");
        let xa: XArray<Item> = xa_init("items_xa");
        let (a, b) = (new_item(&cache, 1), new_item(&cache, 2));
        assert!(xa_load(&xa, 0).is_none());
        assert!(xa_erase(&xa, 0).is_none());
        assert!(xa_store(&xa, 3, &a, Gfp::Kernel).unwrap().is_none());
        assert_eq!(xa_insert(&xa, 3, &b, Gfp::Kernel), Err(Errno::EBUSY));
        assert_eq!(xa_insert(&xa, 5, &b, Gfp::Kernel), Ok(()));
        assert_eq!(xa_insert(&xa, 99, &b, Gfp::Kernel), Err(Errno::EINVAL));
        assert_eq!(
            xa_store(&xa, 99, &b, Gfp::Kernel).err(),
            Some(Errno::EINVAL)
        );
        assert!(xa_load(&xa, 99).is_none());
        assert!(xa_erase(&xa, 99).is_none());
        let seen: Vec<_> = xa_for_each(&xa)
            .map(|(i, e)| (i, read_once(&e.get().val)))
            .collect();
        assert_eq!(seen, [(3, 1), (5, 2)]);
        let old = xa_store(&xa, 3, &b, Gfp::Kernel).unwrap().unwrap();
        assert!(old.same(&a));
        assert!(xa_erase(&xa, 3).unwrap().same(&b));
        assert!(xa_load(&xa, 3).is_none());
        xa_destroy(&xa);
        assert!(xa_load(&xa, 5).is_none());
    })
    .silent();
}

#[test]
fn xa_destroy_empties_the_array() {
    run_std(|| {
        let cache = Slab::new("item");
        let xa: XArray<Item> = xa_init("items_xa");
        xa_store(&xa, 1, &new_item(&cache, 1), Gfp::Kernel).unwrap();
        let mut walk = xa_for_each(&xa);
        xa_destroy(&xa);
        assert!(
            walk.next().is_none(),
            "a walk after xa_destroy finds nothing"
        );
        assert!(xa_load(&xa, 1).is_none());
        xa_destroy(&xa);
    })
    .silent();
}

#[test]
fn xa_store_with_gfp_kernel_under_a_spinlock_sleeps_in_atomic() {
    let run = run_std(|| {
        let cache = Slab::new("item");
        let xa: XArray<Item> = xa_init("items_xa");
        let a = new_item(&cache, 1);
        let lock = SpinLock::new("outer_lock");
        let g = spin_lock(&lock);
        let _ = xa_store(&xa, 1, &a, Gfp::Kernel);
        spin_unlock(g);
    });
    run.fires(Kind::SleepInAtomic, &["xa_store(GFP_KERNEL)"]);
}

// ------------------------------------------------ MMIO: the doorbell and the descriptor

const DOORBELL: usize = 0;
const STATUS: usize = 1;

/// Thread 1 (CPU) writes a descriptor to memory and rings the device's doorbell; thread 2
/// (the device) fetches the descriptor by DMA once it sees the doorbell, and finds it
/// valid (non-zero) or reports it. Racy: `writel_relaxed`. Fixed: `writel`.
fn doorbell(racy: bool) -> Outcome {
    explore_to("device fetches the descriptor", move || {
        let regs = Arc::new(IoMem::new("dev_regs", 2));
        let desc = Arc::new(Atomic64::new(Obj::Named("descriptor"), 0));
        let (r1, d1) = (regs.clone(), desc.clone());
        both(
            move || {
                write_once(&d1, 0x1000 | 1);
                if racy {
                    writel_relaxed(1, &r1, DOORBELL);
                } else {
                    writel(1, &r1, DOORBELL);
                }
            },
            move || {
                if regs.device_read(DOORBELL) == 1 {
                    step("device fetches the descriptor");
                    let d = dma_read(&desc);
                    ensure(d != 0, Kind::UninitializedRead, || {
                        "the device saw the doorbell but fetched a descriptor the CPU had not                          yet written, as far as the device could see"
                            .into()
                    });
                }
            },
        );
    })
}

#[test]
fn writel_relaxed_doorbell_lets_the_device_read_a_stale_descriptor() {
    doorbell(true).fires(Kind::UninitializedRead);
}

#[test]
fn writel_doorbell_orders_the_descriptor_before_it() {
    doorbell(false).holds();
}

// ------------------------------------------------ MMIO: the status and the DMA data

/// Thread 2 (the device) DMA-writes a buffer, then sets its status register; thread 1 (CPU)
/// reads the status and, if done, reads the buffer. Racy: `readl_relaxed`. Fixed: `readl`.
fn status(racy: bool) -> Outcome {
    explore_to("CPU reads the buffer", move || {
        let regs = Arc::new(IoMem::new("dev_regs", 2));
        let buf = Arc::new(Atomic64::new(Obj::Named("dma_buf"), 0));
        let (r1, b1) = (regs.clone(), buf.clone());
        both(
            move || {
                let done = if racy {
                    readl_relaxed(&r1, STATUS)
                } else {
                    readl(&r1, STATUS)
                };
                if done == 1 {
                    step("CPU reads the buffer");
                    let v = read_once(&b1);
                    ensure(v != 0, Kind::UninitializedRead, || {
                        "the status said done but the CPU read the buffer before the                          device's DMA write"
                            .into()
                    });
                }
            },
            move || {
                dma_write(&buf, 0x5a);
                regs.device_write(STATUS, 1);
            },
        );
    })
}

#[test]
fn readl_relaxed_status_lets_the_cpu_read_stale_dma_data() {
    status(true).fires(Kind::UninitializedRead);
}

#[test]
fn readl_status_orders_the_dma_data_after_it() {
    status(false).holds();
}

#[test]
fn a_register_outside_the_region_is_refused() {
    let run = run_std(|| {
        let regs = IoMem::new("dev_regs", 2);
        readl(&regs, 2)
    });
    run.fires(Kind::Invariant, &["register 2 is outside dev_regs"]);
}

// ------------------------------------------------ loom: a race its DPOR does not try

/// Thread 1 reads `x`; thread 2 reads `x`, then writes it. Thread 1 reading the write is a
/// legal execution, and published loom 0.7.2 never tries it: its DPOR compares a thread's
/// next access with the cell's last access only, and when thread 2 stores, the last access
/// is its own load, so thread 1's earlier load is never put after the store
/// (tokio-rs/loom#392 reports the same miss). vendor/loom carries the fix (PATCHES.md: a
/// store backtracks against every load since the last store); this test pins it. `list_add`
/// is such a writer (it reads `head->next`, then writes it), and so is every unmap that
/// reads a PTE before clearing it.
#[test]
fn loom_tries_a_load_before_another_threads_load_then_store() {
    let o = explore_to("saw the store", || {
        let x = Arc::new(Atomic64::new(Obj::Named("x"), 0));
        let x1 = x.clone();
        both(
            move || {
                if read_once(&x1) == 1 {
                    step("saw the store");
                }
            },
            move || {
                read_once(&x);
                write_once(&x, 1);
            },
        );
    });
    assert!(o.reached > 0, "{o:?}");
}
