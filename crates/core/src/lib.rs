//! dockhand's core: every decision, no I/O.
//!
//! A push is verified ([`signature`]), decoded ([`github`]), judged by the ref rules
//! ([`rules`]) and reduced to a [`request::BuildRequest`]. The spawner plans it ([`plan`])
//! against a [`index::DockerfileIndex`], names each image ([`naming`]) and turns each job
//! into a StartBuild request ([`job`]) carrying the rendered [`buildspec`].

pub mod buildspec;
pub mod config;
pub mod dead_letter;
pub mod diff;
pub mod github;
pub mod index;
pub mod job;
pub mod ledger;
pub mod naming;
pub mod notification;
pub mod plan;
pub mod ports;
pub mod queue;
pub mod repo_config;
pub mod request;
pub mod retention;
pub mod retry;
pub mod rules;
pub mod signature;
pub mod source;
#[cfg(test)]
mod testing;
pub mod time;
pub mod trust;

pub use config::{Config, Deployment, Naming, Registry};
pub use plan::{BuildJob, PlanEntry, Skip, plan};
pub use repo_config::{RepoConfig, RepoConfigError};
pub use request::{BuildRequest, ChangeSource, Intake};
