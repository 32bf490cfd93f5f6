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
