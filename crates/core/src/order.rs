//! Builds nobody pushed: a person's (`dockhand build`) and the scheduled refresh's.
//!
//! An [`Order`] names a repository, optionally a ref and a commit, and the directories to
//! build (none: every image). It reaches the spawner through the requests queue, as a push's
//! [`BuildRequest`] does; the spawner asks GitHub what the order cannot say (the
//! repository's clone URL and default branch, the ref's head commit), turns it into a
//! request with [`to_request`], and plans that exactly as a push: naming, the ref rules'
//! tags, the image graph, the ledger.
//!
//! Exactly once: each build of an order is keyed on the request's signed content and the
//! order's id ([`crate::start_build::build_key`]), so every `dockhand build` builds again,
//! and a redelivered or replayed order starts nothing twice. An order is always built:
//! `rebuild` bypasses the record of pushed images, which a re-tag would reuse.

use crate::config::Deployment;
use crate::request::{
    BuildRequest, ChangeSource, Changes, HeadCommit, MAX_COMMIT_MESSAGE_BYTES, SourceRepository, is_commit_id, truncate,
};
pub use crate::request::{OrderKind, Trigger};
use crate::rules::RefDecision;
use crate::trust::{check_path, check_ref, validate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The ledger item of an order's plan: `order#<id>`.
pub const ORDER_RECORD_PREFIX: &str = "order#";
/// Each build of an order carries the order's id in this environment variable.
pub const ORDER_VARIABLE: &str = "DOCKHAND_ORDER";
/// An order names at most this many directories (an SQS message holds 256 KiB, and a
/// person naming more wants `--all`).
pub const MAX_DIRECTORIES: usize = 1000;
/// `by` is cut to this many characters.
pub const MAX_BY_CHARS: usize = 100;
/// The refresh orders' `by`.
pub const REFRESH_BY: &str = "the scheduled refresh";

/// A build someone asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Unique per request for builds ([`new_id`]): it keys the builds.
    pub id: String,
    pub kind: OrderKind,
    /// `OWNER/NAME`.
    pub repository: String,
    /// A full ref (`refs/heads/main`, `refs/tags/v1`) or a name (a branch, else a tag);
    /// `None`: the repository's default branch.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The commit to build as if pushed to the ref; `None`: the ref's head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The directories to build, exactly; empty: every image.
    #[serde(default)]
    pub directories: Vec<String>,
    /// Who asked, as they said (free text, shown in notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When, Unix seconds: a refresh's dated tag is of this day (UTC).
    pub at: u64,
}

/// The requests queue's message for an order: `{"order": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMessage {
    pub order: Order,
}

/// What the spawner made of an order, stored under `order#<id>` for `dockhand build --wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub commit: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub builds: Vec<OrderedBuild>,
    #[serde(default)]
    pub skipped: Vec<OrderedSkip>,
    /// Why nothing could be planned at all.
    #[serde(default)]
    pub refused: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedBuild {
    pub context: String,
    pub image: String,
    /// The build's key in the ledger: its record holds the build id once started.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedSkip {
    pub context: String,
    pub reason: String,
}

/// A fresh order id: `m-` (manual) or `r-` (refresh) and 32 hexadecimal digits of
/// randomness from the operating system (or, without /dev/urandom, of the time and the
/// process).
pub fn new_id(kind: OrderKind) -> String {
    let mut seed = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed));
    if random.is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut h = Sha256::new();
        h.update(now.as_nanos().to_be_bytes());
        h.update(std::process::id().to_be_bytes());
        seed.copy_from_slice(&h.finalize()[..16]);
    }
    format!("{}{}", prefix(kind), hex::encode(seed))
}

fn prefix(kind: OrderKind) -> &'static str {
    match kind {
        OrderKind::Manual => "m-",
        OrderKind::Refresh => "r-",
    }
}

/// A directory as an order names it: repository-relative, `/`-separated; `.` and empty
/// parts are dropped (`./web/` is `web`, `./` the root `.`). Refused: an empty name, an
/// absolute path, `..`, and what [`check_path`] refuses.
pub fn normalize_directory(dir: &str) -> Result<String, String> {
    let bad = |why: &str| {
        Err(format!(
            "the directory {:?} {why}",
            dir.chars().take(200).collect::<String>()
        ))
    };
    if dir.is_empty() {
        return bad("is empty: name a directory of the repository, `.` for its root");
    }
    if dir.starts_with('/') {
        return bad("is absolute: name it relative to the repository's root, `.` for the root");
    }
    let mut parts = Vec::new();
    for part in dir.split('/') {
        match part {
            "" | "." => {}
            ".." => return bad("leaves its directory (..): name it relative to the repository's root"),
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Ok(".".into());
    }
    let normalized = parts.join("/");
    match check_path(&normalized) {
        Ok(()) => Ok(normalized),
        Err(why) => bad(why),
    }
}

impl Order {
    /// Checks what the spawner trusts of an order before asking GitHub anything.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = (8..=64).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(format!(
                "the order id {:?} is not 8 to 64 characters of a-z, 0-9 and -",
                self.id.chars().take(80).collect::<String>()
            ));
        }
        let is_name = crate::config::is_github_name;
        if !self
            .repository
            .split_once('/')
            .is_some_and(|(o, n)| is_name(o) && is_name(n))
        {
            return Err(format!(
                "the repository {:?} is not OWNER/NAME",
                self.repository.chars().take(120).collect::<String>()
            ));
        }
        if let Some(r) = &self.git_ref {
            let full = if r.starts_with("refs/") {
                r.clone()
            } else {
                format!("refs/heads/{r}")
            };
            check_ref(&full).map_err(|e| e.to_string())?;
        }
        if let Some(c) = &self.commit
            && !is_commit_id(c)
        {
            return Err(format!(
                "the commit {:?} is not a full commit id (40 hexadecimal digits)",
                c.chars().take(80).collect::<String>()
            ));
        }
        if let Some(by) = &self.by
            && by.chars().count() > MAX_BY_CHARS
        {
            return Err(format!("who asked (by) is longer than {MAX_BY_CHARS} characters"));
        }
        if self.directories.len() > MAX_DIRECTORIES {
            return Err(format!(
                "the order names {} directories, more than {MAX_DIRECTORIES}: build them all instead",
                self.directories.len()
            ));
        }
        for dir in &self.directories {
            if normalize_directory(dir)? != *dir {
                return Err(format!("the directory {dir:?} is not written as a plain path"));
            }
        }
        Ok(())
    }

    /// The full refs the order may mean, in the order they are tried: its own full ref, or
    /// a name as a branch then as a tag; the default branch when it names none.
    pub fn ref_candidates(&self, default_branch: &str) -> Vec<String> {
        match &self.git_ref {
            None => vec![format!("refs/heads/{default_branch}")],
            Some(r) if r.starts_with("refs/") => vec![r.clone()],
            Some(name) => vec![format!("refs/heads/{name}"), format!("refs/tags/{name}")],
        }
    }
}

/// What GitHub says of a repository (`GET /repos/{owner}/{repo}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryInfo {
    /// GitHub's spelling: `OWNER/NAME` as the repository is named, whatever case was asked.
    pub full_name: String,
    pub name: String,
    pub private: bool,
    pub default_branch: String,
}

/// What GitHub says of a commit (`GET /repos/{owner}/{repo}/commits/{ref}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub message: String,
    pub author: Option<String>,
    pub timestamp: Option<String>,
}

/// The request an order makes, once GitHub named the repository, the ref and its commit:
/// the ref rules give the tags (a refresh adds its dated tag), and the request is checked
/// as the listener checks a push's. An error says why nothing is built.
pub fn to_request(
    order: &Order,
    repository: &RepositoryInfo,
    git_ref: &str,
    commit: &CommitInfo,
    deployment: &Deployment,
) -> Result<BuildRequest, String> {
    let config = &deployment.config;
    if !config.builds_repository(&repository.full_name) {
        return Err(format!(
            "{} is not one of the repositories this deployment builds (`repositories` in its configuration)",
            repository.full_name
        ));
    }
    let (tags, fixed_tags) = match deployment
        .rules
        .decide(git_ref, Some(&repository.default_branch), &commit.sha)
    {
        RefDecision::Build { tags, fixed } => (tags, fixed),
        RefDecision::NotBuilt { reason } => return Err(format!("{reason}, so nothing was built")),
    };
    let home = format!("https://{}/{}", config.github_host, repository.full_name);
    let changes = if order.directories.is_empty() {
        Changes {
            source: ChangeSource::NewRef,
            ..Changes::default()
        }
    } else {
        Changes {
            directories: order.directories.clone(),
            source: ChangeSource::Chosen,
            ..Changes::default()
        }
    };
    let by = order.by.as_deref().map(clean_by);
    let request = BuildRequest {
        delivery: order.id.clone(),
        repository: SourceRepository {
            name: repository.name.clone(),
            full_name: repository.full_name.clone(),
            clone_url: config.clone_url(&repository.full_name),
            html_url: Some(home.clone()),
            private: repository.private,
            default_branch: Some(repository.default_branch.clone()),
        },
        git_ref: git_ref.to_owned(),
        commit: commit.sha.clone(),
        tags,
        fixed_tags,
        head_commit: Some(HeadCommit {
            message: truncate(&commit.message.replace('\0', ""), MAX_COMMIT_MESSAGE_BYTES).to_owned(),
            author: commit.author.as_ref().map(|a| a.replace('\0', "")),
            url: Some(format!("{home}/commit/{}", commit.sha)),
            timestamp: commit.timestamp.clone(),
        }),
        pusher: by.clone(),
        changes,
        rebuild: true,
        trigger: Some(Trigger {
            kind: order.kind,
            id: order.id.clone(),
            by,
            at: order.at,
        }),
    };
    let mut request = request;
    // A refresh's dated tag, as the spawner's check of the request derives it again.
    if let Some(tag) = crate::trust::refresh_tag_of(&request, deployment).map_err(|e| e.to_string())? {
        for list in [&mut request.tags, &mut request.fixed_tags] {
            if !list.contains(&tag) {
                list.push(tag.clone());
            }
        }
    }
    validate(&request, deployment).map_err(|e| e.to_string())?;
    Ok(request)
}

/// `by` without control characters, at most [`MAX_BY_CHARS`] characters.
fn clean_by(by: &str) -> String {
    by.chars().filter(|c| !c.is_control()).take(MAX_BY_CHARS).collect()
}

/// EventBridge's scheduled event, as a rule with a schedule sends it to a target
/// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html):
/// `detail-type` "Scheduled Event", `source` "aws.events", an id and the time it fired.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduledEvent {
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub time: String,
}

impl ScheduledEvent {
    /// Reads a queue message as a scheduled event, if it is one.
    pub fn read(body: &str) -> Option<Self> {
        serde_json::from_str::<Self>(body)
            .ok()
            .filter(|e| e.detail_type == "Scheduled Event" && e.source == "aws.events")
    }
}

/// The repositories each firing of the deployment's `refresh` rebuilds; an error when
/// the deployment has no refresh.
pub fn refresh_repositories(deployment: &Deployment) -> Result<Vec<String>, String> {
    match &deployment.config.refresh {
        Some(_) => Ok(deployment.config.refresh_repositories()),
        None => Err("this deployment has no `refresh` in its configuration".into()),
    }
}

/// The orders of one firing of the refresh schedule: one per repository, every image at
/// its default branch's head. Their ids derive from the event's id and the repository, so
/// an event delivered twice makes the same orders, which start nothing twice.
pub fn refresh_orders(event: &ScheduledEvent, repositories: &[String]) -> Result<Vec<Order>, String> {
    let at = crate::time::unix_seconds(&event.time)
        .filter(|t| *t >= 0)
        .ok_or_else(|| format!("the scheduled event's time {:?} is not an RFC 3339 time", event.time))?
        as u64;
    Ok(repositories
        .iter()
        .map(|repository| {
            let mut h = Sha256::new();
            for part in [event.id.as_str(), repository.as_str()] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part.as_bytes());
            }
            Order {
                id: format!("{}{}", prefix(OrderKind::Refresh), &hex::encode(h.finalize())[..32]),
                kind: OrderKind::Refresh,
                repository: repository.clone(),
                git_ref: None,
                commit: None,
                directories: Vec::new(),
                by: Some(REFRESH_BY.into()),
                at,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests;
