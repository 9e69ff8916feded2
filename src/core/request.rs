//! The request document (placeholder until the foundation lands).

use serde::{Deserialize, Serialize};

/// A request document as stored in `requests/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The request id, `req_<env>_<module>_<6 chars>`.
    pub id: String,
    /// Incremented on every stored write.
    #[serde(default)]
    pub version: u64,
    /// Everything else, preserved as-is.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
