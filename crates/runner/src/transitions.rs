//! Which phase a build enters next, by CodeBuild's "Build phase transitions" diagram and
//! the buildspec's `on-failure` key.
//!
//! The diagram: every phase leads to the next one in [`PhaseType::ORDER`] when it succeeds.
//! A failure in PROVISIONING, DOWNLOAD_SOURCE, INSTALL or PRE_BUILD goes straight to
//! FINALIZING; a failure in BUILD still enters POST_BUILD (so it can clean up or report,
//! reading `CODEBUILD_BUILD_SUCCEEDING=0`), and POST_BUILD and UPLOAD_ARTIFACTS are always
//! attempted once BUILD has run. `on-failure: CONTINUE` moves on to the next phase as if
//! the phase had succeeded (the build still ends FAILED); `on-failure: ABORT` ends the
//! build: the phases left are skipped and FINALIZING runs. Without `on-failure` the
//! diagram decides, which is why ABORT and "not said" differ only for BUILD and POST_BUILD.

/// A build phase, as CodeBuild names them in `phase-type` and in `BatchGetBuilds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhaseType {
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
}

impl PhaseType {
    /// Every phase, in the order a fully successful build goes through them.
    pub const ORDER: [PhaseType; 11] = [
        PhaseType::Submitted,
        PhaseType::Queued,
        PhaseType::Provisioning,
        PhaseType::DownloadSource,
        PhaseType::Install,
        PhaseType::PreBuild,
        PhaseType::Build,
        PhaseType::PostBuild,
        PhaseType::UploadArtifacts,
        PhaseType::Finalizing,
        PhaseType::Completed,
    ];

    /// The name in events and logs: `PRE_BUILD`.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseType::Submitted => "SUBMITTED",
            PhaseType::Queued => "QUEUED",
            PhaseType::Provisioning => "PROVISIONING",
            PhaseType::DownloadSource => "DOWNLOAD_SOURCE",
            PhaseType::Install => "INSTALL",
            PhaseType::PreBuild => "PRE_BUILD",
            PhaseType::Build => "BUILD",
            PhaseType::PostBuild => "POST_BUILD",
            PhaseType::UploadArtifacts => "UPLOAD_ARTIFACTS",
            PhaseType::Finalizing => "FINALIZING",
            PhaseType::Completed => "COMPLETED",
        }
    }

    /// The buildspec key of the phases a buildspec fills: `pre_build`.
    pub fn buildspec_key(self) -> Option<&'static str> {
        match self {
            PhaseType::Install => Some("install"),
            PhaseType::PreBuild => Some("pre_build"),
            PhaseType::Build => Some("build"),
            PhaseType::PostBuild => Some("post_build"),
            _ => None,
        }
    }

    fn following(self) -> PhaseType {
        let i = PhaseType::ORDER.iter().position(|&p| p == self).unwrap_or(0);
        PhaseType::ORDER.get(i + 1).copied().unwrap_or(PhaseType::Completed)
    }
}

impl std::fmt::Display for PhaseType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a phase ended. The runner has no timeouts or stop requests, so CodeBuild's
/// TIMED_OUT, STOPPED and FAULT never occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhaseStatus {
    Succeeded,
    Failed,
}

impl PhaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Succeeded => "SUCCEEDED",
            PhaseStatus::Failed => "FAILED",
        }
    }
}

impl std::fmt::Display for PhaseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a phase does when one of its commands fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnFailure {
    /// End the build: the remaining phases are skipped, FINALIZING runs.
    Abort,
    /// Go on to the next phase; the build still ends FAILED.
    Continue,
}

/// The phase after `phase` ended with `status`; `on_failure` is the buildspec's key for
/// that phase (always `None` outside INSTALL..POST_BUILD).
pub fn next_phase(phase: PhaseType, status: PhaseStatus, on_failure: Option<OnFailure>) -> PhaseType {
    if status == PhaseStatus::Succeeded {
        return phase.following();
    }
    match (phase, on_failure) {
        (PhaseType::Finalizing | PhaseType::Completed, _) => PhaseType::Completed,
        (_, Some(OnFailure::Continue)) => phase.following(),
        (_, Some(OnFailure::Abort)) => PhaseType::Finalizing,
        (PhaseType::Build | PhaseType::PostBuild, None) => phase.following(),
        (_, None) => PhaseType::Finalizing,
    }
}

#[cfg(test)]
mod tests {
    use super::PhaseStatus::{Failed, Succeeded};
    use super::PhaseType::*;
    use super::*;

    #[test]
    fn success_walks_the_whole_order() {
        let mut phase = Submitted;
        let mut seen = vec![phase];
        while phase != Completed {
            phase = next_phase(phase, Succeeded, None);
            seen.push(phase);
        }
        assert_eq!(seen, PhaseType::ORDER);
    }

    #[test]
    fn early_failures_skip_to_finalizing() {
        for phase in [Provisioning, DownloadSource, Install, PreBuild] {
            assert_eq!(next_phase(phase, Failed, None), Finalizing, "{phase}");
            assert_eq!(next_phase(phase, Failed, Some(OnFailure::Abort)), Finalizing, "{phase}");
        }
    }

    #[test]
    fn a_failed_build_still_runs_post_build_and_upload() {
        assert_eq!(next_phase(Build, Failed, None), PostBuild);
        assert_eq!(next_phase(PostBuild, Failed, None), UploadArtifacts);
        assert_eq!(next_phase(UploadArtifacts, Failed, None), Finalizing);
        assert_eq!(next_phase(Finalizing, Failed, None), Completed);
    }

    #[test]
    fn continue_moves_on_and_abort_ends_the_build() {
        assert_eq!(next_phase(Install, Failed, Some(OnFailure::Continue)), PreBuild);
        assert_eq!(next_phase(PreBuild, Failed, Some(OnFailure::Continue)), Build);
        assert_eq!(next_phase(Build, Failed, Some(OnFailure::Continue)), PostBuild);
        assert_eq!(
            next_phase(PostBuild, Failed, Some(OnFailure::Continue)),
            UploadArtifacts
        );
        assert_eq!(next_phase(Build, Failed, Some(OnFailure::Abort)), Finalizing);
        assert_eq!(next_phase(PostBuild, Failed, Some(OnFailure::Abort)), Finalizing);
    }

    #[test]
    fn names_are_codebuilds() {
        let names: Vec<_> = PhaseType::ORDER.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "SUBMITTED",
                "QUEUED",
                "PROVISIONING",
                "DOWNLOAD_SOURCE",
                "INSTALL",
                "PRE_BUILD",
                "BUILD",
                "POST_BUILD",
                "UPLOAD_ARTIFACTS",
                "FINALIZING",
                "COMPLETED"
            ]
        );
        assert_eq!(PreBuild.buildspec_key(), Some("pre_build"));
        assert_eq!(Finalizing.buildspec_key(), None);
    }
}
