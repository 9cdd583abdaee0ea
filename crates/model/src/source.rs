//! The traits every source implements, so engines (`load`, later `cdc`, `verify`, `diff`) drive
//! any source the same way. Rows flow through a bounded channel: a reader that outruns the
//! writer waits, so memory stays bounded whatever the table size.

use std::future::Future;

use crate::{
    error::SourceError,
    schema::{Schema, Table},
    value::Row,
};
use serde::{Deserialize, Serialize};

/// A batch of rows read from one table, in read order.
pub type RowBatch = Vec<Row>;
pub type RowSender = tokio::sync::mpsc::Sender<RowBatch>;

/// Every row of `range` of `table`, read by `reader` into memory: for pieces known to be small
/// (a reload or verify chunk, a preview sample), not for a load.
pub async fn read_rows<R: SnapshotReader>(reader: &mut R, table: &crate::Table, range: &ChunkRange) -> Result<Vec<Row>, SourceError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let read = reader.read(table, range, tx);
    let collect = async {
        let mut rows = Vec::new();
        while let Some(b) = rx.recv().await {
            rows.extend(b);
        }
        rows
    };
    let (read, rows) = tokio::join!(read, collect);
    read.map(|_| rows)
}

/// Which tables to introspect: a predicate over source table names.
pub type TableSelection<'a> = &'a (dyn Fn(&str) -> bool + Sync);

/// Questions the plan may ask about the data before choosing a type (e.g. "is this tinyint(1)
/// column really boolean?"). Each answer is a count of rows that break the assumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Probe {
    /// Rows whose integer value is neither 0 nor 1 (NULL excluded).
    NotZeroOrOne,
    /// Rows whose duration is negative or at least 24 hours.
    OutsideDay,
    /// Rows whose unsigned 64-bit value exceeds 2^63-1 (does not fit a signed bigint).
    AboveBigint,
    /// Rows holding a zero or partial date (`0000-00-00`, `2020-00-10`).
    ZeroDates,
    /// Rows holding MySQL's invalid ENUM value (index 0, read as `''`).
    InvalidEnum,
    /// Rows of a binary column whose bytes are not UTF-8 text (invalid sequences or a NUL).
    NotUtf8Text,
    /// Rows whose time holds a digit beyond the microsecond (SQL Server's 100 ns), which
    /// PostgreSQL cannot keep.
    BeyondMicroseconds,
}

impl Probe {
    /// Every probe.
    pub fn all() -> Vec<Probe> {
        vec![Probe::NotZeroOrOne, Probe::OutsideDay, Probe::AboveBigint, Probe::ZeroDates, Probe::InvalidEnum, Probe::NotUtf8Text, Probe::BeyondMicroseconds]
    }
}

/// Which rows of a table one chunk covers. Chunks of one table are disjoint and together cover
/// every row, so loading each exactly once loads the table exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChunkRange {
    /// The whole table.
    All,
    /// Rows whose integer key `column` satisfies `lo < column <= hi` (an absent bound is open).
    /// Bounds are stored as decimal text: they may exceed 64 bits (bigint unsigned).
    IntKey {
        column: String,
        #[serde(with = "bound_text")]
        lo: Option<i128>,
        #[serde(with = "bound_text")]
        hi: Option<i128>,
    },
    /// Heap pages `lo..hi` of a PostgreSQL table without a usable key (by `ctid`; the last
    /// range is open so pages added since the statistics are read too).
    Pages { lo: u64, hi: Option<u64> },
    /// Rows whose key `column` satisfies `lo < column <= hi` in the *source's* order (a SQL
    /// Server uniqueidentifier or collated text key): the bounds are the source's own text of
    /// key values it sampled, and only that source renders the range (the target's order may
    /// differ, so no target query is ever made of it).
    Keyset { column: String, lo: Option<String>, hi: Option<String> },
}

impl ChunkRange {
    /// The standard-SQL ` WHERE …` clause selecting this range by its key, with the key column
    /// already quoted for the database at hand (empty for the whole table). Bounds are integers,
    /// so no quoting is needed. None for a range only its source can express (`Pages`: the
    /// PostgreSQL crates render `ctid` ranges themselves).
    pub fn key_condition(&self, quoted_column: &str) -> Option<String> {
        Some(match self {
            ChunkRange::All => String::new(),
            ChunkRange::Pages { .. } | ChunkRange::Keyset { .. } => return None,
            ChunkRange::IntKey { lo, hi, .. } => {
                let mut parts = Vec::new();
                if let Some(l) = lo {
                    parts.push(format!("{quoted_column} > {l}"));
                }
                if let Some(h) = hi {
                    parts.push(format!("{quoted_column} <= {h}"));
                }
                if parts.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", parts.join(" AND "))
                }
            }
        })
    }
}

mod bound_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<i128>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_some(&x.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i128>, D::Error> {
        let v: Option<String> = Option::deserialize(d)?;
        v.map(|s| s.parse().map_err(serde::de::Error::custom)).transpose()
    }
}

/// Where a consistent snapshot stands in the source's change stream, for the CDC hand-off.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotPosition {
    /// The snapshot's place in the source's change log (binlog file and offset, LSN…).
    pub position: Option<crate::cdc::LogPosition>,
    /// GTID set where the server has one.
    pub gtid: Option<String>,
    /// All readers see the same instant. False when the source could not guarantee it (e.g. no
    /// privilege for the global read lock); the report says so.
    pub consistent: bool,
    /// Why not consistent, for the report.
    pub note: Option<String>,
    /// How the readers share the snapshot, where the source has more than one way (SQLite: a
    /// WAL snapshot, or shared locks that hold off writers), for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readers: Option<String>,
}

/// One connection inside a snapshot, reading chunks.
/// Raw COPY data on its way to the target (Err aborts the COPY with that message).
pub type ByteSender = tokio::sync::mpsc::Sender<Result<bytes::Bytes, String>>;

pub trait SnapshotReader: Send + 'static {
    /// Reads the rows of `range` (all columns, in table order) and sends them in batches.
    /// Returns the number of rows sent.
    fn read(&mut self, table: &Table, range: &ChunkRange, tx: RowSender) -> impl Future<Output = Result<u64, SourceError>> + Send;

    /// The source can hand over a chunk as PostgreSQL binary COPY data as is (a PostgreSQL
    /// source whose columns keep their types): no row is decoded or encoded on the way.
    fn supports_raw(&self) -> bool {
        false
    }

    /// Sends `range` of the source `columns` (indexes, in target column order) as binary COPY
    /// data; adds the bytes sent to `bytes`.
    fn read_raw(
        &mut self,
        _table: &Table,
        _columns: &[usize],
        _range: &ChunkRange,
        _tx: ByteSender,
        _bytes: &std::sync::atomic::AtomicU64,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        async { Err(SourceError::new(crate::ErrorKind::Definite, "this source has no raw COPY")) }
    }
}

/// Futures are `Send` so engines can run tables on several threads.
pub trait Source: Send + Sync + 'static {
    type Reader: SnapshotReader;

    /// Reads the schema of the selected tables plus views, triggers, routines and events.
    fn introspect(&self, select: TableSelection<'_>) -> impl Future<Output = Result<Schema, SourceError>> + Send;
    /// Counts rows of `table` that fail `probe` on `column`.
    fn probe(&self, table: &str, column: &str, probe: Probe) -> impl Future<Output = Result<u64, SourceError>> + Send;
    /// Answers several probes of one table; the default asks them one by one, a source may read
    /// the table once for all of them.
    fn probe_table(&self, table: &str, probes: &[(String, Probe)]) -> impl Future<Output = Result<Vec<u64>, SourceError>> + Send {
        async move {
            let mut out = Vec::with_capacity(probes.len());
            for (column, probe) in probes {
                out.push(self.probe(table, column, *probe).await?);
            }
            Ok(out)
        }
    }
    /// Splits a table into chunks of about `rows_per_chunk` rows.
    fn plan_chunks(&self, table: &Table, rows_per_chunk: u64) -> impl Future<Output = Result<Vec<ChunkRange>, SourceError>> + Send;
    /// Opens `readers` connections that all see the same consistent snapshot, and the position
    /// of that snapshot in the change stream.
    fn open_snapshot(&self, readers: usize) -> impl Future<Output = Result<(Vec<Self::Reader>, SnapshotPosition), SourceError>> + Send;
    /// The schema's views, triggers and routines converted to PostgreSQL, named as `names`
    /// says, for a source whose dialect has a converter. The default converts nothing: the
    /// objects stay action items (or, `Schema::native_objects`, are PostgreSQL's own already).
    fn convert_objects(&self, _schema: &Schema, _names: &dyn crate::code::TargetNames) -> Vec<crate::code::ConvertedObject> {
        Vec::new()
    }
}

/// Splits the integer key span `[min, max]` into about `parts` disjoint ranges covering it all
/// (the first open below, the last open above).
pub fn split_int_range(column: &str, min: i128, max: i128, parts: u64) -> Vec<ChunkRange> {
    let parts = parts.max(1) as i128;
    if parts == 1 || max <= min {
        return vec![ChunkRange::IntKey { column: column.into(), lo: None, hi: None }];
    }
    let span = max - min + 1;
    let step = (span + parts - 1) / parts;
    let mut out = Vec::new();
    let mut lo: Option<i128> = None;
    let mut bound = min - 1;
    loop {
        bound += step;
        if bound >= max {
            out.push(ChunkRange::IntKey { column: column.into(), lo, hi: None });
            break;
        }
        out.push(ChunkRange::IntKey { column: column.into(), lo, hi: Some(bound) });
        lo = Some(bound);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once() {
        let r = split_int_range("id", 1, 100, 4);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], ChunkRange::IntKey { column: "id".into(), lo: None, hi: Some(25) });
        assert_eq!(r[3], ChunkRange::IntKey { column: "id".into(), lo: Some(75), hi: None });
        // every id in exactly one range
        for id in -5..120i128 {
            let n = r
                .iter()
                .filter(|c| match c {
                    ChunkRange::IntKey { lo, hi, .. } => lo.is_none_or(|l| id > l) && hi.is_none_or(|h| id <= h),
                    ChunkRange::All | ChunkRange::Pages { .. } | ChunkRange::Keyset { .. } => true,
                })
                .count();
            assert_eq!(n, 1, "id {id}");
        }
        assert_eq!(split_int_range("id", 5, 5, 8).len(), 1);
    }

    #[test]
    fn chunk_plans_survive_json() {
        let r = split_int_range("id", 0, u64::MAX as i128, 3);
        let text = serde_json::to_string(&r).unwrap();
        let back: Vec<ChunkRange> = serde_json::from_str(&text).unwrap();
        assert_eq!(r, back);
    }
}

/// What `verify` needs from a source: canonical texts computed in its own SQL, hashes (in its
/// SQL, or by ferry from streamed texts where the source has no hash function), key bounds,
/// and rows by key for repair.
pub trait VerifySource: Source {
    /// The canonical text of `column` of the source table, in the source's SQL.
    fn canonical_expr(&self, column: &crate::Column, canon: crate::canonical::Canon) -> String;
    /// Quotes an identifier for the source's SQL.
    fn quote(&self, ident: &str) -> String;
    /// For a column whose rule sets cells aside (`Column::quarantine`, `replace_bad_text`): the
    /// source's SQL for a set-aside cell's storage class and raw text (NULL for other cells),
    /// which verify compares with `ferry.quarantine`. None: the column sets nothing aside.
    fn set_aside_exprs(&self, _column: &crate::Column) -> Option<[String; 2]> {
        None
    }
    /// The source's SQL for the smallest and largest value of a quoted column, as text or an
    /// integer cell (default: `min(c)`, `max(c)`).
    fn key_bound_exprs(&self, quoted_column: &str) -> [String; 2] {
        [format!("min({quoted_column})"), format!("max({quoted_column})")]
    }
    /// The smallest and largest value of integer key `column` within `range` (None: no row),
    /// where verify bisects a range that differs.
    fn key_bounds(&self, table: &Table, column: &str, range: &ChunkRange) -> impl Future<Output = Result<(Option<i128>, Option<i128>), SourceError>> + Send {
        async move {
            let rows = self.canonical_rows(table, &self.key_bound_exprs(&self.quote(column)), range).await?;
            Ok(crate::canonical::parse_bounds(&rows))
        }
    }
    /// Row count and order-independent hash sum of `range` over the canonical texts `exprs`.
    fn chunk_hash(
        &self,
        table: &Table,
        exprs: &[crate::canonical::ColumnText],
        range: &ChunkRange,
    ) -> impl Future<Output = Result<(u64, String), SourceError>> + Send;
    /// The canonical texts `exprs` (expressions in the source's SQL) of every row of `range`.
    fn canonical_rows(&self, table: &Table, exprs: &[String], range: &ChunkRange)
        -> impl Future<Output = Result<Vec<Vec<Option<String>>>, SourceError>> + Send;
    /// The value of expression `expr` in the source's SQL (a call of one of its functions), as
    /// text; NULL is None. The default: this source runs no such checks.
    fn evaluate(&self, expr: &str) -> impl Future<Output = Result<Option<String>, SourceError>> + Send {
        let e = SourceError::new(crate::ErrorKind::Definite, format!("this source does not evaluate checks ([checks] calls: `{expr}`)"));
        async move { Err(e) }
    }
    /// Reads the full rows whose canonical key texts (`key_exprs`) equal one of `keys`.
    fn read_keys(&self, table: &Table, key_exprs: &[String], keys: &[Vec<String>], tx: RowSender) -> impl Future<Output = Result<u64, SourceError>> + Send;
}

#[cfg(test)]
mod page_tests {
    use super::ChunkRange;

    #[test]
    fn page_ranges_select_by_ctid_and_survive_json() {
        assert_eq!(ChunkRange::Pages { lo: 0, hi: Some(10) }.key_condition("ignored"), None, "a source renders its own page ranges");
        let r = vec![ChunkRange::Pages { lo: 0, hi: Some(3) }, ChunkRange::Pages { lo: 3, hi: None }];
        assert_eq!(serde_json::from_str::<Vec<ChunkRange>>(&serde_json::to_string(&r).unwrap()).unwrap(), r);
    }
}
