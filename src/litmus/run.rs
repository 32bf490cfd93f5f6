//! Run a litmus test under loom, exhaustively, through the kernel API the models use
//! (`read_once`, `smp_mb`, `xchg`, `spin_lock`, ...), and count the executions whose final
//! state satisfies `exists`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iommu_models::engine::{self as kengine, Engine};
use iommu_models::kernel::{self as k, AtomicT};
use iommu_models::kernel::{
    clear_bit, cmpxchg, rcu_assign_pointer, rcu_dereference, rcu_read_lock, rcu_read_unlock,
    read_once, set_bit, smp_load_acquire, smp_mb, smp_rmb, smp_store_release, smp_wmb, spin_lock,
    spin_unlock, synchronize_rcu, test_and_set_bit, write_once, xchg, Atomic64, SpinGuard,
    SpinLock,
};
use iommu_models::trace::{Obj, Recorder};

use super::parse::{
    Expect, Fence, Litmus, LocKind, Prim, Rcu, Returns, Stmt, Suffix, Target, Test, Val,
};
use crate::engine::{panic_message, Exploring};

/// What loom saw over every execution of a test.
#[derive(Clone, Debug)]
pub struct Observed {
    /// Executions loom ran.
    pub executions: u64,
    /// Executions that passed `filter` (all of them without one).
    pub counted: u64,
    /// Counted executions whose final state satisfied `exists`.
    pub satisfied: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Why the exploration stopped early (a deadlock, a limit), if it did.
    pub error: Option<String>,
}

impl Observed {
    /// Never, Sometimes or Always; `None` if the run stopped early or no execution passed
    /// the filter.
    pub fn result(&self) -> Option<Expect> {
        if self.error.is_some() || self.counted == 0 {
            None
        } else if self.satisfied == 0 {
            Some(Expect::Never)
        } else if self.satisfied == self.counted {
            Some(Expect::Always)
        } else {
            Some(Expect::Sometimes)
        }
    }
}

/// A shared location of one execution.
enum Shared {
    Word(Atomic64),
    Atomic(AtomicT),
    Lock(SpinLock),
}

impl Shared {
    fn word(&self) -> &Atomic64 {
        match self {
            Shared::Word(w) => w,
            // The parser gives word primitives only word locations.
            _ => unreachable!("not an int used as one"),
        }
    }
    fn lock(&self) -> &SpinLock {
        match self {
            Shared::Lock(l) => l,
            _ => unreachable!("not a spinlock used as one"),
        }
    }
    /// The final value, as a litmus test's `exists` reads it (an `int` as its bits).
    fn value(&self) -> u64 {
        match self {
            Shared::Word(a) => read_once(a),
            Shared::Atomic(a) => u64::from(k::atomic_read(a) as u32),
            Shared::Lock(_) => 0,
        }
    }
}

type AddFn = fn(i32, &AtomicT) -> i32;
type XchgFn = fn(&AtomicT, i32) -> i32;
type CmpxchgFn = fn(&AtomicT, i32, i32) -> i32;

/// The form of an `atomic_t` operation that `o` names, of its fully ordered, `_relaxed`,
/// `_acquire` and `_release` forms.
fn pick<F: Copy>(o: Suffix, forms: [F; 4]) -> F {
    forms[match o {
        Suffix::None => 0,
        Suffix::Relaxed => 1,
        Suffix::Acquire => 2,
        Suffix::Release => 3,
    }]
}

/// An `atomic_t` operation with operands `arg` (the litmus test's values, taken as `int`),
/// through the kernel API; returns what it returns (0 for nothing, 1 for true).
fn atomic_op(prim: Prim, a: &AtomicT, arg: impl Fn(usize) -> u64) -> u64 {
    let int = |i| arg(i) as i32;
    let i = |f: AddFn| f(int(0), a);
    let got = match prim {
        Prim::AtomicRead(false) => k::atomic_read(a),
        Prim::AtomicRead(true) => k::atomic_read_acquire(a),
        Prim::AtomicSet(release) => {
            if release {
                k::atomic_set_release(a, int(0))
            } else {
                k::atomic_set(a, int(0))
            }
            0
        }
        Prim::AtomicAdd {
            sub,
            returns: Returns::Nothing,
            ..
        } => {
            if sub {
                k::atomic_sub(int(0), a)
            } else {
                k::atomic_add(int(0), a)
            }
            0
        }
        Prim::AtomicAdd {
            sub: false,
            returns: Returns::New,
            order,
        } => i(pick::<AddFn>(
            order,
            [
                k::atomic_add_return,
                k::atomic_add_return_relaxed,
                k::atomic_add_return_acquire,
                k::atomic_add_return_release,
            ],
        )),
        Prim::AtomicAdd {
            sub: true,
            returns: Returns::New,
            order,
        } => i(pick::<AddFn>(
            order,
            [
                k::atomic_sub_return,
                k::atomic_sub_return_relaxed,
                k::atomic_sub_return_acquire,
                k::atomic_sub_return_release,
            ],
        )),
        Prim::AtomicAdd {
            sub: false,
            returns: Returns::Old,
            order,
        } => i(pick::<AddFn>(
            order,
            [
                k::atomic_fetch_add,
                k::atomic_fetch_add_relaxed,
                k::atomic_fetch_add_acquire,
                k::atomic_fetch_add_release,
            ],
        )),
        Prim::AtomicAdd {
            sub: true,
            returns: Returns::Old,
            order,
        } => i(pick::<AddFn>(
            order,
            [
                k::atomic_fetch_sub,
                k::atomic_fetch_sub_relaxed,
                k::atomic_fetch_sub_acquire,
                k::atomic_fetch_sub_release,
            ],
        )),
        Prim::AtomicXchg(o) => pick::<XchgFn>(
            o,
            [
                k::atomic_xchg,
                k::atomic_xchg_relaxed,
                k::atomic_xchg_acquire,
                k::atomic_xchg_release,
            ],
        )(a, int(0)),
        Prim::AtomicCmpxchg(o) => pick::<CmpxchgFn>(
            o,
            [
                k::atomic_cmpxchg,
                k::atomic_cmpxchg_relaxed,
                k::atomic_cmpxchg_acquire,
                k::atomic_cmpxchg_release,
            ],
        )(a, int(0), int(1)),
        Prim::AtomicDecAndTest => i32::from(k::atomic_dec_and_test(a)),
        Prim::AtomicIncNotZero => i32::from(k::atomic_inc_not_zero(a)),
        // The parser gives atomic_t locations only atomic_t primitives.
        _ => unreachable!("not an atomic_t primitive"),
    };
    u64::from(got as u32)
}

fn value(regs: &[u64], v: Val) -> u64 {
    match v {
        Val::Int(n) => n,
        Val::Reg(r) => regs[r],
    }
}

fn holds(regs: &[u64], t: Test) -> bool {
    (regs[t.reg] == value(regs, t.val)) == t.eq
}

/// Run one process's statements, each through the kernel API.
fn interpret<'w>(
    w: &'w [Shared],
    body: &[Stmt],
    regs: &mut [u64],
    held: &mut Vec<(usize, SpinGuard<'w>)>,
) {
    for st in body {
        match st {
            Stmt::Access {
                reg,
                prim,
                loc,
                args,
            } => {
                let arg = |i: usize| value(regs, args[i]);
                if let Shared::Atomic(a) = &w[*loc] {
                    let got = atomic_op(*prim, a, arg);
                    if let Some(r) = reg {
                        regs[*r] = got;
                    }
                    continue;
                }
                let a = w[*loc].word();
                let got = match prim {
                    Prim::ReadOnce => read_once(a),
                    Prim::LoadAcquire => smp_load_acquire(a),
                    Prim::WriteOnce => {
                        write_once(a, arg(0));
                        0
                    }
                    Prim::StoreRelease => {
                        smp_store_release(a, arg(0));
                        0
                    }
                    Prim::Xchg => xchg(a, arg(0)),
                    Prim::Cmpxchg => cmpxchg(a, arg(0), arg(1)),
                    // The parser checked that the bit number is 0 to 63.
                    Prim::SetBit => {
                        set_bit(arg(0) as u32, a);
                        0
                    }
                    Prim::ClearBit => {
                        clear_bit(arg(0) as u32, a);
                        0
                    }
                    Prim::TestAndSetBit => u64::from(test_and_set_bit(arg(0) as u32, a)),
                    Prim::RcuDereference => rcu_dereference(a),
                    Prim::RcuAssignPointer => {
                        rcu_assign_pointer(a, arg(0));
                        0
                    }
                    // The parser gives int locations only int primitives.
                    _ => unreachable!("an atomic_t primitive on an int"),
                };
                if let Some(r) = reg {
                    regs[*r] = got;
                }
            }
            Stmt::Assign(r, v) => regs[*r] = value(regs, *v),
            Stmt::Fence(Fence::Mb) => smp_mb(),
            Stmt::Fence(Fence::Wmb) => smp_wmb(),
            Stmt::Fence(Fence::Rmb) => smp_rmb(),
            Stmt::Lock(l) => held.push((*l, spin_lock(w[*l].lock()))),
            Stmt::Unlock(l) => {
                // The parser checked that the lock is held here.
                if let Some(i) = held.iter().position(|(h, _)| h == l) {
                    spin_unlock(held.remove(i).1);
                }
            }
            Stmt::Rcu(Rcu::ReadLock) => rcu_read_lock(),
            Stmt::Rcu(Rcu::ReadUnlock) => rcu_read_unlock(),
            Stmt::Rcu(Rcu::Synchronize) => synchronize_rcu(),
            Stmt::If(t, then, els) => {
                let arm = if holds(regs, *t) { then } else { els };
                interpret(w, arm, regs, held);
            }
        }
    }
}

/// Process `i` of `t` over the locations `w`, its registers stored in `regs` when it ends.
fn process(t: &Litmus, i: usize, w: &[Shared], regs: &Mutex<Vec<Vec<u64>>>) {
    let mut mine = vec![0u64; t.procs[i].regs.len()];
    let mut held = Vec::new();
    interpret(w, &t.procs[i].body, &mut mine, &mut held);
    drop(held);
    regs.lock().unwrap_or_else(|e| e.into_inner())[i] = mine;
}

/// Counters shared by every execution of a run.
#[derive(Default)]
struct Counts {
    executions: AtomicU64,
    counted: AtomicU64,
    satisfied: AtomicU64,
}

/// One execution: the locations, one thread per process, the final state judged.
fn execute(t: &Arc<Litmus>, names: &[&'static str], rec: &Arc<Recorder>, c: &Counts) {
    c.executions.fetch_add(1, Ordering::Relaxed);
    rec.reset();
    iommu_models::trace::enter(Engine::Loom, rec.clone());
    let world: Arc<Vec<Shared>> = Arc::new(
        t.locs
            .iter()
            .zip(names)
            .map(|((_, kind, v), &n)| match kind {
                LocKind::Word => Shared::Word(Atomic64::new(Obj::Named(n), *v)),
                LocKind::Atomic => Shared::Atomic(AtomicT::new(Obj::Named(n), *v as i32)),
                LocKind::Lock => Shared::Lock(SpinLock::new(n)),
            })
            .collect(),
    );
    // Each thread's registers, written once when it ends and read after every join:
    // nothing branches on them during the execution.
    let regs: Arc<Mutex<Vec<Vec<u64>>>> = Arc::default();
    regs.lock().unwrap().resize(t.procs.len(), Vec::new());
    // The last process runs on this thread, once the others are spawned: like a spawned
    // thread it starts after every spawn and nothing else, so the executions are the same;
    // but loom no longer interleaves an idle thread's spawns and joins with the processes'
    // accesses, which were most of its work (IRIW+onces: 266,671 executions with five
    // threads, 9,286 with four; the 78 tests of litmus/ reach the same sets of final
    // states and registers either way). Messages name it "setup", thread 0.
    let last = t.procs.len() - 1;
    let handles: Vec<_> = (0..last)
        .map(|i| {
            let (w, regs, t) = (world.clone(), regs.clone(), t.clone());
            kengine::spawn(i + 1, move || process(&t, i, &w, &regs))
        })
        .collect();
    process(t, last, &world, &regs);
    for h in handles {
        h.join();
    }
    let regs = regs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let finals: Vec<u64> = world.iter().map(Shared::value).collect();
    let get = |tg: Target| match tg {
        Target::Reg(p, r) => regs[p][r],
        Target::Loc(l) => finals[l],
    };
    if t.filter.as_ref().is_none_or(|f| f.eval(&get)) {
        c.counted.fetch_add(1, Ordering::Relaxed);
        if t.exists.eval(&get) {
            c.satisfied.fetch_add(1, Ordering::Relaxed);
        }
    }
    kengine::leave();
}

/// Explore `t` under loom with no preemption bound, for at most `max_time`.
pub fn run(t: &Litmus, max_time: Duration, max_branches: usize) -> Observed {
    // Trace objects are named for the whole run (a few short strings per test).
    let names: Vec<&'static str> = t
        .locs
        .iter()
        .map(|l| &*Box::leak(l.0.clone().into_boxed_str()))
        .collect();
    let counts = Arc::new(Counts::default());
    let rec = Arc::new(Recorder::with_names(
        (0..t.procs.len()).map(|i| format!("P{i}")).collect(),
    ));
    let b = crate::engine::loom::builder(None, max_branches, Some(max_time));
    let start = Instant::now();
    let body = {
        let (t, c) = (Arc::new(t.clone()), counts.clone());
        move || execute(&t, &names, &rec, &c)
    };
    let r = {
        let _quiet = Exploring::start();
        catch_unwind(AssertUnwindSafe(|| b.check(body)))
    };
    let elapsed = start.elapsed();
    kengine::leave();
    let executions = counts.executions.load(Ordering::Relaxed);
    let error = match r {
        Err(p) => Some(format!("loom stopped: {}", first_line(&panic_message(&*p)))),
        Ok(()) if elapsed >= max_time => Some(format!(
            "time limit of {} s reached after {executions} executions",
            max_time.as_secs()
        )),
        Ok(()) => None,
    };
    Observed {
        executions,
        counted: counts.counted.load(Ordering::Relaxed),
        satisfied: counts.satisfied.load(Ordering::Relaxed),
        elapsed,
        error,
    }
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}
