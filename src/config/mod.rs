//! Configuration: the process config and the repository config.

pub mod catalogue;
pub mod forms;
pub mod repo;
