//! vtd-first-level over the IOMMU's caches and non-coherent page walks (issue 9): loom
//! fire/silent pairs, one per mechanism.
//!
//! - The paging-structure cache: a walker that starts only once the CPU has cleared the
//!   PDE still reaches the table through its cached copy. The pair fires for `free-first`
//!   and is silent for `rfc`. Verified by hand: with `PagingCaches::deepest_table`
//!   returning `None` (no paging-structure cache), the firing test fails (the walk faults at
//!   the root); with `Translations::begin` not taking the drain, the silent test fails (a
//!   walk that looked the PDE up before the invalidation reads the table after the free).
//! - The page-selective invalidation's IH bit: IH=1 keeps paging-structure entries, IH=0
//!   removes those of the range (a single-thread pair; with the `if !ih` test removed, the
//!   IH=1 test fails).
//! - Non-coherent walks: the walker reads memory, which CPU writes reach only through
//!   `domain_flush_cache`. The pair fires for `rfc` (the new table is not flushed) and is
//!   silent for `flush-page`. Verified by hand: with `Memory::non_coherent` built as
//!   `Memory::coherent()`, the firing test fails; with `flush-page`'s flush of the new table
//!   left out, the silent test fails. The reused-frame pair: a frame freed and allocated
//!   again, whose memory holds the zeros of an earlier flush. Verified by hand: without
//!   `Memory::poison` on allocation, the firing test fails (the walk faults cleanly).
//! - The unmap's invalidation (Baolu's review, finding 1). During the threads: a walk that
//!   checks after the unmap revoked the old PA must not reach it. The pair fires for
//!   `no-iotlb-flush` and is silent for `rfc`; verified by hand: without the revocation
//!   store (`FirstLevel::revoke`), the firing test fails; with the check run after the
//!   walk's translation ended instead of inside it, the silent test fails. After the
//!   threads: no IOTLB or paging-structure entry disagrees with the page table (a pair for
//!   each cache); without `PagingCaches::check_final`, the firing tests fail.

#![allow(missing_docs)]

mod common;

use std::sync::Arc;

use common::explore::{explore, stepped, Outcome};

use iommu_models::check::Kind;
use iommu_models::engine::spawn;
use iommu_models::hw::geometry::Geometry;
use iommu_models::hw::vtd::{Desc, PagingCaches, NO_PASID};
use iommu_models::kernel::read_once;
use iommu_models::vtd::first_level::{FirstLevel, Variant};

/// Run `first` on model thread 1 and `second` on thread 2, both on `m`, and join them.
fn on_two_threads(
    m: &Arc<FirstLevel>,
    first: impl FnOnce(&FirstLevel) + Send + 'static,
    second: impl FnOnce(&FirstLevel) + Send + 'static,
) {
    let (m1, m2) = (m.clone(), m.clone());
    let a = spawn(1, move || first(&m1));
    let b = spawn(2, move || second(&m2));
    a.join();
    b.join();
}

const GEO: Geometry = Geometry {
    levels: 2,
    entries: 4,
};

/// The setup maps 0x0 and walks 0x1000 once, which caches the PDE of the leaf table. Then A
/// unmaps 0x0 (reclaiming the leaf table) while W, once it sees the root's PDE cleared,
/// walks 0x1000 again: only a cached PDE can lead it into the table.
fn walk_after_pde_cleared(variant: Variant) -> Outcome {
    explore(
        move || {
            let m = Arc::new(FirstLevel::with_hardware(variant, GEO, None, true));
            m.mmmap(0x0, 0xa000, 0x1000).unwrap();
            m.walk(0x1000);
            on_two_threads(
                &m,
                |m: &FirstLevel| m.mmunmap(0x0, 0x1000, true),
                |m: &FirstLevel| {
                    if read_once(m.pool().frame(m.pgd()).entry(0)) == 0 {
                        m.walk(0x1000);
                    }
                },
            );
        },
        |rec| {
            stepped(
                rec,
                "walk 0x1000: through a cached PDE the CPU has since cleared",
            )
        },
    )
}

#[test]
fn freeing_before_the_iotlb_flush_is_a_use_after_free_through_a_cached_pde() {
    walk_after_pde_cleared(Variant::FreeFirst).fires(Kind::UseAfterFree);
}

#[test]
fn freeing_after_the_iotlb_flush_completed_is_silent() {
    walk_after_pde_cleared(Variant::Rfc).holds();
}

/// After a walk of 0x1000 cached its PDE, a page-selective invalidation of 0x0 with `ih`:
/// whether the paging-structure cache still holds the PDE.
fn pde_cached_after_invalidation(ih: bool) -> bool {
    let kept = Arc::new(std::sync::Mutex::new(None));
    let k = kept.clone();
    let o = explore(
        move || {
            let c = PagingCaches::new(1, NO_PASID, GEO);
            c.fill_table(2, 0x1000, 0x101000);
            c.submit_sync(&[Desc::PIotlbPsi {
                did: 1,
                pasid: NO_PASID,
                page: 0,
                pages: 1,
                ih,
            }]);
            *k.lock().unwrap() = Some(c.deepest_table(0x1000).is_some());
        },
        |_| true,
    );
    assert_eq!(o.violation, None, "{o:?}");
    let kept = kept.lock().unwrap().expect("ran");
    kept
}

#[test]
fn invalidation_hint_set_keeps_the_paging_structure_entries() {
    assert!(pde_cached_after_invalidation(true));
}

#[test]
fn invalidation_hint_clear_removes_the_paging_structure_entries_of_the_range() {
    assert!(!pde_cached_after_invalidation(false));
}

/// A maps 0x1000 into a fresh leaf table while W walks 0x1000, on an IOMMU whose page walks
/// do not snoop the CPU caches.
fn noncoherent_populate_vs_walk(variant: Variant) -> Outcome {
    explore(
        move || {
            let m = Arc::new(FirstLevel::with_hardware(variant, GEO, None, false));
            on_two_threads(
                &m,
                |m: &FirstLevel| {
                    m.walk(0x1000);
                },
                |m: &FirstLevel| m.mmmap(0x1000, 0xa000, 0x1000).unwrap(),
            );
        },
        |rec| stepped(rec, "walk 0x1000: L1[1] not present"),
    )
}

#[test]
fn noncoherent_walk_under_a_flushed_pde_reads_the_unflushed_table() {
    noncoherent_populate_vs_walk(Variant::Rfc).fires(Kind::UninitializedRead);
}

#[test]
fn noncoherent_walk_after_the_new_table_was_flushed_is_silent() {
    noncoherent_populate_vs_walk(Variant::FlushPage).holds();
}

/// The setup maps 0x4000 and 0x5000 and unmaps both with reclaim (their leaf table, frame
/// 1, is flushed to zero in memory, then freed); in a pool of two frames, A's populate gets
/// frame 1 back while W walks 0x1000, on an IOMMU whose page walks do not snoop.
fn noncoherent_populate_reused_vs_walk(variant: Variant) -> Outcome {
    explore(
        move || {
            let m = Arc::new(FirstLevel::with_hardware(variant, GEO, Some(2), false));
            m.mmmap(0x4000, 0xc000, 0x2000).unwrap();
            m.mmunmap(0x4000, 0x2000, true);
            on_two_threads(
                &m,
                |m: &FirstLevel| {
                    m.walk(0x1000);
                },
                |m: &FirstLevel| m.mmmap(0x1000, 0xa000, 0x1000).unwrap(),
            );
        },
        |rec| stepped(rec, "populate: got frame 1") && stepped(rec, "walk 0x1000: L1[1]"),
    )
}

#[test]
fn noncoherent_walk_into_a_reused_unflushed_table_reads_its_old_contents() {
    noncoherent_populate_reused_vs_walk(Variant::Rfc).fires(Kind::UninitializedRead);
}

#[test]
fn noncoherent_walk_into_a_reused_flushed_table_is_silent() {
    noncoherent_populate_reused_vs_walk(Variant::FlushPage).holds();
}

/// The setup maps 0x1000 and walks it (the IOTLB caches it). A unmaps 0x1000 while W
/// walks 0x1000; no final check, so only the walk's own check can fire.
fn walk_during_unmap(variant: Variant) -> Outcome {
    explore(
        move || {
            let m = Arc::new(FirstLevel::with_hardware(variant, GEO, None, true));
            m.mmmap(0x1000, 0xa000, 0x1000).unwrap();
            m.walk(0x1000);
            on_two_threads(
                &m,
                |m: &FirstLevel| m.mmunmap(0x1000, 0x1000, false),
                |m: &FirstLevel| {
                    m.walk(0x1000);
                },
            );
        },
        |rec| stepped(rec, "walk 0x1000: IOTLB hit"),
    )
}

#[test]
fn a_walk_after_an_unmap_without_invalidation_reaches_the_old_page() {
    walk_during_unmap(Variant::NoIotlbFlush).fires(Kind::StaleTranslation);
}

#[test]
fn a_walk_racing_an_unmap_that_invalidates_is_silent() {
    walk_during_unmap(Variant::Rfc).holds();
}

/// One thread: map 0x0, walk `walked` (filling the caches), unmap 0x0 with reclaim, then
/// the final checks.
fn caches_after_unmap(variant: Variant, walked: u64) -> Outcome {
    explore(
        move || {
            let m = FirstLevel::with_hardware(variant, GEO, None, true);
            m.mmmap(0x0, 0xa000, 0x1000).unwrap();
            m.walk(walked);
            m.mmunmap(0x0, 0x1000, true);
            m.check_final();
        },
        |rec| stepped(rec, "final check: the IOTLB and paging-structure caches"),
    )
}

#[test]
fn an_iotlb_entry_left_after_the_threads_is_stale() {
    caches_after_unmap(Variant::NoIotlbFlush, 0x0).fires(Kind::StaleTranslation);
}

#[test]
fn a_paging_structure_entry_left_after_the_threads_is_stale() {
    caches_after_unmap(Variant::NoIotlbFlush, 0x1000).fires(Kind::StaleTranslation);
}

#[test]
fn caches_after_an_unmap_that_invalidates_are_clean() {
    for walked in [0x0, 0x1000] {
        // One thread: a single execution, so not `holds` (which asks for a race).
        let o = caches_after_unmap(Variant::Rfc, walked);
        assert_eq!((o.violation, o.reached), (None, 1), "{o:?}");
    }
}
