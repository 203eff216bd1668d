use dockhand_aws::{codebuild, lambda_env};
use dockhand_cleanup::{Cleanup, DEFAULT_MARGIN};
use dockhand_core::retention::DEFAULT_RETENTION_DAYS;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let retention_days = lambda_env::number_or("RETENTION_DAYS", DEFAULT_RETENTION_DAYS as usize)?;
    let cleanup = Cleanup {
        project: lambda_env::deployment()?.config.project,
        retention_days: u32::try_from(retention_days).map_err(|_| "RETENTION_DAYS is too large")?,
        dry_run: matches!(
            std::env::var("DRY_RUN").as_deref().map(str::trim),
            Ok("1" | "true" | "yes")
        ),
        history: codebuild::CodeBuildHistory::new(codebuild::client(&aws)),
        margin: DEFAULT_MARGIN,
    };
    // The scheduled event carries nothing the cleanup needs beyond the moment it runs.
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let cleanup = &cleanup;
        async move {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
            let deadline = remaining(event.context.deadline).map(|left| Instant::now() + left);
            let time_left = || deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
            // The summary line is the answer; an error's message is the function's error.
            cleanup.run(now, time_left).await.map(|s| s.line()).map_err(Error::from)
        }
    }))
    .await
}

/// The time left before the invocation's deadline (milliseconds since the epoch); `None`
/// when it has already passed as the invocation arrives, which Lambda never does: the
/// runtime emulator of local mode (`cargo lambda watch`) sends 600000, ten minutes after
/// the epoch. Then the run has no deadline of its own.
fn remaining(deadline_ms: u64) -> Option<Duration> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Duration::from_millis(deadline_ms).checked_sub(now)
}
