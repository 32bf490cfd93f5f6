//! MMIO accessors (include/asm-generic/io.h) and a device that answers them, with the
//! ordering Documentation/memory-barriers.txt ("KERNEL I/O BARRIER EFFECTS") gives them.
//!
//! - `writel` is ordered after the CPU's earlier writes to memory: a device that sees the
//!   register write (a doorbell) and then reads memory by DMA sees the descriptor the CPU
//!   wrote before it. asm-generic puts `__io_bw()` (`wmb()`) before the raw write; the model
//!   makes the register write a Release store.
//! - `readl` is ordered before the CPU's later reads of memory: after reading a status the
//!   device wrote once its DMA was done, the CPU sees the DMA'd data. asm-generic puts
//!   `__io_ar()` (`rmb()`) after the raw read; the model makes it an Acquire load.
//! - `writel_relaxed` and `readl_relaxed` order nothing against memory (they are Relaxed):
//!   what a weakly ordered CPU (arm64) may do. The model follows the generic rules, not x86,
//!   whose stores and loads are ordered anyway.
//!
//! A register is an engine word of an [`IoMem`] region (`ioremap`). The device is a thread
//! of its own (an agent: it counts against loom's limit of 5 threads per execution,
//! main included) that uses the device's side of the same words ([`IoMem::device_read`],
//! [`IoMem::device_write`]): it reads a register the CPU wrote with an Acquire load (it acts on an MMIO write only after it arrived) and
//! writes one with a Release store (PCIe posted writes: its DMA writes to memory land before
//! its later status write). Its DMA reads and writes of memory are plain accesses
//! ([`dma_read`], [`dma_write`]) of the buffer's words.

use std::sync::atomic::Ordering;

use crate::check::{raise, Kind};
use crate::kernel::atomic::Atomic64;
use crate::trace::Obj;

/// An `ioremap`'ed register region: 32-bit registers, each an engine word.
pub struct IoMem {
    name: &'static str,
    regs: Vec<Atomic64>,
}

impl IoMem {
    /// `ioremap` of `count` registers named `name` (`dmar_regs`), all reading 0.
    pub fn new(name: &'static str, count: usize) -> Self {
        IoMem {
            name,
            regs: (0..count)
                .map(|_| Atomic64::new(Obj::Named(name), 0))
                .collect(),
        }
    }

    /// Register `reg`; one outside the region is a model error, reported as `invariant`.
    #[track_caller]
    fn reg(&self, reg: usize) -> &Atomic64 {
        self.regs.get(reg).unwrap_or_else(|| {
            raise(
                Kind::Invariant,
                format!(
                    "register {reg} is outside {} ({} registers)",
                    self.name,
                    self.regs.len()
                ),
            )
        })
    }

    /// The device reads its register `reg` (an MMIO write that has arrived): Acquire, so
    /// what it does next is after the write.
    #[track_caller]
    pub fn device_read(&self, reg: usize) -> u32 {
        self.reg(reg).load(Ordering::Acquire) as u32
    }

    /// The device sets its register `reg` (a status): Release, after its own DMA writes.
    #[track_caller]
    pub fn device_write(&self, reg: usize, v: u32) {
        self.reg(reg).store(u64::from(v), Ordering::Release)
    }
}

/// `writel(v, addr)`: ordered after this CPU's earlier memory accesses (Release).
#[track_caller]
pub fn writel(v: u32, io: &IoMem, reg: usize) {
    io.reg(reg).store(u64::from(v), Ordering::Release)
}

/// `writel_relaxed(v, addr)`: unordered against memory (Relaxed).
#[track_caller]
pub fn writel_relaxed(v: u32, io: &IoMem, reg: usize) {
    io.reg(reg).store(u64::from(v), Ordering::Relaxed)
}

/// `readl(addr)`: ordered before this CPU's later memory reads (Acquire).
#[track_caller]
pub fn readl(io: &IoMem, reg: usize) -> u32 {
    io.reg(reg).load(Ordering::Acquire) as u32
}

/// `readl_relaxed(addr)`: unordered against memory (Relaxed).
#[track_caller]
pub fn readl_relaxed(io: &IoMem, reg: usize) -> u32 {
    io.reg(reg).load(Ordering::Relaxed) as u32
}

/// The device reads a word of DMA memory (a descriptor): a plain, unordered read.
#[track_caller]
pub fn dma_read(mem: &Atomic64) -> u64 {
    mem.load(Ordering::Relaxed)
}

/// The device writes a word of DMA memory (a completion's data): a plain, unordered write.
#[track_caller]
pub fn dma_write(mem: &Atomic64, v: u64) {
    mem.store(v, Ordering::Relaxed)
}
