//! GitHub commit statuses (opt-in, `commit_statuses`): the status the notifier posts for
//! one CodeBuild state change of an image build, as GitHub's "Create a commit status"
//! takes it (https://docs.github.com/en/rest/commits/statuses#create-a-commit-status).
//!
//! One status per image build, on the commit it built, under the context
//! `dockhand/<directory>` (`dockhand/.` for the repository's root): `pending` when the build
//! starts (IN_PROGRESS), then `success` (SUCCEEDED), `failure` (FAILED: the Dockerfile, a
//! hook or an autotest failed) or `error` (FAULT, TIMED_OUT, STOPPED: the build did not get
//! to say). GitHub keeps the latest status of each context, so the end replaces the start.
//! The link is the build's CloudWatch Logs deep link.
//!
//! None for a re-tag job: its images were built before, from the same files, and their
//! directories are not in its environment (only their images are). None either for a build
//! whose environment does not name a repository this deployment builds, a full commit and
//! a directory: the notifier posts only for dockhand's own builds, and never to a
//! repository a build's environment could choose.

use crate::config::Config;
use crate::notification::{BuildOutcome, clean_line, human, is_plain_url};
use serde::Serialize;

/// GitHub refuses a longer description ("description is too long (maximum is 140
/// characters)").
pub const MAX_DESCRIPTION: usize = 140;
/// What every dockhand context starts with.
pub const CONTEXT_PREFIX: &str = "dockhand/";
/// The longest context dockhand sends: GitHub documents no limit, so a directory path is
/// kept to what a status list can show.
pub const MAX_CONTEXT: usize = 255;

/// A commit status's state, as GitHub spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Success,
    Failure,
    Error,
}

impl State {
    /// The state of a CodeBuild build status; `None` for one that is not a start or an end.
    pub fn of(build_status: &str) -> Option<State> {
        Some(match build_status {
            "IN_PROGRESS" => State::Pending,
            "SUCCEEDED" => State::Success,
            "FAILED" => State::Failure,
            "FAULT" | "TIMED_OUT" | "STOPPED" => State::Error,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Success => "success",
            State::Failure => "failure",
            State::Error => "error",
        }
    }
}

/// One status to post: where (`repository`, `sha`) and the request's body (the rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitStatus {
    /// `owner/name`, one the deployment builds.
    #[serde(skip)]
    pub repository: String,
    /// The full commit id the build built.
    #[serde(skip)]
    pub sha: String,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
    pub description: String,
    pub context: String,
}

impl CommitStatus {
    /// The body of `POST /repos/{owner}/{repo}/statuses/{sha}`.
    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("a commit status serializes")
    }
}

/// The status one build's state change calls for, or why there is none.
pub fn commit_status(o: &BuildOutcome, config: &Config) -> Result<CommitStatus, String> {
    if !o.retagged.is_empty() {
        return Err("a re-tag job: its images were built before, and it names no directory".into());
    }
    let state = State::of(&o.status).ok_or_else(|| format!("build status {:?} is no start or end", o.status))?;
    let repository = o
        .repository
        .as_deref()
        .ok_or("the build names no repository (DOCKHAND_REPOSITORY)")?;
    let plain = repository
        .split_once('/')
        .is_some_and(|(owner, name)| crate::config::is_github_name(owner) && crate::config::is_github_name(name));
    if !plain || !config.builds_repository(repository) {
        return Err(format!(
            "the build's repository {:?} is not one this deployment builds",
            clean_line(repository, 200)
        ));
    }
    let sha = o
        .commit
        .as_deref()
        .filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("the build names no full commit id (SOURCE_COMMIT)")?;
    let directory = o
        .context
        .as_deref()
        .map(|c| clean_line(c, MAX_CONTEXT - CONTEXT_PREFIX.len()))
        .filter(|c| !c.is_empty())
        .ok_or("the build names no directory (BUILD_CONTEXT)")?;
    Ok(CommitStatus {
        repository: repository.to_owned(),
        sha: sha.to_ascii_lowercase(),
        state,
        target_url: o.logs_link.clone().filter(|l| is_plain_url(l)),
        description: description(o),
        context: format!("{CONTEXT_PREFIX}{directory}"),
    })
}

/// What GitHub shows beside the context: how the build went and how long it took, in at
/// most [`MAX_DESCRIPTION`] characters.
pub fn description(o: &BuildOutcome) -> String {
    let took = |verb: &str| match o.duration_secs {
        Some(secs) => format!("{verb} {}", human(secs)),
        None => String::new(),
    };
    let text = match o.status.as_str() {
        "IN_PROGRESS" => match o.image.as_deref() {
            Some(image) => format!("building {}", clean_line(image, 300)),
            None => "building".into(),
        },
        "SUCCEEDED" => format!("built and pushed {}", took("in")),
        "FAILED" => match &o.failed_phase {
            Some((phase, _)) => format!("failed in {} {}", clean_line(phase, 40), took("after")),
            None => format!("failed {}", took("after")),
        },
        "TIMED_OUT" => format!("timed out {}", took("after")),
        "STOPPED" => format!("stopped {}", took("after")),
        "FAULT" => format!("CodeBuild fault {}", took("after")),
        other => clean_line(other, 40),
    };
    clean_line(&text, MAX_DESCRIPTION)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "3e8a1f5c7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f";
    const LOGS: &str = "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=/aws/codebuild/dockhand;stream=a1b2c3d4e5f6";

    fn outcome(status: &str) -> BuildOutcome {
        BuildOutcome {
            project: "dockhand".into(),
            build_id: "arn:aws:codebuild:eu-west-1:123456789012:build/dockhand:a1b2".into(),
            status: status.into(),
            repository: Some("acme/images".into()),
            commit: Some(SHA.into()),
            context: Some("web".into()),
            image: Some("docker.io/acme/web".into()),
            duration_secs: (status != "IN_PROGRESS").then_some(192),
            logs_link: Some(LOGS.into()),
            ..BuildOutcome::default()
        }
    }

    fn config() -> Config {
        crate::testing::deployment().config
    }

    #[test]
    fn each_build_status_has_its_state() {
        for (status, state, description) in [
            ("IN_PROGRESS", State::Pending, "building docker.io/acme/web"),
            ("SUCCEEDED", State::Success, "built and pushed in 3m 12s"),
            ("FAILED", State::Failure, "failed after 3m 12s"),
            ("FAULT", State::Error, "CodeBuild fault after 3m 12s"),
            ("TIMED_OUT", State::Error, "timed out after 3m 12s"),
            ("STOPPED", State::Error, "stopped after 3m 12s"),
        ] {
            let s = commit_status(&outcome(status), &config()).unwrap();
            assert_eq!((s.state, s.description.as_str()), (state, description), "{status}");
            assert_eq!(s.context, "dockhand/web");
            assert_eq!(s.target_url.as_deref(), Some(LOGS));
            assert_eq!((s.repository.as_str(), s.sha.as_str()), ("acme/images", SHA));
        }
        for status in ["QUEUED", "SUBMITTED", "", "UNKNOWN"] {
            assert!(commit_status(&outcome(status), &config()).is_err(), "{status}");
        }
    }

    #[test]
    fn the_body_is_what_github_takes() {
        let mut o = outcome("FAILED");
        o.failed_phase = Some(("BUILD".into(), "COMMAND_EXECUTION_ERROR".into()));
        let body: serde_json::Value = serde_json::from_str(&commit_status(&o, &config()).unwrap().body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "state": "failure",
                "target_url": LOGS,
                "description": "failed in BUILD after 3m 12s",
                "context": "dockhand/web",
            })
        );
        // No link that is not a plain https URL: the field is left out.
        o.logs_link = Some("javascript:alert(1)".into());
        let body: serde_json::Value = serde_json::from_str(&commit_status(&o, &config()).unwrap().body()).unwrap();
        assert!(body.get("target_url").is_none(), "{body}");
    }

    #[test]
    fn the_root_is_dockhand_dot() {
        let mut o = outcome("SUCCEEDED");
        o.context = Some(".".into());
        assert_eq!(commit_status(&o, &config()).unwrap().context, "dockhand/.");
    }

    #[test]
    fn only_dockhands_builds_of_listed_repositories() {
        let refused = |change: &dyn Fn(&mut BuildOutcome)| {
            let mut o = outcome("SUCCEEDED");
            change(&mut o);
            commit_status(&o, &config()).unwrap_err()
        };
        assert!(refused(&|o| o.repository = None).contains("DOCKHAND_REPOSITORY"));
        for other in ["someone/else", "acme/images/../x", "acme/..", "acme", "acme/images?x=1"] {
            let e = refused(&|o| o.repository = Some(other.into()));
            assert!(e.contains("not one this deployment builds"), "{other}: {e}");
        }
        for commit in [None, Some("main"), Some("3e8a1f5"), Some(&"g".repeat(40)[..])] {
            assert!(refused(&|o| o.commit = commit.map(str::to_owned)).contains("SOURCE_COMMIT"));
        }
        assert!(refused(&|o| o.context = None).contains("BUILD_CONTEXT"));
        assert!(refused(&|o| o.context = Some("\n\t".into())).contains("BUILD_CONTEXT"));
        let e = refused(&|o| {
            o.retagged = vec![crate::retag::RetagLine {
                repository: "docker.io/acme/web".into(),
                key_tag: format!("dockhand-{}", "ab".repeat(16)),
                tags: vec!["latest".into()],
                moving_tags: vec![],
            }]
        });
        assert!(e.contains("re-tag"), "{e}");
        // An upper-case commit id is GitHub's all the same.
        let mut o = outcome("SUCCEEDED");
        o.commit = Some(SHA.to_ascii_uppercase());
        assert_eq!(commit_status(&o, &config()).unwrap().sha, SHA);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Hostile directories, images, phases and statuses: the body is always JSON that
        /// reads back, the description within GitHub's limit, the context dockhand's.
        #[test]
        fn hostile_values_stay_in_their_fields(
            dir in "(\\PC|\n|\r|\t|\u{202e}|\"|\\\\|/|\\.\\.){1,400}",
            image in "(\\PC|\n|\u{202e}|\"){0,400}",
            phase in "(\\PC|\n|\"){0,200}",
            status in proptest::sample::select(vec!["IN_PROGRESS", "SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"]),
            secs in proptest::option::of(0u64..10_000_000),
        ) {
            let mut o = outcome(status);
            o.context = Some(dir);
            o.image = Some(image);
            o.failed_phase = Some((phase, String::new()));
            o.duration_secs = secs;
            if let Ok(s) = commit_status(&o, &config()) {
                proptest::prop_assert!(s.description.chars().count() <= MAX_DESCRIPTION);
                proptest::prop_assert!(s.context.starts_with(CONTEXT_PREFIX) && s.context.chars().count() <= MAX_CONTEXT);
                proptest::prop_assert!(!s.context.chars().chain(s.description.chars()).any(char::is_control));
                let body: serde_json::Value = serde_json::from_str(&s.body()).unwrap();
                proptest::prop_assert_eq!(body["context"].as_str(), Some(s.context.as_str()));
                proptest::prop_assert_eq!(body["state"].as_str(), Some(s.state.as_str()));
            }
        }
    }
}
