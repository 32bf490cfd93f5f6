//! `iommu-models`: the world iommu-mc checks.
//!
//! - [`kernel`]: the kernel API models are written in (atomics, barriers, locks, pages), with
//!   run-time dispatch to loom, shuttle or std in [`kernel::engine`] alone.
//! - [`trace`]: the per-execution event recorder; [`check`]: the violation vocabulary.
//! - [`hw`]: simulated IOMMU hardware, running as threads of its own.
//! - [`vtd`], [`dma`]: kernel algorithms, one module per kernel file.
//! - [`spec`]: the model contract (variants, operations, parameters; the `Model` trait);
//!   [`registry`]: the models known, by name.

#![warn(missing_docs)]

pub mod check;
pub mod dma;
pub mod engine;
pub mod hw;
pub mod kernel;
pub mod registry;
pub mod spec;
pub mod thread;
pub mod trace;
pub mod violation;
pub mod vtd;
