//! The S3 store (`s3://bucket/prefix`): conditional PUTs (`If-None-Match: *`,
//! `If-Match`) and conditional DELETE, against AWS or any S3-compatible server.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls;
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;

use super::{ETag, ListPage, MAX_LIST_PAGE, Object, Store, StoreError};

/// A store in an S3 bucket, under an optional key prefix.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
}

/// An HTTPS client for the AWS SDK using rustls with ring (no aws-lc, no OpenSSL).
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

impl S3Store {
    /// A store over an already configured client.
    pub fn new(client: Client, bucket: &str, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        Self {
            client,
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }
    }

    /// A store configured from the standard AWS chain (`AWS_REGION`, credentials,
    /// `AWS_ENDPOINT_URL`); path-style addressing when an endpoint is set, as
    /// S3-compatible servers on loopback need.
    pub async fn from_env(bucket: &str, prefix: &str) -> Result<Self, StoreError> {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(https_client())
            .load()
            .await;
        if sdk.region().is_none() {
            return Err(StoreError::Misconfigured {
                reason: "no AWS region configured for the S3 store: set AWS_REGION".to_owned(),
            });
        }
        let path_style = sdk.endpoint_url().is_some();
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(path_style)
            .build();
        Ok(Self::new(Client::from_conf(config), bucket, prefix))
    }

    /// The bucket objects are stored in.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The underlying SDK client (tests use it to create buckets).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn full_key(&self, key: &str) -> Result<String, StoreError> {
        if key.is_empty() || key.starts_with('/') {
            return Err(StoreError::invalid_key(
                key,
                "a key must be relative and non-empty",
            ));
        }
        Ok(format!("{}{key}", self.prefix))
    }
}

#[async_trait]
impl Store for S3Store {
    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .send()
            .await
            .map_err(|e| classify(key, e))?;
        let etag = out
            .e_tag()
            .map(ETag::new)
            .ok_or_else(|| backend(key, "GET returned no ETag"))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                key: key.to_owned(),
                reason: format!("reading body: {}", DisplayErrorContext(&e)),
            })?
            .into_bytes();
        Ok(Object { body, etag })
    }

    async fn create(&self, key: &str, body: Bytes) -> Result<ETag, StoreError> {
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .content_type(content_type(key))
            .if_none_match("*")
            .body(ByteStream::from(body))
            .customize()
            .config_override(single_attempt())
            .send()
            .await
            .map_err(|e| classify(key, e))?;
        out.e_tag()
            .map(ETag::new)
            .ok_or_else(|| backend(key, "PUT returned no ETag"))
    }

    async fn replace(&self, key: &str, body: Bytes, if_match: &ETag) -> Result<ETag, StoreError> {
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .content_type(content_type(key))
            .if_match(if_match.as_str())
            .body(ByteStream::from(body))
            .customize()
            .config_override(single_attempt())
            .send()
            .await
            .map_err(|e| classify(key, e))?;
        out.e_tag()
            .map(ETag::new)
            .ok_or_else(|| backend(key, "PUT returned no ETag"))
    }

    async fn delete(&self, key: &str, if_match: Option<&ETag>) -> Result<(), StoreError> {
        let full = self.full_key(key)?;
        if let Some(tag) = if_match {
            // Not every S3-compatible server answers a conditional DELETE of a missing
            // key with 404, so check existence the same way on all of them.
            let head = self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(&full)
                .send()
                .await
                .map_err(|e| classify(key, e))?;
            if head.e_tag() != Some(tag.as_str()) {
                return Err(StoreError::precondition(key));
            }
        }
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(full)
            .set_if_match(if_match.map(|t| t.as_str().to_owned()))
            .customize()
            .config_override(single_attempt())
            .send()
            .await
            .map_err(|e| classify(key, e))?;
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let limit = limit.clamp(1, MAX_LIST_PAGE);
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{}{prefix}", self.prefix))
            .set_start_after(start_after.map(|a| format!("{}{a}", self.prefix)))
            .max_keys(i32::try_from(limit).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| classify(prefix, e))?;
        let keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter_map(|k| k.strip_prefix(self.prefix.as_str()))
            .map(str::to_owned)
            .collect();
        let next_start_after = if out.is_truncated() == Some(true) {
            keys.last().cloned()
        } else {
            None
        };
        Ok(ListPage {
            keys,
            next_start_after,
        })
    }
}

/// Conditional writes are never retried inside the SDK: a retry after a lost response
/// would see our own write and report 412, turning a success into a lost race. Callers
/// get `Unavailable` instead and reconcile by reading (see `modify_json`).
fn single_attempt() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::new()
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
}

fn content_type(key: &str) -> &'static str {
    if key.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

fn backend(key: &str, reason: &str) -> StoreError {
    StoreError::Backend {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Maps an SDK error to a store error. AWS may answer a losing conditional-write racer
/// with 409 ConditionalRequestConflict instead of 412; both mean "lost the race".
fn classify<E>(key: &str, err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or("").to_owned();
    let reason = match (&err, err.message()) {
        (SdkError::ServiceError(_), Some(message)) => {
            format!("{code} (HTTP {}): {message}", status.unwrap_or(0))
        }
        (SdkError::ServiceError(_), None) => format!("{code} (HTTP {})", status.unwrap_or(0)),
        _ => DisplayErrorContext(&err).to_string(),
    };
    let key = key.to_owned();
    match &err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => match status {
            Some(404) if code != "NoSuchBucket" => StoreError::NotFound { key },
            Some(412 | 409) => StoreError::PreconditionFailed { key },
            Some(429 | 500..=599) => StoreError::Unavailable { key, reason },
            _ if code == "SlowDown" || code == "RequestTimeout" => {
                StoreError::Unavailable { key, reason }
            }
            _ => StoreError::Backend { key, reason },
        },
        SdkError::ConstructionFailure(_) => StoreError::Backend { key, reason },
        _ => StoreError::Unavailable { key, reason },
    }
}
