//! The email form of a report: plain ASCII, at most 72 columns, one column per thread, the
//! model's own step labels first and the kernel calls under them.

use super::{Line, Report, ThreadInfo};

/// Width of a report line.
pub const WIDTH: usize = 72;
const INDENT: &str = "  ";
const GAP: usize = 2;

/// Wrap `text` to `width`, continuation lines indented by `cont` spaces.
fn wrap(text: &str, width: usize, cont: usize) -> Vec<String> {
    // Widths count characters, not bytes (a title may be any UTF-8), and every character is
    // copied a bounded number of times, so a long text wraps in linear time.
    let lead = |out: &Vec<String>| if out.is_empty() { 0 } else { cont };
    let emit = |out: &mut Vec<String>, line: &[char]| {
        let l = lead(out);
        out.push(" ".repeat(l) + &line.iter().collect::<String>());
    };
    let mut out: Vec<String> = Vec::new();
    let mut cur: Vec<char> = Vec::new();
    for word in text.split(' ') {
        let n = word.chars().count();
        if !cur.is_empty() && lead(&out) + cur.len() + 1 + n > width {
            emit(&mut out, &cur);
            cur.clear();
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.extend(word.chars());
        // A single word longer than the column is cut after a `(`, else after `>` `,` `/`,
        // else after `_`, if one falls in the second half of the line: so
        // `spin_lock_irqsave(` and `reserved_lock)` stay whole.
        let mut start = 0;
        while lead(&out) + (cur.len() - start) > width {
            let room = width.saturating_sub(lead(&out)).max(1);
            let seg = &cur[start..start + room];
            let cut = [&['('][..], &['>', ',', '/'], &['_']]
                .iter()
                .find_map(|set| {
                    seg.iter()
                        .rposition(|c| set.contains(c))
                        .map(|i| i + 1)
                        .filter(|&i| i > room / 2)
                })
                .unwrap_or(room);
            emit(&mut out, &cur[start..start + cut]);
            start += cut;
        }
        cur.drain(..start);
    }
    if !cur.is_empty() || out.is_empty() {
        emit(&mut out, &cur);
    }
    out
}

/// A paragraph; its own line breaks are kept, and a line's leading spaces indent its
/// wrapped continuation too.
fn paragraph(out: &mut String, text: &str) {
    for line in text.lines() {
        let body = line.trim_start_matches(' ');
        let lead = line.len() - body.len();
        for l in wrap(body, (WIDTH - INDENT.len()).saturating_sub(lead), 0) {
            out.push_str(INDENT);
            out.push_str(&" ".repeat(lead));
            out.push_str(&l);
            out.push('\n');
        }
    }
}

fn field(out: &mut String, name: &str, value: &str) {
    let head = format!("{name}: ");
    let lines = wrap(value, WIDTH - INDENT.len() - head.len(), 0);
    for (i, l) in lines.iter().enumerate() {
        out.push_str(INDENT);
        if i == 0 {
            out.push_str(&head);
        } else {
            out.push_str(&" ".repeat(head.len()));
        }
        out.push_str(l);
        out.push('\n');
    }
}

/// A shell command a reader can paste: broken only between words, each broken line ending
/// in ` \\` and the next indented by 4; a word longer than a line (a path) stays whole
/// and overruns it.
fn command(out: &mut String, name: &str, cmd: &str) {
    let cont = " ".repeat(4);
    let mut line = format!("{INDENT}{name}:");
    for (words, word) in cmd.split(' ').enumerate() {
        let fits = line.chars().count() + 1 + word.chars().count() + 2 <= WIDTH;
        if words > 0 && !fits {
            out.push_str(&line);
            out.push_str(" \\\n");
            line = cont.clone();
        } else {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// One row of the thread columns: a cell per column.
fn push_row(out: &mut String, cells: &[Vec<String>], width: usize) {
    let rows = cells.iter().map(|c| c.len()).max().unwrap_or(0);
    for r in 0..rows {
        let mut line = String::from(INDENT);
        for (i, c) in cells.iter().enumerate() {
            let text = c.get(r).map(String::as_str).unwrap_or("");
            line.push_str(text);
            if i + 1 < cells.len() {
                // Cells are padded by characters, as `wrap` fills them (a name may be any
                // UTF-8).
                let used = text.chars().count();
                line.push_str(&" ".repeat((width + GAP).saturating_sub(used)));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn cell(l: &Line, width: usize) -> Vec<String> {
    let (lead, cont) = if l.step { (0, 2) } else { (2, 4) };
    wrap(&l.text, width - lead, cont - lead)
        .into_iter()
        .map(|s| format!("{}{}", " ".repeat(lead), s))
        .collect()
}

/// Render `r` as the short text of an email reply: subject, consequence, the steps that
/// matter in thread columns, the fixes the scenario's twins prove, the command that
/// reproduces it. The full trace is [`render_full`] and the JSON.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    for l in wrap(&format!("Subject: {}", r.subject), WIDTH, 2) {
        out.push_str(&l);
        out.push('\n');
    }
    out.push('\n');
    paragraph(&mut out, &without_sources(&r.consequence));
    out.push('\n');
    let shown: Vec<Line> = r.shown.iter().map(|&i| r.lines[i].clone()).collect();
    let mark = r
        .shown_mark
        .and_then(|v| r.shown.iter().position(|&i| i == v));
    if !r.functions.is_empty() {
        paragraph(&mut out, &format!("({})", r.functions.join(", ")));
    }
    columns(&mut out, r, &shown, mark);
    if !r.shown.is_empty() && r.shown.len() < r.lines.len() {
        paragraph(
            &mut out,
            &format!(
                "({} of {} trace lines shown; --full or the JSON has them all)",
                r.shown.len(),
                r.lines.len()
            ),
        );
    }
    out.push('\n');
    let (want, head) = if r.kind.is_some() {
        (
            "holds",
            if r.mutant {
                "variants without this mutation (each holds in its twin scenario)"
            } else {
                "fixes the checker proves (each holds in its twin scenario)"
            },
        )
    } else {
        (
            "violated",
            "variants the checker finds broken here (variant: what it changes)",
        )
    };
    // Only a twin that runs the same program proves anything here; one that differs is
    // named, and a fix that fails elsewhere in the family says where.
    let twins: Vec<String> = r
        .twins
        .iter()
        .filter(|t| t.expected == want)
        .map(|t| {
            let mut line = format!("{}: {}", t.variant, t.change);
            if !t.same_program {
                line += &format!(" (in {}, a different program)", t.scenario);
            }
            if want == "holds" && !t.violated_in.is_empty() {
                line += &format!("; but violated in {}", t.violated_in.join(", "));
            }
            line
        })
        .collect();
    list(&mut out, head, &twins);
    // The verdict and how it was found in one field; of the memory note only whether the
    // witness is plain or weak, the rest is in --full.
    let mut found = r.search.clone();
    if let Some(m) = &r.memory {
        found += if m.starts_with("plain") {
            "; a plain interleaving: no memory reordering needed"
        } else {
            "; weak memory: it needs a reordering (below)"
        };
    }
    if !r.expected.is_empty() && !r.as_expected {
        found += &format!("; NOT AS EXPECTED: expected {}", r.expected);
    }
    field(&mut out, r.verdict.as_str(), &found);
    reached(&mut out, r);
    command(&mut out, "replay", &r.replay);
    // The scenario's note says who claimed what and what is inferred: a reader of the
    // reply needs it. Its hardware sentence is in the consequence already.
    if let Some(n) = &r.note {
        let n = super::hardware_at(n).map_or(n.as_str(), |at| &n[..at]);
        if !n.trim().is_empty() {
            field(&mut out, "note", n.trim());
        }
    }
    list(&mut out, "lock hold", &r.lock_holds);
    let reorderings: Vec<String> = r.reorderings.iter().map(|t| without_sources(t)).collect();
    list(&mut out, "reorderings", &reorderings);
    list(&mut out, "fidelity", &r.fidelity_shown);
    out
}

/// `text` without its model source locations: the short form names each access by its
/// kernel words; --full keeps them.
fn without_sources(text: &str) -> String {
    // ` (models/src/x.rs:12)`, up to and with its `)`; and lockdep's `raw_spin_lock at
    // models/src/x.rs:12, in ...`, up to its `,`.
    let mut out = String::new();
    let mut rest = text;
    loop {
        let paren = rest.find(" (models/src/").map(|at| (at, ')'));
        let at_ = rest.find(" at models/src/").map(|at| (at, ','));
        let Some((at, close)) = [paren, at_].into_iter().flatten().min() else {
            break;
        };
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // A location never spans lines: one left open ends at the line's end.
        let end = rest.find([close, '\n']).unwrap_or(rest.len());
        let past = usize::from(rest[end..].starts_with(')'));
        rest = &rest[end + past..];
    }
    out.push_str(rest);
    out
}

/// Render `r` with its full trace: every kernel call under each step.
pub fn render_full(r: &Report) -> String {
    let mut out = String::new();
    let what = match &r.kind {
        Some(k) => k.clone(),
        None => r.verdict.clone(),
    };
    let title = format!("iommu-mc: {what} in {} (variant {})", r.scenario, r.variant);
    for l in wrap(&title, WIDTH, 2) {
        out.push_str(&l);
        out.push('\n');
    }
    out.push('\n');
    match &r.message {
        Some(m) => paragraph(&mut out, m),
        None => paragraph(&mut out, &r.title),
    }
    out.push('\n');
    if r.message.is_some() {
        field(&mut out, "scenario", &r.title);
    }
    if let Some(s) = &r.source {
        field(&mut out, "source", s);
    }
    if !r.params.is_empty() {
        field(&mut out, "params", &r.params);
    }
    if !r.setup.is_empty() {
        field(&mut out, "setup", &r.setup.join("; "));
    }
    if let Some(n) = &r.note {
        field(&mut out, "note", n);
    }
    out.push('\n');

    columns(&mut out, r, &r.lines, r.violation_line);
    out.push('\n');
    field(
        &mut out,
        "verdict",
        &if r.expected.is_empty() {
            r.verdict_detail.clone()
        } else {
            format!("{} (expected {})", r.verdict_detail, r.expected)
        },
    );
    reached(&mut out, r);
    field(&mut out, "engine", &r.search);
    if let Some(m) = &r.memory {
        field(&mut out, "memory", m);
    }
    command(&mut out, "replay", &r.replay);
    list(&mut out, "lock hold", &r.lock_holds);
    list(&mut out, "reorderings", &r.reorderings);
    list(&mut out, "fidelity", &r.fidelity);
    out
}

/// The thread columns: headers, then `lines` (the one at `mark` offending), then the
/// lines after every thread finished.
fn columns(out: &mut String, r: &Report, lines: &[Line], mark: Option<usize>) {
    // A thread with no line to show gets no column; a sentence under the table names it.
    let (threads, absent): (Vec<&ThreadInfo>, Vec<&ThreadInfo>) = r
        .threads
        .iter()
        .partition(|t| lines.is_empty() || lines.iter().any(|l| l.thread == t.name));
    let n = threads.len().max(1);
    let width = (WIDTH - INDENT.len() - GAP * (n - 1)) / n;
    let col = |name: &str| threads.iter().position(|t| t.name == name);

    // Headers: "A: first op", further ops under it; hardware agents say so.
    let headers: Vec<Vec<String>> = threads
        .iter()
        .map(|t| {
            let who = if t.hardware {
                format!("{} (hardware)", t.name)
            } else {
                t.name.clone()
            };
            // A closure model's threads have no operations: the header is the name.
            let first = t.ops.first().map_or(String::new(), |op| format!(": {op}"));
            let mut h = wrap(&format!("{who}{first}"), width, 2);
            for op in t.ops.iter().skip(1) {
                h.extend(wrap(&format!("   {op}"), width, 5));
            }
            h
        })
        .collect();
    push_row(out, &headers, width);
    let rules: Vec<Vec<String>> = (0..n).map(|_| vec!["-".repeat(width)]).collect();
    push_row(out, &rules, width);

    let mut end_lines = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let mark = mark == Some(i);
        let Some(c) = col(&l.thread) else {
            end_lines.push((l, mark));
            continue;
        };
        let mut cells: Vec<Vec<String>> = vec![vec![]; n];
        cells[c] = cell(l, width);
        if mark {
            let lead = if l.step { 0 } else { 2 };
            cells[c].push(format!(
                "{}^ {}",
                " ".repeat(lead),
                r.kind.as_deref().unwrap_or("here")
            ));
        }
        push_row(out, &cells, width);
    }
    for t in absent {
        let hw = if t.hardware { "hardware: " } else { "" };
        let why = if r.lines.iter().any(|l| l.thread == t.name) {
            "ran, but none of its steps bears on the violation"
        } else {
            "did not run before the violation"
        };
        out.push('\n');
        paragraph(
            out,
            &format!("{} ({hw}{}) {why}.", t.name, t.ops.join("; ")),
        );
    }
    if lines.is_empty() {
        paragraph(
            out,
            "(no counterexample: every explored execution kept every invariant)",
        );
    }
    if !end_lines.is_empty() {
        out.push('\n');
        paragraph(out, "after every thread finished:");
        let full = WIDTH - INDENT.len();
        for (l, mark) in end_lines {
            push_row(out, &[cell(l, full)], full);
            if mark {
                let lead = if l.step { "" } else { "  " };
                push_row(
                    out,
                    &[vec![format!(
                        "{lead}^ {}",
                        r.kind.as_deref().unwrap_or("here")
                    )]],
                    full,
                );
            }
        }
    }
}

/// The `reaches` steps a holding run reached; nothing for a run without any.
fn reached(out: &mut String, r: &Report) {
    if !r.reached.is_empty() {
        field(
            out,
            "reached",
            &format!("{} (each in some explored execution)", r.reached.join("; ")),
        );
    }
}

/// A heading and its items, one wrapped bullet each; nothing when there are none.
fn list(out: &mut String, name: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str(INDENT);
    out.push_str(name);
    out.push_str(":\n");
    for f in items {
        for (i, l) in wrap(f, WIDTH - 6, 0).iter().enumerate() {
            out.push_str(if i == 0 { "  - " } else { "    " });
            out.push_str(l);
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{paragraph, push_row, wrap, GAP, INDENT};

    #[test]
    fn columns_are_padded_by_characters() {
        // A thread name with more bytes than the column has characters used to overflow
        // the padding (a capacity-overflow panic, found by tests/fuzz_input.rs).
        let name = "\u{1e96c}\u{a1}\u{11ca9}00\u{710}: prepare 0x9000040 0x4";
        let mut out = String::new();
        push_row(&mut out, &[vec![name.into()], vec!["B".into()]], 34);
        let want = format!(
            "{INDENT}{name}{}B\n",
            " ".repeat(34 + GAP - name.chars().count())
        );
        assert_eq!(out, want);
        // A paragraph line indented past the page is kept, not an underflow.
        let mut out = String::new();
        paragraph(&mut out, &format!("{}x", " ".repeat(100)));
        assert!(out.ends_with("x\n"), "{out:?}");
    }

    #[test]
    fn wrap_keeps_every_line_within_width() {
        let text = "read frame 3 [2] = 0xaaaaaaaaaaaaaaaa (PAGE_POISON) after a long word";
        for w in [10, 16, 22, 34] {
            for l in wrap(text, w, 2) {
                assert!(l.len() <= w, "{l:?} is longer than {w}");
            }
        }
        assert_eq!(wrap("a b", 10, 2), vec!["a b"]);
        assert_eq!(wrap("aaaa bbbb", 6, 2), vec!["aaaa", "  bbbb"]);
    }

    #[test]
    fn wrap_counts_characters_and_takes_linear_time() {
        // Non-ASCII text used to panic: the cut fell inside a character.
        let text = "Ünïcödé títlé wïth wörds lönger thän ä cölümn: ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ";
        for w in [5, 10, 16, 34] {
            for l in wrap(text, w, 2) {
                assert!(l.chars().count() <= w, "{l:?} is longer than {w}");
            }
        }
        let joined: String = wrap(text, 10, 0).concat();
        assert_eq!(joined.replace(' ', ""), text.replace(' ', ""));
        // A 4 MB word (the old cut copied the rest at every line: quadratic).
        let long = "é".repeat(2 << 20);
        let start = std::time::Instant::now();
        let lines = wrap(&long, 72, 2);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(
            lines
                .iter()
                .map(|l| l.trim_start().chars().count())
                .sum::<usize>(),
            2 << 20
        );
    }

    #[test]
    fn long_calls_break_after_a_parenthesis_or_underscore() {
        assert_eq!(
            wrap("spin_unlock_irqrestore(reserved_lock)", 34, 2),
            vec!["spin_unlock_irqrestore(", "  reserved_lock)"]
        );
        assert_eq!(
            wrap("raw_spin_lock_irqsave(irq_desc->lock)", 32, 2),
            vec!["raw_spin_lock_irqsave(", "  irq_desc->lock)"]
        );
        assert_eq!(
            wrap("spin_lock_irqsave(iova_rbtree_lock)", 22, 2),
            vec!["spin_lock_irqsave(", "  iova_rbtree_lock)"]
        );
        // No break character in the second half: cut at the width.
        assert_eq!(wrap("abcdefghij", 4, 0), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn paragraphs_keep_their_lines_and_indents() {
        let mut out = String::new();
        paragraph(&mut out, "first\n  second line\nthird");
        assert_eq!(out, "  first\n    second line\n  third\n");
    }
}
