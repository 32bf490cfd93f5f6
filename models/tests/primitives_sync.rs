//! Fire/silent pairs for `atomic_t`, `refcount_t`, `seqcount_t` and `seqlock_t`, each a
//! small program explored exhaustively under loom (two threads and main: 3 of loom's 5).
//!
//! In each "fires" program the primitive is misused, or a weaker form is used where the
//! ordering matters, and loom must find the violation of the named kind. In its "holds"
//! twin loom must say `holds (complete)`: no violation over more than one execution, and
//! the racing code reached.

#![allow(missing_docs)]

mod common;

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use common::explore::{explore, stepped, Outcome};
use common::run_std;
use iommu_models::check::{ensure, Kind};
use iommu_models::engine::spawn;
use iommu_models::kernel::{
    __read_seqcount_begin, __read_seqcount_retry, atomic_add_return, atomic_add_return_relaxed,
    atomic_add_unless, atomic_cmpxchg, atomic_dec_and_test, atomic_dec_return_relaxed,
    atomic_fetch_add_unless, atomic_fetch_sub_release, atomic_inc, atomic_inc_not_zero,
    atomic_read, atomic_read_acquire, atomic_set, atomic_set_release, atomic_xchg, kfree, kzalloc,
    read_once, read_seqbegin, read_seqcount_begin, read_seqcount_retry, read_seqretry,
    refcount_dec, refcount_dec_and_test, refcount_inc, refcount_inc_not_zero, refcount_read,
    write_once, write_seqcount_begin, write_seqcount_end, write_seqlock, write_sequnlock, Atomic64,
    AtomicT, Gfp, RefcountT, SeqcountT, SeqlockT, Slab,
};
use iommu_models::trace::{step, Obj};

/// Spawn threads 1 and 2 running `a` and `b`, and join them.
fn both(a: impl FnOnce() + Send + 'static, b: impl FnOnce() + Send + 'static) {
    let (a, b) = (spawn(1, a), spawn(2, b));
    a.join();
    b.join();
}

/// [`explore`], counting an execution as reaching the code under test if it recorded the
/// step `label`.
fn explore_to(label: &'static str, body: impl Fn() + Send + Sync + 'static) -> Outcome {
    explore(body, move |rec| stepped(rec, label))
}

// ------------------------------------------------------------------ seqcount: torn reads

/// How the reader of [`torn_read`] reads the two words.
#[derive(Clone, Copy)]
enum Reader {
    /// No seqcount: two plain reads.
    Plain,
    /// `read_seqcount_begin` ... `read_seqcount_retry`, retried until untorn.
    Seqcount,
    /// The retry without its `smp_rmb()` (`__read_seqcount_retry`).
    NoRetryRmb,
    /// The begin without its `smp_rmb()` (`__read_seqcount_begin`).
    NoBeginRmb,
    /// A `seqlock_t`: `write_seqlock` in the writer, `read_seqbegin` ... `read_seqretry`.
    Seqlock,
}

/// A writer updates two words, x and y, from 0 to 1 inside a write section; a reader reads
/// both and checks that it saw one state: both 0 or both 1 (else `invariant`).
fn torn_read(reader: Reader) -> Outcome {
    explore_to("reader: read x and y", move || {
        let s = Arc::new(SeqcountT::new(Obj::Named("seq")));
        let sl = Arc::new(SeqlockT::new("sl"));
        let x = Arc::new(Atomic64::new(Obj::Named("x"), 0));
        let y = Arc::new(Atomic64::new(Obj::Named("y"), 0));
        let (ws, wsl, wx, wy) = (s.clone(), sl.clone(), x.clone(), y.clone());
        let writer = move || {
            let g = matches!(reader, Reader::Seqlock).then(|| write_seqlock(&wsl));
            if g.is_none() {
                write_seqcount_begin(&ws);
            }
            write_once(&wx, 1);
            write_once(&wy, 1);
            match g {
                Some(g) => write_sequnlock(g),
                None => write_seqcount_end(&ws),
            }
        };
        let read = move || {
            let (a, b) = loop {
                let start = match reader {
                    Reader::NoBeginRmb => __read_seqcount_begin(&s),
                    Reader::Seqlock => read_seqbegin(&sl),
                    _ => read_seqcount_begin(&s),
                };
                let a = read_once(&x);
                let b = read_once(&y);
                step("reader: read x and y");
                let retry = match reader {
                    Reader::Plain => false,
                    Reader::NoRetryRmb => __read_seqcount_retry(&s, start),
                    Reader::Seqlock => read_seqretry(&sl, start),
                    _ => read_seqcount_retry(&s, start),
                };
                if !retry {
                    break (a, b);
                }
            };
            ensure(a == b, Kind::Invariant, || {
                format!("torn read: x = {a}, y = {b}")
            });
        };
        both(writer, read);
    })
}

#[test]
fn torn_read_without_seqcount_fires() {
    torn_read(Reader::Plain).fires(Kind::Invariant);
}

#[test]
fn seqcount_retry_loop_holds() {
    torn_read(Reader::Seqcount).holds();
}

#[test]
fn seqlock_reader_holds() {
    torn_read(Reader::Seqlock).holds();
}

#[test]
fn seqcount_retry_without_rmb_is_torn() {
    // The data loads may pass the count's second load: the reader sees x = 1, y = 0 and
    // still the count it started with.
    torn_read(Reader::NoRetryRmb).fires(Kind::Invariant);
}

#[test]
fn seqcount_begin_without_rmb_is_torn() {
    // The data loads may pass the count's first load: the reader sees the count the writer
    // left (2), then x = 0 from before the section, then y = 1.
    torn_read(Reader::NoBeginRmb).fires(Kind::Invariant);
}

// ------------------------------------------------------- seqcount: serialized writers

/// Two writers each open a write section and store x: on a bare `seqcount_t` (nothing
/// serializes them) or through a `seqlock_t` (its spinlock does).
fn two_writers(seqlock: bool) -> Outcome {
    explore_to("writer: in section", move || {
        let s = Arc::new(SeqcountT::new(Obj::Named("seq")));
        let sl = Arc::new(SeqlockT::new("sl"));
        let x = Arc::new(Atomic64::new(Obj::Named("x"), 0));
        let writer = move |v: u64| {
            let (s, sl, x) = (s.clone(), sl.clone(), x.clone());
            move || {
                if seqlock {
                    let g = write_seqlock(&sl);
                    step("writer: in section");
                    write_once(&x, v);
                    write_sequnlock(g);
                } else {
                    write_seqcount_begin(&s);
                    step("writer: in section");
                    write_once(&x, v);
                    write_seqcount_end(&s);
                }
            }
        };
        both(writer(1), writer(2));
    })
}

#[test]
fn overlapping_seqcount_writers_fire() {
    two_writers(false).fires(Kind::LockNotHeld);
}

#[test]
fn seqlock_writers_hold() {
    two_writers(true).holds();
}

// ------------------------------------------------- refcount_t: a get or a drop against a put

/// What thread 2 of [`against_a_put`] does with the count.
#[derive(Clone, Copy)]
enum Second {
    /// Takes a reference with `refcount_inc` (which must not meet zero), then drops it.
    Inc,
    /// Takes a reference with `refcount_inc_not_zero` (which refuses zero), and drops it if
    /// it got one.
    IncNotZero,
    /// Drops a reference with `refcount_dec_and_test`.
    DecAndTest,
    /// Drops a reference with `refcount_dec`, which must not reach zero (nothing would free
    /// the object).
    Dec,
}

/// A count of `initial`; thread 1 drops a reference with `refcount_dec_and_test`, thread 2
/// does `second`. No reference is left at the end. Reached: thread 2 recorded the step
/// `reach` ("second: count touched" before it acts; `refcount_inc_not_zero` also records
/// "second: refused zero" or "second: took a reference" after it).
fn against_a_put(initial: i32, second: Second, reach: &'static str) -> Outcome {
    explore_to(reach, move || {
        let r = Arc::new(RefcountT::new(Obj::Named("refs"), initial));
        let (r2, r3) = (r.clone(), r.clone());
        both(
            move || {
                refcount_dec_and_test(&r);
            },
            move || {
                step("second: count touched");
                match second {
                    Second::Inc => {
                        refcount_inc(&r2);
                        refcount_dec_and_test(&r2);
                    }
                    Second::IncNotZero => {
                        if refcount_inc_not_zero(&r2) {
                            step("second: took a reference");
                            refcount_dec_and_test(&r2);
                        } else {
                            step("second: refused zero");
                        }
                    }
                    Second::DecAndTest => {
                        refcount_dec_and_test(&r2);
                    }
                    Second::Dec => refcount_dec(&r2),
                }
            },
        );
        let left = refcount_read(&r3);
        ensure(left == 0, Kind::Invariant, || {
            format!("{left} reference(s) left after both threads")
        });
    })
}

#[test]
fn refcount_inc_from_zero_fires() {
    against_a_put(1, Second::Inc, "second: count touched").fires(Kind::Refcount);
}

#[test]
fn refcount_inc_not_zero_holds() {
    // Both ways: it refused the zero the put left, and it took a reference before the put.
    // Its `_acquire` form (v6.15) is not modelled: this relaxed one orders nothing.
    against_a_put(1, Second::IncNotZero, "second: refused zero").holds();
    against_a_put(1, Second::IncNotZero, "second: took a reference").holds();
}

// ------------------------------------- refcount_dec_and_test: release, acquire at zero

/// An allocated object with a field and a count of two, one reference per thread.
struct Counted {
    field: Atomic64,
    refs: RefcountT,
    count: AtomicT,
}

/// How [`last_put_frees`] drops a reference: true if this was the last.
#[derive(Clone, Copy)]
enum Put {
    /// `refcount_dec_and_test`.
    Refcount,
    /// `atomic_dec_return_relaxed(..) == 0`: no ordering.
    Relaxed,
    /// `atomic_fetch_sub_release(1, ..) == 1`: release, but no acquire at zero.
    ReleaseOnly,
}

/// Each thread writes the object's field, then drops its reference; the one that drops the
/// last frees the object. The other thread's write must be ordered before the free, or it
/// can land after it (`use-after-free`, by loom's causality check).
fn last_put_frees(put: Put) -> Outcome {
    explore_to("put: field written", move || {
        let cache = Arc::new(Slab::new("obj"));
        let p = kzalloc(&cache, Gfp::Kernel, |obj, shadow| Counted {
            field: Atomic64::in_allocation(obj, 0, shadow.clone()),
            refs: RefcountT::in_allocation(obj, 2, shadow.clone()),
            count: AtomicT::in_allocation(obj, 2, shadow),
        })
        .unwrap();
        let thread = move |v: u64| {
            let p = p.clone();
            move || {
                let o = p.get();
                write_once(&o.field, v);
                step("put: field written");
                let last = match put {
                    Put::Refcount => refcount_dec_and_test(&o.refs),
                    Put::Relaxed => atomic_dec_return_relaxed(&o.count) == 0,
                    Put::ReleaseOnly => atomic_fetch_sub_release(1, &o.count) == 1,
                };
                if last {
                    kfree(&p);
                }
            }
        };
        both(thread(1), thread(2));
        cache.check_no_leak("both puts");
    })
}

#[test]
fn relaxed_put_fires() {
    last_put_frees(Put::Relaxed).fires(Kind::UseAfterFree);
}

#[test]
fn release_only_put_fires() {
    last_put_frees(Put::ReleaseOnly).fires(Kind::UseAfterFree);
}

#[test]
fn refcount_dec_and_test_put_holds() {
    last_put_frees(Put::Refcount).holds();
}

// ---------------------------------------------------------------- atomic_t orderings

/// Message passing through an `atomic_t` flag: the writer stores data then sets the flag,
/// the reader that sees the flag must see the data. With `atomic_set_release` and
/// `atomic_read_acquire`, or with plain `atomic_set`/`atomic_read`.
fn message_passing(ordered: bool) -> Outcome {
    explore_to("reader: flag seen", move || {
        let data = Arc::new(Atomic64::new(Obj::Named("data"), 0));
        let flag = Arc::new(AtomicT::new(Obj::Named("flag"), 0));
        let (d, f) = (data.clone(), flag.clone());
        both(
            move || {
                write_once(&d, 1);
                if ordered {
                    atomic_set_release(&f, 1);
                } else {
                    atomic_set(&f, 1);
                }
            },
            move || {
                let seen = if ordered {
                    atomic_read_acquire(&flag)
                } else {
                    atomic_read(&flag)
                };
                if seen == 1 {
                    step("reader: flag seen");
                    let v = read_once(&data);
                    ensure(v == 1, Kind::Invariant, || "flag seen, data not".into());
                }
            },
        );
    })
}

#[test]
fn atomic_set_read_message_passing_fires() {
    message_passing(false).fires(Kind::Invariant);
}

#[test]
fn atomic_set_release_read_acquire_holds() {
    message_passing(true).holds();
}

/// Store buffering through two `atomic_t`: each thread adds to its own counter, then reads
/// the other's. A fully ordered `atomic_add_return` forbids both reading 0; a `_relaxed`
/// one does not. The final check runs after both joined.
fn store_buffering(full: bool) -> Outcome {
    explore_to("sb: read", move || {
        let a = Arc::new(AtomicT::new(Obj::Named("a"), 0));
        let b = Arc::new(AtomicT::new(Obj::Named("b"), 0));
        // Each thread's read, written once and read after both joined (no thread branches
        // on it).
        let seen = Arc::new([AtomicI32::new(-1), AtomicI32::new(-1)]);
        let thread = |i: usize, mine: Arc<AtomicT>, other: Arc<AtomicT>| {
            let seen = seen.clone();
            move || {
                if full {
                    atomic_add_return(1, &mine);
                } else {
                    atomic_add_return_relaxed(1, &mine);
                }
                step("sb: read");
                seen[i].store(atomic_read(&other), Ordering::Relaxed);
            }
        };
        both(thread(0, a.clone(), b.clone()), thread(1, b, a));
        let (r0, r1) = (
            seen[0].load(Ordering::Relaxed),
            seen[1].load(Ordering::Relaxed),
        );
        ensure(r0 != 0 || r1 != 0, Kind::Invariant, || {
            "store buffering: both threads read 0".into()
        });
    })
}

#[test]
fn relaxed_add_return_store_buffering_fires() {
    store_buffering(false).fires(Kind::Invariant);
}

#[test]
fn add_return_store_buffering_holds() {
    store_buffering(true).holds();
}

// ------------------------------------------ refcount_t: underflow, decrement to zero

#[test]
fn refcount_underflow_fires() {
    against_a_put(1, Second::DecAndTest, "second: count touched").fires(Kind::Refcount);
}

#[test]
fn refcount_dec_to_zero_fires() {
    // When thread 1 drops first, thread 2's refcount_dec takes the count to zero.
    against_a_put(2, Second::Dec, "second: count touched").fires(Kind::Refcount);
}

#[test]
fn refcount_balanced_drops_hold() {
    against_a_put(2, Second::DecAndTest, "second: count touched").holds();
}

// ------------------------------------------------------------- sequential checks (std)

#[test]
fn refcount_overflow_fires() {
    run_std(|| refcount_inc(&RefcountT::new(Obj::Named("refs"), i32::MAX)))
        .fires(Kind::Refcount, &["refcount_inc: refcount_t: saturated"]);
}

#[test]
fn refcount_below_max_is_silent() {
    let n = run_std(|| {
        let r = RefcountT::new(Obj::Named("refs"), i32::MAX - 1);
        refcount_inc(&r);
        refcount_read(&r)
    })
    .silent();
    assert_eq!(n, i32::MAX);
}

#[test]
fn seqcount_end_without_begin_fires() {
    run_std(|| write_seqcount_end(&SeqcountT::new(Obj::Named("seq")))).fires(
        Kind::LockNotHeld,
        &["write_seqcount_end: sequence count 0 is even"],
    );
}

#[test]
fn seqcount_begin_then_end_is_silent() {
    let start = run_std(|| {
        let s = SeqcountT::new(Obj::Named("seq"));
        write_seqcount_begin(&s);
        write_seqcount_end(&s);
        let start = read_seqcount_begin(&s);
        assert!(!read_seqcount_retry(&s, start));
        start
    })
    .silent();
    assert_eq!(start, 2);
}

/// The values every `atomic_t` operation returns, and the kernel's wrap past `INT_MAX`.
#[test]
fn atomic_t_values() {
    run_std(|| {
        let v = AtomicT::new(Obj::Named("v"), 5);
        assert_eq!(atomic_add_return(2, &v), 7);
        assert_eq!(atomic_fetch_sub_release(3, &v), 7);
        assert_eq!(atomic_dec_return_relaxed(&v), 3);
        assert_eq!(
            atomic_cmpxchg(&v, 4, 9),
            3,
            "a failed cmpxchg returns what it found"
        );
        assert_eq!(atomic_cmpxchg(&v, 3, 1), 3);
        assert!(atomic_dec_and_test(&v));
        assert!(!atomic_inc_not_zero(&v), "zero stays zero");
        assert_eq!(atomic_xchg(&v, -4), 0);
        assert!(atomic_add_unless(&v, 1, 0));
        assert_eq!(atomic_fetch_add_unless(&v, 1, -3), -3);
        atomic_set(&v, i32::MAX);
        atomic_inc(&v);
        assert_eq!(atomic_read(&v), i32::MIN, "the int wraps");
    })
    .silent();
}
