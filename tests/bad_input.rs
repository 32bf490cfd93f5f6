//! Bad input: each malformed scenario under tests/bad-scenarios/ is refused before anything
//! runs, with exactly one line `file:line:col: message`, through the library and through the
//! binary (exit status 2, that line alone on stderr, no panic, no backtrace).

mod common;

use std::ffi::OsStr;

use common::{cli, stderr, temp_dir};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use iommu_mc::check;
use iommu_mc::scenario;
use iommu_models::registry;

const DIR: &str = "tests/bad-scenarios";

/// Each malformed file, next to the one line it must produce.
const CASES: &[(&str, &str)] = &[
    (
        "syntax-error.toml",
        // The array of `setup` is not closed on line 5; the parser notices at line 7.
        "tests/bad-scenarios/syntax-error.toml:7:1: invalid array; expected `]`",
    ),
    (
        "unknown-key.toml",
        "tests/bad-scenarios/unknown-key.toml:6:1: unknown field `seed`, expected one of \
         `title`, `source`, `note`, `model`, `variant`, `params`, `config`, `setup`, `threads`, \
         `expect`",
    ),
    (
        "missing-title.toml",
        "tests/bad-scenarios/missing-title.toml:1:1: missing field `title`",
    ),
    (
        "unknown-model.toml",
        // {models}: every model of the registry, in its order (the list grows with it).
        "tests/bad-scenarios/unknown-model.toml:2:11: unknown model \"vtd-second-level\"; \
         expected one of: {models}",
    ),
    (
        "unknown-config.toml",
        "tests/bad-scenarios/unknown-config.toml:4:12: unknown config option \"PREEMPT_NONE\"; \
         expected PREEMPT_RT or PROVE_RAW_LOCK_NESTING",
    ),
    (
        "unknown-variant.toml",
        "tests/bad-scenarios/unknown-variant.toml:3:11: model vtd-first-level has no variant \
         \"v7\"; expected one of: {vtd-first-level variants}",
    ),
    (
        "entries-not-power-of-two.toml",
        "tests/bad-scenarios/entries-not-power-of-two.toml:4:34: entries = 6; expected a \
         power of two from 2 to 512",
    ),
    (
        "unknown-op.toml",
        "tests/bad-scenarios/unknown-op.toml:7:28: unknown operation \"remap\" for model \
         vtd-first-level; expected one of: map, unmap, iova_to_phys, teardown, walk, prefetch",
    ),
    (
        "bad-number.toml",
        "tests/bad-scenarios/bad-number.toml:7:18: PA \"0xzz\" is not a number; expected \
         decimal or 0x-hex (usage: map IOVA PA [SIZE])",
    ),
    (
        "missing-arg.toml",
        "tests/bad-scenarios/missing-arg.toml:7:7: map takes 2 argument(s), got 1; expected: \
         map IOVA PA [SIZE]",
    ),
    (
        "extra-arg.toml",
        "tests/bad-scenarios/extra-arg.toml:7:27: unexpected \"0x1000\"; expected: unmap \
         IOVA SIZE [reclaim]",
    ),
    (
        "unaligned-range.toml",
        "tests/bad-scenarios/unaligned-range.toml:8:6: range 0x3800+0x1000 is not page \
         aligned (expected IOVA and SIZE multiples of 0x1000, SIZE > 0)",
    ),
    (
        "unaligned-pa.toml",
        "tests/bad-scenarios/unaligned-pa.toml:7:6: PA 0xb080 is not page aligned (expected \
         a multiple of 0x1000)",
    ),
    (
        "outside-space.toml",
        "tests/bad-scenarios/outside-space.toml:7:6: range 0x10000+0x1000 is outside the \
         IOVA space 0x0-0xffff of 2 levels of 4 entries",
    ),
    (
        "overlapping-ranges.toml",
        "tests/bad-scenarios/overlapping-ranges.toml:8:6: range 0x2000-0x2fff overlaps \
         0x1000-0x2fff: the IOVA allocator never hands out overlapping ranges to two threads \
         (the other is thread A's \"map 0x1000 0xa000 0x2000\", line 7)",
    ),
    (
        "empty-range.toml",
        "tests/bad-scenarios/empty-range.toml:7:6: range 0x2000+0x0 is empty (expected SIZE \
         > 0, a multiple of 0x1000)",
    ),
    (
        "too-many-threads.toml",
        "tests/bad-scenarios/too-many-threads.toml:11:1: thread E is one too many: loom \
         models at most 4 threads besides setup",
    ),
    (
        "no-threads.toml",
        "tests/bad-scenarios/no-threads.toml:6:1: no threads; expected at least one",
    ),
    (
        "mixed-thread.toml",
        "tests/bad-scenarios/mixed-thread.toml:7:27: thread A mixes CPU and hardware \
         operations; expected a thread to be one or the other",
    ),
    (
        "unknown-engine.toml",
        "tests/bad-scenarios/unknown-engine.toml:11:20: unknown engine \"shuttle-bfs\"; \
         expected one of: loom, shuttle-pct, shuttle-random, shuttle-dfs, os",
    ),
    (
        "unknown-kind.toml",
        "tests/bad-scenarios/unknown-kind.toml:11:11: unknown violation kind \
         \"use-after-frees\"; expected one of: {kinds} (or a list of them)",
    ),
    (
        "violated-without-kind.toml",
        "tests/bad-scenarios/violated-without-kind.toml:10:11: verdict \"violated\" needs a \
         kind (the violation the checker must find)",
    ),
    (
        "holds-with-kind.toml",
        "tests/bad-scenarios/holds-with-kind.toml:11:11: kind given, but verdict \"holds\" \
         takes no kind; remove it, or expect \"violated\"",
    ),
    (
        "escape-in-op.toml",
        // `map\t0x2000 0xzz`: the column is the source's, where the escape takes two.
        "tests/bad-scenarios/escape-in-op.toml:7:19: PA \"0xzz\" is not a number; expected \
         decimal or 0x-hex (usage: map IOVA PA [SIZE])",
    ),
    (
        "multiline-op.toml",
        // A """ string starting with a newline: the operation is on the next line.
        "tests/bad-scenarios/multiline-op.toml:8:12: PA \"0xzz\" is not a number; expected \
         decimal or 0x-hex (usage: map IOVA PA [SIZE])",
    ),
    (
        "quoted-number.toml",
        "tests/bad-scenarios/quoted-number.toml:4:21: invalid type: string \"2\", expected an \
         integer (no quotes)",
    ),
    (
        "multiline-kind.toml",
        // A """ string with a line break: quoted with its escape, on one line.
        "tests/bad-scenarios/multiline-kind.toml:12:8: unknown violation kind \"use-\\nafter-free\"; \
         expected one of: {kinds} \
         (or a list of them)",
    ),
    (
        "multiline-kind-array.toml",
        // A multi-line array: the line is the bad element's, not the array's.
        "tests/bad-scenarios/multiline-kind-array.toml:13:5: unknown violation kind \
         \"lost-\\nmapping\"; expected one of: {kinds} (or a list of them)",
    ),
    (
        "multiline-thread-name.toml",
        "tests/bad-scenarios/multiline-thread-name.toml:8:1: thread A\\nB has no operations",
    ),
    (
        "ends-after-equals.toml",
        // The parser itself says nothing here.
        "tests/bad-scenarios/ends-after-equals.toml:10:10: nothing after `=`; expected a value: \
         a \"string\", a number, true or false, an [array] or an { inline table }",
    ),
    (
        "not-utf8.toml",
        "tests/bad-scenarios/not-utf8.toml:8:20: byte 0xff is not UTF-8; expected a UTF-8 text \
         file",
    ),
    (
        "pa-beyond-52-bits.toml",
        // Was accepted, and mapped a PA no page table entry holds: a false lost-mapping.
        "tests/bad-scenarios/pa-beyond-52-bits.toml:7:18: PA 0x10000000000000 does not fit in \
         52 bits; expected a physical address below 0x10000000000000",
    ),
    (
        "pa-size-beyond-52-bits.toml",
        "tests/bad-scenarios/pa-size-beyond-52-bits.toml:7:34: range PA 0xffffffffff000+0x2000 \
         ends past 2^52; expected PA+SIZE at most 0x10000000000000",
    ),
    (
        "iova-size-wraps.toml",
        "tests/bad-scenarios/iova-size-wraps.toml:7:32: range IOVA 0xfffffffffffff000+0x2000 \
         wraps past 2^64; expected IOVA+SIZE below 2^64",
    ),
    (
        "get-pa-size-wraps.toml",
        // reserved-iova: the same check as vtd-first-level's map (the registry's).
        "tests/bad-scenarios/get-pa-size-wraps.toml:6:18: range PA 0x1000+0xfffffffffffff000 \
         ends past 2^52; expected PA+SIZE at most 0x10000000000000",
    ),
];

/// The line `file` must produce: its table entry, with `{models}`, a model's variants and
/// `{kinds}` (the violation vocabulary) filled in, so that adding a model, a variant or a
/// kind changes no golden line.
fn expected(line: &str) -> String {
    let kinds: Vec<&str> = iommu_models::check::Kind::ALL
        .iter()
        .map(|k| k.name())
        .collect();
    let models: Vec<&str> = registry::models().iter().map(|m| m.name()).collect();
    let vtd = registry::model("vtd-first-level").expect("built in");
    let variants: Vec<&str> = vtd.variants.iter().map(|v| v.name).collect();
    line.replace("{models}", &models.join(", "))
        .replace("{vtd-first-level variants}", &variants.join(", "))
        .replace("{kinds}", &kinds.join(", "))
}

fn path(file: &str) -> PathBuf {
    Path::new(DIR).join(file)
}

fn assert_clean_stderr(stderr: &str, what: &str) {
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(
            !stderr.contains(bad),
            "{what}: stderr mentions {bad:?}:\n{stderr}"
        );
    }
}

#[test]
fn every_file_has_its_expected_line_and_every_line_its_file() {
    let listed: BTreeSet<&str> = CASES.iter().map(|(f, _)| *f).collect();
    assert_eq!(listed.len(), CASES.len(), "a file is listed twice");
    let present: BTreeSet<String> = std::fs::read_dir(DIR)
        .expect("tests/bad-scenarios/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    let present: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    assert_eq!(
        present, listed,
        "files on disk vs the table of expected lines"
    );
    assert!(CASES.len() >= 12);
    for (file, line) in CASES {
        assert!(
            line.starts_with(&format!("{DIR}/{file}:")),
            "{file}: its line names another file"
        );
        assert!(
            !line.contains('\n'),
            "{file}: the expected error is not one line"
        );
    }
}

#[test]
fn library_refuses_each_file_with_its_line() {
    let mut wrong = Vec::new();
    for (file, line) in CASES {
        let line = expected(line);
        match scenario::load(&path(file)) {
            Ok(sc) => wrong.push(format!("{file}: accepted as {}", sc.id())),
            Err(e) => {
                let got = e.to_string();
                if got != line {
                    wrong.push(format!("{file}:\n  expected {line}\n  got      {got}"));
                }
                // The parts of the error agree with its one line.
                assert_eq!(e.file, path(file));
                assert!(e.line >= 1 && e.col >= 1, "{file}: {e:?}");
                assert!(got.ends_with(&e.message), "{file}: {e:?}");
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn binary_exits_2_with_exactly_the_line_and_runs_nothing() {
    let reports = temp_dir("one");
    let mut wrong = Vec::new();
    for (file, line) in CASES {
        let line = expected(line);
        let p = path(file);
        let out = cli(&[
            OsStr::new("check"),
            "--reports".as_ref(),
            reports.as_ref(),
            p.as_ref(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_clean_stderr(&stderr, file);
        if out.status.code() != Some(2) {
            wrong.push(format!("{file}: exit status {:?}, expected 2", out.status));
        }
        if stderr != format!("{line}\n") {
            wrong.push(format!("{file}:\n  expected {line}\n  stderr   {stderr:?}"));
        }
        if !stdout.is_empty() {
            wrong.push(format!("{file}: stdout is not empty: {stdout:?}"));
        }
    }
    // Refused before anything ran: no report was written.
    assert!(
        !reports.exists(),
        "a report folder was written for bad input"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_whole_folder_gives_every_error_not_just_the_first() {
    // Library: one error per file, in path order.
    let errs = match check::load_all(&[PathBuf::from(DIR)]) {
        Ok(s) => panic!("{} bad scenario(s) accepted", s.len()),
        Err(e) => e,
    };
    let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let mut want: Vec<(&str, &str)> = CASES.to_vec();
    want.sort();
    let want: Vec<String> = want.iter().map(|(_, l)| expected(l)).collect();
    assert_eq!(got, want);

    // Binary: the same lines on stderr, exit status 2, nothing else.
    let reports = temp_dir("all");
    let out = cli(&[
        OsStr::new("check"),
        "--reports".as_ref(),
        reports.as_ref(),
        DIR.as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_clean_stderr(&stderr, DIR);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr, format!("{}\n", want.join("\n")));
    assert!(out.stdout.is_empty());
    assert!(!reports.exists());
}

#[test]
fn explore_refuses_bad_input_the_same_way() {
    // `explore` loads through the same path as `check`: same line, same status.
    let (file, line) = CASES
        .iter()
        .find(|(f, _)| *f == "unknown-engine.toml")
        .copied()
        .expect("unknown-engine.toml is in the table");
    let out = cli(&[OsStr::new("explore"), path(file).as_ref()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_clean_stderr(&stderr, file);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr, format!("{line}\n"));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_file_is_one_line_and_status_2() {
    let p = path("does-not-exist.toml");
    let e = scenario::load(&p).expect_err("a missing file is an error");
    assert_eq!(e.line, 1);
    assert_eq!(e.col, 1);
    assert!(
        e.to_string()
            .starts_with("tests/bad-scenarios/does-not-exist.toml:1:1: cannot read the scenario: "),
        "{e}"
    );
    let out = cli(&[
        OsStr::new("check"),
        "--reports".as_ref(),
        temp_dir("missing").as_ref(),
        p.as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_clean_stderr(&stderr, "missing file");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr, format!("{e}\n"));
}

/// Exit 2 with exactly one line on stderr, and no panic.
fn refused_in_one_line(args: &[&str]) -> String {
    let o = cli(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_clean_stderr(&err, &format!("{args:?}"));
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    err
}

#[test]
fn cli_refusals_that_used_to_panic_or_hang() {
    let sc = "scenarios/vtd-first-level/reclaim-race-rfc.toml";
    let e = refused_in_one_line(&["replay", sc, "--schedule", "zz"]);
    assert!(e.contains("not a shuttle schedule"), "{e}");
    let e = refused_in_one_line(&["explore", "scenarios", "--engine", "loom"]);
    assert!(e.contains("is a folder"), "{e}");
    let empty = temp_dir("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = refused_in_one_line(&["check", empty.to_str().unwrap()]);
    assert!(e.contains("no scenario"), "{e}");
    // A folder that links to itself: the walk does not follow the link, so it ends.
    let looped = temp_dir("loop");
    std::fs::create_dir_all(&looped).unwrap();
    std::os::unix::fs::symlink(&looped, looped.join("again")).unwrap();
    let e = refused_in_one_line(&["check", looped.to_str().unwrap()]);
    assert!(e.contains("no scenario"), "{e}");
    // A path with a line break in it is named with its escape, on one line.
    let broken = temp_dir("line\nbreak");
    std::fs::create_dir_all(&broken).unwrap();
    let e = refused_in_one_line(&["check", broken.to_str().unwrap()]);
    assert!(e.contains("line\\nbreak: no scenario"), "{e}");
    let e = refused_in_one_line(&["explore", broken.to_str().unwrap()]);
    assert!(e.contains("line\\nbreak: is a folder"), "{e}");
    std::fs::copy(path("bad-number.toml"), broken.join("a\nb.toml")).unwrap();
    let e = refused_in_one_line(&["check", broken.to_str().unwrap()]);
    assert!(e.contains("line\\nbreak/a\\nb.toml:7:18: PA"), "{e}");
    // An overflowing bound is refused by the argument parser (clap's own message, which
    // adds a hint line), never an overflow panic.
    let o = cli(&[
        "explore",
        sc,
        "--engine",
        "loom",
        "--preemption-bound",
        "18446744073709551615",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_clean_stderr(&stderr(&o), "an overflowing --preemption-bound");
}

#[test]
fn an_endless_or_huge_file_is_refused_without_reading_it_whole() {
    let cap = scenario::MAX_FILE_BYTES;
    let line = |f: &str| {
        format!("{f}:1:1: the file is larger than 1 MiB; expected a scenario (a short TOML file)")
    };
    // One byte over the cap is refused, the cap itself is read (and parsed).
    let dir = temp_dir("big");
    std::fs::create_dir_all(&dir).unwrap();
    let over = dir.join("over.toml");
    std::fs::write(&over, vec![b'#'; cap as usize + 1]).unwrap();
    let e = scenario::load(&over).expect_err("over the cap");
    assert_eq!(e.to_string(), line(&over.display().to_string()));
    let at = dir.join("at.toml");
    std::fs::write(&at, vec![b'#'; cap as usize]).unwrap();
    let e = scenario::load(&at).expect_err("a comment alone is no scenario");
    assert!(e.message.contains("missing field `title`"), "{e}");
    // A sparse 1 GB file and /dev/zero: refused at once, through the binary.
    let huge = dir.join("huge.toml");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(1 << 30))
        .unwrap();
    for f in [huge.to_str().unwrap(), "/dev/zero"] {
        let t = std::time::Instant::now();
        let e = refused_in_one_line(&["check", "--reports", dir.join("r").to_str().unwrap(), f]);
        assert_eq!(e, format!("{}\n", line(f)));
        assert!(t.elapsed().as_secs() < 30, "{f}: {:?}", t.elapsed());
    }
    // A named pipe that no one writes to: read as empty at once, not waited on.
    let fifo = dir.join("fifo.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {fifo:?}");
    let t = std::time::Instant::now();
    let e = scenario::load(&fifo).expect_err("an empty pipe is no scenario");
    assert!(e.message.contains("missing field `title`"), "{e}");
    assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}
