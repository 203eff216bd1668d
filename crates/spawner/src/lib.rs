//! The spawner: plans each BuildRequest from the build-requests topic and starts one
//! CodeBuild build per job. It plans from GitHub's view of the pushed commit (the files, a
//! comparison when the push's commit list is incomplete, `.dockhand.yml`). Any job that
//! cannot be started, and a GitHub that is rate limited or unavailable, fails the
//! invocation, so Lambda retries it (the idempotency tokens keep started builds single) and
//! then parks it in the dead-letter queue: nothing is dropped silently.

pub mod github;

use aws_lambda_events::event::sns::SnsEvent;
use dockhand_core::index::PushIndex;
use dockhand_core::notification::skip_notification;
use dockhand_core::ports::{BuildStarter, NotificationSink, SourceHost};
use dockhand_core::source::{Unresolved, resolve};
use dockhand_core::{BuildRequest, Deployment, PlanEntry, RepoConfig, Skip, plan};

/// What one invocation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// (context, build id) of every build started.
    pub started: Vec<(String, String)>,
    /// (context, reason) of every directory not built.
    pub skipped: Vec<(String, String)>,
    /// (context, error) of every build that could not be started.
    pub failed: Vec<(String, String)>,
    /// Subjects of the notifications sent about skips a person must act on.
    pub notified: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("SNS record {index} is not a BuildRequest: {detail}")]
    Decode { index: usize, detail: String },
    #[error("{} step(s) failed and are retried ({} build(s) started): {}", .report.failed.len(), .report.started.len(), describe_failures(&.report.failed))]
    Start { report: Report },
}

fn describe_failures(failed: &[(String, String)]) -> String {
    failed
        .iter()
        .map(|(c, e)| format!("{c}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

pub struct Spawner<B, N, H> {
    pub deployment: Deployment,
    pub starter: B,
    /// GitHub: the files at the pushed commit, comparisons and `.dockhand.yml`.
    pub host: H,
    /// Where the spawner's own problems go: the build-results topic.
    pub alerts: N,
    pub alerts_topic_arn: Option<String>,
}

impl<B: BuildStarter, N: NotificationSink, H: SourceHost + Sync> Spawner<B, N, H> {
    /// Handles one SNS delivery (one record in practice; every record is handled).
    pub async fn handle(&self, event: &SnsEvent) -> Result<Report, SpawnError> {
        let requests = event
            .records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                serde_json::from_str::<BuildRequest>(&record.sns.message).map_err(|e| SpawnError::Decode {
                    index,
                    detail: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut report = Report::default();
        for request in &requests {
            self.spawn(request, &mut report).await;
        }
        if report.failed.is_empty() {
            Ok(report)
        } else {
            Err(SpawnError::Start { report })
        }
    }

    /// Plans one request, starts its builds one after another, and tells people about the
    /// directories they must fix.
    pub async fn spawn(&self, request: &BuildRequest, report: &mut Report) {
        // A private repository without a token: the plan says so, without asking GitHub
        // (which would answer 404).
        let entries = if request.repository.private && self.deployment.config.github_token_parameter.is_none() {
            plan(
                request,
                &PushIndex::new(&request.changes),
                &self.deployment,
                Ok(&RepoConfig::default()),
            )
        } else {
            match resolve(&self.host, request).await {
                Ok(resolved) => {
                    for note in &resolved.notes {
                        tracing::warn!(delivery = %request.delivery, note = %note, "planning");
                    }
                    plan(
                        &resolved.request,
                        &resolved.index,
                        &self.deployment,
                        resolved.repo.as_ref(),
                    )
                }
                Err(Unresolved::Retry(e)) => {
                    tracing::error!(delivery = %request.delivery, error = %e, "GitHub could not answer; the invocation is retried");
                    report
                        .failed
                        .push((".".into(), format!("GitHub could not answer: {e}")));
                    return;
                }
                Err(Unresolved::Stop(reason)) => vec![PlanEntry::Skip(Skip {
                    context: ".".into(),
                    reason: format!("{reason}. Nothing was built"),
                    attention: true,
                })],
            }
        };
        let mut attention = Vec::new();
        for entry in entries {
            match entry {
                PlanEntry::Build(job) => match self.starter.start_build(&job.request).await {
                    Ok(id) => {
                        tracing::info!(delivery = %request.delivery, context = %job.context, image = %job.image, build = %id, "build started");
                        report.started.push((job.context, id));
                    }
                    Err(e) => {
                        tracing::error!(delivery = %request.delivery, context = %job.context, error = %e, "build not started");
                        report.failed.push((job.context, e.to_string()));
                    }
                },
                PlanEntry::Skip(skip) => {
                    tracing::warn!(delivery = %request.delivery, context = %skip.context, reason = %skip.reason, "not built");
                    report.skipped.push((skip.context.clone(), skip.reason.clone()));
                    if skip.attention {
                        attention.push(skip);
                    }
                }
            }
        }
        if attention.is_empty() {
            return;
        }
        let alert = skip_notification(request, &attention).publish_request(self.alerts_topic_arn.as_deref());
        match self.alerts.send(&alert).await {
            Ok(()) => report.notified.push(alert.subject),
            // Not silently lost: the invocation fails and is retried, then dead-lettered.
            Err(e) => report
                .failed
                .push((".".into(), format!("could not send the skip notification: {e}"))),
        }
    }
}
