//! The events the runner emits are CodeBuild's: each deserializes into
//! `aws_lambda_events`' `CodeBuildEvent`, the type the notifier decodes, and what the
//! notifier reads from it (environment variables, build status, start time, phases,
//! their contexts and times) comes back as the runner recorded it.

mod support;

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_runner::{BuildStatus, EnvironmentVariable, PhaseStatus, PhaseType};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use support::{Outcome, Scratch, run, settings};

fn seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn decode(event: &Value) -> CodeBuildEvent {
    serde_json::from_value(event.clone()).unwrap_or_else(|e| panic!("{e}\n{event:#}"))
}

const HOSTILE_MESSAGE: &str = "web: bump \"nginx\"\n\n$(rm -rf /) `id`; echo ünïcode";

fn dockhand_like_build(name: &str, build_commands: &str) -> (Scratch, Outcome) {
    let scratch = Scratch::new(name);
    let mut build = settings(&scratch);
    build.build_number = 42;
    build.privileged = true;
    build.timeout_minutes = 30;
    build.initiator = "dockhand-spawner/dockhand-spawner".into();
    build.overrides = vec![
        EnvironmentVariable::new("SOURCE_COMMIT", "3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f"),
        EnvironmentVariable::new("COMMIT_MSG", HOSTILE_MESSAGE),
        EnvironmentVariable::new("DOCKHAND_TAGS", "latest,3e8a1f5"),
    ];
    let outcome = run(
        &format!("version: 0.2\nphases:\n  build:\n    commands:\n{build_commands}"),
        &build,
    );
    (scratch, outcome)
}

/// The notifier's reading of a failed phase: the first phase whose status is not
/// SUCCEEDED, with its contexts joined.
fn failed_phase(event: &CodeBuildEvent) -> Option<(String, String)> {
    event
        .detail
        .additional_information
        .phases
        .iter()
        .find(|p| p.phase_status.as_deref().is_some_and(|s| s != "SUCCEEDED"))
        .map(|p| {
            let context = p
                .phase_context
                .iter()
                .flatten()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join("; ");
            (p.phase_type.clone(), context)
        })
}

#[test]
fn both_events_decode_and_agree_with_the_result() {
    let (_s, o) = dockhand_like_build("events-ok", "      - echo building\n");
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(o.events.len(), 2);
    assert_eq!(o.events, o.result.events, "on_event saw what the result keeps");

    let started = decode(&o.events[0]);
    let done = decode(&o.events[1]);
    for (event, status) in [(&started, "IN_PROGRESS"), (&done, "SUCCEEDED")] {
        assert_eq!(event.detail_type.as_deref(), Some("CodeBuild Build State Change"));
        assert_eq!(event.source.as_deref(), Some("aws.codebuild"));
        assert_eq!(event.account_id.as_deref(), Some("123456789012"));
        assert_eq!(event.region.as_deref(), Some("eu-west-1"));
        assert_eq!(event.resources, std::slice::from_ref(&o.result.arn));
        assert_eq!(event.detail.build_status.as_deref(), Some(status));
        assert_eq!(event.detail.project_name.as_deref(), Some("demo"));
        assert_eq!(event.detail.build_id.as_deref(), Some(o.result.arn.as_str()));
        let info = &event.detail.additional_information;
        assert_eq!(info.build_number, Some(42.0));
        assert_eq!(info.initiator.as_deref(), Some("dockhand-spawner/dockhand-spawner"));
        assert_eq!(info.timeout.num_minutes(), 30);
        assert!(info.environment.privileged_mode);
        assert_eq!(info.environment.type_.as_deref(), Some("LINUX_CONTAINER"));
        assert_eq!(info.source.type_.as_deref(), Some("NO_SOURCE"));
        let uuid = o.result.build_id.strip_prefix("demo:").unwrap();
        assert_eq!(info.logs.stream_name.as_deref(), Some(uuid));
        assert_eq!(info.logs.group_name.as_deref(), Some("/aws/codebuild/demo"));
        assert!(
            info.logs
                .deep_link
                .as_deref()
                .unwrap()
                .ends_with(&format!("stream={uuid}"))
        );
        assert_eq!(
            info.build_start_time.timestamp(),
            seconds(o.result.phases[0].start),
            "build-start-time is the build's start"
        );
    }

    // IN_PROGRESS: caught while queued, as CodeBuild's first event is.
    let info = &started.detail.additional_information;
    assert!(!info.build_complete);
    assert_eq!(started.detail.current_phase.as_deref(), Some("QUEUED"));
    let types: Vec<_> = info.phases.iter().map(|p| p.phase_type.as_str()).collect();
    assert_eq!(types, ["SUBMITTED", "QUEUED"]);
    assert!(info.phases[1].end_time.is_none() && info.phases[1].phase_status.is_none());

    // Final: every phase, COMPLETED open-ended last.
    let info = &done.detail.additional_information;
    assert!(info.build_complete);
    assert_eq!(done.detail.current_phase.as_deref(), Some("COMPLETED"));
    assert_eq!(info.phases.len(), o.result.phases.len());
    for (decoded, record) in info.phases.iter().zip(&o.result.phases) {
        assert_eq!(decoded.phase_type, record.phase_type.as_str());
        assert_eq!(decoded.phase_status.as_deref(), record.status.map(PhaseStatus::as_str));
        assert_eq!(decoded.start_time.timestamp(), seconds(record.start));
        assert_eq!(decoded.end_time.map(|t| t.timestamp()), record.end.map(seconds));
        assert_eq!(
            decoded.duration.as_ref().map(|d| d.num_seconds()),
            record.duration_seconds.map(|d| d as i64)
        );
    }
    let last = info.phases.last().unwrap();
    assert_eq!(last.phase_type, "COMPLETED");
    assert!(last.end_time.is_none());
    assert!(failed_phase(&done).is_none());
    assert_eq!(done.time.timestamp(), seconds(o.result.phases.last().unwrap().start));
    assert!(done.time >= started.time);
}

#[test]
fn environment_variables_round_trip_byte_for_byte() {
    let (_s, o) = dockhand_like_build("events-env", "      - true\n");
    for event in &o.events {
        let decoded = decode(event);
        let vars: Vec<_> = decoded
            .detail
            .additional_information
            .environment
            .environment_variables
            .iter()
            .map(|v| {
                (
                    v.name.clone().unwrap(),
                    v.type_.clone().unwrap(),
                    v.value.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            vars,
            [
                (
                    "SOURCE_COMMIT".to_owned(),
                    "PLAINTEXT".to_owned(),
                    "3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f".to_owned()
                ),
                (
                    "COMMIT_MSG".to_owned(),
                    "PLAINTEXT".to_owned(),
                    HOSTILE_MESSAGE.to_owned()
                ),
                (
                    "DOCKHAND_TAGS".to_owned(),
                    "PLAINTEXT".to_owned(),
                    "latest,3e8a1f5".to_owned()
                ),
            ]
        );
    }
}

#[test]
fn a_failed_build_reports_its_phase_and_context_as_the_notifier_reads_them() {
    let (_s, o) = dockhand_like_build("events-failed", "      - echo compiling\n      - exit 3\n");
    assert_eq!(o.result.status, BuildStatus::Failed);
    let done = decode(&o.events[1]);
    assert_eq!(done.detail.build_status.as_deref(), Some("FAILED"));
    assert_eq!(
        failed_phase(&done),
        Some((
            "BUILD".to_owned(),
            "COMMAND_EXECUTION_ERROR: Error while executing command: exit 3. Reason: exit status 3".to_owned()
        ))
    );
    // The notifier's duration: last phase end minus build start.
    let info = &done.detail.additional_information;
    let last_end = info.phases.iter().filter_map(|p| p.end_time).max().unwrap();
    let duration = (last_end - info.build_start_time).num_seconds();
    assert!((0..60).contains(&duration), "{duration}");
    let post_build = info.phases.iter().find(|p| p.phase_type == "POST_BUILD").unwrap();
    assert_eq!(post_build.phase_status.as_deref(), Some("SUCCEEDED"));
    assert_eq!(done.detail.current_phase_context.as_deref(), Some("[: ]"));
}

#[test]
fn events_serialize_back_to_what_they_were() {
    // What aws_lambda_events writes back must equal what it read: no field the type
    // knows was dropped or reshaped on the way in.
    let (_s, o) = dockhand_like_build("events-reserialize", "      - exit 1\n");
    for event in &o.events {
        let decoded = decode(event);
        let again: CodeBuildEvent = serde_json::from_value(serde_json::to_value(&decoded).unwrap()).unwrap();
        assert_eq!(decoded, again);
    }
}

/// `Nov 21, 2026 9:04:13 PM`: month name, day and hour unpadded, AM or PM.
fn is_codebuild_time(s: &str) -> bool {
    let parts: Vec<&str> = s.split(' ').collect();
    let [month, day, year, clock, meridiem] = parts[..] else {
        return false;
    };
    let number =
        |t: &str, min: u32, max: u32| !t.starts_with('0') && t.parse::<u32>().is_ok_and(|n| (min..=max).contains(&n));
    let hms: Vec<&str> = clock.split(':').collect();
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .contains(&month)
        && day.strip_suffix(',').is_some_and(|d| number(d, 1, 31))
        && year.len() == 4
        && number(year, 1970, 9999)
        && hms.len() == 3
        && number(hms[0], 1, 12)
        && hms[1..]
            .iter()
            .all(|t| t.len() == 2 && t.parse::<u32>().is_ok_and(|n| n < 60))
        && (meridiem == "AM" || meridiem == "PM")
}

#[test]
fn times_are_formatted_as_in_the_fixtures() {
    let fixture: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/codebuild-succeeded.json")).unwrap();
    let info = &fixture["detail"]["additional-information"];
    assert!(is_codebuild_time(info["build-start-time"].as_str().unwrap()));
    assert!(
        !is_codebuild_time("Nov 01, 2026 09:04:13 PM"),
        "padding is not CodeBuild's"
    );

    let (_s, o) = dockhand_like_build("events-format", "      - true\n");
    for event in &o.events {
        let info = &event["detail"]["additional-information"];
        let start = info["build-start-time"].as_str().unwrap();
        assert!(is_codebuild_time(start), "{start}");
        for phase in info["phases"].as_array().unwrap() {
            for key in ["start-time", "end-time"] {
                if let Some(t) = phase.get(key) {
                    assert!(is_codebuild_time(t.as_str().unwrap()), "{key}: {t}");
                }
            }
        }
        // RFC 3339 in UTC, whole seconds: 2026-11-21T21:06:26Z.
        let time = event["time"].as_str().unwrap();
        assert_eq!(time.len(), "2026-11-21T21:06:26Z".len(), "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    }
}

#[test]
fn phase_records_cover_every_phase_once_in_order() {
    let (_s, o) = dockhand_like_build("events-order", "      - true\n");
    let types: Vec<PhaseType> = o.result.phases.iter().map(|p| p.phase_type).collect();
    assert_eq!(types, PhaseType::ORDER);
    for pair in o.result.phases.windows(2) {
        assert!(pair[0].start <= pair[1].start);
        if let Some(end) = pair[0].end {
            assert!(end <= pair[1].start);
        }
    }
}
