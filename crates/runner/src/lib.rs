//! A local runner for CodeBuild buildspecs: runs, on this machine, the buildspec CodeBuild
//! would run, with CodeBuild's semantics, and produces the EventBridge "CodeBuild Build
//! State Change" events CodeBuild would send, so the notifier handles a local build
//! exactly as it handles a real one.
//!
//! # Semantics, and where they come from
//!
//! From the CodeBuild User Guide's "Build specification reference":
//! - buildspec version 0.2 only; commands run in bash (`env.shell: bash`, the default on
//!   Linux images);
//! - every command of the build runs in the same shell *state*: variables, exported or
//!   not, and the working directory carry from one command to the next and across
//!   phases; the build's first command starts in `CODEBUILD_SRC_DIR`;
//! - a command fails when it exits non-zero; a multi-line command (a YAML block scalar)
//!   is one command whose status is that of its last statement, unless it says `set -e`;
//! - a failed command ends its phase's `commands`; the phase's `finally` commands still
//!   run; the phase fails if any of its commands or `finally` commands failed;
//! - `on-failure: CONTINUE` goes on to the next phase, `on-failure: ABORT` ends the build;
//!   without `on-failure`, the "Build phase transitions" decide (see [`next_phase`]): a
//!   failed INSTALL or PRE_BUILD skips to FINALIZING, a failed BUILD still runs POST_BUILD;
//! - precedence of variables: StartBuild overrides over the buildspec's `env` over the
//!   variables CodeBuild defines over the image's own; `CODEBUILD_` names are reserved;
//! - parameter-store values are masked in the log.
//!
//! From "Environment variables in build environments": the runner defines `AWS_REGION`,
//! `AWS_DEFAULT_REGION`, `CODEBUILD_BUILD_ARN`, `CODEBUILD_BUILD_ID` (`project:uuid`),
//! `CODEBUILD_BUILD_IMAGE`, `CODEBUILD_BUILD_NUMBER`, `CODEBUILD_BUILD_SUCCEEDING` (`1`
//! until a command fails, `0` after), `CODEBUILD_INITIATOR`, `CODEBUILD_LOG_PATH`,
//! `CODEBUILD_PROJECT_ARN`, `CODEBUILD_SRC_DIR` and `CODEBUILD_START_TIME` (Unix ms).
//!
//! From "Build notifications input format reference" and the recorded events in
//! `tests/fixtures/codebuild-*.json`: the two events (IN_PROGRESS when the build starts,
//! the final status when it ends) and their phase records.
//!
//! # What the runner does not do
//!
//! It refuses buildspecs that need what it cannot honour (artifacts with files, cache,
//! reports, batch, run-as, runtime-versions, secrets-manager, exported-variables,
//! `/bin/sh`) instead of ignoring them. It resolves no SSM parameters: the caller reads
//! [`Buildspec::parameter_store`] and passes the values in [`BuildSettings::parameters`],
//! so the runner needs no AWS SDK. It enforces no timeout and has no source download:
//! builds are NO_SOURCE, as dockhand's are. Shell options and traps do not carry from
//! one command to the next (each starts with bash's defaults), and a background process
//! a command starts is not stopped at the end of the build.

mod build_lifecycle;
mod buildspec;
mod clock;
mod container_log;
mod environment;
mod persistent_shell;
mod settings;
mod state_change_event;
mod transitions;

pub use buildspec::{Buildspec, OnFailure, Phase};
pub use settings::{BuildSettings, EnvironmentVariable, random_uuid};
pub use transitions::{PhaseStatus, PhaseType, next_phase};

use std::time::SystemTime;

/// Why a buildspec cannot be run. Every message names the key at fault and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunnerError {
    #[error("the buildspec is not valid YAML: {0}")]
    Yaml(String),
    #[error("{at} {problem}")]
    Invalid { at: String, problem: String },
    #[error(
        "the buildspec uses {} which CodeBuild supports but the local runner does not; \
         remove them, or run this build on CodeBuild",
        .0.join(", ")
    )]
    Unsupported(Vec<String>),
}

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuildStatus {
    Succeeded,
    Failed,
}

/// Why a phase failed, as CodeBuild reports it: `COMMAND_EXECUTION_ERROR` and
/// `Error while executing command: make. Reason: exit status 2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseContext {
    pub status_code: String,
    pub message: String,
}

impl std::fmt::Display for PhaseContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status_code, self.message)
    }
}

/// One phase of a build. COMPLETED, and a phase an event catches while it runs, have a
/// start only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseRecord {
    pub phase_type: PhaseType,
    pub status: Option<PhaseStatus>,
    pub start: SystemTime,
    pub end: Option<SystemTime>,
    /// Whole seconds between the whole-second start and end, so it agrees with the
    /// second-resolution times the events carry.
    pub duration_seconds: Option<u64>,
    pub contexts: Vec<PhaseContext>,
}

impl PhaseRecord {
    pub(crate) fn started(phase_type: PhaseType, start: SystemTime) -> Self {
        PhaseRecord {
            phase_type,
            status: None,
            start,
            end: None,
            duration_seconds: None,
            contexts: vec![],
        }
    }

    pub(crate) fn finished(
        phase_type: PhaseType,
        start: SystemTime,
        end: SystemTime,
        status: PhaseStatus,
        contexts: Vec<PhaseContext>,
    ) -> Self {
        let mut record = PhaseRecord::started(phase_type, start);
        record.finish(end, status, contexts);
        record
    }

    pub(crate) fn finish(&mut self, end: SystemTime, status: PhaseStatus, contexts: Vec<PhaseContext>) {
        self.end = Some(end);
        self.status = Some(status);
        self.duration_seconds = Some(clock::unix_seconds(end).saturating_sub(clock::unix_seconds(self.start)));
        self.contexts = contexts;
    }
}

/// A finished build.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildResult {
    /// `project:uuid`, CodeBuild's build id.
    pub build_id: String,
    /// `arn:aws:codebuild:REGION:ACCOUNT:build/project:uuid`
    pub arn: String,
    pub status: BuildStatus,
    /// Every phase the build went through, in order, ending with COMPLETED.
    pub phases: Vec<PhaseRecord>,
    /// The events passed to `on_event`: IN_PROGRESS, then the final status.
    pub events: Vec<serde_json::Value>,
}

impl BuildResult {
    /// The record of `phase`, if the build went through it.
    pub fn phase(&self, phase: PhaseType) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.phase_type == phase)
    }

    /// The first phase that failed.
    pub fn failed_phase(&self) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.status == Some(PhaseStatus::Failed))
    }
}

/// Runs `spec` as CodeBuild would, writing the build log to `log` and passing the
/// IN_PROGRESS and final state-change events to `on_event` as they happen. A build that
/// fails is a result, not an error: the runner itself cannot fail once the buildspec
/// has parsed, and problems with the settings fail PROVISIONING or DOWNLOAD_SOURCE as
/// they would on CodeBuild.
pub fn run(
    spec: &Buildspec,
    build: &BuildSettings,
    log: &mut dyn std::io::Write,
    on_event: &mut dyn FnMut(&serde_json::Value),
) -> BuildResult {
    build_lifecycle::run(spec, build, log, on_event)
}
