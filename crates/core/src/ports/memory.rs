//! In-memory stand-ins for the ports, shared by every test: the same behaviour as the real
//! adapters where the tests rely on it (conditional writes, batch answers), inspectable.

use super::{Clock, Ledger, NotificationSink, Queues};
use crate::error::PortError;
use crate::ledger::Written;
use crate::ledger::{Record, Versioned};
use crate::notification::PublishRequest;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Fail every call with this error, when set.
    pub fail: Arc<Mutex<Option<String>>>,
}

impl MemoryLedger {
    pub fn records(&self) -> BTreeMap<String, Versioned> {
        self.records.lock().expect("ledger").clone()
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

/// What a handler asked of its queues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueLog {
    /// Bodies sent to the builds queue, in order.
    pub sent: Vec<String>,
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
