//! Repositories and who may do what in them.

use serde::{Deserialize, Serialize};

/// A repository (`full-repository`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Repository id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Default branch (apply/destroy dispatch from here).
    pub default_branch: String,
    /// Private repository.
    #[serde(default)]
    pub private: bool,
    /// Archived.
    #[serde(default)]
    pub archived: bool,
    /// Web link.
    pub html_url: String,
}

/// Repository permission level (`maintain` shows as `write`, `triage` as `read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionLevel {
    /// No access.
    None,
    /// Read (and triage).
    Read,
    /// Write (and maintain).
    Write,
    /// Admin.
    Admin,
}

/// `GET /collaborators/{username}/permission` (`repository-collaborator-permission`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollaboratorPermission {
    /// Legacy level.
    pub permission: PermissionLevel,
    /// Role name: `admin`, `maintain`, `write`, `triage`, `read` or a custom role.
    pub role_name: String,
}

/// Team membership state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MembershipState {
    /// Member.
    Active,
    /// Invited, not yet accepted: not a member for authorization.
    Pending,
}

/// `GET /orgs/{org}/teams/{team}/memberships/{username}` (`team-membership`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMembership {
    /// `member` or `maintainer`.
    pub role: String,
    /// Active or pending.
    pub state: MembershipState,
}
