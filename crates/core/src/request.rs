//! The BuildRequest: what the listener publishes and the spawner plans from.
//! One definition serves both ends of the build-requests topic.

use crate::config::Deployment;
use crate::github::{Commit, PushEvent};
use crate::ports::ChangedFile;
use crate::rules::RefDecision;
use crate::trust::check_delivery;
use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Deref;

/// SNS rejects messages over 256 KiB (262,144 bytes, attributes included); the request
/// stays under this so the envelope and attributes always fit.
pub const MAX_REQUEST_BYTES: usize = 240 * 1024;
/// The commit message travels to the build as `COMMIT_MSG`; longer ones are cut here.
pub const MAX_COMMIT_MESSAGE_BYTES: usize = 4096;
const DOCKERFILE: &str = "Dockerfile";
/// GitHub's push webhook lists at most 2048 commits ("The array includes a maximum of 2048
/// commits", https://docs.github.com/en/webhooks/webhook-events-and-payloads#push): a push
/// with this many may have lost some, so its changes are compared instead.
pub const MAX_PUSH_COMMITS: usize = 2048;
/// Each commit's `added`, `modified` and `removed` lists report at most 3000 changed files
/// ("A maximum of 3000 changed files will be reported per commit", same page): a commit
/// listing this many, in its three lists together, may have lost some.
pub const MAX_COMMIT_FILES: usize = 3000;

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
    fn to_directories(&self) -> Self {
        let directories: BTreeSet<String> = self
            .paths
            .iter()
            .filter(|p| !is_dockerfile(p))
            .map(|p| directory(p).to_owned())
            .chain(self.directories.iter().cloned())
            .collect();
        Changes {
            paths: self.paths.iter().filter(|p| is_dockerfile(p)).cloned().collect(),
            removed: self.removed.iter().filter(|p| is_dockerfile(p)).cloned().collect(),
            directories: directories.into_iter().collect(),
            source: self.source.clone(),
        }
    }
}

fn is_dockerfile(path: &str) -> bool {
    path.rsplit('/').next() == Some(DOCKERFILE)
}

/// The directory of a path, "." for the root.
fn directory(path: &str) -> &str {
    path.rsplit_once('/').map_or(".", |(dir, _)| dir)
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
    fn to_changes(&self, source: ChangeSource) -> Changes {
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
    fn to_directories(&self, source: ChangeSource) -> Changes {
        let mut dockerfiles = Vec::new();
        let mut directories: HashSet<&str, RandomState> = HashSet::default();
        for (path, here) in &self.present {
            if is_dockerfile(path) {
                dockerfiles.push((*path, *here));
            } else {
                directories.insert(directory(path));
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
    fn min_json_bytes(&self) -> usize {
        self.present.keys().map(|path| path.len() + 2).sum()
    }
}

/// What the listener does with a push: build `B`, a request ([`intake`]) or a request
/// whose changes are not listed yet ([`accept`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake<B = Box<BuildRequest>> {
    Build(B),
    Ignored { reason: String },
}

/// A push accepted for building, its changes folded but not yet listed: see [`NetChanges`].
#[derive(Debug, Clone)]
pub struct Accepted<'a> {
    /// The request but for its changes, which hold only their source.
    pub request: BuildRequest,
    pub changes: NetChanges<'a>,
}

impl Accepted<'_> {
    /// The request with every changed path listed, as [`intake`] gives it.
    pub fn into_request(self) -> BuildRequest {
        let mut request = self.request;
        request.changes = self.changes.to_changes(request.changes.source);
        request
    }

    /// The same as `into_request().encode_for_sns()`, but when the paths alone are more
    /// than a request can carry, they go straight to directories, never copied, sorted or
    /// serialized.
    pub fn encode_for_sns(self) -> Result<(BuildRequest, String), RequestError> {
        if self.changes.min_json_bytes() <= MAX_REQUEST_BYTES {
            return self.into_request().encode_for_sns();
        }
        let mut request = self.request;
        request.changes = self.changes.to_directories(request.changes.source);
        request.encode_reduced()
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

/// Reduces a push to a BuildRequest, or says why it builds nothing. The request is checked
/// with [`crate::trust::validate`], as the spawner checks it again.
pub fn intake<S: Deref<Target = str>>(
    push: &PushEvent<S>,
    delivery: &str,
    deployment: &Deployment,
) -> Result<Intake, RequestError> {
    Ok(match accept(push, delivery, deployment)? {
        Intake::Build(accepted) => {
            let request = accepted.into_request();
            crate::trust::validate(&request, deployment)?;
            Intake::Build(Box::new(request))
        }
        Intake::Ignored { reason } => Intake::Ignored { reason },
    })
}

/// [`intake`], the changes folded but not listed: the listener's, which encodes the request
/// at once with [`Accepted::encode_for_sns`] and checks what it will publish with
/// [`crate::trust::validate`].
pub fn accept<'a, S: Deref<Target = str>>(
    push: &'a PushEvent<S>,
    delivery: &str,
    deployment: &Deployment,
) -> Result<Intake<Box<Accepted<'a>>>, RequestError> {
    check_delivery(delivery)?;
    let config = &deployment.config;
    if !config.builds_repository(&push.repository.full_name) {
        return Ok(Intake::Ignored {
            reason: RequestError::NotListed(push.repository.full_name.chars().take(200).collect()).to_string(),
        });
    }
    if push.deleted {
        return Ok(Intake::Ignored {
            reason: format!("{} was deleted", push.git_ref),
        });
    }
    if !is_commit_id(&push.after) {
        return Err(RequestError::Commit(push.after.chars().take(80).collect()));
    }
    let (tags, fixed_tags) =
        match deployment
            .rules
            .decide(&push.git_ref, push.repository.default_branch.as_deref(), &push.after)
        {
            RefDecision::Build { tags, fixed } => (tags, fixed),
            RefDecision::NotBuilt { reason } => return Ok(Intake::Ignored { reason }),
        };
    // Links GitHub writes in its own form are kept; anything else is dropped, never shown.
    let home = format!("https://{}/{}", config.github_host, push.repository.full_name);
    // No environment variable can carry a NUL (execve's strings end at one): it is
    // dropped from the text that becomes COMMIT_MSG and DOCKHAND_COMMIT_AUTHOR.
    let head_commit = push.head_commit.as_ref().map(|c| HeadCommit {
        message: truncate(&c.message.replace('\0', ""), MAX_COMMIT_MESSAGE_BYTES).to_owned(),
        author: c
            .author
            .as_ref()
            .and_then(|a| a.name.clone().or_else(|| a.username.clone()))
            .map(|a| a.replace('\0', "")),
        url: c
            .url
            .clone()
            .filter(|u| u.strip_prefix(home.as_str()).and_then(|r| r.strip_prefix("/commit/")) == Some(c.id.as_str())),
        timestamp: c.timestamp.clone(),
    });
    let r = &push.repository;
    let request = BuildRequest {
        delivery: delivery.to_owned(),
        repository: SourceRepository {
            name: r.name.clone(),
            full_name: r.full_name.clone(),
            clone_url: r.clone_url.clone(),
            html_url: r.html_url.clone().filter(|u| *u == home),
            private: r.private,
            default_branch: r.default_branch.clone(),
        },
        git_ref: push.git_ref.clone(),
        commit: push.after.clone(),
        tags,
        fixed_tags,
        head_commit,
        pusher: push.pusher.as_ref().map(|p| p.name.clone()),
        changes: Changes {
            source: change_source(push)?,
            ..Changes::default()
        },
    };
    Ok(Intake::Build(Box::new(Accepted {
        request,
        changes: NetChanges::of(&push.commits),
    })))
}

/// Where a push's complete changes come from; see [`ChangeSource`].
fn change_source<S>(push: &PushEvent<S>) -> Result<ChangeSource, RequestError> {
    if !push.before.is_empty() && push.before.bytes().all(|b| b == b'0') {
        return Ok(ChangeSource::NewRef);
    }
    if !is_commit_id(&push.before) {
        return Err(RequestError::Before(push.before.chars().take(80).collect()));
    }
    let capped = push.commits.len() >= MAX_PUSH_COMMITS
        || push
            .commits
            .iter()
            .any(|c| c.added.len() + c.modified.len() + c.removed.len() >= MAX_COMMIT_FILES);
    // A commit that names no files (an empty commit, or a merge, whose own changes the
    // payload does not list) leaves the commit list's account incomplete: only a
    // comparison tells what the push changed.
    let names_no_files = push.commits.is_empty()
        || push
            .commits
            .iter()
            .any(|c| c.added.is_empty() && c.modified.is_empty() && c.removed.is_empty());
    Ok(if push.forced || names_no_files || capped {
        ChangeSource::Compare {
            base: push.before.clone(),
        }
    } else {
        ChangeSource::Commits
    })
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
    fn encode_reduced(self) -> Result<(Self, String), RequestError> {
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
        crate::github::ref_name(&self.git_ref)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::{Commit, Owner, Repository};

    fn commit(added: &[&str], modified: &[&str], removed: &[&str]) -> Commit {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        Commit {
            id: "a".repeat(40),
            message: "m".into(),
            timestamp: None,
            url: None,
            author: None,
            added: v(added),
            modified: v(modified),
            removed: v(removed),
        }
    }

    pub(crate) fn push(git_ref: &str, commits: Vec<Commit>) -> PushEvent {
        PushEvent {
            git_ref: git_ref.into(),
            before: "9f2c1b7e4d3a5c6b8e0f1a2d3c4b5a6978e1f0d2".into(),
            after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into(),
            created: false,
            deleted: false,
            forced: false,
            head_commit: commits.last().cloned(),
            commits,
            repository: Repository {
                name: "images".into(),
                full_name: "acme/images".into(),
                clone_url: "https://github.com/acme/images.git".into(),
                html_url: None,
                private: false,
                default_branch: Some("main".into()),
                owner: Owner {
                    login: Some("acme".into()),
                    name: None,
                },
            },
            pusher: None,
        }
    }

    fn rules() -> Deployment {
        Deployment::from_json(r#"{"registry":{"type":"dockerhub","namespace":"acme"},"repositories":["acme/images"]}"#)
            .unwrap()
    }

    #[test]
    fn net_changes_follow_commit_order() {
        let p = push(
            "refs/heads/main",
            vec![
                commit(&["a/Dockerfile", "b/x"], &[], &[]),
                commit(&[], &["b/x"], &["a/Dockerfile"]),
                commit(&["c/y"], &[], &["c/y"]),
                commit(&["c/y"], &[], &[]),
            ],
        );
        let c = Changes::from_commits(&p);
        assert_eq!(c.paths, ["a/Dockerfile", "b/x", "c/y"]);
        assert_eq!(c.removed, ["a/Dockerfile"]);
    }

    #[test]
    fn ignored_pushes_say_why() {
        let mut p = push("refs/heads/feature", vec![]);
        assert_eq!(
            intake(&p, "d-1", &rules()).unwrap(),
            Intake::Ignored {
                reason: "no ref rule builds refs/heads/feature".into()
            }
        );
        p.deleted = true;
        p.after = "0".repeat(40);
        assert_eq!(
            intake(&p, "d-1", &rules()).unwrap(),
            Intake::Ignored {
                reason: "refs/heads/feature was deleted".into()
            }
        );
    }

    #[test]
    fn untrusted_identifiers_are_checked() {
        let mut p = push("refs/heads/main", vec![]);
        assert!(matches!(intake(&p, "", &rules()), Err(RequestError::Delivery(_))));
        assert!(matches!(
            intake(&p, "x; rm -rf /", &rules()),
            Err(RequestError::Delivery(_))
        ));
        p.after = "--upload-pack=touch /tmp/pwned".into();
        assert!(matches!(intake(&p, "d", &rules()), Err(RequestError::Commit(_))));
        p.after = "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into();
        for url in ["ext::sh -c touch% /tmp/pwned", "file:///etc", "-u", "https://x/ y"] {
            p.repository.clone_url = url.into();
            assert!(
                matches!(intake(&p, "d", &rules()), Err(RequestError::CloneUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn a_nul_never_reaches_an_environment_variable() {
        let mut p = push("refs/heads/main", vec![commit(&["a/b"], &[], &[])]);
        let head = p.head_commit.as_mut().unwrap();
        head.message = "fix\0 it".into();
        head.author = Some(crate::github::Person {
            name: Some("Ada\0".into()),
            email: None,
            username: None,
        });
        let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
            panic!()
        };
        let head = r.head_commit.unwrap();
        assert_eq!((head.message.as_str(), head.author.as_deref()), ("fix it", Some("Ada")));
    }

    #[test]
    fn long_commit_messages_are_cut_on_a_character_boundary() {
        let mut p = push("refs/heads/main", vec![commit(&["a/b"], &[], &[])]);
        p.head_commit.as_mut().unwrap().message = "é".repeat(5000);
        let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
            panic!()
        };
        let m = &r.head_commit.unwrap().message;
        assert!(m.len() <= MAX_COMMIT_MESSAGE_BYTES && m.len() >= MAX_COMMIT_MESSAGE_BYTES - 1);
    }

    #[test]
    fn oversized_requests_fall_back_to_directories() {
        let many: Vec<String> = (0..20_000)
            .map(|i| format!("svc{}/src/file-{i:05}.txt", i % 7))
            .collect();
        let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        let mut added = refs.clone();
        added.push("svc1/Dockerfile");
        let p = push(
            "refs/heads/main",
            vec![commit(&added, &[], &["old/Dockerfile", "old/readme"])],
        );
        let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
            panic!()
        };
        let (reduced, json) = r.encode_for_sns().unwrap();
        assert!(json.len() <= MAX_REQUEST_BYTES);
        assert_eq!(reduced.changes.paths, ["old/Dockerfile", "svc1/Dockerfile"]);
        assert_eq!(reduced.changes.removed, ["old/Dockerfile"]);
        let dirs: Vec<String> = (0..7)
            .map(|i| format!("svc{i}/src"))
            .chain(["old".to_string()])
            .collect();
        let mut expected = dirs;
        expected.sort();
        assert_eq!(reduced.changes.directories, expected);
        let back: BuildRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, reduced);
    }

    #[test]
    fn small_requests_are_unchanged() {
        let p = push("refs/tags/v1", vec![commit(&["README.md"], &[], &[])]);
        let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
            panic!()
        };
        assert_eq!(r.tags, ["v1"]);
        assert_eq!(r.source_branch(), "v1");
        let (same, _) = r.clone().encode_for_sns().unwrap();
        assert_eq!(same, *r);
        assert_eq!(same.changes.paths, ["README.md"]);
    }

    fn source_of(p: &PushEvent) -> ChangeSource {
        match intake(p, "d", &rules()).unwrap() {
            Intake::Build(r) => r.changes.source,
            Intake::Ignored { reason } => panic!("ignored: {reason}"),
        }
    }

    const BEFORE: &str = "9f2c1b7e4d3a5c6b8e0f1a2d3c4b5a6978e1f0d2";

    fn compare() -> ChangeSource {
        ChangeSource::Compare { base: BEFORE.into() }
    }

    #[test]
    fn push_shape_normal() {
        let p = push("refs/heads/main", vec![commit(&["a/x"], &["b/y"], &["c/z"])]);
        assert_eq!(source_of(&p), ChangeSource::Commits);
    }

    #[test]
    fn push_shape_new_branch() {
        let mut p = push("refs/heads/main", vec![commit(&["a/x"], &[], &[])]);
        p.before = "0".repeat(40);
        p.created = true;
        assert_eq!(source_of(&p), ChangeSource::NewRef);
        p.commits.clear();
        assert_eq!(source_of(&p), ChangeSource::NewRef);
    }

    #[test]
    fn push_shape_new_tag() {
        let mut p = push("refs/tags/v1.2.3", vec![]);
        p.before = "0".repeat(40);
        p.created = true;
        p.head_commit = None;
        assert_eq!(source_of(&p), ChangeSource::NewRef);
    }

    #[test]
    fn push_shape_forced() {
        let mut p = push("refs/heads/main", vec![commit(&["a/x"], &[], &[])]);
        p.forced = true;
        assert_eq!(source_of(&p), compare());
    }

    #[test]
    fn push_shape_empty_commits() {
        let p = push("refs/heads/main", vec![]);
        assert_eq!(source_of(&p), compare());
    }

    #[test]
    fn push_shape_capped_commits() {
        let many: Vec<Commit> = (0..MAX_PUSH_COMMITS).map(|_| commit(&[], &["a/x"], &[])).collect();
        let p = push("refs/heads/main", many.clone());
        assert_eq!(source_of(&p), compare());
        let p = push("refs/heads/main", many[1..].to_vec());
        assert_eq!(source_of(&p), ChangeSource::Commits);
        // A commit whose file lists reached GitHub's per-commit cap.
        let files: Vec<String> = (0..MAX_COMMIT_FILES).map(|i| format!("d/{i}")).collect();
        let (a, m) = files.split_at(1000);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        let p = push("refs/heads/main", vec![commit(&a, &m, &[])]);
        assert_eq!(source_of(&p), compare());
        let p = push("refs/heads/main", vec![commit(&a, &m[1..], &[])]);
        assert_eq!(source_of(&p), ChangeSource::Commits);
    }

    #[test]
    fn push_shape_deletion() {
        let mut p = push("refs/heads/main", vec![]);
        p.deleted = true;
        p.after = "0".repeat(40);
        assert!(matches!(intake(&p, "d", &rules()).unwrap(), Intake::Ignored { .. }));
    }

    #[test]
    fn a_bad_before_is_refused() {
        let mut p = push("refs/heads/main", vec![commit(&["a"], &[], &[])]);
        p.before = "--upload-pack=x".into();
        assert!(matches!(intake(&p, "d", &rules()), Err(RequestError::Before(_))));
    }

    #[test]
    fn the_source_survives_sns_and_old_messages_still_decode() {
        let mut p = push("refs/heads/main", vec![]);
        p.forced = true;
        let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
            panic!()
        };
        let (_, json) = r.clone().encode_for_sns().unwrap();
        assert!(
            json.contains(r#""source":{"kind":"compare","base":"9f2c1b7e"#),
            "{json}"
        );
        let back: BuildRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, *r);
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        old["changes"].as_object_mut().unwrap().remove("source");
        let back: BuildRequest = serde_json::from_value(old).unwrap();
        assert_eq!(back.changes.source, ChangeSource::Commits);
        let new_ref: ChangeSource = serde_json::from_str(r#"{"kind":"new_ref"}"#).unwrap();
        assert_eq!(new_ref, ChangeSource::NewRef);
    }

    #[test]
    fn the_source_survives_the_reduction_to_directories() {
        let many: Vec<String> = (0..20_000).map(|i| format!("svc/src/file-{i:05}.txt")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut p = push("refs/heads/main", vec![commit(&refs, &[], &[])]);
        p.forced = true;
        let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
            panic!()
        };
        let (reduced, json) = r.encode_for_sns().unwrap();
        assert!(json.len() <= MAX_REQUEST_BYTES);
        assert_eq!(reduced.changes.directories, ["svc/src"]);
        assert_eq!(reduced.changes.source, compare());
    }

    /// The fold as it was written before [`NetChanges`]: an ordered map of every path.
    fn reference_changes(commits: &[Commit]) -> Changes {
        let mut last_action: BTreeMap<&str, bool> = BTreeMap::new();
        for commit in commits {
            for p in commit.added.iter().chain(&commit.modified) {
                last_action.insert(p, true);
            }
            for p in &commit.removed {
                last_action.insert(p, false);
            }
        }
        Changes {
            paths: last_action.keys().map(|p| p.to_string()).collect(),
            removed: last_action
                .iter()
                .filter(|(_, present)| !**present)
                .map(|(p, _)| p.to_string())
                .collect(),
            directories: Vec::new(),
            source: ChangeSource::Commits,
        }
    }

    /// A path in one of `dirs` directories ("" for the root), some Dockerfiles, some with
    /// characters JSON escapes; the directories are long so that a few thousand paths
    /// reach the request's size limit.
    fn path(dirs: usize) -> impl Strategy<Value = String> {
        let names = prop::sample::select(vec!["Dockerfile", "Dockerfile.dev", "a.rs", "q\"t", "tab\t", "é", "x"]);
        (0..dirs, names, 0..40usize).prop_map(|(dir, name, n)| {
            let file = if name.starts_with("Dockerfile") {
                name.to_owned()
            } else {
                format!("{name}{n}")
            };
            match dir {
                0 => file,
                _ => format!("d{dir}/{}/{file}", "long".repeat(dir * 3)),
            }
        })
    }

    fn commits(dirs: usize, files: usize, commits: usize) -> impl Strategy<Value = Vec<Commit>> {
        let list = move || prop::collection::vec(path(dirs), 0..files);
        let one = (list(), list(), list()).prop_map(|(a, m, r)| {
            fn v(x: &[String]) -> Vec<&str> {
                x.iter().map(String::as_str).collect()
            }
            commit(&v(&a), &v(&m), &v(&r))
        });
        prop::collection::vec(one, 0..commits)
    }

    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    proptest! {
        #[test]
        fn net_changes_list_and_reduce_as_the_ordered_fold_does(commits in commits(12, 30, 6)) {
            let net = NetChanges::of(&commits);
            let reference = reference_changes(&commits);
            prop_assert_eq!(net.len(), reference.paths.len());
            prop_assert_eq!(&net.to_changes(ChangeSource::Commits), &reference);
            prop_assert_eq!(net.to_directories(compare()), Changes { source: compare(), ..reference.to_directories() });
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Around the size limit: straight to directories or not, the listener's encoding is
        /// the old one, which listed, serialized, then reduced.
        #[test]
        fn accepted_pushes_encode_as_listed_requests_do(commits in commits(40, 700, 4)) {
            let p = push("refs/heads/main", commits);
            let Intake::Build(accepted) = accept(&p, "d", &rules()).unwrap() else { panic!() };
            let Intake::Build(mut listed) = intake(&p, "d", &rules()).unwrap() else { panic!() };
            prop_assert_eq!(&accepted.clone().into_request(), &*listed);
            listed.changes = Changes { source: listed.changes.source.clone(), ..reference_changes(&p.commits) };
            prop_assert_eq!(accepted.encode_for_sns(), listed.encode_for_sns());
        }
    }

    #[test]
    fn the_size_limit_is_straddled_by_the_generated_pushes() {
        // The property above is only worth its name if both ways are taken: check that the
        // generator makes pushes whose paths fit and pushes whose paths cannot.
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = commits(40, 700, 4);
        let (mut fit, mut reduced) = (0, 0);
        for _ in 0..48 {
            let commits = strategy.new_tree(&mut runner).unwrap().current();
            let p = push("refs/heads/main", commits);
            let Intake::Build(accepted) = accept(&p, "d", &rules()).unwrap() else {
                panic!()
            };
            match accepted.encode_for_sns() {
                Ok((r, _)) if r.changes.directories.is_empty() => fit += 1,
                _ => reduced += 1,
            }
        }
        assert!(fit > 3 && reduced > 3, "{fit} fit, {reduced} reduced");
    }

    #[test]
    fn too_many_directories_are_refused_either_way() {
        let many: Vec<String> = (0..4000).map(|i| format!("{}{i:05}/f", "d".repeat(60))).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let p = push("refs/heads/main", vec![commit(&refs, &[], &[])]);
        let Intake::Build(accepted) = accept(&p, "d", &rules()).unwrap() else {
            panic!()
        };
        let Intake::Build(listed) = intake(&p, "d", &rules()).unwrap() else {
            panic!()
        };
        let refused = accepted.encode_for_sns();
        assert!(
            matches!(refused, Err(RequestError::TooLarge { directories: 4000, .. })),
            "{refused:?}"
        );
        assert_eq!(refused, listed.encode_for_sns());
    }

    fn changed(path: &str, previous: Option<&str>, removed: bool) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            previous_path: previous.map(Into::into),
            removed,
        }
    }

    #[test]
    fn compared_changes_count_both_sides_of_a_rename() {
        let c = Changes::from_changed_files(&[
            changed("web/Dockerfile", None, false),
            changed("site/index.html", Some("web/index.html"), false),
            changed("old/Dockerfile", None, true),
            // Renamed away and something else renamed into its place: present.
            changed("b", Some("a"), false),
            changed("a", Some("c"), false),
        ]);
        assert_eq!(
            c.paths,
            [
                "a",
                "b",
                "c",
                "old/Dockerfile",
                "site/index.html",
                "web/Dockerfile",
                "web/index.html"
            ]
        );
        assert_eq!(c.removed, ["c", "old/Dockerfile", "web/index.html"]);
        assert_eq!(c.source, ChangeSource::Commits);
        assert!(Changes::from_changed_files(&[]).is_empty());
    }
}
