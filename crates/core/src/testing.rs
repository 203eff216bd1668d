//! What the core's unit tests share: a deployment that builds `acme/images`, and a build
//! request of it to build from.

use crate::config::{Config, Deployment, Naming, Registry};
use crate::queue::QueuedBuild;
use crate::request::{BuildRequest, Changes, HeadCommit, SourceRepository};
use crate::rules::RefRules;
use crate::start_build::StartBuildRequest;
use crate::webhook::{Commit, Owner, PushEvent, Repository};

/// Docker Hub under `acme`, the default ref rules and the `path` preset, building
/// `acme/images` only.
pub(crate) fn deployment() -> Deployment {
    Deployment::new(Config {
        project: "dockhand".into(),
        registry: Registry::DockerHub {
            namespace: "acme".into(),
            username: None,
            token_parameter: None,
        },
        rules: RefRules::default_rules(),
        images: Default::default(),
        compute_type: "BUILD_GENERAL1_SMALL".into(),
        timeout_minutes: 60,
        naming: Naming::Path,
        github_token_parameter: None,
        platforms: Vec::new(),
        repositories: Some(vec!["acme/images".into()]),
        github_host: "github.com".into(),
        repository_tags: false,
        pull_credential: None,
        cache: true,
        cache_repository: None,
        buildkit_image: crate::config::DEFAULT_BUILDKIT_IMAGE.into(),
        autotest: Default::default(),
        hub_description: false,
        hub_api_url: crate::config::DEFAULT_HUB_API_URL.into(),
        commit_statuses: false,
        refresh: None,
    })
    .unwrap()
}

/// A push of `commit` to `main` of `acme/images`, tagged `latest`, that changes nothing;
/// each test sets what it is about.
pub(crate) fn build_request(commit: &str) -> BuildRequest {
    BuildRequest {
        delivery: "d".into(),
        repository: SourceRepository {
            name: "images".into(),
            full_name: "acme/images".into(),
            clone_url: "https://github.com/acme/images.git".into(),
            html_url: None,
            private: false,
            default_branch: Some("main".into()),
        },
        git_ref: "refs/heads/main".into(),
        commit: commit.into(),
        tags: vec!["latest".into()],
        fixed_tags: vec![],
        rebuild: false,
        trigger: None,
        head_commit: Some(HeadCommit {
            message: "web: bump nginx".into(),
            author: None,
            url: None,
            timestamp: None,
        }),
        pusher: None,
        changes: Changes::default(),
    }
}

/// The build of `web` that [`build_request`] plans, as it waits in the builds queue.
pub(crate) fn queued_build(commit: &str) -> QueuedBuild {
    QueuedBuild {
        key: "k".into(),
        repository: "acme/images".into(),
        git_ref: "refs/heads/main".into(),
        commit: commit.into(),
        delivery: "d".into(),
        context: "web".into(),
        image: "docker.io/acme/web".into(),
        tags: vec!["latest".into()],
        request: StartBuildRequest {
            project_name: "dockhand".into(),
            source_type_override: "NO_SOURCE".into(),
            buildspec_override: String::new(),
            environment_variables_override: vec![],
            idempotency_token: "k".into(),
            compute_type_override: "BUILD_GENERAL1_SMALL".into(),
            timeout_in_minutes_override: 60,
            privileged_mode_override: true,
        },
    }
}

/// A push of `commits` to `git_ref` of `acme/images`, whose default branch is `main`.
pub(crate) fn push(git_ref: &str, commits: Vec<Commit>) -> PushEvent {
    PushEvent {
        git_ref: git_ref.into(),
        before: "9f2c1b7e4d3a5c6b8e0f1a2d3c4b5a6978e1f0d2".into(),
        after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into(),
        created: false,
        deleted: false,
        forced: false,
        head_commit: commits.last().cloned(),
        commits,
        repository: Repository {
            name: "images".into(),
            full_name: "acme/images".into(),
            clone_url: "https://github.com/acme/images.git".into(),
            html_url: None,
            private: false,
            default_branch: Some("main".into()),
            owner: Owner {
                login: Some("acme".into()),
                name: None,
            },
        },
        pusher: None,
    }
}
