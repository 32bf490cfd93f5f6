//! The layout of the short (email) report, pinned by golden files under tests/golden/, and its
//! length.
//!
//! After an intended change of the layout, regenerate the golden files with
//! `IOMMU_MC_BLESS=1 cargo test --release --test report_layout` and review the diff.

mod common;

use std::path::PathBuf;

use iommu_mc::engine::{self, EngineKind, Settings, Verdict};
use iommu_mc::{check, report};

/// (scenario file, what it pins): a plain loom witness, a weak-memory witness, a holds, and
/// a three-thread race with the hardware as one racer.
const GOLDEN: [(&str, &str); 4] = [
    ("scenarios/reserved-iova/two-gets-v6.toml", "plain witness"),
    (
        "scenarios/vtd-first-level/populate-walk-no-wmb.toml",
        "weak-memory witness",
    ),
    (
        "scenarios/vtd-first-level/reclaim-race-cmpxchg.toml",
        "holds",
    ),
    (
        "scenarios/vtd-context-flush/flip-pri-attach-no-pasid-cache.toml",
        "hardware racer, cache fills",
    ),
];

#[test]
fn short_reports_match_their_golden_files() {
    let bless = std::env::var_os("IOMMU_MC_BLESS").is_some();
    let mut differ = Vec::new();
    for (file, what) in GOLDEN {
        let sc = common::load(file);
        let out = engine::run(&sc, EngineKind::Loom, &Settings::default());
        let text = report::text::render(&report::build(&sc, &out));
        let golden = PathBuf::from("tests/golden").join(format!("{}.loom.txt", sc.name));
        if bless {
            std::fs::write(&golden, &text).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (IOMMU_MC_BLESS=1 writes it)", golden.display()));
        if text != want {
            differ.push(format!(
                "{} ({what}) differs from {}:\n{text}",
                sc.id(),
                golden.display()
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{}\n(an intended change: IOMMU_MC_BLESS=1 regenerates tests/golden/)",
        differ.join("\n")
    );
}

/// The two reports the reviewer of issue 10 read, within the ~40 lines asked for.
const SHORT: [&str; 2] = [
    "scenarios/reserved-iova/two-gets-v6.toml",
    "scenarios/vtd-first-level/reclaim-race-rfc.toml",
];

/// Bound on a two-thread violation's short report up to its notes (the scenario's note, lock
/// hold, reorderings, fidelity: printed whole, since a cut caveat misleads), under every
/// engine; the two in `SHORT` are held to `SHORT_BOUND`. The issue asks for about 40:
/// two-gets-v6 is 49 since it shows its key steps (the winner's insert, the delete of newb
/// with its fields still zero) and says which hardware the scenario stands for.
const BOUND: usize = 52;
const SHORT_BOUND: usize = 50;

#[test]
fn two_thread_violations_are_short() {
    let all = check::load_all(&[PathBuf::from("scenarios")]).unwrap();
    let rows = check::run_all(&all, None, &Settings::default(), 2, |_| {});
    let mut long = Vec::new();
    for row in &rows {
        if row.scenario.threads.len() != 2 || !matches!(row.outcome.verdict, Verdict::Violated(_)) {
            continue;
        }
        let text = report::text::render(&report::build(&row.scenario, &row.outcome));
        let lines: Vec<&str> = text.lines().collect();
        let core = lines
            .iter()
            .position(|l| {
                ["  note:", "  lock hold:", "  reorderings:", "  fidelity:"]
                    .iter()
                    .any(|h| l.starts_with(h))
            })
            .unwrap_or(lines.len());
        let path = row.scenario.path.to_string_lossy();
        let short = SHORT.iter().any(|s| path.ends_with(s)) && row.engine == EngineKind::Loom;
        if core > BOUND || (short && core > SHORT_BOUND) {
            long.push(format!(
                "{} under {}: {} lines ({core} before the notes)",
                row.scenario.id(),
                row.engine.name(),
                lines.len()
            ));
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn full_flag_prints_the_whole_trace() {
    let file = "scenarios/reserved-iova/two-gets-v6.toml";
    let short = common::stdout(&common::cli(&["explore", file, "--engine", "loom"]));
    let full = common::stdout(&common::cli(&[
        "explore", file, "--engine", "loom", "--full",
    ]));
    let sc = common::load(file);
    let out = engine::run(&sc, EngineKind::Loom, &Settings::default());
    let r = report::build(&sc, &out);
    assert_eq!(short, report::text::render(&r));
    assert_eq!(full, report::text::render_full(&r));
    // The final check's sixteen reads: one in the short form, all in the full one.
    assert_eq!(short.matches("read domain pte").count(), 1, "{short}");
    assert!(full.matches("read domain pte").count() >= 16, "{full}");
    assert!(r.shown.len() < r.lines.len());
}

/// The short form of `file`'s loom report: (the report, its shown lines' texts).
fn shown_lines(file: &str) -> (report::Report, Vec<String>) {
    let sc = common::load(file);
    let out = engine::run(&sc, EngineKind::Loom, &Settings::default());
    let r = report::build(&sc, &out);
    let shown = r.shown.iter().map(|&i| r.lines[i].text.clone()).collect();
    (r, shown)
}

#[test]
fn of_the_hardware_only_the_fill_the_stale_entry_came_from_is_shown() {
    // The DMA fills the context cache, the PASID cache and the IOTLB; the flush empties the
    // context cache and the IOTLB and, in this mutant, not the PASID cache. The check's
    // mark is on the stale PASID-cache entry (it was on a bookkeeping read after it), and
    // of the hardware only that entry's fill tells the story; every fill and invalidation
    // used to be shown, as each conflicts with another.
    let (r, shown) = shown_lines("scenarios/vtd-context-flush/flip-pri-attach-no-pasid-cache.toml");
    let has = |t: &str| shown.iter().any(|l| l.starts_with(t));
    let full = |t: &str| r.lines.iter().any(|l| l.text.starts_with(t));
    assert!(has("PASID-cache fill: device 0x10 PASID 1"), "{shown:#?}");
    assert!(has("flip_pri: flip PRE"), "{shown:#?}");
    let mark = &r.lines[r.shown_mark.unwrap()].text;
    assert!(mark.starts_with("read PASID-cache 1 = "), "{mark}");
    for hidden in [
        "IOTLB fill",
        "context-cache fill",
        "IOMMU processes IOTLB inv",
        "IOMMU processes context-cache inv",
    ] {
        assert!(full(hidden), "the run has no {hidden:?}");
        assert!(!has(hidden), "{hidden:?} is shown: {shown:#?}");
    }
}

#[test]
fn a_key_step_is_shown_though_it_touches_nothing_another_thread_does() {
    // v6's loser deletes newb with its fields still kzalloc's zeros: the leak turns there,
    // and no access says so.
    let (r, shown) = shown_lines("scenarios/reserved-iova/two-gets-v6.toml");
    let key = "get: newb->iova, ->size still 0: delete_reserved_binding";
    assert!(shown.iter().any(|l| l.starts_with(key)), "{shown:#?}");
    let at = r
        .lines
        .iter()
        .position(|l| l.text.starts_with(key))
        .unwrap();
    assert!(r.lines[at + 1..]
        .iter()
        .take_while(|l| !l.step)
        .all(|l| !l.text.contains("binding")));
}

#[test]
fn the_replay_command_breaks_only_between_words() {
    // A path longer than the line used to be cut inside a word: not pasteable.
    let file = "scenarios/vtd-context-flush/flip-pri-attach-no-pasid-cache.toml";
    let (r, _) = shown_lines(file);
    let text = report::text::render(&r);
    let at = text.find("  replay: ").unwrap();
    let mut cmd = String::new();
    for line in text[at..].lines() {
        let part = line.trim_start().trim_start_matches("replay: ");
        match part.strip_suffix(" \\") {
            Some(p) => cmd += &format!("{p} "),
            None => {
                cmd += part;
                break;
            }
        }
    }
    assert_eq!(cmd, r.replay);
    assert!(text.contains(file), "{text}");
}

#[test]
fn an_invalidation_that_passed_over_the_stale_entry_is_shown_with_the_key_step() {
    // v2 in legacy mode: the helper reads DID 0 from the entry its caller cleared, and the
    // context-cache invalidation, matching the DID, leaves the device's entry. That
    // invalidation writes nothing the check reads; it read the stale slot and left it.
    let (_, shown) = shown_lines("scenarios/vtd-context-flush/clear-context-v2.toml");
    let has = |t: &str| shown.iter().any(|l| l.starts_with(t));
    assert!(has("context-cache fill: device 0x10"), "{shown:#?}");
    assert!(has("clear_context: the DID read is 0"), "{shown:#?}");
    assert!(
        has("IOMMU processes context-cache inv (device 0x10, did 0)"),
        "{shown:#?}"
    );
    assert!(!has("IOMMU processes IOTLB inv"), "{shown:#?}");
}

#[test]
fn the_invalidation_that_ran_before_the_fill_is_shown() {
    // devtlb-first: the device-TLB invalidation runs first, a prefetch refills the device
    // TLB through caches not yet flushed, and the entry stays. The invalidation wrote the
    // slot before the fill the check found.
    let (r, shown) = shown_lines("scenarios/vtd-context-flush/flip-pri-order-devtlb-first.toml");
    let at = |t: &str| shown.iter().position(|l| l.starts_with(t));
    let inv = at("IOMMU processes device-TLB inv").expect("the early invalidation");
    let fill = at("device-TLB fill").expect("the fill");
    assert!(inv < fill, "{shown:#?}");
    assert!(at("IOMMU processes IOTLB inv").is_none(), "{shown:#?}");
    assert!(r.lines[r.shown_mark.unwrap()]
        .text
        .starts_with("read device-TLB 0 = "));
}

#[test]
fn a_dmas_violation_marks_the_cache_hit_its_answer_came_from() {
    // no-context-cache: the DMA after the flush translates through the device's cached
    // context entry, which no invalidation removed. The mark used to sit on the flush's
    // bookkeeping read, then on the device-TLB fill after the hit.
    let (r, shown) =
        shown_lines("scenarios/vtd-context-flush/flip-pri-order-no-context-cache.toml");
    let mark = &r.lines[r.shown_mark.unwrap()].text;
    assert!(mark.starts_with("read context-cache 0 = "), "{mark}");
    assert!(
        shown.iter().any(|l| l.starts_with("flip_pri: flip PRE")),
        "{shown:#?}"
    );
}

#[test]
fn a_lock_order_report_shows_both_chains_and_their_releases() {
    // Only B's last acquisition used to be shown: a lock violation's steps touch no memory
    // another thread touches.
    let (_, shown) = shown_lines("scenarios/reserved-iova/lock-order-mask-msi-under-lock.toml");
    for want in [
        "msi_domain_activate",
        "activate: look the binding up",
        "spin_unlock_irqrestore(reserved_lock)",
        "free_domain: unlink every binding",
        "free_domain: mask an MSI",
    ] {
        assert!(
            shown.iter().any(|l| l.starts_with(want)),
            "{want}: {shown:#?}"
        );
    }
}

#[test]
fn a_thread_with_nothing_to_show_gets_a_sentence_not_a_column() {
    // A's atomic get sleeps before B runs: B has no line, and an empty column of its own
    // used to halve A's.
    let sc = common::load("scenarios/reserved-iova/get-atomic-v6.toml");
    let out = engine::run(&sc, EngineKind::Loom, &Settings::default());
    let r = report::build(&sc, &out);
    assert!(r.lines.iter().all(|l| l.thread != "B"), "B ran");
    let text = report::text::render(&r);
    let header = text
        .lines()
        .find(|l| l.trim_start().starts_with("A: get"))
        .unwrap();
    assert!(!header.contains("B:"), "{text}");
    assert!(
        text.contains("B (get 0x9001000 0x4; put 0x9001000 0x4) did not run before the"),
        "{text}"
    );
    // A thread that ran, none of whose lines is shown: the teardown's DMA, with its lines
    // taken out of those shown (it now shows its stale context-cache hit).
    let sc = common::load("scenarios/vtd-context-flush/teardown-table-no-context-cache.toml");
    let out = engine::run(&sc, EngineKind::Loom, &Settings::default());
    let mut r = report::build(&sc, &out);
    assert!(
        r.shown.iter().any(|&i| r.lines[i].thread == "H"),
        "H is shown"
    );
    let mark = r.shown_mark.map(|m| r.lines[m].clone());
    r.shown.retain(|&i| r.lines[i].thread != "H");
    assert!(mark.is_some_and(|m| m.thread != "H"), "the mark is not H's");
    let text = report::text::render(&r);
    assert!(
        text.contains("H (hardware: dma 1) ran, but none of its steps bears on the"),
        "{text}"
    );
    assert!(!text.contains("H (hardware): dma"), "{text}");
}

#[test]
fn an_invalidation_that_passed_over_an_entry_the_setup_filled_is_shown() {
    // The stale IOTLB entry was filled in the setup, before the threads: no thread wrote it,
    // yet the domain-selective invalidation that read it and left it is the story, and with
    // it the fidelity row on what that invalidation removes.
    let (r, shown) = shown_lines("scenarios/vtd-context-flush/flip-pri-first-stage-v2.toml");
    assert!(
        shown
            .iter()
            .any(|l| l.starts_with("IOMMU processes IOTLB inv (domain-selective, did 1)")),
        "{shown:#?}"
    );
    assert!(
        r.fidelity_shown
            .iter()
            .any(|f| f.contains("removes second-stage")),
        "{:#?}",
        r.fidelity_shown
    );
}
