//! `tfpilot --help` and every subcommand's `--help` are clear and complete: every command
//! and argument explains itself, every flag shows up in the printed help, and secrets
//! given through the environment never appear in it.

use std::process::Command as Process;

use clap::{Arg, Command, CommandFactory};
use tfpilot::cli::Cli;

/// Arguments clap adds itself.
fn is_builtin(arg: &Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Names that hold a secret when they come from the environment.
fn is_secret(arg: &Arg) -> bool {
    let id = arg.get_id().as_str();
    (id.contains("secret")
        || id.contains("token")
        || id.contains("password")
        || id == "private_key")
        && !id.ends_with("_path")
}

/// Every command below the root, with its `tfpilot ...` words.
fn subcommands(cmd: &Command, prefix: Vec<String>, out: &mut Vec<(Vec<String>, Command)>) {
    for sub in cmd.get_subcommands() {
        let mut path = prefix.clone();
        path.push(sub.get_name().to_owned());
        out.push((path.clone(), sub.clone()));
        subcommands(sub, path, out);
    }
}

fn all_commands() -> Vec<(Vec<String>, Command)> {
    let mut out = Vec::new();
    subcommands(&Cli::command(), Vec::new(), &mut out);
    assert!(
        out.len() >= 5,
        "expected serve, healthcheck, init, forms, setup"
    );
    out
}

/// `tfpilot <args>` with no TFPILOT_* variables but those given.
fn run(args: &[String], env: &[(&str, &str)]) -> String {
    let mut cmd = Process::new(env!("CARGO_BIN_EXE_tfpilot"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TFPILOT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run tfpilot");
    assert!(
        out.status.success(),
        "tfpilot {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 help")
}

#[test]
fn every_command_and_argument_has_help_text() {
    Cli::command().debug_assert();
    let root = Cli::command();
    assert!(root.get_about().is_some_and(|a| words(&a.to_string()) >= 4));
    for (path, cmd) in all_commands() {
        let name = path.join(" ");
        if name == "help" {
            continue;
        }
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        assert!(
            words(&about) >= 4,
            "`tfpilot {name}` needs a one-line description, has {about:?}"
        );
        for arg in cmd.get_arguments().filter(|a| !is_builtin(a)) {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                words(&help) >= 3,
                "`tfpilot {name}` argument `{}` needs help text that says what it is, has {help:?}",
                arg.get_id()
            );
            if is_secret(arg) {
                assert!(
                    arg.is_hide_env_values_set(),
                    "`tfpilot {name} --{}` holds a secret: its env value must be hidden",
                    arg.get_long().unwrap_or_default()
                );
            }
        }
    }
}

#[test]
fn top_level_help_lists_every_command() {
    let text = run(&["--help".to_owned()], &[]);
    for (path, cmd) in all_commands().into_iter().filter(|(p, _)| p.len() == 1) {
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{} ", path[0])))
            .unwrap_or_else(|| panic!("`{}` missing from tfpilot --help:\n{text}", path[0]));
        if path[0] != "help" {
            assert!(line.contains(&about), "{line} should say {about}");
        }
    }
    assert!(text.contains("docs/configuration.md"), "{text}");
    assert!(text.contains("tfpilot setup"), "{text}");
}

#[test]
fn each_subcommand_help_shows_every_flag_and_env_var() {
    for (path, cmd) in all_commands() {
        if path[0] == "help" {
            continue;
        }
        let mut args = path.clone();
        args.push("--help".to_owned());
        let text = run(&args, &[]);
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        assert!(
            text.contains(&about),
            "tfpilot {} --help:\n{text}",
            path.join(" ")
        );
        for arg in cmd.get_arguments().filter(|a| !is_builtin(a)) {
            let shown = match arg.get_long() {
                Some(long) => format!("--{long}"),
                None => arg
                    .get_value_names()
                    .and_then(|v| v.first().map(|n| n.to_string()))
                    .unwrap_or_else(|| arg.get_id().to_string().to_uppercase()),
            };
            assert!(
                text.contains(&shown),
                "`{shown}` missing from tfpilot {} --help:\n{text}",
                path.join(" ")
            );
            if let Some(env) = arg.get_env() {
                let env = env.to_string_lossy();
                assert!(
                    text.contains(&format!("[env: {env}")),
                    "env var {env} missing from tfpilot {} --help",
                    path.join(" ")
                );
            }
        }
    }
}

#[test]
fn secrets_from_the_environment_are_not_printed_by_help() {
    // Every env-backed argument gets a recognisable value; the secret ones must not show
    // it, and the others must (which proves the check would see a leak).
    for (path, cmd) in all_commands() {
        if path[0] == "help" {
            continue;
        }
        let mut env: Vec<(String, String, bool)> = Vec::new();
        for arg in cmd.get_arguments().filter(|a| !is_builtin(a)) {
            if let Some(name) = arg.get_env() {
                let name = name.to_string_lossy().into_owned();
                // A value every flag type accepts, so clap can show it.
                let value = match arg.get_id().as_str() {
                    "listen" => "127.0.0.1:4711".to_owned(),
                    "app_id" => "4711".to_owned(),
                    "log_format" => "json".to_owned(),
                    id => format!("value-of-{id}-4711"),
                };
                env.push((name, value, is_secret(arg)));
            }
        }
        let pairs: Vec<(&str, &str)> = env
            .iter()
            .map(|(k, v, _)| (k.as_str(), v.as_str()))
            .collect();
        let mut args = path.clone();
        args.push("--help".to_owned());
        let text = run(&args, &pairs);
        for (name, value, secret) in &env {
            if *secret {
                assert!(
                    !text.contains(value.as_str()),
                    "tfpilot {} --help prints the secret {name}",
                    path.join(" ")
                );
            } else {
                assert!(
                    text.contains(&format!("{name}={value}")),
                    "tfpilot {} --help should show {name}'s value",
                    path.join(" ")
                );
            }
        }
    }
}

#[test]
fn serve_help_names_the_variables_it_reads_outside_its_flags() {
    let text = run(&["serve".to_owned(), "--help".to_owned()], &[]);
    for name in [
        "TFPILOT_LOG",
        "DEBUG_WEBHOOKS",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
    ] {
        assert!(text.contains(name), "serve --help should mention {name}");
    }
}
