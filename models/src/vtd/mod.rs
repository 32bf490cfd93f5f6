//! Intel VT-d (drivers/iommu/intel/).

pub mod context_flush;
pub mod first_level;
