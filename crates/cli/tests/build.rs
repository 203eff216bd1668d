//! `dockhand build` over real HTTP: SQS and DynamoDB on a moto server, CodeBuild's
//! BatchGetBuilds on a stand-in, the built binary run as a person runs it. With `--wait`
//! the test plays the spawner: it takes the order from the requests queue and writes what
//! the spawner writes (the order's plan under `order#<id>`, each started build's ledger
//! item, a blocked build's hold) through the same ledger code.
//!
//! The stand-in answers BatchGetBuilds as CodeBuild documents it
//! (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BatchGetBuilds.html):
//! `POST /` with `X-Amz-Target: CodeBuild_20161006.BatchGetBuilds` and `{"ids": [...]}`
//! (at most 100), answered `{"builds": [{"id", "buildStatus", "buildComplete", …}],
//! "buildsNotFound": [...]}` in `application/x-amz-json-1.1`.

use dockhand_aws::dynamodb::DynamoLedger;
use dockhand_core::ledger::Record;
use dockhand_core::order::{OrderMessage, OrderRecord, OrderedBuild, OrderedSkip};
use dockhand_core::ports::{Holds, Ledger, ReadCache};
use dockhand_core::queue::QueuedBuild;
use dockhand_core::waves::{Held, HeldBase, HeldState};
use dockhand_testkit::Moto;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// CodeBuild's BatchGetBuilds: each known build's status and whether it is complete; every
/// call's ids are kept.
struct CodeBuild {
    url: String,
    calls: Arc<Mutex<Vec<Vec<String>>>>,
    _thread: std::thread::JoinHandle<()>,
}

impl CodeBuild {
    fn start(builds: &[(&str, &str, bool)]) -> CodeBuild {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let known: BTreeMap<String, (String, bool)> = builds
            .iter()
            .map(|(id, status, complete)| ((*id).to_owned(), ((*status).to_owned(), *complete)))
            .collect();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        let thread = std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let target = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("X-Amz-Target"))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default();
                let mut body = String::new();
                request.as_reader().read_to_string(&mut body).unwrap();
                let header = |k: &str, v: &str| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap();
                let (status, answer) = if target == "CodeBuild_20161006.BatchGetBuilds" {
                    let input: Value = serde_json::from_str(&body).unwrap_or_default();
                    let ids: Vec<String> = input["ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    log.lock().unwrap().push(ids.clone());
                    if ids.len() > 100 {
                        (
                            400,
                            json!({"__type": "InvalidInputException", "message": "at most 100 ids"}),
                        )
                    } else {
                        let (found, missing): (Vec<&String>, Vec<&String>) =
                            ids.iter().partition(|id| known.contains_key(*id));
                        let builds: Vec<Value> = found
                            .iter()
                            .map(|id| {
                                let (status, complete) = &known[*id];
                                json!({"id": id, "arn": format!("arn:aws:codebuild:us-east-1:123456789012:build/{id}"),
                                       "projectName": "dockhand", "buildStatus": status, "buildComplete": complete,
                                       "currentPhase": if *complete { "COMPLETED" } else { "BUILD" }})
                            })
                            .collect();
                        (200, json!({"builds": builds, "buildsNotFound": missing}))
                    }
                } else {
                    (400, json!({"__type": "UnknownOperationException", "message": target}))
                };
                let _ = request.respond(
                    tiny_http::Response::from_string(answer.to_string())
                        .with_status_code(status)
                        .with_header(header("Content-Type", "application/x-amz-json-1.1")),
                );
            }
        });
        CodeBuild {
            url,
            calls,
            _thread: thread,
        }
    }
}

struct Stack {
    moto: Moto,
    sqs: aws_sdk_sqs::Client,
    requests: String,
    ledger: DynamoLedger,
}

impl Stack {
    async fn create(name: &str) -> Stack {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let (requests, _) = dockhand_testkit::create_queue(&sqs, &format!("{name}-build-requests")).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let table = format!("{name}-builds");
        dockhand_aws::dynamodb::create_table(&dynamodb, &table).await.unwrap();
        Stack {
            moto,
            sqs,
            requests,
            ledger: DynamoLedger::new(dynamodb, &table),
        }
    }

    fn command(&self, codebuild: Option<&CodeBuild>, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dockhand"));
        command
            .arg("build")
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("USER", "tester")
            .env_remove("AWS_PROFILE");
        match codebuild {
            Some(codebuild) => command.env("AWS_ENDPOINT_URL_CODEBUILD", &codebuild.url),
            // Nothing answers there: a call to CodeBuild fails.
            None => command.env("AWS_ENDPOINT_URL_CODEBUILD", "http://127.0.0.1:9"),
        };
        command
    }

    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        finish(self.command(None, args).output().unwrap())
    }

    /// The order the requests queue holds: received (waiting for it) and deleted.
    async fn take_order(&self) -> (OrderMessage, Value) {
        for _ in 0..60 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.requests)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if let Some(message) = out.messages.unwrap_or_default().into_iter().next() {
                self.sqs
                    .delete_message()
                    .queue_url(&self.requests)
                    .receipt_handle(message.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
                let body = message.body.unwrap();
                return (
                    serde_json::from_str(&body).unwrap(),
                    serde_json::from_str(&body).unwrap(),
                );
            }
        }
        panic!("no order reached the requests queue");
    }

    /// `dockhand build --stack t --repo acme/images --ref main --wait <extra>` started, and
    /// the id of the order it sent, once it reached the requests queue.
    async fn waiting(&self, codebuild: &CodeBuild, extra: &[&str]) -> (Child, String) {
        let mut args = vec!["--stack", "t", "--repo", "acme/images", "--ref", "main", "--wait"];
        args.extend(["--poll-interval-ms", "100"]);
        args.extend(extra);
        let child = spawn(&mut self.command(Some(codebuild), &args));
        let (order, _) = self.take_order().await;
        (child, order.order.id)
    }

    /// What the spawner writes once it planned an order: the plan, and each build as far
    /// as it got (`None`: not started yet).
    async fn planned(&self, id: &str, record: &OrderRecord, started: &[(&str, Option<&str>)]) {
        self.ledger
            .store(
                &format!("order#{id}"),
                &serde_json::to_string(record).unwrap(),
                4_000_000_000,
            )
            .await
            .unwrap();
        for (key, build_id) in started {
            let record = Record {
                owner: "message-1".into(),
                build_id: build_id.map(str::to_owned),
                attempt_at: None,
                updated_at: 1_764_662_400,
                expires_at: 4_000_000_000,
            };
            self.ledger.write(key, &record, None).await.unwrap();
        }
    }
}

fn finish(out: std::process::Output) -> (Option<i32>, String, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each of `lines` is a whole line of `out`.
fn has_lines(out: &str, lines: &[&str]) {
    for line in lines {
        assert!(out.lines().any(|l| l == *line), "{line}\nnot in:\n{out}");
    }
}

fn spawn(command: &mut Command) -> Child {
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

const COMMIT: &str = "3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f";

fn plan(builds: &[(&str, &str)], skipped: &[(&str, &str)]) -> OrderRecord {
    OrderRecord {
        commit: Some(COMMIT.into()),
        git_ref: Some("refs/heads/main".into()),
        builds: builds
            .iter()
            .map(|(context, key)| OrderedBuild {
                context: (*context).into(),
                image: format!("docker.io/acme/{context}"),
                key: (*key).into(),
            })
            .collect(),
        skipped: skipped
            .iter()
            .map(|(context, reason)| OrderedSkip {
                context: (*context).into(),
                reason: (*reason).into(),
            })
            .collect(),
        refused: None,
    }
}

/// The order as the requests queue got it, checked field by field against what was asked;
/// its id is the one printed.
fn check_sent(body: &Value, out: &str, directories: Value) {
    let id = body["order"]["id"].as_str().unwrap();
    assert!(
        out.starts_with(&format!("sent order {id} to t-build-requests\n")),
        "{out}"
    );
    let at = body["order"]["at"].as_u64().unwrap();
    assert_eq!(
        body,
        &json!({"order": {"id": id, "kind": "manual", "repository": "acme/images", "ref": "main",
                          "directories": directories, "by": "tester", "at": at}})
    );
}

#[tokio::test]
async fn build_dir_sends_an_order_for_exactly_the_named_directories() {
    let stack = Stack::create("t").await;
    let (code, out, err) = stack.run(&[
        "--stack",
        "t",
        "--repo",
        "acme/images",
        "--ref",
        "main",
        "--dir",
        "web",
        "--dir",
        "./api/",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (_, body) = stack.take_order().await;
    check_sent(&body, &out, json!(["web", "api"]));
    assert!(out.contains("dockhand status --stack t"), "{out}");
    assert!(
        dockhand_testkit::drain_queue(&stack.sqs, &stack.requests)
            .await
            .is_empty(),
        "one order, sent once"
    );
}

#[tokio::test]
async fn build_all_sends_an_order_for_every_image() {
    let stack = Stack::create("t").await;
    let (code, out, err) = stack.run(&["--stack", "t", "--repo", "acme/images", "--ref", "main", "--all"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (_, body) = stack.take_order().await;
    check_sent(&body, &out, json!([]));
}

#[tokio::test]
async fn bad_arguments_send_nothing_and_a_missing_stack_is_named() {
    let stack = Stack::create("t").await;
    let (code, _, err) = stack.run(&["--stack", "t", "--repo", "acme/images", "--dir", "../etc"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--dir: the directory \"../etc\" leaves its directory"),
        "{err}"
    );
    let (code, _, err) = stack.run(&["--stack", "t", "--repo", "acme/images", "--all", "--dir", "web"]);
    assert_eq!(code, Some(2), "clap refuses both: {err}");
    assert!(
        dockhand_testkit::drain_queue(&stack.sqs, &stack.requests)
            .await
            .is_empty()
    );

    let (code, _, err) = stack.run(&["--stack", "elsewhere", "--repo", "acme/images", "--all"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot find the queue elsewhere-build-requests")
            && err.contains("is the stack elsewhere deployed in this region and account?"),
        "{err}"
    );
}

/// Two builds and a skip planned; one build fails: every end is printed, and the exit
/// status says the order did not succeed.
#[tokio::test]
async fn wait_exits_non_zero_when_a_build_fails() {
    let stack = Stack::create("t").await;
    let codebuild = CodeBuild::start(&[("dockhand:1", "SUCCEEDED", true), ("dockhand:2", "FAILED", true)]);
    let (child, id) = stack.waiting(&codebuild, &["--all"]).await;
    stack
        .planned(
            &id,
            &plan(&[("web", "k-web"), ("api", "k-api")], &[("docs", "no Dockerfile")]),
            &[("k-web", Some("dockhand:1")), ("k-api", Some("dockhand:2"))],
        )
        .await;
    let (code, out, err) = finish(child.wait_with_output().unwrap());
    assert_eq!(code, Some(1), "{out}{err}");
    has_lines(
        &out,
        &[
            "planned 2 build(s) and 1 skip(s) of acme/images refs/heads/main at 3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f",
            "  build  web  docker.io/acme/web",
            "  skip   docs  no Dockerfile",
            "SUCCEEDED  web  docker.io/acme/web  dockhand:1",
            "FAILED  api  docker.io/acme/api  dockhand:2",
            "1 succeeded, 1 did not, 1 skipped",
        ],
    );
    assert!(
        err.contains("1 build(s) of order") && err.contains("did not succeed"),
        "{err}"
    );
}

/// Every build succeeds, one of them started only after the first look (it waited for
/// its base): exit 0; CodeBuild is asked only about started builds, in one batch.
#[tokio::test]
async fn wait_exits_zero_when_every_build_succeeds() {
    let stack = Stack::create("t").await;
    let codebuild = CodeBuild::start(&[("dockhand:1", "SUCCEEDED", true), ("dockhand:2", "SUCCEEDED", true)]);
    let (child, id) = stack.waiting(&codebuild, &["--dir", "base", "--dir", "app"]).await;
    stack
        .planned(
            &id,
            &plan(&[("base", "k-base"), ("app", "k-app")], &[]),
            &[("k-base", Some("dockhand:1"))],
        )
        .await;
    // The dependent starts once its base has pushed.
    while !codebuild.calls.lock().unwrap().iter().any(|ids| ids == &["dockhand:1"]) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    stack
        .planned(
            &id,
            &plan(&[("base", "k-base"), ("app", "k-app")], &[]),
            &[("k-app", Some("dockhand:2"))],
        )
        .await;
    let (code, out, err) = finish(child.wait_with_output().unwrap());
    assert_eq!(code, Some(0), "{out}{err}");
    has_lines(&out, &["SUCCEEDED  base  docker.io/acme/base  dockhand:1"]);
    has_lines(&out, &["SUCCEEDED  app  docker.io/acme/app  dockhand:2"]);
    assert!(out.ends_with("2 succeeded, 0 did not, 0 skipped\n"), "{out}");
    let calls = codebuild.calls.lock().unwrap();
    assert!(calls.iter().all(|ids| !ids.is_empty() && ids.len() <= 100), "{calls:?}");
}

/// A build whose base failed is blocked, never started: it counts as failed; and a
/// directory named but skipped fails the order too.
#[tokio::test]
async fn wait_counts_a_blocked_build_and_a_skipped_directory_as_failed() {
    let stack = Stack::create("t").await;
    let codebuild = CodeBuild::start(&[("dockhand:1", "FAILED", true)]);
    let (child, id) = stack
        .waiting(&codebuild, &["--dir", "base", "--dir", "app", "--dir", "docs"])
        .await;
    stack
        .planned(
            &id,
            &plan(&[("base", "k-base"), ("app", "k-app")], &[("docs", "no Dockerfile")]),
            &[("k-base", Some("dockhand:1"))],
        )
        .await;
    let build: QueuedBuild = serde_json::from_value(json!({
        "key": "k-app", "repository": "acme/images", "ref": "refs/heads/main", "commit": COMMIT,
        "delivery": id, "context": "app", "image": "docker.io/acme/app", "tags": ["latest"],
        "request": {
            "projectName": "dockhand", "sourceTypeOverride": "NO_SOURCE", "buildspecOverride": "version: 0.2",
            "environmentVariablesOverride": [], "idempotencyToken": "k-app",
            "computeTypeOverride": "BUILD_GENERAL1_SMALL", "timeoutInMinutesOverride": 60, "privilegedModeOverride": true
        }
    }))
    .unwrap();
    let held = Held {
        build,
        bases: vec![HeldBase {
            context: "base".into(),
            key: "k-base".into(),
            image: "docker.io/acme/base".into(),
            names: vec!["base".into()],
            digest: None,
        }],
        state: HeldState::Blocked {
            base: "base".into(),
            reason: "the build FAILED".into(),
        },
        expires_at: 4_000_000_000,
    };
    stack.ledger.hold("k-app", &held, None).await.unwrap();
    let (code, out, err) = finish(child.wait_with_output().unwrap());
    assert_eq!(code, Some(1), "{out}{err}");
    has_lines(&out, &["FAILED  base  docker.io/acme/base  dockhand:1"]);
    has_lines(
        &out,
        &["BLOCKED  app  docker.io/acme/app  -  its base base did not push: the build FAILED"],
    );
    assert!(out.contains("0 succeeded, 2 did not, 1 skipped"), "{out}");
}

#[tokio::test]
async fn wait_exits_non_zero_when_the_order_is_refused() {
    let stack = Stack::create("t").await;
    let codebuild = CodeBuild::start(&[]);
    let (child, id) = stack.waiting(&codebuild, &["--all"]).await;
    let refused = OrderRecord {
        commit: None,
        git_ref: None,
        builds: vec![],
        skipped: vec![],
        refused: Some("acme/images is not a repository this deployment builds\u{1b}[2J".into()),
    };
    stack.planned(&id, &refused, &[]).await;
    let (code, out, err) = finish(child.wait_with_output().unwrap());
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("refused: acme/images is not a repository this deployment builds?[2J"),
        "{out}"
    );
    assert!(
        !out.contains('\u{1b}') && !err.contains('\u{1b}'),
        "an escape sequence reached the terminal"
    );
    assert!(codebuild.calls.lock().unwrap().is_empty());
}

/// An order nobody plans (the spawner is down, or dead-lettered it): --timeout ends the
/// wait, saying where to look.
#[tokio::test]
async fn wait_gives_up_on_an_order_never_planned_and_says_where_to_look() {
    let stack = Stack::create("t").await;
    let (code, out, err) = stack.run(&[
        "--stack",
        "t",
        "--repo",
        "acme/images",
        "--all",
        "--wait",
        "--timeout",
        "1s",
        "--poll-interval-ms",
        "100",
    ]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("planning: waiting for the spawner to plan order m-"),
        "{out}"
    );
    assert!(
        err.contains("the spawner has not planned order m-") && err.contains("dockhand dead-letters --stack t"),
        "{err}"
    );
}
