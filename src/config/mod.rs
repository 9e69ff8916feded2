//! Configuration: the process config and the repository config.

pub mod catalogue;
pub mod forms;
pub mod ordered;
pub mod repo;
pub mod validate;
pub mod value;
pub mod variables_tf;
