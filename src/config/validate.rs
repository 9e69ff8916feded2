//! Semantic checks of `.github/tfpilot.yml`, after it parsed: names, paths, sources,
//! input rules, presets. Every problem is collected, so one edit can fix them all.

use super::catalogue::{InputSpec, InputType, check_repo_path, compile_pattern};
use super::repo::{ConfigProblem, RepoConfig};

impl RepoConfig {
    /// Every semantic problem (empty when the config is usable).
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut bad = |path: String, message: String| out.push(ConfigProblem { path, message });
        let label = self.request_label.trim();
        if label.is_empty() || label.chars().count() > 50 || label.contains(',') {
            bad(
                "request_label".into(),
                "must be 1 to 50 characters without commas (a GitHub label)".into(),
            );
        }
        if self.environments.is_empty() {
            bad(
                "environments".into(),
                "at least one environment is needed".into(),
            );
        }
        let mut dirs: Vec<(String, &str)> = Vec::new();
        for (name, env) in self.environments.iter() {
            let at = format!("environments.{name}");
            if !is_slug(name) {
                bad(at.clone(), SLUG_RULE.replace("{what}", "environment"));
            }
            let dir = env.directory(name);
            if let Err(e) = check_repo_path(&dir) {
                bad(format!("{at}.directory"), e);
            } else if let Some((_, other)) = dirs.iter().find(|(d, _)| *d == dir) {
                bad(
                    format!("{at}.directory"),
                    format!("`{dir}` is already the directory of `{other}`"),
                );
            }
            dirs.push((dir, name));
            for (action, spec) in [
                ("plan", &env.plan),
                ("apply", &env.apply),
                ("destroy", &env.destroy),
            ] {
                for (i, team) in spec.teams.iter().enumerate() {
                    if !is_team(team) {
                        bad(
                            format!("{at}.{action}.teams[{i}]"),
                            format!("`{team}` is not a team: write it as `org/team-slug`"),
                        );
                    }
                }
                for (i, user) in spec.users.iter().enumerate() {
                    if !is_login(user) {
                        bad(
                            format!("{at}.{action}.users[{i}]"),
                            format!("`{user}` is not a GitHub login"),
                        );
                    }
                }
            }
        }
        for (name, module) in self.modules.iter() {
            let at = format!("modules.{name}");
            if !is_slug(name) {
                bad(at.clone(), SLUG_RULE.replace("{what}", "module"));
            }
            if let Err(e) = module.module_source() {
                bad(format!("{at}.source"), e);
            }
            let mut labels: Vec<(String, &str)> = Vec::new();
            for (input, spec) in module.inputs.iter() {
                let at = format!("{at}.inputs.{input}");
                if !is_identifier(input) {
                    bad(
                        at.clone(),
                        "input names must be Terraform identifiers: a letter or `_`, then letters, digits, `_` or `-`"
                            .into(),
                    );
                }
                if crate::core::hcl::META_ARGUMENTS.contains(&input) {
                    bad(
                        at.clone(),
                        format!("`{input}` is a Terraform module meta-argument, not an input"),
                    );
                }
                if input.starts_with("tfpilot") {
                    bad(
                        at.clone(),
                        "names starting with `tfpilot` are reserved for tfpilot's own fields"
                            .into(),
                    );
                }
                let label = spec.label_for(input);
                if spec.value_from.is_none() {
                    if label.is_empty() {
                        bad(format!("{at}.label"), "the label is empty".into());
                    } else if RESERVED_LABELS
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(&label))
                    {
                        bad(
                            format!("{at}.label"),
                            format!(
                                "`{label}` is the label of tfpilot's own field; set another `label:`"
                            ),
                        );
                    } else if let Some((_, other)) =
                        labels.iter().find(|(l, _)| l.eq_ignore_ascii_case(&label))
                    {
                        bad(
                            format!("{at}.label"),
                            format!(
                                "`{label}` is also the label of input `{other}`; labels identify answers, so they must differ"
                            ),
                        );
                    }
                    labels.push((label, input));
                }
                for p in input_problems(spec) {
                    bad(at.clone(), p);
                }
            }
        }
        for (name, preset) in self.presets.iter() {
            let at = format!("presets.{name}");
            if !is_slug(name) {
                bad(at.clone(), SLUG_RULE.replace("{what}", "preset"));
            }
            let Some(module) = self.modules.get(&preset.module) else {
                bad(
                    format!("{at}.module"),
                    format!(
                        "unknown module `{}`; the catalogue has {}",
                        preset.module,
                        one_of(self.modules.keys())
                    ),
                );
                continue;
            };
            for (input, value) in &preset.inputs {
                let at = format!("{at}.inputs.{input}");
                match module.inputs.get(input) {
                    None => bad(
                        at,
                        format!(
                            "module `{}` has no input `{input}`; it has {}",
                            preset.module,
                            one_of(module.inputs.keys())
                        ),
                    ),
                    Some(spec) if spec.value_from.is_some() => bad(
                        at,
                        "this input is filled by tfpilot and cannot be fixed by a preset".into(),
                    ),
                    Some(spec) => {
                        if let Err(e) = spec.check(value) {
                            bad(at, e);
                        }
                    }
                }
            }
        }
        out
    }
}

/// Labels of the fields every generated form has; inputs cannot reuse them.
pub const RESERVED_LABELS: [&str; 3] = ["Module", "Environment", "Preset"];

const SLUG_RULE: &str = "{what} names must be 1 to 32 lower-case letters, digits or `-`, starting with a letter or digit (they become part of request ids and branch names)";

fn input_problems(spec: &InputSpec) -> Vec<String> {
    let mut out = Vec::new();
    let kind = spec.kind;
    if kind == InputType::Enum && spec.allowed.is_empty() {
        out.push("an `enum` input needs `allowed` values".to_owned());
    }
    if let Some((i, dup)) = spec
        .allowed
        .iter()
        .enumerate()
        .find(|(i, a)| spec.allowed[..*i].contains(a))
    {
        out.push(format!("`allowed` lists `{dup}` twice (entry {i})"));
    }
    if !spec.allowed.is_empty()
        && !matches!(
            kind,
            InputType::Enum | InputType::String | InputType::ListString
        )
    {
        out.push(format!("`allowed` does not apply to `{kind}` inputs"));
    }
    if kind == InputType::Enum {
        for a in &spec.allowed {
            // GitHub refuses `None` as a dropdown option: it is the "nothing chosen" marker.
            if a == "None" || a.trim().is_empty() || a.trim() != a {
                out.push(format!(
                    "`{a}` cannot be a dropdown option (empty, padded, or GitHub's reserved `None`)"
                ));
            }
        }
    }
    if let Some(p) = &spec.pattern {
        if matches!(kind, InputType::Bool | InputType::Number | InputType::Enum) {
            out.push(format!("`pattern` does not apply to `{kind}` inputs"));
        }
        if let Err(e) = compile_pattern(p) {
            out.push(format!("`pattern` is not a valid regular expression: {e}"));
        }
    }
    if (spec.min.is_some() || spec.max.is_some())
        && matches!(kind, InputType::Bool | InputType::Enum)
    {
        out.push(format!("`min`/`max` do not apply to `{kind}` inputs"));
    }
    if let (Some(min), Some(max)) = (spec.min, spec.max)
        && min > max
    {
        out.push(format!("`min` ({min}) is greater than `max` ({max})"));
    }
    if let Some(from) = spec.value_from {
        if kind != InputType::String {
            out.push(format!("`value_from: {from:?}` needs a `string` input"));
        }
        if spec.default.is_some() {
            out.push("an input with `value_from` cannot have a `default`".to_owned());
        }
    }
    if let Some(d) = &spec.default
        && out.is_empty()
        && let Err(e) = spec.check(d)
    {
        out.push(format!("`default` {e}"));
    }
    out
}

fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Environment, module and preset names: `[a-z0-9][a-z0-9-]{0,31}`.
pub fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A Terraform identifier (also a valid issue-form field id).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && s.len() <= 64
}

fn is_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && !s.starts_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_team(s: &str) -> bool {
    match s.split_once('/') {
        Some((org, slug)) => {
            is_login(org)
                && !slug.is_empty()
                && slug
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
        None => false,
    }
}
