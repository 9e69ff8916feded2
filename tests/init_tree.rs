//! `tfpilot init` into a repository checkout: the tree it writes, idempotence, and that a
//! file someone changed is kept unless `force`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tfpilot::core::contract::{self, WORKFLOWS};
use tfpilot::init::{self, FileAction, InitError, InitOptions, TEMPLATE_FILES};

const FORM_PATH: &str = ".github/ISSUE_TEMPLATE/tfpilot-request.yml";
const FORM: &str = "name: Infrastructure request\ndescription: test form\nbody: []\n";

fn opts(force: bool) -> InitOptions {
    InitOptions {
        force,
        extra_files: vec![(PathBuf::from(FORM_PATH), FORM.to_owned())],
    }
}

/// Every file under `root`: relative path, sha256 of the contents.
fn tree(root: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("inside").to_string_lossy();
                let hash = hex::encode(Sha256::digest(std::fs::read(&path).expect("read")));
                out.push((rel.replace('\\', "/"), hash));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn tree_text(root: &Path) -> String {
    tree(root)
        .into_iter()
        .map(|(path, hash)| format!("{hash}  {path}\n"))
        .collect()
}

fn mtimes(root: &Path) -> Vec<(String, SystemTime)> {
    tree(root)
        .into_iter()
        .map(|(path, _)| {
            let t = std::fs::metadata(root.join(&path))
                .and_then(|m| m.modified())
                .expect("mtime");
            (path, t)
        })
        .collect()
}

#[test]
fn init_into_an_empty_checkout_writes_the_pinned_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = init::run(dir.path(), opts(false)).expect("init");
    assert!(report.changed());
    assert!(report.files.iter().all(|f| f.action == FileAction::Created));
    insta::assert_snapshot!("init_tree", tree_text(dir.path()));
}

#[test]
fn the_workflows_land_where_the_app_dispatches_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    init::run(dir.path(), InitOptions::default()).expect("init");
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/workflows");
    for workflow in WORKFLOWS {
        let installed =
            std::fs::read_to_string(dir.path().join(workflow.path())).expect("installed workflow");
        let template = std::fs::read_to_string(templates.join(workflow.file)).expect("template");
        assert_eq!(installed, template, "{}", workflow.file);
    }
    assert_eq!(
        TEMPLATE_FILES.len(),
        WORKFLOWS.len() + extra_template_count()
    );
}

/// Template files beyond the workflows (fingerprint script, example config) as they land.
fn extra_template_count() -> usize {
    TEMPLATE_FILES
        .iter()
        .filter(|f| !f.path.starts_with(contract::WORKFLOWS_DIR))
        .count()
}

#[test]
fn a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    init::run(dir.path(), opts(false)).expect("first init");
    // Age every file, so a rewrite with the same bytes would still show up as a new mtime.
    let old = SystemTime::now() - Duration::from_secs(3600);
    for (path, _) in tree(dir.path()) {
        let file = std::fs::File::options()
            .write(true)
            .open(dir.path().join(path))
            .expect("open");
        file.set_modified(old).expect("set mtime");
    }
    let before = (tree(dir.path()), mtimes(dir.path()));
    let report = init::run(dir.path(), opts(false)).expect("second init");
    assert!(!report.changed());
    assert!(
        report
            .files
            .iter()
            .all(|f| f.action == FileAction::Unchanged)
    );
    assert_eq!((tree(dir.path()), mtimes(dir.path())), before);
    assert!(report.to_string().contains("Nothing to write"));
}

#[test]
fn a_changed_file_is_kept_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    init::run(dir.path(), opts(false)).expect("first init");
    let plan = dir.path().join(contract::PLAN.path());
    let edited = "# our own plan workflow\n";
    std::fs::write(&plan, edited).expect("edit");
    std::fs::remove_file(dir.path().join(FORM_PATH)).expect("remove form");

    let report = init::run(dir.path(), opts(false)).expect("init again");
    assert_eq!(std::fs::read_to_string(&plan).expect("read"), edited);
    let skipped: Vec<_> = report.skipped().map(|f| f.path.clone()).collect();
    assert_eq!(skipped, [PathBuf::from(contract::PLAN.path())]);
    let form = report
        .files
        .iter()
        .find(|f| f.path == Path::new(FORM_PATH))
        .expect("form in report");
    assert_eq!(
        form.action,
        FileAction::Created,
        "a deleted file comes back"
    );
    let text = report.to_string();
    assert!(
        text.contains("skipped    .github/workflows/tfpilot-plan.yml  (differs from the template; kept, --force replaces it)"),
        "{text}"
    );

    let forced = init::run(dir.path(), opts(true)).expect("init --force");
    let replaced: Vec<_> = forced
        .files
        .iter()
        .filter(|f| f.action == FileAction::Replaced)
        .map(|f| f.path.clone())
        .collect();
    assert_eq!(replaced, [PathBuf::from(contract::PLAN.path())]);
    let template = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("templates/workflows")
        .join(contract::PLAN.file);
    assert_eq!(
        std::fs::read(&plan).expect("read"),
        std::fs::read(template).expect("template")
    );
}

#[test]
fn a_path_outside_the_repository_is_refused_before_anything_is_written() {
    for bad in ["../escape.yml", "/etc/tfpilot.yml", ".github/../../x", ""] {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = InitOptions {
            force: false,
            extra_files: vec![(PathBuf::from(bad), "x".to_owned())],
        };
        let err = init::run(dir.path(), opts).expect_err(bad);
        assert!(matches!(err, InitError::UnsafePath { .. }), "{bad}: {err}");
        assert!(tree(dir.path()).is_empty(), "{bad}: wrote something");
    }
}

#[test]
fn a_duplicate_path_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = InitOptions {
        force: false,
        extra_files: vec![(PathBuf::from(contract::APPLY.path()), "x".to_owned())],
    };
    let err = init::run(dir.path(), opts).expect_err("duplicate");
    assert!(matches!(err, InitError::Duplicate { .. }), "{err}");
    assert!(tree(dir.path()).is_empty());
}

#[test]
fn a_missing_target_or_a_directory_in_the_way_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let err = init::run(&missing, InitOptions::default()).expect_err("missing");
    assert!(matches!(err, InitError::NotADirectory { .. }));
    assert!(err.to_string().contains("is not a directory"));

    std::fs::create_dir_all(dir.path().join(contract::DESTROY.path())).expect("mkdir");
    let err = init::run(dir.path(), InitOptions::default()).expect_err("dir in the way");
    assert!(matches!(err, InitError::NotAFile { .. }), "{err}");
}

#[test]
fn the_report_lists_what_to_set_on_github() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = init::run(dir.path(), opts(false)).expect("init");
    let text = report
        .to_string()
        .replace(&dir.path().display().to_string(), "<repo>");
    insta::assert_snapshot!("init_report", text);
    for setting in contract::VARIABLES.iter().chain(contract::SECRETS) {
        assert!(text.contains(setting.name), "{}", setting.name);
    }
}

/// The apply workflow runs `.github/tfpilot/fingerprint.py` and tfpilot reads
/// `.github/tfpilot.yml`: once their templates exist in the crate, init must install them
/// (this fails until `TEMPLATE_FILES` lists them, so neither can be forgotten).
#[test]
fn templates_the_workflows_depend_on_are_installed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (template, destination) in [
        (
            "templates/scripts/fingerprint.py",
            contract::FINGERPRINT_SCRIPT_PATH,
        ),
        ("templates/tfpilot.yml", ".github/tfpilot.yml"),
    ] {
        let Ok(contents) = std::fs::read_to_string(root.join(template)) else {
            eprintln!("SKIP: {template} is not in this checkout yet");
            continue;
        };
        let entry = TEMPLATE_FILES
            .iter()
            .find(|f| f.path == destination)
            .unwrap_or_else(|| panic!("init::TEMPLATE_FILES does not install {template}"));
        assert_eq!(
            entry.contents, contents,
            "{destination} differs from {template}"
        );
    }
}
