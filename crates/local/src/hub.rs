//! The one local HTTP endpoint that stands in for what AWS does between the functions:
//!
//! - SNS's HTTP deliveries of build-results, kept and printed as a subscriber would
//!   receive them (build-requests reach the spawner through SQS: [`crate::queues`]).
//! - The CodeBuild API the spawner and the cleanup call (`AWS_ENDPOINT_URL_CODEBUILD`):
//!   StartBuild with idempotency tokens and CodeBuild's concurrency rules,
//!   ListBuildsForProject, BatchGetBuilds and BatchDeleteBuilds. A started build runs the
//!   very buildspec it was given with the local runner, and its state changes go to the
//!   notifier as EventBridge would send them; the final one also goes to the builds
//!   queue, the build-state rule's second target, once BatchGetBuilds answers the build
//!   complete. StartBuild's input is read as the spawner
//!   writes it (core's `StartBuildRequest`, by CodeBuild's member names); one that does
//!   not read as such is answered `InvalidInputException` naming what is wrong.
//!
//! Concurrency, as https://docs.aws.amazon.com/codebuild/latest/userguide/builds-working.html
//! documents it: with a project concurrent build limit, StartBuild "returns an error" once
//! that many builds run; without one, builds beyond the account's concurrency wait in a
//! queue of at most five times that concurrency, and StartBuild answers with an error when
//! the queue is full. The error code is `AccountLimitExceededException`, the one limit
//! error StartBuild documents
//! (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html#API_StartBuild_Errors).
//! The messages are not documented: the queue's is the text AWS answers in published error
//! reports ("Cannot have more than N builds in queue for the account"), the project
//! limit's is this stand-in's own; dockhand reads the code, never the message. A project
//! limit above the account's concurrency is refused, as CreateProject refuses it.

use crate::lambda::{Functions, InvokeFailure};
use crate::strings;
use dockhand_core::start_build::StartBuildRequest;
use dockhand_runner::{BuildSettings, BuildStatus, Buildspec, EnvironmentVariable, PhaseContext, PhaseType};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// CodeBuild honours an idempotency token for this long.
const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(5 * 60);
/// ListBuildsForProject answers at most this many ids per page.
const LIST_PAGE: usize = 100;
/// EventBridge's asynchronous invocation of the notifier: the first attempt and two retries
/// (the stack's MaximumRetryAttempts), then the dead-letter queue.
const ASYNC_ATTEMPTS: usize = 3;

/// CodeBuild's concurrency for local mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The project's concurrent build limit; `None` for none (builds queue instead).
    pub project: Option<usize>,
    /// The account's concurrently running builds.
    pub account: usize,
}

impl Default for Limits {
    /// The stack's default project limit, on an account that runs that many.
    fn default() -> Self {
        Limits {
            project: Some(5),
            account: 5,
        }
    }
}

impl Limits {
    pub fn check(&self) -> Result<(), String> {
        if self.account == 0 {
            return Err("the account concurrency must be at least 1".into());
        }
        match self.project {
            Some(0) => Err("the project concurrency must be at least 1".into()),
            Some(p) if p > self.account => Err(format!(
                "Project-level concurrent build limit cannot exceed the account-level concurrent build limit of {} (CodeBuild's own check)",
                self.account
            )),
            _ => Ok(()),
        }
    }
}

/// One build, as CodeBuild keeps it.
#[derive(Debug, Clone)]
pub struct BuildRecord {
    pub id: String,
    pub arn: String,
    pub number: u64,
    pub project: String,
    pub token: String,
    /// The StartBuild request as received.
    pub request: StartBuildRequest,
    pub status: String,
    /// False while it waits in CodeBuild's queue for the account's concurrency.
    pub running: bool,
    pub start: f64,
    pub end: Option<f64>,
    pub complete: bool,
    pub log: String,
    pub failed_phase: Option<String>,
    /// The buildspec's `env.exported-variables` and their values, once complete.
    pub exported_variables: Vec<(String, String)>,
    /// The phases so far, oldest first; the last one without an end is the current one.
    pub phases: Vec<Phase>,
    /// The build's log stream in `/aws/codebuild/PROJECT`, once it runs.
    pub log_stream: Option<String>,
    started_at: Instant,
}

/// One phase of a build, as `Build.phases` reports it
/// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BuildPhase.html): a
/// phase under way has a start only; COMPLETED never ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub phase_type: String,
    pub start: f64,
    pub end: Option<f64>,
    /// SUCCEEDED, FAILED, …, once ended.
    pub status: Option<String>,
}

impl Phase {
    fn to_json(&self) -> Value {
        let mut phase = json!({ "phaseType": self.phase_type, "startTime": self.start });
        if let Some(end) = self.end {
            phase["endTime"] = json!(end);
            // Whole seconds between the whole-second times, as the runner counts them.
            phase["durationInSeconds"] = json!((end.floor() - self.start.floor()).max(0.0) as i64);
        }
        if let Some(status) = &self.status {
            phase["phaseStatus"] = json!(status);
        }
        phase
    }
}

/// CodeBuild's default queued timeout (8 hours), the stack's too: a build waits in the
/// queue at most this long.
pub const QUEUED_TIMEOUT_MINUTES: u32 = 480;

impl BuildRecord {
    /// The value of one of the build's environment overrides.
    pub fn env(&self, name: &str) -> Option<String> {
        self.request.env(name).map(str::to_owned)
    }

    /// A build StartBuild accepted at `now`: SUBMITTED, then QUEUED until a builder takes
    /// it ([`BuildRecord::run`]).
    pub fn submitted(project: &str, number: u64, token: &str, request: StartBuildRequest, now: f64) -> BuildRecord {
        let id = format!("{project}:{}", dockhand_runner::random_uuid());
        BuildRecord {
            arn: format!("arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{id}"),
            id,
            number,
            project: project.to_owned(),
            token: token.to_owned(),
            request,
            status: "IN_PROGRESS".into(),
            running: false,
            start: now,
            end: None,
            complete: false,
            log: String::new(),
            failed_phase: None,
            exported_variables: vec![],
            phases: vec![
                Phase {
                    phase_type: "SUBMITTED".into(),
                    start: now,
                    end: Some(now),
                    status: Some("SUCCEEDED".into()),
                },
                Phase {
                    phase_type: "QUEUED".into(),
                    start: now,
                    end: None,
                    status: None,
                },
            ],
            log_stream: None,
            started_at: Instant::now(),
        }
    }

    /// A builder took the build at `now`: QUEUED ends, PROVISIONING begins, and the build
    /// has its log stream, named by its id's UUID as the runner names it.
    pub fn run(&mut self, now: f64) {
        self.running = true;
        self.log_stream = self.id.rsplit(':').next().map(str::to_owned);
        self.enter_phase("PROVISIONING", now);
    }

    /// The build went on to `phase` at `now`: the phase under way (if another) ends.
    pub fn enter_phase(&mut self, phase: &str, now: f64) {
        if let Some(last) = self.phases.last_mut()
            && last.end.is_none()
        {
            if last.phase_type == phase {
                return;
            }
            last.end = Some(now);
            last.status.get_or_insert_with(|| "SUCCEEDED".into());
        }
        self.phases.push(Phase {
            phase_type: phase.into(),
            start: now,
            end: None,
            status: None,
        });
    }

    /// `phase` ended at `now` with `status`.
    pub fn end_phase(&mut self, phase: &str, status: &str, now: f64) {
        if let Some(p) = self
            .phases
            .iter_mut()
            .rev()
            .find(|p| p.phase_type == phase && p.end.is_none())
        {
            p.end = Some(now);
            p.status = Some(status.into());
        }
    }

    /// The build ended at `now` with `status`; `phases`, the runner's record from
    /// PROVISIONING on, replace what was followed while it ran.
    pub fn finish(&mut self, status: &str, phases: Option<Vec<Phase>>, now: f64) {
        if let Some(phases) = phases {
            self.phases
                .retain(|p| p.phase_type == "SUBMITTED" || p.phase_type == "QUEUED");
            self.phases.extend(phases);
        }
        if self.phases.last().is_none_or(|p| p.phase_type != "COMPLETED") {
            self.enter_phase("COMPLETED", now);
        }
        self.status = status.into();
        self.end = Some(now);
        self.complete = true;
        self.running = false;
    }

    /// The phase under way: the last one.
    pub fn current_phase(&self) -> &str {
        self.phases.last().map_or("SUBMITTED", |p| p.phase_type.as_str())
    }

    /// The build as BatchGetBuilds answers it
    /// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_Build.html):
    /// `currentPhase` and `phases` as the build moves (SUBMITTED, QUEUED while it waits for
    /// a builder, PROVISIONING … the buildspec phases … FINALIZING, COMPLETED), `logs` once
    /// it has a stream, `queuedTimeoutInMinutes` and `timeoutInMinutes`. A build with
    /// `NO_SOURCE`, as the spawner starts them, has no `sourceVersion`.
    fn to_json(&self) -> Value {
        let mut build = json!({
            "id": self.id,
            "arn": self.arn,
            "buildNumber": self.number,
            "projectName": self.project,
            "startTime": self.start,
            "buildStatus": self.status,
            "buildComplete": self.complete,
            "currentPhase": self.current_phase(),
            "phases": self.phases.iter().map(Phase::to_json).collect::<Vec<_>>(),
            "timeoutInMinutes": self.request.timeout_in_minutes_override,
            "queuedTimeoutInMinutes": QUEUED_TIMEOUT_MINUTES,
            // What BatchGetBuilds answers of a build's environment: type, image and compute
            // type are always there (the SDK refuses a ProjectEnvironment without them).
            "environment": {
                "type": "LINUX_CONTAINER",
                "image": "dockhand-local",
                "computeType": self.request.compute_type_override,
                "privilegedMode": self.request.privileged_mode_override,
                "environmentVariables": self.request.environment_variables_override,
            },
        });
        if let Some(end) = self.end {
            build["endTime"] = json!(end);
        }
        // Build.logs, a LogsLocation
        // (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_LogsLocation.html).
        if let Some(stream) = &self.log_stream {
            let group = format!("/aws/codebuild/{}", self.project);
            build["logs"] = json!({
                "groupName": group,
                "streamName": stream,
                "deepLink": format!(
                    "https://console.aws.amazon.com/cloudwatch/home?region={REGION}#logEvent:group={group};stream={stream}"
                ),
                "cloudWatchLogs": { "status": "ENABLED", "groupName": group, "streamName": stream },
            });
        }
        // Build.exportedEnvironmentVariables, a list of {name, value}
        // (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ExportedEnvironmentVariable.html).
        // Their values are final only once the build is: "After the post_build phase ends,
        // the value of exported variables cannot change", so a build in progress has none.
        if self.complete {
            build["exportedEnvironmentVariables"] = self
                .exported_variables
                .iter()
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect();
        }
        build
    }
}

/// A message delivered to the build-results topic's subscriber.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub subject: String,
    pub message: String,
}

#[derive(Default)]
pub struct State {
    pub builds: Vec<BuildRecord>,
    pub notifications: Vec<Delivered>,
    /// Notifier invocations that failed every attempt (EventBridge's dead letters).
    pub dead_letters: Vec<String>,
    /// StartBuild calls answered AccountLimitExceededException.
    pub refused_for_capacity: usize,
    /// The most builds that ran at once.
    pub peak_running: usize,
    pub limits: Limits,
    /// Builds accepted and not yet finished.
    busy: usize,
}

/// Where the hub prints what happens.
pub type Say = Arc<dyn Fn(&str) + Send + Sync>;

/// Reads one SSM parameter's decrypted value.
pub type ParameterReader = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// What the builds need from the rest of local mode.
pub struct BuildEnvironment {
    /// Where each build's source directory is made.
    pub dir: PathBuf,
    pub region: String,
    pub account: String,
    /// The build image's environment: PATH with docker and aws, endpoints, credentials.
    pub process_env: Vec<(String, String)>,
    /// Resolves `env.parameter-store` names, as CodeBuild does before the build.
    pub parameter: ParameterReader,
    /// Sends a body to the dead-letter queue: the notifier's on-failure destination.
    pub dead_letter: QueueSender,
    /// Sends a body to the builds queue: the build-state rule's second target, which gets
    /// the final state changes (SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED).
    pub build_events: QueueSender,
    /// Appends lines to a log stream of CloudWatch Logs, as CodeBuild writes each build's
    /// log to `/aws/codebuild/<project>`.
    pub logs: LogWriter,
}

/// Appends lines to the stream `(group, stream)`, creating it the first time.
pub type LogWriter = Arc<dyn Fn(&str, &str, &[String]) -> Result<(), String> + Send + Sync>;

/// A build's log as the runner writes it, shared with what streams it to CloudWatch Logs.
#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The build's log as the runner writes it, watched for the lines it writes as each phase
/// begins and ends (`[Container] 2026/12/02 09:31:12.123 Entering phase BUILD`, `... Phase
/// complete: BUILD State: SUCCEEDED`, as in CodeBuild's own logs), so that BatchGetBuilds
/// answers the phase under way while the build runs. Only whole lines starting with
/// `[Container] ` count; once the build ends, the runner's record of its phases replaces
/// what was followed ([`BuildRecord::finish`]).
struct PhaseWatch<'a> {
    log: SharedLog,
    /// The line being written.
    line: Vec<u8>,
    state: &'a Mutex<State>,
    id: &'a str,
}

/// What a `[Container]` line says of the phases: `(phase, None)` entering it,
/// `(phase, Some(status))` ending it.
fn phase_line(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix("[Container] ")?;
    // The date and the time, then the message.
    let message = rest.splitn(3, ' ').nth(2)?.trim_end();
    if let Some(phase) = message.strip_prefix("Entering phase ") {
        return Some((phase, None));
    }
    let (phase, status) = message.strip_prefix("Phase complete: ")?.split_once(" State: ")?;
    Some((phase, Some(status)))
}

impl std::io::Write for PhaseWatch<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.log.write_all(buf)?;
        for byte in buf {
            if *byte != b'\n' {
                self.line.push(*byte);
                continue;
            }
            let line = String::from_utf8_lossy(&self.line).into_owned();
            self.line.clear();
            if let Some((phase, ended)) = phase_line(&line) {
                let mut state = self.state.lock().expect("state");
                if let Some(b) = state.builds.iter_mut().find(|b| b.id == self.id) {
                    match ended {
                        None => b.enter_phase(phase, now()),
                        Some(status) => b.end_phase(phase, status, now()),
                    }
                }
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What of a build's log has reached CloudWatch Logs. CodeBuild sends the log while the
/// build runs, so by the time a state change reaches its targets the lines before it are
/// in the stream; here every complete line is sent before each state change goes out.
struct LogStream {
    log: SharedLog,
    group: String,
    stream: String,
    sent: usize,
}

impl LogStream {
    /// Sends the complete lines not sent yet (all of them when `end`).
    fn send(&mut self, writer: &LogWriter, end: bool) -> Result<(), String> {
        let text = self.log.0.lock().expect("log").clone();
        let upto = if end {
            text.len()
        } else {
            text[self.sent..]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(self.sent, |i| self.sent + i + 1)
        };
        if upto <= self.sent {
            return Ok(());
        }
        let lines: Vec<String> = String::from_utf8_lossy(&text[self.sent..upto])
            .lines()
            .map(str::to_owned)
            .collect();
        self.sent = upto;
        writer(&self.group, &self.stream, &lines)
    }
}

/// Sends one message body to a queue.
pub type QueueSender = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

pub struct Hub {
    pub state: Arc<Mutex<State>>,
    pub port: u16,
    server: Arc<tiny_http::Server>,
    threads: Vec<std::thread::JoinHandle<()>>,
    builds: Option<Sender<String>>,
}

/// The hub's listening socket, bound before anything that needs its address starts.
pub fn bind() -> Result<(tiny_http::Server, u16), String> {
    let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| format!("cannot start the local endpoint: {e}"))?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .ok_or("the local endpoint has no port")?;
    Ok((server, port))
}

impl Hub {
    pub fn start(
        (server, port): (tiny_http::Server, u16),
        functions: Arc<Functions>,
        environment: BuildEnvironment,
        limits: Limits,
        say: Say,
    ) -> Hub {
        let server = Arc::new(server);
        let state = Arc::new(Mutex::new(State {
            limits,
            ..State::default()
        }));
        let (build_tx, build_rx) = channel::<String>();
        let build_rx = Arc::new(Mutex::new(build_rx));
        let environment = Arc::new(environment);
        let mut threads = Vec::new();
        {
            let (server, state, say) = (server.clone(), state.clone(), say.clone());
            let build_tx = build_tx.clone();
            threads.push(std::thread::spawn(move || {
                serve(&server, &state, &build_tx, &say);
            }));
        }
        // As many builders as builds may run at once: the account's concurrency.
        for _ in 0..limits.account {
            let (state, say, functions, environment, queue) = (
                state.clone(),
                say.clone(),
                functions.clone(),
                environment.clone(),
                build_rx.clone(),
            );
            threads.push(std::thread::spawn(move || {
                run_builds(&queue, &functions, &environment, &state, &say);
            }));
        }
        Hub {
            state,
            port,
            server,
            threads,
            builds: Some(build_tx),
        }
    }

    /// The CodeBuild API alone over `state`, without builders: builds StartBuild accepts
    /// stay QUEUED. For tests that move builds through their phases themselves, with the
    /// methods the builders use ([`BuildRecord::run`], [`BuildRecord::enter_phase`],
    /// [`BuildRecord::finish`]).
    pub fn api(state: State) -> Result<Hub, String> {
        let (server, port) = bind()?;
        let server = Arc::new(server);
        let state = Arc::new(Mutex::new(state));
        let (build_tx, _) = channel::<String>();
        let serving = {
            let (server, state, build_tx) = (server.clone(), state.clone(), build_tx.clone());
            let say: Say = Arc::new(|_| {});
            std::thread::spawn(move || serve(&server, &state, &build_tx, &say))
        };
        Ok(Hub {
            state,
            port,
            server,
            threads: vec![serving],
            builds: Some(build_tx),
        })
    }

    /// Builds accepted and not finished.
    pub fn busy(&self) -> usize {
        self.state.lock().expect("state").busy
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn builds(&self) -> Vec<BuildRecord> {
        self.state.lock().expect("state").builds.clone()
    }

    pub fn notifications(&self) -> Vec<Delivered> {
        self.state.lock().expect("state").notifications.clone()
    }

    pub fn dead_letters(&self) -> Vec<String> {
        self.state.lock().expect("state").dead_letters.clone()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.builds.take();
        self.server.unblock();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn serve(server: &tiny_http::Server, state: &Mutex<State>, builds: &Sender<String>, say: &Say) {
    for mut request in server.incoming_requests() {
        let mut body = String::new();
        let _ = request.as_reader().read_to_string(&mut body);
        let target = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("X-Amz-Target"))
            .map(|h| h.value.as_str().to_owned());
        let url = request.url().to_owned();
        let (status, answer) = match (url.as_str(), target) {
            ("/sns/build-results", _) => sns_delivery(&body, |event| {
                let sns = &event["Records"][0]["Sns"];
                let delivered = Delivered {
                    subject: sns["Subject"].as_str().unwrap_or_default().to_owned(),
                    message: sns["Message"].as_str().unwrap_or_default().to_owned(),
                };
                say(&format!(
                    "== notification (email and SMS subscribers get this)\n   Subject: {}\n{}",
                    delivered.subject,
                    indent(&delivered.message)
                ));
                state.lock().expect("state").notifications.push(delivered);
            }),
            (_, Some(target)) => match target.strip_prefix("CodeBuild_20161006.") {
                Some(operation) => codebuild(operation, &body, state, builds, say),
                None => client_error(
                    "UnknownOperationException",
                    &format!("not a CodeBuild operation: {target}"),
                ),
            },
            _ => (404, json!({ "message": format!("nothing here: {url}") })),
        };
        let response = tiny_http::Response::from_string(answer.to_string())
            .with_status_code(status)
            .with_header(
                "Content-Type: application/x-amz-json-1.1"
                    .parse::<tiny_http::Header>()
                    .expect("a valid header"),
            );
        let _ = request.respond(response);
    }
}

/// An SNS HTTP delivery, as the Lambda event SNS would have built for a subscribed function.
fn sns_delivery(body: &str, accept: impl FnOnce(Value)) -> (u16, Value) {
    let Ok(message) = serde_json::from_str::<Value>(body) else {
        return (400, json!({ "message": "not an SNS delivery" }));
    };
    if message["Type"] != "Notification" {
        // Subscription confirmations: moto confirms HTTP subscriptions by itself.
        return (200, json!({}));
    }
    let topic = message["TopicArn"].as_str().unwrap_or_default().to_owned();
    accept(json!({
        "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": format!("{topic}:local"),
            "Sns": message,
        }]
    }));
    (200, json!({}))
}

fn client_error(kind: &str, message: &str) -> (u16, Value) {
    (400, json!({ "__type": kind, "message": message }))
}

fn codebuild(operation: &str, body: &str, state: &Mutex<State>, builds: &Sender<String>, say: &Say) -> (u16, Value) {
    let Ok(input) = serde_json::from_str::<Value>(body) else {
        return client_error("InvalidInputException", "the request is not JSON");
    };
    let mut state = state.lock().expect("state");
    match operation {
        "StartBuild" => {
            let input = match serde_json::from_value::<StartBuildRequest>(input) {
                Ok(input) => input,
                Err(e) => return client_error("InvalidInputException", &format!("StartBuild: {e}")),
            };
            let project = input.project_name.clone();
            let token = input.idempotency_token.clone();
            if project.is_empty() {
                return client_error("InvalidInputException", "projectName is required");
            }
            if !token.is_empty()
                && let Some(earlier) = state
                    .builds
                    .iter()
                    .find(|b| b.token == token && b.started_at.elapsed() < IDEMPOTENCY_WINDOW)
            {
                if earlier.request != input {
                    return client_error(
                        "IdempotentParameterMismatchException",
                        "the idempotency token was used with different parameters",
                    );
                }
                say(&format!(
                    "== CodeBuild: StartBuild repeated with the same token: {}",
                    earlier.id
                ));
                return (200, json!({ "build": earlier.to_json() }));
            }
            let limits = state.limits;
            let active = |b: &&BuildRecord| !b.complete;
            let project_active = state
                .builds
                .iter()
                .filter(active)
                .filter(|b| b.project == project)
                .count();
            let running = state.builds.iter().filter(active).filter(|b| b.running).count();
            let queued = state.builds.iter().filter(active).filter(|b| !b.running).count();
            if let Some(limit) = limits.project
                && project_active >= limit
            {
                state.refused_for_capacity += 1;
                return client_error(
                    "AccountLimitExceededException",
                    &format!("Cannot have more than {limit} active builds for the project {project}"),
                );
            }
            if running >= limits.account && queued >= 5 * limits.account {
                state.refused_for_capacity += 1;
                return client_error(
                    "AccountLimitExceededException",
                    &format!(
                        "Cannot have more than {} builds in queue for the account",
                        5 * limits.account
                    ),
                );
            }
            let number = state.builds.iter().filter(|b| b.project == project).count() as u64 + 1;
            let record = BuildRecord::submitted(&project, number, &token, input, now());
            let id = record.id.clone();
            let answer = json!({ "build": record.to_json() });
            state.builds.push(record);
            state.busy += 1;
            let _ = builds.send(id);
            (200, answer)
        }
        "ListBuildsForProject" => list_builds(&state, &input),
        "BatchGetBuilds" => {
            let ids = strings(&input["ids"]);
            if ids.len() > 100 {
                return client_error("InvalidInputException", "BatchGetBuilds takes at most 100 ids");
            }
            let (found, missing): (Vec<&String>, Vec<&String>) =
                ids.iter().partition(|id| state.builds.iter().any(|b| &b.id == *id));
            let builds: Vec<Value> = found
                .iter()
                .filter_map(|id| state.builds.iter().find(|b| &b.id == *id))
                .map(BuildRecord::to_json)
                .collect();
            (200, json!({ "builds": builds, "buildsNotFound": missing }))
        }
        "BatchDeleteBuilds" => {
            let ids = strings(&input["ids"]);
            if ids.len() > 100 {
                return client_error("InvalidInputException", "BatchDeleteBuilds takes at most 100 ids");
            }
            // Builds are named by ARN in the answer, as in the example of
            // https://docs.aws.amazon.com/codebuild/latest/userguide/delete-builds.html.
            let arn = |id: &str| format!("arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{id}");
            let mut deleted = Vec::new();
            let mut not_deleted = Vec::new();
            for id in ids {
                match state.builds.iter().position(|b| b.id == id) {
                    Some(i) if state.builds[i].complete => {
                        state.builds.remove(i);
                        deleted.push(arn(&id));
                    }
                    Some(_) => not_deleted.push(json!({ "id": arn(&id), "statusCode": "BUILD_IN_PROGRESS" })),
                    None => not_deleted.push(json!({ "id": arn(&id), "statusCode": "BUILD_NOT_FOUND" })),
                }
            }
            (
                200,
                json!({ "buildsDeleted": deleted, "buildsNotDeleted": not_deleted }),
            )
        }
        other => client_error(
            "InvalidInputException",
            &format!("local mode does not implement {other}"),
        ),
    }
}

/// ListBuildsForProject
/// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ListBuildsForProject.html):
/// pages of at most 100 ids by build number, newest first unless `sortOrder` is
/// `ASCENDING`. The order is chosen on the first page and the `nextToken` keeps it: a
/// `sortOrder` with a `nextToken` is refused with `InvalidInputException`, as CodeBuild
/// refuses it (https://github.com/aws/aws-cli/issues/5863; the messages are this
/// stand-in's own), and so is a token it did not issue. Its tokens are offsets, which
/// deleting builds from earlier pages shifts, as CodeBuild's opaque tokens may.
fn list_builds(state: &State, input: &Value) -> (u16, Value) {
    let project = input["projectName"].as_str().unwrap_or_default();
    let sort = &input["sortOrder"];
    let (ascending, start) = match input["nextToken"].as_str() {
        Some(_) if !sort.is_null() => {
            return client_error(
                "InvalidInputException",
                "sortOrder cannot be given with a nextToken: the token keeps the first page's order",
            );
        }
        Some(token) => match parse_list_token(token) {
            Some(place) => place,
            None => return client_error("InvalidInputException", &format!("invalid nextToken {token:?}")),
        },
        None => match sort.as_str() {
            None if sort.is_null() => (false, 0),
            Some("DESCENDING") => (false, 0),
            Some("ASCENDING") => (true, 0),
            _ => {
                return client_error(
                    "InvalidInputException",
                    &format!("sortOrder {sort} is not ASCENDING or DESCENDING"),
                );
            }
        },
    };
    // Oldest first: the order they were started in, which is their build numbers'.
    let mut ids: Vec<&BuildRecord> = state.builds.iter().filter(|b| b.project == project).collect();
    if !ascending {
        ids.reverse();
    }
    let page: Vec<&str> = ids.iter().skip(start).take(LIST_PAGE).map(|b| b.id.as_str()).collect();
    let mut answer = json!({ "ids": page });
    if start + LIST_PAGE < ids.len() {
        let order = if ascending { "ASCENDING" } else { "DESCENDING" };
        answer["nextToken"] = json!(format!("{order}:{}", start + LIST_PAGE));
    }
    (200, answer)
}

/// The order and offset a token of [`list_builds`] stands for.
fn parse_list_token(token: &str) -> Option<(bool, usize)> {
    let (order, offset) = token.split_once(':')?;
    let ascending = match order {
        "ASCENDING" => true,
        "DESCENDING" => false,
        _ => return None,
    };
    Some((ascending, offset.parse().ok()?))
}

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   | {l}")).collect::<Vec<_>>().join("\n")
}

/// CodeBuild itself: one builder of the account's concurrency. Takes the oldest build
/// waiting, runs it with the local runner, and sends its state changes to the notifier.
fn run_builds(
    queue: &Mutex<Receiver<String>>,
    functions: &Functions,
    environment: &BuildEnvironment,
    state: &Mutex<State>,
    say: &Say,
) {
    loop {
        let next = queue.lock().expect("queue").recv();
        let Ok(id) = next else { return };
        let record = {
            let mut state = state.lock().expect("state");
            let Some(b) = state.builds.iter_mut().find(|b| b.id == id) else {
                continue;
            };
            b.run(now());
            let record = b.clone();
            let running = state.builds.iter().filter(|b| b.running && !b.complete).count();
            state.peak_running = state.peak_running.max(running);
            record
        };
        let ran = run_one(&record, functions, environment, state, say);
        {
            let mut state = state.lock().expect("state");
            if let Some(b) = state.builds.iter_mut().find(|b| b.id == id) {
                b.finish(&ran.status, Some(ran.phases), now());
                b.log = ran.log;
                b.failed_phase = ran.failed_phase;
                b.exported_variables = ran.exported_variables;
            }
        }
        // Once BatchGetBuilds answers the build complete, with its exported variables.
        if let Some(event) = ran.final_event {
            send_build_event(&event, environment, state, say);
        }
        state.lock().expect("state").busy -= 1;
    }
}

/// The build-state rule's second target: the builds queue, for the final states only.
/// EventBridge puts the matched event itself, as JSON, in the message body: "If none
/// [of Input, InputPath, InputTransformer] is specified, then the entire event is passed
/// to the target in JSON form"
/// (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Target.html), and
/// "one queue message carries one event"
/// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-custom-bus-target-sqs.html).
/// A message that cannot be sent is said and kept with the dead letters, never dropped
/// silently.
fn send_build_event(event: &Value, environment: &BuildEnvironment, state: &Mutex<State>, say: &Say) {
    const FINAL: [&str; 5] = ["SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"];
    if !FINAL.contains(&event["detail"]["build-status"].as_str().unwrap_or_default()) {
        return;
    }
    if let Err(why) = (environment.build_events)(&event.to_string()) {
        say(&format!(
            "== the final state change did not reach the builds queue: {why}"
        ));
        state
            .lock()
            .expect("state")
            .dead_letters
            .push(format!("builds queue: {why}"));
    }
}

/// What running one build gave.
struct Ran {
    status: String,
    /// The runner's phases from PROVISIONING on.
    phases: Vec<Phase>,
    log: String,
    failed_phase: Option<String>,
    exported_variables: Vec<(String, String)>,
    /// The final state change the notifier got.
    final_event: Option<Value>,
}

fn run_one(
    record: &BuildRecord,
    functions: &Functions,
    environment: &BuildEnvironment,
    state: &Mutex<State>,
    say: &Say,
) -> Ran {
    let request = &record.request;
    let context = record.env("BUILD_CONTEXT").unwrap_or_else(|| ".".into());
    say(&format!("== build {} ({context}) started", record.id));
    let source_dir = environment.dir.join(record.id.replace(':', "-"));
    let mut settings = BuildSettings::new(record.project.clone(), source_dir.join("src"));
    // The id StartBuild answered is the id the events carry.
    settings.build_uuid = record.id.rsplit(':').next().map(str::to_owned);
    settings.build_number = record.number;
    settings.region = environment.region.clone();
    settings.account_id = environment.account.clone();
    settings.compute_type = request.compute_type_override.clone();
    settings.privileged = request.privileged_mode_override;
    settings.timeout_minutes = request.timeout_in_minutes_override;
    settings.image = "dockhand-local (this machine)".into();
    settings.initiator = "dockhand-local".into();
    settings.overrides = request
        .environment_variables_override
        .iter()
        .map(|v| EnvironmentVariable::new(&v.name, &v.value))
        .collect();
    settings.process_env = environment.process_env.clone();
    // What CodeBuild finds wrong before the buildspec runs fails the build at once ("the
    // build might fail immediately" for a buildspec that is not valid YAML:
    // https://docs.aws.amazon.com/codebuild/latest/userguide/getting-started-cli-create-build-spec.html),
    // in DOWNLOAD_SOURCE with `YAML_FILE_ERROR`, the code published error reports show; the
    // build still ends with its state changes, so whatever waits on it hears of it.
    let mut refused: Option<PhaseContext> = None;
    let spec = match Buildspec::parse(&request.buildspec_override) {
        Ok(spec) => Some(spec),
        Err(e) => {
            say(&format!("   the buildspec cannot run: {e}"));
            refused = Some(PhaseContext {
                status_code: "YAML_FILE_ERROR".into(),
                message: e.to_string(),
            });
            None
        }
    };
    let mut parameters = Vec::new();
    for (variable, name) in spec.as_ref().map(|s| s.parameter_store()).unwrap_or_default() {
        match (environment.parameter)(name) {
            Ok(value) => parameters.push((variable.clone(), value)),
            Err(e) => {
                let message = format!("Phase context status code: Decrypted Variables Error Message: {e}");
                say(&format!("   {message}"));
                refused = Some(PhaseContext {
                    status_code: "Decrypted Variables Error".into(),
                    message: e,
                });
                break;
            }
        }
    }
    settings.parameters = parameters;
    let log = SharedLog::default();
    let mut stream = LogStream {
        log: log.clone(),
        group: settings.log_group.clone(),
        stream: String::new(),
        sent: 0,
    };
    let mut notify = |event: &Value| {
        let logs = &event["detail"]["additional-information"]["logs"];
        stream.stream = logs["stream-name"].as_str().unwrap_or_default().to_owned();
        if let Err(why) = stream.send(&environment.logs, false) {
            say(&format!("== the build's log did not reach CloudWatch Logs: {why}"));
        }
        if let Err(e) = send_state_change(functions, event) {
            say(&format!(
                "== dead letter: the notifier failed on a state change: {}",
                e.message
            ));
            state
                .lock()
                .expect("state")
                .dead_letters
                .push(format!("notifier: {}", e.message));
            let record = invocation_record(event, &e);
            if let Err(why) = (environment.dead_letter)(&record.to_string()) {
                say(&format!("== the invocation record was lost: {why}"));
            }
        }
    };
    let mut writer = PhaseWatch {
        log: log.clone(),
        line: Vec::new(),
        state,
        id: &record.id,
    };
    let result = match (&spec, refused) {
        (Some(spec), None) => dockhand_runner::run(spec, &settings, &mut writer, &mut notify),
        (_, Some(context)) => {
            dockhand_runner::run_refused(&settings, PhaseType::DownloadSource, context, &mut writer, &mut notify)
        }
        (None, None) => unreachable!("a buildspec that does not read is refused"),
    };
    if let Err(why) = stream.send(&environment.logs, true) {
        say(&format!(
            "== the end of the build's log did not reach CloudWatch Logs: {why}"
        ));
    }
    let log = String::from_utf8_lossy(&log.0.lock().expect("log")).into_owned();
    say(&format!("== build log of {}\n{}", record.id, indent(&log)));
    let failed = result.failed_phase().map(|p| p.phase_type.as_str().to_owned());
    let status = match result.status {
        BuildStatus::Succeeded => "SUCCEEDED",
        BuildStatus::Failed => "FAILED",
    }
    .to_owned();
    say(&format!("== build {} ({context}): {status}", record.id));
    let _ = std::fs::remove_dir_all(&source_dir);
    let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let phases = result
        .phases
        .iter()
        .filter(|p| !matches!(p.phase_type, PhaseType::Submitted | PhaseType::Queued))
        .map(|p| Phase {
            phase_type: p.phase_type.as_str().into(),
            start: seconds(p.start),
            end: p.end.map(seconds),
            status: p.status.map(|s| s.as_str().into()),
        })
        .collect();
    Ran {
        status,
        phases,
        log,
        failed_phase: failed,
        exported_variables: result.exported_variables,
        final_event: result.events.last().cloned(),
    }
}

/// EventBridge's delivery to the notifier: asynchronous, retried as the stack configures.
fn send_state_change(functions: &Functions, event: &Value) -> Result<(), InvokeFailure> {
    let payload = event.to_string();
    let mut last = None;
    for _ in 0..ASYNC_ATTEMPTS {
        match functions.invoke_answer("notifier", payload.as_bytes()) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// What Lambda sends to the on-failure destination when an asynchronous invocation failed
/// every attempt: the invocation record of
/// https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html, with
/// the event as `requestPayload` and the function's error document as `responsePayload`.
fn invocation_record(event: &Value, failure: &InvokeFailure) -> Value {
    let secs = now();
    json!({
        "version": "1.0",
        "timestamp": dockhand_core::time::rfc3339_millis(secs as i64, (secs.fract() * 1000.0) as u32),
        "requestContext": {
            "requestId": dockhand_runner::random_uuid(),
            "functionArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:notifier:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": ASYNC_ATTEMPTS,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": failure.error.clone().unwrap_or_else(|| json!({
            "errorType": "Runtime.Unknown",
            "errorMessage": failure.message,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` builds of `dockhand`, numbered from 1 in the order they started, and one of
    /// another project; build 3 still running.
    fn state(n: u64) -> Mutex<State> {
        let record = |project: &str, number: u64| BuildRecord {
            id: format!("{project}:{number:04}"),
            arn: String::new(),
            number,
            project: project.into(),
            token: String::new(),
            request: start_build(project, ""),
            status: if number == 3 { "IN_PROGRESS" } else { "SUCCEEDED" }.into(),
            running: number == 3,
            start: number as f64,
            end: (number != 3).then_some(number as f64 + 1.0),
            complete: number != 3,
            log: String::new(),
            failed_phase: None,
            exported_variables: vec![("DOCKHAND_IMAGE_DIGEST".into(), format!("sha256:{number:064}"))],
            phases: vec![],
            log_stream: None,
            started_at: Instant::now(),
        };
        let mut builds: Vec<BuildRecord> = (1..=n).map(|i| record("dockhand", i)).collect();
        builds.insert(5, record("other", 1));
        Mutex::new(State {
            builds,
            ..State::default()
        })
    }

    /// A StartBuild of `project` as the spawner sends it, with idempotency token `token`.
    fn start_build(project: &str, token: &str) -> StartBuildRequest {
        StartBuildRequest {
            project_name: project.into(),
            source_type_override: "NO_SOURCE".into(),
            buildspec_override: "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n".into(),
            environment_variables_override: vec![dockhand_core::start_build::EnvironmentVariable {
                name: "BUILD_CONTEXT".into(),
                value: "web".into(),
                kind: "PLAINTEXT".into(),
            }],
            idempotency_token: token.into(),
            compute_type_override: "BUILD_GENERAL1_SMALL".into(),
            timeout_in_minutes_override: 60,
            privileged_mode_override: true,
        }
    }

    fn call(state: &Mutex<State>, operation: &str, input: Value) -> (u16, Value) {
        let (tx, _rx) = channel();
        let say: Say = Arc::new(|_| {});
        codebuild(operation, &input.to_string(), state, &tx, &say)
    }

    fn ids(answer: &Value) -> Vec<String> {
        crate::strings(&answer["ids"])
    }

    fn numbered(numbers: impl IntoIterator<Item = u64>) -> Vec<String> {
        numbers.into_iter().map(|i| format!("dockhand:{i:04}")).collect()
    }

    #[test]
    fn list_builds_for_project_is_newest_first_unless_ascending() {
        let state = state(250);
        for sort in [json!(null), json!("DESCENDING")] {
            let (status, first) = call(
                &state,
                "ListBuildsForProject",
                json!({"projectName": "dockhand", "sortOrder": sort}),
            );
            assert_eq!(status, 200);
            assert_eq!(ids(&first), numbered((151..=250).rev()));
            let (_, second) = call(
                &state,
                "ListBuildsForProject",
                json!({"projectName": "dockhand", "nextToken": first["nextToken"]}),
            );
            assert_eq!(ids(&second), numbered((51..=150).rev()));
        }
        let (_, first) = call(
            &state,
            "ListBuildsForProject",
            json!({"projectName": "dockhand", "sortOrder": "ASCENDING"}),
        );
        assert_eq!(ids(&first), numbered(1..=100));
        // The token keeps the order; the last page has no token.
        let (_, second) = call(
            &state,
            "ListBuildsForProject",
            json!({"projectName": "dockhand", "nextToken": first["nextToken"]}),
        );
        assert_eq!(ids(&second), numbered(101..=200));
        let (_, third) = call(
            &state,
            "ListBuildsForProject",
            json!({"projectName": "dockhand", "nextToken": second["nextToken"]}),
        );
        assert_eq!(ids(&third), numbered(201..=250));
        assert!(third.get("nextToken").is_none());
    }

    #[test]
    fn list_builds_for_project_refuses_a_sort_order_with_a_token_and_unknown_tokens() {
        let state = state(150);
        let (_, first) = call(
            &state,
            "ListBuildsForProject",
            json!({"projectName": "dockhand", "sortOrder": "ASCENDING"}),
        );
        for input in [
            json!({"projectName": "dockhand", "sortOrder": "ASCENDING", "nextToken": first["nextToken"]}),
            json!({"projectName": "dockhand", "nextToken": "100"}),
            json!({"projectName": "dockhand", "sortOrder": "OLDEST"}),
        ] {
            let (status, answer) = call(&state, "ListBuildsForProject", input.clone());
            assert_eq!(
                (status, answer["__type"].as_str()),
                (400, Some("InvalidInputException")),
                "{input}"
            );
        }
    }

    #[test]
    fn batch_delete_builds_keeps_running_builds_and_answers_arns() {
        let state = state(5);
        let (status, answer) = call(
            &state,
            "BatchDeleteBuilds",
            json!({"ids": ["dockhand:0001", "dockhand:0003", "dockhand:0009"]}),
        );
        assert_eq!(status, 200);
        let arn = |id: &str| format!("arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{id}");
        assert_eq!(answer["buildsDeleted"], json!([arn("dockhand:0001")]));
        assert_eq!(
            answer["buildsNotDeleted"],
            json!([
                {"id": arn("dockhand:0003"), "statusCode": "BUILD_IN_PROGRESS"},
                {"id": arn("dockhand:0009"), "statusCode": "BUILD_NOT_FOUND"}
            ])
        );
        let (_, left) = call(
            &state,
            "ListBuildsForProject",
            json!({"projectName": "dockhand", "sortOrder": "ASCENDING"}),
        );
        assert_eq!(ids(&left), numbered(2..=5));
    }

    /// BatchGetBuilds answers a complete build's exported variables in the API's shape,
    /// which the SDK the functions use reads back; a build still running has none yet.
    #[test]
    fn batch_get_builds_answers_exported_variables_the_sdk_reads() {
        let state = Arc::new(state(5));
        let (server, port) = bind().unwrap();
        let server = Arc::new(server);
        let serving = {
            let (server, state) = (server.clone(), state.clone());
            std::thread::spawn(move || {
                let (tx, _rx) = channel();
                let say: Say = Arc::new(|_| {});
                serve(&server, &state, &tx, &say);
            })
        };
        let config = aws_sdk_codebuild::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_codebuild::config::Region::new(REGION))
            .credentials_provider(aws_sdk_codebuild::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .build();
        let client = aws_sdk_codebuild::Client::from_conf(config);
        let answer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(
                client
                    .batch_get_builds()
                    .ids("dockhand:0002")
                    .ids("dockhand:0003")
                    .send(),
            )
            .unwrap();
        server.unblock();
        serving.join().unwrap();
        let builds = answer.builds();
        assert_eq!(builds.len(), 2);
        let exported: Vec<(Option<&str>, Option<&str>)> = builds[0]
            .exported_environment_variables()
            .iter()
            .map(|v| (v.name(), v.value()))
            .collect();
        let digest = format!("sha256:{:064}", 2);
        assert_eq!(exported, [(Some("DOCKHAND_IMAGE_DIGEST"), Some(digest.as_str()))]);
        assert!(!builds[1].build_complete());
        assert!(builds[1].exported_environment_variables().is_empty());
    }

    #[test]
    fn start_build_reads_the_request_the_spawner_writes() {
        let state = Mutex::new(State::default());
        let request = start_build("dockhand", "key-1");
        let (status, answer) = call(&state, "StartBuild", json!(request));
        assert_eq!(status, 200, "{answer}");
        let build = &answer["build"];
        assert_eq!(build["projectName"], "dockhand");
        assert_eq!(build["environment"]["computeType"], "BUILD_GENERAL1_SMALL");
        assert_eq!(build["environment"]["privilegedMode"], true);
        assert_eq!(
            build["environment"]["environmentVariables"],
            json!([{"name": "BUILD_CONTEXT", "value": "web", "type": "PLAINTEXT"}])
        );
        let builds = state.lock().unwrap().builds.clone();
        assert_eq!(builds.len(), 1);
        assert_eq!(builds[0].request, request);
        assert_eq!(builds[0].env("BUILD_CONTEXT").as_deref(), Some("web"));

        // The same token: the same build; with other parameters: CodeBuild's refusal.
        let (status, again) = call(&state, "StartBuild", json!(request));
        assert_eq!((status, &again["build"]["id"]), (200, &build["id"]));
        let mut other = request.clone();
        other.timeout_in_minutes_override = 30;
        let (status, refused) = call(&state, "StartBuild", json!(other));
        assert_eq!(
            (status, refused["__type"].as_str()),
            (400, Some("IdempotentParameterMismatchException"))
        );
        assert_eq!(state.lock().unwrap().builds.len(), 1);
    }

    #[test]
    fn start_build_refuses_what_does_not_read_as_a_request_with_what_is_wrong() {
        let state = Mutex::new(State::default());
        let request = json!(start_build("dockhand", "key-1"));
        let without = |member: &str| {
            let mut input = request.clone();
            input.as_object_mut().unwrap().remove(member);
            input
        };
        let mut mistyped = request.clone();
        mistyped["timeoutInMinutesOverride"] = json!("sixty");
        let mut empty_project = request.clone();
        empty_project["projectName"] = json!("");
        for (input, named) in [
            (without("buildspecOverride"), "buildspecOverride"),
            (without("projectName"), "projectName"),
            (mistyped, "sixty"),
            (empty_project, "projectName is required"),
            (json!([1, 2]), "StartBuild"),
        ] {
            let (status, answer) = call(&state, "StartBuild", input.clone());
            assert_eq!(
                (status, answer["__type"].as_str()),
                (400, Some("InvalidInputException")),
                "{input}"
            );
            let message = answer["message"].as_str().unwrap();
            assert!(message.contains(named), "{message:?} names {named:?}");
        }
        let (tx, _rx) = channel();
        let say: Say = Arc::new(|_| {});
        let (status, answer) = codebuild("StartBuild", "{not json", &state, &tx, &say);
        assert_eq!(
            (status, &answer),
            (
                400,
                &json!({"__type": "InvalidInputException", "message": "the request is not JSON"})
            )
        );
        assert!(state.lock().unwrap().builds.is_empty());
    }

    /// BatchGetBuilds answers the phases as the build moves: QUEUED while it waits, no
    /// log stream yet; PROVISIONING and the stream once a builder takes it; the phase the
    /// runner's log enters; COMPLETED at the end, every ended phase with its status and
    /// duration.
    #[test]
    fn batch_get_builds_follows_the_phases_and_names_the_log_stream() {
        let state = Mutex::new(State::default());
        let (_, started) = call(&state, "StartBuild", json!(start_build("dockhand", "key-1")));
        let id = started["build"]["id"].as_str().unwrap().to_owned();
        let get = |state: &Mutex<State>| call(state, "BatchGetBuilds", json!({ "ids": [id] })).1["builds"][0].clone();
        let types = |build: &Value| -> Vec<String> {
            build["phases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["phaseType"].as_str().unwrap().to_owned())
                .collect()
        };

        let queued = get(&state);
        assert_eq!(queued["currentPhase"], "QUEUED");
        assert_eq!(types(&queued), ["SUBMITTED", "QUEUED"]);
        assert_eq!(queued["phases"][0]["phaseStatus"], "SUCCEEDED");
        assert_eq!(queued["phases"][0]["durationInSeconds"], 0);
        assert!(queued["phases"][1].get("endTime").is_none());
        assert!(queued.get("logs").is_none());
        assert_eq!(queued["queuedTimeoutInMinutes"], 480);
        assert_eq!(queued["timeoutInMinutes"], 60);

        let start = state.lock().unwrap().builds[0].start;
        state.lock().unwrap().builds[0].run(start + 12.0);
        let provisioning = get(&state);
        assert_eq!(provisioning["currentPhase"], "PROVISIONING");
        assert_eq!(provisioning["phases"][1]["durationInSeconds"], 12);
        let uuid = id.rsplit(':').next().unwrap();
        assert_eq!(provisioning["logs"]["groupName"], "/aws/codebuild/dockhand");
        assert_eq!(provisioning["logs"]["streamName"], uuid);
        assert!(
            provisioning["logs"]["deepLink"]
                .as_str()
                .unwrap()
                .ends_with(&format!("stream={uuid}"))
        );

        // The runner's lines, written in pieces as a shell writes them.
        let mut watch = PhaseWatch {
            log: SharedLog::default(),
            line: Vec::new(),
            state: &state,
            id: &id,
        };
        use std::io::Write;
        for piece in [
            "[Container] 2026/12/02 09:31:12.123 Phase complete: PROVISIONING State: SUCCEEDED\n[Cont",
            "ainer] 2026/12/02 09:31:13.000 Entering phase BUILD\n",
            "Entering phase POST_BUILD\n",
            "[Container] 2026/12/02 09:31:13.000 Entering phase BU",
        ] {
            watch.write_all(piece.as_bytes()).unwrap();
        }
        let building = get(&state);
        assert_eq!(building["currentPhase"], "BUILD");
        assert_eq!(types(&building), ["SUBMITTED", "QUEUED", "PROVISIONING", "BUILD"]);
        assert_eq!(building["phases"][2]["phaseStatus"], "SUCCEEDED");
        assert_eq!(building["buildComplete"], false);

        state.lock().unwrap().builds[0].finish("FAILED", None, start + 100.0);
        let done = get(&state);
        assert_eq!(done["currentPhase"], "COMPLETED");
        assert_eq!(done["buildStatus"], "FAILED");
        assert_eq!(done["buildComplete"], true);
        assert_eq!(
            types(&done),
            ["SUBMITTED", "QUEUED", "PROVISIONING", "BUILD", "COMPLETED"]
        );
        assert!(done["phases"][3]["endTime"].is_number());
        assert!(done["phases"][4].get("endTime").is_none());
    }

    #[test]
    fn only_the_runners_container_lines_move_the_phases() {
        assert_eq!(
            phase_line("[Container] 2026/12/02 09:31:13.000 Entering phase PRE_BUILD"),
            Some(("PRE_BUILD", None))
        );
        assert_eq!(
            phase_line("[Container] 2026/12/02 09:31:13.000 Phase complete: BUILD State: FAILED\r"),
            Some(("BUILD", Some("FAILED")))
        );
        for other in [
            "Entering phase BUILD",
            " [Container] 2026/12/02 09:31:13.000 Entering phase BUILD",
            "[Container] 2026/12/02 09:31:13.000 Running command make",
            "[Container] Entering phase BUILD",
        ] {
            assert_eq!(phase_line(other), None, "{other}");
        }
    }
}
