use super::*;
use crate::intake::{Intake, intake};
use crate::webhook::{Commit, Owner, PushEvent, Repository};
use proptest::prelude::*;

const AFTER: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const BEFORE: &str = "9f2c1b7e4d3a5c6b8e0f1a2d3c4b5a6978e1f0d2";

fn deployment(extra: &str) -> Deployment {
    Deployment::from_json(&format!(
        r#"{{"registry":{{"type":"dockerhub","namespace":"acme"}},"repositories":["acme/images","tools/*"]{extra}}}"#
    ))
    .unwrap()
}

fn commit(paths: &[&str]) -> Commit {
    Commit {
        id: AFTER.into(),
        message: "Update web".into(),
        timestamp: None,
        url: Some(format!("https://github.com/acme/images/commit/{AFTER}")),
        author: None,
        added: vec![],
        modified: paths.iter().map(|p| p.to_string()).collect(),
        removed: vec![],
    }
}

fn push(full_name: &str, git_ref: &str) -> PushEvent {
    let name = full_name.split_once('/').map_or(full_name, |(_, n)| n);
    PushEvent {
        git_ref: git_ref.into(),
        before: BEFORE.into(),
        after: AFTER.into(),
        created: false,
        deleted: false,
        forced: false,
        head_commit: Some(commit(&["web/index.html"])),
        commits: vec![commit(&["web/index.html"])],
        repository: Repository {
            name: name.into(),
            full_name: full_name.into(),
            clone_url: format!("https://github.com/{full_name}.git"),
            html_url: Some(format!("https://github.com/{full_name}")),
            private: false,
            default_branch: Some("main".into()),
            owner: Owner {
                login: None,
                name: None,
            },
        },
        pusher: None,
    }
}

fn request(push: &PushEvent) -> BuildRequest {
    match intake(push, "d-1", &deployment("")).unwrap() {
        Intake::Build(r) => *r,
        Intake::Ignored { reason } => panic!("ignored: {reason}"),
    }
}

#[test]
fn a_listed_push_is_valid_at_both_ends() {
    let r = request(&push("acme/images", "refs/heads/main"));
    assert_eq!(validate(&r, &deployment("")), Ok(()));
    assert_eq!(r.tags, ["latest", "6113728"]);
    assert_eq!(
        r.head_commit.unwrap().url.as_deref(),
        Some(format!("https://github.com/acme/images/commit/{AFTER}").as_str())
    );
    // owner/* lists every repository of the owner, whatever the case GitHub spells it in.
    assert!(validate(&request(&push("Tools/Lint", "refs/heads/main")), &deployment("")).is_ok());
}

#[test]
fn a_foreign_repository_on_the_same_secret_is_ignored_and_refused() {
    // An organisation webhook signs pushes of every repository with the one secret.
    for foreign in ["evil/images", "acme/other", "acme-images/images"] {
        let p = push(foreign, "refs/heads/main");
        let Intake::Ignored { reason } = intake(&p, "d-1", &deployment("")).unwrap() else {
            panic!("{foreign} was built")
        };
        assert!(reason.contains("`repositories`"), "{reason}");
        // The same request forged onto the topic.
        let mut r = request(&push("acme/images", "refs/heads/main"));
        r.repository.full_name = foreign.into();
        r.repository.name = foreign.split_once('/').unwrap().1.into();
        r.repository.clone_url = format!("https://github.com/{foreign}.git");
        assert!(
            matches!(validate(&r, &deployment("")), Err(RequestError::NotListed(_))),
            "{foreign}"
        );
    }
}

#[test]
fn clone_urls_are_bound_to_the_repository_and_the_host() {
    for url in [
        "https://github.com@attacker.example/x.git",
        "https://attacker.example/acme/images.git",
        "https://github.com/acme/other.git",
        "https://github.com/acme/images",
        "https://user:pw@github.com/acme/images.git",
        "https://github.com:443/acme/images.git",
        "https://github.com/acme/images.git/../../evil/x.git",
        "http://github.com/acme/images.git",
        "file:///etc/passwd",
        "ext::sh -c touch% /tmp/pwned",
        "-u",
    ] {
        let mut p = push("acme/images", "refs/heads/main");
        p.repository.clone_url = url.into();
        assert!(
            matches!(intake(&p, "d-1", &deployment("")), Err(RequestError::CloneUrl { .. })),
            "listener took {url}"
        );
        let mut r = request(&push("acme/images", "refs/heads/main"));
        r.repository.clone_url = url.into();
        assert!(
            matches!(validate(&r, &deployment("")), Err(RequestError::CloneUrl { .. })),
            "spawner took {url}"
        );
    }
    // A GitHub Enterprise deployment takes its own host, and only that.
    let ghe = deployment(r#","github_host":"git.example.com""#);
    let mut p = push("acme/images", "refs/heads/main");
    p.repository.clone_url = "https://git.example.com/acme/images.git".into();
    p.repository.html_url = Some("https://git.example.com/acme/images".into());
    assert!(matches!(intake(&p, "d-1", &ghe), Ok(Intake::Build(_))));
    assert!(matches!(
        intake(&push("acme/images", "refs/heads/main"), "d-1", &ghe),
        Err(RequestError::CloneUrl { .. })
    ));
}

#[test]
fn the_spawner_refuses_forged_fields() {
    let good = request(&push("acme/images", "refs/heads/main"));
    let d = deployment("");
    let refused = |change: &dyn Fn(&mut BuildRequest)| {
        let mut r = good.clone();
        change(&mut r);
        validate(&r, &d).unwrap_err()
    };
    assert!(matches!(
        refused(&|r| r.delivery = "../../x y".into()),
        RequestError::Delivery(_)
    ));
    assert!(matches!(
        refused(&|r| r.commit = "--upload-pack=x".into()),
        RequestError::Commit(_)
    ));
    assert!(matches!(
        refused(&|r| r.git_ref = "refs/heads/main\nX".into()),
        RequestError::Ref { .. }
    ));
    assert!(matches!(
        refused(&|r| r.git_ref = "refs/remotes/x".into()),
        RequestError::Ref { .. }
    ));
    assert!(matches!(
        refused(&|r| r.changes.paths = vec!["../etc/passwd".into()]),
        RequestError::Path { .. }
    ));
    assert!(matches!(
        refused(&|r| r.changes.directories = vec!["/abs".into()]),
        RequestError::Path { .. }
    ));
    assert!(matches!(
        refused(&|r| r.changes.source = ChangeSource::Compare { base: "HEAD~1".into() }),
        RequestError::Before(_)
    ));
    assert!(matches!(
        refused(&|r| r.repository.name = "other".into()),
        RequestError::Field { .. }
    ));
    assert!(matches!(
        refused(&|r| r.repository.html_url = Some("https://attacker.example/".into())),
        RequestError::Url { .. }
    ));
    assert!(matches!(
        refused(&|r| r.head_commit.as_mut().unwrap().url = Some("javascript:alert(1)".into())),
        RequestError::Url { .. }
    ));
    // Tags the rules did not give: a forged `latest` on a tag, or an extra tag.
    assert!(matches!(
        refused(&|r| r.tags.push("evil".into())),
        RequestError::Tags(_)
    ));
    assert!(matches!(
        refused(&|r| {
            r.git_ref = "refs/tags/v1".into();
        }),
        RequestError::Tags(_)
    ));
    assert!(matches!(refused(&|r| r.fixed_tags.clear()), RequestError::Tags(_)));
}

#[test]
fn links_not_in_githubs_form_are_dropped_by_the_listener() {
    let mut p = push("acme/images", "refs/heads/main");
    p.head_commit.as_mut().unwrap().url = Some("https://attacker.example/x".into());
    p.repository.html_url = Some("https://github.com/acme/other".into());
    let r = request(&p);
    assert_eq!(r.head_commit.unwrap().url, None);
    assert_eq!(r.repository.html_url, None);
}

#[test]
fn refs() {
    for good in [
        "refs/heads/main",
        "refs/tags/v1.2.3",
        "refs/heads/feature/x-1",
        "refs/tags/ü",
    ] {
        assert_eq!(check_ref(good), Ok(()), "{good}");
    }
    for bad in [
        "main",
        "refs/heads/",
        "refs/heads/a..b",
        "refs/heads/a b",
        "refs/heads/a\tb",
        "refs/heads/.hidden",
        "refs/heads/x.lock",
        "refs/heads/a//b",
        "refs/heads/a/",
        "refs/heads/a.",
        "refs/heads/@",
        "refs/heads/a@{1}",
        "refs/heads/a~1",
        "refs/heads/a^",
        "refs/heads/a:b",
        "refs/heads/a*",
        "refs/heads/a[",
        "refs/heads/a\\b",
        "refs/pull/1/head",
    ] {
        assert!(check_ref(bad).is_err(), "{bad:?}");
    }
}

proptest! {
    /// Whatever a forged message holds, the check answers (never panics), and a request it
    /// accepts has the one clone URL of a listed repository and the rules' own tags.
    #[test]
    fn hostile_requests_are_refused_or_exactly_right(
        full_name in prop_oneof![Just("acme/images".to_string()), "\\PC{0,30}"],
        url in prop_oneof![Just("https://github.com/acme/images.git".to_string()), "\\PC{0,60}"],
        git_ref in prop_oneof![Just("refs/heads/main".to_string()), Just("refs/tags/latest".to_string()), "refs/(heads|tags)/\\PC{0,20}"],
        path in "\\PC{0,40}",
        extra_tag in proptest::option::of(prop_oneof![Just("latest".to_string()), "[a-z0-9]{7}"]),
    ) {
        let mut r = request(&push("acme/images", "refs/heads/main"));
        r.repository.name = full_name.split_once('/').map_or(full_name.as_str(), |(_, n)| n).to_owned();
        r.repository.full_name = full_name;
        r.repository.clone_url = url;
        r.git_ref = git_ref;
        r.changes.paths.push(path);
        r.tags.extend(extra_tag);
        let d = deployment("");
        if validate(&r, &d).is_ok() {
            prop_assert_eq!(&r.repository.clone_url, "https://github.com/acme/images.git");
            let RefDecision::Build { tags, .. } = d.rules.decide(&r.git_ref, Some("main"), &r.commit) else {
                panic!("accepted without a rule")
            };
            prop_assert_eq!(&tags, &r.tags);
        }
    }
}
