//! The AWS side of dockhand's ports: SNS, SSM Parameter Store, CodeBuild, SQS, DynamoDB and
//! CloudWatch Logs, and the system clock.
//!
//! Every call returns its error as a [`PortError`] naming the service, the resource and
//! what AWS said; retries are the SDK's standard mode with explicit, bounded settings.

/// `mock_client!` without the SDK's `test-util` feature, whose dependencies this workspace
/// does not carry: aws-smithy-mocks' interceptor and HTTP client, a fixed region and static
/// credentials, for the client of the SDK crate named.
#[cfg(test)]
macro_rules! mock_client {
    ($sdk:ident, $rules:expr) => {{
        let mut interceptor =
            aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(aws_smithy_mocks::RuleMode::MatchAny);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new("eu-west-1"))
            .credentials_provider($sdk::config::Credentials::new("AKID", "secret", None, None, "test"))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .build();
        $sdk::Client::from_conf(config)
    }};
}

pub mod codebuild;
pub mod dynamodb;
pub mod lambda_env;
pub mod logs;
pub mod sns;
pub mod sqs;
pub mod ssm;

pub use dockhand_core::error::PortError;

/// The system clock: the functions' [`dockhand_core::ports::Clock`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl dockhand_core::ports::Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The error text for a failed SDK call, with the service's own error code and message.
pub fn describe<E, R>(what: &str, err: &SdkError<E, R>) -> PortError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let detail = match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or("no message")
            )
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    };
    PortError(format!("{what}: {detail}"))
}

/// [`describe`], naming the IAM permission the call needs when AWS refused it for want of
/// one (`AccessDeniedException`, or `AccessDenied` from the query protocols).
pub fn describe_needing<E, R>(what: &str, permission: &str, err: &SdkError<E, R>) -> PortError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let mut described = describe(what, err);
    let denied = matches!(
        err.as_service_error().and_then(|e| e.code()),
        Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation")
    );
    if denied {
        described
            .0
            .push_str(&format!(" (the caller needs the IAM permission {permission})"));
    }
    described
}
