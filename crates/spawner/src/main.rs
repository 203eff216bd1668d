// The spawner future nests the SDK, GitHub and lambda_runtime futures deeper than the
// default layout query limit.
#![recursion_limit = "256"]

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use dockhand_aws::{SystemClock, codebuild, dynamodb::DynamoLedger, lambda_env, sns::SnsPublisher, sqs::SqsQueues};
use dockhand_spawner::github::LazyGitHub;
use dockhand_spawner::{Settings, Spawner};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deployment = lambda_env::deployment()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let results_topic = lambda_env::required("RESULTS_TOPIC_ARN")?;
    let mut settings = Settings::new(lambda_env::required("BUILDS_QUEUE_ARN")?);
    settings.builds = lambda_env::retry_policy("BUILDS", settings.builds)?;
    settings.requests = lambda_env::retry_policy("REQUESTS", settings.requests)?;
    let spawner = Spawner {
        host: LazyGitHub::new(
            dockhand_github::api_url_from_env(),
            deployment.config.github_token_parameter.clone(),
            aws_sdk_ssm::Client::new(&aws),
        )
        .with_policy(dockhand_github::Policy {
            // How long one push may spend listing and comparing trees; the function's
            // timeout must leave room for it and for queueing the builds.
            time_budget: Duration::from_secs(lambda_env::number_or("GITHUB_TIME_BUDGET_SECONDS", 20)? as u64),
            ..dockhand_github::Policy::default()
        }),
        deployment,
        settings,
        starter: codebuild::CodeBuildStarter::new(codebuild::client(&aws)),
        alerts: SnsPublisher::new(aws_sdk_sns::Client::new(&aws), &results_topic),
        alerts_topic_arn: Some(results_topic),
        ledger: DynamoLedger::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &lambda_env::required("LEDGER_TABLE")?,
        ),
        queues: SqsQueues::new(
            aws_sdk_sqs::Client::new(&aws),
            &lambda_env::required("BUILDS_QUEUE_URL")?,
            &lambda_env::required("DEAD_LETTER_QUEUE_URL")?,
        )
        // Set when the stack has a refresh schedule: its orders go back to the requests queue.
        .with_requests_queue(std::env::var("REQUESTS_QUEUE_URL").ok().filter(|u| !u.is_empty())),
        clock: SystemClock,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let spawner = &spawner;
        async move {
            let deadline = remaining(event.context.deadline).map(|left| Instant::now() + left);
            let (response, report) = spawner.handle(&event.payload, deadline).await;
            tracing::info!(
                planned = report.planned.len(),
                started = report.started.len(),
                already_started = report.already_started.len(),
                waiting = report.waiting.len(),
                dead_letters = report.dead_letters.len(),
                "done"
            );
            Ok::<SqsBatchResponse, Error>(response)
        }
    }))
    .await
}

/// The time left before the invocation's deadline (milliseconds since the epoch).
fn remaining(deadline_ms: u64) -> Option<Duration> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Duration::from_millis(deadline_ms).checked_sub(now)
}
