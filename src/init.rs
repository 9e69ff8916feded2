//! `tfpilot init`: writes what tfpilot needs into an infrastructure repository checkout.
//!
//! The workflows (and whatever else [`TEMPLATE_FILES`] lists), plus files the caller
//! generates (the issue forms). A file that already exists with other contents is kept
//! unless `force` is set, and the report says so; a second run changes nothing.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::core::contract::{self, Setting};

/// A file `tfpilot init` writes, relative to the repository root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateFile {
    /// Destination, relative to the repository root, `/`-separated.
    pub path: &'static str,
    /// Exact contents.
    pub contents: &'static str,
}

/// The files every `tfpilot init` writes.
pub const TEMPLATE_FILES: &[TemplateFile] = &[
    TemplateFile {
        path: contract::FINGERPRINT_SCRIPT_PATH,
        contents: include_str!("../templates/scripts/fingerprint.py"),
    },
    TemplateFile {
        path: ".github/tfpilot.yml",
        contents: include_str!("../templates/tfpilot.yml"),
    },
    TemplateFile {
        path: ".github/workflows/tfpilot-plan.yml",
        contents: include_str!("../templates/workflows/tfpilot-plan.yml"),
    },
    TemplateFile {
        path: ".github/workflows/tfpilot-apply.yml",
        contents: include_str!("../templates/workflows/tfpilot-apply.yml"),
    },
    TemplateFile {
        path: ".github/workflows/tfpilot-destroy.yml",
        contents: include_str!("../templates/workflows/tfpilot-destroy.yml"),
    },
    TemplateFile {
        path: ".github/workflows/tfpilot-drift.yml",
        contents: include_str!("../templates/workflows/tfpilot-drift.yml"),
    },
];

/// How to run `tfpilot init`.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Replace files whose contents differ from what init would write.
    pub force: bool,
    /// More files to write, relative path and contents (the issue forms from `tfpilot forms`).
    pub extra_files: Vec<(PathBuf, String)>,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// The file did not exist and was written.
    Created,
    /// The file already had exactly these contents; not touched.
    Unchanged,
    /// The file differed and was replaced (`force`).
    Replaced,
    /// The file differed and was kept (no `force`).
    Skipped,
}

/// One file of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    /// Path relative to the repository root.
    pub path: PathBuf,
    /// What init did with it.
    pub action: FileAction,
}

/// What `tfpilot init` did, and what the person still has to set up on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// The repository root that was written to.
    pub target: PathBuf,
    /// Every file, sorted by path.
    pub files: Vec<FileOutcome>,
    /// Variables the workflows read (`vars.*`).
    pub variables: &'static [Setting],
    /// Secrets the workflows read (`secrets.*`).
    pub secrets: &'static [Setting],
}

/// Why `tfpilot init` could not run. Nothing is written when the inputs are invalid.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The target is missing or not a directory.
    #[error("{} is not a directory (give the root of the infrastructure repository checkout)", .path.display())]
    NotADirectory {
        /// The target given.
        path: PathBuf,
    },
    /// A file path is absolute or leaves the repository.
    #[error("refusing to write {}: paths must be relative and stay inside the repository", .path.display())]
    UnsafePath {
        /// The offending path.
        path: PathBuf,
    },
    /// Two files would be written to the same path.
    #[error("{} is listed twice", .path.display())]
    Duplicate {
        /// The repeated path.
        path: PathBuf,
    },
    /// Something other than a regular file is in the way.
    #[error("{} exists and is not a regular file", .path.display())]
    NotAFile {
        /// The path in the way.
        path: PathBuf,
    },
    /// Reading an existing file failed.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Writing a file failed.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Writes the template files and `opts.extra_files` under `target`.
pub fn run(target: &Path, opts: InitOptions) -> Result<InitReport, InitError> {
    if !target.is_dir() {
        return Err(InitError::NotADirectory {
            path: target.to_path_buf(),
        });
    }
    let mut wanted: Vec<(PathBuf, String)> = TEMPLATE_FILES
        .iter()
        .map(|f| (PathBuf::from(f.path), f.contents.to_owned()))
        .chain(opts.extra_files)
        .collect();
    // Check every path before writing anything, so a bad entry leaves the checkout as it was.
    for (path, _) in &wanted {
        if !is_inside(path) {
            return Err(InitError::UnsafePath { path: path.clone() });
        }
    }
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = wanted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(InitError::Duplicate {
            path: pair[0].0.clone(),
        });
    }

    let mut files = Vec::with_capacity(wanted.len());
    for (rel, contents) in wanted {
        let action = write_one(&target.join(&rel), contents.as_bytes(), opts.force)?;
        files.push(FileOutcome { path: rel, action });
    }
    Ok(InitReport {
        target: target.to_path_buf(),
        files,
        variables: contract::VARIABLES,
        secrets: contract::SECRETS,
    })
}

/// True for a relative path made of plain names only (no `..`, no root, no prefix).
fn is_inside(path: &Path) -> bool {
    path.components().next().is_some()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
}

fn write_one(path: &Path, contents: &[u8], force: bool) -> Result<FileAction, InitError> {
    let action = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => FileAction::Created,
        Err(source) => {
            return Err(InitError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
        Ok(meta) if meta.is_dir() => {
            return Err(InitError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        Ok(_) => {
            let existing = fs::read(path).map_err(|source| InitError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            if existing == contents {
                return Ok(FileAction::Unchanged);
            }
            if !force {
                return Ok(FileAction::Skipped);
            }
            FileAction::Replaced
        }
    };
    write_atomically(path, contents).map_err(|source| InitError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(action)
}

/// Writes beside the destination and renames, so a crash never leaves half a workflow.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent directory"))?;
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(".{}.tfpilot-init.tmp", name.to_string_lossy()));
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        // Best effort: the rename error is the one worth reporting.
        let _ = fs::remove_file(&tmp);
    })
}

impl InitReport {
    /// True when at least one file was written.
    pub fn changed(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f.action, FileAction::Created | FileAction::Replaced))
    }

    /// Files that differ from the template and were kept.
    pub fn skipped(&self) -> impl Iterator<Item = &FileOutcome> {
        self.files
            .iter()
            .filter(|f| f.action == FileAction::Skipped)
    }
}

impl FileAction {
    fn label(self) -> &'static str {
        match self {
            FileAction::Created => "created",
            FileAction::Unchanged => "unchanged",
            FileAction::Replaced => "replaced",
            FileAction::Skipped => "skipped",
        }
    }
}

impl fmt::Display for InitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tfpilot init: {}", self.target.display())?;
        for file in &self.files {
            write!(f, "  {:<10} {}", file.action.label(), file.path.display())?;
            if file.action == FileAction::Skipped {
                write!(
                    f,
                    "  (differs from the template; kept, --force replaces it)"
                )?;
            }
            writeln!(f)?;
        }
        if !self.changed() {
            writeln!(f, "Nothing to write: the repository is up to date.")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Set these Actions variables (Settings > Secrets and variables > Actions), on the"
        )?;
        writeln!(
            f,
            "repository or on each GitHub environment named like the tfpilot environment:"
        )?;
        write_settings(f, self.variables)?;
        writeln!(f)?;
        writeln!(f, "Actions secrets:")?;
        write_settings(f, self.secrets)?;
        writeln!(f)?;
        writeln!(
            f,
            "The role in TFPILOT_AWS_ROLE_ARN must trust GitHub's OIDC provider"
        )?;
        writeln!(
            f,
            "(token.actions.githubusercontent.com) for the subject repo:<owner>/<repo>:environment:<env>."
        )?;
        writeln!(
            f,
            "Each environment's Terraform root is envs/<env>/ with an empty backend \"s3\" {{}} block."
        )?;
        writeln!(
            f,
            "Protection rules on a GitHub environment (required reviewers, deployment branches)"
        )?;
        writeln!(
            f,
            "apply to every tfpilot run in it, plans on request/* branches included."
        )
    }
}

fn write_settings(f: &mut fmt::Formatter<'_>, settings: &[Setting]) -> fmt::Result {
    let width = settings.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in settings {
        let need = if s.required { "required" } else { "optional" };
        writeln!(f, "  {:<width$}  {need}  {}", s.name, s.help)?;
    }
    Ok(())
}
