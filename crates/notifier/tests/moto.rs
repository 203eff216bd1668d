//! The notifier publishing through SNS over real HTTP, against a moto server.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_aws::sns::SnsPublisher;
use dockhand_core::notification::PublishRequest;
use dockhand_notifier::{Decision, Notifier, statuses};
use dockhand_testkit::{Moto, TopicProbe, fixture};
use serde_json::Value;

fn event(name: &str) -> CodeBuildEvent {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn message(request: &PublishRequest) -> Value {
    serde_json::from_str(&request.message).unwrap()
}

#[tokio::test]
async fn publishes_to_sns_over_http_and_arrives_in_a_subscribed_queue() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let probe = TopicProbe::create(&aws, "build-results").await;
    let n = Notifier {
        project: "dockhand".into(),
        statuses: statuses(None),
        topic_arn: Some(probe.topic_arn.clone()),
        sink: SnsPublisher::new(aws_sdk_sns::Client::new(&aws), &probe.topic_arn),
        records: dockhand_core::ports::memory::MemoryLedger::default(),
    };
    let Decision::Send(sent) = n.handle(&event("codebuild-failed.json")).await.unwrap() else {
        panic!()
    };
    let received = probe.drain().await;
    assert_eq!(received.len(), 1);
    // With MessageStructure=json, a queue (no "sqs" key) receives the "default" text.
    assert_eq!(received[0], message(&sent)["default"].as_str().unwrap());
    assert!(received[0].contains("Failed phase: BUILD"));
}

/// The README's recipe: a subscription whose filter policy keeps only failures.
#[tokio::test]
async fn a_filter_policy_on_status_keeps_only_failures() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let everything = TopicProbe::create(&aws, "build-results").await;
    let failures = TopicProbe::attach(
        &aws,
        &everything.topic_arn,
        "failures-only",
        Some(r#"{"status": ["FAILED", "FAULT", "TIMED_OUT"]}"#),
    )
    .await;
    let n = Notifier {
        project: "dockhand".into(),
        statuses: statuses(None),
        topic_arn: Some(everything.topic_arn.clone()),
        sink: SnsPublisher::new(aws_sdk_sns::Client::new(&aws), &everything.topic_arn),
        records: dockhand_core::ports::memory::MemoryLedger::default(),
    };
    for name in [
        "codebuild-succeeded.json",
        "codebuild-failed.json",
        "codebuild-stopped.json",
    ] {
        n.handle(&event(name)).await.unwrap();
    }
    assert_eq!(everything.drain().await.len(), 3);
    let filtered = failures.drain().await;
    assert_eq!(filtered.len(), 1);
    assert!(filtered[0].starts_with("dockhand build FAILED"), "{}", filtered[0]);
}
