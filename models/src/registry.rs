//! Every model iommu-mc knows: the built-in ones, one line each, and those a user's crate
//! registers. Scenario files name a model; this is where the name is looked up.

use crate::engine::Ghost;
use crate::spec::ModelSpec;

/// The built-in models.
const BUILT_IN: &[&ModelSpec] = &[
    &crate::vtd::first_level::MODEL,
    &crate::vtd::context_flush::MODEL,
    &crate::dma::reserved_iova::MODEL,
];

/// Models registered at run time (a user's crate). Ghost: written before any execution.
static REGISTERED: Ghost<Vec<&'static ModelSpec>> = Ghost::new(Vec::new());

/// Make `model` known to scenario files, beside the built-in ones. Refused if a model of
/// that name is already known, unless it is this very spec (registering twice is harmless).
pub fn register(model: &'static ModelSpec) -> Result<(), String> {
    match self::model(model.name()) {
        Some(m) if std::ptr::eq(m, model) => Ok(()),
        Some(_) => Err(format!(
            "a model called {:?} is already registered",
            model.name()
        )),
        None => {
            REGISTERED.with(|r| r.push(model));
            Ok(())
        }
    }
}

/// Every model known: the built-in ones, then the registered ones in registration order.
pub fn models() -> Vec<&'static ModelSpec> {
    let mut all = BUILT_IN.to_vec();
    REGISTERED.with(|r| all.extend(r.iter().copied()));
    all
}

/// The model called `name`.
pub fn model(name: &str) -> Option<&'static ModelSpec> {
    models().into_iter().find(|m| m.name() == name)
}
