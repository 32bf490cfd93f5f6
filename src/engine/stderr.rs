//! fd 2 while shuttle runs. Shuttle writes every failure it meets to stderr itself (the task
//! that panicked, the schedule); the report carries those instead. So while any shuttle run is
//! under way, fd 2 points at /dev/null. fd 2 belongs to the whole process, so the silence is
//! counted (concurrent runs restore it once, at the end), and whatever the checker itself
//! writes to stderr meanwhile (progress lines, a crash's panic message) goes through
//! [`through`], which points fd 2 back at the real stderr while it writes.

use std::cell::Cell;
use std::sync::{Mutex, MutexGuard};

/// While shuttle runs are under way: how many, and the real stderr and /dev/null, opened
/// close-on-exec (no child inherits them).
struct State {
    runs: usize,
    fds: Option<(i32, i32)>,
}

static SILENCE: Mutex<State> = Mutex::new(State { runs: 0, fds: None });

thread_local! {
    /// This thread holds `SILENCE` (a panic there reaches the hook, which must not wait for
    /// it).
    static HOLDING: Cell<bool> = const { Cell::new(false) };
}

/// `SILENCE`, held by this thread until the guard is dropped.
struct Held(MutexGuard<'static, State>);

fn hold() -> Held {
    let g = SILENCE.lock().unwrap_or_else(|e| e.into_inner());
    HOLDING.set(true);
    Held(g)
}

impl Drop for Held {
    fn drop(&mut self) {
        HOLDING.set(false);
    }
}

/// fd 2 silenced until dropped.
pub(crate) struct Silenced;

impl Silenced {
    pub(crate) fn start() -> Silenced {
        let mut g = hold();
        if g.0.runs == 0 {
            // SAFETY: plain fd syscalls on fds we own; failures leave stderr as it was.
            unsafe {
                let saved = libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3);
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if saved >= 0 && null >= 0 && libc::dup2(null, 2) >= 0 {
                    g.0.fds = Some((saved, null));
                } else {
                    for fd in [saved, null] {
                        if fd >= 0 {
                            libc::close(fd);
                        }
                    }
                }
            }
        }
        g.0.runs += 1;
        Silenced
    }
}

impl Drop for Silenced {
    fn drop(&mut self) {
        let mut g = hold();
        g.0.runs -= 1;
        if g.0.runs == 0 {
            if let Some((saved, null)) = g.0.fds.take() {
                // SAFETY: restores the fd saved by `start`, and closes what `start` opened.
                unsafe {
                    libc::dup2(saved, 2);
                    libc::close(saved);
                    libc::close(null);
                }
            }
        }
    }
}

/// Run `write`, which writes to stderr, with fd 2 on the real stderr even while a shuttle run
/// silences it. Writers that go through here do not interleave with one another. On a thread
/// that already holds the silence's lock (a panic there), `write` runs as fd 2 is.
pub(crate) fn through<R>(write: impl FnOnce() -> R) -> R {
    if HOLDING.get() {
        return write();
    }
    let g = hold();
    let Some((saved, null)) = g.0.fds else {
        return write();
    };
    // SAFETY: both fds are open while the lock is held.
    unsafe { libc::dup2(saved, 2) };
    let r = write();
    // SAFETY: as above.
    unsafe { libc::dup2(null, 2) };
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (device, inode) of an open fd.
    fn file_of(fd: i32) -> (u64, u64) {
        // SAFETY: fstat into a zeroed struct we own.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            assert_eq!(libc::fstat(fd, &mut st), 0);
            (st.st_dev as u64, st.st_ino as u64)
        }
    }

    #[test]
    fn while_silenced_fd2_is_null_except_for_writes_that_go_through() {
        // Nothing else in this test binary silences fd 2.
        let real = file_of(2);
        let null = std::fs::File::open("/dev/null").unwrap();
        let null = file_of(std::os::fd::AsRawFd::as_raw_fd(&null));
        let (first, second) = (Silenced::start(), Silenced::start());
        let silenced = file_of(2);
        let during = through(|| file_of(2));
        let after = file_of(2);
        drop(first);
        let one_left = file_of(2);
        drop(second);
        let restored = file_of(2);
        assert_eq!(silenced, null, "a shuttle run silences fd 2");
        assert_eq!(during, real, "writes that go through reach the real stderr");
        assert_eq!(after, null, "and fd 2 is silent again after them");
        assert_eq!(one_left, null, "while one run is left, it stays silent");
        assert_eq!(restored, real, "the last run restores it");
        assert!(!HOLDING.get());
    }

    #[test]
    fn a_write_on_the_thread_holding_the_lock_does_not_wait_for_it() {
        // A panic while the lock is held reaches the hook, which writes through here.
        let g = hold();
        assert_eq!(through(|| 7), 7);
        drop(g);
        assert!(!HOLDING.get());
    }
}
