//! SARIF 2.1.0 for code hosts and CI: one result per violation found, expected or not.
//!
//! A result's `ruleId` is the violation kind, its message the report's first paragraph, its
//! level `error` when the scenario does not expect it and `note` when it does. It is
//! located at the model step where the violation was raised (the report's
//! `violation_line`; the scenario file when the violation names none), with the
//! scenario file as a related location. The driver lists one rule per kind. Paths are
//! relative to the current folder where they lie under it (`file://` URIs otherwise),
//! results are sorted, and the file holds no timings: two runs, on any machine, give the
//! same bytes.

use std::path::Path;

use iommu_models::check::Kind;
use serde_json::{json, Value};

use super::Report;

/// What a violation of `k` means, as the driver's rule describes it.
pub fn describe_kind(k: Kind) -> &'static str {
    match k {
        Kind::UseAfterFree => "Read or write of a freed page or object (KASAN).",
        Kind::DoubleFree => "A page or object freed twice.",
        Kind::Leak => "A page or object still allocated after teardown.",
        Kind::UninitializedRead => "A read that cannot see the initialisation of what it reads.",
        Kind::LostMapping => "A mapping that succeeded and was not unmapped does not translate.",
        Kind::StaleTranslation => "Something translates that should not, or to the wrong address.",
        Kind::LostDirty => "A dirty bit the hardware set was lost.",
        Kind::FalseDirty => "A page reported dirty that was not written.",
        Kind::Refcount => "refcount_t misuse: get from zero, underflow.",
        Kind::DuplicateBinding => "Two bindings for the same resource.",
        Kind::QuotaExceeded => "A quota exceeded.",
        Kind::SleepInAtomic => "A sleeping call in atomic context.",
        Kind::LockNotHeld => "assert_spin_locked (or lockdep_assert_held) failed.",
        Kind::Deadlock => "Threads blocked on each other.",
        Kind::LockOrder => "Two locks taken in opposite orders (lockdep).",
        Kind::Invariant => "A model's own named property does not hold.",
        Kind::ListCorruption => {
            "A list_head whose pointers do not agree (CONFIG_DEBUG_LIST), or a walk that \
             followed a deleted entry's LIST_POISON."
        }
        Kind::InconsistentLockState => {
            "A lock class used in hardirq context and taken with interrupts enabled \
             (lockdep: inconsistent lock state)."
        }
        Kind::IrqLockInversion => {
            "A HARDIRQ-safe lock class ordered before a HARDIRQ-unsafe one (lockdep: possible \
             irq lock inversion dependency)."
        }
        Kind::InvalidWaitContext => {
            "A lock taken in a context that may not wait the way it waits (lockdep: Invalid \
             wait context)."
        }
        Kind::RecursiveLocking => {
            "A read-write lock class taken again by the thread holding it (lockdep: possible \
             recursive locking detected)."
        }
        Kind::UnflushedEntry => {
            "After the flush the VT-d spec requires for a change of an entry, a cache still \
             holds something derived from the entry's old version, though what it \
             translates to did not change."
        }
    }
}

/// `path` relative to the current folder when it is absolute and lies under it; as given
/// otherwise.
pub fn relative(path: &str) -> String {
    let p = Path::new(path);
    if p.is_absolute() {
        if let Some(rel) = std::env::current_dir()
            .ok()
            .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
        {
            return rel.display().to_string();
        }
    }
    path.to_string()
}

/// The URI of the file `path`: relative as [`relative`] makes it, every byte but letters,
/// digits, `-._~/` percent-encoded; a path still absolute becomes a `file://` URI.
pub fn uri(path: &str) -> String {
    let rel = relative(path);
    let mut out = String::from(if rel.starts_with('/') { "file://" } else { "" });
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn location(path: &str, line: Option<u64>) -> Value {
    let mut l = json!({ "artifactLocation": { "uri": uri(path) } });
    if let Some(n) = line {
        l["region"] = json!({ "startLine": n });
    }
    json!({ "physicalLocation": l })
}

/// Where `r`'s violation was raised: the offending event's file and line.
fn step(r: &Report) -> Option<(&str, u64)> {
    let l = r.lines.get(r.violation_line?)?;
    let (file, line) = l.location.rsplit_once(':')?;
    Some((file, line.parse().ok()?))
}

/// The runs `reports` in a fixed order: scenario (model first), variant, engine, file.
pub fn sorted(reports: &[Report]) -> Vec<&Report> {
    let mut rs: Vec<&Report> = reports.iter().collect();
    rs.sort_by(|a, b| {
        (&a.scenario, &a.variant, &a.engine, &a.path).cmp(&(
            &b.scenario,
            &b.variant,
            &b.engine,
            &b.path,
        ))
    });
    rs
}

/// The SARIF log of the runs `reports`.
pub fn render(reports: &[Report]) -> String {
    let found: Vec<&Report> = sorted(reports)
        .into_iter()
        .filter(|r| r.kind.is_some())
        .collect();
    let results: Vec<Value> = found
        .iter()
        .map(|r| {
            let kind = r.kind.as_deref().unwrap_or_default();
            let at = match step(r) {
                Some((file, line)) => location(file, Some(line)),
                None => location(&r.path, None),
            };
            let mut scenario = location(&r.path, None);
            scenario["id"] = json!(0);
            scenario["message"] = json!({
                "text": format!("scenario {} [{}] under {}", r.scenario, r.variant, r.engine)
            });
            json!({
                "ruleId": kind,
                "ruleIndex": Kind::ALL.iter().position(|k| k.name() == kind),
                "level": if r.as_expected { "note" } else { "error" },
                "message": { "text": r.message.clone().unwrap_or_default() },
                "locations": [at],
                "relatedLocations": [scenario],
                "properties": {
                    "scenario": r.scenario,
                    "variant": r.variant,
                    "engine": r.engine,
                    "expected": r.expected,
                    "replay": r.replay,
                },
            })
        })
        .collect();
    let rules: Vec<Value> = Kind::ALL
        .iter()
        .map(|&k| {
            json!({
                "id": k.name(),
                "shortDescription": { "text": describe_kind(k) },
                "defaultConfiguration": { "level": "error" },
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "iommu-mc",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).expect("a SARIF log always serialises");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn uris_are_relative_and_percent_encoded() {
        let cwd = std::env::current_dir().unwrap();
        let inside = cwd.join("scenarios/a b/ü.toml");
        assert_eq!(
            super::uri(&inside.display().to_string()),
            "scenarios/a%20b/%C3%BC.toml"
        );
        assert_eq!(
            super::uri("/nowhere/x\"<.toml"),
            "file:///nowhere/x%22%3C.toml"
        );
        assert_eq!(super::uri("models/src/x.rs"), "models/src/x.rs");
    }
}
