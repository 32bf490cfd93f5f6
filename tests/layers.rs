//! The layering the architecture promises (docs/ARCHITECTURE.md), read from the sources:
//! no import circle between the top-level modules of either crate, and in `iommu-models`
//! only `engine.rs` names loom, shuttle or std's synchronisation types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A file's code without comments (line comments, doc comments), so that doc links do not
/// count as imports.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`kernel` for `kernel/spinlock.rs`), or `None`
/// for the crate root.
fn module_of(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).unwrap();
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Top-level modules each module refers to through `crate::...` paths, including those
/// inside `use crate::{a, b::c}` groups.
fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(root, f)).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(from) = module_of(root, f) else {
            continue;
        };
        let text = code(&std::fs::read_to_string(f).unwrap());
        let mut targets = BTreeSet::new();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    targets.insert(item.trim().split("::").next().unwrap().to_string());
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                targets.insert(name);
            }
        }
        let e = g.entry(from.clone()).or_default();
        for t in targets {
            if t != from && modules.contains(&t) {
                e.insert(t);
            }
        }
    }
    g
}

/// A cycle of `g`, if it has one.
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

fn root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn no_import_circle_in_either_crate() {
    for r in ["models/src", "src"] {
        let g = graph(&root(r));
        assert!(g.len() > 3, "{r}: read too few modules: {g:?}");
        if let Some(c) = cycle(&g) {
            panic!("{r}: import circle {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle(&g).map(|c| c.len()), Some(4));
}

#[test]
fn only_engine_names_engine_types_in_the_models_crate() {
    let forbidden = [
        "loom::",
        "shuttle::",
        "std::sync::Mutex",
        "std::sync::RwLock",
        "std::sync::Condvar",
        "std::sync::atomic::Atomic",
        "std::thread::spawn",
    ];
    let r = root("models/src");
    let mut files = Vec::new();
    rust_files(&r, &mut files);
    let mut found = Vec::new();
    for f in &files {
        if f.ends_with("engine.rs") && f.parent() == Some(r.as_path()) {
            continue;
        }
        let text = code(&std::fs::read_to_string(f).unwrap());
        for bad in forbidden {
            if text.contains(bad) {
                found.push(format!("{}: {bad}", f.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "engine types named outside engine.rs:\n{}",
        found.join("\n")
    );
}
