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
        retagged: vec![],
        report: BuildReport::default(),
        report_unread: None,
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

/// Where every email line may start: the fixed headings, the labels, and the indented
/// context under "Failed phase:" or a skipped directory's "- ".
const EMAIL_STARTS: &[&str] = &[
    "dockhand build ",
    "dockhand could not ",
    "dockhand gave up on ",
    "Status:     ",
    "Image:      ",
    "Tags:       ",
    "Repository: ",
    "Ref:        ",
    "Commit:     ",
    "Author:     ",
    "Directory:  ",
    "Duration:   ",
    "Failed phase: ",
    "  ",
    "Logs:   https://",
    "Commit: https://",
    "Build:  ",
    "Why:        ",
    "Why: ",
    "- ",
    "The build's message is in the stack's dead-letter queue ",
    "The message is in the stack's dead-letter queue ",
];

/// Every line of `email` is empty or starts where it may, no label appears twice, and
/// nothing but `\n` breaks or reorders the text.
fn email_lines_are_ours(email: &str) -> Result<(), String> {
    if let Some(c) = email
        .chars()
        .find(|c| (c.is_control() && *c != '\n') || is_bidi_control(*c) || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(format!("{c:?} in\n{email}"));
    }
    let mut seen: Vec<&str> = Vec::new();
    for line in email.split('\n').filter(|l| !l.is_empty()) {
        let Some(start) = EMAIL_STARTS.iter().find(|s| line.starts_with(**s)) else {
            return Err(format!("{line:?} is not one of ours in\n{email}"));
        };
        if !matches!(*start, "  " | "- ") && seen.contains(start) {
            return Err(format!("a second {start:?} line in\n{email}"));
        }
        seen.push(start);
        if start.ends_with("https://") && line[start.len()..].contains(' ') {
            return Err(format!("{line:?} is not a plain URL"));
        }
    }
    Ok(())
}

#[test]
fn newlines_in_event_data_add_no_lines() {
    let mut o = outcome("FAILED");
    o.status = "FAILED\nInjected: status".into();
    o.repository = Some("acme/images\nInjected: repository".into());
    o.repository_url = Some("https://github.com/acme/images\r\nInjected: url".into());
    o.image = Some("docker.io/acme/web\u{2028}Injected: image".into());
    o.tags = vec!["latest\nInjected: tag".into(), "3e8a1f5".into()];
    o.build_id = "build/1\nInjected: build".into();
    o.logs_link = Some("https://console.aws.amazon.com/\nInjected: logs".into());
    o.failed_phase = Some(("BUILD\nInjected: phase".into(), "exit\r\n status 1".into()));
    let n = build_notification(&o);
    email_lines_are_ours(&n.email).unwrap();
    assert!(
        n.email
            .starts_with("dockhand build FAILED Injected: status for acme/web"),
        "{}",
        n.email
    );
    assert!(
        n.email.contains("Repository: acme/images Injected: repository\n"),
        "{}",
        n.email
    );
    assert!(
        n.email
            .contains("Tags:       latest Injected: tag, 3e8a1f5 (not pushed)\n"),
        "{}",
        n.email
    );
    assert!(
        n.email
            .contains("Failed phase: BUILD Injected: phase\n  exit status 1\n"),
        "{}",
        n.email
    );
    assert!(n.email.contains("Build:  build/1 Injected: build\n"), "{}", n.email);
    assert!(
        !n.email.contains("Logs:") && !n.email.contains("Commit: http"),
        "{}",
        n.email
    );
    assert_eq!(n.status, "FAILED Injected: status");
    assert_eq!(n.repository, "acme/images Injected: repository");
}

#[test]
fn only_plain_https_links_are_printed() {
    let link = |commit_url: Option<&str>, repository_url: Option<&str>| {
        let mut o = outcome("SUCCEEDED");
        o.commit_url = commit_url.map(str::to_owned);
        o.repository_url = repository_url.map(str::to_owned);
        let email = build_notification(&o).email;
        email_lines_are_ours(&email).unwrap();
        email
            .lines()
            .find_map(|l| l.strip_prefix("Commit: https://"))
            .map(|url| format!("https://{url}"))
    };
    let github = Some("https://github.com/acme/images.git");
    let derived = "https://github.com/acme/images/commit/3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f";
    assert_eq!(
        link(Some("https://example.com/c/1"), github).as_deref(),
        Some("https://example.com/c/1")
    );
    // One that is not plain falls back to the repository's, else to nothing.
    for bad in [
        "javascript:alert(1)",
        "http://example.com/c/1",
        "https://",
        "https://example.com/c 1",
        "https://example.com/\u{202e}1",
        "https://ex\u{e1}mple.com/c/1",
        "https://example.com/c/1\u{7f}",
    ] {
        assert_eq!(link(Some(bad), github).as_deref(), Some(derived), "{bad:?}");
        assert_eq!(link(Some(bad), None), None, "{bad:?}");
    }
    assert_eq!(link(None, Some("git@github.com:acme/images.git")), None);
    assert_eq!(link(None, Some("https://github.com/acme/images\u{0}")), None);
    let mut o = outcome("SUCCEEDED");
    o.commit = Some("3e8a1f5\nInjected: x".into());
    let email = build_notification(&o).email;
    email_lines_are_ours(&email).unwrap();
    assert!(!email.contains("Commit: http"), "{email}");
}

#[test]
fn a_commit_that_is_not_ascii_does_not_panic() {
    let mut o = outcome("FAILED");
    o.commit = Some("ééééééé".into());
    let n = build_notification(&o);
    assert!(n.email.contains("Commit:     ééééééé web: bump nginx\n"), "{}", n.email);
    assert_eq!(n.subject, "dockhand FAILED: acme/web @ web: bump nginx");
    assert!(valid_subject(&n.subject));

    let request = request("ééééééé");
    let n = skip_notification(&request, &[]);
    assert!(n.email.contains("Commit:     ééééééé web: bump nginx\n"), "{}", n.email);
    let n = not_started_notification(
        &queued("\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}"),
        "no room",
    );
    assert_eq!(n.subject, "dockhand NOT STARTED: acme/web @");
}

#[test]
fn short_sha_cuts_characters_not_bytes() {
    assert_eq!(short_sha("3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f"), "3e8a1f5");
    assert_eq!(short_sha("abc"), "abc");
    assert_eq!(short_sha("ééééééééé"), "ééééééé");
    assert_eq!(short_sha("\u{1f600}ab"), "\u{1f600}ab");
    assert_eq!(short_sha("\n3e8a\u{202e}1f5c7b"), "3e8a1f5");
    assert_eq!(short_sha(""), "");
}

#[test]
fn skip_and_not_started_lines_come_from_cleaned_data() {
    let mut request = request("3e8a1f5\nInjected: commit");
    request.repository.full_name = "acme/images\r\nInjected: repository".into();
    let n = skip_notification(
        &request,
        &[Skip {
            context: "web\nInjected: context".into(),
            reason: "no Dockerfile\nInjected: reason".into(),
            attention: true,
        }],
    );
    email_lines_are_ours(&n.email).unwrap();
    assert!(
        n.email.contains("Repository: acme/images Injected: repository\n"),
        "{}",
        n.email
    );
    assert!(
        n.email
            .contains("- web Injected: context: no Dockerfile Injected: reason\n"),
        "{}",
        n.email
    );

    let mut build = queued("3e8a1f5\u{2028}Injected: commit");
    build.image = "docker.io/acme/web\nInjected: image".into();
    let n = not_started_notification(&build, "no room\nInjected: reason");
    email_lines_are_ours(&n.email).unwrap();
    assert!(
        n.email
            .starts_with("dockhand could not start the build of acme/web Injected: image (web)"),
        "{}",
        n.email
    );
}

fn request(commit: &str) -> BuildRequest {
    crate::testing::build_request(commit)
}

fn queued(commit: &str) -> QueuedBuild {
    crate::testing::queued_build(commit)
}

/// Text built to break lines: line and paragraph separators, carriage returns, NULs, bidi
/// overrides, non-ASCII, emoji, lines that look like ours, and the occasional very long run.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => prop_oneof![
            Just("\n"), Just("\r"), Just("\r\n"), Just("\u{2028}"), Just("\u{2029}"), Just("\u{85}"),
            Just("\u{202e}"), Just("\u{2066}"), Just("\0"), Just("\t"), Just("\x1b[31m"), Just("é"),
            Just("\u{1f600}"), Just("Injected: x"), Just("Status:     SUCCEEDED"), Just("Logs:   https://evil"),
            Just("https://"), Just(" "), Just("  "), Just("- "),
        ]
        .prop_map(str::to_owned),
        3 => "[a-z0-9/:.]{1,8}",
        2 => "\\PC{0,8}",
        1 => "[a-zé]{1000,3000}",
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
}

fn hostile_outcome() -> impl Strategy<Value = BuildOutcome> {
    let opt = || proptest::option::of(hostile());
    let status = prop_oneof![
        Just("SUCCEEDED".to_owned()),
        Just("FAILED".to_owned()),
        Just("IN_PROGRESS".to_owned()),
        hostile()
    ];
    let tags = proptest::collection::vec((hostile(), any::<bool>()), 0..4);
    (
        (hostile(), hostile(), status, opt(), opt(), opt()),
        (opt(), opt(), opt(), tags, opt(), opt()),
        (
            opt(),
            any::<Option<u64>>(),
            any::<Option<u64>>(),
            proptest::option::of((hostile(), hostile())),
            opt(),
        ),
    )
        .prop_map(
            |(
                (project, build_id, status, repository, repository_url, commit),
                (git_ref, context, image, tags, commit_message, author),
                (commit_url, duration_secs, queued_secs, failed_phase, logs_link),
            )| BuildOutcome {
                project,
                build_id,
                status,
                repository,
                repository_url,
                commit,
                git_ref,
                context,
                image,
                moving_tags: tags.iter().filter(|(_, m)| *m).map(|(t, _)| t.clone()).collect(),
                tags: tags.into_iter().map(|(t, _)| t).collect(),
                commit_message,
                author,
                commit_url,
                duration_secs,
                queued_secs,
                failed_phase,
                logs_link,
                retagged: vec![],
                report: BuildReport::default(),
                report_unread: None,
            },
        )
}

fn sms_is_valid(sms: &str) -> bool {
    sms.chars().count() <= MAX_SMS && sms.chars().all(|c| (' '..='~').contains(&c))
}

proptest! {
    #[test]
    fn any_outcome_gives_a_report_with_only_our_lines(o in hostile_outcome()) {
        let n = build_notification(&o);
        prop_assert!(valid_subject(&n.subject), "{:?}", n.subject);
        prop_assert!(sms_is_valid(&n.sms), "{:?}", n.sms);
        if let Err(e) = email_lines_are_ours(&n.email) {
            return Err(TestCaseError::fail(e));
        }
        prop_assert!(n.email.lines().all(|l| l.chars().count() <= 2100), "{}", n.email);
        prop_assert!(!n.status.is_empty() && !n.status.contains('\n'));
        prop_assert!(!n.repository.is_empty() && !n.repository.contains('\n'));
    }

    #[test]
    fn any_request_gives_skip_and_dead_letter_reports_with_only_our_lines(
        commit in hostile(),
        full_name in hostile(),
        git_ref in hostile(),
        message in hostile(),
        skips in proptest::collection::vec((hostile(), hostile()), 0..3),
    ) {
        let mut r = request(&commit);
        r.repository.full_name = full_name.clone();
        r.git_ref = git_ref;
        r.head_commit.as_mut().unwrap().message = message;
        let skips: Vec<Skip> = skips
            .into_iter()
            .map(|(context, reason)| Skip { context, reason, attention: true })
            .collect();
        let n = skip_notification(&r, &skips);
        prop_assert!(valid_subject(&n.subject), "{:?}", n.subject);
        prop_assert!(sms_is_valid(&n.sms), "{:?}", n.sms);
        if let Err(e) = email_lines_are_ours(&n.email) {
            return Err(TestCaseError::fail(e));
        }
        prop_assert_eq!(n.email.lines().filter(|l| l.starts_with("- ")).count(), skips.len());

        let what = format!("planning the push of {} ({})", full_name, short_sha(&commit));
        let n = dead_letter_notification(&what, &r.git_ref, Some(&full_name));
        prop_assert!(valid_subject(&n.subject), "{:?}", n.subject);
        prop_assert!(sms_is_valid(&n.sms), "{:?}", n.sms);
        if let Err(e) = email_lines_are_ours(&n.email) {
            return Err(TestCaseError::fail(e));
        }
    }

    #[test]
    fn any_queued_build_gives_a_not_started_report_with_only_our_lines(
        commit in hostile(),
        fields in (hostile(), hostile(), hostile(), hostile()),
        tags in proptest::collection::vec(hostile(), 0..3),
        reason in hostile(),
    ) {
        let mut b = queued(&commit);
        (b.repository, b.git_ref, b.context, b.image) = fields;
        b.tags = tags;
        let n = not_started_notification(&b, &reason);
        prop_assert!(valid_subject(&n.subject), "{:?}", n.subject);
        prop_assert!(sms_is_valid(&n.sms), "{:?}", n.sms);
        if let Err(e) = email_lines_are_ours(&n.email) {
            return Err(TestCaseError::fail(e));
        }
    }
}

#[test]
fn missing_tags_or_commit_print_nothing_about_them() {
    let o = BuildOutcome {
        project: "dockhand".into(),
        build_id: "dockhand:1".into(),
        status: "SUCCEEDED".into(),
        repository_url: Some("https://github.com/acme/images.git".into()),
        ..BuildOutcome::default()
    };
    let email = build_notification(&o).email;
    assert!(!email.contains("Tags:") && !email.contains("/commit/"), "{email}");
}

fn reported(status: &str, log: &str) -> Notification {
    let mut o = outcome(status);
    o.report = BuildReport::read(log.lines());
    build_notification(&o)
}

#[test]
fn a_failed_autotest_names_the_file_and_shows_the_sut_log() {
    let mut o = outcome("FAILED");
    o.failed_phase = Some((
        "BUILD".into(),
        "COMMAND_EXECUTION_ERROR: Error while executing command".into(),
    ));
    o.report = BuildReport::read(
        "##dockhand hook pre_build ok\n##dockhand test docker-compose.test.yml failed 1\n##dockhand sut checking /srv/index.html\n##dockhand sut FAIL: \u{1b}[31mindex.html is empty\u{1b}[0m\n"
            .lines(),
    );
    let n = build_notification(&o);
    assert_eq!(n.sms, "dockhand FAILED acme/web @3e8a1f5: test failed");
    for expected in [
        "Hooks:      hooks/pre_build ran\n",
        "Tests:      docker-compose.test.yml failed (exit status 1)\n",
        "Tags:       latest, 3e8a1f5 (not pushed)\n",
        "Last lines of the sut service's log:\n  | checking /srv/index.html\n  | FAIL: [31mindex.html is empty[0m\n",
    ] {
        assert!(n.email.contains(expected), "{expected:?} in\n{}", n.email);
    }
    // The sut's lines come after what CodeBuild said of the failed phase.
    assert!(n.email.find("Failed phase: BUILD").unwrap() < n.email.find("Last lines of the sut").unwrap());
}

#[test]
fn a_failed_hook_is_named_in_the_sms_and_the_email() {
    let n = reported(
        "FAILED",
        "##dockhand hook post_checkout ok\n##dockhand hook pre_push failed 3\n",
    );
    assert_eq!(n.sms, "dockhand FAILED acme/web @3e8a1f5: hook pre_push failed");
    assert!(
        n.email
            .contains("Hooks:      hooks/post_checkout ran, hooks/pre_push failed (exit status 3)\n"),
        "{}",
        n.email
    );
    assert!(!n.email.contains("sut service"));
}

#[test]
fn a_success_reports_passed_tests_and_the_description_sync() {
    let n = reported(
        "SUCCEEDED",
        "##dockhand test docker-compose.test.yml passed\n##dockhand test smoke.test.yml passed\n##dockhand sut stray\n##dockhand description failed Docker Hub answered 403: the token may not edit this repository\n",
    );
    assert_eq!(n.sms, "dockhand SUCCEEDED acme/web @3e8a1f5");
    for expected in [
        "Tests:      docker-compose.test.yml passed, smoke.test.yml passed\n",
        "README:     not updated (Docker Hub answered 403: the token may not edit this repository); the image was pushed all the same\n",
        "Tags:       latest, 3e8a1f5 (pushed)\n",
    ] {
        assert!(n.email.contains(expected), "{expected:?} in\n{}", n.email);
    }
    // A sut line on a success is not a failure's log.
    assert!(!n.email.contains("stray"));
    let synced = reported("SUCCEEDED", "##dockhand description synced web/README.md\n");
    assert!(
        synced
            .email
            .contains("README:     web/README.md is the repository's description on Docker Hub\n")
    );
}

#[test]
fn skipped_tests_and_an_unread_log_are_said() {
    let mut o = outcome("SUCCEEDED");
    o.report = BuildReport::read(["##dockhand tests skipped autotest is default_branch and this is a tag"]);
    o.report_unread = None;
    let n = build_notification(&o);
    assert!(
        n.email
            .contains("Tests:      not run: autotest is default_branch and this is a tag\n"),
        "{}",
        n.email
    );
    o.report = BuildReport::default();
    o.report_unread = Some("AccessDeniedException".into());
    let n = build_notification(&o);
    assert!(
        n.email
            .contains("Report:     not read from the build's log (AccessDeniedException)\n"),
        "{}",
        n.email
    );
    // Without report lines, nothing of them is said.
    let plain = build_notification(&outcome("SUCCEEDED"));
    assert!(!plain.email.contains("Hooks:") && !plain.email.contains("Tests:") && !plain.email.contains("README:"));
}
