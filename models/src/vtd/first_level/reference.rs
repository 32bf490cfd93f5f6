//! What `vtd-first-level` checks: the reference state, kept apart from the algorithm, and
//! the checks that read it.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::atomic::Ordering;

use super::intel_pgtable::{pte, FirstLevel};
use crate::check::{raise, Kind};
use crate::trace::{checking, step};

/// The reference state the checks compare against. It is ghost state; each field may be,
/// for the reason given on it. Checks read it; a thread reads only entries of its own pages
/// (which of them an unmap revokes, whether a map publishes a page again), which no other
/// thread writes, so what it reads does not depend on the interleaving. What must hold for
/// each is that a result cannot depend on an order of ghost writes that the engine does
/// not see.
#[derive(Default)]
pub(super) struct Reference {
    /// Page-aligned IOVA -> PA of every mapping that should exist now. Read by the final
    /// check, after every thread joined, and by an unmap for the PAs of its own range (to
    /// revoke them), which only that thread writes. A page's entry is written only by the setup and by
    /// the one thread whose map or unmap covers it (`validate` refuses ranges two threads
    /// both write), in that thread's program order, after an outcome the engine decided
    /// (whether the map got its pages). So its final value does not depend on how the
    /// threads interleaved.
    pub(super) mapped: BTreeMap<u64, u64>,
    /// Every PA each page was mapped to during the execution (what a walker may reach).
    /// Read by the page's mapping thread (was the page mapped before?), and while threads
    /// run by `check_reachable` after a walk or `iova_to_phys` read a leaf. A page's PA is inserted only by the one thread mapping it (as above), just
    /// before the store of the leaf PTE that publishes it. So whenever a reader has loaded a
    /// leaf holding that PA, the insert already happened: under loom and shuttle because the
    /// store executed after it; under `os` because a load cannot read a store that happens
    /// after it (the ghost mutex orders the two accesses of the set). A PA the reader loaded
    /// is therefore in the set exactly when some map published it, whatever the
    /// interleaving: the check is decided by the leaf value, which is engine state. Made of
    /// engine words instead, the set would only add conflicts (insert against every check)
    /// and executions, and could not change a verdict. One corner is order-dependent: a
    /// reader that reached, through a stale table, another page's leaf holding a PA that
    /// this page's own map is publishing at the same time is judged by whether that map's
    /// insert came first. It needs one PA mapped at two IOVAs, which no scenario does.
    pub(super) ever: BTreeMap<u64, BTreeSet<u64>>,
    /// Every page an operation touched. Read only by the final check; inserts commute.
    pub(super) touched: BTreeSet<u64>,
    /// Set once teardown ran. Read only by the final check; setting it is idempotent.
    pub(super) torn_down: bool,
}

impl FirstLevel {
    /// A translation seen while threads run must be to a PA that page was mapped to at some
    /// point of the execution.
    pub(super) fn check_reachable(&self, iova: u64, pa: u64) {
        let page = iova & !0xfff;
        let ok = self.reference.with(|r| {
            r.ever
                .get(&page)
                .is_some_and(|s| s.contains(&(pa & !0xfff)))
        });
        if !ok {
            raise(
                Kind::StaleTranslation,
                format!("{iova:#x} translates to {pa:#x}, which it was never mapped to"),
            );
        }
    }

    /// What a walk reached, checked before its translation ends: a PA the page was mapped
    /// to at some point, and not the one an unmap took from it once that unmap's
    /// invalidation completed. The walk holds the drain while it reads `revoked`; a
    /// revocation it sees was stored after the invalidation's exclusive section, so the
    /// walk began after the invalidation and must not reach what it removed. (Checked after
    /// the walk, it would flag a walk that translated before the invalidation.) A page an
    /// execution unmaps and maps again to the same PA in one thread could be judged on the
    /// old revocation; no scenario does that.
    pub(super) fn check_translation(&self, iova: u64, pa: u64) {
        self.check_reachable(iova, pa);
        let Some(w) = self.revoked.get((iova >> 12) as usize) else {
            return;
        };
        if checking(|| w.load(Ordering::Relaxed)) == (pa & !0xfff) + 1 {
            raise(
                Kind::StaleTranslation,
                format!(
                    "walk reached {pa:#x} for {iova:#x} after the unmap took it (once its \
                     invalidation completed, or, with none, once it returned)"
                ),
            );
        }
    }

    /// Final checks against the reference: translations, the IOMMU's caches, then teardown
    /// and leaks.
    pub fn check_final(&self) {
        let (torn_down, touched, mapped) = self.reference.with(|r| {
            let touched: Vec<u64> = r.touched.iter().copied().collect();
            (r.torn_down, touched, r.mapped.clone())
        });
        if !torn_down {
            step("final check: translations");
            for iova in touched {
                let got = self.iova_to_phys(iova);
                match (mapped.get(&iova), got) {
                    (Some(&pa), Some(g)) if g == pa => {}
                    (Some(&pa), got) => raise(
                        Kind::LostMapping,
                        format!(
                            "map {iova:#x} -> {pa:#x} succeeded and was not unmapped, but {iova:#x} {}",
                            match got {
                                Some(g) => format!("translates to {g:#x}"),
                                None => "does not translate".into(),
                            }
                        ),
                    ),
                    (None, Some(g)) => raise(
                        Kind::StaleTranslation,
                        format!("{iova:#x} is not mapped, but translates to {g:#x}"),
                    ),
                    (None, None) => {}
                }
            }
            if let Some(c) = self.caches() {
                step("final check: the IOTLB and paging-structure caches");
                c.check_final(
                    |page| mapped.get(&page).copied(),
                    |level, iova| {
                        let v = self.cpu_entry(level, iova)?;
                        pte::present(v).then(|| pte::addr(v))
                    },
                );
            }
            self.teardown();
        }
        self.pool.check_no_leak("teardown");
    }
}
