//! The four functions, compiled from this workspace and run under the Lambda runtime
//! emulator (`cargo lambda watch --only-lambda-apis`), invoked the way AWS invokes them.
//!
//! The emulator serves the Runtime and Invoke APIs; each function is the workspace's own
//! debug binary, started here with the environment Lambda would give it (its own
//! variables, the runtime API address, name, memory size), one process per function as a
//! warm Lambda container is.

use crate::process::{Service, free_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

pub const FUNCTIONS: [&str; 4] = ["listener", "spawner", "notifier", "cleanup"];

pub struct Functions {
    emulator: Mutex<Service>,
    functions: Mutex<Vec<(String, Service)>>,
    pub port: u16,
}

/// What an HTTP function answered.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
}

/// The command that builds the functions: every binary of the workspace, exactly as
/// `make` builds them (its `BINS`), so cargo finds them fresh. `--benches` resolves features
/// with the dev-dependencies, as `cargo test` does; any other selection unifies features
/// differently and would compile the AWS SDK again.
pub fn build_command(workspace: &Path) -> Command {
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build
        .current_dir(workspace)
        .args(["build", "--quiet", "--locked", "--workspace", "--bins", "--benches"]);
    forget_cargo_test(&mut build);
    build
}

/// Removes from `command`'s environment what a process run by `cargo test` inherits from it
/// (`CARGO_PKG_*`, `LD_LIBRARY_PATH` into target/, rustup's recursion markers): a cargo
/// build started with them sees a changed environment and compiles the AWS SDK anew.
/// `make` and cargo started from a test need the environment the outer `make` had.
pub fn forget_cargo_test(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let inherited_from_cargo = (name.starts_with("CARGO_") && name != "CARGO_HOME" && name != "CARGO_TARGET_DIR")
            || name.starts_with("RUSTUP_TOOLCHAIN_SOURCE")
            || name == "RUST_RECURSION_COUNT"
            || name == "LD_LIBRARY_PATH"
            || name == "OUT_DIR";
        if inherited_from_cargo {
            command.env_remove(&*name);
        }
    }
}

/// An invocation that failed: why, and the function's error document if it answered one.
#[derive(Debug, Clone)]
pub struct InvokeFailure {
    pub message: String,
    pub error: Option<serde_json::Value>,
}

/// Where cargo puts the workspace's binaries: `CARGO_TARGET_DIR`, or `target/`.
pub fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
}

impl Functions {
    /// Builds the functions, starts the emulator and one process per function with the
    /// shared `env` plus Lambda's own variables; logs go to `logs/<function>.log`.
    pub fn start(
        workspace: &Path,
        cargo_lambda: &Path,
        env: &[(String, String)],
        logs: &Path,
        say: &dyn Fn(&str),
    ) -> Result<Functions, String> {
        say("== compiling the four functions (the first time compiles the AWS SDK: several minutes)");
        let status = build_command(workspace)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("cargo build of the functions failed (see above)".into());
        }
        let target = target_dir(workspace);
        let port = free_port();
        let mut command = Command::new(cargo_lambda);
        command
            .current_dir(workspace)
            .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port", &port.to_string()])
            .arg("--manifest-path")
            .arg(workspace.join("Cargo.toml"));
        let mut emulator = Service::spawn(
            "the Lambda emulator (cargo lambda watch)",
            command,
            &logs.join("emulator.log"),
        )?;
        emulator.wait_for_port(port, Duration::from_secs(60))?;
        let mut functions = Vec::new();
        for name in FUNCTIONS {
            let binary = target.join("debug").join(name);
            let mut command = Command::new(&binary);
            command
                .env_clear()
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt/{name}"))
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                // The stack's setting; local mode does not enforce it, but reports the peak.
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
            let service = Service::spawn(
                &format!("the {name} function"),
                command,
                &logs.join(format!("{name}.log")),
            )?;
            functions.push((name.to_owned(), service));
        }
        Ok(Functions {
            emulator: Mutex::new(emulator),
            functions: Mutex::new(functions),
            port,
        })
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into()
    }

    /// Invokes `function` with an event, as Lambda's Invoke API does; an error names a
    /// function error or an emulator failure.
    pub fn invoke(&self, function: &str, payload: &[u8]) -> Result<String, String> {
        self.invoke_answer(function, payload).map_err(|failure| failure.message)
    }

    /// Invokes `function` as [`Functions::invoke`] does; a failure keeps the function's own
    /// error document (`{"errorType", "errorMessage"}`) when it answered one, as Lambda
    /// keeps it for an invocation record's `responsePayload`.
    pub fn invoke_answer(&self, function: &str, payload: &[u8]) -> Result<String, InvokeFailure> {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.port
        );
        let mut response = Self::agent()
            .post(&url)
            .header("Content-Type", "application/json")
            .send(payload)
            .map_err(|e| InvokeFailure {
                message: self.explain(function, &e.to_string()),
                error: None,
            })?;
        let failed = response.headers().contains_key("x-amz-function-error");
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        if failed || status >= 300 {
            return Err(InvokeFailure {
                message: self.explain(function, &format!("{status}: {body}")),
                error: serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .filter(|v| v["errorMessage"].is_string()),
            });
        }
        Ok(body)
    }

    /// Sends an HTTP request to an HTTP function (the listener) through the emulator's
    /// function URL, which hands it over as API Gateway's payload format 2.0 does.
    pub fn http(
        &self,
        function: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpAnswer, String> {
        let url = format!("http://127.0.0.1:{}/lambda-url/{function}{path}", self.port);
        let mut request = Self::agent().post(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(body).map_err(|e| self.explain(function, &e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Ok(HttpAnswer { status, body })
    }

    fn explain(&self, function: &str, error: &str) -> String {
        let mut problems = Vec::new();
        if let Err(e) = self.emulator.lock().expect("emulator").check_running() {
            problems.push(e);
        }
        for (name, service) in self.functions.lock().expect("functions").iter_mut() {
            if name == function
                && let Err(e) = service.check_running()
            {
                problems.push(e);
            }
        }
        if problems.is_empty() {
            format!("{function}: {error}")
        } else {
            format!("{function}: {error}; {}", problems.join("; "))
        }
    }

    /// Every function's log, for searching.
    pub fn logs(&self) -> String {
        self.functions
            .lock()
            .expect("functions")
            .iter()
            .map(|(_, s)| std::fs::read_to_string(s.log_path()).unwrap_or_default())
            .collect()
    }

    pub fn log_dir(&self) -> PathBuf {
        self.emulator
            .lock()
            .expect("emulator")
            .log_path()
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default()
    }

    /// Each function's peak resident memory so far (VmHWM), in KiB.
    pub fn peak_memory_kib(&self) -> Vec<(String, u64)> {
        self.functions
            .lock()
            .expect("functions")
            .iter()
            .map(|(name, s)| (name.clone(), s.peak_memory_kib().unwrap_or(0)))
            .collect()
    }
}
