//! The per-execution event recorder.
//!
//! Every kernel call appends an [`Event`]: which model thread, what operation, on which object,
//! with which values, and where in the model source (`#[track_caller]`). Models add narrative
//! steps in their own words (`A1 check all PTEs empty`). Recording uses only std types behind
//! a std mutex, never an engine type, so it adds no scheduling point: loom and shuttle run
//! every thread of an execution on one OS thread, and the `os` engine merely serialises on it.

use std::borrow::Cow;
use std::panic::Location;
use std::sync::Arc;

use crate::engine::{thread_index, Context, Engine, Ghost};
use crate::violation::Violation;

/// The object a kernel call touched. Formatted only when a report is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Obj {
    /// No object (a fence, a step).
    None,
    /// Entry `index` of page-table frame `frame`.
    Entry {
        /// Frame number.
        frame: u32,
        /// Entry index in the frame.
        index: u32,
    },
    /// A whole frame (allocation, free).
    Frame(u32),
    /// A named kernel object (`page_table_lock`, `reserved_lock`).
    Named(&'static str),
    /// Object number `id` of a slab class (`binding 2`, `iova_domain 0`).
    Object {
        /// The class (struct name).
        class: &'static str,
        /// Allocation number within the execution.
        id: u32,
    },
    /// A named field of object number `id` of a slab class (`iova_domain 0->granule`), so
    /// that two words of one object read apart in a trace.
    Field {
        /// The class (struct name).
        class: &'static str,
        /// Allocation number within the execution.
        id: u32,
        /// The field's name.
        field: &'static str,
    },
}

impl Obj {
    /// Field `field` of this object; an object that is not a slab object stays as it is.
    pub fn field(self, field: &'static str) -> Obj {
        match self {
            Obj::Object { class, id } => Obj::Field { class, id, field },
            other => other,
        }
    }
}

/// What an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A narrative step of the model, in the thread's own words.
    Step(Cow<'static, str>),
    /// An atomic load (`READ_ONCE`, `smp_load_acquire`); value read.
    Load(u64),
    /// An atomic store (`WRITE_ONCE`, `smp_store_release`); value written.
    Store(u64),
    /// `cmpxchg(obj, old, new)`; the value found.
    Cmpxchg {
        /// Expected.
        old: u64,
        /// Replacement.
        new: u64,
        /// Found (equal to `old` on success).
        found: u64,
    },
    /// `xchg` or another read-modify-write; the value before and after.
    Rmw {
        /// The kernel name of the operation.
        name: &'static str,
        /// Value before.
        before: u64,
        /// Value after.
        after: u64,
    },
    /// A barrier by kernel name (`smp_wmb`).
    Barrier(&'static str),
    /// A lock taken by kernel name (`spin_lock`, `spin_lock_irqsave`).
    Lock(&'static str),
    /// A lock released.
    Unlock(&'static str),
    /// A page allocated (and zeroed).
    Alloc,
    /// A page freed.
    Free,
    /// An allocation that failed (-ENOMEM).
    AllocFail,
    /// A call that matters for context checks (`kzalloc(GFP_KERNEL)`, `iommu_map`).
    Call(&'static str),
}

/// How an acquisition holds its lock: lockdep's `read` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Exclusive: every spinlock and mutex, `write_lock`, `down_write` (`read` = 0).
    Write,
    /// Shared, and a waiting writer holds it back (`read` = 1): `down_read`, and `read_lock`
    /// outside interrupt context (queued rwlocks, as on x86 and arm64).
    Read,
    /// Shared, never held back by a waiting writer (`read` = 2): `read_lock` in interrupt
    /// context.
    RecursiveRead,
}

/// What waiting for a lock does (lockdep's `LD_WAIT_*`), lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WaitType {
    /// Spins, always (`raw_spinlock_t`): `LD_WAIT_SPIN`.
    Spin,
    /// Spins, or sleeps under PREEMPT_RT (`spinlock_t`, `rwlock_t`): `LD_WAIT_CONFIG`.
    Config,
    /// Sleeps (`struct mutex`, `struct rw_semaphore`): `LD_WAIT_SLEEP`.
    Sleep,
}

impl Mode {
    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Write => "write",
            Mode::Read => "read",
            Mode::RecursiveRead => "recursive read",
        }
    }

    /// True if a waiter taking a lock in this mode blocks on a holder in mode `holder`. A
    /// non-recursive reader counts as blocked by a reader, since a writer may queue between.
    pub fn waits_for(self, holder: Mode) -> bool {
        !(self == Mode::RecursiveRead && holder != Mode::Write)
    }
}

impl WaitType {
    /// Lockdep's name.
    pub fn name(self) -> &'static str {
        match self {
            WaitType::Spin => "LD_WAIT_SPIN",
            WaitType::Config => "LD_WAIT_CONFIG",
            WaitType::Sleep => "LD_WAIT_SLEEP",
        }
    }
}

/// Per-run state a layer above keeps in the recorder (lockdep's): forgets the previous
/// execution's part on `reset`.
pub trait Extension: std::any::Any + Send {
    /// Forget the previous execution (what spans the run stays).
    fn reset(&mut self);
    /// As `Any`, to find the concrete type.
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}

/// One recorded kernel call or step.
#[derive(Clone, Debug)]
pub struct Event {
    /// Model-thread index: 0 is setup/main, then the scenario's threads in order.
    pub thread: usize,
    /// What happened.
    pub op: Op,
    /// On what.
    pub obj: Obj,
    /// Where in the model source.
    pub location: &'static Location<'static>,
    /// Made by the checker's own look at the state (inside [`checking`]), not by the
    /// kernel code the model follows.
    pub by_checker: bool,
    /// The memory word accessed (one per [`crate::kernel::Atomic64`], distinct within an
    /// execution), or 0 for an event that is no access. Two fields of one object are one
    /// [`Obj`] but two words: only a write to the same word can be "not yet visible" to a
    /// read of it.
    pub word: u64,
    /// Whose step this is, for the short report: see [`Role`].
    pub role: Role,
}

/// Whose step an event is, as the short report judges which steps matter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// The kernel code the model follows: shown when one of its accesses conflicts with
    /// another thread's (every event that is not a marked step).
    #[default]
    Kernel,
    /// A step the story needs whatever memory it touches ([`key_step`]): a decision taken
    /// on a value the model keeps in a local, which no access shows.
    Key,
    /// A step the IOMMU takes on the submitting CPU's thread ([`hardware_step`]): judged as
    /// a hardware thread's steps are, shown only when what it wrote is what a failing check
    /// or the offending access read.
    Hardware,
}

/// A lock a thread holds or waits for, and where it was taken.
#[derive(Clone, Debug)]
pub struct HeldLock {
    /// Lock (class) name.
    pub name: &'static str,
    /// How it was taken (`spin_lock_irqsave`, `mutex_lock`).
    pub how: &'static str,
    /// True if holding it makes the context atomic (a spinlock).
    pub atomic: bool,
    /// Write (exclusive), read or recursive read (lockdep's `read` argument 0, 1, 2).
    pub mode: Mode,
    /// The class's wait type (lockdep's `wait_type_inner`).
    pub wait: WaitType,
    /// Where.
    pub location: &'static Location<'static>,
    /// The model's step label the thread was in when it took the lock
    /// (`msi_domain_activate`), if any.
    pub step: Option<Cow<'static, str>>,
}

impl HeldLock {
    /// How and where it was taken, for messages:
    /// `raw_spin_lock_irqsave at models/src/dma/reserved_iommu.rs:632, in msi_domain_activate`.
    pub fn taken(&self) -> String {
        let mut s = format!(
            "{} at {}:{}",
            self.how,
            self.location.file(),
            self.location.line()
        );
        if let Some(step) = &self.step {
            s += ", in ";
            s += step;
        }
        s
    }
}

/// An edge of the lock-order graph: `to` was taken while `from` was held.
#[derive(Clone, Debug)]
pub struct OrderEdge {
    /// The lock held.
    pub from: HeldLock,
    /// The lock taken under it.
    pub to: HeldLock,
    /// Thread index that did it.
    pub thread: usize,
}

/// Lockdep's `check_noncircular` for a new edge: a path of earlier edges from `new.to` back
/// to `new.from`, breadth first (the shortest). Each lock of the cycle must block its
/// waiter: at every lock the acquisition coming in waits for the hold going out, so a
/// recursive reader waits for no reader (lockdep's strong paths: no -(xR)->-(Sx)- pair).
fn cycle(order: &[OrderEdge], new: &OrderEdge) -> Option<Vec<OrderEdge>> {
    // States: a lock reached and the mode it was acquired in on the way.
    let start = (new.to.name, new.to.mode);
    let mut seen = vec![start];
    let mut queue = std::collections::VecDeque::from([(start, Vec::<&OrderEdge>::new())]);
    while let Some(((at, mode), path)) = queue.pop_front() {
        for e in order {
            if e.from.name != at || !mode.waits_for(e.from.mode) {
                continue;
            }
            let mut p = path.clone();
            p.push(e);
            if e.to.name == new.from.name && e.to.mode.waits_for(new.from.mode) {
                return Some(p.into_iter().cloned().collect());
            }
            let next = (e.to.name, e.to.mode);
            if !seen.contains(&next) {
                seen.push(next);
                queue.push_back((next, p));
            }
        }
    }
    None
}

#[derive(Default)]
struct Inner {
    events: Vec<Event>,
    violation: Option<Violation>,
    /// Per thread: locks held, innermost last.
    held: std::collections::BTreeMap<usize, Vec<HeldLock>>,
    /// Per thread: the lock it is blocked on.
    waiting: std::collections::BTreeMap<usize, HeldLock>,
    /// Per thread: declared atomic contexts (`msi_domain_activate`), innermost last.
    atomic: std::collections::BTreeMap<usize, Vec<(&'static str, &'static Location<'static>)>>,
    /// Lock-order edges seen in any execution of the run (lockdep): kept across `reset`.
    order: Vec<OrderEdge>,
    /// The scenario's names of threads 1, 2, ... (kept across `reset`).
    names: Vec<String>,
    /// Threads now inside [`checking`].
    checking: std::collections::BTreeSet<usize>,
    /// Per thread: the source location its events are recorded at while inside [`at`]
    /// (a guard's unlock runs in drop glue, whose own location is the standard library's).
    at: std::collections::BTreeMap<usize, &'static Location<'static>>,
    /// Per thread: the step label it recorded last in this execution.
    steps: std::collections::BTreeMap<usize, Cow<'static, str>>,
    /// Threads that have released a spinlock in this execution.
    unlocked: std::collections::BTreeSet<usize>,
    /// Threads spawned by name in this execution ([`Recorder::add_thread`]).
    spawned: usize,
    /// Lockdep's IRQ state: per-run usage bits, per-execution IRQ state, the kernel config.
    /// Lockdep's IRQ state and the kernel config, kept by the kernel layer, which this
    /// file does not name (see `Recorder::lockdep`).
    lockdep: Option<Box<dyn Extension>>,
    /// Names of the agent threads of this execution (`softirq: my_timer`), by index.
    agents: std::collections::BTreeMap<usize, String>,
    /// The kernel's own per-execution state (RCU's readers, the agents to join), by key.
    kernel:
        std::collections::BTreeMap<&'static str, std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

/// The trace of one execution, and the first violation raised in it.
#[derive(Default)]
pub struct Recorder {
    inner: Ghost<Inner>,
}

impl Recorder {
    /// A recorder for a scenario whose threads 1, 2, ... are called `names`.
    pub fn with_names(names: Vec<String>) -> Recorder {
        let r = Recorder::default();
        r.inner.with(|g| g.names = names);
        r
    }

    /// How messages name thread `t`: "setup" for 0, else the scenario's name for it
    /// ("thread N" when the recorder has no names).
    pub fn thread_name(&self, t: usize) -> String {
        if let Some(name) = self.inner.with(|g| g.agents.get(&t).cloned()) {
            return name;
        }
        match t {
            0 => "setup".into(),
            t => self
                .inner
                .with(|g| g.names.get(t - 1).cloned())
                .unwrap_or_else(|| format!("thread {t}")),
        }
    }

    /// A thread spawned by name during the execution (a model written as a closure): its
    /// index, the next after those spawned so far in this execution. Its name is kept for
    /// messages and reports (the same spawn in every execution gets the same index).
    pub fn add_thread(&self, name: &str) -> usize {
        self.inner.with(|g| {
            g.spawned += 1;
            let i = g.spawned;
            if g.names.len() < i {
                g.names.resize(i, String::new());
            }
            g.names[i - 1] = name.to_string();
            i
        })
    }

    /// The names of threads 1, 2, ...
    pub fn names(&self) -> Vec<String> {
        self.inner.with(|g| g.names.clone())
    }

    /// `thread` `verb` (`takes`, `waits for`) `lock` while holding `held`, as lock-order and
    /// deadlock messages lay it out: each lock on its own line, with how, where and in which
    /// step it was taken on the next.
    pub fn describe_wait(
        &self,
        thread: usize,
        verb: &str,
        lock: &HeldLock,
        held: &[HeldLock],
    ) -> String {
        let mut s = format!(
            "{} {verb} {}\n    {}",
            self.thread_name(thread),
            lock.name,
            lock.taken()
        );
        if held.is_empty() {
            s += "\n  holding nothing";
        }
        for h in held {
            s += &format!("\n  while holding {}\n    {}", h.name, h.taken());
        }
        s
    }

    /// Forget the previous execution (engines reuse one recorder per run).
    pub fn reset(&self) {
        self.inner.with(|g| {
            g.events.clear();
            g.at.clear();
            g.violation = None;
            g.held.clear();
            g.waiting.clear();
            g.atomic.clear();
            g.checking.clear();
            g.steps.clear();
            g.unlocked.clear();
            g.spawned = 0;
            if let Some(l) = g.lockdep.as_mut() {
                l.reset();
            }
            g.agents.clear();
            g.kernel.clear();
        })
    }

    /// Run `f` on lockdep's IRQ state and the kernel config (see
    /// `crate::kernel::lockdep::State`), created on first use.
    pub(crate) fn lockdep<T: Extension + Default, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.inner.with(|g| {
            let ext = g.lockdep.get_or_insert_with(|| Box::new(T::default()));
            let any: &mut dyn std::any::Any = ext.as_any();
            f(any
                .downcast_mut::<T>()
                .expect("one lockdep state type per recorder"))
        })
    }

    /// Run `f` on the lock-order graph: every edge seen in the run.
    pub(crate) fn with_order<R>(&self, f: impl FnOnce(&[OrderEdge]) -> R) -> R {
        self.inner.with(|g| f(&g.order))
    }

    /// Append an event (of the thread's, marked as the checker's inside [`checking`]).
    pub fn push(&self, mut e: Event) {
        self.inner.with(|g| {
            e.by_checker = g.checking.contains(&e.thread);
            // Empty but while a guard is being released: one test on the hot path.
            if !g.at.is_empty() {
                if let Some(at) = g.at.get(&e.thread) {
                    e.location = at;
                }
            }
            if let Op::Step(label) = &e.op {
                g.steps.insert(e.thread, label.clone());
            }
            g.events.push(e)
        });
    }

    /// Run `f` on the events so far, without copying them.
    pub fn with_events<R>(&self, f: impl FnOnce(&[Event]) -> R) -> R {
        self.inner.with(|g| f(&g.events))
    }

    /// Number of events so far.
    pub fn len(&self) -> usize {
        self.inner.with(|g| g.events.len())
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Event> {
        self.inner.with(|g| g.events.clone())
    }

    /// Keep the first violation of the execution; later ones are consequences.
    pub fn set_violation(&self, v: Violation) {
        self.inner.with(|g| {
            if g.violation.is_none() {
                g.violation = Some(v);
            }
        })
    }

    /// The violation raised in this execution, if any.
    pub fn violation(&self) -> Option<Violation> {
        self.inner.with(|g| g.violation.clone())
    }

    /// The step label `thread` recorded last in this execution.
    pub fn last_step(&self, thread: usize) -> Option<Cow<'static, str>> {
        self.inner.with(|g| g.steps.get(&thread).cloned())
    }

    /// Locks `thread` holds, innermost last.
    pub fn held(&self, thread: usize) -> Vec<HeldLock> {
        self.inner
            .with(|g| g.held.get(&thread).cloned().unwrap_or_default())
    }

    /// The atomic contexts `thread` declared, innermost last.
    pub fn atomic_contexts(
        &self,
        thread: usize,
    ) -> Vec<(&'static str, &'static Location<'static>)> {
        self.inner
            .with(|g| g.atomic.get(&thread).cloned().unwrap_or_default())
    }

    /// Enter or leave a declared atomic context.
    pub fn set_atomic(
        &self,
        thread: usize,
        ctx: Option<(&'static str, &'static Location<'static>)>,
    ) {
        self.inner.with(|g| {
            let v = g.atomic.entry(thread).or_default();
            match ctx {
                Some(c) => v.push(c),
                None => {
                    v.pop();
                }
            }
        })
    }

    /// `thread` is about to block on `lock`: record the wait and the lock-order edges from
    /// every lock it holds. Returns earlier edges that close a cycle with a new one, if any,
    /// from `lock` back to the held lock (lockdep's "possible circular locking dependency").
    pub fn acquiring(&self, thread: usize, lock: HeldLock) -> Option<(Vec<OrderEdge>, OrderEdge)> {
        self.inner.with(|g| {
            g.waiting.insert(thread, lock.clone());
            let held = g.held.get(&thread).cloned().unwrap_or_default();
            for h in held {
                if h.name == lock.name {
                    continue;
                }
                let new = OrderEdge {
                    from: h.clone(),
                    to: lock.clone(),
                    thread,
                };
                if let Some(path) = cycle(&g.order, &new) {
                    return Some((path, new));
                }
                if !g.order.iter().any(|e| {
                    e.from.name == h.name
                        && e.to.name == lock.name
                        && e.from.mode == h.mode
                        && e.to.mode == lock.mode
                }) {
                    g.order.push(new);
                }
            }
            None
        })
    }

    /// `thread` now holds `lock`.
    pub fn acquired(&self, thread: usize, lock: HeldLock) {
        self.inner.with(|g| {
            g.waiting.remove(&thread);
            g.held.entry(thread).or_default().push(lock);
        })
    }

    /// True if `thread` has released a spinlock earlier in this execution.
    pub fn has_unlocked(&self, thread: usize) -> bool {
        self.inner.with(|g| g.unlocked.contains(&thread))
    }

    /// `thread` released a spinlock (the LKMM's unlock; it has no mutexes).
    pub fn unlocked_spinlock(&self, thread: usize) {
        self.inner.with(|g| g.unlocked.insert(thread));
    }

    /// `thread` released `name`.
    pub fn released(&self, thread: usize, name: &'static str) {
        self.inner.with(|g| {
            if let Some(v) = g.held.get_mut(&thread) {
                if let Some(i) = v.iter().rposition(|h| h.name == name) {
                    v.remove(i);
                }
            }
        })
    }

    /// Who waits for what while holding what: the description of a realized deadlock.
    pub fn blocked(&self) -> Vec<(usize, HeldLock, Vec<HeldLock>)> {
        self.inner.with(|g| {
            g.waiting
                .iter()
                .map(|(t, w)| (*t, w.clone(), g.held.get(t).cloned().unwrap_or_default()))
                .collect()
        })
    }

    /// Name thread `t`, an agent the kernel spawned (a timer's softirq, a kworker).
    pub(crate) fn name_agent(&self, t: usize, name: String) {
        self.inner.with(|g| g.agents.insert(t, name));
    }

    /// An index for a thread spawned now by the kernel itself: one past every thread the
    /// scenario names and every thread spawned so far.
    pub(crate) fn next_thread_index(&self) -> usize {
        self.inner.with(|g| {
            let agents = g.agents.keys().copied();
            agents.max().unwrap_or(0).max(g.names.len()).max(g.spawned) + 1
        })
    }

    /// The kernel's state `key` of this execution, made by `make` on first use; forgotten
    /// at [`Recorder::reset`], so each execution starts from none.
    pub(crate) fn kernel_state<T: std::any::Any + Send + Sync>(
        &self,
        key: &'static str,
        make: impl FnOnce() -> T,
    ) -> std::sync::Arc<T> {
        let any = self.inner.with(|g| {
            g.kernel
                .entry(key)
                .or_insert_with(|| std::sync::Arc::new(make()))
                .clone()
        });
        any.downcast::<T>()
            .unwrap_or_else(|_| panic!("kernel state {key} used with two types"))
    }
}

/// Start an execution under `engine` on this OS thread, recording into `recorder`.
pub fn enter(engine: Engine, recorder: Arc<Recorder>) {
    crate::engine::enter(Context::new(engine, recorder));
}

/// Run `f` with the running execution's recorder, if any (recording never schedules).
pub fn with_recorder<R>(f: impl FnOnce(&Recorder) -> R) -> Option<R> {
    crate::engine::with_data::<Recorder, R>(f)
}

/// The index of the last event recorded in this execution, to point a violation at
/// ([`crate::check::raise_at`]).
pub fn last_event() -> Option<usize> {
    with_recorder(|r| r.len().checked_sub(1)).flatten()
}

/// Record an event of the running thread, at the caller's location.
#[track_caller]
pub fn record(op: Op, obj: Obj) {
    record_access(op, obj, 0)
}

/// Record an access of memory word `word` (see [`Event::word`]).
#[track_caller]
pub fn record_access(op: Op, obj: Obj, word: u64) {
    push_event(op, obj, word, Role::Kernel);
}

#[track_caller]
fn push_event(op: Op, obj: Obj, word: u64, role: Role) {
    let location = Location::caller();
    let thread = thread_index();
    with_recorder(|r| {
        r.push(Event {
            thread,
            op,
            obj,
            location,
            by_checker: false,
            word,
            role,
        })
    });
}

/// Run `f` with the running thread's events recorded at `location`, unless an enclosing
/// `at` already chose one: `spin_unlock(g)` passes its caller, and a guard dropped at the
/// end of a scope the place it was taken, instead of the drop glue's location.
pub fn at<R>(location: &'static Location<'static>, f: impl FnOnce() -> R) -> R {
    // A guard dropped while its thread unwinds from a violation records nothing, and under
    // loom or shuttle asking which thread this is could panic in a destructor and abort.
    if std::thread::panicking() {
        return f();
    }
    let thread = thread_index();
    let set = with_recorder(|r| {
        r.inner.with(|g| match g.at.entry(thread) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(location);
                true
            }
            std::collections::btree_map::Entry::Occupied(_) => false,
        })
    })
    .unwrap_or(false);
    let out = f();
    if set {
        with_recorder(|r| r.inner.with(|g| g.at.remove(&thread)));
    }
    out
}

/// Run `f`, a check of the model's state made from inside a thread (the IOVA a get returns
/// translates to its PA): its reads are still scheduling points, but reports mark them as
/// the checker's, not the kernel code's.
pub fn checking<R>(f: impl FnOnce() -> R) -> R {
    let thread = thread_index();
    with_recorder(|r| r.inner.with(|g| g.checking.insert(thread)));
    let out = f();
    with_recorder(|r| r.inner.with(|g| g.checking.remove(&thread)));
    out
}

/// A narrative step, in the words of the seed thread (`A1 check all PTEs empty`).
#[track_caller]
pub fn step(label: impl Into<Cow<'static, str>>) {
    record(Op::Step(label.into()), Obj::None);
}

/// A step the short report always shows: the model's word that the story turns here though
/// no memory access says so (`delete_reserved_binding(domain, newb)` with newb's fields still
/// kzalloc's zeros). Use it sparingly; a step that accesses what another thread touches is
/// shown anyway.
#[track_caller]
pub fn key_step(label: impl Into<Cow<'static, str>>) {
    step_as(label.into(), Role::Key);
}

/// A step of the IOMMU's, taken on the thread of the CPU that submitted the work (the
/// processing of an invalidation descriptor inside `qi_submit_sync`): reports judge it as a
/// hardware thread's step.
#[track_caller]
pub fn hardware_step(label: impl Into<Cow<'static, str>>) {
    step_as(label.into(), Role::Hardware);
}

#[track_caller]
fn step_as(label: Cow<'static, str>, role: Role) {
    push_event(Op::Step(label), Obj::None, 0, role);
}
