//! A thousand planned builds against a CodeBuild that refuses above N running builds,
//! throttles at random, sometimes starts a build and loses the answer, and finishes builds
//! over simulated time; the builds queue behaves as SQS does (visibility timeouts, receive
//! counts, redeliveries, duplicates). Every build must start, and none twice.

mod support;

use dockhand_core::error::PortError;
use dockhand_core::ledger::{Record, Versioned, Written};
use dockhand_core::ports::memory::{ManualClock, MemoryLedger};
use dockhand_core::ports::{BuildStarter, Clock, FinishedBuild, Holds, ImageRecords, Ledger, Queues, ReadCache};
use dockhand_core::request::{ChangeSource, Changes};
use dockhand_core::source::ListedHost;
use dockhand_core::start_build::{StartBuildRequest, StartError};
use dockhand_core::tree::{FileKind, TreeFile};
use dockhand_core::waves::Held;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use support::*;

/// A small, seeded generator: the same run every time.
#[derive(Clone)]
struct Rng(Arc<Mutex<u64>>);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(Arc::new(Mutex::new(seed)))
    }
    fn next(&self) -> u64 {
        let mut s = self.0.lock().unwrap();
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }
    fn chance(&self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn between(&self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

#[derive(Debug, Clone)]
struct Started {
    id: String,
    key: String,
    start: u64,
    end: u64,
}

#[derive(Default)]
struct CodeBuildState {
    builds: Vec<Started>,
    /// token → (build id, when, the request): CodeBuild's five minutes of idempotency.
    tokens: HashMap<String, (String, u64, StartBuildRequest)>,
    calls: usize,
    refused: usize,
    throttled: usize,
    answers_lost: usize,
    searches: usize,
}

/// CodeBuild with a project concurrency limit, random throttling, and answers lost after
/// the build was created (a timeout the SDK could not tell from no build).
#[derive(Clone)]
struct FakeCodeBuild {
    state: Arc<Mutex<CodeBuildState>>,
    clock: ManualClock,
    rng: Rng,
    limit: usize,
}

impl BuildStarter for FakeCodeBuild {
    async fn start_build(&self, r: &StartBuildRequest) -> Result<String, StartError> {
        let now = self.clock.now();
        let mut s = self.state.lock().unwrap();
        s.calls += 1;
        if self.rng.chance(5) {
            s.throttled += 1;
            return Err(StartError::NoCapacity("ThrottlingException: Rate exceeded".into()));
        }
        if let Some((id, at, earlier)) = s.tokens.get(&r.idempotency_token)
            && now < at + 300
        {
            return if earlier == r {
                Ok(id.clone())
            } else {
                Err(StartError::Refused("IdempotentParameterMismatchException".into()))
            };
        }
        let running = s.builds.iter().filter(|b| b.start <= now && now < b.end).count();
        if running >= self.limit {
            s.refused += 1;
            return Err(StartError::NoCapacity(format!(
                "AccountLimitExceededException: Cannot have more than {} active builds for the project",
                self.limit
            )));
        }
        let id = format!("dockhand:{:06}", s.builds.len());
        let key = r.env("DOCKHAND_BUILD_KEY").unwrap_or_default().to_owned();
        let end = now + self.rng.between(120, 600);
        s.builds.push(Started {
            id: id.clone(),
            key,
            start: now,
            end,
        });
        s.tokens
            .insert(r.idempotency_token.clone(), (id.clone(), now, r.clone()));
        if self.rng.chance(2) {
            s.answers_lost += 1;
            return Err(StartError::Unknown("timed out waiting for the response".into()));
        }
        Ok(id)
    }

    async fn find_build(&self, _project: &str, key: &str, since: u64) -> Result<Option<String>, PortError> {
        let mut s = self.state.lock().unwrap();
        s.searches += 1;
        Ok(s.builds
            .iter()
            .find(|b| b.key == key && b.start >= since)
            .map(|b| b.id.clone()))
    }

    /// The simulation's images are built from none: nothing asks what a build was.
    async fn build(&self, _id: &str) -> Result<Option<FinishedBuild>, PortError> {
        Ok(None)
    }
}

/// The ledger, failing one write in fifty after its condition held: as if the spawner
/// crashed between StartBuild and recording the build.
#[derive(Clone)]
struct FlakyLedger {
    inner: MemoryLedger,
    rng: Rng,
    failed: Arc<Mutex<usize>>,
}

impl Ledger for FlakyLedger {
    async fn read(&self, key: &str) -> Result<Option<Versioned>, PortError> {
        self.inner.read(key).await
    }
    async fn write(&self, key: &str, record: &Record, expected: Option<u64>) -> Result<Written, PortError> {
        if record.build_id.is_some() && self.rng.chance(2) {
            *self.failed.lock().unwrap() += 1;
            return Err(PortError("ProvisionedThroughputExceededException".into()));
        }
        self.inner.write(key, record, expected).await
    }
    async fn remove(&self, key: &str, expected: u64) -> Result<Written, PortError> {
        self.inner.remove(key, expected).await
    }
}

impl Holds for FlakyLedger {
    async fn held(&self, key: &str) -> Result<Option<(Held, u64)>, PortError> {
        self.inner.held(key).await
    }
    async fn hold(&self, key: &str, held: &Held, expected: Option<u64>) -> Result<Written, PortError> {
        self.inner.hold(key, held, expected).await
    }
}

impl ReadCache for FlakyLedger {
    async fn cached(&self, keys: &[String]) -> Result<std::collections::HashMap<String, String>, PortError> {
        self.inner.cached(keys).await
    }
    async fn store(&self, key: &str, value: &str, expires_at: u64) -> Result<(), PortError> {
        self.inner.store(key, value, expires_at).await
    }
}

impl ImageRecords for FlakyLedger {
    async fn recorded(&self, keys: &[String]) -> Result<std::collections::HashSet<String>, PortError> {
        self.inner.recorded(keys).await
    }
    async fn record(&self, key: &str, expires_at: u64) -> Result<(), PortError> {
        self.inner.record(key, expires_at).await
    }
}

#[derive(Debug, Clone)]
struct Queued {
    id: String,
    body: String,
    sent: u64,
    receives: u32,
    visible_at: u64,
}

/// The builds queue as SQS keeps it: hidden messages come back when their visibility
/// timeout ends; a received message is hidden for the queue's visibility timeout unless
/// the consumer says otherwise.
#[derive(Clone, Default)]
struct SimulatedQueue {
    messages: Arc<Mutex<Vec<Queued>>>,
    dead: Arc<Mutex<Vec<(String, String)>>>,
    clock: ManualClock,
    next_id: Arc<Mutex<usize>>,
}

const VISIBILITY_TIMEOUT: u64 = 360;

impl SimulatedQueue {
    fn push(&self, body: String) {
        let mut n = self.next_id.lock().unwrap();
        *n += 1;
        let now = self.clock.now();
        self.messages.lock().unwrap().push(Queued {
            id: format!("m{:06}", *n),
            body,
            sent: now,
            receives: 0,
            visible_at: now,
        });
    }

    /// Up to 10 visible messages, now hidden for the visibility timeout.
    fn receive(&self) -> Vec<Message> {
        let now = self.clock.now();
        let mut messages = self.messages.lock().unwrap();
        let mut batch = Vec::new();
        for m in messages.iter_mut().filter(|m| m.visible_at <= now).take(10) {
            m.receives += 1;
            m.visible_at = now + VISIBILITY_TIMEOUT;
            batch.push(Message {
                id: m.id.clone(),
                body: m.body.clone(),
                receive_count: m.receives,
                sent: m.sent,
            });
        }
        batch
    }

    fn delete(&self, id: &str) {
        self.messages.lock().unwrap().retain(|m| m.id != id);
    }

    fn next_visible(&self) -> Option<u64> {
        self.messages.lock().unwrap().iter().map(|m| m.visible_at).min()
    }
}

impl Queues for SimulatedQueue {
    async fn send_builds(&self, bodies: &[String]) -> Result<Vec<(usize, String)>, PortError> {
        for body in bodies {
            self.push(body.clone());
        }
        Ok(Vec::new())
    }
    async fn send_requests(&self, bodies: &[String]) -> Result<Vec<(usize, String)>, PortError> {
        Err(PortError(format!(
            "the simulation has no requests queue ({} bodies)",
            bodies.len()
        )))
    }
    async fn hide(&self, _queue_arn: &str, receipt_handle: &str, seconds: u64) -> Result<(), PortError> {
        let now = self.clock.now();
        let mut messages = self.messages.lock().unwrap();
        if let Some(m) = messages
            .iter_mut()
            .find(|m| receipt_handle == format!("receipt-{}-{}", m.id, m.receives))
        {
            m.visible_at = now + seconds;
        }
        Ok(())
    }
    async fn dead_letter(&self, body: &str, reason: &str, _source_queue_arn: &str) -> Result<(), PortError> {
        self.dead.lock().unwrap().push((body.to_owned(), reason.to_owned()));
        Ok(())
    }
}

#[tokio::test]
async fn a_thousand_builds_each_start_exactly_once() {
    const BUILDS: usize = 1000;
    const LIMIT: usize = 20;
    let rng = Rng::new(0x5eed_d0c4_4a4d);
    let clock = ManualClock::at(NOW);

    // A new branch of a repository of a thousand images, planned by the real planner.
    let host = ListedHost {
        files: (0..BUILDS)
            .map(|i| {
                let mut sha = [0; 20];
                sha[18..].copy_from_slice(&(i as u16).to_be_bytes());
                TreeFile::new(format!("images/img{i:04}/Dockerfile"), sha.into(), FileKind::Regular)
            })
            .collect(),
        ..Default::default()
    };
    let codebuild = FakeCodeBuild {
        state: Arc::default(),
        clock: clock.clone(),
        rng: rng.clone(),
        limit: LIMIT,
    };
    let queue = SimulatedQueue {
        clock: clock.clone(),
        ..Default::default()
    };
    let ledger = FlakyLedger {
        inner: MemoryLedger::default(),
        rng: rng.clone(),
        failed: Arc::default(),
    };
    let base = spawner(codebuild.clone(), host);
    let spawner = dockhand_spawner::Spawner {
        deployment: base.deployment,
        settings: base.settings,
        starter: base.starter,
        host: base.host,
        alerts: base.alerts,
        alerts_topic_arn: None,
        ledger,
        queues: queue.clone(),
        clock: clock.clone(),
    };
    let mut request = request();
    request.changes = Changes {
        source: ChangeSource::NewRef,
        ..Default::default()
    };
    let body = request.clone().encode_for_sns().unwrap().1;
    let (response, report) = spawner
        .handle(&sqs_event(REQUESTS_ARN, &[Message::new("request", &body)]), None)
        .await;
    assert!(failed(&response).is_empty(), "{report:?}");
    assert_eq!(queue.messages.lock().unwrap().len(), BUILDS);

    // A redelivered webhook plans every build again, a quarter of an hour later.
    let mut redelivered = false;
    let mut batches = 0usize;
    let mut all_started_at = None;
    while let Some(next) = queue.next_visible() {
        let now = clock.now();
        if next > now {
            clock.set(next);
        }
        if !redelivered && clock.now() >= NOW + 900 {
            redelivered = true;
            let mut again = request.clone();
            again.delivery = "a-redelivery".into();
            let body = again.encode_for_sns().unwrap().1;
            spawner
                .handle(&sqs_event(REQUESTS_ARN, &[Message::new("request-2", &body)]), None)
                .await;
        }
        // The mapping's two pollers, each with a batch; SQS's at-least-once delivery now
        // and then hands the same message to both.
        let first = queue.receive();
        let mut second = queue.receive();
        if let Some(m) = first.first()
            && rng.chance(3)
        {
            second.push(Message {
                id: m.id.clone(),
                body: m.body.clone(),
                receive_count: m.receive_count,
                sent: m.sent,
            });
        }
        for batch in [first, second] {
            if batch.is_empty() {
                continue;
            }
            batches += 1;
            let (response, _) = spawner.handle(&sqs_event(BUILDS_ARN, &batch), None).await;
            let failures = failed(&response);
            for m in &batch {
                if !failures.contains(&m.id) {
                    queue.delete(&m.id);
                }
            }
        }
        let started = codebuild.state.lock().unwrap().builds.len();
        if started >= BUILDS && all_started_at.is_none() {
            all_started_at = Some(clock.now() - NOW);
        }
        // A second of simulated time per round of polling.
        clock.advance(1);
    }

    let s = codebuild.state.lock().unwrap();
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &s.builds {
        *per_key.entry(b.key.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = per_key.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "started more than once: {twice:?}");
    assert_eq!(per_key.len(), BUILDS, "every build started");
    assert!(
        queue.dead.lock().unwrap().is_empty(),
        "{:?}",
        queue.dead.lock().unwrap()
    );
    // Every key the planner sent is recorded as started.
    let ledger = spawner.ledger.inner.records();
    assert_eq!(ledger.len(), BUILDS);
    assert!(ledger.values().all(|v| v.record.build_id.is_some()));
    // The most builds running at once is reached when one starts.
    let peak = s
        .builds
        .iter()
        .map(|started| {
            s.builds
                .iter()
                .filter(|b| b.start <= started.start && started.start < b.end)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(peak <= LIMIT, "{peak} builds ran at once");
    let started_in = all_started_at.expect("all started");
    eprintln!(
        "simulation: {BUILDS} builds, limit {LIMIT}: all started after {} s simulated ({:.1} h); \
         {} StartBuild calls ({} refused for capacity, {} throttled, {} answers lost), {} searches, \
         {} ledger writes failed, {batches} batches",
        started_in,
        started_in as f64 / 3600.0,
        s.calls,
        s.refused,
        s.throttled,
        s.answers_lost,
        s.searches,
        *spawner.ledger.failed.lock().unwrap(),
    );
}
