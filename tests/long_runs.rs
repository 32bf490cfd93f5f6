//! Long runs: `check --total-time` and Ctrl-C end the runs still going as `inconclusive`,
//! saying how far they got, and their reports are still written; progress goes to stderr
//! only when it is a terminal.

mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{cli, stderr, stdout, temp_dir};

/// A folder with a quick scenario and one that loom cannot finish in a few seconds.
fn long_and_short(tag: &str) -> PathBuf {
    let d = temp_dir(tag);
    std::fs::create_dir_all(d.join("in")).unwrap();
    for f in [
        "bench/contended/populate-levels4-cmpxchg.toml",
        "scenarios/vtd-context-flush/clear-context-v2.toml",
    ] {
        let name = Path::new(f).file_name().unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(f),
            d.join("in").join(name),
        )
        .unwrap();
    }
    d
}

fn report(d: &Path) -> String {
    std::fs::read_to_string(d.join("reports/vtd-first-level/populate-levels4-cmpxchg.loom.txt"))
        .expect("the cut-off run's report is written")
}

#[test]
fn the_overall_time_limit_ends_a_check_inconclusive_with_its_reports() {
    let d = long_and_short("total-time");
    let out = cli(&[
        "check".as_ref(),
        d.join("in").as_os_str(),
        "--engine".as_ref(),
        "loom".as_ref(),
        "--reports".as_ref(),
        d.join("reports").as_os_str(),
        "--total-time".as_ref(),
        "2".as_ref(),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("ok   vtd-context-flush/clear-context-v2"),
        "{text}"
    );
    assert!(
        text.contains("inconclusive (the overall time limit (--total-time) was reached after"),
        "{text}"
    );
    // What was explored is said: the bounds loom finished.
    assert!(text.contains("was explored (holds)"), "{text}");
    assert!(report(&d).contains("inconclusive (the overall time limit"));
}

#[test]
fn ctrl_c_ends_a_check_inconclusive_with_its_reports_and_status_130() {
    let d = long_and_short("ctrl-c");
    let mut child = Command::new(env!("CARGO_BIN_EXE_iommu-mc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", "--engine", "loom", "--jobs", "1", "--reports"])
        .arg(d.join("reports"))
        .arg(d.join("in"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The signal goes once the quick scenario's line is out: Ctrl-C is handled by then, and
    // the long one is running (a fixed sleep could come before either on a loaded machine).
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").unwrap();
    assert!(first.contains("clear-context-v2"), "{first}");
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let out = child.wait_with_output().unwrap();
    let text = format!("{first}\n{}\n", rest.join("\n"));
    assert_eq!(out.status.code(), Some(130), "{text}{}", stderr(&out));
    assert!(
        text.contains("inconclusive (interrupted (Ctrl-C) after"),
        "{text}"
    );
    assert!(report(&d).contains("interrupted (Ctrl-C)"));
}

#[test]
fn no_progress_is_written_when_stderr_is_not_a_terminal() {
    let d = long_and_short("no-progress");
    let out = cli(&[
        "explore".as_ref(),
        d.join("in/populate-levels4-cmpxchg.toml").as_os_str(),
        "--engine".as_ref(),
        "loom".as_ref(),
        "--max-time".as_ref(),
        "2".as_ref(),
    ]);
    assert_eq!(stderr(&out), "", "progress went to a pipe");
    assert!(stdout(&out).contains("inconclusive"));
}

#[test]
fn check_removes_the_reports_of_scenarios_that_no_longer_exist() {
    // A renamed or deleted scenario must not leave its old report behind; the reports of
    // scenarios merely not run this time stay.
    let d = temp_dir("orphans");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/vtd-context-flush");
    std::fs::create_dir_all(d.join("in")).unwrap();
    for f in ["clear-context-v2.toml", "clear-context-did-fix.toml"] {
        std::fs::copy(src.join(f), d.join("in").join(f)).unwrap();
    }
    let check = |what: &Path| {
        let out = cli(&[
            "check".as_ref(),
            what.as_os_str(),
            "--engine".as_ref(),
            "loom".as_ref(),
            "--reports".as_ref(),
            d.join("reports").as_os_str(),
        ]);
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{}",
            stderr(&out)
        );
    };
    check(&d.join("in"));
    let reports = d.join("reports/vtd-context-flush");
    let has = |name: &str| reports.join(format!("{name}.loom.txt")).exists();
    assert!(has("clear-context-v2") && has("clear-context-did-fix"));
    // Rename one, and check only the other file.
    std::fs::rename(
        d.join("in/clear-context-v2.toml"),
        d.join("in/renamed-v2.toml"),
    )
    .unwrap();
    check(&d.join("in/clear-context-did-fix.toml"));
    assert!(
        !has("clear-context-v2"),
        "the renamed scenario's report is still there"
    );
    assert!(
        !reports.join("clear-context-v2.loom.json").exists(),
        "its JSON is still there"
    );
    assert!(has("clear-context-did-fix"));
}
