//! Errors by what the caller can do about them.
//!
//! Every source maps its driver's errors into [`SourceError`] with an [`ErrorKind`]: a transient
//! error (connection lost, server restarting, lock wait timeout) is worth retrying with backoff; a
//! definite one (bad credentials, missing privilege, unknown table, a value that cannot be
//! represented) is not, and its message tells the user what to do.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Network or server availability: retry with backoff.
    Transient,
    /// The server could not be reached at all (refused, unknown host).
    Unreachable,
    /// Authentication failed.
    Authentication,
    /// The user lacks a privilege.
    Privilege,
    /// A named object (database, table, column) does not exist.
    NotFound,
    /// A value or a definition that ferry cannot carry over as configured.
    BadData,
    /// Anything else that retrying will not fix.
    Definite,
}

impl ErrorKind {
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Transient)
    }
}

/// An error raised by a source, already phrased for the user.
#[derive(Debug, Clone, thiserror::Error)]
pub struct SourceError {
    pub kind: ErrorKind,
    pub message: String,
}

impl SourceError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SourceError { kind, message: message.into() }
    }
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadData, message)
    }
    /// Prefixes the message with where it happened (`table "x"`, `reading rows`…).
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
