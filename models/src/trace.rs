//! The per-execution event recorder.
//!
//! Every kernel call appends an [`Event`]: which model thread, what operation, on which object,
//! with which values, and where in the model source (`#[track_caller]`). Models add narrative
//! steps in their own words (`A1 check all PTEs empty`). Recording uses only std types behind
//! a std mutex, never an engine type, so it adds no scheduling point: loom and shuttle run
//! every thread of an execution on one OS thread, and the `os` engine merely serialises on it.

use std::borrow::Cow;
use std::panic::Location;

use crate::check::Violation;
use crate::kernel::engine::Ghost;

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
}

#[derive(Default)]
struct Inner {
    events: Vec<Event>,
    violation: Option<Violation>,
    loom_threads: Vec<(usize, loom::thread::ThreadId)>,
}

/// The trace of one execution, and the first violation raised in it.
#[derive(Default)]
pub struct Recorder {
    inner: Ghost<Inner>,
}

impl Recorder {
    /// Forget the previous execution (engines reuse one recorder per run).
    pub fn reset(&self) {
        self.inner.with(|g| {
            g.events.clear();
            g.violation = None;
            g.loom_threads.clear();
        })
    }

    /// Append an event.
    pub fn push(&self, e: Event) {
        self.inner.with(|g| g.events.push(e));
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

    pub(crate) fn register_loom_thread(&self, index: usize, id: loom::thread::ThreadId) {
        self.inner.with(|g| g.loom_threads.push((index, id)));
    }

    pub(crate) fn loom_index(&self, id: loom::thread::ThreadId) -> Option<usize> {
        self.inner.with(|g| {
            g.loom_threads
                .iter()
                .find(|(_, t)| *t == id)
                .map(|(i, _)| *i)
        })
    }
}

/// Record an event of the running thread, at the caller's location.
#[track_caller]
pub fn record(op: Op, obj: Obj) {
    let location = Location::caller();
    let thread = crate::kernel::engine::thread_index();
    crate::kernel::engine::with_recorder(|r| {
        r.push(Event {
            thread,
            op,
            obj,
            location,
        })
    });
}

/// A narrative step, in the words of the seed thread (`A1 check all PTEs empty`).
#[track_caller]
pub fn step(label: impl Into<Cow<'static, str>>) {
    record(Op::Step(label.into()), Obj::None);
}
