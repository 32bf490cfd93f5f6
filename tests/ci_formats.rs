//! `check --junit` and `--sarif`: both files parse, say what the run found, point at files
//! that exist, and are the same bytes on a second run; and `check`'s exit codes.
//!
//! The scenarios are copies under the target folder (so their paths come out relative): two
//! violated as expected (one whose offending event, a guard's drop, is recorded in the
//! standard library), one holding, and one violated that a flipped expectation says holds,
//! with quotes, markup and non-ASCII in its name.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::{check_into, cli, copy_scenarios, stderr, HOLDING, MIS, VIOLATED};
use iommu_models::check::Kind;
use serde_json::Value;

/// Its leak is raised at an unlock that the trace places in `core::ptr::drop_in_place`.
const LEAK: &str = "scenarios/reserved-iova/two-gets-v6.toml";

/// The four scenarios, copied into `dir`/scenarios.
fn scenarios(dir: &Path) -> PathBuf {
    copy_scenarios(dir, &[VIOLATED, HOLDING, LEAK])
}

fn work_dir(tag: &str) -> PathBuf {
    common::work_dir("ci-formats", tag)
}

/// Run `check` over `sc`, writing into `out`; the exit code and the (JUnit, SARIF) bytes.
fn check(sc: &Path, out: &Path) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let (junit, sarif) = (out.join("ci/junit.xml"), out.join("ci/results.sarif"));
    let code = check_into(
        sc,
        out,
        &[
            "--junit".as_ref(),
            junit.as_os_str(),
            "--sarif".as_ref(),
            sarif.as_os_str(),
        ],
    );
    (
        code,
        std::fs::read(junit).expect("the JUnit file is written"),
        std::fs::read(sarif).expect("the SARIF file is written"),
    )
}

/// The file a SARIF URI names, from the crate root.
fn file_of(uri: &str) -> PathBuf {
    assert!(
        !uri.contains(['"', '<', ' ', '\\']),
        "{uri}: not percent-encoded"
    );
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    let b = path.as_bytes();
    let mut bytes = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(String::from_utf8(bytes).unwrap())
}

#[test]
fn junit_and_sarif_parse_locate_and_repeat() {
    let dir = work_dir("formats");
    let sc = scenarios(&dir);
    let (code, junit, sarif) = check(&sc, &dir.join("one"));
    assert_eq!(code, Some(1), "a verdict not the expected one exits 1");

    // JUnit: a test case per (scenario, engine), failures exactly for the flipped one.
    let text = std::str::from_utf8(&junit).expect("the JUnit file is UTF-8");
    let doc = roxmltree::Document::parse(text).expect("the JUnit file is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("8"));
    assert_eq!(root.attribute("failures"), Some("2"));
    assert!(
        doc.descendants().all(|n| n.attribute("time").is_none()),
        "timings in the JUnit file"
    );
    let mut cases = BTreeSet::new();
    for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let class = case.attribute("classname").unwrap();
        let name = case.attribute("name").unwrap();
        assert_eq!(
            case.parent_element().unwrap().attribute("name"),
            Some(class)
        );
        cases.insert(format!("{class}: {name}"));
        let failure = case.children().find(|n| n.has_tag_name("failure"));
        assert_eq!(failure.is_some(), name.starts_with(MIS), "{name}");
        if let Some(f) = failure {
            assert_eq!(f.attribute("type"), Some("violated"));
            assert_eq!(
                f.attribute("message"),
                Some("expected holds, got violated (sleep-in-atomic)")
            );
            let body = f.text().unwrap();
            assert!(
                body.contains("verdict: violated (sleep-in-atomic)"),
                "{body}"
            );
            assert!(body.contains("kzalloc(GFP_KERNEL) may sleep"), "{body}");
            let engine = name.rsplit(' ').next().unwrap();
            let replay = if engine == "loom" {
                format!(
                    "replay: iommu-mc explore {}",
                    sc.join(format!("{MIS}.toml")).display()
                )
            } else {
                format!(
                    "replay: iommu-mc replay {}",
                    sc.join(format!("{MIS}.toml")).display()
                )
            };
            assert!(body.contains(&replay), "{body}\nlacks {replay}");
        }
    }
    let want: BTreeSet<String> = [
        "reserved-iova: get-atomic-v6 [v6] loom",
        "reserved-iova: get-atomic-v6 [v6] shuttle-pct",
        &format!("reserved-iova: {MIS} [v6] loom"),
        &format!("reserved-iova: {MIS} [v6] shuttle-pct"),
        "reserved-iova: two-gets-v6 [v6] loom",
        "reserved-iova: two-gets-v6 [v6] shuttle-pct",
        "vtd-context-flush: flip-pri-one-domain-v2 [v2] loom",
        "vtd-context-flush: flip-pri-one-domain-v2 [v2] shuttle-pct",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(cases, want);

    // SARIF: the required fields, a rule per kind, a result per violation at the model step.
    let log: Value = serde_json::from_slice(&sarif).expect("the SARIF file is JSON");
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &log["runs"][0];
    assert_eq!(log["runs"].as_array().unwrap().len(), 1);
    assert_eq!(run["tool"]["driver"]["name"], "iommu-mc");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(ids, kinds);
    for r in rules {
        assert!(!r["shortDescription"]["text"].as_str().unwrap().is_empty());
    }
    let results = run["results"].as_array().unwrap();
    let mut levels = Vec::new();
    for res in results {
        let kind = res["ruleId"].as_str().unwrap();
        assert_eq!(ids[res["ruleIndex"].as_u64().unwrap() as usize], kind);
        let scenario = res["properties"]["scenario"].as_str().unwrap();
        let engine = res["properties"]["engine"].as_str().unwrap();
        levels.push((
            scenario.to_string(),
            engine.to_string(),
            res["level"].clone(),
        ));

        // The message and the step are the report's.
        let name = scenario.strip_prefix("reserved-iova/").unwrap();
        let report: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("one/reports/reserved-iova/{name}.{engine}.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(report["kind"], kind);
        assert_eq!(res["message"]["text"], report["message"]);
        let at = &res["locations"][0]["physicalLocation"];
        let uri = at["artifactLocation"]["uri"].as_str().unwrap();
        let line = at["region"]["startLine"].as_u64().unwrap();
        let step = format!("{uri}:{line}");
        // The offending event's own location, a file of this tree (a guard's unlock is
        // recorded where it was called, not in the standard library's drop glue).
        let lines = report["lines"].as_array().unwrap();
        let v = report["violation_line"].as_u64().unwrap() as usize;
        let own = lines[v]["location"].as_str().unwrap();
        assert!(!own.starts_with('/'), "{scenario}: {own}");
        assert_eq!(step, own, "{scenario}");
        let source = std::fs::read_to_string(file_of(uri))
            .unwrap_or_else(|e| panic!("{uri}: the location does not exist: {e}"));
        assert!(
            line >= 1 && line as usize <= source.lines().count(),
            "{uri}:{line}"
        );

        let related = res["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(
            !related.starts_with('/') && !related.starts_with("file:"),
            "{related}"
        );
        assert!(
            file_of(related).is_file(),
            "{related}: no such scenario file"
        );
    }
    let mis = format!("reserved-iova/{MIS}");
    let want = vec![
        (
            "reserved-iova/get-atomic-v6".to_string(),
            "loom".to_string(),
            "note".into(),
        ),
        (
            "reserved-iova/get-atomic-v6".into(),
            "shuttle-pct".into(),
            "note".into(),
        ),
        (mis.clone(), "loom".into(), "error".into()),
        (mis, "shuttle-pct".into(), "error".into()),
        (
            "reserved-iova/two-gets-v6".into(),
            "loom".into(),
            "note".into(),
        ),
        (
            "reserved-iova/two-gets-v6".into(),
            "shuttle-pct".into(),
            "note".into(),
        ),
    ];
    assert_eq!(
        levels, want,
        "a result per violation, sorted, error when unexpected"
    );

    // A second run from scratch, elsewhere: the same bytes.
    let (code2, junit2, sarif2) = check(&sc, &dir.join("two"));
    assert_eq!(code2, code);
    assert!(junit == junit2, "the JUnit file differs between two runs");
    assert!(sarif == sarif2, "the SARIF file differs between two runs");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_exits_2_when_nothing_runs_or_a_format_cannot_be_written() {
    let dir = work_dir("exit");
    let reports = dir.join("reports");
    // `check` of VIOLATED under `engine` into `reports`, then `more`: its stderr, which
    // must be one line, and exit 2.
    let refused = |engine: &str, more: &[&OsStr]| {
        let mut args: Vec<&OsStr> = vec![
            "check".as_ref(),
            VIOLATED.as_ref(),
            "--engine".as_ref(),
            engine.as_ref(),
            "--reports".as_ref(),
            reports.as_os_str(),
        ];
        args.extend(more);
        let o = cli(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    assert_eq!(
        refused("os", &[]),
        "--engine os: none of the scenarios names this engine\n"
    );

    // A file where the JUnit file's folder would be.
    let blocker = dir.join("file");
    std::fs::write(&blocker, "").unwrap();
    let junit = blocker.join("junit.xml");
    let err = refused("loom", &["--junit".as_ref(), junit.as_os_str()]);
    let want = format!("{}: cannot write the JUnit XML: ", junit.display());
    assert!(err.starts_with(&want), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
