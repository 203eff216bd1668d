//! The spawner: plans each BuildRequest from the build-requests topic and starts one
//! CodeBuild build per job. Any job that cannot be started fails the invocation, so Lambda
//! retries it (the idempotency tokens keep started builds single) and then parks it in the
//! dead-letter queue: nothing is dropped silently.

use aws_lambda_events::event::sns::SnsEvent;
use dockhand_core::index::PushIndex;
use dockhand_core::notification::skip_notification;
use dockhand_core::ports::{BuildStarter, NotificationSink};
use dockhand_core::{BuildRequest, Deployment, PlanEntry, plan};

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
    #[error("{} of {} builds could not be started: {}", .report.failed.len(), .report.failed.len() + .report.started.len(), describe_failures(&.report.failed))]
    Start { report: Report },
}

fn describe_failures(failed: &[(String, String)]) -> String {
    failed
        .iter()
        .map(|(c, e)| format!("{c}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

pub struct Spawner<B, N> {
    pub deployment: Deployment,
    pub starter: B,
    /// Where the spawner's own problems go: the build-results topic.
    pub alerts: N,
    pub alerts_topic_arn: Option<String>,
}

impl<B: BuildStarter, N: NotificationSink> Spawner<B, N> {
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
        let index = PushIndex::new(&request.changes);
        let mut attention = Vec::new();
        for entry in plan(request, &index, &self.deployment) {
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
