//! The client's retry rules against the simulator's faults (the same rules are
//! unit-tested against wiremock in tests/github_client.rs).

use std::time::{Duration, Instant};

use secrecy::SecretString;
use tfpilot::github::{AppCredentials, GitHub, GitHubClient, GitHubConfig, Repo, RetryPolicy};
use tfpilot::sim::{
    CallFault, FaultResponse, RepoSpec, SimConfig, Simulator, TEST_APP_PRIVATE_KEY_PEM,
};

const ROUTE: &str = "/repos/{owner}/{repo}";

async fn setup() -> (Simulator, GitHubClient, Repo) {
    tfpilot::github::install_crypto_provider();
    let config = SimConfig::for_tests();
    let app_id = config.app_id;
    let sim = Simulator::start(config).await.expect("simulator");
    sim.create_repo(RepoSpec::new("acme/infra").file("README.md", "hi\n"))
        .expect("repo");
    let credentials = AppCredentials::from_pem(
        app_id,
        &SecretString::from(TEST_APP_PRIVATE_KEY_PEM.to_string()),
    )
    .expect("credentials");
    let mut github = GitHubConfig::new(credentials).with_api_url(sim.base_url());
    github.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..github.retry
    };
    let client = GitHubClient::new(github).expect("client");
    let repo = Repo::new(sim.installation_id(), "acme", "infra");
    (sim, client, repo)
}

fn calls_to(sim: &Simulator, route: &str) -> Vec<u16> {
    sim.calls()
        .into_iter()
        .filter(|c| c.method == "GET" && c.route == route)
        .map(|c| c.status)
        .collect()
}

#[tokio::test]
async fn two_502s_then_200_succeed_on_the_third_call() {
    let (sim, client, repo) = setup().await;
    sim.fail_calls(CallFault::new("GET", ROUTE, 2, FaultResponse::Status(502)));
    let got = client
        .get_repository(&repo)
        .await
        .expect("third attempt succeeds");
    assert_eq!(got.default_branch, "main");
    assert_eq!(calls_to(&sim, ROUTE), vec![502, 502, 200]);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let (sim, client, repo) = setup().await;
    sim.fail_calls(CallFault::new(
        "GET",
        ROUTE,
        1,
        FaultResponse::RateLimited {
            retry_after_secs: 1,
        },
    ));
    let started = Instant::now();
    client
        .get_repository(&repo)
        .await
        .expect("succeeds after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(calls_to(&sim, ROUTE), vec![429, 200]);
}

#[tokio::test]
async fn a_404_is_not_retried() {
    let (sim, client, repo) = setup().await;
    let err = client
        .get_issue(&repo, 999)
        .await
        .expect_err("no such issue");
    assert!(err.is_not_found(), "{err}");
    let route = "/repos/{owner}/{repo}/issues/{issue_number}";
    assert_eq!(calls_to(&sim, route), vec![404]);
}

#[tokio::test]
async fn retries_are_bounded() {
    let (sim, client, repo) = setup().await;
    sim.fail_calls(CallFault::new("GET", ROUTE, 50, FaultResponse::Status(503)));
    client.get_repository(&repo).await.expect_err("gives up");
    let attempts = calls_to(&sim, ROUTE);
    assert_eq!(
        attempts.len() as u32,
        RetryPolicy::default().max_attempts,
        "{attempts:?}"
    );
    assert!(attempts.iter().all(|s| *s == 503));
}
