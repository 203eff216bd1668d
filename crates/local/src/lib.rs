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
//! ```
//!
//! The functions are the workspace's own binaries, unchanged; only endpoints differ:
//! `AWS_ENDPOINT_URL` points the SDK at moto (SNS, SQS, DynamoDB, SSM),
//! `AWS_ENDPOINT_URL_CODEBUILD` at the hub and `GITHUB_API_URL` at a GitHub stand-in that
//! answers from the local repository. The buildspec is the one the spawner renders for a
//! `registry`-type deployment, and the registry token is a SecureString in moto's SSM.
//! The spawner's retry delays are scaled down (seconds, not minutes); everything else is
//! the stack's.

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
    pub fn start(options: Options) -> Result<Stack, String> {
        options.limits.check()?;
        process::stop_everything_on_interrupt();
        let say = options.say.clone();
        let dir = options.dir.clone();
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["registry", "git", "engine", "builds", "logs"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let venv = options.workspace.join(".venv/bin");
        let tool = |name: &str, how: &str| -> Result<PathBuf, String> {
            let path = venv.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("{} is missing: {how}", path.display()))
            }
        };
        let moto_server = tool("moto_server", "run 'make demo' or 'make deps', which install it")?;
        let cargo_lambda = tool("cargo-lambda", "run 'make demo' or 'make deps', which install it")?;
        let aws_cli = tool("aws", "run 'make demo' or 'make deps', which install it")?;

        say("== starting moto (SNS, SQS, DynamoDB, SSM), the registry, the git server");
        let moto_port = process::free_port();
        let mut command = std::process::Command::new(&moto_server);
        command.args(["-H", "127.0.0.1", "-p", &moto_port.to_string()]);
        let mut moto = Service::spawn("moto", command, &dir.join("logs/moto.log"))?;
        moto.wait_for_port(moto_port, Duration::from_secs(60))?;
        let moto_endpoint = format!("http://127.0.0.1:{moto_port}");

        let registry = registry::Registry::start(&dir.join("registry"), REGISTRY_USER, &options.registry_password)?;
        let repo = match &options.repository {
            Some(path) => gitrepo::Repo::existing(&dir.join("git"), path, "local")?,
            None => gitrepo::Repo::start(&dir.join("git"))?,
        };
        let github = github::FakeGitHub::start(&repo.full_name(), &repo.work, github::FakeOptions::default())
            .map_err(|e| format!("cannot start the GitHub stand-in: {e}"))?;
        let engine = engine::detect(&dir.join("engine"), &registry.host)?;
        say(&format!(
            "   moto {moto_endpoint}, registry {} (user {REGISTRY_USER}), git daemon 127.0.0.1:{}, GitHub API {}, engine {}",
            registry.host,
            repo.port,
            github.url(),
            engine.name
        ));

        let config = serde_json::json!({
            "project": PROJECT,
            "registry": { "type": "registry", "host": registry.host, "namespace": repo.owner, "username": REGISTRY_USER },
            "repositories": [format!("{}/{}", repo.owner, repo.name)],
            "timeout_minutes": 15,
        })
        .to_string();
        let deployment = dockhand_core::Deployment::from_json(&config).map_err(|e| e.to_string())?;
        let token_parameter = deployment.config.registry.token_parameter().unwrap_or_default();
        let webhook_secret = random_hex(32);

        let aws_env = |endpoint: &str| -> Vec<(String, String)> {
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
        };
        let server = hub::bind()?;
        let hub_port = server.1;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let sdk = runtime.block_on(sdk_config(&moto_endpoint));
        let sns = aws_sdk_sns::Client::new(&sdk);
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queues = runtime.block_on(create_queues(&sqs))?;
        let ledger_table = "dockhand-local-builds".to_owned();
        runtime
            .block_on(dockhand_aws::dynamodb::create_table(
                &aws_sdk_dynamodb::Client::new(&sdk),
                &ledger_table,
            ))
            .map_err(|e| format!("moto: {e}"))?;
        let (requests_topic, results_topic) = runtime.block_on(async {
            let topic = |name: &'static str| {
                let sns = sns.clone();
                async move {
                    sns.create_topic()
                        .name(name)
                        .send()
                        .await
                        .map_err(|e| format!("moto CreateTopic {name}: {e}"))
                        .map(|t| t.topic_arn().unwrap_or_default().to_owned())
                }
            };
            let requests = topic("dockhand-local-build-requests").await?;
            let results = topic("dockhand-local-build-results").await?;
            for (name, value) in [
                (SECRET_PARAMETER, webhook_secret.as_str()),
                (token_parameter.as_str(), options.registry_token.as_str()),
            ] {
                ssm.put_parameter()
                    .name(name)
                    .value(value)
                    .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                    .overwrite(true)
                    .send()
                    .await
                    .map_err(|e| format!("moto PutParameter {name}: {e}"))?;
            }
            Ok::<_, String>((requests, results))
        })?;
        // Subscribed after the hub is listening, below.
        let functions_env: Vec<(String, String)> = aws_env(&moto_endpoint)
            .into_iter()
            .chain([
                ("DOCKHAND_CONFIG".into(), config.clone()),
                ("BUILD_REQUESTS_TOPIC_ARN".into(), requests_topic.clone()),
                ("WEBHOOK_SECRET_PARAMETER".into(), SECRET_PARAMETER.into()),
                ("RESULTS_TOPIC_ARN".into(), results_topic.clone()),
                ("BUILDS_QUEUE_ARN".into(), queues.builds_arn.clone()),
                ("BUILDS_QUEUE_URL".into(), queues.builds.clone()),
                ("DEAD_LETTER_QUEUE_URL".into(), queues.dead_letters.clone()),
                ("LEDGER_TABLE".into(), ledger_table.clone()),
                // The stack's delays are minutes; here they are seconds.
                ("BUILDS_RETRY_BASE_SECONDS".into(), "1".into()),
                ("BUILDS_RETRY_CAP_SECONDS".into(), "4".into()),
                ("REQUESTS_RETRY_BASE_SECONDS".into(), "1".into()),
                ("REQUESTS_RETRY_CAP_SECONDS".into(), "4".into()),
                ("RETENTION_DAYS".into(), "7".into()),
                (
                    "REQUESTS_QUEUE_RETENTION_SECONDS".into(),
                    options.queue_retention_seconds.unwrap_or(86_400).to_string(),
                ),
                (
                    "BUILDS_QUEUE_RETENTION_SECONDS".into(),
                    options.queue_retention_seconds.unwrap_or(86_400).to_string(),
                ),
                ("RUST_LOG".into(), "info".into()),
                ("GITHUB_API_URL".into(), github.url()),
                // CodeBuild is the hub; SNS and SSM stay on moto.
                (
                    "AWS_ENDPOINT_URL_CODEBUILD".into(),
                    format!("http://127.0.0.1:{hub_port}"),
                ),
            ])
            .collect();
        let functions = Arc::new(Functions::start(
            &options.workspace,
            &cargo_lambda,
            &functions_env,
            &dir.join("logs"),
            &*say,
        )?);

        let mut process_env = aws_env(&moto_endpoint);
        let mut path = Vec::new();
        if let Some(bin) = &engine.bin_dir {
            path.push(bin.clone());
        }
        path.push(aws_cli.parent().expect("a directory").to_owned());
        path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        process_env.push((
            "PATH".into(),
            std::env::join_paths(path)
                .map_err(|e| format!("PATH: {e}"))?
                .to_string_lossy()
                .into_owned(),
        ));
        process_env.push(("HOME".into(), dir.join("builds").display().to_string()));
        process_env.extend(engine.env.clone());
        process_env.extend(repo.clone_env());
        let parameter_ssm = ssm.clone();
        let environment = BuildEnvironment {
            dir: dir.join("builds"),
            region: hub::REGION.into(),
            account: hub::ACCOUNT.into(),
            process_env,
            parameter: Arc::new(move |name: &str| {
                let ssm = parameter_ssm.clone();
                let name = name.to_owned();
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?
                    .block_on(async move {
                        ssm.get_parameter()
                            .name(&name)
                            .with_decryption(true)
                            .send()
                            .await
                            .map_err(|e| format!("SSM GetParameter {name}: {e}"))
                            .map(|p| p.parameter().and_then(|p| p.value()).unwrap_or_default().to_owned())
                    })
            }),
            dead_letter: {
                let (sqs, url) = (sqs.clone(), queues.dead_letters.clone());
                Arc::new(move |body: &str| {
                    let (sqs, url, body) = (sqs.clone(), url.clone(), body.to_owned());
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?
                        .block_on(async move {
                            sqs.send_message()
                                .queue_url(&url)
                                .message_body(body)
                                .send()
                                .await
                                .map(|_| ())
                                .map_err(|e| format!("SQS SendMessage to {url}: {e}"))
                        })
                })
            },
        };
        let hub = Hub::start(server, functions.clone(), environment, options.limits, say.clone());
        runtime.block_on(async {
            sns.subscribe()
                .topic_arn(&results_topic)
                .protocol("http")
                .endpoint(hub.url("/sns/build-results"))
                .send()
                .await
                .map_err(|e| format!("moto Subscribe {results_topic}: {e}"))?;
            // As the stack subscribes the requests queue: the raw request, no SNS envelope.
            sns.subscribe()
                .topic_arn(&requests_topic)
                .protocol("sqs")
                .endpoint(&queues.requests_arn)
                .attributes("RawMessageDelivery", "true")
                .send()
                .await
                .map_err(|e| format!("moto Subscribe {requests_topic}: {e}"))?;
            Ok::<_, String>(())
        })?;
        // The stack's event source mappings: one request, or ten builds, per invocation.
        let pollers = queues::Pollers::start(
            &[
                queues::Mapping {
                    queue_url: queues.requests.clone(),
                    queue_arn: queues.requests_arn.clone(),
                    function: "spawner".into(),
                    batch_size: 1,
                    maximum_concurrency: 2,
                },
                queues::Mapping {
                    queue_url: queues.builds.clone(),
                    queue_arn: queues.builds_arn.clone(),
                    function: "spawner".into(),
                    batch_size: 10,
                    maximum_concurrency: 2,
                },
            ],
            &sdk,
            functions.clone(),
        );
        say(&format!(
            "   CodeBuild concurrency: {} per project, {} for the account",
            options.limits.project.map_or("no limit".to_owned(), |p| p.to_string()),
            options.limits.account
        ));
        Ok(Stack {
            pollers,
            queues,
            ledger_table,
            sqs,
            sns,
            results_topic,
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
            self.sns
                .subscribe()
                .topic_arn(&arn)
                .protocol("http")
                .endpoint(self.hub.url("/sns/build-results"))
                .send()
                .await
                .map_err(|e| format!("moto Subscribe {arn}: {e}"))?;
            Ok(())
        })
    }

    /// The environment that points the AWS SDK (and so `dockhand dead-letters`) at local
    /// mode: SQS and SNS on moto, Lambda's Invoke API on the emulator.
    pub fn aws_environment(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.moto_endpoint.clone()),
            (
                "AWS_ENDPOINT_URL_LAMBDA".into(),
                format!("http://127.0.0.1:{}", self.functions.port),
            ),
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

    /// Everything the functions logged.
    pub fn functions_log(&self) -> String {
        self.functions.logs()
    }

    pub fn dir(&self) -> &Path {
        &self._files.0
    }
}

/// The stack's queues: requests and builds, each with the redrive policy to the one
/// dead-letter queue.
async fn create_queues(sqs: &aws_sdk_sqs::Client) -> Result<QueueUrls, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let create = |name: &'static str, redrive: Option<String>| {
        let sqs = sqs.clone();
        async move {
            let mut request = sqs
                .create_queue()
                .queue_name(name)
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
    let (dead_letters, dead_arn) = create("dockhand-local-dead-letters", None).await?;
    let (requests, requests_arn) = create("dockhand-local-build-requests", Some(dead_arn.clone())).await?;
    let (builds, builds_arn) = create("dockhand-local-builds", Some(dead_arn)).await?;
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

/// `bytes` random bytes as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut buf);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
