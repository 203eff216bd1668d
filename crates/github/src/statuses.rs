//! Commit statuses: "Create a commit status"
//! (https://docs.github.com/en/rest/commits/statuses#create-a-commit-status),
//! `POST /repos/{owner}/{repo}/statuses/{sha}`, answered `201 Created`. A fine-grained
//! token needs the "Commit statuses" repository permission (read and write), a classic one
//! the `repo:status` scope.

use crate::status::Access;
use crate::{GitHub, JSON, validate};
use dockhand_core::commit_status::CommitStatus;
use dockhand_core::tree::HostError;
use hyper::Method;

/// The most of an answer read: GitHub answers the status it created, a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl GitHub {
    /// Posts `status` on its commit. The repository and commit are checked before any
    /// request is made; 5xx answers and connection failures are retried as every request
    /// is ([`crate::Policy`]); a rate limit is waited out only within
    /// `max_rate_limit_wait`. At least [`crate::Policy::mutation_pause`] passes between
    /// two posts, as GitHub asks of requests that change something.
    pub async fn create_status(&self, status: &CommitStatus) -> Result<(), HostError> {
        let repository = validate::repository(&status.repository)?;
        let sha = validate::object_id("commit", &status.sha)?;
        let url = format!("{}/repos/{repository}/statuses/{sha}", self.api_base());
        self.pause_before_mutation().await;
        self.call_with_body(
            &Method::POST,
            &url,
            JSON,
            MAX_ANSWER_BYTES,
            Access::CommitStatuses,
            &[],
            Some(status.body().as_bytes()),
        )
        .await
        .map(|_| ())
        .map_err(|e| match e {
            HostError::FileTooLarge { path, limit, .. } => {
                HostError::Unavailable(format!("{path} answered more than the {limit} bytes a status takes"))
            }
            other => other,
        })
    }
}
