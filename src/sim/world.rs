//! The simulator's in-memory GitHub: every entity, and the id and clock helpers they share.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;

use super::faults::CallFaults;
use super::git::GitStore;
use super::hooks::HookQueue;
use super::workflows::ScriptRule;
use super::{
    CallRecord, DeliveryRecord, DispatchRecord, ManifestConversion, Permission, ReviewState,
    TeamRole,
};

/// GitHub's timestamp format (`2026-11-25T12:00:00Z`).
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Who made a REST call, as GitHub sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A request signed with the app's JWT.
    App,
    /// A request with an installation token of this installation.
    Installation(u64),
    /// No credentials (only a few routes allow this).
    Anonymous,
}

/// A user or bot account.
#[derive(Clone, Debug)]
pub(crate) struct UserRec {
    pub id: u64,
    pub kind: &'static str,
}

/// An issue, or the issue half of a pull request (they share numbers, as on GitHub).
#[derive(Clone, Debug)]
pub(crate) struct Issue {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: String,
    pub open: bool,
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub is_pull: bool,
    pub reactions: Vec<Reaction>,
}

/// An issue or pull-request conversation comment.
#[derive(Clone, Debug)]
pub(crate) struct Comment {
    pub id: u64,
    pub issue_number: u64,
    pub user: String,
    pub body: String,
    /// The id of the GitHub App that posted it (`performed_via_github_app`).
    pub via_app: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub reactions: Vec<Reaction>,
}

/// One reaction (`+1`, `eyes`, ...) by one user.
#[derive(Clone, Debug)]
pub(crate) struct Reaction {
    pub id: u64,
    pub user: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

/// The pull-request half of a pull request.
#[derive(Clone, Debug)]
pub(crate) struct Pull {
    pub number: u64,
    pub id: u64,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub draft: bool,
    pub merged: bool,
    pub merged_at: Option<DateTime<Utc>>,
    pub merged_by: Option<String>,
    pub merge_commit_sha: Option<String>,
}

/// A submitted pull-request review.
#[derive(Clone, Debug)]
pub(crate) struct Review {
    pub id: u64,
    pub pull_number: u64,
    pub user: String,
    pub state: ReviewState,
    pub body: String,
    pub commit_id: String,
    pub submitted_at: DateTime<Utc>,
}

/// A check-run button (`actions` on create/update).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct CheckAction {
    /// Button text (≤ 20 chars).
    pub label: String,
    /// Hover text (≤ 40 chars).
    pub description: String,
    /// Sent back as `requested_action.identifier` (≤ 20 chars).
    pub identifier: String,
}

/// A check run created by the app.
#[derive(Clone, Debug)]
pub(crate) struct CheckRun {
    pub id: u64,
    pub suite_id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub actions: Vec<CheckAction>,
}

/// A workflow run.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub id: u64,
    pub workflow_id: u64,
    pub path: String,
    pub name: String,
    pub display_title: String,
    pub run_number: u64,
    pub run_attempt: u64,
    pub head_branch: String,
    pub head_sha: String,
    pub event: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub actor: String,
    pub suite_id: u64,
    pub job_id: u64,
    pub job_name: String,
    /// The run's concurrency group, if its workflow has one.
    pub group: Option<super::concurrency::RunGroup>,
    pub inputs: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub run_started_at: DateTime<Utc>,
}

/// A finished run's uploaded artifact (a zip).
#[derive(Clone, Debug)]
pub(crate) struct Artifact {
    pub id: u64,
    pub run_id: u64,
    pub name: String,
    pub zip: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One repository and everything that lives in it.
#[derive(Clone, Debug)]
pub(crate) struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub private: bool,
    pub default_branch: String,
    pub created_at: DateTime<Utc>,
    pub pushed_at: DateTime<Utc>,
    /// `heads/main` → commit sha.
    pub refs: BTreeMap<String, String>,
    pub issues: BTreeMap<u64, Issue>,
    pub next_number: u64,
    pub comments: BTreeMap<u64, Comment>,
    pub pulls: BTreeMap<u64, Pull>,
    pub reviews: Vec<Review>,
    pub labels: BTreeMap<String, u64>,
    pub check_runs: BTreeMap<u64, CheckRun>,
    /// head sha → check suite id (one suite per commit for the app).
    pub check_suites: BTreeMap<String, u64>,
    /// workflow file path → workflow id.
    pub workflows: BTreeMap<String, u64>,
    pub run_numbers: HashMap<u64, u64>,
    pub runs: BTreeMap<u64, Run>,
    pub artifacts: BTreeMap<u64, Artifact>,
    pub permissions: BTreeMap<String, Permission>,
}

impl Repo {
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The open pull request whose head is `branch`, if any.
    pub fn open_pulls_for_head<'a>(&'a self, branch: &'a str) -> impl Iterator<Item = u64> + 'a {
        self.pulls.values().filter_map(move |p| {
            let open = self.issues.get(&p.number).is_some_and(|i| i.open);
            (open && p.head_ref == branch).then_some(p.number)
        })
    }
}

/// An installation token the simulator issued.
#[derive(Clone, Debug)]
pub(crate) struct IssuedToken {
    pub installation_id: u64,
    pub expires_at: DateTime<Utc>,
}

/// The simulated app's identity.
#[derive(Clone, Debug)]
pub(crate) struct AppIdentity {
    pub id: u64,
    pub slug: String,
    pub client_id: String,
    pub name: String,
    pub owner: String,
    pub installation_id: u64,
    pub created_at: DateTime<Utc>,
}

impl AppIdentity {
    /// The login the app's installation acts as (`<slug>[bot]`).
    pub fn bot_login(&self) -> String {
        format!("{}[bot]", self.slug)
    }
}

/// All state, behind one lock: the simulator is small and a single lock keeps every
/// operation and the webhooks it announces in one order.
pub(crate) struct World {
    pub base_url: String,
    pub app: AppIdentity,
    next_id: u64,
    pub rng: StdRng,
    pub users: BTreeMap<String, UserRec>,
    /// logins that are organizations (repository owners created as such).
    pub orgs: BTreeSet<String>,
    pub repos: BTreeMap<String, Repo>,
    pub git: GitStore,
    pub tokens: HashMap<String, IssuedToken>,
    pub token_ttl: chrono::Duration,
    /// see `SimConfig::stateless_tokens`
    pub stateless_tokens: bool,
    /// see `SimConfig::legacy_dispatch`
    pub legacy_dispatch: bool,
    pub manifests: HashMap<String, ManifestConversion>,
    /// (org, team slug) → member login → role.
    pub teams: BTreeMap<(String, String), BTreeMap<String, TeamRole>>,
    pub calls: Vec<CallRecord>,
    pub dispatches: Vec<DispatchRecord>,
    pub deliveries: Vec<DeliveryRecord>,
    /// one-minute download links for artifact zips: token → (repo key, artifact id, expiry).
    pub artifact_links: HashMap<String, (String, u64, DateTime<Utc>)>,
    pub faults: CallFaults,
    pub hooks: HookQueue,
    pub scripts: Vec<ScriptRule>,
}

impl World {
    /// A new empty world.
    pub fn new(
        base_url: String,
        app: AppIdentity,
        seed: u64,
        hooks: HookQueue,
        token_ttl: chrono::Duration,
    ) -> Self {
        let mut world = World {
            base_url,
            app,
            next_id: 1_000_000,
            rng: StdRng::seed_from_u64(seed),
            users: BTreeMap::new(),
            orgs: BTreeSet::new(),
            repos: BTreeMap::new(),
            git: GitStore::default(),
            tokens: HashMap::new(),
            token_ttl,
            stateless_tokens: false,
            legacy_dispatch: false,
            manifests: HashMap::new(),
            teams: BTreeMap::new(),
            calls: Vec::new(),
            dispatches: Vec::new(),
            deliveries: Vec::new(),
            artifact_links: HashMap::new(),
            faults: CallFaults::default(),
            hooks,
            scripts: Vec::new(),
        };
        let bot = world.app.bot_login();
        world.ensure_user(&bot);
        if let Some(u) = world.users.get_mut(&bot) {
            u.kind = "Bot";
        }
        let owner = world.app.owner.clone();
        world.ensure_user(&owner);
        world
    }

    /// A fresh id, unique across every kind of object.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A random lowercase-alphanumeric string (tokens, delivery guids, link keys).
    pub fn random_string(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[self.rng.gen_range(0..ALPHABET.len())] as char)
            .collect()
    }

    /// A GUID like GitHub's `X-GitHub-Delivery`.
    pub fn guid(&mut self) -> String {
        let hex: String = (0..32)
            .map(|_| char::from_digit(self.rng.gen_range(0..16), 16).unwrap_or('0'))
            .collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// The user with this login, created on first sight (people need no sign-up here).
    pub fn ensure_user(&mut self, login: &str) -> UserRec {
        if let Some(u) = self.users.get(login) {
            return u.clone();
        }
        let id = self.next_id();
        let kind = if login.ends_with("[bot]") {
            "Bot"
        } else {
            "User"
        };
        let rec = UserRec { id, kind };
        self.users.insert(login.to_string(), rec.clone());
        rec
    }

    /// The repository `owner/name` (GitHub matches names case-insensitively).
    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&repo_key(owner, name))
    }

    /// The repository `owner/name`, mutable.
    pub fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&repo_key(owner, name))
    }

    /// Who the principal acts as on GitHub.
    pub fn login_for(&self, principal: &Principal) -> String {
        match principal {
            Principal::Installation(_) | Principal::App => self.app.bot_login(),
            Principal::Anonymous => "ghost".to_string(),
        }
    }

    /// `author_association` of `login` in this repository. Org membership is not
    /// reported as MEMBER, as for private memberships on GitHub: tfpilot must not trust it.
    pub fn association(&self, repo: &Repo, login: &str) -> &'static str {
        if login == repo.owner {
            "OWNER"
        } else if repo.permissions.contains_key(login) {
            "COLLABORATOR"
        } else {
            "NONE"
        }
    }

    /// Queue a webhook delivery announcing `event`/`action`.
    pub fn emit(&mut self, event: &str, action: Option<&str>, payload: Value) {
        let guid = self.guid();
        let id = self.next_id();
        let repository_id = payload
            .get("repository")
            .and_then(|r| r.get("id"))
            .and_then(Value::as_u64);
        let record = DeliveryRecord {
            id,
            guid,
            event: event.to_string(),
            action: action.map(str::to_string),
            installation_id: Some(self.app.installation_id),
            repository_id,
            redelivery: false,
            payload,
            status_code: None,
            outcome: super::DeliveryOutcome::Pending,
            delivered_at: Utc::now(),
            duration_ms: 0,
        };
        self.deliveries.push(record.clone());
        self.hooks.enqueue(record);
    }
}

/// The map key for a repository.
pub(crate) fn repo_key(owner: &str, name: &str) -> String {
    format!(
        "{}/{}",
        owner.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}

/// A commit email for `login` (brackets of bot logins dropped so it is a valid address).
pub(crate) fn noreply_email(login: &str) -> String {
    let local: String = login.chars().filter(|c| !matches!(c, '[' | ']')).collect();
    format!("{local}@users.noreply.sim")
}
