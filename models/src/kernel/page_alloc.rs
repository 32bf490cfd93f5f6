//! The page allocator of simulated frames (mm/page_alloc.c, as the IOMMU drivers use it:
//! `alloc_pgtable_page`, `free_pgtable_page`).
//!
//! Frames are numbered 0, 1, 2, ... and live at PFN `FRAME_BASE_PFN + n`. A new frame holds
//! `PAGE_POISON` (memory never initialised); `alloc_pgtable_page` zeroes it (`__GFP_ZERO`);
//! `free_pgtable_page` poisons it again and marks its shadow freed, so every later access is
//! a `use-after-free` (see [`crate::kernel::kasan`]). Freed frames are reused last-in
//! first-out, as the per-cpu page lists do, so a recycled frame is the common case.
//! The allocator's own bookkeeping is ghost state: it is not what these models check. But
//! as the zone lock and per-cpu lists do in the kernel, a free happens before the
//! allocation that reuses the frame: one engine word, read-modify-written (AcqRel) by every
//! allocation and free, orders them. Without it loom could order the new owner's zeroing
//! before the old owner's poisoning and report an uninitialised read that cannot happen.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::check::{raise, Kind};
use crate::kernel::atomic::Atomic64;
use crate::kernel::engine::{Ghost, RawAtomic};
use crate::kernel::kasan::{AllocState, Shadow, PAGE_POISON};
use crate::trace::{record, Obj, Op};

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

#[derive(Default)]
struct Book {
    free: Vec<u32>,
    next_unused: u32,
    fail_after: Option<u32>,
    allocations: u32,
}

/// The frames of one execution's world.
pub struct PagePool {
    frames: Vec<Frame>,
    book: Ghost<Book>,
    /// The allocator's synchronisation (the zone lock, in effect); not traced.
    order: RawAtomic,
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
            book: Ghost::new(Book::default()),
            order: RawAtomic::new(0),
        }
    }

    /// Make the allocation after the first `n` fail (-ENOMEM), to explore error paths.
    pub fn fail_after(&self, n: u32) {
        self.book.with(|b| b.fail_after = Some(n));
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
        let got = self.book.with(|b| {
            if b.fail_after.is_some_and(|n| b.allocations >= n) {
                return None;
            }
            let n = match b.free.pop() {
                Some(n) => n,
                None if (b.next_unused as usize) < self.frames.len() => {
                    b.next_unused += 1;
                    b.next_unused - 1
                }
                None => return None,
            };
            b.allocations += 1;
            Some(n)
        });
        let Some(n) = got else {
            record(Op::AllocFail, Obj::None);
            return None;
        };
        let f = &self.frames[n as usize];
        // After the previous owner's free (and its poisoning), before our zeroing.
        self.order.fetch_add(1, Ordering::AcqRel);
        f.shadow.allocate();
        record(Op::Alloc, Obj::Frame(n));
        for e in f.entries.iter() {
            e.fill(0);
        }
        Some(n)
    }

    /// `free_pgtable_page(vaddr)`.
    #[track_caller]
    pub fn free_pgtable_page(&self, n: u32) {
        let f = &self.frames[n as usize];
        record(Op::Free, Obj::Frame(n));
        if f.shadow.state() == AllocState::Unused {
            raise(
                Kind::DoubleFree,
                format!("frame {n} freed but never allocated"),
            );
        }
        f.shadow.free();
        for e in f.entries.iter() {
            e.fill(PAGE_POISON);
        }
        // The poisoning happens before the next owner's allocation: publish, then put the
        // frame on the free list (ghost, so no allocation can take it before this point).
        self.order.fetch_add(1, Ordering::AcqRel);
        self.book.with(|b| b.free.push(n));
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
