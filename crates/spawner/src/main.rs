// The spawner future nests the SDK, GitHub and lambda_runtime futures deeper than the
// default layout query limit.
#![recursion_limit = "256"]

use aws_lambda_events::event::sns::SnsEvent;
use dockhand_aws::{codebuild, lambda_env, sns::SnsPublisher};
use dockhand_spawner::Spawner;
use dockhand_spawner::github::LazyGitHub;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deployment = lambda_env::deployment()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let results_topic = lambda_env::required("RESULTS_TOPIC_ARN")?;
    let host = LazyGitHub::new(
        dockhand_github::api_url_from_env(),
        deployment.config.github_token_parameter.clone(),
        aws_sdk_ssm::Client::new(&aws),
    );
    let spawner = Spawner {
        host,
        deployment,
        starter: codebuild::CodeBuildStarter::new(codebuild::client(&aws)),
        alerts: SnsPublisher::new(aws_sdk_sns::Client::new(&aws), &results_topic),
        alerts_topic_arn: Some(results_topic),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<SnsEvent>| {
        let spawner = &spawner;
        async move {
            let report = spawner.handle(&event.payload).await?;
            tracing::info!(started = report.started.len(), skipped = report.skipped.len(), "done");
            Ok::<(), Error>(())
        }
    }))
    .await
}
