//! `dockhand status`: the project's recent builds, newest first, as a table or JSON lines.
//!
//! Read with ListBuildsForProject (newest first) and BatchGetBuilds, page by page, until
//! the builds are older than `--since` or `--max` builds were read
//! ([`dockhand_aws::codebuild::newest_builds`]); each build becomes a row
//! ([`dockhand_core::build_status`]). AWS configuration as the AWS CLI loads it: a
//! profile, the region, credentials, and `AWS_ENDPOINT_URL_CODEBUILD` (or
//! `AWS_ENDPOINT_URL`) for local mode.

use dockhand_aws::codebuild::{self, Paging, newest_builds};
use dockhand_core::build_status::{Filter, json_line, row, table};
use std::io::Write;
use std::process::ExitCode;

/// Reads at most this many builds unless told otherwise.
pub const MAX_BUILDS: usize = 200;

#[derive(Debug, Clone)]
pub struct Options {
    /// The CodeBuild project: the configuration's `project`.
    pub project: String,
    pub repository: Option<String>,
    pub image: Option<String>,
    /// How far back, in seconds, and as given.
    pub since: u64,
    pub since_text: String,
    pub max: usize,
    pub json: bool,
}

pub fn run(options: &Options) -> ExitCode {
    match crate::block_on(run_async(options)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) | Err(e) => {
            eprintln!("dockhand status: {e}");
            ExitCode::FAILURE
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn run_async(options: &Options) -> Result<(), String> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = codebuild::client(&config);
    let now = unix_now();
    let filter = Filter {
        repository: options.repository.clone(),
        image: options.image.clone(),
        since: now - options.since as i64,
    };
    let (mut rows, mut read, mut capped) = (Vec::new(), 0, false);
    let paging = newest_builds(
        &client,
        &options.project,
        filter.since,
        options.max.div_ceil(dockhand_core::retention::BATCH_LIMIT) + 1,
        |build| {
            if read == options.max {
                capped = true;
                return false;
            }
            read += 1;
            let row = row(&codebuild::facts(build), now);
            if filter.matches(&row) {
                rows.push(row);
            }
            true
        },
    )
    .await
    .map_err(|e| e.0)?;
    capped |= paging == Paging::Capped;
    let mut out = std::io::stdout().lock();
    let written = if options.json {
        rows.iter().try_for_each(|r| writeln!(out, "{}", json_line(r)))
    } else if rows.is_empty() {
        Ok(())
    } else {
        out.write_all(table(&rows).as_bytes())
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write: {e}"))?;
    if rows.is_empty() {
        eprintln!(
            "dockhand status: no builds of the project {} in the last {} match",
            options.project, options.since_text
        );
    }
    if capped {
        eprintln!(
            "dockhand status: read the newest {} builds only; older ones in the last {} are not shown (--max)",
            options.max, options.since_text
        );
    }
    Ok(())
}
