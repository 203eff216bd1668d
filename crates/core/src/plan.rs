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
use crate::dockerfile::Parsed;
use crate::graph::{Graph, Node};
use crate::image_key::{Context as KeyContext, ImageInputs, image_key};
use crate::index::{DockerfileIndex, Presence};
use crate::naming::{ImageName, image_and_tags};
use crate::repo_config::{REPO_CONFIG_PATH, Rebuild, RepoConfig, RepoConfigError};
use crate::request::{BuildRequest, ChangeSource};
use crate::rules::{is_default_branch, is_reserved_tag, reserved_reason};
use crate::start_build::{StartBuildRequest, Target, start_build_request};
use crate::tree::{directory_of, dockerfile_dir, dockerfile_of};
use crate::trust::check_path;
use serde::Serialize;
use std::collections::btree_map::Entry;
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
    /// Built, or given its tags by the push's re-tag job because its key was pushed before.
    pub action: Action,
    /// The build's key: what makes it start once ([`crate::start_build::build_key`]).
    pub key: String,
    /// What the image is made of ([`crate::image_key`]).
    pub image_key: String,
    /// Why it is built when nothing of its own changed: the base image that did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
    /// The directories of this push it is built after: each must push its image first,
    /// and this build uses the very image each pushed (`crate::waves::sequence` sets it).
    pub after: Vec<String>,
    /// What a person should know about how its Dockerfile was read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The exact StartBuild request the spawner sends for a build.
    pub request: StartBuildRequest,
    /// The tags that move with the ref: a re-tag moves them only while the ref still
    /// points at the commit, as a build does.
    #[serde(skip)]
    pub moving_tags: Vec<String>,
    /// True when the Dockerfile is assumed by convention rather than known.
    #[serde(skip)]
    pub assumed: bool,
    /// True when an image pushed before under the same key may stand for this build: the
    /// context's tree id is known, and neither `.dockhand.yml` (`rebuild: always`) nor the
    /// request (a scheduled refresh) asks for a build.
    #[serde(skip)]
    pub reusable: bool,
    /// The images of this repository it is built from that this push also plans, and the
    /// names its Dockerfile gives them.
    #[serde(skip)]
    pub bases: Vec<crate::graph::BaseLink>,
}

/// What becomes of a planned image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Built by its own CodeBuild build.
    Build,
    /// Its key was pushed before as `from` (`repository:key tag`): the push's one re-tag
    /// job gives it its tags.
    Retag { from: String },
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Action::Build => s.serialize_str("build"),
            Action::Retag { from } => s.serialize_str(&format!("re-tag of {from}")),
        }
    }
}

impl BuildJob {
    /// The tag this image's builds push under its key.
    pub fn key_tag(&self) -> String {
        crate::image_key::key_tag(&self.image_key)
    }

    /// The ledger item recording this image's key as pushed.
    pub fn record_key(&self) -> String {
        crate::image_key::record_key(&self.image, &self.image_key)
    }

    /// Marks the image a re-tag of what its key tag holds.
    pub fn retag(&mut self) {
        self.action = Action::Retag {
            from: format!("{}:{}", self.image, self.key_tag()),
        };
    }
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

impl Skip {
    fn new(context: &str, attention: bool, reason: String) -> Self {
        Skip {
            context: context.to_owned(),
            reason,
            attention,
        }
    }

    /// A repository the deployment cannot clone: private, and no token to read it.
    pub fn unclonable(request: &BuildRequest, deployment: &Deployment) -> Option<Self> {
        (request.repository.private && deployment.config.github_token_parameter.is_none()).then(|| {
            Skip::new(
                ".",
                true,
                format!(
                    "{} is private, and the build needs a token to clone it: put a GitHub token that can read the repository (fine-grained: Contents read-only) in an SSM SecureString and set `github_token_parameter` to its name in the deployment configuration",
                    request.repository.full_name
                ),
            )
        })
    }

    /// A push the listener does not build (another ref, a deletion): the reason it gave.
    pub fn not_built(reason: String) -> Self {
        Skip::new(".", false, reason)
    }

    /// A push that could not be planned, with what a person must do.
    pub fn unplanned(reason: &str) -> Self {
        Skip::new(".", true, format!("{reason}. Nothing was built"))
    }

    fn bad_repo_config(e: &RepoConfigError) -> Self {
        Skip::new(
            ".",
            true,
            format!("{e}. Nothing was built: fix {REPO_CONFIG_PATH} and push again"),
        )
    }

    fn no_files_changed(commit: &str) -> Self {
        Skip::new(
            ".",
            false,
            format!(
                "this push changes no files at {commit} (an empty commit, or a merge that changed nothing): nothing to build"
            ),
        )
    }

    fn no_dockerfile(index: &dyn DockerfileIndex) -> Self {
        Skip::new(
            ".",
            false,
            format!("{} lists no Dockerfile at this commit", index.describe()),
        )
    }

    fn unlistable(index: &dyn DockerfileIndex, commit: &str) -> Self {
        Skip::new(
            ".",
            true,
            format!(
                "this push is a new branch or tag, so every image should be built, but {} cannot list the repository's Dockerfiles; run `dockhand plan --tree` with `git ls-tree -r {commit}`",
                index.describe()
            ),
        )
    }

    fn no_dockerfile_in(dir: &str, index: &dyn DockerfileIndex, commit: &str) -> Self {
        Skip::new(
            dir,
            true,
            format!(
                "it was asked for by name, and {} shows no Dockerfile in it at {commit}",
                index.describe()
            ),
        )
    }

    fn not_compared(base: &str, commit: &str) -> Self {
        Skip::new(
            ".",
            true,
            format!(
                "this push's commit list is empty, capped or rewritten (a forced push), so its changes must be compared from {base} to {commit}, and they were not; run `dockhand plan --changes` with `git diff --name-status -M {base} {commit}`"
            ),
        )
    }

    /// `dir`, under the entry `ignored` of `.dockhand.yml`'s `ignore`.
    fn ignored(dir: &str, ignored: &str) -> Self {
        Skip::new(
            dir,
            false,
            format!("changes under {ignored} are ignored ({REPO_CONFIG_PATH} `ignore`)"),
        )
    }

    fn dockerfile_removed(dir: &str) -> Self {
        Skip::new(dir, false, "its Dockerfile was removed by this push".into())
    }

    fn bad_path(dir: &str, origin: &str, why: &str) -> Self {
        Skip::new(dir, true, format!("the changed path {origin:?} {why}"))
    }

    fn unplaced_root_changes(count: usize, index: &dyn DockerfileIndex) -> Self {
        Skip::new(
            ".",
            false,
            format!(
                "{count} changed file(s) at the repository root, but {} shows no Dockerfile there; if the root has one, plan with the repository tree (`dockhand plan --tree`)",
                index.describe()
            ),
        )
    }

    fn tags_not_allowed(tags: &[String]) -> Self {
        Skip::new(
            ".",
            true,
            format!(
                "{REPO_CONFIG_PATH} adds the image tags {tags:?}, and this deployment does not let repositories add tags (`repository_tags` is off): nothing was built; remove `tags` from {REPO_CONFIG_PATH}, or set `repository_tags: true` in the deployment configuration"
            ),
        )
    }

    fn reserved_repo_tag(request: &BuildRequest, tag: &str) -> Self {
        Skip::new(
            ".",
            true,
            format!(
                "{REPO_CONFIG_PATH} adds the tag {}",
                reserved_reason(&request.git_ref, tag, request.repository.default_branch.as_deref())
            ),
        )
    }

    fn reserved_tag(dir: &str, request: &BuildRequest, tag: &str) -> Self {
        Skip::new(
            dir,
            true,
            reserved_reason(&request.git_ref, tag, request.repository.default_branch.as_deref()),
        )
    }

    fn unnamed(dir: &str, reason: String) -> Self {
        Skip::new(dir, true, reason)
    }

    fn cycle(dir: &str, cycle: &[String]) -> Self {
        Skip::new(
            dir,
            true,
            format!(
                "its image and those of {:?} are built from each other (a cycle of FROM or COPY --from lines), so none can be built first; make one of them start from an image outside the cycle",
                cycle.iter().filter(|d| *d != dir).collect::<Vec<_>>()
            ),
        )
    }

    fn base_not_built(dir: &str, reasons: &[String]) -> Self {
        Skip::new(
            dir,
            true,
            format!(
                "it is planned only because an image it is built from changed, and that image is not built: {}",
                reasons.join("; ")
            ),
        )
    }

    fn clash(dir: &str, reference: &str, others: &BTreeSet<String>) -> Self {
        let others: Vec<&String> = others.iter().collect();
        Skip::new(
            dir,
            true,
            format!(
                "it would push {reference}, as would {others:?} in this repository; map one of them to another name in `images`, or rename a directory"
            ),
        )
    }
}

/// Why a directory is built.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Why {
    /// The index knows it holds a Dockerfile.
    Known,
    /// The payload-only index assumes it does, by convention.
    Assumed,
    /// Nothing of its own changed: it is built from `base`, which is built because
    /// `origin` changed (the same directory for a direct base).
    Dependent { base: String, origin: String },
}

/// The plan's one line per directory, as it is decided: a build, or a skip, and a skip
/// wins. The map is the invariant: a directory cannot be both, nor listed twice.
#[derive(Debug, Default)]
struct Lines(BTreeMap<String, Line>);

#[derive(Debug)]
enum Line {
    Build(Why),
    Skip(Skip),
}

impl Lines {
    /// Builds `dir`, unless it is skipped; a known Dockerfile replaces an assumed one.
    fn build(&mut self, dir: String, why: Why) {
        match self.0.entry(dir) {
            Entry::Vacant(v) => {
                v.insert(Line::Build(why));
            }
            Entry::Occupied(mut o) => {
                if why == Why::Known && matches!(o.get(), Line::Build(_)) {
                    o.insert(Line::Build(why));
                }
            }
        }
    }

    /// Skips a directory, whatever was decided before; a person still hears of it when
    /// an earlier skip needed them.
    fn skip(&mut self, skip: Skip) {
        let mut skip = skip;
        if let Some(Line::Skip(earlier)) = self.0.get(&skip.context) {
            skip.attention |= earlier.attention;
        }
        self.0.insert(skip.context.clone(), Line::Skip(skip));
    }

    /// Skips a directory unless it is skipped already (the first reason stays).
    fn skip_once(&mut self, skip: Skip) {
        if !matches!(self.0.get(&skip.context), Some(Line::Skip(_))) {
            self.0.insert(skip.context.clone(), Line::Skip(skip));
        }
    }

    fn builds(&self, dir: &str) -> bool {
        matches!(self.0.get(dir), Some(Line::Build(_)))
    }

    /// The directories to build, in order.
    fn to_build(&self) -> Vec<(String, Why)> {
        self.0
            .iter()
            .filter_map(|(dir, line)| match line {
                Line::Build(why) => Some((dir.clone(), why.clone())),
                Line::Skip(_) => None,
            })
            .collect()
    }
}

/// The Dockerfiles of a commit as the planner is given them: directory → the file as read
/// ([`crate::dockerfile::read`], with the repository's build arguments), or why it was not.
pub type Dockerfiles = BTreeMap<String, Result<Parsed, String>>;

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
    plan_with(request, index, deployment, repo, None)
}

/// Plans a request with the image graph of its commit, when `dockerfiles` are given: a
/// directory built from an image this push rebuilds is rebuilt too, and its job names the
/// bases it is built from ([`crate::graph`]); `crate::waves::sequence` then orders them.
pub fn plan_with(
    request: &BuildRequest,
    index: &dyn DockerfileIndex,
    deployment: &Deployment,
    repo: Result<&RepoConfig, &RepoConfigError>,
    dockerfiles: Option<&Dockerfiles>,
) -> Vec<PlanEntry> {
    if let Some(skip) = Skip::unclonable(request, deployment) {
        return vec![PlanEntry::Skip(skip)];
    }
    let repo = match repo {
        Ok(repo) => repo,
        Err(e) => return vec![PlanEntry::Skip(Skip::bad_repo_config(e))],
    };
    let changes = &request.changes;
    if changes.source == ChangeSource::Commits && changes.is_empty() {
        return vec![PlanEntry::Skip(Skip::no_files_changed(&request.commit))];
    }
    let mut lines = Lines::default();
    // Every image: a new branch or tag, when the index can list them.
    let mut plan_paths = true;
    if changes.source == ChangeSource::NewRef {
        match index.all() {
            Some(all) if all.is_empty() => {
                plan_paths = false;
                lines.skip(Skip::no_dockerfile(index));
            }
            Some(all) => {
                plan_paths = false;
                for dir in all {
                    match repo.ignored(&dir) {
                        Some(ignore) => lines.skip(Skip::ignored(&dir, ignore)),
                        None => lines.build(dir, Why::Known),
                    }
                }
            }
            // Not listable: the paths the payload named, if any, are planned below.
            None if !changes.is_empty() => {}
            None => lines.skip(Skip::unlistable(index, &request.commit)),
        }
    }
    if let ChangeSource::Compare { base } = &changes.source
        && changes.is_empty()
    {
        lines.skip(Skip::not_compared(base, &request.commit));
    }
    // An order's directories, exactly: each must hold a Dockerfile at the commit.
    if changes.source == ChangeSource::Chosen {
        plan_paths = false;
        for dir in &changes.directories {
            match index.presence(dir) {
                Presence::Present => lines.build(dir.clone(), Why::Known),
                _ => lines.skip(Skip::no_dockerfile_in(dir, index, &request.commit)),
            }
        }
    }
    if plan_paths {
        plan_changed_paths(request, index, repo, &mut lines);
    }
    if let Some(skip) = refused_repo_tags(request, deployment, repo) {
        return vec![PlanEntry::Skip(skip)];
    }
    let namer = Namer::new(request, deployment, repo);
    let graph = dockerfiles.map(|d| namer.graph(index, d, &removed_dockerfiles(request, index)));
    // An order's directories are built alone; a push's rebuild what is built from them.
    if let Some(graph) = graph.as_ref().filter(|_| changes.source != ChangeSource::Chosen) {
        plan_dependents(graph, repo, &mut lines);
    }
    name_and_start(request, index, deployment, repo, &namer, graph.as_ref(), lines)
}

/// The image graph of a commit, as planning a push of `request` sees it: every directory
/// of `index` named by the deployment's and `.dockhand.yml`'s naming, for the request's ref
/// (its tags tell apart directories sharing an image under the `suite` preset).
pub fn graph_for(
    request: &BuildRequest,
    index: &dyn DockerfileIndex,
    deployment: &Deployment,
    repo: &RepoConfig,
    dockerfiles: &Dockerfiles,
) -> Graph {
    Namer::new(request, deployment, repo).graph(index, dockerfiles, &BTreeSet::new())
}

/// `.dockhand.yml`'s tags, when the deployment refuses them: not allowed at all, or a tag
/// only the default branch may push.
fn refused_repo_tags(request: &BuildRequest, deployment: &Deployment, repo: &RepoConfig) -> Option<Skip> {
    if repo.tags.is_empty() {
        return None;
    }
    if !deployment.config.repository_tags {
        return Some(Skip::tags_not_allowed(&repo.tags));
    }
    let on_default_branch = is_default_branch(&request.git_ref, request.repository.default_branch.as_deref());
    repo.tags
        .iter()
        .find(|t| is_reserved_tag(t) && !on_default_branch)
        .map(|t| Skip::reserved_repo_tag(request, t))
}

/// How this push names a directory's image and tags.
struct Namer<'a> {
    request: &'a BuildRequest,
    deployment: &'a Deployment,
    naming: crate::config::Naming,
    /// The ref rules' tags, then `.dockhand.yml`'s.
    tags: Vec<String>,
}

impl<'a> Namer<'a> {
    fn new(request: &'a BuildRequest, deployment: &'a Deployment, repo: &RepoConfig) -> Self {
        Namer {
            request,
            deployment,
            naming: repo.naming.unwrap_or(deployment.config.naming),
            tags: request.tags.iter().chain(&repo.tags).cloned().collect(),
        }
    }

    fn name(&self, context: &str, tags: &[String]) -> Result<(ImageName, Vec<String>), String> {
        let config = &self.deployment.config;
        image_and_tags(
            self.naming,
            &config.registry,
            &self.request.repository.name,
            context,
            &config.images,
            tags,
        )
    }

    /// The graph of every directory with a Dockerfile: the index's when it can list them,
    /// the Dockerfiles given otherwise.
    fn graph(&self, index: &dyn DockerfileIndex, dockerfiles: &Dockerfiles, removed: &BTreeSet<String>) -> Graph {
        let mut dirs: BTreeSet<String> = index
            .all()
            .map(|all| all.into_iter().collect())
            .unwrap_or_else(|| dockerfiles.keys().cloned().collect());
        dirs.extend(removed.iter().cloned());
        let nodes: BTreeMap<String, Node> = dirs
            .into_iter()
            .map(|dir| {
                let named = self.name(&dir, &self.tags).ok();
                let read = dockerfiles.get(&dir);
                let node = Node {
                    image: named.as_ref().map(|(image, _)| image.repository()),
                    tags: named.map(|(_, tags)| tags).unwrap_or_default(),
                    dockerfile: read.and_then(|r| r.as_ref().ok()).cloned(),
                    unread: match read {
                        None => Some("it was not given".into()),
                        Some(Err(why)) => Some(why.clone()),
                        Some(Ok(_)) => None,
                    },
                    removed: removed.contains(&dir),
                };
                (dir, node)
            })
            .collect();
        Graph::new(&nodes)
    }
}

/// The directories whose Dockerfile the push removes.
fn removed_dockerfiles(request: &BuildRequest, index: &dyn DockerfileIndex) -> BTreeSet<String> {
    request
        .changes
        .removed
        .iter()
        .filter_map(|path| dockerfile_dir(path))
        .filter(|dir| index.presence(dir) != Presence::Present)
        .map(str::to_owned)
        .collect()
}

/// Adds every directory built, directly or not, from a directory this push builds; the
/// ignored ones are skipped, as if they had changed.
fn plan_dependents(graph: &Graph, repo: &RepoConfig, lines: &mut Lines) {
    let building: BTreeSet<String> = lines.to_build().into_iter().map(|(dir, _)| dir).collect();
    // The base each dependent is reached through: the breadth-first parent.
    let reached = graph.dependents_of(&building);
    for (dir, origin) in reached {
        if lines.0.contains_key(&dir) {
            continue;
        }
        if let Some(ignore) = repo.ignored(&dir) {
            lines.skip(Skip::ignored(&dir, ignore));
            continue;
        }
        let base = graph
            .bases(&dir)
            .into_iter()
            .map(|b| b.context)
            .find(|b| building.contains(b))
            .or_else(|| graph.bases(&dir).into_iter().map(|b| b.context).next())
            .unwrap_or_else(|| origin.clone());
        lines.build(dir, Why::Dependent { base, origin });
    }
}

/// Names every directory to build and makes its StartBuild request; a directory that
/// cannot be named, would push a reserved tag, or would push over another's image is
/// skipped instead. With the graph, a directory of a cycle is skipped, and so is one
/// planned only for a base that is not built.
fn name_and_start(
    request: &BuildRequest,
    index: &dyn DockerfileIndex,
    deployment: &Deployment,
    repo: &RepoConfig,
    namer: &Namer<'_>,
    graph: Option<&Graph>,
    mut lines: Lines,
) -> Vec<PlanEntry> {
    let config = &deployment.config;
    let on_default_branch = is_default_branch(&request.git_ref, request.repository.default_branch.as_deref());
    let tags = &namer.tags;
    let fixed: Vec<String> = request
        .fixed_tags
        .iter()
        .filter(|t| request.tags.contains(t))
        .cloned()
        .collect();
    let name = |context: &str, tags: &[String]| namer.name(context, tags);
    let build_args = repo.build_args_env();
    let platforms = repo.platforms.as_ref().unwrap_or(&config.platforms);
    let may_retag = repo.rebuild == Rebuild::Auto && !request.rebuild;
    if let Some(graph) = graph {
        for cycle in graph.cycles() {
            let building: Vec<&String> = cycle.iter().filter(|d| lines.builds(d)).collect();
            for dir in building {
                lines.skip(Skip::cycle(dir, &cycle));
            }
        }
    }
    // What each directory's image is made of, its bases' keys included.
    let mut keys = ImageKeys {
        index,
        graph,
        commit: &request.commit,
        build_args: &build_args,
        platforms,
        autotest: crate::start_build::runs_tests(request, config),
        known: BTreeMap::new(),
    };
    let mut jobs: BTreeMap<String, BuildJob> = BTreeMap::new();
    let mut whys: BTreeMap<String, Why> = BTreeMap::new();
    // (image, tag) → the directories that would push it: every Dockerfile directory of the
    // tree when the index can list them, so a directory this push did not change still
    // owns what it pushes; the planned ones otherwise.
    let mut pushed: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for dir in index.all().unwrap_or_default() {
        if let Ok((image, tags)) = name(&dir, tags) {
            let repository = image.repository();
            for tag in tags {
                pushed.entry((repository.clone(), tag)).or_default().insert(dir.clone());
            }
        }
    }
    for (context, why) in lines.to_build() {
        let (image, tags) = match name(&context, tags) {
            Ok(named) => named,
            Err(reason) => {
                lines.skip(Skip::unnamed(&context, reason));
                continue;
            }
        };
        if !on_default_branch && let Some(tag) = tags.iter().find(|t| is_reserved_tag(t)) {
            lines.skip(Skip::reserved_tag(&context, request, tag));
            continue;
        }
        // The same naming applied to the tags that name the commit: those never move.
        let fixed_tags = name(&context, &fixed).map(|(_, t)| t).unwrap_or_default();
        let moving_tags: Vec<String> = tags.iter().filter(|t| !fixed_tags.contains(t)).cloned().collect();
        let dockerfile = dockerfile_of(&context);
        for tag in &tags {
            pushed
                .entry((image.repository(), tag.clone()))
                .or_default()
                .insert(context.clone());
        }
        let tree = index.tree_id(&context);
        let image_key = keys.of(&context);
        let target = Target {
            context: &context,
            dockerfile: &dockerfile,
            image: &image,
            tags: &tags,
            moving_tags: &moving_tags,
            build_args: &build_args,
            image_key: &image_key,
            platforms,
            cache: repo.cache.unwrap_or(config.cache),
            description: &repo.description_path(&context),
        };
        let start = start_build_request(request, deployment, &target);
        let because = match &why {
            Why::Dependent { base, origin } if base == origin => Some(format!("base `{base}` changed")),
            Why::Dependent { base, origin } => Some(format!("base `{base}` is rebuilt: `{origin}` changed")),
            Why::Known | Why::Assumed => None,
        };
        jobs.insert(
            context.clone(),
            BuildJob {
                image: image.repository(),
                key: start.idempotency_token.clone(),
                tags,
                action: Action::Build,
                because,
                after: Vec::new(),
                notes: graph.map(|g| g.notes(&context).to_vec()).unwrap_or_default(),
                context: context.clone(),
                dockerfile,
                image_key,
                request: start,
                moving_tags,
                assumed: why == Why::Assumed,
                reusable: tree.is_some() && may_retag,
                bases: Vec::new(),
            },
        );
        whys.insert(context, why);
    }
    // Two directories must never push over each other's image and tag, whether or not the
    // other one changed in this push.
    let mut clashes: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for ((image, tag), clashing) in pushed.iter().filter(|(_, c)| c.len() > 1) {
        for context in clashing.iter().filter(|c| jobs.contains_key(c.as_str())) {
            let entry = clashes
                .entry(context.clone())
                .or_insert_with(|| (format!("{image}:{tag}"), BTreeSet::new()));
            entry.1.extend(clashing.iter().filter(|c| *c != context).cloned());
        }
    }
    for (context, (reference, others)) in &clashes {
        lines.skip(Skip::clash(context, reference, others));
    }
    if let Some(graph) = graph {
        link_bases(graph, &mut lines, &mut jobs, &whys);
    }
    lines
        .0
        .into_iter()
        .map(|(context, line)| match line {
            Line::Build(_) => PlanEntry::Build(Box::new(jobs.remove(&context).expect("every build is named"))),
            Line::Skip(skip) => PlanEntry::Skip(skip),
        })
        .collect()
}

/// Gives every job the bases it is built from that this push builds too. A job planned
/// only because of its bases, none of which is built after all (skipped: a clash, a name,
/// a cycle), is skipped with the reason; until nothing changes, as a skip can strand the
/// next dependent.
fn link_bases(graph: &Graph, lines: &mut Lines, jobs: &mut BTreeMap<String, BuildJob>, whys: &BTreeMap<String, Why>) {
    loop {
        let mut stranded = Vec::new();
        for (context, why) in whys {
            if !lines.builds(context) || !matches!(why, Why::Dependent { .. }) {
                continue;
            }
            let bases = graph.bases(context);
            if !bases.iter().any(|b| lines.builds(&b.context)) {
                let reasons: Vec<String> = bases
                    .iter()
                    .filter_map(|b| match lines.0.get(&b.context) {
                        Some(Line::Skip(skip)) => Some(format!("`{}`: {}", b.context, skip.reason)),
                        _ => None,
                    })
                    .collect();
                stranded.push(Skip::base_not_built(context, &reasons));
            }
        }
        if stranded.is_empty() {
            break;
        }
        for skip in stranded {
            lines.skip(skip);
        }
    }
    let images: BTreeMap<String, String> = jobs.iter().map(|(c, j)| (c.clone(), j.image.clone())).collect();
    for (context, job) in jobs.iter_mut() {
        job.bases = graph
            .bases(context)
            .into_iter()
            .filter(|b| lines.builds(&b.context))
            .filter_map(|b| {
                Some(crate::graph::BaseLink {
                    image: images.get(&b.context)?.clone(),
                    context: b.context,
                    names: b.names.into_iter().collect(),
                })
            })
            .collect();
    }
}

/// Image keys, each made once, a directory's after its bases' (a base's key is part of its
/// dependents': a new base makes new dependents).
struct ImageKeys<'a> {
    index: &'a dyn DockerfileIndex,
    graph: Option<&'a Graph>,
    commit: &'a str,
    build_args: &'a str,
    platforms: &'a [String],
    autotest: bool,
    known: BTreeMap<String, String>,
}

impl ImageKeys<'_> {
    fn of(&mut self, dir: &str) -> String {
        self.key(dir, &mut BTreeSet::new())
    }

    fn key(&mut self, dir: &str, visiting: &mut BTreeSet<String>) -> String {
        if let Some(key) = self.known.get(dir) {
            return key.clone();
        }
        visiting.insert(dir.to_owned());
        let mut bases: Vec<String> = Vec::new();
        if let Some(graph) = self.graph {
            for base in graph.bases(dir) {
                // A cycle has no order, and its directories are never built.
                if !visiting.contains(&base.context) {
                    bases.push(self.key(&base.context, visiting));
                }
            }
        }
        visiting.remove(dir);
        let dockerfile = dockerfile_of(dir);
        let key = image_key(&ImageInputs {
            context: self
                .index
                .tree_id(dir)
                .map_or(KeyContext::Commit(self.commit), KeyContext::Tree),
            dockerfile: &dockerfile,
            // Always inside its context: `dockerfile_of`.
            dockerfile_blob: None,
            build_args: self.build_args,
            platforms: self.platforms,
            bases: &bases,
            autotest: self.autotest,
        });
        self.known.insert(dir.to_owned(), key.clone());
        key
    }
}

/// The directories the changed paths affect, by the nearest-ancestor rule.
fn plan_changed_paths(request: &BuildRequest, index: &dyn DockerfileIndex, repo: &RepoConfig, lines: &mut Lines) {
    let changes = &request.changes;
    // A removed Dockerfile's directory is not built; its remaining files now belong to the
    // nearest ancestor with a Dockerfile, which the removal itself marks as changed below.
    for removed in &changes.removed {
        if let Some(dir) = dockerfile_dir(removed)
            && index.presence(dir) != Presence::Present
            && repo.ignored(removed).is_none()
        {
            lines.skip(Skip::dockerfile_removed(dir));
        }
    }

    let mut unplaced_root_changes = 0usize;
    let starts = changes
        .paths
        .iter()
        .map(|p| (p.as_str(), directory_of(p)))
        .chain(changes.directories.iter().map(|d| (d.as_str(), d.as_str())));
    for (origin, dir) in starts {
        if let Err(why) = check_path(origin) {
            lines.skip(Skip::bad_path(dir, origin, why));
            continue;
        }
        if let Some(ignore) = repo.ignored(origin) {
            lines.skip_once(Skip::ignored(ignore, ignore));
            continue;
        }
        match nearest(index, dir) {
            Some((found, Presence::Present)) => lines.build(found, Why::Known),
            Some((_, _)) => {} // removed here: already a skip
            None => match index.assumed_context(dir) {
                Some(assumed) => lines.build(assumed, Why::Assumed),
                // The root's Dockerfile is unknown to this index, not known to be absent.
                None if dir == "." && index.presence(".") == Presence::Unknown => unplaced_root_changes += 1,
                None => {}
            },
        }
    }
    if unplaced_root_changes > 0 && !lines.builds(".") {
        lines.skip_once(Skip::unplaced_root_changes(unplaced_root_changes, index));
    }
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
        current = directory_of(current);
    }
}

#[cfg(test)]
mod tests;
