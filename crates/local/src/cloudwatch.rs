//! Build logs into CloudWatch Logs (moto), as CodeBuild writes each build's log to its
//! project's log group: one stream per build, lines in order.

use crate::hub::LogWriter;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// PutLogEvents' limits
/// (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html):
/// at most 10,000 events and 1,048,576 bytes a call, counted as each message's UTF-8 bytes
/// plus 26; an event of at most 256 KB is what every quota since the API began allows.
const MAX_EVENTS: usize = 10_000;
const MAX_BATCH_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;
const MAX_EVENT_BYTES: usize = 256 * 1024 - EVENT_OVERHEAD;

/// The calls PutLogEvents takes for `lines`: each line one event (an empty one has nothing
/// to send: a message is at least one character), each cut to the event limit, each call
/// within the batch limits.
pub fn batches(lines: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut bytes = 0;
    for line in lines.iter().filter(|l| !l.is_empty()) {
        let message = dockhand_core::request::truncate(line, MAX_EVENT_BYTES).to_owned();
        let size = message.len() + EVENT_OVERHEAD;
        match out.last_mut() {
            Some(batch) if batch.len() < MAX_EVENTS && bytes + size <= MAX_BATCH_BYTES => batch.push(message),
            _ => {
                out.push(vec![message]);
                bytes = 0;
            }
        }
        bytes += size;
    }
    out
}

/// Writes to CloudWatch Logs on `logs`: the stream is created the first time it is
/// written, in a group that must exist (the stack's `BuildLogs`).
pub fn writer(logs: aws_sdk_cloudwatchlogs::Client) -> LogWriter {
    let created: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    Arc::new(move |group: &str, stream: &str, lines: &[String]| {
        let (logs, created) = (logs.clone(), created.clone());
        let (group, stream, batches) = (group.to_owned(), stream.to_owned(), batches(lines));
        crate::block_on(async move {
            let key = (group.clone(), stream.clone());
            if !created.lock().expect("streams").contains(&key) {
                match logs
                    .create_log_stream()
                    .log_group_name(&group)
                    .log_stream_name(&stream)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_resource_already_exists_exception()) => {}
                    Err(e) => return Err(format!("CreateLogStream {group} {stream}: {e:?}")),
                }
                created.lock().expect("streams").insert(key);
            }
            for batch in batches {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                let events = batch.into_iter().map(|message| {
                    aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                        .timestamp(now)
                        .message(message)
                        .build()
                        .map_err(|e| e.to_string())
                });
                logs.put_log_events()
                    .log_group_name(&group)
                    .log_stream_name(&stream)
                    .set_log_events(Some(events.collect::<Result<_, _>>()?))
                    .send()
                    .await
                    .map_err(|e| format!("PutLogEvents {group} {stream}: {e:?}"))?;
            }
            Ok(())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_batched_within_put_log_events_limits() {
        let lines: Vec<String> = (0..25_000).map(|i| format!("line {i}")).collect();
        let sizes: Vec<usize> = batches(&lines).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10_000, 10_000, 5_000]);

        // 10 lines of 200 KB: five a call fit the byte limit, a sixth would not.
        let big = vec!["x".repeat(200 * 1024); 10];
        let calls = batches(&big);
        assert!(
            calls
                .iter()
                .all(|b| b.iter().map(|m| m.len() + EVENT_OVERHEAD).sum::<usize>() <= MAX_BATCH_BYTES)
        );
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 10);
        assert_eq!(calls[0].len(), 5);

        // An empty line is no event; a line over the event limit is cut.
        let odd = vec![String::new(), "é".repeat(200_000)];
        let calls = batches(&odd);
        assert_eq!(calls.len(), 1);
        assert!(calls[0][0].len() <= MAX_EVENT_BYTES && calls[0][0].chars().all(|c| c == 'é'));
    }
}
