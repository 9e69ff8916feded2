//! The local setup page: the form that posts the manifest to GitHub, and the callback
//! GitHub sends the browser back to.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, oneshot};

use super::{
    CALLBACK_PATH, CreatedApp, MANIFEST_TEMPLATE, ManifestValues, OutputPaths, SetupError,
    SetupOptions, check_absent, new_app_url, render_manifest, write_credentials,
};
use crate::github::convert_manifest;

/// The running setup page, waiting for GitHub to send the browser back.
pub struct SetupServer {
    addr: SocketAddr,
    created: oneshot::Receiver<CreatedApp>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: Option<oneshot::Sender<()>>,
}

struct Flow {
    options: SetupOptions,
    /// The port the page listens on (for the `Host` check).
    port: u16,
    state: String,
    action: String,
    manifest: String,
    /// Taken by the one callback that succeeds; also serializes conversions.
    created: Mutex<Option<oneshot::Sender<CreatedApp>>>,
}

impl SetupServer {
    /// Checks the output files are free, binds `listen` (loopback only) and starts serving.
    pub async fn start(options: SetupOptions, listen: SocketAddr) -> Result<Self, SetupError> {
        if !listen.ip().is_loopback() {
            return Err(SetupError::BadArgument {
                flag: "listen",
                message: format!(
                    "{listen} is not a loopback address: the setup page receives the app's credentials, so it listens on 127.0.0.1 or ::1 only"
                ),
            });
        }
        if !options.force
            && let Ok(out) = std::fs::canonicalize(&options.out)
        {
            check_absent(&OutputPaths::in_dir(&out))?;
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| SetupError::Listen {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SetupError::Listen {
            addr: listen,
            source,
        })?;
        let state = random_hex(16);
        let manifest = render_manifest(
            MANIFEST_TEMPLATE,
            &ManifestValues {
                name: options.name.clone(),
                homepage_url: options.homepage_url.clone(),
                webhook_url: options.webhook_url.clone(),
                redirect_url: format!("http://{addr}{CALLBACK_PATH}"),
            },
        )?;
        let manifest =
            serde_json::to_string(&manifest).map_err(|e| SetupError::Template(e.to_string()))?;
        let action = new_app_url(&options.github_url, options.org.as_deref(), &state)?;
        let (created_tx, created_rx) = oneshot::channel();
        let flow = Arc::new(Flow {
            options,
            port: addr.port(),
            state,
            action,
            manifest,
            created: Mutex::new(Some(created_tx)),
        });
        let router = Router::new()
            .route("/", get(page))
            .route(CALLBACK_PATH, get(callback))
            .layer(axum::middleware::from_fn_with_state(
                flow.clone(),
                local_host_only,
            ))
            .with_state(flow);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.await;
                })
                .await
        });
        Ok(SetupServer {
            addr,
            created: created_rx,
            server,
            shutdown: Some(shutdown_tx),
        })
    }

    /// The address the page listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page to open in a browser.
    pub fn page_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Waits until GitHub sent the browser back and the files are written, then stops.
    pub async fn wait(mut self) -> Result<CreatedApp, SetupError> {
        let created = tokio::select! {
            created = &mut self.created => created.map_err(|_| SetupError::Serve("the page was dropped".into())),
            ended = &mut self.server => Err(SetupError::Serve(match ended {
                Ok(Ok(())) => "the server ended".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            })),
        }?;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Let the browser's callback response finish before the process exits.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.server).await;
        Ok(created)
    }
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Escapes text for HTML element content and double- or single-quoted attributes.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Refuses requests whose `Host` is not this loopback page: a web page that rebinds its
/// own DNS name to 127.0.0.1 could otherwise read the form's `state` and drive the flow.
async fn local_host_only(
    State(flow): State<Arc<Flow>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let allowed = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| host == format!("{name}:{}", flow.port));
    if allowed {
        next.run(request).await
    } else {
        done_page(
            StatusCode::FORBIDDEN,
            "Wrong address",
            "Open the setup page through the address <code>tfpilot setup</code> printed.",
        )
    }
}

async fn page(State(flow): State<Arc<Flow>>) -> Html<String> {
    let owner = match &flow.options.org {
        Some(org) => format!("the organization <b>{}</b>", escape_html(org)),
        None => "your personal account".to_owned(),
    };
    let manifest: Value = serde_json::from_str(&flow.manifest).unwrap_or(Value::Null);
    let permissions = manifest["default_permissions"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        escape_html(k),
                        escape_html(v.as_str().unwrap_or(""))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let events = manifest["default_events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(escape_html)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>tfpilot setup</title></head>
<body style="font-family: sans-serif; max-width: 42em; margin: 2em auto">
<h1>Create the tfpilot GitHub App</h1>
<p>This creates the GitHub App <b>{name}</b> on {github} for {owner}.
GitHub will ask you to confirm, then send you back here; <code>tfpilot setup</code> then
stores the app's credentials in <code>{out}</code>.</p>
<ul>
<li>Webhook URL: <code>{webhook}</code></li>
<li>Permissions: {permissions}</li>
<li>Events: {events}</li>
</ul>
<form id="manifest-form" action="{action}" method="post">
<input type="hidden" name="manifest" value="{manifest}">
<button type="submit">Create the GitHub App on {github}</button>
</form>
</body>
</html>
"#,
        name = escape_html(&flow.options.name),
        github = escape_html(&flow.options.github_url),
        out = escape_html(&flow.options.out.display().to_string()),
        webhook = escape_html(&flow.options.webhook_url),
        action = escape_html(&flow.action),
        manifest = escape_html(&flow.manifest),
    ))
}

/// The query GitHub appends to the redirect URL.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

fn done_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tfpilot setup</title></head>\
         <body style=\"font-family: sans-serif; max-width: 42em; margin: 2em auto\"><h1>{}</h1><p>{}</p></body></html>\n",
        escape_html(title),
        body
    );
    (status, Html(html)).into_response()
}

async fn callback(State(flow): State<Arc<Flow>>, Query(q): Query<CallbackQuery>) -> Response {
    // The state proves the redirect comes from the form this process served (no CSRF).
    if q.state.as_deref() != Some(flow.state.as_str()) {
        return done_page(
            StatusCode::BAD_REQUEST,
            "Unexpected redirect",
            "The <code>state</code> does not match the form this setup page served. Start again from the setup page.",
        );
    }
    let Some(code) = q
        .code
        .filter(|c| !c.is_empty() && c.len() <= 200 && c.chars().all(|c| c.is_ascii_graphic()))
    else {
        return done_page(
            StatusCode::BAD_REQUEST,
            "No code",
            "GitHub sent no app code back. Start again from the setup page.",
        );
    };
    // Holding the lock over the exchange makes a double-submitted redirect wait, then see
    // that the app already exists instead of spending the code twice.
    let mut slot = flow.created.lock().await;
    if slot.is_none() {
        return done_page(
            StatusCode::OK,
            "Already done",
            "The app was created and its credentials written. You can close this tab.",
        );
    }
    let conversion = match convert_manifest(
        &flow.options.api_url,
        flow.options.retry.clone(),
        &code,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            let e = SetupError::from(e);
            eprintln!("error: {e}");
            return done_page(
                StatusCode::BAD_GATEWAY,
                "GitHub did not hand over the app",
                &format!(
                    "{}<br>Codes expire after an hour and work once; start again from the <a href=\"/\">setup page</a>.",
                    escape_html(&e.to_string())
                ),
            );
        }
    };
    let created = match write_credentials(
        &flow.options.out,
        &flow.options.api_url,
        &conversion,
        flow.options.force,
    ) {
        Ok(created) => created,
        Err(e) => {
            eprintln!("error: {e}");
            return done_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not store the credentials",
                &format!(
                    "{}<br>The app {} was created on GitHub: generate a new private key in its settings, or delete it and run setup again.",
                    escape_html(&e.to_string()),
                    escape_html(&conversion.html_url)
                ),
            );
        }
    };
    let html_url = escape_html(&created.html_url);
    let body = format!(
        "The GitHub App <a href=\"{html_url}\">{}</a> (id {}) exists and its credentials are in <code>{}</code>.<br>\
         Next: <a href=\"{html_url}/installations/new\">install it</a> on your infrastructure repository. \
         You can close this tab; the terminal shows the remaining steps.",
        escape_html(&created.name),
        created.id,
        escape_html(&created.paths.credentials.display().to_string()),
    );
    if let Some(tx) = slot.take() {
        let _ = tx.send(created);
    }
    done_page(StatusCode::OK, "App created", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping_covers_attribute_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
