//! JSON shapes of GitHub objects, as the REST API returns them and as webhooks carry them.
//!
//! Both flavours share one builder per object; they differ only where GitHub's own schemas
//! do (webhook objects are closed: `additionalProperties: false` in octokit's schema).

use serde_json::{Value, json};

use super::git::GitStore;
use super::world::{Comment, Issue, Pull, Reaction, Repo, Review, UserRec, World, ts};

/// Which consumer a shape is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// REST response body.
    Rest,
    /// Webhook payload.
    Hook,
}

/// GitHub-style opaque node id.
pub(crate) fn node_id(kind: &str, id: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{kind}{id}"))
}

impl World {
    /// `https://<sim>/` style html URL (the simulator has no web UI; links only need to be URLs).
    pub fn html(&self, path: &str) -> String {
        format!("{}/_html/{}", self.base_url, path.trim_start_matches('/'))
    }

    /// An API URL on the simulator.
    pub fn api(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }

    /// `simple-user` / webhook `user`.
    pub fn user_json(&self, login: &str) -> Value {
        let (id, kind) = match self.users.get(login) {
            Some(UserRec { id, kind, .. }) => (*id, *kind),
            None => (0, "User"),
        };
        let kind = if self.is_org(login) {
            "Organization"
        } else {
            kind
        };
        // GitHub percent-encodes bot logins in URLs (`tfpilot%5Bbot%5D`)
        let escaped = login.replace('[', "%5B").replace(']', "%5D");
        let api = self.api(&format!("users/{escaped}"));
        json!({
            "login": login,
            "id": id,
            "node_id": node_id("U_", id),
            "avatar_url": format!("{}/_avatars/{id}", self.base_url),
            "gravatar_id": "",
            "url": api,
            "html_url": self.html(&escaped),
            "followers_url": format!("{api}/followers"),
            "following_url": format!("{api}/following{{/other_user}}"),
            "gists_url": format!("{api}/gists{{/gist_id}}"),
            "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{api}/subscriptions"),
            "organizations_url": format!("{api}/orgs"),
            "repos_url": format!("{api}/repos"),
            "events_url": format!("{api}/events{{/privacy}}"),
            "received_events_url": format!("{api}/received_events"),
            "type": kind,
            "site_admin": false
        })
    }

    /// Whether `login` names an organization (a repository owner that is not a person who acted).
    pub fn is_org(&self, login: &str) -> bool {
        self.orgs.contains(login)
    }

    /// `installation: {id, node_id}` as in every app webhook.
    pub fn installation_lite(&self) -> Value {
        json!({"id": self.app.installation_id, "node_id": node_id("MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u", self.app.installation_id)})
    }

    /// Another App (`id`, `slug`) in the shape of [`Self::app_json`].
    fn other_app_json(&self, id: u64, slug: &str) -> Value {
        let mut v = self.app_json(Flavor::Hook);
        v["id"] = json!(id);
        v["slug"] = json!(slug);
        v["node_id"] = json!(node_id("A_", id));
        v["name"] = json!(slug);
        v["external_url"] = json!(self.html(&format!("apps/{slug}")));
        v["html_url"] = json!(self.html(&format!("apps/{slug}")));
        v
    }

    /// The app as `integration` (REST) / `app` (webhook).
    pub fn app_json(&self, flavor: Flavor) -> Value {
        let mut v = json!({
            "id": self.app.id,
            "slug": self.app.slug,
            "node_id": node_id("A_", self.app.id),
            "owner": self.user_json(&self.app.owner),
            "name": self.app.name,
            "description": "Self-service Terraform through GitHub",
            "external_url": self.html(&format!("apps/{}", self.app.slug)),
            "html_url": self.html(&format!("apps/{}", self.app.slug)),
            "created_at": ts(self.app.created_at),
            "updated_at": ts(self.app.created_at),
            "permissions": app_permissions(),
            "events": app_events(),
        });
        if flavor == Flavor::Rest {
            v["client_id"] = json!(self.app.client_id);
        }
        v
    }

    /// `full-repository` (REST) / `repository` (webhook).
    pub fn repo_json(&self, repo: &Repo, flavor: Flavor) -> Value {
        let full = repo.full_name();
        let api = self.api(&format!("repos/{full}"));
        let html = self.html(&full);
        let open_issues = repo.issues.values().filter(|i| i.open).count();
        let mut v = json!({
            "id": repo.id,
            "node_id": node_id("R_", repo.id),
            "name": repo.name,
            "full_name": full,
            "private": repo.private,
            "owner": self.user_json(&repo.owner),
            "html_url": html,
            "description": null,
            "fork": false,
            "url": api,
            "forks_url": format!("{api}/forks"),
            "keys_url": format!("{api}/keys{{/key_id}}"),
            "collaborators_url": format!("{api}/collaborators{{/collaborator}}"),
            "teams_url": format!("{api}/teams"),
            "hooks_url": format!("{api}/hooks"),
            "issue_events_url": format!("{api}/issues/events{{/number}}"),
            "events_url": format!("{api}/events"),
            "assignees_url": format!("{api}/assignees{{/user}}"),
            "branches_url": format!("{api}/branches{{/branch}}"),
            "tags_url": format!("{api}/tags"),
            "blobs_url": format!("{api}/git/blobs{{/sha}}"),
            "git_tags_url": format!("{api}/git/tags{{/sha}}"),
            "git_refs_url": format!("{api}/git/refs{{/sha}}"),
            "trees_url": format!("{api}/git/trees{{/sha}}"),
            "statuses_url": format!("{api}/statuses/{{sha}}"),
            "languages_url": format!("{api}/languages"),
            "stargazers_url": format!("{api}/stargazers"),
            "contributors_url": format!("{api}/contributors"),
            "subscribers_url": format!("{api}/subscribers"),
            "subscription_url": format!("{api}/subscription"),
            "commits_url": format!("{api}/commits{{/sha}}"),
            "git_commits_url": format!("{api}/git/commits{{/sha}}"),
        });
        let urls = json!({
            "comments_url": format!("{api}/comments{{/number}}"),
            "issue_comment_url": format!("{api}/issues/comments{{/number}}"),
            "contents_url": format!("{api}/contents/{{+path}}"),
            "compare_url": format!("{api}/compare/{{base}}...{{head}}"),
            "merges_url": format!("{api}/merges"),
            "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
            "downloads_url": format!("{api}/downloads"),
            "issues_url": format!("{api}/issues{{/number}}"),
            "pulls_url": format!("{api}/pulls{{/number}}"),
            "milestones_url": format!("{api}/milestones{{/number}}"),
            "notifications_url": format!("{api}/notifications{{?since,all,participating}}"),
            "labels_url": format!("{api}/labels{{/name}}"),
            "releases_url": format!("{api}/releases{{/id}}"),
            "deployments_url": format!("{api}/deployments"),
        });
        // in parts: one `json!` this large exceeds the macro recursion limit
        let rest = json!({
            "created_at": ts(repo.created_at),
            "updated_at": ts(repo.pushed_at),
            "pushed_at": ts(repo.pushed_at),
            "git_url": format!("git://sim/{full}.git"),
            "ssh_url": format!("git@sim:{full}.git"),
            "clone_url": format!("{html}.git"),
            "svn_url": html,
            "homepage": null,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": "HCL",
            "has_issues": true,
            "has_projects": false,
            "has_downloads": true,
            "has_wiki": false,
            "has_pages": false,
            "has_discussions": false,
            "forks_count": 0,
            "mirror_url": null,
            "archived": false,
            "disabled": false,
            "open_issues_count": open_issues,
            "license": null,
            "allow_forking": false,
            "is_template": false,
            "web_commit_signoff_required": false,
            "topics": [],
            "visibility": if repo.private { "private" } else { "public" },
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "custom_properties": {},
        });
        for part in [urls, rest] {
            if let (Some(a), Value::Object(b)) = (v.as_object_mut(), part) {
                a.extend(b);
            }
        }
        if flavor == Flavor::Rest {
            v["network_count"] = json!(0);
            v["subscribers_count"] = json!(0);
        }
        v
    }

    /// `repository-lite` / `minimal-repository` (what workflow runs carry): the URL set only.
    pub fn repo_lite_json(&self, repo: &Repo) -> Value {
        const FULL_ONLY: [&str; 34] = [
            "created_at",
            "updated_at",
            "pushed_at",
            "git_url",
            "ssh_url",
            "clone_url",
            "svn_url",
            "homepage",
            "size",
            "stargazers_count",
            "watchers_count",
            "language",
            "has_issues",
            "has_projects",
            "has_downloads",
            "has_wiki",
            "has_pages",
            "has_discussions",
            "forks_count",
            "mirror_url",
            "archived",
            "disabled",
            "open_issues_count",
            "license",
            "allow_forking",
            "is_template",
            "web_commit_signoff_required",
            "topics",
            "visibility",
            "forks",
            "open_issues",
            "watchers",
            "default_branch",
            "custom_properties",
        ];
        let mut v = self.repo_json(repo, Flavor::Hook);
        if let Some(m) = v.as_object_mut() {
            m.retain(|k, _| !FULL_ONLY.contains(&k.as_str()));
        }
        v
    }

    /// `label`.
    pub fn label_json(&self, repo: &Repo, name: &str) -> Value {
        let id = repo.labels.get(name).copied().unwrap_or_default();
        json!({
            "id": id,
            "node_id": node_id("LA_", id),
            "url": self.api(&format!("repos/{}/labels/{name}", repo.full_name())),
            "name": name,
            "color": "ededed",
            "default": false,
            "description": null
        })
    }

    fn reactions_rollup(&self, url: String, reactions: &[Reaction]) -> Value {
        let count = |c: &str| reactions.iter().filter(|r| r.content == c).count();
        json!({
            "url": url,
            "total_count": reactions.len(),
            "+1": count("+1"),
            "-1": count("-1"),
            "laugh": count("laugh"),
            "hooray": count("hooray"),
            "confused": count("confused"),
            "heart": count("heart"),
            "rocket": count("rocket"),
            "eyes": count("eyes")
        })
    }

    /// `issue` (REST and webhook; PRs carry a `pull_request` link object).
    pub fn issue_json(&self, repo: &Repo, issue: &Issue) -> Value {
        let full = repo.full_name();
        let api = self.api(&format!("repos/{full}/issues/{}", issue.number));
        let kind = if issue.is_pull { "pull" } else { "issues" };
        let comments = repo
            .comments
            .values()
            .filter(|c| c.issue_number == issue.number)
            .count();
        let mut v = json!({
            "url": api,
            "repository_url": self.api(&format!("repos/{full}")),
            "labels_url": format!("{api}/labels{{/name}}"),
            "comments_url": format!("{api}/comments"),
            "events_url": format!("{api}/events"),
            "html_url": self.html(&format!("{full}/{kind}/{}", issue.number)),
            "id": issue.id,
            "node_id": node_id("I_", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.user_json(&issue.user),
            "labels": issue.labels.iter().map(|l| self.label_json(repo, l)).collect::<Vec<_>>(),
            "state": if issue.open { "open" } else { "closed" },
            "locked": false,
            "assignee": null,
            "assignees": [],
            "milestone": null,
            "comments": comments,
            "created_at": ts(issue.created_at),
            "updated_at": ts(issue.updated_at),
            "closed_at": issue.closed_at.map(ts),
            "author_association": self.association(repo, &issue.user),
            "active_lock_reason": null,
            "body": issue.body,
            "reactions": self.reactions_rollup(format!("{api}/reactions"), &issue.reactions),
            "timeline_url": format!("{api}/timeline"),
            "performed_via_github_app": null,
            "state_reason": issue.state_reason,
        });
        if let Some(p) = repo.pulls.get(&issue.number).filter(|_| issue.is_pull) {
            let purl = self.api(&format!("repos/{full}/pulls/{}", p.number));
            let phtml = self.html(&format!("{full}/pull/{}", p.number));
            v["pull_request"] = json!({
                "url": purl,
                "html_url": phtml,
                "diff_url": format!("{phtml}.diff"),
                "patch_url": format!("{phtml}.patch"),
                "merged_at": p.merged_at.map(ts),
            });
        }
        v
    }

    /// `issue-comment`.
    pub fn comment_json(&self, repo: &Repo, c: &Comment) -> Value {
        let full = repo.full_name();
        let kind = match repo.issues.get(&c.issue_number) {
            Some(i) if i.is_pull => "pull",
            _ => "issues",
        };
        let api = self.api(&format!("repos/{full}/issues/comments/{}", c.id));
        json!({
            "url": api,
            "html_url": self.html(&format!("{full}/{kind}/{}#issuecomment-{}", c.issue_number, c.id)),
            "issue_url": self.api(&format!("repos/{full}/issues/{}", c.issue_number)),
            "id": c.id,
            "node_id": node_id("IC_", c.id),
            "user": self.user_json(&c.user),
            "created_at": ts(c.created_at),
            "updated_at": ts(c.updated_at),
            "author_association": self.association(repo, &c.user),
            "body": c.body,
            "reactions": self.reactions_rollup(format!("{api}/reactions"), &c.reactions),
            "performed_via_github_app": match c.via_app {
                None => Value::Null,
                Some(id) if id == self.app.id => self.app_json(Flavor::Hook),
                Some(id) => self.other_app_json(id, c.user.trim_end_matches("[bot]")),
            },
        })
    }

    /// `reaction`.
    pub fn reaction_json(&self, r: &Reaction) -> Value {
        json!({
            "id": r.id,
            "node_id": node_id("REA_", r.id),
            "user": self.user_json(&r.user),
            "content": r.content,
            "created_at": ts(r.created_at),
        })
    }

    fn branch_end(&self, repo: &Repo, branch: &str, sha: &str, flavor: Flavor) -> Value {
        json!({
            "label": format!("{}:{branch}", repo.owner),
            "ref": branch,
            "sha": sha,
            "user": self.user_json(&repo.owner),
            "repo": self.repo_json(repo, flavor),
        })
    }

    /// `pull-request` (full; `simple` drops the counters that `simple-pull-request` lacks).
    pub fn pull_json(&self, repo: &Repo, p: &Pull, flavor: Flavor, simple: bool) -> Value {
        let Some(issue) = repo.issues.get(&p.number) else {
            return Value::Null;
        };
        let full = repo.full_name();
        let api = self.api(&format!("repos/{full}/pulls/{}", p.number));
        let html = self.html(&format!("{full}/pull/{}", p.number));
        let issue_api = self.api(&format!("repos/{full}/issues/{}", p.number));
        let base_sha = repo
            .refs
            .get(&format!("heads/{}", p.base_ref))
            .cloned()
            .unwrap_or_default();
        let statuses = self.api(&format!("repos/{full}/statuses/{}", p.head_sha));
        let links = json!({
        "self": {"href": api},
        "html": {"href": html},
        "issue": {"href": issue_api},
        "comments": {"href": format!("{issue_api}/comments")},
        "review_comments": {"href": format!("{api}/comments")},
        "review_comment": {"href": self.api(&format!("repos/{full}/pulls/comments{{/number}}"))},
        "commits": {"href": format!("{api}/commits")},
        "statuses": {"href": statuses},
        });
        let mut v = json!({
            "url": api,
            "id": p.id,
            "node_id": node_id("PR_", p.id),
            "html_url": html,
            "diff_url": format!("{html}.diff"),
            "patch_url": format!("{html}.patch"),
            "issue_url": issue_api,
            "number": p.number,
            "state": if issue.open { "open" } else { "closed" },
            "locked": false,
            "title": issue.title,
            "user": self.user_json(&issue.user),
            "body": issue.body,
            "created_at": ts(issue.created_at),
            "updated_at": ts(issue.updated_at),
            "closed_at": issue.closed_at.map(ts),
            "merged_at": p.merged_at.map(ts),
            "merge_commit_sha": p.merge_commit_sha,
            "assignee": null,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "labels": issue.labels.iter().map(|l| self.label_json(repo, l)).collect::<Vec<_>>(),
            "milestone": null,
            "draft": p.draft,
            "commits_url": format!("{api}/commits"),
            "review_comments_url": format!("{api}/comments"),
            "review_comment_url": self.api(&format!("repos/{full}/pulls/comments{{/number}}")),
            "comments_url": format!("{issue_api}/comments"),
            "statuses_url": statuses,
            "head": self.branch_end(repo, &p.head_ref, &p.head_sha, flavor),
            "base": self.branch_end(repo, &p.base_ref, &base_sha, flavor),
            "_links": links,
            "author_association": self.association(repo, &issue.user),
            "auto_merge": null,
            "active_lock_reason": null,
        });
        if !simple {
            let files = self.pull_files(repo, p).len();
            let comments = repo
                .comments
                .values()
                .filter(|c| c.issue_number == p.number)
                .count();
            let open = issue.open;
            v["merged"] = json!(p.merged);
            v["mergeable"] = if open {
                json!(self.mergeable(repo, p))
            } else {
                Value::Null
            };
            v["rebaseable"] = json!(false);
            v["mergeable_state"] = json!(if !open {
                "unknown"
            } else if self.mergeable(repo, p) {
                "clean"
            } else {
                "dirty"
            });
            v["merged_by"] = p
                .merged_by
                .as_ref()
                .map(|l| self.user_json(l))
                .unwrap_or(Value::Null);
            v["comments"] = json!(comments);
            v["review_comments"] = json!(0);
            v["maintainer_can_modify"] = json!(false);
            v["commits"] = json!(1);
            v["additions"] = json!(0);
            v["deletions"] = json!(0);
            v["changed_files"] = json!(files);
        }
        v
    }

    /// Files changed by a pull request: its head against the merge base with the base branch.
    pub fn pull_files(&self, repo: &Repo, p: &Pull) -> Vec<super::git::FileChange> {
        let base_tip = repo.refs.get(&format!("heads/{}", p.base_ref));
        let base = base_tip.and_then(|b| self.git.merge_base(b, &p.head_sha));
        let empty = Default::default();
        let old = base
            .as_deref()
            .and_then(|b| self.git.files_at(b))
            .unwrap_or(&empty);
        let new = self.git.files_at(&p.head_sha).unwrap_or(&empty);
        GitStore::diff(old, new)
    }

    /// Whether the pull request merges without conflicts.
    pub fn mergeable(&self, repo: &Repo, p: &Pull) -> bool {
        self.merged_tree(repo, p).is_ok()
    }

    /// The tree a merge of `p` into its base would produce, or the conflicting path.
    pub fn merged_tree(&self, repo: &Repo, p: &Pull) -> Result<super::git::FlatTree, String> {
        let base_tip = repo
            .refs
            .get(&format!("heads/{}", p.base_ref))
            .ok_or_else(|| p.base_ref.clone())?;
        let empty = Default::default();
        let mb = self.git.merge_base(base_tip, &p.head_sha);
        let base = mb
            .as_deref()
            .and_then(|b| self.git.files_at(b))
            .unwrap_or(&empty);
        let ours = self.git.files_at(base_tip).unwrap_or(&empty);
        let theirs = self.git.files_at(&p.head_sha).unwrap_or(&empty);
        GitStore::merge_trees(base, ours, theirs)
    }

    /// `pull-request-review`.
    pub fn review_json(&self, repo: &Repo, r: &Review) -> Value {
        let full = repo.full_name();
        let html = self.html(&format!(
            "{full}/pull/{}#pullrequestreview-{}",
            r.pull_number, r.id
        ));
        let pr_api = self.api(&format!("repos/{full}/pulls/{}", r.pull_number));
        json!({
            "id": r.id,
            "node_id": node_id("PRR_", r.id),
            "user": self.user_json(&r.user),
            "body": r.body,
            "commit_id": r.commit_id,
            "submitted_at": ts(r.submitted_at),
            "state": r.state.rest_name(),
            "html_url": html,
            "pull_request_url": pr_api,
            "author_association": self.association(repo, &r.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_api}},
        })
    }
}

/// The permissions the simulated app holds (tfpilot's minimum set).
pub(crate) fn app_permissions() -> Value {
    json!({
        "actions": "write",
        "checks": "write",
        "contents": "write",
        "issues": "write",
        "metadata": "read",
        "members": "read",
        "pull_requests": "write",
    })
}

/// The events the simulated app subscribes to.
pub(crate) fn app_events() -> Value {
    json!([
        "check_run",
        "check_suite",
        "issue_comment",
        "issues",
        "pull_request",
        "pull_request_review",
        "workflow_job",
        "workflow_run"
    ])
}
