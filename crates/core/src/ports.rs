//! The outside world as the core sees it. The `dockhand-aws` crate implements these over
//! the AWS SDK; tests implement them in memory.

use crate::job::StartBuildRequest;
use crate::ledger::{Record, Versioned};
use crate::notification::PublishRequest;
use crate::retention::BuildRecord;
use std::fmt;
use std::future::Future;

/// A failure of an outside system, with the text to log or return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// A secret value whose `Debug` and `Display` never show it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl AsRef<[u8]> for Secret {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Parses a webhook secret parameter: one secret per line, so two can be valid during a
/// rotation. Blank lines and surrounding whitespace are ignored.
pub fn parse_secrets(value: &str) -> Vec<Secret> {
    value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Secret::new)
        .collect()
}

/// Publishes one message to a topic.
pub trait Publisher {
    fn publish(&self, message: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Reads the webhook secrets currently valid.
pub trait SecretStore {
    fn webhook_secrets(&self) -> impl Future<Output = Result<Vec<Secret>, PortError>> + Send;
}

/// Why StartBuild did not answer with a build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// CodeBuild has no room now and started nothing: the project's concurrent build limit
    /// or the account's concurrency and queue are full (`AccountLimitExceededException`,
    /// the one limit error StartBuild documents), or the calls are throttled. Try later.
    #[error("no capacity now: {0}")]
    NoCapacity(String),
    /// CodeBuild refused the request and would refuse it again (`InvalidInputException`,
    /// `ResourceNotFoundException`: a missing project, a bad override): a person must act.
    #[error("refused: {0}")]
    Refused(String),
    /// No answer (a timeout, a 5xx, a dropped connection): a build may have started.
    #[error("no answer: {0}")]
    Unknown(String),
}

/// Starts one build, answering its id.
pub trait BuildStarter {
    fn start_build(&self, request: &StartBuildRequest) -> impl Future<Output = Result<String, StartError>> + Send;
    /// The build of `project` started at or after `since` (Unix seconds) whose
    /// `DOCKHAND_BUILD_KEY` is `key`, if any: what an attempt in doubt started.
    fn find_build(
        &self,
        project: &str,
        key: &str,
        since: u64,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
}

/// The answer to a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Written; the record's new version.
    Done(u64),
    /// The record was not at the version expected (another message wrote first).
    Conflict,
}

/// The durable record of started builds ([`crate::ledger`]): a key-value store with
/// conditional writes (DynamoDB).
pub trait Ledger {
    fn read(&self, key: &str) -> impl Future<Output = Result<Option<Versioned>, PortError>> + Send;
    /// Writes `record` if the stored version is `expected` (`None`: no record).
    fn write(
        &self,
        key: &str,
        record: &Record,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<Written, PortError>> + Send;
    /// Removes the record if the stored version is `expected`.
    fn remove(&self, key: &str, expected: u64) -> impl Future<Output = Result<Written, PortError>> + Send;
}

/// The spawner's queues (SQS).
pub trait Queues {
    /// Sends messages to the builds queue (SendMessageBatch, within its limits), answering
    /// those that were not sent, by index, with why.
    fn send_builds(&self, bodies: &[String]) -> impl Future<Output = Result<Vec<(usize, String)>, PortError>> + Send;
    /// Hides a received message for `seconds` before it is received again
    /// (ChangeMessageVisibility); `queue_arn` is the event's `eventSourceARN`.
    fn hide(
        &self,
        queue_arn: &str,
        receipt_handle: &str,
        seconds: u64,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Sends a message that will not be handled to the dead-letter queue, with why and the
    /// queue it was received from (for `dockhand dead-letters`).
    fn dead_letter(
        &self,
        body: &str,
        reason: &str,
        source_queue_arn: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The time, in Unix seconds: the system's in the functions, a hand-moved one in tests.
pub trait Clock {
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// Sends one notification (an SNS Publish with `MessageStructure=json`).
pub trait NotificationSink {
    fn send(&self, request: &PublishRequest) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// A git object id (SHA-1, the only kind GitHub serves), held as its 20 bytes rather than
/// 40 hexadecimal characters: a large repository's tree holds half a million of them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 20]);

impl ObjectId {
    /// From 40 hexadecimal digits (either case); `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 20];
        (hex.len() == 40 && hex::decode_to_slice(hex, &mut bytes).is_ok()).then_some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl From<[u8; 20]> for ObjectId {
    fn from(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }
}

impl std::str::FromStr for ObjectId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s).ok_or_else(|| format!("{s:?} is not a git object id (40 hexadecimal digits)"))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// What kind of file a tree entry is, from its git mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// Mode 100644 (and the legacy 100664).
    Regular,
    /// Mode 100755.
    Executable,
    /// Mode 120000: the content is the link's target, a path. A symlink named `Dockerfile`
    /// or `.dockhand.yml` is not one: following it could read outside the directory, or
    /// outside the repository.
    Symlink,
}

impl FileKind {
    /// The kind of a file entry's mode (`100644`, `100755`, `120000`); `None` for modes
    /// that are not files (`040000` trees, `160000` submodules).
    pub fn from_mode(mode: &str) -> Option<Self> {
        match mode {
            "100644" | "100664" => Some(FileKind::Regular),
            "100755" => Some(FileKind::Executable),
            "120000" => Some(FileKind::Symlink),
            _ => None,
        }
    }
}

/// One file of a repository at a commit (a blob: a regular file, an executable or a
/// symlink; trees are walked, not listed). Compact, because the spawner holds every file
/// of the pushed commit at once: 40 bytes and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Repository-relative, `/`-separated, never starting with `/`.
    pub path: Box<str>,
    /// The git object id of the content: equal ids mean equal content.
    pub sha: ObjectId,
    pub kind: FileKind,
}

impl TreeFile {
    pub fn new(path: impl Into<Box<str>>, sha: ObjectId, kind: FileKind) -> Self {
        Self {
            path: path.into(),
            sha,
            kind,
        }
    }

    pub fn is_symlink(&self) -> bool {
        self.kind == FileKind::Symlink
    }
}

/// One path a comparison of two commits found changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    /// The path at the head commit (for a removal, the path that was removed).
    pub path: String,
    /// For a rename or a copy, the path at the base commit.
    pub previous_path: Option<String>,
    /// True when `path` no longer exists at the head commit.
    pub removed: bool,
}

/// Why the source host could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// 404: the repository, commit or path is unknown, or the repository is private and
    /// the request carried no token (GitHub answers 404, not 403, then).
    #[error("not found: {0}")]
    NotFound(String),
    /// 401, or 403 not caused by a rate limit: the token is wrong or lacks access.
    #[error("access denied: {0}")]
    Denied(String),
    /// The rate limit is spent until `reset` (Unix seconds), after any wait the adapter
    /// was willing to make.
    #[error("rate limited until {reset} (Unix time): {detail}")]
    RateLimited { reset: u64, detail: String },
    /// 5xx, a timeout or a connection failure that outlasted the bounded retries, or an
    /// answer that could not be read.
    #[error("{0}")]
    Unavailable(String),
    /// The answer needs more than the adapter's bounds allow (the requests or the time of
    /// a tree walk): asking again would meet the same bounds, so a person must act.
    #[error("{0}")]
    OverBudget(String),
    /// The file is larger than the `max_bytes` its reader allows; `size` when the host said
    /// how large (otherwise only that it is larger was read).
    #[error("{path} is larger than the {limit} bytes allowed")]
    FileTooLarge {
        path: String,
        limit: usize,
        size: Option<u64>,
    },
}

/// The Git host a repository lives on (GitHub's REST API), read at exact commits.
/// `repository` is `owner/name` as in the push's `repository.full_name`.
pub trait SourceHost {
    /// Every file at `commit`, recursively, complete: a truncated listing is completed by
    /// walking its subtrees.
    fn tree(&self, repository: &str, commit: &str) -> impl Future<Output = Result<Vec<TreeFile>, HostError>> + Send;
    /// The paths changed from `base` to `head` (as `git diff base head` sees them, both
    /// sides of a rename), complete: when the host's comparison cannot list every file,
    /// the adapter compares the two trees instead.
    fn compare(
        &self,
        repository: &str,
        base: &str,
        head: &str,
    ) -> impl Future<Output = Result<Vec<ChangedFile>, HostError>> + Send;
    /// The content of the file `path` at `commit`, `None` when there is no such file, and
    /// [`HostError::FileTooLarge`] when it is larger than `max_bytes`: never more than
    /// `max_bytes + 1` bytes of it are read.
    fn file(
        &self,
        repository: &str,
        commit: &str,
        path: &str,
        max_bytes: usize,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, HostError>> + Send;
}

/// One page of a project's build ids (ListBuildsForProject).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildPage {
    /// At most 100 ids.
    pub ids: Vec<String>,
    /// Opaque: where the next page starts, to be handed back as it is; `None` on the last.
    pub next_token: Option<String>,
    /// True when the pages are in ascending order of build number, oldest first; false
    /// when the service would only answer in its default order, newest first.
    pub oldest_first: bool,
}

/// The build records of a CodeBuild project, a page at a time.
pub trait BuildHistory {
    /// One page of the project's build ids, oldest first where the service allows it:
    /// the first page for `token: None`, otherwise the page that an earlier page's
    /// `next_token` points to.
    fn list_page(
        &self,
        project: &str,
        token: Option<&str>,
    ) -> impl Future<Output = Result<BuildPage, PortError>> + Send;
    /// The records of at most 100 builds; ids the service does not know are left out.
    fn get_builds(&self, ids: &[String]) -> impl Future<Output = Result<Vec<BuildRecord>, PortError>> + Send;
    /// Deletes at most 100 builds, answering those not deleted with the reason.
    fn delete_builds(&self, ids: &[String]) -> impl Future<Output = Result<Vec<(String, String)>, PortError>> + Send;
}

pub mod memory;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            parse_secrets("  new \n\nold\r\n")
                .iter()
                .map(Secret::expose)
                .collect::<Vec<_>>(),
            ["new", "old"]
        );
    }
}
