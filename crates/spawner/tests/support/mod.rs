//! What the spawner's tests share: SQS events as Lambda builds them, and a spawner on
//! in-memory queues, ledger and clock.

#![allow(dead_code)]

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use dockhand_core::intake::{Intake, intake};
use dockhand_core::ports::memory::{ManualClock, MemoryLedger, MemoryQueues, MemorySink};
use dockhand_core::source::ListedHost;
use dockhand_core::tree::{FileKind, TreeFile};
use dockhand_core::webhook::{Event, parse_event};
use dockhand_core::{BuildRequest, Deployment};
use dockhand_spawner::{Report, Settings, Spawner};
use dockhand_testkit::fixture;
use serde_json::json;

pub const DELIVERY: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
pub const REQUESTS_ARN: &str = "arn:aws:sqs:eu-west-1:123456789012:dockhand-build-requests";
pub const BUILDS_ARN: &str = "arn:aws:sqs:eu-west-1:123456789012:dockhand-builds";
/// The spawner's clock at the start of every test: 2026-12-01T00:00:00Z.
pub const NOW: u64 = 1_796_083_200;

pub fn deployment() -> Deployment {
    Deployment::from_json(&fixture("config.json")).unwrap()
}

/// The monorepo push of tests/fixtures, as the listener reduces it.
pub fn request() -> BuildRequest {
    request_for(DELIVERY)
}

pub fn request_for(delivery: &str) -> BuildRequest {
    let Event::Push(push) = parse_event("push", None, fixture("push-monorepo.json").as_bytes()).unwrap() else {
        unreachable!()
    };
    let Intake::Build(r) = intake(&push, delivery, &deployment()).unwrap() else {
        panic!("not built")
    };
    *r
}

/// A message as Lambda hands it over from a queue: its id, body, receive count and when
/// it was sent.
pub struct Message {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
    pub sent: u64,
}

impl Message {
    pub fn new(id: &str, body: &str) -> Self {
        Message {
            id: id.to_owned(),
            body: body.to_owned(),
            receive_count: 1,
            sent: NOW,
        }
    }
}

/// The SQS event Lambda builds for `messages` from the queue `arn`.
pub fn sqs_event(arn: &str, messages: &[Message]) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.id,
                "receiptHandle": format!("receipt-{}-{}", m.id, m.receive_count),
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": (m.sent * 1000).to_string(),
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": (m.sent * 1000).to_string(),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "eu-west-1",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

pub type Memory<B, H> = Spawner<B, H, MemorySink, MemoryLedger, MemoryQueues, ManualClock>;

/// A spawner with `starter` and `host`, everything else in memory.
pub fn spawner<B, H>(starter: B, host: H) -> Memory<B, H> {
    Spawner {
        deployment: deployment(),
        settings: Settings::new(BUILDS_ARN),
        starter,
        host,
        alerts: MemorySink::default(),
        alerts_topic_arn: None,
        ledger: MemoryLedger::default(),
        queues: MemoryQueues::default(),
        clock: ManualClock::at(NOW),
    }
}

/// The ids a response reports as failed.
pub fn failed(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// Contexts of a report's list of (context, _) pairs.
pub fn contexts(list: &[(String, String)]) -> Vec<&str> {
    list.iter().map(|(c, _)| c.as_str()).collect()
}

/// Plans `request` (one message from the requests queue) and answers the builds it sent
/// to the builds queue, as messages.
pub async fn plan<B, H>(spawner: &Memory<B, H>, request: &BuildRequest) -> (Report, Vec<Message>)
where
    B: dockhand_core::ports::BuildStarter + Sync,
    H: dockhand_core::ports::SourceHost + Sync,
{
    let before = spawner.queues.log().sent.len();
    let body = request.clone().encode_for_sns().unwrap().1;
    let (response, report) = spawner
        .handle(&sqs_event(REQUESTS_ARN, &[Message::new("request-1", &body)]), None)
        .await;
    assert!(failed(&response).is_empty(), "{report:#?}");
    let sent = spawner.queues.log().sent[before..].to_vec();
    let messages = sent
        .iter()
        .enumerate()
        .map(|(i, body)| Message::new(&format!("build-{}-{i}", request.delivery), body))
        .collect();
    (report, messages)
}

/// GitHub's view of a repository of `(directory, Dockerfile)` pairs: each Dockerfile with
/// a blob id and its content, each directory with a tree id of its own.
pub fn listed_host(repo: &[(&str, &str)]) -> ListedHost {
    let mut host = ListedHost::default();
    for (i, (dir, text)) in repo.iter().enumerate() {
        let path = format!("{dir}/Dockerfile");
        host.files.push(TreeFile::new(
            path.as_str(),
            [i as u8 + 1; 20].into(),
            FileKind::Regular,
        ));
        host.contents.insert(path, text.as_bytes().to_vec());
        host.trees.push(((*dir).into(), [i as u8 + 100; 20].into()));
    }
    host
}
