//! The outside world as the core sees it. The `dockhand-aws` crate implements these over
//! the AWS SDK; tests implement them in memory.

use crate::job::StartBuildRequest;
use crate::notification::PublishRequest;
use crate::retention::BuildRecord;
use std::fmt;
use std::future::Future;

/// A failure of an outside system, with the text to log or return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// A secret value whose `Debug` and `Display` never show it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl AsRef<[u8]> for Secret {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Parses a webhook secret parameter: one secret per line, so two can be valid during a
/// rotation. Blank lines and surrounding whitespace are ignored.
pub fn parse_secrets(value: &str) -> Vec<Secret> {
    value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Secret::new)
        .collect()
}

/// Publishes one message to a topic.
pub trait Publisher {
    fn publish(&self, message: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Reads the webhook secrets currently valid.
pub trait SecretStore {
    fn webhook_secrets(&self) -> impl Future<Output = Result<Vec<Secret>, PortError>> + Send;
}

/// Starts one build, answering its id.
pub trait BuildStarter {
    fn start_build(&self, request: &StartBuildRequest) -> impl Future<Output = Result<String, PortError>> + Send;
}

/// Sends one notification (an SNS Publish with `MessageStructure=json`).
pub trait NotificationSink {
    fn send(&self, request: &PublishRequest) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The build records of a CodeBuild project.
pub trait BuildHistory {
    /// Every build id of the project, all pages followed.
    fn list_build_ids(&self, project: &str) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
    /// The records of at most 100 builds.
    fn get_builds(&self, ids: &[String]) -> impl Future<Output = Result<Vec<BuildRecord>, PortError>> + Send;
    /// Deletes at most 100 builds, answering those not deleted with the reason.
    fn delete_builds(&self, ids: &[String]) -> impl Future<Output = Result<Vec<(String, String)>, PortError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            parse_secrets("  new \n\nold\r\n")
                .iter()
                .map(Secret::expose)
                .collect::<Vec<_>>(),
            ["new", "old"]
        );
    }
}
