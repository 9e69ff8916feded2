//! Issue forms generated from the catalogue (`.github/ISSUE_TEMPLATE/tfpilot-<module>.yml`).
//!
//! One form per module rather than one form with a module dropdown: GitHub forms
//! cannot show or hide fields depending on another answer, so a single form would
//! list every input of every module and most of them would not apply. Each form
//! still carries a one-option "Module" dropdown, because the submitted issue body
//! does not say which form it came from; that answer is how the parser knows.
//!
//! The same [`FormField`] list drives generation and parsing
//! ([`crate::core::issue_form`]), so labels cannot drift apart.

use serde::{Deserialize, Serialize};

use super::catalogue::{InputSpec, InputType, ModuleConfig};
use super::repo::RepoConfig;
use crate::core::issue_form::{FieldKind, FieldShape};

/// Directory of issue forms in a repository.
pub const FORMS_DIR: &str = ".github/ISSUE_TEMPLATE";

/// Field id of the module dropdown.
pub const MODULE_FIELD_ID: &str = "tfpilot-module";
/// Field id of the environment dropdown.
pub const ENVIRONMENT_FIELD_ID: &str = "tfpilot-environment";
/// Field id of the preset dropdown.
pub const PRESET_FIELD_ID: &str = "tfpilot-preset";

/// What a form field stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRole {
    /// The module dropdown.
    Module,
    /// The environment dropdown.
    Environment,
    /// The preset dropdown.
    Preset,
    /// A module input, by input name.
    Input(String),
}

/// One field of a generated form: how it looks and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// Shape (key = field id, label, kind) used to read the issue body.
    pub shape: FieldShape,
    /// What the answer is.
    pub role: FieldRole,
    /// Text under the label.
    pub description: String,
    /// Placeholder text (defaults), for inputs and textareas.
    pub placeholder: Option<String>,
    /// Whether GitHub should insist on an answer (public repositories only).
    pub required: bool,
    /// Index of the preselected dropdown option.
    pub default_option: Option<usize>,
}

/// The issue body a person submits with `module`'s form, rendered the way GitHub
/// renders forms, with `answers` given by field label (case-insensitive) or input
/// name; the module dropdown is answered, everything else is left empty. None when
/// the module is unknown. Used by the demo and by flow tests.
pub fn submitted_body(
    config: &RepoConfig,
    module: &str,
    answers: &[(&str, &str)],
) -> Option<String> {
    use crate::core::issue_form::{Answer, render_body};
    let fields = module_fields(config, module)?;
    let mut given = std::collections::BTreeMap::new();
    for f in &fields {
        let value = match &f.role {
            FieldRole::Module => Some(module),
            role => answers.iter().find_map(|(label, value)| {
                let by_label = label.eq_ignore_ascii_case(&f.shape.label);
                let by_name = matches!(role, FieldRole::Input(name) if name == label);
                (by_label || by_name).then_some(*value)
            }),
        };
        if let Some(v) = value {
            given.insert(f.shape.key.clone(), Answer::Text(v.to_string()));
        }
    }
    let shapes: Vec<FieldShape> = fields.into_iter().map(|f| f.shape).collect();
    Some(render_body(&shapes, &given))
}

/// The form fields for `module`, in form order, or None when the module is unknown.
pub fn module_fields(config: &RepoConfig, module: &str) -> Option<Vec<FormField>> {
    let spec = config.module(module)?;
    let mut fields = vec![FormField {
        shape: FieldShape {
            key: MODULE_FIELD_ID.to_owned(),
            label: "Module".to_owned(),
            kind: FieldKind::Dropdown {
                multiple: false,
                options: vec![module.to_owned()],
            },
        },
        role: FieldRole::Module,
        description: "Which module this request is for (set by the form).".to_owned(),
        placeholder: None,
        required: true,
        default_option: Some(0),
    }];
    let env_notes: Vec<String> = config
        .environments
        .iter()
        .filter(|(_, e)| e.protected)
        .map(|(n, _)| format!("`{n}`"))
        .collect();
    let mut env_desc = "Where the infrastructure goes.".to_owned();
    if !env_notes.is_empty() {
        env_desc.push_str(&format!(
            " Protected (destroy needs confirmation): {}.",
            env_notes.join(", ")
        ));
    }
    fields.push(FormField {
        shape: FieldShape {
            key: ENVIRONMENT_FIELD_ID.to_owned(),
            label: "Environment".to_owned(),
            kind: FieldKind::Dropdown {
                multiple: false,
                options: config.environments.keys().map(str::to_owned).collect(),
            },
        },
        role: FieldRole::Environment,
        description: env_desc,
        placeholder: None,
        required: true,
        default_option: None,
    });
    let presets: Vec<(&str, &super::catalogue::PresetConfig)> =
        config.presets_for(module).collect();
    if !presets.is_empty() {
        let mut desc =
            "Optional. A preset fixes some of the answers below; leave those empty.".to_owned();
        for (name, p) in &presets {
            desc.push_str(&format!("\n- `{name}`"));
            if let Some(d) = &p.description {
                desc.push_str(&format!(": {}", d.trim()));
            }
        }
        fields.push(FormField {
            shape: FieldShape {
                key: PRESET_FIELD_ID.to_owned(),
                label: "Preset".to_owned(),
                kind: FieldKind::Dropdown {
                    multiple: false,
                    options: presets.iter().map(|(n, _)| (*n).to_owned()).collect(),
                },
            },
            role: FieldRole::Preset,
            description: desc,
            placeholder: None,
            required: false,
            default_option: None,
        });
    }
    for (name, input) in spec.inputs.iter() {
        if input.value_from.is_some() {
            continue;
        }
        fields.push(input_field(config, module, name, input));
    }
    Some(fields)
}

fn input_field(config: &RepoConfig, module: &str, name: &str, input: &InputSpec) -> FormField {
    let kind = match input.kind {
        InputType::Bool => FieldKind::Dropdown {
            multiple: false,
            options: vec!["true".to_owned(), "false".to_owned()],
        },
        InputType::Enum => FieldKind::Dropdown {
            multiple: false,
            options: input.allowed.clone(),
        },
        InputType::String | InputType::Number => FieldKind::Input,
        InputType::ListString | InputType::MapString => FieldKind::Textarea { render: false },
    };
    let mut notes: Vec<String> = Vec::new();
    if let Some(d) = &input.description {
        notes.push(d.trim().to_owned());
    }
    match input.kind {
        InputType::ListString => notes.push("One item per line.".to_owned()),
        InputType::MapString => notes.push("One `key = value` per line.".to_owned()),
        _ => {}
    }
    if let Some(p) = &input.pattern {
        notes.push(format!("Must match `{p}`."));
    }
    if !input.allowed.is_empty() && input.kind != InputType::Enum {
        notes.push(format!(
            "One of: {}.",
            input
                .allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match (input.min, input.max) {
        (Some(min), Some(max)) => notes.push(format!("From {min} to {max}{}.", unit(input.kind))),
        (Some(min), None) => notes.push(format!("At least {min}{}.", unit(input.kind))),
        (None, Some(max)) => notes.push(format!("At most {max}{}.", unit(input.kind))),
        (None, None) => {}
    }
    let fixed_by: Vec<String> = config
        .presets_for(module)
        .filter_map(|(p, preset)| {
            preset
                .inputs
                .get(name)
                .map(|v| format!("`{p}` sets `{}`", v.display()))
        })
        .collect();
    if !fixed_by.is_empty() {
        notes.push(format!("Preset {}.", fixed_by.join(", ")));
    }
    if let Some(d) = &input.default {
        notes.push(format!("Leave empty for the default: `{}`.", d.display()));
    } else if !input.required {
        notes.push("Optional.".to_owned());
    }
    let placeholder = match (&input.default, input.kind) {
        (Some(d), InputType::ListString) => match d {
            super::catalogue::InputValue::List(items) => Some(items.join("\n")),
            other => Some(other.display()),
        },
        (Some(d), InputType::MapString) => match d {
            super::catalogue::InputValue::Map(m) => Some(
                m.iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            other => Some(other.display()),
        },
        (Some(d), InputType::String | InputType::Number) => Some(d.display()),
        _ => None,
    };
    FormField {
        shape: FieldShape {
            key: name.to_owned(),
            label: input.label_for(name),
            kind,
        },
        role: FieldRole::Input(name.to_owned()),
        description: notes.join(" "),
        placeholder,
        // A preset may fill it, so GitHub must not insist; tfpilot checks after reading the preset.
        required: input.required && input.default.is_none() && fixed_by.is_empty(),
        default_option: None,
    }
}

fn unit(kind: InputType) -> &'static str {
    match kind {
        InputType::String => " characters",
        InputType::ListString => " items",
        InputType::MapString => " entries",
        _ => "",
    }
}

/// An issue form file, as GitHub reads it (also used to read other people's forms in tests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueFormFile {
    /// Form name in the template chooser.
    pub name: String,
    /// Form description in the template chooser.
    pub description: String,
    /// Prefilled issue title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Labels added to the issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// The fields.
    pub body: Vec<FormElement>,
}

/// `labels:` as a list or one comma-separated string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Labels {
    /// A YAML list.
    List(Vec<String>),
    /// One string.
    One(String),
}

/// One element of a form's `body`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormElement {
    /// `markdown`, `input`, `textarea`, `dropdown` or `checkboxes`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Field id (not in the submitted body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Attributes.
    pub attributes: FormAttributes,
    /// Validations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validations: Option<FormValidations>,
}

/// A form element's `attributes`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FormAttributes {
    /// Field label (the `### ` heading in the body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Text under the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Placeholder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// Prefilled value (or a markdown element's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Code-block language of a textarea.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render: Option<String>,
    /// Multi-select dropdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple: Option<bool>,
    /// Dropdown or checkbox options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<FormOption>,
    /// Preselected dropdown option index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<usize>,
}

/// A dropdown option (a string) or a checkbox (`label`, `required`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FormOption {
    /// Dropdown option.
    Text(String),
    /// Checkbox.
    Check {
        /// Checkbox label.
        label: String,
        /// Must be ticked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        required: Option<bool>,
    },
    /// A dropdown option YAML read as a number or bool (`- 1.0`).
    Scalar(serde_yaml_ng::Value),
}

impl FormOption {
    /// The option's text as GitHub shows it.
    pub fn text(&self) -> String {
        match self {
            FormOption::Text(s) => s.clone(),
            FormOption::Check { label, .. } => label.clone(),
            FormOption::Scalar(v) => serde_yaml_ng::to_string(v)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// A form element's `validations`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FormValidations {
    /// Must be answered.
    #[serde(default)]
    pub required: bool,
}

impl IssueFormFile {
    /// The answer shapes of this form, keyed by id (or label when there is none), as in
    /// GitHub's body: markdown elements are skipped.
    pub fn shapes(&self) -> Vec<FieldShape> {
        self.body
            .iter()
            .filter(|e| e.kind != "markdown")
            .map(|e| {
                let label = e
                    .attributes
                    .label
                    .clone()
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                let options = e.attributes.options.iter().map(FormOption::text).collect();
                let kind = match e.kind.as_str() {
                    "textarea" => FieldKind::Textarea {
                        render: e.attributes.render.is_some(),
                    },
                    "dropdown" => FieldKind::Dropdown {
                        multiple: e.attributes.multiple.unwrap_or(false),
                        options,
                    },
                    "checkboxes" => FieldKind::Checkboxes { options },
                    _ => FieldKind::Input,
                };
                FieldShape {
                    key: e.id.clone().unwrap_or_else(|| label.clone()),
                    label,
                    kind,
                }
            })
            .collect()
    }
}

/// Generates one issue form per module: `(file name under .github/ISSUE_TEMPLATE/, YAML)`,
/// sorted by file name. Same config, same bytes.
pub fn generate_forms(config: &RepoConfig) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = config
        .modules
        .iter()
        .filter_map(|(name, module)| {
            let form = build_form(config, name, module)?;
            let yaml = serde_yaml_ng::to_string(&form).ok()?;
            Some((
                format!("tfpilot-{name}.yml"),
                format!(
                    "# Generated by tfpilot from .github/tfpilot.yml: edit that file and run `tfpilot forms`.\n{yaml}"
                ),
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The form for one module as a value (what [`generate_forms`] serializes).
pub fn build_form(config: &RepoConfig, name: &str, module: &ModuleConfig) -> Option<IssueFormFile> {
    let fields = module_fields(config, name)?;
    let intro = format!(
        "Request `{name}` through tfpilot. When you submit, tfpilot checks the answers; if something \
         needs fixing it replies here, and you edit the issue. Once the answers are valid it opens a pull \
         request with the Terraform and runs a plan.{}",
        module
            .description
            .as_deref()
            .map(|d| format!("\n\n{}", d.trim()))
            .unwrap_or_default()
    );
    let mut body = vec![FormElement {
        kind: "markdown".to_owned(),
        id: None,
        attributes: FormAttributes {
            value: Some(intro),
            ..FormAttributes::default()
        },
        validations: None,
    }];
    for f in fields {
        let (kind, options, multiple) = match &f.shape.kind {
            FieldKind::Dropdown { multiple, options } => (
                "dropdown",
                options.iter().cloned().map(FormOption::Text).collect(),
                Some(*multiple).filter(|m| *m),
            ),
            FieldKind::Textarea { .. } => ("textarea", Vec::new(), None),
            FieldKind::Checkboxes { options } => (
                "checkboxes",
                options
                    .iter()
                    .map(|o| FormOption::Check {
                        label: o.clone(),
                        required: None,
                    })
                    .collect(),
                None,
            ),
            FieldKind::Input => ("input", Vec::new(), None),
        };
        body.push(FormElement {
            kind: kind.to_owned(),
            id: Some(f.shape.key.clone()),
            attributes: FormAttributes {
                label: Some(f.shape.label.clone()),
                description: Some(f.description.clone()).filter(|d| !d.is_empty()),
                placeholder: f.placeholder.clone().filter(|p| !p.is_empty()),
                value: None,
                render: None,
                multiple,
                options,
                default: f.default_option,
            },
            validations: Some(FormValidations {
                required: f.required,
            }),
        });
    }
    Some(IssueFormFile {
        name: format!("tfpilot: {name}"),
        description: module
            .description
            .as_deref()
            .map(|d| d.trim().lines().next().unwrap_or_default().to_owned())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| format!("Request a {name} through tfpilot")),
        title: Some(format!("Infrastructure request: {name}")),
        labels: Some(Labels::List(vec![config.request_label.trim().to_owned()])),
        body,
    })
}
