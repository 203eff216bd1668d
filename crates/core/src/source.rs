//! A push planned from what its source host says: the files at the pushed commit (the
//! exact Dockerfile index), the complete changes when the push's commit list cannot give
//! them, and the repository's `.dockhand.yml`. [`plan_push`] is the one way through: the
//! spawner asks GitHub, `dockhand plan` asks GitHub, a checkout (`--repo`) or listings it
//! was given (`--tree`, through [`ListedHost`]); only `--payload-only` calls
//! [`crate::plan()`] itself.

use crate::config::Deployment;
use crate::dockerfile::{MAX_DOCKERFILE_BYTES, Parsed};
use crate::index::{TreeIndex, listing_from_ls_tree};
use crate::order::{CommitInfo, RepositoryInfo};
use crate::plan::{Dockerfiles, PlanEntry, Skip, plan, plan_with};
use crate::ports::{NoCache, ReadCache, SourceHost};
use crate::repo_config::{MAX_FILE_BYTES, REPO_CONFIG_PATH, RepoConfig, RepoConfigError};
use crate::request::{BuildRequest, ChangeSource, Changes};
use crate::tree::{ChangedFile, FileKind, HostError, Listing, ObjectId, TreeFile};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A push planned.
#[derive(Debug)]
pub struct Planned {
    /// One line per directory: a build, or a skip and why.
    pub entries: Vec<PlanEntry>,
    /// What a person reading the logs should know (a comparison that fell back).
    pub notes: Vec<String>,
}

/// Plans a push with what `host` says about it, reading every Dockerfile again: [`plan_push_with`].
pub async fn plan_push<H: SourceHost>(
    host: &H,
    request: &BuildRequest,
    deployment: &Deployment,
) -> Result<Planned, Unresolved> {
    plan_push_with(host, &NoCache, 0, request, deployment).await
}

/// Dockerfiles read at once from the host: a few, to stay within what GitHub allows
/// ("make requests serially instead of concurrently" is its advice for bursts of
/// requests, https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api).
const CONCURRENT_READS: usize = 4;
/// A reading's cache entry changes with the reader: a better reader reads every file again.
const READER_VERSION: &str = "1";
/// How long a reading is kept (DynamoDB's TTL removes it later); a blob read again after
/// that costs one request.
const READ_DAYS: u64 = 90;

/// Plans a push with what `host` says about it. A private repository the deployment cannot
/// clone is one skip that says what to do, and the host is not asked (GitHub answers 404
/// to a request without a token).
///
/// A push that builds an image is planned with the image graph of its commit: every
/// Dockerfile is read (through `cache`, by blob id and build arguments, so each blob is
/// read from the host once), and images built from an image this push rebuilds are rebuilt
/// after it. `now` (Unix seconds) dates what the cache keeps.
pub async fn plan_push_with<H: SourceHost, C: ReadCache>(
    host: &H,
    cache: &C,
    now: u64,
    request: &BuildRequest,
    deployment: &Deployment,
) -> Result<Planned, Unresolved> {
    if let Some(skip) = Skip::unclonable(request, deployment) {
        return Ok(Planned {
            entries: vec![PlanEntry::Skip(skip)],
            notes: Vec::new(),
        });
    }
    let resolved = resolve(host, request).await?;
    let mut notes = resolved.notes.clone();
    // Without the graph first: a push that builds nothing has no dependents to find, and
    // an invalid `.dockhand.yml` builds nothing.
    let mut entries = plan(&resolved.request, &resolved.index, deployment, resolved.repo.as_ref());
    let builds = entries.iter().filter(|e| matches!(e, PlanEntry::Build(_))).count();
    if let (Ok(repo), true) = (&resolved.repo, builds > 0) {
        if host.reads_files() {
            let dockerfiles = read_dockerfiles(host, cache, now, &resolved, &repo.build_args, &mut notes).await?;
            entries = plan_with(
                &resolved.request,
                &resolved.index,
                deployment,
                Ok(repo),
                Some(&dockerfiles),
            );
            crate::waves::sequence(&mut entries);
        } else if builds > 1 {
            notes.push(
                "the Dockerfiles' contents were not given, so images built from each other are not ordered (plan with --repo to see the image graph)".into(),
            );
        }
    }
    Ok(Planned { entries, notes })
}

/// The image graph of the request's commit ([`crate::graph`]): its tree, `.dockhand.yml`
/// and every Dockerfile, as [`plan_push_with`] reads them. `dockhand graph`'s way.
pub async fn commit_graph<H: SourceHost>(
    host: &H,
    request: &BuildRequest,
    deployment: &Deployment,
) -> Result<(crate::graph::Graph, Vec<String>), Unresolved> {
    let mut request = request.clone();
    // The graph is the commit's: no comparison is needed.
    request.changes = Changes {
        source: ChangeSource::NewRef,
        ..Changes::default()
    };
    let resolved = resolve(host, &request).await?;
    let repo = match &resolved.repo {
        Ok(repo) => repo.clone(),
        Err(e) => return Err(Unresolved::Stop(format!("{REPO_CONFIG_PATH}: {e}"))),
    };
    let mut notes = resolved.notes.clone();
    let dockerfiles = read_dockerfiles(host, &NoCache, 0, &resolved, &repo.build_args, &mut notes).await?;
    let graph = crate::plan::graph_for(&resolved.request, &resolved.index, deployment, &repo, &dockerfiles);
    Ok((graph, notes))
}

/// Every Dockerfile of the commit, read: from `cache` where it was read before, from the
/// host otherwise (and then cached; a cache that fails only costs requests). A host that
/// is rate limited or down stops the reading to be retried later; what was read by then
/// is cached, so a retry goes further.
async fn read_dockerfiles<H: SourceHost, C: ReadCache>(
    host: &H,
    cache: &C,
    now: u64,
    resolved: &Resolved,
    build_args: &[(String, String)],
    notes: &mut Vec<String>,
) -> Result<Dockerfiles, Unresolved> {
    let args = args_digest(build_args);
    let key = |sha: &ObjectId| format!("read#{READER_VERSION}#{sha}#{args}");
    let keys: Vec<String> = resolved.dockerfiles.iter().map(|f| key(&f.sha)).collect();
    let cached = cache.cached(&keys).await.unwrap_or_else(|e| {
        notes.push(format!(
            "the Dockerfiles read before could not be looked up ({e}); every one is read"
        ));
        Default::default()
    });
    let mut read: Dockerfiles = BTreeMap::new();
    let mut wanted = Vec::new();
    for file in &resolved.dockerfiles {
        let dir = crate::tree::dockerfile_dir(&file.path).unwrap_or(".").to_owned();
        if file.kind == FileKind::Symlink {
            read.insert(dir, Err("it is a symbolic link, which dockhand does not follow".into()));
            continue;
        }
        match cached
            .get(&key(&file.sha))
            .and_then(|v| serde_json::from_str::<Parsed>(v).ok())
        {
            Some(parsed) => {
                read.insert(dir, Ok(parsed));
            }
            None => wanted.push((dir, file)),
        }
    }
    let repository = resolved.request.repository.full_name.as_str();
    let commit = resolved.request.commit.as_str();
    let mut uncached = 0;
    let mut answers = futures_util::stream::iter(wanted)
        .map(|(dir, file)| async move {
            let answer = host.file(repository, commit, &file.path, MAX_DOCKERFILE_BYTES).await;
            (dir, file, answer)
        })
        .buffer_unordered(CONCURRENT_READS);
    while let Some((dir, file, answer)) = answers.next().await {
        let parsed = match answer {
            Ok(Some(bytes)) => crate::dockerfile::read(&bytes, build_args),
            Ok(None) => {
                read.insert(dir, Err(format!("GitHub has no file {} at the commit", file.path)));
                continue;
            }
            Err(HostError::FileTooLarge { limit, .. }) => {
                read.insert(dir, Err(format!("it is larger than the {limit} bytes read")));
                continue;
            }
            Err(e) => return Err(Unresolved::from_host(&file.path, &resolved.request, e)),
        };
        if let Err(e) = cache
            .store(
                &key(&file.sha),
                &serde_json::to_string(&parsed).expect("a reading serializes"),
                now + READ_DAYS * 24 * 60 * 60,
            )
            .await
            && uncached == 0
        {
            uncached += 1;
            notes.push(format!(
                "{} could not be cached ({e}); it is read again next time",
                file.path
            ));
        }
        read.insert(dir, Ok(parsed));
    }
    Ok(read)
}

/// The build arguments, as part of a cache key.
fn args_digest(build_args: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    for (k, v) in build_args {
        for part in [k, v] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
    }
    hex::encode(&h.finalize()[..12])
}

/// A request made complete, ready for [`crate::plan()`]: what [`plan_push`] plans from.
#[derive(Debug)]
struct Resolved {
    /// The request, its changes complete (`Commits`) or `NewRef` (every image).
    request: BuildRequest,
    /// Every Dockerfile directory at the pushed commit.
    index: TreeIndex,
    /// `.dockhand.yml` at the commit, or why it cannot be used.
    repo: Result<RepoConfig, RepoConfigError>,
    /// Every Dockerfile at the commit (the directories' of the index).
    dockerfiles: Vec<TreeFile>,
    /// What a person reading the logs should know (a comparison that fell back).
    notes: Vec<String>,
}

/// Why a request could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    /// Worth retrying later: the host is rate limited or unavailable.
    #[error("{0}")]
    Retry(HostError),
    /// Retrying will not help until a person acts (a missing or wrong token, a repository
    /// or commit the host does not know): the reason says what to do.
    #[error("{0}")]
    Stop(String),
}

impl Unresolved {
    fn from_host(what: &str, request: &BuildRequest, e: HostError) -> Self {
        let repo = &request.repository.full_name;
        match e {
            HostError::RateLimited { .. } | HostError::Unavailable(_) => Unresolved::Retry(e),
            HostError::NotFound(detail) => Unresolved::Stop(format!(
                "GitHub does not show {what} of {repo} at {} ({detail}). If the repository is private, give dockhand a token that can read it (`github_token_parameter`); if the commit was force-pushed away, nothing needs building",
                request.commit
            )),
            HostError::Denied(detail) => Unresolved::Stop(format!(
                "GitHub refused to show {what} of {repo} ({detail}); the token in `github_token_parameter` is wrong, expired or cannot read this repository (fine-grained tokens need Contents: read-only)"
            )),
            // Retrying meets the same bounds: a walk that cannot finish now never will.
            HostError::OverBudget(detail) => Unresolved::Stop(format!(
                "dockhand could not read {what} of {repo} at {} within its bounds ({detail}). For a repository this large, raise the spawner's GITHUB_TIME_BUDGET_SECONDS (default 20) together with its timeout (60 s) and memory, or plan this push on a machine with a checkout: `dockhand plan --tree` with `git ls-tree -r {}` output",
                request.commit, request.commit
            )),
            e @ HostError::FileTooLarge { .. } => {
                Unresolved::Stop(format!("GitHub's answer for {what} of {repo} is too large: {e}"))
            }
        }
    }
}

/// Asks `host` for the tree, the comparison the request needs, and `.dockhand.yml` (only
/// when the tree has one).
async fn resolve<H: SourceHost>(host: &H, request: &BuildRequest) -> Result<Resolved, Unresolved> {
    let repository = request.repository.full_name.as_str();
    let listing = host
        .tree(repository, &request.commit)
        .await
        .map_err(|e| Unresolved::from_host("the files", request, e))?;
    // What the plan needs of the tree is kept, the tree itself is dropped before the
    // comparison, which may walk two more trees: the spawner's memory is 128 MB.
    let index = TreeIndex::from_listing(&listing);
    let dockerfiles: Vec<TreeFile> = listing
        .files
        .iter()
        .filter(|f| crate::tree::dockerfile_dir(&f.path).is_some())
        .cloned()
        .collect();
    let repo_file = listing
        .files
        .iter()
        .find(|f| &*f.path == REPO_CONFIG_PATH)
        .map(|f| f.kind);
    drop(listing);
    let mut request = request.clone();
    let mut notes = Vec::new();
    if let ChangeSource::Compare { base } = &request.changes.source {
        match host.compare(repository, base, &request.commit).await {
            Ok(changed) => request.changes = Changes::from_changed_files(&changed),
            // The base is gone (a forced push whose old commits GitHub dropped): nothing to
            // compare against, so every image at the commit is built, as for a new branch.
            Err(HostError::NotFound(detail)) => {
                notes.push(format!(
                    "the push's previous commit {base} cannot be compared ({detail}); every image at {} is built",
                    request.commit
                ));
                request.changes = Changes {
                    source: ChangeSource::NewRef,
                    ..Changes::default()
                };
            }
            Err(e) => return Err(Unresolved::from_host("the changes", &request, e)),
        }
    }
    let repo = match repo_file {
        None => Ok(RepoConfig::default()),
        // Refused rather than ignored: the repository meant to configure its builds, and
        // building without its settings builds the wrong images. Not followed: the link's
        // target could be anywhere, and GitHub would follow it within the repository only.
        Some(FileKind::Symlink) => Err(RepoConfigError {
            line: None,
            message: "is a symbolic link; dockhand reads only a regular file at the repository's root: replace the link with the file itself".into(),
        }),
        Some(_) => match host
            .file(repository, &request.commit, REPO_CONFIG_PATH, MAX_FILE_BYTES)
            .await
        {
            Err(HostError::FileTooLarge { limit, size, .. }) => Err(RepoConfigError {
                line: None,
                message: match size {
                    Some(size) => format!(
                        "the file is {size} bytes, larger than the {limit} bytes allowed; it holds a few short settings"
                    ),
                    None => format!("the file is larger than the {limit} bytes allowed; it holds a few short settings"),
                },
            }),
            Err(e) => return Err(Unresolved::from_host(REPO_CONFIG_PATH, &request, e)),
            Ok(content) => RepoConfig::from_file(content.as_deref()),
        },
    };
    Ok(Resolved {
        index,
        request,
        repo,
        notes,
        dockerfiles,
    })
}

/// A source host that answers from listings it was given: `dockhand plan`'s offline mode
/// (`--tree`, `--changes`, `--repo-config`) and tests. A `fail_*` error answers that call.
/// It is the in-memory source host every test uses.
#[derive(Debug, Clone, Default)]
pub struct ListedHost {
    pub files: Vec<TreeFile>,
    /// The directories' tree ids (`git ls-tree -r -t`), "." for the root.
    pub trees: Vec<(Box<str>, ObjectId)>,
    /// The comparison's answer; `None` answers `NotFound`, as for a base that is gone.
    pub changes: Option<Vec<ChangedFile>>,
    /// `.dockhand.yml`'s content, if any.
    pub repo_config: Option<Vec<u8>>,
    /// Other files' contents, by path (the Dockerfiles); when there are none, the host
    /// says it cannot read files ([`SourceHost::reads_files`]).
    pub contents: BTreeMap<String, Vec<u8>>,
    pub fail_tree: Option<HostError>,
    pub fail_compare: Option<HostError>,
    pub fail_file: Option<HostError>,
    /// What the host says of the repository; `None` answers `NotFound`.
    pub repository: Option<RepositoryInfo>,
    pub fail_commit: Option<HostError>,
    /// Commits that are not on the ref an order names (every other one is).
    pub off_ref: Vec<String>,
    /// The commits refs name (`refs/heads/main`, a commit id): what an order resolves.
    pub commits: BTreeMap<String, CommitInfo>,
}

impl ListedHost {
    /// The files and directories of `git ls-tree -r [-t] <commit>` output
    /// ([`listing_from_ls_tree`]).
    pub fn from_ls_tree(listing: &str) -> Self {
        let Listing { files, trees } = listing_from_ls_tree(listing);
        ListedHost {
            files,
            trees,
            ..ListedHost::default()
        }
    }

    /// True when the files include `.dockhand.yml` (its content is [`Self::repo_config`]).
    pub fn lists_repo_config(&self) -> bool {
        self.files.iter().any(|f| &*f.path == REPO_CONFIG_PATH)
    }
}

impl SourceHost for ListedHost {
    fn reads_files(&self) -> bool {
        !self.contents.is_empty()
    }

    async fn repository(&self, repository: &str) -> Result<RepositoryInfo, HostError> {
        self.repository
            .clone()
            .ok_or_else(|| HostError::NotFound(format!("{repository} is not known here")))
    }

    async fn is_ancestor(&self, _repository: &str, ancestor: &str, _head: &str) -> Result<bool, HostError> {
        Ok(!self.off_ref.iter().any(|c| c == ancestor))
    }

    async fn commit(&self, repository: &str, reference: &str) -> Result<CommitInfo, HostError> {
        if let Some(e) = &self.fail_commit {
            return Err(e.clone());
        }
        self.commits
            .get(reference)
            .cloned()
            .ok_or_else(|| HostError::NotFound(format!("{repository} has no {reference}")))
    }

    async fn tree(&self, _repository: &str, _commit: &str) -> Result<Listing, HostError> {
        match &self.fail_tree {
            Some(e) => Err(e.clone()),
            None => Ok(Listing {
                files: self.files.clone(),
                trees: self.trees.clone(),
            }),
        }
    }

    async fn compare(&self, _repository: &str, base: &str, _head: &str) -> Result<Vec<ChangedFile>, HostError> {
        match (&self.fail_compare, &self.changes) {
            (Some(e), _) => Err(e.clone()),
            (None, Some(changes)) => Ok(changes.clone()),
            (None, None) => Err(HostError::NotFound(format!("no commit {base}"))),
        }
    }

    async fn file(
        &self,
        _repository: &str,
        _commit: &str,
        path: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, HostError> {
        match (&self.fail_file, &self.repo_config) {
            (Some(e), _) => Err(e.clone()),
            (None, Some(content)) if path == REPO_CONFIG_PATH && content.len() > max_bytes => {
                Err(HostError::FileTooLarge {
                    path: path.to_owned(),
                    limit: max_bytes,
                    size: Some(content.len() as u64),
                })
            }
            (None, content) if path == REPO_CONFIG_PATH => Ok(content.clone()),
            (None, _) => match self.contents.get(path) {
                Some(content) if content.len() > max_bytes => Err(HostError::FileTooLarge {
                    path: path.to_owned(),
                    limit: max_bytes,
                    size: Some(content.len() as u64),
                }),
                content => Ok(content.cloned()),
            },
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "source/graph/tests.rs"]
mod graph_tests;
