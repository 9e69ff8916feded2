//! Fuzz targets for everything tfpilot parses from people or GitHub: webhook bodies,
//! `/tfpilot` comments, issue-form bodies, the repository config, and the Terraform
//! renderer fed with whatever those let through.
//!
//! Each target is a proptest run bounded by `TFPILOT_FUZZ_CASES` (default 256) and
//! `TFPILOT_FUZZ_SECONDS` (default 60) so it runs in the normal suite; docs/fuzzing.md
//! says how to run longer. A crash found here becomes a named `#[test]` with the
//! minimal input (in the target's module), and proptest keeps the failing seeds in
//! `tests/fuzz-regressions/<target>.txt`, replayed first on every run.

#[path = "fuzz_parsers/command.rs"]
mod command;
#[path = "fuzz_parsers/common.rs"]
mod common;
#[path = "fuzz_parsers/config.rs"]
mod config;
#[path = "fuzz_parsers/issue_form.rs"]
mod issue_form;
#[path = "fuzz_parsers/render.rs"]
mod render;
#[path = "fuzz_parsers/webhook.rs"]
mod webhook;
