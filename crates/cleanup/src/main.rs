use dockhand_aws::{codebuild, lambda_env};
use dockhand_cleanup::Cleanup;
use dockhand_core::retention::DEFAULT_RETENTION_DAYS;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::time::{SystemTime, UNIX_EPOCH};

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
    };
    // The scheduled event carries nothing the cleanup needs beyond the moment it runs.
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        let cleanup = &cleanup;
        async move {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
            cleanup.run(now).await.map(|_| ()).map_err(Error::from)
        }
    }))
    .await
}
