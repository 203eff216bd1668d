//! The ledger of started builds on DynamoDB: one item per build key, written with
//! conditions on a version number, removed by DynamoDB's TTL after [`RECORD_DAYS`].
//!
//! [`RECORD_DAYS`]: dockhand_core::ledger::RECORD_DAYS

use crate::describe;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use dockhand_core::error::PortError;
use dockhand_core::ledger::{Record, Versioned, Written};
use dockhand_core::ports::Ledger;
use std::collections::HashMap;

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
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
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
        match out.item() {
            None => Ok(None),
            Some(item) => read_item(item)
                .map(Some)
                .map_err(|e| PortError(format!("DynamoDB item {key} in {}: {e}", self.table))),
        }
    }

    async fn write(&self, key: &str, record: &Record, expected: Option<u64>) -> Result<Written, PortError> {
        let version = expected.unwrap_or(0) + 1;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(key, record, version)))
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
