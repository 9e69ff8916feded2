//! What people do on GitHub, as methods on the handle; each announces the webhooks GitHub
//! would send.

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::git::Signature;
use super::handle::split_repo;
use super::issues::{IssueEdit, ReactTarget};
use super::pulls::{MergeHow, NewPull};
use super::world::{Repo, repo_key};
use super::{Permission, RepoSpec, ReviewState, SimError, Simulator, TeamRole};

impl Simulator {
    /// Create a repository whose default branch holds `spec.files` in one commit.
    pub fn create_repo(&self, spec: RepoSpec) -> Result<(), SimError> {
        let (owner, name) = split_repo(&spec.full_name)?;
        let mut w = self.shared.world();
        if w.repo(&owner, &name).is_some() {
            return Err(SimError::Refused {
                status: 422,
                message: "name already exists on this account".to_string(),
            });
        }
        w.ensure_user(&owner);
        if spec.owner_is_org {
            w.orgs.insert(owner.clone());
        }
        let mut flat = super::git::FlatTree::new();
        for (path, content) in spec.files {
            let sha = w.git.put_blob(content.into_bytes());
            flat.insert(
                path,
                super::git::FileEntry {
                    mode: "100644".to_string(),
                    sha,
                },
            );
        }
        let tree = w.git.put_tree(flat);
        let sig = Signature {
            name: owner.clone(),
            email: super::world::noreply_email(&owner),
            date: Utc::now(),
        };
        let commit = w.git.put_commit(
            tree,
            Vec::new(),
            "Initial commit".to_string(),
            sig.clone(),
            sig,
        );
        let id = w.next_id();
        let now = Utc::now();
        let repo = Repo {
            id,
            owner: owner.clone(),
            name: name.clone(),
            private: spec.private,
            default_branch: spec.default_branch.clone(),
            created_at: now,
            pushed_at: now,
            refs: [(format!("heads/{}", spec.default_branch), commit)]
                .into_iter()
                .collect(),
            issues: Default::default(),
            next_number: 1,
            comments: Default::default(),
            pulls: Default::default(),
            reviews: Vec::new(),
            labels: Default::default(),
            check_runs: Default::default(),
            check_suites: Default::default(),
            workflows: Default::default(),
            run_numbers: Default::default(),
            runs: Default::default(),
            artifacts: Default::default(),
            permissions: Default::default(),
        };
        w.repos.insert(repo_key(&owner, &name), repo);
        Ok(())
    }

    /// `user` opens an issue (then one `labeled` per label, as GitHub sends them).
    pub fn open_issue(
        &self,
        repo: &str,
        user: &str,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> Result<u64, SimError> {
        let (o, n) = split_repo(repo)?;
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        Ok(self.shared.world().create_issue(
            &o,
            &n,
            user,
            title,
            Some(body.to_string()),
            &labels,
        )?)
    }

    /// `user` edits an issue's body (`issues.edited` with `changes.body.from`).
    pub fn edit_issue_body(
        &self,
        repo: &str,
        number: u64,
        user: &str,
        body: &str,
    ) -> Result<(), SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self.shared.world().update_issue(
            &o,
            &n,
            number,
            user,
            IssueEdit {
                body: Some(body.to_string()),
                ..IssueEdit::default()
            },
        )?)
    }

    /// `user` closes an issue or pull request without merging.
    pub fn close_issue(&self, repo: &str, number: u64, user: &str) -> Result<(), SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self.shared.world().update_issue(
            &o,
            &n,
            number,
            user,
            IssueEdit {
                state: Some("closed".to_string()),
                ..IssueEdit::default()
            },
        )?)
    }

    /// `user` adds labels to an issue or pull request.
    pub fn add_labels(
        &self,
        repo: &str,
        number: u64,
        user: &str,
        labels: &[&str],
    ) -> Result<(), SimError> {
        let (o, n) = split_repo(repo)?;
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        Ok(self
            .shared
            .world()
            .add_labels(&o, &n, number, user, &labels)?)
    }

    /// `user` comments on an issue or pull request; returns the comment id.
    pub fn comment(
        &self,
        repo: &str,
        number: u64,
        user: &str,
        body: &str,
    ) -> Result<u64, SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self
            .shared
            .world()
            .create_comment(&o, &n, number, user, body, None)?)
    }

    /// Another GitHub App (not tfpilot; `slug`, id `app_id`) comments as `<slug>[bot]`,
    /// as a workflow's `GITHUB_TOKEN` comments as `github-actions[bot]`.
    pub fn comment_as_app(
        &self,
        repo: &str,
        number: u64,
        slug: &str,
        app_id: u64,
        body: &str,
    ) -> Result<u64, SimError> {
        let (o, n) = split_repo(repo)?;
        let login = format!("{slug}[bot]");
        Ok(self
            .shared
            .world()
            .create_comment(&o, &n, number, &login, body, Some(app_id))?)
    }

    /// `user` edits a comment.
    pub fn edit_comment(
        &self,
        repo: &str,
        comment_id: u64,
        user: &str,
        body: &str,
    ) -> Result<(), SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self
            .shared
            .world()
            .edit_comment(&o, &n, comment_id, user, body)?)
    }

    /// `user` deletes a comment (anyone's, as a maintainer can).
    pub fn delete_comment(&self, repo: &str, comment_id: u64, user: &str) -> Result<(), SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self
            .shared
            .world()
            .delete_comment(&o, &n, comment_id, user)?)
    }

    /// `user` reacts to a comment.
    pub fn react_to_comment(
        &self,
        repo: &str,
        comment_id: u64,
        user: &str,
        content: &str,
    ) -> Result<(), SimError> {
        let (o, n) = split_repo(repo)?;
        self.shared
            .world()
            .react(&o, &n, ReactTarget::Comment(comment_id), user, content)?;
        Ok(())
    }

    /// `user` submits a review on a pull request's current head; returns the review id.
    pub fn review(
        &self,
        repo: &str,
        pr: u64,
        user: &str,
        state: ReviewState,
        body: &str,
    ) -> Result<u64, SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self
            .shared
            .world()
            .submit_review(&o, &n, pr, user, state, body)?)
    }

    /// `user` approves a pull request.
    pub fn approve(&self, repo: &str, pr: u64, user: &str) -> Result<u64, SimError> {
        self.review(repo, pr, user, ReviewState::Approved, "")
    }

    /// `user` requests changes on a pull request.
    pub fn request_changes(
        &self,
        repo: &str,
        pr: u64,
        user: &str,
        body: &str,
    ) -> Result<u64, SimError> {
        self.review(repo, pr, user, ReviewState::ChangesRequested, body)
    }

    /// `user` pushes one commit to `branch` (created from the default branch if missing):
    /// `(path, Some(content))` writes a file, `(path, None)` deletes it. Open pull requests
    /// from the branch get `pull_request.synchronize`. Returns the commit sha.
    pub fn push(
        &self,
        repo: &str,
        branch: &str,
        user: &str,
        files: &[(&str, Option<&str>)],
        message: &str,
    ) -> Result<String, SimError> {
        let (o, n) = split_repo(repo)?;
        let mut w = self.shared.world();
        w.ensure_user(user);
        let r = w.repo(&o, &n).ok_or_else(|| SimError::Refused {
            status: 404,
            message: format!("no repository {repo}"),
        })?;
        if !r.refs.contains_key(&format!("heads/{branch}")) {
            let base = r
                .refs
                .get(&format!("heads/{}", r.default_branch))
                .cloned()
                .unwrap_or_default();
            if let Some(r) = w.repo_mut(&o, &n) {
                r.refs.insert(format!("heads/{branch}"), base);
            }
        }
        let changes = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.map(str::to_string)))
            .collect();
        Ok(w.commit_to_branch(&o, &n, branch, changes, message, user)?)
    }

    /// `user` opens a pull request from `head` into `base`; returns its number.
    pub fn open_pull(
        &self,
        repo: &str,
        user: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<u64, SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self.shared.world().create_pull(
            &o,
            &n,
            user,
            NewPull {
                title: title.to_string(),
                body: Some(body.to_string()),
                head: head.to_string(),
                base: base.to_string(),
                draft: false,
            },
        )?)
    }

    /// `user` presses "Merge pull request"; returns the merge commit sha.
    pub fn merge_pull(&self, repo: &str, pr: u64, user: &str) -> Result<String, SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self
            .shared
            .world()
            .merge_pull(&o, &n, pr, user, MergeHow::default())?)
    }

    /// `user` presses a check run's button (`check_run.requested_action`).
    pub fn press_check_action(
        &self,
        repo: &str,
        check_run_id: u64,
        user: &str,
        identifier: &str,
    ) -> Result<(), SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self
            .shared
            .world()
            .request_action(&o, &n, check_run_id, user, identifier)?)
    }

    /// `user` presses "Re-run" on a completed check run (`check_run.rerequested`).
    pub fn rerun_check(&self, repo: &str, check_run_id: u64, user: &str) -> Result<(), SimError> {
        let (o, n) = split_repo(repo)?;
        Ok(self
            .shared
            .world()
            .rerequest_check(&o, &n, check_run_id, user)?)
    }

    /// Give `user` a permission level on `repo`.
    pub fn set_permission(
        &self,
        repo: &str,
        user: &str,
        permission: Permission,
    ) -> Result<(), SimError> {
        let (o, n) = split_repo(repo)?;
        let mut w = self.shared.world();
        w.ensure_user(user);
        let r = w.repo_mut(&o, &n).ok_or_else(|| SimError::Refused {
            status: 404,
            message: format!("no repository {repo}"),
        })?;
        r.permissions.insert(user.to_string(), permission);
        Ok(())
    }

    /// Add `user` to `org`'s team `team_slug`.
    pub fn add_team_member(&self, org: &str, team_slug: &str, user: &str, role: TeamRole) {
        let mut w = self.shared.world();
        w.ensure_user(user);
        w.teams
            .entry((org.to_ascii_lowercase(), team_slug.to_ascii_lowercase()))
            .or_default()
            .insert(user.to_string(), role);
    }

    /// `sender` installs the app on its account (`installation.created`, all repositories).
    pub fn install_app(&self, sender: &str) {
        let mut w = self.shared.world();
        w.ensure_user(sender);
        let mut installation = w.installation_json();
        if let Some(o) = installation.as_object_mut() {
            // the webhook `installation` object has no `app_slug`-less variant; keep GitHub's set
            o.remove("has_multiple_single_files");
            o.remove("single_file_paths");
        }
        let repos: Vec<Value> = w
            .repos
            .values()
            .map(|r| json!({"id": r.id, "node_id": format!("R_{}", r.id), "name": r.name, "full_name": r.full_name(), "private": r.private}))
            .collect();
        let mut m = Map::new();
        m.insert("action".into(), json!("created"));
        m.insert("installation".into(), installation);
        m.insert("repositories".into(), Value::Array(repos));
        m.insert("sender".into(), w.user_json(sender));
        w.emit("installation", Some("created"), Value::Object(m));
    }
}
