//! `app-manifest/manifest.json` uses only the manifest parameters GitHub documents, has
//! the required ones, and asks for the permissions and events tfpilot and its workflows
//! need: no more, no fewer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;

/// Manifest parameters, from GitHub's "Registering a GitHub App from a manifest".
const KNOWN_KEYS: &[&str] = &[
    "name",
    "url",
    "hook_attributes",
    "redirect_url",
    "callback_urls",
    "setup_url",
    "description",
    "public",
    "default_events",
    "default_permissions",
    "request_oauth_on_install",
    "setup_on_update",
];
const REQUIRED_KEYS: &[&str] = &["url", "hook_attributes"];
const HOOK_KEYS: &[&str] = &["url", "active"];

const PERMISSIONS: &[(&str, &str)] = &[
    ("contents", "write"),
    ("pull_requests", "write"),
    ("issues", "write"),
    ("checks", "write"),
    ("actions", "write"),
    ("metadata", "read"),
    ("members", "read"),
    ("merge_queues", "read"),
];
const EVENTS: &[&str] = &[
    "issue_comment",
    "issues",
    "pull_request",
    "pull_request_review",
    "workflow_run",
    "check_run",
    "merge_group",
];

/// The permission GitHub requires before an app may subscribe to each event.
const EVENT_PERMISSION: &[(&str, &str)] = &[
    ("issue_comment", "issues"),
    ("issues", "issues"),
    ("pull_request", "pull_requests"),
    ("pull_request_review", "pull_requests"),
    ("workflow_run", "actions"),
    ("check_run", "checks"),
    ("merge_group", "merge_queues"),
];

const PLACEHOLDERS: &[&str] = &["APP_NAME", "HOMEPAGE_URL", "WEBHOOK_URL", "REDIRECT_URL"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest_text() -> String {
    std::fs::read_to_string(root().join("app-manifest/manifest.json")).expect("manifest.json")
}

fn manifest() -> Value {
    serde_json::from_str(&manifest_text()).expect("manifest.json is JSON")
}

#[test]
fn only_documented_keys_and_the_required_ones() {
    let m = manifest();
    let keys: BTreeSet<&str> = m
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for key in &keys {
        assert!(KNOWN_KEYS.contains(key), "unknown manifest key {key}");
    }
    for key in REQUIRED_KEYS {
        assert!(keys.contains(key), "missing required key {key}");
    }
    let hook = m["hook_attributes"].as_object().expect("hook_attributes");
    for key in hook.keys() {
        assert!(HOOK_KEYS.contains(&key.as_str()), "unknown hook key {key}");
    }
    assert!(hook.contains_key("url"));
    assert_eq!(m["hook_attributes"]["active"], true);
    assert_eq!(m["public"], false, "a private app");
    assert!(m["name"].is_string());
}

#[test]
fn permissions_and_events_are_exactly_what_tfpilot_needs() {
    let m = manifest();
    let perms: BTreeMap<String, String> =
        serde_json::from_value(m["default_permissions"].clone()).expect("permissions map");
    let wanted: BTreeMap<String, String> = PERMISSIONS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(perms, wanted);
    assert!(!perms.contains_key("workflows"), "never edits workflows");

    let events: Vec<String> =
        serde_json::from_value(m["default_events"].clone()).expect("events list");
    let unique: BTreeSet<&str> = events.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), events.len(), "no duplicate events");
    assert_eq!(unique, EVENTS.iter().copied().collect());

    for event in &events {
        let (_, needs) = EVENT_PERMISSION
            .iter()
            .find(|(e, _)| e == event)
            .unwrap_or_else(|| panic!("no permission known for {event}"));
        assert!(
            perms.contains_key(*needs),
            "{event} needs the {needs} permission"
        );
    }
}

#[test]
fn placeholders_are_the_documented_ones_and_fill_in_to_valid_urls() {
    let text = manifest_text();
    let re = Regex::new(r"\{\{([A-Z_]+)\}\}").expect("regex");
    let found: BTreeSet<&str> = re
        .captures_iter(&text)
        .map(|c| c.get(1).expect("group").as_str())
        .collect();
    assert_eq!(found, PLACEHOLDERS.iter().copied().collect());
    let readme = std::fs::read_to_string(root().join("app-manifest/README.md")).expect("README.md");
    for p in PLACEHOLDERS {
        assert!(
            readme.contains(&format!("`{{{{{p}}}}}`")),
            "README documents {p}"
        );
    }

    let filled = text
        .replace("{{APP_NAME}}", "tfpilot-acme")
        .replace("{{HOMEPAGE_URL}}", "https://example.com/tfpilot")
        .replace(
            "{{WEBHOOK_URL}}",
            "https://tfpilot.example.com/webhooks/github",
        )
        .replace("{{REDIRECT_URL}}", "http://127.0.0.1:3999/callback");
    let m: Value = serde_json::from_str(&filled).expect("still JSON once filled in");
    for pointer in ["/url", "/hook_attributes/url", "/redirect_url"] {
        let value = m.pointer(pointer).and_then(Value::as_str).expect(pointer);
        url::Url::parse(value).unwrap_or_else(|e| panic!("{pointer}: {e}"));
    }
}

/// GitHub's own descriptions, when the shared fixtures are next to the crate.
fn shared_fixture(name: &str) -> Option<Value> {
    let path: &Path = &root().join("../shared/fixtures/github").join(name);
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

#[test]
fn permissions_and_events_exist_in_githubs_own_schemas() {
    let (Some(api), Some(hooks)) = (
        shared_fixture("rest-api.subset.json"),
        shared_fixture("webhooks.schema.json"),
    ) else {
        eprintln!(
            "SKIP: ../shared/fixtures/github not found; permissions not checked against GitHub's app-permissions schema"
        );
        return;
    };
    let schema = &api["components"]["schemas"]["app-permissions"]["properties"];
    let m = manifest();
    for (perm, level) in m["default_permissions"].as_object().expect("permissions") {
        let levels = schema[perm]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{perm} is not a GitHub App permission"));
        assert!(levels.contains(level), "{perm}: {level} not in {levels:?}");
    }
    let definitions = hooks["definitions"].as_object().expect("definitions");
    for event in m["default_events"].as_array().expect("events") {
        let event = event.as_str().expect("string");
        let prefix = format!("{event}$");
        assert!(
            definitions.keys().any(|k| k.starts_with(&prefix)),
            "{event} is not a webhook event"
        );
    }
}
