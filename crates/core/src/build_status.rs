//! `dockhand status`: one row per CodeBuild build, from what BatchGetBuilds answers
//! (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_Build.html), and the
//! filters, the text table and the JSON lines made of those rows.
//!
//! What a build is comes from the environment variables the spawner sets
//! ([`crate::start_build`], [`crate::retag`]): `DOCKER_REPO`, `DOCKHAND_TAGS`,
//! `SOURCE_COMMIT`, `DOCKHAND_REPOSITORY`, `BUILD_CONTEXT`, and `DOCKHAND_ORDER` for a build
//! someone asked for. Their values come from pushes (branch names, tags, paths), so the
//! text table shows them cleaned ([`crate::notification::clean_line`]): no control
//! character, newline or bidirectional override reaches the terminal. JSON shows them as
//! they are, escaped.

use crate::notification::clean_line;
use crate::retag::RETAG_VARIABLE;
use serde::Serialize;

/// The build's order, when `dockhand build` asked for it (the contract of issue 20).
pub const ORDER_VARIABLE: &str = "DOCKHAND_ORDER";

/// One phase of a build, as `Build.phases` holds it
/// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BuildPhase.html).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhaseFacts {
    pub phase_type: String,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub duration: Option<i64>,
}

/// What `dockhand status` reads of one build: the SDK's `Build` in plain fields, times
/// in Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFacts {
    pub id: String,
    /// `buildStatus`: IN_PROGRESS, SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED.
    pub status: String,
    pub current_phase: String,
    pub complete: bool,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub phases: Vec<PhaseFacts>,
    /// The environment overrides StartBuild gave, name and value.
    pub environment: Vec<(String, String)>,
}

impl BuildFacts {
    fn env(&self, name: &str) -> Option<&str> {
        self.environment
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a build does: builds one image, or re-tags images pushed before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Build,
    Retag,
}

/// One line of `dockhand status`. Times in Unix seconds, durations in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub build_id: String,
    pub kind: Kind,
    /// The image's repository with its registry (`docker.io/acme/web`); a re-tag job's
    /// images, comma-separated.
    pub image: String,
    pub tags: Vec<String>,
    /// The GitHub repository, `owner/name`.
    pub repository: String,
    pub context: String,
    /// The full commit; the table shows its first 7 characters.
    pub commit: String,
    pub status: String,
    pub phase: String,
    pub started: Option<i64>,
    pub ended: Option<i64>,
    /// End (or now, while it runs) minus start.
    pub duration: Option<i64>,
    /// How long it waited in CodeBuild's queue: the QUEUED phase's duration (so far).
    pub queued: Option<i64>,
    /// The `dockhand build` order that asked for it, if one did.
    pub order: Option<String>,
}

/// A re-tag job's images and tags, from its lines (`repository TAB key tag TAB tags TAB
/// moving tags`, [`crate::retag`]): every repository, and every tag once.
fn retag_images(lines: &str) -> (Vec<String>, Vec<String>) {
    let mut images: Vec<String> = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    for line in lines.lines() {
        let mut fields = line.split('\t');
        if let Some(repository) = fields.next().filter(|r| !r.is_empty())
            && !images.iter().any(|i| i == repository)
        {
            images.push(repository.to_owned());
        }
        for tag in fields.nth(1).unwrap_or_default().split(',').filter(|t| !t.is_empty()) {
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_owned());
            }
        }
    }
    (images, tags)
}

/// The row of `build`, at `now` (Unix seconds) for a build still running.
pub fn row(build: &BuildFacts, now: i64) -> Row {
    let text = |name: &str| build.env(name).unwrap_or_default().to_owned();
    let (kind, image, tags) = match build.env(RETAG_VARIABLE) {
        Some(lines) => {
            let (images, tags) = retag_images(lines);
            (Kind::Retag, images.join(","), tags)
        }
        None => (
            Kind::Build,
            text("DOCKER_REPO"),
            text("DOCKHAND_TAGS")
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
    };
    let until = |end: Option<i64>| if build.complete { end } else { end.or(Some(now)) };
    let duration = build
        .start
        .zip(until(build.end))
        .map(|(start, end)| (end - start).max(0));
    let queued = build.phases.iter().find(|p| p.phase_type == "QUEUED").and_then(|p| {
        p.duration
            .or_else(|| p.start.zip(until(p.end)).map(|(start, end)| (end - start).max(0)))
    });
    Row {
        build_id: build.id.clone(),
        kind,
        image,
        tags,
        repository: text("DOCKHAND_REPOSITORY"),
        context: text("BUILD_CONTEXT"),
        commit: text("SOURCE_COMMIT"),
        status: build.status.clone(),
        phase: build.current_phase.clone(),
        started: build.start,
        ended: build.end,
        duration,
        queued,
        order: build.env(ORDER_VARIABLE).map(str::to_owned),
    }
}

/// Which rows `dockhand status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `owner/name`, compared without regard to case (GitHub's names are not).
    pub repository: Option<String>,
    /// An image repository, with or without its registry host.
    pub image: Option<String>,
    /// Builds started at or after this Unix time.
    pub since: i64,
}

impl Filter {
    pub fn matches(&self, row: &Row) -> bool {
        let repository = self
            .repository
            .as_deref()
            .is_none_or(|r| r.eq_ignore_ascii_case(&row.repository));
        let image = self
            .image
            .as_deref()
            .is_none_or(|wanted| row.image.split(',').any(|image| same_image(image, wanted)));
        repository && image && row.started.is_some_and(|s| s >= self.since)
    }
}

/// `docker.io/acme/web` is `acme/web` and `docker.io/acme/web`; a trailing `/` or a
/// registry's `https://` are not part of a repository's name.
fn same_image(image: &str, wanted: &str) -> bool {
    let wanted = wanted.trim().trim_start_matches("https://").trim_end_matches('/');
    image == wanted || image.split_once('/').is_some_and(|(_, path)| path == wanted)
}

/// `95s`, `4m05s`, `2h03m`: short and exact enough for a column.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

const HEADINGS: [&str; 9] = [
    "STARTED", "IMAGE", "TAGS", "COMMIT", "STATUS", "PHASE", "DURATION", "QUEUED", "BUILD",
];

/// A value of the text table: one clean line, at most 60 characters.
fn cell(text: &str) -> String {
    let cleaned = clean_line(text, 60);
    if cleaned.is_empty() { "-".into() } else { cleaned }
}

/// The text table: a heading, then one line per row in the order given, columns aligned
/// (by characters), two spaces apart.
pub fn table(rows: &[Row]) -> String {
    let lines: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            let image = match r.kind {
                Kind::Build => r.image.clone(),
                Kind::Retag => format!("re-tag {}", r.image.replace(',', " ")),
            };
            [
                r.started.map_or("-".into(), crate::time::utc_minute),
                cell(&image),
                cell(&r.tags.join(",")),
                cell(&r.commit.chars().take(7).collect::<String>()),
                cell(&r.status),
                cell(&r.phase),
                r.duration.map_or("-".into(), duration),
                r.queued.map_or("-".into(), duration),
                cell(&r.build_id),
            ]
        })
        .collect();
    let mut widths = HEADINGS.map(|h| h.chars().count());
    for line in &lines {
        for (w, value) in widths.iter_mut().zip(line) {
            *w = (*w).max(value.chars().count());
        }
    }
    let mut out = String::new();
    let headings = HEADINGS.map(str::to_owned);
    for line in std::iter::once(&headings).chain(&lines) {
        let mut text = String::new();
        for (i, (value, width)) in line.iter().zip(widths).enumerate() {
            if i + 1 == line.len() {
                text.push_str(value);
            } else {
                text.push_str(&format!("{value:<width$}  "));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// One JSON object on one line: every field of the row, times in Unix seconds and as
/// RFC 3339 (`started_at`, `ended_at`), durations in seconds.
pub fn json_line(row: &Row) -> String {
    let mut value = serde_json::to_value(row).expect("a row serializes");
    value["started_at"] = row.started.map(crate::time::rfc3339).into();
    value["ended_at"] = row.ended.map(crate::time::rfc3339).into();
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    fn phase(kind: &str, start: i64, end: Option<i64>) -> PhaseFacts {
        PhaseFacts {
            phase_type: kind.into(),
            start: Some(start),
            end,
            duration: end.map(|e| e - start),
        }
    }

    fn image_build() -> BuildFacts {
        BuildFacts {
            id: "dockhand:0b1c".into(),
            status: "SUCCEEDED".into(),
            current_phase: "COMPLETED".into(),
            complete: true,
            start: Some(1_764_662_400),
            end: Some(1_764_662_400 + 245),
            phases: vec![
                phase("SUBMITTED", 1_764_662_400, Some(1_764_662_400)),
                phase("QUEUED", 1_764_662_400, Some(1_764_662_412)),
                phase("PROVISIONING", 1_764_662_412, Some(1_764_662_430)),
                phase("COMPLETED", 1_764_662_645, None),
            ],
            environment: env(&[
                ("DOCKER_REPO", "docker.io/acme/web"),
                ("DOCKHAND_TAGS", "latest,1.2"),
                ("SOURCE_COMMIT", COMMIT),
                ("DOCKHAND_REPOSITORY", "acme/images"),
                ("BUILD_CONTEXT", "web"),
            ]),
        }
    }

    #[test]
    fn a_finished_build_has_every_field() {
        let row = row(&image_build(), 1_764_700_000);
        assert_eq!(
            row,
            Row {
                build_id: "dockhand:0b1c".into(),
                kind: Kind::Build,
                image: "docker.io/acme/web".into(),
                tags: vec!["latest".into(), "1.2".into()],
                repository: "acme/images".into(),
                context: "web".into(),
                commit: COMMIT.into(),
                status: "SUCCEEDED".into(),
                phase: "COMPLETED".into(),
                started: Some(1_764_662_400),
                ended: Some(1_764_662_645),
                duration: Some(245),
                queued: Some(12),
                order: None,
            }
        );
    }

    /// Still queued: its duration and queued time run until now; an order's id is shown.
    #[test]
    fn a_queued_build_counts_until_now() {
        let mut build = image_build();
        build.status = "IN_PROGRESS".into();
        build.current_phase = "QUEUED".into();
        build.complete = false;
        build.end = None;
        build.phases = vec![
            phase("SUBMITTED", 1_764_662_400, Some(1_764_662_400)),
            phase("QUEUED", 1_764_662_400, None),
        ];
        build
            .environment
            .push(("DOCKHAND_ORDER".into(), "m-0123456789abcdef".into()));
        let row = row(&build, 1_764_662_400 + 30);
        assert_eq!((row.duration, row.queued), (Some(30), Some(30)));
        assert_eq!(row.order.as_deref(), Some("m-0123456789abcdef"));
        assert_eq!(row.phase, "QUEUED");
        // A build with no start time has no duration.
        build.start = None;
        assert_eq!(super::row(&build, 0).duration, None);
    }

    #[test]
    fn a_retag_job_shows_its_images_and_tags() {
        let mut build = image_build();
        build.environment = env(&[
            (
                RETAG_VARIABLE,
                "docker.io/acme/web\tkey-1\tlatest,1.2\tlatest\ndocker.io/acme/api\tkey-2\tlatest,1.3\tlatest",
            ),
            ("SOURCE_COMMIT", COMMIT),
            ("DOCKHAND_REPOSITORY", "acme/images"),
        ]);
        let row = row(&build, 0);
        assert_eq!(row.kind, Kind::Retag);
        assert_eq!(row.image, "docker.io/acme/web,docker.io/acme/api");
        assert_eq!(row.tags, ["latest", "1.2", "1.3"]);
        let text = table(std::slice::from_ref(&row));
        assert!(text.contains("re-tag docker.io/acme/web docker.io/acme/api"), "{text}");
        // The filter finds it by any of its images.
        let filter = Filter {
            image: Some("acme/api".into()),
            ..Filter::default()
        };
        assert!(filter.matches(&row));
    }

    #[test]
    fn filters_by_repository_image_and_time() {
        let row = row(&image_build(), 0);
        let with = |repository: Option<&str>, image: Option<&str>, since: i64| Filter {
            repository: repository.map(str::to_owned),
            image: image.map(str::to_owned),
            since,
        };
        for (filter, matches) in [
            (with(None, None, 0), true),
            (with(Some("acme/images"), None, 0), true),
            (with(Some("ACME/Images"), None, 0), true),
            (with(Some("acme/other"), None, 0), false),
            (with(None, Some("acme/web"), 0), true),
            (with(None, Some("docker.io/acme/web"), 0), true),
            (with(None, Some("ghcr.io/acme/web"), 0), false),
            (with(None, Some("acme/we"), 0), false),
            (with(None, Some("web"), 0), false),
            (with(None, None, 1_764_662_400), true),
            (with(None, None, 1_764_662_401), false),
        ] {
            assert_eq!(filter.matches(&row), matches, "{filter:?}");
        }
    }

    #[test]
    fn durations_read_at_a_glance() {
        for (seconds, text) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m00s"),
            (245, "4m05s"),
            (3600, "1h00m"),
            (7380, "2h03m"),
            (-5, "0s"),
        ] {
            assert_eq!(duration(seconds), text);
        }
    }

    #[test]
    fn the_table_aligns_its_columns_newest_first_as_given() {
        let done = row(&image_build(), 0);
        let mut running = image_build();
        running.id = "dockhand:ffff".into();
        running.status = "IN_PROGRESS".into();
        running.current_phase = "BUILD".into();
        running.complete = false;
        running.end = None;
        running.start = Some(1_764_662_400 + 600);
        let running = row(&running, 1_764_662_400 + 700);
        let text = table(&[running, done]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            "STARTED            IMAGE               TAGS        COMMIT   STATUS       PHASE      DURATION  QUEUED  BUILD"
        );
        assert_eq!(
            lines[1],
            "2025-12-02 08:10Z  docker.io/acme/web  latest,1.2  3e8a1f5  IN_PROGRESS  BUILD      1m40s     12s     dockhand:ffff"
        );
        assert_eq!(
            lines[2],
            "2025-12-02 08:00Z  docker.io/acme/web  latest,1.2  3e8a1f5  SUCCEEDED    COMPLETED  4m05s     12s     dockhand:0b1c"
        );
    }

    /// Values from a push cannot add lines or control sequences to the table; JSON keeps
    /// them exactly, escaped.
    #[test]
    fn hostile_values_stay_in_their_cell() {
        let mut build = image_build();
        build.environment = env(&[
            ("DOCKER_REPO", "docker.io/acme/web\n2025-01-01 00:00Z  evil"),
            ("DOCKHAND_TAGS", "a\u{1b}[31mred,\u{202e}b"),
            ("SOURCE_COMMIT", "\r\n\t"),
        ]);
        let row = row(&build, 0);
        let text = table(std::slice::from_ref(&row));
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        assert!(!text.contains('\u{202e}'));
        let json: serde_json::Value = serde_json::from_str(&json_line(&row)).unwrap();
        assert_eq!(json["image"], "docker.io/acme/web\n2025-01-01 00:00Z  evil");
        assert_eq!(json["tags"][0], "a\u{1b}[31mred");
        assert!(!json_line(&row).contains('\n'));
    }

    #[test]
    fn json_has_every_field_with_machine_readable_times() {
        let json: serde_json::Value = serde_json::from_str(&json_line(&row(&image_build(), 0))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "build_id": "dockhand:0b1c", "kind": "build", "image": "docker.io/acme/web",
                "tags": ["latest", "1.2"], "repository": "acme/images", "context": "web",
                "commit": COMMIT, "status": "SUCCEEDED", "phase": "COMPLETED",
                "started": 1_764_662_400, "ended": 1_764_662_645,
                "started_at": "2025-12-02T08:00:00Z", "ended_at": "2025-12-02T08:04:05Z",
                "duration": 245, "queued": 12, "order": null
            })
        );
    }
}
