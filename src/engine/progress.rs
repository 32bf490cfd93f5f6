//! Progress of long runs, on stderr, when stderr is a terminal: once a second, one line
//! with the elapsed time and, for each run in flight, its executions, their rate and (loom)
//! the preemption bound being explored. Output that is not a terminal gets nothing, so logs
//! and reports stay plain and deterministic.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::{count, Program};

/// A run in flight.
struct Live {
    id: String,
    engine: &'static str,
    /// loom: the preemption bound of this pass (`Some(None)`: unbounded); others: `None`.
    bound: Option<Option<usize>>,
    started: Instant,
    program: Weak<Program>,
}

static RUNS: Mutex<Vec<Live>> = Mutex::new(Vec::new());
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Show `p`'s progress while it runs (nothing unless the reporter is active).
pub(crate) fn watch(p: &Arc<Program>, engine: &'static str, bound: Option<Option<usize>>) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    let mut runs = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    runs.retain(|r| r.program.strong_count() > 0);
    runs.push(Live {
        id: p.scenario.id(),
        engine,
        bound,
        started: Instant::now(),
        program: Arc::downgrade(p),
    });
}

/// Start the reporter if stderr is a terminal. Returns whether it started.
pub fn start() -> bool {
    if !std::io::stderr().is_terminal() || ACTIVE.swap(true, Ordering::SeqCst) {
        return false;
    }
    let began = Instant::now();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let entries: Vec<(String, u64, f64)> = {
            let mut runs = RUNS.lock().unwrap_or_else(|e| e.into_inner());
            runs.retain(|r| r.program.strong_count() > 0);
            runs.iter()
                .filter_map(|r| {
                    let p = r.program.upgrade()?;
                    let n = p.executions.load(Ordering::Relaxed);
                    Some((describe(r), n, r.started.elapsed().as_secs_f64()))
                })
                .collect()
        };
        // Nothing in flight: nothing to say (and nothing written after the last output).
        if entries.is_empty() {
            continue;
        }
        let line = line(began.elapsed(), &entries);
        super::stderr::through(|| {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{line}");
            let _ = err.flush();
        });
    });
    true
}

/// Clear the progress line before a line of ordinary output.
pub fn clear_line() {
    if ACTIVE.load(Ordering::Relaxed) {
        super::stderr::through(|| {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        });
    }
}

fn describe(r: &Live) -> String {
    match r.bound {
        Some(Some(b)) => format!("{} [{}, bound {b}]", r.id, r.engine),
        Some(None) => format!("{} [{}, unbounded]", r.id, r.engine),
        None => format!("{} [{}]", r.id, r.engine),
    }
}

/// The progress line: elapsed time, then each run's name, executions and rate, cut to 150
/// characters.
fn line(elapsed: Duration, entries: &[(String, u64, f64)]) -> String {
    let mut s = format!("{}s", elapsed.as_secs());
    for (what, n, secs) in entries {
        let rate = if *secs > 0.0 { *n as f64 / secs } else { 0.0 };
        s += &format!(
            " | {what}: {} executions, {}/s",
            count(*n),
            count(rate as u64)
        );
    }
    if s.chars().count() > 150 {
        s = s.chars().take(149).collect::<String>() + "…";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_each_run_with_its_executions_and_rate() {
        let l = line(
            Duration::from_secs(12),
            &[("vtd/x [loom, bound 2]".into(), 24_000, 2.0)],
        );
        assert_eq!(
            l,
            "12s | vtd/x [loom, bound 2]: 24,000 executions, 12,000/s"
        );
        let long: Vec<_> = (0..20).map(|i| (format!("run{i}"), 1, 1.0)).collect();
        assert_eq!(line(Duration::ZERO, &long).chars().count(), 150);
    }
}
