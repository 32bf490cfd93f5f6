//! `iommu-mc bench`: per scenario and engine, executions, wall time, executions per second,
//! and for violated scenarios the executions or iterations until the first counterexample;
//! then the cost of the kernel API and trace, as a ratio against a bare-loom twin measured in
//! the same run. Timings go here, never into reports. Medians of `repeat` runs. Under each
//! row of a model that measures locks, how long each was held (steps and invalidation waits,
//! over the explored executions). Last, the whole check pass at `--jobs 1` against the
//! number of cores.

pub mod bare_loom;

use std::time::{Duration, Instant};

use crate::engine::{self, Settings, Verdict};
use crate::scenario::Scenario;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// Run the benchmark over `scenarios`, printing a table: the (scenario, engine) rows on up to
/// `jobs` threads, printed in order. With more than one job the rows share the cores, so
/// their times are longer than alone and only comparable with rows of the same `--jobs`;
/// the header says so. The API-cost comparison runs after them, alone.
pub fn run(scenarios: &[Scenario], repeat: usize, jobs: usize) {
    let settings = Settings::default();
    println!("median of {repeat} runs per row; wall times are this machine's, compare ratios");
    if jobs > 1 {
        println!(
            "--jobs {jobs}: rows run {jobs} at a time and share the cores; compare their times \
             only with rows measured at the same --jobs"
        );
    }
    println!(
        "{:<44} {:<14} {:<10} {:>8} {:>10} {:>10} {:>9}",
        "scenario [variant]", "engine", "verdict", "execs", "median ms", "execs/s", "to first"
    );
    let pairs: Vec<(&Scenario, engine::EngineKind)> = scenarios
        .iter()
        .flat_map(|sc| sc.expect.engines.iter().map(move |&e| (sc, e)))
        .collect();
    let measure = |&(sc, e): &(&Scenario, engine::EngineKind)| {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..repeat {
            let out = engine::run(sc, e, &settings);
            times.push(out.elapsed);
            last = Some(out);
        }
        (last.expect("repeat >= 1"), median(times))
    };
    let mut rows = pairs.iter();
    crate::pool::map_ordered(&pairs, jobs, measure, |(out, t)| {
        let (sc, e) = rows.next().expect("one row per pair");
        let first = match out.verdict {
            Verdict::Violated(_) => out.executions.to_string(),
            _ => "-".into(),
        };
        println!(
            "{:<44} {:<14} {:<10} {:>8} {:>10} {:>10.0} {:>9}",
            format!("{} [{}]", sc.id(), sc.variant),
            e.name(),
            out.verdict.name(),
            out.executions,
            ms(*t),
            out.executions as f64 / t.as_secs_f64().max(1e-9),
            first
        );
        for h in &out.lock_holds {
            println!("    {}", h.describe());
        }
    });
    overhead(repeat);
    check_pass(scenarios, repeat);
}

/// The whole check pass, as `make check` runs it: every scenario under its engines, then the
/// litmus tests of litmus/ (their reports and output left out), at `--jobs 1` and at the
/// default (the cores), alternated so that both see the same load; the medians and their
/// ratio, the speed-up `make check` gets from the cores (issue 10 asks 1.7 on two).
fn check_pass(scenarios: &[Scenario], repeat: usize) {
    let n = crate::pool::default_jobs();
    println!();
    println!(
        "whole check pass (the scenarios, then litmus/), --jobs 1 against --jobs {n}, alternated, median of {repeat}:"
    );
    // bench runs from the repository; elsewhere the pass is the scenarios only.
    let tests = crate::litmus::load_all(&["litmus".into()]).unwrap_or_else(|e| {
        println!("  litmus/ left out: {} error(s) loading it", e.len());
        Vec::new()
    });
    let settings = Settings::default();
    let pass = |jobs: usize| {
        let t = Instant::now();
        crate::check::run_all(scenarios, None, &settings, jobs, |_| {});
        let max_time = Duration::from_secs(crate::litmus::MAX_TIME_S);
        crate::litmus::run_all(&tests, max_time, crate::litmus::MAX_BRANCHES, jobs, |_| {});
        t.elapsed()
    };
    let (mut one, mut all) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        one.push(pass(1));
        all.push(pass(n));
    }
    let (o, a) = (median(one), median(all));
    println!(
        "  --jobs 1 {} ms | --jobs {n} {} ms | ratio {:.2}",
        ms(o),
        ms(a),
        o.as_secs_f64() / a.as_secs_f64().max(1e-9)
    );
}

/// Explorations per timing sample of the overhead comparison.
const INNER: usize = 200;

/// The kernel API + trace against the bare-loom twin, on populate-race-rfc (a holding
/// scenario whose map paths the twin repeats op for op: both explore the whole tree). Its
/// reclaim-race twin no longer matches the model's unmap, which now flushes the IOTLB
/// through the drain before it may free a table.
fn overhead(repeat: usize) {
    println!();
    println!("kernel API + trace cost against bare loom (populate-race-rfc, exhaustive loom, no preemption bound):");
    let path = "scenarios/vtd-first-level/populate-race-rfc.toml";
    let sc = match crate::scenario::load(std::path::Path::new(path)) {
        Ok(sc) => sc,
        // bench runs from the repository; anywhere else the comparison cannot be made.
        Err(e) => {
            println!("  {e}");
            return;
        }
    };
    let s = Settings {
        deepen_to: 0,
        preemption_bound: None,
        ..Settings::default()
    };
    let mut ours = Vec::new();
    let mut bare = Vec::new();
    let mut execs = (0, 0);
    for _ in 0..repeat {
        // Unbounded only, so both explore the whole tree; INNER explorations per sample, as
        // one exploration of this scenario takes about a millisecond.
        let t = Instant::now();
        for _ in 0..INNER {
            execs.0 = engine::loom::run_unbounded(&sc, &s).executions;
        }
        ours.push(t.elapsed());
        let t = Instant::now();
        for _ in 0..INNER {
            execs.1 = bare_loom::populate_race();
        }
        bare.push(t.elapsed());
    }
    let (o, b) = (median(ours), median(bare));
    let per = |d: Duration, n: u64| d.as_secs_f64() / (n.max(1) * INNER as u64) as f64;
    println!(
        "  rfc x{INNER}: iommu-mc {} execs {} ms | bare loom {} execs {} ms | time per execution ratio {:.2}",
        execs.0,
        ms(o),
        execs.1,
        ms(b),
        per(o, execs.0) / per(b, execs.1)
    );
}
