//! Lockdep beyond plain lock order: read-write locks (`rwlock_t`, `rw_semaphore`), IRQ
//! usage (inconsistent lock state, irq lock inversion) and wait types (PREEMPT_RT's invalid
//! wait context), with the kernel config an execution runs under.
//!
//! 1. Fire/silent pairs under loom, each explored exhaustively: the buggy program is caught
//!    with its violation kind, and its twin holds (complete), reaches the code in question
//!    and explores more than one execution. Interrupts are agent threads
//!    (`spawn_hardirq`); no pair uses more than 3 of loom's 5 threads.
//! 2. Sequential checks of the messages (lockdep's words) and of the single-thread rules,
//!    under the Std engine.

#![allow(missing_docs)]

mod common;

use std::sync::Arc;

use common::explore::{explore, Outcome};
use common::{run_in, run_std};

use iommu_models::check::Kind;
use iommu_models::engine::{spawn, JoinHandle};
use iommu_models::kernel::{
    down_read, down_read_trylock, down_write, hardirq, irqs_disabled, kzalloc, local_irq_disable,
    local_irq_enable, local_irq_restore, local_irq_save, raw_spin_lock, raw_spin_lock_irqsave,
    raw_spin_unlock, raw_spin_unlock_irqrestore, read_lock, read_lock_irq, read_unlock,
    read_unlock_irq, set_config, spawn_hardirq, spin_lock, spin_lock_irq, spin_lock_irqsave,
    spin_unlock, spin_unlock_irq, spin_unlock_irqrestore, up_read, up_write, write_lock,
    write_lock_irq, write_unlock, write_unlock_irq, Config, Gfp, RwLock, RwSemaphore, Slab,
    SpinLock,
};
use iommu_models::trace::{step, Op, Recorder};

/// The step a program records where it reaches the code under test.
const REACHED: &str = "reached";

/// Explore `body` under loom; an execution reaches the code under test if it recorded the
/// step [`REACHED`].
fn run(body: impl Fn() + Send + Sync + 'static) -> Outcome {
    explore(body, |r: &Recorder| {
        r.with_events(|e| {
            e.iter()
                .any(|e| matches!(&e.op, Op::Step(s) if s == REACHED))
        })
    })
}

/// Join every thread.
fn join(t: Vec<JoinHandle>) {
    for h in t {
        h.join();
    }
}

const RT: Config = Config {
    preempt_rt: true,
    prove_raw_lock_nesting: false,
};

/// PREEMPT_RT with lockdep's wait types (PROVE_RAW_LOCK_NESTING), as a lockdep kernel on
/// an architecture that supports PREEMPT_RT has it since v6.13.
const RT_PROVE: Config = Config {
    preempt_rt: true,
    prove_raw_lock_nesting: true,
};

// ---------------------------------------------------------------- rw_semaphore recursion

/// Thread 1 takes `sem` for reading twice: nested (a second `down_read` inside the first)
/// or, fixed, one after the other; thread 2 takes it for writing. The engines never hold a
/// reader back for a queued writer, so no execution deadlocks: only lockdep's rule that
/// `down_read` is not recursive reports the nesting.
fn rwsem_read_twice(nested: bool) -> Outcome {
    run(move || {
        let sem = Arc::new(RwSemaphore::new("mmap_lock"));
        let s = sem.clone();
        let reader = spawn(1, move || {
            let g1 = down_read(&s);
            if !nested {
                up_read(g1);
                step(REACHED);
                up_read(down_read(&s));
            } else {
                step(REACHED);
                let g2 = down_read(&s);
                up_read(g2);
                up_read(g1);
            }
        });
        let writer = spawn(2, move || up_write(down_write(&sem)));
        join(vec![reader, writer]);
    })
}

#[test]
fn nested_down_read_is_recursive_locking() {
    rwsem_read_twice(true).fires(Kind::RecursiveLocking);
}

#[test]
fn down_read_after_up_read_holds() {
    rwsem_read_twice(false).holds();
}

// ---------------------------------------------------------------- rwlock_t recursion

/// Thread 1 reads `tasklist_lock` and, holding it, reads it again: in hardirq context (an
/// interrupt on its CPU, as a queued rwlock allows) or, buggy, in process context, where a
/// queued writer holds the second read back. Thread 2 writes it with interrupts disabled.
/// Under `config`.
fn rwlock_nested_read(in_irq: bool, config: Config) -> Outcome {
    run(move || {
        set_config(config);
        let lock = Arc::new(RwLock::new("tasklist_lock"));
        let l = lock.clone();
        let reader = spawn(1, move || {
            let g = read_lock(&l);
            step(REACHED);
            let again = || read_unlock(read_lock(&l));
            if in_irq {
                hardirq(again);
            } else {
                again();
            }
            read_unlock(g);
        });
        let writer = spawn(2, move || write_unlock_irq(write_lock_irq(&lock)));
        join(vec![reader, writer]);
    })
}

#[test]
fn nested_read_lock_in_process_context_is_recursive_locking() {
    rwlock_nested_read(false, Config::default()).fires(Kind::RecursiveLocking);
}

/// PREEMPT_RT has no queued rwlocks, so lockdep takes every `read_lock` as a recursive read
/// and reports no nesting (`read_lock_is_recursive()`); the model follows it.
#[test]
fn nested_read_lock_in_process_context_holds_on_preempt_rt() {
    rwlock_nested_read(false, RT).holds();
}

#[test]
fn nested_read_lock_in_hardirq_holds() {
    rwlock_nested_read(true, Config::default()).holds();
}

// ---------------------------------------------------------------- read-aware lock order

/// Two interrupt agents take `a_lock` and `b_lock` in opposite orders, the first lock for
/// reading, the second for reading (recursive reads: in interrupt context no reader waits
/// for another) or, buggy, for writing, which waits for the other agent's read.
fn opposite_orders(second_write: bool) -> Outcome {
    run(move || {
        let a = Arc::new(RwLock::new("a_lock"));
        let b = Arc::new(RwLock::new("b_lock"));
        let t = (1..=2)
            .map(|i| {
                let (first, second) = if i == 1 {
                    (a.clone(), b.clone())
                } else {
                    (b.clone(), a.clone())
                };
                spawn_hardirq(i, move || {
                    let g1 = read_lock(&first);
                    if second_write {
                        write_unlock(write_lock(&second));
                    } else {
                        read_unlock(read_lock(&second));
                    }
                    step(REACHED);
                    read_unlock(g1);
                })
            })
            .collect();
        join(t);
    })
}

#[test]
fn read_then_write_in_opposite_orders_is_lock_order() {
    opposite_orders(true).fires(Kind::LockOrder);
}

#[test]
fn recursive_reads_in_opposite_orders_hold() {
    opposite_orders(false).holds();
}

/// Three threads each take two of `a_lock`, `b_lock`, `c_lock`, one inside the other: a
/// -> b, b -> c and, buggy, c -> a (a cycle of three classes, as lockdep's
/// check_noncircular finds it), or, fixed, a -> c.
fn three_locks(cycle: bool) -> Outcome {
    run(move || {
        let locks: Arc<Vec<SpinLock>> = Arc::new(
            ["a_lock", "b_lock", "c_lock"]
                .into_iter()
                .map(SpinLock::new)
                .collect(),
        );
        let orders = [(0, 1), (1, 2), if cycle { (2, 0) } else { (0, 2) }];
        let t = (1..=3)
            .zip(orders)
            .map(|(i, (outer, inner))| {
                let locks = locks.clone();
                spawn(i, move || {
                    let g = spin_lock(&locks[outer]);
                    spin_unlock(spin_lock(&locks[inner]));
                    step(REACHED);
                    spin_unlock(g);
                })
            })
            .collect();
        join(t);
    })
}

#[test]
fn three_classes_in_a_cycle_is_lock_order() {
    three_locks(true).fires(Kind::LockOrder);
}

#[test]
fn three_classes_without_a_cycle_hold() {
    three_locks(false).holds();
}

// ---------------------------------------------------------------- inconsistent lock state

/// An interrupt agent takes `desc_lock`; thread 1 takes it in process context, with
/// `spin_lock` (interrupts enabled: the interrupt could arrive on its CPU and spin forever)
/// or, fixed, with `spin_lock_irqsave`.
fn irq_and_process(irqsave: bool) -> Outcome {
    run(move || {
        let lock = Arc::new(SpinLock::new("desc_lock"));
        let l = lock.clone();
        let irq = spawn_hardirq(1, move || spin_unlock(spin_lock(&l)));
        let task = spawn(2, move || {
            let g = if irqsave {
                spin_lock_irqsave(&lock)
            } else {
                spin_lock(&lock)
            };
            step(REACHED);
            drop(g);
        });
        join(vec![irq, task]);
    })
}

#[test]
fn spin_lock_of_an_irq_lock_is_inconsistent_lock_state() {
    irq_and_process(false).fires(Kind::InconsistentLockState);
}

#[test]
fn spin_lock_irqsave_of_an_irq_lock_holds() {
    irq_and_process(true).holds();
}

// ---------------------------------------------------------------- irq lock inversion

/// An interrupt agent takes `a_lock` (HARDIRQ-safe); thread 1 takes `b_lock` under it,
/// then `b_lock` alone with interrupts enabled (HARDIRQ-unsafe) or, fixed, with
/// `spin_lock_irq`: the interrupt could arrive while `b_lock` is held and wait for
/// `a_lock`, whose holder waits for `b_lock`.
fn safe_then_unsafe(fixed: bool) -> Outcome {
    run(move || {
        let a = Arc::new(SpinLock::new("a_lock"));
        let b = SpinLock::new("b_lock");
        let a2 = a.clone();
        let irq = spawn_hardirq(1, move || spin_unlock(spin_lock(&a2)));
        let task = spawn(2, move || {
            let ga = spin_lock_irqsave(&a);
            spin_unlock(spin_lock(&b));
            spin_unlock_irqrestore(ga);
            step(REACHED);
            if fixed {
                spin_unlock_irq(spin_lock_irq(&b));
            } else {
                spin_unlock(spin_lock(&b));
            }
        });
        join(vec![irq, task]);
    })
}

#[test]
fn irq_unsafe_lock_under_irq_safe_lock_is_irq_lock_inversion() {
    safe_then_unsafe(false).fires(Kind::IrqLockInversion);
}

#[test]
fn irq_safe_order_holds() {
    safe_then_unsafe(true).holds();
}

// ---------------------------------------------------------------- seed 001 on PREEMPT_RT

/// The seed-001 nesting, as `msi_domain_activate` runs it: the raw `irq_desc->lock` of an
/// interrupt of its own (`raw_spin_lock_irqsave`), and under it iommu_get_reserved_iova's
/// `reserved_lock` (a `spinlock_t`, `spin_lock_irqsave`).
fn activate(reserved_lock: &SpinLock) {
    let desc_lock = SpinLock::new_raw("irq_desc->lock");
    let gd = raw_spin_lock_irqsave(&desc_lock);
    step(REACHED);
    let gr = spin_lock_irqsave(reserved_lock);
    spin_unlock_irqrestore(gr);
    raw_spin_unlock_irqrestore(gd);
}

/// [`activate`] by two threads at once, sharing `reserved_lock`, under `config`.
fn msi_domain_activate(config: Config) -> Outcome {
    run(move || {
        set_config(config);
        let reserved_lock = Arc::new(SpinLock::new("reserved_lock"));
        let t = (1..=2)
            .map(|i| {
                let reserved_lock = reserved_lock.clone();
                spawn(i, move || activate(&reserved_lock))
            })
            .collect();
        join(t);
    })
}

#[test]
fn reserved_lock_under_irq_desc_lock_is_invalid_wait_context_on_preempt_rt() {
    msi_domain_activate(RT_PROVE).fires(Kind::InvalidWaitContext);
}

/// Without PROVE_RAW_LOCK_NESTING lockdep has no wait type for a `spinlock_t`: the first
/// report is the sleeping lock's `might_sleep` under the raw lock.
#[test]
fn reserved_lock_under_irq_desc_lock_sleeps_on_preempt_rt_without_prove_raw_lock_nesting() {
    msi_domain_activate(RT).fires(Kind::SleepInAtomic);
}

#[test]
fn reserved_lock_under_irq_desc_lock_holds_without_preempt_rt() {
    msi_domain_activate(Config::default()).holds();
}

// ---------------------------------------------------------------- hardirq on PREEMPT_RT

/// On PREEMPT_RT, an interrupt agent (a non-threaded handler) takes `stats_lock`, a
/// `spinlock_t` (a sleeping lock there) or, fixed, a `raw_spinlock_t`; thread 1 takes it
/// with interrupts disabled.
fn lock_in_hardirq_on_rt(raw: bool) -> Outcome {
    run(move || {
        set_config(RT_PROVE);
        let lock = Arc::new(if raw {
            SpinLock::new_raw("stats_lock")
        } else {
            SpinLock::new("stats_lock")
        });
        let l = lock.clone();
        let irq = spawn_hardirq(1, move || {
            step(REACHED);
            if raw {
                raw_spin_unlock(raw_spin_lock(&l));
            } else {
                spin_unlock(spin_lock(&l));
            }
        });
        let task = spawn(2, move || {
            raw_spin_unlock_irqrestore(raw_spin_lock_irqsave(&lock))
        });
        join(vec![irq, task]);
    })
}

#[test]
fn spinlock_t_in_hardirq_is_invalid_wait_context_on_preempt_rt() {
    lock_in_hardirq_on_rt(false).fires(Kind::InvalidWaitContext);
}

#[test]
fn raw_spinlock_t_in_hardirq_holds_on_preempt_rt() {
    lock_in_hardirq_on_rt(true).holds();
}

// ---------------------------------------------------------------- sequential checks

/// The seed-001 nesting on one thread, under `config`.
fn nesting(config: Config) {
    set_config(config);
    activate(&SpinLock::new("reserved_lock"));
}

#[test]
fn invalid_wait_context_names_both_locks_and_the_config() {
    run_std(|| nesting(RT_PROVE)).fires(
        Kind::InvalidWaitContext,
        &[
            "BUG: Invalid wait context (PROVE_RAW_LOCK_NESTING)",
            "is trying to lock reserved_lock (LD_WAIT_CONFIG)",
            "while holding irq_desc->lock (raw_spin_lock_irqsave at",
            "LD_WAIT_SPIN",
        ],
    );
}

#[test]
fn prove_raw_lock_nesting_reports_without_preempt_rt() {
    let c = Config {
        preempt_rt: false,
        prove_raw_lock_nesting: true,
    };
    run_std(move || nesting(c)).fires(
        Kind::InvalidWaitContext,
        &["BUG: Invalid wait context (PROVE_RAW_LOCK_NESTING)"],
    );
}

#[test]
fn spinlock_under_raw_spinlock_is_silent_without_either_option() {
    run_std(|| nesting(Config::default())).silent();
}

#[test]
fn spin_lock_with_irqs_disabled_sleeps_on_preempt_rt() {
    let l = || {
        let lock = SpinLock::new("reserved_lock");
        local_irq_disable();
        spin_unlock(spin_lock(&lock));
        local_irq_enable();
    };
    run_std(move || {
        set_config(RT);
        l()
    })
    .fires(
        Kind::SleepInAtomic,
        &[
            "sleeping function called from invalid context",
            "spin_lock of reserved_lock sleeps on PREEMPT_RT",
            "interrupts are disabled (local_irq_disable at",
        ],
    );
    run_std(l).silent();
}

#[test]
fn spin_lock_irqsave_of_a_spinlock_leaves_irqs_enabled_on_preempt_rt() {
    // On RT, spin_lock_irqsave of a spinlock_t does not disable interrupts, so a
    // spinlock_t under it is no wait-context or sleep problem; raw_spin_lock_irqsave does.
    run_std(|| {
        set_config(RT);
        let a = SpinLock::new("a_lock");
        let b = SpinLock::new("b_lock");
        let ga = spin_lock_irqsave(&a);
        assert!(!irqs_disabled());
        spin_unlock(spin_lock(&b));
        spin_unlock_irqrestore(ga);
        let r = SpinLock::new_raw("r_lock");
        let gr = raw_spin_lock_irqsave(&r);
        assert!(irqs_disabled());
        raw_spin_unlock_irqrestore(gr);
        assert!(!irqs_disabled());
    })
    .silent();
}

#[test]
fn local_irq_save_and_restore_nest() {
    let (still, after) = run_std(|| {
        let outer = local_irq_save();
        let inner = local_irq_save();
        local_irq_restore(inner);
        let still = irqs_disabled();
        local_irq_restore(outer);
        (still, irqs_disabled())
    })
    .silent();
    assert!(still && !after);
}

#[test]
fn inconsistent_lock_state_prints_both_usages() {
    run_std(|| {
        let l = SpinLock::new("desc_lock");
        hardirq(|| spin_unlock(spin_lock(&l)));
        spin_unlock(spin_lock(&l));
    })
    .fires(
        Kind::InconsistentLockState,
        &[
            "inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage",
            "the {IN-HARDIRQ-W} state was registered",
        ],
    );
}

#[test]
fn read_usages_in_and_out_of_hardirq_are_consistent_but_a_write_is_not() {
    run_std(|| {
        let l = RwLock::new("tasklist_lock");
        hardirq(|| read_unlock(read_lock(&l)));
        read_unlock(read_lock(&l));
        write_unlock_irq(write_lock_irq(&l));
    })
    .silent();
    run_std(|| {
        let l = RwLock::new("tasklist_lock");
        hardirq(|| read_unlock(read_lock(&l)));
        write_unlock(write_lock(&l));
    })
    .fires(
        Kind::InconsistentLockState,
        &["inconsistent {IN-HARDIRQ-R} -> {HARDIRQ-ON-W} usage"],
    );
}

#[test]
fn enabling_irqs_while_holding_an_irq_lock_is_inconsistent() {
    // lockdep's mark_held_locks: the lock was taken with interrupts off, but they come on
    // while it is held.
    run_std(|| {
        let l = SpinLock::new("desc_lock");
        hardirq(|| spin_unlock(spin_lock(&l)));
        local_irq_disable();
        let g = spin_lock(&l);
        local_irq_enable();
        spin_unlock(g);
    })
    .fires(
        Kind::InconsistentLockState,
        &["{IN-HARDIRQ-W} -> {HARDIRQ-ON-W}"],
    );
}

#[test]
fn usage_bits_outlive_the_execution() {
    // Like the order graph, usage is kept across the executions of a run: the hardirq use
    // in one and the irqs-on use in the next are one inconsistent state.
    let rec = Arc::new(Recorder::default());
    run_in(&rec, || {
        let l = SpinLock::new("desc_lock");
        hardirq(|| spin_unlock(spin_lock(&l)));
    })
    .silent();
    rec.reset();
    run_in(&rec, || spin_unlock(spin_lock(&SpinLock::new("desc_lock"))))
        .fires(Kind::InconsistentLockState, &[]);
}

#[test]
fn irq_lock_inversion_found_when_the_unsafe_use_comes_last() {
    run_std(|| {
        let a = SpinLock::new("a_lock");
        let b = SpinLock::new("b_lock");
        hardirq(|| spin_unlock(spin_lock(&a)));
        let ga = spin_lock_irqsave(&a);
        spin_unlock(spin_lock(&b));
        spin_unlock_irqrestore(ga);
        spin_unlock(spin_lock(&b));
    })
    .fires(
        Kind::IrqLockInversion,
        &[
            "possible irq lock inversion dependency detected: b_lock becomes HARDIRQ-unsafe",
            "a_lock was held while taking b_lock",
            "a_lock is {IN-HARDIRQ-W}",
            "b_lock is {HARDIRQ-ON-W}",
        ],
    );
}

#[test]
fn irq_lock_inversion_found_when_the_order_comes_last() {
    run_std(|| {
        let a = SpinLock::new("a_lock");
        let b = SpinLock::new("b_lock");
        hardirq(|| spin_unlock(spin_lock(&a)));
        spin_unlock(spin_lock(&b));
        let ga = spin_lock_irqsave(&a);
        spin_unlock(spin_lock(&b));
        spin_unlock_irqrestore(ga);
    })
    .fires(
        Kind::IrqLockInversion,
        &["HARDIRQ-safe -> HARDIRQ-unsafe lock order detected"],
    );
}

#[test]
fn irq_lock_inversion_found_through_a_chain() {
    // a (safe) -> c -> b (unsafe): the order graph is searched, not only its edges.
    run_std(|| {
        let a = SpinLock::new("a_lock");
        let b = SpinLock::new("b_lock");
        let c = SpinLock::new("c_lock");
        let gc = spin_lock_irq(&c);
        spin_unlock(spin_lock(&b));
        spin_unlock_irq(gc);
        let ga = spin_lock_irqsave(&a);
        spin_unlock(spin_lock(&c));
        spin_unlock_irqrestore(ga);
        spin_unlock(spin_lock(&b));
        hardirq(|| spin_unlock(spin_lock(&a)));
    })
    .fires(
        Kind::IrqLockInversion,
        &["a_lock becomes HARDIRQ-safe", "c_lock"],
    );
}

#[test]
fn gfp_kernel_in_hardirq_or_with_irqs_disabled_is_sleep_in_atomic() {
    run_std(|| {
        let cache = Slab::new("obj");
        hardirq(|| kzalloc(&cache, Gfp::Kernel, |_, _| ()).map(|_| ()))
    })
    .fires(Kind::SleepInAtomic, &["in hardirq context"]);
    run_std(|| {
        let cache = Slab::new("obj");
        local_irq_disable();
        kzalloc(&cache, Gfp::Kernel, |_, _| ()).map(|_| ())
    })
    .fires(
        Kind::SleepInAtomic,
        &["interrupts are disabled (local_irq_disable"],
    );
}

#[test]
fn down_write_under_own_down_read_is_recursive_locking() {
    run_std(|| {
        let s = RwSemaphore::new("mmap_lock");
        let g = down_read(&s);
        up_write(down_write(&s));
        up_read(g);
    })
    .fires(
        Kind::RecursiveLocking,
        &["possible recursive locking detected", "mmap_lock"],
    );
}

#[test]
fn down_read_trylock_nests_without_a_report_and_counts_as_a_read() {
    // lockdep skips the recursion check for a trylock; the engine's read is taken once.
    run_std(|| {
        let s = RwSemaphore::new("mmap_lock");
        let g = down_read(&s);
        let t = down_read_trylock(&s).expect("a read under a read succeeds");
        up_read(t);
        up_read(g);
        let w = down_write(&s);
        assert!(down_read_trylock(&s).is_none());
        up_write(w);
    })
    .silent();
}

#[test]
fn read_lock_irq_disables_and_enables() {
    let r = run_std(|| {
        let l = RwLock::new("tasklist_lock");
        let g = read_lock_irq(&l);
        let off = irqs_disabled();
        read_unlock_irq(g);
        (off, irqs_disabled())
    })
    .silent();
    assert_eq!(r, (true, false));
}

/// An interrupt cannot arrive with interrupts disabled: `hardirq(f)` inside
/// `local_irq_disable` is the model's error, not a verdict; after `local_irq_enable` it runs.
fn hardirq_after(enable: bool) -> Result<(), String> {
    run_std(move || {
        local_irq_disable();
        if enable {
            local_irq_enable();
        }
        hardirq(|| ());
        if !enable {
            local_irq_enable();
        }
    })
    .result
}

#[test]
fn hardirq_with_interrupts_disabled_is_a_model_error() {
    let msg = hardirq_after(false).expect_err("hardirq(f) ran with interrupts disabled");
    assert!(
        msg.contains("model error") && msg.contains("local_irq_disable"),
        "{msg}"
    );
}

#[test]
fn hardirq_with_interrupts_enabled_runs() {
    hardirq_after(true).expect("hardirq(f) with interrupts enabled");
}

#[test]
fn kinds_have_their_names() {
    for (k, n) in [
        (Kind::InconsistentLockState, "inconsistent-lock-state"),
        (Kind::IrqLockInversion, "irq-lock-inversion"),
        (Kind::InvalidWaitContext, "invalid-wait-context"),
        (Kind::RecursiveLocking, "recursive-locking"),
    ] {
        assert_eq!(k.name(), n);
        assert_eq!(Kind::from_name(n), Some(k));
    }
}

// ---------------------------------------------------------------- shuttle and os

/// The tasklist_lock program (a nested read in hardirq, a writer with interrupts off) and
/// the seed-001 nesting, without or (`rt`) with PREEMPT_RT, under `engine`: the read-write
/// lock and the checks work the same under shuttle's and std's locks.
fn other_engine(engine: iommu_models::engine::Engine, rt: bool) -> Option<Kind> {
    use iommu_models::engine::leave;
    let rec = Arc::new(Recorder::default());
    let r = rec.clone();
    let body = move || {
        iommu_models::trace::enter(engine, r.clone());
        if rt {
            set_config(RT_PROVE);
        }
        let lock = Arc::new(RwLock::new("tasklist_lock"));
        let l = lock.clone();
        let reader = spawn(1, move || {
            let g = read_lock(&l);
            if !rt {
                // On PREEMPT_RT, write_lock_irq leaves interrupts on: this would be an
                // inconsistent lock state there.
                hardirq(|| read_unlock(read_lock(&l)));
            }
            read_unlock(g);
            activate(&SpinLock::new("reserved_lock"));
        });
        let writer = spawn(2, move || write_unlock_irq(write_lock_irq(&lock)));
        join(vec![reader, writer]);
        leave();
    };
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match engine {
        iommu_models::engine::Engine::Shuttle => shuttle::check_random(body, 50),
        _ => body(),
    }));
    assert_eq!(
        out.is_err(),
        rec.violation().is_some(),
        "{:?}",
        rec.violation()
    );
    rec.violation().map(|v| v.kind)
}

#[test]
fn shuttle_and_os_agree() {
    use iommu_models::engine::Engine;
    for e in [Engine::Shuttle, Engine::Std] {
        assert_eq!(other_engine(e, false), None, "{e:?}");
        assert_eq!(
            other_engine(e, true),
            Some(Kind::InvalidWaitContext),
            "{e:?}"
        );
    }
}
