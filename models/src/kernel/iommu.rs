//! A small IOMMU domain (include/linux/iommu.h): `iommu_map`, `iommu_unmap`,
//! `iommu_iova_to_phys` over one PTE per IOMMU page of a window. `iommu_map` and
//! `iommu_unmap` may sleep: drivers allocate tables with GFP_KERNEL and take mutexes.

use crate::check::{raise, Kind};
use crate::kernel::atomic::Atomic64;
use crate::kernel::rwonce::{read_once, write_once};
use crate::kernel::sched::might_sleep;
use crate::kernel::Errno;
use crate::trace::Obj;

const VALID: u64 = 1;

/// `struct iommu_domain`, translating `[base, base + pages << shift)`.
pub struct IommuDomain {
    ptes: Vec<Atomic64>,
    base: u64,
    shift: u32,
}

impl IommuDomain {
    /// A domain of `pages` IOMMU pages of `1 << shift` bytes from `base`.
    pub fn new(base: u64, pages: u32, shift: u32) -> Self {
        IommuDomain {
            ptes: (0..pages)
                .map(|i| {
                    Atomic64::new(
                        Obj::Object {
                            class: "domain pte",
                            id: i,
                        },
                        0,
                    )
                })
                .collect(),
            base,
            shift,
        }
    }

    fn slot(&self, iova: u64) -> Option<&Atomic64> {
        let i = iova.checked_sub(self.base)? >> self.shift;
        self.ptes.get(i as usize)
    }

    /// IOVAs mapped now (ghost view for final checks: reads every PTE).
    pub fn mapped(&self) -> Vec<u64> {
        (0..self.ptes.len() as u64)
            .filter(|&i| read_once(&self.ptes[i as usize]) & VALID != 0)
            .map(|i| self.base + (i << self.shift))
            .collect()
    }
}

/// `iommu_map(domain, iova, paddr, size, prot)`: may sleep.
#[track_caller]
pub fn iommu_map(d: &IommuDomain, iova: u64, paddr: u64, size: u64) -> Result<(), Errno> {
    might_sleep("iommu_map");
    let page = 1u64 << d.shift;
    let mut off = 0;
    while off < size {
        let Some(pte) = d.slot(iova + off) else {
            return Err(Errno::EINVAL);
        };
        if read_once(pte) & VALID != 0 {
            raise(
                Kind::Invariant,
                format!("iommu_map over a live mapping at {:#x}", iova + off),
            );
        }
        write_once(pte, (paddr + off) | VALID);
        off += page;
    }
    Ok(())
}

/// `iommu_unmap(domain, iova, size)`: may sleep; returns the bytes unmapped.
#[track_caller]
pub fn iommu_unmap(d: &IommuDomain, iova: u64, size: u64) -> u64 {
    might_sleep("iommu_unmap");
    let page = 1u64 << d.shift;
    let mut off = 0;
    while off < size {
        if let Some(pte) = d.slot(iova + off) {
            write_once(pte, 0);
        }
        off += page;
    }
    size
}

/// `iommu_iova_to_phys(domain, iova)`.
#[track_caller]
pub fn iommu_iova_to_phys(d: &IommuDomain, iova: u64) -> Option<u64> {
    let pte = read_once(d.slot(iova)?);
    (pte & VALID != 0).then(|| (pte & !((1u64 << d.shift) - 1)) | (iova & ((1u64 << d.shift) - 1)))
}
