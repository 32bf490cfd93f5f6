//! shuttle: sampled (PCT, random) or exhaustive without reduction (DFS) exploration, seeded;
//! every failure carries the schedule string that replays it.
//!
//! Shuttle runs every atomic access sequentially consistently: it cannot see a bug that needs
//! a weak-memory reordering. Those scenarios are loom-only.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use iommu_models::engine::Engine;
use shuttle::scheduler::{
    DfsScheduler, PctScheduler, RandomScheduler, ReplayScheduler, Schedule, Scheduler, Task, TaskId,
};
use shuttle::{Config, FailurePersistence, Runner};

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
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let ok = std::panic::catch_unwind(|| ReplayScheduler::new_from_encoded(schedule)).is_ok();
    std::panic::set_hook(hook);
    ok
}

/// Replay one schedule string of a shuttle failure.
pub fn replay(scenario: &Scenario, schedule: &str, s: &Settings) -> Outcome {
    let mut sched = ReplayScheduler::new_from_encoded(schedule);
    sched.set_allow_incomplete();
    drive(
        scenario,
        EngineKind::ShuttlePct,
        s,
        sched,
        Coverage::Bounded("one replayed schedule".into()),
    )
}

/// Shuttle prints every failure's schedule to stderr itself; the report carries it instead.
/// While any shuttle run is under way, fd 2 points at /dev/null (counted, so concurrent runs
/// in the test harness restore it once, at the end).
struct SilencedStderr;

static SILENCE: std::sync::Mutex<(usize, i32)> = std::sync::Mutex::new((0, -1));

impl SilencedStderr {
    fn start() -> SilencedStderr {
        let mut g = SILENCE.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 == 0 {
            // SAFETY: plain fd syscalls on fds we own; failures leave stderr as it was.
            unsafe {
                let saved = libc::dup(2);
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
                if saved >= 0 && null >= 0 {
                    libc::dup2(null, 2);
                    libc::close(null);
                    g.1 = saved;
                }
            }
        }
        g.0 += 1;
        SilencedStderr
    }
}

impl Drop for SilencedStderr {
    fn drop(&mut self) {
        let mut g = SILENCE.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        if g.0 == 0 && g.1 >= 0 {
            // SAFETY: restores the fd saved by `start`.
            unsafe {
                libc::dup2(g.1, 2);
                libc::close(g.1);
            }
            g.1 = -1;
        }
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

fn drive(
    scenario: &Scenario,
    engine: EngineKind,
    s: &Settings,
    sched: impl Scheduler + 'static,
    bounded: Coverage,
) -> Outcome {
    let start = Instant::now();
    let p = Program::new(scenario);
    let body = p.clone();
    let _quiet = Exploring::start();
    let _stderr = SilencedStderr::start();
    let complete = Rc::new(Cell::new(false));
    let sched = StopWithoutChoice {
        inner: sched,
        executions: 0,
        chose: false,
        complete: complete.clone(),
    };
    let r = catch_unwind(AssertUnwindSafe(|| {
        Runner::new(sched, config(s)).run(move || execute(&body, Engine::Shuttle))
    }));
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
            let msg = super::panic_message(&*payload);
            let verdict = match classify(&*payload, &p) {
                Verdict::Inconclusive(why) => Verdict::Inconclusive(format!(
                    "{why} in iteration {} of {}",
                    super::count(execs),
                    super::count(s.iterations as u64)
                )),
                v => v,
            };
            (verdict, schedule_of(&msg), p.recorder.events())
        }
    };
    Outcome {
        engine,
        verdict,
        executions: execs,
        preemptions: None,
        schedule,
        settings: s.clone(),
        trace,
        elapsed: start.elapsed(),
        witness: None,
        first_found: None,
        lock_holds: p.lock_holds(),
    }
}

/// The schedule string shuttle puts in a failure's message.
fn schedule_of(msg: &str) -> Option<String> {
    let rest = msg.split("failing schedule:").nth(1)?;
    let body = rest.split('"').nth(1)?;
    Some(body.trim().to_string())
}
