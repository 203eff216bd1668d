use dockhand_aws::{lambda_env, sns::SnsPublisher, ssm::SsmSecrets};
use dockhand_listener::{DEFAULT_MAX_BODY_BYTES, Listener, SecretCache, Settings, handle_http};
use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = Settings {
        deployment: lambda_env::deployment()?,
        max_body_bytes: lambda_env::number_or("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
    };
    // Clients only: no network call until the first delivery.
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let listener = Listener {
        settings,
        publisher: SnsPublisher::new(
            aws_sdk_sns::Client::new(&aws),
            lambda_env::required("BUILD_REQUESTS_TOPIC_ARN")?,
        ),
        secrets: SecretCache::new(SsmSecrets::new(
            aws_sdk_ssm::Client::new(&aws),
            lambda_env::required("WEBHOOK_SECRET_PARAMETER")?,
        )),
    };
    lambda_http::run(service_fn(|request| handle_http(&listener, request))).await
}
