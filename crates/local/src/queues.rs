//! Lambda's SQS event source mappings, run locally against moto's SQS: pollers that receive
//! batches, invoke the function with the event Lambda would build, and delete what the
//! function did not report as failed.
//!
//! What it reproduces, from https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html and
//! https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html:
//! - batches of at most `batch_size` messages, with every system attribute
//!   (`ApproximateReceiveCount`, `SentTimestamp`, ...);
//! - at most `maximum_concurrency` invocations at once for the mapping (the scaling
//!   control's minimum is 2);
//! - `ReportBatchItemFailures`: the messages the response names stay in the queue (they come
//!   back when their visibility timeout ends, which the function may have changed); every
//!   other message of the batch is deleted. A response naming an id that is not in the
//!   batch, or that cannot be read, fails the whole batch;
//! - a function error (or a timeout) fails the whole batch: nothing is deleted, and every
//!   message comes back after the queue's visibility timeout;
//! - the queue's redrive policy moves a message received too often to the dead-letter
//!   queue (moto does this on receive, as SQS does).

use crate::lambda::Functions;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One mapping: a queue, the function it invokes, and its settings.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub queue_url: String,
    pub queue_arn: String,
    pub function: String,
    pub batch_size: i32,
    pub maximum_concurrency: usize,
}

/// What the pollers saw, for tests and the demo's summary.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub invocations: usize,
    /// Messages the function reported as failed (to be retried).
    pub item_failures: usize,
    /// Whole batches that failed (a function error or an unreadable response), with why.
    pub batch_errors: Vec<String>,
}

pub struct Pollers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Batches received and not yet settled.
    pub in_flight: Arc<AtomicUsize>,
    pub tally: Arc<Mutex<Tally>>,
}

impl Pollers {
    pub fn start(mappings: &[Mapping], sdk: &aws_config::SdkConfig, functions: Arc<Functions>) -> Pollers {
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let mut threads = Vec::new();
        for mapping in mappings {
            for _ in 0..mapping.maximum_concurrency {
                let (mapping, stop, in_flight, tally, functions) = (
                    mapping.clone(),
                    stop.clone(),
                    in_flight.clone(),
                    tally.clone(),
                    functions.clone(),
                );
                let sqs = aws_sdk_sqs::Client::new(sdk);
                threads.push(std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime");
                    while !stop.load(Ordering::SeqCst) {
                        poll_once(&runtime, &sqs, &mapping, &functions, &in_flight, &tally);
                    }
                }));
            }
        }
        Pollers {
            stop,
            threads,
            in_flight,
            tally,
        }
    }

    pub fn tally(&self) -> Tally {
        self.tally.lock().expect("tally").clone()
    }
}

impl Drop for Pollers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn poll_once(
    runtime: &tokio::runtime::Runtime,
    sqs: &aws_sdk_sqs::Client,
    mapping: &Mapping,
    functions: &Functions,
    in_flight: &AtomicUsize,
    tally: &Mutex<Tally>,
) {
    let received = runtime.block_on(
        sqs.receive_message()
            .queue_url(&mapping.queue_url)
            .max_number_of_messages(mapping.batch_size)
            // Short long-polls, so a stopping stack is not kept waiting.
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send(),
    );
    let messages = match received {
        Ok(out) => out.messages.unwrap_or_default(),
        Err(_) => {
            std::thread::sleep(std::time::Duration::from_millis(500));
            return;
        }
    };
    if messages.is_empty() {
        return;
    }
    // Received messages count in the queue as not visible until deleted; a batch counts
    // here too, until what the function sent on is in its queue and the batch is settled.
    in_flight.fetch_add(1, Ordering::SeqCst);
    let event = sqs_event(&messages, mapping);
    tally.lock().expect("tally").invocations += 1;
    let keep: Result<Vec<String>, String> = functions
        .invoke(&mapping.function, event.to_string().as_bytes())
        .and_then(|answer| failed_ids(&answer, &messages));
    match keep {
        Ok(keep) => {
            tally.lock().expect("tally").item_failures += keep.len();
            let done: Vec<&aws_sdk_sqs::types::Message> = messages
                .iter()
                .filter(|m| !keep.iter().any(|k| Some(k.as_str()) == m.message_id()))
                .collect();
            for chunk in done.chunks(10) {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| {
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                            .ok()
                    })
                    .collect::<Vec<_>>();
                let _ = runtime.block_on(
                    sqs.delete_message_batch()
                        .queue_url(&mapping.queue_url)
                        .set_entries(Some(entries))
                        .send(),
                );
            }
        }
        Err(e) => tally.lock().expect("tally").batch_errors.push(e),
    }
    in_flight.fetch_sub(1, Ordering::SeqCst);
}

/// The event Lambda builds for a batch (the shape of
/// https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#example-standard-queue-message-event).
fn sqs_event(messages: &[aws_sdk_sqs::types::Message], mapping: &Mapping) -> Value {
    let region = mapping.queue_arn.split(':').nth(3).unwrap_or("us-east-1");
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id().unwrap_or_default(),
                "receiptHandle": m.receipt_handle().unwrap_or_default(),
                "body": m.body().unwrap_or_default(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body().unwrap_or_default(),
                "eventSource": "aws:sqs",
                "eventSourceARN": mapping.queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The ids a function's response reports as failed. Lambda treats an id it did not send, or
/// a response it cannot read, as the whole batch failing.
fn failed_ids(answer: &str, messages: &[aws_sdk_sqs::types::Message]) -> Result<Vec<String>, String> {
    let value: Value = if answer.trim().is_empty() || answer.trim() == "null" {
        return Ok(Vec::new());
    } else {
        serde_json::from_str(answer).map_err(|e| format!("the response is not JSON: {e}"))?
    };
    let Some(failures) = value.get("batchItemFailures") else {
        return Ok(Vec::new());
    };
    let failures = failures.as_array().ok_or("batchItemFailures is not a list")?;
    let mut ids = Vec::new();
    for f in failures {
        let id = f["itemIdentifier"]
            .as_str()
            .filter(|id| !id.is_empty())
            .ok_or("a batch item failure without an itemIdentifier fails the whole batch")?;
        if !messages.iter().any(|m| m.message_id() == Some(id)) {
            return Err(format!("the response names {id}, which is not in the batch"));
        }
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// How many messages a queue holds, visible, in flight or delayed.
pub fn queue_depth(
    runtime: &tokio::runtime::Runtime,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<usize, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = runtime
        .block_on(
            sqs.get_queue_attributes()
                .queue_url(queue_url)
                .attribute_names(A::ApproximateNumberOfMessages)
                .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(A::ApproximateNumberOfMessagesDelayed)
                .send(),
        )
        .map_err(|e| format!("SQS GetQueueAttributes {queue_url}: {e}"))?;
    Ok(out
        .attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<usize>().ok()).sum())
        .unwrap_or(0))
}
