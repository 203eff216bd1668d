//! A stand-in for "Create a commit status"
//! (https://docs.github.com/en/rest/commits/statuses#create-a-commit-status):
//! `POST /repos/{owner}/{repo}/statuses/{sha}` with a JSON body
//! `{"state", "target_url", "description", "context"}`, answered as GitHub answers it:
//!
//! - `201 Created` with the status (`id`, `url`, `state`, `description`, `target_url`,
//!   `context`, `created_at`, `updated_at`, `creator`), kept for the test to read
//!   ([`crate::FakeGitHub::statuses`]);
//! - `400 Problems parsing JSON` for a body that is not a JSON object;
//! - `422 Validation Failed` for a `state` other than `error`, `failure`, `pending` or
//!   `success` (the one required field), a `description` longer than 140 characters, a
//!   `target_url` that is not an http(s) URL, fields of the wrong type, and past the
//!   documented limit of 1000 statuses per `sha` and `context`;
//! - `422 No commit found for SHA: …` for a commit the repository does not have;
//! - `404 Not Found` for another repository;
//! - on request ([`crate::FakeGitHub::fail_statuses`]), the next posts answered `403
//!   Resource not accessible by personal access token` (with `X-Accepted-GitHub-Permissions:
//!   statuses=write`, as a token without "Commit statuses: read and write" gets) or a 5xx.

use crate::{Answer, Git, RequestUrl, unix_now};
use serde_json::{Value, json};
use std::collections::VecDeque;

const DOCS_STATUSES: &str = "https://docs.github.com/rest/commits/statuses#create-a-commit-status";
/// "There is a limit of 1000 statuses per sha and context within a repository."
const STATUSES_PER_CONTEXT: usize = 1000;
/// GitHub: "description is too long (maximum is 140 characters)".
const MAX_DESCRIPTION: usize = 140;

/// One status the stand-in accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedStatus {
    /// `owner/name` as the URL named it.
    pub repository: String,
    /// The full commit id it was posted on.
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
}

/// What the stand-in holds of commit statuses: every one accepted, and the failures still
/// to answer.
#[derive(Debug, Default)]
pub(crate) struct StatusBook {
    pub(crate) posted: Vec<PostedStatus>,
    pub(crate) failures: VecDeque<u16>,
}

/// Answers `POST url` with `body`, for the served `repository` at `base`.
pub(crate) fn create(book: &mut StatusBook, repository: &str, base: &str, git: &Git, url: &str, body: &[u8]) -> Answer {
    let Some(request) = RequestUrl::parse(url) else {
        return Answer::not_found();
    };
    let segments = request.segments();
    let ["repos", owner, name, "statuses", sha] = segments[..] else {
        return Answer::not_found();
    };
    if !format!("{owner}/{name}").eq_ignore_ascii_case(repository) {
        return Answer::not_found();
    }
    if let Some(status) = book.failures.pop_front() {
        return failure(status);
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Answer::error(400, "Problems parsing JSON");
    };
    let text = |field: &str| match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, &format!("{field} is not a string"))),
    };
    let state = match text("state") {
        Ok(Some(s)) if ["error", "failure", "pending", "success"].contains(&s.as_str()) => s,
        Ok(_) => return invalid("state", "state is not included in the list"),
        Err(answer) => return answer,
    };
    let (description, target_url, context) = match (text("description"), text("target_url"), text("context")) {
        (Ok(d), Ok(t), Ok(c)) => (d, t, c.unwrap_or_else(|| "default".into())),
        (Err(a), _, _) | (_, Err(a), _) | (_, _, Err(a)) => return a,
    };
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return invalid(
            "description",
            &format!("description is too long (maximum is {MAX_DESCRIPTION} characters)"),
        );
    }
    let plain_url = |u: &str| {
        (u.starts_with("https://") || u.starts_with("http://"))
            && !u.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if target_url.as_deref().is_some_and(|u| !plain_url(u)) {
        return invalid("target_url", "target_url is not a valid URL");
    }
    let Some(commit) = git.resolve(sha, "commit") else {
        return Answer::error(422, &format!("No commit found for SHA: {sha}"));
    };
    let same = book
        .posted
        .iter()
        .filter(|p| p.sha == commit && p.context.eq_ignore_ascii_case(&context))
        .count();
    if same >= STATUSES_PER_CONTEXT {
        return invalid(
            "context",
            "This SHA and context has reached the maximum number of statuses.",
        );
    }
    let status = PostedStatus {
        repository: format!("{owner}/{name}"),
        sha: commit.clone(),
        state,
        context,
        description,
        target_url,
    };
    book.posted.push(status.clone());
    let id = book.posted.len();
    let now = dockhand_core::time::rfc3339(unix_now() as i64);
    Answer::json(
        201,
        json!({
            "url": format!("{base}/repos/{repository}/statuses/{commit}"),
            "avatar_url": null,
            "id": id,
            "node_id": format!("SC_fake{id}"),
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": now,
            "updated_at": now,
            "creator": { "login": "dockhand-bot", "id": 1, "type": "User" },
        }),
    )
}

/// GitHub's `422 Validation Failed`, naming the field.
fn invalid(field: &str, message: &str) -> Answer {
    Answer::json(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [{ "resource": "Status", "code": "custom", "field": field, "message": message }],
            "documentation_url": DOCS_STATUSES,
            "status": "422",
        }),
    )
}

/// An injected failure: 403 as for a token without the permission, anything else with
/// GitHub's message for it.
fn failure(status: u16) -> Answer {
    if status == 403 {
        let mut answer = Answer::json(
            403,
            json!({
                "message": "Resource not accessible by personal access token",
                "documentation_url": DOCS_STATUSES,
                "status": "403",
            }),
        );
        answer.headers = vec![("X-Accepted-GitHub-Permissions".into(), "statuses=write".into())];
        return answer;
    }
    let message = match status {
        500 => "Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    Answer::error(status, message)
}
