//! Configuration: the process config and the repository config.

pub mod repo;
