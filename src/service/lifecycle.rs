//! Apply and destroy around the environment lock: start or queue, hand the lock on when
//! a run concludes, release holders whose run is gone, and after a destroy the cleanup
//! PR and the archive. Also the automatic plans and applies driven by PR events.
//!
//! The lock (`locks/<owner>/<repo>/<env>.json`) is the only arbiter of who runs in an
//! environment: a request dispatches apply or destroy only while it holds it, and a
//! queued request is dispatched by whoever releases the lock before it, with a once-key
//! per lock grant, so two replicas handing on the same lock dispatch it once.

use crate::config::repo::EnvironmentConfig;
use crate::core::contract::inputs;
use crate::core::gates::{self, GateRule};
use crate::core::hcl::{Removal, remove_request_block, request_file_path};
use crate::core::patch::{PrUpdate, clear_queued, patch_cleanup_pr, set_queued};
use crate::core::request::{Request, WorkflowKind};
use crate::core::status::{Status, derive_status};
use crate::github::{
    FileChange, MergeRequest, NewPullRequest, PullRequest, Repo, RunStatus,
    create_branch_with_files,
};
use crate::store::{Acquire, Archived, EnvRef, LockHolder, Release, StoreError};

use super::dispatch::{Dispatched, dispatch, repo_of_request};
use super::{Service, ServiceError};

/// A holder with no tracked run for this long is taken to have lost its dispatch.
const UNDISPATCHED_GRACE_MINUTES: i64 = 5;

/// What asking to apply or destroy did.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    /// The workflow was dispatched (this request holds the lock).
    Dispatched {
        /// The run id, when GitHub returned it.
        run_id: Option<u64>,
    },
    /// The same dispatch was made before (duplicate delivery or replica).
    AlreadyDone,
    /// The environment is busy: the request waits at `position` behind `holder`.
    Queued {
        /// 1-based place in the queue.
        position: usize,
        /// The request holding the lock.
        holder: String,
    },
}

/// `(owner, repo, environment)` of a request, for the lock.
fn env_key(request: &Request) -> Result<(String, String, String), ServiceError> {
    Ok((
        request
            .target_owner
            .clone()
            .ok_or(ServiceError::Incomplete("the request's repository owner"))?,
        request
            .target_repo
            .clone()
            .ok_or(ServiceError::Incomplete("the request's repository"))?,
        request
            .environment
            .clone()
            .ok_or(ServiceError::Incomplete("the request's environment"))?,
    ))
}

/// The environment's config from the default branch (`None` when the config is
/// unusable or does not name the environment: defaults apply).
pub async fn env_config(
    svc: &Service,
    repo: &Repo,
    request: &Request,
) -> Result<Option<EnvironmentConfig>, ServiceError> {
    let config = match svc.repo_configs.get(&*svc.github, repo).await {
        Ok(c) => c,
        Err(super::repo_config::RepoConfigError::GitHub(e)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(repo = %repo.name, error = %e, "repository config unusable; defaults apply");
            return Ok(None);
        }
    };
    Ok(request
        .environment
        .as_deref()
        .and_then(|name| config.environment(name))
        .cloned())
}

/// The gate rule of an environment (defaults without one).
pub fn gate_rule(env: Option<&EnvironmentConfig>) -> GateRule {
    match env {
        Some(e) => GateRule {
            required_approvals: e.required_approvals as usize,
            dismiss_stale: e.dismiss_stale_approvals,
            protected: e.protected,
        },
        None => GateRule::default(),
    }
}

/// The branch apply and destroy run from.
async fn default_branch(
    svc: &Service,
    repo: &Repo,
    request: &Request,
) -> Result<String, ServiceError> {
    if let Some(base) = &request.target_base {
        return Ok(base.clone());
    }
    Ok(svc.github.get_repository(repo).await?.default_branch)
}

/// Takes the environment lock and dispatches `kind`, or queues the request when
/// another request holds it (after releasing a holder whose run is gone).
pub async fn start_or_queue(
    svc: &Service,
    repo: &Repo,
    request: &Request,
    kind: WorkflowKind,
    once_key: &str,
) -> Result<Started, ServiceError> {
    let (owner, name, env) = env_key(request)?;
    let env_ref = (owner.as_str(), name.as_str(), env.as_str());
    let mut acquired = svc
        .locks
        .acquire(env_ref, &request.id, kind.as_str(), svc.now())
        .await?;
    if let Acquire::Queued { holder, .. } = &acquired
        && holder_gone(svc, repo, holder).await?
    {
        tracing::warn!(
            request_id = %holder.request_id,
            environment = %env,
            "lock holder's run is over or gone: released"
        );
        if let Release::Released { next: Some(next) } = svc
            .locks
            .release(env_ref, &holder.request_id, svc.now())
            .await?
            && next.request_id != request.id
        {
            Box::pin(dispatch_holder(svc, repo, env_ref, &next)).await?;
        }
        acquired = svc
            .locks
            .acquire(env_ref, &request.id, kind.as_str(), svc.now())
            .await?;
    }
    match acquired {
        Acquire::Held { holder, newly } => {
            // A grant this call did not make was handed on from the queue (whoever
            // released dispatches it under the grant's key) or made by a concurrent
            // copy of this delivery: claim the grant's key too, so exactly one of
            // them dispatches.
            if !newly
                && !svc
                    .markers
                    .first_time(
                        &format!("dispatch/{}", grant_key(env_ref, &holder)),
                        svc.now(),
                    )
                    .await?
            {
                return Ok(Started::AlreadyDone);
            }
            match Box::pin(run_kind(svc, repo, request, kind, once_key)).await? {
                Dispatched::Started { run_id, .. } => {
                    if let Some(id) = run_id {
                        svc.locks.attach_run(env_ref, &request.id, id).await?;
                    }
                    Ok(Started::Dispatched { run_id })
                }
                Dispatched::AlreadyDone => Ok(Started::AlreadyDone),
            }
        }
        Acquire::Queued { position, holder } => {
            let now = svc.now();
            let saved = svc
                .requests
                .update(&request.id, |r| set_queued(r, kind, now))
                .await?;
            if saved.request.run_underway_or_done(kind) {
                // This attempt judged a stale copy of the request: a run of this kind
                // was recorded meanwhile. It must not wait for the lock (and be
                // dispatched a second time when its turn comes).
                svc.locks.remove_from_queue(env_ref, &request.id).await?;
                tracing::info!(request_id = %request.id, kind = kind.as_str(), "run already under way or done: not queued");
                return Ok(Started::AlreadyDone);
            }
            if saved.saved {
                Box::pin(super::effects::request_saved(svc, &saved.request)).await;
            }
            Ok(Started::Queued {
                position,
                holder: holder.request_id,
            })
        }
    }
}

/// Dispatches the run of a request that was just handed the lock from the queue.
/// The once-key names the grant, so replicas handing on the same lock dispatch once.
/// A holder whose request is gone (archived meanwhile), or whose run of this kind is
/// under way or done already, passes the lock on (or keeps it for that run).
pub async fn dispatch_holder(
    svc: &Service,
    repo: &Repo,
    env: EnvRef<'_>,
    holder: &LockHolder,
) -> Result<(), ServiceError> {
    let mut holder = holder.clone();
    loop {
        let kind = WorkflowKind::parse(&holder.kind);
        let request = svc.requests.get(&holder.request_id).await?;
        match (kind, request) {
            (Some(kind), Some(request)) if !request.run_underway_or_done(kind) => {
                let key = grant_key(env, &holder);
                if let Dispatched::Started {
                    run_id: Some(id), ..
                } = Box::pin(run_kind(svc, repo, &request, kind, &key)).await?
                {
                    svc.locks.attach_run(env, &request.id, id).await?;
                }
                tracing::info!(request_id = %request.id, kind = kind.as_str(), environment = env.2, "queued run started");
                return Ok(());
            }
            (Some(kind), Some(request)) => {
                // Queued by an attempt that judged a stale copy of the request: its
                // run of this kind is going or done already, and must not run twice.
                let now = svc.now();
                let saved = svc
                    .requests
                    .update(&request.id, |r| {
                        r.queued()
                            .is_some_and(|q| q.kind == kind)
                            .then(|| clear_queued(r, now))
                            .flatten()
                    })
                    .await?;
                if saved.saved {
                    Box::pin(super::effects::request_saved(svc, &saved.request)).await;
                }
                if let Some(active) = request.run(kind).filter(|r| r.is_active()) {
                    // Its run holds the lock until it concludes (`after_run` releases it).
                    if let Some(id) = active.run_id {
                        svc.locks.attach_run(env, &request.id, id).await?;
                    }
                    return Ok(());
                }
                tracing::warn!(request_id = %request.id, kind = kind.as_str(), environment = env.2, "queued run already done: lock passed on");
            }
            _ => {
                tracing::warn!(request_id = %holder.request_id, environment = env.2, "queued request is gone: lock passed on");
            }
        }
        match pass_on(svc, env, &holder).await? {
            Some(next) => holder = next,
            None => return Ok(()),
        }
    }
}

/// Releases `holder`'s lock; the request it went to next, if any.
async fn pass_on(
    svc: &Service,
    env: EnvRef<'_>,
    holder: &LockHolder,
) -> Result<Option<LockHolder>, ServiceError> {
    Ok(
        match svc
            .locks
            .release(env, &holder.request_id, svc.now())
            .await?
        {
            Release::Released { next } => next,
            _ => None,
        },
    )
}

/// The once-key of one lock grant: the holder, its kind and when it got the lock.
fn grant_key(env: EnvRef<'_>, holder: &LockHolder) -> String {
    format!(
        "lock/{}/{}/{}/{}/{}/{}",
        env.0,
        env.1,
        env.2,
        holder.request_id,
        holder.kind,
        holder.since.timestamp_millis()
    )
}

/// Dispatches apply (at the merge commit, with the plan's fingerprint) or destroy
/// (and opens the cleanup PR) from the default branch.
async fn run_kind(
    svc: &Service,
    repo: &Repo,
    request: &Request,
    kind: WorkflowKind,
    once_key: &str,
) -> Result<Dispatched, ServiceError> {
    let branch = default_branch(svc, repo, request).await?;
    let mut extra: Vec<(&'static str, String)> = Vec::new();
    if kind == WorkflowKind::Apply {
        let sha = request
            .merged_sha
            .clone()
            .ok_or(ServiceError::Incomplete("the merge commit"))?;
        extra.push((inputs::COMMIT_SHA, sha));
        // The newest plan shown on the PR: the reviewed one, or the plan at apply time
        // a refused apply found and the comment showed since. The gates refused before
        // a plan change nobody saw; should one slip in between (a queued apply), the
        // reviewed plan is expected: the workflow then refuses rather than apply it.
        // An empty input (no plan artifact was read) fails the workflow's input check.
        let fingerprint = gates::apply_fingerprint(request)
            .unwrap_or_else(|blocked| {
                tracing::warn!(request_id = %request.id, reason = ?blocked, "apply dispatched with the reviewed fingerprint");
                gates::planned_fingerprint(request)
            })
            .unwrap_or_default();
        if fingerprint.is_empty() {
            tracing::warn!(request_id = %request.id, "apply without an expected fingerprint (plan artifact not read)");
        }
        extra.push((inputs::EXPECTED_FINGERPRINT, fingerprint));
    }
    let done = dispatch(svc, repo, request, kind, &branch, &extra, Some(once_key)).await?;
    if kind == WorkflowKind::Destroy
        && let Dispatched::Started { request: after, .. } = &done
        && let Err(e) = Box::pin(open_cleanup_pr(svc, repo, after, &branch)).await
    {
        // The destroy runs regardless; the cleanup PR is retried by `/tfpilot sync`.
        tracing::warn!(request_id = %request.id, error = %e, "cleanup PR not opened");
    }
    Ok(done)
}

/// True when the lock holder's run concluded or vanished (asked of GitHub), or it never
/// got a run within the grace period.
pub async fn holder_gone(
    svc: &Service,
    repo: &Repo,
    holder: &LockHolder,
) -> Result<bool, ServiceError> {
    let kind = WorkflowKind::parse(&holder.kind);
    let doc = svc.requests.get(&holder.request_id).await?;
    let Some(doc) = doc else {
        return Ok(true);
    };
    let tracked = kind.and_then(|k| doc.run(k));
    let run_id = holder.run_id.or(tracked.and_then(|r| r.run_id));
    match run_id {
        Some(id) => match svc.github.get_workflow_run(repo, id).await {
            Ok(run) => Ok(run.status == Some(RunStatus::Completed)),
            Err(e) if e.is_not_found() => Ok(true),
            Err(e) => Err(e.into()),
        },
        None => {
            let waited = svc.now() - holder.since;
            let dispatched_recently = tracked
                .and_then(|r| r.triggered_at)
                .is_some_and(|t| t >= holder.since);
            Ok(!dispatched_recently
                && waited > chrono::Duration::minutes(UNDISPATCHED_GRACE_MINUTES))
        }
    }
}

/// After an apply or destroy run concluded: release the lock and start the next in
/// line; after a successful destroy, merge the cleanup PR where allowed and archive.
pub async fn after_run(
    svc: &Service,
    request: &Request,
    kind: WorkflowKind,
) -> Result<(), ServiceError> {
    if !matches!(kind, WorkflowKind::Apply | WorkflowKind::Destroy) {
        return Ok(());
    }
    let Some(run) = request.run(kind) else {
        return Ok(());
    };
    if !run.is_concluded() {
        return Ok(());
    }
    let Some(repo) = repo_of_request(request) else {
        return Ok(());
    };
    let (owner, name, env) = env_key(request)?;
    let env_ref = (owner.as_str(), name.as_str(), env.as_str());
    // Only this run's hold is released: a late event of an earlier apply must not free
    // the lock the same request now holds for its destroy.
    let holds_for_this_run = svc
        .locks
        .get(env_ref)
        .await?
        .and_then(|d| d.holder)
        .is_some_and(|h| {
            h.request_id == request.id
                && h.kind == kind.as_str()
                && h.run_id.is_none_or(|id| Some(id) == run.run_id)
        });
    if holds_for_this_run
        && let Release::Released { next } =
            svc.locks.release(env_ref, &request.id, svc.now()).await?
    {
        tracing::info!(request_id = %request.id, environment = %env, "lock released");
        if let Some(next) = next {
            Box::pin(dispatch_holder(svc, &repo, env_ref, &next)).await?;
        }
    }
    if kind == WorkflowKind::Destroy && run.succeeded() {
        Box::pin(finish_destroy(svc, &repo, request)).await?;
    }
    Ok(())
}

/// Releases the environment lock whoever holds it (`/tfpilot unlock`) and starts the
/// next in line. Returns the released holder and the next one.
pub async fn unlock(
    svc: &Service,
    repo: &Repo,
    request: &Request,
) -> Result<(Option<String>, Option<String>), ServiceError> {
    let (owner, name, env) = env_key(request)?;
    let env_ref = (owner.as_str(), name.as_str(), env.as_str());
    let before = svc.locks.get(env_ref).await?;
    let Some(holder) = before.and_then(|d| d.holder) else {
        return Ok((None, None));
    };
    match svc
        .locks
        .release(env_ref, &holder.request_id, svc.now())
        .await?
    {
        Release::Released { next } => {
            tracing::warn!(request_id = %holder.request_id, environment = %env, "lock released by unlock");
            if let Some(n) = &next {
                Box::pin(dispatch_holder(svc, repo, env_ref, n)).await?;
            }
            Ok((Some(holder.request_id), next.map(|n| n.request_id)))
        }
        Release::NotHolder { holder } => Ok((None, holder.map(|h| h.request_id))),
    }
}

/// The core's view of a PR read from the API (from a single PR, or a list, whose
/// entries have `merged_at` but not always `merged`).
pub fn pr_update_from_api(pull: &PullRequest, actor: Option<&str>) -> PrUpdate {
    let open = pull.state == crate::github::IssueState::Open;
    PrUpdate {
        number: pull.number,
        url: Some(pull.html_url.clone()),
        title: Some(pull.title.clone()),
        head_sha: Some(pull.head.sha.clone()),
        base_ref: Some(pull.base.ref_name.clone()),
        open,
        merged: pull.is_merged(),
        merge_commit_sha: if pull.is_merged() {
            pull.merge_commit_sha.clone()
        } else {
            None
        },
        updated_at: pull.updated_at,
        actor: actor.map(str::to_string),
    }
}

/// The cleanup branch of a request.
pub fn cleanup_branch(request_id: &str) -> String {
    format!("cleanup/{request_id}")
}

/// Opens the cleanup PR removing the request's file (or its block, in a file shared
/// with other requests). Reuses an open one; nothing to remove opens nothing.
pub async fn open_cleanup_pr(
    svc: &Service,
    repo: &Repo,
    request: &Request,
    base: &str,
) -> Result<Option<u64>, ServiceError> {
    let branch = cleanup_branch(&request.id);
    let existing = svc.github.list_pulls_by_head(repo, &branch).await?;
    if let Some(found) = adoptable_cleanup(&existing) {
        record_cleanup_pr(svc, request, &found).await?;
        return Ok(Some(found.number));
    }
    let dir = match &request.target_env_path {
        Some(p) => p.trim_end_matches('/').to_string(),
        None => match env_config(svc, repo, request).await? {
            Some(e) => e.directory(request.environment.as_deref().unwrap_or_default()),
            None => format!(
                "envs/{}",
                request.environment.as_deref().unwrap_or_default()
            ),
        },
    };
    let path = request_file_path(&dir, &request.id);
    let file = match svc.github.get_file(repo, &path, Some(base)).await {
        Ok(f) => f,
        Err(e) if e.is_not_found() => {
            tracing::info!(request_id = %request.id, path, "no request file on the default branch: no cleanup PR");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let content = match String::from_utf8(file.content) {
        Ok(text) => match remove_request_block(&text, &request.id) {
            Ok(Removal::Remaining(rest)) => Some(rest.into_bytes()),
            Ok(Removal::Empty) => None,
            // A file of its own without markers: the whole file is the request's.
            Err(crate::core::hcl::RemoveError::NotFound(_)) => None,
            Err(e) => {
                tracing::warn!(request_id = %request.id, error = %e, "cleanup needs a person");
                return Ok(None);
            }
        },
        Err(_) => None,
    };
    match create_branch_with_files(
        &*svc.github,
        repo,
        &branch,
        base,
        &format!("tfpilot: remove {} after destroy", request.id),
        &[FileChange {
            path: path.clone(),
            content,
        }],
    )
    .await
    {
        Ok(_) => {}
        // An earlier attempt created the branch and failed before the PR: reuse it
        // rather than stack a second commit on it.
        Err(e) if matches!(e.status(), Some(409 | 422)) => {}
        Err(e) => return Err(e.into()),
    }
    let created = svc
        .github
        .create_pull(
            repo,
            &NewPullRequest {
                title: format!("tfpilot cleanup: remove {}", request.id),
                head: branch.clone(),
                base: base.to_string(),
                body: Some(format!(
                    "Removes `{path}`: request `{}` is being destroyed. tfpilot merges this after the destroy succeeds where the environment allows (`cleanup_auto_merge`).",
                    request.id
                )),
                draft: false,
            },
        )
        .await;
    let pull = match created {
        Ok(pull) => pull,
        // A concurrent attempt opened it (or it was merged meanwhile): adopt that one.
        Err(e) if e.status() == Some(422) => {
            let again = svc.github.list_pulls_by_head(repo, &branch).await?;
            adoptable_cleanup(&again).ok_or(e)?
        }
        Err(e) => return Err(e.into()),
    };
    record_cleanup_pr(svc, request, &pull).await?;
    Ok(Some(pull.number))
}

/// The cleanup PR to use instead of opening one: an open one, else a merged one (it
/// already removed the request's file; a late retry must not open a second, empty one).
fn adoptable_cleanup(pulls: &[PullRequest]) -> Option<PullRequest> {
    pulls
        .iter()
        .find(|p| p.state == crate::github::IssueState::Open)
        .or_else(|| pulls.iter().find(|p| p.is_merged()))
        .cloned()
}

async fn record_cleanup_pr(
    svc: &Service,
    request: &Request,
    pull: &PullRequest,
) -> Result<(), ServiceError> {
    let update = pr_update_from_api(pull, None);
    match svc
        .requests
        .update(&request.id, |r| patch_cleanup_pr(r, &update))
        .await
    {
        Ok(u) => {
            if u.saved {
                Box::pin(super::effects::request_saved(svc, &u.request)).await;
            }
            Ok(())
        }
        Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// After a successful destroy: merge the cleanup PR when the environment allows it,
/// then archive the request once nothing of it remains on the default branch.
/// Returns whether it moved anything on (opened or merged the cleanup PR, archived);
/// `false` while the cleanup PR waits for a person.
pub async fn finish_destroy(
    svc: &Service,
    repo: &Repo,
    request: &Request,
) -> Result<bool, ServiceError> {
    let env = env_config(svc, repo, request).await?;
    let auto_merge = env.as_ref().is_some_and(|e| e.cleanup_auto_merge);
    let branch = cleanup_branch(&request.id);
    let mut pulls = svc.github.list_pulls_by_head(repo, &branch).await?;
    let mut opened = false;
    if pulls.is_empty() {
        // Opening the cleanup PR failed when the destroy was dispatched: open it now.
        // Only with nothing of the request left on the default branch is there
        // nothing to clean up.
        let base = default_branch(svc, repo, request).await?;
        match Box::pin(open_cleanup_pr(svc, repo, request, &base)).await? {
            None => return archive(svc, &request.id).await,
            Some(number) => pulls.push(svc.github.get_pull(repo, number).await?),
        }
        opened = true;
    }
    let open = pulls
        .iter()
        .find(|p| p.state == crate::github::IssueState::Open);
    let merged = pulls.iter().find(|p| p.is_merged());
    match open {
        Some(pull) if auto_merge => {
            let merge = svc
                .github
                .merge_pull(
                    repo,
                    pull.number,
                    &MergeRequest {
                        commit_title: Some(format!("tfpilot cleanup: remove {}", request.id)),
                        commit_message: None,
                        sha: Some(pull.head.sha.clone()),
                        merge_method: None,
                    },
                )
                .await;
            let merged_here = merge.is_ok();
            match merge {
                Ok(_) => {}
                // 405: merged meanwhile (another replica, a person) or not mergeable
                // (a conflict, a branch rule); 409: its head moved. Look again below.
                Err(e) if matches!(e.status(), Some(405 | 409)) => {
                    tracing::info!(
                        request_id = %request.id,
                        pull = pull.number,
                        error = %e,
                        "cleanup PR not merged by tfpilot"
                    );
                }
                Err(e) => return Err(e.into()),
            }
            let after = svc.github.get_pull(repo, pull.number).await?;
            if !after.is_merged() {
                // Still open: a person resolves it (its merge event archives), or the
                // reconciler tries again.
                return Ok(opened);
            }
            let archived = archive_merged_cleanup(svc, request, &after).await?;
            Ok(merged_here || archived || opened)
        }
        // A person merges it; the merge event archives.
        Some(_) => Ok(opened),
        // Merged by a concurrent copy of this step (another replica) or by a person.
        None => match merged {
            Some(pull) => archive_merged_cleanup(svc, request, pull).await,
            None => Ok(opened),
        },
    }
}

/// Records the merged cleanup PR `pull` in the facts (first, or the archive keeps it
/// open), then archives the request. Returns whether this call archived it.
async fn archive_merged_cleanup(
    svc: &Service,
    request: &Request,
    pull: &PullRequest,
) -> Result<bool, ServiceError> {
    record_cleanup_pr(svc, request, pull).await?;
    Box::pin(archive(svc, &request.id)).await
}

/// Moves a destroyed request to `history/`. Returns whether this call moved it (not
/// another replica or an earlier attempt).
pub async fn archive(svc: &Service, request_id: &str) -> Result<bool, ServiceError> {
    let archived = svc.requests.archive(request_id).await?;
    tracing::info!(request_id, outcome = ?archived, "request archived");
    Ok(archived == Archived::Moved)
}

/// `pull_request.closed` on a merged cleanup PR: archive a destroyed request.
pub async fn cleanup_merged(svc: &Service, request_id: &str) -> Result<(), ServiceError> {
    let Some(request) = svc.requests.get(request_id).await? else {
        return Ok(());
    };
    if derive_status(&request, svc.now()) == Status::Destroyed {
        archive(svc, request_id).await?;
    }
    Ok(())
}

/// A new head on an open request PR: plan it (once per head commit). The older plan
/// is stale from now on (its commit is not the head).
pub async fn autoplan(
    svc: &Service,
    repo: &Repo,
    request: &Request,
    head_sha: &str,
) -> Result<(), ServiceError> {
    if gates::plan_gate(request, svc.now()).is_err_and(|b| b != gates::Blocked::PlanRunning) {
        return Ok(());
    }
    let Some(branch) = request
        .branch_name
        .clone()
        .or_else(|| Some(format!("request/{}", request.id)))
    else {
        return Ok(());
    };
    let key = format!("autoplan/{}/{head_sha}", request.id);
    dispatch(
        svc,
        repo,
        request,
        WorkflowKind::Plan,
        &branch,
        &[],
        Some(&key),
    )
    .await?;
    Ok(())
}

/// A merged request PR in an environment with `auto_apply`: apply as `/tfpilot apply`
/// would, or say on the PR why not.
pub async fn auto_apply(svc: &Service, repo: &Repo, request: &Request) -> Result<(), ServiceError> {
    let env = env_config(svc, repo, request).await?;
    if !env.as_ref().is_some_and(|e| e.auto_apply) {
        return Ok(());
    }
    let rule = gate_rule(env.as_ref());
    match gates::apply_gate(request, svc.now(), &rule) {
        Ok(_) => {
            let key = format!("autoapply/{}", request.id);
            Box::pin(start_or_queue(
                svc,
                repo,
                request,
                WorkflowKind::Apply,
                &key,
            ))
            .await?;
        }
        // Applying, applied or waiting for the lock already: an earlier attempt of
        // this merge (or a person's `/tfpilot apply`) started it. Nothing to say.
        Err(
            gates::Blocked::Applying
            | gates::Blocked::AlreadyApplied
            | gates::Blocked::AlreadyQueued,
        ) => {}
        Err(blocked) => {
            let Some(pr) = request.pr() else {
                return Ok(());
            };
            let marker = format!("autoapply-refused/{}", request.id);
            if svc.markers.first_time(&marker, svc.now()).await? {
                let (why, _) = super::command::replies::blocked(
                    &blocked,
                    &crate::core::command::CommandAction::Apply,
                    &request.id,
                );
                svc.github
                    .create_comment(
                        repo,
                        pr.number,
                        &super::command::replies::auto_apply_blocked(&why),
                    )
                    .await?;
            }
        }
    }
    Ok(())
}
