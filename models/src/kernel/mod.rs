//! The kernel API that models are written in. Names mirror the kernel one to one, and each
//! file is named after the header it mirrors, so `grep` finds the same name in the C and in
//! the model.
//!
//! Every call records an event in the execution's trace (see [`crate::trace`]) and goes
//! through [`engine`], which dispatches at run time to loom, shuttle or std.
//!
//! # Fidelity table
//!
//! What each primitive maps to under each engine, and in which direction the mapping can err.
//! "Hides" means a real bug could go unseen; "invents" means a reported bug might not exist
//! on real hardware.
//!
//! | kernel primitive | loom | shuttle | os | can err by |
//! |---|---|---|---|---|
//! | `READ_ONCE`/`WRITE_ONCE` | Relaxed load/store | SeqCst | Relaxed | loom: none known; shuttle hides every reordering |
//! | `READ_ONCE` of a table pointer (`read_once_dep`) | Acquire load (standing for the address dependency) | SeqCst | Acquire | hides: an Acquire load also orders later accesses that do not depend on the pointer (a second walk's root read), which arm64 and POWER may reorder; a plain C dereference (`*pmd`) on Alpha has no dependency ordering at all (`READ_ONCE` has it since v4.15) |
//! | `smp_wmb` | `fence(Release)` | SeqCst fence | `fence(Release)` | also orders earlier loads: hides a load->store reordering |
//! | `smp_rmb` | `fence(Acquire)` | SeqCst fence | `fence(Acquire)` | also orders later stores: hides a load->store reordering |
//! | `smp_mb` | `fence(SeqCst)`: loom orders all of them in one sequence, each synchronising with the one before | SeqCst fence | `fence(SeqCst)` | none known: forbids what the LKMM forbids in every shape of litmus/ (with vendor/loom's patch: published loom invents store buffering once a third thread does an RMW) |
//! | `dma_wmb` | `fence(Release)` | SeqCst fence | `fence(Release)` | the device is a thread with acquiring pointer loads |
//! | `smp_store_release`/`smp_load_acquire` | Release/Acquire | SeqCst | Release/Acquire | none known |
//! | `xchg`, `atomic64_{add,sub}_return` | `smp_mb`; relaxed RMW; `smp_mb` (fully ordered, as the LKMM defines it) | SeqCst RMW | same as loom | none known |
//! | `cmpxchg`, `test_and_set_bit` | a relaxed probe that writes back what it read (`cmpxchg(old, old)`, `fetch_or(0)`); if it would succeed, `smp_mb`; relaxed op; `smp_mb` | SeqCst exchange | `smp_mb`; exchange; `smp_mb` on success | loom: one that fails only because another thread wrote between probe and operation keeps the leading barrier (hides a bug that needs that failure unordered); the probe's write-back stores the value it read, right after it, which no read can tell apart; os: a failure keeps the leading barrier |
//! | `set_bit`, `clear_bit` | Relaxed RMW | SeqCst | Relaxed | none known |
//! | `spin_lock`/`spin_unlock`, `raw_spin_lock_irqsave` | blocking mutex (acquire/release) | blocking mutex | `std::sync::Mutex` | spinning is not modelled: a livelock is not seen; raw and plain spinlocks are one type (as on a non-RT kernel) |
//! | `mutex_lock` | blocking mutex; `might_sleep` | same | same | none known |
//! | `kref` (refcount_t) | `kref_get`: relaxed add (`refcount_inc`); `kref_put`: release sub, and `smp_acquire__after_ctrl_dep` when it reaches zero (`refcount_dec_and_test`) | SeqCst | same as loom | a get from zero is reported, not saturated |
//! | `assert_spin_locked` (held by anyone) | held by the caller: its own (ghost) holder record; held by another: a `try_lock` of the engine's lock, ordered against that thread's lock and unlock | same | same | none known; `lockdep_assert_held` asks about the running thread only, and is exact |
//! | `might_sleep` / atomic context | ghost: spinlocks held, declared contexts | same | same | preempt_disable is not tracked (rcu_read_lock is: see its row) |
//! | lockdep | order graph across all executions of a run, class = lock name | same | same | no subclasses or nesting annotations, and no "possible recursive locking": two locks of one class (two `irq_desc->lock`s) taken in opposite orders show only when an execution deadlocks |
//! | free against access (loom) | a loom cell per allocation: accesses share it, the free takes it; loom's causality check reports an access and a free that no lock, release/acquire or barrier chain orders | none (order as run) | none | invents: a free ordered after an access only by a control dependency (`if (READ_ONCE(done)) kfree(obj)`, which the LKMM orders) is reported, since loom does not model control dependencies (no current model frees that way: `kref_put` adds `smp_acquire__after_ctrl_dep`); in plain mode (the witness search) the cell is off and only interleavings count |
//! | frame reuse | a freed frame is reused (lowest freed first) only when no unused frame is left; the shadow is per frame, not per allocation | same | same | hides: a thread holding a stale table pointer across a free and a reuse accesses the new owner's table as live (KASAN's tag mode would catch it); it can still surface as lost-mapping or stale-translation |
//! | `__free_iova` after `find_iova` | the range is matched by value | same | same | hides: if the range was freed and allocated again in between, the model erases the new allocation silently, where the kernel would touch a freed `struct iova` |
//! | failed `cmpxchg` (loom) | the failing compare-exchange reads the latest value, like any loom RMW | reads the latest | the CPU's | hides: the LKMM lets a failed cmpxchg read an older value, as a `READ_ONCE` may |
//! | `spin_unlock` then `spin_lock` on one CPU (`po-unlock-lock-po`) | the lock is followed by an AcqRel fence when the thread has released a lock before (litmus MP+unlock-lock+rmb) | SC | the host's | hides: it also orders accesses between the unlock and the lock, which the LKMM leaves unordered |
//! | `kzalloc`/`kfree` | one engine word per object (its KASAN shadow): `kfree` writes it, every access and dereference (`KBox::get`) reads it just before, and under loom takes the object's cell | same word, read right after the access | same | allocation never sleeps for real; freed objects are never reused, so a reuse that would hide a use-after-free is not modelled |
//! | page allocator | one engine word per frame: allocation is a compare-and-exchange of the first unused (then freed) frame, searched from the running thread's own part of the pool (thread t of 5 starts at t/5, as per-cpu lists), free marks, poisons, then releases it | same | same | allocator-internal races are not modelled; the order is not the per-cpu lists' LIFO |
//! | IOVA tree (`alloc_iova`, `find_iova`, `free_iova`), reserved-iova's binding list and mask flag | plain containers reachable only through a guard of their spinlock (`LockedBy`, checked on each access): the lock, which every engine orders, orders every decision taken from them | same | same | decisions: none known. The tree is a sorted map searched from the limit each time, not an rbtree with `__get_cached_rbnode`'s cache |
//! | reserved-iova's `reserved_iova_cookie`, the setup's references handed to threads | engine words: the cookie holds the pointer (NULL or the iova_domain); one take counter per PA | same | same | none known |
//! | model reference state for checks (reserved-iova's gets not yet put, vtd's expected mappings) | ghost (std mutex): read by final checks after the threads joined and written commutatively or by one thread per key; vtd's `ever` is read while threads run, but each PA is recorded before the PTE store that publishes it | same | same | vtd `ever` hides in one corner: a reader that reached a PA through a stale table while its own page's map of that same PA is in flight (one PA mapped at two IOVAs; no scenario does) |
//! | IOMMU caches (IOTLB, paging-structure caches), `domain_flush_cache` | not modelled: the walker reads memory coherently, no flush exists | same | same | a bug that needs a stale cached entry is not seen; a walk racing a reclaim is reported even where the kernel's flush-before-free would make it safe; under loom any walker read of a table freed later is reported, however long before the free the walk ended, since nothing the walker does (no invalidation-wait completion) orders its reads before the free: no scenario has a walker and a free until the caches and queued invalidation are modelled |
//! | x86 hardware (TSO) | C11 model, weaker than TSO | SC | the host's | loom can report on x86 a store->store reordering that only the compiler (not the CPU) can make |
//! | load buffering (litmus LB+onces) | never explored: a load reads only stores already made | SC | the host's | hides a load->store reordering that arm64 and POWER make |
//! | control dependencies (litmus S+release+ctrl) | not modelled: a store after a branch on a load is not ordered after it, and loom orders two stores to one word only when the second's thread has seen the first | SC | the host's | invents a final value no CPU makes |
//! | lock cumulativity (litmus ISA2+locks+mb) | unlock/lock is a release/acquire pair between the two holders only | SC | the host's | invents an order a third CPU with `smp_mb` cannot see |
//! | `rcu_read_lock`/`rcu_read_unlock`, `synchronize_rcu` | one reader word per thread (nesting depth) behind an engine lock with a condvar; a grace period visits each thread's word in turn and waits until it is zero (5 words: loom's thread cap) | same (64 words) | same, a wait gives up after 10 s as `deadlock` | waits longer, never shorter: a reader that starts after the grace period began but before its thread's word is visited is waited for too (hides a bug that needs the grace period to end during such a reader); each visit is a release/acquire pair, also a full-barrier-like order for the updater; a read-side section is atomic context (`might_sleep` there is `sleep-in-atomic`) |
//! | `rcu_dereference`, `rcu_assign_pointer` | Acquire load (standing for the address dependency), Release store | SeqCst | Acquire/Release | hides: the Acquire load also orders later loads that do not depend on the pointer (litmus MP+assign+deref); no lockdep-RCU check of a dereference outside a read-side section |
//! | `call_rcu`, `kfree_rcu` | a new agent thread per call: a grace period (as above), then the callback in declared atomic context (`rcu callback (softirq)`) | same | same | callbacks of one CPU are not ordered among themselves (the kernel runs them in order); `rcu_barrier` is not modelled |
//! | agents (softirq, kworker, RCU callbacks) | a real engine thread per deferral (per `mod_timer`, `queue_work` that finds the item idle, `call_rcu`), scheduled like any thread, named `softirq: NAME`, `kworker: NAME`, `rcu: callbacks`, joined by `agents::join_all()` at the end of an execution | same | same | loom allows 5 threads per execution, main included: each agent counts; a handler that re-arms itself for ever exhausts them (a model error, not a verdict) |
//! | `mod_timer`, `del_timer`, `del_timer_sync`, `timer_pending` | time is not modelled: the handler may run at any point from arming until deleted; pending and running bits in one engine word with a condvar; the handler runs holding the timer's lockdep class in atomic context, `del_timer_sync` takes the class and waits for the running bit | same | same | hides: `expires` orders nothing (two timers fire in any order), and a timer never fires "late" after a `mod_timer` that pushed it back; no `timer_shutdown` |
//! | `queue_work`, `flush_work`, `cancel_work_sync` | as timers, in process context (not atomic); pending cleared before the function runs; one item never runs twice at once; `flush_work` waits until neither pending nor running | same | same | `flush_work` waits longer than the kernel's (also for a queueing made after it began); workqueues are not ordered (an ordered workqueue's FIFO is not modelled); `flush_workqueue` not modelled |
//! | `struct completion` | a count behind an engine lock with a condvar (release/acquire); `complete_all` sets it to `UINT_MAX`; `wait_for_completion` is `might_sleep` and records its wait so a deadlock report names the completion | same | same, a wait gives up after 10 s as `deadlock` | none known; no timeouts or interruptible waits |
//!
//! `iommu-mc litmus` measures this table against the LKMM: the litmus tests under litmus/
//! whose loom result differs from the LKMM's are listed in `KNOWN` (src/litmus/mod.rs) with
//! the row that explains them (`load-buffering`, `lock-cumulativity`, `modification-order`,
//! `smp_wmb`, `rcu_dereference`): 5 of 65 tests.
//!
//! Shuttle runs every atomic access sequentially consistently, so a scenario about memory
//! ordering is loom-only; scenarios say so. Loom keeps a bounded history of stores per atomic
//! (7), which can hide a read of a store older than that. Loom is the published 0.7.2 with
//! one patch (vendor/loom/PATCHES.md): a read-modify-write's store comes right after the store
//! it read, which published loom's partial modification order did not enforce.

pub mod agents;
pub mod atomic;
pub mod barrier;
pub mod completion;
pub mod engine;
pub mod errno;
pub mod iommu;
pub mod iova;
pub mod kasan;
pub mod kref;
pub mod lockdep;
pub mod mutex;
pub mod page_alloc;
pub mod rcupdate;
pub mod rwonce;
pub mod sched;
pub mod slab;
pub mod spinlock;
pub mod timer;
pub mod workqueue;

pub use atomic::{
    atomic64_add_return, atomic64_sub_return, atomic64_sub_return_relaxed, clear_bit, cmpxchg,
    set_bit, test_and_set_bit, xchg, Atomic64,
};
pub use barrier::{dma_wmb, smp_load_acquire, smp_mb, smp_rmb, smp_store_release, smp_wmb};
pub use completion::{
    complete, complete_all, init_completion, reinit_completion, try_wait_for_completion,
    wait_for_completion, Completion,
};
pub use errno::Errno;
pub use kref::{kref_get, kref_init, kref_put, kref_read, Kref};
pub use mutex::{mutex_lock, mutex_unlock, Mutex, MutexGuard};
pub use page_alloc::{Frame, PagePool};
pub use rcupdate::{
    call_rcu, kfree_rcu, rcu_assign_pointer, rcu_dereference, rcu_read_lock, rcu_read_unlock,
    synchronize_rcu,
};
pub use rwonce::{read_once, read_once_dep, write_once};
pub use sched::{in_atomic_context, might_sleep};
pub use slab::{kfree, kzalloc, Gfp, KBox, Slab};
pub use spinlock::{
    assert_spin_locked, lockdep_assert_held, raw_spin_lock_irqsave, raw_spin_unlock_irqrestore,
    spin_lock, spin_lock_irqsave, spin_unlock, spin_unlock_irqrestore, LockedBy, SpinGuard,
    SpinLock,
};
pub use timer::{del_timer, del_timer_sync, mod_timer, timer_pending, timer_setup, TimerList};
pub use workqueue::{
    cancel_work_sync, flush_work, queue_work, WorkStruct, WorkqueueStruct, INIT_WORK,
};

/// Rows of the fidelity table that a report quotes, keyed by what the trace shows:
/// `(key, row)`. Keys: a barrier's kernel name, `cmpxchg`, `spin_lock`, `pointer-load`,
/// `shuttle`, `os`.
pub const FIDELITY: &[(&str, &str)] = &[
    ("rcu_dereference", "rcu_dereference is an Acquire load standing for the address dependency of what the reader dereferences next: it also orders later loads that do not depend on the pointer, so it can hide a load->load reordering the LKMM allows"),
    ("pointer-load", "READ_ONCE of a table pointer is an Acquire load standing for the address dependency: it also orders later accesses that do not depend on the pointer, so it can hide a load->load reordering arm64 and POWER make"),
    ("smp_wmb", "smp_wmb is fence(Release): it also orders earlier loads, so it can hide a load->store reordering"),
    ("smp_rmb", "smp_rmb is fence(Acquire): it also orders later stores"),
    ("dma_wmb", "dma_wmb is fence(Release) against the device's acquiring pointer loads"),
    ("cmpxchg", "cmpxchg, xchg and test_and_set_bit are smp_mb(); relaxed RMW; smp_mb(), as the LKMM defines a fully ordered RMW; a cmpxchg or test_and_set_bit that fails orders nothing, unless another thread wrote between loom's probe and the operation (then it keeps the leading smp_mb, which can hide a bug)"),
    ("smp_mb", "smp_mb is fence(SeqCst); loom orders all of them in one sequence, each synchronising with the one before: the LKMM's strong fence in every shape of litmus/"),
    ("spin_lock", "spinlocks are blocking locks: a livelock while spinning is not seen"),
    ("load-buffering", "loom never lets a load read a store that comes later in another thread's program (no load buffering): it hides a load->store reordering that arm64 and POWER make"),
    ("lock-cumulativity", "an unlock and the next lock of it are a release/acquire pair seen by the two holders only; the LKMM also orders them for a third CPU that uses smp_mb: loom can invent a reordering there"),
    ("modification-order", "loom does not model control dependencies: a store after a branch on a load is not ordered after that load, and loom orders two stores to one location only when the second one's thread has seen the first, so a later reader may see either last: loom can invent a coherence order no CPU makes"),
    ("loom", "loom explores the C11 model, weaker than x86-TSO: a store->store reordering it reports happens on x86 only if the compiler makes it"),
    ("shuttle", "shuttle runs every access sequentially consistently: it cannot see a memory-ordering bug"),
    ("os", "os runs real threads: a pass proves nothing, a failure is real on this machine"),
];
