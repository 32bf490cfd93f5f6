//! The IOMMU's translation caches, generic over what they are tagged by: VT-d's context,
//! PASID, IOTLB, paging-structure and device TLBs (hw/vtd.rs), and later the SMMU's TLB.
//!
//! A cache is a set of slots, one per tag the model can fill (declared when it is built),
//! and each slot is an engine word: empty, or holding the entry the hardware cached. Who
//! hits and who misses decides a translation's path, so nothing of a cache is ghost.
//!
//! What the hardware may do, and how the model lets the engine do it:
//! - **Fill** ([`Cache::fill`]): from a present entry, at any time it could walk. A fill is
//!   a step of a hardware thread (a DMA that missed, or a scenario's prefetch), so the
//!   engine places it anywhere, as it does every other step.
//! - **Keep**: an entry stays until an invalidation removes it. The model never evicts for
//!   capacity: an eviction only ends a stale entry early, so keeping every entry is the
//!   hardware that finds the most stale-translation bugs (the fidelity table's row).
//! - **Invalidate** ([`Cache::invalidate`]): remove every entry a descriptor selects.
//! - **Drain** ([`Translations`]): a translation in flight when an invalidation completes
//!   finishes before the completion is reported (VT-d's drain of reads and writes, which
//!   current hardware always does; SMMU's CMD_SYNC). So a translation (lookups, fills, and
//!   the walk between them) and the processing of an invalidation never overlap.

use std::fmt::Debug;
use std::sync::atomic::Ordering;

use crate::check::{raise, Kind};
use crate::engine::{RawRwGuard, RawRwLock};
use crate::kernel::Atomic64;
use crate::trace::{last_event, step, Obj};

/// A translation cache: slots tagged by `K`, each holding a model-encoded entry.
pub struct Cache<K> {
    name: &'static str,
    slots: Vec<(K, Atomic64)>,
    /// A tag in the hardware's terms, for traces (`device 0x10 PASID 1`).
    describe: fn(K) -> String,
    /// An entry in the hardware's terms, for a fill's step (`table at PA 0x101000`). The
    /// slot's word holds the entry itself, which the trace prints as it does the entry.
    show: Option<fn(u64) -> String>,
}

/// An empty slot: all ones, which no model's entry encoding uses (a fill of it is a model
/// error). Entries are stored as they are, so that a trace's read of a slot shows the same
/// number as the read of the entry it was filled from (stored as entry + 1, a cached
/// context entry 0x101 read as 0x102, which decodes as another entry).
const EMPTY: u64 = u64::MAX;

impl<K: Copy + PartialEq + Debug> Cache<K> {
    /// A cache called `name` (`IOTLB`) with one slot for each tag in `tags`, which
    /// `describe` names in traces.
    pub fn new(
        name: &'static str,
        tags: impl IntoIterator<Item = K>,
        describe: fn(K) -> String,
    ) -> Self {
        let slots = tags
            .into_iter()
            .enumerate()
            .map(|(i, k)| {
                let obj = Obj::Object {
                    class: name,
                    id: i as u32,
                };
                (k, Atomic64::new(obj, EMPTY))
            })
            .collect();
        Cache {
            name,
            slots,
            describe,
            show: None,
        }
    }

    /// Name each filled entry in the fill's step with `show`.
    pub fn showing(self, show: fn(u64) -> String) -> Self {
        Cache {
            show: Some(show),
            ..self
        }
    }

    /// The slot of `tag`; a tag the model did not declare is a model error.
    #[track_caller]
    fn slot(&self, tag: K) -> &Atomic64 {
        match self.slots.iter().find(|(k, _)| *k == tag) {
            Some((_, w)) => w,
            None => raise(
                Kind::Invariant,
                format!(
                    "model error: {} has no slot for {tag:?}; declare it when building the cache",
                    self.name
                ),
            ),
        }
    }

    /// Whether the cache has a slot for `tag` (a device TLB exists only for a device with
    /// ATS enabled). Fixed when the cache is built: not a step.
    pub fn has_tag(&self, tag: K) -> bool {
        self.slots.iter().any(|(k, _)| *k == tag)
    }

    /// Look `tag` up: the cached entry, or `None` on a miss.
    #[track_caller]
    pub fn lookup(&self, tag: K) -> Option<u64> {
        // Acquire: a translation through an entry sees what the walk that filled it saw.
        match self.slot(tag).load(Ordering::Acquire) {
            EMPTY => None,
            v => Some(v),
        }
    }

    /// Fill `tag` with `entry`, read from a present entry during this translation.
    #[track_caller]
    pub fn fill(&self, tag: K, entry: u64) {
        let what = self.show.map(|f| format!(" -> {}", f(entry)));
        step(format!(
            "{} fill: {}{}",
            self.name,
            (self.describe)(tag),
            what.unwrap_or_default()
        ));
        if entry == EMPTY {
            raise(
                Kind::Invariant,
                format!(
                    "model error: {} cannot hold an entry of all ones (its empty slot)",
                    self.name
                ),
            );
        }
        self.slot(tag).store(entry, Ordering::Release);
    }

    /// Remove every entry whose tag `tag` selects and whose contents `entry` selects;
    /// returns how many went (use [`Cache::invalidate_tags`] when the tag decides alone). Each slot of a selected tag is read, and each removal written,
    /// as a step of its own; slots of other tags are not touched.
    #[track_caller]
    pub fn invalidate(&self, tag: impl Fn(K) -> bool, entry: impl Fn(u64) -> bool) -> usize {
        let mut removed = 0;
        for (_, w) in self.slots.iter().filter(|(k, _)| tag(*k)) {
            let v = w.load(Ordering::Relaxed);
            if v != EMPTY && entry(v) {
                w.store(EMPTY, Ordering::Relaxed);
                removed += 1;
            }
        }
        removed
    }

    /// Remove every entry whose tag `tag` selects, whatever it holds: one write per
    /// selected slot, no read.
    #[track_caller]
    pub fn invalidate_tags(&self, tag: impl Fn(K) -> bool) {
        for (_, w) in self.slots.iter().filter(|(k, _)| tag(*k)) {
            w.store(EMPTY, Ordering::Relaxed);
        }
    }

    /// Every entry cached now, with its tag and the trace event of its read, for a
    /// violation to point at (for final checks, after the threads).
    #[track_caller]
    pub fn entries(&self) -> Vec<(K, u64, Option<usize>)> {
        self.slots
            .iter()
            .filter_map(|(k, w)| match w.load(Ordering::Acquire) {
                EMPTY => None,
                v => Some((*k, v, last_event())),
            })
            .collect()
    }
}

/// The drain between translations and invalidation: translations share it, and the
/// processing of an invalidation holds it alone. Hardware, not a kernel lock: lockdep does
/// not see it.
pub struct Translations(RawRwLock);

/// A translation in flight; the drain waits for it to end.
pub struct InFlight<'a>(Option<RawRwGuard<'a>>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.0.take() {
            g.release();
        }
    }
}

impl Translations {
    /// A drain with no translation in flight.
    pub fn new() -> Self {
        Translations(RawRwLock::new())
    }

    /// Begin a translation (a DMA, a prefetch): it ends when the guard is dropped.
    pub fn begin(&self) -> InFlight<'_> {
        InFlight(Some(self.0.lock(false)))
    }

    /// Process an invalidation: `f` runs once no translation is in flight, and none starts
    /// until it returns.
    pub fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
        let g = InFlight(Some(self.0.lock(true)));
        let r = f();
        drop(g);
        r
    }
}

impl Default for Translations {
    fn default() -> Self {
        Translations::new()
    }
}
