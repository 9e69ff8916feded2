//! Git data: refs, blobs, trees, commits, file contents.

use serde::{Deserialize, Serialize};

/// The object a git ref points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitObject {
    /// SHA.
    pub sha: String,
    /// `commit`, `tag`, …
    #[serde(rename = "type")]
    pub kind: String,
}

/// A git reference (`git-ref`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    /// Full name, e.g. `refs/heads/main`.
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// What it points to.
    pub object: GitObject,
}

/// A created blob (`short-blob`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// Blob SHA.
    pub sha: String,
}

/// File mode of a tree entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileMode {
    /// Regular file.
    #[serde(rename = "100644")]
    File,
    /// Executable file.
    #[serde(rename = "100755")]
    Executable,
}

/// One entry of `POST /git/trees`; `sha: None` deletes the path (sent as JSON `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeEntry {
    /// Path in the repository.
    pub path: String,
    /// Mode.
    pub mode: FileMode,
    /// Always `blob` for us.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Blob SHA, or `None` to delete the path.
    pub sha: Option<String>,
}

impl TreeEntry {
    /// Put the blob `sha` at `path`.
    pub fn file(path: impl Into<String>, sha: impl Into<String>) -> Self {
        TreeEntry {
            path: path.into(),
            mode: FileMode::File,
            kind: "blob",
            sha: Some(sha.into()),
        }
    }

    /// Remove `path`.
    pub fn delete(path: impl Into<String>) -> Self {
        TreeEntry {
            path: path.into(),
            mode: FileMode::File,
            kind: "blob",
            sha: None,
        }
    }
}

/// A created tree (`git-tree`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitTree {
    /// Tree SHA.
    pub sha: String,
}

/// A SHA reference inside a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShaRef {
    /// SHA.
    pub sha: String,
}

/// A git commit (`git-commit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCommit {
    /// Commit SHA.
    pub sha: String,
    /// Message.
    pub message: String,
    /// Root tree.
    pub tree: ShaRef,
    /// Parents.
    #[serde(default)]
    pub parents: Vec<ShaRef>,
}

/// A file read with the contents API, already base64-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    /// Path in the repository.
    pub path: String,
    /// Blob SHA.
    pub sha: String,
    /// The bytes.
    pub content: Vec<u8>,
}
