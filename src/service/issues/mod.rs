//! `issues`: a labelled issue from the request form becomes a request with a
//! branch, one file, a PR and a plan.
//!
//! Every step finds what an earlier attempt left before it creates anything, so a
//! duplicate delivery, a concurrent `opened`/`labeled` pair or a crash midway
//! resumes and never makes a second request, branch, commit, PR, comment or
//! dispatch for one issue:
//!
//! 1. the issue → request index, written first with If-None-Match (first writer
//!    wins; every later delivery reads the same id);
//! 2. the request doc, created from the validated form (a later delivery continues
//!    from its facts, not from the issue body, which may have been edited since);
//! 3. branch `request/<id>` with the one rendered file (reused when it exists);
//! 4. the PR (reused when one exists for the branch), recorded and indexed;
//! 5. tfpilot's one issue comment, now linking the PR;
//! 6. the plan, dispatched under the once-key `plan-initial-<id>`.

pub mod comment;
pub mod text;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::config::catalogue::{InputValue, ModuleSource};
use crate::config::repo::{DEFAULT_REQUEST_LABEL, RepoConfig};
use crate::core::hcl::{
    ModuleFile, RenderedFile, module_arguments, render_module_file, request_file_path,
};
use crate::core::ids::{RequestId, SUFFIX_LEN};
use crate::core::issue_form::{
    FieldProblem, RequestInputs, parse_request, render_problems_comment,
};
use crate::core::patch::{PrUpdate, patch_pr};
use crate::core::request::{RenderFacts, Request, TimelineEntry, WorkflowKind};
use crate::core::webhook::IssuesEvent;
use crate::github::{FileChange, GitHubError, NewPullRequest, PullRequest, Repo, commit_files};
use crate::store::Thread;

use super::dispatch::dispatch;
use super::pull_request::approval_rule;
use super::repo_config::RepoConfigError;
use super::{Outcome, Service, ServiceError, repo_of};
use text::TEMPLATE_ID;

/// True for issue actions that may create or re-check a request: labelled issues
/// (not PRs, not closed) in an installation, not by bots. Which label marks requests
/// needs the repo config, so [`handle`] checks that; an issue without any label costs
/// no call at all.
pub fn is_relevant(e: &IssuesEvent) -> bool {
    matches!(
        e.action.as_str(),
        "opened" | "edited" | "labeled" | "reopened"
    ) && e.installation.is_some()
        && !e.issue.labels.is_empty()
        && !e.issue.is_pull_request()
        && !e.sender.is_bot()
        && !e.issue.user.is_bot()
        && e.issue.state.as_deref() != Some("closed")
}

/// A random request id suffix: [`SUFFIX_LEN`] lowercase alphanumerics.
pub fn new_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..SUFFIX_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Handles a relevant `issues` delivery: validates the form, replies with its
/// problems, or creates (or resumes creating) the request.
pub async fn handle(svc: &Service, e: &IssuesEvent) -> Result<Outcome, ServiceError> {
    let repo = repo_of(&e.repository, e.installation.as_ref().map(|i| i.id))
        .ok_or(ServiceError::Incomplete("installation"))?;
    let config = match svc.repo_configs.get(&*svc.github, &repo).await {
        Ok(config) => config,
        Err(RepoConfigError::GitHub(err)) => return Err(err.into()),
        Err(err) => {
            // Without the config the label is unknown; an issue with the default one was
            // surely meant for tfpilot, and its author deserves to know why nothing happens.
            if e.issue.has_label(DEFAULT_REQUEST_LABEL) {
                let body = text::config_problem_comment(&err.to_string());
                let changed = comment::show(svc, &repo, e.issue.number, &body).await?;
                return Ok(Outcome::saved(changed));
            }
            tracing::warn!(
                event = "issue_form.no_config",
                repo = %repo.full_name(),
                issue = e.issue.number,
                error = %err,
                "repository config unusable; issue ignored"
            );
            return Ok(Outcome::Ignored);
        }
    };
    if !e.issue.has_label(&config.request_label) {
        return Ok(Outcome::Ignored);
    }
    let number = e.issue.number;
    let linked = svc
        .index
        .find(Thread::Issue, &repo.owner, &repo.name, number)
        .await?;
    let id = match linked {
        Some(id) => id,
        None => {
            let body = e.issue.body.as_deref().unwrap_or("");
            let inputs = match parse_request(&config, body) {
                Ok(inputs) => inputs,
                Err(problems) => return show_problems(svc, &repo, number, &problems).await,
            };
            let fresh = RequestId::generate(&inputs.environment, &inputs.module, &new_suffix())
                .map_err(|_| {
                    ServiceError::Incomplete("a request id for this environment and module")
                })?;
            // First writer wins: a concurrent or later delivery gets the same id back.
            svc.index
                .link(
                    Thread::Issue,
                    &repo.owner,
                    &repo.name,
                    number,
                    fresh.as_str(),
                )
                .await?
        }
    };
    let id = RequestId::parse(&id)
        .map_err(|_| ServiceError::Incomplete("a valid indexed request id"))?;
    create_request(svc, &repo, &config, e, &id).await
}

async fn show_problems(
    svc: &Service,
    repo: &Repo,
    number: u64,
    problems: &[FieldProblem],
) -> Result<Outcome, ServiceError> {
    let changed = comment::show(svc, repo, number, &render_problems_comment(problems)).await?;
    tracing::info!(
        event = "issue_form.invalid",
        repo = %repo.full_name(),
        issue = number,
        problems = problems.len(),
        "request form has problems"
    );
    Ok(Outcome::saved(changed))
}

/// Steps 2–6 for request `id`, each resuming from what an earlier attempt left.
async fn create_request(
    svc: &Service,
    repo: &Repo,
    config: &RepoConfig,
    e: &IssuesEvent,
    id: &RequestId,
) -> Result<Outcome, ServiceError> {
    let number = e.issue.number;
    let mut changed = false;
    let request = match svc.requests.get(id.as_str()).await? {
        Some(existing) => {
            if e.action == "edited" && form_differs(config, e, &existing) {
                comment::mark_edited_after_creation(svc, repo, number).await?;
            }
            existing
        }
        None if svc.requests.get_archived(id.as_str()).await?.is_some() => {
            // Destroyed and archived: the issue's story is over; an edit must not
            // bring the request back.
            tracing::info!(
                event = "issue_form.archived",
                request_id = %id.as_str(),
                issue = number,
                "request issue of an archived request; nothing to do"
            );
            return Ok(Outcome::Unchanged);
        }
        None => {
            // Only a crash between the index write and this create gets here with an
            // edited body; the id already names environment and module, so the form
            // must still agree with it.
            let body = e.issue.body.as_deref().unwrap_or("");
            let inputs = match parse_request(config, body) {
                Ok(inputs) => inputs,
                Err(problems) => return show_problems(svc, repo, number, &problems).await,
            };
            if let Some(problem) = id_mismatch(id, &inputs) {
                return show_problems(svc, repo, number, &[problem]).await;
            }
            let requester = e.issue.user.login.clone();
            let doc = new_request(svc, repo, config, e, id, &inputs, &requester).await?;
            match svc.requests.create(&doc).await {
                Ok(()) => {
                    changed = true;
                    tracing::info!(
                        event = "request.created",
                        request_id = %id.as_str(),
                        issue = number,
                        "request created from issue"
                    );
                    doc
                }
                Err(err) if err.is_precondition_failed() => svc
                    .requests
                    .get(id.as_str())
                    .await?
                    .ok_or(ServiceError::Incomplete("the request doc just created"))?,
                Err(err) => return Err(err.into()),
            }
        }
    };
    // Once the PR is recorded the branch was pushed: after a merge GitHub may have
    // deleted it, and it must not come back.
    if request.pr().is_none() {
        changed |= Box::pin(ensure_branch(svc, repo, config, &request)).await?;
    }
    let (request, pr_changed) = Box::pin(ensure_pr(svc, repo, &request)).await?;
    changed |= pr_changed;
    let pr = request
        .pr()
        .ok_or(ServiceError::Incomplete("the request's PR"))?;
    let thread = comment::load(svc, repo, number).await?;
    let body = text::created_comment(id.as_str(), pr.number, thread.edited_after_creation);
    changed |= comment::show(svc, repo, number, &body).await?;
    let once = format!("plan-initial-{}", id.as_str());
    let branch = id.branch();
    // Boxed for the same reason as the effects pass it runs.
    let dispatched = Box::pin(dispatch(
        svc,
        repo,
        &request,
        WorkflowKind::Plan,
        &branch,
        &[],
        Some(&once),
    ))
    .await?;
    changed |= matches!(dispatched, super::dispatch::Dispatched::Started { .. });
    Ok(Outcome::saved(changed))
}

/// Whether the issue's form now asks for something other than the request holds
/// (an edit of the title, or of the body that changes no answer, is no news).
fn form_differs(config: &RepoConfig, e: &IssuesEvent, request: &Request) -> bool {
    let body = e.issue.body.as_deref().unwrap_or("");
    let Ok(inputs) = parse_request(config, body) else {
        return true;
    };
    let requester = request.requester.as_deref().unwrap_or(&e.issue.user.login);
    let same = request.environment.as_deref() == Some(inputs.environment.as_str())
        && request.module.as_deref() == Some(inputs.module.as_str())
        && module_arguments(config, &inputs, &request.id, requester)
            .is_ok_and(|args| request.config.as_ref() == Some(&arguments_json(&args)));
    !same
}

/// When the form no longer names the environment and module the reserved id does.
fn id_mismatch(id: &RequestId, inputs: &RequestInputs) -> Option<FieldProblem> {
    let expected = RequestId::generate(&inputs.environment, &inputs.module, id.suffix()).ok();
    if expected.as_ref() == Some(id) {
        return None;
    }
    Some(FieldProblem {
        field: "environment".to_owned(),
        label: "Environment".to_owned(),
        message: format!(
            "this issue already reserved request `{}`, for environment `{}` and module `{}`",
            id.as_str(),
            id.env(),
            id.module()
        ),
        how_to_fix: "Change the answers back, or open a new issue for the other request."
            .to_owned(),
    })
}

/// The request doc for a newly validated form: inputs, render facts, module ref and
/// target, all recorded before anything is pushed.
async fn new_request(
    svc: &Service,
    repo: &Repo,
    config: &RepoConfig,
    e: &IssuesEvent,
    id: &RequestId,
    inputs: &RequestInputs,
    requester: &str,
) -> Result<Request, ServiceError> {
    let now = svc.now();
    let environment = config
        .environment(&inputs.environment)
        .ok_or(ServiceError::Incomplete(
            "the request's environment in the config",
        ))?;
    let module = config
        .module(&inputs.module)
        .ok_or(ServiceError::Incomplete(
            "the request's module in the catalogue",
        ))?;
    let source = module
        .module_source()
        .map_err(|_| ServiceError::Incomplete("a usable module source"))?;
    let directory = environment.directory(&inputs.environment);
    let arguments = module_arguments(config, inputs, id.as_str(), requester)
        .map_err(|_| ServiceError::Incomplete("renderable module arguments"))?;
    let file = render(id, &directory, &source, &arguments)?;
    // Rendering again from the same arguments must give the same bytes.
    let reproducible = render(id, &directory, &source, &arguments)? == file;
    let base = match &e.repository.default_branch {
        Some(branch) => branch.clone(),
        None => svc.github.get_repository(repo).await?.default_branch,
    };
    let base_sha = svc
        .github
        .get_ref(repo, &format!("heads/{base}"))
        .await?
        .object
        .sha;

    let mut request = Request::new(id);
    request.requester = Some(requester.to_owned());
    request.issue_number = Some(e.issue.number);
    request.project = inputs.project().map(str::to_owned);
    request.environment = Some(inputs.environment.clone());
    request.module = Some(inputs.module.clone());
    request.config = Some(arguments_json(&arguments));
    request.installation_id = Some(repo.installation_id);
    request.target_owner = Some(repo.owner.clone());
    request.target_repo = Some(repo.name.clone());
    request.target_base = Some(base);
    request.target_env_path = Some(directory);
    request.target_files = Some(vec![file.path.clone()]);
    request.branch_name = Some(id.branch());
    request.renderer_version = Some(file.renderer_version.to_owned());
    request.render = Some(RenderFacts {
        render_hash: Some(file.render_hash.clone()),
        inputs_hash: Some(file.inputs_hash.clone()),
        reproducible: Some(reproducible),
        computed_at: Some(now),
        extra: Map::new(),
    });
    if let Some(preset) = &inputs.preset {
        request
            .extra
            .insert(TEMPLATE_ID.to_owned(), Value::String(preset.clone()));
    }
    request.extra.insert(
        "moduleRef".to_owned(),
        module_ref(repo, &source, &base_sha, now),
    );
    request.push_timeline(TimelineEntry {
        at: Some(now),
        what: format!("request created from issue #{}", e.issue.number),
        who: Some(requester.to_owned()),
        extra: Map::new(),
    });
    Ok(request)
}

/// The seed's `moduleRef`: where the module's code is and the default branch commit
/// the catalogue was read at.
fn module_ref(repo: &Repo, source: &ModuleSource, commit: &str, now: DateTime<Utc>) -> Value {
    let mut out = match source {
        ModuleSource::RepoPath(path) => json!({"repo": repo.full_name(), "path": path}),
        ModuleSource::Registry { address, version } => {
            json!({"source": address, "version": version})
        }
        ModuleSource::Git { url, git_ref } => json!({"source": url, "ref": git_ref}),
    };
    out["commitSha"] = json!(commit);
    out["resolvedAt"] = json!(now);
    out
}

fn render(
    id: &RequestId,
    directory: &str,
    source: &ModuleSource,
    arguments: &BTreeMap<String, InputValue>,
) -> Result<RenderedFile, ServiceError> {
    render_module_file(&ModuleFile {
        request_id: id.as_str(),
        env_directory: directory,
        source,
        arguments,
    })
    .map_err(|err| {
        tracing::error!(event = "request.render_failed", request_id = %id.as_str(), error = %err, "render failed");
        ServiceError::Incomplete("a renderable request")
    })
}

/// Module arguments as stored in the request doc's `config`.
fn arguments_json(arguments: &BTreeMap<String, InputValue>) -> Map<String, Value> {
    arguments
        .iter()
        .filter_map(|(k, v)| serde_json::to_value(v).ok().map(|v| (k.clone(), v)))
        .collect()
}

/// The request doc's `config` back as module arguments (the shapes `arguments_json`
/// writes); `None` for a value no input type has.
pub fn arguments_from_json(config: &Map<String, Value>) -> Option<BTreeMap<String, InputValue>> {
    config
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::Bool(b) => InputValue::Bool(*b),
                Value::Number(n) => InputValue::Number(n.clone()),
                Value::String(s) => InputValue::String(s.clone()),
                Value::Array(items) => InputValue::List(
                    items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()?,
                ),
                Value::Object(map) => InputValue::Map(
                    map.iter()
                        .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                        .collect::<Option<BTreeMap<_, _>>>()?,
                ),
                Value::Null => return None,
            };
            Some((k.clone(), value))
        })
        .collect()
}

/// The request's file, rendered again from its stored facts (not from the issue body,
/// which may have changed since the request was created).
fn render_from_facts(
    config: &RepoConfig,
    request: &Request,
    id: &RequestId,
) -> Result<RenderedFile, ServiceError> {
    let module = request
        .module
        .as_deref()
        .and_then(|m| config.module(m))
        .ok_or(ServiceError::Incomplete(
            "the request's module in the catalogue",
        ))?;
    let source = module
        .module_source()
        .map_err(|_| ServiceError::Incomplete("a usable module source"))?;
    let directory = request
        .target_env_path
        .clone()
        .ok_or(ServiceError::Incomplete("the request's environment path"))?;
    let arguments = request
        .config
        .as_ref()
        .and_then(arguments_from_json)
        .ok_or(ServiceError::Incomplete("the request's module arguments"))?;
    let file = render(id, &directory, &source, &arguments)?;
    let recorded = request
        .render
        .as_ref()
        .and_then(|r| r.render_hash.as_deref());
    if recorded != Some(file.render_hash.as_str()) {
        // Only when the catalogue's source changed between a crash and the resume.
        tracing::warn!(
            event = "request.render_changed",
            request_id = %id.as_str(),
            "re-rendered file differs from the recorded render hash"
        );
    }
    if file.path != request_file_path(&directory, id.as_str()) {
        return Err(ServiceError::Incomplete("the request file path"));
    }
    Ok(file)
}

/// Step 3: branch `request/<id>` holding the request's file. An existing branch is
/// reused as it is (a crash after the push, or people's own commits on it); only a
/// branch without the file gets a commit.
async fn ensure_branch(
    svc: &Service,
    repo: &Repo,
    config: &RepoConfig,
    request: &Request,
) -> Result<bool, ServiceError> {
    let id = request
        .request_id()
        .map_err(|_| ServiceError::Incomplete("a valid request id"))?;
    let branch = id.branch();
    let base = request
        .target_base
        .clone()
        .ok_or(ServiceError::Incomplete("the request's base branch"))?;
    let file = render_from_facts(config, request, &id)?;
    match svc.github.get_ref(repo, &format!("heads/{branch}")).await {
        Ok(_) => match svc.github.get_file(repo, &file.path, Some(&branch)).await {
            Ok(found) => {
                if found.content != file.content.as_bytes() {
                    tracing::info!(
                        event = "request.branch_changed",
                        request_id = %id.as_str(),
                        "request branch holds a changed file; kept as it is"
                    );
                }
                return Ok(false);
            }
            Err(err) if err.is_not_found() => {}
            Err(err) => return Err(err.into()),
        },
        Err(err) if err.is_not_found() => {}
        Err(err) => return Err(err.into()),
    }
    let change = FileChange {
        path: file.path.clone(),
        content: Some(file.content.into_bytes()),
    };
    let message = format!(
        "tfpilot: {} ({})\n\nRequested in #{}.",
        id.as_str(),
        request.module.as_deref().unwrap_or("module"),
        request.issue_number.unwrap_or_default()
    );
    match commit_files(&*svc.github, repo, &branch, &base, &message, &[change]).await {
        Ok(commit) => {
            tracing::info!(
                event = "request.branch_pushed",
                request_id = %id.as_str(),
                commit = %commit.sha,
                "request branch pushed"
            );
            Ok(true)
        }
        // A concurrent delivery created the branch first: its commit is the one.
        Err(err) if is_conflict(&err) && branch_exists(svc, repo, &branch).await? => Ok(false),
        Err(err) => Err(err.into()),
    }
}

fn is_conflict(err: &GitHubError) -> bool {
    matches!(err.status(), Some(409 | 422))
}

async fn branch_exists(svc: &Service, repo: &Repo, branch: &str) -> Result<bool, ServiceError> {
    match svc.github.get_ref(repo, &format!("heads/{branch}")).await {
        Ok(_) => Ok(true),
        Err(err) if err.is_not_found() => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Step 4: the request's PR, found (recorded in the doc, or open for the branch) or
/// opened, then recorded in the doc and the PR index. Returns the stored request.
async fn ensure_pr(
    svc: &Service,
    repo: &Repo,
    request: &Request,
) -> Result<(Request, bool), ServiceError> {
    let id = request.id.clone();
    let pr_number = match request.pr() {
        Some(pr) => pr.number,
        None => {
            let pr = find_or_open_pr(svc, repo, request).await?;
            let update = PrUpdate {
                number: pr.number,
                url: Some(pr.html_url.clone()),
                title: Some(pr.title.clone()),
                head_sha: Some(pr.head.sha.clone()),
                base_ref: Some(pr.base.ref_name.clone()),
                open: pr.state == crate::github::IssueState::Open,
                merged: pr.merged,
                merge_commit_sha: pr.merge_commit_sha.clone(),
                updated_at: pr.updated_at,
                actor: None,
            };
            let rule = approval_rule(svc, repo, request).await?;
            let updated = svc
                .requests
                .update(&id, |current| {
                    // A concurrent delivery or the PR's own webhook may have recorded it.
                    if current.pr().is_some() {
                        return None;
                    }
                    patch_pr(current, &update, &rule)
                })
                .await?;
            if updated.saved {
                // Boxed: the effects pass is a deep future, and debug builds put every
                // level of it on the delivery task's stack.
                Box::pin(super::effects::request_saved(svc, &updated.request)).await;
            }
            pr.number
        }
    };
    svc.index
        .link(Thread::Pr, &repo.owner, &repo.name, pr_number, &id)
        .await?;
    let stored = svc
        .requests
        .get(&id)
        .await?
        .ok_or(ServiceError::Incomplete("the request doc"))?;
    let created = request.pr().is_none();
    Ok((stored, created))
}

async fn find_or_open_pr(
    svc: &Service,
    repo: &Repo,
    request: &Request,
) -> Result<PullRequest, ServiceError> {
    let branch = request
        .branch_name
        .clone()
        .ok_or(ServiceError::Incomplete("the request's branch"))?;
    if let Some(pr) = svc
        .github
        .list_pulls_by_head(repo, &branch)
        .await?
        .into_iter()
        .next()
    {
        return Ok(pr);
    }
    let new = NewPullRequest {
        title: text::pr_title(&request.id, request.module.as_deref().unwrap_or("module")),
        head: branch.clone(),
        base: request
            .target_base
            .clone()
            .ok_or(ServiceError::Incomplete("the request's base branch"))?,
        body: Some(text::pr_body(request)),
        draft: false,
    };
    match svc.github.create_pull(repo, &new).await {
        Ok(pr) => {
            tracing::info!(
                event = "request.pr_opened",
                request_id = %request.id,
                pr = pr.number,
                "request PR opened"
            );
            Ok(pr)
        }
        // "A pull request already exists": a concurrent delivery opened it.
        Err(err) if is_conflict(&err) => svc
            .github
            .list_pulls_by_head(repo, &branch)
            .await?
            .into_iter()
            .next()
            .ok_or(ServiceError::GitHub(err)),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_make_valid_ids() {
        for _ in 0..100 {
            let suffix = new_suffix();
            assert_eq!(suffix.len(), SUFFIX_LEN);
            assert!(RequestId::generate("dev", "s3-bucket", &suffix).is_ok());
        }
    }

    #[test]
    fn stored_arguments_read_back_as_rendered() {
        let mut args = BTreeMap::new();
        args.insert("b".to_owned(), InputValue::Bool(true));
        args.insert("n".to_owned(), InputValue::Number(30.into()));
        args.insert("s".to_owned(), InputValue::String("x\"${y}".into()));
        args.insert("l".to_owned(), InputValue::List(vec!["a".into()]));
        args.insert(
            "m".to_owned(),
            InputValue::Map([("k".to_owned(), "v".to_owned())].into()),
        );
        assert_eq!(arguments_from_json(&arguments_json(&args)), Some(args));
        let mut bad = Map::new();
        bad.insert("x".into(), json!([1]));
        assert_eq!(arguments_from_json(&bad), None);
    }

    #[test]
    fn a_changed_form_does_not_match_the_reserved_id() {
        let id = RequestId::parse("req_dev_s3-bucket_ab12cd").unwrap();
        let mut inputs = RequestInputs {
            environment: "dev".into(),
            module: "s3-bucket".into(),
            preset: None,
            inputs: BTreeMap::new(),
        };
        assert_eq!(id_mismatch(&id, &inputs), None);
        inputs.environment = "prod".into();
        let problem = id_mismatch(&id, &inputs).expect("mismatch");
        assert!(problem.message.contains("req_dev_s3-bucket_ab12cd"));
    }
}
