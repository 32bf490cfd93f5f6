//! fd 2 while shuttle runs. Shuttle writes every failure it meets to stderr itself (the task
//! that panicked, the schedule); the report carries those instead. So while any shuttle run is
//! under way, fd 2 points at /dev/null. fd 2 belongs to the whole process, so the silence is
//! counted (concurrent runs restore it once, at the end), and whatever the checker itself
//! writes to stderr meanwhile (progress lines, a crash's panic message) goes through
//! [`through`], which points fd 2 back at the real stderr while it writes.

use std::sync::Mutex;

/// Shuttle runs under way, and the real stderr saved while they are (-1 when none are).
static SILENCE: Mutex<(usize, i32)> = Mutex::new((0, -1));

/// fd 2 silenced until dropped.
pub(crate) struct Silenced;

impl Silenced {
    pub(crate) fn start() -> Silenced {
        let mut g = SILENCE.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 == 0 {
            // SAFETY: plain fd syscalls on fds we own; failures leave stderr as it was.
            unsafe {
                let saved = libc::dup(2);
                if saved >= 0 && point_fd2_at_null() {
                    g.1 = saved;
                } else if saved >= 0 {
                    libc::close(saved);
                }
            }
        }
        g.0 += 1;
        Silenced
    }
}

impl Drop for Silenced {
    fn drop(&mut self) {
        let mut g = SILENCE.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        if g.0 == 0 && g.1 >= 0 {
            // SAFETY: restores the fd saved by `start`.
            unsafe {
                libc::dup2(g.1, 2);
                libc::close(g.1);
            }
            g.1 = -1;
        }
    }
}

/// Run `write`, which writes to stderr, with fd 2 on the real stderr even while a shuttle run
/// silences it. Writers that go through here do not interleave with one another.
pub(crate) fn through<R>(write: impl FnOnce() -> R) -> R {
    let g = SILENCE.lock().unwrap_or_else(|e| e.into_inner());
    if g.1 < 0 {
        return write();
    }
    // SAFETY: `g.1` is the saved stderr, open while the lock is held.
    unsafe { libc::dup2(g.1, 2) };
    let r = write();
    // SAFETY: as in `start`; if /dev/null cannot be opened, shuttle's lines reach stderr.
    unsafe { point_fd2_at_null() };
    r
}

/// Point fd 2 at /dev/null; false if it cannot be opened.
///
/// # Safety
/// Changes the process's fd 2.
unsafe fn point_fd2_at_null() -> bool {
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
    if null < 0 {
        return false;
    }
    libc::dup2(null, 2);
    libc::close(null);
    true
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
        let null = std::fs::File::open("/dev/null").unwrap();
        let null = file_of(std::os::fd::AsRawFd::as_raw_fd(&null));
        let silenced = Silenced::start();
        {
            // Holding the lock, no other test's `through` can point fd 2 elsewhere.
            let _g = SILENCE.lock().unwrap_or_else(|e| e.into_inner());
            assert_eq!(file_of(2), null, "a shuttle run silences fd 2");
        }
        let real = file_of(SILENCE.lock().unwrap().1);
        assert_eq!(
            through(|| file_of(2)),
            real,
            "writes that go through reach it"
        );
        drop(silenced);
    }
}
