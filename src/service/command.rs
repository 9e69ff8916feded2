//! `/tfpilot …` on a request PR, and the check-run buttons that stand for the same
//! commands: who asked, where, may they, may the request, then act and answer.
//!
//! Order for each command: authorization (the environment's rule at the default
//! branch, looked up through the API), then the lifecycle gate on the stored facts
//! (for apply, with the PR's reviews re-read from the API first), then the action. Every accepted comment gets exactly one reaction (🚀 when a
//! command dispatched a workflow, 👀 otherwise) and refusals, `status`, `help`,
//! `sync` and `unlock` one reply comment. Reactions, replies and dispatches each carry
//! a once-key derived from the delivery id, so a redelivered or duplicated delivery,
//! even processed concurrently by two replicas, never acts twice.

pub mod fresh;
pub mod replies;

use crate::config::repo::{Action, EnvironmentConfig};
use crate::core::command::{
    CommandAction, CommandParse, addresses_tfpilot, help_text, parse_comment,
};
use crate::core::gates;
use crate::core::ids::RequestId;
use crate::core::policy::{self, Denial, Grant, Person};
use crate::core::request::{Request, WorkflowKind};
use crate::core::status::derive_status;
use crate::core::webhook::{CheckRunEvent, IssueCommentEvent};
use crate::github::{MembershipState, PullRequest, ReactionContent, Repo};
use crate::render::{CheckActionId, PLAN_CHECK_NAME};
use crate::store::Thread;

use super::dispatch::dispatch;
use super::lifecycle::{self, Started};
use super::{Outcome, Service, ServiceError, claims, repo_of, sync};

/// True for comments that may hold commands for tfpilot: newly created, by a person,
/// with at least one `/tfpilot` line outside code and quotes. Decided without I/O.
pub fn comment_is_relevant(e: &IssueCommentEvent) -> bool {
    e.action == "created"
        && !e.comment.user.is_bot()
        && !e.sender.is_bot()
        && addresses_tfpilot(e.comment.body.as_deref().unwrap_or(""))
}

/// True for check-run deliveries tfpilot acts on: a button press, or "Re-run" on the
/// plan check, by a person.
pub fn check_run_is_relevant(e: &CheckRunEvent) -> bool {
    if e.sender.is_bot() {
        return false;
    }
    match e.action.as_str() {
        "requested_action" => e
            .requested_action
            .as_ref()
            .is_some_and(|a| CheckActionId::parse(&a.identifier).is_some()),
        "rerequested" => e.check_run.name == PLAN_CHECK_NAME,
        _ => false,
    }
}

/// Where a command came from and how to answer it.
struct Context<'a> {
    repo: Repo,
    pr_number: u64,
    actor: &'a str,
    /// Namespaces once-keys: the delivery id (plus the comment id).
    once_prefix: String,
    /// The head branch of the PR (plans run there).
    head_branch: String,
}

/// What one command amounted to.
#[derive(Default, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Answer {
    dispatched: bool,
    reply: Option<String>,
}

impl Answer {
    fn reply(text: String) -> Answer {
        Answer {
            dispatched: false,
            reply: Some(text),
        }
    }
}

/// Handles an `issue_comment.created` delivery that addresses tfpilot.
pub async fn handle_comment(
    svc: &Service,
    delivery_id: &str,
    e: &IssueCommentEvent,
) -> Result<Outcome, ServiceError> {
    let repo = repo_of(&e.repository, e.installation.as_ref().map(|i| i.id))
        .ok_or(ServiceError::Incomplete("installation"))?;
    let actor = e.comment.user.login.as_str();
    let number = e.issue.number;
    let once_prefix = format!("{delivery_id}/{}", e.comment.id);
    let commands = match parse_comment(e.comment.body.as_deref().unwrap_or("")) {
        CommandParse::NotAddressed => return Ok(Outcome::Ignored),
        CommandParse::Commands(c) => c,
        CommandParse::Malformed { commands, problems } => {
            let text = replies::malformed_reply(actor, &problems, &commands);
            react(svc, &repo, e.comment.id, ReactionContent::Eyes).await?;
            reply_once(svc, &repo, number, &once_prefix, &text).await?;
            return Ok(Outcome::Processed);
        }
    };
    let first = replies::command_text(&commands[0].action);
    if !e.issue.is_pull_request() {
        // On a request's issue, point at its PR; elsewhere, explain.
        let pr = match svc
            .index
            .find(Thread::Issue, &repo.owner, &repo.name, number)
            .await?
        {
            Some(id) => svc
                .requests
                .get(&id)
                .await?
                .and_then(|r| r.pr().map(|p| p.number)),
            None => None,
        };
        let text = match pr {
            Some(pr) => replies::use_the_pr_reply(actor, pr),
            None => replies::not_a_request_reply(actor),
        };
        reply_once(svc, &repo, number, &once_prefix, &text).await?;
        return Ok(Outcome::Processed);
    }
    let pull = svc.github.get_pull(&repo, number).await?;
    if is_fork_pull(&pull, &repo) {
        reply_once(
            svc,
            &repo,
            number,
            &once_prefix,
            &replies::fork_reply(&first, actor),
        )
        .await?;
        return Ok(Outcome::Processed);
    }
    let Some(request_id) = find_request(svc, &repo, number, &pull.head.ref_name).await? else {
        reply_once(
            svc,
            &repo,
            number,
            &once_prefix,
            &replies::not_a_request_reply(actor),
        )
        .await?;
        return Ok(Outcome::Processed);
    };
    let ctx = Context {
        repo,
        pr_number: number,
        actor,
        once_prefix,
        head_branch: pull.head.ref_name.clone(),
    };
    let mut dispatched = false;
    let mut texts = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        if let Claimed::Answered(answer) = claim_or_answer(svc, &ctx.once_prefix, index).await? {
            // Another attempt ran it: this one finishes the reply and the reaction
            // that attempt may not have got to (they are once-keyed).
            dispatched |= answer.dispatched;
            texts.extend(answer.reply);
            continue;
        }
        let answer = run_claimed(svc, &ctx, &request_id, &command.action, index).await?;
        dispatched |= answer.dispatched;
        texts.extend(answer.reply);
    }
    let reaction = if dispatched {
        ReactionContent::Rocket
    } else {
        ReactionContent::Eyes
    };
    react(svc, &ctx.repo, e.comment.id, reaction).await?;
    if !texts.is_empty() {
        let text = texts.join("\n\n---\n\n");
        reply_once(svc, &ctx.repo, number, &ctx.once_prefix, &text).await?;
    }
    Ok(Outcome::Processed)
}

/// Handles a check-run button press or "Re-run" of the plan check: the same code
/// path as the comment, with the same authorization, attributed to the presser.
pub async fn handle_check_run(
    svc: &Service,
    delivery_id: &str,
    e: &CheckRunEvent,
) -> Result<Outcome, ServiceError> {
    let repo = repo_of(&e.repository, e.installation.as_ref().map(|i| i.id))
        .ok_or(ServiceError::Incomplete("installation"))?;
    let action = match e.action.as_str() {
        "rerequested" => CommandAction::Plan,
        _ => match e
            .requested_action
            .as_ref()
            .and_then(|a| CheckActionId::parse(&a.identifier))
        {
            Some(CheckActionId::Plan) => CommandAction::Plan,
            Some(CheckActionId::Apply) => CommandAction::Apply,
            Some(CheckActionId::Sync) => CommandAction::Sync,
            None => return Ok(Outcome::Ignored),
        },
    };
    let request_id = match e
        .check_run
        .external_id
        .as_deref()
        .and_then(|id| RequestId::parse(id).ok())
    {
        Some(id) => id.to_string(),
        None => {
            let Some(link) = e.check_run.pull_requests.first() else {
                return Ok(Outcome::Ignored);
            };
            match svc
                .index
                .find(Thread::Pr, &repo.owner, &repo.name, link.number)
                .await?
            {
                Some(id) => id,
                None => return Ok(Outcome::Ignored),
            }
        }
    };
    let Some(request) = svc.requests.get(&request_id).await? else {
        return Ok(Outcome::Ignored);
    };
    let Some(pr) = request.pr() else {
        return Ok(Outcome::Ignored);
    };
    let ctx = Context {
        pr_number: pr.number,
        actor: &e.sender.login,
        once_prefix: format!("{delivery_id}/check-{}", e.check_run.id),
        head_branch: request
            .branch_name
            .clone()
            .unwrap_or_else(|| format!("request/{}", request.id)),
        repo,
    };
    let answer = match claim_or_answer(svc, &ctx.once_prefix, 0).await? {
        Claimed::Answered(answer) => answer,
        Claimed::Mine => run_claimed(svc, &ctx, &request_id, &action, 0).await?,
    };
    if let Some(text) = answer.reply {
        reply_once(svc, &ctx.repo, ctx.pr_number, &ctx.once_prefix, &text).await?;
    }
    Ok(Outcome::Processed)
}

/// True when the PR's head lives in another repository (or its fork was deleted):
/// such PRs never dispatch anything.
pub fn is_fork_pull(pull: &PullRequest, repo: &Repo) -> bool {
    match &pull.head.repo {
        Some(head) => !head.full_name.eq_ignore_ascii_case(&repo.full_name()) || head.fork,
        None => true,
    }
}

/// The request a PR belongs to: the index, else its head branch `request/<id>`.
async fn find_request(
    svc: &Service,
    repo: &Repo,
    number: u64,
    head_branch: &str,
) -> Result<Option<String>, ServiceError> {
    if let Some(id) = svc
        .index
        .find(Thread::Pr, &repo.owner, &repo.name, number)
        .await?
    {
        return Ok(Some(id));
    }
    Ok(head_branch
        .strip_prefix("request/")
        .and_then(|id| RequestId::parse(id).ok())
        .map(|id| id.to_string()))
}

/// The config action a verb is authorized by (`None`: anyone may).
fn action_of(command: &CommandAction) -> Option<Action> {
    match command {
        CommandAction::Plan | CommandAction::Sync => Some(Action::Plan),
        CommandAction::Apply | CommandAction::Unlock => Some(Action::Apply),
        CommandAction::Destroy { .. } => Some(Action::Destroy),
        CommandAction::Status | CommandAction::Help => None,
    }
}

/// Looks the person up and asks the policy.
async fn authorize(
    svc: &Service,
    repo: &Repo,
    env: Option<&EnvironmentConfig>,
    action: Action,
    login: &str,
) -> Result<Result<Grant, Denial>, ServiceError> {
    let rule = env.cloned().unwrap_or_else(default_env).access(action);
    let permission = match svc.github.collaborator_permission(repo, login).await {
        Ok(p) => {
            let legacy = serde_json::to_value(p.permission)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            policy::permission_level(&legacy, &p.role_name)
        }
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let mut teams = Vec::new();
    if permission.is_none_or(|p| p < rule.permission) {
        for team in &rule.teams {
            let Some((org, slug)) = team.split_once('/') else {
                continue;
            };
            let member = svc
                .github
                .team_membership(repo.installation_id, org, slug, login)
                .await?;
            if member.is_some_and(|m| m.state == MembershipState::Active) {
                teams.push(team.clone());
            }
        }
    }
    Ok(policy::decide(
        &rule,
        &Person {
            login,
            permission,
            teams: &teams,
        },
    ))
}

/// An environment with every default (when the config does not name it).
fn default_env() -> EnvironmentConfig {
    EnvironmentConfig {
        directory: None,
        protected: false,
        required_approvals: 1,
        dismiss_stale_approvals: true,
        auto_apply: false,
        drift: Default::default(),
        cleanup_auto_merge: false,
        plan: Default::default(),
        apply: Default::default(),
        destroy: Default::default(),
    }
}

async fn run_command(
    svc: &Service,
    ctx: &Context<'_>,
    request_id: &str,
    command: &CommandAction,
    index: usize,
) -> Result<Answer, ServiceError> {
    let text = replies::command_text(command);
    if *command == CommandAction::Help {
        return Ok(Answer::reply(help_text()));
    }
    let Some(request) = svc.requests.get(request_id).await? else {
        return Ok(Answer::reply(replies::unknown_request_reply(
            ctx.actor, request_id,
        )));
    };
    let env = lifecycle::env_config(svc, &ctx.repo, &request).await?;
    let env_name = request.environment.clone().unwrap_or_default();
    if let Some(action) = action_of(command)
        && let Err(denial) = authorize(svc, &ctx.repo, env.as_ref(), action, ctx.actor).await?
    {
        let (why, next) = replies::denied(command, &env_name, &denial);
        tracing::info!(request_id, actor = ctx.actor, verb = %command.verb(), "command refused: not authorized");
        return Ok(Answer::reply(replies::refusal(
            &text, ctx.actor, &why, &next,
        )));
    }
    let now = svc.now();
    let rule = lifecycle::gate_rule(env.as_ref());
    let once_key = format!("{}/{index}", ctx.once_prefix);
    let refuse = |b: gates::Blocked| {
        let (why, next) = replies::blocked(&b, command, &request.id);
        tracing::info!(request_id, actor = ctx.actor, verb = %command.verb(), reason = ?b, "command refused by gate");
        Ok(Answer::reply(replies::refusal(
            &text, ctx.actor, &why, &next,
        )))
    };
    match command {
        CommandAction::Help => Ok(Answer::reply(help_text())),
        CommandAction::Status => {
            let lock = lock_of(svc, &request).await?;
            Ok(Answer::reply(replies::status_reply(
                &request,
                derive_status(&request, now),
                lock.as_ref(),
            )))
        }
        CommandAction::Plan => {
            if let Err(b) = gates::plan_gate(&request, now) {
                return refuse(b);
            }
            dispatch(
                svc,
                &ctx.repo,
                &request,
                WorkflowKind::Plan,
                &ctx.head_branch,
                &[],
                Some(&once_key),
            )
            .await?;
            // A duplicate (`AlreadyDone`) counts as dispatched: the first copy did it.
            Ok(Answer {
                dispatched: true,
                reply: None,
            })
        }
        CommandAction::Apply => {
            // Approvals as GitHub has them now: a lost review event or an approval
            // dismissed after the merge must not decide what gets applied.
            let request =
                Box::pin(fresh::with_fresh_reviews(svc, &ctx.repo, request.clone())).await?;
            if let Err(b) = gates::apply_gate(&request, now, &rule) {
                return refuse(b);
            }
            started(
                Box::pin(lifecycle::start_or_queue(
                    svc,
                    &ctx.repo,
                    &request,
                    WorkflowKind::Apply,
                    &once_key,
                ))
                .await?,
                &text,
                WorkflowKind::Apply,
                &env_name,
            )
        }
        CommandAction::Destroy { confirm } => {
            if let Err(b) = gates::destroy_gate(&request, now, &rule, confirm.as_deref()) {
                return refuse(b);
            }
            started(
                lifecycle::start_or_queue(
                    svc,
                    &ctx.repo,
                    &request,
                    WorkflowKind::Destroy,
                    &once_key,
                )
                .await?,
                &text,
                WorkflowKind::Destroy,
                &env_name,
            )
        }
        CommandAction::Sync => {
            let report = Box::pin(sync::sync_request(svc, &ctx.repo, request_id)).await?;
            let after = svc
                .requests
                .get(request_id)
                .await?
                .or(svc.requests.get_archived(request_id).await?)
                .unwrap_or(request);
            Ok(Answer::reply(replies::sync_reply(
                &text,
                &report.changes,
                derive_status(&after, now),
            )))
        }
        CommandAction::Unlock => {
            let (released, next) = lifecycle::unlock(svc, &ctx.repo, &request).await?;
            Ok(Answer {
                dispatched: next.is_some(),
                reply: Some(replies::unlock_reply(
                    &text,
                    &env_name,
                    released.as_deref(),
                    next.as_deref(),
                )),
            })
        }
    }
}

fn started(s: Started, text: &str, kind: WorkflowKind, env: &str) -> Result<Answer, ServiceError> {
    Ok(match s {
        Started::Dispatched { .. } | Started::AlreadyDone => Answer {
            dispatched: true,
            reply: None,
        },
        Started::Queued { position, holder } => {
            Answer::reply(replies::queued_reply(text, kind, env, position, &holder))
        }
    })
}

async fn lock_of(
    svc: &Service,
    request: &Request,
) -> Result<Option<crate::store::LockDoc>, ServiceError> {
    let (Some(o), Some(r), Some(e)) = (
        request.target_owner.as_deref(),
        request.target_repo.as_deref(),
        request.environment.as_deref(),
    ) else {
        return Ok(None);
    };
    Ok(svc.locks.get((o, r, e)).await?)
}

/// A claim this old with no answer noted is an attempt that died half-way (a crash,
/// a lost store write): another attempt takes the command over. Running it again is
/// safe because its dispatch is once-keyed and its reply and reaction are claimed.
const CLAIM_STALE_MINUTES: i64 = 10;

/// The marker claiming command `index` of a delivery.
fn command_claim(once_prefix: &str, index: usize) -> String {
    format!("command/{once_prefix}/{index}")
}

/// The marker holding what command `index` of a delivery came to.
fn answer_note(once_prefix: &str, index: usize) -> String {
    format!("command-answer/{once_prefix}/{index}")
}

/// What [`claim_or_answer`] found.
enum Claimed {
    /// This attempt runs the command.
    Mine,
    /// Another attempt ran it and noted this answer.
    Answered(Answer),
}

/// Claims command `index` of a delivery for this attempt, or takes the answer of the
/// attempt that ran it.
///
/// Concurrent copies of one delivery (replicas, a redelivery while the first try
/// still runs) would otherwise both run the command, and the second, seeing the
/// first's dispatch, would answer with a refusal ("a plan is still running"). A copy
/// that finds the command claimed waits for the claimer's answer, so it can finish
/// the reply and reaction itself; it runs the command when the claim is given back
/// (the claimer failed) or is stale (the claimer died). It never answers "duplicate"
/// for a command nobody has answered yet: that would record the delivery, and a
/// claimer failing afterwards would lose the command.
async fn claim_or_answer(
    svc: &Service,
    once_prefix: &str,
    index: usize,
) -> Result<Claimed, ServiceError> {
    let claim = command_claim(once_prefix, index);
    let note = answer_note(once_prefix, index);
    let mut wait = claims::Wait::new();
    loop {
        if svc.markers.first_time(&claim, svc.now()).await? {
            return Ok(Claimed::Mine);
        }
        if let Some(answer) = svc.markers.read_note::<Answer>(&note).await? {
            return Ok(Claimed::Answered(answer));
        }
        if take_over_stale(svc, &claim).await? {
            return Ok(Claimed::Mine);
        }
        if !wait.pause().await {
            return Err(ServiceError::CommandInFlight { claim });
        }
    }
}

/// Takes over `claim` when it is older than [`CLAIM_STALE_MINUTES`] (its claimer died).
async fn take_over_stale(svc: &Service, claim: &str) -> Result<bool, ServiceError> {
    let stale = chrono::Duration::minutes(CLAIM_STALE_MINUTES);
    let taken = svc
        .markers
        .take_over_if_older(claim, svc.now(), stale)
        .await?;
    if taken {
        tracing::warn!(
            event = "command.claim_taken_over",
            claim,
            "work claimed long ago and never finished is done again"
        );
    }
    Ok(taken)
}

/// Runs command `index`, claimed by this attempt, and notes its answer. When it
/// fails nothing was answered: the claim is given back and a redelivery runs the
/// command again (its dispatch is once-keyed, so it never runs twice).
async fn run_claimed(
    svc: &Service,
    ctx: &Context<'_>,
    request_id: &str,
    action: &CommandAction,
    index: usize,
) -> Result<Answer, ServiceError> {
    match Box::pin(run_command(svc, ctx, request_id, action, index)).await {
        Ok(answer) => {
            note_answer(svc, &ctx.once_prefix, index, &answer).await?;
            Ok(answer)
        }
        Err(e) => {
            give_back(svc, &command_claim(&ctx.once_prefix, index)).await;
            Err(e)
        }
    }
}

/// Notes what a claimed command came to, for other attempts to finish from. Without
/// it a later attempt could neither reply nor run the command again: the claim is
/// given back instead (the command's dispatch is once-keyed).
async fn note_answer(
    svc: &Service,
    once_prefix: &str,
    index: usize,
    answer: &Answer,
) -> Result<(), ServiceError> {
    if let Err(e) = svc
        .markers
        .note(&answer_note(once_prefix, index), answer)
        .await
    {
        give_back(svc, &command_claim(once_prefix, index)).await;
        return Err(e.into());
    }
    Ok(())
}

/// Posts `text` on the thread once per delivery, whichever attempt gets there.
///
/// The attempt that claims the reply posts it and notes that it did. Another attempt
/// waits for that note; it posts the reply itself when the claim is given back (the
/// post failed), and when the claim is stale it first looks on the thread for the
/// reply (its claimer may have posted it and died before noting it).
async fn reply_once(
    svc: &Service,
    repo: &Repo,
    number: u64,
    once_prefix: &str,
    text: &str,
) -> Result<(), ServiceError> {
    let claim = format!("reply/{once_prefix}");
    let posted = format!("reply-posted/{once_prefix}");
    let mut wait = claims::Wait::new();
    let mine = loop {
        if svc.markers.first_time(&claim, svc.now()).await? {
            break true;
        }
        if svc.markers.is_set(&posted).await? {
            break false;
        }
        if take_over_stale(svc, &claim).await? {
            break !already_replied(svc, repo, number, text).await?;
        }
        if !wait.pause().await {
            return Err(ServiceError::CommandInFlight { claim });
        }
    };
    if mine && let Err(e) = svc.github.create_comment(repo, number, text).await {
        give_back(svc, &claim).await;
        return Err(e.into());
    }
    svc.markers.first_time(&posted, svc.now()).await?;
    Ok(())
}

/// Whether tfpilot's reply `text` is on the thread already.
async fn already_replied(
    svc: &Service,
    repo: &Repo,
    number: u64,
    text: &str,
) -> Result<bool, ServiceError> {
    let comments = svc.github.list_comments(repo, number).await?;
    Ok(comments
        .iter()
        .any(|c| c.body == text && super::effects::is_app_author(c, svc.settings.app_id)))
}

/// GitHub refused the claimed action (after the client's retries): nothing was
/// done, so the claim is given back for the redelivery.
async fn give_back(svc: &Service, claim: &str) {
    if let Err(e) = svc.markers.clear(claim).await {
        tracing::warn!(claim, error = %e, "claim not given back");
    }
}

/// Reacts to the comment. GitHub keeps one reaction per person and content (a
/// second request answers with the existing one), so every attempt may send it: an
/// attempt that finds the command answered by another still reacts, in case that one
/// failed before it could.
async fn react(
    svc: &Service,
    repo: &Repo,
    comment_id: u64,
    content: ReactionContent,
) -> Result<(), ServiceError> {
    svc.github
        .create_comment_reaction(repo, comment_id, content)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(head_repo: serde_json::Value) -> PullRequest {
        serde_json::from_value(serde_json::json!({
            "id": 1, "number": 7, "state": "open", "title": "t", "user": null,
            "html_url": "https://github.com/acme/infra/pull/7",
            "head": {"label": "x:request/req_dev_app_abc123", "ref": "request/req_dev_app_abc123",
                     "sha": "1111111111111111111111111111111111111111", "repo": head_repo},
            "base": {"label": "acme:main", "ref": "main",
                     "sha": "2222222222222222222222222222222222222222",
                     "repo": {"id": 1, "name": "infra", "full_name": "acme/infra", "fork": false}},
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .expect("pull")
    }

    #[test]
    fn only_same_repository_heads_are_not_forks() {
        let repo = Repo::new(1, "acme", "infra");
        let same =
            serde_json::json!({"id": 1, "name": "infra", "full_name": "acme/infra", "fork": false});
        let fork = serde_json::json!({"id": 2, "name": "infra", "full_name": "mallory/infra", "fork": true});
        assert!(!is_fork_pull(&pull(same), &repo));
        assert!(is_fork_pull(&pull(fork), &repo));
        assert!(
            is_fork_pull(&pull(serde_json::Value::Null), &repo),
            "a deleted fork"
        );
    }
}
