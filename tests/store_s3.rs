//! S3 specifics. Against the local S3-compatible server (moto in CI): it honours
//! `If-None-Match: *` and `If-Match` on PUT like AWS, exactly one racer wins.
//! Against wiremock: the answers moto never gives (AWS's 409 for a losing racer,
//! throttling, access denied) map to the right typed errors without leaking secrets.

use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tfpilot::store::s3::https_client;
use tfpilot::store::testing::s3_test_store;
use tfpilot::store::{ETag, S3Store, Store, StoreError};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Raw SDK racers, no tfpilot code in between: proves the server, not our wrapper.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_honours_conditional_puts_with_one_winner_per_race() {
    let Some(store) = s3_test_store("raw-races").await.unwrap() else {
        return;
    };
    let client = store.client().clone();
    let bucket = store.bucket().to_owned();
    for round in 0..5 {
        let key = format!("race/{round}.json");
        let creates = futures::future::join_all((0..32).map(|i| {
            let client = client.clone();
            let (bucket, key) = (bucket.clone(), key.clone());
            async move {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .if_none_match("*")
                    .body(ByteStream::from(Bytes::from(format!("create {i}"))))
                    .send()
                    .await
            }
        }))
        .await;
        let winners = creates.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "If-None-Match round {round}");
        for lost in creates.iter().filter_map(|r| r.as_ref().err()) {
            let status = lost.raw_response().map(|r| r.status().as_u16());
            assert!(matches!(status, Some(412 | 409)), "{status:?}");
        }

        let etag = client
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .unwrap()
            .e_tag()
            .unwrap()
            .to_owned();
        let replaces = futures::future::join_all((0..32).map(|i| {
            let client = client.clone();
            let (bucket, key, etag) = (bucket.clone(), key.clone(), etag.clone());
            async move {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .if_match(etag)
                    .body(ByteStream::from(Bytes::from(format!("replace {i}"))))
                    .send()
                    .await
            }
        }))
        .await;
        assert_eq!(
            replaces.iter().filter(|r| r.is_ok()).count(),
            1,
            "If-Match round {round}"
        );
    }

    // If-Match on a missing key is 404 NoSuchKey, as on AWS.
    let missing = client
        .put_object()
        .bucket(&bucket)
        .key("race/missing.json")
        .if_match("\"abc\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        missing.raw_response().map(|r| r.status().as_u16()),
        Some(404)
    );
}

const OPEN_STORE_BUCKET_ENV: &str = "TFPILOT_TEST_OPEN_STORE_BUCKET";

#[tokio::test]
async fn store_url_with_endpoint_uses_path_style() {
    // `open_store("s3://…")` reads the standard AWS chain; with an endpoint set it must
    // address buckets by path (loopback servers have no per-bucket host names).
    if let Ok(bucket) = std::env::var(OPEN_STORE_BUCKET_ENV) {
        // The child: configured only through the environment, as `tfpilot serve` is.
        let opened = tfpilot::store::open_store(&format!("s3://{bucket}/tfpilot"))
            .await
            .unwrap();
        opened
            .create("requests/r.json", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        return;
    }
    let Some(store) = s3_test_store("open-store").await.unwrap() else {
        return;
    };
    let endpoint = std::env::var("TFPILOT_TEST_S3_ENDPOINT").unwrap();
    // Changing this process's environment would race other tests: run in a child.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store_url_with_endpoint_uses_path_style",
            "--nocapture",
        ])
        .env(OPEN_STORE_BUCKET_ENV, store.bucket())
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "AWS_REGION",
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        )
        .status()
        .unwrap();
    assert!(status.success(), "child run failed: {status}");
    // The child wrote through `open_store` into this bucket, under the same prefix.
    assert_eq!(
        store.get("requests/r.json").await.unwrap().body,
        Bytes::from_static(b"{}")
    );
}

const SECRET: &str = "wJalrXUtnFEMI-do-not-print-me";

fn mock_store(server: &MockServer) -> S3Store {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .endpoint_url(server.uri())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIATEST", SECRET, None, None, "test"))
        .force_path_style(true)
        .build();
    S3Store::new(Client::from_conf(config), "bucket", "pfx")
}

fn s3_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/xml")
        .set_body_string(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{message}</Message><RequestId>R1</RequestId></Error>"
        ))
}

async fn put_error(status: u16, code: &str) -> StoreError {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/bucket/pfx/requests/r.json"))
        .respond_with(s3_error(status, code, "from the mock"))
        .mount(&server)
        .await;
    let store = mock_store(&server);
    store
        .replace(
            "requests/r.json",
            Bytes::from_static(b"{}"),
            &ETag::new("\"e1\""),
        )
        .await
        .unwrap_err()
}

#[tokio::test]
async fn aws_409_conditional_request_conflict_is_a_lost_race() {
    let err = put_error(409, "ConditionalRequestConflict").await;
    assert!(
        matches!(&err, StoreError::PreconditionFailed { key } if key == "requests/r.json"),
        "{err:?}"
    );
}

#[tokio::test]
async fn aws_412_is_a_lost_race_and_sends_if_match() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/bucket/pfx/requests/r.json"))
        .and(header("if-match", "\"e1\""))
        .respond_with(s3_error(412, "PreconditionFailed", "At least one failed"))
        .expect(1)
        .mount(&server)
        .await;
    let err = mock_store(&server)
        .replace(
            "requests/r.json",
            Bytes::from_static(b"{}"),
            &ETag::new("\"e1\""),
        )
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
}

#[tokio::test]
async fn create_sends_if_none_match_star() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/bucket/pfx/markers/m"))
        .and(header("if-none-match", "*"))
        .respond_with(ResponseTemplate::new(200).insert_header("etag", "\"new\""))
        .expect(1)
        .mount(&server)
        .await;
    let etag = mock_store(&server)
        .create("markers/m", Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert_eq!(etag, ETag::new("\"new\""));
}

#[tokio::test]
async fn server_errors_are_transient_and_not_retried_blindly() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(s3_error(
            503,
            "SlowDown",
            "Please reduce your request rate.",
        ))
        .expect(1) // a conditional write is sent once; the caller reconciles
        .mount(&server)
        .await;
    let err = mock_store(&server)
        .create("markers/m", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("SlowDown"), "{err}");
}

#[tokio::test]
async fn access_denied_is_permanent_and_names_key_not_secret() {
    let err = put_error(403, "AccessDenied").await;
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("requests/r.json"), "{text}");
    assert!(text.contains("AccessDenied"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn missing_key_and_missing_bucket_differ() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bucket/pfx/requests/gone.json"))
        .respond_with(s3_error(
            404,
            "NoSuchKey",
            "The specified key does not exist.",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bucket/pfx/requests/nobucket.json"))
        .respond_with(s3_error(
            404,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ))
        .mount(&server)
        .await;
    let store: Arc<dyn Store> = Arc::new(mock_store(&server));
    assert!(
        store
            .get("requests/gone.json")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let err = store.get("requests/nobucket.json").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
}

const NO_REGION_CHILD_ENV: &str = "TFPILOT_TEST_NO_REGION_CHILD";

#[tokio::test]
async fn s3_url_without_region_is_a_clear_config_error() {
    if std::env::var(NO_REGION_CHILD_ENV).is_ok() {
        let err = tfpilot::store::open_store("s3://bucket/prefix")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Misconfigured { .. }), "{err:?}");
        assert!(err.to_string().contains("AWS_REGION"), "{err}");
        return;
    }
    // The region comes from the environment; clear it in a child, not in this process.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "s3_url_without_region_is_a_clear_config_error",
            "--nocapture",
        ])
        .env(NO_REGION_CHILD_ENV, "1")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/tfpilot-test")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/tfpilot-test")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "child failed: {stdout}");
    assert!(stdout.contains("1 passed"), "child ran nothing: {stdout}");
}
