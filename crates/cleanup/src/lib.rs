//! The cleanup: deletes this project's finished build records older than the retention,
//! and nothing else, a page at a time, within the invocation's time.
//!
//! A run lists the project's builds oldest first (ListBuildsForProject with `sortOrder`
//! `ASCENDING`; CodeBuild's default is newest first), one page of at most 100 ids at a
//! time. It reads the page's builds it has not examined yet (BatchGetBuilds), deletes those
//! that are due (BatchDeleteBuilds; [`expired`]: complete, of this project, ended before the
//! cutoff), and goes on to the next page. What is deleted depends only on the records read
//! in the run, never on the order or the tokens: those decide what is reached.
//!
//! **Tokens.** A `nextToken` is opaque: it may be a position (an offset, which deleting
//! builds from the page shifts) or a cursor (which deleting leaves in place). After a page
//! from which something was deleted, the run lists again from the token that produced that
//! page: with an offset the builds that moved up into it are listed, with a cursor the same
//! place is. Every id examined in the run is remembered, so it is neither read nor deleted
//! twice; a page that brings nothing new, or nothing to delete, moves on with its own
//! `nextToken`. Nothing is skipped (a page's own token is only followed once nothing was
//! deleted from it) and nothing loops (each listing either brings a new id or moves on).
//!
//! **Where a run stops.** At the last page; at the first page whose builds all started at
//! or after the cutoff ([`all_started_after_cutoff`]): a build cannot end before it
//! started, and the builds after it, oldest first, started later still; or, when less
//! than [`Cleanup::margin`] is left before the invocation's deadline, before listing
//! another page. Then the run ends cleanly, and its summary says that it stopped early and
//! how many it deleted.
//!
//! **Resuming.** Nothing is stored between runs, and nothing needs to be: deleted builds
//! vanish from the listing, and every run starts from the oldest build. The next run first
//! lists what earlier runs kept (builds still running, without an end time, or ended
//! within the retention, few) and then exactly where this one stopped.

use dockhand_core::error::PortError;
use dockhand_core::ports::BuildHistory;
use dockhand_core::retention::{BATCH_LIMIT, all_started_after_cutoff, expired};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The time a run keeps before the invocation's deadline: no page is listed with less
/// left. A page is at most three calls (list, read, delete), each retried a bounded number
/// of times by the SDK ([`dockhand_aws::codebuild::retry_config`]).
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(20);

/// How many failures the error message names; the rest are counted.
pub const FAILURES_SHOWN: usize = 5;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Build records read.
    pub examined: usize,
    /// Deleted, or in a dry run, to be deleted.
    pub deleted: Vec<String>,
    pub kept: usize,
    /// (id, reason) of every build that could not be deleted.
    pub failed: Vec<(String, String)>,
    pub dry_run: bool,
    /// Stopped before the deadline with pages not listed: the next run continues.
    pub out_of_time: bool,
    /// Stopped at a page of builds that all started after the cutoff.
    pub reached_recent: bool,
    /// ListBuildsForProject, BatchGetBuilds and BatchDeleteBuilds calls (each counted once,
    /// however often the SDK retried it).
    pub calls: usize,
}

impl Summary {
    /// The one summary log line.
    pub fn line(&self) -> String {
        format!(
            "cleanup{}: examined {}, {} {}, kept {}, failed {}{}",
            if self.dry_run { " (dry run)" } else { "" },
            self.examined,
            if self.dry_run { "would delete" } else { "deleted" },
            self.deleted.len(),
            self.kept,
            self.failed.len(),
            if self.out_of_time {
                "; stopped before the deadline, the next run continues"
            } else if self.reached_recent {
                "; the builds after these started within the retention"
            } else {
                ""
            }
        )
    }
}

/// Why a run ended in error. The message is the function's error, which Lambda writes into
/// the on-failure destination's record (the dead-letter queue), so it stays short: under
/// 1 KiB, however many builds failed.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    /// A call failed after the SDK's retries; the run stopped there.
    #[error("{}; {}", shorten(&.error.0, 400), .summary.line())]
    Failed { error: PortError, summary: Summary },
    /// Some builds could not be deleted; the run went on with the others.
    #[error("{}", not_deleted(.0))]
    NotDeleted(Summary),
}

fn not_deleted(summary: &Summary) -> String {
    let failed = &summary.failed;
    let mut message = format!(
        "{} build(s) could not be deleted ({}): {}",
        failed.len(),
        summary.line(),
        failed
            .iter()
            .take(FAILURES_SHOWN)
            .map(|(id, why)| shorten(&format!("{id}: {why}"), 120))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if failed.len() > FAILURES_SHOWN {
        message.push_str(&format!("; and {} more", failed.len() - FAILURES_SHOWN));
    }
    message
}

/// At most `max` bytes of `text`, cut at a character boundary and marked.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

pub struct Cleanup<H> {
    pub project: String,
    pub retention_days: u32,
    pub dry_run: bool,
    pub history: H,
    /// No page is listed with less time left than this ([`DEFAULT_MARGIN`]).
    pub margin: Duration,
}

impl<H: BuildHistory> Cleanup<H> {
    /// One run at `now` (seconds since the epoch); `time_left` answers how long remains
    /// before the invocation's deadline. Ends in error when any deletion failed, so the
    /// failure shows in the function's error metric; a run that stopped before the deadline
    /// is not an error.
    pub async fn run(&self, now: i64, time_left: impl Fn() -> Duration) -> Result<Summary, CleanupError> {
        let mut summary = Summary {
            dry_run: self.dry_run,
            ..Summary::default()
        };
        let outcome = self.pages(now, &time_left, &mut summary).await;
        summary.kept = summary
            .examined
            .saturating_sub(summary.deleted.len() + summary.failed.len());
        tracing::info!(project = %self.project, "{}", summary.line());
        match outcome {
            Err(error) => Err(CleanupError::Failed { error, summary }),
            Ok(()) if !summary.failed.is_empty() => Err(CleanupError::NotDeleted(summary)),
            Ok(()) => Ok(summary),
        }
    }

    async fn pages(&self, now: i64, time_left: &impl Fn() -> Duration, summary: &mut Summary) -> Result<(), PortError> {
        let retention = i64::from(self.retention_days) * 86_400;
        // Every id listed in this run, and the start time of those read (when known).
        let mut seen: HashSet<String> = HashSet::new();
        let mut started: HashMap<String, Option<i64>> = HashMap::new();
        // The token of the page being listed; `None`: the first page.
        let mut token: Option<String> = None;
        loop {
            if time_left() < self.margin {
                summary.out_of_time = true;
                return Ok(());
            }
            summary.calls += 1;
            let page = self.history.list_page(&self.project, token.as_deref()).await?;
            let new: Vec<String> = page
                .ids
                .iter()
                .filter(|id| seen.insert((*id).clone()))
                .cloned()
                .collect();
            let mut deleted_any = false;
            for chunk in new.chunks(BATCH_LIMIT) {
                summary.calls += 1;
                let records = self.history.get_builds(chunk).await?;
                summary.examined += records.len();
                started.extend(records.iter().map(|r| (r.id.clone(), r.start_time)));
                let due = expired(&records, &self.project, now, retention);
                if self.dry_run {
                    summary.deleted.extend(due);
                } else if !due.is_empty() {
                    summary.calls += 1;
                    deleted_any |= self.delete(&due, summary).await;
                }
            }
            if deleted_any {
                // The page's own token may now point past builds that moved up into it.
                continue;
            }
            let Some(next) = page.next_token else {
                return Ok(());
            };
            let starts: Vec<Option<i64>> = page.ids.iter().filter_map(|id| started.get(id).copied()).collect();
            if page.oldest_first && all_started_after_cutoff(&starts, now, retention) {
                summary.reached_recent = true;
                return Ok(());
            }
            if new.is_empty() && token.as_deref() == Some(next.as_str()) {
                return Err(PortError(format!(
                    "CodeBuild ListBuildsForProject {}: a page with nothing new points to itself",
                    self.project
                )));
            }
            token = Some(next);
        }
    }

    /// Deletes at most 100 builds; true when any was deleted.
    async fn delete(&self, ids: &[String], summary: &mut Summary) -> bool {
        match self.history.delete_builds(ids).await {
            Ok(not_deleted) => {
                let refused: HashSet<&str> = not_deleted.iter().map(|(id, _)| id.as_str()).collect();
                let before = summary.deleted.len();
                summary
                    .deleted
                    .extend(ids.iter().filter(|id| !refused.contains(id.as_str())).cloned());
                summary.failed.extend(not_deleted);
                summary.deleted.len() > before
            }
            // The SDK already retried; record the batch and go on with the rest.
            Err(e) => {
                summary.failed.extend(ids.iter().map(|id| (id.clone(), e.to_string())));
                false
            }
        }
    }
}
