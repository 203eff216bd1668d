//! The one error every port shares: an outside system failed, with the text to log or
//! return.

/// A failure of an outside system, with the text to log or return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);
