//! Soundness pairs for the state that used to be ghost: the IOVA tree, reserved-iova's
//! binding list, cookie, mask flag and the setup's references handed to threads.
//!
//! Each pair is a two-thread program explored exhaustively under loom. In the first, the
//! violation needs one order of operations on that state that nothing else orders; loom must
//! find it. In the fixed twin, loom must say `holds (complete)`: no violation over more than
//! one execution, and the code under test reached. State loom cannot see fails the first
//! half: loom never tries the order that breaks.

#![allow(missing_docs)]

mod common;

use std::sync::Arc;

use common::explore::{explore, Outcome};
use common::run_std;
use iommu_models::check::{raise, Kind};
use iommu_models::engine::spawn;
use iommu_models::kernel::iova::{alloc_iova, find_iova, free_iova, IovaDomain};
use iommu_models::kernel::{kzalloc, spin_lock, spin_unlock, Gfp, LockedBy, Slab, SpinLock};
use iommu_models::registry;
use iommu_models::spec::{Call, ModelSpec, World};
use iommu_models::trace::{step, Op, Recorder};

/// True if some thread recorded a step starting with `label`.
fn stepped(rec: &Recorder, label: &str) -> bool {
    rec.with_events(|ev| {
        ev.iter()
            .any(|e| matches!(&e.op, Op::Step(l) if l.starts_with(label)))
    })
}

// ---------------------------------------------------------------- the IOVA tree

/// An iova_domain of pfns [0x100, 0x10f] with two one-page ranges allocated, 0x10f and
/// 0x10e. Thread 1 (spawned first, so loom's first schedule runs it first) does `first` on
/// pfn 0x10f; thread 2 frees `target`.
fn iova_program(first: fn(&IovaDomain), target: u64, label: &'static str) -> Outcome {
    explore(
        move || {
            let slab = Slab::new("iova_domain");
            let d = kzalloc(&slab, Gfp::Kernel, |obj, shadow| {
                IovaDomain::new(obj, shadow, 12, 0x100, 0x10f)
            })
            .unwrap();
            assert_eq!(alloc_iova(d.get(), 1, 0x10f, true).unwrap().pfn_lo, 0x10f);
            assert_eq!(alloc_iova(d.get(), 1, 0x10f, true).unwrap().pfn_lo, 0x10e);
            let b = {
                let d = d.clone();
                spawn(1, move || first(d.get()))
            };
            let a = spawn(2, move || free_iova(d.get(), target));
            b.join();
            a.join();
        },
        move |rec| stepped(rec, label),
    )
}

/// Thread 1 looks up pfn 0x10f, which nobody but thread 2 may free: a lookup that misses
/// it means the free came first.
fn find_0x10f(d: &IovaDomain) {
    step("find_iova(0x10f)");
    if find_iova(d, 0x10f).is_none() {
        raise(Kind::Invariant, "find_iova(0x10f) found nothing");
    }
}

#[test]
fn iova_free_before_find_is_found() {
    iova_program(find_0x10f, 0x10f, "find_iova").fires(Kind::Invariant);
}

#[test]
fn iova_free_of_another_range_holds() {
    iova_program(find_0x10f, 0x10e, "find_iova").holds();
}

/// Thread 1 also frees pfn 0x10f: free_iova is find_iova, then __free_iova in a second
/// critical section, so both can find the range before either erases it.
fn free_0x10f(d: &IovaDomain) {
    step("free_iova(0x10f)");
    free_iova(d, 0x10f);
}

#[test]
fn iova_freed_by_two_threads_is_a_double_free() {
    iova_program(free_0x10f, 0x10f, "free_iova").fires(Kind::DoubleFree);
}

#[test]
fn iova_two_threads_freeing_different_ranges_holds() {
    iova_program(free_0x10f, 0x10e, "free_iova").holds();
}

// ---------------------------------------------------------------- reserved-iova, driven as a scenario

/// `get 0x9000040 0x4 atomic` as the scenario parser would read it.
fn call(spec: &ModelSpec, text: &str) -> Call {
    let mut words = text.split_whitespace();
    let op = spec
        .op(words.next().unwrap())
        .expect("an operation of the model");
    let mut c = Call {
        op: op.name,
        args: vec![],
        flags: vec![],
    };
    for w in words {
        match w.strip_prefix("0x") {
            Some(hex) => c.args.push(u64::from_str_radix(hex, 16).unwrap()),
            None => c
                .flags
                .push(op.flags.iter().find(|f| **f == w).expect("a flag")),
        }
    }
    c
}

/// A reserved-iova scenario: `setup` on the main thread, then `first` as thread 1 (spawned
/// first) and `second` as thread 2, then the final checks, as the engines run a scenario.
fn reserved(
    variant: &'static str,
    setup: &'static [&'static str],
    first: &'static [&'static str],
    second: &'static [&'static str],
    reached: impl Fn(&Recorder) -> bool + Send + Sync + 'static,
) -> Outcome {
    let spec = registry::model("reserved-iova").unwrap();
    let calls = |ops: &[&str]| ops.iter().map(|t| call(spec, t)).collect::<Vec<_>>();
    let (setup, threads) = (calls(setup), [calls(first), calls(second)]);
    explore(
        move || {
            let w: Arc<dyn World> = Arc::from((spec.build)(variant, &spec.default_params()));
            for c in &setup {
                w.run(c);
            }
            let handles: Vec<_> = threads
                .iter()
                .enumerate()
                .map(|(i, ops)| {
                    let (w, ops) = (w.clone(), ops.clone());
                    spawn(i + 1, move || ops.iter().for_each(|c| w.run(c)))
                })
                .collect();
            handles.into_iter().for_each(|h| h.join());
            w.finish();
        },
        reached,
    )
}

// --- the binding list: a get's search against a put's release ---

/// Thread 1 puts the setup's reference; thread 2 gets the same doorbell, then puts it. In
/// `unlocked-release` the count reaches zero before the release unlinks the binding, so a
/// search in between finds a binding on its way out.
fn binding_search_vs_release(variant: &'static str) -> Outcome {
    reserved(
        variant,
        &["get 0x9000040 0x4"],
        &["put 0x9000040 0x4"],
        &["get 0x9000040 0x4", "put 0x9000040 0x4"],
        |rec| stepped(rec, "get: found, kref_get") && stepped(rec, "release: unlink"),
    )
}

#[test]
fn binding_found_while_being_released_is_found() {
    binding_search_vs_release("unlocked-release").fires(Kind::Refcount);
}

#[test]
fn binding_released_under_reserved_lock_holds() {
    binding_search_vs_release("v6").holds();
}

// --- the mask flag: free_domain's mask against an activate ---

/// Thread 1 activates an MSI; thread 2 frees the domain, masking the MSIs first.
fn mask_vs_activate(variant: &'static str) -> Outcome {
    reserved(
        variant,
        &["prepare 0x9000040 0x4"],
        &["get 0x9000040 0x4 atomic"],
        &["free_domain"],
        |rec| stepped(rec, "msi_domain_activate: masked for teardown"),
    )
}

#[test]
fn activate_after_a_racy_mask_is_found() {
    mask_vs_activate("mask-msi-racy").fires(Kind::Invariant);
}

#[test]
fn activate_after_the_mask_under_irq_desc_lock_holds() {
    mask_vs_activate("mask-msi").holds();
}

// --- the cookie: a get or prepare reads it while free_domain frees its target ---

#[test]
fn cookie_left_pointing_at_a_freed_iova_domain_is_found() {
    reserved("v6", &[], &["get 0x9000040 0x4"], &["free_domain"], |_| {
        true
    })
    .fires(Kind::UseAfterFree);
}

#[test]
fn cookie_cleared_before_the_free_holds() {
    reserved(
        "prepare",
        &[],
        &["prepare 0x9000040 0x4"],
        &["free_domain"],
        |rec| stepped(rec, "prepare: alloc_iova"),
    )
    .holds();
}

// --- the setup's references, handed to whichever thread puts first ---

/// The setup gets the doorbell once; both threads put it, thread 2 from
/// `msi_domain_deactivate` (atomic context). Only one of them has a reference to put: which
/// one is decided by the order of the two takes.
fn handed_reference(variant: &'static str, setup: &'static [&'static str]) -> Outcome {
    reserved(
        variant,
        setup,
        &["put 0x9000040 0x4"],
        &["put 0x9000040 0x4 atomic"],
        // Thread 2 took the reference: it dropped a binding's count.
        |rec| {
            rec.with_events(|ev| {
                ev.iter().any(|e| {
                    e.thread == 2
                        && matches!(
                            e.op,
                            Op::Rmw {
                                name: "refcount_dec_and_test",
                                ..
                            }
                        )
                })
            })
        },
    )
}

#[test]
fn last_put_from_atomic_context_is_found() {
    // v6: the atomic put that takes the setup's reference releases the binding, and
    // delete_reserved_binding's iommu_unmap may sleep under irq_desc->lock.
    handed_reference("v6", &["get 0x9000040 0x4"]).fires(Kind::SleepInAtomic);
}

#[test]
fn put_from_atomic_context_of_a_prepared_binding_holds() {
    handed_reference("prepare", &["prepare 0x9000040 0x4", "get 0x9000040 0x4"]).holds();
}

// ---------------------------------------------------------------- LockedBy's own rule

#[test]
fn locked_by_refuses_a_guard_of_another_lock() {
    let run = run_std(|| {
        let (a, b) = (SpinLock::new("lock_a"), SpinLock::new("lock_b"));
        let data = LockedBy::new(&a, 0u64);
        let g = spin_lock(&a);
        data.access(&g, |v| *v += 1);
        spin_unlock(g);
        let g = spin_lock(&b);
        data.access(&g, |v| *v += 1);
        spin_unlock(g);
    });
    let msg = run.result.unwrap_err();
    assert!(
        msg.contains("data protected by lock_a accessed under lock_b instead"),
        "{msg}"
    );
}
