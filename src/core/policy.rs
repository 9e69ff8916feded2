//! Who may run a command: the environment's access rule (from `.github/tfpilot.yml` at
//! the default branch) against what GitHub says about a person. Pure: the service looks
//! the person up (collaborator permission, team memberships) and asks [`decide`].
//!
//! `author_association` from a payload is never used: it says how someone relates to the
//! repository (e.g. `MEMBER` of the org), not what they may do in it.

use crate::config::repo::{Access, Permission};

/// What GitHub says about the person asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person<'a> {
    /// Their login.
    pub login: &'a str,
    /// Their effective repository permission; `None` without any access.
    pub permission: Option<Permission>,
    /// The `org/slug` teams of the rule they are an active member of.
    pub teams: &'a [String],
}

/// Why a person may act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Their repository permission is high enough.
    Permission(Permission),
    /// They are a member of this team of the rule.
    Team(String),
    /// The rule names them.
    User,
}

/// A refusal: the rule that was not met and what the person has.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// The rule, as configured (defaults applied).
    pub rule: Access,
    /// Their repository permission, if any.
    pub have: Option<Permission>,
}

/// The lowercase name of a permission level, as the config spells it.
pub fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::Read => "read",
        Permission::Triage => "triage",
        Permission::Write => "write",
        Permission::Maintain => "maintain",
        Permission::Admin => "admin",
    }
}

/// The permission level from the collaborator-permission API: `role_name` first (it
/// tells `maintain` from `write` and `triage` from `read`, which the legacy
/// `permission` field folds together), else the legacy field for custom roles.
pub fn permission_level(permission: &str, role_name: &str) -> Option<Permission> {
    let named = |s: &str| match s.to_ascii_lowercase().as_str() {
        "admin" => Some(Permission::Admin),
        "maintain" => Some(Permission::Maintain),
        "write" => Some(Permission::Write),
        "triage" => Some(Permission::Triage),
        "read" => Some(Permission::Read),
        _ => None,
    };
    named(role_name).or_else(|| named(permission))
}

/// Decides whether `person` may act under `rule`: a listed user, enough repository
/// permission, or membership of a listed team (checked in that order).
pub fn decide(rule: &Access, person: &Person<'_>) -> Result<Grant, Denial> {
    if rule
        .users
        .iter()
        .any(|u| u.eq_ignore_ascii_case(person.login))
    {
        return Ok(Grant::User);
    }
    if let Some(have) = person.permission
        && have >= rule.permission
    {
        return Ok(Grant::Permission(have));
    }
    if let Some(team) = rule
        .teams
        .iter()
        .find(|t| person.teams.iter().any(|m| m.eq_ignore_ascii_case(t)))
    {
        return Ok(Grant::Team(team.clone()));
    }
    Err(Denial {
        rule: rule.clone(),
        have: person.permission,
    })
}

/// The rule in words: "`maintain` permission or higher, membership of `my-org/platform`,
/// or being `octocat`".
pub fn describe_rule(rule: &Access) -> String {
    let mut parts = vec![format!(
        "`{}` permission or higher on the repository",
        permission_name(rule.permission)
    )];
    if !rule.teams.is_empty() {
        let teams: Vec<String> = rule.teams.iter().map(|t| format!("`{t}`")).collect();
        parts.push(format!("membership of {}", join_or(&teams)));
    }
    if !rule.users.is_empty() {
        let users: Vec<String> = rule.users.iter().map(|u| format!("`{u}`")).collect();
        parts.push(format!("being {}", join_or(&users)));
    }
    join_or(&parts)
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(permission: Permission, teams: &[&str], users: &[&str]) -> Access {
        Access {
            permission,
            teams: teams.iter().map(|s| s.to_string()).collect(),
            users: users.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn maintain_is_read_from_the_role_name_not_the_legacy_write() {
        assert_eq!(
            permission_level("write", "maintain"),
            Some(Permission::Maintain)
        );
        assert_eq!(permission_level("write", "write"), Some(Permission::Write));
        assert_eq!(permission_level("read", "triage"), Some(Permission::Triage));
        assert_eq!(
            permission_level("admin", "custom-role"),
            Some(Permission::Admin)
        );
        assert_eq!(permission_level("none", "none"), None);
    }

    #[test]
    fn write_is_refused_where_maintain_is_needed_and_the_rule_is_named() {
        let r = rule(Permission::Maintain, &[], &[]);
        let p = Person {
            login: "wendy",
            permission: Some(Permission::Write),
            teams: &[],
        };
        let denial = decide(&r, &p).unwrap_err();
        assert_eq!(denial.have, Some(Permission::Write));
        assert_eq!(
            describe_rule(&denial.rule),
            "`maintain` permission or higher on the repository"
        );
    }

    #[test]
    fn users_and_teams_grant_whatever_the_permission() {
        let r = rule(Permission::Admin, &["acme/platform"], &["OctoCat"]);
        let user = Person {
            login: "octocat",
            permission: None,
            teams: &[],
        };
        assert_eq!(decide(&r, &user), Ok(Grant::User));
        let teams = vec!["acme/platform".to_string()];
        let member = Person {
            login: "pat",
            permission: Some(Permission::Read),
            teams: &teams,
        };
        assert_eq!(decide(&r, &member), Ok(Grant::Team("acme/platform".into())));
        assert_eq!(
            describe_rule(&r),
            "`admin` permission or higher on the repository, membership of `acme/platform`, or being `OctoCat`"
        );
    }
}
