//! Builds in order: an image built from another image of the same push starts only once
//! that base has pushed, and builds on the very image the base pushed.
//!
//! - **Planning** ([`sequence`]) gives each build the bases it waits for (`after`): the
//!   bases this push builds. A base this push re-tags instead was pushed before under its
//!   key tag, so the dependent is pinned to that tag at once and waits for nothing.
//! - **Holding**: the spawner sends the builds that wait for nothing to the builds queue
//!   and keeps each other one as a [`Held`] record in the ledger's table, written before
//!   any base can start. A base's build carries its dependents' build keys
//!   (`DOCKHAND_DEPENDENTS`).
//! - **Releasing**: EventBridge sends every finished build of the project to the builds
//!   queue too. For a base that succeeded, the spawner reads the digest the build pushed
//!   (its exported `DOCKHAND_IMAGE_DIGEST`, from BatchGetBuilds) into each dependent's
//!   record; the dependent whose every base has pushed is sent to the builds queue with
//!   `DOCKHAND_BASES` pinning each name its Dockerfile gives a base to `image@digest`,
//!   which the build passes to BuildKit as `--build-context NAME=docker-image://…`. A base
//!   that failed blocks its dependents, and theirs, and people are told which and why.
//!
//! Nothing polls, and nothing is started twice: a record is changed with conditional
//! writes, and a dependent sent twice meets its build key in the ledger.

pub use crate::pins::{
    BASES_VARIABLE, DEPENDENTS_VARIABLE, DIGEST_VARIABLE, is_base_name, is_digest, is_pinned, parse_dependents,
    parse_pins,
};
use crate::plan::{Action, PlanEntry};
use crate::queue::QueuedBuild;
use crate::request::BuildRequest;
use crate::start_build::{EnvironmentVariable, StartBuildRequest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The ledger items holding waiting builds start so; build keys are plain hex.
pub const HOLD_PREFIX: &str = "hold#";
/// How long a waiting build's record is kept: a day longer than the record of started
/// builds ([`crate::ledger::RECORD_DAYS`]), so that a push replayed while its builds are
/// remembered also finds what became of its held builds (released, blocked) and holds
/// nothing again; a push replayed later than that is built again, holds included.
pub const HOLD_DAYS: u64 = crate::ledger::RECORD_DAYS + 1;

/// Sets `after`, `DOCKHAND_BASES` (for bases re-tagged, pinned to their key tag) and
/// `DOCKHAND_DEPENDENTS` on every build, from the bases planning found and what became
/// of each (built or re-tagged). Run again after re-tags are marked; the result depends
/// only on the entries.
pub fn sequence(entries: &mut [PlanEntry]) {
    // context → (built, its build key, its key tag reference)
    let planned: BTreeMap<String, (bool, String, String)> = entries
        .iter()
        .filter_map(|e| match e {
            PlanEntry::Build(job) => Some((
                job.context.clone(),
                (
                    job.action == Action::Build,
                    job.key.clone(),
                    format!("{}:{}", job.image, job.key_tag()),
                ),
            )),
            PlanEntry::Skip(_) => None,
        })
        .collect();
    let mut dependents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in entries.iter_mut() {
        let PlanEntry::Build(job) = entry else { continue };
        let mut after = Vec::new();
        let mut pins = Vec::new();
        for base in &job.bases {
            match planned.get(&base.context) {
                Some((true, _, _)) => after.push(base.context.clone()),
                Some((false, _, key_tag)) => {
                    pins.extend(base.names.iter().map(|name| (name.clone(), key_tag.clone())));
                }
                None => {}
            }
        }
        if job.action == Action::Build {
            for base in &after {
                dependents.entry(base.clone()).or_default().insert(job.key.clone());
            }
        }
        job.after = after;
        set_env(&mut job.request, BASES_VARIABLE, &render_pins(&pins));
    }
    for entry in entries.iter_mut() {
        let PlanEntry::Build(job) = entry else { continue };
        let keys = match (&job.action, dependents.get(&job.context)) {
            (Action::Build, Some(keys)) => keys.iter().cloned().collect::<Vec<_>>().join(","),
            _ => String::new(),
        };
        set_env(&mut job.request, DEPENDENTS_VARIABLE, &keys);
    }
}

/// Sets (or, for an empty value, removes) one environment override: CodeBuild refuses
/// an empty value.
fn set_env(request: &mut StartBuildRequest, name: &str, value: &str) {
    let vars = &mut request.environment_variables_override;
    vars.retain(|v| v.name != name);
    if !value.is_empty() {
        vars.push(EnvironmentVariable {
            name: name.to_owned(),
            value: value.to_owned(),
            kind: "PLAINTEXT".into(),
        });
    }
}

fn render_pins(pins: &[(String, String)]) -> String {
    pins.iter()
        .map(|(name, pinned)| format!("{name}\t{pinned}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The record of a build waiting for its bases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The build, as it will be queued (its pins to bases this push built are added then).
    pub build: QueuedBuild,
    pub bases: Vec<HeldBase>,
    pub state: HeldState,
    /// When DynamoDB may delete the record (its TTL), Unix seconds.
    pub expires_at: u64,
}

/// One base a held build waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBase {
    pub context: String,
    /// The base build's key.
    pub key: String,
    pub image: String,
    pub names: Vec<String>,
    /// What the base pushed, once it has.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum HeldState {
    Waiting,
    /// Sent to the builds queue.
    Released,
    /// Not to be built: a base did not push.
    Blocked {
        base: String,
        reason: String,
    },
}

/// What a base's outcome does to a held build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Other bases have yet to push.
    Waiting,
    /// Every base has pushed: queue this build, then mark the record released.
    Release(Box<QueuedBuild>),
    /// Released or blocked before: nothing to do.
    Done,
}

/// The held records of a plan: one for each build that waits for a base.
pub fn holds(request: &BuildRequest, entries: &[PlanEntry], now: u64) -> Vec<(String, Held)> {
    let keys: BTreeMap<&str, &str> = entries
        .iter()
        .filter_map(|e| match e {
            PlanEntry::Build(job) => Some((job.context.as_str(), job.key.as_str())),
            PlanEntry::Skip(_) => None,
        })
        .collect();
    entries
        .iter()
        .filter_map(|e| match e {
            PlanEntry::Build(job) if job.action == Action::Build && !job.after.is_empty() => Some(job),
            _ => None,
        })
        .map(|job| {
            let bases = job
                .bases
                .iter()
                .filter(|b| job.after.contains(&b.context))
                .map(|b| HeldBase {
                    context: b.context.clone(),
                    key: keys.get(b.context.as_str()).copied().unwrap_or_default().to_owned(),
                    image: b.image.clone(),
                    names: b.names.clone(),
                    digest: None,
                })
                .collect();
            (
                job.key.clone(),
                Held {
                    build: QueuedBuild::new(request, job),
                    bases,
                    state: HeldState::Waiting,
                    expires_at: now + HOLD_DAYS * 24 * 60 * 60,
                },
            )
        })
        .collect()
}

impl Held {
    /// As stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a held build serializes")
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a held build: {e}"))
    }

    /// The base built under `base_key` pushed `digest`.
    pub fn base_pushed(&mut self, base_key: &str, digest: &str) -> Settled {
        if self.state != HeldState::Waiting {
            return Settled::Done;
        }
        for base in self.bases.iter_mut().filter(|b| b.key == base_key) {
            base.digest = Some(digest.to_owned());
        }
        if self.bases.iter().any(|b| b.digest.is_none()) {
            return Settled::Waiting;
        }
        Settled::Release(Box::new(self.released_build()))
    }

    /// The build as it is queued: its request pins every name of every base to the
    /// digest that base pushed, after the pins it had (bases re-tagged by the push).
    pub fn released_build(&self) -> QueuedBuild {
        let mut build = self.build.clone();
        let mut pins: Vec<(String, String)> = build
            .request
            .env(BASES_VARIABLE)
            .map(|text| parse_pins(text).unwrap_or_default())
            .unwrap_or_default();
        for base in &self.bases {
            if let Some(digest) = &base.digest {
                pins.extend(
                    base.names
                        .iter()
                        .map(|n| (n.clone(), format!("{}@{digest}", base.image))),
                );
            }
        }
        set_env(&mut build.request, BASES_VARIABLE, &render_pins(&pins));
        build
    }

    /// Blocks the build because `base` did not push; false when it was not waiting.
    pub fn block(&mut self, base: &str, reason: &str) -> bool {
        if self.state != HeldState::Waiting {
            return false;
        }
        self.state = HeldState::Blocked {
            base: base.to_owned(),
            reason: reason.to_owned(),
        };
        true
    }

    /// The build keys of the builds waiting for this one.
    pub fn dependents(&self) -> Vec<String> {
        self.build
            .request
            .env(DEPENDENTS_VARIABLE)
            .map(parse_dependents)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
