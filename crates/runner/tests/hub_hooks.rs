//! Docker Hub's hooks and autotests, run by dockhand's own buildspec (Hub mode): git
//! clones a local repository whose Dockerfile has `hooks/` and `*.test.yml` beside it, the
//! hooks are stubs of the repository that record when they ran, where and with what, and a
//! stand-in `docker` keeps an engine of tags in a file (`--load`, `build -t`, `tag`,
//! `image inspect`, `push`) and plays Compose. What is checked is what CodeBuild would do
//! with the same text: Hub's order, what replaces what, what a failure stops, the report
//! lines, and that a directory's name and the push's values stay data.

mod support;

use dockhand_runner::{BuildSettings, BuildStatus, EnvironmentVariable, PhaseType};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use support::{Outcome, Scratch, git, install_tools, run, spawned_build};

const FAKE_DOCKER: &str = r#"#!/bin/bash
# One line per call in calls (compose's with the directory it ran in); the engine is a file
# of the references it holds.
set -u
engine="$FAKE_TOOLS/engine"
touch "$engine"
if [ "$*" = "buildx imagetools create --help" ]; then
    echo "      --prefer-index   When only a single source is specified, prefer outputting an image index"
    exit 0
fi
if [ "${1:-}" = compose ] && [ "${2:-}" = version ]; then
    [ ! -e "$FAKE_TOOLS/no-compose-plugin" ]
    exit
fi
printf -v args ' [%s]' "$@"
printf 'docker%s\n' "$args" >> "$FAKE_TOOLS/calls"
has() { grep -qxF -- "$1" "$engine"; }
case "$1 ${2:-}" in
    "login "*) cat > /dev/null ;;
    "buildx build")
        [ ! -e "$FAKE_TOOLS/fail-build" ] || { echo "fake docker: the build failed" >&2; exit 1; }
        previous=
        for arg in "$@"; do
            case "$previous" in
                --tag) echo "$arg" >> "$engine" ;;
                --metadata-file) printf '{"containerimage.digest": "sha256:%s"}' "$(printf 'a%.0s' {1..64})" > "$arg" ;;
            esac
            previous=$arg
        done
        ;;
    "build "*)
        previous=
        for arg in "$@"; do
            if [ "$previous" = -t ]; then echo "$arg" >> "$engine"; fi
            previous=$arg
        done
        ;;
    "image inspect")
        has "${!#}" || { echo "Error: No such image: ${!#}" >&2; exit 1; }
        echo "sha256:$(printf 'e%.0s' {1..64})"
        ;;
    "tag "*)
        has "$2" || { echo "Error: No such image: $2" >&2; exit 1; }
        echo "$3" >> "$engine"
        ;;
    "push "*)
        has "$2" || { echo "An image does not exist locally with the tag: $2" >&2; exit 1; }
        echo "The push refers to repository [${2%:*}]"
        echo "5f70bf18a086: Pushed"
        if [ ! -e "$FAKE_TOOLS/no-push-digest" ]; then
            echo "${2##*:}: digest: sha256:$(printf 'b%.0s' {1..64}) size: 528"
        fi
        ;;
    "compose "*)
        pwd >> "$FAKE_TOOLS/calls"
        file= previous=
        for arg in "$@"; do
            if [ "$previous" = --file ]; then file=$arg; fi
            previous=$arg
        done
        case " $* " in
            *" up "*)
                printf '%s' "$DOCKERFILE_PATH" > "$FAKE_TOOLS/compose-dockerfile-path"
                status=$(sed -n 's/^# sut exits \([0-9]*\)$/\1/p' "$file")
                exit "${status:-0}"
                ;;
            *" logs "*)
                for i in $(seq 1 24); do echo "sut-1  | line $i"; done
                printf 'sut-1  | %s\n' "$(printf 'x%.0s' {1..400})"
                ;;
        esac
        ;;
esac
"#;

const FAKE_AWS: &str = "#!/bin/bash\necho fake-registry-token\n";

/// A hook that records its name in the calls, and what it saw: its directory and the
/// autobuild variables, each byte for byte in a file of its own.
const RECORDING_HOOK: &str = r#"#!/bin/bash
name=${0##*/}
printf 'hook %s\n' "$name" >> "$FAKE_TOOLS/calls"
mkdir -p "$FAKE_TOOLS/seen/$name"
pwd > "$FAKE_TOOLS/seen/$name/cwd"
for v in SOURCE_BRANCH SOURCE_COMMIT COMMIT_MSG DOCKER_REPO DOCKER_TAG IMAGE_NAME DOCKERFILE_PATH DOCKHAND_KEY_TAG; do
    printf '%s' "${!v}" > "$FAKE_TOOLS/seen/$name/$v"
done
"#;

/// Docker Hub's ten hooks, in the order a build runs them.
const HOOKS: [&str; 10] = dockhand_core::build_report::HOOKS;

/// The seven hooks around the default steps.
const AROUND: [&str; 7] = [
    "post_checkout",
    "pre_build",
    "post_build",
    "pre_test",
    "post_test",
    "pre_push",
    "post_push",
];

const KEY_TAG: &str = "dockhand-0123456789abcdef0123456789abcdef";
const PUSH_DIGEST: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const PASSING_TEST: &str = "services:\n  sut:\n    image: ${IMAGE_NAME}\n";

struct Fixture {
    scratch: Scratch,
    tools: PathBuf,
    dir: String,
    commit: String,
}

impl Fixture {
    /// A repository whose `dir/` holds a Dockerfile and `files` (path under `dir/`, text).
    fn new(name: &str, dir: &str, files: &[(&str, &str)]) -> Fixture {
        let scratch = Scratch::new(name);
        let repo = scratch.path().join("repo");
        let root = repo.join(dir);
        std::fs::create_dir_all(&root).unwrap();
        git(&repo, &["init", "--quiet"]);
        git(&repo, &["config", "uploadpack.allowAnySHA1InWant", "true"]);
        std::fs::write(root.join("Dockerfile"), "FROM scratch\n").unwrap();
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "hub"]);
        let commit = git(&repo, &["rev-parse", "HEAD"]);
        let tools = scratch.path().join("tools");
        install_tools(&tools, &[("docker", FAKE_DOCKER), ("aws", FAKE_AWS)]);
        Fixture {
            scratch,
            tools,
            dir: dir.to_owned(),
            commit,
        }
    }

    /// With every hook of `names` recording.
    fn with_hooks(name: &str, names: &[&str], tests: &[(&str, &str)]) -> Fixture {
        let mut files: Vec<(String, &str)> = names.iter().map(|h| (format!("hooks/{h}"), RECORDING_HOOK)).collect();
        files.extend(tests.iter().map(|(n, t)| (n.to_string(), *t)));
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        Fixture::new(name, "web", &files)
    }

    fn settings(&self) -> BuildSettings {
        let url = format!("file://{}", self.scratch.path().join("repo").display());
        let dockerfile = format!("{}/Dockerfile", self.dir);
        spawned_build(
            &self.scratch,
            &self.tools,
            &[
                ("SOURCE_REPO_URL", url.as_str()),
                ("SOURCE_COMMIT", self.commit.as_str()),
                ("SOURCE_BRANCH", "main"),
                ("COMMIT_MSG", "web: hooks"),
                ("DOCKER_REPO", "docker.io/acme/web"),
                ("DOCKER_TAG", "latest"),
                ("IMAGE_NAME", "docker.io/acme/web:latest"),
                ("DOCKERFILE_PATH", dockerfile.as_str()),
                ("BUILD_CONTEXT", self.dir.as_str()),
                ("DOCKHAND_TAGS", "latest,1a2b3c4"),
                ("DOCKHAND_REGISTRY", "docker.io"),
                ("DOCKHAND_REGISTRY_USER", "acmebot"),
                ("DOCKHAND_TOKEN_PARAMETER", "/dockhand/dockerhub/acme"),
                ("DOCKHAND_KEY_TAG", KEY_TAG),
                ("DOCKHAND_IMAGE_KEY", "0123456789abcdef"),
                ("DOCKHAND_BUILDKIT_IMAGE", "moby/buildkit:buildx-stable-1"),
                ("DOCKHAND_AUTOTEST", "1"),
            ],
        )
    }

    fn run(&self) -> Outcome {
        self.run_with(self.settings())
    }

    fn run_with(&self, settings: BuildSettings) -> Outcome {
        run(&buildspec(), &settings)
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.tools.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// What hook `name` saw of `what`, byte for byte.
    fn seen(&self, hook: &str, what: &str) -> Vec<u8> {
        std::fs::read(self.tools.join("seen").join(hook).join(what)).unwrap_or_else(|e| panic!("{hook} {what}: {e}"))
    }

    /// The Dockerfile's directory in the build's checkout.
    fn checkout_dir(&self) -> PathBuf {
        self.scratch.path().join("build/src/dockhand-source").join(&self.dir)
    }

    fn file(&self, name: &str, text: &str) {
        std::fs::write(self.tools.join(name), text).unwrap();
    }
}

fn buildspec() -> String {
    dockhand_core::buildspec::render(&dockhand_core::Registry::DockerHub {
        namespace: "acme".into(),
        username: Some("acmebot".into()),
        token_parameter: None,
    })
}

fn set(mut settings: BuildSettings, name: &str, value: &str) -> BuildSettings {
    settings.overrides.retain(|v| v.name != name);
    settings.overrides.push(EnvironmentVariable::new(name, value));
    settings
}

/// The calls that say what ran (hooks, builds, tests, pushes), in order, each cut to its
/// first three words (Compose's: its subcommand); logins, the builder's setup and the
/// directories Compose ran in are left out.
fn steps(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| {
            !c.starts_with('/') && !c.starts_with("docker [login]") && !c.starts_with("docker [buildx] [create]")
        })
        .map(|c| {
            let Some(rest) = c.strip_prefix("docker [") else {
                return c.clone();
            };
            let words: Vec<&str> = rest.trim_end_matches(']').split("] [").collect();
            match words[0] {
                "compose" => format!("docker compose {}", subcommand(c)),
                _ => format!("docker {}", words[..words.len().min(3)].join(" ")),
            }
        })
        .collect()
}

fn subcommand(compose_call: &str) -> &'static str {
    ["up", "logs", "down"]
        .into_iter()
        .find(|s| compose_call.contains(&format!("] [{s}]")))
        .unwrap_or("?")
}

/// The compose calls' subcommands, in order.
fn compose_calls(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.starts_with("docker [compose]"))
        .map(|c| subcommand(c).to_owned())
        .collect()
}

/// The lines of the log that are report lines, in order.
fn report(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.starts_with("##dockhand ")).collect()
}

fn pushed(calls: &[String]) -> bool {
    calls
        .iter()
        .any(|c| c.starts_with("docker [push]") || c.starts_with("docker [buildx] [imagetools] [create]"))
}

#[test]
fn each_hook_runs_in_hubs_order_with_hubs_variables() {
    let f = Fixture::with_hooks("hub-order", &AROUND, &[("docker-compose.test.yml", PASSING_TEST)]);
    let o = f.run();
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    assert_eq!(
        steps(&calls),
        [
            "docker buildx version",
            "hook post_checkout",
            "hook pre_build",
            "docker buildx build --builder",
            "hook post_build",
            "hook pre_test",
            "docker compose up",
            "docker compose down",
            "hook post_test",
            "hook pre_push",
            "docker push docker.io/acme/web:dockhand-0123456789abcdef0123456789abcdef",
            "docker buildx imagetools create",
            "docker buildx imagetools create",
            "hook post_push",
        ],
        "{calls:#?}"
    );
    assert_eq!(compose_calls(&calls), ["up", "down"]);
    // The default build: the shared arguments, loaded into the engine under both names.
    let build = calls.iter().find(|c| c.starts_with("docker [buildx] [build]")).unwrap();
    assert!(
        build.starts_with(
            "docker [buildx] [build] [--builder] [dockhand] [--progress] [plain] [--provenance] [false] \
             [--sbom] [false] [--file] [./web/Dockerfile] [--label] [org.opencontainers.image.revision="
        ),
        "{build}"
    );
    assert!(
        build.ends_with(&format!(
            "[--label] [dev.dockhand.image-key=0123456789abcdef] [--load] [--tag] [docker.io/acme/web:latest] \
             [--tag] [docker.io/acme/web:{KEY_TAG}] [./web]"
        )),
        "{build}"
    );
    assert!(
        !build.contains("--annotation") && !build.contains("--output") && !build.contains("--metadata-file"),
        "{build}"
    );
    // The builder is not the engine's default: a build hook's `docker build` loads.
    let create = calls
        .iter()
        .find(|c| c.starts_with("docker [buildx] [create]"))
        .unwrap();
    assert!(!create.contains("--use"), "{create}");
    // The tags are copies of the key tag, as outside Hub mode.
    assert!(calls.contains(&format!(
        "docker [buildx] [imagetools] [create] [--prefer-index=false] [--tag] [docker.io/acme/web:latest] [docker.io/acme/web:{KEY_TAG}]"
    )));
    // Every hook and the test ran from the Dockerfile's directory, and saw Hub's variables,
    // DOCKERFILE_PATH relative to that directory.
    let dir = format!("{}\n", f.checkout_dir().display());
    for hook in AROUND {
        assert_eq!(String::from_utf8(f.seen(hook, "cwd")).unwrap(), dir, "{hook}");
        for (variable, value) in [
            ("DOCKERFILE_PATH", "Dockerfile"),
            ("SOURCE_BRANCH", "main"),
            ("SOURCE_COMMIT", f.commit.as_str()),
            ("COMMIT_MSG", "web: hooks"),
            ("DOCKER_REPO", "docker.io/acme/web"),
            ("DOCKER_TAG", "latest"),
            ("IMAGE_NAME", "docker.io/acme/web:latest"),
            ("DOCKHAND_KEY_TAG", KEY_TAG),
        ] {
            assert_eq!(f.seen(hook, variable), value.as_bytes(), "{hook} {variable}");
        }
    }
    let compose_dirs: Vec<&String> = calls.iter().filter(|c| c.starts_with('/')).collect();
    assert_eq!(compose_dirs, [&dir.trim_end().to_owned(); 2]);
    assert_eq!(
        std::fs::read_to_string(f.tools.join("compose-dockerfile-path")).unwrap(),
        "Dockerfile"
    );
    assert_eq!(
        report(&o.log),
        [
            "##dockhand hook post_checkout ok",
            "##dockhand hook pre_build ok",
            "##dockhand hook post_build ok",
            "##dockhand hook pre_test ok",
            "##dockhand test docker-compose.test.yml passed",
            "##dockhand hook post_test ok",
            "##dockhand hook pre_push ok",
            "##dockhand hook post_push ok",
        ]
    );
    // The digest `docker push` printed for the key tag is the build's result.
    assert_eq!(
        o.result.exported_variables,
        [("DOCKHAND_IMAGE_DIGEST".to_owned(), PUSH_DIGEST.to_owned())]
    );
}

/// Where each hook runs, seen from its failure: the phase that fails, what was pushed.
#[test]
fn a_failing_hook_fails_its_phase_and_nothing_after_it_runs() {
    for (hook, phase, pushes) in [
        ("post_checkout", PhaseType::PreBuild, false),
        ("pre_build", PhaseType::Build, false),
        ("post_build", PhaseType::Build, false),
        ("pre_test", PhaseType::Build, false),
        ("post_test", PhaseType::Build, false),
        ("pre_push", PhaseType::Build, false),
        ("post_push", PhaseType::PostBuild, true),
    ] {
        let failing = format!("{RECORDING_HOOK}exit 3\n");
        let mut files: Vec<(String, &str)> = AROUND
            .iter()
            .map(|h| {
                (
                    format!("hooks/{h}"),
                    if *h == hook { failing.as_str() } else { RECORDING_HOOK },
                )
            })
            .collect();
        files.push(("docker-compose.test.yml".into(), PASSING_TEST));
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let f = Fixture::new(&format!("hub-fail-{hook}"), "web", &files);
        let o = f.run();
        assert_eq!(o.result.status, BuildStatus::Failed, "{hook}: {}", o.log);
        assert_eq!(o.result.failed_phase().unwrap().phase_type, phase, "{hook}");
        let calls = f.calls();
        assert_eq!(pushed(&calls), pushes, "{hook}: {calls:#?}");
        let reported = report(&o.log);
        assert_eq!(
            reported.last(),
            Some(&format!("##dockhand hook {hook} failed 3").as_str()),
            "{hook}"
        );
        // Nothing after it: the hook that failed is the last one that ran.
        let ran: Vec<&String> = calls.iter().filter(|c| c.starts_with("hook ")).collect();
        assert_eq!(ran.last().unwrap().as_str(), format!("hook {hook}"), "{hook}");
        if phase == PhaseType::Build {
            assert!(o.log.contains("dockhand: not pushing docker.io/acme/web"), "{hook}");
        }
    }
}

#[test]
fn build_test_and_push_hooks_replace_the_default_steps() {
    let build_hook = format!("{RECORDING_HOOK}docker build --file \"$DOCKERFILE_PATH\" -t \"$IMAGE_NAME\" .\n");
    let push_hook = format!("{RECORDING_HOOK}docker push \"$IMAGE_NAME\"\n");
    let f = Fixture::new(
        "hub-overrides",
        "web",
        &[
            ("hooks/build", &build_hook),
            ("hooks/test", RECORDING_HOOK),
            ("hooks/push", &push_hook),
            ("docker-compose.test.yml", PASSING_TEST),
        ],
    );
    let o = f.run();
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    assert_eq!(
        steps(&calls),
        [
            "docker buildx version",
            "hook build",
            "docker build --file Dockerfile",
            "docker image inspect --format",
            "docker tag docker.io/acme/web:latest docker.io/acme/web:dockhand-0123456789abcdef0123456789abcdef",
            "hook test",
            "hook push",
            "docker push docker.io/acme/web:latest",
            "docker push docker.io/acme/web:dockhand-0123456789abcdef0123456789abcdef",
        ],
        "{calls:#?}"
    );
    // No default build, no Compose, no tags given by dockhand: the hook pushed.
    assert!(!calls.iter().any(|c| c.starts_with("docker [buildx] [build]")));
    assert!(compose_calls(&calls).is_empty(), "{calls:#?}");
    assert!(!calls.iter().any(|c| c.starts_with("docker [buildx] [imagetools]")));
    assert!(calls.contains(&"docker [build] [--file] [Dockerfile] [-t] [docker.io/acme/web:latest] [.]".to_owned()));
    assert!(calls.contains(&"docker [image] [inspect] [--format] [{{.Id}}] [docker.io/acme/web:latest]".to_owned()));
    assert!(calls.contains(&format!(
        "docker [tag] [docker.io/acme/web:latest] [docker.io/acme/web:{KEY_TAG}]"
    )));
    assert_eq!(
        report(&o.log),
        [
            "##dockhand hook build ok",
            "##dockhand test hooks/test passed",
            "##dockhand hook push ok",
        ]
    );
    assert!(o.log.contains("hooks/push pushed the image"), "{}", o.log);
    // The key tag dockhand pushed after the hook is still the build's result.
    assert_eq!(
        o.result.exported_variables,
        [("DOCKHAND_IMAGE_DIGEST".to_owned(), PUSH_DIGEST.to_owned())]
    );
}

#[test]
fn a_build_hook_that_builds_no_image_name_fails_naming_the_hook() {
    let f = Fixture::with_hooks("hub-no-image", &["build"], &[]);
    let o = f.run();
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    assert_eq!(o.result.failed_phase().unwrap().phase_type, PhaseType::Build);
    assert!(
        o.log
            .contains("dockhand: hooks/build succeeded but built no docker.io/acme/web:latest"),
        "{}",
        o.log
    );
    assert!(!pushed(&f.calls()));
}

#[test]
fn a_failing_sut_pushes_nothing_and_reports_its_log_tail() {
    let failing = "services:\n  sut:\n    image: ${IMAGE_NAME}\n# sut exits 7\n";
    let f = Fixture::with_hooks(
        "hub-sut",
        &["post_test", "pre_push"],
        &[
            ("a.test.yml", PASSING_TEST),
            ("docker-compose.test.yml", failing),
            ("z.test.yml", PASSING_TEST),
        ],
    );
    let o = f.run();
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    assert_eq!(o.result.failed_phase().unwrap().phase_type, PhaseType::Build);
    let calls = f.calls();
    assert!(!pushed(&calls), "{calls:#?}");
    // In name order; the failing file's project taken down; the next file never run.
    assert_eq!(compose_calls(&calls), ["up", "down", "up", "logs", "down"]);
    assert!(!calls.iter().any(|c| c.starts_with("hook ")), "{calls:#?}");
    let ups: Vec<&String> = calls.iter().filter(|c| c.contains("] [up]")).collect();
    assert!(ups[0].contains("[--file] [./a.test.yml]") && ups[1].contains("[--file] [./docker-compose.test.yml]"));
    // One project per file, each taken down by its own name.
    let project = |c: &str| {
        c.split("[--project-name] [")
            .nth(1)
            .unwrap()
            .split(']')
            .next()
            .unwrap()
            .to_owned()
    };
    let downs: Vec<String> = calls
        .iter()
        .filter(|c| c.contains("] [down]"))
        .map(|c| project(c))
        .collect();
    assert_eq!(downs, [project(ups[0]), project(ups[1])]);
    assert_ne!(downs[0], downs[1]);
    let long = format!("##dockhand sut sut-1  | {}", "x".repeat(300 - "sut-1  | ".len()));
    let mut expected = vec![
        "##dockhand test a.test.yml passed".to_owned(),
        "##dockhand test docker-compose.test.yml failed 7".to_owned(),
    ];
    expected.extend((6..=24).map(|i| format!("##dockhand sut sut-1  | line {i}")));
    expected.push(long);
    assert_eq!(report(&o.log), expected);
    assert!(o.log.contains("dockhand: not pushing docker.io/acme/web"), "{}", o.log);
}

#[test]
fn tests_off_skip_the_tests_and_say_so() {
    // Test files alone, tests off: not Hub mode, the BuildKit path as before.
    let f = Fixture::new("hub-off", "web", &[("docker-compose.test.yml", PASSING_TEST)]);
    let o = f.run_with(set(f.settings(), "DOCKHAND_AUTOTEST", "0"));
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    assert!(compose_calls(&calls).is_empty(), "{calls:#?}");
    let build = calls.iter().find(|c| c.starts_with("docker [buildx] [build]")).unwrap();
    assert!(
        build.contains("[--output] [type=image,name=docker.io/acme/web:"),
        "{build}"
    );
    assert_eq!(
        report(&o.log),
        ["##dockhand tests skipped the deployment's autotest setting does not test this ref"]
    );
    // With hooks, Hub mode runs them and skips the test steps and their hooks.
    let f = Fixture::with_hooks(
        "hub-off-hooks",
        &["pre_test", "test", "post_test", "pre_push"],
        &[("docker-compose.test.yml", PASSING_TEST)],
    );
    let o = f.run_with(set(f.settings(), "DOCKHAND_AUTOTEST", "0"));
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    let hooks: Vec<&String> = calls.iter().filter(|c| c.starts_with("hook ")).collect();
    assert_eq!(hooks, ["hook pre_push"]);
    assert!(compose_calls(&calls).is_empty(), "{calls:#?}");
    assert!(calls.iter().any(|c| c.starts_with("docker [push]")));
    assert_eq!(
        report(&o.log),
        [
            "##dockhand tests skipped the deployment's autotest setting does not test this ref",
            "##dockhand hook pre_push ok"
        ]
    );
}

#[test]
fn without_hooks_or_tests_nothing_changes() {
    let f = Fixture::new(
        "hub-none",
        "web",
        &[("hooks/README", "not a hook\n"), ("test.yaml", "")],
    );
    let o = f.run();
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    let create = calls
        .iter()
        .find(|c| c.starts_with("docker [buildx] [create]"))
        .unwrap();
    assert!(create.ends_with("[--use]"), "{create}");
    assert!(!calls.iter().any(|c| c.starts_with("docker [push]")), "{calls:#?}");
    assert!(report(&o.log).is_empty(), "{}", o.log);
}

#[test]
fn several_platforms_are_refused_in_hub_mode_before_any_hook() {
    let f = Fixture::with_hooks("hub-platforms", &["post_checkout"], &[]);
    let o = f.run_with(set(f.settings(), "DOCKHAND_PLATFORMS", "linux/amd64,linux/arm64"));
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    assert_eq!(o.result.failed_phase().unwrap().phase_type, PhaseType::PreBuild);
    assert!(
        o.log.contains("refusing to build for linux/amd64,linux/arm64"),
        "{}",
        o.log
    );
    assert!(f.calls().iter().all(|c| !c.starts_with("hook ")));
    // One platform is Hub mode's `--platform`.
    let f = Fixture::with_hooks("hub-platform", &["post_checkout"], &[]);
    let o = f.run_with(set(f.settings(), "DOCKHAND_PLATFORMS", "linux/arm64"));
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    let build = calls.iter().find(|c| c.starts_with("docker [buildx] [build]")).unwrap();
    assert!(
        build.contains("[--platform] [linux/arm64]") && build.contains("[--load]"),
        "{build}"
    );
}

/// A hook or a test file that is a symbolic link, or hooks/ itself, could name a file of
/// the build host: refused before anything runs, the regular hooks included.
#[test]
fn a_linked_or_irregular_hook_or_test_file_is_refused() {
    for (case, make) in [
        (
            "hook-link",
            &(|d: &Path| std::os::unix::fs::symlink("/etc/passwd", d.join("hooks/pre_build")))
                as &dyn Fn(&Path) -> std::io::Result<()>,
        ),
        ("hook-relative-link", &|d: &Path| {
            std::os::unix::fs::symlink("post_checkout", d.join("hooks/push"))
        }),
        ("hooks-link", &|d: &Path| {
            std::fs::rename(d.join("hooks"), d.join("real-hooks"))?;
            std::os::unix::fs::symlink("real-hooks", d.join("hooks"))
        }),
        ("hook-directory", &|d: &Path| {
            std::fs::create_dir(d.join("hooks/build")).and_then(|()| std::fs::write(d.join("hooks/build/x"), ""))
        }),
        ("test-link", &|d: &Path| {
            std::os::unix::fs::symlink("/etc/hostname", d.join("host.test.yml"))
        }),
    ] {
        let f = Fixture::with_hooks(&format!("hub-{case}"), &["post_checkout"], &[]);
        let repo = f.scratch.path().join("repo");
        make(&repo.join("web")).unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "--quiet", "-m", case]);
        let commit = git(&repo, &["rev-parse", "HEAD"]);
        let o = f.run_with(set(f.settings(), "SOURCE_COMMIT", &commit));
        assert_eq!(o.result.status, BuildStatus::Failed, "{case}: {}", o.log);
        assert!(
            o.log.contains("dockhand: refusing to run hooks/")
                || o.log.contains("dockhand: refusing to run the autotest"),
            "{case}: {}",
            o.log
        );
        let calls = f.calls();
        assert!(!calls.iter().any(|c| c.starts_with("hook ")), "{case}: {calls:#?}");
        assert!(!pushed(&calls), "{case}");
    }
}

#[test]
fn the_key_tag_needs_a_digest_from_docker_push() {
    let f = Fixture::with_hooks("hub-no-digest", &["pre_push"], &[]);
    f.file("no-push-digest", "");
    let o = f.run();
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    assert_eq!(o.result.failed_phase().unwrap().phase_type, PhaseType::Build);
    assert!(o.log.contains("docker push printed no digest for it"), "{}", o.log);
    assert!(!f.calls().iter().any(|c| c.starts_with("docker [buildx] [imagetools]")));
}

#[test]
fn compose_falls_back_to_docker_compose_and_its_absence_fails_the_tests() {
    let f = Fixture::new("hub-compose-v1", "web", &[("docker-compose.test.yml", PASSING_TEST)]);
    f.file("no-compose-plugin", "");
    // docker-compose, as a separate program: the same arguments.
    install_tools(
        &f.tools,
        &[(
            "docker-compose",
            "#!/bin/bash\nif [ \"$1\" = version ]; then [ -e \"$FAKE_TOOLS/have-docker-compose\" ]; exit; fi\nprintf -v a ' [%s]' \"$@\"\nprintf 'docker-compose%s\\n' \"$a\" >> \"$FAKE_TOOLS/calls\"\n",
        )],
    );
    let o = f.run();
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    assert!(o.log.contains("this build image has no Docker Compose"), "{}", o.log);
    assert!(!pushed(&f.calls()));
    f.file("have-docker-compose", "");
    std::fs::remove_file(f.tools.join("calls")).unwrap();
    std::fs::remove_dir_all(f.scratch.path().join("build")).unwrap();
    let o = f.run();
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let calls = f.calls();
    let up = calls.iter().find(|c| c.starts_with("docker-compose ")).unwrap();
    assert!(
        up.contains("[--file] [./docker-compose.test.yml] [up] [--build] [--abort-on-container-exit] [--exit-code-from] [sut] [sut]"),
        "{up}"
    );
}

/// Every payload, if it ever reached a shell as code, would create `PWNED` where it ran.
const PAYLOADS: [&str; 6] = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "'; touch PWNED; '",
    "\"; touch PWNED; \"",
    "\n touch PWNED\n",
    "-- $(touch${IFS}PWNED)",
];

fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '\'', '"', '`', '$', '(', ')', '{', '}', ';', '|', '&', '\\', '\n', '\t', '*', '?', '!', '#', '~', '<',
            '>', ' ', '[', ']', '-',
        ]),
        prop::char::range('a', 'z'),
    ]
}

fn hostile(max: usize) -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(hostile_char(), 0..max),
        prop::sample::select(PAYLOADS.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(chars, payload, with)| {
            let noise: String = chars.into_iter().collect();
            if with { format!("{noise}{payload}") } else { noise }
        })
}

/// A directory name: a leading `-` or `--` often, never `.` or `..`; `/` is made `_`. It
/// ends in a letter: the check that a context is no symbolic link (older than Hub mode)
/// refuses a name that ends in a newline, which command substitution cannot give back.
fn hostile_dir() -> impl Strategy<Value = String> {
    (prop::sample::select(vec!["", "-", "--", "-- "]), hostile(12))
        .prop_map(|(lead, rest)| format!("{lead}{}x", rest.replace('/', "_")))
}

fn check_hostile(dir: &str, message: &str, branch: &str) -> Result<(), TestCaseError> {
    let f = Fixture::new(
        "hub-hostile",
        dir,
        &[
            ("hooks/post_checkout", RECORDING_HOOK),
            ("hooks/pre_push", RECORDING_HOOK),
            ("docker-compose.test.yml", PASSING_TEST),
        ],
    );
    let settings = set(set(f.settings(), "COMMIT_MSG", message), "SOURCE_BRANCH", branch);
    let o = f.run_with(settings);
    prop_assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let mut cwd = f.checkout_dir().into_os_string().into_encoded_bytes();
    cwd.push(b'\n');
    for hook in ["post_checkout", "pre_push"] {
        prop_assert_eq!(f.seen(hook, "cwd"), cwd.clone());
        prop_assert_eq!(f.seen(hook, "COMMIT_MSG"), message.as_bytes());
        prop_assert_eq!(f.seen(hook, "SOURCE_BRANCH"), branch.as_bytes());
        prop_assert_eq!(f.seen(hook, "DOCKERFILE_PATH"), b"Dockerfile".to_vec());
    }
    let calls = f.calls();
    prop_assert!(calls.iter().any(|c| c.contains("] [up]")), "{:#?}", calls);
    for place in [
        f.checkout_dir(),
        f.scratch.path().join("build/src/dockhand-source"),
        f.scratch.path().join("build/src"),
        f.tools.clone(),
        f.scratch.path().to_path_buf(),
    ] {
        prop_assert!(!place.join("PWNED").exists(), "ran in {}", place.display());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// A directory's name and the push's values reach the hooks byte for byte, as their
    /// working directory and their variables, and nothing in them runs.
    #[test]
    fn hostile_directories_and_values_stay_data(dir in hostile_dir(), message in hostile(24), branch in hostile(16)) {
        check_hostile(&dir, &message, &branch)?;
    }
}

#[test]
fn every_payload_as_a_directory_and_as_values() {
    for payload in PAYLOADS {
        let dir = format!("{}x", payload.replace('/', "_"));
        check_hostile(&dir, payload, payload).unwrap();
    }
}

#[test]
fn every_hook_name_is_hubs() {
    // The hooks Docker Hub documents, and no other file of hooks/ runs.
    assert_eq!(HOOKS.len(), 10);
    let mut files: Vec<String> = HOOKS.iter().map(|h| format!("hooks/{h}")).collect();
    files.push("hooks/pre-build".into());
    let files: Vec<(&str, &str)> = files.iter().map(|n| (n.as_str(), RECORDING_HOOK)).collect();
    let f = Fixture::new("hub-all", "web", &files);
    let o = f.run();
    // hooks/build records but builds nothing: the build names it.
    assert_eq!(o.result.status, BuildStatus::Failed, "{}", o.log);
    let ran: Vec<String> = f.calls().into_iter().filter(|c| c.starts_with("hook ")).collect();
    assert_eq!(ran, ["hook post_checkout", "hook pre_build", "hook build"]);
}
