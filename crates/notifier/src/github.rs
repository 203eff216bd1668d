//! GitHub as the notifier reaches it for commit statuses: the token is read from its SSM
//! SecureString (`github_token_parameter`) on the first status to post, never at cold
//! start, and kept for the life of the sandbox; a token that cannot be read is tried again
//! on the next event.

use crate::StatusHost;
use dockhand_core::commit_status::CommitStatus;
use dockhand_github::{GitHub, Policy};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How patient the notifier is with GitHub: its function has 30 s (cfn/dockhand.yml) for
/// the log, the email and SMS, the record and the status, and the status is the one that
/// may be dropped. A few short attempts, no waiting on a rate limit.
pub fn policy() -> Policy {
    Policy {
        request_timeout: Duration::from_secs(4),
        attempts: 3,
        backoff: Duration::from_millis(250),
        max_rate_limit_wait: Duration::ZERO,
        ..Policy::default()
    }
}

pub struct SsmGitHub {
    api: String,
    token_parameter: String,
    policy: Policy,
    ssm: aws_sdk_ssm::Client,
    github: OnceCell<GitHub>,
}

impl SsmGitHub {
    /// GitHub's API at `api` (`GITHUB_API_URL`), with the token in the SSM parameter
    /// `token_parameter`.
    pub fn new(api: impl Into<String>, token_parameter: impl Into<String>, ssm: aws_sdk_ssm::Client) -> Self {
        Self {
            api: api.into(),
            token_parameter: token_parameter.into(),
            policy: policy(),
            ssm,
            github: OnceCell::new(),
        }
    }

    async fn github(&self) -> Result<&GitHub, String> {
        self.github
            .get_or_try_init(|| async {
                let name = &self.token_parameter;
                let token = match dockhand_aws::ssm::secure_string(&self.ssm, name).await {
                    Ok(Some(token)) if !token.trim().is_empty() => token.trim().to_owned(),
                    Ok(_) => {
                        return Err(format!(
                            "the SSM parameter {name} (github_token_parameter) holds no GitHub token: store one with `make github-token`"
                        ));
                    }
                    Err(e) => return Err(format!("the GitHub token could not be read: {e}")),
                };
                GitHub::new(&self.api, Some(token))
                    .map(|github| github.with_policy(self.policy.clone()))
                    .map_err(|e| format!("GITHUB_API_URL {:?}: {e}", self.api))
            })
            .await
    }
}

impl StatusHost for SsmGitHub {
    async fn create_status(&self, status: &CommitStatus) -> Result<(), String> {
        self.github()
            .await?
            .create_status(status)
            .await
            .map_err(|e| e.to_string())
    }
}

impl StatusHost for GitHub {
    async fn create_status(&self, status: &CommitStatus) -> Result<(), String> {
        GitHub::create_status(self, status).await.map_err(|e| e.to_string())
    }
}
