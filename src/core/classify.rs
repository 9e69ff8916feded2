//! Which kind of workflow a `workflow_run` belongs to, from its name and display title.
//!
//! The seed's keyword order is kept: drift+plan → `drift_plan`, then apply, destroy,
//! cleanup, plan (so "Drift Plan" never becomes `plan`). One change: the seed searched
//! name and display title joined together; here the workflow name is classified first
//! and the display title only when the name says nothing. The display title carries
//! the request id, and a module called `app-destroyer` must not turn a plan run into a
//! destroy run.

use crate::core::request::WorkflowKind;

/// Classifies one text by the seed's keyword order (case-insensitive).
fn classify_text(text: &str) -> Option<WorkflowKind> {
    let lower = text.to_lowercase();
    if lower.contains("drift") && lower.contains("plan") {
        Some(WorkflowKind::DriftPlan)
    } else if lower.contains("apply") {
        Some(WorkflowKind::Apply)
    } else if lower.contains("destroy") {
        Some(WorkflowKind::Destroy)
    } else if lower.contains("cleanup") {
        Some(WorkflowKind::Cleanup)
    } else if lower.contains("plan") {
        Some(WorkflowKind::Plan)
    } else {
        None
    }
}

/// The workflow kind of a run, from its workflow `name` and its `display_title`; `None`
/// when neither names a tfpilot workflow.
pub fn classify_workflow(name: &str, display_title: &str) -> Option<WorkflowKind> {
    classify_text(name).or_else(|| classify_text(display_title))
}

#[cfg(test)]
mod tests {
    use super::*;
    use WorkflowKind::*;

    #[test]
    fn classification_table() {
        let table: &[(&str, &str, Option<WorkflowKind>)] = &[
            ("Drift Plan", "", Some(DriftPlan)),
            ("Terraform Drift Plan", "", Some(DriftPlan)),
            ("Terraform Apply", "", Some(Apply)),
            ("Terraform Destroy", "", Some(Destroy)),
            ("Terraform Cleanup", "", Some(Cleanup)),
            ("Terraform Plan", "", Some(Plan)),
            ("CI", "Build and test", None),
            ("", "", None),
            // Case does not matter.
            ("TERRAFORM APPLY", "", Some(Apply)),
            ("drift-plan", "", Some(DriftPlan)),
            // The templates tfpilot init writes.
            (
                "tfpilot plan",
                "tfpilot plan req_dev_s3_tgqpp8 n0nce1",
                Some(Plan),
            ),
            (
                "tfpilot apply",
                "tfpilot apply req_dev_s3_tgqpp8 n0nce1",
                Some(Apply),
            ),
            (
                "tfpilot destroy",
                "tfpilot destroy req_dev_s3_tgqpp8 x",
                Some(Destroy),
            ),
            (
                "tfpilot drift plan",
                "tfpilot drift plan req_dev_s3_tgqpp8 x",
                Some(DriftPlan),
            ),
            // The name wins over a display title that mentions another kind.
            (
                "tfpilot plan",
                "tfpilot plan req_dev_app-destroyer_abc123 x",
                Some(Plan),
            ),
            (
                "tfpilot plan",
                "tfpilot plan req_dev_apply-role_abc123 x",
                Some(Plan),
            ),
            // The display title is used when the name says nothing.
            (
                "Infra",
                "Terraform Destroy for req_dev_s3_tgqpp8",
                Some(Destroy),
            ),
            ("Infra", "nightly drift plan", Some(DriftPlan)),
            // Drift without plan is not a drift plan (seed rule).
            ("Drift check", "", None),
        ];
        for (name, title, want) in table {
            assert_eq!(
                classify_workflow(name, title),
                *want,
                "name {name:?} title {title:?}"
            );
        }
    }
}
