//! loom: exhaustive exploration with DPOR.
//!
//! Iterative deepening: the preemption bound is raised 0, 1, 2, ... and the first bound at
//! which a violation appears is the number of preemptions the counterexample needs. Without
//! a bound from the user, a final unbounded run makes a `holds` complete.
//!
//! Plain witnesses first: loom explores the C11 model, so its first counterexample may read
//! a write older than the latest (see [`crate::witness`]), or rest on loom's causality
//! check (an access and a free that nothing orders). A reviewer reads such a trace as a
//! barrier problem. So after a counterexample, the same deepening runs again with every
//! access sequentially consistent ([`kengine::set_plain`]): a plain interleaving found
//! there is the witness shown, with the fewest preemptions among plain ones. Only when that search is complete and finds nothing is the
//! weak witness shown, and then it is one that no plain interleaving can replace.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

use iommu_models::engine::{self as kengine, Engine};

use super::{
    classify, execute, Coverage, EngineKind, Exploring, Outcome, Program, Settings, Verdict,
    Witness,
};
use crate::scenario::Scenario;

/// Explore `scenario` with loom; a weak-memory counterexample is replaced by a plain one
/// where one exists.
pub fn run(scenario: &Scenario, s: &Settings) -> Outcome {
    let start = Instant::now();
    let out = deepen(scenario, s, start);
    let Verdict::Violated(first) = &out.verdict else {
        return out;
    };
    let first = first.kind;
    // Even a trace with no stale read may rest on loom's causality check (an access and a
    // free that nothing orders), which no interleaving shows as it stands: search always.
    // From bound 0: loom's bounded searches are not guaranteed to contain one another, so
    // the plain witness with the fewest preemptions is looked for from the start.
    kengine::set_plain(true);
    let plain = deepen(scenario, s, start);
    kengine::set_plain(false);
    let executions = out.executions + plain.executions;
    match plain.verdict {
        Verdict::Violated(ref v) => Outcome {
            executions,
            witness: Some(Witness::Plain),
            first_found: (first != v.kind).then_some(first),
            ..plain
        },
        // A bug of the model that only the plain run meets is not hidden behind a witness.
        Verdict::ModelError(_) => Outcome {
            executions,
            ..plain
        },
        v => Outcome {
            executions,
            witness: Some(Witness::Weak {
                plain_search: match v {
                    Verdict::Holds(c) => c,
                    Verdict::Inconclusive(m) | Verdict::Vacuous(m) => Coverage::Bounded(m),
                    Verdict::Violated(_) | Verdict::ModelError(_) => {
                        unreachable!("matched above")
                    }
                },
            }),
            elapsed: start.elapsed(),
            ..out
        },
    }
}

/// Iterative deepening, as [`run`] describes.
fn deepen(scenario: &Scenario, s: &Settings, start: Instant) -> Outcome {
    let mut total = 0u64;
    let bounds: Vec<Option<usize>> = match s.preemption_bound {
        Some(b) => (0..=b).map(Some).collect(),
        None => (0..=s.deepen_to).map(Some).chain([None]).collect(),
    };
    let mut last = Verdict::Holds(Coverage::Complete);
    // The last bound explored whole, for a run a limit cuts off.
    let mut done = None;
    let mut lock_holds = vec![];
    for bound in bounds {
        let remaining = s.max_time.map(|t| t.saturating_sub(start.elapsed()));
        let (verdict, execs, trace, holds) = once(scenario, s, bound, remaining);
        total += execs;
        // The widest exploration so far measures the locks.
        lock_holds = holds;
        match verdict {
            // Reachability is judged on the last (widest) exploration.
            Verdict::Vacuous(m) => {
                last = Verdict::Vacuous(m);
                done = bound;
            }
            Verdict::Holds(_) => {
                done = bound;
                last = Verdict::Holds(match bound {
                    None => Coverage::Complete,
                    Some(b) => Coverage::Bounded(format!(
                        "every execution with at most {b} preemption{}",
                        if b == 1 { "" } else { "s" }
                    )),
                });
            }
            v => {
                let v = match v {
                    Verdict::Inconclusive(why) => Verdict::Inconclusive(super::loom_cut_off(
                        &why,
                        total,
                        done.map(|b| (b, &last)),
                        bound,
                    )),
                    v => v,
                };
                return Outcome {
                    engine: EngineKind::Loom,
                    preemptions: match v {
                        Verdict::Violated(_) => bound,
                        _ => None,
                    },
                    verdict: v,
                    executions: total,
                    schedule: None,
                    replayed: false,
                    settings: s.clone(),
                    trace,
                    elapsed: start.elapsed(),
                    witness: None,
                    first_found: None,
                    lock_holds,
                };
            }
        }
    }
    Outcome {
        engine: EngineKind::Loom,
        verdict: last,
        executions: total,
        preemptions: None,
        schedule: None,
        replayed: false,
        settings: s.clone(),
        trace: vec![],
        elapsed: start.elapsed(),
        witness: None,
        first_found: None,
        lock_holds,
    }
}

/// One unbounded exploration without deepening (the benchmark's like-for-like run).
pub fn run_unbounded(scenario: &Scenario, s: &Settings) -> Outcome {
    let start = Instant::now();
    let (verdict, executions, trace, lock_holds) = once(scenario, s, None, s.max_time);
    let verdict = match verdict {
        Verdict::Inconclusive(why) => {
            Verdict::Inconclusive(super::loom_cut_off(&why, executions, None, None))
        }
        v => v,
    };
    Outcome {
        engine: EngineKind::Loom,
        verdict,
        executions,
        preemptions: None,
        schedule: None,
        replayed: false,
        settings: s.clone(),
        trace,
        elapsed: start.elapsed(),
        witness: None,
        first_found: None,
        lock_holds,
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
    // The environment's LOOM_CHECKPOINT_FILE would make every run panic (loom is built
    // without its checkpoint feature).
    b.checkpoint_file = None;
    b
}

/// One loom exploration with `bound`; returns the verdict, the executions it ran, and the
/// failing trace.
fn once(
    scenario: &Scenario,
    s: &Settings,
    bound: Option<usize>,
    time: Option<std::time::Duration>,
) -> (
    Verdict,
    u64,
    Vec<iommu_models::trace::Event>,
    Vec<super::LockHold>,
) {
    let p = Program::new(scenario);
    super::progress::watch(&p, "loom", Some(bound));
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
                    Verdict::Inconclusive(super::time_limit_reached(s)),
                    execs,
                    vec![],
                    p.lock_holds(),
                )
            } else {
                (p.holds(Coverage::Complete), execs, vec![], p.lock_holds())
            }
        }
        Err(payload) => (
            classify(&*payload, &p),
            execs,
            p.recorder.events(),
            p.lock_holds(),
        ),
    }
}
