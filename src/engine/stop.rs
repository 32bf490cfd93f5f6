//! Ending runs early: Ctrl-C, and `check`'s overall time limit (`--total-time`).
//!
//! Every execution asks [`check`] before it starts. A run told to stop ends in
//! `inconclusive`, saying how far it explored (loom: the preemption bounds it finished), and
//! its report is written like any other, so a long run cut short still says what it knows.
//! A second Ctrl-C ends the process at once (exit status 130).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The start of a panic that stops a run; `classify` turns it into `inconclusive`.
pub(crate) const STOPPED: &str = "iommu-mc: stopped: ";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The overall deadline, in milliseconds since the Unix epoch (0: none). An atomic, so that
/// the check every execution makes costs one load.
static DEADLINE_MS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_sigint(_: libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // The second Ctrl-C: the user does not want to wait for the reports.
        unsafe { libc::_exit(130) };
    }
}

/// Catch Ctrl-C (SIGINT): the running explorations stop at their next execution.
pub fn catch_ctrl_c() {
    // SAFETY: the handler only stores to an atomic, or calls `_exit`, both
    // async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Stop every run once `limit` has passed from now.
pub fn set_total_time(limit: Duration) {
    DEADLINE_MS.store(now_ms() + limit.as_millis() as u64, Ordering::Relaxed);
}

/// Why runs must stop now, if they must.
pub(crate) fn reason() -> Option<&'static str> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        return Some("interrupted (Ctrl-C)");
    }
    let d = DEADLINE_MS.load(Ordering::Relaxed);
    (d != 0 && now_ms() >= d).then_some("the overall time limit (--total-time) was reached")
}

/// Called before each execution: stop the run if it must stop.
pub(crate) fn check() {
    if let Some(why) = reason() {
        panic!("{STOPPED}{why}");
    }
}

/// True once Ctrl-C was pressed (for the exit status).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}
