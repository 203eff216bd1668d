//! Trust boundaries: what a BuildRequest may say, checked by one function at both ends of
//! the build-requests topic. The listener checks what it built from a signed push; the
//! spawner checks again what it reads from the topic, because a message there is only as
//! trustworthy as everything that can publish to it.
//!
//! A valid request names a repository the deployment builds, the one clone URL that
//! repository has on the deployment's Git host, a branch or tag ref, full commit ids,
//! clean repository-relative paths, and exactly the tags the ref rules give its ref.

use crate::config::{Deployment, is_github_name};
use crate::request::{BuildRequest, ChangeSource, MAX_COMMIT_MESSAGE_BYTES, OrderKind, RequestError, is_commit_id};
use crate::rules::RefDecision;

/// The longest ref, path or URL a request may carry: far beyond any real one.
const MAX_TEXT: usize = 4096;

/// Checks a request against the deployment; the error says which part is wrong.
pub fn validate(request: &BuildRequest, deployment: &Deployment) -> Result<(), RequestError> {
    let config = &deployment.config;
    check_delivery(&request.delivery)?;
    let repo = &request.repository;
    check_full_name(&repo.full_name, &repo.name)?;
    if !config.builds_repository(&repo.full_name) {
        return Err(RequestError::NotListed(repo.full_name.clone()));
    }
    let expected = config.clone_url(&repo.full_name);
    if repo.clone_url != expected {
        return Err(RequestError::CloneUrl {
            url: shorten(&repo.clone_url),
            expected,
        });
    }
    let home = format!("https://{}/{}", config.github_host, repo.full_name);
    if let Some(html) = &repo.html_url
        && *html != home
    {
        return Err(RequestError::Url {
            field: "repository.html_url",
            url: shorten(html),
            expected: home,
        });
    }
    check_ref(&request.git_ref)?;
    if let Some(branch) = &repo.default_branch {
        check_ref(&format!("refs/heads/{branch}"))?;
    }
    if !is_commit_id(&request.commit) {
        return Err(RequestError::Commit(shorten(&request.commit)));
    }
    if let ChangeSource::Compare { base } = &request.changes.source
        && !is_commit_id(base)
    {
        return Err(RequestError::Before(shorten(base)));
    }
    if let Some(head) = &request.head_commit {
        if head.message.len() > MAX_COMMIT_MESSAGE_BYTES {
            return Err(RequestError::Field {
                field: "head_commit.message",
                why: format!("is longer than {MAX_COMMIT_MESSAGE_BYTES} bytes"),
            });
        }
        if let Some(url) = &head.url
            && !is_commit_url(url, &home)
        {
            return Err(RequestError::Url {
                field: "head_commit.url",
                url: shorten(url),
                expected: format!("{home}/commit/<commit id>"),
            });
        }
    }
    let changes = &request.changes;
    for path in changes.paths.iter().chain(&changes.removed).chain(&changes.directories) {
        if let Err(why) = check_path(path) {
            return Err(RequestError::Path {
                path: shorten(path),
                why,
            });
        }
    }
    // The tags are the rules' to decide, never the message's; a refresh adds the
    // deployment's dated tag.
    match deployment
        .rules
        .decide(&request.git_ref, repo.default_branch.as_deref(), &request.commit)
    {
        RefDecision::Build { mut tags, mut fixed } => {
            if let Some(tag) = refresh_tag_of(request, deployment)? {
                for list in [&mut tags, &mut fixed] {
                    if !list.contains(&tag) {
                        list.push(tag.clone());
                    }
                }
            }
            if tags == request.tags && fixed == request.fixed_tags {
                return Ok(());
            }
            Err(RequestError::Tags(format!(
                "the request's tags {:?} (fixed {:?}) are not the {:?} (fixed {:?}) the ref rules give {}",
                request.tags, request.fixed_tags, tags, fixed, request.git_ref
            )))
        }
        RefDecision::NotBuilt { reason } => Err(RequestError::Tags(format!(
            "the ref rules build nothing for it: {reason}"
        ))),
    }
}

/// The dated tag a scheduled refresh's request carries (`refresh.tag` rendered for the
/// order's day and commit), if the request is a refresh's and the deployment has one.
pub fn refresh_tag_of(request: &BuildRequest, deployment: &Deployment) -> Result<Option<String>, RequestError> {
    let Some(trigger) = request.trigger.as_ref().filter(|t| t.kind == OrderKind::Refresh) else {
        return Ok(None);
    };
    let Some(template) = deployment.config.refresh.as_ref().and_then(|r| r.tag.as_deref()) else {
        return Ok(None);
    };
    crate::config::refresh_tag(template, &crate::time::utc_date(trigger.at), &request.commit)
        .map(Some)
        .map_err(|why| RequestError::Tags(format!("the refresh tag: {why}")))
}

/// `X-GitHub-Delivery`: 1-100 letters, digits and dashes (GitHub sends a GUID).
pub fn check_delivery(delivery: &str) -> Result<(), RequestError> {
    if delivery.is_empty() || delivery.len() > 100 || !delivery.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(RequestError::Delivery(delivery.chars().take(120).collect()));
    }
    Ok(())
}

/// `owner/name` with GitHub's characters, and `name` its second half.
fn check_full_name(full_name: &str, name: &str) -> Result<(), RequestError> {
    let part = is_github_name;
    match full_name.split_once('/') {
        Some((owner, n)) if part(owner) && part(n) && n == name => Ok(()),
        _ => Err(RequestError::Field {
            field: "repository.full_name",
            why: format!(
                "{:?} with name {:?} is not owner/name (letters, digits, . _ -) ending in the name",
                shorten(full_name),
                shorten(name)
            ),
        }),
    }
}

/// A branch or tag ref as `git check-ref-format` accepts it, short of the rules no push can
/// break: `refs/heads/` or `refs/tags/`, then `/`-separated components that are not empty,
/// do not start with `.` or end with `.lock`, without `..`, `@{`, ASCII controls, space or
/// any of `~^:?*[\`, and not ending in `/` or `.`.
pub fn check_ref(git_ref: &str) -> Result<(), RequestError> {
    let bad = |why: &str| {
        Err(RequestError::Ref {
            git_ref: shorten(git_ref),
            why: why.to_owned(),
        })
    };
    let Some(name) = git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"))
    else {
        return bad("is not a branch (refs/heads/…) or a tag (refs/tags/…)");
    };
    if git_ref.len() > MAX_TEXT {
        return bad("is too long");
    }
    if name.is_empty() || name.ends_with('/') || name.ends_with('.') || name == "@" {
        return bad("has an empty name, or ends with / or .");
    }
    if name.contains("..") || name.contains("@{") {
        return bad("contains .. or @{");
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == ' ' || "~^:?*[\\".contains(c))
    {
        return bad("contains a control character, a space or one of ~^:?*[\\");
    }
    if name
        .split('/')
        .any(|c| c.is_empty() || c.starts_with('.') || c.ends_with(".lock"))
    {
        return bad("has an empty component, or one starting with . or ending with .lock");
    }
    Ok(())
}

/// A repository-relative path ("." for the root): no leading `/`, no empty, `.` or `..`
/// component, no NUL, within a sane length.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if path == "." {
        return Ok(());
    }
    if path.is_empty() || path.starts_with('/') {
        return Err("is not relative to the repository root");
    }
    if path.len() > MAX_TEXT {
        return Err("is longer than any repository path");
    }
    if path.contains('\0') {
        return Err("contains a NUL byte");
    }
    if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("has an empty, `.` or `..` component");
    }
    Ok(())
}

/// `<home>/commit/<full commit id>`, as GitHub writes `head_commit.url`.
fn is_commit_url(url: &str, home: &str) -> bool {
    url.strip_prefix(home)
        .and_then(|rest| rest.strip_prefix("/commit/"))
        .is_some_and(is_commit_id)
}

/// A bounded copy of untrusted text for an error message.
fn shorten(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests;
