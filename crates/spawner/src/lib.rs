//! The spawner: two steps joined by SQS queues, in one function with two event sources.
//!
//! - **Plan** (the requests queue, fed by the build-requests topic): reads GitHub's view of
//!   the pushed commit, plans the push ([`dockhand_core::source::plan_push`]) and sends one message per
//!   build to the builds queue. A GitHub that is rate limited or down makes the request
//!   wait in its queue (until the rate limit resets, or with a growing delay).
//! - **Start** (the builds queue): claims each build's key in the ledger, calls StartBuild
//!   on the shared project and records the build id ([`dockhand_core::ledger`]). "No
//!   capacity" (the project's or the account's concurrency) makes the build wait in its
//!   queue with a growing delay; it is not an error.
//!
//! Waiting is SQS's: the message is hidden (ChangeMessageVisibility) and reported as a
//! batch item failure. What still cannot proceed when its queue's retention is about to
//! end is sent to the dead-letter queue and notified: nothing is dropped silently.

pub mod github;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use dockhand_core::ledger::{self, Step, Written};
use dockhand_core::notification::{
    Notification, blocked_notification, dead_letter_notification, not_started_notification, order_refused_notification,
    short_sha, skip_notification,
};
use dockhand_core::order::{
    self, ORDER_RECORD_PREFIX, Order, OrderMessage, OrderRecord, OrderedBuild, OrderedSkip, ScheduledEvent,
};
use dockhand_core::plan::Action;
use dockhand_core::ports::{
    BuildStarter, Clock, Holds, ImageRecords, Ledger, NotificationSink, Queues, ReadCache, SourceHost,
};
use dockhand_core::queue::QueuedBuild;
use dockhand_core::retag;
use dockhand_core::retry::{self, Next, RetryPolicy};
use dockhand_core::source::{Unresolved, plan_push_with};
use dockhand_core::start_build::BUILD_KEY_VARIABLE;
use dockhand_core::start_build::StartError;
use dockhand_core::tree::HostError;
use dockhand_core::trust::validate;
use dockhand_core::waves::{self, DEPENDENTS_VARIABLE, DIGEST_VARIABLE, HeldState, Settled};
use dockhand_core::{BuildRequest, Deployment, PlanEntry, Skip};
use std::time::{Duration, Instant};

/// What one invocation did, for its log line and for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// (delivery, builds queued) of every request planned, re-tag jobs included.
    pub planned: Vec<(String, usize)>,
    /// The images given their tags by a re-tag job instead of a build: their key was
    /// pushed before.
    pub retagged: Vec<String>,
    /// (context, build id) of every build StartBuild answered.
    pub started: Vec<(String, String)>,
    /// (context, build id) of every build found already started: a replay.
    pub already_started: Vec<(String, String)>,
    /// (context, reason) of every directory not built.
    pub skipped: Vec<(String, String)>,
    /// (message id, seconds, why) of every message hidden to be tried again.
    pub waiting: Vec<(String, u64, String)>,
    /// (message id, why) of every message sent to the dead-letter queue.
    pub dead_letters: Vec<(String, String)>,
    /// Subjects of the notifications sent.
    pub notified: Vec<String>,
    /// Contexts of the builds kept waiting for their bases.
    pub held: Vec<String>,
    /// Contexts of the waiting builds sent to the builds queue: their bases pushed.
    pub released: Vec<String>,
    /// Contexts of the waiting builds that will not start: a base did not push.
    pub blocked: Vec<String>,
}

/// How the spawner's queues are retried, and where their messages come from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The builds queue's ARN: its records are started; every other record is planned.
    pub builds_queue_arn: String,
    pub requests: RetryPolicy,
    pub builds: RetryPolicy,
    /// Records left when the function has less than this much time are put back at once.
    pub deadline_margin: Duration,
}

impl Settings {
    pub fn new(builds_queue_arn: impl Into<String>) -> Self {
        Settings {
            builds_queue_arn: builds_queue_arn.into(),
            requests: RetryPolicy::REQUESTS,
            builds: RetryPolicy::BUILDS,
            deadline_margin: Duration::from_secs(10),
        }
    }
}

pub struct Spawner<B, H, N, L, Q, C> {
    pub deployment: Deployment,
    pub settings: Settings,
    /// CodeBuild.
    pub starter: B,
    /// GitHub: the files at the pushed commit, comparisons and `.dockhand.yml`.
    pub host: H,
    /// The build-results topic: what people must hear of.
    pub alerts: N,
    pub alerts_topic_arn: Option<String>,
    pub ledger: L,
    pub queues: Q,
    pub clock: C,
}

/// What an order's request was planned into, for `dockhand build --wait`.
fn order_record(request: &BuildRequest, entries: &[PlanEntry]) -> OrderRecord {
    let mut record = OrderRecord {
        commit: Some(request.commit.clone()),
        git_ref: Some(request.git_ref.clone()),
        ..OrderRecord::default()
    };
    for entry in entries {
        match entry {
            PlanEntry::Build(job) => record.builds.push(OrderedBuild {
                context: job.context.clone(),
                image: job.image.clone(),
                key: job.key.clone(),
            }),
            PlanEntry::Skip(skip) => record.skipped.push(OrderedSkip {
                context: skip.context.clone(),
                reason: skip.reason.clone(),
            }),
        }
    }
    record
}

/// How long to wait before a message is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delay {
    /// The queue's growing backoff.
    Backoff,
    /// The backoff, but no longer than this (an attempt in doubt must be repeated within
    /// CodeBuild's idempotency window).
    AtMost(u64),
    /// This long (a rate limit's reset).
    Exactly(u64),
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done,
    Later {
        delay: Delay,
        why: String,
    },
    /// CodeBuild has no room now: wait with the backoff, and so do the batch's other builds.
    NoCapacity {
        why: String,
    },
    /// It will never succeed as it is: dead-letter it and say why.
    Refused {
        why: String,
    },
}

fn later(delay: Delay, why: impl Into<String>) -> Outcome {
    Outcome::Later { delay, why: why.into() }
}

/// A message body as `what`; a body that is not one is refused (it never will be).
fn decode<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, Outcome> {
    serde_json::from_str(body).map_err(|e| Outcome::Refused {
        why: format!("the message is not {what} ({e})"),
    })
}

/// True for a CodeBuild state change, as EventBridge delivers it to the builds queue.
fn is_build_event(body: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "detail-type")]
        detail_type: Option<String>,
    }
    serde_json::from_str::<Probe>(body).is_ok_and(|p| p.detail_type.as_deref() == Some("CodeBuild Build State Change"))
}

/// A received message, as far as the spawner reads it.
struct Received<'a> {
    id: &'a str,
    body: &'a str,
    receipt: &'a str,
    queue_arn: &'a str,
    receive_count: u32,
    /// When SQS first accepted it, Unix seconds.
    sent: u64,
}

impl<'a> Received<'a> {
    fn read(message: &'a SqsMessage, now: u64) -> Self {
        let attribute = |name: &str| message.attributes.get(name).map(String::as_str);
        let millis = |name: &str| attribute(name).and_then(|v| v.parse::<u64>().ok()).map(|ms| ms / 1000);
        Received {
            id: message.message_id.as_deref().unwrap_or(""),
            body: message.body.as_deref().unwrap_or(""),
            receipt: message.receipt_handle.as_deref().unwrap_or(""),
            queue_arn: message.event_source_arn.as_deref().unwrap_or(""),
            receive_count: attribute("ApproximateReceiveCount")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
            // Without SentTimestamp the age is unknown: the first receive is the next best.
            sent: millis("SentTimestamp")
                .or_else(|| millis("ApproximateFirstReceiveTimestamp"))
                .unwrap_or(now),
        }
    }
}

impl<B, H, N, L, Q, C> Spawner<B, H, N, L, Q, C>
where
    B: BuildStarter + Sync,
    H: SourceHost + Sync,
    N: NotificationSink + Sync,
    L: Ledger + ImageRecords + Holds + ReadCache + Sync,
    Q: Queues + Sync,
    C: Clock + Sync,
{
    /// Handles one batch from either queue. Records that must wait are hidden and listed as
    /// batch item failures (the event source mapping has `ReportBatchItemFailures`); every
    /// other record is done, or dead-lettered with a notification.
    pub async fn handle(&self, event: &SqsEvent, deadline: Option<Instant>) -> (SqsBatchResponse, Report) {
        let mut report = Report::default();
        let mut failures = Vec::new();
        // Once CodeBuild says it has no room, the rest of the batch waits without asking.
        let mut no_capacity: Option<String> = None;
        for message in &event.records {
            let now = self.clock.now();
            let received = Received::read(message, now);
            let out_of_time =
                deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()) < self.settings.deadline_margin);
            let starting = received.queue_arn == self.settings.builds_queue_arn;
            let outcome = if out_of_time {
                later(Delay::AtMost(1), "the invocation is about to time out")
            } else if starting {
                match &no_capacity {
                    Some(why) => Outcome::NoCapacity { why: why.clone() },
                    None => self.start(&received, &mut report).await,
                }
            } else {
                self.plan(&received, &mut report).await
            };
            if let Outcome::NoCapacity { why } = &outcome {
                no_capacity = Some(why.clone());
            }
            if !self.settle(&received, starting, outcome, now, &mut report).await {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = received.id.to_owned();
                failures.push(failure);
            }
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures;
        (response, report)
    }

    /// Acts on an outcome; true when the message is done with (deleted by SQS), false when
    /// it must come back.
    async fn settle(
        &self,
        received: &Received<'_>,
        starting: bool,
        outcome: Outcome,
        now: u64,
        report: &mut Report,
    ) -> bool {
        let policy = if starting {
            &self.settings.builds
        } else {
            &self.settings.requests
        };
        let (delay, why) = match outcome {
            Outcome::Done => return true,
            Outcome::Refused { why } => return self.give_up(received, starting, why, report).await,
            Outcome::NoCapacity { why } => (Delay::Backoff, format!("no capacity: {why}")),
            Outcome::Later { delay, why } => (delay, why),
        };
        let wanted = match delay {
            Delay::Backoff => None,
            Delay::AtMost(cap) => Some(retry::backoff(policy, received.id, received.receive_count).min(cap)),
            Delay::Exactly(seconds) => Some(seconds),
        };
        match retry::next_attempt(policy, received.id, received.sent, now, received.receive_count, wanted) {
            Next::RetryIn(seconds) => {
                if let Err(e) = self.queues.hide(received.queue_arn, received.receipt, seconds).await {
                    // The queue's own visibility timeout brings it back instead.
                    tracing::warn!(message = received.id, error = %e, "could not hide the message");
                }
                tracing::info!(message = received.id, seconds, why = %why, "waiting");
                report.waiting.push((received.id.to_owned(), seconds, why));
                false
            }
            Next::GiveUp => {
                let hours = now.saturating_sub(received.sent) as f64 / 3600.0;
                let why = format!(
                    "still waiting after {hours:.1} hours and {} attempts, at the end of what its queue keeps: {why}",
                    received.receive_count
                );
                self.give_up(received, starting, why, report).await
            }
        }
    }

    /// Sends a message to the dead-letter queue and tells people; true when both were done.
    async fn give_up(&self, received: &Received<'_>, starting: bool, reason: String, report: &mut Report) -> bool {
        let notification = match (starting, serde_json::from_str::<QueuedBuild>(received.body)) {
            (true, Ok(build)) => not_started_notification(&build, &reason),
            _ => match serde_json::from_str::<BuildRequest>(received.body) {
                Ok(request) => dead_letter_notification(
                    &format!(
                        "planning the push of {} to {} ({})",
                        request.repository.full_name,
                        request.git_ref,
                        short_sha(&request.commit)
                    ),
                    &reason,
                    Some(&request.repository.full_name),
                ),
                Err(_) => match serde_json::from_str::<OrderMessage>(received.body) {
                    Ok(OrderMessage { order }) => dead_letter_notification(
                        &format!("planning the order {} of {}", order.id, order.repository),
                        &reason,
                        Some(&order.repository),
                    ),
                    Err(_) => dead_letter_notification(&format!("a message on {}", received.queue_arn), &reason, None),
                },
            },
        };
        // Dead-lettered first: if the notification then fails, the message is safe and
        // comes back to be notified again, a second copy in the dead-letter queue at worst.
        if let Err(e) = self
            .queues
            .dead_letter(received.body, &reason, received.queue_arn)
            .await
        {
            tracing::error!(message = received.id, error = %e, "could not dead-letter the message; it stays in its queue");
            report
                .waiting
                .push((received.id.to_owned(), 0, format!("dead-lettering failed: {e}")));
            return false;
        }
        tracing::error!(message = received.id, reason = %reason, "sent to the dead-letter queue");
        report.dead_letters.push((received.id.to_owned(), reason.clone()));
        if starting {
            self.abandon_claim(received).await;
        }
        if !self.notify(&notification, report).await {
            return false;
        }
        // The builds waiting for one that never started will not start either.
        if starting
            && let Ok(build) = serde_json::from_str::<QueuedBuild>(received.body)
            && let Some(dependents) = build.request.env(DEPENDENTS_VARIABLE)
        {
            let dependents = waves::parse_dependents(dependents);
            let why = format!("its build was never started: {reason}");
            return self
                .block(&dependents, &build.context, &build.image, &why, report)
                .await
                == Outcome::Done;
        }
        true
    }

    /// Gives up this message's claim on its build's key, so that a replay of the dead
    /// letter may start the build at once. A failure only delays the replay: the claim
    /// lapses after `ledger::ABANDONED_AFTER` anyway.
    async fn abandon_claim(&self, received: &Received<'_>) {
        let Ok(build) = serde_json::from_str::<QueuedBuild>(received.body) else {
            return;
        };
        let result = match self.ledger.read(&build.key).await {
            Ok(Some(current)) if current.record.owner == received.id && current.record.build_id.is_none() => self
                .ledger
                .write(&build.key, &ledger::abandoned(&current.record), Some(current.version))
                .await
                .map(|_| ()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(message = received.id, error = %e, "could not give up the build's claim; a replay waits for it to lapse");
        }
    }

    async fn notify(&self, notification: &Notification, report: &mut Report) -> bool {
        let request = notification.publish_request(self.alerts_topic_arn.as_deref());
        match self.alerts.send(&request).await {
            Ok(()) => {
                report.notified.push(request.subject);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, subject = %request.subject, "could not notify");
                false
            }
        }
    }

    /// The planning step: one BuildRequest (a push's, or an order's) to builds in the
    /// builds queue; a scheduled refresh to its orders.
    async fn plan(&self, received: &Received<'_>, report: &mut Report) -> Outcome {
        if let Some(event) = ScheduledEvent::read(received.body) {
            return self.refresh(&event, report).await;
        }
        let request: BuildRequest = match serde_json::from_str::<OrderMessage>(received.body) {
            Ok(OrderMessage { order }) => match self.resolve_order(&order, report).await {
                Ok(request) => request,
                Err(outcome) => return outcome,
            },
            Err(_) => match decode(received.body, "a BuildRequest") {
                Ok(r) => r,
                Err(refused) => return refused,
            },
        };
        // The topic is a trust boundary too: the listener's checks, made again.
        if let Err(e) = validate(&request, &self.deployment) {
            return Outcome::Refused {
                why: format!("the build request fails the listener's checks, so nothing was planned: {e}"),
            };
        }
        let now = self.clock.now();
        let entries = match plan_push_with(&self.host, &self.ledger, now, &request, &self.deployment).await {
            Ok(planned) => {
                for note in &planned.notes {
                    tracing::warn!(delivery = %request.delivery, note = %note, "planning");
                }
                planned.entries
            }
            Err(Unresolved::Retry(HostError::RateLimited { reset, detail })) => {
                let now = self.clock.now();
                // A few seconds past the reset: GitHub's clock and ours differ a little.
                return later(
                    Delay::Exactly(reset.saturating_sub(now) + 5),
                    format!("GitHub is rate limited until {reset}: {detail}"),
                );
            }
            Err(Unresolved::Retry(e)) => return later(Delay::Backoff, format!("GitHub could not answer: {e}")),
            Err(Unresolved::Stop(reason)) => vec![PlanEntry::Skip(Skip::unplanned(&reason))],
        };
        let mut entries = self.retag_unchanged(&request, entries).await;
        // Re-tags change what waits for what: a re-tagged base is there already.
        waves::sequence(&mut entries);
        // Every build that waits is recorded before any base is queued, so that no base can
        // end before its dependents can be found. A record there already is a replay's.
        for (key, held) in waves::holds(&request, &entries, now) {
            if let Err(e) = self.ledger.hold(&key, &held, None).await {
                return later(
                    Delay::Backoff,
                    format!(
                        "the build of {} waiting for its bases could not be recorded: {e}",
                        held.build.context
                    ),
                );
            }
            tracing::info!(delivery = %request.delivery, context = %held.build.context, key = %key, after = ?held.bases.iter().map(|b| &b.context).collect::<Vec<_>>(), "held until its bases push");
            report.held.push(held.build.context.clone());
        }
        let mut bodies = Vec::new();
        for (start, images) in retag::retag_jobs(&request, &self.deployment, &entries) {
            tracing::info!(delivery = %request.delivery, images = images.len(), key = %start.idempotency_token, "re-tag queued");
            report.retagged.extend(images.iter().map(|i| i.repository.clone()));
            let queued = QueuedBuild::retag(&request, start, &images);
            bodies.push(serde_json::to_string(&queued).expect("a queued build always serializes"));
        }
        // What `dockhand build --wait` follows: the order's builds and skips.
        let record = request.trigger.as_ref().map(|_| order_record(&request, &entries));
        let mut attention = Vec::new();
        for entry in entries {
            match entry {
                PlanEntry::Build(job) if matches!(job.action, Action::Retag { .. }) => {}
                // Held: queued when its bases have pushed.
                PlanEntry::Build(job) if !job.after.is_empty() => {}
                PlanEntry::Build(job) => {
                    tracing::info!(delivery = %request.delivery, context = %job.context, image = %job.image, key = %job.key, "queued");
                    let queued = QueuedBuild::new(&request, &job);
                    bodies.push(serde_json::to_string(&queued).expect("a queued build always serializes"));
                }
                PlanEntry::Skip(skip) => {
                    tracing::warn!(delivery = %request.delivery, context = %skip.context, reason = %skip.reason, "not built");
                    report.skipped.push((skip.context.clone(), skip.reason.clone()));
                    if skip.attention {
                        attention.push(skip);
                    }
                }
            }
        }
        // All or nothing: a request with any build unsent is planned again later; the
        // builds sent twice meet their own record and start once.
        if !bodies.is_empty() {
            match self.queues.send_builds(&bodies).await {
                Ok(unsent) if unsent.is_empty() => {}
                Ok(unsent) => {
                    let (_, why) = &unsent[0];
                    return later(
                        Delay::Backoff,
                        format!("{} of {} builds could not be queued: {why}", unsent.len(), bodies.len()),
                    );
                }
                Err(e) => return later(Delay::Backoff, format!("the builds could not be queued: {e}")),
            }
        }
        if let (Some(trigger), Some(record)) = (&request.trigger, &record)
            && let Err(outcome) = self.record_order(&trigger.id, record).await
        {
            return outcome;
        }
        report.planned.push((request.delivery.clone(), bodies.len()));
        if !attention.is_empty() && !self.notify(&skip_notification(&request, &attention), report).await {
            return later(
                Delay::Backoff,
                "the notification of directories not built could not be sent",
            );
        }
        Outcome::Done
    }

    /// The request an order makes, from what GitHub says of its repository and ref. An
    /// order that cannot build anything is recorded and told (`Err(Done)`); GitHub being
    /// rate limited or down makes it wait.
    async fn resolve_order(&self, order: &Order, report: &mut Report) -> Result<BuildRequest, Outcome> {
        if let Err(why) = order.validate() {
            return Err(self.refuse_order(order, &why, report).await);
        }
        if !self.deployment.config.builds_repository(&order.repository) {
            let why = format!(
                "{} is not one of the repositories this deployment builds (`repositories` in its configuration)",
                order.repository
            );
            return Err(self.refuse_order(order, &why, report).await);
        }
        let repository = match self.host.repository(&order.repository).await {
            Ok(info) => info,
            Err(e) => return Err(self.order_host_error(order, "reading the repository", e, report).await),
        };
        let mut found = None;
        for candidate in order.ref_candidates(&repository.default_branch) {
            match self.host.commit(&repository.full_name, &candidate).await {
                Ok(commit) => {
                    found = Some((candidate, commit));
                    break;
                }
                Err(HostError::NotFound(_)) => {}
                Err(e) => return Err(self.order_host_error(order, "reading the ref", e, report).await),
            }
        }
        let Some((git_ref, head)) = found else {
            let why = format!(
                "{} has no branch or tag {}",
                repository.full_name,
                order.git_ref.as_deref().unwrap_or(&repository.default_branch)
            );
            return Err(self.refuse_order(order, &why, report).await);
        };
        let commit = match &order.commit {
            None => head.clone(),
            Some(sha) => match self.host.commit(&repository.full_name, sha).await {
                Ok(commit) => commit,
                Err(e) => return Err(self.order_host_error(order, "reading the commit", e, report).await),
            },
        };
        // Built as if pushed to the ref, so it must be on it: a commit of another branch
        // (or of a fork's pull request, which GitHub also serves) gets none of its tags.
        if commit.sha != head.sha {
            match self
                .host
                .is_ancestor(&repository.full_name, &commit.sha, &head.sha)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    let why = format!(
                        "the commit {} is not on {git_ref} (its head is {})",
                        commit.sha, head.sha
                    );
                    return Err(self.refuse_order(order, &why, report).await);
                }
                Err(e) => {
                    return Err(self
                        .order_host_error(order, "comparing the commit with the ref", e, report)
                        .await);
                }
            }
        }
        match order::to_request(order, &repository, &git_ref, &commit, &self.deployment) {
            Ok(request) => {
                tracing::info!(order = %order.id, repository = %request.repository.full_name, git_ref = %request.git_ref, commit = %request.commit, directories = ?order.directories, by = ?order.by, "order resolved");
                Ok(request)
            }
            Err(why) => Err(self.refuse_order(order, &why, report).await),
        }
    }

    /// GitHub's answer to an order: rate limited or down waits; anything else (not found,
    /// no access) refuses the order with GitHub's words.
    async fn order_host_error(&self, order: &Order, what: &str, e: HostError, report: &mut Report) -> Outcome {
        match e {
            HostError::RateLimited { reset, detail } => later(
                Delay::Exactly(reset.saturating_sub(self.clock.now()) + 5),
                format!("GitHub is rate limited until {reset}: {detail}"),
            ),
            HostError::Unavailable(m) => later(Delay::Backoff, format!("GitHub could not answer {what}: {m}")),
            other => self.refuse_order(order, &format!("{what}: {other}"), report).await,
        }
    }

    /// Records and tells that an order builds nothing. Done once both happened; otherwise
    /// it comes back.
    async fn refuse_order(&self, order: &Order, why: &str, report: &mut Report) -> Outcome {
        tracing::warn!(order = %order.id, repository = %order.repository, why, "order refused");
        let record = OrderRecord {
            refused: Some(why.to_owned()),
            ..OrderRecord::default()
        };
        // An invalid id cannot name a record; the notification still says why.
        if order.validate().is_ok()
            && let Err(outcome) = self.record_order(&order.id, &record).await
        {
            return outcome;
        }
        report.skipped.push((".".into(), why.to_owned()));
        if !self.notify(&order_refused_notification(order, why), report).await {
            return later(Delay::Backoff, "the notification of a refused order could not be sent");
        }
        Outcome::Done
    }

    /// Stores what became of an order, for `dockhand build --wait`.
    async fn record_order(&self, id: &str, record: &OrderRecord) -> Result<(), Outcome> {
        let value = serde_json::to_string(record).expect("an order record always serializes");
        let expires = self.clock.now() + ledger::RECORD_DAYS * 24 * 60 * 60;
        self.ledger
            .store(&format!("{ORDER_RECORD_PREFIX}{id}"), &value, expires)
            .await
            .map_err(|e| {
                later(
                    Delay::Backoff,
                    format!("the order {id}'s plan could not be recorded: {e}"),
                )
            })
    }

    /// A firing of the refresh schedule: one order per repository, back to the requests
    /// queue, each planned on its own (one repository's GitHub trouble delays no other).
    async fn refresh(&self, event: &ScheduledEvent, report: &mut Report) -> Outcome {
        let repositories = match order::refresh_repositories(&self.deployment) {
            Ok(repositories) => repositories,
            Err(why) => {
                return Outcome::Refused {
                    why: format!("a scheduled refresh arrived, and {why}"),
                };
            }
        };
        let orders = match order::refresh_orders(event, &repositories) {
            Ok(orders) => orders,
            Err(why) => return Outcome::Refused { why },
        };
        let bodies: Vec<String> = orders
            .iter()
            .map(|o| serde_json::to_string(&OrderMessage { order: o.clone() }).expect("an order always serializes"))
            .collect();
        match self.queues.send_requests(&bodies).await {
            Ok(unsent) if unsent.is_empty() => {}
            // Sent again, the orders already sent are the same orders: they build once.
            Ok(unsent) => {
                return later(
                    Delay::Backoff,
                    format!(
                        "{} of {} refresh orders could not be queued: {}",
                        unsent.len(),
                        bodies.len(),
                        unsent[0].1
                    ),
                );
            }
            Err(e) => return later(Delay::Backoff, format!("the refresh orders could not be queued: {e}")),
        }
        tracing::info!(event = %event.id, time = %event.time, repositories = orders.len(), "refresh ordered");
        report.planned.push((event.id.clone(), 0));
        Outcome::Done
    }

    /// Marks as re-tags the planned images whose key was pushed before, from one lookup of
    /// the ledger table. A lookup that fails builds them all: a build is never lost.
    async fn retag_unchanged(&self, request: &BuildRequest, mut entries: Vec<PlanEntry>) -> Vec<PlanEntry> {
        let keys = retag::lookup_keys(&entries);
        if keys.is_empty() {
            return entries;
        }
        match self.ledger.recorded(&keys).await {
            Ok(recorded) => {
                let marked = retag::mark_retags(&mut entries, &recorded);
                tracing::info!(delivery = %request.delivery, looked_up = keys.len() / 2, retagged = marked, "image records");
            }
            Err(e) => {
                tracing::warn!(delivery = %request.delivery, error = %e, "the record of pushed images could not be read; every image is built");
            }
        }
        entries
    }

    /// A finished build (EventBridge's state change, on the builds queue): releases the
    /// builds waiting for its image, or blocks them if it did not push. What the build was
    /// is read from CodeBuild, not from the message.
    async fn finished(&self, received: &Received<'_>, report: &mut Report) -> Outcome {
        let event: aws_lambda_events::event::codebuild::CodeBuildEvent =
            match decode(received.body, "a CodeBuild state change") {
                Ok(e) => e,
                Err(refused) => return refused,
            };
        let project = &self.deployment.config.project;
        let detail = &event.detail;
        if detail.project_name.as_deref() != Some(project.as_str()) {
            tracing::info!(message = received.id, project = ?detail.project_name, "a build of another project");
            return Outcome::Done;
        }
        // Only a build with dependents is looked up.
        let names_dependents = detail
            .additional_information
            .environment
            .environment_variables
            .iter()
            .any(|v| v.name.as_deref() == Some(DEPENDENTS_VARIABLE));
        let Some(id) = detail
            .build_id
            .as_deref()
            .filter(|_| names_dependents)
            .map(dockhand_core::retention::build_id)
        else {
            return Outcome::Done;
        };
        let build = match self.starter.build(id).await {
            Ok(Some(build)) if build.project == *project => build,
            Ok(Some(_)) | Ok(None) => {
                return Outcome::Refused {
                    why: format!("CodeBuild knows no build {id} of project {project}"),
                };
            }
            Err(e) => return later(Delay::Backoff, format!("build {id} could not be read: {e}")),
        };
        if build.status == "IN_PROGRESS" {
            return later(Delay::Backoff, format!("build {id} has not ended yet"));
        }
        let dependents = waves::parse_dependents(build.env(DEPENDENTS_VARIABLE).unwrap_or_default());
        let base_key = build.env(BUILD_KEY_VARIABLE).unwrap_or_default().to_owned();
        let base_context = build.env("BUILD_CONTEXT").unwrap_or(".").to_owned();
        let base_image = build.env("DOCKER_REPO").unwrap_or_default().to_owned();
        let digest = build.exported(DIGEST_VARIABLE).filter(|d| waves::is_digest(d));
        match (build.status.as_str(), digest) {
            ("SUCCEEDED", Some(digest)) => self.release(&dependents, &base_key, digest, report).await,
            (status, _) => {
                let why = match status {
                    "SUCCEEDED" => format!(
                        "its build {id} succeeded but did not export the digest it pushed ({DIGEST_VARIABLE}), so nothing can be built on it for sure"
                    ),
                    status => match &build.logs_link {
                        Some(link) => format!("its build {id} ended {status} (log: {link})"),
                        None => format!("its build {id} ended {status}"),
                    },
                };
                self.block(&dependents, &base_context, &base_image, &why, report).await
            }
        }
    }

    /// Records that the base built under `base_key` pushed `digest`, and queues every
    /// dependent whose bases have all pushed, pinned to what they pushed.
    async fn release(&self, dependents: &[String], base_key: &str, digest: &str, report: &mut Report) -> Outcome {
        let mut missing = Vec::new();
        for key in dependents {
            let (mut held, version) = match self.ledger.held(key).await {
                Ok(Some(found)) => found,
                Ok(None) => {
                    missing.push(key.clone());
                    continue;
                }
                Err(e) => return later(Delay::Backoff, format!("a waiting build could not be read: {e}")),
            };
            let settled = held.base_pushed(base_key, digest);
            if let Settled::Release(build) = &settled {
                let body = serde_json::to_string(build).expect("a queued build always serializes");
                match self.queues.send_builds(&[body]).await {
                    Ok(unsent) if unsent.is_empty() => {}
                    Ok(unsent) => {
                        return later(
                            Delay::Backoff,
                            format!("a released build could not be queued: {}", unsent[0].1),
                        );
                    }
                    Err(e) => return later(Delay::Backoff, format!("a released build could not be queued: {e}")),
                }
                tracing::info!(context = %build.context, key = %key, "released: its bases have pushed");
                report.released.push(build.context.clone());
                held.state = HeldState::Released;
            }
            if settled == Settled::Done {
                continue;
            }
            // Another base of the same build may have ended at the same time: then this is
            // done again. A build queued twice starts once (its key in the ledger).
            if let Err(outcome) = self.rewrite_hold(key, &held, version).await {
                return outcome;
            }
        }
        if missing.is_empty() {
            Outcome::Done
        } else {
            Outcome::Refused {
                why: format!(
                    "no record of the build(s) {missing:?} waiting for this one: they expired ({} days) or were removed, so they were not started; push again to build them",
                    waves::HOLD_DAYS
                ),
            }
        }
    }

    /// Writes a waiting build's record over the version read; a record changed meanwhile
    /// is read again soon.
    async fn rewrite_hold(&self, key: &str, held: &waves::Held, version: u64) -> Result<(), Outcome> {
        match self.ledger.hold(key, held, Some(version)).await {
            Ok(Written::Done(_)) => Ok(()),
            Ok(Written::Conflict) => Err(later(
                Delay::AtMost(5),
                "a waiting build's record changed while it was read",
            )),
            Err(e) => Err(later(
                Delay::Backoff,
                format!("a waiting build's record could not be written: {e}"),
            )),
        }
    }

    /// Blocks the builds waiting for a base that did not push, and theirs, and says so.
    async fn block(
        &self,
        dependents: &[String],
        base_context: &str,
        base_image: &str,
        why: &str,
        report: &mut Report,
    ) -> Outcome {
        let mut pending: Vec<String> = dependents.to_vec();
        let mut seen = std::collections::BTreeSet::new();
        let mut writes = Vec::new();
        let mut blocked = Vec::new();
        while let Some(key) = pending.pop() {
            if !seen.insert(key.clone()) {
                continue;
            }
            match self.ledger.held(&key).await {
                Ok(Some((held, version))) => {
                    let mut changed = held.clone();
                    if changed.block(base_context, why) {
                        pending.extend(held.dependents());
                        blocked.push(held.build.clone());
                        writes.push((key, changed, version));
                    }
                }
                Ok(None) => tracing::warn!(key = %key, "no record of a build waiting for a base that did not push"),
                Err(e) => return later(Delay::Backoff, format!("a waiting build could not be read: {e}")),
            }
        }
        if blocked.is_empty() {
            return Outcome::Done;
        }
        // Told first: should the records then fail to change, this is done again, and
        // people hear of it twice rather than never.
        blocked.sort_by(|a, b| a.context.cmp(&b.context));
        if !self
            .notify(&blocked_notification(base_context, base_image, why, &blocked), report)
            .await
        {
            return later(Delay::Backoff, "the notification of builds not built could not be sent");
        }
        for (key, held, version) in writes {
            if let Err(outcome) = self.rewrite_hold(&key, &held, version).await {
                return outcome;
            }
        }
        report.blocked.extend(blocked.iter().map(|b| b.context.clone()));
        tracing::warn!(base = %base_context, blocked = ?blocked.iter().map(|b| &b.context).collect::<Vec<_>>(), why, "not built: their base did not push");
        Outcome::Done
    }

    /// The starting step: one queued build, started once.
    async fn start(&self, received: &Received<'_>, report: &mut Report) -> Outcome {
        // EventBridge's second target of the build state rule: a finished build, which may
        // release the builds waiting on its image.
        if is_build_event(received.body) {
            return self.finished(received, report).await;
        }
        let build: QueuedBuild = match decode(received.body, "a queued build") {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        let project = &self.deployment.config.project;
        if let Err(why) = build.check(&self.deployment) {
            return Outcome::Refused {
                why: format!("{why}, so it was not started"),
            };
        }
        let key = build.key.as_str();
        let current = match self.ledger.read(key).await {
            Ok(c) => c,
            Err(e) => return later(Delay::Backoff, format!("the ledger could not be read: {e}")),
        };
        let (record, expected) = match ledger::step(current.as_ref(), received.id, self.clock.now()) {
            Step::Done { build_id } => {
                tracing::info!(key, build = %build_id, context = %build.context, "already started");
                report.already_started.push((build.context.clone(), build_id));
                return Outcome::Done;
            }
            Step::Wait { owner } => {
                return later(Delay::Backoff, format!("message {owner} is starting this build"));
            }
            Step::Search {
                since,
                record,
                expected,
            } => match self.starter.find_build(project, key, since).await {
                Ok(Some(build_id)) => {
                    let found = ledger::started(&record, &build_id, self.clock.now());
                    return match self.ledger.write(key, &found, expected).await {
                        Ok(Written::Done(_)) => {
                            tracing::info!(key, build = %build_id, "an attempt in doubt had started the build");
                            report.already_started.push((build.context.clone(), build_id));
                            Outcome::Done
                        }
                        Ok(Written::Conflict) => later(Delay::AtMost(5), "the record changed while it was read"),
                        Err(e) => later(Delay::Backoff, format!("the ledger could not be written: {e}")),
                    };
                }
                Ok(None) => (record, expected),
                Err(e) => {
                    return later(
                        Delay::Backoff,
                        format!("an attempt in doubt could not be looked up: {e}"),
                    );
                }
            },
            Step::Start { record, expected } => (record, expected),
        };
        let version = match self.ledger.write(key, &record, expected).await {
            Ok(Written::Done(v)) => v,
            Ok(Written::Conflict) => return later(Delay::AtMost(5), "the record changed while it was read"),
            Err(e) => return later(Delay::Backoff, format!("the ledger could not be written: {e}")),
        };
        match self.starter.start_build(&build.request).await {
            Ok(build_id) => {
                tracing::info!(key, build = %build_id, context = %build.context, image = %build.image, delivery = %build.delivery, "build started");
                report.started.push((build.context.clone(), build_id.clone()));
                match self
                    .ledger
                    .write(
                        key,
                        &ledger::started(&record, &build_id, self.clock.now()),
                        Some(version),
                    )
                    .await
                {
                    Ok(Written::Done(_)) => Outcome::Done,
                    // Within CodeBuild's idempotency window the same request answers this
                    // build again, and its id is recorded then.
                    other => later(
                        Delay::AtMost(60),
                        format!("build {build_id} started but its record was not written ({other:?})"),
                    ),
                }
            }
            Err(StartError::NoCapacity(why)) => {
                if let Err(e) = self
                    .ledger
                    .write(key, &ledger::not_started(&record, self.clock.now()), Some(version))
                    .await
                {
                    tracing::warn!(key, error = %e, "could not clear the attempt; the next one searches first");
                }
                Outcome::NoCapacity { why }
            }
            Err(StartError::Unknown(why)) => later(
                Delay::AtMost(60),
                format!("StartBuild did not answer, so it is repeated with the same token: {why}"),
            ),
            Err(StartError::Refused(why)) => {
                if let Err(e) = self.ledger.remove(key, version).await {
                    tracing::warn!(key, error = %e, "could not release the claim");
                }
                Outcome::Refused {
                    why: format!("CodeBuild refused the build: {why}"),
                }
            }
        }
    }
}
