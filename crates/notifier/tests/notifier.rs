//! The notifier on CodeBuild state-change events carrying dockhand's environment.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_core::notification::{PublishRequest, subject};
use dockhand_core::ports::{NotificationSink, PortError};
use dockhand_notifier::{Decision, Notifier, outcome, statuses};
use dockhand_testkit::fixture;
use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Outbox(Arc<Mutex<Vec<PublishRequest>>>);

impl NotificationSink for Outbox {
    async fn send(&self, request: &PublishRequest) -> Result<(), PortError> {
        self.0.lock().unwrap().push(request.clone());
        Ok(())
    }
}

fn event(name: &str) -> CodeBuildEvent {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn notifier() -> (Notifier<Outbox>, Outbox) {
    let outbox = Outbox::default();
    let n = Notifier {
        project: "dockhand".into(),
        statuses: statuses(None),
        topic_arn: None,
        sink: outbox.clone(),
    };
    (n, outbox)
}

fn message(request: &PublishRequest) -> Value {
    serde_json::from_str(&request.message).unwrap()
}

#[tokio::test]
async fn succeeded() {
    let (n, outbox) = notifier();
    n.handle(&event("codebuild-succeeded.json")).await.unwrap();
    let sent = outbox.0.lock().unwrap().pop().unwrap();
    assert_eq!(
        sent.subject,
        "dockhand SUCCEEDED: acme/web @3e8a1f5 web: bump nginx to 1.27"
    );
    assert_eq!(sent.message_structure, "json");
    assert_eq!(sent.message_attributes["status"].string_value, "SUCCEEDED");
    assert_eq!(sent.message_attributes["repository"].string_value, "acme/images");
    let m = message(&sent);
    assert_eq!(m["sms"], "dockhand SUCCEEDED acme/web @3e8a1f5");
    assert_eq!(m["default"], m["email"]);
    let email = m["email"].as_str().unwrap();
    for line in [
        "Tags:       latest, 3e8a1f5 (pushed)",
        "Commit:     3e8a1f5 web: bump nginx to 1.27",
        "Author:     Ada Lovelace",
        "Directory:  web",
        "Duration:   2m 13s (queued 4s)",
        "Logs:   https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=/aws/codebuild/dockhand;stream=a1b2c3d4e5f6",
        "Commit: https://github.com/acme/images/commit/3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f",
        "Build:  arn:aws:codebuild:eu-west-1:123456789012:build/dockhand:a1b2c3d4e5f6",
    ] {
        assert!(email.contains(line), "missing {line:?} in\n{email}");
    }
}

#[tokio::test]
async fn failed_reports_the_phase_and_its_context() {
    let (n, outbox) = notifier();
    n.handle(&event("codebuild-failed.json")).await.unwrap();
    let sent = outbox.0.lock().unwrap().pop().unwrap();
    let email = message(&sent)["email"].as_str().unwrap().to_owned();
    assert!(email.contains("Tags:       latest, 3e8a1f5 (not pushed)"), "{email}");
    assert!(
        email.contains(
            "Failed phase: BUILD\n  COMMAND_EXECUTION_ERROR: Error while executing command: set -euo pipefail cd"
        ),
        "{email}"
    );
    assert!(email.contains("Reason: exit status 1"));
    assert!(email.contains("Duration:   1m 25s (queued 4s)"), "{email}");
    assert_eq!(message(&sent)["sms"], "dockhand FAILED acme/web @3e8a1f5");
}

#[tokio::test]
async fn stopped() {
    let (n, outbox) = notifier();
    n.handle(&event("codebuild-stopped.json")).await.unwrap();
    let sent = outbox.0.lock().unwrap().pop().unwrap();
    assert_eq!(sent.message_attributes["status"].string_value, "STOPPED");
    let email = message(&sent)["email"].as_str().unwrap().to_owned();
    assert!(
        email.contains("Failed phase: PRE_BUILD\n\n"),
        "empty CodeBuild context is left out:\n{email}"
    );
}

#[tokio::test]
async fn in_progress_is_off_by_default_and_can_be_turned_on() {
    let (n, outbox) = notifier();
    let d = n.handle(&event("codebuild-in-progress.json")).await.unwrap();
    assert!(
        matches!(d, Decision::Ignore(ref r) if r.contains("IN_PROGRESS")),
        "{d:?}"
    );
    assert!(outbox.0.lock().unwrap().is_empty());
    let on = Notifier {
        statuses: statuses(Some("in_progress, failed")),
        ..n
    };
    let Decision::Send(sent) = on.decide(&event("codebuild-in-progress.json")) else {
        panic!()
    };
    assert!(message(&sent)["email"].as_str().unwrap().contains("(building)"));
    assert!(matches!(
        on.decide(&event("codebuild-succeeded.json")),
        Decision::Ignore(_)
    ));
}

#[test]
fn other_projects_are_ignored() {
    let (n, _) = notifier();
    let mut e = event("codebuild-failed.json");
    e.detail.project_name = Some("someone-elses".into());
    assert!(matches!(n.decide(&e), Decision::Ignore(r) if r.contains("someone-elses")));
}

#[test]
fn everything_comes_from_the_event() {
    let o = outcome(&event("codebuild-failed.json"));
    assert_eq!(o.repository.as_deref(), Some("acme/images"));
    assert_eq!(o.git_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(o.context.as_deref(), Some("web"));
    assert_eq!(o.image.as_deref(), Some("docker.io/acme/web"));
    assert_eq!(o.tags, ["latest", "3e8a1f5"]);
    assert_eq!(o.queued_secs, Some(4));
    assert_eq!(o.failed_phase.as_ref().unwrap().0, "BUILD");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Hostile commit messages, through the whole event path, always give a valid subject
    /// and a one-line SMS within limits.
    #[test]
    fn hostile_commit_messages(message in "(\\PC|\n|\r|\t|\u{202e}|\u{200f}|\u{1f600}|\\$\\(|`|\\{\\{){0,12000}") {
        let (n, _) = notifier();
        let mut e = event("codebuild-failed.json");
        for v in &mut e.detail.additional_information.environment.environment_variables {
            if v.name.as_deref() == Some("COMMIT_MSG") {
                v.value = Some(message.clone());
            }
        }
        let Decision::Send(sent) = n.decide(&e) else { panic!() };
        proptest::prop_assert!(sent.subject.len() <= 100 && !sent.subject.is_empty());
        proptest::prop_assert!(sent.subject.chars().all(|c| (' '..='~').contains(&c)));
        let sms = serde_json::from_str::<Value>(&sent.message).unwrap()["sms"].as_str().unwrap().to_owned();
        proptest::prop_assert!(sms.chars().count() <= 140 && !sms.contains('\n'));
        proptest::prop_assert_eq!(subject(&sent.subject), sent.subject.clone());
    }
}
