//! shuttle: sampled (PCT, random) or exhaustive without reduction (DFS) exploration, seeded;
//! every failure carries the schedule string that replays it.
//!
//! Shuttle runs every atomic access sequentially consistently: it cannot see a bug that needs
//! a weak-memory reordering. Those scenarios are loom-only.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use iommu_models::engine::Engine;
use shuttle::scheduler::{
    DfsScheduler, PctScheduler, RandomScheduler, ReplayScheduler, Schedule, Scheduler, Task, TaskId,
};
use shuttle::{Config, FailurePersistence, Runner};
use shuttle_engine::runtime::execution::CurrentSchedule;
use shuttle_engine::scheduler::serialization::serialize_schedule;

use super::{
    classify, execute, Coverage, EngineKind, Exploring, Outcome, Program, Settings, Verdict,
};
use crate::scenario::Scenario;

fn config(s: &Settings) -> Config {
    let mut c = Config::new();
    c.failure_persistence = FailurePersistence::Print;
    c.max_time = s.max_time;
    c.silence_warnings = true;
    c
}

/// Explore `scenario` with the shuttle scheduler `engine`.
pub fn run(scenario: &Scenario, engine: EngineKind, s: &Settings) -> Outcome {
    let iters = s.iterations;
    match engine {
        EngineKind::ShuttlePct => drive(
            scenario,
            engine,
            s,
            PctScheduler::new_from_seed(s.seed, s.pct_depth, iters),
            Coverage::Bounded(format!(
                "{iters} PCT schedules of depth {}, seed {:#x}",
                s.pct_depth, s.seed
            )),
        ),
        EngineKind::ShuttleRandom => drive(
            scenario,
            engine,
            s,
            RandomScheduler::new_from_seed(s.seed, iters),
            Coverage::Bounded(format!("{iters} random schedules, seed {:#x}", s.seed)),
        ),
        EngineKind::ShuttleDfs => drive(
            scenario,
            engine,
            s,
            DfsScheduler::new(Some(iters), false),
            Coverage::Bounded(format!("the first {iters} schedules in depth-first order")),
        ),
        _ => unreachable!("not a shuttle engine: {engine:?}"),
    }
}

/// True if `schedule` decodes as a shuttle schedule string (shuttle panics on a bad one).
pub fn valid_schedule(schedule: &str) -> bool {
    let _quiet = Exploring::start();
    std::panic::catch_unwind(|| ReplayScheduler::new_from_encoded(schedule)).is_ok()
}

/// Replay one schedule string of a shuttle failure.
pub fn replay(scenario: &Scenario, schedule: &str, s: &Settings) -> Outcome {
    let mut sched = ReplayScheduler::new_from_encoded(schedule);
    sched.set_allow_incomplete();
    Outcome {
        replayed: true,
        ..drive(
            scenario,
            EngineKind::ShuttlePct,
            s,
            sched,
            Coverage::Bounded("one replayed schedule".into()),
        )
    }
}

/// A scheduler that ends the run after a first execution in which it had nothing to choose:
/// one runnable task at every scheduling point and no random value drawn. Every schedule of a
/// deterministic program is then that one, so the run is complete. Since shuttle 0.9 a spawn
/// is no longer a scheduling point, so a scenario whose one thread runs while the main thread
/// waits in join is such a program; PCT would panic on its second execution ("test closure did
/// not exercise any concurrency").
struct StopWithoutChoice<S> {
    inner: S,
    executions: usize,
    chose: bool,
    complete: Rc<Cell<bool>>,
}

impl<S: Scheduler> Scheduler for StopWithoutChoice<S> {
    fn new_execution(&mut self) -> Option<Schedule> {
        if self.executions == 1 && !self.chose {
            self.complete.set(true);
            return None;
        }
        self.executions += 1;
        self.inner.new_execution()
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        self.chose |= runnable.len() > 1;
        self.inner.next_task(runnable, current, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        self.chose = true;
        self.inner.next_u64()
    }
}

thread_local! {
    /// A shuttle run is under way on this OS thread.
    static IN_RUN: Cell<bool> = const { Cell::new(false) };
    /// The schedule of the current execution at its first panic, encoded for replay.
    static FAILING: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Shuttle's own panic hook, installed once for the process at its first run. The checker's
/// hook replaces it (see [`super::install_panic_hook`]); this run, made while that hook is being
/// set up, is where shuttle installs it.
pub(super) fn install_its_hook() {
    Runner::new(
        RandomScheduler::new_from_seed(0, 1),
        config(&Settings::default()),
    )
    .run(|| {});
}

/// Shuttle 0.9 no longer puts the failing schedule in the panic message: its panic hook prints
/// it. So the checker's hook calls this at every panic: during a shuttle run on this thread it
/// records the schedule at the execution's first panic, as shuttle's own report of it does.
pub(super) fn note_panic() {
    if IN_RUN.get() {
        FAILING.with_borrow_mut(|f| {
            f.get_or_insert_with(|| serialize_schedule(&CurrentSchedule::get_schedule()));
        });
    }
}

/// Marks a shuttle run under way on this thread (until dropped).
struct InRun;

impl InRun {
    fn start() -> InRun {
        FAILING.set(None);
        IN_RUN.set(true);
        InRun
    }
}

impl Drop for InRun {
    fn drop(&mut self) {
        IN_RUN.set(false);
    }
}

fn drive(
    scenario: &Scenario,
    engine: EngineKind,
    s: &Settings,
    sched: impl Scheduler + 'static,
    bounded: Coverage,
) -> Outcome {
    let start = Instant::now();
    let p = Program::new(scenario);
    super::progress::watch(&p, engine.name(), None);
    let body = p.clone();
    let _quiet = Exploring::start();
    let _stderr = super::stderr::Silenced::start();
    let complete = Rc::new(Cell::new(false));
    let sched = StopWithoutChoice {
        inner: sched,
        executions: 0,
        chose: false,
        complete: complete.clone(),
    };
    let in_run = InRun::start();
    let r = catch_unwind(AssertUnwindSafe(|| {
        Runner::new(sched, config(s)).run(move || {
            FAILING.set(None);
            execute(&body, Engine::Shuttle)
        })
    }));
    drop(in_run);
    let execs = p.executions.load(Ordering::Relaxed);
    let (verdict, schedule, trace) = match r {
        Ok(n) => {
            let v = if s.max_time.is_some_and(|t| start.elapsed() >= t) {
                Verdict::Inconclusive(format!(
                    "{} after {} of {} iterations",
                    super::time_limit_reached(s),
                    super::count(execs),
                    super::count(s.iterations as u64)
                ))
            } else if complete.get() || (engine == EngineKind::ShuttleDfs && n < s.iterations) {
                p.holds(Coverage::Complete)
            } else {
                p.holds(bounded)
            };
            (v, None, vec![])
        }
        Err(payload) => {
            let verdict = match classify(&*payload, &p) {
                Verdict::Inconclusive(why) => Verdict::Inconclusive(format!(
                    "{why} in iteration {} of {}",
                    super::count(execs),
                    super::count(s.iterations as u64)
                )),
                v => v,
            };
            (verdict, FAILING.take(), p.recorder.events())
        }
    };
    Outcome {
        engine,
        verdict,
        executions: execs,
        preemptions: None,
        schedule,
        replayed: false,
        settings: s.clone(),
        trace,
        elapsed: start.elapsed(),
        witness: None,
        first_found: None,
        lock_holds: p.lock_holds(),
    }
}
