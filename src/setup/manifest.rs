//! The app manifest: the template's placeholders filled, and where GitHub takes it.

use serde_json::Value;

use super::SetupError;

/// What fills the manifest's placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestValues {
    /// `{{APP_NAME}}`: the app name, unique on GitHub.
    pub name: String,
    /// `{{HOMEPAGE_URL}}`: the app's homepage (`url`).
    pub homepage_url: String,
    /// `{{WEBHOOK_URL}}`: where GitHub sends webhooks.
    pub webhook_url: String,
    /// `{{REDIRECT_URL}}`: our local callback.
    pub redirect_url: String,
}

/// The manifest template with its placeholders filled (replaced inside parsed JSON strings,
/// so a value can never change the document's structure).
pub fn render_manifest(template: &str, values: &ManifestValues) -> Result<Value, SetupError> {
    let mut manifest: Value =
        serde_json::from_str(template).map_err(|e| SetupError::Template(e.to_string()))?;
    let pairs = [
        ("{{APP_NAME}}", values.name.as_str()),
        ("{{HOMEPAGE_URL}}", values.homepage_url.as_str()),
        ("{{WEBHOOK_URL}}", values.webhook_url.as_str()),
        ("{{REDIRECT_URL}}", values.redirect_url.as_str()),
    ];
    fill(&mut manifest, &pairs)?;
    Ok(manifest)
}

fn fill(value: &mut Value, pairs: &[(&str, &str)]) -> Result<(), SetupError> {
    match value {
        Value::String(s) => {
            for (placeholder, with) in pairs {
                if s.contains(placeholder) {
                    *s = s.replace(placeholder, with);
                }
            }
            if s.contains("{{") {
                return Err(SetupError::Template(format!(
                    "unknown placeholder in {s:?}"
                )));
            }
        }
        Value::Array(items) => {
            for item in items {
                fill(item, pairs)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                fill(item, pairs)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// GitHub's "new app from manifest" page: personal (`/settings/apps/new`) or an
/// organization's (`/organizations/<org>/settings/apps/new`), with `state` in the query.
pub fn new_app_url(github_url: &str, org: Option<&str>, state: &str) -> Result<String, SetupError> {
    let base = parse_http_url("github-url", github_url)?;
    let base = base.as_str().trim_end_matches('/');
    let path = match org {
        Some(org) => {
            if !valid_login(org) {
                return Err(SetupError::BadArgument {
                    flag: "org",
                    message: format!(
                        "`{org}` is not an organization login (letters, digits and single hyphens)"
                    ),
                });
            }
            format!("/organizations/{org}/settings/apps/new")
        }
        None => "/settings/apps/new".to_owned(),
    };
    Ok(format!("{base}{path}?state={state}"))
}

fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 39
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--")
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub(super) fn parse_http_url(flag: &'static str, raw: &str) -> Result<url::Url, SetupError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| SetupError::BadArgument {
        flag,
        message: format!("`{raw}` is not a URL ({e})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SetupError::BadArgument {
            flag,
            message: format!("`{raw}` is not an http(s) URL"),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::MANIFEST_TEMPLATE;

    fn values() -> ManifestValues {
        ManifestValues {
            name: "tfpilot-acme".into(),
            homepage_url: "https://github.com/acme".into(),
            webhook_url: "https://tfpilot.acme.test/webhooks/github".into(),
            redirect_url: "http://127.0.0.1:3000/callback".into(),
        }
    }

    #[test]
    fn placeholders_are_filled_and_none_remain() {
        let m = render_manifest(MANIFEST_TEMPLATE, &values()).unwrap();
        assert_eq!(m["name"], "tfpilot-acme");
        assert_eq!(m["url"], "https://github.com/acme");
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://tfpilot.acme.test/webhooks/github"
        );
        assert_eq!(m["redirect_url"], "http://127.0.0.1:3000/callback");
        assert!(!m.to_string().contains("{{"));
    }

    #[test]
    fn a_value_cannot_change_the_manifest_structure() {
        let mut v = values();
        v.name = "x\", \"public\": true, \"y\": \"".into();
        let m = render_manifest(MANIFEST_TEMPLATE, &v).unwrap();
        assert_eq!(m["public"], false);
        assert_eq!(m["name"], v.name.as_str());
    }

    #[test]
    fn unknown_placeholder_is_refused() {
        let err = render_manifest(r#"{"name": "{{NOPE}}"}"#, &values()).unwrap_err();
        assert!(err.to_string().contains("NOPE"), "{err}");
    }

    #[test]
    fn new_app_url_personal_and_org() {
        assert_eq!(
            new_app_url("https://github.com/", None, "s1").unwrap(),
            "https://github.com/settings/apps/new?state=s1"
        );
        assert_eq!(
            new_app_url("https://ghe.acme.test", Some("acme"), "s2").unwrap(),
            "https://ghe.acme.test/organizations/acme/settings/apps/new?state=s2"
        );
        assert!(new_app_url("https://github.com", Some("ac/me"), "s").is_err());
        assert!(new_app_url("ftp://github.com", None, "s").is_err());
    }
}
