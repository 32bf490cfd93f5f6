//! Read-copy update (include/linux/rcupdate.h): `rcu_read_lock`, `rcu_read_unlock`,
//! `rcu_dereference`, `rcu_assign_pointer`, `synchronize_rcu`, `call_rcu`, `kfree_rcu`.
//!
//! Each thread has its own reader word, the nesting depth of its read-side critical
//! sections, behind an engine lock that waiters block on (one per thread, so readers of
//! different threads never conflict). `rcu_read_lock` and `rcu_read_unlock` change the
//! running thread's word; a grace period (`synchronize_rcu`) visits every thread's word in
//! turn and waits until it is zero. So it waits for every reader that started before it,
//! and each visit orders the reader's critical section before whatever follows the grace
//! period (the free), or the grace period before a critical section that starts after the
//! visit: loom sees a free after `synchronize_rcu` ordered after every access of the
//! readers it waited for, and a later reader ordered after the `rcu_assign_pointer` that
//! came before it.
//!
//! The grace period can wait longer than the kernel's, never shorter: a reader that starts
//! after `synchronize_rcu` began but before its thread's word is visited is waited for too
//! (which can hide a bug that needs the grace period to end while such a reader runs).
//!
//! A read-side critical section is atomic context, as `rcu_read_lock_held` plus
//! `might_sleep` make it in the kernel: a sleeping call there is `sleep-in-atomic`.

use std::panic::Location;
use std::sync::atomic::Ordering;

use crate::check::{raise, Kind};
use crate::engine::{engine, thread_index, Engine, RawWait};
use crate::kernel::agents::spawn_agent;
use crate::kernel::atomic::Atomic64;
use crate::kernel::sched::{in_atomic_context, might_sleep};
use crate::kernel::slab::{kfree, KBox};
use crate::trace::with_recorder;
use crate::trace::{record, Obj, Op};

/// Reader words: one per thread index. Under loom an execution has at most 5 threads, so 5
/// words; the other engines get more, and a thread beyond them is a model error.
fn slots() -> usize {
    if engine() == Engine::Loom {
        5
    } else {
        64
    }
}

/// The execution's RCU state: every thread's reader word. Made on first use, with every
/// word at once, so that which thread used RCU first decides nothing.
struct Readers(Vec<RawWait>);

/// Run `f` on the readers of this execution.
fn with_readers<R>(f: impl FnOnce(&Readers) -> R) -> R {
    let readers = with_recorder(|r| {
        r.kernel_state("rcu", || {
            Readers((0..slots()).map(|_| RawWait::new(0)).collect())
        })
    })
    .expect("RCU used outside an execution");
    f(&readers)
}

/// The running thread's reader word.
fn my_word<R>(f: impl FnOnce(&RawWait) -> R) -> R {
    let me = thread_index();
    with_readers(|r| match r.0.get(me) {
        Some(w) => f(w),
        None => panic!(
            "RCU reader in thread {me}: the model supports {} threads",
            r.0.len()
        ),
    })
}

/// `rcu_read_lock()`: enter a read-side critical section (they nest).
#[track_caller]
pub fn rcu_read_lock() {
    record(Op::Call("rcu_read_lock"), Obj::None);
    my_word(|w| w.update(|n| *n += 1));
    let me = thread_index();
    with_recorder(|r| r.set_atomic(me, Some(("rcu_read_lock", Location::caller()))));
}

/// `rcu_read_unlock()`: leave it; unbalanced, it is a `lock-not-held` violation.
#[track_caller]
pub fn rcu_read_unlock() {
    record(Op::Call("rcu_read_unlock"), Obj::None);
    let was = my_word(|w| {
        w.update(|n| {
            let was = *n;
            *n = n.saturating_sub(1);
            was
        })
    });
    if was == 0 {
        raise(
            Kind::LockNotHeld,
            "rcu_read_unlock() outside a read-side critical section",
        );
    }
    let me = thread_index();
    with_recorder(|r| r.set_atomic(me, None));
}

/// `rcu_dereference(p)`: load an RCU-protected pointer to dereference it. The address
/// dependency is an Acquire load, as `read_once_dep` models it.
#[track_caller]
pub fn rcu_dereference(p: &Atomic64) -> u64 {
    p.load(Ordering::Acquire)
}

/// `rcu_assign_pointer(p, v)`: publish `v` (a store-release).
#[track_caller]
pub fn rcu_assign_pointer(p: &Atomic64, v: u64) {
    p.store(v, Ordering::Release)
}

/// Wait for every read-side critical section that started before now.
#[track_caller]
fn grace_period(how: &'static str) {
    let waited = with_readers(|r| r.0.iter().all(|w| w.wait(|n| n == 0, |_| ()).is_some()));
    if !waited {
        raise(
            Kind::Deadlock,
            format!(
                "{how} waited {} s for a reader that never left its critical section",
                RawWait::STD_PATIENCE.as_secs()
            ),
        );
    }
}

/// `synchronize_rcu()`: may sleep; returns once every reader that started before it has
/// left its critical section. Called inside one, it waits for itself (`deadlock`), after
/// `sleep-in-atomic`.
#[track_caller]
pub fn synchronize_rcu() {
    might_sleep("synchronize_rcu");
    grace_period("synchronize_rcu");
}

/// `call_rcu(head, func)`: run `func` after a grace period, on an RCU agent thread, in
/// softirq (atomic) context; `head` names the object for reports.
#[track_caller]
pub fn call_rcu(head: Obj, func: impl FnOnce() + Send + 'static) {
    record(Op::Call("call_rcu"), head);
    spawn_agent("rcu: callbacks".into(), move || {
        grace_period("the grace period before an RCU callback");
        in_atomic_context("rcu callback (softirq)", func);
    });
}

/// `kfree_rcu(ptr, rhf)`: `kfree(ptr)` after a grace period.
#[track_caller]
pub fn kfree_rcu<T: Send + Sync + 'static>(p: &KBox<T>) {
    let p = p.clone();
    call_rcu(p.obj(), move || kfree(&p));
}
