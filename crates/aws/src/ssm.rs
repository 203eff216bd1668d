//! The webhook secrets, from an SSM SecureString holding one secret per line.

use crate::describe;
use dockhand_core::ports::{PortError, Secret, SecretStore, parse_secrets};

#[derive(Debug, Clone)]
pub struct SsmSecrets {
    client: aws_sdk_ssm::Client,
    name: String,
}

impl SsmSecrets {
    pub fn new(client: aws_sdk_ssm::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }
}

impl SecretStore for SsmSecrets {
    async fn webhook_secrets(&self) -> Result<Vec<Secret>, PortError> {
        let out = self
            .client
            .get_parameter()
            .name(&self.name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| describe(&format!("SSM GetParameter {}", self.name), &e))?;
        let secrets = out
            .parameter()
            .and_then(|p| p.value())
            .map(parse_secrets)
            .unwrap_or_default();
        if secrets.is_empty() {
            return Err(PortError(format!(
                "SSM parameter {} holds no webhook secret",
                self.name
            )));
        }
        Ok(secrets)
    }
}
