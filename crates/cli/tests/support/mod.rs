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
