//! Local mode: dockhand's whole pipeline on one machine, wired as AWS wires it.
//!
//! ```text
//! signed push ─HTTP─▶ listener (Lambda emulator) ─Publish─▶ moto SNS build-requests
//!   ─▶ moto SQS requests queue ─event source mapping─▶ spawner (plan)
//!         └─REST─▶ GitHub stand-in (trees, compare, contents)
//!   ─▶ moto SQS builds queue ─event source mapping─▶ spawner (start) ─▶ moto DynamoDB ledger
//!         ─StartBuild─▶ hub (CodeBuild API, its concurrency limits)
//!   ─▶ local runner: the rendered buildspec, git clone from the local git server,
//!      docker/podman build, push to the local registry (htpasswd)
//!   ─state changes─▶ notifier ─Publish─▶ moto SNS build-results ─HTTP─▶ hub (printed)
//!   ─final state change (SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED)─▶ moto SQS builds
//!      queue (the rule's second target), once BatchGetBuilds answers the build complete
//!      with its exported variables ─▶ spawner (start)
//! ```
//!
//! The functions are the workspace's own binaries, unchanged; only endpoints differ:
//! `AWS_ENDPOINT_URL` points the SDK at moto (SNS, SQS, DynamoDB, SSM),
//! `AWS_ENDPOINT_URL_CODEBUILD` at the hub and `GITHUB_API_URL` at a GitHub stand-in that
//! answers from the local repository. The buildspec is the one the spawner renders for a
//! `registry`-type deployment, and the registry token is a SecureString in moto's SSM.
//! The spawner's retry delays are scaled down (seconds, not minutes); everything else is
//! the stack's.

mod cloudwatch;
pub mod engine;
pub mod gitrepo;
pub mod hub;
pub mod lambda;
pub mod process;
pub mod queues;
pub mod registry;

/// The GitHub stand-in, its own crate so that what tests GitHub's client needs not build
/// local mode; [`Stack::github`] is one.
pub use dockhand_fake_github as github;

use dockhand_core::signature;
use hub::{BuildEnvironment, Hub, Limits, Say};
use lambda::{Functions, HttpAnswer};
use process::Service;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const PROJECT: &str = "dockhand-local";
/// The stack's name: its queues, topics and table are named `STACK-…`, as the stack's are.
pub const STACK: &str = "dockhand-local";
pub const REGISTRY_USER: &str = "dockhand";
const SECRET_PARAMETER: &str = "/dockhand/local/webhook-secret";

/// What to start.
pub struct Options {
    /// The workspace whose functions run.
    pub workspace: PathBuf,
    /// Where everything local mode writes goes; removed when the stack stops.
    pub dir: PathBuf,
    /// The password the registry accepts.
    pub registry_password: String,
    /// The token the builds log in with (the registry password, unless testing a wrong one).
    pub registry_token: String,
    /// CodeBuild's concurrency.
    pub limits: Limits,
    /// A git repository of yours to serve instead of the sample one (only read).
    pub repository: Option<PathBuf>,
    /// How long the spawner believes its queues keep a message (the stack's
    /// QueueRetentionSeconds); `None` for the stack's default of a day. A test that must
    /// see a message given up on sets it just over the spawner's ten-minute margin.
    pub queue_retention_seconds: Option<u64>,
    pub say: Say,
}

/// Everything local mode started; dropping it stops all of it.
pub struct Stack {
    // Field order is drop order: the pollers and the hub's threads stop before the
    // functions they call.
    pub pollers: queues::Pollers,
    pub hub: Hub,
    pub functions: Arc<Functions>,
    pub github: github::FakeGitHub,
    pub repo: gitrepo::Repo,
    pub registry: registry::Registry,
    _moto: Service,
    pub moto_endpoint: String,
    pub webhook_secret: String,
    pub engine: String,
    pub config: String,
    pub queues: QueueUrls,
    pub ledger_table: String,
    /// SQS and SNS on moto, and the runtime the stack's own calls to them run on.
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    /// The build-results topic the notifier and the spawner publish to.
    pub results_topic: String,
    runtime: tokio::runtime::Runtime,
    // Last: removed after everything that writes there has stopped.
    _files: Files,
}

/// The local queues.
#[derive(Debug, Clone)]
pub struct QueueUrls {
    pub requests: String,
    pub builds: String,
    pub builds_arn: String,
    pub requests_arn: String,
    pub dead_letters: String,
}

/// Local mode's directory, removed when the stack stops.
struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Stack {
    /// Starts everything, in the order each piece needs the ones before it: the hub's
    /// socket is bound before the functions (they are given its address) and serves after
    /// them (it invokes them).
    pub fn start(options: Options) -> Result<Stack, String> {
        options.limits.check()?;
        process::stop_everything_on_interrupt();
        let say = options.say.clone();
        let dir = options.dir.clone();
        make_dirs(&dir)?;
        let tools = Tools::find(&options.workspace)?;
        say("== starting moto (SNS, SQS, DynamoDB, SSM), the registry, the git server");
        let (moto, moto_endpoint) = start_moto(&tools.moto_server, &dir)?;
        let registry = registry::Registry::start(&dir.join("registry"), REGISTRY_USER, &options.registry_password)?;
        let (repo, github) = start_git(options.repository.as_deref(), &dir)?;
        let engine = engine::detect(&dir.join("engine"), &registry.host)?;
        say(&format!(
            "   moto {moto_endpoint}, registry {} (user {REGISTRY_USER}), git daemon 127.0.0.1:{}, GitHub API {}, engine {}",
            registry.host,
            repo.port,
            github.url(),
            engine.name
        ));
        let (config, token_parameter) = deployment(&registry, &repo)?;
        let webhook_secret = random_hex(32).map_err(|e| format!("the webhook secret: {e}"))?;
        let server = hub::bind()?;
        let aws = Aws::connect(&moto_endpoint)?;
        let wiring = aws.wire(&[
            (SECRET_PARAMETER, &webhook_secret),
            (&token_parameter, &options.registry_token),
        ])?;
        let env = functions_env(
            &aws.endpoint,
            &github.url(),
            server.1,
            &config,
            &wiring,
            options.queue_retention_seconds,
        );
        let functions = start_functions(&options, &tools.cargo_lambda, &env)?;
        let environment = build_environment(&dir, &engine, &tools.aws_cli, &repo, &aws, &wiring)?;
        let hub = Hub::start(server, functions.clone(), environment, options.limits, say.clone());
        aws.subscribe(&hub, &wiring)?;
        let pollers = start_pollers(&wiring.queues, &aws.sdk, functions.clone());
        say(&format!(
            "   CodeBuild concurrency: {} per project, {} for the account",
            options.limits.project.map_or("no limit".to_owned(), |p| p.to_string()),
            options.limits.account
        ));
        say(&format!(
            "   watch the builds from another terminal: AWS_ENDPOINT_URL={moto_endpoint} AWS_ENDPOINT_URL_CODEBUILD={} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION={} dockhand status --project {PROJECT} (or dockhand logs BUILD_ID --follow)",
            hub.url(""),
            hub::REGION
        ));
        let Aws { runtime, sns, sqs, .. } = aws;
        Ok(Stack {
            pollers,
            queues: wiring.queues,
            ledger_table: wiring.ledger_table,
            sqs,
            sns,
            results_topic: wiring.results_topic,
            runtime,
            hub,
            functions,
            github,
            repo,
            registry,
            _moto: moto,
            moto_endpoint,
            webhook_secret,
            engine: engine.name.into(),
            config,
            _files: Files(dir),
        })
    }

    /// Delivers a push for `before..after` as GitHub would: signed with `secret` (the
    /// webhook's own unless given), with delivery id `delivery`.
    pub fn deliver(
        &self,
        before: &str,
        after: &str,
        delivery: &str,
        secret: Option<&str>,
    ) -> Result<HttpAnswer, String> {
        self.deliver_event(self.repo.push_event(before, after)?, delivery, secret)
    }

    /// Delivers a push event as GitHub would.
    pub fn deliver_event(
        &self,
        event: serde_json::Value,
        delivery: &str,
        secret: Option<&str>,
    ) -> Result<HttpAnswer, String> {
        let body = serde_json::to_vec(&event).expect("an event serializes");
        let signature = signature::sign(secret.unwrap_or(&self.webhook_secret).as_bytes(), &body);
        self.functions.http(
            "listener",
            "/webhook",
            &[
                ("Content-Type", "application/json"),
                ("User-Agent", "GitHub-Hookshot/local"),
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", delivery),
                ("X-Hub-Signature-256", &signature),
            ],
            &body,
        )
    }

    /// Deletes the build-results topic, as someone might by mistake: the notifier's and the
    /// spawner's publishes then fail with NotFound. [`Stack::restore_results_topic`] makes
    /// it again, under the same name and so the same ARN.
    pub fn delete_results_topic(&self) -> Result<(), String> {
        self.runtime
            .block_on(self.sns.delete_topic().topic_arn(&self.results_topic).send())
            .map_err(|e| format!("moto DeleteTopic: {e}"))?;
        Ok(())
    }

    pub fn restore_results_topic(&self) -> Result<(), String> {
        let name = self.results_topic.rsplit(':').next().unwrap_or_default().to_owned();
        self.runtime.block_on(async {
            let arn = self
                .sns
                .create_topic()
                .name(&name)
                .send()
                .await
                .map_err(|e| format!("moto CreateTopic {name}: {e}"))?
                .topic_arn
                .unwrap_or_default();
            if arn != self.results_topic {
                return Err(format!("the topic came back as {arn}, not {}", self.results_topic));
            }
            subscribe_results(&self.sns, &arn, &self.hub.url("/sns/build-results")).await
        })
    }

    /// The environment that points the AWS SDK (and so `dockhand dead-letters`, `build`,
    /// `status` and `logs`) at local mode: SQS, SNS, DynamoDB and CloudWatch Logs on moto,
    /// Lambda's Invoke API on the emulator, CodeBuild's API on the hub. The SDK's own
    /// settings (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html):
    /// nothing else differs from AWS.
    pub fn aws_environment(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.moto_endpoint.clone()),
            (
                "AWS_ENDPOINT_URL_LAMBDA".into(),
                format!("http://127.0.0.1:{}", self.functions.port),
            ),
            ("AWS_ENDPOINT_URL_CODEBUILD".into(), self.hub.url("")),
            ("AWS_ACCESS_KEY_ID".into(), "local".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "local".into()),
            ("AWS_REGION".into(), hub::REGION.into()),
            ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
        ]
    }

    /// Runs the cleanup once, as its schedule would.
    pub fn cleanup(&self) -> Result<String, String> {
        let event = serde_json::json!({
            "version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": hub::ACCOUNT, "time": "2026-01-01T00:00:00Z", "region": hub::REGION,
            "resources": [], "detail": {}
        });
        self.functions.invoke("cleanup", event.to_string().as_bytes())
    }

    /// Waits until no build runs or waits, no batch is being handled and the queues are
    /// empty (hidden and delayed messages included), for a while: SQS answers its
    /// counts approximately.
    pub fn wait_idle(&self) -> Result<(), String> {
        let timeout = Duration::from_secs(900);
        let deadline = std::time::Instant::now() + timeout;
        let mut idle_since: Option<std::time::Instant> = None;
        loop {
            let busy = self.hub.busy() > 0
                || self.pollers.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0
                || queues::queue_depth(&self.runtime, &self.sqs, &self.queues.requests)? > 0
                || queues::queue_depth(&self.runtime, &self.sqs, &self.queues.builds)? > 0;
            if busy {
                idle_since = None;
            } else if idle_since.get_or_insert_with(std::time::Instant::now).elapsed() >= Duration::from_millis(1500) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("the pipeline was still busy after {} s", timeout.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// How many messages the dead-letter queue holds, hidden ones included.
    pub fn dead_letter_count(&self) -> Result<usize, String> {
        queues::queue_depth(&self.runtime, &self.sqs, &self.queues.dead_letters)
    }

    /// The messages in the dead-letter queue: (body, reason), read without removing them
    /// (each becomes visible again after a second).
    pub fn dead_letters(&self) -> Result<Vec<(String, String)>, String> {
        let mut seen: Vec<(String, String, String)> = Vec::new();
        // Receive until a pass finds nothing new; each message is left visible again soon.
        for _ in 0..20 {
            let out = self
                .runtime
                .block_on(
                    self.sqs
                        .receive_message()
                        .queue_url(&self.queues.dead_letters)
                        .max_number_of_messages(10)
                        .visibility_timeout(1)
                        .message_attribute_names("All")
                        .send(),
                )
                .map_err(|e| format!("SQS ReceiveMessage: {e}"))?;
            let messages = out.messages.unwrap_or_default();
            let before = seen.len();
            for m in messages {
                let id = m.message_id().unwrap_or_default().to_owned();
                if seen.iter().any(|(i, _, _)| *i == id) {
                    continue;
                }
                let reason = m
                    .message_attributes()
                    .and_then(|a| a.get("dockhand-reason"))
                    .and_then(|v| v.string_value())
                    .unwrap_or("moved by the redrive policy")
                    .to_owned();
                seen.push((id, m.body().unwrap_or_default().to_owned(), reason));
            }
            if seen.len() == before {
                break;
            }
        }
        Ok(seen.into_iter().map(|(_, body, reason)| (body, reason)).collect())
    }

    /// Sends `body` to the requests queue as a dead-letter redrive would.
    pub fn redrive_request(&self, body: &str) -> Result<(), String> {
        self.runtime
            .block_on(
                self.sqs
                    .send_message()
                    .queue_url(&self.queues.requests)
                    .message_body(body)
                    .send(),
            )
            .map_err(|e| format!("SQS SendMessage: {e}"))?;
        Ok(())
    }

    /// The image repository (no tag) the directory `context` of the served repository is
    /// pushed to, named as the spawner names it: the deployment's registry and namespace,
    /// and the directory (`tools/lint` → `tools-lint`). An image built FROM it names this.
    pub fn image_repository(&self, context: &str) -> Result<String, String> {
        let deployment = dockhand_core::Deployment::from_json(&self.config).map_err(|e| e.to_string())?;
        dockhand_core::naming::image_for(
            &deployment.config.registry,
            &self.repo.name,
            context,
            &Default::default(),
        )
        .map(|name| name.repository())
    }

    /// Everything the functions logged.
    pub fn functions_log(&self) -> String {
        self.functions.logs()
    }

    pub fn dir(&self) -> &Path {
        &self._files.0
    }
}

/// Local mode's directory, emptied, with a subdirectory for each thing that writes there.
fn make_dirs(dir: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    for sub in ["registry", "git", "engine", "builds", "logs"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// The programs `make demo` and `make deps` install in the workspace's `.venv`.
struct Tools {
    moto_server: PathBuf,
    cargo_lambda: PathBuf,
    aws_cli: PathBuf,
}

impl Tools {
    fn find(workspace: &Path) -> Result<Tools, String> {
        let venv = workspace.join(".venv/bin");
        let tool = |name: &str| -> Result<PathBuf, String> {
            let path = venv.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "{} is missing: run 'make demo' or 'make deps', which install it",
                    path.display()
                ))
            }
        };
        Ok(Tools {
            moto_server: tool("moto_server")?,
            cargo_lambda: tool("cargo-lambda")?,
            aws_cli: tool("aws")?,
        })
    }
}

/// moto, standing in for SNS, SQS, DynamoDB and SSM; and its endpoint.
fn start_moto(moto_server: &Path, dir: &Path) -> Result<(Service, String), String> {
    let port = process::free_port();
    let mut command = std::process::Command::new(moto_server);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let mut moto = Service::spawn("moto", command, &dir.join("logs/moto.log"))?;
    moto.wait_for_port(port, Duration::from_secs(60))?;
    Ok((moto, format!("http://127.0.0.1:{port}")))
}

/// The git server with the repository (`repository`, or the sample one), and the GitHub
/// stand-in answering for it.
fn start_git(repository: Option<&Path>, dir: &Path) -> Result<(gitrepo::Repo, github::FakeGitHub), String> {
    let repo = match repository {
        Some(path) => gitrepo::Repo::existing(&dir.join("git"), path, "local")?,
        None => gitrepo::Repo::start(&dir.join("git"))?,
    };
    let github = github::FakeGitHub::start(&repo.full_name(), &repo.work, github::FakeOptions::default())
        .map_err(|e| format!("cannot start the GitHub stand-in: {e}"))?;
    Ok((repo, github))
}

/// The deployment file the functions get (`DOCKHAND_CONFIG`): the local registry and the
/// one repository; and the name of the registry token's parameter it implies.
fn deployment(registry: &registry::Registry, repo: &gitrepo::Repo) -> Result<(String, String), String> {
    let config = serde_json::json!({
        "project": PROJECT,
        "registry": { "type": "registry", "host": registry.host, "namespace": repo.owner, "username": REGISTRY_USER },
        "repositories": [format!("{}/{}", repo.owner, repo.name)],
        "timeout_minutes": 15,
    })
    .to_string();
    let deployment = dockhand_core::Deployment::from_json(&config).map_err(|e| e.to_string())?;
    let token_parameter = deployment.config.registry.token_parameter().unwrap_or_default();
    Ok((config, token_parameter))
}

/// What points a process's AWS SDK or CLI at moto, and nowhere else.
fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID".into(), "local".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "local".into()),
        ("AWS_REGION".into(), hub::REGION.into()),
        ("AWS_DEFAULT_REGION".into(), hub::REGION.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
    ]
}

/// The stack's own clients of moto, and the runtime their calls run on.
struct Aws {
    endpoint: String,
    runtime: tokio::runtime::Runtime,
    sdk: aws_config::SdkConfig,
    sns: aws_sdk_sns::Client,
    ssm: aws_sdk_ssm::Client,
    sqs: aws_sdk_sqs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

/// What the stack makes on moto: queues, the ledger table and the topics.
struct Wiring {
    queues: QueueUrls,
    ledger_table: String,
    requests_topic: String,
    results_topic: String,
}

impl Aws {
    fn connect(endpoint: &str) -> Result<Aws, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let sdk = runtime.block_on(sdk_config(endpoint));
        Ok(Aws {
            endpoint: endpoint.to_owned(),
            sns: aws_sdk_sns::Client::new(&sdk),
            ssm: aws_sdk_ssm::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            sdk,
            runtime,
        })
    }

    /// The queues, the ledger table and the topics, as the stack makes them; and the
    /// `(name, value)` SecureString parameters.
    fn wire(&self, parameters: &[(&str, &str)]) -> Result<Wiring, String> {
        let queues = self.runtime.block_on(create_queues(&self.sqs))?;
        let ledger_table = format!("{STACK}-builds");
        self.runtime
            .block_on(dockhand_aws::dynamodb::create_table(
                &aws_sdk_dynamodb::Client::new(&self.sdk),
                &ledger_table,
            ))
            .map_err(|e| format!("moto: {e}"))?;
        let requests_topic = self
            .runtime
            .block_on(create_topic(&self.sns, &format!("{STACK}-build-requests")))?;
        let results_topic = self
            .runtime
            .block_on(create_topic(&self.sns, &format!("{STACK}-build-results")))?;
        for (name, value) in parameters {
            self.runtime.block_on(put_secure_string(&self.ssm, name, value))?;
        }
        // The stack's BuildLogs: CodeBuild writes each build's log there, the notifier
        // reads what a build reported from it.
        let group = format!("/aws/codebuild/{PROJECT}");
        self.runtime
            .block_on(self.logs.create_log_group().log_group_name(&group).send())
            .map_err(|e| format!("moto CreateLogGroup {group}: {e:?}"))?;
        Ok(Wiring {
            queues,
            ledger_table,
            requests_topic,
            results_topic,
        })
    }

    /// The topics' subscriptions: build-results to the hub, as an email or SMS subscriber
    /// would get them; build-requests to the requests queue.
    fn subscribe(&self, hub: &Hub, wiring: &Wiring) -> Result<(), String> {
        self.runtime.block_on(async {
            subscribe_results(&self.sns, &wiring.results_topic, &hub.url("/sns/build-results")).await?;
            // As the stack subscribes the requests queue: the raw request, no SNS envelope.
            let topic = &wiring.requests_topic;
            self.sns
                .subscribe()
                .topic_arn(topic)
                .protocol("sqs")
                .endpoint(&wiring.queues.requests_arn)
                .attributes("RawMessageDelivery", "true")
                .send()
                .await
                .map_err(|e| format!("moto Subscribe {topic}: {e}"))?;
            Ok(())
        })
    }
}

async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> Result<String, String> {
    sns.create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| format!("moto CreateTopic {name}: {e}"))
        .map(|t| t.topic_arn().unwrap_or_default().to_owned())
}

async fn put_secure_string(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) -> Result<(), String> {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| format!("moto PutParameter {name}: {e}"))?;
    Ok(())
}

/// Subscribes `endpoint` to the build-results topic over HTTP.
async fn subscribe_results(sns: &aws_sdk_sns::Client, topic: &str, endpoint: &str) -> Result<(), String> {
    sns.subscribe()
        .topic_arn(topic)
        .protocol("http")
        .endpoint(endpoint)
        .send()
        .await
        .map_err(|e| format!("moto Subscribe {topic}: {e}"))?;
    Ok(())
}

/// The functions' environment: the stack's, with moto, the GitHub stand-in and the hub
/// (CodeBuild) for endpoints, and retry delays of seconds instead of minutes.
fn functions_env(
    moto_endpoint: &str,
    github_url: &str,
    hub_port: u16,
    config: &str,
    wiring: &Wiring,
    queue_retention_seconds: Option<u64>,
) -> Vec<(String, String)> {
    let retention = queue_retention_seconds.unwrap_or(86_400).to_string();
    let queues = &wiring.queues;
    aws_env(moto_endpoint)
        .into_iter()
        .chain([
            ("DOCKHAND_CONFIG".into(), config.to_owned()),
            ("BUILD_REQUESTS_TOPIC_ARN".into(), wiring.requests_topic.clone()),
            ("WEBHOOK_SECRET_PARAMETER".into(), SECRET_PARAMETER.into()),
            ("RESULTS_TOPIC_ARN".into(), wiring.results_topic.clone()),
            ("BUILDS_QUEUE_ARN".into(), queues.builds_arn.clone()),
            ("BUILDS_QUEUE_URL".into(), queues.builds.clone()),
            ("REQUESTS_QUEUE_URL".into(), queues.requests.clone()),
            ("DEAD_LETTER_QUEUE_URL".into(), queues.dead_letters.clone()),
            ("LEDGER_TABLE".into(), wiring.ledger_table.clone()),
            // The stack's delays are minutes; here they are seconds.
            ("BUILDS_RETRY_BASE_SECONDS".into(), "1".into()),
            ("BUILDS_RETRY_CAP_SECONDS".into(), "4".into()),
            ("REQUESTS_RETRY_BASE_SECONDS".into(), "1".into()),
            ("REQUESTS_RETRY_CAP_SECONDS".into(), "4".into()),
            ("RETENTION_DAYS".into(), "7".into()),
            ("REQUESTS_QUEUE_RETENTION_SECONDS".into(), retention.clone()),
            ("BUILDS_QUEUE_RETENTION_SECONDS".into(), retention),
            ("RUST_LOG".into(), "info".into()),
            ("GITHUB_API_URL".into(), github_url.to_owned()),
            // CodeBuild is the hub; SNS and SSM stay on moto.
            (
                "AWS_ENDPOINT_URL_CODEBUILD".into(),
                format!("http://127.0.0.1:{hub_port}"),
            ),
        ])
        .collect()
}

/// The functions, built and running under the Lambda emulator; logs go to `logs/`.
fn start_functions(options: &Options, cargo_lambda: &Path, env: &[(String, String)]) -> Result<Arc<Functions>, String> {
    let logs = options.dir.join("logs");
    let functions = Functions::start(&options.workspace, cargo_lambda, env, &logs, &*options.say)?;
    Ok(Arc::new(functions))
}

/// What the builds run with: the build image's environment, SSM for
/// `env.parameter-store`, the dead-letter queue for the notifier's failures and the
/// builds queue for the final state changes.
fn build_environment(
    dir: &Path,
    engine: &engine::Engine,
    aws_cli: &Path,
    repo: &gitrepo::Repo,
    aws: &Aws,
    wiring: &Wiring,
) -> Result<BuildEnvironment, String> {
    let builds = dir.join("builds");
    Ok(BuildEnvironment {
        process_env: build_image_env(&builds, engine, aws_cli, repo, &aws.endpoint)?,
        dir: builds,
        region: hub::REGION.into(),
        account: hub::ACCOUNT.into(),
        parameter: parameter_reader(aws.ssm.clone()),
        dead_letter: queue_sender(aws.sqs.clone(), wiring.queues.dead_letters.clone()),
        build_events: queue_sender(aws.sqs.clone(), wiring.queues.builds.clone()),
        logs: cloudwatch::writer(aws.logs.clone()),
    })
}

/// The build image's environment: PATH with the engine's `docker` and the AWS CLI, moto
/// for AWS, `home` for HOME, the engine's settings and the git server's.
fn build_image_env(
    home: &Path,
    engine: &engine::Engine,
    aws_cli: &Path,
    repo: &gitrepo::Repo,
    moto_endpoint: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut path = Vec::new();
    if let Some(bin) = &engine.bin_dir {
        path.push(bin.clone());
    }
    path.push(aws_cli.parent().expect("a directory").to_owned());
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let path = std::env::join_paths(path).map_err(|e| format!("PATH: {e}"))?;
    let mut env = aws_env(moto_endpoint);
    env.push(("PATH".into(), path.to_string_lossy().into_owned()));
    env.push(("HOME".into(), home.display().to_string()));
    env.extend(engine.env.clone());
    env.extend(repo.clone_env());
    Ok(env)
}

/// Reads a SecureString from moto's SSM, decrypted, as CodeBuild does for
/// `env.parameter-store`. Called from the builders' threads, each call on a runtime of its own.
fn parameter_reader(ssm: aws_sdk_ssm::Client) -> hub::ParameterReader {
    Arc::new(move |name: &str| {
        let (ssm, name) = (ssm.clone(), name.to_owned());
        block_on(async move {
            ssm.get_parameter()
                .name(&name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| format!("SSM GetParameter {name}: {e}"))
                .map(|p| p.parameter().and_then(|p| p.value()).unwrap_or_default().to_owned())
        })
    })
}

/// Sends a message to the queue `url`: the dead-letter queue (the notifier's on-failure
/// destination) or the builds queue (the build-state rule's second target).
fn queue_sender(sqs: aws_sdk_sqs::Client, url: String) -> hub::QueueSender {
    Arc::new(move |body: &str| {
        let (sqs, url, body) = (sqs.clone(), url.clone(), body.to_owned());
        block_on(async move {
            sqs.send_message()
                .queue_url(&url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("SQS SendMessage to {url}: {e}"))
        })
    })
}

/// Runs `future` to its end on a runtime of its own, for calls from plain threads.
pub(crate) fn block_on<T>(future: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(future)
}

/// The stack's event source mappings: one request, or ten builds, per invocation.
fn start_pollers(queues: &QueueUrls, sdk: &aws_config::SdkConfig, functions: Arc<Functions>) -> queues::Pollers {
    let spawner = |queue_url: &str, queue_arn: &str, batch_size| queues::Mapping {
        queue_url: queue_url.to_owned(),
        queue_arn: queue_arn.to_owned(),
        function: "spawner".into(),
        batch_size,
        maximum_concurrency: 2,
    };
    queues::Pollers::start(
        &[
            spawner(&queues.requests, &queues.requests_arn, 1),
            spawner(&queues.builds, &queues.builds_arn, 10),
        ],
        sdk,
        functions,
    )
}

/// The stack's queues: requests and builds, each with the redrive policy to the one
/// dead-letter queue.
async fn create_queues(sqs: &aws_sdk_sqs::Client) -> Result<QueueUrls, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let create = |name: String, redrive: Option<String>| {
        let sqs = sqs.clone();
        async move {
            let mut request = sqs
                .create_queue()
                .queue_name(&name)
                .attributes(A::VisibilityTimeout, "30")
                .attributes(A::MessageRetentionPeriod, "86400");
            if let Some(target) = redrive {
                request = request.attributes(
                    A::RedrivePolicy,
                    serde_json::json!({ "deadLetterTargetArn": target, "maxReceiveCount": dockhand_core::retry::MAX_RECEIVES })
                        .to_string(),
                );
            }
            let url = request
                .send()
                .await
                .map_err(|e| format!("moto CreateQueue {name}: {e}"))?
                .queue_url()
                .unwrap_or_default()
                .to_owned();
            let arn = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(A::QueueArn)
                .send()
                .await
                .map_err(|e| format!("moto GetQueueAttributes {name}: {e}"))?
                .attributes()
                .and_then(|a| a.get(&A::QueueArn).cloned())
                .unwrap_or_default();
            Ok::<_, String>((url, arn))
        }
    };
    let (dead_letters, dead_arn) = create(format!("{STACK}-dead-letters"), None).await?;
    let (requests, requests_arn) = create(format!("{STACK}-build-requests"), Some(dead_arn.clone())).await?;
    let (builds, builds_arn) = create(format!("{STACK}-builds"), Some(dead_arn)).await?;
    Ok(QueueUrls {
        requests,
        requests_arn,
        builds,
        builds_arn,
        dead_letters,
    })
}

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(hub::REGION))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .load()
        .await
}

/// The strings of a JSON array; none if it is not one.
pub(crate) fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// `bytes` random bytes from the kernel, as hex: the webhook secret and the registry
/// password. An error when /dev/urandom cannot be read, never a predictable value.
pub fn random_hex(bytes: usize) -> Result<String, String> {
    random_hex_from(Path::new("/dev/urandom"), bytes)
}

fn random_hex_from(source: &Path, bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open(source)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .map_err(|e| format!("cannot read {bytes} random bytes from {}: {e}", source.display()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_is_random_or_an_error() {
        let a = random_hex(32).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, random_hex(32).unwrap());
        // Nothing to read, or too little: an error naming the source, not zeros.
        let missing = random_hex_from(Path::new("/nonexistent/urandom"), 16).unwrap_err();
        assert!(
            missing.starts_with("cannot read 16 random bytes from /nonexistent/urandom: "),
            "{missing}"
        );
        let empty = random_hex_from(Path::new("/dev/null"), 16).unwrap_err();
        assert!(
            empty.starts_with("cannot read 16 random bytes from /dev/null: "),
            "{empty}"
        );
    }
}
