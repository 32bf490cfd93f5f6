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
//! | `cmpxchg` | a relaxed probe that writes back what it read (`cmpxchg(old, old)`); if it would succeed, `smp_mb`; relaxed op; `smp_mb` | SeqCst exchange | `smp_mb`; exchange; `smp_mb` on success | loom: one that fails only because another thread wrote between probe and operation keeps the leading barrier (hides a bug that needs that failure unordered); the probe's write-back stores the value it read, right after it, which no read can tell apart; os: a failure keeps the leading barrier |
//! | `test_and_set_bit` | `smp_mb`; relaxed `fetch_or`; `smp_mb`, also when the bit was set (fully ordered on failure since v6.0, Documentation/atomic_bitops.txt) | SeqCst RMW | same as loom | none known; a kernel before v6.0 left a failure unordered (its generic early-exit read): the model hides such a kernel's store-buffering outcome |
//! | `set_bit`, `clear_bit` | Relaxed RMW | SeqCst | Relaxed | none known |
//! | `spin_lock`/`spin_unlock`, `raw_spin_lock_irqsave` | blocking mutex (acquire/release) | blocking mutex | `std::sync::Mutex` | spinning is not modelled: a livelock is not seen; `raw_spinlock_t` and `spinlock_t` are one Rust type, which one a lock is set at init (`SpinLock::new_raw`; see the wait-type row) |
//! | `mutex_lock` | blocking mutex; `might_sleep` | same | same | none known |
//! | `kref` (refcount_t) | `kref_get`: relaxed add (`refcount_inc`); `kref_put`: release sub, and `smp_acquire__after_ctrl_dep` when it reaches zero (`refcount_dec_and_test`) | SeqCst | same as loom | a get from zero is reported, not saturated |
//! | `assert_spin_locked` (held by anyone) | held by the caller: its own (ghost) holder record; held by another: a `try_lock` of the engine's lock, ordered against that thread's lock and unlock | same | same | none known; `lockdep_assert_held` asks about the running thread only, and is exact |
//! | `might_sleep` / atomic context | ghost: spinlocks held, declared contexts | same | same | preempt_disable is not tracked (rcu_read_lock is: see its row) |
//! | lockdep | order graph across all executions of a run, class = lock name | same | same | no subclasses or nesting annotations, and no "possible recursive locking" for two exclusive acquisitions of one class (it is reported for read-write locks, see the read-acquisitions row): two locks of one class (two `irq_desc->lock`s) taken in opposite orders show only when an execution deadlocks |
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
//! | IOMMU translation caches (hw/cache.rs, hw/vtd.rs: context, PASID, IOTLB, device TLB) | one engine word per tag the model declares; a fill is a step of a hardware thread (a DMA that missed, or a scenario's prefetch); entries stay until invalidated, never evicted; a translation and the processing of an invalidation never overlap (a reader-writer lock: the drain whose completion VT-d guarantees) | same | same | hides: a bug that needs a fill the scenario's hardware threads do not make; never invents a stale entry (no eviction only keeps what the spec lets hardware keep) |
//! | queued invalidation (`qi_submit_sync`, hw/qi.rs) | the hardware's processing of a submission runs as steps on the submitting thread, after the queueing and before the return, one submission at a time; `qi->q_lock` is not a lock of the model | same | same | hides: a bug in the interleaving of two CPUs' queueing (none of the seeds has one); the lock-hold figures count these steps as the submitter's |
//! | VT-d entries and invalidation scope (hw/vtd.rs) | a context or PASID entry is one word, written with one store; a domain-selective IOTLB invalidation removes second-stage and no-PASID entries, not first-stage ones; a device-TLB invalidation without PASID removes no-PASID entries only | same | same | hides: a torn read of a 128- or 512-bit entry; invents: if the hardware removes more than the kernel's reading of the spec (Baolu's), a stale first-stage or PASID device-TLB entry reported after such an invalidation is a false alarm |
//! | vtd-first-level's walker (hw/walker.rs) and `domain_flush_cache` (clflush) | the walker looks up the IOTLB, then the deepest cached paging-structure entry, then memory, filling each as it goes (steps of the walker thread; a `prefetch` fills without a DMA); unmap frees tables only after the page-selective invalidation (IH=0) completed; a walk checks, before its translation ends, that it reached no PA an unmap took once that unmap's invalidation completed, and after the threads every cache entry is checked against the page tables; with `coherent = 0` (no page-walk coherency: ECAP.SMPWC, or ECAP.C in the 2019 driver) the walker reads a memory copy of each entry that holds poison from each allocation of its frame and that only `domain_flush_cache` updates | same | same | hides a bug that needs a fill the scenario does not make; with `coherent = 0` there is no spontaneous write-back: a missing flush is never hidden by an early write-back (on a table's first use and every reuse), but a walk through a stale pointer into a re-used frame reads memory as last flushed, not as the new owner wrote it; the walker never writes: hardware A/D-bit updates are not modelled (leaves as if A/D were preset, as the later kernel does), which hides a hardware write into a freed table; the page-selective invalidation covers exactly the range, not the naturally aligned 2^AM-page block the hardware invalidates: it hides nothing (a driver that relies on the rounding is reported); caches exist only for IOVA spaces of 256 pages or fewer (the property tests' real geometry walks uncached) |
//! | x86 hardware (TSO) | C11 model, weaker than TSO | SC | the host's | loom can report on x86 a store->store reordering that only the compiler (not the CPU) can make |
//! | load buffering (litmus LB+onces) | never explored: a load reads only stores already made | SC | the host's | hides a load->store reordering that arm64 and POWER make |
//! | control dependencies (litmus S+release+ctrl) | not modelled: a store after a branch on a load is not ordered after it, and loom orders two stores to one word only when the second's thread has seen the first | SC | the host's | invents a final value no CPU makes |
//! | lock cumulativity (litmus ISA2+locks+mb) | unlock/lock is a release/acquire pair between the two holders only | SC | the host's | invents an order a third CPU with `smp_mb` cannot see |
//! | `atomic_t`: `atomic_read`/`atomic_set`, `atomic_read_acquire`/`atomic_set_release`, `atomic_{add,sub,inc,dec}` | Relaxed, Acquire, Release load or store; the void read-modify-writes are Relaxed | SeqCst | same as loom | the `int` is kept sign-extended in a 64-bit word: every read wraps as the kernel's does, but an `atomic_cmpxchg` (or `atomic_inc_not_zero`) of a count that has passed `INT_MAX` compares the unwrapped word and fails (no model counts that far) |
//! | `atomic_*_return`, `atomic_fetch_*`, `atomic_xchg`, `atomic_dec_and_test`, `atomic_{inc,sub}_and_test`, and their `_relaxed`/`_acquire`/`_release` forms | fully ordered: `smp_mb`; relaxed RMW; `smp_mb` (the code of `xchg`); `_relaxed`: Relaxed RMW; `_acquire`: Acquire RMW; `_release`: Release RMW | SeqCst RMW | same as loom | none known (litmus/ `SB+atomic-*`, `MP+atomic-*`) |
//! | `atomic_cmpxchg`, `atomic_inc_not_zero`, `atomic_add_unless`, `atomic_fetch_add_unless` | `atomic_cmpxchg` is `cmpxchg` (probe, then fully ordered on success); its `_acquire`/`_release` forms a C11 compare-exchange of that ordering; the others the kernel's generic loop: `atomic_read`, then `atomic_cmpxchg` until it succeeds or reads the excluded value | SeqCst | same as loom | as `cmpxchg`; an `atomic_cmpxchg_acquire` that fails is still an acquire load (C11, as the kernel's generic `_acquire` fallback's trailing fence), where the LKMM orders nothing: hides |
//! | `refcount_t` (`refcount_inc`, `_add`, `_inc_not_zero`, `_dec_and_test`, `_sub_and_test`, `_dec`) | on `atomic_t`: inc/add `atomic_fetch_add_relaxed`; inc_not_zero a relaxed `atomic_cmpxchg` loop; dec_and_test `atomic_fetch_sub_release`, then `smp_acquire__after_ctrl_dep` at zero; dec `atomic_fetch_sub_release` | SeqCst | same as loom | every `refcount_warn_saturate` case (addition on 0, overflow, underflow, `refcount_dec` to 0) is a `refcount` violation that ends the execution, where the kernel saturates and runs on; inc_not_zero's control dependency on success is not modelled (the `load-buffering`/`modification-order` rows); `refcount_inc_not_zero_acquire` (v6.15, for `SLAB_TYPESAFE_BY_RCU` reuse) is absent |
//! | `seqcount_t`, `seqlock_t` (`write_seqcount_begin`/`_end`, `read_seqcount_begin`/`_retry`, `__` and `raw_` forms; `write_seqlock`/`write_sequnlock`, `read_seqbegin`/`read_seqretry`) | writer: Relaxed RMW increment, `smp_wmb` after the first and before the second; reader: `READ_ONCE` of the count, yielding while it is odd, `smp_rmb` after it and before the re-check; `seqlock_t` adds a spinlock around the writer | SeqCst, spinning by yields | same as loom | the increment is an atomic RMW where the kernel's is a plain `++`: a writer that overlaps another always sees its odd count and is reported (`lock-not-held`) instead of losing an increment; the `smp_wmb`/`smp_rmb` rows apply; no lockdep map (the held-lock assertion of `seqcount_LOCKNAME_t` is not modelled) |
//! | `list_head` (`list_add`, `list_del`, `list_for_each_entry`, ...) | `next`/`prev` are engine words in the entry's allocation (Relaxed; `_rcu` forms: Release publish, Acquire `rcu_dereference`); `CONFIG_DEBUG_LIST`'s checks always on; a protected list asserts its lock (`lockdep_assert_held`) in writers and non-RCU readers | same | same | hides: no RCU grace period or `rcu_read_lock` check (a free after `list_del_rcu` is reported only if a walker races it); an entry is on one list through one `list_head`; `list_move`/`list_splice` are absent |
//! | `xarray` (`xa_load`, `xa_store`, `xa_erase`, `xa_insert`, `xa_for_each`) | one kzalloc'ed `xa_node` of 8 slots, each an engine word; writers take `xa_lock` and publish with a Release store; readers are lock-free Acquire loads (`rcu_dereference`) | same | same | indices 8 and up are -EINVAL (the kernel grows a tree); the node is freed only by `xa_destroy`, at once (the kernel also frees it when the array empties, and always after an RCU grace period): invents a use-after-free for a lookup racing `xa_destroy`; `xa_load` has no RCU read-side section, so an entry it returns is protected by nothing |
//! | `writel`/`readl`, `writel_relaxed`/`readl_relaxed` (asm-generic/io.h) | a register is an engine word; `writel` a Release store, `readl` an Acquire load, the relaxed forms Relaxed; the device thread reads a register with Acquire and writes one with Release, DMA is Relaxed | SeqCst | same as loom | follows the generic (arm64) rules: on x86 a `_relaxed` accessor is as ordered as the plain one, so a bug reported for it there is not real on x86; as `smp_wmb`/`smp_rmb` do, the Release also orders earlier loads and the Acquire later stores, which `wmb`/`rmb` do not: hides a load->store reordering; a device that reorders its own DMA (PCIe relaxed ordering) is not modelled |
//! | loom's DPOR (vendor/loom 0.7.3, with iommu-mc's three patches) | a store or read-modify-write is compared, for backtracking, with every load of its cell since the last store, not only with the cell's last access (the second patch, vendor/loom/PATCHES.md; tokio-rs/loom#392) | - | - | none known: `r = READ_ONCE(x)` against `READ_ONCE(x); WRITE_ONCE(x, 1)` now tries r = 1 (test `loom_tries_a_load_before_another_threads_load_then_store`); published loom missed it, and the counts pinned before the patch were lower |
//! | `rwlock_t` (`read_lock`, `write_lock`, their `_irqsave`/`_irq` forms) | loom `RwLock`; a thread's read nested in its own read is counted, not taken from the engine again | shuttle `RwLock`, same | `std::sync::RwLock`, same | hides: no reader waits for a queued writer, so a process-context nested read behind a writer never deadlocks (lockdep's report shows it); nested reads must be released in reverse order. Lockdep sees `read_lock` as a recursive read only in hardirq context, as on queued rwlocks (x86, arm64), and everywhere with `preempt_rt` (no queued rwlocks there: lockdep's `read_lock_is_recursive()`); on another architecture without queued rwlocks it is recursive everywhere too, and the model invents reports there. On PREEMPT_RT a reader can block behind a writer, which mainline lockdep does not report either |
//! | `rw_semaphore` (`down_read`, `down_write`, the trylocks) | the same `RwLock`; `down_*` call `might_sleep` | same | same | hides: no writer preference or optimistic spinning; a nested `down_read` is lockdep's report (non-recursive read) and never deadlocks in the engines |
//! | lockdep with read acquisitions | the cycle check (breadth first over the order graph, cycles of any length, as `check_noncircular`) takes each edge's modes: a cycle is reported unless in one of its locks a recursive read waits on a read (lockdep's rule); a class taken again by its holder is "possible recursive locking" when either is a read, unless the new one is a recursive read | same | same | none known |
//! | interrupt state (`local_irq_*`, the `_irqsave`/`_irq` forms, `hardirq(f)`, `spawn_hardirq`) | per thread, ghost (each thread's own); an interrupt is `hardirq(f)` run on a thread or on an agent thread: a non-threaded handler | same | same | no softirq context; disabling interrupts holds no agent back; `hardirq(f)` where interrupts are disabled is a model error |
//! | lockdep IRQ usage ("inconsistent lock state", "possible irq lock inversion dependency", "HARDIRQ-safe -> HARDIRQ-unsafe lock order") | usage bits per class (`IN-HARDIRQ-W/R`, `HARDIRQ-ON-W/R`) kept across the run, ghost: as in lockdep, the union of the usages seen decides, whether or not an interrupt ever preempted a holder, so every engine reports the same | same | same | invents: the inversion search over the order graph ignores read modes (lockdep's strong paths through recursive reads, its read-usage exceptions); hides: no SOFTIRQ states |
//! | wait types (`raw_spinlock_t` `LD_WAIT_SPIN`; `spinlock_t`, `rwlock_t` `LD_WAIT_CONFIG`; mutex, rwsem `LD_WAIT_SLEEP`) under `kernel::config` | lockdep's `check_wait_context`: `LD_WAIT_CONFIG` counts as `LD_WAIT_SPIN` unless `prove_raw_lock_nesting` is set; hardirq context is `LD_WAIT_SPIN`. With `preempt_rt`, a `spinlock_t`/`rwlock_t` taken with interrupts disabled (no raw lock held, not in hardirq) is `might_sleep`'s sleep-in-atomic, and their `_irqsave`/`_irq` forms leave interrupts enabled | same | same | hides, with neither option set: a current (v6.13+) x86 or arm64 kernel with PROVE_LOCKING has PROVE_RAW_LOCK_NESTING on by default and reports the nesting without PREEMPT_RT; on PREEMPT_RT without PROVE_RAW_LOCK_NESTING (`LD_WAIT_CONFIG` is `LD_WAIT_SPIN` there) a `spinlock_t` under a raw lock or in hardirq is `might_sleep`'s sleep-in-atomic, as the kernel's first report; `LD_WAIT_FREE` and threaded-hardirq contexts are not modelled |
//! | `rcu_read_lock`/`rcu_read_unlock`, `synchronize_rcu` | one reader word per thread (nesting depth) behind an engine lock with a condvar; a grace period visits each thread's word in turn and waits until it is zero (5 words: loom's thread cap) | same (64 words) | same, a wait gives up after 10 s as `deadlock` | waits longer, never shorter: a reader that starts after the grace period began but before its thread's word is visited is waited for too (hides a bug that needs the grace period to end during such a reader); each visit is a release/acquire pair, also a full-barrier-like order for the updater; a read-side section is atomic context (`might_sleep` there is `sleep-in-atomic`) |
//! | `rcu_dereference`, `rcu_assign_pointer` | Acquire load (standing for the address dependency), Release store | SeqCst | Acquire/Release | hides: the Acquire load also orders later loads that do not depend on the pointer (litmus MP+assign+deref); no lockdep-RCU check of a dereference outside a read-side section |
//! | `call_rcu`, `kfree_rcu` | a new agent thread per call: a grace period (as above), then the callback in declared atomic context (`rcu callback (softirq)`) | same | same | callbacks of one CPU are not ordered among themselves (the kernel runs them in order); `rcu_barrier` is not modelled |
//! | agents (softirq, kworker, RCU callbacks) | a real engine thread per deferral (per `mod_timer`, `queue_work` that finds the item idle, `call_rcu`), scheduled like any thread, named `softirq: NAME`, `kworker: NAME`, `rcu: callbacks`, joined by `agents::join_all()` at the end of an execution | same | same | loom allows 5 threads per execution, main included: each agent counts; a handler that re-arms itself for ever exhausts them (a model error, not a verdict) |
//! | `mod_timer`, `del_timer`, `del_timer_sync`, `timer_pending` | time is not modelled: the handler may run at any point from arming until deleted; pending and running bits in one engine word with a condvar; the handler runs holding the timer's lockdep class in atomic context, `del_timer_sync` takes the class, waits for the running bit to clear and clears the pending bit in the same step (the kernel's retry loop: a handler that re-armed its timer is stopped too) | same | same | hides: `expires` orders nothing (two timers fire in any order), and a timer never fires "late" after a `mod_timer` that pushed it back; no `timer_shutdown` |
//! | `queue_work`, `flush_work`, `cancel_work_sync` | as timers, in process context (not atomic); pending cleared before the function runs; one item never runs twice at once; `flush_work` waits for the instances pending or running when it began (a count of finished runs), not for a queueing made after; `cancel_work_sync` clears pending and refuses queueing (`queue_work` returns false) until the function has returned, so a work that requeues itself is stopped too | same | same | workqueues are not ordered (an ordered workqueue's FIFO is not modelled); `flush_workqueue` not modelled |
//! | `struct completion` | a count behind an engine lock with a condvar (release/acquire); `complete_all` sets it to `UINT_MAX`; `wait_for_completion` is `might_sleep` and records its wait so a deadlock report names the completion | same | same, a wait gives up after 10 s as `deadlock` | none known; no timeouts or interruptible waits |
//!
//! `iommu-mc litmus` measures this table against the LKMM: the litmus tests under litmus/
//! whose loom result differs from the LKMM's are listed in `KNOWN` (src/litmus/mod.rs) with
//! the row that explains them (`load-buffering`, `lock-cumulativity`, `modification-order`,
//! `smp_wmb`, `rcu_dereference`): 5 of 78 tests.
//!
//! Shuttle runs every atomic access sequentially consistently, so a scenario about memory
//! ordering is loom-only; scenarios say so. Loom keeps a bounded history of stores per atomic
//! (7), which can hide a read of a store older than that. Loom is the published 0.7.3 with
//! three patches (vendor/loom/PATCHES.md): a read-modify-write's store comes right after the
//! store it read, which published loom's partial modification order did not enforce; a store
//! backtracks against every load since the last store (tokio-rs/loom#392), an interleaving
//! published loom's DPOR never tried; and coroutine stacks are reused across executions.

pub mod agents;
pub mod atomic;
pub mod atomic_instrumented;
pub mod barrier;
/// The engine dispatch, at the crate's root ([`crate::engine`]); kept here by its old path.
pub use crate::engine;
pub mod completion;
pub mod config;
pub mod errno;
pub mod hardirq;
pub mod io;
pub mod iommu;
pub mod iova;
pub mod irqflags;
pub mod kasan;
pub mod kref;
pub mod list;
pub mod lockdep;
pub mod mutex;
pub mod page_alloc;
pub mod rcupdate;
pub mod refcount;
pub mod rwlock;
pub mod rwonce;
pub mod rwsem;
pub mod sched;
pub mod seqlock;
pub mod slab;
pub mod spinlock;
pub mod timer;
pub mod workqueue;
pub mod xarray;

pub use atomic::{
    atomic64_add_return, atomic64_sub_return, atomic64_sub_return_relaxed, clear_bit, cmpxchg,
    set_bit, test_and_set_bit, xchg, Atomic64,
};
pub use atomic_instrumented::*;
pub use barrier::{dma_wmb, smp_load_acquire, smp_mb, smp_rmb, smp_store_release, smp_wmb};
pub use completion::{
    complete, complete_all, init_completion, reinit_completion, try_wait_for_completion,
    wait_for_completion, Completion,
};
pub use config::{config, set_config, Config};
pub use errno::Errno;
pub use hardirq::{hardirq, in_hardirq, spawn_hardirq};
pub use io::{dma_read, dma_write, readl, readl_relaxed, writel, writel_relaxed, IoMem};
pub use irqflags::{
    irqs_disabled, local_irq_disable, local_irq_enable, local_irq_restore, local_irq_save, IrqFlags,
};
pub use kref::{kref_get, kref_init, kref_put, kref_read, Kref};
pub use list::{
    list_add, list_add_rcu, list_add_tail, list_add_tail_rcu, list_del, list_del_init,
    list_del_rcu, list_empty, list_entry_is_linked, list_first_entry_or_null, list_for_each_entry,
    list_for_each_entry_rcu, List, ListEntry, ListHead, LIST_POISON1, LIST_POISON2,
};
pub use mutex::{mutex_lock, mutex_unlock, Mutex, MutexGuard};
pub use page_alloc::{Frame, PagePool};
pub use rcupdate::{
    call_rcu, kfree_rcu, rcu_assign_pointer, rcu_dereference, rcu_read_lock, rcu_read_unlock,
    synchronize_rcu,
};
pub use refcount::{
    refcount_add, refcount_dec, refcount_dec_and_test, refcount_inc, refcount_inc_not_zero,
    refcount_read, refcount_set, refcount_sub_and_test, RefcountT,
};
pub use rwlock::{
    read_lock, read_lock_irq, read_lock_irqsave, read_unlock, read_unlock_irq,
    read_unlock_irqrestore, write_lock, write_lock_irq, write_lock_irqsave, write_unlock,
    write_unlock_irq, write_unlock_irqrestore, RwGuard, RwLock,
};
pub use rwonce::{read_once, read_once_dep, write_once};
pub use rwsem::{
    down_read, down_read_trylock, down_write, down_write_trylock, up_read, up_write, RwSemaphore,
};
pub use sched::{in_atomic_context, might_sleep};
pub use seqlock::{
    __read_seqcount_begin, __read_seqcount_retry, raw_read_seqcount_begin,
    raw_write_seqcount_begin, raw_write_seqcount_end, read_seqbegin, read_seqcount_begin,
    read_seqcount_retry, read_seqretry, write_seqcount_begin, write_seqcount_end, write_seqlock,
    write_sequnlock, SeqcountT, SeqlockGuard, SeqlockT,
};
pub use slab::{kfree, kzalloc, Gfp, KBox, Slab};
pub use spinlock::{
    assert_spin_locked, lockdep_assert_held, raw_spin_lock, raw_spin_lock_irq,
    raw_spin_lock_irqsave, raw_spin_unlock, raw_spin_unlock_irq, raw_spin_unlock_irqrestore,
    spin_lock, spin_lock_irq, spin_lock_irqsave, spin_unlock, spin_unlock_irq,
    spin_unlock_irqrestore, LockedBy, RawSpinLock, SpinGuard, SpinLock,
};
pub use timer::{del_timer, del_timer_sync, mod_timer, timer_pending, timer_setup, TimerList};
pub use workqueue::{
    cancel_work_sync, flush_work, queue_work, WorkStruct, WorkqueueStruct, INIT_WORK,
};
pub use xarray::{
    xa_destroy, xa_erase, xa_for_each, xa_init, xa_insert, xa_load, xa_lock, xa_store, xa_unlock,
    XArray, XA_SLOTS,
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
    ("cmpxchg", "cmpxchg, xchg and test_and_set_bit are smp_mb(); relaxed RMW; smp_mb(), as the LKMM defines a fully ordered RMW (test_and_set_bit also when the bit was already set, as since v6.0); only a cmpxchg that fails orders nothing, unless another thread wrote between loom's probe and the operation (then it keeps the leading smp_mb, which can hide a bug)"),
    ("smp_mb", "smp_mb is fence(SeqCst); loom orders all of them in one sequence, each synchronising with the one before: the LKMM's strong fence in every shape of litmus/"),
    ("spin_lock", "spinlocks are blocking locks: a livelock while spinning is not seen"),
    ("load-buffering", "loom never lets a load read a store that comes later in another thread's program (no load buffering): it hides a load->store reordering that arm64 and POWER make"),
    ("lock-cumulativity", "an unlock and the next lock of it are a release/acquire pair seen by the two holders only; the LKMM also orders them for a third CPU that uses smp_mb: loom can invent a reordering there"),
    ("modification-order", "loom does not model control dependencies: a store after a branch on a load is not ordered after that load, and loom orders two stores to one location only when the second one's thread has seen the first, so a later reader may see either last: loom can invent a coherence order no CPU makes"),
    ("loom", "loom explores the C11 model, weaker than x86-TSO: a store->store reordering it reports happens on x86 only if the compiler makes it"),
    ("walker", "the IOMMU page walker looks up the IOTLB and the paging-structure caches before memory and fills them as it walks (a walker thread's steps, or a prefetch), entries stay until invalidated; the walker never sets A/D bits, which hides a hardware write into a freed table; the page-selective invalidation covers exactly its range, not the AM-aligned block (it hides nothing); a bug that needs a fill the scenario does not make is hidden"),
    ("walker-memory", "with coherent = 0 the walker reads memory as domain_flush_cache left it (poison from each allocation of a frame on), with no spontaneous write-back: a missing flush is never hidden by an early write-back, but a walk through a stale pointer into a re-used frame reads memory as last flushed, not as the new owner wrote it"),
    ("iommu-caches", "IOMMU caches hold what a hardware thread of the scenario filled (a DMA that missed, or a prefetch) until an invalidation removes it, and are never evicted; a translation never overlaps the processing of an invalidation (the drain VT-d guarantees): a bug that needs a fill the scenario does not make is hidden"),
    ("qi", "qi_submit_sync: the hardware processes a submission as steps on the submitting thread before it returns, one submission at a time; qi->q_lock itself is not modelled"),
    ("vtd-scope", "a domain-selective IOTLB invalidation removes second-stage and no-PASID entries but not first-stage ones, and a device-TLB invalidation without PASID only no-PASID entries (the kernel's reading of the VT-d spec: it invalidates first-stage entries with PASID-based IOTLB invalidations, domain_flush_pasid_iotlb, and a PASID's device TLB with the PASID-based form): if the hardware removes more, a stale entry reported after one is a false alarm"),
    ("shuttle", "shuttle runs every access sequentially consistently: it cannot see a memory-ordering bug"),
    ("os", "os runs real threads: a pass proves nothing, a failure is real on this machine"),
];
