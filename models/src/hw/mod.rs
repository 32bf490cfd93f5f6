//! Simulated IOMMU hardware. It runs as threads of its own and reaches memory through the
//! same kernel API as the CPU threads, so the checker sees its every access: in the bugs
//! these models are about, the hardware is one of the racers.
//!
//! Generic pieces first (the page-table walker, translation caches, the invalidation
//! queue), then one file per IOMMU's specifics (vtd.rs).

pub mod cache;
pub mod geometry;
pub mod qi;
pub mod vtd;
pub mod walker;
