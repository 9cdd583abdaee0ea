//! Change data capture, dialect-neutral: what a source's change stream yields and the traits a
//! CDC-capable source implements. The engine (`ferry-cdc`) applies the events in order and
//! commits the source position with the rows, so it never needs to know the source dialect.
//!
//! Events come in source transaction order. Row events of one source transaction are followed
//! by exactly one [`ChangeEvent::Commit`] carrying the position *after* that transaction: a
//! consumer that commits the rows and that position together can restart from the position and
//! neither lose nor repeat a change.

use crate::{AlterOp, Row, SourceError, Table};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A point in the source's change log: where streaming (re)starts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LogPosition {
    /// Binlog file (MySQL), or empty for sources with a single ordered log (PostgreSQL LSN).
    pub file: String,
    /// Offset in `file` (MySQL), or the LSN.
    pub pos: u64,
}

impl std::fmt::Display for LogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.file.is_empty() {
            // A PostgreSQL LSN, as PostgreSQL prints it.
            return write!(f, "{:X}/{:X}", self.pos >> 32, self.pos & 0xffff_ffff);
        }
        write!(f, "{}:{}", self.file, self.pos)
    }
}

impl LogPosition {
    /// A PostgreSQL LSN.
    pub fn lsn(lsn: u64) -> Self {
        LogPosition { file: String::new(), pos: lsn }
    }

    /// Parses `file:pos` (a binlog position) or `X/Y` (a PostgreSQL LSN).
    pub fn parse(text: &str) -> Option<Self> {
        if let Some((hi, lo)) = text.split_once('/') {
            if !text.contains(':') {
                return Some(LogPosition::lsn((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?));
            }
        }
        let (file, pos) = text.rsplit_once(':')?;
        Some(LogPosition { file: file.to_string(), pos: pos.parse().ok()? })
    }
}

/// One row change, with full row images in source column order.
#[derive(Debug, Clone, PartialEq)]
pub enum RowChange {
    Insert(Row),
    Update { before: Row, after: Row },
    Delete(Row),
}

/// What a change stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeEvent {
    /// A row change in source table `table`.
    Row { table: String, change: RowChange },
    /// A DDL statement the source ran on `table` (None: no table of ours, or not parsed), and
    /// what it does to the neutral model.
    Ddl { table: Option<String>, statement: String, change: SchemaChange },
    /// The end of a source transaction: everything since the previous commit is one unit.
    Commit { position: LogPosition, time: u64 },
    /// The source is idle at `position` (nothing pending): lag is zero as of now.
    /// `backlog_bytes`: source log kept for ferry (a PostgreSQL slot's retained WAL), when known.
    Heartbeat { position: LogPosition, backlog_bytes: Option<u64> },
    /// A change of source table `table` the stream could not decode (a value, a row image, a
    /// shape that no longer fits): that table stops with `error`, the others stream on.
    TableError { table: String, error: String },
}

/// What a source DDL statement does to one table, in neutral terms: the source's dialect
/// parses, the engine applies (to its model of the source and, through the plan's rules, to the
/// target).
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaChange {
    Truncate,
    /// A new table (its full shape).
    CreateTable(Box<Table>),
    DropTable,
    RenameTable {
        to: String,
    },
    Alter(Vec<AlterOp>),
    /// Changes nothing ferry copies or creates (table options, constraints ferry does not
    /// create, ANALYZE…): counted, not applied; the text says what was skipped.
    NoRowChange(String),
    /// Cannot be translated: the table stops with this reason.
    Unsupported(String),
}

/// One preflight check: its name, whether it passed, and what to do when it did not.
#[derive(Debug, Clone, Serialize)]
pub struct PreflightCheck {
    pub name: String,
    pub ok: bool,
    /// Passed: what was seen; failed: what is wrong and how to fix it.
    pub detail: String,
    /// A failed check that does not stop sync (a warning).
    pub warning_only: bool,
}

/// A stream of change events from a position.
pub trait ChangeStream: Send {
    /// The next event; `None` when the stream ended (non-blocking mode caught up).
    fn next(&mut self) -> impl Future<Output = Result<Option<ChangeEvent>, SourceError>> + Send;
    /// Tells the stream the current shape of a table after a DDL (events decode by it).
    fn set_table(&mut self, table: Table);
    /// The stream stops decoding `name` (a table sync stopped or dropped): its rows are skipped.
    fn forget_table(&mut self, name: &str);
    /// Everything up to `position` is committed on the target: the source may release its log
    /// before it (a PostgreSQL slot's confirmed flush position). Default: nothing to tell.
    fn confirm(&mut self, _position: &LogPosition) -> impl Future<Output = Result<(), SourceError>> + Send {
        async { Ok(()) }
    }
}

/// A source that can stream its changes.
pub trait CdcSource: Send + Sync {
    type Stream: ChangeStream;
    /// Named checks that CDC can work (log format, privileges, retention…).
    fn preflight(&self) -> impl Future<Output = Result<Vec<PreflightCheck>, SourceError>> + Send;
    /// The position the source's log is at now.
    fn current_position(&self) -> impl Future<Output = Result<LogPosition, SourceError>> + Send;
    /// Streams changes of `tables` from `from`. `until_caught_up`: end the stream when it reaches
    /// the log's end instead of waiting for more.
    fn stream(&self, from: &LogPosition, tables: Vec<Table>, until_caught_up: bool) -> impl Future<Output = Result<Self::Stream, SourceError>> + Send;
}

#[cfg(test)]
mod lsn_tests {
    use super::LogPosition;

    #[test]
    fn lsns_print_and_parse_like_postgresql() {
        assert_eq!(LogPosition::lsn(0x1_6B37_4D48).to_string(), "1/6B374D48");
        assert_eq!(LogPosition::parse("1/6B374D48"), Some(LogPosition::lsn(0x1_6B37_4D48)));
        assert_eq!(LogPosition::parse("binlog.000002:120"), Some(LogPosition { file: "binlog.000002".into(), pos: 120 }));
        assert_eq!(LogPosition::parse("zz"), None);
    }
}
