//! The spawner's two steps with the real CodeBuild adapter on aws-smithy-mocks: the
//! StartBuild requests field by field, what each CodeBuild answer makes of a build (started,
//! waiting, dead-lettered), and the plan of each kind of push.

mod support;

use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::operation::start_build::{StartBuildInput, StartBuildOutput};
use aws_sdk_codebuild::types::{Build, ComputeType, EnvironmentVariableType, SourceType};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use dockhand_aws::codebuild::{CodeBuildStarter, MAX_ATTEMPTS, retry_config};
use dockhand_core::buildspec;
use dockhand_core::queue::QueuedBuild;
use dockhand_core::request::ChangeSource;
use dockhand_core::tree::{ChangedFile, FileKind, HostError, TreeFile};
use dockhand_testkit::monorepo_host;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

fn recording_rule(seen: Arc<Mutex<Vec<StartBuildInput>>>) -> Rule {
    mock!(Client::start_build).then_compute_output(move |input| {
        seen.lock().unwrap().push(input.clone());
        let id = format!("dockhand:{}", &input.idempotency_token().unwrap()[..8]);
        StartBuildOutput::builder()
            .build_value(Build::builder().id(id).build())
            .build()
    })
}

fn codebuild(rules: &[&Rule]) -> CodeBuildStarter {
    CodeBuildStarter::new(mock_client!(aws_sdk_codebuild, RuleMode::MatchAny, rules, |c| c
        .retry_config(retry_config(Duration::from_millis(1)))))
}

const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
const FULL: &str =
    r#"{"__type":"AccountLimitExceededException","message":"Cannot have more than 2 active builds for the project"}"#;

fn error(status: u16, body: &'static str) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
        aws_smithy_types::body::SdkBody::from(body),
    )
}

#[tokio::test]
async fn every_field_of_the_start_build_request() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rule = recording_rule(seen.clone());
    let spawner = spawner(codebuild(&[&rule]), monorepo_host());
    let (planned, builds) = plan(&spawner, &request()).await;

    // web (Dockerfile modified), tools/lint (added), api (a file changed next to its
    // Dockerfile, which GitHub's tree shows); legacy-api's Dockerfile was removed; README.md
    // at the root has no Dockerfile in the tree, so nothing there is built or reported.
    assert_eq!(planned.planned, [(DELIVERY.to_owned(), 3)]);
    assert_eq!(contexts(&planned.skipped), ["legacy-api"]);
    let (response, report) = spawner.handle(&sqs_event(BUILDS_ARN, &builds), None).await;
    assert!(failed(&response).is_empty(), "{report:#?}");
    assert_eq!(contexts(&report.started), ["api", "tools/lint", "web"]);
    assert_eq!(rule.num_calls(), 3);

    let seen = seen.lock().unwrap();
    let web = seen
        .iter()
        .find(|i| i.environment_variables_override().iter().any(|v| v.value() == "web"))
        .unwrap();
    let queued: QueuedBuild = serde_json::from_str(&builds[2].body).unwrap();
    assert_eq!(queued.context, "web");
    assert_eq!(web.project_name(), Some("dockhand"));
    assert_eq!(web.source_type_override(), Some(&SourceType::NoSource));
    assert_eq!(
        web.buildspec_override(),
        Some(buildspec::render(&deployment().config.registry).as_str())
    );
    // The token is the build's key: signed content only, never the delivery id.
    assert_eq!(web.idempotency_token(), Some(queued.key.as_str()));
    assert_eq!(
        queued.key,
        dockhand_core::start_build::build_key(&request(), "web", &deployment())
    );
    assert_eq!(web.compute_type_override(), Some(&ComputeType::BuildGeneral1Small));
    assert_eq!(web.timeout_in_minutes_override(), Some(30));
    assert_eq!(web.privileged_mode_override(), Some(true));
    let env: Vec<(&str, &str)> = web
        .environment_variables_override()
        .iter()
        .map(|v| (v.name(), v.value()))
        .collect();
    let sha = "3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f";
    assert_eq!(
        env,
        [
            ("SOURCE_REPO_URL", "https://github.com/acme/images.git"),
            ("SOURCE_COMMIT", sha),
            ("SOURCE_BRANCH", "main"),
            ("COMMIT_MSG", "Add tools/lint image, retire legacy-api, update docs"),
            ("DOCKER_REPO", "docker.io/acme/web"),
            ("DOCKER_TAG", "latest"),
            ("IMAGE_NAME", "docker.io/acme/web:latest"),
            ("DOCKERFILE_PATH", "web/Dockerfile"),
            ("BUILD_CONTEXT", "web"),
            ("DOCKHAND_DELIVERY", DELIVERY),
            ("DOCKHAND_TAGS", "latest,3e8a1f5"),
            ("DOCKHAND_MOVING_TAGS", "latest"),
            ("DOCKHAND_BUILD_KEY", queued.key.as_str()),
            ("DOCKHAND_REGISTRY", "docker.io"),
            ("DOCKHAND_REPOSITORY", "acme/images"),
            ("DOCKHAND_REF", "refs/heads/main"),
            ("DOCKHAND_COMMIT_AUTHOR", "Grace Hopper"),
            (
                "DOCKHAND_COMMIT_URL",
                "https://github.com/acme/images/commit/3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f"
            ),
            ("DOCKHAND_IMAGE_KEY", queued.request.env("DOCKHAND_IMAGE_KEY").unwrap()),
            ("DOCKHAND_KEY_TAG", queued.request.env("DOCKHAND_KEY_TAG").unwrap()),
            ("DOCKHAND_SOURCE_URL", "https://github.com/acme/images"),
            ("DOCKHAND_TITLE", "web"),
            ("DOCKHAND_BUILDKIT_IMAGE", "moby/buildkit:buildx-stable-1"),
            ("DOCKHAND_AUTOTEST", "1"),
            ("DOCKHAND_CACHE_FROM", "type=registry,ref=docker.io/acme/web:buildcache"),
            (
                "DOCKHAND_CACHE_TO",
                "type=registry,ref=docker.io/acme/web:buildcache,mode=max,ignore-error=true"
            ),
            ("DOCKHAND_REGISTRY_USER", "acmebot"),
            ("DOCKHAND_TOKEN_PARAMETER", "/dockhand/dockerhub/acme"),
        ]
    );
    assert!(
        web.environment_variables_override()
            .iter()
            .all(|v| v.r#type() == Some(&EnvironmentVariableType::Plaintext))
    );
    let lint = seen
        .iter()
        .find(|i| {
            i.environment_variables_override()
                .iter()
                .any(|v| v.value() == "tools/lint")
        })
        .unwrap();
    let lint_repo = lint
        .environment_variables_override()
        .iter()
        .find(|v| v.name() == "DOCKER_REPO")
        .unwrap();
    assert_eq!(lint_repo.value(), "docker.io/acme/tools-lint");
    // Each build recorded as started, under its key.
    let records = spawner.ledger.records();
    assert_eq!(records.len(), 3);
    assert!(
        records
            .values()
            .all(|v| v.record.build_id.is_some() && v.record.attempt_at.is_none())
    );
}

#[tokio::test]
async fn a_new_delivery_of_the_same_push_plans_the_same_builds_and_starts_none() {
    let rule = recording_rule(Arc::default());
    let spawner = spawner(codebuild(&[&rule]), monorepo_host());
    let (_, first) = plan(&spawner, &request_for("delivery-one")).await;
    spawner.handle(&sqs_event(BUILDS_ARN, &first), None).await;
    assert_eq!(rule.num_calls(), 3);

    // GitHub does not sign X-GitHub-Delivery: the same body under a new id is the same push.
    let (_, second) = plan(&spawner, &request_for("delivery-two")).await;
    let key = |m: &Message| serde_json::from_str::<QueuedBuild>(&m.body).unwrap().key;
    assert_eq!(
        first.iter().map(key).collect::<Vec<_>>(),
        second.iter().map(key).collect::<Vec<_>>()
    );
    let (response, report) = spawner.handle(&sqs_event(BUILDS_ARN, &second), None).await;
    assert!(failed(&response).is_empty());
    assert!(report.started.is_empty());
    assert_eq!(contexts(&report.already_started), ["api", "tools/lint", "web"]);
    assert_eq!(
        rule.num_calls(),
        3,
        "StartBuild is not called for a build already started"
    );
}

#[tokio::test]
async fn throttling_then_success() {
    let rule = mock!(Client::start_build)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .times(2)
        .output(|| {
            StartBuildOutput::builder()
                .build_value(Build::builder().id("dockhand:1").build())
                .build()
        })
        .repeatedly()
        .build();
    let spawner = spawner(codebuild(&[&rule]), monorepo_host());
    let (_, builds) = plan(&spawner, &request()).await;
    let (_, report) = spawner.handle(&sqs_event(BUILDS_ARN, &builds), None).await;
    assert_eq!(report.started.len(), 3);
    assert_eq!(rule.num_calls(), 2 + 3, "two throttled attempts, then one call per job");
}

#[tokio::test]
async fn throttling_that_never_ends_makes_the_builds_wait_in_their_queue() {
    let rule = mock!(Client::start_build)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .repeatedly()
        .build();
    let spawner = spawner(codebuild(&[&rule]), monorepo_host());
    let (_, builds) = plan(&spawner, &request()).await;
    let (response, report) = spawner.handle(&sqs_event(BUILDS_ARN, &builds), None).await;
    assert!(report.started.is_empty());
    // No capacity is not an error: every build is hidden for a while and comes back.
    assert_eq!(failed(&response).len(), 3);
    assert_eq!(
        rule.num_calls(),
        MAX_ATTEMPTS as usize,
        "bounded: {MAX_ATTEMPTS} attempts, then the rest of the batch waits without asking"
    );
    let hidden = spawner.queues.log().hidden;
    assert_eq!(hidden.len(), 3);
    for (arn, _, seconds) in &hidden {
        assert_eq!(arn, BUILDS_ARN);
        assert!((15..=30).contains(seconds), "first delay {seconds}s");
    }
    assert!(
        report.waiting[0].2.contains("ThrottlingException"),
        "{:?}",
        report.waiting
    );
    // Nothing in doubt: the next attempt may come at any time.
    assert!(
        spawner
            .ledger
            .records()
            .values()
            .all(|v| v.record.attempt_at.is_none() && v.record.build_id.is_none())
    );
    assert!(spawner.alerts.sent().is_empty(), "waiting is not a failure to report");
}

#[tokio::test]
async fn a_full_project_makes_the_build_wait_and_the_rest_of_the_batch_with_it() {
    let full = mock!(Client::start_build)
        .match_requests(|i| {
            i.environment_variables_override()
                .iter()
                .any(|v| v.name() == "BUILD_CONTEXT" && v.value() == "tools/lint")
        })
        .then_http_response(|| error(400, FULL));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accept = recording_rule(seen);
    let spawner = spawner(codebuild(&[&full, &accept]), monorepo_host());
    let (_, builds) = plan(&spawner, &request()).await;
    let (response, report) = spawner.handle(&sqs_event(BUILDS_ARN, &builds), None).await;
    // api first, then tools/lint meets the limit: web waits without asking.
    assert_eq!(contexts(&report.started), ["api"]);
    assert_eq!(failed(&response), [builds[1].id.clone(), builds[2].id.clone()]);
    assert_eq!(full.num_calls(), 1, "not retried in the function");
    assert!(
        report.waiting[0].2.contains("AccountLimitExceededException"),
        "{:?}",
        report.waiting
    );
    assert!(spawner.queues.log().dead.is_empty());
}

#[tokio::test]
async fn a_build_codebuild_refuses_is_dead_lettered_and_reported_the_others_start() {
    let refuse = mock!(Client::start_build)
        .match_requests(|i| {
            i.environment_variables_override()
                .iter()
                .any(|v| v.name() == "BUILD_CONTEXT" && v.value() == "web")
        })
        .then_http_response(|| {
            error(
                400,
                r#"{"__type":"InvalidInputException","message":"Invalid environment variable value"}"#,
            )
        });
    let accept = recording_rule(Arc::default());
    let spawner = spawner(codebuild(&[&refuse, &accept]), monorepo_host());
    let (_, builds) = plan(&spawner, &request()).await;
    let (response, report) = spawner.handle(&sqs_event(BUILDS_ARN, &builds), None).await;
    assert!(failed(&response).is_empty(), "done with: started or dead-lettered");
    assert_eq!(contexts(&report.started), ["api", "tools/lint"]);
    let dead = spawner.queues.log().dead;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, builds[2].body);
    assert!(dead[0].1.contains("InvalidInputException"), "{}", dead[0].1);
    assert_eq!(spawner.alerts.subjects(), ["dockhand NOT STARTED: acme/web @3e8a1f5"]);
    let email = spawner.alerts.email(0);
    assert!(
        email.contains("dead-letter queue") && email.contains("InvalidInputException"),
        "{email}"
    );
    // The claim is released: a redrive after the fix starts the build.
    assert_eq!(spawner.ledger.records().len(), 2);
}

#[tokio::test]
async fn a_message_that_is_not_a_build_request_is_dead_lettered_and_reported() {
    let rule = recording_rule(Arc::default());
    let spawner = spawner(codebuild(&[&rule]), monorepo_host());
    for (arn, what) in [(REQUESTS_ARN, "BuildRequest"), (BUILDS_ARN, "queued build")] {
        let (response, report) = spawner
            .handle(&sqs_event(arn, &[Message::new("m", "{\"hello\":1}")]), None)
            .await;
        assert!(failed(&response).is_empty());
        assert!(
            report.dead_letters[0].1.contains(&format!("not a {what}")),
            "{report:?}"
        );
    }
    assert_eq!(rule.num_calls(), 0);
    assert_eq!(spawner.queues.log().dead.len(), 2);
    assert_eq!(spawner.alerts.sent().len(), 2);
}

#[tokio::test]
async fn directories_that_cannot_be_built_are_reported_to_people() {
    let rule = recording_rule(Arc::default());
    let mut host = monorepo_host();
    host.files.push(TreeFile::new(
        "Legacy App/Dockerfile",
        [0x11; 20].into(),
        FileKind::Regular,
    ));
    let spawner = spawner(codebuild(&[&rule]), host);
    let mut r = request();
    r.changes.paths.push("Legacy App/Dockerfile".into());
    let (report, builds) = plan(&spawner, &r).await;
    assert_eq!(builds.len(), 3);
    assert_eq!(report.notified, ["dockhand NOT BUILT: acme/images @3e8a1f5"]);
    let sent = spawner.alerts.sent();
    assert_eq!(sent.len(), 1, "one notification for the push, not one per directory");
    let email = spawner.alerts.email(0);
    assert!(
        email.contains("- Legacy App: the image name \"acme/Legacy App\" has uppercase letters"),
        "{email}"
    );
    // Expected skips (a removed Dockerfile, root files) are logged, not sent.
    assert!(!email.contains("- legacy-api"), "{email}");
    assert_eq!(sent[0].message_attributes["status"].string_value, "NOT_BUILT");
}

#[tokio::test]
async fn expected_skips_send_nothing() {
    let rule = recording_rule(Arc::default());
    let spawner = spawner(codebuild(&[&rule]), monorepo_host());
    let (report, _) = plan(&spawner, &request()).await;
    assert_eq!(report.skipped.len(), 1);
    assert!(report.notified.is_empty());
    assert!(spawner.alerts.sent().is_empty());
}

#[tokio::test]
async fn a_push_without_a_complete_commit_list_is_compared_on_github() {
    let rule = recording_rule(Arc::default());
    let mut host = monorepo_host();
    // A forced push: the payload's commits say web, GitHub's comparison says only api.
    host.changes = Some(vec![ChangedFile {
        path: "api/requirements.txt".into(),
        previous_path: None,
        removed: false,
    }]);
    let spawner = spawner(codebuild(&[&rule]), host);
    let mut r = request();
    r.changes.source = ChangeSource::Compare {
        base: "9f2c1b7e4d3a5c6b8e0f1a2d3c4b5a6978e1f0d2".into(),
    };
    let (_, builds) = plan(&spawner, &r).await;
    let context = |m: &Message| serde_json::from_str::<QueuedBuild>(&m.body).unwrap().context;
    assert_eq!(builds.iter().map(context).collect::<Vec<_>>(), ["api"]);
    // A new branch: every image at the commit.
    let mut r = request();
    r.changes = dockhand_core::request::Changes {
        source: ChangeSource::NewRef,
        ..Default::default()
    };
    let (_, builds) = plan(&spawner, &r).await;
    assert_eq!(
        builds.iter().map(context).collect::<Vec<_>>(),
        ["api", "tools/lint", "web"]
    );
}

#[tokio::test]
async fn an_empty_comparison_builds_nothing_and_says_why() {
    let rule = recording_rule(Arc::default());
    let mut host = monorepo_host();
    host.changes = Some(Vec::new());
    let spawner = spawner(codebuild(&[&rule]), host);
    let mut r = request();
    r.changes = dockhand_core::request::Changes {
        source: ChangeSource::Compare {
            base: "9f2c1b7e4d3a5c6b8e0f1a2d3c4b5a6978e1f0d2".into(),
        },
        ..Default::default()
    };
    let (report, builds) = plan(&spawner, &r).await;
    assert!(builds.is_empty());
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].1.contains("changes no files"), "{:?}", report.skipped);
    assert!(spawner.alerts.sent().is_empty(), "nothing for a person to do");
}

#[tokio::test]
async fn a_rate_limited_github_makes_the_request_wait_for_the_reset() {
    let rule = recording_rule(Arc::default());
    let mut host = monorepo_host();
    host.fail_tree = Some(HostError::RateLimited {
        reset: NOW + 1800,
        detail: "API rate limit exceeded for 203.0.113.7".into(),
    });
    let spawner = spawner(codebuild(&[&rule]), host);
    let body = request().encode_for_sns().unwrap().1;
    let (response, report) = spawner
        .handle(&sqs_event(REQUESTS_ARN, &[Message::new("request-1", &body)]), None)
        .await;
    assert_eq!(failed(&response), ["request-1"]);
    // Hidden until just after the reset, half an hour: not Lambda's retries within minutes.
    assert_eq!(
        spawner.queues.log().hidden,
        [(REQUESTS_ARN.to_owned(), "receipt-request-1-1".to_owned(), 1805)]
    );
    assert!(
        report.waiting[0].2.contains("rate limited until"),
        "{:?}",
        report.waiting
    );
    assert_eq!(rule.num_calls(), 0);
    assert!(spawner.alerts.sent().is_empty(), "waiting, not reported");
}

#[tokio::test]
async fn a_request_github_never_answers_is_dead_lettered_before_its_queue_drops_it() {
    let rule = recording_rule(Arc::default());
    let mut host = monorepo_host();
    host.fail_tree = Some(HostError::Unavailable("502 Bad Gateway".into()));
    let spawner = spawner(codebuild(&[&rule]), host);
    let body = request().encode_for_sns().unwrap().1;
    // Received for the twentieth time, 23 hours and 55 minutes after it was sent.
    let mut message = Message::new("request-1", &body);
    message.receive_count = 20;
    message.sent = NOW - 23 * 3600 - 55 * 60;
    let (response, report) = spawner.handle(&sqs_event(REQUESTS_ARN, &[message]), None).await;
    assert!(failed(&response).is_empty(), "done with it: dead-lettered");
    assert_eq!(spawner.queues.log().dead.len(), 1);
    assert!(
        report.dead_letters[0].1.contains("502 Bad Gateway"),
        "{:?}",
        report.dead_letters
    );
    assert_eq!(spawner.alerts.sent().len(), 1);
    assert!(spawner.alerts.subjects()[0].starts_with("dockhand GAVE UP: planning the push of acme/images"));
}

/// A build CodeBuild has no room for until its queue's retention is nearly over is
/// dead-lettered, and gives up its claim on the key: replayed from the dead-letter queue
/// (a new message with the same body), it starts at once, not an hour later.
#[tokio::test]
async fn a_build_given_up_on_starts_at_once_when_replayed_and_once_only() {
    let full = mock!(Client::start_build).then_http_response(|| error(400, FULL));
    let spawner = spawner(codebuild(&[&full]), monorepo_host());
    let (_, mut builds) = plan(&spawner, &request()).await;
    let mut build = builds.remove(0);
    build.receive_count = 60;
    build.sent = NOW - 23 * 3600 - 55 * 60;
    let (response, report) = spawner.handle(&sqs_event(BUILDS_ARN, &[build]), None).await;
    assert!(failed(&response).is_empty(), "done with it: dead-lettered");
    assert_eq!(report.dead_letters.len(), 1, "{report:?}");
    let dead = spawner.queues.log().dead;
    assert!(dead[0].1.contains("AccountLimitExceededException"), "{dead:?}");
    assert!(spawner.alerts.subjects()[0].starts_with("dockhand NOT STARTED"));

    // The replay: the dead letter's body under a new message id, CodeBuild with room now.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accept = recording_rule(seen.clone());
    let replaying = dockhand_spawner::Spawner {
        starter: codebuild(&[&accept]),
        ..spawner
    };
    let replay = Message::new("replay-1", &dead[0].0);
    let (response, report) = replaying.handle(&sqs_event(BUILDS_ARN, &[replay]), None).await;
    assert!(failed(&response).is_empty(), "{report:?}");
    assert_eq!(report.started.len(), 1, "{report:?}");
    // Replayed again: the ledger says it started, and nothing else happens.
    let again = Message::new("replay-2", &dead[0].0);
    let (_, report) = replaying.handle(&sqs_event(BUILDS_ARN, &[again]), None).await;
    assert_eq!(report.already_started.len(), 1, "{report:?}");
    assert_eq!(seen.lock().unwrap().len(), 1, "StartBuild once");
}

#[tokio::test]
async fn a_tree_too_large_to_read_in_time_is_reported_with_what_to_do_not_retried() {
    let rule = recording_rule(Arc::default());
    let mut host = monorepo_host();
    host.fail_tree = Some(HostError::OverBudget(
        "listing the files of acme/images took more than its 20s after 412 requests".into(),
    ));
    let spawner = spawner(codebuild(&[&rule]), host);
    let (report, builds) = plan(&spawner, &request()).await;
    assert!(builds.is_empty());
    assert!(report.waiting.is_empty(), "not retried: {:?}", report.waiting);
    assert_eq!(report.notified, ["dockhand NOT BUILT: acme/images @3e8a1f5"]);
    let email = spawner.alerts.email(0);
    for expected in [
        "412 requests",
        "GITHUB_TIME_BUDGET_SECONDS",
        "timeout",
        "dockhand plan --tree",
        "git ls-tree -r",
    ] {
        assert!(email.contains(expected), "{expected} in {email}");
    }
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn a_repository_github_does_not_show_is_reported_to_people() {
    let rule = recording_rule(Arc::default());
    let mut host = monorepo_host();
    host.fail_tree = Some(HostError::NotFound(
        "GET /repos/acme/images/git/trees/3e8a1f5: 404".into(),
    ));
    let spawner = spawner(codebuild(&[&rule]), host);
    let (report, builds) = plan(&spawner, &request()).await;
    assert!(builds.is_empty());
    assert_eq!(report.notified, ["dockhand NOT BUILT: acme/images @3e8a1f5"]);
    let email = spawner.alerts.email(0);
    assert!(
        email.contains("GitHub does not show the files of acme/images") && email.contains("github_token_parameter"),
        "{email}"
    );
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn an_invalid_repository_file_builds_nothing_and_says_why() {
    let rule = recording_rule(Arc::default());
    let mut host = monorepo_host();
    host.files
        .push(TreeFile::new(".dockhand.yml", [0x22; 20].into(), FileKind::Regular));
    host.repo_config = Some(b"naming: flat\n".to_vec());
    let spawner = spawner(codebuild(&[&rule]), host);
    let (_, builds) = plan(&spawner, &request()).await;
    assert!(builds.is_empty());
    let email = spawner.alerts.email(0);
    assert!(email.contains(".dockhand.yml line 1"), "{email}");
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn an_attempt_in_doubt_is_found_among_the_projects_builds_not_started_again() {
    use aws_sdk_codebuild::operation::batch_get_builds::BatchGetBuildsOutput;
    use aws_sdk_codebuild::operation::list_builds_for_project::ListBuildsForProjectOutput;
    use aws_sdk_codebuild::types::{EnvironmentVariable, ProjectEnvironment};
    // StartBuild started the build, but its answer was lost (a 503 after the fact).
    let lost = mock!(Client::start_build)
        .sequence()
        .http_status(
            503,
            Some(r#"{"__type":"ServiceUnavailableException","message":"try again"}"#.into()),
        )
        .repeatedly()
        .build();
    let spawner = spawner(codebuild(&[&lost]), monorepo_host());
    let (_, builds) = plan(&spawner, &request()).await;
    let web = &builds[2];
    let key = serde_json::from_str::<QueuedBuild>(&web.body).unwrap().key;
    let (response, report) = spawner
        .handle(&sqs_event(BUILDS_ARN, std::slice::from_ref(web)), None)
        .await;
    assert_eq!(failed(&response), std::slice::from_ref(&web.id));
    // Tried again within CodeBuild's idempotency window, with the same token.
    let (_, _, seconds) = spawner.queues.log().hidden[0].clone();
    assert!(seconds <= 60, "{seconds}");
    assert!(
        report.waiting[0].2.contains("repeated with the same token"),
        "{:?}",
        report.waiting
    );
    let record = spawner.ledger.records()[&key].record.clone();
    assert_eq!(record.attempt_at, Some(NOW));

    // Ten minutes later the token can no longer be trusted: the project's builds since
    // the attempt are read, and the one carrying the key is recorded.
    spawner.clock.advance(600);
    // No sort order: CodeBuild refuses one on a project of more than 100 builds, and the
    // default is the newest first anyway.
    let listed = mock!(Client::list_builds_for_project)
        .match_requests(|i| i.sort_order().is_none())
        .then_output(|| {
            ListBuildsForProjectOutput::builder()
                .ids("dockhand:other")
                .ids("dockhand:web")
                .build()
        });
    let key_for_mock = key.clone();
    let got = mock!(Client::batch_get_builds).then_output(move || {
        let build = |id: &str, key: &str| {
            Build::builder()
                .id(id)
                .start_time(aws_smithy_types::DateTime::from_secs((NOW + 1) as i64))
                .environment(
                    ProjectEnvironment::builder()
                        .r#type("LINUX_CONTAINER".into())
                        .image("aws/codebuild/amazonlinux-x86_64-standard:5.0")
                        .compute_type(ComputeType::BuildGeneral1Small)
                        .environment_variables(
                            EnvironmentVariable::builder()
                                .name("DOCKHAND_BUILD_KEY")
                                .value(key)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
        };
        BatchGetBuildsOutput::builder()
            .builds(build("dockhand:other", "another-key"))
            .builds(build("dockhand:web", &key_for_mock))
            .build()
    });
    let never = recording_rule(Arc::default());
    let found = dockhand_spawner::Spawner {
        starter: codebuild(&[&listed, &got, &never]),
        ..spawner
    };
    let mut again = Message::new(&web.id, &web.body);
    again.receive_count = 2;
    let (response, report) = found.handle(&sqs_event(BUILDS_ARN, &[again]), None).await;
    assert!(failed(&response).is_empty(), "{report:?}");
    assert_eq!(report.already_started, [("web".to_owned(), "dockhand:web".to_owned())]);
    assert_eq!(never.num_calls(), 0, "not started a second time");
    assert_eq!(
        found.ledger.records()[&key].record.build_id.as_deref(),
        Some("dockhand:web")
    );
}
