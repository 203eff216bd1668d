//! The variables a build starts with, and which source wins when a name is given twice.
//!
//! CodeBuild's documented precedence, lowest first: the image's own environment, then the
//! variables CodeBuild defines (`CODEBUILD_*`, `AWS_REGION`, ...), then the buildspec's
//! `env.variables` and `env.parameter-store`, then the StartBuild call's
//! `environmentVariablesOverride`. The `CODEBUILD_` prefix is reserved: the buildspec
//! parser refuses it, and overrides carrying it are refused here, so CodeBuild's own
//! variables always hold CodeBuild's values.
//!
//! Values only ever travel as process environment and are never written into shell text,
//! so no value can become code.

use crate::buildspec::Buildspec;
use crate::settings::{BuildIdentity, BuildSettings, is_variable_name};
use std::time::SystemTime;

/// PATH when the caller gives none: the directories CodeBuild's Linux images search.
pub(crate) const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Settings problems that CodeBuild's StartBuild would refuse, or that would let a
/// caller quietly replace CodeBuild's own variables. The message names the variable.
pub(crate) fn check_settings(build: &BuildSettings) -> Result<(), String> {
    if let Some(uuid) = &build.build_uuid
        && (uuid.is_empty() || !uuid.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()))
    {
        return Err(format!(
            "build_uuid {uuid:?} is not a UUID; leave it unset for a random one"
        ));
    }
    for v in &build.overrides {
        if !is_variable_name(&v.name) {
            return Err(format!(
                "environment override {:?} is not a variable name bash accepts; use letters, digits and `_`",
                v.name
            ));
        }
        if v.name.starts_with("CODEBUILD_") {
            return Err(format!(
                "environment override {} uses the CODEBUILD_ prefix, which CodeBuild reserves; rename it",
                v.name
            ));
        }
    }
    for (name, value) in build.process_env.iter().chain(&build.parameters) {
        if !is_variable_name(name) {
            return Err(format!(
                "variable {name:?} is not a variable name bash accepts; use letters, digits and `_`"
            ));
        }
        if value.contains('\0') {
            return Err(format!(
                "variable {name} contains a NUL byte, which no environment can carry"
            ));
        }
    }
    if let Some(v) = build.overrides.iter().find(|v| v.value.contains('\0')) {
        return Err(format!(
            "environment override {} contains a NUL byte, which no environment can carry",
            v.name
        ));
    }
    Ok(())
}

/// The parameter-store values the buildspec declares, in its order, or the first one
/// the caller did not resolve.
pub(crate) fn parameter_values(spec: &Buildspec, build: &BuildSettings) -> Result<Vec<(String, String)>, String> {
    spec.parameter_store()
        .iter()
        .map(|(variable, parameter)| {
            build
                .parameters
                .iter()
                .rev()
                .find(|(name, _)| name == variable)
                .map(|(_, value)| (variable.clone(), value.clone()))
                .ok_or_else(|| {
                    format!(
                        "parameter-store variable {variable} (SSM parameter {parameter}) has no value: \
                         resolve it and pass it in BuildSettings::parameters"
                    )
                })
        })
        .collect()
}

/// The variables CodeBuild defines for every build.
fn codebuild_variables(build: &BuildSettings, id: &BuildIdentity, start: SystemTime) -> Vec<(String, String)> {
    let pairs: [(&str, String); 13] = [
        ("AWS_REGION", build.region.clone()),
        ("AWS_DEFAULT_REGION", build.region.clone()),
        ("CODEBUILD_BUILD_ARN", id.arn.clone()),
        ("CODEBUILD_BUILD_ID", id.build_id.clone()),
        ("CODEBUILD_BUILD_IMAGE", build.image.clone()),
        ("CODEBUILD_BUILD_NUMBER", build.build_number.to_string()),
        ("CODEBUILD_BUILD_SUCCEEDING", "1".into()),
        ("CODEBUILD_INITIATOR", build.initiator.clone()),
        ("CODEBUILD_LOG_PATH", id.log_stream.clone()),
        (
            "CODEBUILD_PROJECT_ARN",
            format!(
                "arn:aws:codebuild:{}:{}:project/{}",
                build.region, build.account_id, build.project
            ),
        ),
        ("CODEBUILD_SOURCE_VERSION", String::new()),
        ("CODEBUILD_SRC_DIR", build.source_dir.display().to_string()),
        ("CODEBUILD_START_TIME", crate::clock::unix_millis(start).to_string()),
    ];
    pairs
        .into_iter()
        // A NO_SOURCE build has no source version; CodeBuild leaves it unset then.
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Every variable the first command sees, each name once, the winning value kept.
pub(crate) fn initial_environment(
    spec: &Buildspec,
    build: &BuildSettings,
    parameters: &[(String, String)],
    id: &BuildIdentity,
    start: SystemTime,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![];
    let mut set = |name: &str, value: &str| match env.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value.to_owned(),
        None => env.push((name.to_owned(), value.to_owned())),
    };
    set("PATH", DEFAULT_PATH);
    for (name, value) in &build.process_env {
        set(name, value);
    }
    for (name, value) in codebuild_variables(build, id, start) {
        set(&name, &value);
    }
    for (name, value) in spec.variables().iter().chain(parameters) {
        set(name, value);
    }
    for v in &build.overrides {
        set(&v.name, &v.value);
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::EnvironmentVariable;

    fn spec() -> Buildspec {
        Buildspec::parse(
            "version: 0.2\nenv:\n  variables:\n    A: from-buildspec\n    B: from-buildspec\n    AWS_REGION: buildspec-region\n  parameter-store:\n    P: /param\nphases:\n  build:\n    commands: [true]\n",
        )
        .unwrap()
    }

    fn value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        let found: Vec<_> = env.iter().filter(|(n, _)| n == name).collect();
        assert!(found.len() <= 1, "{name} appears {} times", found.len());
        found.first().map(|(_, v)| v.as_str())
    }

    #[test]
    fn precedence_is_codebuilds() {
        let mut build = BuildSettings::new("proj", "/tmp/src");
        build.region = "eu-west-1".into();
        build.process_env = vec![
            ("PATH".into(), "/custom/bin".into()),
            ("A".into(), "from-image".into()),
            ("CODEBUILD_BUILD_NUMBER".into(), "from-image".into()),
        ];
        build.overrides = vec![EnvironmentVariable::new("B", "from-override")];
        build.parameters = vec![("P".into(), "secret".into())];
        let id = BuildIdentity::new(&build);
        let parameters = parameter_values(&spec(), &build).unwrap();
        let env = initial_environment(&spec(), &build, &parameters, &id, SystemTime::now());
        assert_eq!(value(&env, "PATH"), Some("/custom/bin"));
        assert_eq!(value(&env, "A"), Some("from-buildspec"));
        assert_eq!(value(&env, "B"), Some("from-override"));
        assert_eq!(value(&env, "P"), Some("secret"));
        assert_eq!(value(&env, "CODEBUILD_BUILD_NUMBER"), Some("1"));
        assert_eq!(value(&env, "AWS_REGION"), Some("buildspec-region"));
        assert_eq!(value(&env, "AWS_DEFAULT_REGION"), Some("eu-west-1"));
        assert_eq!(value(&env, "CODEBUILD_BUILD_ID"), Some(id.build_id.as_str()));
        assert_eq!(value(&env, "CODEBUILD_SRC_DIR"), Some("/tmp/src"));
        assert_eq!(value(&env, "CODEBUILD_SOURCE_VERSION"), None);
    }

    #[test]
    fn default_path_when_none_is_given() {
        let build = BuildSettings::new("proj", "/tmp/src");
        let id = BuildIdentity::new(&build);
        let env = initial_environment(&spec(), &build, &[], &id, SystemTime::now());
        assert_eq!(value(&env, "PATH"), Some(DEFAULT_PATH));
    }

    #[test]
    fn unresolved_parameters_are_named() {
        let build = BuildSettings::new("proj", "/tmp/src");
        let e = parameter_values(&spec(), &build).unwrap_err();
        assert!(
            e.contains("P") && e.contains("/param") && e.contains("BuildSettings::parameters"),
            "{e}"
        );
    }

    #[test]
    fn settings_checks() {
        let mut build = BuildSettings::new("proj", "/tmp/src");
        assert_eq!(check_settings(&build), Ok(()));
        build.overrides = vec![EnvironmentVariable::new("CODEBUILD_X", "1")];
        assert!(check_settings(&build).unwrap_err().contains("reserves"));
        build.overrides = vec![EnvironmentVariable::new("A-B", "1")];
        assert!(check_settings(&build).unwrap_err().contains("\"A-B\""));
        build.overrides = vec![EnvironmentVariable::new("A", "x\0y")];
        assert!(check_settings(&build).unwrap_err().contains("NUL"));
        build.overrides = vec![];
        build.build_uuid = Some("../escape".into());
        assert!(check_settings(&build).unwrap_err().contains("not a UUID"));
    }

    #[test]
    fn names() {
        for ok in ["A", "_", "a_1", "_X9"] {
            assert!(is_variable_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "É", "BASH_FUNC_f%%"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }
}
