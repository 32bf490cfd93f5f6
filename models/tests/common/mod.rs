//! The helper the model crate's tests share: run a program sequentially under the Std
//! engine, catching the checker's panic, and assert that a check fired or stayed silent.

#![allow(dead_code)]

pub mod explore;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use iommu_models::check::{Kind, Violation, PANIC_PREFIX};
use iommu_models::engine::{leave, Engine};
use iommu_models::trace::Recorder;

/// What a sequential program did under the Std engine.
pub struct Run<R> {
    pub rec: Arc<Recorder>,
    /// `Ok` with the program's result, or `Err` with the panic message.
    pub result: Result<R, String>,
}

impl<R: std::fmt::Debug> Run<R> {
    /// The program stayed silent: no panic, no violation. Returns its result.
    pub fn silent(self) -> R {
        assert_eq!(self.rec.violation(), None, "unexpected violation");
        self.result.expect("the program panicked")
    }

    /// The program raised exactly `kind`, with a message containing every one of `needles`,
    /// and unwound with the checker's panic.
    pub fn fires(&self, kind: Kind, needles: &[&str]) -> Violation {
        let msg = match &self.result {
            Ok(r) => panic!("expected a {kind} violation, the program returned {r:?}"),
            Err(m) => m,
        };
        let v = self
            .rec
            .violation()
            .expect("the program panicked without recording a violation");
        assert_eq!(v.kind, kind, "violation: {v:?}");
        for needle in needles {
            assert!(
                v.message.contains(needle),
                "message {:?} does not contain {needle:?}",
                v.message
            );
        }
        assert!(
            msg.starts_with(&format!("{PANIC_PREFIX}: {}: ", kind.name())),
            "panic message {msg:?}"
        );
        v
    }
}

/// Run `f` on this OS thread (model thread 0) under the Std engine, recording into `rec`,
/// catching the violation panic. Pass a fresh recorder, or one reused across "executions"
/// (after `rec.reset()`) to test what survives between them.
pub fn run_in<R>(rec: &Arc<Recorder>, f: impl FnOnce() -> R) -> Run<R> {
    iommu_models::trace::enter(Engine::Std, rec.clone());
    let result = catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    });
    leave();
    Run {
        rec: rec.clone(),
        result,
    }
}

/// [`run_in`] with a fresh recorder.
pub fn run_std<R>(f: impl FnOnce() -> R) -> Run<R> {
    run_in(&Arc::new(Recorder::default()), f)
}
