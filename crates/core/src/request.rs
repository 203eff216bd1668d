//! The BuildRequest: what the listener publishes and the spawner plans from.
//! One definition serves both ends of the build-requests topic.

use crate::tree::{ChangedFile, directory_of, dockerfile_dir};
use crate::webhook::{Commit, PushEvent};
use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Deref;

/// SNS rejects messages over 256 KiB (262,144 bytes, attributes included); the request
/// stays under this so the envelope and attributes always fit.
pub const MAX_REQUEST_BYTES: usize = 240 * 1024;
/// The commit message travels to the build as `COMMIT_MSG`; longer ones are cut here.
pub const MAX_COMMIT_MESSAGE_BYTES: usize = 4096;
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRequest {
    /// `X-GitHub-Delivery`: keys the builds' idempotency tokens.
    pub delivery: String,
    pub repository: SourceRepository,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub commit: String,
    /// The image tags the ref rules chose, in order.
    pub tags: Vec<String>,
    /// The subset of `tags` that names the commit (`{sha}`, `{sha7}`): always pushed. The
    /// others move with the ref, and a build pushes them only while the ref still points
    /// at its commit.
    #[serde(default)]
    pub fixed_tags: Vec<String>,
    #[serde(default)]
    pub head_commit: Option<HeadCommit>,
    #[serde(default)]
    pub pusher: Option<String>,
    pub changes: Changes,
    /// Build every image, without looking for one already pushed under its key: for a
    /// scheduled refresh (a base image may have changed). The listener never sets it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebuild: bool,
    /// The order that asked for this build when no push did: `dockhand build` or the
    /// scheduled refresh ([`crate::order`]). Its id is part of every build's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

/// Who asked for a build nobody pushed ([`crate::order`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderKind {
    /// A person, with `dockhand build`.
    Manual,
    /// The deployment's schedule (`refresh` in the configuration).
    Refresh,
}

/// Carried by a request made from an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub kind: OrderKind,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The order's `at`: a refresh's dated tag is of this day.
    #[serde(default)]
    pub at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRepository {
    pub name: String,
    pub full_name: String,
    pub clone_url: String,
    #[serde(default)]
    pub html_url: Option<String>,
    pub private: bool,
    #[serde(default)]
    pub default_branch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadCommit {
    pub message: String,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// The files a push touched, as of the pushed commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Paths added, modified or removed, deduplicated and sorted.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The subset of `paths` that no longer exist at the pushed commit.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Directories ("." for the root) in which files changed, used instead of `paths`
    /// when the paths would not fit in one SNS message. Dockerfile paths stay in `paths`.
    #[serde(default)]
    pub directories: Vec<String>,
    /// Where the complete set of changes comes from. Absent in messages from before it
    /// existed, which meant `Commits`.
    #[serde(default)]
    pub source: ChangeSource,
}

/// How complete `Changes` is, and what the spawner must ask the source host for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeSource {
    /// The push's commit list was complete and is folded into `paths` and `removed`.
    #[default]
    Commits,
    /// The commit list is empty, names no files (an empty commit, a merge), is capped or
    /// describes a rewritten history (a forced push): the changes are those from `base` to
    /// the pushed commit, which the spawner asks the host for. `paths` holds what the
    /// payload named, a subset at best.
    Compare { base: String },
    /// A new branch or tag (`before` is all zeros): there is nothing to compare against,
    /// so every image at the commit is built.
    NewRef,
    /// An order's directories (`directories`), each built exactly: no other image, not
    /// even those built from one of them.
    Chosen,
}

impl Changes {
    /// Folds the commits of a push, in order, into the net set of changed paths.
    pub fn from_commits<S: Deref<Target = str>>(push: &PushEvent<S>) -> Self {
        NetChanges::of(&push.commits).to_changes(ChangeSource::Commits)
    }

    /// The complete changes from a comparison of two commits (the host's compare, or
    /// `git diff --name-status -M`). Both sides of a rename count: the old path is removed,
    /// the new one added. `previous_path` is read as a rename's old side; a copy leaves its
    /// source unchanged and should not set it (if it does, the source's directory is
    /// rebuilt for nothing, never missed). A path some entry says exists at the head is
    /// not removed.
    pub fn from_changed_files(files: &[ChangedFile]) -> Self {
        let mut present: BTreeMap<&str, bool> = BTreeMap::new();
        for file in files {
            *present.entry(&file.path).or_insert(false) |= !file.removed;
            if let Some(previous) = &file.previous_path
                && previous != &file.path
            {
                present.entry(previous).or_insert(false);
            }
        }
        Changes {
            paths: present.keys().map(|p| p.to_string()).collect(),
            removed: present
                .iter()
                .filter(|(_, here)| !**here)
                .map(|(p, _)| p.to_string())
                .collect(),
            directories: Vec::new(),
            source: ChangeSource::Commits,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.directories.is_empty()
    }

    /// Replaces every path but Dockerfiles by its directory.
    pub(crate) fn to_directories(&self) -> Self {
        let directories: BTreeSet<String> = self
            .paths
            .iter()
            .filter(|p| dockerfile_dir(p).is_none())
            .map(|p| directory_of(p).to_owned())
            .chain(self.directories.iter().cloned())
            .collect();
        Changes {
            paths: self
                .paths
                .iter()
                .filter(|p| dockerfile_dir(p).is_some())
                .cloned()
                .collect(),
            removed: self
                .removed
                .iter()
                .filter(|p| dockerfile_dir(p).is_some())
                .cloned()
                .collect(),
            directories: directories.into_iter().collect(),
            source: self.source.clone(),
        }
    }
}

/// The net effect of a push's commits on each path they name: whether it exists at the
/// pushed commit (added or modified last) or not (removed last).
///
/// It borrows the paths and leaves them unsorted, so a push of a hundred thousand paths
/// is folded without copying them, and when they cannot fit one request it is reduced to
/// directories without sorting them either ([`Accepted::encode_for_sns`]): only what ends
/// up in the request is copied and sorted.
#[derive(Debug, Clone, Default)]
pub struct NetChanges<'a> {
    /// foldhash, not std's SipHash: hashing 150,000 paths was a third of the work, and the
    /// paths come from a delivery whose signature was verified, so there is no flooding to
    /// resist.
    present: HashMap<&'a str, bool, RandomState>,
}

impl<'a> NetChanges<'a> {
    /// Folds commits, oldest first.
    pub fn of<S: Deref<Target = str>>(commits: &'a [Commit<S>]) -> Self {
        let mut present = HashMap::default();
        for commit in commits {
            for path in commit.added.iter().chain(&commit.modified) {
                present.insert(&**path, true);
            }
            for path in &commit.removed {
                present.insert(&**path, false);
            }
        }
        NetChanges { present }
    }

    /// How many paths changed.
    pub fn len(&self) -> usize {
        self.present.len()
    }

    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
    }

    /// Every path, sorted, and those removed: [`Changes::from_commits`].
    pub(crate) fn to_changes(&self, source: ChangeSource) -> Changes {
        let mut entries: Vec<(&str, bool)> = self.present.iter().map(|(path, here)| (*path, *here)).collect();
        entries.sort_unstable();
        Changes {
            paths: entries.iter().map(|(path, _)| path.to_string()).collect(),
            removed: entries
                .iter()
                .filter(|(_, here)| !here)
                .map(|(path, _)| path.to_string())
                .collect(),
            directories: Vec::new(),
            source,
        }
    }

    /// The same as `to_changes(source).to_directories()`, copying and sorting only the
    /// Dockerfiles and the directories.
    pub(crate) fn to_directories(&self, source: ChangeSource) -> Changes {
        let mut dockerfiles = Vec::new();
        let mut directories: HashSet<&str, RandomState> = HashSet::default();
        for (path, here) in &self.present {
            if dockerfile_dir(path).is_some() {
                dockerfiles.push((*path, *here));
            } else {
                directories.insert(directory_of(path));
            }
        }
        dockerfiles.sort_unstable();
        let mut directories: Vec<&str> = directories.into_iter().collect();
        directories.sort_unstable();
        Changes {
            paths: dockerfiles.iter().map(|(path, _)| path.to_string()).collect(),
            removed: dockerfiles
                .iter()
                .filter(|(_, here)| !here)
                .map(|(path, _)| path.to_string())
                .collect(),
            directories: directories.into_iter().map(str::to_owned).collect(),
            source,
        }
    }

    /// A lower bound on the bytes that listing every path adds to a request's JSON: each
    /// path's own (escaping only adds to them) and its two quotes.
    pub(crate) fn min_json_bytes(&self) -> usize {
        self.present.keys().map(|path| path.len() + 2).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("X-GitHub-Delivery {0:?} is missing or not a delivery id (1-100 letters, digits and dashes)")]
    Delivery(String),
    #[error("the push's `after` {0:?} is not a commit id")]
    Commit(String),
    #[error("the push's `before` {0:?} is not a commit id")]
    Before(String),
    #[error(
        "the push's repository.clone_url {url:?} is not {expected:?}, the repository's URL on this deployment's Git host (`github_host`)"
    )]
    CloneUrl { url: String, expected: String },
    #[error("{field} {url:?} is not {expected:?}")]
    Url {
        field: &'static str,
        url: String,
        expected: String,
    },
    #[error(
        "{0} is not one of the repositories this deployment builds; add it to `repositories` in the deployment configuration to build it"
    )]
    NotListed(String),
    #[error("the ref {git_ref:?} {why}")]
    Ref { git_ref: String, why: String },
    #[error("the changed path {path:?} {why}")]
    Path { path: String, why: &'static str },
    #[error("{0}")]
    Tags(String),
    #[error("{field} {why}")]
    Field { field: &'static str, why: String },
    #[error(
        "the push changes {directories} directories, more than one build request can carry ({bytes} bytes, limit {MAX_REQUEST_BYTES})"
    )]
    TooLarge { directories: usize, bytes: usize },
}

impl BuildRequest {
    /// The JSON for the build-requests topic, reduced to directories if the paths would
    /// push it over SNS's message size limit.
    pub fn encode_for_sns(mut self) -> Result<(Self, String), RequestError> {
        let json = serde_json::to_string(&self).expect("a BuildRequest always serializes");
        if json.len() <= MAX_REQUEST_BYTES {
            return Ok((self, json));
        }
        self.changes = self.changes.to_directories();
        self.encode_reduced()
    }

    /// The JSON of a request already reduced to directories, if it fits.
    pub(crate) fn encode_reduced(self) -> Result<(Self, String), RequestError> {
        let json = serde_json::to_string(&self).expect("a BuildRequest always serializes");
        if json.len() <= MAX_REQUEST_BYTES {
            return Ok((self, json));
        }
        Err(RequestError::TooLarge {
            directories: self.changes.directories.len(),
            bytes: json.len(),
        })
    }

    /// The branch or tag name, as Docker Hub's `SOURCE_BRANCH`.
    pub fn source_branch(&self) -> &str {
        crate::webhook::ref_name(&self.git_ref)
    }
}

pub(crate) fn is_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
}

/// The longest prefix of `s` within `max` bytes that ends on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
