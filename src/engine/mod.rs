//! Engines: run a scenario's threads under loom, shuttle or real threads, and turn whatever
//! happens (a violation, a deadlock, a limit, a bug in a model) into exactly one verdict.
//!
//! Every engine runs the same execution body, [`execute`]: build the model's world, run the
//! setup, spawn the threads, join them, run the model's final checks.

pub mod loom;
pub mod os;
pub mod progress;
pub mod shuttle;
mod stderr;
pub mod stop;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use iommu_models::check::{Kind, Violation, PANIC_PREFIX};
use iommu_models::engine::{self as kengine, Engine};
use iommu_models::trace::{Event, Obj, Op, Recorder};

use crate::scenario::Scenario;

pub use crate::scenario::EngineKind;

/// Limits and knobs of one run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// loom: deepen the preemption bound 0, 1, ... up to this, then stop (bounded) if given;
    /// without it, deepen to [`Settings::deepen_to`] and then explore without a bound.
    pub preemption_bound: Option<usize>,
    /// loom: bounds tried before the unbounded run.
    pub deepen_to: usize,
    /// loom: branches per execution before loom gives up (inconclusive).
    pub max_branches: usize,
    /// shuttle / os: iterations (shuttle-dfs: the most it may take before being bounded).
    pub iterations: usize,
    /// shuttle-pct: bug depth.
    pub pct_depth: usize,
    /// shuttle: seed of the scheduler.
    pub seed: u64,
    /// Wall-clock limit of the whole run (inconclusive past it).
    pub max_time: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            preemption_bound: None,
            deepen_to: 2,
            max_branches: 10_000,
            iterations: 1_000,
            pct_depth: 3,
            seed: 0x10_3300,
            max_time: Some(Duration::from_secs(120)),
        }
    }
}

/// How much of the state space a `holds` covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Every execution (loom unbounded, shuttle-dfs to the end).
    Complete,
    /// Only part; says by what.
    Bounded(String),
}

/// The one verdict a run ends in.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// No explored execution violated anything.
    Holds(Coverage),
    /// An execution violated something; its trace is in the outcome.
    Violated(Violation),
    /// A limit was reached before a verdict: which.
    Inconclusive(String),
    /// A panic that is not a check: a bug in a model.
    ModelError(String),
    /// No execution violated anything, but none reached a step the scenario must exercise
    /// (its `reaches`): which ones. Such a `holds` would say nothing.
    Vacuous(String),
}

impl Verdict {
    /// `holds`, `violated`, `inconclusive`, `model-error`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Holds(_) => "holds",
            Verdict::Violated(_) => "violated",
            Verdict::Inconclusive(_) => "inconclusive",
            Verdict::ModelError(_) => "model-error",
            Verdict::Vacuous(_) => "vacuous",
        }
    }
}

/// What a run found, and how.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The engine.
    pub engine: EngineKind,
    /// The verdict.
    pub verdict: Verdict,
    /// Executions (loom) or iterations (shuttle, os) run in all, up to and including the
    /// failing one.
    pub executions: u64,
    /// loom: preemptions the counterexample needs (the bound it was first found at).
    pub preemptions: Option<usize>,
    /// shuttle: the schedule string that replays the failing execution.
    pub schedule: Option<String>,
    /// shuttle: this run replayed one given schedule (`iommu-mc replay`); it searched nothing,
    /// so its seed and iteration count say nothing.
    pub replayed: bool,
    /// The settings used (seed, bounds), for the report's replay line.
    pub settings: Settings,
    /// The trace of the failing execution (empty for `holds`).
    pub trace: Vec<Event>,
    /// Wall time (for the benchmark; never in reports).
    pub elapsed: Duration,
    /// loom: whether the counterexample is a plain interleaving (None for other engines and
    /// for runs without one).
    pub witness: Option<Witness>,
    /// loom: the kind of the counterexample loom found first, when the plain witness shown
    /// instead is of another kind (the first rested on weak memory or an unordered free).
    pub first_found: Option<Kind>,
    /// How long each lock the model measures was held, over the executions explored.
    pub lock_holds: Vec<LockHold>,
}

/// How long one lock was held at one call site, over every critical section of every
/// explored execution that ran to its end: the kernel calls its holder made inside (not the
/// hardware's own steps on its behalf, not narrative labels), and the invalidation waits
/// (`qi_submit_sync` completions) among them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LockHold {
    /// The lock (`iommu->lock`).
    pub lock: String,
    /// The call site: the operation whose step labels the critical section (`flip_pri`).
    pub site: String,
    /// Critical sections measured.
    pub sections: u64,
    /// Kernel calls inside a critical section: the most, and the median.
    pub max_steps: u64,
    /// See `max_steps`.
    pub median_steps: u64,
    /// Invalidation waits inside one: the most, and the median.
    pub max_waits: u64,
    /// See `max_waits`.
    pub median_waits: u64,
}

impl LockHold {
    /// One line for reports and the benchmark.
    pub fn describe(&self) -> String {
        format!(
            "{} in {}: held across at most {} kernel calls (median {}) and {} invalidation \
             waits (median {}), over {} critical section{}",
            self.lock,
            self.site,
            self.max_steps,
            self.median_steps,
            self.max_waits,
            self.median_waits,
            self.sections,
            if self.sections == 1 { "" } else { "s" }
        )
    }
}

/// One critical section: where, kernel calls inside, invalidation waits inside.
type Section = (String, u64, u64);

/// The critical sections of `lock` in `events`, in the scenario's threads. The site is the
/// operation named by the first step label inside (`flip_pri: ...` gives `flip_pri`).
fn critical_sections(events: &[Event], lock: &str) -> Vec<Section> {
    let is_lock = |e: &Event| matches!(e.obj, Obj::Named(n) if n == lock);
    // Per thread: the section it has open.
    let mut open: BTreeMap<usize, Section> = BTreeMap::new();
    let mut done = Vec::new();
    // The scenario's threads only: the setup's sections race nothing.
    for e in events.iter().filter(|e| e.thread != 0) {
        match &e.op {
            Op::Lock(_) if is_lock(e) => {
                open.insert(e.thread, (String::new(), 0, 0));
            }
            Op::Unlock(_) if is_lock(e) => done.extend(open.remove(&e.thread)),
            op => {
                let Some(s) = open.get_mut(&e.thread) else {
                    continue;
                };
                match op {
                    Op::Step(l) if l == iommu_models::hw::qi::WAIT_DONE => s.2 += 1,
                    Op::Step(l) => {
                        if s.0.is_empty() {
                            s.0 = l.split(':').next().unwrap_or_default().to_string();
                        }
                    }
                    // The hardware's own steps (cache sweeps) are not the CPU's calls.
                    _ if e.by_checker || e.location.file().contains("/hw/") => {}
                    _ => s.1 += 1,
                }
            }
        }
    }
    done
}

/// The median of `v` (the lower middle of an even count); 0 when empty.
fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

/// What a loom counterexample needs of the memory model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Witness {
    /// A plain (sequentially consistent) interleaving: every read returns the latest write.
    Plain,
    /// A weak-memory execution: some read returns an older write. The search for a plain
    /// interleaving with the same outcome covered this much and found none.
    Weak {
        /// How much of the plain state space was searched.
        plain_search: Coverage,
    },
}

/// The scenario as the execution body needs it: shared by every execution of a run.
pub(crate) struct Program {
    pub(crate) scenario: Scenario,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) executions: AtomicU64,
    /// The entries of the scenario's `reaches` that no finished execution has reached yet
    /// (once empty, executions no longer look).
    pub(crate) unreached: std::sync::Mutex<Vec<String>>,
    /// For each lock the model measures, the critical sections of every finished
    /// execution.
    pub(crate) sections: std::sync::Mutex<BTreeMap<&'static str, Vec<Section>>>,
}

impl Program {
    pub(crate) fn new(scenario: &Scenario) -> Arc<Program> {
        Arc::new(Program {
            scenario: scenario.clone(),
            recorder: Arc::new(Recorder::with_names(
                scenario.threads.iter().map(|t| t.name.clone()).collect(),
            )),
            executions: AtomicU64::new(0),
            unreached: std::sync::Mutex::new(scenario.expect.reaches.clone()),
            sections: std::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// The hold lengths of the measured locks, per call site, over the executions
    /// finished so far.
    pub(crate) fn lock_holds(&self) -> Vec<LockHold> {
        let sections = self.sections.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (lock, v) in sections.iter() {
            let mut sites: BTreeMap<&str, Vec<&Section>> = BTreeMap::new();
            for s in v {
                sites.entry(s.0.as_str()).or_default().push(s);
            }
            for (site, v) in sites {
                out.push(LockHold {
                    lock: lock.to_string(),
                    site: if site.is_empty() {
                        "(unlabelled)"
                    } else {
                        site
                    }
                    .to_string(),
                    sections: v.len() as u64,
                    max_steps: v.iter().map(|s| s.1).max().unwrap_or(0),
                    median_steps: median(v.iter().map(|s| s.1).collect()),
                    max_waits: v.iter().map(|s| s.2).max().unwrap_or(0),
                    median_waits: median(v.iter().map(|s| s.2).collect()),
                });
            }
        }
        out
    }

    /// `holds` with `coverage`, or `vacuous` if a step of the scenario's `reaches` was
    /// reached by no execution (a step counts if its label starts with the entry).
    pub(crate) fn holds(&self, coverage: Coverage) -> Verdict {
        let missing = self.unreached.lock().unwrap_or_else(|e| e.into_inner());
        if missing.is_empty() {
            Verdict::Holds(coverage)
        } else {
            Verdict::Vacuous(format!("no execution reached: {}", missing.join("; ")))
        }
    }
}

/// One execution of a scenario under `engine`: the body every engine runs.
pub(crate) fn execute(p: &Arc<Program>, engine: Engine) {
    p.recorder.reset();
    stop::check();
    p.executions.fetch_add(1, Ordering::Relaxed);
    iommu_models::trace::enter(engine, p.recorder.clone());
    let sc = &p.scenario;
    iommu_models::kernel::set_config(sc.config);
    match &sc.body {
        Some(body) => {
            (body.run)();
            iommu_models::kernel::agents::join_all();
            *body.names.lock().unwrap_or_else(|e| e.into_inner()) = p.recorder.names();
        }
        None => run_world(p),
    }
    let measured = sc.model.measured_locks;
    if !measured.is_empty() {
        let mut sections = p.sections.lock().unwrap_or_else(|e| e.into_inner());
        p.recorder.with_events(|ev| {
            for lock in measured {
                sections
                    .entry(lock)
                    .or_default()
                    .extend(critical_sections(ev, lock));
            }
        });
    }
    let mut unreached = p.unreached.lock().unwrap_or_else(|e| e.into_inner());
    if !unreached.is_empty() {
        p.recorder.with_events(|ev| {
            unreached.retain(|want| {
                !ev.iter()
                    .any(|e| matches!(&e.op, Op::Step(l) if l.starts_with(want.as_str())))
            })
        });
    }
}

/// A scenario file's execution: build the model's world, run the setup, spawn the threads,
/// join them, run the final checks.
fn run_world(p: &Program) {
    let sc = &p.scenario;
    let world: Arc<dyn iommu_models::spec::World> =
        Arc::from((sc.model.build)(&sc.variant, &sc.params));
    for call in &sc.setup {
        world.run(call);
    }
    // A setup that could not allocate leaves the threads a world the scenario did not ask
    // for, and a `holds` on it would say nothing: it is the scenario's error.
    if (p.recorder).with_events(|ev| ev.iter().any(|e| e.op == Op::AllocFail)) {
        panic!(
            "the setup failed: an allocation returned -ENOMEM before the threads started \
             (the pool is too small for the setup; shorten the setup or shrink the model's params)"
        );
    }
    let handles: Vec<_> = sc
        .threads
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let w = world.clone();
            let calls = t.calls.clone();
            kengine::spawn(i + 1, move || {
                for c in &calls {
                    w.run(c);
                }
            })
        })
        .collect();
    for h in handles {
        h.join();
    }
    // The kernel's agents (timer softirqs, kworkers, RCU callbacks) finish before the
    // final checks, as a teardown that flushes them would.
    iommu_models::kernel::agents::join_all();
    world.finish();
}

/// Run `scenario` under `engine`.
pub fn run(scenario: &Scenario, engine: EngineKind, settings: &Settings) -> Outcome {
    let start = Instant::now();
    let mut out = match engine {
        EngineKind::Loom => loom::run(scenario, settings),
        EngineKind::ShuttlePct | EngineKind::ShuttleRandom | EngineKind::ShuttleDfs => {
            shuttle::run(scenario, engine, settings)
        }
        EngineKind::Os => os::run(scenario, settings),
    };
    out.elapsed = start.elapsed();
    kengine::leave();
    out
}

/// `n` with thousands separators (`10,432`), as limits and progress are printed.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and `what`, plural unless one: `1 preemption`, `10,432 executions`.
pub(crate) fn counted(n: u64, what: &str) -> String {
    format!("{} {what}{}", count(n), if n == 1 { "" } else { "s" })
}

/// The wall-clock limit of `s` reached, with its value: `time limit (120 s) reached`.
pub(crate) fn time_limit_reached(s: &Settings) -> String {
    let t = s.max_time.unwrap_or_default();
    format!("time limit ({} s) reached", count(t.as_secs()))
}

/// Why a loom run was cut off, and how far it got: `why` (a limit reached) after `total`
/// executions, the last preemption bound explored whole and its verdict (`done`), and the
/// pass (`bound`, `None` unbounded) the limit cut off.
pub(crate) fn loom_cut_off(
    why: &str,
    total: u64,
    done: Option<(usize, &Verdict)>,
    bound: Option<usize>,
) -> String {
    let done = match done {
        None => "no preemption bound was explored whole".to_string(),
        Some((b, last)) => format!(
            "every execution with at most {} was explored ({})",
            counted(b as u64, "preemption"),
            if matches!(last, Verdict::Vacuous(_)) {
                "no violation"
            } else {
                "holds"
            }
        ),
    };
    let pass = bound.map_or("the unbounded pass".into(), |b| {
        format!("the bound-{b} pass")
    });
    format!(
        "{why} after {}; {done}; {pass} was cut off",
        counted(total, "execution")
    )
}

/// What a panic that escaped an execution means.
pub(crate) fn classify(payload: &(dyn Any + Send), p: &Program) -> Verdict {
    let recorder = &p.recorder;
    let msg = panic_message(payload);
    if let Some(why) = msg
        .find(stop::STOPPED)
        .map(|i| &msg[i + stop::STOPPED.len()..])
    {
        // loom's deepening adds how far it got (`loom_cut_off`); the report gives the count.
        return Verdict::Inconclusive(why.lines().next().unwrap_or(why).to_string());
    }
    if let Some(v) = recorder.violation() {
        return Verdict::Violated(v);
    }
    if msg.contains("deadlock") {
        // One block per blocked thread, laid out as lock-order messages are.
        let mut message = String::from("deadlock: every thread left is blocked");
        for (t, wants, held) in recorder.blocked() {
            message += "\n";
            message += &recorder.describe_wait(t, "waits for", &wants, &held);
        }
        return Verdict::Violated(Violation {
            kind: Kind::Deadlock,
            message,
            event: recorder.len().checked_sub(1),
            thread: 0,
        });
    }
    if msg.contains("Model exceeded maximum number of branches") {
        return Verdict::Inconclusive(
            "loom's branch limit (more steps in one execution than --max-branches) reached".into(),
        );
    }
    if msg.contains("exceeded max_steps") {
        return Verdict::Inconclusive("shuttle's step limit per execution reached".into());
    }
    let first = msg.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let original = msg
        .lines()
        .find_map(|l| l.strip_prefix("original panic: "))
        .unwrap_or(first);
    if original.contains("Causality violation") {
        return Verdict::ModelError(causality_in_model(original, recorder));
    }
    Verdict::ModelError(format!("panic in a model: {original}"))
}

/// Loom's causality check fired inside the engine, on an engine object (a word, a lock)
/// rather than on an allocation's memory (which the KASAN layer turns into a verdict): two
/// accesses of one object that nothing orders, the first usually its creation. In a model
/// that is a bug of the model: the object reached a thread through state loom cannot see.
/// Say so, name each thread's last step and its latest access, and how to fix it.
fn causality_in_model(loom_says: &str, recorder: &Recorder) -> String {
    let mut threads = String::new();
    recorder.with_events(|ev| {
        let mut seen = std::collections::BTreeSet::new();
        for e in ev.iter().rev() {
            if matches!(e.op, Op::Step(_)) || !seen.insert(e.thread) {
                continue;
            }
            threads += &format!(
                "\n  {}: last step {:?}; latest access of {} at {}:{}",
                recorder.thread_name(e.thread),
                recorder.last_step(e.thread).as_deref().unwrap_or("(none)"),
                iommu_models::kernel::kasan::describe(e.obj),
                e.location.file(),
                e.location.line()
            );
        }
    });
    format!(
        "the engine found two accesses of one engine object that nothing orders ({loom_says}). \
         That is the model's bug, not the kernel's: an object (an Atomic64, a lock) created by \
         one thread reached another through state loom cannot see (a Ghost side table, a std \
         type, a captured copy), so loom sees no happens-before from its creation. Fix the \
         model: hand the object over through an engine word (smp_store_release/READ_ONCE of \
         its pointer) or under a lock, or create it before the threads start.{threads}"
    )
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "(non-string panic)".into()
    }
}

thread_local! {
    static EXPLORING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Mark this OS thread as exploring: panics on it are verdicts, not crashes, and are not
/// printed. Every exploration starts with one, so it is where the panic hook is set up.
pub struct Exploring;

impl Exploring {
    /// Start exploring on this OS thread (until the value is dropped).
    pub fn start() -> Exploring {
        install_panic_hook();
        EXPLORING.with(|e| e.set(true));
        Exploring
    }
}

impl Drop for Exploring {
    fn drop(&mut self) {
        EXPLORING.with(|e| e.set(false));
    }
}

/// Install, once for the process, the panic hook that every engine relies on. A panic raised
/// while exploring (a violation, loom's deadlock or branch-limit panic) becomes a verdict and
/// is not printed; during a shuttle run the hook also records the failing schedule. Every other
/// panic goes to the hook that was there before, on the real stderr. With
/// `IOMMU_MC_DEBUG_PANICS` set in the environment every panic is printed, with its backtrace if
/// `RUST_BACKTRACE` asks: for a model writer chasing a `model-error` or an abort.
///
/// Every exploration calls this before it starts ([`Exploring::start`]), and its callers wait
/// until it is done.
/// Loom's coroutines (the `generator` crate) and shuttle each install a hook of their own the
/// first time they run, by taking the process's hook and setting one that wraps it: two steps,
/// not one. Run for the first time on one thread while another explores, that could lose the
/// checker's hook, and a loom violation in a parallel `check` printed its backtrace. So both
/// run once here, first: shuttle's hook (which prints every failure) is dropped; generator's,
/// which only drops its coroutines' cancellation unwinds, stays, over the checker's.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        shuttle::install_its_hook();
        drop(std::panic::take_hook());
        std::panic::set_hook(Box::new(move |info| {
            shuttle::note_panic();
            let ours = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with(PANIC_PREFIX));
            // The os engine's model threads are real threads of their own; what they raise
            // reaches the exploring thread through join.
            let exploring = EXPLORING.with(|e| e.get()) || kengine::is_os_model_thread();
            if std::env::var_os("IOMMU_MC_DEBUG_PANICS").is_some() || (!ours && !exploring) {
                stderr::through(|| prev(info));
            }
        }));
        // One execution whatever LOOM_* says (a zero LOOM_MAX_PERMUTATIONS would run none).
        static RAN: AtomicBool = AtomicBool::new(false);
        loom::builder(Some(0), 1_000, None).check(|| RAN.store(true, Ordering::Relaxed));
        assert!(
            RAN.load(Ordering::Relaxed),
            "loom ran no execution: its coroutines' panic hook is not installed"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        let got: Vec<String> = [0, 7, 999, 1_000, 10_432, 1_000_000].map(count).to_vec();
        assert_eq!(got, ["0", "7", "999", "1,000", "10,432", "1,000,000"]);
    }

    #[test]
    fn a_cut_off_loom_run_says_which_bound_was_whole_and_which_pass_was_cut() {
        let why = "time limit (120 s) reached";
        let holds = Verdict::Holds(Coverage::Bounded(String::new()));
        assert_eq!(
            loom_cut_off(why, 10_432, Some((1, &holds)), Some(2)),
            "time limit (120 s) reached after 10,432 executions; every execution with at \
             most 1 preemption was explored (holds); the bound-2 pass was cut off"
        );
        let vacuous = Verdict::Vacuous(String::new());
        assert_eq!(
            loom_cut_off(why, 1, Some((2, &vacuous)), None),
            "time limit (120 s) reached after 1 execution; every execution with at most 2 \
             preemptions was explored (no violation); the unbounded pass was cut off"
        );
        assert_eq!(
            loom_cut_off(why, 3, None, Some(0)),
            "time limit (120 s) reached after 3 executions; no preemption bound was explored \
             whole; the bound-0 pass was cut off"
        );
    }
}
