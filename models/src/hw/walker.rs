//! The IOMMU page-table walker: how a device's DMA to an IOVA is translated.
//!
//! The walker reads one entry per level, from the root down, each with a single load
//! (hardware does not tear a 64-bit entry). Each load after the first is address-dependent on
//! the previous one, so it is a [`read_once_dep`]. Reading a freed table is a use-after-free
//! by the device; reading poison is an uninitialised read.
//!
//! A walk goes through the IOMMU's caches when the model gives it some (the IOTLB and the
//! paging-structure caches, [`PagingCaches`]): a cached non-leaf entry lets it start below
//! the root, at a table the CPU may since have freed. It reads memory coherently, or, when
//! page walks do not snoop the CPU caches, only what the driver flushed ([`Memory`]).

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use crate::check::{raise, Kind};
use crate::hw::geometry::Geometry;
use crate::hw::vtd::PagingCaches;
use crate::kernel::kasan::PAGE_POISON;
use crate::kernel::page_alloc::PagePool;
use crate::kernel::{read_once, read_once_dep, Atomic64};
use crate::trace::{checking, key_step, step, Obj};

/// What an entry means to the walker at a given level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Not present: the walk faults.
    NotPresent,
    /// Points to the next-level table at this physical address.
    Table(u64),
    /// Maps to this physical address (the page base).
    Leaf(u64),
}

/// A page-table entry format the walker understands.
pub trait EntryFormat {
    /// Decode `entry` found at `level` (1 = leaf level).
    fn decode(&self, entry: u64, level: u32) -> Decoded;
}

/// The outcome of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// The device's access reaches this physical address.
    Pa(u64),
    /// The walk faulted (no translation).
    Fault,
}

/// The memory the walker reads page-table entries from.
///
/// With coherent page walks the walker snoops the CPU caches: it reads what the CPU wrote.
/// Page-walk coherency is ECAP.SMPWC for a scalable-mode IOMMU (first-level translation
/// exists only there); the 2019 driver tested ECAP.C whatever the mode. Without it the
/// walker reads memory, which the CPU's writes reach only when the driver flushes them there
/// (`domain_flush_cache`, clflush): each table entry then has a second word, memory, which a
/// flush copies the CPU's word into. Memory holds `PAGE_POISON` from each allocation of the
/// frame on ([`Memory::poison`]: whatever the page held before, never the CPU's zeroing,
/// which sits in its cache until flushed), so a missing flush of a new table is visible on
/// its first use and on every reuse. A cache line is never written back on its own: a
/// missing flush is never hidden by an early write-back; but a walk through a stale pointer
/// into a re-used frame reads memory as last flushed, not as the new owner wrote it.
pub struct Memory {
    /// Per frame, per entry: memory's copy (non-coherent walks only).
    behind: Option<Vec<Vec<Atomic64>>>,
}

impl Memory {
    /// Coherent page walks: the walker reads the CPU's view.
    pub fn coherent() -> Self {
        Memory { behind: None }
    }

    /// Non-coherent page walks over `pool`'s frames.
    pub fn non_coherent(pool: &PagePool, frames: usize) -> Self {
        let entries = pool.frame(0).len();
        let behind = (0..frames)
            .map(|f| {
                (0..entries)
                    .map(|i| Atomic64::new(memory_word(f as u32, i), PAGE_POISON))
                    .collect()
            })
            .collect();
        Memory {
            behind: Some(behind),
        }
    }

    /// A frame was just allocated: its memory holds whatever the page held before
    /// (`PAGE_POISON`), not the CPU's zeroing. The frame is not yet published, so no walker
    /// can race these stores. Nothing to do when walks are coherent.
    #[track_caller]
    pub fn poison(&self, frame: u32) {
        let Some(behind) = &self.behind else {
            return;
        };
        step(format!(
            "frame {frame} allocated: its memory holds whatever it last held (PAGE_POISON)"
        ));
        for word in &behind[frame as usize] {
            word.store(PAGE_POISON, Ordering::Relaxed);
        }
    }

    /// Whether the walker snoops the CPU caches.
    pub fn is_coherent(&self) -> bool {
        self.behind.is_none()
    }

    /// `domain_flush_cache(domain, addr, size)` of `count` entries of `frame` from `first`:
    /// clflush them to memory. Nothing to do (and no step) when walks are coherent.
    #[track_caller]
    pub fn flush(&self, pool: &PagePool, frame: u32, first: usize, count: usize, what: &str) {
        let Some(behind) = &self.behind else {
            return;
        };
        step(format!("domain_flush_cache: clflush {what}"));
        let words = behind[frame as usize].iter().enumerate();
        for (i, word) in words.skip(first).take(count) {
            let v = read_once(pool.frame(frame).entry(i));
            // Release: a walker that reads this line from memory sees what the CPU wrote
            // before flushing it (the zeroing of a table it points to, once that is flushed).
            word.store(v, Ordering::Release);
        }
    }

    /// The walker's load of entry `idx` of table `frame`: a freed table is a use-after-free
    /// (its KASAN shadow is checked through the CPU's word); from memory, `PAGE_POISON` in a
    /// live table is a read of contents the CPU never flushed there.
    #[track_caller]
    fn read(&self, pool: &PagePool, frame: u32, idx: usize) -> u64 {
        let Some(behind) = &self.behind else {
            return read_once_dep(pool.frame(frame).entry(idx));
        };
        // The walker reads memory, not the CPU's word; this load is the model's KASAN probe
        // (is the frame live?), which reports mark as the checker's.
        checking(|| read_once_dep(pool.frame(frame).entry(idx)));
        let v = behind[frame as usize][idx].load(Ordering::Acquire);
        if v == PAGE_POISON {
            raise(
                Kind::UninitializedRead,
                format!(
                    "the walker read PAGE_POISON from memory at frame {frame} entry {idx}: the \
                     CPU's zeroing of that table was never flushed to memory (domain_flush_cache), \
                     and this page walk does not snoop the CPU caches (no page-walk coherency: \
                     ECAP.SMPWC=0 in scalable mode; the 2019 driver tested ECAP.C)"
                ),
            );
        }
        v
    }
}

/// Memory's copy of entry `idx` of frame `frame`, named so in traces
/// (`memory of frame 2->entry 1`).
fn memory_word(frame: u32, idx: usize) -> Obj {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    // One name per entry index, made once (entries are at most 512).
    let names = NAMES.get_or_init(|| {
        (0..512)
            .map(|i| &*Box::leak(format!("entry {i}").into_boxed_str()))
            .collect()
    });
    Obj::Field {
        class: "memory of frame",
        id: frame,
        field: names[idx],
    }
}

/// What a walk goes through: the memory it reads, and the IOMMU's caches if it has them.
pub struct Hardware<'a> {
    /// Coherent or not.
    pub memory: &'a Memory,
    /// The IOTLB and paging-structure caches (none: every walk reads memory).
    pub caches: Option<&'a PagingCaches>,
    /// A check of the translation a walk reached (its IOVA and PA), run before the walk's
    /// translation ends: an invalidation that completes later than the check cannot have
    /// been in flight when the walk began.
    pub check: &'a dyn Fn(u64, u64),
}

/// Translate `iova` from the root table `root` of `geo`, as the hardware does: through the
/// IOTLB, then from the deepest cached non-leaf entry on its path (or the root), filling
/// the caches with what it reads.
pub fn walk(
    pool: &PagePool,
    geo: &Geometry,
    fmt: &dyn EntryFormat,
    hw: &Hardware,
    root: u32,
    iova: u64,
) -> Walk {
    let _in_flight = hw.caches.map(|c| c.begin());
    let w = translate(pool, geo, fmt, hw, root, iova);
    if let Walk::Pa(pa) = w {
        (hw.check)(iova, pa);
    }
    w
}

/// The walk itself, inside the translation `walk` holds open.
fn translate(
    pool: &PagePool,
    geo: &Geometry,
    fmt: &dyn EntryFormat,
    hw: &Hardware,
    root: u32,
    iova: u64,
) -> Walk {
    let mut table = root;
    let mut top = geo.levels;
    if let Some(c) = hw.caches {
        if let Some(pa) = c.leaf(iova) {
            let pa = pa + (iova & 0xfff);
            step(format!("walk {iova:#x}: IOTLB hit, reaches PA {pa:#x}"));
            return Walk::Pa(pa);
        }
        if let Some((level, pa)) = c.deepest_table(iova) {
            step(format!(
                "walk {iova:#x}: paging-structure cache hit at L{level}, table at PA {pa:#x}"
            ));
            if level == geo.levels {
                // For the trace only: whether the root (never freed while walks run) still
                // points there, or the walk goes on through a PDE the CPU already cleared.
                let idx = geo.index(iova, level);
                let now = checking(|| read_once(pool.frame(root).entry(idx)));
                if fmt.decode(now, level) != Decoded::Table(pa) {
                    // Key: the story turns here, and the read that shows it is the
                    // checker's, which conflicts with nothing.
                    key_step(format!(
                        "walk {iova:#x}: through a cached PDE the CPU has since cleared \
                         (L{level}[{idx}] = {now:#x})"
                    ));
                }
            }
            match pool.frame_of_pa(pa) {
                Some(f) => (table, top) = (f, level - 1),
                None => return Walk::Fault,
            }
        }
    }
    for level in (1..=top).rev() {
        let idx = geo.index(iova, level);
        // Labelled before the read, so that a report puts each read under its own level, not
        // under the fill of the level above.
        step(format!("walk {iova:#x}: read L{level}[{idx}]"));
        let v = hw.memory.read(pool, table, idx);
        match fmt.decode(v, level) {
            Decoded::NotPresent => {
                step(format!(
                    "walk {iova:#x}: L{level}[{idx}] not present: fault"
                ));
                return Walk::Fault;
            }
            Decoded::Leaf(pa) => {
                if let Some(c) = hw.caches {
                    c.fill_leaf(iova, pa);
                }
                let pa = pa + (iova & 0xfff);
                step(format!("walk {iova:#x}: reaches PA {pa:#x}"));
                return Walk::Pa(pa);
            }
            Decoded::Table(pa) => match pool.frame_of_pa(pa) {
                Some(next) => {
                    if let Some(c) = hw.caches {
                        c.fill_table(level, iova, pa);
                    }
                    table = next
                }
                None => {
                    step(format!(
                        "walk {iova:#x}: L{level}[{idx}] points outside the page tables: fault"
                    ));
                    return Walk::Fault;
                }
            },
        }
    }
    Walk::Fault
}
