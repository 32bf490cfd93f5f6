//! One self-contained HTML page of a `check`: the index of every run and, for each
//! violation, a sequence diagram of its threads (inline SVG), the full trace and the JSON,
//! both folded in `<details>`.
//!
//! The page loads nothing: the style is inline, there is no script, no font and no link
//! out of the file. It is also well-formed XML (every element closed, only the five XML
//! escapes and numeric references), so a test can parse it without a browser. Every
//! character outside ASCII is written as a numeric reference, so the bytes are ASCII
//! whatever a reader assumes the encoding to be. Runs come in a fixed order and the page
//! holds no timings: two runs give the same bytes.

use std::fmt::Write as _;

use super::sarif::sorted;
use super::{json, junit, Line, Report};

/// `s` escaped for HTML text or a double-quoted attribute value: as for an XML attribute
/// ([`junit::escape`]: markup, quotes, tab and line breaks as references, a control
/// character as Rust writes it, `\u{1}`), then everything outside ASCII as a numeric
/// reference, but a C1 control, which HTML would read as a Windows-1252 character, as Rust
/// writes it.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in junit::escape(s, true).chars() {
        match c {
            c if c.is_ascii() => out.push(c),
            '\u{80}'..='\u{9f}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
        }
    }
    out
}

/// The style of the page: no font but the reader's own.
const STYLE: &str = "\
body{font-family:sans-serif;margin:1.5em;color:#111;background:#fff}
table{border-collapse:collapse;margin:0.5em 0}
th,td{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#eee}
tr.no td{background:#fdd}
td.bad,tr.bad td{background:#fcc}
td.step{font-weight:bold}
code,pre,td.mono{font-family:monospace;font-size:90%}
pre{background:#f6f6f6;padding:0.5em;overflow-x:auto}
section{border-top:2px solid #888;margin-top:2em}
svg{display:block;margin:0.5em 0}
svg .life{stroke:#888;stroke-dasharray:4 3}
svg .head{fill:#dde;stroke:#446}
svg .box{fill:#eef4ff;stroke:#6688aa}
svg rect.bad{fill:#e33;stroke:#900;stroke-width:2}
svg text{font-family:monospace;font-size:11px;fill:#111}
svg text.bad{fill:#fff;stroke:none;font-weight:bold}
";

/// Width of a thread's column in the diagram, of a box in it, height of a row, and how
/// many characters of a step fit in a box.
const COL: usize = 250;
const BOX: usize = 236;
const ROW: usize = 24;
const FIT: usize = 34;

/// The threads of `r` in column order: the scenario's, then any other a line names
/// (`end` for the final checks).
fn columns(r: &Report) -> Vec<&str> {
    let mut cols: Vec<&str> = r.threads.iter().map(|t| t.name.as_str()).collect();
    for l in &r.lines {
        if !cols.contains(&l.thread.as_str()) {
            cols.push(&l.thread);
        }
    }
    cols
}

/// `s` cut to `n` characters, with an ellipsis when cut.
fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['\u{2026}']).collect()
    }
}

/// The sequence diagram of `r`: a lifeline per thread, each model step (and the offending
/// access, marked) as a box in its thread's column, in the order the interleaving runs
/// them. A box's tooltip holds its full text; its number is the trace line's.
fn diagram(r: &Report) -> String {
    let cols = columns(r);
    let shown: Vec<(usize, &Line)> = r
        .lines
        .iter()
        .enumerate()
        .filter(|&(i, l)| l.step || Some(i) == r.violation_line)
        .collect();
    let width = cols.len() * COL + 10;
    let top = 34;
    let height = top + shown.len() * ROW + 14;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"seq\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-label=\"sequence diagram of {}\">",
        escape(&r.scenario)
    );
    let centre = |c: usize| 5 + c * COL + COL / 2;
    for (c, name) in cols.iter().enumerate() {
        let x = centre(c);
        let hardware = r.threads.iter().any(|t| t.hardware && t.name == *name);
        let name = format!("{name}{}", if hardware { " (hardware)" } else { "" });
        let _ = writeln!(
            s,
            "<line class=\"life\" x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{}\"/>\n\
             <rect class=\"head\" x=\"{}\" y=\"4\" width=\"{BOX}\" height=\"22\" rx=\"3\"/>\n\
             <text x=\"{x}\" y=\"19\" text-anchor=\"middle\">{}</text>",
            height - 4,
            x - BOX / 2,
            escape(&fit(&name, FIT))
        );
    }
    for (row, (i, l)) in shown.iter().enumerate() {
        let c = cols.iter().position(|&n| n == l.thread).unwrap_or(0);
        let bad = Some(*i) == r.violation_line;
        let class = if bad { "bad" } else { "box" };
        let y = top + row * ROW;
        let label = format!("{} {}", i + 1, l.text);
        let _ = writeln!(
            s,
            "<g{}><title>{}{}: {}</title>\
             <rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{BOX}\" height=\"{}\" rx=\"3\"/>\
             <text{} x=\"{}\" y=\"{}\">{}</text></g>",
            if bad { " class=\"offending\"" } else { "" },
            if bad { "offending access: " } else { "" },
            escape(&l.thread),
            escape(&l.text),
            centre(c) - BOX / 2,
            y + 2,
            ROW - 4,
            if bad { " class=\"bad\"" } else { "" },
            centre(c) - BOX / 2 + 5,
            y + 16,
            escape(&fit(&label, FIT))
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The full interleaving of `r` as a table, a column per thread.
fn trace(r: &Report) -> String {
    let cols = columns(r);
    let mut s = String::from("<table class=\"trace\">\n<tr><th>#</th>");
    for c in &cols {
        let _ = write!(s, "<th>{}</th>", escape(c));
    }
    s.push_str("<th>model location</th></tr>\n");
    for (i, l) in r.lines.iter().enumerate() {
        let bad = Some(i) == r.violation_line;
        let _ = write!(
            s,
            "<tr{}><td>{}</td>",
            if bad { " class=\"bad\"" } else { "" },
            i + 1
        );
        for c in &cols {
            if *c == l.thread {
                let _ = write!(
                    s,
                    "<td class=\"mono{}\">{}{}</td>",
                    if l.step { " step" } else { "" },
                    escape(&l.text),
                    if bad {
                        " &#x25c0; offending access"
                    } else {
                        ""
                    }
                );
            } else {
                s.push_str("<td></td>");
            }
        }
        let _ = writeln!(s, "<td class=\"mono\">{}</td></tr>", escape(&l.location));
    }
    s.push_str("</table>\n");
    s
}

/// One violation's section, `id` its anchor.
fn violation(r: &Report, id: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<section id=\"{id}\" class=\"violation\">\n<h2>{} [{}] under {}: {}</h2>",
        escape(&r.scenario),
        escape(&r.variant),
        escape(&r.engine),
        escape(&r.verdict_detail)
    );
    let mut para = |label: &str, text: &str| {
        let _ = writeln!(s, "<p><b>{label}:</b> {}</p>", escape(text));
    };
    para("title", &r.title);
    if let Some(m) = &r.message {
        para("found", m);
    }
    para("expected", &r.expected);
    para("search", &r.search);
    if let Some(m) = &r.memory {
        para("memory", m);
    }
    if let Some(n) = &r.note {
        para("note", n);
    }
    let _ = writeln!(
        s,
        "<p><b>reproduce:</b> <code>{}</code></p>\n{}\
         <details><summary>Full trace ({} lines)</summary>\n{}</details>\n\
         <details><summary>JSON</summary>\n<pre>{}</pre>\n</details>\n</section>",
        escape(&r.replay),
        diagram(r),
        r.lines.len(),
        trace(r),
        escape(&json::render(r))
    );
    s
}

/// The page of the runs `reports`.
pub fn render(reports: &[Report]) -> String {
    let rs = sorted(reports);
    let unexpected = rs.iter().filter(|r| !r.as_expected).count();
    let found: Vec<&&Report> = rs.iter().filter(|r| r.kind.is_some()).collect();
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>iommu-mc check</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <h1>iommu-mc check</h1>\n\
         <p id=\"summary\">Runs: {} ({} as expected, {unexpected} not). Violations found: {}.</p>\n\
         <table id=\"index\">\n<tr><th>scenario</th><th>variant</th><th>engine</th>\
         <th>verdict</th><th>expected</th><th>as expected</th></tr>\n",
        rs.len(),
        rs.len() - unexpected,
        found.len()
    );
    let mut sections = String::new();
    let mut n = 0;
    for r in &rs {
        let name = if r.kind.is_some() {
            n += 1;
            let id = format!("v{n}");
            sections += &violation(r, &id);
            format!("<a href=\"#{id}\">{}</a>", escape(&r.scenario))
        } else {
            escape(&r.scenario)
        };
        let _ = writeln!(
            s,
            "<tr class=\"run{}\"><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            if r.as_expected { "" } else { " no" },
            escape(&r.variant),
            escape(&r.engine),
            escape(&r.verdict_detail),
            escape(&r.expected),
            if r.as_expected { "yes" } else { "NO" }
        );
    }
    s.push_str("</table>\n");
    s += &sections;
    s.push_str("</body>\n</html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::{escape, fit};

    #[test]
    fn escapes_markup_quotes_controls_and_non_ascii() {
        assert_eq!(
            escape("a<b>&\"c\" 'd' \u{e9} \u{4e2d} \u{1}\u{80}\t"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos; &#xe9; &#x4e2d; \\u{1}\\u{80}&#9;"
        );
    }

    #[test]
    fn fit_cuts_on_characters() {
        assert_eq!(fit("\u{fc}\u{fc}\u{fc}", 3), "\u{fc}\u{fc}\u{fc}");
        assert_eq!(fit("\u{fc}\u{fc}\u{fc}\u{fc}", 3), "\u{fc}\u{fc}\u{2026}");
    }
}
