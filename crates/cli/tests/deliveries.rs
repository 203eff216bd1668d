//! `dockhand deliveries` as a user runs it, against the stand-in of GitHub's webhook
//! endpoints (`dockhand_fake_github::hooks`): what it prints, what it redelivers, and its
//! exit status; and `make deliveries` through cfn/deploy.sh, with the stack's WebhookUrl
//! read by a stand-in `aws`.

use dockhand_fake_github::hooks::{FakeDelivery, FakeHook, FakeHooks, HooksSetup, TokenAccess};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const REPO: &str = "acme/images";
const TOKEN: &str = "github_pat_11AAAA-test-token-never-shown";
const HOOK: u64 = 7;
const WEBHOOK_URL: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhook";
const MINUTE: Duration = Duration::from_secs(60);

fn setup(deliveries: Vec<FakeDelivery>) -> HooksSetup {
    HooksSetup::new(
        REPO,
        TOKEN,
        vec![
            FakeHook {
                id: 3,
                url: "https://user:hunter2@ci.example.com/hook?key=s3cret".into(),
                events: vec!["push".into()],
                deliveries: vec![FakeDelivery::push(1, "ci", MINUTE, 500)],
            },
            FakeHook {
                id: HOOK,
                url: WEBHOOK_URL.into(),
                events: vec!["push".into()],
                deliveries,
            },
        ],
    )
}

/// Pushes the listener took (202), one every ten minutes from ten minutes ago.
fn fine(n: u64) -> Vec<FakeDelivery> {
    (0..n)
        .map(|i| FakeDelivery::push(1000 + i, &format!("fine-{i}"), MINUTE * 10 * (i as u32 + 1), 202))
        .collect()
}

struct Run {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

fn finish(out: Output) -> Run {
    let run = Run {
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        code: out.status.code(),
    };
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(TOKEN), "the token was printed:\n{text}");
    }
    run
}

fn dockhand(fake: &FakeHooks, token: Option<&str>, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dockhand"));
    command
        .arg("deliveries")
        .args(["--repo", REPO, "--pause-ms", "0"])
        .args(args)
        .env("GITHUB_API_URL", fake.url())
        .env_remove("GITHUB_TOKEN");
    if let Some(token) = token {
        command.env("GITHUB_TOKEN", token);
    }
    finish(command.output().unwrap())
}

fn by_url(fake: &FakeHooks, args: &[&str]) -> Run {
    let mut all = vec!["--webhook-url", WEBHOOK_URL];
    all.extend_from_slice(args);
    dockhand(fake, Some(TOKEN), &all)
}

#[test]
fn shows_what_failed_and_what_recovered() {
    let mut deliveries = fine(20);
    deliveries.extend([
        // Failed, then redelivered successfully: recovered.
        FakeDelivery::push(2001, "aaaa-recovered", MINUTE * 100, 502),
        FakeDelivery::push(2002, "aaaa-recovered", MINUTE * 90, 202).redelivery(),
        // Failed twice, the second time as a redelivery.
        FakeDelivery::push(2003, "bbbb-failing", MINUTE * 80, 0),
        FakeDelivery::push(2004, "bbbb-failing", MINUTE * 70, 401).redelivery(),
        // Answered 202 and ignored by the listener (another branch): not a failure.
        FakeDelivery::push(2005, "cccc-ignored", MINUTE * 60, 202),
    ]);
    let fake = FakeHooks::start(setup(deliveries)).unwrap();
    let run = by_url(&fake, &[]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let failed = lines[0];
    for part in [
        "FAILED",
        "delivery 2004",
        "guid bbbb-failing",
        "  push  ",
        "401 Invalid HTTP Response: 401",
        "redelivery",
        "2 failed attempts",
    ] {
        assert!(failed.contains(part), "{part:?} in {failed}");
    }
    assert!(failed.split_whitespace().nth(1).unwrap().ends_with('Z'), "{failed}");
    let recovered = lines[1];
    for part in [
        "RECOVERED",
        "delivery 2001",
        "guid aaaa-recovered",
        "502 Invalid HTTP Response: 502",
        "original",
        "delivered as 2002",
    ] {
        assert!(recovered.contains(part), "{part:?} in {recovered}");
    }
    assert!(!run.stdout.contains("cccc-ignored"));
    assert!(
        lines[2].starts_with(&format!(
            "1 failed, 1 recovered, of 25 deliveries to webhook {HOOK} of {REPO} since "
        )) && lines[2].ends_with("(3d)"),
        "{}",
        lines[2]
    );
    assert!(
        run.stderr
            .contains(&format!("webhook {HOOK} of {REPO} delivers to {WEBHOOK_URL}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--redeliver"), "{}", run.stderr);
    // Nothing was redelivered without --redeliver.
    assert!(fake.redelivered().is_empty());
    // The other webhook's failure is not this one's.
    assert!(!run.stdout.contains("guid ci"));
}

#[test]
fn nothing_failed_is_success() {
    let fake = FakeHooks::start(setup(fine(3))).unwrap();
    let run = by_url(&fake, &["--redeliver"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.lines().last().unwrap().split(" since ").next().unwrap(),
        format!("0 failed, 0 recovered, of 3 deliveries to webhook {HOOK} of {REPO}")
    );
    assert!(fake.redelivered().is_empty());
}

#[test]
fn since_leaves_older_failures_out() {
    let mut deliveries = fine(2);
    deliveries.push(FakeDelivery::push(2001, "old", MINUTE * 100, 502));
    deliveries.push(FakeDelivery::push(2002, "unreachable", MINUTE * 150, 0));
    let fake = FakeHooks::start(setup(deliveries)).unwrap();
    let run = by_url(&fake, &["--since", "1h"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("0 failed, 0 recovered, of 2 deliveries"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.trim_end().ends_with("(1h)"));
    let wide = by_url(&fake, &["--since", "2h"]);
    assert_eq!(wide.code, Some(1));
    assert!(wide.stdout.contains("guid old"));
    assert!(!wide.stdout.contains("guid unreachable"));
    let wider = by_url(&fake, &["--since", "3h"]);
    assert!(
        wider
            .stdout
            .contains("guid unreachable  push  no answer: failed to connect  original"),
        "{}",
        wider.stdout
    );
    assert!(wider.stdout.contains("guid old"));
    // Past what GitHub keeps: said, and still looked at.
    let long = by_url(&fake, &["--since", "10d"]);
    assert!(
        long.stderr.contains("GitHub keeps deliveries for 3 days"),
        "{}",
        long.stderr
    );
    let bad = by_url(&fake, &["--since", "3 weeks"]);
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr.contains("not a duration such as 30m, 12h or 3d"),
        "{}",
        bad.stderr
    );
}

#[test]
fn redelivers_each_failed_event_once_and_reports_each_answer() {
    let mut deliveries = fine(5);
    deliveries.extend([
        FakeDelivery::push(2001, "accepted", MINUTE * 50, 502),
        // Failed twice: only its newest delivery is redelivered.
        FakeDelivery::push(2002, "twice", MINUTE * 40, 0),
        FakeDelivery::push(2003, "twice", MINUTE * 30, 502).redelivery(),
        FakeDelivery::push(2004, "refused", MINUTE * 20, 401),
    ]);
    let mut with_refusal = setup(deliveries);
    with_refusal.refuse.insert(2004, 422);
    let fake = FakeHooks::start(with_refusal).unwrap();
    let run = by_url(&fake, &["--redeliver"]);
    assert_eq!(
        run.code,
        Some(1),
        "refused is not redelivered:\n{}{}",
        run.stdout,
        run.stderr
    );
    // Oldest first.
    assert_eq!(fake.redelivered(), [2001, 2003]);
    let stdout = &run.stdout;
    for part in [
        "redelivery of 2001 (guid accepted): accepted",
        "redelivery of 2003 (guid twice): accepted",
        "redelivery of 2004 (guid refused): refused: 422 Validation Failed",
        "2 redelivered, 1 refused, 0 not asked",
    ] {
        assert!(stdout.contains(part), "{part:?} in\n{stdout}");
    }
    // GitHub delivered both again; the next run sees them recovered and one still failed.
    let again = by_url(&fake, &[]);
    assert_eq!(again.code, Some(1));
    assert!(again.stdout.contains("1 failed, 2 recovered"), "{}", again.stdout);
    assert_eq!(again.stdout.matches("RECOVERED").count(), 2);
}

#[test]
fn all_redelivered_is_success_and_a_second_run_finds_them_recovered() {
    let mut deliveries = fine(2);
    deliveries.push(FakeDelivery::push(2001, "a", MINUTE * 5, 502));
    let fake = FakeHooks::start(setup(deliveries)).unwrap();
    let run = by_url(&fake, &["--redeliver"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("1 redelivered, 0 refused, 0 not asked"));
    let again = by_url(&fake, &["--redeliver"]);
    assert_eq!(again.code, Some(0));
    assert!(again.stdout.contains("0 failed, 1 recovered"), "{}", again.stdout);
    assert_eq!(fake.redelivered(), [2001], "a recovered event is not redelivered");
}

#[test]
fn a_run_redelivers_at_most_a_hundred() {
    let deliveries: Vec<FakeDelivery> = (0..101)
        .map(|i| FakeDelivery::push(3000 + i, &format!("failed-{i}"), MINUTE * (i as u32 + 1), 502))
        .collect();
    let fake = FakeHooks::start(setup(deliveries)).unwrap();
    let run = by_url(&fake, &["--redeliver"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let redelivered = fake.redelivered();
    assert_eq!(redelivered.len(), 100);
    // Oldest first: the newest is the one left for the next run.
    assert!(!redelivered.contains(&3000) && redelivered[0] == 3100);
    assert!(
        run.stdout
            .contains("capped: a run redelivers at most 100; 1 failed event(s) left for another run"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("100 redelivered, 0 refused, 1 not asked"));
    // The next run redelivers the rest.
    let next = by_url(&fake, &["--redeliver"]);
    assert_eq!(next.code, Some(0), "{}", next.stdout);
    assert_eq!(fake.redelivered().last(), Some(&3000));
}

#[test]
fn the_hook_by_id() {
    let mut deliveries = fine(1);
    deliveries.push(FakeDelivery::push(2001, "a", MINUTE * 5, 502));
    let fake = FakeHooks::start(setup(deliveries)).unwrap();
    let run = dockhand(&fake, Some(TOKEN), &["--hook-id", "7"]);
    assert_eq!(run.code, Some(1));
    assert!(run.stdout.contains("guid a"));
    assert!(
        !fake.requests().iter().any(|r| r.ends_with("/hooks?per_page=100")),
        "no listing of hooks"
    );
}

#[test]
fn says_which_webhooks_there_are_when_none_points_at_the_stack() {
    let fake = FakeHooks::start(setup(fine(1))).unwrap();
    let run = dockhand(
        &fake,
        Some(TOKEN),
        &[
            "--webhook-url",
            "https://zzz999.execute-api.eu-west-1.amazonaws.com/webhook",
        ],
    );
    assert_eq!(run.code, Some(2));
    let stderr = &run.stderr;
    assert!(
        stderr.contains("no webhook of acme/images delivers to https://zzz999"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{WEBHOOK_URL} (id 7)")), "{stderr}");
    // Another webhook's userinfo and query are not printed.
    assert!(stderr.contains("https://ci.example.com/hook?… (id 3)"), "{stderr}");
    assert!(!stderr.contains("hunter2") && !stderr.contains("s3cret"), "{stderr}");

    let empty = FakeHooks::start(HooksSetup::new(REPO, TOKEN, Vec::new())).unwrap();
    let run = by_url(&empty, &[]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("acme/images has no webhooks"), "{}", run.stderr);
}

#[test]
fn token_errors_say_what_is_missing() {
    let mut deliveries = fine(1);
    deliveries.push(FakeDelivery::push(2001, "a", MINUTE * 5, 502));
    let fake = FakeHooks::start(setup(deliveries.clone())).unwrap();
    // No token: refused before asking.
    let run = dockhand(&fake, None, &["--webhook-url", WEBHOOK_URL]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("set GITHUB_TOKEN") && run.stderr.contains("\"Webhooks\" permission"),
        "{}",
        run.stderr
    );
    assert!(fake.requests().is_empty());
    // A wrong token.
    let run = dockhand(&fake, Some("ghp_wrong"), &["--webhook-url", WEBHOOK_URL]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("401 (Bad credentials)"), "{}", run.stderr);
    // A token that cannot see the repository, or lacks the Webhooks permission.
    for (access, says) in [
        (TokenAccess::NoRepository, "404 (Not Found)"),
        (
            TokenAccess::NoWebhooks,
            "403 (Resource not accessible by personal access token)",
        ),
    ] {
        let fake = FakeHooks::start(HooksSetup {
            access,
            ..setup(deliveries.clone())
        })
        .unwrap();
        let run = by_url(&fake, &[]);
        assert_eq!(run.code, Some(2), "{access:?}");
        assert!(
            run.stderr.contains(says) && run.stderr.contains("\"Webhooks\" repository permission"),
            "{access:?}: {}",
            run.stderr
        );
    }
    // Read-only lists, and is told why it may not redeliver.
    let fake = FakeHooks::start(HooksSetup {
        access: TokenAccess::Read,
        ..setup(deliveries)
    })
    .unwrap();
    let run = by_url(&fake, &["--redeliver"]);
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("guid a"), "{}", run.stdout);
    assert!(
        run.stdout.contains("0 redelivered, 0 refused, 1 not asked"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("stopped redelivering") && run.stderr.contains("GitHub accepts webhooks=write"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------- make deliveries

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The AWS CLI calls cfn/deploy.sh makes for `deliveries`, answered as an account with the
/// stack deployed; every call is logged.
const FAKE_AWS: &str = r#"#!/bin/bash
printf '%s\n' "$*" >>"$FAKE_AWS_LOG"
case "$1 $2" in
"sts get-caller-identity") echo 123456789012 ;;
"configure get") echo eu-west-1 ;;
"cloudformation describe-stacks") printf '%s\n' "$FAKE_WEBHOOK_URL" ;;
*) echo "unexpected: aws $*" >&2; exit 1 ;;
esac
"#;

fn make_deliveries(fake: &FakeHooks, vars: &[&str]) -> (Run, String, Scratch) {
    use std::os::unix::fs::PermissionsExt;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deliveries-make-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let scratch = Scratch(dir.clone());
    let aws = dir.join("bin/aws");
    std::fs::write(&aws, FAKE_AWS).unwrap();
    std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join("dockhand.json"),
        r#"{ "stack": "smoke", "region": "eu-west-1", "config": { "project": "smoke-builds",
             "registry": { "type": "dockerhub", "namespace": "acme", "username": "acmebot" },
             "repositories": ["acme/images"] } }"#,
    )
    .unwrap();
    let mut command = Command::new("make");
    command
        .current_dir(root())
        // The CLI is the one this test built: `cli` (cargo build) is not remade.
        .args(["--no-print-directory", "-o", "cli", "deliveries"])
        .args(vars)
        .env(
            "PATH",
            format!("{}:{}", dir.join("bin").display(), std::env::var("PATH").unwrap()),
        )
        .env("FAKE_AWS_LOG", dir.join("aws.log"))
        .env("FAKE_WEBHOOK_URL", WEBHOOK_URL)
        .env("DOCKHAND_CLI", env!("CARGO_BIN_EXE_dockhand"))
        .env("DOCKHAND_FILE", dir.join("dockhand.json"))
        .env("DOCKHAND_SETTINGS_DIR", dir.join("settings"))
        .env("GITHUB_API_URL", fake.url())
        .env("GITHUB_TOKEN", TOKEN)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("REPO")
        .env_remove("SINCE")
        .env_remove("REDELIVER")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS");
    dockhand_local::lambda::forget_cargo_test(&mut command);
    let run = finish(command.output().unwrap());
    let log = std::fs::read_to_string(dir.join("aws.log")).unwrap_or_default();
    (run, log, scratch)
}

#[test]
fn make_deliveries_reads_the_stacks_webhook_url() {
    if Command::new("make").arg("--version").output().is_err() {
        eprintln!("NOTICE: make is not installed; skipping make deliveries");
        return;
    }
    let mut deliveries = fine(2);
    deliveries.push(FakeDelivery::push(2001, "a", MINUTE * 5, 502));
    let fake = FakeHooks::start(setup(deliveries)).unwrap();
    let (run, log, _scratch) = make_deliveries(&fake, &["REPO=acme/images", "SINCE=2h", "REDELIVER=1"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        log.contains("cloudformation describe-stacks --stack-name smoke --query Stacks[0].Outputs[?OutputKey=='WebhookUrl'].OutputValue --output text"),
        "{log}"
    );
    assert!(
        run.stdout.contains("redelivery of 2001 (guid a): accepted"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("(2h)"), "{}", run.stdout);
    assert_eq!(fake.redelivered(), [2001]);

    // Values are arguments, never evaluated: a hostile REPO reaches dockhand as it is, and
    // dockhand refuses the name.
    let marker = std::env::temp_dir().join(format!("deliveries-pwned-{}", std::process::id()));
    let hostile = format!(
        "REPO=acme/images\";touch {};\"`touch {}`",
        marker.display(),
        marker.display()
    );
    let (run, _, _scratch) = make_deliveries(&fake, &[&hostile]);
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("is not a GitHub repository name"), "{}", run.stderr);
    assert!(!marker.exists(), "a value was evaluated");

    let (run, log, _scratch) = make_deliveries(&fake, &[]);
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("REPO is required"), "{}", run.stderr);
    assert!(log.is_empty(), "no AWS call without REPO: {log}");
    let (run, _, _scratch) = make_deliveries(&fake, &["REPO=acme/images", "REDELIVER=yes please"]);
    assert!(run.stderr.contains("REDELIVER must be 1"), "{}", run.stderr);
}
