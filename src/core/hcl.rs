//! Rendering a request as Terraform: one file `envs/<env>/tfpilot_<id>.tf` holding one
//! module block between tfpilot's begin/end markers.
//!
//! Deterministic (same inputs in any order → same bytes), formatted exactly as
//! `terraform fmt` would (its `=` alignment included, which hcl-rs's formatter lacks),
//! and injection-safe: every user value becomes an escaped HCL string literal with
//! `${`/`%{` doubled, numbers and bools are written only from parsed values, and the
//! output is parsed back and compared before it is returned.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::config::catalogue::{InputValue, ModuleSource, ValueFrom};
use crate::config::repo::RepoConfig;
use crate::core::issue_form::RequestInputs;

/// Recorded as `rendererVersion`; bump when the output for the same inputs changes.
pub const RENDERER_VERSION: &str = "tfpilot-renderer@1";

/// Terraform's module meta-arguments: never accepted as input names.
pub const META_ARGUMENTS: [&str; 7] = [
    "source",
    "version",
    "count",
    "for_each",
    "providers",
    "depends_on",
    "lifecycle",
];

/// A rendered request file and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Repository path, `<env directory>/tfpilot_<id>.tf`.
    pub path: String,
    /// The file's text.
    pub content: String,
    /// `sha256:<hex>` of `content`.
    pub render_hash: String,
    /// `sha256:<hex>` of the canonical JSON (sorted keys, no spaces) of the module arguments.
    pub inputs_hash: String,
    /// [`RENDERER_VERSION`].
    pub renderer_version: &'static str,
}

/// Why a request could not be rendered. These are internal errors: the inputs were
/// validated before rendering, so reaching one means a bug or a tampered request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// The request id has characters that cannot appear in a file name or marker.
    #[error("request id {0:?} is not safe to render")]
    InvalidRequestId(String),
    /// The environment is not in the config.
    #[error("unknown environment `{0}`")]
    UnknownEnvironment(String),
    /// The module is not in the catalogue.
    #[error("unknown module `{0}`")]
    UnknownModule(String),
    /// The module's source is not usable.
    #[error("module source: {0}")]
    Source(String),
    /// An argument name is not a plain Terraform identifier or is a meta-argument.
    #[error("argument name {0:?} cannot be rendered")]
    InvalidArgumentName(String),
    /// The environment directory is not a plain relative path.
    #[error("environment directory {0:?} is not a plain relative path")]
    InvalidDirectory(String),
    /// Parsing the output back did not give the inputs (a renderer bug; nothing is written).
    #[error("rendered file does not parse back to its inputs: {0}")]
    RoundTrip(String),
}

/// The pieces of one request file, all resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleFile<'a> {
    /// The request id (`req_<env>_<module>_<6 chars>`).
    pub request_id: &'a str,
    /// The environment's Terraform root, relative to the repository root.
    pub env_directory: &'a str,
    /// Where the module's code is.
    pub source: &'a ModuleSource,
    /// Module arguments by name.
    pub arguments: &'a BTreeMap<String, InputValue>,
}

/// The module block name for a request: `tfpilot_<id with non-[A-Za-z0-9_] → _>`, as the
/// workflows' `-target=module.…` computes it.
pub fn module_block_name(request_id: &str) -> String {
    let sanitized: String = request_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tfpilot_{sanitized}")
}

/// The begin marker line of a request's block.
pub fn begin_marker(request_id: &str) -> String {
    format!("# --- tfpilot:begin:{request_id} ---")
}

/// The end marker line of a request's block.
pub fn end_marker(request_id: &str) -> String {
    format!("# --- tfpilot:end:{request_id} ---")
}

/// The repository path of a request's file.
pub fn request_file_path(env_directory: &str, request_id: &str) -> String {
    format!(
        "{}/tfpilot_{request_id}.tf",
        env_directory.trim_end_matches('/')
    )
}

/// Renders a validated request (see [`module_arguments`] for what goes in the block).
pub fn render_request(
    config: &RepoConfig,
    request: &RequestInputs,
    request_id: &str,
    requested_by: &str,
) -> Result<RenderedFile, RenderError> {
    let env = config
        .environment(&request.environment)
        .ok_or_else(|| RenderError::UnknownEnvironment(request.environment.clone()))?;
    let module = config
        .module(&request.module)
        .ok_or_else(|| RenderError::UnknownModule(request.module.clone()))?;
    let source = module.module_source().map_err(RenderError::Source)?;
    let arguments = module_arguments(config, request, request_id, requested_by)?;
    let directory = env.directory(&request.environment);
    render_module_file(&ModuleFile {
        request_id,
        env_directory: &directory,
        source: &source,
        arguments: &arguments,
    })
}

/// The module block's arguments for a request (the seed's `config` block): the request's
/// inputs, the `value_from` inputs, and tfpilot's tags merged into a `tags` map input when
/// the module has one (tfpilot's tags win over the person's).
pub fn module_arguments(
    config: &RepoConfig,
    request: &RequestInputs,
    request_id: &str,
    requested_by: &str,
) -> Result<BTreeMap<String, InputValue>, RenderError> {
    let module = config
        .module(&request.module)
        .ok_or_else(|| RenderError::UnknownModule(request.module.clone()))?;
    let mut arguments = request.inputs.clone();
    for (name, spec) in module.inputs.iter() {
        if let Some(from) = spec.value_from {
            let v = match from {
                ValueFrom::Environment => request.environment.clone(),
                ValueFrom::RequestId => request_id.to_owned(),
                ValueFrom::RequestedBy => requested_by.to_owned(),
            };
            arguments.insert(name.to_owned(), InputValue::String(v));
        }
    }
    if module.tags_input().is_some() {
        let mut tags = match arguments.remove("tags") {
            Some(InputValue::Map(m)) => m,
            _ => BTreeMap::new(),
        };
        tags.extend(tfpilot_tags(
            request_id,
            &request.environment,
            request.project(),
            requested_by,
            request.preset.as_deref(),
        ));
        arguments.insert("tags".to_owned(), InputValue::Map(tags));
    }
    Ok(arguments)
}

/// tfpilot's tags for a request, as in the seed.
pub fn tfpilot_tags(
    request_id: &str,
    environment: &str,
    project: Option<&str>,
    requested_by: &str,
    preset: Option<&str>,
) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        t.insert(k.to_owned(), v.to_owned());
    };
    put("ManagedBy", "tfpilot");
    put("TfPilotRequestId", request_id);
    put("Environment", environment);
    put("tfpilot:request_id", request_id);
    put("tfpilot:environment", environment);
    put("tfpilot:created_by", requested_by);
    if let Some(p) = project {
        put("Project", p);
        put("tfpilot:project", p);
    }
    if let Some(p) = preset {
        put("tfpilot:template_id", p);
    }
    t
}

/// Renders one request file from resolved pieces, checks it parses back to the same
/// values, and hashes it.
pub fn render_module_file(file: &ModuleFile<'_>) -> Result<RenderedFile, RenderError> {
    let id = file.request_id;
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(RenderError::InvalidRequestId(id.to_owned()));
    }
    let dir = file.env_directory.trim_end_matches('/');
    crate::config::catalogue::check_repo_path(dir)
        .map_err(|_| RenderError::InvalidDirectory(dir.to_owned()))?;
    for name in file.arguments.keys() {
        if !crate::config::repo::is_identifier(name) || META_ARGUMENTS.contains(&name.as_str()) {
            return Err(RenderError::InvalidArgumentName(name.clone()));
        }
    }
    let (source_value, version) = match file.source {
        ModuleSource::RepoPath(p) => {
            let depth = dir.split('/').count();
            (format!("{}{}", "../".repeat(depth), p), None)
        }
        ModuleSource::Registry { address, version } => (address.clone(), Some(version.clone())),
        ModuleSource::Git { url, git_ref } => {
            let sep = if url.contains('?') { '&' } else { '?' };
            (format!("{url}{sep}ref={git_ref}"), None)
        }
    };
    let mut head = vec![Item::Attr("source".to_owned(), Expr::Str(source_value))];
    if let Some(v) = version {
        head.push(Item::Attr("version".to_owned(), Expr::Str(v)));
    }
    let mut items = head;
    if !file.arguments.is_empty() {
        items.push(Item::Blank);
    }
    for (name, value) in file.arguments {
        items.push(Item::Attr(name.clone(), Expr::from_value(value)));
    }
    let mut content = String::new();
    content.push_str(&begin_marker(id));
    content.push('\n');
    let _ = writeln!(content, "module \"{}\" {{", module_block_name(id));
    write_items(&mut content, &items, 1);
    content.push_str("}\n");
    content.push_str(&end_marker(id));
    content.push('\n');

    check_round_trip(&content, &module_block_name(id), file.arguments)?;

    let canonical =
        serde_json::to_string(file.arguments).map_err(|e| RenderError::RoundTrip(e.to_string()))?;
    Ok(RenderedFile {
        path: request_file_path(dir, id),
        render_hash: sha256(content.as_bytes()),
        inputs_hash: sha256(canonical.as_bytes()),
        content,
        renderer_version: RENDERER_VERSION,
    })
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An HCL expression tfpilot writes: only literals, never references or templates.
enum Expr {
    Str(String),
    Raw(String),
    List(Vec<String>),
    Object(Vec<(String, String)>),
}

impl Expr {
    fn from_value(v: &InputValue) -> Expr {
        match v {
            InputValue::String(s) => Expr::Str(s.clone()),
            InputValue::Bool(b) => Expr::Raw(b.to_string()),
            // serde_json::Number prints integers exactly and floats in shortest
            // round-trip form, both valid HCL number literals.
            InputValue::Number(n) => Expr::Raw(n.to_string()),
            InputValue::List(items) => Expr::List(items.clone()),
            InputValue::Map(m) => {
                Expr::Object(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
        }
    }

    fn single_line(&self) -> Option<String> {
        match self {
            Expr::Str(s) => Some(hcl_string(s)),
            Expr::Raw(r) => Some(r.clone()),
            Expr::List(items) => Some(format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| hcl_string(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Expr::Object(entries) if entries.is_empty() => Some("{}".to_owned()),
            Expr::Object(_) => None,
        }
    }
}

enum Item {
    Blank,
    Attr(String, Expr),
}

/// Writes attributes the way `terraform fmt` lays them out: within a run of adjacent
/// single-line attributes, `=` is aligned one space after the longest key (counted in
/// characters, as hclwrite counts runes); a multi-line value or a blank line ends the run.
fn write_items(out: &mut String, items: &[Item], depth: usize) {
    let indent = "  ".repeat(depth);
    let mut i = 0;
    while i < items.len() {
        match &items[i] {
            Item::Blank => {
                out.push('\n');
                i += 1;
            }
            Item::Attr(key, Expr::Object(entries)) if !entries.is_empty() => {
                let _ = writeln!(out, "{indent}{key} = {{");
                let inner: Vec<Item> = entries
                    .iter()
                    .map(|(k, v)| Item::Attr(object_key(k), Expr::Str(v.clone())))
                    .collect();
                write_items(out, &inner, depth + 1);
                let _ = writeln!(out, "{indent}}}");
                i += 1;
            }
            Item::Attr(..) => {
                let mut run = Vec::new();
                while let Some(Item::Attr(k, e)) = items.get(i) {
                    match e.single_line() {
                        Some(line) => run.push((k, line)),
                        None => break,
                    }
                    i += 1;
                }
                let width = run
                    .iter()
                    .map(|(k, _)| k.chars().count())
                    .max()
                    .unwrap_or(0);
                for (k, line) in run {
                    let pad = width - k.chars().count();
                    let _ = writeln!(out, "{indent}{k}{} = {line}", " ".repeat(pad));
                }
            }
        }
    }
}

/// An object key: bare when it is a plain identifier (and not a keyword), else quoted.
fn object_key(k: &str) -> String {
    let plain = crate::config::repo::is_identifier(k) && !matches!(k, "true" | "false" | "null");
    if plain { k.to_owned() } else { hcl_string(k) }
}

/// Escapes any string as an HCL quoted string literal: `"` and `\` escaped, line
/// breaks, tabs and control or invisible formatting characters as escapes, and the
/// template openers `${` / `%{` doubled so nothing interpolates.
pub fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() || is_invisible(c) => {
                let cp = c as u32;
                if cp > 0xFFFF {
                    let _ = write!(out, "\\U{cp:08X}");
                } else {
                    let _ = write!(out, "\\u{cp:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters that change how text looks without being seen (bidi overrides, zero-width
/// marks, line/paragraph separators): escaped so a reviewer sees them in the PR diff.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Parses the rendered file with hcl-rs and checks the module block holds exactly the
/// arguments (values compared after evaluation, so `$${` must come back as `${`).
fn check_round_trip(
    content: &str,
    block_name: &str,
    arguments: &BTreeMap<String, InputValue>,
) -> Result<(), RenderError> {
    let parsed = parsed_module_arguments(content, block_name).map_err(RenderError::RoundTrip)?;
    for (name, want) in arguments {
        let got = parsed
            .get(name)
            .ok_or_else(|| RenderError::RoundTrip(format!("`{name}` is missing")))?;
        if !value_matches(got, want) {
            return Err(RenderError::RoundTrip(format!(
                "`{name}` parses back differently"
            )));
        }
    }
    Ok(())
}

/// The evaluated attributes of `module "<block_name>"` in an HCL file (used to check
/// renders, and by tests).
pub fn parsed_module_arguments(
    content: &str,
    block_name: &str,
) -> Result<BTreeMap<String, hcl::Value>, String> {
    use hcl::eval::{Context, Evaluate};
    let body = hcl::parse(content).map_err(|e| e.to_string())?;
    let block = body
        .blocks()
        .find(|b| {
            b.identifier() == "module" && b.labels().first().map(|l| l.as_str()) == Some(block_name)
        })
        .ok_or_else(|| format!("no module block `{block_name}`"))?;
    let ctx = Context::new();
    let mut out = BTreeMap::new();
    for attr in block.body().attributes() {
        let v = attr.expr().evaluate(&ctx).map_err(|e| e.to_string())?;
        out.insert(attr.key().to_owned(), v);
    }
    Ok(out)
}

/// Whether an evaluated HCL value equals a typed input exactly.
pub fn value_matches(got: &hcl::Value, want: &InputValue) -> bool {
    match (got, want) {
        (hcl::Value::String(g), InputValue::String(w)) => g == w,
        (hcl::Value::Bool(g), InputValue::Bool(w)) => g == w,
        (hcl::Value::Number(g), InputValue::Number(w)) => match (w.as_i64(), w.as_u64()) {
            (Some(i), _) => g.as_i64() == Some(i),
            (None, Some(u)) => g.as_u64() == Some(u),
            _ => g.as_f64() == w.as_f64(),
        },
        (hcl::Value::Array(g), InputValue::List(w)) => {
            g.len() == w.len()
                && g.iter()
                    .zip(w)
                    .all(|(a, b)| matches!(a, hcl::Value::String(s) if s == b))
        }
        (hcl::Value::Object(g), InputValue::Map(w)) => {
            g.len() == w.len()
                && w.iter()
                    .all(|(k, v)| matches!(g.get(k), Some(hcl::Value::String(s)) if s == v))
        }
        _ => false,
    }
}

/// What is left of a file after removing one request's block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Other content remains: write this text.
    Remaining(String),
    /// Nothing but whitespace remains: delete the file.
    Empty,
}

/// Why a block could not be removed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RemoveError {
    /// No begin marker line for the request.
    #[error("no tfpilot block for `{0}` in the file")]
    NotFound(String),
    /// A begin marker without its end marker after it, or markers twice.
    #[error("the tfpilot markers for `{0}` are unbalanced; fix the file by hand")]
    Unbalanced(String),
}

/// Removes a request's block (begin marker through end marker, whole lines) from a file
/// that may hold others, for the cleanup PR. Markers must be whole lines, so a marker
/// quoted inside a string value never matches.
pub fn remove_request_block(content: &str, request_id: &str) -> Result<Removal, RemoveError> {
    let begin = begin_marker(request_id);
    let end = end_marker(request_id);
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let is = |line: &str, marker: &str| line.trim_end_matches(['\n', '\r']).trim_end() == marker;
    let starts: Vec<usize> = (0..lines.len()).filter(|&i| is(lines[i], &begin)).collect();
    let ends: Vec<usize> = (0..lines.len()).filter(|&i| is(lines[i], &end)).collect();
    let (start, stop) = match (starts.as_slice(), ends.as_slice()) {
        ([], []) => return Err(RemoveError::NotFound(request_id.to_owned())),
        ([s], [e]) if s < e => (*s, *e),
        _ => return Err(RemoveError::Unbalanced(request_id.to_owned())),
    };
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    kept.extend_from_slice(&lines[..start]);
    let mut rest = &lines[stop + 1..];
    // Drop one blank separator line so removals don't accumulate blank lines.
    let prev_blank = kept.last().is_none_or(|l| l.trim().is_empty());
    if prev_blank && rest.first().is_some_and(|l| l.trim().is_empty()) {
        rest = &rest[1..];
    }
    kept.extend_from_slice(rest);
    let text: String = kept.concat();
    if text.trim().is_empty() {
        Ok(Removal::Empty)
    } else {
        Ok(Removal::Remaining(text))
    }
}
