//! A push planned from what its source host says: the files at the pushed commit (the
//! exact Dockerfile index), the complete changes when the push's commit list cannot give
//! them, and the repository's `.dockhand.yml`. [`plan_push`] is the one way through: the
//! spawner asks GitHub, `dockhand plan` asks GitHub, a checkout (`--repo`) or listings it
//! was given (`--tree`, through [`ListedHost`]); only `--payload-only` calls
//! [`crate::plan()`] itself.

use crate::config::Deployment;
use crate::index::{TreeIndex, listing_from_ls_tree};
use crate::plan::{PlanEntry, Skip, plan};
use crate::ports::SourceHost;
use crate::repo_config::{MAX_FILE_BYTES, REPO_CONFIG_PATH, RepoConfig, RepoConfigError};
use crate::request::{BuildRequest, ChangeSource, Changes};
use crate::tree::{ChangedFile, FileKind, HostError, Listing, ObjectId, TreeFile};

/// A push planned.
#[derive(Debug)]
pub struct Planned {
    /// One line per directory: a build, or a skip and why.
    pub entries: Vec<PlanEntry>,
    /// What a person reading the logs should know (a comparison that fell back).
    pub notes: Vec<String>,
}

/// Plans a push with what `host` says about it. A private repository the deployment cannot
/// clone is one skip that says what to do, and the host is not asked (GitHub answers 404
/// to a request without a token).
pub async fn plan_push<H: SourceHost>(
    host: &H,
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
    Ok(Planned {
        entries: plan(&resolved.request, &resolved.index, deployment, resolved.repo.as_ref()),
        notes: resolved.notes,
    })
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
    pub fail_tree: Option<HostError>,
    pub fail_compare: Option<HostError>,
    pub fail_file: Option<HostError>,
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
            (None, content) => Ok((path == REPO_CONFIG_PATH).then(|| content.clone()).flatten()),
        }
    }
}

#[cfg(test)]
mod tests;
