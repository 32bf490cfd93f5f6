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

use common::explore::{explore_reaching as explore, new_object, reached, Outcome};

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use iommu_models::check::Kind;
use iommu_models::engine::spawn;
use iommu_models::engine::{leave, Engine};
use iommu_models::kernel::agents::join_all;
use iommu_models::kernel::{
    atomic64_add_return, cancel_work_sync, complete, del_timer, del_timer_sync, flush_work,
    init_completion, kfree, kfree_rcu, kzalloc, mod_timer, queue_work, rcu_assign_pointer,
    rcu_dereference, rcu_read_lock, rcu_read_unlock, read_once, spin_lock, spin_unlock,
    synchronize_rcu, timer_setup, wait_for_completion, Atomic64, Gfp, Slab, SpinLock, TimerList,
    WorkStruct, WorkqueueStruct, INIT_WORK,
};
use iommu_models::trace::{Obj, Recorder};

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
/// Lockdep's order graph reports it (`lock-order`) before loom reaches an execution that
/// deadlocks; without the timer's lockdep class, that `deadlock` is what loom reports.
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

// ---------------------------------------------------------------- self-arming

/// A timer (or a work item) whose function arms it again: a watchdog or polling timer, a
/// work that requeues itself.
enum Item {
    Timer(TimerList),
    Work(WorkqueueStruct, WorkStruct),
}

impl Item {
    fn arm(&self) {
        match self {
            Item::Timer(t) => {
                mod_timer(t, 1);
            }
            Item::Work(wq, w) => {
                queue_work(wq, w);
            }
        }
    }

    /// Stop it before the free: a timer with `del_timer_sync` (`Stop::Cancel`) or, else,
    /// `del_timer`; a work as `stop` says.
    fn stop(&self, stop: Stop) {
        match (self, stop) {
            (Item::Timer(t), Stop::Cancel) => {
                del_timer_sync(t);
            }
            (Item::Timer(t), _) => {
                del_timer(t);
            }
            (Item::Work(_, w), Stop::Cancel) => {
                cancel_work_sync(w);
            }
            (Item::Work(_, w), Stop::Flush) => {
                flush_work(w);
            }
            (Item::Work(..), Stop::Nothing) => {}
        }
    }
}

/// The function reads a field of the object and, on its first run only, arms its own
/// timer (queues its own work) again; the main thread arms it, stops it as `stop` says and
/// frees the object. The kernel's `del_timer_sync` and `cancel_work_sync` leave it neither
/// pending nor running even so; `flush_work` waits for the queueing made before it only.
/// Reached: the function armed itself again.
fn self_arming(timer: bool, stop: Stop) -> Outcome {
    explore(move || {
        let cache = Slab::new("obj");
        let obj = new_object(&cache);
        let runs = Atomic64::new(Obj::Named("runs"), 0);
        // The function finds its own item here, as `from_timer`/`container_of` would.
        let me: Arc<Mutex<Option<Arc<Item>>>> = Arc::default();
        let f = {
            let (obj, me) = (obj.clone(), me.clone());
            move || {
                read_once(&obj.get().field);
                if atomic64_add_return(1, &runs) == 1 {
                    let item = me.lock().unwrap().clone().unwrap();
                    item.arm();
                    reached();
                }
            }
        };
        let item = Arc::new(if timer {
            Item::Timer(timer_setup("obj->timer", f))
        } else {
            Item::Work(WorkqueueStruct::new("events"), INIT_WORK("obj->work", f))
        });
        *me.lock().unwrap() = Some(item.clone());
        item.arm();
        item.stop(stop);
        kfree(&obj);
        // Agents first, then the cycle item -> function -> item.
        join_all();
        me.lock().unwrap().take();
    })
}

#[test]
fn self_arming_timer_after_del_timer_is_found() {
    self_arming(true, Stop::Nothing).fires(Kind::UseAfterFree);
}

#[test]
fn self_arming_timer_after_del_timer_sync_holds() {
    self_arming(true, Stop::Cancel).holds();
}

#[test]
fn self_queueing_work_without_cancel_is_found() {
    self_arming(false, Stop::Nothing).fires(Kind::UseAfterFree);
}

/// The kernel's `flush_work` waits for the instance queued before it, not for the one that
/// instance queued: the free races that one.
#[test]
fn self_queueing_work_after_flush_work_is_found() {
    self_arming(false, Stop::Flush).fires(Kind::UseAfterFree);
}

#[test]
fn self_queueing_work_after_cancel_work_sync_holds() {
    self_arming(false, Stop::Cancel).holds();
}

/// `del_timer` is true if it disarmed a timer whose handler had not started, false if the
/// handler ran or is running; `del_timer_sync` likewise, and after it the handler is done.
/// Checked in every execution. Reached: the handler was running when `del_timer` returned.
#[test]
fn del_timer_returns_whether_the_handler_was_stopped() {
    explore(|| {
        let started = Arc::new(Atomic64::new(Obj::Named("started"), 0));
        let done = Arc::new(Atomic64::new(Obj::Named("done"), 0));
        let t = {
            let (started, done) = (started.clone(), done.clone());
            timer_setup("obj->timer", move || {
                atomic64_add_return(1, &started);
                atomic64_add_return(1, &done);
            })
        };
        mod_timer(&t, 1);
        let was = del_timer(&t);
        if !was && done.load(Relaxed) == 0 && started.load(Relaxed) == 1 {
            reached();
        }
        let was_sync = del_timer_sync(&t);
        assert!(!was_sync, "del_timer left nothing pending");
        assert_eq!(
            done.load(Relaxed),
            started.load(Relaxed),
            "del_timer_sync returned early"
        );
        join_all();
        assert_eq!(started.load(Relaxed), u64::from(!was), "del_timer: {was}");
    })
    .holds();
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

/// A wait nothing completes ends the execution as loom's deadlock, and the recorder says
/// who waits for what (the engines' deadlock message lists it, as for locks).
#[test]
fn a_deadlocked_wait_names_the_completion() {
    let rec = Arc::new(Recorder::default());
    let r = rec.clone();
    let mut b = loom::model::Builder::new();
    b.preemption_bound = None;
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        b.check(move || {
            r.reset();
            iommu_models::trace::enter(Engine::Loom, r.clone());
            let done = init_completion("dev->probe_done");
            wait_for_completion(&done);
            leave();
        })
    }));
    let msg = failed.expect_err("a wait for nothing returned");
    let msg = msg
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("deadlock"), "{msg}");
    let blocked = rec.blocked();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(
        (blocked[0].0, blocked[0].1.name, blocked[0].1.how),
        (0, "dev->probe_done", "wait_for_completion")
    );
}

// ---------------------------------------------------------------- handler context

/// The deferred function allocates with GFP_KERNEL (it may sleep): in a timer handler
/// (softirq, atomic) that is `sleep-in-atomic`; in a work function (process context) it is
/// fine. The main thread arms it and then deletes or flushes it. Reached: the function ran.
fn deferred_allocates(in_timer: bool) -> Outcome {
    explore(move || {
        let cache = Arc::new(Slab::new("buf"));
        let f = move || {
            reached();
            let b = kzalloc(&cache, Gfp::Kernel, |_, _| ()).unwrap();
            kfree(&b);
        };
        if in_timer {
            let t = timer_setup("dev->timer", f);
            mod_timer(&t, 1);
            del_timer_sync(&t);
        } else {
            let wq = WorkqueueStruct::new("events");
            let w = INIT_WORK("dev->work", f);
            queue_work(&wq, &w);
            flush_work(&w);
        }
    })
}

#[test]
fn gfp_kernel_in_a_timer_handler_is_found() {
    deferred_allocates(true).fires(Kind::SleepInAtomic);
}

#[test]
fn gfp_kernel_in_a_work_function_holds() {
    deferred_allocates(false).holds();
}

/// Agents are named for reports after what they run, and the handler's events are theirs.
#[test]
fn agents_are_named() {
    let run = common::run_std(|| {
        let t = timer_setup("dev->timer", || iommu_models::trace::step("handler"));
        mod_timer(&t, 1);
        join_all();
    });
    let rec = run.rec.clone();
    run.silent();
    assert_eq!(rec.thread_name(1), "softirq: dev->timer");
    assert!(rec.with_events(|ev| ev
        .iter()
        .any(|e| e.thread == 1 && e.op == iommu_models::trace::Op::Step("handler".into()))));
}

/// The shuttle engine runs the same primitives (its own blocking and thread numbering).
#[test]
fn shuttle_runs_the_deferred_primitives() {
    shuttle::check_random(
        || {
            iommu_models::trace::enter(Engine::Shuttle, Arc::new(Recorder::default()));
            let cache = Slab::new("obj");
            let obj = new_object(&cache);
            let o = obj.clone();
            let t = timer_setup("obj->timer", move || {
                read_once(&o.get().field);
            });
            mod_timer(&t, 1);
            rcu_read_lock();
            rcu_read_unlock();
            synchronize_rcu();
            del_timer_sync(&t);
            kfree_rcu(&obj);
            join_all();
            leave();
        },
        50,
    );
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
