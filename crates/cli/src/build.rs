//! `dockhand build`: starts builds through the same path as a push. The order
//! (`{"order": {…}}`, [`dockhand_core::order`]) goes to the stack's requests queue, where
//! the spawner plans it like a signed push: the ref rules give the tags, the naming gives
//! the images, the graph orders the builds, and every build is claimed in the ledger under
//! a key that includes the order id, so one run builds each image once, however often SQS
//! delivers the order, and the next run builds again.
//!
//! With `--wait` it follows the order to its end reading only what the spawner and
//! CodeBuild record: the order's plan (the ledger item `order#<id>`), each build's ledger
//! item (its build id once started) or hold (a build waiting for its bases, blocked when a
//! base did not push), and CodeBuild's BatchGetBuilds. GetItem, BatchGetItem and
//! BatchGetBuilds are all it calls.

use aws_sdk_codebuild::types::StatusType;
use dockhand_aws::dynamodb::DynamoLedger;
use dockhand_core::order::{self, ORDER_RECORD_PREFIX, Order, OrderKind, OrderMessage, OrderRecord, OrderedBuild};
use dockhand_core::ports::{Holds, Ledger, ReadCache};
use dockhand_core::waves::HeldState;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// BatchGetBuilds takes at most 100 ids.
const BATCH_GET_BUILDS: usize = 100;
/// Where the IAM policies for this command are documented.
const PERMISSIONS_DOC: &str = "docs/reference/permissions.md";

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["dirs", "all"])))]
pub struct Args {
    /// The GitHub repository, as the deployment's `repositories` lists it.
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: String,
    /// The branch or tag: a full ref (refs/heads/…, refs/tags/…) or a name (a branch, then
    /// a tag). The repository's default branch by default.
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// The commit to build (40 hexadecimal digits); the ref's head by default. The ref's
    /// rules still give the tags.
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// Build the image of this directory (repository-relative, `.` for the root);
    /// repeatable. Exactly the directories named are built, not the images built on them.
    #[arg(long = "dir", value_name = "DIR")]
    pub dirs: Vec<String>,
    /// Build every image of the repository.
    #[arg(long)]
    pub all: bool,
    /// Follow the builds to their end; exit non-zero unless every one succeeded.
    #[arg(long)]
    pub wait: bool,
    /// Who asks, shown in the notifications (at most 100 characters); $USER by default.
    #[arg(long, value_name = "TEXT")]
    pub by: Option<String>,
    /// The stack's name: its requests queue is STACK-build-requests, its ledger table
    /// STACK-builds.
    #[arg(long, value_name = "NAME", default_value = "dockhand")]
    pub stack: String,
    /// With --wait: how long to follow the builds (s, m, h or d), then give up saying what
    /// is still running.
    #[arg(long, value_name = "DURATION", default_value = "3h", requires = "wait")]
    pub timeout: String,
    /// With --wait: milliseconds between two looks (tests).
    #[arg(long, value_name = "MS", default_value_t = 10_000, hide = true)]
    pub poll_interval_ms: u64,
}

/// The exit status: 0 sent (and with --wait, every build succeeded); 1 a build failed, was
/// blocked or skipped, the order was refused, or --timeout ran out; 2 the order could not
/// be made or sent, or the stack could not be read.
pub fn run(args: &Args) -> ExitCode {
    let order = match make_order(
        args,
        now(),
        order::new_id(OrderKind::Manual),
        std::env::var("USER").ok(),
    ) {
        Ok(order) => order,
        Err(e) => return fail(2, &e),
    };
    let timeout = match parse_timeout(&args.timeout) {
        Ok(t) => t,
        Err(e) => return fail(2, &format!("--timeout: {e}")),
    };
    let waiting = Wait {
        stack: args.stack.clone(),
        timeout,
        poll: Duration::from_millis(args.poll_interval_ms),
    };
    let result = crate::block_on(async {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        send(&sqs, &args.stack, &order).await.map_err(|e| (2, e))?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "sent order {} to {}-build-requests", order.id, args.stack);
        if !args.wait {
            let _ = writeln!(
                out,
                "the spawner plans it like a push: `dockhand status --stack {0}` shows its builds \
                 (run with --wait to follow them to the end); if nothing starts, see \
                 `dockhand dead-letters --stack {0}`",
                args.stack
            );
            return Ok(());
        }
        let ledger = DynamoLedger::new(
            aws_sdk_dynamodb::Client::new(&config),
            &format!("{}-builds", args.stack),
        );
        let codebuild = dockhand_aws::codebuild::client(&config);
        follow(&ledger, &codebuild, &order, &waiting, &mut out).await
    });
    match result {
        Err(e) => fail(2, &e),
        Ok(Err((code, e))) => fail(code, &e),
        Ok(Ok(())) => ExitCode::SUCCESS,
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("dockhand: {message}");
    ExitCode::from(code)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The order the arguments ask for, checked as the spawner checks it.
pub fn make_order(args: &Args, at: u64, id: String, user: Option<String>) -> Result<Order, String> {
    let mut directories = Vec::new();
    if !args.all {
        for dir in &args.dirs {
            let dir = normalize_dir(dir)?;
            if !directories.contains(&dir) {
                directories.push(dir);
            }
        }
    }
    if let Some(commit) = &args.commit
        && !(commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(format!(
            "--commit {:?} is not a full commit id (40 hexadecimal digits)",
            clean(commit)
        ));
    }
    let order = Order {
        id,
        kind: OrderKind::Manual,
        repository: args.repo.clone(),
        git_ref: args.git_ref.clone(),
        commit: args.commit.as_ref().map(|c| c.to_ascii_lowercase()),
        directories,
        by: args.by.clone().or(user).filter(|by| !by.is_empty()),
        at,
    };
    order.validate()?;
    Ok(order)
}

/// A repository-relative directory as the spawner names it: `./web/` is `web`, `.` and
/// `./` the root; absolute paths and `..` are refused.
pub fn normalize_dir(dir: &str) -> Result<String, String> {
    dockhand_core::order::normalize_directory(dir).map_err(|why| format!("--dir: {}", clean(&why)))
}

/// `--timeout`: a number and s, m, h or d.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.strip_suffix('s') {
        Some(seconds) if !seconds.is_empty() && seconds.bytes().all(|b| b.is_ascii_digit()) => {
            match seconds.parse::<u64>() {
                Ok(0) | Err(_) => Err(format!("{text:?} is not a usable number of seconds")),
                Ok(n) => Ok(Duration::from_secs(n)),
            }
        }
        _ => crate::deliveries::parse_since(text)
            .map(Duration::from_secs)
            .map_err(|e| e.replace("30m, 12h or 3d", "90s, 30m, 3h or 1d")),
    }
}

/// The requests queue's message body.
pub fn message(order: &Order) -> String {
    serde_json::to_string(&OrderMessage { order: order.clone() }).expect("an order serializes")
}

/// How to read an AWS error: with the permission it lacked when AWS denied it.
fn explain(error: dockhand_core::error::PortError, permission: &str, resource: &str) -> String {
    let text = error.0;
    if text.contains("AccessDenied") || text.contains("not authorized") || text.contains("UnauthorizedOperation") {
        format!("{text}\nyou need {permission} on {resource} ({PERMISSIONS_DOC} has the IAM policy)")
    } else {
        text
    }
}

async fn send(sqs: &aws_sdk_sqs::Client, stack: &str, order: &Order) -> Result<(), String> {
    let queue = format!("{stack}-build-requests");
    let arn = format!("arn:aws:sqs:REGION:ACCOUNT:{queue}");
    let url = sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .map_err(|e| {
            let text = explain(dockhand_aws::describe("SQS GetQueueUrl", &e), "sqs:GetQueueUrl", &arn);
            format!("cannot find the queue {queue} ({text}): is the stack {stack} deployed in this region and account?")
        })?
        .queue_url
        .ok_or_else(|| format!("SQS gave no URL for {queue}"))?;
    sqs.send_message()
        .queue_url(&url)
        .message_body(message(order))
        .send()
        .await
        .map_err(|e| {
            explain(
                dockhand_aws::describe(&format!("SQS SendMessage to {queue}"), &e),
                "sqs:SendMessage",
                &arn,
            )
        })?;
    Ok(())
}

/// How `--wait` follows an order.
pub struct Wait {
    pub stack: String,
    pub timeout: Duration,
    pub poll: Duration,
}

/// What became of one planned build.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Progress {
    /// Not started: queued, waiting for its bases, or for CodeBuild's answer.
    Waiting,
    Started(String),
    /// Over: CodeBuild's status (SUCCEEDED, FAILED, …) or BLOCKED/NOT_FOUND, the build id
    /// if any, and why when dockhand knows.
    Ended {
        status: String,
        id: Option<String>,
        why: Option<String>,
    },
}

type Failure = (u8, String);

async fn follow(
    ledger: &DynamoLedger,
    codebuild: &aws_sdk_codebuild::Client,
    order: &Order,
    wait: &Wait,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let deadline = Instant::now() + wait.timeout;
    let table = format!("{}-builds", wait.stack);
    let table_arn = format!("arn:aws:dynamodb:REGION:ACCOUNT:table/{table}");
    let key = format!("{ORDER_RECORD_PREFIX}{}", order.id);
    let mut said_pending = false;
    let record = loop {
        let found = ledger
            .cached(std::slice::from_ref(&key))
            .await
            .map_err(|e| (2, explain(e, "dynamodb:BatchGetItem", &table_arn)))?;
        if let Some(text) = found.get(&key) {
            break serde_json::from_str::<OrderRecord>(text)
                .map_err(|e| (2, format!("the ledger's {key} is not an order record: {e}")))?;
        }
        if !said_pending {
            let _ = writeln!(out, "planning: waiting for the spawner to plan order {}", order.id);
            said_pending = true;
        }
        if Instant::now() >= deadline {
            return Err((
                1,
                format!(
                    "the spawner has not planned order {} within --timeout {}: check `dockhand dead-letters --stack {}` \
                     (an order it could not read or plan ends there) and the spawner's logs",
                    order.id,
                    humane(wait.timeout),
                    wait.stack
                ),
            ));
        }
        tokio::time::sleep(wait.poll).await;
    };
    if let Some(why) = &record.refused {
        let _ = writeln!(out, "refused: {}", clean(why));
        return Err((1, format!("the spawner refused order {}: {}", order.id, clean(why))));
    }
    let _ = writeln!(
        out,
        "planned {} build(s) and {} skip(s) of {} {} at {}",
        record.builds.len(),
        record.skipped.len(),
        clean(&order.repository),
        clean(record.git_ref.as_deref().unwrap_or("-")),
        clean(record.commit.as_deref().unwrap_or("-")),
    );
    for build in &record.builds {
        let _ = writeln!(out, "  build  {}  {}", clean(&build.context), clean(&build.image));
    }
    for skip in &record.skipped {
        let _ = writeln!(out, "  skip   {}  {}", clean(&skip.context), clean(&skip.reason));
    }
    let mut progress = vec![Progress::Waiting; record.builds.len()];
    loop {
        look(ledger, codebuild, &record.builds, &mut progress, &table_arn, out).await?;
        if progress.iter().all(|p| matches!(p, Progress::Ended { .. })) {
            break;
        }
        if Instant::now() >= deadline {
            let open: Vec<String> = record
                .builds
                .iter()
                .zip(&progress)
                .filter_map(|(b, p)| match p {
                    Progress::Waiting => Some(format!("{} (not started)", clean(&b.context))),
                    Progress::Started(id) => Some(format!("{} (running: {})", clean(&b.context), clean(id))),
                    Progress::Ended { .. } => None,
                })
                .collect();
            return Err((
                1,
                format!(
                    "--timeout {} ran out with builds still open: {}",
                    humane(wait.timeout),
                    open.join(", ")
                ),
            ));
        }
        tokio::time::sleep(wait.poll).await;
    }
    verdict(order, &record, &progress, out)
}

/// One look at every open build: its ledger item or hold while it has not started, then
/// CodeBuild. Prints a line when a build starts and when it ends.
async fn look(
    ledger: &DynamoLedger,
    codebuild: &aws_sdk_codebuild::Client,
    builds: &[OrderedBuild],
    progress: &mut [Progress],
    table_arn: &str,
    out: &mut impl Write,
) -> Result<(), Failure> {
    for (build, state) in builds.iter().zip(progress.iter_mut()) {
        if *state != Progress::Waiting {
            continue;
        }
        let read = ledger
            .read(&build.key)
            .await
            .map_err(|e| (2, explain(e, "dynamodb:GetItem", table_arn)))?;
        if let Some(id) = read.and_then(|v| v.record.build_id) {
            let _ = writeln!(
                out,
                "started  {}  {}  {}",
                clean(&build.context),
                clean(&build.image),
                clean(&id)
            );
            *state = Progress::Started(id);
            continue;
        }
        let held = ledger
            .held(&build.key)
            .await
            .map_err(|e| (2, explain(e, "dynamodb:GetItem", table_arn)))?;
        if let Some((held, _)) = held
            && let HeldState::Blocked { base, reason } = held.state
        {
            let why = format!("its base {} did not push: {}", clean(&base), clean(&reason));
            end_line(out, build, "BLOCKED", None, Some(&why));
            *state = Progress::Ended {
                status: "BLOCKED".into(),
                id: None,
                why: Some(why),
            };
        }
    }
    let running: Vec<String> = progress
        .iter()
        .filter_map(|p| match p {
            Progress::Started(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    for ids in running.chunks(BATCH_GET_BUILDS) {
        let answer = codebuild
            .batch_get_builds()
            .set_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| {
                (
                    2,
                    explain(
                        dockhand_aws::describe("CodeBuild BatchGetBuilds", &e),
                        "codebuild:BatchGetBuilds",
                        "arn:aws:codebuild:REGION:ACCOUNT:project/PROJECT",
                    ),
                )
            })?;
        for found in answer.builds() {
            let Some(id) = found.id() else { continue };
            if !found.build_complete() {
                continue;
            }
            let status = found.build_status().map_or("UNKNOWN", StatusType::as_str).to_owned();
            for (build, state) in builds.iter().zip(progress.iter_mut()) {
                if *state == Progress::Started(id.to_owned()) {
                    end_line(out, build, &status, Some(id), None);
                    *state = Progress::Ended {
                        status: status.clone(),
                        id: Some(id.to_owned()),
                        why: None,
                    };
                }
            }
        }
        for missing in answer.builds_not_found() {
            for (build, state) in builds.iter().zip(progress.iter_mut()) {
                if *state == Progress::Started(missing.clone()) {
                    let why = "CodeBuild does not know the build (deleted?)".to_owned();
                    end_line(out, build, "NOT_FOUND", Some(missing), Some(&why));
                    *state = Progress::Ended {
                        status: "NOT_FOUND".into(),
                        id: Some(missing.clone()),
                        why: Some(why),
                    };
                }
            }
        }
    }
    Ok(())
}

fn end_line(out: &mut impl Write, build: &OrderedBuild, status: &str, id: Option<&str>, why: Option<&str>) {
    let _ = writeln!(
        out,
        "{status}  {}  {}  {}{}",
        clean(&build.context),
        clean(&build.image),
        clean(id.unwrap_or("-")),
        why.map(|w| format!("  {w}")).unwrap_or_default()
    );
}

/// 0 only when every planned build succeeded, at least one was planned, and (for an
/// order naming directories) none of them was skipped.
fn verdict(order: &Order, record: &OrderRecord, progress: &[Progress], out: &mut impl Write) -> Result<(), Failure> {
    let succeeded = progress
        .iter()
        .filter(|p| matches!(p, Progress::Ended { status, .. } if status == "SUCCEEDED"))
        .count();
    let failed = progress.len() - succeeded;
    let _ = writeln!(
        out,
        "{succeeded} succeeded, {failed} did not, {} skipped",
        record.skipped.len()
    );
    if failed > 0 {
        return Err((1, format!("{failed} build(s) of order {} did not succeed", order.id)));
    }
    if !order.directories.is_empty() && !record.skipped.is_empty() {
        return Err((
            1,
            format!(
                "{} of the directories named were not built (skipped, see above)",
                record.skipped.len()
            ),
        ));
    }
    if record.builds.is_empty() {
        return Err((1, format!("order {} planned no build", order.id)));
    }
    Ok(())
}

fn humane(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// Text from the ledger or AWS, safe for a terminal: control characters shown as `?`.
fn clean(text: &str) -> String {
    text.chars()
        .take(500)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("dockhand-build").chain(args.iter().copied())).map(|c| c.args)
    }

    const ID: &str = "m-00112233445566778899aabbccddeeff";

    fn order_of(args: &[&str]) -> Result<Order, String> {
        make_order(&parse(args).unwrap(), 1_764_662_400, ID.into(), Some("alice".into()))
    }

    #[test]
    fn directories_are_normalized_and_escapes_refused() {
        for (given, expected) in [
            ("web", "web"),
            ("./web/", "web"),
            ("a//b/./c", "a/b/c"),
            (".", "."),
            ("./", "."),
        ] {
            assert_eq!(normalize_dir(given).as_deref(), Ok(expected), "{given}");
        }
        for bad in ["", "/web", "../web", "web/../../x", "a/.."] {
            assert!(normalize_dir(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_of_dir_and_all_is_required_and_not_both() {
        assert!(parse(&["--repo", "acme/images"]).is_err());
        assert!(parse(&["--repo", "acme/images", "--dir", "web", "--all"]).is_err());
        assert!(parse(&["--dir", "web"]).is_err(), "--repo is required");
        assert!(
            parse(&["--repo", "acme/images", "--all", "--timeout", "1h"]).is_err(),
            "--timeout needs --wait"
        );
        let args = parse(&["--repo", "acme/images", "--dir", "web", "--dir", "api"]).unwrap();
        assert_eq!(args.dirs, ["web", "api"]);
        assert_eq!(args.stack, "dockhand");
    }

    #[test]
    fn the_message_is_the_contracts_order() {
        let order = order_of(&[
            "--repo",
            "acme/images",
            "--ref",
            "main",
            "--commit",
            "3E8A1F5C0D9B8A7F6E5D4C3B2A1F0E9D8C7B6A5F",
            "--dir",
            "./web/",
            "--dir",
            "api",
            "--dir",
            "web",
        ])
        .unwrap();
        let body: serde_json::Value = serde_json::from_str(&message(&order)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"order": {
                "id": ID, "kind": "manual", "repository": "acme/images", "ref": "main",
                "commit": "3e8a1f5c0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f",
                "directories": ["web", "api"], "by": "alice", "at": 1_764_662_400
            }})
        );
        let all = order_of(&["--repo", "acme/images", "--all", "--by", "ci"]).unwrap();
        let body: serde_json::Value = serde_json::from_str(&message(&all)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"order": {"id": ID, "kind": "manual", "repository": "acme/images",
                "directories": [], "by": "ci", "at": 1_764_662_400}})
        );
    }

    #[test]
    fn bad_arguments_are_refused_before_anything_is_sent() {
        for (args, says) in [
            (&["--repo", "acme", "--all"][..], "repository"),
            (
                &["--repo", "acme/images", "--all", "--commit", "abc123"][..],
                "--commit",
            ),
            (&["--repo", "acme/images", "--dir", "../x"][..], "--dir"),
            (&["--repo", "acme/images", "--all", "--ref", "a b"][..], "ref"),
            (&["--repo", "acme/images", "--all", "--by", &"x".repeat(101)][..], "by"),
        ] {
            let e = order_of(args).unwrap_err();
            assert!(e.contains(says), "{args:?}: {e}");
        }
    }

    #[test]
    fn timeouts_read_seconds_minutes_hours_and_days() {
        assert_eq!(parse_timeout("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("3h"), Ok(Duration::from_secs(3 * 3600)));
        assert_eq!(parse_timeout("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["0s", "s", "3", "1w", "-1h"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
