//! The request doc of a newly validated form, and the request's file rendered from
//! the doc's facts (so a resumed attempt pushes what the doc records, not what the
//! issue body says now).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::config::catalogue::{InputValue, ModuleSource};
use crate::config::repo::RepoConfig;
use crate::core::hcl::{
    ModuleFile, RenderedFile, module_arguments, render_module_file, request_file_path,
};
use crate::core::ids::RequestId;
use crate::core::issue_form::RequestInputs;
use crate::core::request::{RenderFacts, Request, TimelineEntry};
use crate::core::webhook::IssuesEvent;
use crate::github::Repo;
use crate::service::{Service, ServiceError};

use super::text::TEMPLATE_ID;

/// The request doc for a newly validated form: inputs, render facts, module ref and
/// target, all recorded before anything is pushed.
pub(super) async fn new_request(
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
pub(super) fn arguments_json(arguments: &BTreeMap<String, InputValue>) -> Map<String, Value> {
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
pub(super) fn render_from_facts(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
