//! The webhook and delivery endpoints of the GitHub client against the stand-in of
//! GitHub's documented answers (`dockhand_fake_github::hooks`): paging by the cursor the
//! `link` header gives, stopping at `since` in the middle of a page, which events failed and
//! which recovered, who may list and redeliver, redeliveries accepted and refused, and the
//! pause and rate limits between redeliveries.

use dockhand_core::tree::HostError;
use dockhand_fake_github::hooks::{FakeDelivery, FakeHook, FakeHooks, HooksSetup, TokenAccess};
use dockhand_github::hooks::{Deliveries, Redelivery, failures};
use dockhand_github::{GitHub, Policy};
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const REPO: &str = "acme/images";
const TOKEN: &str = "github_pat_test-token";
const HOOK: u64 = 7;
const WEBHOOK_URL: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhook";
const MINUTE: Duration = Duration::from_secs(60);

fn policy() -> Policy {
    Policy {
        backoff: Duration::from_millis(10),
        mutation_pause: Duration::ZERO,
        ..Policy::default()
    }
}

fn client(fake: &FakeHooks, token: Option<&str>) -> GitHub {
    GitHub::new(&fake.url(), token.map(str::to_owned))
        .unwrap()
        .with_policy(policy())
}

fn unix_ago(ago: Duration) -> i64 {
    (SystemTime::now() - ago).duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `n` successful pushes, one every ten minutes from ten minutes ago, ids 1000 + i.
fn pushes(n: u64) -> Vec<FakeDelivery> {
    (0..n)
        .map(|i| FakeDelivery::push(1000 + i, &format!("guid-{i}"), MINUTE * 10 * (i as u32 + 1), 202))
        .collect()
}

fn stand_in(deliveries: Vec<FakeDelivery>) -> FakeHooks {
    FakeHooks::start(setup(deliveries)).unwrap()
}

fn setup(deliveries: Vec<FakeDelivery>) -> HooksSetup {
    HooksSetup::new(
        REPO,
        TOKEN,
        vec![
            FakeHook {
                id: 3,
                url: "https://ci.example.com/hook".into(),
                events: vec!["push".into()],
                deliveries: Vec::new(),
            },
            FakeHook {
                id: HOOK,
                url: WEBHOOK_URL.into(),
                events: vec!["push".into()],
                deliveries,
            },
        ],
    )
}

fn ids(listing: &Deliveries) -> Vec<u64> {
    listing.deliveries.iter().map(|d| d.id).collect()
}

#[tokio::test]
async fn pages_by_the_cursor_the_link_header_gives() {
    let fake = stand_in(pushes(250));
    let github = client(&fake, Some(TOKEN));
    let listing = github
        .hook_deliveries(REPO, HOOK, unix_ago(MINUTE * 60 * 24 * 3))
        .await
        .unwrap();
    assert_eq!((listing.pages, listing.capped), (3, false));
    // Every delivery once, newest first.
    assert_eq!(ids(&listing), (1000..1250).collect::<Vec<u64>>());
    let requests = fake.requests();
    assert_eq!(
        requests,
        [
            format!("GET /repos/{REPO}/hooks/{HOOK}/deliveries?per_page=100"),
            format!("GET /repositories/1296269/hooks/{HOOK}/deliveries?per_page=100&cursor=v1_1100"),
            format!("GET /repositories/1296269/hooks/{HOOK}/deliveries?per_page=100&cursor=v1_1200"),
        ]
    );
}

#[tokio::test]
async fn stops_at_since_in_the_middle_of_a_page() {
    let fake = stand_in(pushes(250));
    let github = client(&fake, Some(TOKEN));
    // Deliveries every ten minutes: the last 20 hours are the newest 119 (the 120th is just
    // past the cutoff), which ends in the second page.
    let listing = github
        .hook_deliveries(REPO, HOOK, unix_ago(MINUTE * 60 * 20 - MINUTE * 5))
        .await
        .unwrap();
    assert_eq!(ids(&listing), (1000..1119).collect::<Vec<u64>>());
    assert_eq!(listing.pages, 2);
    assert_eq!(fake.requests().len(), 2, "the third page is not read");
    // A cutoff in the first page reads one page.
    let recent = github.hook_deliveries(REPO, HOOK, unix_ago(MINUTE * 35)).await.unwrap();
    assert_eq!((ids(&recent), recent.pages), (vec![1000, 1001, 1002], 1));
}

#[tokio::test]
async fn an_empty_hook_has_one_empty_page() {
    let fake = stand_in(Vec::new());
    let listing = client(&fake, Some(TOKEN)).hook_deliveries(REPO, HOOK, 0).await.unwrap();
    assert_eq!((listing.deliveries.len(), listing.pages), (0, 1));
}

#[tokio::test]
async fn a_failed_push_redelivered_successfully_has_recovered() {
    let mut deliveries = pushes(5);
    deliveries.extend([
        // Failed, then redelivered successfully.
        FakeDelivery::push(2001, "recovered", MINUTE * 100, 502),
        FakeDelivery::push(2002, "recovered", MINUTE * 90, 202).redelivery(),
        // Failed twice.
        FakeDelivery::push(2003, "failing", MINUTE * 80, 0),
        FakeDelivery::push(2004, "failing", MINUTE * 70, 401).redelivery(),
        // The listener's 202 for a push it ignores (another branch): a success.
        FakeDelivery::push(2005, "ignored", MINUTE * 60, 202),
    ]);
    let fake = stand_in(deliveries);
    let listing = client(&fake, Some(TOKEN)).hook_deliveries(REPO, HOOK, 0).await.unwrap();
    let found = failures(&listing.deliveries);
    let summary: Vec<(&str, Vec<u64>, Option<u64>)> = found
        .iter()
        .map(|f| {
            (
                f.guid,
                f.failed.iter().map(|d| d.id).collect(),
                f.recovered_by.map(|d| d.id),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("failing", vec![2004, 2003], None),
            ("recovered", vec![2001], Some(2002))
        ]
    );
    let latest = found[0].latest();
    assert_eq!(
        (
            latest.status.as_str(),
            latest.status_code,
            latest.redelivery,
            latest.event_action()
        ),
        ("Invalid HTTP Response: 401", 401, true, "push".to_owned())
    );
    assert_eq!(latest.repository_id, Some(1_296_269));
}

#[tokio::test]
async fn finds_the_hook_and_reads_one_delivery() {
    let mut many = setup(pushes(2));
    // More hooks than one page holds: the second page is read too.
    for id in 100..220 {
        many.hooks.insert(
            0,
            FakeHook {
                id,
                url: format!("https://other.example.com/{id}"),
                events: vec!["issues".into()],
                deliveries: Vec::new(),
            },
        );
    }
    let fake = FakeHooks::start(many).unwrap();
    let github = client(&fake, Some(TOKEN));
    let hooks = github.repository_hooks(REPO).await.unwrap();
    assert_eq!(hooks.len(), 122);
    let ours = hooks.iter().find(|h| h.id == HOOK).unwrap();
    assert_eq!(ours.config.url.as_deref(), Some(WEBHOOK_URL));
    assert_eq!(ours.events, ["push"]);
    assert_eq!(
        fake.requests(),
        [
            format!("GET /repos/{REPO}/hooks?per_page=100"),
            format!("GET /repos/{REPO}/hooks?per_page=100&page=2"),
        ]
    );
    let detail = github.hook_delivery(REPO, HOOK, 1001).await.unwrap();
    assert_eq!(detail.delivery.guid, "guid-1");
    assert_eq!(detail.url.as_deref(), Some(WEBHOOK_URL));
    assert_eq!(detail.request.headers.unwrap()["X-GitHub-Delivery"], "guid-1");
    let gone = github.hook_delivery(REPO, HOOK, 9).await.unwrap_err();
    assert!(matches!(gone, HostError::NotFound(_)), "{gone}");
}

#[tokio::test]
async fn who_may_list_and_redeliver() {
    let fake = stand_in(pushes(1));
    // No token: GitHub requires one for webhooks.
    let err = client(&fake, None).repository_hooks(REPO).await.unwrap_err();
    assert!(
        matches!(&err, HostError::Denied(m) if m.contains("401 (Requires authentication)") && m.contains("set GITHUB_TOKEN")),
        "{err}"
    );
    let err = client(&fake, Some("ghp_wrong"))
        .repository_hooks(REPO)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HostError::Denied(m) if m.contains("Bad credentials") && m.contains("wrong, expired or revoked")),
        "{err}"
    );
    // The token never appears in any message.
    assert!(!err.to_string().contains("ghp_wrong"));

    for (access, check) in [
        (
            TokenAccess::NoRepository,
            (|e: &HostError| matches!(e, HostError::NotFound(m) if m.contains("cannot see the repository's webhooks") && m.contains("\"Webhooks\" repository permission")))
                as fn(&HostError) -> bool,
        ),
        (
            TokenAccess::NoWebhooks,
            |e| matches!(e, HostError::Denied(m) if m.contains("403 (Resource not accessible by personal access token)") && m.contains("GitHub accepts webhooks=read")),
        ),
    ] {
        let fake = FakeHooks::start(HooksSetup {
            access,
            ..setup(pushes(1))
        })
        .unwrap();
        let github = client(&fake, Some(TOKEN));
        let err = github.repository_hooks(REPO).await.unwrap_err();
        assert!(check(&err), "{access:?}: {err}");
        let err = github.hook_deliveries(REPO, HOOK, 0).await.unwrap_err();
        assert!(check(&err), "{access:?}: {err}");
        // Neither is retried.
        assert_eq!(fake.requests().len(), 2);
    }

    // Read-only: lists, and may not redeliver.
    let fake = FakeHooks::start(HooksSetup {
        access: TokenAccess::Read,
        ..setup(pushes(1))
    })
    .unwrap();
    let github = client(&fake, Some(TOKEN));
    assert_eq!(github.hook_deliveries(REPO, HOOK, 0).await.unwrap().deliveries.len(), 1);
    let err = github.redeliver(REPO, HOOK, 1000).await.unwrap_err();
    assert!(
        matches!(&err, HostError::Denied(m) if m.contains("read and write") && m.contains("GitHub accepts webhooks=write")),
        "{err}"
    );
    assert!(fake.redelivered().is_empty());
}

#[tokio::test]
async fn redeliveries_accepted_and_refused() {
    let mut deliveries = pushes(3);
    deliveries.push(FakeDelivery::push(2001, "failed", MINUTE * 5, 502));
    deliveries.push(FakeDelivery::push(2002, "refused", MINUTE * 6, 502));
    deliveries.push(FakeDelivery::push(2003, "gone", MINUTE * 7, 502));
    let mut with_refusals = setup(deliveries);
    with_refusals.refuse.insert(2002, 422);
    with_refusals.refuse.insert(2003, 404);
    let fake = FakeHooks::start(with_refusals).unwrap();
    let github = client(&fake, Some(TOKEN));

    assert_eq!(github.redeliver(REPO, HOOK, 2001).await.unwrap(), Redelivery::Accepted);
    assert_eq!(
        github.redeliver(REPO, HOOK, 2002).await.unwrap(),
        Redelivery::Refused {
            status: 422,
            message: "Validation Failed".into()
        }
    );
    assert_eq!(
        github.redeliver(REPO, HOOK, 2003).await.unwrap(),
        Redelivery::Refused {
            status: 404,
            message: "Not Found".into()
        }
    );
    assert!(matches!(
        github.redeliver(REPO, HOOK, 4242).await.unwrap(),
        Redelivery::Refused { status: 404, .. }
    ));
    assert_eq!(fake.redelivered(), [2001]);
    assert!(
        fake.requests()
            .contains(&format!("POST /repos/{REPO}/hooks/{HOOK}/deliveries/2001/attempts"))
    );
    // GitHub delivered it again, under the same guid: the event has recovered.
    let listing = github.hook_deliveries(REPO, HOOK, 0).await.unwrap();
    let found = failures(&listing.deliveries);
    let failed = found.iter().find(|f| f.guid == "failed").unwrap();
    assert!(failed.recovered());
    assert!(failed.recovered_by.unwrap().redelivery);
    assert!(!found.iter().find(|f| f.guid == "refused").unwrap().recovered());
}

#[tokio::test]
async fn redeliveries_respect_the_pause_and_the_secondary_rate_limit() {
    let mut deliveries = pushes(3);
    deliveries.push(FakeDelivery::push(2001, "a", MINUTE, 502));
    deliveries.push(FakeDelivery::push(2002, "b", MINUTE * 2, 502));
    deliveries.push(FakeDelivery::push(2003, "c", MINUTE * 3, 502));
    let fake = stand_in(deliveries.clone());
    let github = GitHub::new(&fake.url(), Some(TOKEN.into()))
        .unwrap()
        .with_policy(Policy {
            mutation_pause: Duration::from_millis(300),
            ..policy()
        });
    let started = Instant::now();
    for id in [2001, 2002, 2003] {
        assert_eq!(github.redeliver(REPO, HOOK, id).await.unwrap(), Redelivery::Accepted);
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(600), "{took:?}");

    // A secondary rate limit with retry-after: waited out once when the policy allows...
    let fake = FakeHooks::start(HooksSetup {
        secondary_rate_limited: 1,
        ..setup(deliveries.clone())
    })
    .unwrap();
    let patient = GitHub::new(&fake.url(), Some(TOKEN.into()))
        .unwrap()
        .with_policy(Policy {
            max_rate_limit_wait: Duration::from_secs(3),
            ..policy()
        });
    assert_eq!(patient.redeliver(REPO, HOOK, 2001).await.unwrap(), Redelivery::Accepted);
    assert_eq!(fake.requests().len(), 2);
    // ...and otherwise an error that stops the caller.
    let fake = FakeHooks::start(HooksSetup {
        secondary_rate_limited: 1,
        ..setup(deliveries)
    })
    .unwrap();
    let err = client(&fake, Some(TOKEN))
        .redeliver(REPO, HOOK, 2001)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HostError::RateLimited { detail, .. } if detail.contains("secondary rate limit")),
        "{err}"
    );
    assert!(fake.redelivered().is_empty());
}

/// One raw HTTP/1.1 GET to the stand-in: the status line and the body.
fn raw_get(base: &str, path: &str, token: &str) -> (String, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[test]
fn the_stand_in_is_no_kinder_than_github() {
    let fake = stand_in(pushes(150));
    // A cursor GitHub never gave is a bad request, not the first page.
    let (status, body) = raw_get(
        &fake.url(),
        &format!("/repos/{REPO}/hooks/{HOOK}/deliveries?cursor=v1_999999"),
        TOKEN,
    );
    assert!(status.contains("400"), "{status}");
    assert!(body.contains("Bad Request"), "{body}");
    // per_page is capped at 100 and defaults to 30.
    let (_, body) = raw_get(
        &fake.url(),
        &format!("/repos/{REPO}/hooks/{HOOK}/deliveries?per_page=500"),
        TOKEN,
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        100
    );
    let (_, body) = raw_get(&fake.url(), &format!("/repos/{REPO}/hooks/{HOOK}/deliveries"), TOKEN);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        30
    );
    // An unknown hook, another repository.
    assert!(
        raw_get(&fake.url(), &format!("/repos/{REPO}/hooks/99/deliveries"), TOKEN)
            .0
            .contains("404")
    );
    assert!(raw_get(&fake.url(), "/repos/acme/other/hooks", TOKEN).0.contains("404"));
}

#[tokio::test]
async fn a_next_page_outside_the_api_root_is_not_followed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut served = 0;
        for stream in listener.incoming().take(1) {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = "[]";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLink: <http://evil.example/steal?cursor=x>; rel=\"next\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            served += 1;
        }
        served
    });
    let github = GitHub::new(&url, Some(TOKEN.into())).unwrap().with_policy(policy());
    let err = github.hook_deliveries(REPO, HOOK, 0).await.unwrap_err();
    assert!(
        matches!(&err, HostError::Unavailable(m) if m.contains("outside") && m.contains("not followed")),
        "{err}"
    );
    assert_eq!(server.join().unwrap(), 1);
}
