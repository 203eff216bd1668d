//! A real git repository served on localhost by `git daemon`, and push deliveries shaped
//! like GitHub's, made from its history with `git diff-tree`.
//!
//! Deliveries name the repository as GitHub would (`https://github.com/acme/images.git`);
//! the local build environment maps that prefix to the local server with git's
//! `url.<base>.insteadOf`, so the listener's and the buildspec's rules run unchanged.

use crate::process::{Service, free_port, run};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const OWNER: &str = "acme";
pub const NAME: &str = "images";
pub const BRANCH: &str = "main";
const GITHUB: &str = "https://github.com/";

/// The sample monorepo: three images, one nested, all `FROM scratch` so nothing is pulled.
pub const SAMPLE: [Change<'static>; 7] = [
    ("README.md", Some("# acme/images\n\nImages built by dockhand.\n")),
    ("hello/Dockerfile", Some("FROM scratch\nCOPY hello.txt /hello.txt\n")),
    ("hello/hello.txt", Some("hello from dockhand\n")),
    (
        "web/Dockerfile",
        Some("FROM scratch\nCOPY index.html /srv/index.html\n"),
    ),
    ("web/index.html", Some("<h1>acme</h1>\n")),
    (
        "tools/lint/Dockerfile",
        Some("FROM scratch\nCOPY rules.txt /etc/lint/rules.txt\n"),
    ),
    ("tools/lint/rules.txt", Some("no-tabs\n")),
];

/// Debian's busybox-static: one statically linked file that is a shell and the usual tools,
/// so an image `FROM scratch` can have a shell without pulling anything.
pub const BUSYBOX: &str = "/bin/busybox";

/// How long the `slow` image's RUN step takes: it stands for a compile or a package install,
/// which take tens of seconds to minutes; what the cache saves is this step, what it
/// cannot save (clone, logins, pushes) is the same with or without it.
pub const SLOW_SECONDS: u32 = 20;

/// Two images with a shell, each with its own copy of [`BUSYBOX`] (written by
/// [`Repo::commit_shell_sample`]): `shell`, a base image with busybox's applets installed,
/// and `slow`, whose RUN step takes [`SLOW_SECONDS`] before a file copied after it, so that
/// a change to that file rebuilds only what the layer cache cannot give back.
pub const SHELL_SAMPLE: [Change<'static>; 3] = [
    (
        "shell/Dockerfile",
        Some(
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"/bin/sh\"]\n",
        ),
    ),
    (
        "slow/Dockerfile",
        Some(
            "FROM scratch\nCOPY busybox /bin/busybox\n\
             # Stands for a long compile: the layer the cache saves.\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"sleep 20 && echo compiled > /compiled.txt\"]\n\
             COPY app.txt /app.txt\n",
        ),
    ),
    ("slow/app.txt", Some("version 1\n")),
];

/// The directories of the graph sample ([`Repo::commit_graph_sample`]): a base image and
/// the two images built FROM it, in the order they must build.
pub const GRAPH_SAMPLE_DIRS: [&str; 3] = ["base", "greeter", "banner"];

/// The graph sample's files, for an image repository `base_repository` (no tag) where
/// `base/` is pushed: `base`, `FROM scratch`; `greeter`, `FROM` that repository; and
/// `banner`, `FROM ${BASE}` with `ARG BASE` naming it, so that the name is found after ARG
/// expansion. Each copies a file of its own on top.
pub fn graph_sample(base_repository: &str) -> Vec<(String, Option<String>)> {
    [
        ("base/Dockerfile", "FROM scratch\nCOPY base.txt /base.txt\n".to_owned()),
        ("base/base.txt", "base 1\n".to_owned()),
        (
            "greeter/Dockerfile",
            format!("FROM {base_repository}\nCOPY greeting.txt /greeting.txt\n"),
        ),
        ("greeter/greeting.txt", "hello from greeter\n".to_owned()),
        (
            "banner/Dockerfile",
            format!("ARG BASE={base_repository}\nFROM ${{BASE}}\nCOPY banner.txt /banner.txt\n"),
        ),
        ("banner/banner.txt", "*** banner ***\n".to_owned()),
    ]
    .into_iter()
    .map(|(path, text)| (path.to_owned(), Some(text)))
    .collect()
}

/// The Docker Hub sample's directories ([`Repo::commit_hub_sample`]): `hooked`, whose
/// test passes and whose `post_push` hook pushes one more tag ([`hub_hook_tag`]), and
/// `failing`, whose test fails, so that nothing of it is pushed.
pub const HUB_SAMPLE_DIRS: [&str; 2] = ["hooked", "failing"];

/// The last line the `failing` image's `sut` prints: the test's reason, which the build's
/// report carries to the notification.
pub const FAILING_SUT_LINE: &str = "sut: expected version 2 in /version.txt";

/// Images as Docker Hub's automated builds know them, each with a copy of [`BUSYBOX`]
/// (written by [`Repo::commit_hub_sample`]). `hooked`: a `post_checkout` hook committed
/// executable and a `post_push` hook committed without the bit (Hub runs hooks with bash,
/// and repositories have both), and a `docker-compose.test.yml` whose `sut` fetches the
/// image's greeting from a second service by its name. `failing`: a test whose `sut` fails.
/// No `$` in the Compose files: Compose would take it for a variable.
pub const HUB_SAMPLE: [Change<'static>; 8] = [
    (
        "hooked/Dockerfile",
        Some(
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             COPY greeting.txt /srv/greeting.txt\nCMD [\"/bin/sh\"]\n",
        ),
    ),
    ("hooked/greeting.txt", Some("hello from hooked\n")),
    (
        "hooked/hooks/post_checkout",
        Some(
            "#!/bin/bash\n# Docker Hub gives a hook the Dockerfile's path from the hook's directory.\n\
             set -eu\ntest -f \"$DOCKERFILE_PATH\"\necho \"post_checkout: $DOCKERFILE_PATH is here\"\n",
        ),
    ),
    (
        "hooked/hooks/post_push",
        Some(
            "#!/bin/bash\n# Also tag the image with the commit it was built from.\n\
             set -eu\ndocker tag \"$IMAGE_NAME\" \"$DOCKER_REPO:$SOURCE_COMMIT\"\ndocker push \"$DOCKER_REPO:$SOURCE_COMMIT\"\n",
        ),
    ),
    (
        "hooked/docker-compose.test.yml",
        Some(
            "services:\n  web:\n    build: .\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; httpd -f -p 8080 -h /srv & wait\"]\n\
             \x20 sut:\n    build: .\n    depends_on: [web]\n    command:\n      - sh\n      - -c\n      - |\n\
             \x20       for attempt in 1 2 3 4 5 6 7 8 9 10; do\n\
             \x20         if wget -q -O - http://web:8080/greeting.txt | grep -qx 'hello from hooked'; then\n\
             \x20           echo 'sut: web serves the greeting'; exit 0\n\
             \x20         fi\n\
             \x20         sleep 1\n\
             \x20       done\n\
             \x20       echo 'sut: web did not serve the greeting'; exit 1\n",
        ),
    ),
    (
        "failing/Dockerfile",
        Some(
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             COPY version.txt /version.txt\n",
        ),
    ),
    ("failing/version.txt", Some("version 1\n")),
    (
        "failing/docker-compose.test.yml",
        Some(
            "services:\n  sut:\n    build: .\n    command:\n      - sh\n      - -c\n      - |\n\
             \x20       echo 'sut: checking /version.txt'\n\
             \x20       cat /version.txt\n\
             \x20       grep -qx 'version 2' /version.txt && exit 0\n\
             \x20       echo 'sut: expected version 2 in /version.txt'\n\
             \x20       exit 1\n",
        ),
    ),
];

/// The tag the `hooked` image's `post_push` hook pushes for a commit: the commit itself.
pub fn hub_hook_tag(commit: &str) -> String {
    commit.to_owned()
}

pub struct Repo {
    /// The working copy commits are made in (for a served repository of yours, yours: it
    /// is only read).
    pub work: PathBuf,
    /// `owner/name` as GitHub would spell it.
    pub owner: String,
    pub name: String,
    /// The repository's default branch.
    pub branch: String,
    _daemon: Service,
    pub port: u16,
}

/// A file to write (`Some`) or delete (`None`).
pub type Change<'a> = (&'a str, Option<&'a str>);

impl Repo {
    /// Creates an empty repository under `dir` and serves it.
    pub fn start(dir: &Path) -> Result<Repo, String> {
        let work = dir.join("work");
        let bare = dir.join("served").join(OWNER).join(format!("{NAME}.git"));
        std::fs::create_dir_all(&bare).map_err(|e| format!("cannot create {}: {e}", bare.display()))?;
        run(
            "git init",
            git(&work).args(["init", "--quiet", "-b", BRANCH]).arg(&work),
        )?;
        run(
            "git init --bare",
            git(&bare).args(["init", "--quiet", "--bare"]).arg(&bare),
        )?;
        run(
            "git remote add",
            git(&work).args(["remote", "add", "origin"]).arg(&bare),
        )?;
        Self::serve(dir, &bare, work, OWNER, NAME, BRANCH)
    }

    /// Serves a copy of the repository at `source` (a working copy or a bare repository)
    /// under `dir`, as `owner/<the directory's name>`; its branches and tags are as they
    /// are at `source` now. `source` itself is only read.
    pub fn existing(dir: &Path, source: &Path, owner: &str) -> Result<Repo, String> {
        let source = source
            .canonicalize()
            .map_err(|e| format!("the repository {}: {e}", source.display()))?;
        run("git rev-parse", git(&source).args(["rev-parse", "--git-dir"]))
            .map_err(|_| format!("{} is not a git repository", source.display()))?;
        let name = image_safe_name(
            source
                .file_name()
                .map(|n| n.to_string_lossy().trim_end_matches(".git").to_owned())
                .unwrap_or_default()
                .as_str(),
        );
        let branch = run(
            "git symbolic-ref",
            git(&source).args(["symbolic-ref", "--quiet", "--short", "HEAD"]),
        )
        .map(|b| b.trim().to_owned())
        .unwrap_or_else(|_| BRANCH.to_owned());
        let bare = dir.join("served").join(owner).join(format!("{name}.git"));
        std::fs::create_dir_all(bare.parent().expect("a parent"))
            .map_err(|e| format!("cannot create {}: {e}", bare.display()))?;
        run(
            "git clone --bare",
            git(dir)
                .args(["clone", "--quiet", "--bare", "--no-local"])
                .arg(&source)
                .arg(&bare),
        )?;
        Self::serve(dir, &bare, source, owner, &name, &branch)
    }

    fn serve(dir: &Path, bare: &Path, work: PathBuf, owner: &str, name: &str, branch: &str) -> Result<Repo, String> {
        // The build fetches one commit by its id.
        run(
            "git config",
            git(bare).args(["config", "uploadpack.allowAnySHA1InWant", "true"]),
        )?;
        let served = dir.join("served");
        let port = free_port();
        let mut command = Command::new("git");
        command
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", served.display()))
            .arg(&served);
        let mut daemon = Service::spawn("the git server (git daemon)", command, &dir.join("git-daemon.log"))?;
        daemon.wait_for_port(port, Duration::from_secs(20))?;
        Ok(Repo {
            work,
            owner: owner.to_owned(),
            name: name.to_owned(),
            branch: branch.to_owned(),
            _daemon: daemon,
            port,
        })
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The full id of the commit `name` names in the working copy (a branch, a tag, an id).
    pub fn resolve(&self, name: &str) -> Result<String, String> {
        run(
            "git rev-parse",
            git(&self.work).args([
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &format!("{name}^{{commit}}"),
            ]),
        )
        .map(|id| id.trim().to_owned())
        .map_err(|_| format!("{name} names no commit in {}", self.work.display()))
    }

    /// The full ref `name` means: itself if it starts with `refs/`, else the branch or the
    /// tag of that name.
    pub fn full_ref(&self, name: &str) -> Result<String, String> {
        if name.starts_with("refs/") {
            return self.resolve(name).map(|_| name.to_owned());
        }
        for candidate in [format!("refs/heads/{name}"), format!("refs/tags/{name}")] {
            if self.resolve(&candidate).is_ok() {
                return Ok(candidate);
            }
        }
        Err(format!(
            "{name} is neither a branch nor a tag of {}",
            self.work.display()
        ))
    }

    /// `git` configuration, as environment variables, that sends GitHub URLs to this server.
    pub fn clone_env(&self) -> Vec<(String, String)> {
        vec![
            ("GIT_CONFIG_COUNT".into(), "1".into()),
            (
                "GIT_CONFIG_KEY_0".into(),
                format!("url.git://127.0.0.1:{}/.insteadOf", self.port),
            ),
            ("GIT_CONFIG_VALUE_0".into(), GITHUB.into()),
        ]
    }

    /// The current head of the branch, or all zeros before the first commit.
    pub fn head(&self) -> String {
        run(
            "git rev-parse",
            git(&self.work).args(["rev-parse", "--verify", "--quiet", "HEAD"]),
        )
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "0".repeat(40))
    }

    /// Commits `changes` and pushes them to the served repository; answers the new id.
    pub fn commit(&self, message: &str, changes: &[Change<'_>]) -> Result<String, String> {
        self.commit_files(message, changes, &[])
    }

    /// [`Repo::commit`], the files `executable` (among `changes`) committed executable.
    fn commit_files(&self, message: &str, changes: &[Change<'_>], executables: &[&str]) -> Result<String, String> {
        for (path, content) in changes {
            let file = self.work.join(path);
            match content {
                Some(text) => {
                    if let Some(parent) = file.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                    }
                    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                }
                None => std::fs::remove_file(&file).map_err(|e| format!("cannot remove {}: {e}", file.display()))?,
            }
            if executables.contains(path) {
                executable(&file)?;
            }
        }
        run("git add", git(&self.work).args(["add", "--all"]))?;
        // An empty commit too: GitHub delivers a push of one like any other.
        run(
            "git commit",
            git(&self.work).args(["commit", "--quiet", "--allow-empty", "-m", message]),
        )?;
        run(
            "git push",
            git(&self.work).args(["push", "--quiet", "origin", &self.branch]),
        )?;
        Ok(self.head())
    }

    /// Commits [`SHELL_SAMPLE`] with [`BUSYBOX`] copied into both directories.
    pub fn commit_shell_sample(&self, message: &str) -> Result<String, String> {
        self.copy_busybox(&["shell", "slow"])?;
        self.commit(message, &SHELL_SAMPLE)
    }

    /// Commits [`HUB_SAMPLE`] with [`BUSYBOX`] copied into each directory, `post_checkout`
    /// executable.
    pub fn commit_hub_sample(&self, message: &str) -> Result<String, String> {
        self.copy_busybox(&HUB_SAMPLE_DIRS)?;
        self.commit_files(message, &HUB_SAMPLE, &["hooked/hooks/post_checkout"])
    }

    /// Writes [`BUSYBOX`] into each of `dirs`, executable.
    fn copy_busybox(&self, dirs: &[&str]) -> Result<(), String> {
        let busybox = std::fs::read(BUSYBOX).map_err(|e| {
            format!("cannot read {BUSYBOX} ({e}): the sample's shell images need Debian's busybox-static ('apt-get install busybox-static')")
        })?;
        // A dynamically linked busybox (Debian's `busybox` package) cannot run in an image
        // FROM scratch: it has no loader there.
        if has_interpreter(&busybox) {
            return Err(format!(
                "{BUSYBOX} is dynamically linked; the sample's shell images need the static one: 'apt-get install busybox-static'"
            ));
        }
        for dir in dirs {
            std::fs::create_dir_all(self.work.join(dir)).map_err(|e| format!("cannot create {dir}: {e}"))?;
            let path = self.work.join(dir).join("busybox");
            std::fs::write(&path, &busybox).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            executable(&path)?;
        }
        Ok(())
    }

    /// Commits [`graph_sample`]: `base` is pushed to `base_repository` (the registry's
    /// host, the deployment's namespace and `base`, as the spawner names images), which the
    /// other two are built FROM; the registry's port is known only at run time.
    pub fn commit_graph_sample(&self, message: &str, base_repository: &str) -> Result<String, String> {
        let files = graph_sample(base_repository);
        let changes: Vec<Change<'_>> = files.iter().map(|(p, t)| (p.as_str(), t.as_deref())).collect();
        self.commit(message, &changes)
    }

    /// The push event GitHub would deliver for `before..after` on the default branch.
    pub fn push_event(&self, before: &str, after: &str) -> Result<Value, String> {
        self.push_event_for(&format!("refs/heads/{}", self.branch), before, after)
    }

    /// The push event GitHub would deliver for `before..after` on `git_ref`.
    pub fn push_event_for(&self, git_ref: &str, before: &str, after: &str) -> Result<Value, String> {
        let new_ref = before.bytes().all(|b| b == b'0');
        let range = if new_ref {
            after.to_owned()
        } else {
            format!("{before}..{after}")
        };
        // GitHub lists at most 2048 commits; for a new ref dockhand builds every image
        // whatever the list says, so a long history is not walked for it.
        let most = if new_ref { "--max-count=20" } else { "--max-count=2048" };
        let ids = run(
            "git rev-list",
            git(&self.work).args(["rev-list", "--reverse", most, &range]),
        )?;
        let mut commits = Vec::new();
        for id in ids.lines() {
            commits.push(self.commit_json(id)?);
        }
        let repo_url = format!("{GITHUB}{}", self.full_name());
        Ok(json!({
            "ref": git_ref,
            "before": before,
            "after": after,
            "created": before.bytes().all(|b| b == b'0'),
            "deleted": false,
            "forced": false,
            "compare": format!("{repo_url}/compare/{}...{}", &before[..12], &after[..12]),
            "head_commit": commits.last().cloned(),
            "commits": commits,
            "repository": {
                "name": self.name,
                "full_name": self.full_name(),
                "clone_url": format!("{repo_url}.git"),
                "html_url": repo_url,
                "private": false,
                "default_branch": self.branch,
                "owner": { "login": self.owner, "name": self.owner },
            },
            "pusher": { "name": "octocat", "email": "octocat@example.com" },
        }))
    }

    fn commit_json(&self, id: &str) -> Result<Value, String> {
        let message = run("git log", git(&self.work).args(["log", "-1", "--format=%B", id]))?;
        let timestamp = run("git log", git(&self.work).args(["log", "-1", "--format=%cI", id]))?;
        // GitHub lists a rename as a removal and an addition.
        let status = run(
            "git diff-tree",
            git(&self.work).args([
                "diff-tree",
                "--root",
                "--no-commit-id",
                "-r",
                "--no-renames",
                "--name-status",
                "-z",
                id,
            ]),
        )?;
        let (mut added, mut modified, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        let mut fields = status.split('\0').filter(|f| !f.is_empty());
        while let (Some(kind), Some(path)) = (fields.next(), fields.next()) {
            match kind {
                "A" => added.push(path.to_owned()),
                "D" => removed.push(path.to_owned()),
                _ => modified.push(path.to_owned()),
            }
        }
        Ok(json!({
            "id": id,
            "tree_id": id,
            "distinct": true,
            "message": message.trim_end(),
            "timestamp": timestamp.trim(),
            "url": format!("{GITHUB}{}/commit/{id}", self.full_name()),
            "author": { "name": "Octo Cat", "email": "octocat@example.com", "username": "octocat" },
            "committer": { "name": "Octo Cat", "email": "octocat@example.com", "username": "octocat" },
            "added": added,
            "removed": removed,
            "modified": modified,
        }))
    }
}

/// A directory name as an image name's last component: lowercase, `[a-z0-9._-]`, other
/// characters as `-`.
fn image_safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches(|c| matches!(c, '.' | '_' | '-')).to_owned();
    if cleaned.is_empty() {
        "repository".into()
    } else {
        cleaned
    }
}

fn executable(path: &Path) -> Result<(), String> {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| format!("cannot make {} executable: {e}", path.display()))
}

/// `git` with a fixed identity and no user or system configuration.
fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(if dir.exists() { dir } else { Path::new("/") })
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Octo Cat")
        .env("GIT_AUTHOR_EMAIL", "octocat@example.com")
        .env("GIT_COMMITTER_NAME", "Octo Cat")
        .env("GIT_COMMITTER_EMAIL", "octocat@example.com");
    c
}

/// Whether an ELF64 little-endian executable names a program interpreter (`PT_INTERP`):
/// a dynamically linked one, which cannot run alone in an image FROM scratch.
fn has_interpreter(elf: &[u8]) -> bool {
    let read = |at: usize, len: usize| -> Option<u64> {
        let bytes = elf.get(at..at + len)?;
        Some(bytes.iter().rev().fold(0, |n, b| (n << 8) | u64::from(*b)))
    };
    if !elf.starts_with(b"\x7fELF") || elf.get(4) != Some(&2) {
        return false;
    }
    let (Some(offset), Some(size), Some(count)) = (read(0x20, 8), read(0x36, 2), read(0x38, 2)) else {
        return false;
    };
    (0..count).any(|i| read((offset + i * size) as usize, 4) == Some(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamically_linked_program_is_told_from_a_static_one() {
        // This test's own binary is linked dynamically; Debian's busybox-static is not.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(has_interpreter(&me));
        if let Ok(busybox) = std::fs::read(BUSYBOX) {
            assert!(!has_interpreter(&busybox));
        }
        assert!(!has_interpreter(b"not an ELF file"));
    }

    #[test]
    fn the_slow_step_takes_what_the_demo_and_the_benchmark_say() {
        let slow = SHELL_SAMPLE
            .iter()
            .find(|(path, _)| *path == "slow/Dockerfile")
            .unwrap()
            .1
            .unwrap();
        let run = slow
            .find(&format!("sleep {SLOW_SECONDS} "))
            .expect("the RUN step sleeps SLOW_SECONDS");
        // The file a change rebuilds is copied after the slow step.
        assert!(slow.find("COPY app.txt").unwrap() > run);
    }

    #[test]
    fn the_hub_samples_compose_files_are_yaml_with_a_sut_and_no_variables() {
        for (path, text) in HUB_SAMPLE {
            if !path.ends_with(".test.yml") {
                continue;
            }
            let text = text.unwrap();
            assert!(!text.contains('$'), "{path}: Compose would read a variable");
            let yaml = yaml_rust2::YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{path}: {e}\n{text}"));
            let command = &yaml[0]["services"]["sut"]["command"];
            assert_eq!(command[0].as_str(), Some("sh"), "{path}: {yaml:?}");
        }
        let failing = HUB_SAMPLE
            .iter()
            .find(|(p, _)| *p == "failing/docker-compose.test.yml")
            .unwrap();
        let script = failing.1.unwrap();
        assert!(script.contains(&format!("echo '{FAILING_SUT_LINE}'\n")), "{script}");
    }
}
