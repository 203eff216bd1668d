//! The spawner over real HTTP against moto: a BuildRequest published through SNS by the
//! listener's adapter is read back from a subscribed queue, handed to the spawner as the
//! SNS event Lambda would deliver, and its builds start on moto's CodeBuild project.

use aws_lambda_events::event::sns::SnsEvent;
use aws_sdk_codebuild::types::{
    ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment, ProjectSource, SourceType,
};
use dockhand_aws::codebuild::CodeBuildStarter;
use dockhand_aws::sns::SnsPublisher;
use dockhand_core::Deployment;
use dockhand_core::github::{Event, parse_event};
use dockhand_core::ports::Publisher;
use dockhand_core::request::{Intake, intake};
use dockhand_spawner::Spawner;
use dockhand_testkit::{Moto, TopicProbe, fixture};

#[tokio::test]
async fn a_published_request_starts_its_builds() {
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

    let deployment = Deployment::from_json(&fixture("config.json")).unwrap();
    let Event::Push(push) = parse_event("push", None, fixture("push-monorepo.json").as_bytes()).unwrap() else {
        unreachable!()
    };
    let Intake::Build(request) = intake(&push, "0f1e2d3c-0000-4000-8000-00000000abcd", &deployment.rules).unwrap()
    else {
        panic!()
    };
    let (_, message) = request.encode_for_sns().unwrap();
    let probe = TopicProbe::create(&aws, "build-requests").await;
    SnsPublisher::new(aws_sdk_sns::Client::new(&aws), &probe.topic_arn)
        .publish(&message)
        .await
        .unwrap();
    let delivered = probe.drain().await;
    assert_eq!(delivered, [message]);

    let mut event: serde_json::Value = serde_json::from_str(&fixture("sns-build-request.json")).unwrap();
    event["Records"][0]["Sns"]["TopicArn"] = probe.topic_arn.clone().into();
    event["Records"][0]["Sns"]["Message"] = delivered[0].clone().into();
    let event: SnsEvent = serde_json::from_value(event).unwrap();

    let spawner = Spawner {
        deployment,
        starter: CodeBuildStarter::new(codebuild.clone()),
        host: dockhand_testkit::monorepo_host(),
        alerts: dockhand_testkit::NoAlerts,
        alerts_topic_arn: None,
    };
    let report = spawner.handle(&event).await.unwrap();
    let contexts: Vec<&str> = report.started.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(contexts, ["api", "tools/lint", "web"]);
    assert!(
        report.started.iter().all(|(_, id)| id.starts_with("dockhand:")),
        "{:?}",
        report.started
    );

    let listed = codebuild
        .list_builds_for_project()
        .project_name("dockhand")
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = listed.ids().to_vec();
    ids.sort();
    let mut started: Vec<String> = report.started.iter().map(|(_, id)| id.clone()).collect();
    started.sort();
    assert_eq!(ids, started);
}

#[tokio::test]
async fn a_missing_project_fails_the_invocation() {
    let moto = Moto::start();
    let aws = moto.sdk_config().await;
    let deployment = Deployment::from_json(&fixture("config.json")).unwrap();
    let Event::Push(push) = parse_event("push", None, fixture("push-monorepo.json").as_bytes()).unwrap() else {
        unreachable!()
    };
    let Intake::Build(request) = intake(&push, "d-2", &deployment.rules).unwrap() else {
        panic!()
    };
    let mut report = Default::default();
    let spawner = Spawner {
        deployment,
        starter: CodeBuildStarter::new(aws_sdk_codebuild::Client::new(&aws)),
        host: dockhand_testkit::monorepo_host(),
        alerts: dockhand_testkit::NoAlerts,
        alerts_topic_arn: None,
    };
    spawner.spawn(&request, &mut report).await;
    assert_eq!(report.failed.len(), 3, "{report:?}");
    assert!(
        report
            .failed
            .iter()
            .all(|(_, e)| e.contains("CodeBuild StartBuild on dockhand")),
        "{report:?}"
    );
}
