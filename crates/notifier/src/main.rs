use aws_lambda_events::event::codebuild::CodeBuildEvent;
use dockhand_aws::{dynamodb::DynamoLedger, lambda_env, logs::CloudWatchBuildLogs, sns::SnsPublisher};
use dockhand_notifier::github::SsmGitHub;
use dockhand_notifier::{CommitStatuses, Notifier, STATUS_BUDGET, statuses};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let topic_arn = lambda_env::required("RESULTS_TOPIC_ARN")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let config = lambda_env::deployment()?.config;
    // The token is read on the first status posted, not here.
    let commit_statuses = match (&config.commit_statuses, &config.github_token_parameter) {
        (true, Some(parameter)) => Some(CommitStatuses {
            host: SsmGitHub::new(
                dockhand_github::api_url_from_env(),
                parameter.clone(),
                aws_sdk_ssm::Client::new(&aws),
            ),
            config: config.clone(),
            budget: STATUS_BUDGET,
        }),
        _ => None,
    };
    let notifier = Notifier {
        project: config.project,
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
        let (notifier, commit_statuses) = (&notifier, commit_statuses.as_ref());
        async move {
            notifier
                .handle_with_statuses(&event.payload, commit_statuses)
                .await
                .map(|_| ())
                .map_err(Error::from)
        }
    }))
    .await
}
