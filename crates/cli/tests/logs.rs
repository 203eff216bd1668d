//! `dockhand logs --follow` as an operator runs it: CodeBuild on local mode's stand-in
//! (the hub, `AWS_ENDPOINT_URL_CODEBUILD`), CloudWatch Logs on a moto server
//! (`AWS_ENDPOINT_URL`). The test plays CodeBuild: it moves the build through its phases
//! and writes the log stream while the command follows, each step only once the command
//! has shown the one before, so the command is seen to follow a log that grows.

mod support;

use dockhand_local::hub::{BuildRecord, Hub, State};
use dockhand_testkit::Moto;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{aws_command, start_build};

/// A bound on each wait for the command, so a broken command fails the test instead of
/// hanging it; never a pause the test relies on.
const BOUND: Duration = Duration::from_secs(60);

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

struct Setup {
    moto: Moto,
    hub: Hub,
    logs: aws_sdk_cloudwatchlogs::Client,
    runtime: tokio::runtime::Runtime,
    id: String,
}

impl Setup {
    fn new() -> Setup {
        let moto = Moto::start();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let logs = aws_sdk_cloudwatchlogs::Client::new(&runtime.block_on(moto.sdk_config()));
        // The stack's BuildLogs group.
        runtime
            .block_on(logs.create_log_group().log_group_name("/aws/codebuild/dockhand").send())
            .unwrap();
        let hub = Hub::api(State::default()).unwrap();
        let record = BuildRecord::submitted("dockhand", 1, "", start_build(&[("BUILD_CONTEXT", "web")]), now());
        let id = record.id.clone();
        hub.state.lock().unwrap().builds.push(record);
        Setup {
            moto,
            hub,
            logs,
            runtime,
            id,
        }
    }

    fn build(&self, change: impl FnOnce(&mut BuildRecord)) {
        change(&mut self.hub.state.lock().unwrap().builds[0]);
    }

    fn stream(&self) -> String {
        self.hub.state.lock().unwrap().builds[0].log_stream.clone().unwrap()
    }

    /// CodeBuild writes lines to the build's stream, creating it the first time.
    fn write(&self, lines: &[&str]) {
        let stream = self.stream();
        self.runtime.block_on(async {
            let _ = self
                .logs
                .create_log_stream()
                .log_group_name("/aws/codebuild/dockhand")
                .log_stream_name(&stream)
                .send()
                .await;
            let at = (now() * 1000.0) as i64;
            let events = lines.iter().map(|l| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(at)
                    .message(*l)
                    .build()
                    .unwrap()
            });
            self.logs
                .put_log_events()
                .log_group_name("/aws/codebuild/dockhand")
                .log_stream_name(&stream)
                .set_log_events(Some(events.collect()))
                .send()
                .await
                .unwrap();
        });
    }
}

/// The lines a reader sends, one by one, as the command writes them.
fn lines(reader: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for the next lines the command writes: exactly `expected`.
fn expect(from: &Receiver<String>, expected: &[&str]) {
    for want in expected {
        let got = from
            .recv_timeout(BOUND)
            .unwrap_or_else(|e| panic!("waiting for {want:?}: {e}"));
        assert_eq!(got, *want);
    }
}

/// Waits for a line containing `text`.
fn expect_containing(from: &Receiver<String>, text: &str) {
    let got = from
        .recv_timeout(BOUND)
        .unwrap_or_else(|e| panic!("waiting for {text:?}: {e}"));
    assert!(got.contains(text), "{got:?} does not say {text:?}");
}

fn follow(setup: &Setup, extra: &[&str]) -> (std::process::Child, Receiver<String>, Receiver<String>) {
    let mut args = vec![setup.id.as_str(), "--poll-ms", "50"];
    args.extend(extra);
    let mut child = aws_command(
        "logs",
        &args,
        &[
            ("AWS_ENDPOINT_URL", &setup.moto.endpoint),
            ("AWS_ENDPOINT_URL_CODEBUILD", &setup.hub.url("")),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    (child, out, err)
}

#[test]
fn logs_follow_prints_a_growing_log_once_in_order_and_stops_at_the_end() {
    let setup = Setup::new();
    let (mut child, out, err) = follow(&setup, &["--follow"]);
    // QUEUED: no stream named yet.
    expect_containing(&err, "is QUEUED: its log starts when it is PROVISIONING; waiting");
    // PROVISIONING: the stream is named, not yet written.
    setup.build(|b| b.run(now()));
    expect_containing(&err, "is PROVISIONING: its log stream does not exist yet; waiting");
    // Lines as local mode writes them (no newline) and as CodeBuild does (with one).
    setup.write(&[
        "[Container] 2026/12/02 09:31:12.123 Entering phase DOWNLOAD_SOURCE",
        "two\n",
    ]);
    expect(
        &out,
        &[
            "[Container] 2026/12/02 09:31:12.123 Entering phase DOWNLOAD_SOURCE",
            "two",
        ],
    );
    setup.build(|b| b.enter_phase("BUILD", now()));
    setup.write(&["building", "  indented\ttab"]);
    expect(&out, &["building", "  indented\ttab"]);
    // The last lines and the end at once: the command reads them after it sees the end.
    setup.write(&[
        "pushed",
        "[Container] 2026/12/02 09:31:20.000 Phase complete: POST_BUILD State: SUCCEEDED",
    ]);
    setup.build(|b| b.finish("SUCCEEDED", None, now()));
    expect(
        &out,
        &[
            "pushed",
            "[Container] 2026/12/02 09:31:20.000 Phase complete: POST_BUILD State: SUCCEEDED",
        ],
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // Nothing more: every line once.
    assert!(out.recv_timeout(BOUND).is_err());
}

#[test]
fn logs_follow_ends_with_status_1_for_a_failed_build_and_without_follow_prints_what_is_there() {
    let setup = Setup::new();
    setup.build(|b| b.run(now()));
    setup.write(&["one", "two"]);
    // Without --follow: what the stream holds now, and status 0 while the build runs.
    let (mut child, out, _err) = follow(&setup, &[]);
    expect(&out, &["one", "two"]);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(out.recv_timeout(BOUND).is_err());

    let (mut child, out, _err) = follow(&setup, &["--follow"]);
    expect(&out, &["one", "two"]);
    setup.write(&["error: exit status 2"]);
    setup.build(|b| b.finish("FAILED", None, now()));
    expect(&out, &["error: exit status 2"]);
    assert_eq!(child.wait().unwrap().code(), Some(1));
    assert!(out.recv_timeout(BOUND).is_err());
}
