//! The IOMMU page-table walker: how a device's DMA to an IOVA is translated.
//!
//! The walker reads one entry per level, from the root down, each with a single load
//! (hardware does not tear a 64-bit entry). Each load after the first is address-dependent on
//! the previous one, so it is a [`read_once_dep`]. Reading a freed table is a use-after-free
//! by the device; reading poison is an uninitialised read.

use crate::hw::geometry::Geometry;
use crate::kernel::page_alloc::PagePool;
use crate::kernel::read_once_dep;
use crate::trace::step;

/// What an entry means to the walker at a given level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Not present: the walk faults.
    NotPresent,
    /// Points to the next-level table at this physical address.
    Table(u64),
    /// Maps to this physical address (the page base).
    Leaf(u64),
}

/// A page-table entry format the walker understands.
pub trait EntryFormat {
    /// Decode `entry` found at `level` (1 = leaf level).
    fn decode(&self, entry: u64, level: u32) -> Decoded;
}

/// The outcome of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// The device's access reaches this physical address.
    Pa(u64),
    /// The walk faulted (no translation).
    Fault,
}

/// Translate `iova` from the root table `root` of `geo`, as the hardware does.
pub fn walk(pool: &PagePool, geo: &Geometry, fmt: &dyn EntryFormat, root: u32, iova: u64) -> Walk {
    let mut table = root;
    for level in (1..=geo.levels).rev() {
        let idx = geo.index(iova, level);
        let v = read_once_dep(pool.frame(table).entry(idx));
        match fmt.decode(v, level) {
            Decoded::NotPresent => {
                step(format!(
                    "walk {iova:#x}: L{level}[{idx}] not present: fault"
                ));
                return Walk::Fault;
            }
            Decoded::Leaf(pa) => {
                let pa = pa + (iova & 0xfff);
                step(format!("walk {iova:#x}: reaches PA {pa:#x}"));
                return Walk::Pa(pa);
            }
            Decoded::Table(pa) => match pool.frame_of_pa(pa) {
                Some(next) => table = next,
                None => {
                    step(format!(
                        "walk {iova:#x}: L{level}[{idx}] points outside the page tables: fault"
                    ));
                    return Walk::Fault;
                }
            },
        }
    }
    Walk::Fault
}
