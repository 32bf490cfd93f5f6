//! The checker's panic hook is set up before any exploration, once: a first loom or shuttle
//! run later, on one thread while another explores, installs no hook of its own. (Each takes
//! the process's hook and sets a wrapper in two steps; in a parallel `check` that race once
//! lost the checker's hook, and a loom violation printed its backtrace mid-run.)
//!
//! One test in its own process: nothing may run loom or shuttle before it.

use std::panic::{catch_unwind, panic_any, set_hook, take_hook};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use iommu_mc::engine::{self, EngineKind, Settings};
use iommu_mc::scenario;

#[test]
fn a_first_loom_or_shuttle_run_after_the_setup_installs_no_panic_hook() {
    engine::install_panic_hook();
    // A hook that counts: if a later first run wrapped it, the wrapper would decide what
    // reaches it.
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let sc = scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/vtd-context-flush/flip-pri-first-stage-v2.toml"),
    )
    .expect("the scenario loads");
    let s = Settings::default();
    let verdicts: Vec<&str> = [EngineKind::Loom, EngineKind::ShuttlePct]
        .iter()
        .map(|&e| engine::run(&sc, e, &s).verdict.name())
        .collect();
    let during = seen.load(Ordering::SeqCst);
    // generator's hook, had it wrapped ours, would drop this payload: its coroutines'
    // cancellation.
    let _ = catch_unwind(|| panic_any(generator::Error::Cancel));
    let after = seen.load(Ordering::SeqCst);
    // The default hook back, so that a failed assertion below is printed.
    drop(take_hook());
    assert_eq!(verdicts, ["violated", "violated"], "both engines ran");
    assert!(during >= 2, "both violations reached the hook: {during}");
    assert_eq!(
        after,
        during + 1,
        "a hook of loom's coroutines filtered the panic"
    );
}
