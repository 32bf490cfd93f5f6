//! What `vtd-context-flush` checks after the threads. The checks while threads run are the
//! hardware's own (`crate::hw::vtd`: a DMA through a stale entry, and `assert_spin_locked`
//! in the helper); this model keeps no reference state.

use super::pasid::ContextFlush;
use crate::trace::step;

impl ContextFlush {
    /// No cache may still hold an entry that a finished flush covered.
    pub(super) fn check_final(&self) {
        step("final check: the caches");
        self.vtd.check_caches(self);
    }
}
