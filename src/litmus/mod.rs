//! Litmus conformance: the kernel's C litmus tests (herd7's format) run under loom through
//! the kernel API, each observed result compared with the one the LKMM gives (the file's
//! `Result:` line).
//!
//! A disagreement is either known, listed in [`KNOWN`] with the fidelity row that explains
//! it, or new. `iommu-mc litmus` exits 0 only when every disagreement is a known one with
//! the listed observation, and every known one is still seen.

pub mod parse;
pub mod run;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::scenario::ScenarioError;
pub use parse::{Expect, Litmus};
pub use run::Observed;

/// Known disagreements: `(test name, what loom observes, fidelity key)`. The key names a
/// row of `iommu_models::kernel::FIDELITY`, which says why.
pub const KNOWN: &[(&str, Expect, &str)] = &[
    ("LB+onces", Expect::Never, "load-buffering"),
    ("WRC+wmb+rmb", Expect::Never, "smp_wmb"),
    ("ISA2+locks+mb", Expect::Sometimes, "lock-cumulativity"),
    ("S+release+ctrl", Expect::Sometimes, "modification-order"),
    ("MP+assign+deref", Expect::Never, "rcu_dereference"),
];

/// `litmus --max-time`'s default: the wall-clock limit per test, in seconds.
pub const MAX_TIME_S: u64 = 600;

/// `litmus --max-branches`'s default: loom's branches per execution before giving up.
pub const MAX_BRANCHES: usize = 10_000;

/// Every litmus file of `paths` (files, or folders searched for `*.litmus`), parsed; all
/// errors, not just the first.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Litmus>, Vec<ScenarioError>> {
    crate::check::load_files(paths, "litmus", parse::load)
}

/// How one test came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Observed what the LKMM gives.
    Agrees,
    /// A listed disagreement, seen as listed: the fidelity key.
    Known(&'static str),
    /// A disagreement not listed (or not as listed), or a run that gave no result.
    Disagrees,
    /// Listed as a known disagreement, but now agrees: the list is stale.
    NowAgrees(&'static str),
}

/// One test's row.
pub struct Row {
    /// The test.
    pub test: Litmus,
    /// What loom saw.
    pub observed: Observed,
    /// The comparison.
    pub status: Status,
}

/// Judge `observed` for `test` against its header and [`KNOWN`].
pub fn judge(test: &Litmus, observed: &Observed) -> Status {
    let got = observed.result();
    let known = KNOWN.iter().find(|k| k.0 == test.name);
    match (got == Some(test.expected), known) {
        (true, None) => Status::Agrees,
        (true, Some(k)) => Status::NowAgrees(k.2),
        (false, Some(k)) if got == Some(k.1) => Status::Known(k.2),
        (false, _) => Status::Disagrees,
    }
}

impl Row {
    /// The line printed for this test.
    pub fn line(&self) -> String {
        let o = &self.observed;
        let seen = o.result().map_or("-", Expect::name);
        let verdict = match &self.status {
            Status::Agrees => "agrees".to_string(),
            Status::Known(k) => format!("DISAGREES (known; fidelity row `{k}`)"),
            Status::Disagrees => "DISAGREES".to_string(),
            Status::NowAgrees(k) => {
                format!("agrees, but is listed as a known disagreement ({k}): update KNOWN")
            }
        };
        let mut s = format!(
            "{:<34} expected {:<9} observed {:<9} {verdict} [{} exec, {}/{} satisfy exists, {:.2} s]",
            self.test.name,
            self.test.expected.name(),
            seen,
            o.executions,
            o.satisfied,
            o.counted,
            o.elapsed.as_secs_f64()
        );
        if let Some(e) = &o.error {
            let _ = write!(s, "\n    {e}");
        }
        s
    }
}

/// Run every test on up to `jobs` threads ([`crate::pool`]), calling `progress` with each
/// row in the order of `tests`.
pub fn run_all(
    tests: &[Litmus],
    max_time: Duration,
    max_branches: usize,
    jobs: usize,
    progress: impl FnMut(&Row),
) -> Vec<Row> {
    crate::pool::map_ordered(
        tests,
        jobs,
        |t| {
            let observed = run::run(t, max_time, max_branches);
            Row {
                test: t.clone(),
                status: judge(t, &observed),
                observed,
            }
        },
        progress,
    )
}

/// The cause of a known disagreement: its fidelity row.
pub fn cause(key: &str) -> Option<&'static str> {
    iommu_models::kernel::FIDELITY
        .iter()
        .find(|r| r.0 == key)
        .map(|r| r.1)
}

/// Each known disagreement seen, with its cause; then `agreement: N of M` and whether the
/// run passes: no disagreement but known ones, no stale known one.
pub fn summary(rows: &[Row]) -> (String, bool) {
    let mut out = String::new();
    for r in rows {
        if let Status::Known(k) = r.status {
            let _ = writeln!(
                out,
                "known: {}: {}",
                r.test.name,
                cause(k).unwrap_or("(no such fidelity row)")
            );
        }
    }
    let count = |f: &dyn Fn(&Status) -> bool| rows.iter().filter(|r| f(&r.status)).count();
    let agree = count(&|s| matches!(s, Status::Agrees | Status::NowAgrees(_)));
    let known = count(&|s| matches!(s, Status::Known(_)));
    let stale = count(&|s| matches!(s, Status::NowAgrees(_)));
    let bad = rows.len() - agree - known;
    let _ = write!(
        out,
        "agreement: {agree} of {}; {known} known disagreement(s), {bad} unexplained",
        rows.len()
    );
    if stale > 0 {
        let _ = write!(out, ", {stale} listed in KNOWN but no longer seen");
    }
    (out, bad == 0 && stale == 0)
}
