//! The spawner over real HTTP against moto, with every adapter it runs with on AWS: a
//! BuildRequest published by the listener's adapter reaches the requests queue through
//! SNS, is planned into the builds queue (SQS SendMessageBatch), each build is claimed in
//! the DynamoDB ledger, started on moto's CodeBuild project and recorded. A redelivery
//! starts nothing.

mod support;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_codebuild::types::{
    ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment, ProjectSource, SourceType,
};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use dockhand_aws::SystemClock;
use dockhand_aws::codebuild::CodeBuildStarter;
use dockhand_aws::dynamodb::{DynamoLedger, create_table};
use dockhand_aws::sns::SnsPublisher;
use dockhand_aws::sqs::SqsQueues;
use dockhand_core::ports::Publisher;
use dockhand_core::ports::memory::MemorySink;
use dockhand_spawner::{Settings, Spawner};
use dockhand_testkit::{Moto, create_queue};
use support::{deployment, failed, request_for};

/// Receives what a queue holds, as the event source mapping would hand it to the function.
async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, arn: &str) -> (SqsEvent, Vec<String>) {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let messages = out.messages.unwrap_or_default();
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .attributes()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone().into()))
                .collect();
            serde_json::json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "attributes": attributes, "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": arn, "awsRegion": "us-east-1",
            })
        })
        .collect();
    let receipts = messages
        .iter()
        .map(|m| m.receipt_handle().unwrap().to_owned())
        .collect();
    (
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap(),
        receipts,
    )
}

#[tokio::test]
async fn a_published_request_is_planned_queued_started_and_recorded_once() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let codebuild = aws_sdk_codebuild::Client::new(&aws);
    codebuild
        .create_project()
        .name("dockhand")
        // moto insists on a source location even where AWS accepts NO_SOURCE; the spawner
        // overrides the source type on every build anyway.
        .source(
            ProjectSource::builder()
                .r#type(SourceType::Github)
                .location("https://github.com/acme/images.git")
                .build()
                .unwrap(),
        )
        .artifacts(
            ProjectArtifacts::builder()
                .r#type(ArtifactsType::NoArtifacts)
                .build()
                .unwrap(),
        )
        .environment(
            ProjectEnvironment::builder()
                .r#type(EnvironmentType::LinuxContainer)
                .image("aws/codebuild/standard:7.0")
                .compute_type(ComputeType::BuildGeneral1Small)
                .privileged_mode(true)
                .build()
                .unwrap(),
        )
        .service_role("arn:aws:iam::123456789012:role/dockhand-build")
        .send()
        .await
        .unwrap();
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    create_table(&dynamodb, "dockhand-builds").await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (requests_url, requests_arn) = create_queue(&sqs, "dockhand-build-requests").await;
    let (builds_url, builds_arn) = create_queue(&sqs, "dockhand-builds").await;
    let (dead_url, _) = create_queue(&sqs, "dockhand-dead-letters").await;
    let sns = aws_sdk_sns::Client::new(&aws);
    let topic = sns
        .create_topic()
        .name("build-requests")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&requests_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();

    let spawner = Spawner {
        deployment: deployment(),
        settings: Settings::new(&builds_arn),
        starter: CodeBuildStarter::new(codebuild.clone()),
        host: dockhand_testkit::monorepo_host(),
        alerts: MemorySink::default(),
        alerts_topic_arn: None,
        ledger: DynamoLedger::new(dynamodb.clone(), "dockhand-builds"),
        queues: SqsQueues::new(sqs.clone(), &builds_url, &dead_url),
        clock: SystemClock,
    };

    for (round, delivery) in ["0f1e2d3c-0000-4000-8000-00000000abcd", "a-redelivery"]
        .iter()
        .enumerate()
    {
        // The listener's publish, through SNS, into the requests queue.
        let (_, message) = request_for(delivery).encode_for_sns().unwrap();
        SnsPublisher::new(sns.clone(), &topic).publish(&message).await.unwrap();
        let (event, _) = receive(&sqs, &requests_url, &requests_arn).await;
        assert_eq!(event.records.len(), 1);
        assert_eq!(event.records[0].body.as_deref(), Some(message.as_str()));
        let (response, report) = spawner.handle(&event, None).await;
        assert!(failed(&response).is_empty(), "{report:?}");
        assert_eq!(report.planned, [(delivery.to_string(), 3)]);

        // The builds queue holds one message per build.
        let (event, _) = receive(&sqs, &builds_url, &builds_arn).await;
        assert_eq!(event.records.len(), 3);
        let (response, report) = spawner.handle(&event, None).await;
        assert!(failed(&response).is_empty(), "{report:?}");
        let contexts: Vec<&str> = if round == 0 {
            report.started.iter().map(|(c, _)| c.as_str()).collect()
        } else {
            assert!(report.started.is_empty(), "a redelivery started builds: {report:?}");
            report.already_started.iter().map(|(c, _)| c.as_str()).collect()
        };
        assert_eq!(contexts, ["api", "tools/lint", "web"]);
    }

    let listed = codebuild
        .list_builds_for_project()
        .project_name("dockhand")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.ids().len(), 3, "started once each");
    // The records in DynamoDB: one per key, each with its build id and a TTL a month out.
    let items = dynamodb.scan().table_name("dockhand-builds").send().await.unwrap();
    assert_eq!(items.count(), 3);
    let mut recorded: Vec<String> = items
        .items()
        .iter()
        .map(|i| i["build_id"].as_s().unwrap().clone())
        .collect();
    recorded.sort();
    let mut ids = listed.ids().to_vec();
    ids.sort();
    assert_eq!(recorded, ids);
    for item in items.items() {
        let expires: u64 = item["expires_at"].as_n().unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((now + 29 * 86400..now + 31 * 86400).contains(&expires), "{expires}");
    }
}

#[tokio::test]
async fn a_missing_project_is_dead_lettered_with_a_notification() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (builds_url, builds_arn) = create_queue(&sqs, "dockhand-builds").await;
    let (dead_url, _) = create_queue(&sqs, "dockhand-dead-letters").await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    create_table(&dynamodb, "dockhand-builds").await.unwrap();
    let spawner = Spawner {
        deployment: deployment(),
        settings: Settings::new(&builds_arn),
        starter: CodeBuildStarter::new(aws_sdk_codebuild::Client::new(&aws)),
        host: dockhand_testkit::monorepo_host(),
        alerts: MemorySink::default(),
        alerts_topic_arn: None,
        ledger: DynamoLedger::new(dynamodb, "dockhand-builds"),
        queues: SqsQueues::new(sqs.clone(), &builds_url, &dead_url),
        clock: SystemClock,
    };
    let body = request_for("d-2").encode_for_sns().unwrap().1;
    let planning = support::sqs_event(support::REQUESTS_ARN, &[support::Message::new("r", &body)]);
    let (response, _) = spawner.handle(&planning, None).await;
    assert!(failed(&response).is_empty());
    let (event, _) = receive(&sqs, &builds_url, &builds_arn).await;
    assert_eq!(event.records.len(), 3);
    let (response, report) = spawner.handle(&event, None).await;
    assert!(failed(&response).is_empty(), "{report:?}");
    assert_eq!(report.dead_letters.len(), 3, "{report:?}");
    assert!(
        report
            .dead_letters
            .iter()
            .all(|(_, e)| e.contains("CodeBuild StartBuild on dockhand: ResourceNotFoundException")),
        "{report:?}"
    );
    let dead = sqs
        .receive_message()
        .queue_url(&dead_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 3);
    assert!(
        dead[0].message_attributes().unwrap()["dockhand-reason"]
            .string_value()
            .unwrap()
            .contains("refused")
    );
    assert_eq!(spawner.alerts.sent().len(), 3);
}

/// The image records over real HTTP: the notifier's PutItem, the spawner's BatchGetItem of
/// more keys than one call takes, and the build keys beside them in the same table.
#[tokio::test]
async fn image_records_are_written_and_read_back_in_batches() {
    use dockhand_core::ports::{ImageRecords, Ledger};
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    create_table(&dynamodb, "dockhand-builds").await.unwrap();
    let ledger = DynamoLedger::new(dynamodb, "dockhand-builds");
    let keys: Vec<String> = (0..150)
        .map(|i| dockhand_core::image_key::record_key("docker.io/acme/web", &format!("{i:064x}")))
        .collect();
    for key in keys.iter().step_by(3) {
        ledger.record(key, 4_000_000_000).await.unwrap();
    }
    let found = ledger.recorded(&keys).await.unwrap();
    assert_eq!(found.len(), 50);
    assert!(keys.iter().step_by(3).all(|k| found.contains(k)));
    // A build key of the same table reads as a record too; an image record is no claim.
    let record = dockhand_core::ledger::Record {
        owner: "m1".into(),
        build_id: Some("dockhand:1".into()),
        attempt_at: None,
        updated_at: 1,
        expires_at: 2,
    };
    ledger.write(&"a".repeat(64), &record, None).await.unwrap();
    let both = ledger.recorded(&["a".repeat(64), "b".repeat(64)]).await.unwrap();
    assert_eq!(both.into_iter().collect::<Vec<_>>(), ["a".repeat(64)]);
}

/// Waiting builds and cached readings over real HTTP: a hold is created once, changed only
/// at the version read, and readings come back in batches of more keys than one call takes.
#[tokio::test]
async fn holds_are_written_with_conditions_and_readings_read_back_in_batches() {
    use dockhand_core::ledger::Written;
    use dockhand_core::ports::{Holds, ReadCache};
    use dockhand_core::waves::{Held, HeldState};
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    create_table(&dynamodb, "dockhand-builds").await.unwrap();
    let ledger = DynamoLedger::new(dynamodb, "dockhand-builds");
    let key = "d".repeat(64);
    let held = Held {
        build: serde_json::from_value(serde_json::json!({
            "key": "d".repeat(64), "repository": "acme/images", "ref": "refs/heads/main",
            "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "delivery": "d1",
            "context": "mid", "image": "docker.io/acme/mid", "tags": ["latest"],
            "request": {
                "projectName": "dockhand", "sourceTypeOverride": "NO_SOURCE", "buildspecOverride": "version: 0.2",
                "environmentVariablesOverride": [], "idempotencyToken": "d".repeat(64),
                "computeTypeOverride": "BUILD_GENERAL1_SMALL", "timeoutInMinutesOverride": 30,
                "privilegedModeOverride": true
            }
        }))
        .unwrap(),
        bases: Vec::new(),
        state: HeldState::Waiting,
        expires_at: 4_000_000_000,
    };
    assert_eq!(ledger.hold(&key, &held, None).await.unwrap(), Written::Done(1));
    // A second plan of the same push finds it there.
    assert_eq!(ledger.hold(&key, &held, None).await.unwrap(), Written::Conflict);
    let (read, version) = ledger.held(&key).await.unwrap().unwrap();
    assert_eq!((read, version), (held.clone(), 1));
    let mut released = held.clone();
    released.state = HeldState::Released;
    assert_eq!(ledger.hold(&key, &released, Some(1)).await.unwrap(), Written::Done(2));
    // A writer that read version 1 lost.
    assert_eq!(ledger.hold(&key, &held, Some(1)).await.unwrap(), Written::Conflict);
    assert_eq!(ledger.held(&key).await.unwrap().unwrap().0.state, HeldState::Released);
    assert!(ledger.held(&"e".repeat(64)).await.unwrap().is_none());

    let keys: Vec<String> = (0..130).map(|i| format!("read#1#{i:040x}#args")).collect();
    for (i, key) in keys.iter().enumerate().step_by(2) {
        ledger.store(key, &format!("reading {i}"), 4_000_000_000).await.unwrap();
    }
    let cached = ledger.cached(&keys).await.unwrap();
    assert_eq!(cached.len(), 65);
    assert_eq!(cached[&keys[4]], "reading 4");
}
