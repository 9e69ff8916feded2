//! `.github/tfpilot.yml` read from the repository's default branch, cached briefly.
//!
//! Authorization and gates must follow the default branch's config (a request
//! PR could edit the file on its own branch), and most deliveries need it, so
//! one read per repository per minute is kept in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::repo::{CONFIG_PATH, ConfigError, RepoConfig};
use crate::github::{GitHub, GitHubError, Repo};

/// How long a read config is reused.
pub const CONFIG_TTL: Duration = Duration::from_secs(60);

/// Why a repository's config could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RepoConfigError {
    /// The repository has no `.github/tfpilot.yml` on its default branch.
    #[error(
        "this repository has no `{CONFIG_PATH}` on its default branch; run `tfpilot init` and commit it"
    )]
    Missing,
    /// The file is there but wrong; the message names file, line and key.
    #[error("{0}")]
    Invalid(#[from] ConfigError),
    /// The file is not UTF-8.
    #[error("`{CONFIG_PATH}` is not UTF-8 text")]
    NotText,
    /// GitHub failed.
    #[error(transparent)]
    GitHub(GitHubError),
}

type Key = (u64, String, String);

/// Configs by repository, with their read time.
#[derive(Default)]
pub struct ConfigCache {
    entries: Mutex<HashMap<Key, (Instant, Arc<RepoConfig>)>>,
}

impl ConfigCache {
    /// The repository's config, from the cache when fresh.
    pub async fn get(
        &self,
        github: &dyn GitHub,
        repo: &Repo,
    ) -> Result<Arc<RepoConfig>, RepoConfigError> {
        let key = (repo.installation_id, repo.owner.clone(), repo.name.clone());
        if let Some((at, config)) = self.lock().get(&key)
            && at.elapsed() < CONFIG_TTL
        {
            return Ok(config.clone());
        }
        let file = match github.get_file(repo, CONFIG_PATH, None).await {
            Ok(file) => file,
            Err(e) if e.is_not_found() => return Err(RepoConfigError::Missing),
            Err(e) => return Err(RepoConfigError::GitHub(e)),
        };
        let text = String::from_utf8(file.content).map_err(|_| RepoConfigError::NotText)?;
        let config = Arc::new(RepoConfig::parse(&text)?);
        self.lock().insert(key, (Instant::now(), config.clone()));
        Ok(config)
    }

    /// Forgets a repository's config (after a push to its default branch).
    pub fn forget(&self, repo: &Repo) {
        self.lock()
            .remove(&(repo.installation_id, repo.owner.clone(), repo.name.clone()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, Arc<RepoConfig>)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
