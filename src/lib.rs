//! iommu-mc: a deterministic concurrency model checker for Linux IOMMU algorithms.
//!
//! Data flows one way: a scenario file is parsed and validated ([`scenario`]), an engine runs
//! the model's threads ([`engine`]), the kernel API records every step and raises violations
//! (crate `iommu-models`), the verdict is judged against the expectation ([`judge`]), and a
//! report is written ([`report`]).

#![warn(missing_docs)]

pub mod api;

pub mod bench;
pub mod check;
pub mod engine;
pub mod judge;
pub mod litmus;
pub mod pool;
pub mod report;
pub mod scenario;
pub mod witness;

pub use api::{check, model, Check, Checked, EngineKind};
pub use iommu_models::engine::Ghost;
pub use iommu_models::{kernel, operations, params, registry, spec, thread, trace, variants};
