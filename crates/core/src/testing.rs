//! What the core's unit tests share: a build request of `acme/images` to build from.

use crate::request::{BuildRequest, Changes, HeadCommit, SourceRepository};

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
