//! The embedded default store: one file per key under a local folder, with S3's
//! semantics. Writes go to a temp file and are renamed into place (readers never see a
//! half-written object); conditional checks and renames happen under an exclusive file
//! lock, so several processes sharing one folder are as safe as several threads.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ETag, ListPage, Object, Store, StoreError, content_etag, page_of};

/// Top-level folder reserved for the lock and temp files; no key may start with it.
const RESERVED: &str = ".tfpilot";

/// A store in a local folder (`file://./tfpilot-data`).
#[derive(Debug, Clone)]
pub struct FolderStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    lock_path: PathBuf,
    tmp_dir: PathBuf,
    tmp_seq: AtomicU64,
}

impl FolderStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        let tmp_dir = root.join(RESERVED).join("tmp");
        fs::create_dir_all(&tmp_dir).map_err(|e| StoreError::Misconfigured {
            reason: format!("cannot use folder {}: {e}", root.display()),
        })?;
        let lock_path = root.join(RESERVED).join("lock");
        remove_stale_temp_files(&tmp_dir);
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                lock_path,
                tmp_dir,
                tmp_seq: AtomicU64::new(0),
            }),
        })
    }

    /// The folder holding the objects.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    async fn blocking<T, F>(&self, key: &str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Unavailable {
                key: key.to_owned(),
                reason: format!("folder store task failed: {e}"),
            })?
    }
}

impl Inner {
    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// Holds the folder-wide write lock until the returned file is dropped.
    fn lock(&self, key: &str) -> Result<File, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| io_error(key, &e))?;
        file.lock().map_err(|e| io_error(key, &e))?;
        Ok(file)
    }

    fn read(&self, key: &str, path: &Path) -> Result<Option<Object>, StoreError> {
        match fs::read(path) {
            Ok(body) => {
                let etag = content_etag(&body);
                Ok(Some(Object {
                    body: Bytes::from(body),
                    etag,
                }))
            }
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(io_error(key, &e)),
        }
    }

    /// Writes `body` to a durable temp file, before taking the lock so that slow disk
    /// writes do not serialise writers; [`Inner::commit`] renames it into place.
    fn stage(&self, key: &str, body: &[u8]) -> Result<Staged, StoreError> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let path = self.tmp_dir.join(format!(
            "{}-{seq}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let staged = Staged {
            path,
            placed: false,
        };
        let mut file = File::create(&staged.path).map_err(|e| io_error(key, &e))?;
        file.write_all(body).map_err(|e| io_error(key, &e))?;
        // Without this a crash right after the rename could leave an empty object.
        // Delivery records are the exception: one is written only after its
        // delivery's facts were synced, and is read only for whether it exists,
        // so an empty one after a crash still says the truth. Skipping the sync
        // halves the disk flushes of a state change.
        if !key.starts_with(super::deliveries::PREFIX) {
            file.sync_data().map_err(|e| io_error(key, &e))?;
        }
        Ok(staged)
    }

    /// Renames a staged file over `path`; the caller holds the lock.
    fn commit(&self, key: &str, mut staged: Staged, path: &Path) -> Result<(), StoreError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| match e.kind() {
                ErrorKind::AlreadyExists | ErrorKind::NotADirectory => {
                    StoreError::invalid_key(key, "a parent of this key is itself a stored object")
                }
                _ => io_error(key, &e),
            })?;
        }
        fs::rename(&staged.path, path).map_err(|e| match e.kind() {
            ErrorKind::IsADirectory | ErrorKind::DirectoryNotEmpty => {
                StoreError::invalid_key(key, "this key is a folder of other keys")
            }
            _ => io_error(key, &e),
        })?;
        staged.placed = true;
        Ok(())
    }

    /// Removes now-empty folders between `path` and the root, as S3 has no folders.
    fn prune_parents(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    fn walk(&self, dir: &Path, rel: &str, out: &mut Vec<String>) -> io::Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue; // not a key tfpilot wrote
            };
            if rel.is_empty() && name == RESERVED {
                continue;
            }
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type()?.is_dir() {
                self.walk(&entry.path(), &key, out)?;
            } else {
                out.push(key);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FolderStore {
    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        let owned = key.to_owned();
        self.blocking(key, move |inner| {
            let path = inner.path_of(&owned)?;
            inner
                .read(&owned, &path)?
                .ok_or_else(|| StoreError::not_found(&owned))
        })
        .await
    }

    async fn create(&self, key: &str, body: Bytes) -> Result<ETag, StoreError> {
        let owned = key.to_owned();
        self.blocking(key, move |inner| {
            let path = inner.path_of(&owned)?;
            let staged = inner.stage(&owned, &body)?;
            let _lock = inner.lock(&owned)?;
            if inner.read(&owned, &path)?.is_some() {
                return Err(StoreError::precondition(&owned));
            }
            inner.commit(&owned, staged, &path)?;
            Ok(content_etag(&body))
        })
        .await
    }

    async fn replace(&self, key: &str, body: Bytes, if_match: &ETag) -> Result<ETag, StoreError> {
        let owned = key.to_owned();
        let if_match = if_match.clone();
        self.blocking(key, move |inner| {
            let path = inner.path_of(&owned)?;
            let staged = inner.stage(&owned, &body)?;
            let _lock = inner.lock(&owned)?;
            let current = inner
                .read(&owned, &path)?
                .ok_or_else(|| StoreError::not_found(&owned))?;
            if current.etag != if_match {
                return Err(StoreError::precondition(&owned));
            }
            inner.commit(&owned, staged, &path)?;
            Ok(content_etag(&body))
        })
        .await
    }

    async fn delete(&self, key: &str, if_match: Option<&ETag>) -> Result<(), StoreError> {
        let owned = key.to_owned();
        let if_match = if_match.cloned();
        self.blocking(key, move |inner| {
            let path = inner.path_of(&owned)?;
            let _lock = inner.lock(&owned)?;
            match (inner.read(&owned, &path)?, if_match) {
                (None, None) => return Ok(()),
                (None, Some(_)) => return Err(StoreError::not_found(&owned)),
                (Some(current), Some(tag)) if current.etag != tag => {
                    return Err(StoreError::precondition(&owned));
                }
                (Some(_), _) => {}
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(io_error(&owned, &e)),
            }
            inner.prune_parents(&path);
            Ok(())
        })
        .await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let prefix = prefix.to_owned();
        let start_after = start_after.map(str::to_owned);
        self.blocking(&prefix.clone(), move |inner| {
            if prefix.split('/').any(|s| s == "..") || prefix.contains('\\') {
                return Err(StoreError::invalid_key(
                    &prefix,
                    "a list prefix may not climb out",
                ));
            }
            // Only the folder named by the prefix's complete segments can hold matches.
            let dir_rel = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
            let mut keys = Vec::new();
            inner
                .walk(&inner.root.join(dir_rel), dir_rel, &mut keys)
                .map_err(|e| io_error(&prefix, &e))?;
            keys.retain(|k| k.starts_with(&prefix) && k.split('/').next() != Some(RESERVED));
            keys.sort_unstable();
            Ok(page_of(keys, start_after.as_deref(), limit))
        })
        .await
    }
}

/// Temp files older than this were left by a crashed writer (a live one renames or
/// removes its file within milliseconds).
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes temp files a crashed process left behind; best effort.
fn remove_stale_temp_files(tmp_dir: &Path) {
    let Ok(entries) = fs::read_dir(tmp_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A temp file waiting to be renamed into place; removed if it never is.
struct Staged {
    path: PathBuf,
    /// Renamed into place: nothing to remove (and removing a missing file would
    /// still lock the temp folder, which every writer uses).
    placed: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.placed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Keys are relative paths: no empty, `.` or `..` segments, no backslash or control
/// characters, nothing under the reserved `.tfpilot/` folder.
fn check_key(key: &str) -> Result<(), StoreError> {
    let reason = if key.is_empty() || key.len() > 1024 {
        Some("a key must be 1 to 1024 bytes")
    } else if key.bytes().any(|b| b == b'\\' || b.is_ascii_control()) {
        Some("a key may not contain a backslash or control characters")
    } else if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == ".." || s.len() > 255)
    {
        Some("a key's segments must be 1-255 bytes and not . or ..")
    } else if key.split('/').next() == Some(RESERVED) {
        Some("keys under .tfpilot/ are reserved for the folder store")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StoreError::invalid_key(key, reason)),
        None => Ok(()),
    }
}

fn is_missing(e: &io::Error) -> bool {
    // Reading `a/b` when `a` is a file, or `a` when it is a folder of keys: S3 would
    // simply have no such object.
    matches!(
        e.kind(),
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory
    )
}

fn io_error(key: &str, e: &io::Error) -> StoreError {
    StoreError::Unavailable {
        key: key.to_owned(),
        reason: format!("local folder: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_and_a_folder_of_keys_cannot_share_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderStore::open(dir.path()).unwrap();
        store.create("a/b", Bytes::from_static(b"1")).await.unwrap();
        let err = store
            .create("a/b/c", Bytes::from_static(b"2"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{err:?}");
        store
            .create("x/y/z", Bytes::from_static(b"3"))
            .await
            .unwrap();
        let err = store
            .create("x/y", Bytes::from_static(b"4"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{err:?}");
        // Reading through or at a folder is simply "nothing there", as on S3.
        assert!(store.get("a/b/c").await.unwrap_err().is_not_found());
        assert!(store.get("x/y").await.unwrap_err().is_not_found());
        // Failed writes leave no temp files behind.
        let tmp = dir.path().join(RESERVED).join("tmp");
        assert_eq!(fs::read_dir(tmp).unwrap().count(), 0);
        let err = store.get("../outside").await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{err:?}");
        let keys = store.list("", None, 100).await.unwrap().keys;
        assert_eq!(keys, ["a/b", "x/y/z"], "the reserved folder is not listed");
    }

    #[tokio::test]
    async fn deletes_prune_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderStore::open(dir.path()).unwrap();
        store
            .create("p/q/r.json", Bytes::from_static(b"1"))
            .await
            .unwrap();
        store.delete("p/q/r.json", None).await.unwrap();
        assert!(!dir.path().join("p").exists());
        // A key may now be created where the folder was.
        store.create("p", Bytes::from_static(b"2")).await.unwrap();
    }

    #[test]
    fn keys_cannot_escape_or_touch_the_reserved_folder() {
        assert!(check_key("requests/req_a.json").is_ok());
        assert!(check_key("index/pr/o/.github/1.json").is_ok());
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/../b",
            "./a",
            "a/",
            ".tfpilot/lock",
            "a\\b",
            "a\nb",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
    }
}
