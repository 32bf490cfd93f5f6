//! The IOMMU's caches as racers (models/src/hw/): the generic cache, the VT-d invalidation
//! scope, and the stale-translation check against a flush the kernel believes finished.
//! Each check comes as a pair: it fires on the buggy use and stays silent on the correct one.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::explore::explore;
use common::run_std;
use iommu_models::check::Kind;
use iommu_models::engine::{spawn, thread_index};
use iommu_models::hw::cache::Cache;
use iommu_models::hw::vtd::{
    ContextEntry, Desc, Did, Pasid, PasidEntry, Request, Shape, Sid, Tables, Vtd, NO_PASID,
};
use iommu_models::kernel::Atomic64;
use iommu_models::trace::{Obj, Op, Recorder};

const SID: Sid = 0x10;

/// One device: its context entry and a PASID table of two entries; every domain maps every
/// page.
struct Mem {
    context: Atomic64,
    pasids: Vec<Atomic64>,
}

impl Tables for Mem {
    fn context_entry(&self, _: Sid) -> &Atomic64 {
        &self.context
    }
    fn pasid_entry(&self, _: Sid, pasid: Pasid) -> &Atomic64 {
        &self.pasids[pasid as usize]
    }
    fn walk(&self, did: Did, _: Pasid, page: u64) -> Option<u8> {
        Some((did as u64 * 4 + page) as u8)
    }
}

/// A present context entry (DID 1) and PASID 1 attached to DID 1, first-stage or not.
fn mem(first_stage: bool) -> Mem {
    let ce = ContextEntry {
        present: true,
        pre: false,
        did: 1,
        generation: 0,
        translation: 0,
    };
    let pe = PasidEntry {
        present: true,
        first_stage,
        did: 1,
        generation: 1,
    };
    Mem {
        context: Atomic64::new(Obj::Named("context entry"), ce.pack()),
        pasids: vec![
            Atomic64::new(Obj::Named("PASID entry"), 0),
            Atomic64::new(Obj::Named("PASID entry"), pe.pack()),
        ],
    }
}

fn vtd(scalable: bool, ats: bool) -> Vtd {
    Vtd::new(
        scalable,
        &Shape {
            devices: vec![(SID, ats)],
            pasids: if scalable { vec![0, 1] } else { vec![NO_PASID] },
            domains: vec![1],
            pages: vec![0],
        },
    )
}

fn req(pasid: Pasid) -> Request {
    Request {
        sid: SID,
        pasid,
        page: 0,
    }
}

/// Change the context entry, keeping it present: what it translates to (`translation`: a
/// new PASID-table pointer, say), or only PRE. Returns the new entry.
fn change(m: &Mem, translation: bool) -> ContextEntry {
    let ce = ContextEntry::unpack(m.context.load(Ordering::Relaxed));
    let new = ContextEntry {
        pre: !ce.pre,
        generation: ce.generation + 1,
        translation: ce.translation + u8::from(translation),
        ..ce
    };
    m.context.store(new.pack(), Ordering::Relaxed);
    new
}

#[test]
fn a_cache_removes_exactly_what_an_invalidation_selects() {
    run_std(|| {
        let c: Cache<(u16, u32)> =
            Cache::new("test", [(1, 0), (1, 1), (2, 0)], |t| format!("{t:?}"));
        c.fill((1, 0), 10);
        c.fill((1, 1), 11);
        c.fill((2, 0), 20);
        assert_eq!(c.lookup((1, 1)), Some(11));
        c.invalidate_tags(|(d, _)| d == 1);
        let entries = |c: &Cache<(u16, u32)>| -> Vec<_> {
            c.entries().into_iter().map(|(t, v, _)| (t, v)).collect()
        };
        assert_eq!(entries(&c), vec![((2, 0), 20)]);
        c.fill((1, 0), 12);
        assert_eq!(c.invalidate(|_| true, |v| v == 20), 1);
        assert_eq!(entries(&c), vec![((1, 0), 12)]);
    })
    .silent();
    let r = run_std(|| {
        let c: Cache<u16> = Cache::new("test", [1], |t| format!("{t}"));
        c.fill(2, 0);
    });
    r.fires(Kind::Invariant, &["no slot for 2"]);
}

/// Change what the context entry translates to, flush with `descs`, declare the flush
/// done, and check the caches: the DMA through PASID 1 before the change filled every
/// cache through the old entry.
fn flip_and_flush(first_stage: bool, ats: bool, descs: &[Desc]) -> common::Run<()> {
    change_and_flush(true, first_stage, ats, descs)
}

fn change_and_flush(
    translation: bool,
    first_stage: bool,
    ats: bool,
    descs: &[Desc],
) -> common::Run<()> {
    let descs = descs.to_vec();
    run_std(move || {
        let m = mem(first_stage);
        let v = vtd(true, ats);
        v.dma(&m, req(1));
        let g = change(&m, translation);
        for d in &descs {
            v.submit_sync(&[*d]);
        }
        v.flushed_context(SID, g);
        v.check_caches(&m);
    })
}

const CONTEXT: Desc = Desc::ContextDevice { did: 1, sid: SID };
const PASID_ALL: Desc = Desc::PasidAll { did: 1 };

#[test]
fn a_domain_selective_iotlb_invalidation_leaves_first_stage_entries() {
    flip_and_flush(
        true,
        false,
        &[CONTEXT, PASID_ALL, Desc::IotlbDsi { did: 1 }],
    )
    .fires(
        Kind::StaleTranslation,
        &["IOTLB still holds", "translation generation 0 < 1"],
    );
    flip_and_flush(
        true,
        false,
        &[CONTEXT, PASID_ALL, Desc::PIotlb { did: 1, pasid: 1 }],
    )
    .silent();
    // A second-stage entry goes with the domain-selective one.
    flip_and_flush(
        false,
        false,
        &[CONTEXT, PASID_ALL, Desc::IotlbDsi { did: 1 }],
    )
    .silent();
}

#[test]
fn a_device_tlb_invalidation_without_pasid_leaves_the_pasids_entries() {
    let iotlb = Desc::IotlbDsi { did: 1 };
    flip_and_flush(
        false,
        true,
        &[CONTEXT, PASID_ALL, iotlb, Desc::DevTlbAll { sid: SID }],
    )
    .fires(Kind::StaleTranslation, &["device TLB still holds"]);
    let dev = Desc::DevTlbPasid { sid: SID, pasid: 1 };
    flip_and_flush(false, true, &[CONTEXT, PASID_ALL, iotlb, dev]).silent();
}

/// A device DMAs while a CPU flips PRE and flushes; `declare_early`: the CPU declares the
/// flush finished before it invalidates anything (a helper that returns too soon).
fn dma_racing_a_flush(declare_early: bool) -> common::explore::Outcome {
    explore(
        move || {
            let m = Arc::new(mem(false));
            let v = Arc::new(vtd(true, false));
            let (m2, v2) = (m.clone(), v.clone());
            let h = spawn(1, move || {
                v2.dma(&*m2, req(1));
            });
            let g = change(&m, true);
            if declare_early {
                v.flushed_context(SID, g);
            }
            for d in [CONTEXT, PASID_ALL, Desc::IotlbDsi { did: 1 }] {
                v.submit_sync(&[d]);
            }
            v.flushed_context(SID, g);
            h.join();
            v.check_caches(&*m);
            assert_eq!(thread_index(), 0);
        },
        |rec: &Recorder| {
            // Reached: the DMA completed after the flush was declared.
            rec.with_events(|ev| {
                let declared = ev.iter().position(|e| {
                    matches!(e.obj, Obj::Named("flushed context generation"))
                        && matches!(e.op, Op::Store(_))
                });
                let done = ev
                    .iter()
                    .rposition(|e| matches!(&e.op, Op::Step(l) if l.starts_with("DMA: completes")));
                matches!((declared, done), (Some(d), Some(c)) if c > d)
            })
        },
    )
}

#[test]
fn a_dma_after_a_finished_flush_never_uses_the_old_entry() {
    let ok = dma_racing_a_flush(false);
    assert_eq!(ok.violation, None, "{ok:?}");
    assert!(ok.executions > 1 && ok.reached > 0, "{ok:?}");
    let early = dma_racing_a_flush(true);
    assert_eq!(early.violation, Some(Kind::StaleTranslation), "{early:?}");
}

#[test]
fn an_entry_left_after_a_pre_flip_is_unflushed_not_stale() {
    // PRE alone changed: what the entry translates to did not, so the IOTLB entry left by a
    // domain-selective invalidation breaks the spec's rule without mistranslating.
    let descs = [CONTEXT, PASID_ALL, Desc::IotlbDsi { did: 1 }];
    change_and_flush(false, true, false, &descs).fires(
        Kind::UnflushedEntry,
        &["IOTLB still holds", "did not change"],
    );
    change_and_flush(false, false, false, &descs).silent();
}

#[test]
fn global_and_page_selective_iotlb_invalidations_remove_what_they_name() {
    let descs = |iotlb: Desc| vec![CONTEXT, PASID_ALL, iotlb];
    // Global: every IOTLB entry, first-stage ones included.
    flip_and_flush(true, false, &descs(Desc::IotlbGlobal)).silent();
    // Page-selective over the page the DMA used: its second-stage entry goes.
    let psi = |page| Desc::IotlbPsi {
        did: 1,
        page,
        pages: 1,
        ih: false,
    };
    flip_and_flush(false, false, &descs(psi(0))).silent();
    // Over another page: it stays.
    flip_and_flush(false, false, &descs(psi(1)))
        .fires(Kind::StaleTranslation, &["IOTLB still holds"]);
}
