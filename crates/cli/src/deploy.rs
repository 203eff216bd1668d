//! `dockhand.json`: the one file a user edits to deploy, checked by the same code the
//! functions run, and turned into CloudFormation parameters for `make deploy`.

use dockhand_core::config::{COMPUTE_TYPES, Config, is_ssm_name};
use dockhand_core::notification::STATUSES;
use dockhand_core::{Deployment, Registry};
use serde::Deserialize;
use std::path::Path;

/// CloudFormation holds at most this many bytes in one parameter value.
const MAX_PARAMETER_BYTES: usize = 4096;
/// Function names are `<stack>-<function>` and may not exceed 64 characters.
const MAX_STACK_NAME: usize = 48;
const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

// Each default, once.
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

/// The secret's name when dockhand.json does not name one.
fn default_secret_parameter(stack: &str) -> String {
    format!("/dockhand/{stack}/webhook-secret")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployFile {
    #[serde(default = "default_stack")]
    pub stack: String,
    /// The AWS region; the AWS CLI's own (AWS_REGION, the profile) when absent.
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

/// What `make deploy` needs, checked.
#[derive(Debug)]
pub struct Settings {
    pub stack: String,
    pub region: Option<String>,
    pub artifact_bucket: Option<String>,
    pub secret_parameter: String,
    pub project: String,
    /// `Key=Value`, in template order; no value holds a newline.
    pub parameters: Vec<(String, String)>,
}

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
        if !(schedule.starts_with("cron(") || schedule.starts_with("rate(")) || !schedule.ends_with(')') {
            return Err(format!(
                "cleanup.schedule {schedule:?} is not an EventBridge schedule such as \"rate(1 day)\" or \"cron(0 4 * * ? *)\""
            ));
        }
        let key_arn = self.secrets_kms_key_arn.clone().unwrap_or_default();
        if !key_arn.is_empty() && !key_arn.starts_with("arn:") {
            return Err(format!("secrets_kms_key_arn {key_arn:?} is not a KMS key ARN"));
        }
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
            ("RegistryTokenParameter", token_parameter),
            (
                "GitHubTokenParameter",
                config.github_token_parameter.clone().unwrap_or_default(),
            ),
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
            ("ApiRateLimit", self.webhook.rate_limit.to_string()),
            ("ApiBurstLimit", self.webhook.burst_limit.to_string()),
            ("ListenerConcurrency", self.webhook.listener_concurrency.to_string()),
            ("FunctionLogRetentionDays", self.log_retention_days.to_string()),
            ("RetentionDays", self.cleanup.retention_days.to_string()),
            ("CleanupSchedule", schedule.clone()),
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
            parameters,
        })
    }
}

impl Settings {
    /// One file per setting, so the deploy script reads values and never evaluates them.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut parameters = String::new();
        for (key, value) in &self.parameters {
            parameters.push_str(&format!("{key}={value}\n"));
        }
        for (name, value) in [
            ("stack", self.stack.clone()),
            ("region", self.region.clone().unwrap_or_default()),
            ("artifact-bucket", self.artifact_bucket.clone().unwrap_or_default()),
            ("secret-parameter", self.secret_parameter.clone()),
            ("project", self.project.clone()),
            ("parameters", parameters),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, value).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }
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
pub fn run(file: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "cannot read {}: {e} (copy dockhand.example.json to dockhand.json and edit it; README: Deploy to AWS)",
            file.display()
        )
    })?;
    let settings = DeployFile::parse(&text)
        .and_then(|f| f.settings())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    settings.write(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../dockhand.example.json");

    fn settings(json: &str) -> Result<Settings, String> {
        DeployFile::parse(json)?.settings()
    }

    fn value<'a>(s: &'a Settings, key: &str) -> &'a str {
        &s.parameters.iter().find(|(k, _)| k == key).unwrap().1
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

    #[test]
    fn every_template_parameter_is_set_and_nothing_else() {
        let template = include_str!("../../../cfn/dockhand.yml");
        let s = settings(EXAMPLE).unwrap();
        let code = [
            "ArtifactBucket",
            "ListenerCodeKey",
            "SpawnerCodeKey",
            "NotifierCodeKey",
            "CleanupCodeKey",
        ];
        let section = template.split("\nParameters:\n").nth(1).unwrap();
        let section = section.split("\nConditions:\n").next().unwrap();
        let declared: Vec<&str> = section
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':'))
            .filter(|k| !code.contains(k))
            .collect();
        let set: Vec<&str> = s.parameters.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(declared, set);
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
        assert_eq!(value(&s, "ListenerConcurrency"), "5");
        // A day of waiting for room or for GitHub, two invocations starting builds.
        assert_eq!(value(&s, "ConcurrentBuildLimit"), "5");
        assert_eq!(value(&s, "QueueRetentionSeconds"), "86400");
        assert_eq!(value(&s, "StartConcurrency"), "2");
        assert_eq!(value(&s, "CleanupSchedule"), "rate(1 day)");
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
        let dir = std::env::temp_dir().join(format!("dockhand-deploy-{}", std::process::id()));
        settings(EXAMPLE).unwrap().write(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("stack")).unwrap(), "dockhand");
        let parameters = std::fs::read_to_string(dir.join("parameters")).unwrap();
        assert_eq!(parameters.lines().count(), 25);
        assert!(parameters.lines().all(|l| l.split_once('=').is_some()));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
