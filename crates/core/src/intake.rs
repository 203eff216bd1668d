//! The listener's decision: a push becomes a [`BuildRequest`] to publish, or is ignored
//! with the reason. The ref rules give the tags; [`crate::trust`] checks what is published.

use crate::config::Deployment;
use crate::request::{
    BuildRequest, ChangeSource, Changes, HeadCommit, MAX_COMMIT_MESSAGE_BYTES, MAX_REQUEST_BYTES, NetChanges,
    RequestError, SourceRepository, is_commit_id, truncate,
};
use crate::rules::RefDecision;
use crate::trust::{check_delivery, validate};
use crate::webhook::PushEvent;
use std::ops::Deref;

/// GitHub's push webhook lists at most 2048 commits ("The array includes a maximum of 2048
/// commits", https://docs.github.com/en/webhooks/webhook-events-and-payloads#push): a push
/// with this many may have lost some, so its changes are compared instead.
pub const MAX_PUSH_COMMITS: usize = 2048;
/// Each commit's `added`, `modified` and `removed` lists report at most 3000 changed files
/// ("A maximum of 3000 changed files will be reported per commit", same page): a commit
/// listing this many, in its three lists together, may have lost some.
pub const MAX_COMMIT_FILES: usize = 3000;

/// What the listener does with a push: build `B`, a request ([`intake`]) or a request
/// whose changes are not listed yet ([`accept`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake<B = Box<BuildRequest>> {
    Build(B),
    Ignored { reason: String },
}

/// A push accepted for building, its changes folded but not yet listed: see [`NetChanges`].
#[derive(Debug, Clone)]
pub struct Accepted<'a> {
    /// The request but for its changes, which hold only their source.
    pub request: BuildRequest,
    pub changes: NetChanges<'a>,
}

impl Accepted<'_> {
    /// The request with every changed path listed, as [`intake`] gives it.
    pub fn into_request(self) -> BuildRequest {
        let mut request = self.request;
        request.changes = self.changes.to_changes(request.changes.source);
        request
    }

    /// The same as `into_request().encode_for_sns()`, but when the paths alone are more
    /// than a request can carry, they go straight to directories, never copied, sorted or
    /// serialized.
    pub fn encode_for_sns(self) -> Result<(BuildRequest, String), RequestError> {
        if self.changes.min_json_bytes() <= MAX_REQUEST_BYTES {
            return self.into_request().encode_for_sns();
        }
        let mut request = self.request;
        request.changes = self.changes.to_directories(request.changes.source);
        request.encode_reduced()
    }
}

/// Reduces a push to a BuildRequest, or says why it builds nothing. The request is checked
/// with [`crate::trust::validate`], as the spawner checks it again.
pub fn intake<S: Deref<Target = str>>(
    push: &PushEvent<S>,
    delivery: &str,
    deployment: &Deployment,
) -> Result<Intake, RequestError> {
    Ok(match accept(push, delivery, deployment)? {
        Intake::Build(accepted) => {
            let request = accepted.into_request();
            validate(&request, deployment)?;
            Intake::Build(Box::new(request))
        }
        Intake::Ignored { reason } => Intake::Ignored { reason },
    })
}

/// [`intake`], the changes folded but not listed: the listener's, which encodes the request
/// at once with [`Accepted::encode_for_sns`] and checks what it will publish with
/// [`crate::trust::validate`].
pub fn accept<'a, S: Deref<Target = str>>(
    push: &'a PushEvent<S>,
    delivery: &str,
    deployment: &Deployment,
) -> Result<Intake<Box<Accepted<'a>>>, RequestError> {
    check_delivery(delivery)?;
    let config = &deployment.config;
    if !config.builds_repository(&push.repository.full_name) {
        return Ok(Intake::Ignored {
            reason: RequestError::NotListed(push.repository.full_name.chars().take(200).collect()).to_string(),
        });
    }
    if push.deleted {
        return Ok(Intake::Ignored {
            reason: format!("{} was deleted", push.git_ref),
        });
    }
    if !is_commit_id(&push.after) {
        return Err(RequestError::Commit(push.after.chars().take(80).collect()));
    }
    let (tags, fixed_tags) =
        match deployment
            .rules
            .decide(&push.git_ref, push.repository.default_branch.as_deref(), &push.after)
        {
            RefDecision::Build { tags, fixed } => (tags, fixed),
            RefDecision::NotBuilt { reason } => return Ok(Intake::Ignored { reason }),
        };
    // Links GitHub writes in its own form are kept; anything else is dropped, never shown.
    let home = format!("https://{}/{}", config.github_host, push.repository.full_name);
    // No environment variable can carry a NUL (execve's strings end at one): it is
    // dropped from the text that becomes COMMIT_MSG and DOCKHAND_COMMIT_AUTHOR.
    let head_commit = push.head_commit.as_ref().map(|c| HeadCommit {
        message: truncate(&c.message.replace('\0', ""), MAX_COMMIT_MESSAGE_BYTES).to_owned(),
        author: c
            .author
            .as_ref()
            .and_then(|a| a.name.clone().or_else(|| a.username.clone()))
            .map(|a| a.replace('\0', "")),
        url: c
            .url
            .clone()
            .filter(|u| u.strip_prefix(home.as_str()).and_then(|r| r.strip_prefix("/commit/")) == Some(c.id.as_str())),
        timestamp: c.timestamp.clone(),
    });
    let r = &push.repository;
    let request = BuildRequest {
        delivery: delivery.to_owned(),
        repository: SourceRepository {
            name: r.name.clone(),
            full_name: r.full_name.clone(),
            clone_url: r.clone_url.clone(),
            html_url: r.html_url.clone().filter(|u| *u == home),
            private: r.private,
            default_branch: r.default_branch.clone(),
        },
        git_ref: push.git_ref.clone(),
        commit: push.after.clone(),
        tags,
        fixed_tags,
        // A push never bypasses the record of pushed images; a scheduled refresh may.
        rebuild: false,
        trigger: None,
        head_commit,
        pusher: push.pusher.as_ref().map(|p| p.name.clone()),
        changes: Changes {
            source: change_source(push)?,
            ..Changes::default()
        },
    };
    Ok(Intake::Build(Box::new(Accepted {
        request,
        changes: NetChanges::of(&push.commits),
    })))
}

/// Where a push's complete changes come from; see [`ChangeSource`].
fn change_source<S>(push: &PushEvent<S>) -> Result<ChangeSource, RequestError> {
    if !push.before.is_empty() && push.before.bytes().all(|b| b == b'0') {
        return Ok(ChangeSource::NewRef);
    }
    if !is_commit_id(&push.before) {
        return Err(RequestError::Before(push.before.chars().take(80).collect()));
    }
    let capped = push.commits.len() >= MAX_PUSH_COMMITS
        || push
            .commits
            .iter()
            .any(|c| c.added.len() + c.modified.len() + c.removed.len() >= MAX_COMMIT_FILES);
    // A commit that names no files (an empty commit, or a merge, whose own changes the
    // payload does not list) leaves the commit list's account incomplete: only a
    // comparison tells what the push changed.
    let names_no_files = push.commits.is_empty()
        || push
            .commits
            .iter()
            .any(|c| c.added.is_empty() && c.modified.is_empty() && c.removed.is_empty());
    Ok(if push.forced || names_no_files || capped {
        ChangeSource::Compare {
            base: push.before.clone(),
        }
    } else {
        ChangeSource::Commits
    })
}

#[cfg(test)]
mod tests;
