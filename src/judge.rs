//! The observed verdict against the scenario's expectation.

use crate::engine::{Outcome, Verdict};
use crate::scenario::{Expected, Scenario};

/// Whether an outcome is what the scenario expects, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// As expected.
    Pass,
    /// Not as expected: what was expected and what was seen.
    Fail(String),
}

impl Judgement {
    /// True for [`Judgement::Pass`].
    pub fn passed(&self) -> bool {
        *self == Judgement::Pass
    }
}

/// The verdict as one phrase: `violated (use-after-free)`, `holds (complete)`.
pub fn describe(v: &Verdict) -> String {
    match v {
        Verdict::Holds(crate::engine::Coverage::Complete) => "holds (complete)".into(),
        Verdict::Holds(crate::engine::Coverage::Bounded(b)) => format!("holds (bounded: {b})"),
        Verdict::Violated(x) => format!("violated ({})", x.kind),
        Verdict::Inconclusive(why) => format!("inconclusive ({why})"),
        Verdict::ModelError(m) => format!("model-error ({m})"),
        Verdict::Vacuous(m) => format!("vacuous ({m})"),
    }
}

/// The expectation as one phrase.
pub fn expected(sc: &Scenario) -> String {
    match sc.expect.verdict {
        Expected::Holds => "holds".into(),
        Expected::Violated => {
            let k: Vec<&str> = sc.expect.kinds.iter().map(|k| k.name()).collect();
            format!("violated ({})", k.join(" or "))
        }
    }
}

/// Judge `out` against `sc`'s expectation.
pub fn judge(sc: &Scenario, out: &Outcome) -> Judgement {
    let ok = match (&out.verdict, sc.expect.verdict) {
        (Verdict::Holds(_), Expected::Holds) => true,
        (Verdict::Violated(v), Expected::Violated) => sc.expect.kinds.contains(&v.kind),
        _ => false,
    };
    if ok {
        Judgement::Pass
    } else {
        Judgement::Fail(format!(
            "expected {}, got {}",
            expected(sc),
            describe(&out.verdict)
        ))
    }
}
