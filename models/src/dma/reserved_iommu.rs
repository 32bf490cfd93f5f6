//! `reserved-iova`: refcounted reserved-IOVA bindings for MSI doorbells.
//!
//! Seed: 001_a9a2ad11b9731478.txt, "[PATCH v6 6/7] dma-reserved-iommu:
//! iommu_get/put_single_reserved" (Eric Auger; Alex Williamson, Jean-Philippe Brucker).
//!
//! Models drivers/iommu/dma-reserved-iommu.c of v6, and Jean-Philippe's proposal (as later
//! merged upstream in spirit): map in a sleepable prepare step (`msi_domain_prepare_irqs`),
//! look up only in the atomic activate step (`msi_domain_activate`), keep pages until the
//! domain is freed.
//!
//! What the seed shows of v6 (its hunk, seed lines 66-153): `delete_reserved_binding` whole
//! (read the cookie, `iova_shift`, `iommu_unmap`, `free_iova`, `kfree`); and
//! `iommu_get_reserved_iova` from its start down to the `iommu_map` call, where the quote
//! ends; of `iommu_free_reserved_iova_domain`, only that it ends by releasing
//! `reserved_lock` (line 71). Inferred, not in the seed, and marked "inferred" where each is
//! modelled: the rest of the get after `iommu_map` (re-lock, look again, insert, or delete
//! `newb`), from the seed's `bool unmap = false;` (line 103) and the commit message's
//! "In case a mapping already exists ... the IOVA mapped to the PA is directly returned"
//! (lines 26-27); `iommu_put_reserved_iova`, from the commit message (lines 32-33: the put
//! drops the count and at zero destroys the mapping and releases the IOVA) and the
//! changelog's spin_lock (line 43); the bodies of `find_reserved_binding` and
//! `iommu_free_reserved_iova_domain`; and the IOVA allocator's bodies (see
//! kernel/iova.rs).
//!
//! Property: the returned IOVA plus the offset translates to the requested PA; at most one
//! binding per aligned PA and size; a binding exists exactly while its refcount is above zero;
//! after every get has been put, no mapping and no IOVA remain; no use-after-free of a binding
//! or of the iova domain; no sleep in atomic context; no deadlock or lock-order inversion.
//!
//! One bad interleaving (variant `v6`, Alex's "we're using iovad outside of the locking"):
//!
//! The lock-order pair is not from the thread: seed 001 has no path that nests the other way.
//! `mask-msi` and `mask-msi-under-lock` add one a reviewer could well write next. Before
//! unmapping the doorbells, `iommu_free_reserved_iova_domain` deactivates the device's
//! MSIs, each under its `irq_desc->lock`. `mask-msi` does it before it takes
//! `reserved_lock`, the order `msi_domain_activate` uses (irq_desc->lock, then
//! reserved_lock); `mask-msi-under-lock` does it while holding `reserved_lock`, the reverse.
//!
//! ```text
//! Thread A (get 0x8000000)                 Thread B (free_domain)
//! iovad = domain->reserved_iova_cookie
//! spin_unlock_irqrestore(reserved_lock)
//!                                          spin_lock_irqsave(reserved_lock)
//!                                          put_iova_domain(iovad); kfree(iovad)
//! alloc_iova(iovad, ...)   <- use-after-free
//! ```

use std::collections::BTreeMap;

use crate::check::{raise, Kind};
use crate::kernel::engine::{thread_index, Ghost, RawAtomic};
use crate::kernel::iommu::{iommu_iova_to_phys, iommu_map, iommu_unmap, IommuDomain};
use crate::kernel::iova::{alloc_iova, free_iova, iova_dma_addr, iova_shift, IovaDomain};

use crate::kernel::{
    kfree, kref_get, kref_init, kref_put, kref_read, kzalloc, mutex_lock, mutex_unlock,
    raw_spin_lock_irqsave, raw_spin_unlock_irqrestore, read_once, spin_lock_irqsave,
    spin_unlock_irqrestore, write_once, Atomic64, Errno, Gfp, KBox, Kref, LockedBy, Mutex, Slab,
    SpinGuard, SpinLock,
};
use crate::registry::{Call, Geometry, ModelSpec, OpSpec, Refusal, VariantSpec, World};
use crate::trace::{checking, step, Obj};

/// The variants of this model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// As posted: `reserved_lock` dropped around `alloc_iova`, `kzalloc(GFP_KERNEL)` and
    /// `iommu_map`; re-locked to insert, taking a binding inserted meanwhile.
    V6,
    /// `GFP_ATOMIC`, as agreed in the thread; `iommu_map` may still sleep.
    V6Atomic,
    /// Jean-Philippe's proposal: map in a sleepable prepare step under a mutex; activate only
    /// looks up; pages stay until the domain is freed.
    Prepare,
    /// Mutant of v6: the put drops `reserved_lock` before `kref_put`, so the release unlinks
    /// the binding after a concurrent get could find it at zero.
    UnlockedRelease,
    /// Mutant of v6: insert without looking again, so two gets of one page make two bindings.
    NoRecheck,
    /// v6 with its re-check path fixed: a get that finds a binding inserted meanwhile undoes
    /// its own mapping and IOVA (v6 deletes `newb` while its fields are still zero).
    UndoNewb,
    /// `prepare`, and freeing the domain first deactivates the device's MSIs, each under its
    /// `irq_desc->lock`, before it takes `reserved_lock`.
    MaskMsi,
    /// Mutant of `mask-msi`: deactivates the MSIs while holding `reserved_lock`, the reverse
    /// of `msi_domain_activate`'s order.
    MaskMsiUnderLock,
    /// Mutant of `mask-msi`: masks only the vectors whose message already reads nonzero,
    /// without their lock, and leaves the others unmasked: an activate just after that read
    /// points its message at a doorbell free_domain then unmaps.
    MaskMsiRacy,
}

impl Variant {
    /// Maps in a prepare step; activate only looks up.
    pub fn prepared(self) -> bool {
        self == Variant::Prepare || self.masks_msis()
    }

    /// Freeing the domain masks the device's MSIs first (`mask-msi*`).
    pub fn masks_msis(self) -> bool {
        matches!(
            self,
            Variant::MaskMsi | Variant::MaskMsiUnderLock | Variant::MaskMsiRacy
        )
    }
}

const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "v6",
        about: "as posted: reserved_lock dropped around alloc_iova, kzalloc(GFP_KERNEL) and iommu_map; iovad read outside the lock; re-lock, recheck, insert",
    },
    VariantSpec {
        name: "v6-atomic",
        about: "v6 with kzalloc(GFP_ATOMIC), as agreed in the thread; iommu_map may still sleep",
    },
    VariantSpec {
        name: "prepare",
        about: "Jean-Philippe's proposal: map in a sleepable prepare step under reserved_mutex; activate only looks up; pages stay until the domain is freed",
    },
    VariantSpec {
        name: "unlocked-release",
        about: "mutant of v6: kref_put outside reserved_lock; the release unlinks the binding later",
    },
    VariantSpec {
        name: "no-recheck",
        about: "mutant of v6: insert the new binding without looking again under the lock",
    },
    VariantSpec {
        name: "undo-newb",
        about: "v6 with the re-check path fixed: undo our own mapping and IOVA when another get inserted first (v6 deletes newb while its fields are still zero)",
    },
    VariantSpec {
        name: "mask-msi",
        about: "prepare, and free_domain first deactivates the device's MSIs, each under irq_desc->lock, then takes reserved_lock",
    },
    VariantSpec {
        name: "mask-msi-racy",
        about: "mutant of mask-msi: masks only the vectors whose message already reads nonzero, so an activate just after that read re-arms one",
    },
    VariantSpec {
        name: "mask-msi-under-lock",
        about: "mutant of mask-msi: deactivates the MSIs while holding reserved_lock, the reverse of msi_domain_activate's order",
    },
];

const OPS: &[OpSpec] = &[
    OpSpec {
        name: "get",
        args: &["PA", "SIZE"],
        optional: 0,
        flags: &["atomic"],
        hardware: false,
        about: "iommu_get_reserved_iova(domain, PA, SIZE); atomic: from msi_domain_activate, under the thread's irq_desc->lock, writing the MSI message",
    },
    OpSpec {
        name: "put",
        args: &["PA", "SIZE"],
        optional: 0,
        flags: &["atomic"],
        hardware: false,
        about: "iommu_put_reserved_iova on the IOVA this thread's get of PA returned; atomic: from msi_domain_deactivate, under the thread's irq_desc->lock",
    },
    OpSpec {
        name: "prepare",
        args: &["PA", "SIZE"],
        optional: 0,
        flags: &[],
        hardware: false,
        about: "variants prepare, mask-msi*: msi_domain_prepare_irqs maps the doorbell (sleepable)",
    },
    OpSpec {
        name: "free_domain",
        args: &[],
        optional: 0,
        flags: &[],
        hardware: false,
        about: "iommu_free_reserved_iova_domain(domain)",
    },
];

/// The model, as the registry lists it.
pub const MODEL: ModelSpec = ModelSpec {
    name: "reserved-iova",
    about: "refcounted reserved-IOVA bindings for MSI doorbells, and the kernel's context checks",
    seed: "001_a9a2ad11b9731478.txt",
    mirrors: "drivers/iommu/dma-reserved-iommu.c (v6, 2016): iommu_get_reserved_iova, iommu_put_reserved_iova, find_reserved_binding, delete_reserved_binding, iommu_free_reserved_iova_domain",
    variants: VARIANTS,
    ops: OPS,
    invariants: &[
        ("lost-mapping", "the returned IOVA plus the offset translates to the requested PA"),
        ("duplicate-binding", "at most one binding per aligned PA and size"),
        ("refcount", "no kref_get from zero, no underflow; a binding's count is the gets not yet put"),
        ("leak", "after every get is put and the domain freed, no binding, IOVA or mapping remains"),
        ("use-after-free", "no use of a freed binding or iova_domain"),
        ("sleep-in-atomic", "no sleeping call under reserved_lock or in msi_domain_activate"),
        ("deadlock", "no realized deadlock"),
        ("lock-order", "no lock-order inversion across executions"),
        ("invariant", "mask-msi*: after free_domain, no MSI message targets the reserved window"),
    ],
    // The reserved window is one table of pages: levels are not used by this model.
    default_geometry: Geometry {
        levels: 2,
        entries: 16,
    },
    validate,
    build,
};

/// `struct iommu_reserved_binding`.
pub struct Binding {
    kref: Kref,
    /// `b->iova`.
    iova: u64,
    /// `b->addr`: the aligned PA.
    addr: u64,
    /// `b->size`.
    size: u64,
}

/// `struct irq_desc` of one of the device's MSI vectors: its lock and the doorbell address
/// its MSI message holds (`msg.address`; 0 while deactivated).
pub struct IrqDesc {
    lock: SpinLock,
    msg: Atomic64,
    /// Masked for teardown (`mask-msi*`): activate leaves it alone. Activate branches on it,
    /// so it is not ghost: it is only reached through a guard of `lock`, which orders the
    /// mask against every activate.
    masked: LockedBy<bool>,
}

/// MSI vectors of the device: thread `t` of a scenario (0 is setup) activates vector `t`.
pub const MSI_VECTORS: usize = 5;

/// Base IOVA of the reserved window (`iommu_alloc_reserved_iova_domain`).
pub const WINDOW_BASE: u64 = 0x800_0000;
const SHIFT: u32 = 12;

/// The scenario's bookkeeping of gets and puts (not kernel state).
///
/// What may stay ghost here, and why: `outstanding` and `freed` are only read by the final
/// check, after every thread joined; threads only add to and subtract from the counts (which
/// commute) and set `freed` (idempotent), so what the check reads does not depend on the
/// order of those writes. `returned` is branched on by `put` (is there an IOVA to put?), but
/// a thread reaches only the entries keyed by its own index, so each list is a local
/// variable of one thread. The IOVAs the setup's gets returned are handed to whichever thread
/// puts first: that race decides a thread's path, so it is decided by engine words
/// ([`Handed`]).
#[derive(Default)]
struct Reference {
    /// (aligned PA, size) -> gets not yet put.
    outstanding: BTreeMap<(u64, u64), u64>,
    /// (thread, aligned PA, size) -> IOVAs the gets of a scenario thread returned, not yet
    /// put. invariant: thread `t`'s entries are touched only by thread `t`.
    returned: BTreeMap<(usize, u64, u64), Vec<u64>>,
    /// Set once the domain was freed.
    freed: bool,
}

/// The IOVAs the setup's gets of one (aligned PA, size) returned and did not put, handed to
/// the threads: the list is fixed before the threads start; which thread takes which is an
/// engine word, one per PA, so takes of different PAs stay independent.
struct Handed {
    /// Pushed and popped by the setup's own gets and puts; read-only once threads run.
    iovas: Ghost<Vec<u64>>,
    /// How many the threads took (a take past the end finds none).
    taken: RawAtomic,
}

impl Handed {
    /// A thread's take of one of the setup's IOVAs, last returned first.
    fn take(&self) -> Option<u64> {
        let n = self
            .taken
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed) as usize;
        self.iovas
            .with(|v| v.len().checked_sub(n + 1).map(|i| v[i]))
    }
}

/// The domain with its reserved IOVA domain and bindings.
pub struct ReservedIova {
    variant: Variant,
    domain: IommuDomain,
    /// `domain->reserved_lock`: protects the binding tree and the cookie.
    reserved_lock: SpinLock,
    /// `prepare`: serialises the sleepable prepare step and the domain's release.
    reserved_mutex: Mutex,
    /// `domain->reserved_iova_cookie`: the pointer, [`IOVAD_PTR`] or NULL. The word is all
    /// the state there is: the object it points to is `iovad`, whose own shadow says
    /// whether it was freed.
    cookie: Atomic64,
    /// The `iova_domain` object (its memory, never replaced; not state).
    iovad: KBox<IovaDomain>,
    /// The device's MSI vectors, by scenario thread.
    irqs: Vec<IrqDesc>,
    /// `domain->reserved_binding_list`: an rb-tree in the kernel, under `reserved_lock`.
    /// Gets and puts branch on what they find in it; it is reachable only through a guard of
    /// `reserved_lock`, which orders every search against every insert and unlink.
    bindings: LockedBy<Vec<KBox<Binding>>>,
    iovad_cache: Slab,
    binding_cache: Slab,
    reference: Ghost<Reference>,
    /// The setup's references, once the threads start: (aligned PA, size) -> IOVAs. The map
    /// is built by the setup thread, before any scenario thread runs.
    handed: Ghost<BTreeMap<(u64, u64), std::sync::Arc<Handed>>>,
}

/// The value of `domain->reserved_iova_cookie` while it points to the iova_domain: the
/// model's address of that object (any nonzero value would do; a short one keeps traces
/// readable).
const IOVAD_PTR: u64 = 0x1;

fn parse_variant(name: &str) -> Variant {
    match name {
        "v6" => Variant::V6,
        "v6-atomic" => Variant::V6Atomic,
        "prepare" => Variant::Prepare,
        "unlocked-release" => Variant::UnlockedRelease,
        "no-recheck" => Variant::NoRecheck,
        "undo-newb" => Variant::UndoNewb,
        "mask-msi" => Variant::MaskMsi,
        "mask-msi-under-lock" => Variant::MaskMsiUnderLock,
        "mask-msi-racy" => Variant::MaskMsiRacy,
        other => panic!("reserved-iova has no variant {other:?}"),
    }
}

fn build(variant: &str, geo: &Geometry) -> Box<dyn World> {
    Box::new(ReservedIova::new(parse_variant(variant), geo.entries))
}

/// Binding page arithmetic of `iommu_get_reserved_iova` for an IOMMU page of `1 << order`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// `base_pfn = addr >> order`.
    pub base_pfn: u64,
    /// `end_pfn = (addr + size - 1) >> order`.
    pub end_pfn: u64,
    /// `nb_iommu_pages = end_pfn - base_pfn + 1`.
    pub nb_iommu_pages: u64,
    /// `aligned_base = base_pfn << order`.
    pub aligned_base: u64,
    /// `offset = addr - aligned_base`.
    pub offset: u64,
    /// `binding_size = nb_iommu_pages * iommu_page_size`.
    pub binding_size: u64,
}

impl Span {
    /// The arithmetic, as v6 writes it. `size` must be nonzero.
    pub fn of(addr: u64, size: u64, order: u32) -> Span {
        let base_pfn = addr >> order;
        let end_pfn = (addr + size - 1) >> order;
        let nb_iommu_pages = end_pfn - base_pfn + 1;
        let aligned_base = base_pfn << order;
        Span {
            base_pfn,
            end_pfn,
            nb_iommu_pages,
            aligned_base,
            offset: addr - aligned_base,
            binding_size: nb_iommu_pages << order,
        }
    }
}

impl ReservedIova {
    /// A domain with a reserved window of `pages` IOMMU pages
    /// (`iommu_alloc_reserved_iova_domain`).
    pub fn new(variant: Variant, pages: u32) -> Self {
        let iovad_cache = Slab::new("iova_domain");
        let base_pfn = WINDOW_BASE >> SHIFT;
        let iovad = kzalloc(&iovad_cache, Gfp::Kernel, |obj, shadow| {
            IovaDomain::new(obj, shadow, SHIFT, base_pfn, base_pfn + pages as u64 - 1)
        })
        .expect("the first allocation does not fail");
        let reserved_lock = SpinLock::new("reserved_lock");
        ReservedIova {
            variant,
            domain: IommuDomain::new(WINDOW_BASE, pages, SHIFT),
            bindings: LockedBy::new(&reserved_lock, Vec::new()),
            reserved_lock,
            reserved_mutex: Mutex::new("reserved_mutex"),
            cookie: Atomic64::new(Obj::Named("reserved_iova_cookie"), IOVAD_PTR),
            iovad,
            irqs: (0..MSI_VECTORS)
                .map(|vector| {
                    let lock = SpinLock::new("irq_desc->lock");
                    IrqDesc {
                        masked: LockedBy::new(&lock, false),
                        lock,
                        msg: Atomic64::new(
                            Obj::Object {
                                class: "msi_msg of vector",
                                id: vector as u32,
                            },
                            0,
                        ),
                    }
                })
                .collect(),
            iovad_cache,
            binding_cache: Slab::new("binding"),
            reference: Ghost::new(Reference::default()),
            handed: Ghost::new(BTreeMap::new()),
        }
    }

    /// `(struct iova_domain *)domain->reserved_iova_cookie`: a plain read of the pointer.
    fn iovad(&self) -> Option<KBox<IovaDomain>> {
        match read_once(&self.cookie) {
            0 => None,
            IOVAD_PTR => Some(self.iovad.clone()),
            other => raise(
                Kind::Invariant,
                format!("reserved_iova_cookie holds {other:#x}, which is no iova_domain"),
            ),
        }
    }

    /// `find_reserved_binding(domain, addr, size)`; caller holds `reserved_lock` (`g`).
    fn find_reserved_binding(
        &self,
        g: &SpinGuard<'_>,
        addr: u64,
        size: u64,
    ) -> Option<KBox<Binding>> {
        self.bindings.access(g, |bs| {
            bs.iter()
                .find(|b| {
                    let v = b.get();
                    v.addr < addr + size && addr < v.addr + v.size
                })
                .cloned()
        })
    }

    fn find_by_iova(&self, g: &SpinGuard<'_>, iova: u64) -> Option<KBox<Binding>> {
        self.bindings.access(g, |bs| {
            bs.iter()
                .find(|b| {
                    let v = b.get();
                    v.iova <= iova && iova < v.iova + v.size
                })
                .cloned()
        })
    }

    fn link(&self, g: &SpinGuard<'_>, b: &KBox<Binding>) {
        let (addr, size) = (b.get().addr, b.get().size);
        let dup = self.bindings.access(g, |bs| {
            let dup = bs
                .iter()
                .any(|o| o.get().addr == addr && o.get().size == size);
            bs.push(b.clone());
            dup
        });
        if dup {
            raise(
                Kind::DuplicateBinding,
                format!("a second binding of PA {addr:#x}+{size:#x} was inserted"),
            );
        }
    }

    fn unlink(&self, g: &SpinGuard<'_>, b: &KBox<Binding>) {
        self.bindings.access(g, |bs| bs.retain(|o| !o.same(b)));
    }

    /// The cookie, read where the code goes on to dereference it without a NULL check. The
    /// model has no NULL-dereference kind: the cookie is NULL only once the domain freed its
    /// iova_domain (`free_domain_prepared`), so using it is a use of a freed iova_domain.
    fn iovad_used(&self, site: &str) -> KBox<IovaDomain> {
        self.iovad().unwrap_or_else(|| {
            raise(
                Kind::UseAfterFree,
                format!("{site} dereferences reserved_iova_cookie, which is NULL: the iova_domain was freed"),
            )
        })
    }

    /// `delete_reserved_binding(domain, b)` (seed lines 75-85): read the cookie and its
    /// shift, unmap, free the IOVA, free the binding.
    fn delete_reserved_binding(&self, b: &KBox<Binding>) {
        self.delete_fields(b.get().iova, b.get().size, b);
    }

    /// `delete_reserved_binding` of a binding whose `b->iova` and `b->size` read `iova`
    /// and `size`, in the seed's order: the shift is read (a dereference of the cookie)
    /// before `iommu_unmap`.
    fn delete_fields(&self, iova: u64, size: u64, b: &KBox<Binding>) {
        step("delete_reserved_binding: iovad = reserved_iova_cookie, iova_shift(iovad)");
        let iovad = self.iovad_used("delete_reserved_binding");
        let order = iova_shift(iovad.get());
        step("delete_reserved_binding: iommu_unmap, free_iova, kfree");
        iommu_unmap(&self.domain, iova, size);
        free_iova(iovad.get(), iova >> order);
        kfree(b);
    }

    /// `iommu_get_reserved_iova(domain, addr, size, prot, &iova)` of v6 and its mutants.
    fn get_v6(&self, addr: u64, size: u64) -> Result<u64, Errno> {
        // v6 read the cookie and its shift before the !iovad check (Jean-Philippe's nit);
        // the model checks first, as he asked, to study the lock rather than a NULL deref.
        step("get: iovad = reserved_iova_cookie, iova_shift(iovad)");
        let Some(iovad) = self.iovad() else {
            return Err(Errno::EINVAL);
        };
        let sp = Span::of(addr, size, iova_shift(iovad.get()));

        step("get: find_reserved_binding");
        let g = spin_lock_irqsave(&self.reserved_lock);
        if let Some(b) = self.find_reserved_binding(&g, sp.aligned_base, sp.binding_size) {
            step("get: found, kref_get");
            kref_get(&b.get().kref);
            let iova = b.get().iova + sp.offset;
            self.check_translates(iova, addr);
            spin_unlock_irqrestore(g);
            return Ok(iova);
        }
        spin_unlock_irqrestore(g);

        // "no reserved IOVA was found for this PA, start allocating and registering one
        // while the spin-lock is not held" -- and with iovad read outside the lock.
        step("get: alloc_iova with reserved_lock dropped");
        let Some(p_iova) = alloc_iova(
            iovad.get(),
            sp.nb_iommu_pages,
            iovad.get().dma_32bit_pfn,
            true,
        ) else {
            return Err(Errno::ENOMEM);
        };
        step("get: iova_dma_addr(iovad, p_iova)");
        let iova = iova_dma_addr(iovad.get(), &p_iova);
        let gfp = if self.variant == Variant::V6Atomic {
            Gfp::Atomic
        } else {
            Gfp::Kernel
        };
        step("get: kzalloc the new binding");
        let newb = match kzalloc(&self.binding_cache, gfp, |obj, shadow| Binding {
            kref: kref_init(obj, shadow),
            iova,
            addr: sp.aligned_base,
            size: sp.binding_size,
        }) {
            Ok(b) => b,
            Err(e) => {
                free_iova(iovad.get(), p_iova.pfn_lo);
                return Err(e);
            }
        };
        step("get: iommu_map");
        if let Err(e) = iommu_map(&self.domain, iova, sp.aligned_base, sp.binding_size) {
            free_iova(iovad.get(), p_iova.pfn_lo);
            kfree(&newb);
            return Err(e);
        }

        // Inferred, not in the seed (its quote ends at iommu_map, line 153): re-take
        // reserved_lock, look again, and insert newb or take the binding another get
        // inserted meanwhile (the commit message, lines 26-27: an existing mapping is
        // returned), from the seed's `bool unmap = false;` (line 103), as v6 goes on.
        step("get: re-lock and insert");
        let g = spin_lock_irqsave(&self.reserved_lock);
        let existing = if self.variant == Variant::NoRecheck {
            None
        } else {
            self.find_reserved_binding(&g, sp.aligned_base, sp.binding_size)
        };
        let out = match &existing {
            Some(b) => {
                step("get: another thread inserted one meanwhile: take it");
                kref_get(&b.get().kref);
                b.get().iova + sp.offset
            }
            None => {
                self.link(&g, &newb);
                iova + sp.offset
            }
        };
        self.check_translates(out, addr);
        spin_unlock_irqrestore(g);
        if existing.is_some() {
            if self.variant == Variant::UndoNewb {
                step("get: undo our own mapping and IOVA, free newb");
                iommu_unmap(&self.domain, iova, sp.binding_size);
                free_iova(iovad.get(), p_iova.pfn_lo);
                kfree(&newb);
            } else {
                // Inferred, not in the seed: v6 ends with `if (unmap)
                // delete_reserved_binding(domain, newb);`, the use of the seed's `unmap`
                // flag (line 103). The seed sets no field of newb between its kzalloc (line
                // 146) and iommu_map (line 153); inferred further that they are filled only
                // on the insert path, so here they are still kzalloc's zeros:
                // iommu_unmap(domain, 0, 0) and free_iova(iovad, 0) do nothing, and the
                // mapping and IOVA this get made are leaked.
                step("get: delete_reserved_binding(domain, newb), newb->iova and ->size still 0");
                self.delete_fields(0, 0, &newb);
            }
        }
        Ok(out)
    }

    /// `iommu_put_reserved_iova(domain, iova)` of v6 and its mutants. Inferred, not in the
    /// seed: its commit message says the put drops the binding's count and at zero destroys
    /// the mapping and releases the IOVA (lines 32-33), and the changelog that v6 locks with
    /// a spinlock (line 43); the steps below are the model's reading of v6 as posted.
    fn put_v6(&self, iova: u64) {
        // Inferred: the shift and the PA are read outside the lock (iovad may be freed
        // meanwhile), and the binding is looked up by the PA of the IOVA's page.
        step("put: iova_shift(iovad), iommu_iova_to_phys outside the lock");
        let Some(iovad) = self.iovad() else {
            return;
        };
        let page_size = 1u64 << iova_shift(iovad.get());
        let aligned_iova = iova & !(page_size - 1);
        let aligned_addr = iommu_iova_to_phys(&self.domain, aligned_iova).unwrap_or(0);
        step("put: find_reserved_binding");
        let g = spin_lock_irqsave(&self.reserved_lock);
        let Some(b) = self.find_reserved_binding(&g, aligned_addr, page_size) else {
            spin_unlock_irqrestore(g);
            return;
        };
        let released = if self.variant == Variant::UnlockedRelease {
            spin_unlock_irqrestore(g);
            step("put: kref_put outside reserved_lock");
            kref_put(&b.get().kref, || {
                step("release: re-lock, unlink");
                let g = spin_lock_irqsave(&self.reserved_lock);
                self.unlink(&g, &b);
                spin_unlock_irqrestore(g);
            })
        } else {
            step("put: kref_put under reserved_lock");
            let r = kref_put(&b.get().kref, || {
                step("release: unlink");
                self.unlink(&g, &b);
            });
            spin_unlock_irqrestore(g);
            r
        };
        if released {
            self.delete_reserved_binding(&b);
        }
    }

    /// `prepare`: `msi_domain_prepare_irqs` maps the doorbell in a sleepable context.
    fn prepare(&self, addr: u64, size: u64) -> Result<(), Errno> {
        let m = mutex_lock(&self.reserved_mutex);
        let r = (|| {
            let iovad = self.iovad().ok_or(Errno::EINVAL)?;
            let sp = Span::of(addr, size, iovad.get().shift);
            let g = spin_lock_irqsave(&self.reserved_lock);
            let found = self.find_reserved_binding(&g, sp.aligned_base, sp.binding_size);
            spin_unlock_irqrestore(g);
            if found.is_some() {
                return Ok(());
            }
            step("prepare: alloc_iova, kzalloc(GFP_KERNEL), iommu_map (may sleep)");
            let p_iova = alloc_iova(
                iovad.get(),
                sp.nb_iommu_pages,
                iovad.get().dma_32bit_pfn,
                true,
            )
            .ok_or(Errno::ENOMEM)?;
            let iova = iova_dma_addr(iovad.get(), &p_iova);
            let newb = kzalloc(&self.binding_cache, Gfp::Kernel, |obj, shadow| Binding {
                kref: kref_init(obj, shadow),
                iova,
                addr: sp.aligned_base,
                size: sp.binding_size,
            })
            .inspect_err(|_| free_iova(iovad.get(), p_iova.pfn_lo))?;
            iommu_map(&self.domain, iova, sp.aligned_base, sp.binding_size)?;
            let g = spin_lock_irqsave(&self.reserved_lock);
            self.link(&g, &newb);
            spin_unlock_irqrestore(g);
            // The prepare step holds no reference: the binding lives until the domain goes.
            Ok(())
        })();
        mutex_unlock(m);
        r
    }

    /// `prepare`: the activate step only looks the binding up.
    fn get_prepared(&self, addr: u64, size: u64) -> Result<u64, Errno> {
        step("activate: look the binding up");
        let sp = Span::of(addr, size, SHIFT);
        let g = spin_lock_irqsave(&self.reserved_lock);
        let r = match self.find_reserved_binding(&g, sp.aligned_base, sp.binding_size) {
            Some(b) => {
                kref_get(&b.get().kref);
                let iova = b.get().iova + sp.offset;
                self.check_translates(iova, addr);
                Ok(iova)
            }
            None => Err(Errno::ENOENT),
        };
        spin_unlock_irqrestore(g);
        r
    }

    fn put_prepared(&self, iova: u64) {
        let g = spin_lock_irqsave(&self.reserved_lock);
        if let Some(b) = self.find_by_iova(&g, iova) {
            // The prepare step's own reference (the count's initial 1) keeps it above zero.
            kref_put(&b.get().kref, || {
                raise(
                    Kind::Refcount,
                    "a prepared binding's count reached zero before the domain was freed",
                )
            });
        }
        spin_unlock_irqrestore(g);
    }

    /// `iommu_free_reserved_iova_domain(domain)`.
    fn free_domain(&self) {
        if self.variant.prepared() {
            self.free_domain_prepared();
        } else {
            self.free_domain_v6();
        }
        self.reference.with(|r| r.freed = true);
    }

    /// v6. The seed shows only that the function ends by releasing `reserved_lock` (line
    /// 71). Inferred, not in the seed: the cookie is read outside the lock, the iova_domain
    /// freed under it, and bindings and mappings are not touched; and the model leaves the
    /// cookie pointing at the freed object. Whether v6 cleared the cookie does not decide
    /// get-vs-free-domain-v6: its get read the cookie before the free, and uses that copy.
    fn free_domain_v6(&self) {
        step("free_domain: put_iova_domain, kfree(iovad)");
        if let Some(iovad) = self.iovad() {
            let g = spin_lock_irqsave(&self.reserved_lock);
            kfree(&iovad);
            spin_unlock_irqrestore(g);
        }
    }

    /// `prepare` and `mask-msi*`: under `reserved_mutex`, (mask the MSIs,) unlink every
    /// binding under the lock, delete them, then free the iova_domain and clear the cookie.
    fn free_domain_prepared(&self) {
        let m = mutex_lock(&self.reserved_mutex);
        if matches!(self.variant, Variant::MaskMsi | Variant::MaskMsiRacy) {
            self.mask_msis();
        }
        step("free_domain: unlink every binding, then delete them");
        let g = spin_lock_irqsave(&self.reserved_lock);
        if self.variant == Variant::MaskMsiUnderLock {
            self.mask_msis();
        }
        let all = self.bindings.access(&g, std::mem::take);
        spin_unlock_irqrestore(g);
        for b in &all {
            self.delete_reserved_binding(b);
        }
        step("free_domain: put_iova_domain, kfree(iovad)");
        let g = spin_lock_irqsave(&self.reserved_lock);
        if let Some(iovad) = self.iovad() {
            write_once(&self.cookie, 0);
            kfree(&iovad);
        }
        spin_unlock_irqrestore(g);
        mutex_unlock(m);
    }

    /// `mask-msi*`: before the doorbells are unmapped, mask every MSI of the device
    /// (for_each_msi_entry), each under its `irq_desc->lock`: clear its message and leave
    /// it masked, so that no activate can point it at a reserved IOVA again.
    fn mask_msis(&self) {
        for desc in &self.irqs {
            if self.variant == Variant::MaskMsiRacy && read_once(&desc.msg) == 0 {
                continue;
            }
            step("free_domain: mask an MSI");
            let g = raw_spin_lock_irqsave(&desc.lock);
            desc.masked.access(&g, |m| *m = true);
            write_once(&desc.msg, 0);
            raw_spin_unlock_irqrestore(g);
        }
    }

    /// `mask-msi*`, after the domain is freed: no MSI message still targets the reserved
    /// window, where the device's next MSI write would fault.
    fn check_msis_masked(&self) {
        for (vector, desc) in self.irqs.iter().enumerate() {
            let iova = checking(|| read_once(&desc.msg));
            if iova != 0 {
                raise(
                    Kind::Invariant,
                    format!(
                        "MSI vector {vector} still targets IOVA {iova:#x} after free_domain unmapped the doorbells"
                    ),
                );
            }
        }
    }

    /// The `irq_desc` of the calling thread's MSI vector.
    fn irq_desc(&self) -> &IrqDesc {
        let me = thread_index();
        self.irqs.get(me).unwrap_or_else(|| {
            panic!("thread {me} has no MSI vector; the device has {MSI_VECTORS}")
        })
    }

    /// `msi_domain_activate`: under the vector's `irq_desc->lock`, get the doorbell's IOVA
    /// and write it into the MSI message.
    fn msi_domain_activate(&self, addr: u64, size: u64) {
        let desc = self.irq_desc();
        step("msi_domain_activate");
        let g = raw_spin_lock_irqsave(&desc.lock);
        if desc.masked.access(&g, |m| *m) {
            step("msi_domain_activate: masked for teardown, nothing to do");
        } else if let Some(iova) = self.run_get(addr, size) {
            write_once(&desc.msg, iova);
        }
        raw_spin_unlock_irqrestore(g);
    }

    /// `msi_domain_deactivate`: under the vector's `irq_desc->lock`, clear the MSI message
    /// and put the doorbell's IOVA.
    fn msi_domain_deactivate(&self, addr: u64, size: u64) {
        let desc = self.irq_desc();
        step("msi_domain_deactivate");
        let g = raw_spin_lock_irqsave(&desc.lock);
        write_once(&desc.msg, 0);
        self.run_put(addr, size);
        raw_spin_unlock_irqrestore(g);
    }

    fn get(&self, addr: u64, size: u64) -> Result<u64, Errno> {
        if self.variant.prepared() {
            self.get_prepared(addr, size)
        } else {
            self.get_v6(addr, size)
        }
    }

    /// The IOVA a get returns, plus the offset, translates to the requested PA. Checked under
    /// `reserved_lock`, where the get takes effect.
    fn check_translates(&self, iova: u64, addr: u64) {
        match checking(|| iommu_iova_to_phys(&self.domain, iova)) {
            Some(pa) if pa == addr => {}
            got => raise(
                Kind::LostMapping,
                format!(
                    "get of PA {addr:#x} returns IOVA {iova:#x}, which {}",
                    match got {
                        Some(pa) => format!("translates to {pa:#x}"),
                        None => "does not translate".into(),
                    }
                ),
            ),
        }
    }

    /// The setup's list of IOVAs of `key` (made by the setup thread, before the threads).
    fn handed(&self, key: (u64, u64)) -> std::sync::Arc<Handed> {
        self.handed.with(|h| {
            h.entry(key)
                .or_insert_with(|| {
                    std::sync::Arc::new(Handed {
                        iovas: Ghost::new(Vec::new()),
                        taken: RawAtomic::new(0),
                    })
                })
                .clone()
        })
    }

    /// A get, and the reference's record of it; the IOVA it returned.
    fn run_get(&self, addr: u64, size: u64) -> Option<u64> {
        let iova = self.get(addr, size).ok()?;
        let sp = Span::of(addr, size, SHIFT);
        let key = (sp.aligned_base, sp.binding_size);
        let me = thread_index();
        if me == 0 {
            self.handed(key).iovas.with(|v| v.push(iova));
        }
        self.reference.with(|r| {
            *r.outstanding.entry(key).or_default() += 1;
            if me != 0 {
                r.returned.entry((me, key.0, key.1)).or_default().push(iova);
            }
        });
        Some(iova)
    }

    fn run_put(&self, addr: u64, size: u64) {
        let sp = Span::of(addr, size, SHIFT);
        let key = (sp.aligned_base, sp.binding_size);
        let me = thread_index();
        // This thread's own reference first, else one the setup took, handed to whichever
        // thread asks first (an engine word decides which).
        let own = self.reference.with(|r| {
            r.returned
                .get_mut(&(me, key.0, key.1))
                .and_then(|v| v.pop())
        });
        let iova = match own {
            Some(iova) => Some(iova),
            None if me == 0 => self.handed(key).iovas.with(|v| v.pop()),
            None => self
                .handed
                .with(|h| h.get(&key).cloned())
                .and_then(|h| h.take()),
        };
        let Some(iova) = iova else {
            step(
                "put: this thread holds no IOVA for that PA (its get failed, or another thread \
                 took the setup's): nothing to put",
            );
            return;
        };
        if self.variant.prepared() {
            self.put_prepared(iova)
        } else {
            self.put_v6(iova)
        }
        self.reference.with(|r| {
            if let Some(n) = r.outstanding.get_mut(&(sp.aligned_base, sp.binding_size)) {
                *n -= 1;
            }
        });
    }

    /// After the threads: every binding's count is the references held; once every get is
    /// put nothing remains mapped or allocated; teardown frees the domain; no object leaks.
    fn check_final(&self) {
        let (freed, outstanding) = self.reference.with(|r| (r.freed, r.outstanding.clone()));
        let all_put = outstanding.values().all(|&n| n == 0);
        if !freed {
            step("final check: bindings against the references held");
            // A prepared binding also holds the prepare step's own reference.
            let base = u64::from(self.variant.prepared());
            let g = spin_lock_irqsave(&self.reserved_lock);
            let bindings = self.bindings.access(&g, |b| b.clone());
            spin_unlock_irqrestore(g);
            for b in &bindings {
                let v = b.get();
                let want = outstanding.get(&(v.addr, v.size)).copied().unwrap_or(0) + base;
                let have = kref_read(&v.kref);
                if have != want {
                    raise(
                        Kind::Refcount,
                        format!(
                            "binding of PA {:#x}+{:#x} has refcount {have}, but {want} reference(s) are held",
                            v.addr, v.size
                        ),
                    );
                }
            }
            if all_put && !self.variant.prepared() {
                let mapped = self.domain.mapped().len();
                let iovas = self.iovad().map_or(0, |i| i.get().allocated().len());
                if mapped + iovas + bindings.len() > 0 {
                    raise(
                        Kind::Leak,
                        format!(
                            "every get was put, but {mapped} mapping(s), {iovas} IOVA range(s) and {} binding(s) remain",
                            bindings.len()
                        ),
                    );
                }
            }
            if all_put {
                self.free_domain();
            }
        }
        if all_put {
            self.binding_cache
                .check_no_leak("every get was put and the domain freed");
        }
        if self.reference.with(|r| r.freed) {
            self.iovad_cache.check_no_leak("the domain was freed");
            if self.variant.masks_msis() {
                self.check_msis_masked();
            }
        }
    }
}

impl World for ReservedIova {
    fn run(&self, call: &Call) {
        match call.op {
            "get" if call.has("atomic") => self.msi_domain_activate(call.args[0], call.args[1]),
            "get" => {
                let _ = self.run_get(call.args[0], call.args[1]);
            }
            "put" if call.has("atomic") => self.msi_domain_deactivate(call.args[0], call.args[1]),
            "put" => self.run_put(call.args[0], call.args[1]),
            "prepare" => {
                let _ = self.prepare(call.args[0], call.args[1]);
            }
            "free_domain" => self.free_domain(),
            other => panic!("reserved-iova has no operation {other:?}"),
        }
    }

    fn finish(&self) {
        self.check_final();
    }
}

fn validate(
    variant: &str,
    geo: &Geometry,
    setup: &[Call],
    threads: &[Vec<Call>],
) -> Result<(), Refusal> {
    let all = setup.iter().enumerate().map(|(i, c)| (None, i, c)).chain(
        threads
            .iter()
            .enumerate()
            .flat_map(|(t, ops)| ops.iter().enumerate().map(move |(i, c)| (Some(t), i, c))),
    );
    for (thread, op, c) in all {
        let refuse = |message: String| {
            Err(Refusal {
                thread,
                op,
                message,
                other: None,
            })
        };
        if c.op == "prepare" && !parse_variant(variant).prepared() {
            return refuse(format!(
                "variant {variant} has no prepare step; expected variant \"prepare\" or one of the mask-msi* variants"
            ));
        }
        if matches!(c.op, "get" | "put" | "prepare") {
            let (addr, size) = (c.args[0], c.args[1]);
            if size == 0 {
                return refuse("SIZE is 0; expected at least 1 byte".into());
            }
            let sp = Span::of(addr, size, SHIFT);
            if sp.nb_iommu_pages > geo.entries as u64 {
                return refuse(format!(
                    "PA {addr:#x}+{size:#x} needs {} IOMMU pages, more than the reserved window's {}",
                    sp.nb_iommu_pages, geo.entries
                ));
            }
        }
    }
    Ok(())
}
