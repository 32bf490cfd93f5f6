//! A model's own bug, met by the engine, is a model error that names the object and the
//! threads and says how to fix the model: never a verdict about the kernel code, never
//! loom's bare "Causality violation".
//!
//! The case: thread A allocates an object and hands it to thread B through a side table the
//! engine cannot see (here a std mutex). Loom sees no happens-before from the allocation to
//! B's access. Before, the KASAN layer reported that as a use-after-free of an object no one
//! freed. The twin publishes the same handle through an engine word (release/acquire), as
//! kernel code publishes a pointer, and holds.

#![allow(missing_docs)]

mod common;

use std::sync::{Arc, Mutex};

use common::explore::{explore_raw_reaching, reached, RawOutcome};
use iommu_models::engine::spawn;
use iommu_models::kernel::{
    kzalloc, read_once, smp_load_acquire, smp_store_release, Atomic64, Gfp, KBox, Slab,
};
use iommu_models::trace::{Obj, Recorder};

struct Dev {
    field: Atomic64,
}

/// A allocates a `dev` and puts it in a side table; B reads its field if it finds it there.
/// With `publish`, A also sets an engine word after filling the table, and B looks only once
/// it has read that word (acquire).
fn hand_over(publish: bool) -> RawOutcome {
    let rec = Recorder::with_names(vec!["A".into(), "B".into()]);
    explore_raw_reaching(rec, move || {
        let cache = Arc::new(Slab::new("dev"));
        let table: Arc<Mutex<Option<KBox<Dev>>>> = Arc::new(Mutex::new(None));
        let ready = Arc::new(Atomic64::new(Obj::Named("ready"), 0));
        let a = {
            let (cache, table, ready) = (cache.clone(), table.clone(), ready.clone());
            spawn(1, move || {
                let dev = kzalloc(&cache, Gfp::Kernel, |obj, shadow| Dev {
                    field: Atomic64::in_allocation(obj, 7, shadow),
                })
                .unwrap();
                *table.lock().unwrap() = Some(dev);
                if publish {
                    smp_store_release(&ready, 1);
                }
            })
        };
        let b = spawn(2, move || {
            if publish && smp_load_acquire(&ready) == 0 {
                return;
            }
            let dev = table.lock().unwrap().clone();
            if let Some(dev) = dev {
                read_once(&dev.get().field);
                reached();
            }
        });
        a.join();
        b.join();
    })
}

#[test]
fn an_object_handed_over_through_a_side_table_is_a_model_error_naming_it() {
    let (msg, violation) = hand_over(false)
        .failure
        .expect("loom must stop on the unordered hand-over");
    assert_eq!(
        violation, None,
        "reported as a verdict on the kernel code: {msg}"
    );
    for want in [
        "B accessed dev 0",
        "after A's allocation of it",
        "state loom cannot see",
        "smp_store_release",
    ] {
        assert!(msg.contains(want), "missing {want:?} in: {msg}");
    }
}

#[test]
fn the_same_object_published_through_an_engine_word_holds() {
    let o = hand_over(true);
    assert_eq!(o.failure, None);
    assert!(o.reached > 0, "B never read the field");
    assert!(o.executions > 1, "{o:?}");
}
