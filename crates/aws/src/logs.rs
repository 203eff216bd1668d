//! Reading the end of a build's log from CloudWatch Logs, for its report lines
//! ([`dockhand_core::build_report`]).

use crate::describe;
use dockhand_core::build_report::PREFIX;
use dockhand_core::error::PortError;
use dockhand_core::ports::BuildLogs;

/// At most this many pages of GetLogEvents are read, backwards from the end of the
/// stream. A page holds up to 1 MB or 10,000 events
/// (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html);
/// everything a build reports comes after its image is built, in its last lines, so one
/// page is what a build needs and the others are a bound, not a plan.
pub const MAX_PAGES: usize = 3;

#[derive(Debug, Clone)]
pub struct CloudWatchBuildLogs {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl CloudWatchBuildLogs {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client) -> Self {
        Self { client }
    }
}

impl BuildLogs for CloudWatchBuildLogs {
    async fn report_lines(&self, group: &str, stream: &str) -> Result<Vec<String>, PortError> {
        // Pages newest first; each page's events oldest first.
        let mut pages: Vec<Vec<String>> = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let answer = self
                .client
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .start_from_head(false)
                .set_next_token(token.clone())
                .send()
                .await;
            let page = match answer {
                Ok(page) => page,
                // A build that never started writes no stream: nothing was reported.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    return Ok(vec![]);
                }
                Err(e) => {
                    return Err(describe(
                        &format!("CloudWatch Logs GetLogEvents on {group} {stream}"),
                        &e,
                    ));
                }
            };
            let events = page.events();
            pages.push(
                events
                    .iter()
                    .filter_map(|e| e.message())
                    .filter(|m| m.starts_with(PREFIX))
                    .map(|m| m.trim_end_matches(['\n', '\r']).to_owned())
                    .collect(),
            );
            // "If you have reached the end of the stream, it returns the same token you
            // passed in" (the page above); an empty page is the start of the stream too.
            let backward = page.next_backward_token().map(str::to_owned);
            if events.is_empty() || backward.is_none() || backward == token {
                break;
            }
            token = backward;
        }
        Ok(pages.into_iter().rev().flatten().collect())
    }
}

/// A CloudWatch Logs client with the bounded retries of [`crate::codebuild::retry_config`]:
/// throttling (`ThrottlingException`) is retried with backoff, at most
/// [`crate::codebuild::MAX_ATTEMPTS`] attempts.
pub fn client(aws: &aws_config::SdkConfig) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::config::Builder::from(aws)
            .retry_config(crate::codebuild::retry_config(std::time::Duration::from_secs(1)))
            .build(),
    )
}

/// What one [`LogFollower::read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The stream's events since the last read, oldest first (possibly none): every one
    /// written up to now.
    Events(Vec<String>),
    /// The stream does not exist (yet): a build writes it once PROVISIONING starts.
    NoStream,
}

/// Reads a log stream forwards, from its first event, each call the events written since
/// the one before: GetLogEvents with `startFromHead=true` and then each answer's
/// `nextForwardToken`. "If you have reached the end of the stream, it returns the same
/// token you passed in", and a page may be empty before the end, so a read goes on until
/// the token comes back unchanged
/// (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html).
/// A stream that does not exist is `ResourceNotFoundException`.
#[derive(Debug, Clone)]
pub struct LogFollower {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    stream: String,
    token: Option<String>,
}

impl LogFollower {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, group: &str, stream: &str) -> Self {
        Self {
            client,
            group: group.to_owned(),
            stream: stream.to_owned(),
            token: None,
        }
    }

    /// At most this many pages a read (10,000 events or 1 MB each): a read returns then,
    /// and the next one goes on where it stopped.
    pub const MAX_PAGES: usize = 100;

    /// The events written since the last read, each message as CloudWatch Logs stores it.
    pub async fn read(&mut self) -> Result<Read, PortError> {
        let mut events = Vec::new();
        for _ in 0..Self::MAX_PAGES {
            let answer = self
                .client
                .get_log_events()
                .log_group_name(&self.group)
                .log_stream_name(&self.stream)
                .start_from_head(true)
                .set_next_token(self.token.clone())
                .send()
                .await;
            let page = match answer {
                Ok(page) => page,
                Err(e)
                    if events.is_empty()
                        && e.as_service_error()
                            .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    return Ok(Read::NoStream);
                }
                Err(e) => {
                    return Err(crate::describe_needing(
                        &format!("CloudWatch Logs GetLogEvents on {} {}", self.group, self.stream),
                        "logs:GetLogEvents",
                        &e,
                    ));
                }
            };
            events.extend(page.events().iter().filter_map(|e| e.message()).map(str::to_owned));
            let forward = page.next_forward_token().map(str::to_owned);
            let end = forward.is_none() || forward == self.token;
            if forward.is_some() {
                self.token = forward;
            }
            if end {
                break;
            }
        }
        Ok(Read::Events(events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::Client;
    use aws_sdk_cloudwatchlogs::operation::get_log_events::{GetLogEventsError, GetLogEventsOutput};
    use aws_sdk_cloudwatchlogs::types::OutputLogEvent;
    use aws_sdk_cloudwatchlogs::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::{Rule, mock};
    use std::sync::{Arc, Mutex};

    fn mock_client(rules: &[&Rule]) -> Client {
        mock_client!(aws_sdk_cloudwatchlogs, rules)
    }

    fn page(lines: &[&str], backward: &str) -> GetLogEventsOutput {
        GetLogEventsOutput::builder()
            .set_events(Some(
                lines
                    .iter()
                    .map(|l| OutputLogEvent::builder().message(format!("{l}\n")).timestamp(1).build())
                    .collect(),
            ))
            .next_backward_token(backward)
            .next_forward_token("f/end")
            .build()
    }

    /// Three pages backwards: the report lines come back oldest first, other lines left
    /// out, and the reading stops where CloudWatch answers the token it was given.
    #[tokio::test]
    async fn pages_back_from_the_end_and_keeps_the_report_lines_in_order() {
        let tokens: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let seen = tokens.clone();
        let rule = mock!(Client::get_log_events)
            .match_requests(|r| {
                r.log_group_name() == Some("/aws/codebuild/dockhand") && r.start_from_head() == Some(false)
            })
            .then_compute_output(move |input| {
                seen.lock().unwrap().push(input.next_token().map(str::to_owned));
                match input.next_token() {
                    None => page(
                        &[
                            "##dockhand test a.test.yml passed",
                            "pushing",
                            "##dockhand hook post_push ok",
                        ],
                        "b/2",
                    ),
                    Some("b/2") => page(&["##dockhand hook pre_build ok", "building"], "b/1"),
                    Some(_) => page(&[], "b/1"),
                }
            });
        let client = mock_client(&[&rule]);
        let lines = CloudWatchBuildLogs::new(client)
            .report_lines("/aws/codebuild/dockhand", "uuid")
            .await
            .unwrap();
        assert_eq!(
            lines,
            [
                "##dockhand hook pre_build ok",
                "##dockhand test a.test.yml passed",
                "##dockhand hook post_push ok"
            ]
        );
        assert_eq!(*tokens.lock().unwrap(), [None, Some("b/2".into()), Some("b/1".into())]);
    }

    #[tokio::test]
    async fn reading_is_bounded_by_max_pages() {
        let n = Arc::new(Mutex::new(0));
        let count = n.clone();
        let rule = mock!(Client::get_log_events).then_compute_output(move |_| {
            *count.lock().unwrap() += 1;
            let k = *count.lock().unwrap();
            page(&["##dockhand sut again"], &format!("b/{k}"))
        });
        let client = mock_client(&[&rule]);
        let lines = CloudWatchBuildLogs::new(client).report_lines("g", "s").await.unwrap();
        assert_eq!(lines.len(), MAX_PAGES);
        assert_eq!(*n.lock().unwrap(), MAX_PAGES);
    }

    #[tokio::test]
    async fn a_missing_stream_reports_nothing_and_other_errors_say_what_failed() {
        let missing = mock!(Client::get_log_events).then_error(|| {
            GetLogEventsError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("The specified log stream does not exist.")
                    .build(),
            )
        });
        let client = mock_client(&[&missing]);
        assert!(
            CloudWatchBuildLogs::new(client)
                .report_lines("g", "s")
                .await
                .unwrap()
                .is_empty()
        );

        let denied = mock!(Client::get_log_events).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    r#"{"__type":"AccessDeniedException","message":"not authorized to perform: logs:GetLogEvents"}"#,
                ),
            )
        });
        let client = mock_client(&[&denied]);
        let e = CloudWatchBuildLogs::new(client)
            .report_lines("g", "s")
            .await
            .unwrap_err();
        assert!(
            e.0.starts_with("CloudWatch Logs GetLogEvents on g s: AccessDeniedException"),
            "{e}"
        );
    }

    /// Forwards from the head: events in order across pages, the read ends where the
    /// token comes back unchanged, and the next read starts from that token.
    #[tokio::test]
    async fn the_follower_reads_forwards_and_goes_on_where_it_stopped() {
        let tokens: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let stream: Arc<Mutex<Vec<&'static str>>> = Arc::new(Mutex::new(vec!["one\n", "two\n"]));
        let (seen, lines) = (tokens.clone(), stream.clone());
        // f/N: the forward token after N events; a page holds at most one event.
        let rule = mock!(Client::get_log_events)
            .match_requests(|r| r.start_from_head() == Some(true))
            .then_compute_output(move |input| {
                seen.lock().unwrap().push(input.next_token().map(str::to_owned));
                let from: usize = input.next_token().map_or(0, |t| t[2..].parse().unwrap());
                let lines = lines.lock().unwrap();
                let events: Vec<OutputLogEvent> = lines
                    .iter()
                    .skip(from)
                    .take(1)
                    .map(|l| OutputLogEvent::builder().message(*l).timestamp(1).build())
                    .collect();
                let next = from + events.len();
                GetLogEventsOutput::builder()
                    .set_events(Some(events))
                    .next_forward_token(format!("f/{next}"))
                    .next_backward_token("b/0")
                    .build()
            });
        let mut follower = LogFollower::new(mock_client(&[&rule]), "g", "s");
        assert_eq!(
            follower.read().await.unwrap(),
            Read::Events(vec!["one\n".into(), "two\n".into()])
        );
        assert_eq!(follower.read().await.unwrap(), Read::Events(vec![]));
        stream.lock().unwrap().push("three");
        assert_eq!(follower.read().await.unwrap(), Read::Events(vec!["three".into()]));
        assert_eq!(
            *tokens.lock().unwrap(),
            [
                None,
                Some("f/1".into()),
                Some("f/2".into()),
                Some("f/2".into()),
                Some("f/2".into()),
                Some("f/3".into())
            ]
        );
    }

    #[tokio::test]
    async fn the_follower_tells_a_missing_stream_and_names_the_permission_it_lacks() {
        let missing = mock!(Client::get_log_events).then_error(|| {
            GetLogEventsError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("The specified log stream does not exist.")
                    .build(),
            )
        });
        let mut follower = LogFollower::new(mock_client(&[&missing]), "g", "s");
        assert_eq!(follower.read().await.unwrap(), Read::NoStream);

        let denied = mock!(Client::get_log_events).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    r#"{"__type":"AccessDeniedException","message":"not authorized"}"#,
                ),
            )
        });
        let mut follower = LogFollower::new(mock_client(&[&denied]), "g", "s");
        let e = follower.read().await.unwrap_err();
        assert!(
            e.0.ends_with("(the caller needs the IAM permission logs:GetLogEvents)"),
            "{e}"
        );
    }
}
