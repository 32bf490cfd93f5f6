//! The IOVA allocator (include/linux/iova.h, drivers/iommu/iova.c): `alloc_iova` top-down
//! below a limit, `free_iova`, `find_iova`, under `iova_rbtree_lock`.
//!
//! The rbtree itself is ghost state (a BTreeMap), but every operation takes the real lock and
//! reads and writes the tree's root word inside the `iova_domain` allocation, so the engines
//! see a scheduling point and KASAN sees a use of a freed `iova_domain`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::kernel::atomic::Atomic64;
use crate::kernel::engine::Ghost;
use crate::kernel::kasan::Shadow;
use crate::kernel::rwonce::{read_once, write_once};
use crate::kernel::spinlock::{spin_lock_irqsave, spin_unlock_irqrestore, SpinLock};
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
    /// The tree: pfn_lo -> pfn_hi.
    ranges: Ghost<BTreeMap<u64, u64>>,
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
        IovaDomain {
            lock: SpinLock::new("iova_rbtree_lock"),
            rbroot: Atomic64::in_allocation(obj, 0, shadow.clone()),
            granule: Atomic64::in_allocation(obj, 1 << shift, shadow),
            ranges: Ghost::new(BTreeMap::new()),
            shift,
            start_pfn,
            dma_32bit_pfn: limit_pfn,
        }
    }

    /// Ranges allocated now.
    pub fn allocated(&self) -> Vec<Iova> {
        self.ranges.with(|r| {
            r.iter()
                .map(|(&pfn_lo, &pfn_hi)| Iova { pfn_lo, pfn_hi })
                .collect()
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
    let g = spin_lock_irqsave(&iovad.lock);
    let gen = read_once(&iovad.rbroot);
    let align = if size_aligned {
        size.next_power_of_two()
    } else {
        1
    };
    let found = iovad.ranges.with(|r| {
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
        iovad.ranges.with(|r| r.insert(lo, lo + size - 1));
        write_once(&iovad.rbroot, gen + 1);
        Iova {
            pfn_lo: lo,
            pfn_hi: lo + size - 1,
        }
    });
    spin_unlock_irqrestore(g);
    out
}

/// `find_iova(iovad, pfn)`: the range containing `pfn`.
#[track_caller]
pub fn find_iova(iovad: &IovaDomain, pfn: u64) -> Option<Iova> {
    let g = spin_lock_irqsave(&iovad.lock);
    read_once(&iovad.rbroot);
    let r = iovad.ranges.with(|r| {
        r.range(..=pfn)
            .next_back()
            .filter(|(_, &hi)| hi >= pfn)
            .map(|(&pfn_lo, &pfn_hi)| Iova { pfn_lo, pfn_hi })
    });
    spin_unlock_irqrestore(g);
    r
}

/// `free_iova(iovad, pfn)`: free the range containing `pfn`, if any.
#[track_caller]
pub fn free_iova(iovad: &IovaDomain, pfn: u64) {
    let g = spin_lock_irqsave(&iovad.lock);
    let gen = read_once(&iovad.rbroot);
    let lo = iovad.ranges.with(|r| {
        let lo = r
            .range(..=pfn)
            .next_back()
            .filter(|(_, &hi)| hi >= pfn)
            .map(|(&lo, _)| lo);
        if let Some(lo) = lo {
            r.remove(&lo);
        }
        lo
    });
    if lo.is_some() {
        write_once(&iovad.rbroot, gen + 1);
    }
    spin_unlock_irqrestore(g);
}
