//! `iommu-mc litmus`: refusals (one line `file:line:col: ...`, exit 2, no panic, whatever
//! the bytes), a few fast tests run end to end with their expected result, and the list of
//! known disagreements kept honest (each names a fidelity row and a test of litmus/).

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{cli, stderr, stdout, temp_dir};
use iommu_mc::litmus::{self, parse, Expect};

/// A process `P0(int *x, spinlock_t *s)` with `stmt` as its body after `int r0;`.
fn with_stmt(stmt: &str) -> String {
    format!(
        "C T\n(* Result: Never *)\n{{}}\nP0(int *x, spinlock_t *s)\n{{\n\tint r0;\n\t{stmt}\n}}\nexists (0:r0=1)\n"
    )
}

/// Each malformed test and the one line it must give (the file is `t.litmus`).
fn cases() -> Vec<(String, &'static str)> {
    let plain = |tail: &str| {
        format!("C T\n(* Result: Never *)\n{{}}\nP0(int *x) {{ WRITE_ONCE(*x, 1); }}\n{tail}")
    };
    vec![
        (
            with_stmt("r0 = xchg_relaxed(x, 1);"),
            "7:7: `xchg_relaxed` is not supported: the kernel API has only the fully ordered xchg",
        ),
        (with_stmt("atomic_inc(x);"), "7:13: `x` is not an atomic_t"),
        (
            with_stmt("foo(x);"),
            "7:2: unknown primitive `foo`; expected one of: READ_ONCE, WRITE_ONCE,",
        ),
        (
            with_stmt("set_bit(64, x);"),
            "7:10: expected a bit number from 0 to 63",
        ),
        (
            with_stmt(&format!(
                "int {};",
                (1..=64)
                    .map(|i| format!("r{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            "7:312: more than 64 registers in P0",
        ),
        (
            format!(
                "C T\n(* Result: Never *)\n{{}}\nP0({}) {{}}\nexists (x0=0)\n",
                (0..33)
                    .map(|i| format!("int *x{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "4:319: more than 32 locations",
        ),
        (
            with_stmt("r0 = READ_ONCE(x);"),
            "7:17: expected `*` and a location (`*x`)",
        ),
        (
            with_stmt("WRITE_ONCE(*y, 1);"),
            "7:14: `y` is not a parameter of P0",
        ),
        (
            with_stmt("spin_unlock(s);"),
            "7:2: spin_unlock(s) of a lock P0 does not hold",
        ),
        (with_stmt("r0 = READ_ONCE(*s);"), "7:18: `s` is not an int"),
        (
            with_stmt("if (r0) { spin_lock(s); }"),
            "7:12: `spin_lock` inside an `if` is not supported",
        ),
        (
            with_stmt("smp_mb__after_spinlock();"),
            "7:2: `smp_mb__after_spinlock` is supported only right after a spin_lock",
        ),
        (
            "C T\n{}\nP0(int *x) { WRITE_ONCE(*x, 1); }\nexists (x=1)\n".into(),
            "1:1: no expected result; expected `Result: Never|Sometimes|Always`",
        ),
        (
            plain("exists (1:r0=1)\n"),
            "5:9: no process P1; expected 0 to 0",
        ),
        (
            plain("exists (x=1 /\\ 0:r9=1)\n"),
            "5:18: P0 has no register `r9`",
        ),
        (
            plain(&format!(
                "exists ({}x=1{})\n",
                "(".repeat(100_000),
                ")".repeat(100_000)
            )),
            "5:41: nested deeper than 32 levels",
        ),
        (
            plain(&format!("exists ({}x=1)\n", "~".repeat(100_000))),
            "5:41: nested deeper than 32 levels",
        ),
        (
            with_stmt(&format!("{}r0 = 1;", "if (r0) ".repeat(100_000))),
            "7:266: nested deeper than 32 levels",
        ),
        (
            plain("forall (x=1)\n"),
            "5:1: `forall` is not supported; expected `exists (...)`",
        ),
        (
            plain("exists (x=1) junk\n"),
            "5:14: `junk`; expected the end of the file",
        ),
        (
            "X86 T\n".into(),
            "1:1: `X86` litmus tests are not supported",
        ),
        (
            "C T\n(* Result: Never\n".into(),
            "2:1: unterminated `(*` comment; expected `*)`",
        ),
        (
            "C T\n(* Result: Maybe *)\n{}\nP0(int *x) { WRITE_ONCE(*x, 1); }\nexists (x=1)\n"
                .into(),
            "2:4: `Result: Maybe`; expected Never, Sometimes or Always",
        ),
        (
            format!(
                "C T\n(* Result: Never *)\n{{}}\n{}exists (x=1)\n",
                (0..5)
                    .map(|i| format!("P{i}(int *x) {{}}\n"))
                    .collect::<String>()
            ),
            "8:1: more than 4 processes; loom runs at most 4 threads",
        ),
    ]
}

#[test]
fn malformed_tests_are_refused_with_one_line_and_exit_2() {
    let d = temp_dir("litmus-bad");
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("t.litmus");
    for (text, want) in cases() {
        refuses(&f, &text, want);
    }
}

/// `text`, written to `f`, is refused with the line `f:want...`: by the library, and by
/// the binary, which prints that line alone and exits 2.
fn refuses(f: &Path, text: &str, want: &str) {
    std::fs::write(f, text).unwrap();
    let e = parse::load(f).expect_err(want).to_string();
    let want = format!("{}:{want}", f.display());
    assert!(
        e.starts_with(&want),
        "got {e:?}\nwant {want:?}\nfor:\n{text}"
    );
    let o = cli(&["litmus".as_ref(), f.as_os_str()]);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert_eq!(stderr(&o), format!("{e}\n"));
}

#[test]
fn non_utf8_and_huge_files_are_refused() {
    let d = temp_dir("litmus-bytes");
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("bytes.litmus");
    std::fs::write(&f, b"C T\n(* Result: Never *)\n{}\nP0(int *x) { \xff }\n").unwrap();
    let e = parse::load(&f).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:4:14: not UTF-8 text; expected a litmus test",
            f.display()
        )
    );
    let big = d.join("big.litmus");
    let mut text = with_stmt("WRITE_ONCE(*x, 1);");
    text += &" ".repeat(parse::MAX_FILE_BYTES as usize);
    std::fs::write(&big, text).unwrap();
    let o = cli(&["litmus".as_ref(), big.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!(
            "{}:1:1: file larger than {} bytes; expected a litmus test\n",
            big.display(),
            parse::MAX_FILE_BYTES
        )
    );
    // A device that never ends is read only up to the cap.
    if Path::new("/dev/zero").exists() {
        let o = cli(&["litmus", "/dev/zero"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).starts_with("/dev/zero:1:1: file larger than"));
    }
}

/// Every prefix and every one-byte corruption of a real test parses or is refused: no panic.
#[test]
fn no_panic_on_truncated_or_corrupted_tests() {
    let f = Path::new("litmus/Z6.0+locks+after-spinlock+mb.litmus");
    let text = std::fs::read(f).unwrap();
    for cut in 0..text.len() {
        let mut t = text[..cut].to_vec();
        let _ = std::str::from_utf8(&t).map(|s| parse::parse(f, s));
        if cut < text.len() {
            for b in [b'(', b')', b'{', b'}', b'*', b';', b'"', b'0', b'~', b'\\'] {
                t = text.clone();
                t[cut] = b;
                let _ = std::str::from_utf8(&t).map(|s| parse::parse(f, s));
            }
        }
    }
}

/// Run `files` of litmus/ through the binary: its stdout and exit status.
fn run(files: &[&str]) -> (String, Option<i32>) {
    let mut args = vec!["litmus".to_string()];
    args.extend(files.iter().map(|f| format!("litmus/{f}.litmus")));
    let o = cli(&args);
    (stdout(&o), o.status.code())
}

fn line_of<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{out}"))
}

#[test]
fn fast_tests_agree_end_to_end() {
    let tests = [
        ("MP+onces", "Sometimes"),
        ("MP+wmb+rmb", "Never"),
        ("SB+mbs", "Never"),
        ("Atomicity+add-returns", "Always"),
        ("MP+atomic-set-release+atomic-read-acquire", "Never"),
        ("SB+atomic-add-return-relaxeds", "Sometimes"),
    ];
    let names: Vec<&str> = tests.iter().map(|t| t.0).collect();
    let (out, code) = run(&names);
    for (name, result) in tests {
        let l = line_of(&out, name);
        let want = format!("expected {result:<9} observed {result:<9} agrees");
        assert!(l.contains(&want), "{l}");
    }
    assert!(out.contains("agreement: 6 of 6; 0 known disagreement(s), 0 unexplained"));
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_known_disagreement_passes_and_names_its_cause() {
    let (out, code) = run(&["LB+onces"]);
    assert!(
        line_of(&out, "LB+onces")
            .contains("observed Never     DISAGREES (known; fidelity row `load-buffering`)"),
        "{out}"
    );
    assert!(out.contains("known: LB+onces: loom never lets a load read a store"));
    assert_eq!(code, Some(0), "{out}");
}

/// `filter` keeps only the executions it holds in: with it, MP+onces' data read can be
/// judged among the executions that saw the flag (some read 0), and under wmb/rmb all of
/// them read 1 (Always).
#[test]
fn filter_restricts_the_executions_judged() {
    let d = temp_dir("litmus-filter");
    std::fs::create_dir_all(&d).unwrap();
    let mut files = Vec::new();
    for (src, exists, result) in [
        ("MP+onces", "1:r1=0", "Sometimes"),
        ("MP+wmb+rmb", "1:r1=1", "Always"),
    ] {
        let text = std::fs::read_to_string(format!("litmus/{src}.litmus")).unwrap();
        let (head, _) = text.split_once("exists").unwrap();
        let head = head
            .replace(&format!("C {src}"), &format!("C {src}+filter"))
            .replace("Result: Never", "Result: Sometimes")
            .replace("Result: Sometimes", &format!("Result: {result}"));
        let f = d.join(format!("{src}.litmus"));
        std::fs::write(
            &f,
            format!("{head}locations [x; 1:r0]\nfilter (1:r0=1)\nexists ({exists})\n"),
        )
        .unwrap();
        files.push(f);
    }
    let o = cli(&[
        OsStr::new("litmus"),
        files[0].as_os_str(),
        files[1].as_os_str(),
    ]);
    let out = stdout(&o);
    assert!(
        line_of(&out, "MP+onces+filter").contains("observed Sometimes agrees"),
        "{out}"
    );
    let l = line_of(&out, "MP+wmb+rmb+filter");
    assert!(l.contains("observed Always    agrees"), "{out}");
    // Only the executions that read the flag were judged, and every one satisfied exists.
    let (judged, all) = counts(l);
    assert!(judged < all && judged > 0, "{l}");
    assert_eq!(o.status.code(), Some(0));
}

/// `(satisfied-and-counted, executions)` of a result line `[N exec, S/C satisfy exists`.
fn counts(l: &str) -> (u64, u64) {
    let (_, rest) = l.split_once('[').unwrap();
    let mut w = rest.split([' ', '/']);
    let all = w.next().unwrap().parse().unwrap();
    w.next();
    let sat: u64 = w.next().unwrap().parse().unwrap();
    let counted: u64 = w.next().unwrap().parse().unwrap();
    assert_eq!(sat, counted, "{l}");
    (counted, all)
}

/// A header that states the wrong result is a new disagreement: exit 1.
#[test]
fn a_new_disagreement_fails() {
    let d = temp_dir("litmus-wrong");
    std::fs::create_dir_all(&d).unwrap();
    let text = std::fs::read_to_string("litmus/MP+wmb+rmb.litmus").unwrap();
    let f = d.join("wrong.litmus");
    std::fs::write(&f, text.replace("Result: Never", "Result: Sometimes")).unwrap();
    let o = cli(&["litmus".as_ref(), f.as_os_str()]);
    let out = stdout(&o);
    assert!(
        line_of(&out, "MP+wmb+rmb").contains("observed Never     DISAGREES ["),
        "{out}"
    );
    assert!(out.contains("agreement: 0 of 1; 0 known disagreement(s), 1 unexplained"));
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn known_disagreements_name_a_fidelity_row_and_a_test() {
    let tests = litmus::load_all(&["litmus".into()]).unwrap_or_else(|e| panic!("{e:?}"));
    for (name, seen, key) in litmus::KNOWN {
        assert!(
            litmus::cause(key).is_some(),
            "{name}: no fidelity row {key}"
        );
        let t = tests.iter().find(|t| t.name == *name);
        let t = t.unwrap_or_else(|| panic!("{name}: no such test in litmus/"));
        assert_ne!(
            t.expected, *seen,
            "{name}: a known disagreement that agrees"
        );
    }
    // Each test has its line in litmus/README.md, with the result its header states.
    let readme = std::fs::read_to_string("litmus/README.md").unwrap();
    for t in &tests {
        let row = format!("| {} | {} |", t.name, t.expected.name());
        assert!(readme.contains(&row), "litmus/README.md has no row {row}");
    }
    // Every shape the conformance suite promises is there, with and without ordering.
    for shape in [
        "MP+", "SB+", "LB+", "R+", "S+", "2+2W+", "WRC+", "ISA2+", "IRIW+", "Z6.0+", "CoRR",
        "CoRW", "CoWR", "CoWW",
    ] {
        let of: Vec<_> = tests.iter().filter(|t| t.name.starts_with(shape)).collect();
        assert!(!of.is_empty(), "no {shape} test");
        if !shape.starts_with("Co") {
            assert!(
                of.iter().any(|t| t.expected == Expect::Never),
                "{shape}: no ordered test"
            );
        }
    }
}

/// The init block takes `x=1;`, `int x;` (zero) and `atomic_t a = 2;`, as the kernel's
/// tests write it.
#[test]
fn init_block_forms() {
    let text = "C T\n(* Result: Never *)\n{\n\tint x;\n\tatomic_t a = 2;\n\ty=1;\n}\n\
                P0(int *x, int *y, atomic_t *a) { WRITE_ONCE(*x, 1); }\nexists (x=1)\n";
    let t = parse::parse(Path::new("t.litmus"), text).unwrap_or_else(|e| panic!("{e}"));
    let init: Vec<(&str, u64)> = t.locs.iter().map(|l| (l.0.as_str(), l.2)).collect();
    assert_eq!(init, [("x", 0), ("y", 1), ("a", 2)]);
}

/// A listed disagreement that is no longer seen (the fix it waited for has landed) fails
/// the run until it is taken off the list, as does a different wrong result.
#[test]
fn a_stale_known_disagreement_fails() {
    let text = std::fs::read_to_string("litmus/LB+onces.litmus").unwrap();
    let t = parse::parse(Path::new("LB+onces.litmus"), &text).unwrap();
    let seen = |satisfied| litmus::Observed {
        executions: 4,
        counted: 4,
        satisfied,
        elapsed: std::time::Duration::ZERO,
        error: None,
    };
    let status = |o: &litmus::Observed| litmus::judge(&t, o);
    assert_eq!(status(&seen(0)), litmus::Status::Known("load-buffering"));
    assert_eq!(
        status(&seen(1)),
        litmus::Status::NowAgrees("load-buffering")
    );
    assert_eq!(status(&seen(4)), litmus::Status::Disagrees);
    let row = |satisfied| litmus::Row {
        test: t.clone(),
        observed: seen(satisfied),
        status: status(&seen(satisfied)),
    };
    assert!(litmus::summary(&[row(0)]).1);
    let (text, passed) = litmus::summary(&[row(1)]);
    assert!(!passed, "{text}");
    assert!(text.ends_with("agreement: 1 of 1; 0 known disagreement(s), 0 unexplained, 1 listed in KNOWN but no longer seen"), "{text}");
    assert!(row(1)
        .line()
        .contains("listed as a known disagreement (load-buffering): update KNOWN"));
}

/// RCU statements: each misuse the parser refuses, with its one line.
#[test]
fn rcu_misuse_is_refused() {
    let d = temp_dir("litmus-rcu-bad");
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("t.litmus");
    let cases = [
        (
            with_stmt("rcu_read_unlock();"),
            "7:2: rcu_read_unlock() outside a read-side critical section of P0",
        ),
        (
            with_stmt("rcu_read_lock();"),
            "8:1: P0 ends inside an RCU read-side critical section; expected rcu_read_unlock()",
        ),
        (
            with_stmt("rcu_read_lock(); synchronize_rcu(); rcu_read_unlock();"),
            "7:19: synchronize_rcu() inside a read-side critical section would wait for itself",
        ),
        (
            with_stmt("spin_lock(s); synchronize_rcu(); spin_unlock(s);"),
            "7:16: synchronize_rcu() may sleep; expected it outside every spinlock",
        ),
        (
            with_stmt("if (r0) { rcu_read_lock(); }"),
            "7:12: `rcu_read_lock` inside an `if` is not supported",
        ),
        (
            with_stmt("r0 = rcu_read_lock();"),
            "7:7: `rcu_read_lock` returns no value",
        ),
        (
            with_stmt("r0 = rcu_dereference(x);"),
            "7:23: expected `*` and a location (`*x`)",
        ),
        (
            with_stmt("rcu_dereference(*x);"),
            "7:2: the value of `rcu_dereference` is not used",
        ),
        (
            with_stmt("srcu_read_lock(x);"),
            "7:2: `srcu_read_lock` is not supported: the kernel API has no SRCU",
        ),
    ];
    for (text, want) in cases {
        refuses(&f, &text, want);
    }
}

/// The RCU guarantee and its broken twin, end to end.
#[test]
fn rcu_tests_agree_end_to_end() {
    let (out, code) = run(&["MP+sync+rcu", "MP+onces+rcu"]);
    assert!(line_of(&out, "MP+sync+rcu").contains("expected Never     observed Never     agrees"));
    assert!(line_of(&out, "MP+onces+rcu").contains("expected Sometimes observed Sometimes agrees"));
    assert_eq!(code, Some(0), "{out}");
}
