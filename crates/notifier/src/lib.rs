//! The notifier: reads a CodeBuild state change back into a build outcome — everything
//! it needs travels in the build's own environment variables, so no API call — and
//! publishes the report to the build-results topic.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_core::error::PortError;
use dockhand_core::notification::{BuildOutcome, DEFAULT_STATUSES, PublishRequest, build_notification};
use dockhand_core::ports::NotificationSink;
use serde_json::Value;
use std::collections::HashMap;

/// What the notifier does with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Send(PublishRequest),
    Ignore(String),
}

pub struct Notifier<S> {
    /// Only this project's builds are reported.
    pub project: String,
    pub statuses: Vec<String>,
    pub topic_arn: Option<String>,
    pub sink: S,
}

/// The statuses to notify, from `NOTIFY_STATUSES` (comma-separated) or the defaults.
pub fn statuses(setting: Option<&str>) -> Vec<String> {
    match setting {
        Some(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => DEFAULT_STATUSES.iter().map(|s| s.to_string()).collect(),
    }
}

/// The build as dockhand's environment variables and the event describe it.
pub fn outcome(event: &CodeBuildEvent) -> BuildOutcome {
    let detail = &event.detail;
    let info = &detail.additional_information;
    let env: HashMap<&str, &str> = info
        .environment
        .environment_variables
        .iter()
        .filter_map(|v| Some((v.name.as_deref()?, v.value.as_deref()?)))
        .collect();
    let get = |name: &str| env.get(name).filter(|v| !v.is_empty()).map(|v| v.to_string());
    let status = detail.build_status.clone().unwrap_or_else(|| "UNKNOWN".into());
    let last_end = info.phases.iter().filter_map(|p| p.end_time).max();
    let duration_secs = match (status.as_str(), last_end) {
        ("IN_PROGRESS", _) | (_, None) => None,
        (_, Some(end)) => u64::try_from((end - info.build_start_time).num_seconds()).ok(),
    };
    let queued_secs = info
        .phases
        .iter()
        .find(|p| p.phase_type == "QUEUED")
        .and_then(|p| p.duration.as_ref())
        .and_then(|d| u64::try_from(d.0.num_seconds()).ok());
    let failed_phase = info
        .phases
        .iter()
        .find(|p| p.phase_status.as_deref().is_some_and(|s| s != "SUCCEEDED"))
        .map(|p| {
            let context = p
                .phase_context
                .iter()
                .flatten()
                .map(|c| match c {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .filter(|s| !s.is_empty() && s != ": ")
                .collect::<Vec<_>>()
                .join("; ");
            (p.phase_type.clone(), context)
        });
    BuildOutcome {
        project: detail.project_name.clone().unwrap_or_default(),
        build_id: detail.build_id.clone().unwrap_or_default(),
        status,
        repository: get("DOCKHAND_REPOSITORY"),
        repository_url: get("SOURCE_REPO_URL"),
        commit: get("SOURCE_COMMIT"),
        git_ref: get("DOCKHAND_REF"),
        context: get("BUILD_CONTEXT"),
        image: get("DOCKER_REPO"),
        tags: get("DOCKHAND_TAGS")
            .map(|t| t.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        moving_tags: get("DOCKHAND_MOVING_TAGS")
            .map(|t| t.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        commit_message: get("COMMIT_MSG"),
        author: get("DOCKHAND_COMMIT_AUTHOR"),
        commit_url: get("DOCKHAND_COMMIT_URL"),
        duration_secs,
        queued_secs,
        failed_phase,
        logs_link: info.logs.deep_link.clone(),
    }
}

impl<S: NotificationSink> Notifier<S> {
    /// Decides, with no I/O, what this event calls for.
    pub fn decide(&self, event: &CodeBuildEvent) -> Decision {
        let detail = &event.detail;
        let project = detail.project_name.as_deref().unwrap_or("");
        if project != self.project {
            return Decision::Ignore(format!(
                "build of project {project:?}, not dockhand's {:?}",
                self.project
            ));
        }
        let status = detail.build_status.as_deref().unwrap_or("UNKNOWN");
        if !self.statuses.iter().any(|s| s == status) {
            return Decision::Ignore(format!("status {status} is not notified (NOTIFY_STATUSES)"));
        }
        Decision::Send(build_notification(&outcome(event)).publish_request(self.topic_arn.as_deref()))
    }

    pub async fn handle(&self, event: &CodeBuildEvent) -> Result<Decision, PortError> {
        let decision = self.decide(event);
        match &decision {
            Decision::Send(request) => {
                self.sink.send(request).await?;
                tracing::info!(build = ?event.detail.build_id, subject = %request.subject, "notified");
            }
            Decision::Ignore(reason) => tracing::info!(build = ?event.detail.build_id, %reason, "not notified"),
        }
        Ok(decision)
    }
}
