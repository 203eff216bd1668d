//! The spawner's StartBuild requests, checked field by field with aws-smithy-mocks, and
//! its retry behaviour under throttling.

use aws_lambda_events::event::sns::SnsEvent;
use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::operation::start_build::{StartBuildInput, StartBuildOutput};
use aws_sdk_codebuild::types::{Build, ComputeType, EnvironmentVariableType, SourceType};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use dockhand_aws::codebuild::{CodeBuildStarter, MAX_ATTEMPTS, retry_config};
use dockhand_core::github::{Event, parse_event};
use dockhand_core::ports::{ChangedFile, HostError, TreeFile};
use dockhand_core::request::ChangeSource;
use dockhand_core::request::{Intake, intake};
use dockhand_core::source::ListedHost;
use dockhand_core::{BuildRequest, Deployment, buildspec};
use dockhand_spawner::{SpawnError, Spawner};
use dockhand_testkit::{fixture, monorepo_host};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DELIVERY: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

fn deployment() -> Deployment {
    Deployment::from_json(&fixture("config.json")).unwrap()
}

fn request() -> BuildRequest {
    let Event::Push(push) = parse_event("push", None, fixture("push-monorepo.json").as_bytes()).unwrap() else {
        unreachable!()
    };
    let Intake::Build(r) = intake(&push, DELIVERY, &deployment().rules).unwrap() else {
        panic!("not built")
    };
    *r
}

fn sns_event(message: &str) -> SnsEvent {
    let mut event: serde_json::Value = serde_json::from_str(&fixture("sns-build-request.json")).unwrap();
    event["Records"][0]["Sns"]["Message"] = serde_json::Value::String(message.to_owned());
    serde_json::from_value(event).unwrap()
}

fn recording_rule(seen: Arc<Mutex<Vec<StartBuildInput>>>) -> Rule {
    mock!(Client::start_build).then_compute_output(move |input| {
        seen.lock().unwrap().push(input.clone());
        let id = format!("dockhand:{}", &input.idempotency_token().unwrap()[..8]);
        StartBuildOutput::builder()
            .build_value(Build::builder().id(id).build())
            .build()
    })
}

fn spawner(rules: &[&Rule]) -> Spawner<CodeBuildStarter, Alerts, ListedHost> {
    let client = mock_client!(aws_sdk_codebuild, RuleMode::MatchAny, rules, |c| c
        .retry_config(retry_config(Duration::from_millis(1))));
    Spawner {
        deployment: deployment(),
        starter: CodeBuildStarter::new(client),
        host: monorepo_host(),
        alerts: Alerts::default(),
        alerts_topic_arn: None,
    }
}

const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;

#[tokio::test]
async fn every_field_of_the_start_build_request() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rule = recording_rule(seen.clone());
    let spawner = spawner(&[&rule]);
    let (_, message) = request().encode_for_sns().unwrap();
    let report = spawner.handle(&sns_event(&message)).await.unwrap();

    // web (Dockerfile modified), tools/lint (added), api (a file changed next to its
    // Dockerfile, which GitHub's tree shows); legacy-api's Dockerfile was removed; README.md
    // at the root has no Dockerfile in the tree, so nothing there is built or reported.
    let started: Vec<&str> = report.started.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(started, ["api", "tools/lint", "web"]);
    let skipped: Vec<&str> = report.skipped.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(skipped, ["legacy-api"]);
    assert_eq!(rule.num_calls(), 3);

    let seen = seen.lock().unwrap();
    let web = seen
        .iter()
        .find(|i| i.environment_variables_override().iter().any(|v| v.value() == "web"))
        .unwrap();
    assert_eq!(web.project_name(), Some("dockhand"));
    assert_eq!(web.source_type_override(), Some(&SourceType::NoSource));
    assert_eq!(
        web.buildspec_override(),
        Some(buildspec::render(&deployment().config.registry).as_str())
    );
    assert_eq!(
        web.idempotency_token(),
        Some(dockhand_core::job::idempotency_token(DELIVERY, "web").as_str())
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
            ("DOCKHAND_REGISTRY", "docker.io"),
            ("DOCKHAND_REPOSITORY", "acme/images"),
            ("DOCKHAND_REF", "refs/heads/main"),
            ("DOCKHAND_COMMIT_AUTHOR", "Grace Hopper"),
            (
                "DOCKHAND_COMMIT_URL",
                "https://github.com/acme/images/commit/3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f"
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
}

#[tokio::test]
async fn the_same_delivery_sends_the_same_requests() {
    let first = Arc::new(Mutex::new(Vec::new()));
    let second = Arc::new(Mutex::new(Vec::new()));
    let (_, message) = request().encode_for_sns().unwrap();
    for seen in [&first, &second] {
        let rule = recording_rule(seen.clone());
        spawner(&[&rule]).handle(&sns_event(&message)).await.unwrap();
    }
    // CodeBuild rejects a reused idempotency token with other parameters: a retried
    // invocation must send exactly the same requests.
    assert_eq!(*first.lock().unwrap(), *second.lock().unwrap());
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
    let (_, message) = request().encode_for_sns().unwrap();
    let report = spawner(&[&rule]).handle(&sns_event(&message)).await.unwrap();
    assert_eq!(report.started.len(), 3);
    assert_eq!(rule.num_calls(), 2 + 3, "two throttled attempts, then one call per job");
}

#[tokio::test]
async fn throttling_that_never_ends_fails_the_invocation() {
    let rule = mock!(Client::start_build)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .repeatedly()
        .build();
    let (_, message) = request().encode_for_sns().unwrap();
    let err = spawner(&[&rule]).handle(&sns_event(&message)).await.unwrap_err();
    let SpawnError::Start { report } = &err else {
        panic!("{err}")
    };
    assert!(report.started.is_empty());
    assert_eq!(report.failed.len(), 3);
    assert_eq!(
        rule.num_calls(),
        3 * MAX_ATTEMPTS as usize,
        "bounded: {MAX_ATTEMPTS} attempts per job"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("3 step(s) failed and are retried (0 build(s) started)"),
        "{text}"
    );
    assert!(text.contains("ThrottlingException"), "{text}");
}

#[tokio::test]
async fn one_failed_job_fails_the_invocation_but_not_the_others() {
    let refuse_web = mock!(Client::start_build)
        .match_requests(|i| {
            i.environment_variables_override()
                .iter()
                .any(|v| v.name() == "BUILD_CONTEXT" && v.value() == "web")
        })
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    r#"{"__type":"AccountLimitExceededException","message":"Cannot have more than 1 builds in queue"}"#,
                ),
            )
        });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accept = recording_rule(seen);
    let (_, message) = request().encode_for_sns().unwrap();
    let err = spawner(&[&refuse_web, &accept])
        .handle(&sns_event(&message))
        .await
        .unwrap_err();
    let SpawnError::Start { report } = err else { panic!() };
    assert_eq!(
        report.started.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["api", "tools/lint"]
    );
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "web");
    assert!(
        report.failed[0].1.contains("AccountLimitExceededException"),
        "{}",
        report.failed[0].1
    );
    assert_eq!(refuse_web.num_calls(), 1, "not a retryable error");
}

#[tokio::test]
async fn a_message_that_is_not_a_build_request_fails_loudly() {
    let rule = recording_rule(Arc::default());
    let err = spawner(&[&rule]).handle(&sns_event("{\"hello\":1}")).await.unwrap_err();
    assert!(matches!(err, SpawnError::Decode { index: 0, .. }), "{err}");
    assert_eq!(rule.num_calls(), 0);
}

#[derive(Clone, Default)]
struct Alerts(Arc<Mutex<Vec<dockhand_core::notification::PublishRequest>>>);

impl Alerts {
    /// The email text of the first notification sent.
    fn first_email(&self) -> String {
        let sent = self.0.lock().unwrap();
        let message: serde_json::Value = serde_json::from_str(&sent[0].message).unwrap();
        message["email"].as_str().unwrap().to_owned()
    }
}

impl dockhand_core::ports::NotificationSink for Alerts {
    async fn send(
        &self,
        request: &dockhand_core::notification::PublishRequest,
    ) -> Result<(), dockhand_core::ports::PortError> {
        self.0.lock().unwrap().push(request.clone());
        Ok(())
    }
}

#[tokio::test]
async fn directories_that_cannot_be_built_are_reported_to_people() {
    let rule = recording_rule(Arc::default());
    let mut spawner = spawner(&[&rule]);
    spawner.host.files.push(TreeFile {
        path: "Legacy App/Dockerfile".into(),
        sha: "1".repeat(40),
    });
    let mut r = request();
    r.changes.paths.push("Legacy App/Dockerfile".into());
    let report = spawner
        .handle(&sns_event(&r.encode_for_sns().unwrap().1))
        .await
        .unwrap();
    assert_eq!(report.started.len(), 3);
    assert_eq!(report.notified, ["dockhand NOT BUILT: acme/images @3e8a1f5"]);
    let sent = spawner.alerts.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one notification for the push, not one per directory");
    let message: serde_json::Value = serde_json::from_str(&sent[0].message).unwrap();
    let email = message["email"].as_str().unwrap();
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
    let spawner = spawner(&[&rule]);
    let report = spawner
        .handle(&sns_event(&request().encode_for_sns().unwrap().1))
        .await
        .unwrap();
    assert_eq!(report.skipped.len(), 1);
    assert!(report.notified.is_empty());
    assert!(spawner.alerts.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_push_without_a_complete_commit_list_is_compared_on_github() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rule = recording_rule(seen);
    let mut spawner = spawner(&[&rule]);
    // A forced push: the payload's commits say web, GitHub's comparison says only api.
    spawner.host.changes = Some(vec![ChangedFile {
        path: "api/requirements.txt".into(),
        previous_path: None,
        removed: false,
    }]);
    let mut r = request();
    r.changes.source = ChangeSource::Compare {
        base: "9f2c1b7e4d3a5c6b8e0f1a2d3c4b5a6978e1f0d2".into(),
    };
    let report = spawner
        .handle(&sns_event(&r.encode_for_sns().unwrap().1))
        .await
        .unwrap();
    assert_eq!(
        report.started.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["api"]
    );
    // A new branch: every image at the commit.
    let mut r = request();
    r.changes = dockhand_core::request::Changes {
        source: ChangeSource::NewRef,
        ..Default::default()
    };
    let report = spawner
        .handle(&sns_event(&r.encode_for_sns().unwrap().1))
        .await
        .unwrap();
    assert_eq!(
        report.started.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["api", "tools/lint", "web"]
    );
}

#[tokio::test]
async fn a_rate_limited_github_fails_the_invocation_and_starts_nothing() {
    let rule = recording_rule(Arc::default());
    let mut spawner = spawner(&[&rule]);
    spawner.host.fail_tree = Some(HostError::RateLimited {
        reset: 1_900_000_000,
        detail: "API rate limit exceeded for 203.0.113.7".into(),
    });
    let err = spawner
        .handle(&sns_event(&request().encode_for_sns().unwrap().1))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("GitHub could not answer: rate limited until 1900000000"),
        "{text}"
    );
    assert_eq!(rule.num_calls(), 0);
    assert!(spawner.alerts.0.lock().unwrap().is_empty(), "retried, not reported yet");
}

#[tokio::test]
async fn a_repository_github_does_not_show_is_reported_to_people() {
    let rule = recording_rule(Arc::default());
    let mut spawner = spawner(&[&rule]);
    spawner.host.fail_tree = Some(HostError::NotFound(
        "GET /repos/acme/images/git/trees/3e8a1f5: 404".into(),
    ));
    let report = spawner
        .handle(&sns_event(&request().encode_for_sns().unwrap().1))
        .await
        .unwrap();
    assert!(report.started.is_empty());
    assert_eq!(report.notified, ["dockhand NOT BUILT: acme/images @3e8a1f5"]);
    let email = spawner.alerts.first_email();
    let email = email.as_str();
    assert!(
        email.contains("GitHub does not show the files of acme/images") && email.contains("github_token_parameter"),
        "{email}"
    );
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn an_invalid_repository_file_builds_nothing_and_says_why() {
    let rule = recording_rule(Arc::default());
    let mut spawner = spawner(&[&rule]);
    spawner.host.files.push(TreeFile {
        path: ".dockhand.yml".into(),
        sha: "2".repeat(40),
    });
    spawner.host.repo_config = Some(b"naming: flat\n".to_vec());
    let report = spawner
        .handle(&sns_event(&request().encode_for_sns().unwrap().1))
        .await
        .unwrap();
    assert!(report.started.is_empty());
    let email = spawner.alerts.first_email();
    let email = email.as_str();
    assert!(email.contains(".dockhand.yml line 1"), "{email}");
    assert_eq!(rule.num_calls(), 0);
}
