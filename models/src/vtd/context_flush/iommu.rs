//! drivers/iommu/intel/iommu.c of the series: the two callers of the helper that live
//! there.

use super::pasid::{Change, ContextFlush};

impl ContextFlush {
    /// `domain_context_clear_one(info, bus, devfn)`: clear the device's context entry and
    /// flush, domains included. Reached only in legacy mode (from
    /// `device_block_translation`; scalable mode tears the RID2PASID entry down instead).
    pub(super) fn domain_context_clear_one(&self) {
        self.change_context("clear_context", Change::Clear, true);
    }

    /// `context_flip_pri(info, enable)` (patch 2/2, inferred from the kernel that merged
    /// it): flip PRE in the present context entry and flush, domains included, with
    /// `iommu->lock` held across the helper.
    pub(super) fn context_flip_pri(&self) {
        self.change_context("flip_pri", Change::FlipPre, true);
    }
}
