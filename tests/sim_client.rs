//! tfpilot's real GitHub client against the simulator: the two halves written separately
//! from GitHub's spec meet, call for call, over one request's life.

use std::collections::BTreeMap;
use std::io::Read;

use secrecy::SecretString;
use tfpilot::github::{
    AppCredentials, CheckAction, CheckOutput, CheckRunUpdate, Conclusion, FileChange, GitHub,
    GitHubClient, GitHubConfig, MergeRequest, NewCheckRun, NewPullRequest, PermissionLevel,
    ReactionContent, Repo, RunFilter, commit_files,
};
use tfpilot::sim::{
    ArtifactSpec, Permission, RepoSpec, Script, SimConfig, Simulator, TEST_APP_PRIVATE_KEY_PEM,
    TeamRole,
};

const PLAN: &str = "name: tfpilot plan\nrun-name: \"tfpilot plan ${{ inputs.request_id }} [${{ inputs.nonce }}]\"\non:\n  workflow_dispatch:\n    inputs:\n      request_id:\n        required: true\n      nonce:\n        required: true\njobs:\n  plan:\n    runs-on: ubuntu-latest\n";

async fn setup() -> (Simulator, GitHubClient, Repo) {
    let config = SimConfig::for_tests();
    let app_id = config.app_id;
    let sim = Simulator::start(config).await.expect("simulator");
    sim.create_repo(
        RepoSpec::new("acme/infra")
            .file("README.md", "# infra\n")
            .file(".github/workflows/tfpilot-plan.yml", PLAN),
    )
    .expect("repo");
    let credentials = AppCredentials::from_pem(
        app_id,
        &SecretString::from(TEST_APP_PRIVATE_KEY_PEM.to_string()),
    )
    .expect("pem");
    let client = GitHubClient::new(GitHubConfig::new(credentials).with_api_url(sim.base_url()))
        .expect("client");
    let repo = Repo::new(sim.installation_id(), "acme", "infra");
    (sim, client, repo)
}

#[tokio::test]
async fn a_request_life_through_the_real_client() {
    let (sim, gh, repo) = setup().await;
    let issue = sim
        .open_issue(
            "acme/infra",
            "alice",
            "Need a bucket",
            "### Module\n\ns3",
            &["tfpilot"],
        )
        .expect("issue");
    let command = sim
        .comment("acme/infra", issue, "alice", "/tfpilot plan")
        .expect("comment");

    // authentication happened once, with a JWT the simulator verified
    assert_eq!(
        gh.get_repository(&repo).await.expect("repo").default_branch,
        "main"
    );
    assert_eq!(
        gh.get_repo_installation("acme", "infra")
            .await
            .expect("installation"),
        sim.installation_id()
    );

    gh.create_comment_reaction(&repo, command, ReactionContent::Eyes)
        .await
        .expect("reaction");
    let fetched = gh.get_issue(&repo, issue).await.expect("get issue");
    assert_eq!(fetched.number, issue);

    let change = FileChange {
        path: "envs/dev/tfpilot_req_dev_s3_abc123.tf".into(),
        content: Some(b"module \"tfpilot_req_dev_s3_abc123\" {}\n".to_vec()),
    };
    let commit = commit_files(
        &gh,
        &repo,
        "request/req_dev_s3_abc123",
        "main",
        "tfpilot: req_dev_s3_abc123",
        &[change],
    )
    .await
    .expect("commit files");
    assert_eq!(
        sim.branches("acme/infra")["request/req_dev_s3_abc123"],
        commit.sha
    );
    let file = gh
        .get_file(
            &repo,
            "envs/dev/tfpilot_req_dev_s3_abc123.tf",
            Some("request/req_dev_s3_abc123"),
        )
        .await
        .expect("file");
    assert_eq!(file.content, b"module \"tfpilot_req_dev_s3_abc123\" {}\n");

    let pr = gh
        .create_pull(
            &repo,
            &NewPullRequest {
                title: "tfpilot: req_dev_s3_abc123".into(),
                head: "request/req_dev_s3_abc123".into(),
                base: "main".into(),
                body: Some("Request".into()),
                draft: false,
            },
        )
        .await
        .expect("pull");
    let found = gh
        .list_pulls_by_head(&repo, "request/req_dev_s3_abc123")
        .await
        .expect("by head");
    assert_eq!(found.len(), 1);
    let sticky = gh
        .create_comment(
            &repo,
            pr.number,
            "<!-- tfpilot:request:req_dev_s3_abc123 -->\nplanning",
        )
        .await
        .expect("sticky");
    gh.update_comment(
        &repo,
        sticky.id,
        "<!-- tfpilot:request:req_dev_s3_abc123 -->\nplanned",
    )
    .await
    .expect("edit");
    let comments = sim.comments("acme/infra", pr.number);
    assert_eq!(
        (
            comments[0].author.as_str(),
            comments[0].body.ends_with("planned")
        ),
        ("tfpilot[bot]", true)
    );

    let check = gh
        .create_check_run(
            &repo,
            &NewCheckRun {
                name: "tfpilot/plan".into(),
                head_sha: commit.sha.clone(),
                external_id: Some("req_dev_s3_abc123".into()),
                ..Default::default()
            },
        )
        .await
        .expect("check");

    sim.script_workflow(
        "acme/infra",
        "tfpilot-plan.yml",
        Script::success().with_artifact(ArtifactSpec::new(
            "tfpilot-plan",
            &[("plan.txt", b"Plan: 1 to add")],
        )),
    );
    let inputs: BTreeMap<String, String> = [
        ("request_id".to_string(), "req_dev_s3_abc123".to_string()),
        ("nonce".to_string(), "n1".to_string()),
    ]
    .into();
    let outcome = gh
        .dispatch_workflow(
            &repo,
            "tfpilot-plan.yml",
            "request/req_dev_s3_abc123",
            &inputs,
        )
        .await
        .expect("dispatch");
    let run_id = outcome.run_id.expect("run id from return_run_details");
    assert_eq!(sim.dispatches()[0].inputs, inputs);
    sim.complete_run(run_id).expect("complete");
    let run = gh.get_workflow_run(&repo, run_id).await.expect("run");
    assert_eq!(run.display_title, "tfpilot plan req_dev_s3_abc123 [n1]");
    let listed = gh
        .list_workflow_runs(
            &repo,
            &RunFilter {
                workflow: Some("tfpilot-plan.yml".into()),
                ..Default::default()
            },
        )
        .await
        .expect("runs");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        gh.list_run_jobs(&repo, run_id).await.expect("jobs").len(),
        1
    );
    let artifacts = gh
        .list_run_artifacts(&repo, run_id)
        .await
        .expect("artifacts");
    let zip_bytes = gh
        .download_artifact(&repo, artifacts[0].id)
        .await
        .expect("download");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).expect("zip");
    let mut text = String::new();
    zip.by_name("plan.txt")
        .expect("plan.txt")
        .read_to_string(&mut text)
        .expect("read");
    assert_eq!(text, "Plan: 1 to add");

    gh.update_check_run(
        &repo,
        check.id,
        &CheckRunUpdate {
            conclusion: Some(Conclusion::Success),
            output: Some(CheckOutput {
                title: "Plan: 1 to add".into(),
                summary: "ok".into(),
                text: None,
            }),
            actions: Some(vec![CheckAction {
                label: "Apply".into(),
                description: "Apply this plan".into(),
                identifier: "apply".into(),
            }]),
            ..Default::default()
        },
    )
    .await
    .expect("update check");
    assert_eq!(
        sim.check_runs_named("acme/infra", "tfpilot/plan", &commit.sha)[0]
            .conclusion
            .as_deref(),
        Some("success")
    );

    sim.set_permission("acme/infra", "bob", Permission::Write)
        .expect("perm");
    sim.add_team_member("acme", "platform", "bob", TeamRole::Member);
    assert_eq!(
        gh.collaborator_permission(&repo, "bob")
            .await
            .expect("perm")
            .permission,
        PermissionLevel::Write
    );
    assert!(
        gh.team_membership(repo.installation_id, "acme", "platform", "bob")
            .await
            .expect("team")
            .is_some()
    );
    assert!(
        gh.team_membership(repo.installation_id, "acme", "platform", "alice")
            .await
            .expect("team")
            .is_none()
    );

    sim.approve("acme/infra", pr.number, "bob")
        .expect("approve");
    assert_eq!(
        gh.list_reviews(&repo, pr.number)
            .await
            .expect("reviews")
            .len(),
        1
    );
    let merged = gh
        .merge_pull(&repo, pr.number, &MergeRequest::default())
        .await
        .expect("merge");
    assert_eq!(sim.branches("acme/infra")["main"], merged.sha);
    assert!(sim.pull("acme/infra", pr.number).expect("pr").merged);

    sim.quiesce().await.expect("quiesce");
    let page = gh
        .list_webhook_deliveries(None, 5)
        .await
        .expect("deliveries");
    assert_eq!(page.deliveries.len(), 5);
    assert!(page.next_cursor.is_some());
    gh.redeliver_webhook(page.deliveries[0].id)
        .await
        .expect("redeliver");

    // one token for the whole flow: the client cached it
    let token_calls = sim
        .calls()
        .iter()
        .filter(|c| c.route == "/app/installations/{installation_id}/access_tokens")
        .count();
    assert_eq!(token_calls, 1);
    // the only refusals: the request branch not existing yet, and alice not being on the team
    let refused: Vec<(String, u16)> = sim
        .calls()
        .iter()
        .filter(|c| c.status >= 400)
        .map(|c| (c.route.clone(), c.status))
        .collect();
    assert_eq!(
        refused,
        vec![
            ("/repos/{owner}/{repo}/git/ref/{ref}".to_string(), 404),
            (
                "/orgs/{org}/teams/{team_slug}/memberships/{username}".to_string(),
                404
            ),
        ]
    );
}

#[tokio::test]
async fn long_comment_threads_come_back_whole_through_pagination() {
    let (sim, gh, repo) = setup().await;
    let issue = sim
        .open_issue("acme/infra", "alice", "Busy", "", &[])
        .expect("issue");
    for i in 0..250 {
        sim.comment("acme/infra", issue, "alice", &format!("comment {i}"))
            .expect("comment");
    }
    let comments = gh.list_comments(&repo, issue).await.expect("list");
    assert_eq!(comments.len(), 250);
    assert_eq!(comments[249].body, "comment 249");
    let pages = sim
        .calls()
        .iter()
        .filter(|c| c.route == "/repos/{owner}/{repo}/issues/{issue_number}/comments")
        .count();
    assert_eq!(pages, 3, "100 per page, following the Link header");
}
