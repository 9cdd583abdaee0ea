//! PostgreSQL as a source (one schema of one database): introspection from `pg_catalog`,
//! parallel chunk reads inside one exported snapshot, and the source side of `verify`.
//!
//! Guarantees and why:
//! - **One snapshot.** The leader opens a `REPEATABLE READ` transaction and exports its snapshot
//!   (`pg_export_snapshot()`); every reader imports it (`SET TRANSACTION SNAPSHOT`) before
//!   reading, and the leader stays open until all have. All chunks of all tables are therefore
//!   read as of one instant, whatever the source's writers do meanwhile.
//! - **Types survive exactly.** A PostgreSQL column keeps its own type on the target
//!   ([`DataType::Native`]: arrays, ranges, `inet`, enums, domains…), and values travel in
//!   PostgreSQL's own text form, which its input functions read back to the same value (floats
//!   print with `extra_float_digits = 3`), so nothing is converted and nothing is rounded.
//! - Verify computes `col::text` on both sides for every column: same types, same text.
//!
//! The URL is `postgres://user@host/db?schema=app` (default schema `public`); the `schema`
//! parameter is ferry's, removed before connecting.

pub mod cdc;
mod introspect;
pub mod pgoutput;
pub mod replication;

use ferry_model::canonical::{Canon, ColumnText};
use ferry_model::{
    split_int_range, ChunkRange, Column, DataType, ErrorKind, Probe, Row, RowSender, Schema, SnapshotPosition, SnapshotReader, Source, SourceError, Table,
    TableSelection, Value, VerifySource,
};
use ferry_target_postgres::ident::{quote_ident, quote_literal};
use ferry_target_postgres::{PgTarget, TargetError};
use futures_util::TryStreamExt;
use std::sync::Arc;

const BATCH_ROWS: usize = 2000;

pub struct PgSource {
    url: String,
    pub schema: String,
    pub database: String,
    /// Set for the full load that starts a sync: the snapshot is the one the replication slot
    /// exports at its creation, so streaming starts exactly where the load's data ends.
    pub slot: Option<String>,
    /// The slot is a temporary one, made only for its snapshot and its exact position (a
    /// reload chunk of a running sync): it goes when the snapshot does.
    pub temporary: bool,
}

pub(crate) fn source_error(e: TargetError) -> SourceError {
    SourceError::new(e.kind, e.message)
}

/// Splits ferry's `schema` parameter off a PostgreSQL URL.
pub fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_string(), None) };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("schema=") {
            Some(s) => {
                schema = Some(s.to_string());
                false
            }
            None => true,
        })
        .collect();
    let url = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
    (url, schema)
}

impl PgSource {
    pub async fn connect(url: &str) -> Result<PgSource, SourceError> {
        let (url, schema) = split_schema(url);
        let schema = schema.unwrap_or_else(|| "public".into());
        let conn = PgTarget::connect_as(&url, "source").await.map_err(source_error)?;
        let row = conn
            .client
            .query_one("SELECT current_database()::text, EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", &[&schema])
            .await
            .map_err(|e| source_error(TargetError::from(e)))?;
        if !row.get::<_, bool>(1) {
            return Err(SourceError::new(ErrorKind::NotFound, format!("the source database has no schema \"{schema}\" (give ?schema=… in the URL)")));
        }
        Ok(PgSource { url, schema, database: row.get(0), slot: None, temporary: false })
    }

    /// The same source, whose next snapshot creates replication slot `slot` (see [`PgSource::slot`]).
    pub fn with_slot(&self, slot: String) -> Self {
        PgSource { url: self.url.clone(), schema: self.schema.clone(), database: self.database.clone(), slot: Some(slot), temporary: false }
    }

    /// The same source, whose next snapshot is a temporary slot's (see [`PgSource::temporary`]).
    pub fn with_temporary_slot(&self, slot: String) -> Self {
        PgSource { temporary: true, ..self.with_slot(slot) }
    }

    /// The last value each of the schema's free sequences `names` handed out (`None`: never
    /// called), read now: cutover carries them, since logical replication does not.
    pub async fn sequence_values(&self, names: &[String]) -> Result<Vec<(String, Option<i64>)>, SourceError> {
        let conn = self.conn().await?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let row = conn
                .client
                .query_one(&format!("SELECT CASE WHEN is_called THEN last_value END FROM {}", self.qualified(n)), &[])
                .await
                .map_err(|e| source_error(TargetError::from(e).context(format!("reading sequence \"{n}\""))))?;
            out.push((n.clone(), row.get(0)));
        }
        Ok(out)
    }

    pub(crate) async fn conn(&self) -> Result<PgTarget, SourceError> {
        let c = PgTarget::connect_as(&self.url, "source").await.map_err(source_error)?;
        // Types print unqualified when they live in the source schema (the plan qualifies them).
        c.batch(&format!("SET search_path = {}, pg_catalog", quote_ident(&self.schema))).await.map_err(source_error)?;
        Ok(c)
    }

    fn qualified(&self, table: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(table))
    }

    /// What a read of `table` selects from: see [`relation`].
    fn relation(&self, table: &Table) -> String {
        relation(&self.schema, table)
    }
}

/// `ONLY "schema"."table"`: a table's own rows, never those of tables that inherit from it
/// (they are tables of their own in the plan, read by themselves — without ONLY an inheritance
/// child's rows would land twice, and verify, reading the same way, would call it equal). A
/// partitioned table is the exception: its rows live in its partitions, read through it.
pub(crate) fn relation(schema: &str, table: &Table) -> String {
    let q = format!("{}.{}", quote_ident(schema), quote_ident(&table.name));
    if table.partitioned_by.is_some() {
        q
    } else {
        format!("ONLY {q}")
    }
}

/// The `WHERE` clause of a chunk.
fn range_condition(range: &ChunkRange) -> String {
    let column = match range {
        ChunkRange::IntKey { column, .. } => column.as_str(),
        _ => "",
    };
    ferry_target_postgres::verify::range_condition(range, column)
}

/// One session inside the exported snapshot. The leader's session (held by every reader) keeps
/// the snapshot importable until the last reader has imported it.
pub struct PgReader {
    conn: PgTarget,
    schema: String,
    _leader: Arc<dyn std::any::Any + Send + Sync>,
}

impl SnapshotReader for PgReader {
    fn supports_raw(&self) -> bool {
        true
    }

    /// `COPY (SELECT …) TO STDOUT (FORMAT binary)`, streamed untouched into the target's COPY.
    async fn read_raw(
        &mut self,
        table: &Table,
        columns: &[usize],
        range: &ChunkRange,
        tx: ferry_model::ByteSender,
        bytes: &std::sync::atomic::AtomicU64,
    ) -> Result<(), SourceError> {
        let cols: Vec<String> = columns.iter().map(|&i| quote_ident(&table.columns[i].name)).collect();
        let sql = format!("COPY (SELECT {} FROM {}{}) TO STDOUT (FORMAT binary)", cols.join(", "), relation(&self.schema, table), range_condition(range));
        let ctx = |e: tokio_postgres::Error| source_error(TargetError::from(e).context(format!("reading table \"{}\"", table.name)));
        let stream = self.conn.client.copy_out(sql.as_str()).await.map_err(ctx)?;
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.try_next().await.map_err(ctx)? {
            bytes.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if tx.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    async fn read(&mut self, table: &Table, range: &ChunkRange, tx: RowSender) -> Result<u64, SourceError> {
        let cols: Vec<String> = table.columns.iter().map(|c| format!("{}::text", quote_ident(&c.name))).collect();
        let sql = format!(
            "SELECT {} FROM {}{}",
            if cols.is_empty() { "1".to_string() } else { cols.join(", ") },
            relation(&self.schema, table),
            range_condition(range)
        );
        let ctx = |e: tokio_postgres::Error| source_error(TargetError::from(e).context(format!("reading table \"{}\"", table.name)));
        let stream = self.conn.client.query_raw(sql.as_str(), std::iter::empty::<&str>()).await.map_err(ctx)?;
        futures_util::pin_mut!(stream);
        let mut batch: Vec<Row> = Vec::with_capacity(BATCH_ROWS);
        let mut n = 0u64;
        while let Some(row) = stream.try_next().await.map_err(ctx)? {
            let values: Row = (0..table.columns.len()).map(|i| row.get::<_, Option<String>>(i).map(Value::Text).unwrap_or(Value::Null)).collect();
            batch.push(values);
            n += 1;
            if batch.len() >= BATCH_ROWS && tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS))).await.is_err() {
                return Ok(n);
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch).await;
        }
        Ok(n)
    }
}

impl Source for PgSource {
    type Reader = PgReader;

    async fn introspect(&self, select: TableSelection<'_>) -> Result<Schema, SourceError> {
        introspect::introspect(self, select).await
    }

    /// PostgreSQL columns keep their types: no data probe is ever needed.
    async fn probe(&self, _table: &str, _column: &str, _probe: Probe) -> Result<u64, SourceError> {
        Ok(0)
    }

    async fn plan_chunks(&self, table: &Table, rows_per_chunk: u64) -> Result<Vec<ChunkRange>, SourceError> {
        let pk = match &table.primary_key {
            Some(k) if k.columns.len() == 1 => k.columns[0].clone(),
            // No single-column key: ranges of heap pages (a partitioned parent has none).
            _ if table.partitioned_by.is_none() && table.estimated_rows > rows_per_chunk => {
                let conn = self.conn().await?;
                let pages: i64 = conn
                    .client
                    .query_one("SELECT relpages::bigint FROM pg_class WHERE oid = $1::text::regclass", &[&self.qualified(&table.name)])
                    .await
                    .map_err(|e| source_error(TargetError::from(e).context(format!("sizing table \"{}\"", table.name))))?
                    .get(0);
                let parts = table.estimated_rows.div_ceil(rows_per_chunk.max(1)).max(1);
                let per = (pages.max(1) as u64).div_ceil(parts).max(1);
                let mut out = Vec::new();
                let mut lo = 0;
                while lo + per < pages.max(1) as u64 {
                    out.push(ChunkRange::Pages { lo, hi: Some(lo + per) });
                    lo += per;
                }
                out.push(ChunkRange::Pages { lo, hi: None });
                return Ok(out);
            }
            _ => return Ok(vec![ChunkRange::All]),
        };
        let int = matches!(table.column(&pk).map(|c| &c.data_type), Some(DataType::Native { name, .. }) if matches!(name.as_str(), "integer" | "bigint" | "smallint"));
        if !int || table.estimated_rows <= rows_per_chunk {
            return Ok(vec![ChunkRange::All]);
        }
        let conn = self.conn().await?;
        let row = conn
            .client
            .query_one(&format!("SELECT min({c})::text, max({c})::text FROM {}", self.relation(table), c = quote_ident(&pk)), &[])
            .await
            .map_err(|e| source_error(TargetError::from(e).context(format!("sizing table \"{}\"", table.name))))?;
        let (Some(min), Some(max)) = (row.get::<_, Option<String>>(0), row.get::<_, Option<String>>(1)) else { return Ok(vec![ChunkRange::All]) };
        let (Ok(min), Ok(max)) = (min.parse::<i128>(), max.parse::<i128>()) else { return Ok(vec![ChunkRange::All]) };
        Ok(split_int_range(&pk, min, max, table.estimated_rows.div_ceil(rows_per_chunk.max(1))))
    }

    async fn open_snapshot(&self, readers: usize) -> Result<(Vec<PgReader>, SnapshotPosition), SourceError> {
        let (snapshot, lsn, leader): (String, ferry_model::cdc::LogPosition, Arc<dyn std::any::Any + Send + Sync>) = match &self.slot {
            // Starting a sync: the slot's own snapshot (its connection stays open, idle, until
            // every reader imported it).
            Some(slot) => {
                let c = self.conn().await?;
                let version: i32 =
                    c.client.query_one("SELECT current_setting('server_version_num')::int", &[]).await.map_err(|e| source_error(TargetError::from(e)))?.get(0);
                let mut repl = replication::ReplConn::connect(&self.url).await?;
                let (lsn, snapshot) = cdc::create_slot_exporting(&mut repl, slot, version, self.temporary).await?;
                (snapshot, cdc::lsn_position(lsn), Arc::new(repl))
            }
            None => {
                let leader = self.conn().await?;
                leader.batch("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(source_error)?;
                let row = leader
                    .client
                    .query_one("SELECT pg_export_snapshot(), pg_current_wal_lsn()::text", &[])
                    .await
                    .map_err(|e| source_error(TargetError::from(e).context("exporting the snapshot")))?;
                (row.get(0), cdc::lsn_position(cdc::parse_lsn(row.get(1)).unwrap_or(0)), Arc::new(leader))
            }
        };
        let mut out = Vec::new();
        for _ in 0..readers.max(1) {
            let c = self.conn().await?;
            c.batch(&format!("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}", quote_literal(&snapshot)))
                .await
                .map_err(|e| source_error(e.context("importing the snapshot")))?;
            out.push(PgReader { conn: c, schema: self.schema.clone(), _leader: leader.clone() });
        }
        Ok((out, SnapshotPosition { position: Some(lsn), gtid: None, consistent: true, note: None, readers: None }))
    }
}

impl VerifySource for PgSource {
    fn canonical_expr(&self, column: &Column, canon: Canon) -> String {
        ferry_target_postgres::verify::canonical_expr(&quote_ident(&column.name), canon, column.nullable).sql
    }

    fn quote(&self, ident: &str) -> String {
        quote_ident(ident)
    }

    fn key_bound_exprs(&self, c: &str) -> [String; 2] {
        [format!("min({c})::text"), format!("max({c})::text")]
    }

    async fn chunk_hash(&self, table: &Table, exprs: &[ColumnText], range: &ChunkRange) -> Result<(u64, String), SourceError> {
        let conn = self.conn().await?;
        conn.chunk_hash(&self.relation(table), exprs, &range_condition(range)).await.map_err(source_error)
    }

    async fn canonical_rows(&self, table: &Table, exprs: &[String], range: &ChunkRange) -> Result<Vec<Vec<Option<String>>>, SourceError> {
        let conn = self.conn().await?;
        let texts: Vec<ColumnText> = exprs.iter().map(|e| ColumnText { sql: e.clone(), nullable: true, json: false }).collect();
        conn.canonical_rows(&self.relation(table), &texts, &range_condition(range)).await.map_err(source_error)
    }

    /// A `[checks]` call, with the search path on the source schema (as the target runs it on
    /// the target schema).
    async fn evaluate(&self, expr: &str) -> Result<Option<String>, SourceError> {
        let conn = self.conn().await?;
        conn.evaluate(&self.schema, expr).await.map_err(source_error)
    }

    async fn read_keys(&self, table: &Table, key_exprs: &[String], keys: &[Vec<String>], tx: RowSender) -> Result<u64, SourceError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let conn = self.conn().await?;
        let key_tuple = format!("({})", key_exprs.join(", "));
        let lists: Vec<String> = keys.iter().map(|k| format!("({})", k.iter().map(|v| quote_literal(v)).collect::<Vec<_>>().join(", "))).collect();
        let cols: Vec<String> = table.columns.iter().map(|c| format!("{}::text", quote_ident(&c.name))).collect();
        let sql = format!("SELECT {} FROM {} WHERE {key_tuple} IN ({})", cols.join(", "), self.relation(table), lists.join(", "));
        let rows = conn.client.query(&sql, &[]).await.map_err(|e| source_error(TargetError::from(e).context(format!("reading rows of \"{}\"", table.name))))?;
        let out: Vec<Row> =
            rows.iter().map(|r| (0..table.columns.len()).map(|i| r.get::<_, Option<String>>(i).map(Value::Text).unwrap_or(Value::Null)).collect()).collect();
        let n = out.len() as u64;
        let _ = tx.send(out).await;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_parameter_is_ferrys() {
        assert_eq!(super::split_schema("postgres://u@h/db?schema=app"), ("postgres://u@h/db".into(), Some("app".into())));
        assert_eq!(super::split_schema("postgres://u@h/db?sslmode=disable&schema=x"), ("postgres://u@h/db?sslmode=disable".into(), Some("x".into())));
        assert_eq!(super::split_schema("postgres://u@h/db"), ("postgres://u@h/db".into(), None));
    }
}
