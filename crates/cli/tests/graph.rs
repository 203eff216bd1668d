//! `dockhand graph` as a user runs it, on a git repository made for each test.

use std::path::PathBuf;
use std::process::Command;

struct Repo {
    dir: PathBuf,
    work: PathBuf,
}

impl Repo {
    /// An empty repository on `main`, and `config` as the deployment (`config.json`).
    fn new(name: &str, config: serde_json::Value) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("dockhand-graph-{name}-{}-{nanos}", std::process::id()));
        let work = dir.join("repo");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let repo = Repo { dir, work };
        repo.git(&["init", "--quiet"]);
        repo
    }

    /// git, independent of the machine's configuration.
    fn git(&self, args: &[&str]) -> String {
        dockhand_testkit::git(&self.work, &self.dir, args).trim().to_owned()
    }

    /// Writes `files` (path, content) and commits them; answers the commit.
    fn commit(&self, files: &[(&str, &str)]) -> String {
        for (path, text) in files {
            let full = self.work.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "-m", "images"]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// `dockhand graph --repo <work> --config <config.json> ARGS`: stdout, stderr, success.
    fn graph(&self, args: &[&str]) -> (String, String, bool) {
        let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
            .arg("graph")
            .arg("--repo")
            .arg(&self.work)
            .arg("--config")
            .arg(self.dir.join("config.json"))
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
            out.status.success(),
        )
    }
}

impl Repo {
    /// A push of HEAD to `main` of acme/images as a new branch, written to `push.json`.
    fn push_event(&self) -> PathBuf {
        let event = self.dir.join("push.json");
        let push = serde_json::json!({
            "ref": "refs/heads/main",
            "before": "0".repeat(40),
            "after": self.git(&["rev-parse", "HEAD"]),
            "created": true,
            "repository": {
                "name": "images",
                "full_name": "acme/images",
                "clone_url": "https://github.com/acme/images.git",
                "default_branch": "main",
                "owner": {"login": "acme"},
            },
        });
        std::fs::write(&event, push.to_string()).unwrap();
        event
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// base ← mid (through an ARG) ← top, and app built from mid and copying from base; ext
/// from outside; a and b from each other.
fn acme() -> Repo {
    let repo = Repo::new(
        "acme",
        serde_json::json!({"registry": {"type": "dockerhub", "namespace": "acme"}, "repositories": ["acme/images"]}),
    );
    repo.commit(&[
        ("base/Dockerfile", "FROM debian\n"),
        ("mid/Dockerfile", "ARG BASE=acme/base\nFROM ${BASE}\n"),
        ("top/Dockerfile", "FROM acme/mid\n"),
        (
            "app/Dockerfile",
            "FROM acme/mid\nCOPY --from=acme/base /etc/os-release /base-release\n",
        ),
        ("ext/Dockerfile", "FROM alpine\n"),
        ("a/Dockerfile", "FROM acme/b\n"),
        ("b/Dockerfile", "FROM acme/a\n"),
    ]);
    repo
}

/// The lines of the block of `dir` in the text output.
fn block<'a>(text: &'a str, dir: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(&format!("{dir}: ")));
    let head = lines.next().unwrap_or_else(|| panic!("no {dir} in\n{text}"));
    std::iter::once(head)
        .chain(lines.take_while(|l| l.starts_with("  ")))
        .collect()
}

#[test]
fn the_text_says_what_each_image_is_built_from_and_rebuilds() {
    let repo = acme();
    let (out, err, ok) = repo.graph(&[]);
    assert!(ok, "{err}");
    assert_eq!(
        block(&out, "base"),
        [
            "base: docker.io/acme/base",
            "  rebuilds: app, mid",
            "  external: debian"
        ]
    );
    assert_eq!(
        block(&out, "mid"),
        ["mid: docker.io/acme/mid", "  built from: base", "  rebuilds: app, top"]
    );
    assert_eq!(block(&out, "top"), ["top: docker.io/acme/top", "  built from: mid"]);
    assert_eq!(
        block(&out, "app"),
        ["app: docker.io/acme/app", "  built from: base, mid"]
    );
    assert_eq!(block(&out, "ext"), ["ext: docker.io/acme/ext", "  external: alpine"]);
    assert!(
        out.lines().any(|l| l == "cycle: a <-> b (none of them is ordered)"),
        "{out}"
    );
    // The same with the format named, and the commit and ref given as their defaults.
    let head = repo.git(&["rev-parse", "HEAD"]);
    let (same, _, ok) = repo.graph(&["--format", "text", "--commit", &head, "--ref", "main"]);
    assert!(ok);
    assert_eq!(same, out);
}

#[test]
fn dot_draws_an_edge_from_each_base() {
    let repo = acme();
    let (out, err, ok) = repo.graph(&["--format", "dot"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("digraph images {\n"), "{out}");
    let edges: Vec<&str> = out.lines().filter(|l| l.contains(" -> ")).map(str::trim).collect();
    assert_eq!(
        edges,
        [
            r#""b" -> "a";"#,
            r#""base" -> "app";"#,
            r#""mid" -> "app";"#,
            r#""a" -> "b";"#,
            r#""base" -> "mid";"#,
            r#""mid" -> "top";"#,
        ]
    );
    assert!(
        out.contains(r#"  "base" [label="base\ndocker.io/acme/base"];"#),
        "{out}"
    );
}

#[test]
fn changed_prints_what_a_change_rebuilds_in_waves() {
    let repo = acme();
    let (out, err, ok) = repo.graph(&["--changed", "base"]);
    assert!(ok, "{err}");
    assert_eq!(out, "1: base\n2: mid\n3: app top\n");
    let (out, _, ok) = repo.graph(&["--changed", "./mid/", "--changed", "ext"]);
    assert!(ok);
    assert_eq!(out, "1: ext mid\n2: app top\n");
    let (out, _, ok) = repo.graph(&["--changed", "top"]);
    assert!(ok);
    assert_eq!(out, "1: top\n");
    // A cycle has no order: said on stderr.
    let (out, err, ok) = repo.graph(&["--changed", "a"]);
    assert!(ok, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("in no order (a cycle, or built from one): a b"), "{err}");
}

#[test]
fn mistakes_say_what_to_do() {
    let repo = acme();
    let (out, err, ok) = repo.graph(&["--changed", "nowhere"]);
    assert!(!ok && out.is_empty());
    assert!(
        err.contains("--changed nowhere") && err.contains("a app b base ext mid top"),
        "{err}"
    );
    let (_, err, ok) = repo.graph(&["--commit", "no-such-commit"]);
    assert!(!ok && err.contains("--commit no-such-commit names no commit"), "{err}");
    let (_, err, ok) = repo.graph(&["--changed", "base", "--format", "dot"]);
    assert!(!ok && err.contains("--format"), "{err}");
    // The default rules build no other branch.
    let (_, err, ok) = repo.graph(&["--ref", "feature"]);
    assert!(
        !ok && err.contains("refs/heads/feature") && err.contains("--ref"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args(["graph", "--commit", "HEAD"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--repo"));
}

/// jessfraz/dockerfiles: images right under r.j3ss.co, the `suite` preset, and two
/// directories of one image told apart by their tags.
fn j3ss() -> Repo {
    let repo = Repo::new(
        "j3ss",
        serde_json::json!({
            "registry": {"type": "registry", "host": "r.j3ss.co", "namespace": "", "username": "jessfraz"},
            "repositories": ["jessfraz/dockerfiles"],
            "naming": "suite",
        }),
    );
    repo.commit(&[
        ("wireguard/install/Dockerfile", "FROM alpine:latest\n"),
        (
            "wireguard/tools/Dockerfile",
            "FROM alpine:latest\nCOPY --from=r.j3ss.co/wireguard:install /usr/bin/wg /usr/bin/wg\n",
        ),
        (
            "kernel-builder/Dockerfile",
            "FROM r.j3ss.co/wireguard:install\nRUN true\n",
        ),
    ]);
    repo
}

#[test]
fn a_registry_without_a_namespace_and_the_suite_preset() {
    let repo = j3ss();
    let (out, err, ok) = repo.graph(&[]);
    assert!(ok, "{err}");
    assert_eq!(
        block(&out, "wireguard/install"),
        [
            "wireguard/install: r.j3ss.co/wireguard",
            "  rebuilds: kernel-builder, wireguard/tools",
            "  external: alpine:latest",
        ]
    );
    assert_eq!(
        block(&out, "kernel-builder"),
        [
            "kernel-builder: r.j3ss.co/kernel-builder",
            "  built from: wireguard/install"
        ]
    );
    assert_eq!(
        block(&out, "wireguard/tools")[..2],
        [
            "wireguard/tools: r.j3ss.co/wireguard",
            "  built from: wireguard/install"
        ]
    );
    let (out, _, ok) = repo.graph(&["--changed", "wireguard/install"]);
    assert!(ok);
    assert_eq!(out, "1: wireguard/install\n2: kernel-builder wireguard/tools\n");
    // On a tag, wireguard/install pushes `install-v1`, not `install`: the name matches both
    // directories of r.j3ss.co/wireguard and neither's tag, so there is no edge, and why.
    repo.git(&["tag", "v1"]);
    let (out, err, ok) = repo.graph(&["--ref", "v1"]);
    assert!(ok, "{err}");
    assert_eq!(
        block(&out, "kernel-builder")[0],
        "kernel-builder: r.j3ss.co/kernel-builder"
    );
    assert!(!out.contains("built from"), "{out}");
    assert!(out.contains("none pushes its tag for this ref"), "{out}");
}

#[test]
fn an_event_is_read_through_github() {
    let repo = acme();
    let event = repo.push_event();
    let github = dockhand_fake_github::FakeGitHub::start(
        "acme/images",
        &repo.work,
        dockhand_fake_github::FakeOptions::default(),
    )
    .unwrap();
    let run = |api: &str| {
        Command::new(env!("CARGO_BIN_EXE_dockhand"))
            .args(["graph", "--changed", "base", "--event"])
            .arg(&event)
            .env("GITHUB_API_URL", api)
            .env_remove("GITHUB_TOKEN")
            .output()
            .unwrap()
    };
    let out = run(&github.url());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1: base\n2: mid\n3: app top\n");
    // Without --config, the defaults are said: Docker Hub under the owner's name.
    assert!(stderr.contains("no --config given"), "{stderr}");
    // GitHub down: what to do.
    github.set_down(true);
    let out = run(&github.url());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("try again later, or read a local checkout with --repo"),
        "{stderr}"
    );
}

/// `dockhand plan --built`: a base that is re-tagged instead of built is not waited for;
/// its dependents start at once, pinned to its key tag.
#[test]
fn a_re_tagged_base_is_not_waited_for() {
    let repo = acme();
    let event = repo.push_event();
    let plan = |extra: &[&str]| -> Vec<serde_json::Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
            .arg("plan")
            .arg("--event")
            .arg(&event)
            .arg("--repo")
            .arg(&repo.work)
            .arg("--config")
            .arg(repo.dir.join("config.json"))
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let after = |lines: &[serde_json::Value], context: &str| {
        let entry = lines.iter().find(|l| l["context"] == context).unwrap();
        entry["after"].clone()
    };
    let built = plan(&[]);
    assert_eq!(after(&built, "mid"), serde_json::json!(["base"]));
    assert_eq!(after(&built, "app"), serde_json::json!(["base", "mid"]));
    let base = built.iter().find(|l| l["context"] == "base").unwrap();
    let record = repo.dir.join("built");
    std::fs::write(
        &record,
        format!(
            "{} {}\n",
            base["image"].as_str().unwrap(),
            base["image_key"].as_str().unwrap()
        ),
    )
    .unwrap();
    let retagged = plan(&["--built", record.to_str().unwrap()]);
    let base = retagged.iter().find(|l| l["context"] == "base").unwrap();
    assert!(
        base["action"]
            .as_str()
            .unwrap()
            .starts_with("re-tag of docker.io/acme/base:"),
        "{base}"
    );
    assert_eq!(after(&retagged, "mid"), serde_json::json!([]));
    assert_eq!(after(&retagged, "app"), serde_json::json!(["mid"]));
}
