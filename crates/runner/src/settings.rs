//! What the caller decides about a build (the StartBuild call and the project's settings,
//! in CodeBuild's terms) and the identity the runner gives it.

use std::io::Read;
use std::path::PathBuf;

/// One StartBuild `environmentVariablesOverride` entry. The runner takes PLAINTEXT
/// variables only: resolve PARAMETER_STORE or SECRETS_MANAGER ones before the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentVariable {
    pub name: String,
    pub value: String,
}

impl EnvironmentVariable {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        EnvironmentVariable {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Everything about one build that does not come from the buildspec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSettings {
    pub project: String,
    /// The UUID part of the build id (`project:UUID`); a fresh random one when `None`.
    /// Set it when something already announced the id, as StartBuild's answer does.
    pub build_uuid: Option<String>,
    /// `CODEBUILD_BUILD_NUMBER` and the event's `build-number`.
    pub build_number: u64,
    pub region: String,
    pub account_id: String,
    /// `CODEBUILD_SRC_DIR`, where every phase's first command starts; created if missing.
    pub source_dir: PathBuf,
    /// StartBuild's overrides: they win over the buildspec's `env.variables`, and they are
    /// the `environment-variables` of the events, as in CodeBuild's own.
    pub overrides: Vec<EnvironmentVariable>,
    /// Resolved `env.parameter-store` values: (variable, value). Their values are masked
    /// in the log, as CodeBuild masks them.
    pub parameters: Vec<(String, String)>,
    /// The build image's environment, in effect: `PATH`, `HOME`, endpoints for local
    /// tools. Nothing else from the runner's own environment reaches the build.
    pub process_env: Vec<(String, String)>,
    /// The events' `environment` block and `CODEBUILD_BUILD_IMAGE`; informational only.
    pub image: String,
    pub compute_type: String,
    pub privileged: bool,
    /// `CODEBUILD_INITIATOR` and the events' `initiator`.
    pub initiator: String,
    /// The events' `logs` block.
    pub log_group: String,
    /// The log stream name; CodeBuild names it after the build's UUID, and so does the
    /// runner when this is `None`.
    pub log_stream: Option<String>,
    /// Reported in the events; the runner does not enforce timeouts.
    pub timeout_minutes: u32,
    pub queued_timeout_minutes: u32,
}

impl BuildSettings {
    /// Settings with CodeBuild's defaults: build number 1, `us-east-1`, the documentation
    /// account `123456789012`, the standard image, a small non-privileged container, a
    /// 60-minute timeout and an 8-hour queue timeout, logs in `/aws/codebuild/<project>`.
    pub fn new(project: impl Into<String>, source_dir: impl Into<PathBuf>) -> Self {
        let project = project.into();
        BuildSettings {
            log_group: format!("/aws/codebuild/{project}"),
            project,
            build_uuid: None,
            build_number: 1,
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            source_dir: source_dir.into(),
            overrides: vec![],
            parameters: vec![],
            process_env: vec![],
            image: "aws/codebuild/standard:7.0".into(),
            compute_type: "BUILD_GENERAL1_SMALL".into(),
            privileged: false,
            initiator: "dockhand-runner".into(),
            log_stream: None,
            timeout_minutes: 60,
            queued_timeout_minutes: 480,
        }
    }
}

/// The names CodeBuild gives a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildIdentity {
    /// `project:uuid`
    pub build_id: String,
    /// `arn:aws:codebuild:REGION:ACCOUNT:build/project:uuid`
    pub arn: String,
    pub log_stream: String,
}

impl BuildIdentity {
    pub fn new(build: &BuildSettings) -> Self {
        let uuid = build.build_uuid.clone().unwrap_or_else(random_uuid);
        let build_id = format!("{}:{uuid}", build.project);
        BuildIdentity {
            arn: format!(
                "arn:aws:codebuild:{}:{}:build/{build_id}",
                build.region, build.account_id
            ),
            log_stream: build.log_stream.clone().unwrap_or(uuid),
            build_id,
        }
    }
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    let from_kernel = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_kernel.is_err() {
        // std seeds every RandomState from the OS; two hashers give 16 unpredictable bytes.
        use std::hash::{BuildHasher, Hasher};
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes
}

/// A version 4 UUID, the form CodeBuild's build ids end with.
pub fn random_uuid() -> String {
    let mut b = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A name bash imports from the environment as a variable: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        let groups: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn identity_has_codebuilds_shape() {
        let mut build = BuildSettings::new("dockhand", "/src");
        build.region = "eu-west-1".into();
        let id = BuildIdentity::new(&build);
        let uuid = id.build_id.strip_prefix("dockhand:").unwrap();
        assert_eq!(
            id.arn,
            format!("arn:aws:codebuild:eu-west-1:123456789012:build/dockhand:{uuid}")
        );
        assert_eq!(id.log_stream, uuid);
        build.log_stream = Some("custom".into());
        assert_eq!(BuildIdentity::new(&build).log_stream, "custom");
        build.build_uuid = Some("0f1e2d3c-0000-4000-8000-000000000000".into());
        let id = BuildIdentity::new(&build);
        assert_eq!(id.build_id, "dockhand:0f1e2d3c-0000-4000-8000-000000000000");
        assert!(id.arn.ends_with("build/dockhand:0f1e2d3c-0000-4000-8000-000000000000"));
    }
}
