use super::*;
use crate::tree::FileKind;

use std::future::Future;
use std::task::{Context, Poll, Waker};

const HEAD: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const BASE: &str = "9f2c1b7e4d3a5c6b8e0f1a2d3c4b5a6978e1f0d2";

/// `ListedHost` answers at once: one poll runs a resolution to its end.
fn now<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("a ListedHost never waits"),
    }
}

fn request(source: ChangeSource, paths: &[&str]) -> BuildRequest {
    let mut request = crate::testing::build_request(HEAD);
    request.changes = Changes {
        paths: paths.iter().map(|p| p.to_string()).collect(),
        source,
        ..Changes::default()
    };
    request
}

fn files(paths: &[&str]) -> Vec<TreeFile> {
    paths
        .iter()
        .map(|p| TreeFile::new(*p, [0; 20].into(), FileKind::Regular))
        .collect()
}

fn changed(path: &str, removed: bool) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        previous_path: None,
        removed,
    }
}

fn host() -> ListedHost {
    ListedHost {
        files: files(&["web/Dockerfile", "web/app.py", "api/Dockerfile"]),
        ..ListedHost::default()
    }
}

#[test]
fn the_tree_becomes_the_index_and_commit_lists_are_kept() {
    use crate::index::DockerfileIndex;
    let r = request(ChangeSource::Commits, &["web/app.py"]);
    let resolved = now(resolve(&host(), &r)).unwrap();
    assert_eq!(resolved.index.all().unwrap(), ["api", "web"]);
    assert_eq!(resolved.request, r);
    assert_eq!(resolved.repo, Ok(RepoConfig::default()));
    assert!(resolved.notes.is_empty());
}

#[test]
fn a_comparison_replaces_the_payloads_paths() {
    let host = ListedHost {
        changes: Some(vec![changed("api/main.go", false), changed("old/Dockerfile", true)]),
        ..host()
    };
    let r = request(ChangeSource::Compare { base: BASE.into() }, &["web/app.py"]);
    let resolved = now(resolve(&host, &r)).unwrap();
    assert_eq!(resolved.request.changes.paths, ["api/main.go", "old/Dockerfile"]);
    assert_eq!(resolved.request.changes.removed, ["old/Dockerfile"]);
    assert_eq!(resolved.request.changes.source, ChangeSource::Commits);
}

#[test]
fn a_base_that_is_gone_builds_everything_with_a_note() {
    let r = request(ChangeSource::Compare { base: BASE.into() }, &[]);
    let resolved = now(resolve(&host(), &r)).unwrap();
    assert_eq!(resolved.request.changes.source, ChangeSource::NewRef);
    assert!(resolved.request.changes.is_empty());
    assert!(resolved.notes[0].contains(BASE), "{:?}", resolved.notes);
}

#[test]
fn the_repository_file_is_read_only_when_the_tree_has_one() {
    let with_file = ListedHost {
        files: files(&["web/Dockerfile", ".dockhand.yml"]),
        repo_config: Some(b"naming: suite\ntags: [nightly]\n".to_vec()),
        ..ListedHost::default()
    };
    let r = request(ChangeSource::Commits, &["web/x"]);
    let repo = now(resolve(&with_file, &r)).unwrap().repo.unwrap();
    assert_eq!(repo.naming, Some(crate::config::Naming::Suite));
    assert_eq!(repo.tags, ["nightly"]);
    // Not in the tree: never asked for (the failure would show).
    let without = ListedHost {
        fail_file: Some(HostError::Unavailable("must not be called".into())),
        ..host()
    };
    assert_eq!(now(resolve(&without, &r)).unwrap().repo, Ok(RepoConfig::default()));
    // An invalid file is carried to the plan, which reports it.
    let invalid = ListedHost {
        repo_config: Some(b"nmaing: suite\n".to_vec()),
        ..with_file
    };
    let e = now(resolve(&invalid, &r)).unwrap().repo.unwrap_err();
    assert!(e.to_string().contains("unknown setting"), "{e}");
}

#[test]
fn a_symlinked_repository_file_is_refused_unread_and_a_symlinked_dockerfile_is_none() {
    use crate::index::DockerfileIndex;
    let mut files = files(&["web/Dockerfile", "api/app.py"]);
    files.push(TreeFile::new(".dockhand.yml", [1; 20].into(), FileKind::Symlink));
    files.push(TreeFile::new("api/Dockerfile", [2; 20].into(), FileKind::Symlink));
    let host = ListedHost {
        files,
        fail_file: Some(HostError::Unavailable("must not be called".into())),
        ..ListedHost::default()
    };
    let resolved = now(resolve(&host, &request(ChangeSource::Commits, &["api/app.py"]))).unwrap();
    let e = resolved.repo.unwrap_err();
    assert!(e.to_string().starts_with(".dockhand.yml: is a symbolic link"), "{e}");
    assert_eq!(resolved.index.all().unwrap(), ["web"]);
}

#[test]
fn a_repository_file_over_the_limit_is_reported_with_the_limit() {
    let host = ListedHost {
        files: files(&["web/Dockerfile", ".dockhand.yml"]),
        repo_config: Some(vec![b'#'; MAX_FILE_BYTES + 1]),
        ..ListedHost::default()
    };
    let r = request(ChangeSource::Commits, &["web/x"]);
    let e = now(resolve(&host, &r)).unwrap().repo.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            ".dockhand.yml: the file is {} bytes, larger than the {MAX_FILE_BYTES} bytes allowed; it holds a few short settings",
            MAX_FILE_BYTES + 1
        )
    );
    // A host that stopped reading past the limit does not know the size.
    let unknown = ListedHost {
        fail_file: Some(HostError::FileTooLarge {
            path: ".dockhand.yml".into(),
            limit: MAX_FILE_BYTES,
            size: None,
        }),
        ..host
    };
    let e = now(resolve(&unknown, &r)).unwrap().repo.unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("the file is larger than the {MAX_FILE_BYTES} bytes allowed")),
        "{e}"
    );
}

#[test]
fn a_walk_over_its_budget_stops_with_what_to_do() {
    let host = ListedHost {
        fail_tree: Some(HostError::OverBudget("the walk took more than its 20 s budget".into())),
        ..host()
    };
    match now(resolve(&host, &request(ChangeSource::Commits, &[]))) {
        Err(Unresolved::Stop(reason)) => {
            for expected in [
                "acme/images",
                "20 s budget",
                "GITHUB_TIME_BUDGET_SECONDS",
                "timeout",
                "dockhand plan --tree",
                HEAD,
            ] {
                assert!(reason.contains(expected), "{expected} in {reason}");
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn host_failures_are_retried_or_stop_with_what_to_do() {
    let r = request(ChangeSource::Compare { base: BASE.into() }, &[]);
    let limited = HostError::RateLimited {
        reset: 1_900_000_000,
        detail: "API rate limit exceeded".into(),
    };
    for (host, retry) in [
        (
            ListedHost {
                fail_tree: Some(limited.clone()),
                ..host()
            },
            true,
        ),
        (
            ListedHost {
                fail_compare: Some(HostError::Unavailable("502".into())),
                ..host()
            },
            true,
        ),
        (
            ListedHost {
                files: files(&[".dockhand.yml"]),
                fail_file: Some(limited.clone()),
                changes: Some(vec![]),
                ..host()
            },
            true,
        ),
        (
            ListedHost {
                fail_tree: Some(HostError::NotFound("404".into())),
                ..host()
            },
            false,
        ),
        (
            ListedHost {
                fail_compare: Some(HostError::Denied("401 Bad credentials".into())),
                ..host()
            },
            false,
        ),
    ] {
        match now(resolve(&host, &r)) {
            Err(Unresolved::Retry(_)) if retry => {}
            Err(Unresolved::Stop(reason)) if !retry => {
                assert!(
                    reason.contains("acme/images") && reason.contains("github_token_parameter"),
                    "{reason}"
                );
            }
            other => panic!("{host:?}: {other:?}"),
        }
    }
}

#[test]
fn a_push_is_planned_with_what_the_host_says_and_its_notes() {
    let deployment = crate::testing::deployment();
    let r = request(ChangeSource::Compare { base: BASE.into() }, &[]);
    let mut listed = host();
    // The base is gone: every image is built, and the plan says why.
    let planned = now(plan_push(&listed, &r, &deployment)).unwrap();
    let contexts: Vec<&str> = planned
        .entries
        .iter()
        .map(|e| match e {
            PlanEntry::Build(job) => job.context.as_str(),
            PlanEntry::Skip(skip) => panic!("{skip:?}"),
        })
        .collect();
    assert_eq!(contexts, ["api", "web"]);
    assert_eq!(planned.notes.len(), 2, "{:?}", planned.notes);
    assert!(planned.notes[0].contains("cannot be compared"), "{:?}", planned.notes);
    // A listing without the Dockerfiles' contents cannot order images built on each other.
    assert!(
        planned.notes[1].contains("contents were not given"),
        "{:?}",
        planned.notes
    );
    // The comparison's answer decides: only web changed.
    listed.changes = Some(vec![changed("web/app.py", false)]);
    let planned = now(plan_push(&listed, &r, &deployment)).unwrap();
    assert!(matches!(&planned.entries[..], [PlanEntry::Build(job)] if job.context == "web"));
    // A host that cannot answer is the caller's to wait for.
    listed.fail_tree = Some(HostError::Unavailable("502".into()));
    assert!(matches!(
        now(plan_push(&listed, &r, &deployment)),
        Err(Unresolved::Retry(HostError::Unavailable(_)))
    ));
}

#[test]
fn a_private_repository_without_a_token_is_one_skip_and_the_host_is_not_asked() {
    let deployment = crate::testing::deployment();
    let mut r = request(ChangeSource::Commits, &["web/app.py"]);
    r.repository.private = true;
    let refusing = ListedHost {
        fail_tree: Some(HostError::NotFound(
            "a private repository, asked without a token".into(),
        )),
        ..host()
    };
    let planned = now(plan_push(&refusing, &r, &deployment)).unwrap();
    match &planned.entries[..] {
        [PlanEntry::Skip(skip)] => {
            assert!(skip.attention);
            assert!(skip.reason.contains("is private") && skip.reason.contains("github_token_parameter"));
        }
        other => panic!("{other:?}"),
    }
    // The same rule as the planner's own, which --payload-only calls directly.
    assert_eq!(
        planned.entries,
        crate::plan(
            &r,
            &crate::index::PushIndex::new(&r.changes),
            &deployment,
            Ok(&RepoConfig::default())
        )
    );
}
