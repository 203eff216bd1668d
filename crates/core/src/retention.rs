//! Which build records the cleanup removes: only this project's, only complete ones, only
//! those that ended before the retention window; and when a listing of them, oldest first,
//! can stop because no later build can be due.

/// What the cleanup knows of one build record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRecord {
    pub id: String,
    pub project: String,
    pub complete: bool,
    /// Seconds since the Unix epoch; `None` when BatchGetBuilds gave none.
    pub start_time: Option<i64>,
    /// Seconds since the Unix epoch; `None` for builds that have not ended.
    pub end_time: Option<i64>,
}

pub const DEFAULT_RETENTION_DAYS: u32 = 7;
/// BatchGetBuilds and BatchDeleteBuilds take at most 100 ids per call, and
/// ListBuildsForProject answers at most 100 per page.
pub const BATCH_LIMIT: usize = 100;

/// The moment before which a build must have ended to be deleted.
pub fn cutoff(now: i64, retention_secs: i64) -> i64 {
    now.saturating_sub(retention_secs)
}

/// The ids to delete: complete builds of `project` that ended more than `retention_secs`
/// before `now`. Anything running, without an end time, or of another project is kept.
pub fn expired(builds: &[BuildRecord], project: &str, now: i64, retention_secs: i64) -> Vec<String> {
    let cutoff = cutoff(now, retention_secs);
    builds
        .iter()
        .filter(|b| b.project == project && b.complete && b.end_time.is_some_and(|end| end < cutoff))
        .map(|b| b.id.clone())
        .collect()
}

/// True when every one of `starts` (the start times of a page of builds, at least one)
/// is at or after the cutoff. None of those builds can be due, since a build cannot end
/// before it started; listed oldest first, no build after them can be due either, so a
/// listing may stop there. A build without a start time proves nothing, and neither does
/// an empty page.
pub fn all_started_after_cutoff(starts: &[Option<i64>], now: i64, retention_secs: i64) -> bool {
    let cutoff = cutoff(now, retention_secs);
    !starts.is_empty() && starts.iter().all(|s| s.is_some_and(|start| start >= cutoff))
}

/// One page of a project's build ids (ListBuildsForProject).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildPage {
    /// At most 100 ids.
    pub ids: Vec<String>,
    /// Opaque: where the next page starts, to be handed back as it is; `None` on the last.
    pub next_token: Option<String>,
    /// True when the pages are in ascending order of build number, oldest first; false
    /// when the service would only answer in its default order, newest first.
    pub oldest_first: bool,
}

/// A build's id (`project:uuid`, what BatchGetBuilds takes and answers) from its id or its
/// ARN (`arn:PARTITION:codebuild:REGION:ACCOUNT:build/ID`, how EventBridge's state changes
/// name it).
pub fn build_id(id_or_arn: &str) -> &str {
    match id_or_arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":build/"))
    {
        Some((_, id)) => id,
        None => id_or_arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ids_from_arns() {
        assert_eq!(
            build_id("arn:aws:codebuild:us-west-2:123456789012:build/dockhand:f8b8-4032"),
            "dockhand:f8b8-4032"
        );
        assert_eq!(
            build_id("arn:aws-cn:codebuild:cn-north-1:123456789012:build/p:1"),
            "p:1"
        );
        assert_eq!(build_id("dockhand:f8b8-4032"), "dockhand:f8b8-4032");
    }
    use proptest::prelude::*;

    const DAY: i64 = 86_400;

    fn build(id: &str, project: &str, complete: bool, end: Option<i64>) -> BuildRecord {
        BuildRecord {
            id: id.into(),
            project: project.into(),
            complete,
            start_time: end.map(|e| e - 600),
            end_time: end,
        }
    }

    #[test]
    fn only_old_complete_builds_of_this_project() {
        let now = 100 * DAY;
        let builds = [
            build("old", "dockhand", true, Some(now - 8 * DAY)),
            build("recent", "dockhand", true, Some(now - 6 * DAY)),
            build("running", "dockhand", false, None),
            build("no-end", "dockhand", true, None),
            build("incomplete-with-end", "dockhand", false, Some(now - 30 * DAY)),
            build("other", "someone-else", true, Some(now - 30 * DAY)),
            build("edge", "dockhand", true, Some(now - 7 * DAY)),
        ];
        assert_eq!(expired(&builds, "dockhand", now, 7 * DAY), ["old"]);
    }

    #[test]
    fn a_page_started_after_the_cutoff_ends_the_listing() {
        let now = 100 * DAY;
        let cut = now - 7 * DAY;
        let stops = |starts: &[Option<i64>]| all_started_after_cutoff(starts, now, 7 * DAY);
        // Whether they ended, and when, does not matter: none can have ended before.
        assert!(stops(&[Some(cut), Some(cut + DAY)]));
        // One build started before the cutoff keeps the listing going, even if it ended
        // after it: the builds listed after it may have started before the cutoff too.
        assert!(!stops(&[Some(cut + DAY), Some(cut - 1)]));
        // Without a start time, or without builds, nothing is known.
        assert!(!stops(&[Some(cut + DAY), None]));
        assert!(!stops(&[]));
    }

    proptest! {
        #[test]
        fn never_selects_a_build_within_the_retention_or_without_an_end(
            builds in proptest::collection::vec((any::<bool>(), proptest::option::of(-1_000i64..1_000), any::<bool>()), 0..50),
            retention in 0i64..500,
        ) {
            let now = 500;
            let records: Vec<BuildRecord> = builds
                .iter()
                .enumerate()
                .map(|(i, (complete, end, ours))| build(&i.to_string(), if *ours { "p" } else { "q" }, *complete, *end))
                .collect();
            let selected = expired(&records, "p", now, retention);
            for id in &selected {
                let b = records.iter().find(|b| &b.id == id).unwrap();
                prop_assert!(b.complete && b.project == "p");
                let end = b.end_time.expect("selected builds have an end time");
                prop_assert!(end < now - retention);
            }
            let expected = records.iter().filter(|b| b.project == "p" && b.complete && b.end_time.is_some_and(|e| e < now - retention)).count();
            prop_assert_eq!(selected.len(), expected);
        }

        /// The stop rule is sound: builds that end no earlier than they start (as builds
        /// do), listed in order of start, hold nothing due from the first page that
        /// `all_started_after_cutoff` accepts onwards, whatever their ends and states.
        #[test]
        fn nothing_due_follows_a_page_started_after_the_cutoff(
            builds in proptest::collection::vec(
                (0i64..1_000, proptest::option::of(0i64..300), any::<bool>(), any::<bool>()),
                1..300,
            ),
            page in 1usize..20,
            retention in 0i64..600,
        ) {
            let now = 1_000;
            let mut builds = builds;
            // Oldest first, as ListBuildsForProject in ascending order lists them.
            builds.sort_by_key(|(start, ..)| *start);
            let records: Vec<BuildRecord> = builds
                .iter()
                .enumerate()
                .map(|(i, (start, took, complete, has_start))| BuildRecord {
                    id: i.to_string(),
                    project: "p".into(),
                    complete: *complete,
                    start_time: has_start.then_some(*start),
                    end_time: took.map(|t| start + t),
                })
                .collect();
            let pages: Vec<&[BuildRecord]> = records.chunks(page).collect();
            let starts = |p: &[BuildRecord]| p.iter().map(|b| b.start_time).collect::<Vec<_>>();
            if let Some(stop) = pages.iter().position(|p| all_started_after_cutoff(&starts(p), now, retention)) {
                let rest: Vec<BuildRecord> = pages[stop..].concat();
                prop_assert!(expired(&rest, "p", now, retention).is_empty());
            }
        }
    }
}
