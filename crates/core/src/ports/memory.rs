//! In-memory stand-ins for the ports, shared by every test: the same behaviour as the real
//! adapters where the tests rely on it (conditional writes, batch answers), inspectable.

use super::{
    BuildLogs, BuildStarter, Clock, FinishedBuild, Holds, ImageRecords, Ledger, NotificationSink, Publisher, Queues,
    ReadCache, SecretStore,
};
use crate::error::PortError;
use crate::ledger::{Record, Versioned, Written};
use crate::notification::PublishRequest;
use crate::signature::{Secret, parse_secrets};
use crate::start_build::{BUILD_KEY_VARIABLE, StartBuildRequest, StartError};
use crate::waves::Held;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A clock moved by hand.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn at(now: u64) -> Self {
        Self(Arc::new(AtomicU64::new(now)))
    }
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A ledger in a map, with DynamoDB's conditional-write semantics.
#[derive(Debug, Clone, Default)]
pub struct MemoryLedger {
    records: Arc<Mutex<BTreeMap<String, Versioned>>>,
    holds: Arc<Mutex<BTreeMap<String, (Held, u64)>>>,
    cache: Arc<Mutex<BTreeMap<String, String>>>,
    /// Fail every call with this error, when set.
    pub fail: Arc<Mutex<Option<String>>>,
}

impl MemoryLedger {
    pub fn records(&self) -> BTreeMap<String, Versioned> {
        self.records.lock().expect("ledger").clone()
    }

    /// The waiting builds' records, by key.
    pub fn holds(&self) -> BTreeMap<String, Held> {
        self.holds
            .lock()
            .expect("ledger")
            .iter()
            .map(|(k, (h, _))| (k.clone(), h.clone()))
            .collect()
    }

    /// The Dockerfiles read, by key.
    pub fn cache(&self) -> BTreeMap<String, String> {
        self.cache.lock().expect("ledger").clone()
    }

    fn check(&self) -> Result<(), PortError> {
        match &*self.fail.lock().expect("ledger") {
            Some(e) => Err(PortError(e.clone())),
            None => Ok(()),
        }
    }
}

impl Ledger for MemoryLedger {
    async fn read(&self, key: &str) -> Result<Option<Versioned>, PortError> {
        self.check()?;
        Ok(self.records.lock().expect("ledger").get(key).cloned())
    }

    async fn write(&self, key: &str, record: &Record, expected: Option<u64>) -> Result<Written, PortError> {
        self.check()?;
        let mut records = self.records.lock().expect("ledger");
        let current = records.get(key).map(|v| v.version);
        if current != expected {
            return Ok(Written::Conflict);
        }
        let version = current.unwrap_or(0) + 1;
        records.insert(
            key.to_owned(),
            Versioned {
                record: record.clone(),
                version,
            },
        );
        Ok(Written::Done(version))
    }

    async fn remove(&self, key: &str, expected: u64) -> Result<Written, PortError> {
        self.check()?;
        let mut records = self.records.lock().expect("ledger");
        if records.get(key).map(|v| v.version) != Some(expected) {
            return Ok(Written::Conflict);
        }
        records.remove(key);
        Ok(Written::Done(expected))
    }
}

/// The ledger's table holds the image records too: a key is recorded when an item of that
/// key exists, as in DynamoDB.
impl ImageRecords for MemoryLedger {
    async fn recorded(&self, keys: &[String]) -> Result<std::collections::HashSet<String>, PortError> {
        self.check()?;
        let records = self.records.lock().expect("ledger");
        Ok(keys.iter().filter(|k| records.contains_key(*k)).cloned().collect())
    }

    async fn record(&self, key: &str, expires_at: u64) -> Result<(), PortError> {
        self.check()?;
        let record = Record {
            owner: String::new(),
            build_id: None,
            attempt_at: None,
            updated_at: 0,
            expires_at,
        };
        self.records
            .lock()
            .expect("ledger")
            .insert(key.to_owned(), Versioned { record, version: 1 });
        Ok(())
    }
}

impl Holds for MemoryLedger {
    async fn held(&self, key: &str) -> Result<Option<(Held, u64)>, PortError> {
        self.check()?;
        Ok(self.holds.lock().expect("ledger").get(key).cloned())
    }

    async fn hold(&self, key: &str, held: &Held, expected: Option<u64>) -> Result<Written, PortError> {
        self.check()?;
        let mut holds = self.holds.lock().expect("ledger");
        let current = holds.get(key).map(|(_, v)| *v);
        if current != expected {
            return Ok(Written::Conflict);
        }
        let version = current.unwrap_or(0) + 1;
        holds.insert(key.to_owned(), (held.clone(), version));
        Ok(Written::Done(version))
    }
}

impl ReadCache for MemoryLedger {
    async fn cached(&self, keys: &[String]) -> Result<std::collections::HashMap<String, String>, PortError> {
        self.check()?;
        let cache = self.cache.lock().expect("ledger");
        Ok(keys
            .iter()
            .filter_map(|k| Some((k.clone(), cache.get(k)?.clone())))
            .collect())
    }

    async fn store(&self, key: &str, value: &str, _expires_at: u64) -> Result<(), PortError> {
        self.check()?;
        self.cache
            .lock()
            .expect("ledger")
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

/// What a handler asked of its queues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueLog {
    /// Bodies sent to the builds queue, in order.
    pub sent: Vec<String>,
    /// Bodies sent to the requests queue, in order.
    pub requests: Vec<String>,
    /// (queue ARN, receipt handle, seconds) of every message hidden.
    pub hidden: Vec<(String, String, u64)>,
    /// (body, reason) of every dead letter.
    pub dead: Vec<(String, String)>,
}

/// Queues that record what they are asked. `refuse_sends` answers that many of the next
/// sends (one message each) as failed, as SendMessageBatch can for single entries.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueues {
    pub log: Arc<Mutex<QueueLog>>,
    pub refuse_sends: Arc<Mutex<usize>>,
}

impl MemoryQueues {
    pub fn log(&self) -> QueueLog {
        self.log.lock().expect("queues").clone()
    }
}

impl Queues for MemoryQueues {
    async fn send_builds(&self, bodies: &[String]) -> Result<Vec<(usize, String)>, PortError> {
        let mut failed = Vec::new();
        let mut refuse = self.refuse_sends.lock().expect("queues");
        let mut log = self.log.lock().expect("queues");
        for (i, body) in bodies.iter().enumerate() {
            if *refuse > 0 {
                *refuse -= 1;
                failed.push((i, "InternalError: refused by the test".to_owned()));
            } else {
                log.sent.push(body.clone());
            }
        }
        Ok(failed)
    }

    async fn send_requests(&self, bodies: &[String]) -> Result<Vec<(usize, String)>, PortError> {
        self.log.lock().expect("queues").requests.extend(bodies.iter().cloned());
        Ok(Vec::new())
    }

    async fn hide(&self, queue_arn: &str, receipt_handle: &str, seconds: u64) -> Result<(), PortError> {
        self.log
            .lock()
            .expect("queues")
            .hidden
            .push((queue_arn.to_owned(), receipt_handle.to_owned(), seconds));
        Ok(())
    }

    async fn dead_letter(&self, body: &str, reason: &str, _source_queue_arn: &str) -> Result<(), PortError> {
        self.log
            .lock()
            .expect("queues")
            .dead
            .push((body.to_owned(), reason.to_owned()));
        Ok(())
    }
}

/// A notification sink that keeps what it is sent; `fail` makes every send fail.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    pub sent: Arc<Mutex<Vec<PublishRequest>>>,
    pub fail: Arc<Mutex<Option<String>>>,
}

impl MemorySink {
    pub fn sent(&self) -> Vec<PublishRequest> {
        self.sent.lock().expect("sink").clone()
    }

    /// The subjects sent, in order.
    pub fn subjects(&self) -> Vec<String> {
        self.sent().into_iter().map(|r| r.subject).collect()
    }

    /// The email text of the `n`th notification.
    pub fn email(&self, n: usize) -> String {
        let sent = self.sent();
        let message: serde_json::Value = serde_json::from_str(&sent[n].message).expect("a JSON message");
        message["email"].as_str().unwrap_or_default().to_owned()
    }
}

impl NotificationSink for MemorySink {
    async fn send(&self, request: &PublishRequest) -> Result<(), PortError> {
        if let Some(e) = &*self.fail.lock().expect("sink") {
            return Err(PortError(e.clone()));
        }
        self.sent.lock().expect("sink").push(request.clone());
        Ok(())
    }
}

/// Build logs by `group/stream`, each a list of lines; `fail` makes every read fail, and
/// `reads` counts them.
#[derive(Debug, Clone, Default)]
pub struct MemoryLogs {
    pub streams: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    pub fail: Arc<Mutex<Option<String>>>,
    pub reads: Arc<AtomicUsize>,
}

impl MemoryLogs {
    pub fn put(&self, group: &str, stream: &str, log: &str) {
        let lines = log.lines().map(str::to_owned).collect();
        self.streams
            .lock()
            .expect("logs")
            .insert(format!("{group}/{stream}"), lines);
    }
}

impl BuildLogs for MemoryLogs {
    async fn report_lines(&self, group: &str, stream: &str) -> Result<Vec<String>, PortError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = &*self.fail.lock().expect("logs") {
            return Err(PortError(e.clone()));
        }
        let streams = self.streams.lock().expect("logs");
        let lines = streams.get(&format!("{group}/{stream}")).cloned().unwrap_or_default();
        Ok(lines
            .into_iter()
            .filter(|l| l.starts_with(crate::build_report::PREFIX))
            .collect())
    }
}

/// A topic that keeps what is published to it; while `fail` holds a message, every
/// publish fails with it, as SNS does when it is down.
#[derive(Debug, Clone, Default)]
pub struct MemoryTopic {
    messages: Arc<Mutex<Vec<String>>>,
    pub fail: Arc<Mutex<Option<String>>>,
}

impl MemoryTopic {
    /// The messages published, in order.
    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().expect("topic").clone()
    }
}

impl Publisher for MemoryTopic {
    async fn publish(&self, message: &str) -> Result<(), PortError> {
        if let Some(e) = &*self.fail.lock().expect("topic") {
            return Err(PortError(e.clone()));
        }
        self.messages.lock().expect("topic").push(message.to_owned());
        Ok(())
    }
}

/// The webhook secret parameter: its value (one secret per line, as SSM holds it), which a
/// test may change as a rotation does, and how many times it was read.
#[derive(Debug, Clone, Default)]
pub struct MemorySecrets {
    value: Arc<Mutex<String>>,
    reads: Arc<AtomicUsize>,
}

impl MemorySecrets {
    pub fn new(value: &str) -> Self {
        let secrets = Self::default();
        secrets.set(value);
        secrets
    }

    pub fn set(&self, value: &str) {
        *self.value.lock().expect("secrets") = value.to_owned();
    }

    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl SecretStore for MemorySecrets {
    async fn webhook_secrets(&self) -> Result<Vec<Secret>, PortError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(parse_secrets(&self.value.lock().expect("secrets")))
    }
}

/// CodeBuild that starts every build it is asked to (ids `project:1`, `project:2`, ...),
/// at the time of its clock, and finds a started build by its key, as the real one does
/// by the build's `DOCKHAND_BUILD_KEY` variable; while `refuse` holds an error, every
/// start answers it.
///
/// The idempotency token behaves as StartBuild documents it
/// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html): it is
/// valid for 5 minutes; a repeat within them answers the build already started, and a
/// repeat that changes a parameter is a parameter mismatch error. After them the same
/// token starts a new build.
#[derive(Debug, Clone, Default)]
pub struct MemoryCodeBuild {
    started: Arc<Mutex<Vec<Started>>>,
    /// What BatchGetBuilds answers for a build that ended, by id ([`Self::finish`]).
    finished: Arc<Mutex<BTreeMap<String, FinishedBuild>>>,
    pub refuse: Arc<Mutex<Option<StartError>>>,
    /// When builds start; a test moves it with the spawner's clock.
    pub clock: ManualClock,
}

#[derive(Debug, Clone)]
struct Started {
    id: String,
    request: StartBuildRequest,
    at: u64,
}

/// How long StartBuild's idempotency token is valid, in seconds.
pub const IDEMPOTENCY_WINDOW: u64 = 5 * 60;

impl MemoryCodeBuild {
    /// A CodeBuild that answers every start with `error`.
    pub fn refusing(error: StartError) -> Self {
        let codebuild = Self::default();
        *codebuild.refuse.lock().expect("codebuild") = Some(error);
        codebuild
    }

    /// Ends a started build with `status`, exporting `exported`: what BatchGetBuilds answers
    /// for it from then on.
    pub fn finish(&self, id: &str, status: &str, exported: &[(&str, &str)]) -> FinishedBuild {
        let request = self
            .started
            .lock()
            .expect("codebuild")
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.request.clone())
            .expect("only a started build finishes");
        let build = FinishedBuild {
            id: id.to_owned(),
            project: request.project_name.clone(),
            status: status.to_owned(),
            environment: request
                .environment_variables_override
                .iter()
                .map(|v| (v.name.clone(), v.value.clone()))
                .collect(),
            exported: exported.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            logs_link: Some(format!("https://console.example/{id}")),
        };
        self.finished
            .lock()
            .expect("codebuild")
            .insert(id.to_owned(), build.clone());
        build
    }

    /// (build id, request) of every build started, in order.
    pub fn started(&self) -> Vec<(String, StartBuildRequest)> {
        self.started
            .lock()
            .expect("codebuild")
            .iter()
            .map(|b| (b.id.clone(), b.request.clone()))
            .collect()
    }
}

impl BuildStarter for MemoryCodeBuild {
    async fn start_build(&self, request: &StartBuildRequest) -> Result<String, StartError> {
        if let Some(e) = &*self.refuse.lock().expect("codebuild") {
            return Err(e.clone());
        }
        let now = self.clock.now();
        let mut started = self.started.lock().expect("codebuild");
        let repeat = started
            .iter()
            .rev()
            .find(|b| b.request.idempotency_token == request.idempotency_token && now < b.at + IDEMPOTENCY_WINDOW);
        match repeat {
            Some(b) if b.request == *request => return Ok(b.id.clone()),
            Some(_) => {
                return Err(StartError::Refused(
                    "InvalidInputException: idempotency token parameter mismatch".into(),
                ));
            }
            None => {}
        }
        let id = format!("{}:{}", request.project_name, started.len() + 1);
        started.push(Started {
            id: id.clone(),
            request: request.clone(),
            at: now,
        });
        Ok(id)
    }

    async fn find_build(&self, project: &str, key: &str, since: u64) -> Result<Option<String>, PortError> {
        Ok(self
            .started
            .lock()
            .expect("codebuild")
            .iter()
            .rev()
            .find(|b| {
                b.at >= since
                    && b.request.project_name == project
                    && b.request
                        .environment_variables_override
                        .iter()
                        .any(|v| v.name == BUILD_KEY_VARIABLE && v.value == key)
            })
            .map(|b| b.id.clone()))
    }

    async fn build(&self, id: &str) -> Result<Option<FinishedBuild>, PortError> {
        if let Some(build) = self.finished.lock().expect("codebuild").get(id) {
            return Ok(Some(build.clone()));
        }
        Ok(self
            .started
            .lock()
            .expect("codebuild")
            .iter()
            .find(|b| b.id == id)
            .map(|b| FinishedBuild {
                id: b.id.clone(),
                project: b.request.project_name.clone(),
                status: "IN_PROGRESS".into(),
                environment: b
                    .request
                    .environment_variables_override
                    .iter()
                    .map(|v| (v.name.clone(), v.value.clone()))
                    .collect(),
                exported: Vec::new(),
                logs_link: None,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::start_build::EnvironmentVariable;
    use std::task::{Context, Poll, Waker};

    /// The fakes answer at once: one poll runs a call to its end.
    fn now<T>(future: impl Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("an in-memory port never waits"),
        }
    }

    fn request(key: &str) -> StartBuildRequest {
        let mut request = crate::testing::queued_build("6113728f27ae82c7b1a177c8d03f9e96e0adf246").request;
        request.environment_variables_override = vec![EnvironmentVariable {
            name: BUILD_KEY_VARIABLE.into(),
            value: key.into(),
            kind: "PLAINTEXT".into(),
        }];
        request.idempotency_token = key.into();
        request
    }

    #[test]
    fn codebuild_starts_finds_by_key_and_refuses_when_told() {
        let codebuild = MemoryCodeBuild::default();
        assert_eq!(now(codebuild.start_build(&request("k1"))), Ok("dockhand:1".into()));
        assert_eq!(now(codebuild.start_build(&request("k2"))), Ok("dockhand:2".into()));
        assert_eq!(
            now(codebuild.find_build("dockhand", "k2", 0)),
            Ok(Some("dockhand:2".into()))
        );
        assert_eq!(now(codebuild.find_build("dockhand", "k3", 0)), Ok(None));
        assert_eq!(now(codebuild.find_build("other", "k1", 0)), Ok(None));
        // The token: a repeat within 5 minutes is the same build, a changed one a mismatch,
        // and after them a new build.
        assert_eq!(now(codebuild.start_build(&request("k1"))), Ok("dockhand:1".into()));
        let mut changed = request("k1");
        changed.timeout_in_minutes_override = 30;
        assert!(matches!(now(codebuild.start_build(&changed)), Err(StartError::Refused(e)) if e.contains("mismatch")));
        codebuild.clock.advance(IDEMPOTENCY_WINDOW);
        assert_eq!(now(codebuild.start_build(&request("k1"))), Ok("dockhand:3".into()));
        assert_eq!(codebuild.started().len(), 3);
        // Found only among the builds started since the time asked.
        assert_eq!(
            now(codebuild.find_build("dockhand", "k1", IDEMPOTENCY_WINDOW)),
            Ok(Some("dockhand:3".into()))
        );
        assert_eq!(now(codebuild.find_build("dockhand", "k2", 1)), Ok(None));
        let full = MemoryCodeBuild::refusing(StartError::NoCapacity("AccountLimitExceededException".into()));
        assert!(matches!(
            now(full.start_build(&request("k1"))),
            Err(StartError::NoCapacity(_))
        ));
        assert!(full.started().is_empty());
    }

    #[test]
    fn topic_and_secrets_keep_what_they_are_given() {
        let topic = MemoryTopic::default();
        now(topic.publish("one")).unwrap();
        *topic.fail.lock().unwrap() = Some("SNS is down".into());
        assert_eq!(now(topic.publish("two")), Err(PortError("SNS is down".into())));
        assert_eq!(topic.messages(), ["one"]);
        let secrets = MemorySecrets::new("old");
        secrets.set(" new \nold\n");
        let read = now(secrets.webhook_secrets()).unwrap();
        assert_eq!(read.iter().map(Secret::expose).collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(secrets.reads(), 1);
    }
}
