//! The GitHub client against the GitHub stand-in of local mode, both answering from a real
//! git repository built here commit by commit: what `tree`, `compare` and `file` answer is
//! checked against `git` itself, and the unhappy paths (a private repository, a truncated
//! tree, rate limits, a flaky server) against the request log.

use dockhand_core::commit_status::{CommitStatus, State};
use dockhand_core::index::{DockerfileIndex, TreeIndex};
use dockhand_core::ports::SourceHost;
use dockhand_core::tree::{ChangedFile, FileKind, HostError, Listing, ObjectId, TreeFile};
use dockhand_fake_github::{FakeGitHub, FakeOptions};
use dockhand_github::{GitHub, Policy};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const REPO: &str = "acme/images";

/// Every read here allows 2 MB, more than any file of the repository but `huge.yml`.
const MAX: usize = 2 * 1024 * 1024;

/// A config file, as the planner reads it.
const CONFIG: &str = "images:\n  web:\n    tags: [latest]\n";

/// A file over GitHub's 1 MB limit for JSON contents (served raw instead).
fn large_file() -> String {
    (0..40_000).map(|i| format!("line {i:05} of a large file\n")).collect()
}

/// A git repository under the test's temporary directory, removed when dropped.
struct Repo {
    dir: PathBuf,
    work: PathBuf,
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Repo {
    fn new(name: &str) -> Repo {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("github_api-{name}-{}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let repo = Repo { dir, work };
        repo.git(&["init", "--quiet", "-b", "main"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.work)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Octo Cat")
            .env("GIT_AUTHOR_EMAIL", "octocat@example.com")
            .env("GIT_COMMITTER_NAME", "Octo Cat")
            .env("GIT_COMMITTER_EMAIL", "octocat@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Writes (`Some`) or removes (`None`) files, commits, answers the commit id.
    fn commit(&self, message: &str, changes: &[(&str, Option<&str>)]) -> String {
        for (path, content) in changes {
            let file = self.work.join(path);
            match content {
                Some(text) => {
                    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                    std::fs::write(&file, text).unwrap();
                }
                None => std::fs::remove_file(&file).unwrap(),
            }
        }
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn rename(&self, from: &str, to: &str, message: &str) -> String {
        std::fs::create_dir_all(self.work.join(to).parent().unwrap()).unwrap();
        self.git(&["mv", from, to]);
        self.commit(message, &[])
    }

    /// `git ls-tree -r -t`: every blob (files and symlinks) with its id, sorted by path,
    /// and every directory's tree id, the root's (`rev-parse <commit>^{tree}`) as ".".
    fn ls_tree(&self, commit: &str) -> Listing {
        let listing = self.git(&["ls-tree", "-r", "-t", "-z", commit]);
        let mut trees: Vec<(Box<str>, ObjectId)> = listing
            .split('\0')
            .filter_map(|record| {
                let (meta, path) = record.split_once('\t')?;
                let fields: Vec<&str> = meta.split(' ').collect();
                (fields[1] == "tree").then(|| (path.into(), fields[2].parse().unwrap()))
            })
            .collect();
        let root = self.git(&["rev-parse", &format!("{commit}^{{tree}}")]);
        trees.push((".".into(), root.trim().parse().unwrap()));
        trees.sort();
        let mut files: Vec<TreeFile> = listing
            .split('\0')
            .filter_map(|record| {
                let (meta, path) = record.split_once('\t')?;
                let fields: Vec<&str> = meta.split(' ').collect();
                (fields[1] == "blob").then(|| {
                    TreeFile::new(
                        path,
                        fields[2].parse().unwrap(),
                        FileKind::from_mode(fields[0]).unwrap(),
                    )
                })
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Listing { files, trees }
    }

    /// `git diff --no-renames base head` as changed files, sorted by path.
    fn diff_no_renames(&self, base: &str, head: &str) -> Vec<ChangedFile> {
        let text = self.git(&["diff", "--name-status", "--no-renames", "-z", base, head]);
        let fields: Vec<&str> = text.split('\0').filter(|f| !f.is_empty()).collect();
        let mut files: Vec<ChangedFile> = fields
            .chunks(2)
            .map(|pair| ChangedFile {
                path: pair[1].to_owned(),
                previous_path: None,
                removed: pair[0] == "D",
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }
}

/// The monorepo's history: `first` (images at the root, in `web/`, nested in `chrome/`),
/// `second` (a modification, a rename across directories, a removal, an addition), and
/// `side`, a branch from `first` that a forced push would land on.
struct History {
    repo: Repo,
    first: String,
    second: String,
    side: String,
}

fn history(name: &str) -> Option<History> {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("NOTICE: git is not installed; skipping the GitHub API test {name}");
        return None;
    }
    let repo = Repo::new(name);
    let large = large_file();
    // A symlink is a blob too (mode 120000).
    std::fs::create_dir_all(repo.work.join("web")).unwrap();
    std::os::unix::fs::symlink("index.html", repo.work.join("web/current.html")).unwrap();
    // A symlink named Dockerfile is not one.
    std::fs::create_dir_all(repo.work.join("linked")).unwrap();
    std::os::unix::fs::symlink("../web/Dockerfile", repo.work.join("linked/Dockerfile")).unwrap();
    let first = repo.commit(
        "images",
        &[
            ("Dockerfile", Some("FROM scratch\nCOPY root.txt /\n")),
            ("root.txt", Some("root\n")),
            (".dockhand.yml", Some(CONFIG)),
            ("web/Dockerfile", Some("FROM scratch\nCOPY index.html /srv/\n")),
            ("web/index.html", Some("<h1>acme</h1>\n")),
            ("chrome/stable/Dockerfile", Some("FROM scratch\nLABEL channel=stable\n")),
            ("chrome/beta/Dockerfile", Some("FROM scratch\nLABEL channel=beta\n")),
            ("lib/util.sh", Some("#!/bin/sh\necho util\n")),
            ("docs/a b/ü.md", Some("unusual path\n")),
            ("assets/large.txt", Some(&large)),
        ],
    );
    repo.rename("chrome/beta/Dockerfile", "browsers/beta/Dockerfile", "move beta");
    let second = repo.commit(
        "web, api, no util",
        &[
            ("web/index.html", Some("<h1>acme images</h1>\n")),
            ("api/Dockerfile", Some("FROM scratch\nLABEL api=1\n")),
            ("lib/util.sh", None),
        ],
    );
    repo.git(&["checkout", "--quiet", "-b", "side", &first]);
    let side = repo.commit(
        "side",
        &[
            ("Dockerfile", Some("FROM scratch\nCOPY root.txt /srv/\n")),
            ("side/Dockerfile", Some("FROM scratch\n")),
        ],
    );
    repo.git(&["checkout", "--quiet", "main"]);
    Some(History {
        repo,
        first,
        second,
        side,
    })
}

fn fast() -> Policy {
    Policy {
        request_timeout: Duration::from_secs(10),
        attempts: 3,
        backoff: Duration::from_millis(10),
        max_rate_limit_wait: Duration::ZERO,
        max_requests: 3000,
        time_budget: Duration::from_secs(20),
        mutation_pause: Duration::ZERO,
    }
}

fn client(fake: &FakeGitHub, token: Option<&str>, policy: Policy) -> GitHub {
    GitHub::new(&fake.url(), token.map(str::to_owned))
        .unwrap()
        .with_policy(policy)
}

fn sorted(mut files: Vec<ChangedFile>) -> Vec<ChangedFile> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn changed(path: &str, previous: Option<&str>, removed: bool) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        previous_path: previous.map(Into::into),
        removed,
    }
}

#[tokio::test]
async fn tree_equals_git_ls_tree_at_every_commit() {
    let Some(h) = history("tree") else { return };
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    let github = client(&fake, None, fast());
    for commit in [&h.first, &h.second, &h.side] {
        let files = github.tree(REPO, commit).await.unwrap();
        assert_eq!(files, h.repo.ls_tree(commit), "at {commit}");
    }
    let first = github.tree(REPO, &h.first).await.unwrap();
    let paths: Vec<&str> = first.files.iter().map(|f| &*f.path).collect();
    // The symlink is known to be one; the rest are not.
    let kinds: Vec<(&str, FileKind)> = first
        .files
        .iter()
        .filter(|f| f.kind != FileKind::Regular)
        .map(|f| (&*f.path, f.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("linked/Dockerfile", FileKind::Symlink),
            ("web/current.html", FileKind::Symlink)
        ]
    );
    // Nested layouts, a symlink (a blob), an unusual path; no directory entries.
    for expected in [
        "Dockerfile",
        "web/Dockerfile",
        "chrome/stable/Dockerfile",
        "web/current.html",
        "docs/a b/ü.md",
    ] {
        assert!(paths.contains(&expected), "{expected} in {paths:?}");
    }
    assert!(!paths.contains(&"web") && !paths.contains(&"chrome/stable"));
    // The index has the Dockerfiles and not the symlink.
    assert_eq!(
        TreeIndex::from_files(&first.files).all().unwrap(),
        [".", "chrome/beta", "chrome/stable", "web"]
    );
    // One recursive listing per tree.
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert_eq!(
        requests[0],
        format!("GET /repos/{REPO}/git/trees/{}?recursive=1", h.first)
    );
}

/// The stand-in over `h`'s repository, truncating every recursive listing over 3 entries.
fn truncating(h: &History) -> FakeGitHub {
    FakeGitHub::start(
        REPO,
        &h.repo.work,
        FakeOptions {
            truncate_over: Some(3),
            ..FakeOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn truncated_tree_is_walked_to_the_complete_listing() {
    let Some(h) = history("truncated") else { return };
    let fake = truncating(&h);
    let github = client(&fake, None, fast());
    for commit in [&h.first, &h.second] {
        assert_eq!(
            github.tree(REPO, commit).await.unwrap(),
            h.repo.ls_tree(commit),
            "at {commit}"
        );
    }
    let requests = fake.requests();
    // The truncated listing, the root alone, then subtrees: `chrome` (4 entries) is
    // truncated again and listed alone, its two directories recursively.
    assert!(requests.len() > 10, "{requests:#?}");
    assert!(requests.iter().any(|r| r.ends_with(&format!("/git/trees/{}", h.first))));
    // The walk is bounded.
    let bounded = client(
        &fake,
        None,
        Policy {
            max_requests: 4,
            ..fast()
        },
    );
    let before = fake.requests().len();
    let err = bounded.tree(REPO, &h.first).await.unwrap_err();
    // Not retried (Unavailable is): a walk that needs more requests always will.
    assert!(
        matches!(&err, HostError::OverBudget(m) if m.contains("more than 4 requests")),
        "{err}"
    );
    assert_eq!(fake.requests().len() - before, 4);
}

#[tokio::test]
async fn compare_fast_forward_uses_githubs_list() {
    let Some(h) = history("compare") else { return };
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    let github = client(&fake, None, fast());
    let files = github.compare(REPO, &h.first, &h.second).await.unwrap();
    assert_eq!(
        sorted(files),
        [
            changed("api/Dockerfile", None, false),
            changed("browsers/beta/Dockerfile", Some("chrome/beta/Dockerfile"), false),
            changed("lib/util.sh", None, true),
            changed("web/index.html", None, false),
        ]
    );
    assert_eq!(
        fake.requests(),
        [format!("GET /repos/{REPO}/compare/{}...{}", h.first, h.second)]
    );
    assert_eq!(github.compare(REPO, &h.second, &h.second).await.unwrap(), []);
}

#[tokio::test]
async fn compare_diverged_or_behind_is_the_exact_tree_diff() {
    let Some(h) = history("diverged") else { return };
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    let github = client(&fake, None, fast());
    // A forced push from `second` to `side`: GitHub would list side's changes since the
    // merge base (`first`), missing what `second` had and `side` has not.
    let files = github.compare(REPO, &h.second, &h.side).await.unwrap();
    let expected = h.repo.diff_no_renames(&h.second, &h.side);
    assert_eq!(sorted(files), expected);
    assert!(expected.iter().any(|f| f.path == "api/Dockerfile" && f.removed));
    assert!(
        expected
            .iter()
            .any(|f| f.path == "chrome/beta/Dockerfile" && !f.removed)
    );
    assert_eq!(
        fake.requests().len(),
        3,
        "compare, then the two trees: {:#?}",
        fake.requests()
    );
    // Backwards (`behind`) too.
    let back = github.compare(REPO, &h.second, &h.first).await.unwrap();
    assert_eq!(sorted(back), h.repo.diff_no_renames(&h.second, &h.first));
    // A commit GitHub does not have (gone after a forced push).
    let gone = "0123456789abcdef0123456789abcdef01234567";
    let err = github.compare(REPO, gone, &h.second).await.unwrap_err();
    assert!(
        matches!(&err, HostError::NotFound(m) if m.contains("/compare/")),
        "{err}"
    );
}

#[tokio::test]
async fn file_contents() {
    let Some(h) = history("file") else { return };
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    let github = client(&fake, None, fast());
    let config = github.file(REPO, &h.first, ".dockhand.yml", MAX).await.unwrap();
    assert_eq!(config.as_deref(), Some(CONFIG.as_bytes()));
    assert_eq!(
        github
            .file(REPO, &h.first, "web/Dockerfile", MAX)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"FROM scratch\nCOPY index.html /srv/\n"[..])
    );
    assert_eq!(
        github
            .file(REPO, &h.first, "docs/a b/ü.md", MAX)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"unusual path\n"[..])
    );
    // Missing at this commit, never there, a directory.
    assert_eq!(github.file(REPO, &h.second, "lib/util.sh", MAX).await.unwrap(), None);
    assert_eq!(
        github.file(REPO, &h.first, "nothing/here.yml", MAX).await.unwrap(),
        None
    );
    assert_eq!(github.file(REPO, &h.first, "web", MAX).await.unwrap(), None);
    // Over 1 MB: GitHub sends no content in JSON; the raw media type gets it.
    let before = fake.requests().len();
    let large = github.file(REPO, &h.first, "assets/large.txt", MAX).await.unwrap();
    assert_eq!(large.as_deref(), Some(large_file().as_bytes()));
    let requests = fake.requests();
    assert_eq!(requests.len() - before, 2, "{requests:#?}");
    assert_eq!(
        requests[before],
        format!("GET /repos/{REPO}/contents/assets/large.txt?ref={}", h.first)
    );
    assert!(
        requests
            .iter()
            .any(|r| r.contains("/contents/docs/a%20b/%C3%BC.md?ref=")),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn private_repository_needs_its_token() {
    let Some(h) = history("private") else { return };
    let token = "ghp_test0123456789SECRET";
    let fake = FakeGitHub::start(
        REPO,
        &h.repo.work,
        FakeOptions {
            token: Some(token.into()),
            ..FakeOptions::default()
        },
    )
    .unwrap();
    let anonymous = client(&fake, None, fast());
    let err = anonymous.tree(REPO, &h.first).await.unwrap_err();
    assert!(
        matches!(&err, HostError::NotFound(m) if m.contains("private") && m.contains("no token")),
        "{err}"
    );
    let wrong = client(&fake, Some("ghp_wrong"), fast());
    let err = wrong.tree(REPO, &h.first).await.unwrap_err();
    assert!(
        matches!(&err, HostError::Denied(m) if m.contains("Bad credentials")),
        "{err}"
    );
    assert!(!err.to_string().contains("ghp_wrong"));
    let right = client(&fake, Some(token), fast());
    assert_eq!(right.tree(REPO, &h.first).await.unwrap(), h.repo.ls_tree(&h.first));
    assert_eq!(
        right
            .file(REPO, &h.first, ".dockhand.yml", MAX)
            .await
            .unwrap()
            .as_deref(),
        Some(CONFIG.as_bytes())
    );
    assert!(!format!("{right:?}").contains(token));
}

#[tokio::test]
async fn rate_limit_fails_fast_by_default() {
    let Some(h) = history("ratelimit") else { return };
    let fake = FakeGitHub::start(
        REPO,
        &h.repo.work,
        FakeOptions {
            rate_limited: 1,
            ..FakeOptions::default()
        },
    )
    .unwrap();
    let github = client(&fake, None, fast());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let err = github.tree(REPO, &h.first).await.unwrap_err();
    let HostError::RateLimited { reset, detail } = &err else {
        panic!("{err:?}")
    };
    assert!((now..=now + 2).contains(reset), "reset {reset}, now {now}");
    assert!(
        detail.contains("API rate limit exceeded") && detail.contains("/git/trees/"),
        "{detail}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn rate_limit_is_waited_out_when_allowed() {
    let Some(h) = history("ratewait") else { return };
    let fake = FakeGitHub::start(
        REPO,
        &h.repo.work,
        FakeOptions {
            rate_limited: 1,
            ..FakeOptions::default()
        },
    )
    .unwrap();
    let github = client(
        &fake,
        None,
        Policy {
            max_rate_limit_wait: Duration::from_secs(3),
            ..fast()
        },
    );
    let started = Instant::now();
    assert_eq!(github.tree(REPO, &h.first).await.unwrap(), h.repo.ls_tree(&h.first));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(fake.requests().len(), 2, "{:#?}", fake.requests());
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let Some(h) = history("unavailable") else { return };
    let flaky = FakeGitHub::start(
        REPO,
        &h.repo.work,
        FakeOptions {
            unavailable: 2,
            ..FakeOptions::default()
        },
    )
    .unwrap();
    let github = client(&flaky, None, fast());
    assert_eq!(github.tree(REPO, &h.first).await.unwrap(), h.repo.ls_tree(&h.first));
    assert_eq!(flaky.requests().len(), 3, "two 502s, then the answer");

    let down = FakeGitHub::start(
        REPO,
        &h.repo.work,
        FakeOptions {
            unavailable: 5,
            ..FakeOptions::default()
        },
    )
    .unwrap();
    let github = client(&down, None, fast());
    let err = github.file(REPO, &h.first, ".dockhand.yml", MAX).await.unwrap_err();
    assert!(
        matches!(&err, HostError::Unavailable(m) if m.contains("502") && m.contains("3 attempts")),
        "{err}"
    );
    assert_eq!(down.requests().len(), 3, "policy.attempts and no more");
}

#[tokio::test]
async fn connection_failures_are_unavailable() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let github = GitHub::new(&format!("http://127.0.0.1:{port}"), None)
        .unwrap()
        .with_policy(Policy { attempts: 2, ..fast() });
    let err = github.tree(REPO, &"a".repeat(40)).await.unwrap_err();
    assert!(
        matches!(&err, HostError::Unavailable(m) if m.contains("2 attempts") && m.contains("/git/trees/")),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_repository_and_commit_are_not_found() {
    let Some(h) = history("unknown") else { return };
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    let github = client(&fake, None, fast());
    let err = github.tree("acme/other", &h.first).await.unwrap_err();
    assert!(matches!(err, HostError::NotFound(_)), "{err:?}");
    let err = github.tree(REPO, &"0".repeat(40)).await.unwrap_err();
    assert!(matches!(err, HostError::NotFound(_)), "{err:?}");
    // Invalid input never reaches the server.
    let before = fake.requests().len();
    assert!(matches!(
        github.tree("acme/../x", &h.first).await,
        Err(HostError::NotFound(_))
    ));
    assert!(matches!(
        github.file(REPO, &h.first, "../etc/passwd", MAX).await,
        Err(HostError::NotFound(_))
    ));
    assert_eq!(fake.requests().len(), before);
}

#[tokio::test]
async fn compare_of_truncated_trees_reads_only_the_directories_that_differ() {
    let Some(h) = history("diffwalk") else { return };
    let fake = truncating(&h);
    let github = client(&fake, None, fast());
    // Forced both ways, and a fast-forward GitHub lists itself.
    for (base, head) in [(&h.second, &h.side), (&h.side, &h.second), (&h.first, &h.side)] {
        let files = github.compare(REPO, base, head).await.unwrap();
        assert_eq!(sorted(files), h.repo.diff_no_renames(base, head), "{base}...{head}");
    }
    // `chrome/stable` and `docs` are the same trees at `second` and `side`: never listed.
    let before = fake.requests().len();
    github.compare(REPO, &h.second, &h.side).await.unwrap();
    let requests = &fake.requests()[before..];
    for same in ["chrome/stable", "docs", "assets"] {
        let tree = h.repo.git(&["rev-parse", &format!("{}:{same}", h.second)]);
        assert!(
            !requests.iter().any(|r| r.contains(tree.trim())),
            "{same} listed: {requests:#?}"
        );
    }
    // Fewer requests than walking the two trees whole.
    let walks = {
        let before = fake.requests().len();
        github.tree(REPO, &h.second).await.unwrap();
        github.tree(REPO, &h.side).await.unwrap();
        fake.requests().len() - before
    };
    assert!(
        requests.len() < walks + 1,
        "{} vs {walks}: {requests:#?}",
        requests.len()
    );
}

#[tokio::test]
async fn a_walk_stops_at_its_time_budget() {
    let Some(h) = history("budget") else { return };
    let fake = FakeGitHub::start(
        REPO,
        &h.repo.work,
        FakeOptions {
            truncate_over: Some(3),
            delay: Duration::from_millis(100),
            ..FakeOptions::default()
        },
    )
    .unwrap();
    let github = client(
        &fake,
        None,
        Policy {
            time_budget: Duration::from_millis(350),
            ..fast()
        },
    );
    let started = Instant::now();
    let err = github.tree(REPO, &h.first).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, HostError::OverBudget(m) if m.contains("took more than its 350ms") && m.contains("git/trees#get-a-tree")),
        "{err}"
    );
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
    // Stopped: the whole walk takes more than ten requests.
    let made = fake.requests().len();
    assert!((3..=5).contains(&made), "{made}: {:#?}", fake.requests());
    // The comparison's fallback too.
    let err = github.compare(REPO, &h.second, &h.side).await.unwrap_err();
    assert!(
        matches!(&err, HostError::OverBudget(m) if m.contains("comparing")),
        "{err}"
    );
    // With time enough the same walk completes.
    let patient = client(&fake, None, fast());
    assert_eq!(patient.tree(REPO, &h.first).await.unwrap(), h.repo.ls_tree(&h.first));
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_without_downloading_it() {
    let Some(h) = history("filelimit") else { return };
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    let github = client(&fake, None, fast());
    let limit = dockhand_core::repo_config::MAX_FILE_BYTES;
    // A file sent base64 in JSON, and one over GitHub's 1 MB that would come raw: the size
    // GitHub states is enough, and nothing is downloaded raw.
    for path in ["assets/large.txt", "root.txt"] {
        let size = std::fs::metadata(h.repo.work.join(path)).unwrap().len();
        let small = (size as usize) / 2;
        let before = fake.requests().len();
        let err = github.file(REPO, &h.first, path, small).await.unwrap_err();
        assert_eq!(
            err,
            HostError::FileTooLarge {
                path: path.into(),
                limit: small,
                size: Some(size)
            }
        );
        assert_eq!(fake.requests().len() - before, 1, "{:#?}", fake.requests());
    }
    // A large .dockhand.yml, as the planner meets it.
    let huge: String = (0..limit / 10 + 10).map(|i| format!("# {i:07}\n")).collect();
    let big = h.repo.commit("a large config", &[(".dockhand.yml", Some(&huge))]);
    let err = match github.file(REPO, &big, ".dockhand.yml", limit).await {
        Ok(content) => panic!("read {:?} bytes", content.map(|c| c.len())),
        Err(e) => e,
    };
    assert!(
        matches!(&err, HostError::FileTooLarge { limit: l, size: Some(s), .. } if *l == limit && *s == huge.len() as u64),
        "{err:?}"
    );
    // Exactly at the limit is allowed.
    let exact = "#".repeat(limit);
    let at = h.repo.commit("at the limit", &[(".dockhand.yml", Some(&exact))]);
    assert_eq!(
        github
            .file(REPO, &at, ".dockhand.yml", limit)
            .await
            .unwrap()
            .map(|b| b.len()),
        Some(limit)
    );
}

#[tokio::test]
async fn an_orders_repository_and_ref_are_resolved_as_git_names_them() {
    let Some(h) = history("order") else { return };
    h.repo.git(&["tag", "v1.0", &h.first]);
    h.repo.git(&["branch", "feature/x", &h.side]);
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    let github = client(&fake, None, fast());
    // GitHub's spelling wins over the asker's.
    let info = github.repository("ACME/Images").await.unwrap();
    assert_eq!(
        (
            info.full_name.as_str(),
            info.name.as_str(),
            info.private,
            info.default_branch.as_str()
        ),
        (REPO, "images", false, "main")
    );
    let head = github.commit(REPO, "refs/heads/main").await.unwrap();
    assert_eq!(head.sha, h.second);
    assert_eq!(head.message, "web, api, no util");
    assert_eq!(head.author.as_deref(), Some("Octo Cat"));
    assert!(head.timestamp.is_some());
    // A tag is peeled to its commit; a branch with a slash is one ref; a commit id is itself.
    assert_eq!(github.commit(REPO, "refs/tags/v1.0").await.unwrap().sha, h.first);
    assert_eq!(github.commit(REPO, "refs/heads/feature/x").await.unwrap().sha, h.side);
    assert_eq!(github.commit(REPO, &h.first).await.unwrap().sha, h.first);
    // What names nothing is not found (GitHub answers 422), and never sent when malformed.
    for missing in ["refs/heads/nope", "refs/tags/v9"] {
        let e = github.commit(REPO, missing).await.unwrap_err();
        assert!(matches!(&e, HostError::NotFound(m) if m.contains(missing)), "{e}");
    }
    let sent = fake.requests().len();
    for bad in ["main", "refs/remotes/x", "refs/heads/../../x", "refs/heads/a?b=1#"] {
        assert!(github.commit(REPO, bad).await.is_err(), "{bad}");
    }
    let requests = fake.requests();
    assert!(
        requests[sent..]
            .iter()
            .all(|r| !r.contains("..") && !r.contains("remotes")),
        "{requests:#?}"
    );
    assert!(matches!(
        github.repository("acme/other").await,
        Err(HostError::NotFound(_))
    ));
    // A commit is on a ref when the ref's head is it or comes after it.
    assert!(github.is_ancestor(REPO, &h.first, &h.second).await.unwrap());
    assert!(github.is_ancestor(REPO, &h.second, &h.second).await.unwrap());
    assert!(!github.is_ancestor(REPO, &h.second, &h.first).await.unwrap(), "behind");
    assert!(!github.is_ancestor(REPO, &h.side, &h.second).await.unwrap(), "diverged");
}

/// A commit status as the notifier posts it, on `sha` of [`REPO`].
fn status(sha: &str, state: State, context: &str) -> CommitStatus {
    CommitStatus {
        repository: REPO.into(),
        sha: sha.into(),
        state,
        target_url: Some("https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=/aws/codebuild/dockhand;stream=a1".into()),
        description: "built and pushed in 3m 12s".into(),
        context: context.into(),
    }
}

#[tokio::test]
async fn commit_statuses_are_posted_with_their_fields() {
    let Some(h) = history("statuses") else { return };
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    let github = client(&fake, Some("ghp_token"), fast());
    github
        .create_status(&status(&h.first, State::Pending, "dockhand/web"))
        .await
        .unwrap();
    let mut end = status(&h.first, State::Failure, "dockhand/a b/\"ü\"");
    end.target_url = None;
    github.create_status(&end).await.unwrap();
    let posted = fake.statuses();
    assert_eq!(posted.len(), 2);
    assert_eq!(
        (
            posted[0].repository.as_str(),
            posted[0].sha.as_str(),
            posted[0].state.as_str(),
            posted[0].context.as_str()
        ),
        (REPO, h.first.as_str(), "pending", "dockhand/web")
    );
    assert_eq!(posted[0].description.as_deref(), Some("built and pushed in 3m 12s"));
    assert!(
        posted[0]
            .target_url
            .as_deref()
            .unwrap()
            .starts_with("https://console.aws.amazon.com/")
    );
    assert_eq!(
        (
            posted[1].state.as_str(),
            posted[1].context.as_str(),
            posted[1].target_url.as_deref()
        ),
        ("failure", "dockhand/a b/\"ü\"", None)
    );
    assert_eq!(fake.requests()[0], format!("POST /repos/{REPO}/statuses/{}", h.first));
}

#[tokio::test]
async fn commit_status_failures_are_explained_and_bounded() {
    let Some(h) = history("status-failures") else { return };
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    let secret = "ghp_0123456789SECRET";
    let github = client(&fake, Some(secret), fast());
    let posted = status(&h.first, State::Success, "dockhand/web");

    // A token without the permission: said, not retried.
    fake.fail_statuses(403, 1);
    let err = github.create_status(&posted).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, HostError::Denied(_))
            && text.contains("Commit statuses: read and write")
            && text.contains("repo:status")
            && text.contains("statuses=write")
            && !text.contains(secret),
        "{text}"
    );
    assert_eq!(fake.requests().len(), 1);

    // A 500 is retried: two of them, then the status is posted.
    fake.fail_statuses(500, 2);
    github.create_status(&posted).await.unwrap();
    assert_eq!(fake.requests().len(), 4);
    assert_eq!(fake.statuses().len(), 1);

    // GitHub down: policy.attempts and no more.
    fake.fail_statuses(500, 5);
    let err = github.create_status(&posted).await.unwrap_err();
    assert!(
        matches!(&err, HostError::Unavailable(m) if m.contains("500") && m.contains("3 attempts") && !m.contains(secret)),
        "{err}"
    );
    assert_eq!(fake.requests().len(), 7);

    // A commit the repository does not have, another repository: GitHub's answers.
    let err = github
        .create_status(&status(&"a".repeat(40), State::Success, "dockhand/web"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HostError::Unavailable(m) if m.contains("422") && m.contains("No commit found")),
        "{err}"
    );
    let mut other = posted.clone();
    other.repository = "acme/other".into();
    let err = github.create_status(&other).await.unwrap_err();
    assert!(
        matches!(&err, HostError::NotFound(m) if m.contains("Commit statuses")),
        "{err}"
    );

    // Nothing unchecked reaches a URL: no request at all.
    let before = fake.requests().len();
    for (repository, sha) in [
        ("acme/../x", h.first.as_str()),
        ("acme/images/statuses", h.first.as_str()),
        (REPO, "main"),
        (REPO, "../../user"),
        (REPO, &h.first[..7]),
    ] {
        let mut bad = posted.clone();
        (bad.repository, bad.sha) = (repository.into(), sha.into());
        assert!(
            matches!(github.create_status(&bad).await, Err(HostError::NotFound(_))),
            "{repository} {sha}"
        );
    }
    assert_eq!(fake.requests().len(), before);
    assert_eq!(fake.statuses().len(), 1);
}

/// The stand-in refuses what GitHub refuses, so a client sending a bad status is caught.
#[tokio::test]
async fn the_stand_in_validates_statuses_as_github_does() {
    let Some(h) = history("status-validation") else { return };
    let fake = FakeGitHub::start(REPO, &h.repo.work, FakeOptions::default()).unwrap();
    // Raw HTTP: what no client of ours would send.
    let address = fake.url().trim_start_matches("http://").to_owned();
    let post = |body: &str| -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "POST /repos/{REPO}/statuses/{} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            h.first,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer.split(' ').nth(1).unwrap_or_default().to_owned()
    };
    let long = format!(r#"{{"state":"success","description":"{}"}}"#, "x".repeat(141));
    for (body, code) in [
        (r#"{"state":"success"}"#, "201"),
        (
            r#"{"state":"success","context":"dockhand/web","target_url":null}"#,
            "201",
        ),
        (r#"{"state":"done"}"#, "422"),
        (r#"{"context":"dockhand/web"}"#, "422"),
        (r#"{"state":"success","context":7}"#, "422"),
        (r#"{"state":"success","target_url":"javascript:alert(1)"}"#, "422"),
        (long.as_str(), "422"),
        ("not json", "400"),
    ] {
        assert_eq!(post(body), code, "{body}");
    }
    let posted = fake.statuses();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0].context, "default", "GitHub's default context");
}
