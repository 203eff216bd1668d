//! Deployment configuration: one JSON document shared by every function and the CLI
//! (the `DOCKHAND_CONFIG` environment variable, or `dockhand plan --config FILE`).

use crate::docker_ref::{MAX_NAME_LEN, validate_repository_path};
use crate::rules::{RefRule, RefRules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEFAULT_PROJECT: &str = "dockhand";
pub const DEFAULT_COMPUTE_TYPE: &str = "BUILD_GENERAL1_SMALL";
/// The compute types that run docker builds (the template's `BuildComputeType`); the
/// BUILD_LAMBDA ones cannot.
pub const COMPUTE_TYPES: &[&str] = &[
    DEFAULT_COMPUTE_TYPE,
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
];
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 60;
pub const DEFAULT_GITHUB_HOST: &str = "github.com";

/// The configuration as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The one CodeBuild project every build runs on.
    #[serde(default = "default_project")]
    pub project: String,
    pub registry: Registry,
    /// The GitHub repositories this deployment builds: `owner/name`, or `owner/*` for every
    /// repository of an owner. Required: one webhook secret can sign pushes of several
    /// repositories (an organisation webhook), and only these may push images here. Pushes
    /// of others are answered `202 ignored` by the listener and refused by the spawner.
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
    /// The Git host the repositories live on: `github.com`, or a GitHub Enterprise Server
    /// host. A push's clone URL must be `https://<github_host>/<owner>/<name>.git`, and the
    /// build sends its GitHub token to this host only.
    #[serde(default = "default_github_host")]
    pub github_host: String,
    /// Whether a repository's `.dockhand.yml` may add image tags (`tags:`). Off by default:
    /// the tags an image gets are the operator's decision, not the pushed file's.
    #[serde(default)]
    pub repository_tags: bool,
    /// A read-only registry login used only to pull private base images during
    /// `docker build`; the push credential is used after the build succeeded, never before.
    #[serde(default)]
    pub pull_credential: Option<PullCredential>,
    /// Ordered ref rules; the defaults when absent.
    #[serde(default = "RefRules::default_rules")]
    pub rules: Vec<RefRule>,
    /// Directory → image name, for directories the naming rule cannot name.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    #[serde(default = "default_compute_type")]
    pub compute_type: String,
    #[serde(default = "default_timeout")]
    pub timeout_minutes: u32,
    /// How a directory becomes an image name and tags (a repository's `.dockhand.yml`
    /// may choose otherwise).
    #[serde(default)]
    pub naming: Naming,
    /// The SSM SecureString holding a GitHub token that can read the repositories: the
    /// build clones private repositories with it. Private repositories are not built
    /// without one.
    #[serde(default)]
    pub github_token_parameter: Option<String>,
    /// The platforms every image is built for (`linux/amd64`, `linux/arm64`, ...); empty for
    /// the build host's own architecture. A repository's `.dockhand.yml` may choose others.
    /// Left out of the canonical JSON when empty, so existing deployments keep their digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// BuildKit's layer cache in the registry (`--cache-from`/`--cache-to type=registry`),
    /// so a build on CodeBuild's fresh host reuses the layers of the last one. On unless
    /// turned off here or by a repository's `.dockhand.yml` (`cache: false`).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub cache: bool,
    /// Where the cache goes: by default the image's own repository, tag `buildcache`; with
    /// a repository path here, that repository of the same registry, one tag per image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_repository: Option<String>,
    /// The BuildKit image the build's `docker-container` builder runs.
    #[serde(
        default = "default_buildkit_image",
        skip_serializing_if = "is_default_buildkit_image"
    )]
    pub buildkit_image: String,
    /// Which builds run a directory's Docker Hub autotests (`docker-compose.test.yml`,
    /// `*.test.yml`, `hooks/test`) before anything is pushed. Docker Hub ran them in every
    /// automated build, so every build does by default.
    #[serde(default, skip_serializing_if = "Autotest::is_default")]
    pub autotest: Autotest,
    /// After a successful push, each image's README (`.dockhand.yml`'s `description`, by
    /// default the one beside its Dockerfile) becomes its Docker Hub repository's full
    /// description, with the push token. Docker Hub only; a failure is reported, never
    /// fails the build.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hub_description: bool,
    /// Where the build finds Docker Hub's API for the description: Docker Hub's own,
    /// unless a test or local mode stands one in.
    #[serde(default = "default_hub_api_url", skip_serializing_if = "is_default_hub_api_url")]
    pub hub_api_url: String,
    /// Whether the notifier posts a GitHub commit status per image build
    /// (`dockhand/<directory>`: pending when it starts, then success, failure or error),
    /// with the token in `github_token_parameter`. Off by default. What the notifier does
    /// changes no build: this setting stays out of the digest whatever its value
    /// ([`Deployment::new`]), so turning it on rebuilds nothing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub commit_statuses: bool,
    /// The scheduled refresh, opt-in: every image of the refresh repositories rebuilt at
    /// their default branch's head on a schedule, so base-image fixes reach users. Left out
    /// of the digest (see [`Deployment::new`]): setting or changing it rebuilds nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Refresh>,
}

/// `refresh`: when and what the scheduled refresh rebuilds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    /// An EventBridge schedule expression: `rate(7 days)`, `cron(0 4 ? * MON *)`.
    pub schedule: String,
    /// The repositories to refresh (`owner/name`, each one the deployment builds); by
    /// default the literal entries of `repositories`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<String>>,
    /// One extra tag each refreshed image gets besides the rules' tags: a template with
    /// `{date}` (the schedule's UTC day, YYYYMMDD) and `{sha7}` (the commit's first seven
    /// digits), such as `{date}` or `refresh-{date}-{sha7}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// An EventBridge schedule expression, as far as it can be checked without EventBridge:
/// `rate(…)` or `cron(…)`. `field` names the setting in the message.
pub fn check_schedule(field: &str, schedule: &str) -> Result<(), String> {
    let inner = schedule
        .strip_prefix("rate(")
        .or_else(|| schedule.strip_prefix("cron("))
        .and_then(|rest| rest.strip_suffix(')'));
    match inner {
        Some(inner)
            if !inner.trim().is_empty() && !inner.contains(['(', ')']) && !inner.chars().any(char::is_control) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{field} {schedule:?} is not an EventBridge schedule such as \"rate(1 day)\" or \"cron(0 4 * * ? *)\""
        )),
    }
}

/// The refresh tag of `template` for a refresh on `date` (UTC, `YYYYMMDD`) of `commit`:
/// `{date}` and `{sha7}` replaced; an error when the template has another `{…}`, or
/// the result is not a Docker tag.
pub fn refresh_tag(template: &str, date: &str, commit: &str) -> Result<String, String> {
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{date:?} is not a date as YYYYMMDD"));
    }
    if commit.len() < 7 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{commit:?} is not a commit id"));
    }
    let tag = template
        .replace("{date}", date)
        .replace("{sha7}", &commit[..7].to_ascii_lowercase());
    if tag.contains(['{', '}']) {
        return Err(format!(
            "{template:?} has a placeholder other than {{date}} and {{sha7}}"
        ));
    }
    crate::docker_ref::validate_tag(&tag).map_err(|why| format!("{template:?} renders {tag:?}, which {why}"))?;
    Ok(tag)
}

// Settings at their defaults are left out of the canonical JSON, so a deployment that does
// not set them keeps the digest, and the builds their keys, it had before they existed.

fn default_true() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Docker Hub's API: https://docs.docker.com/reference/api/hub/latest/
pub const DEFAULT_HUB_API_URL: &str = "https://hub.docker.com";

fn default_hub_api_url() -> String {
    DEFAULT_HUB_API_URL.to_owned()
}

fn is_default_hub_api_url(url: &String) -> bool {
    url == DEFAULT_HUB_API_URL
}

fn is_default_buildkit_image(image: &String) -> bool {
    image == DEFAULT_BUILDKIT_IMAGE
}

/// BuildKit's release image that buildx itself starts by default.
pub const DEFAULT_BUILDKIT_IMAGE: &str = "moby/buildkit:buildx-stable-1";

fn default_buildkit_image() -> String {
    DEFAULT_BUILDKIT_IMAGE.to_owned()
}

/// The deployment's `autotest` setting: for which refs a build runs the autotests beside
/// the Dockerfile. A build whose tests are off says so in its log and pushes untested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Autotest {
    /// Every build, as Docker Hub's automated builds did.
    #[default]
    All,
    /// Builds of the repository's default branch only.
    DefaultBranch,
    /// Builds of tags only.
    Tags,
    /// Builds of the default branch and of tags.
    DefaultBranchAndTags,
    /// No build: test files and `hooks/test` are left alone.
    Off,
}

impl Autotest {
    fn is_default(&self) -> bool {
        *self == Autotest::All
    }

    /// Whether a build of `git_ref` (`refs/heads/…`, `refs/tags/…`) runs its tests, the
    /// repository's default branch being `default_branch` (unknown: not the default).
    pub fn runs_for(self, git_ref: &str, default_branch: Option<&str>) -> bool {
        let default = || crate::rules::is_default_branch(git_ref, default_branch);
        let tag = || git_ref.starts_with("refs/tags/");
        match self {
            Autotest::All => true,
            Autotest::DefaultBranch => default(),
            Autotest::Tags => tag(),
            Autotest::DefaultBranchAndTags => default() || tag(),
            Autotest::Off => false,
        }
    }
}

/// A registry login for pulling private base images during `docker build`: a user and an
/// SSM SecureString holding a read-only token (Docker Hub: a personal access token with
/// "Read-only" access), or, for an ECR registry host without either, the build role's own
/// ECR login (which can read what the role can read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullCredential {
    /// `docker.io`, `ghcr.io`, `registry.example.com:5000`, or an ECR registry host.
    pub host: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub token_parameter: Option<String>,
}

/// Naming presets: how a Dockerfile's directory becomes an image name and tags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    /// The directory's segments joined by `-` name the image (`tools/lint` → `tools-lint`),
    /// the root builds the GitHub repository's name; the tags are the ref rules'.
    #[default]
    Path,
    /// The first segment names the image and the rest is a "suite" that prefixes the tags
    /// (`chrome/stable` → `chrome:stable`, `chrome` → `chrome:latest`), the layout of
    /// widely used Dockerfile monorepos.
    Suite,
}

impl Naming {
    pub fn as_str(self) -> &'static str {
        match self {
            Naming::Path => "path",
            Naming::Suite => "suite",
        }
    }
}

/// Where images are pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Registry {
    /// Docker Hub: `docker.io/<namespace>/<image>`; the access token is an SSM SecureString,
    /// by default `/dockhand/dockerhub/<namespace>`.
    #[serde(rename = "dockerhub")]
    DockerHub {
        namespace: String,
        /// The Docker Hub user that logs in; the namespace when absent.
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        token_parameter: Option<String>,
    },
    /// Any other registry speaking the Docker Registry HTTP API v2 with a user and a token
    /// (GHCR, Quay, a self-hosted registry): `<host>/<namespace>/<image>`, or `<host>/<image>`
    /// when the namespace is empty (`r.j3ss.co/wine`). The token is an SSM SecureString, by
    /// default `/dockhand/registry/<host>/<namespace>` (`/dockhand/registry/<host>` without
    /// a namespace).
    #[serde(rename = "registry")]
    Generic {
        /// `ghcr.io`, `quay.io`, `registry.example.com:5000`.
        host: String,
        /// One path component, or empty for images right under the host.
        namespace: String,
        /// The user that logs in; the namespace when absent (required without one).
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        token_parameter: Option<String>,
    },
    /// Amazon ECR: `<registry>/<prefix>/<image>`, logged in with the build's own role.
    #[serde(rename = "ecr")]
    Ecr {
        registry: String,
        #[serde(default)]
        prefix: Option<String>,
    },
}

impl Registry {
    /// The SSM parameter holding the Docker Hub token, if this registry needs one.
    pub fn token_parameter(&self) -> Option<String> {
        match self {
            Registry::DockerHub {
                namespace,
                token_parameter,
                ..
            } => Some(
                token_parameter
                    .clone()
                    .unwrap_or_else(|| format!("/dockhand/dockerhub/{namespace}")),
            ),
            Registry::Generic {
                host,
                namespace,
                token_parameter,
                ..
            } => Some(token_parameter.clone().unwrap_or_else(|| {
                // SSM names cannot hold the `:` of a port, nor end with `/`.
                let host = host.replace(':', "-");
                match namespace.as_str() {
                    "" => format!("/dockhand/registry/{host}"),
                    namespace => format!("/dockhand/registry/{host}/{namespace}"),
                }
            })),
            Registry::Ecr { .. } => None,
        }
    }

    pub fn username(&self) -> Option<&str> {
        match self {
            Registry::DockerHub {
                namespace, username, ..
            }
            | Registry::Generic {
                namespace, username, ..
            } => username
                .as_deref()
                .or((!namespace.is_empty()).then_some(namespace.as_str())),
            Registry::Ecr { .. } => None,
        }
    }
}

fn default_github_host() -> String {
    DEFAULT_GITHUB_HOST.into()
}
fn default_project() -> String {
    DEFAULT_PROJECT.into()
}
fn default_compute_type() -> String {
    DEFAULT_COMPUTE_TYPE.into()
}
fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_MINUTES
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration is not valid JSON for dockhand: {0}")]
    Json(String),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: {0}")]
    Rule(#[from] crate::rules::RuleError),
}

/// A configuration that has been checked and whose rules are compiled.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub config: Config,
    pub rules: RefRules,
    /// SHA-256 of the configuration's canonical JSON: part of every build's key, so a
    /// changed configuration builds a replayed push again.
    pub digest: String,
}

impl Deployment {
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let config: Config = serde_json::from_str(json).map_err(|e| ConfigError::Json(e.to_string()))?;
        Self::new(config)
    }

    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let invalid = |s: String| Err(ConfigError::Invalid(s));
        if !is_project_name(&config.project) {
            return invalid(format!(
                "project {:?} is not a CodeBuild project name (2-255 of A-Z a-z 0-9 - _, starting with a letter or digit)",
                config.project
            ));
        }
        if let Registry::Generic { host, .. } = &config.registry
            && !is_registry_host(host)
        {
            return invalid(format!(
                "registry.host {host:?} is not a registry host such as ghcr.io or registry.example.com:5000"
            ));
        }
        match &config.registry {
            Registry::DockerHub { namespace, .. } if namespace.is_empty() => {
                return invalid(
                    "registry.namespace is empty: Docker Hub needs your user or organization name                      (docker.io/<namespace>/<image>); it has no one-component repositories for users,                      `library/` is Docker's own"
                        .into(),
                );
            }
            Registry::Generic {
                host,
                namespace,
                username: None,
                ..
            } if namespace.is_empty() => {
                return invalid(format!(
                    "registry.username is required when registry.namespace is empty (images go to {host}/<image>):                      set it to the user that logs in to {host}"
                ));
            }
            Registry::DockerHub {
                namespace, username, ..
            }
            | Registry::Generic {
                namespace, username, ..
            } => {
                let namespace_ok = match &config.registry {
                    Registry::Generic { .. } if namespace.is_empty() => Ok(()),
                    _ => validate_repository_path(namespace),
                };
                if let Err(why) = namespace_ok.and_then(|()| {
                    if namespace.contains('/') {
                        Err("must be a single path component".into())
                    } else {
                        Ok(())
                    }
                }) {
                    return invalid(format!("registry.namespace {namespace:?} {why}"));
                }
                if let Some(u) = username
                    && !is_safe_word(u, 255)
                {
                    return invalid(format!("registry.username {u:?} may hold only letters, digits, . _ -"));
                }
            }
            Registry::Ecr { registry, prefix } => {
                if !is_ecr_host(registry) {
                    return invalid(format!(
                        "registry.registry {registry:?} is not an ECR registry host such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com"
                    ));
                }
                if let Some(p) = prefix
                    && let Err(why) = validate_repository_path(p)
                {
                    return invalid(format!("registry.prefix {p:?} {why}"));
                }
            }
        }
        if let Some(p) = config.registry.token_parameter()
            && !is_ssm_name(&p)
        {
            return invalid(format!(
                "registry.token_parameter {p:?} is not an SSM parameter name (starting with /, then A-Z a-z 0-9 _ . - /)"
            ));
        }
        if !(is_safe_word(&config.compute_type, 64) && config.compute_type.starts_with("BUILD_")) {
            return invalid(format!(
                "compute_type {:?} is not a CodeBuild compute type such as BUILD_GENERAL1_SMALL",
                config.compute_type
            ));
        }
        if !(5..=2160).contains(&config.timeout_minutes) {
            return invalid(format!(
                "timeout_minutes {} is outside CodeBuild's range of 5 to 2160",
                config.timeout_minutes
            ));
        }
        if let Some(path) = &config.cache_repository {
            if let Err(why) = validate_repository_path(path) {
                return invalid(format!("cache_repository {path:?} {why}"));
            }
            // The build role may push only under the prefix (cfn/dockhand.yml): a cache
            // elsewhere would never be written, a warning in every build.
            if let Registry::Ecr {
                prefix: Some(prefix), ..
            } = &config.registry
                && !path.starts_with(&format!("{prefix}/"))
            {
                return invalid(format!(
                    "cache_repository {path:?} is outside registry.prefix {prefix:?}, where the builds may push: \
                     name it {prefix}/{path}, or leave it out to keep each image's cache in its own repository"
                ));
            }
        }
        if !is_image_reference(&config.buildkit_image) {
            return invalid(format!(
                "buildkit_image {:?} is not an image reference such as {DEFAULT_BUILDKIT_IMAGE} \
                 (letters, digits and . _ - / : @, at most {MAX_NAME_LEN} characters)",
                config.buildkit_image
            ));
        }
        if config.hub_description && !matches!(config.registry, Registry::DockerHub { .. }) {
            return invalid(
                "hub_description is on, but registry.type is not dockerhub: only Docker Hub has a repository description \
                 to sync; remove hub_description"
                    .into(),
            );
        }
        if !is_api_url(&config.hub_api_url) {
            return invalid(format!(
                "hub_api_url {:?} is not https://HOST[:PORT] (http:// only for 127.0.0.1 or localhost): \
                 the build sends the registry token there",
                config.hub_api_url
            ));
        }
        if let Some(p) = &config.github_token_parameter
            && !is_ssm_name(p)
        {
            return invalid(format!(
                "github_token_parameter {p:?} is not an SSM parameter name (starting with /, then A-Z a-z 0-9 _ . - /)"
            ));
        }
        if config.commit_statuses && config.github_token_parameter.is_none() {
            return invalid(
                "commit_statuses is on, but there is no github_token_parameter: GitHub accepts commit statuses only \
                 with a token. Set github_token_parameter to the SSM SecureString of a token with \
                 \"Commit statuses: read and write\" on the repositories (classic: the repo:status scope), \
                 or remove commit_statuses"
                    .into(),
            );
        }
        match &config.repositories {
            None => {
                return invalid(
                    "list the repositories this deployment builds in `repositories`, such as [\"acme/images\"] or [\"acme/*\"]: one webhook secret can sign pushes of any repository it is set on, and only these may push images".into(),
                );
            }
            Some(list) if list.is_empty() => {
                return invalid("`repositories` is empty: list the repositories this deployment builds".into());
            }
            Some(list) => {
                for entry in list {
                    if let Err(why) = check_repository_pattern(entry) {
                        return invalid(format!("repositories: {entry:?} {why}"));
                    }
                }
            }
        }
        if !is_registry_host(&config.github_host) {
            return invalid(format!(
                "github_host {:?} is not a host name such as github.com or github.example.com",
                config.github_host
            ));
        }
        if let Some(pull) = &config.pull_credential {
            if !is_registry_host(&pull.host) {
                return invalid(format!(
                    "pull_credential.host {:?} is not a registry host such as docker.io or ghcr.io",
                    pull.host
                ));
            }
            match (&pull.username, &pull.token_parameter) {
                (Some(user), Some(parameter)) => {
                    if !is_safe_word(user, 255) {
                        return invalid(format!(
                            "pull_credential.username {user:?} may hold only letters, digits, . _ -"
                        ));
                    }
                    if !is_ssm_name(parameter) {
                        return invalid(format!(
                            "pull_credential.token_parameter {parameter:?} is not an SSM parameter name (starting with /, then A-Z a-z 0-9 _ . - /)"
                        ));
                    }
                }
                (None, None) if matches!(&config.registry, Registry::Ecr { registry, .. } if *registry == pull.host) => {
                }
                _ => {
                    return invalid(
                        "pull_credential needs both `username` and `token_parameter` (a read-only token), or neither when its host is the deployment's own ECR registry (the build role's login)".into(),
                    );
                }
            }
        }
        for (dir, name) in &config.images {
            if let Err(why) = validate_repository_path(name) {
                return invalid(format!("images[{dir:?}] = {name:?} {why}"));
            }
        }
        if let Err(why) = crate::platform::check_platforms(&config.platforms) {
            return invalid(format!("platforms: {why}"));
        }
        if let Some(refresh) = &config.refresh
            && let Err(why) = check_refresh(&config, refresh)
        {
            return invalid(why);
        }
        let rules = RefRules::new(&config.rules)?;
        // Without `refresh`: when and what is refreshed changes no image a push builds, and
        // a refresh's builds are keyed on their order anyway.
        let digest = {
            use sha2::{Digest, Sha256};
            // What changes no build is left out, so it changes no key: the notifier's
            // settings, and when and what the refresh rebuilds (its builds are keyed on
            // their orders).
            let keyed = Config {
                commit_statuses: false,
                refresh: None,
                ..config.clone()
            };
            let json = serde_json::to_string(&keyed).expect("a configuration always serializes");
            hex::encode(Sha256::digest(json.as_bytes()))
        };
        Ok(Self { config, rules, digest })
    }
}

/// `refresh`: its schedule, that its repositories are ones this deployment builds, named
/// one by one, and that its tag renders to a tag.
fn check_refresh(config: &Config, refresh: &Refresh) -> Result<(), String> {
    check_schedule("refresh.schedule", &refresh.schedule)?;
    match &refresh.repositories {
        Some(list) if list.is_empty() => {
            return Err("refresh.repositories is empty: list the repositories to refresh, or leave it out to refresh every repository `repositories` names".into());
        }
        Some(list) => {
            for entry in list {
                let literal = matches!(entry.split_once('/'), Some((o, n)) if is_github_name(o) && is_github_name(n));
                if !literal {
                    return Err(format!(
                        "refresh.repositories: {entry:?} is not owner/name (patterns such as owner/* are not refreshed: name each repository)"
                    ));
                }
                if !config.builds_repository(entry) {
                    return Err(format!(
                        "refresh.repositories: {entry:?} is not one of `repositories`: the deployment does not build it"
                    ));
                }
            }
        }
        None if config.refresh_repositories().is_empty() => {
            return Err("refresh is set, but every entry of `repositories` is a pattern (owner/*): list the repositories to refresh in refresh.repositories".into());
        }
        None => {}
    }
    if let Some(template) = &refresh.tag {
        if !template.contains("{date}") && !template.contains("{sha7}") {
            return Err(format!(
                "refresh.tag {template:?} has neither {{date}} nor {{sha7}}: it would move at every refresh; \
                 the rules' tags already move"
            ));
        }
        // The longest rendering: every date has eight digits, every {sha7} seven.
        refresh_tag(template, "20261207", "3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f")
            .map_err(|why| format!("refresh.tag: {why}"))?;
    }
    Ok(())
}

impl Config {
    /// The repositories the scheduled refresh rebuilds: `refresh.repositories`, or the
    /// literal (`owner/name`) entries of `repositories`; none without `refresh`.
    pub fn refresh_repositories(&self) -> Vec<String> {
        let Some(refresh) = &self.refresh else {
            return Vec::new();
        };
        match &refresh.repositories {
            Some(list) => list.clone(),
            None => self
                .repositories
                .iter()
                .flatten()
                .filter(|entry| !entry.ends_with("/*"))
                .cloned()
                .collect(),
        }
    }

    /// Whether `full_name` (`owner/name`, as GitHub spells it) is one of `repositories`.
    /// GitHub's owner and repository names are case-insensitive, so the match is too.
    pub fn builds_repository(&self, full_name: &str) -> bool {
        let Some((owner, name)) = full_name.split_once('/') else {
            return false;
        };
        self.repositories
            .iter()
            .flatten()
            .any(|entry| match entry.split_once('/') {
                Some((o, "*")) => o.eq_ignore_ascii_case(owner) && !name.is_empty() && !name.contains('/'),
                Some((o, n)) => o.eq_ignore_ascii_case(owner) && n.eq_ignore_ascii_case(name),
                None => false,
            })
    }

    /// The only clone URL a push of `full_name` may carry.
    pub fn clone_url(&self, full_name: &str) -> String {
        format!("https://{}/{full_name}.git", self.github_host)
    }
}

/// One half of `owner/name` as GitHub allows it: letters, digits, `.`, `_` and `-`, at
/// most 100 characters, neither `.` nor `..`.
pub(crate) fn is_github_name(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 100
        && p != "."
        && p != ".."
        && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `owner/name` or `owner/*`, with GitHub's characters for names.
fn check_repository_pattern(entry: &str) -> Result<(), &'static str> {
    let part = is_github_name;
    match entry.split_once('/') {
        Some((owner, "*")) if part(owner) => Ok(()),
        Some((owner, name)) if part(owner) && part(name) => Ok(()),
        _ => Err("is not owner/name or owner/* (letters, digits, . _ -)"),
    }
}

/// An image reference as `docker pull` takes it (`name[:tag][@digest]`), in the characters
/// references are made of: it reaches the build as one quoted argument.
fn is_image_reference(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
}

fn is_safe_word(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A registry host as Docker's reference grammar has it: DNS labels or an IPv4 address,
/// and an optional port.
fn is_registry_host(s: &str) -> bool {
    let (name, port) = match s.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (s, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    port_ok && name.len() <= 253 && name.split('.').all(label_ok)
}

/// An API root the build may send the registry token to: `https://` and a host (and port),
/// or plain `http://` to this machine alone, for a stand-in; no path, nothing to quote.
fn is_api_url(s: &str) -> bool {
    match s.split_once("://") {
        Some(("https", host)) => is_registry_host(host),
        Some(("http", host)) => {
            let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
            matches!(name, "127.0.0.1" | "localhost") && is_registry_host(host)
        }
        _ => false,
    }
}

fn is_project_name(s: &str) -> bool {
    (2..=255).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// An SSM parameter name: a leading `/`, then A-Z a-z 0-9 _ . - /.
pub fn is_ssm_name(s: &str) -> bool {
    s.len() <= 1011
        && s.starts_with('/')
        && s.len() > 1
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

fn is_ecr_host(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    let suffix_ok = matches!(
        parts.get(4..),
        Some(["amazonaws", "com"]) | Some(["amazonaws", "com", "cn"])
    );
    parts.len() >= 6
        && parts[0].len() == 12
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && parts[1] == "dkr"
        && parts[2] == "ecr"
        && !parts[3].is_empty()
        && parts[3]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && suffix_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_takes_defaults() {
        let d =
            Deployment::from_json(r#"{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}"#)
                .unwrap();
        assert_eq!(d.config.project, "dockhand");
        assert_eq!(d.config.compute_type, "BUILD_GENERAL1_SMALL");
        assert_eq!(d.config.timeout_minutes, 60);
        assert_eq!(d.config.rules, RefRules::default_rules());
        assert_eq!(
            d.config.registry.token_parameter().as_deref(),
            Some("/dockhand/dockerhub/acme")
        );
        assert_eq!(d.config.registry.username(), Some("acme"));
        assert_eq!(d.config.naming, Naming::Path);
        assert_eq!(d.config.github_token_parameter, None);
    }

    #[test]
    fn autotest_decides_by_the_ref_and_stays_out_of_the_digest_at_its_default() {
        let hub = r#""repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}"#;
        let d = |extra: &str| Deployment::from_json(&format!("{{{hub}{extra}}}"));
        assert_eq!(d("").unwrap().config.autotest, Autotest::All);
        // A deployment from before the setting keeps its digest, and its builds their keys.
        assert_eq!(d("").unwrap().digest, d(r#","autotest":"all""#).unwrap().digest);
        assert_ne!(d("").unwrap().digest, d(r#","autotest":"off""#).unwrap().digest);
        let main = Some("main");
        for (setting, expected) in [
            ("all", [true, true, true, true]),
            ("default_branch", [true, false, false, false]),
            ("tags", [false, false, true, false]),
            ("default_branch_and_tags", [true, false, true, false]),
            ("off", [false, false, false, false]),
        ] {
            let autotest = d(&format!(r#","autotest":"{setting}""#)).unwrap().config.autotest;
            let runs = [
                autotest.runs_for("refs/heads/main", main),
                autotest.runs_for("refs/heads/feature", main),
                autotest.runs_for("refs/tags/v1.2.3", main),
                // No default branch known: no branch is the default.
                autotest.runs_for("refs/heads/main", None),
            ];
            let expected = if setting == "all" { [true; 4] } else { expected };
            assert_eq!(runs, expected, "{setting}");
        }
        let e = d(r#","autotest":"branches""#).unwrap_err().to_string();
        assert!(
            e.contains("unknown variant") && e.contains("default_branch_and_tags"),
            "{e}"
        );
    }

    #[test]
    fn naming_and_github_token() {
        let d = Deployment::from_json(
            r#"{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"},"naming":"suite","github_token_parameter":"/dockhand/github/token"}"#,
        )
        .unwrap();
        assert_eq!(d.config.naming, Naming::Suite);
        assert_eq!(
            d.config.github_token_parameter.as_deref(),
            Some("/dockhand/github/token")
        );
        let err = |json: &str| Deployment::from_json(json).unwrap_err().to_string();
        assert!(
            err(r#"{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"},"naming":"flat"}"#)
                .contains("unknown variant")
        );
        for bad in ["token", "/a b", "/x\n", "/$(id)", "/"] {
            let json = format!(
                r#"{{"repositories":["acme/*"],"registry":{{"type":"dockerhub","namespace":"acme"}},"github_token_parameter":{}}}"#,
                serde_json::to_string(bad).unwrap()
            );
            assert!(err(&json).contains("github_token_parameter"), "{bad}");
        }
    }

    #[test]
    fn ecr_config() {
        let d = Deployment::from_json(
            r#"{"repositories":["acme/*"],"registry":{"type":"ecr","registry":"123456789012.dkr.ecr.eu-west-1.amazonaws.com","prefix":"team"}}"#,
        )
        .unwrap();
        assert_eq!(d.config.registry.token_parameter(), None);
    }

    #[test]
    fn generic_registry_config() {
        let d = Deployment::from_json(
            r#"{"repositories":["acme/*"],"registry":{"type":"registry","host":"127.0.0.1:5000","namespace":"acme","username":"bot"}}"#,
        )
        .unwrap();
        assert_eq!(
            d.config.registry.token_parameter().as_deref(),
            Some("/dockhand/registry/127.0.0.1-5000/acme")
        );
        assert_eq!(d.config.registry.username(), Some("bot"));
        for host in ["ghcr.io", "quay.io", "localhost:5000", "registry.example.com"] {
            let json = format!(
                r#"{{"repositories":["acme/*"],"registry":{{"type":"registry","host":"{host}","namespace":"acme"}}}}"#
            );
            assert!(Deployment::from_json(&json).is_ok(), "{host}");
        }
        for host in [
            "",
            "Ghcr.io",
            "a b",
            "host:",
            "host:123456",
            "-a.io",
            "x.io/path",
            "$(id)",
            "a:b:c",
        ] {
            let json = format!(
                r#"{{"repositories":["acme/*"],"registry":{{"type":"registry","host":"{host}","namespace":"acme"}}}}"#
            );
            let err = Deployment::from_json(&json).unwrap_err().to_string();
            assert!(err.contains("registry.host"), "{host}: {err}");
        }
    }

    #[test]
    fn the_repositories_built_are_listed() {
        let err = |json: &str| Deployment::from_json(json).unwrap_err().to_string();
        assert!(err(r#"{"registry":{"type":"dockerhub","namespace":"acme"}}"#).contains("`repositories`"));
        assert!(err(r#"{"registry":{"type":"dockerhub","namespace":"acme"},"repositories":[]}"#).contains("empty"));
        for bad in [
            "acme",
            "*/*",
            "*",
            "acme/",
            "/x",
            "a/b/c",
            "acme/im ages",
            "../x",
            "acme/*x",
        ] {
            let json = format!(
                r#"{{"registry":{{"type":"dockerhub","namespace":"acme"}},"repositories":[{}]}}"#,
                serde_json::to_string(bad).unwrap()
            );
            assert!(err(&json).contains("owner/name or owner/*"), "{bad}");
        }
        let d = Deployment::from_json(
            r#"{"registry":{"type":"dockerhub","namespace":"acme"},"repositories":["acme/images","Tools/*"]}"#,
        )
        .unwrap();
        let c = &d.config;
        assert!(c.builds_repository("acme/images") && c.builds_repository("ACME/Images"));
        assert!(c.builds_repository("tools/lint") && c.builds_repository("TOOLS/x"));
        for other in [
            "acme/other",
            "evil/images",
            "tools",
            "tools/",
            "acme/images/x",
            "acme-images/x",
            "",
        ] {
            assert!(!c.builds_repository(other), "{other}");
        }
        assert_eq!(c.clone_url("acme/images"), "https://github.com/acme/images.git");
        assert_eq!(c.github_host, "github.com");
        assert!(!c.repository_tags);
        assert!(
            err(r#"{"registry":{"type":"dockerhub","namespace":"acme"},"repositories":["a/b"],"github_host":"https://x"}"#)
                .contains("github_host")
        );
        let pull = |p: &str| {
            format!(
                r#"{{"registry":{{"type":"dockerhub","namespace":"acme"}},"repositories":["a/b"],"pull_credential":{p}}}"#
            )
        };
        assert!(
            Deployment::from_json(&pull(
                r#"{"host":"docker.io","username":"bot","token_parameter":"/dockhand/pull"}"#
            ))
            .is_ok()
        );
        assert!(
            err(&pull(
                r#"{"host":"docker.io","username":"b ot","token_parameter":"/p"}"#
            ))
            .contains("pull_credential.username")
        );
        assert!(
            err(&pull(r#"{"host":"Docker.io","username":"bot","token_parameter":"/p"}"#))
                .contains("pull_credential.host")
        );
        assert!(
            err(&pull(r#"{"host":"docker.io","username":"bot","token_parameter":"p"}"#))
                .contains("pull_credential.token_parameter")
        );
        assert!(err(&pull(r#"{"host":"docker.io"}"#)).contains("needs both"));
        // The build role's own ECR login: only for the deployment's own ECR registry.
        assert!(err(&pull(r#"{"host":"123456789012.dkr.ecr.eu-west-1.amazonaws.com"}"#)).contains("needs both"));
        let ecr = r#"{"registry":{"type":"ecr","registry":"123456789012.dkr.ecr.eu-west-1.amazonaws.com"},"repositories":["a/b"],"pull_credential":{"host":"123456789012.dkr.ecr.eu-west-1.amazonaws.com"}}"#;
        assert!(Deployment::from_json(ecr).is_ok());
    }

    #[test]
    fn a_registry_without_a_namespace() {
        let d = Deployment::from_json(
            r#"{"repositories":["jessfraz/dockerfiles"],"naming":"suite","registry":{"type":"registry","host":"r.j3ss.co","namespace":"","username":"jessfraz"}}"#,
        )
        .unwrap();
        assert_eq!(
            d.config.registry.token_parameter().as_deref(),
            Some("/dockhand/registry/r.j3ss.co")
        );
        assert_eq!(d.config.registry.username(), Some("jessfraz"));
        let d = Deployment::from_json(
            r#"{"repositories":["a/b"],"registry":{"type":"registry","host":"localhost:5000","namespace":"","username":"bot"}}"#,
        )
        .unwrap();
        assert_eq!(
            d.config.registry.token_parameter().as_deref(),
            Some("/dockhand/registry/localhost-5000")
        );
        let err = |json: &str| Deployment::from_json(json).unwrap_err().to_string();
        // Without a namespace, the user cannot default to it.
        let e = err(r#"{"repositories":["a/b"],"registry":{"type":"registry","host":"r.j3ss.co","namespace":""}}"#);
        assert!(
            e.contains("registry.username is required") && e.contains("r.j3ss.co"),
            "{e}"
        );
        // Docker Hub keeps its namespace.
        let e = err(r#"{"repositories":["a/b"],"registry":{"type":"dockerhub","namespace":"","username":"bot"}}"#);
        assert!(
            e.contains("registry.namespace is empty") && e.contains("library/"),
            "{e}"
        );
        // A namespace given is still one valid component.
        for bad in ["a/b", "/", "Acme", "a//b"] {
            let json = format!(
                r#"{{"repositories":["a/b"],"registry":{{"type":"registry","host":"r.j3ss.co","namespace":"{bad}","username":"bot"}}}}"#
            );
            assert!(err(&json).contains("registry.namespace"), "{bad}");
        }
    }

    #[test]
    fn mistakes_are_explained() {
        let err = |json: &str| Deployment::from_json(json).unwrap_err().to_string();
        assert!(
            err(r#"{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"Acme"}}"#)
                .contains("lowercase")
        );
        assert!(
            err(r#"{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"a/b"}}"#)
                .contains("single path component")
        );
        assert!(
            err(r#"{"repositories":["acme/*"],"registry":{"type":"ecr","registry":"evil.example.com"}}"#)
                .contains("ECR registry host")
        );
        assert!(err(r#"{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme","token_parameter":"x y"}}"#).contains("SSM"));
        assert!(
            err(r#"{"project":"a b","repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}"#)
                .contains("project")
        );
        assert!(
            err(
                r#"{"timeout_minutes":1,"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}"#
            )
            .contains("5 to 2160")
        );
        assert!(
            err(r#"{"compute_type":"big; rm","repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}}"#)
                .contains("compute type")
        );
        let hub = r#""repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}"#;
        assert!(err(&format!(r#"{{{hub},"cache_repository":"Acme/Cache"}}"#)).contains("cache_repository"));
        assert!(err(&format!(r#"{{{hub},"buildkit_image":"moby/buildkit; rm -rf /"}}"#)).contains("buildkit_image"));
        assert!(err(&format!(r#"{{{hub},"buildkit_image":""}}"#)).contains("buildkit_image"));
        assert!(err(&format!(r#"{{{hub},"cache":"yes"}}"#)).contains("boolean"));
        let ecr = r#""repositories":["acme/*"],"registry":{"type":"ecr","registry":"123456789012.dkr.ecr.eu-west-1.amazonaws.com","prefix":"builds"}"#;
        assert!(err(&format!(r#"{{{ecr},"cache_repository":"cache"}}"#)).contains("outside registry.prefix"));
        let ok = Deployment::from_json(&format!(
            r#"{{{ecr},"cache":false,"cache_repository":"builds/cache","buildkit_image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/buildkit:v0.16@sha256:abc"}}"#
        ))
        .unwrap();
        assert!(!ok.config.cache);
        // Defaults stay out of the digest: a deployment from before these settings keeps
        // its builds' keys; a setting that differs changes them.
        let digest = |extra: &str| Deployment::from_json(&format!("{{{hub}{extra}}}")).unwrap().digest;
        let default = format!(r#","cache":true,"buildkit_image":"{DEFAULT_BUILDKIT_IMAGE}""#);
        assert_eq!(digest(""), digest(&default));
        assert_ne!(digest(""), digest(r#","cache":false"#));
        assert_ne!(digest(""), digest(r#","cache_repository":"acme/cache""#));
        assert!(
            err(r#"{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"},"rules":[{"ref":"(","tags":["x"]}]}"#)
                .contains("regular expression")
        );
        assert!(
            err(r#"{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"},"typo":1}"#)
                .contains("unknown field")
        );
        assert!(err(r#"{"repositories":["acme/*"],"registry":{"type":"gcr"}}"#).contains("unknown variant"));
    }

    #[test]
    fn the_description_sync_is_docker_hubs_and_off_by_default() {
        let err = |json: &str| Deployment::from_json(json).unwrap_err().to_string();
        let hub = r#""repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}"#;
        let d = Deployment::from_json(&format!("{{{hub}}}")).unwrap();
        assert!(!d.config.hub_description);
        assert_eq!(d.config.hub_api_url, "https://hub.docker.com");
        let on = Deployment::from_json(&format!(r#"{{{hub},"hub_description":true}}"#)).unwrap();
        assert!(on.config.hub_description);
        // Off and the default address leave a deployment's digest, and its builds' keys, as
        // they were.
        let defaults = Deployment::from_json(&format!(
            r#"{{{hub},"hub_description":false,"hub_api_url":"https://hub.docker.com"}}"#
        ))
        .unwrap();
        assert_eq!(d.digest, defaults.digest);
        assert_ne!(d.digest, on.digest);
        for other in [
            r#"{"type":"ecr","registry":"123456789012.dkr.ecr.eu-west-1.amazonaws.com"}"#,
            r#"{"type":"registry","host":"ghcr.io","namespace":"acme"}"#,
        ] {
            let e = err(&format!(
                r#"{{"repositories":["acme/*"],"registry":{other},"hub_description":true}}"#
            ));
            assert!(e.contains("hub_description") && e.contains("dockerhub"), "{e}");
        }
        assert!(err(&format!(r#"{{{hub},"hub_description":"yes"}}"#)).contains("boolean"));
        // A stand-in on this machine, or https.
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:5000",
            "https://hub.example.com",
            "https://10.0.0.1:8443",
        ] {
            let json = format!(r#"{{{hub},"hub_description":true,"hub_api_url":"{ok}"}}"#);
            assert!(Deployment::from_json(&json).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "hub.docker.com",
            "http://hub.docker.com",
            "http://127.0.0.2:80",
            "https://hub.docker.com/",
            "https://hub.docker.com/v2",
            "https://user@hub.docker.com",
            "https://hub.docker.com\" x",
            "ftp://hub.docker.com",
        ] {
            let json = format!(
                r#"{{{hub},"hub_description":true,"hub_api_url":{}}}"#,
                serde_json::to_string(bad).unwrap()
            );
            assert!(err(&json).contains("hub_api_url"), "{bad}");
        }
    }

    #[test]
    fn commit_statuses_need_a_token_and_never_change_the_digest() {
        let hub = r#""repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"}"#;
        let token = r#","github_token_parameter":"/dockhand/github/token""#;
        let d = |extra: &str| Deployment::from_json(&format!("{{{hub}{extra}}}"));
        assert!(!d("").unwrap().config.commit_statuses);
        let e = d(r#","commit_statuses":true"#).unwrap_err().to_string();
        assert!(
            e.contains("commit_statuses")
                && e.contains("github_token_parameter")
                && e.contains("Commit statuses: read and write")
                && e.contains("repo:status"),
            "{e}"
        );
        let on = d(&format!(r#"{token},"commit_statuses":true"#)).unwrap();
        assert!(on.config.commit_statuses);
        // The notifier's setting: no build changes, so neither does any build key.
        let off = d(token).unwrap();
        assert_eq!(on.digest, off.digest);
        assert_eq!(d(r#","commit_statuses":false"#).unwrap().digest, d("").unwrap().digest);
        assert!(
            d(r#","commit_statuses":"yes""#)
                .unwrap_err()
                .to_string()
                .contains("boolean")
        );
    }
    fn with_refresh(repositories: &str, refresh: &str) -> Result<Deployment, String> {
        Deployment::from_json(&format!(
            r#"{{"registry":{{"type":"dockerhub","namespace":"acme"}},"repositories":{repositories}{refresh}}}"#
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn refresh_defaults_to_the_literal_repositories_and_stays_out_of_the_digest() {
        let listed = r#"["acme/images","acme/tools","other/*"]"#;
        let plain = with_refresh(listed, "").unwrap();
        assert!(plain.config.refresh_repositories().is_empty());
        let on = with_refresh(
            listed,
            r#","refresh":{"schedule":"cron(0 4 ? * MON *)","tag":"{date}"}"#,
        )
        .unwrap();
        assert_eq!(on.config.refresh_repositories(), ["acme/images", "acme/tools"]);
        let chosen = with_refresh(
            listed,
            r#","refresh":{"schedule":"rate(7 days)","repositories":["other/base"]}"#,
        )
        .unwrap();
        assert_eq!(chosen.config.refresh_repositories(), ["other/base"]);
        // Setting or changing the refresh rebuilds nothing a push builds.
        assert_eq!(plain.digest, on.digest);
        assert_eq!(plain.digest, chosen.digest);
        // It reaches the functions: the template's DockhandConfig is this serialization.
        let json = serde_json::to_string(&on.config).unwrap();
        assert!(
            json.contains(r#""refresh":{"schedule":"cron(0 4 ? * MON *)","tag":"{date}"}"#),
            "{json}"
        );
        assert!(!serde_json::to_string(&plain.config).unwrap().contains("refresh"));
    }

    #[test]
    fn a_refresh_that_cannot_run_is_refused_with_what_to_do() {
        let listed = r#"["acme/images","other/*"]"#;
        for (repositories, refresh, says) in [
            (
                listed,
                r#"{"schedule":"weekly"}"#,
                "refresh.schedule \"weekly\" is not an EventBridge schedule",
            ),
            (listed, r#"{"schedule":"rate()"}"#, "refresh.schedule"),
            (listed, r#"{"tag":"{date}"}"#, "missing field `schedule`"),
            (listed, r#"{"schedule":"rate(1 day)","every":"day"}"#, "unknown field"),
            (
                r#"["acme/*"]"#,
                r#"{"schedule":"rate(1 day)"}"#,
                "every entry of `repositories` is a pattern",
            ),
            (
                listed,
                r#"{"schedule":"rate(1 day)","repositories":[]}"#,
                "refresh.repositories is empty",
            ),
            (
                listed,
                r#"{"schedule":"rate(1 day)","repositories":["other/*"]}"#,
                "name each repository",
            ),
            (
                listed,
                r#"{"schedule":"rate(1 day)","repositories":["third/images"]}"#,
                "does not build it",
            ),
            (
                listed,
                r#"{"schedule":"rate(1 day)","tag":"weekly"}"#,
                "neither {date} nor {sha7}",
            ),
            (
                listed,
                r#"{"schedule":"rate(1 day)","tag":"{date}:{sha7}"}"#,
                "contains ':'",
            ),
            (
                listed,
                r#"{"schedule":"rate(1 day)","tag":"-{date}"}"#,
                "must start with",
            ),
            (
                listed,
                r#"{"schedule":"rate(1 day)","tag":"{date}-{branch}"}"#,
                "placeholder other than",
            ),
        ] {
            let e = with_refresh(repositories, &format!(r#","refresh":{refresh}"#)).unwrap_err();
            assert!(e.contains(says), "{refresh}: {e}");
        }
    }

    #[test]
    fn the_refresh_tag_renders_the_date_and_short_commit() {
        let sha = "3E8A1F5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f";
        assert_eq!(refresh_tag("{date}", "20261207", sha).as_deref(), Ok("20261207"));
        assert_eq!(
            refresh_tag("refresh-{date}-{sha7}", "20261207", sha).as_deref(),
            Ok("refresh-20261207-3e8a1f5")
        );
        assert!(refresh_tag("{date}", "2026-12-07", sha).is_err());
        assert!(refresh_tag("{sha7}", "20261207", "xyz").is_err());
        assert!(
            refresh_tag(&format!("{}{{date}}", "a".repeat(121)), "20261207", sha)
                .unwrap_err()
                .contains("longer than")
        );
    }

    #[test]
    fn schedules_are_rate_or_cron_expressions() {
        for good in [
            "rate(1 day)",
            "rate(7 days)",
            "cron(0 4 ? * MON *)",
            "cron(0 4 * * ? *)",
        ] {
            assert_eq!(check_schedule("s", good), Ok(()), "{good}");
        }
        for bad in [
            "weekly",
            "rate()",
            "cron( )",
            "rate(1 day",
            "rate(1 day))",
            "at(2026-12-07T04:00:00)",
            "rate(1\nday)",
        ] {
            assert!(check_schedule("s", bad).unwrap_err().starts_with("s "), "{bad}");
        }
    }
}
