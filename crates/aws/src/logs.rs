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
}
