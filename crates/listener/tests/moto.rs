//! The listener against a moto server over real HTTP: the webhook secret is an SSM
//! SecureString, the BuildRequest goes out through SNS and is read back from SQS.

use dockhand_aws::{sns::SnsPublisher, ssm::SsmSecrets};
use dockhand_core::BuildRequest;
use dockhand_listener::{DEFAULT_MAX_BODY_BYTES, Delivery, Listener, SecretCache, Settings};
use dockhand_testkit::{Moto, TopicProbe, octokit_examples, put_secure_string, sign};

const PARAMETER: &str = "/dockhand/webhook-secret";

fn settings() -> Settings {
    Settings {
        deployment: dockhand_testkit::deployment(),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
    }
}

#[tokio::test]
async fn a_signed_push_reaches_the_topic() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let probe = TopicProbe::create(&aws, "build-requests").await;
    put_secure_string(&aws, PARAMETER, "rotated-in\nIt's a Secret to Everybody\n").await;
    let listener = Listener {
        settings: settings(),
        publisher: SnsPublisher::new(aws_sdk_sns::Client::new(&aws), &probe.topic_arn),
        secrets: SecretCache::new(SsmSecrets::new(aws_sdk_ssm::Client::new(&aws), PARAMETER)),
    };
    let push = octokit_examples("push")
        .into_iter()
        .find(|p| p["ref"] == "refs/heads/master")
        .unwrap();
    let body = push.to_string();
    let signature = sign("It's a Secret to Everybody", body.as_bytes());
    let delivery = Delivery {
        event: Some("push"),
        delivery: Some("d0c1e2f3-0000-4000-8000-000000000001"),
        signature_256: Some(&signature),
        has_legacy_signature: false,
        content_type: Some("application/json"),
        body: body.as_bytes(),
    };
    let reply = listener.handle(&delivery).await;
    assert_eq!(reply.status, 202, "{}", reply.body);

    let messages = probe.drain().await;
    assert_eq!(messages.len(), 1);
    let request: BuildRequest = serde_json::from_str(&messages[0]).unwrap();
    assert_eq!(request.delivery, "d0c1e2f3-0000-4000-8000-000000000001");
    assert_eq!(request.git_ref, "refs/heads/master");
    assert_eq!(request.commit, push["after"].as_str().unwrap());
    assert_eq!(request.tags, ["latest", &push["after"].as_str().unwrap()[..7]]);

    // A wrong signature publishes nothing.
    let forged = sign("guess", body.as_bytes());
    let reply = listener
        .handle(&Delivery {
            signature_256: Some(&forged),
            ..delivery
        })
        .await;
    assert_eq!(reply.status, 401);
    assert!(probe.drain().await.is_empty());
}

#[tokio::test]
async fn aws_failures_are_502() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let body = br#"{"zen":"Design for failure.","hook_id":1}"#;
    let signature = sign("s3cret", body);
    let delivery = Delivery {
        event: Some("ping"),
        delivery: Some("d-1"),
        signature_256: Some(&signature),
        has_legacy_signature: false,
        content_type: Some("application/json"),
        body,
    };
    // No such parameter: the secret cannot be read.
    let listener = Listener {
        settings: settings(),
        publisher: SnsPublisher::new(
            aws_sdk_sns::Client::new(&aws),
            "arn:aws:sns:us-east-1:123456789012:missing",
        ),
        secrets: SecretCache::new(SsmSecrets::new(aws_sdk_ssm::Client::new(&aws), PARAMETER)),
    };
    let reply = listener.handle(&delivery).await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(!reply.body.to_string().contains("s3cret"));

    // The secret is there, but the topic is not: publishing fails.
    put_secure_string(&aws, PARAMETER, "s3cret").await;
    assert_eq!(listener.handle(&delivery).await.status, 200, "ping needs no topic");
    let push = octokit_examples("push")
        .into_iter()
        .find(|p| p["ref"] == "refs/heads/master")
        .unwrap()
        .to_string();
    let signature = sign("s3cret", push.as_bytes());
    let reply = listener
        .handle(&Delivery {
            event: Some("push"),
            signature_256: Some(&signature),
            body: push.as_bytes(),
            ..delivery
        })
        .await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(
        reply.body["error"].as_str().unwrap().contains("SNS Publish"),
        "{}",
        reply.body
    );
}
