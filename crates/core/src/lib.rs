//! dockhand's core: every decision, no I/O. Modules in layers, each using only those above
//! it (`tests/layers.rs` fails on a cycle):
//!
//! - leaves: wire formats and facts that need nothing else;
//! - data: configuration and the requests that travel between the functions;
//! - decisions: what to build, name, start, retry and tell;
//! - ports: the outside world as traits, with in-memory fakes;
//! - source: planning a push with what a source host says about it.

// Leaves.
pub mod error; // PortError: an outside system failed.
pub mod webhook; // GitHub's push payload, decoded borrowed or owned.
pub mod signature; // X-Hub-Signature-256, and secrets that never print.
pub mod docker_ref; // What Docker accepts as a repository path and a tag.
pub mod image_ref; // Image references, normalized as Docker reads them.
pub mod dockerfile; // Which images a Dockerfile starts from or copies from.
pub mod tree; // A repository's files and changes as a host answers them; the Dockerfile rule.
pub mod time; // RFC 3339 and the civil calendar.
pub mod retry; // Bounded backoff within a queue's retention.
pub mod retention; // Which build records the cleanup removes.
pub mod platform; // Target platforms: os/arch[/variant], from a known set.
// Data.
pub mod rules; // Ref rules: which refs build, with which tags.
pub mod config; // The deployment configuration (DOCKHAND_CONFIG).
pub mod repo_config; // A repository's .dockhand.yml.
pub mod hub_rules; // Docker Hub's build rules, converted into rules and images.
pub mod request; // The BuildRequest between listener and spawner.
pub mod index; // Where the Dockerfiles are: a tree, or the push alone.
pub mod diff; // `git diff --name-status` as changed files.
// Decisions.
pub mod trust; // The checks every untrusted field passes, at both ends of the topic.
pub mod order; // Builds asked for by hand or by the schedule, and the record of their plan.
pub mod intake; // A push becomes a BuildRequest, or is ignored with the reason.
pub mod naming; // Directory to image name and tags.
pub mod buildspec; // The inline buildspecs: an image build, and the re-tag job.
pub mod image_key; // What an image is made of: its key, its key tag, its record.
pub mod start_build; // One job's StartBuild request, and its build key.
pub mod graph; // Images built on each other: edges, cycles, order.
pub mod plan; // A request and an index become builds and skips, one line per directory.
pub mod retag; // The re-tag job: images whose key was pushed before, given their tags.
pub mod pins; // DOCKHAND_BASES and DOCKHAND_DEPENDENTS: their names and how they read back.
pub mod queue; // The builds queue's message, and its batches.
pub mod ledger; // Exactly once: the claim on each build key.
pub mod waves; // Builds in order: held until their bases push, pinned to what they pushed.
pub mod build_report; // The `##dockhand` lines a build prints about its Docker Hub steps.
pub mod notification; // What people are told, as SNS messages.
pub mod dead_letter; // Reading, explaining and replaying the dead-letter queue.
// Ports.
pub mod ports; // The outside world as traits; `ports::memory` fakes them.
// Source.
pub mod source; // plan_push: a push planned from what its source host says.

#[cfg(test)]
mod testing;

pub use config::{Config, Deployment, Naming, Registry};
pub use intake::{Intake, intake};
pub use plan::{BuildJob, PlanEntry, Skip, plan};
pub use repo_config::{RepoConfig, RepoConfigError};
pub use request::{BuildRequest, ChangeSource};
