//! `src/render` is pure like `src/core`: no async, no I/O, no clock, no randomness,
//! and no hash-map iteration order leaking into text. The same facts must render
//! the same bytes, or "unchanged render → call nothing" would call every time.
//!
//! Comment lines are skipped, so docs may name what is forbidden.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "async fn",
    ".await",
    "tokio",
    "std::fs",
    "std::net",
    "std::env",
    "reqwest",
    "octocrab",
    "Utc::now",
    "Local::now",
    "SystemTime",
    "Instant::now",
    "thread_rng",
    "rand::",
    "HashMap",
    "HashSet",
];

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
    for entry in std::fs::read_dir(dir).expect("src/render is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn src_render_has_no_io_clock_randomness_or_unordered_maps() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/render");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() >= 5, "render modules under {}", root.display());
    let mut report = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("readable source");
        for (line, pattern) in violations(&source) {
            report.push(format!("{}:{line}: `{pattern}`", file.display()));
        }
    }
    assert!(
        report.is_empty(),
        "src/render must stay pure (`now` comes in):\n{}",
        report.join("\n")
    );
}

#[test]
fn the_scanner_catches_what_it_should() {
    let impure = "fn f() { let now = chrono::Utc::now(); }\nuse std::collections::HashMap;\n";
    assert_eq!(violations(impure), vec![(1, "Utc::now"), (2, "HashMap")]);
    assert!(violations("// Utc::now is forbidden\n").is_empty());
}
