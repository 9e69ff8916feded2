//! The fuzz harness: a proptest runner bounded by a case count and a time budget, and
//! the strategies the targets share (wide strings, JSON values, line mutations).

use std::cell::Cell;
use std::fmt::Debug;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

/// Cases per target when `TFPILOT_FUZZ_CASES` is unset: enough to shake out shallow
/// crashes while the whole suite stays fast.
const DEFAULT_CASES: u32 = 256;
/// Wall-clock budget per target when `TFPILOT_FUZZ_SECONDS` is unset.
const DEFAULT_SECONDS: u64 = 60;
/// Cases between two looks at the clock.
const CHUNK_CASES: u32 = 64;

fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    match raw.trim().parse::<u64>() {
        Ok(n) if n > 0 => Some(n),
        _ => panic!("{name}={raw:?} is not a positive whole number"),
    }
}

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `test` on values of `strategy` for `TFPILOT_FUZZ_CASES` cases or until
/// `TFPILOT_FUZZ_SECONDS` have passed, whichever comes first. A failure (an `Err` or a
/// panic) is shrunk to a minimal input, whose seed proptest appends to
/// `tests/fuzz-regressions/<target>.txt` (replayed first on every later run), and the
/// test fails showing that input.
pub fn fuzz<S>(target: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = env_number("TFPILOT_FUZZ_CASES")
        .map_or(DEFAULT_CASES, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let budget = Duration::from_secs(env_number("TFPILOT_FUZZ_SECONDS").unwrap_or(DEFAULT_SECONDS));
    // proptest wants a `&'static str`; one small leak per target and test process.
    let regressions: &'static str = Box::leak(
        root()
            .join("tests/fuzz-regressions")
            .join(format!("{target}.txt"))
            .to_string_lossy()
            .into_owned()
            .into_boxed_str(),
    );
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        // The budget is checked between chunks, so a shrink always finishes and shows
        // a minimal input; this bounds it on its own.
        max_shrink_time: 120_000,
        ..Config::default()
    };
    // Run in chunks so the budget also stops input generation, which for 64 KB bodies
    // costs more than the parsers; each chunk draws its RNG from one master RNG, so
    // `PROPTEST_RNG_SEED` still replays a whole run.
    let mut master = TestRunner::new(config.clone());
    let start = Instant::now();
    let ran = Cell::new(0u64);
    let mut remaining = cases;
    while remaining > 0 && start.elapsed() < budget {
        let chunk = remaining.min(CHUNK_CASES);
        let chunk_config = Config {
            cases: chunk,
            ..config.clone()
        };
        let mut runner = TestRunner::new_with_rng(chunk_config, master.new_rng());
        let result = runner.run(&strategy, |value| {
            ran.set(ran.get() + 1);
            test(value)
        });
        if let Err(e) = result {
            panic!("fuzz target {target} failed: {e}");
        }
        remaining -= chunk;
    }
    eprintln!(
        "fuzz {target}: {} cases in {:.1?} (limit {cases} cases, {budget:?})",
        ran.get(),
        start.elapsed()
    );
}

/// Fails the case with `message` unless `ok`.
pub fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if ok {
        Ok(())
    } else {
        Err(TestCaseError::fail(message()))
    }
}

/// Fragments that stress escaping, Markdown, YAML and HCL: quotes, template openers,
/// fences, headings, control and invisible characters, multi-byte text.
const NASTY: [&str; 40] = [
    "\"", "'", "\\", "`", "```", "~~~", "${", "%{", "$${", "}", "{", "[", "]", ":", ": ", "- ",
    "#", "### ", "> ", "<!--", "-->", "&", "*", "|", "=", ", ", "\n", "\r\n", "\r", "\t", "\u{0}",
    "\u{7f}", "\u{85}", "\u{200b}", "\u{202e}", "\u{2028}", "\u{feff}", "é", "日本", "🦀",
];

/// Strings from all over: arbitrary Unicode, nasty fragments glued together, long runs of
/// one character, and rarely something huge (up to `huge` bytes).
pub fn wide_string(huge: usize) -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        3 => prop::sample::select(NASTY.to_vec()).prop_map(str::to_owned),
        1 => "[a-z0-9_-]{1,8}",
    ];
    prop_oneof![
        6 => prop::collection::vec(fragment, 0..16).prop_map(|v| v.concat()),
        4 => any::<String>(),
        1 => prop::collection::vec(any::<char>(), 0..64).prop_map(|v| v.into_iter().collect()),
        1 => (any::<char>(), 1000usize..=huge.max(1000))
            .prop_map(|(c, n)| std::iter::repeat_n(c, n / c.len_utf8()).collect()),
        1 => (prop::sample::select(NASTY.to_vec()), 100usize..=(huge / 4).max(100))
            .prop_map(|(s, n)| s.repeat(n / s.len().max(1))),
    ]
}

/// A JSON value of bounded size; object keys favour `keys` so values reach deep shapes.
pub fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        wide_string(4096).prop_map(Value::String),
    ];
    let key = prop_oneof![
        3 => prop::sample::select(keys.to_vec()).prop_map(str::to_owned),
        1 => wide_string(64),
    ];
    leaf.prop_recursive(6, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// One edit of a text seen as lines (for issue bodies and YAML).
#[derive(Debug, Clone)]
pub enum LineEdit {
    /// Remove line `at`.
    Delete(usize),
    /// Repeat line `at`.
    Duplicate(usize),
    /// Swap lines `a` and `b`.
    Swap(usize, usize),
    /// Insert `text` before line `at`.
    Insert(usize, String),
    /// Replace line `at` by `text`.
    Replace(usize, String),
    /// Append `text` to line `at`.
    Append(usize, String),
    /// Cut line `at` at char `cut`, keeping the start.
    Truncate(usize, usize),
    /// Change the indentation of line `at` by `delta` spaces.
    Indent(usize, i8),
}

/// Up to `max` line edits whose inserted text comes from `text`.
pub fn line_edits(
    max: usize,
    text: impl Strategy<Value = String> + Clone,
) -> impl Strategy<Value = Vec<LineEdit>> {
    let at = any::<usize>();
    let edit = prop_oneof![
        3 => at.prop_map(LineEdit::Delete),
        1 => at.prop_map(LineEdit::Duplicate),
        2 => (at, any::<usize>()).prop_map(|(a, b)| LineEdit::Swap(a, b)),
        2 => (at, text.clone()).prop_map(|(a, t)| LineEdit::Insert(a, t)),
        2 => (at, text.clone()).prop_map(|(a, t)| LineEdit::Replace(a, t)),
        2 => (at, text).prop_map(|(a, t)| LineEdit::Append(a, t)),
        1 => (at, any::<usize>()).prop_map(|(a, c)| LineEdit::Truncate(a, c)),
        1 => (at, -8i8..8).prop_map(|(a, d)| LineEdit::Indent(a, d)),
    ];
    prop::collection::vec(edit, 1..=max)
}

/// Applies line edits in order (indices wrap around the current line count).
pub fn apply_line_edits(text: &str, edits: &[LineEdit]) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    for edit in edits {
        let n = lines.len().max(1);
        match edit {
            LineEdit::Delete(at) if !lines.is_empty() => {
                lines.remove(at % lines.len());
            }
            LineEdit::Duplicate(at) if !lines.is_empty() => {
                let i = at % lines.len();
                lines.insert(i, lines[i].clone());
            }
            LineEdit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            LineEdit::Insert(at, t) => lines.insert(at % (lines.len() + 1), t.clone()),
            LineEdit::Replace(at, t) if !lines.is_empty() => lines[at % n] = t.clone(),
            LineEdit::Append(at, t) if !lines.is_empty() => lines[at % n].push_str(t),
            LineEdit::Truncate(at, cut) if !lines.is_empty() => {
                let line = &mut lines[at % n];
                let keep = line.chars().count().checked_add(1).map_or(0, |c| cut % c);
                *line = line.chars().take(keep).collect();
            }
            LineEdit::Indent(at, delta) if !lines.is_empty() => {
                let line = &mut lines[at % n];
                if *delta >= 0 {
                    line.insert_str(0, &" ".repeat(usize::from(delta.unsigned_abs())));
                } else {
                    let drop = line
                        .chars()
                        .take(usize::from(delta.unsigned_abs()))
                        .take_while(|c| *c == ' ')
                        .count();
                    line.replace_range(..drop, "");
                }
            }
            _ => {}
        }
    }
    lines.join("\n")
}
