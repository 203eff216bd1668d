//! The StartBuild request for one job: the one shared project, the rendered buildspec,
//! and everything the push decided carried as environment variable overrides.

use crate::buildspec;
use crate::config::{Config, Deployment, Registry};
use crate::image_key::{IMAGE_KEY_VARIABLE, KEY_TAG_VARIABLE, key_tag};
use crate::naming::ImageName;
use crate::platform::PLATFORMS_VARIABLE;
use crate::request::BuildRequest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A StartBuild request, with the CodeBuild API's JSON member names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartBuildRequest {
    pub project_name: String,
    pub source_type_override: String,
    pub buildspec_override: String,
    pub environment_variables_override: Vec<EnvironmentVariable>,
    pub idempotency_token: String,
    pub compute_type_override: String,
    pub timeout_in_minutes_override: u32,
    /// `docker build` inside CodeBuild needs privileged mode.
    pub privileged_mode_override: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentVariable {
    pub name: String,
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// What one job builds: the directory, its Dockerfile, where the image goes and with
/// which tags, and the build arguments (`KEY=value` lines, empty for none).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub context: &'a str,
    pub dockerfile: &'a str,
    pub image: &'a ImageName,
    /// The final tags, first one first; never empty (the ref rules give at least one).
    pub tags: &'a [String],
    /// The subset of `tags` that moves with the ref (`latest`, a branch's name): the build
    /// pushes them only while the ref still points at the commit.
    pub moving_tags: &'a [String],
    pub build_args: &'a str,
    /// The image's key ([`crate::image_key`]): the build pushes its key tag too.
    pub image_key: &'a str,
    /// `os/arch[/variant]`, checked; empty for the build host's own architecture.
    pub platforms: &'a [String],
    /// Whether the build reads and writes the registry cache (the deployment's `cache`,
    /// unless `.dockhand.yml` says otherwise).
    pub cache: bool,
    /// The repository-relative file whose text becomes the image's Docker Hub description
    /// ([`crate::repo_config::RepoConfig::description_path`]), sent only when the
    /// deployment's `hub_description` is on.
    pub description: &'a str,
}

/// Builds the StartBuild request. A deterministic function of its inputs: CodeBuild rejects
/// a repeated idempotency token that carries different parameters. The token is the
/// build's key ([`build_key`]), the same for every delivery of the same push.
pub fn start_build_request(request: &BuildRequest, deployment: &Deployment, target: &Target<'_>) -> StartBuildRequest {
    let config = &deployment.config;
    let key = build_key(request, target.context, deployment);
    let image = target.image;
    let context = target.context;
    let repo = image.repository();
    let first_tag = target.tags.first().map(String::as_str).unwrap_or("latest");
    // Docker Hub autobuild names, so existing hooks keep working.
    let mut env: Vec<(&str, String)> = source_variables(request).into();
    env.extend([
        ("DOCKER_REPO", repo.clone()),
        ("DOCKER_TAG", first_tag.to_owned()),
        ("IMAGE_NAME", format!("{repo}:{first_tag}")),
        ("DOCKERFILE_PATH", target.dockerfile.to_owned()),
        ("BUILD_CONTEXT", context.to_owned()),
        // dockhand's own.
        ("DOCKHAND_DELIVERY", request.delivery.clone()),
        ("DOCKHAND_TAGS", target.tags.join(",")),
        ("DOCKHAND_MOVING_TAGS", target.moving_tags.join(",")),
        (BUILD_KEY_VARIABLE, key.clone()),
        ("DOCKHAND_REGISTRY", image.registry.clone()),
    ]);
    if let Some(trigger) = &request.trigger {
        // What `dockhand build --wait` and `dockhand status` find an order's builds by.
        env.push((crate::order::ORDER_VARIABLE, trigger.id.clone()));
    }
    env.extend(push_variables(request));
    env.extend([
        // From .dockhand.yml: one `KEY=value` per line, each one `--build-arg`.
        ("DOCKHAND_BUILD_ARGS", target.build_args.to_owned()),
        (IMAGE_KEY_VARIABLE, target.image_key.to_owned()),
        (KEY_TAG_VARIABLE, key_tag(target.image_key)),
        (PLATFORMS_VARIABLE, target.platforms.join(",")),
        // The OCI labels' values that are not a Docker Hub name above.
        ("DOCKHAND_SOURCE_URL", source_url(request)),
        ("DOCKHAND_TITLE", title(image).to_owned()),
        ("DOCKHAND_BUILDKIT_IMAGE", config.buildkit_image.clone()),
        (
            AUTOTEST_VARIABLE,
            if runs_tests(request, config) { "1" } else { "0" }.to_owned(),
        ),
    ]);
    if target.cache {
        let (from, to) = cache_options(deployment, image);
        env.push(("DOCKHAND_CACHE_FROM", from));
        env.push(("DOCKHAND_CACHE_TO", to));
    }
    env.extend(credential_names(config));
    if config.hub_description {
        // The file is the repository's data: a variable, never buildspec text.
        env.push(("DOCKHAND_DESCRIPTION_PATH", target.description.to_owned()));
        env.push(("DOCKHAND_HUB_API", config.hub_api_url.clone()));
    }
    if let Some(pull) = &config.pull_credential {
        env.push(("DOCKHAND_PULL_REGISTRY", pull.host.clone()));
        env.push(("DOCKHAND_PULL_USER", pull.username.clone().unwrap_or_default()));
        env.push((
            "DOCKHAND_PULL_TOKEN_PARAMETER",
            pull.token_parameter.clone().unwrap_or_default(),
        ));
    }
    StartBuildRequest {
        project_name: config.project.clone(),
        source_type_override: "NO_SOURCE".into(),
        buildspec_override: buildspec::render_for(config),
        environment_variables_override: overrides(env),
        idempotency_token: key,
        compute_type_override: config.compute_type.clone(),
        timeout_in_minutes_override: config.timeout_minutes,
        privileged_mode_override: true,
    }
}

/// The environment variable that tells a build whether it runs the autotests beside its
/// Dockerfile: `1` or `0`, by the deployment's `autotest` setting for the push's ref.
pub const AUTOTEST_VARIABLE: &str = "DOCKHAND_AUTOTEST";

/// Whether the builds of this push run their autotests ([`crate::config::Autotest`]): the
/// one decision the build's variable and the image's key ([`crate::image_key`]) are made of.
pub fn runs_tests(request: &BuildRequest, config: &Config) -> bool {
    config
        .autotest
        .runs_for(&request.git_ref, request.repository.default_branch.as_deref())
}

/// The names (never the values) of the push credential and the GitHub token, as every
/// job of the deployment reads them: the build reads each secret itself.
pub(crate) fn credential_names(config: &Config) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    if let Registry::DockerHub { .. } | Registry::Generic { .. } = &config.registry {
        env.push((
            "DOCKHAND_REGISTRY_USER",
            config.registry.username().unwrap_or_default().to_owned(),
        ));
        // The parameter's name, not its value: the build reads the token itself.
        env.push((
            "DOCKHAND_TOKEN_PARAMETER",
            config.registry.token_parameter().unwrap_or_default(),
        ));
    }
    if let Some(parameter) = &config.github_token_parameter {
        // Names only: the build reads the token itself, for its git commands alone.
        env.push(("DOCKHAND_GITHUB_TOKEN_PARAMETER", parameter.clone()));
        env.push(("DOCKHAND_GIT_HOST", config.github_host.clone()));
    }
    env
}

/// Environment overrides, plain text. CodeBuild rejects empty values; an absent variable
/// reads as empty in bash.
pub(crate) fn overrides(env: Vec<(&str, String)>) -> Vec<EnvironmentVariable> {
    env.into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| EnvironmentVariable {
            name: name.into(),
            value,
            kind: "PLAINTEXT".into(),
        })
        .collect()
}

/// The commit a build starts from, by Docker Hub's autobuild names: first in every build's
/// and re-tag job's environment.
pub fn source_variables(request: &BuildRequest) -> [(&'static str, String); 4] {
    let head = request.head_commit.as_ref();
    [
        ("SOURCE_REPO_URL", request.repository.clone_url.clone()),
        ("SOURCE_COMMIT", request.commit.clone()),
        ("SOURCE_BRANCH", request.source_branch().to_owned()),
        ("COMMIT_MSG", head.map(|h| h.message.clone()).unwrap_or_default()),
    ]
}

/// The push a build belongs to, for its notification: repository, ref and head commit.
pub fn push_variables(request: &BuildRequest) -> [(&'static str, String); 4] {
    let head = request.head_commit.as_ref();
    [
        ("DOCKHAND_REPOSITORY", request.repository.full_name.clone()),
        ("DOCKHAND_REF", request.git_ref.clone()),
        (
            "DOCKHAND_COMMIT_AUTHOR",
            head.and_then(|h| h.author.clone()).unwrap_or_default(),
        ),
        (
            "DOCKHAND_COMMIT_URL",
            head.and_then(|h| h.url.clone()).unwrap_or_default(),
        ),
    ]
}

/// The repository's web address, as GitHub gives it (`html_url`), or its clone URL without
/// `.git` for a request that came without one.
fn source_url(request: &BuildRequest) -> String {
    match &request.repository.html_url {
        Some(url) => url.clone(),
        None => {
            let clone = &request.repository.clone_url;
            clone.strip_suffix(".git").unwrap_or(clone).to_owned()
        }
    }
}

/// The image's own name, the last part of its repository path: `org.opencontainers.image.title`.
fn title(image: &ImageName) -> &str {
    image.path.rsplit('/').next().unwrap_or(&image.path)
}

/// The tag the cache of every image goes under in its own repository.
pub const CACHE_TAG: &str = "buildcache";

/// `--cache-from` and `--cache-to` for an image: BuildKit's registry cache in the image's
/// own repository (tag [`CACHE_TAG`]) or in the deployment's `cache_repository`, one tag per
/// image. `mode=max` keeps every stage's layers, not only the final image's;
/// `ignore-error=true` makes a cache that cannot be written a warning. ECR accepts the cache
/// only as an OCI image manifest (`image-manifest=true,oci-mediatypes=true`), which every
/// v2 registry serves too, but Docker Hub's and others' default index is kept for them.
/// No value holds a comma: repository paths and tags are validated to their characters.
pub fn cache_options(deployment: &Deployment, image: &ImageName) -> (String, String) {
    let config = &deployment.config;
    let reference = match &config.cache_repository {
        None => format!("{}:{CACHE_TAG}", image.repository()),
        Some(path) => format!("{}/{path}:{}", image.registry, cache_tag(&image.path)),
    };
    let mut to = format!("type=registry,ref={reference},mode=max,ignore-error=true");
    if let Registry::Ecr { .. } = config.registry {
        to.push_str(",image-manifest=true,oci-mediatypes=true");
    }
    (format!("type=registry,ref={reference}"), to)
}

/// An image's tag in a shared cache repository: its path with `/` as `-`, cut to fit, and a
/// digest of the whole path, so two paths never share a tag (`a/b` and `a-b`).
fn cache_tag(path: &str) -> String {
    let digest = hex::encode(&Sha256::digest(path.as_bytes())[..6]);
    let readable: String = path.replace('/', "-").chars().take(100).collect();
    format!("{readable}-{digest}")
}

impl StartBuildRequest {
    /// The value of one environment override.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.environment_variables_override
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.value.as_str())
    }
}

/// Why StartBuild did not answer with a build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// CodeBuild has no room now and started nothing: the project's concurrent build limit
    /// or the account's concurrency and queue are full (`AccountLimitExceededException`,
    /// the one limit error StartBuild documents), or the calls are throttled. Try later.
    #[error("no capacity now: {0}")]
    NoCapacity(String),
    /// CodeBuild refused the request and would refuse it again (`InvalidInputException`,
    /// `ResourceNotFoundException`: a missing project, a bad override): a person must act.
    #[error("refused: {0}")]
    Refused(String),
    /// No answer (a timeout, a 5xx, a dropped connection): a build may have started.
    #[error("no answer: {0}")]
    Unknown(String),
}

/// The environment variable that carries a build's key, so that a build can be found by
/// its key among the project's builds.
pub const BUILD_KEY_VARIABLE: &str = "DOCKHAND_BUILD_KEY";

/// The key of the build of `context` for a push: repository, ref, commit, directory and
/// the deployment's configuration, all covered by the webhook's signature or chosen by the
/// operator. The delivery id is not part of it: GitHub does not sign that header, so a
/// replayed body under a new id is the same build.
pub fn build_key(request: &BuildRequest, context: &str, deployment: &Deployment) -> String {
    push_key("dockhand-build-v1", request, context, deployment)
}

/// SHA-256 over length-prefixed parts: `version`, the push's repository, ref and commit,
/// `part` and the deployment's digest, then an order's id when an order asked for the build.
pub(crate) fn push_key(version: &str, request: &BuildRequest, part: &str, deployment: &Deployment) -> String {
    let mut h = Sha256::new();
    for part in [
        version,
        &request.repository.full_name,
        &request.git_ref,
        &request.commit,
        part,
        &deployment.digest,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    // An order's builds are its own: each `dockhand build` builds again, and each refresh.
    // A push's key is unchanged (no seventh part).
    if let Some(trigger) = &request.trigger {
        h.update((trigger.id.len() as u64).to_be_bytes());
        h.update(trigger.id.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Deployment;

    fn request(delivery: &str, commit: &str) -> BuildRequest {
        BuildRequest {
            delivery: delivery.into(),
            ..crate::testing::build_request(commit)
        }
    }

    fn deployment(project: &str) -> Deployment {
        Deployment::from_json(&format!(
            r#"{{"project":"{project}","repositories":["acme/*"],"registry":{{"type":"dockerhub","namespace":"acme"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn tokens_are_the_build_key_and_ignore_the_delivery() {
        let d = deployment("dockhand");
        let a = build_key(&request("d1", &"a".repeat(40)), "web", &d);
        assert_eq!(
            a,
            build_key(&request("d2", &"a".repeat(40)), "web", &d),
            "a new delivery id is the same build"
        );
        assert_ne!(a, build_key(&request("d1", &"b".repeat(40)), "web", &d));
        assert_ne!(a, build_key(&request("d1", &"a".repeat(40)), "api", &d));
        assert_ne!(
            a,
            build_key(&request("d1", &"a".repeat(40)), "web", &deployment("other"))
        );
        // No ambiguity from concatenation.
        let mut r = request("d", &"a".repeat(40));
        r.repository.full_name = "acme/imagesrefs/heads/main".into();
        r.git_ref = String::new();
        assert_ne!(a, build_key(&r, "web", &d));
        assert_eq!(a.len(), 64);
    }

    /// Local mode's CodeBuild stand-in reads the request the spawner wrote, by the same
    /// CodeBuild member names.
    #[test]
    fn a_start_build_request_reads_back_as_it_was_written() {
        let image = ImageName {
            registry: "docker.io".into(),
            path: "acme/web".into(),
        };
        let tags = ["latest".to_owned(), "6113728".to_owned()];
        let target = Target {
            context: "web",
            dockerfile: "web/Dockerfile",
            image: &image,
            tags: &tags,
            moving_tags: &tags[..1],
            build_args: "A=1",
            image_key: &"ab".repeat(32),
            platforms: &["linux/amd64".to_owned(), "linux/arm64".to_owned()],
            cache: true,
            description: "web/README.md",
        };
        let written = start_build_request(&request("d1", &"a".repeat(40)), &deployment("dockhand"), &target);
        let json = serde_json::to_string(&written).unwrap();
        for member in [
            r#""projectName":"dockhand""#,
            r#""timeoutInMinutesOverride":60"#,
            r#""privilegedModeOverride":true"#,
            r#"{"name":"BUILD_CONTEXT","value":"web","type":"PLAINTEXT"}"#,
            r#"{"name":"DOCKHAND_PLATFORMS","value":"linux/amd64,linux/arm64","type":"PLAINTEXT"}"#,
            r#"{"name":"DOCKHAND_KEY_TAG","value":"dockhand-abababababababababababababababab","type":"PLAINTEXT"}"#,
        ] {
            assert!(json.contains(member), "{member} in {json}");
        }
        let read: StartBuildRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(read, written);
    }

    fn with_registry(registry: &str) -> Deployment {
        Deployment::from_json(&format!(r#"{{"repositories":["acme/*"],"registry":{registry}}}"#)).unwrap()
    }

    #[test]
    fn the_cache_is_the_images_own_repository_and_ecr_gets_an_image_manifest() {
        let hub = with_registry(r#"{"type":"dockerhub","namespace":"acme"}"#);
        let image = ImageName {
            registry: "docker.io".into(),
            path: "acme/web".into(),
        };
        assert_eq!(
            cache_options(&hub, &image),
            (
                "type=registry,ref=docker.io/acme/web:buildcache".to_owned(),
                "type=registry,ref=docker.io/acme/web:buildcache,mode=max,ignore-error=true".to_owned()
            )
        );
        let ecr = with_registry(r#"{"type":"ecr","registry":"123456789012.dkr.ecr.eu-west-1.amazonaws.com"}"#);
        let image = ImageName {
            registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
            path: "web".into(),
        };
        let (from, to) = cache_options(&ecr, &image);
        assert_eq!(
            from,
            "type=registry,ref=123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:buildcache"
        );
        assert!(
            to.ends_with(",mode=max,ignore-error=true,image-manifest=true,oci-mediatypes=true"),
            "{to}"
        );
    }

    #[test]
    fn a_shared_cache_repository_gives_each_image_its_own_valid_tag() {
        let mut d = with_registry(r#"{"type":"dockerhub","namespace":"acme"}"#);
        d.config.cache_repository = Some("acme/cache".into());
        let tag_of = |path: &str| {
            let image = ImageName {
                registry: "docker.io".into(),
                path: path.into(),
            };
            let (from, _) = cache_options(&d, &image);
            from.rsplit_once(':').unwrap().1.to_owned()
        };
        let (a, b) = (tag_of("acme/a/b"), tag_of("acme/a-b"));
        assert!(
            a.starts_with("acme-a-b-") && b.starts_with("acme-a-b-") && a != b,
            "{a} {b}"
        );
        let long = tag_of(&format!("acme/{}", "x".repeat(240)));
        assert!(crate::docker_ref::validate_tag(&long).is_ok(), "{long}");
        assert!(!long.contains(','));
    }

    #[test]
    fn the_cache_switch_and_the_labels_reach_the_build() {
        let image = ImageName {
            registry: "docker.io".into(),
            path: "acme/tools-lint".into(),
        };
        let tags = ["latest".to_owned()];
        let mut target = Target {
            context: "tools/lint",
            dockerfile: "tools/lint/Dockerfile",
            image: &image,
            tags: &tags,
            moving_tags: &tags,
            build_args: "",
            image_key: &"cd".repeat(32),
            platforms: &[],
            cache: true,
            description: "tools/lint/README.md",
        };
        let d = with_registry(r#"{"type":"dockerhub","namespace":"acme"}"#);
        let r = request("d1", &"a".repeat(40));
        let on = start_build_request(&r, &d, &target);
        assert_eq!(
            on.env("DOCKHAND_CACHE_FROM"),
            Some("type=registry,ref=docker.io/acme/tools-lint:buildcache")
        );
        assert_eq!(on.env("DOCKHAND_TITLE"), Some("tools-lint"));
        assert_eq!(
            on.env("DOCKHAND_BUILDKIT_IMAGE"),
            Some(crate::config::DEFAULT_BUILDKIT_IMAGE)
        );
        assert_eq!(on.env(AUTOTEST_VARIABLE), Some("1"));
        let mut tags_only = with_registry(r#"{"type":"dockerhub","namespace":"acme"}"#);
        tags_only.config.autotest = crate::config::Autotest::Tags;
        assert_eq!(
            start_build_request(&r, &tags_only, &target).env(AUTOTEST_VARIABLE),
            Some("0"),
            "a branch build under `tags`"
        );
        let mut tag = r.clone();
        tag.git_ref = "refs/tags/v1".into();
        assert_eq!(
            start_build_request(&tag, &tags_only, &target).env(AUTOTEST_VARIABLE),
            Some("1")
        );
        let url = on.env("DOCKHAND_SOURCE_URL").unwrap();
        assert!(url.starts_with("https://") && !url.ends_with(".git"), "{url}");
        target.cache = false;
        let off = start_build_request(&r, &d, &target);
        assert_eq!(
            (off.env("DOCKHAND_CACHE_FROM"), off.env("DOCKHAND_CACHE_TO")),
            (None, None)
        );
    }

    #[test]
    fn the_description_file_reaches_the_build_only_when_the_deployment_syncs() {
        let image = ImageName {
            registry: "docker.io".into(),
            path: "acme/web".into(),
        };
        let tags = ["latest".to_owned()];
        let target = Target {
            context: "web",
            dockerfile: "web/Dockerfile",
            image: &image,
            tags: &tags,
            moving_tags: &tags,
            build_args: "",
            image_key: &"ef".repeat(32),
            platforms: &[],
            cache: false,
            description: "docs/web $(id).md",
        };
        let r = request("d1", &"a".repeat(40));
        let off = start_build_request(
            &r,
            &with_registry(r#"{"type":"dockerhub","namespace":"acme"}"#),
            &target,
        );
        assert_eq!(off.env("DOCKHAND_DESCRIPTION_PATH"), None);
        assert_eq!(off.env("DOCKHAND_HUB_API"), None);
        assert!(!off.buildspec_override.contains("description"), "not rendered either");
        let d = Deployment::from_json(
            r#"{"repositories":["acme/*"],"registry":{"type":"dockerhub","namespace":"acme"},"hub_description":true}"#,
        )
        .unwrap();
        let on = start_build_request(&r, &d, &target);
        // As data, in a variable: the buildspec is the deployment's alone.
        assert_eq!(on.env("DOCKHAND_DESCRIPTION_PATH"), Some("docs/web $(id).md"));
        assert_eq!(on.env("DOCKHAND_HUB_API"), Some("https://hub.docker.com"));
        assert!(!on.buildspec_override.contains("docs/web"));
        assert!(on.buildspec_override.contains("##dockhand description synced"));
        assert_ne!(
            on.idempotency_token, off.idempotency_token,
            "a setting of the deployment"
        );
    }
}
