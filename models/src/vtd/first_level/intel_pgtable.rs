//! The algorithm, line for line: drivers/iommu/intel-pgtable.c of the RFC (`mmmap`,
//! `pgtable_populate`, `mmunmap`), with intel-iommu.c's `pfn_to_dma_pte` and
//! `dma_pte_clear_level` for the `cmpxchg` variant. What the seed shows and what is inferred:
//! see the module doc.

use std::sync::atomic::Ordering;

use super::reference::Reference;
use super::spec::{FreeOrder, Mechanics, Populate, Reclaim, Variant};
use crate::check::{raise, Kind};
use crate::engine::Ghost;
use crate::hw::geometry::Geometry;
use crate::hw::vtd::{Desc, Did, PagingCaches, Pasid, NO_PASID};
use crate::hw::walker::{self, Decoded, EntryFormat, Hardware, Memory, Walk};
use crate::kernel::page_alloc::PagePool;
use crate::kernel::{
    cmpxchg, read_once, read_once_dep, smp_wmb, spin_lock, spin_unlock, write_once, Atomic64,
    Errno, SpinLock,
};
use crate::trace::{checking, key_step, step, Obj};

/// x86-64 first-level (IA-32e) entry layout, as `arch/x86/include/asm/pgtable_types.h`.
pub mod pte {
    /// `_PAGE_PRESENT`.
    pub const PRESENT: u64 = 1 << 0;
    /// `_PAGE_RW`.
    pub const RW: u64 = 1 << 1;
    /// `_PAGE_USER`.
    pub const USER: u64 = 1 << 2;
    /// `_PAGE_ACCESSED`.
    pub const ACCESSED: u64 = 1 << 5;
    /// `_PAGE_DIRTY`.
    pub const DIRTY: u64 = 1 << 6;
    /// `_PAGE_TABLE`: what `pgtable_populate` ORs into a non-leaf entry.
    pub const TABLE: u64 = PRESENT | RW | USER | ACCESSED | DIRTY;
    /// `PTE_PFN_MASK`: the physical frame, bits 12-51.
    pub const PFN_MASK: u64 = ((1u64 << 52) - 1) & !0xfff;

    /// `pte_present()`.
    pub fn present(v: u64) -> bool {
        v & PRESENT != 0
    }
    /// Physical address an entry points to (`pte_pfn() << PAGE_SHIFT`).
    pub fn addr(v: u64) -> u64 {
        v & PFN_MASK
    }
    /// A non-leaf entry: `__pmd(__pa(new) | _PAGE_TABLE)`.
    pub fn mk_table(pa: u64) -> u64 {
        (pa & PFN_MASK) | TABLE
    }
    /// A leaf entry for a read/write DMA mapping: `pfn_pte(pfn, prot)`.
    pub fn mk_leaf(pa: u64) -> u64 {
        (pa & PFN_MASK) | PRESENT | RW
    }
}

struct X86FirstLevel;

impl EntryFormat for X86FirstLevel {
    fn decode(&self, v: u64, level: u32) -> Decoded {
        if !pte::present(v) {
            Decoded::NotPresent
        } else if level == 1 {
            Decoded::Leaf(pte::addr(v))
        } else {
            Decoded::Table(pte::addr(v))
        }
    }
}

/// Tables an unmap frees, each with the label of Baolu's A3 role it plays (if any).
type Freelist = Vec<(u32, String)>;

/// Baolu's race table (seed lines 117-120) names the steps on one page of PTEs and its
/// up-level PDE. The tag for `role` on a step about the table at `table_level` (1 = that PTE
/// page): his own, "one level up" for a level-2 table, none higher.
fn baolu(role: &str, table_level: u32) -> String {
    match table_level {
        1 => format!(" (Baolu's {role})"),
        2 => format!(" (as Baolu's {role}, one level up)"),
        _ => String::new(),
    }
}

/// One unmap request: `[start, end)` and the reclaim flag.
struct Unmap {
    start: u64,
    end: u64,
    reclaim: bool,
}

/// The first-level page table of one domain.
pub struct FirstLevel {
    /// The variant's mechanisms.
    mech: Mechanics,
    pub(super) geo: Geometry,
    pub(super) pool: PagePool,
    /// `domain->pgd`: frame of the root table.
    pub(super) pgd: u32,
    /// `domain->page_table_lock`: serialises populating an upper-level entry.
    page_table_lock: SpinLock,
    /// What the walker reads: the CPU's view, or memory behind the CPU caches (no
    /// page-walk coherency).
    memory: Memory,
    /// The IOTLB and paging-structure caches of the domain (none for a geometry too large
    /// to give every page a slot: the property tests' real one).
    caches: Option<PagingCaches>,
    /// Per IOVA page (only with caches): 0, or 1 + the PA an unmap took from it, stored once
    /// that unmap's invalidation completed and cleared before a map publishes the page
    /// again. Engine words: a walk's check reads them while threads run
    /// (`check_translation`).
    pub(super) revoked: Vec<Atomic64>,
    pub(super) reference: Ghost<Reference>,
}

/// The domain's ID and the PASID its DMA comes with (RID2PASID: requests without PASID).
const DID: Did = 1;
const PASID: Pasid = NO_PASID;

/// Largest IOVA space, in pages, that gets the IOMMU's caches (one slot per page).
const CACHED_PAGES: u64 = 256;

/// Bytes of a page.
pub(super) const PAGE: u64 = 0x1000;

impl FirstLevel {
    /// A domain with an empty root table (`domain_init`). `frames` bounds the page pool; by
    /// default, room for a full tree (at most 64 tables: scenarios touch few) plus racing
    /// pages, so that a large geometry does not allocate millions of simulated frames.
    pub fn new(variant: Variant, geo: Geometry, frames: Option<usize>) -> Self {
        Self::with_hardware(variant, geo, frames, true)
    }

    /// A domain on an IOMMU whose page walks are `coherent` (page-walk coherency:
    /// ECAP.SMPWC in scalable mode; the 2019 driver tested ECAP.C) or not; the IOMMU
    /// has an IOTLB and paging-structure caches when the IOVA space is scenario-sized.
    pub fn with_hardware(
        variant: Variant,
        geo: Geometry,
        frames: Option<usize>,
        coherent: bool,
    ) -> Self {
        let frames = frames.unwrap_or((geo.max_tables().min(64) + 4 * geo.levels as u64) as usize);
        let pool = PagePool::new(frames, geo.entries as usize);
        let memory = if coherent {
            Memory::coherent()
        } else {
            Memory::non_coherent(&pool, frames)
        };
        let pgd = pool
            .alloc_pgtable_page()
            .expect("the page pool has room for the root table");
        // domain_init: the new root table is flushed before the IOMMU is given it.
        memory.flush(&pool, pgd, 0, geo.entries as usize, "the root table");
        let caches =
            (geo.space() >> 12 <= CACHED_PAGES).then(|| PagingCaches::new(DID, PASID, geo));
        let pages = if caches.is_some() {
            geo.space() >> 12
        } else {
            0
        };
        let revoked = (0..pages as u32)
            .map(|id| {
                let obj = Obj::Object {
                    class: "revoked",
                    id,
                };
                Atomic64::new(obj, 0)
            })
            .collect();
        FirstLevel {
            mech: variant.mechanics(),
            geo,
            pool,
            pgd,
            page_table_lock: SpinLock::new("page_table_lock"),
            memory,
            caches,
            revoked,
            reference: Ghost::new(Reference::default()),
        }
    }

    /// `domain_flush_cache` of `count` entries of table `frame` from `first`.
    fn domain_flush_cache(&self, frame: u32, first: usize, count: usize, what: &str) {
        self.memory.flush(&self.pool, frame, first, count, what);
    }

    /// The page pool (for tests).
    pub fn pool(&self) -> &PagePool {
        &self.pool
    }

    /// The frame of the root table (for tests).
    pub fn pgd(&self) -> u32 {
        self.pgd
    }

    fn frame_of(&self, entry: u64) -> u32 {
        match self.pool.frame_of_pa(pte::addr(entry)) {
            Some(f) => f,
            None => raise(
                Kind::Invariant,
                format!("entry {entry:#x} points outside the page tables"),
            ),
        }
    }

    /// `pgtable_populate(domain, nm)`: make the upper-level entry `slot` of table `frame`
    /// (at `level`) point to a new, zeroed table, unless another thread did so first.
    fn pgtable_populate(&self, frame: u32, level: u32, slot: usize) -> Result<(), Errno> {
        let entry = self.pool.frame(frame).entry(slot);
        // The store writes into table `frame`: Baolu's B2 role when that table can be freed
        // (it is not the root).
        let role = if level < self.geo.levels {
            baolu("B2", level)
        } else {
            String::new()
        };
        step("populate: alloc_pgtable_page");
        let Some(new) = self.pool.alloc_pgtable_page() else {
            return Err(Errno::ENOMEM);
        };
        step(format!("populate: got frame {new}"));
        self.memory.poison(new);
        if self.mech.flush_new_page {
            // pfn_to_dma_pte flushes the zeroed page before publishing it; the RFC's quote
            // shows no such flush (see the module doc).
            self.domain_flush_cache(new, 0, self.geo.entries as usize, "the new table");
        }
        let val = pte::mk_table(PagePool::pa_of_frame(new));
        // The RFC's check and store, with the lock or (mutant) without: `how` says which.
        let check_and_set = |how: &str| {
            step(format!("populate: PDE present? ({how})"));
            if pte::present(read_once(entry)) {
                step(format!(
                    "populate: PDE already present, free our page ({how})"
                ));
                self.pool.free_pgtable_page(new);
            } else {
                step(format!(
                    "populate: set the up-level PDE L{level}[{slot}]{role}"
                ));
                write_once(entry, val);
                self.domain_flush_cache(frame, slot, 1, "the PDE");
            }
        };
        match self.mech.populate {
            Populate::Cmpxchg => {
                // pfn_to_dma_pte: cmpxchg64 is fully ordered, so it also publishes the zeroed
                // page (the role of smp_wmb in the locked version).
                step(format!(
                    "populate: cmpxchg the up-level PDE L{level}[{slot}]{role}"
                ));
                if cmpxchg(entry, 0, val) != 0 {
                    step("populate: lost the race, free our page");
                    self.pool.free_pgtable_page(new);
                } else {
                    self.domain_flush_cache(frame, slot, 1, "the PDE");
                }
            }
            Populate::Unlocked => {
                smp_wmb();
                check_and_set("no lock");
            }
            Populate::Locked { wmb } => {
                if wmb {
                    // Orders the zeroing of the new table before the store that publishes it,
                    // against the walker's address-dependent loads (see __pte_alloc).
                    smp_wmb();
                }
                let lock = spin_lock(&self.page_table_lock);
                check_and_set("under page_table_lock");
                spin_unlock(lock);
            }
        }
        Ok(())
    }

    /// `mmmap` of one page: find or populate the tables down to the leaf, then set the PTE.
    fn mmmap_page(&self, iova: u64, pa: u64) -> Result<(), Errno> {
        let mut table = self.pgd;
        for level in (2..=self.geo.levels).rev() {
            let idx = self.geo.index(iova, level);
            let entry = self.pool.frame(table).entry(idx);
            step(format!(
                "map: up-level PDE L{level}[{idx}] valid?{}",
                baolu("B1", level - 1)
            ));
            let mut v = read_once_dep(entry);
            if !pte::present(v) {
                self.pgtable_populate(table, level, idx)?;
                v = read_once_dep(entry);
            }
            table = self.frame_of(v);
        }
        let idx = self.geo.index(iova, 1);
        // Record what the leaf will point to before the store that publishes it (see
        // `Reference::ever`). A page this execution mapped before may have been revoked:
        // it is no longer, once published again.
        let again = self.reference.with(|r| {
            let again = r.ever.contains_key(&iova);
            r.ever.entry(iova).or_default().insert(pa);
            again
        });
        if again {
            self.unrevoke(iova);
        }
        // Key: the mapping a race can lose; a report shows it even in a table no other
        // thread touches again (a frame orphaned by the race).
        key_step(format!("map: set the PTE L1[{idx}] (Baolu's B2)"));
        // Leaf PTEs are set without the lock: the IOVA allocator hands out disjoint ranges.
        write_once(self.pool.frame(table).entry(idx), pte::mk_leaf(pa));
        // Inferred (the seed does not show mmmap's body): the leaf is flushed as
        // mmunmap_pte_range flushes the PTEs it clears.
        self.domain_flush_cache(table, idx, 1, "the PTE");
        Ok(())
    }

    /// `mmmap(domain, iova, pa, size)`.
    pub fn mmmap(&self, iova: u64, pa: u64, size: u64) -> Result<(), Errno> {
        let mut off = 0;
        while off < size {
            self.mmmap_page(iova + off, pa + off)?;
            self.reference.with(|r| {
                r.mapped.insert(iova + off, pa + off);
                r.touched.insert(iova + off);
            });
            off += PAGE;
        }
        Ok(())
    }

    /// Whether the child table below entry `idx` of a `level` table may be freed by an unmap
    /// of `[start, end)`.
    fn may_reclaim(&self, level: u32, base: u64, start: u64, end: u64, reclaim: bool) -> bool {
        match self.mech.reclaim {
            Reclaim::Never => false,
            // dma_pte_clear_level frees a table when the range covers all of it.
            Reclaim::Covered => start <= base && base + self.geo.span(level) <= end,
            // The seed's reclaim is in mmunmap_pte_range only: the child is a leaf table
            // when its parent is at level 2.
            Reclaim::EmptyLeafTables => reclaim && level == 2,
            Reclaim::EmptyTables => reclaim,
        }
    }

    /// `mmunmap_*_range` at `level` for table `frame` covering `base..`: clear `[start, end)`,
    /// collecting freed tables in `freelist`.
    fn mmunmap_range(&self, frame: u32, level: u32, base: u64, u: &Unmap, freelist: &mut Freelist) {
        let (start, end, reclaim) = (u.start, u.end, u.reclaim);
        let span = self.geo.span(level);
        let first = self.geo.index(start.max(base), level);
        let last = self.geo.index(
            (end - 1).min(base + span * self.geo.entries as u64 - 1),
            level,
        );
        if level == 1 {
            for idx in first..=last {
                step(format!("clear PTE L1[{idx}]"));
                write_once(self.pool.frame(frame).entry(idx), 0);
            }
            // As the seed's mmunmap_pte_range: one flush of the cleared PTEs.
            self.domain_flush_cache(frame, first, last - first + 1, "the cleared PTEs");
            return;
        }
        for idx in first..=last {
            let entry = self.pool.frame(frame).entry(idx);
            let v = read_once_dep(entry);
            if !pte::present(v) {
                continue;
            }
            let child = self.frame_of(v);
            let child_base = base + idx as u64 * span;
            let reclaim_child = self.may_reclaim(level, child_base, start, end, reclaim);
            if reclaim_child && self.mech.reclaim == Reclaim::Covered {
                // dma_pte_clear_level: a covered table and everything below it goes to the
                // freelist uncleared, then the PDE that pointed to it is cleared.
                step(format!("dma_pte_list_pagetables under L{level}[{idx}]"));
                self.list_pagetables(child, level - 1, freelist);
                // No A1 here (nothing is read for emptiness), so no Baolu tags.
                step(format!(
                    "dma_pte_clear_level: clear the PDE of a covered table L{level}[{idx}]"
                ));
                write_once(entry, 0);
                self.domain_flush_cache(frame, idx, 1, "the cleared PDE");
                continue;
            }
            self.mmunmap_range(child, level - 1, child_base, u, freelist);
            if !reclaim_child {
                step(format!(
                    "keep the table under L{level}[{idx}] ({})",
                    if self.mech.reclaim == Reclaim::Covered {
                        "the range does not cover it"
                    } else if reclaim && level > 2 {
                        "not a leaf table"
                    } else {
                        "no reclaim"
                    }
                ));
                continue;
            }
            // mmunmap_pte_range: "Add page to free list if all entries are empty." Inferred:
            // the body (read every entry, then clear the up-level entry and list the page),
            // from that comment and Baolu's A1/A2/A3; the seed stops at `if (reclaim) {`.
            let entries = if level == 2 { "PTEs" } else { "PDEs" };
            step(format!(
                "unmap: check all {entries} empty{}",
                baolu("A1", level - 1)
            ));
            let table = self.pool.frame(child);
            let empty = (0..table.len()).all(|i| !pte::present(read_once(table.entry(i))));
            if !empty {
                step(format!(
                    "unmap: not empty, keep the table{}",
                    baolu("A1", level - 1)
                ));
                continue;
            }
            step(format!(
                "unmap: clear the up-level PDE L{level}[{idx}]{}",
                baolu("A2", level - 1)
            ));
            write_once(entry, 0);
            // Inferred, as for the PTEs: the cleared PDE is flushed.
            self.domain_flush_cache(frame, idx, 1, "the cleared PDE");
            freelist.push((child, baolu("A3", level - 1)));
        }
    }

    /// `dma_pte_list_pagetables`: table `frame` at `level` and every table below it, onto
    /// `freelist`, without clearing them.
    fn list_pagetables(&self, frame: u32, level: u32, freelist: &mut Freelist) {
        freelist.push((frame, String::new()));
        if level == 1 {
            return;
        }
        let table = self.pool.frame(frame);
        for i in 0..table.len() {
            let v = read_once_dep(table.entry(i));
            if pte::present(v) {
                self.list_pagetables(self.frame_of(v), level - 1, freelist);
            }
        }
    }

    /// `mmunmap(domain, iova, size, reclaim)`.
    pub fn mmunmap(&self, iova: u64, size: u64, reclaim: bool) {
        step(format!(
            "unmap {iova:#x}+{size:#x}, reclaim = {}",
            reclaim as u8
        ));
        let mut freelist = Vec::new();
        let top = self.geo.levels;
        let u = Unmap {
            start: iova,
            end: iova + size,
            reclaim,
        };
        self.mmunmap_range(self.pgd, top, 0, &u, &mut freelist);
        // What the range was mapped to: no walk may reach it once the invalidation is done.
        let taken: Vec<(u64, u64)> = self.reference.with(|r| {
            r.mapped
                .range(iova..iova + size)
                .map(|(&p, &a)| (p, a))
                .collect()
        });
        // Inferred, the second-level rule (iommu_flush_iotlb_psi, then dma_free_pagelist):
        // the IOTLB and, when tables were freed (IH=0), the paging-structure caches are
        // flushed, and only once that has completed are the tables freed.
        let flush = Desc::PIotlbPsi {
            did: DID,
            pasid: PASID,
            page: iova >> 12,
            pages: size >> 12,
            ih: freelist.is_empty(),
        };
        match self.mech.free {
            FreeOrder::BeforeSync => {
                self.free_pagelist(freelist);
                self.flush_iotlb(flush);
            }
            FreeOrder::AfterSync => {
                self.flush_iotlb(flush);
                self.free_pagelist(freelist);
            }
            FreeOrder::NoFlush => self.free_pagelist(freelist),
        }
        self.revoke(&taken);
        self.reference.with(|r| {
            let mut p = iova;
            while p < iova + size {
                r.mapped.remove(&p);
                r.touched.insert(p);
                p += PAGE;
            }
        });
    }

    /// `iommu_flush_iotlb_psi`: invalidate and wait (qi_submit_sync).
    fn flush_iotlb(&self, d: Desc) {
        if let Some(c) = &self.caches {
            step("unmap: flush the IOTLB");
            c.submit_sync(&[d]);
        }
    }

    /// Once the unmap's invalidation completed (or where it would have, for a mutant
    /// without one): each unmapped page's old PA is revoked.
    fn revoke(&self, taken: &[(u64, u64)]) {
        for &(page, pa) in taken {
            if let Some(w) = self.revoked.get((page >> 12) as usize) {
                step(format!(
                    "unmap done: no DMA may reach {pa:#x} through {page:#x} any more"
                ));
                // Relaxed: a walk that reads this store holds the drain after the
                // invalidation's exclusive section, which the lock orders before this store.
                checking(|| w.store(pa + 1, Ordering::Relaxed));
            }
        }
    }

    /// Before a map publishes `page` again: it is no longer revoked.
    fn unrevoke(&self, page: u64) {
        if let Some(w) = self.revoked.get((page >> 12) as usize) {
            checking(|| w.store(0, Ordering::Relaxed));
        }
    }

    /// `dma_free_pagelist(freelist)`.
    fn free_pagelist(&self, freelist: Freelist) {
        for (f, role) in freelist {
            step(format!("unmap: reclaim the page, frame {f}{role}"));
            self.pool.free_pgtable_page(f);
        }
    }

    /// `iova_to_phys`: the CPU's walk of the table.
    pub fn iova_to_phys(&self, iova: u64) -> Option<u64> {
        let mut table = self.pgd;
        for level in (1..=self.geo.levels).rev() {
            let v = read_once_dep(self.pool.frame(table).entry(self.geo.index(iova, level)));
            if !pte::present(v) {
                return None;
            }
            if level == 1 {
                return Some(pte::addr(v) | (iova & 0xfff));
            }
            table = self.frame_of(v);
        }
        None
    }

    /// The hardware walker's translation of a DMA to `iova`.
    pub fn walk(&self, iova: u64) -> Walk {
        let hw = Hardware {
            memory: &self.memory,
            caches: self.caches.as_ref(),
            check: &|iova, pa| self.check_translation(iova, pa),
        };
        walker::walk(&self.pool, &self.geo, &X86FirstLevel, &hw, self.pgd, iova)
    }

    /// The IOTLB and paging-structure caches, if the IOMMU has them.
    pub(super) fn caches(&self) -> Option<&PagingCaches> {
        self.caches.as_ref()
    }

    /// The CPU's entry at `level` on `iova`'s path, if the tables above it are present.
    pub(super) fn cpu_entry(&self, level: u32, iova: u64) -> Option<u64> {
        let mut table = self.pgd;
        for l in (level + 1..=self.geo.levels).rev() {
            let v = read_once(self.pool.frame(table).entry(self.geo.index(iova, l)));
            if !pte::present(v) {
                return None;
            }
            table = self.frame_of(v);
        }
        Some(read_once(
            self.pool.frame(table).entry(self.geo.index(iova, level)),
        ))
    }

    fn free_tree(&self, frame: u32, level: u32) {
        if level > 1 {
            let t = self.pool.frame(frame);
            for i in 0..t.len() {
                let v = read_once(t.entry(i));
                if pte::present(v) {
                    self.free_tree(self.frame_of(v), level - 1);
                }
            }
        }
        self.pool.free_pgtable_page(frame);
    }

    /// `domain_exit`: free every table, root included.
    pub fn teardown(&self) {
        step("teardown: free every table");
        self.free_tree(self.pgd, self.geo.levels);
        self.reference.with(|r| r.torn_down = true);
    }
}
