//! The spawner's queues on SQS: the builds queue it fills, the messages it hides to try
//! again later, and the dead-letter queue.

use crate::describe;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use dockhand_core::dead_letter;
use dockhand_core::error::PortError;
use dockhand_core::ports::Queues;
use dockhand_core::queue::send_batches;
use dockhand_core::retry::MAX_DELAY_SECONDS;

/// SQS message attributes hold at most 256 KiB with the body; the reason is cut well short.
const MAX_REASON_BYTES: usize = 1024;

#[derive(Debug, Clone)]
pub struct SqsQueues {
    client: aws_sdk_sqs::Client,
    builds_queue_url: String,
    dead_letter_queue_url: String,
    /// Where a scheduled refresh's orders go; `None` where the function has no refresh.
    requests_queue_url: Option<String>,
}

impl SqsQueues {
    pub fn new(client: aws_sdk_sqs::Client, builds_queue_url: &str, dead_letter_queue_url: &str) -> Self {
        Self {
            client,
            builds_queue_url: builds_queue_url.to_owned(),
            dead_letter_queue_url: dead_letter_queue_url.to_owned(),
            requests_queue_url: None,
        }
    }

    /// The requests queue, for the orders of a scheduled refresh.
    pub fn with_requests_queue(mut self, url: Option<String>) -> Self {
        self.requests_queue_url = url;
        self
    }

    /// Sends `bodies` to `url` in batches within SendMessageBatch's limits, answering those
    /// not sent, by index, with why.
    async fn send_all(&self, url: &str, bodies: &[String]) -> Result<Vec<(usize, String)>, PortError> {
        let (batches, too_large) = send_batches(bodies);
        let mut unsent: Vec<(usize, String)> = too_large
            .into_iter()
            .map(|(i, size)| (i, format!("{size} bytes is more than one SQS message holds")))
            .collect();
        for batch in batches {
            let entries = batch
                .iter()
                .map(|&i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&bodies[i])
                        .build()
                        .map_err(|e| PortError(format!("SQS SendMessageBatch entry {i}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = match self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    let why = describe(&format!("SQS SendMessageBatch to {url}"), &e).0;
                    unsent.extend(batch.iter().map(|&i| (i, why.clone())));
                    continue;
                }
            };
            // A batch answers each entry: some may fail while others are sent.
            for failed in out.failed() {
                let index = failed.id().parse::<usize>().unwrap_or(usize::MAX);
                unsent.push((
                    index,
                    format!(
                        "SQS SendMessageBatch: {}: {}",
                        failed.code(),
                        failed.message().unwrap_or("no message")
                    ),
                ));
            }
        }
        unsent.sort_by_key(|(i, _)| *i);
        Ok(unsent)
    }
}

/// The URL of the queue an event record came from: `arn:aws:sqs:REGION:ACCOUNT:NAME` is
/// `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` (SQS accepts that form in every
/// partition whose DNS suffix is amazonaws.com; the others get theirs).
pub fn queue_url(arn: &str) -> Result<String, PortError> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "sqs", region, account, name]
            if !region.is_empty() && !account.is_empty() && !name.is_empty() =>
        {
            let suffix = match *partition {
                "aws-cn" => "amazonaws.com.cn",
                _ => "amazonaws.com",
            };
            Ok(format!("https://sqs.{region}.{suffix}/{account}/{name}"))
        }
        _ => Err(PortError(format!("{arn:?} is not an SQS queue ARN"))),
    }
}

impl Queues for SqsQueues {
    async fn send_builds(&self, bodies: &[String]) -> Result<Vec<(usize, String)>, PortError> {
        self.send_all(&self.builds_queue_url, bodies).await
    }

    async fn send_requests(&self, bodies: &[String]) -> Result<Vec<(usize, String)>, PortError> {
        match &self.requests_queue_url {
            Some(url) => self.send_all(url, bodies).await,
            None => Err(PortError(
                "the spawner has no requests queue (REQUESTS_QUEUE_URL) to send a refresh's orders to".into(),
            )),
        }
    }

    async fn hide(&self, queue_arn: &str, receipt_handle: &str, seconds: u64) -> Result<(), PortError> {
        let url = queue_url(queue_arn)?;
        self.client
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds.min(MAX_DELAY_SECONDS) as i32)
            .send()
            .await
            .map_err(|e| describe(&format!("SQS ChangeMessageVisibility on {url}"), &e))?;
        Ok(())
    }

    async fn dead_letter(&self, body: &str, reason: &str, source_queue_arn: &str) -> Result<(), PortError> {
        let reason = dockhand_core::request::truncate(reason, MAX_REASON_BYTES);
        let text = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PortError(format!("SQS message attribute: {e}")))
        };
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.dead_letter_queue_url)
            .message_body(body)
            .message_attributes(
                dead_letter::REASON_ATTRIBUTE,
                text(if reason.is_empty() { "unknown" } else { reason })?,
            );
        if !source_queue_arn.is_empty() {
            send = send.message_attributes(dead_letter::SOURCE_ATTRIBUTE, text(source_queue_arn)?);
        }
        send.send()
            .await
            .map_err(|e| describe(&format!("SQS SendMessage to {}", self.dead_letter_queue_url), &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_from_arns() {
        assert_eq!(
            queue_url("arn:aws:sqs:eu-west-1:123456789012:dockhand-builds").unwrap(),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/dockhand-builds"
        );
        assert_eq!(
            queue_url("arn:aws-cn:sqs:cn-north-1:123456789012:q").unwrap(),
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"
        );
        for bad in [
            "",
            "arn:aws:sns:eu-west-1:1:q",
            "arn:aws:sqs:eu-west-1:1",
            "arn:aws:sqs::1:q",
        ] {
            assert!(queue_url(bad).is_err(), "{bad}");
        }
    }
}
