//! JSON shapes of checks, Actions and git objects (see `shapes` for the rest).

use serde_json::{Value, json};

use super::git::Commit;
use super::shapes::{Flavor, node_id};
use super::world::{Artifact, CheckRun, Repo, Run, World, ts};

impl World {
    pub(crate) fn pr_minimal(&self, repo: &Repo, number: u64) -> Option<Value> {
        let p = repo.pulls.get(&number)?;
        let base_sha = repo
            .refs
            .get(&format!("heads/{}", p.base_ref))
            .cloned()
            .unwrap_or_default();
        let rlite = json!({"id": repo.id, "url": self.api(&format!("repos/{}", repo.full_name())), "name": repo.name});
        Some(json!({
            "url": self.api(&format!("repos/{}/pulls/{number}", repo.full_name())),
            "id": p.id,
            "number": number,
            "head": {"ref": p.head_ref, "sha": p.head_sha, "repo": rlite},
            "base": {"ref": p.base_ref, "sha": base_sha, "repo": rlite},
        }))
    }

    /// Open pull requests whose head is `sha` (what check runs and workflow runs list).
    pub fn prs_for_sha(&self, repo: &Repo, sha: &str) -> Vec<Value> {
        repo.pulls
            .values()
            .filter(|p| p.head_sha == sha && repo.issues.get(&p.number).is_some_and(|i| i.open))
            .filter_map(|p| self.pr_minimal(repo, p.number))
            .collect()
    }

    pub(crate) fn branch_of_sha(&self, repo: &Repo, sha: &str) -> Option<String> {
        repo.refs
            .iter()
            .find(|(r, s)| *s == sha && r.starts_with("heads/"))
            .map(|(r, _)| r.trim_start_matches("heads/").to_string())
    }

    /// `check-run` (REST) / webhook `check_run`.
    pub fn check_run_json(&self, repo: &Repo, c: &CheckRun, flavor: Flavor) -> Value {
        let full = repo.full_name();
        let api = self.api(&format!("repos/{full}/check-runs/{}", c.id));
        let prs = self.prs_for_sha(repo, &c.head_sha);
        let suite_status = if c.status == "completed" {
            "completed"
        } else {
            "queued"
        };
        let mut v = json!({
            "id": c.id,
            "node_id": node_id("CR_", c.id),
            "head_sha": c.head_sha,
            "external_id": c.external_id.clone().unwrap_or_default(),
            "url": api,
            "html_url": self.html(&format!("{full}/runs/{}", c.id)),
            "details_url": c.details_url.clone().unwrap_or_else(|| self.html(&format!("{full}/runs/{}", c.id))),
            "status": c.status,
            "conclusion": c.conclusion,
            "started_at": ts(c.started_at),
            "completed_at": c.completed_at.map(ts),
            "output": {
                "title": c.title,
                "summary": c.summary,
                "text": c.text,
                "annotations_count": 0,
                "annotations_url": format!("{api}/annotations"),
            },
            "name": c.name,
            "check_suite": {
                "id": c.suite_id,
                "node_id": node_id("CS_", c.suite_id),
                "head_branch": self.branch_of_sha(repo, &c.head_sha),
                "head_sha": c.head_sha,
                "status": suite_status,
                "conclusion": c.conclusion,
                "url": self.api(&format!("repos/{full}/check-suites/{}", c.suite_id)),
                "before": null,
                "after": c.head_sha,
                "pull_requests": prs,
                "app": self.app_json(Flavor::Hook),
                "created_at": ts(c.started_at),
                "updated_at": ts(c.completed_at.unwrap_or(c.started_at)),
            },
            "app": self.app_json(Flavor::Hook),
            "pull_requests": prs,
        });
        if flavor == Flavor::Rest {
            // REST lists the check run's actions only through the API on create/update; the
            // object itself has no `actions` field in GitHub's schema.
            v["check_suite"] = json!({"id": c.suite_id});
            v["app"] = self.app_json(Flavor::Rest);
        }
        v
    }

    /// Webhook `workflow` object of a run's workflow.
    pub fn workflow_json(&self, repo: &Repo, id: u64, path: &str, name: &str) -> Value {
        let full = repo.full_name();
        let file = path.rsplit('/').next().unwrap_or(path);
        json!({
            "id": id,
            "node_id": node_id("W_", id),
            "name": name,
            "path": path,
            "state": "active",
            "created_at": ts(repo.created_at),
            "updated_at": ts(repo.created_at),
            "url": self.api(&format!("repos/{full}/actions/workflows/{id}")),
            "html_url": self.html(&format!("{full}/blob/{}/{path}", repo.default_branch)),
            "badge_url": self.html(&format!("{full}/workflows/{file}/badge.svg")),
        })
    }

    /// `workflow-run`.
    pub fn run_json(&self, repo: &Repo, r: &Run) -> Value {
        let full = repo.full_name();
        let api = self.api(&format!("repos/{full}/actions/runs/{}", r.id));
        let head_commit = self
            .git
            .commits
            .get(&r.head_sha)
            .map(simple_commit)
            .unwrap_or(Value::Null);
        json!({
            "id": r.id,
            "name": r.name,
            "node_id": node_id("WFR_", r.id),
            "head_branch": r.head_branch,
            "head_sha": r.head_sha,
            "path": r.path,
            "display_title": r.display_title,
            "run_number": r.run_number,
            "event": r.event,
            "status": r.status,
            "conclusion": r.conclusion,
            "workflow_id": r.workflow_id,
            "check_suite_id": r.suite_id,
            "check_suite_node_id": node_id("CS_", r.suite_id),
            "url": api,
            "html_url": self.html(&format!("{full}/actions/runs/{}", r.id)),
            "pull_requests": self.prs_for_sha(repo, &r.head_sha),
            "created_at": ts(r.created_at),
            "updated_at": ts(r.updated_at),
            "actor": self.user_json(&r.actor),
            "triggering_actor": self.user_json(&r.actor),
            "run_attempt": r.run_attempt,
            "run_started_at": ts(r.run_started_at),
            "jobs_url": format!("{api}/jobs"),
            "logs_url": format!("{api}/logs"),
            "check_suite_url": self.api(&format!("repos/{full}/check-suites/{}", r.suite_id)),
            "artifacts_url": format!("{api}/artifacts"),
            "cancel_url": format!("{api}/cancel"),
            "rerun_url": format!("{api}/rerun"),
            "previous_attempt_url": if r.run_attempt > 1 { json!(format!("{api}/attempts/{}", r.run_attempt - 1)) } else { Value::Null },
            "workflow_url": self.api(&format!("repos/{full}/actions/workflows/{}", r.workflow_id)),
            "head_commit": head_commit,
            "repository": self.repo_lite_json(repo),
            "head_repository": self.repo_lite_json(repo),
        })
    }

    /// `job` (one job per run: the simulator does not model steps).
    pub fn job_json(&self, repo: &Repo, r: &Run) -> Value {
        let full = repo.full_name();
        let started = (r.status != "queued").then(|| ts(r.run_started_at));
        json!({
            "id": r.job_id,
            "run_id": r.id,
            "run_url": self.api(&format!("repos/{full}/actions/runs/{}", r.id)),
            "run_attempt": r.run_attempt,
            "node_id": node_id("CR_", r.job_id),
            "head_sha": r.head_sha,
            "url": self.api(&format!("repos/{full}/actions/jobs/{}", r.job_id)),
            "html_url": self.html(&format!("{full}/actions/runs/{}/job/{}", r.id, r.job_id)),
            "status": r.status,
            "conclusion": r.conclusion,
            "created_at": ts(r.created_at),
            "started_at": started.unwrap_or_else(|| ts(r.created_at)),
            "completed_at": (r.status == "completed").then(|| ts(r.updated_at)),
            "name": r.job_name,
            "steps": [],
            "check_run_url": self.api(&format!("repos/{full}/check-runs/{}", r.job_id)),
            "labels": ["ubuntu-latest"],
            "runner_id": 1,
            "runner_name": "sim-runner",
            "runner_group_id": 1,
            "runner_group_name": "sim",
            "workflow_name": r.name,
            "head_branch": r.head_branch,
        })
    }

    /// `artifact`.
    pub fn artifact_json(&self, repo: &Repo, a: &Artifact) -> Value {
        let full = repo.full_name();
        let api = self.api(&format!("repos/{full}/actions/artifacts/{}", a.id));
        let run = repo.runs.get(&a.run_id);
        json!({
            "id": a.id,
            "node_id": node_id("MDg6QXJ0aWZhY3Q", a.id),
            "name": a.name,
            "size_in_bytes": a.zip.len(),
            "url": api,
            "archive_download_url": format!("{api}/zip"),
            "expired": false,
            "created_at": ts(a.created_at),
            "expires_at": ts(a.expires_at),
            "updated_at": ts(a.created_at),
            "digest": format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&a.zip))),
            "workflow_run": run.map(|r| json!({
                "id": r.id,
                "repository_id": repo.id,
                "head_repository_id": repo.id,
                "head_branch": r.head_branch,
                "head_sha": r.head_sha,
            })),
        })
    }

    /// `git-commit`.
    pub fn git_commit_json(&self, repo: &Repo, c: &Commit) -> Value {
        let full = repo.full_name();
        json!({
            "sha": c.sha,
            "node_id": node_id("C_", u64::from_str_radix(&c.sha[..8], 16).unwrap_or_default()),
            "url": self.api(&format!("repos/{full}/git/commits/{}", c.sha)),
            "html_url": self.html(&format!("{full}/commit/{}", c.sha)),
            "author": {"name": c.author.name, "email": c.author.email, "date": ts(c.author.date)},
            "committer": {"name": c.committer.name, "email": c.committer.email, "date": ts(c.committer.date)},
            "message": c.message,
            "tree": {"sha": c.tree, "url": self.api(&format!("repos/{full}/git/trees/{}", c.tree))},
            "parents": c.parents.iter().map(|p| json!({
                "sha": p,
                "url": self.api(&format!("repos/{full}/git/commits/{p}")),
                "html_url": self.html(&format!("{full}/commit/{p}")),
            })).collect::<Vec<_>>(),
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
        })
    }

    /// `git-ref`.
    pub fn ref_json(&self, repo: &Repo, name: &str, sha: &str) -> Value {
        let full = repo.full_name();
        json!({
            "ref": format!("refs/{name}"),
            "node_id": node_id("REF_", u64::from_str_radix(&sha[..sha.len().min(8)], 16).unwrap_or_default()),
            "url": self.api(&format!("repos/{full}/git/refs/{name}")),
            "object": {"type": "commit", "sha": sha, "url": self.api(&format!("repos/{full}/git/commits/{sha}"))},
        })
    }
}

/// Webhook `head_commit` / `simple-commit`.
pub(crate) fn simple_commit(c: &Commit) -> Value {
    json!({
        "id": c.sha,
        "tree_id": c.tree,
        "message": c.message,
        "timestamp": ts(c.committer.date),
        "author": {"name": c.author.name, "email": c.author.email},
        "committer": {"name": c.committer.name, "email": c.committer.email},
    })
}
