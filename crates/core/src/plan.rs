//! Planning: a BuildRequest and a Dockerfile index become build jobs and skips.
//!
//! A changed path affects the nearest ancestor directory holding a Dockerfile, the
//! repository root included. Every directory reaches exactly one line of the plan: a
//! build, or a skip that says why not.

use crate::config::Deployment;
use crate::index::{DockerfileIndex, Presence};
use crate::job::{StartBuildRequest, start_build_request};
use crate::naming::image_for;
use crate::request::BuildRequest;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One image to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildJob {
    /// The build context, relative to the repository root ("." for the root).
    pub context: String,
    /// The Dockerfile, relative to the repository root.
    pub dockerfile: String,
    /// The repository pushed to, without a tag.
    pub image: String,
    pub tags: Vec<String>,
    /// The exact StartBuild request the spawner sends.
    pub request: StartBuildRequest,
    /// True when the Dockerfile is assumed by convention rather than known.
    #[serde(skip)]
    pub assumed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub context: String,
    pub reason: String,
    /// True when a person must act (a directory that cannot name an image, a push that
    /// could not be planned); false for the expected (a removed Dockerfile).
    #[serde(skip)]
    pub attention: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PlanEntry {
    Build(Box<BuildJob>),
    Skip(Skip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Known,
    Assumed,
}

/// Plans a request. The result is sorted by context and is a pure function of its inputs.
pub fn plan(request: &BuildRequest, index: &dyn DockerfileIndex, deployment: &Deployment) -> Vec<PlanEntry> {
    if request.repository.private {
        return vec![skip(
            ".",
            true,
            format!(
                "{} is private, and dockhand does not build private repositories yet (the build would need a token to clone it)",
                request.repository.full_name
            ),
        )];
    }
    let mut contexts: BTreeMap<String, Why> = BTreeMap::new();
    let mut skips: BTreeMap<String, String> = BTreeMap::new();
    let mut attention: BTreeSet<String> = BTreeSet::new();
    let changes = &request.changes;

    if changes.is_empty() {
        match index.all() {
            Some(all) if all.is_empty() => {
                skips.insert(
                    ".".into(),
                    format!("{} lists no Dockerfile at this commit", index.describe()),
                );
            }
            Some(all) => contexts.extend(all.into_iter().map(|d| (d, Why::Known))),
            None => {
                attention.insert(".".into());
                skips.insert(
                    ".".into(),
                    format!(
                        "this push names no changed files (a new tag or branch at an existing commit), so every image should be built, but {} cannot list the repository's Dockerfiles; run `dockhand plan --tree` with `git ls-tree -r --name-only {}`",
                        index.describe(),
                        request.commit
                    ),
                );
            }
        }
    }

    for removed in &changes.removed {
        if let Some(dir) = removed
            .strip_suffix("/Dockerfile")
            .or((removed == "Dockerfile").then_some("."))
            && index.presence(dir) != Presence::Present
        {
            skips.insert(dir.to_owned(), "its Dockerfile was removed by this push".into());
        }
    }

    let mut unplaced_root_changes = 0usize;
    let starts = changes
        .paths
        .iter()
        .map(|p| (p.as_str(), p.rsplit_once('/').map_or(".", |(d, _)| d)))
        .chain(changes.directories.iter().map(|d| (d.as_str(), d.as_str())));
    for (origin, dir) in starts {
        if let Err(why) = check_path(origin) {
            skips.insert(dir.to_owned(), format!("the changed path {origin:?} {why}"));
            attention.insert(dir.to_owned());
            continue;
        }
        match nearest(index, dir) {
            Some((found, Presence::Present)) => {
                contexts.insert(found, Why::Known);
            }
            Some((_, _)) => {} // removed here: already a skip
            None => match index.assumed_context(dir) {
                Some(assumed) => {
                    contexts.entry(assumed).or_insert(Why::Assumed);
                }
                // The root's Dockerfile is unknown to this index, not known to be absent.
                None if dir == "." && index.presence(".") == Presence::Unknown => unplaced_root_changes += 1,
                None => {}
            },
        }
    }
    if unplaced_root_changes > 0 && !contexts.contains_key(".") {
        skips.entry(".".into()).or_insert(format!(
            "{unplaced_root_changes} changed file(s) at the repository root, but {} shows no Dockerfile there; if the root has one, plan with the repository tree (`dockhand plan --tree`)",
            index.describe()
        ));
    }

    let mut jobs: Vec<BuildJob> = Vec::new();
    let mut by_image: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (context, why) in contexts {
        if skips.contains_key(&context) {
            continue;
        }
        let image = match image_for(
            &deployment.config.registry,
            &request.repository.name,
            &context,
            &deployment.config.images,
        ) {
            Ok(image) => image,
            Err(reason) => {
                attention.insert(context.clone());
                skips.insert(context, reason);
                continue;
            }
        };
        let dockerfile = if context == "." {
            "Dockerfile".to_owned()
        } else {
            format!("{context}/Dockerfile")
        };
        by_image.entry(image.repository()).or_default().push(context.clone());
        let start = start_build_request(request, deployment, &context, &dockerfile, &image);
        jobs.push(BuildJob {
            image: image.repository(),
            tags: request.tags.clone(),
            context,
            dockerfile,
            request: start,
            assumed: why == Why::Assumed,
        });
    }
    // Two directories must never push over each other's image.
    for (image, clashing) in by_image.iter().filter(|(_, c)| c.len() > 1) {
        for context in clashing {
            let others: Vec<&str> = clashing.iter().filter(|c| *c != context).map(String::as_str).collect();
            attention.insert(context.clone());
            skips.insert(
                context.clone(),
                format!(
                    "its image name {image} is also that of {others:?}; map one of them to another name in `images`"
                ),
            );
        }
        jobs.retain(|j| !clashing.contains(&j.context));
    }

    let mut entries: Vec<(String, PlanEntry)> = jobs
        .into_iter()
        .map(|j| (j.context.clone(), PlanEntry::Build(Box::new(j))))
        .collect();
    entries.extend(skips.into_iter().map(|(context, reason)| {
        let attention = attention.contains(&context);
        (
            context.clone(),
            PlanEntry::Skip(Skip {
                context,
                reason,
                attention,
            }),
        )
    }));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, e)| e).collect()
}

fn skip(context: &str, attention: bool, reason: String) -> PlanEntry {
    PlanEntry::Skip(Skip {
        context: context.to_owned(),
        reason,
        attention,
    })
}

/// The nearest directory at or above `dir` that the index has an answer for.
fn nearest(index: &dyn DockerfileIndex, dir: &str) -> Option<(String, Presence)> {
    let mut current = dir;
    loop {
        match index.presence(current) {
            p @ (Presence::Present | Presence::Removed) => return Some((current.to_owned(), p)),
            Presence::Absent | Presence::Unknown => {}
        }
        if current == "." {
            return None;
        }
        current = current.rsplit_once('/').map_or(".", |(parent, _)| parent);
    }
}

/// A repository path must be relative and clean: no empty, `.` or `..` components.
fn check_path(path: &str) -> Result<(), &'static str> {
    if path == "." {
        return Ok(());
    }
    if path.is_empty() || path.starts_with('/') {
        return Err("is not relative to the repository root");
    }
    if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("has an empty, `.` or `..` component");
    }
    if path.contains('\0') {
        return Err("contains a NUL byte");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
