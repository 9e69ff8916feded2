//! Workflow `concurrency:` groups, as GitHub Actions applies them to runs.
//!
//! At most one run of a group is in progress. A run that arrives while one is in progress
//! waits as `pending`. With the default `queue: single`, a newer pending run cancels the
//! older pending one (how the predecessor could lose an apply); `queue: max` keeps up to
//! 100 pending runs in arrival order; `cancel-in-progress: true` also cancels the running one.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_yaml_ng::Value as Yaml;

use super::workflows::render_run_name;
use super::world::World;

/// Most pending runs a `queue: max` group keeps.
const MAX_QUEUE: usize = 100;

/// A workflow's `concurrency:` setting, group still a template.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConcurrencyDef {
    pub group: String,
    pub cancel_in_progress: bool,
    pub queue_max: bool,
}

/// A run's rendered concurrency group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunGroup {
    /// Group name, lower-cased (GitHub compares them case-insensitively).
    pub key: String,
    pub cancel_in_progress: bool,
    pub queue_max: bool,
}

/// Read `concurrency:` (a string, or `{group, cancel-in-progress, queue}`).
pub(crate) fn parse_concurrency(v: Option<&Yaml>) -> Option<ConcurrencyDef> {
    match v? {
        Yaml::String(g) => Some(ConcurrencyDef {
            group: g.clone(),
            ..Default::default()
        }),
        Yaml::Mapping(m) => {
            let group = m.get(Yaml::String("group".into()))?.as_str()?.to_string();
            let cancel = match m.get(Yaml::String("cancel-in-progress".into())) {
                Some(Yaml::Bool(b)) => *b,
                Some(Yaml::String(s)) => s.trim() == "true",
                _ => false,
            };
            let queue_max = m
                .get(Yaml::String("queue".into()))
                .and_then(Yaml::as_str)
                .is_some_and(|q| q == "max");
            Some(ConcurrencyDef {
                group,
                cancel_in_progress: cancel,
                queue_max,
            })
        }
        _ => None,
    }
}

/// The group a run joins, with its expressions evaluated.
pub(crate) fn render_group(
    def: &ConcurrencyDef,
    workflow_name: &str,
    inputs: &BTreeMap<String, String>,
    ref_name: &str,
    actor: &str,
) -> RunGroup {
    let template = def
        .group
        .replace("${{ github.workflow }}", workflow_name)
        .replace("${{github.workflow}}", workflow_name);
    RunGroup {
        key: render_run_name(&template, inputs, ref_name, actor).to_lowercase(),
        cancel_in_progress: def.cancel_in_progress,
        queue_max: def.queue_max,
    }
}

/// Admitted to the group: queued for a runner or running.
fn admitted(status: &str) -> bool {
    matches!(status, "queued" | "in_progress")
}

impl World {
    /// Run `id` (just queued) joins its group: it cancels what the group's rules say and
    /// waits as `pending` behind an admitted run.
    pub(crate) fn join_group(&mut self, owner: &str, name: &str, id: u64) {
        let Some(repo) = self.repo(owner, name) else {
            return;
        };
        let Some(group) = repo.runs.get(&id).and_then(|r| r.group.clone()) else {
            return;
        };
        let others: Vec<(u64, String)> = repo
            .runs
            .values()
            .filter(|r| r.id != id && r.status != "completed")
            .filter(|r| r.group.as_ref().is_some_and(|g| g.key == group.key))
            .map(|r| (r.id, r.status.clone()))
            .collect();
        let pending: Vec<u64> = others
            .iter()
            .filter(|(_, s)| s == "pending")
            .map(|(i, _)| *i)
            .collect();
        let to_cancel: Vec<u64> = if group.cancel_in_progress {
            others.iter().map(|(i, _)| *i).collect()
        } else if group.queue_max {
            if pending.len() >= MAX_QUEUE {
                vec![id]
            } else {
                Vec::new()
            }
        } else {
            pending.clone()
        };
        for run in &to_cancel {
            // a run that is not completed can always be cancelled
            let _ = self.cancel_run(owner, name, *run);
        }
        if to_cancel.contains(&id) {
            return;
        }
        let blocked = others
            .iter()
            .any(|(i, s)| !to_cancel.contains(i) && (admitted(s) || s == "pending"));
        if blocked
            && let Some(r) = self
                .repo_mut(owner, name)
                .and_then(|repo| repo.runs.get_mut(&id))
        {
            r.status = "pending".to_string();
            r.updated_at = Utc::now();
        }
    }

    /// Whether a pending run may start: nothing of its group admitted, and no older run of
    /// the group still pending (FIFO).
    pub(crate) fn may_start(&self, owner: &str, name: &str, id: u64) -> bool {
        let Some(repo) = self.repo(owner, name) else {
            return false;
        };
        let Some(run) = repo.runs.get(&id) else {
            return false;
        };
        let Some(group) = &run.group else { return true };
        !repo.runs.values().any(|r| {
            r.id != id
                && r.group.as_ref().is_some_and(|g| g.key == group.key)
                && (admitted(&r.status) || (r.status == "pending" && r.id < id))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_string_and_mapping_forms() {
        let y: Yaml = serde_yaml_ng::from_str("group: tfpilot-state-${{ inputs.environment }}\ncancel-in-progress: false\nqueue: max\n").unwrap();
        let def = parse_concurrency(Some(&y)).unwrap();
        assert!(def.queue_max && !def.cancel_in_progress);
        let inputs = BTreeMap::from([("environment".to_string(), "Prod".to_string())]);
        assert_eq!(
            render_group(&def, "apply", &inputs, "main", "bot").key,
            "tfpilot-state-prod"
        );
        let y: Yaml = serde_yaml_ng::from_str("\"${{ github.workflow }}-x\"").unwrap();
        let def = parse_concurrency(Some(&y)).unwrap();
        assert_eq!(
            render_group(&def, "Plan", &BTreeMap::new(), "main", "bot").key,
            "plan-x"
        );
    }
}
