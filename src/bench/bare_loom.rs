//! A hand-written bare-loom twin of scenario `vtd-first-level/reclaim-race`: the same
//! algorithm, the same atomics, fences and lock, in the same order, with no kernel API, no
//! trace and no scenario machinery. The benchmark runs both in one process, so the cost of
//! the kernel API and the trace is a ratio measured in the same run.
//!
//! Geometry 2 levels of 4 entries. Setup maps 0x1000; A unmaps 0x1000 with reclaim; B maps
//! 0x2000. `reclaim = false` is the `no-reclaim` variant (holds, complete exploration);
//! `true` is `rfc` (a use-after-free, found and reported by a panic).

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
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
    fn unmap_reclaim(&self, root: usize, iova: u64) {
        let slot = ((iova >> 14) & 3) as usize;
        let v = self.load(root, slot, Acquire);
        if v & 1 == 0 {
            return;
        }
        let t = Self::frame_of(v);
        self.store(t, ((iova >> 12) & 3) as usize, 0);
        let empty = (0..ENTRIES).all(|i| self.load(t, i, Relaxed) & 1 == 0);
        if empty {
            self.store(root, slot, 0);
            self.free(t);
        }
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

/// Explore the twin; returns (executions, whether the use-after-free was found).
pub fn reclaim_race(reclaim: bool) -> (u64, bool) {
    EXECUTIONS.with(|e| *e.borrow_mut() = 0);
    let found = catch_unwind(AssertUnwindSafe(|| {
        loom::model::Builder::new().check(move || {
            EXECUTIONS.with(|e| *e.borrow_mut() += 1);
            let w = Arc::new(World::new());
            let root = w.alloc();
            w.map(root, 0x1000, 0xa000);
            let a = {
                let w = w.clone();
                loom::thread::spawn(move || {
                    if reclaim {
                        w.unmap_reclaim(root, 0x1000)
                    } else {
                        let v = w.load(root, 0, Acquire);
                        w.store(World::frame_of(v), 1, 0);
                    }
                })
            };
            let b = {
                let w = w.clone();
                loom::thread::spawn(move || w.map(root, 0x2000, 0xb000))
            };
            a.join().unwrap();
            b.join().unwrap();
            assert_eq!(w.translate(root, 0x1000), None);
            assert_eq!(w.translate(root, 0x2000), Some(0xb000));
            w.teardown(root);
        })
    }))
    .is_err();
    (EXECUTIONS.with(|e| *e.borrow()), found)
}
