//! The re-tag job: the images of one push whose key was pushed before
//! ([`crate::image_key`]) are given their tags by one short CodeBuild build, which copies
//! each image's key tag to its tags (`docker buildx imagetools create`: a registry-side
//! copy, the same digest) instead of building it again.
//!
//! The images travel in one environment variable, [`RETAG_VARIABLE`]: one line per image,
//! `repository TAB key tag TAB tags TAB moving tags` (tags comma-separated). Every field is
//! checked here so that bash's `IFS=$'\t' read -r` gives back exactly these fields: no
//! tab, newline, comma or anything but a registry's and Docker's own characters.
//!
//! CodeBuild documents no length limit for an environment variable's value
//! (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_EnvironmentVariable.html);
//! what bounds it is the builds queue's message (256 KiB, [`crate::queue::SEND_BATCH_BYTES`])
//! and Linux, which refuses any one environment string over 128 KiB (MAX_ARG_STRLEN). A
//! push re-tagging more than [`MAX_RETAG_BYTES`] of lines gets several re-tag jobs.

use crate::config::{Deployment, Registry};
use crate::docker_ref::validate_tag;
use crate::image_key::is_key_tag;
use crate::plan::{Action, BuildJob, PlanEntry};
use crate::request::BuildRequest;
use crate::start_build::{
    BUILD_KEY_VARIABLE, StartBuildRequest, credential_names, overrides, push_key, push_variables, source_variables,
};
use std::collections::HashSet;

/// The environment variable holding the re-tag job's lines.
pub const RETAG_VARIABLE: &str = "DOCKHAND_RETAG";
/// The most bytes of lines one re-tag job carries: a quarter of a queue message, well
/// under Linux's 128 KiB for one environment string.
pub const MAX_RETAG_BYTES: usize = 64 * 1024;
/// A re-tag job copies manifests and runs no Dockerfile: a few minutes at most.
pub const RETAG_TIMEOUT_MINUTES: u32 = 15;

/// One image of a re-tag job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetagLine {
    /// `registry/path`, no tag.
    pub repository: String,
    /// The tag its earlier build pushed under its key: the source of the copy.
    pub key_tag: String,
    pub tags: Vec<String>,
    /// The subset of `tags` moved only while the ref still points at the commit.
    pub moving_tags: Vec<String>,
}

impl RetagLine {
    pub fn of(job: &BuildJob) -> Self {
        RetagLine {
            repository: job.image.clone(),
            key_tag: job.key_tag(),
            tags: job.tags.clone(),
            moving_tags: job.moving_tags.clone(),
        }
    }

    /// The line, checked: `None` if a field holds anything the job's `read` could split.
    pub fn line(&self) -> Result<String, String> {
        check_repository(&self.repository)?;
        if !is_key_tag(&self.key_tag) {
            return Err(format!("{:?} is not a key tag", self.key_tag));
        }
        if self.tags.is_empty() {
            return Err(format!("{} has no tag to give", self.repository));
        }
        for tag in self.tags.iter().chain(&self.moving_tags) {
            validate_tag(tag).map_err(|why| format!("the tag {tag:?} {why}"))?;
        }
        if let Some(m) = self.moving_tags.iter().find(|m| !self.tags.contains(m)) {
            return Err(format!("the moving tag {m:?} is not one of the tags"));
        }
        Ok(format!(
            "{}\t{}\t{}\t{}",
            self.repository,
            self.key_tag,
            self.tags.join(","),
            self.moving_tags.join(",")
        ))
    }

    /// Reads one line back (the notifier's view of a re-tag job), checked as it was written.
    pub fn parse(line: &str) -> Result<Self, String> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [repository, key, tags, moving] = fields[..] else {
            return Err(format!("{line:?} is not four tab-separated fields"));
        };
        let list = |s: &str| -> Vec<String> { s.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect() };
        let parsed = RetagLine {
            repository: repository.to_owned(),
            key_tag: key.to_owned(),
            tags: list(tags),
            moving_tags: list(moving),
        };
        parsed.line()?;
        Ok(parsed)
    }
}

/// `registry/path` as dockhand names images: a host (letters, digits, `.`, `-`, a port)
/// and a lowercase path of Docker's characters. Nothing else, so a tab, a comma, a newline
/// or a quote never reaches the job's `read`.
pub fn check_repository(repository: &str) -> Result<(), String> {
    let bad = || Err(format!("{repository:?} is not a registry/repository name"));
    let Some((host, path)) = repository.split_once('/') else {
        return bad();
    };
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if !host_ok {
        return bad();
    }
    crate::docker_ref::validate_repository_path(path).map_err(|why| format!("{repository:?}: {why}"))
}

/// The items a plan's lookup reads ([`crate::ports::ImageRecords::recorded`]): the record
/// of each image that may be re-tagged, and its build's key. An image whose build this push
/// already claimed (a redelivery, a replay) stays a build, which then starts nothing: a
/// push is re-tagged at most once, and never instead of its own build.
pub fn lookup_keys(entries: &[PlanEntry]) -> Vec<String> {
    candidates(entries)
        .flat_map(|job| [job.record_key(), job.key.clone()])
        .collect()
}

fn candidates(entries: &[PlanEntry]) -> impl Iterator<Item = &BuildJob> {
    entries.iter().filter_map(|e| match e {
        PlanEntry::Build(job) if job.reusable => Some(&**job),
        _ => None,
    })
}

/// Marks as re-tags the images whose key is `recorded` as pushed, and whose own build is
/// not: answers how many.
pub fn mark_retags(entries: &mut [PlanEntry], recorded: &HashSet<String>) -> usize {
    let mut marked = 0;
    for entry in entries {
        if let PlanEntry::Build(job) = entry
            && job.reusable
            && recorded.contains(&job.record_key())
            && !recorded.contains(&job.key)
            && RetagLine::of(job).line().is_ok()
        {
            job.retag();
            marked += 1;
        }
    }
    marked
}

/// The re-tag jobs of a plan: every image marked a re-tag, in as few jobs as
/// [`MAX_RETAG_BYTES`] allows (one, but for hundreds of images), each with its lines.
pub fn retag_jobs(
    request: &BuildRequest,
    deployment: &Deployment,
    entries: &[PlanEntry],
) -> Vec<(StartBuildRequest, Vec<RetagLine>)> {
    let images: Vec<(RetagLine, String)> = entries
        .iter()
        .filter_map(|e| match e {
            PlanEntry::Build(job) if matches!(job.action, Action::Retag { .. }) => {
                let image = RetagLine::of(job);
                image.line().ok().map(|line| (image, line))
            }
            _ => None,
        })
        .collect();
    let lines: Vec<String> = images.iter().map(|(_, l)| l.clone()).collect();
    let mut images = images.into_iter();
    groups(&lines)
        .into_iter()
        .map(|group| {
            let of_group: Vec<RetagLine> = images.by_ref().take(group.len()).map(|(i, _)| i).collect();
            (retag_request(request, deployment, &group.join("\n")), of_group)
        })
        .collect()
}

/// Every lines of a push's re-tags, in groups of at most [`MAX_RETAG_BYTES`], in order.
pub fn groups(lines: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut bytes = 0;
    for line in lines {
        if out.is_empty() || bytes + line.len() + 1 > MAX_RETAG_BYTES {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += line.len() + 1;
        out.last_mut().expect("a group").push(line.clone());
    }
    out
}

/// The key of a re-tag job: the push (repository, ref, commit), its lines and the
/// deployment, like a build's key ([`crate::start_build::build_key`]): a redelivered push
/// re-tags once.
pub fn retag_key(request: &BuildRequest, lines: &str, deployment: &Deployment) -> String {
    push_key("dockhand-retag-v1", request, lines, deployment)
}

/// The StartBuild request of one re-tag job over `lines` (checked, joined by newlines).
pub fn retag_request(request: &BuildRequest, deployment: &Deployment, lines: &str) -> StartBuildRequest {
    let config = &deployment.config;
    let key = retag_key(request, lines, deployment);
    let registry_host = match &config.registry {
        Registry::DockerHub { .. } => "docker.io".to_owned(),
        Registry::Generic { host, .. } => host.clone(),
        Registry::Ecr { registry, .. } => registry.clone(),
    };
    let mut env: Vec<(&str, String)> = source_variables(request).into();
    env.extend([
        ("DOCKHAND_DELIVERY", request.delivery.clone()),
        (BUILD_KEY_VARIABLE, key.clone()),
        ("DOCKHAND_REGISTRY", registry_host),
    ]);
    env.extend(push_variables(request));
    env.push((RETAG_VARIABLE, lines.to_owned()));
    env.extend(credential_names(config));
    StartBuildRequest {
        project_name: config.project.clone(),
        source_type_override: "NO_SOURCE".into(),
        buildspec_override: crate::buildspec::render_retag_for(config),
        environment_variables_override: overrides(env),
        idempotency_token: key,
        // The smallest compute: nothing is built.
        compute_type_override: crate::config::DEFAULT_COMPUTE_TYPE.into(),
        timeout_in_minutes_override: RETAG_TIMEOUT_MINUTES,
        // `docker login` asks the Docker daemon, which CodeBuild runs in privileged mode only.
        privileged_mode_override: true,
    }
}

/// The lines of a re-tag job's [`RETAG_VARIABLE`], each checked.
pub fn parse_lines(value: &str) -> Result<Vec<RetagLine>, String> {
    value.lines().map(RetagLine::parse).collect()
}

#[cfg(test)]
mod tests;
