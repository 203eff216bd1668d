//! What crosses the builds queue: one message per planned build, written by the spawner's
//! planning step and read by its starting step. One definition for both ends.

use crate::config::{DEFAULT_COMPUTE_TYPE, Deployment};
use crate::plan::BuildJob;
use crate::request::BuildRequest;
use crate::retag::{RETAG_TIMEOUT_MINUTES, RETAG_VARIABLE, RetagLine, parse_lines};
use crate::start_build::{BUILD_KEY_VARIABLE, StartBuildRequest};
use serde::{Deserialize, Serialize};

/// SendMessageBatch takes at most 10 messages
/// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html).
pub const SEND_BATCH_LIMIT: usize = 10;
/// A batch's messages together, like one message, may hold at most 256 KiB (262,144
/// bytes), the same page says; dockhand keeps its batches to this.
pub const SEND_BATCH_BYTES: usize = 256 * 1024;

/// The `context` of a re-tag job's message: it builds no directory.
pub const RETAG_CONTEXT: &str = "(re-tag)";

/// One build waiting to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedBuild {
    /// The build's key: signed content only ([`build_key`]).
    pub key: String,
    /// `owner/name`.
    pub repository: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub commit: String,
    /// The delivery that planned it, for logs; it is not part of the key.
    pub delivery: String,
    pub context: String,
    pub image: String,
    pub tags: Vec<String>,
    /// The exact request, as `dockhand plan` prints it.
    pub request: StartBuildRequest,
}

impl QueuedBuild {
    pub fn new(request: &BuildRequest, job: &BuildJob) -> Self {
        QueuedBuild {
            key: job.key.clone(),
            repository: request.repository.full_name.clone(),
            git_ref: request.git_ref.clone(),
            commit: request.commit.clone(),
            delivery: request.delivery.clone(),
            context: job.context.clone(),
            image: job.image.clone(),
            tags: job.tags.clone(),
            request: job.request.clone(),
        }
    }
}

impl QueuedBuild {
    /// The re-tag job of a push ([`crate::retag`]) over `images`, whose checked lines its
    /// request carries.
    pub fn retag(request: &BuildRequest, start: StartBuildRequest, images: &[RetagLine]) -> Self {
        QueuedBuild {
            key: start.idempotency_token.clone(),
            repository: request.repository.full_name.clone(),
            git_ref: request.git_ref.clone(),
            commit: request.commit.clone(),
            delivery: request.delivery.clone(),
            context: RETAG_CONTEXT.into(),
            image: images
                .iter()
                .map(|i| i.repository.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            tags: Vec::new(),
            request: start,
        }
    }

    /// True for a re-tag job.
    pub fn is_retag(&self) -> bool {
        self.request.env(RETAG_VARIABLE).is_some()
    }

    /// Whether this deployment's planning step could have written this message: its own
    /// project, buildspec and settings, a repository it builds with that repository's one
    /// clone URL, a full commit id and a branch or tag ref. Anything that can send to the
    /// builds queue could otherwise start any build on the project's role.
    pub fn check(&self, deployment: &Deployment) -> Result<(), String> {
        let config = &deployment.config;
        let r = &self.request;
        let env = |name: &str| {
            r.environment_variables_override
                .iter()
                .find(|v| v.name == name)
                .map(|v| v.value.as_str())
        };
        let wrong = |what: &str| Err(format!("the queued build's {what} is not what this deployment plans"));
        if r.project_name != config.project {
            return wrong("project");
        }
        if self.key.len() != 64 || !self.key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return wrong("key");
        }
        if r.idempotency_token != self.key || env(BUILD_KEY_VARIABLE) != Some(self.key.as_str()) {
            return wrong("idempotency token");
        }
        // A re-tag job runs its own buildspec, on the smallest compute, briefly; its lines
        // must read back as they were written.
        let (buildspec, compute, timeout) = match env(RETAG_VARIABLE) {
            Some(lines) => {
                if parse_lines(lines).is_err() {
                    return wrong("re-tag lines");
                }
                (
                    crate::buildspec::render_retag_for(config),
                    DEFAULT_COMPUTE_TYPE,
                    RETAG_TIMEOUT_MINUTES,
                )
            }
            None => (
                crate::buildspec::render_for(config),
                config.compute_type.as_str(),
                config.timeout_minutes,
            ),
        };
        if r.buildspec_override != buildspec {
            return wrong("buildspec");
        }
        if r.source_type_override != "NO_SOURCE"
            || r.compute_type_override != compute
            || r.timeout_in_minutes_override != timeout
            || !r.privileged_mode_override
        {
            return wrong("build settings");
        }
        if env("DOCKHAND_REPOSITORY") != Some(self.repository.as_str()) || !config.builds_repository(&self.repository) {
            return wrong("repository");
        }
        if env("SOURCE_REPO_URL") != Some(config.clone_url(&self.repository).as_str()) {
            return wrong("clone URL");
        }
        if env("SOURCE_COMMIT") != Some(self.commit.as_str()) || !crate::request::is_commit_id(&self.commit) {
            return wrong("commit");
        }
        if env("DOCKHAND_REF") != Some(self.git_ref.as_str()) || crate::trust::check_ref(&self.git_ref).is_err() {
            return wrong("ref");
        }
        // A build may be pinned only to images of the shapes planning writes, and name
        // only build keys as its dependents.
        if env(crate::pins::BASES_VARIABLE).is_some_and(|pins| crate::pins::parse_pins(pins).is_err()) {
            return wrong("pinned bases");
        }
        if env(crate::pins::DEPENDENTS_VARIABLE)
            .is_some_and(|d| crate::pins::parse_dependents(d).len() != d.split(',').count())
        {
            return wrong("dependents");
        }
        Ok(())
    }
}

/// Splits encoded messages into SendMessageBatch calls: at most [`SEND_BATCH_LIMIT`]
/// messages and [`SEND_BATCH_BYTES`] each. A message too large for any batch is answered
/// as an error (index, size), never sent.
pub fn send_batches(bodies: &[String]) -> (Vec<Vec<usize>>, Vec<(usize, usize)>) {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut too_large = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for (i, body) in bodies.iter().enumerate() {
        if body.len() > SEND_BATCH_BYTES {
            too_large.push((i, body.len()));
            continue;
        }
        if current.len() == SEND_BATCH_LIMIT || bytes + body.len() > SEND_BATCH_BYTES {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += body.len();
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    (batches, too_large)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn batches_hold_ten_messages_and_256_kib() {
        let small: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
        let (batches, big) = send_batches(&small);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        assert!(big.is_empty());
        let large: Vec<String> = (0..5).map(|_| "x".repeat(100 * 1024)).collect();
        let (batches, _) = send_batches(&large);
        assert_eq!(batches, [vec![0, 1], vec![2, 3], vec![4]]);
        let (batches, big) = send_batches(&["y".repeat(SEND_BATCH_BYTES + 1), "z".into()]);
        assert_eq!((batches, big), (vec![vec![1]], vec![(0, SEND_BATCH_BYTES + 1)]));
    }

    proptest! {
        #[test]
        fn every_message_is_sent_once_or_refused(sizes in proptest::collection::vec(0usize..300_000, 0..40)) {
            let bodies: Vec<String> = sizes.iter().map(|n| "a".repeat(*n)).collect();
            let (batches, big) = send_batches(&bodies);
            let mut seen: Vec<usize> = batches.iter().flatten().copied().chain(big.iter().map(|b| b.0)).collect();
            seen.sort();
            prop_assert_eq!(seen, (0..bodies.len()).collect::<Vec<_>>());
            for b in &batches {
                prop_assert!(b.len() <= SEND_BATCH_LIMIT);
                prop_assert!(b.iter().map(|i| bodies[*i].len()).sum::<usize>() <= SEND_BATCH_BYTES);
            }
        }
    }
}
