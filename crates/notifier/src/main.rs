use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_aws::{dynamodb::DynamoLedger, lambda_env, logs::CloudWatchBuildLogs, sns::SnsPublisher};
use dockhand_notifier::{Notifier, statuses};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let topic_arn = lambda_env::required("RESULTS_TOPIC_ARN")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let notifier = Notifier {
        project: lambda_env::deployment()?.config.project,
        statuses: statuses(std::env::var("NOTIFY_STATUSES").ok().as_deref()),
        topic_arn: Some(topic_arn.clone()),
        sink: SnsPublisher::new(aws_sdk_sns::Client::new(&aws), topic_arn),
        records: DynamoLedger::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &lambda_env::required("LEDGER_TABLE")?,
        ),
        logs: CloudWatchBuildLogs::new(aws_sdk_cloudwatchlogs::Client::new(&aws)),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<CodeBuildEvent>| {
        let notifier = &notifier;
        async move { notifier.handle(&event.payload).await.map(|_| ()).map_err(Error::from) }
    }))
    .await
}
