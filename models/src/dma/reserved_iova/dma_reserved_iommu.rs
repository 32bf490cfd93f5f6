//! The algorithm, line for line: drivers/iommu/dma-reserved-iommu.c of v6, and
//! Jean-Philippe's prepare/activate split. What the seed shows and what is inferred: see the
//! module doc.

use std::collections::BTreeMap;

use super::reference::{Handed, Reference};
use super::spec::{Flow, Lookup, MaskMsis, Matching, Mechanics, Recheck, Release, Variant};
use crate::check::{raise, Kind};
use crate::engine::{thread_index, Ghost};
use crate::kernel::iommu::{iommu_iova_to_phys, iommu_map, iommu_unmap, IommuDomain};
use crate::kernel::iova::{alloc_iova, free_iova, iova_dma_addr, iova_shift, IovaDomain};

use crate::kernel::{
    kfree, kref_get, kref_init, kref_put, kzalloc, mutex_lock, mutex_unlock, raw_spin_lock_irqsave,
    raw_spin_unlock_irqrestore, read_once, spin_lock_irqsave, spin_unlock_irqrestore, write_once,
    Atomic64, Errno, Gfp, KBox, Kref, LockedBy, Mutex, Slab, SpinGuard, SpinLock,
};
use crate::trace::{key_step, step, Obj};

/// `struct iommu_reserved_binding`.
pub struct Binding {
    pub(super) kref: Kref,
    /// `b->iova`.
    pub(super) iova: u64,
    /// `b->addr`: the aligned PA.
    pub(super) addr: u64,
    /// `b->size`.
    pub(super) size: u64,
}

/// `struct irq_desc` of one of the device's MSI vectors: its lock and the doorbell address
/// its MSI message holds (`msg.address`; 0 while deactivated).
pub struct IrqDesc {
    pub(super) lock: SpinLock,
    pub(super) msg: Atomic64,
    /// `prepare-desc`: the IOVA prepare stored in the vector's `msi_desc` (upstream's
    /// `msi_desc_set_iommu_cookie`); 0 until prepared. Activate branches on it.
    pub(super) iova: Atomic64,
    /// Masked for teardown (`mask-msi*`): activate leaves it alone. Activate branches on it,
    /// so it is not ghost: it is only reached through a guard of `lock`, which orders the
    /// mask against every activate.
    pub(super) masked: LockedBy<bool>,
}

/// MSI vectors of the device: thread `t` of a scenario (0 is setup) activates vector `t`.
pub const MSI_VECTORS: usize = 5;

/// Base IOVA of the reserved window (`iommu_alloc_reserved_iova_domain`).
pub const WINDOW_BASE: u64 = 0x800_0000;
/// Page shift of the IOMMU (4 KiB pages).
pub(super) const SHIFT: u32 = 12;

/// The domain with its reserved IOVA domain and bindings.
pub struct ReservedIova {
    /// The variant's mechanisms.
    pub(super) mech: Mechanics,
    pub(super) domain: IommuDomain,
    /// `domain->reserved_lock`: protects the binding tree and the cookie.
    pub(super) reserved_lock: SpinLock,
    /// `prepare`: serialises the sleepable prepare step and the domain's release.
    pub(super) reserved_mutex: Mutex,
    /// `domain->reserved_iova_cookie`: the pointer, [`IOVAD_PTR`] or NULL. The word is all
    /// the state there is: the object it points to is `iovad`, whose own shadow says
    /// whether it was freed.
    pub(super) cookie: Atomic64,
    /// The `iova_domain` object (its memory, never replaced; not state).
    pub(super) iovad: KBox<IovaDomain>,
    /// The device's MSI vectors, by scenario thread.
    pub(super) irqs: Vec<IrqDesc>,
    /// `domain->reserved_binding_list`: an rb-tree in the kernel, under `reserved_lock`.
    /// Gets and puts branch on what they find in it; it is reachable only through a guard of
    /// `reserved_lock`, which orders every search against every insert and unlink.
    pub(super) bindings: LockedBy<Vec<KBox<Binding>>>,
    pub(super) iovad_cache: Slab,
    pub(super) binding_cache: Slab,
    pub(super) reference: Ghost<Reference>,
    /// The setup's references, once the threads start: (aligned PA, size) -> IOVAs. The map
    /// is built by the setup thread, before any scenario thread runs.
    pub(super) handed: Ghost<BTreeMap<(u64, u64), std::sync::Arc<Handed>>>,
}

/// The value of `domain->reserved_iova_cookie` while it points to the iova_domain: the
/// model's address of that object (any nonzero value would do; a short one keeps traces
/// readable).
const IOVAD_PTR: u64 = 0x1;

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
            mech: variant.mechanics(),
            domain: IommuDomain::new(WINDOW_BASE, pages, SHIFT),
            bindings: LockedBy::new(&reserved_lock, Vec::new()),
            reserved_lock,
            reserved_mutex: Mutex::new("reserved_mutex"),
            cookie: Atomic64::new(Obj::Named("reserved_iova_cookie"), IOVAD_PTR),
            iovad,
            irqs: (0..MSI_VECTORS)
                .map(|vector| {
                    let lock = SpinLock::new_raw("irq_desc->lock");
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
                        iova: Atomic64::new(
                            Obj::Object {
                                class: "msi_desc iova of vector",
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
    pub(super) fn iovad(&self) -> Option<KBox<IovaDomain>> {
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
    /// The IOVA for `addr` in found binding `b`: as posted, `b->iova` plus `addr`'s offset
    /// from its own aligned base (`sp`); with a covering lookup, from `b`'s base.
    fn iova_in(&self, b: &Binding, sp: &Span, addr: u64) -> u64 {
        match self.mech.matching {
            Matching::Overlaps => b.iova + sp.offset,
            Matching::Covers => b.iova + (addr - b.addr),
        }
    }

    pub(super) fn find_reserved_binding(
        &self,
        g: &SpinGuard<'_>,
        addr: u64,
        size: u64,
    ) -> Option<KBox<Binding>> {
        self.bindings.access(g, |bs| {
            bs.iter()
                .find(|b| {
                    let v = b.get();
                    match self.mech.matching {
                        Matching::Overlaps => v.addr < addr + size && addr < v.addr + v.size,
                        Matching::Covers => v.addr <= addr && addr + size <= v.addr + v.size,
                    }
                })
                .cloned()
        })
    }

    pub(super) fn find_by_iova(&self, g: &SpinGuard<'_>, iova: u64) -> Option<KBox<Binding>> {
        self.bindings.access(g, |bs| {
            bs.iter()
                .find(|b| {
                    let v = b.get();
                    v.iova <= iova && iova < v.iova + v.size
                })
                .cloned()
        })
    }

    pub(super) fn link(&self, g: &SpinGuard<'_>, b: &KBox<Binding>) {
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

    pub(super) fn unlink(&self, g: &SpinGuard<'_>, b: &KBox<Binding>) {
        self.bindings.access(g, |bs| bs.retain(|o| !o.same(b)));
    }

    /// The cookie, read where the code goes on to dereference it without a NULL check. The
    /// model has no NULL-dereference kind: the cookie is NULL only once the domain freed its
    /// iova_domain (`free_domain_prepared`), so using it is a use of a freed iova_domain.
    pub(super) fn iovad_used(&self, site: &str) -> KBox<IovaDomain> {
        self.iovad().unwrap_or_else(|| {
            raise(
                Kind::UseAfterFree,
                format!("{site} dereferences reserved_iova_cookie, which is NULL: the iova_domain was freed"),
            )
        })
    }

    /// `delete_reserved_binding(domain, b)` (seed lines 75-85): read the cookie and its
    /// shift, unmap, free the IOVA, free the binding.
    pub(super) fn delete_reserved_binding(&self, b: &KBox<Binding>) {
        self.delete_fields(b.get().iova, b.get().size, b);
    }

    /// `delete_reserved_binding` of a binding whose `b->iova` and `b->size` read `iova`
    /// and `size`, in the seed's order: the shift is read (a dereference of the cookie)
    /// before `iommu_unmap`.
    pub(super) fn delete_fields(&self, iova: u64, size: u64, b: &KBox<Binding>) {
        step("delete_reserved_binding: iovad = reserved_iova_cookie, iova_shift(iovad)");
        let iovad = self.iovad_used("delete_reserved_binding");
        let order = iova_shift(iovad.get());
        step(format!(
            "delete_reserved_binding: iommu_unmap({iova:#x}, {size:#x}), free_iova, kfree"
        ));
        iommu_unmap(&self.domain, iova, size);
        free_iova(iovad.get(), iova >> order);
        kfree(b);
    }

    /// `iommu_get_reserved_iova(domain, addr, size, prot, &iova)` of v6 and its mutants.
    pub(super) fn get_v6(&self, addr: u64, size: u64) -> Result<u64, Errno> {
        // As posted: iova_shift(iovad) dereferences the cookie before the `!iovad` check
        // (seed 93 and 113; Jean-Philippe's nit, seed 95, asks to swap them). A NULL cookie
        // is therefore reported here, as a use of the freed iova_domain (see iovad_used), and
        // the check after it never returns -EINVAL. No v6 scenario reaches it: the model's
        // v6 free_domain leaves the cookie set.
        step("get: iovad = reserved_iova_cookie, iova_shift(iovad)");
        let iovad = self.iovad_used("iommu_get_reserved_iova's iova_shift");
        let sp = Span::of(addr, size, iova_shift(iovad.get()));
        step("get: if (!iovad) return -EINVAL (iovad is not NULL here)");

        step("get: find_reserved_binding");
        let g = spin_lock_irqsave(&self.reserved_lock);
        if let Some(b) = self.find_reserved_binding(&g, sp.aligned_base, sp.binding_size) {
            step("get: found, kref_get");
            kref_get(&b.get().kref);
            let iova = self.iova_in(b.get(), &sp, addr);
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
        let gfp = self.mech.gfp;
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
        self.map_or_unwind(&iovad, p_iova.pfn_lo, &newb, iova, &sp)?;

        // Inferred, not in the seed (its quote ends at iommu_map, line 153): re-take
        // reserved_lock, look again, and insert newb or take the binding another get
        // inserted meanwhile (the commit message, lines 26-27: an existing mapping is
        // returned), from the seed's `bool unmap = false;` (line 103), as v6 goes on.
        step("get: re-lock and insert");
        let g = spin_lock_irqsave(&self.reserved_lock);
        let existing = if self.mech.recheck == Recheck::Skip {
            None
        } else {
            self.find_reserved_binding(&g, sp.aligned_base, sp.binding_size)
        };
        let out = match &existing {
            Some(b) => {
                step("get: another thread inserted one meanwhile: take it");
                kref_get(&b.get().kref);
                self.iova_in(b.get(), &sp, addr)
            }
            None => {
                // Key: the list under reserved_lock is the lock's, not engine words of its
                // own, so no access shows the insert another get then finds.
                key_step("get: none yet: insert newb");
                self.link(&g, &newb);
                iova + sp.offset
            }
        };
        self.check_translates(out, addr);
        spin_unlock_irqrestore(g);
        if existing.is_some() {
            if self.mech.recheck == Recheck::TakeItUndoOwn {
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
                key_step("get: newb->iova, ->size still 0: delete_reserved_binding(domain, newb)");
                self.delete_fields(0, 0, &newb);
            }
        }
        Ok(out)
    }

    /// `iommu_put_reserved_iova(domain, iova)` of v6 and its mutants. Inferred, not in the
    /// seed: its commit message says the put drops the binding's count and at zero destroys
    /// the mapping and releases the IOVA (lines 32-33), and the changelog that v6 locks with
    /// a spinlock (line 43); the steps below are the model's reading of v6 as posted.
    pub(super) fn put_v6(&self, iova: u64) {
        // Inferred: the shift and the PA are read outside the lock (iovad may be freed
        // meanwhile), and the binding is looked up by the PA of the IOVA's page.
        step("put: iova_shift(iovad), iommu_iova_to_phys outside the lock");
        // Inferred, and nothing in the seed shows it: a NULL cookie returns quietly.
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
        let released = if self.mech.release == Release::Unlocked {
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

    /// `prepare`: `msi_domain_prepare_irqs` maps the doorbell in a sleepable context;
    /// `prepare-desc` then stores its IOVA in the calling thread's vector.
    pub(super) fn prepare(&self, addr: u64, size: u64) -> Result<(), Errno> {
        let m = mutex_lock(&self.reserved_mutex);
        let r = self.prepare_map(addr, size);
        if let (Ok(iova), Lookup::Desc) = (r, self.mech.lookup) {
            step("prepare: store the IOVA in the vector's msi_desc");
            write_once(&self.irq_desc().iova, iova);
        }
        mutex_unlock(m);
        r.map(|_| ())
    }

    /// `iommu_map` of `newb`'s doorbell page at `iova`; on failure, free `newb` and the IOVA at
    /// `pfn_lo`, as v6's error path does. `iommu_map` does not touch the iova_domain: only
    /// the error path's `free_iova` dereferences `iovad`.
    fn map_or_unwind(
        &self,
        iovad: &KBox<IovaDomain>,
        pfn_lo: u64,
        newb: &KBox<Binding>,
        iova: u64,
        sp: &Span,
    ) -> Result<(), Errno> {
        iommu_map(&self.domain, iova, sp.aligned_base, sp.binding_size).inspect_err(|_| {
            free_iova(iovad.get(), pfn_lo);
            kfree(newb);
        })
    }

    /// The mapping half of `prepare`, under `reserved_mutex`: find or make the binding;
    /// the IOVA of `addr`.
    fn prepare_map(&self, addr: u64, size: u64) -> Result<u64, Errno> {
        let iovad = self.iovad().ok_or(Errno::EINVAL)?;
        let sp = Span::of(addr, size, iovad.get().shift);
        let g = spin_lock_irqsave(&self.reserved_lock);
        let found = self
            .find_reserved_binding(&g, sp.aligned_base, sp.binding_size)
            .map(|b| self.iova_in(b.get(), &sp, addr));
        spin_unlock_irqrestore(g);
        if let Some(iova) = found {
            return Ok(iova);
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
        // Inferred: the seed does not show prepare's error path; it unwinds as v6's does.
        self.map_or_unwind(&iovad, p_iova.pfn_lo, &newb, iova, &sp)?;
        let g = spin_lock_irqsave(&self.reserved_lock);
        self.link(&g, &newb);
        spin_unlock_irqrestore(g);
        // The prepare step holds no reference: the binding lives until the domain goes.
        Ok(iova + sp.offset)
    }

    /// `prepare-desc`: activate reads the IOVA prepare stored in the vector's descriptor,
    /// under no lock but the caller's; it takes no reference.
    pub(super) fn get_from_desc(&self, addr: u64) -> Result<u64, Errno> {
        step("activate: read the IOVA from the vector's msi_desc");
        match read_once(&self.irq_desc().iova) {
            0 => Err(Errno::ENOENT),
            iova => {
                self.check_translates(iova, addr);
                Ok(iova)
            }
        }
    }

    /// `prepare`: the activate step only looks the binding up.
    pub(super) fn get_prepared(&self, addr: u64, size: u64) -> Result<u64, Errno> {
        // Key: the activate is under its irq_desc->lock from here to its message write, the
        // window a teardown that looks at the message without that lock races with.
        key_step("activate: look the binding up");
        let sp = Span::of(addr, size, SHIFT);
        let g = spin_lock_irqsave(&self.reserved_lock);
        let r = match self.find_reserved_binding(&g, sp.aligned_base, sp.binding_size) {
            Some(b) => {
                kref_get(&b.get().kref);
                let iova = self.iova_in(b.get(), &sp, addr);
                self.check_translates(iova, addr);
                Ok(iova)
            }
            None => Err(Errno::ENOENT),
        };
        spin_unlock_irqrestore(g);
        r
    }

    pub(super) fn put_prepared(&self, iova: u64) {
        if self.mech.lookup == Lookup::Desc {
            step("put: activate took no reference, nothing to drop");
            return;
        }
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
    pub(super) fn free_domain(&self) {
        if self.mech.flow == Flow::PrepareMaps {
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
    pub(super) fn free_domain_v6(&self) {
        step("free_domain: put_iova_domain, kfree(iovad)");
        if let Some(iovad) = self.iovad() {
            let g = spin_lock_irqsave(&self.reserved_lock);
            kfree(&iovad);
            spin_unlock_irqrestore(g);
        }
    }

    /// `prepare` and `mask-msi*`: under `reserved_mutex`, (mask the MSIs,) unlink every
    /// binding under the lock, delete them, then free the iova_domain and clear the cookie.
    pub(super) fn free_domain_prepared(&self) {
        let m = mutex_lock(&self.reserved_mutex);
        if matches!(self.mech.mask, MaskMsis::BeforeLock | MaskMsis::Racy) {
            self.mask_msis();
        }
        step("free_domain: unlink every binding, then delete them");
        let g = spin_lock_irqsave(&self.reserved_lock);
        if self.mech.mask == MaskMsis::UnderLock {
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
    pub(super) fn mask_msis(&self) {
        for (n, desc) in self.irqs.iter().enumerate() {
            if self.mech.mask == MaskMsis::Racy {
                step(format!(
                    "free_domain: read vector {n}'s message without its lock (0: skip it)"
                ));
                if read_once(&desc.msg) == 0 {
                    continue;
                }
            }
            step("free_domain: mask an MSI");
            let g = raw_spin_lock_irqsave(&desc.lock);
            desc.masked.access(&g, |m| *m = true);
            write_once(&desc.msg, 0);
            raw_spin_unlock_irqrestore(g);
        }
    }

    /// The `irq_desc` of the calling thread's MSI vector.
    pub(super) fn irq_desc(&self) -> &IrqDesc {
        let me = thread_index();
        self.irqs.get(me).unwrap_or_else(|| {
            panic!("thread {me} has no MSI vector; the device has {MSI_VECTORS}")
        })
    }

    /// `msi_domain_activate`: under the vector's `irq_desc->lock`, get the doorbell's IOVA
    /// and write it into the MSI message.
    ///
    /// Inferred, not in the seed (its "call sequence reported by Jean-Philippe", seed
    /// 154-155, is not quoted): the lock held is `irq_desc->lock`, a `raw_spinlock_t`, as
    /// `__setup_irq` holds it around the activation (`irq_activate` in today's kernel).
    /// Early activation at allocation time (`MSI_FLAG_ACTIVATE_EARLY`, from
    /// `msi_domain_alloc_irqs`) holds no raw lock; on that path a v6 get is not atomic. On
    /// PREEMPT_RT, v6-atomic's kzalloc(GFP_ATOMIC) and alloc_iova's iova_rbtree_lock (a
    /// `spinlock_t`) would be invalid under the raw lock too; no scenario runs v6 or
    /// v6-atomic with PREEMPT_RT.
    pub(super) fn msi_domain_activate(&self, addr: u64, size: u64) {
        let desc = self.irq_desc();
        step("msi_domain_activate");
        let g = raw_spin_lock_irqsave(&desc.lock);
        if desc.masked.access(&g, |m| *m) {
            step("msi_domain_activate: masked for teardown, nothing to do");
        } else if let Some(iova) = self.run_get(addr, size) {
            step("activate: write the MSI message");
            write_once(&desc.msg, iova);
        }
        raw_spin_unlock_irqrestore(g);
    }

    /// `msi_domain_deactivate`: under the vector's `irq_desc->lock`, clear the MSI message
    /// and put the doorbell's IOVA.
    pub(super) fn msi_domain_deactivate(&self, addr: u64, size: u64) {
        let desc = self.irq_desc();
        step("msi_domain_deactivate");
        let g = raw_spin_lock_irqsave(&desc.lock);
        write_once(&desc.msg, 0);
        self.run_put(addr, size);
        raw_spin_unlock_irqrestore(g);
    }

    pub(super) fn get(&self, addr: u64, size: u64) -> Result<u64, Errno> {
        if self.mech.flow == Flow::PrepareMaps {
            match self.mech.lookup {
                Lookup::UnderLock => self.get_prepared(addr, size),
                Lookup::Desc => self.get_from_desc(addr),
            }
        } else {
            self.get_v6(addr, size)
        }
    }
}
