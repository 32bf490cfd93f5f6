//! The kernel's own threads: a timer's softirq, a kworker, RCU's callback invocation. Each
//! is a real engine thread, spawned when a model defers something (`mod_timer`,
//! `queue_work`, `call_rcu`), that the engine schedules like any other: a deferred function
//! may run at any point from its arming until it runs or is cancelled.
//!
//! One agent per deferral (a simplification of per-CPU softirqs and worker pools that
//! reaches the same interleavings): it is spawned with the next free thread index, named
//! for reports (`softirq: my_timer`), and joined by [`join_all`], which the engine calls at
//! the end of every execution, before its final checks. Under loom every agent counts
//! against its limit of 5 threads per execution, the main thread included.
//!
//! [`Deferred`] is the state timers and work items share: a pending bit (armed, not yet
//! started), a running bit (its function is running) and a canceling bit (a
//! `cancel_work_sync` is in progress), in one engine word that waiters block on.

use std::sync::Arc;

use crate::engine::{engine, spawn, thread_index, Engine, Ghost, JoinHandle, RawWait};
use crate::kernel::lockdep;
use crate::trace::with_recorder;

/// The agents spawned in this execution and not yet joined. Ghost: no thread branches on
/// it; only [`join_all`] reads it, after the model's threads joined.
#[derive(Default)]
struct Agents(Ghost<Vec<JoinHandle>>);

/// Spawn an agent thread named `name` running `f`.
pub(crate) fn spawn_agent(name: String, f: impl FnOnce() + Send + 'static) {
    let index = with_recorder(|r| r.next_thread_index()).unwrap_or(1);
    // Shuttle numbers threads itself, in spawn order: the agent names itself once running.
    let shuttle = engine() == Engine::Shuttle;
    if !shuttle {
        with_recorder(|r| r.name_agent(index, name.clone()));
    }
    let h = spawn(index, move || {
        if shuttle {
            let me = thread_index();
            with_recorder(|r| r.name_agent(me, name));
        }
        f()
    });
    with_recorder(|r| {
        r.kernel_state("agents", Agents::default)
            .0
            .with(|v| v.push(h))
    });
}

/// Join every agent spawned in this execution, and those they spawn in turn. A violation
/// in an agent is passed on to the caller, as a model thread's is.
pub fn join_all() {
    loop {
        let next = with_recorder(|r| {
            r.kernel_state("agents", Agents::default)
                .0
                .with(|v| (!v.is_empty()).then(|| v.remove(0)))
        })
        .flatten();
        match next {
            Some(h) => h.join(),
            None => return,
        }
    }
}

/// Armed: the function will run (`timer_pending`, `WORK_STRUCT_PENDING`).
const PENDING: u64 = 1;
/// The function is running.
const RUNNING: u64 = 2;
/// A `cancel_work_sync` is waiting for the function: arming is refused, as the kernel's
/// canceler keeps the work's pending bit (and marks it canceling) for the whole wait. One
/// bit, not a count: two concurrent cancels of one work are not modelled.
const CANCELING: u64 = 4;
/// One finished run, counted above the bits: `flush_work` waits for a number of them.
const DONE: u64 = 8;

/// A function that an agent runs once per arming: a timer or a work item.
pub(crate) struct Deferred {
    state: RawWait,
    /// The item's lockdep class (the timer's or work's name): its function runs holding it,
    /// and `del_timer_sync`, `flush_work` and `cancel_work_sync` take it to wait.
    class: &'static str,
    /// What runs it, for the agent's name (`softirq`, `kworker`), and how it holds the
    /// class (`call_timer_fn`, `process_one_work`).
    agent: &'static str,
    how: &'static str,
    /// The function runs in atomic context (softirq).
    atomic: bool,
    func: Arc<dyn Fn() + Send + Sync>,
}

impl Deferred {
    /// An idle item of class `class`, run by an `agent` thread as `how`.
    pub(crate) fn new(
        class: &'static str,
        agent: &'static str,
        how: &'static str,
        atomic: bool,
        func: Arc<dyn Fn() + Send + Sync>,
    ) -> Arc<Self> {
        Arc::new(Deferred {
            state: RawWait::new(0),
            class,
            agent,
            how,
            atomic,
            func,
        })
    }

    /// Set the pending bit; if it was clear, spawn an agent that will run the function.
    /// True if it was already pending, or a cancel is in progress (nothing is armed then).
    pub(crate) fn arm(self: &Arc<Self>) -> bool {
        let was = self.state.update(|s| {
            let was = *s & (PENDING | CANCELING) != 0;
            if *s & CANCELING == 0 {
                *s |= PENDING;
            }
            was
        });
        if !was {
            let me = self.clone();
            spawn_agent(format!("{}: {}", self.agent, self.class), move || me.run());
        }
        was
    }

    /// The agent's body: once no earlier run is running, take the pending bit and run the
    /// function, unless it was cancelled first.
    fn run(&self) {
        let start = self.state.wait(
            |s| s & RUNNING == 0,
            |s| {
                let pending = *s & PENDING != 0;
                if pending {
                    *s = (*s & !PENDING) | RUNNING;
                }
                pending
            },
        );
        if start != Some(true) {
            return;
        }
        let held = lockdep::acquiring(self.class, self.how, self.atomic);
        lockdep::acquired(held);
        (self.func)();
        lockdep::released(self.class, self.how);
        self.state.update(|s| *s = (*s & !RUNNING) + DONE);
    }

    /// Clear the pending bit: true if it was set (the function will not run for it).
    pub(crate) fn disarm(&self) -> bool {
        self.state.update(take_pending)
    }

    /// Wait, as `how` (`del_timer_sync`), until the function is not running, and clear the
    /// pending bit in the same step, as the kernel's retry loop does: a function that armed
    /// itself again while running is disarmed too. True if it was pending then.
    #[track_caller]
    pub(crate) fn disarm_sync(&self, how: &'static str) -> bool {
        lockdep::wait(
            &self.state,
            self.class,
            how,
            |s| s & RUNNING == 0,
            take_pending,
        )
    }

    /// Clear the pending bit and refuse arming until the function is not running (the
    /// function may try to queue itself again meanwhile), as `cancel_work_sync` does. True
    /// if it was pending.
    #[track_caller]
    pub(crate) fn cancel_sync(&self, how: &'static str) -> bool {
        let was = self.state.update(|s| {
            *s |= CANCELING;
            take_pending(s)
        });
        let canceled = |s: &mut u64| *s &= !CANCELING;
        lockdep::wait(&self.state, self.class, how, |s| s & RUNNING == 0, canceled);
        was
    }

    /// The item's name (its lockdep class).
    pub(crate) fn class(&self) -> &'static str {
        self.class
    }

    /// True if armed and not yet started.
    pub(crate) fn pending(&self) -> bool {
        self.state.update(|s| *s & PENDING != 0)
    }

    /// Wait, as `how` (`flush_work`), for the runs armed or running now to finish (or the
    /// item to go idle, cancelled): not for an arming made after, by the function itself
    /// or anyone. True if there was something to wait for. Lockdep sees the caller take the
    /// item's class, so waiting while holding a lock the function takes is a `lock-order`
    /// violation (and a `deadlock` when it happens).
    #[track_caller]
    pub(crate) fn flush(&self, how: &'static str) -> bool {
        let target = self.state.update(|s| {
            let runs = u64::from(*s & PENDING != 0) + u64::from(*s & RUNNING != 0);
            (runs > 0).then_some(*s / DONE + runs)
        });
        let done = |s: u64| target.is_none_or(|t| s / DONE >= t) || s & (PENDING | RUNNING) == 0;
        lockdep::wait(&self.state, self.class, how, done, |_| ());
        target.is_some()
    }
}

/// Clear the pending bit of a state word: true if it was set.
fn take_pending(s: &mut u64) -> bool {
    let was = *s & PENDING != 0;
    *s &= !PENDING;
    was
}
