//! Module inputs read from the module's own `variables.tf`, so the catalogue can stay
//! short: the catalogue lists what it wants to change (labels, patterns, presets) and
//! the rest comes from the module. Parsed with hcl-rs; the caller fetches the file.
//!
//! Recognised: `type` (string, number, bool, list(string), map(string)), `description`,
//! `default` (a literal), `sensitive`, and `validation` conditions of the common shapes
//! `contains([...], var.x)`, `can(regex("^...$", var.x))`, `var.x >= N`, `var.x <= N`,
//! `length(var.x) >= N`, `length(var.x) <= N` (also joined with `&&`). Other conditions
//! are left to Terraform, which still enforces them at plan time.

use hcl::eval::{Context, Evaluate};
use hcl::expr::{BinaryOperator, Expression, Operation, TraversalOperator};

use super::catalogue::{InputSpec, InputType, InputValue, Ordered};

/// What `variables.tf` declares, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModuleVariables {
    /// Variables that can be asked on a form.
    pub inputs: Vec<(String, InputSpec)>,
    /// Variables left out, with the reason (unsupported type, sensitive, …).
    pub skipped: Vec<(String, String)>,
}

/// `variables.tf` could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VariablesError {
    /// Not valid HCL.
    #[error("variables.tf does not parse: {0}")]
    Parse(String),
}

/// Reads the `variable` blocks of a module's `variables.tf`.
pub fn read_variables_tf(text: &str) -> Result<ModuleVariables, VariablesError> {
    let body = hcl::parse(text).map_err(|e| VariablesError::Parse(e.to_string()))?;
    let mut out = ModuleVariables::default();
    for block in body.blocks().filter(|b| b.identifier() == "variable") {
        let Some(name) = block.labels().first().map(|l| l.as_str().to_owned()) else {
            continue;
        };
        match read_variable(&name, block.body()) {
            Ok(spec) => out.inputs.push((name, spec)),
            Err(reason) => out.skipped.push((name, reason)),
        }
    }
    Ok(out)
}

fn read_variable(name: &str, body: &hcl::Body) -> Result<InputSpec, String> {
    let attr = |key: &str| {
        body.attributes()
            .find(|a| a.key() == key)
            .map(|a| a.expr().clone())
    };
    if let Some(Expression::Bool(true)) = attr("sensitive") {
        return Err("sensitive: never asked on an issue, which others can read".to_owned());
    }
    let ctx = Context::new();
    let default = match attr("default") {
        None => None,
        Some(expr) => {
            let v = expr
                .evaluate(&ctx)
                .map_err(|e| format!("default is not a literal: {e}"))?;
            Some(v)
        }
    };
    let kind = match attr("type") {
        Some(t) => type_of(&t)?,
        None => match &default {
            Some(hcl::Value::String(_)) => InputType::String,
            Some(hcl::Value::Number(_)) => InputType::Number,
            Some(hcl::Value::Bool(_)) => InputType::Bool,
            _ => return Err("no `type`, and none can be inferred from the default".to_owned()),
        },
    };
    let default_value = match default {
        None | Some(hcl::Value::Null) => None,
        Some(v) => Some(
            to_input_value(&v)
                .ok_or("the default is not a string, number, bool, list or map of strings")?,
        ),
    };
    let description = match attr("description") {
        Some(Expression::String(s)) => Some(s),
        _ => None,
    };
    let mut spec = InputSpec {
        kind,
        required: attr("default").is_none(),
        default: default_value,
        description,
        label: None,
        allowed: Vec::new(),
        pattern: None,
        min: None,
        max: None,
        value_from: None,
    };
    for validation in body.blocks().filter(|b| b.identifier() == "validation") {
        if let Some(cond) = validation
            .body()
            .attributes()
            .find(|a| a.key() == "condition")
        {
            apply_condition(name, cond.expr(), &mut spec);
        }
    }
    if spec.kind == InputType::String && !spec.allowed.is_empty() {
        spec.kind = InputType::Enum;
    }
    Ok(spec)
}

fn type_of(expr: &Expression) -> Result<InputType, String> {
    match expr {
        Expression::Variable(v) => match v.as_str() {
            "string" => Ok(InputType::String),
            "number" => Ok(InputType::Number),
            "bool" => Ok(InputType::Bool),
            other => Err(format!("type `{other}` is not supported on forms")),
        },
        Expression::FuncCall(f)
            if f.args.len() == 1
                && matches!(&f.args[0], Expression::Variable(v) if v.as_str() == "string") =>
        {
            match f.name.name.as_str() {
                "list" => Ok(InputType::ListString),
                "map" => Ok(InputType::MapString),
                other => Err(format!("type `{other}(string)` is not supported on forms")),
            }
        }
        _ => Err(
            "this type is not supported on forms (string, number, bool, list(string), map(string))"
                .to_owned(),
        ),
    }
}

fn to_input_value(v: &hcl::Value) -> Option<InputValue> {
    Some(match v {
        hcl::Value::String(s) => InputValue::String(s.clone()),
        hcl::Value::Bool(b) => InputValue::Bool(*b),
        hcl::Value::Number(n) => InputValue::Number(if let Some(i) = n.as_i64() {
            i.into()
        } else if let Some(u) = n.as_u64() {
            u.into()
        } else {
            serde_json::Number::from_f64(n.as_f64()?)?
        }),
        hcl::Value::Array(items) => InputValue::List(
            items
                .iter()
                .map(|i| match i {
                    hcl::Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?,
        ),
        hcl::Value::Object(m) => InputValue::Map(
            m.iter()
                .map(|(k, v)| match v {
                    hcl::Value::String(s) => Some((k.clone(), s.clone())),
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
        hcl::Value::Null => return None,
    })
}

/// Is `expr` exactly `var.<name>`?
fn is_var(expr: &Expression, name: &str) -> bool {
    match expr {
        Expression::Traversal(t) => {
            matches!(&t.expr, Expression::Variable(v) if v.as_str() == "var")
                && matches!(t.operators.as_slice(), [TraversalOperator::GetAttr(a)] if a.as_str() == name)
        }
        Expression::Parenthesis(inner) => is_var(inner, name),
        _ => false,
    }
}

fn number(expr: &Expression) -> Option<f64> {
    match expr {
        Expression::Number(n) => n.as_f64(),
        Expression::Operation(op) => match op.as_ref() {
            Operation::Unary(u) => {
                let v = number(&u.expr)?;
                Some(-v)
            }
            Operation::Binary(_) => None,
        },
        _ => None,
    }
}

fn apply_condition(name: &str, expr: &Expression, spec: &mut InputSpec) {
    match expr {
        Expression::Parenthesis(inner) => apply_condition(name, inner, spec),
        Expression::Operation(op) => {
            let Operation::Binary(b) = op.as_ref() else {
                return;
            };
            if b.operator == BinaryOperator::And {
                apply_condition(name, &b.lhs_expr, spec);
                apply_condition(name, &b.rhs_expr, spec);
                return;
            }
            // `var.x >= N` (or `length(var.x) >= N`), and the mirrored `N <= var.x`.
            let (subject, op, bound) = if let Some(n) = number(&b.rhs_expr) {
                (&b.lhs_expr, b.operator, n)
            } else if let Some(n) = number(&b.lhs_expr) {
                let flipped = match b.operator {
                    BinaryOperator::LessEq => BinaryOperator::GreaterEq,
                    BinaryOperator::GreaterEq => BinaryOperator::LessEq,
                    other => other,
                };
                (&b.rhs_expr, flipped, n)
            } else {
                return;
            };
            let applies = match subject {
                Expression::FuncCall(f)
                    if f.name.name.as_str() == "length" && f.args.len() == 1 =>
                {
                    is_var(&f.args[0], name) && spec.kind != InputType::Number
                }
                other => is_var(other, name) && spec.kind == InputType::Number,
            };
            if !applies {
                return;
            }
            match op {
                BinaryOperator::GreaterEq => {
                    spec.min = Some(spec.min.map_or(bound, |m| m.max(bound)))
                }
                BinaryOperator::LessEq => spec.max = Some(spec.max.map_or(bound, |m| m.min(bound))),
                _ => {}
            }
        }
        Expression::FuncCall(f) => match (f.name.name.as_str(), f.args.as_slice()) {
            ("contains", [Expression::Array(items), subject]) if is_var(subject, name) => {
                let allowed: Option<Vec<String>> = items
                    .iter()
                    .map(|i| match i {
                        Expression::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                if let Some(allowed) = allowed {
                    spec.allowed = allowed;
                }
            }
            ("can", [Expression::FuncCall(inner)]) if inner.name.name.as_str() == "regex" => {
                if let [Expression::String(p), subject] = inner.args.as_slice()
                    && is_var(subject, name)
                    && let Some(anchored) = p.strip_prefix('^').and_then(|p| p.strip_suffix('$'))
                {
                    // Terraform's regex() searches; only fully anchored patterns mean the
                    // same as the catalogue's whole-value match.
                    spec.pattern = Some(anchored.to_owned());
                }
            }
            _ => {}
        },
        _ => {}
    }
}

/// The module's inputs: the catalogue's own entries win by name, and variables only in
/// `variables.tf` follow in file order.
pub fn merge_inputs(
    catalogue: &Ordered<InputSpec>,
    from_module: &ModuleVariables,
) -> Ordered<InputSpec> {
    let mut pairs: Vec<(String, InputSpec)> = catalogue
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    for (name, spec) in &from_module.inputs {
        if catalogue.get(name).is_none() {
            pairs.push((name.clone(), spec.clone()));
        }
    }
    Ordered::from_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARIABLES: &str = r#"
variable "name" {
  type        = string
  description = "Bucket name"
  validation {
    condition     = can(regex("^[a-z0-9-]{3,63}$", var.name))
    error_message = "lower-case"
  }
}

variable "encryption_mode" {
  type    = string
  default = "sse-s3"
  validation {
    condition     = contains(["sse-s3", "sse-kms"], var.encryption_mode)
    error_message = "one of"
  }
}

variable "abort_multipart_days" {
  type    = number
  default = 7
  validation {
    condition     = var.abort_multipart_days >= 1 && var.abort_multipart_days <= 365
    error_message = "range"
  }
}

variable "zones" {
  type    = list(string)
  default = ["a", "b"]
}

variable "tags" {
  type    = map(string)
  default = {}
  validation {
    condition     = length(var.tags) <= 20
    error_message = "too many"
  }
}

variable "kms_key_arn" {
  type      = string
  default   = null
  sensitive = true
}

variable "rules" {
  type = list(object({ id = string }))
}

variable "force_destroy" {
  default = false
}
"#;

    #[test]
    fn reads_types_defaults_and_common_validations() {
        let vars = read_variables_tf(VARIABLES).expect("parses");
        let get = |n: &str| {
            vars.inputs
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .expect(n)
        };
        let name = get("name");
        assert_eq!(name.kind, InputType::String);
        assert!(name.required);
        assert_eq!(name.pattern.as_deref(), Some("[a-z0-9-]{3,63}"));
        assert_eq!(name.description.as_deref(), Some("Bucket name"));
        let enc = get("encryption_mode");
        assert_eq!(enc.kind, InputType::Enum);
        assert_eq!(enc.allowed, ["sse-s3", "sse-kms"]);
        assert_eq!(enc.default, Some(InputValue::String("sse-s3".into())));
        assert!(!enc.required);
        let days = get("abort_multipart_days");
        assert_eq!((days.min, days.max), (Some(1.0), Some(365.0)));
        assert_eq!(
            get("zones").default,
            Some(InputValue::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(get("tags").max, Some(20.0));
        assert_eq!(get("force_destroy").kind, InputType::Bool);
        let skipped: Vec<&str> = vars.skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(skipped, ["kms_key_arn", "rules"]);
    }

    #[test]
    fn catalogue_entries_win_over_the_module() {
        let vars = read_variables_tf(VARIABLES).expect("parses");
        let mut own =
            read_variables_tf("variable \"name\" {\n  type = string\n  default = \"x\"\n}\n")
                .expect("parses");
        own.inputs[0].1.label = Some("Bucket".into());
        let merged = merge_inputs(&Ordered::from_pairs(own.inputs), &vars);
        assert_eq!(
            merged.get("name").and_then(|s| s.label.as_deref()),
            Some("Bucket")
        );
        assert_eq!(merged.keys().next(), Some("name"));
        assert_eq!(merged.len(), 6);
    }

    #[test]
    fn invalid_hcl_is_an_error() {
        assert!(matches!(
            read_variables_tf("variable \"x\" {"),
            Err(VariablesError::Parse(_))
        ));
    }
}
