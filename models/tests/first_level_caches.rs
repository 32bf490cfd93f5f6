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
//!   left out, the silent test fails.

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
            let a = {
                let m = m.clone();
                spawn(1, move || m.mmunmap(0x0, 0x1000, true))
            };
            let w = {
                let m = m.clone();
                spawn(2, move || {
                    if read_once(m.pool().frame(m.pgd()).entry(0)) == 0 {
                        m.walk(0x1000);
                    }
                })
            };
            a.join();
            w.join();
        },
        |rec| stepped(rec, "walk 0x1000: paging-structure cache hit at L2"),
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
            let w = {
                let m = m.clone();
                spawn(1, move || {
                    m.walk(0x1000);
                })
            };
            let a = {
                let m = m.clone();
                spawn(2, move || m.mmmap(0x1000, 0xa000, 0x1000).unwrap())
            };
            a.join();
            w.join();
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
