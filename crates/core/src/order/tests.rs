use super::*;
use crate::start_build::build_key;
use crate::testing::deployment;
use proptest::prelude::*;

const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

fn order(directories: &[&str]) -> Order {
    Order {
        id: "m-0123456789abcdef0123456789abcdef".into(),
        kind: OrderKind::Manual,
        repository: "acme/images".into(),
        git_ref: None,
        commit: None,
        directories: directories.iter().map(|d| d.to_string()).collect(),
        by: Some("alice".into()),
        at: 1_764_662_400,
    }
}

fn repository() -> RepositoryInfo {
    RepositoryInfo {
        full_name: "acme/images".into(),
        name: "images".into(),
        private: false,
        default_branch: "main".into(),
    }
}

fn commit() -> CommitInfo {
    CommitInfo {
        sha: SHA.into(),
        message: "web: bump nginx".into(),
        author: Some("Octo Cat".into()),
        timestamp: Some("2026-12-01T10:00:00Z".into()),
    }
}

fn request_of(order: &Order, git_ref: &str) -> Result<BuildRequest, String> {
    to_request(order, &repository(), git_ref, &commit(), &deployment())
}

#[test]
fn the_message_is_the_contracts_shape_and_reads_back() {
    let message = OrderMessage { order: order(&["web"]) };
    let json = serde_json::to_value(&message).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"order": {
            "id": "m-0123456789abcdef0123456789abcdef", "kind": "manual", "repository": "acme/images",
            "directories": ["web"], "by": "alice", "at": 1_764_662_400u64
        }})
    );
    let back: OrderMessage = serde_json::from_value(json).unwrap();
    assert_eq!(back, message);
    let record = OrderRecord {
        commit: Some(SHA.into()),
        git_ref: Some("refs/heads/main".into()),
        builds: vec![OrderedBuild {
            context: "web".into(),
            image: "acme/web".into(),
            key: "k".into(),
        }],
        skipped: vec![],
        refused: None,
    };
    let text = serde_json::to_string(&record).unwrap();
    assert!(text.contains(r#""ref":"refs/heads/main""#), "{text}");
    assert_eq!(serde_json::from_str::<OrderRecord>(&text).unwrap(), record);
}

#[test]
fn ids_are_fresh_and_valid() {
    let a = new_id(OrderKind::Manual);
    let b = new_id(OrderKind::Manual);
    assert_ne!(a, b);
    assert!(a.starts_with("m-") && a.len() == 34, "{a}");
    assert!(new_id(OrderKind::Refresh).starts_with("r-"));
    let mut o = order(&[]);
    o.id = a;
    o.validate().unwrap();
}

#[test]
fn an_order_is_refused_before_github_is_asked_when_a_field_is_wrong() {
    let bad = |f: &dyn Fn(&mut Order)| {
        let mut o = order(&["web"]);
        f(&mut o);
        o.validate().unwrap_err()
    };
    assert!(bad(&|o| o.id = "short".into()).contains("order id"));
    assert!(bad(&|o| o.id = "m-ABCDEF0123456789".into()).contains("order id"));
    assert!(bad(&|o| o.repository = "acme".into()).contains("OWNER/NAME"));
    assert!(bad(&|o| o.repository = "acme/images/x".into()).contains("OWNER/NAME"));
    assert!(bad(&|o| o.repository = "acme/..".into()).contains("OWNER/NAME"));
    assert!(bad(&|o| o.commit = Some("abc".into())).contains("full commit id"));
    assert!(!bad(&|o| o.git_ref = Some("main..x".into())).is_empty());
    assert!(bad(&|o| o.directories = vec!["../etc".into()]).contains("../etc"));
    assert!(bad(&|o| o.directories = vec!["web/".into()]).contains("plain path"));
    assert!(bad(&|o| o.directories = vec!["a//b".into()]).contains("plain path"));
    assert!(bad(&|o| o.directories = vec![".".into(); MAX_DIRECTORIES + 1]).contains("more than"));
    let mut o = order(&[".", "a/b"]);
    o.git_ref = Some("refs/tags/v1.2".into());
    o.commit = Some(SHA.into());
    o.validate().unwrap();
}

#[test]
fn directories_are_normalized_or_refused() {
    for (given, expected) in [
        ("./", "."),
        (".", "."),
        ("./web/", "web"),
        ("tools//lint/.", "tools/lint"),
        ("a/./b", "a/b"),
    ] {
        assert_eq!(normalize_directory(given).as_deref(), Ok(expected), "{given:?}");
    }
    for bad in ["", "/etc", "a/../b", ".."] {
        assert!(normalize_directory(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn named_directories_are_built_exactly_as_an_order_of_the_default_branch() {
    let r = request_of(&order(&["web", "api"]), "refs/heads/main").unwrap();
    assert_eq!(r.changes.source, ChangeSource::Chosen);
    assert_eq!(r.changes.directories, ["web", "api"]);
    assert!(r.rebuild, "an order is always built, never a re-tag");
    assert_eq!(r.tags, ["latest", "6113728"]);
    assert_eq!(r.fixed_tags, ["6113728"]);
    assert_eq!(r.repository.clone_url, "https://github.com/acme/images.git");
    assert_eq!(r.delivery, "m-0123456789abcdef0123456789abcdef");
    assert_eq!(r.pusher.as_deref(), Some("alice"));
    let head = r.head_commit.as_ref().unwrap();
    assert_eq!(
        head.url.as_deref(),
        Some(format!("https://github.com/acme/images/commit/{SHA}").as_str())
    );
    assert_eq!(
        r.trigger,
        Some(Trigger {
            kind: OrderKind::Manual,
            id: "m-0123456789abcdef0123456789abcdef".into(),
            by: Some("alice".into()),
            at: 1_764_662_400,
        })
    );
    let all = request_of(&order(&[]), "refs/heads/main").unwrap();
    assert_eq!(all.changes.source, ChangeSource::NewRef);
}

#[test]
fn each_order_builds_again_and_one_order_builds_once() {
    let d = deployment();
    let first = request_of(&order(&["web"]), "refs/heads/main").unwrap();
    let mut again = order(&["web"]);
    again.id = "m-ffffffffffffffffffffffffffffffff".into();
    let second = request_of(&again, "refs/heads/main").unwrap();
    let mut push = first.clone();
    push.trigger = None;
    let key = |r: &BuildRequest| build_key(r, "web", &d);
    assert_ne!(key(&first), key(&second), "a second `dockhand build` builds again");
    assert_ne!(key(&first), key(&push), "an order is not the push of the same commit");
    assert_eq!(
        key(&first),
        key(&request_of(&order(&["web"]), "refs/heads/main").unwrap()),
        "the same order (a redelivery) has the same keys"
    );
}

#[test]
fn what_the_deployment_does_not_build_is_refused_with_the_reason() {
    let mut other = repository();
    other.full_name = "evil/images".into();
    let e = to_request(&order(&[]), &other, "refs/heads/main", &commit(), &deployment()).unwrap_err();
    assert!(e.contains("evil/images") && e.contains("repositories"), "{e}");
    let e = request_of(&order(&[]), "refs/heads/feature").unwrap_err();
    assert!(
        e.contains("refs/heads/feature") && e.contains("nothing was built"),
        "{e}"
    );
    // A tag builds with the tag rule's tag.
    let r = request_of(&order(&[]), "refs/tags/v1.2").unwrap();
    assert_eq!(r.tags, ["v1.2"]);
}

/// The test deployment with a refresh whose dated tag is `tag`.
fn refreshing(tag: &str) -> crate::config::Deployment {
    let mut d = deployment();
    d.config.refresh = Some(crate::config::Refresh {
        schedule: "rate(7 days)".into(),
        repositories: None,
        tag: Some(tag.into()),
    });
    d
}

#[test]
fn a_refresh_pushes_its_dated_tag_as_a_fixed_tag() {
    let mut o = order(&[]);
    o.kind = OrderKind::Refresh;
    // 2026-12-07 04:00 UTC.
    o.at = 1_796_616_000;
    let d = refreshing("weekly-{date}-{sha7}");
    let r = to_request(&o, &repository(), "refs/heads/main", &commit(), &d).unwrap();
    assert_eq!(r.tags, ["latest", "6113728", "weekly-20261207-6113728"]);
    assert_eq!(r.fixed_tags, ["6113728", "weekly-20261207-6113728"]);
    assert_eq!(r.trigger.as_ref().map(|t| t.at), Some(1_796_616_000));
    // The spawner checks the tags again: a refresh request with another dated tag is refused.
    let mut forged = r.clone();
    forged.tags[2] = "weekly-20991231-6113728".into();
    forged.fixed_tags[1] = "weekly-20991231-6113728".into();
    assert!(validate(&forged, &d).is_err());
    // A manual order never gets the refresh's tag.
    let manual = to_request(&order(&[]), &repository(), "refs/heads/main", &commit(), &d).unwrap();
    assert_eq!(manual.tags, ["latest", "6113728"]);
    let e = crate::config::refresh_tag("bad tag {date}", &crate::time::utc_date(o.at), SHA).unwrap_err();
    assert!(e.contains("bad tag 20261207"), "{e}");
}

#[test]
fn a_scheduled_event_makes_one_order_per_repository_the_same_each_delivery() {
    let body = r#"{"version":"0","id":"89d1a02d-5ec7-412e-82f5-13505f849b41","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-12-07T04:00:00Z","region":"eu-west-1","resources":["arn:aws:events:eu-west-1:123456789012:rule/dockhand-refresh"],"detail":{}}"#;
    let event = ScheduledEvent::read(body).unwrap();
    let repos = vec!["acme/images".to_string(), "acme/tools".to_string()];
    let orders = refresh_orders(&event, &repos).unwrap();
    assert_eq!(orders.len(), 2);
    assert_ne!(orders[0].id, orders[1].id);
    assert_eq!(
        orders,
        refresh_orders(&event, &repos).unwrap(),
        "a redelivered event orders the same"
    );
    for (o, repo) in orders.iter().zip(&repos) {
        o.validate().unwrap();
        assert_eq!((&o.repository, o.kind, o.at), (repo, OrderKind::Refresh, 1_796_616_000));
        assert!(o.git_ref.is_none() && o.commit.is_none() && o.directories.is_empty());
    }
    assert!(
        ScheduledEvent::read(
            r#"{"id":"x","detail-type":"Scheduled Event","source":"evil","time":"2026-12-07T04:00:00Z"}"#
        )
        .is_none()
    );
    assert!(ScheduledEvent::read(r#"{"order":{}}"#).is_none());
    let mut late = event.clone();
    late.time = "yesterday".into();
    assert!(refresh_orders(&late, &repos).unwrap_err().contains("yesterday"));
}

proptest! {
    /// Whatever a person or a queue puts in an order's text fields, it validates only as
    /// plain data, and the request it makes passes the listener's checks.
    #[test]
    fn hostile_fields_are_refused_or_stay_data(
        dir in "[ -~\n]{0,30}",
        by in "[ -~\n\t\u{0}]{0,200}",
        git_ref in "[ -~]{1,30}",
    ) {
        let mut o = order(&[]);
        if let Ok(normal) = normalize_directory(&dir) {
            // Any byte may name a directory (it travels as data), but never a way out of the
            // checkout.
            prop_assert!(normal.split('/').all(|p| p != ".." && !p.is_empty()));
            prop_assert!(!normal.starts_with('/'));
            o.directories = vec![normal];
        }
        o.by = Some(by);
        o.git_ref = Some(git_ref.clone());
        if o.validate().is_ok() {
            let full = if git_ref.starts_with("refs/") { git_ref } else { format!("refs/heads/{git_ref}") };
            if let Ok(r) = request_of(&o, &full) {
                let by = r.pusher.unwrap();
                prop_assert!(by.chars().count() <= MAX_BY_CHARS && !by.chars().any(char::is_control));
            }
        }
    }
}
