//! A worked example of a model in a user's own crate, using only iommu-mc's public API.
//!
//! The race: two probes of one device call `dev_iommu_get()` (drivers/iommu/iommu.c) at
//! once. Each reads `dev->iommu`, finds it NULL, allocates a `struct dev_iommu` and stores
//! it; the second store overwrites the first, whose object is never freed (kmemleak reports
//! it). The kernel came to serialise probing under `iommu_probe_device_lock` ("iommu: Avoid
//! races around device probe", later extended to cover fwspec and `dev->iommu` creation).
//! The body below is written here from that description, not copied.
//!
//! Variant `unlocked` is the function before that lock covered it; `locked` holds the lock
//! across it. Scenarios: scenarios/*.toml; tests: tests/.

use iommu_mc::kernel::{
    kfree, kzalloc, mutex_lock, mutex_unlock, read_once, write_once, Atomic64, Gfp, KBox, Mutex,
    Slab,
};
use iommu_mc::spec::{About, Model, ModelSpec};
use iommu_mc::trace::{step, Obj};
use std::sync::Arc;

iommu_mc::variants! {
    /// The variants.
    pub enum Variant {
        /// dev_iommu_get() with no lock: check dev->iommu, allocate, store
        Unlocked = "unlocked",
        /// the same under iommu_probe_device_lock, as the kernel came to do
        Locked = "locked",
    }
}

iommu_mc::operations! {
    /// What a scenario's threads do.
    pub enum Op {
        /// iommu_probe_device(dev): dev_iommu_get(dev)
        Probe = "probe" (),
    }
}

/// `struct dev_iommu` (its fields do not matter here).
pub struct DevIommu;

/// One device and the allocator of its `dev_iommu`.
pub struct Probe {
    variant: Variant,
    /// `iommu_probe_device_lock`.
    lock: Mutex,
    cache: Slab,
    /// `dev->iommu`: the id of the `dev_iommu` object, 0 for NULL.
    dev_iommu: Atomic64,
    /// Every `dev_iommu` allocated, for the final check (read only after the threads).
    allocated: iommu_mc::Ghost<Vec<KBox<DevIommu>>>,
}

/// The value a pointer to `p` has in `dev->iommu` (never 0).
fn pointer(p: &KBox<DevIommu>) -> u64 {
    match p.obj() {
        Obj::Object { id, .. } => id as u64 + 1,
        _ => unreachable!("kzalloc returns an object"),
    }
}

impl Probe {
    /// `dev_iommu_get(dev)`.
    pub fn dev_iommu_get(&self) {
        step("dev_iommu_get: param = dev->iommu");
        if read_once(&self.dev_iommu) != 0 {
            return;
        }
        step("dev_iommu_get: NULL, kzalloc a dev_iommu");
        let Ok(param) = kzalloc(&self.cache, Gfp::Kernel, |_, _| DevIommu) else {
            return;
        };
        write_once(&self.dev_iommu, pointer(&param));
        self.allocated.with(|a| a.push(param));
    }
}

impl Model for Probe {
    type Variant = Variant;
    type Op = Op;
    type Params = ();

    fn build(variant: Variant, _: &()) -> Self {
        Probe {
            variant,
            lock: Mutex::new("iommu_probe_device_lock"),
            cache: Slab::new("dev_iommu"),
            dev_iommu: Atomic64::new(Obj::Named("dev->iommu"), 0),
            allocated: Default::default(),
        }
    }

    fn run(&self, Op::Probe {}: &Op) {
        match self.variant {
            Variant::Unlocked => self.dev_iommu_get(),
            Variant::Locked => {
                let g = mutex_lock(&self.lock);
                self.dev_iommu_get();
                mutex_unlock(g);
            }
        }
    }

    /// `dev_iommu_free()` of what dev->iommu points to; anything else allocated leaked.
    fn finish(&self) {
        let live = read_once(&self.dev_iommu);
        for p in self.allocated.with(std::mem::take) {
            if pointer(&p) == live {
                kfree(&p);
            }
        }
        self.cache.check_no_leak("dev_iommu_free");
    }
}

/// The model, for `iommu_mc::registry::register` and `iommu_mc::api::check_scenarios`.
pub const MODEL: ModelSpec = ModelSpec::of::<Probe>(About {
    name: "dev-iommu-get",
    about: "two probes of one device race in dev_iommu_get()",
    seed: "",
    mirrors: "drivers/iommu/iommu.c: dev_iommu_get, iommu_probe_device_lock",
    invariants: &[(
        "leak",
        "exactly one dev_iommu per device; none left unreferenced",
    )],
});

/// The same race as one closure, for `iommu_mc::check`: two threads probe one device.
pub fn two_probes(locked: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let variant = if locked {
            Variant::Locked
        } else {
            Variant::Unlocked
        };
        let m = Arc::new(Probe::build(variant, &()));
        let threads: Vec<_> = ["A", "B"]
            .into_iter()
            .map(|name| {
                let m = m.clone();
                iommu_mc::thread::spawn(name, move || m.run(&Op::Probe {}))
            })
            .collect();
        for t in threads {
            t.join();
        }
        m.finish();
    }
}
