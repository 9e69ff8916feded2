//! The simulator behaves like GitHub where tfpilot depends on it: app auth, faults,
//! workflow dispatch and runs, artifacts, git data, and what tests read back.

use std::io::Read;
use std::time::Duration;

use serde_json::{Value, json};
use tfpilot::sim::{
    ArtifactSpec, CallFault, Conclusion, FaultResponse, Permission, RepoSpec, Script, SimConfig,
    Simulator, TEST_APP_PRIVATE_KEY_PEM, TeamRole, WorkflowMode,
};

const REPO: &str = "acme/infra";

const PLAN: &str = "name: tfpilot plan\nrun-name: \"tfpilot plan ${{ inputs.request_id }} [${{ inputs.nonce }}]\"\non:\n  workflow_dispatch:\n    inputs:\n      request_id:\n        required: true\n      nonce:\n        required: true\n      environment:\n        required: false\n        default: dev\njobs:\n  plan:\n    runs-on: ubuntu-latest\n";

async fn sim_with(config: SimConfig) -> Simulator {
    let sim = Simulator::start(config).await.unwrap();
    sim.create_repo(
        RepoSpec::new(REPO)
            .file("README.md", "# infra\n")
            .file("envs/dev/main.tf", "terraform {}\n")
            .file(".github/workflows/tfpilot-plan.yml", PLAN)
            .file(
                ".github/workflows/ci.yml",
                "name: ci\non: push\njobs:\n  test: {}\n",
            ),
    )
    .unwrap();
    sim
}

async fn sim() -> Simulator {
    sim_with(SimConfig::for_tests()).await
}

struct Api {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Api {
    fn new(sim: &Simulator) -> Self {
        Api {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: sim.base_url().to_string(),
            auth: format!("token {}", sim.installation_token()),
        }
    }
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", &self.auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }
    async fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let resp = self.send(method, path, body).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn jwt_with(claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_APP_PRIVATE_KEY_PEM.as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

async fn token_status(sim: &Simulator, jwt: &str) -> u16 {
    reqwest::Client::new()
        .post(format!(
            "{}/app/installations/{}/access_tokens",
            sim.base_url(),
            sim.installation_id()
        ))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn installation_tokens_need_a_valid_app_jwt() {
    let sim = sim().await;
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        token_status(&sim, &sim.sign_app_jwt(TEST_APP_PRIVATE_KEY_PEM).unwrap()).await,
        201
    );
    assert_eq!(
        token_status(
            &sim,
            &jwt_with(json!({"iat": now - 60, "exp": now + 540, "iss": 4242}))
        )
        .await,
        201
    );
    // wrong issuer, expired, too far in the future, not signed by the app key
    assert_eq!(
        token_status(
            &sim,
            &jwt_with(json!({"iat": now - 60, "exp": now + 540, "iss": "999"}))
        )
        .await,
        401
    );
    assert_eq!(
        token_status(
            &sim,
            &jwt_with(json!({"iat": now - 700, "exp": now - 100, "iss": "4242"}))
        )
        .await,
        401
    );
    assert_eq!(
        token_status(
            &sim,
            &jwt_with(json!({"iat": now, "exp": now + 3600, "iss": "4242"}))
        )
        .await,
        401
    );
    let mut forged = sim.sign_app_jwt(TEST_APP_PRIVATE_KEY_PEM).unwrap();
    forged.push('x');
    assert_eq!(token_status(&sim, &forged).await, 401);
}

#[tokio::test]
async fn unknown_and_expired_tokens_get_401_and_calls_are_logged_by_principal() {
    let sim = sim().await;
    let api = Api::new(&sim);
    assert_eq!(
        api.json(reqwest::Method::GET, &format!("/repos/{REPO}"), None)
            .await
            .0,
        200
    );
    let bad = Api {
        auth: "token ghs_nope".into(),
        ..Api::new(&sim)
    };
    assert_eq!(
        bad.json(reqwest::Method::GET, &format!("/repos/{REPO}"), None)
            .await
            .0,
        401
    );
    sim.expire_tokens();
    let (status, body) = api
        .json(reqwest::Method::GET, &format!("/repos/{REPO}"), None)
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Bad credentials"))
    );
    let calls = sim.calls();
    assert_eq!(calls[0].route, "/repos/{owner}/{repo}");
    assert!(matches!(
        calls[0].principal,
        tfpilot::sim::Principal::Installation(777)
    ));
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![200, 401, 401]
    );
}

#[tokio::test]
async fn call_faults_fail_chosen_calls_then_recover() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let route = "/repos/{owner}/{repo}/issues/{issue_number}";
    let n = sim.open_issue(REPO, "alice", "x", "", &[]).unwrap();
    sim.fail_calls(CallFault::new("GET", route, 2, FaultResponse::Status(502)));
    let path = format!("/repos/{REPO}/issues/{n}");
    let statuses: Vec<u16> = futures_seq(&api, &path, 3).await;
    assert_eq!(statuses, vec![502, 502, 200]);
    sim.fail_calls(CallFault::new(
        "GET",
        route,
        1,
        FaultResponse::RateLimited {
            retry_after_secs: 1,
        },
    ));
    let resp = api.send(reqwest::Method::GET, &path, None).await;
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    // a fraction of all calls, reproducible from the seed
    sim.fail_fraction(0.5, FaultResponse::Status(503));
    let a = futures_seq(&api, &path, 40).await;
    let failed = a.iter().filter(|s| **s == 503).count();
    assert!((5..35).contains(&failed), "about half fail: {failed}");
    sim.clear_call_faults();
    assert_eq!(futures_seq(&api, &path, 1).await, vec![200]);
}

async fn futures_seq(api: &Api, path: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            api.send(reqwest::Method::GET, path, None)
                .await
                .status()
                .as_u16(),
        );
    }
    out
}

#[tokio::test]
async fn dispatch_creates_a_run_named_by_run_name_and_records_inputs() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let path = format!("/repos/{REPO}/actions/workflows/tfpilot-plan.yml/dispatches");
    let (status, details) = api
        .json(
            reqwest::Method::POST,
            &path,
            Some(json!({"ref": "main", "inputs": {"request_id": "req_dev_s3_abc123", "nonce": "n-1"}, "return_run_details": true})),
        )
        .await;
    assert_eq!(status, 200);
    let run_id = details["workflow_run_id"].as_u64().unwrap();
    let resp = api
        .send(
            reqwest::Method::POST,
            &path,
            Some(json!({"ref": "main", "inputs": {"request_id": "req_b", "nonce": "n-2"}})),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 204);
    // GitHub refuses inputs the workflow does not declare, missing required ones, unknown refs,
    // and workflows without a workflow_dispatch trigger
    for (body, file) in [
        (
            json!({"ref": "main", "inputs": {"request_id": "x", "nonce": "y", "extra": "z"}}),
            "tfpilot-plan.yml",
        ),
        (
            json!({"ref": "main", "inputs": {"request_id": "x"}}),
            "tfpilot-plan.yml",
        ),
        (
            json!({"ref": "nope", "inputs": {"request_id": "x", "nonce": "y"}}),
            "tfpilot-plan.yml",
        ),
        (json!({"ref": "main"}), "ci.yml"),
    ] {
        let (status, _) = api
            .json(
                reqwest::Method::POST,
                &format!("/repos/{REPO}/actions/workflows/{file}/dispatches"),
                Some(body),
            )
            .await;
        assert_eq!(status, 422, "{file}");
    }
    let runs = sim.workflow_runs(REPO);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, run_id);
    assert_eq!(runs[0].name, "tfpilot plan");
    assert_eq!(
        runs[0].display_title,
        "tfpilot plan req_dev_s3_abc123 [n-1]"
    );
    assert_eq!(runs[0].inputs["environment"], "dev", "defaults filled in");
    assert_eq!((runs[0].run_number, runs[1].run_number), (1, 2));
    assert_eq!(runs[0].head_sha, sim.branches(REPO)["main"]);
    let dispatches = sim.dispatches();
    assert_eq!(dispatches.len(), 2);
    assert_eq!(dispatches[1].inputs["request_id"], "req_b");
    assert!(dispatches[0].return_run_details && !dispatches[1].return_run_details);
    let (_, run) = api
        .json(
            reqwest::Method::GET,
            &format!("/repos/{REPO}/actions/runs/{run_id}"),
            None,
        )
        .await;
    assert_eq!(
        (run["status"].as_str(), run["event"].as_str()),
        (Some("queued"), Some("workflow_dispatch"))
    );
}

#[tokio::test]
async fn scripted_runs_complete_with_conclusion_and_downloadable_artifacts() {
    let sim = sim().await;
    let api = Api::new(&sim);
    sim.script_workflow(REPO, "tfpilot-plan.yml", Script::failure());
    sim.script_workflow_for_request(
        REPO,
        "tfpilot-plan.yml",
        "req_ok",
        Script::success().with_artifact(ArtifactSpec::new(
            "tfpilot-plan",
            &[
                ("plan.json", b"{\"resource_changes\":[]}"),
                ("plan.txt", b"No changes."),
            ],
        )),
    );
    let path = format!("/repos/{REPO}/actions/workflows/tfpilot-plan.yml/dispatches");
    for id in ["req_ok", "req_bad"] {
        api.send(
            reqwest::Method::POST,
            &path,
            Some(json!({"ref": "main", "inputs": {"request_id": id, "nonce": "n"}})),
        )
        .await;
    }
    assert_eq!(sim.advance_workflows(), 2);
    assert!(
        sim.workflow_runs(REPO)
            .iter()
            .all(|r| r.status == "in_progress")
    );
    assert_eq!(sim.advance_workflows(), 2);
    assert_eq!(sim.advance_workflows(), 0);
    let runs = sim.workflow_runs(REPO);
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
    assert_eq!(
        runs[1].conclusion.as_deref(),
        Some(Conclusion::Failure.as_str())
    );
    assert_eq!(runs[0].artifacts, vec!["tfpilot-plan"]);

    let (_, list) = api
        .json(
            reqwest::Method::GET,
            &format!("/repos/{REPO}/actions/runs/{}/artifacts", runs[0].id),
            None,
        )
        .await;
    let art = list["artifacts"][0]["id"].as_u64().unwrap();
    let resp = api
        .send(
            reqwest::Method::GET,
            &format!("/repos/{REPO}/actions/artifacts/{art}/zip"),
            None,
        )
        .await;
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    // the short-lived URL needs no token, like GitHub's blob storage link
    let zip_bytes = reqwest::get(&location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes.to_vec())).unwrap();
    let mut plan = String::new();
    zip.by_name("plan.txt")
        .unwrap()
        .read_to_string(&mut plan)
        .unwrap();
    assert_eq!(plan, "No changes.");

    // a re-run keeps the id, raises the attempt and starts over
    let (status, _) = api
        .json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/actions/runs/{}/rerun", runs[1].id),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201);
    let again = &sim.workflow_runs(REPO)[1];
    assert_eq!(
        (
            again.run_attempt,
            again.status.as_str(),
            again.conclusion.as_deref()
        ),
        (2, "queued", None)
    );
    sim.complete_run(again.id).unwrap();
    assert_eq!(sim.workflow_runs(REPO)[1].status, "completed");
}

#[tokio::test]
async fn automatic_mode_runs_to_completion_and_quiesce_waits_for_it() {
    let mut config = SimConfig::for_tests();
    config.workflow_mode = WorkflowMode::Auto {
        queued: Duration::from_millis(30),
        running: Duration::from_millis(60),
    };
    let sim = sim_with(config).await;
    let api = Api::new(&sim);
    api.send(
        reqwest::Method::POST,
        &format!("/repos/{REPO}/actions/workflows/tfpilot-plan.yml/dispatches"),
        Some(json!({"ref": "main", "inputs": {"request_id": "r", "nonce": "n"}})),
    )
    .await;
    sim.quiesce().await.unwrap();
    let run = &sim.workflow_runs(REPO)[0];
    assert_eq!(
        (run.status.as_str(), run.conclusion.as_deref()),
        ("completed", Some("success"))
    );
    let actions: Vec<Option<String>> = sim.deliveries().iter().map(|d| d.action.clone()).collect();
    assert_eq!(
        actions,
        vec![
            Some("requested".into()),
            Some("in_progress".into()),
            Some("completed".into())
        ]
    );
}

#[tokio::test]
async fn git_data_builds_a_branch_with_a_file_and_deletes_with_null_sha() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let main = sim.branches(REPO)["main"].clone();
    let (_, commit) = api
        .json(
            reqwest::Method::GET,
            &format!("/repos/{REPO}/git/commits/{main}"),
            None,
        )
        .await;
    let (status, tree) = api
        .json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/git/trees"),
            Some(json!({"base_tree": commit["tree"]["sha"], "tree": [
                {"path": "envs/dev/tfpilot_req_a.tf", "mode": "100644", "type": "blob", "content": "module \"a\" {}\n"},
                {"path": "envs/dev/main.tf", "mode": "100644", "type": "blob", "sha": null},
            ]})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, c) = api
        .json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/git/commits"),
            Some(json!({"message": "request a", "tree": tree["sha"], "parents": [main]})),
        )
        .await;
    let (status, _) = api
        .json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/git/refs"),
            Some(json!({"ref": "refs/heads/request/a", "sha": c["sha"]})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/git/refs"),
            Some(json!({"ref": "refs/heads/request/a", "sha": c["sha"]})),
        )
        .await;
    assert_eq!(status, 422, "reference already exists");
    assert_eq!(
        sim.file(REPO, "request/a", "envs/dev/tfpilot_req_a.tf")
            .as_deref(),
        Some("module \"a\" {}\n")
    );
    assert_eq!(sim.file(REPO, "request/a", "envs/dev/main.tf"), None);
    assert_eq!(
        sim.file(REPO, "request/a", "README.md").as_deref(),
        Some("# infra\n"),
        "base_tree kept"
    );
    let (_, content) = api
        .json(
            reqwest::Method::GET,
            &format!("/repos/{REPO}/contents/envs/dev/tfpilot_req_a.tf?ref=request/a"),
            None,
        )
        .await;
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(content["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, b"module \"a\" {}\n");

    let (status, pr) = api
        .json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/pulls"),
            Some(json!({"title": "a", "head": "request/a", "base": "main"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, found) = api
        .json(
            reqwest::Method::GET,
            &format!("/repos/{REPO}/pulls?head=acme:request/a"),
            None,
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (_, none) = api
        .json(
            reqwest::Method::GET,
            &format!("/repos/{REPO}/pulls?head=acme:request/b"),
            None,
        )
        .await;
    assert_eq!(none.as_array().unwrap().len(), 0);
    let view = sim.pull(REPO, pr["number"].as_u64().unwrap()).unwrap();
    let files: Vec<(String, String)> = view
        .files
        .iter()
        .map(|f| (f.path.clone(), f.status.clone()))
        .collect();
    assert_eq!(
        files,
        vec![
            ("envs/dev/main.tf".into(), "removed".into()),
            ("envs/dev/tfpilot_req_a.tf".into(), "added".into())
        ]
    );
    assert_eq!(view.author, "tfpilot[bot]");
}

#[tokio::test]
async fn comments_reactions_permissions_and_teams_read_back() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let n = sim
        .open_issue(REPO, "alice", "Need a bucket", "body", &["tfpilot"])
        .unwrap();
    let human = sim.comment(REPO, n, "alice", "/tfpilot plan").unwrap();
    api.send(
        reqwest::Method::POST,
        &format!("/repos/{REPO}/issues/comments/{human}/reactions"),
        Some(json!({"content": "eyes"})),
    )
    .await;
    let (_, c) = api
        .json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            Some(json!({"body": "ack"})),
        )
        .await;
    assert_eq!(c["performed_via_github_app"]["slug"], "tfpilot");
    let (status, _) = api
        .json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/issues/{n}/comments"),
            Some(json!({"body": "x".repeat(65_537)})),
        )
        .await;
    assert_eq!(status, 422, "GitHub's 65536-character limit");
    let comments = sim.comments(REPO, n);
    assert_eq!(comments.len(), 2);
    assert_eq!(
        comments[0].reactions,
        vec![("tfpilot[bot]".to_string(), "eyes".to_string())]
    );
    assert_eq!(
        (comments[1].author.as_str(), comments[1].body.as_str()),
        ("tfpilot[bot]", "ack")
    );

    sim.set_permission(REPO, "bob", Permission::Maintain)
        .unwrap();
    sim.open_issue(REPO, "carol", "hi", "", &[]).unwrap();
    for (user, perm, role) in [
        ("bob", "write", "maintain"),
        ("carol", "none", "none"),
        ("acme", "admin", "admin"),
    ] {
        let (status, body) = api
            .json(
                reqwest::Method::GET,
                &format!("/repos/{REPO}/collaborators/{user}/permission"),
                None,
            )
            .await;
        assert_eq!(
            (
                status,
                body["permission"].as_str(),
                body["role_name"].as_str()
            ),
            (200, Some(perm), Some(role)),
            "{user}"
        );
    }
    sim.add_team_member("acme", "platform", "bob", TeamRole::Maintainer);
    let (status, body) = api
        .json(
            reqwest::Method::GET,
            "/orgs/acme/teams/platform/memberships/bob",
            None,
        )
        .await;
    assert_eq!(
        (status, body["role"].as_str(), body["state"].as_str()),
        (200, Some("maintainer"), Some("active"))
    );
    assert_eq!(
        api.json(
            reqwest::Method::GET,
            "/orgs/acme/teams/platform/memberships/carol",
            None
        )
        .await
        .0,
        404
    );

    // write calls made with the installation token are countable
    let writes = sim.write_calls();
    assert_eq!(writes.len(), 3);
    assert!(writes.iter().all(|c| c.method == "POST"));
}

#[tokio::test]
async fn check_runs_complete_list_by_ref_and_keep_their_buttons() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let head = sim
        .push(REPO, "request/a", "alice", &[("a.tf", Some("x"))], "a")
        .unwrap();
    let body = json!({"name": "tfpilot/plan", "head_sha": head, "external_id": "req_a",
        "conclusion": "success", "output": {"title": "Plan: 1 to add", "summary": "s"},
        "actions": [{"label": "Apply", "description": "Apply this plan", "identifier": "apply"}]});
    let (status, created) = api
        .json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/check-runs"),
            Some(body),
        )
        .await;
    assert_eq!(
        (status, created["status"].as_str()),
        (201, Some("completed"))
    );
    let too_many = json!({"name": "x", "head_sha": head, "actions": [
        {"label": "a", "description": "a", "identifier": "a"}, {"label": "b", "description": "b", "identifier": "b"},
        {"label": "c", "description": "c", "identifier": "c"}, {"label": "d", "description": "d", "identifier": "d"}]});
    assert_eq!(
        api.json(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/check-runs"),
            Some(too_many)
        )
        .await
        .0,
        422
    );
    let (_, list) = api
        .json(
            reqwest::Method::GET,
            &format!("/repos/{REPO}/commits/request%2Fa/check-runs?check_name=tfpilot/plan"),
            None,
        )
        .await;
    assert_eq!(list["total_count"], 1);
    let views = sim.check_runs_named(REPO, "tfpilot/plan", &head);
    assert_eq!(views[0].actions[0].identifier, "apply");
    assert_eq!(views[0].title.as_deref(), Some("Plan: 1 to add"));
    assert!(
        sim.press_check_action(REPO, views[0].id, "alice", "destroy")
            .is_err(),
        "no such button"
    );
}

#[tokio::test]
async fn primary_rate_limit_names_its_reset_time() {
    let sim = sim().await;
    let api = Api::new(&sim);
    sim.fail_calls(CallFault::new(
        "GET",
        "/repos/{owner}/{repo}",
        1,
        FaultResponse::PrimaryRateLimit { reset_in_secs: 30 },
    ));
    let resp = api
        .send(reqwest::Method::GET, &format!("/repos/{REPO}"), None)
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    let reset: i64 = resp.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now + 25..=now + 31).contains(&reset));
    assert_eq!(
        api.send(reqwest::Method::GET, &format!("/repos/{REPO}"), None)
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn older_enterprise_servers_refuse_return_run_details_and_new_api_versions_always_return_it()
{
    let mut config = SimConfig::for_tests();
    config.legacy_dispatch = true;
    let legacy = sim_with(config).await;
    let api = Api::new(&legacy);
    let path = format!("/repos/{REPO}/actions/workflows/tfpilot-plan.yml/dispatches");
    let inputs = json!({"request_id": "r", "nonce": "n"});
    let (status, body) = api
        .json(
            reqwest::Method::POST,
            &path,
            Some(json!({"ref": "main", "inputs": inputs, "return_run_details": true})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("return_run_details")
    );
    assert!(
        legacy.workflow_runs(REPO).is_empty(),
        "a refused dispatch starts nothing"
    );
    assert_eq!(
        api.send(
            reqwest::Method::POST,
            &path,
            Some(json!({"ref": "main", "inputs": inputs}))
        )
        .await
        .status()
        .as_u16(),
        204
    );

    let sim = sim().await;
    let api = Api::new(&sim);
    let resp = api
        .http
        .post(format!("{}{path}", api.base))
        .header("authorization", &api.auth)
        .header("x-github-api-version", "2026-03-10")
        .json(&json!({"ref": "main", "inputs": inputs}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["workflow_run_id"].as_u64(),
        Some(sim.workflow_runs(REPO)[0].id)
    );
}

#[tokio::test]
async fn stateless_tokens_are_long_dotted_and_still_work() {
    let mut config = SimConfig::for_tests();
    config.stateless_tokens = true;
    let sim = sim_with(config).await;
    let token = sim.installation_token();
    assert!(
        token.len() > 400 && token.contains('.'),
        "{} chars",
        token.len()
    );
    let api = Api::new(&sim);
    assert_eq!(
        api.json(reqwest::Method::GET, &format!("/repos/{REPO}"), None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn random_delivery_faults_are_reproducible_from_the_seed() {
    async fn outcomes(seed: u64) -> Vec<String> {
        let mut config = SimConfig::for_tests();
        config.seed = seed;
        let sim = sim_with(config).await;
        sim.set_webhook_target(tfpilot::sim::WebhookTarget::Router(
            axum::Router::new().route(
                "/webhooks/github",
                axum::routing::post(|| async { axum::http::StatusCode::ACCEPTED }),
            ),
        ));
        sim.set_delivery_faults(tfpilot::sim::DeliveryFaults {
            drop_rate: 0.3,
            ..Default::default()
        });
        for i in 0..20 {
            sim.open_issue(REPO, "alice", &format!("issue {i}"), "", &[])
                .unwrap();
        }
        sim.quiesce().await.unwrap();
        sim.deliveries()
            .iter()
            .map(|d| format!("{}:{:?}:{:?}", d.guid, d.outcome, d.status_code))
            .collect()
    }
    let a = outcomes(11).await;
    assert_eq!(a, outcomes(11).await);
    assert!(a.iter().any(|o| o.contains("Dropped")) && a.iter().any(|o| o.contains("Some(202)")));
    assert_ne!(a, outcomes(12).await);
}

#[tokio::test]
async fn a_delayed_delivery_holds_back_the_ones_behind_it_and_quiesce_waits() {
    let sim = sim().await;
    let got: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let sink = got.clone();
    sim.set_webhook_target(tfpilot::sim::WebhookTarget::Router(
        axum::Router::new().route(
            "/webhooks/github",
            axum::routing::post(move |body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    sink.lock()
                        .unwrap()
                        .push(v["issue"]["title"].as_str().unwrap().to_string());
                    axum::http::StatusCode::OK
                }
            }),
        ),
    ));
    sim.fault_next_delivery(
        None,
        tfpilot::sim::DeliveryFault::Delay(Duration::from_millis(150)),
    );
    sim.open_issue(REPO, "alice", "first", "", &[]).unwrap();
    sim.open_issue(REPO, "alice", "second", "", &[]).unwrap();
    sim.quiesce().await.unwrap();
    assert_eq!(*got.lock().unwrap(), vec!["first", "second"]);
}

#[tokio::test]
async fn squash_merges_make_one_commit_and_a_moved_head_refuses_the_merge() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let head = sim
        .push(
            REPO,
            "cleanup/a",
            "alice",
            &[("envs/dev/main.tf", None)],
            "remove",
        )
        .unwrap();
    let pr = sim
        .open_pull(REPO, "alice", "cleanup/a", "main", "Cleanup a", "")
        .unwrap();
    let path = format!("/repos/{REPO}/pulls/{pr}/merge");
    let (status, _) = api
        .json(
            reqwest::Method::PUT,
            &path,
            Some(json!({"merge_method": "octopus"})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = api
        .json(
            reqwest::Method::PUT,
            &path,
            Some(json!({"sha": "0".repeat(40)})),
        )
        .await;
    assert_eq!(status, 409, "head moved since the caller looked");
    let (status, body) = api
        .json(
            reqwest::Method::PUT,
            &path,
            Some(json!({"merge_method": "squash", "sha": head})),
        )
        .await;
    assert_eq!(status, 200);
    let sha = body["sha"].as_str().unwrap();
    assert_eq!(sim.commit_parents(sha).len(), 1);
    assert_eq!(sim.file(REPO, "main", "envs/dev/main.tf"), None);
    assert_eq!(
        api.json(reqwest::Method::PUT, &path, Some(json!({})))
            .await
            .0,
        405,
        "already merged"
    );
}
