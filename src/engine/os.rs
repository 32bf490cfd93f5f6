//! os: the same code on real threads, many repetitions. A smoke test on real hardware: it
//! proves nothing when it passes, and a failure it finds is real on this machine.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

use iommu_models::engine::Engine;

use super::{
    classify, execute, Coverage, EngineKind, Exploring, Outcome, Program, Settings, Verdict,
};
use crate::scenario::Scenario;

/// Run `scenario` `settings.iterations` times on real threads.
pub fn run(scenario: &Scenario, s: &Settings) -> Outcome {
    let start = Instant::now();
    let p = Program::new(scenario);
    super::progress::watch(&p, "os", None);
    let _quiet = Exploring::start();
    let mut verdict = None;
    let mut trace = vec![];
    for _ in 0..s.iterations {
        if s.max_time.is_some_and(|t| start.elapsed() >= t) {
            let n = p.executions.load(Ordering::Relaxed);
            verdict = Some(Verdict::Inconclusive(format!(
                "{} after {} of {} runs",
                super::time_limit_reached(s),
                super::count(n),
                super::count(s.iterations as u64)
            )));
            break;
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| execute(&p, Engine::Std))) {
            verdict = Some(classify(&*payload, &p));
            trace = p.recorder.events();
            break;
        }
    }
    let verdict = verdict.unwrap_or_else(|| {
        p.holds(Coverage::Bounded(format!(
            "{} runs on real threads (a smoke test)",
            s.iterations
        )))
    });
    Outcome {
        engine: EngineKind::Os,
        verdict,
        executions: p.executions.load(Ordering::Relaxed),
        preemptions: None,
        schedule: None,
        replayed: false,
        settings: s.clone(),
        trace,
        elapsed: start.elapsed(),
        witness: None,
        first_found: None,
        lock_holds: p.lock_holds(),
    }
}
