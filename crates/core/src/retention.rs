//! Which build records the weekly cleanup removes: only this project's, only complete
//! ones, only those that ended before the retention window.

/// What the cleanup knows of one build record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRecord {
    pub id: String,
    pub project: String,
    pub complete: bool,
    /// Seconds since the Unix epoch; `None` for builds that have not ended.
    pub end_time: Option<i64>,
}

pub const DEFAULT_RETENTION_DAYS: u32 = 7;
/// BatchGetBuilds and BatchDeleteBuilds take at most 100 ids per call.
pub const BATCH_LIMIT: usize = 100;

/// The ids to delete: complete builds of `project` that ended more than `retention_secs`
/// before `now`. Anything running, without an end time, or of another project is kept.
pub fn expired(builds: &[BuildRecord], project: &str, now: i64, retention_secs: i64) -> Vec<String> {
    let cutoff = now.saturating_sub(retention_secs);
    builds
        .iter()
        .filter(|b| b.project == project && b.complete && b.end_time.is_some_and(|end| end < cutoff))
        .map(|b| b.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400;

    fn build(id: &str, project: &str, complete: bool, end: Option<i64>) -> BuildRecord {
        BuildRecord {
            id: id.into(),
            project: project.into(),
            complete,
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
    }
}
