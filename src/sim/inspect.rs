//! What tests read back: plain snapshots of the simulator's state.

use std::collections::BTreeMap;

use super::handle::split_repo;
use super::world::{CheckAction, Principal};
use super::{CallRecord, DeliveryRecord, DispatchRecord, Simulator};

/// A comment as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentView {
    /// Comment id.
    pub id: u64,
    /// Author login (`tfpilot[bot]` for comments made with an installation token).
    pub author: String,
    /// Body.
    pub body: String,
    /// Reactions as `(user, content)`.
    pub reactions: Vec<(String, String)>,
}

/// An issue as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueView {
    /// Number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: Option<String>,
    /// Author login.
    pub author: String,
    /// Open or closed.
    pub open: bool,
    /// Label names.
    pub labels: Vec<String>,
    /// Reactions on the issue itself as `(user, content)`.
    pub reactions: Vec<(String, String)>,
}

/// A changed file of a pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChangeView {
    /// Path.
    pub path: String,
    /// `added`, `modified` or `removed`.
    pub status: String,
}

/// A pull request as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullView {
    /// Number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: Option<String>,
    /// Author login.
    pub author: String,
    /// Open or closed.
    pub open: bool,
    /// Merged.
    pub merged: bool,
    /// Head branch.
    pub head_ref: String,
    /// Head commit.
    pub head_sha: String,
    /// Base branch.
    pub base_ref: String,
    /// Merge commit, once merged.
    pub merge_commit_sha: Option<String>,
    /// Files the PR changes.
    pub files: Vec<FileChangeView>,
    /// Label names.
    pub labels: Vec<String>,
}

/// A check run as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRunView {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Head sha.
    pub head_sha: String,
    /// `queued`, `in_progress`, `completed`.
    pub status: String,
    /// Conclusion once completed.
    pub conclusion: Option<String>,
    /// `external_id`.
    pub external_id: Option<String>,
    /// `details_url`.
    pub details_url: Option<String>,
    /// Output title.
    pub title: Option<String>,
    /// Output summary.
    pub summary: Option<String>,
    /// Output text.
    pub text: Option<String>,
    /// Buttons.
    pub actions: Vec<CheckAction>,
}

/// A workflow run as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunView {
    /// Run id.
    pub id: u64,
    /// Workflow file name (`tfpilot-plan.yml`).
    pub workflow: String,
    /// Workflow `name:`.
    pub name: String,
    /// Rendered `run-name:`.
    pub display_title: String,
    /// Per-workflow counter.
    pub run_number: u64,
    /// Attempt.
    pub run_attempt: u64,
    /// Branch.
    pub head_branch: String,
    /// Commit.
    pub head_sha: String,
    /// `queued`, `in_progress`, `completed`.
    pub status: String,
    /// Conclusion once completed.
    pub conclusion: Option<String>,
    /// Effective inputs (defaults filled in).
    pub inputs: BTreeMap<String, String>,
    /// Artifact names uploaded.
    pub artifacts: Vec<String>,
}

impl Simulator {
    /// Comments on issue or PR `number`, oldest first.
    pub fn comments(&self, repo: &str, number: u64) -> Vec<CommentView> {
        let Ok((o, n)) = split_repo(repo) else {
            return Vec::new();
        };
        let w = self.shared.world();
        let Some(r) = w.repo(&o, &n) else {
            return Vec::new();
        };
        r.comments
            .values()
            .filter(|c| c.issue_number == number)
            .map(|c| CommentView {
                id: c.id,
                author: c.user.clone(),
                body: c.body.clone(),
                reactions: c
                    .reactions
                    .iter()
                    .map(|x| (x.user.clone(), x.content.clone()))
                    .collect(),
            })
            .collect()
    }

    /// Issue (or the issue half of PR) `number`.
    pub fn issue(&self, repo: &str, number: u64) -> Option<IssueView> {
        let (o, n) = split_repo(repo).ok()?;
        let w = self.shared.world();
        let i = w.repo(&o, &n)?.issues.get(&number)?;
        Some(IssueView {
            number,
            title: i.title.clone(),
            body: i.body.clone(),
            author: i.user.clone(),
            open: i.open,
            labels: i.labels.clone(),
            reactions: i
                .reactions
                .iter()
                .map(|x| (x.user.clone(), x.content.clone()))
                .collect(),
        })
    }

    /// Every pull request of `repo`, by number.
    pub fn pulls(&self, repo: &str) -> Vec<PullView> {
        let Ok((o, n)) = split_repo(repo) else {
            return Vec::new();
        };
        let w = self.shared.world();
        let Some(r) = w.repo(&o, &n) else {
            return Vec::new();
        };
        r.pulls
            .values()
            .filter_map(|p| {
                let i = r.issues.get(&p.number)?;
                Some(PullView {
                    number: p.number,
                    title: i.title.clone(),
                    body: i.body.clone(),
                    author: i.user.clone(),
                    open: i.open,
                    merged: p.merged,
                    head_ref: p.head_ref.clone(),
                    head_sha: p.head_sha.clone(),
                    base_ref: p.base_ref.clone(),
                    merge_commit_sha: p.merge_commit_sha.clone(),
                    files: w
                        .pull_files(r, p)
                        .into_iter()
                        .map(|f| FileChangeView {
                            path: f.path,
                            status: f.status.to_string(),
                        })
                        .collect(),
                    labels: i.labels.clone(),
                })
            })
            .collect()
    }

    /// Pull request `number`.
    pub fn pull(&self, repo: &str, number: u64) -> Option<PullView> {
        self.pulls(repo).into_iter().find(|p| p.number == number)
    }

    /// Branch name → commit sha.
    pub fn branches(&self, repo: &str) -> BTreeMap<String, String> {
        let Ok((o, n)) = split_repo(repo) else {
            return BTreeMap::new();
        };
        let w = self.shared.world();
        let Some(r) = w.repo(&o, &n) else {
            return BTreeMap::new();
        };
        r.refs
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("heads/").map(|b| (b.to_string(), v.clone())))
            .collect()
    }

    /// Content of `path` at a branch, tag or sha (lossy UTF-8).
    pub fn file(&self, repo: &str, git_ref: &str, path: &str) -> Option<String> {
        let (o, n) = split_repo(repo).ok()?;
        let w = self.shared.world();
        let r = w.repo(&o, &n)?;
        let sha = w.resolve_ref(r, git_ref)?;
        w.git
            .file_at(&sha, path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// Every file path at a branch, tag or sha.
    pub fn paths(&self, repo: &str, git_ref: &str) -> Vec<String> {
        let Ok((o, n)) = split_repo(repo) else {
            return Vec::new();
        };
        let w = self.shared.world();
        let Some(r) = w.repo(&o, &n) else {
            return Vec::new();
        };
        let Some(sha) = w.resolve_ref(r, git_ref) else {
            return Vec::new();
        };
        w.git
            .files_at(&sha)
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Parents of a commit (to check merge commits).
    pub fn commit_parents(&self, sha: &str) -> Vec<String> {
        self.shared
            .world()
            .git
            .commits
            .get(sha)
            .map(|c| c.parents.clone())
            .unwrap_or_default()
    }

    /// Every check run of `repo`, oldest first.
    pub fn check_runs(&self, repo: &str) -> Vec<CheckRunView> {
        let Ok((o, n)) = split_repo(repo) else {
            return Vec::new();
        };
        let w = self.shared.world();
        let Some(r) = w.repo(&o, &n) else {
            return Vec::new();
        };
        r.check_runs
            .values()
            .map(|c| CheckRunView {
                id: c.id,
                name: c.name.clone(),
                head_sha: c.head_sha.clone(),
                status: c.status.clone(),
                conclusion: c.conclusion.clone(),
                external_id: c.external_id.clone(),
                details_url: c.details_url.clone(),
                title: c.title.clone(),
                summary: c.summary.clone(),
                text: c.text.clone(),
                actions: c.actions.clone(),
            })
            .collect()
    }

    /// Check runs named `name` on `head_sha`, oldest first.
    pub fn check_runs_named(&self, repo: &str, name: &str, head_sha: &str) -> Vec<CheckRunView> {
        self.check_runs(repo)
            .into_iter()
            .filter(|c| c.name == name && c.head_sha == head_sha)
            .collect()
    }

    /// Every accepted workflow dispatch, in order.
    pub fn dispatches(&self) -> Vec<DispatchRecord> {
        self.shared.world().dispatches.clone()
    }

    /// Every workflow run of `repo`, oldest first.
    pub fn workflow_runs(&self, repo: &str) -> Vec<RunView> {
        let Ok((o, n)) = split_repo(repo) else {
            return Vec::new();
        };
        let w = self.shared.world();
        let Some(r) = w.repo(&o, &n) else {
            return Vec::new();
        };
        r.runs
            .values()
            .map(|run| RunView {
                id: run.id,
                workflow: run.path.rsplit('/').next().unwrap_or(&run.path).to_string(),
                name: run.name.clone(),
                display_title: run.display_title.clone(),
                run_number: run.run_number,
                run_attempt: run.run_attempt,
                head_branch: run.head_branch.clone(),
                head_sha: run.head_sha.clone(),
                status: run.status.clone(),
                conclusion: run.conclusion.clone(),
                inputs: run.inputs.clone(),
                artifacts: r
                    .artifacts
                    .values()
                    .filter(|a| a.run_id == run.id)
                    .map(|a| a.name.clone())
                    .collect(),
            })
            .collect()
    }

    /// Every REST call answered, in order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.world().calls.clone()
    }

    /// REST calls that change something, made with an installation token.
    pub fn write_calls(&self) -> Vec<CallRecord> {
        self.calls()
            .into_iter()
            .filter(|c| c.is_write() && matches!(c.principal, Principal::Installation(_)))
            .collect()
    }

    /// Every webhook delivery (including redeliveries), in order.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared.world().deliveries.clone()
    }
}
