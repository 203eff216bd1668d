//! Planning: a BuildRequest and a Dockerfile index become build jobs and skips.
//!
//! A changed path affects the nearest ancestor directory holding a Dockerfile, the
//! repository root included. Every directory reaches exactly one line of the plan: a
//! build, or a skip that says why not.
//!
//! The request's changes must be complete: a `Compare` request is resolved by the caller
//! (the host's comparison, `Changes::from_changed_files`) before planning. If it is not,
//! the paths the payload named are planned, and a request naming none is a skip a person
//! must look at. A `NewRef` request builds every Dockerfile the index can list.

use crate::config::Deployment;
use crate::index::{DockerfileIndex, Presence};
use crate::naming::image_and_tags;
use crate::repo_config::{REPO_CONFIG_PATH, RepoConfig, RepoConfigError};
use crate::request::{BuildRequest, ChangeSource};
use crate::rules::{is_default_branch, is_reserved_tag, reserved_reason};
use crate::start_build::{StartBuildRequest, Target, start_build_request};
use crate::trust::check_path;
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
    /// Every tag pushed, after the naming preset and `.dockhand.yml`'s extra tags.
    pub tags: Vec<String>,
    /// The build's key: what makes it start once ([`crate::start_build::build_key`]).
    pub key: String,
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
///
/// `repo` is the repository's `.dockhand.yml` at the pushed commit as the caller read it
/// (`RepoConfig::from_file`; `Ok(&RepoConfig::default())` when there is none). An invalid
/// file builds nothing: the plan is one skip that names the file and the error.
pub fn plan(
    request: &BuildRequest,
    index: &dyn DockerfileIndex,
    deployment: &Deployment,
    repo: Result<&RepoConfig, &RepoConfigError>,
) -> Vec<PlanEntry> {
    if request.repository.private && deployment.config.github_token_parameter.is_none() {
        return vec![skip(
            ".",
            true,
            format!(
                "{} is private, and the build needs a token to clone it: put a GitHub token that can read the repository (fine-grained: Contents read-only) in an SSM SecureString and set `github_token_parameter` to its name in the deployment configuration",
                request.repository.full_name
            ),
        )];
    }
    let repo = match repo {
        Ok(repo) => repo,
        Err(e) => {
            return vec![skip(
                ".",
                true,
                format!("{e}. Nothing was built: fix {REPO_CONFIG_PATH} and push again"),
            )];
        }
    };
    let mut contexts: BTreeMap<String, Why> = BTreeMap::new();
    let mut skips: BTreeMap<String, String> = BTreeMap::new();
    let mut attention: BTreeSet<String> = BTreeSet::new();
    let changes = &request.changes;
    let ignored = |dir: &str| format!("changes under {dir} are ignored ({REPO_CONFIG_PATH} `ignore`)");

    // Every image: a new branch or tag.
    let everything = matches!(changes.source, ChangeSource::NewRef);
    if changes.source == ChangeSource::Commits && changes.is_empty() {
        return vec![skip(
            ".",
            false,
            format!(
                "this push changes no files at {} (an empty commit, or a merge that changed nothing): nothing to build",
                request.commit
            ),
        )];
    }
    let mut plan_paths = true;
    if everything {
        match index.all() {
            Some(all) if all.is_empty() => {
                plan_paths = false;
                skips.insert(
                    ".".into(),
                    format!("{} lists no Dockerfile at this commit", index.describe()),
                );
            }
            Some(all) => {
                plan_paths = false;
                for dir in all {
                    match repo.ignored(&dir) {
                        Some(ignore) => {
                            skips.insert(dir.clone(), ignored(ignore));
                        }
                        None => {
                            contexts.insert(dir, Why::Known);
                        }
                    }
                }
            }
            // Not listable: the paths the payload named, if any, are planned below.
            None if !changes.is_empty() => {}
            None => {
                attention.insert(".".into());
                skips.insert(
                    ".".into(),
                    format!(
                        "this push is a new branch or tag, so every image should be built, but {} cannot list the repository's Dockerfiles; run `dockhand plan --tree` with `git ls-tree -r {}`",
                        index.describe(),
                        request.commit
                    ),
                );
            }
        }
    }
    if let ChangeSource::Compare { base } = &changes.source
        && changes.is_empty()
    {
        attention.insert(".".into());
        skips.insert(
            ".".into(),
            format!(
                "this push's commit list is empty, capped or rewritten (a forced push), so its changes must be compared from {base} to {}, and they were not; run `dockhand plan --changes` with `git diff --name-status -M {base} {}`",
                request.commit, request.commit
            ),
        );
    }

    if plan_paths {
        plan_changed_paths(request, index, repo, &mut contexts, &mut skips, &mut attention);
    }

    let config = &deployment.config;
    let on_default_branch = is_default_branch(&request.git_ref, request.repository.default_branch.as_deref());
    if !repo.tags.is_empty() {
        let refused = if !config.repository_tags {
            Some(format!(
                "{REPO_CONFIG_PATH} adds the image tags {:?}, and this deployment does not let repositories add tags (`repository_tags` is off): nothing was built; remove `tags` from {REPO_CONFIG_PATH}, or set `repository_tags: true` in the deployment configuration",
                repo.tags
            ))
        } else {
            repo.tags
                .iter()
                .find(|t| is_reserved_tag(t) && !on_default_branch)
                .map(|t| {
                    format!(
                        "{REPO_CONFIG_PATH} adds the tag {}",
                        reserved_reason(&request.git_ref, t, request.repository.default_branch.as_deref())
                    )
                })
        };
        if let Some(reason) = refused {
            return vec![skip(".", true, reason)];
        }
    }
    let naming = repo.naming.unwrap_or(config.naming);
    let tags: Vec<String> = request.tags.iter().chain(&repo.tags).cloned().collect();
    let fixed: Vec<String> = request
        .fixed_tags
        .iter()
        .filter(|t| request.tags.contains(t))
        .cloned()
        .collect();
    let name = |context: &str, tags: &[String]| {
        image_and_tags(
            naming,
            &config.registry,
            &request.repository.name,
            context,
            &config.images,
            tags,
        )
    };
    let build_args = repo.build_args_env();
    let mut jobs: Vec<BuildJob> = Vec::new();
    // (image, tag) → the directories that would push it: every Dockerfile directory of the
    // tree when the index can list them, so a directory this push did not change still
    // owns what it pushes; the planned ones otherwise.
    let mut pushed: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for dir in index.all().unwrap_or_default() {
        if let Ok((image, tags)) = name(&dir, &tags) {
            let repository = image.repository();
            for tag in tags {
                pushed.entry((repository.clone(), tag)).or_default().insert(dir.clone());
            }
        }
    }
    for (context, why) in contexts {
        if skips.contains_key(&context) {
            continue;
        }
        let (image, tags) = match name(&context, &tags) {
            Ok(named) => named,
            Err(reason) => {
                attention.insert(context.clone());
                skips.insert(context, reason);
                continue;
            }
        };
        if !on_default_branch && let Some(tag) = tags.iter().find(|t| is_reserved_tag(t)) {
            attention.insert(context.clone());
            skips.insert(
                context,
                reserved_reason(&request.git_ref, tag, request.repository.default_branch.as_deref()),
            );
            continue;
        }
        // The same naming applied to the tags that name the commit: those never move.
        let fixed_tags = name(&context, &fixed).map(|(_, t)| t).unwrap_or_default();
        let moving_tags: Vec<String> = tags.iter().filter(|t| !fixed_tags.contains(t)).cloned().collect();
        let dockerfile = if context == "." {
            "Dockerfile".to_owned()
        } else {
            format!("{context}/Dockerfile")
        };
        for tag in &tags {
            pushed
                .entry((image.repository(), tag.clone()))
                .or_default()
                .insert(context.clone());
        }
        let target = Target {
            context: &context,
            dockerfile: &dockerfile,
            image: &image,
            tags: &tags,
            moving_tags: &moving_tags,
            build_args: &build_args,
        };
        let start = start_build_request(request, deployment, &target);
        jobs.push(BuildJob {
            image: image.repository(),
            key: start.idempotency_token.clone(),
            tags,
            context,
            dockerfile,
            request: start,
            assumed: why == Why::Assumed,
        });
    }
    // Two directories must never push over each other's image and tag, whether or not the
    // other one changed in this push.
    let planned: BTreeSet<&str> = jobs.iter().map(|j| j.context.as_str()).collect();
    let mut clashes: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for ((image, tag), clashing) in pushed.iter().filter(|(_, c)| c.len() > 1) {
        for context in clashing.iter().filter(|c| planned.contains(c.as_str())) {
            let entry = clashes
                .entry(context.clone())
                .or_insert_with(|| (format!("{image}:{tag}"), BTreeSet::new()));
            entry.1.extend(clashing.iter().filter(|c| *c != context).cloned());
        }
    }
    for (context, (reference, others)) in &clashes {
        let others: Vec<&String> = others.iter().collect();
        attention.insert(context.clone());
        skips.insert(
            context.clone(),
            format!(
                "it would push {reference}, as would {others:?} in this repository; map one of them to another name in `images`, or rename a directory"
            ),
        );
    }
    jobs.retain(|j| !clashes.contains_key(&j.context));

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

/// The directories the changed paths affect, by the nearest-ancestor rule.
fn plan_changed_paths(
    request: &BuildRequest,
    index: &dyn DockerfileIndex,
    repo: &RepoConfig,
    contexts: &mut BTreeMap<String, Why>,
    skips: &mut BTreeMap<String, String>,
    attention: &mut BTreeSet<String>,
) {
    let changes = &request.changes;
    let ignored = |dir: &str| format!("changes under {dir} are ignored ({REPO_CONFIG_PATH} `ignore`)");
    // A removed Dockerfile's directory is not built; its remaining files now belong to the
    // nearest ancestor with a Dockerfile, which the removal itself marks as changed below.
    for removed in &changes.removed {
        if let Some(dir) = removed
            .strip_suffix("/Dockerfile")
            .or((removed == "Dockerfile").then_some("."))
            && index.presence(dir) != Presence::Present
            && repo.ignored(removed).is_none()
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
        if let Some(ignore) = repo.ignored(origin) {
            skips.entry(ignore.to_owned()).or_insert_with(|| ignored(ignore));
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

#[cfg(test)]
mod tests;
