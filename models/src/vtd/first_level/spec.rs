//! What `vtd-first-level` declares: its variants and the mechanism each picks, its
//! operations, and the scenario rules it enforces.

use super::intel_pgtable::{FirstLevel, PAGE};
use crate::hw::geometry::{self, Geometry};
use crate::spec::{each_op, About, Model, ModelSpec, Refusal};
use crate::trace::step;

crate::variants! {
    /// The variants of this model.
    pub enum Variant {
        /// as posted: pgtable_populate under page_table_lock after smp_wmb; leaf PTEs set
        /// without the lock; unmap reclaims leaf tables found empty when reclaim is set
        /// (reclaim = !start_addr)
        Rfc = "rfc",
        /// every table, leaf tables included, kept until the whole table is torn down
        /// (Baolu's answer)
        NoReclaim = "no-reclaim",
        /// populate by cmpxchg (Peter asked about it), the loser frees its page
        /// (second-level pfn_to_dma_pte), and a table is freed only when the unmapped range
        /// covers it (Peter's suggestion, as second-level dma_pte_clear_level does)
        Cmpxchg = "cmpxchg",
        /// mutant of rfc: pgtable_populate without smp_wmb
        NoWmb = "no-wmb",
        /// mutant of rfc: pgtable_populate with neither the lock nor cmpxchg
        NoLock = "no-lock",
        /// mutant of rfc: unmap with reclaim also frees upper-level tables found empty
        EveryLevel = "every-level",
        /// mutant of rfc: unmap frees the reclaimed tables before the IOTLB and
        /// paging-structure flush, not after it completes
        FreeFirst = "free-first",
        /// mutant of rfc: unmap clears the PTEs and frees the reclaimed tables with no
        /// IOTLB or paging-structure invalidation at all
        NoIotlbFlush = "no-iotlb-flush",
        /// rfc, with pgtable_populate also flushing the new zeroed table to memory
        /// (domain_flush_cache) before publishing it, as second-level pfn_to_dma_pte does
        FlushPage = "flush-page",
    }
}

/// How `pgtable_populate` publishes a new table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Populate {
    /// Under `page_table_lock`, after `smp_wmb()` unless `wmb` is false (the RFC).
    Locked {
        /// Whether `smp_wmb()` orders the zeroing before the publishing store.
        wmb: bool,
    },
    /// `smp_wmb()`, then a check and a store with no lock (mutant).
    Unlocked,
    /// `cmpxchg` on the PDE; the loser frees its page (second-level `pfn_to_dma_pte`).
    Cmpxchg,
}

/// Which child tables an unmap frees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reclaim {
    /// None: tables stay until teardown (Baolu's answer).
    Never,
    /// Leaf tables found empty, when reclaim is set (the seed's `mmunmap_pte_range`).
    EmptyLeafTables,
    /// Tables found empty at every level, when reclaim is set (mutant).
    EmptyTables,
    /// A table the unmapped range covers, with everything below it, uncleared
    /// (second-level `dma_pte_clear_level`).
    Covered,
}

/// When an unmap frees the tables it reclaimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeOrder {
    /// After the IOTLB and paging-structure invalidation completed (`qi_submit_sync`).
    AfterSync,
    /// Before the invalidation is submitted (mutant).
    BeforeSync,
    /// With no invalidation submitted at all (mutant).
    NoFlush,
}

/// The mechanisms a variant picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mechanics {
    /// How a table is published.
    pub populate: Populate,
    /// Whether `pgtable_populate` flushes the new table to memory before publishing it.
    pub flush_new_page: bool,
    /// Which tables an unmap frees.
    pub reclaim: Reclaim,
    /// When it frees them.
    pub free: FreeOrder,
}

impl Variant {
    /// The mechanisms of this variant: the one place a variant's name decides anything.
    pub fn mechanics(self) -> Mechanics {
        let (populate, reclaim) = match self {
            Variant::Rfc => (Populate::Locked { wmb: true }, Reclaim::EmptyLeafTables),
            Variant::NoReclaim => (Populate::Locked { wmb: true }, Reclaim::Never),
            Variant::Cmpxchg => (Populate::Cmpxchg, Reclaim::Covered),
            Variant::NoWmb => (Populate::Locked { wmb: false }, Reclaim::EmptyLeafTables),
            Variant::NoLock => (Populate::Unlocked, Reclaim::EmptyLeafTables),
            Variant::EveryLevel => (Populate::Locked { wmb: true }, Reclaim::EmptyTables),
            Variant::FreeFirst | Variant::FlushPage | Variant::NoIotlbFlush => {
                (Populate::Locked { wmb: true }, Reclaim::EmptyLeafTables)
            }
        };
        Mechanics {
            populate,
            // The second-level code flushes its new page; the RFC's quote does not.
            flush_new_page: matches!(self, Variant::Cmpxchg | Variant::FlushPage),
            reclaim,
            free: match self {
                Variant::FreeFirst => FreeOrder::BeforeSync,
                Variant::NoIotlbFlush => FreeOrder::NoFlush,
                _ => FreeOrder::AfterSync,
            },
        }
    }
}

crate::operations! {
    /// The operations scenario files may use.
    pub enum Op {
        /// mmmap(domain, iova, pa, size): populate missing tables, set the leaf PTEs (SIZE
        /// defaults to one page)
        Map = "map" (iova: IOVA, pa: PA, size: SIZE = PAGE),
        /// mmunmap(domain, iova, size, reclaim): clear the PTEs; reclaim = !start_addr
        /// unless the flag forces it
        Unmap = "unmap" (iova: IOVA, size: SIZE) flags(reclaim),
        /// intel_iommu_iova_to_phys: walk the table on the CPU
        IovaToPhys = "iova_to_phys" (iova: IOVA),
        /// domain_exit: free every table (done after the threads when no thread does it)
        Teardown = "teardown" (),
        /// the IOMMU page walker translates a DMA to IOVA
        Walk = "walk" (iova: IOVA) [hardware],
        /// the IOMMU walks to IOVA and fills its IOTLB and paging-structure caches, without
        /// a DMA (a prefetch)
        Prefetch = "prefetch" (iova: IOVA) [hardware],
    }
}

crate::params! {
    /// The page-table geometry and the IOMMU.
    pub struct Hw {
        /// Levels of tables, the root being level `levels` and leaves level 1.
        levels: u32 = 2, 2..=5,
        /// Entries per table (a power of two).
        entries: u32 = 4, 2..=512,
        /// Page-walk coherency (ECAP.SMPWC in scalable mode, where first-level translation
        /// lives; the 2019 driver tested ECAP.C): 1, page walks snoop the CPU caches; 0,
        /// they read memory, which CPU writes reach only through domain_flush_cache (clflush)
        coherent: u32 = 1, 0..=1,
        /// Frames of the page pool (0: room for a full tree and racing pages). A small pool
        /// makes an allocation reuse a frame the setup freed.
        frames: u32 = 0, 0..=64,
    }
}

impl Hw {
    /// The page-table geometry.
    pub fn geometry(&self) -> Geometry {
        Geometry {
            levels: self.levels,
            entries: self.entries,
        }
    }
}

/// The model, as the registry lists it.
pub const MODEL: ModelSpec = ModelSpec::of::<FirstLevel>(About {
    name: "vtd-first-level",
    about: "VT-d first-level page table: populate, unmap with reclaim, and the hardware walker",
    seed: "000_deb89301de5e0e26.txt",
    mirrors: "drivers/iommu/intel-pgtable.c (RFC 2019): mmmap, pgtable_populate, mmunmap, mmunmap_pte_range; intel-iommu.c: pfn_to_dma_pte, dma_pte_clear_level, domain_exit",
    invariants: &[
        ("use-after-free", "no CPU thread and no walker, through its caches or not, touches a freed table"),
        ("double-free", "no table is freed twice"),
        ("leak", "teardown frees every table"),
        ("lost-mapping", "a map that succeeded and was not unmapped translates to its PA"),
        ("stale-translation", "nothing else translates; the walker reaches only PAs mapped at that IOVA, and none an unmap took once its invalidation completed; after the threads every IOTLB and paging-structure cache entry matches the page tables"),
        ("uninitialized-read", "no reader sees a table's contents from before its zeroing, in the CPU's view or, for a walk that does not snoop (no page-walk coherency), in memory"),
    ],
});

impl Model for FirstLevel {
    type Variant = Variant;
    type Op = Op;
    type Params = Hw;

    fn build(variant: Variant, hw: &Hw) -> Self {
        let frames = (hw.frames > 0).then_some(hw.frames as usize);
        FirstLevel::with_hardware(variant, hw.geometry(), frames, hw.coherent == 1)
    }

    fn run(&self, op: &Op) {
        match *op {
            Op::Map { iova, pa, size } => {
                // An -ENOMEM is a legal outcome; the reference then keeps what was mapped.
                let _ = self.mmmap(iova, pa, size);
            }
            Op::Unmap {
                iova,
                size,
                reclaim,
            } => {
                // The RFC's caller passes reclaim = !start_addr ("IOVA 0 is assumed to be
                // reserved by the allocator"); the flag forces reclaim, as teardown paths do.
                self.mmunmap(iova, size, reclaim || iova == 0);
            }
            Op::IovaToPhys { iova } => {
                step(format!("iova_to_phys {iova:#x}"));
                if let Some(pa) = self.iova_to_phys(iova) {
                    self.check_reachable(iova, pa);
                }
            }
            Op::Teardown {} => self.teardown(),
            Op::Prefetch { iova } => {
                step(format!("IOMMU prefetch {iova:#x}"));
                self.walk(iova);
            }
            Op::Walk { iova } => {
                // The walk checks what it reached (`check_translation`) before it ends.
                step(format!("walk {iova:#x}"));
                self.walk(iova);
            }
        }
    }

    fn finish(&self) {
        self.check_final();
    }

    fn check_params(hw: &Hw) -> Result<(), (usize, String)> {
        geometry::check(&hw.geometry())
    }

    fn validate(
        _variant: Variant,
        hw: &Hw,
        setup: &[Op],
        threads: &[Vec<Op>],
    ) -> Result<(), Refusal> {
        validate(&hw.geometry(), setup, threads)
    }
}

/// The IOVA page range an operation covers, and whether it writes the table there.
fn range(op: &Op) -> Option<(u64, u64, bool)> {
    match *op {
        Op::Map { iova, size, .. } => Some((iova, size, true)),
        Op::Unmap { iova, size, .. } => Some((iova, size, true)),
        Op::Walk { iova } | Op::Prefetch { iova } | Op::IovaToPhys { iova } => {
            Some((iova & !0xfff, PAGE, false))
        }
        Op::Teardown {} => None,
    }
}

/// Refuse unaligned ranges, ranges outside the IOVA space, and ranges that two threads
/// write at once: the IOVA allocator never hands out overlapping ranges, and the RFC sets
/// leaf PTEs without a lock on that promise.
fn validate(geo: &Geometry, setup: &[Op], threads: &[Vec<Op>]) -> Result<(), Refusal> {
    let space = geo.space();
    let check = |op: &Op, thread: Option<usize>, i: usize| -> Result<(), Refusal> {
        let refuse = |message: String| Refusal::of(thread, i, message);
        if let Op::Map { pa, .. } = *op {
            if !pa.is_multiple_of(PAGE) {
                return Err(refuse(format!(
                    "PA {pa:#x} is not page aligned (expected a multiple of 0x1000)"
                )));
            }
        }
        if let Some((start, size, writes)) = range(op) {
            if writes && (start % PAGE != 0 || size % PAGE != 0 || size == 0) {
                return Err(refuse(if size == 0 {
                    format!(
                        "range {start:#x}+0x0 is empty (expected SIZE > 0, a multiple of 0x1000)"
                    )
                } else {
                    format!("range {start:#x}+{size:#x} is not page aligned (expected IOVA and SIZE multiples of 0x1000, SIZE > 0)")
                }));
            }
            if start.checked_add(size).is_none_or(|e| e > space) {
                return Err(refuse(format!(
                    "range {start:#x}+{size:#x} is outside the IOVA space 0x0-{:#x} of {} levels of {} entries",
                    space - 1,
                    geo.levels,
                    geo.entries
                )));
            }
        }
        Ok(())
    };
    for (thread, i, op) in each_op(setup, threads) {
        check(op, thread, i)?;
    }
    // Writers (map/unmap) of different threads must not overlap each other.
    let writes: Vec<(usize, usize, u64, u64)> = threads
        .iter()
        .enumerate()
        .flat_map(|(t, ops)| {
            ops.iter()
                .enumerate()
                .filter_map(move |(i, op)| match range(op) {
                    Some((s, n, true)) => Some((t, i, s, s + n)),
                    _ => None,
                })
        })
        .collect();
    for (a, &(ta, ia, sa, ea)) in writes.iter().enumerate() {
        for &(tb, ib, sb, eb) in &writes[a + 1..] {
            if ta != tb && sa < eb && sb < ea {
                return Err(Refusal {
                    other: Some((Some(ta), ia)),
                    ..Refusal::of(
                        Some(tb),
                        ib,
                        format!(
                            "range {sb:#x}-{:#x} overlaps {sa:#x}-{:#x}: the IOVA allocator never hands out overlapping ranges to two threads",
                            eb - 1,
                            ea - 1
                        ),
                    )
                });
            }
        }
    }
    Ok(())
}
