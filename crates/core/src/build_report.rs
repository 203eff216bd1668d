//! What a build says about the Docker Hub steps it ran: the `##dockhand` lines
//! `buildspecs/build.yml` prints for each hook, each autotest, the `sut` service's last log
//! lines and the description sync, read back from the build's log by the notifier.
//!
//! The build runs the repository's own code (hooks, Compose files, the Dockerfile), which
//! prints to the same log: these lines say no more than the repository could say itself.
//! They are reported as the build's account of its steps; whether the build succeeded
//! comes from CodeBuild, never from here.

/// Every report line starts with this, at the start of a log line.
pub const PREFIX: &str = "##dockhand ";
/// The `sut` lines the build prints after a failed test, and the most kept.
pub const SUT_LINES: usize = 20;
/// Docker Hub's hooks, in the order a build runs them
/// (https://docs.docker.com/docker-hub/repos/manage/builds/advanced/).
pub const HOOKS: [&str; 10] = [
    "post_checkout",
    "pre_build",
    "build",
    "post_build",
    "pre_test",
    "test",
    "post_test",
    "pre_push",
    "push",
    "post_push",
];
/// Bounds on what one report keeps, whatever the log holds: a hook runs once, but a
/// repository's code can print report lines of its own.
const MAX_STEPS: usize = 50;
const MAX_FIELD: usize = 300;

/// A step that ran: a hook, or one autotest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The hook's name, or the test file's name (`hooks/test` for a `test` hook).
    pub name: String,
    /// `None` when it succeeded; the exit status when it failed.
    pub failed: Option<String>,
}

/// How the description sync ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Description {
    /// The file whose text became the repository's full description.
    Synced(String),
    /// Why it was not.
    Failed(String),
}

/// What the report lines of one build say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    pub hooks: Vec<Step>,
    pub tests: Vec<Step>,
    /// Why tests present beside the Dockerfile did not run.
    pub tests_skipped: Option<String>,
    /// The `sut` service's last log lines, after a failed test.
    pub sut_log: Vec<String>,
    pub description: Option<Description>,
}

impl BuildReport {
    /// Reads the report lines out of a log's lines, in the order they were printed; other
    /// lines, and report lines that do not read, are passed over.
    pub fn read<'a>(lines: impl IntoIterator<Item = &'a str>) -> BuildReport {
        let mut report = BuildReport::default();
        for line in lines {
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(rest) = line.strip_prefix(PREFIX) {
                report.add(rest);
            }
        }
        report
    }

    fn add(&mut self, rest: &str) {
        let (kind, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        match kind {
            "hook" => {
                let mut words = rest.split(' ');
                let (Some(name), outcome) = (words.next(), words.next()) else {
                    return;
                };
                if !HOOKS.contains(&name) {
                    return;
                }
                if let Some(step) = step(name, outcome, words.next(), "ok") {
                    push_bounded(&mut self.hooks, step);
                }
            }
            "test" => {
                // The file name is the build's own (`*.test.yml` or `hooks/test`), but may
                // hold spaces: the outcome is the last word but one or the last.
                let words: Vec<&str> = rest.split(' ').collect();
                let parsed = match words.as_slice() {
                    [name @ .., "passed"] if !name.is_empty() => step(&name.join(" "), Some("passed"), None, "passed"),
                    [name @ .., "failed", status] if !name.is_empty() => {
                        step(&name.join(" "), Some("failed"), Some(status), "passed")
                    }
                    _ => None,
                };
                if let Some(step) = parsed {
                    push_bounded(&mut self.tests, step);
                }
            }
            "tests" => {
                if let Some(reason) = rest.strip_prefix("skipped ") {
                    self.tests_skipped = Some(field(reason));
                }
            }
            "sut" => {
                self.sut_log.push(field(rest));
                if self.sut_log.len() > SUT_LINES {
                    self.sut_log.remove(0);
                }
            }
            "description" => {
                self.description = match rest.split_once(' ') {
                    Some(("synced", path)) => Some(Description::Synced(field(path))),
                    Some(("failed", reason)) => Some(Description::Failed(field(reason))),
                    _ => self.description.take(),
                };
            }
            _ => {}
        }
    }

    /// Nothing reported: a build without hooks, tests or description sync.
    pub fn is_empty(&self) -> bool {
        *self == BuildReport::default()
    }

    pub fn failed_hook(&self) -> Option<&Step> {
        self.hooks.iter().find(|h| h.failed.is_some())
    }

    pub fn failed_test(&self) -> Option<&Step> {
        self.tests.iter().find(|t| t.failed.is_some())
    }
}

/// A step from its name and outcome words: `ok`/`passed`, or `failed STATUS`.
fn step(name: &str, outcome: Option<&str>, status: Option<&str>, success: &str) -> Option<Step> {
    let failed = match (outcome?, status) {
        (o, None) if o == success => None,
        ("failed", Some(status)) if !status.is_empty() => Some(field(status)),
        _ => return None,
    };
    Some(Step {
        name: field(name),
        failed,
    })
}

fn push_bounded(steps: &mut Vec<Step>, step: Step) {
    if steps.len() < MAX_STEPS {
        steps.push(step);
    }
}

/// A field as kept: at most [`MAX_FIELD`] bytes, cut on a character boundary. Cleaning
/// for display is the formatter's ([`crate::notification`]).
fn field(s: &str) -> String {
    crate::request::truncate(s, MAX_FIELD).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hooks_tests_sut_and_description_in_order() {
        let log = "\
[Container] 2026/12/02 06:00:00.000 Running command set -euo pipefail
##dockhand hook post_checkout ok
building...
##dockhand hook pre_build ok
##dockhand test docker-compose.test.yml passed
##dockhand test smoke check.test.yml failed 1
##dockhand sut line one
##dockhand sut
##dockhand hook pre_push failed 3
##dockhand description synced docs/README.md
";
        let report = BuildReport::read(log.lines());
        assert_eq!(
            report.hooks,
            [
                Step {
                    name: "post_checkout".into(),
                    failed: None
                },
                Step {
                    name: "pre_build".into(),
                    failed: None
                },
                Step {
                    name: "pre_push".into(),
                    failed: Some("3".into())
                },
            ]
        );
        assert_eq!(
            report.tests,
            [
                Step {
                    name: "docker-compose.test.yml".into(),
                    failed: None
                },
                Step {
                    name: "smoke check.test.yml".into(),
                    failed: Some("1".into())
                },
            ]
        );
        assert_eq!(report.sut_log, ["line one", ""]);
        assert_eq!(report.description, Some(Description::Synced("docs/README.md".into())));
        assert_eq!(report.failed_hook().unwrap().name, "pre_push");
        assert_eq!(report.failed_test().unwrap().name, "smoke check.test.yml");
        assert!(!report.is_empty());
    }

    #[test]
    fn lines_that_do_not_read_are_passed_over() {
        let log = [
            "  ##dockhand hook pre_build ok",   // not at the start of the line
            "##dockhand hook install ok",       // not one of Hub's hooks
            "##dockhand hook pre_build maybe",  // no such outcome
            "##dockhand hook pre_build failed", // no status
            "##dockhand test passed",           // no file
            "##dockhand description pending x", // no such outcome
            "##dockhandhook pre_build ok",
            "[Container] echo \"##dockhand hook build failed $status\"",
        ];
        assert!(BuildReport::read(log).is_empty());
    }

    #[test]
    fn keeps_the_last_sut_lines_and_bounds_everything() {
        let lines: Vec<String> = (0..100)
            .map(|i| format!("##dockhand sut {i}"))
            .chain((0..100).map(|_| "##dockhand hook build ok".to_owned()))
            .chain(std::iter::once(format!(
                "##dockhand tests skipped {}",
                "x".repeat(5000)
            )))
            .collect();
        let report = BuildReport::read(lines.iter().map(String::as_str));
        assert_eq!(report.sut_log.len(), SUT_LINES);
        assert_eq!(report.sut_log.first().unwrap(), "80");
        assert_eq!(report.sut_log.last().unwrap(), "99");
        assert_eq!(report.hooks.len(), MAX_STEPS);
        assert_eq!(report.tests_skipped.unwrap().len(), MAX_FIELD);
    }

    #[test]
    fn the_last_description_line_wins_and_log_line_ends_are_dropped() {
        let report = BuildReport::read([
            "##dockhand description failed 401 from Docker Hub\r\n",
            "##dockhand description synced README.md\n",
        ]);
        assert_eq!(report.description, Some(Description::Synced("README.md".into())));
    }

    proptest::proptest! {
        /// Whatever a repository prints, reading ends, and every field kept is bounded.
        #[test]
        fn any_log_reads_into_a_bounded_report(lines in proptest::collection::vec("(##dockhand )?[a-z_ .]{0,12}( [a-z0-9]{0,6}){0,3}", 0..80)) {
            let report = BuildReport::read(lines.iter().map(String::as_str));
            proptest::prop_assert!(report.sut_log.len() <= SUT_LINES);
            proptest::prop_assert!(report.hooks.len() <= MAX_STEPS && report.tests.len() <= MAX_STEPS);
            for step in report.hooks.iter().chain(&report.tests) {
                proptest::prop_assert!(step.name.len() <= MAX_FIELD);
            }
        }
    }
}
