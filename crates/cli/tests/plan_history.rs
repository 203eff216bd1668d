//! Acceptance: a git repository is built commit by commit with the layouts of real Dockerfile
//! monorepos (a root Dockerfile, `name/Dockerfile`, `name/suite/Dockerfile`, a Dockerfile
//! removed, a directory renamed, a file moved between contexts, an ignored directory), and
//! for every commit `dockhand plan` is run as a user would: `--tree` from `git ls-tree`, a
//! push payload made from `git diff --name-status -M C^ C` (GitHub lists a rename as the old
//! path removed and the new one added), and `.dockhand.yml` read at the commit. Each plan
//! must select exactly the hand-written set of directories (and, under the `suite` preset,
//! images and tags). Then the push shapes without a usable commit list: a new branch, a new
//! tag, a forced push and an empty commit list, planned with `--changes`.

use dockhand_fake_github::{FakeGitHub, FakeOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Repo {
    dir: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("dockhand-history-{}-{nanos}", std::process::id()));
        let work = dir.join("repo");
        std::fs::create_dir_all(&work).unwrap();
        let repo = Repo { dir, work };
        repo.git(&["init", "--quiet"]);
        std::fs::write(
            repo.dir.join("config.json"),
            json!({"registry": {"type": "dockerhub", "namespace": "acme"}, "repositories": ["acme/images"], "repository_tags": true}).to_string(),
        )
        .unwrap();
        repo
    }

    /// git, independent of the machine's configuration.
    fn git(&self, args: &[&str]) -> String {
        dockhand_testkit::git(&self.work, &self.dir, args)
    }

    /// Writes a file whose content is unique to its path.
    fn write(&self, path: &str) {
        self.write_text(path, &format!("# {path}\nFROM scratch\n"));
    }

    fn write_text(&self, path: &str, text: &str) {
        let full = self.work.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    fn append(&self, path: &str) {
        let full = self.work.join(path);
        let mut text = std::fs::read_to_string(&full).unwrap();
        text.push_str("# changed\n");
        std::fs::write(full, text).unwrap();
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// The push GitHub would deliver for `before..after` on `git_ref`, with one commit whose
    /// lists come from `git diff --name-status -M` (no commits when `commits` is false).
    fn push(&self, git_ref: &str, before: Option<&str>, after: &str, commits: bool, forced: bool) -> PathBuf {
        let (mut added, mut modified, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        if commits {
            // The empty tree stands in for the parent of a first commit.
            let base = before.unwrap_or("4b825dc642cb6eb9a060e54bf8d69288fbee4904");
            for line in self.git(&["diff", "--name-status", "-M", base, after]).lines() {
                let fields: Vec<&str> = line.split('\t').collect();
                match fields[0].chars().next().unwrap() {
                    'A' | 'C' => added.push(fields[fields.len() - 1].to_owned()),
                    'M' | 'T' => modified.push(fields[1].to_owned()),
                    'D' => removed.push(fields[1].to_owned()),
                    'R' => {
                        removed.push(fields[1].to_owned());
                        added.push(fields[2].to_owned());
                    }
                    other => panic!("unexpected status {other} in {line}"),
                }
            }
        }
        let commit = json!({
            "id": after,
            "message": format!("commit {after}"),
            "timestamp": "2026-11-21T20:58:03Z",
            "url": format!("https://github.com/acme/images/commit/{after}"),
            "author": {"name": "t", "email": "t@e", "username": "t"},
            "added": added, "removed": removed, "modified": modified,
        });
        let push = json!({
            "ref": git_ref,
            "before": before.map_or_else(|| "0".repeat(40), str::to_owned),
            "after": after,
            "created": before.is_none(),
            "deleted": false,
            "forced": forced,
            "commits": if commits { vec![commit.clone()] } else { vec![] },
            "head_commit": commit,
            "repository": {
                "name": "images",
                "full_name": "acme/images",
                "clone_url": "https://github.com/acme/images.git",
                "html_url": "https://github.com/acme/images",
                "private": false,
                "default_branch": "main",
                "owner": {"login": "acme", "name": "acme"},
            },
            "pusher": {"name": "t", "email": "t@e"},
        });
        self.file(&format!("push-{after}.json"), &push.to_string())
    }

    /// `dockhand plan` for a push of `after`, as a user runs it; `extra` adds arguments.
    fn plan(&self, push: &Path, after: &str, extra: &[&str]) -> Plan {
        // With the directories' tree ids (`-t`) and the root's, as docs/reference/commands.md
        // says: the images' keys are then the spawner's.
        let listing = format!(
            "040000 tree {}\t.\n{}",
            self.git(&["rev-parse", &format!("{after}^{{tree}}")]).trim(),
            self.git(&["ls-tree", "-r", "-t", after])
        );
        let tree = self.file(&format!("tree-{after}"), &listing);
        let mut command = Command::new(env!("CARGO_BIN_EXE_dockhand"));
        command
            .arg("plan")
            .arg("--event")
            .arg(push)
            .arg("--tree")
            .arg(&tree)
            .arg("--config")
            .arg(self.dir.join("config.json"))
            .args(extra);
        let spec = format!("{after}:.dockhand.yml");
        let has_file = Command::new("git")
            .arg("-C")
            .arg(&self.work)
            .args(["cat-file", "-e", &spec])
            .status()
            .unwrap()
            .success();
        if has_file {
            command
                .arg("--repo-config")
                .arg(self.file(&format!("dockhand-{after}.yml"), &self.git(&["show", &spec])));
        }
        Plan::of(command)
    }

    /// `dockhand plan` for the same push the spawner's way: no --tree, GitHub's API (the
    /// stand-in at `api`, reading this repository) answers, with `token` if given.
    fn plan_online(&self, push: &Path, api: &str, token: Option<&str>, config: &Path) -> Plan {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dockhand"));
        command
            .arg("plan")
            .arg("--event")
            .arg(push)
            .arg("--config")
            .arg(config)
            .env("GITHUB_API_URL", api)
            .env_remove("GITHUB_TOKEN");
        if let Some(token) = token {
            command.env("GITHUB_TOKEN", token);
        }
        Plan::of(command)
    }
}

impl Repo {
    /// `dockhand plan` reading this checkout itself (`--repo`): offline and exact.
    fn plan_repo(&self, push: &Path, config: &Path) -> Plan {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dockhand"));
        command
            .arg("plan")
            .arg("--event")
            .arg(push)
            .arg("--repo")
            .arg(&self.work)
            .arg("--config")
            .arg(config)
            .env_remove("GITHUB_API_URL")
            .env_remove("GITHUB_TOKEN");
        Plan::of(command)
    }

    /// The push GitHub delivers when its commits name no files (an empty commit, a merge).
    fn push_naming_no_files(&self, before: &str, after: &str) -> PathBuf {
        let path = self.push("refs/heads/main", Some(before), after, true, false);
        let mut push: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for list in ["added", "removed", "modified"] {
            push["commits"][0][list] = json!([]);
            push["head_commit"][list] = json!([]);
        }
        std::fs::write(&path, push.to_string()).unwrap();
        path
    }
}

impl Plan {
    fn of(mut command: Command) -> Plan {
        let out = command.output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let lines = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        Plan {
            lines,
            stderr,
            ok: out.status.success(),
        }
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Plan {
    lines: Vec<Value>,
    stderr: String,
    ok: bool,
}

impl Plan {
    fn builds(&self) -> Vec<String> {
        self.of_kind("build")
    }

    fn skips(&self) -> Vec<String> {
        self.of_kind("skip")
    }

    fn of_kind(&self, kind: &str) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| l["kind"] == kind)
            .map(|l| l["context"].as_str().unwrap().to_owned())
            .collect()
    }

    fn reason(&self, context: &str) -> String {
        self.lines
            .iter()
            .find(|l| l["kind"] == "skip" && l["context"] == context)
            .map(|l| l["reason"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no skip for {context}: {:?}", self.lines))
    }

    /// Every `image:tag` pushed, sorted, without the registry and namespace.
    fn references(&self) -> Vec<String> {
        let mut refs: Vec<String> = self
            .lines
            .iter()
            .filter(|l| l["kind"] == "build")
            .flat_map(|l| {
                let image = l["image"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("docker.io/acme/")
                    .to_owned();
                l["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |t| format!("{image}:{}", t.as_str().unwrap()))
                    .collect::<Vec<_>>()
            })
            .collect();
        refs.sort();
        refs
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `image:tag` references with `{sha7}` standing for the commit's short SHA, sorted.
fn references(commit: &str, v: &[&str]) -> Vec<String> {
    let mut refs: Vec<String> = v.iter().map(|s| s.replace("{sha7}", &commit[..7])).collect();
    refs.sort();
    refs
}

/// One step of the history: what it does, and what a push of it must build.
struct Step {
    name: &'static str,
    change: fn(&Repo),
    builds: &'static [&'static str],
    skips: &'static [&'static str],
    /// Under the suite preset: every `image:tag`, `{sha7}` for the commit.
    references: Option<&'static [&'static str]>,
}

const ALL_AT_START: &[&str] = &[".", "chrome", "chrome/beta", "chrome/stable", "tools/lint", "web"];

fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "the first commit: a new branch, every image",
            change: |r| {
                for path in [
                    "Dockerfile",
                    "app.py",
                    "README.md",
                    "web/Dockerfile",
                    "web/index.html",
                    "chrome/Dockerfile",
                    "chrome/stable/Dockerfile",
                    "chrome/beta/Dockerfile",
                    "chrome/beta/setup.sh",
                    "tools/lint/Dockerfile",
                    "tools/lint/run.sh",
                    "docs/guide.md",
                ] {
                    r.write(path);
                }
            },
            builds: ALL_AT_START,
            skips: &[],
            references: None,
        },
        Step {
            name: "a file in name/",
            change: |r| r.append("web/index.html"),
            builds: &["web"],
            skips: &[],
            references: None,
        },
        Step {
            name: "two suites of one name",
            change: |r| {
                r.append("chrome/stable/Dockerfile");
                r.append("chrome/beta/setup.sh");
            },
            builds: &["chrome/beta", "chrome/stable"],
            skips: &[],
            references: None,
        },
        Step {
            name: "a file at the root",
            change: |r| r.append("README.md"),
            builds: &["."],
            skips: &[],
            references: None,
        },
        Step {
            name: "a nested image, and a directory without a Dockerfile (the root's)",
            change: |r| {
                r.append("tools/lint/run.sh");
                r.write("tools/README.md");
            },
            builds: &[".", "tools/lint"],
            skips: &[],
            references: None,
        },
        Step {
            name: "a Dockerfile removed: its files now belong to the parent's image",
            change: |r| {
                std::fs::remove_file(r.work.join("chrome/beta/Dockerfile")).unwrap();
            },
            builds: &["chrome"],
            skips: &["chrome/beta"],
            references: None,
        },
        Step {
            name: "a rename across contexts: web/ becomes site/",
            change: |r| {
                r.git(&["mv", "web", "site"]);
            },
            builds: &[".", "site"],
            skips: &["web"],
            references: None,
        },
        Step {
            name: "a file moved from the root's context into chrome's",
            change: |r| {
                r.git(&["mv", "app.py", "chrome/app.py"]);
            },
            builds: &[".", "chrome"],
            skips: &[],
            references: None,
        },
        Step {
            name: ".dockhand.yml: suite naming, an extra tag, an ignored directory",
            change: |r| r.write_text(".dockhand.yml", "naming: suite\ntags: [nightly]\nignore: [docs]\n"),
            builds: &["."],
            skips: &[],
            references: Some(&["images:latest", "images:{sha7}", "images:nightly"]),
        },
        Step {
            name: "a change in the ignored directory builds nothing",
            change: |r| r.append("docs/guide.md"),
            builds: &[],
            skips: &["docs"],
            references: Some(&[]),
        },
        Step {
            name: "name/ and name/suite/ under the suite preset",
            change: |r| {
                r.append("chrome/Dockerfile");
                r.append("chrome/stable/Dockerfile");
            },
            builds: &["chrome", "chrome/stable"],
            skips: &[],
            references: Some(&[
                "chrome:latest",
                "chrome:{sha7}",
                "chrome:nightly",
                "chrome:stable",
                "chrome:stable-{sha7}",
                "chrome:stable-nightly",
            ]),
        },
        Step {
            name: "a nested image under the suite preset",
            change: |r| r.append("tools/lint/run.sh"),
            builds: &["tools/lint"],
            skips: &[],
            references: Some(&["tools:lint", "tools:lint-{sha7}", "tools:lint-nightly"]),
        },
        Step {
            name: "a deeper directory: its suite joins the rest of the path",
            change: |r| r.write("base/alpine/3.20/Dockerfile"),
            builds: &["base/alpine/3.20"],
            skips: &[],
            references: Some(&[
                "base:alpine-3.20",
                "base:alpine-3.20-{sha7}",
                "base:alpine-3.20-nightly",
            ]),
        },
        Step {
            name: "the root Dockerfile removed with a root file changed: nothing to build",
            change: |r| {
                std::fs::remove_file(r.work.join("Dockerfile")).unwrap();
                r.append("README.md");
            },
            builds: &[],
            skips: &["."],
            references: Some(&[]),
        },
    ]
}

#[test]
fn every_commit_of_a_history_builds_exactly_what_changed() {
    let repo = Repo::new();
    let github = FakeGitHub::start("acme/images", &repo.work, FakeOptions::default()).unwrap();
    let config = repo.dir.join("config.json");
    let mut commits: Vec<String> = Vec::new();
    for step in steps() {
        (step.change)(&repo);
        let commit = repo.commit(step.name);
        let before = commits.last().map(String::as_str);
        let push = repo.push("refs/heads/main", before, &commit, true, false);
        let plan = repo.plan(&push, &commit, &[]);
        assert!(plan.ok, "{}: {}", step.name, plan.stderr);
        assert_eq!(plan.builds(), strings(step.builds), "{}: {:?}", step.name, plan.lines);
        assert_eq!(plan.skips(), strings(step.skips), "{}: {:?}", step.name, plan.lines);
        if let Some(expected) = step.references {
            assert_eq!(plan.references(), references(&commit, expected), "{}", step.name);
        }
        // The spawner's way, through GitHub's API: the very same plan, request for request.
        let online = repo.plan_online(&push, &github.url(), None, &config);
        assert!(online.ok, "{}: {}", step.name, online.stderr);
        assert_eq!(online.lines, plan.lines, "{}", step.name);
        // And from the checkout itself, with nothing written by hand.
        let local = repo.plan_repo(&push, &config);
        assert!(local.ok, "{}: {}", step.name, local.stderr);
        assert_eq!(local.lines, plan.lines, "{}", step.name);
        commits.push(commit);
    }
    // The reasons a person reads.
    let plan_at = |i: usize| {
        let before = i.checked_sub(1).map(|p| commits[p].as_str());
        repo.plan(
            &repo.push("refs/heads/main", before, &commits[i], true, false),
            &commits[i],
            &[],
        )
    };
    assert_eq!(
        plan_at(5).reason("chrome/beta"),
        "its Dockerfile was removed by this push"
    );
    assert_eq!(
        plan_at(9).reason("docs"),
        "changes under docs are ignored (.dockhand.yml `ignore`)"
    );

    // A new branch or tag with no commit list builds every image at the commit.
    let head = commits.last().unwrap().clone();
    let all_at_head = ["base/alpine/3.20", "chrome", "chrome/stable", "site", "tools/lint"];
    let branch = repo.push("refs/heads/main", None, &head, false, false);
    assert_eq!(repo.plan(&branch, &head, &[]).builds(), strings(&all_at_head));
    assert_eq!(
        repo.plan_online(&branch, &github.url(), None, &config).builds(),
        strings(&all_at_head)
    );
    let tag = repo.push("refs/tags/v1", None, &head, false, false);
    let plan = repo.plan(&tag, &head, &[]);
    assert_eq!(plan.builds(), strings(&all_at_head));
    assert_eq!(
        plan.references(),
        references(
            &head,
            &[
                "base:alpine-3.20-v1",
                "base:alpine-3.20-nightly",
                "chrome:v1",
                "chrome:nightly",
                "chrome:stable-v1",
                "chrome:stable-nightly",
                "site:v1",
                "site:nightly",
                "tools:lint-v1",
                "tools:lint-nightly",
            ]
        )
    );
    // The first commit, pushed as a new branch without a commit list.
    let first = repo.push("refs/heads/main", None, &commits[0], false, false);
    assert_eq!(repo.plan(&first, &commits[0], &[]).builds(), strings(ALL_AT_START));
}

#[test]
fn pushes_without_a_usable_commit_list_are_planned_from_a_comparison() {
    let repo = Repo::new();
    let mut commits: Vec<String> = Vec::new();
    for step in steps() {
        (step.change)(&repo);
        commits.push(repo.commit(step.name));
    }
    // From "two suites of one name" to "a file moved into chrome's context": a README at the
    // root, tools/, a removed Dockerfile, web/ renamed to site/, app.py moved into chrome/.
    let (base, head) = (commits[2].as_str(), commits[7].as_str());
    let diff = repo.file("changes", &repo.git(&["diff", "--name-status", "-M", base, head]));
    let changes = ["--changes", diff.to_str().unwrap()];
    let exact = strings(&[".", "chrome", "site", "tools/lint"]);

    // A forced push, whose commit list cannot be trusted.
    let forced = repo.push("refs/heads/main", Some(base), head, true, true);
    let plan = repo.plan(&forced, head, &changes);
    assert!(plan.ok, "{}", plan.stderr);
    assert_eq!(plan.builds(), exact);
    assert_eq!(plan.skips(), strings(&["chrome/beta", "web"]));
    // Without the comparison, the command says what to run instead of guessing.
    let plan = repo.plan(&forced, head, &[]);
    assert!(!plan.ok && plan.lines.is_empty());
    assert!(
        plan.stderr.contains("--changes")
            && plan
                .stderr
                .contains(&format!("git diff --name-status -M {base} {head}")),
        "{}",
        plan.stderr
    );

    // An empty commit list (GitHub sends none for some pushes): the same comparison.
    let empty = repo.push("refs/heads/main", Some(base), head, false, false);
    let plan = repo.plan(&empty, head, &changes);
    assert_eq!(plan.builds(), exact);

    // The payload's own single commit, for the same range, would miss nothing here either,
    // because it was generated from the same diff: the two routes agree.
    let listed = repo.push("refs/heads/main", Some(base), head, true, false);
    assert_eq!(repo.plan(&listed, head, &[]).builds(), exact);

    // The spawner's way: GitHub's compare API gives the same changes.
    let github = FakeGitHub::start("acme/images", &repo.work, FakeOptions::default()).unwrap();
    let config = repo.dir.join("config.json");
    // (`push` writes one file per pushed commit: each shape is written again before use.)
    for (commits, forced) in [(true, true), (false, false)] {
        let push = repo.push("refs/heads/main", Some(base), head, commits, forced);
        let online = repo.plan_online(&push, &github.url(), None, &config);
        assert!(online.ok, "{}", online.stderr);
        assert_eq!(online.builds(), exact);
        assert_eq!(online.skips(), strings(&["chrome/beta", "web"]));
    }
    let compared = format!("/compare/{base}...{head}");
    let requests = github.requests();
    assert_eq!(
        requests.iter().filter(|r| r.contains(&compared)).count(),
        2,
        "{requests:?}"
    );
    // A forced push that rewrote history: the old head is not an ancestor of the new one,
    // so the trees are compared; the changes are exactly `git diff old new`.
    repo.git(&["checkout", "--quiet", "-b", "rewritten", base]);
    repo.write_text("tools/lint/run.sh", "echo a version the force-push throws away\n");
    let old = repo.commit("a commit the force-push throws away");
    let forced = repo.push("refs/heads/main", Some(&old), head, false, true);
    let diff = repo.file("rewritten", &repo.git(&["diff", "--name-status", "-M", &old, head]));
    let offline = repo.plan(&forced, head, &["--changes", diff.to_str().unwrap()]);
    let online = repo.plan_online(&forced, &github.url(), None, &config);
    assert!(online.ok, "{}", online.stderr);
    assert_eq!(online.lines, offline.lines);
    assert!(
        online.builds().contains(&"tools/lint".to_string()),
        "{:?}",
        online.lines
    );
}

#[test]
fn pushes_whose_commits_name_no_files_are_compared() {
    let repo = Repo::new();
    let config = repo.dir.join("config.json");
    let mut commits: Vec<String> = Vec::new();
    for step in steps().into_iter().take(3) {
        (step.change)(&repo);
        commits.push(repo.commit(step.name));
    }
    let github = FakeGitHub::start("acme/images", &repo.work, FakeOptions::default()).unwrap();
    let last = commits.last().unwrap().clone();

    // An empty commit: GitHub lists no files, the comparison finds none, nothing builds.
    repo.git(&["commit", "--quiet", "--allow-empty", "-m", "nothing"]);
    let empty = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let push = repo.push_naming_no_files(&last, &empty);
    for plan in [
        repo.plan_repo(&push, &config),
        repo.plan_online(&push, &github.url(), None, &config),
    ] {
        assert!(plan.ok, "{}", plan.stderr);
        assert!(plan.builds().is_empty(), "{:?}", plan.lines);
        assert_eq!(plan.skips(), strings(&["."]));
        assert!(
            plan.reason(".").contains("this push changes no files"),
            "{:?}",
            plan.lines
        );
    }
    // Offline from a listing, the command asks for the comparison instead of guessing.
    let plan = repo.plan(&push, &empty, &[]);
    assert!(!plan.ok && plan.stderr.contains("--changes"), "{}", plan.stderr);

    // A merge: GitHub lists no files for the merge commit; the comparison finds what the
    // merged branch changed.
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.write_text("tools/lint/rules.txt", "a rule from a branch\n");
    repo.commit("a change on a branch");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.git(&["merge", "--quiet", "--no-ff", "-m", "merge feature", "feature"]);
    let merge = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let push = repo.push_naming_no_files(&empty, &merge);
    let local = repo.plan_repo(&push, &config);
    assert!(local.ok, "{}", local.stderr);
    assert_eq!(local.builds(), strings(&["tools/lint"]));
    assert_eq!(local.lines, repo.plan_online(&push, &github.url(), None, &config).lines);
}

#[test]
fn a_private_repository_is_read_with_a_token() {
    let repo = Repo::new();
    repo.write("web/Dockerfile");
    let commit = repo.commit("web");
    let push = repo.push("refs/heads/main", None, &commit, true, false);
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(&push).unwrap()).unwrap();
    event["repository"]["private"] = true.into();
    std::fs::write(&push, event.to_string()).unwrap();
    let token = "github_pat_local_0123456789";
    let github = FakeGitHub::start(
        "acme/images",
        &repo.work,
        FakeOptions {
            token: Some(token.into()),
            ..FakeOptions::default()
        },
    )
    .unwrap();
    // A deployment without a token cannot clone it: skipped, GitHub never asked.
    let plan = repo.plan_online(&push, &github.url(), Some(token), &repo.dir.join("config.json"));
    assert!(plan.ok, "{}", plan.stderr);
    assert!(plan.reason(".").contains("github_token_parameter"), "{:?}", plan.lines);
    assert!(github.requests().is_empty(), "{:?}", github.requests());
    // With one: GitHub answers 404 without the token, and the plan is exact with it.
    let config = repo.file(
        "private.json",
        &json!({"registry": {"type": "dockerhub", "namespace": "acme"}, "repositories": ["acme/images"], "github_token_parameter": "/dockhand/github-token"})
            .to_string(),
    );
    let denied = repo.plan_online(&push, &github.url(), None, &config);
    assert!(!denied.ok && denied.lines.is_empty());
    assert!(
        denied.stderr.contains("GitHub does not show") && denied.stderr.contains("GITHUB_TOKEN"),
        "{}",
        denied.stderr
    );
    let plan = repo.plan_online(&push, &github.url(), Some(token), &config);
    assert!(plan.ok, "{}", plan.stderr);
    assert_eq!(plan.builds(), strings(&["web"]));
    assert!(!plan.stderr.contains(token) && !denied.stderr.contains(token));
}

impl Plan {
    /// The `after` of a build.
    fn after(&self, context: &str) -> Vec<String> {
        self.lines
            .iter()
            .find(|l| l["kind"] == "build" && l["context"] == context)
            .map(|l| {
                l["after"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_else(|| panic!("no build of {context}: {:?}", self.lines))
    }
}

/// One commit of the graph history: what it changes, what must be built, and after what.
struct GraphStep {
    name: &'static str,
    change: fn(&Repo),
    builds: &'static [&'static str],
    after: &'static [(&'static str, &'static [&'static str])],
}

/// Acceptance: over a history of images built on each other, every push plans exactly the
/// images that changed and those built, directly or not, from one that changed (never an
/// image that neither changed nor depends on a changed one), each after its bases.
#[test]
fn every_commit_of_a_history_of_images_built_on_each_other_builds_exactly_the_changed_and_their_dependents() {
    let repo = Repo::new();
    let github = FakeGitHub::start("acme/images", &repo.work, FakeOptions::default()).unwrap();
    let config = repo.dir.join("config.json");
    let steps = [
        GraphStep {
            name: "a base, a chain on it, and an image on an outside base",
            change: |r| {
                r.write_text("base/Dockerfile", "FROM debian:12\nCOPY base.txt /\n");
                r.write_text("base/base.txt", "1\n");
                r.write_text("mid/Dockerfile", "ARG BASE=acme/base\nFROM ${BASE}\nCOPY mid.txt /\n");
                r.write_text("mid/mid.txt", "1\n");
                r.write_text("top/Dockerfile", "FROM docker.io/acme/mid:latest AS m\nFROM m\n");
                r.write_text("other/Dockerfile", "FROM alpine:3.20\n");
            },
            builds: &["base", "mid", "other", "top"],
            after: &[("base", &[]), ("mid", &["base"]), ("top", &["mid"]), ("other", &[])],
        },
        GraphStep {
            name: "the base changes: its chain is rebuilt in order",
            change: |r| r.append("base/base.txt"),
            builds: &["base", "mid", "top"],
            after: &[("mid", &["base"]), ("top", &["mid"])],
        },
        GraphStep {
            name: "the top of the chain changes: it alone",
            change: |r| r.append("top/Dockerfile"),
            builds: &["top"],
            after: &[("top", &[])],
        },
        GraphStep {
            name: "the image on an outside base changes: it alone",
            change: |r| r.append("other/Dockerfile"),
            builds: &["other"],
            after: &[],
        },
        GraphStep {
            name: "a second image copies from the base",
            change: |r| {
                r.write_text(
                    "app/Dockerfile",
                    "FROM alpine:3.20\nCOPY --from=acme/base /base.txt /\n",
                )
            },
            builds: &["app"],
            after: &[("app", &[])],
        },
        GraphStep {
            name: "the base changes again: both its dependents, and the chain's top",
            change: |r| r.append("base/Dockerfile"),
            builds: &["app", "base", "mid", "top"],
            after: &[("app", &["base"]), ("mid", &["base"]), ("top", &["mid"])],
        },
        GraphStep {
            name: "mid leaves the base in the same push that changes the base",
            change: |r| {
                r.write_text("mid/Dockerfile", "FROM alpine:3.20\nCOPY mid.txt /\n");
                r.append("base/base.txt");
            },
            builds: &["app", "base", "mid", "top"],
            after: &[("app", &["base"]), ("mid", &[]), ("top", &["mid"])],
        },
        GraphStep {
            name: "the base changes: mid no longer follows",
            change: |r| r.append("base/base.txt"),
            builds: &["app", "base"],
            after: &[("app", &["base"])],
        },
        GraphStep {
            name: "the base's Dockerfile is removed: nothing is built from it",
            change: |r| {
                std::fs::remove_file(r.work.join("base/Dockerfile")).unwrap();
                r.append("base/base.txt");
            },
            builds: &[],
            after: &[],
        },
    ];
    let mut before: Option<String> = None;
    for step in steps {
        (step.change)(&repo);
        let commit = repo.commit(step.name);
        let push = repo.push("refs/heads/main", before.as_deref(), &commit, true, false);
        let plan = repo.plan_repo(&push, &config);
        assert!(plan.ok, "{}: {}", step.name, plan.stderr);
        assert_eq!(plan.builds(), strings(step.builds), "{}: {:?}", step.name, plan.lines);
        for (context, after) in step.after {
            assert_eq!(plan.after(context), strings(after), "{}: {context}", step.name);
        }
        // The spawner's way, through GitHub's API: the very same plan.
        let online = repo.plan_online(&push, &github.url(), None, &config);
        assert_eq!(online.lines, plan.lines, "{}", step.name);
        before = Some(commit);
    }
}
