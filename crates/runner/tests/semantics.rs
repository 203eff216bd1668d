//! CodeBuild's semantics, observed from inside the commands: what carries from one command
//! to the next, what a failure does, which phases run after it, which variables win.

mod support;

use dockhand_runner::PhaseType::*;
use dockhand_runner::{BuildStatus, EnvironmentVariable, PhaseStatus, PhaseType};
use support::{Outcome, Scratch, run, settings};

fn build(name: &str, buildspec: &str) -> (Scratch, Outcome) {
    let scratch = Scratch::new(name);
    let outcome = run(buildspec, &settings(&scratch));
    (scratch, outcome)
}

fn exists(scratch: &Scratch, relative: &str) -> bool {
    scratch.path().join("src").join(relative).exists()
}

fn src(scratch: &Scratch) -> String {
    scratch.path().join("src").display().to_string()
}

#[test]
fn variables_and_directory_carry_across_commands_and_phases() {
    let (s, o) = build(
        "carry",
        r#"
version: 0.2
phases:
  install:
    commands:
      - pwd > start.txt
      - plain="not exported"
      - export EXPORTED="exported value"
      - mkdir -p deeper/dir && cd deeper/dir
  pre_build:
    commands:
      - printf '%s|%s|%s\n' "$plain" "$EXPORTED" "$PWD" > "$CODEBUILD_SRC_DIR/pre_build.txt"
      - bash -c 'printf "%s|%s\n" "${plain-}" "$EXPORTED"' > "$CODEBUILD_SRC_DIR/child.txt"
  build:
    commands:
      - cd ..
      - plain="changed in build"
  post_build:
    commands:
      - printf '%s|%s\n' "$plain" "$PWD" > "$CODEBUILD_SRC_DIR/post_build.txt"
"#,
    );
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let src = src(&s);
    assert_eq!(s.read("src/start.txt"), format!("{src}\n"));
    assert_eq!(
        s.read("src/pre_build.txt"),
        format!("not exported|exported value|{src}/deeper/dir\n")
    );
    // A plain shell variable stays in the shell; an exported one reaches programs.
    assert_eq!(s.read("src/child.txt"), "|exported value\n");
    assert_eq!(s.read("src/post_build.txt"), format!("changed in build|{src}/deeper\n"));
}

#[test]
fn a_set_e_failure_fails_its_command_and_phase_not_the_runner() {
    let (s, o) = build(
        "set-e",
        r#"
version: 0.2
phases:
  build:
    commands:
      - before=1
      - |
        set -euo pipefail
        echo "partial output"
        false
        touch never.txt
      - touch skipped.txt
  post_build:
    commands:
      - echo "$before/$CODEBUILD_BUILD_SUCCEEDING/$-" > post_build.txt
"#,
    );
    assert_eq!(o.result.status, BuildStatus::Failed);
    assert_eq!(o.status_of(Build), Some(PhaseStatus::Failed));
    assert_eq!(o.status_of(PostBuild), Some(PhaseStatus::Succeeded));
    assert!(!exists(&s, "never.txt") && !exists(&s, "skipped.txt"));
    let post = s.read("src/post_build.txt");
    let (values, flags) = post.trim_end().rsplit_once('/').unwrap();
    assert_eq!(values, "1/0");
    assert!(!flags.contains('e') && !flags.contains('u'), "options leaked: {flags}");
    let context = &o.result.phase(Build).unwrap().contexts[0];
    assert_eq!(context.status_code, "COMMAND_EXECUTION_ERROR");
    assert_eq!(
        context.message,
        "Error while executing command: set -euo pipefail\necho \"partial output\"\nfalse\ntouch never.txt. \
         Reason: exit status 1"
    );
    assert!(o.log.contains("partial output\n"), "{}", o.log);
    assert!(o.log.contains(" Phase complete: BUILD State: FAILED\n"), "{}", o.log);
    assert!(
        o.log.contains(
            " Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: set -euo pipefail"
        ),
        "{}",
        o.log
    );
    assert!(!o.log.contains(" Running command touch skipped.txt"), "{}", o.log);
}

const MARKERS: &str = r#"
  pre_build:
    commands:
      - echo "$CODEBUILD_BUILD_SUCCEEDING" > pre_build.txt
  build:
    commands:
      - echo "$CODEBUILD_BUILD_SUCCEEDING" > build.txt
  post_build:
    commands:
      - echo "$CODEBUILD_BUILD_SUCCEEDING" > post_build.txt
"#;

fn with_install(install: &str) -> String {
    format!("version: 0.2\nphases:\n  install:\n{install}{MARKERS}")
}

const EARLY_FAILURE_PHASES: [PhaseType; 7] = [
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    Finalizing,
    Completed,
];

#[test]
fn a_failed_install_skips_to_finalizing() {
    let (s, o) = build("install-fails", &with_install("    commands:\n      - exit 4\n"));
    assert_eq!(o.phase_types(), EARLY_FAILURE_PHASES);
    assert_eq!(o.status_of(Install), Some(PhaseStatus::Failed));
    assert_eq!(o.status_of(Finalizing), Some(PhaseStatus::Succeeded));
    for marker in ["pre_build.txt", "build.txt", "post_build.txt"] {
        assert!(!exists(&s, marker), "{marker} ran");
    }
    assert_eq!(o.result.status, BuildStatus::Failed);
    assert_eq!(o.result.failed_phase().unwrap().phase_type, Install);
    assert!(
        o.result.phase(Install).unwrap().contexts[0]
            .message
            .ends_with("exit 4. Reason: exit status 4")
    );
}

#[test]
fn a_failed_pre_build_skips_to_finalizing() {
    let (s, o) = build(
        "pre-build-fails",
        "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - exit 1\n  build:\n    commands:\n      - touch build.txt\n  post_build:\n    commands:\n      - touch post_build.txt\n",
    );
    assert_eq!(
        o.phase_types(),
        [
            Submitted,
            Queued,
            Provisioning,
            DownloadSource,
            Install,
            PreBuild,
            Finalizing,
            Completed
        ]
    );
    assert!(!exists(&s, "build.txt") && !exists(&s, "post_build.txt"));
    assert_eq!(o.result.status, BuildStatus::Failed);
}

#[test]
fn a_failed_build_still_runs_post_build_with_succeeding_0() {
    let (s, o) = build(
        "build-fails",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"$CODEBUILD_BUILD_SUCCEEDING\" > build.txt\n      - exit 2\n  post_build:\n    commands:\n      - echo \"$CODEBUILD_BUILD_SUCCEEDING\" > post_build.txt\n",
    );
    assert_eq!(o.phase_types(), PhaseType::ORDER);
    assert_eq!(s.read("src/build.txt"), "1\n");
    assert_eq!(s.read("src/post_build.txt"), "0\n");
    assert_eq!(o.status_of(PostBuild), Some(PhaseStatus::Succeeded));
    assert_eq!(o.status_of(UploadArtifacts), Some(PhaseStatus::Succeeded));
    assert_eq!(o.result.status, BuildStatus::Failed);
    assert_eq!(o.result.failed_phase().unwrap().phase_type, Build);
}

#[test]
fn a_successful_build_reads_succeeding_1_everywhere() {
    let (s, o) = build("succeeds", &with_install("    commands:\n      - true\n"));
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(o.phase_types(), PhaseType::ORDER);
    assert!(
        o.result.phases[..10]
            .iter()
            .all(|p| p.status == Some(PhaseStatus::Succeeded))
    );
    for marker in ["pre_build.txt", "build.txt", "post_build.txt"] {
        assert_eq!(s.read(&format!("src/{marker}")), "1\n", "{marker}");
    }
    assert!(o.result.failed_phase().is_none());
}

#[test]
fn on_failure_continue_moves_on_and_the_build_still_fails() {
    let (s, o) = build(
        "continue",
        &with_install("    on-failure: CONTINUE\n    commands:\n      - exit 1\n      - touch skipped.txt\n"),
    );
    assert_eq!(o.phase_types(), PhaseType::ORDER);
    assert_eq!(o.status_of(Install), Some(PhaseStatus::Failed));
    assert_eq!(o.status_of(PreBuild), Some(PhaseStatus::Succeeded));
    assert!(!exists(&s, "skipped.txt"));
    for marker in ["pre_build.txt", "build.txt", "post_build.txt"] {
        assert_eq!(s.read(&format!("src/{marker}")), "0\n", "{marker}");
    }
    assert_eq!(o.result.status, BuildStatus::Failed);
}

#[test]
fn on_failure_abort_in_build_skips_post_build() {
    let (s, o) = build(
        "abort",
        "version: 0.2\nphases:\n  build:\n    on-failure: ABORT\n    commands:\n      - exit 1\n  post_build:\n    commands:\n      - touch post_build.txt\n",
    );
    assert_eq!(
        o.phase_types(),
        [
            Submitted,
            Queued,
            Provisioning,
            DownloadSource,
            Install,
            PreBuild,
            Build,
            Finalizing,
            Completed
        ]
    );
    assert!(!exists(&s, "post_build.txt"));
    assert_eq!(o.result.status, BuildStatus::Failed);
}

#[test]
fn finally_runs_after_a_failing_command() {
    let (s, o) = build(
        "finally",
        r#"
version: 0.2
phases:
  pre_build:
    commands:
      - touch first.txt
      - exit 3
      - touch never.txt
    finally:
      - echo "$CODEBUILD_BUILD_SUCCEEDING" > finally.txt
      - touch finally-2.txt
"#,
    );
    assert!(exists(&s, "first.txt") && !exists(&s, "never.txt"));
    assert_eq!(s.read("src/finally.txt"), "0\n");
    assert!(exists(&s, "finally-2.txt"));
    let pre = o.result.phase(PreBuild).unwrap();
    assert_eq!(pre.status, Some(PhaseStatus::Failed));
    assert_eq!(pre.contexts.len(), 1);
    assert_eq!(
        pre.contexts[0].to_string(),
        "COMMAND_EXECUTION_ERROR: Error while executing command: exit 3. Reason: exit status 3"
    );
    // PRE_BUILD failed, so BUILD never ran: finally did not change the transition.
    assert!(o.result.phase(Build).is_none());
}

#[test]
fn a_failing_finally_command_fails_the_phase() {
    let (_s, o) = build(
        "finally-fails",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n    finally:\n      - exit 9\n",
    );
    assert_eq!(o.status_of(Build), Some(PhaseStatus::Failed));
    assert!(
        o.result.phase(Build).unwrap().contexts[0]
            .message
            .contains("exit 9. Reason: exit status 9")
    );
    assert_eq!(o.status_of(PostBuild), Some(PhaseStatus::Succeeded));
}

#[test]
fn a_block_command_without_set_e_has_its_last_statements_status() {
    let (_s, o) = build(
        "block-status",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - |\n        false\n        true\n",
    );
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
}

#[test]
fn overrides_win_and_parameters_arrive_masked() {
    let scratch = Scratch::new("precedence");
    let mut settings = settings(&scratch);
    settings.overrides = vec![
        EnvironmentVariable::new("BOTH", "from the override"),
        EnvironmentVariable::new("ONLY_OVERRIDE", "override only"),
    ];
    settings.parameters = vec![("TOKEN".into(), "s3cr3t-t0ken".into())];
    let o = run(
        r#"
version: 0.2
env:
  variables:
    BOTH: from the buildspec
    ONLY_SPEC: spec only
  parameter-store:
    TOKEN: /dockhand/token
phases:
  build:
    commands:
      - printf '%s\n' "$BOTH" "$ONLY_SPEC" "$ONLY_OVERRIDE" "$TOKEN" > env.txt
      - echo "the token is $TOKEN"
"#,
        &settings,
    );
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    assert_eq!(
        scratch.read("src/env.txt"),
        "from the override\nspec only\noverride only\ns3cr3t-t0ken\n"
    );
    assert!(o.log.contains("the token is ***\n"), "{}", o.log);
    assert!(!o.log.contains("s3cr3t-t0ken"), "{}", o.log);
}

#[test]
fn an_unresolved_parameter_fails_download_source() {
    let (s, o) = build(
        "unresolved",
        "version: 0.2\nenv:\n  parameter-store:\n    TOKEN: /missing\nphases:\n  build:\n    commands:\n      - touch ran.txt\n",
    );
    assert_eq!(o.status_of(DownloadSource), Some(PhaseStatus::Failed));
    assert_eq!(
        o.phase_types(),
        [Submitted, Queued, Provisioning, DownloadSource, Finalizing, Completed]
    );
    let context = &o.result.phase(DownloadSource).unwrap().contexts[0];
    assert_eq!(context.status_code, "Decrypted Variables Error");
    assert!(context.message.contains("TOKEN") && context.message.contains("/missing"));
    assert!(!exists(&s, "ran.txt"));
}

#[test]
fn reserved_override_names_fail_provisioning() {
    let scratch = Scratch::new("reserved");
    let mut settings = settings(&scratch);
    settings.overrides = vec![EnvironmentVariable::new("CODEBUILD_BUILD_SUCCEEDING", "1")];
    let o = run(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - touch ran.txt\n",
        &settings,
    );
    assert_eq!(o.status_of(Provisioning), Some(PhaseStatus::Failed));
    assert_eq!(
        o.phase_types(),
        [Submitted, Queued, Provisioning, Finalizing, Completed]
    );
    assert!(
        o.result.phase(Provisioning).unwrap().contexts[0]
            .message
            .contains("CODEBUILD_BUILD_SUCCEEDING")
    );
    assert!(!scratch.path().join("src/ran.txt").exists());
}

#[test]
fn codebuilds_own_variables_are_set() {
    let scratch = Scratch::new("codebuild-vars");
    let mut settings = settings(&scratch);
    settings.build_number = 17;
    settings.account_id = "111122223333".into();
    settings.initiator = "tester".into();
    let before = std::time::SystemTime::now();
    let o = run(
        r#"
version: 0.2
phases:
  build:
    commands:
      - |
        for v in CODEBUILD_BUILD_ID CODEBUILD_BUILD_ARN CODEBUILD_BUILD_NUMBER CODEBUILD_SRC_DIR \
                 CODEBUILD_BUILD_SUCCEEDING CODEBUILD_INITIATOR CODEBUILD_START_TIME AWS_REGION \
                 AWS_DEFAULT_REGION CODEBUILD_PROJECT_ARN CODEBUILD_LOG_PATH; do
          printf '%s=%s\n' "$v" "$(printenv "$v")"
        done > vars.txt
"#,
        &settings,
    );
    assert_eq!(o.result.status, BuildStatus::Succeeded, "{}", o.log);
    let vars = scratch.read("src/vars.txt");
    let get = |name: &str| {
        vars.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing in {vars}"))
            .to_owned()
    };
    let uuid = o.result.build_id.strip_prefix("demo:").expect("project:uuid");
    assert_eq!(get("CODEBUILD_BUILD_ID"), o.result.build_id);
    assert_eq!(
        get("CODEBUILD_BUILD_ARN"),
        format!("arn:aws:codebuild:eu-west-1:111122223333:build/demo:{uuid}")
    );
    assert_eq!(get("CODEBUILD_BUILD_ARN"), o.result.arn);
    assert_eq!(get("CODEBUILD_BUILD_NUMBER"), "17");
    assert_eq!(get("CODEBUILD_SRC_DIR"), src(&scratch));
    assert_eq!(get("CODEBUILD_BUILD_SUCCEEDING"), "1");
    assert_eq!(get("CODEBUILD_INITIATOR"), "tester");
    assert_eq!(get("AWS_REGION"), "eu-west-1");
    assert_eq!(get("AWS_DEFAULT_REGION"), "eu-west-1");
    assert_eq!(
        get("CODEBUILD_PROJECT_ARN"),
        "arn:aws:codebuild:eu-west-1:111122223333:project/demo"
    );
    assert_eq!(get("CODEBUILD_LOG_PATH"), uuid);
    let start: u128 = get("CODEBUILD_START_TIME").parse().unwrap();
    let before_ms = before.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    assert!(
        start >= before_ms && start < before_ms + 60_000,
        "{start} vs {before_ms}"
    );
}

#[test]
fn nothing_from_the_runners_own_environment_leaks_in() {
    // SAFETY: no other thread of this test binary reads or writes this variable.
    unsafe { std::env::set_var("DOCKHAND_RUNNER_LEAK_CHECK", "leaked") };
    let (s, o) = build(
        "leak",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"[${DOCKHAND_RUNNER_LEAK_CHECK-}]\" > leak.txt\n",
    );
    assert_eq!(o.result.status, BuildStatus::Succeeded);
    assert_eq!(s.read("src/leak.txt"), "[]\n");
}
