//! `vtd-first-level`: the VT-d first-level page table of the 2019 RFC.
//!
//! Seed: 000_deb89301de5e0e26.txt, "[RFC PATCH 2/4] iommu/vt-d: Add first level page table
//! interfaces" (Lu Baolu, Peter Xu).
//!
//! Mirrors drivers/iommu/intel-pgtable.c of the RFC: `mmmap` (map a range, populating missing
//! tables with `pgtable_populate` under `domain->page_table_lock` after `smp_wmb`, and setting
//! leaf PTEs without the lock), `mmunmap` / `mmunmap_pte_range` (clear a range; with `reclaim`,
//! free leaf tables found empty), the caller's `reclaim = !start_addr`, and, for the `cmpxchg`
//! variant, the second-level table's lock-free `pfn_to_dma_pte` populate and its
//! `dma_pte_clear_level` behaviour of freeing only tables the range covers entirely.
//!
//! What the seed shows and what is inferred. The seed quotes `pgtable_populate` whole, and of
//! the unmap path only `mmunmap_pte_range` down to `if (reclaim) {` under the comment "Add page
//! to free list if all entries are empty" (seed lines 174-193): reclaim is a parameter of the
//! leaf level, and Baolu's race table (lines 117-120) is about a page of PTEs and its up-level
//! PDE. So variant `rfc` frees only leaf (PTE) tables. Inferred: the body of that `if` (read
//! every PTE of the table, and when all are clear, clear the PMD and put the page on the
//! freelist), from that comment and Baolu's A1/A2/A3; and the upper levels' `mmunmap_*_range`
//! walking down without freeing, because the seed shows no reclaim above the leaf. The mutant
//! `every-level` frees empty tables at every level, to show what the leaf-only rule avoids.
//!
//! Property: no use-after-free (CPU or walker), no double free, no leak after teardown; every
//! map that succeeded and was not unmapped translates to its PA and nothing else translates;
//! the walker never reads an entry of a table whose initialisation it cannot see.
//!
//! One bad interleaving (the thread's own words; variant `rfc`, unmap with reclaim):
//!
//! ```text
//! Thread A (unmap 0x1000)            Thread B (map 0x2000)
//! A1 check all PTEs empty: yes
//!                                    B1 up-level PDE valid: frame 3
//! A2 clear the up-level PDE
//! A3 reclaim the page (frame 3)
//!                                    B2 populate the PTEs: write frame 3 [2]  <- use-after-free
//! ```

mod intel_pgtable;
mod reference;
mod spec;

pub use intel_pgtable::{pte, FirstLevel};
pub use spec::{FreeOrder, Hw, Mechanics, Op, Populate, Reclaim, Variant, MODEL};
