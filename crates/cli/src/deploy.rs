//! `dockhand.json`: the one file a user edits to deploy, checked by the same code the
//! functions run, and turned into everything `make deploy` and the other deploy verbs need.
//!
//! This is the deciding half of a one-way seam: `dockhand stack-parameters` checks
//! dockhand.json, the values make passes (FN, REPLAY, REPO...), the environment (AWS_REGION,
//! DOCKHAND_FILE...) and what the AWS CLI answered (the account, its region), and writes each
//! value cfn/deploy.sh uses into a file of its own. The script only reads them and acts.

use dockhand_core::config::{COMPUTE_TYPES, Config, is_ssm_name};
use dockhand_core::notification::STATUSES;
use dockhand_core::{Deployment, Registry};
use dockhand_local::lambda::FUNCTIONS;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// CloudFormation holds at most this many bytes in one parameter value.
const MAX_PARAMETER_BYTES: usize = 4096;
/// Function names are `<stack>-<function>` and may not exceed 64 characters.
const MAX_STACK_NAME: usize = 48;
const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

// Each default, once.
/// Where the deployment file is when neither --file nor DOCKHAND_FILE says.
const DEFAULT_FILE: &str = "dockhand.json";
const DEFAULT_STACK: &str = "dockhand";
const DEFAULT_ARCHITECTURE: &str = "x86_64";
/// The template's `CleanupSchedule` default (a test holds them equal): daily, so a backlog
/// larger than one run can delete clears in a few runs.
const DEFAULT_SCHEDULE: &str = "rate(1 day)";
const DEFAULT_LOG_RETENTION_DAYS: u32 = 30;
const DEFAULT_CONCURRENT_BUILDS: u32 = 5;
/// Lambda's minimum.
const DEFAULT_START_CONCURRENCY: u32 = 2;
const DEFAULT_RATE_LIMIT: u32 = 10;
const DEFAULT_BURST_LIMIT: u32 = 20;
const DEFAULT_LISTENER_CONCURRENCY: u32 = 5;
/// The region whose buckets are created without a location constraint (S3 refuses one).
const BUCKET_DEFAULT_REGION: &str = "us-east-1";

/// The secret's name when dockhand.json does not name one.
fn default_secret_parameter(stack: &str) -> String {
    format!("/dockhand/{stack}/webhook-secret")
}

/// The artifact bucket when dockhand.json does not name one: one per account and region.
fn default_bucket(account: &str, region: &str) -> String {
    format!("dockhand-artifacts-{account}-{region}")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployFile {
    #[serde(default = "default_stack")]
    pub stack: String,
    /// The AWS region; AWS_REGION, AWS_DEFAULT_REGION or the AWS CLI's own when absent.
    #[serde(default)]
    pub region: Option<String>,
    /// Where the function zips are uploaded; `dockhand-artifacts-<account>-<region>` when absent.
    #[serde(default)]
    pub artifact_bucket: Option<String>,
    /// The deployment configuration every function reads (README: Configuration).
    pub config: Config,
    #[serde(default)]
    pub build: Build,
    #[serde(default)]
    pub notify: Notify,
    #[serde(default)]
    pub webhook: Webhook,
    #[serde(default)]
    pub cleanup: CleanupSettings,
    #[serde(default = "default_log_retention")]
    pub log_retention_days: u32,
    /// A customer-managed KMS key of the SecureStrings; the default aws/ssm key when absent.
    #[serde(default)]
    pub secrets_kms_key_arn: Option<String>,
}

/// A missing field takes its value from `Build::default()`, as do the other sections.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Build {
    /// `x86_64` (amd64 images, the default) or `arm64`.
    pub architecture: String,
    /// A CodeBuild image; the architecture's Amazon Linux standard image when absent.
    pub image: Option<String>,
    /// The project's concurrent build limit: at most this many run, the rest wait in
    /// dockhand's builds queue. 0 sets none (builds then queue in CodeBuild, at most five
    /// times the account's concurrency, each for at most 8 hours).
    pub concurrent_builds: u32,
    /// How long a build (or a push) waits for room (or for GitHub) before it is
    /// dead-lettered and notified.
    pub queue_retention_hours: u32,
    /// How many spawner invocations start builds at once (2 is Lambda's minimum).
    pub start_concurrency: u32,
    pub log_retention_days: u32,
}

impl Default for Build {
    fn default() -> Self {
        Self {
            architecture: DEFAULT_ARCHITECTURE.into(),
            image: None,
            concurrent_builds: DEFAULT_CONCURRENT_BUILDS,
            queue_retention_hours: (dockhand_core::retry::RetryPolicy::BUILDS.retention / 3600) as u32,
            start_concurrency: DEFAULT_START_CONCURRENCY,
            log_retention_days: DEFAULT_LOG_RETENTION_DAYS,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    #[serde(default)]
    pub email: Option<String>,
    /// E.164, such as +14155550100.
    #[serde(default)]
    pub sms: Option<String>,
    /// Statuses that notify; the notifier's default (every final status) when empty.
    #[serde(default)]
    pub statuses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Webhook {
    pub rate_limit: u32,
    pub burst_limit: u32,
    /// Reserved concurrency of the listener; 0 reserves none.
    pub listener_concurrency: u32,
    /// The SecureString of the webhook secret(s); `/dockhand/<stack>/webhook-secret` when absent.
    pub secret_parameter: Option<String>,
}

impl Default for Webhook {
    fn default() -> Self {
        Self {
            rate_limit: DEFAULT_RATE_LIMIT,
            burst_limit: DEFAULT_BURST_LIMIT,
            listener_concurrency: DEFAULT_LISTENER_CONCURRENCY,
            secret_parameter: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CleanupSettings {
    pub retention_days: u32,
    pub schedule: String,
}

impl Default for CleanupSettings {
    fn default() -> Self {
        Self {
            retention_days: dockhand_core::retention::DEFAULT_RETENTION_DAYS,
            schedule: DEFAULT_SCHEDULE.into(),
        }
    }
}

fn default_stack() -> String {
    DEFAULT_STACK.into()
}
fn default_log_retention() -> u32 {
    DEFAULT_LOG_RETENTION_DAYS
}

/// What dockhand.json decides on its own, checked.
#[derive(Debug)]
pub struct Settings {
    pub stack: String,
    pub region: Option<String>,
    pub artifact_bucket: Option<String>,
    pub secret_parameter: String,
    pub project: String,
    /// The SecureString of the registry's token; empty when the registry needs none (ECR).
    pub registry_token_parameter: String,
    /// The SecureString of a GitHub token; empty when dockhand.json names none.
    pub github_token_parameter: String,
    /// `Key=Value`, in template order, without the artifact bucket and the code keys (those
    /// need AWS's answers and the zips: `Settings::files`); no value holds a newline.
    pub parameters: Vec<(String, String)>,
}

/// `dockhand stack-parameters`: what cfn/deploy.sh has learned so far, besides dockhand.json.
/// Each verb passes its own values, and each call decides every file anew from all of them.
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// The deployment file [default: $DOCKHAND_FILE, else dockhand.json].
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The directory to write into: one file per value.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The account of the caller's credentials (aws sts get-caller-identity). With it the
    /// region must be known, and the artifact bucket is decided.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// The AWS CLI's region (aws configure get region), used when neither dockhand.json nor
    /// AWS_REGION nor AWS_DEFAULT_REGION names one.
    #[arg(long, value_name = "REGION")]
    pub configured_region: Option<String>,
    /// Where the function zips are (DIR/<function>/bootstrap.zip): decides what to upload
    /// under which key, and the code keys of the parameters.
    #[arg(long, value_name = "DIR")]
    pub zips: Option<PathBuf>,
    /// `make logs FN=...`: the function (or build) whose log group to read.
    #[arg(long, value_name = "FN")]
    pub logs: Option<String>,
    /// `make dead-letters REPLAY=...`: 1 (yes, true) replays, empty (0, no, false) lists.
    #[arg(long, value_name = "REPLAY")]
    pub replay: Option<String>,
    /// `make deliveries REPO=...`: the repository whose webhook deliveries to read.
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// `make deliveries SINCE=...`: how far back (`dockhand deliveries` checks it).
    #[arg(long, value_name = "DURATION", requires = "repo")]
    pub since: Option<String>,
    /// `make deliveries REDELIVER=...`: 1 (yes, true) redelivers, empty (0, no, false) lists.
    #[arg(long, value_name = "REDELIVER", requires = "repo")]
    pub redeliver: Option<String>,
}

/// The environment variables stack-parameters reads; an empty one counts as unset.
#[derive(Debug)]
pub struct Environment {
    /// DOCKHAND_FILE
    pub file: Option<PathBuf>,
    /// AWS_REGION
    pub aws_region: Option<String>,
    /// AWS_DEFAULT_REGION
    pub aws_default_region: Option<String>,
    /// Whether GITHUB_TOKEN is set (`make deliveries` needs it; its value is never read here).
    pub github_token: bool,
}

impl Environment {
    fn of_this_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            file: std::env::var_os("DOCKHAND_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            aws_region: var("AWS_REGION"),
            aws_default_region: var("AWS_DEFAULT_REGION"),
            github_token: std::env::var_os("GITHUB_TOKEN").is_some_and(|v| !v.is_empty()),
        }
    }
}

/// Every file stack-parameters writes: a value, or a list of one item per line (marked *).
/// A file this call cannot decide yet is removed, so a value left by an earlier call is
/// never read.
///
/// - `stack`, `region` (empty until known), `secret-parameter`, `registry-token-parameter`
///   and `github-token-parameter` (empty when none), `artifact-prefix` (the S3 prefix of the
///   stack's uploads), `tags`* and `parameters`* (`Key=Value`, in template order, for
///   `aws cloudformation deploy`): always.
/// - `artifact-bucket` and `create-bucket`* (the arguments of `aws s3api create-bucket`):
///   with --account.
/// - `upload-files`* and `upload-keys`* (each zip, and the key it is uploaded under): with
///   --zips.
/// - `log-group`: with --logs. `dead-letters-args`* and `deliveries-args`* (the `dockhand`
///   command to run): with --replay and with --repo.
pub const FILES: &[&str] = &[
    "stack",
    "region",
    "secret-parameter",
    "registry-token-parameter",
    "github-token-parameter",
    "artifact-prefix",
    "tags",
    "parameters",
    "artifact-bucket",
    "create-bucket",
    "upload-files",
    "upload-keys",
    "log-group",
    "dead-letters-args",
    "deliveries-args",
];

impl DeployFile {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a valid dockhand.json: {e}"))
    }

    pub fn settings(&self) -> Result<Settings, String> {
        let deployment = Deployment::new(self.config.clone()).map_err(|e| e.to_string())?;
        let config = &deployment.config;
        if !is_stack_name(&self.stack) {
            return Err(format!(
                "stack {:?} is not a usable stack name (a letter, then up to {} letters, digits or -)",
                self.stack,
                MAX_STACK_NAME - 1
            ));
        }
        if let Some(region) = &self.region
            && !is_region(region)
        {
            return Err(format!("region {region:?} is not an AWS region name such as eu-west-1"));
        }
        if let Some(bucket) = &self.artifact_bucket
            && !is_bucket_name(bucket)
        {
            return Err(format!(
                "artifact_bucket {bucket:?} is not an S3 bucket name (3-63 of a-z 0-9 . -)"
            ));
        }
        if !COMPUTE_TYPES.contains(&config.compute_type.as_str()) {
            return Err(format!(
                "config.compute_type {:?} cannot run docker builds; use one of {}",
                config.compute_type,
                COMPUTE_TYPES.join(", ")
            ));
        }
        let (environment_type, default_image) = match self.build.architecture.as_str() {
            "x86_64" | "amd64" => ("LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
            "arm64" | "aarch64" => ("ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
            other => return Err(format!("build.architecture {other:?} is neither x86_64 nor arm64")),
        };
        let image = self.build.image.as_deref().unwrap_or(default_image);
        if image.is_empty() || image.len() > 255 || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("build.image {image:?} is not an image name"));
        }
        // SQS keeps a message from 1 minute to 14 days; dockhand's waiting starts at an hour.
        if !(1..=14 * 24).contains(&self.build.queue_retention_hours) {
            return Err(format!(
                "build.queue_retention_hours {} is outside 1 to 336 (SQS keeps messages at most 14 days)",
                self.build.queue_retention_hours
            ));
        }
        if !(2..=1000).contains(&self.build.start_concurrency) {
            return Err(format!(
                "build.start_concurrency {} is outside Lambda's 2 to 1000",
                self.build.start_concurrency
            ));
        }
        for (what, days) in [
            ("build.log_retention_days", self.build.log_retention_days),
            ("log_retention_days", self.log_retention_days),
        ] {
            if !LOG_RETENTION_DAYS.contains(&days) {
                return Err(format!(
                    "{what} {days} is not one CloudWatch Logs accepts: {LOG_RETENTION_DAYS:?}"
                ));
            }
        }
        let (token_parameter, ecr_prefix) = match &config.registry {
            Registry::DockerHub { .. } | Registry::Generic { .. } => {
                (config.registry.token_parameter().unwrap_or_default(), "-".to_owned())
            }
            Registry::Ecr { prefix, .. } => match prefix.as_deref() {
                Some(p) if !p.is_empty() => (String::new(), p.to_owned()),
                _ => {
                    return Err(
                        "config.registry.prefix is required with ECR: builds may create and push \
                                repositories only under it (least privilege), for example \"images\""
                            .into(),
                    );
                }
            },
        };
        let email = self.notify.email.clone().unwrap_or_default();
        if !email.is_empty() && !is_email(&email) {
            return Err(format!("notify.email {email:?} is not an email address"));
        }
        let sms = self.notify.sms.clone().unwrap_or_default();
        if !sms.is_empty() && !is_e164(&sms) {
            return Err(format!(
                "notify.sms {sms:?} is not a phone number in E.164 form, such as +14155550100"
            ));
        }
        for status in &self.notify.statuses {
            if !STATUSES.contains(&status.as_str()) {
                return Err(format!(
                    "notify.statuses: {status:?} is not a build status ({})",
                    STATUSES.join(", ")
                ));
            }
        }
        if self.webhook.rate_limit == 0 || self.webhook.burst_limit == 0 {
            return Err("webhook.rate_limit and webhook.burst_limit must be at least 1".into());
        }
        let secret_parameter = match &self.webhook.secret_parameter {
            Some(p) if is_ssm_name(p) => p.clone(),
            Some(p) => {
                return Err(format!(
                    "webhook.secret_parameter {p:?} is not an SSM parameter name (starting with /, then A-Z a-z 0-9 _ . - /)"
                ));
            }
            None => default_secret_parameter(&self.stack),
        };
        if self.cleanup.retention_days == 0 {
            return Err("cleanup.retention_days must be at least 1".into());
        }
        let schedule = &self.cleanup.schedule;
        dockhand_core::config::check_schedule("cleanup.schedule", schedule)?;
        let key_arn = self.secrets_kms_key_arn.clone().unwrap_or_default();
        if !key_arn.is_empty() && !key_arn.starts_with("arn:") {
            return Err(format!("secrets_kms_key_arn {key_arn:?} is not a KMS key ARN"));
        }
        let github_token_parameter = config.github_token_parameter.clone().unwrap_or_default();
        let config_json = serde_json::to_string(config).expect("a configuration serializes");
        if config_json.len() > MAX_PARAMETER_BYTES {
            return Err(format!(
                "config is {} bytes as one line of JSON; CloudFormation parameters hold at most {MAX_PARAMETER_BYTES}",
                config_json.len()
            ));
        }
        let parameters = [
            ("DockhandConfig", config_json),
            ("ProjectName", config.project.clone()),
            ("BuildImage", image.to_owned()),
            ("BuildEnvironmentType", environment_type.to_owned()),
            ("BuildComputeType", config.compute_type.clone()),
            ("BuildTimeoutMinutes", config.timeout_minutes.to_string()),
            ("ConcurrentBuildLimit", self.build.concurrent_builds.to_string()),
            (
                "QueueRetentionSeconds",
                (u64::from(self.build.queue_retention_hours) * 3600).to_string(),
            ),
            ("StartConcurrency", self.build.start_concurrency.to_string()),
            ("BuildLogRetentionDays", self.build.log_retention_days.to_string()),
            ("WebhookSecretParameter", secret_parameter.clone()),
            ("RegistryTokenParameter", token_parameter.clone()),
            ("GitHubTokenParameter", github_token_parameter.clone()),
            (
                "PullTokenParameter",
                config
                    .pull_credential
                    .as_ref()
                    .and_then(|p| p.token_parameter.clone())
                    .unwrap_or_default(),
            ),
            ("EcrRepositoryPrefix", ecr_prefix),
            ("SecretsKmsKeyArn", key_arn),
            ("NotifyEmail", email),
            ("NotifySms", sms),
            ("NotifyStatuses", self.notify.statuses.join(",")),
            ("CommitStatuses", config.commit_statuses.to_string()),
            ("ApiRateLimit", self.webhook.rate_limit.to_string()),
            ("ApiBurstLimit", self.webhook.burst_limit.to_string()),
            ("ListenerConcurrency", self.webhook.listener_concurrency.to_string()),
            ("FunctionLogRetentionDays", self.log_retention_days.to_string()),
            ("RetentionDays", self.cleanup.retention_days.to_string()),
            ("CleanupSchedule", schedule.clone()),
            // Empty: no refresh (the template's HasRefresh); the schedule was checked with
            // the configuration.
            (
                "RefreshSchedule",
                config.refresh.as_ref().map(|r| r.schedule.clone()).unwrap_or_default(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect::<Vec<_>>();
        debug_assert!(parameters.iter().all(|(_, v)| !v.contains(['\n', '\r'])));
        Ok(Settings {
            stack: self.stack.clone(),
            region: self.region.clone(),
            artifact_bucket: self.artifact_bucket.clone(),
            secret_parameter,
            project: config.project.clone(),
            registry_token_parameter: token_parameter,
            github_token_parameter,
            parameters,
        })
    }
}

impl Settings {
    /// Every file this call decides, by name (`FILES`), from dockhand.json's settings, the
    /// values the script passed and the environment. Lists hold one item per line.
    pub fn files(&self, args: &Args, env: &Environment) -> Result<Vec<(&'static str, String)>, String> {
        let mut files = vec![
            ("stack", self.stack.clone()),
            ("secret-parameter", self.secret_parameter.clone()),
            ("registry-token-parameter", self.registry_token_parameter.clone()),
            ("github-token-parameter", self.github_token_parameter.clone()),
            // The uploads' keys start with it, so `make destroy` removes exactly them.
            ("artifact-prefix", self.stack.clone()),
            ("tags", format!("dockhand={}\n", self.stack)),
        ];
        // The template's own order: the bucket, the code keys, then dockhand.json's.
        let mut parameters = Vec::new();
        let region = self.region(args, env)?;
        files.push(("region", region.clone().unwrap_or_default()));
        if let Some(account) = &args.account {
            if !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())) {
                return Err(format!(
                    "the AWS account {account:?} (aws sts get-caller-identity) is not 12 digits: check the credentials the AWS CLI uses (aws sts get-caller-identity, AWS_PROFILE)"
                ));
            }
            let region = region.expect("Settings::region requires one with an account");
            let bucket = match &self.artifact_bucket {
                Some(bucket) => bucket.clone(),
                None => default_bucket(account, &region),
            };
            if !is_bucket_name(&bucket) {
                return Err(format!(
                    "the artifact bucket {bucket:?} is not an S3 bucket name: set \"artifact_bucket\" in dockhand.json"
                ));
            }
            let mut create = vec!["--bucket".to_owned(), bucket.clone()];
            if region != BUCKET_DEFAULT_REGION {
                create.extend([
                    "--create-bucket-configuration".into(),
                    format!("LocationConstraint={region}"),
                ]);
            }
            files.push(("create-bucket", lines(&create)));
            files.push(("artifact-bucket", bucket.clone()));
            parameters.push(("ArtifactBucket".to_owned(), bucket));
        }
        if let Some(zips) = &args.zips {
            let (paths, keys) = self.uploads(zips)?;
            for (function, key) in FUNCTIONS.iter().zip(&keys) {
                parameters.push((code_key_parameter(function), key.clone()));
            }
            files.push(("upload-files", lines(&paths)));
            files.push(("upload-keys", lines(&keys)));
        }
        parameters.extend(self.parameters.iter().cloned());
        let parameters: Vec<String> = parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        files.push(("parameters", lines(&parameters)));
        if let Some(function) = &args.logs {
            files.push(("log-group", self.log_group(function)?));
        }
        if let Some(replay) = &args.replay {
            let mut command = vec!["dead-letters".to_owned(), "--stack".into(), self.stack.clone()];
            if flag("REPLAY", replay)? {
                command.push("--replay".into());
            }
            files.push(("dead-letters-args", lines(&command)));
        }
        if let Some(repo) = &args.repo {
            files.push(("deliveries-args", deliveries_command(repo, args, env)?));
        }
        debug_assert!(files.iter().all(|(name, _)| FILES.contains(name)));
        Ok(files)
    }

    /// dockhand.json's region, else AWS_REGION, else AWS_DEFAULT_REGION, else the AWS CLI's:
    /// the first that names one, checked. None is known yet only before the credentials.
    fn region(&self, args: &Args, env: &Environment) -> Result<Option<String>, String> {
        let chosen = [
            ("dockhand.json's region", &self.region),
            ("AWS_REGION", &env.aws_region),
            ("AWS_DEFAULT_REGION", &env.aws_default_region),
            (
                "the AWS CLI's region (aws configure get region)",
                &args.configured_region,
            ),
        ]
        .into_iter()
        .find_map(|(source, region)| region.as_deref().filter(|r| !r.is_empty()).map(|r| (source, r)));
        match chosen {
            Some((source, region)) if !is_region(region) => Err(format!(
                "{source} {region:?} is not an AWS region name such as eu-west-1: correct it, or set \"region\" in dockhand.json"
            )),
            Some((_, region)) => Ok(Some(region.to_owned())),
            None if args.account.is_some() => Err(
                "no AWS region: set \"region\" in dockhand.json, or AWS_REGION, or run 'aws configure set region eu-west-1'"
                    .into(),
            ),
            None => Ok(None),
        }
    }

    /// Each function's zip, and the key it is uploaded under: named by its SHA-256, so an
    /// unchanged function is neither uploaded nor updated again.
    fn uploads(&self, zips: &Path) -> Result<(Vec<String>, Vec<String>), String> {
        let (mut paths, mut keys) = (Vec::new(), Vec::new());
        for function in FUNCTIONS {
            let zip = zips.join(function).join("bootstrap.zip");
            let path = match zip.to_str() {
                Some(p) if !p.contains(['\n', '\r']) => p.to_owned(),
                _ => {
                    return Err(format!(
                        "the zips' directory {} is not a path of one line of UTF-8: set DOCKHAND_ZIPS to another",
                        zips.display()
                    ));
                }
            };
            let bytes = std::fs::read(&zip).map_err(|e| format!("there is no {path} ({e}): run 'make build'"))?;
            keys.push(format!("{}/{function}-{}.zip", self.stack, sha256_hex(&bytes)));
            paths.push(path);
        }
        Ok((paths, keys))
    }

    /// `make logs FN=...`: a function's log group, or the builds'.
    fn log_group(&self, function: &str) -> Result<String, String> {
        if FUNCTIONS.contains(&function) {
            Ok(format!("/aws/lambda/{}-{function}", self.stack))
        } else if function == "build" {
            Ok(format!("/aws/codebuild/{}", self.project))
        } else {
            Err(format!(
                "FN must be one of {}, build (make logs FN=spawner), not {function:?}",
                FUNCTIONS.join(", ")
            ))
        }
    }
}

/// The template's parameter of a function's code key: `listener` -> `ListenerCodeKey`.
fn code_key_parameter(function: &str) -> String {
    let mut chars = function.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase()).into_iter();
    first.chain(chars).chain("CodeKey".chars()).collect()
}

/// `make deliveries`: the `dockhand deliveries` command, but for the stack's webhook URL,
/// which the script reads from the stack once the credentials are known.
fn deliveries_command(repo: &str, args: &Args, env: &Environment) -> Result<String, String> {
    if repo.is_empty() {
        return Err("REPO is required: make deliveries REPO=owner/name [SINCE=3d] [REDELIVER=1]".into());
    }
    if !env.github_token {
        return Err("set GITHUB_TOKEN to a token that may read REPO's webhooks (fine-grained: the repository's \"Webhooks\" permission, read-only; read and write for REDELIVER=1)".into());
    }
    let mut command = vec!["deliveries".to_owned(), "--repo".into(), repo.to_owned()];
    if let Some(since) = args.since.as_deref().filter(|s| !s.is_empty()) {
        command.extend(["--since".into(), since.to_owned()]);
    }
    if flag("REDELIVER", args.redeliver.as_deref().unwrap_or_default())? {
        command.push("--redeliver".into());
    }
    // `dockhand deliveries` checks each value; one may only not break the list's lines.
    if let Some(bad) = command.iter().find(|v| v.contains(['\n', '\r'])) {
        return Err(format!("{bad:?} holds a line break: give REPO and SINCE on one line"));
    }
    Ok(lines(&command))
}

/// A yes-or-no value of make's command line, such as REPLAY=1.
fn flag(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "" | "0" | "no" | "false" => Ok(false),
        "1" | "yes" | "true" => Ok(true),
        other => Err(format!("{name} must be 1 (or left out), not {other}")),
    }
}

/// A list file: one item per line, for `mapfile -t`.
fn lines(items: &[String]) -> String {
    items.iter().map(|item| format!("{item}\n")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One file per value, so the deploy script reads values and never evaluates them; every
/// other file of `FILES` is removed.
pub fn write(dir: &Path, files: &[(&str, String)]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for name in FILES {
        let path = dir.join(name);
        match files.iter().find(|(n, _)| n == name) {
            Some((_, value)) => {
                std::fs::write(&path, value).map_err(|e| format!("cannot write {}: {e}", path.display()))?
            }
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("cannot remove {}: {e}", path.display()));
                }
                _ => {}
            },
        }
    }
    Ok(())
}

fn is_stack_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_STACK_NAME
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_email(s: &str) -> bool {
    s.len() <= 254
        && s.split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.starts_with('.'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len()) && !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Reads, checks and writes: the `dockhand stack-parameters` subcommand.
pub fn run(args: &Args) -> Result<(), String> {
    let env = Environment::of_this_process();
    let file = args
        .file
        .clone()
        .or_else(|| env.file.clone())
        .unwrap_or_else(|| DEFAULT_FILE.into());
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "cannot read {}: {e} (copy dockhand.example.json to dockhand.json and edit it; README: Deploy to AWS)",
            file.display()
        )
    })?;
    let settings = DeployFile::parse(&text)
        .and_then(|f| f.settings())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    write(&args.out, &settings.files(args, &env)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const EXAMPLE: &str = include_str!("../../../dockhand.example.json");

    fn settings(json: &str) -> Result<Settings, String> {
        DeployFile::parse(json)?.settings()
    }

    fn value<'a>(s: &'a Settings, key: &str) -> &'a str {
        &s.parameters.iter().find(|(k, _)| k == key).unwrap().1
    }

    /// A directory for one test, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("dockhand-deploy-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        /// DIR/<function>/bootstrap.zip for each function, holding `<function>`; the
        /// listener's holds "abc", whose SHA-256 is known.
        fn zips(&self) -> PathBuf {
            let zips = self.0.join("zips");
            for function in FUNCTIONS {
                std::fs::create_dir_all(zips.join(function)).unwrap();
                let body = if function == "listener" { "abc" } else { function };
                std::fs::write(zips.join(function).join("bootstrap.zip"), body).unwrap();
            }
            zips
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    /// What `make deploy` passes once it knows everything: the account and the zips.
    fn deploying(zips: &Path) -> Args {
        Args {
            account: Some("123456789012".into()),
            configured_region: Some("eu-west-1".into()),
            zips: Some(zips.to_owned()),
            ..Args::default()
        }
    }

    fn files(s: &Settings, args: &Args, env: &Environment) -> Result<BTreeMap<&'static str, String>, String> {
        s.files(args, env).map(|f| f.into_iter().collect())
    }

    #[test]
    fn the_example_is_valid() {
        let s = settings(EXAMPLE).unwrap();
        assert_eq!(s.stack, "dockhand");
        assert_eq!(s.secret_parameter, "/dockhand/dockhand/webhook-secret");
        assert_eq!(value(&s, "BuildEnvironmentType"), "LINUX_CONTAINER");
        assert_eq!(value(&s, "RegistryTokenParameter"), "/dockhand/dockerhub/acme");
        assert_eq!(value(&s, "EcrRepositoryPrefix"), "-");
        // The configuration travels as one line the functions parse back to the same thing.
        let config = value(&s, "DockhandConfig");
        assert!(!config.contains('\n'));
        let back = Deployment::from_json(config).unwrap();
        assert_eq!(back.config, DeployFile::parse(EXAMPLE).unwrap().config);
    }

    #[test]
    fn the_default_schedule_is_the_templates() {
        let template = include_str!("../../../cfn/dockhand.yml");
        let parameter = template.split("\n  CleanupSchedule:\n").nth(1).unwrap();
        let default = parameter
            .lines()
            .take_while(|l| l.starts_with("    "))
            .find_map(|l| l.trim().strip_prefix("Default: "))
            .unwrap();
        assert_eq!(default, DEFAULT_SCHEDULE);
    }

    /// The template's parameters, in order.
    fn declared_parameters() -> Vec<&'static str> {
        let template = include_str!("../../../cfn/dockhand.yml");
        let section = template.split("\nParameters:\n").nth(1).unwrap();
        let section = section.split("\nConditions:\n").next().unwrap();
        section
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':'))
            .collect()
    }

    /// A parameter's `AllowedValues: [a, b]` in the template.
    fn allowed_values(parameter: &str) -> Vec<&'static str> {
        let template = include_str!("../../../cfn/dockhand.yml");
        let section = template.split(&format!("\n  {parameter}:\n")).nth(1).unwrap();
        let line = section
            .lines()
            .take_while(|l| l.starts_with("    "))
            .find_map(|l| l.trim().strip_prefix("AllowedValues: ["))
            .unwrap();
        line.trim_end_matches(']').split(", ").collect()
    }

    #[test]
    fn every_template_parameter_is_set_and_nothing_else() {
        let s = settings(EXAMPLE).unwrap();
        let code = [
            "ArtifactBucket",
            "ListenerCodeKey",
            "SpawnerCodeKey",
            "NotifierCodeKey",
            "CleanupCodeKey",
        ];
        // dockhand.json's own, then with the bucket and the code keys: all of them, in order.
        let declared = declared_parameters();
        let own: Vec<&str> = declared.iter().copied().filter(|k| !code.contains(k)).collect();
        let set: Vec<&str> = s.parameters.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(own, set);
        let scratch = Scratch::new("every-parameter");
        let all = files(&s, &deploying(&scratch.zips()), &NO_ENV).unwrap();
        let set: Vec<&str> = all["parameters"]
            .lines()
            .map(|l| l.split_once('=').unwrap().0)
            .collect();
        assert_eq!(declared, set);
    }

    #[test]
    fn the_lists_are_the_templates_and_cores() {
        assert_eq!(allowed_values("BuildComputeType"), COMPUTE_TYPES);
        let days: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
        for parameter in ["BuildLogRetentionDays", "FunctionLogRetentionDays"] {
            assert_eq!(allowed_values(parameter), days, "{parameter}");
        }
        // The notifier's default statuses are among those dockhand.json may name.
        let notifier = dockhand_core::notification::DEFAULT_STATUSES;
        assert!(notifier.iter().all(|s| STATUSES.contains(s)));
        assert!(STATUSES.contains(&"IN_PROGRESS"));
        // `make build` compiles the functions without the CLI, so deploy.sh names them too.
        let script = include_str!("../../../cfn/deploy.sh");
        let named = script
            .lines()
            .find_map(|l| l.strip_prefix("functions=("))
            .unwrap()
            .trim_end_matches(')');
        assert_eq!(named.split(' ').collect::<Vec<_>>(), FUNCTIONS);
    }

    /// The notifier's grant of the GitHub token follows the configuration's commit_statuses.
    #[test]
    fn commit_statuses_reach_the_template() {
        let s = settings(
            r#"{"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"},
            "github_token_parameter":"/dockhand/github-token","commit_statuses":true}}"#,
        )
        .unwrap();
        assert_eq!(value(&s, "CommitStatuses"), "true");
        assert_eq!(value(&s, "GitHubTokenParameter"), "/dockhand/github-token");
    }

    #[test]
    fn minimal_file_takes_defaults() {
        let s =
            settings(r#"{"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#)
                .unwrap();
        assert_eq!(s.stack, "dockhand");
        assert_eq!(s.region, None);
        assert_eq!(value(&s, "BuildImage"), "aws/codebuild/amazonlinux-x86_64-standard:5.0");
        assert_eq!(value(&s, "NotifyEmail"), "");
        assert_eq!(value(&s, "NotifyStatuses"), "");
        assert_eq!(value(&s, "CommitStatuses"), "false");
        assert_eq!(value(&s, "ListenerConcurrency"), "5");
        // A day of waiting for room or for GitHub, two invocations starting builds.
        assert_eq!(value(&s, "ConcurrentBuildLimit"), "5");
        assert_eq!(value(&s, "QueueRetentionSeconds"), "86400");
        assert_eq!(value(&s, "StartConcurrency"), "2");
        assert_eq!(value(&s, "CleanupSchedule"), "rate(1 day)");
        // No refresh: the template's HasRefresh is false.
        assert_eq!(value(&s, "RefreshSchedule"), "");
    }

    #[test]
    fn the_refresh_schedule_reaches_the_template_and_is_checked() {
        let file = |refresh: &str| {
            format!(
                r#"{{"config":{{"repositories":["acme/images"],"registry":{{"type":"dockerhub","namespace":"acme"}},"refresh":{refresh}}}}}"#
            )
        };
        let s = settings(&file(r#"{"schedule":"cron(0 4 ? * MON *)","tag":"{date}"}"#)).unwrap();
        assert_eq!(value(&s, "RefreshSchedule"), "cron(0 4 ? * MON *)");
        assert!(value(&s, "DockhandConfig").contains(r#""refresh":{"schedule":"cron(0 4 ? * MON *)""#));
        let e = settings(&file(r#"{"schedule":"weekly"}"#)).unwrap_err();
        assert!(
            e.contains("refresh.schedule \"weekly\" is not an EventBridge schedule"),
            "{e}"
        );
    }

    #[test]
    fn arm_builds_and_ecr() {
        let s = settings(
            r#"{"stack":"imgs","build":{"architecture":"arm64"},
                "config":{"repositories":["acme/*"],"registry":{"type":"ecr","registry":"123456789012.dkr.ecr.eu-west-1.amazonaws.com","prefix":"team"}}}"#,
        )
        .unwrap();
        assert_eq!(value(&s, "BuildEnvironmentType"), "ARM_CONTAINER");
        assert_eq!(
            value(&s, "BuildImage"),
            "aws/codebuild/amazonlinux-aarch64-standard:3.0"
        );
        assert_eq!(value(&s, "EcrRepositoryPrefix"), "team");
        assert_eq!(value(&s, "RegistryTokenParameter"), "");
        assert_eq!(s.secret_parameter, "/dockhand/imgs/webhook-secret");
    }

    #[test]
    fn mistakes_are_named() {
        for (json, says) in [
            (r#"{"config":{}}"#, "registry"),
            (
                r#"{"stak":"x","config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "unknown field `stak`",
            ),
            (
                r#"{"stack":"my stack","config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "stack",
            ),
            (
                r#"{"region":"Ireland","config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "region",
            ),
            (
                r#"{"config":{"repositories":["acme/*"],"registry":{"type":"ecr","registry":"123456789012.dkr.ecr.eu-west-1.amazonaws.com"}}}"#,
                "prefix is required",
            ),
            (
                r#"{"notify":{"sms":"0612345678"},"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "E.164",
            ),
            (
                r#"{"notify":{"email":"nobody"},"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "email",
            ),
            (
                r#"{"notify":{"statuses":["BROKEN"]},"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "BROKEN",
            ),
            (
                r#"{"build":{"queue_retention_hours":0},"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "build.queue_retention_hours 0 is outside 1 to 336",
            ),
            (
                r#"{"build":{"start_concurrency":1},"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "build.start_concurrency 1 is outside Lambda's 2 to 1000",
            ),
            (
                r#"{"build":{"architecture":"riscv"},"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "riscv",
            ),
            (
                r#"{"log_retention_days":31,"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "31",
            ),
            (
                r#"{"cleanup":{"schedule":"weekly"},"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "schedule",
            ),
            (
                r#"{"config":{"compute_type":"BUILD_LAMBDA_1GB","repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "cannot run docker",
            ),
            (
                r#"{"webhook":{"secret_parameter":"no-slash"},"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
                "secret_parameter",
            ),
        ] {
            let err = settings(json).unwrap_err();
            assert!(err.contains(says), "{json}: {err}");
        }
    }

    #[test]
    fn a_configuration_too_large_for_a_parameter_is_refused() {
        let images: Vec<String> = (0..200)
            .map(|i| format!(r#""dir{i}/nested":"image-number-{i}""#))
            .collect();
        let json = format!(
            r#"{{"config":{{"repositories":["acme/*"],"registry":{{"type":"dockerhub","namespace":"acme"}},"images":{{{}}}}}}}"#,
            images.join(",")
        );
        assert!(settings(&json).unwrap_err().contains("at most 4096"));
    }

    #[test]
    fn written_files_hold_one_value_each() {
        let scratch = Scratch::new("written");
        let dir = scratch.0.join("settings");
        let s = settings(EXAMPLE).unwrap();
        write(&dir, &s.files(&Args::default(), &NO_ENV).unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("stack")).unwrap(), "dockhand");
        let parameters = std::fs::read_to_string(dir.join("parameters")).unwrap();
        assert_eq!(parameters.lines().count(), 27);
        assert!(parameters.lines().all(|l| l.split_once('=').is_some()));
        // What is not decided yet is not there: no account, no bucket.
        assert!(!dir.join("artifact-bucket").exists());

        // Once everything is known, everything is written; a value an earlier call decided
        // and this one did not is removed, never left to be read.
        let mut args = deploying(&scratch.zips());
        args.logs = Some("spawner".into());
        write(&dir, &s.files(&args, &NO_ENV).unwrap()).unwrap();
        let parameters = std::fs::read_to_string(dir.join("parameters")).unwrap();
        assert_eq!(parameters.lines().count(), 32);
        assert_eq!(
            std::fs::read_to_string(dir.join("log-group")).unwrap(),
            "/aws/lambda/dockhand-spawner"
        );
        for name in FILES {
            let expected = !name.ends_with("-args");
            assert_eq!(dir.join(name).exists(), expected, "{name}");
        }
        write(&dir, &s.files(&Args::default(), &NO_ENV).unwrap()).unwrap();
        for name in ["log-group", "artifact-bucket", "upload-keys"] {
            assert!(!dir.join(name).exists(), "{name} was left");
        }
    }

    #[test]
    fn each_file_holds_its_value() {
        let scratch = Scratch::new("each-file");
        let s = settings(FULL_DEPLOY).unwrap();
        let zips = scratch.zips();
        let mut args = deploying(&zips);
        args.logs = Some("build".into());
        let args = Args {
            replay: Some("1".into()),
            repo: Some("acme/web".into()),
            since: Some("2h".into()),
            redeliver: Some("yes".into()),
            ..args
        };
        let f = files(&s, &args, &TOKEN).unwrap();
        let zip = |function: &str| zips.join(function).join("bootstrap.zip").to_str().unwrap().to_owned();
        let key = |function: &str| format!("imgs/{function}-{}.zip", sha256_hex(function.as_bytes()));
        let listener_key = format!("imgs/listener-{ABC_SHA256}.zip");
        assert_eq!(f["stack"], "imgs");
        assert_eq!(f["region"], "eu-west-1");
        assert_eq!(f["secret-parameter"], "/dockhand/imgs/webhook-secret");
        assert_eq!(f["registry-token-parameter"], "/dockhand/dockerhub/acme");
        assert_eq!(f["github-token-parameter"], "/dockhand/imgs/github-token");
        assert_eq!(f["artifact-prefix"], "imgs");
        assert_eq!(f["tags"], "dockhand=imgs\n");
        assert_eq!(f["artifact-bucket"], "dockhand-artifacts-123456789012-eu-west-1");
        assert_eq!(
            f["create-bucket"],
            "--bucket\ndockhand-artifacts-123456789012-eu-west-1\n--create-bucket-configuration\nLocationConstraint=eu-west-1\n"
        );
        let each =
            |of: &dyn Fn(&str) -> String| FUNCTIONS.iter().map(|function| of(function) + "\n").collect::<String>();
        assert_eq!(f["upload-files"], each(&zip));
        assert_eq!(f["upload-keys"], each(&key).replace(&key("listener"), &listener_key));
        let parameters: Vec<&str> = f["parameters"].lines().collect();
        assert_eq!(
            parameters[..5],
            [
                "ArtifactBucket=dockhand-artifacts-123456789012-eu-west-1".to_owned(),
                format!("ListenerCodeKey={listener_key}"),
                format!("SpawnerCodeKey={}", key("spawner")),
                format!("NotifierCodeKey={}", key("notifier")),
                format!("CleanupCodeKey={}", key("cleanup")),
            ]
        );
        let own: Vec<String> = s.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(parameters[5..], own);
        assert_eq!(f["log-group"], "/aws/codebuild/imgs-builds");
        assert_eq!(f["dead-letters-args"], "dead-letters\n--stack\nimgs\n--replay\n");
        assert_eq!(
            f["deliveries-args"],
            "deliveries\n--repo\nacme/web\n--since\n2h\n--redeliver\n"
        );
        assert_eq!(f.len(), FILES.len());
    }

    const FULL_DEPLOY: &str = r#"{"stack":"imgs","region":"eu-west-1","config":{"project":"imgs-builds",
        "github_token_parameter":"/dockhand/imgs/github-token","repositories":["acme/*"],
        "registry":{"type":"dockerhub","namespace":"acme","username":"acmebot"}}}"#;
    const MINIMAL: &str =
        r#"{"config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#;
    const NO_ENV: Environment = Environment {
        file: None,
        aws_region: None,
        aws_default_region: None,
        github_token: false,
    };
    const TOKEN: Environment = Environment {
        github_token: true,
        ..NO_ENV
    };

    /// The arguments as deploy.sh gives them, after `stack-parameters --out DIR`.
    fn given(words: &[&str]) -> Args {
        #[derive(clap::Parser)]
        struct Line {
            #[command(flatten)]
            args: Args,
        }
        let line = ["stack-parameters", "--out", "settings"].iter().chain(words);
        <Line as clap::Parser>::try_parse_from(line).unwrap().args
    }

    fn regions(region: Option<&str>, default: Option<&str>) -> Environment {
        Environment {
            aws_region: region.map(Into::into),
            aws_default_region: default.map(Into::into),
            ..NO_ENV
        }
    }

    #[test]
    fn a_registry_without_a_namespace_names_its_token_by_host() {
        let s = settings(
            r#"{"config":{"repositories":["jessfraz/dockerfiles"],"registry":{"type":"registry","host":"r.j3ss.co","namespace":"","username":"jessfraz"}}}"#,
        )
        .unwrap();
        assert_eq!(value(&s, "RegistryTokenParameter"), "/dockhand/registry/r.j3ss.co");
        assert_eq!(value(&s, "EcrRepositoryPrefix"), "-");
        let f = files(&s, &given(&[]), &NO_ENV).unwrap();
        assert_eq!(f["registry-token-parameter"], "/dockhand/registry/r.j3ss.co");
        let e = settings(
            r#"{"config":{"repositories":["a/b"],"registry":{"type":"registry","host":"r.j3ss.co","namespace":""}}}"#,
        )
        .unwrap_err();
        assert!(e.contains("registry.username"), "{e}");
    }

    #[test]
    fn the_region_is_dockhand_jsons_then_the_environments_then_the_clis() {
        let s = settings(MINIMAL).unwrap();
        let cli = |region: &str| given(&["--account", "123456789012", "--configured-region", region]);
        let region = |args: &Args, env: &Environment| files(&s, args, env).unwrap()["region"].clone();
        // Before the credentials, none may be known yet.
        assert_eq!(region(&given(&[]), &NO_ENV), "");
        assert_eq!(region(&cli("us-west-2"), &NO_ENV), "us-west-2");
        assert_eq!(
            region(&cli("us-west-2"), &regions(None, Some("eu-north-1"))),
            "eu-north-1"
        );
        let both = regions(Some("ap-south-1"), Some("eu-north-1"));
        assert_eq!(region(&cli("us-west-2"), &both), "ap-south-1");
        let json = settings(FULL_DEPLOY).unwrap();
        assert_eq!(files(&json, &cli("us-west-2"), &both).unwrap()["region"], "eu-west-1");
        // S3 refuses a location constraint in us-east-1.
        let f = files(&s, &cli("us-east-1"), &NO_ENV).unwrap();
        assert_eq!(
            f["create-bucket"],
            "--bucket\ndockhand-artifacts-123456789012-us-east-1\n"
        );
        // dockhand.json's bucket wins over the default.
        let named = settings(
            r#"{"artifact_bucket":"my-zips","config":{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}}"#,
        )
        .unwrap();
        assert_eq!(
            files(&named, &cli("us-west-2"), &NO_ENV).unwrap()["artifact-bucket"],
            "my-zips"
        );
    }

    /// A value stack-parameters refuses, with what to do about it.
    #[test]
    fn bad_inputs_are_refused_saying_what_to_do() {
        let s = settings(MINIMAL).unwrap();
        let scratch = Scratch::new("refused");
        let nothing = scratch.0.join("nothing");
        let nothing = nothing.to_str().unwrap();
        let account = ["--account", "123456789012"];
        for (words, env, says) in [
            (
                &[&account[..], &["--configured-region", ""]].concat(),
                NO_ENV,
                "no AWS region: set \"region\" in dockhand.json, or AWS_REGION, or run 'aws configure set region eu-west-1'",
            ),
            (
                &vec![],
                regions(Some("Ireland"), None),
                "AWS_REGION \"Ireland\" is not an AWS region name such as eu-west-1: correct it",
            ),
            (
                &[&account[..], &["--configured-region", "the moon"]].concat(),
                NO_ENV,
                "the AWS CLI's region (aws configure get region) \"the moon\" is not an AWS region name",
            ),
            (
                &vec!["--account", "12345", "--configured-region", "eu-west-1"],
                NO_ENV,
                "is not 12 digits: check the credentials the AWS CLI uses",
            ),
            (&vec!["--zips", nothing], NO_ENV, "): run 'make build'"),
            (
                &vec!["--logs", "spawnr"],
                NO_ENV,
                "FN must be one of listener, spawner, notifier, cleanup, build (make logs FN=spawner), not \"spawnr\"",
            ),
            (&vec!["--logs", ""], NO_ENV, "FN must be one of"),
            (
                &vec!["--replay", "maybe"],
                NO_ENV,
                "REPLAY must be 1 (or left out), not maybe",
            ),
            (
                &vec!["--repo", "", "--since", "", "--redeliver", ""],
                TOKEN,
                "REPO is required: make deliveries REPO=owner/name",
            ),
            (
                &vec!["--repo", "acme/web"],
                NO_ENV,
                "set GITHUB_TOKEN to a token that may read REPO's webhooks",
            ),
            (
                &vec!["--repo", "acme/web", "--redeliver", "yes please"],
                TOKEN,
                "REDELIVER must be 1 (or left out), not yes please",
            ),
            (&vec!["--repo", "acme/web\n--redeliver"], TOKEN, "holds a line break"),
        ] {
            let err = s.files(&given(words), &env).unwrap_err();
            assert!(err.contains(says), "{words:?} {env:?}: {err}");
        }
    }

    #[test]
    fn make_values_are_flags() {
        for yes in ["1", "yes", "true"] {
            assert_eq!(flag("REPLAY", yes), Ok(true));
        }
        for no in ["", "0", "no", "false"] {
            assert_eq!(flag("REPLAY", no), Ok(false));
        }
        let s = settings(MINIMAL).unwrap();
        let f = files(&s, &given(&["--replay", ""]), &NO_ENV).unwrap();
        assert_eq!(f["dead-letters-args"], "dead-letters\n--stack\ndockhand\n");
        let f = files(
            &s,
            &given(&["--repo", "acme/web", "--since", "", "--redeliver", "0"]),
            &TOKEN,
        )
        .unwrap();
        assert_eq!(f["deliveries-args"], "deliveries\n--repo\nacme/web\n");
    }

    /// `stack-parameters` is plumbing of the deploy verbs: not in `dockhand --help`, but
    /// its own help still answers.
    #[test]
    fn stack_parameters_is_hidden_from_help_but_answers_its_own() {
        use clap::{CommandFactory, Parser};
        // What `dockhand -h` and `dockhand --help` print.
        for help in [
            crate::Cli::command().render_help(),
            crate::Cli::command().render_long_help(),
        ] {
            let help = help.to_string();
            assert!(help.contains("plan"), "{help}");
            assert!(!help.contains("stack-parameters"), "{help}");
        }
        let err = match crate::Cli::try_parse_from(["dockhand", "stack-parameters", "--help"]) {
            Err(e) => e,
            Ok(_) => panic!("--help parsed as a command"),
        };
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        let own = err.to_string();
        assert!(own.contains("--out <DIR>") && own.contains("--account <ID>"), "{own}");
    }
}
