//! The module catalogue of `.github/tfpilot.yml`: modules, their inputs and presets.
//!
//! The catalogue is what a person may ask for. Every answer on an issue form is
//! converted and checked against it ([`InputSpec::parse_text`], [`InputSpec::check`])
//! before anything is rendered.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use super::ordered::Ordered;
pub use super::value::{InputType, InputValue, parse_number, quote_user};

/// Where a tfpilot-supplied input takes its value from (never shown on the form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueFrom {
    /// The environment name chosen on the form.
    Environment,
    /// The request id (`req_<env>_<module>_<6 chars>`).
    RequestId,
    /// The GitHub login of the person who opened the issue.
    RequestedBy,
}

/// One input of a module.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The value type.
    #[serde(rename = "type")]
    pub kind: InputType,
    /// Whether an answer is required (when neither a default nor the preset gives one).
    #[serde(default)]
    pub required: bool,
    /// Value used when the form answer is empty.
    #[serde(default)]
    pub default: Option<InputValue>,
    /// Shown under the field on the form.
    #[serde(default)]
    pub description: Option<String>,
    /// Field label on the form; defaults to the name with `_` as spaces, first letter upper-case.
    #[serde(default)]
    pub label: Option<String>,
    /// Allowed values (enum: the dropdown options; string and list items: a whitelist).
    #[serde(default)]
    pub allowed: Vec<String>,
    /// A regular expression the whole value must match (strings, list items, map values).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Lower bound: the value for numbers, the length for strings, the item count for lists and maps.
    #[serde(default)]
    pub min: Option<f64>,
    /// Upper bound, same meaning as `min`.
    #[serde(default)]
    pub max: Option<f64>,
    /// Filled by tfpilot rather than asked for.
    #[serde(default)]
    pub value_from: Option<ValueFrom>,
}

impl InputSpec {
    /// The label shown on the form for the input called `name`.
    pub fn label_for(&self, name: &str) -> String {
        if let Some(label) = &self.label {
            return label.trim().to_owned();
        }
        let spaced = name.replace(['_', '-'], " ");
        let mut chars = spaced.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }

    /// Converts a form answer (already trimmed, non-empty) to a typed value.
    pub fn parse_text(&self, text: &str) -> Result<InputValue, String> {
        match self.kind {
            InputType::String | InputType::Enum => Ok(InputValue::String(text.to_owned())),
            InputType::Bool => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" => Ok(InputValue::Bool(true)),
                "false" | "no" => Ok(InputValue::Bool(false)),
                _ => Err("must be `true` or `false`".to_owned()),
            },
            InputType::Number => parse_number(text.trim())
                .map(InputValue::Number)
                .ok_or_else(|| "must be a number, like `7` or `2.5`".to_owned()),
            InputType::ListString => Ok(InputValue::List(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            InputType::MapString => {
                let mut out = BTreeMap::new();
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    let Some((k, v)) = line.split_once('=') else {
                        return Err(format!(
                            "each line must be `key = value`; this one has no `=`: {}",
                            quote_user(line)
                        ));
                    };
                    let (k, v) = (k.trim(), v.trim());
                    if k.is_empty() {
                        return Err(format!("a line has an empty key: {}", quote_user(line)));
                    }
                    if out.insert(k.to_owned(), v.to_owned()).is_some() {
                        return Err(format!("the key {} appears twice", quote_user(k)));
                    }
                }
                Ok(InputValue::Map(out))
            }
        }
    }

    /// Checks a typed value against this input's rules; the message says what is wrong.
    pub fn check(&self, value: &InputValue) -> Result<(), String> {
        if !value.fits(self.kind) {
            return Err(format!(
                "must be {} {}, not {}",
                article(self.kind),
                self.kind,
                value.kind_name()
            ));
        }
        match value {
            InputValue::String(s) => {
                if self.kind == InputType::Enum || !self.allowed.is_empty() {
                    self.check_allowed(s)?;
                }
                self.check_pattern(s)?;
                self.check_range(s.chars().count() as f64, "characters")?;
            }
            InputValue::Number(n) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                self.check_range(v, "")?;
            }
            InputValue::Bool(_) => {}
            InputValue::List(items) => {
                for item in items {
                    if !self.allowed.is_empty() {
                        self.check_allowed(item)?;
                    }
                    self.check_pattern(item)?;
                }
                self.check_range(items.len() as f64, "items")?;
            }
            InputValue::Map(m) => {
                for v in m.values() {
                    self.check_pattern(v)?;
                }
                self.check_range(m.len() as f64, "entries")?;
            }
        }
        Ok(())
    }

    fn check_allowed(&self, s: &str) -> Result<(), String> {
        if self.allowed.iter().any(|a| a == s) {
            return Ok(());
        }
        Err(format!(
            "{} is not one of the allowed values: {}",
            quote_user(s),
            self.allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    fn check_pattern(&self, s: &str) -> Result<(), String> {
        let Some(pattern) = &self.pattern else {
            return Ok(());
        };
        let re = compile_pattern(pattern)
            .map_err(|e| format!("the catalogue's pattern is invalid: {e}"))?;
        if re.is_match(s) {
            Ok(())
        } else {
            Err(format!(
                "{} does not match the required pattern `{pattern}`",
                quote_user(s)
            ))
        }
    }

    fn check_range(&self, v: f64, unit: &str) -> Result<(), String> {
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        if let Some(min) = self.min
            && v < min
        {
            return Err(format!("must be at least {}{unit}", fmt_bound(min)));
        }
        if let Some(max) = self.max
            && v > max
        {
            return Err(format!("must be at most {}{unit}", fmt_bound(max)));
        }
        Ok(())
    }
}

/// Compiles a catalogue pattern so that it must match the whole value.
pub fn compile_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
}

fn fmt_bound(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

fn article(kind: InputType) -> &'static str {
    match kind {
        InputType::Enum => "an",
        _ => "a",
    }
}

/// A preset (the seed's `templateId`): a named set of fixed inputs for one module.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetConfig {
    /// The module this preset is for.
    pub module: String,
    /// Shown on the form.
    #[serde(default)]
    pub description: Option<String>,
    /// Inputs this preset fixes; the form may leave them empty or repeat the same value.
    #[serde(default)]
    pub inputs: BTreeMap<String, InputValue>,
}

/// Where a module's code comes from, once classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// A directory in the infrastructure repository, relative to its root (`modules/s3-bucket`).
    RepoPath(String),
    /// A Terraform registry module with a pinned version.
    Registry {
        /// `namespace/name/provider` or `host/namespace/name/provider`.
        address: String,
        /// The exact version.
        version: String,
    },
    /// A git source with a pinned ref.
    Git {
        /// The `git::…` (or other go-getter) address without `?ref=`.
        url: String,
        /// The tag or commit.
        git_ref: String,
    },
}

/// One module of the catalogue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// A path in the repository (`modules/s3-bucket`), a registry address (with `version`)
    /// or a git address starting with `git::` (with `ref`).
    pub source: String,
    /// Registry version (makes `source` a registry address).
    #[serde(default)]
    pub version: Option<String>,
    /// Git ref (required for `git::` sources).
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// Shown on the form.
    #[serde(default)]
    pub description: Option<String>,
    /// The inputs, in form order.
    #[serde(default)]
    pub inputs: Ordered<InputSpec>,
}

impl ModuleConfig {
    /// Classifies `source`: `git::`/`://` addresses are git, a `version` makes it a registry
    /// module, anything else is a path in the repository.
    pub fn module_source(&self) -> Result<ModuleSource, String> {
        let source = self.source.trim();
        let looks_remote = source.starts_with("git::")
            || source.contains("://")
            || source.starts_with("git@")
            || source.starts_with("github.com/");
        match (&self.version, &self.git_ref) {
            (Some(_), Some(_)) => {
                Err("set either `version` (registry) or `ref` (git), not both".to_owned())
            }
            (None, Some(r)) => {
                if !looks_remote {
                    return Err(format!(
                        "`ref` is only for git sources (`git::https://…`); `{source}` is not one"
                    ));
                }
                if source.contains("?ref=") {
                    return Err("give the ref in `ref:` rather than in the source URL".to_owned());
                }
                check_pin(r, "ref")?;
                Ok(ModuleSource::Git {
                    url: source.to_owned(),
                    git_ref: r.trim().to_owned(),
                })
            }
            (Some(v), None) => {
                if looks_remote {
                    return Err("git sources take `ref`, not `version`".to_owned());
                }
                let parts: Vec<&str> = source.split('/').collect();
                let ok_part = |p: &&str| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                };
                if !(parts.len() == 3 || parts.len() == 4) || !parts.iter().all(ok_part) {
                    return Err(format!(
                        "`{source}` is not a registry address (`namespace/name/provider`)"
                    ));
                }
                check_pin(v, "version")?;
                Ok(ModuleSource::Registry {
                    address: source.to_owned(),
                    version: v.trim().to_owned(),
                })
            }
            (None, None) => {
                if looks_remote {
                    return Err(format!(
                        "`{source}` is a remote source: pin it with `ref:` so every plan uses the same code"
                    ));
                }
                check_repo_path(source)?;
                Ok(ModuleSource::RepoPath(
                    source
                        .trim_start_matches("./")
                        .trim_end_matches('/')
                        .to_owned(),
                ))
            }
        }
    }

    /// The input that receives tfpilot's tags: an input called `tags` of type `map(string)`.
    pub fn tags_input(&self) -> Option<&InputSpec> {
        self.inputs
            .get("tags")
            .filter(|s| s.kind == InputType::MapString)
    }
}

fn check_pin(pin: &str, what: &str) -> Result<(), String> {
    let pin = pin.trim();
    let ok = !pin.is_empty()
        && pin.len() <= 100
        && pin
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '/'));
    // A range like `~> 1.2` would make two plans of one request use different code.
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{what}` must be one exact version or ref, got `{pin}`"
        ))
    }
}

/// Checks a repository-relative directory: no absolute path, no `..`, plain characters.
pub fn check_repo_path(path: &str) -> Result<(), String> {
    let p = path.trim_start_matches("./").trim_end_matches('/');
    if p.is_empty() {
        return Err("the path is empty".to_owned());
    }
    if p.starts_with('/') {
        return Err(format!("`{path}` must be relative to the repository root"));
    }
    for seg in p.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(format!(
                "`{path}` must not contain empty, `.` or `..` segments"
            ));
        }
        if !seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "`{path}` may only contain letters, digits, `-`, `_`, `.` and `/`"
            ));
        }
    }
    Ok(())
}
