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
//! What the seed shows and what is inferred. The seed quotes `pgtable_populate` from the
//! allocation to `set_##nm` (seed lines 64-149) and stops there, and of the unmap path only `mmunmap_pte_range` down to `if (reclaim) {` under the comment "Add page
//! to free list if all entries are empty" (seed lines 174-193): reclaim is a parameter of the
//! leaf level, and Baolu's race table (lines 117-120) is about a page of PTEs and its up-level
//! PDE. So variant `rfc` frees only leaf (PTE) tables. Inferred: the body of that `if` (read
//! every PTE of the table, and when all are clear, clear the PMD and put the page on the
//! freelist), from that comment and Baolu's A1/A2/A3; and the upper levels' `mmunmap_*_range`
//! walking down without freeing, because the seed shows no reclaim above the leaf. The mutant
//! `every-level` frees empty tables at every level, to show what the leaf-only rule avoids.
//!
//! The IOMMU's caches and flushes (issue 9). The walker translates through an IOTLB and
//! paging-structure caches (`hw::vtd::PagingCaches`, domain ID 1, PASID 0 = RID2PASID), filling
//! them as it walks; a `prefetch` fills them without a DMA. What the seed shows and what
//! is inferred:
//! - The unmap's flush. The seed shows none (its unmap quote stops at `if (reclaim) {`).
//!   Inferred: the second-level code's freelist rule (intel-iommu.c: `iommu_flush_iotlb_psi`,
//!   then `dma_free_pagelist`), as a PASID-based page-selective IOTLB invalidation of the
//!   unmapped range with IH = 0 when tables were freed and IH = 1 when none were, submitted
//!   by `qi_submit_sync`; the tables are freed only after it returns. Every variant follows
//!   it but the mutant `free-first`, which frees before submitting.
//! - `domain_flush_cache` (clflush), which matters only when page walks do not snoop the CPU
//!   caches (parameter `coherent = 0`: no page-walk coherency, which for a scalable-mode
//!   IOMMU, the only kind with first-level translation, is ECAP.SMPWC; the 2019 driver
//!   tested ECAP.C whatever the mode). Shown by the seed: `mmunmap_pte_range` flushes the
//!   PTEs it cleared (seed line 190), and the quote of `pgtable_populate` (seed lines
//!   64-149: `alloc_pgtable_page`, `smp_wmb`, `spin_lock`, the present check, `set_##nm`)
//!   is one contiguous stretch of code with no flush of the new page between the
//!   allocation and the set: the RFC's missing page flush rests on the seed. The quote
//!   ends at `set_##nm(...)`, so nothing after it is shown. Inferred: the PDE is flushed
//!   after it is set (issue 9's
//!   reading of the RFC), the leaf PTE after `mmmap` sets it, the PDE after an unmap clears
//!   it, and the root table at `domain_init`; the new page is not flushed, so the RFC's
//!   walker may follow a flushed PDE into a table whose zeroing is still in the CPU's cache
//!   (populate-walk-noncoherent-rfc). The variant `flush-page` also flushes the new page
//!   first, as the second-level `pfn_to_dma_pte` does, and so does `cmpxchg`. Memory
//!   holds `PAGE_POISON` from each allocation of a frame on (a reused frame's memory holds
//!   its old contents, not the CPU's zeroing): populate-walk-noncoherent-reused-rfc.
//! - Checks on the caches (the model's, not the thread's): a walk must not reach a PA an unmap took once
//!   that unmap's invalidation completed (checked inside the walk's translation), and after
//!   the threads every IOTLB and paging-structure entry must match the page tables. The
//!   mutant `no-iotlb-flush` drops the invalidation (stale-iotlb-no-iotlb-flush).
//! - Fills only from present entries, and no invalidation on map: right even for the
//!   vIOMMU (Caching Mode, CM=1) that Baolu names as this RFC's target, since the kernel's
//!   map path invalidates for a non-present to present change only under caching mode *and*
//!   for a second-level domain; caching mode does not apply to first-level entries.
//! - Accessed/dirty bits. The RFC's non-leaf `_PAGE_TABLE` includes A and D; its leaf prot
//!   is not in the seed (the model's leaf is present and writable only). Hardware sets A
//!   (and D on a write) in a first-level entry that lacks them, with an atomic write; the
//!   later kernel presets them so that the IOMMU never writes the table. The walker here
//!   never writes (fidelity row `walker`): leaves are treated as if A/D were preset, which
//!   hides a hardware write into a freed table under `free-first`.
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
