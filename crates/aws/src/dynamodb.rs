//! The ledger of started builds on DynamoDB: one item per build key, written with
//! conditions on a version number, removed by DynamoDB's TTL after [`RECORD_DAYS`].
//!
//! [`RECORD_DAYS`]: dockhand_core::ledger::RECORD_DAYS

use crate::describe;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes, ScalarAttributeType,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use dockhand_core::error::PortError;
use dockhand_core::ledger::{Record, Versioned, Written};
use dockhand_core::ports::{Holds, ImageRecords, Ledger, ReadCache};
use dockhand_core::waves::{HOLD_PREFIX, Held};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// BatchGetItem takes at most 100 keys
/// (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
pub const BATCH_GET_LIMIT: usize = 100;
/// How often one batch's `UnprocessedKeys` are asked again before the lookup gives up;
/// the same page recommends an exponential backoff between the attempts.
pub const BATCH_GET_ATTEMPTS: u32 = 5;

/// The table's partition key and its other attributes, as the stack creates it.
pub const KEY: &str = "key";
/// The table's TTL attribute (Unix seconds).
pub const EXPIRES_AT: &str = "expires_at";

/// Creates the ledger table as the stack does (a string partition key, on demand): for
/// local mode and tests; the stack's own is in cfn/dockhand.yml.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), PortError> {
    let definition = AttributeDefinition::builder()
        .attribute_name(KEY)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| PortError(e.to_string()))?;
    let key = KeySchemaElement::builder()
        .attribute_name(KEY)
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| PortError(e.to_string()))?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(definition)
        .key_schema(key)
        .send()
        .await
        .map_err(|e| describe(&format!("DynamoDB CreateTable {table}"), &e))?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// The first wait before unprocessed keys are asked again; it doubles each time.
    backoff: Duration,
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
            backoff: Duration::from_millis(50),
        }
    }

    /// With another first wait for unprocessed keys (tests).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// At most [`BATCH_GET_LIMIT`] items, by key: the string `attribute` of each that
    /// exists (`None` without one), asking again for what DynamoDB left unprocessed
    /// (throttling, or the 16 MB answer limit), at most [`BATCH_GET_ATTEMPTS`] times with a
    /// doubling wait.
    async fn get_batch(
        &self,
        keys: &[String],
        attribute: Option<&str>,
    ) -> Result<HashMap<String, Option<String>>, PortError> {
        let what = format!("DynamoDB BatchGetItem on {}", self.table);
        let mut found = HashMap::new();
        let mut pending: Vec<HashMap<String, AttributeValue>> =
            keys.iter().map(|k| HashMap::from([(KEY.to_owned(), s(k))])).collect();
        let mut wait = self.backoff;
        for attempt in 1..=BATCH_GET_ATTEMPTS {
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .expression_attribute_names("#k", KEY);
            request = match attribute {
                // The key alone: whether the item exists is the whole answer.
                None => request.projection_expression("#k"),
                Some(name) => request
                    .projection_expression("#k, #a")
                    .expression_attribute_names("#a", name),
            };
            let request = request.build().map_err(|e| PortError(format!("{what}: {e}")))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| describe(&what, &e))?;
            for item in out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                if let Some(key) = item.get(KEY).and_then(|v| v.as_s().ok()) {
                    let value = attribute.and_then(|a| item.get(a)).and_then(|v| v.as_s().ok()).cloned();
                    found.insert(key.clone(), value);
                }
            }
            pending = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(found);
            }
            if attempt < BATCH_GET_ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        Err(PortError(format!(
            "{what}: {} keys still unprocessed after {BATCH_GET_ATTEMPTS} attempts",
            pending.len()
        )))
    }

    /// Any number of items, in batches of [`BATCH_GET_LIMIT`]: [`Self::get_batch`].
    async fn get_all(
        &self,
        keys: &[String],
        attribute: Option<&str>,
    ) -> Result<HashMap<String, Option<String>>, PortError> {
        let mut unique: Vec<String> = keys.to_vec();
        unique.sort_unstable();
        // BatchGetItem refuses a request naming one key twice.
        unique.dedup();
        let mut found = HashMap::new();
        for batch in unique.chunks(BATCH_GET_LIMIT) {
            found.extend(self.get_batch(batch, attribute).await?);
        }
        Ok(found)
    }

    /// Puts `item` (whose version is `version`) if the stored one's version is `expected`
    /// (`None`: no item under its key).
    async fn put_versioned(
        &self,
        item: HashMap<String, AttributeValue>,
        expected: Option<u64>,
        version: u64,
    ) -> Result<Written, PortError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // Names through placeholders: KEY is one of DynamoDB's reserved words.
            .expression_attribute_names("#k", KEY);
        let request = match expected {
            None => request.condition_expression("attribute_not_exists(#k)"),
            Some(v) => request
                .condition_expression("attribute_exists(#k) AND #ver = :v")
                .expression_attribute_names("#ver", "version")
                .expression_attribute_values(":v", n(v)),
        };
        let result = request.send().await.map(|_| ());
        written(&format!("DynamoDB PutItem on {}", self.table), result, version)
    }

    async fn get(&self, key: &str) -> Result<Option<HashMap<String, AttributeValue>>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            // The write just before must be seen: a stale read could start a build twice.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| describe(&format!("DynamoDB GetItem on {}", self.table), &e))?;
        Ok(out.item)
    }
}

impl ImageRecords for DynamoLedger {
    async fn recorded(&self, keys: &[String]) -> Result<HashSet<String>, PortError> {
        Ok(self.get_all(keys, None).await?.into_keys().collect())
    }

    async fn record(&self, key: &str, expires_at: u64) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY, s(key))
            .item(EXPIRES_AT, n(expires_at))
            .send()
            .await
            .map_err(|e| describe(&format!("DynamoDB PutItem on {}", self.table), &e))?;
        Ok(())
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn item(key: &str, record: &Record, version: u64) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (KEY.to_owned(), s(key)),
        ("owner".to_owned(), s(&record.owner)),
        ("updated_at".to_owned(), n(record.updated_at)),
        (EXPIRES_AT.to_owned(), n(record.expires_at)),
        ("version".to_owned(), n(version)),
    ]);
    if let Some(id) = &record.build_id {
        item.insert("build_id".to_owned(), s(id));
    }
    if let Some(at) = record.attempt_at {
        item.insert("attempt_at".to_owned(), n(at));
    }
    item
}

fn read_item(item: &HashMap<String, AttributeValue>) -> Result<Versioned, String> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .map(|v| v.parse::<u64>().map_err(|_| format!("{name} {v:?} is not a number")))
            .transpose()
    };
    Ok(Versioned {
        record: Record {
            owner: text("owner").ok_or("no owner")?,
            build_id: text("build_id"),
            attempt_at: number("attempt_at")?,
            updated_at: number("updated_at")?.ok_or("no updated_at")?,
            expires_at: number(EXPIRES_AT)?.ok_or("no expires_at")?,
        },
        version: number("version")?.ok_or("no version")?,
    })
}

/// A condition that did not hold is an answer (another writer came first), not a failure.
fn written<E, R>(what: &str, result: Result<(), SdkError<E, R>>, version: u64) -> Result<Written, PortError>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(()) => Ok(Written::Done(version)),
        Err(SdkError::ServiceError(e)) if e.err().code() == Some("ConditionalCheckFailedException") => {
            Ok(Written::Conflict)
        }
        Err(e) => Err(describe(what, &e)),
    }
}

impl Ledger for DynamoLedger {
    async fn read(&self, key: &str) -> Result<Option<Versioned>, PortError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(item) => read_item(&item)
                .map(Some)
                .map_err(|e| PortError(format!("DynamoDB item {key} in {}: {e}", self.table))),
        }
    }

    async fn write(&self, key: &str, record: &Record, expected: Option<u64>) -> Result<Written, PortError> {
        let version = expected.unwrap_or(0) + 1;
        self.put_versioned(item(key, record, version), expected, version).await
    }

    async fn remove(&self, key: &str, expected: u64) -> Result<Written, PortError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .condition_expression("#ver = :v")
            .expression_attribute_names("#ver", "version")
            .expression_attribute_values(":v", n(expected))
            .send()
            .await
            .map(|_| ());
        written(&format!("DynamoDB DeleteItem on {}", self.table), result, expected)
    }
}

/// A waiting build's item: its record as JSON ([`Held`]), versioned, with the TTL.
const HELD: &str = "held";
/// A cached Dockerfile reading's item: the reading as JSON.
const VALUE: &str = "value";

impl Holds for DynamoLedger {
    async fn held(&self, key: &str) -> Result<Option<(Held, u64)>, PortError> {
        let Some(item) = self.get(&format!("{HOLD_PREFIX}{key}")).await? else {
            return Ok(None);
        };
        let bad = |why: &str| PortError(format!("DynamoDB item {HOLD_PREFIX}{key} in {}: {why}", self.table));
        let held = item
            .get(HELD)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| bad("no held"))?;
        let held = Held::from_json(held).map_err(|e| bad(&e))?;
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("no version"))?;
        Ok(Some((held, version)))
    }

    async fn hold(&self, key: &str, held: &Held, expected: Option<u64>) -> Result<Written, PortError> {
        let version = expected.unwrap_or(0) + 1;
        let item = HashMap::from([
            (KEY.to_owned(), s(&format!("{HOLD_PREFIX}{key}"))),
            (HELD.to_owned(), s(&held.to_json())),
            (EXPIRES_AT.to_owned(), n(held.expires_at)),
            ("version".to_owned(), n(version)),
        ]);
        self.put_versioned(item, expected, version).await
    }
}

impl ReadCache for DynamoLedger {
    async fn cached(&self, keys: &[String]) -> Result<HashMap<String, String>, PortError> {
        Ok(self
            .get_all(keys, Some(VALUE))
            .await?
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect())
    }

    async fn store(&self, key: &str, value: &str, expires_at: u64) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY, s(key))
            .item(VALUE, s(value))
            .item(EXPIRES_AT, n(expires_at))
            .send()
            .await
            .map_err(|e| describe(&format!("DynamoDB PutItem on {}", self.table), &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
    use aws_smithy_mocks::{Rule, mock};
    use std::sync::{Arc, Mutex};

    fn mock_client(rules: &[&Rule]) -> Client {
        mock_client!(aws_sdk_dynamodb, rules)
    }

    const TABLE: &str = "dockhand-ledger";

    fn keys_of(input: &BatchGetItemInput) -> Vec<String> {
        input.request_items().unwrap()[TABLE]
            .keys()
            .iter()
            .map(|k| k[KEY].as_s().unwrap().clone())
            .collect()
    }

    fn answer(found: &[String], unprocessed: &[String]) -> BatchGetItemOutput {
        let item = |k: &String| HashMap::from([(KEY.to_owned(), s(k))]);
        let mut out = BatchGetItemOutput::builder().responses(TABLE, found.iter().map(item).collect());
        if !unprocessed.is_empty() {
            out = out.unprocessed_keys(
                TABLE,
                KeysAndAttributes::builder()
                    .set_keys(Some(unprocessed.iter().map(item).collect()))
                    .build()
                    .unwrap(),
            );
        }
        out.build()
    }

    fn ledger(client: Client) -> DynamoLedger {
        DynamoLedger::new(client, TABLE).with_backoff(Duration::from_millis(1))
    }

    /// 250 keys (one twice) in batches of at most 100; DynamoDB leaves some unprocessed
    /// each first time, and they are asked again until answered.
    #[tokio::test]
    async fn lookups_are_batched_by_100_and_unprocessed_keys_are_asked_again() {
        let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let seen = calls.clone();
        let rule = mock!(Client::batch_get_item).then_compute_output(move |input| {
            let keys = keys_of(input);
            let first_time = !seen.lock().unwrap().iter().flatten().any(|k| keys.contains(k));
            seen.lock().unwrap().push(keys.clone());
            // Every key ending in 7 exists; the second half of a first request is left over.
            let (now, later) = if first_time {
                keys.split_at(keys.len() / 2)
            } else {
                (&keys[..], &[][..])
            };
            let found: Vec<String> = now.iter().filter(|k| k.ends_with('7')).cloned().collect();
            answer(&found, later)
        });
        let client = mock_client(&[&rule]);
        let mut keys: Vec<String> = (0..250).map(|i| format!("image#r#{i:03}")).collect();
        keys.push("image#r#007".into());
        let found = ledger(client).recorded(&keys).await.unwrap();
        let mut expected: Vec<String> = (0..250)
            .filter(|i| i % 10 == 7)
            .map(|i| format!("image#r#{i:03}"))
            .collect();
        let mut got: Vec<String> = found.into_iter().collect();
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
        let calls = calls.lock().unwrap();
        assert!(
            calls.iter().all(|c| c.len() <= BATCH_GET_LIMIT),
            "{:?}",
            calls.iter().map(Vec::len).collect::<Vec<_>>()
        );
        // Three batches (100, 100, 50), each asked once more for its unprocessed half.
        assert_eq!(calls.len(), 6);
        let all: std::collections::BTreeSet<&String> = calls.iter().flatten().collect();
        assert_eq!(all.len(), 250);
    }

    /// Keys DynamoDB never processes end the lookup with an error after a bounded number
    /// of attempts: the caller then builds, never skips.
    #[tokio::test]
    async fn keys_left_unprocessed_give_up_after_bounded_attempts() {
        let rule = mock!(Client::batch_get_item).then_compute_output(|input| answer(&[], &keys_of(input)));
        let client = mock_client(&[&rule]);
        let e = ledger(client).recorded(&["image#a#1".into()]).await.unwrap_err();
        assert!(e.0.contains("still unprocessed after 5 attempts"), "{e}");
        assert_eq!(rule.num_calls(), BATCH_GET_ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn an_error_answer_is_an_error() {
        let rule = mock!(Client::batch_get_item).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#,
                ),
            )
        });
        let client = mock_client(&[&rule]);
        let e = ledger(client).recorded(&["image#a#1".into()]).await.unwrap_err();
        assert!(e.0.contains("BatchGetItem on dockhand-ledger"), "{e}");
        // No key, no call.
        let idle = mock!(Client::batch_get_item).then_output(|| answer(&[], &[]));
        let client = mock_client(&[&idle]);
        assert!(ledger(client).recorded(&[]).await.unwrap().is_empty());
        assert_eq!(idle.num_calls(), 0);
    }
}
