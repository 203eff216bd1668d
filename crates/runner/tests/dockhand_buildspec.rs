//! dockhand's own buildspec, rendered by `dockhand_core`, run for real: git clones a local
//! repository at the pushed commit, and stand-ins for `docker` and `aws` on PATH record
//! what the buildspec asks of them. What is checked is what CodeBuild would do with the
//! same text: the exact commit is built with BuildKit, with the right Dockerfile, context,
//! cache and labels, and every tag is given only when the build succeeded.

mod support;

use dockhand_core::Registry;
use dockhand_runner::{BuildSettings, BuildStatus, Buildspec, EnvironmentVariable, PhaseStatus, PhaseType};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use support::{Outcome, Scratch, git, install_tools, run, spawned_build};

const FAKE_DOCKER: &str = r#"#!/bin/bash
# Records every call but buildx's help; `buildx build` also keeps the Dockerfile it was
# given and where it ran. One write per call: the two ends of a pipe log at the same time.
if [ "$*" = "buildx imagetools create --help" ]; then
    echo "      --prefer-index   When only a single source is specified, prefer outputting an image index"
    exit 0
fi
printf -v args ' [%s]' "$@"
printf 'docker%s\n' "$args" >> "$FAKE_TOOLS/calls"
case "$1 ${2:-}" in
    "login "*)
        cat > "$FAKE_TOOLS/login-stdin"
        ;;
    "buildx build")
        file=
        previous=
        for arg in "$@"; do
            if [ "$previous" = --file ]; then file=$arg; fi
            previous=$arg
        done
        context=${!#}
        cp -- "$file" "$FAKE_TOOLS/built-dockerfile"
        pwd > "$FAKE_TOOLS/build-cwd"
        (cd -- "$context" && pwd) > "$FAKE_TOOLS/build-context"
        if [ -e "$FAKE_TOOLS/fail-build" ]; then
            echo "fake docker: the build failed" >&2
            exit 1
        fi
        # buildx's metadata file, as it writes it (indented JSON); without a digest when
        # the test says so.
        previous=
        for arg in "$@"; do
            if [ "$previous" = --metadata-file ]; then
                if [ -e "$FAKE_TOOLS/no-digest" ]; then
                    printf '{\n  "buildx.build.ref": "dockhand/dockhand0/x"\n}' > "$arg"
                else
                    printf '{\n  "buildx.build.ref": "dockhand/dockhand0/x",\n  "containerimage.descriptor": {\n    "digest": "sha256:%s"\n  },\n  "containerimage.digest": "%s",\n  "image.name": "x"\n}' \
                        "$(printf 'd%.0s' {1..64})" "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" > "$arg"
                fi
            fi
            previous=$arg
        done
        ;;
esac
"#;

const FAKE_AWS: &str = r#"#!/bin/bash
printf -v args ' [%s]' "$@"
printf 'aws%s\n' "$args" >> "$FAKE_TOOLS/calls"
case "$1 $2 $4" in
    "ssm get-parameter /dockhand/github/token") echo "fake-github-token" ;;
    "ssm get-parameter /dockhand/pull") echo "fake-pull-token" ;;
    "ssm get-parameter "*) echo "fake-registry-token" ;;
    "ecr get-login-password "*) echo "fake-ecr-password" ;;
    *) echo "fake aws: unexpected call $*" >&2; exit 2 ;;
esac
"#;

struct Fixture {
    scratch: Scratch,
    repo: PathBuf,
    tools: PathBuf,
    /// The pushed commit: `web/Dockerfile` says `v1` here, `v2` in the commit after it.
    commit: String,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let scratch = Scratch::new(name);
        let repo = scratch.path().join("repo");
        std::fs::create_dir_all(repo.join("web")).unwrap();
        git(&repo, &["init", "--quiet"]);
        // Fetching a commit by its SHA needs the server to allow it; GitHub does.
        git(&repo, &["config", "uploadpack.allowAnySHA1InWant", "true"]);
        std::fs::write(repo.join("web/Dockerfile"), "FROM scratch\nLABEL version=v1\n").unwrap();
        std::fs::write(repo.join("web/index.html"), "hello\n").unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "web: v1"]);
        let commit = git(&repo, &["rev-parse", "HEAD"]);
        std::fs::write(repo.join("web/Dockerfile"), "FROM scratch\nLABEL version=v2\n").unwrap();
        git(&repo, &["commit", "--quiet", "-am", "web: v2"]);

        let tools = scratch.path().join("tools");
        install_tools(&tools, &[("docker", FAKE_DOCKER), ("aws", FAKE_AWS)]);
        Fixture {
            scratch,
            repo,
            tools,
            commit,
        }
    }

    fn short(&self) -> &str {
        &self.commit[..7]
    }

    /// The build as the spawner would start it for `web/`, in terms of its overrides.
    fn settings(&self, dockerfile: &str) -> BuildSettings {
        let url = format!("file://{}", self.repo.display());
        let tags = format!("latest,{}", self.short());
        spawned_build(
            &self.scratch,
            &self.tools,
            &[
                ("SOURCE_REPO_URL", url.as_str()),
                ("SOURCE_COMMIT", self.commit.as_str()),
                ("SOURCE_BRANCH", "main"),
                ("COMMIT_MSG", "web: v1"),
                ("DOCKER_REPO", "docker.io/acme/web"),
                ("DOCKER_TAG", "latest"),
                ("IMAGE_NAME", "docker.io/acme/web:latest"),
                ("DOCKERFILE_PATH", dockerfile),
                ("BUILD_CONTEXT", "web"),
                ("DOCKHAND_TAGS", tags.as_str()),
                ("DOCKHAND_REGISTRY", "docker.io"),
                ("DOCKHAND_REGISTRY_USER", "acmebot"),
                ("DOCKHAND_TOKEN_PARAMETER", "/dockhand/dockerhub/acme"),
                ("DOCKHAND_KEY_TAG", KEY_TAG),
                ("DOCKHAND_IMAGE_KEY", "0123456789abcdef"),
                ("DOCKHAND_BUILDKIT_IMAGE", "moby/buildkit:buildx-stable-1"),
                ("DOCKHAND_TITLE", "web"),
                ("DOCKHAND_CACHE_FROM", "type=registry,ref=docker.io/acme/web:buildcache"),
                (
                    "DOCKHAND_CACHE_TO",
                    "type=registry,ref=docker.io/acme/web:buildcache,mode=max,ignore-error=true",
                ),
            ],
        )
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.tools.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn tool_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.tools.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn checkout(&self) -> PathBuf {
        self.scratch.path().join("build/src/dockhand-source")
    }
}

fn hub() -> Registry {
    Registry::DockerHub {
        namespace: "acme".into(),
        username: Some("acmebot".into()),
        token_parameter: None,
    }
}

const KEY_TAG: &str = "dockhand-0123456789abcdef0123456789abcdef";
/// The digest the fake `docker buildx build` writes into its metadata file.
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The tags given to the built image, in order: `imagetools create` copies its manifest.
fn pushes(calls: &[String]) -> Vec<String> {
    let prefix = "docker [buildx] [imagetools] [create] [--prefer-index=false] [--tag] [";
    let source = format!("] [docker.io/acme/web:{KEY_TAG}]");
    calls
        .iter()
        .filter_map(|c| c.strip_prefix(prefix))
        .map(|rest| rest.strip_suffix(source.as_str()).unwrap_or(rest).to_owned())
        .collect()
}

fn built(calls: &[String]) -> bool {
    calls.iter().any(|c| c.starts_with("docker [buildx] [build]"))
}

#[test]
fn the_rendered_buildspec_parses() {
    for registry in [
        hub(),
        Registry::Ecr {
            registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
            prefix: None,
        },
    ] {
        let spec = Buildspec::parse(&dockhand_core::buildspec::render(&registry)).unwrap();
        assert_eq!(spec.phase(PhaseType::Install).unwrap().commands.len(), 1);
        assert_eq!(spec.phase(PhaseType::PreBuild).unwrap().commands.len(), 1);
        assert_eq!(spec.phase(PhaseType::Build).unwrap().commands.len(), 1);
        assert_eq!(spec.phase(PhaseType::PostBuild).unwrap().commands.len(), 1);
        assert!(spec.parameter_store().is_empty());
    }
}

fn run_dockhand(f: &Fixture, registry: &Registry, dockerfile: &str) -> Outcome {
    run(&dockhand_core::buildspec::render(registry), &f.settings(dockerfile))
}

#[test]
fn builds_the_pushed_commit_and_pushes_every_tag() {
    let f = Fixture::new("dockhand-ok");
    let o = run_dockhand(&f, &hub(), "web/Dockerfile");
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);

    // The exact commit, not the branch tip.
    assert_eq!(git(&f.checkout(), &["rev-parse", "HEAD"]), f.commit);
    assert_eq!(f.tool_file("built-dockerfile"), "FROM scratch\nLABEL version=v1\n");

    let calls = f.calls();
    assert_eq!(calls[0], "docker [buildx] [version]");
    // The push login first, for BuildKit's cache and push: the two ends of the login pipe
    // run at once, either may log first.
    let mut login = calls[1..3].to_vec();
    login.sort();
    assert_eq!(
        login,
        [
            "aws [ssm] [get-parameter] [--name] [/dockhand/dockerhub/acme] [--with-decryption] [--query] \
             [Parameter.Value] [--output] [text]",
            "docker [login] [--username] [acmebot] [--password-stdin] [docker.io]",
        ]
    );
    assert_eq!(
        calls[3],
        "docker [buildx] [create] [--name] [dockhand] [--driver] [docker-container] [--driver-opt] \
         [image=moby/buildkit:buildx-stable-1] [--bootstrap] [--use]"
    );
    let build = &calls[4];
    let url = format!("file://{}", f.repo.display());
    assert!(
        build.starts_with(
            "docker [buildx] [build] [--builder] [dockhand] [--progress] [plain] [--provenance] [false] \
             [--sbom] [false] [--file] [./web/Dockerfile] \
             [--cache-from] [type=registry,ref=docker.io/acme/web:buildcache] \
             [--cache-to] [type=registry,ref=docker.io/acme/web:buildcache,mode=max,ignore-error=true] "
        ),
        "{build}"
    );
    for label in [
        format!(
            "[--label] [org.opencontainers.image.revision={}] [--annotation] [manifest:org.opencontainers.image.revision={}]",
            f.commit, f.commit
        ),
        "[--label] [org.opencontainers.image.title=web]".to_owned(),
        "[--label] [org.opencontainers.image.version=latest]".to_owned(),
        "[--label] [org.opencontainers.image.created=".to_owned(),
        "[--label] [dev.dockhand.image-key=0123456789abcdef]".to_owned(),
    ] {
        assert!(build.contains(&label), "{label} in {build}");
    }
    // No web address was given: no source or url label rather than an empty one.
    assert!(
        !build.contains("image.source") && !build.contains("image.url") && !build.contains(&url),
        "{build}"
    );
    assert!(
        build.ends_with(" [./web]")
            && build.contains(&format!(
                " [--output] [type=image,name=docker.io/acme/web:{KEY_TAG},push=true,oci-mediatypes=true] [--metadata-file] ["
            )),
        "{build}"
    );
    assert_eq!(f.tool_file("login-stdin"), "fake-registry-token\n");
    let checkout = f.checkout().display().to_string();
    assert_eq!(f.tool_file("build-cwd"), format!("{checkout}\n"));
    assert_eq!(f.tool_file("build-context"), format!("{checkout}/web\n"));
    // Every tag names the manifest the build pushed under its key's tag.
    assert_eq!(calls.len(), 7, "{calls:?}");
    assert_eq!(
        pushes(&calls),
        [
            "docker.io/acme/web:latest".to_owned(),
            format!("docker.io/acme/web:{}", f.short())
        ]
    );
    // The token came through a pipe, never through the log.
    assert!(!o.log.contains("fake-registry-token"), "{}", o.log);
    // No DOCKHAND_BASES: no base is pinned.
    assert!(!build.contains("--build-context"), "{build}");
    // The digest BuildKit's metadata file names is the build's result, and the file is
    // outside the checkout.
    assert_eq!(
        o.result.exported_variables,
        [("DOCKHAND_IMAGE_DIGEST".to_owned(), DIGEST.to_owned())]
    );
    let metadata = build
        .split("[--metadata-file] [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    assert!(
        metadata.ends_with("/metadata.json") && !metadata.starts_with(&checkout),
        "{metadata}"
    );
}

#[test]
fn a_failed_docker_build_pushes_nothing() {
    let f = Fixture::new("dockhand-fail");
    std::fs::write(f.tools.join("fail-build"), "").unwrap();
    let o = run_dockhand(&f, &hub(), "web/Dockerfile");
    assert_eq!(o.result.status, BuildStatus::Failed);
    assert_eq!(o.result.failed_phase().unwrap().phase_type, PhaseType::Build);
    assert_eq!(o.status_of(PhaseType::PostBuild), Some(PhaseStatus::Succeeded));
    let calls = f.calls();
    assert!(built(&calls), "{calls:?}");
    assert!(pushes(&calls).is_empty(), "{calls:?}");
    assert!(o.log.contains("fake docker: the build failed"), "{}", o.log);
    assert!(o.log.contains("dockhand: not pushing docker.io/acme/web"), "{}", o.log);
    let context = &o.result.failed_phase().unwrap().contexts[0];
    assert!(
        context
            .message
            .starts_with("Error while executing command: set -euo pipefail\n"),
        "{context}"
    );
    assert!(context.message.ends_with("Reason: exit status 1"), "{context}");
}

#[test]
fn a_dockerfile_missing_at_the_commit_builds_and_pushes_nothing() {
    let f = Fixture::new("dockhand-skip");
    let o = run_dockhand(&f, &hub(), "gone/Dockerfile");
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    assert!(!built(&calls), "{calls:?}");
    assert!(pushes(&calls).is_empty(), "{calls:?}");
    // Nothing to build, so no login either.
    assert!(!calls.iter().any(|c| c.starts_with("docker [login]")), "{calls:?}");
    assert!(o.log.contains("gone/Dockerfile does not exist"), "{}", o.log);
}

#[test]
fn ecr_login_uses_the_builds_region() {
    let f = Fixture::new("dockhand-ecr");
    let registry = Registry::Ecr {
        registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
        prefix: None,
    };
    let mut settings = f.settings("web/Dockerfile");
    for v in &mut settings.overrides {
        if v.name == "DOCKHAND_REGISTRY" {
            v.value = "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into();
        }
    }
    let o = run(&dockhand_core::buildspec::render(&registry), &settings);
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    assert!(built(&calls[3..]), "{calls:?}");
    let mut login = calls[1..3].to_vec();
    login.sort();
    assert_eq!(
        login,
        [
            "aws [ecr] [get-login-password] [--region] [eu-west-1]",
            "docker [login] [--username] [AWS] [--password-stdin] [123456789012.dkr.ecr.eu-west-1.amazonaws.com]",
        ]
    );
    assert_eq!(f.tool_file("login-stdin"), "fake-ecr-password\n");
    assert_eq!(pushes(&calls).len(), 2);
}

/// The build of `f.commit` with `latest` moving with `git_ref` and the short SHA fixed.
fn moving(f: &Fixture, git_ref: &str) -> BuildSettings {
    let mut settings = f.settings("web/Dockerfile");
    settings
        .overrides
        .push(EnvironmentVariable::new("DOCKHAND_REF", git_ref));
    settings
        .overrides
        .push(EnvironmentVariable::new("DOCKHAND_MOVING_TAGS", "latest"));
    settings
}

#[test]
fn a_moving_tag_is_pushed_only_while_the_ref_points_at_the_commit() {
    let f = Fixture::new("dockhand-moving");
    // main has moved on to v2: the build of v1 pushes its SHA tag, and not latest.
    let o = run(
        &dockhand_core::buildspec::render(&hub()),
        &moving(&f, "refs/heads/main"),
    );
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    assert_eq!(pushes(&calls), [format!("docker.io/acme/web:{}", f.short())]);
    let head = git(&f.repo, &["rev-parse", "main"]);
    assert!(
        o.log.contains(&format!(
            "dockhand: not moving docker.io/acme/web:latest: refs/heads/main points at {head} now, not {}",
            f.commit
        )),
        "{}",
        o.log
    );

    // A tag at the commit, lightweight or annotated (ls-remote's peeled `^{}` line): latest
    // moves.
    git(&f.repo, &["tag", "light", &f.commit]);
    git(&f.repo, &["tag", "-a", "-m", "v1", "annotated", &f.commit]);
    for tag in ["refs/tags/light", "refs/tags/annotated"] {
        std::fs::remove_file(f.tools.join("calls")).unwrap();
        let o = run(&dockhand_core::buildspec::render(&hub()), &moving(&f, tag));
        assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
        assert_eq!(pushes(&f.calls()).len(), 2, "{tag}: {:?}", f.calls());
    }

    // A ref that no longer exists points nowhere: nothing moves.
    std::fs::remove_file(f.tools.join("calls")).unwrap();
    let o = run(
        &dockhand_core::buildspec::render(&hub()),
        &moving(&f, "refs/heads/deleted"),
    );
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(pushes(&f.calls()).len(), 1);
}

#[test]
fn when_the_repository_cannot_be_asked_moving_tags_stay_and_the_build_fails() {
    let f = Fixture::new("dockhand-unreachable");
    // A git whose ls-remote fails, as a network error would; every other call is git's.
    let real = String::from_utf8(
        Command::new("bash")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let stub = f.tools.join("bin/git");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/bash\nif [ \"$1\" = ls-remote ]; then echo 'fatal: unable to access the repository' >&2; exit 128; fi\nexec {real} \"$@\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Even a ref that does point at the commit: unknown is not the same.
    git(&f.repo, &["tag", "v1", &f.commit]);
    let o = run(&dockhand_core::buildspec::render(&hub()), &moving(&f, "refs/tags/v1"));
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    assert_eq!(o.result.failed_phase().unwrap().phase_type, PhaseType::PostBuild);
    assert_eq!(
        pushes(&f.calls()),
        [format!("docker.io/acme/web:{}", f.short())],
        "the fixed tag is given, the moving one is not"
    );
    assert!(
        o.log.contains("could not ask") && o.log.contains("its moving tags were not pushed"),
        "{}",
        o.log
    );
}

/// The path of the real git, for stubs that wrap it.
fn real_git() -> String {
    let out = Command::new("bash").args(["-c", "command -v git"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Makes every `git` and `docker` call also save its exported environment as
/// `env-<n>-<tool>-<subcommand>` under the tools directory.
fn record_environments(f: &Fixture) {
    let git = f.tools.join("bin/git");
    std::fs::write(
        &git,
        format!(
            "#!/bin/bash\nn=$(ls \"$FAKE_TOOLS\" | grep -c '^env-' || true)\na=(\"$@\")\ni=0\nwhile [ \"${{a[i]}}\" = -C ] || [ \"${{a[i]}}\" = -c ]; do i=$((i + 2)); done\nsub=${{a[i]}}\nenv > \"$FAKE_TOOLS/env-$n-git-$sub\"\nexec {} \"$@\"\n",
            real_git()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&git, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker = f.tools.join("bin/docker");
    let text = FAKE_DOCKER.replacen(
        "printf -v args",
        "n=$(ls \"$FAKE_TOOLS\" | grep -c '^env-' || true)\nenv > \"$FAKE_TOOLS/env-$n-docker-$1\"\nprintf -v args",
        1,
    );
    std::fs::write(&docker, text).unwrap();
}

/// (file name, content) of every environment saved by [`record_environments`].
fn environments(f: &Fixture) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(&f.tools)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("env-"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn with_github_token() -> dockhand_core::Config {
    let mut config: dockhand_core::Config =
        serde_json::from_str(r#"{"registry":{"type":"dockerhub","namespace":"acme","username":"acmebot"}}"#).unwrap();
    config.github_token_parameter = Some("/dockhand/github/token".into());
    config
}

/// A private repository's build, under bash with stand-in tools: the token is read inside
/// the fetch's (and the ref check's) subshell, sent as a header scoped to the Git host,
/// and absent from every other command of every phase, docker's above all.
#[test]
fn the_github_token_reaches_the_fetch_alone_scoped_to_the_git_host() {
    let f = Fixture::new("dockhand-token");
    record_environments(&f);
    let mut settings = moving(&f, "refs/heads/main");
    for (name, value) in [
        ("DOCKHAND_GITHUB_TOKEN_PARAMETER", "/dockhand/github/token"),
        ("DOCKHAND_GIT_HOST", "github.com"),
    ] {
        settings.overrides.push(EnvironmentVariable::new(name, value));
    }
    let spec = dockhand_core::buildspec::render_for(&with_github_token());
    assert!(Buildspec::parse(&spec).unwrap().parameter_store().is_empty());
    let o = run(&spec, &settings);
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert!(!o.log.contains("fake-github-token"), "{}", o.log);
    let calls = f.calls();
    assert!(
        calls.contains(
            &"aws [ssm] [get-parameter] [--name] [/dockhand/github/token] [--with-decryption] [--query] [Parameter.Value] [--output] [text]"
                .to_owned()
        ),
        "{calls:?}"
    );
    let envs = environments(&f);
    let with_header: Vec<&str> = envs
        .iter()
        .filter(|(_, env)| env.contains("AUTHORIZATION: basic"))
        .map(|(name, _)| name.split_once("-git-").map_or(name.as_str(), |(_, sub)| sub))
        .collect();
    // The fetch of the commit and the check of where the ref points, nothing else.
    assert_eq!(with_header, ["fetch", "ls-remote"], "{envs:#?}");
    assert!(envs.iter().any(|(name, _)| name.contains("-docker-buildx")));
    assert!(envs.iter().any(|(name, _)| name.contains("-git-checkout")));
    for (name, env) in &envs {
        assert!(!env.contains("fake-github-token"), "{name}: the token itself");
        assert!(!env.contains("DOCKHAND_GITHUB_TOKEN="), "{name}: a token variable");
        if env.contains("AUTHORIZATION: basic") {
            let header = env
                .lines()
                .find_map(|l| l.strip_prefix("GIT_CONFIG_VALUE_0=AUTHORIZATION: basic "))
                .unwrap_or_else(|| panic!("{name}: {env}"));
            assert!(
                env.contains("GIT_CONFIG_KEY_0=http.https://github.com/.extraHeader\n"),
                "{name}: {env}"
            );
            let decoded = Command::new("bash")
                .args(["-c", "printf %s \"$1\" | base64 -d", "-", header])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&decoded.stdout),
                "x-access-token:fake-github-token"
            );
        }
    }
}

#[test]
fn a_pull_credential_logs_in_first_then_the_push_one_then_the_build() {
    let f = Fixture::new("dockhand-pull");
    let mut config = with_github_token();
    config.github_token_parameter = None;
    config.pull_credential = Some(dockhand_core::config::PullCredential {
        host: "docker.io".into(),
        username: Some("reader".into()),
        token_parameter: Some("/dockhand/pull".into()),
    });
    let mut settings = f.settings("web/Dockerfile");
    for (name, value) in [
        ("DOCKHAND_PULL_REGISTRY", "docker.io"),
        ("DOCKHAND_PULL_USER", "reader"),
        ("DOCKHAND_PULL_TOKEN_PARAMETER", "/dockhand/pull"),
    ] {
        settings.overrides.push(EnvironmentVariable::new(name, value));
    }
    let o = run(&dockhand_core::buildspec::render_for(&config), &settings);
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    let position = |prefix: &str| {
        calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {calls:?}"))
    };
    let pull = position("docker [login] [--username] [reader] [--password-stdin] [docker.io]");
    let push_login = position("docker [login] [--username] [acmebot]");
    let build = position("docker [buildx] [build]");
    assert!(pull < push_login && push_login < build, "{calls:?}");
    assert!(calls.contains(&"aws [ssm] [get-parameter] [--name] [/dockhand/pull] [--with-decryption] [--query] [Parameter.Value] [--output] [text]".to_owned()));
}

/// A commit after the fixture's two holding symbolic links where Dockerfiles and contexts
/// are expected; its id.
fn commit_with_symlinks(f: &Fixture) -> String {
    let link = |target: &str, name: &str| {
        let path = f.repo.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    };
    // The legacy builder reads a Dockerfile on the build host: this one would be the
    // build's own environment.
    link("/proc/self/environ", "environ/Dockerfile");
    link("../web/Dockerfile", "relative/Dockerfile");
    link("web", "alias");
    link("/etc", "etc");
    std::fs::write(f.repo.join("README"), "x\n").unwrap();
    git(&f.repo, &["add", "."]);
    git(&f.repo, &["commit", "--quiet", "-m", "links"]);
    git(&f.repo, &["rev-parse", "HEAD"])
}

#[test]
fn a_symlinked_dockerfile_or_context_is_refused() {
    let f = Fixture::new("dockhand-symlinks");
    let commit = commit_with_symlinks(&f);
    for (dockerfile, context) in [
        ("environ/Dockerfile", "environ"),
        ("relative/Dockerfile", "relative"),
        ("alias/Dockerfile", "alias"),
        ("etc/passwd", "etc"),
    ] {
        let _ = std::fs::remove_file(f.tools.join("calls"));
        let mut settings = f.settings(dockerfile);
        for v in &mut settings.overrides {
            match v.name.as_str() {
                "SOURCE_COMMIT" => v.value = commit.clone(),
                "BUILD_CONTEXT" => v.value = context.into(),
                _ => {}
            }
        }
        let o = run(&dockhand_core::buildspec::render(&hub()), &settings);
        assert_eq!(o.result.status, BuildStatus::Failed, "{dockerfile}: {}", o.log);
        assert_eq!(o.result.failed_phase().unwrap().phase_type, PhaseType::PreBuild);
        assert!(o.log.contains("refusing to build"), "{dockerfile}: {}", o.log);
        let calls = f.calls();
        assert!(
            !calls
                .iter()
                .any(|c| c.starts_with("docker [buildx] [build]") || c.starts_with("docker [login]")),
            "{dockerfile}: {calls:?}"
        );
    }
    // The same commit's regular Dockerfile still builds.
    let settings = at_commit(f.settings("web/Dockerfile"), &commit);
    let o = run(&dockhand_core::buildspec::render(&hub()), &settings);
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
}

/// `settings` for another commit of the fixture's repository.
fn at_commit(mut settings: BuildSettings, commit: &str) -> BuildSettings {
    for v in &mut settings.overrides {
        if v.name == "SOURCE_COMMIT" {
            v.value = commit.to_owned();
        }
    }
    settings
}

/// A file named like the buildspec's skip marker is only a file of the repository.
#[test]
fn a_repository_file_cannot_skip_the_build() {
    let f = Fixture::new("dockhand-marker");
    std::fs::write(f.repo.join(".dockhand-skip"), "").unwrap();
    std::fs::write(f.repo.join("dockhand-skip"), "").unwrap();
    git(&f.repo, &["add", "."]);
    git(&f.repo, &["commit", "--quiet", "-m", "markers"]);
    let commit = git(&f.repo, &["rev-parse", "HEAD"]);
    let settings = at_commit(f.settings("web/Dockerfile"), &commit);
    let o = run(&dockhand_core::buildspec::render(&hub()), &settings);
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(pushes(&f.calls()).len(), 2, "{:?}", f.calls());
}

/// What a push controls reaches BuildKit's argv byte for byte as label values, and nothing
/// in it runs: a web address, a tag and a title holding shell.
#[test]
fn hostile_label_values_are_single_arguments() {
    let f = Fixture::new("dockhand-hostile-labels");
    let hostile = "https://x/$(touch PWNED)`touch PWNED`\"; touch PWNED; ' ,a=b";
    let mut settings = f.settings("web/Dockerfile");
    settings
        .overrides
        .push(EnvironmentVariable::new("DOCKHAND_SOURCE_URL", hostile));
    for v in &mut settings.overrides {
        if v.name == "DOCKHAND_TITLE" || v.name == "COMMIT_MSG" {
            v.value = hostile.to_owned();
        }
    }
    let o = run(&dockhand_core::buildspec::render(&hub()), &settings);
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    let build = calls.iter().find(|c| c.starts_with("docker [buildx] [build]")).unwrap();
    for name in ["source", "url", "title"] {
        let arg = format!("[--label] [org.opencontainers.image.{name}={hostile}]");
        assert!(build.contains(&arg), "{arg} in {build}");
    }
    assert!(!f.checkout().join("PWNED").exists() && !f.tools.join("PWNED").exists());
    assert!(!f.scratch.path().join("build/src/PWNED").exists());
}

/// A build that pushed but whose digest BuildKit's metadata file does not name fails in
/// BUILD: the images built on it must not build on a guess. Nothing is tagged.
#[test]
fn a_pushed_image_without_a_digest_fails_the_build() {
    let f = Fixture::new("dockhand-no-digest");
    std::fs::write(f.tools.join("no-digest"), "").unwrap();
    let o = run_dockhand(&f, &hub(), "web/Dockerfile");
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    assert_eq!(o.result.failed_phase().unwrap().phase_type, PhaseType::Build);
    assert!(o.log.contains("names no containerimage.digest"), "{}", o.log);
    assert!(pushes(&f.calls()).is_empty(), "{:?}", f.calls());
    assert_eq!(
        o.result.exported_variables,
        [("DOCKHAND_IMAGE_DIGEST".to_owned(), String::new())]
    );
}

fn with_bases(f: &Fixture, bases: &str) -> BuildSettings {
    let mut settings = f.settings("web/Dockerfile");
    settings
        .overrides
        .push(EnvironmentVariable::new("DOCKHAND_BASES", bases));
    settings
}

/// The `--build-context` arguments of the one `docker buildx build` call.
fn build_contexts(calls: &[String]) -> Vec<String> {
    let build = calls.iter().find(|c| c.starts_with("docker [buildx] [build]")).unwrap();
    build
        .split("[--build-context] [")
        .skip(1)
        .map(|rest| rest.split("] ").next().unwrap().to_owned())
        .collect()
}

#[test]
fn each_base_line_becomes_one_build_context() {
    let f = Fixture::new("dockhand-bases");
    let digest = "a".repeat(64);
    let key = "0123456789abcdef0123456789abcdef";
    let bases = format!(
        "r.j3ss.co/wine\tr.j3ss.co/wine@sha256:{digest}\n\
         127.0.0.1:5000/acme/base:latest\t127.0.0.1:5000/acme/base:dockhand-{key}\n"
    );
    let o = run(&dockhand_core::buildspec::render(&hub()), &with_bases(&f, &bases));
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(
        build_contexts(&f.calls()),
        [
            format!("r.j3ss.co/wine=docker-image://r.j3ss.co/wine@sha256:{digest}"),
            format!("127.0.0.1:5000/acme/base:latest=docker-image://127.0.0.1:5000/acme/base:dockhand-{key}"),
        ]
    );
}

/// A line of any other shape fails BUILD before anything is built, naming its number and
/// not its text; what a hostile line holds never runs.
#[test]
fn a_base_line_of_another_shape_is_refused_and_nothing_in_it_runs() {
    let digest = "b".repeat(64);
    let pinned = format!("acme/base@sha256:{digest}");
    for (i, line) in [
        format!("acme/base {pinned}"),
        format!("acme/base\t{pinned}\textra"),
        format!("\t{pinned}"),
        "acme/base\t".to_owned(),
        "acme/base".to_owned(),
        format!("$(touch PWNED)\t{pinned}"),
        format!("`touch PWNED`\t{pinned}"),
        format!("acme/base\"; touch PWNED; \"\t{pinned}"),
        format!("acme/base' x\t{pinned}"),
        format!("acme/base\t$(touch PWNED)@sha256:{digest}"),
        format!("acme/base\tacme/base@sha256:{}", "B".repeat(64)),
        format!("acme/base\tacme/base@sha256:{}", "b".repeat(63)),
        "acme/base\tacme/base:latest".to_owned(),
        "acme/base\tacme/base:dockhand-0123".to_owned(),
        format!("acme/base\tacme/base@sha256:{digest};touch PWNED"),
        format!("acme/base\r\t{pinned}"),
    ]
    .into_iter()
    .enumerate()
    {
        let f = Fixture::new(&format!("dockhand-bad-base-{i}"));
        // The bad line is the second: the number names it.
        let bases = format!("good/one\t{pinned}\n{line}\n");
        let o = run(&dockhand_core::buildspec::render(&hub()), &with_bases(&f, &bases));
        assert_eq!(o.result.status, BuildStatus::Failed, "{line:?}: {}", o.log);
        assert_eq!(
            o.result.failed_phase().unwrap().phase_type,
            PhaseType::Build,
            "{line:?}"
        );
        assert!(
            o.log.contains("line 2 of DOCKHAND_BASES is not NAME<TAB>"),
            "{line:?}: {}",
            o.log
        );
        assert!(!o.log.contains(&line), "{line:?} is in the log: {}", o.log);
        assert!(!built(&f.calls()), "{line:?}: {:?}", f.calls());
        for dir in [f.checkout(), f.tools.clone(), f.scratch.path().join("build/src")] {
            assert!(!dir.join("PWNED").exists(), "{line:?} ran");
        }
    }
}

/// A NAME can hold only the characters of an image reference: a newline inside a value
/// makes two lines, each checked on its own.
#[test]
fn a_newline_inside_a_base_makes_lines_that_are_each_checked() {
    let f = Fixture::new("dockhand-base-newline");
    let digest = "c".repeat(64);
    let bases = format!("acme/ba\nse\tacme/base@sha256:{digest}");
    let o = run(&dockhand_core::buildspec::render(&hub()), &with_bases(&f, &bases));
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    assert!(o.log.contains("line 1 of DOCKHAND_BASES"), "{}", o.log);
    assert!(!built(&f.calls()));
}
