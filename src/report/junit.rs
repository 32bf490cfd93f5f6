//! JUnit XML for CI: one `<testcase>` per (scenario, engine), `classname` the model and
//! `name` `scenario [variant] engine`, one `<testsuite>` per model.
//!
//! A run whose verdict is not the expected one is a `<failure>` (its `type` the verdict:
//! `violated`, `holds`, `vacuous`, `inconclusive`, `model-error`) whose text gives the
//! verdict, its detail and the command that reproduces the run. `vacuous`, `inconclusive`
//! and `model-error` are never what a scenario expects, so they are failures too, not
//! JUnit errors or skips: a CI that reads the file fails on each. No `time` attribute: the
//! file holds no timings, so two runs give the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Report;

/// `s` escaped for XML 1.0 text (`attr` false) or a double-quoted attribute value (`attr`
/// true). Non-ASCII characters stay as they are (the file is UTF-8); a character XML 1.0
/// cannot hold even as a reference (a C0 control other than tab, line feed and carriage
/// return, U+FFFE, U+FFFF) is written as Rust writes it, `\u{1}`.
pub fn escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            // A parser turns a literal tab or line break in an attribute into a space, and
            // a carriage return anywhere into a line feed; references keep them.
            '\t' | '\n' if attr => {
                let _ = write!(out, "&#{};", c as u32);
            }
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The scenario's own name: `reclaim-race-rfc` of `vtd-first-level/reclaim-race-rfc`.
fn scenario_name(r: &Report) -> &str {
    r.scenario
        .strip_prefix(&r.model)
        .and_then(|s| s.strip_prefix('/'))
        .unwrap_or(&r.scenario)
}

/// The JUnit XML of the runs `reports`, in a fixed order (model, scenario, variant, engine,
/// file) whatever order they come in.
pub fn render(reports: &[Report]) -> String {
    let mut by_model: BTreeMap<&str, Vec<&Report>> = BTreeMap::new();
    for r in reports {
        by_model.entry(&r.model).or_default().push(r);
    }
    let failures = |rs: &[&Report]| rs.iter().filter(|r| !r.as_expected).count();
    let all: Vec<&Report> = reports.iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"iommu-mc\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
        all.len(),
        failures(&all)
    );
    for (model, mut rs) in by_model {
        rs.sort_by(|a, b| {
            (scenario_name(a), &a.variant, &a.engine, &a.path).cmp(&(
                scenario_name(b),
                &b.variant,
                &b.engine,
                &b.path,
            ))
        });
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
            escape(model, true),
            rs.len(),
            failures(&rs)
        );
        for r in rs {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
                escape(model, true),
                escape(
                    &format!("{} [{}] {}", scenario_name(r), r.variant, r.engine),
                    true
                ),
                escape(&r.path, true)
            );
            if r.as_expected {
                out.push_str("/>\n");
                continue;
            }
            let mut text = format!("verdict: {}\nexpected: {}\n", r.verdict_detail, r.expected);
            if let Some(m) = &r.message {
                let _ = writeln!(text, "{m}");
            }
            let _ = writeln!(text, "replay: {}", r.replay);
            let _ = write!(
                out,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                escape(
                    &format!("expected {}, got {}", r.expected, r.verdict_detail),
                    true
                ),
                escape(&r.verdict, true),
                escape(&text, false)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_quotes_controls_and_keeps_non_ascii() {
        assert_eq!(
            escape("a<b>&\"c\" 'd' é 中 \u{1}\u{ffff}\r", true),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos; é 中 \\u{1}\\u{ffff}&#13;"
        );
        assert_eq!(escape("x\ty\nz", true), "x&#9;y&#10;z");
        assert_eq!(escape("x\ty\nz \"q\"", false), "x\ty\nz \"q\"");
    }
}
