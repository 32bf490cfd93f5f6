//! The same race as one closure, checked with `iommu_mc::check` like `loom::model`.

use iommu_mc::api::Kind;
use iommu_mc::{check, EngineKind};
use iommu_mc_example::two_probes;

#[test]
fn unlocked_probes_leak_a_dev_iommu() {
    let c = check(EngineKind::Loom, two_probes(false));
    c.assert_violated(Kind::Leak);
    let text = c.text();
    assert!(text.contains("leak"), "{text}");
    assert!(text.contains("dev_iommu 1 still allocated"), "{text}");
    // A closure check states no expectation of its own: its test does.
    assert!(!text.contains("(expected"), "{text}");
}

#[test]
fn locked_probes_hold() {
    // A hold says something only if the probe's allocation was reached.
    iommu_mc::Check::new("locked_probes_hold", EngineKind::Loom)
        .reaches(&["dev_iommu_get: NULL, kzalloc a dev_iommu"])
        .run(two_probes(true))
        .assert_holds();
}
