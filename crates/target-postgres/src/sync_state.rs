//! ferry's sync state for a target schema (`ferry.sync_state`, `ferry.sync_tables`): the
//! committed position and where it started, ferry's model of the source, per-table counters and
//! states, the cutover record, and `ferry status` as data and text. Positions are stored with
//! their kind and order key (text alone in state written before that; the source re-reads it).
//! The batch writes that advance them live in `crate::apply`, in the batch's transaction.

use crate::conn::PgTarget;
use crate::error::TargetError;
use crate::state::{SyncState, TableState};
use ferry_model::cdc::LogPosition;

/// The committed sync position and counters for `ferry status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncStatus {
    pub target_schema: String,
    pub source: String,
    pub position: String,
    pub transactions: i64,
    pub status: SyncState,
    pub lag_seconds: Option<f64>,
    pub source_time: Option<String>,
    pub applied_at: Option<String>,
    pub heartbeat_at: Option<String>,
    /// Source log kept for this sync (a PostgreSQL slot's retained WAL), as of the last heartbeat.
    pub source_backlog_bytes: Option<i64>,
    pub tables: Vec<SyncTableStatus>,
}

impl SyncStatus {
    /// `ferry status` as text: the schema's line, then one line per table.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "schema \"{}\" from {}: {} at {}, {} transactions applied, lag {}{}",
            self.target_schema,
            self.source,
            self.status,
            self.position,
            self.transactions,
            self.lag_seconds.map(|l| format!("{l:.1} s")).unwrap_or_else(|| "-".into()),
            self.source_backlog_bytes.map(|b| format!(", source keeps {:.1} MB of WAL for it", b as f64 / 1048576.0)).unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "  {:<30} {:>12} {:>10} {:>10} {:>10} {:>5} {:>6} {:>9}  status",
            "table", "full load", "inserts", "updates", "deletes", "ddl", "errors", "zero→NULL"
        );
        for t in &self.tables {
            let _ = writeln!(
                out,
                "  {:<30} {:>12} {:>10} {:>10} {:>10} {:>5} {:>6} {:>9}  {}{}{}",
                t.table,
                t.full_load_rows,
                t.inserts,
                t.updates,
                t.deletes,
                t.ddl,
                t.errors,
                t.zero_dates_nulled,
                t.status,
                t.held.map(|h| format!(" ({h} changes held)")).unwrap_or_default(),
                t.last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
            );
            if let Some(d) = &t.last_ddl {
                let _ = writeln!(out, "  {:<30} last DDL {d}", "");
            }
        }
        out
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncTableStatus {
    pub table: String,
    pub full_load_rows: i64,
    pub inserts: i64,
    pub updates: i64,
    pub deletes: i64,
    pub ddl: i64,
    pub errors: i64,
    pub zero_dates_nulled: i64,
    pub zero_dates_infinity: i64,
    pub json_duplicate_keys: i64,
    pub status: TableState,
    pub last_error: Option<String>,
    /// The last source DDL on the table and what ferry did with it.
    pub last_ddl: Option<String>,
    /// Paused (`ferry pause`): the changes held for it so far.
    pub held: Option<i64>,
}

/// A position as stored: with its kind and order key, or (state upgraded from a release before
/// positions had kinds) its text alone, for the source to read again.
fn stored_position(kind: Option<String>, text: String, order: Option<Vec<u8>>) -> LogPosition {
    match (kind, order) {
        (Some(kind), Some(order)) => LogPosition { kind, text, order },
        _ => LogPosition::legacy(text),
    }
}

impl PgTarget {
    /// The committed position of `schema`'s sync, if it ever started.
    pub async fn sync_position(&self, schema: &str) -> Result<Option<LogPosition>, TargetError> {
        let row = self.client.query_opt("SELECT position_kind, position, position_order FROM ferry.sync_state WHERE target_schema = $1", &[&schema]).await?;
        Ok(row.map(|r| stored_position(r.get(0), r.get(1), r.get(2))))
    }

    /// Starts the sync of `schema` at `from` (the snapshot's position) with the full-load counts.
    pub async fn start_sync(&self, schema: &str, source: &str, from: &LogPosition, loaded: &[(String, i64)]) -> Result<(), TargetError> {
        self.batch("BEGIN").await?;
        let result = self.start_sync_in_tx(schema, source, from, loaded).await;
        let result = match result {
            Ok(()) => self
                .client
                .execute("UPDATE ferry.sync_state SET source_model = NULL, probes = NULL WHERE target_schema = $1", &[&schema])
                .await
                .map(|_| ())
                .map_err(TargetError::from),
            e => e,
        };
        self.end_transaction(result).await
    }

    async fn start_sync_in_tx(&self, schema: &str, source: &str, from: &LogPosition, loaded: &[(String, i64)]) -> Result<(), TargetError> {
        self.client
            .execute(
                "INSERT INTO ferry.sync_state (target_schema, source, position_kind, position, position_order) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (target_schema) DO UPDATE SET source = EXCLUDED.source, position_kind = EXCLUDED.position_kind, \
                 position = EXCLUDED.position, position_order = EXCLUDED.position_order, \
                 transactions = 0, status = 'streaming', started_at = now(), source_time = NULL, applied_at = NULL, lag_seconds = NULL",
                &[&schema, &source, &from.kind, &from.text, &from.order],
            )
            .await?;
        self.client.execute("DELETE FROM ferry.sync_tables WHERE target_schema = $1", &[&schema]).await?;
        // A new sync starts from a new full load: nothing held for the old one applies.
        self.drop_holds(schema).await?;
        self.client.execute("DELETE FROM ferry.sync_log WHERE target_schema = $1", &[&schema]).await?;
        for (t, rows) in loaded {
            self.client.execute("INSERT INTO ferry.sync_tables (target_schema, table_name, full_load_rows) VALUES ($1, $2, $3)", &[&schema, t, rows]).await?;
        }
        Ok(())
    }

    /// ferry's model of the source schema and the plan's probe answers (JSON), as the last DDL
    /// left them; None until the first sync run stored them.
    pub async fn sync_model(&self, schema: &str) -> Result<Option<(String, String)>, TargetError> {
        let row = self.client.query_opt("SELECT source_model, probes FROM ferry.sync_state WHERE target_schema = $1", &[&schema]).await?;
        Ok(row.and_then(|r| Some((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?))))
    }

    /// Stores the model a sync starts from (its first run).
    pub async fn set_sync_model(&self, schema: &str, model: &str, probes: &str) -> Result<(), TargetError> {
        self.client.execute("UPDATE ferry.sync_state SET source_model = $2, probes = $3 WHERE target_schema = $1", &[&schema, &model, &probes]).await?;
        Ok(())
    }
}

impl PgTarget {
    /// Tables stopped by an earlier run (they stay stopped until migrated again).
    pub async fn stopped_sync_tables(&self, schema: &str) -> Result<Vec<String>, TargetError> {
        let rows = self.client.query("SELECT table_name FROM ferry.sync_tables WHERE target_schema = $1 AND status = 'stopped'", &[&schema]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The source is idle at the committed position: lag is zero now.
    pub async fn sync_heartbeat(&self, schema: &str, backlog_bytes: Option<u64>) -> Result<(), TargetError> {
        self.client
            .execute(
                "UPDATE ferry.sync_state SET heartbeat_at = clock_timestamp(), lag_seconds = 0, source_backlog_bytes = coalesce($2, source_backlog_bytes) WHERE target_schema = $1",
                &[&schema, &backlog_bytes.map(|b| b as i64)],
            )
            .await?;
        Ok(())
    }

    /// `streaming`, or `cut over` once `ferry cutover` finished the schema's sync.
    pub async fn sync_state_status(&self, schema: &str) -> Result<Option<SyncState>, TargetError> {
        let row = self.client.query_opt("SELECT status FROM ferry.sync_state WHERE target_schema = $1", &[&schema]).await?;
        row.map(|r| SyncState::parse(r.get(0))).transpose()
    }

    /// Records the end of the schema's sync at `position` (the last applied source position).
    pub async fn record_cutover(&self, schema: &str, position: &LogPosition) -> Result<(), TargetError> {
        self.client
            .execute(
                "UPDATE ferry.sync_state SET status = 'cut over', position_kind = $2, position = $3, position_order = $4, lag_seconds = 0, \
                 applied_at = clock_timestamp() WHERE target_schema = $1",
                &[&schema, &position.kind, &position.text, &position.order],
            )
            .await?;
        Ok(())
    }

    pub async fn set_sync_status(&self, schema: &str, status: SyncState) -> Result<(), TargetError> {
        self.client.execute("UPDATE ferry.sync_state SET status = $2 WHERE target_schema = $1", &[&schema, &status.as_str()]).await?;
        Ok(())
    }

    /// The status of `schema`'s sync, or of every schema with one (None).
    pub async fn sync_statuses(&self, schema: Option<&str>) -> Result<Vec<SyncStatus>, TargetError> {
        let schemas: Vec<String> = match schema {
            Some(s) => vec![s.to_string()],
            None => self.client.query("SELECT target_schema FROM ferry.sync_state ORDER BY 1", &[]).await?.iter().map(|r| r.get(0)).collect(),
        };
        let mut all = Vec::new();
        for s in schemas {
            if let Some(st) = self.sync_status(&s).await? {
                all.push(st);
            }
        }
        Ok(all)
    }

    /// Everything `ferry status` shows for `schema`.
    pub async fn sync_status(&self, schema: &str) -> Result<Option<SyncStatus>, TargetError> {
        let Some(r) = self
            .client
            .query_opt(
                "SELECT source, position, transactions, status, lag_seconds, source_time::text, applied_at::text, heartbeat_at::text, source_backlog_bytes \
                 FROM ferry.sync_state WHERE target_schema = $1",
                &[&schema],
            )
            .await?
        else {
            return Ok(None);
        };
        let tables = self
            .client
            .query(
                "SELECT t.table_name, full_load_rows, inserts, updates, deletes, ddl, errors, t.status, last_error, zero_dates_nulled, last_ddl, zero_dates_infinity, json_duplicate_keys, h.held \
                 FROM ferry.sync_tables t LEFT JOIN ferry.table_controls h ON h.target_schema = t.target_schema AND h.table_name = t.table_name AND h.status IN ('paused', 'resuming') \
                 WHERE t.target_schema = $1 ORDER BY t.table_name",
                &[&schema],
            )
            .await?
            .iter()
            .map(|t| {
                Ok(SyncTableStatus {
                table: t.get(0),
                full_load_rows: t.get(1),
                inserts: t.get(2),
                updates: t.get(3),
                deletes: t.get(4),
                ddl: t.get(5),
                errors: t.get(6),
                status: TableState::parse(t.get(7))?,
                last_error: t.get(8),
                zero_dates_nulled: t.get(9),
                last_ddl: t.get(10),
                zero_dates_infinity: t.get(11),
                json_duplicate_keys: t.get(12),
                held: t.get(13),
                })
            })
            .collect::<Result<Vec<_>, TargetError>>()?;
        Ok(Some(SyncStatus {
            target_schema: schema.to_string(),
            source: r.get(0),
            position: r.get(1),
            transactions: r.get(2),
            status: SyncState::parse(r.get(3))?,
            lag_seconds: r.get(4),
            source_time: r.get(5),
            applied_at: r.get(6),
            heartbeat_at: r.get(7),
            source_backlog_bytes: r.get(8),
            tables,
        }))
    }
}

/// A `ferry reload` request and its progress (`ferry.reloads`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reload {
    pub table: String,
    /// A PostgreSQL condition over the table's target columns: only these rows.
    pub filter: Option<String>,
    pub status: String,
    /// The chunk plan (JSON), stored when the reload starts, so a restart resumes the same chunks.
    pub chunk_plan: Option<String>,
    pub chunks_done: i32,
    pub rows: i64,
    pub error: Option<String>,
}

fn reload_of(r: &tokio_postgres::Row) -> Reload {
    Reload { table: r.get(0), filter: r.get(1), status: r.get(2), chunk_plan: r.get(3), chunks_done: r.get(4), rows: r.get(5), error: r.get(6) }
}

const RELOAD_COLUMNS: &str = "table_name, filter, status, chunk_plan, chunks_done, rows, error";

impl PgTarget {
    /// Asks the running sync of `schema` to reload `table` (again from the start if it was
    /// reloaded before).
    pub async fn request_reload(&self, schema: &str, table: &str, filter: Option<&str>) -> Result<(), TargetError> {
        self.client
            .execute(
                "INSERT INTO ferry.reloads (target_schema, table_name, filter) VALUES ($1, $2, $3) \
                 ON CONFLICT (target_schema, table_name) DO UPDATE SET filter = EXCLUDED.filter, status = 'pending', chunk_plan = NULL, \
                 chunks_done = 0, rows = 0, error = NULL, requested_at = now(), finished_at = NULL",
                &[&schema, &table, &filter],
            )
            .await?;
        Ok(())
    }

    /// The oldest reload of `schema` not finished.
    pub async fn next_reload(&self, schema: &str) -> Result<Option<Reload>, TargetError> {
        let row = self
            .client
            .query_opt(
                &format!(
                    "SELECT {RELOAD_COLUMNS} FROM ferry.reloads WHERE target_schema = $1 AND status IN ('pending', 'running') ORDER BY requested_at LIMIT 1"
                ),
                &[&schema],
            )
            .await?;
        Ok(row.as_ref().map(reload_of))
    }

    pub async fn reload_status(&self, schema: &str, table: &str) -> Result<Option<Reload>, TargetError> {
        let row = self
            .client
            .query_opt(&format!("SELECT {RELOAD_COLUMNS} FROM ferry.reloads WHERE target_schema = $1 AND table_name = $2"), &[&schema, &table])
            .await?;
        Ok(row.as_ref().map(reload_of))
    }

    /// The reload starts: its chunk plan is kept for a restart.
    pub async fn start_reload(&self, schema: &str, table: &str, chunk_plan: &str) -> Result<(), TargetError> {
        self.client
            .execute(
                "UPDATE ferry.reloads SET status = 'running', chunk_plan = $3 WHERE target_schema = $1 AND table_name = $2",
                &[&schema, &table, &chunk_plan],
            )
            .await?;
        Ok(())
    }

    pub async fn finish_reload(&self, schema: &str, table: &str, error: Option<&str>) -> Result<(), TargetError> {
        self.client
            .execute(
                "UPDATE ferry.reloads SET status = CASE WHEN $3::text IS NULL THEN 'done' ELSE 'failed' END, error = $3, finished_at = now() \
                 WHERE target_schema = $1 AND table_name = $2",
                &[&schema, &table, &error],
            )
            .await?;
        Ok(())
    }
}
