//! `seqcount_t` and `seqlock_t` (include/linux/seqlock.h).
//!
//! A writer makes the sequence count odd, writes, and makes it even again, with `smp_wmb()`
//! after the first increment and before the second. A reader waits for an even count, reads
//! with `smp_rmb()` after the count and before checking it again, and retries if the count
//! moved: it may read a torn state, but never acts on one.
//!
//! Writers of a plain `seqcount_t` must be serialized by the caller (a lock, or one writer).
//! Each increment is an engine read-modify-write, so a writer that begins while another is
//! inside its section always reads the odd count, and that is a `lock-not-held` violation,
//! as lockdep's assertion on a `seqcount_LOCKNAME_t`'s lock would be. (The kernel's
//! increment is a plain `++`, which overlapping writers could also lose; the model reports
//! the overlap itself.) `seqlock_t` is a `seqcount_t` whose writers hold its spinlock.

use std::sync::atomic::Ordering;

use crate::check::{raise, Kind};
use crate::engine::{yield_now, RawAtomic};
use crate::kernel::atomic::Atomic64;
use crate::kernel::barrier::{smp_rmb, smp_wmb};
use crate::kernel::rwonce::read_once;
use crate::kernel::spinlock::{spin_lock, spin_unlock, SpinGuard, SpinLock};
use crate::trace::Obj;

/// `seqcount_t`: a sequence count, odd while a write is in progress.
pub struct SeqcountT {
    sequence: Atomic64,
}

impl SeqcountT {
    /// `seqcount_init(s)` (`SEQCNT_ZERO`): a count named `obj`, at zero.
    pub fn new(obj: Obj) -> Self {
        SeqcountT {
            sequence: Atomic64::new(obj, 0),
        }
    }
}

/// Add one to the count, recorded as `name`; `odd` says whether the count found must be odd
/// (a write section ends) or even (one begins). Another parity means another writer is
/// inside its section.
#[track_caller]
fn increment(s: &SeqcountT, name: &'static str, odd: bool) {
    let inc = |r: &RawAtomic| r.fetch_add(1, Ordering::Relaxed);
    let found = s.sequence.rmw(name, inc, |v| v.wrapping_add(1));
    if (found & 1 == 1) != odd {
        raise(
            Kind::LockNotHeld,
            format!(
                "{name}: sequence count {found} is {}: the writers of a seqcount_t are not serialized (model check)",
                if odd { "even (no write section is open)" } else { "odd (another writer is inside its write section)" }
            ),
        );
    }
}

/// `raw_write_seqcount_begin(s)`: the count becomes odd, then `smp_wmb()`.
#[track_caller]
pub fn raw_write_seqcount_begin(s: &SeqcountT) {
    increment(s, "write_seqcount_begin", false);
    smp_wmb();
}

/// `raw_write_seqcount_end(s)`: `smp_wmb()`, then the count becomes even.
#[track_caller]
pub fn raw_write_seqcount_end(s: &SeqcountT) {
    smp_wmb();
    increment(s, "write_seqcount_end", true);
}

/// `write_seqcount_begin(s)`: the model has no lockdep map of its own, so this is
/// [`raw_write_seqcount_begin`] (overlapping writers are caught there).
#[track_caller]
pub fn write_seqcount_begin(s: &SeqcountT) {
    raw_write_seqcount_begin(s)
}

/// `write_seqcount_end(s)`: [`raw_write_seqcount_end`].
#[track_caller]
pub fn write_seqcount_end(s: &SeqcountT) {
    raw_write_seqcount_end(s)
}

/// `__read_seqcount_begin(s)`: wait until the count is even (yielding, as the kernel's
/// `cpu_relax()` loop spins); returns it. No barrier: the caller orders its reads.
#[track_caller]
pub fn __read_seqcount_begin(s: &SeqcountT) -> u64 {
    loop {
        let seq = read_once(&s.sequence);
        if seq & 1 == 0 {
            return seq;
        }
        yield_now();
    }
}

/// `raw_read_seqcount_begin(s)`: [`__read_seqcount_begin`], then `smp_rmb()`.
#[track_caller]
pub fn raw_read_seqcount_begin(s: &SeqcountT) -> u64 {
    let seq = __read_seqcount_begin(s);
    smp_rmb();
    seq
}

/// `read_seqcount_begin(s)`: [`raw_read_seqcount_begin`].
#[track_caller]
pub fn read_seqcount_begin(s: &SeqcountT) -> u64 {
    raw_read_seqcount_begin(s)
}

/// `__read_seqcount_retry(s, start)`: true if the count moved since `start`. No barrier:
/// the caller orders its reads before it.
#[track_caller]
pub fn __read_seqcount_retry(s: &SeqcountT, start: u64) -> bool {
    read_once(&s.sequence) != start
}

/// `read_seqcount_retry(s, start)`: `smp_rmb()`, then [`__read_seqcount_retry`]: true if
/// what was read since `start` may be torn, and must be read again.
#[track_caller]
pub fn read_seqcount_retry(s: &SeqcountT, start: u64) -> bool {
    smp_rmb();
    __read_seqcount_retry(s, start)
}

/// `seqlock_t`: a [`SeqcountT`] whose writers are serialized by a spinlock.
pub struct SeqlockT {
    seqcount: SeqcountT,
    lock: SpinLock,
}

impl SeqlockT {
    /// `seqlock_init(sl)`: the count and the lock, both named `name`.
    pub fn new(name: &'static str) -> Self {
        SeqlockT {
            seqcount: SeqcountT::new(Obj::Named(name)),
            lock: SpinLock::new(name),
        }
    }
}

/// A write section of a [`SeqlockT`], ended by [`write_sequnlock`].
pub struct SeqlockGuard<'a> {
    sl: &'a SeqlockT,
    lock: SpinGuard<'a>,
}

/// `write_seqlock(sl)`: take the lock, then begin the write section.
#[track_caller]
pub fn write_seqlock(sl: &SeqlockT) -> SeqlockGuard<'_> {
    let lock = spin_lock(&sl.lock);
    write_seqcount_begin(&sl.seqcount);
    SeqlockGuard { sl, lock }
}

/// `write_sequnlock(sl)`: end the write section, then drop the lock.
#[track_caller]
pub fn write_sequnlock(g: SeqlockGuard<'_>) {
    write_seqcount_end(&g.sl.seqcount);
    spin_unlock(g.lock);
}

/// `read_seqbegin(sl)`: [`read_seqcount_begin`] of its count.
#[track_caller]
pub fn read_seqbegin(sl: &SeqlockT) -> u64 {
    read_seqcount_begin(&sl.seqcount)
}

/// `read_seqretry(sl, start)`: [`read_seqcount_retry`] of its count.
#[track_caller]
pub fn read_seqretry(sl: &SeqlockT, start: u64) -> bool {
    read_seqcount_retry(&sl.seqcount, start)
}
