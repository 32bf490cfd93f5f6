//! One [`Report`] value per run, rendered as plain text for email ([`text`]) and as JSON
//! ([`json`]); the reports of a `check` also as JUnit XML ([`junit`]) and SARIF
//! ([`sarif`]) for CI. Reports are deterministic: no timings, no host names, no absolute
//! paths.

pub mod html;
pub mod json;
pub mod junit;
pub mod sarif;
pub mod text;

use iommu_models::kernel::kasan::PAGE_POISON;
use iommu_models::kernel::page_alloc::PagePool;
use iommu_models::kernel::FIDELITY;
use iommu_models::spec::{Call, OpSpec};
use iommu_models::trace::{Event, Obj, Op, Role};
use serde::Serialize;

use crate::engine::{Coverage, EngineKind, Outcome, Verdict, Witness};
use crate::judge::{self, Judgement};
use crate::scenario::Scenario;
use crate::witness;

/// A thread of the scenario, as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ThreadInfo {
    /// Name (`A`).
    pub name: String,
    /// Its operations.
    pub ops: Vec<String>,
    /// True for a hardware agent.
    pub hardware: bool,
}

/// One line of the interleaving.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    /// Thread name, or `end` for the checks after every thread finished.
    pub thread: String,
    /// A model step (in the thread's own words) or a kernel call under it.
    pub step: bool,
    /// The text.
    pub text: String,
    /// Model source location.
    pub location: String,
}

/// Everything a reviewer needs about one run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `model/name`.
    pub scenario: String,
    /// Scenario file, relative as given.
    pub path: String,
    /// Title of the scenario.
    pub title: String,
    /// Seed thread.
    pub source: Option<String>,
    /// Scenario note.
    pub note: Option<String>,
    /// Model name.
    pub model: String,
    /// Variant.
    pub variant: String,
    /// The variant is a mutant of another (its line says `mutant of`): its twins are the
    /// variants without the mutation, not fixes of it.
    pub mutant: bool,
    /// The model's parameters (`levels = 2, entries = 4`), empty for a model without any.
    pub params: String,
    /// Engine name.
    pub engine: String,
    /// `holds`, `violated`, `inconclusive`, `model-error`.
    pub verdict: String,
    /// The verdict in one phrase with its detail.
    pub verdict_detail: String,
    /// The expectation in one phrase.
    pub expected: String,
    /// Whether the verdict matches the expectation.
    pub as_expected: bool,
    /// Violation kind.
    pub kind: Option<String>,
    /// Violation message.
    pub message: Option<String>,
    /// Executions or iterations run.
    pub executions: u64,
    /// loom: preemptions the counterexample needs.
    pub preemptions: Option<usize>,
    /// shuttle: the failing schedule.
    pub schedule: Option<String>,
    /// The engine's settings in words (coverage of a holds, how a violation was found).
    pub search: String,
    /// Setup operations.
    pub setup: Vec<String>,
    /// The threads.
    pub threads: Vec<ThreadInfo>,
    /// The failing interleaving.
    pub lines: Vec<Line>,
    /// Index in `lines` of the offending access.
    pub violation_line: Option<usize>,
    /// The command that reproduces this run.
    pub replay: String,
    /// For a `holds`: the steps of the scenario's `reaches` list, each reached by some
    /// explored execution (what shows the holds is not vacuous).
    pub reached: Vec<String>,
    /// Fidelity notes that bear on this run.
    pub fidelity: Vec<String>,
    /// How long each lock the model measures was held over the explored executions.
    pub lock_holds: Vec<String>,
    /// loom: `plain interleaving`, or `weak memory` (no plain interleaving shows the
    /// violation; searched how far).
    pub memory: Option<String>,
    /// For a weak-memory witness: each reordering it needs, which architectures allow it
    /// and which barrier forbids it.
    pub reorderings: Vec<String>,
    /// The short report's subject line, in the reviewer's terms.
    pub subject: String,
    /// The kernel function each operation of the threads runs (`get = iommu_get_reserved_iova`),
    /// in the order the threads first call them.
    pub functions: Vec<String>,
    /// What breaks, on which hardware and configuration, with which preconditions.
    pub consequence: String,
    /// Indices in `lines` the short report shows: the steps that matter and the offending
    /// access (the full trace is `lines`).
    pub shown: Vec<usize>,
    /// Index in `lines` the short report marks: the offending access, or for a check that
    /// fails at its end (a leak), the last of its reads that found what was left.
    pub shown_mark: Option<usize>,
    /// Fidelity notes that bear on the shown lines.
    pub fidelity_shown: Vec<String>,
    /// The other variants of this scenario (same file name up to the variant), each with
    /// its expected verdict: for a violation, the `holds` ones are the fixes it proves.
    pub twins: Vec<Twin>,
}

/// Another variant of the same scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Twin {
    /// `model/name`.
    pub scenario: String,
    /// Its variant.
    pub variant: String,
    /// Its title.
    pub title: String,
    /// What the variant changes, in a line: its title when that differs from this
    /// scenario's, else the model's line for the variant up to its first `: `.
    pub change: String,
    /// Whether it runs the same program (setup, threads, parameters, configuration): only
    /// then does its verdict bear on this scenario's.
    pub same_program: bool,
    /// The other scenarios of the family (same name prefix) in which this variant is
    /// expected violated: where the fix does not hold.
    pub violated_in: Vec<String>,
    /// `holds` or `violated`, as its file expects (tests/scenarios.rs checks it).
    pub expected: String,
}

/// A physical address or entry value, annotated when it points at a table frame or is poison.
pub fn value(v: u64) -> String {
    if v == PAGE_POISON {
        return format!("{v:#x} (PAGE_POISON)");
    }
    // Page-table entries keep the address in bits 12-51 on x86 and ARM alike.
    let pa = v & 0x000f_ffff_ffff_f000;
    let frame = (pa >> 12).checked_sub(iommu_models::kernel::page_alloc::FRAME_BASE_PFN);
    match frame {
        Some(f) if v & 1 == 1 && f < 4096 && PagePool::pa_of_frame(f as u32) == pa => {
            format!("{v:#x} (table, frame {f})")
        }
        _ => format!("{v:#x}"),
    }
}

fn obj(o: Obj) -> String {
    iommu_models::kernel::kasan::describe(o)
}

/// One kernel event in words; the checker's own reads say so.
pub fn describe_event(e: &Event) -> String {
    let text = describe_op(e);
    if e.by_checker {
        format!("(check) {text}")
    } else {
        text
    }
}

fn describe_op(e: &Event) -> String {
    match &e.op {
        Op::Step(s) => s.to_string(),
        Op::Load(v) => format!("read {} = {}", obj(e.obj), value(*v)),
        Op::Store(v) => format!("write {} = {}", obj(e.obj), value(*v)),
        Op::Cmpxchg { old, new, found } => format!(
            "cmpxchg {} {old:#x} -> {new:#x}: {}",
            obj(e.obj),
            if found == old {
                "done".to_string()
            } else {
                format!("found {}", value(*found))
            }
        ),
        Op::Rmw {
            name,
            before,
            after,
        } => {
            format!("{name} {}: {before:#x} -> {after:#x}", obj(e.obj))
        }
        Op::Barrier(n) => format!("{n}()"),
        Op::Lock(n) | Op::Unlock(n) => format!("{n}({})", obj(e.obj)),
        Op::Alloc => format!("alloc {}", obj(e.obj)),
        Op::Free => format!("free {}", obj(e.obj)),
        Op::AllocFail => "alloc_pgtable_page: -ENOMEM".into(),
        Op::Call(n) => match e.obj {
            Obj::None => n.to_string(),
            o => format!("{n} {}", obj(o)),
        },
    }
}

/// The fidelity key an event bears on, if any.
fn fidelity_key(e: &Event) -> Option<&'static str> {
    Some(match &e.op {
        _ if matches!(
            e.obj,
            Obj::Field {
                class: "memory of frame",
                ..
            }
        ) =>
        {
            "walker-memory"
        }
        _ if e.location.file().ends_with("hw/walker.rs") => "walker",
        _ if e.location.file().ends_with("hw/cache.rs") => "iommu-caches",
        Op::Step(l) if l.starts_with("qi_submit_sync") => "qi",
        Op::Step(l)
            if l.contains("IOTLB inv (domain-selective")
                || (l.contains("device-TLB inv") && l.contains("global")) =>
        {
            "vtd-scope"
        }
        Op::Barrier(n) => n,
        Op::Cmpxchg { .. } => "cmpxchg",
        Op::Rmw { name: "xchg", .. } => "cmpxchg",
        Op::Lock(_) => "spin_lock",
        Op::Load(_) if matches!(e.obj, Obj::Entry { .. }) => "pointer-load",
        _ => return None,
    })
}

/// The fidelity rows of the engine and of the events `shown` (indices in the trace).
fn fidelity(out: &Outcome, shown: impl Iterator<Item = usize>) -> Vec<String> {
    // Loom's memory model bears on a weak witness only: a plain one holds on any machine.
    let mut keys: Vec<&str> = match out.engine {
        EngineKind::Loom if matches!(out.witness, Some(Witness::Weak { .. })) => vec!["loom"],
        EngineKind::Loom => vec![],
        EngineKind::Os => vec!["os"],
        _ => vec!["shuttle"],
    };
    // How loom maps an ordering primitive bears on loom's runs only: shuttle and real
    // threads run every access sequentially consistently (their own row says so).
    const ORDERING: [&str; 7] = [
        "rcu_dereference",
        "pointer-load",
        "smp_wmb",
        "smp_rmb",
        "dma_wmb",
        "cmpxchg",
        "smp_mb",
    ];
    let loom = out.engine == EngineKind::Loom;
    for k in shown.filter_map(|i| fidelity_key(&out.trace[i])) {
        if !loom && ORDERING.contains(&k) {
            continue;
        }
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    FIDELITY
        .iter()
        .filter(|(k, _)| keys.contains(k))
        .map(|(_, row)| row.to_string())
        .collect()
}

/// The command that reproduces `out`.
pub fn replay_command(sc: &Scenario, out: &Outcome) -> String {
    if sc.body.is_some() {
        // A model in a user's test: its test reproduces it (loom's exploration and shuttle's
        // seeds are deterministic).
        return format!("cargo test {}", sc.name);
    }
    let path = sc.path.display();
    match (out.engine, &out.schedule) {
        (EngineKind::Loom, _) => match out.settings.preemption_bound {
            Some(b) => format!("iommu-mc explore {path} --engine loom --preemption-bound {b}"),
            None => format!("iommu-mc explore {path} --engine loom"),
        },
        (_, Some(s)) => format!("iommu-mc replay {path} --schedule {s}"),
        (EngineKind::Os, None) => format!(
            "iommu-mc explore {path} --engine os --iterations {}",
            out.settings.iterations
        ),
        (e, None) => format!(
            "iommu-mc explore {path} --engine {} --seed {:#x} --iterations {}",
            e.name(),
            out.settings.seed,
            out.settings.iterations
        ),
    }
}

fn search(out: &Outcome) -> String {
    let n = out.executions;
    if out.replayed {
        return "shuttle, replaying the schedule below".into();
    }
    match (&out.verdict, out.engine) {
        (Verdict::Holds(Coverage::Complete), EngineKind::Loom) => {
            format!("loom exhaustive, {n} executions, complete")
        }
        (Verdict::Holds(Coverage::Complete), e) => format!("{} complete, {n} schedules", e.name()),
        (Verdict::Holds(Coverage::Bounded(b)), e) => {
            format!("{} bounded ({b}), {n} executions", e.name())
        }
        (_, EngineKind::Loom) => match out.preemptions {
            Some(p) => format!(
                "loom exhaustive, execution {n}, {p} preemption{}",
                if p == 1 { "" } else { "s" }
            ),
            None => format!("loom exhaustive, execution {n}"),
        },
        (_, EngineKind::Os) => format!("os, run {n} of {}", out.settings.iterations),
        (_, e) => format!(
            "{} seed {:#x}, iteration {n} of {}",
            e.name(),
            out.settings.seed,
            out.settings.iterations
        ),
    }
}

/// The order in which `trace`'s events are shown: each model step just before the next
/// event of its own thread. A step is recorded when the model reaches it, and the engine
/// may then run another thread before the access the step names, so shown where it was
/// recorded, "clear the PDE" would stand above another thread's read of the PDE it has not
/// cleared yet. A step with no later event of its thread stays where it was recorded.
fn label_order(trace: &[Event]) -> Vec<usize> {
    let mut key: Vec<(usize, bool, usize)> = Vec::with_capacity(trace.len());
    for (i, e) in trace.iter().enumerate() {
        let at = if matches!(e.op, Op::Step(_)) {
            trace[i + 1..]
                .iter()
                .position(|n| n.thread == e.thread && !matches!(n.op, Op::Step(_)))
                .map_or(i, |d| i + 1 + d)
        } else {
            i
        };
        // Steps moved to an event come before it, in their own order.
        key.push((at, at == i, i));
    }
    let mut order: Vec<usize> = (0..trace.len()).collect();
    order.sort_by_key(|&i| key[i]);
    order
}

/// Build the report of `out`, a run of `sc`.
pub fn build(sc: &Scenario, out: &Outcome) -> Report {
    let name_of = |t: usize| -> String {
        if t == 0 {
            "end".into()
        } else {
            sc.threads[t - 1].name.clone()
        }
    };
    // Events of the main thread before any other thread ran are the setup: the report lists
    // setup operations instead.
    let first_thread = out.trace.iter().position(|e| e.thread != 0);
    let violation = match &out.verdict {
        Verdict::Violated(v) => Some(v.clone()),
        _ => None,
    };
    // Stale reads are marked only in a weak witness: a plain one has none, and shuttle and
    // real threads are not judged by loom's order.
    let weak = matches!(out.witness, Some(Witness::Weak { .. }));
    let stale = if weak {
        witness::stale_reads(&out.trace)
    } else {
        vec![None; out.trace.len()]
    };
    let writer_name = |t: usize| {
        if t == 0 {
            "setup".to_string()
        } else {
            name_of(t)
        }
    };
    let mut lines = Vec::new();
    let mut events = Vec::new();
    let mut violation_line = None;
    for i in label_order(&out.trace) {
        let e = &out.trace[i];
        let setup = first_thread.is_none_or(|f| i < f) && e.thread == 0;
        let offending = violation.as_ref().and_then(|v| v.event) == Some(i);
        if setup && !offending {
            continue;
        }
        if offending {
            violation_line = Some(lines.len());
        }
        events.push(i);
        lines.push(Line {
            thread: name_of(e.thread),
            step: matches!(e.op, Op::Step(_)),
            text: match &stale[i] {
                Some(st) => format!(
                    "{} (not the latest write: {} wrote {}; that write is not yet visible here)",
                    describe_event(e),
                    writer_name(st.writer),
                    value(st.value)
                ),
                None => describe_event(e),
            },
            location: format!("{}:{}", e.location.file(), e.location.line()),
        });
    }
    let hardware_thread = |t: usize| t > 0 && sc.threads[t - 1].hardware;
    let (shown, shown_mark) = shown(
        &out.trace,
        &events,
        &lines,
        violation_line,
        &stale,
        &hardware_thread,
        &|lock: &str| {
            // A lock violation's message names the locks of its chain or context: each
            // thread's last acquisition of one of them is shown.
            violation
                .as_ref()
                .is_some_and(|v| LOCK_KINDS.contains(&v.kind.name()) && v.message.contains(lock))
        },
    );
    Report {
        shown: shown.clone(),
        shown_mark,
        scenario: sc.id(),
        path: sc.path.display().to_string(),
        title: sc.title.clone(),
        source: sc.source.clone(),
        note: sc.note.clone(),
        model: sc.model.name().into(),
        variant: sc.variant.clone(),
        mutant: variant_line(sc).starts_with("mutant of"),
        params: {
            let mut p = sc.params_text();
            for name in config_options(sc) {
                p += &format!("{}config {name}", if p.is_empty() { "" } else { "; " });
            }
            p
        },
        engine: out.engine.name().into(),
        verdict: out.verdict.name().into(),
        verdict_detail: judge::describe(&out.verdict),
        // A closure check has no expectation of its own: its test asserts one.
        expected: if sc.body.is_some() {
            String::new()
        } else {
            judge::expected(sc)
        },
        as_expected: judge::judge(sc, out) == Judgement::Pass,
        kind: violation.as_ref().map(|v| v.kind.name().to_string()),
        message: match &out.verdict {
            Verdict::Violated(v) => Some(v.message.clone()),
            Verdict::Inconclusive(m) | Verdict::ModelError(m) | Verdict::Vacuous(m) => {
                Some(m.clone())
            }
            Verdict::Holds(_) => None,
        },
        executions: out.executions,
        preemptions: out.preemptions,
        schedule: out.schedule.clone(),
        search: search(out),
        setup: sc.setup.iter().map(|c| call_text(sc, c)).collect(),
        threads: sc
            .threads
            .iter()
            .map(|t| ThreadInfo {
                name: t.name.clone(),
                ops: t.calls.iter().map(|c| call_text(sc, c)).collect(),
                hardware: t.hardware,
            })
            .collect(),
        lines,
        violation_line,
        replay: replay_command(sc, out),
        reached: match out.verdict {
            Verdict::Holds(_) => sc.expect.reaches.clone(),
            _ => vec![],
        },
        fidelity: fidelity(out, events.iter().copied()),
        fidelity_shown: fidelity(out, shown.iter().map(|&l| events[l])),
        subject: subject(sc, out),
        functions: {
            let mut f: Vec<String> = Vec::new();
            for c in sc.threads.iter().flat_map(|t| &t.calls) {
                let line = op_spec(sc, c.op).and_then(kernel_function);
                if let Some(line) = line.filter(|l| !f.contains(l)) {
                    f.push(line);
                }
            }
            f
        },
        consequence: consequence(sc, out),
        twins: twins(sc),
        lock_holds: out.lock_holds.iter().map(|h| h.describe()).collect(),
        memory: out.witness.as_ref().map(|w| match w {
            Witness::Plain => match out.first_found {
                None => "plain interleaving (sequentially consistent)".to_string(),
                Some(k) => format!(
                    "plain interleaving (sequentially consistent). Loom's first \
                     counterexample was a {k} in an execution that cannot be shown as a plain \
                     interleaving as it stands (it reads a value older than the latest, or \
                     rests on an access loom does not order before a free); the search for a \
                     plain interleaving met this one first. That does not make the {k} a \
                     weak-memory effect: it may have a plain interleaving this search did not \
                     reach first (see the other engines' reports of this scenario)"
                ),
            },
            Witness::Weak { plain_search } => format!(
                "weak memory: no plain interleaving violates anything ({})",
                match plain_search {
                    Coverage::Complete => "searched completely".to_string(),
                    Coverage::Bounded(b) => format!("searched only: {b}"),
                }
            ),
        }),
        reorderings: if weak {
            let mut r = witness::explain(
                &out.trace,
                &writer_name,
                &|t| t > 0 && sc.threads[t - 1].hardware,
                &describe_event,
            );
            if r.is_empty() {
                r.push(witness::UNORDERED_FREE.to_string());
            }
            r
        } else {
            vec![]
        },
    }
}

/// A word an event accesses, and whether it writes it; `None` for no memory access.
fn access(e: &Event) -> Option<((Obj, u64), bool)> {
    let write = match e.op {
        Op::Load(_) => false,
        Op::Store(_) | Op::Cmpxchg { .. } | Op::Rmw { .. } | Op::Alloc | Op::Free => true,
        _ => return None,
    };
    (e.obj != Obj::None).then_some(((e.obj, e.word), write))
}

/// The lines the short report shows (indices in `lines`, whose trace events are `events`):
/// - a kernel thread's step when one of its accesses conflicts with another thread's or the
///   checker's (the same word, one of them a write), frees memory, holds a read of a stale
///   value, or is the offending one; and a step the model marks as key;
/// - a hardware step (of a hardware thread, or the IOMMU's on a submitting CPU) only as a
///   source of what the failing access read ([`View::keep_sources`]): the fill a stale entry
///   came from and the invalidations that passed over it, not every fill and flush;
/// - of a lock violation, the chains its message names ([`View::keep_lock_chains`]);
/// - under a step, only the stale reads and the offending access.
///
/// After every thread finished, the step of the failing check and its failing read: the
/// offending access if it is a read, else the checker's reads of a word a thread left
/// non-zero (marked instead of the offending access). Returns the lines and the one to mark.
fn shown(
    trace: &[Event],
    events: &[usize],
    lines: &[Line],
    violation_line: Option<usize>,
    stale: &[Option<witness::Stale>],
    hardware_thread: &dyn Fn(usize) -> bool,
    locks_named: &dyn Fn(&str) -> bool,
) -> (Vec<usize>, Option<usize>) {
    // Who touches each word: a thread, or the checker (`usize::MAX`).
    let who = |e: &Event| if e.by_checker { usize::MAX } else { e.thread };
    let touches: Vec<((Obj, u64), bool, usize)> = events
        .iter()
        .filter_map(|&i| access(&trace[i]).map(|(w, wr)| (w, wr, who(&trace[i]))))
        .collect();
    let conflicts = |e: &Event| {
        access(e).is_some_and(|(w, wr)| {
            !e.by_checker
                && touches
                    .iter()
                    .any(|&(w2, wr2, t)| w2 == w && t != who(e) && (wr || wr2))
        })
    };
    // Each line's step, and whether that step is the hardware's.
    let mut step_of: Vec<Option<usize>> = vec![None; lines.len()];
    let mut current: Vec<(&str, usize)> = Vec::new();
    for (l, line) in lines.iter().enumerate() {
        if line.step {
            current.retain(|(t, _)| *t != line.thread);
            current.push((&line.thread, l));
        } else {
            step_of[l] = current.iter().find(|(t, _)| *t == line.thread).map(|c| c.1);
        }
    }
    let hardware: Vec<bool> = (0..lines.len())
        .map(|l| {
            let s = step_of[l].unwrap_or(l);
            let e = &trace[events[s]];
            line_is_thread(&lines[l]) && (hardware_thread(e.thread) || e.role == Role::Hardware)
        })
        .collect();
    // The value each word was last left at by a thread (not the setup, not the checker).
    let mut left: Vec<((Obj, u64), u64)> = Vec::new();
    let mut keep = vec![false; lines.len()];
    for (l, line) in lines.iter().enumerate() {
        let e = &trace[events[l]];
        if line.step {
            // A step can be the offending event itself (an assertion that fails).
            keep[l] |= violation_line == Some(l) || e.role == Role::Key;
            continue;
        }
        let offending = violation_line == Some(l);
        let matters = offending || stale[events[l]].is_some();
        // A free is shown whoever else touches the memory: a use after it names the object
        // by its fields, not as the freed frame or struct.
        let freed = matches!(e.op, Op::Free);
        let kernel = line_is_thread(line) && !hardware[l];
        if matters || (kernel && (freed || conflicts(e))) {
            if let Some(s) = step_of[l] {
                keep[s] = true;
            }
        }
        keep[l] |= matters;
        if let (Some((w, true)), false) = (access(e), e.by_checker || e.thread == 0) {
            let v = match e.op {
                Op::Store(v) => v,
                Op::Cmpxchg { old, new, found } if found == old => new,
                Op::Rmw { after, .. } => after,
                Op::Free => 0,
                _ => continue,
            };
            left.retain(|(x, _)| *x != w);
            left.push((w, v));
        }
    }
    let view = View {
        trace,
        events,
        lines,
        step_of: &step_of,
    };
    let before = violation_line.map_or(lines.len(), |v| v + 1);
    view.keep_lock_chains(before, locks_named, &mut keep);
    let mut mark = violation_line;
    // A check that fails at its end (a leak): show the reads that found what was left.
    if let Some(v) = violation_line.filter(|&v| !matches!(trace[events[v]].op, Op::Load(_))) {
        for l in 0..lines.len() {
            let e = &trace[events[l]];
            let left_set =
                access(e).is_some_and(|(w, _)| left.iter().any(|&(x, val)| x == w && val != 0));
            if (e.by_checker || e.thread == 0)
                && matches!(e.op, Op::Load(_))
                && left_set
                && step_of[l] == step_of[v]
            {
                keep[l] = true;
                if mark == Some(v) {
                    keep[v] = false;
                }
                mark = Some(l);
            }
        }
    }
    if let Some(v) = mark {
        view.keep_sources(v, &hardware, &mut keep);
    }
    ((0..lines.len()).filter(|&l| keep[l]).collect(), mark)
}

/// The trace as [`shown`] walks it: each line's event and step.
struct View<'a> {
    trace: &'a [Event],
    events: &'a [usize],
    lines: &'a [Line],
    step_of: &'a [Option<usize>],
}

impl View<'_> {
    fn event(&self, l: usize) -> &Event {
        &self.trace[self.events[l]]
    }

    /// Show line `l` and its step.
    fn keep(&self, l: usize, keep: &mut [bool]) {
        keep[l] = true;
        if let Some(s) = self.step_of[l] {
            keep[s] = true;
        }
    }

    /// Each thread's last acquisition, among the lines before `before`, of a lock
    /// `locks_named` accepts, and its release when that came first too: a chain that was let
    /// go of before the other thread took the locks reads so.
    fn keep_lock_chains(
        &self,
        before: usize,
        locks_named: &dyn Fn(&str) -> bool,
        keep: &mut [bool],
    ) {
        let mut last: Vec<(&str, String, usize)> = Vec::new();
        for l in 0..before {
            let e = self.event(l);
            if matches!(e.op, Op::Lock(_)) && locks_named(&obj(e.obj)) {
                let (thread, name) = (self.lines[l].thread.as_str(), obj(e.obj));
                last.retain(|(t, n, _)| !(*t == thread && *n == name));
                last.push((thread, name, l));
            }
        }
        for (thread, name, l) in last {
            let release = (l + 1..before).find(|&u| {
                self.lines[u].thread == thread
                    && matches!(self.event(u).op, Op::Unlock(_))
                    && obj(self.event(u).obj) == name
            });
            for x in std::iter::once(l).chain(release) {
                self.keep(x, keep);
            }
        }
    }

    /// Where what the failing access `v` read came from. The hardware steps whose writes
    /// it read (for a check after the threads, the entry it found wrong; in a thread, the
    /// reads of its step), those whose writes the reads of such a step found, and so on;
    /// the hardware's looks at such a word since its write, which left it (an invalidation
    /// that did not match the stale entry); of the failing access's own word, the write
    /// before (the invalidation that emptied the slot before the fill). A kernel step that
    /// wrote what a failing read found is shown too: conflicts show most, but not a write
    /// only the thread's own check reads (the unmap's "this page is revoked").
    fn keep_sources(&self, v: usize, hardware: &[bool], keep: &mut [bool]) {
        let n = self.lines.len();
        let failing = self.step_of[v].filter(|_| line_is_thread(&self.lines[v]));
        // (line, it is one of the failing reads, it is the failing access itself)
        let mut reads: Vec<(usize, bool, bool)> = (0..n)
            .filter(|&l| l == v || (failing.is_some() && self.step_of[l] == failing))
            .map(|l| (l, true, l == v))
            .collect();
        while let Some((r, seed, first)) = reads.pop() {
            let e = self.event(r);
            let Some((w, _)) = access(e)
                .filter(|_| matches!(e.op, Op::Load(_) | Op::Cmpxchg { .. } | Op::Rmw { .. }))
            else {
                continue;
            };
            // A thread's access of `w` before event `at` (a thread's own bookkeeping, made
            // as the checker's, too), not the checks' after every thread finished.
            let touches = |x: usize, at: usize, write: bool| {
                self.events[x] < at
                    && line_is_thread(&self.lines[x])
                    && access(self.event(x)).is_some_and(|(w2, wr)| w2 == w && (wr || !write))
            };
            let last_write = |at: usize| {
                (0..n)
                    .filter(|&x| touches(x, at, true))
                    .max_by_key(|&x| self.events[x])
            };
            // No writer among the threads: the failing access found a value from the setup
            // (a fill before the threads), and what looked at it since still tells the story.
            let writer = last_write(self.events[r]);
            if writer.is_none() && !first {
                continue;
            }
            if let Some(w) = writer.filter(|&w| !hardware[w]) {
                if let Some(s) = self.step_of[w].filter(|_| seed) {
                    keep[s] = true;
                }
                continue;
            }
            let looked = (0..n).filter(|&x| {
                touches(x, self.events[r], false)
                    && writer.is_none_or(|w| self.events[x] > self.events[w])
                    && hardware[x]
            });
            let earlier = writer
                .and_then(|w| last_write(self.events[w]))
                .filter(|&x| first && hardware[x]);
            for x in writer.into_iter().chain(looked).chain(earlier) {
                let Some(s) = self.step_of[x].filter(|&s| !keep[s]) else {
                    continue;
                };
                keep[s] = true;
                reads.extend(
                    (0..n)
                        .filter(|&l| self.step_of[l] == Some(s))
                        .map(|l| (l, false, false)),
                );
            }
        }
    }
}

/// The operation `op` of the scenario's model.
fn op_spec(sc: &Scenario, op: &str) -> Option<&'static OpSpec> {
    sc.model.ops.iter().find(|o| o.name == op)
}

/// The legend's entry for an operation (`get = iommu_get_reserved_iova`): the identifier its
/// doc starts with, when the doc starts with one (`iommu_get_reserved_iova(domain, ...)`,
/// `context_flip_pri: ...`) and it is not the operation's own name; `(inferred)` when the doc
/// says the seed does not show that code.
fn kernel_function(spec: &OpSpec) -> Option<String> {
    let doc = spec.doc.trim();
    let end = doc
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
        .unwrap_or(doc.len());
    let (f, rest) = doc.split_at(end);
    let called = rest.starts_with('(') || rest.starts_with(':') || rest.starts_with(" on ");
    let inferred = if doc.contains("inferred") {
        " (inferred)"
    } else {
        ""
    };
    (called && f.contains('_') && f != spec.name).then(|| format!("{} = {f}{inferred}", spec.name))
}

/// The kinds whose message names the locks of its chain or context.
const LOCK_KINDS: [&str; 7] = [
    "lock-order",
    "deadlock",
    "irq-lock-inversion",
    "inconsistent-lock-state",
    "sleep-in-atomic",
    "invalid-wait-context",
    "recursive-locking",
];

/// Whether a line is a thread's, not the checks' after every thread finished.
fn line_is_thread(line: &Line) -> bool {
    line.thread != "end"
}

/// The short report's subject: what broke, in which code, in the scenario's words.
fn subject(sc: &Scenario, out: &Outcome) -> String {
    let what = match &out.verdict {
        Verdict::Violated(v) => v.kind.name().to_string(),
        v => v.name().to_string(),
    };
    format!("{what} in {} {}: {}", sc.model.name(), sc.variant, sc.title)
}

/// What breaks, on which hardware and configuration, with which preconditions; what the
/// scenario does not say is said to be missing.
fn consequence(sc: &Scenario, out: &Outcome) -> String {
    let mut p = match &out.verdict {
        Verdict::Violated(v) => {
            // The message alone: the model's invariant text is general (a leak's names a
            // domain free the scenario may not make), and `list` prints it.
            // A message of several lines (a lockdep chain) keeps them; the rest of the
            // paragraph starts on a line of its own.
            let end = if v.message.contains('\n') { "\n" } else { " " };
            format!("What breaks: {}.{end}", v.message.trim_end())
        }
        Verdict::Holds(_) => "Every explored execution keeps every invariant. ".to_string(),
        v => format!("No verdict on the invariants: {}. ", judge::describe(v)),
    };
    // What the variant is: as posted, someone's proposal, or a mutant of which.
    p += &format!("Variant {}: {}.", sc.variant, variant_line(sc));
    let note = sc.note.as_deref().unwrap_or("");
    p += &match hardware_at(note) {
        Some(at) => format!(" {}.", note[at..].trim_end_matches('.')),
        None => " Hardware: the scenario does not say.".to_string(),
    };
    let params = sc.params_text();
    p += &if params.is_empty() {
        " Model parameters: the defaults.".to_string()
    } else {
        format!(" Model parameters: {params}.")
    };
    let config: Vec<String> = config_options(sc)
        .iter()
        .map(|name| format!("CONFIG_{name}=y"))
        .collect();
    if !config.is_empty() {
        p += &format!(" Kernel config: {}.", config.join(", "));
    }
    p += &if sc.setup.is_empty() {
        " Preconditions: none (no setup).".to_string()
    } else {
        let setup: Vec<String> = sc.setup.iter().map(|c| call_text(sc, c)).collect();
        format!(" Preconditions: {}.", setup.join("; "))
    };
    p
}

/// The other variants of `sc` in its folder (same file name up to the variant), by name.
fn twins(sc: &Scenario) -> Vec<Twin> {
    let Some(prefix) = sc.name.strip_suffix(&format!("-{}", sc.variant)) else {
        return vec![];
    };
    let Some(dir) = sc.path.parent().filter(|_| sc.body.is_none()) else {
        return vec![];
    };
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let family: Vec<Scenario> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "toml") && *f != &sc.path)
        .filter_map(|f| crate::scenario::load(f).ok())
        .filter(|t| t.model.name() == sc.model.name() && t.name.starts_with(prefix))
        .collect();
    let twins: Vec<&Scenario> = family
        .iter()
        .filter(|t| t.name.strip_suffix(&format!("-{}", t.variant)) == Some(prefix))
        .collect();
    twins
        .iter()
        .map(|t| Twin {
            scenario: t.id(),
            variant: t.variant.clone(),
            title: t.title.clone(),
            change: if t.title != sc.title
                && twins.iter().all(|o| o.title != t.title || o.name == t.name)
            {
                // Without the part both titles share before their first `: `.
                match (t.title.split_once(": "), sc.title.split_once(": ")) {
                    (Some((a, rest)), Some((b, _))) if a == b => rest.to_string(),
                    _ => t.title.clone(),
                }
            } else {
                // The title says nothing of this variant: the model's line for it.
                variant_line(t).to_string()
            },
            same_program: program(t) == program(sc),
            // The same program under another configuration (PREEMPT_RT, lockdep's
            // wait-type checks) that breaks the same variant.
            violated_in: family
                .iter()
                .filter(|o| {
                    o.variant == t.variant
                        && o.name != t.name
                        && o.expect.verdict == crate::scenario::Expected::Violated
                        && program(o).0 == program(t).0
                })
                .map(|o| o.name.clone())
                .collect(),
            expected: match t.expect.verdict {
                crate::scenario::Expected::Holds => "holds",
                crate::scenario::Expected::Violated => "violated",
            }
            .into(),
        })
        .collect()
}

/// A call of the scenario's model as reports print it ([`iommu_models::spec::OpSpec::call_text`]).
fn call_text(sc: &Scenario, c: &Call) -> String {
    match op_spec(sc, c.op) {
        Some(spec) => spec.call_text(c),
        None => c.to_string(),
    }
}

/// The model's line for the scenario's variant, up to its first `: ` outside parentheses
/// (`as posted`, `mutant of rfc`).
fn variant_line(sc: &Scenario) -> &'static str {
    let about = sc.model.variants.iter().find(|v| v.name == sc.variant);
    let about = about.map_or("", |v| v.about());
    let mut depth = 0i32;
    for (i, c) in about.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ':' if depth <= 0 && about[i + 1..].starts_with(' ') => return &about[..i],
            _ => {}
        }
    }
    about
}

/// The kernel options the scenario turns on (`PREEMPT_RT`).
fn config_options(sc: &Scenario) -> Vec<&'static str> {
    [
        (sc.config.preempt_rt, "PREEMPT_RT"),
        (sc.config.prove_raw_lock_nesting, "PROVE_RAW_LOCK_NESTING"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

/// Where a scenario note's hardware sentence starts (`Hardware:` or `Hardware assumed:`),
/// which the consequence quotes; it runs to the note's end.
pub fn hardware_at(note: &str) -> Option<usize> {
    note.find("Hardware assumed:")
        .or_else(|| note.find("Hardware:"))
}

/// What a scenario runs, all but the variant: (setup, each thread's calls and the
/// parameters; the configuration).
fn program(sc: &Scenario) -> (String, (bool, bool)) {
    let calls = |c: &[Call]| -> Vec<String> { c.iter().map(|c| c.to_string()).collect() };
    let threads: Vec<String> = sc
        .threads
        .iter()
        .map(|t| format!("{}: {}", t.name, calls(&t.calls).join("; ")))
        .collect();
    (
        format!("{:?} {:?} {}", calls(&sc.setup), threads, sc.params_text()),
        (sc.config.preempt_rt, sc.config.prove_raw_lock_nesting),
    )
}
