//! The notifier publishing through SNS over real HTTP, against a moto server.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_aws::sns::SnsPublisher;
use dockhand_core::notification::PublishRequest;
use dockhand_core::ports::BuildLogs;
use dockhand_core::ports::memory::{MemoryLedger, MemoryLogs};
use dockhand_notifier::github::SsmGitHub;
use dockhand_notifier::{CommitStatuses, Decision, Notifier, STATUS_BUDGET, StatusOutcome, statuses};
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

/// Commit statuses with the token from SSM over HTTP: read on the first status, and a
/// token that cannot be read is logged while the email goes out all the same.
#[tokio::test]
async fn the_github_token_is_read_from_ssm_and_a_missing_one_still_delivers_the_email() {
    let Some(repo) = GitRepo::new("ssm-token") else { return };
    let fake = dockhand_fake_github::FakeGitHub::start("acme/images", &repo.work, Default::default()).unwrap();
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let probe = TopicProbe::create(&aws, "build-results").await;
    let n = notifier(&aws, &probe.topic_arn, MemoryLogs::default());
    let mut config = dockhand_testkit::deployment().config;
    (config.project, config.repositories) = ("dockhand".into(), Some(vec!["acme/images".into()]));
    let parameter = "/dockhand/github/token";
    let statuses = CommitStatuses {
        config,
        host: SsmGitHub::new(fake.url(), parameter, aws_sdk_ssm::Client::new(&aws)),
        budget: STATUS_BUDGET,
    };
    let mut json: Value = serde_json::from_str(&fixture("codebuild-failed.json")).unwrap();
    for v in json["detail"]["additional-information"]["environment"]["environment-variables"]
        .as_array_mut()
        .unwrap()
    {
        if v["name"] == "SOURCE_COMMIT" {
            v["value"] = repo.sha.clone().into();
        }
    }
    let e: CodeBuildEvent = serde_json::from_value(json).unwrap();

    // No parameter yet: the status fails, the email goes out.
    let (_, status) = n.handle_with_statuses(&e, Some(&statuses)).await.unwrap();
    let Some(StatusOutcome::Failed { error, .. }) = status else {
        panic!("{status:?}")
    };
    assert!(
        error.contains(parameter) && error.contains("no GitHub token"),
        "{error}"
    );
    assert_eq!(probe.drain().await.len(), 1);
    assert!(fake.requests().is_empty());

    // Stored: the next event reads it and posts.
    aws_sdk_ssm::Client::new(&aws)
        .put_parameter()
        .name(parameter)
        .value("ghp_from_ssm")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let (_, status) = n.handle_with_statuses(&e, Some(&statuses)).await.unwrap();
    assert!(matches!(status, Some(StatusOutcome::Posted(_))), "{status:?}");
    assert_eq!(probe.drain().await.len(), 1);
    let posted = fake.statuses();
    assert_eq!(
        (posted.len(), posted[0].state.as_str(), posted[0].context.as_str()),
        (1, "failure", "dockhand/web")
    );
}

/// A repository with one commit, removed when dropped; `None` without git.
struct GitRepo {
    dir: std::path::PathBuf,
    work: std::path::PathBuf,
    sha: String,
}

impl GitRepo {
    fn new(name: &str) -> Option<GitRepo> {
        if std::process::Command::new("git").arg("--version").output().is_err() {
            eprintln!("NOTICE: git is not installed; skipping {name}");
            return None;
        }
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-{name}-{}", std::process::id()));
        let (work, sha) = dockhand_testkit::one_commit_repository(&dir, &[("Dockerfile", "FROM scratch\n")]);
        Some(GitRepo { dir, work, sha })
    }
}

impl Drop for GitRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
