//! Reading a submitted issue form: GitHub's `### <label>` body back into typed,
//! validated request inputs, and the reply that lists every problem.
//!
//! Two layers: [`parse_body`] reads any form's body the way GitHub writes it (tested on
//! real third-party issues), and [`parse_request`] maps a tfpilot form's answers onto
//! the module catalogue and checks them. The body is written by whoever can open an
//! issue, so nothing here trusts it: unknown values are reported, never guessed.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::catalogue::{InputValue, quote_user};
use crate::config::forms::{FieldRole, FormField, MODULE_FIELD_ID, module_fields};
use crate::config::repo::RepoConfig;

/// GitHub's text for an input or textarea left empty.
pub const NO_RESPONSE: &str = "_No response_";
/// GitHub's text for a single-select dropdown left empty.
pub const NO_SELECTION: &str = "None";
/// Hidden marker of the problems reply, so the same comment is found and edited.
pub const PROBLEMS_MARKER: &str = "<!-- tfpilot:issue-form-problems -->";

/// How a form field is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// One-line `input`.
    Input,
    /// `textarea`; with `render` the answer is wrapped in a code fence.
    Textarea {
        /// Has `render: <lang>`.
        render: bool,
    },
    /// `dropdown`.
    Dropdown {
        /// `multiple: true`.
        multiple: bool,
        /// The options, in order.
        options: Vec<String>,
    },
    /// `checkboxes`.
    Checkboxes {
        /// Checkbox labels, in order.
        options: Vec<String>,
    },
}

/// A field as the body parser needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldShape {
    /// The answer's key (field id, or label when the form gives none).
    pub key: String,
    /// The label (the `### ` heading).
    pub label: String,
    /// How it is answered.
    pub kind: FieldKind,
}

/// One answer read from the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// `_No response_`, `None`, or nothing.
    Empty,
    /// Text (input, textarea, single dropdown).
    Text(String),
    /// Multi-select dropdown.
    List(Vec<String>),
    /// Checkboxes: label → ticked.
    Checks(BTreeMap<String, bool>),
}

/// Every answer of one body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedBody {
    /// Answers by field key.
    pub answers: BTreeMap<String, Answer>,
    /// Keys of fields whose heading is not in the body (the author removed it).
    pub missing: Vec<String>,
    /// Text found after the closing fence of a `render` textarea, by key.
    pub outside_fence: BTreeMap<String, String>,
}

/// Reads a form body the way GitHub renders it: one `### <label>` section per field in
/// form order, searched each after the previous one; other `#` lines are content.
/// CRLF is accepted.
pub fn parse_body(fields: &[FieldShape], body: &str) -> ParsedBody {
    let body = body.replace("\r\n", "\n");
    let lines: Vec<&str> = body.split('\n').collect();
    // (field index, heading line index), in order.
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    let mut out = ParsedBody::default();
    for (fi, f) in fields.iter().enumerate() {
        let heading = format!("### {}", f.label.trim());
        match (from..lines.len()).find(|&i| lines[i].trim_end() == heading) {
            Some(i) => {
                found.push((fi, i));
                from = i + 1;
            }
            None => out.missing.push(f.key.clone()),
        }
    }
    for (n, &(fi, start)) in found.iter().enumerate() {
        let end = found.get(n + 1).map(|&(_, l)| l).unwrap_or(lines.len());
        let raw = lines[start + 1..end].join("\n");
        let field = &fields[fi];
        let (answer, outside) = read_answer(&field.kind, raw.trim());
        if let Some(o) = outside {
            out.outside_fence.insert(field.key.clone(), o);
        }
        out.answers.insert(field.key.clone(), answer);
    }
    out
}

fn read_answer(kind: &FieldKind, raw: &str) -> (Answer, Option<String>) {
    if raw == NO_RESPONSE {
        return (Answer::Empty, None);
    }
    match kind {
        FieldKind::Input | FieldKind::Textarea { render: false } => {
            (Answer::Text(raw.to_owned()), None)
        }
        FieldKind::Textarea { render: true } => read_fenced(raw),
        FieldKind::Dropdown {
            multiple: false, ..
        } => {
            if raw == NO_SELECTION || raw.is_empty() {
                (Answer::Empty, None)
            } else {
                (Answer::Text(raw.to_owned()), None)
            }
        }
        FieldKind::Dropdown {
            multiple: true,
            options,
        } => {
            if raw == NO_SELECTION || raw.is_empty() {
                (Answer::Empty, None)
            } else {
                (Answer::List(split_options(raw, options)), None)
            }
        }
        FieldKind::Checkboxes { options } => {
            let mut checks: BTreeMap<String, bool> =
                options.iter().map(|o| (o.clone(), false)).collect();
            for line in raw.lines() {
                let line = line.trim_start();
                let (ticked, rest) = if let Some(r) = line
                    .strip_prefix("- [x] ")
                    .or_else(|| line.strip_prefix("- [X] "))
                {
                    (true, r)
                } else if let Some(r) = line.strip_prefix("- [ ] ") {
                    (false, r)
                } else {
                    continue;
                };
                checks.insert(rest.trim_end().to_owned(), ticked);
            }
            (Answer::Checks(checks), None)
        }
    }
}

/// A `render:` textarea: the text between the opening fence line and the last line that
/// is exactly a closing fence; text after it is returned separately.
fn read_fenced(raw: &str) -> (Answer, Option<String>) {
    let lines: Vec<&str> = raw.split('\n').collect();
    if lines.len() < 2 || !lines[0].starts_with("```") {
        return (Answer::Text(raw.to_owned()), None);
    }
    let Some(close) = (1..lines.len())
        .rev()
        .find(|&i| lines[i].trim_end() == "```")
    else {
        return (Answer::Text(raw.to_owned()), None);
    };
    let inner = lines[1..close].join("\n");
    let after = lines[close + 1..].join("\n");
    let after = after.trim();
    (
        Answer::Text(inner),
        Some(after.to_owned()).filter(|a| !a.is_empty()),
    )
}

/// Splits a multi-select answer on `, `, preferring the longest known option at each
/// point (an option may itself contain `, `).
fn split_options(raw: &str, options: &[String]) -> Vec<String> {
    let mut sorted: Vec<&String> = options.iter().collect();
    sorted.sort_by_key(|o| std::cmp::Reverse(o.len()));
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let known = sorted.iter().find(|o| {
            rest.starts_with(o.as_str())
                && (rest.len() == o.len() || rest[o.len()..].starts_with(", "))
        });
        let take = match known {
            Some(o) => o.len(),
            None => rest.find(", ").unwrap_or(rest.len()),
        };
        out.push(rest[..take].to_owned());
        rest = rest[take..].strip_prefix(", ").unwrap_or(&rest[take..]);
    }
    out
}

/// Renders answers the way GitHub writes a submitted form (the simulator and tests use
/// it to play the person filling in the form).
pub fn render_body(fields: &[FieldShape], answers: &BTreeMap<String, Answer>) -> String {
    let mut out = String::new();
    for f in fields {
        let answer = answers.get(&f.key).unwrap_or(&Answer::Empty);
        let value = match (answer, &f.kind) {
            (
                Answer::Empty,
                FieldKind::Dropdown {
                    multiple: false, ..
                },
            ) => NO_SELECTION.to_owned(),
            (Answer::Empty, FieldKind::Checkboxes { options }) => options
                .iter()
                .map(|o| format!("- [ ] {o}"))
                .collect::<Vec<_>>()
                .join("\n"),
            (Answer::Empty, _) => NO_RESPONSE.to_owned(),
            (Answer::Text(t), FieldKind::Textarea { render: true }) => format!("```text\n{t}\n```"),
            (Answer::Text(t), _) if t.trim().is_empty() => NO_RESPONSE.to_owned(),
            (Answer::Text(t), _) => t.clone(),
            (Answer::List(items), _) => items.join(", "),
            (Answer::Checks(c), _) => c
                .iter()
                .map(|(label, on)| format!("- [{}] {label}", if *on { "X" } else { " " }))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        out.push_str(&format!("### {}\n\n{}\n\n", f.label, value));
    }
    out.trim_end().to_owned()
}

/// A valid request read from an issue: what to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestInputs {
    /// Environment name (a key of `environments`).
    pub environment: String,
    /// Module name (a key of `modules`).
    pub module: String,
    /// Preset name (the seed's `templateId`), if one was chosen.
    pub preset: Option<String>,
    /// Input values after defaults and the preset, by input name (tfpilot-filled inputs
    /// such as `value_from` and tags are added by the renderer).
    pub inputs: BTreeMap<String, InputValue>,
}

impl RequestInputs {
    /// The `project` input when the module has one (it also goes into the tags).
    pub fn project(&self) -> Option<&str> {
        match self.inputs.get("project") {
            Some(InputValue::String(s)) => Some(s),
            _ => None,
        }
    }
}

/// One thing wrong with one field, worded for the person who filled in the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// Field key: `module`, `environment`, `preset` or an input name.
    pub field: String,
    /// The field's label on the form.
    pub label: String,
    /// What is wrong.
    pub message: String,
    /// What to do instead.
    pub how_to_fix: String,
}

/// Reads and validates a tfpilot request issue body against the catalogue.
pub fn parse_request(config: &RepoConfig, body: &str) -> Result<RequestInputs, Vec<FieldProblem>> {
    let modules: Vec<String> = config.modules.keys().map(str::to_owned).collect();
    // The body does not say which form it came from; each module's form starts with a
    // one-option Module dropdown, so read the body with each module's fields and keep
    // the one whose Module answer names that module.
    for module in &modules {
        let Some(fields) = module_fields(config, module) else {
            continue;
        };
        let shapes: Vec<FieldShape> = fields.iter().map(|f| f.shape.clone()).collect();
        let parsed = parse_body(&shapes, body);
        if parsed.answers.get(MODULE_FIELD_ID) == Some(&Answer::Text(module.clone())) {
            return validate(config, module, &fields, &parsed);
        }
    }
    let module_shape = FieldShape {
        key: MODULE_FIELD_ID.to_owned(),
        label: "Module".to_owned(),
        kind: FieldKind::Dropdown {
            multiple: false,
            options: modules.clone(),
        },
    };
    let answer = parse_body(std::slice::from_ref(&module_shape), body)
        .answers
        .remove(MODULE_FIELD_ID);
    let message = match answer {
        Some(Answer::Text(m)) => format!(
            "{} is not a module in the catalogue",
            quote_user(m.lines().next().unwrap_or_default())
        ),
        None => "the `### Module` section is missing from the issue".to_owned(),
        _ => "no module was chosen".to_owned(),
    };
    Err(vec![FieldProblem {
        field: "module".to_owned(),
        label: "Module".to_owned(),
        message,
        how_to_fix: format!(
            "Open a new issue from one of the tfpilot forms ({}), or edit this issue so the `### Module` section names one of them.",
            names(&modules)
        ),
    }])
}

fn validate(
    config: &RepoConfig,
    module_name: &str,
    fields: &[FormField],
    parsed: &ParsedBody,
) -> Result<RequestInputs, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let text_of = |f: &FormField| -> Option<String> {
        match parsed.answers.get(&f.shape.key) {
            Some(Answer::Text(t)) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => None,
        }
    };
    let missing = |f: &FormField| parsed.missing.contains(&f.shape.key);
    let mut environment = None;
    let mut preset_name = None;
    for f in fields {
        match &f.role {
            FieldRole::Environment => {
                let envs: Vec<String> = config.environments.keys().map(str::to_owned).collect();
                match text_of(f) {
                    Some(e) if config.environment(&e).is_some() => environment = Some(e),
                    Some(e) => problems.push(problem(
                        f,
                        "environment",
                        format!(
                            "{} is not an environment of this repository",
                            quote_user(&e)
                        ),
                        format!("Edit the issue and choose one of {}.", names(&envs)),
                    )),
                    None => problems.push(problem(
                        f,
                        "environment",
                        if missing(f) {
                            "the section is missing from the issue".to_owned()
                        } else {
                            "no environment was chosen".to_owned()
                        },
                        format!("Edit the issue and choose one of {}.", names(&envs)),
                    )),
                }
            }
            FieldRole::Preset => {
                if let Some(p) = text_of(f) {
                    match config.presets.get(&p) {
                        Some(preset) if preset.module == module_name => preset_name = Some(p),
                        _ => {
                            let here: Vec<String> = config
                                .presets_for(module_name)
                                .map(|(n, _)| n.to_owned())
                                .collect();
                            problems.push(problem(
                                f,
                                "preset",
                                format!("{} is not a preset for `{module_name}`", quote_user(&p)),
                                format!(
                                    "Edit the issue and choose one of {}, or no preset.",
                                    names(&here)
                                ),
                            ));
                        }
                    }
                }
            }
            FieldRole::Module | FieldRole::Input(_) => {}
        }
    }
    let Some(module) = config.module(module_name) else {
        return Err(problems);
    };
    let preset = preset_name.as_deref().and_then(|p| config.presets.get(p));
    let mut inputs = BTreeMap::new();
    for f in fields {
        let FieldRole::Input(name) = &f.role else {
            continue;
        };
        let Some(spec) = module.inputs.get(name) else {
            continue;
        };
        let fixed = preset.and_then(|p| p.inputs.get(name));
        let answer = text_of(f);
        let value = match answer {
            None => match (fixed, &spec.default) {
                (Some(v), _) | (None, Some(v)) => Some(v.clone()),
                (None, None) => {
                    if spec.required {
                        let (message, how_to_fix) = if missing(f) {
                            (
                                "the section is missing from the issue".to_owned(),
                                format!(
                                    "Edit the issue and add the section `### {}` with a value.",
                                    f.shape.label
                                ),
                            )
                        } else {
                            (
                                "this field is required".to_owned(),
                                format!(
                                    "Edit the issue and fill in {}.",
                                    describe_expected(f, spec)
                                ),
                            )
                        };
                        problems.push(problem(f, name, message, how_to_fix));
                    }
                    None
                }
            },
            Some(text) => match spec
                .parse_text(&text)
                .and_then(|v| spec.check(&v).map(|()| v))
            {
                Err(message) => {
                    problems.push(problem(
                        f,
                        name,
                        message,
                        format!("Edit the issue and enter {}.", describe_expected(f, spec)),
                    ));
                    None
                }
                Ok(v) => match fixed {
                    Some(fixed_value) if *fixed_value != v => {
                        problems.push(problem(
                            f,
                            name,
                            format!(
                                "preset `{}` fixes this to `{}`, but the issue says {}",
                                preset_name.as_deref().unwrap_or_default(),
                                fixed_value.display(),
                                quote_user(&v.display())
                            ),
                            "Leave this field empty to use the preset's value, or choose no preset.".to_owned(),
                        ));
                        None
                    }
                    _ => Some(v),
                },
            },
        };
        if let Some(v) = value {
            inputs.insert(name.clone(), v);
        }
    }
    match (problems.is_empty(), environment) {
        (true, Some(environment)) => Ok(RequestInputs {
            environment,
            module: module_name.to_owned(),
            preset: preset_name,
            inputs,
        }),
        _ => Err(problems),
    }
}

fn problem(f: &FormField, field: &str, message: String, how_to_fix: String) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        label: f.shape.label.clone(),
        message,
        how_to_fix,
    }
}

fn describe_expected(f: &FormField, spec: &crate::config::catalogue::InputSpec) -> String {
    use crate::config::catalogue::InputType;
    let what = match spec.kind {
        InputType::Bool => "`true` or `false`".to_owned(),
        InputType::Enum => format!("one of {}", names(&spec.allowed)),
        InputType::Number => "a number".to_owned(),
        InputType::String => "a value".to_owned(),
        InputType::ListString => "one item per line".to_owned(),
        InputType::MapString => "one `key = value` per line".to_owned(),
    };
    let mut out = format!("{what} in **{}**", f.shape.label);
    if let Some(p) = &spec.pattern {
        out.push_str(&format!(" matching `{p}`"));
    }
    match (spec.min, spec.max) {
        (Some(a), Some(b)) => out.push_str(&format!(" (from {a} to {b})")),
        (Some(a), None) => out.push_str(&format!(" (at least {a})")),
        (None, Some(b)) => out.push_str(&format!(" (at most {b})")),
        (None, None) => {}
    }
    out
}

fn names(items: &[String]) -> String {
    if items.is_empty() {
        return "(none configured)".to_owned();
    }
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one reply comment that lists every problem of a request issue (markdown, with
/// [`PROBLEMS_MARKER`] so the same comment is edited on the next attempt).
pub fn render_problems_comment(problems: &[FieldProblem]) -> String {
    let mut out = String::new();
    out.push_str(PROBLEMS_MARKER);
    out.push('\n');
    let n = problems.len();
    out.push_str(&format!(
        "tfpilot could not create this request: {} {} fixing. Edit the issue (… → **Edit**) and tfpilot checks it again.\n\n",
        n,
        if n == 1 { "answer needs" } else { "answers need" }
    ));
    out.push_str("| Field | Problem | How to fix |\n|---|---|---|\n");
    for p in problems {
        out.push_str(&format!(
            "| **{}** | {} | {} |\n",
            table_cell(&p.label),
            table_cell(&p.message),
            table_cell(&p.how_to_fix)
        ));
    }
    out
}

/// Keeps a table cell on one line and its pipes literal.
fn table_cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}
