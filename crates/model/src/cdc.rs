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
use std::sync::Arc;

/// A point in a source's change log: where streaming (re)starts. Owned by the source that made
/// it: `text` is the source's own notation (shown to users, parsed back only by that source,
/// `CdcSource::parse_position`), `order` a key whose byte-wise order is log order (a MySQL file
/// index and offset, a PostgreSQL LSN, an 80-bit SQL Server LSN all fit), so the engine can
/// store, compare and print positions without knowing any source. Positions of different kinds
/// never compare equal; a `kind` of `""` is a position read from state written before positions
/// carried their kind ([`LogPosition::legacy`]), which the source re-reads from its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LogPosition {
    /// The source kind whose log this is (`mysql`, `postgres`…).
    pub kind: String,
    pub text: String,
    #[serde(with = "hex_bytes")]
    pub order: Vec<u8>,
}

impl PartialOrd for LogPosition {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LogPosition {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.kind, &self.order, &self.text).cmp(&(&other.kind, &other.order, &other.text))
    }
}

impl std::fmt::Display for LogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl LogPosition {
    pub fn new(kind: &str, text: impl Into<String>, order: Vec<u8>) -> Self {
        LogPosition { kind: kind.to_string(), text: text.into(), order }
    }

    /// A position known only by its text (state written by an earlier release): the source at
    /// hand parses it before use.
    pub fn legacy(text: impl Into<String>) -> Self {
        LogPosition { kind: String::new(), text: text.into(), order: Vec::new() }
    }

    pub fn is_legacy(&self) -> bool {
        self.kind.is_empty()
    }
}

/// A position deserialises from its full form or, as state of earlier releases stored it, from
/// its text alone (a legacy position).
impl<'de> Deserialize<'de> for LogPosition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Full {
                kind: String,
                text: String,
                #[serde(with = "hex_bytes")]
                order: Vec<u8>,
            },
        }
        Ok(match Form::deserialize(d)? {
            Form::Text(t) => LogPosition::legacy(t),
            Form::Full { kind, text, order } => LogPosition { kind, text, order },
        })
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd-length hex"));
        }
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(serde::de::Error::custom)).collect()
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
    /// The stream holds buffers sized for an unusually large event it read (a client library
    /// that never shrinks its read buffer): the engine drops the stream at the next commit,
    /// before applying, and opens a new one at the committed position, so memory returns to a
    /// bound once the large transaction is through. Default: never.
    fn holds_large_buffers(&self) -> bool {
        false
    }
    /// Everything up to `position` is committed on the target: the source may release its log
    /// before it (a PostgreSQL slot's confirmed flush position). Default: nothing to tell.
    fn confirm(&mut self, _position: &LogPosition) -> impl Future<Output = Result<(), SourceError>> + Send {
        async { Ok(()) }
    }
    /// Asks the source for a commit the stream yields soon, past every position so far (a held
    /// reload chunk waits for the first commit past its own). Default: the source's own traffic
    /// (or its heartbeats) will do.
    fn nudge(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A source that can stream its changes, and what it declares for the snapshot → CDC hand-off
/// and for cutover, so the engine (`ferry_cdc::start`, `ferry_cdc::cutover`) needs no source
/// dialect.
pub trait CdcSource: Send + Sync + 'static {
    type Stream: ChangeStream;
    /// The source the full load that starts a sync reads: its snapshot's position is where
    /// streaming starts.
    type Snapshot: crate::Source;
    /// The kind of the positions this source makes ([`LogPosition::kind`]).
    fn position_kind(&self) -> &'static str;
    /// Reads a position of this source back from its text (state of earlier releases kept only
    /// the text). None: not a position of this source.
    fn parse_position(&self, text: &str) -> Option<LogPosition>;
    /// Prepares the source itself for capturing `tables` (`ferry sync --setup`; SQLite: the
    /// change-log triggers), for sources whose capture writes to them; says what it did.
    /// Default: nothing to prepare.
    fn setup(&self, _tables: &[Table]) -> impl Future<Output = Result<Option<String>, SourceError>> + Send {
        async { Ok(None) }
    }
    /// Named checks that CDC can work (log format, privileges, retention…).
    fn preflight(&self) -> impl Future<Output = Result<Vec<PreflightCheck>, SourceError>> + Send;
    /// The position the source's log is at now.
    fn current_position(&self) -> impl Future<Output = Result<LogPosition, SourceError>> + Send;
    /// Streams changes of `tables` from `from`. `until_caught_up`: end the stream when it reaches
    /// the log's end instead of waiting for more.
    fn stream(&self, from: &LogPosition, tables: Vec<Table>, until_caught_up: bool) -> impl Future<Output = Result<Self::Stream, SourceError>> + Send;
    /// A finished `ferry migrate`'s snapshot position is a valid place to start streaming (MySQL:
    /// the binlog keeps every change after it). False: the sync always starts with its own load
    /// (PostgreSQL: only a replication slot created at the load's snapshot holds its changes).
    fn reuses_finished_load(&self) -> bool;
    /// Prepares the source for the full load that starts a sync of `tables` (PostgreSQL: the
    /// publication, and a source whose snapshot creates the replication slot) and returns the
    /// source that load reads.
    fn prepare_full_load(&self, tables: &[Table]) -> impl Future<Output = Result<Arc<Self::Snapshot>, SourceError>> + Send;
    /// Every position of the log is reached by a commit the stream yields, so catching up to
    /// the log's end can be proven by the committed position (MySQL's binlog). False where the
    /// stream skips other tables' log (a PostgreSQL slot): the stream's end is the proof.
    fn commits_reach_every_position(&self) -> bool;
    /// How much change log the source holds after `committed` (what sync has yet to apply):
    /// bytes and what they are, for the page and the metrics. Default: unknown.
    fn backlog(&self, _committed: &LogPosition) -> impl Future<Output = Result<Option<(u64, String)>, SourceError>> + Send {
        async { Ok(None) }
    }
    /// Whether one table can be re-read online, chunk by chunk, while the stream flows
    /// (`ferry reload`, `ferry include`, continuous verify): each chunk's snapshot
    /// ([`CdcSource::chunk_source`]) carries a position such that a transaction is in the
    /// snapshot exactly when its commit position is at or before it, and the stream yields a
    /// commit past any such position ([`ChangeStream::nudge`]). Default: sources whose every log
    /// position is reached by a commit and whose snapshots carry a log position (MySQL).
    fn reloads_online(&self) -> bool {
        self.commits_reach_every_position() && self.reuses_finished_load()
    }
    /// The source one reload (or continuous-verify) chunk reads: its snapshot's position is the
    /// chunk's. Default: the full load's (which must not disturb the running sync).
    fn chunk_source(&self, tables: &[Table]) -> impl Future<Output = Result<Arc<Self::Snapshot>, SourceError>> + Send {
        self.prepare_full_load(tables)
    }
    /// Stops writes on the source for cutover where ferry can (MySQL `read_only`); says what it did.
    fn set_read_only(&self) -> impl Future<Output = Result<String, SourceError>> + Send {
        async { Err(SourceError::new(crate::ErrorKind::Definite, "ferry cannot set this source read-only: stop the application's writes before cutover")) }
    }
    /// The last value each of the free sequences `names` handed out (None: never called); cutover
    /// carries them past the source's. Default: the source has none ferry carries.
    fn sequence_values(&self, _names: &[String]) -> impl Future<Output = Result<Vec<(String, Option<i64>)>, SourceError>> + Send {
        async { Ok(Vec::new()) }
    }
    /// Releases what the source keeps for this sync once cut over (a replication slot and its
    /// publication); says what was released.
    fn release(&self) -> impl Future<Output = Result<Option<String>, SourceError>> + Send {
        async { Ok(None) }
    }
}

#[cfg(test)]
mod position_tests {
    use super::LogPosition;

    #[test]
    fn positions_order_by_their_key_not_their_text() {
        let a = LogPosition::new("mysql", "binlog.000009:900", vec![0, 9, 3, 132]);
        let b = LogPosition::new("mysql", "binlog.000010:4", vec![0, 10, 0, 4]);
        assert!(a < b, "file 9 comes before file 10 although its text sorts after");
    }

    #[test]
    fn positions_survive_json_and_read_legacy_text() {
        let a = LogPosition::new("postgres", "1/6B374D48", vec![0, 0, 0, 1, 0x6b, 0x37, 0x4d, 0x48]);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<LogPosition>(&json).unwrap(), a);
        let old: LogPosition = serde_json::from_str("\"binlog.000002:120\"").unwrap();
        assert!(old.is_legacy());
        assert_eq!(old.to_string(), "binlog.000002:120");
    }
}
