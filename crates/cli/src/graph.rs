//! `dockhand graph`: which images of a commit are built from which, read as the spawner
//! reads them (`commit_graph` in `crates/core/src/source.rs`), from GitHub or from a local
//! checkout answering as GitHub.

use dockhand_core::graph::Graph;
use dockhand_core::intake::{Intake, intake};
use dockhand_core::source::commit_graph;
use dockhand_core::webhook::PushEvent;
use dockhand_core::{BuildRequest, Deployment};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// How the graph is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Every directory with its image, what it is built from and what it rebuilds.
    Text,
    /// Graphviz DOT: an edge from each base to each image built from it.
    Dot,
}

/// What `dockhand graph` was asked.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["repo", "event"])))]
pub struct Options {
    /// A local git checkout: read the commit from it through the same GitHub API code
    /// the spawner uses (answered locally, as GitHub would), offline.
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// A push event's JSON: read its commit for its ref, from GitHub (GITHUB_API_URL,
    /// default https://api.github.com, and GITHUB_TOKEN for private repositories), or
    /// from the --repo checkout.
    #[arg(long, value_name = "PUSH.json", conflicts_with_all = ["commit", "git_ref"])]
    pub event: Option<PathBuf>,
    /// With --repo: the commit to read (HEAD of the checkout by default).
    #[arg(long, value_name = "SHA", requires = "repo")]
    pub commit: Option<String>,
    /// With --repo: the branch or tag the commit is read for (a name or a full ref;
    /// the checked-out branch by default). The ref gives the tags, which tell apart
    /// directories that share one image under the `suite` naming preset.
    #[arg(long = "ref", value_name = "REF", requires = "repo")]
    pub git_ref: Option<String>,
    /// The deployment configuration (the same JSON as DOCKHAND_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// text: every directory, its image, what it is built from and what it rebuilds;
    /// dot: Graphviz (`dockhand graph … --format dot | dot -Tsvg > graph.svg`).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Print instead what a change to DIR rebuilds, in waves built one after the
    /// other: `1: base`, `2: left right`, `3: app` (repeatable).
    #[arg(long, value_name = "DIR", conflicts_with = "format")]
    pub changed: Vec<String>,
}

pub fn run(options: &Options) -> Result<(), String> {
    let (push, deployment) = match (&options.event, &options.repo) {
        (Some(event), _) => {
            let push = crate::read_push(event)?;
            let deployment = crate::deployment_for(options.config.as_deref(), &push)?;
            (push, deployment)
        }
        (None, Some(repo)) => checkout_push(repo, options)?,
        (None, None) => unreachable!("clap requires --repo or --event"),
    };
    let request = match intake(&push, crate::NO_DELIVERY, &deployment).map_err(|e| e.to_string())? {
        Intake::Build(request) => request,
        Intake::Ignored { reason } => {
            let what = if options.event.is_some() {
                "pass the event of a push it builds"
            } else {
                "pass --ref with a branch or tag it builds (images and tags depend on the ref)"
            };
            return Err(format!(
                "this deployment builds nothing for {} ({reason}): {what}",
                push.git_ref
            ));
        }
    };
    let (graph, notes) = match &options.repo {
        Some(path) => {
            // GitHub's REST API answered from the checkout, as the spawner would be answered.
            let github = dockhand_fake_github::FakeGitHub::start(
                &request.repository.full_name,
                path,
                dockhand_fake_github::FakeOptions::default(),
            )
            .map_err(|e| format!("cannot read the repository {}: {e}", path.display()))?;
            read_graph(&request, &deployment, &github.url(), None)?
        }
        None => {
            let api = dockhand_github::api_url_from_env();
            let token = std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty());
            read_graph(&request, &deployment, &api, token)?
        }
    };
    for note in &notes {
        eprintln!("dockhand: {note}");
    }
    let out = if options.changed.is_empty() {
        match options.format {
            Format::Text => graph.to_text(),
            Format::Dot => graph.to_dot(),
        }
    } else {
        rebuilds(&graph, &options.changed)?
    };
    print!("{out}");
    Ok(())
}

/// The commit's graph through the GitHub API at `api`.
fn read_graph(
    request: &BuildRequest,
    deployment: &Deployment,
    api: &str,
    token: Option<String>,
) -> Result<(Graph, Vec<String>), String> {
    let host = dockhand_github::GitHub::new(api, token).map_err(|e| format!("GITHUB_API_URL {api:?}: {e}"))?;
    crate::block_on(commit_graph(&host, request, deployment))?
        .map_err(|e| crate::unresolved("dockhand graph", "read a local checkout with --repo", e))
}

/// What a change to `changed` rebuilds, in waves: `1: base`, `2: left right`, … Directories
/// in a cycle, or built from one, have no place in the order and are said so on stderr.
fn rebuilds(graph: &Graph, changed: &[String]) -> Result<String, String> {
    let known: BTreeSet<&str> = graph.directories().collect();
    let mut dirs = BTreeSet::new();
    for dir in changed {
        let dir = normalize(dir);
        if !known.contains(dir.as_str()) {
            let list: Vec<&str> = known.iter().copied().collect();
            return Err(format!(
                "--changed {dir}: no Dockerfile at this commit is in {dir:?}; give one of: {}",
                list.join(" ")
            ));
        }
        dirs.insert(dir);
    }
    let mut all = dirs.clone();
    all.extend(graph.dependents_of(&dirs).into_keys());
    let waves = graph.waves(&all);
    let ordered: BTreeSet<&String> = waves.iter().flatten().collect();
    let unordered: Vec<&str> = all
        .iter()
        .filter(|d| !ordered.contains(d))
        .map(String::as_str)
        .collect();
    if !unordered.is_empty() {
        eprintln!(
            "dockhand: also rebuilt, in no order (a cycle, or built from one): {}",
            unordered.join(" ")
        );
    }
    Ok(waves
        .iter()
        .enumerate()
        .map(|(i, wave)| format!("{}: {}\n", i + 1, wave.join(" ")))
        .collect())
}

/// A directory as the graph names it: no `./` in front, no `/` behind, `.` for the root.
fn normalize(dir: &str) -> String {
    let mut dir = dir.trim_end_matches('/');
    while let Some(rest) = dir.strip_prefix("./") {
        dir = rest.trim_start_matches('/');
    }
    if dir.is_empty() { ".".into() } else { dir.into() }
}

/// A push of the checkout's commit to the ref, as GitHub would deliver it for a new ref,
/// and the deployment it is read for.
fn checkout_push(repo: &Path, options: &Options) -> Result<(PushEvent, Deployment), String> {
    git(repo, &["rev-parse", "--git-dir"]).map_err(|_| format!("{} is not a git repository", repo.display()))?;
    let commit = options.commit.as_deref().unwrap_or("HEAD");
    let commit = git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{commit}^{{commit}}"),
        ],
    )
    .map_err(|_| format!("--commit {commit} names no commit in {}", repo.display()))?;
    let current = git(repo, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok();
    let git_ref = match (&options.git_ref, &current) {
        (Some(name), _) if name.starts_with("refs/") => name.clone(),
        (Some(name), _) => {
            let is_tag = git(
                repo,
                &["rev-parse", "--verify", "--quiet", &format!("refs/tags/{name}")],
            )
            .is_ok();
            let is_branch = git(
                repo,
                &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{name}")],
            )
            .is_ok();
            if is_tag && !is_branch {
                format!("refs/tags/{name}")
            } else {
                format!("refs/heads/{name}")
            }
        }
        (None, Some(branch)) => format!("refs/heads/{branch}"),
        (None, None) => {
            return Err(format!(
                "{} has no branch checked out (a detached HEAD): pass --ref with the branch or tag to read it for",
                repo.display()
            ));
        }
    };
    // The default branch: origin's, as a clone knows it, else the branch checked out.
    let default_branch = git(
        repo,
        &["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"],
    )
    .ok()
    .and_then(|b| b.strip_prefix("origin/").map(str::to_owned))
    .or(current)
    .unwrap_or_else(|| "main".into());
    let config = options
        .config
        .as_deref()
        .map(|path| {
            Deployment::from_json(&crate::read(path, "the configuration")?)
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .transpose()?;
    let full_name = repository_name(repo, config.as_ref())?;
    let host = config.as_ref().map_or(dockhand_core::config::DEFAULT_GITHUB_HOST, |d| {
        d.config.github_host.as_str()
    });
    let (owner, name) = full_name.split_once('/').expect("owner/name");
    let url = format!("https://{host}/{full_name}");
    let event = serde_json::json!({
        "ref": git_ref,
        "before": "0".repeat(40),
        "after": commit,
        "created": true,
        "repository": {
            "name": name,
            "full_name": full_name,
            "clone_url": format!("{url}.git"),
            "html_url": url,
            "default_branch": default_branch,
            "owner": { "login": owner },
        },
    });
    let push = crate::parse_push(event.to_string().as_bytes()).map_err(|e| format!("{}: {e}", repo.display()))?;
    let deployment = match config {
        Some(deployment) => deployment,
        None => crate::default_deployment(owner, &full_name)?,
    };
    Ok((push, deployment))
}

/// The GitHub repository a checkout is: its `origin` remote's `owner/name` when the
/// deployment builds it (or there is no deployment), else the one repository the
/// deployment names, or `owner/<the checkout's directory>` for `owner/*`.
fn repository_name(repo: &Path, deployment: Option<&Deployment>) -> Result<String, String> {
    let builds = |name: &str| deployment.is_none_or(|d| d.config.builds_repository(name));
    if let Some(name) = git(repo, &["remote", "get-url", "origin"])
        .ok()
        .and_then(|url| owner_and_name(&url))
        && builds(&name)
    {
        return Ok(name);
    }
    let listed: Vec<&str> = deployment
        .and_then(|d| d.config.repositories.as_deref())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let directory = repo
        .canonicalize()
        .ok()
        .and_then(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().trim_end_matches(".git").to_owned())
        })
        .unwrap_or_default();
    match listed.as_slice() {
        [one] => match one.strip_suffix("/*") {
            Some(owner) => Ok(format!("{owner}/{directory}")),
            None => Ok((*one).to_owned()),
        },
        _ => Err(format!(
            "cannot tell which GitHub repository {} is: its origin remote names none{}; pass --config with the repository in `repositories` (just that one)",
            repo.display(),
            if deployment.is_some() {
                " that the deployment builds"
            } else {
                ""
            }
        )),
    }
}

/// `owner/name` of a GitHub remote URL (`https://github.com/o/n.git`, `git@github.com:o/n`).
fn owner_and_name(url: &str) -> Option<String> {
    let url = url.trim();
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/')?.1,
        None => url.split_once(':')?.1,
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let (owner, name) = path.split_once('/')?;
    let valid = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    (valid(owner) && valid(name)).then(|| format!("{owner}/{name}"))
}

/// `git -C repo ARGS`' output, trimmed, independent of the user's pager and prompts.
fn git(repo: &Path, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("cannot run git ({e}): dockhand graph --repo needs git"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_named_as_the_graph_names_them() {
        for (given, dir) in [
            ("base", "base"),
            ("base/", "base"),
            ("./a/b/", "a/b"),
            ("./", "."),
            (".", "."),
        ] {
            assert_eq!(normalize(given), dir, "{given}");
        }
    }

    #[test]
    fn remotes_name_their_repository() {
        for (url, name) in [
            (
                "https://github.com/jessfraz/dockerfiles.git",
                Some("jessfraz/dockerfiles"),
            ),
            ("git@github.com:acme/images.git\n", Some("acme/images")),
            ("ssh://git@ghe.example.com/acme/images", Some("acme/images")),
            ("/srv/git/images.git", None),
            ("https://github.com/acme/", None),
        ] {
            assert_eq!(owner_and_name(url).as_deref(), name, "{url}");
        }
    }
}
