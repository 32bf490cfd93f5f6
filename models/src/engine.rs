//! Run-time engine dispatch: the ONLY file of `models/` that names loom, shuttle or std
//! synchronisation types.
//!
//! The checker picks the engine per run (`--engine loom|shuttle-*|os`), not per build. Every
//! kernel type below holds one variant per engine and dispatches on it; the variant is chosen
//! when the object is created, from the engine of the execution that creates it. Model code
//! never sees the difference.
//!
//! Loom and shuttle run all threads of an execution as coroutines on one OS thread, so the
//! execution context lives in an OS thread-local. The `os` engine runs real threads; `spawn`
//! carries the context into each of them.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Which engine runs the current execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// loom: exhaustive DPOR over a C11-like memory model.
    Loom,
    /// shuttle: sampled (random, PCT) or exhaustive (DFS) schedules, sequentially consistent.
    Shuttle,
    /// Real OS threads and std atomics (the `os` engine), also used for sequential tests.
    Std,
}

/// Everything an execution's threads share: the engine, the layers' per-execution data
/// (the trace recorder: see `trace::enter`), and which loom thread is which model thread.
#[derive(Clone)]
pub struct Context {
    /// The engine that runs this execution.
    pub engine: Engine,
    /// Per-execution data of the layers above (the trace's recorder), which this file does
    /// not name: `data::<T>()` finds it by type.
    data: Arc<dyn Any + Send + Sync>,
    /// loom thread id -> model-thread index, for this execution.
    loom_threads: Arc<Ghost<Vec<(usize, loom::thread::ThreadId)>>>,
}

impl Context {
    /// The context of a new execution under `engine`, carrying `data`.
    pub fn new(engine: Engine, data: Arc<dyn Any + Send + Sync>) -> Context {
        Context {
            engine,
            data,
            loom_threads: Arc::new(Ghost::new(Vec::new())),
        }
    }
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
    /// Loom runs in plain (sequentially consistent) mode: see [`set_plain`].
    static PLAIN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The model-thread index of an `os` engine thread (loom and shuttle ask their runtime).
    static STD_THREAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Install the context of a new execution on this OS thread (the engines call this at the
/// start of every execution).
pub fn enter(ctx: Context) {
    STD_THREAD.with(|t| t.set(0));
    CONTEXT.with(|c| *c.borrow_mut() = Some(ctx));
}

/// Make the loom words created from now on (on this OS thread) sequentially consistent:
/// every access is an AcqRel read-modify-write, which reads the latest write to the word
/// in the order loom runs the threads. Loom then explores plain interleavings only, and a
/// violation it finds needs no weak-memory reordering. The loom engine looks for such a
/// witness before it shows a weak one.
pub fn set_plain(plain: bool) {
    PLAIN.with(|p| p.set(plain));
}

/// Remove the execution context from this OS thread.
pub fn leave() {
    CONTEXT.with(|c| *c.borrow_mut() = None);
}

/// The current execution's context. Panics outside an execution: kernel objects only exist
/// inside one.
pub fn context() -> Context {
    CONTEXT.with(|c| {
        c.borrow()
            .clone()
            .expect("kernel API used outside an execution (no engine context)")
    })
}

/// The engine of the current execution.
pub fn engine() -> Engine {
    CONTEXT.with(|c| c.borrow().as_ref().map_or(Engine::Std, |c| c.engine))
}

/// Run `f` with the current execution's data of type `T`, if there is an execution and
/// its data is a `T` (never a scheduling point).
pub fn with_data<T: 'static, R>(f: impl FnOnce(&T) -> R) -> Option<R> {
    CONTEXT.with(|c| {
        let c = c.borrow();
        c.as_ref()?.data.downcast_ref::<T>().map(f)
    })
}

/// The model-thread index loom thread `id` was spawned as.
fn loom_index(id: loom::thread::ThreadId) -> Option<usize> {
    CONTEXT.with(|c| {
        let c = c.borrow();
        c.as_ref()?
            .loom_threads
            .with(|t| t.iter().find(|(_, t)| *t == id).map(|(i, _)| *i))
    })
}

/// Whether this OS thread is a model thread the `os` engine spawned (loom's and shuttle's
/// model threads are coroutines of the thread that explores). A panic on one is part of the
/// exploration: the joiner passes it on.
pub fn is_os_model_thread() -> bool {
    STD_THREAD.with(|t| t.get()) != 0
}

/// The model-thread index of the running thread: 0 is the setup (main) thread, then the
/// scenario's threads in spawn order. Asking does not add a scheduling point.
pub fn thread_index() -> usize {
    match engine() {
        Engine::Loom => loom_index(loom::thread::current().id()).unwrap_or(0),
        Engine::Shuttle => usize::from(shuttle::current::me()),
        Engine::Std => STD_THREAD.with(|t| t.get()),
    }
}

/// A spawned model thread.
pub enum JoinHandle {
    /// loom thread.
    Loom(loom::thread::JoinHandle<()>),
    /// shuttle thread.
    Shuttle(shuttle::thread::JoinHandle<()>),
    /// OS thread.
    Std(std::thread::JoinHandle<()>),
}

/// Spawn model thread number `index` (1-based; 0 is the main thread) running `f`.
pub fn spawn(index: usize, f: impl FnOnce() + Send + 'static) -> JoinHandle {
    match engine() {
        Engine::Loom => {
            let h = loom::thread::spawn(f);
            let id = h.thread().id();
            CONTEXT.with(|c| {
                if let Some(c) = c.borrow().as_ref() {
                    c.loom_threads.with(|t| t.push((index, id)));
                }
            });
            JoinHandle::Loom(h)
        }
        Engine::Shuttle => JoinHandle::Shuttle(shuttle::thread::spawn(f)),
        Engine::Std => {
            let ctx = context();
            JoinHandle::Std(std::thread::spawn(move || {
                enter(ctx);
                STD_THREAD.with(|t| t.set(index));
                f()
            }))
        }
    }
}

impl JoinHandle {
    /// Wait for the thread; a panic in it (a violation) is passed on to the joiner.
    pub fn join(self) {
        let r = match self {
            JoinHandle::Loom(h) => h.join(),
            JoinHandle::Shuttle(h) => h.join(),
            JoinHandle::Std(h) => h.join(),
        };
        if let Err(payload) = r {
            std::panic::resume_unwind(payload);
        }
    }
}

/// A 64-bit atomic cell of the running engine.
pub(crate) enum RawAtomic {
    Loom(loom::sync::atomic::AtomicU64),
    /// loom in plain mode ([`set_plain`]): every access a read-modify-write.
    LoomPlain(loom::sync::atomic::AtomicU64),
    /// Shuttle runs one thread at a time; its own atomics yield both before and after the
    /// access, so another thread could run between an access and its trace event (and its
    /// KASAN check), putting a load after a free that came later. A plain word with one
    /// scheduling point before the access keeps access, event and check together.
    Shuttle(std::sync::atomic::AtomicU64),
    Std(std::sync::atomic::AtomicU64),
}

macro_rules! dispatch {
    ($self:expr, $a:ident => $e:expr) => {
        match $self {
            RawAtomic::Loom($a) => $e,
            // A read-modify-write reads the latest write whatever its ordering.
            RawAtomic::LoomPlain($a) => $e,
            RawAtomic::Shuttle($a) => {
                // shuttle's public context switch (`thread::switch()`, as its own atomics
                // do before each access).
                shuttle::thread::sleep(std::time::Duration::ZERO);
                $e
            }
            RawAtomic::Std($a) => $e,
        }
    };
}

impl RawAtomic {
    pub(crate) fn new(v: u64) -> Self {
        match engine() {
            Engine::Loom if PLAIN.with(|p| p.get()) => {
                RawAtomic::LoomPlain(loom::sync::atomic::AtomicU64::new(v))
            }
            Engine::Loom => RawAtomic::Loom(loom::sync::atomic::AtomicU64::new(v)),
            Engine::Shuttle => RawAtomic::Shuttle(std::sync::atomic::AtomicU64::new(v)),
            Engine::Std => RawAtomic::Std(std::sync::atomic::AtomicU64::new(v)),
        }
    }
    pub(crate) fn load(&self, o: Ordering) -> u64 {
        match self {
            RawAtomic::LoomPlain(a) => a.fetch_add(0, Ordering::AcqRel),
            _ => dispatch!(self, a => a.load(o)),
        }
    }
    pub(crate) fn store(&self, v: u64, o: Ordering) {
        match self {
            RawAtomic::LoomPlain(a) => {
                a.swap(v, Ordering::AcqRel);
            }
            _ => dispatch!(self, a => a.store(v, o)),
        }
    }
    /// A store that is not a scheduling point under shuttle: the allocator's own fill of a
    /// page it is handing out or taking back, which no other thread may interleave with.
    pub(crate) fn fill(&self, v: u64) {
        match self {
            RawAtomic::Shuttle(a) => a.store(v, Ordering::Relaxed),
            _ => self.store(v, Ordering::Relaxed),
        }
    }
    /// A Relaxed load that is not a scheduling point under shuttle: the checker's reads of
    /// allocation shadows, which belong to the access they judge. Under loom it is a load
    /// the engine explores like any other.
    pub(crate) fn peek(&self) -> u64 {
        match self {
            RawAtomic::Shuttle(a) => a.load(Ordering::Relaxed),
            _ => self.load(Ordering::Relaxed),
        }
    }
    pub(crate) fn swap(&self, v: u64, o: Ordering) -> u64 {
        dispatch!(self, a => a.swap(v, o))
    }
    pub(crate) fn compare_exchange(&self, old: u64, new: u64, o: Ordering) -> u64 {
        let fail = match o {
            Ordering::AcqRel | Ordering::Acquire => Ordering::Acquire,
            Ordering::SeqCst => Ordering::SeqCst,
            _ => Ordering::Relaxed,
        };
        let r = dispatch!(self, a => a.compare_exchange(old, new, o, fail));
        r.unwrap_or_else(|x| x)
    }
    pub(crate) fn fetch_or(&self, v: u64, o: Ordering) -> u64 {
        dispatch!(self, a => a.fetch_or(v, o))
    }
    pub(crate) fn fetch_and(&self, v: u64, o: Ordering) -> u64 {
        dispatch!(self, a => a.fetch_and(v, o))
    }
    pub(crate) fn fetch_add(&self, v: u64, o: Ordering) -> u64 {
        dispatch!(self, a => a.fetch_add(v, o))
    }
    pub(crate) fn fetch_sub(&self, v: u64, o: Ordering) -> u64 {
        dispatch!(self, a => a.fetch_sub(v, o))
    }
}

/// A memory fence of the running engine.
pub(crate) fn fence(o: Ordering) {
    match engine() {
        Engine::Loom => loom::sync::atomic::fence(o),
        Engine::Shuttle => shuttle::sync::atomic::fence(o),
        Engine::Std => std::sync::atomic::fence(o),
    }
}

/// The memory of one allocation as a whole, for loom's causality checking: every access
/// of the allocation is a shared access of the cell, its free an exclusive one. Loom reports
/// a free that is not ordered after every earlier access (happens-before), and an access
/// not ordered after the free, whatever order it ran them in: exactly the accesses a weakly
/// ordered CPU can let land on the wrong side of the free. Not a scheduling point. Under
/// shuttle and real threads there is no cell (their order is the order they ran in), nor
/// in loom's plain mode, whose every access synchronises with the one before it and which
/// looks only for violations an interleaving shows.
pub(crate) struct RawCell(Option<loom::cell::UnsafeCell<()>>);

// SAFETY: the cell holds `()`; nothing is ever read or written through it. It exists only
// for loom's access tracking, which is itself thread-safe within an execution.
unsafe impl Sync for RawCell {}
unsafe impl Send for RawCell {}

impl RawCell {
    pub(crate) fn new() -> Self {
        let loom = engine() == Engine::Loom && !PLAIN.with(|p| p.get());
        RawCell(loom.then(|| loom::cell::UnsafeCell::new(())))
    }

    /// An access of the allocation; `Err` if loom finds it unordered with the free.
    pub(crate) fn access(&self) -> Result<(), ()> {
        match &self.0 {
            Some(c) => caught(|| c.with(|_| ())),
            None => Ok(()),
        }
    }

    /// The free; `Err` if loom finds an earlier access not ordered before it.
    pub(crate) fn free(&self) -> Result<(), ()> {
        match &self.0 {
            Some(c) => caught(|| c.with_mut(|_| ())),
            None => Ok(()),
        }
    }
}

/// Run `f`; `Err` if it panicked (loom's causality violation). Loom marks the cell as
/// being read or written before it checks, so after an `Err` the cell is left in that
/// state: the caller must end the execution (raise a violation), never carry on.
fn caught(f: impl FnOnce()) -> Result<(), ()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| ())
}

/// The order the LKMM gives an unlock followed by a lock on one CPU (`po-unlock-lock-po`):
/// what came before the unlock is ordered before what comes after the lock, for every CPU.
/// A C11 mutex orders them only for the next holder of the same lock; under loom an
/// AcqRel fence right after the lock adds the rest. It also orders what lies between the
/// unlock and the lock, which the LKMM does not (the fidelity table's row).
pub(crate) fn unlock_lock_barrier() {
    if engine() == Engine::Loom {
        loom::sync::atomic::fence(Ordering::AcqRel);
    }
}

/// The full barrier of `smp_mb()` and of the fully ordered atomics: `fence(SeqCst)`.
///
/// Under loom it is a fence loom totally orders, each one synchronising with the one before
/// (loom joins every SeqCst fence's view), which is the LKMM's strong fence for every shape
/// its litmus tests check (see litmus/). Under shuttle, whose every access is sequentially
/// consistent, it is left out, so that it adds no scheduling point to the schedules that
/// `replay` strings name; under real threads it is the CPU's fence.
pub(crate) fn full_barrier() {
    match engine() {
        Engine::Loom => loom::sync::atomic::fence(Ordering::SeqCst),
        Engine::Shuttle => {}
        Engine::Std => std::sync::atomic::fence(Ordering::SeqCst),
    }
}

/// A blocking lock of the running engine: the body of `spinlock_t` and `struct mutex`.
///
/// Spinlocks are modelled as blocking locks: a spinning waiter and a blocked one reach the
/// same states, and blocking keeps loom's exploration finite and lets it detect deadlock.
pub(crate) enum RawLock {
    Loom(loom::sync::Mutex<()>),
    Shuttle(shuttle::sync::Mutex<()>),
    Std(std::sync::Mutex<()>),
}

/// The held state of a [`RawLock`].
#[allow(dead_code)] // each variant is held for its Drop
pub(crate) enum RawGuard<'a> {
    Loom(loom::sync::MutexGuard<'a, ()>),
    Shuttle(shuttle::sync::MutexGuard<'a, ()>),
    Std(std::sync::MutexGuard<'a, ()>),
}

impl RawLock {
    pub(crate) fn new() -> Self {
        match engine() {
            Engine::Loom => RawLock::Loom(loom::sync::Mutex::new(())),
            Engine::Shuttle => RawLock::Shuttle(shuttle::sync::Mutex::new(())),
            Engine::Std => RawLock::Std(std::sync::Mutex::new(())),
        }
    }
    /// Take the lock if it is free, without blocking (an operation the engine orders
    /// against every lock and unlock of it).
    pub(crate) fn try_lock(&self) -> Option<RawGuard<'_>> {
        match self {
            RawLock::Loom(m) => m.try_lock().ok().map(RawGuard::Loom),
            RawLock::Shuttle(m) => m.try_lock().ok().map(RawGuard::Shuttle),
            RawLock::Std(m) => m.try_lock().ok().map(RawGuard::Std),
        }
    }
    pub(crate) fn lock(&self) -> RawGuard<'_> {
        match self {
            RawLock::Loom(m) => RawGuard::Loom(m.lock().unwrap()),
            RawLock::Shuttle(m) => RawGuard::Shuttle(m.lock().unwrap_or_else(|e| e.into_inner())),
            RawLock::Std(m) => RawGuard::Std(m.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }
}

impl RawGuard<'_> {
    /// Release, unless the thread is unwinding from a violation: then a loom or shuttle
    /// guard is leaked, because their runtimes may already be torn down and a second panic
    /// in a destructor would abort the process. The execution is over either way.
    pub(crate) fn release(self) {
        if std::thread::panicking() && !matches!(self, RawGuard::Std(_)) {
            std::mem::forget(self);
        }
    }
}

/// Give other threads a chance to run (a scheduling point, as `cond_resched()`).
pub fn yield_now() {
    match engine() {
        Engine::Loom => loom::thread::yield_now(),
        Engine::Shuttle => shuttle::thread::yield_now(),
        Engine::Std => std::thread::yield_now(),
    }
}

/// Ghost state: the checker's own bookkeeping, behind a std mutex, never an engine type, so
/// the model's threads cannot race on it and touching it is never a scheduling point.
///
/// The rule for model authors: state may be ghost only if no thread branches on it and no
/// check reads it (the trace, names of objects, settings fixed before the threads start).
/// Anything else decides an outcome, and loom's DPOR reorders only what it sees: a free kept
/// in ghost state is never tried before the access it races with. Such state belongs in
/// engine words (`Atomic64`, a lock), one per object, so that independent operations stay
/// independent; or, when only holders of one spinlock touch it, in a
/// [`LockedBy`](crate::kernel::spinlock::LockedBy) of that lock, which checks the guard on
/// every access and lets the lock's order be the data's order (the IOVA tree, reserved-iova's
/// binding list and mask flag).
///
/// What may be ghost although something reads it, because the reader's result cannot
/// depend on an order of ghost writes the engine does not see:
/// - values fixed before the threads start (a slab's planned failures, the IOVAs the setup
///   hands to the threads; which thread takes one is an engine word);
/// - a thread's own entries, that no other thread reaches (reserved-iova's `returned`);
/// - what only final checks read, after every thread joined, if the threads' writes commute
///   (counts, flags set once) or each key has one writer (vtd's `mapped`);
/// - what a check reads while threads run, if every write it can observe is program-ordered
///   before an engine store that the reader loaded first (vtd's `ever`, inserted just before
///   the PTE store that publishes the PA).
///
/// Each such field says which case it is, where it is declared.
#[derive(Default)]
pub struct Ghost<T>(std::sync::Mutex<T>);

impl<T> Ghost<T> {
    /// Wrap a value.
    pub const fn new(v: T) -> Self {
        Ghost(std::sync::Mutex::new(v))
    }
    /// Run `f` on the value.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A process-wide source of identities (word and lock numbers for the trace): never a
/// scheduling point, never state a thread branches on.
pub struct IdSource(std::sync::atomic::AtomicU64);

impl IdSource {
    /// A source whose first identity is 1.
    pub const fn new() -> Self {
        IdSource(std::sync::atomic::AtomicU64::new(1))
    }
    /// A fresh identity.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

impl Default for IdSource {
    fn default() -> Self {
        Self::new()
    }
}

/// A reader-writer lock of the running engine: the body of `rwlock_t` and
/// `struct rw_semaphore`.
///
/// Each model thread takes it at most once at a time: a recursive read is counted by the
/// kernel type above, not taken here again (loom keeps one reader entry per thread, and
/// shuttle refuses a second read by the same thread). Writers are not preferred over new
/// readers under loom and shuttle: a reader is never held back by a waiting writer.
pub(crate) enum RawRwLock {
    Loom(loom::sync::RwLock<()>),
    /// Boxed: shuttle's lock is ten times the size of the others.
    Shuttle(Box<shuttle::sync::RwLock<()>>),
    Std(std::sync::RwLock<()>),
}

/// The held state of a [`RawRwLock`], read or write side.
#[allow(dead_code)] // each variant is held for its Drop
pub(crate) enum RawRwGuard<'a> {
    LoomRead(loom::sync::RwLockReadGuard<'a, ()>),
    LoomWrite(loom::sync::RwLockWriteGuard<'a, ()>),
    ShuttleRead(shuttle::sync::RwLockReadGuard<'a, ()>),
    ShuttleWrite(shuttle::sync::RwLockWriteGuard<'a, ()>),
    StdRead(std::sync::RwLockReadGuard<'a, ()>),
    StdWrite(std::sync::RwLockWriteGuard<'a, ()>),
}

impl RawRwLock {
    pub(crate) fn new() -> Self {
        match engine() {
            Engine::Loom => RawRwLock::Loom(loom::sync::RwLock::new(())),
            Engine::Shuttle => RawRwLock::Shuttle(Box::new(shuttle::sync::RwLock::new(()))),
            Engine::Std => RawRwLock::Std(std::sync::RwLock::new(())),
        }
    }
    /// Take the read side (`write` false) or the write side, blocking.
    pub(crate) fn lock(&self, write: bool) -> RawRwGuard<'_> {
        fn ok<G>(r: Result<G, std::sync::PoisonError<G>>) -> G {
            r.unwrap_or_else(|e| e.into_inner())
        }
        match (self, write) {
            (RawRwLock::Loom(l), false) => RawRwGuard::LoomRead(l.read().unwrap()),
            (RawRwLock::Loom(l), true) => RawRwGuard::LoomWrite(l.write().unwrap()),
            (RawRwLock::Shuttle(l), false) => RawRwGuard::ShuttleRead(ok(l.read())),
            (RawRwLock::Shuttle(l), true) => RawRwGuard::ShuttleWrite(ok(l.write())),
            (RawRwLock::Std(l), false) => RawRwGuard::StdRead(ok(l.read())),
            (RawRwLock::Std(l), true) => RawRwGuard::StdWrite(ok(l.write())),
        }
    }
    /// Take the read or write side if it is free now, without blocking.
    pub(crate) fn try_lock(&self, write: bool) -> Option<RawRwGuard<'_>> {
        match (self, write) {
            (RawRwLock::Loom(l), false) => l.try_read().ok().map(RawRwGuard::LoomRead),
            (RawRwLock::Loom(l), true) => l.try_write().ok().map(RawRwGuard::LoomWrite),
            (RawRwLock::Shuttle(l), false) => l.try_read().ok().map(RawRwGuard::ShuttleRead),
            (RawRwLock::Shuttle(l), true) => l.try_write().ok().map(RawRwGuard::ShuttleWrite),
            (RawRwLock::Std(l), false) => l.try_read().ok().map(RawRwGuard::StdRead),
            (RawRwLock::Std(l), true) => l.try_write().ok().map(RawRwGuard::StdWrite),
        }
    }
}

impl RawRwGuard<'_> {
    /// Release, unless the thread is unwinding from a violation (see [`RawGuard::release`]).
    pub(crate) fn release(self) {
        let std = matches!(self, RawRwGuard::StdRead(_) | RawRwGuard::StdWrite(_));
        if std::thread::panicking() && !std {
            std::mem::forget(self);
        }
    }
}

// ---------------------------------------------------------------- waiting (wait.h)

/// A 64-bit state word that threads wait on until it satisfies a condition, as a kernel
/// wait queue (`wait_event`/`wake_up_all`) over the state it guards: the body of
/// `struct completion` and of a work item's or timer's pending/running state.
///
/// The word sits behind an engine lock with an engine condition variable, so the engines
/// order every change and see a waiter as blocked: under loom and shuttle a wait that no
/// change can end is their deadlock (every thread left is blocked). Under real threads such
/// a wait would hang, so it gives up after [`RawWait::STD_PATIENCE`] and returns `None`.
pub(crate) enum RawWait {
    Loom(loom::sync::Mutex<u64>, loom::sync::Condvar),
    /// Boxed: shuttle's condition variable is large.
    Shuttle(Box<(shuttle::sync::Mutex<u64>, shuttle::sync::Condvar)>),
    Std(std::sync::Mutex<u64>, std::sync::Condvar),
}

impl RawWait {
    /// How long a wait under real threads lasts before it is taken for a deadlock.
    pub(crate) const STD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

    pub(crate) fn new(v: u64) -> Self {
        match engine() {
            Engine::Loom => RawWait::Loom(loom::sync::Mutex::new(v), loom::sync::Condvar::new()),
            Engine::Shuttle => RawWait::Shuttle(Box::new((
                shuttle::sync::Mutex::new(v),
                shuttle::sync::Condvar::new(),
            ))),
            Engine::Std => RawWait::Std(std::sync::Mutex::new(v), std::sync::Condvar::new()),
        }
    }

    /// Change the word with `f` (which returns what the caller gets back) and wake every
    /// waiter. One engine step: the lock orders it against every other change and wait.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        match self {
            RawWait::Loom(m, c) => {
                let r = f(&mut m.lock().unwrap());
                c.notify_all();
                r
            }
            RawWait::Shuttle(b) => {
                let (m, c) = &**b;
                let r = f(&mut m.lock().unwrap_or_else(|e| e.into_inner()));
                c.notify_all();
                r
            }
            RawWait::Std(m, c) => {
                let r = f(&mut m.lock().unwrap_or_else(|e| e.into_inner()));
                c.notify_all();
                r
            }
        }
    }

    /// Block until `ready(word)`, then change it with `f` under the same lock; returns what
    /// `f` returns, or `None` if a wait under real threads ran out of patience.
    pub(crate) fn wait<R>(
        &self,
        ready: impl Fn(u64) -> bool,
        f: impl FnOnce(&mut u64) -> R,
    ) -> Option<R> {
        match self {
            RawWait::Loom(m, c) => {
                let mut g = m.lock().unwrap();
                while !ready(*g) {
                    g = c.wait(g).unwrap();
                }
                let r = f(&mut g);
                drop(g);
                c.notify_all();
                Some(r)
            }
            RawWait::Shuttle(b) => {
                let (m, c) = &**b;
                let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                while !ready(*g) {
                    g = c.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                let r = f(&mut g);
                drop(g);
                c.notify_all();
                Some(r)
            }
            RawWait::Std(m, c) => {
                let g = m.lock().unwrap_or_else(|e| e.into_inner());
                let (mut g, timeout) = c
                    .wait_timeout_while(g, Self::STD_PATIENCE, |v| !ready(*v))
                    .unwrap_or_else(|e| e.into_inner());
                if timeout.timed_out() && !ready(*g) {
                    return None;
                }
                let r = f(&mut g);
                drop(g);
                c.notify_all();
                Some(r)
            }
        }
    }
}
