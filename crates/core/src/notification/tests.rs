use super::*;
use proptest::prelude::*;

fn outcome(status: &str) -> BuildOutcome {
    BuildOutcome {
        project: "dockhand".into(),
        build_id: "arn:aws:codebuild:eu-west-1:123456789012:build/dockhand:1b2c".into(),
        status: status.into(),
        repository: Some("acme/images".into()),
        repository_url: Some("https://github.com/acme/images.git".into()),
        commit: Some("3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f".into()),
        git_ref: Some("refs/heads/main".into()),
        context: Some("web".into()),
        image: Some("docker.io/acme/web".into()),
        tags: vec!["latest".into(), "3e8a1f5".into()],
        moving_tags: vec![],
        commit_message: Some("web: bump nginx\n\nbody".into()),
        author: Some("Ada Lovelace".into()),
        commit_url: None,
        duration_secs: Some(133),
        queued_secs: Some(4),
        failed_phase: None,
        logs_link: Some(
            "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=/aws/codebuild/dockhand"
                .into(),
        ),
    }
}

#[test]
fn a_success_report() {
    let n = build_notification(&outcome("SUCCEEDED"));
    assert_eq!(n.subject, "dockhand SUCCEEDED: acme/web @3e8a1f5 web: bump nginx");
    assert_eq!(n.sms, "dockhand SUCCEEDED acme/web @3e8a1f5");
    for expected in [
        "Image:      docker.io/acme/web\n",
        "Tags:       latest, 3e8a1f5 (pushed)\n",
        "Repository: acme/images\n",
        "Ref:        refs/heads/main\n",
        "Commit:     3e8a1f5 web: bump nginx\n",
        "Author:     Ada Lovelace\n",
        "Directory:  web\n",
        "Duration:   2m 13s (queued 4s)\n",
        "Logs:   https://console.aws.amazon.com/",
        "Commit: https://github.com/acme/images/commit/3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f\n",
    ] {
        assert!(n.email.contains(expected), "missing {expected:?} in\n{}", n.email);
    }
    assert!(!n.email.contains("Failed phase"));
}

#[test]
fn a_failure_names_the_phase_and_its_context() {
    let mut o = outcome("FAILED");
    o.failed_phase = Some((
        "BUILD".into(),
        "COMMAND_EXECUTION_ERROR: Error while executing command: docker build. Reason: exit status 1".into(),
    ));
    let n = build_notification(&o);
    assert!(n.email.contains("Tags:       latest, 3e8a1f5 (not pushed)"));
    assert!(n.email.contains("Failed phase: BUILD\n  COMMAND_EXECUTION_ERROR: Error while executing command: docker build. Reason: exit status 1\n"));
    assert_eq!(n.status, "FAILED");
}

#[test]
fn publish_request_uses_sns_member_names() {
    let n = build_notification(&outcome("STOPPED"));
    let json = serde_json::to_value(n.publish_request(Some("arn:aws:sns:eu-west-1:123456789012:results"))).unwrap();
    assert_eq!(json["TopicArn"], "arn:aws:sns:eu-west-1:123456789012:results");
    assert_eq!(json["MessageStructure"], "json");
    assert_eq!(
        json["MessageAttributes"]["status"],
        serde_json::json!({"DataType": "String", "StringValue": "STOPPED"})
    );
    assert_eq!(json["MessageAttributes"]["repository"]["StringValue"], "acme/images");
    let message: serde_json::Value = serde_json::from_str(json["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["default"], message["email"]);
    assert_eq!(message["sms"], "dockhand STOPPED acme/web @3e8a1f5");
    assert!(
        serde_json::to_value(n.publish_request(None))
            .unwrap()
            .get("TopicArn")
            .is_none()
    );
}

#[test]
fn hostile_messages_are_tamed() {
    let mut o = outcome("FAILED");
    o.commit_message = Some("\u{202e}evil\u{202c} \u{1f600} line\r\nSubject: injected\x07\x1b[31m".into());
    let n = build_notification(&o);
    assert_eq!(n.subject, "dockhand FAILED: acme/web @3e8a1f5 evil line");
    assert!(
        n.email.contains("Commit:     3e8a1f5 evil \u{1f600} line\n"),
        "{}",
        n.email
    );
    assert!(!n.email.contains('\u{202e}') && !n.email.contains('\x1b'));
}

#[test]
fn long_text_is_cut_with_an_ellipsis() {
    assert_eq!(subject(&"a".repeat(500)).len(), 100);
    assert!(subject(&"a".repeat(500)).ends_with("..."));
    assert_eq!(subject("\u{1f600}\n\t"), "dockhand");
    assert_eq!(human(59), "59s");
    assert_eq!(human(3725), "1h 02m");
}

fn valid_subject(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SUBJECT && s.chars().all(|c| (' '..='~').contains(&c)) && !s.starts_with(' ')
}

proptest! {
    #[test]
    fn any_commit_message_gives_a_valid_subject_and_sms(message in "\\PC*|(.|\n|\r|\u{202e}|\u{1f600}){0,3000}", image in "\\PC{0,300}", status in "[A-Z_]{0,20}") {
        let mut o = outcome(&status);
        o.commit_message = Some(message.clone());
        o.image = Some(image);
        let n = build_notification(&o);
        prop_assert!(valid_subject(&n.subject), "{:?}", n.subject);
        prop_assert!(n.sms.chars().count() <= MAX_SMS && !n.sms.contains('\n'), "{:?}", n.sms);
        prop_assert!(n.sms.chars().all(|c| (' '..='~').contains(&c)));
        prop_assert!(!n.repository.is_empty());
        let request = n.publish_request(None);
        let _: serde_json::Value = serde_json::from_str(&request.message).unwrap();
    }

    #[test]
    fn ten_kilobyte_messages(message in proptest::collection::vec(any::<char>(), 10_000..10_240)) {
        let message: String = message.into_iter().collect();
        let s = subject(&format!("dockhand FAILED: x {message}"));
        prop_assert!(valid_subject(&s), "{:?}", s);
        prop_assert!(sms(&message).chars().count() <= MAX_SMS);
    }
}
