//! The description sync (`buildspecs/hub-description.sh`) in dockhand's own buildspec, run
//! for real against the Docker Hub stand-in: stand-ins for `docker` and `aws`, the real
//! `curl` and `jq` (wrapped to record their arguments and environment). What is checked is
//! what Docker Hub would hold and what the notification would read: the README's exact
//! bytes after a successful push, one report line for every outcome, a build that stays
//! green whatever the sync meets, and a token that never shows.

mod support;

use dockhand_core::repo_config::RepoConfig;
use dockhand_fake_dockerhub::{ACCESS_TOKEN, FakeDockerHub, HubOptions};
use dockhand_runner::{BuildSettings, BuildStatus};
use std::path::PathBuf;
use support::{Outcome, Scratch, git, install_tools, recorded_calls, run, spawned_build};

/// What the build's registry token is (the `aws` stand-in's answer).
const TOKEN: &str = "fake-registry-token";
const USER: &str = "acmebot";
const KEY_TAG: &str = "dockhand-0123456789abcdef0123456789abcdef";

/// Records each call in `calls`, `login` reads its password, `buildx build` writes the
/// metadata file BuildKit would (or fails when told to).
const DOCKER: &str = r#"#!/bin/bash
printf -v args ' [%s]' "$@"
printf 'docker%s\n' "$args" >> "$FAKE_TOOLS/calls"
if [ "$1" = login ]; then cat > /dev/null; fi
if [ "$1 ${2:-}" = "buildx build" ]; then
    if [ -e "$FAKE_TOOLS/fail-build" ]; then exit 1; fi
    while [ "$#" -gt 0 ] && [ "$1" != --metadata-file ]; do shift; done
    printf '{"containerimage.digest": "sha256:%s"}' "$(printf 'a%.0s' {1..64})" > "$2"
fi
"#;

const AWS: &str = r#"#!/bin/bash
printf -v args ' [%s]' "$@"
printf 'aws%s\n' "$args" >> "$FAKE_TOOLS/calls"
echo fake-registry-token
"#;

/// Wraps the real program `$1`: each call appends its arguments to `calls` and saves its
/// environment, then runs it.
fn recorder(real: &str) -> String {
    format!(
        "#!/bin/bash\nprintf -v args ' [%s]' \"$@\"\nprintf '%s%s\\n' \"${{0##*/}}\" \"$args\" >> \"$FAKE_TOOLS/calls\"\nenv > \"$(mktemp \"$FAKE_TOOLS/env.XXXXXX\")\"\nexec {real} \"$@\"\n"
    )
}

fn real(program: &str) -> String {
    let out = std::process::Command::new("bash")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A README no shell may read as code and no JSON encoder may mangle: quotes, backslashes,
/// `$(…)`, backticks, CRLF, tabs, non-ASCII, a would-be report line, no final newline.
const README: &str = "# web\r\n\n\"quoted\" 'single' \\back\\slash\\ \\n not a newline\n$(touch PWNED) `touch PWNED` ${HOME}\n\tcafé — 😀 ∑ \u{7f}\n##dockhand description synced /etc/passwd\n{\"full_description\": \"x\"}";

struct Fixture {
    scratch: Scratch,
    repo: PathBuf,
    tools: PathBuf,
    commit: String,
}

impl Fixture {
    /// A repository whose `web/` holds a Dockerfile and `files` (path, bytes) besides.
    fn new(name: &str, files: &[(&str, &[u8])]) -> Fixture {
        let scratch = Scratch::new(name);
        let repo = scratch.path().join("repo");
        std::fs::create_dir_all(repo.join("web")).unwrap();
        git(&repo, &["init", "--quiet"]);
        git(&repo, &["config", "uploadpack.allowAnySHA1InWant", "true"]);
        std::fs::write(repo.join("web/Dockerfile"), "FROM scratch\n").unwrap();
        for (path, bytes) in files {
            let path = repo.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "web"]);
        let commit = git(&repo, &["rev-parse", "HEAD"]);
        let tools = scratch.path().join("tools");
        install_tools(
            &tools,
            &[
                ("docker", DOCKER),
                ("aws", AWS),
                ("curl", &recorder(&real("curl"))),
                ("jq", &recorder(&real("jq"))),
            ],
        );
        Fixture {
            scratch,
            repo,
            tools,
            commit,
        }
    }

    /// The build of `web/` as the spawner starts it, syncing `description` to `api`.
    fn settings(&self, api: &str, description: &str) -> BuildSettings {
        let url = format!("file://{}", self.repo.display());
        spawned_build(
            &self.scratch,
            &self.tools,
            &[
                ("SOURCE_REPO_URL", url.as_str()),
                ("SOURCE_COMMIT", self.commit.as_str()),
                ("DOCKER_REPO", "docker.io/acme/web"),
                ("DOCKER_TAG", "latest"),
                ("DOCKERFILE_PATH", "web/Dockerfile"),
                ("BUILD_CONTEXT", "web"),
                ("DOCKHAND_TAGS", "latest"),
                ("DOCKHAND_REGISTRY", "docker.io"),
                ("DOCKHAND_REGISTRY_USER", USER),
                ("DOCKHAND_TOKEN_PARAMETER", "/dockhand/dockerhub/acme"),
                ("DOCKHAND_KEY_TAG", KEY_TAG),
                ("DOCKHAND_IMAGE_KEY", "0123456789abcdef"),
                ("DOCKHAND_BUILDKIT_IMAGE", "moby/buildkit:buildx-stable-1"),
                ("DOCKHAND_DESCRIPTION_PATH", description),
                ("DOCKHAND_HUB_API", api),
            ],
        )
    }

    fn calls(&self) -> Vec<String> {
        recorded_calls(&self.tools)
    }

    /// Every environment a recorded `curl` or `jq` ran with.
    fn environments(&self) -> Vec<String> {
        std::fs::read_dir(&self.tools)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("env."))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

/// The deployment's buildspec: Docker Hub, syncing descriptions through `api`.
fn buildspec(sync: bool) -> String {
    let mut config: dockhand_core::Config =
        serde_json::from_str(r#"{"registry":{"type":"dockerhub","namespace":"acme","username":"acmebot"}}"#).unwrap();
    config.hub_description = sync;
    dockhand_core::buildspec::render_for(&config)
}

/// The default file of `web/`, as the spawner names it.
fn default_path() -> String {
    RepoConfig::default().description_path("web")
}

fn hub(options: HubOptions) -> FakeDockerHub {
    FakeDockerHub::start(options).expect("the Docker Hub stand-in starts")
}

fn allowed() -> HubOptions {
    HubOptions::new(USER, TOKEN, &["acme/web"])
}

/// The build's `##dockhand description` lines.
fn reports(o: &Outcome) -> Vec<&str> {
    o.log
        .lines()
        .filter(|l| l.starts_with("##dockhand description "))
        .collect()
}

/// The build succeeded with every tag pushed, and the sync said `expected` in one line
/// and nothing else; neither token shows anywhere a process could read it.
fn assert_green_with(f: &Fixture, o: &Outcome, expected: &str) {
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(reports(o), [expected], "{}", o.log);
    let calls = f.calls();
    assert!(
        calls.iter().any(|c| c.contains("[--tag] [docker.io/acme/web:latest]")),
        "{calls:?}"
    );
    for secret in [TOKEN, ACCESS_TOKEN] {
        assert!(!o.log.contains(secret), "{secret} in the log: {}", o.log);
        assert!(
            !calls.iter().any(|c| c.contains(secret)),
            "{secret} in an argv: {calls:?}"
        );
        assert!(
            !f.environments().iter().any(|e| e.contains(secret)),
            "{secret} in an environment"
        );
    }
    for dir in [f.scratch.path().join("build/src/dockhand-source"), f.tools.clone()] {
        assert!(!dir.join("PWNED").exists(), "the README ran");
    }
}

#[test]
fn a_successful_push_makes_the_readme_the_description_byte_for_byte() {
    let f = Fixture::new("description-synced", &[("web/README.md", README.as_bytes())]);
    let hub = hub(allowed());
    let o = run(&buildspec(true), &f.settings(&hub.url(), &default_path()));
    assert_green_with(&f, &o, "##dockhand description synced web/README.md");
    assert_eq!(hub.description("acme/web").as_deref(), Some(README));
    assert_eq!(
        hub.requests(),
        ["POST /v2/auth/token", "PATCH /v2/repositories/acme/web/"]
    );
    // Last: after the image has every tag.
    let calls = f.calls();
    let tagged = calls
        .iter()
        .rposition(|c| c.starts_with("docker [buildx] [imagetools]"))
        .unwrap();
    let first_curl = calls.iter().position(|c| c.starts_with("curl ")).unwrap();
    assert!(tagged < first_curl, "{calls:?}");
}

#[test]
fn a_file_named_in_dockhand_yml_and_the_longest_description_hub_takes() {
    let longest = "é".repeat(dockhand_fake_dockerhub::DESCRIPTION_LIMIT);
    let f = Fixture::new("description-named", &[("docs/web.md", longest.as_bytes())]);
    let hub = hub(allowed());
    let repo = RepoConfig::parse("description:\n  web: docs/web.md\n").unwrap();
    let o = run(&buildspec(true), &f.settings(&hub.url(), &repo.description_path("web")));
    assert_green_with(&f, &o, "##dockhand description synced docs/web.md");
    assert_eq!(hub.description("acme/web"), Some(longest));
}

/// One build of `files` against a stand-in with `options`: green, one `failed` line that
/// says `why`, and the description untouched.
fn fails(name: &str, files: &[(&str, &[u8])], options: HubOptions, path: &str, why: &str) -> (Fixture, Outcome) {
    let f = Fixture::new(name, files);
    let hub = hub(options);
    let o = run(&buildspec(true), &f.settings(&hub.url(), path));
    let line = reports(&o).first().map(|l| l.to_string()).unwrap_or_default();
    assert!(
        line.starts_with("##dockhand description failed ") && line.contains(why),
        "{why}: {}",
        o.log
    );
    assert_green_with(&f, &o, &line);
    assert_eq!(hub.description("acme/web"), None);
    (f, o)
}

#[test]
fn a_wrong_token_is_reported_and_the_build_stays_green() {
    let mut options = allowed();
    options.token = "another-token".into();
    fails(
        "description-401",
        &[("web/README.md", b"hi\n")],
        options,
        &default_path(),
        "Docker Hub refused the registry user and token (401): check registry.username",
    );
}

#[test]
fn a_token_that_may_push_but_not_edit_is_reported() {
    let mut options = allowed();
    options.may_edit = false;
    fails(
        "description-403",
        &[("web/README.md", b"hi\n")],
        options,
        &default_path(),
        "may not edit acme/web on Docker Hub (403): a personal access token needs the Read, Write, Delete permission",
    );
}

#[test]
fn a_repository_docker_hub_does_not_have_is_reported() {
    fails(
        "description-404",
        &[("web/README.md", b"hi\n")],
        HubOptions::new(USER, TOKEN, &["acme/other"]),
        &default_path(),
        "Docker Hub has no repository acme/web (404)",
    );
}

/// Refused before anything is sent, rather than cut: a cut README says less than its
/// author wrote, and the report says why the description did not change.
#[test]
fn a_readme_over_docker_hubs_limit_is_reported_not_cut() {
    let long = "a".repeat(dockhand_fake_dockerhub::DESCRIPTION_LIMIT + 1);
    let (f, _) = fails(
        "description-long",
        &[("web/README.md", long.as_bytes())],
        allowed(),
        &default_path(),
        "web/README.md is 25001 characters, more than Docker Hub's 25000; the description was left as it was",
    );
    assert!(!f.calls().iter().any(|c| c.starts_with("curl ")));
    let huge = vec![b'a'; 200_000];
    fails(
        "description-huge",
        &[("web/README.md", &huge)],
        allowed(),
        &default_path(),
        "web/README.md is 200000 bytes, more than Docker Hub's 25000 characters",
    );
}

/// What the client let through, Docker Hub refuses (a limit lowered in the stand-in).
#[test]
fn a_description_docker_hub_refuses_is_reported() {
    let mut options = allowed();
    options.description_limit = 2;
    fails(
        "description-400",
        &[("web/README.md", b"hello\n")],
        options,
        &default_path(),
        "Docker Hub refused web/README.md as the description of acme/web (400)",
    );
}

#[test]
fn a_missing_readme_is_reported() {
    let (f, _) = fails(
        "description-missing",
        &[],
        allowed(),
        &default_path(),
        "web/README.md does not exist at ",
    );
    assert!(!f.calls().iter().any(|c| c.starts_with("curl ")));
}

/// As the Dockerfile: a link could send a file of the build host to Docker Hub.
#[test]
fn a_symbolic_link_or_a_readme_that_is_not_text_is_refused() {
    let f = Fixture::new("description-links", &[("web/README.md", b"x\n")]);
    for (name, target) in [("web/passwd.md", "/etc/passwd"), ("web/up.md", "../web/README.md")] {
        std::os::unix::fs::symlink(target, f.repo.join(name)).unwrap();
    }
    std::os::unix::fs::symlink("/etc", f.repo.join("etc")).unwrap();
    std::fs::create_dir_all(f.repo.join("docs")).unwrap();
    std::fs::write(f.repo.join("docs/latin1.md"), b"caf\xe9\n").unwrap();
    git(&f.repo, &["add", "."]);
    git(&f.repo, &["commit", "--quiet", "-m", "links"]);
    let commit = git(&f.repo, &["rev-parse", "HEAD"]);
    let hub = hub(allowed());
    for (path, why) in [
        (
            "web/passwd.md",
            "web/passwd.md is a symbolic link, or not a regular file",
        ),
        ("web/up.md", "is a symbolic link"),
        ("etc/passwd", "etc/passwd is a symbolic link"),
        ("web", "web is a symbolic link, or not a regular file"),
        ("docs/latin1.md", "docs/latin1.md is not UTF-8 text"),
    ] {
        let mut settings = f.settings(&hub.url(), path);
        for v in &mut settings.overrides {
            if v.name == "SOURCE_COMMIT" {
                v.value = commit.clone();
            }
        }
        let o = run(&buildspec(true), &settings);
        let expected = reports(&o).first().map(|l| l.to_string()).unwrap_or_default();
        assert!(expected.contains(why), "{path}: {}", o.log);
        assert_green_with(&f, &o, &expected);
    }
    assert!(hub.requests().is_empty(), "{:?}", hub.requests());
}

#[test]
fn a_build_image_without_jq_1_6_is_reported() {
    let f = Fixture::new("description-old-jq", &[("web/README.md", b"x\n")]);
    install_tools(
        &f.tools,
        &[(
            "jq",
            "#!/bin/bash\necho 'jq: Unknown arguments: --rawfile' >&2\nexit 2\n",
        )],
    );
    let hub = hub(allowed());
    let o = run(&buildspec(true), &f.settings(&hub.url(), &default_path()));
    assert_green_with(
        &f,
        &o,
        "##dockhand description failed this build image has no curl, or no jq 1.6 or later; the description needs both",
    );
    assert!(hub.requests().is_empty());
}

#[test]
fn docker_hub_out_of_reach_is_reported() {
    let f = Fixture::new("description-unreachable", &[("web/README.md", b"x\n")]);
    // A port nothing listens on: the stand-in's, once it has stopped.
    let api = hub(allowed()).url();
    let o = run(&buildspec(true), &f.settings(&api, &default_path()));
    assert_green_with(
        &f,
        &o,
        &format!("##dockhand description failed could not reach Docker Hub at {api}"),
    );
}

#[test]
fn a_failed_build_syncs_nothing() {
    let f = Fixture::new("description-failed-build", &[("web/README.md", b"x\n")]);
    std::fs::write(f.tools.join("fail-build"), "").unwrap();
    let hub = hub(allowed());
    let o = run(&buildspec(true), &f.settings(&hub.url(), &default_path()));
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    assert!(reports(&o).is_empty(), "{}", o.log);
    assert!(hub.requests().is_empty());
}

#[test]
fn without_the_opt_in_the_sync_is_not_there() {
    let f = Fixture::new("description-off", &[("web/README.md", b"x\n")]);
    let hub = hub(allowed());
    let text = buildspec(false);
    assert!(!text.contains("description"), "{text}");
    // Even with the variables set, as a stale override would have them.
    let o = run(&text, &f.settings(&hub.url(), &default_path()));
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert!(reports(&o).is_empty(), "{}", o.log);
    assert!(hub.requests().is_empty());
    assert!(!f.calls().iter().any(|c| c.starts_with("curl ")));
}
