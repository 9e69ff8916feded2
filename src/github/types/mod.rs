//! Our own shapes for the GitHub REST responses and request bodies tfpilot uses.
//!
//! Field names follow GitHub's OpenAPI description (`rest-api.subset.json`); only the
//! fields tfpilot reads are declared and unknown fields are ignored, so a richer real
//! response and a leaner simulator response both decode.

mod actions;
mod app;
mod checks;
mod git;
mod issues;
mod pulls;
mod repos;

pub use actions::*;
pub use app::*;
pub use checks::*;
pub use git::*;
pub use issues::*;
pub use pulls::*;
pub use repos::*;
