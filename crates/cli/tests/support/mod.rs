//! Shared by the CLI's integration tests: the fixtures' paths and one run of `dockhand`.
#![allow(dead_code)]

use std::process::Command;

/// The path of `tests/fixtures/<name>` at the workspace's root.
pub fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `dockhand <subcommand> <args>`: its standard output, standard error and success.
pub fn dockhand(subcommand: &str, args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .arg(subcommand)
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.success(),
    )
}

/// `dockhand <subcommand> <args>` as an operator runs it against AWS endpoints: only
/// `endpoints` (`AWS_ENDPOINT_URL…` variables) and dummy credentials, no profile or
/// configuration file of this machine.
pub fn aws_command(subcommand: &str, args: &[&str], endpoints: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dockhand"));
    command
        .arg(subcommand)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_CODEBUILD")
        .env_remove("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS");
    for (name, value) in endpoints {
        command.env(name, value);
    }
    command
}

/// A StartBuild request of the project `dockhand` with these environment overrides, as the
/// spawner sends one.
pub fn start_build(env: &[(&str, &str)]) -> dockhand_core::start_build::StartBuildRequest {
    dockhand_core::start_build::StartBuildRequest {
        project_name: "dockhand".into(),
        source_type_override: "NO_SOURCE".into(),
        buildspec_override: "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n".into(),
        environment_variables_override: env
            .iter()
            .map(|(name, value)| dockhand_core::start_build::EnvironmentVariable {
                name: (*name).into(),
                value: (*value).into(),
                kind: "PLAINTEXT".into(),
            })
            .collect(),
        idempotency_token: String::new(),
        compute_type_override: "BUILD_GENERAL1_SMALL".into(),
        timeout_in_minutes_override: 60,
        privileged_mode_override: true,
    }
}
