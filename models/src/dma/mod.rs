//! DMA-API helpers around IOMMU domains (drivers/iommu/dma-*.c).

pub mod reserved_iova;
