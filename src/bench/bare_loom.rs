//! A hand-written bare-loom twin of scenario `vtd-first-level/populate-race-rfc`: the same
//! algorithm, the same atomics, fences and lock, in the same order, with no kernel API, no
//! trace and no scenario machinery. The benchmark runs both in one process, so the cost of
//! the kernel API and the trace is a ratio measured in the same run.
//!
//! Geometry 2 levels of 4 entries. A maps 0x1000 and B maps 0x2000 under the one up-level
//! PDE, so both populate it; the loser frees its page under the lock. (The twin used to be
//! of reclaim-race, until the model's unmap began to flush the IOTLB through the drain.)

use std::cell::RefCell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;

use loom::sync::atomic::{fence, AtomicU64};
use loom::sync::Mutex;

const POISON: u64 = 0xaaaa_aaaa_aaaa_aaaa;
const ENTRIES: usize = 4;
const FRAMES: usize = 13;
const BASE: u64 = 0x100;
const TABLE: u64 = 0x67;

struct World {
    mem: Vec<Vec<AtomicU64>>,
    lock: Mutex<()>,
    // Allocator and KASAN bookkeeping, outside loom as in the model: (free list, next, freed).
    book: std::sync::Mutex<(Vec<usize>, usize, [bool; FRAMES])>,
}

impl World {
    fn new() -> Self {
        let mem = (0..FRAMES)
            .map(|_| (0..ENTRIES).map(|_| AtomicU64::new(POISON)).collect())
            .collect();
        World {
            mem,
            lock: Mutex::new(()),
            book: std::sync::Mutex::new((vec![], 0, [false; FRAMES])),
        }
    }
    fn check(&self, f: usize) {
        if self.book.lock().unwrap().2[f] {
            panic!("use-after-free of frame {f}");
        }
    }
    fn load(&self, f: usize, i: usize, o: std::sync::atomic::Ordering) -> u64 {
        let v = self.mem[f][i].load(o);
        self.check(f);
        v
    }
    fn store(&self, f: usize, i: usize, v: u64) {
        self.mem[f][i].store(v, Relaxed);
        self.check(f);
    }
    fn alloc(&self) -> usize {
        let f = {
            let mut b = self.book.lock().unwrap();
            let f = match b.0.pop() {
                Some(f) => f,
                None => {
                    b.1 += 1;
                    b.1 - 1
                }
            };
            b.2[f] = false;
            f
        };
        for e in &self.mem[f] {
            e.store(0, Relaxed);
        }
        f
    }
    fn free(&self, f: usize) {
        {
            let mut b = self.book.lock().unwrap();
            assert!(!b.2[f], "double free of frame {f}");
            b.2[f] = true;
            b.0.push(f);
        }
        for e in &self.mem[f] {
            e.store(POISON, Relaxed);
        }
    }
    fn frame_of(v: u64) -> usize {
        ((v >> 12) - BASE) as usize
    }
    fn populate(&self, root: usize, slot: usize) {
        let new = self.alloc();
        fence(Release);
        let g = self.lock.lock().unwrap();
        if self.load(root, slot, Relaxed) & 1 != 0 {
            self.free(new);
        } else {
            self.store(root, slot, ((BASE + new as u64) << 12) | TABLE);
        }
        drop(g);
    }
    fn map(&self, root: usize, iova: u64, pa: u64) {
        let slot = ((iova >> 14) & 3) as usize;
        let mut v = self.load(root, slot, Acquire);
        if v & 1 == 0 {
            self.populate(root, slot);
            v = self.load(root, slot, Acquire);
        }
        self.store(Self::frame_of(v), ((iova >> 12) & 3) as usize, pa | 3);
    }
    fn translate(&self, root: usize, iova: u64) -> Option<u64> {
        let v = self.load(root, ((iova >> 14) & 3) as usize, Acquire);
        if v & 1 == 0 {
            return None;
        }
        let p = self.load(Self::frame_of(v), ((iova >> 12) & 3) as usize, Acquire);
        (p & 1 != 0).then_some(p & !0xfff)
    }
    fn teardown(&self, root: usize) {
        for i in 0..ENTRIES {
            let v = self.load(root, i, Relaxed);
            if v & 1 != 0 {
                self.free(Self::frame_of(v));
            }
        }
        self.free(root);
    }
}

thread_local! {
    static EXECUTIONS: RefCell<u64> = const { RefCell::new(0) };
}

/// The twin of `vtd-first-level/populate-race-rfc`: no setup; A maps 0x1000, B maps
/// 0x2000, both under the one up-level PDE, so both populate it (one frees its page under
/// the lock); then both translate, and the tables are torn down. Returns the executions.
pub fn populate_race() -> u64 {
    // Loom's coroutines install their panic hook at their first run: let that happen where
    // no other thread can be exploring (see `install_panic_hook`).
    crate::engine::install_panic_hook();
    EXECUTIONS.with(|e| *e.borrow_mut() = 0);
    loom::model::Builder::new().check(move || {
        EXECUTIONS.with(|e| *e.borrow_mut() += 1);
        let w = Arc::new(World::new());
        let root = w.alloc();
        let threads: Vec<_> = [(0x1000, 0xa000), (0x2000, 0xb000)]
            .into_iter()
            .map(|(iova, pa)| {
                let w = w.clone();
                loom::thread::spawn(move || w.map(root, iova, pa))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(w.translate(root, 0x1000), Some(0xa000));
        assert_eq!(w.translate(root, 0x2000), Some(0xb000));
        w.teardown(root);
    });
    EXECUTIONS.with(|e| *e.borrow())
}

#[cfg(test)]
mod tests {
    use crate::engine::{self, Settings};

    #[test]
    fn the_twin_explores_the_same_tree_as_the_model() {
        // The benchmark's cost ratio is per execution: it means something only while the
        // twin and the model explore the same executions.
        let sc = crate::scenario::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/vtd-first-level/populate-race-rfc.toml"
        )))
        .unwrap();
        let s = Settings {
            deepen_to: 0,
            preemption_bound: None,
            ..Settings::default()
        };
        let ours = engine::loom::run_unbounded(&sc, &s).executions;
        assert_eq!(super::populate_race(), ours);
    }
}
