//! The cleanup against aws-smithy-mocks (moto has no BatchDeleteBuilds), over a stateful
//! stand-in for CodeBuild's three calls as AWS documents them:
//!
//! - ListBuildsForProject
//!   (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ListBuildsForProject.html):
//!   pages of at most 100 ids, newest first unless `sortOrder` is `ASCENDING`; a
//!   `nextToken` it did not issue, or a `sortOrder` sent with a `nextToken` (the token keeps
//!   the first page's order; https://github.com/aws/aws-cli/issues/5863), is answered with
//!   `InvalidInputException`. Tokens are opaque strings; behind them, positions that
//!   deleting shifts (offsets) or that it leaves in place (cursors), both tested.
//! - BatchGetBuilds
//!   (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BatchGetBuilds.html):
//!   at most 100 ids, unknown ones in `buildsNotFound`.
//! - BatchDeleteBuilds
//!   (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BatchDeleteBuilds.html):
//!   at most 100 ids; a build in progress is not deleted, named by ARN with
//!   `BUILD_IN_PROGRESS`, as in https://docs.aws.amazon.com/codebuild/latest/userguide/delete-builds.html.
//!
//! Every call answered by the stand-in moves a fake clock on by [`CALL`], so a run meets a
//! simulated deadline: [`TIMEOUT`] after it starts, the function's timeout.

use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::operation::batch_delete_builds::BatchDeleteBuildsOutput;
use aws_sdk_codebuild::operation::batch_get_builds::BatchGetBuildsOutput;
use aws_sdk_codebuild::operation::list_builds_for_project::{ListBuildsForProjectInput, ListBuildsForProjectOutput};
use aws_sdk_codebuild::types::{Build, BuildNotDeleted, SortOrderType, StatusType};
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use dockhand_aws::codebuild::{CodeBuildHistory, MAX_ATTEMPTS, retry_config};
use dockhand_cleanup::{Cleanup, CleanupError, DEFAULT_MARGIN, Summary};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NOW: i64 = 1_795_000_000;
const DAY: i64 = 86_400;
const RETENTION_DAYS: u32 = 7;
const CUTOFF: i64 = NOW - RETENTION_DAYS as i64 * DAY;
const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
/// The function's timeout (cfn/dockhand.yml, CleanupFunction).
const TIMEOUT: Duration = Duration::from_secs(300);
/// What one call takes on the fake clock: an assumption, slower than CodeBuild usually
/// answers, not a measurement.
const CALL: Duration = Duration::from_secs(1);
/// ListBuildsForProject, BatchGetBuilds and BatchDeleteBuilds take or answer at most this
/// many ids.
const LIMIT: usize = 100;

/// How a `nextToken` finds its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tokens {
    /// The index of the page's first build in the current listing: deleting builds
    /// before it shifts what it points to.
    Offset,
    /// The build number the previous page ended at: deleting leaves it in place.
    Cursor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Ascending,
    Descending,
}

#[derive(Clone, Copy, Debug)]
enum Position {
    Offset(usize),
    After(u32),
}

#[derive(Clone, Debug)]
struct Stored {
    number: u32,
    project: &'static str,
    complete: bool,
    start: i64,
    end: Option<i64>,
}

impl Stored {
    /// Due as the cleanup must see it: complete, of the project, ended before the cutoff.
    fn due(&self) -> bool {
        self.project == "dockhand" && self.complete && self.end.is_some_and(|e| e < CUTOFF)
    }
}

#[derive(Default)]
struct State {
    /// Every build ever stored, deleted or not, by id.
    all: HashMap<String, Stored>,
    /// The builds CodeBuild still has, by id.
    builds: HashMap<String, Stored>,
    /// Their build numbers, ascending.
    live: Vec<u32>,
    /// Every build's id by its number.
    ids: HashMap<u32, String>,
    /// Every token issued: what it points to and the order it keeps.
    tokens: HashMap<String, (Position, Order)>,
    /// The ids of every BatchDeleteBuilds call, in order.
    deletes: Vec<Vec<String>>,
    /// The ids of every BatchGetBuilds call, in order.
    gets: Vec<Vec<String>>,
    /// `sortOrder` of every ListBuildsForProject call without a token.
    first_pages: Vec<Option<SortOrderType>>,
    /// The most ids any request carried or any page answered.
    most_ids: usize,
    /// BatchDeleteBuilds refuses these too, as if they were in progress.
    refuse: HashSet<String>,
    /// Answer `sortOrder` with InvalidInputException on every page, as the API reference's
    /// warning about projects of more than 100 builds, read literally, would have it.
    no_sort_order: bool,
    /// ListBuildsForProject calls refused for their `sortOrder`.
    refused_sorts: usize,
}

/// A fake clock: the time gone in the current run.
#[derive(Clone, Default)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn tick(&self) {
        self.0.fetch_add(CALL.as_millis() as u64, Ordering::SeqCst);
    }
    fn elapsed(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::SeqCst))
    }
    fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
    fn time_left(&self) -> impl Fn() -> Duration + use<> {
        let clock = self.clone();
        move || TIMEOUT.saturating_sub(clock.elapsed())
    }
}

/// A project's builds as CodeBuild holds them.
#[derive(Clone)]
struct Store {
    state: Arc<Mutex<State>>,
    tokens: Tokens,
    clock: Clock,
}

/// Build `n`'s id: `project:` and an opaque part whose order says nothing of the build's.
fn id(n: u32) -> String {
    let mut x = u64::from(n).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("dockhand:{:016x}-{:04x}", x ^ (x >> 31), n % 0x1_0000)
}

fn arn(id: &str) -> String {
    format!("arn:aws:codebuild:us-east-1:123456789012:build/{id}")
}

fn invalid_input(
    message: &str,
) -> MockResponse<
    ListBuildsForProjectOutput,
    aws_sdk_codebuild::operation::list_builds_for_project::ListBuildsForProjectError,
> {
    let body = serde_json::json!({ "__type": "InvalidInputException", "message": message }).to_string();
    MockResponse::Http(HttpResponse::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(body),
    ))
}

impl Store {
    fn new(tokens: Tokens, builds: Vec<Stored>) -> Store {
        let mut state = State::default();
        for b in builds {
            let id = if b.project == "dockhand" {
                id(b.number)
            } else {
                format!("{}:{}", b.project, b.number)
            };
            state.live.push(b.number);
            state.ids.insert(b.number, id.clone());
            state.all.insert(id.clone(), b.clone());
            state.builds.insert(id, b);
        }
        state.live.sort();
        Store {
            state: Arc::new(Mutex::new(state)),
            tokens,
            clock: Clock::default(),
        }
    }

    /// 250 builds: a third 10 days old, a third 3 days old, a third 8 days old, in turn;
    /// build 6 still running; build 11 complete but without an end time.
    fn mixed(tokens: Tokens) -> Store {
        let builds = (0..250)
            .map(|n| {
                let end = NOW - [10, 3, 8][n as usize % 3] * DAY;
                Stored {
                    number: n,
                    project: "dockhand",
                    complete: n != 6,
                    start: end - 600,
                    end: (n != 6 && n != 11).then_some(end),
                }
            })
            .collect();
        Store::new(tokens, builds)
    }

    /// Builds 0 to n-1, one every `every` seconds up to an hour ago, each ten minutes
    /// long, all complete.
    fn history(tokens: Tokens, n: u32, every: i64) -> Store {
        Store::new(tokens, (0..n).map(|i| built(i, n, every)).collect())
    }

    fn ids_where(&self, keep: impl Fn(&Stored) -> bool) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut ids: Vec<(u32, String)> = state
            .all
            .iter()
            .filter(|(_, b)| keep(b))
            .map(|(id, b)| (b.number, id.clone()))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    fn due(&self) -> Vec<String> {
        self.ids_where(Stored::due)
    }

    fn left(&self) -> usize {
        self.state.lock().unwrap().builds.len()
    }

    fn deletes(&self) -> Vec<Vec<String>> {
        self.state.lock().unwrap().deletes.clone()
    }

    fn list_rule(&self) -> Rule {
        let store = self.clone();
        mock!(Client::list_builds_for_project).then_compute_response(move |input| store.list(input))
    }

    /// ListBuildsForProject as CodeBuild answers it from this store.
    fn list(
        &self,
        input: &ListBuildsForProjectInput,
    ) -> MockResponse<
        ListBuildsForProjectOutput,
        aws_sdk_codebuild::operation::list_builds_for_project::ListBuildsForProjectError,
    > {
        self.clock.tick();
        assert_eq!(input.project_name(), Some("dockhand"));
        let mut state = self.state.lock().unwrap();
        let (position, order) = match (input.next_token(), input.sort_order()) {
            (Some(_), Some(_)) => return invalid_input("Sort order can't be given with a next token"),
            (_, Some(_)) if state.no_sort_order => {
                state.refused_sorts += 1;
                return invalid_input("Sort order refused");
            }
            (Some(token), None) => match state.tokens.get(token) {
                Some(place) => *place,
                None => return invalid_input("Invalid next token"),
            },
            (None, sort) => {
                state.first_pages.push(sort.cloned());
                let order = match sort {
                    Some(SortOrderType::Ascending) => Order::Ascending,
                    _ => Order::Descending,
                };
                (Position::Offset(0), order)
            }
        };
        let live = &state.live;
        // The index, in this order, of the page's first build.
        let start = match position {
            Position::Offset(i) => i,
            Position::After(n) => match order {
                Order::Ascending => live.partition_point(|m| *m <= n),
                Order::Descending => live.len() - live.partition_point(|m| *m < n),
            },
        };
        let at = |i: usize| match order {
            Order::Ascending => live[i],
            Order::Descending => live[live.len() - 1 - i],
        };
        let end = (start + LIMIT).min(live.len());
        let page: Vec<u32> = (start.min(end)..end).map(at).collect();
        let more = end < live.len();
        state.most_ids = state.most_ids.max(page.len());
        let mut out =
            ListBuildsForProjectOutput::builder().set_ids(Some(page.iter().map(|n| state.ids[n].clone()).collect()));
        if more {
            let next = match self.tokens {
                Tokens::Offset => Position::Offset(end),
                Tokens::Cursor => Position::After(*page.last().expect("a page before the end")),
            };
            let token = format!("token-{}", state.tokens.len() + 1);
            state.tokens.insert(token.clone(), (next, order));
            out = out.next_token(token);
        }
        MockResponse::Output(out.build())
    }

    fn get_rule(&self) -> Rule {
        let store = self.clone();
        mock!(Client::batch_get_builds).then_compute_output(move |input| {
            store.clock.tick();
            store.state.lock().unwrap().gets.push(input.ids().to_vec());
            store.answer(input.ids())
        })
    }

    /// BatchGetBuilds as CodeBuild answers it from this store.
    fn answer(&self, ids: &[String]) -> BatchGetBuildsOutput {
        assert!(ids.len() <= LIMIT, "BatchGetBuilds with {} ids", ids.len());
        let mut state = self.state.lock().unwrap();
        state.most_ids = state.most_ids.max(ids.len());
        let (found, missing): (Vec<&String>, Vec<&String>) = ids.iter().partition(|i| state.builds.contains_key(*i));
        let builds = found
            .iter()
            .map(|i| {
                let s = &state.builds[*i];
                Build::builder()
                    .id(*i)
                    .arn(arn(i))
                    .build_number(i64::from(s.number))
                    .project_name(s.project)
                    .build_complete(s.complete)
                    .build_status(if s.complete {
                        StatusType::Succeeded
                    } else {
                        StatusType::InProgress
                    })
                    .start_time(DateTime::from_secs(s.start))
                    .set_end_time(s.end.map(DateTime::from_secs))
                    .build()
            })
            .collect();
        BatchGetBuildsOutput::builder()
            .set_builds(Some(builds))
            .set_builds_not_found(Some(missing.into_iter().cloned().collect()))
            .build()
    }

    fn delete_rule(&self) -> Rule {
        let store = self.clone();
        mock!(Client::batch_delete_builds).then_compute_output(move |input| store.delete(input.ids()))
    }

    /// BatchDeleteBuilds as CodeBuild answers it: builds in progress (and those in
    /// `refuse`) are not deleted; answers name builds by ARN.
    fn delete(&self, ids: &[String]) -> BatchDeleteBuildsOutput {
        self.clock.tick();
        assert!(ids.len() <= LIMIT, "BatchDeleteBuilds with {} ids", ids.len());
        let mut state = self.state.lock().unwrap();
        state.most_ids = state.most_ids.max(ids.len());
        state.deletes.push(ids.to_vec());
        let mut out = BatchDeleteBuildsOutput::builder();
        let mut gone = Vec::new();
        for i in ids {
            let code = match state.builds.get(i) {
                None => Some("BUILD_NOT_FOUND"),
                Some(b) if !b.complete || state.refuse.contains(i) => Some("BUILD_IN_PROGRESS"),
                Some(_) => None,
            };
            match code {
                Some(code) => {
                    out = out.builds_not_deleted(BuildNotDeleted::builder().id(arn(i)).status_code(code).build());
                }
                None => {
                    let b = state.builds.remove(i).unwrap();
                    gone.push(b.number);
                    out = out.builds_deleted(arn(i));
                }
            }
        }
        // Drop the deleted builds from the listing, moving what follows each down at once.
        let mut at: Vec<usize> = gone.iter().map(|n| state.live.binary_search(n).unwrap()).collect();
        at.sort_unstable();
        let live = &mut state.live;
        let mut to = at.first().copied().unwrap_or(live.len());
        for (k, &i) in at.iter().enumerate() {
            let next = at.get(k + 1).copied().unwrap_or(live.len());
            live.copy_within(i + 1..next, to);
            to += next - i - 1;
        }
        live.truncate(to);
        out.build()
    }

    fn rules(&self) -> [Rule; 3] {
        [self.list_rule(), self.get_rule(), self.delete_rule()]
    }
}

/// Build `i` of `n`: started `every` seconds after build i-1, the last an hour ago; ten
/// minutes long; complete.
fn built(i: u32, n: u32, every: i64) -> Stored {
    let start = NOW - 3_600 - i64::from(n - 1 - i) * every;
    Stored {
        number: i,
        project: "dockhand",
        complete: true,
        start,
        end: Some(start + 600),
    }
}

/// `b`, `days` older.
fn aged(mut b: Stored, days: i64) -> Stored {
    b.start -= days * DAY;
    b.end = b.end.map(|e| e - days * DAY);
    b
}

fn cleanup(rules: &[&Rule], dry_run: bool) -> Cleanup<CodeBuildHistory> {
    let client = mock_client!(aws_sdk_codebuild, RuleMode::MatchAny, rules, |c| c
        .retry_config(retry_config(Duration::from_millis(1))));
    Cleanup {
        project: "dockhand".into(),
        retention_days: RETENTION_DAYS,
        dry_run,
        history: CodeBuildHistory::new(client),
        margin: DEFAULT_MARGIN,
    }
}

fn no_deadline() -> Duration {
    Duration::MAX
}

#[tokio::test]
async fn no_builds() {
    let store = Store::new(Tokens::Offset, Vec::new());
    let [list, get, delete] = store.rules();
    let summary = cleanup(&[&list, &get, &delete], false)
        .run(NOW, no_deadline)
        .await
        .unwrap();
    assert_eq!(summary.line(), "cleanup: examined 0, deleted 0, kept 0, failed 0");
    assert_eq!((list.num_calls(), get.num_calls(), delete.num_calls()), (1, 0, 0));
    assert_eq!(
        store.state.lock().unwrap().first_pages,
        [Some(SortOrderType::Ascending)]
    );
}

/// Both kinds of token: every due build of three pages is deleted, none twice, nothing
/// else, each build read once.
#[tokio::test]
async fn three_pages_of_mixed_ages_with_either_kind_of_token() {
    for tokens in [Tokens::Offset, Tokens::Cursor] {
        let store = Store::mixed(tokens);
        let [list, get, delete] = store.rules();
        let summary = cleanup(&[&list, &get, &delete], false)
            .run(NOW, no_deadline)
            .await
            .unwrap();
        let expected = store.due();
        assert_eq!(expected.len(), 165);
        let mut deleted = summary.deleted.clone();
        deleted.sort_by_key(|i| store.state.lock().unwrap().all[i].number);
        assert_eq!(deleted, expected, "{tokens:?}");
        assert_eq!(summary.line(), "cleanup: examined 250, deleted 165, kept 85, failed 0");
        let state = store.state.lock().unwrap();
        let read: Vec<&String> = state.gets.iter().flatten().collect();
        assert_eq!(read.len(), 250, "{tokens:?}: every build read once");
        assert_eq!(read.iter().collect::<HashSet<_>>().len(), 250);
        let batches = state.deletes.concat();
        assert_eq!(batches.len(), 165, "{tokens:?}: none deleted twice");
        assert!(!batches.contains(&id(6)) && !batches.contains(&id(11)));
        assert!(state.builds.contains_key(&id(6)) && state.builds.contains_key(&id(11)));
        assert!(state.builds.contains_key(&id(1)));
        // The first page, listed again after each deletion from it; always oldest first.
        assert!(state.first_pages.len() > 1);
        assert!(state.first_pages.iter().all(|s| s == &Some(SortOrderType::Ascending)));
        assert!(state.most_ids <= LIMIT);
    }
}

#[tokio::test]
async fn a_second_run_deletes_nothing() {
    let store = Store::mixed(Tokens::Offset);
    let [list, get, delete] = store.rules();
    let c = cleanup(&[&list, &get, &delete], false);
    assert_eq!(c.run(NOW, no_deadline).await.unwrap().deleted.len(), 165);
    let calls = delete.num_calls();
    let again = c.run(NOW, no_deadline).await.unwrap();
    assert!(again.deleted.is_empty());
    assert_eq!(again.line(), "cleanup: examined 85, deleted 0, kept 85, failed 0");
    assert_eq!(delete.num_calls(), calls, "no delete call in the second run");
}

#[tokio::test]
async fn dry_run_only_reports() {
    let store = Store::mixed(Tokens::Offset);
    let [list, get, delete] = store.rules();
    let summary = cleanup(&[&list, &get, &delete], true)
        .run(NOW, no_deadline)
        .await
        .unwrap();
    assert_eq!(
        summary.line(),
        "cleanup (dry run): examined 250, would delete 165, kept 85, failed 0"
    );
    assert_eq!(summary.deleted.len(), 165);
    assert_eq!(
        summary.deleted.iter().collect::<HashSet<_>>(),
        store.due().iter().collect::<HashSet<_>>()
    );
    assert_eq!(delete.num_calls(), 0);
    assert_eq!(list.num_calls(), 3, "three pages, each listed once");
    assert_eq!(store.left(), 250);
}

#[tokio::test]
async fn builds_not_deleted_end_the_run_in_error() {
    let store = Store::mixed(Tokens::Cursor);
    store.state.lock().unwrap().refuse = [id(0), id(2), id(249)].into();
    let [list, get, delete] = store.rules();
    let err = cleanup(&[&list, &get, &delete], false)
        .run(NOW, no_deadline)
        .await
        .unwrap_err();
    let CleanupError::NotDeleted(summary) = &err else {
        panic!("{err}")
    };
    assert_eq!(summary.deleted.len(), 162);
    // Named by ARN in CodeBuild's answer, by id in the summary.
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
    assert_eq!(store.deletes().concat().len(), 165, "each due build asked for once");
}

#[tokio::test]
async fn throttling_is_retried_then_reported() {
    let store = Store::mixed(Tokens::Offset);
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
    let err = c.run(NOW, no_deadline).await.unwrap_err();
    let CleanupError::NotDeleted(summary) = &err else {
        panic!("{err}")
    };
    assert_eq!(throttled_get.num_calls(), 3, "two throttled attempts, then the answer");
    assert_eq!(get.num_calls(), 2, "the other two pages");
    assert_eq!(
        throttled_delete.num_calls(),
        3 * MAX_ATTEMPTS as usize,
        "one batch a page, each tried {MAX_ATTEMPTS} times"
    );
    assert_eq!(list.num_calls(), 3, "nothing deleted: each page listed once");
    assert_eq!(summary.failed.len(), 165);
    assert!(
        summary.failed[0].1.contains("ThrottlingException"),
        "{:?}",
        summary.failed[0]
    );
    assert_eq!(store.left(), 250, "nothing deleted");
}

#[tokio::test]
async fn builds_of_another_project_are_never_deleted() {
    let store = Store::mixed(Tokens::Offset);
    {
        let mut state = store.state.lock().unwrap();
        let intruder = Stored {
            number: 1_000,
            project: "intruder",
            complete: true,
            start: NOW - 90 * DAY,
            end: Some(NOW - 90 * DAY),
        };
        // Listed among the project's builds, as if CodeBuild had got it wrong.
        state.live.push(1_000);
        state.ids.insert(1_000, "intruder:1".into());
        state.builds.insert("intruder:1".into(), intruder.clone());
        state.all.insert("intruder:1".into(), intruder);
    }
    let [list, get, delete] = store.rules();
    let summary = cleanup(&[&list, &get, &delete], false)
        .run(NOW, no_deadline)
        .await
        .unwrap();
    assert!(!summary.deleted.contains(&"intruder:1".to_string()));
    assert!(!store.deletes().concat().contains(&"intruder:1".to_string()));
    assert!(store.state.lock().unwrap().builds.contains_key("intruder:1"));
}

/// Oldest first, a run stops at the first page whose builds all started after the cutoff:
/// 150 due builds, then 1,000 that started within the retention. Three pages are listed
/// (the first twice, as its due builds are deleted); the 850 builds after them never are.
#[tokio::test]
async fn the_listing_stops_at_builds_started_after_the_cutoff() {
    for tokens in [Tokens::Offset, Tokens::Cursor] {
        let mut builds: Vec<Stored> = (0..150).map(|i| aged(built(i, 150, 600), 10)).collect();
        builds.extend((150..1_150).map(|i| Stored {
            number: i,
            ..built(i - 150, 1_000, 300)
        }));
        let store = Store::new(tokens, builds);
        let [list, get, delete] = store.rules();
        let summary = cleanup(&[&list, &get, &delete], false)
            .run(NOW, no_deadline)
            .await
            .unwrap();
        assert_eq!(summary.deleted.len(), 150, "{tokens:?}");
        assert!(summary.reached_recent);
        assert_eq!(
            summary.line(),
            "cleanup: examined 250, deleted 150, kept 100, failed 0; the builds after these started within the retention"
        );
        assert_eq!(list.num_calls(), 3, "{tokens:?}");
        assert_eq!(store.state.lock().unwrap().gets.concat().len(), 250);
        assert_eq!(store.left(), 1_000);
    }
}

/// A CodeBuild that refuses a sort order on every page (the API reference's warning read
/// literally) is listed newest first, without the early stop, and still cleared.
#[tokio::test]
async fn a_refused_sort_order_lists_newest_first_and_still_clears() {
    let store = Store::history(Tokens::Offset, 3_000, 1_200);
    store.state.lock().unwrap().no_sort_order = true;
    let due = store.due();
    assert_eq!(due.len(), 2_498);
    let [list, get, delete] = store.rules();
    let c = cleanup(&[&list, &get, &delete], false);
    let summary = c.run(NOW, no_deadline).await.unwrap();
    assert_eq!(summary.deleted.len(), due.len());
    assert!(!summary.reached_recent, "newest first, nothing proves the rest recent");
    assert_eq!(store.left(), 3_000 - due.len());
    // The refusal is remembered: the next run asks in the default order at once.
    assert_eq!(store.state.lock().unwrap().refused_sorts, 1);
    c.run(NOW, no_deadline).await.unwrap();
    let state = store.state.lock().unwrap();
    assert_eq!(state.refused_sorts, 1);
    assert_eq!(state.first_pages, [None, None]);
}

/// A token CodeBuild no longer knows is refused: the run stops in error, with what it did.
/// The first page holds 100 builds still running (nothing due: the run moves on with its
/// token); the tokens are forgotten as the next page is deleted, so listing it again fails.
#[tokio::test]
async fn a_refused_token_ends_the_run_with_what_was_done() {
    let mut builds: Vec<Stored> = (0..300).map(|i| aged(built(i, 300, 600), 30)).collect();
    for b in &mut builds[..100] {
        b.complete = false;
        b.end = None;
    }
    let store = Store::new(Tokens::Cursor, builds);
    let [list, get, delete] = store.rules();
    let forget = mock!(Client::batch_delete_builds).then_compute_output({
        let store = store.clone();
        move |input| {
            store.state.lock().unwrap().tokens.clear();
            store.delete(input.ids())
        }
    });
    let err = cleanup(&[&list, &get, &forget, &delete], false)
        .run(NOW, no_deadline)
        .await
        .unwrap_err();
    let CleanupError::Failed { error, summary } = &err else {
        panic!("{err}")
    };
    assert!(error.0.contains("InvalidInputException"), "{error}");
    assert_eq!(summary.deleted.len(), 100);
    assert!(
        err.to_string()
            .ends_with("; cleanup: examined 200, deleted 100, kept 100, failed 0"),
        "{err}"
    );
}

/// Under a deadline a run stops cleanly: Ok, with a summary that says so, and the next
/// run goes on where it stopped.
#[tokio::test]
async fn a_run_out_of_time_says_so_and_the_next_continues() {
    let store = Store::history(Tokens::Offset, 2_000, 3_600);
    let due = store.due();
    let [list, get, delete] = store.rules();
    let mut c = cleanup(&[&list, &get, &delete], false);
    // Room for three pages of three calls: the fourth would start 291 s before the deadline.
    c.margin = TIMEOUT - 8 * CALL;
    store.clock.reset();
    let first = c.run(NOW, store.clock.time_left()).await.unwrap();
    assert!(first.out_of_time);
    assert_eq!(first.deleted.len(), 300);
    assert_eq!(first.calls, 9);
    assert_eq!(
        first.line(),
        "cleanup: examined 300, deleted 300, kept 0, failed 0; stopped before the deadline, the next run continues"
    );
    store.clock.reset();
    let second = c.run(NOW, store.clock.time_left()).await.unwrap();
    assert_eq!(second.deleted.len(), 300);
    let deleted: Vec<String> = store.deletes().concat();
    assert_eq!(deleted.iter().collect::<HashSet<_>>().len(), 600, "none twice");
    assert_eq!(deleted, due[..600], "the oldest first, in order");
}

/// The error message is the function's error, which Lambda writes into the dead-letter
/// queue's record: five failures and a count, under 1 KiB for 10,000.
#[tokio::test]
async fn the_error_for_10000_failures_stays_under_1_kib() {
    let store = Store::new(
        Tokens::Cursor,
        (0..10_000).map(|i| aged(built(i, 10_000, 60), 30)).collect(),
    );
    let due = store.due();
    assert_eq!(due.len(), 10_000);
    store.state.lock().unwrap().refuse = due.iter().cloned().collect();
    let [list, get, delete] = store.rules();
    let err = cleanup(&[&list, &get, &delete], false)
        .run(NOW, no_deadline)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.len() < 1_024, "{} bytes: {message}", message.len());
    assert!(message.starts_with(
        "10000 build(s) could not be deleted (cleanup: examined 10000, deleted 0, kept 0, failed 10000): "
    ));
    assert!(message.ends_with("; and 9995 more"), "{message}");
    assert_eq!(message.matches("BUILD_IN_PROGRESS").count(), 5);
    // However long the ids and reasons.
    let long = Summary {
        failed: (0..10_000)
            .map(|n| (format!("{}:{n}", "p".repeat(255)), "é".repeat(2_000)))
            .collect(),
        out_of_time: true,
        ..Summary::default()
    };
    let message = CleanupError::NotDeleted(long).to_string();
    assert!(message.len() < 1_024, "{} bytes", message.len());
    let failed = CleanupError::Failed {
        error: dockhand_core::error::PortError("x".repeat(50_000)),
        summary: Summary::default(),
    };
    assert!(failed.to_string().len() < 1_024);
}

/// The stand-in's two kinds of token are different: following a page's token after
/// deleting from that page skips builds with offsets, and not with cursors. (The cleanup
/// never does: it lists that page's own token again.)
#[tokio::test]
async fn offsets_skip_after_a_deletion_and_cursors_do_not() {
    for (tokens, skipped) in [(Tokens::Offset, 10), (Tokens::Cursor, 0)] {
        let store = Store::history(tokens, 300, 600);
        let [list, get, delete] = store.rules();
        let client = mock_client!(aws_sdk_codebuild, RuleMode::MatchAny, &[&list, &get, &delete]);
        let first = client
            .list_builds_for_project()
            .project_name("dockhand")
            .sort_order(SortOrderType::Ascending)
            .send()
            .await
            .unwrap();
        assert_eq!(first.ids(), (0..100).map(id).collect::<Vec<_>>());
        client
            .batch_delete_builds()
            .set_ids(Some((0..10).map(id).collect()))
            .send()
            .await
            .unwrap();
        let second = client
            .list_builds_for_project()
            .project_name("dockhand")
            .set_next_token(first.next_token().map(str::to_owned))
            .send()
            .await
            .unwrap();
        assert_eq!(second.ids()[0], id(100 + skipped), "{tokens:?}");
        // A sort order with a token, or a token never issued, is refused.
        for (token, sort) in [
            (first.next_token(), Some(SortOrderType::Ascending)),
            (Some("made-up"), None),
        ] {
            let refused = client
                .list_builds_for_project()
                .project_name("dockhand")
                .set_next_token(token.map(str::to_owned))
                .set_sort_order(sort)
                .send()
                .await
                .unwrap_err();
            assert!(
                refused
                    .as_service_error()
                    .is_some_and(|e| e.is_invalid_input_exception()),
                "{refused:?}"
            );
        }
    }
}

/// A third of the old builds kept (complete, no end time), in turn with due ones: pages
/// fill up with kept builds, so runs move on with tokens from pages listed again after
/// deletions, many times, under the deadline. Each kind of token: every due build
/// deleted once, nothing else asked for. (Kept builds cost every later run a read: 2 calls
/// a page of them, so the runs delete fewer and fewer.)
#[tokio::test]
async fn many_kept_builds_with_either_kind_of_token() {
    for tokens in [Tokens::Offset, Tokens::Cursor] {
        let store = Store::new(
            tokens,
            (0..6_000)
                .map(|i| {
                    let mut b = aged(built(i, 6_000, 60), 8);
                    if i % 3 == 0 {
                        b.end = None;
                    }
                    b
                })
                .collect(),
        );
        let due: HashSet<String> = store.due().into_iter().collect();
        assert_eq!(due.len(), 4_000);
        let (runs, last) = simulate(&store, 10).await;
        assert!(!last.reached_recent, "no recent builds: the last page ends it");
        eprintln!(
            "{tokens:?} tokens, a third kept: {} runs; per run (calls, deleted): {:?}",
            runs.len(),
            runs.iter().map(|r| (r.calls, r.deleted)).collect::<Vec<_>>()
        );
        let state = store.state.lock().unwrap();
        let asked: Vec<&String> = state.deletes.iter().flatten().collect();
        assert_eq!(asked.len(), due.len(), "{tokens:?}");
        assert!(asked.iter().all(|i| due.contains(*i)));
        assert!(state.builds.keys().all(|i| !due.contains(i)));
    }
}

/// What a run of [`simulate`] did.
#[derive(Debug)]
struct Run {
    calls: usize,
    deleted: usize,
    elapsed: Duration,
}

/// Runs the cleanup until a run finishes before its deadline, at most `bound` runs, each
/// with the fake clock started anew; answers every run, checking what each must hold, and
/// the last run's summary.
async fn simulate(store: &Store, bound: usize) -> (Vec<Run>, Summary) {
    let [list, get, delete] = store.rules();
    let c = cleanup(&[&list, &get, &delete], false);
    let mut runs = Vec::new();
    for _ in 0..bound {
        store.clock.reset();
        let gets_before = store.state.lock().unwrap().gets.len();
        let summary = c
            .run(NOW, store.clock.time_left())
            .await
            .unwrap_or_else(|e| panic!("run {}: {e}", runs.len() + 1));
        let elapsed = store.clock.elapsed();
        // Within the function's timeout: the last page started with the margin left.
        assert!(elapsed <= TIMEOUT - DEFAULT_MARGIN + 3 * CALL, "{elapsed:?}");
        assert_eq!(summary.calls as u128, elapsed.as_millis() / CALL.as_millis());
        // Nothing examined twice in a run.
        let state = store.state.lock().unwrap();
        let read: Vec<&String> = state.gets[gets_before..].iter().flatten().collect();
        assert_eq!(read.len(), read.iter().collect::<HashSet<_>>().len());
        drop(state);
        runs.push(Run {
            calls: summary.calls,
            deleted: summary.deleted.len(),
            elapsed,
        });
        if !summary.out_of_time {
            return (runs, summary);
        }
        assert!(
            summary
                .line()
                .ends_with("; stopped before the deadline, the next run continues")
        );
    }
    panic!("not done in {bound} runs: {runs:?}")
}

/// 100,000 builds, one every 80 s for 92 days up to an hour ago, 10 minutes each.
const BUILDS: u32 = 100_000;
/// Still in progress among the oldest 2,000: every 97th.
fn stuck(i: u32) -> bool {
    i < 2_000 && i % 97 == 50
}
/// Complete without an end time: every 5,000th.
fn endless(i: u32) -> bool {
    i % 5_000 == 2_500
}
/// The newest 20 are still running.
const RUNNING: u32 = 20;

/// The builds of [`BUILDS`]: the newest 7,516 started after the cutoff (the last 20 still
/// running), the 7 before them ended after it; [`stuck`] and [`endless`] ones are kept
/// too; the other 92,438 are due.
fn hundred_thousand(tokens: Tokens) -> Store {
    let builds = (0..BUILDS)
        .map(|i| {
            let mut b = built(i, BUILDS, 80);
            if stuck(i) || i >= BUILDS - RUNNING {
                b.complete = false;
                b.end = None;
            } else if endless(i) {
                b.end = None;
            }
            b
        })
        .collect();
    Store::new(tokens, builds)
}

/// The bound on runs, from the figures. A run lists a page while at least the margin is
/// left, so, at [`CALL`] a call and 3 calls a page (list, read, delete), it lists at least
/// (300 - 20) / 3 + 1 = 94 pages. Every page before the recent builds deletes all but the
/// builds it holds that are kept: at most `kept_old`, the kept builds listed before the
/// last due one (a page listed again after a deletion still holds the builds it kept, and
/// those of earlier runs come first). So a run that runs out of time deletes at least
/// 94 x (100 - kept_old), and one more run reaches the recent builds.
fn run_bound(due: usize, kept_old: usize) -> usize {
    let pages = ((TIMEOUT - DEFAULT_MARGIN).as_secs() / (3 * CALL.as_secs()) + 1) as usize;
    due.div_ceil(pages * (LIMIT - kept_old)) + 1
}

async fn clears_100000_builds(tokens: Tokens) {
    let store = hundred_thousand(tokens);
    let due: HashSet<String> = store.due().into_iter().collect();
    assert_eq!(due.len(), 92_438);
    let last_due = store
        .ids_where(Stored::due)
        .last()
        .map(|i| store.state.lock().unwrap().all[i].number);
    let kept_old = store.ids_where(|b| !b.due() && Some(b.number) < last_due).len();
    assert_eq!(kept_old, 39);
    let bound = run_bound(due.len(), kept_old);
    assert_eq!(bound, 18);
    let started = std::time::Instant::now();
    let (runs, last) = simulate(&store, bound).await;
    assert!(
        last.reached_recent,
        "stopped at the recent builds, before the last page"
    );
    eprintln!(
        "{tokens:?} tokens: {} runs (bound {bound}) in {:.1} s; per run (calls, deleted, simulated s): {:?}",
        runs.len(),
        started.elapsed().as_secs_f64(),
        runs.iter()
            .map(|r| (r.calls, r.deleted, r.elapsed.as_secs()))
            .collect::<Vec<_>>()
    );
    let state = store.state.lock().unwrap();
    // Every due build deleted, none twice, nothing else ever asked for.
    let asked: Vec<&String> = state.deletes.iter().flatten().collect();
    assert_eq!(asked.len(), due.len(), "each due build in exactly one delete call");
    assert!(
        asked.iter().all(|i| due.contains(*i)),
        "nothing running, recent or without an end asked for"
    );
    assert!(state.builds.keys().all(|i| !due.contains(i)));
    assert_eq!(state.builds.len(), BUILDS as usize - due.len());
    assert!(state.most_ids <= LIMIT);
    assert!(state.first_pages.iter().all(|s| s == &Some(SortOrderType::Ascending)));
    assert_eq!(runs.iter().map(|r| r.deleted).sum::<usize>(), due.len());
}

#[tokio::test]
async fn offset_tokens_clear_100000_builds_within_the_bound() {
    clears_100000_builds(Tokens::Offset).await;
}

#[tokio::test]
async fn cursor_tokens_clear_100000_builds_within_the_bound() {
    clears_100000_builds(Tokens::Cursor).await;
}
