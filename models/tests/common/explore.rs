//! Exhaustive loom exploration of a small program, for soundness pairs: how many executions
//! loom ran, the first violation, and in how many executions the code under test was reached.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use iommu_models::check::Kind;
use iommu_models::engine::{leave, Engine};
use iommu_models::trace::Recorder;

/// What loom saw over every execution of a program.
#[derive(Debug)]
pub struct Outcome {
    pub executions: usize,
    /// The first violation's kind, if an execution raised one.
    pub violation: Option<Kind>,
    /// Executions that reached the code under test (as `reached` judged their trace).
    pub reached: usize,
}

/// Run `body` under loom, exhaustively (no preemption bound), stopping at the first
/// violation as a scenario run does. After each execution that ends without a violation,
/// `reached` is asked whether it reached the code under test. One recorder serves every
/// execution and is reset between them, as the engines do, so lockdep's order graph spans
/// the run; a deadlock (loom's finding, not a check's) is `Kind::Deadlock`, as the engines
/// classify it.
pub fn explore(
    body: impl Fn() + Send + Sync + 'static,
    reached: impl Fn(&Recorder) -> bool + Send + Sync + 'static,
) -> Outcome {
    let raw = explore_raw(Recorder::default(), body, reached);
    let violation = raw.failure.map(|(msg, kind)| {
        kind.or_else(|| msg.contains("deadlock").then_some(Kind::Deadlock))
            .unwrap_or_else(|| panic!("loom stopped on a panic that recorded no violation: {msg}"))
    });
    Outcome {
        executions: raw.executions,
        violation,
        reached: raw.reached,
    }
}

/// What loom saw, with the panic that stopped it as it was: its message, and the kind of
/// the violation it recorded, if any (a model error records none).
#[derive(Debug)]
pub struct RawOutcome {
    pub executions: usize,
    pub failure: Option<(String, Option<Kind>)>,
    pub reached: usize,
}

/// [`explore`] with `rec` as the recorder (named threads), returning the stopping panic
/// as it was.
pub fn explore_raw(
    rec: Recorder,
    body: impl Fn() + Send + Sync + 'static,
    reached: impl Fn(&Recorder) -> bool + Send + Sync + 'static,
) -> RawOutcome {
    let executions = Arc::new(AtomicUsize::new(0));
    let reached_n = Arc::new(AtomicUsize::new(0));
    let rec = Arc::new(rec);
    let (e, r, rc) = (executions.clone(), reached_n.clone(), rec.clone());
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = None;
    let failed = catch_unwind(AssertUnwindSafe(move || {
        builder.check(move || {
            rc.reset();
            e.fetch_add(1, Ordering::Relaxed);
            iommu_models::trace::enter(Engine::Loom, rc.clone());
            body();
            leave();
            if reached(&rc) {
                r.fetch_add(1, Ordering::Relaxed);
            }
        })
    }));
    let failure = failed.err().map(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        (msg, rec.violation().map(|v| v.kind))
    });
    RawOutcome {
        executions: executions.load(Ordering::Relaxed),
        failure,
        reached: reached_n.load(Ordering::Relaxed),
    }
}

impl Outcome {
    /// Loom found a violation of `kind`.
    pub fn fires(&self, kind: Kind) {
        assert_eq!(self.violation, Some(kind), "{self:?}");
    }

    /// `holds (complete)`: every execution explored without a violation, the code under test
    /// reached, and more than one execution (one would mean loom saw no race at all).
    pub fn holds(&self) {
        assert_eq!(self.violation, None, "{self:?}");
        assert!(
            self.reached > 0,
            "the twin never reached its code: {self:?}"
        );
        assert!(self.executions > 1, "loom saw no race to explore: {self:?}");
    }
}

/// True if some thread of the recorded execution recorded a step starting with `label`.
pub fn stepped(rec: &Recorder, label: &str) -> bool {
    rec.with_events(|ev| {
        ev.iter()
            .any(|e| matches!(&e.op, iommu_models::trace::Op::Step(l) if l.starts_with(label)))
    })
}

thread_local! {
    static REACHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Mark that this execution reached the code under test (the access a free could race).
pub fn reached() {
    REACHED.with(|r| r.set(true));
}

/// [`explore`] where an execution counts as reaching the code under test if it called
/// [`reached`]. After `body`, the agents it left (timer softirqs, kworkers, RCU callbacks)
/// are joined, as the engines do at the end of every execution.
pub fn explore_reaching(body: impl Fn() + Send + Sync + 'static) -> Outcome {
    let (body, reached) = reaching(body);
    explore(body, reached)
}

/// [`explore_raw`] (named threads in `rec`, the stopping panic as it was) with
/// [`explore_reaching`]'s notion of reaching.
#[allow(dead_code)] // not every test binary uses it
pub fn explore_raw_reaching(rec: Recorder, body: impl Fn() + Send + Sync + 'static) -> RawOutcome {
    let (body, reached) = reaching(body);
    explore_raw(rec, body, reached)
}

/// `body` wrapped to reset [`reached`] first and join the agents after, and the check of
/// whether the execution reached.
fn reaching(
    body: impl Fn() + Send + Sync + 'static,
) -> (
    impl Fn() + Send + Sync + 'static,
    impl Fn(&Recorder) -> bool + Send + Sync + 'static,
) {
    (
        move || {
            REACHED.with(|x| x.set(false));
            body();
            iommu_models::kernel::agents::join_all();
        },
        |_: &Recorder| REACHED.with(|x| x.get()),
    )
}

/// A kzalloc'ed object with one field, for pairs that race a free against an access.
pub struct Obj1 {
    pub field: iommu_models::kernel::Atomic64,
}

/// A new [`Obj1`] from `cache`.
pub fn new_object(cache: &iommu_models::kernel::Slab) -> iommu_models::kernel::KBox<Obj1> {
    use iommu_models::kernel::{kzalloc, Atomic64, Gfp};
    kzalloc(cache, Gfp::Kernel, |obj, shadow| Obj1 {
        field: Atomic64::in_allocation(obj, 0, shadow),
    })
    .unwrap()
}
