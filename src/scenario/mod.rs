//! Scenario files: a litmus test over one model. Setup operations, one short program per
//! thread (hardware agents are threads too), and the expected verdict.
//!
//! Bad input is refused before anything runs, with `file:line:col` and what was expected.

use std::fmt;
use std::io::Read as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use iommu_models::check::Kind;
use iommu_models::registry;
use iommu_models::spec::{Call, ModelSpec};
use serde::Deserialize;
use toml::Spanned;

/// An engine, as named on the command line and in scenario files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EngineKind {
    /// Exhaustive DPOR with iterative preemption deepening.
    Loom,
    /// Shuttle's probabilistic concurrency testing scheduler.
    ShuttlePct,
    /// Shuttle's uniformly random scheduler.
    ShuttleRandom,
    /// Shuttle's exhaustive depth-first scheduler (no reduction).
    ShuttleDfs,
    /// Real threads, many repetitions.
    Os,
}

impl EngineKind {
    /// Every engine name.
    pub const NAMES: [&'static str; 5] =
        ["loom", "shuttle-pct", "shuttle-random", "shuttle-dfs", "os"];

    /// The name (`shuttle-pct`).
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Loom => "loom",
            EngineKind::ShuttlePct => "shuttle-pct",
            EngineKind::ShuttleRandom => "shuttle-random",
            EngineKind::ShuttleDfs => "shuttle-dfs",
            EngineKind::Os => "os",
        }
    }

    /// Parse a name.
    pub fn from_name(s: &str) -> Option<EngineKind> {
        [
            EngineKind::Loom,
            EngineKind::ShuttlePct,
            EngineKind::ShuttleRandom,
            EngineKind::ShuttleDfs,
            EngineKind::Os,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// Most threads a scenario may have: loom models at most `loom::MAX_THREADS` threads,
/// the setup (main) thread included.
pub const MAX_THREADS: usize = loom::MAX_THREADS - 1;

/// A parsed, validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it came from.
    pub path: PathBuf,
    /// File stem (`reclaim-race`).
    pub name: String,
    /// One line saying what it shows.
    pub title: String,
    /// Seed thread it comes from.
    pub source: Option<String>,
    /// Free text for the reader (why an engine is left out, ...).
    pub note: Option<String>,
    /// The model.
    pub model: &'static ModelSpec,
    /// Its variant.
    pub variant: String,
    /// The model's parameters, one value per [`ModelSpec::params`] entry, in its order.
    pub params: Vec<u64>,
    /// The kernel configuration it runs under (`config = ["PREEMPT_RT"]`).
    pub config: iommu_models::kernel::Config,
    /// Operations run before the threads start.
    pub setup: Vec<Call>,
    /// The threads, in file order.
    pub threads: Vec<Thread>,
    /// What the checker should find.
    pub expect: Expect,
    /// A model written as one closure (the library's `check`), run instead of a world, a
    /// setup and the threads' operations; `None` for a scenario file.
    pub body: Option<Body>,
}

/// A model written as one closure: it creates its objects, spawns its threads by name
/// (`iommu_models::thread::spawn`) and joins them. Every execution runs it afresh.
#[derive(Clone)]
pub struct Body {
    /// The closure.
    pub run: std::sync::Arc<dyn Fn() + Send + Sync>,
    /// The names its threads were spawned with, as the last execution left them.
    pub names: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Body(closure)")
    }
}

/// One thread of a scenario.
#[derive(Clone, Debug)]
pub struct Thread {
    /// Its name (`A`, `B`, `W`).
    pub name: String,
    /// Its operations, in order.
    pub calls: Vec<Call>,
    /// True if it runs hardware operations (the walker).
    pub hardware: bool,
}

/// The verdict a scenario expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Every explored execution keeps every invariant.
    Holds,
    /// Some execution violates one of `kinds`.
    Violated,
}

/// A scenario's expectation.
#[derive(Clone, Debug)]
pub struct Expect {
    /// Holds or violated.
    pub verdict: Expected,
    /// Acceptable violation kinds (empty for `holds`).
    pub kinds: Vec<Kind>,
    /// The engines that must reach this verdict.
    pub engines: Vec<EngineKind>,
    /// Model steps (labels, or the start of one) that some explored execution must reach,
    /// or a `holds` is `vacuous`.
    pub reaches: Vec<String>,
}

impl Scenario {
    /// `model/name`, as reports and the CLI print it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.model.name(), self.name)
    }

    /// The model's parameters as a scenario file writes them: `levels = 2, entries = 4`.
    pub fn params_text(&self) -> String {
        let p: Vec<String> = (self.model.params.iter().zip(&self.params))
            .map(|(p, v)| format!("{} = {v}", p.name))
            .collect();
        p.join(", ")
    }
}

/// A refused scenario file: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            one_line(&self.file.display().to_string()),
            self.line,
            self.col,
            self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    title: Spanned<String>,
    source: Option<Spanned<String>>,
    note: Option<String>,
    model: Spanned<String>,
    variant: Spanned<String>,
    params: Option<Spanned<IndexMap<Spanned<String>, Spanned<i64>>>>,
    #[serde(default)]
    config: Vec<Spanned<String>>,
    #[serde(default)]
    setup: Vec<Spanned<String>>,
    threads: Spanned<IndexMap<Spanned<String>, Vec<Spanned<String>>>>,
    expect: Spanned<RawExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    verdict: Spanned<String>,
    kind: Option<Spanned<Kinds>>,
    engines: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    reaches: Vec<Spanned<String>>,
}

/// `kind`: one violation kind, or a list of them, each listed one with its place in the
/// file (a lone one is where the whole value is).
struct Kinds(Vec<(Option<Range<usize>>, String)>);

impl<'de> Deserialize<'de> for Kinds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Kinds, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Kinds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a violation kind or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Kinds, E> {
                Ok(Kinds(vec![(None, s.to_string())]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Kinds, A::Error> {
                let mut v = Vec::new();
                while let Some(k) = a.next_element::<Spanned<String>>()? {
                    v.push((Some(k.span()), k.into_inner()));
                }
                Ok(Kinds(v))
            }
        }
        d.deserialize_any(V)
    }
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    /// 1-based line and column of byte `offset`.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let (line, col) = self.line_col(span.start);
        ScenarioError {
            file: self.file.to_path_buf(),
            line,
            col,
            message: one_line(&message.into()),
        }
    }
}

/// `s` on one line: a line break or other control character (from a multi-line TOML string,
/// a quoted key, a file name) is written as its escape, so a refusal stays one line.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Largest scenario file read, in bytes: a scenario is a page of TOML, and a larger file
/// (or `/dev/zero`) is refused after reading one byte more than this, never read whole.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Read and validate the scenario at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let at_start = |message: String| ScenarioError {
        file: path.to_path_buf(),
        line: 1,
        col: 1,
        message,
    };
    let cannot = |e: std::io::Error| at_start(format!("cannot read the scenario: {e}"));
    let mut bytes = Vec::new();
    open_to_read(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(at_start(format!(
            "the file is larger than {} MiB; expected a scenario (a short TOML file)",
            MAX_FILE_BYTES >> 20
        )));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            // Point at the first byte that is not UTF-8, counting the valid text before it.
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
            let cx = Ctx {
                file: path,
                text: before,
            };
            return Err(cx.err(
                valid..valid,
                format!(
                    "byte {:#04x} is not UTF-8; expected a UTF-8 text file",
                    bytes[valid]
                ),
            ));
        }
    };
    parse(path, &text)
}

/// Open `path` for reading without waiting: a named pipe that no one writes to opens at
/// once (and reads as empty) instead of hanging; reads then block as usual.
fn open_to_read(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // SAFETY: fcntl on the descriptor just opened, which `f` owns.
    unsafe {
        let flags = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(f)
}

/// Parse and validate scenario `text`, reporting errors against `file`.
pub fn parse(file: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let cx = Ctx { file, text };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.err(span.clone(), toml_message(e.message(), text, span.start))
    })?;

    let model = registry::model(raw.model.get_ref()).ok_or_else(|| {
        let known: Vec<&str> = registry::models().iter().map(|m| m.name()).collect();
        cx.err(
            raw.model.span(),
            format!(
                "unknown model {:?}; expected one of: {}",
                raw.model.get_ref(),
                known.join(", ")
            ),
        )
    })?;
    if model.variant(raw.variant.get_ref()).is_none() {
        let known: Vec<&str> = model.variants.iter().map(|v| v.name).collect();
        return Err(cx.err(
            raw.variant.span(),
            format!(
                "model {} has no variant {:?}; expected one of: {}",
                model.name(),
                raw.variant.get_ref(),
                known.join(", ")
            ),
        ));
    }

    let params = parse_params(&cx, model, raw.params.as_ref())?;
    let mut config = iommu_models::kernel::Config::default();
    for c in &raw.config {
        match c.get_ref().as_str() {
            "PREEMPT_RT" => config.preempt_rt = true,
            "PROVE_RAW_LOCK_NESTING" => config.prove_raw_lock_nesting = true,
            other => {
                return Err(cx.err(
                    c.span(),
                    format!(
                        "unknown config option {other:?}; expected PREEMPT_RT or PROVE_RAW_LOCK_NESTING"
                    ),
                ))
            }
        }
    }

    let setup = raw
        .setup
        .iter()
        .map(|s| parse_call(&cx, model, s))
        .collect::<Result<Vec<_>, _>>()?;

    let mut threads = Vec::new();
    if raw.threads.get_ref().is_empty() {
        return Err(cx.err(raw.threads.span(), "no threads; expected at least one"));
    }
    for (name, ops) in raw.threads.get_ref() {
        if threads.len() == MAX_THREADS {
            return Err(cx.err(
                name.span(),
                format!(
                    "thread {} is one too many: loom models at most {MAX_THREADS} threads besides setup",
                    name.get_ref()
                ),
            ));
        }
        if ops.is_empty() {
            return Err(cx.err(
                name.span(),
                format!("thread {} has no operations", name.get_ref()),
            ));
        }
        let calls = ops
            .iter()
            .map(|s| parse_call(&cx, model, s))
            .collect::<Result<Vec<_>, _>>()?;
        let hw: Vec<bool> = calls
            .iter()
            .map(|c| model.op(c.op).is_some_and(|o| o.hardware))
            .collect();
        if hw.iter().any(|&h| h) && !hw.iter().all(|&h| h) {
            let i = hw.iter().position(|&h| h != hw[0]).unwrap_or(0);
            return Err(cx.err(
                ops[i].span(),
                format!(
                    "thread {} mixes CPU and hardware operations; expected a thread to be one or the other",
                    name.get_ref()
                ),
            ));
        }
        threads.push(Thread {
            name: name.get_ref().clone(),
            calls,
            hardware: hw[0],
        });
    }

    let progs: Vec<Vec<Call>> = threads.iter().map(|t| t.calls.clone()).collect();
    if let Err(r) = (model.validate)(raw.variant.get_ref(), &params, &setup, &progs) {
        let op_at = |thread: Option<usize>, op: usize| match thread {
            None => &raw.setup[op],
            Some(t) => &raw.threads.get_ref()[t][op],
        };
        let mut message = r.message;
        if let Some((thread, op)) = r.other {
            let who = thread.map_or("setup".into(), |t| format!("thread {}", threads[t].name));
            let other = op_at(thread, op);
            message += &format!(
                " (the other is {who}'s {:?}, line {})",
                other.get_ref(),
                cx.line_col(other.span().start).0
            );
        }
        return Err(cx.err(op_at(r.thread, r.op).span(), message));
    }

    let expect = parse_expect(&cx, raw.expect.get_ref())?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Scenario {
        path: file.to_path_buf(),
        name,
        title: raw.title.into_inner(),
        source: raw.source.map(|s| s.into_inner()),
        note: raw.note,
        model,
        variant: raw.variant.into_inner(),
        params,
        config,
        setup,
        threads,
        expect,
        body: None,
    })
}

/// The values of `model`'s parameters: each given one checked against its range, the
/// others at their defaults, then the combination checked by the model.
fn parse_params(
    cx: &Ctx<'_>,
    model: &ModelSpec,
    raw: Option<&Spanned<IndexMap<Spanned<String>, Spanned<i64>>>>,
) -> Result<Vec<u64>, ScenarioError> {
    let mut values = model.default_params();
    let Some(raw) = raw else {
        return Ok(values);
    };
    let mut spans = vec![raw.span(); values.len()];
    for (name, value) in raw.get_ref() {
        let Some(i) = model.params.iter().position(|p| p.name == name.get_ref()) else {
            let known: Vec<&str> = model.params.iter().map(|p| p.name).collect();
            return Err(cx.err(
                name.span(),
                if known.is_empty() {
                    format!(
                        "model {} has no parameters; expected no params table",
                        model.name()
                    )
                } else {
                    format!(
                        "model {} has no parameter {:?}; expected one of: {}",
                        model.name(),
                        name.get_ref(),
                        known.join(", ")
                    )
                },
            ));
        };
        let p = &model.params[i];
        let v = *value.get_ref();
        if v < 0 || (v as u64) < p.min || (v as u64) > p.max {
            return Err(cx.err(
                value.span(),
                format!("{} = {v}; expected {} to {}", p.name, p.min, p.max),
            ));
        }
        values[i] = v as u64;
        spans[i] = value.span();
    }
    (model.check_params)(&values).map_err(|(i, message)| cx.err(spans[i].clone(), message))?;
    Ok(values)
}

/// The TOML parser's `message` for an error at byte `at` of `text`, in the scenario
/// writer's terms, on one line.
fn toml_message(message: &str, text: &str, at: usize) -> String {
    let (before, after) = text.split_at(at.min(text.len()));
    let before = before.rsplit('\n').next().unwrap_or("");
    let after = after.split('\n').next().unwrap_or("").trim();
    if before.trim_end().ends_with('=') && (after.is_empty() || after.starts_with('#')) {
        // A value left out (the parser says nothing, or "invalid string", at the end of the
        // file or of the line).
        return "nothing after `=`; expected a value: a \"string\", a number, true or false, \
                an [array] or an { inline table }"
            .into();
    }
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return "not valid TOML here; expected `key = value` lines and [table] headers".into();
    }
    // serde speaks Rust ("expected i64"); a scenario writer reads TOML.
    lines
        .join("; ")
        .replace("expected i64", "expected an integer (no quotes)")
}

fn parse_expect(cx: &Ctx, e: &RawExpect) -> Result<Expect, ScenarioError> {
    let verdict = match e.verdict.get_ref().as_str() {
        "holds" => Expected::Holds,
        "violated" => Expected::Violated,
        other => {
            return Err(cx.err(
                e.verdict.span(),
                format!("verdict {other:?}; expected \"holds\" or \"violated\""),
            ))
        }
    };
    let all: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    let mut kinds = Vec::new();
    if let Some(k) = &e.kind {
        for (at, name) in &k.get_ref().0 {
            let kind = Kind::from_name(name).ok_or_else(|| {
                cx.err(
                    at.clone().unwrap_or(k.span()),
                    format!(
                        "unknown violation kind {name:?}; expected one of: {} (or a list of them)",
                        all.join(", ")
                    ),
                )
            })?;
            kinds.push(kind);
        }
    }
    if verdict == Expected::Violated && kinds.is_empty() {
        return Err(cx.err(
            e.verdict.span(),
            "verdict \"violated\" needs a kind (the violation the checker must find)",
        ));
    }
    if verdict == Expected::Holds && !kinds.is_empty() {
        let kind = e.kind.as_ref().map_or(0..0, |k| k.span());
        return Err(cx.err(
            kind,
            "kind given, but verdict \"holds\" takes no kind; remove it, or expect \"violated\"",
        ));
    }
    if e.engines.get_ref().is_empty() {
        return Err(cx.err(e.engines.span(), "no engines; expected at least one"));
    }
    let mut engines = Vec::new();
    for en in e.engines.get_ref() {
        let k = EngineKind::from_name(en.get_ref()).ok_or_else(|| {
            cx.err(
                en.span(),
                format!(
                    "unknown engine {:?}; expected one of: {}",
                    en.get_ref(),
                    EngineKind::NAMES.join(", ")
                ),
            )
        })?;
        engines.push(k);
    }
    let mut reaches = Vec::new();
    for r in &e.reaches {
        if r.get_ref().trim().is_empty() {
            return Err(cx.err(r.span(), "empty step in reaches; expected a step label"));
        }
        reaches.push(r.get_ref().clone());
    }
    Ok(Expect {
        verdict,
        kinds,
        engines,
        reaches,
    })
}

/// Parse one operation string (`"unmap 0x1000 0x1000 reclaim"`), pointing errors at the
/// offending word inside the string.
fn parse_call(cx: &Ctx, model: &ModelSpec, s: &Spanned<String>) -> Result<Call, ScenarioError> {
    let text = s.get_ref();
    // Columns inside the string: map an offset in its value back to its source.
    let raw = &cx.text[s.span()];
    let at = |offset: usize| s.span().start + source_offset(raw, offset)..s.span().end;
    let words: Vec<(usize, &str)> = text
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
        .collect();
    let Some(&(_, name)) = words.first() else {
        return Err(cx.err(
            s.span(),
            "empty operation; expected e.g. \"map 0x1000 0xa000\"",
        ));
    };
    let spec = model.op(name).ok_or_else(|| {
        let known: Vec<&str> = model.ops.iter().map(|o| o.name).collect();
        cx.err(
            at(0),
            format!(
                "unknown operation {name:?} for model {}; expected one of: {}",
                model.name(),
                known.join(", ")
            ),
        )
    })?;
    let usage = {
        let mut u = spec.name.to_string();
        for (i, a) in spec.args.iter().enumerate() {
            if i >= spec.args.len() - spec.optional {
                u += &format!(" [{a}]");
            } else {
                u += &format!(" {a}");
            }
        }
        for f in spec.flags {
            u += &format!(" [{f}]");
        }
        u
    };
    let mut args = Vec::new();
    let mut arg_at = Vec::new();
    let mut flags = Vec::new();
    for &(off, w) in &words[1..] {
        if let Some(&f) = spec.flags.iter().find(|&&f| f == w) {
            flags.push(f);
            continue;
        }
        if !flags.is_empty() || args.len() == spec.args.len() {
            return Err(cx.err(at(off), format!("unexpected {w:?}; expected: {usage}")));
        }
        let n = parse_number(w).ok_or_else(|| {
            cx.err(
                at(off),
                format!(
                    "{} {w:?} is not a number; expected decimal or 0x-hex (usage: {usage})",
                    spec.args[args.len()]
                ),
            )
        })?;
        args.push(n);
        arg_at.push(off);
    }
    if args.len() < spec.args.len() - spec.optional {
        return Err(cx.err(
            at(0),
            format!(
                "{name} takes {} argument(s), got {}; expected: {usage}",
                spec.args.len() - spec.optional,
                args.len()
            ),
        ));
    }
    spec.check_widths(&args)
        .map_err(|(i, message)| cx.err(at(arg_at[i]), message))?;
    Ok(Call {
        op: spec.name,
        args,
        flags,
    })
}

/// Where byte `offset` of a TOML string's value lies in its source `raw` (delimiters
/// included): past the opening `"`, `'`, `"""` or `'''` (and the newline that may follow a
/// triple one), with each escape (`\t`, `\u00e9`, a line-ending backslash) counted as
/// written, not as decoded.
fn source_offset(raw: &str, offset: usize) -> usize {
    let triple = raw.starts_with("\"\"\"") || raw.starts_with("'''");
    let literal = raw.starts_with('\'');
    let mut i = if triple { 3 } else { 1 };
    if triple {
        i += ["\r\n", "\n"]
            .iter()
            .find(|nl| raw[i..].starts_with(**nl))
            .map_or(0, |nl| nl.len());
    }
    let mut decoded = 0;
    while decoded < offset && i < raw.len() {
        let rest = &raw[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if literal || c != '\\' {
            i += c.len_utf8();
            decoded += c.len_utf8();
            continue;
        }
        let e = rest[1..].chars().next().unwrap_or(' ');
        match e {
            'u' | 'U' => {
                let digits = if e == 'u' { 4 } else { 8 };
                let hex = rest.get(2..2 + digits).unwrap_or("");
                let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                i += 2 + digits;
                decoded += ch.map_or(1, char::len_utf8);
            }
            ' ' | '\t' | '\r' | '\n' => {
                // A line-ending backslash: it and the whitespace after it vanish.
                i += 1 + rest[1..].len() - rest[1..].trim_start().len();
            }
            _ => {
                i += 2;
                decoded += 1;
            }
        }
    }
    i
}

/// A number as scenarios write it: decimal, or hex with `0x`; `_` separators allowed.
pub fn parse_number(w: &str) -> Option<u64> {
    let w = w.replace('_', "");
    match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => w.parse().ok(),
    }
}

/// Every scenario file under `dir`, sorted by path.
pub fn find(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    find_ext(dir, "toml")
}

/// Every file named `*.ext` under `dir`, sorted by path.
pub fn find_ext(dir: &Path, ext: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            // Symlinked folders are not followed, so a link loop cannot trap the walk.
            if e.file_type()?.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
