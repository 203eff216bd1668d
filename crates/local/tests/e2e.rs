//! The end-to-end test: the real functions under the Lambda emulator, moto for SNS and
//! SSM, a real git server, the rendered buildspec run by the local runner with podman or
//! docker, and a real registry with htpasswd authentication.
//!
//! Needs what `make test` installs: moto, cargo-lambda and the AWS CLI in .venv, and
//! Debian's podman, docker-registry and apache2-utils.

use dockhand_local::gitrepo::{FAILING_SUT_LINE, GRAPH_SAMPLE_DIRS, HUB_SAMPLE_DIRS, SAMPLE, hub_hook_tag};
use dockhand_local::hub::{Limits, Say};
use dockhand_local::{Options, Stack, process};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The dockhand command, built where cargo builds (the functions' build makes it).
fn dockhand() -> PathBuf {
    dockhand_local::lambda::target_dir(&workspace()).join("debug/dockhand")
}

struct Run {
    stack: Stack,
    said: Arc<Mutex<String>>,
}

fn start(name: &str, password: &str, token: &str, limits: Limits) -> Run {
    start_with(name, password, token, limits, None)
}

fn start_with(name: &str, password: &str, token: &str, limits: Limits, queue_retention_seconds: Option<u64>) -> Run {
    let said = Arc::new(Mutex::new(String::new()));
    let sink = said.clone();
    let say: Say = Arc::new(move |line: &str| {
        eprintln!("{line}");
        let mut s = sink.lock().unwrap();
        s.push_str(line);
        s.push('\n');
    });
    let dir = std::env::temp_dir().join(format!("dockhand-e2e-{name}-{}", std::process::id()));
    let stack = Stack::start(Options {
        workspace: workspace(),
        dir,
        registry_password: password.into(),
        registry_token: token.into(),
        limits,
        repository: None,
        queue_retention_seconds,
        say,
    })
    .unwrap_or_else(|e| panic!("local mode did not start: {e}"));
    Run { stack, said }
}

/// The tags people use: every build also pushes its image under its key tag
/// (`dockhand-…`), which [`key_tag_is_the_images`] checks.
fn tags(stack: &Stack, repository: &str) -> Vec<String> {
    let mut tags = stack.registry.tags(repository).unwrap();
    tags.retain(|t| !t.starts_with("dockhand-"));
    tags
}

/// Delivers the push `before..after` as `delivery`, which the listener must accept, waits
/// until everything it started is done, and answers every build the hub has run.
fn deliver_and_wait(stack: &Stack, before: &str, after: &str, delivery: &str) -> Vec<dockhand_local::hub::BuildRecord> {
    let answer = stack.deliver(before, after, delivery, None).unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    stack.wait_idle().unwrap();
    stack.hub.builds()
}

/// The image repositories, without local mode's layer caches (`<repository>/buildcache`).
fn image_repositories(stack: &Stack) -> Vec<String> {
    let mut repositories = stack.registry.repositories().unwrap();
    repositories.retain(|r| !r.ends_with("/buildcache"));
    repositories.sort();
    repositories
}

/// The build of `build` pushed its image under its key tag, and `tag` names that very
/// manifest; the image carries the OCI labels.
fn key_tag_is_the_images(stack: &Stack, build: &dockhand_local::hub::BuildRecord, tag: &str) {
    let repo = build.env("DOCKER_REPO").unwrap();
    let repo = repo.trim_start_matches(&format!("{}/", stack.registry.host));
    let key_tag = build.env("DOCKHAND_KEY_TAG").unwrap();
    let digest = stack.registry.digest(repo, &key_tag).unwrap();
    assert_eq!(stack.registry.digest(repo, tag).unwrap(), digest, "{repo}:{tag}");
    let config = stack.registry.config(repo, tag).unwrap();
    let labels = &config["config"]["Labels"];
    let commit = build.env("SOURCE_COMMIT").unwrap();
    assert_eq!(labels["org.opencontainers.image.revision"], commit.as_str(), "{config}");
    assert_eq!(
        labels["org.opencontainers.image.source"], "https://github.com/acme/images",
        "{config}"
    );
    assert_eq!(
        labels["org.opencontainers.image.title"],
        repo.rsplit('/').next().unwrap(),
        "{config}"
    );
    assert_eq!(
        labels["dev.dockhand.image-key"],
        build.env("DOCKHAND_IMAGE_KEY").unwrap().as_str(),
        "{config}"
    );
    assert!(
        labels["org.opencontainers.image.created"]
            .as_str()
            .is_some_and(|c| c.starts_with("20")),
        "{config}"
    );
}

/// The e2e tests take turns: each stack takes both cores while it builds, and each test's
/// last check is that nothing any stack started is still running. A test that failed
/// leaves the lock poisoned; the next one runs all the same.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One test, run in sequence: each stack takes both cores while it builds, and the last
/// check is that nothing any stack started is still running.
#[test]
fn end_to_end() {
    let _turn = serial();
    the_whole_pipeline();
    unchanged_images_are_retagged_not_rebuilt();
    twelve_images_two_at_a_time_each_started_once();
    a_wrong_registry_password_fails_the_build_and_is_never_logged();
    a_repository_of_yours_through_dockhand_local_run();
    failures_are_dead_lettered_listed_and_replayed();
    several_platforms_make_one_manifest_list();
    assert!(process::running_groups().is_empty(), "{:?}", process::running_groups());
}

fn the_whole_pipeline() {
    let run = start("main", "correct-horse", "correct-horse", Limits::default());
    let stack = &run.stack;

    // A first push of three images, one nested: each is built and pushed with exactly its tags.
    let c0 = stack.repo.head();
    let c1 = stack.repo.commit("three images", &SAMPLE).unwrap();
    let sha1 = &c1[..7];
    let builds = deliver_and_wait(stack, &c0, &c1, "delivery-1");
    assert_eq!(builds.len(), 3, "{builds:#?}");
    for b in &builds {
        assert_eq!(b.status, "SUCCEEDED", "{}:\n{}", b.id, b.log);
    }
    let mut contexts: Vec<String> = builds.iter().map(|b| b.env("BUILD_CONTEXT").unwrap()).collect();
    contexts.sort();
    assert_eq!(contexts, ["hello", "tools/lint", "web"]);
    let repositories = image_repositories(stack);
    assert_eq!(repositories, ["acme/hello", "acme/tools-lint", "acme/web"]);
    for repo in &repositories {
        assert_eq!(tags(stack, repo), [sha1.to_owned(), "latest".to_owned()], "{repo}");
        let digest = stack.registry.digest(repo, "latest").unwrap();
        assert!(digest.starts_with("sha256:"), "{digest}");
        assert_eq!(stack.registry.digest(repo, sha1).unwrap(), digest);
    }
    for b in &builds {
        key_tag_is_the_images(stack, b, "latest");
    }
    // The image really holds the commit's file, built from the pushed commit.
    let notes = stack.hub.notifications();
    assert_eq!(notes.len(), 3, "{notes:#?}");
    assert!(notes.iter().all(|n| n.subject.contains("SUCCEEDED")), "{notes:#?}");

    // A redelivery of the same delivery starts nothing new: each build's record says it
    // was started, and StartBuild is not called again.
    let answer = stack.deliver(&c0, &c1, "delivery-1", None).unwrap();
    assert_eq!(answer.status, 202);
    stack.wait_idle().unwrap();
    assert_eq!(stack.hub.builds().len(), 3);
    assert_eq!(stack.functions_log().matches("already started").count(), 3);

    // A bad signature is refused before anything happens.
    let answer = stack
        .deliver(&c0, &c1, "delivery-forged", Some("not-the-secret"))
        .unwrap();
    assert_eq!(answer.status, 401, "{}", answer.body);
    stack.wait_idle().unwrap();
    assert_eq!(stack.hub.builds().len(), 3);
    assert_eq!(stack.hub.notifications().len(), 3);

    // A second push touching one directory rebuilds that image only.
    let c2 = stack
        .repo
        .commit("web: new page", &[("web/index.html", Some("<h1>two</h1>\n"))])
        .unwrap();
    let sha2 = &c2[..7];
    let builds = deliver_and_wait(stack, &c1, &c2, "delivery-2");
    assert_eq!(builds.len(), 4);
    let web = &builds[3];
    assert_eq!(web.env("BUILD_CONTEXT").as_deref(), Some("web"));
    assert_eq!(web.status, "SUCCEEDED", "{}", web.log);
    let mut expected = vec![sha1.to_owned(), sha2.to_owned(), "latest".to_owned()];
    expected.sort();
    assert_eq!(tags(stack, "acme/web"), expected);
    assert_eq!(tags(stack, "acme/hello"), [sha1.to_owned(), "latest".to_owned()]);
    assert_eq!(tags(stack, "acme/tools-lint"), [sha1.to_owned(), "latest".to_owned()]);

    // A Dockerfile that fails: a FAILED notification naming the phase, and nothing pushed.
    let c3 = stack
        .repo
        .commit(
            "hello: broken",
            &[(
                "hello/Dockerfile",
                Some("FROM scratch\nCOPY missing.txt /missing.txt\n"),
            )],
        )
        .unwrap();
    let builds = deliver_and_wait(stack, &c2, &c3, "delivery-3");
    assert_eq!(builds.len(), 5);
    let hello = &builds[4];
    assert_eq!(hello.status, "FAILED");
    assert_eq!(hello.failed_phase.as_deref(), Some("BUILD"), "{}", hello.log);
    let failed = stack.hub.notifications().pop().unwrap();
    assert!(failed.subject.contains("FAILED"), "{failed:?}");
    assert!(failed.message.contains("BUILD"), "{}", failed.message);
    assert_eq!(tags(stack, "acme/hello"), [sha1.to_owned(), "latest".to_owned()]);
    assert!(hello.log.contains("not pushing"), "{}", hello.log);
    status_and_logs_read_local_mode_as_aws(stack);

    // An empty commit changes nothing: GitHub's comparison is empty, and nothing is built.
    let c4 = stack.repo.commit("an empty commit", &[]).unwrap();
    assert_eq!(stack.deliver(&c3, &c4, "delivery-4", None).unwrap().status, 202);
    stack.wait_idle().unwrap();
    assert_eq!(stack.hub.builds().len(), 5);
    assert!(stack.functions_log().contains("this push changes no files"));

    // A late build of an older commit pushes its own SHA tag, and leaves `latest` where the
    // newer commit put it.
    let c5 = stack
        .repo
        .commit("web: five", &[("web/index.html", Some("<h1>five</h1>\n"))])
        .unwrap();
    let c6 = stack
        .repo
        .commit("web: six", &[("web/index.html", Some("<h1>six</h1>\n"))])
        .unwrap();
    assert_eq!(stack.deliver(&c5, &c6, "delivery-6", None).unwrap().status, 202);
    stack.wait_idle().unwrap();
    let builds = deliver_and_wait(stack, &c4, &c5, "delivery-5");
    assert_eq!(builds.len(), 7);
    let late = &builds[6];
    assert_eq!(late.env("SOURCE_COMMIT").as_deref(), Some(c5.as_str()));
    assert_eq!(late.status, "SUCCEEDED", "{}", late.log);
    assert!(late.log.contains("dockhand: not moving"), "{}", late.log);
    let latest = stack.registry.digest("acme/web", "latest").unwrap();
    assert_eq!(latest, stack.registry.digest("acme/web", &c6[..7]).unwrap());
    assert_ne!(latest, stack.registry.digest("acme/web", &c5[..7]).unwrap());

    // The cleanup sees every build and keeps them all (none is a week old).
    let cleanup = stack.cleanup().unwrap();
    assert!(stack.functions_log().contains("examined 7, deleted 0"), "{cleanup}");
    assert!(stack.hub.dead_letters().is_empty());
    assert_eq!(stack.dead_letters().unwrap(), []);

    let dir = stack.dir().to_owned();
    drop(run);
    assert!(!dir.exists(), "local mode's files were left in {}", dir.display());
}

/// Tags `commit` as `tag`, pushes the tag to the served repository and delivers its push
/// (a new ref).
fn push_tag(stack: &Stack, tag: &str, commit: &str, delivery: &str) {
    for args in [vec!["tag", tag, commit], vec!["push", "--quiet", "origin", tag]] {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&stack.repo.work)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let event = stack
        .repo
        .push_event_for(&format!("refs/tags/{tag}"), &"0".repeat(40), commit)
        .unwrap();
    assert_eq!(stack.deliver_event(event, delivery, None).unwrap().status, 202);
    stack.wait_idle().unwrap();
}

/// Issue 17's acceptance: a version tag on a commit whose images were all built on the
/// default branch starts no image build, only one re-tag build, and every image's version
/// tag is the very manifest of its default-branch tags; a change to one context rebuilds
/// that image alone, and a tag then re-tags all of them again.
fn unchanged_images_are_retagged_not_rebuilt() {
    let run = start("retag", "correct-horse", "correct-horse", Limits::default());
    let stack = &run.stack;
    let c0 = stack.repo.head();
    let c1 = stack.repo.commit("three images", &SAMPLE).unwrap();
    let builds = deliver_and_wait(stack, &c0, &c1, "retag-1");
    assert_eq!(builds.len(), 3, "{builds:#?}");
    assert!(builds.iter().all(|b| b.status == "SUCCEEDED"), "{builds:#?}");
    assert!(stack.functions_log().contains("image recorded"));
    let repositories = image_repositories(stack);

    // The version tag: one build, the re-tag job, and no image build.
    push_tag(stack, "v1.0", &c1, "retag-2");
    let builds = stack.hub.builds();
    assert_eq!(builds.len(), 4, "{builds:#?}");
    let retag = &builds[3];
    assert!(retag.env("DOCKHAND_RETAG").is_some(), "not a re-tag job: {retag:#?}");
    assert_eq!(retag.status, "SUCCEEDED", "{}", retag.log);
    assert_eq!(retag.env("DOCKHAND_RETAG").unwrap().lines().count(), 3);
    for repo in &repositories {
        let latest = stack.registry.digest(repo, "latest").unwrap();
        assert_eq!(stack.registry.digest(repo, "v1.0").unwrap(), latest, "{repo}");
    }
    let note = stack.hub.notifications().pop().unwrap();
    assert!(note.subject.contains("re-tag SUCCEEDED: 3 images"), "{note:?}");

    // A change to web: web alone is built.
    let c2 = stack
        .repo
        .commit("web: new page", &[("web/index.html", Some("<h1>two</h1>\n"))])
        .unwrap();
    let builds = deliver_and_wait(stack, &c1, &c2, "retag-3");
    assert_eq!(builds.len(), 5, "{builds:#?}");
    assert_eq!(builds[4].env("BUILD_CONTEXT").as_deref(), Some("web"));
    assert!(builds[4].env("DOCKHAND_RETAG").is_none());
    assert_eq!(builds[4].status, "SUCCEEDED", "{}", builds[4].log);
    let web_v1 = stack.registry.digest("acme/web", "v1.0").unwrap();
    let web_latest = stack.registry.digest("acme/web", "latest").unwrap();
    assert_ne!(web_latest, web_v1);

    // A tag at c2: every image was built, web at c2 and the others at c1: one re-tag job.
    push_tag(stack, "v2.0", &c2, "retag-4");
    let builds = stack.hub.builds();
    assert_eq!(builds.len(), 6, "{builds:#?}");
    assert!(builds[5].env("DOCKHAND_RETAG").is_some());
    assert_eq!(builds[5].status, "SUCCEEDED", "{}", builds[5].log);
    for repo in &repositories {
        let latest = stack.registry.digest(repo, "latest").unwrap();
        assert_eq!(stack.registry.digest(repo, "v2.0").unwrap(), latest, "{repo}");
    }
    assert_eq!(stack.registry.digest("acme/web", "v1.0").unwrap(), web_v1);
    assert!(stack.hub.dead_letters().is_empty());
    drop(run);
}

/// A new branch of twelve images on a project that runs two builds at a time: CodeBuild
/// refuses the rest until there is room, they wait in the builds queue, and every image is
/// pushed once, with its tags, and nothing is dead-lettered. A redelivery under a new
/// delivery id and a redrive of the request start nothing.
fn twelve_images_two_at_a_time_each_started_once() {
    let run = start(
        "twelve",
        "correct-horse",
        "correct-horse",
        Limits {
            project: Some(2),
            account: 2,
        },
    );
    let stack = &run.stack;
    let names: Vec<String> = (1..=12).map(|i| format!("img{i:02}")).collect();
    let files: Vec<(String, String)> = names
        .iter()
        .flat_map(|n| {
            [
                (
                    format!("{n}/Dockerfile"),
                    "FROM scratch\nCOPY id.txt /id.txt\n".to_owned(),
                ),
                (format!("{n}/id.txt"), format!("{n}\n")),
            ]
        })
        .collect();
    let changes: Vec<(&str, Option<&str>)> = files.iter().map(|(p, c)| (p.as_str(), Some(c.as_str()))).collect();
    let c0 = stack.repo.head();
    let c1 = stack.repo.commit("twelve images", &changes).unwrap();
    assert_eq!(stack.deliver(&c0, &c1, "twelve-1", None).unwrap().status, 202);
    stack.wait_idle().unwrap();

    let builds = stack.hub.builds();
    let mut contexts: Vec<String> = builds.iter().map(|b| b.env("BUILD_CONTEXT").unwrap()).collect();
    contexts.sort();
    assert_eq!(contexts, names, "each image built exactly once");
    for b in &builds {
        assert_eq!(b.status, "SUCCEEDED", "{}:\n{}", b.id, b.log);
    }
    let state = stack.hub.state.lock().unwrap();
    assert!(state.peak_running <= 2, "{} builds ran at once", state.peak_running);
    assert!(
        state.refused_for_capacity > 0,
        "the project limit never refused a build: the test did not test waiting"
    );
    drop(state);
    // The waiting went through partial batch failures, and no batch failed whole.
    let tally = stack.pollers.tally();
    assert!(tally.item_failures > 0, "{tally:?}");
    assert!(tally.batch_errors.is_empty(), "{tally:?}");
    let mut expected: Vec<String> = names.iter().map(|n| format!("acme/{n}")).collect();
    expected.sort();
    let repositories = image_repositories(stack);
    assert_eq!(repositories, expected);
    for repo in &repositories {
        let mut want = vec![c1[..7].to_owned(), "latest".to_owned()];
        want.sort();
        assert_eq!(tags(stack, repo), want, "{repo}");
    }
    assert_eq!(stack.dead_letters().unwrap(), []);

    // The same signed body under a new delivery id: the same builds, already started.
    assert_eq!(stack.deliver(&c0, &c1, "twelve-2", None).unwrap().status, 202);
    stack.wait_idle().unwrap();
    // The request redriven from the dead-letter queue days later, as a person would.
    let event = stack.repo.push_event(&c0, &c1).unwrap();
    let push: dockhand_core::webhook::PushEvent = serde_json::from_value(event).unwrap();
    let deployment = dockhand_core::Deployment::from_json(&stack.config).unwrap();
    let dockhand_core::intake::Intake::Build(request) =
        dockhand_core::intake::intake(&push, "twelve-1", &deployment).unwrap()
    else {
        panic!("not built")
    };
    stack.redrive_request(&request.encode_for_sns().unwrap().1).unwrap();
    stack.wait_idle().unwrap();
    assert_eq!(stack.hub.builds().len(), 12, "nothing started twice");
    // Each of the 24 messages of the two repeats found its build started. At least 24:
    // SQS delivers "at least once"
    // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html),
    // and Lambda retries a batch whose invocation failed: on a busy machine a message of
    // the first push can come back, and finds its build started too.
    let repeats = stack.functions_log().matches("already started").count();
    assert!(repeats >= 24, "{repeats} messages found their build started");
    assert_eq!(stack.dead_letters().unwrap(), []);
}

/// `platforms:` in `.dockhand.yml` builds one image per platform and pushes one manifest
/// list, which every tag names. The sample's images have no RUN step, so no emulator is
/// needed: a platform other than this machine's only changes the image's metadata.
fn several_platforms_make_one_manifest_list() {
    let run = start("platforms", "correct-horse", "correct-horse", Limits::default());
    let stack = &run.stack;
    let c0 = stack.repo.head();
    let mut files = SAMPLE.to_vec();
    files.push((".dockhand.yml", Some("platforms: [linux/amd64, linux/arm64]\n")));
    let c1 = stack.repo.commit("three images, two platforms", &files).unwrap();
    let builds = deliver_and_wait(stack, &c0, &c1, "delivery-platforms");
    assert_eq!(builds.len(), 3, "{builds:#?}");
    for b in &builds {
        assert_eq!(b.status, "SUCCEEDED", "{}:\n{}", b.id, b.log);
        assert_eq!(b.env("DOCKHAND_PLATFORMS").as_deref(), Some("linux/amd64,linux/arm64"));
        let repo = b.env("DOCKER_REPO").unwrap();
        let repo = repo.trim_start_matches(&format!("{}/", stack.registry.host));
        let index = stack.registry.manifest(repo, "latest").unwrap();
        assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json", "{index}");
        let mut platforms: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m["platform"]["os"].as_str().unwrap(),
                    m["platform"]["architecture"].as_str().unwrap()
                )
            })
            .collect();
        platforms.sort();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{index}");
        let digest = stack.registry.digest(repo, "latest").unwrap();
        assert_eq!(stack.registry.digest(repo, &c1[..7]).unwrap(), digest);
        assert_eq!(
            stack
                .registry
                .digest(repo, &b.env("DOCKHAND_KEY_TAG").unwrap())
                .unwrap(),
            digest
        );
    }
}

fn a_wrong_registry_password_fails_the_build_and_is_never_logged() {
    let password = format!("right-{}", dockhand_local::random_hex(8).unwrap());
    let token = format!("wrong-{}", dockhand_local::random_hex(8).unwrap());
    let run = start("password", &password, &token, Limits::default());
    let stack = &run.stack;
    let c0 = stack.repo.head();
    let c1 = stack.repo.commit("three images", &SAMPLE).unwrap();
    let builds = deliver_and_wait(stack, &c0, &c1, "delivery-1");
    assert_eq!(builds.len(), 3);
    for b in &builds {
        assert_eq!(b.status, "FAILED");
        // The login comes first in the build phase, for BuildKit's cache and push: it
        // fails there, before anything is built.
        assert_eq!(b.failed_phase.as_deref(), Some("BUILD"), "{}", b.log);
        assert!(!b.log.contains("STEP 1/"), "{}", b.log);
        assert!(
            b.log.contains("invalid username/password") || b.log.contains("unauthorized"),
            "{}",
            b.log
        );
    }
    assert!(stack.registry.repositories().unwrap().is_empty());
    let notes = stack.hub.notifications();
    assert_eq!(notes.len(), 3);
    assert!(
        notes
            .iter()
            .all(|n| n.subject.contains("FAILED") && n.message.contains("BUILD") && !n.message.contains("POST_BUILD"))
    );
    let everything = format!(
        "{}{}{}",
        run.said.lock().unwrap(),
        stack.functions_log(),
        notes
            .iter()
            .map(|n| format!("{}{}", n.subject, n.message))
            .collect::<String>()
    );
    for secret in [&password, &token, &stack.webhook_secret] {
        assert!(!everything.contains(secret.as_str()), "a secret was logged");
    }
}

/// `dockhand local run` on a repository that is not the sample: every planned image
/// pushed, a broken one reported, the summary line, and the exit code that says whether
/// every planned build pushed; then only what changed since a commit.
fn a_repository_of_yours_through_dockhand_local_run() {
    let dir = std::env::temp_dir().join(format!("dockhand-e2e-yours-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["init", "--quiet", "-b", "main"]);
    for (path, text) in [
        ("alpha/Dockerfile", "FROM scratch\nCOPY f /f\n"),
        ("alpha/f", "alpha\n"),
        ("beta/Dockerfile", "FROM scratch\nCOPY f /f\n"),
        ("beta/f", "beta\n"),
        ("gamma/delta/Dockerfile", "FROM scratch\nCOPY f /f\n"),
        ("gamma/delta/f", "delta\n"),
        ("broken/Dockerfile", "FROM scratch\nCOPY missing /missing\n"),
    ] {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    git(&["add", "--all"]);
    git(&["commit", "--quiet", "-m", "four images"]);
    let first = git(&["rev-parse", "HEAD"]);
    std::fs::write(dir.join("alpha/f"), "alpha two\n").unwrap();
    git(&["commit", "--quiet", "-am", "alpha two"]);

    let run = |extra: &[&str]| {
        let out = std::process::Command::new(dockhand())
            .args(["local", "run", "--repo"])
            .arg(&dir)
            .args([
                "--project-concurrency",
                "2",
                "--account-concurrency",
                "2",
                "--workspace",
            ])
            .arg(workspace())
            .args(extra)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = run(&[]);
    assert!(!ok, "a broken image must fail the run:\n{text}");
    assert!(text.contains("3 pushed, 1 failed, 0 not built"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("broken") && l.contains("FAILED in BUILD")),
        "{text}"
    );
    for image in ["alpha", "beta", "gamma-delta"] {
        assert!(
            text.contains(&format!("/local/{image}:latest  sha256:")),
            "{image}:\n{text}"
        );
    }
    let (ok, text) = run(&["--before", &first]);
    assert!(ok, "{text}");
    assert!(text.contains("1 pushed, 0 failed, 0 not built"), "{text}");
    assert!(text.contains("/local/alpha:latest  sha256:"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `dockhand status` and `dockhand logs` against local mode, through the endpoints local
/// mode prints: every build newest first with its phase and times, and a build's log as
/// the runner wrote it (CloudWatch Logs keeps no empty line: a message has at least one
/// character), its exit status the build's.
fn status_and_logs_read_local_mode_as_aws(stack: &Stack) {
    let run = |args: &[&str]| against(stack, args);
    let builds = stack.hub.builds();
    let (code, out, err) = run(&["status", "--project", "dockhand-local", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r["build_id"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = builds.iter().rev().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, newest_first, "{out}");
    for (row, build) in rows.iter().zip(builds.iter().rev()) {
        assert_eq!(row["status"], build.status.as_str(), "{row}");
        assert_eq!(row["phase"], "COMPLETED", "{row}");
        assert_eq!(row["context"], build.env("BUILD_CONTEXT").unwrap().as_str(), "{row}");
        assert!(row["queued"].is_i64() && row["duration"].is_i64(), "{row}");
    }
    let (code, table, err) = run(&["status", "--project", "dockhand-local"]);
    assert_eq!(code, Some(0), "{err}");
    eprintln!("$ dockhand status --project dockhand-local\n{table}");
    assert_eq!(table.lines().count(), builds.len() + 1, "{table}");

    let hello = builds.last().unwrap();
    let (code, log, err) = run(&["logs", &hello.id, "--follow"]);
    assert_eq!(code, Some(1), "{err}");
    let written: Vec<&str> = hello.log.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(log.lines().collect::<Vec<_>>(), written);
    assert!(log.contains("Entering phase BUILD"), "{log}");
}

/// The dockhand command run with `args` against local mode, as against AWS (only the
/// SDK's endpoints differ): its exit status, standard output and standard error.
fn against(stack: &Stack, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(dockhand())
        .args(args)
        .envs(stack.aws_environment())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), err)
}

/// `dockhand dead-letters` against local mode, as an operator runs it against AWS.
fn dead_letters(stack: &Stack, replay: bool) -> (bool, String) {
    let mut command = std::process::Command::new(dockhand());
    command.args([
        "dead-letters",
        "--stack",
        "dockhand-local",
        "--notifier-function",
        "notifier",
        "--cleanup-function",
        "cleanup",
    ]);
    if replay {
        command.arg("--replay");
    }
    command.envs(stack.aws_environment());
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "$ dockhand dead-letters{}\n{text}",
        if replay { " --replay" } else { "" }
    );
    (out.status.success(), text)
}

fn wait_for_dead_letters(stack: &Stack, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let held = stack.dead_letter_count().unwrap();
        if held >= count {
            assert_eq!(held, count, "{:#?}", stack.dead_letters());
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{count} dead letters expected, found {:#?}",
            stack.dead_letters()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Three failures, each where it happens on AWS: GitHub down until the push is given up
/// on (the spawner's own dead letter), CodeBuild without room until the build is given up
/// on, and the results topic gone while a build ends (Lambda's invocation record of the
/// notifier). `dockhand dead-letters` lists each with its cause; `--replay` sends each
/// back where it came from, and the pipeline completes: every image built once, every
/// notification delivered, the queue empty.
fn failures_are_dead_lettered_listed_and_replayed() {
    // The spawner gives up 15 s after a message was first sent (its margin is ten minutes).
    let run = start_with("dead", "pw", "pw", Limits::default(), Some(615));
    let stack = &run.stack;
    let c0 = stack.repo.head();
    let c1 = stack.repo.commit("three images", &SAMPLE).unwrap();

    stack.github.set_down(true);
    assert_eq!(stack.deliver(&c0, &c1, "delivery-down", None).unwrap().status, 202);
    wait_for_dead_letters(stack, 1);
    stack.wait_idle().unwrap();
    stack.github.set_down(false);
    assert!(stack.hub.builds().is_empty());

    let c2 = stack
        .repo
        .commit("web: two", &[("web/index.html", Some("<h1>two</h1>\n"))])
        .unwrap();
    let limits = stack.hub.state.lock().unwrap().limits;
    stack.hub.state.lock().unwrap().limits.project = Some(0);
    assert_eq!(stack.deliver(&c1, &c2, "delivery-full", None).unwrap().status, 202);
    wait_for_dead_letters(stack, 2);
    stack.wait_idle().unwrap();
    stack.hub.state.lock().unwrap().limits = limits;
    assert!(stack.hub.builds().is_empty());

    stack.delete_results_topic().unwrap();
    let c3 = stack
        .repo
        .commit("hello: three", &[("hello/greeting.txt", Some("three\n"))])
        .unwrap();
    assert_eq!(stack.deliver(&c2, &c3, "delivery-topic", None).unwrap().status, 202);
    stack.wait_idle().unwrap();
    wait_for_dead_letters(stack, 3);
    assert_eq!(stack.hub.builds().len(), 1);
    assert_eq!(stack.hub.builds()[0].status, "SUCCEEDED");
    let notified = stack.hub.notifications().len();
    stack.restore_results_topic().unwrap();

    // The listing: one line each, with its cause; nothing is removed.
    let (ok, text) = dead_letters(stack, false);
    assert!(ok, "{text}");
    let line = |origin: &str| {
        text.lines()
            .find(|l| l.contains(&format!("  {origin}  ")))
            .unwrap_or_else(|| panic!("no {origin} record:\n{text}"))
            .to_owned()
    };
    let plan = line("spawner (plan)");
    assert!(
        plan.contains(&format!("{} refs/heads/main {} -", stack.repo.full_name(), &c1[..7])),
        "{plan}"
    );
    assert!(plan.contains("502"), "{plan}");
    let start = line("spawner (start)");
    assert!(
        start.contains(&format!("{} ", &c2[..7])) && start.contains("/acme/web"),
        "{start}"
    );
    assert!(start.contains("AccountLimitExceededException"), "{start}");
    let notifier = line("notifier");
    assert!(
        notifier.contains(&format!("{} ", &c3[..7])) && notifier.contains("/acme/hello"),
        "{notifier}"
    );
    assert!(notifier.contains("RetriesExhausted after 3 attempt(s)"), "{notifier}");
    assert!(
        notifier.contains("NotFound") || notifier.contains("does not exist"),
        "{notifier}"
    );
    assert!(text.contains("3 record(s)"), "{text}");
    assert_eq!(stack.dead_letter_count().unwrap(), 3);

    // The replay: each back where it came from, then deleted; the pipeline completes.
    let (ok, text) = dead_letters(stack, true);
    assert!(ok, "{text}");
    assert!(text.contains("3 record(s): 3 replayed, 0 left"), "{text}");
    stack.wait_idle().unwrap();
    assert_eq!(stack.dead_letter_count().unwrap(), 0);
    let builds = stack.hub.builds();
    let mut built: Vec<(String, String)> = builds
        .iter()
        .map(|b| {
            (
                b.env("BUILD_CONTEXT").unwrap(),
                b.env("SOURCE_COMMIT").unwrap()[..7].to_owned(),
            )
        })
        .collect();
    built.sort();
    let mut expected = vec![
        ("hello".to_owned(), c1[..7].to_owned()),
        ("hello".to_owned(), c3[..7].to_owned()),
        ("tools/lint".to_owned(), c1[..7].to_owned()),
        ("web".to_owned(), c1[..7].to_owned()),
        ("web".to_owned(), c2[..7].to_owned()),
    ];
    expected.sort();
    assert_eq!(built, expected);
    for b in &builds {
        assert_eq!(b.status, "SUCCEEDED", "{}:\n{}", b.id, b.log);
    }
    for (repository, commit) in [
        ("acme/web", &c2),
        ("acme/web", &c1),
        ("acme/hello", &c1),
        ("acme/tools-lint", &c1),
    ] {
        assert!(
            tags(stack, repository).contains(&commit[..7].to_owned()),
            "{repository}"
        );
    }
    // The notifier's replayed event reached the subscribers, and so did the new builds'.
    let notes = stack.hub.notifications();
    assert!(notes.len() >= notified + 5, "{notes:#?}");
    assert!(
        notes
            .iter()
            .any(|n| n.subject.contains("SUCCEEDED") && n.message.contains(&c3[..7])),
        "{notes:#?}"
    );

    // Nothing is left, and a second replay starts nothing.
    let (ok, text) = dead_letters(stack, true);
    assert!(ok && text.contains("the dead-letter queue is empty"), "{text}");
    stack.wait_idle().unwrap();
    assert_eq!(stack.hub.builds().len(), 5);
}

/// The image graph in local mode (`cargo test --test e2e image_graph`): on the graph
/// sample (`base`, and `greeter` and `banner` built FROM it), a change to the base builds
/// it first and then its dependents on the very image it pushed; a base that fails builds
/// neither and says so once; a change to a dependent builds it alone, at once.
#[test]
fn image_graph() {
    let _turn = serial();
    let run = start("graph", "pw", "pw", Limits::default());
    let stack = &run.stack;
    let base_repository = stack.image_repository("base").unwrap();
    let c0 = stack.repo.head();
    let c1 = stack
        .repo
        .commit_graph_sample("a base and two images on it", &base_repository)
        .unwrap();
    let builds = deliver_and_wait(stack, &c0, &c1, "graph-1");
    let [base, greeter, banner] = graph_builds(stack, &builds);
    base_built_first_and_pinned(stack, base, &[greeter, banner]);

    let timed = |name: &str, scenario: &dyn Fn(&Stack)| {
        let t = std::time::Instant::now();
        scenario(stack);
        eprintln!("== scenario {name}: {:.1} s", t.elapsed().as_secs_f64());
    };
    timed(
        "a_changed_base_builds_first_and_its_dependents_on_its_digest",
        &|stack| a_changed_base_builds_first_and_its_dependents_on_its_digest(stack),
    );
    timed("a_changed_dependent_builds_alone_at_once", &|stack| {
        a_changed_dependent_builds_alone_at_once(stack)
    });
    timed("a_failed_base_blocks_its_dependents_with_one_notification", &|stack| {
        a_failed_base_blocks_its_dependents_with_one_notification(stack)
    });
    assert!(stack.hub.dead_letters().is_empty());
    assert_eq!(stack.dead_letters().unwrap(), []);
    drop(run);
    assert!(process::running_groups().is_empty(), "{:?}", process::running_groups());
}

/// The builds of the graph sample's directories among `builds`, base first; each ran once.
fn graph_builds<'a>(
    stack: &Stack,
    builds: &'a [dockhand_local::hub::BuildRecord],
) -> [&'a dockhand_local::hub::BuildRecord; 3] {
    builds_of(stack, builds, GRAPH_SAMPLE_DIRS)
}

/// The build of each of `dirs` among `builds`, in their order; each ran once.
fn builds_of<'a, const N: usize>(
    stack: &Stack,
    builds: &'a [dockhand_local::hub::BuildRecord],
    dirs: [&str; N],
) -> [&'a dockhand_local::hub::BuildRecord; N] {
    dirs.map(|dir| {
        let of: Vec<_> = builds
            .iter()
            .filter(|b| b.env("BUILD_CONTEXT").as_deref() == Some(dir))
            .collect();
        assert_eq!(of.len(), 1, "{dir}: {:?}\n{}", contexts(builds), stack.functions_log());
        of[0]
    })
}

/// The repository path of a build's image in the registry (`acme/base`).
fn registry_path(stack: &Stack, build: &dockhand_local::hub::BuildRecord) -> String {
    build
        .env("DOCKER_REPO")
        .unwrap()
        .trim_start_matches(&format!("{}/", stack.registry.host))
        .to_owned()
}

/// The base's build ended before any dependent's started; it exported the digest it
/// pushed under its key tag, which `latest` names too; each dependent was pinned to that
/// digest (`DOCKHAND_BASES`, the name its FROM gives after ARG expansion) and its image
/// starts with the base's very layers.
fn base_built_first_and_pinned(
    stack: &Stack,
    base: &dockhand_local::hub::BuildRecord,
    dependents: &[&dockhand_local::hub::BuildRecord],
) {
    for b in std::iter::once(base).chain(dependents.iter().copied()) {
        assert_eq!(b.status, "SUCCEEDED", "{}:\n{}", b.id, b.log);
        key_tag_is_the_images(stack, b, "latest");
    }
    let base_end = base.end.unwrap();
    let exported: Vec<_> = base
        .exported_variables
        .iter()
        .filter(|(name, _)| name == "DOCKHAND_IMAGE_DIGEST")
        .map(|(_, value)| value.clone())
        .collect();
    let [digest] = exported.as_slice() else {
        panic!("the base exported {:?}", base.exported_variables)
    };
    let base_path = registry_path(stack, base);
    let base_repository = base.env("DOCKER_REPO").unwrap();
    assert_eq!(
        stack
            .registry
            .digest(&base_path, &base.env("DOCKHAND_KEY_TAG").unwrap())
            .unwrap(),
        *digest
    );
    assert_eq!(stack.registry.digest(&base_path, "latest").unwrap(), *digest);
    let base_layers = stack.registry.manifest(&base_path, digest).unwrap()["layers"].clone();
    let base_layers = base_layers.as_array().unwrap();
    assert!(!base_layers.is_empty());
    let mut dependent_keys: Vec<String> = base
        .env("DOCKHAND_DEPENDENTS")
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    dependent_keys.sort();
    let mut keys: Vec<String> = dependents
        .iter()
        .map(|d| d.env("DOCKHAND_BUILD_KEY").unwrap())
        .collect();
    keys.sort();
    assert_eq!(dependent_keys, keys, "the base's build names its dependents");
    for d in dependents {
        let context = d.env("BUILD_CONTEXT").unwrap();
        assert!(
            d.start >= base_end,
            "{context} started at {} before its base ended at {base_end}",
            d.start
        );
        assert_eq!(
            d.env("DOCKHAND_BASES").as_deref(),
            Some(format!("{base_repository}\t{base_repository}@{digest}").as_str()),
            "{context}"
        );
        assert!(d.log.contains(&format!("@{digest}")), "{context}:\n{}", d.log);
        let layers = stack.registry.manifest(&registry_path(stack, d), "latest").unwrap()["layers"].clone();
        let layers = layers.as_array().unwrap();
        // The base's layers, then the dependent's own (podman adds an empty one too).
        assert!(layers.len() > base_layers.len(), "{context}: {layers:#?}");
        assert_eq!(layers[..base_layers.len()], base_layers[..], "{context}");
    }
}

/// Commits `changes`, delivers the push and waits until everything it started is done;
/// answers the commit, the builds it started and how many builds the spawner held for
/// their bases.
fn push_graph_change(
    stack: &Stack,
    message: &str,
    changes: &[dockhand_local::gitrepo::Change<'_>],
    delivery: &str,
) -> (String, Vec<dockhand_local::hub::BuildRecord>, usize) {
    const HELD: &str = "held until its bases push";
    let before = stack.repo.head();
    let started = stack.hub.builds().len();
    let held = stack.functions_log().matches(HELD).count();
    let after = stack.repo.commit(message, changes).unwrap();
    let mut builds = deliver_and_wait(stack, &before, &after, delivery);
    let held = stack.functions_log().matches(HELD).count() - held;
    (after, builds.split_off(started), held)
}

/// A change to the base: three builds, the base first, its dependents on what it pushed.
fn a_changed_base_builds_first_and_its_dependents_on_its_digest(stack: &Stack) {
    let (_, builds, held) = push_graph_change(stack, "base: two", &[("base/base.txt", Some("base 2\n"))], "graph-base");
    let [base, greeter, banner] = graph_builds(stack, &builds);
    assert_eq!(builds.len(), 3);
    base_built_first_and_pinned(stack, base, &[greeter, banner]);
    assert_eq!(held, 2, "{}", stack.functions_log());
}

/// A change to a dependent alone builds it alone, at once: its base is not part of the
/// push, so it waits for nothing and builds FROM the base's `latest`.
fn a_changed_dependent_builds_alone_at_once(stack: &Stack) {
    let (_, builds, held) = push_graph_change(
        stack,
        "greeter: two",
        &[("greeter/greeting.txt", Some("hello again\n"))],
        "graph-dependent",
    );
    assert_eq!(builds.len(), 1, "{:?}", contexts(&builds));
    assert_eq!(held, 0, "{}", stack.functions_log());
    let greeter = &builds[0];
    assert_eq!(greeter.env("BUILD_CONTEXT").as_deref(), Some("greeter"));
    assert_eq!(greeter.status, "SUCCEEDED", "{}", greeter.log);
    assert_eq!(greeter.env("DOCKHAND_BASES"), None);
    assert_eq!(greeter.env("DOCKHAND_DEPENDENTS"), None);
    key_tag_is_the_images(stack, greeter, "latest");
    // Built on the base's latest all the same.
    let base_layers = stack.registry.manifest("acme/base", "latest").unwrap()["layers"].clone();
    let layers = stack.registry.manifest("acme/greeter", "latest").unwrap()["layers"].clone();
    assert_eq!(layers[0], base_layers[0]);
}

/// The contexts and states of `builds`, for a failure's message.
fn contexts(builds: &[dockhand_local::hub::BuildRecord]) -> Vec<(Option<String>, &str)> {
    builds
        .iter()
        .map(|b| (b.env("BUILD_CONTEXT"), b.status.as_str()))
        .collect()
}

/// A base that fails: no dependent starts, and one notification names the base and both.
fn a_failed_base_blocks_its_dependents_with_one_notification(stack: &Stack) {
    let started = stack.hub.builds().len();
    let notified = stack.hub.notifications().len();
    let (after, _, held) = push_graph_change(
        stack,
        "base: broken",
        &[("base/Dockerfile", Some("FROM scratch\nCOPY missing.txt /x\n"))],
        "graph-broken",
    );
    assert_eq!(held, 2, "{}", stack.functions_log());
    // Anything the base's end could have started has had time to.
    std::thread::sleep(std::time::Duration::from_secs(5));
    stack.wait_idle().unwrap();
    let builds = stack.hub.builds().split_off(started);
    assert_eq!(builds.len(), 1, "{:?}", contexts(&builds));
    let base = &builds[0];
    assert_eq!(base.env("BUILD_CONTEXT").as_deref(), Some("base"));
    assert_eq!(base.status, "FAILED", "{}", base.log);
    assert_eq!(base.failed_phase.as_deref(), Some("BUILD"), "{}", base.log);
    let notes = stack.hub.notifications().split_off(notified);
    let not_built: Vec<_> = notes.iter().filter(|n| n.subject.contains("NOT BUILT")).collect();
    assert_eq!(not_built.len(), 1, "{notes:#?}");
    let note = not_built[0];
    assert_eq!(
        note.subject,
        format!(
            "dockhand NOT BUILT: 2 image(s) on {} @{}",
            stack.image_repository("base").unwrap(),
            &after[..7]
        ),
        "{note:#?}"
    );
    for image in ["acme/greeter", "acme/banner"] {
        assert!(note.message.contains(image), "{image}: {}", note.message);
    }
    assert!(note.message.contains("(base)"), "{}", note.message);
    assert!(notes.iter().any(|n| n.subject.contains("FAILED")), "{notes:#?}");
    // The images on the base keep what they had.
    assert_eq!(
        tags(stack, "acme/greeter").len(),
        4,
        "{:?}",
        tags(stack, "acme/greeter")
    );
}

/// Docker Hub's hooks and autotests in local mode (`cargo test --test e2e hub_mode`): on
/// the Hub sample, the image whose test passes is pushed with its tags and the one its
/// `post_push` hook adds; the image whose test fails pushes nothing, not even its key tag,
/// and its build fails in BUILD with the sut's last line in its report.
#[test]
fn hub_mode() {
    let _turn = serial();
    let started = std::time::Instant::now();
    let run = start("hub", "pw", "pw", Limits::default());
    let stack = &run.stack;
    let networks = podman_networks(stack);
    let c0 = stack.repo.head();
    let c1 = stack.repo.commit_hub_sample("images as Docker Hub built them").unwrap();
    let pushed = std::time::Instant::now();
    let builds = deliver_and_wait(stack, &c0, &c1, "hub-1");
    eprintln!(
        "== scenario hub_mode: {:.1} s for the push, {:.1} s with the stack's start",
        pushed.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let [hooked, failing] = builds_of(stack, &builds, HUB_SAMPLE_DIRS);
    assert_eq!(builds.len(), 2, "{:?}", contexts(&builds));

    // The passing test: its hooks ran, its sut reached the other service by name, and the
    // image has its tags and the hook's, all the very image of its key tag.
    assert_eq!(hooked.status, "SUCCEEDED", "{}", hooked.log);
    for line in [
        "##dockhand hook post_checkout ok",
        "post_checkout: Dockerfile is here",
        "sut: web serves the greeting",
        "##dockhand test docker-compose.test.yml passed",
        "##dockhand hook post_push ok",
    ] {
        assert!(hooked.log.contains(line), "{line}:\n{}", hooked.log);
    }
    key_tag_is_the_images(stack, hooked, "latest");
    let hook_tag = hub_hook_tag(&c1);
    let mut expected: Vec<String> = hooked
        .env("DOCKHAND_TAGS")
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .chain([hook_tag.clone()])
        .collect();
    expected.sort();
    assert_eq!(tags(stack, "acme/hooked"), expected);
    key_tag_is_the_images(stack, hooked, &hook_tag);

    // The failing test: nothing pushed, the build FAILED in BUILD, the report names the
    // test file and ends with the sut's last line.
    assert_eq!(failing.status, "FAILED", "{}", failing.log);
    assert_eq!(failing.failed_phase.as_deref(), Some("BUILD"), "{}", failing.log);
    assert_eq!(stack.registry.tags("acme/failing").unwrap(), Vec::<String>::new());
    assert!(!image_repositories(stack).contains(&"acme/failing".to_owned()));
    let report: Vec<&str> = failing.log.lines().filter(|l| l.starts_with("##dockhand ")).collect();
    assert!(
        report.contains(&"##dockhand test docker-compose.test.yml failed 1"),
        "{report:#?}"
    );
    let sut: Vec<&&str> = report.iter().filter(|l| l.starts_with("##dockhand sut ")).collect();
    assert!(
        sut.last().is_some_and(|l| l.ends_with(FAILING_SUT_LINE)),
        "{report:#?}\n{}",
        failing.log
    );

    hub_notifications_report_the_tests(stack);
    builds_on_demand(stack);
    // Compose took down what it started: no project's network is left.
    assert_eq!(podman_networks(stack), networks);
    assert!(stack.hub.dead_letters().is_empty());
    assert_eq!(stack.dead_letters().unwrap(), []);
    drop(run);
    assert!(process::running_groups().is_empty(), "{:?}", process::running_groups());
}

/// `dockhand build` against local mode, as a person runs it against AWS: its order goes
/// to the requests queue, the real spawner resolves it through the GitHub stand-in and
/// plans it, and `--wait` follows the ledger and CodeBuild to the end. `--dir` builds
/// exactly the image named, `--all` every image (both built by the push before: an order
/// never re-tags), and `--wait` exits 1 when one fails.
fn builds_on_demand(stack: &Stack) {
    let repo = stack.repo.full_name();
    let run = |args: &[&str]| {
        let build = ["build", "--stack", dockhand_local::STACK, "--repo", &repo];
        let wait = ["--wait", "--by", "e2e"];
        let (code, out, err) = against(stack, &[&build[..], args, &wait[..]].concat());
        let text = format!("{out}{err}");
        eprintln!("$ dockhand build {}\n{text}", args.join(" "));
        (code, text)
    };
    let orders = |from: usize| {
        let builds = stack.hub.builds();
        let mut started: Vec<(String, String, String)> = builds[from..]
            .iter()
            .map(|b| {
                (
                    b.env("BUILD_CONTEXT").unwrap_or_default(),
                    b.env("DOCKHAND_ORDER").unwrap_or_default(),
                    b.status.clone(),
                )
            })
            .collect();
        started.sort();
        started
    };
    let before = stack.hub.builds().len();
    let (code, text) = run(&["--dir", "hooked"]);
    assert_eq!(code, Some(0), "{text}");
    let one = orders(before);
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!((one[0].0.as_str(), one[0].2.as_str()), ("hooked", "SUCCEEDED"));
    assert!(one[0].1.starts_with("m-") && text.contains(&one[0].1), "{text}");

    let before = stack.hub.builds().len();
    let (code, text) = run(&["--all"]);
    assert_eq!(code, Some(1), "the failing image fails the wait:\n{text}");
    let all = orders(before);
    assert_eq!(
        all.iter().map(|(c, _, s)| (c.as_str(), s.as_str())).collect::<Vec<_>>(),
        [("failing", "FAILED"), ("hooked", "SUCCEEDED")]
    );
    assert_eq!(all[0].1, all[1].1, "one order");
    assert_ne!(all[0].1, one[0].1, "a second order builds again");
}

/// The notifications of the Hub sample's builds report their tests: the failing one names
/// its test file and carries the sut's last line, the passing one says its tests passed.
/// The notifier reports each build's hooks and tests, read back from the `##dockhand`
/// lines of its log (which local mode's CodeBuild writes to CloudWatch Logs): the failed
/// test with the tail of its `sut` log, the passed one, and the hooks that ran.
fn hub_notifications_report_the_tests(stack: &Stack) {
    let notes = stack.hub.notifications();
    let of = |status: &str, image: &str| {
        notes
            .iter()
            .find(|n| n.subject.contains(status) && n.subject.contains(image))
            .unwrap_or_else(|| panic!("no {status} notification for {image}: {notes:#?}"))
    };
    let failed = of("FAILED", "failing");
    assert!(
        failed
            .message
            .contains("Tests:      docker-compose.test.yml failed (exit status 1)\n"),
        "{}",
        failed.message
    );
    let sut_log = failed.message.split("Last lines of the sut service's log:\n").nth(1);
    let last = sut_log.and_then(|log| log.lines().take_while(|l| l.starts_with("  | ")).last());
    assert!(
        last.is_some_and(|l| l.ends_with(FAILING_SUT_LINE)),
        "{}",
        failed.message
    );
    let passed = of("SUCCEEDED", "hooked");
    for line in [
        "Tests:      docker-compose.test.yml passed\n",
        "Hooks:      hooks/post_checkout ran, hooks/post_push ran\n",
    ] {
        assert!(passed.message.contains(line), "{line:?} in {}", passed.message);
    }
}

/// The container networks podman knows (empty where a Docker engine runs the builds):
/// Compose's networks are global, not in a build's store.
fn podman_networks(stack: &Stack) -> Vec<String> {
    if !stack.engine.starts_with("podman") {
        return Vec::new();
    }
    let out = std::process::Command::new("podman")
        .args(["network", "ls", "--format", "{{.Name}}"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}
