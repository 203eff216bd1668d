//! The build-requests topic and the builds queue are trust boundaries: whatever a message
//! on them says, the spawner checks it as the listener does, refuses what fails with a
//! notification and a dead letter, starts nothing it did not plan, and never panics.

mod support;

use dockhand_core::ports::memory::MemoryCodeBuild;
use dockhand_core::queue::QueuedBuild;
use dockhand_testkit::monorepo_host;
use proptest::prelude::*;
use support::*;

/// Hands `body` to the spawner from `arn`; answers (report, dead letters, notifications).
fn deliver(body: &str, arn: &str) -> (dockhand_spawner::Report, usize, usize, usize) {
    let spawner = spawner(MemoryCodeBuild::default(), monorepo_host());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (response, report) = runtime.block_on(spawner.handle(&sqs_event(arn, &[Message::new("m-1", body)]), None));
    assert!(failed(&response).is_empty(), "{report:#?}");
    (
        report,
        spawner.queues.log().dead.len(),
        spawner.alerts.sent().len(),
        spawner.starter.started().len() + spawner.queues.log().sent.len(),
    )
}

/// A named change to a message's JSON.
type Change = (&'static str, Box<dyn Fn(&mut serde_json::Value)>);

fn forged(change: impl Fn(&mut serde_json::Value)) -> String {
    let mut request = serde_json::to_value(request()).unwrap();
    change(&mut request);
    request.to_string()
}

#[test]
fn a_forged_build_request_is_refused_with_a_notification() {
    // The listener's own request is planned.
    let (report, dead, _, queued) = deliver(&forged(|_| {}), REQUESTS_ARN);
    assert_eq!((dead, queued), (0, 3), "{report:#?}");
    let cases: [Change; 8] = [
        (
            "a file:// URL",
            Box::new(|r| r["repository"]["clone_url"] = "file:///etc".into()),
        ),
        (
            "another host",
            Box::new(|r| r["repository"]["clone_url"] = "https://github.com@attacker.example/acme/images.git".into()),
        ),
        (
            "a foreign repository",
            Box::new(|r| {
                r["repository"]["full_name"] = "evil/images".into();
                r["repository"]["clone_url"] = "https://github.com/evil/images.git".into();
            }),
        ),
        (
            "a delivery id that is a path",
            Box::new(|r| r["delivery"] = "../../x y".into()),
        ),
        (
            "a tag the rules did not give",
            Box::new(|r| r["tags"][0] = "evil".into()),
        ),
        (
            "latest on a tag",
            Box::new(|r| {
                r["ref"] = "refs/tags/latest".into();
                r["tags"] = serde_json::json!(["latest"]);
                r["fixed_tags"] = serde_json::json!([]);
            }),
        ),
        (
            "a path out of the repository",
            Box::new(|r| r["changes"]["paths"][0] = "../../etc".into()),
        ),
        (
            "a non-ASCII commit",
            Box::new(|r| r["commit"] = "ééééééééééééééééééééé".into()),
        ),
    ];
    for (what, change) in cases {
        let (report, dead, notified, queued) = deliver(&forged(change), REQUESTS_ARN);
        assert_eq!((dead, notified, queued), (1, 1, 0), "{what}: {report:#?}");
        assert!(
            report.dead_letters[0].1.contains("fails the listener's checks"),
            "{what}: {report:#?}"
        );
    }
}

/// A queued build as the planning step wrote it for the monorepo push.
fn queued() -> serde_json::Value {
    let spawner = spawner(MemoryCodeBuild::default(), monorepo_host());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_, messages) = runtime.block_on(plan(&spawner, &request()));
    serde_json::from_str(&messages[0].body).unwrap()
}

fn set_env(build: &mut serde_json::Value, name: &str, value: &str) {
    for v in build["request"]["environmentVariablesOverride"].as_array_mut().unwrap() {
        if v["name"] == name {
            v["value"] = value.into();
        }
    }
}

#[test]
fn a_forged_queued_build_is_not_started() {
    let (report, dead, _, started) = deliver(&queued().to_string(), BUILDS_ARN);
    assert_eq!((dead, started), (0, 1), "{report:#?}");
    let cases: [Change; 6] = [
        (
            "its own buildspec",
            Box::new(|b| b["request"]["buildspecOverride"] = "version: 0.2\nphases: {build: {commands: [id]}}".into()),
        ),
        (
            "another clone URL",
            Box::new(|b| set_env(b, "SOURCE_REPO_URL", "file:///etc")),
        ),
        (
            "another project",
            Box::new(|b| b["request"]["projectName"] = "other".into()),
        ),
        (
            "no privileged mode",
            Box::new(|b| b["request"]["privilegedModeOverride"] = false.into()),
        ),
        (
            "a foreign repository",
            Box::new(|b| {
                b["repository"] = "evil/images".into();
                set_env(b, "DOCKHAND_REPOSITORY", "evil/images");
                set_env(b, "SOURCE_REPO_URL", "https://github.com/evil/images.git");
            }),
        ),
        (
            "a key that is not its token",
            Box::new(|b| b["key"] = "0".repeat(64).into()),
        ),
    ];
    for (what, change) in cases {
        let mut build = queued();
        change(&mut build);
        assert!(serde_json::from_value::<QueuedBuild>(build.clone()).is_ok(), "{what}");
        let (report, dead, notified, started) = deliver(&build.to_string(), BUILDS_ARN);
        assert_eq!((dead, notified, started), (1, 1, 0), "{what}: {report:#?}");
    }
}

/// Hostile text in every field a message carries.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("é".repeat(9)),
        Just("a\nb\r\nc".to_string()),
        Just("\u{202e}\u{0}\u{7f}".to_string()),
        Just("$(id)`id`".to_string()),
        "\\PC{0,50}",
        ".{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever a field holds, the spawner answers: planned, or refused with a dead letter
    /// and a notification, never a panic (a panic aborts the function in release).
    #[test]
    fn hostile_requests_never_panic(
        field in prop_oneof![
            Just("/commit"), Just("/ref"), Just("/delivery"), Just("/repository/full_name"),
            Just("/repository/name"), Just("/repository/clone_url"), Just("/head_commit/message"),
            Just("/head_commit/author"), Just("/tags/0"), Just("/changes/paths/0"),
        ],
        value in hostile(),
    ) {
        let body = forged(|r| *r.pointer_mut(field).unwrap() = value.clone().into());
        let (report, dead, notified, _) = deliver(&body, REQUESTS_ARN);
        prop_assert!(report.planned.len() + dead == 1, "{:#?}", report);
        prop_assert!(dead == 0 || notified >= 1, "{:#?}", report);
        for subject in report.notified {
            prop_assert!(subject.len() <= 100 && subject.chars().all(|c| (' '..='~').contains(&c)), "{}", subject);
        }
    }
}
