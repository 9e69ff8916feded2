//! The files setup writes: the conversion response, the private key and the env file for
//! `serve`, each readable by the owner only.

use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;
use serde_json::json;

use super::{CREDENTIALS_FILE, ENV_FILE, PRIVATE_KEY_FILE, SetupError};
use crate::github::types::ManifestConversion;

/// The three files setup writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPaths {
    /// [`CREDENTIALS_FILE`].
    pub credentials: PathBuf,
    /// [`PRIVATE_KEY_FILE`].
    pub private_key: PathBuf,
    /// [`ENV_FILE`].
    pub env_file: PathBuf,
}

impl OutputPaths {
    /// The paths under `out`.
    pub fn in_dir(out: &Path) -> Self {
        OutputPaths {
            credentials: out.join(CREDENTIALS_FILE),
            private_key: out.join(PRIVATE_KEY_FILE),
            env_file: out.join(ENV_FILE),
        }
    }

    fn all(&self) -> [&Path; 3] {
        [&self.credentials, &self.private_key, &self.env_file]
    }
}

/// What setup created, without its secrets (safe to print).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedApp {
    /// App id.
    pub id: u64,
    /// App slug.
    pub slug: Option<String>,
    /// App name.
    pub name: String,
    /// The app's page on GitHub.
    pub html_url: String,
    /// GitHub returned a webhook secret (it was written to the env file).
    pub has_webhook_secret: bool,
    /// Where the files are.
    pub paths: OutputPaths,
}

/// Writes the conversion response to `out`: credentials JSON, private key PEM and the env
/// file for `serve`, each created with mode 0600.
pub fn write_credentials(
    out: &Path,
    api_url: &str,
    conversion: &ManifestConversion,
    force: bool,
) -> Result<CreatedApp, SetupError> {
    std::fs::create_dir_all(out).map_err(|source| SetupError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    // The env file names the key by absolute path so `serve` finds it from any directory.
    let out_abs = std::fs::canonicalize(out).map_err(|source| SetupError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let paths = OutputPaths::in_dir(&out_abs);
    if !force {
        check_absent(&paths)?;
    }
    let webhook_secret = conversion
        .webhook_secret
        .as_ref()
        .map(|s| s.expose_secret().to_owned());
    let credentials = json!({
        "id": conversion.id,
        "slug": conversion.slug,
        "name": conversion.name,
        "html_url": conversion.html_url,
        "owner": conversion.owner.as_ref().map(|o| o.login.clone()),
        "client_id": conversion.client_id,
        "client_secret": conversion.client_secret.expose_secret(),
        "webhook_secret": webhook_secret,
        "pem": conversion.pem.expose_secret(),
        "api_url": api_url,
        "private_key_path": paths.private_key,
    });
    let credentials_text = serde_json::to_string_pretty(&credentials)
        .map_err(|e| SetupError::Template(e.to_string()))?;
    let env_text = env_file_text(
        conversion,
        api_url,
        &paths.private_key,
        webhook_secret.as_deref(),
    )?;
    write_private(
        &paths.private_key,
        conversion.pem.expose_secret().as_bytes(),
        force,
    )?;
    write_private(
        &paths.credentials,
        format!("{credentials_text}\n").as_bytes(),
        force,
    )?;
    write_private(&paths.env_file, env_text.as_bytes(), force)?;
    Ok(CreatedApp {
        id: conversion.id,
        slug: conversion.slug.clone(),
        name: conversion.name.clone(),
        html_url: conversion.html_url.clone(),
        has_webhook_secret: webhook_secret.is_some(),
        paths,
    })
}

/// Fails when any output file exists (before GitHub is involved, so nothing is lost).
pub fn check_absent(paths: &OutputPaths) -> Result<(), SetupError> {
    for path in paths.all() {
        if path.exists() {
            return Err(SetupError::Exists(path.to_path_buf()));
        }
    }
    Ok(())
}

/// `KEY=value` lines without quotes, as `docker --env-file`, systemd's `EnvironmentFile=`
/// and `set -a; . ./tfpilot.env` all read them.
fn env_file_text(
    conversion: &ManifestConversion,
    api_url: &str,
    key_path: &Path,
    webhook_secret: Option<&str>,
) -> Result<String, SetupError> {
    let plain = |what: &'static str, v: &str| {
        if v.is_empty()
            || v.chars()
                .any(|c| c.is_control() || c.is_whitespace() || "\"'`$\\#".contains(c))
        {
            Err(SetupError::UnsafeValue(what))
        } else {
            Ok(())
        }
    };
    let key_path = key_path.to_string_lossy();
    plain("private key path", &key_path)?;
    plain("API URL", api_url)?;
    let mut text = format!(
        "# tfpilot serve settings for the GitHub App {} (id {}), written by `tfpilot setup`.\n\
         # Keep this file secret: it holds the webhook secret.\n\
         TFPILOT_APP_ID={}\n\
         TFPILOT_PRIVATE_KEY_PATH={key_path}\n\
         TFPILOT_GITHUB_API_URL={api_url}\n",
        conversion.name, conversion.id, conversion.id
    );
    match webhook_secret {
        Some(secret) => {
            plain("webhook secret", secret)?;
            text.push_str(&format!("TFPILOT_WEBHOOK_SECRET={secret}\n"));
        }
        None => text.push_str(
            "# GitHub returned no webhook secret: set one in the app's settings and here.\n\
             # TFPILOT_WEBHOOK_SECRET=\n",
        ),
    }
    Ok(text)
}

fn write_private(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), SetupError> {
    use std::io::Write;
    let err = |source| SetupError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    // `mode` applies only to new files: an overwritten one keeps its old mode otherwise.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn conversion(webhook_secret: Option<&str>) -> ManifestConversion {
        ManifestConversion {
            id: 7,
            slug: Some("tfpilot-acme".into()),
            name: "tfpilot-acme".into(),
            html_url: "https://github.com/apps/tfpilot-acme".into(),
            owner: None,
            client_id: "Iv1.x".into(),
            client_secret: SecretString::from("client-secret"),
            webhook_secret: webhook_secret.map(SecretString::from),
            pem: SecretString::from(
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            ),
        }
    }

    #[cfg(unix)]
    #[test]
    fn force_overwrites_and_tightens_an_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join(ENV_FILE);
        std::fs::write(&env, "old").unwrap();
        std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = write_credentials(
            dir.path(),
            "https://api.github.com",
            &conversion(Some("abc")),
            false,
        )
        .unwrap_err();
        assert!(matches!(err, SetupError::Exists(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&env).unwrap(), "old");
        write_credentials(
            dir.path(),
            "https://api.github.com",
            &conversion(Some("abc")),
            true,
        )
        .unwrap();
        let mode = std::fs::metadata(&env).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            std::fs::read_to_string(&env)
                .unwrap()
                .contains("TFPILOT_WEBHOOK_SECRET=abc\n")
        );
    }

    #[test]
    fn a_missing_webhook_secret_is_left_for_the_person_to_fill_in() {
        let dir = tempfile::tempdir().unwrap();
        let created = write_credentials(
            dir.path(),
            "https://api.github.com",
            &conversion(None),
            false,
        )
        .unwrap();
        assert!(!created.has_webhook_secret);
        let env = std::fs::read_to_string(created.paths.env_file).unwrap();
        assert!(env.contains("# TFPILOT_WEBHOOK_SECRET=\n"), "{env}");
        assert!(!env.lines().any(|l| l.starts_with("TFPILOT_WEBHOOK_SECRET")));
    }

    #[test]
    fn a_secret_that_would_break_the_env_file_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_credentials(
            dir.path(),
            "https://api.github.com",
            &conversion(Some("a b\nTFPILOT_APP_ID=1")),
            false,
        )
        .unwrap_err();
        assert!(
            matches!(err, SetupError::UnsafeValue("webhook secret")),
            "{err}"
        );
        assert!(!err.to_string().contains("TFPILOT_APP_ID=1"));
        assert!(!dir.path().join(CREDENTIALS_FILE).exists());
        assert!(!dir.path().join(PRIVATE_KEY_FILE).exists());
    }
}
