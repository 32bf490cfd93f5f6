//! What `reserved-iova` declares: its variants and the mechanism each picks, its
//! operations and parameter, and the scenario rules it enforces.

use super::dma_reserved_iommu::{ReservedIova, Span, SHIFT};
use crate::kernel::Gfp;
use crate::spec::{each_op, About, Model, ModelSpec, Refusal};

crate::variants! {
    /// The variants of this model.
    pub enum Variant {
        /// as posted: reserved_lock dropped around alloc_iova, kzalloc(GFP_KERNEL) and
        /// iommu_map; iovad read outside the lock; re-lock, recheck, insert
        V6 = "v6",
        /// v6 with kzalloc(GFP_ATOMIC) (Jean-Philippe, via Eric); iommu_map is the IOMMU
        /// API's and may still sleep: Eric has no guarantee it is atomic in general, only for
        /// arm-smmu(-v3) (seed 154-157), whose map the model does not have
        V6Atomic = "v6-atomic",
        /// Jean-Philippe's proposal, as this model reads it: map in a sleepable prepare step
        /// under reserved_mutex; activate searches the bindings under reserved_lock; pages
        /// stay until the domain is freed
        Prepare = "prepare",
        /// prepare, as upstream later merged it in spirit (iommu_dma_prepare_msi): prepare
        /// also stores the IOVA in the vector's descriptor, and activate reads it there,
        /// taking no lock of its own
        PrepareDesc = "prepare-desc",
        /// mutant of v6: kref_put outside reserved_lock; the release unlinks the binding
        /// later
        UnlockedRelease = "unlocked-release",
        /// mutant of v6: insert the new binding without looking again under the lock
        NoRecheck = "no-recheck",
        /// v6 with the re-check path fixed: undo our own mapping and IOVA when another get
        /// inserted first (v6 deletes newb while its fields are still zero)
        UndoNewb = "undo-newb",
        /// v6 whose lookup takes only a binding that covers the caller's whole range, and
        /// gives the IOVA at the caller's offset from that binding's base: the fix of the
        /// partial-overlap lookup (not in the thread)
        CoveringLookup = "covering-lookup",
        /// prepare, and free_domain first masks the device's MSIs, each under
        /// irq_desc->lock, then takes reserved_lock (the model's teardown step, not the
        /// thread's; it clears the message and marks the vector, which activate checks)
        MaskMsi = "mask-msi",
        /// mutant of mask-msi: reads each message without its lock and skips those reading 0,
        /// so an activate just after that read re-arms one
        MaskMsiRacy = "mask-msi-racy",
        /// mutant of mask-msi: masks the MSIs while holding reserved_lock, the
        /// reverse of msi_domain_activate's order
        MaskMsiUnderLock = "mask-msi-under-lock",
    }
}

/// Where the doorbell is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// v6: the get maps it, from `msi_domain_activate` (atomic context).
    GetMaps,
    /// Jean-Philippe's: a sleepable prepare step maps it; activate only looks up; pages
    /// stay until the domain is freed.
    PrepareMaps,
}

/// Where a prepare-style activate finds the IOVA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Searches the bindings under `reserved_lock` and takes a reference (the model's
    /// reading of "simply search for the IOVA", seed 167-168).
    UnderLock,
    /// Reads the IOVA prepare stored in the vector's descriptor; no lock, no reference
    /// (upstream's `msi_desc_set_iommu_cookie`, read back at compose time).
    Desc,
}

/// What a v6 get does when, back under the lock, it finds a binding another get inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recheck {
    /// Take it, and delete `newb` with its fields still zero (as posted).
    TakeIt,
    /// Take it, and undo our own mapping and IOVA first (fixed).
    TakeItUndoOwn,
    /// Do not look: insert ours (mutant).
    Skip,
}

/// Where a v6 put drops the last reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// `kref_put` under `reserved_lock` (as posted).
    UnderLock,
    /// `kref_put` after dropping `reserved_lock`; the release re-locks to unlink (mutant).
    Unlocked,
}

/// How freeing the domain masks the device's MSIs first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskMsis {
    /// It does not.
    No,
    /// Each vector under its `irq_desc->lock`, before taking `reserved_lock`.
    BeforeLock,
    /// Each vector under its `irq_desc->lock`, while holding `reserved_lock` (mutant).
    UnderLock,
    /// Reads each message without its lock and skips those reading 0; masks the rest
    /// under `irq_desc->lock` (mutant).
    Racy,
}

/// The mechanisms a variant picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mechanics {
    /// Where the doorbell is mapped.
    pub flow: Flow,
    /// Where a prepare-style activate finds the IOVA.
    pub lookup: Lookup,
    /// The new binding's allocation flags (v6).
    pub gfp: Gfp,
    /// The re-check after re-locking (v6).
    pub recheck: Recheck,
    /// The put's release (v6).
    pub release: Release,
    /// Freeing the domain's masking of the MSIs.
    pub mask: MaskMsis,
    /// Which binding a lookup takes, and the IOVA it gives the caller.
    pub matching: Matching,
}

/// How `find_reserved_binding` matches, and how a get turns the binding it found into the
/// caller's IOVA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matching {
    /// Any binding that overlaps the caller's aligned range; the IOVA is `b->iova` plus
    /// the caller's offset from its own aligned base (v6): wrong when the binding starts on
    /// another page.
    Overlaps,
    /// Only a binding that covers the caller's aligned range; the IOVA is at the caller's
    /// offset from the binding's base.
    Covers,
}

impl Variant {
    /// The mechanisms of this variant: the one place a variant's name decides anything.
    pub fn mechanics(self) -> Mechanics {
        let v6 = Mechanics {
            flow: Flow::GetMaps,
            lookup: Lookup::UnderLock,
            gfp: Gfp::Kernel,
            recheck: Recheck::TakeIt,
            release: Release::UnderLock,
            mask: MaskMsis::No,
            matching: Matching::Overlaps,
        };
        let prepare = Mechanics {
            flow: Flow::PrepareMaps,
            ..v6
        };
        match self {
            Variant::V6 => v6,
            Variant::V6Atomic => Mechanics {
                gfp: Gfp::Atomic,
                ..v6
            },
            Variant::UnlockedRelease => Mechanics {
                release: Release::Unlocked,
                ..v6
            },
            Variant::NoRecheck => Mechanics {
                recheck: Recheck::Skip,
                ..v6
            },
            Variant::UndoNewb => Mechanics {
                recheck: Recheck::TakeItUndoOwn,
                ..v6
            },
            Variant::CoveringLookup => Mechanics {
                matching: Matching::Covers,
                ..v6
            },
            Variant::Prepare => prepare,
            Variant::PrepareDesc => Mechanics {
                lookup: Lookup::Desc,
                ..prepare
            },
            Variant::MaskMsi => Mechanics {
                mask: MaskMsis::BeforeLock,
                ..prepare
            },
            Variant::MaskMsiRacy => Mechanics {
                mask: MaskMsis::Racy,
                ..prepare
            },
            Variant::MaskMsiUnderLock => Mechanics {
                mask: MaskMsis::UnderLock,
                ..prepare
            },
        }
    }
}

crate::operations! {
    /// The operations scenario files may use.
    pub enum Op {
        /// iommu_get_reserved_iova(domain, PA, SIZE); atomic: from msi_domain_activate,
        /// under the thread's irq_desc->lock, writing the MSI message
        Get = "get" (pa: PA, size: SIZE) flags(atomic),
        /// iommu_put_reserved_iova on the IOVA this thread's get of PA returned; atomic:
        /// from msi_domain_deactivate, under the thread's irq_desc->lock
        Put = "put" (pa: PA, size: SIZE) flags(atomic),
        /// variants prepare*, mask-msi*: msi_domain_prepare_irqs maps the doorbell
        /// (sleepable); prepare-desc stores its IOVA in the thread's vector
        Prepare = "prepare" (pa: PA, size: SIZE),
        /// iommu_free_reserved_iova_domain(domain)
        FreeDomain = "free_domain" (),
    }
}

crate::params! {
    /// The reserved window.
    pub struct Window {
        /// IOMMU pages of the reserved IOVA window
        pages: u32 = 16, 1..=64,
    }
}

/// The model, as the registry lists it.
pub const MODEL: ModelSpec = ModelSpec::of::<ReservedIova>(About {
    name: "reserved-iova",
    about: "refcounted reserved-IOVA bindings for MSI doorbells, and the kernel's context checks",
    seed: "001_a9a2ad11b9731478.txt",
    mirrors: "drivers/iommu/dma-reserved-iommu.c (v6, 2016): iommu_get_reserved_iova, iommu_put_reserved_iova, find_reserved_binding, delete_reserved_binding, iommu_free_reserved_iova_domain",
    invariants: &[
        ("lost-mapping", "the returned IOVA plus the offset translates to the requested PA"),
        ("duplicate-binding", "at most one binding per aligned PA and size"),
        ("refcount", "no kref_get from zero, no underflow; a binding's count is the gets not yet put"),
        ("leak", "after every get is put and the domain freed, no binding, IOVA or mapping remains"),
        ("use-after-free", "no use of a freed binding or iova_domain"),
        ("sleep-in-atomic", "no sleeping call under reserved_lock or in msi_domain_activate"),
        ("deadlock", "no realized deadlock"),
        ("lock-order", "no lock-order inversion across executions"),
        ("invariant", "prepare*, mask-msi*: after a thread frees the domain, no MSI message targets the reserved window"),
    ],
});

impl Model for ReservedIova {
    type Variant = Variant;
    type Op = Op;
    type Params = Window;

    fn build(variant: Variant, window: &Window) -> Self {
        ReservedIova::new(variant, window.pages)
    }

    fn run(&self, op: &Op) {
        match *op {
            Op::Get {
                pa,
                size,
                atomic: true,
            } => self.msi_domain_activate(pa, size),
            Op::Get { pa, size, .. } => {
                let _ = self.run_get(pa, size);
            }
            Op::Put {
                pa,
                size,
                atomic: true,
            } => self.msi_domain_deactivate(pa, size),
            Op::Put { pa, size, .. } => self.run_put(pa, size),
            Op::Prepare { pa, size } => {
                let _ = self.prepare(pa, size);
            }
            Op::FreeDomain {} => self.free_domain(),
        }
    }

    fn finish(&self) {
        self.check_final();
    }

    /// Refuse a prepare step the variant does not have, an empty range, and a range larger
    /// than the reserved window.
    fn validate(
        variant: Variant,
        window: &Window,
        setup: &[Op],
        threads: &[Vec<Op>],
    ) -> Result<(), Refusal> {
        for (thread, i, op) in each_op(setup, threads) {
            let refuse = |message: String| Err(Refusal::of(thread, i, message));
            let (addr, size) = match *op {
                Op::Prepare { .. } if variant.mechanics().flow != Flow::PrepareMaps => {
                    return refuse(format!(
                        "variant {} has no prepare step; expected variant \"prepare\", \"prepare-desc\" or one of the mask-msi* variants",
                        crate::spec::Variants::name(variant)
                    ));
                }
                Op::Get { pa, size, .. } | Op::Put { pa, size, .. } | Op::Prepare { pa, size } => {
                    (pa, size)
                }
                Op::FreeDomain {} => continue,
            };
            if size == 0 {
                return refuse("SIZE is 0; expected at least 1 byte".into());
            }
            let sp = Span::of(addr, size, SHIFT);
            if sp.nb_iommu_pages > u64::from(window.pages) {
                return refuse(format!(
                    "PA {addr:#x}+{size:#x} needs {} IOMMU pages, more than the reserved window's {}",
                    sp.nb_iommu_pages, window.pages
                ));
            }
        }
        Ok(())
    }
}
