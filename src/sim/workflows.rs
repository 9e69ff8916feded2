//! Workflow runs: what a dispatch creates, how runs advance, and the scripts that decide
//! how they end.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value, json};
use serde_yaml_ng::Value as Yaml;

use super::http::ApiError;
use super::world::{Artifact, Run, World, repo_key};

/// How workflow runs advance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkflowMode {
    /// Only when the test says so ([`super::Simulator::advance_workflows`], `complete_run`).
    Manual,
    /// By themselves: queued for `queued`, then in progress for `running`, then completed.
    Auto {
        /// Time spent queued.
        queued: Duration,
        /// Time spent in progress.
        running: Duration,
    },
}

/// How a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conclusion {
    /// success
    Success,
    /// failure
    Failure,
    /// cancelled
    Cancelled,
    /// timed_out
    TimedOut,
    /// action_required
    ActionRequired,
    /// neutral
    Neutral,
    /// skipped
    Skipped,
}

impl Conclusion {
    /// GitHub's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Cancelled => "cancelled",
            Conclusion::TimedOut => "timed_out",
            Conclusion::ActionRequired => "action_required",
            Conclusion::Neutral => "neutral",
            Conclusion::Skipped => "skipped",
        }
    }
}

/// An artifact a run uploads: a zip of these files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// Artifact name (`tfpilot-plan`).
    pub name: String,
    /// `(path inside the zip, bytes)`.
    pub files: Vec<(String, Vec<u8>)>,
}

impl ArtifactSpec {
    /// An artifact named `name` holding `files`.
    pub fn new(name: &str, files: &[(&str, &[u8])]) -> Self {
        ArtifactSpec {
            name: name.to_string(),
            files: files
                .iter()
                .map(|(p, b)| (p.to_string(), b.to_vec()))
                .collect(),
        }
    }
}

/// How a scripted run ends and what it uploads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The conclusion.
    pub conclusion: Conclusion,
    /// Artifacts uploaded when it completes.
    pub artifacts: Vec<ArtifactSpec>,
}

impl Script {
    /// Succeeds, uploads nothing.
    pub fn success() -> Self {
        Script {
            conclusion: Conclusion::Success,
            artifacts: Vec::new(),
        }
    }
    /// Fails, uploads nothing.
    pub fn failure() -> Self {
        Script {
            conclusion: Conclusion::Failure,
            artifacts: Vec::new(),
        }
    }
    /// The same script with one more artifact.
    pub fn with_artifact(mut self, artifact: ArtifactSpec) -> Self {
        self.artifacts.push(artifact);
        self
    }
}

/// What a dynamic script sees of the run it decides.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// `owner/name`.
    pub repo: String,
    /// Workflow file name.
    pub workflow: String,
    /// Run id.
    pub run_id: u64,
    /// Attempt (1, 2 after a re-run, ...).
    pub run_attempt: u64,
    /// Dispatch inputs.
    pub inputs: BTreeMap<String, String>,
    /// Commit the run runs on.
    pub head_sha: String,
    /// Branch the run runs on.
    pub head_branch: String,
    /// Repository files under the path prefixes the script asked to read when it was
    /// registered ([`super::Simulator::script_workflow_reading`]), at `head_sha` or at
    /// the commit an input names (a workflow that checks out `inputs.<name>`);
    /// empty for other scripts. A script runs while the simulator's state is locked,
    /// so it reads files from here, never through a captured `Simulator`.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// A function deciding a run's script from the run.
pub type ScriptFn = Arc<dyn Fn(&RunInfo) -> Script + Send + Sync>;

/// A registered script: for a repository's workflow file, optionally one request id.
#[derive(Clone)]
pub(crate) struct ScriptRule {
    pub repo: String,
    pub workflow: String,
    pub request_id: Option<String>,
    pub script: ScriptFn,
    /// Path prefixes whose files the script sees in [`RunInfo::files`].
    pub reads: Vec<String>,
    /// The input naming the commit the workflow checks out (`None`: the run's head).
    pub checkout_input: Option<String>,
}

/// What tfpilot-relevant parts of a workflow file say.
#[derive(Clone, Debug, Default)]
pub(crate) struct WorkflowDef {
    pub name: Option<String>,
    pub run_name: Option<String>,
    pub dispatchable: bool,
    /// input name → (required, default)
    pub inputs: BTreeMap<String, (bool, Option<String>)>,
    pub job_name: String,
    pub concurrency: Option<super::concurrency::ConcurrencyDef>,
}

fn yaml_scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parse a workflow file; `None` when it is not valid YAML.
pub(crate) fn parse_workflow(text: &str) -> Option<WorkflowDef> {
    let doc: Yaml = serde_yaml_ng::from_str(text).ok()?;
    let map = doc.as_mapping()?;
    let get = |k: &str| map.get(Yaml::String(k.to_string()));
    // YAML 1.1 readers turn a bare `on` key into `true`
    let on = get("on").or_else(|| map.get(Yaml::Bool(true)));
    let mut def = WorkflowDef {
        name: get("name").and_then(yaml_scalar),
        run_name: get("run-name").and_then(yaml_scalar),
        concurrency: super::concurrency::parse_concurrency(get("concurrency")),
        ..Default::default()
    };
    match on {
        Some(Yaml::String(s)) => def.dispatchable = s == "workflow_dispatch",
        Some(Yaml::Sequence(seq)) => {
            def.dispatchable = seq.iter().any(|v| v.as_str() == Some("workflow_dispatch"));
        }
        Some(Yaml::Mapping(m)) => {
            if let Some(wd) = m.get(Yaml::String("workflow_dispatch".into())) {
                def.dispatchable = true;
                if let Some(inputs) = wd.get("inputs").and_then(Yaml::as_mapping) {
                    for (k, v) in inputs {
                        let Some(k) = k.as_str() else { continue };
                        let required = v.get("required").and_then(Yaml::as_bool).unwrap_or(false);
                        let default = v.get("default").and_then(yaml_scalar);
                        def.inputs.insert(k.to_string(), (required, default));
                    }
                }
            }
        }
        _ => {}
    }
    def.job_name = get("jobs")
        .and_then(Yaml::as_mapping)
        .and_then(|jobs| jobs.iter().next())
        .map(|(k, v)| {
            v.get("name")
                .and_then(yaml_scalar)
                .or_else(|| k.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "build".to_string());
    Some(def)
}

/// `run-name` with `${{ inputs.x }}`, `${{ github.event.inputs.x }}`, `${{ github.ref_name }}`
/// and `${{ github.actor }}` substituted; other expressions become empty, like unset values.
pub(crate) fn render_run_name(
    template: &str,
    inputs: &BTreeMap<String, String>,
    ref_name: &str,
    actor: &str,
) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = rest[start + 3..start + end].trim();
        let value = if let Some(name) = expr
            .strip_prefix("inputs.")
            .or_else(|| expr.strip_prefix("github.event.inputs."))
        {
            inputs.get(name).cloned().unwrap_or_default()
        } else {
            match expr {
                "github.ref_name" => ref_name.to_string(),
                "github.actor" | "github.triggering_actor" => actor.to_string(),
                _ => String::new(),
            }
        };
        out.push_str(&value);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn zip_files(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zw = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (path, bytes) in files {
            zw.start_file(path.as_str(), opts)?;
            zw.write_all(bytes)?;
        }
        zw.finish()?;
    }
    Ok(buf.into_inner())
}

impl World {
    /// The workflow file at `commit`, parsed.
    pub(crate) fn workflow_at(&self, commit: &str, file: &str) -> Option<(String, WorkflowDef)> {
        let path = format!(".github/workflows/{file}");
        let bytes = self.git.file_at(commit, &path)?;
        let def = parse_workflow(&String::from_utf8_lossy(bytes))?;
        Some((path, def))
    }

    /// The workflow's id, allocated on first sight (GitHub ids are stable per path).
    pub(crate) fn workflow_id(&mut self, owner: &str, name: &str, path: &str) -> u64 {
        let fresh = self.next_id();
        match self.repo_mut(owner, name) {
            Some(repo) => *repo.workflows.entry(path.to_string()).or_insert(fresh),
            None => fresh,
        }
    }

    /// Accept a dispatch and create its run (`workflow_run.requested`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dispatch(
        &mut self,
        owner: &str,
        name: &str,
        workflow: &str,
        git_ref: &str,
        inputs: BTreeMap<String, String>,
        actor: &str,
        return_run_details: bool,
    ) -> Result<u64, ApiError> {
        let repo = self.repo(owner, name).ok_or_else(ApiError::not_found)?;
        let full_name = repo.full_name();
        let branch = git_ref
            .trim_start_matches("refs/heads/")
            .trim_start_matches("refs/tags/")
            .to_string();
        let head_sha = self
            .resolve_ref(repo, git_ref)
            .ok_or_else(|| ApiError::unprocessable(format!("No ref found for: {git_ref}")))?;
        let file = self
            .workflow_file_name(owner, name, workflow)
            .ok_or_else(ApiError::not_found)?;
        let (path, def) = self
            .workflow_at(&head_sha, &file)
            .ok_or_else(ApiError::not_found)?;
        if !def.dispatchable {
            return Err(ApiError::unprocessable(
                "Workflow does not have 'workflow_dispatch' trigger",
            ));
        }
        if inputs.len() > 25 {
            return Err(ApiError::unprocessable(
                "you may only define up to 25 `inputs` for a `workflow_dispatch` event",
            ));
        }
        let unexpected: Vec<&String> = inputs
            .keys()
            .filter(|k| !def.inputs.contains_key(*k))
            .collect();
        if !unexpected.is_empty() {
            return Err(ApiError::unprocessable(format!(
                "Unexpected inputs provided: {unexpected:?}"
            )));
        }
        let mut effective = inputs.clone();
        for (k, (required, default)) in &def.inputs {
            if !effective.contains_key(k) {
                match default {
                    Some(d) => {
                        effective.insert(k.clone(), d.clone());
                    }
                    None if *required => {
                        return Err(ApiError::unprocessable(format!(
                            "Required input '{k}' not provided"
                        )));
                    }
                    None => {}
                }
            }
        }
        let workflow_id = self.workflow_id(owner, name, &path);
        let suite_id = self.next_id();
        let job_id = self.next_id();
        let id = self.next_id();
        let display_title = match &def.run_name {
            Some(t) => render_run_name(t, &effective, &branch, actor),
            None => def.name.clone().unwrap_or_else(|| path.clone()),
        };
        let workflow_name = def.name.clone().unwrap_or_else(|| path.clone());
        let group = def.concurrency.as_ref().map(|c| {
            super::concurrency::render_group(c, &workflow_name, &effective, &branch, actor)
        });
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let counter = repo.run_numbers.entry(workflow_id).or_insert(0);
        *counter += 1;
        let now = Utc::now();
        repo.runs.insert(
            id,
            Run {
                id,
                workflow_id,
                path: path.clone(),
                name: def.name.clone().unwrap_or_else(|| path.clone()),
                display_title,
                run_number: *counter,
                run_attempt: 1,
                head_branch: branch,
                head_sha,
                event: "workflow_dispatch".to_string(),
                status: "queued".to_string(),
                conclusion: None,
                actor: actor.to_string(),
                suite_id,
                job_id,
                job_name: def.job_name.clone(),
                group,
                inputs: effective,
                created_at: now,
                updated_at: now,
                run_started_at: now,
            },
        );
        self.dispatches.push(super::DispatchRecord {
            repo: full_name,
            workflow: file,
            git_ref: git_ref.to_string(),
            inputs,
            return_run_details,
            run_id: id,
        });
        self.emit_run(owner, name, id, "requested");
        self.join_group(owner, name, id);
        Ok(id)
    }

    /// Resolve a `workflow_id` path parameter (numeric id or file name) to a file name.
    pub(crate) fn workflow_file_name(
        &self,
        owner: &str,
        name: &str,
        workflow: &str,
    ) -> Option<String> {
        let repo = self.repo(owner, name)?;
        match workflow.parse::<u64>() {
            Ok(id) => repo
                .workflows
                .iter()
                .find(|(_, w)| **w == id)
                .map(|(p, _)| p.rsplit('/').next().unwrap_or(p).to_string()),
            Err(_) => Some(workflow.to_string()),
        }
    }

    /// Announce `workflow_run.<action>`.
    pub(crate) fn emit_run(&mut self, owner: &str, name: &str, id: u64, action: &str) {
        let Some(repo) = self.repo(owner, name) else {
            return;
        };
        let Some(run) = repo.runs.get(&id) else {
            return;
        };
        let actor = run.actor.clone();
        let mut m = Map::new();
        m.insert("action".into(), json!(action));
        m.insert("workflow_run".into(), self.run_json(repo, run));
        m.insert(
            "workflow".into(),
            self.workflow_json(repo, run.workflow_id, &run.path, &run.name),
        );
        m.extend(self.hook_base(owner, name, &actor));
        self.emit("workflow_run", Some(action), Value::Object(m));
    }

    fn script_for(&self, owner: &str, name: &str, run: &Run) -> Script {
        let key = repo_key(owner, name);
        let file = run.path.rsplit('/').next().unwrap_or(&run.path).to_string();
        let request_id = run.inputs.get("request_id");
        let matches = |r: &&ScriptRule| r.repo == key && r.workflow == file;
        let specific = self
            .scripts
            .iter()
            .rev()
            .filter(matches)
            .find(|r| r.request_id.is_some() && r.request_id.as_ref() == request_id);
        let general = || {
            self.scripts
                .iter()
                .rev()
                .filter(matches)
                .find(|r| r.request_id.is_none())
        };
        let Some(rule) = specific.or_else(general) else {
            return Script::success();
        };
        let commit = rule
            .checkout_input
            .as_ref()
            .and_then(|input| run.inputs.get(input))
            .unwrap_or(&run.head_sha);
        let files = match self.git.files_at(commit) {
            Some(tree) if !rule.reads.is_empty() => tree
                .keys()
                .filter(|path| {
                    rule.reads
                        .iter()
                        .any(|prefix| path.starts_with(prefix.as_str()))
                })
                .filter_map(|path| {
                    let bytes = self.git.file_at(commit, path)?;
                    Some((path.clone(), bytes.to_vec()))
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let info = RunInfo {
            repo: self
                .repo(owner, name)
                .map(|r| r.full_name())
                .unwrap_or_default(),
            workflow: file.clone(),
            run_id: run.id,
            run_attempt: run.run_attempt,
            inputs: run.inputs.clone(),
            head_sha: run.head_sha.clone(),
            head_branch: run.head_branch.clone(),
            files,
        };
        (rule.script)(&info)
    }

    /// Advance a run one step (queued → in_progress → completed); returns its new status,
    /// or `None` when it was already completed or does not exist.
    pub(crate) fn step_run(&mut self, owner: &str, name: &str, id: u64) -> Option<String> {
        let run = self.repo(owner, name)?.runs.get(&id)?.clone();
        match run.status.as_str() {
            "pending" if !self.may_start(owner, name, id) => None,
            "queued" | "waiting" | "pending" | "requested" => {
                let r = self.repo_mut(owner, name)?.runs.get_mut(&id)?;
                r.status = "in_progress".to_string();
                r.run_started_at = Utc::now();
                r.updated_at = Utc::now();
                self.emit_run(owner, name, id, "in_progress");
                Some("in_progress".to_string())
            }
            "in_progress" => {
                let script = self.script_for(owner, name, &run);
                let mut artifacts = Vec::new();
                for spec in &script.artifacts {
                    // a zip that cannot be built is left out, as a failed upload would be
                    if let Ok(zip) = zip_files(&spec.files) {
                        let aid = self.next_id();
                        artifacts.push(Artifact {
                            id: aid,
                            run_id: id,
                            name: spec.name.clone(),
                            zip,
                            created_at: Utc::now(),
                            expires_at: Utc::now() + chrono::Duration::days(90),
                        });
                    }
                }
                let repo = self.repo_mut(owner, name)?;
                // a re-run replaces the previous attempt's artifacts
                repo.artifacts.retain(|_, a| a.run_id != id);
                for a in artifacts {
                    repo.artifacts.insert(a.id, a);
                }
                let r = repo.runs.get_mut(&id)?;
                r.status = "completed".to_string();
                r.conclusion = Some(script.conclusion.as_str().to_string());
                r.updated_at = Utc::now();
                self.emit_run(owner, name, id, "completed");
                Some("completed".to_string())
            }
            _ => None,
        }
    }

    /// Start a new attempt of a run (same id, `run_attempt` + 1); `workflow_run.requested`.
    pub(crate) fn rerun(&mut self, owner: &str, name: &str, id: u64) -> Result<(), ApiError> {
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let r = repo.runs.get_mut(&id).ok_or_else(ApiError::not_found)?;
        if r.status != "completed" {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "This workflow run is not completed",
            ));
        }
        r.run_attempt += 1;
        r.status = "queued".to_string();
        r.conclusion = None;
        r.updated_at = Utc::now();
        r.run_started_at = Utc::now();
        self.emit_run(owner, name, id, "requested");
        self.join_group(owner, name, id);
        Ok(())
    }

    /// Cancel a run that has not completed; `workflow_run.completed` with `cancelled`.
    pub(crate) fn cancel_run(&mut self, owner: &str, name: &str, id: u64) -> Result<(), ApiError> {
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let r = repo.runs.get_mut(&id).ok_or_else(ApiError::not_found)?;
        if r.status == "completed" {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "Cannot cancel a workflow run that is completed.",
            ));
        }
        r.status = "completed".to_string();
        r.conclusion = Some("cancelled".to_string());
        r.updated_at = Utc::now();
        self.emit_run(owner, name, id, "completed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dispatch_inputs_and_run_name() {
        let def = parse_workflow(
            "name: tfpilot plan\nrun-name: plan ${{ inputs.request_id }} ${{ inputs.nonce }}\non:\n  workflow_dispatch:\n    inputs:\n      request_id:\n        required: true\n      nonce:\n        required: false\n        default: none\njobs:\n  plan:\n    runs-on: ubuntu-latest\n",
        )
        .unwrap();
        assert!(def.dispatchable);
        assert_eq!(def.name.as_deref(), Some("tfpilot plan"));
        assert_eq!(def.inputs.get("request_id"), Some(&(true, None)));
        assert_eq!(
            def.inputs.get("nonce"),
            Some(&(false, Some("none".to_string())))
        );
        assert_eq!(def.job_name, "plan");
        let inputs = BTreeMap::from([("request_id".to_string(), "req_dev_s3_abc123".to_string())]);
        assert_eq!(
            render_run_name(def.run_name.as_deref().unwrap(), &inputs, "main", "bot"),
            "plan req_dev_s3_abc123 "
        );
    }

    #[test]
    fn push_only_workflow_is_not_dispatchable() {
        let def = parse_workflow("on: push\njobs:\n  a: {}\n").unwrap();
        assert!(!def.dispatchable);
        let def = parse_workflow("on: [push, workflow_dispatch]\njobs:\n  a: {}\n").unwrap();
        assert!(def.dispatchable);
    }
}
