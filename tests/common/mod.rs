//! Helpers the checker's test binaries share: load a scenario, run the binary, a fresh
//! temp folder.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use iommu_mc::scenario::{self, Scenario};

/// The scenario at `p`, or a panic with its one-line error.
pub fn load(p: &str) -> Scenario {
    scenario::load(Path::new(p)).unwrap_or_else(|e| panic!("{e}"))
}

/// Run the `iommu-mc` binary from the crate's root with `args`.
pub fn cli<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iommu-mc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The binary's standard output (UTF-8).
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

/// The binary's standard error.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh folder under the system's temp dir, removed first if a previous run left it.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iommu-mc-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A scenario violated as expected (sleep-in-atomic), and one that holds.
pub const VIOLATED: &str = "scenarios/reserved-iova/get-atomic-v6.toml";
pub const HOLDING: &str = "scenarios/vtd-context-flush/flip-pri-one-domain-v2.toml";
/// The name of the copy of VIOLATED that expects `holds`: markup, quotes and non-ASCII.
pub const MIS: &str = "mis-expected-\u{fc}&\"<'";

/// A fresh folder `<name>-<pid>-<tag>` under the target folder, inside the crate root the
/// binary runs in (so that paths under it come out relative).
pub fn work_dir(name: &str, tag: &str) -> PathBuf {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `files` copied into `dir`/scenarios, with MIS, a copy of VIOLATED whose expectation is
/// flipped to `holds`; the folder.
pub fn copy_scenarios(dir: &Path, files: &[&str]) -> PathBuf {
    let sc = dir.join("scenarios");
    std::fs::create_dir_all(&sc).unwrap();
    for f in files {
        std::fs::copy(f, sc.join(Path::new(f).file_name().unwrap())).unwrap();
    }
    let text = std::fs::read_to_string(VIOLATED).unwrap();
    let flipped = text
        .replace("verdict = \"violated\"", "verdict = \"holds\"")
        .replace("kind    = \"sleep-in-atomic\"\n", "");
    assert_ne!(
        flipped, text,
        "the expectation of {VIOLATED} was not flipped"
    );
    std::fs::write(sc.join(format!("{MIS}.toml")), flipped).unwrap();
    sc
}

/// `check` of `sc` with its reports in `out`/reports and the options `more`, which must
/// print nothing on stderr; its exit code.
pub fn check_into(sc: &Path, out: &Path, more: &[&OsStr]) -> Option<i32> {
    let reports = out.join("reports");
    let mut args: Vec<&OsStr> = vec!["check".as_ref(), sc.as_os_str(), "--reports".as_ref()];
    args.push(reports.as_os_str());
    args.extend(more);
    let o = cli(&args);
    assert!(
        stderr(&o).is_empty(),
        "check wrote to stderr: {}",
        stderr(&o)
    );
    o.status.code()
}
