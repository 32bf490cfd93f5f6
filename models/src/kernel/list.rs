//! Doubly linked lists (include/linux/list.h, include/linux/rculist.h), checked as
//! `CONFIG_DEBUG_LIST` checks them.
//!
//! A `struct list_head` is two engine words, `next` and `prev`, inside the allocation of the
//! object that embeds it ([`ListHead::new`] from `kzalloc`'s init), so each is a word loom
//! explores and KASAN checks: walking through a freed entry is a `use-after-free`. A pointer
//! is a number, the `list_head`'s address ([`ListHead::addr`]); a deleted entry's pointers
//! are `LIST_POISON1`/`LIST_POISON2`, as `list_del` leaves them.
//!
//! `list_add` and `list_del` validate the neighbours first, as `__list_add_valid` and
//! `__list_del_entry_valid` do under `CONFIG_DEBUG_LIST` (always on here): a `list_del` of an
//! entry already deleted, or never added, is `list-corruption`, as is a walk that follows a
//! `LIST_POISON` pointer (an oops on a real kernel).
//!
//! # The lock
//!
//! A list may be declared protected by a spinlock ([`List::protected_by`]). Every writer and
//! every non-RCU reader then asserts the lock is held by the running thread
//! (`lockdep_assert_held`, which raises `lock-not-held`), as the kernel's own list users
//! annotate. The pointers stay engine words either way, rather than a [`LockedBy`] container:
//! the RCU forms read them without the lock, KASAN checks them per entry, and a list without
//! a lock (one guarded by a mutex, or by the caller's own protocol) is still explored soundly.
//! Under the lock the words cost nothing but steps: the lock orders them.
//!
//! # container_of
//!
//! A walk turns a `list_head` address back into its entry through the list's table of the
//! entries ever added to it. The table is ghost state that threads read, which the ghost rule
//! allows because each entry is put in it before the store that links it in, and a walker
//! finds an address only by loading such a store (or one made after it).
//!
//! [`LockedBy`]: crate::kernel::spinlock::LockedBy

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::check::{raise, Kind};
use crate::engine::Ghost;
use crate::kernel::atomic::Atomic64;
use crate::kernel::kasan::{describe, Shadow};
use crate::kernel::slab::KBox;
use crate::kernel::spinlock::{lockdep_assert_held, SpinLock};
use crate::trace::Obj;

/// `LIST_POISON1` (include/linux/poison.h with x86-64's `POISON_POINTER_DELTA`): what
/// `list_del` leaves in a deleted entry's `next`.
pub const LIST_POISON1: u64 = 0xdead_0000_0000_0100;
/// `LIST_POISON2`: what `list_del` and `list_del_rcu` leave in a deleted entry's `prev`.
pub const LIST_POISON2: u64 = 0xdead_0000_0000_0122;

/// A `struct list_head`: the `next` and `prev` pointers, each an engine word.
pub struct ListHead {
    next: Atomic64,
    prev: Atomic64,
    /// Its address, for the pointers that point at it. Ghost: fixed at creation.
    addr: u64,
}

/// A fresh `list_head` address: distinct for the life of the process, never 0, never a
/// poison value.
fn next_addr() -> u64 {
    static NEXT: crate::engine::IdSource = crate::engine::IdSource::new();
    NEXT.next() << 4
}

impl ListHead {
    /// The `list_head` member of a kzalloc'ed object, given the `obj` and `shadow` that
    /// `kzalloc` passes its init: zeroed (NULL pointers), on no list.
    pub fn new(obj: Obj, shadow: Arc<Shadow>) -> Self {
        ListHead {
            next: Atomic64::in_allocation(obj.field("next"), 0, shadow.clone()),
            prev: Atomic64::in_allocation(obj.field("prev"), 0, shadow),
            addr: next_addr(),
        }
    }

    /// Its address: what a pointer to it holds.
    pub fn addr(&self) -> u64 {
        self.addr
    }
}

/// An object that embeds a `list_head` (what `container_of` and `list_for_each_entry`'s
/// `member` name).
pub trait ListEntry {
    /// The embedded `list_head`.
    fn list_head(&self) -> &ListHead;
}

/// A list: its head (`LIST_HEAD(name)`) and what it needs to map a `list_head` back to its
/// entry.
pub struct List<T> {
    name: &'static str,
    head: ListHead,
    lock: Option<Arc<SpinLock>>,
    /// Every entry ever added, with its `list_head`'s address, for `container_of` (see the
    /// module doc for why it may be ghost). Looking one up is no dereference.
    entries: Ghost<Vec<(u64, KBox<T>)>>,
}

/// How a pointer store or load is ordered: plain (`WRITE_ONCE`/`READ_ONCE`, under the lock)
/// or RCU (`rcu_assign_pointer`/`rcu_dereference`).
#[derive(Clone, Copy)]
enum Rcu {
    No,
    Yes,
}

impl Rcu {
    fn publish(self) -> Ordering {
        match self {
            Rcu::No => Ordering::Relaxed,
            Rcu::Yes => Ordering::Release,
        }
    }
    fn dereference(self) -> Ordering {
        match self {
            Rcu::No => Ordering::Relaxed,
            // rcu_dereference: an address dependency, standing as Acquire (read_once_dep).
            Rcu::Yes => Ordering::Acquire,
        }
    }
}

impl<T: ListEntry> List<T> {
    /// `LIST_HEAD(name)` / `INIT_LIST_HEAD`: an empty list, both pointers at the head; no
    /// lock is asserted.
    pub fn new(name: &'static str) -> Self {
        let addr = next_addr();
        List {
            name,
            head: ListHead {
                next: Atomic64::new(Obj::Named(name), addr),
                prev: Atomic64::new(Obj::Named(name), addr),
                addr,
            },
            lock: None,
            entries: Ghost::new(Vec::new()),
        }
    }

    /// An empty list whose writers and non-RCU readers must hold `lock`.
    pub fn protected_by(name: &'static str, lock: Arc<SpinLock>) -> Self {
        List {
            lock: Some(lock),
            ..Self::new(name)
        }
    }

    /// The head's `list_head`.
    pub fn head(&self) -> &ListHead {
        &self.head
    }

    #[track_caller]
    fn assert_locked(&self) {
        if let Some(l) = &self.lock {
            lockdep_assert_held(l);
        }
    }

    /// A name for the `list_head` at `addr`, for messages.
    fn name_of(&self, addr: u64) -> String {
        if addr == self.head.addr {
            return format!("list head {}", self.name);
        }
        match addr {
            0 => return "NULL".into(),
            LIST_POISON1 => return format!("LIST_POISON1 ({LIST_POISON1:#x})"),
            LIST_POISON2 => return format!("LIST_POISON2 ({LIST_POISON2:#x})"),
            _ => {}
        }
        self.lookup(addr)
            .map_or_else(|| format!("{addr:#x}"), |e| describe(e.obj()))
    }

    /// The entry whose `list_head` is at `addr`, if one was added.
    fn lookup(&self, addr: u64) -> Option<KBox<T>> {
        self.entries
            .with(|e| e.iter().find(|(a, _)| *a == addr).map(|(_, e)| e.clone()))
    }

    /// `container_of`: the entry whose `list_head` is at `addr`, or a violation if `addr`
    /// is no entry of this list.
    #[track_caller]
    fn entry(&self, addr: u64) -> KBox<T> {
        match self.lookup(addr) {
            Some(e) => e,
            None if addr == 0 => raise(
                Kind::UninitializedRead,
                format!(
                    "a walk of {} read a NULL pointer: the initialisation of the entry it \
                     reached is not visible to this reader",
                    self.name
                ),
            ),
            None => raise(
                Kind::ListCorruption,
                format!(
                    "a walk of {} followed {}: a pointer to no entry of the list",
                    self.name,
                    self.name_of(addr)
                ),
            ),
        }
    }

    /// Run `f` on the `list_head` at `addr` (the head, or an entry's: a dereference KASAN
    /// checks).
    #[track_caller]
    fn at<R>(&self, addr: u64, f: impl FnOnce(&ListHead) -> R) -> R {
        if addr == self.head.addr {
            f(&self.head)
        } else {
            f(self.entry(addr).get().list_head())
        }
    }

    /// Remember `new` for `container_of`, before it is linked in.
    fn remember(&self, new: &KBox<T>, addr: u64) {
        self.entries.with(|e| {
            if !e.iter().any(|(a, _)| *a == addr) {
                e.push((addr, new.clone()))
            }
        });
    }

    /// `__list_add(new, prev, next)` after `__list_add_valid`; `rcu` says whether `prev->next`
    /// is published with `rcu_assign_pointer` (then in `__list_add_rcu`'s order).
    #[track_caller]
    fn add_between(&self, new: &KBox<T>, prev: u64, next: u64, rcu: Rcu) {
        let n = new.get().list_head();
        let next_prev = self.at(next, |l| l.prev.load(Ordering::Relaxed));
        let prev_next = self.at(prev, |l| l.next.load(Ordering::Relaxed));
        let what = if next_prev != prev {
            Some(format!(
                "next->prev should be prev ({}), but was {} (next={})",
                self.name_of(prev),
                self.name_of(next_prev),
                self.name_of(next)
            ))
        } else if prev_next != next {
            Some(format!(
                "prev->next should be next ({}), but was {} (prev={})",
                self.name_of(next),
                self.name_of(prev_next),
                self.name_of(prev)
            ))
        } else if n.addr == prev || n.addr == next {
            Some(format!(
                "double add: new={}, prev={}, next={}",
                describe(new.obj()),
                self.name_of(prev),
                self.name_of(next)
            ))
        } else {
            None
        };
        if let Some(what) = what {
            raise(
                Kind::ListCorruption,
                format!("list_add corruption on {}: {what}", self.name),
            );
        }
        self.remember(new, n.addr);
        if let Rcu::No = rcu {
            self.at(next, |l| l.prev.store(n.addr, Ordering::Relaxed));
        }
        n.next.store(next, Ordering::Relaxed);
        n.prev.store(prev, Ordering::Relaxed);
        self.at(prev, |l| l.next.store(n.addr, rcu.publish()));
        if let Rcu::Yes = rcu {
            self.at(next, |l| l.prev.store(n.addr, Ordering::Relaxed));
        }
    }

    /// Insert `new` after the head, or with `tail` before it, with the lock asserted.
    #[track_caller]
    fn add(&self, new: &KBox<T>, tail: bool, rcu: Rcu) {
        self.assert_locked();
        let h = self.head.addr;
        if tail {
            let prev = self.head.prev.load(Ordering::Relaxed);
            self.add_between(new, prev, h, rcu)
        } else {
            let next = self.head.next.load(Ordering::Relaxed);
            self.add_between(new, h, next, rcu)
        }
    }

    /// `__list_del_entry_valid` then `__list_del`: unlink `entry` from its neighbours, with
    /// the lock asserted.
    #[track_caller]
    fn unlink(&self, entry: &KBox<T>) {
        self.assert_locked();
        let e = entry.get().list_head();
        let next = e.next.load(Ordering::Relaxed);
        let prev = e.prev.load(Ordering::Relaxed);
        let me = describe(entry.obj());
        let bad = |p: u64| p == 0 || p == LIST_POISON1 || p == LIST_POISON2;
        let what = if bad(next) {
            Some(format!("{me}->next is {}", self.name_of(next)))
        } else if bad(prev) {
            Some(format!("{me}->prev is {}", self.name_of(prev)))
        } else {
            let prev_next = self.at(prev, |l| l.next.load(Ordering::Relaxed));
            let next_prev = self.at(next, |l| l.prev.load(Ordering::Relaxed));
            if prev_next != e.addr {
                Some(format!(
                    "prev->next should be {me}, but was {} (prev={})",
                    self.name_of(prev_next),
                    self.name_of(prev)
                ))
            } else if next_prev != e.addr {
                Some(format!(
                    "next->prev should be {me}, but was {} (next={})",
                    self.name_of(next_prev),
                    self.name_of(next)
                ))
            } else {
                None
            }
        };
        if let Some(what) = what {
            raise(
                Kind::ListCorruption,
                format!("list_del corruption on {}: {what}", self.name),
            );
        }
        self.at(next, |l| l.prev.store(prev, Ordering::Relaxed));
        self.at(prev, |l| l.next.store(next, Ordering::Relaxed));
    }

    /// The entry after the `list_head` at `pos` and its `list_head`'s address, or `None`
    /// at the head.
    #[track_caller]
    fn after(&self, pos: u64, rcu: Rcu) -> Option<(u64, KBox<T>)> {
        let next = self.at(pos, |l| l.next.load(rcu.dereference()));
        (next != self.head.addr).then(|| (next, self.entry(next)))
    }
}

/// `list_add(new, head)`: insert `new` right after the head (a stack).
#[track_caller]
pub fn list_add<T: ListEntry>(new: &KBox<T>, head: &List<T>) {
    head.add(new, false, Rcu::No)
}

/// `list_add_tail(new, head)`: insert `new` right before the head (a queue).
#[track_caller]
pub fn list_add_tail<T: ListEntry>(new: &KBox<T>, head: &List<T>) {
    head.add(new, true, Rcu::No)
}

/// `list_add_rcu(new, head)`: as [`list_add`], with `new`'s pointers set before it is
/// published (`rcu_assign_pointer`), for lockless readers.
#[track_caller]
pub fn list_add_rcu<T: ListEntry>(new: &KBox<T>, head: &List<T>) {
    head.add(new, false, Rcu::Yes)
}

/// `list_add_tail_rcu(new, head)`.
#[track_caller]
pub fn list_add_tail_rcu<T: ListEntry>(new: &KBox<T>, head: &List<T>) {
    head.add(new, true, Rcu::Yes)
}

/// `list_del(entry)`: unlink `entry` and poison its pointers (`LIST_POISON1`/`2`).
#[track_caller]
pub fn list_del<T: ListEntry>(entry: &KBox<T>, head: &List<T>) {
    head.unlink(entry);
    let e = entry.get().list_head();
    e.next.store(LIST_POISON1, Ordering::Relaxed);
    e.prev.store(LIST_POISON2, Ordering::Relaxed);
}

/// `list_del_init(entry)`: unlink `entry` and leave it pointing at itself, so that
/// [`list_entry_is_linked`] says it is on no list.
#[track_caller]
pub fn list_del_init<T: ListEntry>(entry: &KBox<T>, head: &List<T>) {
    head.unlink(entry);
    let e = entry.get().list_head();
    e.next.store(e.addr, Ordering::Relaxed);
    e.prev.store(e.addr, Ordering::Relaxed);
}

/// `list_del_rcu(entry)`: unlink `entry` but keep its `next`, so a lockless reader standing
/// on it can go on; only `prev` is poisoned. The entry may be freed only after a grace
/// period (no RCU grace period is modelled here: a free right after it races the readers).
#[track_caller]
pub fn list_del_rcu<T: ListEntry>(entry: &KBox<T>, head: &List<T>) {
    head.unlink(entry);
    entry
        .get()
        .list_head()
        .prev
        .store(LIST_POISON2, Ordering::Relaxed);
}

/// `list_empty(head)`: `READ_ONCE(head->next) == head`; callers may ask without the lock.
#[track_caller]
pub fn list_empty<T: ListEntry>(head: &List<T>) -> bool {
    head.head.next.load(Ordering::Relaxed) == head.head.addr
}

/// `!list_empty(&entry->member)` after `list_del_init`: `entry` is on a list (its `next`
/// is neither itself nor NULL). Under the protecting lock of the list it is on.
#[track_caller]
pub fn list_entry_is_linked<T: ListEntry>(entry: &KBox<T>) -> bool {
    let e = entry.get().list_head();
    let next = e.next.load(Ordering::Relaxed);
    next != e.addr && next != 0
}

/// `list_first_entry_or_null(head, type, member)`.
#[track_caller]
pub fn list_first_entry_or_null<T: ListEntry>(head: &List<T>) -> Option<KBox<T>> {
    head.assert_locked();
    head.after(head.head.addr, Rcu::No).map(|(_, e)| e)
}

/// A walk of a list, one entry per step (`list_for_each_entry`).
pub struct ListIter<'a, T> {
    list: &'a List<T>,
    pos: u64,
    rcu: Rcu,
}

impl<T: ListEntry> Iterator for ListIter<'_, T> {
    type Item = KBox<T>;

    #[track_caller]
    fn next(&mut self) -> Option<KBox<T>> {
        let (pos, e) = self.list.after(self.pos, self.rcu)?;
        self.pos = pos;
        Some(e)
    }
}

/// `list_for_each_entry(pos, head, member)`: each step loads the current entry's `next`
/// (a KASAN-checked access of it).
#[track_caller]
pub fn list_for_each_entry<T: ListEntry>(head: &List<T>) -> ListIter<'_, T> {
    head.assert_locked();
    ListIter {
        list: head,
        pos: head.head.addr,
        rcu: Rcu::No,
    }
}

/// `list_for_each_entry_rcu(pos, head, member)`: a lockless walk, each pointer read with
/// `rcu_dereference` (an Acquire load standing for the address dependency, as
/// `read_once_dep`). `rcu_read_lock` is not tracked here.
#[track_caller]
pub fn list_for_each_entry_rcu<T: ListEntry>(head: &List<T>) -> ListIter<'_, T> {
    ListIter {
        list: head,
        pos: head.head.addr,
        rcu: Rcu::Yes,
    }
}
