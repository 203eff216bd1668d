//! The dockhand command.

use clap::{Parser, Subcommand};
use dockhand_core::config::{Config, DEFAULT_COMPUTE_TYPE, DEFAULT_PROJECT, DEFAULT_TIMEOUT_MINUTES};
use dockhand_core::diff::parse_name_status;
use dockhand_core::index::PushIndex;
use dockhand_core::intake::{Intake, intake};
use dockhand_core::repo_config::REPO_CONFIG_PATH;
use dockhand_core::request::Changes;
use dockhand_core::rules::RefRules;
use dockhand_core::source::{ListedHost, Unresolved, plan_push};
use dockhand_core::webhook::{Event, PushEvent, parse_event};
use dockhand_core::{BuildRequest, ChangeSource, Deployment, PlanEntry, Registry, RepoConfig, Skip, plan};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod build;
mod dead_letters;
mod deliveries;
mod deploy;
mod graph;
mod local;
mod logs;
mod status;

/// The delivery id of a push read from a file: the idempotency tokens derive from it.
const NO_DELIVERY: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Parser)]
#[command(
    name = "dockhand",
    version,
    about = "Serverless image builds for Git monorepos of Dockerfiles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what a push would build: one JSON object per line, each a build with its exact
    /// StartBuild request, or a skip with its reason.
    Plan {
        /// The push event's JSON, as GitHub delivers it.
        #[arg(long, value_name = "PUSH.json")]
        event: PathBuf,
        /// `git ls-tree -r <commit>` output: plan offline, exactly (`--name-only` output is read
        /// too, but cannot tell a symlinked Dockerfile, which is not built). Without it (and
        /// without --payload-only) the plan asks GitHub for the tree, the comparison and
        /// `.dockhand.yml`, as the spawner does: GITHUB_API_URL (default
        /// https://api.github.com) and GITHUB_TOKEN (for private repositories) are read.
        #[arg(long, value_name = "FILE")]
        tree: Option<PathBuf>,
        /// Plan from the push payload alone, offline: a guess that says what it cannot know.
        #[arg(long, conflicts_with = "tree")]
        payload_only: bool,
        /// A local git checkout holding the pushed commit: plan offline and exactly, reading
        /// the tree, the comparison and `.dockhand.yml` from it through the same GitHub
        /// API code the spawner uses (answered locally, as GitHub would).
        #[arg(long, value_name = "PATH", conflicts_with_all = ["tree", "payload_only"])]
        repo: Option<PathBuf>,
        /// With --tree: `git diff --name-status -M <before> <after>` output, the changes of a
        /// push whose commit list is empty, capped or rewritten (a forced push), which the
        /// spawner would ask GitHub to compare.
        #[arg(long, value_name = "FILE")]
        changes: Option<PathBuf>,
        /// With --tree: the repository's `.dockhand.yml` at the pushed commit, to apply.
        #[arg(long, value_name = "FILE")]
        repo_config: Option<PathBuf>,
        /// The deployment configuration (the same JSON as DOCKHAND_CONFIG).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The delivery id the idempotency tokens derive from.
        #[arg(long, default_value = NO_DELIVERY)]
        delivery: String,
        /// Images pushed before, one `REPOSITORY IMAGE_KEY` per line (`#` starts a comment):
        /// an image planned with one of these keys is shown as a re-tag of its key tag, as
        /// the spawner would find it in its record. Without it every image shows as a build.
        #[arg(long, value_name = "FILE")]
        built: Option<PathBuf>,
    },
    /// Start builds through the same path as a push: an order sent to the stack's requests
    /// queue, planned by the spawner with the ref rules, naming, graph and exactly-once
    /// rules; --wait follows the builds to their end.
    ///
    /// Exit status: 0 when the order was sent (with --wait: every planned build succeeded);
    /// 1 when a build failed or was blocked, a named directory was skipped, the order was
    /// refused or planned nothing, or --timeout ran out; 2 when the arguments are wrong or
    /// AWS could not be asked (the message names a missing permission). Reads AWS
    /// credentials and region as the AWS CLI does.
    Build(build::Args),
    /// Print which images of a commit are built from which others of the repository, as
    /// the spawner reads them: text, Graphviz DOT, or what a change to a directory rebuilds.
    Graph(graph::Options),
    /// Print the SNS Publish request the notifier would send for a CodeBuild state-change
    /// event, as JSON with the SNS API's member names.
    Notify {
        /// The EventBridge "CodeBuild Build State Change" event's JSON.
        #[arg(long, value_name = "EVENT.json")]
        event: PathBuf,
        /// The deployment configuration; its project is the one reported on.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Statuses to notify, comma-separated (as NOTIFY_STATUSES).
        #[arg(long, value_name = "LIST")]
        statuses: Option<String>,
        /// The results topic, to include as TopicArn.
        #[arg(long, value_name = "ARN")]
        topic_arn: Option<String>,
    },
    /// Convert Docker Hub's build rules (Automated Builds) into dockhand's configuration:
    /// prints the `registry`, `repositories`, `naming`, `rules` and `images` keys to paste
    /// under `config` in dockhand.json, and says on stderr what could not be converted.
    Rules {
        /// The build rules as copied from each Docker Hub repository's build settings: JSON,
        /// `{"repositories":[{"repository":"NS/NAME","source_repository":"OWNER/NAME",
        /// "build_rules":[{"source_type":"Branch","source":"main","docker_tag":"latest",
        /// "dockerfile_location":"Dockerfile","build_context":"/web"}]}]}`.
        #[arg(long, value_name = "FILE")]
        from_hub: PathBuf,
        /// The Docker Hub namespace of the deployment; by default the first repository's.
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
    },
    /// Run dockhand's whole pipeline on this machine (`make demo`): the four functions under
    /// the Lambda emulator, moto for SNS and SSM, a local git server and registry, and the
    /// real buildspec run locally with docker or podman.
    Local {
        #[command(subcommand)]
        what: LocalCommand,
    },
    /// List what failed (the stack's dead-letter queue); --replay sends each record back.
    ///
    /// One line per record: when, which step failed
    /// (the spawner planning or starting, the notifier, the cleanup, or the EventBridge rule
    /// that could not deliver), repository, ref, commit, image, and why. `--replay` sends
    /// each record back where it came from (a push to the requests queue, a build to the
    /// builds queue, an event to its function) and deletes it once accepted; a build that
    /// already started is not started again. Reads AWS credentials and region as the AWS
    /// CLI does (`make dead-letters` passes the stack's name).
    DeadLetters {
        /// The stack's name: its queues are STACK-dead-letters, STACK-build-requests and
        /// STACK-builds, its functions STACK-notifier and STACK-cleanup.
        #[arg(long)]
        stack: String,
        /// Send each record back where it came from, and delete it once accepted.
        #[arg(long)]
        replay: bool,
        /// The notifier's function name, when it is not STACK-notifier.
        #[arg(long, value_name = "NAME")]
        notifier_function: Option<String>,
        /// The cleanup's function name, when it is not STACK-cleanup.
        #[arg(long, value_name = "NAME")]
        cleanup_function: Option<String>,
        /// Read at most this many records; the rest wait for the next run.
        #[arg(long, value_name = "N", default_value_t = dead_letters::MAX_RECORDS as u64,
              value_parser = clap::value_parser!(u64).range(1..=100_000))]
        max: u64,
    },
    /// Show the failed deliveries of the repository webhook that points at dockhand, and with
    /// --redeliver have GitHub deliver each failed event once more. GitHub never redelivers
    /// a failed delivery by itself.
    #[command(
        after_long_help = DELIVERIES_HELP,
        group(clap::ArgGroup::new("hook").required(true).args(["hook_id", "webhook_url"]))
    )]
    Deliveries {
        /// The repository whose webhook it is.
        #[arg(long, value_name = "OWNER/NAME")]
        repo: String,
        /// How far back to look: minutes, hours or days (30m, 12h, 3d). GitHub keeps
        /// deliveries for 3 days (7 on GitHub Enterprise Server).
        #[arg(long, value_name = "DURATION", default_value = "3d")]
        since: String,
        /// Ask GitHub to redeliver each failed event once (its newest failed delivery),
        /// oldest first, at most 100 a run.
        #[arg(long)]
        redeliver: bool,
        /// The webhook's id (the X-GitHub-Hook-ID header of its deliveries).
        #[arg(long, value_name = "ID")]
        hook_id: Option<u64>,
        /// The stack's WebhookUrl output: the webhook whose payload URL it is (make
        /// deliveries passes it).
        #[arg(long, value_name = "URL")]
        webhook_url: Option<String>,
        /// Milliseconds between two redeliveries: GitHub asks for at least a second between
        /// requests that change something, against its secondary rate limits.
        #[arg(long, value_name = "MS", default_value_t = 1000)]
        pause_ms: u64,
    },
    /// The CodeBuild project's recent builds, newest first: started, image, tags, commit,
    /// status, current phase, duration, time queued and build id. Reads AWS credentials,
    /// region and endpoints as the AWS CLI does (AWS_ENDPOINT_URL_CODEBUILD for local mode);
    /// needs codebuild:ListBuildsForProject and codebuild:BatchGetBuilds.
    Status {
        /// The CodeBuild project: the configuration's `project` (cfn's ProjectName).
        #[arg(long, value_name = "NAME", default_value = DEFAULT_PROJECT)]
        project: String,
        /// Only builds of this GitHub repository.
        #[arg(long, value_name = "OWNER/NAME")]
        repo: Option<String>,
        /// Only builds of this image repository, with or without its registry host
        /// (acme/web, docker.io/acme/web).
        #[arg(long, value_name = "REPOSITORY")]
        image: Option<String>,
        /// How far back to look: minutes, hours or days (30m, 12h, 3d).
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        since: String,
        /// Read at most this many builds (newest first), and say so when there were more.
        #[arg(long, value_name = "N", default_value_t = status::MAX_BUILDS as u64,
              value_parser = clap::value_parser!(u64).range(1..=10_000))]
        max: u64,
        /// One JSON object per line instead of the table: every field, times in Unix
        /// seconds and RFC 3339, durations in seconds.
        #[arg(long)]
        json: bool,
    },
    /// Print a build's log from CloudWatch Logs; with --follow, until the build ends. Exit
    /// status: 0 when it SUCCEEDED (or, without --follow, while it runs), 1 when it ended
    /// otherwise or a call failed, 2 for an unknown build. Needs codebuild:BatchGetBuilds
    /// and logs:GetLogEvents.
    Logs {
        /// The build's id, as `dockhand status` shows it (PROJECT:UUID).
        #[arg(value_name = "BUILD_ID")]
        build_id: String,
        /// Keep reading until the build ends.
        #[arg(long)]
        follow: bool,
        /// Milliseconds between two looks at the build while following.
        #[arg(long, value_name = "MS", default_value_t = 2000, hide = true)]
        poll_ms: u64,
    },
    /// Check dockhand.json and the values cfn/deploy.sh passes, and write each value the
    /// script needs into a directory, one file per value (crates/cli/src/deploy.rs, FILES).
    /// Plumbing of the make deploy verbs: hidden from --help.
    #[command(hide = true)]
    StackParameters(deploy::Args),
}

#[derive(Subcommand)]
enum LocalCommand {
    /// Push a sample repository of three images through the pipeline and show every step.
    Demo {
        /// The dockhand workspace whose functions run (its .venv holds moto and cargo-lambda).
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
    },
    /// Measure the registry layer cache (`make bench-build`): the sample's slow image rebuilt
    /// after a change, without and with the cache, each on an empty image store.
    BenchBuild {
        /// Rebuilds of each kind; the medians are compared.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// The dockhand workspace whose functions run (its .venv holds moto and cargo-lambda).
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
    },
    /// Start local mode and keep it running, for `dockhand build`, `status`, `logs` and
    /// `dead-letters` against it: prints the environment that points them at it; Enter or
    /// Ctrl-C stops everything.
    Up {
        /// Serve your git repository (a working copy or a bare repository; only read)
        /// instead of the sample one.
        #[arg(long, value_name = "PATH")]
        repo: Option<PathBuf>,
        /// The dockhand workspace whose functions run (its .venv holds moto and cargo-lambda).
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
    },
    /// Push a commit of your own repository through the pipeline: every planned image is
    /// built into a local registry; ends with `N pushed, M failed, K not built`, and exits
    /// 0 only when every planned build pushed.
    Run {
        /// Your git repository (a working copy or a bare repository); it is only read.
        #[arg(long, value_name = "PATH")]
        repo: PathBuf,
        /// The branch or tag pushed (a name or a full ref); the checked-out branch by default.
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// The commit the ref pointed at before the push: only what changed since is
        /// built. Without it the push is a new ref, which builds every image.
        #[arg(long, value_name = "SHA")]
        before: Option<String>,
        /// CodeBuild's project concurrent build limit (0: none).
        #[arg(long, default_value_t = 5)]
        project_concurrency: usize,
        /// CodeBuild's account concurrency (builds running at once).
        #[arg(long, default_value_t = 5)]
        account_concurrency: usize,
        /// The dockhand workspace whose functions run (its .venv holds moto and cargo-lambda).
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
    },
}

fn run_dead_letters(
    stack: &str,
    replay: bool,
    notifier: Option<String>,
    cleanup: Option<String>,
    max: usize,
) -> Result<(), String> {
    let mut functions = dockhand_core::dead_letter::Functions::of_stack(stack);
    if let Some(name) = notifier {
        functions.notifier = name;
    }
    if let Some(name) = cleanup {
        functions.cleanup = name;
    }
    block_on(async {
        let clients = dead_letters::Clients::from_env().await;
        let resolved = dead_letters::stack(&clients.sqs, stack, functions).await?;
        let summary = dead_letters::run(&clients, &resolved, replay, max, &mut std::io::stdout().lock()).await?;
        match summary.left.len() {
            0 => Ok(()),
            n => Err(format!(
                "{n} record(s) were not replayed and stay in the dead-letter queue"
            )),
        }
    })?
}

const DELIVERIES_HELP: &str = "\
What it prints: one line for each event (a guid: redeliveries keep the event's guid) of which a
delivery failed since --since, newest first: FAILED or RECOVERED, when, the delivery id, the
guid, the event (event.action when it has an action), the status code and GitHub's status
text, whether that delivery was a redelivery, and how many attempts failed. A failed event
later delivered successfully (a successful redelivery) is shown as RECOVERED, with the
delivery that succeeded, and is not failed any more. A delivery fails when GitHub's status is
not OK and the listener did not answer 2xx; a push the listener answered 202 and ignored
(another branch, a repository it does not build) is not a failure. Then one line:
N failed, M recovered, of K deliveries.

--redeliver asks GitHub to deliver the newest failed delivery of each still-failed event
again (POST .../deliveries/ID/attempts, answered 202), oldest first, a pause apart, at most
100 a run (it says so when it stops there), and prints each answer. Redelivering is safe for
dockhand: builds are keyed on signed content (repository, ref, commit, directory and the
deployment), never the delivery id, so a redelivered push starts nothing that already
started.

Exit status: 0 when nothing failed or every failed event was redelivered; 1 when failed
events remain (not redelivered, refused, or over the cap); 2 when GitHub could not be asked
or answered an error (the message says what to do).

Token: GITHUB_TOKEN, never printed. A fine-grained personal access token needs this
repository and its \"Webhooks\" repository permission: read-only to list, read and write to
redeliver; a classic token read:repo_hook to list, admin:repo_hook (or repo) to redeliver.
Only the repository's admins see its webhooks. GITHUB_API_URL names another API root
(GitHub Enterprise: https://HOST/api/v3; default https://api.github.com).

Limits: GitHub keeps deliveries 3 days (7 on GitHub Enterprise Server). A push of more than
three tags at once creates no push event at all, so there is nothing to redeliver: push tags
three or fewer at a time.";

/// `--since` in seconds ([`deliveries::parse_since`]), or the usage error's exit status
/// once said.
fn since_seconds(text: &str) -> Result<u64, ExitCode> {
    deliveries::parse_since(text).map_err(|e| {
        eprintln!("dockhand: --since: {e}");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Deliveries {
            repo,
            since,
            redeliver,
            hook_id,
            webhook_url,
            pause_ms,
        } => {
            let seconds = match since_seconds(&since) {
                Ok(seconds) => seconds,
                Err(code) => return code,
            };
            return deliveries::run(&deliveries::Options {
                repository: repo,
                since: seconds,
                since_text: since,
                redeliver,
                hook: match (hook_id, webhook_url) {
                    (Some(id), _) => deliveries::HookChoice::Id(id),
                    (None, Some(url)) => deliveries::HookChoice::Url(url),
                    (None, None) => unreachable!("clap requires one"),
                },
                pause: std::time::Duration::from_millis(pause_ms),
            });
        }
        Command::Status {
            project,
            repo,
            image,
            since,
            max,
            json,
        } => {
            let seconds = match since_seconds(&since) {
                Ok(seconds) => seconds,
                Err(code) => return code,
            };
            return status::run(&status::Options {
                project,
                repository: repo,
                image,
                since: seconds,
                since_text: since,
                max: max as usize,
                json,
            });
        }
        Command::Logs {
            build_id,
            follow,
            poll_ms,
        } => {
            return logs::run(&logs::Options {
                build_id,
                follow,
                poll: std::time::Duration::from_millis(poll_ms),
            });
        }
        Command::Plan {
            event,
            tree,
            payload_only,
            repo,
            changes,
            repo_config,
            config,
            delivery,
            built,
        } => run_plan(&PlanFiles {
            event: &event,
            tree: tree.as_deref(),
            payload_only,
            repo: repo.as_deref(),
            changes: changes.as_deref(),
            repo_config: repo_config.as_deref(),
            config: config.as_deref(),
            delivery: &delivery,
            built: built.as_deref(),
        }),
        Command::Build(args) => return build::run(&args),
        Command::Graph(options) => graph::run(&options),
        Command::Notify {
            event,
            config,
            statuses,
            topic_arn,
        } => run_notify(&event, config.as_deref(), statuses.as_deref(), topic_arn),
        Command::StackParameters(args) => deploy::run(&args),
        Command::Rules { from_hub, namespace } => run_rules(&from_hub, namespace.as_deref()),
        Command::DeadLetters {
            stack,
            replay,
            notifier_function,
            cleanup_function,
            max,
        } => run_dead_letters(&stack, replay, notifier_function, cleanup_function, max as usize),
        Command::Local {
            what: LocalCommand::Demo { workspace },
        } => workspace
            .canonicalize()
            .map_err(|e| format!("workspace {}: {e}", workspace.display()))
            .and_then(|w| local::run(&w)),
        Command::Local {
            what: LocalCommand::Up { repo, workspace },
        } => workspace
            .canonicalize()
            .map_err(|e| format!("workspace {}: {e}", workspace.display()))
            .and_then(|w| local::up(&w, repo)),
        Command::Local {
            what: LocalCommand::BenchBuild { rounds, workspace },
        } => workspace
            .canonicalize()
            .map_err(|e| format!("workspace {}: {e}", workspace.display()))
            .and_then(|w| {
                if rounds == 0 {
                    return Err("--rounds must be at least 1".into());
                }
                local::bench_build(&w, rounds)
            }),
        Command::Local {
            what:
                LocalCommand::Run {
                    repo,
                    git_ref,
                    before,
                    project_concurrency,
                    account_concurrency,
                    workspace,
                },
        } => workspace
            .canonicalize()
            .map_err(|e| format!("workspace {}: {e}", workspace.display()))
            .and_then(|w| {
                local::run_repository(&local::RunOptions {
                    workspace: w,
                    repository: repo,
                    git_ref,
                    before,
                    limits: dockhand_local::hub::Limits {
                        project: (project_concurrency > 0).then_some(project_concurrency),
                        account: account_concurrency,
                    },
                })
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dockhand: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `dockhand rules --from-hub`: the converted configuration on stdout, what was not
/// converted (or may differ) on stderr; a failure when nothing was converted.
fn run_rules(path: &std::path::Path, namespace: Option<&str>) -> Result<(), String> {
    let hub = dockhand_core::hub_rules::parse(&read(path, "the Docker Hub build rules")?)?;
    let conversion = dockhand_core::hub_rules::convert(&hub, namespace);
    for problem in &conversion.problems {
        eprintln!("{problem}");
    }
    let json = conversion
        .config_json()
        .ok_or("nothing could be converted: no rule and image dockhand can build the same way")?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json).expect("JSON values serialize")
    );
    Ok(())
}

fn read(path: &std::path::Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

/// What `dockhand plan` reads.
struct PlanFiles<'a> {
    event: &'a std::path::Path,
    tree: Option<&'a std::path::Path>,
    payload_only: bool,
    repo: Option<&'a std::path::Path>,
    changes: Option<&'a std::path::Path>,
    repo_config: Option<&'a std::path::Path>,
    config: Option<&'a std::path::Path>,
    delivery: &'a str,
    built: Option<&'a std::path::Path>,
}

/// The record keys of a `--built` file: `REPOSITORY IMAGE_KEY` lines.
fn read_built(path: &std::path::Path) -> Result<std::collections::HashSet<String>, String> {
    let text = read(path, "the list of built images")?;
    let mut keys = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        match (fields.next(), fields.next(), fields.next()) {
            (Some(repository), Some(key), None)
                if dockhand_core::retag::check_repository(repository).is_ok()
                    && dockhand_core::image_key::is_image_key(key) =>
            {
                keys.insert(dockhand_core::image_key::record_key(repository, key));
            }
            _ => {
                return Err(format!(
                    "{} line {}: expected `REPOSITORY IMAGE_KEY`, such as `docker.io/acme/web` and the 64 hexadecimal digits of DOCKHAND_IMAGE_KEY",
                    path.display(),
                    n + 1
                ));
            }
        }
    }
    Ok(keys)
}

fn run_plan(files: &PlanFiles<'_>) -> Result<(), String> {
    let event = files.event;
    let online = files.tree.is_none() && !files.payload_only;
    if online && (files.changes.is_some() || files.repo_config.is_some()) {
        return Err(
            "--changes and --repo-config are offline inputs: give them with --tree (without --tree, dockhand plan asks GitHub, or the --repo checkout, as the spawner asks GitHub)".into(),
        );
    }
    let push = read_push(event)?;
    let deployment = deployment_for(files.config, &push)?;
    // Read every input before printing anything, so a mistake prints no partial plan.
    let repo_config = match files.repo_config {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("cannot read the .dockhand.yml {}: {e}", path.display()))?)
        }
        None => None,
    };
    let changed = match files.changes {
        Some(path) => {
            Some(parse_name_status(&read(path, "the changes")?).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let tree = match files.tree {
        Some(path) => Some(ListedHost::from_ls_tree(&read(path, "the tree listing")?)),
        None => None,
    };
    let built = files.built.map(read_built).transpose()?;
    let mut out = std::io::stdout().lock();
    let mut emit = |entries: &[PlanEntry]| -> Result<(), String> {
        let mut entries = entries.to_vec();
        match &built {
            Some(recorded) => {
                dockhand_core::retag::mark_retags(&mut entries, recorded);
                // A re-tagged base is not waited for: its dependents are pinned to its key tag.
                dockhand_core::waves::sequence(&mut entries);
            }
            None if !dockhand_core::retag::lookup_keys(&entries).is_empty() => eprintln!(
                "dockhand: every image is shown as a build: no record of pushed images was consulted (pass --built FILE to show re-tags)"
            ),
            None => {}
        }
        for entry in &entries {
            let line = serde_json::to_string(entry).expect("plan entries serialize");
            writeln!(out, "{line}").map_err(|e| format!("cannot write the plan: {e}"))?;
        }
        Ok(())
    };
    // The listener's half, then the spawner's, with the SNS message in between.
    let request = match intake(&push, files.delivery, &deployment).map_err(|e| e.to_string())? {
        Intake::Build(request) => request,
        Intake::Ignored { reason } => return emit(&[PlanEntry::Skip(Skip::not_built(reason))]),
    };
    let (_, message) = request.encode_for_sns().map_err(|e| e.to_string())?;
    let mut request: BuildRequest = serde_json::from_str(&message).expect("a BuildRequest decodes what it encodes");
    if let Some(path) = files.repo {
        // GitHub's REST API answered from the checkout, as the spawner would be answered.
        let github = dockhand_fake_github::FakeGitHub::start(
            &request.repository.full_name,
            path,
            dockhand_fake_github::FakeOptions::default(),
        )
        .map_err(|e| format!("cannot read the repository {}: {e}", path.display()))?;
        return emit(&plan_online(&request, &deployment, &github.url(), None)?);
    }
    if online {
        let api = dockhand_github::api_url_from_env();
        let token = std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty());
        return emit(&plan_online(&request, &deployment, &api, token)?);
    }
    // Offline: the changes the user gives stand for the spawner's comparison.
    let mut compared = None;
    match (&request.changes.source, changed) {
        (ChangeSource::NewRef, Some(_)) => eprintln!(
            "dockhand: this push is a new branch or tag, which builds every image (with --tree); --changes is not used"
        ),
        (ChangeSource::Compare { .. }, Some(changed)) => compared = Some(changed),
        (_, Some(changed)) => request.changes = Changes::from_changed_files(&changed),
        (ChangeSource::Compare { base }, None) => {
            return Err(format!(
                "this push's commit list is empty, capped or rewritten (a forced push), so its changes must be compared: pass --changes FILE with the output of `git diff --name-status -M {base} {}`",
                request.commit
            ));
        }
        _ => {}
    }
    let Some(mut host) = tree else {
        // --payload-only: the planner alone, on what the payload names.
        if let Some(changed) = compared {
            request.changes = Changes::from_changed_files(&changed);
        }
        let repo = repo_config.map_or(Ok(RepoConfig::default()), |bytes| RepoConfig::from_file(Some(&bytes)));
        return emit(&plan(
            &request,
            &PushIndex::new(&request.changes),
            &deployment,
            repo.as_ref(),
        ));
    };
    // --tree: the spawner's own way, the listings answering for GitHub.
    match (host.lists_repo_config(), repo_config) {
        (true, None) => {
            return Err(format!(
                "the tree lists {REPO_CONFIG_PATH}, which the spawner would apply: pass it with --repo-config FILE (the output of `git show {}:{REPO_CONFIG_PATH}`)",
                request.commit
            ));
        }
        (false, Some(_)) => eprintln!(
            "dockhand: the tree lists no {REPO_CONFIG_PATH}, so --repo-config is not applied (the spawner would find none to read)"
        ),
        (_, content) => host.repo_config = content,
    }
    host.changes = compared;
    let planned = block_on(plan_push(&host, &request, &deployment))?.map_err(|e| e.to_string())?;
    for note in &planned.notes {
        eprintln!("dockhand: {note}");
    }
    emit(&planned.entries)
}

/// A push event file, as GitHub delivers it.
fn read_push(path: &std::path::Path) -> Result<PushEvent, String> {
    parse_push(read(path, "the event file")?.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_push(body: &[u8]) -> Result<PushEvent, String> {
    match parse_event("push", Some("application/json"), body).map_err(|e| e.to_string())? {
        Event::Push(push) => Ok(*push),
        _ => unreachable!("parsed as a push"),
    }
}

/// The deployment of `--config`, or the defaults for the push's repository.
fn deployment_for(config: Option<&std::path::Path>, push: &PushEvent) -> Result<Deployment, String> {
    match config {
        Some(path) => {
            Deployment::from_json(&read(path, "the configuration")?).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => default_deployment(
            &push.repository.owner.login.clone().unwrap_or_default(),
            &push.repository.full_name,
        ),
    }
}

/// What `command` says when GitHub did not answer what it asked; `offline` is the way
/// around GitHub.
fn unresolved(command: &str, offline: &str, e: Unresolved) -> String {
    match e {
        Unresolved::Retry(e) => format!("GitHub could not answer ({e}): try again later, or {offline}"),
        Unresolved::Stop(reason) => {
            format!("{reason}. For {command}, set GITHUB_TOKEN to a token that can read the repository, or {offline}")
        }
    }
}

/// Runs a future to completion on a runtime of this thread.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    Ok(runtime.block_on(future))
}

/// The spawner's way: GitHub's tree, comparison and `.dockhand.yml` at the pushed commit,
/// from the API at `api`.
pub(crate) fn plan_online(
    request: &BuildRequest,
    deployment: &Deployment,
    api: &str,
    token: Option<String>,
) -> Result<Vec<PlanEntry>, String> {
    let host = dockhand_github::GitHub::new(api, token).map_err(|e| format!("GITHUB_API_URL {api:?}: {e}"))?;
    match block_on(plan_push(&host, request, deployment))? {
        Ok(planned) => {
            for note in &planned.notes {
                eprintln!("dockhand: {note}");
            }
            Ok(planned.entries)
        }
        Err(e) => Err(unresolved("dockhand plan", "plan offline with --tree", e)),
    }
}

/// Without a deployment: the project name, compute and timeout defaults, the default ref
/// rules, and Docker Hub under the repository owner's name.
fn default_deployment(owner: &str, full_name: &str) -> Result<Deployment, String> {
    let namespace = owner.to_ascii_lowercase();
    eprintln!(
        "dockhand: no --config given: building {full_name:?} only, using CodeBuild project {DEFAULT_PROJECT:?}, Docker Hub namespace {namespace:?} (the repository owner), \
         {DEFAULT_COMPUTE_TYPE}, {DEFAULT_TIMEOUT_MINUTES}-minute timeout, and the default ref rules \
         (default branch -> latest + short SHA; tags -> their name)"
    );
    Deployment::new(Config {
        project: DEFAULT_PROJECT.into(),
        registry: Registry::DockerHub {
            namespace,
            username: None,
            token_parameter: None,
        },
        rules: RefRules::default_rules(),
        images: Default::default(),
        compute_type: DEFAULT_COMPUTE_TYPE.into(),
        timeout_minutes: DEFAULT_TIMEOUT_MINUTES,
        naming: Default::default(),
        github_token_parameter: None,
        platforms: Vec::new(),
        repositories: Some(vec![full_name.to_owned()]),
        github_host: dockhand_core::config::DEFAULT_GITHUB_HOST.into(),
        repository_tags: false,
        pull_credential: None,
        cache: true,
        cache_repository: None,
        buildkit_image: dockhand_core::config::DEFAULT_BUILDKIT_IMAGE.into(),
        autotest: Default::default(),
        hub_description: false,
        hub_api_url: dockhand_core::config::DEFAULT_HUB_API_URL.into(),
        commit_statuses: false,
        refresh: None,
    })
    .map_err(|e| {
        format!("the repository owner {owner:?} cannot serve as the Docker Hub namespace ({e}); pass --config")
    })
}

/// The notifier's own decision, with a sink that is never called.
fn run_notify(
    event: &std::path::Path,
    config: Option<&std::path::Path>,
    statuses: Option<&str>,
    topic_arn: Option<String>,
) -> Result<(), String> {
    let text = read(event, "the event file")?;
    let event: aws_lambda_events::event::codebuild::CodeBuildEvent = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a CodeBuild state-change event: {e}", event.display()))?;
    let project = match config {
        Some(path) => {
            Deployment::from_json(&read(path, "the configuration")?)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .config
                .project
        }
        None => DEFAULT_PROJECT.to_owned(),
    };
    let notifier = dockhand_notifier::Notifier {
        project,
        statuses: dockhand_notifier::statuses(statuses),
        topic_arn,
        sink: NoSink,
        records: NoSink,
        logs: NoSink,
    };
    match notifier.decide(&event) {
        dockhand_notifier::Decision::Send(request) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&request).expect("a publish request serializes")
            );
            Ok(())
        }
        dockhand_notifier::Decision::Ignore(reason) => {
            eprintln!("dockhand: the notifier would send nothing: {reason}");
            Ok(())
        }
    }
}

struct NoSink;

impl dockhand_core::ports::ImageRecords for NoSink {
    async fn recorded(
        &self,
        _: &[String],
    ) -> Result<std::collections::HashSet<String>, dockhand_core::error::PortError> {
        unreachable!("dockhand notify only decides")
    }

    async fn record(&self, _: &str, _: u64) -> Result<(), dockhand_core::error::PortError> {
        unreachable!("dockhand notify only decides")
    }
}

impl dockhand_core::ports::BuildLogs for NoSink {
    async fn report_lines(&self, _: &str, _: &str) -> Result<Vec<String>, dockhand_core::error::PortError> {
        unreachable!("dockhand notify only decides")
    }
}

impl dockhand_core::ports::NotificationSink for NoSink {
    async fn send(
        &self,
        _: &dockhand_core::notification::PublishRequest,
    ) -> Result<(), dockhand_core::error::PortError> {
        unreachable!("dockhand notify only decides")
    }
}
