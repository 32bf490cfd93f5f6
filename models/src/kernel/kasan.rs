//! KASAN-like shadow state of allocations (pages, slab objects).
//!
//! A freed allocation keeps its memory, filled with `PAGE_POISON` as under
//! `CONFIG_PAGE_POISONING`, so a stale reader reads garbage rather than something plausible;
//! its shadow says it is freed, so every later access through a kernel primitive is reported
//! as `use-after-free`, by CPU threads and by the simulated hardware alike. A read that returns
//! the poison from an allocated object read memory whose initialisation it cannot see:
//! `uninitialized-read`.
//!
//! The shadow is engine state, not ghost state: whether an access is a use-after-free
//! depends on whether the free came first, so the free must be a write the engine orders
//! against every access of the allocation. Each allocation has its own word, so accesses
//! of different allocations stay independent, and the accesses themselves only read it
//! (reads never conflict with each other). Under loom the word is read just before the
//! access: nothing of the thread's own lies between the two, so the free is ordered after
//! the check exactly when it is ordered after the access. Under shuttle it is read right
//! after the access without a scheduling point, so the access, its trace event and its
//! check happen together.
//!
//! Execution order is not the whole story under loom: an access that ran before the free,
//! but that nothing orders before it (no lock, release/acquire or barrier chain, as when a
//! `kref_put` without release ordering drops the last but one reference), can land after
//! the free on a weakly ordered CPU; and a relaxed read of the shadow can miss a free that
//! ran earlier. So each allocation also has a loom cell ([`RawCell`]): accesses share it,
//! the free takes it exclusively, and loom's causality check reports either case. Both are
//! `use-after-free`.

use crate::check::{raise, Kind};
use std::sync::atomic::Ordering;

use crate::engine::{engine, Engine, RawAtomic, RawCell};
use crate::trace::{Obj, Op};

/// The byte pattern of poisoned memory (`PAGE_POISON`, include/linux/poison.h), as a u64.
pub const PAGE_POISON: u64 = 0xaaaa_aaaa_aaaa_aaaa;

/// Lifecycle of an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocState {
    /// Never handed out.
    Unused,
    /// Allocated and live.
    Live,
    /// Being freed: its memory is being poisoned; not yet reusable.
    Freeing,
    /// Freed.
    Freed,
}

impl AllocState {
    fn word(self) -> u64 {
        self as u64
    }
    fn from_word(w: u64) -> Self {
        match w {
            0 => AllocState::Unused,
            1 => AllocState::Live,
            2 => AllocState::Freeing,
            _ => AllocState::Freed,
        }
    }
}

/// The shadow of one allocation: one engine word per allocation.
pub struct Shadow {
    obj: Obj,
    state: RawAtomic,
    /// The allocation's memory as a whole, for loom's causality check.
    memory: RawCell,
}

impl Shadow {
    /// The shadow of `obj`, not yet allocated.
    pub fn new(obj: Obj) -> Self {
        Self::in_state(obj, AllocState::Unused)
    }

    /// The shadow of a new object that is live from the start (a slab object: no other
    /// thread can see it before its allocation returns, so marking it is no engine step).
    pub fn new_live(obj: Obj) -> Self {
        Self::in_state(obj, AllocState::Live)
    }

    fn in_state(obj: Obj, state: AllocState) -> Self {
        Shadow {
            obj,
            state: RawAtomic::new(state.word()),
            memory: RawCell::new(),
        }
    }

    /// Its state now, read without a scheduling point under shuttle (the final checks and
    /// the check that follows an access). Under loom it is a load the engine sees.
    pub fn state(&self) -> AllocState {
        AllocState::from_word(self.state.peek())
    }

    /// The state an access about to happen is judged by: under loom, read now (before the
    /// access); under the other engines `None`, and the access reads it afterwards.
    ///
    /// Under loom the access also takes the allocation's cell here, before the access, so
    /// that a release the access is followed by orders it before a free that acquires it.
    #[track_caller]
    pub(crate) fn before_access(&self) -> Option<AllocState> {
        if engine() != Engine::Loom {
            return None;
        }
        if self.memory.access().is_err() {
            // Loom's cell saw a write this access is not ordered after: the free, or, if
            // nothing freed the object in this execution, its allocation.
            if event_of(self.obj, Op::Free).is_some() {
                raise(
                    Kind::UseAfterFree,
                    format!(
                        "an access of {}, which another thread freed, is not ordered after \
                         the free: a use-after-free",
                        describe(self.obj),
                    ),
                )
            }
            handed_unseen(self.obj)
        }
        Some(self.state())
    }

    /// Try to take an unused allocation (or, with `reuse`, a freed one): true if this call
    /// made it live. The allocation is ordered after the free that poisoned it (Acquire).
    pub(crate) fn try_allocate(&self, reuse: bool) -> bool {
        let seen = self.state();
        let want = if reuse {
            AllocState::Freed
        } else {
            AllocState::Unused
        };
        if seen != want {
            return false;
        }
        self.state
            .compare_exchange(seen.word(), AllocState::Live.word(), Ordering::AcqRel)
            == seen.word()
    }

    /// Mark freed; a second free is a `double-free`.
    #[track_caller]
    pub fn free(&self) {
        self.begin_free();
        self.end_free();
    }

    /// First half of a free that poisons the memory: the allocation is no longer live (every
    /// later access is a use-after-free) but cannot be reused yet. A free of something
    /// already freed is a `double-free`.
    #[track_caller]
    pub(crate) fn begin_free(&self) {
        let before = self
            .state
            .swap(AllocState::Freeing.word(), Ordering::AcqRel);
        match AllocState::from_word(before) {
            AllocState::Live => {}
            AllocState::Unused => raise(
                Kind::DoubleFree,
                format!("{} freed but never allocated", describe(self.obj)),
            ),
            _ => raise(
                Kind::DoubleFree,
                format!("{} freed twice", describe(self.obj)),
            ),
        }
        // After the double-free check: two frees are that, before they are unordered.
        if self.memory.free().is_err() {
            raise(
                Kind::UseAfterFree,
                format!(
                    "{} is freed while an access of it by another thread is not ordered \
                     before the free (the latest by each other thread: {}): no lock, \
                     release/acquire or barrier chain leads from it to this free. A write \
                     can still be in a store buffer when the free happens, on any CPU; a \
                     read can be performed after it by a load->store reordering (arm64, \
                     POWER) or by the compiler",
                    describe(self.obj),
                    accesses_by_others(self.obj)
                ),
            );
        }
    }

    /// Second half: the poisoning is done (Release); the allocation may be reused.
    pub(crate) fn end_free(&self) {
        self.state
            .store(AllocState::Freed.word(), Ordering::Release);
    }

    /// Check an access that was just recorded: `before` is what [`Shadow::before_access`]
    /// returned, `loaded` what a load returned.
    #[track_caller]
    pub fn check_access(&self, before: Option<AllocState>, write: bool, loaded: Option<u64>) {
        let mut state = before.unwrap_or_else(|| self.state());
        if loaded == Some(PAGE_POISON) && engine() == Engine::Loom {
            // The poison may be what a free wrote, and a plain load of the shadow may return
            // the state from before that free. A read-modify-write reads the latest state,
            // which is the free's or a later one. Only this error path pays for it.
            state = AllocState::from_word(self.state.fetch_add(0, Ordering::Relaxed));
        }
        match state {
            AllocState::Live if loaded == Some(PAGE_POISON) => raise(
                Kind::UninitializedRead,
                format!(
                    "read PAGE_POISON from {}: the initialisation of the page is not visible \
                     to this reader",
                    describe(self.obj)
                ),
            ),
            AllocState::Live => {}
            state => raise(
                Kind::UseAfterFree,
                format!(
                    "{} of {} after it was {}",
                    if write { "write" } else { "read" },
                    describe(self.obj),
                    if state == AllocState::Unused {
                        "never allocated"
                    } else {
                        "freed"
                    }
                ),
            ),
        }
    }
}

/// The latest access of `obj` (or of an entry of the frame `obj`) by each thread other than
/// the running one, from the trace: `B's write at file:line; C's read at file:line`.
fn accesses_by_others(obj: Obj) -> String {
    let me = crate::engine::thread_index();
    let same = |o: Obj| match (o, obj) {
        (Obj::Entry { frame, .. }, Obj::Frame(f)) => frame == f,
        (Obj::Field { class, id, .. }, Obj::Object { class: c, id: i }) => class == c && id == i,
        (o, obj) => o == obj,
    };
    crate::trace::with_recorder(|r| {
        let mut latest = std::collections::BTreeMap::new();
        r.with_events(|ev| {
            for e in ev
                .iter()
                .filter(|e| e.thread != me && e.word != 0 && same(e.obj))
            {
                latest.insert(e.thread, (e.location, matches!(e.op, Op::Load(_))));
            }
        });
        latest
            .into_iter()
            .map(|(t, (l, read))| {
                format!(
                    "{}'s {} at {}:{}",
                    r.thread_name(t),
                    if read { "read" } else { "write" },
                    l.file(),
                    l.line()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
    .unwrap_or_default()
}

/// The thread that recorded the first `op` event on `obj` in this execution, if any.
fn event_of(obj: Obj, op: Op) -> Option<usize> {
    crate::trace::with_recorder(|r| {
        r.with_events(|ev| {
            ev.iter()
                .find(|e| e.obj == obj && e.op == op)
                .map(|e| e.thread)
        })
    })
    .flatten()
}

/// Loom found an access of `obj` that is not ordered after its allocation: the model, not
/// the kernel, is at fault. The object reached this thread through state the engine cannot
/// see, so loom finds no happens-before from the allocation to the access, and would report
/// it on every run. A model error, naming the object, both threads and the fix.
#[track_caller]
fn handed_unseen(obj: Obj) -> ! {
    let (me, creator) = crate::trace::with_recorder(|r| {
        let creator =
            event_of(obj, Op::Alloc).map_or("another thread".into(), |t| r.thread_name(t));
        (r.thread_name(crate::engine::thread_index()), creator)
    })
    .unwrap_or_else(|| ("this thread".into(), "another thread".into()));
    let at = std::panic::Location::caller();
    panic!(
        "{me} accessed {} at {}:{}, but nothing the engine sees orders that after {creator}'s \
         allocation of it: the model handed the object over through state loom cannot see (a \
         Ghost side table, a std type, a captured copy). Fix the model: publish the pointer \
         through an engine word (smp_store_release or WRITE_ONCE of an Atomic64, read with \
         smp_load_acquire or READ_ONCE; rcu_assign_pointer), or under a lock, as the kernel \
         code does",
        describe(obj),
        at.file(),
        at.line()
    )
}

/// A short name of an object for messages (reports render richer names from the trace).
pub fn describe(obj: Obj) -> String {
    match obj {
        Obj::None => "memory".into(),
        Obj::Entry { frame, index } => format!("frame {frame} [{index}]"),
        Obj::Frame(f) => format!("frame {f}"),
        Obj::Named(n) => n.into(),
        Obj::Object { class, id } => format!("{class} {id}"),
        Obj::Field { class, id, field } => format!("{class} {id}->{field}"),
    }
}
