//! The webhook secrets, from an SSM SecureString holding one secret per line.

use crate::describe;
use dockhand_core::error::PortError;
use dockhand_core::ports::SecretStore;
use dockhand_core::signature::{Secret, parse_secrets};

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

/// A SecureString's value, decrypted; `Ok(None)` when there is no such parameter.
pub async fn secure_string(client: &aws_sdk_ssm::Client, name: &str) -> Result<Option<String>, PortError> {
    match client.get_parameter().name(name).with_decryption(true).send().await {
        Ok(out) => Ok(Some(
            out.parameter().and_then(|p| p.value()).unwrap_or_default().to_owned(),
        )),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(None),
        Err(e) => Err(describe(&format!("SSM GetParameter {name}"), &e)),
    }
}
