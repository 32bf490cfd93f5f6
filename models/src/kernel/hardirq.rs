//! Hardirq context (include/linux/hardirq.h, preempt.h): `irq_enter`/`irq_exit` around a
//! handler, `in_hardirq()`.
//!
//! An interrupt is an agent that runs on some thread's CPU. [`hardirq`] runs a function in
//! hardirq context on the running thread (an interrupt arriving at that point), and
//! [`spawn_hardirq`] spawns an agent thread that does so (an interrupt on a CPU of its own,
//! racing the others). Either way lockdep marks the locks taken there `IN-HARDIRQ`; like
//! lockdep, the usage checks need no interrupt to preempt a holder: the union of the usages
//! seen in a run decides.
//!
//! The context is a non-threaded hardirq: the irq core itself, or a handler requested with
//! `IRQF_NO_THREAD`. On PREEMPT_RT other handlers run in threads, which is process context.
//! An interrupt cannot arrive where interrupts are disabled: [`hardirq`] there is a model
//! error (a panic naming what disabled them), not a verdict.

use crate::engine::{spawn, JoinHandle};
use crate::kernel::irqflags::{restore, save};
use crate::kernel::lockdep::{hardirq_nesting, irq_state};
use crate::trace::{record, Obj, Op};

/// Run `f` in hardirq context on the running thread: interrupts disabled, `in_hardirq()`
/// true, as between `irq_enter()` and `irq_exit()`.
#[track_caller]
pub fn hardirq<R>(f: impl FnOnce() -> R) -> R {
    if let (_, Some((by, at))) = irq_state() {
        let here = std::panic::Location::caller();
        panic!(
            "model error: hardirq(f) at {}:{} where interrupts are disabled (by {by} at {}:{}): \
             no interrupt can arrive there. Fix the model: run the handler where interrupts \
             are enabled, or on an agent (spawn_hardirq)",
            here.file(),
            here.line(),
            at.file(),
            at.line()
        );
    }
    record(Op::Call("irq_enter"), Obj::None);
    let flags = save("hardirq entry");
    hardirq_nesting(1);
    let out = f();
    hardirq_nesting(-1);
    record(Op::Call("irq_exit"), Obj::None);
    restore(flags);
    out
}

/// `in_hardirq()`.
pub fn in_hardirq() -> bool {
    irq_state().0
}

/// Spawn model thread `index` as an interrupt agent: it runs `f` in hardirq context. It
/// counts against loom's limit of 5 threads per execution, main included.
pub fn spawn_hardirq(index: usize, f: impl FnOnce() + Send + 'static) -> JoinHandle {
    spawn(index, move || hardirq(f))
}
