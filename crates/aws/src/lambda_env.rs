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
