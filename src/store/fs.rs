//! The embedded default store: one file per key under a local folder, with S3's
//! semantics. Conditional checks and the step that puts a new version in place happen
//! under an exclusive file lock, so several processes sharing one folder are as safe
//! as several threads. Readers never see a half-written object:
//!
//! - A new key is written to a temp file, synced, and renamed into place.
//! - A replaced key (on Linux) is written into its *spare*, a file beside it named
//!   `.tfpilot~<name>`, which is synced and then swapped with the key in one atomic
//!   `renameat2(RENAME_EXCHANGE)`. The spare then holds the old version and is
//!   overwritten by the next replace. So a replace allocates and frees no inode and no
//!   disk block. On ext4 without a journal, a file created per write costs more the
//!   more files were deleted in the last minutes, and that was most of a state
//!   change's cost (docs/benchmarks.md).
//!
//!   A spare is rewritten in place, so the file a reader opened may become a spare and
//!   then be rewritten. Writers hold an exclusive `flock` on a spare while they write
//!   and swap it; readers hold a shared one while they read, and read again if the
//!   file they read is no longer the key's.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(target_os = "linux")]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ETag, ListPage, Object, Store, StoreError, content_etag, page_of};

/// Top-level folder reserved for the lock and temp files; no key may start with it.
const RESERVED: &str = ".tfpilot";

/// A key's spare is the file beside it named with this prefix; no key segment may
/// start with it.
const SPARE_PREFIX: &str = ".tfpilot~";

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
    /// The folder's file system cannot swap two files (`RENAME_EXCHANGE`): replaces
    /// go through a temp file and a rename, like creates.
    #[cfg(target_os = "linux")]
    no_exchange: AtomicBool,
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
                #[cfg(target_os = "linux")]
                no_exchange: AtomicBool::new(false),
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

    /// Reads the object at `path`. The shared lock keeps writers from rewriting the
    /// file while it is read; if the file read is no longer the key's when done (it
    /// was swapped out to be a spare), the key is read again.
    fn read(&self, key: &str, path: &Path) -> Result<Option<Object>, StoreError> {
        loop {
            let read = File::open(path).and_then(|mut file| {
                file.lock_shared()?;
                let mut body = Vec::new();
                file.read_to_end(&mut body)?;
                Ok((still_at(&file, path)?, body))
            });
            match read {
                Ok((true, body)) => {
                    let etag = content_etag(&body);
                    return Ok(Some(Object {
                        body: Bytes::from(body),
                        etag,
                    }));
                }
                Ok((false, _)) => continue,
                Err(e) if is_missing(&e) => return Ok(None),
                Err(e) => return Err(io_error(key, &e)),
            }
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

    /// Under the lock: the key holds the version `if_match` names.
    fn check_current(&self, key: &str, path: &Path, if_match: &ETag) -> Result<(), StoreError> {
        let current = self
            .read(key, path)?
            .ok_or_else(|| StoreError::not_found(key))?;
        if current.etag != *if_match {
            return Err(StoreError::precondition(key));
        }
        Ok(())
    }

    /// Writes `body` into the key's spare and swaps the two (see the module notes).
    #[cfg(target_os = "linux")]
    fn replace_by_exchange(
        &self,
        key: &str,
        path: &Path,
        spare_path: &Path,
        body: &[u8],
        if_match: &ETag,
    ) -> Result<Swap, StoreError> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use std::os::unix::fs::FileExt;

        // No spare for a key that does not exist (the check under the lock decides).
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(StoreError::not_found(key)),
            Err(e) if is_missing(&e) => return Err(StoreError::not_found(key)),
            Err(e) => return Err(io_error(key, &e)),
        }
        let spare = open_spare(spare_path).map_err(|e| io_error(key, &e))?;
        // Overwrite in place, then cut to length: the blocks the spare already has
        // are reused, none freed unless the body shrank by whole blocks.
        spare
            .write_all_at(body, 0)
            .and_then(|()| spare.set_len(body.len() as u64))
            .and_then(|()| spare.sync_data())
            .map_err(|e| io_error(key, &e))?;
        let _lock = self.lock(key)?;
        if let Err(e) = self.check_current(key, path, if_match) {
            if e.is_not_found() && still_at(&spare, spare_path).unwrap_or(false) {
                // The key was deleted meanwhile; its spare goes with it.
                let _ = fs::remove_file(spare_path);
                self.prune_parents(spare_path);
            }
            return Err(e);
        }
        if !still_at(&spare, spare_path).map_err(|e| io_error(key, &e))? {
            // The key was deleted and created again while the spare was written, and
            // the delete took this spare: put the body in place the plain way.
            let staged = self.stage(key, body)?;
            self.commit(key, staged, path)?;
            return Ok(Swap::Done);
        }
        match renameat_with(CWD, spare_path, CWD, path, RenameFlags::EXCHANGE) {
            Ok(()) => Ok(Swap::Done),
            Err(e)
                if e == rustix::io::Errno::INVAL
                    || e == rustix::io::Errno::NOSYS
                    || e == rustix::io::Errno::OPNOTSUPP =>
            {
                let _ = fs::remove_file(spare_path);
                Ok(Swap::Unsupported)
            }
            Err(e) => Err(io_error(key, &io::Error::from(e))),
        }
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
            #[cfg(target_os = "linux")]
            if let Some(spare) = spare_path(&path)
                && !inner.no_exchange.load(Ordering::Relaxed)
            {
                match inner.replace_by_exchange(&owned, &path, &spare, &body, &if_match)? {
                    Swap::Done => return Ok(content_etag(&body)),
                    Swap::Unsupported => inner.no_exchange.store(true, Ordering::Relaxed),
                }
            }
            let staged = inner.stage(&owned, &body)?;
            let _lock = inner.lock(&owned)?;
            inner.check_current(&owned, &path, &if_match)?;
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
            if let Some(spare) = spare_path(&path) {
                // A writer may hold it open; it notices under the lock.
                let _ = fs::remove_file(spare);
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
            keys.retain(|k| {
                k.starts_with(&prefix)
                    && k.split('/').next() != Some(RESERVED)
                    && !k
                        .rsplit('/')
                        .next()
                        .is_some_and(|n| n.starts_with(SPARE_PREFIX))
            });
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

/// What [`Inner::replace_by_exchange`] did.
#[cfg(target_os = "linux")]
enum Swap {
    Done,
    /// The file system cannot swap files; nothing was changed.
    Unsupported,
}

/// The spare beside the key at `path`, if the name fits in a file name.
fn spare_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let spare = format!("{SPARE_PREFIX}{name}");
    (spare.len() <= 255).then(|| path.with_file_name(spare))
}

/// Opens (creating if needed) the spare at `path` and locks it for writing. Another
/// writer may swap the file it names while this one waits for the lock, so the lock
/// counts only once the file is still the spare.
#[cfg(target_os = "linux")]
fn open_spare(path: &Path) -> io::Result<File> {
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        file.lock()?;
        if still_at(&file, path)? {
            return Ok(file);
        }
    }
}

/// Whether `path` still names the file `file` has open.
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (open, named) = (file.metadata()?, fs::symlink_metadata(path)?);
    Ok(open.ino() == named.ino() && open.dev() == named.dev())
}

/// Without spares (no swap outside Linux) a key's file is never rewritten.
#[cfg(not(unix))]
fn still_at(_file: &File, _path: &Path) -> io::Result<bool> {
    Ok(true)
}

/// Keys are relative paths: no empty, `.` or `..` segments, no backslash or control
/// characters, nothing under the reserved `.tfpilot/` folder, no segment starting
/// with `.tfpilot~` (spares).
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
    } else if key.split('/').any(|s| s.starts_with(SPARE_PREFIX)) {
        Some("key segments starting with .tfpilot~ are reserved for the folder store")
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
    use std::collections::BTreeSet;

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

    /// The inodes of a key and its spare.
    #[cfg(target_os = "linux")]
    fn files_of(dir: &Path, key: &str) -> BTreeSet<u64> {
        use std::os::unix::fs::MetadataExt;
        let path = dir.join(key);
        [path.clone(), spare_path(&path).unwrap()]
            .iter()
            .map(|p| fs::metadata(p).unwrap().ino())
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn replaces_swap_the_key_with_its_spare_and_create_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderStore::open(dir.path()).unwrap();
        let key = "requests/req_a.json";
        let mut etag = store.create(key, Bytes::from_static(b"v0")).await.unwrap();
        etag = store
            .replace(key, Bytes::from(vec![b'1'; 9000]), &etag)
            .await
            .unwrap();
        let files = files_of(dir.path(), key);
        assert_eq!(files.len(), 2);
        for (n, body) in [b"v2".to_vec(), vec![b'3'; 5000], b"v4".to_vec()]
            .into_iter()
            .enumerate()
        {
            etag = store
                .replace(key, Bytes::from(body.clone()), &etag)
                .await
                .unwrap();
            assert_eq!(store.get(key).await.unwrap().body, body, "replace {n}");
            assert_eq!(
                files_of(dir.path(), key),
                files,
                "replace {n} made a new file"
            );
        }
        // A failed replace leaves the key as it was.
        let err = store
            .replace(key, Bytes::from_static(b"stale"), &ETag::new("\"0\""))
            .await
            .unwrap_err();
        assert!(err.is_precondition_failed(), "{err:?}");
        assert_eq!(store.get(key).await.unwrap().body, &b"v4"[..]);
        // The spare is not a key, and goes with its key.
        let keys = store.list("", None, 100).await.unwrap().keys;
        assert_eq!(keys, [key]);
        store.delete(key, Some(&etag)).await.unwrap();
        assert!(!dir.path().join("requests").exists(), "the spare was left");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn without_swaps_a_replace_renames_a_temp_file_over_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderStore::open(dir.path()).unwrap();
        // As on a file system that answered RENAME_EXCHANGE with EINVAL.
        store.inner.no_exchange.store(true, Ordering::Relaxed);
        let key = "requests/req_a.json";
        let etag = store.create(key, Bytes::from_static(b"v0")).await.unwrap();
        let etag = store
            .replace(key, Bytes::from_static(b"v1"), &etag)
            .await
            .unwrap();
        assert_eq!(store.get(key).await.unwrap().body, &b"v1"[..]);
        let spare = spare_path(&dir.path().join(key)).unwrap();
        assert!(!spare.exists(), "no spare without swaps");
        let err = store
            .replace(key, Bytes::from_static(b"v2"), &ETag::new("\"0\""))
            .await
            .unwrap_err();
        assert!(err.is_precondition_failed(), "{err:?}");
        store.delete(key, Some(&etag)).await.unwrap();
        assert!(!dir.path().join("requests").exists());
    }

    /// Writers replace one key through two stores on the same folder (as two
    /// processes would), some with stale tags, while readers read it: a reader sees
    /// only whole versions that were put in place, never older than one it saw.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn readers_see_only_whole_committed_versions_in_order() {
        const KEY: &str = "requests/req_hot.json";
        const VERSIONS: u64 = 300;
        fn version(n: u64, tag: &str) -> Bytes {
            // Lengths vary so spares grow and shrink.
            let unit = format!("{tag}{n};");
            Bytes::from(unit.repeat(1 + (n as usize * 37) % 700))
        }
        fn parse(body: &[u8]) -> (String, u64) {
            let text = std::str::from_utf8(body).unwrap();
            let unit = &text[..=text.find(';').expect("a whole unit")];
            assert!(
                text.len().is_multiple_of(unit.len())
                    && text
                        .as_bytes()
                        .chunks(unit.len())
                        .all(|c| c == unit.as_bytes()),
                "torn body of {} bytes starting {unit}",
                text.len()
            );
            let (tag, n) = unit.trim_end_matches(';').split_at(1);
            (tag.to_owned(), n.parse().unwrap())
        }

        let dir = tempfile::tempdir().unwrap();
        let stores = [
            FolderStore::open(dir.path()).unwrap(),
            FolderStore::open(dir.path()).unwrap(),
        ];
        stores[0].create(KEY, version(0, "c")).await.unwrap();
        let next = Arc::new(AtomicU64::new(1));
        let mut writers = Vec::new();
        for w in 0..4 {
            let store = stores[w % 2].clone();
            let next = Arc::clone(&next);
            writers.push(tokio::spawn(async move {
                loop {
                    let current = store.get(KEY).await.unwrap();
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n > VERSIONS {
                        break;
                    }
                    // Every third attempt uses a tag that can never match; its body
                    // is written into a spare and must never be read.
                    let (tag, etag) = if n.is_multiple_of(3) {
                        ("u", ETag::new("\"stale\""))
                    } else {
                        ("c", current.etag)
                    };
                    let _ = store.replace(KEY, version(n, tag), &etag).await;
                }
            }));
        }
        let mut readers = Vec::new();
        for r in 0..4 {
            let store = stores[r % 2].clone();
            let next = Arc::clone(&next);
            readers.push(tokio::spawn(async move {
                let mut last = 0;
                let mut reads = 0;
                while next.load(Ordering::Relaxed) <= VERSIONS || reads < 100 {
                    let (tag, n) = parse(&store.get(KEY).await.unwrap().body);
                    assert_eq!(tag, "c", "read version {n}, which was never put in place");
                    assert!(n >= last, "read version {n} after {last}");
                    last = n;
                    reads += 1;
                }
            }));
        }
        for task in writers.into_iter().chain(readers) {
            task.await.unwrap();
        }
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
            "requests/.tfpilot~req_a.json",
            ".tfpilot~x/y",
            "a\\b",
            "a\nb",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
    }
}
