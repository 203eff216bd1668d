//! dockhand's re-tag buildspec (`buildspecs/retag.yml`), rendered by `dockhand_core`, run
//! for real with stand-ins for `docker` and `aws` on PATH that record their arguments, and
//! a real git repository to ask where the ref points: each tag is one registry-side copy
//! of the key tag, a moving tag only while the ref still points at the commit, and values
//! stay data whatever they hold.

mod support;

use dockhand_core::retag::{RETAG_VARIABLE, RetagLine};
use dockhand_runner::{BuildSettings, BuildStatus, EnvironmentVariable};
use std::path::PathBuf;
use support::{Scratch, git, install_tools, run, tool_env};

const FAKE_DOCKER: &str = r#"#!/bin/bash
printf -v args ' [%s]' "$@"
printf 'docker%s\n' "$args" >> "$FAKE_TOOLS/calls"
# As docker does: the password is read whole, or `aws` would write into a closed pipe.
if [ "$1" = login ]; then cat > /dev/null; fi
if [ "$1 $2 $3" = "buildx imagetools create" ] && [ -e "$FAKE_TOOLS/missing" ] && [ "${!#}" = "$(cat "$FAKE_TOOLS/missing")" ]; then
    echo "fake docker: ${!#}: not found" >&2
    exit 1
fi
"#;

const FAKE_AWS: &str = r#"#!/bin/bash
printf 'aws\n' >> "$FAKE_TOOLS/calls"
echo "fake-registry-token"
"#;

const KEY_TAG: &str = "dockhand-0123456789abcdef0123456789abcdef";

struct Fixture {
    scratch: Scratch,
    repo: PathBuf,
    tools: PathBuf,
    /// The pushed commit; main has moved past it.
    commit: String,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let scratch = Scratch::new(name);
        let repo = scratch.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "--quiet"]);
        std::fs::write(repo.join("a"), "1\n").unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "one"]);
        let commit = git(&repo, &["rev-parse", "HEAD"]);
        git(&repo, &["tag", "v1.0", &commit]);
        std::fs::write(repo.join("a"), "2\n").unwrap();
        git(&repo, &["commit", "--quiet", "-am", "two"]);
        let tools = scratch.path().join("tools");
        install_tools(&tools, &[("docker", FAKE_DOCKER), ("aws", FAKE_AWS)]);
        Fixture {
            scratch,
            repo,
            tools,
            commit,
        }
    }

    fn settings(&self, git_ref: &str, lines: &str) -> BuildSettings {
        let mut build = BuildSettings::new("dockhand", self.scratch.path().join("build/src"));
        build.privileged = true;
        build.process_env = tool_env(&self.scratch, &self.tools);
        let url = format!("file://{}", self.repo.display());
        build.overrides = [
            ("SOURCE_REPO_URL", url.as_str()),
            ("SOURCE_COMMIT", self.commit.as_str()),
            ("DOCKHAND_REF", git_ref),
            ("DOCKHAND_REGISTRY", "docker.io"),
            ("DOCKHAND_REGISTRY_USER", "acmebot"),
            ("DOCKHAND_TOKEN_PARAMETER", "/dockhand/dockerhub/acme"),
            (RETAG_VARIABLE, lines),
        ]
        .into_iter()
        .map(|(name, value)| EnvironmentVariable::new(name, value))
        .collect();
        build
    }

    fn copies(&self) -> Vec<String> {
        std::fs::read_to_string(self.tools.join("calls"))
            .unwrap_or_default()
            .lines()
            .filter(|c| c.starts_with("docker [buildx]") && !c.ends_with("[--help]"))
            .map(str::to_owned)
            .collect()
    }
}

fn buildspec() -> String {
    let config: dockhand_core::Config = serde_json::from_str(
        r#"{"registry":{"type":"dockerhub","namespace":"acme","username":"acmebot"},"repositories":["acme/*"]}"#,
    )
    .unwrap();
    dockhand_core::buildspec::render_retag_for(&config)
}

fn line(repository: &str, tags: &[&str], moving: &[&str]) -> String {
    RetagLine {
        repository: repository.into(),
        key_tag: KEY_TAG.into(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        moving_tags: moving.iter().map(|s| s.to_string()).collect(),
    }
    .line()
    .unwrap()
}

fn copy(repository: &str, tag: &str) -> String {
    format!("docker [buildx] [imagetools] [create] [--tag] [{repository}:{tag}] [{repository}:{KEY_TAG}]")
}

#[test]
fn every_tag_is_a_copy_of_the_key_tag_and_moving_tags_wait_for_the_ref() {
    let f = Fixture::new("retag-moving");
    let lines = [
        line("docker.io/acme/web", &["v1.0", "latest"], &["latest"]),
        line("docker.io/acme/api", &["v1.0"], &[]),
    ]
    .join("\n");
    // A tag at the commit: every tag is given, once each.
    let o = run(&buildspec(), &f.settings("refs/tags/v1.0", &lines));
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(
        f.copies(),
        [
            copy("docker.io/acme/web", "v1.0"),
            copy("docker.io/acme/web", "latest"),
            copy("docker.io/acme/api", "v1.0")
        ]
    );
    // main has moved past the commit: latest stays where it is, the rest are given.
    std::fs::remove_file(f.tools.join("calls")).unwrap();
    let o = run(&buildspec(), &f.settings("refs/heads/main", &lines));
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(
        f.copies(),
        [copy("docker.io/acme/web", "v1.0"), copy("docker.io/acme/api", "v1.0")]
    );
    let head = git(&f.repo, &["rev-parse", "main"]);
    assert!(
        o.log.contains(&format!(
            "dockhand: not moving docker.io/acme/web:latest: refs/heads/main points at {head} now, not {}",
            f.commit
        )),
        "{}",
        o.log
    );
}

#[test]
fn a_missing_key_tag_fails_the_job_and_says_how_to_build_instead() {
    let f = Fixture::new("retag-missing");
    std::fs::write(f.tools.join("missing"), format!("docker.io/acme/web:{KEY_TAG}")).unwrap();
    let lines = [
        line("docker.io/acme/web", &["v1.0"], &[]),
        line("docker.io/acme/api", &["v1.0"], &[]),
    ]
    .join("\n");
    let o = run(&buildspec(), &f.settings("refs/tags/v1.0", &lines));
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    // The other image is still given its tag.
    assert_eq!(f.copies().len(), 2, "{}", o.log);
    assert!(
        o.log.contains("set `rebuild: always` in .dockhand.yml and push again"),
        "{}",
        o.log
    );
}

/// Values that a shell would read as code stay data: the ref and the URL are passed as
/// arguments, never evaluated, and nothing runs what they say.
#[test]
fn hostile_values_stay_data() {
    let f = Fixture::new("retag-hostile");
    let marker = f.scratch.path().join("pwned");
    let lines = line("docker.io/acme/web", &["v1.0", "latest"], &["latest"]);
    let mut settings = f.settings(
        &format!("refs/heads/$(touch {})`touch {}`", marker.display(), marker.display()),
        &lines,
    );
    settings.overrides.push(EnvironmentVariable::new(
        "COMMIT_MSG",
        format!("\"; touch {} #", marker.display()),
    ));
    let o = run(&buildspec(), &settings);
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert!(!marker.exists());
    // The ref does not exist: latest does not move, v1.0 is given.
    assert_eq!(f.copies(), [copy("docker.io/acme/web", "v1.0")]);
    // A line that dockhand would refuse never splits into more arguments either: a value
    // with spaces and globs stays one argument.
    std::fs::remove_file(f.tools.join("calls")).unwrap();
    let o = run(
        &buildspec(),
        &f.settings("refs/tags/v1.0", &format!("docker.io/a b/*\t{KEY_TAG}\t$(id)\t")),
    );
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(
        f.copies(),
        [format!(
            "docker [buildx] [imagetools] [create] [--tag] [docker.io/a b/*:$(id)] [docker.io/a b/*:{KEY_TAG}]"
        )]
    );
}
