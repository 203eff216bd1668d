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
//! - parameter-store values are masked in the log;
//! - `env.exported-variables`: the listed variables' values at the end of the last
//!   buildspec phase are the build's result ([`BuildResult::exported_variables`]); names
//!   starting with `AWS_` and parameter-store variables cannot be exported.
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
//! reports, batch, run-as, runtime-versions, secrets-manager, git-credential-helper,
//! `/bin/sh`) instead of ignoring them. It resolves no SSM parameters: the caller reads
//! [`Buildspec::parameter_store`] and passes the values in [`BuildSettings::parameters`],
//! so the runner needs no AWS SDK. It enforces no timeout and has no source download:
//! builds are NO_SOURCE, as dockhand's are. Shell options and traps do not carry from
//! one command to the next (each starts with bash's defaults), and a background process
//! a command starts is not stopped at the end of the build.

mod clock; // Unix times and CodeBuild's log stamps.
mod settings; // What a build is started with: its identity, variables and parameters.
mod transitions; // Phases, their statuses, and which phase follows which.
mod buildspec; // The buildspec, parsed and checked against what the runner honours.
mod environment; // The variables a build sees, in CodeBuild's order of precedence.
mod container_log; // The build log, in CodeBuild's format.
mod persistent_shell; // One bash whose state carries from command to command.
mod outcome; // How a build and each phase ended.
mod state_change_event; // The EventBridge events CodeBuild sends.
mod build_lifecycle; // A build, phase by phase.

pub use buildspec::{Buildspec, Phase, RunnerError};
pub use outcome::{BuildResult, BuildStatus, PhaseContext, PhaseRecord};
pub use settings::{BuildSettings, EnvironmentVariable, random_uuid};
pub use transitions::{OnFailure, PhaseStatus, PhaseType, next_phase};

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
    build_lifecycle::run(spec, build, log, on_event, None)
}

/// A build CodeBuild fails before its buildspec runs, in `phase` with `context`: a
/// buildspec it cannot read fails DOWNLOAD_SOURCE with `YAML_FILE_ERROR`, a parameter it
/// cannot decrypt with `Decrypted Variables Error`. Such a build is still a build: it
/// goes through the phases up to that one, and sends its IN_PROGRESS and final state
/// changes like any other, so whatever waits on its end hears of it.
pub fn run_refused(
    build: &BuildSettings,
    phase: PhaseType,
    context: PhaseContext,
    log: &mut dyn std::io::Write,
    on_event: &mut dyn FnMut(&serde_json::Value),
) -> BuildResult {
    // Never reached: the build fails before its phases.
    let empty = Buildspec::parse("version: 0.2\nphases:\n  build:\n    commands:\n      - \"true\"\n")
        .expect("the placeholder buildspec reads");
    build_lifecycle::run(&empty, build, log, on_event, Some((phase, context)))
}

#[cfg(test)]
mod refused_tests {
    use super::*;

    /// A build failed before its buildspec runs still ends with its state changes, FAILED
    /// in the phase given, with the context given.
    #[test]
    fn a_refused_build_sends_its_final_state_change() {
        let dir = std::env::temp_dir().join(format!("dockhand-refused-{}", random_uuid()));
        let build = BuildSettings::new("dockhand", dir.join("src"));
        let mut events = Vec::new();
        let mut log = Vec::new();
        let context = PhaseContext {
            status_code: "YAML_FILE_ERROR".into(),
            message: "did not find expected key".into(),
        };
        let result = run_refused(&build, PhaseType::DownloadSource, context, &mut log, &mut |e| {
            events.push(e.clone())
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(result.status, BuildStatus::Failed);
        assert_eq!(result.failed_phase().unwrap().phase_type, PhaseType::DownloadSource);
        assert_eq!(events.len(), 2);
        let last = &events[1]["detail"];
        assert_eq!(last["build-status"], "FAILED");
        let phases = last["additional-information"]["phases"].as_array().unwrap();
        let failed = phases.iter().find(|p| p["phase-status"] == "FAILED").unwrap();
        assert_eq!(failed["phase-type"], "DOWNLOAD_SOURCE");
        assert_eq!(failed["phase-context"][0], "YAML_FILE_ERROR: did not find expected key");
        // Nothing after it ran: no buildspec phase.
        assert!(!phases.iter().any(|p| p["phase-type"] == "BUILD"));
    }
}
