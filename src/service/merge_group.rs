//! `merge_group`: a merge queue wants checks on the commit it will merge.
//!
//! tfpilot applies after merge, so the queue's commit needs no new plan: the
//! reviewed plan of the PR decides. `tfpilot/plan` is concluded on the merge
//! group's head SHA within this one delivery — success when the request's plan
//! succeeded for the PR's head, failure otherwise, and success for PRs that are
//! not tfpilot requests — so a queue never stalls waiting on tfpilot.

use crate::core::request::WorkflowKind;
use crate::core::status::is_plan_stale;
use crate::core::webhook::MergeGroupEvent;
use crate::github::{CheckOutput, Conclusion, NewCheckRun, RunStatus as CheckRunStatus};
use crate::render::PLAN_CHECK_NAME;
use crate::store::Thread;

use super::{Outcome, Service, ServiceError, repo_of};

/// The PR number in a merge queue ref (`…/gh-readonly-queue/<base>/pr-<n>-<sha>`).
pub fn queued_pr(head_ref: &str) -> Option<u64> {
    let last = head_ref.rsplit('/').next()?;
    let rest = last.strip_prefix("pr-")?;
    rest.split('-').next()?.parse().ok()
}

/// Concludes `tfpilot/plan` on the merge group's head commit.
pub async fn handle(svc: &Service, e: &MergeGroupEvent) -> Result<Outcome, ServiceError> {
    if e.action != "checks_requested" {
        return Ok(Outcome::Ignored);
    }
    let repo = repo_of(&e.repository, e.installation.as_ref().map(|i| i.id))
        .ok_or(ServiceError::Incomplete("installation"))?;
    let request = match queued_pr(&e.merge_group.head_ref) {
        Some(n) => match svc
            .index
            .find(Thread::Pr, &repo.owner, &repo.name, n)
            .await?
        {
            Some(id) => svc.requests.get(&id).await?,
            None => None,
        },
        None => None,
    };
    let (conclusion, title, summary) = match &request {
        None => (
            Conclusion::Success,
            "Not a tfpilot request".to_string(),
            "This change is not a tfpilot request; tfpilot has nothing to check.".to_string(),
        ),
        Some(req) => {
            let plan_ok =
                req.run(WorkflowKind::Plan).is_some_and(|r| r.succeeded()) && !is_plan_stale(req);
            if plan_ok {
                (
                    Conclusion::Success,
                    "Reviewed plan succeeded".to_string(),
                    format!(
                        "The plan of request `{}` succeeded for the pull request's last commit; it is applied after merge with `/tfpilot apply`.",
                        req.id
                    ),
                )
            } else {
                (
                    Conclusion::Failure,
                    "No successful plan of the last commit".to_string(),
                    format!(
                        "Request `{}` has no successful plan of the pull request's last commit. Comment `/tfpilot plan` on the pull request, then queue it again.",
                        req.id
                    ),
                )
            }
        }
    };
    let now = svc.now();
    svc.github
        .create_check_run(
            &repo,
            &NewCheckRun {
                name: PLAN_CHECK_NAME.to_string(),
                head_sha: e.merge_group.head_sha.clone(),
                details_url: None,
                external_id: request.as_ref().map(|r| r.id.clone()),
                status: Some(CheckRunStatus::Completed),
                conclusion: Some(conclusion),
                started_at: Some(now),
                completed_at: Some(now),
                output: Some(CheckOutput {
                    title,
                    summary,
                    text: None,
                }),
                actions: Vec::new(),
            },
        )
        .await?;
    Ok(Outcome::Processed)
}

#[cfg(test)]
mod tests {
    use super::queued_pr;

    #[test]
    fn the_pr_number_comes_from_the_queue_ref() {
        assert_eq!(
            queued_pr(
                "refs/heads/gh-readonly-queue/main/pr-42-0123456789abcdef0123456789abcdef01234567"
            ),
            Some(42)
        );
        assert_eq!(queued_pr("refs/heads/main"), None);
        assert_eq!(
            queued_pr("refs/heads/gh-readonly-queue/main/pr-x-abc"),
            None
        );
    }
}
