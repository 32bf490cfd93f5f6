//! `vtd-first-level`: the VT-d first-level page table of the 2019 RFC.
//!
//! Seed: 000_deb89301de5e0e26.txt, "[RFC PATCH 2/4] iommu/vt-d: Add first level page table
//! interfaces" (Lu Baolu, Peter Xu).
//!
//! Mirrors drivers/iommu/intel-pgtable.c of the RFC: `mmmap` (map a range, populating missing
//! tables with `pgtable_populate` under `domain->page_table_lock` after `smp_wmb`, and setting
//! leaf PTEs without the lock), `mmunmap` / `mmunmap_pte_range` (clear a range; with `reclaim`,
//! free leaf tables found empty), the caller's `reclaim = !start_addr`, and, for the `cmpxchg`
//! variant, the second-level table's lock-free `pfn_to_dma_pte` populate and its
//! `dma_pte_clear_level` behaviour of freeing only tables the range covers entirely.
//!
//! What the seed shows and what is inferred. The seed quotes `pgtable_populate` whole, and of
//! the unmap path only `mmunmap_pte_range` down to `if (reclaim) {` under the comment "Add page
//! to free list if all entries are empty" (seed lines 174-193): reclaim is a parameter of the
//! leaf level, and Baolu's race table (lines 117-120) is about a page of PTEs and its up-level
//! PDE. So variant `rfc` frees only leaf (PTE) tables. Inferred: the body of that `if` (read
//! every PTE of the table, and when all are clear, clear the PMD and put the page on the
//! freelist), from that comment and Baolu's A1/A2/A3; and the upper levels' `mmunmap_*_range`
//! walking down without freeing, because the seed shows no reclaim above the leaf. The mutant
//! `every-level` frees empty tables at every level, to show what the leaf-only rule avoids.
//!
//! Property: no use-after-free (CPU or walker), no double free, no leak after teardown; every
//! map that succeeded and was not unmapped translates to its PA and nothing else translates;
//! the walker never reads an entry of a table whose initialisation it cannot see.
//!
//! One bad interleaving (the thread's own words; variant `rfc`, unmap with reclaim):
//!
//! ```text
//! Thread A (unmap 0x1000)            Thread B (map 0x2000)
//! A1 check all PTEs empty: yes
//!                                    B1 up-level PDE valid: frame 3
//! A2 clear the up-level PDE
//! A3 reclaim the page (frame 3)
//!                                    B2 populate the PTEs: write frame 3 [2]  <- use-after-free
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{raise, Kind};
use crate::hw::walker::{self, Decoded, EntryFormat, Walk};
use crate::kernel::engine::Ghost;
use crate::kernel::page_alloc::PagePool;
use crate::kernel::{
    cmpxchg, read_once, read_once_dep, smp_wmb, spin_lock, spin_unlock, write_once, Errno, SpinLock,
};
use crate::registry::{Call, Geometry, ModelSpec, OpSpec, Refusal, VariantSpec, World};
use crate::trace::step;

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

/// The variants of this model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// As posted: populate under the lock after `smp_wmb`; reclaim empty leaf tables on unmap.
    Rfc,
    /// Baolu's answer: keep non-leaf tables until teardown.
    NoReclaim,
    /// Lock-free populate by cmpxchg (Peter asked about it; Baolu agreed for populating), and
    /// the model's choice of reclaim rule to go with it: the second-level code's
    /// `dma_pte_clear_level`, which frees a table only when the unmapped range covers it.
    Cmpxchg,
    /// Mutant: `rfc` without the `smp_wmb` in `pgtable_populate`.
    NoWmb,
    /// Mutant: `rfc` populating with neither the lock nor cmpxchg.
    NoLock,
    /// Mutant: `rfc` also freeing upper-level tables found empty (the seed shows reclaim
    /// only in `mmunmap_pte_range`).
    EveryLevel,
}

const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "rfc",
        about: "as posted: pgtable_populate under page_table_lock after smp_wmb; leaf PTEs set without the lock; unmap reclaims leaf tables found empty when reclaim is set (reclaim = !start_addr)",
    },
    VariantSpec {
        name: "no-reclaim",
        about: "Baolu's answer: non-leaf tables are kept until the whole table is torn down",
    },
    VariantSpec {
        name: "cmpxchg",
        about: "populate by cmpxchg (Peter asked about it), the loser frees its page (second-level pfn_to_dma_pte); the model's reclaim rule: a table is freed only when the unmapped range covers it (second-level dma_pte_clear_level)",
    },
    VariantSpec {
        name: "no-wmb",
        about: "mutant of rfc: pgtable_populate without smp_wmb",
    },
    VariantSpec {
        name: "no-lock",
        about: "mutant of rfc: pgtable_populate with neither the lock nor cmpxchg",
    },
    VariantSpec {
        name: "every-level",
        about: "mutant of rfc: unmap with reclaim also frees upper-level tables found empty",
    },
];

const OPS: &[OpSpec] = &[
    OpSpec {
        name: "map",
        args: &["IOVA", "PA", "SIZE"],
        optional: 1,
        flags: &[],
        hardware: false,
        about: "mmmap(domain, iova, pa, size): populate missing tables, set the leaf PTEs (SIZE defaults to one page)",
    },
    OpSpec {
        name: "unmap",
        args: &["IOVA", "SIZE"],
        optional: 0,
        flags: &["reclaim"],
        hardware: false,
        about: "mmunmap(domain, iova, size, reclaim): clear the PTEs; reclaim = !start_addr unless the flag forces it",
    },
    OpSpec {
        name: "iova_to_phys",
        args: &["IOVA"],
        optional: 0,
        flags: &[],
        hardware: false,
        about: "intel_iommu_iova_to_phys: walk the table on the CPU",
    },
    OpSpec {
        name: "teardown",
        args: &[],
        optional: 0,
        flags: &[],
        hardware: false,
        about: "domain_exit: free every table (done after the threads when no thread does it)",
    },
    OpSpec {
        name: "walk",
        args: &["IOVA"],
        optional: 0,
        flags: &[],
        hardware: true,
        about: "the IOMMU page walker translates a DMA to IOVA",
    },
];

/// The model, as the registry lists it.
pub const MODEL: ModelSpec = ModelSpec {
    name: "vtd-first-level",
    about: "VT-d first-level page table: populate, unmap with reclaim, and the hardware walker",
    seed: "000_deb89301de5e0e26.txt",
    mirrors: "drivers/iommu/intel-pgtable.c (RFC 2019): mmmap, pgtable_populate, mmunmap, mmunmap_pte_range; intel-iommu.c: pfn_to_dma_pte, dma_pte_clear_level, domain_exit",
    variants: VARIANTS,
    ops: OPS,
    invariants: &[
        ("use-after-free", "no CPU thread and no walker touches a freed table"),
        ("double-free", "no table is freed twice"),
        ("leak", "teardown frees every table"),
        ("lost-mapping", "a map that succeeded and was not unmapped translates to its PA"),
        ("stale-translation", "nothing else translates, and the walker reaches only PAs mapped at that IOVA"),
        ("uninitialized-read", "no reader sees a table's contents from before its zeroing"),
    ],
    default_geometry: Geometry {
        levels: 2,
        entries: 4,
    },
    validate,
    build,
};

/// The reference state the checks compare against. It is ghost state; each field may be,
/// for the reason given on it. No thread branches on any of it: only checks read it. What
/// must hold for each is that the check's result cannot depend on an order of ghost writes
/// that the engine does not see.
#[derive(Default)]
struct Reference {
    /// Page-aligned IOVA -> PA of every mapping that should exist now. Read only by the final
    /// check, after every thread joined. A page's entry is written only by the setup and by
    /// the one thread whose map or unmap covers it (`validate` refuses ranges two threads
    /// both write), in that thread's program order, after an outcome the engine decided
    /// (whether the map got its pages). So its final value does not depend on how the
    /// threads interleaved.
    mapped: BTreeMap<u64, u64>,
    /// Every PA each page was mapped to during the execution (what a walker may reach).
    /// Read while threads run, by `check_reachable` after a walk or `iova_to_phys` read a
    /// leaf. A page's PA is inserted only by the one thread mapping it (as above), just
    /// before the store of the leaf PTE that publishes it. So whenever a reader has loaded a
    /// leaf holding that PA, the insert already happened: under loom and shuttle because the
    /// store executed after it; under `os` because a load cannot read a store that happens
    /// after it (the ghost mutex orders the two accesses of the set). A PA the reader loaded
    /// is therefore in the set exactly when some map published it, whatever the
    /// interleaving: the check is decided by the leaf value, which is engine state. Made of
    /// engine words instead, the set would only add conflicts (insert against every check)
    /// and executions, and could not change a verdict. One corner is order-dependent: a
    /// reader that reached, through a stale table, another page's leaf holding a PA that
    /// this page's own map is publishing at the same time is judged by whether that map's
    /// insert came first. It needs one PA mapped at two IOVAs, which no scenario does.
    ever: BTreeMap<u64, BTreeSet<u64>>,
    /// Every page an operation touched. Read only by the final check; inserts commute.
    touched: BTreeSet<u64>,
    /// Set once teardown ran. Read only by the final check; setting it is idempotent.
    torn_down: bool,
}

/// One unmap request: `[start, end)` and the reclaim flag.
struct Unmap {
    start: u64,
    end: u64,
    reclaim: bool,
}

/// The first-level page table of one domain.
pub struct FirstLevel {
    variant: Variant,
    geo: Geometry,
    pool: PagePool,
    /// `domain->pgd`: frame of the root table.
    pgd: u32,
    /// `domain->page_table_lock`: serialises populating an upper-level entry.
    page_table_lock: SpinLock,
    reference: Ghost<Reference>,
}

fn parse_variant(name: &str) -> Variant {
    match name {
        "rfc" => Variant::Rfc,
        "no-reclaim" => Variant::NoReclaim,
        "cmpxchg" => Variant::Cmpxchg,
        "no-wmb" => Variant::NoWmb,
        "no-lock" => Variant::NoLock,
        "every-level" => Variant::EveryLevel,
        other => panic!("vtd-first-level has no variant {other:?}"),
    }
}

fn build(variant: &str, geo: &Geometry) -> Box<dyn World> {
    Box::new(FirstLevel::new(parse_variant(variant), *geo, None))
}

const PAGE: u64 = 0x1000;

impl FirstLevel {
    /// A domain with an empty root table (`domain_init`). `frames` bounds the page pool; by
    /// default, room for a full tree (at most 64 tables: scenarios touch few) plus racing
    /// pages, so that a large geometry does not allocate millions of simulated frames.
    pub fn new(variant: Variant, geo: Geometry, frames: Option<usize>) -> Self {
        let frames = frames.unwrap_or((geo.max_tables().min(64) + 4 * geo.levels as u64) as usize);
        let pool = PagePool::new(frames, geo.entries as usize);
        let pgd = pool
            .alloc_pgtable_page()
            .expect("the page pool has room for the root table");
        FirstLevel {
            variant,
            geo,
            pool,
            pgd,
            page_table_lock: SpinLock::new("page_table_lock"),
            reference: Ghost::new(Reference::default()),
        }
    }

    /// The page pool (for tests).
    pub fn pool(&self) -> &PagePool {
        &self.pool
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
    /// point to a new, zeroed table, unless another thread did so first.
    fn pgtable_populate(&self, frame: u32, slot: usize) -> Result<(), Errno> {
        let entry = self.pool.frame(frame).entry(slot);
        step("populate: alloc_pgtable_page");
        let Some(new) = self.pool.alloc_pgtable_page() else {
            return Err(Errno::ENOMEM);
        };
        let val = pte::mk_table(PagePool::pa_of_frame(new));
        match self.variant {
            Variant::Cmpxchg => {
                // pfn_to_dma_pte: cmpxchg64 is fully ordered, so it also publishes the zeroed
                // page (the role of smp_wmb in the locked version).
                step("populate: cmpxchg the up-level PDE");
                if cmpxchg(entry, 0, val) != 0 {
                    step("populate: lost the race, free our page");
                    self.pool.free_pgtable_page(new);
                }
            }
            Variant::NoLock => {
                smp_wmb();
                step("populate: PDE present? (no lock)");
                if pte::present(read_once(entry)) {
                    self.pool.free_pgtable_page(new);
                } else {
                    write_once(entry, val);
                }
            }
            Variant::Rfc | Variant::NoReclaim | Variant::NoWmb | Variant::EveryLevel => {
                if self.variant != Variant::NoWmb {
                    // Orders the zeroing of the new table before the store that publishes it,
                    // against the walker's address-dependent loads (see __pte_alloc).
                    smp_wmb();
                }
                let lock = spin_lock(&self.page_table_lock);
                step("populate: PDE present? (under page_table_lock)");
                if pte::present(read_once(entry)) {
                    self.pool.free_pgtable_page(new);
                } else {
                    write_once(entry, val);
                }
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
            step(format!("B1 up-level PDE L{level}[{idx}] valid?"));
            let mut v = read_once_dep(entry);
            if !pte::present(v) {
                self.pgtable_populate(table, idx)?;
                v = read_once_dep(entry);
            }
            table = self.frame_of(v);
        }
        let idx = self.geo.index(iova, 1);
        // Record what the leaf will point to before the store that publishes it (see
        // `Reference::ever`).
        self.reference
            .with(|r| r.ever.entry(iova).or_default().insert(pa));
        step(format!("B2 populate the PTE L1[{idx}]"));
        // Leaf PTEs are set without the lock: the IOVA allocator hands out disjoint ranges.
        write_once(self.pool.frame(table).entry(idx), pte::mk_leaf(pa));
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
        match self.variant {
            Variant::NoReclaim => false,
            // dma_pte_clear_level frees a table when the range covers all of it.
            Variant::Cmpxchg => start <= base && base + self.geo.span(level) <= end,
            // The seed's reclaim is in mmunmap_pte_range only: the child is a leaf table
            // when its parent is at level 2.
            Variant::Rfc | Variant::NoWmb | Variant::NoLock => reclaim && level == 2,
            Variant::EveryLevel => reclaim,
        }
    }

    /// `mmunmap_*_range` at `level` for table `frame` covering `base..`: clear `[start, end)`,
    /// collecting freed tables in `freelist`.
    fn mmunmap_range(&self, frame: u32, level: u32, base: u64, u: &Unmap, freelist: &mut Vec<u32>) {
        let (start, end, reclaim) = (u.start, u.end, u.reclaim);
        let span = self.geo.span(level);
        let first = self.geo.index(start.max(base), level);
        let last = self.geo.index(
            (end - 1).min(base + span * self.geo.entries as u64 - 1),
            level,
        );
        for idx in first..=last {
            let entry = self.pool.frame(frame).entry(idx);
            if level == 1 {
                step(format!("clear PTE L1[{idx}]"));
                write_once(entry, 0);
                continue;
            }
            let v = read_once_dep(entry);
            if !pte::present(v) {
                continue;
            }
            let child = self.frame_of(v);
            let child_base = base + idx as u64 * span;
            let reclaim_child = self.may_reclaim(level, child_base, start, end, reclaim);
            if reclaim_child && self.variant == Variant::Cmpxchg {
                // dma_pte_clear_level: a covered table and everything below it goes to the
                // freelist uncleared, then the PDE that pointed to it is cleared.
                step(format!("dma_pte_list_pagetables under L{level}[{idx}]"));
                self.list_pagetables(child, level - 1, freelist);
                step(format!("A2 clear the up-level PDE L{level}[{idx}]"));
                write_once(entry, 0);
                continue;
            }
            self.mmunmap_range(child, level - 1, child_base, u, freelist);
            if !reclaim_child {
                step(format!(
                    "keep the table under L{level}[{idx}] ({})",
                    if self.variant == Variant::Cmpxchg {
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
            step(format!("A1 check all {entries} empty"));
            let table = self.pool.frame(child);
            let empty = (0..table.len()).all(|i| !pte::present(read_once(table.entry(i))));
            if !empty {
                step("A1 not empty: keep the table");
                continue;
            }
            step(format!("A2 clear the up-level PDE L{level}[{idx}]"));
            write_once(entry, 0);
            freelist.push(child);
        }
    }

    /// `dma_pte_list_pagetables`: table `frame` at `level` and every table below it, onto
    /// `freelist`, without clearing them.
    fn list_pagetables(&self, frame: u32, level: u32, freelist: &mut Vec<u32>) {
        freelist.push(frame);
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
        // dma_free_pagelist(freelist). The kernel flushes the IOTLB and paging-structure
        // caches first; the model has no IOMMU caches, so nothing is flushed here.
        for f in freelist {
            step(format!("A3 reclaim the page (frame {f})"));
            self.pool.free_pgtable_page(f);
        }
        self.reference.with(|r| {
            let mut p = iova;
            while p < iova + size {
                r.mapped.remove(&p);
                r.touched.insert(p);
                p += PAGE;
            }
        });
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
        walker::walk(&self.pool, &self.geo, &X86FirstLevel, self.pgd, iova)
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

    /// Final checks against the reference: translations, then teardown and leaks.
    pub fn check_final(&self) {
        let (torn_down, touched, mapped) = self.reference.with(|r| {
            let touched: Vec<u64> = r.touched.iter().copied().collect();
            (r.torn_down, touched, r.mapped.clone())
        });
        if !torn_down {
            step("final check: translations");
            for iova in touched {
                let got = self.iova_to_phys(iova);
                match (mapped.get(&iova), got) {
                    (Some(&pa), Some(g)) if g == pa => {}
                    (Some(&pa), got) => raise(
                        Kind::LostMapping,
                        format!(
                            "map {iova:#x} -> {pa:#x} succeeded and was not unmapped, but {iova:#x} {}",
                            match got {
                                Some(g) => format!("translates to {g:#x}"),
                                None => "does not translate".into(),
                            }
                        ),
                    ),
                    (None, Some(g)) => raise(
                        Kind::StaleTranslation,
                        format!("{iova:#x} is not mapped, but translates to {g:#x}"),
                    ),
                    (None, None) => {}
                }
            }
            self.teardown();
        }
        self.pool.check_no_leak("teardown");
    }
}

impl World for FirstLevel {
    fn run(&self, call: &Call) {
        match call.op {
            "map" => {
                let size = call.arg_or(2, PAGE);
                // An -ENOMEM is a legal outcome; the reference then keeps what was mapped.
                let _ = self.mmmap(call.args[0], call.args[1], size);
            }
            "unmap" => {
                let iova = call.args[0];
                // The RFC's caller passes reclaim = !start_addr ("IOVA 0 is assumed to be
                // reserved by the allocator"); the flag forces reclaim, as teardown paths do.
                let reclaim = call.has("reclaim") || iova == 0;
                self.mmunmap(iova, call.args[1], reclaim);
            }
            "iova_to_phys" => {
                let iova = call.args[0];
                step(format!("iova_to_phys {iova:#x}"));
                if let Some(pa) = self.iova_to_phys(iova) {
                    self.check_reachable(iova, pa);
                }
            }
            "teardown" => self.teardown(),
            "walk" => {
                let iova = call.args[0];
                step(format!("walk {iova:#x}"));
                if let Walk::Pa(pa) = self.walk(iova) {
                    self.check_reachable(iova, pa);
                }
            }
            other => panic!("vtd-first-level has no operation {other:?}"),
        }
    }

    fn finish(&self) {
        self.check_final();
    }
}

impl FirstLevel {
    /// A translation seen while threads run must be to a PA that page was mapped to at some
    /// point of the execution.
    fn check_reachable(&self, iova: u64, pa: u64) {
        let page = iova & !0xfff;
        let ok = self.reference.with(|r| {
            r.ever
                .get(&page)
                .is_some_and(|s| s.contains(&(pa & !0xfff)))
        });
        if !ok {
            raise(
                Kind::StaleTranslation,
                format!("{iova:#x} translates to {pa:#x}, which it was never mapped to"),
            );
        }
    }
}

/// Refuse unaligned ranges, ranges outside the IOVA space, and ranges that two threads
/// touch at once: the IOVA allocator never hands out overlapping ranges, and the RFC sets
/// leaf PTEs without a lock on that promise.
fn validate(
    _variant: &str,
    geo: &Geometry,
    setup: &[Call],
    threads: &[Vec<Call>],
) -> Result<(), Refusal> {
    let space = geo.space();
    let range = |c: &Call| -> Option<(u64, u64)> {
        match c.op {
            "map" => Some((c.args[0], c.arg_or(2, PAGE))),
            "unmap" => Some((c.args[0], c.args[1])),
            "walk" | "iova_to_phys" => Some((c.args[0] & !0xfff, PAGE)),
            _ => None,
        }
    };
    let check = |c: &Call, thread: Option<usize>, op: usize| -> Result<(), Refusal> {
        let refuse = |message: String| Refusal {
            thread,
            op,
            message,
            other: None,
        };
        if c.op == "map" && !c.args[1].is_multiple_of(PAGE) {
            return Err(refuse(format!(
                "PA {:#x} is not page aligned (expected a multiple of 0x1000)",
                c.args[1]
            )));
        }
        if let Some((start, size)) = range(c) {
            if c.op != "walk"
                && c.op != "iova_to_phys"
                && (start % PAGE != 0 || size % PAGE != 0 || size == 0)
            {
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
    for (i, c) in setup.iter().enumerate() {
        check(c, None, i)?;
    }
    for (t, ops) in threads.iter().enumerate() {
        for (i, c) in ops.iter().enumerate() {
            check(c, Some(t), i)?;
        }
    }
    // Writers (map/unmap) of different threads must not overlap each other.
    let writes: Vec<(usize, usize, u64, u64)> = threads
        .iter()
        .enumerate()
        .flat_map(|(t, ops)| {
            ops.iter().enumerate().filter_map(move |(i, c)| match c.op {
                "map" | "unmap" => range(c).map(|(s, n)| (t, i, s, s + n)),
                _ => None,
            })
        })
        .collect();
    for (a, &(ta, ia, sa, ea)) in writes.iter().enumerate() {
        for &(tb, ib, sb, eb) in &writes[a + 1..] {
            if ta != tb && sa < eb && sb < ea {
                return Err(Refusal {
                    thread: Some(tb),
                    op: ib,
                    other: Some((Some(ta), ia)),
                    message: format!(
                        "range {sb:#x}-{:#x} overlaps {sa:#x}-{:#x}: the IOVA allocator never hands out overlapping ranges to two threads",
                        eb - 1,
                        ea - 1
                    ),
                });
            }
        }
    }
    Ok(())
}
