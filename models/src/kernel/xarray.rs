//! A small `struct xarray` (include/linux/xarray.h): an array of pointers indexed by a small
//! integer, with its spinlock (`xa_lock`) inside.
//!
//! The model has one `xa_node` of [`XA_SLOTS`] slots, kzalloc'ed from the array's own node
//! cache by the first store and freed by `xa_destroy`: indices 0 to `XA_SLOTS - 1`, where the
//! kernel grows a tree. `xa_head` and every slot are engine words, the slots inside the
//! node's allocation, so a lookup through a destroyed array is a `use-after-free`; entries are
//! kzalloc'ed objects ([`KBox`]), whose every use is checked as such.
//!
//! Writers (`xa_store`, `xa_erase`, `xa_insert`) take `xa_lock` and publish with
//! `rcu_assign_pointer` (a Release store). Readers (`xa_load`, `xa_for_each`) are the RCU
//! side in the kernel: here lock-free loads with `rcu_dereference` (Acquire, standing for the
//! address dependency). An entry `xa_load` returns is not protected by anything: using it
//! after another thread erased and freed it is a use-after-free, unless the reader took a
//! reference under `xa_lock` (or in an RCU read-side section, which the model does not have).
//!
//! A slot holds an entry's number in the array's table of every entry ever stored, and
//! `xa_head` the node's number in its table of nodes. The tables are ghost state that threads
//! read: each entry and node is put in before the store that publishes its number, and a
//! reader finds a number only by loading such a store.

use std::sync::atomic::Ordering;

use crate::engine::Ghost;
use crate::kernel::atomic::Atomic64;
use crate::kernel::sched::might_sleep;
use crate::kernel::slab::{kfree, kzalloc, Gfp, KBox, Slab};
use crate::kernel::spinlock::{spin_lock, spin_unlock, SpinGuard, SpinLock};
use crate::kernel::Errno;
use crate::trace::Obj;

/// The indices the model holds: 0 to `XA_SLOTS - 1` (one node; the kernel's has 64).
pub const XA_SLOTS: usize = 8;

/// Slot names for traces (`xa_node 0->slots[3]`).
const SLOT_NAMES: [&str; XA_SLOTS] = [
    "slots[0]", "slots[1]", "slots[2]", "slots[3]", "slots[4]", "slots[5]", "slots[6]", "slots[7]",
];

/// A `struct xa_node`: its slots, each an engine word in the node's allocation.
pub struct XaNode {
    slots: Vec<Atomic64>,
}

/// A `struct xarray` of `T` entries.
pub struct XArray<T> {
    xa_lock: SpinLock,
    /// `xa_head`: 0, or the node's number plus one.
    head: Atomic64,
    /// The cache the node is allocated from (`radix_tree_node_cachep`).
    nodes: Slab,
    /// Every node ever allocated, for `xa_head`'s number (see the module doc).
    node_table: Ghost<Vec<KBox<XaNode>>>,
    /// Every entry ever stored, for a slot's number (see the module doc).
    entries: Ghost<Vec<KBox<T>>>,
}

impl<T> XArray<T> {
    /// The node `xa_head` points at (an `rcu_dereference`), if any.
    #[track_caller]
    fn node(&self) -> Option<KBox<XaNode>> {
        let h = self.head.load(Ordering::Acquire) as usize;
        (h != 0).then(|| self.node_table.with(|t| t[h - 1].clone()))
    }

    /// The entry a slot value names (0 is NULL).
    fn entry(&self, v: u64) -> Option<KBox<T>> {
        (v != 0).then(|| self.entries.with(|t| t[v as usize - 1].clone()))
    }

    /// The number a slot holds for `entry`, entering it in the table if new.
    fn number(&self, entry: &KBox<T>) -> u64 {
        self.entries.with(|t| {
            let i = t.iter().position(|e| e.same(entry)).unwrap_or_else(|| {
                t.push(entry.clone());
                t.len() - 1
            });
            i as u64 + 1
        })
    }

    /// The node, allocated if there is none yet (with `xa_lock` held: the model allocates
    /// without sleeping, where the kernel may drop the lock to allocate with the caller's
    /// gfp).
    #[track_caller]
    fn node_or_alloc(&self, _g: &SpinGuard<'_>) -> Result<KBox<XaNode>, Errno> {
        if let Some(n) = self.node() {
            return Ok(n);
        }
        let n = kzalloc(&self.nodes, Gfp::Atomic, |obj, shadow| XaNode {
            slots: SLOT_NAMES
                .iter()
                .map(|s| Atomic64::in_allocation(obj.field(s), 0, shadow.clone()))
                .collect(),
        })?;
        let number = self.node_table.with(|t| {
            t.push(n.clone());
            t.len() as u64
        });
        self.head.store(number, Ordering::Release);
        Ok(n)
    }

    /// Store `v` at `index` with `xa_lock` held; returns the old slot value.
    #[track_caller]
    fn replace(&self, g: &SpinGuard<'_>, index: usize, v: Option<&KBox<T>>) -> Result<u64, Errno> {
        let node = self.node_or_alloc(g)?;
        let slot = &node.get().slots[index];
        let old = slot.load(Ordering::Relaxed);
        match v {
            // rcu_assign_pointer.
            Some(e) => slot.store(self.number(e), Ordering::Release),
            // A NULL needs no ordering (RCU_INIT_POINTER).
            None => slot.store(0, Ordering::Relaxed),
        }
        Ok(old)
    }
}

/// `xa_init(xa)` (`DEFINE_XARRAY`): an empty array; `name` names its lock.
pub fn xa_init<T>(name: &'static str) -> XArray<T> {
    XArray {
        xa_lock: SpinLock::new(name),
        head: Atomic64::new(Obj::Named(name), 0),
        nodes: Slab::new("xa_node"),
        node_table: Ghost::new(Vec::new()),
        entries: Ghost::new(Vec::new()),
    }
}

/// `xa_lock(xa)`.
#[track_caller]
pub fn xa_lock<T>(xa: &XArray<T>) -> SpinGuard<'_> {
    spin_lock(&xa.xa_lock)
}

/// `xa_unlock(xa)`.
#[track_caller]
pub fn xa_unlock(g: SpinGuard<'_>) {
    spin_unlock(g)
}

/// `xa_load(xa, index)`: the entry at `index`, read without the lock (RCU side).
#[track_caller]
pub fn xa_load<T>(xa: &XArray<T>, index: usize) -> Option<KBox<T>> {
    if index >= XA_SLOTS {
        return None;
    }
    let node = xa.node()?;
    let v = node.get().slots[index].load(Ordering::Acquire);
    xa.entry(v)
}

/// `xa_store(xa, index, entry, gfp)`: store `entry`, returning the entry it replaced.
/// Takes `xa_lock`. An index the model does not hold is -EINVAL; a failed node allocation
/// -ENOMEM.
#[track_caller]
pub fn xa_store<T>(
    xa: &XArray<T>,
    index: usize,
    entry: &KBox<T>,
    gfp: Gfp,
) -> Result<Option<KBox<T>>, Errno> {
    if gfp == Gfp::Kernel {
        might_sleep("xa_store(GFP_KERNEL)");
    }
    if index >= XA_SLOTS {
        return Err(Errno::EINVAL);
    }
    let g = xa_lock(xa);
    let old = xa.replace(&g, index, Some(entry));
    xa_unlock(g);
    Ok(xa.entry(old?))
}

/// `xa_insert(xa, index, entry, gfp)`: store `entry` only if `index` is empty, else
/// -EBUSY. Takes `xa_lock`.
#[track_caller]
pub fn xa_insert<T>(xa: &XArray<T>, index: usize, entry: &KBox<T>, gfp: Gfp) -> Result<(), Errno> {
    if gfp == Gfp::Kernel {
        might_sleep("xa_insert(GFP_KERNEL)");
    }
    if index >= XA_SLOTS {
        return Err(Errno::EINVAL);
    }
    let g = xa_lock(xa);
    let r = match xa
        .node()
        .map(|n| n.get().slots[index].load(Ordering::Relaxed))
    {
        Some(v) if v != 0 => Err(Errno::EBUSY),
        _ => xa.replace(&g, index, Some(entry)).map(|_| ()),
    };
    xa_unlock(g);
    r
}

/// `xa_erase(xa, index)`: empty `index`, returning the entry it held. Takes `xa_lock`.
#[track_caller]
pub fn xa_erase<T>(xa: &XArray<T>, index: usize) -> Option<KBox<T>> {
    if index >= XA_SLOTS {
        return None;
    }
    let g = xa_lock(xa);
    let old = match xa.node() {
        Some(n) => {
            let slot = &n.get().slots[index];
            let old = slot.load(Ordering::Relaxed);
            slot.store(0, Ordering::Relaxed);
            old
        }
        None => 0,
    };
    xa_unlock(g);
    xa.entry(old)
}

/// `xa_destroy(xa)`: free the node (not the entries); the array is empty after. Takes
/// `xa_lock`.
#[track_caller]
pub fn xa_destroy<T>(xa: &XArray<T>) {
    let g = xa_lock(xa);
    if let Some(n) = xa.node() {
        xa.head.store(0, Ordering::Relaxed);
        kfree(&n);
    }
    xa_unlock(g);
}

/// A walk of the present entries in index order (`xa_for_each`), lock-free.
pub struct XaIter<'a, T> {
    xa: &'a XArray<T>,
    index: usize,
}

impl<T> Iterator for XaIter<'_, T> {
    type Item = (usize, KBox<T>);

    #[track_caller]
    fn next(&mut self) -> Option<(usize, KBox<T>)> {
        while self.index < XA_SLOTS {
            let i = self.index;
            self.index += 1;
            if let Some(e) = xa_load(self.xa, i) {
                return Some((i, e));
            }
        }
        None
    }
}

/// `xa_for_each(xa, index, entry)`: each present entry with its index; each step is an
/// `xa_load` (as `xa_find_after` walks from the head again), so entries stored or erased
/// during the walk may or may not be seen.
pub fn xa_for_each<T>(xa: &XArray<T>) -> XaIter<'_, T> {
    XaIter { xa, index: 0 }
}
