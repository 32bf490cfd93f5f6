//! The model contract: what a model declares and what it implements.
//!
//! A model declares its variants, operations and parameters once, each with its doc line,
//! through [`variants!`](crate::variants), [`operations!`](crate::operations) and
//! [`params!`](crate::params): each macro writes the enum (or struct), the table the checker
//! prints and validates against, and the conversion from a scenario's parsed [`Call`]. It
//! implements [`Model`]: build the world of one execution, run one typed operation, check
//! the final state. [`ModelSpec::of`] turns that into the object-safe form the checker runs,
//! and `registry.rs` lists it (one line), or a user's crate registers it.
//!
//! This module names nothing else of the crate: models depend on it, the registry on them.

use std::fmt;

/// One operation of a scenario, parsed from its text: `map 0x1000 0xa000` is `map` with two
/// arguments. Models never read it: [`Operations::from_call`] turns it into their typed
/// operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Operation name, as in the model's [`OpSpec`].
    pub op: &'static str,
    /// Numeric arguments, in the spec's order (trailing optional ones may be missing).
    pub args: Vec<u64>,
    /// Flags given (`reclaim`).
    pub flags: Vec<&'static str>,
}

impl Call {
    /// True if `flag` was given.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    /// The call as written: the argument at index `i` in hex when `hex(i)`, else decimal.
    fn text(&self, hex: impl Fn(usize) -> bool) -> String {
        let mut s = self.op.to_string();
        for (i, a) in self.args.iter().enumerate() {
            s += &if hex(i) {
                format!(" {a:#x}")
            } else {
                format!(" {a}")
            };
        }
        for fl in &self.flags {
            s += &format!(" {fl}");
        }
        s
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text(|_| true))
    }
}

/// What an operation takes, as [`operations!`](crate::operations) declares it.
#[derive(Clone, Copy, Debug)]
pub struct OpSpec {
    /// Name in scenario files.
    pub name: &'static str,
    /// Kinds of the numeric arguments (`IOVA`, `PA`, `SIZE`), which also name them.
    pub args: &'static [&'static str],
    /// How many of the trailing arguments may be left out.
    pub optional: usize,
    /// Flags it accepts.
    pub flags: &'static [&'static str],
    /// True if the simulated hardware runs it (a thread of such operations is a hardware agent).
    pub hardware: bool,
    /// Its doc comment: which kernel function it runs.
    pub doc: &'static str,
}

impl OpSpec {
    /// One line of help.
    pub fn about(&self) -> &'static str {
        self.doc.trim()
    }

    /// `c`, a call of this operation, as reports print it: addresses and sizes (`IOVA`,
    /// `PA`, `SIZE`, a kind with `ADDR` in it) in hex, identifiers and counts (`PASID`,
    /// `DID`, `PAGE`) in decimal, as the kernel prints each. [`Call`]'s `Display`, which has
    /// no kinds, prints every number in hex.
    pub fn call_text(&self, c: &Call) -> String {
        c.text(|i| {
            let kind = self.args.get(i).copied().unwrap_or("");
            matches!(kind, "IOVA" | "PA" | "SIZE") || kind.contains("ADDR")
        })
    }
}

/// Bits of a physical address: the most x86-64 (MAXPHYADDR), VT-d and arm64 (LPA) can hold.
pub const PA_BITS: u32 = 52;

impl OpSpec {
    /// Refuse numbers no hardware holds, for every model alike by the arguments' kinds: a
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
    /// Its doc comment: where it comes from and what it changes.
    pub doc: &'static str,
}

impl VariantSpec {
    /// One line of help.
    pub fn about(&self) -> &'static str {
        self.doc.trim()
    }
}

/// A model parameter that scenario files may set (`params = { levels = 2 }`).
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// Name in scenario files.
    pub name: &'static str,
    /// Value when a scenario gives none.
    pub default: u64,
    /// Smallest value accepted.
    pub min: u64,
    /// Largest value accepted.
    pub max: u64,
    /// Its doc comment.
    pub doc: &'static str,
}

impl ParamSpec {
    /// One line of help.
    pub fn about(&self) -> &'static str {
        self.doc.trim()
    }
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

impl Refusal {
    /// Refuse operation `op` of `thread` (`None`: the setup) because of `message`.
    pub fn of(thread: Option<usize>, op: usize, message: impl Into<String>) -> Refusal {
        Refusal {
            thread,
            op,
            message: message.into(),
            other: None,
        }
    }
}

/// Every operation of a scenario with where it is: `(None, i, op)` for setup operation `i`,
/// `(Some(t), i, op)` for operation `i` of thread `t`; for [`Model::validate`].
pub fn each_op<'a, O>(
    setup: &'a [O],
    threads: &'a [Vec<O>],
) -> impl Iterator<Item = (Option<usize>, usize, &'a O)> {
    let setup = setup.iter().enumerate().map(|(i, op)| (None, i, op));
    let threads = threads
        .iter()
        .enumerate()
        .flat_map(|(t, ops)| ops.iter().enumerate().map(move |(i, op)| (Some(t), i, op)));
    setup.chain(threads)
}

/// A model's variants, as [`variants!`](crate::variants) declares them.
pub trait Variants: Copy + Send + Sync + 'static {
    /// Every variant; the first is the one as posted.
    const SPECS: &'static [VariantSpec];
    /// The variant called `name`.
    fn from_name(name: &str) -> Option<Self>;
    /// Its name in scenario files.
    fn name(self) -> &'static str;
}

/// A model's operations, as [`operations!`](crate::operations) declares them.
pub trait Operations: Sized + Send + Sync + 'static {
    /// Every operation.
    const SPECS: &'static [OpSpec];
    /// The typed operation of a call the scenario layer has checked against [`Self::SPECS`]
    /// (name, argument count, flags).
    fn from_call(call: &Call) -> Self;
}

/// A model's parameters, as [`params!`](crate::params) declares them; `()` for none.
pub trait Params: Sized + Send + Sync + 'static {
    /// Every parameter.
    const SPECS: &'static [ParamSpec];
    /// The parameters from their values, in [`Self::SPECS`] order, each within its range.
    fn from_values(values: &[u64]) -> Self;
}

impl Params for () {
    const SPECS: &'static [ParamSpec] = &[];
    fn from_values(_: &[u64]) -> Self {}
}

/// A model: the world of one execution, shared by the scenario's threads.
///
/// `build` runs inside the engine's execution, so every kernel object it creates belongs to
/// it. `run` is called by each thread for each of its operations, in order; `finish` after
/// every thread joined.
pub trait Model: Send + Sync + Sized + 'static {
    /// Its variants.
    type Variant: Variants;
    /// Its operations.
    type Op: Operations;
    /// Its parameters (`()` for none).
    type Params: Params;
    /// The world of one execution.
    fn build(variant: Self::Variant, params: &Self::Params) -> Self;
    /// Run one operation on the calling thread.
    fn run(&self, op: &Self::Op);
    /// After every thread has finished: check the final state, tear down, check for leaks.
    fn finish(&self) {}
    /// Refuse a combination of parameters that their ranges alone do not: (parameter
    /// index, what was expected).
    fn check_params(_params: &Self::Params) -> Result<(), (usize, String)> {
        Ok(())
    }
    /// Refuse what the model forbids (unaligned or overlapping ranges, ...), before anything
    /// runs. `threads[t]` are thread `t`'s operations.
    fn validate(
        _variant: Self::Variant,
        _params: &Self::Params,
        _setup: &[Self::Op],
        _threads: &[Vec<Self::Op>],
    ) -> Result<(), Refusal> {
        Ok(())
    }
}

/// The world of one execution, as the checker runs it (object-safe).
pub trait World: Send + Sync {
    /// Run one operation on the calling thread.
    fn run(&self, call: &Call);
    /// After every thread has finished.
    fn finish(&self);
}

struct Typed<M>(M);

impl<M: Model> World for Typed<M> {
    fn run(&self, call: &Call) {
        self.0.run(&M::Op::from_call(call))
    }
    fn finish(&self) {
        self.0.finish()
    }
}

/// What a model says of itself besides its code.
#[derive(Clone, Copy, Debug)]
pub struct About {
    /// Name in scenario files (`vtd-first-level`).
    pub name: &'static str,
    /// What it models.
    pub about: &'static str,
    /// The seed thread it comes from (empty for a user's model).
    pub seed: &'static str,
    /// Kernel file and functions it mirrors.
    pub mirrors: &'static str,
    /// The properties it checks: (violation kind, what it means here).
    pub invariants: &'static [(&'static str, &'static str)],
}

/// A parameter refused: its index, and what was expected.
pub type ParamError = (usize, String);

/// [`ModelSpec::validate`]: variant name, parameter values, setup calls, each thread's calls.
pub type ValidateFn = fn(&str, &[u64], &[Call], &[Vec<Call>]) -> Result<(), Refusal>;

/// [`ModelSpec::check_params`]: parameter values, each within its range.
pub type CheckParamsFn = fn(&[u64]) -> Result<(), ParamError>;

/// A model, as the checker sees it.
pub struct ModelSpec {
    /// Name, seed, what it mirrors and checks.
    pub about: About,
    /// Its variants; the first is the one as posted.
    pub variants: &'static [VariantSpec],
    /// Its operations.
    pub ops: &'static [OpSpec],
    /// Its parameters.
    pub params: &'static [ParamSpec],
    /// Check a scenario's variant, parameter values and calls against the model's rules.
    pub validate: ValidateFn,
    /// Refuse a combination of parameter values (each within its range) the model does
    /// not accept: (parameter index, what was expected).
    pub check_params: CheckParamsFn,
    /// Build the world of one execution; runs inside the engine's execution.
    pub build: fn(&str, &[u64]) -> Box<dyn World>,
    /// Locks whose hold lengths the checker measures and reports (`iommu->lock`).
    pub measured_locks: &'static [&'static str],
}

fn check_params<M: Model>(values: &[u64]) -> Result<(), (usize, String)> {
    M::check_params(&M::Params::from_values(values))
}

fn variant_of<M: Model>(name: &str) -> M::Variant {
    M::Variant::from_name(name).unwrap_or_else(|| {
        panic!("model has no variant {name:?} (the scenario layer checks variants first)")
    })
}

fn validate<M: Model>(
    variant: &str,
    params: &[u64],
    setup: &[Call],
    threads: &[Vec<Call>],
) -> Result<(), Refusal> {
    let ops = |calls: &[Call]| calls.iter().map(M::Op::from_call).collect::<Vec<_>>();
    let threads: Vec<Vec<M::Op>> = threads.iter().map(|t| ops(t)).collect();
    M::validate(
        variant_of::<M>(variant),
        &M::Params::from_values(params),
        &ops(setup),
        &threads,
    )
}

fn build<M: Model>(variant: &str, params: &[u64]) -> Box<dyn World> {
    Box::new(Typed(M::build(
        variant_of::<M>(variant),
        &M::Params::from_values(params),
    )))
}

impl ModelSpec {
    /// The checker's form of model `M`.
    pub const fn of<M: Model>(about: About) -> ModelSpec {
        ModelSpec {
            about,
            variants: M::Variant::SPECS,
            ops: M::Op::SPECS,
            params: M::Params::SPECS,
            validate: validate::<M>,
            check_params: check_params::<M>,
            build: build::<M>,
            measured_locks: &[],
        }
    }

    /// The same model, with the hold lengths of `locks` measured over every explored
    /// execution and reported: the steps a thread takes while it holds one, and the
    /// invalidation waits among them.
    pub const fn measuring(self, locks: &'static [&'static str]) -> ModelSpec {
        ModelSpec {
            measured_locks: locks,
            ..self
        }
    }

    /// Its name in scenario files.
    pub fn name(&self) -> &'static str {
        self.about.name
    }
    /// The operation called `name`.
    pub fn op(&self, name: &str) -> Option<&'static OpSpec> {
        self.ops.iter().find(|o| o.name == name)
    }
    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&'static VariantSpec> {
        self.variants.iter().find(|v| v.name == name)
    }
    /// Every parameter's default value, in order.
    pub fn default_params(&self) -> Vec<u64> {
        self.params.iter().map(|p| p.default).collect()
    }
}

impl fmt::Debug for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelSpec({})", self.about.name)
    }
}

/// Declare a model's variants once: the enum, and the table and names the checker reads.
/// Each variant's doc comment is its help line.
///
/// ```
/// iommu_models::variants! {
///     /// The variants of my model.
///     pub enum Variant {
///         /// As posted.
///         Posted = "posted",
///         /// The reviewer's fix.
///         Fixed = "fixed",
///     }
/// }
/// ```
#[macro_export]
macro_rules! variants {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $doc:literal])* $v:ident = $s:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[doc = $doc])* $v ),+
        }

        impl $crate::spec::Variants for $name {
            const SPECS: &'static [$crate::spec::VariantSpec] = &[
                $( $crate::spec::VariantSpec { name: $s, doc: concat!($($doc),*) } ),+
            ];
            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $s => Some($name::$v), )+
                    _ => None,
                }
            }
            fn name(self) -> &'static str {
                match self {
                    $( $name::$v => $s, )+
                }
            }
        }
    };
}

/// Declare a model's operations once: the enum with typed fields, the table the scenario
/// layer checks calls against (and prints as help), and the conversion from a parsed call.
///
/// Each operation is `Variant = "name" (field: KIND, field: KIND = default, ...)`, then
/// optionally `flags(name, ...)` (each a `bool` field) and `[hardware]` (the simulated
/// hardware runs it). A `KIND` is `IOVA`, `PA`, `SIZE` or any other upper-case word; the
/// first three are checked against the hardware's widths. Fields with a default are
/// optional and come last. Each operation's doc comment is its help line.
///
/// ```
/// iommu_models::operations! {
///     /// The operations of my model.
///     pub enum Op {
///         /// map(iova, pa, size)
///         Map = "map" (iova: IOVA, pa: PA, size: SIZE = 0x1000),
///         /// unmap(iova, size, reclaim)
///         Unmap = "unmap" (iova: IOVA, size: SIZE) flags(reclaim),
///         /// The IOMMU walks iova.
///         Walk = "walk" (iova: IOVA) [hardware],
///     }
/// }
/// ```
#[macro_export]
macro_rules! operations {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $v:ident = $s:literal ( $( $arg:ident : $kind:ident $(= $default:expr)? ),* $(,)? )
                $( flags ( $($flag:ident),* $(,)? ) )?
                $( [$hw:ident] )?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $(
                $(#[doc = $doc])*
                $v { $( #[allow(missing_docs)] $arg: u64, )* $($( #[allow(missing_docs)] $flag: bool, )*)? },
            )*
        }

        impl $crate::spec::Operations for $name {
            const SPECS: &'static [$crate::spec::OpSpec] = &[
                $( $crate::spec::OpSpec {
                    name: $s,
                    args: &[$( stringify!($kind) ),*],
                    optional: 0 $( + $crate::__count_default!($($default)?) )*,
                    flags: &[$($( stringify!($flag) ),*)?],
                    hardware: $crate::__is_hardware!($($hw)?),
                    doc: concat!($($doc),*),
                } ),*
            ];
            fn from_call(call: &$crate::spec::Call) -> Self {
                match call.op {
                    $( $s => {
                        #[allow(unused_mut, unused_variables)]
                        let mut args = call.args.iter().copied();
                        $name::$v {
                            $( $arg: args
                                .next()
                                .or($crate::__default!($($default)?))
                                .expect("the scenario layer checks the argument count"), )*
                            $($( $flag: call.has(stringify!($flag)), )*)?
                        }
                    } )*
                    other => panic!("no operation {other:?} (the scenario layer checks names first)"),
                }
            }
        }
    };
}

/// Declare a model's parameters once: the struct, and the table scenario files are checked
/// against. Each is `name: TYPE = default, min..=max`, with its doc comment as help.
///
/// ```
/// iommu_models::params! {
///     /// Page-table geometry.
///     pub struct Geometry {
///         /// Levels of tables.
///         levels: u32 = 2, 2..=5,
///     }
/// }
/// ```
#[macro_export]
macro_rules! params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[doc = $doc:literal])* $p:ident : $ty:ty = $default:literal, $min:literal ..= $max:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $p: $ty, )+
        }

        impl $name {
            /// The defaults.
            pub const DEFAULT: $name = $name { $( $p: $default, )+ };
        }

        impl $crate::spec::Params for $name {
            const SPECS: &'static [$crate::spec::ParamSpec] = &[
                $( $crate::spec::ParamSpec {
                    name: stringify!($p),
                    default: $default,
                    min: $min,
                    max: $max,
                    doc: concat!($($doc),*),
                } ),+
            ];
            fn from_values(values: &[u64]) -> Self {
                let mut v = values.iter().copied();
                $name { $( $p: v.next().unwrap_or($default) as $ty, )+ }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __count_default {
    () => {
        0
    };
    ($d:expr) => {
        1
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __default {
    () => {
        None
    };
    ($d:expr) => {
        Some($d)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __is_hardware {
    () => {
        false
    };
    (hardware) => {
        true
    };
}
