//! Starting builds on the shared CodeBuild project.

use crate::describe;
use aws_sdk_codebuild::types::{Build, EnvironmentVariable, EnvironmentVariableType, SortOrderType, SourceType};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use dockhand_core::build_status::{BuildFacts, PhaseFacts};
use dockhand_core::error::PortError;
use dockhand_core::ports::{BuildHistory, BuildStarter, FinishedBuild};
use dockhand_core::retention::{BATCH_LIMIT, BuildPage, BuildRecord, build_id};
use dockhand_core::start_build::{BUILD_KEY_VARIABLE, StartBuildRequest, StartError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// StartBuild retries: throttling and transient errors are retried by the SDK's standard
/// mode with exponential backoff, at most this many attempts in all. Few and short: a
/// build CodeBuild has no room for waits in its queue, not in the function.
pub const MAX_ATTEMPTS: u32 = 3;

/// The retry settings the spawner's CodeBuild client uses. Bounded: at most
/// [`MAX_ATTEMPTS`] attempts, backoff from `initial` up to 5 s with jitter.
pub fn retry_config(initial: Duration) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(initial)
        .with_max_backoff(Duration::from_secs(5))
}

/// At most this many pages of ListBuildsForProject (100 ids each) are read looking for an
/// attempt in doubt: builds started in the minutes since it, on a busy project.
pub const SEARCH_PAGES: usize = 20;

/// What a failed StartBuild means for the build. StartBuild documents three errors
/// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html#API_StartBuild_Errors):
/// `AccountLimitExceededException` is CodeBuild having no room (the project's concurrent
/// build limit, the account's concurrency and its queue of five times that, see
/// https://docs.aws.amazon.com/codebuild/latest/userguide/builds-working.html); the
/// others would be answered again. Throttling outlasting the retries is no room either.
/// A failure without an answer leaves the build in doubt.
pub fn classify<E, R>(what: &str, err: &SdkError<E, R>) -> StartError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let text = describe(what, err).0;
    match err {
        SdkError::ServiceError(service) => match service.err().code() {
            Some("AccountLimitExceededException")
            | Some("ThrottlingException")
            | Some("Throttling")
            | Some("TooManyRequestsException")
            | Some("RequestLimitExceeded") => StartError::NoCapacity(text),
            Some("InvalidInputException")
            | Some("ResourceNotFoundException")
            | Some("AccessDeniedException")
            | Some("UnrecognizedClientException")
            | Some("ValidationException") => StartError::Refused(text),
            // Anything else, a 5xx above all: the request may have been carried out.
            _ => StartError::Unknown(text),
        },
        SdkError::ConstructionFailure(_) => StartError::Refused(text),
        _ => StartError::Unknown(text),
    }
}

/// A CodeBuild client with [`retry_config`], backing off from 1 s.
pub fn client(aws: &aws_config::SdkConfig) -> aws_sdk_codebuild::Client {
    aws_sdk_codebuild::Client::from_conf(
        aws_sdk_codebuild::config::Builder::from(aws)
            .retry_config(retry_config(Duration::from_secs(1)))
            .build(),
    )
}

#[derive(Debug, Clone)]
pub struct CodeBuildStarter {
    client: aws_sdk_codebuild::Client,
}

impl CodeBuildStarter {
    pub fn new(client: aws_sdk_codebuild::Client) -> Self {
        Self { client }
    }
}

impl BuildStarter for CodeBuildStarter {
    async fn start_build(&self, r: &StartBuildRequest) -> Result<String, StartError> {
        let env = r
            .environment_variables_override
            .iter()
            .map(|v| {
                EnvironmentVariable::builder()
                    .name(&v.name)
                    .value(&v.value)
                    .r#type(EnvironmentVariableType::from(v.kind.as_str()))
                    .build()
                    .map_err(|e| StartError::Refused(format!("environment variable {}: {e}", v.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .start_build()
            .project_name(&r.project_name)
            .source_type_override(SourceType::from(r.source_type_override.as_str()))
            .buildspec_override(&r.buildspec_override)
            .set_environment_variables_override(Some(env))
            .idempotency_token(&r.idempotency_token)
            .compute_type_override(r.compute_type_override.as_str().into())
            .timeout_in_minutes_override(i32::try_from(r.timeout_in_minutes_override).unwrap_or(i32::MAX))
            .privileged_mode_override(r.privileged_mode_override)
            .send()
            .await
            .map_err(|e| classify(&format!("CodeBuild StartBuild on {}", r.project_name), &e))?;
        out.build_value()
            .and_then(|b| b.id())
            .map(str::to_owned)
            .ok_or_else(|| {
                StartError::Unknown(format!(
                    "CodeBuild StartBuild on {} answered without a build id",
                    r.project_name
                ))
            })
    }

    /// Newest first, each page read with BatchGetBuilds ([`newest_builds`]), until the
    /// builds are older than `since` or [`SEARCH_PAGES`] pages.
    async fn find_build(&self, project: &str, key: &str, since: u64) -> Result<Option<String>, PortError> {
        let mut found = None;
        let read = newest_builds(&self.client, project, since as i64, SEARCH_PAGES, |build| {
            let env = build
                .environment()
                .map(|e| e.environment_variables())
                .unwrap_or_default();
            if env.iter().any(|v| v.name() == BUILD_KEY_VARIABLE && v.value() == key) {
                found = build.id().map(str::to_owned);
                return false;
            }
            true
        })
        .await?;
        if found.is_none() && read == Paging::Capped {
            return Err(PortError(format!(
                "CodeBuild ListBuildsForProject {project}: more than {} builds since {since} (Unix time); cannot tell whether the attempt in doubt started one",
                SEARCH_PAGES * BATCH_LIMIT
            )));
        }
        Ok(found)
    }

    async fn build(&self, id: &str) -> Result<Option<FinishedBuild>, PortError> {
        let builds = batch_get_builds(&self.client, &[id.to_owned()]).await?;
        Ok(builds.into_iter().find(|b| b.id() == Some(id)).map(|b| finished(&b)))
    }
}

/// A build as BatchGetBuilds answers it
/// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_Build.html): its status,
/// environment overrides and `exportedEnvironmentVariables`.
fn finished(build: &Build) -> FinishedBuild {
    let pair = |name: Option<&str>, value: Option<&str>| Some((name?.to_owned(), value.unwrap_or_default().to_owned()));
    FinishedBuild {
        id: build.id().unwrap_or_default().to_owned(),
        project: build.project_name().unwrap_or_default().to_owned(),
        status: build.build_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        environment: build
            .environment()
            .map(|e| e.environment_variables())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| pair(Some(v.name()), Some(v.value())))
            .collect(),
        exported: build
            .exported_environment_variables()
            .iter()
            .filter_map(|v| pair(v.name(), v.value()))
            .collect(),
        logs_link: build.logs().and_then(|l| l.deep_link()).map(str::to_owned),
    }
}

/// The project's build records, for the cleanup.
#[derive(Debug, Clone)]
pub struct CodeBuildHistory {
    client: aws_sdk_codebuild::Client,
    /// Set once CodeBuild refused `sortOrder` on a first page: from then on pages are
    /// asked for in the default order, newest first.
    newest_first: Arc<AtomicBool>,
}

impl CodeBuildHistory {
    pub fn new(client: aws_sdk_codebuild::Client) -> Self {
        Self {
            client,
            newest_first: Arc::default(),
        }
    }
}

/// How [`newest_builds`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Every build since the cutoff was read (or the visitor stopped).
    Done,
    /// The page limit was reached with builds since the cutoff left unread.
    Capped,
}

/// The project's builds newest first, started at or after `since` (Unix seconds), passed
/// to `visit` until it answers false, reading at most `max_pages` pages.
///
/// ListBuildsForProject lists newest first by default and pages with `nextToken`
/// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ListBuildsForProject.html).
/// Naming the order would be an error: the paginator sends it with every nextToken, and
/// CodeBuild refuses a sort order on a project of more than 100 builds ("setting the sort
/// order will result in an error"). Ids carry no time, so each page is read with
/// BatchGetBuilds (at most 100 ids, [`BATCH_LIMIT`]), and the paging stops at the first
/// page that reaches back before `since`. Ids in `buildsNotFound` (deleted between the two
/// calls) are left out.
pub async fn newest_builds(
    client: &aws_sdk_codebuild::Client,
    project: &str,
    since: i64,
    max_pages: usize,
    mut visit: impl FnMut(&Build) -> bool,
) -> Result<Paging, PortError> {
    let mut pages = client
        .list_builds_for_project()
        .project_name(project)
        .into_paginator()
        .send();
    let mut read = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            crate::describe_needing(
                &format!("CodeBuild ListBuildsForProject {project}"),
                "codebuild:ListBuildsForProject",
                &e,
            )
        })?;
        let ids = page.ids();
        if ids.is_empty() {
            break;
        }
        let mut builds = batch_get_builds(client, ids).await?;
        // BatchGetBuilds documents no order for its answer: newest first, as listed.
        builds.sort_by_key(|b| ids.iter().position(|id| b.id() == Some(id.as_str())));
        let mut older = false;
        for build in &builds {
            if build.start_time().map_or(0, |t| t.secs()) < since {
                older = true;
                continue;
            }
            if !visit(build) {
                return Ok(Paging::Done);
            }
        }
        read += 1;
        if older || page.next_token().is_none() {
            return Ok(Paging::Done);
        }
        if read == max_pages {
            return Ok(Paging::Capped);
        }
    }
    Ok(Paging::Done)
}

/// One build by id, or `None` when BatchGetBuilds answers it in `buildsNotFound`.
pub async fn get_build(client: &aws_sdk_codebuild::Client, id: &str) -> Result<Option<Build>, PortError> {
    let builds = batch_get_builds(client, &[id.to_owned()]).await?;
    Ok(builds.into_iter().find(|b| b.id() == Some(id) || b.arn() == Some(id)))
}

/// What `dockhand status` reads of a build, in plain fields
/// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_Build.html).
pub fn facts(build: &Build) -> BuildFacts {
    let secs = |t: Option<&aws_smithy_types::DateTime>| t.map(|t| t.secs());
    BuildFacts {
        id: build.id().unwrap_or_default().to_owned(),
        status: build.build_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        current_phase: build.current_phase().unwrap_or_default().to_owned(),
        complete: build.build_complete(),
        start: secs(build.start_time()),
        end: secs(build.end_time()),
        phases: build
            .phases()
            .iter()
            .map(|p| PhaseFacts {
                phase_type: p.phase_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
                start: secs(p.start_time()),
                end: secs(p.end_time()),
                duration: p.duration_in_seconds(),
            })
            .collect(),
        environment: build
            .environment()
            .map(|e| e.environment_variables())
            .unwrap_or_default()
            .iter()
            .map(|v| (v.name().to_owned(), v.value().to_owned()))
            .collect(),
    }
}

/// BatchGetBuilds, for at most [`BATCH_LIMIT`] ids.
async fn batch_get_builds(client: &aws_sdk_codebuild::Client, ids: &[String]) -> Result<Vec<Build>, PortError> {
    check_batch("BatchGetBuilds", ids)?;
    let out = client
        .batch_get_builds()
        .set_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| crate::describe_needing("CodeBuild BatchGetBuilds", "codebuild:BatchGetBuilds", &e))?;
    Ok(out.builds.unwrap_or_default())
}

fn check_batch(what: &str, ids: &[String]) -> Result<(), PortError> {
    if ids.len() > BATCH_LIMIT {
        return Err(PortError(format!(
            "{what} takes at most {BATCH_LIMIT} ids, not {}",
            ids.len()
        )));
    }
    Ok(())
}

impl BuildHistory for CodeBuildHistory {
    /// ListBuildsForProject lists newest first unless `sortOrder` says otherwise
    /// (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ListBuildsForProject.html):
    /// the first page asks for `ASCENDING`, oldest first. The order is given on the first
    /// page only, and the `nextToken` keeps it: CodeBuild answers `InvalidInputException`
    /// to a `sortOrder` sent with a `nextToken` (reported in
    /// https://github.com/aws/aws-cli/issues/5863; the API reference warns that a sort
    /// order on a project of more than 100 builds ends in an error). Should CodeBuild
    /// refuse the sort order on a first page too, the pages are asked for in the default
    /// order, newest first, and say so.
    async fn list_page(&self, project: &str, token: Option<&str>) -> Result<BuildPage, PortError> {
        let what = || format!("CodeBuild ListBuildsForProject {project}");
        let request = |sorted: bool| {
            self.client
                .list_builds_for_project()
                .project_name(project)
                .set_next_token(token.map(str::to_owned))
                .set_sort_order(sorted.then_some(SortOrderType::Ascending))
        };
        let sorted = token.is_none() && !self.newest_first.load(Ordering::Relaxed);
        let out = match request(sorted).send().await {
            Ok(out) => out,
            Err(e) if sorted && e.as_service_error().is_some_and(|e| e.is_invalid_input_exception()) => {
                tracing::warn!(
                    "{}; listing in CodeBuild's default order, newest first",
                    describe(&format!("{} with sortOrder ASCENDING", what()), &e)
                );
                self.newest_first.store(true, Ordering::Relaxed);
                request(false).send().await.map_err(|e| describe(&what(), &e))?
            }
            Err(e) => return Err(describe(&what(), &e)),
        };
        Ok(BuildPage {
            ids: out.ids().to_vec(),
            next_token: out.next_token().map(str::to_owned),
            oldest_first: !self.newest_first.load(Ordering::Relaxed),
        })
    }

    async fn get_builds(&self, ids: &[String]) -> Result<Vec<BuildRecord>, PortError> {
        Ok(batch_get_builds(&self.client, ids)
            .await?
            .iter()
            .map(|b| BuildRecord {
                id: b.id().unwrap_or_default().to_owned(),
                project: b.project_name().unwrap_or_default().to_owned(),
                complete: b.build_complete(),
                start_time: b.start_time().map(|t| t.secs()),
                end_time: b.end_time().map(|t| t.secs()),
            })
            .collect())
    }

    /// The builds not deleted, by the ids asked for: CodeBuild may name them by ARN
    /// (`arn:aws:codebuild:REGION:ACCOUNT:build/ID`), as in the example of
    /// https://docs.aws.amazon.com/codebuild/latest/userguide/delete-builds.html.
    async fn delete_builds(&self, ids: &[String]) -> Result<Vec<(String, String)>, PortError> {
        check_batch("BatchDeleteBuilds", ids)?;
        let out = self
            .client
            .batch_delete_builds()
            .set_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| describe("CodeBuild BatchDeleteBuilds", &e))?;
        Ok(out
            .builds_not_deleted()
            .iter()
            .map(|b| {
                (
                    build_id(b.id().unwrap_or_default()).to_owned(),
                    b.status_code().unwrap_or("not deleted").to_owned(),
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codebuild::Client;
    use aws_sdk_codebuild::operation::batch_get_builds::BatchGetBuildsOutput;
    use aws_sdk_codebuild::operation::list_builds_for_project::ListBuildsForProjectOutput;
    use aws_smithy_mocks::{Rule, mock};

    fn mock_client(rules: &[&Rule]) -> Client {
        mock_client!(aws_sdk_codebuild, rules)
    }

    /// Builds `p:1` … `p:5`, each started at 100 × its number; `p:3` was deleted between
    /// the listing and BatchGetBuilds. Two pages, newest first: 5 4 3, then 2 1.
    fn project() -> (Rule, Rule) {
        let list = mock!(Client::list_builds_for_project)
            .match_requests(|r| r.sort_order().is_none())
            .then_compute_output(|input| match input.next_token() {
                None => ListBuildsForProjectOutput::builder()
                    .ids("p:5")
                    .ids("p:4")
                    .ids("p:3")
                    .next_token("t1")
                    .build(),
                Some(_) => ListBuildsForProjectOutput::builder().ids("p:2").ids("p:1").build(),
            });
        let get = mock!(Client::batch_get_builds).then_compute_output(|input| {
            let (found, missing): (Vec<&String>, Vec<&String>) = input.ids().iter().partition(|id| *id != "p:3");
            BatchGetBuildsOutput::builder()
                // In no particular order: the reader keeps the listing's.
                .set_builds(Some(
                    found
                        .iter()
                        .rev()
                        .map(|id| {
                            let n: i64 = id[2..].parse().unwrap();
                            Build::builder()
                                .id(*id)
                                .start_time(aws_smithy_types::DateTime::from_secs(100 * n))
                                .build()
                        })
                        .collect(),
                ))
                .set_builds_not_found(Some(missing.into_iter().cloned().collect()))
                .build()
        });
        (list, get)
    }

    async fn read(since: i64, pages: usize, stop_after: usize) -> (Vec<String>, Paging, usize) {
        let (list, get) = project();
        let client = mock_client(&[&list, &get]);
        let mut seen = Vec::new();
        let paging = newest_builds(&client, "p", since, pages, |b| {
            seen.push(b.id().unwrap().to_owned());
            seen.len() < stop_after
        })
        .await
        .unwrap();
        (seen, paging, list.num_calls())
    }

    #[tokio::test]
    async fn newest_builds_pages_newest_first_and_leaves_out_builds_not_found() {
        assert_eq!(
            read(0, 10, usize::MAX).await,
            (
                vec!["p:5".into(), "p:4".into(), "p:2".into(), "p:1".into()],
                Paging::Done,
                2
            )
        );
    }

    #[tokio::test]
    async fn newest_builds_stops_at_the_first_page_older_than_since() {
        // p:4 is older: the second page is never asked for.
        assert_eq!(read(450, 10, usize::MAX).await, (vec!["p:5".into()], Paging::Done, 1));
        // The first page holds nothing older (p:3 is gone): the second one is read.
        assert_eq!(
            read(350, 10, usize::MAX).await,
            (vec!["p:5".into(), "p:4".into()], Paging::Done, 2)
        );
    }

    #[tokio::test]
    async fn newest_builds_says_when_the_page_limit_left_builds_unread() {
        assert_eq!(
            read(0, 1, usize::MAX).await,
            (vec!["p:5".into(), "p:4".into()], Paging::Capped, 1)
        );
        // A visitor that has seen enough ends the reading.
        assert_eq!(read(0, 10, 1).await, (vec!["p:5".into()], Paging::Done, 1));
    }

    #[tokio::test]
    async fn get_build_answers_none_for_a_build_not_found() {
        let (_list, get) = project();
        let client = mock_client(&[&get]);
        assert!(get_build(&client, "p:3").await.unwrap().is_none());
        let build = get_build(&client, "p:4").await.unwrap().unwrap();
        assert_eq!(facts(&build).start, Some(400));
    }
}
