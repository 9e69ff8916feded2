//! The pure core: facts, rules and parsers. No I/O, no async, no clock.

pub mod classify;
pub mod command;
pub mod contract;
pub mod cost;
pub mod fingerprint;
pub mod gates;
pub mod hcl;
pub mod ids;
pub mod issue_form;
pub mod patch;
pub mod plan;
pub mod policy;
pub mod request;
pub mod status;
pub mod webhook;
