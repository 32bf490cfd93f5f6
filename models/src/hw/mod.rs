//! Simulated IOMMU hardware. It runs as threads of its own and reaches memory through the
//! same kernel API as the CPU threads, so the checker sees its every access: in the bugs
//! these models are about, the hardware is one of the racers.

pub mod geometry;
pub mod walker;
