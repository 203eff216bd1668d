//! Which buildspecs the runner accepts: CodeBuild's version 0.2 syntax, limited to what
//! the runner can honour faithfully. Anything CodeBuild knows but the runner would have
//! to ignore (artifacts, cache, reports, secrets-manager, run-as, ...) is refused by name
//! rather than skipped, so a build never passes here for a reason that would not hold on
//! CodeBuild. Unknown keys are refused too: a typo like `comands` must not silently
//! produce an empty phase.

use crate::settings::is_variable_name;
use crate::transitions::{OnFailure, PhaseType};
use yaml_rust2::{Yaml, YamlLoader, yaml::Hash};

/// Why a buildspec cannot be run. Every message names the key at fault and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunnerError {
    #[error("the buildspec is not valid YAML: {0}")]
    Yaml(String),
    #[error("{at} {problem}")]
    Invalid { at: String, problem: String },
    #[error(
        "the buildspec uses {} which CodeBuild supports but the local runner does not; \
         remove them, or run this build on CodeBuild",
        .0.join(", ")
    )]
    Unsupported(Vec<String>),
}

/// One of `install`, `pre_build`, `build`, `post_build`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Phase {
    /// Each entry is one command; a YAML block scalar (`- |`) is one multi-line command.
    pub commands: Vec<String>,
    /// Run after `commands`, even when one of them failed.
    pub finally: Vec<String>,
    /// `None` when the buildspec does not say: CodeBuild's phase transitions decide.
    pub on_failure: Option<OnFailure>,
}

/// A parsed, validated buildspec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildspec {
    variables: Vec<(String, String)>,
    parameter_store: Vec<(String, String)>,
    exported_variables: Vec<String>,
    phases: Vec<(PhaseType, Phase)>,
}

const BUILDSPEC_PHASES: [PhaseType; 4] = [
    PhaseType::Install,
    PhaseType::PreBuild,
    PhaseType::Build,
    PhaseType::PostBuild,
];

fn invalid(at: impl Into<String>, problem: impl Into<String>) -> RunnerError {
    RunnerError::Invalid {
        at: at.into(),
        problem: problem.into(),
    }
}

fn describe(value: &Yaml) -> &'static str {
    match value {
        Yaml::Real(_) => "a number",
        Yaml::Integer(_) => "an integer",
        Yaml::String(_) => "a string",
        Yaml::Boolean(_) => "a boolean",
        Yaml::Array(_) => "a list",
        Yaml::Hash(_) => "a mapping",
        Yaml::Alias(_) => "an alias",
        Yaml::Null => "empty",
        Yaml::BadValue => "not a value",
    }
}

fn mapping<'a>(value: &'a Yaml, at: &str, expected: &str) -> Result<&'a Hash, RunnerError> {
    match value {
        Yaml::Hash(h) => Ok(h),
        other => Err(invalid(
            at,
            format!("is {}; it must be a mapping of {expected}", describe(other)),
        )),
    }
}

fn keys<'a>(h: &'a Hash, at: &str) -> Result<Vec<(&'a str, &'a Yaml)>, RunnerError> {
    h.iter()
        .map(|(k, v)| match k {
            Yaml::String(s) => Ok((s.as_str(), v)),
            other => Err(invalid(
                at,
                format!("has a key that is {}; keys must be names", describe(other)),
            )),
        })
        .collect()
}

fn is_empty(value: &Yaml) -> bool {
    match value {
        Yaml::Null => true,
        Yaml::Hash(h) => h.is_empty(),
        Yaml::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A variable's value as text. CodeBuild reads `FOO: 1` as the string `1`; only values
/// that have no single text form are refused.
fn scalar_text(value: &Yaml, at: &str) -> Result<String, RunnerError> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Ok(s.clone()),
        Yaml::Integer(i) => Ok(i.to_string()),
        Yaml::Boolean(b) => Ok(b.to_string()),
        other => Err(invalid(
            at,
            format!(
                "is {}; a variable's value must be a string (write \"\" for an empty one)",
                describe(other)
            ),
        )),
    }
}

fn commands(value: &Yaml, at: &str) -> Result<Vec<String>, RunnerError> {
    let Yaml::Array(items) = value else {
        return Err(invalid(
            at,
            format!(
                "is {}; it must be a list of commands, one `- command` per line",
                describe(value)
            ),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Yaml::String(_) | Yaml::Integer(_) | Yaml::Real(_) | Yaml::Boolean(_) => {
                // `- true` is the command `true`, as CodeBuild reads it.
                scalar_text(item, &format!("{at}[{i}]"))
            }
            Yaml::Hash(_) => Err(invalid(
                format!("{at}[{i}]"),
                "is a mapping, not a command: YAML reads `: ` inside an unquoted command as a key; \
                 put the command in quotes or use a block scalar (`- |`)",
            )),
            other => Err(invalid(
                format!("{at}[{i}]"),
                format!("is {}; a command must be a string", describe(other)),
            )),
        })
        .collect()
}

fn bash_name(name: &str, at: &str) -> Result<(), RunnerError> {
    if !is_variable_name(name) {
        return Err(invalid(
            format!("{at}.{name}"),
            "is not a variable name bash accepts; use letters, digits and `_`, not starting with a digit",
        ));
    }
    Ok(())
}

fn variable_name(name: &str, at: &str) -> Result<(), RunnerError> {
    bash_name(name, at)?;
    if name.starts_with("CODEBUILD_") {
        return Err(invalid(
            format!("{at}.{name}"),
            "uses the CODEBUILD_ prefix, which CodeBuild reserves for its own variables; rename it",
        ));
    }
    Ok(())
}

fn parse_version(value: Option<&Yaml>) -> Result<(), RunnerError> {
    let text = match value {
        None => {
            return Err(invalid(
                "the buildspec",
                "has no version; add `version: 0.2` at the top",
            ));
        }
        Some(Yaml::Real(s) | Yaml::String(s)) => s.trim().to_owned(),
        Some(Yaml::Integer(i)) => i.to_string(),
        Some(other) => {
            return Err(invalid(
                "version",
                format!("is {}; write `version: 0.2`", describe(other)),
            ));
        }
    };
    match text.as_str() {
        "0.2" => Ok(()),
        "0.1" => Err(invalid(
            "version 0.1",
            "runs every command in a shell of its own; the runner implements 0.2 only: set `version: 0.2`",
        )),
        other => Err(invalid(
            format!("version {other}"),
            "is not a buildspec version the runner knows; set `version: 0.2`",
        )),
    }
}

#[derive(Default)]
struct Env {
    variables: Vec<(String, String)>,
    parameter_store: Vec<(String, String)>,
    exported_variables: Vec<String>,
}

/// `env.exported-variables`, as the Build specification reference documents it
/// (https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec.env.exported-variables):
/// "the name of each variable you want to export on a separate line" (a list of names),
/// and "the following cannot be exported": Parameter Store and Secrets Manager secrets,
/// and "environment variables that start with `AWS_`". The reference names no other
/// limit on names or values; a name that is given twice is refused here as a mistake.
fn parse_exported_variables(value: &Yaml, at: &str) -> Result<Vec<String>, RunnerError> {
    let Yaml::Array(items) = value else {
        return Err(invalid(
            at,
            format!(
                "is {}; it must be a list of variable names, one `- NAME` per line",
                describe(value)
            ),
        ));
    };
    let mut names: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Yaml::String(name) = item else {
            return Err(invalid(
                format!("{at}[{i}]"),
                format!("is {}; it must be a variable name", describe(item)),
            ));
        };
        bash_name(name, at)?;
        if name.starts_with("AWS_") {
            return Err(invalid(
                format!("{at}.{name}"),
                "starts with AWS_, which CodeBuild does not export; rename it",
            ));
        }
        if names.contains(name) {
            return Err(invalid(format!("{at}.{name}"), "is listed twice; list it once"));
        }
        names.push(name.clone());
    }
    Ok(names)
}

fn parse_env(value: &Yaml, unsupported: &mut Vec<String>) -> Result<Env, RunnerError> {
    let mut env = Env::default();
    if is_empty(value) {
        return Ok(env);
    }
    for (key, value) in keys(mapping(value, "env", "settings")?, "env")? {
        match key {
            "shell" => match value {
                Yaml::String(s) if s == "bash" => {}
                Yaml::Null => {}
                other => {
                    let shell = match other {
                        Yaml::String(s) => s.clone(),
                        v => describe(v).to_owned(),
                    };
                    return Err(invalid(
                        format!("env.shell {shell}"),
                        "is not supported: the runner runs commands in bash only; set `shell: bash` or remove it",
                    ));
                }
            },
            "variables" => {
                if is_empty(value) {
                    continue;
                }
                for (name, v) in keys(mapping(value, "env.variables", "NAME: value")?, "env.variables")? {
                    variable_name(name, "env.variables")?;
                    let text = scalar_text(v, &format!("env.variables.{name}"))?;
                    env.variables.push((name.to_owned(), text));
                }
            }
            "parameter-store" => {
                if is_empty(value) {
                    continue;
                }
                let at = "env.parameter-store";
                for (name, v) in keys(mapping(value, at, "NAME: /ssm/parameter/name")?, at)? {
                    variable_name(name, at)?;
                    let Yaml::String(parameter) = v else {
                        return Err(invalid(
                            format!("{at}.{name}"),
                            format!("is {}; it must be the name of an SSM parameter", describe(v)),
                        ));
                    };
                    env.parameter_store.push((name.to_owned(), parameter.clone()));
                }
            }
            "exported-variables" => {
                if !is_empty(value) {
                    env.exported_variables = parse_exported_variables(value, "env.exported-variables")?;
                }
            }
            "secrets-manager" | "git-credential-helper" => unsupported.push(format!("env.{key}")),
            other => {
                return Err(invalid(
                    format!("env.{other}"),
                    "is not an env setting; CodeBuild knows shell, variables, parameter-store, \
                     exported-variables, secrets-manager and git-credential-helper",
                ));
            }
        }
    }
    // Which of the two would win is not something CodeBuild documents; refuse the guess.
    if let Some((name, _)) = env
        .parameter_store
        .iter()
        .find(|(n, _)| env.variables.iter().any(|(v, _)| v == n))
    {
        return Err(invalid(
            format!("env.parameter-store.{name}"),
            "is also defined in env.variables; keep one of the two",
        ));
    }
    // Parameter Store secrets are among what "cannot be exported".
    if let Some(name) = env
        .exported_variables
        .iter()
        .find(|n| env.parameter_store.iter().any(|(p, _)| p == *n))
    {
        return Err(invalid(
            format!("env.exported-variables.{name}"),
            "is a parameter-store variable, which CodeBuild does not export; export a variable of its own",
        ));
    }
    Ok(env)
}

fn parse_phase(key: &str, value: &Yaml, unsupported: &mut Vec<String>) -> Result<Phase, RunnerError> {
    let at = format!("phases.{key}");
    if is_empty(value) {
        return Err(invalid(&at, "is empty; give it a `commands:` list or remove the phase"));
    }
    let mut phase = Phase::default();
    let mut has_commands = false;
    for (name, v) in keys(mapping(value, &at, "commands, finally and on-failure")?, &at)? {
        match name {
            "commands" => {
                has_commands = true;
                if !matches!(v, Yaml::Null) {
                    phase.commands = commands(v, &format!("{at}.commands"))?;
                }
            }
            "finally" => phase.finally = commands(v, &format!("{at}.finally"))?,
            "on-failure" => {
                phase.on_failure = Some(match v {
                    Yaml::String(s) if s == "ABORT" => OnFailure::Abort,
                    Yaml::String(s) if s == "CONTINUE" => OnFailure::Continue,
                    Yaml::String(s) if s.starts_with("RETRY") => {
                        unsupported.push(format!("{at}.on-failure {s}"));
                        continue;
                    }
                    other => {
                        let shown = match other {
                            Yaml::String(s) => s.clone(),
                            v => describe(v).to_owned(),
                        };
                        return Err(invalid(
                            format!("{at}.on-failure {shown}"),
                            "is not an on-failure action; use ABORT or CONTINUE",
                        ));
                    }
                })
            }
            "run-as" | "runtime-versions" => unsupported.push(format!("{at}.{name}")),
            other => {
                return Err(invalid(
                    format!("{at}.{other}"),
                    "is not a phase setting; a phase has commands, finally and on-failure",
                ));
            }
        }
    }
    if !has_commands {
        return Err(invalid(
            &at,
            "has no `commands:` list; CodeBuild requires one in every phase it runs",
        ));
    }
    Ok(phase)
}

impl Buildspec {
    /// Parses and validates buildspec text. Errors name the key that was wrong and what
    /// to do about it.
    pub fn parse(text: &str) -> Result<Buildspec, RunnerError> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| RunnerError::Yaml(e.to_string()))?;
        let root = match docs.first() {
            Some(Yaml::Hash(h)) => h,
            Some(other) => {
                return Err(invalid(
                    "the buildspec",
                    format!(
                        "is {}; it must be a YAML mapping starting with `version: 0.2`",
                        describe(other)
                    ),
                ));
            }
            None => {
                return Err(invalid(
                    "the buildspec",
                    "is empty; it needs `version: 0.2` and `phases:`",
                ));
            }
        };
        let entries = keys(root, "the buildspec")?;
        let get = |name: &str| entries.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        parse_version(get("version"))?;

        let mut unsupported = vec![];
        for (key, value) in &entries {
            match *key {
                "version" | "env" | "phases" => {}
                // An empty `artifacts:` is what many templates carry; there is nothing to upload.
                "artifacts" if is_empty(value) => {}
                "run-as" | "proxy" | "batch" | "reports" | "artifacts" | "cache" => unsupported.push((*key).to_owned()),
                other => {
                    return Err(invalid(
                        other,
                        "is not a buildspec section; CodeBuild knows version, run-as, env, proxy, batch, \
                         phases, reports, artifacts and cache",
                    ));
                }
            }
        }

        let env = match get("env") {
            Some(value) => parse_env(value, &mut unsupported)?,
            None => Env::default(),
        };

        let Some(phases_value) = get("phases").filter(|v| !is_empty(v)) else {
            return Err(invalid(
                "the buildspec",
                "has no phases; add `phases:` with at least one of install, pre_build, build, post_build",
            ));
        };
        let mut phases = vec![];
        for (key, value) in keys(mapping(phases_value, "phases", "phase names")?, "phases")? {
            let Some(&phase_type) = BUILDSPEC_PHASES.iter().find(|p| p.buildspec_key() == Some(key)) else {
                return Err(invalid(
                    format!("phases.{key}"),
                    "is not a CodeBuild phase; the phases are install, pre_build, build and post_build",
                ));
            };
            phases.push((phase_type, parse_phase(key, value, &mut unsupported)?));
        }

        if !unsupported.is_empty() {
            return Err(RunnerError::Unsupported(unsupported));
        }
        Ok(Buildspec {
            variables: env.variables,
            parameter_store: env.parameter_store,
            exported_variables: env.exported_variables,
            phases,
        })
    }

    /// `env.variables`, in the buildspec's order.
    pub fn variables(&self) -> &[(String, String)] {
        &self.variables
    }

    /// `env.parameter-store`: (variable, SSM parameter name), in the buildspec's order. The
    /// caller resolves them and passes the values in
    /// [`BuildSettings::parameters`](crate::BuildSettings::parameters).
    pub fn parameter_store(&self) -> &[(String, String)] {
        &self.parameter_store
    }

    /// `env.exported-variables`, in the buildspec's order: the variables whose values at
    /// the end of the build's last phase the build reports
    /// ([`BuildResult::exported_variables`](crate::BuildResult::exported_variables)).
    pub fn exported_variables(&self) -> &[String] {
        &self.exported_variables
    }

    /// The buildspec's section for `phase`, if it has one.
    pub fn phase(&self, phase: PhaseType) -> Option<&Phase> {
        self.phases.iter().find(|(p, _)| *p == phase).map(|(_, spec)| spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Buildspec::parse(text).expect_err("should be refused").to_string()
    }

    #[test]
    fn full_syntax() {
        let spec = Buildspec::parse(
            r#"
version: 0.2
env:
  shell: bash
  variables:
    GREETING: "hello world"
    COUNT: 3
    FLAG: true
    RATIO: 0.50
  parameter-store:
    TOKEN: /dockhand/token
phases:
  install:
    on-failure: CONTINUE
    commands:
      - echo install
  pre_build:
    commands: []
  build:
    on-failure: ABORT
    commands:
      - |
        set -e
        echo one
        echo two
      - 'echo "a: b"'
      - true
    finally:
      - echo cleanup
  post_build:
    commands:
      - echo done
artifacts:
"#,
        )
        .unwrap();
        assert_eq!(
            spec.variables(),
            [
                ("GREETING".to_owned(), "hello world".to_owned()),
                ("COUNT".to_owned(), "3".to_owned()),
                ("FLAG".to_owned(), "true".to_owned()),
                ("RATIO".to_owned(), "0.50".to_owned()),
            ]
        );
        assert_eq!(
            spec.parameter_store(),
            [("TOKEN".to_owned(), "/dockhand/token".to_owned())]
        );
        let build = spec.phase(PhaseType::Build).unwrap();
        assert_eq!(
            build.commands,
            ["set -e\necho one\necho two\n", "echo \"a: b\"", "true"]
        );
        assert_eq!(build.finally, ["echo cleanup"]);
        assert_eq!(build.on_failure, Some(OnFailure::Abort));
        assert_eq!(
            spec.phase(PhaseType::Install).unwrap().on_failure,
            Some(OnFailure::Continue)
        );
        assert_eq!(spec.phase(PhaseType::PreBuild).unwrap().commands, Vec::<String>::new());
        assert_eq!(spec.phase(PhaseType::PostBuild).unwrap().on_failure, None);
        assert_eq!(spec.phase(PhaseType::Finalizing), None);
    }

    #[test]
    fn minimal_buildspec_needs_no_env() {
        let spec = Buildspec::parse("version: 0.2\nphases:\n  build:\n    commands:\n      - make\n").unwrap();
        assert!(spec.variables().is_empty());
        assert!(spec.phase(PhaseType::Install).is_none());
        assert_eq!(spec.phase(PhaseType::Build).unwrap().commands, ["make"]);
    }

    #[test]
    fn versions() {
        assert!(err("phases:\n  build:\n    commands: [make]\n").contains("add `version: 0.2`"));
        let old = err("version: 0.1\nphases:\n  build:\n    commands: [make]\n");
        assert!(
            old.contains("version 0.1") && old.contains("set `version: 0.2`"),
            "{old}"
        );
        assert!(err("version: 1.0\nphases:\n  build:\n    commands: [make]\n").contains("version 1.0"));
        Buildspec::parse("version: \"0.2\"\nphases:\n  build:\n    commands: [make]\n").unwrap();
    }

    #[test]
    fn only_bash() {
        let e = err("version: 0.2\nenv:\n  shell: /bin/sh\nphases:\n  build:\n    commands: [make]\n");
        assert!(e.contains("env.shell /bin/sh") && e.contains("bash"), "{e}");
        let e = err("version: 0.2\nenv:\n  shell: powershell.exe\nphases:\n  build:\n    commands: [make]\n");
        assert!(e.contains("powershell.exe"), "{e}");
    }

    #[test]
    fn unsupported_sections_are_all_named() {
        let e = Buildspec::parse(
            r#"
version: 0.2
run-as: builder
env:
  secrets-manager:
    KEY: secret:key
phases:
  install:
    runtime-versions:
      python: 3.12
    commands: [pip install x]
  build:
    on-failure: RETRY-2
    commands: [make]
reports:
  group:
    files: [report.xml]
artifacts:
  files: ['**/*']
cache:
  paths: [/root/.m2]
batch:
  fast-fail: true
"#,
        )
        .unwrap_err();
        let RunnerError::Unsupported(keys) = &e else {
            panic!("{e}")
        };
        for key in [
            "run-as",
            "reports",
            "artifacts",
            "cache",
            "batch",
            "env.secrets-manager",
            "phases.install.runtime-versions",
            "phases.build.on-failure RETRY-2",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
        assert!(e.to_string().contains("run this build on CodeBuild"), "{e}");
    }

    #[test]
    fn exported_variables_are_names_codebuild_can_export() {
        let spec = |env: &str| format!("version: 0.2\nenv:\n{env}phases:\n  build:\n    commands: [make]\n");
        let parsed =
            Buildspec::parse(&spec("  exported-variables:\n    - DIGEST\n    - CODEBUILD_BUILD_ID\n")).unwrap();
        assert_eq!(parsed.exported_variables(), ["DIGEST", "CODEBUILD_BUILD_ID"]);
        assert!(
            Buildspec::parse(&spec("  exported-variables:\n"))
                .unwrap()
                .exported_variables()
                .is_empty()
        );
        for (env, named) in [
            ("  exported-variables: DIGEST\n", "env.exported-variables is a string"),
            ("  exported-variables: [1BAD]\n", "env.exported-variables.1BAD"),
            ("  exported-variables: [\"A B\"]\n", "env.exported-variables.A B"),
            ("  exported-variables: [[A]]\n", "env.exported-variables[0] is a list"),
            ("  exported-variables: [AWS_REGION]\n", "starts with AWS_"),
            ("  exported-variables: [A, A]\n", "listed twice"),
            (
                "  parameter-store:\n    TOKEN: /t\n  exported-variables: [TOKEN]\n",
                "env.exported-variables.TOKEN is a parameter-store variable",
            ),
        ] {
            let e = err(&spec(env));
            assert!(e.contains(named), "{env:?}: {e}");
        }
    }

    #[test]
    fn empty_artifacts_are_fine_but_full_ones_are_not() {
        for empty in ["artifacts:\n", "artifacts: {}\n"] {
            Buildspec::parse(&format!(
                "version: 0.2\nphases:\n  build:\n    commands: [make]\n{empty}"
            ))
            .unwrap();
        }
        let e = err("version: 0.2\nphases:\n  build:\n    commands: [make]\nartifacts:\n  files: [a]\n");
        assert!(e.contains("artifacts"), "{e}");
    }

    #[test]
    fn typos_are_refused() {
        let e = err("version: 0.2\nphases:\n  build:\n    comands: [make]\n");
        assert!(e.contains("phases.build.comands"), "{e}");
        let e = err("version: 0.2\nphases:\n  prebuild:\n    commands: [make]\n");
        assert!(e.contains("phases.prebuild") && e.contains("pre_build"), "{e}");
        let e = err("version: 0.2\nphase:\n  build:\n    commands: [make]\n");
        assert!(e.contains("phase is not a buildspec section"), "{e}");
        let e = err("version: 0.2\nenv:\n  variable:\n    A: b\nphases:\n  build:\n    commands: [make]\n");
        assert!(e.contains("env.variable"), "{e}");
    }

    #[test]
    fn phases_need_commands() {
        assert!(err("version: 0.2\nphases:\n").contains("has no phases"));
        assert!(err("version: 0.2\nphases:\n  build:\n").contains("phases.build is empty"));
        let e = err("version: 0.2\nphases:\n  build:\n    finally: [echo]\n");
        assert!(e.contains("phases.build has no `commands:`"), "{e}");
        let e = err("version: 0.2\nphases:\n  build:\n    commands: make\n");
        assert!(e.contains("phases.build.commands is a string"), "{e}");
    }

    #[test]
    fn unquoted_colon_is_explained() {
        let e = err("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n");
        assert!(e.contains("phases.build.commands[0]") && e.contains("quotes"), "{e}");
    }

    #[test]
    fn on_failure_values() {
        let e = err("version: 0.2\nphases:\n  build:\n    on-failure: abort\n    commands: [make]\n");
        assert!(e.contains("ABORT or CONTINUE"), "{e}");
    }

    #[test]
    fn variable_names_and_conflicts() {
        let e = err("version: 0.2\nenv:\n  variables:\n    1BAD: x\nphases:\n  build:\n    commands: [make]\n");
        assert!(e.contains("env.variables.1BAD"), "{e}");
        let e = err("version: 0.2\nenv:\n  variables:\n    CODEBUILD_X: x\nphases:\n  build:\n    commands: [make]\n");
        assert!(e.contains("reserves"), "{e}");
        let e = err(
            "version: 0.2\nenv:\n  variables:\n    A: x\n  parameter-store:\n    A: /p\nphases:\n  build:\n    commands: [make]\n",
        );
        assert!(e.contains("env.parameter-store.A") && e.contains("keep one"), "{e}");
        let e = err("version: 0.2\nenv:\n  variables:\n    A:\nphases:\n  build:\n    commands: [make]\n");
        assert!(e.contains("env.variables.A is empty"), "{e}");
    }

    #[test]
    fn bad_yaml_and_non_mappings() {
        assert!(matches!(Buildspec::parse("version: [0.2"), Err(RunnerError::Yaml(_))));
        assert!(err("").contains("is empty"));
        assert!(err("- a\n- b\n").contains("is a list"));
        // Duplicated keys are a YAML error, not a silent last-one-wins.
        assert!(matches!(
            Buildspec::parse("version: 0.2\nphases:\n  build:\n    commands: [a]\n  build:\n    commands: [b]\n"),
            Err(RunnerError::Yaml(_))
        ));
    }
}
