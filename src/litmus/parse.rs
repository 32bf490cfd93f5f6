//! The kernel's C litmus format (herd7's `C` dialect, as tools/memory-model/litmus-tests/
//! writes it): a `C name` line, an optional doc string, `(* ... *)` comments (one of which
//! says `Result: Never|Sometimes|Always`), the init block, `P0(...) { ... }` bodies, then
//! `locations [...]`, `filter (...)` and `exists (...)`.
//!
//! Only what the kernel API can run is accepted; anything else is refused by name, at
//! `file:line:col`, before anything runs.

use std::collections::BTreeMap;
use std::path::Path;

use crate::scenario::{ScenarioError, MAX_THREADS};

/// The largest litmus file read (a litmus test is a screenful; this is a thousand of them).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The result a test's header states, and the one the checker observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No execution satisfies `exists`.
    Never,
    /// Some do, some do not.
    Sometimes,
    /// Every (filtered) execution does.
    Always,
}

impl Expect {
    /// As herd7 writes it.
    pub fn name(self) -> &'static str {
        match self {
            Expect::Never => "Never",
            Expect::Sometimes => "Sometimes",
            Expect::Always => "Always",
        }
    }
}

/// What a shared location is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocKind {
    /// `int *x`: an `Atomic64`.
    Word,
    /// `atomic_t *a`: an `AtomicT`.
    Atomic,
    /// `spinlock_t *s`: a `SpinLock`.
    Lock,
}

/// A shared location, by index into [`Litmus::locs`].
pub type Loc = usize;

/// An operand: a constant or a register of the running process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    /// A constant.
    Int(u64),
    /// A register, by index into the process's registers.
    Reg(usize),
}

/// The kernel primitive a statement calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prim {
    /// `READ_ONCE`.
    ReadOnce,
    /// `smp_load_acquire`.
    LoadAcquire,
    /// `WRITE_ONCE`.
    WriteOnce,
    /// `smp_store_release`.
    StoreRelease,
    /// `xchg`.
    Xchg,
    /// `cmpxchg`.
    Cmpxchg,
    /// `atomic_read` (false), `atomic_read_acquire` (true).
    AtomicRead(bool),
    /// `atomic_set` (false), `atomic_set_release` (true).
    AtomicSet(bool),
    /// `atomic_{add,sub,inc,dec}`, `atomic_*_return*`, `atomic_fetch_*`: the argument is
    /// the amount (1 for inc and dec).
    AtomicAdd {
        /// Subtract (`sub`, `dec`) rather than add.
        sub: bool,
        /// What it returns.
        returns: Returns,
        /// Its ordering suffix.
        order: Suffix,
    },
    /// `atomic_xchg` and its ordering forms.
    AtomicXchg(Suffix),
    /// `atomic_cmpxchg` and its ordering forms.
    AtomicCmpxchg(Suffix),
    /// `atomic_dec_and_test`: 1 if the count reached zero.
    AtomicDecAndTest,
    /// `atomic_inc_not_zero`: 1 if it incremented.
    AtomicIncNotZero,
    /// `set_bit(nr, p)`: unordered.
    SetBit,
    /// `clear_bit(nr, p)`: unordered.
    ClearBit,
    /// `test_and_set_bit(nr, p)`: fully ordered.
    TestAndSetBit,
    /// `rcu_dereference(*p)`: a load the next access depends on.
    RcuDereference,
    /// `rcu_assign_pointer(*p, v)`: a store-release.
    RcuAssignPointer,
}

/// An RCU statement without a location (include/linux/rcupdate.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcu {
    /// `rcu_read_lock()`.
    ReadLock,
    /// `rcu_read_unlock()`.
    ReadUnlock,
    /// `synchronize_rcu()`.
    Synchronize,
}

/// The ordering an `atomic_t` operation's name gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suffix {
    /// No suffix: fully ordered if it returns a value, unordered if not.
    None,
    /// `_relaxed`.
    Relaxed,
    /// `_acquire`.
    Acquire,
    /// `_release`.
    Release,
}

/// What an `atomic_t` add or subtract returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returns {
    /// Nothing (`atomic_add`).
    Nothing,
    /// The new value (`atomic_add_return`).
    New,
    /// The old value (`atomic_fetch_add`).
    Old,
}

/// The `atomic_t` operation `name` calls, and where its amount comes from: `Some(true)`
/// first argument (`atomic_add(i, v)`), `Some(false)` one (`atomic_inc(v)`), `None` no
/// amount. `None` for a name that is not one.
fn atomic_prim(name: &str) -> Option<(Prim, Option<bool>)> {
    let base = name.strip_prefix("atomic_")?;
    let (base, order) = [
        ("_relaxed", Suffix::Relaxed),
        ("_acquire", Suffix::Acquire),
        ("_release", Suffix::Release),
    ]
    .iter()
    .find_map(|&(s, o)| base.strip_suffix(s).map(|b| (b, o)))
    .unwrap_or((base, Suffix::None));
    // `add` and `sub` take the amount first; `inc` and `dec` add one.
    let amount = |stem: &str| match stem {
        "add" => Some((false, true)),
        "sub" => Some((true, true)),
        "inc" => Some((false, false)),
        "dec" => Some((true, false)),
        _ => None,
    };
    let add = |stem: &str, returns| {
        amount(stem).map(|(sub, first)| {
            let prim = Prim::AtomicAdd {
                sub,
                returns,
                order,
            };
            (prim, Some(first))
        })
    };
    match (base, order) {
        ("read", Suffix::None) => Some((Prim::AtomicRead(false), None)),
        ("read", Suffix::Acquire) => Some((Prim::AtomicRead(true), None)),
        ("set", Suffix::None) => Some((Prim::AtomicSet(false), None)),
        ("set", Suffix::Release) => Some((Prim::AtomicSet(true), None)),
        ("xchg", o) => Some((Prim::AtomicXchg(o), None)),
        ("cmpxchg", o) => Some((Prim::AtomicCmpxchg(o), None)),
        ("dec_and_test", Suffix::None) => Some((Prim::AtomicDecAndTest, None)),
        ("inc_not_zero", Suffix::None) => Some((Prim::AtomicIncNotZero, None)),
        (b, Suffix::None) if amount(b).is_some() => add(b, Returns::Nothing),
        (b, _) => match (b.strip_suffix("_return"), b.strip_prefix("fetch_")) {
            (Some(stem), _) => add(stem, Returns::New),
            (_, Some(stem)) => add(stem, Returns::Old),
            _ => None,
        },
    }
}

/// A barrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// `smp_mb`, and `smp_mb__after_spinlock` right after a `spin_lock`.
    Mb,
    /// `smp_wmb`.
    Wmb,
    /// `smp_rmb`.
    Rmb,
}

/// An `if` condition: a register compared with an operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Test {
    /// The register.
    pub reg: usize,
    /// True for `==`, false for `!=`.
    pub eq: bool,
    /// The operand.
    pub val: Val,
}

/// One statement of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// `[reg =] prim(loc, args...)`.
    Access {
        /// The register assigned, if any.
        reg: Option<usize>,
        /// The primitive.
        prim: Prim,
        /// The location.
        loc: Loc,
        /// The other arguments, in call order (the value; `old`, `new`; the addend).
        args: Vec<Val>,
    },
    /// `reg = val` (a constant or another register).
    Assign(usize, Val),
    /// A barrier.
    Fence(Fence),
    /// `spin_lock(s)`.
    Lock(Loc),
    /// `spin_unlock(s)`.
    Unlock(Loc),
    /// `if (test) { then } else { els }`.
    If(Test, Vec<Stmt>, Vec<Stmt>),
    /// `rcu_read_lock()`, `rcu_read_unlock()`, `synchronize_rcu()`.
    Rcu(Rcu),
}

/// One process: its registers' names and its statements.
#[derive(Clone, Debug, Default)]
pub struct Process {
    /// Register names, by index.
    pub regs: Vec<String>,
    /// Statements in program order.
    pub body: Vec<Stmt>,
}

/// What an `exists`/`filter` atom reads at the end of an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Register `reg` of process `proc`.
    Reg(usize, usize),
    /// The final value of a location.
    Loc(Loc),
}

/// A condition over final state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// `target=value`.
    Eq(Target, u64),
    /// `~c`.
    Not(Box<Cond>),
    /// `a /\ b`.
    And(Box<Cond>, Box<Cond>),
    /// `a \/ b`.
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
    /// Evaluate with `get` giving each target's final value.
    pub fn eval(&self, get: &impl Fn(Target) -> u64) -> bool {
        match self {
            Cond::Eq(t, v) => get(*t) == *v,
            Cond::Not(c) => !c.eval(get),
            Cond::And(a, b) => a.eval(get) && b.eval(get),
            Cond::Or(a, b) => a.eval(get) || b.eval(get),
        }
    }
}

/// A parsed litmus test.
#[derive(Clone, Debug)]
pub struct Litmus {
    /// The file.
    pub path: std::path::PathBuf,
    /// The name on the `C` line.
    pub name: String,
    /// The header's `Result:`.
    pub expected: Expect,
    /// Shared locations: name, kind, initial value.
    pub locs: Vec<(String, LocKind, u64)>,
    /// The processes, P0 first.
    pub procs: Vec<Process>,
    /// `filter (...)`: only executions satisfying it count.
    pub filter: Option<Cond>,
    /// `exists (...)`.
    pub exists: Cond,
    /// `locations [...]`: extra final state to print.
    pub locations: Vec<Target>,
}

/// Read and parse the litmus file at `path` (at most [`MAX_FILE_BYTES`], UTF-8).
pub fn load(path: &Path) -> Result<Litmus, ScenarioError> {
    use std::io::Read;
    let err = |line, col, message: String| ScenarioError {
        file: path.to_path_buf(),
        line,
        col,
        message,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| err(1, 1, format!("cannot read the litmus file: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(err(
            1,
            1,
            format!("file larger than {MAX_FILE_BYTES} bytes; expected a litmus test"),
        ));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let s = String::from_utf8_lossy(good);
            let (line, col) = line_col(&s, s.len());
            return Err(err(
                line,
                col,
                "not UTF-8 text; expected a litmus test".into(),
            ));
        }
    };
    parse(path, &text)
}

/// 1-based line and column (in characters) of byte `at` of `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Int(u64),
    Str,
    Sym(&'static str),
    Eof,
}

impl Tok {
    fn show(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(n) => format!("`{n}`"),
            Tok::Str => "a string".into(),
            Tok::Sym(s) => format!("`{s}`"),
            Tok::Eof => "the end of the file".into(),
        }
    }
}

const SYMS: [&str; 19] = [
    "/\\", "\\/", "==", "!=", "&&", "||", "{", "}", "(", ")", "[", "]", ";", ",", "*", "=", ":",
    "~", "!",
];

struct Parser<'a> {
    file: &'a Path,
    text: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    /// Open parentheses of a condition and `if` arms around the current token.
    depth: usize,
}

/// The deepest nesting of conditions and `if` arms accepted (a bound on the recursion).
const MAX_DEPTH: usize = 32;

/// Split `text` from byte `from` into tokens with their offsets, and collect the text of
/// the `(* ... *)` comments (recognised outside braces only, where `(*x` cannot occur).
fn lex(file: &Path, text: &str, from: usize) -> Result<(Vec<(Tok, usize)>, String), ScenarioError> {
    let b = text.as_bytes();
    let mut i = from;
    let mut toks = Vec::new();
    let mut comments = String::new();
    let mut depth = 0usize;
    let err = |at: usize, m: String| {
        let (line, col) = line_col(text, at);
        ScenarioError {
            file: file.to_path_buf(),
            line,
            col,
            message: m,
        }
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if b[i..].starts_with(b"(*") && depth == 0 {
            let mut nest = 0usize;
            let start = i;
            loop {
                if i >= b.len() {
                    return Err(err(
                        start,
                        "unterminated `(*` comment; expected `*)`".into(),
                    ));
                }
                if b[i..].starts_with(b"(*") {
                    nest += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*)") {
                    nest -= 1;
                    i += 2;
                    if nest == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            comments += &text[start..i];
            comments.push('\n');
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let start = i;
            i = text[i + 2..]
                .find("*/")
                .map(|k| i + 2 + k + 2)
                .ok_or_else(|| err(start, "unterminated `/*` comment; expected `*/`".into()))?;
        } else if c == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            if i >= b.len() {
                return Err(err(start, "unterminated string; expected `\"`".into()));
            }
            i += 1;
            toks.push((Tok::Str, start));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            toks.push((Tok::Ident(text[start..i].to_string()), start));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let w = &text[start..i];
            let n = crate::scenario::parse_number(w).ok_or_else(|| {
                err(
                    start,
                    format!("`{w}` is not a number; expected decimal or 0x-hex below 2^64"),
                )
            })?;
            toks.push((Tok::Int(n), start));
        } else if let Some(s) = SYMS.iter().find(|s| b[i..].starts_with(s.as_bytes())) {
            match *s {
                "{" => depth += 1,
                "}" => depth = depth.saturating_sub(1),
                _ => {}
            }
            toks.push((Tok::Sym(s), i));
            i += s.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return Err(err(
                i,
                format!("unexpected character {ch:?}; expected a C litmus test"),
            ));
        }
    }
    toks.push((Tok::Eof, b.len()));
    Ok((toks, comments))
}

/// Primitives the checker knows but cannot run, with the reason given when one is used.
const REFUSED: &[(&str, &str)] = &[
    (
        "xchg_relaxed",
        "the kernel API has only the fully ordered xchg",
    ),
    (
        "xchg_acquire",
        "the kernel API has only the fully ordered xchg",
    ),
    (
        "xchg_release",
        "the kernel API has only the fully ordered xchg",
    ),
    (
        "cmpxchg_relaxed",
        "the kernel API has only the fully ordered cmpxchg",
    ),
    (
        "cmpxchg_acquire",
        "the kernel API has only the fully ordered cmpxchg",
    ),
    (
        "cmpxchg_release",
        "the kernel API has only the fully ordered cmpxchg",
    ),
    (
        "smp_mb__before_atomic",
        "the kernel API has no such barrier",
    ),
    ("smp_mb__after_atomic", "the kernel API has no such barrier"),
    (
        "smp_mb__after_unlock_lock",
        "the kernel API has no such barrier",
    ),
    ("spin_trylock", "the kernel API has no spin_trylock"),
    ("spin_is_locked", "the kernel API has no spin_is_locked"),
    ("srcu_read_lock", "the kernel API has no SRCU"),
    ("srcu_read_unlock", "the kernel API has no SRCU"),
    ("synchronize_srcu", "the kernel API has no SRCU"),
];

/// The primitives a statement may call, for the "expected one of" of an unknown name.
const KNOWN: &str = "READ_ONCE, WRITE_ONCE, smp_load_acquire, smp_store_release, smp_mb, \
                     smp_wmb, smp_rmb, smp_mb__after_spinlock, spin_lock, spin_unlock, xchg, \
                     cmpxchg, set_bit, clear_bit, test_and_set_bit, atomic_read, \
                     atomic_read_acquire, atomic_set, atomic_set_release, \
                     atomic_{add,sub,inc,dec}, atomic_{add,sub,inc,dec}_return, \
                     atomic_fetch_{add,sub,inc,dec}, atomic_xchg, atomic_cmpxchg (each \
                     value-returning one also _relaxed, _acquire, _release), \
                     atomic_dec_and_test, atomic_inc_not_zero, rcu_read_lock, rcu_read_unlock, \
                     synchronize_rcu, rcu_dereference, rcu_assign_pointer";

/// The RCU statement `name` calls, if it is one.
fn rcu_op(name: &str) -> Option<Rcu> {
    match name {
        "rcu_read_lock" => Some(Rcu::ReadLock),
        "rcu_read_unlock" => Some(Rcu::ReadUnlock),
        "synchronize_rcu" => Some(Rcu::Synchronize),
        _ => None,
    }
}

/// Parse litmus `text`, reporting errors against `file`.
pub fn parse(file: &Path, text: &str) -> Result<Litmus, ScenarioError> {
    // The `C name` line: the name runs to the end of the line (it holds `+`, `.`, `-`).
    let lead = text.len() - text.trim_start().len();
    let first_end = text[lead..].find('\n').map_or(text.len(), |k| lead + k);
    let first = &text[lead..first_end];
    let name = first.strip_prefix("C ").map(str::trim).unwrap_or("");
    if name.is_empty() || name.contains("(*") {
        let (line, col) = line_col(text, lead);
        return Err(ScenarioError {
            file: file.to_path_buf(),
            line,
            col,
            message: if first.starts_with("C") || first.is_empty() {
                "expected `C` and the test's name on the first line".into()
            } else {
                let arch = first.split_whitespace().next().unwrap_or("");
                format!("`{arch}` litmus tests are not supported; expected `C NAME` (the kernel's C dialect)")
            },
        });
    }
    let (toks, comments) = lex(file, text, first_end)?;
    let mut p = Parser {
        file,
        text,
        toks,
        pos: 0,
        depth: 0,
    };
    p.litmus(name.to_string(), &comments)
}

/// The `Result:` word of the header comments.
fn result_of(comments: &str) -> Option<Result<Expect, String>> {
    let at = comments.find("Result:")?;
    let word: String = comments[at + 7..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    Some(match word.as_str() {
        "Never" => Ok(Expect::Never),
        "Sometimes" => Ok(Expect::Sometimes),
        "Always" => Ok(Expect::Always),
        _ => Err(word),
    })
}

/// A process being parsed: its registers and the parameters it may touch.
struct Scope<'s> {
    index: usize,
    regs: Vec<String>,
    params: &'s BTreeMap<String, Loc>,
    kinds: Vec<LocKind>,
    loc_names: Vec<String>,
    /// True right after a `spin_lock`, where `smp_mb__after_spinlock` may stand.
    after_lock: bool,
    /// Locks held at this point of the (straight-line) body.
    held: Vec<Loc>,
    /// Open RCU read-side critical sections at this point of the body.
    rcu_depth: usize,
}

impl Scope<'_> {
    /// The index of register `name`, new ones added; `None` past [`MAX_REGS`].
    fn reg(&mut self, name: &str) -> Option<usize> {
        match self.regs.iter().position(|r| r == name) {
            Some(i) => Some(i),
            None if self.regs.len() == MAX_REGS => None,
            None => {
                self.regs.push(name.to_string());
                Some(self.regs.len() - 1)
            }
        }
    }
}

/// The most registers a process may have, and locations a test may have (a litmus test
/// has a handful; the bound keeps the parser linear on any input).
const MAX_REGS: usize = 64;
const MAX_LOCS: usize = 32;

impl Parser<'_> {
    /// Register `name` of `s`, or a refusal at `at` past [`MAX_REGS`].
    fn reg(&self, s: &mut Scope, name: &str, at: usize) -> Result<usize, ScenarioError> {
        match s.reg(name) {
            Some(r) => Ok(r),
            None => self.err_at(
                at,
                format!("more than {MAX_REGS} registers in P{}", s.index),
            ),
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }
    fn at(&self) -> usize {
        self.toks[self.pos].1
    }
    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn err_at<T>(&self, at: usize, m: impl Into<String>) -> Result<T, ScenarioError> {
        let (line, col) = line_col(self.text, at);
        Err(ScenarioError {
            file: self.file.to_path_buf(),
            line,
            col,
            message: m.into(),
        })
    }
    fn expected<T>(&self, what: &str) -> Result<T, ScenarioError> {
        self.err_at(
            self.at(),
            format!("{}; expected {what}", self.peek().show()),
        )
    }
    fn is(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == w)
    }
    fn eat(&mut self, s: &str) -> bool {
        let yes = self.is(s);
        if yes {
            self.next();
        }
        yes
    }
    fn sym(&mut self, s: &str) -> Result<(), ScenarioError> {
        if self.eat(s) {
            Ok(())
        } else {
            self.expected(&format!("`{s}`"))
        }
    }
    fn ident(&mut self, what: &str) -> Result<(String, usize), ScenarioError> {
        let at = self.at();
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.next();
                Ok((s, at))
            }
            _ => self.expected(what),
        }
    }
    fn int(&mut self) -> Result<u64, ScenarioError> {
        match self.peek().clone() {
            Tok::Int(n) => {
                self.next();
                Ok(n)
            }
            _ => self.expected("a non-negative integer"),
        }
    }

    fn litmus(&mut self, name: String, comments: &str) -> Result<Litmus, ScenarioError> {
        if matches!(self.peek(), Tok::Str) {
            self.next();
        }
        // The init block: `{ x=0; y=1; }`, `int x = 0;`, `int x;` (zero).
        let mut init: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        self.sym("{")?;
        while !self.eat("}") {
            let (mut n, mut at) = self.ident("`}` or an initialisation `x=0;`")?;
            if n == "int" || n == "atomic_t" {
                (n, at) = self.ident("a location name")?;
            }
            let v = if self.eat("=") { self.int()? } else { 0 };
            self.sym(";")?;
            if init.insert(n.clone(), (v, at)).is_some() {
                return self.err_at(at, format!("`{n}` initialised twice"));
            }
        }
        // The processes.
        let mut locs: Vec<(String, LocKind, u64)> = Vec::new();
        let mut procs = Vec::new();
        while let Tok::Ident(pn) = self.peek().clone() {
            if !pn.starts_with('P') || pn[1..].parse::<usize>().is_err() {
                break;
            }
            let at = self.at();
            if pn != format!("P{}", procs.len()) {
                return self.err_at(at, format!("`{pn}`; expected P{}", procs.len()));
            }
            if procs.len() == MAX_THREADS {
                return self.err_at(
                    at,
                    format!("more than {MAX_THREADS} processes; loom runs at most {MAX_THREADS} threads"),
                );
            }
            self.next();
            let params = self.params(&mut locs, &init)?;
            let mut scope = Scope {
                index: procs.len(),
                regs: Vec::new(),
                params: &params,
                kinds: locs.iter().map(|l| l.1).collect(),
                loc_names: locs.iter().map(|l| l.0.clone()).collect(),
                after_lock: false,
                held: Vec::new(),
                rcu_depth: 0,
            };
            self.sym("{")?;
            let body = self.block_rest(&mut scope, false)?;
            if scope.rcu_depth > 0 {
                return self.err_at(
                    self.toks[self.pos - 1].1,
                    format!("P{} ends inside an RCU read-side critical section; expected rcu_read_unlock()", scope.index),
                );
            }
            procs.push(Process {
                regs: scope.regs,
                body,
            });
        }
        if procs.is_empty() {
            return self.expected("a process `P0(int *x) { ... }`");
        }
        for (n, (_, at)) in &init {
            if !locs.iter().any(|l| &l.0 == n) {
                return self.err_at(*at, format!("`{n}` is initialised but no process takes it"));
            }
        }
        let mut lit = Litmus {
            path: self.file.to_path_buf(),
            name,
            expected: Expect::Never,
            locs,
            procs,
            filter: None,
            exists: Cond::Eq(Target::Loc(0), 0),
            locations: Vec::new(),
        };
        // The final part: locations, filter, exists, in that order.
        if self.is_word("locations") {
            self.next();
            self.sym("[")?;
            while !self.eat("]") {
                let t = self.target(&lit)?;
                lit.locations.push(t);
                if !self.eat(";") && !self.is("]") {
                    return self.expected("`;` or `]`");
                }
            }
        }
        if self.is_word("filter") {
            self.next();
            lit.filter = Some(self.cond(&lit)?);
        }
        match self.peek().clone() {
            Tok::Ident(w) if w == "exists" => {
                self.next();
            }
            Tok::Ident(w) if w == "forall" => {
                return self.err_at(
                    self.at(),
                    "`forall` is not supported; expected `exists (...)`",
                )
            }
            Tok::Sym("~") => {
                return self.err_at(
                    self.at(),
                    "`~exists` is not supported; expected `exists (...)`",
                )
            }
            _ => return self.expected("`exists (...)`"),
        }
        lit.exists = self.cond(&lit)?;
        if *self.peek() != Tok::Eof {
            return self.expected("the end of the file after `exists (...)`");
        }
        lit.expected = match result_of(comments) {
            Some(Ok(e)) => e,
            Some(Err(w)) => {
                let at = self.text.find("Result:").unwrap_or(0);
                return self.err_at(at, format!("`Result: {w}`; expected Never, Sometimes or Always"));
            }
            None => {
                return self.err_at(
                    0,
                    "no expected result; expected `Result: Never|Sometimes|Always` in a (* ... *) comment",
                )
            }
        };
        Ok(lit)
    }

    /// `(int *x, spinlock_t *s, atomic_t *a)`: adds new locations to `locs`; returns the
    /// process's view (parameter name to location).
    fn params(
        &mut self,
        locs: &mut Vec<(String, LocKind, u64)>,
        init: &BTreeMap<String, (u64, usize)>,
    ) -> Result<BTreeMap<String, Loc>, ScenarioError> {
        let mut out = BTreeMap::new();
        self.sym("(")?;
        while !self.eat(")") {
            let (ty, at) = self.ident("a parameter `int *x`, `atomic_t *a` or `spinlock_t *s`")?;
            let kind = match ty.as_str() {
                "int" => LocKind::Word,
                "atomic_t" => LocKind::Atomic,
                "spinlock_t" => LocKind::Lock,
                _ => {
                    return self.err_at(
                        at,
                        format!("parameter type `{ty}` is not supported; expected int, atomic_t or spinlock_t"),
                    )
                }
            };
            if !self.eat("*") {
                return self.expected("`*` (parameters are pointers)");
            }
            let (n, at) = self.ident("a parameter name")?;
            let i = match locs.iter().position(|l| l.0 == n) {
                Some(i) if locs[i].1 != kind => {
                    return self.err_at(at, format!("`{n}` has another type in an earlier process"))
                }
                Some(i) => i,
                None => {
                    let v = init.get(&n).map_or(0, |x| x.0);
                    if kind == LocKind::Lock && v != 0 {
                        return self.err_at(at, format!("spinlock `{n}` has an initial value"));
                    }
                    if locs.len() == MAX_LOCS {
                        return self.err_at(at, format!("more than {MAX_LOCS} locations"));
                    }
                    locs.push((n.clone(), kind, v));
                    locs.len() - 1
                }
            };
            if out.insert(n.clone(), i).is_some() {
                return self.err_at(at, format!("parameter `{n}` given twice"));
            }
            if !self.eat(",") && !self.is(")") {
                return self.expected("`,` or `)`");
            }
        }
        Ok(out)
    }

    /// Statements up to the closing `}` (consumed).
    fn block_rest(&mut self, s: &mut Scope, nested: bool) -> Result<Vec<Stmt>, ScenarioError> {
        let mut out = Vec::new();
        while !self.eat("}") {
            if *self.peek() == Tok::Eof {
                return self.expected("`}`");
            }
            self.stmt(s, nested, &mut out)?;
        }
        Ok(out)
    }

    /// Enter one more level of nesting, or refuse past [`MAX_DEPTH`].
    fn nest(&mut self) -> Result<(), ScenarioError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err_at(self.at(), format!("nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    /// A braced block or one statement (an `if`'s arm).
    fn arm(&mut self, s: &mut Scope) -> Result<Vec<Stmt>, ScenarioError> {
        self.nest()?;
        let r = self.arm_inner(s);
        self.depth -= 1;
        r
    }

    fn arm_inner(&mut self, s: &mut Scope) -> Result<Vec<Stmt>, ScenarioError> {
        if self.eat("{") {
            self.block_rest(s, true)
        } else {
            let mut out = Vec::new();
            self.stmt(s, true, &mut out)?;
            Ok(out)
        }
    }

    fn val(&mut self, s: &mut Scope) -> Result<Val, ScenarioError> {
        match self.peek().clone() {
            Tok::Int(n) => {
                self.next();
                Ok(Val::Int(n))
            }
            Tok::Ident(r) if !s.params.contains_key(&r) && !r.contains('.') => {
                let at = self.at();
                self.next();
                if self.is("(") {
                    return self.err_at(
                        at,
                        format!("a call to `{r}` as an operand; expected a constant or a register (assign the call to a register first)"),
                    );
                }
                Ok(Val::Reg(self.reg(s, &r, at)?))
            }
            _ => self.expected("a constant or a register"),
        }
    }

    /// A location argument: `x` or `*x` as the primitive wants it.
    fn loc_arg(&mut self, s: &Scope, star: bool, kind: LocKind) -> Result<Loc, ScenarioError> {
        let at = self.at();
        let has_star = self.eat("*");
        if has_star != star {
            return self.err_at(
                at,
                if star {
                    "expected `*` and a location (`*x`)"
                } else {
                    "expected a location pointer without `*` (`x`)"
                },
            );
        }
        let (n, at) = self.ident("a location (a parameter of this process)")?;
        let &i =
            s.params.get(&n).ok_or(()).or_else(|()| {
                self.err_at(at, format!("`{n}` is not a parameter of P{}", s.index))
            })?;
        if s.kinds[i] != kind {
            let what = match kind {
                LocKind::Word => "an int",
                LocKind::Atomic => "an atomic_t",
                LocKind::Lock => "a spinlock_t",
            };
            return self.err_at(at, format!("`{n}` is not {what}"));
        }
        Ok(i)
    }

    fn stmt(
        &mut self,
        s: &mut Scope,
        nested: bool,
        out: &mut Vec<Stmt>,
    ) -> Result<(), ScenarioError> {
        let after_lock = std::mem::take(&mut s.after_lock);
        let (w, at) = self.ident("a statement")?;
        if w == "int" {
            // `int r0;`, `int r0, r1;`, `int r0 = 1;`
            loop {
                let (r, rat) = self.ident("a register name")?;
                let reg = self.reg(s, &r, rat)?;
                if self.eat("=") {
                    let v = self.val(s)?;
                    out.push(Stmt::Assign(reg, v));
                }
                if self.eat(";") {
                    return Ok(());
                }
                self.sym(",")?;
            }
        }
        if w == "if" {
            self.sym("(")?;
            let test = self.test(s)?;
            self.sym(")")?;
            let then = self.arm(s)?;
            let els = if self.is_word("else") {
                self.next();
                self.arm(s)?
            } else {
                Vec::new()
            };
            out.push(Stmt::If(test, then, els));
            return Ok(());
        }
        // `r = call(...)`, `r = value`, or `call(...)`.
        let (reg, fname, fat) = if self.eat("=") {
            if s.params.contains_key(&w) {
                return self.err_at(
                    at,
                    format!("assignment to location `{w}`; expected WRITE_ONCE(*{w}, ...)"),
                );
            }
            let reg = self.reg(s, &w, at)?;
            match self.peek().clone() {
                Tok::Ident(f)
                    if self
                        .toks
                        .get(self.pos + 1)
                        .is_some_and(|t| t.0 == Tok::Sym("(")) =>
                {
                    let fat = self.at();
                    self.next();
                    (Some(reg), f, fat)
                }
                _ => {
                    let v = self.val(s)?;
                    self.sym(";")?;
                    out.push(Stmt::Assign(reg, v));
                    return Ok(());
                }
            }
        } else {
            (None, w, at)
        };
        if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == fname) {
            return self.err_at(fat, format!("`{fname}` is not supported: {why}"));
        }
        self.sym("(")?;
        if let Some(op) = rcu_op(&fname) {
            let st = self.rcu(s, nested, op, fat)?;
            if reg.is_some() {
                return self.err_at(fat, format!("`{fname}` returns no value"));
            }
            out.push(st);
            return Ok(());
        }
        let atomic = atomic_prim(&fname);
        let access = |prim, star| (prim, star);
        let (prim, star) = match fname.as_str() {
            "READ_ONCE" => access(Prim::ReadOnce, true),
            "smp_load_acquire" => access(Prim::LoadAcquire, false),
            "WRITE_ONCE" => access(Prim::WriteOnce, true),
            "smp_store_release" => access(Prim::StoreRelease, false),
            "xchg" => access(Prim::Xchg, false),
            "cmpxchg" => access(Prim::Cmpxchg, false),
            "set_bit" => access(Prim::SetBit, false),
            "clear_bit" => access(Prim::ClearBit, false),
            "test_and_set_bit" => access(Prim::TestAndSetBit, false),
            "rcu_dereference" => access(Prim::RcuDereference, true),
            "rcu_assign_pointer" => access(Prim::RcuAssignPointer, true),
            "smp_mb"
            | "smp_wmb"
            | "smp_rmb"
            | "smp_mb__after_spinlock"
            | "spin_lock"
            | "spin_unlock" => {
                let st = match fname.as_str() {
                    "smp_mb" => Stmt::Fence(Fence::Mb),
                    "smp_wmb" => Stmt::Fence(Fence::Wmb),
                    "smp_rmb" => Stmt::Fence(Fence::Rmb),
                    "smp_mb__after_spinlock" if after_lock => Stmt::Fence(Fence::Mb),
                    "smp_mb__after_spinlock" => {
                        return self.err_at(
                            fat,
                            "`smp_mb__after_spinlock` is supported only right after a spin_lock (where it is smp_mb)",
                        )
                    }
                    lock => {
                        if nested {
                            return self.err_at(fat, format!("`{lock}` inside an `if` is not supported; expected it in the process's body"));
                        }
                        let l = self.loc_arg(s, false, LocKind::Lock)?;
                        let name = &s.loc_names[l];
                        let held = s.held.iter().position(|&h| h == l);
                        s.after_lock = lock == "spin_lock";
                        match (lock == "spin_lock", held) {
                            (true, None) => {
                                s.held.push(l);
                                Stmt::Lock(l)
                            }
                            (false, Some(i)) => {
                                s.held.remove(i);
                                Stmt::Unlock(l)
                            }
                            (true, Some(_)) => {
                                return self.err_at(fat, format!("spin_lock({name}) while P{} holds it would deadlock", s.index))
                            }
                            (false, None) => {
                                return self.err_at(fat, format!("spin_unlock({name}) of a lock P{} does not hold", s.index))
                            }
                        }
                    }
                };
                self.sym(")")?;
                self.sym(";")?;
                if reg.is_some() {
                    return self.err_at(fat, format!("`{fname}` returns no value"));
                }
                out.push(st);
                return Ok(());
            }
            _ => match atomic {
                Some((prim, _)) => access(prim, false),
                None => {
                    return self.err_at(
                        fat,
                        format!("unknown primitive `{fname}`; expected one of: {KNOWN}"),
                    )
                }
            },
        };
        // atomic_add(i, a) and its kin and the bit operations take the operand first.
        let mut args = Vec::new();
        let first = matches!(prim, Prim::SetBit | Prim::ClearBit | Prim::TestAndSetBit)
            || matches!(atomic, Some((_, Some(true))));
        if first {
            let at = self.at();
            let v = self.val(s)?;
            if matches!(prim, Prim::SetBit | Prim::ClearBit | Prim::TestAndSetBit)
                && !matches!(v, Val::Int(0..=63))
            {
                return self.err_at(at, "expected a bit number from 0 to 63");
            }
            args.push(v);
            self.sym(",")?;
        }
        let kind = if atomic.is_some() {
            LocKind::Atomic
        } else {
            LocKind::Word
        };
        let loc = self.loc_arg(s, star, kind)?;
        let nargs = match prim {
            Prim::ReadOnce | Prim::LoadAcquire | Prim::AtomicRead(_) | Prim::RcuDereference => 0,
            Prim::Cmpxchg | Prim::AtomicCmpxchg(_) => 2,
            Prim::AtomicAdd { .. } | Prim::AtomicDecAndTest | Prim::AtomicIncNotZero => 0,
            Prim::SetBit | Prim::ClearBit | Prim::TestAndSetBit => 0,
            Prim::WriteOnce | Prim::StoreRelease | Prim::AtomicSet(_) | Prim::RcuAssignPointer => 1,
            Prim::Xchg | Prim::AtomicXchg(_) => 1,
        };
        for _ in 0..nargs {
            self.sym(",")?;
            args.push(self.val(s)?);
        }
        if matches!(atomic, Some((_, Some(false)))) {
            args.push(Val::Int(1));
        }
        self.sym(")")?;
        self.sym(";")?;
        let returns = !matches!(
            prim,
            Prim::WriteOnce
                | Prim::StoreRelease
                | Prim::SetBit
                | Prim::ClearBit
                | Prim::AtomicSet(_)
                | Prim::AtomicAdd {
                    returns: Returns::Nothing,
                    ..
                }
                | Prim::RcuAssignPointer
        );
        if reg.is_some() && !returns {
            return self.err_at(fat, format!("`{fname}` returns no value"));
        }
        if reg.is_none()
            && matches!(
                prim,
                Prim::ReadOnce | Prim::LoadAcquire | Prim::AtomicRead(_) | Prim::RcuDereference
            )
        {
            return self.err_at(
                fat,
                format!("the value of `{fname}` is not used; expected `r0 = {fname}(...)`"),
            );
        }
        out.push(Stmt::Access {
            reg,
            prim,
            loc,
            args,
        });
        Ok(())
    }

    /// The rest of `rcu_read_lock()`, `rcu_read_unlock()` or `synchronize_rcu()` after its
    /// `(`, at `fat`. The critical sections must balance in the process's straight-line
    /// body, and `synchronize_rcu()` may not wait for its own critical section or sleep
    /// under a spinlock: the kernel would deadlock or warn, and herd7 has no such execution.
    fn rcu(
        &mut self,
        s: &mut Scope,
        nested: bool,
        op: Rcu,
        fat: usize,
    ) -> Result<Stmt, ScenarioError> {
        let name = match op {
            Rcu::ReadLock => "rcu_read_lock",
            Rcu::ReadUnlock => "rcu_read_unlock",
            Rcu::Synchronize => "synchronize_rcu",
        };
        self.sym(")")?;
        self.sym(";")?;
        if nested {
            return self.err_at(
                fat,
                format!(
                    "`{name}` inside an `if` is not supported; expected it in the process's body"
                ),
            );
        }
        match op {
            Rcu::ReadLock => s.rcu_depth += 1,
            Rcu::ReadUnlock if s.rcu_depth == 0 => {
                return self.err_at(
                    fat,
                    format!(
                        "rcu_read_unlock() outside a read-side critical section of P{}",
                        s.index
                    ),
                )
            }
            Rcu::ReadUnlock => s.rcu_depth -= 1,
            Rcu::Synchronize if s.rcu_depth > 0 => {
                return self.err_at(
                    fat,
                    "synchronize_rcu() inside a read-side critical section would wait for itself",
                )
            }
            Rcu::Synchronize if !s.held.is_empty() => {
                return self.err_at(
                    fat,
                    "synchronize_rcu() may sleep; expected it outside every spinlock",
                )
            }
            Rcu::Synchronize => {}
        }
        Ok(Stmt::Rcu(op))
    }

    /// An `if` test: `r`, `!r`, `r == v`, `r != v`.
    fn test(&mut self, s: &mut Scope) -> Result<Test, ScenarioError> {
        let not = self.eat("!");
        let at = self.at();
        let reg = match self.val(s)? {
            Val::Reg(r) => r,
            Val::Int(_) => return self.err_at(at, "a constant condition; expected a register"),
        };
        if not {
            return Ok(Test {
                reg,
                eq: true,
                val: Val::Int(0),
            });
        }
        let eq = if self.eat("==") {
            true
        } else if self.eat("!=") {
            false
        } else {
            return Ok(Test {
                reg,
                eq: false,
                val: Val::Int(0),
            });
        };
        let val = self.val(s)?;
        Ok(Test { reg, eq, val })
    }

    /// `( ... )` of `exists`/`filter`: `\/` binds loosest, then `/\`, then `~`.
    fn cond(&mut self, lit: &Litmus) -> Result<Cond, ScenarioError> {
        self.sym("(")?;
        self.nest()?;
        let c = self.or(lit)?;
        self.depth -= 1;
        self.sym(")")?;
        Ok(c)
    }
    fn or(&mut self, lit: &Litmus) -> Result<Cond, ScenarioError> {
        let mut a = self.and(lit)?;
        while self.eat("\\/") || self.eat("||") {
            a = Cond::Or(Box::new(a), Box::new(self.and(lit)?));
        }
        Ok(a)
    }
    fn and(&mut self, lit: &Litmus) -> Result<Cond, ScenarioError> {
        let mut a = self.unary(lit)?;
        while self.eat("/\\") || self.eat("&&") {
            a = Cond::And(Box::new(a), Box::new(self.unary(lit)?));
        }
        Ok(a)
    }
    fn unary(&mut self, lit: &Litmus) -> Result<Cond, ScenarioError> {
        if self.eat("~") {
            self.nest()?;
            let c = self.unary(lit)?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(c)));
        }
        if self.is("(") {
            return self.cond(lit);
        }
        let t = self.target(lit)?;
        self.sym("=")?;
        Ok(Cond::Eq(t, self.int()?))
    }

    /// `0:r0` or `x`.
    fn target(&mut self, lit: &Litmus) -> Result<Target, ScenarioError> {
        let at = self.at();
        match self.next() {
            Tok::Int(p) => {
                self.sym(":")?;
                let rat = self.at();
                let (r, _) = self.ident("a register name")?;
                let proc = lit.procs.get(p as usize).ok_or(()).or_else(|()| {
                    self.err_at(
                        at,
                        format!("no process P{p}; expected 0 to {}", lit.procs.len() - 1),
                    )
                })?;
                match proc.regs.iter().position(|x| *x == r) {
                    Some(i) => Ok(Target::Reg(p as usize, i)),
                    None => self.err_at(rat, format!("P{p} has no register `{r}`")),
                }
            }
            Tok::Ident(n) => match lit.locs.iter().position(|l| l.0 == n) {
                Some(i) if lit.locs[i].1 != LocKind::Lock => Ok(Target::Loc(i)),
                Some(_) => self.err_at(
                    at,
                    format!("`{n}` is a spinlock; expected a location or a register"),
                ),
                None => self.err_at(
                    at,
                    format!(
                        "unknown location `{n}`; expected a parameter of some process or `N:reg`"
                    ),
                ),
            },
            t => self.err_at(at, format!("{}; expected `N:reg` or a location", t.show())),
        }
    }
}
