//! JSON documents over a [`Store`]: typed reads, and the one read–modify–write loop
//! every repository uses (conditional write, bounded retries with jitter, no write when
//! nothing changed).

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ETag, Object, Store, StoreError};

/// What a modification decided, with a result for the caller either way.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<T, R> {
    /// Leave the stored document as it is (no write).
    Keep(R),
    /// Store this document instead.
    Write(T, R),
}

/// How often and how patiently a read–modify–write retries after losing a race.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Conditional writes tried before giving up with `Contention`.
    pub max_attempts: u32,
    /// Backoff ceiling after the first lost race; doubles per attempt.
    pub base_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // Generous: with full jitter even 16 writers hammering one key settle well
        // within this many attempts, and giving up loses the caller's change.
        Self {
            max_attempts: 40,
            base_delay: Duration::from_millis(4),
            max_delay: Duration::from_millis(400),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        full_jitter(self.base_delay, self.max_delay, attempt)
    }
}

/// A random delay in `[0, min(max_delay, base_delay * 2^(attempt-1))]` ("full jitter").
pub(crate) fn full_jitter(base_delay: Duration, max_delay: Duration, attempt: u32) -> Duration {
    let ceiling = base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(max_delay);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::random::<u64>() % nanos.saturating_add(1))
}

/// The outcome of [`modify_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct Modified<T, R> {
    /// The document as stored afterwards (`None`: nothing stored).
    pub value: Option<T>,
    /// What the modification returned.
    pub result: R,
    /// Whether a write happened.
    pub saved: bool,
}

/// Decodes a stored JSON document; corrupt data names its key.
pub fn decode<T: DeserializeOwned>(key: &str, object: &Object) -> Result<T, StoreError> {
    serde_json::from_slice(&object.body).map_err(|e| StoreError::invalid_data(key, e))
}

/// Encodes a document as stored: pretty JSON (people read the folder store) and a newline.
pub fn encode<T: Serialize>(key: &str, value: &T) -> Result<Bytes, StoreError> {
    let mut body =
        serde_json::to_vec_pretty(value).map_err(|e| StoreError::invalid_data(key, e))?;
    body.push(b'\n');
    Ok(Bytes::from(body))
}

/// Reads and decodes a document with its tag; `None` when the key holds nothing.
pub async fn get_json<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<(T, ETag)>, StoreError> {
    match store.get(key).await {
        Ok(object) => Ok(Some((decode(key, &object)?, object.etag))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates a document if the key is free; `Ok(false)` when it already exists.
pub async fn create_json<T: Serialize>(
    store: &dyn Store,
    key: &str,
    value: &T,
) -> Result<bool, StoreError> {
    let body = encode(key, value)?;
    match store.create(key, body.clone()).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_precondition_failed() => Ok(false),
        // Unknown whether it landed: identical stored bytes count as ours, since a
        // caller of this creates the same document for the same key either way.
        Err(e @ StoreError::Unavailable { .. }) => match store.get(key).await {
            Ok(object) => Ok(object.body == body),
            Err(_) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Reads the document at `key`, lets `f` decide, and writes the result conditionally
/// (create-if-absent when nothing is stored, else replace-if-match), retrying from a
/// fresh read when another writer got there first.
///
/// `f` may run several times and must be a pure function of the document it is given.
/// No write happens when `f` returns [`Change::Keep`] or a document with identical
/// bytes. A document that does not decode is an `InvalidData` error and is left alone.
pub async fn modify_json<T, R, F>(
    store: &dyn Store,
    key: &str,
    policy: &RetryPolicy,
    f: F,
) -> Result<Modified<T, R>, StoreError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<&T>) -> Result<Change<T, R>, StoreError>,
{
    Ok(modify_json_from(store, key, policy, None, f).await?.0)
}

/// [`modify_json`] whose first attempt starts from `known` (an object this process
/// wrote earlier, possibly stale) instead of reading it; also returns the object
/// stored when this call wrote one.
///
/// Only a write proves `known` was current (the conditional replace fails
/// otherwise, and the loop goes on from a fresh read). A decision to keep the
/// document, taken on `known` alone, proves nothing, so it is taken again on a
/// fresh read.
pub async fn modify_json_from<T, R, F>(
    store: &dyn Store,
    key: &str,
    policy: &RetryPolicy,
    mut known: Option<Object>,
    mut f: F,
) -> Result<(Modified<T, R>, Option<Object>), StoreError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<&T>) -> Result<Change<T, R>, StoreError>,
{
    let attempts = policy.max_attempts.max(1);
    // Attempts from a fresh read; the one from memory is free.
    let mut attempt = 0;
    loop {
        let assumed = known.take();
        let from_memory = assumed.is_some();
        if !from_memory {
            attempt += 1;
            if attempt > attempts {
                break;
            }
        }
        let current = match assumed {
            Some(object) => Some(object),
            None => match store.get(key).await {
                Ok(object) => Some(object),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            },
        };
        let value: Option<T> = current.as_ref().map(|o| decode(key, o)).transpose()?;
        let (next, result) = match f(value.as_ref())? {
            Change::Keep(_) if from_memory => continue,
            Change::Keep(result) => {
                let modified = Modified {
                    value,
                    result,
                    saved: false,
                };
                return Ok((modified, None));
            }
            Change::Write(next, result) => (next, result),
        };
        let body = encode(key, &next)?;
        if current.as_ref().is_some_and(|o| o.body == body) {
            if from_memory {
                continue;
            }
            let modified = Modified {
                value,
                result,
                saved: false,
            };
            return Ok((modified, None));
        }
        let written = match &current {
            Some(object) => store.replace(key, body.clone(), &object.etag).await,
            None => store.create(key, body.clone()).await,
        };
        match written {
            Ok(etag) => {
                let modified = Modified {
                    value: Some(next),
                    result,
                    saved: true,
                };
                return Ok((modified, Some(Object { body, etag })));
            }
            // Lost the race: someone else wrote first. Read again and re-decide.
            Err(e) if e.is_precondition_failed() || e.is_not_found() => {}
            // The write may or may not have landed (a timeout, a lost response). If the
            // stored bytes are ours, it did; if something else is there, it did not.
            Err(e @ StoreError::Unavailable { .. }) => match store.get(key).await {
                Ok(object) if object.body == body => {
                    let modified = Modified {
                        value: Some(next),
                        result,
                        saved: true,
                    };
                    return Ok((modified, Some(object)));
                }
                Ok(_) => {}
                Err(again) if again.is_not_found() => {}
                Err(_) => return Err(e),
            },
            Err(e) => return Err(e),
        }
        // A stale memory is no contention: read at once.
        if attempt < attempts && !from_memory {
            tokio::time::sleep(policy.backoff(attempt)).await;
        }
    }
    Err(StoreError::Contention {
        key: key.to_owned(),
        attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_ceiling() {
        let policy = RetryPolicy::default();
        for attempt in 1..100 {
            assert!(policy.backoff(attempt) <= policy.max_delay);
        }
        assert!(policy.backoff(1) <= policy.base_delay);
    }
}
