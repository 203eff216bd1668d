use super::*;
use crate::testing::{build_request, queued_build};
use proptest::prelude::*;

const COMMIT: &str = "3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f";

fn functions() -> Functions {
    Functions::of_stack("dockhand")
}

fn received(body: &str, attributes: &[(&str, &str)]) -> Received {
    Received {
        body: body.to_owned(),
        attributes: attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        sent: Some(1_795_000_000),
        source_queue_arn: None,
    }
}

/// The CodeBuild state-change event of the notifier's tests, with dockhand's variables.
fn state_change() -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../../tests/fixtures/codebuild-failed.json")).unwrap();
    event["detail"]["additional-information"]["environment"]["environment-variables"] = serde_json::json!([
        { "name": "DOCKHAND_REPOSITORY", "value": "acme/images", "type": "PLAINTEXT" },
        { "name": "DOCKHAND_REF", "value": "refs/heads/main", "type": "PLAINTEXT" },
        { "name": "SOURCE_COMMIT", "value": COMMIT, "type": "PLAINTEXT" },
        { "name": "DOCKER_REPO", "value": "docker.io/acme/web", "type": "PLAINTEXT" },
    ]);
    event
}

#[test]
fn the_spawners_own_dead_letters_go_back_to_their_queue() {
    let request = serde_json::to_string(&build_request(COMMIT)).unwrap();
    let letter = read(
        &received(
            &request,
            &[(
                REASON_ATTRIBUTE,
                "still waiting after 23.8 hours: GitHub: 502 Server Error",
            )],
        ),
        &functions(),
    );
    assert_eq!(letter.origin, Origin::Planning);
    assert_eq!(letter.replay, Replay::Requests(request));
    assert_eq!(letter.repository.as_deref(), Some("acme/images"));
    assert_eq!(letter.git_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(letter.commit.as_deref(), Some(COMMIT));
    assert_eq!(letter.when, Some(1_795_000_000));
    assert_eq!(
        letter.line(),
        "2026-11-18 11:06Z  spawner (plan)  acme/images refs/heads/main 3e8a1f5 -  still waiting after 23.8 hours: GitHub: 502 Server Error"
    );

    let build = serde_json::to_string(&queued_build(COMMIT)).unwrap();
    let letter = read(
        &received(
            &build,
            &[(REASON_ATTRIBUTE, "no capacity: AccountLimitExceededException")],
        ),
        &functions(),
    );
    assert_eq!(letter.origin, Origin::Starting);
    assert_eq!(letter.replay, Replay::Builds(build));
    assert_eq!(letter.image.as_deref(), Some("docker.io/acme/web"));
    assert!(
        letter
            .line()
            .contains("spawner (start)  acme/images refs/heads/main 3e8a1f5 docker.io/acme/web  no capacity")
    );
}

#[test]
fn a_redriven_message_says_the_function_failed_on_it() {
    let build = serde_json::to_string(&queued_build(COMMIT)).unwrap();
    let mut record = received(&build, &[]);
    record.source_queue_arn = Some("arn:aws:sqs:eu-west-1:123456789012:dockhand-builds".into());
    let letter = read(&record, &functions());
    assert_eq!(letter.replay, Replay::Builds(build.clone()));
    assert!(letter.why.contains("dockhand-builds's redrive"), "{}", letter.why);
    assert!(letter.why.contains("make logs FN=spawner"), "{}", letter.why);
    // Without the source, the reason still says what to look at.
    let letter = read(&received(&build, &[]), &functions());
    assert!(letter.why.contains("make logs FN=spawner"), "{}", letter.why);
}

#[test]
fn a_request_sns_could_not_deliver_is_planned_again() {
    let request = serde_json::to_string(&build_request(COMMIT)).unwrap();
    // Raw delivery, as the stack's subscription: the request itself.
    let letter = read(
        &received(&request, &[("ErrorCode", "403"), ("ErrorMessage", "KMS.AccessDenied")]),
        &functions(),
    );
    assert_eq!(letter.replay, Replay::Requests(request.clone()));
    assert!(letter.why.contains("SNS could not deliver"), "{}", letter.why);
    // An envelope, as a subscription without raw delivery would send it.
    let envelope = serde_json::json!({
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:dockhand-build-requests",
        "Message": request,
    })
    .to_string();
    let letter = read(&received(&envelope, &[]), &functions());
    assert_eq!(letter.origin, Origin::Planning);
    assert_eq!(letter.replay, Replay::Requests(request));
}

#[test]
fn a_notifier_failure_is_lambdas_invocation_record() {
    let event = state_change();
    let record = serde_json::json!({
        "version": "1.0",
        "timestamp": "2026-12-01T19:40:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4f2a-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:dockhand-notifier:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" },
        "responsePayload": { "errorType": "&alloc::boxed::Box<dyn core::error::Error + Send + Sync>", "errorMessage": "SNS Publish to arn:aws:sns:eu-west-1:123456789012:dockhand-build-results: NotFound: Topic does not exist" }
    });
    let letter = read(&received(&record.to_string(), &[]), &functions());
    assert_eq!(letter.origin, Origin::Notifier);
    assert_eq!(letter.replay, Replay::Notifier(event.to_string()));
    assert_eq!(letter.repository.as_deref(), Some("acme/images"));
    assert_eq!(letter.image.as_deref(), Some("docker.io/acme/web"));
    assert_eq!(letter.when, seconds("2026-12-01T19:40:05Z"));
    assert!(
        letter.why.starts_with("RetriesExhausted after 3 attempt(s): "),
        "{}",
        letter.why
    );
    assert!(letter.why.contains("Topic does not exist"), "{}", letter.why);
    assert!(letter.line().starts_with(
        "2026-12-01 19:40Z  notifier  acme/images refs/heads/main 3e8a1f5 docker.io/acme/web  RetriesExhausted"
    ));

    // The cleanup's record is replayed by invoking the cleanup.
    let scheduled = serde_json::json!({
        "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
        "time": "2026-12-01T03:00:00Z", "detail": {}
    });
    let record = serde_json::json!({
        "version": "1.0",
        "timestamp": "2026-12-01T03:05:00.000Z",
        "requestContext": { "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:dockhand-cleanup:$LATEST", "condition": "RetriesExhausted", "approximateInvokeCount": 3 },
        "requestPayload": scheduled,
        "responseContext": { "statusCode": 200, "functionError": "Unhandled" },
        "responsePayload": { "errorMessage": "3 build(s) could not be deleted" }
    });
    let letter = read(&received(&record.to_string(), &[]), &functions());
    assert_eq!(letter.origin, Origin::Cleanup);
    assert_eq!(letter.replay, Replay::Cleanup(scheduled.to_string()));
}

#[test]
fn an_event_eventbridge_could_not_deliver_goes_to_its_function() {
    let event = state_change();
    let letter = read(
        &received(
            &event.to_string(),
            &[
                (
                    "RULE_ARN",
                    "arn:aws:events:eu-west-1:123456789012:rule/dockhand-BuildStateRule-1X2Y3Z",
                ),
                (
                    "TARGET_ARN",
                    "arn:aws:lambda:eu-west-1:123456789012:function:dockhand-notifier",
                ),
                ("ERROR_CODE", "NO_PERMISSIONS"),
                ("ERROR_MESSAGE", "EventBridge is not authorized to invoke the function"),
            ],
        ),
        &functions(),
    );
    assert_eq!(letter.origin, Origin::Notifier);
    assert_eq!(letter.rule.as_deref(), Some("dockhand-BuildStateRule-1X2Y3Z"));
    assert_eq!(letter.replay, Replay::Notifier(event.to_string()));
    assert!(letter.why.contains("NO_PERMISSIONS"), "{}", letter.why);
    assert!(
        letter
            .line()
            .contains("notifier via rule dockhand-BuildStateRule-1X2Y3Z")
    );
}

#[test]
fn a_finished_build_for_the_builds_queue_goes_back_to_the_builds_queue() {
    let event = state_change();
    // EventBridge could not put it in the queue.
    let undelivered = read(
        &received(
            &event.to_string(),
            &[
                (
                    "RULE_ARN",
                    "arn:aws:events:eu-west-1:123456789012:rule/dockhand-BuildFinishedRule-9A8B",
                ),
                ("TARGET_ARN", "arn:aws:sqs:eu-west-1:123456789012:dockhand-builds"),
                ("ERROR_CODE", "SQS_PERMISSION_DENIED"),
            ],
        ),
        &functions(),
    );
    assert_eq!(undelivered.origin, Origin::Starting);
    assert_eq!(undelivered.replay, Replay::Builds(event.to_string()));
    assert!(undelivered.why.contains("SQS_PERMISSION_DENIED"), "{}", undelivered.why);
    // The spawner gave up on it (the waiting builds' records were gone).
    let given_up = read(
        &received(
            &event.to_string(),
            &[(REASON_ATTRIBUTE, "no record of the build(s) waiting")],
        ),
        &functions(),
    );
    assert_eq!(given_up.origin, Origin::Starting);
    assert_eq!(given_up.replay, Replay::Builds(event.to_string()));
    assert_eq!(given_up.why, "no record of the build(s) waiting");
}

/// The scheduled refresh's event is the requests queue's: whether EventBridge could not
/// put it there or the spawner failed on it, it goes back to the requests queue, never to
/// the cleanup that the other scheduled event is for.
#[test]
fn a_refresh_event_goes_back_to_the_requests_queue() {
    let scheduled = serde_json::json!({
        "version": "0", "id": "6a7e8feb", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-07T04:00:00Z", "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/dockhand-RefreshScheduleRule-1A2B"], "detail": {}
    })
    .to_string();
    let undelivered = read(
        &received(
            &scheduled,
            &[
                (
                    "RULE_ARN",
                    "arn:aws:events:eu-west-1:123456789012:rule/dockhand-RefreshScheduleRule-1A2B",
                ),
                (
                    "TARGET_ARN",
                    "arn:aws:sqs:eu-west-1:123456789012:dockhand-build-requests",
                ),
                ("ERROR_CODE", "SQS_PERMISSION_DENIED"),
            ],
        ),
        &functions(),
    );
    assert_eq!(undelivered.origin, Origin::Planning);
    assert_eq!(undelivered.replay, Replay::Requests(scheduled.clone()));
    assert!(undelivered.why.contains("SQS_PERMISSION_DENIED"), "{}", undelivered.why);
    let mut redriven = received(&scheduled, &[]);
    redriven.source_queue_arn = Some("arn:aws:sqs:eu-west-1:123456789012:dockhand-build-requests".into());
    let redriven = read(&redriven, &functions());
    assert_eq!(redriven.origin, Origin::Planning);
    assert_eq!(redriven.replay, Replay::Requests(scheduled.clone()));
    assert!(redriven.why.contains("redrive"), "{}", redriven.why);
}

#[test]
fn an_order_goes_back_to_the_requests_queue() {
    let body = serde_json::json!({"order": {
        "id": "m-00112233445566778899aabbccddeeff", "kind": "manual", "repository": "acme/images",
        "ref": "refs/heads/main", "commit": COMMIT, "directories": ["web"], "at": 1_764_662_400
    }})
    .to_string();
    let letter = read(
        &received(&body, &[(REASON_ATTRIBUTE, "GitHub could not answer: 502")]),
        &functions(),
    );
    assert_eq!(letter.origin, Origin::Planning);
    assert_eq!(letter.replay, Replay::Requests(body.clone()));
    assert_eq!(letter.repository.as_deref(), Some("acme/images"));
    assert_eq!(letter.commit.as_deref(), Some(COMMIT));
    assert_eq!(letter.why, "GitHub could not answer: 502");
}

#[test]
fn anything_else_is_listed_and_never_replayed() {
    for body in ["", "not json", "{}", "[1,2]", r#"{"detail-type":"Something Else"}"#] {
        let letter = read(&received(body, &[]), &functions());
        assert!(matches!(letter.replay, Replay::Never(_)), "{body}: {letter:?}");
    }
}

proptest! {
    /// Whatever a record holds, its line is one line of printable text: no control
    /// character (an escape sequence would reach the operator's terminal), no line break.
    #[test]
    fn a_line_is_one_line_of_printable_text(
        repository in ".{0,40}", git_ref in ".{0,40}", image in ".{0,40}", why in ".{0,400}", commit in ".{0,50}",
    ) {
        let mut build = queued_build(&commit);
        build.repository = repository;
        build.git_ref = git_ref;
        build.image = image;
        let body = serde_json::to_string(&build).unwrap();
        let line = read(&received(&body, &[(REASON_ATTRIBUTE, &why)]), &functions()).line();
        prop_assert!(!line.chars().any(|c| c.is_control()), "{:?}", line);
        prop_assert!(line.chars().count() < 900);
    }
}
