//! No crash on any input: arbitrary text, arbitrary bytes, and byte-level mutations of the
//! committed scenarios (UTF-8 or not) go to the parser and through the whole `check` path of
//! the binary. Each is refused with exit status 2 and exactly one line on stderr, or judged
//! (exit 0 or 1, a verdict line); never a panic, a signal or a hang.
//!
//! The seed is fixed so `make test` is repeatable; `PROPTEST_RNG_SEED` and `PROPTEST_CASES`
//! in the environment fuzz further.

mod common;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::temp_dir;
use iommu_mc::scenario;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed};

/// The committed scenarios' bytes.
fn corpus() -> &'static [Vec<u8>] {
    static C: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    C.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let files = scenario::find(&root).expect("scenarios/ is readable");
        assert!(files.len() >= 10, "too few committed scenarios to mutate");
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    })
}

/// `cases` cases from a fixed seed, unless the environment asks for others.
fn config(cases: u32) -> Config {
    let mut c = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    if matches!(c.rng_seed, RngSeed::Random) {
        c.rng_seed = RngSeed::Fixed(0x10_3300);
    }
    c
}

/// Pieces that break TOML, numbers and text in the ways scenario writers (and fuzzers) do.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"=",
    b"\"",
    b"\"\"\"",
    b"'''",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b"#",
    b"\\",
    b"\\u00e9",
    b"0x",
    b"0xffffffffffffffff",
    b"0x10000000000000",
    b"18446744073709551616",
    b"-1",
    b"0",
    b"5",
    b"512",
    b"reclaim",
    b"atomic",
    b"walk 0x0",
    b"teardown",
    "\u{e9}t\u{e9} \u{1f600}".as_bytes(),
    "\u{202e}".as_bytes(),
    b"\xff",
    b"\xc3",
    b"\x00",
    b"\r",
    b"\t",
];

/// One edit of a file's bytes, at a fraction of its length.
#[derive(Clone, Debug)]
enum Edit {
    Flip(f64, u8),
    Delete(f64, usize),
    Insert(f64, usize),
    Duplicate(f64, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64, any::<u8>()).prop_map(|(at, b)| Edit::Flip(at, b)),
        (0.0..1.0f64, 1..40usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64, 0..TOKENS.len()).prop_map(|(at, t)| Edit::Insert(at, t)),
        (0.0..1.0f64, 1..80usize).prop_map(|(at, n)| Edit::Duplicate(at, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let pos = |at: f64, len: usize| ((at * len as f64) as usize).min(len);
        match *e {
            Edit::Flip(at, b) if !bytes.is_empty() => {
                let i = pos(at, bytes.len() - 1);
                bytes[i] = b;
            }
            Edit::Flip(..) => {}
            Edit::Delete(at, n) => {
                let i = pos(at, bytes.len());
                bytes.drain(i..(i + n).min(bytes.len()));
            }
            Edit::Insert(at, t) => {
                let i = pos(at, bytes.len());
                bytes.splice(i..i, TOKENS[t].iter().copied());
            }
            Edit::Duplicate(at, n) => {
                let i = pos(at, bytes.len());
                let piece = bytes[i..(i + n).min(bytes.len())].to_vec();
                bytes.splice(i..i, piece);
            }
        }
    }
    bytes
}

/// A committed scenario with a few edits.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (0..corpus().len(), proptest::collection::vec(edit(), 1..4))
        .prop_map(|(i, edits)| apply(corpus()[i].clone(), &edits))
}

/// Numbers at the edges of what scenarios and the hardware hold.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "8",
    "64",
    "512",
    "0xfff",
    "0x1000",
    "0x1001",
    "0x3000",
    "0xffff",
    "0x10000",
    "0xfffffffffffff000",
    "0x10000000000000",
    "0xffffffffffffffff",
];

/// String contents (as written between `"`) a scenario may hold, odd or not.
const STRINGS: &[&str] = &[
    "",
    " ",
    "a\\nb",
    "\\u202e",
    "\u{e9}t\u{e9} \u{1f600}",
    "\u{e9}t\u{e9}\u{1f600}",
    "use-after-free",
    "loom",
    "shuttle-dfs",
    "os",
    "holds",
    "violated",
    "map 0x1000 0xa000",
    "unmap 0x0 0x10000 reclaim",
    "walk 0xffff",
    "get 0x9000040 0x4 atomic",
    "free_domain",
    "teardown",
    "x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x",
];

/// Byte ranges of the numbers (a digit run, with a leading 0x) and of the contents of the
/// one-line `"` strings of `text`.
fn words(text: &str) -> (Vec<Range<usize>>, Vec<Range<usize>>) {
    let (mut numbers, mut strings) = (Vec::new(), Vec::new());
    let b = text.as_bytes();
    let mut j = 0;
    while j < b.len() {
        if b[j] == b'"' {
            let start = j + 1;
            j = start;
            while j < b.len() && b[j] != b'"' && b[j] != b'\n' {
                j += 1;
            }
            if j < b.len() && b[j] == b'"' {
                strings.push(start..j);
            }
            j += 1;
        } else if b[j].is_ascii_digit() && (j == 0 || !b[j - 1].is_ascii_alphanumeric()) {
            let start = j;
            j += if b[j..].starts_with(b"0x") { 2 } else { 0 };
            while j < b.len() && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            numbers.push(start..j);
        } else {
            j += 1;
        }
    }
    (numbers, strings)
}

/// A committed scenario with one of its numbers or strings replaced: mostly still a
/// scenario, with an odd argument, geometry, name or title, that runs.
fn tweaked() -> impl Strategy<Value = Vec<u8>> {
    let repeat = prop_oneof![3 => Just(1usize), 1 => Just(40usize)];
    (
        0..corpus().len(),
        any::<bool>(),
        0.0..1.0f64,
        any::<prop::sample::Index>(),
        repeat,
    )
        .prop_map(|(i, number, at, pick, repeat)| {
            let mut text = String::from_utf8_lossy(&corpus()[i]).into_owned();
            let (numbers, strings) = words(&text);
            let (spans, with) = if number {
                (numbers, NUMBERS)
            } else {
                (strings, STRINGS)
            };
            if !spans.is_empty() {
                let r = spans[((at * spans.len() as f64) as usize).min(spans.len() - 1)].clone();
                // Repeated: a long title, or one long word of it.
                text.replace_range(r, &with[pick.index(with.len())].repeat(repeat));
            }
            text.into_bytes()
        })
}

/// `s` as a TOML basic string, quotes included.
fn quoted(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            c if c.is_control() => q += &format!("\\u{:04x}", c as u32),
            c => q.push(c),
        }
    }
    q + "\""
}

/// A committed scenario whose title, or first thread's name, is any text at all: still a
/// scenario, so it runs and its reports are written with that text in them.
fn renamed() -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![
        any::<String>(),
        ("\\PC{1,12}", 1..60usize).prop_map(|(w, n)| w.repeat(n)),
        "[a\u{e9}\u{1f600} \n]{0,300}",
    ];
    (0..corpus().len(), any::<bool>(), text).prop_map(|(i, title, text)| {
        let old = String::from_utf8_lossy(&corpus()[i]).into_owned();
        let mut done = false;
        let lines: Vec<String> = old
            .lines()
            .map(|l| {
                let key = l.split('=').next().unwrap_or("").trim();
                let hit = if title {
                    key == "title"
                } else {
                    key.len() == 1 && l.contains("= [")
                };
                if hit && !done && !text.trim().is_empty() {
                    done = true;
                    let rest = l.split_once('=').map_or("", |(_, r)| r);
                    if title {
                        format!("title = {}", quoted(&text))
                    } else {
                        format!("{} ={rest}", quoted(&text))
                    }
                } else {
                    l.to_string()
                }
            })
            .collect();
        (lines.join("\n") + "\n").into_bytes()
    })
}

/// Text that looks like TOML often enough to get past the first line.
fn toml_like() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => "[a-z_]{1,8}".prop_map(String::into_bytes),
            2 => (0..TOKENS.len()).prop_map(|t| TOKENS[t].to_vec()),
            1 => Just(b" ".to_vec()),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

/// Any input the fuzzer makes: mutations of scenarios, TOML-like text, any text, any bytes.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => mutated(),
        3 => tweaked(),
        2 => renamed(),
        2 => toml_like(),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

/// Write `bytes` to a fresh scenario file of this test process.
fn write(dir: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let f = dir.join("fuzzed.toml");
    std::fs::write(&f, bytes).unwrap();
    f
}

/// The library refuses `bytes` with one line at a real position, or accepts them.
fn parses_or_refuses_in_one_line(dir: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let f = write(dir, bytes);
    if let Err(e) = scenario::load(&f) {
        let line = e.to_string();
        prop_assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        prop_assert!(e.line >= 1 && e.col >= 1, "{e:?}");
        prop_assert!(!e.message.trim().is_empty(), "empty message: {line:?}");
    }
    Ok(())
}

/// Longest a fuzzed `check` may take: its limits are a second per engine, at most five
/// engines, plus the start and the reports.
const HANG: Duration = Duration::from_secs(30);

/// `iommu-mc check` on `bytes` with small limits: exit 2 with exactly one line on stderr and
/// nothing on stdout, or a verdict (exit 0 or 1, verdict lines on stdout, nothing on stderr).
/// True for a verdict.
fn checks_or_refuses_in_one_line(dir: &Path, bytes: &[u8]) -> Result<bool, TestCaseError> {
    let f = write(dir, bytes);
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_iommu-mc"))
        .args(["check", "--max-time", "1", "--iterations", "10"])
        .args([
            "--max-branches",
            "2000",
            "--preemption-bound",
            "1",
            "--reports",
        ])
        .arg(dir.join("reports"))
        .arg(&f)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("the binary runs");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TestCaseError::fail(format!(
                "check did not end within {HANG:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&std::fs::read(&err).unwrap()).into_owned();
    match status.code() {
        Some(2) => {
            prop_assert_eq!(stderr.lines().count(), 1, "stderr: {:?}", stderr);
            prop_assert!(stderr.ends_with('\n'), "stderr: {:?}", stderr);
            prop_assert!(stdout.is_empty(), "stdout: {:?}", stdout);
            Ok(false)
        }
        Some(0 | 1) => {
            prop_assert!(stderr.is_empty(), "stderr: {:?}", stderr);
            prop_assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with("ok ") || l.starts_with("FAIL ")),
                "no verdict line: {:?}",
                stdout
            );
            Ok(true)
        }
        _ => Err(TestCaseError::fail(format!(
            "check ended with {status}; stderr: {stderr:?}"
        ))),
    }
}

#[test]
fn the_parser_refuses_any_input_in_one_line_or_accepts_it() {
    let dir = temp_dir("fuzz-parse");
    proptest!(config(1000), |(bytes in input())| {
        parses_or_refuses_in_one_line(&dir, &bytes)?;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_any_input_in_one_line_or_gives_a_verdict() {
    let dir = temp_dir("fuzz-check");
    let (verdicts, cases) = (AtomicU32::new(0), AtomicU32::new(0));
    let t = Instant::now();
    proptest!(config(400), |(bytes in input())| {
        let judged = checks_or_refuses_in_one_line(&dir, &bytes)?;
        cases.fetch_add(1, Ordering::Relaxed);
        verdicts.fetch_add(judged as u32, Ordering::Relaxed);
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (verdicts, cases) = (verdicts.into_inner(), cases.into_inner());
    eprintln!(
        "{cases} inputs checked in {:?}: {verdicts} verdicts",
        t.elapsed()
    );
    // Engines and the report writer ran, not only the parser.
    assert!(
        verdicts * 10 >= cases,
        "{verdicts} verdicts of {cases} inputs"
    );
}

#[test]
fn the_fuzzer_reaches_verdicts_not_only_refusals() {
    // A fuzzer that only ever produced refusals would never run an engine or write a report.
    let mut runner = proptest::test_runner::TestRunner::new(config(200));
    let dir = temp_dir("fuzz-accepted");
    let f = dir.join("fuzzed.toml");
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..200 {
        let bytes = mutated().new_tree(&mut runner).unwrap().current();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&f, &bytes).unwrap();
        match scenario::load(&f) {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        accepted >= 20 && refused >= 20,
        "{accepted} accepted, {refused} refused of 200 mutations"
    );
}
