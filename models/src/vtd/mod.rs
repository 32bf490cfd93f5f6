//! Intel VT-d (drivers/iommu/intel/).

pub mod first_level;
