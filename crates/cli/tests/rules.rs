//! `dockhand rules --from-hub` as a user runs it.

use dockhand_core::Deployment;
use serde_json::{Value, json};
mod support;

use support::{dockhand, fixture};

fn rules(args: &[&str]) -> (String, String, bool) {
    dockhand("rules", args)
}

#[test]
fn converts_hub_rules_into_a_configuration_that_loads() {
    let (stdout, stderr, ok) = rules(&["--from-hub", &fixture("hub-rules.json")]);
    assert!(ok, "{stderr}");
    let config: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(config["registry"], json!({"type": "dockerhub", "namespace": "acme"}));
    assert_eq!(config["repositories"], json!(["acme/images"]));
    assert_eq!(config["images"], json!({"tools/lint": "lint", "web": "web"}));
    assert_eq!(
        config["rules"],
        json!([
            {"ref": "refs/heads/main", "tags": ["latest"]},
            {"ref": "refs/tags/(?:v([0-9.]+))", "tags": ["{1}", "v{1}"]}
        ])
    );
    let deployment = Deployment::from_json(&stdout).unwrap();
    assert_eq!(deployment.config.images.len(), 2);
    // What was left out, or may differ, is said, naming the repository and the rule.
    assert_eq!(
        stderr.trim(),
        "acme/web rule 1: differs: dockhand pushes `latest` only from the repository's default branch: main must be it\n\
         acme/lint rule 1: differs: dockhand pushes `latest` only from the repository's default branch: main must be it\n\
         acme/api rule 1: not converted: its Dockerfile is named \"Dockerfile.prod\": dockhand builds files named Dockerfile\n\
         acme/api: not converted: none of its rules could be converted"
    );
}

#[test]
fn another_namespace_converts_nothing_and_fails() {
    let (stdout, stderr, ok) = rules(&["--from-hub", &fixture("hub-rules.json"), "--namespace", "other"]);
    assert!(!ok);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("acme/web: not converted: is not in the namespace other"),
        "{stderr}"
    );
    assert!(stderr.contains("dockhand: nothing could be converted"), "{stderr}");
}

#[test]
fn an_unreadable_file_fails_with_the_reason() {
    let (_, stderr, ok) = rules(&["--from-hub", &fixture("config.json")]);
    assert!(!ok);
    assert!(stderr.contains("not a Docker Hub build rules file"), "{stderr}");
}
