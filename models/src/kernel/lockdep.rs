//! Lock bookkeeping shared by every sleeping and spinning lock (kernel/locking/lockdep.c, in
//! spirit): which thread holds and waits for which lock, the lock-order graph, the IRQ usage
//! of each lock class and the wait-type check.
//!
//! The order graph and the usage bits are kept across all executions of a run, as lockdep
//! keeps them across the life of a kernel: an A-then-B order seen in one execution and
//! B-then-A in another is a `lock-order` violation even if no explored execution deadlocked,
//! and a class used in hardirq context in one execution and taken with interrupts enabled
//! in another is an inconsistent lock state although no interrupt ever preempted the holder.
//! A lock's class is its name.
//!
//! What is checked when a thread takes a lock, in lockdep's order (`__lock_acquire`):
//! 1. IRQ usage (`mark_usage`): the class is marked `IN-HARDIRQ` in hardirq context and
//!    `HARDIRQ-ON` when taken with interrupts enabled (`-W` for a write or exclusive
//!    acquisition, `-R` for a read). A class marked both `IN-HARDIRQ` and `HARDIRQ-ON`,
//!    unless both marks are reads, is an "inconsistent lock state"; an `IN-HARDIRQ` class
//!    that reaches a `HARDIRQ-ON` one in the order graph is an "irq lock inversion".
//!    Interrupts enabled again while locks are held mark those locks too.
//! 2. Wait context (`check_wait_context`): a lock whose wait type is above the context's
//!    (a `spinlock_t`, `LD_WAIT_CONFIG`, under a `raw_spinlock_t`, `LD_WAIT_SPIN`, or in
//!    hardirq context) is an "invalid wait context" where `LD_WAIT_CONFIG` differs from
//!    `LD_WAIT_SPIN`: under `PROVE_RAW_LOCK_NESTING` (see [`crate::kernel::config`]); under
//!    `PREEMPT_RT` alone it is the sleeping lock's "sleeping function called from invalid
//!    context".
//! 3. Recursion (`check_deadlock`): a thread taking a read-write lock class it already holds
//!    is "possible recursive locking", unless both are reads and the new one is recursive.
//! 4. Order (`check_prevs_add`): a cycle of classes, of any length, whose locks each block
//!    the waiter before them is a "possible circular locking dependency", and a new order from a
//!    `HARDIRQ-safe` class to a `HARDIRQ-unsafe` one is reported as lockdep words it.
//!
//! The usage bits and the order graph are ghost state read by checks, which is sound here
//! because each check's outcome does not depend on the order of the writes: whichever of two
//! conflicting marks (or of a mark and an order edge) comes second reports the same kind.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::Location;

use crate::check::{raise, Kind};
use crate::engine::{engine, thread_index, Engine, RawWait};
use crate::kernel::config::Config;
use crate::trace::with_recorder;
use crate::trace::{record, HeldLock, Obj, Op, OrderEdge, Recorder};
pub use crate::trace::{Mode, WaitType};

/// One IRQ usage bit of a lock class, as lockdep names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Usage {
    /// Taken in hardirq context (`IN-HARDIRQ`: the class is HARDIRQ-safe), else taken with
    /// hardirqs enabled (`HARDIRQ-ON`: HARDIRQ-unsafe).
    safe: bool,
    /// By a read acquisition (`-R`), else a write (`-W`).
    read: bool,
}

impl Usage {
    /// The marks this one is inconsistent with: the opposite state written, and read too
    /// unless this mark is a read itself (lockdep's `exclusive_bit`).
    fn conflicts(self) -> Vec<Usage> {
        let other = |read| Usage {
            safe: !self.safe,
            read,
        };
        if self.read {
            vec![other(false)]
        } else {
            vec![other(false), other(true)]
        }
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.safe {
            "IN-HARDIRQ"
        } else {
            "HARDIRQ-ON"
        };
        write!(f, "{state}-{}", if self.read { "R" } else { "W" })
    }
}

/// Why a thread's interrupts are disabled: the call that disabled them, and where.
pub(crate) type IrqOff = (&'static str, &'static Location<'static>);

/// One model thread's CPU: its interrupt state.
#[derive(Clone, Copy, Default)]
struct Cpu {
    /// Disabled, by what; `None` when enabled.
    irqs_off: Option<IrqOff>,
    /// Hardirq nesting depth ([`crate::kernel::hardirq::hardirq`]).
    hardirq: u32,
}

/// Lockdep's state beyond the held locks and the order graph, kept in the execution's
/// recorder: the kernel config and the usage bits, kept across the executions of a run, and
/// each thread's interrupt state, reset with every execution.
///
/// Ghost state: the config is fixed before the threads start; the interrupt state of a
/// thread is that thread's own; the usage bits are read by checks whose outcome does not
/// depend on the order of their writes (see the module doc).
#[derive(Default)]
pub struct State {
    pub(crate) config: Config,
    /// Per class: its usage bits, each with where it was first set.
    usage: BTreeMap<&'static str, BTreeMap<Usage, String>>,
    cpus: BTreeMap<usize, Cpu>,
}

impl crate::trace::Extension for State {
    /// Forget the previous execution's threads (the run's usage bits stay).
    fn reset(&mut self) {
        self.cpus.clear();
    }
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// A lock acquisition, as the lock types describe it to lockdep.
pub(crate) struct Acquire {
    /// The lock's class name.
    pub name: &'static str,
    /// The kernel call (`spin_lock_irqsave`).
    pub how: &'static str,
    /// Holding it makes the context atomic (a spinning lock, or any `spinlock_t`: see the
    /// fidelity table).
    pub atomic: bool,
    /// Write or read.
    pub mode: Mode,
    /// The class's wait type.
    pub wait: WaitType,
}

impl Acquire {
    #[track_caller]
    fn held(&self, me: usize) -> HeldLock {
        HeldLock {
            name: self.name,
            how: self.how,
            atomic: self.atomic,
            mode: self.mode,
            wait: self.wait,
            location: Location::caller(),
            step: with_recorder(|r| r.last_step(me)).flatten(),
        }
    }
}

/// One order, as lockdep prints it: who took which lock under which, and where each was
/// taken. Lines are separated by `\n`; reports keep them.
fn describe_edge(r: &Recorder, verb: &str, e: &OrderEdge) -> String {
    r.describe_wait(e.thread, verb, &e.to, std::slice::from_ref(&e.from))
}

/// Take a lock through `take`, which blocks until the engine grants it, checking IRQ usage,
/// wait context, recursion and lock order first (see the module doc).
#[track_caller]
pub(crate) fn lock<G>(a: &Acquire, take: impl FnOnce() -> G) -> G {
    let held = check_acquire(a);
    let g = take();
    acquired(held);
    g
}

/// The checks of taking `a` (IRQ usage, wait context, recursion, order); raises what they
/// find, else returns the lock as it will be held.
#[track_caller]
fn check_acquire(a: &Acquire) -> HeldLock {
    let me = thread_index();
    let held = a.held(me);
    let found = with_recorder(|r| {
        mark_usage(r, me, "takes", &held)
            .or_else(|| wait_context(r, me, &held))
            .or_else(|| recursion(r, me, &held))
            .or_else(|| order(r, me, &held))
            .or_else(|| rt_sleep(r, me, &held))
    })
    .flatten();
    if let Some((kind, message)) = found {
        // The attempt is the event the report marks.
        record(Op::Lock(a.how), Obj::Named(a.name));
        raise(kind, message);
    }
    held
}

/// The running thread now holds `held` (from [`acquiring`] or a lock).
#[track_caller]
pub(crate) fn acquired(held: HeldLock) {
    let me = thread_index();
    let (name, how) = (held.name, held.how);
    with_recorder(|r| r.acquired(me, held));
    record(Op::Lock(how), Obj::Named(name));
}

/// A wait on something a lock holder may have to finish, seen by lockdep as taking the
/// item's class (its `lock_map_acquire`): `del_timer_sync` and `flush_work` take the timer's
/// or work's class, and so does the handler while it runs. `atomic`: holding it makes the
/// context atomic. The class is exclusive and its wait type is never checked (lockdep's
/// maps for timers and work carry no wait type the check compares). Pass what it returns to
/// [`acquired`] once the wait is over.
#[track_caller]
pub(crate) fn acquiring(name: &'static str, how: &'static str, atomic: bool) -> HeldLock {
    check_acquire(&Acquire {
        name,
        how,
        atomic,
        mode: Mode::Write,
        wait: WaitType::Spin,
    })
}

/// Block on `w` until `ready(word)`, then change the word with `f`, seen by lockdep as
/// taking `class` as `how` (`wait_for_completion`, `del_timer_sync`): the wait is checked
/// against the locks held and recorded, so a deadlock report names what each blocked
/// thread waits for. A wait under real threads that runs out of patience is a `deadlock`.
#[track_caller]
pub(crate) fn wait<R>(
    w: &RawWait,
    class: &'static str,
    how: &'static str,
    ready: impl Fn(u64) -> bool,
    f: impl FnOnce(&mut u64) -> R,
) -> R {
    let held = acquiring(class, how, false);
    let Some(r) = w.wait(ready, f) else {
        raise(
            Kind::Deadlock,
            format!(
                "{how}({class}) waited {} s and nothing ended the wait",
                RawWait::STD_PATIENCE.as_secs()
            ),
        );
    };
    acquired(held);
    released(class, how);
    r
}

/// Try a lock through `take`, which never blocks; on success the lock is held, with its IRQ
/// usage checked (a trylock adds no order and has no wait context, as in lockdep).
#[track_caller]
pub(crate) fn trylock<G>(a: &Acquire, take: impl FnOnce() -> Option<G>) -> Option<G> {
    let me = thread_index();
    let held = a.held(me);
    let g = take();
    if g.is_none() {
        record(Op::Call(a.how), Obj::Named(a.name));
        return None;
    }
    record(Op::Lock(a.how), Obj::Named(a.name));
    if let Some(Some((kind, message))) = with_recorder(|r| mark_usage(r, me, "takes", &held)) {
        raise(kind, message);
    }
    with_recorder(|r| r.acquired(me, held));
    g
}

/// Release a lock taken by [`lock`] or [`trylock`]: `release` gives it back to the engine.
#[track_caller]
pub(crate) fn unlock(release: impl FnOnce(), name: &'static str, how: &'static str) {
    if std::thread::panicking() && engine() != Engine::Std {
        // A loom or shuttle execution that ends in a panic (a violation, a deadlock) is
        // over, and its runtime may be gone: asking it which thread this is would panic in
        // a destructor and abort. The recorder forgets the held locks at the next reset.
        release();
        return;
    }
    released(name, how);
    release();
}

/// The running thread no longer holds `name`, released as `how`.
#[track_caller]
pub(crate) fn released(name: &'static str, how: &'static str) {
    if !std::thread::panicking() {
        record(Op::Unlock(how), Obj::Named(name));
    }
    let me = thread_index();
    with_recorder(|r| r.released(me, name));
}

// ------------------------------------------------------------------ interrupt state

/// The running thread's interrupt state: `(in hardirq context, disabled by)`.
pub(crate) fn irq_state() -> (bool, Option<IrqOff>) {
    let me = thread_index();
    with_recorder(|r| {
        r.lockdep(|s: &mut State| {
            let c = s.cpus.get(&me).copied().unwrap_or_default();
            (c.hardirq > 0, c.irqs_off)
        })
    })
    .unwrap_or((false, None))
}

/// Set the running thread's interrupts disabled by `off`, or enabled (`None`). Enabling
/// them while locks are held marks those locks `HARDIRQ-ON` (lockdep's `mark_held_locks`).
#[track_caller]
pub(crate) fn set_irqs(off: Option<IrqOff>) {
    let me = thread_index();
    let found = with_recorder(|r| {
        let was = r.lockdep(|s: &mut State| {
            std::mem::replace(&mut s.cpus.entry(me).or_default().irqs_off, off)
        });
        if was.is_some() && off.is_none() {
            r.held(me)
                .iter()
                .find_map(|h| mark_usage(r, me, "enables interrupts holding", h))
        } else {
            None
        }
    })
    .flatten();
    if let Some((kind, message)) = found {
        raise(kind, message);
    }
}

/// Enter (`+1`) or leave (`-1`) hardirq context on the running thread.
pub(crate) fn hardirq_nesting(delta: i32) {
    let me = thread_index();
    with_recorder(|r| {
        r.lockdep(|s: &mut State| {
            let c = s.cpus.entry(me).or_default();
            c.hardirq = c.hardirq.saturating_add_signed(delta);
        })
    });
}

/// Why the running thread may not sleep, from its interrupt state alone: in hardirq
/// context, or with interrupts disabled (`might_sleep`'s `irqs_disabled()`).
pub(crate) fn irq_reason() -> Option<String> {
    match irq_state() {
        (true, _) => Some("in hardirq context".into()),
        (false, Some((how, l))) => Some(format!(
            "interrupts are disabled ({how} at {}:{})",
            l.file(),
            l.line()
        )),
        (false, None) => None,
    }
}

// ------------------------------------------------------------------ the checks

type Found = Option<(Kind, String)>;

/// How a usage reads in a report: `cpu0 takes in hardirq context: a_lock\n    spin_lock at
/// ..`, with `verb`.
fn describe(r: &Recorder, me: usize, verb: &str, h: &HeldLock) -> String {
    format!("{} {verb} {}\n    {}", r.thread_name(me), h.name, h.taken())
}

/// Mark the usage bits of `h`, which thread `me` takes, or holds while it enables
/// interrupts (`verb` says which).
fn mark_usage(r: &Recorder, me: usize, verb: &str, h: &HeldLock) -> Found {
    let (hardirq, off) = r.lockdep(|s: &mut State| {
        let c = s.cpus.get(&me).copied().unwrap_or_default();
        (c.hardirq > 0, c.irqs_off)
    });
    let read = h.mode != Mode::Write;
    let mut marks = Vec::new();
    if hardirq {
        marks.push(Usage { safe: true, read });
    }
    if off.is_none() {
        marks.push(Usage { safe: false, read });
    }
    marks.into_iter().find_map(|u| mark(r, me, h, verb, u))
}

/// Set usage bit `u` of `h`'s class: an inconsistent lock state if it conflicts with a bit
/// already set, an irq lock inversion if the order graph links it to a conflicting class.
fn mark(r: &Recorder, me: usize, h: &HeldLock, verb: &str, u: Usage) -> Found {
    let context = if u.safe {
        "in hardirq context"
    } else {
        "with interrupts enabled"
    };
    let here = describe(r, me, &format!("{verb} {context}:"), h);
    let (new, conflict) = r.lockdep(|s: &mut State| {
        let bits = s.usage.entry(h.name).or_default();
        if bits.contains_key(&u) {
            return (false, None);
        }
        let conflict = u
            .conflicts()
            .into_iter()
            .find_map(|c| bits.get(&c).map(|w| (c, w.clone())));
        bits.insert(u, here.clone());
        (true, conflict)
    });
    if let Some((c, was)) = conflict {
        return Some((
            Kind::InconsistentLockState,
            format!(
                "inconsistent lock state: inconsistent {{{c}}} -> {{{u}}} usage\n{here}\n\
                 but earlier in the run the {{{c}}} state was registered when\n{was}"
            ),
        ));
    }
    if !new {
        return None;
    }
    // A newly safe class must not reach an unsafe one, nor a newly unsafe class be
    // reached from a safe one.
    let (other, path) = reach(r, h.name, !u.safe, |c| has(r, c, !u.safe))?;
    let (first, last) = if u.safe {
        (h.name, other)
    } else {
        (other, h.name)
    };
    Some((
        Kind::IrqLockInversion,
        format!(
            "possible irq lock inversion dependency detected: {name} becomes {state}\n{here}\n\
             and earlier in the run {first} was held while taking {last}:\n{path}{safe}{unsafe_}",
            name = h.name,
            state = if u.safe {
                "HARDIRQ-safe"
            } else {
                "HARDIRQ-unsafe"
            },
            safe = registered(r, first, true),
            unsafe_ = registered(r, last, false),
        ),
    ))
}

/// True if class `c` has a HARDIRQ-safe (`safe`) or HARDIRQ-unsafe usage bit.
fn has(r: &Recorder, c: &str, safe: bool) -> bool {
    r.lockdep(|s: &mut State| {
        s.usage
            .get(c)
            .is_some_and(|b| b.keys().any(|u| u.safe == safe))
    })
}

/// Where class `c` became HARDIRQ-safe (`safe`) or -unsafe, as a report line.
fn registered(r: &Recorder, c: &str, safe: bool) -> String {
    r.lockdep(|s: &mut State| {
        s.usage.get(c).and_then(|b| {
            b.iter()
                .find(|(u, _)| u.safe == safe)
                .map(|(u, w)| format!("\n{c} is {{{u}}}, registered when\n{w}"))
        })
    })
    .unwrap_or_default()
}

/// The first class other than `from` that the order graph reaches from `from` (backwards,
/// against the edges, if `backwards`) and that `target` accepts, with the edges that lead
/// there, one per line, as reports print them.
fn reach(
    r: &Recorder,
    from: &'static str,
    backwards: bool,
    target: impl Fn(&str) -> bool,
) -> Option<(&'static str, String)> {
    let edges = r.with_order(|o| o.to_vec());
    let mut seen = BTreeSet::from([from]);
    let mut queue = vec![(from, Vec::<&OrderEdge>::new())];
    while !queue.is_empty() {
        let (at, path) = queue.remove(0);
        for e in &edges {
            let (near, far) = if backwards {
                (e.to.name, e.from.name)
            } else {
                (e.from.name, e.to.name)
            };
            if near != at || !seen.insert(far) {
                continue;
            }
            let mut p = path.clone();
            p.push(e);
            if target(far) {
                let lines: Vec<String> = p.iter().map(|e| describe_edge(r, "took", e)).collect();
                return Some((far, lines.join("\n")));
            }
            queue.push((far, p));
        }
    }
    None
}

/// Lockdep's `check_wait_context`: the lock's wait type must not exceed the context's,
/// which is the lowest of the locks held, and `LD_WAIT_SPIN` in hardirq context. On
/// PREEMPT_RT without PROVE_RAW_LOCK_NESTING lockdep cannot tell a `spinlock_t` from a raw
/// one (`LD_WAIT_CONFIG` is `LD_WAIT_SPIN`): the kernel's report is then the sleeping lock's
/// `might_sleep`, and so is the model's.
fn wait_context(r: &Recorder, me: usize, h: &HeldLock) -> Found {
    let (config, hardirq) = r.lockdep(|s: &mut State| {
        let c = s.cpus.get(&me).copied().unwrap_or_default();
        (s.config, c.hardirq > 0)
    });
    let who = r.thread_name(me);
    let prove = config.prove_raw_lock_nesting;
    if let Some(why) = exceeded(r, me, h, hardirq, prove) {
        let by = if prove {
            " (PROVE_RAW_LOCK_NESTING)"
        } else {
            ""
        };
        return Some((
            Kind::InvalidWaitContext,
            format!(
                "BUG: Invalid wait context{by}: {who} is trying to lock {name} ({}), {why}",
                h.wait.name(),
                name = h.name,
            ) + &format!("\n    {}", h.taken()),
        ));
    }
    let why = exceeded(r, me, h, hardirq, config.preempt_rt)?;
    Some((
        Kind::SleepInAtomic,
        format!(
            "BUG: sleeping function called from invalid context: {who} takes {name} ({}), a \
             sleeping lock on PREEMPT_RT, {why}",
            h.wait.name(),
            name = h.name,
        ) + &format!("\n    {}", h.taken()),
    ))
}

/// Why `h`'s wait type exceeds the running thread's context, if it does, with
/// `LD_WAIT_CONFIG` distinct from `LD_WAIT_SPIN` if `config_sleeps`.
fn exceeded(
    r: &Recorder,
    me: usize,
    h: &HeldLock,
    hardirq: bool,
    config_sleeps: bool,
) -> Option<String> {
    let effective = |w| match w {
        WaitType::Config if !config_sleeps => WaitType::Spin,
        w => w,
    };
    let mut context: Option<(WaitType, String)> =
        hardirq.then(|| (WaitType::Spin, "in hardirq context".to_string()));
    for held in r.held(me) {
        let w = effective(held.wait);
        if context.as_ref().is_none_or(|(c, _)| w < *c) {
            let why = format!(
                "while holding {} ({}: {})",
                held.name,
                held.taken(),
                held.wait.name()
            );
            context = Some((w, why));
        }
    }
    let (ctx, why) = context?;
    (effective(h.wait) > ctx).then_some(why)
}

/// Lockdep's `check_deadlock` for read-write locks: taking a class already held, unless
/// both are reads and the new one is recursive. Two exclusive acquisitions of one class
/// (two `irq_desc->lock`s) are left to the engines' deadlock detection (fidelity table).
fn recursion(r: &Recorder, me: usize, h: &HeldLock) -> Found {
    let held = r.held(me);
    let prev = held.iter().rev().find(|p| {
        p.name == h.name
            && (p.mode != Mode::Write || h.mode != Mode::Write)
            && h.mode.waits_for(p.mode)
    })?;
    Some((
        Kind::RecursiveLocking,
        format!(
            "possible recursive locking detected\n{}\n({} under {}: {} can wait for this \
             thread's own hold, or for a writer queued behind it)",
            r.describe_wait(me, "takes", h, std::slice::from_ref(prev)),
            h.mode.name(),
            prev.mode.name(),
            h.how,
        ),
    ))
}

/// Lockdep's `check_prevs_add`: record the order from every lock held to `h`; report a
/// cycle ("possible circular locking dependency") or an order from a HARDIRQ-safe class to
/// a HARDIRQ-unsafe one.
fn order(r: &Recorder, me: usize, h: &HeldLock) -> Found {
    if let Some((old, new)) = r.acquiring(me, h.clone()) {
        let old: Vec<String> = old.iter().map(|e| describe_edge(r, "took", e)).collect();
        return Some((
            Kind::LockOrder,
            format!(
                "possible circular locking dependency detected:\n{}\nbut earlier in the run\n{}",
                describe_edge(r, "takes", &new),
                old.join("\n")
            ),
        ));
    }
    for prev in r.held(me) {
        if prev.name == h.name {
            continue;
        }
        let safe = if has(r, prev.name, true) {
            Some(prev.name)
        } else {
            reach(r, prev.name, true, |c| has(r, c, true)).map(|(c, _)| c)
        };
        let unsafe_ = if has(r, h.name, false) {
            Some(h.name)
        } else {
            reach(r, h.name, false, |c| has(r, c, false)).map(|(c, _)| c)
        };
        if let (Some(safe), Some(unsafe_)) = (safe, unsafe_) {
            return Some((
                Kind::IrqLockInversion,
                format!(
                    "HARDIRQ-safe -> HARDIRQ-unsafe lock order detected\n{}{}{}",
                    r.describe_wait(me, "takes", h, std::slice::from_ref(&prev)),
                    registered(r, safe, true),
                    registered(r, unsafe_, false),
                ),
            ));
        }
    }
    None
}

/// On PREEMPT_RT a `spinlock_t` or `rwlock_t` is a sleeping lock: taking it with interrupts
/// disabled is `might_sleep`'s report (`rtlock_might_resched`, after lockdep's checks).
fn rt_sleep(r: &Recorder, me: usize, h: &HeldLock) -> Found {
    let (rt, off) = r.lockdep(|s: &mut State| {
        let c = s.cpus.get(&me).copied().unwrap_or_default();
        (s.config.preempt_rt, c.irqs_off)
    });
    let (how, l) = off.filter(|_| rt && h.wait == WaitType::Config)?;
    Some((
        Kind::SleepInAtomic,
        format!(
            "BUG: sleeping function called from invalid context: {} of {} sleeps on PREEMPT_RT, \
             but interrupts are disabled ({how} at {}:{})",
            h.how,
            h.name,
            l.file(),
            l.line()
        ),
    ))
}
