//! `tfpilot demo`: the whole lifecycle, offline, against the GitHub simulator.
//!
//! One process runs the simulator and tfpilot (the real router, the real
//! service, a folder store in a temporary directory unless `--store` says
//! otherwise). The demo then acts as the people would — an issue from the form,
//! a review, a merge, `/tfpilot apply`, `/tfpilot destroy` — and after each step
//! prints what was done, the derived status and the sticky comment as it stands.
//! Every step checks the status it expects, so the demo is also a smoke test.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};

use crate::config::forms::submitted_body;
use crate::config::repo::RepoConfig;
use crate::core::request::Request;
use crate::core::status::{Status, derive_status};
use crate::harness::{Harness, HarnessOptions, INFRA_REPO, plan_script};
use crate::render::is_sticky_for;
use crate::sim::{Permission, RunInfo, Script};
use crate::store::{FolderStore, Store, Thread, open_store};

/// The demo repository's `.github/tfpilot.yml`: a `dev` environment that needs
/// one approval and an explicit `/tfpilot apply`, and a protected `prod`.
pub const DEMO_CONFIG: &str = r#"# The demo's .github/tfpilot.yml
request_label: tfpilot-request
environments:
  dev:
    directory: envs/dev
    required_approvals: 1
    dismiss_stale_approvals: true
    auto_apply: false
    cleanup_auto_merge: true
    plan:
      permission: write
    apply:
      permission: maintain
    destroy:
      permission: maintain
  prod:
    directory: envs/prod
    protected: true
    required_approvals: 2
    auto_apply: false
    cleanup_auto_merge: false
    apply:
      permission: admin
    destroy:
      permission: admin
modules:
  s3-bucket:
    source: modules/s3-bucket
    description: An S3 bucket.
    inputs:
      name:
        type: string
        required: true
        description: Bucket name, globally unique.
        pattern: "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
      versioning_enabled:
        type: bool
        default: true
        description: Keep old versions of every object.
      force_destroy:
        type: bool
        default: false
        description: Allow destroy to delete a bucket that still holds objects.
      tags:
        type: map(string)
        description: Extra tags.
presets:
  s3-public-assets:
    module: s3-bucket
    description: Bucket for public static assets, emptied on destroy.
    inputs:
      force_destroy: true
"#;

/// Which story the demo tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Request → plan → approve → merge → apply → destroy → cleanup → archived.
    Lifecycle,
    /// Someone without the right permission asks to apply, and is told why not.
    RefusedApply,
    /// The plan fails; the PR shows it and what to do.
    FailedPlan,
    /// Three requests in one environment ask to apply at once: one runs, two queue.
    Queue,
}

/// How to run the demo.
pub struct DemoOptions {
    /// The story.
    pub scenario: Scenario,
    /// Pause for Enter between steps.
    pub step: bool,
    /// Store URL (default: a folder in a temporary directory).
    pub store: Option<String>,
}

/// What the demo ended with (for tests).
#[derive(Debug)]
pub struct DemoOutcome {
    /// The request ids the scenario created.
    pub request_ids: Vec<String>,
    /// The final status of the first request, if it is still live.
    pub final_status: Option<Status>,
    /// Whether the first request was archived to `history/`.
    pub archived: bool,
    /// Comments by the app on the first request's PR.
    pub bot_comments_on_pr: usize,
    /// Whether a cleanup PR was merged.
    pub cleanup_merged: bool,
}

struct Demo<'a> {
    h: Harness,
    out: &'a mut dyn Write,
    step: bool,
    n: usize,
    total: usize,
}

const ALICE: &str = "alice";
const BOB: &str = "bob";
const CAROL: &str = "carol";

/// Runs the demo, writing to `out`.
pub async fn run(opts: DemoOptions, out: &mut dyn Write) -> anyhow::Result<DemoOutcome> {
    let tmp = std::env::temp_dir().join(format!(
        "tfpilot-demo-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let (store, label): (Arc<dyn Store>, String) = match &opts.store {
        Some(url) => (
            open_store(url)
                .await
                .with_context(|| format!("opening {url}"))?,
            url.clone(),
        ),
        None => (
            Arc::new(FolderStore::open(&tmp).context("creating the demo's store folder")?),
            format!("file://{}", tmp.display()),
        ),
    };
    let h = Harness::start(HarnessOptions {
        store: Some(store),
        config: Some(DEMO_CONFIG.to_string()),
        ..HarnessOptions::default()
    })
    .await
    .context("starting the GitHub simulator and tfpilot")?;
    h.sim.set_permission(INFRA_REPO, ALICE, Permission::Write)?;
    h.sim
        .set_permission(INFRA_REPO, BOB, Permission::Maintain)?;
    h.sim.set_permission(INFRA_REPO, CAROL, Permission::Write)?;
    writeln!(
        out,
        "tfpilot demo — GitHub simulated at {}, facts in {label}\nrepository {INFRA_REPO}: dev (1 approval, apply needs maintain) and prod (protected)\npeople: alice (write), bob (maintain), carol (write)\n",
        h.sim.base_url()
    )?;
    let total = match opts.scenario {
        Scenario::Lifecycle => 8,
        Scenario::RefusedApply => 5,
        Scenario::FailedPlan => 2,
        Scenario::Queue => 6,
    };
    let mut demo = Demo {
        h,
        out,
        step: opts.step,
        n: 0,
        total,
    };
    let outcome = match opts.scenario {
        Scenario::Lifecycle => demo.lifecycle().await,
        Scenario::RefusedApply => demo.refused_apply().await,
        Scenario::FailedPlan => demo.failed_plan().await,
        Scenario::Queue => demo.queue().await,
    };
    if opts.store.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let outcome = outcome?;
    writeln!(
        demo.out,
        "\ndone: {} step(s), every status as expected.",
        demo.n
    )?;
    Ok(outcome)
}

impl Demo<'_> {
    async fn begin(&mut self, what: &str, how: &str) -> anyhow::Result<()> {
        if self.step && self.n > 0 {
            write!(self.out, "\n(press Enter for the next step) ")?;
            self.out.flush()?;
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
        }
        self.n += 1;
        writeln!(self.out, "\n━━ [{}/{}] {what}", self.n, self.total)?;
        writeln!(self.out, "   {how}")?;
        Ok(())
    }

    async fn settle(&self) -> anyhow::Result<()> {
        self.h.settle().await.map_err(|e| anyhow!("simulator: {e}"))
    }

    async fn run_workflows(&self) -> anyhow::Result<()> {
        self.h
            .run_workflows()
            .await
            .map(|_| ())
            .map_err(|e| anyhow!("simulator: {e}"))
    }

    /// Opens a request issue from the form as `user`; returns the request id.
    async fn open_request(
        &mut self,
        user: &str,
        bucket: &str,
        preset: Option<&str>,
    ) -> anyhow::Result<(String, u64)> {
        let config = RepoConfig::parse(DEMO_CONFIG)?;
        let mut answers = vec![("Environment", "dev"), ("name", bucket)];
        if let Some(preset) = preset {
            answers.push(("Preset", preset));
        }
        let body = submitted_body(&config, "s3-bucket", &answers)
            .ok_or_else(|| anyhow!("no s3-bucket form"))?;
        let issue = self.h.sim.open_issue(
            INFRA_REPO,
            user,
            &format!("Infrastructure request: bucket {bucket}"),
            &body,
            &[config.request_label.as_str()],
        )?;
        self.settle().await?;
        let svc = &self.h.state.service;
        let id = svc
            .index
            .find(Thread::Issue, "acme", "infra", issue)
            .await?
            .ok_or_else(|| {
                anyhow!(
                    "tfpilot made no request from issue #{issue}; its reply: {}",
                    self.last_bot_comment(issue)
                )
            })?;
        Ok((id, issue))
    }

    fn last_bot_comment(&self, number: u64) -> String {
        let bot = self.h.sim.bot_login();
        self.h
            .sim
            .comments(INFRA_REPO, number)
            .into_iter()
            .rev()
            .find(|c| c.author == bot)
            .map(|c| c.body)
            .unwrap_or_else(|| "(none)".to_string())
    }

    async fn request(&self, id: &str) -> anyhow::Result<Option<Request>> {
        Ok(self.h.state.service.requests.get(id).await?)
    }

    fn pr_of(req: &Request) -> anyhow::Result<u64> {
        req.pr()
            .map(|p| p.number)
            .ok_or_else(|| anyhow!("request {} has no PR", req.id))
    }

    /// Prints the status and the sticky comment; fails unless the status is `want`.
    async fn show(&mut self, id: &str, want: Status) -> anyhow::Result<Request> {
        let req = self
            .request(id)
            .await?
            .ok_or_else(|| anyhow!("request {id} is gone"))?;
        let status = derive_status(&req, self.h.state.service.now());
        writeln!(self.out, "   status: {}", status.as_str())?;
        if let Ok(pr) = Self::pr_of(&req) {
            self.print_sticky(id, pr)?;
        }
        if status != want {
            bail!(
                "expected status {} for {id}, found {}",
                want.as_str(),
                status.as_str()
            );
        }
        Ok(req)
    }

    fn print_sticky(&mut self, id: &str, pr: u64) -> anyhow::Result<()> {
        let bot = self.h.sim.bot_login();
        let sticky = self
            .h
            .sim
            .comments(INFRA_REPO, pr)
            .into_iter()
            .find(|c| c.author == bot && is_sticky_for(&c.body, id));
        match sticky {
            Some(c) => {
                writeln!(self.out, "   ┌─ sticky comment on PR #{pr}")?;
                for line in terminal_text(&c.body).lines() {
                    writeln!(self.out, "   │ {line}")?;
                }
                writeln!(self.out, "   └─")?;
            }
            None => writeln!(self.out, "   (no sticky comment on PR #{pr} yet)")?,
        }
        Ok(())
    }

    async fn comment(&mut self, user: &str, pr: u64, body: &str) -> anyhow::Result<()> {
        self.h.sim.comment(INFRA_REPO, pr, user, body)?;
        self.settle().await?;
        self.run_workflows().await
    }

    async fn lifecycle(&mut self) -> anyhow::Result<DemoOutcome> {
        self.begin(
            "alice asks for a bucket",
            "opens an issue from the \"Infrastructure request\" form: module s3-bucket, environment dev, name acme-demo-assets, preset s3-public-assets",
        )
        .await?;
        let (id, issue) = self
            .open_request(ALICE, "acme-demo-assets", Some("s3-public-assets"))
            .await?;
        let req = self
            .request(&id)
            .await?
            .ok_or_else(|| anyhow!("no request"))?;
        let pr = Self::pr_of(&req)?;
        writeln!(
            self.out,
            "   tfpilot created {id}: branch request/{id}, PR #{pr}, linked from issue #{issue}; plan dispatched"
        )?;
        self.show(&id, Status::Planning).await?;

        self.begin(
            "GitHub Actions runs the plan",
            "tfpilot plan (workflow_dispatch on request/<id>) → success, plan.json uploaded",
        )
        .await?;
        self.run_workflows().await?;
        self.show(&id, Status::PlanReady).await?;

        self.begin(
            "bob approves the pull request",
            "GitHub's review UI: Approve",
        )
        .await?;
        self.h.sim.approve(INFRA_REPO, pr, BOB)?;
        self.settle().await?;
        self.show(&id, Status::Approved).await?;

        self.begin("bob merges the pull request", "the Merge button")
            .await?;
        self.h.sim.merge_pull(INFRA_REPO, pr, BOB)?;
        self.settle().await?;
        self.show(&id, Status::Merged).await?;

        self.begin("bob applies", "comments `/tfpilot apply` on the PR")
            .await?;
        self.comment(BOB, pr, "/tfpilot apply").await?;
        self.show(&id, Status::Applied).await?;

        self.begin(
            "later, bob destroys it",
            "comments `/tfpilot destroy` on the PR",
        )
        .await?;
        self.h
            .sim
            .comment(INFRA_REPO, pr, BOB, "/tfpilot destroy")?;
        self.settle().await?;
        let destroying = self
            .request(&id)
            .await?
            .map(|r| derive_status(&r, self.h.state.service.now()));
        writeln!(
            self.out,
            "   status right after the command: {}",
            destroying.map_or("archived", |s| s.as_str())
        )?;

        self.begin(
            "GitHub Actions runs the destroy; tfpilot merges the cleanup PR",
            "tfpilot destroy → success; cleanup/<id> removes the request's file",
        )
        .await?;
        self.run_workflows().await?;
        let cleanup_merged = self
            .h
            .sim
            .pulls(INFRA_REPO)
            .iter()
            .any(|p| p.head_ref == format!("cleanup/{id}") && p.merged);
        writeln!(self.out, "   cleanup PR merged: {cleanup_merged}")?;
        self.print_sticky(&id, pr)?;

        self.begin(
            "the request is archived",
            "history/<id>.json holds the facts; the live document is gone",
        )
        .await?;
        let archived = self
            .h
            .state
            .service
            .requests
            .get_archived(&id)
            .await?
            .is_some()
            && self.request(&id).await?.is_none();
        writeln!(self.out, "   archived: {archived}")?;
        if let Some(r) = self.h.state.service.requests.get_archived(&id).await? {
            writeln!(
                self.out,
                "   final status: {}",
                derive_status(&r, self.h.state.service.now()).as_str()
            )?;
        }
        if !archived || !cleanup_merged {
            bail!(
                "the lifecycle did not finish: archived={archived}, cleanup merged={cleanup_merged}"
            );
        }
        let bot = self.h.sim.bot_login();
        let bot_comments_on_pr = self
            .h
            .sim
            .comments(INFRA_REPO, pr)
            .iter()
            .filter(|c| c.author == bot)
            .count();
        Ok(DemoOutcome {
            request_ids: vec![id],
            final_status: None,
            archived,
            bot_comments_on_pr,
            cleanup_merged,
        })
    }

    async fn refused_apply(&mut self) -> anyhow::Result<DemoOutcome> {
        self.begin(
            "alice asks for a bucket",
            "opens an issue from the form (dev, acme-demo-logs)",
        )
        .await?;
        let (id, _) = self.open_request(ALICE, "acme-demo-logs", None).await?;
        let pr = Self::pr_of(
            &self
                .request(&id)
                .await?
                .ok_or_else(|| anyhow!("no request"))?,
        )?;
        self.run_workflows().await?;
        self.show(&id, Status::PlanReady).await?;

        self.begin(
            "bob tries to apply before the merge",
            "comments `/tfpilot apply`",
        )
        .await?;
        self.comment(BOB, pr, "/tfpilot apply").await?;
        writeln!(
            self.out,
            "   tfpilot's reply:\n{}",
            indent(&terminal_text(&self.last_bot_reply(pr)))
        )?;

        self.begin("bob approves and merges", "Approve, then Merge")
            .await?;
        self.h.sim.approve(INFRA_REPO, pr, BOB)?;
        self.settle().await?;
        self.h.sim.merge_pull(INFRA_REPO, pr, BOB)?;
        self.settle().await?;
        self.show(&id, Status::Merged).await?;

        self.begin(
            "carol (write permission) tries to apply",
            "comments `/tfpilot apply`; dev's apply needs maintain",
        )
        .await?;
        self.comment(CAROL, pr, "/tfpilot apply").await?;
        writeln!(
            self.out,
            "   tfpilot's reply:\n{}",
            indent(&terminal_text(&self.last_bot_reply(pr)))
        )?;
        let req = self.show(&id, Status::Merged).await?;

        self.begin("bob (maintain) applies", "comments `/tfpilot apply`")
            .await?;
        self.comment(BOB, pr, "/tfpilot apply").await?;
        self.show(&id, Status::Applied).await?;
        Ok(DemoOutcome {
            request_ids: vec![req.id],
            final_status: Some(Status::Applied),
            archived: false,
            bot_comments_on_pr: 0,
            cleanup_merged: false,
        })
    }

    fn last_bot_reply(&self, pr: u64) -> String {
        let bot = self.h.sim.bot_login();
        self.h
            .sim
            .comments(INFRA_REPO, pr)
            .into_iter()
            .rev()
            .find(|c| c.author == bot && !c.body.contains("<!-- tfpilot:request:"))
            .map(|c| c.body)
            .unwrap_or_else(|| "(no reply)".to_string())
    }

    async fn failed_plan(&mut self) -> anyhow::Result<DemoOutcome> {
        self.h.sim.script_workflow_with(
            INFRA_REPO,
            crate::core::contract::PLAN.file,
            Arc::new(|run: &RunInfo| {
                let mut s = plan_script(run, "create");
                s.conclusion = Script::failure().conclusion;
                s
            }),
        );
        self.begin(
            "alice asks for a bucket",
            "opens an issue from the form (dev, acme-demo-broken)",
        )
        .await?;
        let (id, _) = self.open_request(ALICE, "acme-demo-broken", None).await?;
        self.show(&id, Status::Planning).await?;
        self.begin("the plan fails in GitHub Actions", "tfpilot plan → failure")
            .await?;
        self.run_workflows().await?;
        self.show(
            &id,
            Status::Failed(crate::core::status::FailureCause::PlanFailed),
        )
        .await?;
        Ok(DemoOutcome {
            request_ids: vec![id],
            final_status: Some(Status::Failed(
                crate::core::status::FailureCause::PlanFailed,
            )),
            archived: false,
            bot_comments_on_pr: 0,
            cleanup_merged: false,
        })
    }

    async fn queue(&mut self) -> anyhow::Result<DemoOutcome> {
        self.begin(
            "three people ask for buckets in dev",
            "three issues from the form",
        )
        .await?;
        let mut ids = Vec::new();
        for name in ["acme-q-one", "acme-q-two", "acme-q-three"] {
            let (id, _) = self.open_request(ALICE, name, None).await?;
            ids.push(id);
        }
        self.run_workflows().await?;
        let mut prs = Vec::new();
        for id in &ids {
            let pr = Self::pr_of(
                &self
                    .request(id)
                    .await?
                    .ok_or_else(|| anyhow!("no request"))?,
            )?;
            self.h.sim.approve(INFRA_REPO, pr, BOB)?;
            self.settle().await?;
            self.h.sim.merge_pull(INFRA_REPO, pr, BOB)?;
            self.settle().await?;
            prs.push(pr);
        }
        writeln!(
            self.out,
            "   {} requests planned, approved and merged",
            ids.len()
        )?;

        self.begin(
            "bob applies all three at once",
            "comments `/tfpilot apply` on each PR before any run finishes",
        )
        .await?;
        for pr in &prs {
            self.h.sim.comment(INFRA_REPO, *pr, BOB, "/tfpilot apply")?;
        }
        self.settle().await?;
        for id in &ids {
            let req = self
                .request(id)
                .await?
                .ok_or_else(|| anyhow!("no request"))?;
            writeln!(
                self.out,
                "   {id}: {}",
                derive_status(&req, self.h.state.service.now()).as_str()
            )?;
        }
        for (i, id) in ids.iter().enumerate() {
            self.begin(
                &format!("the apply of request {} runs", i + 1),
                "one apply at a time in dev; the next is dispatched when it finishes",
            )
            .await?;
            self.h.sim.advance_workflows();
            self.settle().await?;
            self.h.sim.advance_workflows();
            self.settle().await?;
            self.show(id, Status::Applied).await?;
        }
        self.begin(
            "the queue is empty",
            "every request applied, none cancelled",
        )
        .await?;
        Ok(DemoOutcome {
            request_ids: ids,
            final_status: Some(Status::Applied),
            archived: false,
            bot_comments_on_pr: 0,
            cleanup_merged: false,
        })
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   │ {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Markdown made readable in a terminal: HTML comments and tags dropped,
/// `<summary>` kept as a line, blank-line runs collapsed.
pub fn terminal_text(markdown: &str) -> String {
    let mut out = String::new();
    let mut rest = markdown;
    // Drop HTML comments (the hidden marker).
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let mut text = String::new();
    let mut blank = false;
    for line in out.lines() {
        let mut l = line.to_string();
        for tag in [
            "<details>",
            "</details>",
            "<summary>",
            "</summary>",
            "<br>",
            "<br/>",
            "<sub>",
            "</sub>",
            "<b>",
            "</b>",
        ] {
            l = l.replace(tag, "");
        }
        let l = l.trim_end().to_string();
        if l.trim().is_empty() {
            if !blank && !text.is_empty() {
                text.push('\n');
            }
            blank = true;
            continue;
        }
        blank = false;
        text.push_str(&l);
        text.push('\n');
    }
    text
}
