//! `dockhand dead-letters` over real HTTP: SQS on a moto server, Lambda's Invoke API on a
//! stand-in, the built binary run as an operator runs it.
//!
//! The stand-in answers Invoke as Lambda documents it
//! (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html): `POST
//! /2015-03-31/functions/NAME/invocations`, the invocation type in `X-Amz-Invocation-Type`
//! (RequestResponse by default); a synchronous invocation answers 200 with the function's
//! payload, and a function error is still a 200, told by `X-Amz-Function-Error` with the
//! error document as payload; an asynchronous one (`Event`) answers 202 with no body; an
//! unknown function answers 404 ResourceNotFoundException.

mod support;

use dockhand_testkit::Moto;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One invocation the stand-in received: function, invocation type, payload.
type Invocation = (String, String, String);

struct Lambda {
    url: String,
    invocations: Arc<Mutex<Vec<Invocation>>>,
    /// While set, the notifier fails (an unhandled error).
    notifier_fails: Arc<AtomicBool>,
    _thread: std::thread::JoinHandle<()>,
}

impl Lambda {
    fn start(functions: &[&str]) -> Lambda {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let invocations = Arc::new(Mutex::new(Vec::new()));
        let notifier_fails = Arc::new(AtomicBool::new(true));
        let known: Vec<String> = functions.iter().map(|f| (*f).to_owned()).collect();
        let (log, fails) = (invocations.clone(), notifier_fails.clone());
        let thread = std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let path = request.url().to_owned();
                let kind = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("X-Amz-Invocation-Type"))
                    .map_or("RequestResponse".to_owned(), |h| h.value.to_string());
                let mut payload = String::new();
                request.as_reader().read_to_string(&mut payload).unwrap();
                let name = path
                    .strip_prefix("/2015-03-31/functions/")
                    .and_then(|rest| rest.strip_suffix("/invocations"))
                    .unwrap_or_default()
                    .to_owned();
                let header = |k: &str, v: &str| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap();
                if !known.contains(&name) {
                    let body = json!({ "Type": "User", "Message": format!("Function not found: arn:aws:lambda:us-east-1:123456789012:function:{name}") });
                    let _ = request.respond(
                        tiny_http::Response::from_string(body.to_string())
                            .with_status_code(404)
                            .with_header(header("x-amzn-ErrorType", "ResourceNotFoundException"))
                            .with_header(header("Content-Type", "application/json")),
                    );
                    continue;
                }
                log.lock().unwrap().push((name.clone(), kind.clone(), payload));
                let response = if kind == "Event" {
                    tiny_http::Response::from_string("").with_status_code(202)
                } else if name.ends_with("notifier") && fails.load(Ordering::SeqCst) {
                    let error = json!({ "errorType": "PortError", "errorMessage": "SNS Publish: NotFound: Topic does not exist" });
                    tiny_http::Response::from_string(error.to_string())
                        .with_status_code(200)
                        .with_header(header("X-Amz-Function-Error", "Unhandled"))
                } else {
                    tiny_http::Response::from_string("null").with_status_code(200)
                };
                let _ = request.respond(
                    response
                        .with_header(header("Content-Type", "application/json"))
                        .with_header(header("X-Amz-Executed-Version", "$LATEST")),
                );
            }
        });
        Lambda {
            url,
            invocations,
            notifier_fails,
            _thread: thread,
        }
    }
}

struct Stack {
    moto: Moto,
    sqs: aws_sdk_sqs::Client,
    queues: BTreeMap<&'static str, String>,
}

impl Stack {
    async fn create(name: &str) -> Stack {
        let moto = Moto::start();
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
        let mut queues = BTreeMap::new();
        for (key, suffix) in [
            ("dead", "dead-letters"),
            ("requests", "build-requests"),
            ("builds", "builds"),
        ] {
            let (url, _) = dockhand_testkit::create_queue(&sqs, &format!("{name}-{suffix}")).await;
            queues.insert(key, url);
        }
        Stack { moto, sqs, queues }
    }

    async fn dead_letter(&self, body: &str, attributes: &[(&str, &str)]) {
        let mut send = self
            .sqs
            .send_message()
            .queue_url(&self.queues["dead"])
            .message_body(body);
        for (name, value) in attributes {
            send = send.message_attributes(
                *name,
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(*value)
                    .build()
                    .unwrap(),
            );
        }
        send.send().await.unwrap();
    }

    /// The bodies a queue holds now, received and deleted.
    async fn drain(&self, queue: &str) -> Vec<String> {
        dockhand_testkit::drain_queue(&self.sqs, &self.queues[queue]).await
    }

    /// How many messages of the dead-letter queue are visible now (none hidden by a run).
    async fn visible(&self) -> usize {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queues["dead"])
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        out.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
            .parse()
            .unwrap()
    }

    fn run(&self, lambda: &Lambda, args: &[&str]) -> (Option<i32>, String, String) {
        let out = support::aws_command(
            "dead-letters",
            args,
            &[
                ("AWS_ENDPOINT_URL", &self.moto.endpoint),
                ("AWS_ENDPOINT_URL_LAMBDA", &lambda.url),
            ],
        )
        .output()
        .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

const COMMIT: &str = "3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f";

fn request() -> String {
    json!({
        "delivery": "d-1",
        "repository": { "name": "images", "full_name": "acme/images", "clone_url": "https://github.com/acme/images.git", "private": false },
        "ref": "refs/heads/main",
        "commit": COMMIT,
        "tags": ["latest"],
        "changes": { "paths": ["web/Dockerfile"], "removed": [], "directories": [], "source": { "kind": "commits" } }
    })
    .to_string()
}

fn queued_build() -> String {
    json!({
        "key": "k-web", "repository": "acme/images", "ref": "refs/heads/main", "commit": COMMIT,
        "delivery": "d-1", "context": "web", "image": "docker.io/acme/web", "tags": ["latest"],
        "request": {
            "projectName": "t", "sourceTypeOverride": "NO_SOURCE", "buildspecOverride": "version: 0.2",
            "environmentVariablesOverride": [], "idempotencyToken": "k-web",
            "computeTypeOverride": "BUILD_GENERAL1_SMALL", "timeoutInMinutesOverride": 60, "privilegedModeOverride": true
        }
    })
    .to_string()
}

fn state_change() -> Value {
    let mut event: Value = serde_json::from_str(&dockhand_testkit::fixture("codebuild-succeeded.json")).unwrap();
    event["detail"]["additional-information"]["environment"]["environment-variables"] = json!([
        { "name": "DOCKHAND_REPOSITORY", "value": "acme/images", "type": "PLAINTEXT" },
        { "name": "DOCKHAND_REF", "value": "refs/heads/main", "type": "PLAINTEXT" },
        { "name": "SOURCE_COMMIT", "value": COMMIT, "type": "PLAINTEXT" },
        { "name": "DOCKER_REPO", "value": "docker.io/acme/hello", "type": "PLAINTEXT" },
    ]);
    event
}

fn notifier_record(event: &Value) -> String {
    json!({
        "version": "1.0",
        "timestamp": "2026-12-01T19:40:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4f2a-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:t-notifier:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" },
        "responsePayload": { "errorType": "PortError", "errorMessage": "SNS Publish: NotFound: Topic does not exist" }
    })
    .to_string()
}

fn scheduled() -> Value {
    json!({
        "version": "0", "id": "6a7e8feb", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-01T03:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/t-CleanupScheduleRule-1A2B"], "detail": {}
    })
}

/// Five records, one of each kind and one that is nobody's: the listing shows them all and
/// removes nothing; the replay sends each where it came from, deletes what was accepted,
/// and keeps (visible at once) what was refused or cannot be replayed.
#[tokio::test]
async fn a_replay_returns_each_record_where_it_came_from_and_keeps_the_rest() {
    let stack = Stack::create("t").await;
    let lambda = Lambda::start(&["t-notifier", "t-cleanup"]);
    let event = state_change();
    stack
        .dead_letter(
            &request(),
            &[
                (
                    "dockhand-reason",
                    "still waiting after 23.8 hours: GitHub could not answer: 502",
                ),
                ("dockhand-source", "arn:aws:sqs:us-east-1:123456789012:t-build-requests"),
            ],
        )
        .await;
    stack.dead_letter(&queued_build(), &[]).await;
    stack.dead_letter(&notifier_record(&event), &[]).await;
    stack
        .dead_letter(
            &scheduled().to_string(),
            &[
                (
                    "RULE_ARN",
                    "arn:aws:events:us-east-1:123456789012:rule/t-CleanupScheduleRule-1A2B",
                ),
                ("TARGET_ARN", "arn:aws:lambda:us-east-1:123456789012:function:t-cleanup"),
                ("ERROR_CODE", "NO_PERMISSIONS"),
                ("ERROR_MESSAGE", "EventBridge cannot invoke the function"),
            ],
        )
        .await;
    stack.dead_letter("\u{1b}]0;owned\u{7} not a record", &[]).await;

    let (code, out, err) = stack.run(&lambda, &["--stack", "t"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    for expected in [
        "spawner (plan)  acme/images refs/heads/main 3e8a1f5 -  still waiting after 23.8 hours: GitHub could not answer: 502",
        "spawner (start)  acme/images refs/heads/main 3e8a1f5 docker.io/acme/web  no reason recorded",
        "2026-12-01 19:40Z  notifier  acme/images refs/heads/main 3e8a1f5 docker.io/acme/hello  RetriesExhausted after 3 attempt(s): PortError: SNS Publish: NotFound",
        "2026-12-01 03:00Z  cleanup via rule t-CleanupScheduleRule-1A2B  - - - -  EventBridge could not deliver the event: NO_PERMISSIONS",
        "unknown  - - - -  the body is not JSON",
    ] {
        assert!(out.contains(expected), "{expected}\nnot in:\n{out}");
    }
    assert!(!out.contains('\u{1b}'), "an escape sequence reached the terminal");
    assert!(
        out.ends_with("5 record(s); `make dead-letters REPLAY=1` sends each back where it came from\n"),
        "{out}"
    );
    assert_eq!(stack.visible().await, 5, "a listing leaves every record, visible");
    assert!(lambda.invocations.lock().unwrap().is_empty());
    assert!(stack.drain("requests").await.is_empty());

    // The replay: the notifier still fails; everything else is accepted.
    let (code, out, err) = stack.run(&lambda, &["--stack", "t", "--replay"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("  replayed: t-build-requests"), "{out}");
    assert!(out.contains("  replayed: t-builds"), "{out}");
    assert!(out.contains("  replayed: the cleanup (t-cleanup) runs again"), "{out}");
    assert!(
        out.contains("  not replayed: the notifier failed again (Unhandled): {\"errorType\":\"PortError\""),
        "{out}"
    );
    assert!(out.contains("  not replayed: not a record dockhand writes"), "{out}");
    assert!(out.contains("5 record(s): 3 replayed, 2 left"), "{out}");
    assert!(
        err.contains("2 record(s) were not replayed and stay in the dead-letter queue"),
        "{err}"
    );
    assert_eq!(stack.drain("requests").await, [request()]);
    assert_eq!(stack.drain("builds").await, [queued_build()]);
    {
        let calls = lambda.invocations.lock().unwrap();
        let calls: Vec<(&str, &str, Value)> = calls
            .iter()
            .map(|(f, k, p)| (f.as_str(), k.as_str(), serde_json::from_str(p).unwrap()))
            .collect();
        assert_eq!(
            calls,
            [
                ("t-notifier", "RequestResponse", event.clone()),
                ("t-cleanup", "Event", scheduled())
            ]
        );
    }
    assert_eq!(stack.visible().await, 2, "what stays is visible again at once");

    // Once the notifier works, its record goes too; the unknown one stays for a person.
    lambda.notifier_fails.store(false, Ordering::SeqCst);
    let (code, out, _) = stack.run(&lambda, &["--stack", "t", "--replay"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("  replayed: the notifier (t-notifier) published it"),
        "{out}"
    );
    assert!(out.contains("2 record(s): 1 replayed, 1 left"), "{out}");
    assert_eq!(stack.visible().await, 1);
}

#[tokio::test]
async fn an_empty_queue_says_so_and_a_missing_stack_is_named() {
    let stack = Stack::create("t").await;
    let lambda = Lambda::start(&[]);
    let (code, out, err) = stack.run(&lambda, &["--stack", "t", "--replay"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out, "the dead-letter queue is empty\n");

    let (code, out, err) = stack.run(&lambda, &["--stack", "elsewhere"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("cannot find the queue elsewhere-dead-letters")
            && err.contains("is the stack elsewhere deployed in this region and account?"),
        "{err}"
    );
}

/// A function named otherwise than the stack's (local mode, a renamed deployment) is
/// reached with the flags, and an unknown one leaves the record with Lambda's answer.
#[tokio::test]
async fn the_functions_can_be_named_and_an_unknown_one_keeps_the_record() {
    let stack = Stack::create("t").await;
    let lambda = Lambda::start(&["cleanup"]);
    stack
        .dead_letter(
            &scheduled().to_string(),
            &[(
                "RULE_ARN",
                "arn:aws:events:us-east-1:123456789012:rule/t-CleanupScheduleRule-1A2B",
            )],
        )
        .await;
    let (code, out, _) = stack.run(&lambda, &["--stack", "t", "--replay"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("not replayed: Lambda Invoke of t-cleanup: ResourceNotFoundException"),
        "{out}"
    );
    assert_eq!(stack.visible().await, 1);
    let (code, out, _) = stack.run(&lambda, &["--stack", "t", "--replay", "--cleanup-function", "cleanup"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("replayed: the cleanup (cleanup) runs again"), "{out}");
    assert_eq!(stack.visible().await, 0);
}

/// One run reads at most its limit (1,000 unless `--max` says otherwise) and says that
/// more wait; everything it read is visible again afterwards (released ten to a call), and
/// a limit that is not a multiple of SQS's batch of ten is kept exactly.
#[tokio::test]
async fn a_run_reads_at_most_its_limit_and_says_more_wait() {
    let stack = Stack::create("t").await;
    let lambda = Lambda::start(&[]);
    let body = queued_build();
    for batch in 0..4 {
        let entries = (0..10)
            .map(|i| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("{batch}-{i}"))
                    .message_body(&body)
                    .build()
                    .unwrap()
            })
            .collect();
        stack
            .sqs
            .send_message_batch()
            .queue_url(&stack.queues["dead"])
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
    }
    let (code, out, err) = stack.run(&lambda, &["--stack", "t", "--max", "25"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().filter(|l| l.contains("spawner (start)")).count(), 25);
    assert!(
        out.ends_with("25 record(s) (about 40 in the queue; run again for the rest); `make dead-letters REPLAY=1` sends each back where it came from\n"),
        "{}",
        out.lines().last().unwrap_or_default()
    );
    assert_eq!(stack.visible().await, 40);
    let (code, _, err) = stack.run(&lambda, &["--stack", "t", "--max", "0"]);
    assert_eq!(code, Some(2), "{err}");
}
