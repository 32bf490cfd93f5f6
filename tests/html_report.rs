//! `check --html` and `report --format html`, without a browser: the page is well-formed
//! (it is written as XML, so roxmltree parses it whole), ASCII, loads nothing, has an index
//! row per run and, per violation, one SVG sequence diagram with a box per shown step and
//! one offending box, the trace and the JSON of the report `check` wrote; and two runs give
//! the same bytes. `make html-check` renders the same page in Chromium.

mod common;

use std::path::Path;

use common::{check_into, cli, copy_scenarios, stderr, stdout, work_dir, HOLDING, MIS, VIOLATED};
use roxmltree::{Document, Node};
use serde_json::Value;

/// `check` of `sc` with its reports in `out`/reports and the page at `out`/report.html: the
/// exit code and the page.
fn check(sc: &Path, out: &Path) -> (Option<i32>, String) {
    let html = out.join("report.html");
    let code = check_into(sc, out, &["--html".as_ref(), html.as_os_str()]);
    (
        code,
        std::fs::read_to_string(html).expect("the HTML page is written"),
    )
}

fn class_is(n: &Node, class: &str) -> bool {
    n.attribute("class")
        .is_some_and(|c| c.split(' ').any(|w| w == class))
}

fn all<'a, 'i>(n: Node<'a, 'i>, tag: &str) -> Vec<Node<'a, 'i>> {
    n.descendants()
        .filter(|d| d.is_element() && d.tag_name().name() == tag)
        .collect()
}

fn text(n: Node) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

/// The page parses, holds only ASCII, and references nothing outside itself.
fn self_contained(html: &str) -> Document<'_> {
    assert!(html.is_ascii(), "the page is not ASCII");
    for remote in ["http://", "https://", "@import", "url(", "<script", "<link"] {
        assert!(!html.contains(remote), "the page holds {remote:?}");
    }
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = Document::parse_with_options(html, opts).expect("the page is well-formed");
    for n in doc.descendants().filter(|n| n.is_element()) {
        for a in ["src", "href"] {
            if let Some(v) = n.attribute(a) {
                assert!(v.starts_with('#'), "{a}={v:?} leaves the page");
            }
        }
    }
    doc
}

/// Checks a violation section against the report JSON `check` wrote, `reports` its folder.
fn violation(sec: Node, reports: &Path) {
    let svgs = all(sec, "svg");
    assert_eq!(svgs.len(), 1, "one sequence diagram per violation");
    let details = all(sec, "details");
    let summaries: Vec<String> = details
        .iter()
        .map(|d| text(all(*d, "summary")[0]))
        .collect();
    assert_eq!(details.len(), 2, "{summaries:?}");
    assert!(summaries[0].starts_with("Full trace ("), "{summaries:?}");
    assert_eq!(summaries[1], "JSON");

    // The JSON is the report `check` wrote, unescaped to the same bytes.
    let json = text(all(details[1], "pre")[0]);
    let r: Value = serde_json::from_str(&json).expect("the JSON parses");
    let model = r["model"].as_str().unwrap();
    let name = r["scenario"]
        .as_str()
        .unwrap()
        .strip_prefix(&format!("{model}/"))
        .unwrap();
    let file = reports
        .join(model)
        .join(format!("{name}.{}.json", r["engine"].as_str().unwrap()));
    assert_eq!(
        json,
        std::fs::read_to_string(&file).unwrap(),
        "{}",
        file.display()
    );

    // A box per model step, and the offending access; exactly one of them marked.
    let lines = r["lines"].as_array().unwrap();
    let bad = r["violation_line"].as_u64().map(|v| v as usize);
    let shown = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| l["step"].as_bool().unwrap() || Some(*i) == bad)
        .count();
    let boxes = all(svgs[0], "g");
    assert_eq!(boxes.len(), shown, "{}", file.display());
    let marked: Vec<Node> = boxes
        .iter()
        .filter(|g| class_is(g, "offending"))
        .copied()
        .collect();
    assert_eq!(
        marked.len(),
        usize::from(bad.is_some()),
        "{}",
        file.display()
    );
    if let (Some(v), Some(g)) = (bad, marked.first()) {
        let title = text(all(*g, "title")[0]);
        assert!(
            title.ends_with(lines[v]["text"].as_str().unwrap()),
            "{title}"
        );
    }
    // A lifeline per thread; the trace has a row per line, the offending one marked.
    let threads = r["threads"].as_array().unwrap().len();
    assert!(all(svgs[0], "line").len() >= threads);
    let rows = all(details[0], "tr");
    assert_eq!(rows.len(), lines.len() + 1, "a header and a row per line");
    let marked_rows: Vec<usize> = (1..rows.len())
        .filter(|&i| class_is(&rows[i], "bad"))
        .collect();
    assert_eq!(
        marked_rows,
        bad.map(|v| v + 1).into_iter().collect::<Vec<_>>()
    );
}

#[test]
fn check_html_is_well_formed_self_contained_complete_and_repeatable() {
    let dir = work_dir("html-report", "check");
    let sc = copy_scenarios(&dir, &[VIOLATED, HOLDING]);
    let (code, html) = check(&sc, &dir.join("one"));
    assert_eq!(code, Some(1), "MIS is not as expected");
    let doc = self_contained(&html);

    // The index: a row per run, in a fixed order, MIS's two marked as not expected.
    let index = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("index"))
        .unwrap();
    let rows: Vec<Vec<String>> = all(index, "tr")
        .into_iter()
        .filter(|r| class_is(r, "run"))
        .map(|r| all(r, "td").into_iter().map(text).collect())
        .collect();
    let cell = |r: &Vec<String>, i: usize| r[i].clone();
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (cell(r, 0), cell(r, 2), cell(r, 5)))
        .collect();
    let mis = format!("reserved-iova/{MIS}");
    let want: Vec<(String, String, String)> = [
        ("reserved-iova/get-atomic-v6", "loom", "yes"),
        ("reserved-iova/get-atomic-v6", "shuttle-pct", "yes"),
        (mis.as_str(), "loom", "NO"),
        (mis.as_str(), "shuttle-pct", "NO"),
        ("vtd-context-flush/flip-pri-one-domain-v2", "loom", "yes"),
        (
            "vtd-context-flush/flip-pri-one-domain-v2",
            "shuttle-pct",
            "yes",
        ),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want);
    assert!(rows.iter().all(|r| r.len() == 6), "{rows:?}");
    assert_eq!(cell(&rows[2], 3), "violated (sleep-in-atomic)");
    assert_eq!(cell(&rows[2], 4), "holds");

    // A section per violation, each linked from its row.
    let sections: Vec<Node> = all(doc.root_element(), "section")
        .into_iter()
        .filter(|s| class_is(s, "violation"))
        .collect();
    assert_eq!(sections.len(), 4);
    assert_eq!(
        all(doc.root_element(), "svg").len(),
        4,
        "one SVG per violation, no other"
    );
    let links: Vec<&str> = all(index, "a")
        .iter()
        .filter_map(|a| a.attribute("href"))
        .collect();
    let ids: Vec<String> = sections
        .iter()
        .map(|s| format!("#{}", s.attribute("id").unwrap()))
        .collect();
    assert_eq!(links, ids);
    for s in &sections {
        violation(*s, &dir.join("one/reports"));
    }

    // A second run from scratch: the same bytes.
    let (code2, html2) = check(&sc, &dir.join("two"));
    assert_eq!(code2, code);
    assert!(html == html2, "the HTML page differs between two runs");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_format_html_is_one_page_of_every_run() {
    let o = cli(&["report", VIOLATED, "--format", "html"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = stdout(&o);
    let doc = self_contained(&html);
    assert_eq!(all(doc.root_element(), "html").len(), 1, "one page");
    assert_eq!(
        all(doc.root_element(), "svg").len(),
        2,
        "loom's and shuttle-pct's"
    );
}
