//! Publishing to an SNS topic.

use crate::describe;
use aws_sdk_sns::types::MessageAttributeValue;
use dockhand_core::error::PortError;
use dockhand_core::notification::PublishRequest;
use dockhand_core::ports::{NotificationSink, Publisher};

#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Publisher for SnsPublisher {
    async fn publish(&self, message: &str) -> Result<(), PortError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe(&format!("SNS Publish to {}", self.topic_arn), &e))
    }
}

impl NotificationSink for SnsPublisher {
    async fn send(&self, request: &PublishRequest) -> Result<(), PortError> {
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&request.subject)
            .message(&request.message)
            .message_structure(&request.message_structure);
        for (name, attribute) in &request.message_attributes {
            let value = MessageAttributeValue::builder()
                .data_type(&attribute.data_type)
                .string_value(&attribute.string_value)
                .build()
                .map_err(|e| PortError(format!("message attribute {name}: {e}")))?;
            publish = publish.message_attributes(name, value);
        }
        publish
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe(&format!("SNS Publish to {}", self.topic_arn), &e))
    }
}
