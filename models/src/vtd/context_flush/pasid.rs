//! drivers/iommu/intel/pasid.c of the series: the helper `intel_context_flush_present`,
//! `device_pasid_table_teardown`, and the PASID attach and teardown paths that race it. The
//! device's state (`struct device_domain_info`, its context entry and PASID table) and the
//! IOMMU's (`iommu->lock`, caches, invalidation queue) are here too.

use std::sync::atomic::Ordering;

use super::spec::{Assert, DidFrom, DomainFlush, Flush, Hw, Locking, Mechanics};
use crate::hw::vtd::{
    ContextEntry, Desc, Did, Pasid, PasidEntry, Request, Shape, Sid, Tables, Vtd, NO_PASID,
};
use crate::kernel::spinlock::{assert_spin_locked, spin_lock, spin_unlock, SpinLock};
use crate::kernel::{Atomic64, Errno};
use crate::trace::{key_step, step, Obj};

/// The one device of the model (00:02.0).
pub const SID: Sid = 0x10;

/// One IOMMU and one device behind it.
pub struct ContextFlush {
    pub(super) mech: Mechanics,
    pub(super) hw: Hw,
    /// `iommu->lock`: protects context entries and PASID-table writes.
    pub(super) lock: SpinLock,
    /// The device's context entry.
    pub(super) context: Atomic64,
    /// The device's PASID table (scalable mode); entry 0 is RID2PASID.
    pub(super) pasid_table: Vec<Atomic64>,
    /// The IOMMU: its caches and invalidation queue.
    pub(super) vtd: Vtd,
}

impl Tables for ContextFlush {
    fn context_entry(&self, _sid: Sid) -> &Atomic64 {
        &self.context
    }
    fn pasid_entry(&self, _sid: Sid, pasid: Pasid) -> &Atomic64 {
        &self.pasid_table[pasid as usize]
    }
    fn walk(&self, did: Did, _pasid: Pasid, page: u64) -> Option<u8> {
        // The page tables do not change in this model: every domain maps every page.
        Some((did as u64 * 4 + page) as u8)
    }
}

impl ContextFlush {
    /// The device with its context entry present (DID 1 in legacy mode) and no PASID
    /// attached.
    pub fn new(mech: Mechanics, hw: Hw) -> Self {
        let scalable = hw.scalable == 1;
        let shape = Shape {
            devices: vec![(SID, hw.ats == 1)],
            pasids: if scalable {
                (0..hw.pasids).collect()
            } else {
                vec![NO_PASID]
            },
            domains: (1..=hw.domains as Did).collect(),
            pages: (0..hw.pages as u64).collect(),
        };
        // In scalable mode the kernel's context entry has no Domain-ID field
        // (context_entry_set_pasid_table writes none): the model's has DID 0 there, and
        // the hardware model ignores it (a scalable-mode context-cache invalidation matches
        // the device alone; translations take the PASID entry's DID).
        let present = ContextEntry {
            present: true,
            pre: false,
            did: if scalable { 0 } else { 1 },
            generation: 0,
            translation: 0,
        };
        ContextFlush {
            mech,
            hw,
            lock: SpinLock::new("iommu->lock"),
            context: Atomic64::new(Obj::Named("context entry"), present.pack()),
            pasid_table: (0..hw.pasids)
                .map(|_| Atomic64::new(Obj::Named("PASID entry"), 0))
                .collect(),
            vtd: Vtd::new(scalable, &shape),
        }
    }

    /// The context entry as the CPU reads it (under `iommu->lock`).
    pub(super) fn read_context(&self) -> ContextEntry {
        ContextEntry::unpack(self.context.load(Ordering::Relaxed))
    }

    /// Write the context entry (one store: the model's entry is one word).
    pub(super) fn write_context(&self, ce: ContextEntry) {
        self.context.store(ce.pack(), Ordering::Relaxed);
    }

    /// The helper, and then the point where the caller believes the change of the context
    /// entry to `new` is flushed from every cache.
    pub(super) fn flush_present(&self, who: &str, did: Did, domains: bool, new: ContextEntry) {
        let passed = (self.mech.did == DidFrom::Caller).then_some(did);
        self.intel_context_flush_present(who, passed, domains);
        step(format!("{who}: intel_context_flush_present returned"));
        self.vtd.flushed_context(SID, new);
    }

    /// `intel_context_flush_present(info, context, affect_domains)` (the parameter is
    /// renamed `flush_domains` in the final diff and the kernel): flush every cache that
    /// may hold something derived from the changed context entry, in the order `mech.order`
    /// gives (the spec's: context cache, PASID cache, IOTLB, device TLB). `passed` is the
    /// DID a `did-fix` caller read before clearing the entry.
    fn intel_context_flush_present(&self, who: &str, passed: Option<Did>, domains: bool) {
        let did = passed.unwrap_or_else(|| {
            step(format!("{who}: did = context_domain_id(context)"));
            let did = self.read_context().did;
            if did == 0 && !self.vtd.scalable {
                // Key in legacy mode: the flushes below name DID 0, which no domain has,
                // and there the hardware matches the DID; no access of another thread's
                // shows that. In scalable mode the context-cache invalidation ignores the
                // DID (seed lines 28-32) and the walk takes each PASID entry's own: the read
                // decides nothing there.
                key_step(format!(
                    "{who}: the DID read is 0: the caller already cleared the entry"
                ));
            }
            did
        });
        if self.mech.assert == Assert::Top {
            step(format!("{who}: assert_spin_locked(&iommu->lock)"));
            assert_spin_locked(&self.lock);
        }
        // Whether the walk found a PASID other than RID2PASID: only then can the device TLB
        // hold entries the device-TLB invalidation without PASID leaves (the report's key).
        let mut tagged = false;
        for f in self.mech.order {
            match f {
                Flush::Context => {
                    step(format!(
                        "{who}: flush_context: device-selective context-cache invalidation"
                    ));
                    self.vtd
                        .submit_sync(&[Desc::ContextDevice { did, sid: SID }]);
                }
                Flush::Domains => tagged = self.flush_domains(who, did, domains),
                Flush::DevTlb => self.context_flush_dev_iotlb(who, tagged),
            }
        }
    }

    /// The helper's middle part: legacy mode's domain-selective IOTLB invalidation, or in
    /// scalable mode with `affect_domains` (`flush_domains` in the final diff and the
    /// kernel), the domains of the present PASID entries. True if the walk found a present
    /// PASID other than RID2PASID.
    fn flush_domains(&self, who: &str, did: Did, domains: bool) -> bool {
        if !self.vtd.scalable {
            step(format!(
                "{who}: legacy mode: flush_iotlb(did {did}, DMA_TLB_DSI_FLUSH)"
            ));
            self.vtd.submit_sync(&[Desc::IotlbDsi { did }]);
            return false;
        }
        if !domains {
            return false;
        }
        let mut tagged = false;
        if self.mech.locking == Locking::WalkOnly {
            // Kevin's proposal: collect the DIDs under the lock, invalidate outside it.
            let g = spin_lock(&self.lock);
            let mut dids: Vec<Did> = Vec::new();
            for (pasid, pte) in self.present_entries(who) {
                tagged |= pasid != NO_PASID;
                // Key, as the locked walk's outcome is (below).
                key_step(format!(
                    "{who}: PASID {pasid} present: DID {} into the bitmap",
                    pte.did
                ));
                if !dids.contains(&pte.did) {
                    dids.push(pte.did);
                }
            }
            spin_unlock(g);
            for did in dids {
                self.flush_domain(who, &self.domain_descs(did, None));
            }
            return tagged;
        }
        if self.mech.assert == Assert::FlushDomains {
            step(format!("{who}: assert_spin_locked(&iommu->lock)"));
            assert_spin_locked(&self.lock);
        }
        for (pasid, pte) in self.present_entries(who) {
            tagged |= pasid != NO_PASID;
            // Key: which domains the walk found decides which invalidations follow; the
            // decision reads a local copy of the entry, which no access shows. The label
            // names the invalidations (their own steps are not all shown), so that a mutant
            // without one says so.
            let descs = self.domain_descs(pte.did, Some((pasid, pte)));
            let kinds: Vec<&str> = descs.iter().map(cache_of).collect();
            key_step(format!(
                "{who}: PASID {pasid} present: flush its DID {}: {}",
                pte.did,
                kinds.join(", ")
            ));
            self.flush_domain(who, &descs);
        }
        tagged
    }

    /// The walk of the PASID table: each present entry, read one at a time.
    fn present_entries<'a>(
        &'a self,
        who: &'a str,
    ) -> impl Iterator<Item = (Pasid, PasidEntry)> + 'a {
        self.pasid_table
            .iter()
            .enumerate()
            .filter_map(move |(i, w)| {
                // Labelled before the read, so that a report puts the read of entry i under
                // entry i, not under the previous entry's verdict.
                step(format!("{who}: walk the PASID table: entry {i}"));
                let pte = PasidEntry::unpack(w.load(Ordering::Relaxed));
                if !pte.present {
                    step(format!("{who}: PASID {i} not present, skipped"));
                }
                pte.present.then_some((i as Pasid, pte))
            })
    }

    /// The invalidations for one domain found in the walk (`entry`: the PASID entry it was
    /// found in, when the walk kept it).
    fn domain_descs(&self, did: Did, entry: Option<(Pasid, PasidEntry)>) -> Vec<Desc> {
        let mut descs = Vec::new();
        for d in self.mech.per_domain {
            descs.push(match (d, entry) {
                (DomainFlush::Pasid, _) => Desc::PasidAll { did },
                (DomainFlush::Iotlb, _) => Desc::IotlbDsi { did },
                (DomainFlush::PIotlb, Some((pasid, pte))) if pte.first_stage => {
                    Desc::PIotlb { did, pasid }
                }
                (DomainFlush::PIotlb, _) => Desc::IotlbDsi { did },
                (DomainFlush::DevTlbPasid, Some((pasid, _)))
                    if self.hw.ats == 1 && pasid != NO_PASID =>
                {
                    Desc::DevTlbPasid { sid: SID, pasid }
                }
                (DomainFlush::DevTlbPasid, _) => continue,
            });
        }
        descs
    }

    /// Issue one domain's invalidations. (A domain-selective IOTLB invalidation that leaves
    /// a first-stage entry reads it: the report shows it as the invalidation that passed
    /// over the stale entry.)
    fn flush_domain(&self, who: &str, descs: &[Desc]) {
        for &desc in descs {
            step(format!("{who}: {desc:?}"));
            self.vtd.submit_sync(&[desc]);
        }
    }

    /// `__context_flush_dev_iotlb(info)`: a device-TLB invalidation of the whole device,
    /// without PASID, if ATS is enabled. `tagged`: the walk found a PASID other than
    /// RID2PASID.
    fn context_flush_dev_iotlb(&self, who: &str, tagged: bool) {
        if self.hw.ats == 1 {
            // Key when a PASID-tagged device-TLB entry may exist: the invalidation without
            // PASID leaves such entries by the model's reading without touching them (no
            // access of it shows), and the report says so only if it shows the step.
            let desc = Desc::DevTlbAll { sid: SID };
            let label = format!("{who}: __context_flush_dev_iotlb: {desc:?}");
            if tagged {
                key_step(label);
            } else {
                step(label);
            }
            self.vtd.submit_sync(&[desc]);
        }
    }

    /// `intel_pasid_setup_first_level` / `_second_level`: attach `pasid` to domain `did`.
    /// Inferred from the kernel: under `iommu->lock`, -EBUSY if the entry is present, else
    /// write it; no cache flush after it (a coherent walk, not caching mode: the hardware
    /// cannot have cached an entry that was not present).
    pub(super) fn intel_pasid_setup(
        &self,
        pasid: Pasid,
        did: Did,
        first_stage: bool,
    ) -> Result<(), Errno> {
        let g = spin_lock(&self.lock);
        let w = &self.pasid_table[pasid as usize];
        let old = PasidEntry::unpack(w.load(Ordering::Relaxed));
        if old.present {
            step(format!("attach: PASID {pasid} already present: -EBUSY"));
            spin_unlock(g);
            return Err(Errno::EBUSY);
        }
        step(format!(
            "attach: write PASID entry {pasid}: DID {did}, present"
        ));
        let new = PasidEntry {
            present: true,
            first_stage,
            did,
            generation: old.generation.wrapping_add(1),
        };
        w.store(new.pack(), Ordering::Relaxed);
        spin_unlock(g);
        Ok(())
    }

    /// `intel_pasid_tear_down_entry(iommu, dev, pasid)`. Inferred from the kernel: clear the
    /// entry under `iommu->lock`; outside it, PASID-cache invalidation of that PASID, the
    /// IOTLB (PASID-based for first-stage, domain-selective otherwise), and the device TLB.
    pub(super) fn intel_pasid_tear_down_entry(&self, pasid: Pasid) {
        let g = spin_lock(&self.lock);
        let w = &self.pasid_table[pasid as usize];
        let old = PasidEntry::unpack(w.load(Ordering::Relaxed));
        if !old.present {
            step(format!("detach: PASID {pasid} not present"));
            spin_unlock(g);
            return;
        }
        key_step(format!(
            "detach: clear PASID entry {pasid} (DID {})",
            old.did
        ));
        let generation = old.generation.wrapping_add(1);
        w.store(
            PasidEntry {
                generation,
                ..PasidEntry::default()
            }
            .pack(),
            Ordering::Relaxed,
        );
        spin_unlock(g);
        let did = old.did;
        let mut descs = vec![
            Desc::PasidSel { did, pasid },
            if old.first_stage {
                Desc::PIotlb { did, pasid }
            } else {
                Desc::IotlbDsi { did }
            },
        ];
        if self.hw.ats == 1 {
            descs.push(if pasid == NO_PASID {
                Desc::DevTlbAll { sid: SID }
            } else {
                Desc::DevTlbPasid { sid: SID, pasid }
            });
        }
        for d in descs {
            step(format!("detach: {d:?}"));
            self.vtd.submit_sync(&[d]);
        }
        step("detach: intel_pasid_tear_down_entry returned");
        self.vtd.flushed_pasid(SID, pasid, generation);
    }

    /// The device's DMA, or the IOMMU's prefetch, of `pasid` at `page`.
    pub(super) fn request(&self, pasid: Pasid, page: u64) -> Request {
        Request {
            sid: SID,
            pasid,
            page,
        }
    }
}

/// The cache a descriptor of the walk invalidates, for the walk's key step.
fn cache_of(d: &Desc) -> &'static str {
    match d {
        Desc::PasidAll { .. } | Desc::PasidSel { .. } => "PASID cache",
        Desc::PIotlb { .. } | Desc::PIotlbPsi { .. } => "PASID-based IOTLB",
        Desc::DevTlbAll { .. } | Desc::DevTlbPasid { .. } => "device TLB",
        Desc::ContextDevice { .. } => "context cache",
        Desc::IotlbDsi { .. } | Desc::IotlbGlobal | Desc::IotlbPsi { .. } => "IOTLB",
    }
}

/// How a caller changes the context entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// `context_clear_entry`: the entry goes (domain_context_clear_one,
    /// device_pasid_table_teardown).
    Clear,
    /// `context_set_sm_pre` / `context_clear_sm_pre`: the entry stays present, PRE flips
    /// (context_flip_pri).
    FlipPre,
}

impl ContextFlush {
    /// The callers' common shape: under `iommu->lock`, change the present context entry,
    /// `__iommu_flush_cache` it (nothing to do on a coherent walk), and call the helper with
    /// `domains`, before or after the unlock as the variant's locking says.
    pub(super) fn change_context(&self, who: &str, change: Change, domains: bool) {
        let g = spin_lock(&self.lock);
        let ce = self.read_context();
        if !ce.present {
            step(format!("{who}: context entry not present"));
            spin_unlock(g);
            return;
        }
        // did-fix: the DID is read before the entry changes (the caller's copy).
        let did = ce.did;
        let generation = ce.generation.wrapping_add(1);
        let new = match change {
            // Key: the change every flush after it is for; a report shows it even when no
            // other thread reads the entry.
            Change::Clear => {
                key_step(format!("{who}: context_clear_entry(context)"));
                ContextEntry {
                    generation,
                    translation: ce.translation.wrapping_add(1),
                    ..ContextEntry::default()
                }
            }
            Change::FlipPre => {
                key_step(format!("{who}: flip PRE in the present context entry"));
                ContextEntry {
                    pre: !ce.pre,
                    generation,
                    ..ce
                }
            }
        };
        self.write_context(new);
        let held = match self.mech.locking {
            Locking::CallerHolds => true,
            Locking::Agreed => change == Change::FlipPre,
            Locking::WalkOnly => false,
        };
        if held {
            self.flush_present(who, did, domains, new);
            spin_unlock(g);
        } else {
            spin_unlock(g);
            self.flush_present(who, did, domains, new);
        }
    }

    /// `device_pasid_table_teardown(dev, bus, devfn)`: the PASID table goes (scalable
    /// mode), every PASID already torn down: clear the context entry, flush without the
    /// domains.
    pub(super) fn device_pasid_table_teardown(&self) {
        self.change_context("teardown_table", Change::Clear, false);
    }
}
