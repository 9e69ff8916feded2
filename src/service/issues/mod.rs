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
pub mod facts;
pub mod steps;
pub mod text;

use rand::Rng;

use crate::config::repo::{DEFAULT_REQUEST_LABEL, RepoConfig};
use crate::core::hcl::module_arguments;
use crate::core::ids::{RequestId, SUFFIX_LEN};
use crate::core::issue_form::{
    FieldProblem, RequestInputs, parse_request, render_problems_comment,
};
use crate::core::request::{Request, WorkflowKind};
use crate::core::webhook::IssuesEvent;
use crate::github::Repo;
use crate::store::Thread;

use super::dispatch::dispatch;
use super::repo_config::RepoConfigError;
use super::{Outcome, Service, ServiceError, repo_of};
use facts::{arguments_json, new_request};
use steps::{ensure_branch, ensure_pr};

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

/// Makes tfpilot's comment on request issue `number` the link to its PR, given the
/// issue's thread document. Returns whether a call changed the comment.
async fn show_created(
    svc: &Service,
    repo: &Repo,
    number: u64,
    thread: &comment::IssueThreadDoc,
    request_id: &str,
    pr_number: u64,
) -> Result<bool, ServiceError> {
    let body = text::created_comment(request_id, pr_number, thread.edited_after_creation);
    comment::show(svc, repo, number, &body).await
}

/// Posts the link to the PR on the request's issue when no comment of tfpilot's is
/// recorded there: the delivery that created the request failed at that step and
/// was not redelivered. Costs one store read when the comment is there.
pub async fn repair_created_comment(
    svc: &Service,
    repo: &Repo,
    request: &Request,
) -> Result<bool, ServiceError> {
    let (Some(number), Some(pr)) = (request.issue_number, request.pr()) else {
        return Ok(false);
    };
    let thread = comment::load(svc, repo, number).await?;
    if thread.comment_id.is_some() {
        return Ok(false);
    }
    show_created(svc, repo, number, &thread, &request.id, pr.number).await
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
    changed |= show_created(svc, repo, number, &thread, id.as_str(), pr.number).await?;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
