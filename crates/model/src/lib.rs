//! The dialect-neutral heart of ferry: the schema model every source introspects into, the neutral
//! [`Value`] every source reads into, the canonical text form used to compare values across
//! engines, and the [`Source`] trait every source implements. This crate knows no database.

pub mod canonical;
pub mod catalog;
pub mod cdc;
pub mod error;
pub mod schema;
pub mod source;
pub mod value;

pub use error::{ErrorKind, SourceError};
pub use schema::*;
pub use source::{split_int_range, ByteSender, ChunkRange, Probe, RowBatch, RowSender, SnapshotPosition, SnapshotReader, Source, TableSelection, VerifySource};
pub use value::{Date, DateTime, Row, Value};

/// A connection URL with its password replaced by `***`, for messages and reports.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.rfind('@') else { return url.to_string() };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact_url("mysql://root:s3cr@t@h:1/db"), "mysql://root:***@h:1/db");
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
