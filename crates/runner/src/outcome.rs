//! How a build ended, and each of its phases, as CodeBuild reports them.

use crate::clock;
use crate::transitions::{PhaseStatus, PhaseType};
use std::time::SystemTime;

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
    /// `env.exported-variables`, in the buildspec's order, each with its value at the end
    /// of the build's last buildspec phase: "It can be updated between the start of the
    /// `install` phase and the end of the `post_build` phase. After the `post_build` phase
    /// ends, the value of exported variables cannot change"
    /// (https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec.env.exported-variables;
    /// `Build.exportedEnvironmentVariables`,
    /// https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ExportedEnvironmentVariable.html,
    /// says the same). CodeBuild documents no answer for a variable the build never set:
    /// the runner exports it with an empty value, so a reader must treat an empty value
    /// as none. Empty when no buildspec phase ran (the build failed before INSTALL).
    pub exported_variables: Vec<(String, String)>,
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
