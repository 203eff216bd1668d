//! `dockhand notify` prints the notifier's Publish request.

use serde_json::Value;
mod support;

use support::{dockhand, fixture};

fn notify(args: &[&str]) -> (String, String, bool) {
    dockhand("notify", args)
}

#[test]
fn prints_the_publish_request_with_sns_member_names() {
    let (stdout, stderr, ok) = notify(&[
        "--event",
        &fixture("codebuild-failed.json"),
        "--config",
        &fixture("config.json"),
        "--topic-arn",
        "arn:aws:sns:eu-west-1:123456789012:dockhand-build-results",
    ]);
    assert!(ok, "{stderr}");
    let request: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        request["TopicArn"],
        "arn:aws:sns:eu-west-1:123456789012:dockhand-build-results"
    );
    assert_eq!(
        request["Subject"],
        "dockhand FAILED: acme/web @3e8a1f5 web: bump nginx to 1.27"
    );
    assert_eq!(request["MessageStructure"], "json");
    assert_eq!(request["MessageAttributes"]["status"]["StringValue"], "FAILED");
    assert_eq!(request["MessageAttributes"]["repository"]["DataType"], "String");
    let message: Value = serde_json::from_str(request["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["sms"], "dockhand FAILED acme/web @3e8a1f5");
    assert!(message["email"].as_str().unwrap().contains("Failed phase: BUILD"));
}

#[test]
fn says_when_nothing_would_be_sent() {
    let (stdout, stderr, ok) = notify(&["--event", &fixture("codebuild-in-progress.json")]);
    assert!(ok);
    assert!(stdout.is_empty());
    assert!(stderr.contains("IN_PROGRESS is not notified"), "{stderr}");
    let (stdout, _, ok) = notify(&[
        "--event",
        &fixture("codebuild-in-progress.json"),
        "--statuses",
        "IN_PROGRESS",
    ]);
    assert!(ok && stdout.contains("\"Subject\""));
    let (_, stderr, ok) = notify(&["--event", &fixture("push-monorepo.json")]);
    assert!(!ok && stderr.contains("not a CodeBuild state-change event"), "{stderr}");
}
