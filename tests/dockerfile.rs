//! `docker build` is not available here, so the Dockerfile is read like Docker reads it
//! (instructions, line continuations, stages) and checked: a Rust builder stage with a
//! locked release build, a distroless runtime stage running as non-root, a healthcheck
//! that needs no shell, and a build context that holds what the build needs.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One instruction: keyword (upper case) and its arguments, continuations joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

/// A stage: its `FROM` image, `AS` name and instructions after the `FROM`.
#[derive(Debug, Clone)]
struct Stage {
    image: String,
    name: Option<String>,
    body: Vec<Instruction>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parse(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        // Comments and parser directives; inside a continuation they are skipped too.
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let full = std::mem::take(&mut pending);
        let (keyword, args) = full.split_once(char::is_whitespace).unwrap_or((&full, ""));
        out.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_owned(),
        });
    }
    assert!(pending.is_empty(), "dangling line continuation");
    out
}

fn stages(instructions: Vec<Instruction>) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for ins in instructions {
        if ins.keyword == "FROM" {
            let words: Vec<&str> = ins.args.split_whitespace().collect();
            let (image, name) = match words.as_slice() {
                [image] => ((*image).to_owned(), None),
                [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    ((*image).to_owned(), Some((*name).to_owned()))
                }
                _ => panic!("unexpected FROM {}", ins.args),
            };
            stages.push(Stage {
                image,
                name,
                body: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("instruction before the first FROM")
                .body
                .push(ins);
        }
    }
    stages
}

fn dockerfile() -> Vec<Stage> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    stages(parse(&text))
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.body
            .iter()
            .filter(|i| i.keyword == keyword)
            .map(|i| i.args.as_str())
            .collect()
    }

    fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last().copied()
    }
}

/// An exec-form (JSON array) argument list; shell form needs a shell distroless lacks.
fn exec_form(args: &str) -> Vec<String> {
    let value: Value =
        serde_json::from_str(args).unwrap_or_else(|e| panic!("not exec form: {args}: {e}"));
    serde_json::from_value(value).expect("array of strings")
}

#[test]
fn two_stages_a_locked_rust_build_and_a_distroless_runtime() {
    let stages = dockerfile();
    assert_eq!(stages.len(), 2);
    let builder = &stages[0];
    assert_eq!(builder.name.as_deref(), Some("builder"));
    assert!(builder.image.starts_with("rust:"), "{}", builder.image);
    assert!(
        builder
            .all("RUN")
            .iter()
            .any(|r| r.contains("cargo build --release --locked")),
        "release build with the lock file"
    );

    let runtime = &stages[1];
    assert!(
        runtime.image.starts_with("gcr.io/distroless/") || runtime.image == "scratch",
        "{}",
        runtime.image
    );
    assert!(
        runtime.all("RUN").is_empty(),
        "no shell in the runtime stage"
    );
    for image in stages.iter().map(|s| &s.image) {
        assert!(
            !image.ends_with(":latest") && image.contains(':'),
            "{image}: pin a tag"
        );
    }
}

#[test]
fn the_builder_uses_at_least_the_crates_rust_version() {
    let cargo: String = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let wanted = cargo
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .expect("rust-version")
        .trim_matches('"')
        .to_owned();
    let image = dockerfile()[0].image.clone();
    let tag = image.strip_prefix("rust:").expect("rust image");
    let version = tag.split('-').next().expect("version");
    let parse = |v: &str| -> Vec<u32> {
        v.split('.')
            .map(|p| p.parse().expect("numeric version"))
            .collect()
    };
    assert!(
        parse(version) >= parse(&wanted),
        "rust image {version} older than rust-version {wanted}"
    );
}

#[test]
fn the_runtime_runs_the_binary_as_a_non_root_user() {
    let stages = dockerfile();
    let runtime = stages.last().expect("runtime stage");
    let user = runtime.last("USER").expect("USER in the runtime stage");
    let uid = user.split(':').next().expect("user");
    assert!(
        !matches!(uid, "root" | "0") && !uid.is_empty(),
        "runs as root: USER {user}"
    );
    if runtime.image.ends_with(":nonroot") {
        // distroless' nonroot user is 65532; a numeric USER lets Kubernetes verify runAsNonRoot.
        assert!(matches!(uid, "65532" | "nonroot"), "USER {user}");
    }

    let entrypoint = exec_form(runtime.last("ENTRYPOINT").expect("ENTRYPOINT"));
    let binary = entrypoint.first().expect("entrypoint binary").clone();
    let copies_binary = runtime.all("COPY").iter().any(|c| {
        c.contains("--from=builder") && c.split_whitespace().last() == Some(binary.as_str())
    });
    assert!(
        copies_binary,
        "the runtime copies {binary} from the builder"
    );
    let cmd = exec_form(runtime.last("CMD").expect("CMD"));
    assert_eq!(cmd, ["serve"]);
}

#[test]
fn the_healthcheck_calls_the_binary_and_the_port_is_the_listen_port() {
    let stages = dockerfile();
    let runtime = stages.last().expect("runtime stage");
    let health = runtime.last("HEALTHCHECK").expect("HEALTHCHECK");
    let (options, command) = health.split_once("CMD").expect("HEALTHCHECK ... CMD");
    for option in ["--interval=", "--timeout=", "--retries="] {
        assert!(options.contains(option), "HEALTHCHECK {option}");
    }
    let entrypoint = exec_form(runtime.last("ENTRYPOINT").expect("ENTRYPOINT"));
    assert_eq!(
        exec_form(command.trim()),
        [entrypoint[0].clone(), "healthcheck".to_owned()]
    );

    let listen = runtime
        .all("ENV")
        .iter()
        .find_map(|e| e.strip_prefix("TFPILOT_LISTEN="))
        .expect("ENV TFPILOT_LISTEN")
        .to_owned();
    assert!(
        listen.starts_with("0.0.0.0:"),
        "reachable from outside: {listen}"
    );
    let port = listen.rsplit(':').next().expect("port");
    assert!(
        runtime
            .all("EXPOSE")
            .iter()
            .any(|e| e.split('/').next() == Some(port)),
        "EXPOSE {port}"
    );
}

fn dockerignore() -> Vec<String> {
    std::fs::read_to_string(root().join(".dockerignore"))
        .expect(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches('/').trim_end_matches('/').to_owned())
        .collect()
}

#[test]
fn the_build_context_leaves_out_local_state() {
    let ignored = dockerignore();
    for entry in [
        "target",
        ".venv-tools",
        "node_modules",
        "tfpilot-data",
        ".git",
    ] {
        assert!(
            ignored.iter().any(|i| i == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

/// Every file the crate embeds with `include_str!`/`include_bytes!` must reach the builder.
#[test]
fn the_build_context_keeps_what_the_crate_embeds() {
    let ignored = dockerignore();
    let re = regex::Regex::new(r#"include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)"#).expect("regex");
    let mut checked = 0;
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            for c in re.captures_iter(&text) {
                let embedded = normalize(&path.parent().expect("dir").join(&c[1]));
                let rel = embedded.strip_prefix(root()).unwrap_or_else(|_| {
                    panic!("{} embeds a file outside the crate", path.display())
                });
                let first = rel
                    .components()
                    .next()
                    .expect("component")
                    .as_os_str()
                    .to_string_lossy()
                    .into_owned();
                assert!(
                    !ignored.contains(&first),
                    "{} is embedded but .dockerignore drops {first}",
                    rel.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "the workflow templates are embedded");
}

/// Resolves `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_parser_reads_continuations_and_stages() {
    let sample = "# c\nFROM a:1 AS b\nRUN x \\\n  # inner comment\n  && y\nFROM c:2\nUSER 1\n";
    let s = stages(parse(sample));
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].name.as_deref(), Some("b"));
    assert_eq!(s[0].all("RUN"), ["x && y"]);
    assert_eq!(s[1].last("USER"), Some("1"));
}
