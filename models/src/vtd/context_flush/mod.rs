//! `vtd-context-flush`: the cache flush after a change of a present context entry, and who
//! must hold `iommu->lock` across it.
//!
//! Seed: 003_6f85f3162cfe5709.txt, "Re: [PATCH v2 1/2] iommu/vt-d: Add helper to flush
//! caches for context change" (Lu Baolu, Kevin Tian, June 2024).
//!
//! Mirrors drivers/iommu/intel/pasid.c of the series: `intel_context_flush_present` (quoted
//! whole in the seed, lines 16-73), `device_pasid_table_teardown` and its final diff (lines
//! 151-200), and iommu.c's `domain_context_clear_one` (lines 153-164); with the PASID attach
//! (`intel_pasid_setup_*`) and teardown (`intel_pasid_tear_down_entry`) it races, and the
//! PRI flip of patch 2/2 (`context_flip_pri`), where the entry stays present.
//!
//! What the seed shows and what is inferred:
//! - The helper, line for line: device-selective context-cache invalidation with the DID
//!   read from the context entry (`context_domain_id(context)`, seed line 21); legacy mode:
//!   domain-selective IOTLB and the device TLB, then return; scalable mode with
//!   `affect_domains` (renamed `flush_domains` in the final diff and the kernel): for each
//!   present PASID entry, PASID-cache invalidation of its DID (all PASIDs) and a
//!   domain-selective IOTLB invalidation; then the device TLB.
//! - Both callers clear the entry (`context_clear_entry`) before calling the helper, so the
//!   DID the helper reads is 0. The seed does not say so; the kernel fixed it in August
//!   2024 (7af6c720417f) by passing the DID in (variant `did-fix`).
//! - Inferred from the kernel of that time, not shown in the seed: the PASID attach and
//!   teardown paths (teardown clears the entry under `iommu->lock` and flushes outside it),
//!   `context_flip_pri` (patch 2/2; it holds `iommu->lock` across the helper), and what
//!   `__context_flush_dev_iotlb` issues (one device-TLB invalidation without PASID, if ATS
//!   is enabled).
//! - `did-bitmap` is Kevin Tian's proposal in prose (seed lines 84-89): the model's reading
//!   is that callers unlock before the helper, and the helper takes `iommu->lock` only for
//!   the PASID-table walk that collects the DIDs, then invalidates each outside it.
//! - The page tables do not change in this model: a walk of domain D at page P gives frame
//!   `D * 4 + P`, computed, not read.
//!
//! The invariant (issue 9): after the helper returns, no cache holds a translation derived
//! from the old context entry, and no DMA completes through one; after a PASID teardown
//! returns, none completes through the torn-down PASID entry ([`crate::hw::vtd`]). Two
//! kinds tell the consequences apart: `stale-translation` when what the old entry
//! translated to has changed (a clear), `unflushed-entry` when only fields that do not
//! translate changed (a PRE flip), where something derived from the old entry stays cached
//! but no DMA goes astray. Whether the guidance's own invalidations remove first-stage
//! IOTLB entries and PASID-tagged device-TLB entries is the model's assumption (they do
//! not: the fidelity table's `vtd-scope` row), so a violation resting on it is an open
//! question for the spec, not a bug shown in the posted code. In legacy mode a
//! device-selective context-cache invalidation matches the DID as well as the source ID; in scalable mode the DID is ignored (seed lines 28-32), and the
//! scalable-mode context entry has no DID (the model's is 0 there).

mod iommu;
mod pasid;
mod reference;
mod spec;

pub use pasid::ContextFlush;
pub use spec::{Assert, DidFrom, Flush, Hw, Locking, Mechanics, Op, Variant, MODEL};
