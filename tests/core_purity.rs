//! `src/core` is pure: no async, no I/O, no clock, no randomness.
//!
//! Every `.rs` file under `src/core` (including files added later) is scanned for
//! the constructs that would break that. Comment lines are skipped, so docs may
//! say what is forbidden (a trailing comment on a code line is scanned as code).

use std::path::{Path, PathBuf};

/// Constructs that mean async, I/O, a clock or randomness.
const FORBIDDEN: &[&str] = &[
    "async fn",
    "async move",
    ".await",
    "tokio",
    "std::fs",
    "File::",
    "OpenOptions",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "reqwest",
    "octocrab",
    "aws_sdk",
    "Utc::now",
    "Local::now",
    "SystemTime",
    "Instant::now",
    "thread_rng",
    "rand::",
];

/// `(line number, pattern)` for every forbidden construct outside comments.
fn violations(source: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for pattern in FORBIDDEN {
            if code.contains(pattern) {
                found.push((i + 1, *pattern));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("src/core is readable");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn src_core_has_no_async_io_clock_or_randomness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(
        files.len() >= 5,
        "expected the core modules under {}, found {files:?}",
        root.display()
    );
    let mut report = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("readable source");
        for (line, pattern) in violations(&source) {
            report.push(format!("{}:{line}: `{pattern}`", file.display()));
        }
    }
    assert!(
        report.is_empty(),
        "src/core must stay pure (pass `now`, do I/O in service/store/github):\n{}",
        report.join("\n")
    );
}

#[test]
fn the_scanner_catches_what_it_should() {
    let impure = "use chrono::Utc;\nfn f() { let now = Utc::now(); }\nasync fn g() {}\n";
    assert_eq!(violations(impure), vec![(2, "Utc::now"), (3, "async fn")]);
    let fs = "fn read() { std::fs::read_to_string(\"x\"); }";
    assert_eq!(violations(fs), vec![(1, "std::fs")]);
    let commented = "// no Utc::now() here\n    /// nor tokio\nfn f() {}\n";
    assert!(violations(commented).is_empty());
}
