//! Reports are deterministic and fit an email: the same scenario and engine settings give
//! byte-identical text and JSON; the text is plain ASCII of at most 72 columns and tells the
//! race in the threads' own words.
//!
//! Each run here is done twice from scratch (engine, report, render); nothing sleeps or reads
//! the clock.

mod common;

use common::{cli, load, stdout, temp_dir};

use std::path::PathBuf;

use iommu_mc::check;
use iommu_mc::engine::{self, EngineKind, Settings, Verdict};
use iommu_mc::report;
use iommu_mc::scenario::Scenario;

const RECLAIM_RACE: &str = "scenarios/vtd-first-level/reclaim-race-rfc.toml";
const HOLDING: &str = "scenarios/vtd-first-level/unmap-keeps-table-no-reclaim.toml";

/// Every scenario under scenarios/.
fn all_scenarios() -> Vec<Scenario> {
    check::load_all(&[PathBuf::from("scenarios")]).unwrap_or_else(|errs| {
        panic!(
            "{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

/// Run, build and render: (text, json, verdict name).
fn render(
    sc: &Scenario,
    engine: EngineKind,
    settings: &Settings,
) -> (String, String, &'static str) {
    let out = engine::run(sc, engine, settings);
    let r = report::build(sc, &out);
    (
        report::text::render(&r),
        report::json::render(&r),
        out.verdict.name(),
    )
}

/// Render twice and require byte-identical output; returns the first.
fn twice(sc: &Scenario, engine: EngineKind, settings: &Settings) -> (String, String, &'static str) {
    let a = render(sc, engine, settings);
    let b = render(sc, engine, settings);
    assert_eq!(
        a.0,
        b.0,
        "{} under {}: the text report differs between two runs",
        sc.id(),
        engine.name()
    );
    assert_eq!(
        a.1,
        b.1,
        "{} under {}: the JSON report differs between two runs",
        sc.id(),
        engine.name()
    );
    assert_eq!(a.2, b.2);
    a
}

fn assert_email_text(text: &str, what: &str) {
    assert!(!text.is_empty(), "{what}: empty report");
    assert!(
        text.ends_with('\n'),
        "{what}: the report does not end a line"
    );
    for (i, l) in text.lines().enumerate() {
        assert!(
            l.is_ascii(),
            "{what}: line {} is not plain ASCII: {l:?}",
            i + 1
        );
        assert!(
            !l.contains('\t') && !l.contains('\r'),
            "{what}: line {} has a tab or CR: {l:?}",
            i + 1
        );
        assert_eq!(
            l,
            l.trim_end(),
            "{what}: line {} has trailing blanks",
            i + 1
        );
    }
}

/// The lines of `text` longer than 72 columns, as `what:line: (columns) text`.
fn too_wide(text: &str, what: &str) -> Vec<String> {
    // A command's word that cannot be broken (a long path) may overrun, alone on its line.
    let one_word = |l: &str| {
        let w = l.trim_start().trim_end_matches(" \\");
        !w.contains(' ') && l.len() - l.trim_start().len() <= 4
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.chars().count() > 72 && !one_word(l))
        .map(|(i, l)| format!("{what}:{}: ({} columns) {l}", i + 1, l.chars().count()))
        .collect()
}

/// The first line at or after line `from` containing `needle`: (line index, 0-based column).
fn find(text: &str, from: usize, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .skip(from)
        .find_map(|(i, l)| l.find(needle).map(|c| (i, c)))
        .unwrap_or_else(|| panic!("{needle:?} not in the report after line {from}:\n{text}"))
}

fn assert_tells_the_reclaim_race(text: &str, json: &str, what: &str) {
    assert_email_text(text, what);
    assert!(
        text.starts_with(
            "Subject: use-after-free in vtd-first-level rfc: A reclaims an empty leaf\n"
        ),
        "{what}: first line:\n{text}"
    );
    // The threads' own step labels, each on its thread's side: A in the left column, B in
    // the right one.
    // The interleaving starts under the column headers (the note above also quotes them).
    let (hdr, hdrc) = find(text, 0, "B: map 0x2000");
    let (rule, _) = find(text, hdr, "  ---");
    let (a1, a1c) = find(text, rule, "unmap: check all PTEs empty");
    let (a2, a2c) = find(text, rule, "unmap: clear the up-level PDE");
    let (a3, a3c) = find(text, rule, "unmap: reclaim the page");
    let (b1, b1c) = find(text, rule, "map: up-level PDE");
    let (b2, b2c) = find(text, rule, "map: set the PTE");
    let (mark, markc) = find(text, rule, "^ use-after-free");
    assert_eq!(find(text, 0, "A: unmap 0x1000").1, 2, "{what}: A's header");
    assert_eq!(
        (a1c, a2c, a3c),
        (2, 2, 2),
        "{what}: A's steps not in column 1"
    );
    assert!(
        b1c == hdrc && b2c == hdrc,
        "{what}: B's steps not under B's header"
    );
    assert!(hdrc > 30, "{what}: B's column starts at {hdrc}");
    // The order of the race: A frees before B writes, and the mark is under B's write. (B2's
    // label may come before A's steps: B can be preempted between deciding to populate and
    // its write.)
    assert!(
        hdr < a1 && a1 < a2 && a2 < a3 && a3 < mark && b1 < b2,
        "{what}: steps out of order"
    );
    assert!(
        mark > b2 && markc > hdrc,
        "{what}: the ^ mark is not under B2"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[mark - 1].contains("write frame"),
        "{what}: the marked line is not B's write: {:?}",
        lines[mark - 1]
    );
    assert!(
        lines.iter().any(|l| l.trim_start().starts_with("replay: ")),
        "{what}: no replay line"
    );
    assert!(
        text.contains("reclaim-race-rfc.toml"),
        "{what}: replay names no file"
    );

    let j: serde_json::Value = serde_json::from_str(json).expect("the JSON report parses");
    assert_eq!(j["kind"], "use-after-free", "{what}");
    assert_eq!(j["verdict"], "violated", "{what}");
    assert_eq!(j["as_expected"], true, "{what}");
    assert_eq!(j["scenario"], "vtd-first-level/reclaim-race-rfc", "{what}");
    let vl = j["violation_line"].as_u64().expect("violation_line is set") as usize;
    assert_eq!(j["lines"][vl]["thread"], "B", "{what}");
    assert!(j["replay"]
        .as_str()
        .is_some_and(|r| r.starts_with("iommu-mc ")));
}

#[test]
fn reclaim_race_under_loom_is_byte_identical_and_tells_the_race() {
    let sc = load(RECLAIM_RACE);
    let (text, json, verdict) = twice(&sc, EngineKind::Loom, &Settings::default());
    assert_eq!(verdict, "violated");
    // Loom's first counterexample, at bound 0, is a weak-memory one (B reads a PDE that A
    // had already cleared). A plain interleaving shows the race with one preemption, so
    // that is the witness: no read in it is marked stale, and the report says it is plain.
    // The layout of the use-after-free is checked under shuttle-pct below.
    assert_email_text(&text, "loom");
    assert!(!text.contains("not the latest write"), "{text}");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("; a plain interleaving: no memory reordering needed"),
        "{text}"
    );
    assert!(text.contains("replay: iommu-mc explore"), "{text}");
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        j["kind"] == "use-after-free" || j["kind"] == "lost-mapping",
        "{}",
        j["kind"]
    );
    assert_eq!(j["as_expected"], true);
    assert_eq!(
        j["replay"],
        "iommu-mc explore scenarios/vtd-first-level/reclaim-race-rfc.toml --engine loom"
    );
    assert_eq!(j["preemptions"], 1);
    assert!(j["reorderings"].as_array().is_some_and(|r| r.is_empty()));
    assert!(j["schedule"].is_null());
}

#[test]
fn reclaim_race_under_shuttle_pct_is_byte_identical_and_tells_the_race() {
    let sc = load(RECLAIM_RACE);
    // The race ends in a use-after-free or a lost mapping, whichever way B's write falls
    // (the scenario accepts both); which one a seed meets changes with the model's
    // scheduling points. This test reads the use-after-free story: take the first seed
    // (the default, then 1, 2, ...) that meets it.
    let seed1 = std::iter::once(Settings::default().seed)
        .chain(1..64)
        .map(|seed| Settings {
            seed,
            ..Settings::default()
        })
        .find(|s| {
            matches!(
                engine::run(&sc, EngineKind::ShuttlePct, s).verdict,
                Verdict::Violated(ref v) if v.kind == iommu_models::check::Kind::UseAfterFree
            )
        })
        .expect("some seed meets the use-after-free");
    let (text, json, verdict) = twice(&sc, EngineKind::ShuttlePct, &seed1);
    assert_eq!(verdict, "violated");
    assert_tells_the_reclaim_race(&text, &json, "shuttle-pct");
    // The replay line carries the schedule (wrapped to 72 columns in the text).
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    let schedule = j["schedule"]
        .as_str()
        .expect("a shuttle failure has a schedule");
    assert!(!schedule.is_empty());
    assert!(j["replay"]
        .as_str()
        .unwrap()
        .ends_with(&format!("--schedule {schedule}")));
    assert!(text.contains("replay: iommu-mc replay"), "{text}");
}

#[test]
fn holding_scenario_reports_are_byte_identical() {
    let sc = load(HOLDING);
    for e in [EngineKind::Loom, EngineKind::ShuttlePct] {
        let (text, json, verdict) = twice(&sc, e, &Settings::default());
        assert_eq!(verdict, "holds", "{}", e.name());
        assert_email_text(&text, e.name());
        assert!(text.contains("replay: "), "{text}");
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(j["verdict"], "holds");
        assert!(j["lines"].as_array().is_some_and(|l| l.is_empty()));
        assert!(j["kind"].is_null());
    }
}

#[test]
fn every_scenario_report_is_deterministic_and_plain_ascii() {
    let all = all_scenarios();
    let mut n = 0;
    for sc in &all {
        for &e in &sc.expect.engines {
            let what = format!("{} under {}", sc.id(), e.name());
            let (text, _, verdict) = twice(sc, e, &Settings::default());
            assert_email_text(&text, &what);
            if verdict == "violated" {
                assert!(text.contains("  ^ "), "{what}: no ^ mark:\n{text}");
            }
            n += 1;
        }
    }
    assert!(n >= all.len());
}

/// Every line of every report, the subject line included, fits 72 columns (an email reply).
/// Kept apart from the other checks so that a width problem is reported on its own, with
/// every offending line.
#[test]
fn every_report_line_fits_72_columns() {
    let all = all_scenarios();
    let mut wide = Vec::new();
    for sc in &all {
        for &e in &sc.expect.engines {
            let (text, _, _) = render(sc, e, &Settings::default());
            wide.extend(too_wide(&text, &format!("{}.{}.txt", sc.id(), e.name())));
        }
    }
    assert!(
        wide.is_empty(),
        "{} report line(s) longer than 72 columns:\n{}",
        wide.len(),
        wide.join("\n")
    );
}

#[test]
fn json_report_carries_no_timing() {
    // Reports never carry wall time: a run's elapsed time must not leak into them.
    let sc = load(RECLAIM_RACE);
    let mut out = engine::run(&sc, EngineKind::Loom, &Settings::default());
    assert!(matches!(out.verdict, Verdict::Violated(_)));
    let a = report::json::render(&report::build(&sc, &out));
    out.elapsed = std::time::Duration::from_secs(12345);
    let b = report::json::render(&report::build(&sc, &out));
    assert_eq!(a, b);
    assert!(!a.contains("elapsed"));
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("the reports folder reads") {
            let p = e.expect("a folder entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("a report reads");
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

/// `check --jobs 1` and `--jobs 2` print the same lines in the same order and write the
/// same reports and index, byte for byte (the two cheaper families; the third only adds
/// longer runs).
#[test]
fn check_output_is_identical_across_jobs() {
    let run = |jobs: &str| {
        let dir = temp_dir(&format!("jobs-{jobs}"));
        let o = cli(&[
            "check",
            "scenarios/reserved-iova",
            "scenarios/vtd-first-level",
            "--jobs",
            jobs,
            "--reports",
            dir.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "check --jobs {jobs} failed");
        let out = stdout(&o).replace(dir.to_str().unwrap(), "REPORTS");
        (out, files(&dir))
    };
    let (out1, files1) = run("1");
    let (out2, files2) = run("2");
    assert_eq!(out1, out2, "check's stdout differs between --jobs 1 and 2");
    assert!(files1.len() > 2, "no reports written");
    assert_eq!(
        files1.keys().collect::<Vec<_>>(),
        files2.keys().collect::<Vec<_>>(),
        "the report files differ between --jobs 1 and 2"
    );
    for (name, bytes) in &files1 {
        assert!(
            files2[name] == *bytes,
            "{}: differs between --jobs 1 and 2",
            name.display()
        );
    }
}

/// `litmus --jobs 1`, `2` and `3` print the same lines in the same order (tests finish in
/// any order with more than one job), but for each test's wall time.
#[test]
fn litmus_output_is_identical_across_jobs() {
    let run = |jobs: &str| {
        let o = cli(&["litmus", "litmus", "--jobs", jobs]);
        assert!(o.status.success(), "litmus --jobs {jobs} failed");
        let out = stdout(&o);
        assert!(out.contains("agreement: "), "no summary:\n{out}");
        // `..., 0.02 s]`: the one timing on a line.
        out.lines()
            .map(|l| match l.rfind(", ") {
                Some(i) if l.ends_with(" s]") => &l[..i],
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let one = run("1");
    for jobs in ["2", "3"] {
        assert_eq!(
            one,
            run(jobs),
            "litmus's stdout differs between --jobs 1 and {jobs}"
        );
    }
}
