//! The repository config, `.github/tfpilot.yml`: environments, who may do what, and
//! the module catalogue. Strict: an unknown key is an error that names its line.
//!
//! A commented example lives in `templates/tfpilot.yml`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::catalogue::{ModuleConfig, Ordered, PresetConfig};

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
}

pub use super::validate::{RESERVED_LABELS, is_identifier, is_slug};

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
