//! `dockhand logs BUILD_ID [--follow]`: a build's CloudWatch Logs stream, as CodeBuild
//! wrote it.
//!
//! BatchGetBuilds names the stream (`logs.groupName`, `logs.streamName`,
//! https://docs.aws.amazon.com/codebuild/latest/APIReference/API_LogsLocation.html); a
//! build still QUEUED has none, and the stream is created once it is PROVISIONING. The
//! stream is read forwards ([`dockhand_aws::logs::LogFollower`]), each event's message
//! printed as it is, with a newline added where CloudWatch stores the line without one
//! (local mode's writer does), so the output is the build's log. With `--follow` the
//! build is asked again every poll until BatchGetBuilds answers it complete; then the
//! rest of the stream is read and the command ends.
//!
//! Exit status: 0 when the build SUCCEEDED, or without --follow while it runs; 1 when it
//! ended otherwise (FAILED, FAULT, TIMED_OUT, STOPPED) or AWS refused a call; 2 for an
//! unknown build id.

use dockhand_aws::codebuild::{self, get_build};
use dockhand_aws::logs::{self, LogFollower, Read};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    pub build_id: String,
    pub follow: bool,
    /// Between two BatchGetBuilds while following.
    pub poll: Duration,
}

pub fn run(options: &Options) -> ExitCode {
    match crate::block_on(run_async(options)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) | Err(e) => {
            eprintln!("dockhand logs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes each message as one line of the log.
fn print(out: &mut impl Write, messages: &[String]) -> Result<(), String> {
    for message in messages {
        out.write_all(message.as_bytes())
            .and_then(|()| {
                if message.ends_with('\n') {
                    Ok(())
                } else {
                    out.write_all(b"\n")
                }
            })
            .map_err(|e| format!("cannot write: {e}"))?;
    }
    out.flush().map_err(|e| format!("cannot write: {e}"))
}

async fn run_async(options: &Options) -> Result<ExitCode, String> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let codebuild = codebuild::client(&config);
    let cloudwatch = logs::client(&config);
    let id = &options.build_id;
    let unknown = || {
        eprintln!(
            "dockhand logs: CodeBuild knows no build {id} (BatchGetBuilds answers it not found); `dockhand status` lists the builds"
        );
        ExitCode::from(2)
    };
    let Some(mut build) = get_build(&codebuild, id).await.map_err(|e| e.0)? else {
        return Ok(unknown());
    };
    let mut follower: Option<LogFollower> = None;
    let (mut said_waiting, mut said_no_stream) = (false, false);
    let mut out = std::io::stdout().lock();
    loop {
        // Asked before reading the stream: once complete, this read is the last, and gets
        // everything the build wrote.
        let complete = build.build_complete();
        let phase = build.current_phase().unwrap_or("SUBMITTED").to_owned();
        if follower.is_none()
            && let Some(location) = build.logs()
            && let (Some(group), Some(stream)) = (location.group_name(), location.stream_name())
        {
            follower = Some(LogFollower::new(cloudwatch.clone(), group, stream));
        }
        match follower.as_mut() {
            Some(f) => match f.read().await.map_err(|e| e.0)? {
                Read::Events(messages) => print(&mut out, &messages)?,
                Read::NoStream if !said_no_stream && !complete => {
                    said_no_stream = true;
                    eprintln!(
                        "dockhand logs: build {id} is {phase}: its log stream does not exist yet{}",
                        if options.follow { "; waiting" } else { "" }
                    );
                }
                Read::NoStream if complete => eprintln!(
                    "dockhand logs: build {id} ended, and its log stream does not exist: deleted, expired (the log group's retention) or never written"
                ),
                Read::NoStream => {}
            },
            None if !said_waiting && !complete => {
                said_waiting = true;
                eprintln!(
                    "dockhand logs: build {id} is {phase}: its log starts when it is PROVISIONING{}",
                    if options.follow { "; waiting" } else { "" }
                );
            }
            None => {}
        }
        if complete {
            let status = build.build_status().map_or("UNKNOWN", |s| s.as_str()).to_owned();
            if follower.is_none() {
                eprintln!("dockhand logs: build {id} ended {status} without a log");
            }
            return Ok(if status == "SUCCEEDED" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        if !options.follow {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(options.poll).await;
        build = match get_build(&codebuild, id).await.map_err(|e| e.0)? {
            Some(build) => build,
            None => return Err(format!("build {id} is gone: it was deleted while followed")),
        };
    }
}
