//! The cleanup against aws-smithy-mocks (moto has no BatchDeleteBuilds): pagination,
//! batches of at most 100, partial deletions, throttling, dry runs and re-runs.

use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::operation::batch_delete_builds::BatchDeleteBuildsOutput;
use aws_sdk_codebuild::operation::batch_get_builds::BatchGetBuildsOutput;
use aws_sdk_codebuild::operation::list_builds_for_project::ListBuildsForProjectOutput;
use aws_sdk_codebuild::types::{Build, BuildNotDeleted, StatusType};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use dockhand_aws::codebuild::{CodeBuildHistory, MAX_ATTEMPTS, retry_config};
use dockhand_cleanup::{Cleanup, CleanupError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NOW: i64 = 1_795_000_000;
const DAY: i64 = 86_400;
const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;

#[derive(Clone, Debug)]
struct Stored {
    complete: bool,
    end: Option<i64>,
    project: &'static str,
}

/// A project's builds as CodeBuild would hold them, newest first.
#[derive(Clone, Default)]
struct Store {
    builds: Arc<Mutex<BTreeMap<String, Stored>>>,
    deletes: Arc<Mutex<Vec<Vec<String>>>>,
}

fn id(n: usize) -> String {
    format!("dockhand:{n:08}")
}

impl Store {
    /// 250 builds: a third 10 days old, a third 3 days old, a third 8 days old; build 6
    /// still running; build 11 complete but without an end time.
    fn mixed() -> Store {
        let store = Store::default();
        let mut b = store.builds.lock().unwrap();
        for n in 0..250 {
            let age = [10, 3, 8][n % 3] * DAY;
            let stored = match n {
                6 => Stored {
                    complete: false,
                    end: None,
                    project: "dockhand",
                },
                11 => Stored {
                    complete: true,
                    end: None,
                    project: "dockhand",
                },
                _ => Stored {
                    complete: true,
                    end: Some(NOW - age),
                    project: "dockhand",
                },
            };
            b.insert(id(n), stored);
        }
        drop(b);
        store
    }

    fn expected_expired(&self) -> Vec<String> {
        (0..250).filter(|n| *n != 6 && *n != 11 && n % 3 != 1).map(id).collect()
    }

    fn list_rule(&self) -> Rule {
        let store = self.clone();
        mock!(Client::list_builds_for_project).then_compute_output(move |input| {
            assert_eq!(input.project_name(), Some("dockhand"));
            let ids: Vec<String> = store.builds.lock().unwrap().keys().cloned().collect();
            let start: usize = input.next_token().map_or(0, |t| t.parse().unwrap());
            let end = (start + 100).min(ids.len());
            let mut out = ListBuildsForProjectOutput::builder().set_ids(Some(ids[start..end].to_vec()));
            if end < ids.len() {
                out = out.next_token(end.to_string());
            }
            out.build()
        })
    }

    fn get_rule(&self) -> Rule {
        let store = self.clone();
        mock!(Client::batch_get_builds).then_compute_output(move |input| store.answer(input.ids()))
    }

    /// BatchGetBuilds as CodeBuild answers it from this store.
    fn answer(&self, ids: &[String]) -> BatchGetBuildsOutput {
        assert!(ids.len() <= 100, "BatchGetBuilds with {} ids", ids.len());
        let builds = self.builds.lock().unwrap();
        let found = ids
            .iter()
            .filter_map(|i| builds.get(i).map(|s| (i, s)))
            .map(|(i, s)| {
                Build::builder()
                    .id(i)
                    .project_name(s.project)
                    .build_complete(s.complete)
                    .build_status(if s.complete {
                        StatusType::Succeeded
                    } else {
                        StatusType::InProgress
                    })
                    .set_end_time(s.end.map(DateTime::from_secs))
                    .build()
            })
            .collect();
        BatchGetBuildsOutput::builder().set_builds(Some(found)).build()
    }

    /// Deletes what it is asked to, except the ids in `refuse`.
    fn delete_rule(&self, refuse: &'static [usize]) -> Rule {
        let store = self.clone();
        mock!(Client::batch_delete_builds).then_compute_output(move |input| {
            assert!(
                input.ids().len() <= 100,
                "BatchDeleteBuilds with {} ids",
                input.ids().len()
            );
            store.deletes.lock().unwrap().push(input.ids().to_vec());
            let mut builds = store.builds.lock().unwrap();
            let mut out = BatchDeleteBuildsOutput::builder();
            for i in input.ids() {
                if refuse.iter().any(|n| &id(*n) == i) {
                    out = out.builds_not_deleted(
                        BuildNotDeleted::builder()
                            .id(i)
                            .status_code("BUILD_IN_PROGRESS")
                            .build(),
                    );
                } else {
                    builds.remove(i);
                    out = out.builds_deleted(i);
                }
            }
            out.build()
        })
    }
}

fn cleanup(rules: &[&Rule], dry_run: bool) -> Cleanup<CodeBuildHistory> {
    let client = mock_client!(aws_sdk_codebuild, RuleMode::MatchAny, rules, |c| c
        .retry_config(retry_config(Duration::from_millis(1))));
    Cleanup {
        project: "dockhand".into(),
        retention_days: 7,
        dry_run,
        history: CodeBuildHistory::new(client),
    }
}

#[tokio::test]
async fn no_builds() {
    let store = Store::default();
    let (list, get, delete) = (store.list_rule(), store.get_rule(), store.delete_rule(&[]));
    let summary = cleanup(&[&list, &get, &delete], false).run(NOW).await.unwrap();
    assert_eq!(summary.line(), "cleanup: examined 0, deleted 0, kept 0, failed 0");
    assert_eq!((list.num_calls(), get.num_calls(), delete.num_calls()), (1, 0, 0));
}

#[tokio::test]
async fn three_pages_of_mixed_ages() {
    let store = Store::mixed();
    let (list, get, delete) = (store.list_rule(), store.get_rule(), store.delete_rule(&[]));
    let summary = cleanup(&[&list, &get, &delete], false).run(NOW).await.unwrap();
    let expected = store.expected_expired();
    assert_eq!(expected.len(), 165);
    assert_eq!(summary.deleted, expected);
    assert_eq!(summary.line(), "cleanup: examined 250, deleted 165, kept 85, failed 0");
    assert_eq!(list.num_calls(), 3, "100 + 100 + 50 ids");
    assert_eq!(get.num_calls(), 3);
    assert_eq!(delete.num_calls(), 2, "165 ids in batches of at most 100");
    let batches = store.deletes.lock().unwrap().clone();
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [100, 65]);
    assert!(!batches.concat().contains(&id(6)) && !batches.concat().contains(&id(11)));
    let left = store.builds.lock().unwrap();
    assert!(left.contains_key(&id(6)) && left.contains_key(&id(11)) && left.contains_key(&id(1)));
}

#[tokio::test]
async fn a_second_run_deletes_nothing() {
    let store = Store::mixed();
    let (list, get, delete) = (store.list_rule(), store.get_rule(), store.delete_rule(&[]));
    let c = cleanup(&[&list, &get, &delete], false);
    assert_eq!(c.run(NOW).await.unwrap().deleted.len(), 165);
    let again = c.run(NOW).await.unwrap();
    assert!(again.deleted.is_empty());
    assert_eq!(again.line(), "cleanup: examined 85, deleted 0, kept 85, failed 0");
    assert_eq!(delete.num_calls(), 2, "no delete call in the second run");
}

#[tokio::test]
async fn dry_run_only_reports() {
    let store = Store::mixed();
    let (list, get, delete) = (store.list_rule(), store.get_rule(), store.delete_rule(&[]));
    let summary = cleanup(&[&list, &get, &delete], true).run(NOW).await.unwrap();
    assert_eq!(
        summary.line(),
        "cleanup (dry run): examined 250, would delete 165, kept 85, failed 0"
    );
    assert_eq!(summary.deleted, store.expected_expired());
    assert_eq!(delete.num_calls(), 0);
    assert_eq!(store.builds.lock().unwrap().len(), 250);
}

#[tokio::test]
async fn builds_not_deleted_end_the_run_in_error() {
    let store = Store::mixed();
    let (list, get, delete) = (store.list_rule(), store.get_rule(), store.delete_rule(&[0, 2, 249]));
    let err = cleanup(&[&list, &get, &delete], false).run(NOW).await.unwrap_err();
    let CleanupError::NotDeleted(summary) = &err else {
        panic!("{err}")
    };
    assert_eq!(summary.deleted.len(), 162);
    assert_eq!(
        summary.failed,
        [
            (id(0), "BUILD_IN_PROGRESS".into()),
            (id(2), "BUILD_IN_PROGRESS".into()),
            (id(249), "BUILD_IN_PROGRESS".into())
        ]
    );
    assert_eq!(summary.line(), "cleanup: examined 250, deleted 162, kept 85, failed 3");
    assert!(err.to_string().starts_with("3 build(s) could not be deleted"), "{err}");
}

#[tokio::test]
async fn throttling_is_retried_then_reported() {
    let store = Store::mixed();
    let list = store.list_rule();
    // The first BatchGetBuilds is throttled twice, then answered (the SDK retries within
    // the one call, so the answer is fixed in advance); later batches are answered at once.
    let first_batch: Vec<String> = (0..100).map(id).collect();
    let first_answer = store.answer(&first_batch);
    let throttled_get = mock!(Client::batch_get_builds)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .times(2)
        .output(move || first_answer.clone())
        .build();
    let get = store.get_rule();
    // BatchDeleteBuilds throttled for ever: every batch fails after the bounded attempts.
    let throttled_delete = mock!(Client::batch_delete_builds)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .repeatedly()
        .build();
    let c = cleanup(&[&list, &throttled_get, &get, &throttled_delete], false);
    let err = c.run(NOW).await.unwrap_err();
    let CleanupError::NotDeleted(summary) = &err else {
        panic!("{err}")
    };
    assert_eq!(throttled_get.num_calls(), 3, "two throttled attempts, then the answer");
    assert_eq!(get.num_calls(), 2, "the other two batches");
    assert_eq!(throttled_delete.num_calls(), 2 * MAX_ATTEMPTS as usize);
    assert_eq!(summary.failed.len(), 165);
    assert!(
        summary.failed[0].1.contains("ThrottlingException"),
        "{:?}",
        summary.failed[0]
    );
    assert_eq!(store.builds.lock().unwrap().len(), 250, "nothing deleted");
}

#[tokio::test]
async fn builds_of_another_project_are_never_deleted() {
    let store = Store::mixed();
    store.builds.lock().unwrap().insert(
        "intruder:1".into(),
        Stored {
            complete: true,
            end: Some(NOW - 90 * DAY),
            project: "intruder",
        },
    );
    let (list, get, delete) = (store.list_rule(), store.get_rule(), store.delete_rule(&[]));
    let summary = cleanup(&[&list, &get, &delete], false).run(NOW).await.unwrap();
    assert!(!summary.deleted.contains(&"intruder:1".to_string()));
    assert!(store.builds.lock().unwrap().contains_key("intruder:1"));
}
