//! Git objects: blobs, trees and commits, content-addressed like git's own.
//!
//! Trees are kept flat (full path → blob) because tfpilot only ever reads and writes
//! whole files; the nested tree objects GitHub exposes are derived from the flat map,
//! and every directory's subtree is registered under its own sha so `GET /git/trees/{sha}`
//! works for them too.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Mode and blob sha of one file in a flat tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileEntry {
    pub mode: String,
    pub sha: String,
}

/// Full path → file.
pub(crate) type FlatTree = BTreeMap<String, FileEntry>;

/// Name, email and time of a commit's author or committer.
#[derive(Clone, Debug)]
pub(crate) struct Signature {
    pub name: String,
    pub email: String,
    pub date: DateTime<Utc>,
}

/// A commit object.
#[derive(Clone, Debug)]
pub(crate) struct Commit {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub message: String,
    pub author: Signature,
    pub committer: Signature,
}

/// One entry of a `POST /git/trees` body.
#[derive(Clone, Debug, serde::Deserialize)]
pub(crate) struct TreeInput {
    pub path: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `Some(None)` is an explicit `"sha": null`: delete the path.
    #[serde(default, deserialize_with = "explicit_null")]
    pub sha: Option<Option<String>>,
    #[serde(default)]
    pub content: Option<String>,
}

fn explicit_null<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let v: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(Some(v))
}

/// How a file differs between two trees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileChange {
    pub path: String,
    pub status: &'static str,
    pub sha: Option<String>,
}

/// Every blob, tree and commit ever created (shared by all repositories, like a fork network).
#[derive(Default)]
pub(crate) struct GitStore {
    pub blobs: HashMap<String, Vec<u8>>,
    pub trees: HashMap<String, FlatTree>,
    pub commits: HashMap<String, Commit>,
}

fn object_sha(kind: &str, bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(bytes);
    let hex = hex::encode(h.finalize());
    hex[..40].to_string()
}

impl GitStore {
    /// Store a blob; returns its sha.
    pub fn put_blob(&mut self, bytes: Vec<u8>) -> String {
        let sha = object_sha("blob", &bytes);
        self.blobs.entry(sha.clone()).or_insert(bytes);
        sha
    }

    /// Store a flat tree and the subtree of every directory in it; returns the root sha.
    pub fn put_tree(&mut self, flat: FlatTree) -> String {
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        for path in flat.keys() {
            let mut prefix = String::new();
            let parts: Vec<&str> = path.split('/').collect();
            for part in &parts[..parts.len().saturating_sub(1)] {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                dirs.insert(prefix.clone());
            }
        }
        for dir in dirs {
            let lead = format!("{dir}/");
            let sub: FlatTree = flat
                .iter()
                .filter_map(|(p, e)| {
                    p.strip_prefix(&lead)
                        .map(|rest| (rest.to_string(), e.clone()))
                })
                .collect();
            let sha = tree_sha(&sub);
            self.trees.entry(sha).or_insert(sub);
        }
        let sha = tree_sha(&flat);
        self.trees.entry(sha.clone()).or_insert(flat);
        sha
    }

    /// The flat tree with this sha.
    pub fn tree(&self, sha: &str) -> Option<&FlatTree> {
        self.trees.get(sha)
    }

    /// Apply `POST /git/trees` entries on top of `base` (GitHub's semantics: entries add or
    /// replace paths; `sha: null` deletes a file or a whole directory).
    pub fn create_tree(
        &mut self,
        base: Option<&str>,
        entries: Vec<TreeInput>,
    ) -> Result<String, String> {
        let mut flat = match base {
            Some(b) => self
                .trees
                .get(b)
                .cloned()
                .ok_or_else(|| format!("base_tree {b} does not exist"))?,
            None => FlatTree::new(),
        };
        for entry in entries {
            let path = entry.path.trim_matches('/').to_string();
            if path.is_empty() {
                return Err("tree.path cannot be empty".to_string());
            }
            let mode = entry.mode.clone().unwrap_or_else(|| "100644".to_string());
            match (entry.content, entry.sha) {
                (Some(content), _) => {
                    let sha = self.put_blob(content.into_bytes());
                    remove_under(&mut flat, &path);
                    flat.insert(path, FileEntry { mode, sha });
                }
                (None, Some(None)) => {
                    flat.remove(&path);
                    remove_under(&mut flat, &path);
                }
                (None, Some(Some(sha))) => {
                    if entry.kind.as_deref() == Some("tree") || mode == "040000" {
                        let sub = self
                            .trees
                            .get(&sha)
                            .cloned()
                            .ok_or_else(|| format!("tree.sha {sha} is not a valid tree"))?;
                        remove_under(&mut flat, &path);
                        for (p, e) in sub {
                            flat.insert(format!("{path}/{p}"), e);
                        }
                    } else {
                        if !self.blobs.contains_key(&sha) {
                            return Err(format!("tree.sha {sha} is not a valid blob"));
                        }
                        flat.insert(path, FileEntry { mode, sha });
                    }
                }
                (None, None) => {
                    return Err("Must supply either tree.sha or tree.content".to_string());
                }
            }
        }
        Ok(self.put_tree(flat))
    }

    /// Store a commit; returns its sha.
    pub fn put_commit(
        &mut self,
        tree: String,
        parents: Vec<String>,
        message: String,
        author: Signature,
        committer: Signature,
    ) -> String {
        let text = format!(
            "tree {tree}\nparents {}\nauthor {} <{}> {}\ncommitter {} <{}> {}\n\n{message}",
            parents.join(" "),
            author.name,
            author.email,
            author.date.timestamp_nanos_opt().unwrap_or_default(),
            committer.name,
            committer.email,
            committer.date.timestamp_nanos_opt().unwrap_or_default(),
        );
        let sha = object_sha("commit", text.as_bytes());
        self.commits.entry(sha.clone()).or_insert(Commit {
            sha: sha.clone(),
            tree,
            parents,
            message,
            author,
            committer,
        });
        sha
    }

    /// The flat file map of a commit.
    pub fn files_at(&self, commit: &str) -> Option<&FlatTree> {
        self.commits
            .get(commit)
            .and_then(|c| self.trees.get(&c.tree))
    }

    /// The bytes of `path` in `commit`.
    pub fn file_at(&self, commit: &str, path: &str) -> Option<&[u8]> {
        let entry = self.files_at(commit)?.get(path)?;
        self.blobs.get(&entry.sha).map(Vec::as_slice)
    }

    /// Whether `ancestor` is reachable from `descendant` (fast-forward check).
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool {
        self.ancestors(descendant).contains(ancestor)
    }

    fn ancestors(&self, sha: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([sha.to_string()]);
        while let Some(s) = queue.pop_front() {
            if !seen.insert(s.clone()) {
                continue;
            }
            if let Some(c) = self.commits.get(&s) {
                queue.extend(c.parents.iter().cloned());
            }
        }
        seen
    }

    /// The nearest common ancestor of two commits (breadth-first from `b`).
    pub fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        let of_a = self.ancestors(a);
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([b.to_string()]);
        while let Some(s) = queue.pop_front() {
            if of_a.contains(&s) {
                return Some(s);
            }
            if !seen.insert(s.clone()) {
                continue;
            }
            if let Some(c) = self.commits.get(&s) {
                queue.extend(c.parents.iter().cloned());
            }
        }
        None
    }

    /// Files that differ from `old` to `new` (flat trees).
    pub fn diff(old: &FlatTree, new: &FlatTree) -> Vec<FileChange> {
        let mut out = Vec::new();
        for (path, entry) in new {
            match old.get(path) {
                None => out.push(FileChange {
                    path: path.clone(),
                    status: "added",
                    sha: Some(entry.sha.clone()),
                }),
                Some(o) if o.sha != entry.sha => out.push(FileChange {
                    path: path.clone(),
                    status: "modified",
                    sha: Some(entry.sha.clone()),
                }),
                Some(_) => {}
            }
        }
        for path in old.keys() {
            if !new.contains_key(path) {
                out.push(FileChange {
                    path: path.clone(),
                    status: "removed",
                    sha: None,
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Three-way merge of flat trees: `theirs`' changes since `base` applied onto `ours`.
    /// A path changed differently on both sides is a conflict (returned as its path).
    pub fn merge_trees(
        base: &FlatTree,
        ours: &FlatTree,
        theirs: &FlatTree,
    ) -> Result<FlatTree, String> {
        let mut out = ours.clone();
        for change in Self::diff(base, theirs) {
            let ours_entry = ours.get(&change.path);
            let base_entry = base.get(&change.path);
            let theirs_entry = theirs.get(&change.path);
            if ours_entry != base_entry && ours_entry != theirs_entry {
                return Err(change.path);
            }
            match theirs_entry {
                Some(e) => {
                    out.insert(change.path, e.clone());
                }
                None => {
                    out.remove(&change.path);
                }
            }
        }
        Ok(out)
    }
}

fn remove_under(flat: &mut FlatTree, dir: &str) {
    let lead = format!("{dir}/");
    flat.retain(|p, _| !p.starts_with(&lead));
}

fn tree_sha(flat: &FlatTree) -> String {
    let mut text = String::new();
    for (p, e) in flat {
        text.push_str(&format!("{} {} {}\n", e.mode, e.sha, p));
    }
    object_sha("tree", text.as_bytes())
}

/// Immediate children of a flat tree: files at the root and one entry per top-level directory.
pub(crate) fn top_level(flat: &FlatTree) -> Vec<(String, String, &'static str, String)> {
    let mut out: BTreeMap<String, (String, &'static str, String)> = BTreeMap::new();
    for (path, entry) in flat {
        match path.split_once('/') {
            None => {
                out.insert(
                    path.clone(),
                    (entry.mode.clone(), "blob", entry.sha.clone()),
                );
            }
            Some((dir, _)) => {
                if !out.contains_key(dir) {
                    let lead = format!("{dir}/");
                    let sub: FlatTree = flat
                        .iter()
                        .filter_map(|(p, e)| {
                            p.strip_prefix(&lead).map(|r| (r.to_string(), e.clone()))
                        })
                        .collect();
                    let sha = tree_sha(&sub);
                    out.insert(dir.to_string(), ("040000".to_string(), "tree", sha));
                }
            }
        }
    }
    out.into_iter().map(|(p, (m, k, s))| (p, m, k, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig() -> Signature {
        Signature {
            name: "a".into(),
            email: "a@example.com".into(),
            date: Utc::now(),
        }
    }

    fn input(path: &str, content: Option<&str>, sha: Option<Option<&str>>) -> TreeInput {
        TreeInput {
            path: path.into(),
            mode: None,
            kind: None,
            sha: sha.map(|s| s.map(str::to_string)),
            content: content.map(str::to_string),
        }
    }

    #[test]
    fn base_tree_keeps_files_and_null_sha_deletes() {
        let mut g = GitStore::default();
        let t1 = g
            .create_tree(
                None,
                vec![
                    input("a.txt", Some("a"), None),
                    input("envs/dev/x.tf", Some("x"), None),
                ],
            )
            .unwrap();
        let t2 = g
            .create_tree(
                Some(&t1),
                vec![
                    input("envs/dev/x.tf", None, Some(None)),
                    input("b.txt", Some("b"), None),
                ],
            )
            .unwrap();
        let paths: Vec<_> = g.tree(&t2).unwrap().keys().cloned().collect();
        assert_eq!(paths, vec!["a.txt", "b.txt"]);
        // the subtree of envs/ from t1 is addressable on its own
        let top = top_level(g.tree(&t1).unwrap());
        let envs = top.iter().find(|e| e.0 == "envs").unwrap();
        assert_eq!(envs.2, "tree");
        assert!(g.tree(&envs.3).unwrap().contains_key("dev/x.tf"));
    }

    #[test]
    fn merge_applies_their_changes_and_reports_conflicts() {
        let mut g = GitStore::default();
        let base = g
            .create_tree(None, vec![input("a", Some("1"), None)])
            .unwrap();
        let ours = g
            .create_tree(Some(&base), vec![input("b", Some("2"), None)])
            .unwrap();
        let theirs = g
            .create_tree(Some(&base), vec![input("c", Some("3"), None)])
            .unwrap();
        let merged = GitStore::merge_trees(
            g.tree(&base).unwrap(),
            g.tree(&ours).unwrap(),
            g.tree(&theirs).unwrap(),
        )
        .unwrap();
        assert_eq!(
            merged.keys().cloned().collect::<Vec<_>>(),
            vec!["a", "b", "c"]
        );
        let ours2 = g
            .create_tree(Some(&base), vec![input("a", Some("x"), None)])
            .unwrap();
        let theirs2 = g
            .create_tree(Some(&base), vec![input("a", Some("y"), None)])
            .unwrap();
        let err = GitStore::merge_trees(
            g.tree(&base).unwrap(),
            g.tree(&ours2).unwrap(),
            g.tree(&theirs2).unwrap(),
        );
        assert_eq!(err, Err("a".to_string()));
    }

    #[test]
    fn merge_base_finds_fork_point() {
        let mut g = GitStore::default();
        let t = g.put_tree(FlatTree::new());
        let root = g.put_commit(t.clone(), vec![], "root".into(), sig(), sig());
        let a = g.put_commit(t.clone(), vec![root.clone()], "a".into(), sig(), sig());
        let b = g.put_commit(t, vec![root.clone()], "b".into(), sig(), sig());
        assert_eq!(g.merge_base(&a, &b), Some(root.clone()));
        assert!(g.is_ancestor(&root, &a));
        assert!(!g.is_ancestor(&a, &b));
    }
}
