//! `dockhand status`, and `dockhand logs` where it needs no log, run as an operator runs
//! them against local mode's CodeBuild stand-in, the hub (`AWS_ENDPOINT_URL_CODEBUILD`),
//! its builds moved through their phases with the methods its builders use.

mod support;

use dockhand_local::hub::{BuildRecord, Hub, State};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use support::{aws_command, start_build};

const COMMIT: &str = "3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f";

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A build's environment overrides.
type Env = Vec<(&'static str, String)>;

fn image(repo: &str, image: &str, tags: &str) -> Env {
    vec![
        ("DOCKER_REPO", image.into()),
        ("DOCKHAND_TAGS", tags.into()),
        ("SOURCE_COMMIT", COMMIT.into()),
        ("DOCKHAND_REPOSITORY", repo.into()),
        ("BUILD_CONTEXT", "web".into()),
    ]
}

/// The hub with builds in every state, started a minute apart, oldest first (the last is
/// the newest): the id of each, by name.
fn hub() -> (Hub, Vec<(&'static str, String)>) {
    let hub = Hub::api(State::default()).unwrap();
    let base = now() - 3600.0;
    let builds: Vec<(&str, Env, f64)> = vec![
        (
            "old",
            image("acme/images", "docker.io/acme/web", "old"),
            now() - 3.0 * 86_400.0,
        ),
        (
            "succeeded",
            image("acme/images", "docker.io/acme/web", "latest,1.2"),
            base,
        ),
        (
            "failed",
            image("acme/images", "docker.io/acme/api", "latest"),
            base + 60.0,
        ),
        (
            "retag",
            vec![
                (
                    "DOCKHAND_RETAG",
                    "docker.io/acme/web\tk1\tlatest,1.3\tlatest\ndocker.io/acme/api\tk2\tlatest,1.3\tlatest".into(),
                ),
                ("SOURCE_COMMIT", COMMIT.into()),
                ("DOCKHAND_REPOSITORY", "acme/images".into()),
            ],
            base + 120.0,
        ),
        ("other", image("acme/other", "ghcr.io/acme/tool", "main"), base + 180.0),
        (
            "running",
            image("acme/images", "docker.io/acme/web", "main"),
            base + 240.0,
        ),
        (
            "queued",
            image("acme/images", "docker.io/acme/web", "next"),
            base + 300.0,
        ),
    ];
    let mut ids = Vec::new();
    {
        let mut state = hub.state.lock().unwrap();
        for (i, (name, env, start)) in builds.into_iter().enumerate() {
            let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let mut b = BuildRecord::submitted("dockhand", i as u64 + 1, "", start_build(&env), start);
            if name != "queued" {
                b.run(start + 7.0);
            }
            if name == "running" {
                b.enter_phase("BUILD", start + 20.0);
            }
            match name {
                "succeeded" | "old" | "other" | "retag" => b.finish("SUCCEEDED", None, start + 245.0),
                "failed" => {
                    b.enter_phase("BUILD", start + 20.0);
                    b.end_phase("BUILD", "FAILED", start + 50.0);
                    b.finish("FAILED", None, start + 60.0);
                }
                _ => {}
            }
            ids.push((name, b.id.clone()));
            state.builds.push(b);
        }
    }
    (hub, ids)
}

fn run(hub: &Hub, subcommand: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = aws_command(subcommand, args, &[("AWS_ENDPOINT_URL_CODEBUILD", &hub.url(""))])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn id<'a>(ids: &'a [(&str, String)], name: &str) -> &'a str {
    &ids.iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn status_shows_every_field_newest_first_in_a_table_and_in_json() {
    let (hub, ids) = hub();
    let (code, out, err) = run(&hub, "status", &[]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "STARTED", "IMAGE", "TAGS", "COMMIT", "STATUS", "PHASE", "DURATION", "QUEUED", "BUILD"
        ]
    );
    // Newest first; the build of three days ago is older than the default --since 24h.
    let order: Vec<&str> = ["queued", "running", "other", "retag", "failed", "succeeded"]
        .iter()
        .map(|n| id(&ids, n))
        .collect();
    let shown: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(shown, order, "{out}");
    // Each row's values after STARTED (a date and a time), spaces collapsed.
    let row = |name: &str| {
        let line = lines.iter().find(|l| l.ends_with(id(&ids, name))).unwrap();
        line.split_whitespace().skip(2).collect::<Vec<_>>().join(" ")
    };
    let with_id = |name: &str, values: &str| format!("{values} {}", id(&ids, name));
    assert_eq!(
        row("succeeded"),
        with_id(
            "succeeded",
            "docker.io/acme/web latest,1.2 3e8a1f5 SUCCEEDED COMPLETED 4m05s 7s"
        )
    );
    assert_eq!(
        row("failed"),
        with_id("failed", "docker.io/acme/api latest 3e8a1f5 FAILED COMPLETED 1m00s 7s")
    );
    assert_eq!(
        row("retag"),
        with_id(
            "retag",
            "re-tag docker.io/acme/web docker.io/acme/api latest,1.3 3e8a1f5 SUCCEEDED COMPLETED 4m05s 7s"
        )
    );
    assert!(
        row("running").starts_with("docker.io/acme/web main 3e8a1f5 IN_PROGRESS BUILD "),
        "{out}"
    );
    assert!(
        row("queued").starts_with("docker.io/acme/web next 3e8a1f5 IN_PROGRESS QUEUED "),
        "{out}"
    );
    // The columns line up: every build id starts where the heading BUILD does.
    let at = lines[0].find("BUILD").unwrap();
    assert!(
        lines
            .iter()
            .all(|l| l[at..].starts_with("BUILD") || l[at..].starts_with("dockhand:")),
        "{out}"
    );

    let (code, out, err) = run(&hub, "status", &["--json", "--since", "7d"]);
    assert_eq!(code, Some(0), "{err}");
    let rows: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 7);
    let by = |name: &str| rows.iter().find(|r| r["build_id"] == id(&ids, name)).unwrap();
    let failed = by("failed");
    for (field, value) in [
        ("kind", Value::from("build")),
        ("image", "docker.io/acme/api".into()),
        ("tags", serde_json::json!(["latest"])),
        ("repository", "acme/images".into()),
        ("context", "web".into()),
        ("commit", COMMIT.into()),
        ("status", "FAILED".into()),
        ("phase", "COMPLETED".into()),
        ("duration", 60.into()),
        ("queued", 7.into()),
        ("order", Value::Null),
    ] {
        assert_eq!(failed[field], value, "{field}: {failed}");
    }
    assert_eq!(
        failed["ended"].as_i64().unwrap() - failed["started"].as_i64().unwrap(),
        60
    );
    assert!(failed["started_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(by("retag")["kind"], "retag");
    assert_eq!(by("queued")["phase"], "QUEUED");
    assert!(by("queued")["ended"].is_null());
    assert_eq!(by("old")["tags"], serde_json::json!(["old"]));
}

#[test]
fn status_filters_by_repository_and_image_and_says_when_capped() {
    let (hub, ids) = hub();
    let builds = |out: &str| -> Vec<String> {
        out.lines()
            .skip(1)
            .map(|l| l.split_whitespace().last().unwrap().to_owned())
            .collect()
    };
    let (_, out, _) = run(&hub, "status", &["--repo", "acme/other"]);
    assert_eq!(builds(&out), [id(&ids, "other")]);
    let (_, out, _) = run(&hub, "status", &["--image", "acme/api"]);
    assert_eq!(builds(&out), [id(&ids, "retag"), id(&ids, "failed")]);
    let (_, out, _) = run(&hub, "status", &["--image", "ghcr.io/acme/tool"]);
    assert_eq!(builds(&out), [id(&ids, "other")]);
    let (code, out, err) = run(&hub, "status", &["--max", "2"]);
    assert_eq!(code, Some(0));
    assert_eq!(builds(&out), [id(&ids, "queued"), id(&ids, "running")]);
    assert!(err.contains("read the newest 2 builds only"), "{err}");
    let (code, out, err) = run(&hub, "status", &["--repo", "nobody/nothing"]);
    assert_eq!((code, out.as_str()), (Some(0), ""));
    assert!(
        err.contains("no builds of the project dockhand in the last 24h match"),
        "{err}"
    );
    let (code, _, err) = run(&hub, "status", &["--since", "3w"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--since"), "{err}");
}

#[test]
fn logs_of_an_unknown_build_or_one_not_started_say_so() {
    let (hub, ids) = hub();
    let (code, out, err) = run(&hub, "logs", &["dockhand:00000000-0000-0000-0000-000000000000"]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert!(err.contains("CodeBuild knows no build dockhand:00000000"), "{err}");
    let (code, out, err) = run(&hub, "logs", &[id(&ids, "queued")]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    assert!(
        err.contains("is QUEUED: its log starts when it is PROVISIONING"),
        "{err}"
    );
    assert!(!err.contains("waiting"), "{err}");
}
