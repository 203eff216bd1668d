//! Reading a function's settings from its environment, with errors that name the variable.

use dockhand_core::Deployment;

/// A required variable.
pub fn required(name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(format!(
            "environment variable {name} is not set: set it in the function's configuration (README: Configuration)"
        )),
    }
}

/// An optional number, or `default`.
pub fn number_or(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("environment variable {name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// The deployment configuration in `DOCKHAND_CONFIG`.
pub fn deployment() -> Result<Deployment, String> {
    Deployment::from_json(&required("DOCKHAND_CONFIG")?).map_err(|e| format!("DOCKHAND_CONFIG: {e}"))
}

/// A queue's retry policy from `{PREFIX}_RETRY_BASE_SECONDS`, `{PREFIX}_RETRY_CAP_SECONDS`
/// and `{PREFIX}_QUEUE_RETENTION_SECONDS`, each defaulting to `default`'s.
pub fn retry_policy(
    prefix: &str,
    default: dockhand_core::retry::RetryPolicy,
) -> Result<dockhand_core::retry::RetryPolicy, String> {
    let seconds = |name: &str, default: u64| -> Result<u64, String> {
        let value = number_or(&format!("{prefix}_{name}"), default as usize)? as u64;
        if value == 0 {
            return Err(format!("environment variable {prefix}_{name} must be at least 1"));
        }
        Ok(value)
    };
    Ok(dockhand_core::retry::RetryPolicy {
        base: seconds("RETRY_BASE_SECONDS", default.base)?,
        cap: seconds("RETRY_CAP_SECONDS", default.cap)?,
        retention: seconds("QUEUE_RETENTION_SECONDS", default.retention)?,
    })
}
