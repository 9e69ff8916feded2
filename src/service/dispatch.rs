//! Dispatching a request's workflow: inputs from the one contract, a nonce in the
//! run name, the run tracked in the facts and indexed as soon as its id is known.

use rand::Rng;

use crate::core::contract::{self, inputs};
use crate::core::patch::record_dispatch;
use crate::core::request::{Request, WorkflowKind};
use crate::github::{Repo, RunFilter, WorkflowInputs, WorkflowRun};

use super::{Service, ServiceError, claims};

/// What a dispatch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Dispatched {
    /// The workflow was dispatched; the request doc now tracks the new run.
    Started {
        /// The nonce in the run's `display_title`.
        nonce: String,
        /// The run id, when GitHub returned it.
        run_id: Option<u64>,
        /// The request as stored after recording the dispatch.
        request: Box<Request>,
    },
    /// This dispatch had already been made (same once-key): nothing was sent.
    AlreadyDone,
}

/// The repository a stored request lives in.
pub fn repo_of_request(request: &Request) -> Option<Repo> {
    Some(Repo::new(
        request.installation_id?,
        request.target_owner.clone()?,
        request.target_repo.clone()?,
    ))
}

/// A fresh dispatch nonce: 12 lowercase alphanumerics (safe in a run name).
pub fn new_nonce() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// How long a claimed dispatch may be in flight before another attempt looks on
/// GitHub for its run (and dispatches again when there is none).
pub const DISPATCH_CONFIRM_SECS: i64 = 60;

/// The nonce of a keyed dispatch: derived from the once-key, so every attempt of the
/// same dispatch names its run the same way and a later attempt can find it.
pub fn nonce_for(once_key: &str) -> String {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    Sha256::digest(once_key.as_bytes())
        .iter()
        .take(12)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// What a repeated keyed dispatch found.
enum Claim {
    /// The facts already track the run of this dispatch.
    Recorded,
    /// Its run exists on GitHub but the facts lost it: record it.
    Found(Box<WorkflowRun>),
    /// Nothing ran: the earlier attempt failed after claiming. Dispatch again.
    Lost,
}

/// Dispatches `kind` for `request` on `git_ref`, with `extra` inputs beyond the
/// common ones (request id, environment, nonce).
///
/// `once_key`, when given, makes the dispatch take effect once for that key across
/// retries, redeliveries and replicas. A create-if-absent marker claims the key
/// before the dispatch, and the run's nonce is derived from the key. An attempt that
/// finds the key claimed looks at what happened: the facts tracking that nonce, or a
/// run named with it on GitHub, mean it is done; a claim older than
/// [`DISPATCH_CONFIRM_SECS`] with no run means the first attempt failed after
/// claiming, and it dispatches again (same nonce). A younger claim with no trace is
/// still in flight elsewhere: the attempt waits for it to show (at most
/// [`claims::WAIT_FOR_CLAIMER`]), and then fails with
/// [`ServiceError::DispatchInFlight`], so the delivery is answered 500 and retried,
/// never recorded as done.
pub async fn dispatch(
    svc: &Service,
    repo: &Repo,
    request: &Request,
    kind: WorkflowKind,
    git_ref: &str,
    extra: &[(&'static str, String)],
    once_key: Option<&str>,
) -> Result<Dispatched, ServiceError> {
    let workflow = contract::workflow_by_kind(kind.as_str())
        .ok_or(ServiceError::Incomplete("a workflow for this kind"))?;
    let nonce = once_key.map_or_else(new_nonce, nonce_for);
    if let Some(key) = once_key {
        let marker = format!("dispatch/{key}");
        if !svc.markers.first_time(&marker, svc.now()).await? {
            // A claim in flight elsewhere (another replica's copy, the lock handed on
            // by a finished run) usually lands in moments: wait for it, bounded.
            let mut wait = claims::Wait::new();
            loop {
                match claimed(svc, repo, request, kind, &marker, &nonce).await {
                    Ok(Claim::Recorded) => return Ok(Dispatched::AlreadyDone),
                    Ok(Claim::Found(run)) => {
                        return record(svc, request, kind, &nonce, Some(run.id)).await;
                    }
                    Ok(Claim::Lost) => {
                        tracing::warn!(request_id = %request.id, kind = kind.as_str(), once_key = key, "claimed dispatch never ran: dispatching again");
                        break;
                    }
                    Err(ServiceError::DispatchInFlight { .. }) if wait.pause().await => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let environment = request
        .environment
        .clone()
        .ok_or(ServiceError::Incomplete("the request's environment"))?;
    let directory = directory_of(svc, repo, request, &environment).await?;
    let mut dispatch_inputs = WorkflowInputs::new();
    dispatch_inputs.insert(inputs::REQUEST_ID.to_string(), request.id.clone());
    dispatch_inputs.insert(inputs::ENVIRONMENT.to_string(), environment);
    dispatch_inputs.insert(inputs::DIRECTORY.to_string(), directory);
    dispatch_inputs.insert(inputs::NONCE.to_string(), nonce.clone());
    for (name, value) in extra {
        dispatch_inputs.insert((*name).to_string(), value.clone());
    }
    let outcome = svc
        .github
        .dispatch_workflow(repo, workflow.file, git_ref, &dispatch_inputs)
        .await?;
    tracing::info!(
        event = "request.dispatch",
        request_id = %request.id,
        kind = kind.as_str(),
        git_ref,
        run_id = outcome.run_id,
        "workflow dispatched"
    );
    record(svc, request, kind, &nonce, outcome.run_id).await
}

/// The environment's Terraform root the workflows run in: the directory recorded when
/// the request was rendered, else the repository config's (`envs/<env>` by default).
async fn directory_of(
    svc: &Service,
    repo: &Repo,
    request: &Request,
    environment: &str,
) -> Result<String, ServiceError> {
    let normalize = |d: &str| {
        d.trim()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string()
    };
    if let Some(dir) = &request.target_env_path {
        return Ok(normalize(dir));
    }
    Ok(
        match super::lifecycle::env_config(svc, repo, request).await? {
            Some(env) => env.directory(environment),
            None => format!("envs/{environment}"),
        },
    )
}

/// Records a dispatch (made now or found on GitHub) in the facts and the run index.
async fn record(
    svc: &Service,
    request: &Request,
    kind: WorkflowKind,
    nonce: &str,
    run_id: Option<u64>,
) -> Result<Dispatched, ServiceError> {
    let now = svc.now();
    let updated = svc
        .requests
        .update(&request.id, |current| {
            record_dispatch(current, kind, nonce, now, run_id)
        })
        .await?;
    if let Some(run_id) = run_id {
        svc.index_run(kind.as_str(), run_id, &request.id).await?;
    }
    super::effects::request_saved(svc, &updated.request).await;
    Ok(Dispatched::Started {
        nonce: nonce.to_string(),
        run_id,
        request: Box::new(updated.request),
    })
}

/// What became of a dispatch whose once-key was claimed before.
async fn claimed(
    svc: &Service,
    repo: &Repo,
    request: &Request,
    kind: WorkflowKind,
    marker: &str,
    nonce: &str,
) -> Result<Claim, ServiceError> {
    let current = svc.requests.get(&request.id).await?;
    let tracks = |r: &Request| r.run(kind).and_then(|run| run.nonce.as_deref()) == Some(nonce);
    if current.as_ref().is_none_or(tracks) {
        return Ok(Claim::Recorded);
    }
    let Some(claimed_at) = svc.markers.set_at(marker).await? else {
        // The claim vanished (cleaned up): nothing to repair.
        return Ok(Claim::Recorded);
    };
    // A later dispatch of the same kind superseded this one: leave it be.
    let superseded = current
        .as_ref()
        .and_then(|r| r.run(kind))
        .and_then(|run| run.triggered_at)
        .is_some_and(|t| t >= claimed_at);
    if superseded {
        return Ok(Claim::Recorded);
    }
    if let Some(run) = find_dispatched(svc, repo, kind, |r| {
        r.display_title.split_whitespace().any(|t| t == nonce)
    })
    .await?
    {
        return Ok(Claim::Found(Box::new(run)));
    }
    if svc.now() - claimed_at < chrono::Duration::seconds(DISPATCH_CONFIRM_SECS) {
        return Err(ServiceError::DispatchInFlight {
            request_id: request.id.clone(),
            kind: kind.as_str(),
        });
    }
    Ok(Claim::Lost)
}

/// The newest dispatched run of `kind`'s workflow (among GitHub's latest 100) that
/// `matches`: how a dispatch whose answer or record was lost is found again.
pub async fn find_dispatched(
    svc: &Service,
    repo: &Repo,
    kind: WorkflowKind,
    matches: impl Fn(&WorkflowRun) -> bool,
) -> Result<Option<WorkflowRun>, ServiceError> {
    let Some(workflow) = contract::workflow_by_kind(kind.as_str()) else {
        return Ok(None);
    };
    let filter = RunFilter {
        workflow: Some(workflow.file.to_string()),
        event: Some("workflow_dispatch".into()),
        per_page: Some(100),
        ..RunFilter::default()
    };
    let runs = svc.github.list_workflow_runs(repo, &filter).await?;
    Ok(runs.into_iter().find(|r| matches(r)))
}
