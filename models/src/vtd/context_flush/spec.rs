//! What `vtd-context-flush` declares: its variants and the mechanism each picks, its
//! operations and hardware parameters, and the scenario rules it enforces.

use super::pasid::ContextFlush;
use crate::hw::vtd::{Did, Pasid};
use crate::spec::{each_op, About, Model, ModelSpec, Refusal};

crate::variants! {
    /// The variants of this model.
    pub enum Variant {
        /// v2 as posted: every caller holds iommu->lock across the helper, which asserts it
        /// first and reads the DID from the context entry the caller just changed
        V2 = "v2",
        /// Kevin Tian's proposal (the model's reading of his prose): callers unlock first;
        /// the helper takes iommu->lock only to walk the PASID table into a bitmap of DIDs,
        /// and invalidates each outside it
        DidBitmap = "did-bitmap",
        /// the thread's final diff, line for line: the clearing callers unlock before the
        /// helper, the assertion moves into the flush-domains branch; the PRI flip keeps the
        /// lock; the DID is still read from the context entry
        Agreed = "agreed",
        /// agreed, with the August 2024 fix (7af6c720417f, v6.11-rc6): callers read the DID
        /// before changing the entry and pass it in
        DidFix = "did-fix",
        /// did-fix, and the flush-domains walk invalidates what the domain-selective IOTLB
        /// and device-TLB invalidations miss by the model's reading: PASID-based IOTLB for
        /// first-stage entries and a PASID-based device-TLB invalidation of each PASID (the
        /// model's, not the thread's)
        PasidFlush = "pasid-flush",
        /// mutant of did-fix: no context-cache invalidation
        NoContextCache = "no-context-cache",
        /// mutant of did-fix: the context cache is invalidated last
        ContextCacheLast = "context-cache-last",
        /// mutant of did-fix: no PASID-cache invalidation
        NoPasidCache = "no-pasid-cache",
        /// mutant of did-fix: each domain's IOTLB before its PASID cache
        IotlbFirst = "iotlb-first",
        /// mutant of did-fix: the device TLB before the domains
        DevTlbFirst = "devtlb-first",
        /// mutant of agreed: the callers unlock first, but assert_spin_locked stays at the
        /// top of the helper, as in v2 (why the final diff moved it)
        AssertTop = "assert-top",
    }
}

/// Who holds `iommu->lock` while the helper runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locking {
    /// Every caller, across the helper, which asserts it at the top (v2).
    CallerHolds,
    /// The clearing callers unlock first; the PRI flip holds it; the assertion guards the
    /// flush-domains branch (the final diff).
    Agreed,
    /// Callers unlock first; the helper holds it for the PASID-table walk only (Kevin).
    WalkOnly,
}

/// Where the helper asserts that iommu->lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assert {
    /// First thing (v2).
    Top,
    /// In the scalable-mode flush-domains branch, before the walk (the final diff).
    FlushDomains,
    /// Nowhere: the helper takes the lock itself for the walk (Kevin's proposal).
    Never,
}

/// Where the helper gets the DID of the context entry from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DidFrom {
    /// `context_domain_id(context)` inside the helper, after the caller changed the entry.
    ContextEntry,
    /// The caller, which read it before changing the entry.
    Caller,
}

/// One step of the helper, in the order a variant runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Device-selective context-cache invalidation.
    Context,
    /// Legacy mode: the domain-selective IOTLB; scalable mode with affect_domains (renamed
    /// flush_domains in the final diff): each domain of a present PASID entry.
    Domains,
    /// `__context_flush_dev_iotlb`.
    DevTlb,
}

/// One invalidation for each domain found in the PASID-table walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainFlush {
    /// `qi_flush_pasid_cache(iommu, did, QI_PC_ALL_PASIDS, 0)`.
    Pasid,
    /// `flush_iotlb(iommu, did, 0, 0, DMA_TLB_DSI_FLUSH)`.
    Iotlb,
    /// PASID-based IOTLB for a first-stage entry, domain-selective otherwise.
    PIotlb,
    /// Device-TLB invalidation of the entry's PASID (ATS, PASID not 0).
    DevTlbPasid,
}

/// The mechanisms a variant picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mechanics {
    /// Who holds iommu->lock.
    pub locking: Locking,
    /// Where the helper asserts it.
    pub assert: Assert,
    /// Where the DID comes from.
    pub did: DidFrom,
    /// The helper's steps, in order.
    pub order: &'static [Flush],
    /// The invalidations per domain, in order.
    pub per_domain: &'static [DomainFlush],
}

/// The spec's order: context cache, (PASID cache, IOTLB), device TLB.
const SPEC: &[Flush] = &[Flush::Context, Flush::Domains, Flush::DevTlb];
/// The helper's per-domain invalidations as posted.
const POSTED: &[DomainFlush] = &[DomainFlush::Pasid, DomainFlush::Iotlb];

impl Variant {
    /// The mechanisms of this variant: the one place a variant's name decides anything.
    pub fn mechanics(self) -> Mechanics {
        use DomainFlush as D;
        let fixed = |order, per_domain| Mechanics {
            locking: Locking::Agreed,
            assert: Assert::FlushDomains,
            did: DidFrom::Caller,
            order,
            per_domain,
        };
        let posted = |locking, assert| Mechanics {
            locking,
            assert,
            did: DidFrom::ContextEntry,
            order: SPEC,
            per_domain: POSTED,
        };
        match self {
            Variant::V2 => posted(Locking::CallerHolds, Assert::Top),
            Variant::DidBitmap => posted(Locking::WalkOnly, Assert::Never),
            Variant::Agreed => posted(Locking::Agreed, Assert::FlushDomains),
            Variant::AssertTop => posted(Locking::Agreed, Assert::Top),
            Variant::DidFix => fixed(SPEC, POSTED),
            Variant::PasidFlush => fixed(SPEC, &[D::Pasid, D::PIotlb, D::DevTlbPasid]),
            Variant::NoContextCache => fixed(&[Flush::Domains, Flush::DevTlb], POSTED),
            Variant::ContextCacheLast => {
                fixed(&[Flush::Domains, Flush::DevTlb, Flush::Context], POSTED)
            }
            Variant::NoPasidCache => fixed(SPEC, &[D::Iotlb]),
            Variant::IotlbFirst => fixed(SPEC, &[D::Iotlb, D::Pasid]),
            Variant::DevTlbFirst => fixed(&[Flush::Context, Flush::DevTlb, Flush::Domains], POSTED),
        }
    }
}

crate::operations! {
    /// The operations scenario files may use.
    pub enum Op {
        /// domain_context_clear_one: clear the device's context entry and flush it, domains
        /// included (legacy mode)
        ClearContext = "clear_context" (),
        /// device_pasid_table_teardown: clear the context entry once every PASID is gone,
        /// flush it without the domains (scalable mode)
        TeardownTable = "teardown_table" (),
        /// context_flip_pri: flip PRE in the present context entry and flush it, domains
        /// included (scalable mode); inferred from the kernel, not in the seed
        FlipPri = "flip_pri" (),
        /// intel_pasid_setup_*: attach PASID to domain DID (second-stage unless first_stage);
        /// inferred from the kernel, not in the seed
        Attach = "attach" (pasid: PASID, did: DID) flags(first_stage),
        /// intel_pasid_tear_down_entry: detach PASID and flush its caches; inferred from the
        /// kernel, not in the seed
        Detach = "detach" (pasid: PASID),
        /// the device DMAs with PASID (0: without PASID) to IOVA page PAGE, through its
        /// device TLB and the IOMMU's caches
        Dma = "dma" (pasid: PASID, page: PAGE = 0) [hardware],
        /// the IOMMU fills its caches for PASID and PAGE without a DMA (a prefetch)
        Prefetch = "prefetch" (pasid: PASID, page: PAGE = 0) [hardware],
    }
}

crate::params! {
    /// The IOMMU and the device.
    pub struct Hw {
        /// 1: scalable mode (PASID tables, PASID cache); 0: legacy mode
        scalable: u32 = 1, 0..=1,
        /// 1: the device has ATS enabled (a device TLB)
        ats: u32 = 0, 0..=1,
        /// PASIDs in the device's PASID table (0 is RID2PASID, requests without PASID)
        pasids: u32 = 2, 1..=4,
        /// domains, with DIDs 1 to this
        domains: u32 = 2, 1..=4,
        /// IOVA pages a DMA may go to
        pages: u32 = 1, 1..=4,
    }
}

/// The model, as the registry lists it.
pub const MODEL: ModelSpec = ModelSpec::of::<ContextFlush>(About {
    name: "vtd-context-flush",
    about: "VT-d cache flush after a context-entry change: intel_context_flush_present, iommu->lock, and PASID attach/teardown racing it, with the IOMMU's caches",
    seed: "003_6f85f3162cfe5709.txt",
    mirrors: "drivers/iommu/intel/pasid.c (2024): intel_context_flush_present, device_pasid_table_teardown, intel_pasid_setup_*, intel_pasid_tear_down_entry; iommu.c: domain_context_clear_one, context_flip_pri; dmar.c: qi_submit_sync",
    invariants: &[
        ("stale-translation", "after the helper returns, no cache holds, and no DMA completes through, a translation derived from the old context entry; after a PASID teardown returns, none through the torn-down entry"),
        ("lock-not-held", "assert_spin_locked(&iommu->lock) holds where the helper asserts it"),
    ],
})
// Kevin Tian's objection (seed lines 78-82) is the time iommu->lock is held.
.measuring(&["iommu->lock"]);

impl Model for ContextFlush {
    type Variant = Variant;
    type Op = Op;
    type Params = Hw;

    fn build(variant: Variant, hw: &Hw) -> Self {
        ContextFlush::new(variant.mechanics(), *hw)
    }

    fn run(&self, op: &Op) {
        match *op {
            Op::ClearContext {} => self.domain_context_clear_one(),
            Op::TeardownTable {} => self.device_pasid_table_teardown(),
            Op::FlipPri {} => self.context_flip_pri(),
            Op::Attach {
                pasid,
                did,
                first_stage,
            } => {
                // -EBUSY is a legal outcome (the PASID is taken).
                let _ = self.intel_pasid_setup(pasid as Pasid, did as Did, first_stage);
            }
            Op::Detach { pasid } => self.intel_pasid_tear_down_entry(pasid as Pasid),
            Op::Dma { pasid, page } => {
                self.vtd.dma(self, self.request(pasid as Pasid, page));
            }
            Op::Prefetch { pasid, page } => {
                self.vtd.prefetch(self, self.request(pasid as Pasid, page));
            }
        }
    }

    fn finish(&self) {
        self.check_final();
    }

    fn validate(_: Variant, hw: &Hw, setup: &[Op], threads: &[Vec<Op>]) -> Result<(), Refusal> {
        validate(hw, setup, threads)
    }
}

/// Refuse what the kernel cannot do in the scenario's mode, and numbers outside the
/// declared hardware.
fn validate(hw: &Hw, setup: &[Op], threads: &[Vec<Op>]) -> Result<(), Refusal> {
    let scalable = hw.scalable == 1;
    for (thread, i, op) in each_op(setup, threads) {
        let refuse = |message: String| Err(Refusal::of(thread, i, message));
        let mode_only = |legacy: bool, what: &str| -> Result<(), Refusal> {
            if legacy != scalable {
                return Ok(());
            }
            let (mode, want) = if legacy {
                ("legacy", 0)
            } else {
                ("scalable", 1)
            };
            refuse(format!(
                "{what} runs only in {mode} mode; expected params {{ scalable = {want} }}"
            ))
        };
        match *op {
            Op::ClearContext {} => mode_only(true, "clear_context (domain_context_clear_one)")?,
            Op::TeardownTable {} => {
                mode_only(false, "teardown_table (device_pasid_table_teardown)")?;
                if let Some(p) = attached_before(setup, threads, thread, i) {
                    return refuse(format!(
                        "PASID {p} may still be attached; the PASID table is torn down only \
                         after every PASID is; expected a detach {p} before it, in setup or \
                         earlier in this thread, and no attach in another thread"
                    ));
                }
            }
            Op::FlipPri {} => mode_only(false, "flip_pri (context_flip_pri)")?,
            Op::Attach { pasid, did, .. } => {
                mode_only(false, "attach (a PASID-table entry)")?;
                pasid_in(hw, pasid).or_else(refuse)?;
                if did == 0 || did > u64::from(hw.domains) {
                    return refuse(format!(
                        "DID {did} is not a domain of this scenario; expected 1 to {}",
                        hw.domains
                    ));
                }
            }
            Op::Detach { pasid } => {
                mode_only(false, "detach (a PASID-table entry)")?;
                pasid_in(hw, pasid).or_else(refuse)?;
            }
            Op::Dma { pasid, page } | Op::Prefetch { pasid, page } => {
                if !scalable && pasid != 0 {
                    return refuse(format!(
                        "PASID {pasid} in legacy mode; expected 0 (a request without PASID)"
                    ));
                }
                pasid_in(hw, pasid).or_else(refuse)?;
                if page >= u64::from(hw.pages) {
                    return refuse(format!(
                        "IOVA page {page} is outside the scenario's {} page(s); expected 0 to {}",
                        hw.pages,
                        hw.pages - 1
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A PASID of the device's table, or why not.
fn pasid_in(hw: &Hw, pasid: u64) -> Result<(), String> {
    if pasid < u64::from(hw.pasids) {
        Ok(())
    } else {
        Err(format!(
            "PASID {pasid} is outside the device's PASID table; expected 0 to {}",
            hw.pasids - 1
        ))
    }
}

/// A PASID that may still be attached when operation `i` of `thread` runs: attached in
/// setup or in any thread, and not detached in setup or earlier in this thread.
fn attached_before(
    setup: &[Op],
    threads: &[Vec<Op>],
    thread: Option<usize>,
    i: usize,
) -> Option<u64> {
    let own = thread.map_or(&setup[..i], |t| &threads[t][..i]);
    let before: Vec<&Op> = match thread {
        Some(_) => setup.iter().chain(own).collect(),
        None => own.iter().collect(),
    };
    let detached = |p: u64| {
        before
            .iter()
            .any(|op| matches!(**op, Op::Detach { pasid } if pasid == p))
    };
    let others = threads
        .iter()
        .enumerate()
        .filter(|(t, _)| Some(*t) != thread)
        .flat_map(|(_, ops)| ops.iter());
    before
        .iter()
        .copied()
        .chain(others)
        .find_map(|op| match *op {
            Op::Attach { pasid, .. } if !detached(pasid) => Some(pasid),
            _ => None,
        })
}
