//! Dispatching a request's workflow: inputs from the one contract, a nonce in the
//! run name, the run tracked in the facts and indexed as soon as its id is known.

use rand::Rng;

use crate::core::contract::{self, inputs};
use crate::core::patch::record_dispatch;
use crate::core::request::{Request, WorkflowKind};
use crate::github::{Repo, WorkflowInputs};

use super::{Service, ServiceError};

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

/// Dispatches `kind` for `request` on `git_ref`, with `extra` inputs beyond the
/// common ones (request id, environment, nonce).
///
/// `once_key`, when given, makes the dispatch happen at most once for that key
/// across retries, redeliveries and replicas (a create-if-absent marker written
/// before the dispatch). The marker is written first on purpose: a crash after it
/// loses the dispatch (the reconciler and `/tfpilot sync` show the request stuck
/// and a person re-issues the command) rather than ever running a workflow twice.
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
    if let Some(key) = once_key
        && !svc
            .markers
            .first_time(&format!("dispatch/{key}"), svc.now())
            .await?
    {
        return Ok(Dispatched::AlreadyDone);
    }
    let environment = request
        .environment
        .clone()
        .ok_or(ServiceError::Incomplete("the request's environment"))?;
    let nonce = new_nonce();
    let mut dispatch_inputs = WorkflowInputs::new();
    dispatch_inputs.insert(inputs::REQUEST_ID.to_string(), request.id.clone());
    dispatch_inputs.insert(inputs::ENVIRONMENT.to_string(), environment);
    dispatch_inputs.insert(inputs::NONCE.to_string(), nonce.clone());
    for (name, value) in extra {
        dispatch_inputs.insert((*name).to_string(), value.clone());
    }
    let outcome = match svc
        .github
        .dispatch_workflow(repo, workflow.file, git_ref, &dispatch_inputs)
        .await
    {
        Ok(outcome) => outcome,
        Err(e) => {
            // GitHub answered with an error (after the client's retries): nothing was
            // dispatched, so the claim is given back and a redelivery or the
            // reconciler may dispatch it. If even that fails, the claim stays and the
            // request shows stuck (never two runs).
            if let Some(key) = once_key
                && let Err(clear) = svc.markers.clear(&format!("dispatch/{key}")).await
            {
                tracing::warn!(request_id = %request.id, error = %clear, "dispatch claim not given back");
            }
            return Err(e.into());
        }
    };
    let now = svc.now();
    let updated = svc
        .requests
        .update(&request.id, |current| {
            record_dispatch(current, kind, &nonce, now, outcome.run_id)
        })
        .await?;
    if let Some(run_id) = outcome.run_id {
        svc.index_run(kind.as_str(), run_id, &request.id).await?;
    }
    super::effects::request_saved(svc, &updated.request).await;
    tracing::info!(
        event = "request.dispatch",
        request_id = %request.id,
        kind = kind.as_str(),
        git_ref,
        run_id = outcome.run_id,
        "workflow dispatched"
    );
    Ok(Dispatched::Started {
        nonce,
        run_id: outcome.run_id,
        request: Box::new(updated.request),
    })
}
