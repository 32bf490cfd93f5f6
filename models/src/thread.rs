//! Threads of a model written as one closure (`iommu_mc::check(engine, || { ... })`): spawn
//! each by the name reports show, and join it, as `loom::thread` does. Scenario files spawn
//! their threads themselves; this is for models in a user's own test.

use crate::engine::JoinHandle;

/// Spawn a thread called `name` (`"A"`, `"walker"`) running `f` in the current execution.
/// Join it before the closure returns.
pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle {
    let index = crate::trace::with_recorder(|r| r.add_thread(name)).expect(
        "iommu_models::thread::spawn outside an execution (call it inside iommu_mc::check)",
    );
    crate::engine::spawn(index, f)
}
