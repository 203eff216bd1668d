//! `dockhand plan` as a user runs it.

use serde_json::Value;
use std::process::Command;

mod support;

use support::fixture;

/// What `--tree` says when it plans more than one build: it has no Dockerfile to read.
const NO_CONTENTS: &str = "the Dockerfiles' contents were not given, so images built from each other are not ordered (plan with --repo to see the image graph)";

fn plan(args: &[&str]) -> (Vec<Value>, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .arg("plan")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (lines, String::from_utf8(out.stderr).unwrap(), out.status.success())
}

fn kinds(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["context"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn exact_plan_with_tree_and_config() {
    let (lines, stderr, ok) = plan(&[
        "--event",
        &fixture("push-monorepo.json"),
        "--tree",
        &fixture("monorepo.tree"),
        "--config",
        &fixture("config.json"),
    ]);
    assert!(ok, "{stderr}");
    // A listing alone cannot tell which images are built from which.
    assert_eq!(stderr, format!("dockhand: {NO_CONTENTS}\n"));
    assert_eq!(
        kinds(&lines),
        pairs(&[
            ("build", "api"),
            ("skip", "legacy-api"),
            ("build", "tools/lint"),
            ("build", "web")
        ])
    );
    let web = &lines[3];
    assert_eq!(web["dockerfile"], "web/Dockerfile");
    assert_eq!(web["image"], "docker.io/acme/web");
    assert_eq!(web["tags"], serde_json::json!(["latest", "3e8a1f5"]));
    let request = &web["request"];
    assert_eq!(request["projectName"], "dockhand");
    assert_eq!(request["sourceTypeOverride"], "NO_SOURCE");
    assert_eq!(request["timeoutInMinutesOverride"], 30);
    assert!(
        request["buildspecOverride"]
            .as_str()
            .unwrap()
            .starts_with("# dockhand build")
    );
    assert_eq!(request["idempotencyToken"].as_str().unwrap().len(), 64);
    let env = request["environmentVariablesOverride"].as_array().unwrap();
    assert!(
        env.iter()
            .all(|v| v["type"] == "PLAINTEXT" && v["name"].is_string() && v["value"].is_string())
    );
    assert!(
        env.iter()
            .any(|v| v["name"] == "DOCKERFILE_PATH" && v["value"] == "web/Dockerfile")
    );
    assert_eq!(lines[1]["reason"], "its Dockerfile was removed by this push");
}

#[test]
fn payload_only_plan_uses_the_convention_and_says_what_it_cannot_know() {
    let (lines, _, ok) = plan(&[
        "--event",
        &fixture("push-monorepo.json"),
        "--payload-only",
        "--config",
        &fixture("config.json"),
    ]);
    assert!(ok);
    assert_eq!(
        kinds(&lines),
        pairs(&[
            ("skip", "."),
            ("build", "api"),
            ("skip", "legacy-api"),
            ("build", "tools/lint"),
            ("build", "web")
        ])
    );
    assert!(lines[0]["reason"].as_str().unwrap().contains("--tree"));
}

#[test]
fn defaults_without_a_deployment_are_announced() {
    let (lines, stderr, ok) = plan(&[
        "--event",
        &fixture("push-monorepo.json"),
        "--tree",
        &fixture("monorepo.tree"),
    ]);
    assert!(ok);
    assert!(
        stderr.contains("no --config given") && stderr.contains("\"acme\""),
        "{stderr}"
    );
    assert_eq!(lines[0]["request"]["projectName"], "dockhand");
    assert_eq!(lines[0]["request"]["timeoutInMinutesOverride"], 60);
}

#[test]
fn a_ref_that_does_not_build_is_one_skip() {
    let mut push: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("push-monorepo.json")).unwrap()).unwrap();
    push["ref"] = "refs/heads/wip".into();
    let dir = std::env::temp_dir().join(format!("dockhand-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("push.json");
    std::fs::write(&path, push.to_string()).unwrap();
    let (lines, _, ok) = plan(&["--event", path.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(
        lines,
        [serde_json::json!({"kind": "skip", "context": ".", "reason": "no ref rule builds refs/heads/wip"})]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let (lines, stderr, ok) = plan(&["--event", &fixture("config.json")]);
    assert!(!ok && lines.is_empty());
    assert!(
        stderr.contains("config.json") && stderr.contains("missing field"),
        "{stderr}"
    );
    let (_, stderr, ok) = plan(&["--event", "/nonexistent/push.json"]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot read the event file /nonexistent/push.json"),
        "{stderr}"
    );
    let (_, stderr, ok) = plan(&[
        "--event",
        &fixture("push-monorepo.json"),
        "--config",
        &fixture("push-monorepo.json"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("configuration is not valid"), "{stderr}");
}

/// `--tree` plans through the spawner's own code (`plan_push`, the listings answering for
/// GitHub), so `.dockhand.yml` is read exactly when the spawner would read it.
#[test]
fn with_tree_the_repository_file_is_read_as_the_spawner_reads_it() {
    let dir = std::env::temp_dir().join(format!("dockhand-plan-repo-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let listing = std::fs::read_to_string(fixture("monorepo.tree")).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let with_file = write("with-file.tree", &format!("{listing}.dockhand.yml\n"));
    let with_link = write(
        "with-link.tree",
        &format!("{listing}120000 blob {} \t.dockhand.yml\n", "a".repeat(40)),
    );
    let repo_config = write("dockhand.yml", "naming: suite\n");
    let base = [
        "--event",
        &fixture("push-monorepo.json"),
        "--config",
        &fixture("config.json"),
    ];
    let args = |tree: &str, extra: &[&str]| -> Vec<String> {
        base.iter()
            .chain(["--tree", tree].iter())
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| plan(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // The tree holds the file and it is not given: the plan would be wrong, so none is made.
    let (lines, stderr, ok) = run(args(&with_file, &[]));
    assert!(!ok && lines.is_empty(), "{stderr}");
    assert!(
        stderr.contains("the tree lists .dockhand.yml") && stderr.contains("--repo-config"),
        "{stderr}"
    );
    // Given, it applies: the suite preset names tools/lint `tools:lint`.
    let (lines, stderr, ok) = run(args(&with_file, &["--repo-config", &repo_config]));
    assert!(ok, "{stderr}");
    let lint = lines.iter().find(|l| l["context"] == "tools/lint").unwrap();
    assert_eq!(lint["image"], "docker.io/acme/tools", "{lint}");
    // Not in the tree: the spawner would read none, and neither does the plan; it says so.
    let (lines, stderr, ok) = run(args(&fixture("monorepo.tree"), &["--repo-config", &repo_config]));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("--repo-config is not applied"), "{stderr}");
    let lint = lines.iter().find(|l| l["context"] == "tools/lint").unwrap();
    assert_eq!(lint["image"], "docker.io/acme/tools-lint", "{lint}");
    // A symbolic link is refused, as the spawner refuses it.
    let (lines, stderr, ok) = run(args(&with_link, &["--repo-config", &repo_config]));
    assert!(ok, "{stderr}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0]["reason"].as_str().unwrap().contains("is a symbolic link"),
        "{}",
        lines[0]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// With the directories' tree ids, an image whose key is in `--built` is shown as a re-tag
/// of its key tag; without `--built`, every image is a build and stderr says why.
#[test]
fn built_images_are_shown_as_retags() {
    let dir = std::env::temp_dir().join(format!("dockhand-plan-built-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
    let tree = dir.join("tree");
    std::fs::write(
        &tree,
        format!(
            "040000 tree {a}\tapi\n100644 blob {blob}\tapi/Dockerfile\n040000 tree {b}\ttools/lint\n100644 blob {blob}\ttools/lint/Dockerfile\n040000 tree {c}\tweb\n100644 blob {blob}\tweb/Dockerfile\n",
            a = "1".repeat(40),
            b = "2".repeat(40),
            c = "3".repeat(40)
        ),
    )
    .unwrap();
    let args = [
        "--event",
        &fixture("push-monorepo.json"),
        "--tree",
        tree.to_str().unwrap(),
        "--config",
        &fixture("config.json"),
    ];
    let (lines, stderr, ok) = plan(&args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("no record of pushed images was consulted"), "{stderr}");
    let web = lines.iter().find(|l| l["context"] == "web").unwrap();
    assert_eq!(web["action"], "build");
    let key = web["image_key"].as_str().unwrap().to_owned();
    let built = dir.join("built");
    std::fs::write(&built, format!("# pushed\n{} {key}\n", web["image"].as_str().unwrap())).unwrap();
    let (lines, stderr, ok) = plan(&[&args[..], &["--built", built.to_str().unwrap()]].concat());
    assert!(ok && stderr == format!("dockhand: {NO_CONTENTS}\n"), "{stderr}");
    let actions: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["kind"] == "build")
        .map(|l| (l["context"].as_str().unwrap(), l["action"].as_str().unwrap()))
        .collect();
    let expected = format!("re-tag of {}:dockhand-{}", web["image"].as_str().unwrap(), &key[..32]);
    assert_eq!(
        actions,
        [("api", "build"), ("tools/lint", "build"), ("web", expected.as_str())]
    );
    std::fs::write(&built, "docker.io/acme/web not-a-key\n").unwrap();
    let (_, stderr, ok) = plan(&[&args[..], &["--built", built.to_str().unwrap()]].concat());
    assert!(
        !ok && stderr.contains("line 1: expected `REPOSITORY IMAGE_KEY`"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
