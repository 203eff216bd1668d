//! The EventBridge "CodeBuild Build State Change" event for a build, field for field as
//! CodeBuild sends it (see `tests/fixtures/codebuild-*.json` and CodeBuild's "Build
//! notifications input format reference"): `build-id` is the build's ARN, event times
//! are RFC 3339, build and phase times are `Nov 21, 2026 9:05:12 PM`, a phase still
//! running has no `end-time`, `duration-in-seconds` or `phase-status`, and
//! `phase-context` holds `STATUS_CODE: message` strings.

use crate::clock;
use crate::outcome::{BuildStatus, PhaseRecord};
use crate::settings::{BuildIdentity, BuildSettings};
use serde_json::{Value, json};
use std::time::SystemTime;

/// What the event reports about the build as a whole.
pub(crate) struct Snapshot<'a> {
    /// `IN_PROGRESS`, or the final status.
    pub build_status: &'a str,
    pub phases: &'a [PhaseRecord],
    pub start: SystemTime,
    pub now: SystemTime,
}

pub(crate) fn build_status_name(status: BuildStatus) -> &'static str {
    match status {
        BuildStatus::Succeeded => "SUCCEEDED",
        BuildStatus::Failed => "FAILED",
    }
}

fn phase(record: &PhaseRecord) -> Value {
    let mut p = json!({
        "phase-type": record.phase_type.as_str(),
        "start-time": clock::codebuild(record.start),
        "phase-context": record.contexts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
    });
    if let (Some(end), Some(status)) = (record.end, record.status) {
        p["end-time"] = json!(clock::codebuild(end));
        p["duration-in-seconds"] = json!(record.duration_seconds);
        p["phase-status"] = json!(status.as_str());
    }
    p
}

pub(crate) fn state_change(build: &BuildSettings, id: &BuildIdentity, snapshot: &Snapshot) -> Value {
    let current = snapshot.phases.last();
    let current_context = current
        .map(|p| p.contexts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| ": ".into());
    let environment_variables: Vec<Value> = build
        .overrides
        .iter()
        .map(|v| json!({"name": v.name, "type": "PLAINTEXT", "value": v.value}))
        .collect();
    json!({
        "version": "0",
        "id": crate::settings::random_uuid(),
        "detail-type": "CodeBuild Build State Change",
        "source": "aws.codebuild",
        "account": build.account_id,
        "time": clock::rfc3339(snapshot.now),
        "region": build.region,
        "resources": [id.arn],
        "detail": {
            "build-status": snapshot.build_status,
            "project-name": build.project,
            "build-id": id.arn,
            "additional-information": {
                "artifact": {"location": ""},
                "environment": {
                    "image": build.image,
                    "privileged-mode": build.privileged,
                    "compute-type": build.compute_type,
                    "type": "LINUX_CONTAINER",
                    "environment-variables": environment_variables,
                },
                "timeout-in-minutes": build.timeout_minutes,
                "queued-timeout-in-minutes": build.queued_timeout_minutes,
                "build-complete": snapshot.build_status != "IN_PROGRESS",
                "build-number": build.build_number,
                "initiator": build.initiator,
                "build-start-time": clock::codebuild(snapshot.start),
                "source": {"type": "NO_SOURCE"},
                "logs": {
                    "group-name": build.log_group,
                    "stream-name": id.log_stream,
                    "deep-link": format!(
                        "https://console.aws.amazon.com/cloudwatch/home?region={}#logEvent:group={};stream={}",
                        build.region, build.log_group, id.log_stream
                    ),
                },
                "phases": snapshot.phases.iter().map(phase).collect::<Vec<_>>(),
            },
            "current-phase": current.map(|p| p.phase_type.as_str()).unwrap_or("SUBMITTED"),
            "current-phase-context": format!("[{current_context}]"),
            "version": "1",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PhaseContext, PhaseStatus, PhaseType};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn shape_matches_the_failed_fixture() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/codebuild-failed.json")).unwrap();
        let mut build = BuildSettings::new("dockhand", "/src");
        build.region = "eu-west-1".into();
        build.privileged = true;
        build.initiator = "dockhand-spawner/dockhand-spawner".into();
        build.timeout_minutes = 30;
        build.build_number = 42;
        let id = BuildIdentity::new(&build);
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(1_795_295_053 + s);
        build.overrides = vec![crate::EnvironmentVariable::new("SOURCE_COMMIT", "3e8a1f5")];
        let phases = vec![
            PhaseRecord::finished(PhaseType::Submitted, t(0), t(0), PhaseStatus::Succeeded, vec![]),
            PhaseRecord::finished(
                PhaseType::Build,
                t(0),
                t(44),
                PhaseStatus::Failed,
                vec![PhaseContext {
                    status_code: "COMMAND_EXECUTION_ERROR".into(),
                    message: "Error while executing command: make. Reason: exit status 1".into(),
                }],
            ),
            PhaseRecord::started(PhaseType::Completed, t(50)),
        ];
        let event = state_change(
            &build,
            &id,
            &Snapshot {
                build_status: "FAILED",
                phases: &phases,
                start: t(0),
                now: t(50),
            },
        );
        fn shape(v: &Value) -> Value {
            match v {
                Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
                Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
                Value::String(_) => json!("string"),
                Value::Number(_) => json!("number"),
                Value::Bool(_) => json!("bool"),
                Value::Null => Value::Null,
            }
        }
        let mut expected = shape(&fixture);
        // CodeBuild sends this one too; the fixture predates it.
        expected["detail"]["additional-information"]["queued-timeout-in-minutes"] = json!("number");
        assert_eq!(shape(&event), expected);
        let info = &event["detail"]["additional-information"];
        assert_eq!(info["build-start-time"], "Nov 21, 2026 9:04:13 PM");
        assert_eq!(info["phases"][1]["duration-in-seconds"], 44);
        assert_eq!(info["phases"][1]["phase-status"], "FAILED");
        assert_eq!(
            info["phases"][1]["phase-context"][0],
            "COMMAND_EXECUTION_ERROR: Error while executing command: make. Reason: exit status 1"
        );
        assert!(info["phases"][2].get("end-time").is_none());
        assert!(info["phases"][2].get("phase-status").is_none());
        assert_eq!(info["environment"]["environment-variables"][0]["type"], "PLAINTEXT");
        assert_eq!(event["detail"]["current-phase"], "COMPLETED");
        assert_eq!(event["detail"]["current-phase-context"], "[: ]");
        assert_eq!(event["detail"]["build-id"], id.arn.as_str());
        assert_eq!(event["time"], "2026-11-21T21:05:03Z");
    }
}
