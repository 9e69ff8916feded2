//! Test support: an S3 store on the local S3-compatible server named by
//! `TFPILOT_TEST_S3_ENDPOINT` (CI starts moto and sets it), one fresh bucket per call.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use super::s3::https_client;
use super::{FolderStore, MemoryStore, S3Store, Store};

/// The variable naming the test S3 endpoint.
pub const S3_ENDPOINT_ENV: &str = "TFPILOT_TEST_S3_ENDPOINT";

/// Why no test S3 store could be made.
#[derive(Debug, thiserror::Error)]
pub enum TestS3Error {
    /// CI must run the S3 tests; skipping there would hide a broken backend.
    #[error(
        "{S3_ENDPOINT_ENV} is not set but CI=true: the S3 tests must run in CI (.ci/run starts moto)"
    )]
    MissingInCi,
    /// The temp folder could not be created.
    #[error("creating a temp folder store: {reason}")]
    Folder {
        /// What went wrong.
        reason: String,
    },
    /// The server refused to create the bucket.
    #[error("creating test bucket {bucket} at {endpoint}: {reason}")]
    Bucket {
        /// The bucket name.
        bucket: String,
        /// The endpoint.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
}

/// An SDK client for the test endpoint: static credentials (`AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY`, default `test`), explicit region (`AWS_REGION`, default
/// `us-east-1`, so nothing probes instance metadata), path-style addressing.
pub fn client_for(endpoint: &str) -> Client {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let credentials = Credentials::new(
        var("AWS_ACCESS_KEY_ID", "test"),
        var("AWS_SECRET_ACCESS_KEY", "test"),
        None,
        None,
        "tfpilot-tests",
    );
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .endpoint_url(endpoint)
        .region(Region::new(var("AWS_REGION", "us-east-1")))
        .credentials_provider(credentials)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// A store in a fresh bucket on the test endpoint. `Ok(None)` (after printing a
/// visible skip message) when no endpoint is configured outside CI.
pub async fn s3_test_store(label: &str) -> Result<Option<S3Store>, TestS3Error> {
    let Ok(endpoint) = std::env::var(S3_ENDPOINT_ENV) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            return Err(TestS3Error::MissingInCi);
        }
        let message = format!(
            "SKIPPED S3 test `{label}`: set {S3_ENDPOINT_ENV} (e.g. start moto: \
             .venv-tools/bin/python .ci/s3_server.py -p 9100) to run it"
        );
        println!("{message}");
        eprintln!("{message}");
        return Ok(None);
    };
    let client = client_for(&endpoint);
    let bucket = fresh_bucket_name(label);
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| TestS3Error::Bucket {
            bucket: bucket.clone(),
            endpoint: endpoint.clone(),
            reason: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        })?;
    Ok(Some(S3Store::new(client, &bucket, "tfpilot")))
}

/// A backend for store tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`MemoryStore`].
    Memory,
    /// [`FolderStore`] in a fresh temp folder.
    Folder,
    /// [`S3Store`] in a fresh bucket on the test endpoint.
    S3,
}

/// A store for one test; removes its temp folder when dropped.
#[derive(Debug)]
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn Store>,
    dir: Option<PathBuf>,
}

impl TestStore {
    /// The folder of a folder store.
    pub fn folder(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A fresh, empty store of `backend`. `Ok(None)` only for S3 without an endpoint
/// outside CI (a skip message is printed).
pub async fn test_store(backend: Backend, label: &str) -> Result<Option<TestStore>, TestS3Error> {
    Ok(match backend {
        Backend::Memory => Some(TestStore {
            store: Arc::new(MemoryStore::new()),
            dir: None,
        }),
        Backend::Folder => {
            let dir = std::env::temp_dir().join(format!(
                "tfpilot-store-test-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            let store = FolderStore::open(&dir).map_err(|e| TestS3Error::Folder {
                reason: e.to_string(),
            })?;
            Some(TestStore {
                store: Arc::new(store),
                dir: Some(dir),
            })
        }
        Backend::S3 => s3_test_store(label).await?.map(|store| TestStore {
            store: Arc::new(store),
            dir: None,
        }),
    })
}

/// `tfpilot-<label>-<random>`, lower-case, at most 63 characters, as S3 requires.
fn fresh_bucket_name(label: &str) -> String {
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(36)
        .collect();
    format!(
        "tfpilot-{}-{:016x}",
        label.trim_matches('-'),
        rand::random::<u64>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_are_valid_and_fresh() {
        let a = fresh_bucket_name("Lost_Update on S3 with a very long label indeed, really");
        let b = fresh_bucket_name("Lost_Update on S3 with a very long label indeed, really");
        assert_ne!(a, b);
        assert!(a.len() <= 63, "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
