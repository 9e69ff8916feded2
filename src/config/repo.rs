//! The repository config, `.github/tfpilot.yml`: environments, who may do what, and
//! the module catalogue. Strict: an unknown key is an error that names its line.
//!
//! A commented example lives in `templates/tfpilot.yml`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::catalogue::{
    InputSpec, InputType, ModuleConfig, Ordered, PresetConfig, check_repo_path, compile_pattern,
};

/// Where the repository config lives in an infrastructure repository.
pub const CONFIG_PATH: &str = ".github/tfpilot.yml";

/// The label that marks issues as tfpilot requests when the config names none.
pub const DEFAULT_REQUEST_LABEL: &str = "tfpilot-request";

/// The parsed `.github/tfpilot.yml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// The label that the issue forms set and that marks an issue as a request.
    #[serde(default = "default_label")]
    pub request_label: String,
    /// Environments in file order (the form's dropdown order).
    pub environments: Ordered<EnvironmentConfig>,
    /// The module catalogue, by module name.
    #[serde(default)]
    pub modules: Ordered<ModuleConfig>,
    /// Presets (the seed's `templateId`), by preset name.
    #[serde(default)]
    pub presets: Ordered<PresetConfig>,
}

fn default_label() -> String {
    DEFAULT_REQUEST_LABEL.to_owned()
}

/// A repository permission level, lowest first (so `>=` means "at least").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// `read`
    Read,
    /// `triage`
    Triage,
    /// `write`
    Write,
    /// `maintain`
    Maintain,
    /// `admin`
    Admin,
}

/// An action on a request that can be restricted per environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `/tfpilot plan`
    Plan,
    /// `/tfpilot apply`
    Apply,
    /// `/tfpilot destroy`
    Destroy,
}

/// Who may do an action, as written (permission may be left to its default).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSpec {
    /// Minimum repository permission; default `write` for plan, `maintain` for apply/destroy.
    #[serde(default)]
    pub permission: Option<Permission>,
    /// Teams (`org/slug`) whose members may act whatever their permission.
    #[serde(default)]
    pub teams: Vec<String>,
    /// GitHub logins who may act whatever their permission.
    #[serde(default)]
    pub users: Vec<String>,
}

/// Who may do an action, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// Anyone with at least this repository permission may act.
    pub permission: Permission,
    /// Members of these teams (`org/slug`) may act.
    pub teams: Vec<String>,
    /// These logins may act.
    pub users: Vec<String>,
}

/// When drift is checked for applied requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriftSchedule {
    /// Never (the default).
    #[default]
    Off,
    /// Every N hours (`hourly` = 1, `daily` = 24, `weekly` = 168, or a number 1..=720).
    EveryHours(u32),
}

impl DriftSchedule {
    /// The interval in hours, or None when drift checks are off.
    pub fn interval_hours(self) -> Option<u32> {
        match self {
            DriftSchedule::Off => None,
            DriftSchedule::EveryHours(h) => Some(h),
        }
    }
}

impl<'de> Deserialize<'de> for DriftSchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis;
        const WHAT: &str = "`off`, `hourly`, `daily`, `weekly` or a number of hours from 1 to 720";
        impl Visitor<'_> for Vis {
            type Value = DriftSchedule;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(WHAT)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<DriftSchedule, E> {
                if v {
                    Err(E::custom(format!("drift: say how often: {WHAT}")))
                } else {
                    Ok(DriftSchedule::Off)
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DriftSchedule, E> {
                match v.trim() {
                    "off" | "never" => Ok(DriftSchedule::Off),
                    "hourly" => Ok(DriftSchedule::EveryHours(1)),
                    "daily" => Ok(DriftSchedule::EveryHours(24)),
                    "weekly" => Ok(DriftSchedule::EveryHours(168)),
                    other => Err(E::custom(format!(
                        "unknown drift schedule `{other}`, expected {WHAT}"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DriftSchedule, E> {
                match u32::try_from(v) {
                    Ok(h @ 1..=720) => Ok(DriftSchedule::EveryHours(h)),
                    _ => Err(E::custom(format!(
                        "drift interval {v} is out of range, expected {WHAT}"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DriftSchedule, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "drift interval {v} is out of range, expected {WHAT}"
                    ))),
                }
            }
        }
        d.deserialize_any(Vis)
    }
}

/// One environment (`dev`, `prod`, …).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// Where its Terraform root lives; default `envs/<name>`.
    #[serde(default)]
    pub directory: Option<String>,
    /// Destroy needs `/tfpilot destroy <request-id>` as confirmation.
    #[serde(default)]
    pub protected: bool,
    /// Approvals needed before apply (the requester's own never counts). Default 1.
    #[serde(default = "one")]
    pub required_approvals: u32,
    /// Approvals given for an older head SHA don't count. Default true.
    #[serde(default = "yes")]
    pub dismiss_stale_approvals: bool,
    /// Apply automatically once the PR is merged. Default false.
    #[serde(default)]
    pub auto_apply: bool,
    /// Drift check schedule. Default off.
    #[serde(default)]
    pub drift: DriftSchedule,
    /// Merge the cleanup PR automatically after a successful destroy. Default false.
    #[serde(default)]
    pub cleanup_auto_merge: bool,
    /// Who may plan.
    #[serde(default)]
    pub plan: AccessSpec,
    /// Who may apply.
    #[serde(default)]
    pub apply: AccessSpec,
    /// Who may destroy.
    #[serde(default)]
    pub destroy: AccessSpec,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

impl EnvironmentConfig {
    /// The Terraform root directory for the environment called `name`, without trailing `/`.
    pub fn directory(&self, name: &str) -> String {
        match &self.directory {
            Some(d) => d
                .trim()
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned(),
            None => format!("envs/{name}"),
        }
    }

    /// Who may do `action`, defaults applied.
    pub fn access(&self, action: Action) -> Access {
        let (spec, default) = match action {
            Action::Plan => (&self.plan, Permission::Write),
            Action::Apply => (&self.apply, Permission::Maintain),
            Action::Destroy => (&self.destroy, Permission::Maintain),
        };
        Access {
            permission: spec.permission.unwrap_or(default),
            teams: spec.teams.clone(),
            users: spec.users.clone(),
        }
    }
}

/// Why `.github/tfpilot.yml` was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The YAML did not parse into the config's shape.
    #[error("`{file}` line {line}: {message}")]
    Syntax {
        /// The file name shown to the user.
        file: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The YAML parsed but says something inconsistent.
    #[error("`{file}` is invalid:\n{}", problems.iter().map(|p| format!("- {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file name shown to the user.
        file: String,
        /// Every problem found.
        problems: Vec<ConfigProblem>,
    },
}

/// One semantic problem, at a key path like `modules.s3-bucket.inputs.name.pattern`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    /// Dotted key path.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl RepoConfig {
    /// Parses and validates the text of `.github/tfpilot.yml`.
    pub fn parse(text: &str) -> Result<RepoConfig, ConfigError> {
        Self::parse_file(text, CONFIG_PATH)
    }

    /// Parses and validates config text, naming `file` in errors.
    pub fn parse_file(text: &str, file: &str) -> Result<RepoConfig, ConfigError> {
        let config: RepoConfig =
            serde_yaml_ng::from_str(text).map_err(|e| syntax_error(&e, file))?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                problems,
            })
        }
    }

    /// A module by name.
    pub fn module(&self, name: &str) -> Option<&ModuleConfig> {
        self.modules.get(name)
    }

    /// An environment by name.
    pub fn environment(&self, name: &str) -> Option<&EnvironmentConfig> {
        self.environments.get(name)
    }

    /// The presets for one module, in file order.
    pub fn presets_for<'a>(
        &'a self,
        module: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a PresetConfig)> {
        self.presets.iter().filter(move |(_, p)| p.module == module)
    }

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

/// Turns serde_yaml_ng's "path: message at line L column C" into
/// "unknown field `x` in path, expected … (did you mean `y`?)" with the line separate.
fn syntax_error(e: &serde_yaml_ng::Error, _file: &str) -> ConfigError {
    let line = e.location().map(|l| l.line()).unwrap_or(0);
    let mut text = e.to_string();
    if let Some(idx) = text.rfind(" at line ") {
        text.truncate(idx);
    }
    // The path prefix has no spaces (`environments.dev.plan`); a message may contain ": ".
    let (path, msg) = match text.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && !p.is_empty() => (Some(p.to_owned()), m.to_owned()),
        _ => (None, text.clone()),
    };
    let message = match (path, msg.strip_prefix("unknown field `")) {
        (path, Some(rest)) => {
            let (field, tail) = rest.split_once('`').unwrap_or((rest, ""));
            let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            let hint = expected
                .iter()
                .map(|cand| (strsim::jaro_winkler(field, cand), *cand))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, c)| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            let place = path
                .map(|p| format!(" in {p}"))
                .unwrap_or_else(|| " at the top level".to_owned());
            format!("unknown field `{field}`{place}{tail}{hint}")
        }
        (Some(path), None) => format!("{path}: {msg}"),
        (None, None) => msg,
    };
    ConfigError::Syntax {
        file: _file.to_owned(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "environments:\n  dev: {}\n";

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = RepoConfig::parse(MINIMAL).expect("parses");
        assert_eq!(c.request_label, "tfpilot-request");
        let dev = c.environment("dev").expect("dev");
        assert_eq!(dev.directory("dev"), "envs/dev");
        assert_eq!(dev.required_approvals, 1);
        assert!(dev.dismiss_stale_approvals);
        assert_eq!(dev.drift, DriftSchedule::Off);
        assert_eq!(dev.access(Action::Plan).permission, Permission::Write);
        assert_eq!(dev.access(Action::Apply).permission, Permission::Maintain);
        assert_eq!(dev.access(Action::Destroy).permission, Permission::Maintain);
    }

    #[test]
    fn drift_accepts_names_and_hours() {
        for (text, want) in [
            ("daily", Some(24)),
            ("hourly", Some(1)),
            ("weekly", Some(168)),
            ("off", None),
            ("6", Some(6)),
        ] {
            let c = RepoConfig::parse(&format!("environments:\n  dev:\n    drift: {text}\n"))
                .expect(text);
            assert_eq!(
                c.environments.get("dev").map(|e| e.drift.interval_hours()),
                Some(want),
                "{text}"
            );
        }
        let err = RepoConfig::parse("environments:\n  dev:\n    drift: 0\n").expect_err("0 hours");
        assert!(err.to_string().contains("line 3"), "{err}");
        let err =
            RepoConfig::parse("environments:\n  dev:\n    drift: sometimes\n").expect_err("word");
        assert!(err.to_string().contains("`sometimes`"), "{err}");
    }

    #[test]
    fn permission_levels_are_ordered() {
        assert!(Permission::Admin > Permission::Maintain);
        assert!(Permission::Maintain > Permission::Write);
        assert!(Permission::Write > Permission::Triage);
        assert!(Permission::Triage > Permission::Read);
    }
}
