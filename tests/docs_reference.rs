//! docs/configuration.md cannot go stale: every flag and environment variable of every
//! subcommand (walked from the real clap definitions), every variable the code reads
//! directly, every repository variable the workflow templates use, and every
//! `.github/tfpilot.yml` key and enumerated value (derived from the serde types) must be
//! documented; and every flag or key the page documents must still exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use regex::Regex;
use tfpilot::cli::Cli;
use tfpilot::config::repo::RepoConfig;

const DOC: &str = "docs/configuration.md";
const PROBE: &str = "zz_probe";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn doc() -> String {
    std::fs::read_to_string(root().join(DOC)).expect("docs/configuration.md exists")
}

/// The lines under the heading that is exactly `heading`, up to the next heading of the
/// same or a higher level.
fn section(text: &str, heading: &str) -> String {
    let level = |line: &str| {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        (hashes > 0 && line[hashes..].starts_with(' ')).then_some(hashes)
    };
    let own = level(heading).expect("a markdown heading");
    let mut lines = text.lines().skip_while(|l| l.trim_end() != heading);
    assert!(lines.next().is_some(), "{DOC} has no heading {heading:?}");
    lines
        .take_while(|l| level(l).is_none_or(|n| n > own))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The backticked first cell of every table row (`| `key` | ... |`).
fn first_cells(text: &str) -> Vec<String> {
    let re = Regex::new(r"(?m)^\| `([^`]+)`").expect("regex");
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

/// Every backticked word after "expected" in a serde error: the fields or values the type
/// accepts.
fn expected(yaml: &str) -> Vec<String> {
    let err = match serde_yaml_ng::from_str::<RepoConfig>(yaml) {
        Ok(_) => panic!("the probe was accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("`{PROBE}`")),
        "the probe did not reach the type it was aimed at:\n{yaml}\n{err}"
    );
    let tail = &err[err
        .find("expected")
        .unwrap_or_else(|| panic!("no `expected` in {err}"))..];
    let names: Vec<String> = Regex::new(r"`([^`]+)`")
        .expect("regex")
        .captures_iter(tail)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(!names.is_empty(), "no names in {err}");
    names
}

/// (where an unknown key is put, the documented path prefix of that struct's keys)
fn key_probes() -> Vec<(String, &'static str)> {
    let mut probes = vec![
        (format!("{PROBE}: 1\n"), ""),
        (
            format!("environments:\n  dev:\n    {PROBE}: 1\n"),
            "environments.<name>.",
        ),
        (
            format!("modules:\n  m:\n    {PROBE}: 1\n"),
            "modules.<name>.",
        ),
        (
            format!("modules:\n  m:\n    inputs:\n      i:\n        {PROBE}: 1\n"),
            "modules.<name>.inputs.<input>.",
        ),
        (
            format!("presets:\n  p:\n    {PROBE}: 1\n"),
            "presets.<name>.",
        ),
    ];
    for action in ["plan", "apply", "destroy"] {
        probes.push((
            format!("environments:\n  dev:\n    {action}:\n      {PROBE}: 1\n"),
            "environments.<name>.<action>.",
        ));
    }
    probes
}

/// (a YAML with the probe as an enumerated value, what the values are)
fn value_probes() -> Vec<(String, &'static str)> {
    vec![
        (
            format!("environments:\n  dev:\n    apply:\n      permission: {PROBE}\n"),
            "permission",
        ),
        (
            format!("environments:\n  dev:\n    drift: {PROBE}\n"),
            "drift schedule",
        ),
        (
            format!("modules:\n  m:\n    inputs:\n      i:\n        type: {PROBE}\n"),
            "input type",
        ),
        (
            format!(
                "modules:\n  m:\n    inputs:\n      i:\n        type: string\n        value_from: {PROBE}\n"
            ),
            "value_from source",
        ),
    ]
}

fn config_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (yaml, prefix) in key_probes() {
        for field in expected(&yaml) {
            keys.insert(format!("{prefix}{field}"));
        }
    }
    keys
}

#[test]
fn every_tfpilot_yml_key_is_documented_and_every_documented_key_exists() {
    let text = doc();
    let yml = &section(&text, "## `.github/tfpilot.yml`");
    let keys = config_keys();
    // Sanity: the probes found the structs they aim at.
    for known in [
        "request_label",
        "environments.<name>.required_approvals",
        "environments.<name>.<action>.teams",
        "modules.<name>.ref",
        "modules.<name>.inputs.<input>.value_from",
        "presets.<name>.module",
    ] {
        assert!(keys.contains(known), "probe lost {known}: {keys:?}");
    }
    let documented: BTreeSet<String> = first_cells(yml).into_iter().collect();
    let missing: Vec<&String> = keys.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "{DOC} does not document these .github/tfpilot.yml keys (add a table row `| `key` | ...`): {missing:?}"
    );
    let stale: Vec<&String> = documented.difference(&keys).collect();
    assert!(
        stale.is_empty(),
        "{DOC} documents keys the config does not accept: {stale:?}"
    );
}

#[test]
fn every_enumerated_tfpilot_yml_value_is_documented() {
    let text = doc();
    let yml = &section(&text, "## `.github/tfpilot.yml`");
    for (yaml, what) in value_probes() {
        for value in expected(&yaml) {
            assert!(
                yml.contains(&format!("`{value}`")),
                "{DOC} does not mention the {what} `{value}`"
            );
        }
    }
}

#[test]
fn every_flag_and_env_var_of_every_subcommand_is_documented() {
    let text = doc();
    let cli = Cli::command();
    let mut seen = 0;
    for cmd in cli.get_subcommands() {
        let name = cmd.get_name();
        if name == "help" {
            continue;
        }
        seen += 1;
        let part = &section(&text, &format!("### `tfpilot {name}`"));
        let mut flags = BTreeSet::new();
        for arg in cmd.get_arguments() {
            if matches!(arg.get_id().as_str(), "help" | "version") {
                continue;
            }
            match arg.get_long() {
                Some(long) => {
                    flags.insert(format!("--{long}"));
                    for alias in arg.get_visible_aliases().unwrap_or_default() {
                        flags.insert(format!("--{alias}"));
                        assert!(
                            part.contains(&format!("`--{alias}`")),
                            "{DOC}, tfpilot {name}: alias --{alias} is not documented"
                        );
                    }
                    assert!(
                        part.contains(&format!("| `--{long}`")),
                        "{DOC}, section tfpilot {name}: flag --{long} has no table row"
                    );
                }
                None => {
                    let value = arg
                        .get_value_names()
                        .and_then(|v| v.first().map(|n| n.to_string()))
                        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
                    assert!(
                        part.contains(&format!("`<{value}>`"))
                            || part.contains(&format!("`[{value}]`")),
                        "{DOC}, section tfpilot {name}: argument {value} is not documented"
                    );
                }
            }
            if let Some(env) = arg.get_env() {
                let env = env.to_string_lossy();
                assert!(
                    part.contains(&format!("`{env}`")),
                    "{DOC}, section tfpilot {name}: env var {env} is not documented"
                );
            }
        }
        // And nothing documented is gone from the code.
        for cell in first_cells(part) {
            let flag = cell.split_whitespace().next().unwrap_or_default();
            if flag.starts_with("--") {
                assert!(
                    flags.contains(flag),
                    "{DOC}, section tfpilot {name}: documents {flag}, which tfpilot {name} does not have"
                );
            }
        }
    }
    assert!(seen >= 5, "serve, healthcheck, init, forms, setup at least");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_environment_variable_the_code_reads_is_documented() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let literal =
        Regex::new(r#"(?:env::var(?:_os)?|from_env)\(\s*"([A-Z][A-Z0-9_]*)"\s*\)"#).expect("regex");
    let by_const = Regex::new(r"env::var(?:_os)?\(\s*([A-Z][A-Z0-9_]*)\s*\)").expect("regex");
    let consts =
        Regex::new(r#"const ([A-Z][A-Z0-9_]*): &str = "([A-Z][A-Z0-9_]*)";"#).expect("regex");
    let mut names = BTreeSet::new();
    let mut all_consts = Vec::new();
    let mut texts = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        // The simulator and the store's test helpers only run in tests; the
        // benchmark binaries document their own knobs in docs/benchmarks.md.
        if rel.starts_with("sim") || rel == Path::new("store/testing.rs") || rel.starts_with("bin")
        {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read");
        for c in consts.captures_iter(&text) {
            all_consts.push((c[1].to_owned(), c[2].to_owned()));
        }
        texts.push(text);
    }
    for text in &texts {
        for c in literal.captures_iter(text) {
            names.insert(c[1].to_owned());
        }
        for c in by_const.captures_iter(text) {
            let value = all_consts
                .iter()
                .find(|(k, _)| *k == c[1])
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("env var constant {} not found", &c[1]));
            names.insert(value);
        }
    }
    assert!(names.contains("DEBUG_WEBHOOKS") && names.contains("TFPILOT_LOG"));
    let text = doc();
    for name in names {
        assert!(
            text.contains(&format!("`{name}`")),
            "{DOC} does not document the environment variable {name}"
        );
    }
}

#[test]
fn every_repository_variable_the_workflows_use_is_documented() {
    let dir = root().join("templates/workflows");
    let re = Regex::new(r"\b((?:vars|secrets)\.[A-Z][A-Z0-9_]*)").expect("regex");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("templates/workflows") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        for c in re.captures_iter(&text) {
            if &c[1] != "secrets.GITHUB_TOKEN" {
                names.insert(c[1].to_owned());
            }
        }
    }
    assert!(
        !names.is_empty(),
        "the workflow templates use no variables?"
    );
    let text = doc();
    let part = &section(&text, "## Repository variables and secrets (the workflows)");
    let documented: BTreeSet<String> = first_cells(part).into_iter().collect();
    for name in &names {
        assert!(documented.contains(name), "{DOC} does not document {name}");
    }
    for name in &documented {
        assert!(
            names.contains(name),
            "{DOC} documents {name}, which no workflow template uses"
        );
    }
}

#[test]
fn the_files_setup_writes_are_documented() {
    let text = doc();
    let part = &section(&text, "### `tfpilot setup`");
    for file in [
        tfpilot::setup::CREDENTIALS_FILE,
        tfpilot::setup::PRIVATE_KEY_FILE,
        tfpilot::setup::ENV_FILE,
    ] {
        assert!(part.contains(&format!("| `{file}`")), "{file}");
    }
}

#[test]
fn the_readme_links_the_reference_and_has_the_install_sections() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(
        readme.contains("(docs/configuration.md)"),
        "README.md must link docs/configuration.md"
    );
    for heading in [
        "## Install on GitHub",
        "## Configuration reference",
        "## Operations",
    ] {
        assert!(
            readme.lines().any(|l| l.trim_end() == heading),
            "README.md has no {heading:?}"
        );
    }
}
