//! Request ids: `req_<env>_<module>_<6 lowercase alphanumerics>`.
//!
//! A request id ends up in branch names (`request/<id>`), file names
//! (`envs/<env>/tfpilot_<id>.tf`), store keys and workflow inputs, so the validator
//! admits only `[a-z0-9_-]` in a fixed shape: no path separators, no `..`, no
//! whitespace, no quotes or `${`, nothing a shell or HCL would read specially.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest id accepted; keeps branch names, file names and run names short.
pub const MAX_ID_LEN: usize = 64;

/// Length of the random suffix.
pub const SUFFIX_LEN: usize = 6;

const PREFIX: &str = "req_";

/// Why a string is not a request id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id was empty.
    #[error("the request id is empty")]
    Empty,
    /// The id was longer than [`MAX_ID_LEN`].
    #[error("the request id is {0} characters long; at most {MAX_ID_LEN} are allowed")]
    TooLong(usize),
    /// The id did not have the `req_<env>_<module>_<suffix>` shape.
    #[error("the request id must look like req_<env>_<module>_<6 lowercase letters or digits>")]
    Shape,
    /// A part held a character outside `[a-z0-9-]`, or started or ended with `-`.
    #[error("the {part} part of the request id may only hold a-z, 0-9 and inner hyphens")]
    BadPart {
        /// Which part: `environment`, `module` or `suffix`.
        part: &'static str,
    },
}

/// A validated request id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

fn is_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_suffix(s: &str) -> bool {
    s.len() == SUFFIX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Lowercases and maps every character outside `[a-z0-9]` to `-`, collapsing runs and
/// trimming hyphens at either end, so `S3_Bucket` becomes `s3-bucket`.
fn normalise_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

impl RequestId {
    /// Validates `s` as a request id.
    pub fn parse(s: &str) -> Result<RequestId, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > MAX_ID_LEN {
            return Err(IdError::TooLong(s.len()));
        }
        let rest = s.strip_prefix(PREFIX).ok_or(IdError::Shape)?;
        let mut parts = rest.split('_');
        let (Some(env), Some(module), Some(suffix), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdError::Shape);
        };
        if !is_part(env) {
            return Err(IdError::BadPart {
                part: "environment",
            });
        }
        if !is_part(module) {
            return Err(IdError::BadPart { part: "module" });
        }
        if !is_suffix(suffix) {
            return Err(IdError::BadPart { part: "suffix" });
        }
        Ok(RequestId(s.to_string()))
    }

    /// Builds a new id from an environment, a module name and a random suffix the caller drew.
    ///
    /// Environment and module are normalised (lowercase; any run of characters outside
    /// `[a-z0-9]` becomes one `-`; hyphens trimmed), so the catalogue's `s3-bucket` stays
    /// `s3-bucket` and `S3_Bucket` becomes `s3-bucket`. When the result would exceed
    /// [`MAX_ID_LEN`], the module part is shortened: the suffix keeps ids unique, the
    /// full module name is stored in the request facts.
    pub fn generate(env: &str, module: &str, suffix: &str) -> Result<RequestId, IdError> {
        let env = normalise_part(env);
        if env.is_empty() {
            return Err(IdError::BadPart {
                part: "environment",
            });
        }
        if !is_suffix(suffix) {
            return Err(IdError::BadPart { part: "suffix" });
        }
        let mut module = normalise_part(module);
        // "req_" + env + "_" + module + "_" + suffix
        let fixed = PREFIX.len() + env.len() + 2 + SUFFIX_LEN;
        let room = MAX_ID_LEN.saturating_sub(fixed);
        if module.len() > room {
            module.truncate(room);
            while module.ends_with('-') {
                module.pop();
            }
        }
        if module.is_empty() {
            // Either the module had no usable character or the environment left no room.
            return Err(if room == 0 {
                IdError::TooLong(fixed + 1)
            } else {
                IdError::BadPart { part: "module" }
            });
        }
        RequestId::parse(&format!("{PREFIX}{env}_{module}_{suffix}"))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn part(&self, n: usize) -> &str {
        // Validated in `parse`: exactly three `_`-separated parts after the prefix.
        self.0[PREFIX.len()..].split('_').nth(n).unwrap_or("")
    }

    /// The environment part (as normalised into the id).
    pub fn env(&self) -> &str {
        self.part(0)
    }

    /// The module part (as normalised, possibly shortened, into the id).
    pub fn module(&self) -> &str {
        self.part(1)
    }

    /// The random suffix.
    pub fn suffix(&self) -> &str {
        self.part(2)
    }

    /// The Terraform module block name, `tfpilot_<id>` (see [`module_name`]).
    pub fn module_name(&self) -> String {
        module_name(&self.0)
    }

    /// The request branch, `request/<id>`.
    pub fn branch(&self) -> String {
        format!("request/{}", self.0)
    }

    /// The cleanup branch, `cleanup/<id>`.
    pub fn cleanup_branch(&self) -> String {
        format!("cleanup/{}", self.0)
    }
}

/// The seed's Terraform module name: `tfpilot_<id with every non-[A-Za-z0-9_] → _>`.
///
/// Workflows target it with `-target=module.tfpilot_<sanitized id>`. Works on any
/// string, so legacy ids that predate the validator still map to a usable name.
pub fn module_name(id: &str) -> String {
    let sanitized: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tfpilot_{sanitized}")
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RequestId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestId::parse(s)
    }
}

impl TryFrom<String> for RequestId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RequestId::parse(&s)
    }
}

impl From<RequestId> for String {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_seed_id_and_hyphenated_modules() {
        let id = RequestId::parse("req_dev_s3_tgqpp8").expect("seed id");
        assert_eq!(id.env(), "dev");
        assert_eq!(id.module(), "s3");
        assert_eq!(id.suffix(), "tgqpp8");
        let id = RequestId::parse("req_prod-eu_s3-bucket_a1b2c3").expect("hyphens");
        assert_eq!(id.env(), "prod-eu");
        assert_eq!(id.module(), "s3-bucket");
    }

    #[test]
    fn rejects_everything_else() {
        let long = format!("req_dev_{}_abcdef", "m".repeat(60));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("req_Dev_s3_tgqpp8", "uppercase env"),
            ("req_dev_s3_TGQPP8", "uppercase suffix"),
            ("REQ_dev_s3_tgqpp8", "uppercase prefix"),
            ("req_dev_.._tgqpp8", "dot-dot"),
            ("req_dev_s3..x_tgqpp8", "dot-dot inside"),
            ("req_dev/x_s3_tgqpp8", "slash"),
            ("../req_dev_s3_tgqpp8", "path traversal"),
            ("req_dev_s3 x_tgqpp8", "space"),
            ("req_dev_s3_tgqpp8 ", "trailing space"),
            ("req_dev_s3_tgqpp8\n", "newline"),
            ("req_dev\n_s3_tgqpp8", "inner newline"),
            ("req_dev_${x}_tgqpp8", "interpolation"),
            ("req_dev_`id`_tgqpp8", "backtick"),
            ("req_dev_\"s3\"_tgqpp8", "double quote"),
            ("req_dev_'s3'_tgqpp8", "single quote"),
            (&long, "over-long"),
            ("req_dev_s3_tgqpp", "short suffix"),
            ("req_dev_s3_tgqpp88", "long suffix"),
            ("req_dev_s3_tgq-p8", "hyphen in suffix"),
            ("req_dev_tgqpp8", "missing module"),
            ("req__s3_tgqpp8", "empty env"),
            ("req_dev_s3_x_tgqpp8", "extra part"),
            ("req_-dev_s3_tgqpp8", "leading hyphen"),
            ("req_dev_s3-_tgqpp8", "trailing hyphen"),
            ("dev_s3_tgqpp8", "no prefix"),
            ("req_dév_s3_tgqpp8", "non-ascii"),
        ];
        for (id, why) in cases {
            assert!(RequestId::parse(id).is_err(), "{why}: {id:?} was accepted");
        }
        assert_eq!(RequestId::parse(""), Err(IdError::Empty));
        assert_eq!(RequestId::parse(&long), Err(IdError::TooLong(long.len())));
    }

    #[test]
    fn exactly_64_characters_is_allowed() {
        let module = "m".repeat(MAX_ID_LEN - "req_dev__abcdef".len());
        let id = format!("req_dev_{module}_abcdef");
        assert_eq!(id.len(), MAX_ID_LEN);
        assert!(RequestId::parse(&id).is_ok());
        assert!(RequestId::parse(&format!("req_dev_{module}m_abcdef")).is_err());
    }

    #[test]
    fn generate_builds_valid_ids() {
        let id = RequestId::generate("dev", "s3-bucket", "tgqpp8").expect("valid");
        assert_eq!(id.as_str(), "req_dev_s3-bucket_tgqpp8");
        let id = RequestId::generate("Prod EU", "S3_Bucket..v2", "a1b2c3").expect("valid");
        assert_eq!(id.as_str(), "req_prod-eu_s3-bucket-v2_a1b2c3");
        let id = RequestId::generate("dev", &"very-long-module-".repeat(8), "a1b2c3")
            .expect("shortened");
        assert!(id.as_str().len() <= MAX_ID_LEN);
        assert!(!id.module().ends_with('-'));
        assert!(RequestId::parse(id.as_str()).is_ok());
    }

    #[test]
    fn generate_refuses_what_it_cannot_fix() {
        assert!(RequestId::generate("dev", "s3", "ABCDEF").is_err());
        assert!(RequestId::generate("dev", "s3", "abc").is_err());
        assert!(RequestId::generate("", "s3", "abcdef").is_err());
        assert!(RequestId::generate("dev", "__", "abcdef").is_err());
        assert!(RequestId::generate(&"e".repeat(60), "s3", "abcdef").is_err());
    }

    #[test]
    fn module_name_sanitizes_like_the_seed() {
        assert_eq!(
            module_name("req_dev_s3_tgqpp8"),
            "tfpilot_req_dev_s3_tgqpp8"
        );
        assert_eq!(
            module_name("req_dev_s3-bucket_tgqpp8"),
            "tfpilot_req_dev_s3_bucket_tgqpp8"
        );
        assert_eq!(module_name("a.b/c d"), "tfpilot_a_b_c_d");
        let id = RequestId::parse("req_dev_s3-bucket_tgqpp8").expect("valid");
        assert_eq!(id.module_name(), "tfpilot_req_dev_s3_bucket_tgqpp8");
        assert_eq!(id.branch(), "request/req_dev_s3-bucket_tgqpp8");
        assert_eq!(id.cleanup_branch(), "cleanup/req_dev_s3-bucket_tgqpp8");
    }

    #[test]
    fn serde_validates() {
        let ok: Result<RequestId, _> = serde_json::from_str("\"req_dev_s3_tgqpp8\"");
        assert!(ok.is_ok());
        let bad: Result<RequestId, _> = serde_json::from_str("\"req_dev_s3_../x\"");
        assert!(bad.is_err());
    }
}
