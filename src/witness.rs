//! Is a counterexample a plain interleaving, or does it need weak memory? And if it needs
//! weak memory, which reordering, which architectures allow it, and which barrier forbids it.
//!
//! A trace lists events in the order loom ran them. A read is *stale* when it returned
//! something other than the latest write to the same word in that order: loom's C11 model
//! let it read an older write. A trace with no stale read is a plain (sequentially
//! consistent) interleaving. Only writes to the same word count: two fields of one object
//! are two words.

use iommu_models::kernel::kasan::PAGE_POISON;
use iommu_models::trace::{Event, Obj, Op};

/// What a weak witness with no stale read needs: loom's causality check found an access and
/// a free that nothing orders.
pub const UNORDERED_FREE: &str = "No read in this trace returned an older write: the \
    violation is loom's causality check, an access and a free of one allocation that no lock, \
    release/acquire or barrier chain orders. On any CPU the access can then come after the \
    free: a store can wait in a store buffer (x86-TSO too), and arm64 and POWER reorder loads \
    as well. Release ordering before the reference is dropped (refcount_dec_and_test, \
    smp_store_release) and acquire ordering before the free (as refcount_dec_and_test gives \
    at zero) forbids it.";

/// A read that did not return the latest write to its word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    /// Index in the trace of the write it missed.
    pub missed: usize,
    /// The thread that made it.
    pub writer: usize,
    /// The value that write wrote.
    pub value: u64,
}

/// For each event of `trace`, the write it missed if it is a stale read by a thread
/// (thread 0, once every thread has joined, is the checker's: not judged).
///
/// Allocation zeroes a frame and free poisons it, as the page allocator does: both are
/// writes to every entry of the frame.
pub fn stale_reads(trace: &[Event]) -> Vec<Option<Stale>> {
    use std::collections::BTreeMap;
    // (event index, value, thread) of the latest write to a word, and to a whole frame.
    let mut word: BTreeMap<u64, (usize, u64, usize)> = BTreeMap::new();
    let mut frame: BTreeMap<u32, (usize, u64, usize)> = BTreeMap::new();
    trace
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let written = match &e.op {
                Op::Store(v) => Some(*v),
                Op::Cmpxchg { old, new, found } if found == old => Some(*new),
                Op::Rmw { after, .. } => Some(*after),
                Op::Alloc | Op::Free => {
                    if let Obj::Frame(f) = e.obj {
                        let v = if e.op == Op::Alloc { 0 } else { PAGE_POISON };
                        frame.insert(f, (i, v, e.thread));
                    }
                    None
                }
                Op::Load(v) if e.word != 0 => {
                    let whole = match e.obj {
                        Obj::Entry { frame: f, .. } => frame.get(&f),
                        _ => None,
                    };
                    let latest = match (word.get(&e.word), whole) {
                        (Some(a), Some(b)) => Some(if a.0 > b.0 { *a } else { *b }),
                        (a, b) => a.or(b).copied(),
                    };
                    return match latest {
                        Some((at, w, t)) if w != *v && t != e.thread && e.thread != 0 => {
                            Some(Stale {
                                missed: at,
                                writer: t,
                                value: w,
                            })
                        }
                        _ => None,
                    };
                }
                _ => None,
            };
            if let (Some(v), true) = (written, e.word != 0) {
                word.insert(e.word, (i, v, e.thread));
            }
            None
        })
        .collect()
}

/// True if some read of `trace` is stale: the execution is not a plain interleaving.
pub fn is_weak(trace: &[Event]) -> bool {
    stale_reads(trace).iter().any(Option::is_some)
}

/// What a weak-memory witness needs, in a reviewer's words: one sentence per stale read,
/// each naming the reordering, the architectures that allow it and the barrier that would
/// forbid it. `name` names a thread, `hardware` says whether it is a hardware agent (whose
/// walk follows its address dependencies in order); `what` describes an event.
pub fn explain(
    trace: &[Event],
    name: &dyn Fn(usize) -> String,
    hardware: &dyn Fn(usize) -> bool,
    what: &dyn Fn(&Event) -> String,
) -> Vec<String> {
    let stale = stale_reads(trace);
    let at = |i: usize| {
        let e = &trace[i];
        format!(
            "`{}` ({}:{})",
            what(e),
            e.location.file(),
            e.location.line()
        )
    };
    let mut out = Vec::new();
    for (l, s) in stale.iter().enumerate() {
        let Some(s) = s else { continue };
        let t = trace[l].thread;
        let missed = missed_writes(trace, l);
        let before_l = |i: usize| i < l && trace[i].thread == t;
        // Message passing: an earlier read of this thread returned a write that another
        // thread made after a write this read missed.
        let mp = (0..l).filter(|&i| before_l(i)).find_map(|e| {
            if !matches!(trace[e].op, Op::Load(_)) || trace[e].word == trace[l].word {
                return None;
            }
            let w = writer_of(trace, e)?;
            let m = missed
                .iter()
                .copied()
                .find(|&m| m < w && trace[m].thread == trace[w].thread)?;
            Some((e, w, m))
        });
        if let Some((e, w, m)) = mp.filter(|_| hardware(t)) {
            out.push(format!(
                "{T} ran {new}, then {old}, which missed {U}'s earlier {missed}. The \
                 hardware's second read depends on the address the first returned, so it is \
                 {U}'s two writes that reached the walker out of order (store->store): \
                 arm64 and POWER allow it; x86-TSO does not reorder stores. For a device \
                 observer the barrier is dma_wmb() (or wmb()), not smp_wmb(), between \
                 {missed} and {later}; and an IOMMU whose walks do not snoop the CPU caches \
                 (VT-d ECAP.C=0) also needs the page flushed (clflush, domain_flush_cache) \
                 before the store that publishes it.",
                T = name(t),
                U = name(trace[w].thread),
                new = at(e),
                old = at(l),
                missed = at(m),
                later = at(w),
            ));
            continue;
        }
        if let Some((e, w, m)) = mp {
            out.push(format!(
                "{T} ran {new}, then {old}, which missed {U}'s earlier {missed}: a \
                 load->load reordering in {T}, or a store->store one in {U}. arm64 and \
                 POWER allow it; x86-TSO does not. smp_rmb() (or smp_load_acquire()) \
                 between {T}'s two reads, with smp_wmb() (or smp_store_release()) between \
                 {U}'s {missed} and {later}, forbids it.",
                T = name(t),
                U = name(trace[w].thread),
                new = at(e),
                old = at(l),
                missed = at(m),
                later = at(w),
            ));
            continue;
        }
        // Store buffering: this thread wrote a word that the other thread then read
        // without seeing that write, after its own write that this read missed.
        let sb = (0..l).filter(|&i| before_l(i)).find_map(|w| {
            if !is_write(&trace[w].op) || trace[w].word == trace[l].word {
                return None;
            }
            missed.iter().copied().find_map(|m| {
                let u = trace[m].thread;
                (m + 1..trace.len()).find(|&j| {
                    trace[j].thread == u
                        && trace[j].word == trace[w].word
                        && stale[j].is_some()
                        && missed_writes(trace, j).contains(&w)
                })?;
                Some((w, m))
            })
        });
        if let Some((w, m)) = sb {
            out.push(format!(
                "{T} ran {old}, which missed {U}'s {missed}, and {U} likewise missed {T}'s \
                 {w}: each read passed its own thread's earlier write (store->load \
                 reordering, a store buffer). x86-TSO, arm64 and POWER all allow it. \
                 smp_mb() between each thread's write and its read forbids it.",
                T = name(t),
                U = name(trace[m].thread),
                old = at(l),
                missed = at(m),
                w = at(w),
            ));
            continue;
        }
        out.push(format!(
            "{T} ran {old}, which missed {U}'s {missed}, and no plain interleaving shows \
             the violation. The C11 model allows this read; arm64 and POWER allow such \
             reorderings, and whether x86-TSO does was not determined. Ordering {U}'s \
             write before what {T} saw of {U} (smp_wmb() or smp_store_release()) and \
             {T}'s read after that (smp_rmb() or smp_load_acquire()) forbids it, as does \
             smp_mb() on both sides.",
            T = name(t),
            U = name(s.writer),
            old = at(l),
            missed = at(s.missed),
        ));
    }
    out
}

fn is_write(op: &Op) -> bool {
    match op {
        Op::Store(_) | Op::Rmw { .. } => true,
        Op::Cmpxchg { old, found, .. } => old == found,
        _ => false,
    }
}

/// The value event `j` wrote to the word or frame of read `l`, if it wrote one there.
fn wrote_to(trace: &[Event], j: usize, l: usize) -> Option<u64> {
    let (e, r) = (&trace[j], &trace[l]);
    match (&e.op, e.obj, r.obj) {
        (Op::Alloc, Obj::Frame(f), Obj::Entry { frame, .. }) if f == frame => Some(0),
        (Op::Free, Obj::Frame(f), Obj::Entry { frame, .. }) if f == frame => Some(PAGE_POISON),
        (op, _, _) if e.word == r.word && e.word != 0 => match op {
            Op::Store(v) => Some(*v),
            Op::Rmw { after, .. } => Some(*after),
            Op::Cmpxchg { old, new, found } if old == found => Some(*new),
            _ => None,
        },
        _ => None,
    }
}

/// The other threads' writes that read `l` missed: those to its word after the last write
/// of the value it returned (all of them if no earlier write returned it).
fn missed_writes(trace: &[Event], l: usize) -> Vec<usize> {
    let Op::Load(v) = trace[l].op else {
        return vec![];
    };
    let writes: Vec<usize> = (0..l)
        .filter(|&j| wrote_to(trace, j, l).is_some())
        .collect();
    let from = writes
        .iter()
        .rposition(|&j| wrote_to(trace, j, l) == Some(v))
        .map_or(0, |p| p + 1);
    writes[from..]
        .iter()
        .copied()
        .filter(|&j| trace[j].thread != trace[l].thread)
        .collect()
}

/// The write that read `i` returned: the latest earlier write of that value to its word.
fn writer_of(trace: &[Event], i: usize) -> Option<usize> {
    let Op::Load(v) = trace[i].op else {
        return None;
    };
    (0..i).rev().find(|&j| wrote_to(trace, j, i) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::{explain, is_weak, stale_reads};
    use iommu_models::trace::{Event, Obj, Op};

    fn ev(thread: usize, op: Op, word: u64) -> Event {
        Event {
            thread,
            op,
            obj: Obj::Object {
                class: "binding",
                id: 0,
            },
            location: std::panic::Location::caller(),
            by_checker: false,
            word,
            role: Default::default(),
        }
    }

    /// `explain` for CPU threads A and B, events described by their operation.
    fn explain_ab(t: &[Event]) -> Vec<String> {
        explain(t, &|t| ["setup", "A", "B"][t].into(), &|_| false, &|e| {
            format!("{:?}", e.op)
        })
    }

    #[test]
    fn only_a_write_to_the_same_word_makes_a_read_stale() {
        // Two fields (words 1 and 2) of one object: B writes field 1, A reads field 2's 0.
        let t = [ev(2, Op::Store(5), 1), ev(1, Op::Load(0), 2)];
        assert!(!is_weak(&t));
        // The same field: A's read of 0 missed B's write.
        let t = [ev(2, Op::Store(5), 1), ev(1, Op::Load(0), 1)];
        assert_eq!(stale_reads(&t)[1].as_ref().map(|s| s.writer), Some(2));
    }

    #[test]
    fn store_buffering_is_named_with_its_architectures_and_barrier() {
        // A: x=1; r=y (0). B: y=1; r=x (0). Words: x=1, y=2.
        let t = [
            ev(1, Op::Store(1), 1),
            ev(2, Op::Store(1), 2),
            ev(1, Op::Load(0), 2),
            ev(2, Op::Load(0), 1),
        ];
        let why = explain_ab(&t);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("store->load"), "{}", why[0]);
        assert!(why[0].contains("x86-TSO, arm64 and POWER all allow it"));
        assert!(why[0].contains("smp_mb()"));
    }

    #[test]
    fn message_passing_is_named_with_its_architectures_and_barriers() {
        // A: data=1; flag=1. B: r=flag (1); r=data (0). Words: data=1, flag=2.
        let t = [
            ev(1, Op::Store(1), 1),
            ev(1, Op::Store(1), 2),
            ev(2, Op::Load(1), 2),
            ev(2, Op::Load(0), 1),
        ];
        let why = explain_ab(&t);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].contains("load->load"), "{}", why[0]);
        assert!(why[0].contains("x86-TSO does not"));
        assert!(why[0].contains("smp_rmb()") && why[0].contains("smp_wmb()"));
    }
}
