//! The notifier on CodeBuild state-change events carrying dockhand's environment.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_core::notification::{PublishRequest, subject};
use dockhand_core::ports::memory::{MemoryLedger, MemoryLogs, MemorySink};
use dockhand_notifier::{Decision, Notifier, outcome, statuses};
use dockhand_testkit::fixture;
use serde_json::Value;

type Outbox = MemorySink;

fn event(name: &str) -> CodeBuildEvent {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn notifier() -> (Notifier<Outbox, MemoryLedger, MemoryLogs>, Outbox) {
    let outbox = Outbox::default();
    let n = Notifier {
        project: "dockhand".into(),
        statuses: statuses(None),
        topic_arn: None,
        sink: outbox.clone(),
        records: MemoryLedger::default(),
        logs: MemoryLogs::default(),
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
    let sent = outbox.sent().pop().unwrap();
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
    let sent = outbox.sent().pop().unwrap();
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
    let sent = outbox.sent().pop().unwrap();
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
    assert!(outbox.sent().is_empty());
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

/// The event `name` with dockhand's environment variables set to `values`, as JSON: the
/// values go through the same decoding a real event's do.
fn event_with(name: &str, values: &[(&str, &str)]) -> CodeBuildEvent {
    let mut json: Value = serde_json::from_str(&fixture(name)).unwrap();
    let variables = json["detail"]["additional-information"]["environment"]["environment-variables"]
        .as_array_mut()
        .unwrap();
    for (name, value) in values {
        variables.retain(|v| v["name"] != *name);
        variables.push(serde_json::json!({"name": name, "type": "PLAINTEXT", "value": value}));
    }
    serde_json::from_value(json).unwrap()
}

/// The email's lines that are not empty and start with none of the report's own labels,
/// or with a label an earlier line had.
fn foreign_lines(email: &str) -> Vec<String> {
    const STARTS: &[&str] = &[
        "dockhand build ",
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
    ];
    let mut seen = Vec::new();
    email
        .split('\n')
        .filter(|l| !l.is_empty())
        .filter(|l| match STARTS.iter().find(|s| l.starts_with(**s)) {
            Some(&"  ") => false,
            Some(start) if !seen.contains(start) => {
                seen.push(*start);
                false
            }
            _ => true,
        })
        .map(str::to_owned)
        .collect()
}

fn email(decision: Decision) -> String {
    let Decision::Send(sent) = decision else {
        panic!("{decision:?}")
    };
    message(&sent)["email"].as_str().unwrap().to_owned()
}

#[test]
fn a_commit_that_is_not_ascii_is_reported() {
    let (n, _) = notifier();
    let email = email(n.decide(&event_with("codebuild-failed.json", &[("SOURCE_COMMIT", "ééééééé")])));
    assert!(
        email.contains("Commit:     ééééééé web: bump nginx to 1.27\n"),
        "{email}"
    );
}

#[test]
fn newlines_in_the_environment_add_no_lines() {
    let (n, _) = notifier();
    let email = email(n.decide(&event_with(
        "codebuild-succeeded.json",
        &[
            ("DOCKHAND_REPOSITORY", "acme/images\nInjected: repository"),
            ("DOCKER_REPO", "docker.io/acme/web\r\nInjected: image"),
            ("DOCKHAND_TAGS", "latest,\u{2028}Injected: tags"),
            (
                "DOCKHAND_COMMIT_URL",
                "https://github.com/acme/images/commit/3e8a1f5\nInjected: url",
            ),
        ],
    )));
    assert_eq!(foreign_lines(&email), Vec::<String>::new(), "{email}");
    assert!(
        email.contains("Repository: acme/images Injected: repository\n"),
        "{email}"
    );
    // The link that is not a plain URL gives way to the one made from SOURCE_REPO_URL.
    assert!(
        email.contains("Commit: https://github.com/acme/images/commit/3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f\n"),
        "{email}"
    );
}

/// Values built to break lines: separators, NULs, bidi overrides, non-ASCII, emoji, text that
/// looks like a line of the report, and the occasional long run.
fn hostile() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        6 => prop_oneof![
            Just("\n"), Just("\r"), Just("\u{2028}"), Just("\u{85}"), Just("\u{202e}"), Just("\0"),
            Just("\t"), Just("é"), Just("\u{1f600}"), Just(","), Just("Injected: x"),
            Just("Build:  arn:x"), Just("https://"), Just(" "),
        ]
        .prop_map(str::to_owned),
        3 => "[a-z0-9/:.]{1,8}",
        2 => "\\PC{0,8}",
        1 => "[a-zé]{1000,3000}",
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
}

const DOCKHAND_VARIABLES: &[&str] = &[
    "DOCKHAND_REPOSITORY",
    "SOURCE_REPO_URL",
    "SOURCE_COMMIT",
    "DOCKHAND_REF",
    "BUILD_CONTEXT",
    "DOCKER_REPO",
    "DOCKHAND_TAGS",
    "DOCKHAND_MOVING_TAGS",
    "COMMIT_MSG",
    "DOCKHAND_COMMIT_AUTHOR",
    "DOCKHAND_COMMIT_URL",
];

proptest::proptest! {
    /// Any values in dockhand's environment variables, through the whole event path: no
    /// panic, and an email with only the report's own lines.
    #[test]
    fn hostile_environments(
        values in proptest::collection::vec(hostile(), DOCKHAND_VARIABLES.len()),
        fixture in proptest::sample::select(vec!["codebuild-succeeded.json", "codebuild-failed.json"]),
    ) {
        let (n, _) = notifier();
        let values: Vec<(&str, &str)> = DOCKHAND_VARIABLES.iter().copied().zip(values.iter().map(String::as_str)).collect();
        let decision = n.decide(&event_with(fixture, &values));
        let Decision::Send(sent) = &decision else { panic!("{decision:?}") };
        proptest::prop_assert!(!sent.subject.is_empty() && sent.subject.len() <= 100);
        proptest::prop_assert!(sent.subject.chars().all(|c| (' '..='~').contains(&c)));
        let email = email(decision);
        proptest::prop_assert_eq!(foreign_lines(&email), Vec::<String>::new(), "{}", email);
        proptest::prop_assert!(!email.chars().any(|c| c != '\n' && (c.is_control() || c == '\u{2028}' || c == '\u{202e}')), "{}", email);
    }
}

/// The event with these environment overrides added.
fn with_env(name: &str, vars: &[(&str, &str)]) -> CodeBuildEvent {
    let mut json: Value = serde_json::from_str(&fixture(name)).unwrap();
    let list = json["detail"]["additional-information"]["environment"]["environment-variables"]
        .as_array_mut()
        .unwrap();
    for (name, value) in vars {
        list.push(serde_json::json!({ "name": name, "value": value, "type": "PLAINTEXT" }));
    }
    serde_json::from_value(json).unwrap()
}

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn a_successful_image_build_is_recorded_and_nothing_else_is() {
    let (n, outbox) = notifier();
    let succeeded = with_env("codebuild-succeeded.json", &[("DOCKHAND_IMAGE_KEY", KEY)]);
    let repo = outcome(&succeeded).image.unwrap();
    n.handle(&succeeded).await.unwrap();
    assert_eq!(outbox.sent().len(), 1);
    let records = n.records.records();
    let expected = format!("image#{repo}#{KEY}");
    assert_eq!(records.keys().collect::<Vec<_>>(), [&expected]);
    // Kept for RECORD_DAYS after the event.
    let at = succeeded.time.timestamp() as u64;
    assert_eq!(records[&expected].record.expires_at, at + 90 * 86_400);

    // Recorded whatever the statuses notified.
    let (quiet, outbox) = notifier();
    let quiet = Notifier {
        statuses: statuses(Some("FAILED")),
        ..quiet
    };
    quiet.handle(&succeeded).await.unwrap();
    assert!(outbox.sent().is_empty());
    assert_eq!(quiet.records.records().len(), 1);

    // A failed build, a re-tag job, another project's build, a malformed key: nothing.
    let line = format!("{repo}\tdockhand-{}\tv1\t", &KEY[..32]);
    for event in [
        with_env("codebuild-failed.json", &[("DOCKHAND_IMAGE_KEY", KEY)]),
        with_env(
            "codebuild-succeeded.json",
            &[("DOCKHAND_IMAGE_KEY", KEY), ("DOCKHAND_RETAG", &line)],
        ),
        with_env("codebuild-succeeded.json", &[("DOCKHAND_IMAGE_KEY", "../x")]),
        event("codebuild-succeeded.json"),
    ] {
        let (n, _) = notifier();
        n.handle(&event).await.unwrap();
        assert!(n.records.records().is_empty(), "{:?}", outcome(&event));
    }
    let (n, _) = notifier();
    let other = Notifier {
        project: "other".into(),
        ..n
    };
    other.handle(&succeeded).await.unwrap();
    assert!(other.records.records().is_empty());
}

/// A record that cannot be written never stops the report: the image is only built again
/// next time.
#[tokio::test]
async fn a_record_that_fails_still_delivers_the_notification() {
    let (n, outbox) = notifier();
    *n.records.fail.lock().unwrap() = Some("ProvisionedThroughputExceededException".into());
    let d = n
        .handle(&with_env("codebuild-succeeded.json", &[("DOCKHAND_IMAGE_KEY", KEY)]))
        .await
        .unwrap();
    assert!(matches!(d, Decision::Send(_)), "{d:?}");
    assert_eq!(outbox.sent().len(), 1);
}

#[tokio::test]
async fn a_retag_job_says_which_images_got_which_tags_and_what_a_failure_means() {
    let (n, outbox) = notifier();
    let lines = format!(
        "docker.io/acme/web\tdockhand-{k}\tv1.2,latest\tlatest\ndocker.io/acme/api\tdockhand-{k}\tv1.2\t",
        k = &KEY[..32]
    );
    n.handle(&with_env("codebuild-succeeded.json", &[("DOCKHAND_RETAG", &lines)]))
        .await
        .unwrap();
    let sent = outbox.sent().pop().unwrap();
    assert!(
        sent.subject.starts_with("dockhand re-tag SUCCEEDED: 2 images @"),
        "{}",
        sent.subject
    );
    let email = message(&sent)["email"].as_str().unwrap().to_owned();
    assert!(
        email.contains(&format!("acme/web: v1.2, latest from dockhand-{}", &KEY[..32])),
        "{email}"
    );
    assert!(
        email.contains("(latest only if the ref still pointed at this commit)"),
        "{email}"
    );
    assert!(email.contains("acme/api: v1.2 from"), "{email}");
    assert!(!email.contains("rebuild: always"), "{email}");
    n.handle(&with_env("codebuild-failed.json", &[("DOCKHAND_RETAG", &lines)]))
        .await
        .unwrap();
    let sent = outbox.sent().pop().unwrap();
    let email = message(&sent)["email"].as_str().unwrap().to_owned();
    assert!(sent.subject.starts_with("dockhand re-tag FAILED"), "{}", sent.subject);
    assert!(
        email.contains("set `rebuild: always` in .dockhand.yml and push again"),
        "{email}"
    );
    assert!(email.contains("deleted from the registry"), "{email}");
}

const GROUP: &str = "/aws/codebuild/dockhand";

fn email_of(request: &PublishRequest) -> String {
    message(request)["email"].as_str().unwrap().to_owned()
}

/// A failed autotest: the notification names the test file and carries the sut's last log
/// lines, read from the build's own log stream (the event's `logs`).
#[tokio::test]
async fn a_failed_test_is_reported_from_the_builds_log() {
    let (n, outbox) = notifier();
    n.logs.put(
        GROUP,
        "b2c3d4e5f6a7",
        "[Container] 2026/12/02 06:00:00 Running command set -euo pipefail\n\
         ##dockhand hook post_checkout ok\n\
         Step 1/2 : FROM scratch\n\
         ##dockhand test docker-compose.test.yml failed 1\n\
         ##dockhand sut checking /srv/index.html\n\
         ##dockhand sut FAIL: index.html is empty\n",
    );
    n.handle(&event("codebuild-failed.json")).await.unwrap();
    let sent = outbox.sent().pop().unwrap();
    let text = email_of(&sent);
    assert!(
        text.contains("Tests:      docker-compose.test.yml failed (exit status 1)\n"),
        "{text}"
    );
    assert!(text.contains("Hooks:      hooks/post_checkout ran\n"), "{text}");
    assert!(
        text.contains("  | checking /srv/index.html\n  | FAIL: index.html is empty\n"),
        "{text}"
    );
    assert!(message(&sent)["sms"].as_str().unwrap().ends_with(": test failed"));
    assert_eq!(n.logs.reads.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// A log that cannot be read never stops the notification; it says so instead.
#[tokio::test]
async fn an_unreadable_log_is_said_and_the_notification_goes_out() {
    let (n, outbox) = notifier();
    *n.logs.fail.lock().unwrap() = Some("CloudWatch Logs GetLogEvents: AccessDeniedException".into());
    n.handle(&event("codebuild-failed.json")).await.unwrap();
    let text = email_of(&outbox.sent().pop().unwrap());
    assert!(
        text.contains(
            "Report:     not read from the build's log (CloudWatch Logs GetLogEvents: AccessDeniedException)\n"
        ),
        "{text}"
    );
    assert!(text.contains("Failed phase: BUILD"));
}

/// The log is read only for a notification of a finished image build: not for a build in
/// progress, a re-tag job, a status not notified or another project's build.
#[tokio::test]
async fn the_log_is_read_only_when_a_finished_image_build_is_notified() {
    let line = format!("acme/web\tdockhand-{}\tv1\t", &KEY[..32]);
    let cases = [
        (event("codebuild-in-progress.json"), Some("IN_PROGRESS")),
        (with_env("codebuild-succeeded.json", &[("DOCKHAND_RETAG", &line)]), None),
        (event("codebuild-succeeded.json"), Some("FAILED")),
    ];
    for (event, only) in cases {
        let (n, _) = notifier();
        let n = Notifier {
            statuses: only.map(|s| statuses(Some(s))).unwrap_or_else(|| statuses(None)),
            ..n
        };
        n.handle(&event).await.unwrap();
        assert_eq!(
            n.logs.reads.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "{:?}",
            outcome(&event).status
        );
    }
    let (n, _) = notifier();
    let other = Notifier {
        project: "other".into(),
        ..n
    };
    other.handle(&event("codebuild-failed.json")).await.unwrap();
    assert_eq!(other.logs.reads.load(std::sync::atomic::Ordering::Relaxed), 0);
    // A build without report lines: nothing of them in the notification.
    let (n, outbox) = notifier();
    n.handle(&event("codebuild-succeeded.json")).await.unwrap();
    let text = email_of(&outbox.sent().pop().unwrap());
    assert!(
        !text.contains("Tests:") && !text.contains("Hooks:") && !text.contains("Report:"),
        "{text}"
    );
    assert_eq!(n.logs.reads.load(std::sync::atomic::Ordering::Relaxed), 1);
}

// ---------------------------------------------------------------- commit statuses

/// A git repository with one commit, served by the GitHub stand-in as acme/images, and the
/// commit's id; removed when dropped.
struct GitHubRepo {
    dir: std::path::PathBuf,
    fake: dockhand_fake_github::FakeGitHub,
    sha: String,
}

impl Drop for GitHubRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn github_repo(name: &str, options: dockhand_fake_github::FakeOptions) -> GitHubRepo {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("notifier-{name}-{}", std::process::id()));
    let (work, sha) = dockhand_testkit::one_commit_repository(&dir, &[("web/Dockerfile", "FROM scratch\n")]);
    let fake = dockhand_fake_github::FakeGitHub::start("acme/images", &work, options).unwrap();
    GitHubRepo { dir, fake, sha }
}

fn commit_statuses(
    repo: &GitHubRepo,
    budget: std::time::Duration,
) -> dockhand_notifier::CommitStatuses<dockhand_github::GitHub> {
    let policy = dockhand_github::Policy {
        backoff: std::time::Duration::from_millis(10),
        mutation_pause: std::time::Duration::ZERO,
        ..dockhand_notifier::github::policy()
    };
    let mut config = dockhand_testkit::deployment().config;
    config.project = "dockhand".into();
    config.repositories = Some(vec!["acme/images".into()]);
    dockhand_notifier::CommitStatuses {
        config,
        host: dockhand_github::GitHub::new(&repo.fake.url(), Some("ghp_SECRET0123".into()))
            .unwrap()
            .with_policy(policy),
        budget,
    }
}

const LOGS: &str =
    "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=/aws/codebuild/dockhand;stream=";

#[tokio::test]
async fn commit_statuses_pending_then_success_failure_or_error_with_the_context_and_logs_link() {
    let repo = github_repo("statuses", Default::default());
    let statuses = commit_statuses(&repo, dockhand_notifier::STATUS_BUDGET);
    let (n, outbox) = notifier();
    for (fixture, state, stream) in [
        ("codebuild-in-progress.json", "pending", "d4e5f6a7b8c9"),
        ("codebuild-succeeded.json", "success", "a1b2c3d4e5f6"),
        ("codebuild-failed.json", "failure", "b2c3d4e5f6a7"),
        ("codebuild-stopped.json", "error", "c3d4e5f6a7b8"),
    ] {
        let e = event_with(fixture, &[("SOURCE_COMMIT", &repo.sha)]);
        let (_, status) = n.handle_with_statuses(&e, Some(&statuses)).await.unwrap();
        assert!(
            matches!(status, Some(dockhand_notifier::StatusOutcome::Posted(_))),
            "{fixture}: {status:?}"
        );
        let posted = repo.fake.statuses().pop().unwrap();
        assert_eq!(
            (
                posted.repository.as_str(),
                posted.sha.as_str(),
                posted.state.as_str(),
                posted.context.as_str()
            ),
            ("acme/images", repo.sha.as_str(), state, "dockhand/web"),
            "{fixture}"
        );
        assert_eq!(posted.target_url, Some(format!("{LOGS}{stream}")), "{fixture}");
        let description = posted.description.unwrap();
        assert!(
            !description.is_empty() && description.chars().count() <= 140,
            "{description}"
        );
    }
    assert_eq!(repo.fake.statuses().len(), 4);
    assert!(repo.fake.statuses()[0].description.as_deref() == Some("building docker.io/acme/web"));
    assert!(
        repo.fake.statuses()[1]
            .description
            .as_deref()
            .unwrap()
            .starts_with("built and pushed in ")
    );
    // The start is posted though IN_PROGRESS is not notified by default; the ends are.
    assert_eq!(outbox.sent().len(), 3);
}

#[tokio::test]
async fn github_refusing_failing_or_silent_still_delivers_the_email() {
    for (failure, expect) in [
        (403, "Commit statuses: read and write"),
        (500, "500"),
        (0, "did not answer"),
    ] {
        let options = dockhand_fake_github::FakeOptions {
            delay: std::time::Duration::from_millis(if failure == 0 { 1500 } else { 0 }),
            ..Default::default()
        };
        let repo = github_repo(&format!("fails-{failure}"), options);
        if failure != 0 {
            repo.fake.fail_statuses(failure, 10);
        }
        let statuses = commit_statuses(&repo, std::time::Duration::from_millis(300));
        let (n, outbox) = notifier();
        let e = event_with("codebuild-failed.json", &[("SOURCE_COMMIT", &repo.sha)]);
        let (decision, status) = n.handle_with_statuses(&e, Some(&statuses)).await.unwrap();
        assert!(matches!(decision, Decision::Send(_)), "{decision:?}");
        assert_eq!(outbox.sent().len(), 1, "{failure}: the email went out");
        let Some(dockhand_notifier::StatusOutcome::Failed { status, error }) = status else {
            panic!("{failure}: {status:?}")
        };
        assert_eq!(
            (status.context.as_str(), status.sha.as_str()),
            ("dockhand/web", repo.sha.as_str())
        );
        assert!(
            error.contains(expect) && !error.contains("ghp_SECRET0123"),
            "{failure}: {error}"
        );
        assert!(repo.fake.statuses().is_empty());
    }
}

#[tokio::test]
async fn an_email_that_fails_still_gets_its_commit_status_and_fails_the_invocation() {
    let repo = github_repo("sns-fails", Default::default());
    let statuses = commit_statuses(&repo, dockhand_notifier::STATUS_BUDGET);
    let (n, outbox) = notifier();
    *outbox.fail.lock().unwrap() = Some("SNS Publish: throttled".into());
    let e = event_with("codebuild-succeeded.json", &[("SOURCE_COMMIT", &repo.sha)]);
    let err = n.handle_with_statuses(&e, Some(&statuses)).await.unwrap_err();
    assert!(err.to_string().contains("throttled"), "{err}");
    assert_eq!(repo.fake.statuses().len(), 1);
}

#[tokio::test]
async fn no_commit_status_for_other_projects_retags_or_unlisted_repositories() {
    let repo = github_repo("none", Default::default());
    let statuses = commit_statuses(&repo, dockhand_notifier::STATUS_BUDGET);
    let sha = repo.sha.as_str();
    let mut other_project = event_with("codebuild-succeeded.json", &[("SOURCE_COMMIT", sha)]);
    other_project.detail.project_name = Some("someone-elses".into());
    let lines = format!("docker.io/acme/web\tdockhand-{}\tlatest\t", &KEY[..32]);
    for e in [
        other_project,
        event_with(
            "codebuild-succeeded.json",
            &[("SOURCE_COMMIT", sha), ("DOCKHAND_RETAG", &lines)],
        ),
        event_with(
            "codebuild-succeeded.json",
            &[("SOURCE_COMMIT", sha), ("DOCKHAND_REPOSITORY", "evil/repository")],
        ),
        event_with("codebuild-succeeded.json", &[("SOURCE_COMMIT", "main")]),
    ] {
        let status = statuses.post(&e).await;
        assert!(
            matches!(status, dockhand_notifier::StatusOutcome::None(_)),
            "{status:?}"
        );
    }
    assert!(repo.fake.requests().is_empty());
}
