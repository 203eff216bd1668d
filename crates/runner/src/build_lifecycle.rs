//! What each phase does on this machine, and the walk through the phases.
//!
//! SUBMITTED and QUEUED are instantaneous: there is no queue. PROVISIONING checks the
//! settings and finds bash; DOWNLOAD_SOURCE has no source to download (dockhand builds are
//! NO_SOURCE: the buildspec clones what it needs) and so creates `CODEBUILD_SRC_DIR`,
//! takes the parameter-store values and records the environment, which is where CodeBuild
//! logs its own environment processing too. INSTALL to POST_BUILD run the buildspec;
//! UPLOAD_ARTIFACTS has nothing to upload; FINALIZING removes the runner's private state.

use crate::buildspec::Buildspec;
use crate::container_log::ContainerLog;
use crate::environment;
use crate::outcome::{BuildResult, BuildStatus, PhaseContext, PhaseRecord};
use crate::persistent_shell::{PersistentShell, find_bash};
use crate::settings::{BuildIdentity, BuildSettings};
use crate::state_change_event::{Snapshot, build_status_name, state_change};
use crate::transitions::{PhaseStatus, PhaseType, next_phase};
use serde_json::Value;
use std::io::Write;
use std::time::SystemTime;

struct Lifecycle<'a> {
    spec: &'a Buildspec,
    build: BuildSettings,
    id: BuildIdentity,
    start: SystemTime,
    log: ContainerLog<'a>,
    bash: Option<std::path::PathBuf>,
    shell: Option<PersistentShell>,
    succeeding: bool,
    exported: Vec<(String, String)>,
    /// A phase that fails before it runs, with why: what CodeBuild found wrong before the
    /// buildspec could run (a buildspec it cannot read, a parameter it cannot decrypt).
    refused: Option<(PhaseType, PhaseContext)>,
}

fn client_error(message: impl Into<String>) -> Vec<PhaseContext> {
    vec![PhaseContext {
        status_code: "CLIENT_ERROR".into(),
        message: message.into(),
    }]
}

impl Lifecycle<'_> {
    fn provision(&mut self) -> Result<(), Vec<PhaseContext>> {
        environment::check_settings(&self.build).map_err(client_error)?;
        let path = self
            .build
            .process_env
            .iter()
            .rev()
            .find(|(name, _)| name == "PATH")
            .map(|(_, value)| value.as_str())
            .unwrap_or(environment::DEFAULT_PATH);
        let bash = find_bash(path).ok_or_else(|| {
            client_error(format!(
                "bash was not found on PATH {path}; install bash or put its directory on the build's PATH"
            ))
        })?;
        self.bash = Some(bash);
        Ok(())
    }

    fn download_source(&mut self) -> Result<(), Vec<PhaseContext>> {
        let src = &self.build.source_dir;
        std::fs::create_dir_all(src).map_err(|e| {
            client_error(format!(
                "could not create CODEBUILD_SRC_DIR {}: {e}; choose a directory the runner can write",
                src.display()
            ))
        })?;
        self.log.container("Processing environment variables");
        let parameters = environment::parameter_values(self.spec, &self.build).map_err(|message| {
            vec![PhaseContext {
                status_code: "Decrypted Variables Error".into(),
                message,
            }]
        })?;
        let env = environment::initial_environment(self.spec, &self.build, &parameters, &self.id, self.start);
        let bash = self
            .bash
            .clone()
            .ok_or_else(|| client_error("PROVISIONING did not find bash"))?;
        let shell = PersistentShell::create(bash, src.clone(), &crate::settings::random_uuid())
            .map_err(|e| client_error(format!("could not create the runner's private state directory: {e}")))?;
        shell.start(&env, &mut self.log).map_err(client_error)?;
        self.shell = Some(shell);
        self.log.container(&format!("Moving to directory {}", src.display()));
        let found: Vec<_> = [
            PhaseType::Install,
            PhaseType::PreBuild,
            PhaseType::Build,
            PhaseType::PostBuild,
        ]
        .into_iter()
        .filter_map(|p| self.spec.phase(p).map(|spec| (p, spec.commands.len())))
        .collect();
        self.log.container(&format!("Phases found in YAML: {}", found.len()));
        for (phase, commands) in found {
            self.log.container(&format!(" {phase}: {commands} commands"));
        }
        Ok(())
    }

    /// Runs `commands` until one fails, returning the failure's context.
    fn run_commands(&mut self, commands: &[String]) -> Option<PhaseContext> {
        let shell = self.shell.as_ref()?;
        for command in commands {
            // A block scalar ends in a newline; the log and the context show the command.
            let shown = command.trim_end_matches('\n');
            self.log.container(&format!("Running command {shown}"));
            let exit = shell.run(command, self.succeeding, &mut self.log);
            if !exit.succeeded() {
                let reason = exit.reason();
                self.log
                    .container(&format!("Command did not exit successfully {shown} {reason}"));
                self.succeeding = false;
                return Some(PhaseContext {
                    status_code: "COMMAND_EXECUTION_ERROR".into(),
                    message: format!("Error while executing command: {shown}. Reason: {reason}"),
                });
            }
        }
        None
    }

    fn buildspec_phase(&mut self, phase: PhaseType) -> Result<(), Vec<PhaseContext>> {
        let Some(spec) = self.spec.phase(phase) else {
            return Ok(());
        };
        if self.shell.is_none() {
            return Err(client_error("the build's shell was never started"));
        }
        let mut contexts: Vec<PhaseContext> = self.run_commands(&spec.commands).into_iter().collect();
        contexts.extend(self.run_commands(&spec.finally));
        if contexts.is_empty() { Ok(()) } else { Err(contexts) }
    }

    /// The exported variables' values, once the buildspec phases are over: the state the
    /// last command left. A build whose shell never started exports nothing.
    fn read_exported_variables(&mut self) {
        let (Some(shell), names) = (self.shell.as_ref(), self.spec.exported_variables()) else {
            return;
        };
        match shell.values(names) {
            Ok(values) => {
                self.exported = names
                    .iter()
                    .cloned()
                    .zip(values.into_iter().map(Option::unwrap_or_default))
                    .collect();
            }
            Err(e) => self
                .log
                .container(&format!("Warning: the exported variables could not be read: {e}")),
        }
    }

    fn phase(&mut self, phase: PhaseType) -> Result<(), Vec<PhaseContext>> {
        if let Some((refused, context)) = &self.refused
            && *refused == phase
        {
            return Err(vec![context.clone()]);
        }
        match phase {
            PhaseType::Provisioning => self.provision(),
            PhaseType::DownloadSource => self.download_source(),
            PhaseType::Install | PhaseType::PreBuild | PhaseType::Build | PhaseType::PostBuild => {
                self.buildspec_phase(phase)
            }
            PhaseType::Finalizing => {
                self.read_exported_variables();
                // Dropping the shell removes its state, parameter-store values included.
                self.shell = None;
                Ok(())
            }
            PhaseType::Submitted | PhaseType::Queued | PhaseType::UploadArtifacts | PhaseType::Completed => Ok(()),
        }
    }
}

pub(crate) fn run(
    spec: &Buildspec,
    build: &BuildSettings,
    log: &mut dyn Write,
    on_event: &mut dyn FnMut(&Value),
    refused: Option<(PhaseType, PhaseContext)>,
) -> BuildResult {
    let mut build = build.clone();
    // CODEBUILD_SRC_DIR is absolute on CodeBuild; commands that cd elsewhere rely on it.
    if let Ok(absolute) = std::path::absolute(&build.source_dir) {
        build.source_dir = absolute;
    }
    let id = BuildIdentity::new(&build);
    let secrets: Vec<String> = build.parameters.iter().map(|(_, v)| v.clone()).collect();
    let start = SystemTime::now();

    let mut phases = vec![
        PhaseRecord::finished(PhaseType::Submitted, start, start, PhaseStatus::Succeeded, vec![]),
        PhaseRecord::started(PhaseType::Queued, start),
    ];
    let in_progress = state_change(
        &build,
        &id,
        &Snapshot {
            build_status: "IN_PROGRESS",
            phases: &phases,
            start,
            now: start,
        },
    );
    on_event(&in_progress);
    if let Some(queued) = phases.last_mut() {
        queued.finish(SystemTime::now(), PhaseStatus::Succeeded, vec![]);
    }

    let mut lifecycle = Lifecycle {
        spec,
        build,
        id,
        start,
        log: ContainerLog::new(log, &secrets),
        bash: None,
        shell: None,
        succeeding: true,
        exported: vec![],
        refused,
    };
    let mut current = PhaseType::Provisioning;
    while current != PhaseType::Completed {
        let began = SystemTime::now();
        lifecycle.log.container(&format!("Entering phase {current}"));
        let (status, contexts) = match lifecycle.phase(current) {
            Ok(()) => (PhaseStatus::Succeeded, vec![]),
            Err(contexts) => (PhaseStatus::Failed, contexts),
        };
        lifecycle
            .log
            .container(&format!("Phase complete: {current} State: {status}"));
        if contexts.is_empty() {
            lifecycle.log.container("Phase context status code:  Message: ");
        }
        for c in &contexts {
            lifecycle.log.container(&format!(
                "Phase context status code: {} Message: {}",
                c.status_code, c.message
            ));
        }
        if status == PhaseStatus::Failed {
            lifecycle.succeeding = false;
        }
        phases.push(PhaseRecord::finished(
            current,
            began,
            SystemTime::now(),
            status,
            contexts,
        ));
        current = next_phase(current, status, spec.phase(current).and_then(|p| p.on_failure));
    }
    lifecycle.log.end_output();
    let end = SystemTime::now();
    phases.push(PhaseRecord::started(PhaseType::Completed, end));

    let status = if phases.iter().any(|p| p.status == Some(PhaseStatus::Failed)) {
        BuildStatus::Failed
    } else {
        BuildStatus::Succeeded
    };
    let last = state_change(
        &lifecycle.build,
        &lifecycle.id,
        &Snapshot {
            build_status: build_status_name(status),
            phases: &phases,
            start,
            now: end,
        },
    );
    on_event(&last);
    BuildResult {
        build_id: lifecycle.id.build_id,
        arn: lifecycle.id.arn,
        status,
        phases,
        events: vec![in_progress, last],
        exported_variables: lifecycle.exported,
    }
}
