//! The notifier publishing through SNS over real HTTP, against a moto server.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_aws::sns::SnsPublisher;
use dockhand_core::notification::PublishRequest;
use dockhand_core::ports::BuildLogs;
use dockhand_core::ports::memory::{MemoryLedger, MemoryLogs};
use dockhand_notifier::{Decision, Notifier, statuses};
use dockhand_testkit::{Moto, TopicProbe, fixture};
use serde_json::Value;

fn event(name: &str) -> CodeBuildEvent {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn message(request: &PublishRequest) -> Value {
    serde_json::from_str(&request.message).unwrap()
}

/// dockhand's notifier publishing to `topic_arn` over moto's SNS, reading logs from `logs`.
fn notifier<L: BuildLogs>(
    aws: &aws_config::SdkConfig,
    topic_arn: &str,
    logs: L,
) -> Notifier<SnsPublisher, MemoryLedger, L> {
    Notifier {
        project: "dockhand".into(),
        statuses: statuses(None),
        topic_arn: Some(topic_arn.to_owned()),
        sink: SnsPublisher::new(aws_sdk_sns::Client::new(aws), topic_arn),
        records: MemoryLedger::default(),
        logs,
    }
}

#[tokio::test]
async fn publishes_to_sns_over_http_and_arrives_in_a_subscribed_queue() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let probe = TopicProbe::create(&aws, "build-results").await;
    let n = notifier(&aws, &probe.topic_arn, MemoryLogs::default());
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
    let n = notifier(&aws, &everything.topic_arn, MemoryLogs::default());
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

/// The report lines read back from a CloudWatch Logs stream over HTTP, as the build wrote
/// them: the failed test and the sut's last lines reach the subscribed queue.
#[tokio::test]
async fn a_failed_test_is_read_from_cloudwatch_logs() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&aws);
    let (group, stream) = ("/aws/codebuild/dockhand", "b2c3d4e5f6a7");
    logs.create_log_group().log_group_name(group).send().await.unwrap();
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let lines = [
        "[Container] 2026/12/02 06:00:00.000 Running command set -euo pipefail\n",
        "##dockhand hook post_checkout ok\n",
        "##dockhand test docker-compose.test.yml failed 1\n",
        "##dockhand sut FAIL: index.html is empty\n",
        "[Container] 2026/12/02 06:00:09.000 Phase complete: BUILD State: FAILED\n",
    ];
    // Now: CloudWatch Logs rejects events over 14 days old, and moto with it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events = lines.iter().enumerate().map(|(i, l)| {
        aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(now + i as i64)
            .message(*l)
            .build()
            .unwrap()
    });
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events.collect()))
        .send()
        .await
        .unwrap();
    let probe = TopicProbe::create(&aws, "build-results").await;
    let n = notifier(
        &aws,
        &probe.topic_arn,
        dockhand_aws::logs::CloudWatchBuildLogs::new(logs),
    );
    n.handle(&event("codebuild-failed.json")).await.unwrap();
    let received = probe.drain().await;
    assert_eq!(received.len(), 1);
    assert!(
        received[0].contains("Tests:      docker-compose.test.yml failed (exit status 1)\n"),
        "{}",
        received[0]
    );
    assert!(
        received[0].contains("  | FAIL: index.html is empty\n"),
        "{}",
        received[0]
    );
    assert!(
        received[0].contains("Hooks:      hooks/post_checkout ran\n"),
        "{}",
        received[0]
    );
}
