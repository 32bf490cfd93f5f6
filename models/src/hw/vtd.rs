//! VT-d's caches and queued invalidation, over the generic [`Cache`] and
//! [`InvalidationQueue`]: what a DMA translates through, what each invalidation descriptor
//! removes, and the check that no DMA completes through an entry a finished flush covered.
//!
//! The caches (VT-d spec, chapter 6), each tagged as the hardware tags it:
//! - the context cache, by source ID;
//! - the PASID cache, by source ID and PASID, each entry holding the DID it was filled with
//!   (the descriptors select by DID and PASID);
//! - the IOTLB, by DID, PASID and IOVA page;
//! - the paging-structure caches, by DID, PASID, level and the IOVA bits above that level;
//! - the device TLB (ATS) of an endpoint, by source ID, PASID and IOVA page.
//!
//! Memory holds the entries the model writes ([`Tables`]). Entries are packed into one word
//! each, in the model's own layout (the hardware's context and PASID entries are 128 and
//! 512 bits): present, DID, and for a context entry the PRI-enable bit. Each entry also
//! carries a generation, bumped by every write of it, in bits the hardware ignores. It is
//! how a cached entry says which write it was derived from. Nothing branches on it but the
//! stale-translation check, and it lives in the entry's own engine word.
//!
//! The stale-translation check: the model declares where the kernel believes a change is
//! flushed ([`Vtd::flushed_context`] when `intel_context_flush_present` returns,
//! [`Vtd::flushed_pasid`] when a PASID teardown returns). From then on, a DMA that completes
//! through a cached entry derived from an older generation, and any such entry left after
//! the threads, is a `stale-translation`.

use std::fmt;
use std::sync::atomic::Ordering;

use crate::check::{raise, raise_at, Kind};
use crate::hw::cache::{Cache, InFlight, Translations};
use crate::hw::geometry::Geometry;
use crate::hw::qi::InvalidationQueue;
use crate::kernel::Atomic64;
use crate::trace::{last_event, step, Obj};

/// A PCI requester (source) ID: bus, device, function.
pub type Sid = u16;
/// A domain ID.
pub type Did = u16;
/// A PASID. Requests without a PASID use [`NO_PASID`] (legacy mode, or RID2PASID).
pub type Pasid = u32;
/// The PASID of a request without one.
pub const NO_PASID: Pasid = 0;

// ------------------------------------------------------------------ entry formats

/// A context entry, as the model packs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ContextEntry {
    /// P: present.
    pub present: bool,
    /// PRE (scalable mode): page requests enabled.
    pub pre: bool,
    /// DID (legacy mode; ignored by hardware in scalable mode).
    pub did: Did,
    /// Which write of the entry this is (ignored by hardware).
    pub generation: u8,
    /// Which write changed what the entry translates to (present, DID, tables), as
    /// opposed to PRE alone (ignored by hardware).
    pub translation: u8,
}

/// A PASID-table entry, as the model packs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PasidEntry {
    /// P: present.
    pub present: bool,
    /// PGTT is first-stage translation (else second-stage, nested or pass-through).
    pub first_stage: bool,
    /// DID of the domain the PASID is attached to.
    pub did: Did,
    /// Which write of the entry this is (ignored by hardware).
    pub generation: u8,
}

impl ContextEntry {
    /// The word in memory.
    pub fn pack(self) -> u64 {
        u64::from(self.present)
            | u64::from(self.pre) << 1
            | u64::from(self.did) << 8
            | u64::from(self.translation) << 48
            | u64::from(self.generation) << 56
    }
    /// Read back a word.
    pub fn unpack(w: u64) -> Self {
        ContextEntry {
            present: w & 1 != 0,
            pre: w & 2 != 0,
            did: (w >> 8) as u16,
            generation: (w >> 56) as u8,
            translation: (w >> 48) as u8,
        }
    }
}

impl PasidEntry {
    /// The word in memory.
    pub fn pack(self) -> u64 {
        u64::from(self.present)
            | u64::from(self.first_stage) << 1
            | u64::from(self.did) << 8
            | u64::from(self.generation) << 56
    }
    /// Read back a word.
    pub fn unpack(w: u64) -> Self {
        PasidEntry {
            present: w & 1 != 0,
            first_stage: w & 2 != 0,
            did: (w >> 8) as u16,
            generation: (w >> 56) as u8,
        }
    }
}

/// A translation as the caches hold it: where it leads, and what it was derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Derived {
    /// The page frame (IOTLB, device TLB); unused in the PASID cache.
    pub frame: u8,
    /// Came through a first-stage PASID entry (the IOTLB tags entries by translation type).
    pub first_stage: bool,
    /// The device whose request filled it (the IOTLB is not tagged by device: this is
    /// where the entry came from, for the check). Source IDs of the model fit in 8 bits.
    pub sid: u8,
    /// The translation generation of the context entry it came through.
    pub context_translation: u8,
    /// The DID the entry is tagged with.
    pub did: Did,
    /// The generation of the context entry it came through.
    pub context: u8,
    /// The generation of the PASID entry it came through (0 without PASID tables).
    pub pasid: u8,
}

impl Derived {
    fn pack(self) -> u64 {
        u64::from(self.frame)
            | u64::from(self.first_stage) << 8
            | u64::from(self.sid) << 16
            | u64::from(self.context_translation) << 24
            | u64::from(self.did) << 32
            | u64::from(self.context) << 48
            | u64::from(self.pasid) << 56
    }
    fn unpack(w: u64) -> Self {
        Derived {
            frame: w as u8,
            first_stage: (w >> 8) & 1 != 0,
            sid: (w >> 16) as u8,
            context_translation: (w >> 24) as u8,
            did: (w >> 32) as u16,
            context: (w >> 48) as u8,
            pasid: (w >> 56) as u8,
        }
    }
}

/// A translation request: from which device, with which PASID, to which IOVA page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The requester.
    pub sid: Sid,
    /// Its PASID ([`NO_PASID`] for none).
    pub pasid: Pasid,
    /// The IOVA page number.
    pub page: u64,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "device {:#x} PASID {} IOVA page {:#x}",
            self.sid, self.pasid, self.page
        )
    }
}

// ------------------------------------------------------------------ descriptors

/// Translation-cache granularity of an invalidation descriptor.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Desc {
    /// Context-cache invalidation, device-selective (`DMA_CCMD_DEVICE_INVL`).
    ContextDevice {
        /// DID (ignored by hardware in scalable mode).
        did: Did,
        /// The device.
        sid: Sid,
    },
    /// PASID-cache invalidation of every PASID of a domain (`QI_PC_ALL_PASIDS`).
    PasidAll {
        /// The domain.
        did: Did,
    },
    /// PASID-cache invalidation of one PASID (`QI_PC_PASID_SEL`).
    PasidSel {
        /// The domain.
        did: Did,
        /// The PASID.
        pasid: Pasid,
    },
    /// IOTLB invalidation, domain-selective (`DMA_TLB_DSI_FLUSH`): the domain's entries of
    /// requests without PASID and of second-stage (and nested) translation; not first-stage
    /// entries, which only a PASID-based invalidation removes (the fidelity table's row).
    IotlbDsi {
        /// The domain.
        did: Did,
    },
    /// IOTLB invalidation, global (`DMA_TLB_GLOBAL_FLUSH`): every entry, and every
    /// paging-structure entry.
    IotlbGlobal,
    /// IOTLB invalidation, page-selective (`DMA_TLB_PSI_FLUSH`, requests without PASID and
    /// second-stage translation): the domain's entries of those pages.
    IotlbPsi {
        /// The domain.
        did: Did,
        /// The first IOVA page.
        page: u64,
        /// How many pages.
        pages: u64,
        /// IH: the page tables did not change above the leaves.
        ih: bool,
    },
    /// PASID-based IOTLB invalidation of one PASID's entries in a domain (`qi_flush_piotlb`
    /// of the whole address space), and its paging-structure entries.
    PIotlb {
        /// The domain.
        did: Did,
        /// The PASID.
        pasid: Pasid,
    },
    /// PASID-based IOTLB invalidation of a range of pages (`qi_flush_piotlb` with an address
    /// and size): the IOTLB entries of those pages, and, when the invalidation hint `ih` is
    /// clear, the paging-structure-cache entries that lead to them.
    PIotlbPsi {
        /// The domain.
        did: Did,
        /// The PASID.
        pasid: Pasid,
        /// The first IOVA page.
        page: u64,
        /// How many pages.
        pages: u64,
        /// IH: the page tables did not change above the leaves (paging-structure caches
        /// are kept).
        ih: bool,
    },
    /// Device-TLB invalidation of the whole address space of a device, without a PASID
    /// (`qi_flush_dev_iotlb`, as `__context_flush_dev_iotlb` issues it): it covers the
    /// entries of requests without PASID only: the spec has a PASID-based device-TLB
    /// invalidation for the others, which the kernel's PASID teardown issues.
    DevTlbAll {
        /// The device.
        sid: Sid,
    },
    /// Device-TLB invalidation of one PASID's whole address space
    /// (`qi_flush_dev_iotlb_pasid`).
    DevTlbPasid {
        /// The device.
        sid: Sid,
        /// The PASID.
        pasid: Pasid,
    },
}

impl fmt::Debug for Desc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Desc::ContextDevice { did, sid } => {
                write!(f, "context-cache inv (device {sid:#x}, did {did})")
            }
            Desc::PasidAll { did } => write!(f, "PASID-cache inv (did {did}, all PASIDs)"),
            Desc::PasidSel { did, pasid } => {
                write!(f, "PASID-cache inv (did {did}, PASID {pasid})")
            }
            Desc::IotlbDsi { did } => write!(f, "IOTLB inv (domain-selective, did {did})"),
            Desc::IotlbGlobal => write!(f, "IOTLB inv (global)"),
            Desc::IotlbPsi {
                did,
                page,
                pages,
                ih,
            } => write!(
                f,
                "IOTLB inv (page-selective, did {did}, pages {page:#x}+{pages}, IH={})",
                ih as u8
            ),
            Desc::PIotlb { did, pasid } => write!(f, "PASID-IOTLB inv (did {did}, PASID {pasid})"),
            Desc::PIotlbPsi {
                did,
                pasid,
                page,
                pages,
                ih,
            } => write!(
                f,
                "PASID-IOTLB inv (did {did}, PASID {pasid}, pages {page:#x}+{pages}, IH={})",
                ih as u8
            ),
            Desc::DevTlbAll { sid } => write!(f, "device-TLB inv (device {sid:#x}, global)"),
            Desc::DevTlbPasid { sid, pasid } => {
                write!(f, "device-TLB inv (device {sid:#x}, PASID {pasid})")
            }
        }
    }
}

// ------------------------------------------------------------------ the hardware

/// What the IOMMU reads from memory: the model's tables.
pub trait Tables {
    /// The context entry of `sid`.
    fn context_entry(&self, sid: Sid) -> &Atomic64;
    /// The PASID-table entry of `pasid` under `sid` (scalable mode).
    fn pasid_entry(&self, sid: Sid, pasid: Pasid) -> &Atomic64;
    /// Walk domain `did`'s page table for `page` (an IOVA page number): the page frame, or
    /// `None` if it is not mapped.
    fn walk(&self, did: Did, pasid: Pasid, page: u64) -> Option<u8>;
}

/// A tag of the IOTLB and device TLB: (DID or source ID, PASID, IOVA page).
pub type PageTag = (u16, Pasid, u64);

/// One VT-d IOMMU: its caches, its invalidation queue, and the flush points the model
/// declared.
pub struct Vtd {
    /// Scalable mode (`sm_supported`): PASID tables and the PASID cache are in use.
    pub scalable: bool,
    context_cache: Cache<Sid>,
    pasid_cache: Cache<(Sid, Pasid)>,
    iotlb: Cache<PageTag>,
    dev_tlb: Cache<PageTag>,
    qi: InvalidationQueue,
    drain: Translations,
    /// Per device: the generation of the context entry the last finished flush covered.
    context_floor: Vec<(Sid, Atomic64)>,
    /// Per device and PASID: the generation of the PASID entry the last finished teardown
    /// covered.
    pasid_floor: Vec<((Sid, Pasid), Atomic64)>,
}

/// The devices, PASIDs, domains and pages a model uses: the tags each cache gets a slot for.
pub struct Shape {
    /// Source IDs, and for each whether its endpoint has ATS enabled (a device TLB).
    pub devices: Vec<(Sid, bool)>,
    /// PASIDs in use ([`NO_PASID`] for requests without PASID).
    pub pasids: Vec<Pasid>,
    /// Domain IDs in use.
    pub domains: Vec<Did>,
    /// IOVA pages DMA may go to.
    pub pages: Vec<u64>,
}

/// How a DMA ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dma {
    /// Translated to this page frame.
    Frame(u8),
    /// A translation fault (not present, not mapped).
    Fault,
}

impl Vtd {
    /// An IOMMU in `scalable` or legacy mode, with cache slots for `shape`.
    pub fn new(scalable: bool, shape: &Shape) -> Self {
        let sids: Vec<Sid> = shape.devices.iter().map(|d| d.0).collect();
        assert!(
            sids.iter().all(|&s| s <= 0xff),
            "model limit: source IDs up to 0xff (a cached entry keeps its device in 8 bits)"
        );
        let per = |xs: &[u16]| -> Vec<PageTag> {
            let mut v = Vec::new();
            for &x in xs {
                for &p in &shape.pasids {
                    for &pg in &shape.pages {
                        v.push((x, p, pg));
                    }
                }
            }
            v
        };
        let dev_tlb_sids: Vec<Sid> = shape.devices.iter().filter(|d| d.1).map(|d| d.0).collect();
        let sid_pasids: Vec<(Sid, Pasid)> = sids
            .iter()
            .flat_map(|&s| shape.pasids.iter().map(move |&p| (s, p)))
            .collect();
        Vtd {
            scalable,
            context_cache: Cache::new("context-cache", sids.clone(), |s| format!("device {s:#x}")),
            pasid_cache: Cache::new(
                "PASID-cache",
                if scalable { sid_pasids.clone() } else { vec![] },
                |(s, p)| format!("device {s:#x} PASID {p}"),
            ),
            iotlb: Cache::new("IOTLB", per(&shape.domains), |(d, p, pg)| {
                format!("DID {d} PASID {p} IOVA page {pg:#x}")
            }),
            dev_tlb: Cache::new("device-TLB", per(&dev_tlb_sids), |(s, p, pg)| {
                format!("device {s:#x} PASID {p} IOVA page {pg:#x}")
            }),
            qi: InvalidationQueue::new(),
            drain: Translations::new(),
            context_floor: sids
                .iter()
                .map(|&s| {
                    (
                        s,
                        Atomic64::new(Obj::Named("flushed context generation"), 0),
                    )
                })
                .collect(),
            pasid_floor: sid_pasids
                .iter()
                .map(|&k| (k, Atomic64::new(Obj::Named("flushed PASID generation"), 0)))
                .collect(),
        }
    }

    /// `qi_submit_sync(iommu, descs)`: returns once the hardware processed them all.
    #[track_caller]
    pub fn submit_sync(&self, descs: &[Desc]) {
        self.qi
            .submit_sync(&self.drain, descs, |d| self.process(*d));
    }

    /// What the hardware does for one descriptor.
    fn process(&self, d: Desc) {
        let first_stage = |v| Derived::unpack(v).first_stage;
        let of_domain = |did| move |v| Derived::unpack(v).did == did;
        match d {
            // Device-selective: in legacy mode the DID must match the cached entry's too; in
            // scalable mode the hardware ignores it (the helper's comment, seed 003 lines 28-32).
            Desc::ContextDevice { sid, .. } if self.scalable => {
                self.context_cache.invalidate_tags(|s| s == sid)
            }
            Desc::ContextDevice { did, sid } => {
                self.context_cache
                    .invalidate(|s| s == sid, |v| ContextEntry::unpack(v).did == did);
            }
            Desc::PasidAll { did } => {
                self.pasid_cache.invalidate(|_| true, of_domain(did));
            }
            Desc::PasidSel { did, pasid } => {
                self.pasid_cache
                    .invalidate(|(_, p)| p == pasid, of_domain(did));
            }
            Desc::IotlbDsi { did } => {
                self.iotlb
                    .invalidate(|(d, _, _)| d == did, |v| !first_stage(v));
            }
            Desc::IotlbGlobal => self.iotlb.invalidate_tags(|_| true),
            Desc::IotlbPsi {
                did, page, pages, ..
            } => {
                self.iotlb.invalidate(
                    |(d, _, pg)| d == did && (page..page + pages).contains(&pg),
                    |v| !first_stage(v),
                );
            }
            Desc::PIotlb { did, pasid } => self
                .iotlb
                .invalidate_tags(|(d, p, _)| d == did && p == pasid),
            Desc::PIotlbPsi {
                did,
                pasid,
                page,
                pages,
                ..
            } => self.iotlb.invalidate_tags(|(d, p, pg)| {
                d == did && p == pasid && (page..page + pages).contains(&pg)
            }),
            Desc::DevTlbAll { sid } => self
                .dev_tlb
                .invalidate_tags(|(s, p, _)| s == sid && p == NO_PASID),
            Desc::DevTlbPasid { sid, pasid } => self
                .dev_tlb
                .invalidate_tags(|(s, p, _)| s == sid && p == pasid),
        }
    }

    /// The context entry of `sid` through the context cache, filling it on a miss. `hit`
    /// is set to the trace event of each cache hit of a translation: the last is where its
    /// answer came from, for a violation to point at.
    fn context(&self, t: &dyn Tables, sid: Sid, hit: &mut Option<usize>) -> Option<ContextEntry> {
        if let Some(v) = self.context_cache.lookup(sid) {
            *hit = last_event();
            return Some(ContextEntry::unpack(v));
        }
        let ce = ContextEntry::unpack(t.context_entry(sid).load(Ordering::Acquire));
        if !ce.present {
            return None;
        }
        self.context_cache.fill(sid, ce.pack());
        Some(ce)
    }

    /// The PASID entry of `pasid` under `sid` through the PASID cache: its DID and the
    /// generations it came through.
    fn pasid(
        &self,
        t: &dyn Tables,
        sid: Sid,
        pasid: Pasid,
        hit: &mut Option<usize>,
    ) -> Option<Derived> {
        if let Some(v) = self.pasid_cache.lookup((sid, pasid)) {
            *hit = last_event();
            return Some(Derived::unpack(v));
        }
        let ce = self.context(t, sid, hit)?;
        let pe = PasidEntry::unpack(t.pasid_entry(sid, pasid).load(Ordering::Acquire));
        if !pe.present {
            return None;
        }
        let d = Derived {
            frame: 0,
            first_stage: pe.first_stage,
            sid: sid as u8,
            context_translation: ce.translation,
            did: pe.did,
            context: ce.generation,
            pasid: pe.generation,
        };
        self.pasid_cache.fill((sid, pasid), d.pack());
        Some(d)
    }

    /// Translate `r` in the IOMMU (context, PASID, IOTLB), filling each cache it misses.
    fn iommu_translate(
        &self,
        t: &dyn Tables,
        r: Request,
        hit: &mut Option<usize>,
    ) -> Option<Derived> {
        let through = if self.scalable {
            self.pasid(t, r.sid, r.pasid, hit)?
        } else {
            let ce = self.context(t, r.sid, hit)?;
            Derived {
                frame: 0,
                first_stage: false,
                sid: r.sid as u8,
                context_translation: ce.translation,
                did: ce.did,
                context: ce.generation,
                pasid: 0,
            }
        };
        let tag = (through.did, r.pasid, r.page);
        if let Some(v) = self.iotlb.lookup(tag) {
            *hit = last_event();
            return Some(Derived::unpack(v));
        }
        let frame = t.walk(through.did, r.pasid, r.page)?;
        let d = Derived { frame, ..through };
        self.iotlb.fill(tag, d.pack());
        Some(d)
    }

    /// `r` as the device sees it: its device TLB first (if ATS is enabled), then a
    /// translation request to the IOMMU, whose answer it caches.
    fn device_translate(
        &self,
        t: &dyn Tables,
        r: Request,
        hit: &mut Option<usize>,
    ) -> Option<Derived> {
        let tag = (r.sid, r.pasid, r.page);
        let ats = self.dev_tlb.has_tag(tag);
        if let Some(v) = ats.then(|| self.dev_tlb.lookup(tag)).flatten() {
            *hit = last_event();
            return Some(Derived::unpack(v));
        }
        let d = self.iommu_translate(t, r, hit)?;
        if ats {
            self.dev_tlb.fill(tag, d.pack());
        }
        Some(d)
    }

    /// The IOMMU fills its own caches (context, PASID, IOTLB) for `r` without a DMA: a
    /// prefetch, which the hardware may make from any present entry at any time it could
    /// walk. The device TLB is filled only by the device's own translation requests.
    #[track_caller]
    pub fn prefetch(&self, t: &dyn Tables, r: Request) {
        step(format!("IOMMU prefetch: {r}"));
        let _in_flight = self.drain.begin();
        self.iommu_translate(t, r, &mut None);
    }

    /// A DMA of `r`, translated through the caches: a `stale-translation` if it completes
    /// through an entry derived from a generation a finished flush covered.
    #[track_caller]
    pub fn dma(&self, t: &dyn Tables, r: Request) -> Dma {
        step(format!("DMA: {r}"));
        let in_flight = self.drain.begin();
        let mut hit = None;
        let Some(d) = self.device_translate(t, r, &mut hit) else {
            drop(in_flight);
            step("DMA: translation fault");
            return Dma::Fault;
        };
        // The cache hit the translation's answer came from (else its last access), for the
        // report to mark rather than the bookkeeping read that judges it.
        let at = hit.or_else(last_event);
        self.check_derived(t, r.pasid, d, at, || format!("a DMA ({r}) completed"));
        drop(in_flight);
        step(format!("DMA: completes to frame {:#x}", d.frame));
        Dma::Frame(d.frame)
    }

    /// `stale-translation` if `d`, used with `pasid`, was derived from an entry generation
    /// that a finished flush covered, pointing at event `at` (the read of the cached entry),
    /// or the last. A translation through a PASID entry that has changed since is judged by
    /// that PASID's teardown only: its DMA is the teardown's business until the teardown
    /// returns.
    #[track_caller]
    fn check_derived(
        &self,
        t: &dyn Tables,
        pasid: Pasid,
        d: Derived,
        at: Option<usize>,
        what: impl Fn() -> String,
    ) {
        let sid = Sid::from(d.sid);
        if self.scalable {
            let pf = self.pasid_floor(sid, pasid).load(Ordering::Acquire) as u8;
            if d.pasid < pf {
                raise_at(
                    Kind::StaleTranslation,
                    format!(
                        "{} through a cached translation of device {sid:#x} PASID {pasid} \
                         derived from PASID entry generation {}, after the teardown that \
                         wrote generation {pf} returned",
                        what(),
                        d.pasid
                    ),
                    at,
                );
            }
            let now = PasidEntry::unpack(t.pasid_entry(sid, pasid).load(Ordering::Acquire));
            if now.generation != d.pasid {
                return;
            }
        }
        let (cf, tf) = self.floor_of(sid);
        if d.context_translation < tf {
            raise_at(
                Kind::StaleTranslation,
                format!(
                    "{} through a cached translation of device {sid:#x} PASID {pasid} \
                     derived from the context entry as it was before the change the flush \
                     covered (translation generation {} < {tf}), after the flush returned \
                     (intel_context_flush_present)",
                    what(),
                    d.context_translation
                ),
                at,
            );
        }
        if d.context < cf {
            raise_at(
                Kind::UnflushedEntry,
                format!(
                    "{} through a cached entry of device {sid:#x} PASID {pasid} derived from \
                     the context entry before the change the flush covered (generation {} < \
                     {cf}), after the flush returned (intel_context_flush_present); what it \
                     translates to did not change, but the entry outlived the invalidations \
                     issued for the change",
                    what(),
                    d.context
                ),
                at,
            );
        }
    }

    /// The generations of `sid`'s context entry the last finished flush covered: (any
    /// write, translation).
    fn floor_of(&self, sid: Sid) -> (u8, u8) {
        let w = self.context_floor(sid).load(Ordering::Acquire);
        (w as u8, (w >> 8) as u8)
    }

    fn context_floor(&self, sid: Sid) -> &Atomic64 {
        &self
            .context_floor
            .iter()
            .find(|(s, _)| *s == sid)
            .expect("declared device")
            .1
    }

    fn pasid_floor(&self, sid: Sid, pasid: Pasid) -> &Atomic64 {
        &self
            .pasid_floor
            .iter()
            .find(|(k, _)| *k == (sid, pasid))
            .expect("declared PASID")
            .1
    }

    /// The kernel believes the change of `sid`'s context entry to `ce` is flushed from
    /// every cache (the helper returned).
    #[track_caller]
    pub fn flushed_context(&self, sid: Sid, ce: ContextEntry) {
        let w = u64::from(ce.generation) | u64::from(ce.translation) << 8;
        self.context_floor(sid).store(w, Ordering::Release);
    }

    /// The kernel believes the teardown of `pasid` under `sid`, which wrote `generation`,
    /// is flushed from every cache (the teardown returned).
    #[track_caller]
    pub fn flushed_pasid(&self, sid: Sid, pasid: Pasid, generation: u8) {
        self.pasid_floor(sid, pasid)
            .store(u64::from(generation), Ordering::Release);
    }

    /// After the threads: `stale-translation` if any cache still holds an entry a finished
    /// flush covered.
    #[track_caller]
    pub fn check_caches(&self, t: &dyn Tables) {
        for (sid, v, at) in self.context_cache.entries() {
            let ce = ContextEntry::unpack(v);
            let (cf, tf) = self.floor_of(sid);
            let kind = if ce.translation < tf {
                Kind::StaleTranslation
            } else {
                Kind::UnflushedEntry
            };
            if ce.generation < cf {
                raise_at(
                    kind,
                    format!(
                        "after the threads, the context cache still holds device {sid:#x}'s \
                         context entry generation {}, though the flush of generation {cf} \
                         returned (intel_context_flush_present){}",
                        ce.generation,
                        if kind == Kind::UnflushedEntry {
                            "; only fields that do not translate (PRE) changed"
                        } else {
                            ""
                        }
                    ),
                    at,
                );
            }
        }
        let left = |cache: &'static str, tag: String| {
            move || {
                format!("after the threads, the {cache} still holds {tag}: a DMA would complete")
            }
        };
        for ((sid, pasid), v, at) in self.pasid_cache.entries() {
            let tag = format!("device {sid:#x} PASID {pasid}");
            let d = Derived::unpack(v);
            self.check_derived(t, pasid, d, at, left("PASID cache", tag));
        }
        for ((did, pasid, page), v, at) in self.iotlb.entries() {
            let tag = format!("did {did} PASID {pasid} page {page:#x}");
            let d = Derived::unpack(v);
            self.check_derived(t, pasid, d, at, left("IOTLB", tag));
        }
        for ((sid, pasid, page), v, at) in self.dev_tlb.entries() {
            let tag = format!("device {sid:#x} PASID {pasid} page {page:#x}");
            let d = Derived::unpack(v);
            self.check_derived(t, pasid, d, at, left("device TLB", tag));
        }
    }
}

// ------------------------------------------------------------------ first-stage walks

/// A tag of the paging-structure caches: (DID, PASID, level of the cached entry, the IOVA
/// bits above that level), the entry being the one that points to a table of `level - 1`.
pub type PsTag = (Did, Pasid, u32, u64);

/// The caches a page walk of one domain and PASID goes through: the IOTLB (leaf
/// translations, by IOVA page) and the paging-structure caches (non-leaf entries, by level
/// and the IOVA bits that select them), with the drain and the invalidation queue that
/// flush them. Each holds a physical address: of the page, or of the next table.
pub struct PagingCaches {
    did: Did,
    pasid: Pasid,
    geo: Geometry,
    iotlb: Cache<PageTag>,
    pscache: Cache<PsTag>,
    qi: InvalidationQueue,
    drain: Translations,
}

impl PagingCaches {
    /// Empty caches for domain `did` and `pasid`, with a slot for every page and every
    /// non-leaf entry of `geo`'s IOVA space (so only a scenario-sized geometry).
    pub fn new(did: Did, pasid: Pasid, geo: Geometry) -> Self {
        let pages = geo.space() >> 12;
        let pscache = (2..=geo.levels)
            .flat_map(|l| (0..geo.space() / geo.span(l)).map(move |k| (did, pasid, l, k)));
        PagingCaches {
            did,
            pasid,
            geo,
            iotlb: Cache::new(
                "IOTLB",
                (0..pages).map(|pg| (did, pasid, pg)),
                |(d, p, pg)| format!("DID {d} PASID {p} IOVA page {pg:#x}"),
            )
            .showing(|pa| format!("page at PA {pa:#x}")),
            pscache: Cache::new("paging-structure cache", pscache, |(d, p, l, k)| {
                format!("DID {d} PASID {p} L{l} entry {k:#x}")
            })
            .showing(|pa| format!("table at PA {pa:#x}")),
            qi: InvalidationQueue::new(),
            drain: Translations::new(),
        }
    }

    /// Begin a translation (a DMA's walk, a prefetch); the drain waits for its end.
    pub fn begin(&self) -> InFlight<'_> {
        self.drain.begin()
    }

    fn ps_tag(&self, level: u32, iova: u64) -> PsTag {
        (self.did, self.pasid, level, iova / self.geo.span(level))
    }

    /// The IOTLB's translation of `iova`'s page: the page's physical address.
    #[track_caller]
    pub fn leaf(&self, iova: u64) -> Option<u64> {
        self.iotlb.lookup((self.did, self.pasid, iova >> 12))
    }

    /// Cache the leaf translation of `iova`'s page to `pa`.
    #[track_caller]
    pub fn fill_leaf(&self, iova: u64, pa: u64) {
        self.iotlb.fill((self.did, self.pasid, iova >> 12), pa);
    }

    /// The deepest cached non-leaf entry on `iova`'s path: its level and the physical
    /// address of the table it points to.
    #[track_caller]
    pub fn deepest_table(&self, iova: u64) -> Option<(u32, u64)> {
        (2..=self.geo.levels)
            .find_map(|l| self.pscache.lookup(self.ps_tag(l, iova)).map(|pa| (l, pa)))
    }

    /// Cache the non-leaf entry at `level` on `iova`'s path, pointing to the table at `pa`.
    #[track_caller]
    pub fn fill_table(&self, level: u32, iova: u64, pa: u64) {
        self.pscache.fill(self.ps_tag(level, iova), pa);
    }

    /// After the threads: every IOTLB entry must be the PA `leaf` gives for its IOVA page
    /// (the mapping that should exist), and every paging-structure entry the table address
    /// `table` gives for its level and IOVA (the CPU's entry there); else a DMA would still
    /// complete through a translation the driver took away.
    #[track_caller]
    pub fn check_final(
        &self,
        leaf: impl Fn(u64) -> Option<u64>,
        table: impl Fn(u32, u64) -> Option<u64>,
    ) {
        // Pointing at the read of the cache entry, not at the table read that judged it.
        let stale = |what: String, at: Option<usize>| {
            raise_at(
                Kind::StaleTranslation,
                format!("after the threads, the {what}: a DMA would complete through it"),
                at,
            )
        };
        for ((_, _, page), pa, at) in self.iotlb.entries() {
            if leaf(page << 12) != Some(pa) {
                stale(format!("IOTLB still holds page {page:#x} -> {pa:#x}"), at);
            }
        }
        for ((_, _, level, k), pa, at) in self.pscache.entries() {
            let iova = k * self.geo.span(level);
            if table(level, iova) != Some(pa) {
                stale(
                    format!(
                        "paging-structure cache still holds L{level} entry {k:#x} (IOVA \
                         {iova:#x}) -> table at {pa:#x}, which the page table no longer \
                         points to"
                    ),
                    at,
                );
            }
        }
    }

    /// `qi_submit_sync` of `descs`: returns once the hardware processed them all.
    #[track_caller]
    pub fn submit_sync(&self, descs: &[Desc]) {
        self.qi
            .submit_sync(&self.drain, descs, |d| self.process(*d));
    }

    /// What the hardware does for one descriptor (page-selective, PASID-based only).
    fn process(&self, d: Desc) {
        let Desc::PIotlbPsi {
            did,
            pasid,
            page,
            pages,
            ih,
        } = d
        else {
            raise(
                Kind::Invariant,
                format!("model error: a page walk's caches process only PASID-IOTLB page invalidations, not {d:?}"),
            )
        };
        let ours = did == self.did && pasid == self.pasid;
        let range = page..page + pages;
        self.iotlb
            .invalidate_tags(|(d, p, pg)| ours && d == did && p == pasid && range.contains(&pg));
        if !ih {
            // An entry at level l covers pages [k * n, (k + 1) * n) for n pages per entry.
            let geo = self.geo;
            self.pscache.invalidate_tags(|(d, p, l, k)| {
                let n = geo.span(l) >> 12;
                ours && d == did && p == pasid && k * n < range.end && range.start < (k + 1) * n
            });
        }
    }
}
