//! The dev_iommu_get() race written from scratch as closure models, the way a developer
//! checks a patch before posting it: no variants, no operations, no scenario file. This is
//! the short form that docs/WRITING-A-MODEL.md measures against the 60-line target.

use iommu_mc::api::Kind;
use iommu_mc::kernel::{
    kfree, kzalloc, mutex_lock, mutex_unlock, read_once, write_once, Atomic64, Gfp, KBox, Mutex,
    Slab,
};
use iommu_mc::trace::{step, Obj};
use iommu_mc::{check, thread, Check, EngineKind, Ghost};
use std::sync::Arc;

/// One device: `dev->iommu` (0 for NULL, else the object's number), the slab of `struct
/// dev_iommu`, `iommu_probe_device_lock`, and every allocation (ghost: read only after the
/// threads, to free the one `dev->iommu` kept).
struct Dev {
    iommu: Atomic64,
    cache: Slab,
    probe_lock: Mutex,
    allocated: Ghost<Vec<(u64, KBox<()>)>>,
}

/// `dev_iommu_get(dev)`: allocate `dev->iommu` if it is NULL.
fn dev_iommu_get(dev: &Dev, n: u64) {
    step("dev_iommu_get: param = dev->iommu");
    if read_once(&dev.iommu) != 0 {
        return;
    }
    step("dev_iommu_get: NULL, kzalloc a dev_iommu");
    let param = kzalloc(&dev.cache, Gfp::Kernel, |_, _| ()).unwrap();
    write_once(&dev.iommu, n);
    dev.allocated.with(|a| a.push((n, param)));
}

/// Two probes of one device, with or without `iommu_probe_device_lock` around the get.
fn two_probes(locked: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let dev = Arc::new(Dev {
            iommu: Atomic64::new(Obj::Named("dev->iommu"), 0),
            cache: Slab::new("dev_iommu"),
            probe_lock: Mutex::new("iommu_probe_device_lock"),
            allocated: Ghost::new(Vec::new()),
        });
        let probes = [(1, "A"), (2, "B")].map(|(n, name)| {
            let dev = dev.clone();
            thread::spawn(name, move || {
                let g = locked.then(|| mutex_lock(&dev.probe_lock));
                dev_iommu_get(&dev, n);
                g.map(mutex_unlock);
            })
        });
        for t in probes {
            t.join();
        }
        // dev_iommu_free(): what dev->iommu points to; anything else has leaked.
        let kept = read_once(&dev.iommu);
        for (n, p) in dev.allocated.with(std::mem::take) {
            if n == kept {
                kfree(&p);
            }
        }
        dev.cache.check_no_leak("dev_iommu_free");
    }
}

#[test]
fn standalone_unlocked_leaks() {
    check(EngineKind::Loom, two_probes(false)).assert_violated(Kind::Leak);
}

#[test]
fn standalone_locked_holds() {
    Check::new("standalone_locked_holds", EngineKind::Loom)
        .reaches(&["dev_iommu_get: NULL, kzalloc a dev_iommu"])
        .run(two_probes(true))
        .assert_holds();
}
