//! The checker's panic hook is set up before any exploration, once: a first loom or shuttle
//! run later, on one thread while another explores, installs no hook of its own. (Each takes
//! the process's hook and sets a wrapper in two steps; in a parallel `check` that race once
//! lost the checker's hook, and a loom violation printed its backtrace mid-run.)
//!
//! Also: a plain panic on one of the os engine's model threads (real threads) is the run's
//! model-error, and stays off stderr as a verdict's panics do.
//!
//! One test in its own process: nothing may run loom or shuttle before it. It checks that no
//! hook is set after the setup, which is what the race needs, not the race itself.

use std::panic::{catch_unwind, panic_any, set_hook, take_hook};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use iommu_mc::engine::{self, EngineKind, Settings};
use iommu_mc::scenario;

/// Set in the child that runs the test's body.
const CHILD: &str = "IOMMU_MC_PANIC_HOOK_CHILD";

#[test]
fn a_first_loom_or_shuttle_run_after_the_setup_installs_no_panic_hook() {
    // The harness captures a test's `eprintln!`, and shuttle's hook writes with it: the test
    // runs again in a child that does not capture, where fd 2 shows what hooks write.
    if std::env::var_os(CHILD).is_none() {
        let me = std::env::current_exe().unwrap();
        let out = std::process::Command::new(me)
            .args([
                "a_first_loom_or_shuttle_run_after_the_setup_installs_no_panic_hook",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
        return;
    }
    engine::install_panic_hook();
    // The os engine runs model threads on threads of their own: a model's plain panic there
    // is the run's model-error, not a crash to print.
    let mut os = None;
    let printed_os = stderr_of(|| {
        os = Some(iommu_mc::check(EngineKind::Os, || {
            iommu_mc::thread::spawn("A", || panic!("a bug in the model")).join();
        }));
    });
    let os = os.unwrap();
    assert_eq!(os.outcome.verdict.name(), "model-error", "{:?}", os.outcome);
    assert_eq!(
        printed_os, "",
        "the os engine's model thread printed its panic"
    );
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
    // shuttle's hook, had it wrapped ours, would write a failure to stderr for this one.
    let printed = stderr_of(|| {
        let _ = catch_unwind(|| panic!("a panic outside any run"));
    });
    let last = seen.load(Ordering::SeqCst);
    // The default hook back, so that a failed assertion below is printed.
    drop(take_hook());
    assert_eq!(verdicts, ["violated", "violated"], "both engines ran");
    assert!(during >= 2, "both violations reached the hook: {during}");
    assert_eq!(
        after,
        during + 1,
        "a hook of loom's coroutines filtered the panic"
    );
    assert_eq!(last, after + 1);
    assert_eq!(printed, "", "a hook of shuttle's wrote to stderr");
}

/// What `f` writes to fd 2.
fn stderr_of(f: impl FnOnce()) -> String {
    let path = std::env::temp_dir().join(format!("iommu-mc-panic-hook-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    // SAFETY: fd 2 is pointed at our file and back; nothing else runs in this process now.
    unsafe {
        let saved = libc::dup(2);
        libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&file), 2);
        f();
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    text
}
