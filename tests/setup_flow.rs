//! `tfpilot setup` against the simulator, with the test playing the browser: it opens the
//! local page, reads the form GitHub would receive, checks the manifest against the
//! parameters GitHub documents, then follows GitHub's redirect back with a code the
//! simulator knows. The written files must let `tfpilot serve` start.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use tfpilot::setup::{
    CREDENTIALS_FILE, ENV_FILE, PRIVATE_KEY_FILE, SetupError, SetupOptions, SetupServer,
};
use tfpilot::sim::{ManifestConversion, SimConfig, Simulator, TEST_APP_PRIVATE_KEY_PEM};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// Manifest parameters, from GitHub's "Registering a GitHub App from a manifest".
const KNOWN_KEYS: &[&str] = &[
    "url",
    "name",
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

const CLIENT_SECRET: &str = "cs-client-secret-5a1f";
const WEBHOOK_SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const WEBHOOK_URL: &str = "https://tfpilot.acme.test/webhooks/github";

fn conversion(id: u64, webhook_secret: &str) -> ManifestConversion {
    ManifestConversion {
        id,
        slug: "tfpilot-acme".into(),
        client_id: "Iv1.setup0000000001".into(),
        client_secret: CLIENT_SECRET.into(),
        webhook_secret: webhook_secret.into(),
        pem: TEST_APP_PRIVATE_KEY_PEM.into(),
    }
}

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("app-manifest/manifest.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("manifest.json")).expect("JSON")
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// What a browser would post: the form's action and its `manifest` field.
fn read_form(html: &str) -> (String, Value) {
    let action = Regex::new(r#"<form [^>]*action="([^"]*)"[^>]*method="post""#)
        .expect("regex")
        .captures(html)
        .unwrap_or_else(|| panic!("no POST form in\n{html}"))[1]
        .to_owned();
    let field = Regex::new(r#"<input type="hidden" name="manifest" value="([^"]*)">"#)
        .expect("regex")
        .captures(html)
        .unwrap_or_else(|| panic!("no manifest field in\n{html}"))[1]
        .to_owned();
    let manifest = serde_json::from_str(&unescape(&field)).expect("the manifest field is JSON");
    (unescape(&action), manifest)
}

/// The checks GitHub's documentation implies, plus "same permissions and events as
/// app-manifest/manifest.json".
fn assert_valid_manifest(m: &Value, redirect_prefix: &str) {
    let obj = m.as_object().expect("manifest is an object");
    for key in obj.keys() {
        assert!(
            KNOWN_KEYS.contains(&key.as_str()),
            "key {key} is not a manifest parameter"
        );
    }
    for key in REQUIRED_KEYS {
        assert!(obj.contains_key(*key), "required key {key} missing");
    }
    // The types GitHub documents for each parameter.
    for (key, value) in obj {
        let ok = match key.as_str() {
            "url" | "name" | "redirect_url" | "setup_url" | "description" => value.is_string(),
            "public" | "request_oauth_on_install" | "setup_on_update" => value.is_boolean(),
            "hook_attributes" | "default_permissions" => value.is_object(),
            "default_events" => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            "callback_urls" => value
                .as_array()
                .is_some_and(|a| a.len() <= 10 && a.iter().all(Value::is_string)),
            _ => false,
        };
        assert!(ok, "manifest key {key} has the wrong type: {value}");
    }
    for (permission, level) in m["default_permissions"].as_object().expect("permissions") {
        assert!(
            matches!(level.as_str(), Some("read" | "write" | "admin")),
            "permission {permission}: {level}"
        );
    }
    let hook = m["hook_attributes"].as_object().expect("hook_attributes");
    for key in hook.keys() {
        assert!(HOOK_KEYS.contains(&key.as_str()), "hook key {key}");
    }
    assert_eq!(m["hook_attributes"]["url"], WEBHOOK_URL);
    assert_eq!(m["hook_attributes"]["active"], true);
    let url = m["url"].as_str().expect("url is a string");
    assert!(url.starts_with("http"), "url {url}");
    let redirect = m["redirect_url"].as_str().expect("redirect_url");
    assert!(
        redirect.starts_with(redirect_prefix) && redirect.ends_with("/callback"),
        "redirect_url {redirect} should be the local callback under {redirect_prefix}"
    );
    let name = m["name"].as_str().expect("name");
    assert!(!name.is_empty() && name.len() <= 34, "name {name}");
    let t = template();
    assert_eq!(m["default_permissions"], t["default_permissions"]);
    assert_eq!(m["default_events"], t["default_events"]);
    assert_eq!(m["public"], false);
    assert!(!m.to_string().contains("{{"), "a placeholder was left: {m}");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn tfpilot() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tfpilot"));
    // Only what the test sets may configure the child.
    for (key, _) in std::env::vars() {
        if key.starts_with("TFPILOT_") || key == "DEBUG_WEBHOOKS" {
            cmd.env_remove(key);
        }
    }
    cmd.kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_creates_the_app_and_serve_starts_with_the_env_file() {
    let sim = Simulator::start(SimConfig::for_tests())
        .await
        .expect("simulator");
    sim.register_manifest_code("code-0001", conversion(9001, WEBHOOK_SECRET));
    let out = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();

    let mut child = tfpilot()
        .args(["setup", "--webhook-url", WEBHOOK_URL, "--org", "acme"])
        .args(["--github-url", sim.base_url(), "--api-url", sim.base_url()])
        .args(["--listen", "127.0.0.1:0", "--out"])
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tfpilot setup");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut printed = String::new();
    let page_url = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).await.expect("read stdout") == 0 {
                panic!("setup exited before printing its page:\n{printed}");
            }
            printed.push_str(&line);
            if let Some(rest) = line.trim().strip_prefix("Open ") {
                break rest.split_whitespace().next().expect("url").to_owned();
            }
        }
    })
    .await
    .expect("setup printed its page URL");
    assert!(page_url.starts_with("http://127.0.0.1:"), "{page_url}");

    // The browser opens the page and would post the form to GitHub.
    let html = http
        .get(&page_url)
        .send()
        .await
        .expect("GET page")
        .text()
        .await
        .expect("page body");
    let (action, manifest) = read_form(&html);
    let state_re = Regex::new(&format!(
        "^{}/organizations/acme/settings/apps/new\\?state=([0-9a-f]{{32}})$",
        regex::escape(sim.base_url())
    ))
    .expect("regex");
    let state = state_re
        .captures(&action)
        .unwrap_or_else(|| panic!("form action {action}"))[1]
        .to_owned();
    assert_valid_manifest(&manifest, page_url.trim_end_matches('/'));
    assert_eq!(manifest["name"], "tfpilot-acme");
    let redirect = manifest["redirect_url"]
        .as_str()
        .expect("redirect")
        .to_owned();

    // A redirect that did not come from this page's form is refused and writes nothing.
    let forged = http
        .get(format!("{redirect}?code=code-0001&state=not-the-state"))
        .send()
        .await
        .expect("forged callback");
    assert_eq!(forged.status(), 400);
    assert!(!out.path().join(CREDENTIALS_FILE).exists());

    // GitHub created the app and sends the browser back with the code.
    let done = http
        .get(format!("{redirect}?code=code-0001&state={state}"))
        .send()
        .await
        .expect("callback");
    assert_eq!(done.status(), 200);
    let done_html = done.text().await.expect("body");
    assert!(done_html.contains("App created"), "{done_html}");
    assert!(done_html.contains("installations/new"), "{done_html}");

    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("setup exits after the callback")
        .expect("wait");
    stdout
        .read_to_string(&mut printed)
        .await
        .expect("rest of stdout");
    let mut errors = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut errors)
        .await
        .expect("stderr");
    assert!(status.success(), "setup failed:\n{printed}\n{errors}");

    // The conversion response is stored, readable by the owner only.
    let credentials_path = out.path().join(CREDENTIALS_FILE);
    let key_path = out.path().join(PRIVATE_KEY_FILE);
    let env_path = out.path().join(ENV_FILE);
    #[cfg(unix)]
    for path in [&credentials_path, &key_path, &env_path] {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&credentials_path).expect("credentials"))
            .expect("credentials JSON");
    assert_eq!(stored["id"], 9001);
    assert_eq!(stored["slug"], "tfpilot-acme");
    assert_eq!(stored["client_id"], "Iv1.setup0000000001");
    assert_eq!(stored["client_secret"], CLIENT_SECRET);
    assert_eq!(stored["webhook_secret"], WEBHOOK_SECRET);
    assert_eq!(stored["pem"], TEST_APP_PRIVATE_KEY_PEM);
    assert_eq!(
        std::fs::read_to_string(&key_path).expect("key"),
        TEST_APP_PRIVATE_KEY_PEM
    );
    let env = parse_env_file(&std::fs::read_to_string(&env_path).expect("env file"));
    assert_eq!(env.get("TFPILOT_APP_ID").map(String::as_str), Some("9001"));
    assert_eq!(
        env.get("TFPILOT_WEBHOOK_SECRET").map(String::as_str),
        Some(WEBHOOK_SECRET)
    );
    assert_eq!(
        env.get("TFPILOT_GITHUB_API_URL").map(String::as_str),
        Some(sim.base_url())
    );
    let key_in_env = env.get("TFPILOT_PRIVATE_KEY_PATH").expect("key path");
    assert!(Path::new(key_in_env).is_absolute(), "{key_in_env}");
    assert_eq!(
        std::fs::canonicalize(key_in_env).expect("key path exists"),
        std::fs::canonicalize(&key_path).expect("key")
    );

    // Next steps are printed; secrets are not.
    assert!(printed.contains("installations/new"), "{printed}");
    assert!(printed.contains("tfpilot init"), "{printed}");
    assert!(printed.contains("tfpilot serve"), "{printed}");
    let pem_body = TEST_APP_PRIVATE_KEY_PEM.lines().nth(1).expect("pem line");
    for secret in [CLIENT_SECRET, WEBHOOK_SECRET, pem_body] {
        assert!(!printed.contains(secret), "stdout leaks a secret");
        assert!(!errors.contains(secret), "stderr leaks a secret");
        assert!(!done_html.contains(secret), "the page leaks a secret");
    }

    // `serve` starts with exactly the written env file.
    let port = free_port();
    let mut serve = tfpilot()
        .arg("serve")
        .envs(&env)
        .env("TFPILOT_STORE", "memory://")
        .env("TFPILOT_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tfpilot serve");
    let healthz = format!("http://127.0.0.1:{port}/healthz");
    let mut healthy = false;
    for _ in 0..200 {
        if let Ok(Some(exit)) = serve.try_wait() {
            let mut err = String::new();
            if let Some(mut s) = serve.stderr.take() {
                let _ = s.read_to_string(&mut err).await;
            }
            panic!("serve exited with {exit}:\n{err}");
        }
        if let Ok(r) = http.get(&healthz).send().await
            && r.status() == 200
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    serve.kill().await.expect("kill serve");
    assert!(healthy, "serve never answered /healthz");
}

fn options(out: &Path, sim: &Simulator) -> SetupOptions {
    SetupOptions {
        github_url: sim.base_url().to_owned(),
        api_url: sim.base_url().to_owned(),
        org: None,
        name: "tfpilot-me".into(),
        homepage_url: "https://example.test/".into(),
        webhook_url: WEBHOOK_URL.into(),
        out: out.to_path_buf(),
        force: false,
        retry: tfpilot::github::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_code_can_be_retried_and_a_personal_app_posts_to_settings() {
    let sim = Simulator::start(SimConfig::for_tests())
        .await
        .expect("simulator");
    sim.register_manifest_code("good", conversion(9002, WEBHOOK_SECRET));
    let out = tempfile::tempdir().expect("tempdir");
    let server = SetupServer::start(
        options(out.path(), &sim),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("start");
    let http = reqwest::Client::new();
    let html = http
        .get(server.page_url())
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    let (action, manifest) = read_form(&html);
    let prefix = format!("{}/settings/apps/new?state=", sim.base_url());
    let state = action
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("personal app form action {action}"))
        .to_owned();
    assert_valid_manifest(&manifest, &format!("http://{}", server.local_addr()));
    let redirect = manifest["redirect_url"]
        .as_str()
        .expect("redirect")
        .to_owned();

    // GitHub does not know this code: the page says so and keeps waiting.
    let refused = http
        .get(format!("{redirect}?code=expired&state={state}"))
        .send()
        .await
        .expect("callback");
    assert_eq!(refused.status(), 502);
    assert!(!out.path().join(ENV_FILE).exists());

    let ok = http
        .get(format!("{redirect}?code=good&state={state}"))
        .send()
        .await
        .expect("callback");
    assert_eq!(ok.status(), 200);
    let created = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("wait returns")
        .expect("created");
    assert_eq!(created.id, 9002);
    assert!(created.has_webhook_secret);
    assert!(created.paths.env_file.exists());

    // A second setup into the same directory refuses before anything reaches GitHub.
    let again = SetupServer::start(
        options(out.path(), &sim),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await;
    assert!(
        matches!(again, Err(SetupError::Exists(_))),
        "existing credentials must not be overwritten"
    );
}

#[tokio::test]
async fn setup_listens_on_loopback_only() {
    let sim = Simulator::start(SimConfig::for_tests())
        .await
        .expect("simulator");
    let out = tempfile::tempdir().expect("tempdir");
    let err = SetupServer::start(
        options(out.path(), &sim),
        "0.0.0.0:0".parse().expect("addr"),
    )
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[tokio::test]
async fn the_page_answers_only_to_its_own_loopback_address() {
    let sim = Simulator::start(SimConfig::for_tests())
        .await
        .expect("simulator");
    let out = tempfile::tempdir().expect("tempdir");
    let server = SetupServer::start(
        options(out.path(), &sim),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("start");
    let http = reqwest::Client::new();
    let ok = http.get(server.page_url()).send().await.expect("page");
    assert_eq!(ok.status(), 200);
    // What a DNS-rebinding page would send: our address, its own host name.
    let rebound = http
        .get(server.page_url())
        .header(
            "host",
            format!("evil.example:{}", server.local_addr().port()),
        )
        .send()
        .await
        .expect("page");
    assert_eq!(rebound.status(), 403);
    let body = rebound.text().await.expect("body");
    assert!(!body.contains("manifest"), "{body}");
}
