//! Issues, comments, reactions and labels.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user or bot account (`simple-user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name, e.g. `octocat` or `tfpilot[bot]`.
    pub login: String,
    /// Numeric account id.
    pub id: u64,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// An issue or pull-request conversation comment (`issue-comment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueComment {
    /// Comment id.
    pub id: u64,
    /// Markdown body (absent only when GitHub was asked for html/text only).
    #[serde(default)]
    pub body: String,
    /// Link to the comment.
    pub html_url: String,
    /// Author; null for deleted accounts.
    pub user: Option<User>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last edit time.
    pub updated_at: DateTime<Utc>,
    /// The GitHub App that posted it, when an App did.
    #[serde(default)]
    pub performed_via_github_app: Option<AppRef>,
}

/// The GitHub App behind an action (`performed_via_github_app`; only its id is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRef {
    /// The App id.
    pub id: u64,
}

/// Reaction emoji names accepted by GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReactionContent {
    /// 👍
    #[serde(rename = "+1")]
    PlusOne,
    /// 👎
    #[serde(rename = "-1")]
    MinusOne,
    /// 😄
    #[serde(rename = "laugh")]
    Laugh,
    /// 😕
    #[serde(rename = "confused")]
    Confused,
    /// ❤️
    #[serde(rename = "heart")]
    Heart,
    /// 🎉
    #[serde(rename = "hooray")]
    Hooray,
    /// 🚀
    #[serde(rename = "rocket")]
    Rocket,
    /// 👀
    #[serde(rename = "eyes")]
    Eyes,
}

/// A reaction (`reaction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// Reaction id.
    pub id: u64,
    /// Which emoji.
    pub content: ReactionContent,
    /// Who reacted.
    pub user: Option<User>,
}

/// Open or closed, for issues and pull requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    /// Open.
    Open,
    /// Closed (for a PR: closed or merged).
    Closed,
}

/// A label as it appears on an issue: GitHub's schema allows a bare name or an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IssueLabel {
    /// The label object (`label`).
    Object {
        /// Label name.
        name: String,
    },
    /// Just the name.
    Name(String),
}

impl IssueLabel {
    /// The label's name whichever shape it came in.
    pub fn name(&self) -> &str {
        match self {
            IssueLabel::Object { name } | IssueLabel::Name(name) => name,
        }
    }
}

/// Marker present on issues that are pull requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuePullRequestLink {
    /// API URL of the pull request.
    #[serde(default)]
    pub url: Option<String>,
}

/// An issue (`issue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Global id.
    pub id: u64,
    /// Number within the repository.
    pub number: u64,
    /// Open or closed.
    pub state: IssueState,
    /// Title.
    pub title: String,
    /// Markdown body.
    #[serde(default)]
    pub body: Option<String>,
    /// Author.
    pub user: Option<User>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<IssueLabel>,
    /// Web link.
    pub html_url: String,
    /// Present when this issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<IssuePullRequestLink>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
    /// When it was closed.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
}

/// Fields to change on an issue (`PATCH /issues/{n}`); `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IssueUpdate {
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Open or close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<IssueState>,
    /// `completed`, `not_planned` or `reopened` when closing/reopening.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
}

/// A label object (`label`), as returned by add-labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Label id.
    pub id: u64,
    /// Label name.
    pub name: String,
}
