//! The listener driven with GitHub's own payloads (from @octokit/webhooks-examples) and
//! crafted pushes, signed here, through in-memory ports.

use dockhand_core::BuildRequest;
use dockhand_core::ports::memory::{MemorySecrets, MemoryTopic};
use dockhand_listener::{Delivery, Listener, Reply, SecretCache, Settings, handle_http};
use dockhand_testkit::{fixture, octokit_examples, sign};
use serde_json::{Value, json};

const SECRET: &str = "It's a Secret to Everybody";
const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

type Topic = MemoryTopic;
type Parameter = MemorySecrets;

/// The build requests published, decoded.
fn published(topic: &Topic) -> Vec<BuildRequest> {
    topic
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}

fn listener_with(secret: &str, max_body_bytes: usize) -> (Listener<Topic, Parameter>, Topic, Parameter) {
    let topic = Topic::default();
    let parameter = Parameter::new(secret);
    let listener = Listener {
        settings: Settings {
            deployment: dockhand_testkit::deployment(),
            max_body_bytes,
        },
        publisher: topic.clone(),
        secrets: SecretCache::new(parameter.clone()),
    };
    (listener, topic, parameter)
}

fn listener() -> (Listener<Topic, Parameter>, Topic, Parameter) {
    listener_with(SECRET, dockhand_listener::DEFAULT_MAX_BODY_BYTES)
}

async fn deliver(l: &Listener<Topic, Parameter>, event: &str, content_type: &str, body: &[u8]) -> Reply {
    let signature = sign(SECRET, body);
    l.handle(&Delivery {
        event: Some(event),
        delivery: Some(DELIVERY),
        signature_256: Some(&signature),
        has_legacy_signature: false,
        content_type: Some(content_type),
        body,
    })
    .await
}

async fn deliver_json(l: &Listener<Topic, Parameter>, event: &str, payload: &Value) -> Reply {
    deliver(l, event, "application/json", payload.to_string().as_bytes()).await
}

fn crafted(git_ref: &str, commits: Value) -> Value {
    let mut push: Value = serde_json::from_str(&fixture("push-monorepo.json")).unwrap();
    push["ref"] = json!(git_ref);
    push["commits"] = commits;
    push
}

fn commit(added: &[&str], modified: &[&str], removed: &[&str]) -> Value {
    json!({"id": "3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f", "message": "m", "added": added, "modified": modified, "removed": removed})
}

#[tokio::test]
async fn octokit_ping_examples_answer_200() {
    let (l, topic, _) = listener();
    for ping in octokit_examples("ping") {
        let reply = deliver_json(&l, "ping", &ping).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["event"], "ping");
        assert_eq!(reply.body["hook_id"], ping["hook_id"]);
    }
    assert!(published(&topic).is_empty());
}

#[tokio::test]
async fn octokit_push_examples() {
    let (l, topic, _) = listener();
    let examples = octokit_examples("push");
    assert!(examples.len() >= 5);
    for push in &examples {
        let reply = deliver_json(&l, "push", push).await;
        let deleted = push["deleted"].as_bool().unwrap();
        let git_ref = push["ref"].as_str().unwrap();
        assert_eq!(reply.status, 202, "{}", reply.body);
        assert_eq!(reply.body["delivery"], DELIVERY);
        assert_eq!(reply.body["ref"], git_ref);
        if deleted {
            assert_eq!(reply.body["ignored"], format!("{git_ref} was deleted"));
        } else {
            assert!(reply.body.get("ignored").is_none(), "{}", reply.body);
            assert_eq!(reply.body["commit"], push["after"]);
        }
    }
    // The created tag and the first push to the default branch (master) are published.
    let published = published(&topic);
    let built: Vec<(&str, Vec<String>)> = published.iter().map(|r| (r.git_ref.as_str(), r.tags.clone())).collect();
    assert!(
        built.contains(&("refs/tags/simple-tag", vec!["simple-tag".into()])),
        "{built:?}"
    );
    assert!(
        built.contains(&("refs/heads/master", vec!["latest".into(), "6113728".into()])),
        "{built:?}"
    );
    let master = published.iter().find(|r| r.git_ref == "refs/heads/master").unwrap();
    assert_eq!(master.repository.full_name, "Codertocat/Hello-World");
    assert_eq!(
        master.repository.clone_url,
        "https://github.com/Codertocat/Hello-World.git"
    );
    assert_eq!(master.delivery, DELIVERY);
    let examples_master = examples.iter().find(|e| e["ref"] == "refs/heads/master").unwrap();
    let expected_paths: Vec<String> = ["added", "modified", "removed"]
        .iter()
        .flat_map(|k| {
            examples_master["commits"][0][k]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(master.changes.paths.len(), expected_paths.len());
}

#[tokio::test]
async fn crafted_pushes() {
    let (l, topic, _) = listener();
    // Nested directories, a removed Dockerfile and a root file, over two commits.
    let reply = deliver_json(
        &l,
        "push",
        &crafted(
            "refs/heads/main",
            json!([
                commit(&["tools/lint/Dockerfile", "tools/lint/x.sh"], &["README.md"], &[]),
                commit(&[], &["web/Dockerfile"], &["legacy/Dockerfile", "legacy/app.py"]),
            ]),
        ),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["changed_paths"], 6);
    assert_eq!(reply.body["tags"], json!(["latest", "3e8a1f5"]));
    let r = published(&topic).pop().unwrap();
    assert_eq!(
        r.changes.paths,
        [
            "README.md",
            "legacy/Dockerfile",
            "legacy/app.py",
            "tools/lint/Dockerfile",
            "tools/lint/x.sh",
            "web/Dockerfile"
        ]
    );
    assert_eq!(r.changes.removed, ["legacy/Dockerfile", "legacy/app.py"]);

    // A root Dockerfile.
    let reply = deliver_json(
        &l,
        "push",
        &crafted("refs/heads/main", json!([commit(&["Dockerfile"], &[], &[])])),
    )
    .await;
    assert_eq!(reply.status, 202);
    assert_eq!(published(&topic).pop().unwrap().changes.paths, ["Dockerfile"]);

    // A tag.
    let reply = deliver_json(&l, "push", &crafted("refs/tags/v2.0.1", json!([]))).await;
    // The fixture deployment's version rule.
    assert_eq!(reply.body["tags"], json!(["2.0.1", "2.0", "2"]));

    // A branch that is not built, and a branch deletion: answered, nothing published.
    let before = published(&topic).len();
    let reply = deliver_json(
        &l,
        "push",
        &crafted("refs/heads/feature/x", json!([commit(&["a/b"], &[], &[])])),
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["ignored"].as_str()),
        (202, Some("no ref rule builds refs/heads/feature/x"))
    );
    let mut deletion = crafted("refs/heads/main", json!([]));
    deletion["deleted"] = json!(true);
    deletion["after"] = json!("0000000000000000000000000000000000000000");
    let reply = deliver_json(&l, "push", &deletion).await;
    assert_eq!(reply.body["ignored"], "refs/heads/main was deleted");
    assert_eq!(published(&topic).len(), before);
}

#[tokio::test]
async fn form_encoded_bodies_are_verified_raw_and_decoded() {
    let (l, topic, _) = listener();
    let push = crafted("refs/heads/main", json!([commit(&["web/index.html"], &[], &[])]));
    let form = format!("payload={}", urlencode(&push.to_string()));
    let reply = deliver(&l, "push", "application/x-www-form-urlencoded", form.as_bytes()).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(published(&topic).pop().unwrap().changes.paths, ["web/index.html"]);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn bad_or_missing_signatures_are_401_and_publish_nothing() {
    let (l, topic, _) = listener();
    let body = crafted("refs/heads/main", json!([commit(&["web/x"], &[], &[])])).to_string();
    let good = sign(SECRET, body.as_bytes());
    let wrong = sign("not the secret", body.as_bytes());
    let cases: [(Option<&str>, bool, &str); 4] = [
        (None, false, "missing X-Hub-Signature-256"),
        (None, true, "legacy SHA-1"),
        (Some(&wrong), false, "does not match"),
        (Some("sha256=abc"), false, "malformed"),
    ];
    for (signature, legacy, expected) in cases {
        let reply = l
            .handle(&Delivery {
                event: Some("push"),
                delivery: Some(DELIVERY),
                signature_256: signature,
                has_legacy_signature: legacy,
                content_type: Some("application/json"),
                body: body.as_bytes(),
            })
            .await;
        assert_eq!(reply.status, 401);
        assert!(
            reply.body["error"].as_str().unwrap().contains(expected),
            "{}",
            reply.body
        );
    }
    // A signature over other bytes: one changed byte in the body.
    let tampered = body.replacen("web/x", "web/y", 1);
    let reply = l
        .handle(&Delivery {
            event: Some("push"),
            delivery: Some(DELIVERY),
            signature_256: Some(&good),
            has_legacy_signature: false,
            content_type: Some("application/json"),
            body: tampered.as_bytes(),
        })
        .await;
    assert_eq!(reply.status, 401);
    assert!(published(&topic).is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_400_with_the_reason() {
    let (l, topic, _) = listener();
    let cases: [(&str, &str, &[u8], &str); 5] = [
        ("push", "application/json", b"{not json", "not valid"),
        (
            "push",
            "application/json",
            br#"{"ref":"refs/heads/main"}"#,
            "missing field",
        ),
        (
            "push",
            "application/x-www-form-urlencoded",
            b"other=1",
            "no `payload` field",
        ),
        ("push", "text/xml", b"<push/>", "unsupported Content-Type"),
        ("ping", "application/json", b"[]", "not valid"),
    ];
    for (event, content_type, body, expected) in cases {
        let reply = deliver(&l, event, content_type, body).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(
            reply.body["error"].as_str().unwrap().contains(expected),
            "{}",
            reply.body
        );
    }
    let mut bad_commit = crafted("refs/heads/main", json!([]));
    bad_commit["after"] = json!("$(reboot)");
    let reply = deliver_json(&l, "push", &bad_commit).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body["error"].as_str().unwrap().contains("not a commit id"));
    assert!(published(&topic).is_empty());
}

#[tokio::test]
async fn other_events_are_acknowledged_and_ignored() {
    let (l, topic, _) = listener();
    let reply = deliver(&l, "issues", "application/json", b"{}").await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.body["ignored"], "issues");
    let signature = sign(SECRET, b"{}");
    let reply = l
        .handle(&Delivery {
            event: None,
            delivery: Some(DELIVERY),
            signature_256: Some(&signature),
            has_legacy_signature: false,
            content_type: None,
            body: b"{}",
        })
        .await;
    assert_eq!(reply.status, 400);
    assert!(published(&topic).is_empty());
}

#[tokio::test]
async fn bodies_over_the_cap_are_413_before_any_work() {
    let (l, topic, parameter) = listener_with(SECRET, 1000);
    let body = vec![b' '; 1001];
    let reply = deliver(&l, "push", "application/json", &body).await;
    assert_eq!(reply.status, 413);
    assert!(reply.body["error"].as_str().unwrap().contains("1001 bytes"));
    assert_eq!(parameter.reads(), 0);
    assert!(published(&topic).is_empty());
}

#[tokio::test]
async fn sns_failure_is_502_so_github_can_redeliver() {
    let (l, topic, _) = listener();
    *topic.fail.lock().unwrap() = Some("SNS Publish: InternalError: try again".into());
    let reply = deliver_json(
        &l,
        "push",
        &crafted("refs/heads/main", json!([commit(&["web/x"], &[], &[])])),
    )
    .await;
    assert_eq!(reply.status, 502);
    assert!(reply.body["error"].as_str().unwrap().contains("redeliver"));
}

#[tokio::test(start_paused = true)]
async fn secrets_are_cached_and_a_rotation_is_picked_up_at_most_once_a_minute() {
    let (l, topic, parameter) = listener_with("old-secret", 1 << 20);
    let body = crafted("refs/heads/main", json!([commit(&["web/x"], &[], &[])])).to_string();
    let send = |secret: &'static str| {
        let signature = sign(secret, body.as_bytes());
        let l = &l;
        let body = body.as_bytes();
        async move {
            l.handle(&Delivery {
                event: Some("push"),
                delivery: Some(DELIVERY),
                signature_256: Some(&signature),
                has_legacy_signature: false,
                content_type: Some("application/json"),
                body,
            })
            .await
            .status
        }
    };
    assert_eq!(send("old-secret").await, 202);
    assert_eq!(send("old-secret").await, 202);
    assert_eq!(parameter.reads(), 1, "read once per container");

    // Rotation starts: both secrets valid. Within a minute of the last read, no re-read.
    parameter.set("new-secret\nold-secret");
    assert_eq!(send("new-secret").await, 401);
    assert_eq!(parameter.reads(), 1);
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    assert_eq!(
        send("new-secret").await,
        202,
        "a failure after a minute re-reads the parameter"
    );
    assert_eq!(parameter.reads(), 2);
    assert_eq!(send("old-secret").await, 202, "both valid during the rotation");
    // Repeated bad deliveries do not hammer SSM.
    for _ in 0..5 {
        assert_eq!(send("attacker").await, 401);
    }
    assert_eq!(parameter.reads(), 2);
    assert_eq!(published(&topic).len(), 4);
}

#[tokio::test]
async fn api_gateway_v2_events_through_lambda_http() {
    let (l, topic, _) = listener();
    let push = crafted("refs/heads/main", json!([commit(&["api/app.py"], &[], &[])])).to_string();
    let mut event: Value = serde_json::from_str(&fixture("apigw-v2-webhook.json")).unwrap();
    event["headers"]["x-github-event"] = json!("push");
    event["headers"]["x-github-delivery"] = json!(DELIVERY);
    event["headers"]["x-hub-signature-256"] = json!(sign(SECRET, push.as_bytes()));
    event["headers"]["content-length"] = json!(push.len().to_string());
    event["body"] = json!(push);
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = handle_http(&l, request).await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["changed_paths"], 1);
    assert_eq!(published(&topic).pop().unwrap().changes.paths, ["api/app.py"]);
}

/// Pushes signed with the right secret that this deployment must still not build.
#[tokio::test]
async fn trust_boundaries_of_a_signed_push() {
    let (l, topic, _) = listener();
    // A tag named `latest`, or named like main's short SHA tag: answered, nothing built.
    for tag in ["latest", "6113728"] {
        let reply = deliver_json(&l, "push", &crafted(&format!("refs/tags/{tag}"), json!([]))).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        assert!(
            reply.body["ignored"]
                .as_str()
                .unwrap()
                .contains("only the default branch"),
            "{}",
            reply.body
        );
    }
    // Another repository on the same secret (an organisation webhook).
    let mut foreign = crafted("refs/heads/main", json!([commit(&["web/x"], &[], &[])]));
    foreign["repository"]["full_name"] = json!("evil/images");
    foreign["repository"]["clone_url"] = json!("https://github.com/evil/images.git");
    let reply = deliver_json(&l, "push", &foreign).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert!(reply.body["ignored"].as_str().unwrap().contains("`repositories`"));
    // A clone URL that names another host, hides one in userinfo, or another repository.
    for url in [
        "https://attacker.example/acme/images.git",
        "https://github.com@attacker.example/acme/images.git",
        "https://github.com/acme/other.git",
    ] {
        let mut push = crafted("refs/heads/main", json!([commit(&["web/x"], &[], &[])]));
        push["repository"]["clone_url"] = json!(url);
        let reply = deliver_json(&l, "push", &push).await;
        assert_eq!(reply.status, 400, "{url}: {}", reply.body);
        assert!(
            reply.body["error"].as_str().unwrap().contains("clone_url"),
            "{}",
            reply.body
        );
    }
    assert!(published(&topic).is_empty());
}
