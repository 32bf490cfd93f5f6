//! Fire/silent pairs under loom for the deferred-execution primitives: RCU
//! (include/linux/rcupdate.h), timers (timer.h), workqueues (workqueue.h) and completions
//! (completion.h). Each buggy program is caught with the violation it names; each fixed
//! twin holds (complete), reaches the racing access, and explores more than one execution.
//!
//! Agents (a timer's softirq, a kworker, RCU's callback thread) are engine threads: every
//! program stays within loom's 5 threads, main included, and joins them with
//! `agents::join_all()` as the engine does at the end of an execution.

#![allow(missing_docs)]

mod common;

use common::explore::Outcome;

use std::sync::Arc;

use iommu_models::check::Kind;
use iommu_models::kernel::agents::join_all;
use iommu_models::kernel::engine::spawn;
use iommu_models::kernel::{
    cancel_work_sync, complete, del_timer, del_timer_sync, flush_work, init_completion, kfree,
    kfree_rcu, kzalloc, mod_timer, queue_work, rcu_assign_pointer, rcu_dereference, rcu_read_lock,
    rcu_read_unlock, read_once, spin_lock, spin_unlock, synchronize_rcu, timer_setup,
    wait_for_completion, Atomic64, Gfp, KBox, Slab, SpinLock, WorkqueueStruct, INIT_WORK,
};
use iommu_models::trace::Obj;

thread_local! {
    static REACHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Mark that this execution reached the code under test (the access a free could race).
fn reached() {
    REACHED.with(|r| r.set(true));
}

/// Run `body` under loom, exhaustively, then join the agents it left; an execution counts
/// as reaching the code under test if it called [`reached`].
fn explore(body: impl Fn() + Send + Sync + 'static) -> Outcome {
    common::explore::explore(
        move || {
            REACHED.with(|x| x.set(false));
            body();
            join_all();
        },
        |_| REACHED.with(|x| x.get()),
    )
}

struct Obj1 {
    field: Atomic64,
}

fn new_object(cache: &Slab) -> KBox<Obj1> {
    kzalloc(cache, Gfp::Kernel, |obj, shadow| Obj1 {
        field: Atomic64::in_allocation(obj, 0, shadow),
    })
    .unwrap()
}

// ---------------------------------------------------------------- RCU

/// How the updater retires the object it unpublished.
#[derive(Clone, Copy)]
enum Retire {
    /// `kfree` right away: a reader may still hold it.
    Kfree,
    /// `synchronize_rcu(); kfree()`.
    Synchronize,
    /// `kfree_rcu()`: freed by the RCU agent after a grace period.
    KfreeRcu,
}

/// The reader (thread 1) dereferences `gp`, inside `rcu_read_lock` if `locked`, and reads a
/// field of what it found; the updater (thread 2) points `gp` at a second object and
/// retires the first. Reached: the reader found the first object.
fn rcu_reader_vs_updater(locked: bool, retire: Retire) -> Outcome {
    explore(move || {
        let cache = Slab::new("obj");
        let objs = Arc::new([new_object(&cache), new_object(&cache)]);
        let gp = Arc::new(Atomic64::new(Obj::Named("gp"), 0));
        let reader = {
            let (objs, gp) = (objs.clone(), gp.clone());
            spawn(1, move || {
                if locked {
                    rcu_read_lock();
                }
                let i = rcu_dereference(&gp) as usize;
                if i == 0 {
                    reached();
                }
                read_once(&objs[i].get().field);
                if locked {
                    rcu_read_unlock();
                }
            })
        };
        let updater = spawn(2, move || {
            rcu_assign_pointer(&gp, 1);
            match retire {
                Retire::Kfree => kfree(&objs[0]),
                Retire::Synchronize => {
                    synchronize_rcu();
                    kfree(&objs[0]);
                }
                Retire::KfreeRcu => kfree_rcu(&objs[0]),
            }
        });
        updater.join();
        reader.join();
    })
}

#[test]
fn rcu_free_without_grace_period_is_found() {
    rcu_reader_vs_updater(true, Retire::Kfree).fires(Kind::UseAfterFree);
}

#[test]
fn rcu_free_after_synchronize_rcu_holds() {
    rcu_reader_vs_updater(true, Retire::Synchronize).holds();
}

#[test]
fn rcu_kfree_rcu_holds() {
    rcu_reader_vs_updater(true, Retire::KfreeRcu).holds();
}

#[test]
fn rcu_reader_outside_rcu_read_lock_is_found() {
    rcu_reader_vs_updater(false, Retire::Synchronize).fires(Kind::UseAfterFree);
}

#[test]
fn rcu_reader_outside_rcu_read_lock_with_kfree_rcu_is_found() {
    rcu_reader_vs_updater(false, Retire::KfreeRcu).fires(Kind::UseAfterFree);
}

// ---------------------------------------------------------------- timers

/// A timer against teardown: the handler reads a field of the object; the main thread arms
/// the timer, then deletes it (with `del_timer_sync` if `sync`) and frees the object.
/// Reached: the handler ran.
fn timer_vs_teardown(sync: bool) -> Outcome {
    explore(move || {
        let cache = Slab::new("obj");
        let obj = new_object(&cache);
        let timer = {
            let obj = obj.clone();
            timer_setup("obj->timer", move || {
                reached();
                read_once(&obj.get().field);
            })
        };
        mod_timer(&timer, 1);
        if sync {
            del_timer_sync(&timer);
        } else {
            del_timer(&timer);
        }
        kfree(&obj);
    })
}

#[test]
fn timer_teardown_after_del_timer_is_found() {
    timer_vs_teardown(false).fires(Kind::UseAfterFree);
}

#[test]
fn timer_teardown_after_del_timer_sync_holds() {
    timer_vs_teardown(true).holds();
}

/// The handler takes `obj->lock`; the main thread arms the timer and calls
/// `del_timer_sync`, holding that lock if `under_lock`. Reached: the handler took the lock.
fn del_timer_sync_vs_lock(under_lock: bool) -> Outcome {
    explore(move || {
        let lock = Arc::new(SpinLock::new("obj->lock"));
        let timer = {
            let lock = lock.clone();
            timer_setup("obj->timer", move || {
                let g = spin_lock(&lock);
                reached();
                spin_unlock(g);
            })
        };
        mod_timer(&timer, 1);
        let g = spin_lock(&lock);
        if under_lock {
            del_timer_sync(&timer);
            spin_unlock(g);
        } else {
            spin_unlock(g);
            del_timer_sync(&timer);
        }
    })
}

#[test]
fn del_timer_sync_under_the_handlers_lock_is_found() {
    del_timer_sync_vs_lock(true).fires(Kind::LockOrder);
}

#[test]
fn del_timer_sync_outside_the_handlers_lock_holds() {
    del_timer_sync_vs_lock(false).holds();
}

// ---------------------------------------------------------------- workqueues

/// How the owner stops the work before freeing the object it uses.
#[derive(Clone, Copy)]
enum Stop {
    Nothing,
    Cancel,
    Flush,
}

/// The work reads a field of the object; the main thread queues it, stops it as `stop`
/// says, and frees the object. Reached: the work ran.
fn work_vs_free(stop: Stop) -> Outcome {
    explore(move || {
        let cache = Slab::new("obj");
        let obj = new_object(&cache);
        let wq = WorkqueueStruct::new("events");
        let work = {
            let obj = obj.clone();
            INIT_WORK("obj->work", move || {
                reached();
                read_once(&obj.get().field);
            })
        };
        assert!(queue_work(&wq, &work));
        match stop {
            Stop::Nothing => {}
            Stop::Cancel => {
                cancel_work_sync(&work);
            }
            Stop::Flush => {
                flush_work(&work);
            }
        }
        kfree(&obj);
    })
}

#[test]
fn free_after_queue_work_is_found() {
    work_vs_free(Stop::Nothing).fires(Kind::UseAfterFree);
}

#[test]
fn free_after_cancel_work_sync_holds() {
    work_vs_free(Stop::Cancel).holds();
}

#[test]
fn free_after_flush_work_holds() {
    work_vs_free(Stop::Flush).holds();
}

// ---------------------------------------------------------------- completions

/// Thread 1 waits for `done` (under `obj->lock` if `locked`); thread 2 completes it if
/// `completed`. Reached: the wait returned.
fn waiter(completed: bool, locked: bool) -> Outcome {
    explore(move || {
        let done = Arc::new(init_completion("done"));
        let lock = Arc::new(SpinLock::new("obj->lock"));
        let w = {
            let done = done.clone();
            spawn(1, move || {
                let g = locked.then(|| spin_lock(&lock));
                wait_for_completion(&done);
                reached();
                if let Some(g) = g {
                    spin_unlock(g);
                }
            })
        };
        let c = spawn(2, move || {
            if completed {
                complete(&done);
            }
        });
        c.join();
        w.join();
    })
}

#[test]
fn completed_wait_holds() {
    waiter(true, false).holds();
}

#[test]
fn wait_that_nothing_completes_is_a_deadlock() {
    waiter(false, false).fires(Kind::Deadlock);
}

#[test]
fn wait_for_completion_under_a_spinlock_is_found() {
    waiter(true, true).fires(Kind::SleepInAtomic);
}

#[test]
fn queue_work_twice_returns_false_while_pending() {
    // Sequential (Std engine): the second queueing finds the work pending, unless the
    // kworker already took it; after a flush, it can be queued again.
    let run = common::run_std(|| {
        let wq = WorkqueueStruct::new("events");
        let work = INIT_WORK("w", || {});
        let first = queue_work(&wq, &work);
        flush_work(&work);
        let again = queue_work(&wq, &work);
        cancel_work_sync(&work);
        join_all();
        (first, again)
    });
    assert_eq!(run.silent(), (true, true));
}

#[test]
fn zz_print() {
    for (n, o) in [
        ("rcu kfree", rcu_reader_vs_updater(true, Retire::Kfree)),
        ("rcu sync", rcu_reader_vs_updater(true, Retire::Synchronize)),
        (
            "rcu kfree_rcu",
            rcu_reader_vs_updater(true, Retire::KfreeRcu),
        ),
        (
            "rcu nolock sync",
            rcu_reader_vs_updater(false, Retire::Synchronize),
        ),
        (
            "rcu nolock kfree_rcu",
            rcu_reader_vs_updater(false, Retire::KfreeRcu),
        ),
        ("timer del", timer_vs_teardown(false)),
        ("timer del_sync", timer_vs_teardown(true)),
        ("timer lock", del_timer_sync_vs_lock(true)),
        ("timer nolock", del_timer_sync_vs_lock(false)),
        ("work none", work_vs_free(Stop::Nothing)),
        ("work cancel", work_vs_free(Stop::Cancel)),
        ("work flush", work_vs_free(Stop::Flush)),
        ("wait ok", waiter(true, false)),
        ("wait never", waiter(false, false)),
        ("wait locked", waiter(true, true)),
    ] {
        eprintln!("{n}: {o:?}");
    }
}
