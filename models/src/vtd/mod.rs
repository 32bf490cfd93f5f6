//! Intel VT-d (drivers/iommu/intel/).

pub mod intel_pgtable;
