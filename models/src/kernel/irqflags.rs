//! Local interrupt state (include/linux/irqflags.h): `local_irq_disable`,
//! `local_irq_enable`, `local_irq_save`, `local_irq_restore`, `irqs_disabled`.
//!
//! Each model thread is a CPU with its own interrupt flag, which lockdep reads: a lock
//! taken with interrupts enabled is marked `HARDIRQ-ON`, and enabling them again while
//! locks are held marks those locks. `might_sleep` with interrupts disabled is
//! `sleep-in-atomic`. The flag is the thread's own state (ghost: no other thread reads it).
//! Disabling interrupts holds no interrupt back: an interrupt is an agent of its own
//! ([`crate::kernel::hardirq`]), and lockdep's checks need none to arrive.

use std::panic::Location;

use crate::kernel::lockdep::{irq_state, set_irqs, IrqOff};
use crate::trace::{record, Obj, Op};

/// Saved interrupt state (`unsigned long flags`), given back by [`local_irq_restore`].
#[derive(Clone, Copy, Debug)]
pub struct IrqFlags(Option<IrqOff>);

/// Disable interrupts on behalf of `how`, returning the state before (`local_irq_save`).
#[track_caller]
pub(crate) fn save(how: &'static str) -> IrqFlags {
    let (_, was) = irq_state();
    if was.is_none() {
        set_irqs(Some((how, Location::caller())));
    }
    IrqFlags(was)
}

/// Put back a state [`save`] returned (`local_irq_restore`).
#[track_caller]
pub(crate) fn restore(flags: IrqFlags) {
    set_irqs(flags.0);
}

/// `local_irq_disable()`.
#[track_caller]
pub fn local_irq_disable() {
    record(Op::Call("local_irq_disable"), Obj::None);
    save("local_irq_disable");
}

/// `local_irq_enable()`: enabled whatever the state before.
#[track_caller]
pub fn local_irq_enable() {
    record(Op::Call("local_irq_enable"), Obj::None);
    set_irqs(None);
}

/// `local_irq_save(flags)`.
#[track_caller]
pub fn local_irq_save() -> IrqFlags {
    record(Op::Call("local_irq_save"), Obj::None);
    save("local_irq_save")
}

/// `local_irq_restore(flags)`.
#[track_caller]
pub fn local_irq_restore(flags: IrqFlags) {
    record(Op::Call("local_irq_restore"), Obj::None);
    restore(flags);
}

/// `irqs_disabled()`.
pub fn irqs_disabled() -> bool {
    irq_state().1.is_some()
}
