//! Applying change batches: rows, and with them the batch's position, counters and `ferry.sync_log`
//! row (the state tables themselves are read and started in `crate::sync_state`).
//!
//! Exactly once: [`PgTarget::apply_batch`] writes a batch's rows, the source position after its
//! last source transaction, the per-table counters and one `sync_log` row in **one** target
//! transaction. After a crash either all of it is committed or none, and sync restarts from the
//! committed position, so no change is lost or applied twice. `sync_log` rows chain: each one's
//! `from` position is the previous one's `to`, which a test checks to prove no transaction was
//! applied twice.
//!
//! How rows are written: per table, the batch holds the final state of each key (the engine
//! folds the changes in source order), so a table's deletes and upserts touch distinct keys and
//! their order does not matter. Both go through binary (or text) COPY into a temporary table
//! shaped like the target, then one `DELETE … USING` and one `INSERT … ON CONFLICT (key) DO
//! UPDATE`; COPY keeps a 50,000-row batch at a few statements. Foreign keys and triggers are not
//! enforced during apply when the role may set `session_replication_role = replica` (the source
//! enforced them; the target sees each source transaction whole at commit).

use crate::conn::PgTarget;
use crate::copy_binary::{self, BinaryKind};
use crate::error::TargetError;
use crate::ident::quote_ident;
use crate::reshape::{ChangedKeys, Refresh};
use crate::state::TableState;
use bytes::Bytes;
use ferry_model::cdc::LogPosition;
use ferry_model::Row;

/// Turns FK checks and triggers off for one transaction, on the coordinator and, on Citus, on
/// the workers too: Citus does not pass a session-level `session_replication_role` to the
/// shards' connections, but propagates `SET LOCAL` when `citus.propagate_set_commands` is
/// `local` (on plain PostgreSQL the `citus.` setting is an unused placeholder).
pub const REPLICA_LOCAL: &str = "SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL session_replication_role = replica";

/// A source DDL statement as it lands on one target table.
#[derive(Debug, Default)]
pub struct SchemaDdl {
    /// Target table (its name before the statement).
    pub table: String,
    /// What ferry did, for `ferry status` (`ALTER TABLE … ADD COLUMN z: applied`).
    pub note: String,
    pub statements: Vec<String>,
    /// The table's new target name (a source RENAME).
    pub rename_to: Option<String>,
    /// The table is new (CREATE TABLE on the source): its counters start now.
    pub created: bool,
    /// The table was dropped on the source (and here).
    pub dropped: bool,
}

/// One table's part of a batch.
#[derive(Debug, Default)]
pub struct TableBatch {
    /// Target table name (in the batch's schema) and its columns.
    pub table: String,
    pub columns: Vec<String>,
    /// Indexes (into `columns`) of the key; empty: the table has none (inserts only).
    pub key: Vec<usize>,
    /// Indexes of the target's primary key when it extends `key` (a Citus table whose key
    /// gained the distribution column on the target only); empty: the key is the target's.
    /// Upserts then first delete the row of the same source key whose distribution value
    /// moved (Citus cannot update a distribution column), then insert on this key.
    pub conflict: Vec<usize>,
    /// Binary COPY encoders, or None for the text format.
    pub binary: Option<Vec<BinaryKind>>,
    /// Final rows of upserted keys, and rows (key values used) of deleted keys.
    pub upserts: Vec<Row>,
    pub deletes: Vec<Row>,
    /// Counters to add (source row events, before folding).
    pub inserts: i64,
    pub updates: i64,
    pub deletes_count: i64,
    /// TRUNCATE the table first (a source TRUNCATE inside the batch, before its later rows).
    pub truncate: bool,
    /// Zero dates written as NULL (rules.zero_dates = "null"), counted.
    pub zero_dates_nulled: i64,
    /// Zero dates written as -infinity (zero_dates = "-infinity"), counted.
    pub zero_dates_infinity: i64,
    /// JSON documents with a duplicate key kept with the last value (json_duplicate_keys = "last").
    pub json_duplicate_keys: i64,
    /// Every change in source order (upsert?, row), kept for tables with a unique key besides
    /// the primary key: when the folded apply hits a unique violation (two rows trading a
    /// unique value inside the batch), the table's changes are replayed one by one in source
    /// order, through the same intermediate states the source went through.
    pub sequence: Vec<(bool, Row)>,
    /// A reload chunk (`ferry reload`): the target rows this condition selects are replaced by
    /// `upserts` — those of them without a row in `upserts` are deleted.
    pub replace: Option<String>,
    /// Only the `upserts` rows for which this condition holds are written (`--where`).
    pub only: Option<String>,
    /// The table may hold set-aside cells: the entries of every row written or deleted here are
    /// replaced by these (`crate::quarantine`). None: the table has no such column.
    pub quarantine: Option<Vec<crate::quarantine::QuarantineRow>>,
}

/// A batch of whole source transactions.
#[derive(Debug)]
pub struct ApplyBatch {
    pub schema: String,
    pub from: LogPosition,
    pub to: LogPosition,
    pub transactions: i32,
    /// Commit time of the last source transaction (seconds since the epoch).
    pub source_time: u64,
    pub tables: Vec<TableBatch>,
    /// Tables to mark stopped (target name, error), from the source side (conversion, DDL).
    pub stops: Vec<(String, String)>,
    /// Target tables that saw a DDL statement.
    pub ddl: Vec<String>,
    /// Source tables created after the plan, listed as not synced (name, what to do).
    pub not_synced: Vec<(String, String)>,
    /// Schema changes, applied before the rows (a batch with DDL holds only the DDL).
    pub schema_ddl: Vec<SchemaDdl>,
    /// ferry's model of the source schema after this batch (JSON), when DDL changed it.
    pub source_model: Option<String>,
    /// The final hop's mappings over this (landing) schema: refreshed in the same transaction.
    pub reshape: Option<std::sync::Arc<crate::reshape::Reshape>>,
    /// A reload chunk's progress, recorded with its rows.
    pub reload: Option<ReloadStep>,
}

/// One chunk of a reload applied: `ferry.reloads` moves on in the same transaction.
#[derive(Debug, Clone)]
pub struct ReloadStep {
    pub table: String,
    pub chunks_done: i32,
    pub rows: i64,
    /// The last chunk: the reload is done.
    pub done: bool,
}

impl PgTarget {
    /// Counts a DDL statement applied to `table`.
    async fn count_sync_ddl(&self, schema: &str, table: &str) -> Result<(), TargetError> {
        self.client
            .execute(
                "INSERT INTO ferry.sync_tables (target_schema, table_name, ddl) VALUES ($1, $2, 1) \
                 ON CONFLICT (target_schema, table_name) DO UPDATE SET ddl = sync_tables.ddl + 1",
                &[&schema, &table],
            )
            .await?;
        Ok(())
    }

    /// Lets apply skip FK checks and triggers when the role may (superuser or equivalent):
    /// each apply transaction then starts with [`REPLICA_LOCAL`].
    pub async fn try_replica_role(&self) -> bool {
        let ok = self.batch("SET session_replication_role = replica").await.is_ok();
        self.replica.store(ok, std::sync::atomic::Ordering::Relaxed);
        ok
    }

    /// Applies one batch and records its position, counters and log row in one transaction.
    /// A table whose changes fail with a definite error (bad value, constraint) is rolled back to
    /// its savepoint and marked stopped in the same transaction; the other tables' changes
    /// commit. Returns the tables stopped, with their errors. Transient errors abort the whole
    /// transaction (the caller retries from the committed position).
    pub async fn apply_batch(&self, b: &ApplyBatch) -> Result<Vec<(String, String)>, TargetError> {
        self.batch("BEGIN").await?;
        let replica = if self.replica.load(std::sync::atomic::Ordering::Relaxed) { REPLICA_LOCAL } else { "" };
        // Citus: one connection per worker for the whole transaction — a batch writes
        // reference and distributed tables that reference them, which Citus refuses after
        // parallel access ("cannot execute DML on table … because there was a parallel DML
        // access"). On plain PostgreSQL the setting is an unused placeholder.
        if let Err(e) = self.batch(&format!("SET LOCAL citus.multi_shard_modify_mode = 'sequential'; {replica}")).await {
            let _ = self.batch("ROLLBACK").await;
            return Err(e);
        }
        let mut stopped = Vec::new();
        let result = async {
            // Paused tables (`ferry pause`): their changes go to their hold tables (`crate::hold`).
            let holds = self.active_holds(&b.schema).await?;
            for d in &b.schema_ddl {
                self.batch("SAVEPOINT ferry_table").await?;
                match self.apply_schema_ddl(&b.schema, d).await {
                    Ok(()) => self.batch("RELEASE SAVEPOINT ferry_table").await?,
                    Err(e) if e.kind == ferry_model::ErrorKind::Transient => return Err(e),
                    Err(e) => {
                        self.batch("ROLLBACK TO SAVEPOINT ferry_table").await?;
                        let msg = format!("{}: the target refused it ({e}) — apply the change to the target by hand, or run `ferry migrate` for the table, and restart sync", d.note);
                        self.stop_sync_table(&b.schema, &d.table, &msg).await?;
                        stopped.push((d.table.clone(), msg));
                    }
                }
            }
            if let Some(model) = &b.source_model {
                self.client.execute("UPDATE ferry.sync_state SET source_model = $2 WHERE target_schema = $1", &[&b.schema, model]).await?;
            }
            // The reshaped tables: refresh keys on the landing as it is before the batch...
            let refresh = match &b.reshape {
                Some(r) => {
                    let changed = b
                        .tables
                        .iter()
                        .filter(|t| !holds.contains_key(&t.table))
                        .map(|t| ChangedKeys {
                            table: t.table.clone(),
                            key: t.key.iter().map(|&k| t.columns[k].clone()).collect(),
                            batch: t,
                            truncated: t.truncate || t.key.is_empty() || t.replace.is_some(),
                        })
                        .collect();
                    let rf = Refresh::start(self, r, changed).await?;
                    if let Some(rf) = &rf {
                        rf.collect(self).await?;
                    }
                    rf
                }
                None => None,
            };
            for t in &b.tables {
                self.batch("SAVEPOINT ferry_table").await?;
                let held = holds.get(&t.table);
                let mut result = match held {
                    Some(hold) => self.hold_changes(&b.schema, hold, t).await,
                    None => self.apply_table(&b.schema, t).await,
                };
                if held.is_none() && matches!(&result, Err(e) if e.sqlstate.as_deref() == Some("23505")) && !t.sequence.is_empty() {
                    self.batch("ROLLBACK TO SAVEPOINT ferry_table").await?;
                    tracing::info!("table {}: unique conflict inside a batch; replaying its {} changes in source order", t.table, t.sequence.len());
                    result = self.apply_sequence(&b.schema, t).await;
                }
                match result {
                    Ok(()) => self.batch("RELEASE SAVEPOINT ferry_table").await?,
                    Err(e) if e.kind == ferry_model::ErrorKind::Transient => return Err(e),
                    Err(e) => {
                        self.batch("ROLLBACK TO SAVEPOINT ferry_table").await?;
                        let msg = e.to_string();
                        self.stop_sync_table(&b.schema, &t.table, &msg).await?;
                        stopped.push((t.table.clone(), msg));
                    }
                }
            }
            // ...and after it; then the affected target rows are selected again.
            if let Some(rf) = &refresh {
                rf.collect(self).await?;
                for (table, msg) in rf.apply(self).await? {
                    self.stop_sync_table(&b.schema, &table, &msg).await?;
                    stopped.push((table, msg));
                }
            }
            self.client
                .execute(
                    "UPDATE ferry.sync_state SET position_kind = $2, position = $3, position_order = $4, transactions = transactions + $5, \
                     source_time = to_timestamp($6::float8), applied_at = clock_timestamp(), \
                     lag_seconds = greatest(0, extract(epoch from clock_timestamp()) - $6::float8) WHERE target_schema = $1",
                    &[&b.schema, &b.to.kind, &b.to.text, &b.to.order, &(b.transactions as i64), &(b.source_time as f64)],
                )
                .await?;
            let rows: i64 = b.tables.iter().map(|t| t.inserts + t.updates + t.deletes_count).sum();
            self.client
                .execute(
                    "INSERT INTO ferry.sync_log (target_schema, from_position, to_position, transactions, rows, source_time) \
                     VALUES ($1, $2, $3, $4, $5, to_timestamp($6::float8))",
                    &[&b.schema, &b.from.text, &b.to.text, &b.transactions, &(rows as i32), &(b.source_time as f64)],
                )
                .await?;
            for t in b.tables.iter().filter(|t| !stopped.iter().any(|(s, _)| s == &t.table)) {
                if let Some(cells) = &t.quarantine {
                    if t.truncate {
                        self.clear_quarantine(&b.schema, &t.table).await?;
                    }
                    let keys: Vec<String> = t
                        .upserts
                        .iter()
                        .chain(&t.deletes)
                        .filter(|_| !t.key.is_empty())
                        .map(|r| ferry_model::canonical::row_key_text(t.key.iter().map(|&i| &r[i])))
                        .collect();
                    self.forget_quarantine(&b.schema, &t.table, &keys).await?;
                    self.write_quarantine(&b.schema, cells, "sync").await?;
                }
                self.client
                    .execute(
                        "INSERT INTO ferry.sync_tables (target_schema, table_name, inserts, updates, deletes, zero_dates_nulled, zero_dates_infinity, json_duplicate_keys) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (target_schema, table_name) DO UPDATE SET inserts = sync_tables.inserts + EXCLUDED.inserts, \
                         updates = sync_tables.updates + EXCLUDED.updates, deletes = sync_tables.deletes + EXCLUDED.deletes, \
                         zero_dates_nulled = sync_tables.zero_dates_nulled + EXCLUDED.zero_dates_nulled, \
                         zero_dates_infinity = sync_tables.zero_dates_infinity + EXCLUDED.zero_dates_infinity, \
                         json_duplicate_keys = sync_tables.json_duplicate_keys + EXCLUDED.json_duplicate_keys",
                        &[&b.schema, &t.table, &t.inserts, &t.updates, &t.deletes_count, &t.zero_dates_nulled, &t.zero_dates_infinity, &t.json_duplicate_keys],
                    )
                    .await?;
            }
            for t in &b.ddl {
                self.count_sync_ddl(&b.schema, t).await?;
            }
            for (t, msg) in &b.stops {
                self.stop_sync_table(&b.schema, t, msg).await?;
            }
            if let Some(r) = &b.reload {
                self.client
                    .execute(
                        "UPDATE ferry.reloads SET chunks_done = $3, rows = rows + $4, status = CASE WHEN $5 THEN 'done' ELSE 'running' END, \
                         finished_at = CASE WHEN $5 THEN now() END WHERE target_schema = $1 AND table_name = $2",
                        &[&b.schema, &r.table, &r.chunks_done, &r.rows, &r.done],
                    )
                    .await?;
            }
            for (t, msg) in &b.not_synced {
                self.client
                    .execute(
                        "INSERT INTO ferry.sync_tables (target_schema, table_name, status, last_error) VALUES ($1, $2, 'not synced', $3) \
                         ON CONFLICT (target_schema, table_name) DO UPDATE SET status = 'not synced', last_error = EXCLUDED.last_error",
                        &[&b.schema, t, msg],
                    )
                    .await?;
            }
            Ok::<_, TargetError>(())
        }
        .await;
        self.end_transaction(result.map(|()| stopped)).await
    }

    /// Runs one DDL translation and records it on the table's `ferry.sync_tables` row.
    async fn apply_schema_ddl(&self, schema: &str, d: &SchemaDdl) -> Result<(), TargetError> {
        // The staging table is shaped like the target table: it goes with the old shape.
        self.exec(&format!("DROP TABLE IF EXISTS pg_temp.{}", quote_ident(&d.table))).await?;
        if let Some(n) = self.release_for_ddl(schema, &d.table).await? {
            tracing::warn!(
                "paused table {}.{} resumed for a source DDL statement ({}): its {n} held changes were applied first",
                quote_ident(schema),
                quote_ident(&d.table),
                d.note
            );
        }
        for sql in &d.statements {
            self.exec(sql).await?;
        }
        let name = d.rename_to.as_deref().unwrap_or(&d.table);
        if d.created {
            self.client
                .execute(
                    "INSERT INTO ferry.sync_tables (target_schema, table_name) VALUES ($1, $2)                      ON CONFLICT (target_schema, table_name) DO UPDATE SET status = 'streaming', last_error = NULL",
                    &[&schema, &name],
                )
                .await?;
        } else if d.rename_to.is_some() {
            self.client.execute("DELETE FROM ferry.sync_tables WHERE target_schema = $1 AND table_name = $2", &[&schema, &name]).await?;
            self.client
                .execute("UPDATE ferry.sync_tables SET table_name = $3 WHERE target_schema = $1 AND table_name = $2", &[&schema, &d.table, &name])
                .await?;
            // An excluded table stays excluded under its new name.
            self.client
                .execute("UPDATE ferry.table_controls SET table_name = $3 WHERE target_schema = $1 AND table_name = $2", &[&schema, &d.table, &name])
                .await?;
        }
        if d.dropped {
            self.client.execute("DELETE FROM ferry.table_controls WHERE target_schema = $1 AND table_name = $2", &[&schema, &name]).await?;
        }
        self.client
            .execute(
                "INSERT INTO ferry.sync_tables (target_schema, table_name, ddl, last_ddl, status) VALUES ($1, $2, 1, $3, $4)                  ON CONFLICT (target_schema, table_name) DO UPDATE SET ddl = sync_tables.ddl + 1, last_ddl = EXCLUDED.last_ddl,                  status = CASE WHEN $5 THEN 'dropped' ELSE sync_tables.status END",
                &[&schema, &name, &d.note, &(if d.dropped { TableState::Dropped } else { TableState::Streaming }).as_str(), &d.dropped],
            )
            .await?;
        Ok(())
    }

    async fn apply_table(&self, schema: &str, t: &TableBatch) -> Result<(), TargetError> {
        let target = format!("{}.{}", quote_ident(schema), quote_ident(&t.table));
        let ctx = |e: TargetError| e.context(format!("applying changes to {target}"));
        // The table's own rows only, where it has inheritance children.
        let only = self.only(&target).await?;
        if t.truncate {
            self.exec(&format!("TRUNCATE {only}")).await.map_err(ctx)?;
        }
        if let Some(cond) = &t.replace {
            // A reload chunk: the covered rows the chunk does not have go (by key), then the
            // chunk's rows are upserted.
            let keys = format!("pg_temp.{}", quote_ident(&format!("ferry_reload_{}", t.table)));
            let key_cols: Vec<String> = t.key.iter().map(|&k| quote_ident(&t.columns[k])).collect();
            self.batch(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {} FROM {target} WITH NO DATA; TRUNCATE {keys}",
                quote_ident(&format!("ferry_reload_{}", t.table)),
                key_cols.join(", ")
            ))
            .await
            .map_err(ctx)?;
            let changed =
                crate::reshape::ChangedKeys { table: t.table.clone(), key: t.key.iter().map(|&k| t.columns[k].clone()).collect(), batch: t, truncated: false };
            self.copy_keys(&keys, &changed).await.map_err(ctx)?;
            let on: Vec<String> = key_cols.iter().map(|c| format!("k.{c} = t.{c}")).collect();
            self.exec(&format!("DELETE FROM {only} t WHERE ({cond}) AND NOT EXISTS (SELECT 1 FROM {keys} k WHERE {})", on.join(" AND "))).await.map_err(ctx)?;
        }
        if t.key.is_empty() {
            // No key: inserts only (the engine refuses updates and deletes for such tables).
            let col_list = t.columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
            return self.copy_rows(&format!("COPY {target} ({col_list}) FROM STDIN"), t, &t.upserts).await.map_err(ctx);
        }
        self.merge(&target, t, &t.deletes, &t.upserts).await.map_err(ctx)
    }

    /// The unique-conflict fallback: every change alone, in source order.
    async fn apply_sequence(&self, schema: &str, t: &TableBatch) -> Result<(), TargetError> {
        let target = format!("{}.{}", quote_ident(schema), quote_ident(&t.table));
        let ctx = |e: TargetError| e.context(format!("applying changes to {target} one by one"));
        if t.truncate {
            let only = self.only(&target).await?;
            self.exec(&format!("TRUNCATE {only}")).await.map_err(ctx)?;
        }
        for (upsert, row) in &t.sequence {
            let one = std::slice::from_ref(row);
            let (deletes, upserts): (&[Row], &[Row]) = if *upsert { (&[], one) } else { (one, &[]) };
            self.merge(&target, t, deletes, upserts).await.map_err(ctx)?;
        }
        Ok(())
    }

    /// Deletes `deletes` by key, then upserts `upserts`, through a staging table shaped like
    /// the target (COPY in, then one set-based statement each).
    async fn merge(&self, target: &str, t: &TableBatch, deletes: &[Row], upserts: &[Row]) -> Result<(), TargetError> {
        let cols: Vec<String> = t.columns.iter().map(|c| quote_ident(c)).collect();
        let col_list = cols.join(", ");
        let stage = format!("pg_temp.{}", quote_ident(&t.table));
        let only = self.only(target).await?;
        // Shaped like the target but without its NOT NULL constraints: a delete carries only
        // its key when the source sends no more (PostgreSQL's default replica identity).
        self.batch(&format!("CREATE TEMP TABLE IF NOT EXISTS {} AS TABLE {target} WITH NO DATA", quote_ident(&t.table))).await?;
        let on_key: Vec<String> = t.key.iter().map(|&k| format!("t.{c} = s.{c}", c = cols[k])).collect();
        if !deletes.is_empty() {
            // Only the key columns travel for a delete.
            let key_cols: Vec<String> = t.key.iter().map(|&k| cols[k].clone()).collect();
            let key_rows: Vec<Row> = deletes.iter().map(|r| t.key.iter().map(|&k| r[k].clone()).collect()).collect();
            let keys_only = TableBatch {
                table: t.table.clone(),
                columns: t.key.iter().map(|&k| t.columns[k].clone()).collect(),
                binary: t.binary.as_ref().map(|kinds| t.key.iter().map(|&k| kinds[k]).collect()),
                ..Default::default()
            };
            self.copy_rows(&format!("COPY {stage} ({}) FROM STDIN", key_cols.join(", ")), &keys_only, &key_rows).await?;
            self.exec(&format!("DELETE FROM {only} t USING {stage} s WHERE {}; TRUNCATE {stage}", on_key.join(" AND "))).await?;
        }
        if !upserts.is_empty() {
            self.copy_rows(&format!("COPY {stage} ({col_list}) FROM STDIN"), t, upserts).await?;
            let conflict = if t.conflict.is_empty() { &t.key } else { &t.conflict };
            let moved: Vec<String> = conflict.iter().filter(|k| !t.key.contains(k)).map(|&k| format!("t.{c} IS DISTINCT FROM s.{c}", c = cols[k])).collect();
            if !moved.is_empty() {
                self.exec(&format!("DELETE FROM {only} t USING {stage} s WHERE {} AND ({})", on_key.join(" AND "), moved.join(" OR "))).await?;
            }
            let key_cols: Vec<&str> = conflict.iter().map(|&k| cols[k].as_str()).collect();
            let sets: Vec<String> = cols.iter().enumerate().filter(|(i, _)| !conflict.contains(i)).map(|(_, c)| format!("{c} = EXCLUDED.{c}")).collect();
            let action = if sets.is_empty() { "NOTHING".to_string() } else { format!("UPDATE SET {}", sets.join(", ")) };
            let only = t.only.as_ref().map(|c| format!(" WHERE ({c})")).unwrap_or_default();
            self.exec(&format!(
                "INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {stage}{only} ON CONFLICT ({}) DO {action}; TRUNCATE {stage}",
                key_cols.join(", ")
            ))
            .await?;
        }
        Ok(())
    }

    /// Compares a verify chunk (`t.upserts`: the source's rows, converted as apply converts them,
    /// read at the position the target has just committed) with the target rows `t.replace`
    /// covers: rows only the source has, rows only the target has (each column by its text),
    /// and a few of them, whole (`PgTarget::compare_sets`, as reshape verify compares).
    pub async fn compare_chunk(&self, schema: &str, t: &TableBatch) -> Result<(i64, i64, Vec<String>), TargetError> {
        let target = format!("{}.{}", quote_ident(schema), quote_ident(&t.table));
        let name = format!("ferry_check_{}", t.table);
        let stage = format!("pg_temp.{}", quote_ident(&name));
        self.batch(&format!("CREATE TEMP TABLE IF NOT EXISTS {} AS TABLE {target} WITH NO DATA; TRUNCATE {stage}", quote_ident(&name))).await?;
        let cols: Vec<String> = t.columns.iter().map(|c| quote_ident(c)).collect();
        self.copy_rows(&format!("COPY {stage} ({}) FROM STDIN", cols.join(", ")), t, &t.upserts).await?;
        let texts = cols.iter().map(|c| format!("({c})::text")).collect::<Vec<_>>().join(", ");
        let cover = t.replace.as_deref().unwrap_or("true");
        let c = self
            .compare_sets(
                &format!("SELECT {texts} FROM {stage}"),
                &format!("SELECT {texts} FROM {target} WHERE {cover}"),
                &t.columns,
                ("only in the source", "only in the target"),
            )
            .await?;
        self.batch(&format!("TRUNCATE {stage}")).await?;
        Ok((c.only_a, c.only_b, c.samples))
    }

    /// COPYs the keys of every changed row of `c`'s table into `keys_table` (a refresh's input).
    pub(crate) async fn copy_keys(&self, keys_table: &str, c: &ChangedKeys<'_>) -> Result<(), TargetError> {
        let t = c.batch;
        if t.key.is_empty() {
            return Ok(());
        }
        let rows: Vec<Row> = t.upserts.iter().chain(&t.deletes).map(|r| t.key.iter().map(|&k| r[k].clone()).collect()).collect();
        let keys_only = TableBatch {
            table: t.table.clone(),
            columns: c.key.clone(),
            binary: t.binary.as_ref().map(|kinds| t.key.iter().map(|&k| kinds[k]).collect()),
            ..Default::default()
        };
        let col_list = c.key.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", ");
        self.copy_rows(&format!("COPY {keys_table} ({col_list}) FROM STDIN"), &keys_only, &rows).await
    }

    /// COPYs `rows` with `sql` (binary when the table has encoders for every column), encoded
    /// in pieces of about 1 MB while the COPY runs: the batch is not held a second time as one
    /// encoded buffer (memory for wide rows stays about one copy of the batch).
    pub(crate) async fn copy_rows(&self, sql: &str, t: &TableBatch, rows: &[Row]) -> Result<(), TargetError> {
        const PIECE: usize = 1 << 20;
        if rows.is_empty() {
            return Ok(());
        }
        let sql = if t.binary.is_some() { format!("{sql} (FORMAT binary)") } else { sql.to_string() };
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(2);
        let encode = async move {
            let mut buf = Vec::with_capacity(PIECE.min(rows.len() * 64));
            if t.binary.is_some() {
                buf.extend_from_slice(copy_binary::HEADER);
            }
            for (n, row) in rows.iter().enumerate() {
                let encoded = match &t.binary {
                    Some(kinds) => copy_binary::encode_row(kinds, row, &mut buf).map_err(|(i, e)| (i, e.to_string())),
                    None => crate::copy_text::encode_row(row, &mut buf).map_err(|(i, e)| (i, e.to_string())),
                };
                if let Err((i, e)) = encoded {
                    let err = bad_value(t, i, n, row, &e);
                    // Aborts the COPY: nothing of it is kept.
                    let _ = tx.send(Err(err.message.clone())).await;
                    return Err(err);
                }
                if buf.len() >= PIECE && tx.send(Ok(Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(PIECE))))).await.is_err() {
                    return Ok(()); // the COPY ended early; it reports why
                }
            }
            if t.binary.is_some() {
                buf.extend_from_slice(copy_binary::TRAILER);
            }
            let _ = tx.send(Ok(Bytes::from(buf))).await;
            Ok(())
        };
        let (encoded, copied) = tokio::join!(encode, self.copy_in(&sql, rx));
        encoded?;
        copied.map(|_| ())
    }

    /// Marks a table stopped (definite error) without stopping the others.
    pub(crate) async fn stop_sync_table(&self, schema: &str, table: &str, error: &str) -> Result<(), TargetError> {
        self.client
            .execute(
                "INSERT INTO ferry.sync_tables (target_schema, table_name, errors, status, last_error) VALUES ($1, $2, 1, 'stopped', $3) \
                 ON CONFLICT (target_schema, table_name) DO UPDATE SET errors = sync_tables.errors + 1, status = 'stopped', last_error = EXCLUDED.last_error",
                &[&schema, &table, &error],
            )
            .await?;
        Ok(())
    }
}

fn bad_value(t: &TableBatch, col: usize, n: usize, row: &Row, msg: &str) -> TargetError {
    let which = if t.key.is_empty() {
        format!("change #{} (the table has no key)", n + 1)
    } else {
        let names: Vec<&str> = t.key.iter().map(|&k| t.columns.get(k).map(String::as_str).unwrap_or("?")).collect();
        let vals: Vec<String> = t.key.iter().map(|&k| row.get(k).map(|v| v.to_string()).unwrap_or_default()).collect();
        format!("key ({})=({})", names.join(", "), vals.join(", "))
    };
    TargetError::new(
        ferry_model::ErrorKind::BadData,
        format!("table {}, column {}, {which}: {msg}", t.table, t.columns.get(col).map(String::as_str).unwrap_or("?")),
    )
}
