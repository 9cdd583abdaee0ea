//! `ferry.quarantine`: the cells a source set aside by a column's rule (SQLite: `odd_cells =
//! "quarantine"`, `invalid_text = "replace"`) instead of stopping the table. Guarantee: every
//! set-aside cell that is on the target is listed with its raw value, in the same transaction
//! as its row — [`PgTarget::write_quarantine`] runs inside the chunk's COPY transaction
//! (`PgTarget::copy_chunk`) and inside each sync batch (`apply`), so a kill never leaves a row
//! without its entry or an entry without its row. One entry per (table, column, row key): a
//! later write of the row replaces it, and sync removes the entries of the rows a batch writes
//! or deletes before adding the batch's own ([`PgTarget::forget_quarantine`]), so the table lists
//! what the target holds now — what verify compares with the source.

use crate::error::TargetError;
use crate::PgTarget;

/// One set-aside cell, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRow {
    /// Target table and column.
    pub table: String,
    pub column: String,
    /// `ferry_model::canonical::row_key_text` of the row's key (`row #n` without a key).
    pub key: String,
    pub class: String,
    pub raw: String,
    pub reason: String,
    /// What the target column got (None: NULL).
    pub written: Option<String>,
}

impl PgTarget {
    /// Adds (or replaces) `rows` in `schema`'s quarantine, inside the caller's transaction.
    pub async fn write_quarantine(&self, schema: &str, rows: &[QuarantineRow], via: &str) -> Result<(), TargetError> {
        if rows.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&QuarantineRow) -> String| rows.iter().map(f).collect::<Vec<String>>();
        let written: Vec<Option<String>> = rows.iter().map(|r| r.written.clone()).collect();
        self.client
            .execute(
                "INSERT INTO ferry.quarantine (target_schema, table_name, column_name, row_key, storage_class, raw_value, reason, written, via) \
                 SELECT $1, t, c, k, s, r, w, x, $9 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS u(t, c, k, s, r, w, x) \
                 ON CONFLICT (target_schema, table_name, column_name, row_key) DO UPDATE SET storage_class = EXCLUDED.storage_class, \
                 raw_value = EXCLUDED.raw_value, reason = EXCLUDED.reason, written = EXCLUDED.written, via = EXCLUDED.via, at = now()",
                &[
                    &schema,
                    &col(|r| r.table.clone()),
                    &col(|r| r.column.clone()),
                    &col(|r| r.key.clone()),
                    &col(|r| r.class.clone()),
                    &col(|r| r.raw.clone()),
                    &col(|r| r.reason.clone()),
                    &written,
                    &via,
                ],
            )
            .await?;
        Ok(())
    }

    /// Removes the entries of rows `keys` of `table` (rows a sync batch writes or deletes: what
    /// they held before is gone from the target), inside the caller's transaction.
    pub async fn forget_quarantine(&self, schema: &str, table: &str, keys: &[String]) -> Result<(), TargetError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.client
            .execute("DELETE FROM ferry.quarantine WHERE target_schema = $1 AND table_name = $2 AND row_key = ANY($3::text[])", &[&schema, &table, &keys])
            .await?;
        Ok(())
    }

    /// Removes every entry of `table` (it is loaded again from scratch).
    pub async fn clear_quarantine(&self, schema: &str, table: &str) -> Result<(), TargetError> {
        self.client.execute("DELETE FROM ferry.quarantine WHERE target_schema = $1 AND table_name = $2", &[&schema, &table]).await?;
        Ok(())
    }

    /// `table`'s entries as (column, row key, class, raw), for verify.
    pub async fn quarantine_of(&self, schema: &str, table: &str) -> Result<Vec<(String, String, String, String)>, TargetError> {
        let rows = self
            .client
            .query(
                "SELECT column_name, row_key, storage_class, raw_value FROM ferry.quarantine WHERE target_schema = $1 AND table_name = $2",
                &[&schema, &table],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }
}
