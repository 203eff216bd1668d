//! What is in the dead-letter queue, where each record came from, and where a replay
//! sends it back. No I/O: `dockhand dead-letters` receives the messages and acts on what
//! this module decides.
//!
//! Five writers share the queue, each with its own record (every shape below is what the
//! service documents; the tests hold one of each):
//!
//! - **the spawner's own dead letters**: the message body as it was received (a
//!   [`BuildRequest`] from the requests queue, a [`QueuedBuild`] from the builds queue),
//!   with the reason in the `dockhand-reason` attribute and the queue in `dockhand-source`;
//! - **the queues' redrive**: the same bodies, moved by SQS after
//!   [`crate::retry::MAX_RECEIVES`] receives without an answer (the function failed or
//!   timed out each time), with no reason of dockhand's; SQS names the queue in the
//!   `DeadLetterQueueSourceArn` system attribute;
//! - **the build-requests topic's subscription redrive**: the request SNS could not deliver
//!   to the requests queue (raw, as the subscription delivers; an SNS envelope is unwrapped
//!   too), https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html;
//! - **Lambda's on-failure destination** of the notifier and the cleanup: an invocation
//!   record, `{"version", "timestamp", "requestContext": {"functionArn", "condition",
//!   "approximateInvokeCount"}, "requestPayload", "responseContext", "responsePayload":
//!   {"errorType", "errorMessage"}}`,
//!   https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html;
//! - **EventBridge's target dead letters**: the event itself, with the `RULE_ARN`,
//!   `TARGET_ARN`, `ERROR_CODE` and `ERROR_MESSAGE` attributes,
//!   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html.
//!
//! Everything read here came from the internet at some point (commit messages, refs,
//! repository names): the one-line view passes every field through
//! [`crate::notification::clean_line`], so no record can write control sequences to the
//! operator's terminal.

use crate::notification::{clean_line, short_sha};
use crate::order::OrderMessage;
use crate::queue::QueuedBuild;
use crate::request::BuildRequest;
use crate::time::{unix_seconds, utc_minute};
use serde_json::Value;
use std::collections::BTreeMap;

/// The attribute holding the spawner's reason for giving up.
pub const REASON_ATTRIBUTE: &str = "dockhand-reason";
/// The attribute naming the queue the spawner received the message from.
pub const SOURCE_ATTRIBUTE: &str = "dockhand-source";
/// At most this much of a recorded error is shown or kept: a record stays small.
pub const MAX_WHY: usize = 300;

/// One message received from the dead-letter queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub body: String,
    /// The message's string attributes.
    pub attributes: BTreeMap<String, String>,
    /// SentTimestamp, in seconds since the epoch.
    pub sent: Option<u64>,
    /// DeadLetterQueueSourceArn, when SQS moved it here from a queue.
    pub source_queue_arn: Option<String>,
}

/// The deployment's two asynchronously invoked functions, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Functions {
    pub notifier: String,
    pub cleanup: String,
}

impl Functions {
    /// The names the stack gives them: `STACK-notifier`, `STACK-cleanup`.
    pub fn of_stack(stack: &str) -> Self {
        Functions {
            notifier: format!("{stack}-notifier"),
            cleanup: format!("{stack}-cleanup"),
        }
    }
}

/// Which of dockhand's steps a record failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The spawner, planning a push (the requests queue).
    Planning,
    /// The spawner, starting a build (the builds queue).
    Starting,
    /// The notifier, on a build's state change.
    Notifier,
    /// The cleanup, on its schedule.
    Cleanup,
    /// Nothing dockhand writes.
    Unknown,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Planning => "spawner (plan)",
            Origin::Starting => "spawner (start)",
            Origin::Notifier => "notifier",
            Origin::Cleanup => "cleanup",
            Origin::Unknown => "unknown",
        }
    }
}

/// Where a replay sends a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// SendMessage to the requests queue: the push is planned again.
    Requests(String),
    /// SendMessage to the builds queue: the build is started, unless the ledger says it was.
    Builds(String),
    /// Invoke the notifier with the state-change event, and wait for its answer.
    Notifier(String),
    /// Invoke the cleanup asynchronously (it runs for minutes; a failure comes back here).
    Cleanup(String),
    /// Not replayable; why.
    Never(String),
}

/// A record, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub origin: Origin,
    /// The rule that delivered it, for EventBridge's records.
    pub rule: Option<String>,
    pub repository: Option<String>,
    pub git_ref: Option<String>,
    pub commit: Option<String>,
    pub image: Option<String>,
    /// When it failed, seconds since the epoch.
    pub when: Option<u64>,
    pub why: String,
    pub replay: Replay,
}

impl DeadLetter {
    fn new(origin: Origin, why: String, replay: Replay) -> Self {
        DeadLetter {
            origin,
            rule: None,
            repository: None,
            git_ref: None,
            commit: None,
            image: None,
            when: None,
            why,
            replay,
        }
    }

    /// One line: when, which step, repository, ref, commit, image, and why.
    pub fn line(&self) -> String {
        let field = |v: &Option<String>, max: usize| v.as_deref().map_or("-".to_owned(), |s| clean_line(s, max));
        let origin = match &self.rule {
            Some(rule) => format!("{} via rule {}", self.origin.label(), clean_line(rule, 64)),
            None => self.origin.label().to_owned(),
        };
        format!(
            "{}  {}  {} {} {} {}  {}",
            self.when.map_or("-".to_owned(), |t| utc_minute(t as i64)),
            origin,
            field(&self.repository, 100),
            field(&self.git_ref, 100),
            self.commit.as_deref().map_or("-".to_owned(), short_sha),
            field(&self.image, 200),
            clean_line(&self.why, MAX_WHY)
        )
    }
}

/// Reads one record.
pub fn read(record: &Received, functions: &Functions) -> DeadLetter {
    let mut letter = read_body(&record.body, record, functions, 0);
    if letter.when.is_none() {
        letter.when = record.sent;
    }
    letter.why = clean_line(&letter.why, MAX_WHY);
    letter
}

fn read_body(body: &str, record: &Received, functions: &Functions, depth: u8) -> DeadLetter {
    let attribute = |name: &str| record.attributes.get(name).filter(|v| !v.is_empty()).cloned();
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return DeadLetter::new(
            Origin::Unknown,
            "the body is not JSON: nothing of dockhand's".into(),
            Replay::Never("not a record dockhand writes".into()),
        );
    };
    // An SNS envelope (a subscription without raw delivery): the request is its Message.
    if depth == 0
        && value["Type"] == "Notification"
        && let Some(message) = value["Message"].as_str()
    {
        return read_body(message, record, functions, 1);
    }
    let spawner_reason = || {
        attribute(REASON_ATTRIBUTE)
            .or_else(|| {
                let code = attribute("ErrorCode");
                let message = attribute("ErrorMessage");
                (code.is_some() || message.is_some()).then(|| {
                    format!(
                        "SNS could not deliver it to the requests queue: {} {}",
                        code.unwrap_or_default(),
                        message.unwrap_or_default()
                    )
                })
            })
            .unwrap_or_else(|| match &record.source_queue_arn {
                Some(queue) => format!(
                    "moved here by {queue}'s redrive: the spawner failed or timed out every time it received it (make logs FN=spawner)"
                ),
                None => "no reason recorded: the spawner failed or timed out every time it received it, or SNS could not deliver it (make logs FN=spawner)".into(),
            })
    };
    if let Ok(build) = serde_json::from_value::<QueuedBuild>(value.clone()) {
        let mut letter = DeadLetter::new(Origin::Starting, spawner_reason(), Replay::Builds(body.to_owned()));
        letter.repository = Some(build.repository);
        letter.git_ref = Some(build.git_ref);
        letter.commit = Some(build.commit);
        letter.image = Some(build.image);
        return letter;
    }
    if let Ok(request) = serde_json::from_value::<BuildRequest>(value.clone()) {
        let mut letter = DeadLetter::new(Origin::Planning, spawner_reason(), Replay::Requests(body.to_owned()));
        letter.repository = Some(request.repository.full_name);
        letter.git_ref = Some(request.git_ref);
        letter.commit = Some(request.commit);
        return letter;
    }
    // An order (`dockhand build`, or one of a refresh) the spawner could not plan.
    if let Ok(message) = serde_json::from_value::<OrderMessage>(value.clone()) {
        let order = message.order;
        let mut letter = DeadLetter::new(Origin::Planning, spawner_reason(), Replay::Requests(body.to_owned()));
        letter.repository = Some(order.repository);
        letter.git_ref = order.git_ref;
        letter.commit = order.commit;
        return letter;
    }
    if value["requestContext"].is_object() && !value["requestPayload"].is_null() {
        return invocation_record(&value, functions);
    }
    if value["detail-type"].is_string() {
        let mut letter = event(&value);
        letter.rule = attribute("RULE_ARN").map(|arn| arn.rsplit('/').next().unwrap_or(&arn).to_owned());
        let code = attribute("ERROR_CODE");
        let message = attribute("ERROR_MESSAGE");
        letter.why = match (code, message) {
            (None, None) => "EventBridge could not deliver the event (no error recorded)".into(),
            (code, message) => format!(
                "EventBridge could not deliver the event: {} {}",
                code.unwrap_or_default(),
                message.unwrap_or_default()
            ),
        };
        // A finished build for the builds queue (BuildFinishedRule's target, or one the
        // spawner gave up on): replayed there, where it releases or blocks the builds
        // waiting on it, never to the notifier, which would send its result again.
        let for_the_queue = attribute("TARGET_ARN").is_some_and(|t| t.split(':').nth(2) == Some("sqs"));
        let spawner_gave_up = attribute(REASON_ATTRIBUTE).is_some();
        if letter.origin == Origin::Notifier && (for_the_queue || spawner_gave_up) {
            letter.origin = Origin::Starting;
            letter.replay = Replay::Builds(body.to_owned());
            if spawner_gave_up {
                letter.why = spawner_reason();
            }
        }
        // The scheduled refresh's event for the requests queue (RefreshScheduleRule's
        // target, or one the spawner failed on or gave up on): replayed there, where it is
        // expanded into orders, never to the cleanup.
        let from_the_queue = spawner_gave_up || record.source_queue_arn.is_some();
        if letter.origin == Origin::Cleanup && (for_the_queue || from_the_queue) {
            letter.origin = Origin::Planning;
            letter.replay = Replay::Requests(body.to_owned());
            if from_the_queue {
                letter.why = spawner_reason();
            }
        }
        return letter;
    }
    DeadLetter::new(
        Origin::Unknown,
        "not a record dockhand writes".into(),
        Replay::Never("not a record dockhand writes".into()),
    )
}

/// Lambda's record of an asynchronous invocation that failed every attempt.
fn invocation_record(value: &Value, functions: &Functions) -> DeadLetter {
    let arn = value["requestContext"]["functionArn"].as_str().unwrap_or_default();
    // arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    let name = arn.split(':').nth(6).unwrap_or_default();
    let payload = &value["requestPayload"];
    let mut letter = event(payload);
    letter.origin = if name == functions.notifier {
        Origin::Notifier
    } else if name == functions.cleanup {
        Origin::Cleanup
    } else {
        letter.origin
    };
    letter.replay = replay_to(letter.origin, payload);
    let response = &value["responsePayload"];
    let error = [
        response["errorType"].as_str(),
        response["errorMessage"].as_str().or(response.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(": ");
    let condition = value["requestContext"]["condition"].as_str().unwrap_or("failed");
    let attempts = value["requestContext"]["approximateInvokeCount"].as_u64().unwrap_or(0);
    letter.why = format!(
        "{condition} after {attempts} attempt(s): {}",
        if error.is_empty() { "no error recorded" } else { &error }
    );
    letter.when = value["timestamp"].as_str().and_then(seconds);
    letter
}

/// An event as EventBridge delivers it: a build's state change, or the schedule.
fn event(value: &Value) -> DeadLetter {
    let kind = value["detail-type"].as_str().unwrap_or_default();
    let origin = match kind {
        "CodeBuild Build State Change" => Origin::Notifier,
        "Scheduled Event" => Origin::Cleanup,
        _ => Origin::Unknown,
    };
    let mut letter = DeadLetter::new(origin, String::new(), replay_to(origin, value));
    if origin == Origin::Notifier {
        let variables = &value["detail"]["additional-information"]["environment"]["environment-variables"];
        let get = |name: &str| {
            variables.as_array().and_then(|vars| {
                vars.iter()
                    .find(|v| v["name"] == name)
                    .and_then(|v| v["value"].as_str())
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            })
        };
        letter.repository = get("DOCKHAND_REPOSITORY");
        letter.git_ref = get("DOCKHAND_REF");
        letter.commit = get("SOURCE_COMMIT");
        letter.image = get("DOCKER_REPO");
    }
    letter.when = value["time"].as_str().and_then(seconds);
    letter
}

/// An RFC 3339 time in seconds since the epoch; none before 1970.
fn seconds(text: &str) -> Option<u64> {
    unix_seconds(text).and_then(|t| u64::try_from(t).ok())
}

fn replay_to(origin: Origin, payload: &Value) -> Replay {
    match origin {
        Origin::Notifier => Replay::Notifier(payload.to_string()),
        Origin::Cleanup => Replay::Cleanup(payload.to_string()),
        _ => Replay::Never("an event of no function of dockhand's".into()),
    }
}

#[cfg(test)]
mod tests;
