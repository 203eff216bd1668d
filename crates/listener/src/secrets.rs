//! The webhook secrets, read once per container and refreshed at most once a minute after
//! a verification failure, so a rotation takes effect without a redeploy.

use dockhand_core::error::PortError;
use dockhand_core::ports::SecretStore;
use dockhand_core::signature::Secret;
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio::time::{Duration, Instant};

pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

pub struct SecretCache<S> {
    store: S,
    min_refresh: Duration,
    loaded: Mutex<Option<(Arc<Vec<Secret>>, Instant)>>,
}

impl<S: SecretStore> SecretCache<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            min_refresh: MIN_REFRESH_INTERVAL,
            loaded: Mutex::new(None),
        }
    }

    /// The cached secrets, read on first use.
    pub async fn current(&self) -> Result<Arc<Vec<Secret>>, PortError> {
        let mut loaded = self.loaded.lock().await;
        if let Some((secrets, _)) = loaded.as_ref() {
            return Ok(secrets.clone());
        }
        let secrets = Arc::new(self.store.webhook_secrets().await?);
        *loaded = Some((secrets.clone(), Instant::now()));
        Ok(secrets)
    }

    /// Reads the secrets again unless that was done within the last minute; `None` when not re-read.
    pub async fn refresh(&self) -> Result<Option<Arc<Vec<Secret>>>, PortError> {
        let mut loaded = self.loaded.lock().await;
        if let Some((_, at)) = loaded.as_ref()
            && at.elapsed() < self.min_refresh
        {
            return Ok(None);
        }
        let secrets = Arc::new(self.store.webhook_secrets().await?);
        *loaded = Some((secrets.clone(), Instant::now()));
        Ok(Some(secrets))
    }
}
