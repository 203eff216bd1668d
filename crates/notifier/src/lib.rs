//! The notifier: reads a CodeBuild state change back into a build outcome — what it needs
//! travels in the build's own environment variables, and what the build said of its
//! Docker Hub steps (hooks, autotests, description) is read from the end of its log — and
//! publishes the report to the build-results topic. An image build that succeeded is
//! recorded first ([`dockhand_core::image_key`]): the next push re-tags it instead of
//! building it again. A record that cannot be written is logged and the report still goes
//! out; the image is then built again next time.
//!
//! With `commit_statuses` on, each image build's start and end also becomes a GitHub commit
//! status ([`dockhand_core::commit_status`], [`CommitStatuses`]), posted after the email and
//! SMS are published: a GitHub that refuses, fails or does not answer is logged and never
//! stops or fails the notification.

pub mod github;

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_core::Config;
use dockhand_core::build_report::BuildReport;
use dockhand_core::commit_status::{CommitStatus, commit_status};
use dockhand_core::error::PortError;
use dockhand_core::image_key::{IMAGE_KEY_VARIABLE, RECORD_DAYS, is_image_key, record_key};
use dockhand_core::notification::{BuildOutcome, DEFAULT_STATUSES, PublishRequest, build_notification};
use dockhand_core::ports::{BuildLogs, ImageRecords, NotificationSink};
use dockhand_core::retag::{RETAG_VARIABLE, RetagLine, check_repository};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// What the notifier does with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Send(PublishRequest),
    Ignore(String),
}

pub struct Notifier<S, R, L> {
    /// Only this project's builds are reported.
    pub project: String,
    pub statuses: Vec<String>,
    pub topic_arn: Option<String>,
    pub sink: S,
    /// The record of pushed images (the ledger table).
    pub records: R,
    /// The build logs, where a finished image build's report lines are read.
    pub logs: L,
}

/// The environment overrides of the event's build, by name.
fn environment(event: &CodeBuildEvent) -> HashMap<&str, &str> {
    event
        .detail
        .additional_information
        .environment
        .environment_variables
        .iter()
        .filter_map(|v| Some((v.name.as_deref()?, v.value.as_deref()?)))
        .collect()
}

/// The record an event calls for: an image build (not a re-tag job) that succeeded,
/// with a well-formed key and repository. A re-tag pushed nothing new: its images'
/// records stand.
pub fn image_record(event: &CodeBuildEvent) -> Option<String> {
    if event.detail.build_status.as_deref() != Some("SUCCEEDED") {
        return None;
    }
    let env = environment(event);
    if env.contains_key(RETAG_VARIABLE) {
        return None;
    }
    let key = env.get(IMAGE_KEY_VARIABLE).filter(|k| is_image_key(k))?;
    let repository = env.get("DOCKER_REPO").filter(|r| check_repository(r).is_ok())?;
    Some(record_key(repository, key))
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
    let env = environment(event);
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
        // A re-tag job's images; lines that do not read back are left out.
        retagged: env
            .get(RETAG_VARIABLE)
            .map(|lines| lines.lines().filter_map(|l| RetagLine::parse(l).ok()).collect())
            .unwrap_or_default(),
        report: BuildReport::default(),
        report_unread: None,
    }
}

/// The log stream whose report lines a notification of this event includes: a finished
/// image build's (a re-tag job runs no hooks; a build in progress has not reported yet).
pub fn report_stream(event: &CodeBuildEvent) -> Option<(&str, &str)> {
    let status = event.detail.build_status.as_deref()?;
    if status == "IN_PROGRESS" || environment(event).contains_key(RETAG_VARIABLE) {
        return None;
    }
    let logs = &event.detail.additional_information.logs;
    Some((logs.group_name.as_deref()?, logs.stream_name.as_deref()?))
}

impl<S: NotificationSink, R: ImageRecords, L: BuildLogs> Notifier<S, R, L> {
    /// Decides, with no I/O, what this event calls for, without its build's report lines.
    pub fn decide(&self, event: &CodeBuildEvent) -> Decision {
        self.decide_with(event, Default::default())
    }

    /// Decides, with no I/O, what this event calls for; `report` is what the build's log
    /// says of its Docker Hub steps ([`Self::report`]), or why it could not be read.
    pub fn decide_with(&self, event: &CodeBuildEvent, report: (BuildReport, Option<String>)) -> Decision {
        if let Some(reason) = self.not_notified(event) {
            return Decision::Ignore(reason);
        }
        let mut outcome = outcome(event);
        (outcome.report, outcome.report_unread) = report;
        Decision::Send(build_notification(&outcome).publish_request(self.topic_arn.as_deref()))
    }

    /// Why this event is not notified: another project's build, or a status not notified.
    fn not_notified(&self, event: &CodeBuildEvent) -> Option<String> {
        let detail = &event.detail;
        let project = detail.project_name.as_deref().unwrap_or("");
        if project != self.project {
            return Some(format!(
                "build of project {project:?}, not dockhand's {:?}",
                self.project
            ));
        }
        let status = detail.build_status.as_deref().unwrap_or("UNKNOWN");
        (!self.statuses.iter().any(|s| s == status))
            .then(|| format!("status {status} is not notified (NOTIFY_STATUSES)"))
    }

    pub async fn handle(&self, event: &CodeBuildEvent) -> Result<Decision, PortError> {
        // The log is read only for an event that is notified.
        let decision = match self.not_notified(event) {
            Some(reason) => Decision::Ignore(reason),
            None => self.decide_with(event, self.report(event).await),
        };
        self.record(event).await;
        match &decision {
            Decision::Send(request) => {
                self.sink.send(request).await?;
                tracing::info!(build = ?event.detail.build_id, subject = %request.subject, "notified");
            }
            Decision::Ignore(reason) => tracing::info!(build = ?event.detail.build_id, %reason, "not notified"),
        }
        Ok(decision)
    }

    /// The report lines of a finished image build, read from its log. A log that cannot be
    /// read is said in the notification, which goes out all the same.
    async fn report(&self, event: &CodeBuildEvent) -> (BuildReport, Option<String>) {
        let Some((group, stream)) = report_stream(event) else {
            return Default::default();
        };
        match self.logs.report_lines(group, stream).await {
            Ok(lines) => (BuildReport::read(lines.iter().map(String::as_str)), None),
            Err(e) => {
                tracing::warn!(build = ?event.detail.build_id, error = %e, "the build's log could not be read for its report");
                (BuildReport::default(), Some(e.to_string()))
            }
        }
    }

    /// Records the image this event's build pushed, if it calls for it; whatever the
    /// statuses notified. A failure is logged only: the report must go out, and the image
    /// is built again next time instead of re-tagged.
    async fn record(&self, event: &CodeBuildEvent) {
        if event.detail.project_name.as_deref() != Some(self.project.as_str()) {
            return;
        }
        let Some(key) = image_record(event) else {
            return;
        };
        let expires_at = u64::try_from(event.time.timestamp()).unwrap_or(0) + RECORD_DAYS * 24 * 60 * 60;
        match self.records.record(&key, expires_at).await {
            Ok(()) => tracing::info!(build = ?event.detail.build_id, record = %key, "image recorded"),
            Err(e) => {
                tracing::error!(build = ?event.detail.build_id, record = %key, error = %e, "the image could not be recorded; the next push builds it again")
            }
        }
    }
}

/// Where commit statuses go: GitHub ([`github::SsmGitHub`] in the function), or a test's
/// stand-in. The error is a message that never holds the token.
pub trait StatusHost {
    fn create_status(&self, status: &CommitStatus) -> impl Future<Output = Result<(), String>> + Send;
}

/// The longest the statuses of one event may take, every attempt included: well within the
/// function's 30 s, after the email and SMS.
pub const STATUS_BUDGET: Duration = Duration::from_secs(12);

/// GitHub commit statuses (`commit_statuses`): one per image build, pending when it
/// starts, then success, failure or error.
pub struct CommitStatuses<G> {
    /// The deployment's configuration: statuses go only to the repositories it builds.
    pub config: Config,
    pub host: G,
    /// [`STATUS_BUDGET`], shorter in tests.
    pub budget: Duration,
}

/// What became of an event's commit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    Posted(CommitStatus),
    /// None called for: another project's build, a re-tag job, a status that is no start
    /// or end.
    None(String),
    /// GitHub refused or failed, or the token could not be read: logged, and nothing else.
    Failed {
        status: CommitStatus,
        error: String,
    },
}

impl<G: StatusHost> CommitStatuses<G> {
    /// Posts the status `event` calls for, if any. Never fails: what goes wrong is logged
    /// (the repository, commit, context and GitHub's answer; never the token) and answered.
    pub async fn post(&self, event: &CodeBuildEvent) -> StatusOutcome {
        let build = event.detail.build_id.as_deref().unwrap_or("");
        let project = event.detail.project_name.as_deref().unwrap_or("");
        if project != self.config.project {
            return StatusOutcome::None(format!("build of project {project:?}, not dockhand's"));
        }
        if environment(event).contains_key(RETAG_VARIABLE) {
            return StatusOutcome::None("a re-tag job: its images were built before, and it names no directory".into());
        }
        let status = match commit_status(&outcome(event), &self.config) {
            Ok(status) => status,
            Err(reason) => {
                tracing::info!(build, %reason, "no commit status");
                return StatusOutcome::None(reason);
            }
        };
        let posted = match tokio::time::timeout(self.budget, self.host.create_status(&status)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("GitHub did not answer within {:?}", self.budget)),
        };
        match posted {
            Ok(()) => {
                tracing::info!(build, repository = %status.repository, sha = %status.sha, context = %status.context, state = status.state.as_str(), "commit status posted");
                StatusOutcome::Posted(status)
            }
            Err(error) => {
                tracing::warn!(build, repository = %status.repository, sha = %status.sha, context = %status.context, state = status.state.as_str(), %error, "the commit status could not be posted; the notification went out all the same");
                StatusOutcome::Failed { status, error }
            }
        }
    }
}

impl<S: NotificationSink, R: ImageRecords, L: BuildLogs> Notifier<S, R, L> {
    /// [`Self::handle`], then the commit status when there are `statuses`: the email and
    /// SMS go first, and the status is posted whether or not they went out, so neither
    /// waits on or fails because of the other. Fails only as [`Self::handle`] does.
    pub async fn handle_with_statuses<G: StatusHost>(
        &self,
        event: &CodeBuildEvent,
        statuses: Option<&CommitStatuses<G>>,
    ) -> Result<(Decision, Option<StatusOutcome>), PortError> {
        let notified = self.handle(event).await;
        let status = match statuses {
            Some(statuses) => Some(statuses.post(event).await),
            None => None,
        };
        Ok((notified?, status))
    }
}
