//! What `reserved-iova` checks, apart from the algorithm: the scenario's bookkeeping of gets
//! and puts (which thread holds which IOVA), the checks a get's result must pass, and the
//! final checks.

use std::collections::BTreeMap;

use super::dma_reserved_iommu::{ReservedIova, Span, SHIFT};
use super::spec::{Flow, Lookup};
use crate::check::{raise, Kind};
use crate::engine::{thread_index, Ghost, RawAtomic};
use crate::kernel::iommu::iommu_iova_to_phys;
use crate::kernel::{kref_read, read_once, spin_lock_irqsave, spin_unlock_irqrestore};
use crate::trace::{checking, step};

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
pub(super) struct Reference {
    /// (aligned PA, size) -> gets not yet put.
    pub(super) outstanding: BTreeMap<(u64, u64), u64>,
    /// (thread, aligned PA, size) -> IOVAs the gets of a scenario thread returned, not yet
    /// put. invariant: thread `t`'s entries are touched only by thread `t`.
    pub(super) returned: BTreeMap<(usize, u64, u64), Vec<u64>>,
    /// Set once the domain was freed.
    pub(super) freed: bool,
}

/// The IOVAs the setup's gets of one (aligned PA, size) returned and did not put, handed to
/// the threads: the list is fixed before the threads start; which thread takes which is an
/// engine word, one per PA, so takes of different PAs stay independent.
pub(super) struct Handed {
    /// Pushed and popped by the setup's own gets and puts; read-only once threads run.
    pub(super) iovas: Ghost<Vec<u64>>,
    /// How many the threads took (a take past the end finds none).
    pub(super) taken: RawAtomic,
}

impl Handed {
    /// A thread's take of one of the setup's IOVAs, last returned first.
    pub(super) fn take(&self) -> Option<u64> {
        let n = self
            .taken
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed) as usize;
        self.iovas
            .with(|v| v.len().checked_sub(n + 1).map(|i| v[i]))
    }
}

impl ReservedIova {
    /// The IOVA a get returns, plus the offset, translates to the requested PA. Checked under
    /// `reserved_lock`, where the get takes effect.
    pub(super) fn check_translates(&self, iova: u64, addr: u64) {
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
    pub(super) fn handed(&self, key: (u64, u64)) -> std::sync::Arc<Handed> {
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
    pub(super) fn run_get(&self, addr: u64, size: u64) -> Option<u64> {
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

    pub(super) fn run_put(&self, addr: u64, size: u64) {
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
        if self.mech.flow == Flow::PrepareMaps {
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
    pub(super) fn check_final(&self) {
        let (freed, outstanding) = self.reference.with(|r| (r.freed, r.outstanding.clone()));
        let all_put = outstanding.values().all(|&n| n == 0);
        if !freed {
            step("final check: bindings against the references held");
            // A prepared binding also holds the prepare step's own reference; a
            // prepare-desc activate takes none.
            let base = u64::from(self.mech.flow == Flow::PrepareMaps);
            let counted = self.mech.lookup == Lookup::UnderLock;
            let g = spin_lock_irqsave(&self.reserved_lock);
            let bindings = self.bindings.access(&g, |b| b.clone());
            spin_unlock_irqrestore(g);
            for b in &bindings {
                let v = b.get();
                let held = outstanding.get(&(v.addr, v.size)).copied().unwrap_or(0);
                let want = base + if counted { held } else { 0 };
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
            if all_put && self.mech.flow != Flow::PrepareMaps {
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
        }
        // A prepare-style free_domain deletes every binding whatever its count; when a
        // scenario thread freed the domain, no activated MSI may still target one. (When
        // this check freed it, every get was put, from deactivate or not, and the messages
        // are the scenario's, not the teardown's.)
        if freed && self.mech.flow == Flow::PrepareMaps {
            self.check_msis_masked();
        }
    }

    /// Every prepare-style variant, after a thread freed the domain: no MSI message still
    /// targets the reserved window, where the device's next MSI write would hit a binding
    /// freed and unmapped while the message pointed at it.
    pub(super) fn check_msis_masked(&self) {
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
}
