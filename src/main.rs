//! The `iommu-mc` command line: check, explore, list, replay, report, bench.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use iommu_mc::engine::{self, EngineKind, Settings};
use iommu_mc::scenario::{self, Scenario};
use iommu_mc::{bench, check, judge, litmus, pool, report};
use iommu_models::registry;

/// A deterministic concurrency model checker for Linux IOMMU algorithms.
///
/// Scenario files (scenarios/<model>/<name>.toml) describe threads running a model's
/// operations and the verdict expected; the checker explores their interleavings and writes a
/// race report for each finding.
#[derive(Parser)]
#[command(
    name = "iommu-mc",
    version,
    after_help = "Exit status: 0 every verdict as expected (check, explore), every litmus \
                  disagreement a known one (litmus), done (list, replay, report, bench); 1 a \
                  verdict not the expected one, or an unlisted or vanished litmus disagreement; \
                  2 bad input or usage (a file refused, an unknown option, nothing to run, an \
                  output that cannot be written)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check every scenario under each engine it names, write the reports, exit 0 only when
    /// every verdict is the expected one.
    Check {
        /// Scenario files or folders (default: scenarios/).
        paths: Vec<PathBuf>,
        /// Where to write the reports and their index.
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        /// Run only this engine.
        #[arg(long)]
        engine: Option<EngineArg>,
        /// Also write JUnit XML here: a test case per scenario and engine, a failure for
        /// each verdict not the expected one.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Also write SARIF 2.1.0 here: a result per violation found, at the model step.
        #[arg(long, value_name = "FILE")]
        sarif: Option<PathBuf>,
        /// Also write one self-contained HTML page here: the index of every run and, for
        /// each violation, a sequence diagram, the full trace and the JSON.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Text reports with the full trace (every kernel call under each step) instead of
        /// the short email form.
        #[arg(long)]
        full: bool,
        /// (scenario, engine) pairs run at once [default: the number of cores]; the output
        /// is the same, in the same order, for every value.
        #[arg(long, short = 'j', value_parser = jobs_range())]
        jobs: Option<usize>,
        /// Wall-clock limit of the whole check, in seconds: runs still going then end
        /// inconclusive (with their reports), and runs not started yet end at once.
        #[arg(long, value_name = "SECONDS")]
        total_time: Option<u64>,
        #[command(flatten)]
        limits: Limits,
    },
    /// Explore one scenario with one engine and print its report.
    Explore {
        /// The scenario file.
        file: PathBuf,
        /// The engine.
        #[arg(long, default_value = "loom")]
        engine: EngineArg,
        /// Report format.
        #[arg(long, default_value = "text")]
        format: Format,
        /// Text reports with the full trace (every kernel call under each step) instead of
        /// the short email form.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        limits: Limits,
    },
    /// List the models, their variants, operations and invariants.
    List,
    /// Replay a shuttle schedule string of a failure and print its report.
    Replay {
        /// The scenario file.
        file: PathBuf,
        /// The schedule string from a report's replay line.
        #[arg(long)]
        schedule: String,
        /// Report format.
        #[arg(long, default_value = "text")]
        format: Format,
    },
    /// Write the reports of some scenarios (every engine each names) without judging them.
    Report {
        /// Scenario files or folders.
        paths: Vec<PathBuf>,
        /// Report format printed to stdout.
        #[arg(long, default_value = "text")]
        format: Format,
        /// Text reports with the full trace (every kernel call under each step) instead of
        /// the short email form.
        #[arg(long)]
        full: bool,
        /// (scenario, engine) pairs run at once [default: the number of cores].
        #[arg(long, short = 'j', value_parser = jobs_range())]
        jobs: Option<usize>,
    },
    /// Measure every scenario: executions, wall time, executions per second, executions to
    /// the first counterexample; and the cost of the kernel API against bare loom.
    Bench {
        /// Scenario files or folders (default: scenarios/).
        paths: Vec<PathBuf>,
        /// Repetitions of each measurement (the median is printed).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// (scenario, engine) rows measured at once (default: the number of cores). Each row
        /// is one thread, so on N cores N rows each still have a core; the header says how
        /// many ran at once, and `--jobs 1` gives each row the machine to itself.
        #[arg(long, short = 'j', value_parser = jobs_range())]
        jobs: Option<usize>,
    },
    /// Run C litmus tests (the kernel's tools/memory-model format) under loom through the
    /// kernel API, and say for each whether loom agrees with the LKMM's `Result:`.
    Litmus {
        /// Litmus files or folders (default: litmus/).
        paths: Vec<PathBuf>,
        /// Wall-clock limit per test, in seconds (the longest, IRIW, take a tenth of a second).
        #[arg(long, default_value_t = litmus::MAX_TIME_S)]
        max_time: u64,
        /// loom: branches per execution before giving up.
        #[arg(long, default_value_t = litmus::MAX_BRANCHES)]
        max_branches: usize,
        /// Tests run at once [default: the number of cores]; printed in file order.
        #[arg(long, short = 'j', value_parser = jobs_range())]
        jobs: Option<usize>,
    },
}

/// `--jobs`: 1 to 1024.
fn jobs_range() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024)
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    /// One self-contained HTML page of every report.
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    Loom,
    ShuttlePct,
    ShuttleRandom,
    ShuttleDfs,
    Os,
}

impl From<EngineArg> for EngineKind {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Loom => EngineKind::Loom,
            EngineArg::ShuttlePct => EngineKind::ShuttlePct,
            EngineArg::ShuttleRandom => EngineKind::ShuttleRandom,
            EngineArg::ShuttleDfs => EngineKind::ShuttleDfs,
            EngineArg::Os => EngineKind::Os,
        }
    }
}

#[derive(Args)]
struct Limits {
    /// loom: explore with at most this many preemptions (deepening 0, 1, ... up to it; 0 to 64).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=64))]
    preemption_bound: Option<usize>,
    /// loom: branches per execution before giving up [default: 10000].
    #[arg(long)]
    max_branches: Option<usize>,
    /// shuttle and os: iterations [default: 1000].
    #[arg(long)]
    iterations: Option<usize>,
    /// shuttle: scheduler seed (decimal or 0x-hex).
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Wall-clock limit per run, in seconds [default: 120].
    #[arg(long)]
    max_time: Option<u64>,
}

fn parse_seed(s: &str) -> Result<u64, String> {
    scenario::parse_number(s).ok_or_else(|| format!("{s:?} is not a number"))
}

impl Limits {
    fn settings(&self) -> Settings {
        let mut s = Settings {
            preemption_bound: self.preemption_bound,
            ..Settings::default()
        };
        if let Some(b) = self.max_branches {
            s.max_branches = b;
        }
        if let Some(i) = self.iterations {
            s.iterations = i;
        }
        if let Some(x) = self.seed {
            s.seed = x;
        }
        if let Some(t) = self.max_time {
            s.max_time = Some(Duration::from_secs(t));
        }
        s
    }
}

/// Load scenarios or print every error (one line each) and exit 2.
fn load(paths: &[PathBuf]) -> Result<Vec<Scenario>, ExitCode> {
    load_with(paths, "scenarios", "scenario (*.toml)", check::load_all)
}

/// Load the files of `paths` (default: the folder `default`) with `load_all`, or print every
/// error (one line each), or that none was found (`what`), and exit 2.
fn load_with<T>(
    paths: &[PathBuf],
    default: &str,
    what: &str,
    load_all: impl Fn(&[PathBuf]) -> Result<Vec<T>, Vec<scenario::ScenarioError>>,
) -> Result<Vec<T>, ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from(default)]
    } else {
        paths.to_vec()
    };
    let loaded = load_all(&paths).map_err(|errs| {
        for e in errs {
            eprintln!("{e}");
        }
        ExitCode::from(2)
    })?;
    if loaded.is_empty() {
        let names: Vec<String> = paths
            .iter()
            .map(|p| scenario::one_line(&p.display().to_string()))
            .collect();
        eprintln!("{}: no {what} found", names.join(", "));
        return Err(ExitCode::from(2));
    }
    Ok(loaded)
}

/// Load the one scenario file `file`, or print why not and exit 2.
fn load_one(file: &std::path::Path) -> Result<Scenario, ExitCode> {
    if file.is_dir() {
        eprintln!(
            "{}: is a folder; expected one scenario file",
            scenario::one_line(&file.display().to_string())
        );
        return Err(ExitCode::from(2));
    }
    Ok(load(&[file.to_path_buf()])?.remove(0))
}

fn print_report(sc: &Scenario, out: &engine::Outcome, format: Format, full: bool) {
    let r = report::build(sc, out);
    match format {
        Format::Text if full => print!("{}", report::text::render_full(&r)),
        Format::Text => print!("{}", report::text::render(&r)),
        Format::Json => print!("{}", report::json::render(&r)),
        Format::Html => print!("{}", report::html::render(&[r])),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(c) | Err(c) => c,
    }
}

fn run(cli: Cli) -> Result<ExitCode, ExitCode> {
    // Ctrl-C ends the explorations at their next execution, as inconclusive, and the
    // reports are still written; a second Ctrl-C ends the process at once.
    engine::stop::catch_ctrl_c();
    // Progress on stderr, once a second, only when stderr is a terminal.
    engine::progress::start();
    match cli.cmd {
        Cmd::Check {
            paths,
            reports,
            engine,
            junit,
            sarif,
            html,
            full,
            jobs,
            total_time,
            limits,
        } => {
            let scenarios = load(&paths)?;
            if let Some(t) = total_time {
                engine::stop::set_total_time(Duration::from_secs(t));
            }
            let rows = check::run_all(
                &scenarios,
                engine.map(Into::into),
                &limits.settings(),
                jobs.unwrap_or_else(pool::default_jobs),
                |r| {
                    engine::progress::clear_line();
                    println!("{}", r.line())
                },
            );
            engine::progress::clear_line();
            if rows.is_empty() {
                // Only `--engine` can leave nothing to run; a check that ran nothing must
                // not pass.
                let e = engine.map_or("", |e| EngineKind::from(e).name());
                eprintln!("--engine {e}: none of the scenarios names this engine");
                return Err(ExitCode::from(2));
            }
            let cannot = |what: &str, at: &std::path::Path, e: std::io::Error| {
                eprintln!(
                    "{}: cannot write the {what}: {e}",
                    scenario::one_line(&at.display().to_string())
                );
                ExitCode::from(2)
            };
            let written = check::write_reports(&reports, &rows, full)
                .map_err(|e| cannot("reports", &reports, e))?;
            if let Some(f) = &junit {
                check::write_file(f, &report::junit::render(&written))
                    .map_err(|e| cannot("JUnit XML", f, e))?;
            }
            if let Some(f) = &sarif {
                check::write_file(f, &report::sarif::render(&written))
                    .map_err(|e| cannot("SARIF", f, e))?;
            }
            if let Some(f) = &html {
                check::write_file(f, &report::html::render(&written))
                    .map_err(|e| cannot("HTML report", f, e))?;
            }
            let failed = rows.iter().filter(|r| !r.judgement.passed()).count();
            println!(
                "{} passed, {} failed; reports in {}/ (index: {}/README.md)",
                rows.len() - failed,
                failed,
                reports.display(),
                reports.display()
            );
            Ok(if engine::stop::interrupted() {
                ExitCode::from(130)
            } else if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Explore {
            file,
            engine,
            format,
            full,
            limits,
        } => {
            let sc = load_one(&file)?;
            let out = engine::run(&sc, engine.into(), &limits.settings());
            engine::progress::clear_line();
            print_report(&sc, &out, format, full);
            Ok(if engine::stop::interrupted() {
                ExitCode::from(130)
            } else if judge::judge(&sc, &out).passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::List => {
            for m in registry::models() {
                let a = &m.about;
                println!("{}: {}", a.name, a.about);
                println!("  seed:    {}", a.seed);
                println!("  mirrors: {}", a.mirrors);
                if !m.params.is_empty() {
                    println!("  params (scenario files: params = {{ name = value }}):");
                    for p in m.params {
                        println!(
                            "    {:<12} {} (default {}, {} to {})",
                            p.name,
                            p.about(),
                            p.default,
                            p.min,
                            p.max
                        );
                    }
                }
                println!("  variants:");
                for v in m.variants {
                    println!("    {:<12} {}", v.name, v.about());
                }
                println!("  operations:");
                for o in m.ops {
                    let mut u = o.name.to_string();
                    for (i, a) in o.args.iter().enumerate() {
                        if i >= o.args.len() - o.optional {
                            u += &format!(" [{a}]");
                        } else {
                            u += &format!(" {a}");
                        }
                    }
                    for f in o.flags {
                        u += &format!(" [{f}]");
                    }
                    let hw = if o.hardware { " (hardware)" } else { "" };
                    println!("    {u:<28} {}{hw}", o.about());
                }
                println!("  invariants:");
                for (k, what) in a.invariants {
                    println!("    {k:<20} {what}");
                }
            }
            println!("engines: {}", EngineKind::NAMES.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Replay {
            file,
            schedule,
            format,
        } => {
            if !engine::shuttle::valid_schedule(&schedule) {
                eprintln!("--schedule {schedule:?}: not a shuttle schedule string; expected the one a report's replay line gives");
                return Err(ExitCode::from(2));
            }
            let sc = load_one(&file)?;
            let out = engine::shuttle::replay(&sc, &schedule, &Settings::default());
            print_report(&sc, &out, format, false);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Report {
            paths,
            format,
            full,
            jobs,
        } => {
            let scenarios = load(&paths)?;
            let jobs = jobs.unwrap_or_else(pool::default_jobs);
            let rows = check::run_all(&scenarios, None, &Settings::default(), jobs, |_| {});
            if let Format::Html = format {
                // One page for all the runs, not one per run.
                let all: Vec<report::Report> = rows
                    .iter()
                    .map(|row| report::build(&row.scenario, &row.outcome))
                    .collect();
                print!("{}", report::html::render(&all));
                return Ok(ExitCode::SUCCESS);
            }
            for row in rows {
                print_report(&row.scenario, &row.outcome, format, full);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Litmus {
            paths,
            max_time,
            max_branches,
            jobs,
        } => {
            let tests = load_with(&paths, "litmus", "litmus test (*.litmus)", litmus::load_all)?;
            let rows = litmus::run_all(
                &tests,
                Duration::from_secs(max_time),
                max_branches,
                jobs.unwrap_or_else(pool::default_jobs),
                |r| println!("{}", r.line()),
            );
            let (line, passed) = litmus::summary(&rows);
            println!("{line}");
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Bench {
            paths,
            repeat,
            jobs,
        } => {
            let scenarios = load(&paths)?;
            bench::run(
                &scenarios,
                repeat.max(1),
                jobs.unwrap_or_else(pool::default_jobs),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
