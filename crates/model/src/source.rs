//! The trait every source implements, so engines (`load`, later `cdc`, `verify`, `diff`) drive any
//! source the same way. Rows flow through a bounded channel: a reader that outruns the writer
//! waits, so memory stays bounded whatever the table size.

use std::future::Future;

use crate::{error::SourceError, schema::{Schema, Table}, value::Row};

/// A batch of rows read from one table, in read order.
pub type RowBatch = Vec<Row>;
pub type RowSender = tokio::sync::mpsc::Sender<RowBatch>;

/// Which tables to introspect: a predicate over source table names.
pub type TableSelection<'a> = &'a (dyn Fn(&str) -> bool + Sync);

/// Questions the plan may ask about the data before choosing a type (e.g. "is this tinyint(1)
/// column really boolean?"). Each answer is a count of rows that break the assumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// Rows whose integer value is neither 0 nor 1 (NULL excluded).
    NotZeroOrOne,
    /// Rows whose duration is negative or at least 24 hours.
    OutsideDay,
}

/// Futures are `Send` so engines can run tables on several threads.
pub trait Source: Send + Sync + 'static {
    /// Reads the schema of the selected tables plus views, triggers, routines and events.
    fn introspect(&self, select: TableSelection<'_>) -> impl Future<Output = Result<Schema, SourceError>> + Send;
    /// Counts rows of `table` that fail `probe` on `column`.
    fn probe(&self, table: &str, column: &str, probe: Probe) -> impl Future<Output = Result<u64, SourceError>> + Send;
    /// Reads every row of `table` (all columns, in table order) and sends them in batches.
    /// Returns the number of rows sent.
    fn read_table(&self, table: &Table, tx: RowSender) -> impl Future<Output = Result<u64, SourceError>> + Send;
}
