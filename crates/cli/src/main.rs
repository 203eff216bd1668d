//! The dockhand command.

use clap::{Parser, Subcommand};
use dockhand_core::config::{Config, DEFAULT_COMPUTE_TYPE, DEFAULT_PROJECT, DEFAULT_TIMEOUT_MINUTES};
use dockhand_core::github::{Event, parse_event};
use dockhand_core::index::{DockerfileIndex, PushIndex, TreeIndex};
use dockhand_core::request::{Intake, intake};
use dockhand_core::rules::RefRules;
use dockhand_core::{BuildRequest, Deployment, PlanEntry, Registry, Skip, plan};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod deploy;
mod local;

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
        /// `git ls-tree -r --name-only <commit>` output: makes the plan exact.
        #[arg(long, value_name = "FILE")]
        tree: Option<PathBuf>,
        /// The deployment configuration (the same JSON as DOCKHAND_CONFIG).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The delivery id the idempotency tokens derive from.
        #[arg(long, default_value = "00000000-0000-0000-0000-000000000000")]
        delivery: String,
    },
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
    /// Run dockhand's whole pipeline on this machine (`make demo`): the four functions under
    /// the Lambda emulator, moto for SNS and SSM, a local git server and registry, and the
    /// real buildspec run locally with docker or podman.
    Local {
        #[command(subcommand)]
        what: LocalCommand,
    },
    /// Check dockhand.json and write what `make deploy` needs into a directory: one file per
    /// setting, and `parameters` with one Key=Value CloudFormation parameter per line.
    StackParameters {
        /// The deployment file.
        #[arg(long, value_name = "FILE", default_value = "dockhand.json")]
        file: PathBuf,
        /// The directory to write into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum LocalCommand {
    /// Push a sample repository of three images through the pipeline and show every step.
    Demo {
        /// The dockhand workspace whose functions run (its .venv holds moto and cargo-lambda).
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan {
            event,
            tree,
            config,
            delivery,
        } => run_plan(&event, tree.as_deref(), config.as_deref(), &delivery),
        Command::Notify {
            event,
            config,
            statuses,
            topic_arn,
        } => run_notify(&event, config.as_deref(), statuses.as_deref(), topic_arn),
        Command::StackParameters { file, out } => deploy::run(&file, &out),
        Command::Local {
            what: LocalCommand::Demo { workspace },
        } => workspace
            .canonicalize()
            .map_err(|e| format!("workspace {}: {e}", workspace.display()))
            .and_then(|w| local::run(&w)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dockhand: {message}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &std::path::Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

fn run_plan(
    event: &std::path::Path,
    tree: Option<&std::path::Path>,
    config: Option<&std::path::Path>,
    delivery: &str,
) -> Result<(), String> {
    let body = read(event, "the event file")?;
    let push = match parse_event("push", Some("application/json"), body.as_bytes())
        .map_err(|e| format!("{}: {e}", event.display()))?
    {
        Event::Push(push) => push,
        _ => unreachable!("parsed as a push"),
    };
    let deployment = match config {
        Some(path) => {
            Deployment::from_json(&read(path, "the configuration")?).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => default_deployment(&push.repository.owner.login.clone().unwrap_or_default())?,
    };
    let mut out = std::io::stdout().lock();
    let mut emit = |entry: &PlanEntry| -> Result<(), String> {
        let line = serde_json::to_string(entry).expect("plan entries serialize");
        writeln!(out, "{line}").map_err(|e| format!("cannot write the plan: {e}"))
    };
    // The listener's half, then the spawner's, with the SNS message in between.
    let request = match intake(&push, delivery, &deployment.rules).map_err(|e| e.to_string())? {
        Intake::Build(request) => request,
        Intake::Ignored { reason } => {
            return emit(&PlanEntry::Skip(Skip {
                context: ".".into(),
                reason,
                attention: false,
            }));
        }
    };
    let (_, message) = request.encode_for_sns().map_err(|e| e.to_string())?;
    let request: BuildRequest = serde_json::from_str(&message).expect("a BuildRequest decodes what it encodes");
    let index: Box<dyn DockerfileIndex> = match tree {
        Some(path) => Box::new(TreeIndex::from_ls_tree(&read(path, "the tree listing")?)),
        None => Box::new(PushIndex::new(&request.changes)),
    };
    for entry in plan(&request, index.as_ref(), &deployment) {
        emit(&entry)?;
    }
    Ok(())
}

/// Without a deployment: the project name, compute and timeout defaults, the default ref
/// rules, and Docker Hub under the repository owner's name.
fn default_deployment(owner: &str) -> Result<Deployment, String> {
    let namespace = owner.to_ascii_lowercase();
    eprintln!(
        "dockhand: no --config given: using CodeBuild project {DEFAULT_PROJECT:?}, Docker Hub namespace {namespace:?} (the repository owner), \
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

impl dockhand_core::ports::NotificationSink for NoSink {
    async fn send(
        &self,
        _: &dockhand_core::notification::PublishRequest,
    ) -> Result<(), dockhand_core::ports::PortError> {
        unreachable!("dockhand notify only decides")
    }
}
