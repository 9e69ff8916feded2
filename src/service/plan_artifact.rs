//! Reading a plan run's artifact into the facts the comment and check runs need.
//!
//! The plan workflow uploads one artifact (`core::contract::PLAN.artifact`) holding
//! `plan.json` (`terraform show -json`), `plan.txt` and, when Infracost is set up,
//! `infracost-diff.json`. tfpilot downloads it once per plan run attempt, summarizes
//! it, and stores the summary in the request (`planSummary`), bounded in size.
//!
//! Nothing here fails the request: a missing artifact, a broken zip or an
//! unreadable plan becomes the fact "plan unreadable" with the reason, and the
//! comment says so and links the run. Only a GitHub failure that may pass (5xx,
//! rate limit, connection) is returned as an error, so a later pass reads again.

use std::io::{Cursor, Read};

use crate::core::contract::{self, files};
use crate::core::cost::CostEstimate;
use crate::core::fingerprint::{Fingerprint, fingerprint};
use crate::core::plan::{ChangeAction, Plan, PlanError, PlanSummary};
use crate::core::request::{ApplyPlanFacts, Extra, PlanSummaryFacts, RunFacts};
use crate::github::{GitHub, GitHubError, Repo};

/// Most changes kept in a stored summary; the comment shows fewer than this anyway
/// (about a thousand lines fill GitHub's 65,536 characters). Counts stay exact.
pub const MAX_STORED_CHANGES: usize = 1_000;

/// Most outputs, drifted resources or deferred changes kept in a stored summary.
pub const MAX_STORED_OTHERS: usize = 100;

/// Largest artifact zip downloaded and largest file read from it. Real plans of a
/// few thousand resources are a few megabytes; this only stops a runaway artifact.
pub const MAX_ARTIFACT_BYTES: usize = 64 * 1024 * 1024;

/// Why an artifact gave no plan summary (stored as the fact's `unreadable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    /// The run uploaded no artifact of the contract's name.
    #[error("the plan run uploaded no `{0}` artifact")]
    Missing(&'static str),
    /// The artifact expired (GitHub keeps them for a limited time).
    #[error("the plan artifact has expired")]
    Expired,
    /// The download is not a zip, or a file in it cannot be unpacked.
    #[error("the plan artifact is not a readable zip ({0})")]
    NotAZip(String),
    /// A file is larger than [`MAX_ARTIFACT_BYTES`].
    #[error("`{0}` in the plan artifact is too large to read")]
    TooLarge(String),
    /// The zip does not hold `plan.json`.
    #[error("the plan artifact holds no `{}`", files::PLAN_JSON)]
    NoPlanJson,
    /// `plan.json` is not UTF-8.
    #[error("`{}` is not UTF-8 text", files::PLAN_JSON)]
    NotText,
    /// `plan.json` is not a Terraform JSON plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// The files tfpilot reads from a plan artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactFiles {
    /// `plan.json`, when present.
    pub plan_json: Option<Vec<u8>>,
    /// `infracost-diff.json`, when present.
    pub infracost_json: Option<Vec<u8>>,
}

/// Why a file could not be read out of an artifact zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipReadError {
    /// Not a zip, or an entry cannot be unpacked.
    Unreadable(String),
    /// The named entry is larger than [`MAX_ARTIFACT_BYTES`].
    TooLarge(String),
}

/// Reads each of `wanted` from an artifact zip, bounded by [`MAX_ARTIFACT_BYTES`].
/// A file is looked up at the root first, then by its name in any folder
/// (upload-artifact keeps paths below the common ancestor of what was uploaded);
/// `None` where it is absent.
pub fn read_zip_files(bytes: &[u8], wanted: &[&str]) -> Result<Vec<Option<Vec<u8>>>, ZipReadError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ZipReadError::Unreadable(e.to_string()))?;
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    let mut out = Vec::with_capacity(wanted.len());
    for wanted in wanted {
        let found = names
            .iter()
            .find(|n| n.as_str() == *wanted)
            .or_else(|| names.iter().find(|n| n.rsplit('/').next() == Some(*wanted)));
        let Some(name) = found else {
            out.push(None);
            continue;
        };
        let file = archive
            .by_name(name)
            .map_err(|e| ZipReadError::Unreadable(e.to_string()))?;
        let mut content = Vec::new();
        // The declared size can lie: read at most one byte past the limit.
        file.take(MAX_ARTIFACT_BYTES as u64 + 1)
            .read_to_end(&mut content)
            .map_err(|e| ZipReadError::Unreadable(e.to_string()))?;
        if content.len() > MAX_ARTIFACT_BYTES {
            return Err(ZipReadError::TooLarge(name.clone()));
        }
        out.push(Some(content));
    }
    Ok(out)
}

/// Unpacks `plan.json` and `infracost-diff.json` from an artifact zip.
pub fn unzip(bytes: &[u8]) -> Result<ArtifactFiles, ArtifactError> {
    let mut found = read_zip_files(bytes, &[files::PLAN_JSON, files::INFRACOST_DIFF_JSON])
        .map_err(|e| match e {
            ZipReadError::Unreadable(m) => ArtifactError::NotAZip(m),
            ZipReadError::TooLarge(name) => ArtifactError::TooLarge(name),
        })?
        .into_iter();
    Ok(ArtifactFiles {
        plan_json: found.next().flatten(),
        infracost_json: found.next().flatten(),
    })
}

/// What an artifact's files say: the summary and fingerprint (or why not), and
/// the cost estimate when one was there and readable.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    /// The bounded summary and the request module's fingerprint, or why there is none.
    pub plan: Result<(PlanSummary, usize, Fingerprint), ArtifactError>,
    /// The cost estimate; an unreadable one is left out (logged), it is optional.
    pub cost: Option<CostEstimate>,
}

/// Summarizes an artifact's files for request `request_id`.
pub fn read_files(files: &ArtifactFiles, request_id: &str) -> ReadPlan {
    let plan = match &files.plan_json {
        None => Err(ArtifactError::NoPlanJson),
        Some(bytes) => std::str::from_utf8(bytes)
            .map_err(|_| ArtifactError::NotText)
            .and_then(|text| Plan::from_json(text).map_err(ArtifactError::from))
            .map(|plan| {
                let module = contract::target_module(request_id);
                let fp = fingerprint(&plan, Some(&module));
                let (summary, omitted) = bounded(plan.summary());
                (summary, omitted, fp)
            }),
    };
    let cost = files.infracost_json.as_ref().and_then(|bytes| {
        let text = std::str::from_utf8(bytes).ok()?;
        match CostEstimate::from_json(text) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(request_id, error = %e, "infracost-diff.json unreadable; cost left out");
                None
            }
        }
    });
    ReadPlan { plan, cost }
}

/// The summary with plain no-ops dropped (they are counted, never listed) and the
/// listed changes capped; returns it with the number of changes left out.
pub fn bounded(mut summary: PlanSummary) -> (PlanSummary, usize) {
    summary.resource_changes.retain(|rc| {
        rc.action != ChangeAction::NoOp || rc.previous_address.is_some() || rc.importing.is_some()
    });
    let omitted = summary
        .resource_changes
        .len()
        .saturating_sub(MAX_STORED_CHANGES);
    summary.resource_changes.truncate(MAX_STORED_CHANGES);
    summary.outputs.truncate(MAX_STORED_OTHERS);
    summary.drift.truncate(MAX_STORED_OTHERS);
    summary.deferred.truncate(MAX_STORED_OTHERS);
    (summary, omitted)
}

/// True for GitHub failures that may pass by themselves: read again later rather
/// than store "unreadable" for good.
pub fn is_transient(e: &GitHubError) -> bool {
    matches!(
        e,
        GitHubError::Server { .. }
            | GitHubError::RateLimited { .. }
            | GitHubError::Transport { .. }
            | GitHubError::Unauthorized { .. }
    )
}

/// Downloads and reads the artifact of plan run `run`, for the request `request_id`.
///
/// Returns the facts to store, with `unreadable` set when there is no usable plan;
/// `Err` only for a transient GitHub failure.
pub async fn read_plan_run(
    github: &dyn GitHub,
    repo: &Repo,
    request_id: &str,
    run: &RunFacts,
    run_id: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PlanSummaryFacts, GitHubError> {
    let mut facts = PlanSummaryFacts {
        run_id,
        run_attempt: run.run_attempt,
        head_sha: run.head_sha.clone(),
        read_at: Some(now),
        summary: None,
        omitted_changes: 0,
        fingerprint: None,
        cost: None,
        unreadable: None,
        extra: Extra::new(),
    };
    let read = match download(github, repo, run_id).await {
        Ok(files) => read_files(&files, request_id),
        Err(Fetch::GitHub(e)) => return Err(e),
        Err(Fetch::Artifact(e)) => ReadPlan {
            plan: Err(e),
            cost: None,
        },
    };
    match read.plan {
        Ok((summary, omitted, fp)) => {
            facts.summary = Some(summary);
            facts.omitted_changes = omitted;
            facts.fingerprint = Some(fp);
        }
        Err(e) => {
            tracing::warn!(request_id, run_id, reason = %e, "plan unreadable");
            facts.unreadable = Some(e.to_string());
        }
    }
    facts.cost = read.cost;
    Ok(facts)
}

/// Downloads and reads the artifact of failed apply run `run` (`tfpilot-apply-plan`):
/// whether the plan at apply time matched the expected fingerprint, and that plan.
///
/// `fingerprint.json` says whether it matched; without it (the step failed before
/// writing it) the plan's fingerprint is computed from `plan.json` and compared with
/// `expected` (what the apply was dispatched with). The fingerprint stored is always
/// the one of the `plan.json` shown, so the plan applied next is the plan people saw.
/// `Err` only for a transient GitHub failure.
pub async fn read_apply_run(
    github: &dyn GitHub,
    repo: &Repo,
    request_id: &str,
    run: &RunFacts,
    run_id: u64,
    expected: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ApplyPlanFacts, GitHubError> {
    let mut facts = ApplyPlanFacts {
        run_id,
        run_attempt: run.run_attempt,
        read_at: Some(now),
        expected,
        fingerprint: None,
        matched: None,
        summary: None,
        omitted_changes: 0,
        unreadable: None,
        shown_at: None,
        extra: Extra::new(),
    };
    let name = contract::APPLY.artifact.name;
    let bytes = match download_artifact_zip(github, repo, run_id, name).await {
        Ok(b) => b,
        Err(DownloadError::Transient(e)) => return Err(e),
        Err(e) => {
            let why = match e {
                DownloadError::Missing => format!("the apply run uploaded no `{name}` artifact"),
                DownloadError::Expired => "the apply artifact has expired".to_string(),
                DownloadError::TooLarge => ArtifactError::TooLarge(name.to_string()).to_string(),
                DownloadError::Failed(m) => ArtifactError::NotAZip(m).to_string(),
                // Returned above; kept as the error's text rather than a panic.
                DownloadError::Transient(g) => g.to_string(),
            };
            facts.unreadable = Some(why);
            return Ok(facts);
        }
    };
    apply_files(&mut facts, &bytes, request_id);
    Ok(facts)
}

/// Fills `facts` from an apply artifact's zip (see [`read_apply_run`]).
pub fn apply_files(facts: &mut ApplyPlanFacts, zip: &[u8], request_id: &str) {
    let found = match read_zip_files(zip, &[files::PLAN_JSON, files::FINGERPRINT_JSON]) {
        Ok(f) => f,
        Err(ZipReadError::Unreadable(m)) => {
            facts.unreadable = Some(ArtifactError::NotAZip(m).to_string());
            return;
        }
        Err(ZipReadError::TooLarge(n)) => {
            facts.unreadable = Some(ArtifactError::TooLarge(n).to_string());
            return;
        }
    };
    let mut found = found.into_iter();
    let plan_json = found.next().flatten();
    let reported: Option<contract::ApplyFingerprint> = found
        .next()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(r) = &reported {
        facts.matched = Some(r.matched);
        if facts.expected.is_none() {
            facts.expected = Some(r.expected.clone());
        }
        facts.fingerprint = Fingerprint::parse(&r.actual).ok();
    }
    let read = read_files(
        &ArtifactFiles {
            plan_json,
            infracost_json: None,
        },
        request_id,
    );
    match read.plan {
        Ok((summary, omitted, fp)) => {
            if let Some(r) = &reported
                && r.actual != fp.as_str()
            {
                // Only if the script and tfpilot disagree; the plan shown wins.
                tracing::warn!(
                    request_id,
                    run_id = facts.run_id,
                    "fingerprint.json disagrees with plan.json"
                );
            }
            if facts.matched.is_none() {
                facts.matched = facts.expected.as_deref().map(|e| e == fp.as_str());
            }
            facts.fingerprint = Some(fp);
            facts.summary = Some(summary);
            facts.omitted_changes = omitted;
        }
        Err(e) => facts.unreadable = Some(e.to_string()),
    }
}

enum Fetch {
    GitHub(GitHubError),
    Artifact(ArtifactError),
}

/// Why an artifact's zip could not be downloaded.
#[derive(Debug)]
pub enum DownloadError {
    /// GitHub failed in a way that may pass (5xx, rate limit, connection): try later.
    Transient(GitHubError),
    /// The run uploaded no artifact of that name.
    Missing,
    /// The artifact expired or was deleted.
    Expired,
    /// The artifact is larger than [`MAX_ARTIFACT_BYTES`].
    TooLarge,
    /// The download failed for good.
    Failed(String),
}

/// Downloads the zip of run `run_id`'s artifact called `name` (the newest, when a
/// re-run uploaded it again), refusing expired and oversized ones before fetching.
pub async fn download_artifact_zip(
    github: &dyn GitHub,
    repo: &Repo,
    run_id: u64,
    name: &str,
) -> Result<Vec<u8>, DownloadError> {
    let artifacts = match github.list_run_artifacts(repo, run_id).await {
        Ok(a) => a,
        Err(e) if is_transient(&e) => return Err(DownloadError::Transient(e)),
        Err(_) => return Err(DownloadError::Missing),
    };
    // A re-run uploads again under the same name: the newest wins.
    let Some(artifact) = artifacts
        .iter()
        .filter(|a| a.name == name)
        .max_by_key(|a| (a.created_at, a.id))
    else {
        return Err(DownloadError::Missing);
    };
    if artifact.expired {
        return Err(DownloadError::Expired);
    }
    if artifact.size_in_bytes > MAX_ARTIFACT_BYTES as u64 {
        return Err(DownloadError::TooLarge);
    }
    match github.download_artifact(repo, artifact.id).await {
        Ok(b) => Ok(b),
        Err(e) if is_transient(&e) => Err(DownloadError::Transient(e)),
        Err(e) if e.is_not_found() => Err(DownloadError::Expired),
        Err(e) => Err(DownloadError::Failed(e.to_string())),
    }
}

async fn download(github: &dyn GitHub, repo: &Repo, run_id: u64) -> Result<ArtifactFiles, Fetch> {
    let name = contract::PLAN.artifact.name;
    let bytes = download_artifact_zip(github, repo, run_id, name)
        .await
        .map_err(|e| match e {
            DownloadError::Transient(e) => Fetch::GitHub(e),
            DownloadError::Missing => Fetch::Artifact(ArtifactError::Missing(name)),
            DownloadError::Expired => Fetch::Artifact(ArtifactError::Expired),
            DownloadError::TooLarge => Fetch::Artifact(ArtifactError::TooLarge(name.to_string())),
            DownloadError::Failed(m) => Fetch::Artifact(ArtifactError::NotAZip(m)),
        })?;
    unzip(&bytes).map_err(Fetch::Artifact)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        {
            let mut zw = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (name, bytes) in entries {
                zw.start_file(*name, opts).expect("start");
                zw.write_all(bytes).expect("write");
            }
            zw.finish().expect("finish");
        }
        buf.into_inner()
    }

    const ID: &str = "req_dev_s3_tgqpp8";

    fn plan_json(n: usize) -> String {
        let changes: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"address":"module.tfpilot_{ID}.aws_s3_bucket.b[{i}]","module_address":"module.tfpilot_{ID}","mode":"managed","type":"aws_s3_bucket","name":"b","index":{i},"change":{{"actions":["create"],"before":null,"after":{{"bucket":"b{i}"}},"after_unknown":{{}},"before_sensitive":false,"after_sensitive":{{}}}}}}"#
                )
            })
            .collect();
        format!(
            r#"{{"format_version":"1.2","terraform_version":"1.9.8","resource_changes":[{}],"applyable":true,"complete":true,"errored":false}}"#,
            changes.join(",")
        )
    }

    #[test]
    fn a_plan_artifact_is_summarized_with_its_fingerprint() {
        let zip = zip_of(&[
            ("plan.json", plan_json(2).as_bytes()),
            ("plan.txt", b"Plan: 2 to add"),
        ]);
        let files = unzip(&zip).expect("unzips");
        let read = read_files(&files, ID);
        let (summary, omitted, fp) = read.plan.expect("readable");
        assert_eq!(summary.counts.create, 2);
        assert_eq!(summary.plan_line.add, 2);
        assert_eq!(omitted, 0);
        assert!(fp.as_str().starts_with("sha256:"));
        assert!(read.cost.is_none());
    }

    #[test]
    fn files_in_a_folder_are_found() {
        let zip = zip_of(&[("out/plan.json", plan_json(1).as_bytes())]);
        let files = unzip(&zip).expect("unzips");
        assert!(files.plan_json.is_some());
        assert!(files.infracost_json.is_none());
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        assert!(matches!(
            unzip(b"not a zip"),
            Err(ArtifactError::NotAZip(_))
        ));
        let files = unzip(&zip_of(&[("plan.txt", b"x")])).expect("unzips");
        assert_eq!(
            read_files(&files, ID).plan.err(),
            Some(ArtifactError::NoPlanJson)
        );
        let files = unzip(&zip_of(&[("plan.json", b"[command]terraform show")])).expect("zip");
        let err = read_files(&files, ID).plan.expect_err("unreadable");
        assert!(err.to_string().contains("setup-terraform"), "{err}");
    }

    #[test]
    fn a_huge_plan_is_stored_bounded_with_exact_counts() {
        let plan = Plan::from_json(&plan_json(MAX_STORED_CHANGES + 250)).expect("plan");
        let (summary, omitted) = bounded(plan.summary());
        assert_eq!(summary.resource_changes.len(), MAX_STORED_CHANGES);
        assert_eq!(omitted, 250);
        assert_eq!(summary.counts.create, MAX_STORED_CHANGES + 250);
        assert_eq!(summary.plan_line.add, MAX_STORED_CHANGES + 250);
    }

    #[test]
    fn an_infracost_file_gives_the_cost() {
        let infracost = br#"{"version":"0.2","currency":"USD","projects":[],"totalMonthlyCost":"12.5","pastTotalMonthlyCost":"10","diffTotalMonthlyCost":"2.5"}"#;
        let zip = zip_of(&[
            ("plan.json", plan_json(1).as_bytes()),
            ("infracost-diff.json", infracost),
        ]);
        let read = read_files(&unzip(&zip).expect("zip"), ID);
        let cost = read.cost.expect("cost read");
        assert_eq!(cost.currency, "USD");
        assert!(cost.delta.is_some());
    }

    fn apply_facts(expected: Option<&str>) -> ApplyPlanFacts {
        ApplyPlanFacts {
            run_id: 9,
            run_attempt: Some(1),
            read_at: None,
            expected: expected.map(str::to_string),
            fingerprint: None,
            matched: None,
            summary: None,
            omitted_changes: 0,
            unreadable: None,
            shown_at: None,
            extra: Extra::new(),
        }
    }

    fn fingerprint_of(plan: &str) -> String {
        let module = contract::target_module(ID);
        fingerprint(&Plan::from_json(plan).expect("plan"), Some(&module))
            .as_str()
            .to_string()
    }

    #[test]
    fn an_apply_artifact_says_whether_the_plan_changed() {
        let plan = plan_json(3);
        let actual = fingerprint_of(&plan);
        let reviewed = fingerprint_of(&plan_json(2));
        let report = format!(r#"{{"expected":"{reviewed}","actual":"{actual}","matched":false}}"#);
        let zip = zip_of(&[
            ("plan.json", plan.as_bytes()),
            ("plan.txt", b"Plan: 3 to add"),
            ("fingerprint.json", report.as_bytes()),
        ]);
        let mut facts = apply_facts(None);
        apply_files(&mut facts, &zip, ID);
        assert!(facts.plan_changed());
        assert_eq!(facts.expected.as_deref(), Some(reviewed.as_str()));
        assert_eq!(
            facts.fingerprint.as_ref().map(|f| f.as_str()),
            Some(actual.as_str())
        );
        assert_eq!(facts.summary.as_ref().map(|s| s.plan_line.add), Some(3));
        assert!(facts.unreadable.is_none());
    }

    #[test]
    fn without_fingerprint_json_the_plan_is_compared_with_the_expected_fingerprint() {
        let plan = plan_json(3);
        let zip = zip_of(&[("plan.json", plan.as_bytes())]);
        let reviewed = fingerprint_of(&plan_json(2));
        let mut changed = apply_facts(Some(&reviewed));
        apply_files(&mut changed, &zip, ID);
        assert_eq!(changed.matched, Some(false));
        let same = fingerprint_of(&plan);
        let mut unchanged = apply_facts(Some(&same));
        apply_files(&mut unchanged, &zip, ID);
        assert_eq!(unchanged.matched, Some(true));
        // Nothing readable: nothing is claimed about the plan.
        let mut nothing = apply_facts(Some(&same));
        apply_files(&mut nothing, &zip_of(&[("apply.txt", b"x")]), ID);
        assert_eq!(nothing.matched, None);
        assert!(nothing.fingerprint.is_none());
        assert!(nothing.unreadable.is_some());
    }
}
