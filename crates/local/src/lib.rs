//! Local mode: dockhand's whole pipeline on one machine, wired as AWS wires it.
//!
//! ```text
//! signed push ─HTTP─▶ listener (Lambda emulator) ─Publish─▶ moto SNS build-requests
//!   ─HTTP delivery─▶ hub ─async invoke─▶ spawner ─StartBuild─▶ hub (CodeBuild API)
//!                                         └─REST─▶ GitHub stand-in (trees, compare, contents)
//!   ─▶ local runner: the rendered buildspec, git clone from the local git server,
//!      docker/podman build, push to the local registry (htpasswd)
//!   ─state changes─▶ notifier ─Publish─▶ moto SNS build-results ─HTTP─▶ hub (printed)
//! ```
//!
//! The functions are the workspace's own binaries, unchanged; only endpoints differ:
//! `AWS_ENDPOINT_URL` points the SDK at moto (SNS, SSM), `AWS_ENDPOINT_URL_CODEBUILD`
//! at the hub and `GITHUB_API_URL` at a GitHub stand-in that answers from the local
//! repository. The buildspec is the one the spawner renders for a `registry`-type
//! deployment, and the registry token is a SecureString in moto's SSM.

pub mod engine;
pub mod github;
pub mod gitrepo;
pub mod hub;
pub mod lambda;
pub mod process;
pub mod registry;

use dockhand_core::signature;
use hub::{BuildEnvironment, Hub, Say};
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
    pub say: Say,
}

/// Everything local mode started; dropping it stops all of it.
pub struct Stack {
    // Field order is drop order: the hub's threads stop before the functions they call.
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
    // Last: removed after everything that writes there has stopped.
    _files: Files,
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

        say("== starting moto (SNS, SSM), the registry, the git server");
        let moto_port = process::free_port();
        let mut command = std::process::Command::new(&moto_server);
        command.args(["-H", "127.0.0.1", "-p", &moto_port.to_string()]);
        let mut moto = Service::spawn("moto", command, &dir.join("logs/moto.log"))?;
        moto.wait_for_port(moto_port, Duration::from_secs(60))?;
        let moto_endpoint = format!("http://127.0.0.1:{moto_port}");

        let registry = registry::Registry::start(&dir.join("registry"), REGISTRY_USER, &options.registry_password)?;
        let repo = gitrepo::Repo::start(&dir.join("git"))?;
        let github = github::FakeGitHub::start(
            &format!("{}/{}", gitrepo::OWNER, gitrepo::NAME),
            &repo.work,
            github::FakeOptions::default(),
        )
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
            "registry": { "type": "registry", "host": registry.host, "namespace": gitrepo::OWNER, "username": REGISTRY_USER },
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
                ("RETENTION_DAYS".into(), "7".into()),
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
        };
        let hub = Hub::start(server, functions.clone(), environment, say.clone());
        runtime.block_on(async {
            for (topic, path) in [
                (&requests_topic, "/sns/build-requests"),
                (&results_topic, "/sns/build-results"),
            ] {
                sns.subscribe()
                    .topic_arn(topic)
                    .protocol("http")
                    .endpoint(hub.url(path))
                    .send()
                    .await
                    .map_err(|e| format!("moto Subscribe {topic}: {e}"))?;
            }
            Ok::<_, String>(())
        })?;
        Ok(Stack {
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
        let event = self.repo.push_event(before, after)?;
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

    /// Runs the weekly cleanup once, as its schedule would.
    pub fn cleanup(&self) -> Result<String, String> {
        let event = serde_json::json!({
            "version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": hub::ACCOUNT, "time": "2026-01-01T00:00:00Z", "region": hub::REGION,
            "resources": [], "detail": {}
        });
        self.functions.invoke("cleanup", event.to_string().as_bytes())
    }

    pub fn wait_idle(&self) -> Result<(), String> {
        self.hub.wait_idle(Duration::from_secs(600))
    }

    /// Everything the functions logged.
    pub fn functions_log(&self) -> String {
        self.functions.logs()
    }

    pub fn dir(&self) -> &Path {
        &self._files.0
    }
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
