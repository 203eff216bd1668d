//! The outside world as the core sees it. The `dockhand-aws` crate implements these over
//! the AWS SDK; tests use the in-memory ones of [`memory`]. Traits only: what crosses a
//! port is data defined in the layers below.

use crate::error::PortError;
use crate::ledger::{Record, Versioned, Written};
use crate::notification::PublishRequest;
use crate::order::{CommitInfo, RepositoryInfo};
use crate::retention::{BuildPage, BuildRecord};
use crate::signature::Secret;
use crate::start_build::{StartBuildRequest, StartError};
use crate::tree::{ChangedFile, HostError, Listing};
use crate::waves::Held;
use std::collections::HashMap;
use std::future::Future;

/// Publishes one message to a topic.
pub trait Publisher {
    fn publish(&self, message: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Reads the webhook secrets currently valid.
pub trait SecretStore {
    fn webhook_secrets(&self) -> impl Future<Output = Result<Vec<Secret>, PortError>> + Send;
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
    /// A build as BatchGetBuilds answers it, `None` when CodeBuild does not know the id.
    fn build(&self, id: &str) -> impl Future<Output = Result<Option<FinishedBuild>, PortError>> + Send;
}

/// What a build is, as CodeBuild answers it after it ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FinishedBuild {
    pub id: String,
    pub project: String,
    /// `SUCCEEDED`, `FAILED`, `FAULT`, `TIMED_OUT`, `STOPPED` or `IN_PROGRESS`.
    pub status: String,
    /// Its environment overrides, by name.
    pub environment: Vec<(String, String)>,
    /// The variables the buildspec exported (`env.exported-variables`), by name.
    pub exported: Vec<(String, String)>,
    /// The console link to its log, when CodeBuild gives one.
    pub logs_link: Option<String>,
}

impl FinishedBuild {
    pub fn env(&self, name: &str) -> Option<&str> {
        self.environment
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn exported(&self, name: &str) -> Option<&str> {
        self.exported.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
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

/// The record of pushed images ([`crate::image_key`]): items in the ledger's table, one per
/// image repository and key ([`crate::image_key::record_key`]).
pub trait ImageRecords {
    /// Which of `keys` are recorded. Any number of keys: the adapter splits them into its
    /// store's batches and retries what the store left unprocessed, within bounds; an
    /// error means the answer is incomplete (the caller builds, it never skips).
    fn recorded(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<std::collections::HashSet<String>, PortError>> + Send;
    /// Records `key` until `expires_at` (Unix seconds; the store's TTL removes it later).
    fn record(&self, key: &str, expires_at: u64) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Builds waiting for their bases ([`crate::waves`]): items in the ledger's table, one per
/// waiting build's key, written with conditions on a version, as the ledger's are.
pub trait Holds {
    fn held(&self, key: &str) -> impl Future<Output = Result<Option<(Held, u64)>, PortError>> + Send;
    /// Writes `held` if the stored version is `expected` (`None`: no record).
    fn hold(
        &self,
        key: &str,
        held: &Held,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<Written, PortError>> + Send;
}

/// Dockerfiles read before ([`crate::source`]): what a Dockerfile blob gives with a set of
/// build arguments never changes, so each is read from GitHub once.
pub trait ReadCache {
    /// The values stored under those of `keys` that are, by key; an error is a miss.
    fn cached(&self, keys: &[String]) -> impl Future<Output = Result<HashMap<String, String>, PortError>> + Send;
    /// Stores `value` under `key` until `expires_at` (Unix seconds).
    fn store(&self, key: &str, value: &str, expires_at: u64) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// No cache: every Dockerfile is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

impl ReadCache for NoCache {
    async fn cached(&self, _keys: &[String]) -> Result<HashMap<String, String>, PortError> {
        Ok(HashMap::new())
    }
    async fn store(&self, _key: &str, _value: &str, _expires_at: u64) -> Result<(), PortError> {
        Ok(())
    }
}

/// The spawner's queues (SQS).
pub trait Queues {
    /// Sends messages to the builds queue (SendMessageBatch, within its limits), answering
    /// those that were not sent, by index, with why.
    fn send_builds(&self, bodies: &[String]) -> impl Future<Output = Result<Vec<(usize, String)>, PortError>> + Send;
    /// Sends messages to the requests queue, as [`Self::send_builds`] does to the builds
    /// queue: the orders of a scheduled refresh, one per repository.
    fn send_requests(&self, bodies: &[String]) -> impl Future<Output = Result<Vec<(usize, String)>, PortError>> + Send;
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

/// Sends one notification (an SNS Publish with `MessageStructure=json`).
pub trait NotificationSink {
    fn send(&self, request: &PublishRequest) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The build logs (CloudWatch Logs): where a build's report lines are read back
/// ([`crate::build_report`]).
pub trait BuildLogs {
    /// The lines among the last events of a build's log stream that start with
    /// [`crate::build_report::PREFIX`], oldest first; none when the stream does not exist
    /// (a build that never started writes none).
    fn report_lines(&self, group: &str, stream: &str) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
}

/// The Git host a repository lives on (GitHub's REST API), read at exact commits.
/// `repository` is `owner/name` as in the push's `repository.full_name`.
pub trait SourceHost {
    /// Whether [`Self::file`] can read any file (a host made of listings may know
    /// `.dockhand.yml` alone).
    fn reads_files(&self) -> bool {
        true
    }
    /// Every file at `commit`, recursively, complete: a truncated listing is completed by
    /// walking its subtrees; with the tree id of every directory, the root's as ".".
    fn tree(&self, repository: &str, commit: &str) -> impl Future<Output = Result<Listing, HostError>> + Send;
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
    /// The repository as the host names it (its spelling, privacy, default branch): what
    /// an order ([`crate::order`]) needs that a push's payload carries.
    fn repository(&self, repository: &str) -> impl Future<Output = Result<RepositoryInfo, HostError>> + Send;
    /// The commit `reference` names: `refs/heads/X`, `refs/tags/X` (peeled to its commit)
    /// or a commit id. [`HostError::NotFound`] when there is no such ref or commit.
    fn commit(&self, repository: &str, reference: &str) -> impl Future<Output = Result<CommitInfo, HostError>> + Send;
    /// Whether `ancestor` is `head` or one of its ancestors: an order's commit must be on
    /// the ref it is built as.
    fn is_ancestor(
        &self,
        repository: &str,
        ancestor: &str,
        head: &str,
    ) -> impl Future<Output = Result<bool, HostError>> + Send;
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
