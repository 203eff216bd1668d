//! Builds nobody pushed: an order (`dockhand build`) is resolved through GitHub and planned
//! as a push, each build keyed on the order; a refused order is recorded and told; a
//! scheduled refresh becomes one order per repository.

mod support;

use dockhand_core::order::{
    CommitInfo, ORDER_RECORD_PREFIX, ORDER_VARIABLE, Order, OrderKind, OrderMessage, OrderRecord, RepositoryInfo,
};
use dockhand_core::ports::memory::MemoryCodeBuild;
use dockhand_core::queue::QueuedBuild;
use dockhand_core::source::ListedHost;
use dockhand_core::tree::HostError;
use support::*;

const HEAD: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const OLD: &str = "0d1d2d3d4d5d6d7d8d9dadbdcdddedfd0d1d2d3d";

/// `base` ← `mid`; `lone` alone.
const REPO: &[(&str, &str)] = &[
    ("base", "FROM debian:12\n"),
    ("mid", "FROM acme/base\n"),
    ("lone", "FROM alpine\n"),
];

fn commit(sha: &str) -> CommitInfo {
    CommitInfo {
        sha: sha.into(),
        message: "bump".into(),
        author: Some("Octo Cat".into()),
        timestamp: None,
    }
}

fn host() -> ListedHost {
    let mut host = listed_host(REPO);
    host.repository = Some(RepositoryInfo {
        full_name: "acme/images".into(),
        name: "images".into(),
        private: false,
        default_branch: "main".into(),
    });
    host.commits.insert("refs/heads/main".into(), commit(HEAD));
    host.commits.insert("refs/tags/v1.2.3".into(), commit(OLD));
    host.commits.insert(OLD.into(), commit(OLD));
    host
}

fn order(id: &str, directories: &[&str]) -> Order {
    Order {
        id: id.into(),
        kind: OrderKind::Manual,
        repository: "acme/images".into(),
        git_ref: None,
        commit: None,
        directories: directories.iter().map(|d| d.to_string()).collect(),
        by: Some("alice".into()),
        at: NOW,
    }
}

type Orders = Memory<MemoryCodeBuild, ListedHost>;

fn spawner() -> Orders {
    support::spawner(MemoryCodeBuild::default(), host())
}

/// Plans `order` as the requests queue delivers it; answers the report and the builds sent.
async fn send(spawner: &Orders, order: &Order, message_id: &str) -> (dockhand_spawner::Report, Vec<QueuedBuild>) {
    let before = spawner.queues.log().sent.len();
    let body = serde_json::to_string(&OrderMessage { order: order.clone() }).unwrap();
    let (response, report) = spawner
        .handle(&sqs_event(REQUESTS_ARN, &[Message::new(message_id, &body)]), None)
        .await;
    assert!(failed(&response).is_empty(), "{report:#?}");
    let sent = spawner.queues.log().sent[before..]
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    (report, sent)
}

fn record(spawner: &Orders, id: &str) -> OrderRecord {
    let cache = spawner.ledger.cache();
    serde_json::from_str(&cache[&format!("{ORDER_RECORD_PREFIX}{id}")]).unwrap()
}

fn contexts_of(builds: &[QueuedBuild]) -> Vec<&str> {
    builds.iter().map(|b| b.context.as_str()).collect()
}

#[tokio::test]
async fn a_named_directory_builds_exactly_that_image_at_the_default_branchs_head() {
    let spawner = spawner();
    let id = "m-00000000000000000000000000000001";
    let (_, builds) = send(&spawner, &order(id, &["base"]), "order-1").await;
    // `mid` is built from `base`, and is not built: the order named `base` alone.
    assert_eq!(contexts_of(&builds), ["base"]);
    let build = &builds[0];
    assert_eq!(build.commit, HEAD);
    assert_eq!(build.git_ref, "refs/heads/main");
    assert_eq!(build.request.env(ORDER_VARIABLE), Some(id));
    assert_eq!(build.request.env("DOCKHAND_TAGS"), Some("latest,6113728"));
    let recorded = record(&spawner, id);
    assert_eq!(recorded.commit.as_deref(), Some(HEAD));
    assert_eq!(
        recorded
            .builds
            .iter()
            .map(|b| (b.context.as_str(), b.key.as_str()))
            .collect::<Vec<_>>(),
        [("base", build.key.as_str())]
    );
    assert!(recorded.skipped.is_empty() && recorded.refused.is_none());
}

#[tokio::test]
async fn all_directories_build_every_image_even_one_pushed_before() {
    let spawner = spawner();
    let (_, first) = send(&spawner, &order("m-00000000000000000000000000000002", &[]), "order-2").await;
    let mut all: Vec<&str> = contexts_of(&first);
    all.sort();
    // `mid` waits for `base` (held), so it is not queued yet; the record lists all three.
    assert_eq!(all, ["base", "lone"]);
    let recorded = record(&spawner, "m-00000000000000000000000000000002");
    assert_eq!(
        recorded.builds.iter().map(|b| b.context.as_str()).collect::<Vec<_>>(),
        ["base", "lone", "mid"]
    );
    // Their image keys now count as pushed: a push would re-tag them. An order builds.
    for build in &first {
        use dockhand_core::ports::ImageRecords;
        let image_key = build.request.env(dockhand_core::image_key::IMAGE_KEY_VARIABLE).unwrap();
        let record = dockhand_core::image_key::record_key(&build.image, image_key);
        spawner.ledger.record(&record, NOW + 3600).await.unwrap();
    }
    let (report, again) = send(&spawner, &order("m-00000000000000000000000000000003", &[]), "order-3").await;
    assert!(report.retagged.is_empty(), "{report:#?}");
    assert_eq!(contexts_of(&again).len(), 2);
    // A second order's builds are new builds; the same order's are the same.
    assert!(again.iter().all(|b| first.iter().all(|f| f.key != b.key)));
    let (_, redelivered) = send(&spawner, &order("m-00000000000000000000000000000003", &[]), "order-3b").await;
    assert_eq!(
        redelivered.iter().map(|b| &b.key).collect::<Vec<_>>(),
        again.iter().map(|b| &b.key).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_tag_and_a_commit_are_built_as_if_pushed_there() {
    let spawner = spawner();
    let mut o = order("m-00000000000000000000000000000004", &["lone"]);
    o.git_ref = Some("v1.2.3".into());
    let (_, builds) = send(&spawner, &o, "order-4").await;
    assert_eq!(
        (builds[0].git_ref.as_str(), builds[0].commit.as_str()),
        ("refs/tags/v1.2.3", OLD)
    );
    assert_eq!(builds[0].request.env("DOCKHAND_TAGS"), Some("1.2.3,1.2,1"));
    let mut o = order("m-00000000000000000000000000000005", &["lone"]);
    o.commit = Some(OLD.into());
    let (_, builds) = send(&spawner, &o, "order-5").await;
    assert_eq!(
        (builds[0].git_ref.as_str(), builds[0].commit.as_str()),
        ("refs/heads/main", OLD)
    );
    // A commit that is not on the ref (another branch's, a fork's pull request's) is
    // refused: it would be built and tagged as the ref's.
    let mut host = host();
    host.off_ref.push(OLD.into());
    let spawner = support::spawner(MemoryCodeBuild::default(), host);
    let mut o = order("m-00000000000000000000000000000006", &["lone"]);
    o.commit = Some(OLD.into());
    let (_, builds) = send(&spawner, &o, "order-6").await;
    assert!(builds.is_empty());
    let refused = record(&spawner, &o.id).refused.unwrap();
    assert!(refused.contains("is not on refs/heads/main"), "{refused}");
}

#[tokio::test]
async fn an_order_that_builds_nothing_is_recorded_and_told() {
    let spawner = spawner();
    type Change = fn(&mut Order);
    let cases: [(&str, Change, &str); 4] = [
        (
            "m-0000000000000000000000000000000a",
            |o| o.repository = "evil/images".into(),
            "not one of the repositories",
        ),
        (
            "m-0000000000000000000000000000000b",
            |o| o.git_ref = Some("nope".into()),
            "no branch or tag nope",
        ),
        (
            "m-0000000000000000000000000000000c",
            |o| o.git_ref = Some("refs/heads/feature".into()),
            "no branch or tag",
        ),
        (
            "m-0000000000000000000000000000000d",
            |o| o.directories = vec!["docs".into()],
            "no Dockerfile",
        ),
    ];
    for (id, change, why) in cases {
        let mut o = order(id, &[]);
        change(&mut o);
        let before = spawner.alerts.sent().len();
        let (_, builds) = send(&spawner, &o, id).await;
        assert!(builds.is_empty(), "{id}");
        let recorded = record(&spawner, id);
        let said = recorded
            .refused
            .clone()
            .or_else(|| recorded.skipped.first().map(|s| s.reason.clone()))
            .unwrap_or_default();
        assert!(said.contains(why), "{id}: {recorded:?}");
        assert_eq!(spawner.alerts.sent().len(), before + 1, "{id}: told once");
    }
    assert!(spawner.queues.log().dead.is_empty());
}

#[tokio::test]
async fn github_down_or_rate_limited_makes_an_order_wait_and_nothing_is_recorded() {
    let body = serde_json::to_string(&OrderMessage {
        order: order("m-0000000000000000000000000000000e", &[]),
    })
    .unwrap();
    for (error, delay) in [
        (HostError::Unavailable("GET /repos answered 502".into()), None),
        (
            HostError::RateLimited {
                reset: NOW + 600,
                detail: "spent".into(),
            },
            Some(605),
        ),
    ] {
        let mut host = host();
        host.fail_commit = Some(error);
        let spawner = support::spawner(MemoryCodeBuild::default(), host);
        let (response, report) = spawner
            .handle(&sqs_event(REQUESTS_ARN, &[Message::new("order-e", &body)]), None)
            .await;
        assert_eq!(failed(&response), ["order-e"], "{report:#?}");
        if let Some(seconds) = delay {
            assert_eq!(report.waiting[0].1, seconds, "{report:#?}");
        }
        assert!(spawner.ledger.cache().is_empty() && spawner.alerts.sent().is_empty());
    }
}

#[tokio::test]
async fn a_scheduled_refresh_orders_every_image_of_each_repository() {
    let spawner = spawner();
    let event = r#"{"version":"0","id":"89d1a02d-5ec7-412e-82f5-13505f849b41","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-12-07T04:00:00Z","region":"eu-west-1","resources":["arn:aws:events:eu-west-1:123456789012:rule/dockhand-refresh"],"detail":{}}"#;
    let (response, report) = spawner
        .handle(&sqs_event(REQUESTS_ARN, &[Message::new("refresh-1", event)]), None)
        .await;
    // Without `refresh` in the configuration, the event is refused and told.
    assert!(failed(&response).is_empty(), "{report:#?}");
    assert_eq!(report.dead_letters.len(), 1, "{report:#?}");
    assert!(report.dead_letters[0].1.contains("no `refresh`"), "{report:#?}");
    assert!(spawner.queues.log().requests.is_empty());
}

#[tokio::test]
async fn a_refresh_rebuilds_every_image_at_the_head_with_its_dated_tag() {
    let mut spawner = spawner();
    spawner.deployment.config.refresh = Some(dockhand_core::config::Refresh {
        schedule: "cron(0 4 ? * MON *)".into(),
        repositories: None,
        tag: Some("{date}".into()),
    });
    let event = r#"{"version":"0","id":"89d1a02d-5ec7-412e-82f5-13505f849b41","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-12-07T04:00:00Z","region":"eu-west-1","resources":["arn:aws:events:eu-west-1:123456789012:rule/dockhand-refresh"],"detail":{}}"#;
    for attempt in ["refresh-1", "refresh-1-again"] {
        let (response, report) = spawner
            .handle(&sqs_event(REQUESTS_ARN, &[Message::new(attempt, event)]), None)
            .await;
        assert!(
            failed(&response).is_empty() && report.dead_letters.is_empty(),
            "{report:#?}"
        );
    }
    // One order per literal repository of the configuration, the same for a redelivery.
    let requests = spawner.queues.log().requests;
    let orders: Vec<Order> = requests
        .iter()
        .map(|b| serde_json::from_str::<OrderMessage>(b).unwrap().order)
        .collect();
    assert_eq!(orders.len(), 4);
    assert_eq!(orders[..2], orders[2..]);
    assert_eq!(
        orders[..2].iter().map(|o| o.repository.as_str()).collect::<Vec<_>>(),
        ["acme/images", "Codertocat/Hello-World"]
    );
    // The order of acme/images, as the requests queue brings it back: every image at the
    // default branch's head, with the day's tag, though `base` is unchanged.
    let (_, builds) = send(&spawner, &orders[0], "refresh-order-1").await;
    let mut built: Vec<&str> = contexts_of(&builds);
    built.sort();
    assert_eq!(built, ["base", "lone"], "mid waits for base");
    for build in &builds {
        assert_eq!(build.commit, HEAD);
        assert_eq!(build.request.env("DOCKHAND_TAGS"), Some("latest,6113728,20261207"));
    }
    assert_eq!(record(&spawner, &orders[0].id).builds.len(), 3);
}
