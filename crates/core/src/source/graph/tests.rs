//! Planning with the image graph: what a change to one directory rebuilds, in which order.

use super::*;
use crate::plan::{Action, BuildJob};
use crate::ports::memory::MemoryLedger;
use crate::tree::FileKind;
use crate::waves::{BASES_VARIABLE, DEPENDENTS_VARIABLE};
use std::task::{Context, Poll, Waker};

const HEAD: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

/// Runs a future of in-memory ports to its end (a stream of reads may yield in between).
fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    for _ in 0..10_000 {
        if let Poll::Ready(value) = future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return value;
        }
    }
    panic!("an in-memory plan never ends")
}

/// The repository: directory → its Dockerfile. `base` → `mid` → `top`; `base` → `left`,
/// `right` → `app` (a diamond, `right` by `COPY --from`); `ext` on an outside image;
/// `cyc-a` ↔ `cyc-b`.
const REPO: &[(&str, &str)] = &[
    ("base", "FROM debian:12\nRUN true\n"),
    ("mid", "ARG BASE=acme/base\nFROM ${BASE}\n"),
    ("top", "FROM docker.io/acme/mid:latest AS m\nFROM m\n"),
    ("left", "FROM acme/base\n"),
    ("right", "FROM acme/base:v1\n"),
    ("app", "FROM acme/left\nCOPY --from=index.docker.io/acme/right /x /x\n"),
    ("ext", "FROM alpine:3.20\n"),
    ("cyc-a", "FROM acme/cyc-b\n"),
    ("cyc-b", "FROM acme/cyc-a\n"),
];

/// The host: every Dockerfile with a blob id made of its content's length and first byte,
/// and one tree id per directory that `changed` alters.
fn host(without: &[&str], changed_trees: &[&str]) -> ListedHost {
    let mut host = ListedHost::default();
    for (i, (dir, text)) in REPO.iter().enumerate().filter(|(_, (d, _))| !without.contains(d)) {
        let path = format!("{dir}/Dockerfile");
        host.files.push(TreeFile::new(
            path.as_str(),
            [i as u8 + 1; 20].into(),
            FileKind::Regular,
        ));
        host.contents.insert(path, text.as_bytes().to_vec());
        let tree = if changed_trees.contains(dir) { 200 } else { 100 } + i as u8;
        host.trees.push(((*dir).into(), [tree; 20].into()));
    }
    host
}

fn push(paths: &[&str], removed: &[&str]) -> BuildRequest {
    let mut request = crate::testing::build_request(HEAD);
    request.changes = Changes {
        paths: paths.iter().map(|p| p.to_string()).collect(),
        removed: removed.iter().map(|p| p.to_string()).collect(),
        source: ChangeSource::Commits,
        ..Changes::default()
    };
    request
}

fn planned(host: &ListedHost, request: &BuildRequest) -> Vec<PlanEntry> {
    run(plan_push(host, request, &crate::testing::deployment()))
        .unwrap()
        .entries
}

fn builds(entries: &[PlanEntry]) -> BTreeMap<String, BuildJob> {
    entries
        .iter()
        .filter_map(|e| match e {
            PlanEntry::Build(job) => Some((job.context.clone(), (**job).clone())),
            PlanEntry::Skip(_) => None,
        })
        .collect()
}

fn skips(entries: &[PlanEntry]) -> BTreeMap<String, Skip> {
    entries
        .iter()
        .filter_map(|e| match e {
            PlanEntry::Skip(skip) => Some((skip.context.clone(), skip.clone())),
            PlanEntry::Build(_) => None,
        })
        .collect()
}

#[test]
fn a_changed_base_rebuilds_its_dependents_transitively_each_after_its_bases() {
    let entries = planned(&host(&[], &["base"]), &push(&["base/Dockerfile"], &[]));
    let jobs = builds(&entries);
    assert_eq!(
        jobs.keys().collect::<Vec<_>>(),
        ["app", "base", "left", "mid", "right", "top"],
        "{entries:#?}"
    );
    assert!(skips(&entries).is_empty(), "{entries:#?}");
    let after = |c: &str| jobs[c].after.clone();
    assert!(after("base").is_empty());
    assert_eq!(after("mid"), ["base"]);
    assert_eq!(after("top"), ["mid"]);
    // The diamond: app waits for both sides, one named by COPY --from.
    assert_eq!(after("app"), ["left", "right"]);
    assert_eq!(jobs["base"].because, None);
    assert_eq!(jobs["mid"].because.as_deref(), Some("base `base` changed"));
    assert_eq!(
        jobs["top"].because.as_deref(),
        Some("base `mid` is rebuilt: `base` changed")
    );
    // Each base knows its dependents' build keys; nobody waits for a dependent.
    let dependents = |c: &str| jobs[c].request.env(DEPENDENTS_VARIABLE).map(str::to_owned);
    let mut expected = [&jobs["left"].key, &jobs["mid"].key, &jobs["right"].key].map(|k| k.to_string());
    expected.sort();
    assert_eq!(dependents("base"), Some(expected.join(",")));
    assert_eq!(dependents("left"), Some(jobs["app"].key.clone()));
    assert_eq!(dependents("top"), None);
    // Nothing is pinned yet: every base is built by this push.
    assert!(jobs.values().all(|j| j.request.env(BASES_VARIABLE).is_none()));
    // The names a dependent gives its base are what gets pinned.
    let names = |c: &str| jobs[c].bases.iter().flat_map(|b| b.names.clone()).collect::<Vec<_>>();
    assert_eq!(names("mid"), ["acme/base"]);
    assert_eq!(names("top"), ["docker.io/acme/mid:latest"]);
    assert_eq!(names("app"), ["acme/left", "index.docker.io/acme/right"]);
}

#[test]
fn a_dependent_whose_base_did_not_change_is_built_alone_and_its_base_is_not() {
    let entries = planned(&host(&[], &["top"]), &push(&["top/app.txt"], &[]));
    let jobs = builds(&entries);
    assert_eq!(jobs.keys().collect::<Vec<_>>(), ["top"]);
    assert!(jobs["top"].after.is_empty());
    assert_eq!(jobs["top"].because, None);
    assert!(jobs["top"].request.env(BASES_VARIABLE).is_none());
}

#[test]
fn an_image_on_an_outside_base_has_no_edge() {
    let entries = planned(&host(&[], &["ext"]), &push(&["ext/Dockerfile"], &[]));
    let jobs = builds(&entries);
    assert_eq!(jobs.keys().collect::<Vec<_>>(), ["ext"]);
    assert!(jobs["ext"].after.is_empty() && jobs["ext"].bases.is_empty());
    // Nor does the base of them all: debian is not this repository's.
    let entries = planned(&host(&[], &["base"]), &push(&["base/x"], &[]));
    assert!(builds(&entries)["base"].bases.is_empty());
}

#[test]
fn a_cycle_is_reported_and_nothing_in_it_is_built() {
    let entries = planned(&host(&[], &["cyc-a"]), &push(&["cyc-a/Dockerfile"], &[]));
    assert!(builds(&entries).is_empty(), "{entries:#?}");
    let skipped = skips(&entries);
    assert_eq!(skipped.keys().collect::<Vec<_>>(), ["cyc-a", "cyc-b"]);
    for skip in skipped.values() {
        assert!(skip.attention);
        assert!(skip.reason.contains("built from each other"), "{}", skip.reason);
    }
}

#[test]
fn a_base_removed_by_the_push_is_said_and_its_dependents_build_on_what_it_pushed_last() {
    // The push removes base/ and changes mid/: mid is built, waits for nothing, and says
    // why; left, right and app, unchanged, are not built.
    let request = push(&["base/Dockerfile", "mid/Dockerfile"], &["base/Dockerfile"]);
    let entries = planned(&host(&["base"], &["mid"]), &request);
    let jobs = builds(&entries);
    assert_eq!(jobs.keys().collect::<Vec<_>>(), ["mid", "top"], "{entries:#?}");
    assert!(jobs["mid"].after.is_empty());
    assert!(
        jobs["mid"].notes.iter().any(|n| n.contains("this push removes")),
        "{:?}",
        jobs["mid"].notes
    );
    assert_eq!(jobs["top"].after, ["mid"]);
    assert!(!skips(&entries)["base"].attention);
}

#[test]
fn a_new_base_makes_new_keys_for_its_dependents_only() {
    let request = push(&["ext/x"], &[]);
    let before = builds(&planned(&host(&[], &[]), &request));
    let after = builds(&planned(&host(&[], &["base"]), &request));
    assert_eq!(before["ext"].image_key, after["ext"].image_key);
    // A new branch plans every image: mid's and top's keys follow base's tree.
    let mut every = push(&[], &[]);
    every.changes.source = ChangeSource::NewRef;
    let one = builds(&planned(&host(&[], &[]), &every));
    let two = builds(&planned(&host(&[], &["base"]), &every));
    for dir in ["base", "mid", "top", "left", "right", "app"] {
        assert_ne!(one[dir].image_key, two[dir].image_key, "{dir}");
    }
    assert_eq!(one["ext"].image_key, two["ext"].image_key);
    // A new branch is built in waves too; the cycle is still a skip.
    assert_eq!(two["app"].after, ["left", "right"]);
    assert!(skips(&planned(&host(&[], &[]), &every)).contains_key("cyc-a"));
}

#[test]
fn a_base_re_tagged_by_the_push_pins_its_key_tag_and_is_not_waited_for() {
    let mut entries = planned(&host(&[], &["base"]), &push(&["base/Dockerfile"], &[]));
    let base = builds(&entries)["base"].clone();
    let recorded = std::collections::HashSet::from([base.record_key()]);
    crate::retag::mark_retags(&mut entries, &recorded);
    crate::waves::sequence(&mut entries);
    let jobs = builds(&entries);
    assert!(matches!(jobs["base"].action, Action::Retag { .. }));
    assert!(jobs["mid"].after.is_empty());
    assert_eq!(
        jobs["mid"].request.env(BASES_VARIABLE),
        Some(format!("acme/base\tdocker.io/acme/base:{}", base.key_tag()).as_str())
    );
    assert!(jobs["base"].request.env(DEPENDENTS_VARIABLE).is_none());
    // Further down, the order stands.
    assert_eq!(jobs["top"].after, ["mid"]);
}

#[test]
fn every_dockerfile_blob_is_read_from_the_host_once() {
    let cache = MemoryLedger::default();
    let request = push(&["base/Dockerfile"], &[]);
    let deployment = crate::testing::deployment();
    let first = run(plan_push_with(&host(&[], &["base"]), &cache, 1, &request, &deployment)).unwrap();
    assert_eq!(cache.cache().len(), REPO.len());
    // The same blobs again, from a host that has lost their contents: read from the cache.
    let mut forgetful = host(&[], &["base"]);
    forgetful.contents = BTreeMap::from([("unrelated".to_string(), Vec::new())]);
    let second = run(plan_push_with(&forgetful, &cache, 2, &request, &deployment)).unwrap();
    assert_eq!(first.entries, second.entries);
    // Without the cache, the lost contents are missing Dockerfiles: no graph.
    let third = run(plan_push(&forgetful, &request, &deployment)).unwrap();
    assert_eq!(builds(&third.entries).keys().collect::<Vec<_>>(), ["base"]);
}

#[test]
fn a_push_that_builds_nothing_reads_no_dockerfile() {
    let cache = MemoryLedger::default();
    let mut request = push(&["README.md"], &[]);
    request.changes.paths = vec!["README.md".into()];
    let planned = run(plan_push_with(
        &host(&[], &[]),
        &cache,
        1,
        &request,
        &crate::testing::deployment(),
    ))
    .unwrap();
    assert!(builds(&planned.entries).is_empty());
    assert!(cache.cache().is_empty());
}

#[test]
fn a_host_rate_limited_while_the_dockerfiles_are_read_is_waited_for() {
    let cache = MemoryLedger::default();
    let mut limited = host(&[], &["base"]);
    limited.fail_file = Some(HostError::RateLimited {
        reset: 100,
        detail: "secondary rate limit".into(),
    });
    let result = run(plan_push_with(
        &limited,
        &cache,
        1,
        &push(&["base/x"], &[]),
        &crate::testing::deployment(),
    ));
    assert!(
        matches!(result, Err(Unresolved::Retry(HostError::RateLimited { .. }))),
        "{result:?}"
    );
}
