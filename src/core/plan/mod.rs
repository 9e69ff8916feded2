//! Terraform's JSON plan (`terraform show -json`): reading it and summarizing it.
//!
//! Reading is tolerant in what the format lets vary: unknown fields, every
//! `format_version` from `0.1` (Terraform 0.12) to `1.x`, missing
//! `resource_changes` (errored, refresh-only or output-only plans), `null`
//! sections. Anything that is not a `terraform show -json` plan is a
//! [`PlanError`]; the caller says "plan unreadable" and links the run.
//!
//! The summary never carries attribute values: only addresses, action
//! classes, output names, import ids that are not sensitive, and flags saying
//! that a change holds sensitive values. Values stay inside [`Plan`], whose
//! `Debug` does not print them, for the fingerprint.
//!
//! Counting follows Terraform itself (`internal/command/jsonformat/plan.go`):
//! the `Plan: [N to import, ]A to add, C to change, D to destroy.` line counts
//! a replace in both add and destroy, skips no-ops that are neither moved nor
//! imported, skips deleted data sources, and does not count `read` or
//! `forget`.

mod raw;
mod summary;

use std::fmt;

pub(crate) use raw::{RawPlan, RawResourceChange, sensitive_strings};
pub use summary::{
    ActionClass, ActionCounts, ChangeAction, DeferredChange, Import, OutputChangeSummary, PlanLine,
    PlanSummary, ReplaceOrder, ResourceChangeSummary,
};

use raw::mask_has_true;

/// Why a plan file could not be read.
///
/// Messages carry positions only, never file content: a plan holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The file is empty (or only whitespace).
    #[error("plan.json is empty")]
    Empty,
    /// Not valid JSON.
    #[error("plan.json is not valid JSON (line {line}, column {column}){}", wrapper_hint(*.wrapped))]
    NotJson {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
        /// The text starts like output captured through setup-terraform's wrapper.
        wrapped: bool,
    },
    /// Valid JSON, but fields have types a plan never has.
    #[error("plan.json does not have the shape of a Terraform plan (line {line}, column {column})")]
    Shape {
        /// 1-based line where the unexpected value starts.
        line: usize,
        /// 1-based column where the unexpected value starts.
        column: usize,
    },
    /// Valid JSON without `format_version`: not `terraform show -json` output.
    #[error("plan.json has no format_version: not the output of `terraform show -json <planfile>`")]
    NotAPlan,
    /// A `format_version` with a major version this reader does not know.
    #[error("plan.json has format_version {0}, which tfpilot does not read (0.x and 1.x only)")]
    UnsupportedFormat(String),
}

fn wrapper_hint(wrapped: bool) -> &'static str {
    if wrapped {
        "; it looks like output captured through hashicorp/setup-terraform's wrapper \
         (set `terraform_wrapper: false`)"
    } else {
        ""
    }
}

/// A parsed plan. Holds attribute values (secrets included), so it is never
/// printed or serialized; use [`Plan::summary`] for anything shown.
#[derive(Clone)]
pub struct Plan {
    pub(crate) raw: RawPlan,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("format_version", &self.raw.format_version)
            .field("resource_changes", &self.raw.resource_changes.len())
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// Read `terraform show -json` output.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(PlanError::Empty);
        }
        let raw: RawPlan = serde_json::from_str(text).map_err(|e| {
            let (line, column) = (e.line(), e.column());
            match e.classify() {
                serde_json::error::Category::Data => PlanError::Shape { line, column },
                _ => PlanError::NotJson {
                    line,
                    column,
                    wrapped: text.trim_start().starts_with("[command]"),
                },
            }
        })?;
        let Some(version) = raw.format_version.as_deref() else {
            return Err(PlanError::NotAPlan);
        };
        let major = version.split('.').next().unwrap_or_default();
        if major != "0" && major != "1" {
            return Err(PlanError::UnsupportedFormat(
                version.chars().take(20).collect(),
            ));
        }
        Ok(Plan { raw })
    }

    /// The summary shown to people: counts, addresses, Terraform's plan line.
    pub fn summary(&self) -> PlanSummary {
        let raw = &self.raw;
        let secrets = sensitive_strings(raw);
        let resource_changes: Vec<ResourceChangeSummary> = raw
            .resource_changes
            .iter()
            .map(|rc| ResourceChangeSummary::from_raw(rc, &secrets))
            .collect();
        let outputs = raw
            .output_changes
            .iter()
            .map(|(name, ch)| OutputChangeSummary {
                name: name.clone(),
                action: ChangeAction::from_actions(&ch.actions),
                sensitive: mask_has_true(&ch.before_sensitive)
                    || mask_has_true(&ch.after_sensitive),
            })
            .collect();
        let drift = raw
            .resource_drift
            .iter()
            .map(|rc| ResourceChangeSummary::from_raw(rc, &secrets))
            .collect();
        let deferred = raw
            .deferred_changes
            .iter()
            .map(|d| DeferredChange {
                address: d
                    .resource_change
                    .as_ref()
                    .map(|rc| rc.address.clone())
                    .unwrap_or_default(),
                reason: d.reason.clone(),
            })
            .collect();
        let mut summary = PlanSummary {
            format_version: raw.format_version.clone().unwrap_or_default(),
            terraform_version: raw.terraform_version.clone(),
            applyable: raw.applyable,
            complete: raw.complete,
            errored: raw.errored.unwrap_or(false),
            counts: ActionCounts::default(),
            plan_line: PlanLine::default(),
            nothing_to_show: false,
            resource_changes,
            outputs,
            drift,
            deferred,
            action_invocations: raw.action_invocations.len(),
        };
        summary.counts = ActionCounts::of(&summary.resource_changes);
        let (line, shown) = PlanLine::of(&summary.resource_changes);
        summary.plan_line = line;
        let visible_outputs = summary
            .outputs
            .iter()
            .filter(|o| o.action != ChangeAction::NoOp)
            .count();
        summary.nothing_to_show =
            shown == 0 && visible_outputs == 0 && summary.action_invocations == 0;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> PlanSummary {
        Plan::from_json(json).expect("plan").summary()
    }

    #[test]
    fn unreadable_inputs_are_typed_errors() {
        assert_eq!(Plan::from_json("  \n").unwrap_err(), PlanError::Empty);
        assert!(matches!(
            Plan::from_json("[command]/usr/bin/terraform show -json\n{}").unwrap_err(),
            PlanError::NotJson { wrapped: true, .. }
        ));
        assert!(matches!(
            Plan::from_json("{\"format_version\":").unwrap_err(),
            PlanError::NotJson { wrapped: false, .. }
        ));
        assert_eq!(
            Plan::from_json("{\"plan_format_version\":\"2.0\"}").unwrap_err(),
            PlanError::NotAPlan
        );
        assert!(matches!(
            Plan::from_json("[1,2]").unwrap_err(),
            PlanError::Shape { .. }
        ));
        assert_eq!(
            Plan::from_json("{\"format_version\":\"2.0\"}").unwrap_err(),
            PlanError::UnsupportedFormat("2.0".into())
        );
    }

    #[test]
    fn shape_errors_never_quote_the_plan() {
        let err = Plan::from_json(
            r#"{"format_version":"1.2","errored":"hunter2-secret","resource_changes":[]}"#,
        )
        .unwrap_err();
        assert!(matches!(err, PlanError::Shape { .. }));
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn minimal_and_null_sections_are_tolerated() {
        let s = plan(
            r#"{"format_version":"0.1","resource_changes":null,"output_changes":null,"variables":null,"x":1}"#,
        );
        assert_eq!(s.counts, ActionCounts::default());
        assert!(s.nothing_to_show);
        let s = plan(r#"{"format_version":"1.2","errored":true,"applyable":false}"#);
        assert!(s.errored);
        assert_eq!(s.applyable, Some(false));
        assert!(s.nothing_to_show);
    }

    #[test]
    fn classes_lines_and_orders() {
        let s = plan(
            r#"{"format_version":"1.2","resource_changes":[
              {"address":"a.x","mode":"managed","change":{"actions":["create","delete"]}},
              {"address":"a.y","change":{"actions":["delete","create"]}},
              {"address":"data.a.z","mode":"data","change":{"actions":["read"]}},
              {"address":"data.a.w","mode":"data","change":{"actions":["delete"]}},
              {"address":"a.i","change":{"actions":["no-op"],"importing":{"id":"i-1"}}},
              {"address":"a.m","previous_address":"a.old","change":{"actions":["no-op"]}},
              {"address":"a.f","change":{"actions":["forget"]}},
              {"address":"a.cf","change":{"actions":["create","forget"]}},
              {"address":"a.y","deposed":"00c0ffee","change":{"actions":["delete"]}}
            ]}"#,
        );
        assert_eq!(s.counts.replace, 2);
        assert_eq!(s.counts.delete, 2);
        assert_eq!(s.counts.other, 1);
        assert_eq!(s.addresses(ActionClass::Replace), vec!["a.x", "a.y"]);
        assert_eq!(
            s.resource_changes[0].action,
            ChangeAction::Replace(ReplaceOrder::CreateThenDelete)
        );
        assert_eq!(
            s.plan_line,
            PlanLine {
                import: 1,
                add: 3,
                change: 0,
                destroy: 3
            }
        );
        assert_eq!(
            s.plan_line.to_string(),
            "Plan: 1 to import, 3 to add, 0 to change, 3 to destroy."
        );
        assert_eq!(s.imports().count(), 1);
        assert_eq!(s.moves().count(), 1);
        assert_eq!(s.deposed().next().map(|d| d.address.as_str()), Some("a.y"));
        assert!(!s.nothing_to_show);
    }

    #[test]
    fn sensitive_import_ids_are_not_shown() {
        let s = plan(
            r#"{"format_version":"1.2","resource_changes":[
              {"address":"a.x","change":{"actions":["create"],"after":{"k":"s3cr3t-id"},"after_sensitive":{"k":true}}},
              {"address":"a.i","change":{"actions":["no-op"],"importing":{"id":"s3cr3t-id"}}},
              {"address":"a.j","change":{"actions":["no-op"],"importing":{"id":"plain-id"}}}
            ]}"#,
        );
        assert!(s.resource_changes[0].sensitive);
        assert_eq!(s.resource_changes[1].importing, Some(Import { id: None }));
        assert_eq!(
            s.resource_changes[2].importing,
            Some(Import {
                id: Some("plain-id".into())
            })
        );
    }

    #[test]
    fn debug_of_a_plan_hides_values() {
        let p = Plan::from_json(
            r#"{"format_version":"1.2","resource_changes":[{"address":"a.x","change":{"actions":["create"],"after":{"k":"topsecret"}}}]}"#,
        )
        .expect("plan");
        assert!(!format!("{p:?}").contains("topsecret"));
    }
}
