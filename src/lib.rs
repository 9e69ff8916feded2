//! tfpilot: self-service Terraform through GitHub alone.
//!
//! A person asks for infrastructure with an issue form; tfpilot renders the
//! Terraform, opens a pull request, runs plan/apply/destroy in the repository's
//! own GitHub Actions, and shows where each request stands on the PR.

pub mod cli;
pub mod config;
pub mod core;
pub mod demo;
pub mod github;
pub mod harness;
pub mod http;
pub mod init;
pub mod render;
pub mod serve;
pub mod service;
pub mod setup;
pub mod sim;
pub mod store;
