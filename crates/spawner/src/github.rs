//! GitHub as the spawner reaches it: the token, if the deployment has one, is read from its
//! SSM SecureString on first use (not at cold start) and kept for the life of the sandbox.

use dockhand_core::order::{CommitInfo, RepositoryInfo};
use dockhand_core::ports::SourceHost;
use dockhand_core::tree::{ChangedFile, HostError, Listing};
use dockhand_github::GitHub;
use tokio::sync::OnceCell;

pub struct LazyGitHub {
    api: String,
    policy: dockhand_github::Policy,
    token_parameter: Option<String>,
    ssm: aws_sdk_ssm::Client,
    github: OnceCell<GitHub>,
}

impl LazyGitHub {
    pub fn new(api: impl Into<String>, token_parameter: Option<String>, ssm: aws_sdk_ssm::Client) -> Self {
        Self {
            api: api.into(),
            policy: dockhand_github::Policy::default(),
            token_parameter,
            ssm,
            github: OnceCell::new(),
        }
    }

    async fn github(&self) -> Result<&GitHub, HostError> {
        self.github
            .get_or_try_init(|| async {
                let token = match &self.token_parameter {
                    Some(name) => Some(self.token(name).await?),
                    None => None,
                };
                GitHub::new(&self.api, token)
                    .map(|github| github.with_policy(self.policy.clone()))
                    .map_err(|e| HostError::Unavailable(format!("GITHUB_API_URL {:?}: {e}", self.api)))
            })
            .await
    }

    async fn token(&self, name: &str) -> Result<String, HostError> {
        match dockhand_aws::ssm::secure_string(&self.ssm, name).await {
            Ok(Some(token)) if !token.trim().is_empty() => Ok(token.trim().to_owned()),
            Ok(_) => Err(HostError::Denied(format!(
                "the SSM parameter {name} (github_token_parameter) holds no GitHub token: store one with `make github-token`"
            ))),
            Err(e) => Err(HostError::Unavailable(e.to_string())),
        }
    }
}

impl LazyGitHub {
    /// How patient the client is (a walk's time budget, its requests).
    pub fn with_policy(mut self, policy: dockhand_github::Policy) -> Self {
        self.policy = policy;
        self
    }
}

impl SourceHost for LazyGitHub {
    async fn tree(&self, repository: &str, commit: &str) -> Result<Listing, HostError> {
        self.github().await?.tree(repository, commit).await
    }

    async fn compare(&self, repository: &str, base: &str, head: &str) -> Result<Vec<ChangedFile>, HostError> {
        self.github().await?.compare(repository, base, head).await
    }

    async fn file(
        &self,
        repository: &str,
        commit: &str,
        path: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, HostError> {
        self.github().await?.file(repository, commit, path, max_bytes).await
    }

    async fn repository(&self, repository: &str) -> Result<RepositoryInfo, HostError> {
        self.github().await?.repository(repository).await
    }

    async fn commit(&self, repository: &str, reference: &str) -> Result<CommitInfo, HostError> {
        self.github().await?.commit(repository, reference).await
    }

    async fn is_ancestor(&self, repository: &str, ancestor: &str, head: &str) -> Result<bool, HostError> {
        self.github().await?.is_ancestor(repository, ancestor, head).await
    }
}
