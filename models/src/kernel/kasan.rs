//! KASAN-like shadow state of allocations (pages, slab objects).
//!
//! A freed allocation keeps its memory, filled with `PAGE_POISON` as under
//! `CONFIG_PAGE_POISONING`, so a stale reader reads garbage rather than something plausible;
//! its shadow says it is freed, so every later access through a kernel primitive is reported
//! as `use-after-free`, by CPU threads and by the simulated hardware alike. A read that returns
//! the poison from an allocated object read memory whose initialisation it cannot see:
//! `uninitialized-read`.

use crate::check::{raise, Kind};
use crate::kernel::engine::Ghost;
use crate::trace::Obj;

/// The byte pattern of poisoned memory (`PAGE_POISON`, include/linux/poison.h), as a u64.
pub const PAGE_POISON: u64 = 0xaaaa_aaaa_aaaa_aaaa;

/// Lifecycle of an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocState {
    /// Never handed out.
    Unused,
    /// Allocated and live.
    Live,
    /// Freed.
    Freed,
}

/// The shadow of one allocation.
pub struct Shadow {
    obj: Obj,
    state: Ghost<AllocState>,
}

impl Shadow {
    /// The shadow of `obj`, not yet allocated.
    pub fn new(obj: Obj) -> Self {
        Shadow {
            obj,
            state: Ghost::new(AllocState::Unused),
        }
    }

    /// Its state now.
    pub fn state(&self) -> AllocState {
        self.state.with(|s| *s)
    }

    /// Mark allocated.
    pub fn allocate(&self) {
        self.state.with(|s| *s = AllocState::Live);
    }

    /// Mark freed; a second free is a `double-free`.
    #[track_caller]
    pub fn free(&self) {
        let before = self.state.with(|s| std::mem::replace(s, AllocState::Freed));
        if before == AllocState::Freed {
            raise(
                Kind::DoubleFree,
                format!("{} freed twice", describe(self.obj)),
            );
        }
    }

    /// Check an access that was just recorded: `value` is what a load returned.
    #[track_caller]
    pub fn check_access(&self, write: bool, loaded: Option<u64>) {
        match self.state() {
            AllocState::Live => {
                if loaded == Some(PAGE_POISON) {
                    raise(
                        Kind::UninitializedRead,
                        format!(
                            "read PAGE_POISON from {}: the initialisation of the page is not \
                             visible to this reader",
                            describe(self.obj)
                        ),
                    );
                }
            }
            state => raise(
                Kind::UseAfterFree,
                format!(
                    "{} of {} after it was {}",
                    if write { "write" } else { "read" },
                    describe(self.obj),
                    if state == AllocState::Freed {
                        "freed"
                    } else {
                        "never allocated"
                    }
                ),
            ),
        }
    }
}

/// A short name of an object for messages (reports render richer names from the trace).
pub fn describe(obj: Obj) -> String {
    match obj {
        Obj::None => "memory".into(),
        Obj::Entry { frame, index } => format!("frame {frame} [{index}]"),
        Obj::Frame(f) => format!("frame {f}"),
        Obj::Named(n) => n.into(),
        Obj::Object { class, id } => format!("{class} {id}"),
    }
}
