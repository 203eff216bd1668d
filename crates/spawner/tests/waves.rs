//! Images built on each other: the spawner holds a dependent until its bases push,
//! releases it pinned to what they pushed, and blocks it, saying so, when one does not.

mod support;

use dockhand_core::ports::memory::MemoryCodeBuild;
use dockhand_core::queue::QueuedBuild;
use dockhand_core::request::{ChangeSource, Changes};
use dockhand_core::source::ListedHost;
use dockhand_core::start_build::StartError;
use dockhand_core::waves::{BASES_VARIABLE, DEPENDENTS_VARIABLE, DIGEST_VARIABLE, HeldState};
use dockhand_core::{BuildRequest, ports::Holds};
use dockhand_testkit::fixture;
use serde_json::Value;
use support::*;

/// `base` ← `mid` ← `top`; `base` ← `left`, `right` ← `app` (a diamond); `lone` alone.
const REPO: &[(&str, &str)] = &[
    ("base", "FROM debian:12\n"),
    ("mid", "FROM acme/base\n"),
    ("top", "FROM acme/mid\n"),
    ("left", "FROM acme/base AS l\nFROM l\n"),
    ("right", "FROM docker.io/acme/base:latest\n"),
    ("app", "FROM acme/left\nCOPY --from=acme/right /a /a\n"),
    ("lone", "FROM alpine\n"),
];

fn host() -> ListedHost {
    listed_host(REPO)
}

fn push(paths: &[&str]) -> BuildRequest {
    let mut request = request();
    request.changes = Changes {
        paths: paths.iter().map(|p| p.to_string()).collect(),
        source: ChangeSource::Commits,
        ..Changes::default()
    };
    request
}

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn queued(messages: &[Message]) -> Vec<QueuedBuild> {
    messages
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

/// Starts the queued `messages` and answers (context, build id) of each build started.
async fn start(spawner: &Memory<MemoryCodeBuild, ListedHost>, messages: &[Message]) -> Vec<(String, String)> {
    let (response, report) = spawner.handle(&sqs_event(BUILDS_ARN, messages), None).await;
    assert!(failed(&response).is_empty(), "{report:#?}");
    report.started
}

/// The state change EventBridge puts on the builds queue when build `id` ends with
/// `status`: the fixture's event, for this build, its environment as started.
fn finished_event(spawner: &Memory<MemoryCodeBuild, ListedHost>, id: &str, status: &str) -> String {
    let mut event: Value = serde_json::from_str(&fixture("codebuild-succeeded.json")).unwrap();
    let (_, request) = spawner
        .starter
        .started()
        .into_iter()
        .find(|(b, _)| b == id)
        .expect("a started build");
    let detail = &mut event["detail"];
    detail["build-status"] = status.into();
    // The event names the build by its ARN, as CodeBuild's do.
    detail["build-id"] = format!("arn:aws:codebuild:eu-west-1:123456789012:build/{id}").into();
    detail["project-name"] = request.project_name.clone().into();
    detail["additional-information"]["environment"]["environment-variables"] =
        serde_json::to_value(&request.environment_variables_override).unwrap();
    event.to_string()
}

/// Ends build `id` with `status` (exporting `digest` when given) and delivers its event.
async fn finish(
    spawner: &Memory<MemoryCodeBuild, ListedHost>,
    id: &str,
    status: &str,
    digest: Option<&str>,
) -> dockhand_spawner::Report {
    let exported: Vec<(&str, &str)> = digest.map(|d| (DIGEST_VARIABLE, d)).into_iter().collect();
    spawner.starter.finish(id, status, &exported);
    let body = finished_event(spawner, id, status);
    let (response, report) = spawner
        .handle(
            &sqs_event(BUILDS_ARN, &[Message::new(&format!("event-{id}-{status}"), &body)]),
            None,
        )
        .await;
    assert!(failed(&response).is_empty(), "{report:#?}");
    report
}

fn spawner() -> Memory<MemoryCodeBuild, ListedHost> {
    let codebuild = MemoryCodeBuild::default();
    let s = support::spawner(codebuild, host());
    s.starter.clock.set(NOW);
    s
}

/// The builds sent to the builds queue since `from`.
fn sent_since(spawner: &Memory<MemoryCodeBuild, ListedHost>, from: usize) -> Vec<QueuedBuild> {
    spawner.queues.log().sent[from..]
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

#[tokio::test]
async fn a_dependent_waits_for_its_base_and_builds_on_the_digest_it_pushed() {
    let spawner = spawner();
    let (report, messages) = plan(&spawner, &push(&["base/Dockerfile"])).await;
    // Only the base is queued; its five dependents are held.
    assert_eq!(
        queued(&messages).iter().map(|b| b.context.as_str()).collect::<Vec<_>>(),
        ["base"]
    );
    let mut held = report.held.clone();
    held.sort();
    assert_eq!(held, ["app", "left", "mid", "right", "top"]);
    assert_eq!(spawner.ledger.holds().len(), 5);
    // The base knows its direct dependents' keys.
    let base = &queued(&messages)[0];
    let dependents = base.request.env(DEPENDENTS_VARIABLE).unwrap();
    assert_eq!(dependents.split(',').count(), 3, "left, mid and right");

    let started = start(&spawner, &messages).await;
    let base_id = started[0].1.clone();
    let before = spawner.queues.log().sent.len();
    let report = finish(&spawner, &base_id, "SUCCEEDED", Some(&digest(1))).await;
    let mut released = report.released.clone();
    released.sort();
    assert_eq!(released, ["left", "mid", "right"]);
    let sent = sent_since(&spawner, before);
    let mid = sent.iter().find(|b| b.context == "mid").unwrap();
    assert_eq!(
        mid.request.env(BASES_VARIABLE),
        Some(format!("acme/base\tdocker.io/acme/base@{}", digest(1)).as_str())
    );
    // A stage alias resolves to the image it names: `left` pins `acme/base`.
    let left = sent.iter().find(|b| b.context == "left").unwrap();
    assert!(left.request.env(BASES_VARIABLE).unwrap().starts_with("acme/base\t"));
    let right = sent.iter().find(|b| b.context == "right").unwrap();
    assert!(
        right
            .request
            .env(BASES_VARIABLE)
            .unwrap()
            .starts_with("docker.io/acme/base:latest\t")
    );

    // The released builds start as any build does, once.
    let released_messages: Vec<Message> = spawner.queues.log().sent[before..]
        .iter()
        .enumerate()
        .map(|(i, b)| Message::new(&format!("released-{i}"), b))
        .collect();
    let started = start(&spawner, &released_messages).await;
    assert_eq!(started.len(), 3);
    // The same event again (EventBridge delivers at least once) releases nothing more.
    let before = spawner.queues.log().sent.len();
    let report = finish(&spawner, &base_id, "SUCCEEDED", Some(&digest(1))).await;
    assert!(report.released.is_empty(), "{report:#?}");
    assert_eq!(spawner.queues.log().sent.len(), before);

    // The diamond: app waits for both left and right.
    let id = |context: &str| started.iter().find(|(c, _)| c == context).unwrap().1.clone();
    let report = finish(&spawner, &id("left"), "SUCCEEDED", Some(&digest(2))).await;
    assert!(report.released.is_empty(), "app still waits for right: {report:#?}");
    let before = spawner.queues.log().sent.len();
    let report = finish(&spawner, &id("right"), "SUCCEEDED", Some(&digest(3))).await;
    assert_eq!(report.released, ["app"]);
    let app = &sent_since(&spawner, before)[0];
    assert_eq!(
        app.request.env(BASES_VARIABLE),
        Some(
            format!(
                "acme/left\tdocker.io/acme/left@{}\nacme/right\tdocker.io/acme/right@{}",
                digest(2),
                digest(3)
            )
            .as_str()
        )
    );
    let holds = spawner.ledger.holds();
    assert_eq!(holds.values().filter(|h| h.state == HeldState::Released).count(), 4);
    assert_eq!(
        holds.values().filter(|h| h.state == HeldState::Waiting).count(),
        1,
        "top waits for mid"
    );
}

#[tokio::test]
async fn a_failed_base_blocks_its_dependents_and_theirs_with_one_notification() {
    let spawner = spawner();
    let (_, messages) = plan(&spawner, &push(&["base/Dockerfile"])).await;
    let started = start(&spawner, &messages).await;
    let before = spawner.queues.log().sent.len();
    let report = finish(&spawner, &started[0].1, "FAILED", None).await;
    let mut blocked = report.blocked.clone();
    blocked.sort();
    assert_eq!(blocked, ["app", "left", "mid", "right", "top"]);
    assert_eq!(spawner.queues.log().sent.len(), before, "nothing is queued");
    let sent = spawner.alerts.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0]
            .subject
            .starts_with("dockhand NOT BUILT: 5 image(s) on acme/base"),
        "{}",
        sent[0].subject
    );
    for image in ["acme/mid", "acme/top", "acme/app"] {
        assert!(sent[0].message.contains(image), "{}", sent[0].message);
    }
    assert!(sent[0].message.contains("ended FAILED"), "{}", sent[0].message);
    // Told once: the same event again tells nobody.
    finish(&spawner, &started[0].1, "FAILED", None).await;
    assert_eq!(spawner.alerts.sent().len(), 1);
    // A blocked build is not released by a base that pushes later.
    assert!(
        spawner
            .ledger
            .holds()
            .values()
            .all(|h| matches!(h.state, HeldState::Blocked { .. }))
    );
}

#[tokio::test]
async fn a_base_that_succeeds_without_a_digest_blocks_its_dependents() {
    let spawner = spawner();
    let (_, messages) = plan(&spawner, &push(&["mid/Dockerfile"])).await;
    let started = start(&spawner, &messages).await;
    assert_eq!(contexts(&started), ["mid"]);
    let report = finish(&spawner, &started[0].1, "SUCCEEDED", None).await;
    assert_eq!(report.blocked, ["top"]);
    assert!(spawner.alerts.sent()[0].message.contains(DIGEST_VARIABLE));
}

#[tokio::test]
async fn a_base_that_never_starts_blocks_its_dependents() {
    let spawner = spawner();
    let (_, messages) = plan(&spawner, &push(&["mid/app.txt"])).await;
    *spawner.starter.refuse.lock().unwrap() = Some(StartError::Refused("InvalidInputException: no project".into()));
    let (_, report) = spawner.handle(&sqs_event(BUILDS_ARN, &messages), None).await;
    assert_eq!(report.dead_letters.len(), 1);
    assert_eq!(report.blocked, ["top"]);
    let subjects: Vec<String> = spawner.alerts.sent().iter().map(|s| s.subject.clone()).collect();
    assert!(
        subjects.iter().any(|s| s.starts_with("dockhand NOT STARTED")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.starts_with("dockhand NOT BUILT")),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn builds_of_other_projects_and_builds_without_dependents_are_acknowledged_without_a_call() {
    let spawner = spawner();
    let (_, messages) = plan(&spawner, &push(&["lone/Dockerfile"])).await;
    let started = start(&spawner, &messages).await;
    spawner.starter.finish(&started[0].1, "SUCCEEDED", &[]);
    let body = finished_event(&spawner, &started[0].1, "SUCCEEDED");
    let mut other: Value = serde_json::from_str(&body).unwrap();
    other["detail"]["project-name"] = "someone-else".into();
    for (i, body) in [body, other.to_string()].iter().enumerate() {
        let (response, report) = spawner
            .handle(&sqs_event(BUILDS_ARN, &[Message::new(&format!("e{i}"), body)]), None)
            .await;
        assert!(failed(&response).is_empty());
        assert!(report.released.is_empty() && report.blocked.is_empty() && report.dead_letters.is_empty());
    }
}

#[tokio::test]
async fn a_replayed_request_holds_nothing_twice_and_keeps_what_was_released() {
    let spawner = spawner();
    let request = push(&["mid/Dockerfile"]);
    let (_, messages) = plan(&spawner, &request).await;
    let started = start(&spawner, &messages).await;
    finish(&spawner, &started[0].1, "SUCCEEDED", Some(&digest(9))).await;
    let key = spawner.ledger.holds().keys().next().unwrap().clone();
    let (held, version) = spawner.ledger.held(&key).await.unwrap().unwrap();
    assert_eq!(held.state, HeldState::Released);
    // GitHub redelivers the push: the record stays released, at its version.
    plan(&spawner, &request).await;
    let (again, same) = spawner.ledger.held(&key).await.unwrap().unwrap();
    assert_eq!((again.state, same), (HeldState::Released, version));
}
