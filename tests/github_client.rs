//! The real GitHub client against a local fake GitHub (wiremock on 127.0.0.1):
//! installation token cache, app JWT, retries, secrets in logs, and the REST operations.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use octocrab::jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tfpilot::github::{
    AppCredentials, GitHub, GitHubClient, GitHubConfig, GitHubError, Repo, RetryPolicy,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const APP_ID: u64 = 4242;
const INSTALLATION: u64 = 77;
const TOKEN_PATH: &str = "/app/installations/77/access_tokens";
const ISSUE_PATH: &str = "/repos/acme/infra/issues/5";

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name)
}

fn credentials() -> AppCredentials {
    AppCredentials::from_pem_file(APP_ID, &key_file("test-app.pem")).expect("test key loads")
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_rate_limit_wait: Duration::from_secs(5),
        secondary_limit_wait: Duration::from_millis(10),
    }
}

fn config(uri: &str) -> GitHubConfig {
    let mut config = GitHubConfig::new(credentials()).with_api_url(uri);
    config.retry = fast_retry();
    config
}

fn client(server: &MockServer) -> GitHubClient {
    GitHubClient::new(config(&server.uri())).expect("client builds")
}

fn repo() -> Repo {
    Repo::new(INSTALLATION, "acme", "infra")
}

/// A ~520-character token with dots, like GitHub's new stateless tokens: nothing may
/// assume a length or an alphabet.
fn opaque_token(n: usize) -> String {
    format!(
        "ghs_{APP_ID}_{}.{n}.{}",
        "eyJhbGciOiJSUzI1NiJ9x".repeat(12),
        "Zz9-_".repeat(50)
    )
}

/// Issues installation tokens `opaque_token(1)`, `opaque_token(2)`, … that expire after
/// `lifetime`, slowly enough that concurrent callers really overlap.
#[derive(Clone)]
struct TokenIssuer {
    issued: Arc<AtomicUsize>,
    lifetime: chrono::Duration,
}

impl TokenIssuer {
    fn new(lifetime: chrono::Duration) -> Self {
        TokenIssuer {
            issued: Arc::new(AtomicUsize::new(0)),
            lifetime,
        }
    }

    fn count(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

impl Respond for TokenIssuer {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let expires_at = chrono::Utc::now() + self.lifetime;
        ResponseTemplate::new(201)
            .set_body_json(json!({
                "token": opaque_token(n),
                "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "permissions": { "issues": "write" },
                "repository_selection": "all"
            }))
            .set_delay(Duration::from_millis(150))
    }
}

async fn mount_tokens(server: &MockServer, lifetime: chrono::Duration) -> TokenIssuer {
    let issuer = TokenIssuer::new(lifetime);
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(issuer.clone())
        .mount(server)
        .await;
    issuer
}

fn user_json(login: &str) -> Value {
    json!({ "login": login, "id": 1, "node_id": "U_1", "type": "User", "site_admin": false })
}

fn issue_json(number: u64) -> Value {
    json!({
        "id": 1000 + number, "node_id": "I_1", "number": number, "state": "open",
        "title": "Infrastructure request", "body": "### Module\n\napp", "user": user_json("alice"),
        "labels": [{ "id": 1, "name": "tfpilot" }, "plain-name"],
        "html_url": format!("https://github.com/acme/infra/issues/{number}"),
        "locked": false, "comments": 0, "assignee": null, "milestone": null,
        "created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:05:00Z", "closed_at": null
    })
}

fn comment_json(id: u64, body: &str) -> Value {
    json!({
        "id": id, "node_id": "IC_1", "body": body, "user": user_json("tfpilot[bot]"),
        "html_url": format!("https://github.com/acme/infra/issues/5#issuecomment-{id}"),
        "url": "https://api.github.com/x", "issue_url": "https://api.github.com/y",
        "created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:00:00Z"
    })
}

async fn mount_issue(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(ISSUE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_json(5)))
        .mount(server)
        .await;
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

fn bearer_of(request: &Request) -> String {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

mod token_cache {
    use super::*;

    #[tokio::test]
    async fn hundred_concurrent_calls_share_one_token_request() {
        let server = MockServer::start().await;
        let issuer = mount_tokens(&server, chrono::Duration::hours(1)).await;
        mount_issue(&server).await;
        let gh = Arc::new(client(&server));

        let calls = (0..100).map(|_| {
            let gh = gh.clone();
            tokio::spawn(async move { gh.get_issue(&repo(), 5).await })
        });
        for outcome in futures::future::join_all(calls).await {
            let issue = outcome.expect("task ran").expect("call succeeded");
            assert_eq!(issue.number, 5);
        }

        assert_eq!(issuer.count(), 1, "one token request for 100 calls");
        let api_calls = requests_to(&server, ISSUE_PATH).await;
        assert_eq!(api_calls.len(), 100);
        assert!(
            api_calls.iter().all(|r| bearer_of(r) == opaque_token(1)),
            "every call carried the one opaque token"
        );
        assert_eq!(gh.metrics().snapshot().token_requests, 1);
    }

    #[tokio::test]
    async fn token_within_refresh_margin_is_renewed() {
        let server = MockServer::start().await;
        // Expires in 2 minutes; the default margin is 5: every use renews it.
        let issuer = mount_tokens(&server, chrono::Duration::minutes(2)).await;
        mount_issue(&server).await;
        let gh = client(&server);

        gh.get_issue(&repo(), 5).await.expect("first call");
        gh.get_issue(&repo(), 5).await.expect("second call");

        assert_eq!(issuer.count(), 2);
        let api_calls = requests_to(&server, ISSUE_PATH).await;
        assert_eq!(bearer_of(&api_calls[1]), opaque_token(2));
    }

    #[tokio::test]
    async fn token_outside_refresh_margin_is_reused() {
        let server = MockServer::start().await;
        let issuer = mount_tokens(&server, chrono::Duration::minutes(10)).await;
        mount_issue(&server).await;
        let gh = client(&server);

        for _ in 0..3 {
            gh.get_issue(&repo(), 5).await.expect("call");
        }
        assert_eq!(issuer.count(), 1);
    }

    #[tokio::test]
    async fn a_401_renews_the_token_once_and_retries() {
        let server = MockServer::start().await;
        let issuer = mount_tokens(&server, chrono::Duration::hours(1)).await;
        Mock::given(method("GET"))
            .and(path(ISSUE_PATH))
            .respond_with(
                ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        mount_issue(&server).await;
        let gh = client(&server);

        let issue = gh
            .get_issue(&repo(), 5)
            .await
            .expect("succeeds after renewal");
        assert_eq!(issue.title, "Infrastructure request");
        assert_eq!(issuer.count(), 2, "exactly one renewal");
        let api_calls = requests_to(&server, ISSUE_PATH).await;
        assert_eq!(api_calls.len(), 2);
        assert_eq!(bearer_of(&api_calls[0]), opaque_token(1));
        assert_eq!(bearer_of(&api_calls[1]), opaque_token(2));
    }

    #[tokio::test]
    async fn a_persistent_401_renews_only_once() {
        let server = MockServer::start().await;
        let issuer = mount_tokens(&server, chrono::Duration::hours(1)).await;
        Mock::given(method("GET"))
            .and(path(ISSUE_PATH))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        let gh = client(&server);

        let err = gh
            .get_issue(&repo(), 5)
            .await
            .expect_err("stays unauthorized");
        assert!(matches!(err, GitHubError::Unauthorized { .. }), "{err:?}");
        assert_eq!(issuer.count(), 2);
        assert_eq!(requests_to(&server, ISSUE_PATH).await.len(), 2);
    }

    #[tokio::test]
    async fn callers_waiting_on_a_failed_refresh_share_its_failure() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(500).set_delay(Duration::from_millis(50)))
            .mount(&server)
            .await;
        let gh = Arc::new(client(&server));

        let calls = (0..20).map(|_| {
            let gh = gh.clone();
            tokio::spawn(async move { gh.get_issue(&repo(), 5).await })
        });
        for outcome in futures::future::join_all(calls).await {
            let err = outcome.expect("task ran").expect_err("no token");
            assert!(
                matches!(err, GitHubError::Server { status: 500, .. }),
                "{err:?}"
            );
        }
        // One refresh with its 4 attempts, not one per caller.
        assert_eq!(requests_to(&server, TOKEN_PATH).await.len(), 4);
        assert!(requests_to(&server, ISSUE_PATH).await.is_empty());

        // A later caller tries again.
        let _ = gh.get_issue(&repo(), 5).await;
        assert_eq!(requests_to(&server, TOKEN_PATH).await.len(), 8);
    }

    #[tokio::test]
    async fn installations_have_separate_tokens() {
        let server = MockServer::start().await;
        let first = mount_tokens(&server, chrono::Duration::hours(1)).await;
        let other = TokenIssuer::new(chrono::Duration::hours(1));
        Mock::given(method("POST"))
            .and(path("/app/installations/78/access_tokens"))
            .respond_with(other.clone())
            .mount(&server)
            .await;
        mount_issue(&server).await;
        let gh = client(&server);

        gh.get_issue(&repo(), 5).await.expect("installation 77");
        gh.get_issue(&Repo::new(78, "acme", "infra"), 5)
            .await
            .expect("installation 78");
        gh.get_issue(&repo(), 5)
            .await
            .expect("installation 77 again");
        assert_eq!((first.count(), other.count()), (1, 1));
    }
}

mod jwt {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Claims {
        iat: i64,
        exp: i64,
        iss: String,
    }

    fn verify(jwt: &str) -> Result<Claims, octocrab::jsonwebtoken::errors::Error> {
        let public = std::fs::read(key_file("test-app.pub.pem")).expect("public key");
        let key = DecodingKey::from_rsa_pem(&public).expect("public key parses");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        validation.set_issuer(&[APP_ID.to_string()]);
        decode::<Claims>(jwt, &key, &validation).map(|data| data.claims)
    }

    #[tokio::test]
    async fn token_request_carries_a_jwt_signed_by_the_app_key() {
        let server = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        mount_issue(&server).await;
        let gh = client(&server);

        let before = chrono::Utc::now().timestamp();
        gh.get_issue(&repo(), 5).await.expect("call");
        let after = chrono::Utc::now().timestamp();

        let token_calls = requests_to(&server, TOKEN_PATH).await;
        assert_eq!(token_calls.len(), 1);
        let jwt = bearer_of(&token_calls[0]);
        let claims = verify(&jwt).expect("verifies with the app's public key");
        assert_eq!(claims.iss, APP_ID.to_string());
        assert!(
            (before - 60..=after - 60).contains(&claims.iat),
            "iat is 60 s back: {claims:?}"
        );
        assert!(claims.exp > after, "not yet expired");
        assert!(claims.exp <= before + 600, "exp at most 10 minutes ahead");
        assert!(
            claims.exp - claims.iat <= 600,
            "lifetime at most 10 minutes"
        );

        // The API call itself used the installation token, not the JWT.
        let api_calls = requests_to(&server, ISSUE_PATH).await;
        assert_eq!(bearer_of(&api_calls[0]), opaque_token(1));
    }

    #[test]
    fn a_tampered_jwt_does_not_verify() {
        let jwt = credentials().jwt().expect("signs");
        let jwt = secrecy::ExposeSecret::expose_secret(&jwt).to_owned();
        assert!(verify(&jwt).is_ok());
        let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
        let forged_claims = format!(
            r#"{{"iat":{},"exp":{},"iss":"4242","admin":true}}"#,
            chrono::Utc::now().timestamp() - 60,
            chrono::Utc::now().timestamp() + 500
        );
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            forged_claims,
        );
        assert!(verify(&parts.join(".")).is_err());
    }

    #[test]
    fn pkcs1_keys_as_github_downloads_them_work_too() {
        let creds = AppCredentials::from_pem_file(APP_ID, &key_file("test-app.pkcs1.pem"))
            .expect("PKCS#1 key loads");
        let jwt = creds.jwt().expect("signs");
        let claims = verify(secrecy::ExposeSecret::expose_secret(&jwt)).expect("verifies");
        assert_eq!(claims.iss, APP_ID.to_string());
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let garbage = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END RSA PRIVATE KEY-----\n";
        let err =
            AppCredentials::from_pem(APP_ID, &SecretString::from(garbage)).expect_err("not a key");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("c2VjcmV0LWtleS1tYXRlcmlhbA"), "{text}");
        let debug = format!("{:?}", credentials());
        assert!(
            debug.contains("4242") && !debug.contains("PRIVATE"),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn app_level_calls_send_the_jwt() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/app/hook/deliveries"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&server)
            .await;
        let gh = client(&server);
        gh.list_webhook_deliveries(None, 50).await.expect("lists");
        let calls = requests_to(&server, "/app/hook/deliveries").await;
        let claims = verify(&bearer_of(&calls[0])).expect("JWT verifies");
        assert_eq!(claims.iss, APP_ID.to_string());
    }
}

mod retries {
    use super::*;

    #[tokio::test]
    async fn two_502s_then_200_succeeds_on_the_third_call() {
        let server = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        Mock::given(method("GET"))
            .and(path(ISSUE_PATH))
            .respond_with(ResponseTemplate::new(502))
            .up_to_n_times(2)
            .with_priority(1)
            .mount(&server)
            .await;
        mount_issue(&server).await;
        let gh = client(&server);

        let issue = gh
            .get_issue(&repo(), 5)
            .await
            .expect("third attempt succeeds");
        assert_eq!(issue.number, 5);
        assert_eq!(requests_to(&server, ISSUE_PATH).await.len(), 3);
        let metrics = gh.metrics();
        let route = "/repos/{owner}/{repo}/issues/{issue_number}";
        assert_eq!(metrics.calls("GET", route, 502), 2);
        assert_eq!(metrics.calls("GET", route, 200), 1);
        assert_eq!(metrics.snapshot().retries, 2);
    }

    #[tokio::test]
    async fn a_429_with_retry_after_waits_before_retrying() {
        let server = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        Mock::given(method("GET"))
            .and(path(ISSUE_PATH))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        mount_issue(&server).await;
        let gh = client(&server);
        // Fetch the token first so only the API call is timed.
        gh.installation_token(INSTALLATION).await.expect("token");

        let started = Instant::now();
        gh.get_issue(&repo(), 5)
            .await
            .expect("succeeds after waiting");
        let waited = started.elapsed();

        assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
        let calls = requests_to(&server, ISSUE_PATH).await;
        assert_eq!(calls.len(), 2);
    }

    #[tokio::test]
    async fn a_rate_limit_longer_than_the_cap_fails_at_once() {
        let server = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        let reset = chrono::Utc::now().timestamp() + 3000;
        Mock::given(method("GET"))
            .and(path(ISSUE_PATH))
            .respond_with(
                ResponseTemplate::new(403)
                    .insert_header("x-ratelimit-remaining", "0")
                    .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                    .set_body_json(json!({"message": "API rate limit exceeded"})),
            )
            .mount(&server)
            .await;
        let gh = client(&server);

        let err = gh.get_issue(&repo(), 5).await.expect_err("limited");
        match err {
            GitHubError::RateLimited { retry_after, .. } => {
                assert!(retry_after.is_some_and(|d| d > Duration::from_secs(2000)))
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
        assert_eq!(requests_to(&server, ISSUE_PATH).await.len(), 1);
        assert_eq!(gh.metrics().snapshot().rate_limit_remaining, Some(0));
    }

    #[tokio::test]
    async fn a_404_is_not_retried() {
        let server = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        Mock::given(method("GET"))
            .and(path(ISSUE_PATH))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
            .mount(&server)
            .await;
        let gh = client(&server);

        let err = gh.get_issue(&repo(), 5).await.expect_err("missing");
        assert!(err.is_not_found(), "{err:?}");
        assert_eq!(requests_to(&server, ISSUE_PATH).await.len(), 1);
    }

    #[tokio::test]
    async fn a_plain_403_is_forbidden_and_not_retried() {
        let server = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        Mock::given(method("GET"))
            .and(path(ISSUE_PATH))
            .respond_with(
                ResponseTemplate::new(403)
                    .insert_header("x-ratelimit-remaining", "4999")
                    .set_body_json(json!({"message": "Resource not accessible by integration"})),
            )
            .mount(&server)
            .await;
        let gh = client(&server);

        let err = gh.get_issue(&repo(), 5).await.expect_err("forbidden");
        match &err {
            GitHubError::Forbidden { message, .. } => {
                assert_eq!(message, "Resource not accessible by integration")
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }
        assert_eq!(requests_to(&server, ISSUE_PATH).await.len(), 1);
        assert_eq!(gh.metrics().snapshot().rate_limit_remaining, Some(4999));
    }

    #[tokio::test]
    async fn server_errors_are_retried_a_bounded_number_of_times() {
        let server = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        Mock::given(method("GET"))
            .and(path(ISSUE_PATH))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let gh = client(&server);

        let err = gh.get_issue(&repo(), 5).await.expect_err("keeps failing");
        assert!(
            matches!(err, GitHubError::Server { status: 503, .. }),
            "{err:?}"
        );
        assert_eq!(requests_to(&server, ISSUE_PATH).await.len(), 4);
    }

    #[tokio::test]
    async fn connection_errors_are_retried_then_reported() {
        // A port that nothing listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let gh = GitHubClient::new(config(&format!("http://{addr}"))).expect("client");

        let err = gh
            .installation_token(INSTALLATION)
            .await
            .expect_err("nobody listens");
        assert!(matches!(err, GitHubError::Transport { .. }), "{err:?}");
        let route = "/app/installations/{installation_id}/access_tokens";
        assert_eq!(gh.metrics().calls("POST", route, 0), 4);
    }

    #[tokio::test]
    async fn a_422_reports_githubs_reason() {
        let server = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        Mock::given(method("POST"))
            .and(path("/repos/acme/infra/issues/5/comments"))
            .respond_with(ResponseTemplate::new(422).set_body_json(json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "IssueComment", "code": "custom", "field": "body",
                             "message": "Body is too long (maximum is 65536 characters)" }],
                "documentation_url": "https://docs.github.com/rest"
            })))
            .mount(&server)
            .await;
        let gh = client(&server);

        let err = gh
            .create_comment(&repo(), 5, &"x".repeat(70_000))
            .await
            .expect_err("too long");
        match err {
            GitHubError::Validation {
                status, message, ..
            } => {
                assert_eq!(status, 422);
                assert!(message.contains("Body is too long"), "{message}");
            }
            other => panic!("expected Validation, got {other:?}"),
        }
        assert_eq!(
            requests_to(&server, "/repos/acme/infra/issues/5/comments")
                .await
                .len(),
            1
        );
    }
}

mod secrets_in_logs {
    use super::*;
    use std::sync::Mutex;

    /// Collects everything the subscriber writes.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[tokio::test]
    async fn a_full_token_flow_logs_no_secret() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(buffer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let server = MockServer::start().await;
        let storage = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        // First call refused: the flow includes a renewal.
        Mock::given(method("GET"))
            .and(path(ISSUE_PATH))
            .respond_with(ResponseTemplate::new(401))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        mount_issue(&server).await;
        Mock::given(method("GET"))
            .and(path("/app/hook/deliveries"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/actions/artifacts/9/zip"))
            .respond_with(ResponseTemplate::new(302).insert_header(
                "location",
                format!("{}/blob/plan.zip?sig=PRESIGNEDSECRET", storage.uri()).as_str(),
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/blob/plan.zip"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(b"PK\x03\x04zip".to_vec()))
            .mount(&storage)
            .await;
        Mock::given(method("POST"))
            .and(path("/repos/acme/infra/issues/5/comments"))
            .respond_with(
                ResponseTemplate::new(422).set_body_json(json!({"message": "Validation Failed"})),
            )
            .mount(&server)
            .await;

        let gh = client(&server);
        gh.get_issue(&repo(), 5).await.expect("issue after renewal");
        gh.list_webhook_deliveries(None, 10)
            .await
            .expect("deliveries");
        gh.download_artifact(&repo(), 9).await.expect("artifact");
        let err = gh.create_comment(&repo(), 5, "hi").await.expect_err("422");
        tracing::error!(error = %err, debug = ?err, client = ?gh, "logged like a handler would");
        tracing::debug!(credentials = ?credentials(), "credentials debug");

        let log = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        // The log really covers the flow, so the absence checks below mean something.
        for expected in [
            "/repos/{owner}/{repo}/issues/{issue_number}",
            "/app/installations/{installation_id}/access_tokens",
            "/app/hook/deliveries",
            "installation token issued",
            "installation token refused; renewing once",
            "following artifact redirect",
            "status=401",
        ] {
            assert!(log.contains(expected), "log lacks {expected:?}:\n{log}");
        }

        let pem = std::fs::read_to_string(key_file("test-app.pem")).expect("pem");
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!log.contains(line), "a PEM line leaked");
        }
        let mut jwts: Vec<String> = requests_to(&server, TOKEN_PATH)
            .await
            .iter()
            .map(bearer_of)
            .collect();
        jwts.extend(
            requests_to(&server, "/app/hook/deliveries")
                .await
                .iter()
                .map(bearer_of),
        );
        assert_eq!(jwts.len(), 3, "two token requests and one app call");
        for jwt in &jwts {
            let signature = jwt.rsplit('.').next().unwrap_or_default();
            assert!(signature.len() > 100);
            assert!(
                !log.contains(jwt.as_str()) && !log.contains(signature),
                "a JWT leaked"
            );
        }
        for n in 1..=2 {
            assert!(
                !log.contains(&opaque_token(n)),
                "installation token {n} leaked"
            );
        }
        assert!(!log.contains("Zz9-_Zz9-_"), "part of a token leaked");
        assert!(!log.contains("PRESIGNEDSECRET"), "the presigned URL leaked");
    }
}

mod operations {
    use super::*;
    use tfpilot::github::{
        CheckAction, CheckRunUpdate, FileChange, IssueState, IssueUpdate, PermissionLevel,
        ReactionContent, RunFilter, WorkflowInputs, commit_files, convert_manifest,
    };
    use wiremock::matchers::{body_json, body_partial_json, header_exists, query_param};

    async fn setup() -> (MockServer, GitHubClient) {
        let server = MockServer::start().await;
        mount_tokens(&server, chrono::Duration::hours(1)).await;
        let gh = client(&server);
        (server, gh)
    }

    #[tokio::test]
    async fn comments_are_created_edited_listed_across_pages_and_deleted() {
        let (server, gh) = setup().await;
        let comments = "/repos/acme/infra/issues/5/comments";
        Mock::given(method("POST"))
            .and(path(comments))
            .and(body_json(
                json!({"body": "<!-- tfpilot:request:x -->\nplanning"}),
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(comment_json(11, "planning")))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("PATCH"))
            .and(path("/repos/acme/infra/issues/comments/11"))
            .and(body_json(json!({"body": "applied"})))
            .respond_with(ResponseTemplate::new(200).set_body_json(comment_json(11, "applied")))
            .expect(1)
            .mount(&server)
            .await;
        let next = format!("{}{comments}?per_page=100&page=2", server.uri());
        Mock::given(method("GET"))
            .and(path(comments))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([comment_json(13, "c")])))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(comments))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header(
                        "link",
                        format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\"").as_str(),
                    )
                    .set_body_json(json!([comment_json(11, "a"), comment_json(12, "b")])),
            )
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/repos/acme/infra/issues/comments/12"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;

        let created = gh
            .create_comment(&repo(), 5, "<!-- tfpilot:request:x -->\nplanning")
            .await
            .expect("created");
        assert_eq!(created.id, 11);
        let edited = gh
            .update_comment(&repo(), 11, "applied")
            .await
            .expect("edited");
        assert_eq!(edited.body, "applied");
        let all = gh.list_comments(&repo(), 5).await.expect("listed");
        assert_eq!(
            all.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![11, 12, 13]
        );
        gh.delete_comment(&repo(), 12).await.expect("deleted");
    }

    #[tokio::test]
    async fn reactions_labels_and_issue_state() {
        let (server, gh) = setup().await;
        Mock::given(method("POST"))
            .and(path("/repos/acme/infra/issues/comments/11/reactions"))
            .and(body_json(json!({"content": "+1"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": 1, "node_id": "R", "content": "+1", "user": user_json("tfpilot[bot]"),
                "created_at": "2026-11-25T10:00:00Z"
            })))
            .mount(&server)
            .await;
        Mock::given(method("PATCH"))
            .and(path(ISSUE_PATH))
            .and(body_json(
                json!({"state": "closed", "state_reason": "completed"}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json({
                let mut issue = issue_json(5);
                issue["state"] = json!("closed");
                issue
            }))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/repos/acme/infra/issues/5/labels"))
            .and(body_json(json!({"labels": ["tfpilot", "env:dev"]})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"id": 1, "node_id": "L1", "url": "u", "name": "tfpilot", "color": "ff0000", "default": false, "description": null},
                {"id": 2, "node_id": "L2", "url": "u", "name": "env:dev", "color": "00ff00", "default": false, "description": null}
            ])))
            .mount(&server)
            .await;
        mount_issue(&server).await;

        let reaction = gh
            .create_comment_reaction(&repo(), 11, ReactionContent::PlusOne)
            .await
            .expect("reacted");
        assert_eq!(reaction.content, ReactionContent::PlusOne);
        let issue = gh.get_issue(&repo(), 5).await.expect("issue");
        let names: Vec<&str> = issue.labels.iter().map(|l| l.name()).collect();
        assert_eq!(names, vec!["tfpilot", "plain-name"]);
        let closed = gh
            .update_issue(
                &repo(),
                5,
                &IssueUpdate {
                    state: Some(IssueState::Closed),
                    state_reason: Some("completed".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("closed");
        assert_eq!(closed.state, IssueState::Closed);
        let labels = gh
            .add_labels(&repo(), 5, &["tfpilot".into(), "env:dev".into()])
            .await
            .expect("labelled");
        assert_eq!(labels.len(), 2);
    }

    #[tokio::test]
    async fn permissions_and_team_membership() {
        let (server, gh) = setup().await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/collaborators/bob/permission"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "permission": "write", "role_name": "maintain", "user": user_json("bob")
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/orgs/acme/teams/platform/memberships/bob"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "url": "u", "role": "member", "state": "active"
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/orgs/acme/teams/platform/memberships/eve"))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
            .mount(&server)
            .await;

        let permission = gh
            .collaborator_permission(&repo(), "bob")
            .await
            .expect("permission");
        assert_eq!(permission.permission, PermissionLevel::Write);
        assert_eq!(permission.role_name, "maintain");
        assert!(permission.permission >= PermissionLevel::Write);
        let bob = gh
            .team_membership(INSTALLATION, "acme", "platform", "bob")
            .await
            .expect("bob");
        assert!(bob.is_some());
        let eve = gh
            .team_membership(INSTALLATION, "acme", "platform", "eve")
            .await
            .expect("eve");
        assert_eq!(eve, None, "404 means not a member");
    }

    #[tokio::test]
    async fn a_file_is_read_at_a_ref_and_decoded() {
        let (server, gh) = setup().await;
        let yaml = "environments:\n  dev:\n    apply: [write]\n";
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, yaml);
        // GitHub wraps the base64 every 60 characters.
        let wrapped: String = encoded
            .as_bytes()
            .chunks(20)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/contents/.github/tfpilot.yml"))
            .and(query_param("ref", "request/req_dev_app_abc123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "type": "file", "encoding": "base64", "size": yaml.len(), "name": "tfpilot.yml",
                "path": ".github/tfpilot.yml", "content": wrapped, "sha": "abc",
                "url": "u", "git_url": null, "html_url": null, "download_url": null, "_links": {}
            })))
            .mount(&server)
            .await;
        let file = gh
            .get_file(
                &repo(),
                ".github/tfpilot.yml",
                Some("request/req_dev_app_abc123"),
            )
            .await
            .expect("file");
        assert_eq!(String::from_utf8(file.content).expect("utf-8"), yaml);
        assert_eq!(file.sha, "abc");
    }

    #[tokio::test]
    async fn dispatch_returns_the_run_id() {
        let (server, gh) = setup().await;
        Mock::given(method("POST"))
            .and(path(
                "/repos/acme/infra/actions/workflows/tfpilot-plan.yml/dispatches",
            ))
            .and(body_json(json!({
                "ref": "request/req_dev_app_abc123",
                "inputs": {"nonce": "n1", "request_id": "req_dev_app_abc123"},
                "return_run_details": true
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "workflow_run_id": 9001,
                "run_url": "https://api.github.com/repos/acme/infra/actions/runs/9001",
                "html_url": "https://github.com/acme/infra/actions/runs/9001"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let inputs: WorkflowInputs = [
            ("request_id".to_owned(), "req_dev_app_abc123".to_owned()),
            ("nonce".to_owned(), "n1".to_owned()),
        ]
        .into();
        let outcome = gh
            .dispatch_workflow(
                &repo(),
                "tfpilot-plan.yml",
                "request/req_dev_app_abc123",
                &inputs,
            )
            .await
            .expect("dispatched");
        assert_eq!(outcome.run_id, Some(9001));
    }

    #[tokio::test]
    async fn dispatch_falls_back_when_return_run_details_is_rejected() {
        let (server, gh) = setup().await;
        let dispatches = "/repos/acme/infra/actions/workflows/tfpilot-apply.yml/dispatches";
        Mock::given(method("POST"))
            .and(path(dispatches))
            .and(body_partial_json(json!({"return_run_details": true})))
            .respond_with(ResponseTemplate::new(422).set_body_json(json!({
                "message": "Invalid request.\n\n\"return_run_details\" is not a permitted key.",
                "documentation_url": "https://docs.github.com/enterprise-server@3.19/rest"
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(dispatches))
            .and(body_json(json!({"ref": "main", "inputs": {}})))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let outcome = gh
            .dispatch_workflow(&repo(), "tfpilot-apply.yml", "main", &WorkflowInputs::new())
            .await
            .expect("dispatched without details");
        assert_eq!(outcome.run_id, None);
    }

    #[tokio::test]
    async fn other_dispatch_errors_are_not_retried_without_details() {
        let (server, gh) = setup().await;
        Mock::given(method("POST"))
            .and(path(
                "/repos/acme/infra/actions/workflows/nope.yml/dispatches",
            ))
            .respond_with(ResponseTemplate::new(422).set_body_json(json!({
                "message": "Workflow does not have 'workflow_dispatch' trigger"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let err = gh
            .dispatch_workflow(&repo(), "nope.yml", "main", &WorkflowInputs::new())
            .await
            .expect_err("refused");
        assert_eq!(err.status(), Some(422));
    }

    fn run_json(id: u64) -> Value {
        json!({
            "id": id, "name": "tfpilot plan", "node_id": "WR", "head_branch": "request/x",
            "head_sha": "deadbeef", "path": ".github/workflows/tfpilot-plan.yml", "run_number": 3,
            "run_attempt": 2, "event": "workflow_dispatch", "status": "completed",
            "conclusion": "success", "workflow_id": 44, "url": "u",
            "html_url": format!("https://github.com/acme/infra/actions/runs/{id}"),
            "pull_requests": [], "created_at": "2026-11-25T10:00:00Z",
            "updated_at": "2026-11-25T10:03:00Z", "display_title": "tfpilot plan req_x nonce n1",
            "jobs_url": "u", "logs_url": "u", "check_suite_url": "u", "artifacts_url": "u",
            "cancel_url": "u", "rerun_url": "u", "workflow_url": "u", "head_commit": null,
            "repository": {}, "head_repository": {}
        })
    }

    #[tokio::test]
    async fn runs_are_filtered_and_jobs_and_artifacts_listed() {
        let (server, gh) = setup().await;
        Mock::given(method("GET"))
            .and(path(
                "/repos/acme/infra/actions/workflows/tfpilot-plan.yml/runs",
            ))
            .and(query_param("event", "workflow_dispatch"))
            .and(query_param("branch", "request/x"))
            .and(query_param("created", ">=2026-11-25T09:59:00Z"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "total_count": 1, "workflow_runs": [run_json(9001)]
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/actions/runs/9001/jobs"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "total_count": 1, "jobs": [{
                    "id": 1, "run_id": 9001, "name": "plan", "status": "completed",
                    "conclusion": "failure", "html_url": "h", "steps": [
                        {"name": "terraform plan", "status": "completed", "conclusion": "failure", "number": 4}
                    ]
                }]
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/actions/runs/9001/artifacts"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "total_count": 1, "artifacts": [{
                    "id": 9, "node_id": "A", "name": "tfpilot-plan", "size_in_bytes": 1234,
                    "url": "u", "archive_download_url": "u", "expired": false,
                    "created_at": "2026-11-25T10:02:00Z", "expires_at": null, "updated_at": null
                }]
            })))
            .mount(&server)
            .await;

        let runs = gh
            .list_workflow_runs(
                &repo(),
                &RunFilter {
                    workflow: Some("tfpilot-plan.yml".into()),
                    branch: Some("request/x".into()),
                    event: Some("workflow_dispatch".into()),
                    created: Some(">=2026-11-25T09:59:00Z".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run_attempt, 2);
        assert_eq!(runs[0].display_title, "tfpilot plan req_x nonce n1");
        let jobs = gh.list_run_jobs(&repo(), 9001).await.expect("jobs");
        assert_eq!(jobs[0].steps[0].name, "terraform plan");
        let artifacts = gh
            .list_run_artifacts(&repo(), 9001)
            .await
            .expect("artifacts");
        assert_eq!(artifacts[0].name, "tfpilot-plan");
    }

    #[tokio::test]
    async fn artifact_redirect_is_followed_without_the_token() {
        let (server, gh) = setup().await;
        let storage = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/actions/artifacts/9/zip"))
            .and(header_exists("authorization"))
            .respond_with(ResponseTemplate::new(302).insert_header(
                "location",
                format!("{}/blob/9.zip?sig=abc", storage.uri()).as_str(),
            ))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/blob/9.zip"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(b"PK\x03\x04bytes".to_vec()))
            .expect(1)
            .mount(&storage)
            .await;

        let bytes = gh.download_artifact(&repo(), 9).await.expect("downloaded");
        assert_eq!(bytes, b"PK\x03\x04bytes");
        let fetched = storage.received_requests().await.unwrap_or_default();
        assert_eq!(fetched.len(), 1);
        assert!(
            fetched[0].headers.get("authorization").is_none(),
            "the token must not go to the storage host"
        );
    }

    #[tokio::test]
    async fn webhook_deliveries_page_with_a_cursor_and_redeliver() {
        let (server, gh) = setup().await;
        let next = format!(
            "{}/app/hook/deliveries?per_page=2&cursor=v1_12345",
            server.uri()
        );
        Mock::given(method("GET"))
            .and(path("/app/hook/deliveries"))
            .and(query_param("per_page", "2"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("link", format!("<{next}>; rel=\"next\"").as_str())
                    .set_body_json(json!([{
                        "id": 12345, "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
                        "delivered_at": "2026-11-25T10:00:00Z", "redelivery": false, "duration": 0.27,
                        "status": "Invalid HTTP Response: 503", "status_code": 503,
                        "event": "issue_comment", "action": "created",
                        "installation_id": 77, "repository_id": 1, "throttled_at": null
                    }])),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/app/hook/deliveries/12345/attempts"))
            .and(header_exists("authorization"))
            .respond_with(ResponseTemplate::new(202).set_body_json(json!({})))
            .expect(1)
            .mount(&server)
            .await;

        let page = gh.list_webhook_deliveries(None, 2).await.expect("page");
        assert_eq!(page.deliveries[0].status_code, 503);
        assert_eq!(page.next_cursor.as_deref(), Some("v1_12345"));
        gh.redeliver_webhook(12345).await.expect("redelivered");
    }

    #[tokio::test]
    async fn the_client_serves_as_a_shared_trait_object() {
        let (server, gh) = setup().await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/installation"))
            .and(header_exists("authorization"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": 77, "account": user_json("acme"), "app_id": APP_ID
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/repos/acme/infra/issues/5/reactions"))
            .and(body_json(json!({"content": "eyes"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": 2, "node_id": "R", "content": "eyes", "user": user_json("tfpilot[bot]"),
                "created_at": "2026-11-25T10:00:00Z"
            })))
            .mount(&server)
            .await;
        // Handlers hold `Arc<dyn GitHub>`; the simulator-backed tests swap the base URL only.
        let shared: Arc<dyn GitHub> = Arc::new(gh);
        let installation = shared
            .get_repo_installation("acme", "infra")
            .await
            .expect("installation");
        let repo = Repo::new(installation, "acme", "infra");
        let reaction = shared
            .create_issue_reaction(&repo, 5, ReactionContent::Eyes)
            .await
            .expect("reacted");
        assert_eq!(reaction.content, ReactionContent::Eyes);
    }

    #[tokio::test]
    async fn more_than_three_check_actions_are_refused_before_sending() {
        let (server, gh) = setup().await;
        let action = CheckAction {
            label: "Apply".into(),
            description: "Apply this plan".into(),
            identifier: "apply".into(),
        };
        let update = CheckRunUpdate {
            actions: Some(vec![action; 4]),
            ..Default::default()
        };
        let err = gh
            .update_check_run(&repo(), 1, &update)
            .await
            .expect_err("too many");
        assert!(matches!(err, GitHubError::Invalid(_)), "{err:?}");
        assert!(
            server
                .received_requests()
                .await
                .unwrap_or_default()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn files_are_committed_to_a_new_branch_with_deletions() {
        let (server, gh) = setup().await;
        let base = "/repos/acme/infra/git";
        Mock::given(method("GET"))
            .and(path(format!("{base}/ref/heads/request/req_x")))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{base}/ref/heads/main")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "ref": "refs/heads/main", "node_id": "R", "url": "u",
                "object": {"type": "commit", "sha": "c0ffee", "url": "u"}
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{base}/commits/c0ffee")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "sha": "c0ffee", "message": "base", "tree": {"sha": "t0", "url": "u"}, "parents": []
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{base}/blobs")))
            .and(body_json(
                json!({"content": "bW9kdWxlIHt9", "encoding": "base64"}),
            ))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(json!({"sha": "b1", "url": "u"})),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{base}/trees")))
            .and(body_json(json!({"base_tree": "t0", "tree": [
                {"path": "envs/dev/tfpilot_req_x.tf", "mode": "100644", "type": "blob", "sha": "b1"},
                {"path": "envs/dev/old.tf", "mode": "100644", "type": "blob", "sha": null}
            ]})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sha": "t1", "truncated": false, "tree": []})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{base}/commits")))
            .and(body_json(json!({"message": "tfpilot: req_x", "tree": "t1", "parents": ["c0ffee"]})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "sha": "c1", "message": "tfpilot: req_x", "tree": {"sha": "t1"}, "parents": [{"sha": "c0ffee"}]
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{base}/refs")))
            .and(body_json(
                json!({"ref": "refs/heads/request/req_x", "sha": "c1"}),
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "ref": "refs/heads/request/req_x", "object": {"type": "commit", "sha": "c1"}
            })))
            .expect(1)
            .mount(&server)
            .await;

        let commit = commit_files(
            &gh,
            &repo(),
            "request/req_x",
            "main",
            "tfpilot: req_x",
            &[
                FileChange {
                    path: "envs/dev/tfpilot_req_x.tf".into(),
                    content: Some(b"module {}".to_vec()),
                },
                FileChange {
                    path: "envs/dev/old.tf".into(),
                    content: None,
                },
            ],
        )
        .await
        .expect("committed");
        assert_eq!(commit.sha, "c1");
    }

    #[tokio::test]
    async fn a_ghes_base_path_is_kept() {
        let server = MockServer::start().await;
        let issuer = TokenIssuer::new(chrono::Duration::hours(1));
        Mock::given(method("POST"))
            .and(path(format!("/api/v3{TOKEN_PATH}")))
            .respond_with(issuer.clone())
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v3/repos/acme/infra"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": 1, "name": "infra", "full_name": "acme/infra", "default_branch": "trunk",
                "private": true, "html_url": "https://ghe.example/acme/infra"
            })))
            .mount(&server)
            .await;
        let gh = GitHubClient::new(config(&format!("{}/api/v3", server.uri()))).expect("client");
        let repository = gh.get_repository(&repo()).await.expect("repository");
        assert_eq!(repository.default_branch, "trunk");
        assert_eq!(issuer.count(), 1);
    }

    #[tokio::test]
    async fn manifest_conversion_is_unauthenticated_and_keeps_secrets_out_of_debug() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/app-manifests/abc123/conversions"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": 4242, "slug": "tfpilot-acme", "node_id": "A", "name": "tfpilot (acme)",
                "owner": user_json("acme"), "description": null, "external_url": "https://x",
                "html_url": "https://github.com/apps/tfpilot-acme", "created_at": "2026-11-25T10:00:00Z",
                "updated_at": "2026-11-25T10:00:00Z", "permissions": {}, "events": [],
                "client_id": "Iv23abc", "client_secret": "CLIENTSECRET",
                "webhook_secret": "HOOKSECRET", "pem": "-----BEGIN RSA PRIVATE KEY-----\nPEMBODY\n-----END RSA PRIVATE KEY-----\n"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let app = convert_manifest(&server.uri(), fast_retry(), "abc123")
            .await
            .expect("converted");
        assert_eq!(app.id, 4242);
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&app.pem),
            "-----BEGIN RSA PRIVATE KEY-----\nPEMBODY\n-----END RSA PRIVATE KEY-----\n"
        );
        let debug = format!("{app:?}");
        for secret in ["CLIENTSECRET", "HOOKSECRET", "PEMBODY"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        let sent = server.received_requests().await.unwrap_or_default();
        assert!(sent[0].headers.get("authorization").is_none());
    }
}

/// Our types against GitHub's own OpenAPI description: GitHub's published response
/// examples decode into them, and the bodies we send fit the request schemas.
mod spec_fidelity {
    use super::*;
    use serde::de::DeserializeOwned;
    use tfpilot::github::*;

    fn spec() -> Option<Value> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let candidates = [
            root.join("fixtures/github/rest-api.subset.json"),
            root.join("../shared/fixtures/github/rest-api.subset.json"),
        ];
        let Some(found) = candidates.iter().find(|p| p.exists()) else {
            eprintln!("SKIP: rest-api.subset.json not found (fixtures/github or ../shared)");
            return None;
        };
        let text = std::fs::read_to_string(found).expect("spec readable");
        Some(serde_json::from_str(&text).expect("spec is JSON"))
    }

    fn example<T: DeserializeOwned>(spec: &Value, name: &str) -> T {
        let value = spec["components"]["examples"][name]["value"].clone();
        assert!(!value.is_null(), "no example {name}");
        serde_json::from_value(value).unwrap_or_else(|e| panic!("example {name}: {e}"))
    }

    #[test]
    fn githubs_response_examples_decode_into_our_types() {
        let Some(spec) = spec() else { return };
        let issue: Issue = example(&spec, "issue");
        assert!(issue.number > 0);
        let _: IssueComment = example(&spec, "issue-comment");
        let _: Vec<IssueComment> = example(&spec, "issue-comment-items");
        let _: Reaction = example(&spec, "reaction");
        let _: Vec<Label> = example(&spec, "label-items");
        let pull: PullRequest = example(&spec, "pull-request");
        assert!(!pull.head.sha.is_empty());
        let _: Vec<PullRequest> = example(&spec, "pull-request-simple-items");
        let reviews: Vec<Review> = example(&spec, "pull-request-review-items");
        assert!(reviews.iter().all(|r| r.state != ReviewState::Other));
        let merged: MergeResult = example(
            &spec,
            "pull-request-merge-result-response-if-merge-was-successful",
        );
        assert!(merged.merged);
        let check: CheckRun = example(&spec, "check-run");
        assert!(check.status != RunStatus::Other);
        let _: CheckRun = example(&spec, "check-run-example-of-completed-conclusion");
        let _: CheckRun = example(&spec, "check-run-example-of-in-progress-conclusion");
        let _: GitRef = example(&spec, "git-ref");
        let _: Blob = example(&spec, "short-blob");
        let _: GitTree = example(&spec, "git-tree");
        let _: GitCommit = example(&spec, "git-commit");
        let repository: Repository = example(&spec, "full-repository-default-response");
        assert!(!repository.default_branch.is_empty());
        let admin: CollaboratorPermission = example(
            &spec,
            "repository-collaborator-permission-response-if-user-has-admin-permissions",
        );
        assert_eq!(admin.permission, PermissionLevel::Admin);
        let _: TeamMembership = example(
            &spec,
            "team-membership-response-if-user-is-a-team-maintainer",
        );
        let run: WorkflowRun = example(&spec, "workflow-run");
        assert!(run.status.is_some());
        let _: Job = example(&spec, "job");
        let _: Artifact = example(&spec, "artifact");
        let _: Vec<HookDelivery> = example(&spec, "hook-delivery-items");
    }

    /// Inline `$ref`s and turn OpenAPI's `nullable` into JSON Schema's `null` type.
    fn to_json_schema(spec: &Value, schema: &Value, depth: usize) -> Value {
        assert!(depth < 30, "schema too deep");
        match schema {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    let name = reference.rsplit('/').next().unwrap_or_default();
                    let target = &spec["components"]["schemas"][name];
                    return to_json_schema(spec, target, depth + 1);
                }
                let mut out = serde_json::Map::new();
                for (key, value) in map {
                    if matches!(key.as_str(), "nullable" | "example" | "examples") {
                        continue;
                    }
                    out.insert(key.clone(), to_json_schema(spec, value, depth + 1));
                }
                if map.get("nullable") == Some(&Value::Bool(true)) {
                    if let Some(Value::String(kind)) = map.get("type") {
                        out.insert("type".into(), json!([kind, "null"]));
                    } else if let Some(Value::Array(choices)) = map.get("oneOf") {
                        let mut choices = choices.clone();
                        choices.push(json!({"type": "null"}));
                        out.insert(
                            "oneOf".into(),
                            to_json_schema(spec, &Value::Array(choices), depth + 1),
                        );
                    }
                    if let Some(Value::Array(values)) = out.get_mut("enum") {
                        values.push(Value::Null);
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| to_json_schema(spec, item, depth + 1))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Every key we send is one GitHub declares (a typo would otherwise be ignored silently).
    fn declared_keys_only(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        match value {
            Value::Object(map) => {
                let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                    return Ok(());
                };
                for (key, inner) in map {
                    let declared = properties
                        .get(key)
                        .ok_or_else(|| format!("{at}.{key} is not in GitHub's schema"))?;
                    declared_keys_only(declared, inner, &format!("{at}.{key}"))?;
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for item in items {
                        declared_keys_only(item_schema, item, &format!("{at}[]"))?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn fits(spec: &Value, route: &str, verb: &str, body: &Value) -> Result<(), String> {
        let raw =
            &spec["paths"][route][verb]["requestBody"]["content"]["application/json"]["schema"];
        if raw.is_null() {
            return Err(format!("no request schema for {verb} {route}"));
        }
        let schema = to_json_schema(spec, raw, 0);
        jsonschema::validate(&schema, body).map_err(|e| format!("{verb} {route}: {e}"))?;
        declared_keys_only(&schema, body, verb)
    }

    fn assert_fits(spec: &Value, route: &str, verb: &str, body: Value) {
        if let Err(e) = fits(spec, route, verb, &body) {
            panic!("{e}\nbody: {body}");
        }
    }

    #[test]
    fn the_schema_check_catches_wrong_bodies() {
        let Some(spec) = spec() else { return };
        let checks = "/repos/{owner}/{repo}/check-runs";
        assert!(
            fits(
                &spec,
                checks,
                "post",
                &json!({"name": "x", "head_sha": "y"})
            )
            .is_ok()
        );
        assert!(
            fits(
                &spec,
                checks,
                "post",
                &json!({"name": "x", "head_sha": "y", "status": "done"})
            )
            .is_err()
        );
        assert!(
            fits(
                &spec,
                checks,
                "post",
                &json!({"name": "x", "head_sha": "y", "ouptut": {}})
            )
            .is_err()
        );
        let trees = "/repos/{owner}/{repo}/git/trees";
        let delete =
            json!({"tree": [{"path": "a", "mode": "100644", "type": "blob", "sha": null}]});
        assert!(
            fits(&spec, trees, "post", &delete).is_ok(),
            "sha null deletes"
        );
    }

    #[test]
    fn our_request_bodies_fit_githubs_request_schemas() {
        let Some(spec) = spec() else { return };
        let action = CheckAction {
            label: "Apply".into(),
            description: "Apply this plan".into(),
            identifier: "apply".into(),
        };
        let check = NewCheckRun {
            name: "tfpilot/plan".into(),
            head_sha: "deadbeef".into(),
            details_url: Some("https://github.com/acme/infra/actions/runs/1".into()),
            external_id: Some("req_dev_app_abc123".into()),
            status: Some(RunStatus::Completed),
            conclusion: Some(Conclusion::Success),
            started_at: Some(chrono::Utc::now()),
            completed_at: Some(chrono::Utc::now()),
            output: Some(CheckOutput {
                title: "Plan: 1 to add".into(),
                summary: "summary".into(),
                text: Some("details".into()),
            }),
            actions: vec![action.clone()],
        };
        let body = |v| serde_json::to_value(v).expect("serializes");
        assert_fits(
            &spec,
            "/repos/{owner}/{repo}/check-runs",
            "post",
            body(&check),
        );
        let update = CheckRunUpdate {
            status: Some(RunStatus::InProgress),
            output: check.output.clone(),
            actions: Some(vec![action]),
            ..Default::default()
        };
        assert_fits(
            &spec,
            "/repos/{owner}/{repo}/check-runs/{check_run_id}",
            "patch",
            serde_json::to_value(&update).expect("serializes"),
        );
        let pull = NewPullRequest {
            title: "tfpilot: req_dev_app_abc123".into(),
            head: "request/req_dev_app_abc123".into(),
            base: "main".into(),
            body: Some("Closes #5".into()),
            draft: true,
        };
        assert_fits(
            &spec,
            "/repos/{owner}/{repo}/pulls",
            "post",
            serde_json::to_value(&pull).expect("ser"),
        );
        let close = PullRequestUpdate {
            state: Some(IssueState::Closed),
            ..Default::default()
        };
        assert_fits(
            &spec,
            "/repos/{owner}/{repo}/pulls/{pull_number}",
            "patch",
            serde_json::to_value(&close).expect("ser"),
        );
        let issue = IssueUpdate {
            state: Some(IssueState::Closed),
            state_reason: Some("completed".into()),
            title: Some("t".into()),
            body: Some("b".into()),
        };
        assert_fits(
            &spec,
            "/repos/{owner}/{repo}/issues/{issue_number}",
            "patch",
            serde_json::to_value(&issue).expect("ser"),
        );
        let merge = MergeRequest {
            sha: Some("deadbeef".into()),
            merge_method: Some(MergeMethod::Squash),
            commit_title: Some("t".into()),
            commit_message: Some("m".into()),
        };
        assert_fits(
            &spec,
            "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            "put",
            serde_json::to_value(&merge).expect("ser"),
        );
        let entries = vec![TreeEntry::file("a.tf", "b1"), TreeEntry::delete("old.tf")];
        assert_fits(
            &spec,
            "/repos/{owner}/{repo}/git/trees",
            "post",
            json!({ "base_tree": "t0", "tree": entries }),
        );
        assert_fits(
            &spec,
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            "post",
            json!({ "content": ReactionContent::PlusOne }),
        );
    }
}
