//! The example's scenario files, run against its model registered from this crate.

#[test]
fn scenarios_get_their_verdicts() {
    iommu_mc::api::check_scenarios(&[&iommu_mc_example::MODEL], "scenarios");
}
