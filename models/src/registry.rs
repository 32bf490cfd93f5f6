//! Model name -> variants, operations and invariants: what scenario files refer to.

use std::fmt;

/// Page-table geometry of a scenario (small, so loom stays exhaustive) or of a property test
/// (the real one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Levels of tables, the root being level `levels` and leaves level 1.
    pub levels: u32,
    /// Entries per table (a power of two).
    pub entries: u32,
}

impl Geometry {
    /// x86-64 4-level paging: 4 levels of 512 entries, 48-bit IOVA.
    pub const REAL: Geometry = Geometry {
        levels: 4,
        entries: 512,
    };

    /// Index bits per level.
    pub fn bits(&self) -> u32 {
        self.entries.trailing_zeros()
    }

    /// Bytes covered by one entry at `level` (1 = a 4 KiB page).
    pub fn span(&self, level: u32) -> u64 {
        1u64 << (12 + (level - 1) * self.bits())
    }

    /// Size of the IOVA space.
    pub fn space(&self) -> u64 {
        self.span(self.levels) * self.entries as u64
    }

    /// Index of `iova` in a table of `level`.
    pub fn index(&self, iova: u64, level: u32) -> usize {
        ((iova >> (12 + (level - 1) * self.bits())) & (self.entries as u64 - 1)) as usize
    }

    /// Most tables a full tree can have (every level fully populated).
    pub fn max_tables(&self) -> u64 {
        (0..self.levels).map(|l| (self.entries as u64).pow(l)).sum()
    }
}

/// One operation of a scenario, parsed: `map 0x1000 0xa000` is `map` with two arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Operation name, as in the model's [`OpSpec`].
    pub op: &'static str,
    /// Numeric arguments, in the spec's order.
    pub args: Vec<u64>,
    /// Flags given (`reclaim`).
    pub flags: Vec<&'static str>,
}

impl Call {
    /// True if `flag` was given.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
    /// Argument `i`, or `default` if it was left out.
    pub fn arg_or(&self, i: usize, default: u64) -> u64 {
        self.args.get(i).copied().unwrap_or(default)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op)?;
        for a in &self.args {
            write!(f, " {a:#x}")?;
        }
        for fl in &self.flags {
            write!(f, " {fl}")?;
        }
        Ok(())
    }
}

/// What an operation takes.
#[derive(Clone, Copy, Debug)]
pub struct OpSpec {
    /// Name in scenario files.
    pub name: &'static str,
    /// Names of the numeric arguments (`IOVA`, `PA`, `SIZE`).
    pub args: &'static [&'static str],
    /// How many of the trailing arguments may be left out.
    pub optional: usize,
    /// Flags it accepts.
    pub flags: &'static [&'static str],
    /// True if the simulated hardware runs it (a thread of such operations is a hardware agent).
    pub hardware: bool,
    /// One line of help: which kernel function it runs.
    pub about: &'static str,
}

/// Bits of a physical address: the most x86-64 (MAXPHYADDR), VT-d and arm64 (LPA) can hold.
pub const PA_BITS: u32 = 52;

impl OpSpec {
    /// Refuse numbers no hardware holds, for every model alike by the arguments' names: a
    /// `PA`, or a `PA`+`SIZE` range, past 2^52, and an `IOVA`+`SIZE` range that wraps past
    /// 2^64. `args` are the arguments given, in order (trailing optional ones may be left
    /// out); the error names the argument at fault, by position.
    pub fn check_widths(&self, args: &[u64]) -> Result<(), (usize, String)> {
        let arg = |name: &str| {
            let i = self.args.iter().position(|&a| a == name)?;
            Some((i, *args.get(i)?))
        };
        let top = 1u64 << PA_BITS;
        if let Some((i, pa)) = arg("PA") {
            if pa >= top {
                return Err((
                    i,
                    format!("PA {pa:#x} does not fit in {PA_BITS} bits; expected a physical address below {top:#x}"),
                ));
            }
            if let Some((j, size)) = arg("SIZE") {
                if pa.checked_add(size).is_none_or(|end| end > top) {
                    return Err((
                        j,
                        format!("range PA {pa:#x}+{size:#x} ends past 2^{PA_BITS}; expected PA+SIZE at most {top:#x}"),
                    ));
                }
            }
        }
        if let (Some((_, iova)), Some((j, size))) = (arg("IOVA"), arg("SIZE")) {
            if iova.checked_add(size).is_none() {
                return Err((
                    j,
                    format!("range IOVA {iova:#x}+{size:#x} wraps past 2^64; expected IOVA+SIZE below 2^64"),
                ));
            }
        }
        Ok(())
    }
}

/// A variant of a model: as posted, as proposed by a reviewer, as merged, or a mutant.
#[derive(Clone, Copy, Debug)]
pub struct VariantSpec {
    /// Name in scenario files (`rfc`, `cmpxchg`, `no-wmb`).
    pub name: &'static str,
    /// Where it comes from and what it changes.
    pub about: &'static str,
}

/// A scenario's operation that the model refuses, with which one (thread index into the
/// scenario's threads, or `None` for setup) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `None` for a setup operation, else the thread's position among the scenario's threads.
    pub thread: Option<usize>,
    /// Position of the operation in its list.
    pub op: usize,
    /// What is wrong, and what was expected.
    pub message: String,
    /// The operation it conflicts with, if any (thread, position), as `thread` and `op`
    /// say; the scenario layer names it and its line.
    pub other: Option<(Option<usize>, usize)>,
}

/// The world of one execution: the model's state, shared by its threads.
pub trait World: Send + Sync {
    /// Run one operation on the calling thread.
    fn run(&self, call: &Call);
    /// After every thread has finished: check the final state, tear down, check for leaks.
    fn finish(&self);
}

/// A model's check of a scenario's operations: variant, geometry, setup, threads.
pub type Validate = fn(&str, &Geometry, &[Call], &[Vec<Call>]) -> Result<(), Refusal>;

/// A model, as the checker sees it.
pub struct ModelSpec {
    /// Name in scenario files (`vtd-first-level`).
    pub name: &'static str,
    /// What it models.
    pub about: &'static str,
    /// The seed thread it comes from.
    pub seed: &'static str,
    /// Kernel file and functions it mirrors.
    pub mirrors: &'static str,
    /// Its variants; the first is the one as posted.
    pub variants: &'static [VariantSpec],
    /// Its operations.
    pub ops: &'static [OpSpec],
    /// The properties it checks: (violation kind, what it means here).
    pub invariants: &'static [(&'static str, &'static str)],
    /// Geometry when a scenario gives none.
    pub default_geometry: Geometry,
    /// Refuse what the model forbids (unaligned or overlapping ranges, ...).
    pub validate: Validate,
    /// Build the world of one execution; runs inside the engine's execution.
    pub build: fn(variant: &str, geometry: &Geometry) -> Box<dyn World>,
}

impl fmt::Debug for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelSpec({})", self.name)
    }
}

impl ModelSpec {
    /// The operation called `name`.
    pub fn op(&self, name: &str) -> Option<&'static OpSpec> {
        self.ops.iter().find(|o| o.name == name)
    }
    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&'static VariantSpec> {
        self.variants.iter().find(|v| v.name == name)
    }
}

/// Every model iommu-mc knows.
pub fn models() -> &'static [&'static ModelSpec] {
    &[
        &crate::vtd::intel_pgtable::MODEL,
        &crate::dma::reserved_iommu::MODEL,
    ]
}

/// The model called `name`.
pub fn model(name: &str) -> Option<&'static ModelSpec> {
    models().iter().copied().find(|m| m.name == name)
}
