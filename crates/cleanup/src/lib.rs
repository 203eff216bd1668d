//! The weekly cleanup: deletes this project's finished build records older than the
//! retention, and nothing else.

use dockhand_core::ports::BuildHistory;
use dockhand_core::retention::{BATCH_LIMIT, expired};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub examined: usize,
    /// Deleted, or in a dry run, to be deleted.
    pub deleted: Vec<String>,
    pub kept: usize,
    /// (id, reason) of every build that could not be deleted.
    pub failed: Vec<(String, String)>,
    pub dry_run: bool,
}

impl Summary {
    /// The one summary log line.
    pub fn line(&self) -> String {
        format!(
            "cleanup{}: examined {}, {} {}, kept {}, failed {}",
            if self.dry_run { " (dry run)" } else { "" },
            self.examined,
            if self.dry_run { "would delete" } else { "deleted" },
            self.deleted.len(),
            self.kept,
            self.failed.len()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("{0}")]
    Aws(#[from] dockhand_core::ports::PortError),
    #[error("{} build(s) could not be deleted ({}): {}", .0.failed.len(), .0.line(), .0.failed.iter().map(|(id, why)| format!("{id}: {why}")).collect::<Vec<_>>().join("; "))]
    NotDeleted(Summary),
}

pub struct Cleanup<H> {
    pub project: String,
    pub retention_days: u32,
    pub dry_run: bool,
    pub history: H,
}

impl<H: BuildHistory> Cleanup<H> {
    /// One run at `now` (seconds since the epoch). Ends in error when any deletion failed,
    /// so the failure shows in the function's error metric.
    pub async fn run(&self, now: i64) -> Result<Summary, CleanupError> {
        let ids = self.history.list_build_ids(&self.project).await?;
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_LIMIT) {
            records.extend(self.history.get_builds(chunk).await?);
        }
        let selected = expired(&records, &self.project, now, i64::from(self.retention_days) * 86_400);
        let mut summary = Summary {
            examined: records.len(),
            dry_run: self.dry_run,
            ..Summary::default()
        };
        if self.dry_run {
            summary.kept = records.len() - selected.len();
            summary.deleted = selected;
        } else {
            for chunk in selected.chunks(BATCH_LIMIT) {
                match self.history.delete_builds(chunk).await {
                    Ok(not_deleted) => {
                        summary.deleted.extend(
                            chunk
                                .iter()
                                .filter(|id| !not_deleted.iter().any(|(n, _)| n == *id))
                                .cloned(),
                        );
                        summary.failed.extend(not_deleted);
                    }
                    // The SDK already retried; record the whole chunk and go on with the rest.
                    Err(e) => summary
                        .failed
                        .extend(chunk.iter().map(|id| (id.clone(), e.to_string()))),
                }
            }
            summary.kept = records.len() - summary.deleted.len() - summary.failed.len();
        }
        tracing::info!(project = %self.project, "{}", summary.line());
        if summary.failed.is_empty() {
            Ok(summary)
        } else {
            Err(CleanupError::NotDeleted(summary))
        }
    }
}
