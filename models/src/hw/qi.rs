//! Queued invalidation (drivers/iommu/intel/dmar.c: `qi_submit_sync`), generic over the
//! descriptors a driver queues.
//!
//! The driver takes `qi->q_lock` (a `raw_spinlock_t`, with interrupts saved), writes its
//! descriptors and a wait descriptor into the queue, moves the tail register, and polls the
//! wait descriptor's status until the hardware writes `QI_DONE`. Only then does it return:
//! that completion, not the queueing, is what guarantees the flush.
//!
//! How the model runs it: the hardware's processing of one submission runs as steps on the
//! submitting thread, after the queueing and before `qi_submit_sync` returns, with no
//! translation in flight ([`Translations::exclusive`]): one step per descriptor, then the
//! wait descriptor's completion. The submitter does nothing but poll in between, so running
//! the hardware's steps there instead of on a thread of their own reaches the same states.
//! Submissions are processed one at a time, in the order their submitters reach the
//! hardware ([`Translations::exclusive`] serialises them). `qi->q_lock` itself (a
//! `raw_spinlock_t`, taken with interrupts off and dropped while polling) is not modelled
//! as a lock: no other lock is taken under it, and the drain already orders submissions
//! (the fidelity table's row). Leaving it out saves two engine steps per submission.

use std::fmt::Debug;

use crate::hw::cache::Translations;
use crate::trace::{hardware_step, step};

/// An IOMMU's invalidation queue.
pub struct InvalidationQueue;

/// The step label of a wait descriptor's completion, as seen by the submitter: what the
/// lock-hold figures count as an invalidation wait.
pub const WAIT_DONE: &str = "qi_submit_sync: wait descriptor done";

impl InvalidationQueue {
    /// The queue of one IOMMU (`iommu->qi`).
    pub fn new() -> Self {
        InvalidationQueue
    }

    /// `qi_submit_sync(iommu, descs, count, 0)`: queue `descs` and a wait descriptor, and
    /// return once the hardware has processed them; `process` is what the hardware does
    /// for one descriptor.
    #[track_caller]
    pub fn submit_sync<D: Debug>(&self, hw: &Translations, descs: &[D], process: impl Fn(&D)) {
        step(format!(
            "qi_submit_sync: queue {descs:?} and a wait descriptor"
        ));
        hw.exclusive(|| {
            for d in descs {
                hardware_step(format!("IOMMU processes {d:?}"));
                process(d);
            }
            hardware_step("IOMMU processes the wait descriptor: status QI_DONE");
        });
        step(WAIT_DONE);
    }
}

impl Default for InvalidationQueue {
    fn default() -> Self {
        InvalidationQueue::new()
    }
}
