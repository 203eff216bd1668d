use super::*;
use crate::request::*;
use crate::testing::push;
use crate::tree::ChangedFile;
use crate::webhook::Commit;
use std::collections::BTreeMap;

fn commit(added: &[&str], modified: &[&str], removed: &[&str]) -> Commit {
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
    Commit {
        id: "a".repeat(40),
        message: "m".into(),
        timestamp: None,
        url: None,
        author: None,
        added: v(added),
        modified: v(modified),
        removed: v(removed),
    }
}

fn rules() -> Deployment {
    Deployment::from_json(r#"{"registry":{"type":"dockerhub","namespace":"acme"},"repositories":["acme/images"]}"#)
        .unwrap()
}

#[test]
fn net_changes_follow_commit_order() {
    let p = push(
        "refs/heads/main",
        vec![
            commit(&["a/Dockerfile", "b/x"], &[], &[]),
            commit(&[], &["b/x"], &["a/Dockerfile"]),
            commit(&["c/y"], &[], &["c/y"]),
            commit(&["c/y"], &[], &[]),
        ],
    );
    let c = Changes::from_commits(&p);
    assert_eq!(c.paths, ["a/Dockerfile", "b/x", "c/y"]);
    assert_eq!(c.removed, ["a/Dockerfile"]);
}

#[test]
fn ignored_pushes_say_why() {
    let mut p = push("refs/heads/feature", vec![]);
    assert_eq!(
        intake(&p, "d-1", &rules()).unwrap(),
        Intake::Ignored {
            reason: "no ref rule builds refs/heads/feature".into()
        }
    );
    p.deleted = true;
    p.after = "0".repeat(40);
    assert_eq!(
        intake(&p, "d-1", &rules()).unwrap(),
        Intake::Ignored {
            reason: "refs/heads/feature was deleted".into()
        }
    );
}

#[test]
fn untrusted_identifiers_are_checked() {
    let mut p = push("refs/heads/main", vec![]);
    assert!(matches!(intake(&p, "", &rules()), Err(RequestError::Delivery(_))));
    assert!(matches!(
        intake(&p, "x; rm -rf /", &rules()),
        Err(RequestError::Delivery(_))
    ));
    p.after = "--upload-pack=touch /tmp/pwned".into();
    assert!(matches!(intake(&p, "d", &rules()), Err(RequestError::Commit(_))));
    p.after = "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into();
    for url in ["ext::sh -c touch% /tmp/pwned", "file:///etc", "-u", "https://x/ y"] {
        p.repository.clone_url = url.into();
        assert!(
            matches!(intake(&p, "d", &rules()), Err(RequestError::CloneUrl { .. })),
            "{url}"
        );
    }
}

#[test]
fn a_nul_never_reaches_an_environment_variable() {
    let mut p = push("refs/heads/main", vec![commit(&["a/b"], &[], &[])]);
    let head = p.head_commit.as_mut().unwrap();
    head.message = "fix\0 it".into();
    head.author = Some(crate::webhook::Person {
        name: Some("Ada\0".into()),
        email: None,
        username: None,
    });
    let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
        panic!()
    };
    let head = r.head_commit.unwrap();
    assert_eq!((head.message.as_str(), head.author.as_deref()), ("fix it", Some("Ada")));
}

#[test]
fn long_commit_messages_are_cut_on_a_character_boundary() {
    let mut p = push("refs/heads/main", vec![commit(&["a/b"], &[], &[])]);
    p.head_commit.as_mut().unwrap().message = "é".repeat(5000);
    let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
        panic!()
    };
    let m = &r.head_commit.unwrap().message;
    assert!(m.len() <= MAX_COMMIT_MESSAGE_BYTES && m.len() >= MAX_COMMIT_MESSAGE_BYTES - 1);
}

#[test]
fn oversized_requests_fall_back_to_directories() {
    let many: Vec<String> = (0..20_000)
        .map(|i| format!("svc{}/src/file-{i:05}.txt", i % 7))
        .collect();
    let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
    let mut added = refs.clone();
    added.push("svc1/Dockerfile");
    let p = push(
        "refs/heads/main",
        vec![commit(&added, &[], &["old/Dockerfile", "old/readme"])],
    );
    let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
        panic!()
    };
    let (reduced, json) = r.encode_for_sns().unwrap();
    assert!(json.len() <= MAX_REQUEST_BYTES);
    assert_eq!(reduced.changes.paths, ["old/Dockerfile", "svc1/Dockerfile"]);
    assert_eq!(reduced.changes.removed, ["old/Dockerfile"]);
    let dirs: Vec<String> = (0..7)
        .map(|i| format!("svc{i}/src"))
        .chain(["old".to_string()])
        .collect();
    let mut expected = dirs;
    expected.sort();
    assert_eq!(reduced.changes.directories, expected);
    let back: BuildRequest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reduced);
}

#[test]
fn small_requests_are_unchanged() {
    let p = push("refs/tags/v1", vec![commit(&["README.md"], &[], &[])]);
    let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
        panic!()
    };
    assert_eq!(r.tags, ["v1"]);
    assert_eq!(r.source_branch(), "v1");
    let (same, _) = r.clone().encode_for_sns().unwrap();
    assert_eq!(same, *r);
    assert_eq!(same.changes.paths, ["README.md"]);
}

fn source_of(p: &PushEvent) -> ChangeSource {
    match intake(p, "d", &rules()).unwrap() {
        Intake::Build(r) => r.changes.source,
        Intake::Ignored { reason } => panic!("ignored: {reason}"),
    }
}

const BEFORE: &str = "9f2c1b7e4d3a5c6b8e0f1a2d3c4b5a6978e1f0d2";

fn compare() -> ChangeSource {
    ChangeSource::Compare { base: BEFORE.into() }
}

#[test]
fn push_shape_normal() {
    let p = push("refs/heads/main", vec![commit(&["a/x"], &["b/y"], &["c/z"])]);
    assert_eq!(source_of(&p), ChangeSource::Commits);
}

#[test]
fn push_shape_new_branch() {
    let mut p = push("refs/heads/main", vec![commit(&["a/x"], &[], &[])]);
    p.before = "0".repeat(40);
    p.created = true;
    assert_eq!(source_of(&p), ChangeSource::NewRef);
    p.commits.clear();
    assert_eq!(source_of(&p), ChangeSource::NewRef);
}

#[test]
fn push_shape_new_tag() {
    let mut p = push("refs/tags/v1.2.3", vec![]);
    p.before = "0".repeat(40);
    p.created = true;
    p.head_commit = None;
    assert_eq!(source_of(&p), ChangeSource::NewRef);
}

#[test]
fn push_shape_forced() {
    let mut p = push("refs/heads/main", vec![commit(&["a/x"], &[], &[])]);
    p.forced = true;
    assert_eq!(source_of(&p), compare());
}

#[test]
fn push_shape_empty_commits() {
    let p = push("refs/heads/main", vec![]);
    assert_eq!(source_of(&p), compare());
}

#[test]
fn push_shape_capped_commits() {
    let many: Vec<Commit> = (0..MAX_PUSH_COMMITS).map(|_| commit(&[], &["a/x"], &[])).collect();
    let p = push("refs/heads/main", many.clone());
    assert_eq!(source_of(&p), compare());
    let p = push("refs/heads/main", many[1..].to_vec());
    assert_eq!(source_of(&p), ChangeSource::Commits);
    // A commit whose file lists reached GitHub's per-commit cap.
    let files: Vec<String> = (0..MAX_COMMIT_FILES).map(|i| format!("d/{i}")).collect();
    let (a, m) = files.split_at(1000);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let m: Vec<&str> = m.iter().map(String::as_str).collect();
    let p = push("refs/heads/main", vec![commit(&a, &m, &[])]);
    assert_eq!(source_of(&p), compare());
    let p = push("refs/heads/main", vec![commit(&a, &m[1..], &[])]);
    assert_eq!(source_of(&p), ChangeSource::Commits);
}

#[test]
fn push_shape_deletion() {
    let mut p = push("refs/heads/main", vec![]);
    p.deleted = true;
    p.after = "0".repeat(40);
    assert!(matches!(intake(&p, "d", &rules()).unwrap(), Intake::Ignored { .. }));
}

#[test]
fn a_bad_before_is_refused() {
    let mut p = push("refs/heads/main", vec![commit(&["a"], &[], &[])]);
    p.before = "--upload-pack=x".into();
    assert!(matches!(intake(&p, "d", &rules()), Err(RequestError::Before(_))));
}

#[test]
fn the_source_survives_sns_and_old_messages_still_decode() {
    let mut p = push("refs/heads/main", vec![]);
    p.forced = true;
    let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
        panic!()
    };
    let (_, json) = r.clone().encode_for_sns().unwrap();
    assert!(
        json.contains(r#""source":{"kind":"compare","base":"9f2c1b7e"#),
        "{json}"
    );
    let back: BuildRequest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, *r);
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old["changes"].as_object_mut().unwrap().remove("source");
    let back: BuildRequest = serde_json::from_value(old).unwrap();
    assert_eq!(back.changes.source, ChangeSource::Commits);
    let new_ref: ChangeSource = serde_json::from_str(r#"{"kind":"new_ref"}"#).unwrap();
    assert_eq!(new_ref, ChangeSource::NewRef);
}

#[test]
fn the_source_survives_the_reduction_to_directories() {
    let many: Vec<String> = (0..20_000).map(|i| format!("svc/src/file-{i:05}.txt")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut p = push("refs/heads/main", vec![commit(&refs, &[], &[])]);
    p.forced = true;
    let Intake::Build(r) = intake(&p, "d", &rules()).unwrap() else {
        panic!()
    };
    let (reduced, json) = r.encode_for_sns().unwrap();
    assert!(json.len() <= MAX_REQUEST_BYTES);
    assert_eq!(reduced.changes.directories, ["svc/src"]);
    assert_eq!(reduced.changes.source, compare());
}

/// The fold as it was written before [`NetChanges`]: an ordered map of every path.
fn reference_changes(commits: &[Commit]) -> Changes {
    let mut last_action: BTreeMap<&str, bool> = BTreeMap::new();
    for commit in commits {
        for p in commit.added.iter().chain(&commit.modified) {
            last_action.insert(p, true);
        }
        for p in &commit.removed {
            last_action.insert(p, false);
        }
    }
    Changes {
        paths: last_action.keys().map(|p| p.to_string()).collect(),
        removed: last_action
            .iter()
            .filter(|(_, present)| !**present)
            .map(|(p, _)| p.to_string())
            .collect(),
        directories: Vec::new(),
        source: ChangeSource::Commits,
    }
}

/// A path in one of `dirs` directories ("" for the root), some Dockerfiles, some with
/// characters JSON escapes; the directories are long so that a few thousand paths
/// reach the request's size limit.
fn path(dirs: usize) -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec!["Dockerfile", "Dockerfile.dev", "a.rs", "q\"t", "tab\t", "é", "x"]);
    (0..dirs, names, 0..40usize).prop_map(|(dir, name, n)| {
        let file = if name.starts_with("Dockerfile") {
            name.to_owned()
        } else {
            format!("{name}{n}")
        };
        match dir {
            0 => file,
            _ => format!("d{dir}/{}/{file}", "long".repeat(dir * 3)),
        }
    })
}

fn commits(dirs: usize, files: usize, commits: usize) -> impl Strategy<Value = Vec<Commit>> {
    let list = move || prop::collection::vec(path(dirs), 0..files);
    let one = (list(), list(), list()).prop_map(|(a, m, r)| {
        fn v(x: &[String]) -> Vec<&str> {
            x.iter().map(String::as_str).collect()
        }
        commit(&v(&a), &v(&m), &v(&r))
    });
    prop::collection::vec(one, 0..commits)
}

use proptest::prelude::*;
use proptest::strategy::ValueTree;

proptest! {
    #[test]
    fn net_changes_list_and_reduce_as_the_ordered_fold_does(commits in commits(12, 30, 6)) {
        let net = NetChanges::of(&commits);
        let reference = reference_changes(&commits);
        prop_assert_eq!(net.len(), reference.paths.len());
        prop_assert_eq!(&net.to_changes(ChangeSource::Commits), &reference);
        prop_assert_eq!(net.to_directories(compare()), Changes { source: compare(), ..reference.to_directories() });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Around the size limit: straight to directories or not, the listener's encoding is
    /// the old one, which listed, serialized, then reduced.
    #[test]
    fn accepted_pushes_encode_as_listed_requests_do(commits in commits(40, 700, 4)) {
        let p = push("refs/heads/main", commits);
        let Intake::Build(accepted) = accept(&p, "d", &rules()).unwrap() else { panic!() };
        let Intake::Build(mut listed) = intake(&p, "d", &rules()).unwrap() else { panic!() };
        prop_assert_eq!(&accepted.clone().into_request(), &*listed);
        listed.changes = Changes { source: listed.changes.source.clone(), ..reference_changes(&p.commits) };
        prop_assert_eq!(accepted.encode_for_sns(), listed.encode_for_sns());
    }
}

#[test]
fn the_size_limit_is_straddled_by_the_generated_pushes() {
    // The property above is only worth its name if both ways are taken: check that the
    // generator makes pushes whose paths fit and pushes whose paths cannot.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = commits(40, 700, 4);
    let (mut fit, mut reduced) = (0, 0);
    for _ in 0..48 {
        let commits = strategy.new_tree(&mut runner).unwrap().current();
        let p = push("refs/heads/main", commits);
        let Intake::Build(accepted) = accept(&p, "d", &rules()).unwrap() else {
            panic!()
        };
        match accepted.encode_for_sns() {
            Ok((r, _)) if r.changes.directories.is_empty() => fit += 1,
            _ => reduced += 1,
        }
    }
    assert!(fit > 3 && reduced > 3, "{fit} fit, {reduced} reduced");
}

#[test]
fn too_many_directories_are_refused_either_way() {
    let many: Vec<String> = (0..4000).map(|i| format!("{}{i:05}/f", "d".repeat(60))).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let p = push("refs/heads/main", vec![commit(&refs, &[], &[])]);
    let Intake::Build(accepted) = accept(&p, "d", &rules()).unwrap() else {
        panic!()
    };
    let Intake::Build(listed) = intake(&p, "d", &rules()).unwrap() else {
        panic!()
    };
    let refused = accepted.encode_for_sns();
    assert!(
        matches!(refused, Err(RequestError::TooLarge { directories: 4000, .. })),
        "{refused:?}"
    );
    assert_eq!(refused, listed.encode_for_sns());
}

fn changed(path: &str, previous: Option<&str>, removed: bool) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        previous_path: previous.map(Into::into),
        removed,
    }
}

#[test]
fn compared_changes_count_both_sides_of_a_rename() {
    let c = Changes::from_changed_files(&[
        changed("web/Dockerfile", None, false),
        changed("site/index.html", Some("web/index.html"), false),
        changed("old/Dockerfile", None, true),
        // Renamed away and something else renamed into its place: present.
        changed("b", Some("a"), false),
        changed("a", Some("c"), false),
    ]);
    assert_eq!(
        c.paths,
        [
            "a",
            "b",
            "c",
            "old/Dockerfile",
            "site/index.html",
            "web/Dockerfile",
            "web/index.html"
        ]
    );
    assert_eq!(c.removed, ["c", "old/Dockerfile", "web/index.html"]);
    assert_eq!(c.source, ChangeSource::Commits);
    assert!(Changes::from_changed_files(&[]).is_empty());
}
