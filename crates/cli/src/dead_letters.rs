//! `dockhand dead-letters`: what is in the stack's dead-letter queue, one line each, and
//! with `--replay`, each record sent back where it came from and then deleted.
//!
//! SQS has no "list": the records are received, each hidden for a while
//! (VisibilityTimeout) so the next receive brings others, until a receive brings nothing
//! new. A listing then makes them visible again at once (ChangeMessageVisibility to 0);
//! a replay deletes each record only after its destination accepted it, and makes the
//! others visible again. AWS's own redrive (StartMessageMoveTask) cannot do this: it
//! refuses a queue that SNS, EventBridge or Lambda write to, and knows one source only.
//! https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
//!
//! A replay cannot build twice: a build is keyed on signed content in the ledger, so a
//! replayed request or build that already started is reported "already started" and
//! nothing else happens.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use dockhand_aws::describe;
use dockhand_core::dead_letter::{self, DeadLetter, Functions, Received, Replay};
use std::collections::HashSet;
use std::io::Write;

/// SQS answers at most 10 messages per ReceiveMessage, and takes at most 10 entries per
/// batch call.
const RECEIVE_BATCH: i32 = 10;
/// One run reads at most this many records unless told otherwise; the rest wait for the
/// next run.
pub const MAX_RECORDS: usize = 1000;

/// Where the stack's queues and functions are.
#[derive(Debug, Clone)]
pub struct Stack {
    pub dead_letters: String,
    pub requests: String,
    pub builds: String,
    pub functions: Functions,
}

pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub lambda: aws_sdk_lambda::Client,
}

impl Clients {
    /// The AWS SDK's clients, configured as the AWS CLI is (profile, region, credentials,
    /// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_SQS`/`_LAMBDA` for local endpoints).
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Clients {
            sqs: aws_sdk_sqs::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
        }
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub read: usize,
    pub replayed: usize,
    /// (line, why) of every record that stays in the queue after a replay.
    pub left: Vec<(String, String)>,
    /// More records than the run's limit were waiting.
    pub capped: bool,
}

/// The stack's queue URLs from their names (`STACK-dead-letters`, `STACK-build-requests`,
/// `STACK-builds`, as cfn/dockhand.yml names them).
pub async fn stack(sqs: &aws_sdk_sqs::Client, name: &str, functions: Functions) -> Result<Stack, String> {
    let url = |queue: String| async move {
        sqs.get_queue_url()
            .queue_name(&queue)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot find the queue {queue} ({}): is the stack {name} deployed in this region and account?",
                    describe("SQS GetQueueUrl", &e)
                )
            })?
            .queue_url
            .ok_or_else(|| format!("SQS gave no URL for {queue}"))
    };
    Ok(Stack {
        dead_letters: url(format!("{name}-dead-letters")).await?,
        requests: url(format!("{name}-build-requests")).await?,
        builds: url(format!("{name}-builds")).await?,
        functions,
    })
}

struct Record {
    receipt: String,
    letter: DeadLetter,
}

/// Lists (and with `replay`, replays) the dead-letter queue, writing one line per record.
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    replay: bool,
    max_records: usize,
    out: &mut impl Write,
) -> Result<Summary, String> {
    let sqs = &clients.sqs;
    // Long enough to replay every record read before any comes back.
    let hide_for = if replay { 900 } else { 120 };
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    let mut summary = Summary::default();
    loop {
        if records.len() >= max_records {
            summary.capped = true;
            break;
        }
        let answer = sqs
            .receive_message()
            .queue_url(&stack.dead_letters)
            // Never more than the limit leaves room for.
            .max_number_of_messages(RECEIVE_BATCH.min((max_records - records.len()) as i32))
            // Long polling asks every SQS server, so an empty answer means an empty queue
            // (short polling samples a few and may answer empty while messages wait).
            .wait_time_seconds(1)
            .visibility_timeout(hide_for)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::DeadLetterQueueSourceArn)
            .send()
            .await
            .map_err(|e| describe(&format!("SQS ReceiveMessage on {}", stack.dead_letters), &e).0)?;
        let messages = answer.messages.unwrap_or_default();
        let mut new = 0;
        for message in messages {
            let id = message.message_id.clone().unwrap_or_default();
            let receipt = message.receipt_handle.clone().unwrap_or_default();
            if !seen.insert(id) {
                continue;
            }
            new += 1;
            let system = message.attributes.unwrap_or_default();
            let received = Received {
                body: message.body.unwrap_or_default(),
                attributes: message
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value.string_value?)))
                    .collect(),
                sent: system
                    .get(&MessageSystemAttributeName::SentTimestamp)
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .map(|ms| ms / 1000),
                source_queue_arn: system
                    .get(&MessageSystemAttributeName::DeadLetterQueueSourceArn)
                    .cloned(),
            };
            records.push(Record {
                receipt,
                letter: dead_letter::read(&received, &stack.functions),
            });
        }
        if new == 0 {
            break;
        }
    }
    summary.read = records.len();
    let write = |out: &mut dyn Write, line: &str| writeln!(out, "{line}").map_err(|e| format!("cannot write: {e}"));
    if records.is_empty() {
        write(out, "the dead-letter queue is empty")?;
        return Ok(summary);
    }
    // What stays in the queue, made visible again at the end.
    let mut release = Vec::new();
    for record in &records {
        let line = record.letter.line();
        write(out, &line)?;
        if !replay {
            release.push(record.receipt.as_str());
            continue;
        }
        match send_back(clients, stack, &record.letter.replay).await {
            Ok(destination) => match sqs
                .delete_message()
                .queue_url(&stack.dead_letters)
                .receipt_handle(&record.receipt)
                .send()
                .await
            {
                Ok(_) => {
                    summary.replayed += 1;
                    write(out, &format!("  replayed: {destination}"))?;
                }
                // Replayed but still here: a second replay is harmless (the ledger), and
                // the record says so rather than vanish.
                Err(e) => {
                    let why = format!(
                        "replayed to {destination}, but not deleted: {}",
                        describe("SQS DeleteMessage", &e)
                    );
                    write(out, &format!("  {why}"))?;
                    summary.left.push((line, why));
                }
            },
            Err(why) => {
                write(out, &format!("  not replayed: {why}"))?;
                summary.left.push((line, why));
                release.push(record.receipt.as_str());
            }
        }
    }
    show_again(sqs, stack, &release).await;
    let total = match summary.capped {
        false => String::new(),
        true => match queue_depth(sqs, stack).await {
            Some(n) => format!(" (about {n} in the queue; run again for the rest)"),
            None => " (more wait; run again for the rest)".to_owned(),
        },
    };
    write(
        out,
        &if replay {
            format!(
                "{} record(s): {} replayed, {} left{total}",
                summary.read,
                summary.replayed,
                summary.left.len()
            )
        } else {
            format!(
                "{} record(s){total}; `make dead-letters REPLAY=1` sends each back where it came from",
                summary.read
            )
        },
    )?;
    Ok(summary)
}

/// Sends a record back; names where it went.
async fn send_back(clients: &Clients, stack: &Stack, replay: &Replay) -> Result<String, String> {
    match replay {
        Replay::Requests(body) => send(&clients.sqs, &stack.requests, body).await,
        Replay::Builds(body) => send(&clients.sqs, &stack.builds, body).await,
        Replay::Notifier(event) => {
            // Synchronously: the record is deleted only once the notifier has published.
            let function = &stack.functions.notifier;
            let answer = invoke(&clients.lambda, function, InvocationType::RequestResponse, event).await?;
            if let Some(kind) = answer.function_error {
                let payload = answer.payload.map(|p| p.into_inner()).unwrap_or_default();
                let text = String::from_utf8_lossy(&payload);
                return Err(format!(
                    "the notifier failed again ({kind}): {}",
                    dockhand_core::notification::clean_line(&text, 300)
                ));
            }
            Ok(format!("the notifier ({function}) published it"))
        }
        Replay::Cleanup(event) => {
            // Asynchronously: it runs for minutes, and a failure comes back to this queue.
            let function = &stack.functions.cleanup;
            match invoke(&clients.lambda, function, InvocationType::Event, event)
                .await?
                .status_code
            {
                202 => Ok(format!("the cleanup ({function}) runs again")),
                other => Err(format!("Lambda answered {other} to the cleanup's invocation")),
            }
        }
        Replay::Never(why) => Err(why.clone()),
    }
}

async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    kind: InvocationType,
    event: &str,
) -> Result<aws_sdk_lambda::operation::invoke::InvokeOutput, String> {
    lambda
        .invoke()
        .function_name(function)
        .invocation_type(kind)
        .payload(Blob::new(event.as_bytes()))
        .send()
        .await
        .map_err(|e| describe(&format!("Lambda Invoke of {function}"), &e).0)
}

async fn send(sqs: &aws_sdk_sqs::Client, queue: &str, body: &str) -> Result<String, String> {
    sqs.send_message()
        .queue_url(queue)
        .message_body(body)
        .send()
        .await
        .map_err(|e| describe(&format!("SQS SendMessage to {queue}"), &e).0)?;
    Ok(queue.rsplit('/').next().unwrap_or(queue).to_owned())
}

/// Makes records visible again now, rather than when their hiding ends, ten to a call
/// (ChangeMessageVisibilityBatch takes at most 10 entries). A failure is harmless: a
/// record comes back when its visibility timeout ends.
async fn show_again(sqs: &aws_sdk_sqs::Client, stack: &Stack, receipts: &[&str]) {
    for chunk in receipts.chunks(RECEIVE_BATCH as usize) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, receipt)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(*receipt)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect::<Vec<_>>();
        let _ = sqs
            .change_message_visibility_batch()
            .queue_url(&stack.dead_letters)
            .set_entries(Some(entries))
            .send()
            .await;
    }
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, stack: &Stack) -> Option<u64> {
    let answer = sqs
        .get_queue_attributes()
        .queue_url(&stack.dead_letters)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .ok()?;
    answer
        .attributes?
        .get(&QueueAttributeName::ApproximateNumberOfMessages)?
        .parse()
        .ok()
}
