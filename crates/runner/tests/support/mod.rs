//! Shared by the integration tests: a scratch directory per test and a one-call build.
#![allow(dead_code)]

use dockhand_runner::{BuildResult, BuildSettings, Buildspec, PhaseStatus, PhaseType};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory removed when the test ends.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dockhand-runner-it-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.0.join(relative)).unwrap_or_else(|e| panic!("reading {relative}: {e}"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Settings for a build whose CODEBUILD_SRC_DIR is `<scratch>/src` (not created yet).
pub fn settings(scratch: &Scratch) -> BuildSettings {
    let mut build = BuildSettings::new("demo", scratch.path().join("src"));
    build.region = "eu-west-1".into();
    build.process_env = vec![
        (
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ),
        ("HOME".into(), scratch.path().display().to_string()),
    ];
    build
}

pub struct Outcome {
    pub result: BuildResult,
    pub log: String,
    /// What `on_event` received, in order.
    pub events: Vec<Value>,
}

impl Outcome {
    pub fn status_of(&self, phase: PhaseType) -> Option<PhaseStatus> {
        self.result.phase(phase).and_then(|p| p.status)
    }

    pub fn phase_types(&self) -> Vec<PhaseType> {
        self.result.phases.iter().map(|p| p.phase_type).collect()
    }
}

pub fn run(buildspec: &str, build: &BuildSettings) -> Outcome {
    let spec = Buildspec::parse(buildspec).unwrap_or_else(|e| panic!("{e}\n{buildspec}"));
    let mut log = vec![];
    let mut events = vec![];
    let result = dockhand_runner::run(&spec, build, &mut log, &mut |e: &Value| events.push(e.clone()));
    Outcome {
        result,
        log: String::from_utf8(log).expect("UTF-8 log"),
        events,
    }
}

/// git with a fixed identity and no system or user configuration, in `dir`; its output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Ada Lovelace",
            "-c",
            "user.email=ada@example.com",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git must be installed to run this test");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Writes stand-in programs (`name`, script) into `tools/bin`, executable: what a
/// buildspec's commands find first on PATH with [`tool_env`].
pub fn install_tools(tools: &Path, programs: &[(&str, &str)]) {
    use std::os::unix::fs::PermissionsExt;
    let bin = tools.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, text) in programs {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A build's process environment with the stand-ins of `tools/bin` first on PATH, HOME in
/// the scratch directory, no system git configuration, and FAKE_TOOLS where the stand-ins
/// record what they were asked.
/// A build as the spawner starts one in eu-west-1, privileged, with the tools in `tools` on
/// PATH and `overrides` as its environment variable overrides.
pub fn spawned_build(scratch: &Scratch, tools: &Path, overrides: &[(&str, &str)]) -> BuildSettings {
    let mut build = BuildSettings::new("dockhand", scratch.path().join("build/src"));
    build.region = "eu-west-1".into();
    build.privileged = true;
    build.process_env = tool_env(scratch, tools);
    build.overrides = overrides
        .iter()
        .map(|(name, value)| dockhand_runner::EnvironmentVariable::new(*name, *value))
        .collect();
    build
}

pub fn tool_env(scratch: &Scratch, tools: &Path) -> Vec<(String, String)> {
    vec![
        (
            "PATH".into(),
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                tools.join("bin").display()
            ),
        ),
        ("HOME".into(), scratch.path().display().to_string()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        ("FAKE_TOOLS".into(), tools.display().to_string()),
    ]
}

/// What the stand-ins of `tools/bin` recorded in `tools/calls`, one call a line.
pub fn recorded_calls(tools: &Path) -> Vec<String> {
    std::fs::read_to_string(tools.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
