//! `reserved-iova`: refcounted reserved-IOVA bindings for MSI doorbells.
//!
//! Seed: 001_a9a2ad11b9731478.txt, "[PATCH v6 6/7] dma-reserved-iommu:
//! iommu_get/put_single_reserved" (Eric Auger; Alex Williamson, Jean-Philippe Brucker).
//!
//! Models drivers/iommu/dma-reserved-iommu.c of v6, and Jean-Philippe's proposal (seed
//! 159-168): map in a sleepable prepare step (`msi_domain_prepare_irqs`), look up only in the
//! atomic activate step (`msi_domain_activate`), keep pages until the domain is freed.
//! Variant `prepare` reads his "simply search for the IOVA" as a search of the bindings
//! under `reserved_lock` (a `spinlock_t`) inside the raw `irq_desc->lock`: that reading, not
//! upstream, is what PREEMPT_RT and PROVE_RAW_LOCK_NESTING report as an invalid wait
//! context. What upstream later merged in spirit (`iommu_dma_prepare_msi`) stores the IOVA
//! in the `msi_desc` at prepare time, and compose reads it back under no lock of its own:
//! variant `prepare-desc`, clean under both options.
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
//! ```text
//! Thread A (get 0x9000040)                 Thread B (free_domain)
//! iovad = domain->reserved_iova_cookie
//! spin_unlock_irqrestore(reserved_lock)
//!                                          spin_lock_irqsave(reserved_lock)
//!                                          put_iova_domain(iovad); kfree(iovad)
//! alloc_iova / iova_dma_addr(iovad, ...)   <- use-after-free
//! ```
//!
//! The lock-order pair is not from the thread: seed 001 has no path that nests the other way.
//! `mask-msi` and `mask-msi-under-lock` add one a reviewer could well write next. Before
//! unmapping the doorbells, `iommu_free_reserved_iova_domain` deactivates the device's
//! MSIs, each under its `irq_desc->lock`. `mask-msi` does it before it takes
//! `reserved_lock`, the order `msi_domain_activate` uses (irq_desc->lock, then
//! reserved_lock); `mask-msi-under-lock` does it while holding `reserved_lock`, the reverse.
//! Without a mask step (`prepare`, `prepare-desc`), freeing the domain deletes a binding an
//! activated MSI message still targets; the final check reads every vector's message.

mod dma_reserved_iommu;
mod reference;
mod spec;

pub use dma_reserved_iommu::{Binding, IrqDesc, ReservedIova, Span, MSI_VECTORS, WINDOW_BASE};
pub use spec::{Flow, Lookup, MaskMsis, Mechanics, Op, Recheck, Release, Variant, Window, MODEL};
