//! [`GitHub`] on the real client: one function per REST operation.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::client::{GitHubClient, decode};
use super::error::{GitHubError, GitHubResult};
use super::path::{query, segment, segments};
use super::transport::ApiRequest;
use super::types::*;
use super::{GitHub, Repo};

/// GitHub refuses more than three check run buttons; say so before sending.
const MAX_CHECK_ACTIONS: usize = 3;

fn repo_path(repo: &Repo) -> String {
    format!("/repos/{}/{}", segment(&repo.owner), segment(&repo.name))
}

fn to_body<T: serde::Serialize>(value: &T) -> GitHubResult<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| GitHubError::Invalid(format!("cannot encode the request body: {e}")))
}

fn check_actions(count: usize) -> GitHubResult<()> {
    if count > MAX_CHECK_ACTIONS {
        return Err(GitHubError::Invalid(format!(
            "a check run takes at most {MAX_CHECK_ACTIONS} actions, got {count}"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct ContentFile {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    sha: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    encoding: String,
}

#[derive(Deserialize)]
struct DispatchResponse {
    workflow_run_id: u64,
    #[serde(default)]
    run_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

#[async_trait]
impl GitHub for GitHubClient {
    async fn create_comment(
        &self,
        repo: &Repo,
        issue_number: u64,
        body: &str,
    ) -> GitHubResult<IssueComment> {
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            format!("{}/issues/{issue_number}/comments", repo_path(repo)),
        )
        .with_body(json!({ "body": body }));
        self.json(repo.installation_id, req).await
    }

    async fn update_comment(
        &self,
        repo: &Repo,
        comment_id: u64,
        body: &str,
    ) -> GitHubResult<IssueComment> {
        let req = ApiRequest::new(
            Method::PATCH,
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            format!("{}/issues/comments/{comment_id}", repo_path(repo)),
        )
        .with_body(json!({ "body": body }));
        self.json(repo.installation_id, req).await
    }

    async fn get_comment(&self, repo: &Repo, comment_id: u64) -> GitHubResult<IssueComment> {
        let req = ApiRequest::new(
            Method::GET,
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            format!("{}/issues/comments/{comment_id}", repo_path(repo)),
        );
        self.json(repo.installation_id, req).await
    }

    async fn delete_comment(&self, repo: &Repo, comment_id: u64) -> GitHubResult<()> {
        let req = ApiRequest::new(
            Method::DELETE,
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            format!("{}/issues/comments/{comment_id}", repo_path(repo)),
        );
        self.no_content(repo.installation_id, req).await
    }

    async fn list_comments(
        &self,
        repo: &Repo,
        issue_number: u64,
    ) -> GitHubResult<Vec<IssueComment>> {
        self.all_pages(
            repo.installation_id,
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            format!("{}/issues/{issue_number}/comments", repo_path(repo)),
            None,
        )
        .await
    }

    async fn create_comment_reaction(
        &self,
        repo: &Repo,
        comment_id: u64,
        content: ReactionContent,
    ) -> GitHubResult<Reaction> {
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            format!("{}/issues/comments/{comment_id}/reactions", repo_path(repo)),
        )
        .with_body(json!({ "content": content }));
        self.json(repo.installation_id, req).await
    }

    async fn create_issue_reaction(
        &self,
        repo: &Repo,
        issue_number: u64,
        content: ReactionContent,
    ) -> GitHubResult<Reaction> {
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/issues/{issue_number}/reactions",
            format!("{}/issues/{issue_number}/reactions", repo_path(repo)),
        )
        .with_body(json!({ "content": content }));
        self.json(repo.installation_id, req).await
    }

    async fn get_issue(&self, repo: &Repo, issue_number: u64) -> GitHubResult<Issue> {
        let req = ApiRequest::new(
            Method::GET,
            "/repos/{owner}/{repo}/issues/{issue_number}",
            format!("{}/issues/{issue_number}", repo_path(repo)),
        );
        self.json(repo.installation_id, req).await
    }

    async fn update_issue(
        &self,
        repo: &Repo,
        issue_number: u64,
        update: &IssueUpdate,
    ) -> GitHubResult<Issue> {
        let req = ApiRequest::new(
            Method::PATCH,
            "/repos/{owner}/{repo}/issues/{issue_number}",
            format!("{}/issues/{issue_number}", repo_path(repo)),
        )
        .with_body(to_body(update)?);
        self.json(repo.installation_id, req).await
    }

    async fn add_labels(
        &self,
        repo: &Repo,
        issue_number: u64,
        labels: &[String],
    ) -> GitHubResult<Vec<Label>> {
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/issues/{issue_number}/labels",
            format!("{}/issues/{issue_number}/labels", repo_path(repo)),
        )
        .with_body(json!({ "labels": labels }));
        self.json(repo.installation_id, req).await
    }

    async fn get_pull(&self, repo: &Repo, number: u64) -> GitHubResult<PullRequest> {
        let req = ApiRequest::new(
            Method::GET,
            "/repos/{owner}/{repo}/pulls/{pull_number}",
            format!("{}/pulls/{number}", repo_path(repo)),
        );
        self.json(repo.installation_id, req).await
    }

    async fn create_pull(&self, repo: &Repo, pull: &NewPullRequest) -> GitHubResult<PullRequest> {
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/pulls",
            format!("{}/pulls", repo_path(repo)),
        )
        .with_body(to_body(pull)?);
        self.json(repo.installation_id, req).await
    }

    async fn update_pull(
        &self,
        repo: &Repo,
        number: u64,
        update: &PullRequestUpdate,
    ) -> GitHubResult<PullRequest> {
        let req = ApiRequest::new(
            Method::PATCH,
            "/repos/{owner}/{repo}/pulls/{pull_number}",
            format!("{}/pulls/{number}", repo_path(repo)),
        )
        .with_body(to_body(update)?);
        self.json(repo.installation_id, req).await
    }

    async fn merge_pull(
        &self,
        repo: &Repo,
        number: u64,
        merge: &MergeRequest,
    ) -> GitHubResult<MergeResult> {
        let req = ApiRequest::new(
            Method::PUT,
            "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            format!("{}/pulls/{number}/merge", repo_path(repo)),
        )
        .with_body(to_body(merge)?);
        self.json(repo.installation_id, req).await
    }

    async fn list_reviews(&self, repo: &Repo, number: u64) -> GitHubResult<Vec<Review>> {
        self.all_pages(
            repo.installation_id,
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            format!("{}/pulls/{number}/reviews", repo_path(repo)),
            None,
        )
        .await
    }

    async fn list_pulls_by_head(
        &self,
        repo: &Repo,
        branch: &str,
    ) -> GitHubResult<Vec<PullRequest>> {
        let head = format!("{}:{branch}", repo.owner);
        let q = query([("state", Some("all")), ("head", Some(head.as_str()))]);
        self.all_pages(
            repo.installation_id,
            "/repos/{owner}/{repo}/pulls",
            format!("{}/pulls{q}", repo_path(repo)),
            None,
        )
        .await
    }

    async fn create_check_run(&self, repo: &Repo, check: &NewCheckRun) -> GitHubResult<CheckRun> {
        check_actions(check.actions.len())?;
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/check-runs",
            format!("{}/check-runs", repo_path(repo)),
        )
        .with_body(to_body(check)?);
        self.json(repo.installation_id, req).await
    }

    async fn update_check_run(
        &self,
        repo: &Repo,
        check_run_id: u64,
        update: &CheckRunUpdate,
    ) -> GitHubResult<CheckRun> {
        check_actions(update.actions.as_ref().map_or(0, Vec::len))?;
        let req = ApiRequest::new(
            Method::PATCH,
            "/repos/{owner}/{repo}/check-runs/{check_run_id}",
            format!("{}/check-runs/{check_run_id}", repo_path(repo)),
        )
        .with_body(to_body(update)?);
        self.json(repo.installation_id, req).await
    }

    async fn get_ref(&self, repo: &Repo, git_ref: &str) -> GitHubResult<GitRef> {
        let req = ApiRequest::new(
            Method::GET,
            "/repos/{owner}/{repo}/git/ref/{ref}",
            format!("{}/git/ref/{}", repo_path(repo), segments(git_ref)),
        );
        self.json(repo.installation_id, req).await
    }

    async fn get_commit(&self, repo: &Repo, sha: &str) -> GitHubResult<GitCommit> {
        let req = ApiRequest::new(
            Method::GET,
            "/repos/{owner}/{repo}/git/commits/{commit_sha}",
            format!("{}/git/commits/{}", repo_path(repo), segment(sha)),
        );
        self.json(repo.installation_id, req).await
    }

    async fn create_blob(&self, repo: &Repo, content: &[u8]) -> GitHubResult<Blob> {
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/git/blobs",
            format!("{}/git/blobs", repo_path(repo)),
        )
        .with_body(json!({ "content": STANDARD.encode(content), "encoding": "base64" }));
        self.json(repo.installation_id, req).await
    }

    async fn create_tree(
        &self,
        repo: &Repo,
        base_tree: &str,
        entries: &[TreeEntry],
    ) -> GitHubResult<GitTree> {
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/git/trees",
            format!("{}/git/trees", repo_path(repo)),
        )
        .with_body(json!({ "base_tree": base_tree, "tree": to_body(&entries)? }));
        self.json(repo.installation_id, req).await
    }

    async fn create_commit(
        &self,
        repo: &Repo,
        message: &str,
        tree: &str,
        parents: &[String],
    ) -> GitHubResult<GitCommit> {
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/git/commits",
            format!("{}/git/commits", repo_path(repo)),
        )
        .with_body(json!({ "message": message, "tree": tree, "parents": parents }));
        self.json(repo.installation_id, req).await
    }

    async fn create_ref(&self, repo: &Repo, full_ref: &str, sha: &str) -> GitHubResult<GitRef> {
        let req = ApiRequest::new(
            Method::POST,
            "/repos/{owner}/{repo}/git/refs",
            format!("{}/git/refs", repo_path(repo)),
        )
        .with_body(json!({ "ref": full_ref, "sha": sha }));
        self.json(repo.installation_id, req).await
    }

    async fn update_ref(
        &self,
        repo: &Repo,
        git_ref: &str,
        sha: &str,
        force: bool,
    ) -> GitHubResult<GitRef> {
        let req = ApiRequest::new(
            Method::PATCH,
            "/repos/{owner}/{repo}/git/refs/{ref}",
            format!("{}/git/refs/{}", repo_path(repo), segments(git_ref)),
        )
        .with_body(json!({ "sha": sha, "force": force }));
        self.json(repo.installation_id, req).await
    }

    async fn get_file(
        &self,
        repo: &Repo,
        path: &str,
        git_ref: Option<&str>,
    ) -> GitHubResult<FileContent> {
        const ROUTE: &str = "/repos/{owner}/{repo}/contents/{path}";
        let req = ApiRequest::new(
            Method::GET,
            ROUTE,
            format!(
                "{}/contents/{}{}",
                repo_path(repo),
                segments(path.trim_start_matches('/')),
                query([("ref", git_ref)])
            ),
        );
        let answer = self.as_installation(repo.installation_id, &req).await?;
        // A directory answers with an array: that is "not a file" rather than garbage.
        let value: serde_json::Value = decode(ROUTE, &answer.body)?;
        if value.is_array() {
            return Err(GitHubError::Decode {
                route: ROUTE,
                message: format!("{path} is a directory"),
            });
        }
        let file: ContentFile = serde_json::from_value(value).map_err(|e| GitHubError::Decode {
            route: ROUTE,
            message: e.to_string(),
        })?;
        if file.kind != "file" || file.encoding != "base64" {
            return Err(GitHubError::Decode {
                route: ROUTE,
                message: format!("{path} is a {} ({} encoding)", file.kind, file.encoding),
            });
        }
        // GitHub wraps the base64 at 60 columns.
        let compact: String = file.content.split_ascii_whitespace().collect();
        let content = STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| GitHubError::Decode {
                route: ROUTE,
                message: format!("{path}: bad base64: {e}"),
            })?;
        Ok(FileContent {
            path: file.path,
            sha: file.sha,
            content,
        })
    }

    async fn get_repository(&self, repo: &Repo) -> GitHubResult<Repository> {
        let req = ApiRequest::new(Method::GET, "/repos/{owner}/{repo}", repo_path(repo));
        self.json(repo.installation_id, req).await
    }

    async fn collaborator_permission(
        &self,
        repo: &Repo,
        username: &str,
    ) -> GitHubResult<CollaboratorPermission> {
        let req = ApiRequest::new(
            Method::GET,
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            format!(
                "{}/collaborators/{}/permission",
                repo_path(repo),
                segment(username)
            ),
        );
        self.json(repo.installation_id, req).await
    }

    async fn team_membership(
        &self,
        installation_id: u64,
        org: &str,
        team_slug: &str,
        username: &str,
    ) -> GitHubResult<Option<TeamMembership>> {
        let req = ApiRequest::new(
            Method::GET,
            "/orgs/{org}/teams/{team_slug}/memberships/{username}",
            format!(
                "/orgs/{}/teams/{}/memberships/{}",
                segment(org),
                segment(team_slug),
                segment(username)
            ),
        );
        match self.json(installation_id, req).await {
            Ok(membership) => Ok(Some(membership)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn dispatch_workflow(
        &self,
        repo: &Repo,
        workflow: &str,
        git_ref: &str,
        inputs: &WorkflowInputs,
    ) -> GitHubResult<DispatchOutcome> {
        const ROUTE: &str = "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";
        let path = format!(
            "{}/actions/workflows/{}/dispatches",
            repo_path(repo),
            segment(workflow)
        );
        let with_details = ApiRequest::new(Method::POST, ROUTE, path.clone())
            .with_body(json!({ "ref": git_ref, "inputs": inputs, "return_run_details": true }));
        match self
            .as_installation(repo.installation_id, &with_details)
            .await
        {
            Ok(answer) if answer.body.is_empty() => Ok(DispatchOutcome::default()),
            Ok(answer) => {
                let details: DispatchResponse = decode(ROUTE, &answer.body)?;
                Ok(DispatchOutcome {
                    run_id: Some(details.workflow_run_id),
                    run_url: details.run_url,
                    html_url: details.html_url,
                })
            }
            Err(GitHubError::Validation {
                status: 400 | 422,
                message,
                ..
            }) if message.contains("return_run_details") => {
                // Older GitHub Enterprise Server: no run id; correlation falls back to the
                // nonce in the run's display title.
                tracing::info!(
                    route = ROUTE,
                    "return_run_details not supported; dispatching without it"
                );
                let plain = ApiRequest::new(Method::POST, ROUTE, path)
                    .with_body(json!({ "ref": git_ref, "inputs": inputs }));
                self.no_content(repo.installation_id, plain).await?;
                Ok(DispatchOutcome::default())
            }
            Err(e) => Err(e),
        }
    }

    async fn get_workflow_run(&self, repo: &Repo, run_id: u64) -> GitHubResult<WorkflowRun> {
        let req = ApiRequest::new(
            Method::GET,
            "/repos/{owner}/{repo}/actions/runs/{run_id}",
            format!("{}/actions/runs/{run_id}", repo_path(repo)),
        );
        self.json(repo.installation_id, req).await
    }

    async fn list_workflow_runs(
        &self,
        repo: &Repo,
        filter: &RunFilter,
    ) -> GitHubResult<Vec<WorkflowRun>> {
        #[derive(Deserialize)]
        struct Runs {
            workflow_runs: Vec<WorkflowRun>,
        }
        let per_page = filter.per_page.map(|n| n.clamp(1, 100).to_string());
        let q = query([
            ("branch", filter.branch.as_deref()),
            ("event", filter.event.as_deref()),
            ("created", filter.created.as_deref()),
            ("head_sha", filter.head_sha.as_deref()),
            ("per_page", per_page.as_deref()),
        ]);
        let req = match &filter.workflow {
            Some(workflow) => ApiRequest::new(
                Method::GET,
                "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
                format!(
                    "{}/actions/workflows/{}/runs{q}",
                    repo_path(repo),
                    segment(workflow)
                ),
            ),
            None => ApiRequest::new(
                Method::GET,
                "/repos/{owner}/{repo}/actions/runs",
                format!("{}/actions/runs{q}", repo_path(repo)),
            ),
        };
        let runs: Runs = self.json(repo.installation_id, req).await?;
        Ok(runs.workflow_runs)
    }

    async fn list_run_jobs(&self, repo: &Repo, run_id: u64) -> GitHubResult<Vec<Job>> {
        self.all_pages(
            repo.installation_id,
            "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
            format!("{}/actions/runs/{run_id}/jobs", repo_path(repo)),
            Some("jobs"),
        )
        .await
    }

    async fn list_run_artifacts(&self, repo: &Repo, run_id: u64) -> GitHubResult<Vec<Artifact>> {
        self.all_pages(
            repo.installation_id,
            "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
            format!("{}/actions/runs/{run_id}/artifacts", repo_path(repo)),
            Some("artifacts"),
        )
        .await
    }

    async fn download_artifact(&self, repo: &Repo, artifact_id: u64) -> GitHubResult<Vec<u8>> {
        const ROUTE: &str =
            "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}";
        let path = format!("{}/actions/artifacts/{artifact_id}/zip", repo_path(repo));
        let mut renewed = false;
        loop {
            let token = self.installation_token(repo.installation_id).await?;
            let answer = self.transport.download(ROUTE, &path, &token).await?;
            if answer.status == http::StatusCode::UNAUTHORIZED && !renewed {
                self.tokens_invalidate(repo.installation_id, &token).await;
                renewed = true;
                continue;
            }
            if answer.status.is_success() {
                return Ok(answer.body.to_vec());
            }
            return Err(super::transport::error_for(ROUTE, &answer));
        }
    }

    async fn get_repo_installation(&self, owner: &str, name: &str) -> GitHubResult<u64> {
        const ROUTE: &str = "/repos/{owner}/{repo}/installation";
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let req = ApiRequest::new(
            Method::GET,
            ROUTE,
            format!("/repos/{}/{}/installation", segment(owner), segment(name)),
        );
        let answer = self.as_app(&req).await?;
        let installation: Installation = decode(ROUTE, &answer.body)?;
        Ok(installation.id)
    }

    async fn list_webhook_deliveries(
        &self,
        cursor: Option<&str>,
        per_page: u8,
    ) -> GitHubResult<DeliveryPage> {
        const ROUTE: &str = "/app/hook/deliveries";
        let per_page = per_page.clamp(1, 100).to_string();
        let q = query([("per_page", Some(per_page.as_str())), ("cursor", cursor)]);
        let req = ApiRequest::new(Method::GET, ROUTE, format!("/app/hook/deliveries{q}"));
        let answer = self.as_app(&req).await?;
        let deliveries = decode(ROUTE, &answer.body)?;
        let next_cursor = self.transport.next_page(&answer.headers).and_then(|next| {
            let (_, q) = next.split_once('?')?;
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned())
        });
        Ok(DeliveryPage {
            deliveries,
            next_cursor,
        })
    }

    async fn redeliver_webhook(&self, delivery_id: u64) -> GitHubResult<()> {
        let req = ApiRequest::new(
            Method::POST,
            "/app/hook/deliveries/{delivery_id}/attempts",
            format!("/app/hook/deliveries/{delivery_id}/attempts"),
        );
        self.as_app(&req).await?;
        Ok(())
    }
}
