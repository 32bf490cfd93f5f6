//! loom: exhaustive exploration with DPOR.
//!
//! Iterative deepening: the preemption bound is raised 0, 1, 2, ... and the first bound at
//! which a violation appears is the number of preemptions the counterexample needs. Without
//! a bound from the user, a final unbounded run makes a `holds` complete.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

use iommu_models::kernel::engine::Engine;

use super::{
    classify, execute, Coverage, EngineKind, Exploring, Outcome, Program, Settings, Verdict,
};
use crate::scenario::Scenario;

/// Explore `scenario` with loom.
pub fn run(scenario: &Scenario, s: &Settings) -> Outcome {
    let start = Instant::now();
    let mut total = 0u64;
    let bounds: Vec<Option<usize>> = match s.preemption_bound {
        Some(b) => (0..=b).map(Some).collect(),
        None => (0..=s.deepen_to).map(Some).chain([None]).collect(),
    };
    let mut last = Verdict::Holds(Coverage::Complete);
    for bound in bounds {
        let remaining = s.max_time.map(|t| t.saturating_sub(start.elapsed()));
        let (verdict, execs, trace) = once(scenario, s, bound, remaining);
        total += execs;
        match verdict {
            // Reachability is judged on the last (widest) exploration.
            Verdict::Vacuous(m) => last = Verdict::Vacuous(m),
            Verdict::Holds(_) => {
                last = Verdict::Holds(match bound {
                    None => Coverage::Complete,
                    Some(b) => Coverage::Bounded(format!(
                        "every execution with at most {b} preemption{}",
                        if b == 1 { "" } else { "s" }
                    )),
                });
            }
            v => {
                return Outcome {
                    engine: EngineKind::Loom,
                    preemptions: match v {
                        Verdict::Violated(_) => bound,
                        _ => None,
                    },
                    verdict: v,
                    executions: total,
                    schedule: None,
                    settings: s.clone(),
                    trace,
                    elapsed: start.elapsed(),
                }
            }
        }
    }
    Outcome {
        engine: EngineKind::Loom,
        verdict: last,
        executions: total,
        preemptions: None,
        schedule: None,
        settings: s.clone(),
        trace: vec![],
        elapsed: start.elapsed(),
    }
}

/// One unbounded exploration without deepening (the benchmark's like-for-like run).
pub fn run_unbounded(scenario: &Scenario, s: &Settings) -> Outcome {
    let start = Instant::now();
    let (verdict, executions, trace) = once(scenario, s, None, s.max_time);
    Outcome {
        engine: EngineKind::Loom,
        verdict,
        executions,
        preemptions: None,
        schedule: None,
        settings: s.clone(),
        trace,
        elapsed: start.elapsed(),
    }
}

/// A loom model builder: `bound` preemptions (`None`: every execution), `max_branches`
/// per execution, at most `time` in all.
pub(crate) fn builder(
    bound: Option<usize>,
    max_branches: usize,
    time: Option<std::time::Duration>,
) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = bound;
    b.max_branches = max_branches;
    b.max_duration = time;
    // Check the time limit after every execution, not every 20,000.
    b.checkpoint_interval = 1;
    b.max_permutations = None;
    b
}

/// One loom exploration with `bound`; returns the verdict, the executions it ran, and the
/// failing trace.
fn once(
    scenario: &Scenario,
    s: &Settings,
    bound: Option<usize>,
    time: Option<std::time::Duration>,
) -> (Verdict, u64, Vec<iommu_models::trace::Event>) {
    let p = Program::new(scenario);
    let b = builder(bound, s.max_branches, time);
    let body = p.clone();
    let started = Instant::now();
    let _quiet = Exploring::start();
    let r = catch_unwind(AssertUnwindSafe(|| {
        b.check(move || execute(&body, Engine::Loom));
    }));
    let execs = p.executions.load(Ordering::Relaxed);
    match r {
        Ok(()) => {
            if time.is_some_and(|t| started.elapsed() >= t) {
                (
                    Verdict::Inconclusive(format!("time limit reached after {execs} executions")),
                    execs,
                    vec![],
                )
            } else {
                (p.holds(Coverage::Complete), execs, vec![])
            }
        }
        Err(payload) => (classify(&*payload, &p), execs, p.recorder.events()),
    }
}
