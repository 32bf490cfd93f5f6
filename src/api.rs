//! The library API, for a kernel developer's own crate: check a model of a patch with
//! `cargo test`, as `loom::model` and `shuttle::check_pct` check Rust code.
//!
//! ```no_run
//! use iommu_mc::kernel::{kfree, kzalloc, read_once, Atomic64, Gfp, Slab};
//! use iommu_mc::{check, thread, EngineKind};
//! use std::sync::Arc;
//!
//! let checked = check(EngineKind::Loom, || {
//!     let cache = Arc::new(Slab::new("dev_iommu"));
//!     let p = kzalloc(&cache, Gfp::Kernel, |obj, s| Atomic64::in_allocation(obj, 0, s)).unwrap();
//!     let q = p.clone();
//!     let a = thread::spawn("A", move || kfree(&q));
//!     let b = thread::spawn("B", move || {
//!         read_once(p.get());
//!     });
//!     a.join();
//!     b.join();
//! });
//! assert!(!checked.holds()); // a use-after-free, with its report:
//! println!("{}", checked.text());
//! ```
//!
//! A closure model has the same kernel API, checks, engines, witnesses and reports as the
//! built-in models. A model with operations and variants (the [`spec::Model`] contract) is
//! registered with [`registry::register`] and then runs from scenario files:
//! [`check_scenarios`], or a binary of the user's that calls [`crate::cli::main_with`].
//!
//! Panics while a check explores are its verdicts, kept off stderr by a panic hook that the
//! first check sets up ([`crate::engine::install_panic_hook`]). In a test binary that also
//! runs loom or shuttle directly, or sets a panic hook of its own, on other test threads,
//! call that function first (a `#[test]`'s first line will do; it runs once): loom's
//! coroutines and shuttle each set a hook at their first run, and two threads setting hooks
//! at once can lose one, so that a violation prints its panic.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::engine::{self, Outcome, Settings, Verdict};
use crate::judge;
use crate::report::{self, Report};
use crate::scenario::{Body, Expect, Expected, Scenario};

pub use crate::scenario::EngineKind;
pub use iommu_models::check::{ensure, raise, Kind};
pub use iommu_models::{kernel, registry, spec, thread};

/// A check of a closure model, with its name and what it must reach; [`check`] is the
/// short form.
#[derive(Clone, Debug)]
pub struct Check {
    name: String,
    engine: EngineKind,
    settings: Settings,
    reaches: Vec<String>,
}

/// What a check found: the outcome, and the report a reviewer reads.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The engine's outcome (verdict, executions, trace).
    pub outcome: Outcome,
    /// The report of it.
    pub report: Report,
}

impl Check {
    /// A check called `name` (what reports and the reproduce line name) under `engine`.
    pub fn new(name: &str, engine: EngineKind) -> Check {
        Check {
            name: name.to_string(),
            engine,
            settings: Settings::default(),
            reaches: Vec::new(),
        }
    }

    /// Steps (labels of `iommu_models::trace::step`, or their start) that some execution
    /// must reach, or a `holds` is `vacuous`.
    pub fn reaches(mut self, steps: &[&str]) -> Check {
        self.reaches = steps.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Limits and knobs (preemption bound, iterations, seed, time).
    pub fn settings(mut self, settings: Settings) -> Check {
        self.settings = settings;
        self
    }

    /// Run `body` under the engine: every execution runs it afresh.
    pub fn run(&self, body: impl Fn() + Send + Sync + 'static) -> Checked {
        let names = Arc::new(Mutex::new(Vec::new()));
        let mut sc = Scenario {
            path: self.name.clone().into(),
            name: self.name.clone(),
            title: self.name.clone(),
            source: None,
            note: None,
            model: &CLOSURE,
            variant: "as-written".into(),
            params: Vec::new(),
            config: Default::default(),
            setup: Vec::new(),
            threads: Vec::new(),
            expect: Expect {
                verdict: Expected::Holds,
                kinds: Vec::new(),
                engines: vec![self.engine],
                reaches: self.reaches.clone(),
            },
            body: Some(Body {
                run: Arc::new(body),
                names: names.clone(),
            }),
        };
        let outcome = engine::run(&sc, self.engine, &self.settings);
        sc.threads = names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|n| crate::scenario::Thread {
                name: n.clone(),
                calls: Vec::new(),
                hardware: false,
            })
            .collect();
        let report = report::build(&sc, &outcome);
        Checked { outcome, report }
    }
}

/// Check `body` under `engine`: `iommu_mc::check(EngineKind::Loom, || { ... })`.
pub fn check(engine: EngineKind, body: impl Fn() + Send + Sync + 'static) -> Checked {
    Check::new("closure", engine).run(body)
}

/// Check `body` under loom, exhaustively, and panic with the text report unless it holds
/// (complete): the `loom::model` of iommu-mc, for `#[test]` functions. It cannot tell
/// whether the body reached the race it is about: for a hold that says so, use
/// [`Check::reaches`].
pub fn model(body: impl Fn() + Send + Sync + 'static) {
    check(EngineKind::Loom, body).assert_holds();
}

impl Checked {
    /// True if no execution violated anything and the exploration was complete.
    pub fn holds(&self) -> bool {
        matches!(
            self.outcome.verdict,
            Verdict::Holds(engine::Coverage::Complete)
        )
    }

    /// The kind of the violation found, if one was.
    pub fn violation(&self) -> Option<Kind> {
        match &self.outcome.verdict {
            Verdict::Violated(v) => Some(v.kind),
            _ => None,
        }
    }

    /// The report as email text.
    pub fn text(&self) -> String {
        report::text::render(&self.report)
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        report::json::render(&self.report)
    }

    /// Panic with the text report unless the check holds (complete).
    #[track_caller]
    pub fn assert_holds(&self) {
        if !self.holds() {
            panic!(
                "iommu-mc: expected holds (complete), got {}\n\n{}",
                judge::describe(&self.outcome.verdict),
                self.text()
            );
        }
    }

    /// Panic with the text report unless a violation of `kind` was found.
    #[track_caller]
    pub fn assert_violated(&self, kind: Kind) {
        if self.violation() != Some(kind) {
            panic!(
                "iommu-mc: expected a {kind}, got {}\n\n{}",
                judge::describe(&self.outcome.verdict),
                self.text()
            );
        }
    }
}

/// Register `models`, load every scenario file under `dir`, run each under its engines, and
/// panic listing each that did not get its expected verdict (with its report). For a
/// user's crate: scenario files over models registered from it, in `cargo test`.
pub fn check_scenarios(models: &[&'static spec::ModelSpec], dir: impl AsRef<Path>) {
    for m in models {
        if let Err(e) = registry::register(m) {
            panic!("{e}");
        }
    }
    let scenarios = match crate::check::load_all(&[dir.as_ref().to_path_buf()]) {
        Ok(s) => s,
        Err(errors) => panic!(
            "{}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    assert!(
        !scenarios.is_empty(),
        "no scenario files under {}",
        dir.as_ref().display()
    );
    let mut failed = Vec::new();
    for sc in &scenarios {
        for &e in &sc.expect.engines {
            let out = engine::run(sc, e, &Settings::default());
            let j = judge::judge(sc, &out);
            if let judge::Judgement::Fail(why) = j {
                failed.push(format!(
                    "{} under {}: {why}\n{}",
                    sc.id(),
                    e.name(),
                    report::text::render(&report::build(sc, &out))
                ));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

iommu_models::variants! {
    /// A closure model has one variant: the code as written.
    enum AsWritten {
        /// the closure, as written
        AsWritten = "as-written",
    }
}

iommu_models::operations! {
    /// A closure model has no operations: it runs as a whole.
    enum NoOp {}
}

/// The model of every closure check: what reports name ("closure", variant "as-written").
/// It is never built: the execution runs the closure instead of a world.
struct ClosureModel;

impl spec::Model for ClosureModel {
    type Variant = AsWritten;
    type Op = NoOp;
    type Params = ();
    fn build(_: AsWritten, _: &()) -> Self {
        ClosureModel
    }
    fn run(&self, op: &NoOp) {
        match *op {}
    }
}

static CLOSURE: spec::ModelSpec = spec::ModelSpec::of::<ClosureModel>(spec::About {
    name: "closure",
    about: "a model written as one closure (iommu_mc::check)",
    seed: "",
    mirrors: "",
    invariants: &[],
});
