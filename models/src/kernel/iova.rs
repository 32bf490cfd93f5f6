//! The IOVA allocator (include/linux/iova.h, drivers/iommu/iova.c): `alloc_iova` top-down
//! below a limit, `free_iova`, `find_iova`, under `iova_rbtree_lock`.
//!
//! The seed shows only the calls (`alloc_iova`, `free_iova`, `iova_shift`,
//! `iova_dma_addr`); the bodies here are inferred from iova.c of the time (2016): every
//! tree operation holds `iova_rbtree_lock` for its whole walk, and `free_iova` is
//! `find_iova` (one critical section) followed by `__free_iova` (a second one).
//!
//! The rbtree is a [`LockedBy`] of `iova_rbtree_lock`: a plain map that only a holder of the
//! lock can reach. That makes it state the engine explores without a word per node: every
//! decision taken from the tree (which range `alloc_iova` picks, whether `find_iova` finds
//! one) is taken inside a critical section, and the engines try every order of the critical
//! sections. Every operation also reads (and an update writes) the tree's root word inside
//! the `iova_domain` allocation, so KASAN sees a use of a freed `iova_domain`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::check::{raise, Kind};
use crate::kernel::atomic::Atomic64;
use crate::kernel::kasan::Shadow;
use crate::kernel::rwonce::{read_once, write_once};
use crate::kernel::spinlock::{
    spin_lock_irqsave, spin_unlock_irqrestore, LockedBy, SpinGuard, SpinLock,
};
use crate::trace::Obj;

/// An allocated range of page frames `[pfn_lo, pfn_hi]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iova {
    /// First pfn.
    pub pfn_lo: u64,
    /// Last pfn.
    pub pfn_hi: u64,
}

/// `struct iova_domain`.
pub struct IovaDomain {
    /// `iovad->iova_rbtree_lock`.
    lock: SpinLock,
    /// `iovad->rbroot`: the word every tree operation touches.
    rbroot: Atomic64,
    /// `iovad->granule`, read by [`iova_shift`].
    granule: Atomic64,
    /// The tree: pfn_lo -> pfn_hi. invariant: ranges are disjoint and within
    /// `[start_pfn, dma_32bit_pfn]`.
    ranges: LockedBy<BTreeMap<u64, u64>>,
    /// `iovad->granule` as a shift (`iova_shift`).
    pub shift: u32,
    /// `iovad->start_pfn`.
    pub start_pfn: u64,
    /// `iovad->dma_32bit_pfn`: the default limit.
    pub dma_32bit_pfn: u64,
}

impl IovaDomain {
    /// `init_iova_domain(iovad, granule, start_pfn)`, inside allocation `obj`.
    pub fn new(obj: Obj, shadow: Arc<Shadow>, shift: u32, start_pfn: u64, limit_pfn: u64) -> Self {
        let lock = SpinLock::new("iova_rbtree_lock");
        IovaDomain {
            ranges: LockedBy::new(&lock, BTreeMap::new()),
            lock,
            rbroot: Atomic64::in_allocation(obj.field("rbroot"), 0, shadow.clone()),
            granule: Atomic64::in_allocation(obj.field("granule"), 1 << shift, shadow),
            shift,
            start_pfn,
            dma_32bit_pfn: limit_pfn,
        }
    }

    /// Ranges allocated now (for final checks: takes `iova_rbtree_lock`, as any reader of
    /// the tree must).
    #[track_caller]
    pub fn allocated(&self) -> Vec<Iova> {
        let g = spin_lock_irqsave(&self.lock);
        let r = self.ranges.access(&g, |r| {
            r.iter()
                .map(|(&pfn_lo, &pfn_hi)| Iova { pfn_lo, pfn_hi })
                .collect()
        });
        spin_unlock_irqrestore(g);
        r
    }

    /// The range of the tree containing `pfn`, searched by a holder of the lock.
    fn lookup(&self, g: &SpinGuard<'_>, pfn: u64) -> Option<Iova> {
        self.ranges.access(g, |r| {
            r.range(..=pfn)
                .next_back()
                .filter(|(_, &hi)| hi >= pfn)
                .map(|(&pfn_lo, &pfn_hi)| Iova { pfn_lo, pfn_hi })
        })
    }
}

/// `iova_shift(iovad)`: `__ffs(iovad->granule)`, a read of the `iova_domain` (so a use of
/// a freed one is seen).
#[track_caller]
pub fn iova_shift(iovad: &IovaDomain) -> u32 {
    read_once(&iovad.granule).trailing_zeros()
}

/// `iova_dma_addr(iovad, iova)`.
pub fn iova_dma_addr(iovad: &IovaDomain, iova: &Iova) -> u64 {
    iova.pfn_lo << iovad.shift
}

/// `alloc_iova(iovad, size, limit_pfn, size_aligned)`: the highest free range of `size`
/// pages ending at or below `limit_pfn`, aligned to its size if asked.
#[track_caller]
pub fn alloc_iova(
    iovad: &IovaDomain,
    size: u64,
    limit_pfn: u64,
    size_aligned: bool,
) -> Option<Iova> {
    // __alloc_and_insert_iova_range: the search and the insert are one critical section.
    // iova.c starts the search at __get_cached_rbnode(iovad, &limit_pfn), a cache of where
    // the last 32-bit allocation ended; the model walks from the limit every time, so it
    // hands out the highest free gap where iova.c could skip one above the cached node: a
    // difference in which IOVA a get receives, not in whether the window has room
    // (inferred: the seed shows no iova.c).
    let g = spin_lock_irqsave(&iovad.lock);
    let gen = read_once(&iovad.rbroot);
    let align = if size_aligned {
        size.next_power_of_two()
    } else {
        1
    };
    let found = iovad.ranges.access(&g, |r| {
        let mut hi = limit_pfn;
        // Walk allocated ranges from the top down, trying the gap above each.
        for (&lo, &top) in r.iter().rev() {
            if top >= hi {
                hi = hi.min(lo.saturating_sub(1));
                continue;
            }
            let cand = (hi + 1 - size) / align * align;
            if hi + 1 >= size && cand > top && cand >= iovad.start_pfn {
                return Some(cand);
            }
            hi = lo.saturating_sub(1);
        }
        let cand = (hi + 1).checked_sub(size).map(|c| c / align * align)?;
        (cand >= iovad.start_pfn).then_some(cand)
    });
    let out = found.map(|lo| {
        iovad.ranges.access(&g, |r| r.insert(lo, lo + size - 1));
        write_once(&iovad.rbroot, gen + 1);
        Iova {
            pfn_lo: lo,
            pfn_hi: lo + size - 1,
        }
    });
    spin_unlock_irqrestore(g);
    out
}

/// `find_iova(iovad, pfn)`: the range containing `pfn`, looked up under the lock (which is
/// dropped before the caller uses the result).
#[track_caller]
pub fn find_iova(iovad: &IovaDomain, pfn: u64) -> Option<Iova> {
    let g = spin_lock_irqsave(&iovad.lock);
    read_once(&iovad.rbroot);
    let r = iovad.lookup(&g, pfn);
    spin_unlock_irqrestore(g);
    r
}

/// `__free_iova(iovad, iova)`: erase a range `find_iova` returned, in a critical section of
/// its own. If the range is no longer in the tree, another thread freed it since the
/// lookup: in the kernel, `rb_erase` of a node already erased and a second
/// `free_iova_mem`, reported here as a `double-free`.
#[track_caller]
pub fn __free_iova(iovad: &IovaDomain, iova: &Iova) {
    let g = spin_lock_irqsave(&iovad.lock);
    let gen = read_once(&iovad.rbroot);
    let erased = iovad.ranges.access(&g, |r| {
        let present = r.get(&iova.pfn_lo) == Some(&iova.pfn_hi);
        if present {
            r.remove(&iova.pfn_lo);
        }
        present
    });
    if erased {
        write_once(&iovad.rbroot, gen + 1);
    }
    spin_unlock_irqrestore(g);
    if !erased {
        raise(
            Kind::DoubleFree,
            format!(
                "__free_iova of pfns {:#x}-{:#x}, which another thread freed after find_iova returned it",
                iova.pfn_lo, iova.pfn_hi
            ),
        );
    }
}

/// `free_iova(iovad, pfn)`: `find_iova`, then `__free_iova` of what it found, if anything.
#[track_caller]
pub fn free_iova(iovad: &IovaDomain, pfn: u64) {
    if let Some(iova) = find_iova(iovad, pfn) {
        __free_iova(iovad, &iova);
    }
}
