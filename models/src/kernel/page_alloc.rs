//! The page allocator of simulated frames (mm/page_alloc.c, as the IOMMU drivers use it:
//! `alloc_pgtable_page`, `free_pgtable_page`).
//!
//! Frames are numbered 0, 1, 2, ... and live at PFN `FRAME_BASE_PFN + n`. A new frame holds
//! `PAGE_POISON` (memory never initialised); `alloc_pgtable_page` zeroes it (`__GFP_ZERO`);
//! `free_pgtable_page` poisons it again and marks its shadow freed, so every later access is
//! a `use-after-free` (see [`crate::kernel::kasan`]). A freed frame is reused only when no
//! unused frame is left, as KASAN's quarantine delays reuse, so that a stale access is seen
//! as a use-after-free rather than hidden by the next owner.
//!
//! Which frame an allocation gets, and whether it fails, decides what the model does next,
//! so the allocator is engine state, kept per frame: an allocation takes the first frame
//! whose shadow it can move from unused or freed to live (a compare-and-exchange on that
//! frame's word), and a free marks the frame freeing, poisons it and then marks it freed
//! (Release). An allocation therefore conflicts only with the frees and allocations of the
//! frames it looks at, never with every other allocation through one shared word; and the
//! new owner's zeroing is ordered after the old owner's poisoning, as the zone lock orders a
//! free before the reuse.
//! Each thread takes frames lowest-numbered first from its own starting point in the pool
//! (thread `t` of at most five starts at `t/5` of it, wrapping around), as each CPU first
//! allocates from its own per-cpu lists; not last-in first-out: a last-in order would need a
//! shared list, which orders every free against every allocation.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::check::{raise, Kind};
use crate::engine::{Ghost, RawAtomic};
use crate::kernel::atomic::Atomic64;
use crate::kernel::kasan::{AllocState, Shadow, PAGE_POISON};
use crate::trace::{record, Obj, Op};

/// The pool is searched from one of this many starting points, one per model thread (loom
/// runs at most five, the setup's included).
const POOL_PARTS: usize = 5;

/// PFN of frame 0: frames sit at physical address 0x100000 and up, apart from data pages.
pub const FRAME_BASE_PFN: u64 = 0x100;

/// One simulated page of `entries` 64-bit words.
pub struct Frame {
    entries: Box<[Atomic64]>,
    shadow: Arc<Shadow>,
}

impl Frame {
    /// Word `i` of the frame.
    pub fn entry(&self, i: usize) -> &Atomic64 {
        &self.entries[i]
    }
    /// Number of words.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True for a frame of no words.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The frames of one execution's world.
pub struct PagePool {
    frames: Vec<Frame>,
    /// `fail_after(n)`, set before the threads start (ghost: nothing changes it later).
    fail_after: Ghost<Option<u32>>,
    /// Allocations so far, counted only when `fail_after` is set; not traced.
    allocations: RawAtomic,
}

impl PagePool {
    /// A pool of `frames` frames of `entries` words each.
    pub fn new(frames: usize, entries: usize) -> Self {
        let frames = (0..frames as u32)
            .map(|n| {
                let shadow = Arc::new(Shadow::new(Obj::Frame(n)));
                let entries = (0..entries as u32)
                    .map(|i| {
                        Atomic64::in_allocation(
                            Obj::Entry { frame: n, index: i },
                            PAGE_POISON,
                            shadow.clone(),
                        )
                    })
                    .collect();
                Frame { entries, shadow }
            })
            .collect();
        PagePool {
            frames,
            fail_after: Ghost::new(None),
            allocations: RawAtomic::new(0),
        }
    }

    /// Make every allocation after the first `n` fail (-ENOMEM), to explore error paths.
    /// Call it before the threads start.
    pub fn fail_after(&self, n: u32) {
        self.fail_after.with(|f| *f = Some(n));
    }

    /// Frame `n` (its memory, whatever its state).
    pub fn frame(&self, n: u32) -> &Frame {
        &self.frames[n as usize]
    }

    /// Frame number of a physical address inside the pool, if any.
    pub fn frame_of_pa(&self, pa: u64) -> Option<u32> {
        let pfn = pa >> 12;
        let n = pfn.checked_sub(FRAME_BASE_PFN)?;
        (n < self.frames.len() as u64).then_some(n as u32)
    }

    /// Physical address of frame `n`.
    pub fn pa_of_frame(n: u32) -> u64 {
        (FRAME_BASE_PFN + n as u64) << 12
    }

    /// `alloc_pgtable_page(node)`: a zeroed frame, or `None` (-ENOMEM).
    #[track_caller]
    pub fn alloc_pgtable_page(&self) -> Option<u32> {
        if let Some(limit) = self.fail_after.with(|f| *f) {
            if self.allocations.fetch_add(1, Ordering::AcqRel) >= limit as u64 {
                record(Op::AllocFail, Obj::None);
                return None;
            }
        }
        // Each thread starts its search in its own part of the pool, as each CPU allocates
        // from its own per-cpu lists first: two threads' allocations then touch different
        // frames' words and stay independent for loom, until one part runs out.
        let n = self.frames.len();
        let start = crate::engine::thread_index() * n / POOL_PARTS;
        let order = (start..n).chain(0..start);
        let take = |reuse: bool| {
            order
                .clone()
                .find(|&i| self.frames[i].shadow.try_allocate(reuse))
        };
        let Some(n) = take(false).or_else(|| take(true)) else {
            record(Op::AllocFail, Obj::None);
            return None;
        };
        let f = &self.frames[n];
        record(Op::Alloc, Obj::Frame(n as u32));
        for e in f.entries.iter() {
            e.fill(0);
        }
        Some(n as u32)
    }

    /// `free_pgtable_page(vaddr)`.
    #[track_caller]
    pub fn free_pgtable_page(&self, n: u32) {
        let f = &self.frames[n as usize];
        record(Op::Free, Obj::Frame(n));
        f.shadow.begin_free();
        for e in f.entries.iter() {
            e.fill(PAGE_POISON);
        }
        f.shadow.end_free();
    }

    /// Frames allocated and not freed (checked for leaks at teardown).
    pub fn live_frames(&self) -> Vec<u32> {
        (0..self.frames.len() as u32)
            .filter(|&n| self.frames[n as usize].shadow.state() == AllocState::Live)
            .collect()
    }

    /// Raise `leak` if any frame is still allocated.
    #[track_caller]
    pub fn check_no_leak(&self, what: &str) {
        let live = self.live_frames();
        if !live.is_empty() {
            let list: Vec<String> = live.iter().map(|n| format!("frame {n}")).collect();
            raise(
                Kind::Leak,
                format!("{} still allocated after {what}", list.join(", ")),
            );
        }
    }
}
