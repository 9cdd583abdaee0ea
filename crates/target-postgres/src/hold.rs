//! Paused tables of a running sync (`ferry pause` / `ferry resume`): a paused table's changes
//! are held in source order, never dropped, and applied when it resumes.
//!
//! Guarantees and why:
//! - **Nothing lost.** While a table is paused, each batch's changes of it go to its hold table
//!   (schema `ferry`, the target table's columns plus `ferry$seq`, an identity, and `ferry$op`:
//!   `u` the row's new state, `d` a deleted key, `t` a truncate) inside the batch's own
//!   transaction ([`PgTarget::hold_changes`], called by `apply_batch`): they commit with the
//!   position they advance, so a crash neither loses nor repeats them.
//! - **In order.** `ferry$seq` follows the order of the rows of each COPY and of the statements.
//!   A batch's changes of one table touch distinct keys (the engine folds them), so their order
//!   inside a batch does not matter; a table whose batches keep every change in source order
//!   (`TableBatch::sequence`, a unique key besides the primary key) is held change by change.
//! - **Resume is one transaction** ([`PgTarget::resume_table`], between two batches): after the
//!   last held truncate, each key's last entry is applied (delete, or upsert of the row); when
//!   that meets a unique conflict (rows trading a unique value), every entry is replayed in order
//!   instead, through the states the source went through. The hold table goes in the same
//!   transaction and the table streams again: the target ends as if it had never paused.
//! - **A DDL statement on a paused table** applies what is held first (its rows must take the new
//!   shape with the table) and resumes the table ([`PgTarget::release_for_ddl`]); it says so.

use crate::apply::TableBatch;
use crate::conn::PgTarget;
use crate::copy_binary::BinaryKind;
use crate::error::TargetError;
use crate::ident::quote_ident;
use ferry_model::{Row, Value};
use std::collections::HashMap;

const SEQ: &str = "\"ferry$seq\"";
const OP: &str = "\"ferry$op\"";

impl PgTarget {
    /// Pauses `table` between two batches: its hold table is made (shaped like `columns` of the
    /// target table) and the table is marked paused, in one transaction.
    pub async fn pause_table(&self, schema: &str, table: &str, columns: &[String], key: &[String]) -> Result<(), TargetError> {
        let target = format!("{}.{}", quote_ident(schema), quote_ident(table));
        self.batch("BEGIN").await?;
        let result = async {
            let name: String = self
                .client
                .query_one("SELECT 'hold_' || left(md5($1 || '.' || $2), 20)", &[&schema, &table])
                .await?
                .get(0);
            let hold = format!("ferry.{}", quote_ident(&name));
            let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
            self.batch(&format!(
                "DROP TABLE IF EXISTS {hold}; CREATE TABLE {hold} AS SELECT {} FROM {target} WITH NO DATA; \
                 ALTER TABLE {hold} ADD COLUMN {SEQ} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ADD COLUMN {OP} text NOT NULL DEFAULT 'u'",
                cols.join(", ")
            ))
            .await?;
            self.client
                .execute(
                    "UPDATE ferry.table_controls SET status = 'paused', hold_table = $3, key_columns = $4, held = 0, since = now() WHERE target_schema = $1 AND table_name = $2",
                    &[&schema, &table, &name, &key],
                )
                .await?;
            self.mark_sync_table(schema, table, crate::state::TableState::Paused).await
        }
        .await;
        self.end_transaction(result).await
    }

    /// Resumes `table` between two batches: the held changes applied, the hold table dropped and
    /// the table streaming again, in one transaction. Returns the changes applied.
    pub async fn resume_table(&self, schema: &str, table: &str) -> Result<i64, TargetError> {
        self.batch("BEGIN").await?;
        let replica = if self.replica.load(std::sync::atomic::Ordering::Relaxed) { crate::apply::REPLICA_LOCAL } else { "" };
        let result = async {
            if !replica.is_empty() {
                self.batch(replica).await?;
            }
            self.release(schema, table).await
        }
        .await;
        self.end_transaction(result).await
    }

    /// Inside a DDL batch's transaction, before the statements on `table`: a paused table gets
    /// its held changes and streams again. Some(n): it was paused (n changes applied).
    pub(crate) async fn release_for_ddl(&self, schema: &str, table: &str) -> Result<Option<i64>, TargetError> {
        if self.active_holds(schema).await?.contains_key(table) {
            return Ok(Some(self.release(schema, table).await?));
        }
        Ok(None)
    }

    /// The paused tables of `schema` and their hold tables (`ferry.`-qualified), as the batch's
    /// transaction sees them.
    pub(crate) async fn active_holds(&self, schema: &str) -> Result<HashMap<String, String>, TargetError> {
        let rows = self
            .client
            .query(
                "SELECT table_name, hold_table FROM ferry.table_controls WHERE target_schema = $1 AND status IN ('paused', 'resuming') AND hold_table IS NOT NULL",
                &[&schema],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get::<_, String>(0), format!("ferry.{}", quote_ident(&r.get::<_, String>(1))))).collect())
    }

    /// Writes a batch's changes of a paused table to its hold table, in order.
    pub(crate) async fn hold_changes(&self, schema: &str, hold: &str, t: &TableBatch) -> Result<(), TargetError> {
        let ctx = |e: TargetError| e.context(format!("holding the changes of paused table {}.{}", quote_ident(schema), quote_ident(&t.table)));
        let mut held = 0i64;
        if t.truncate {
            self.exec(&format!("INSERT INTO {hold} ({OP}) VALUES ('t')")).await.map_err(ctx)?;
            held += 1;
        }
        let cols: Vec<String> = t.columns.iter().map(|c| quote_ident(c)).collect();
        if !t.sequence.is_empty() {
            // Change by change, in source order, each with its op.
            let rows: Vec<Row> = t
                .sequence
                .iter()
                .map(|(upsert, row)| {
                    let mut r: Row =
                        if *upsert { row.clone() } else { (0..row.len()).map(|i| if t.key.contains(&i) { row[i].clone() } else { Value::Null }).collect() };
                    r.push(Value::Text(if *upsert { "u" } else { "d" }.into()));
                    r
                })
                .collect();
            let with_op = TableBatch {
                table: t.table.clone(),
                columns: t.columns.iter().cloned().chain(["ferry$op".to_string()]).collect(),
                binary: t.binary.as_ref().map(|kinds| kinds.iter().copied().chain([BinaryKind::Text]).collect()),
                ..Default::default()
            };
            self.copy_rows(&format!("COPY {hold} ({}, {OP}) FROM STDIN", cols.join(", ")), &with_op, &rows).await.map_err(ctx)?;
            held += rows.len() as i64;
        } else {
            if !t.deletes.is_empty() {
                // Only the key travels for a delete.
                let rows: Vec<Row> = t.deletes.iter().map(|r| t.key.iter().map(|&k| r[k].clone()).chain([Value::Text("d".into())]).collect()).collect();
                let keys_only = TableBatch {
                    table: t.table.clone(),
                    columns: t.key.iter().map(|&k| t.columns[k].clone()).chain(["ferry$op".to_string()]).collect(),
                    binary: t.binary.as_ref().map(|kinds| t.key.iter().map(|&k| kinds[k]).chain([BinaryKind::Text]).collect()),
                    ..Default::default()
                };
                let key_cols: Vec<String> = t.key.iter().map(|&k| cols[k].clone()).collect();
                self.copy_rows(&format!("COPY {hold} ({}, {OP}) FROM STDIN", key_cols.join(", ")), &keys_only, &rows).await.map_err(ctx)?;
                held += rows.len() as i64;
            }
            // Upserts (and a keyless table's inserts, in order): `ferry$op` defaults to `u`.
            self.copy_rows(&format!("COPY {hold} ({}) FROM STDIN", cols.join(", ")), t, &t.upserts).await.map_err(ctx)?;
            held += t.upserts.len() as i64;
        }
        self.client
            .execute("UPDATE ferry.table_controls SET held = held + $3 WHERE target_schema = $1 AND table_name = $2", &[&schema, &t.table, &held])
            .await?;
        Ok(())
    }

    /// Applies `table`'s held changes, drops its hold table and marks it streaming (inside the
    /// caller's transaction). Returns the changes applied.
    async fn release(&self, schema: &str, table: &str) -> Result<i64, TargetError> {
        let row = self
            .client
            .query_opt(
                "SELECT hold_table, coalesce(key_columns, '{}') FROM ferry.table_controls WHERE target_schema = $1 AND table_name = $2 AND hold_table IS NOT NULL",
                &[&schema, &table],
            )
            .await?;
        let Some(row) = row else { return Ok(0) };
        let (name, key): (String, Vec<String>) = (row.get(0), row.get(1));
        let hold = format!("ferry.{}", quote_ident(&name));
        let target = format!("{}.{}", quote_ident(schema), quote_ident(table));
        let ctx = |e: TargetError| e.context(format!("applying the changes held for paused table {target}"));
        let only = self.only(&target).await?;
        let columns: Vec<String> = self
            .client
            .query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('ferry$seq', 'ferry$op') ORDER BY attnum",
                &[&hold],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let held: i64 = self.client.query_one(&format!("SELECT count(*) FROM {hold}"), &[]).await?.get(0);
        let after: i64 = self.client.query_one(&format!("SELECT coalesce(max({SEQ}), 0) FROM {hold} WHERE {OP} = 't'"), &[]).await?.get(0);
        if after > 0 {
            self.exec(&format!("TRUNCATE {only}")).await.map_err(ctx)?;
        }
        let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let col_list = cols.join(", ");
        if key.is_empty() {
            self.exec(&format!("INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {hold} WHERE {SEQ} > {after} AND {OP} = 'u' ORDER BY {SEQ}"))
                .await
                .map_err(ctx)?;
        } else {
            let keys: Vec<String> = key.iter().map(|c| quote_ident(c)).collect();
            let sets: Vec<String> = cols.iter().filter(|c| !keys.contains(c)).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
            let action = if sets.is_empty() { "NOTHING".to_string() } else { format!("UPDATE SET {}", sets.join(", ")) };
            let upsert = format!("INSERT INTO {target} ({col_list}) {{rows}} ON CONFLICT ({}) DO {action}", keys.join(", "));
            self.batch("SAVEPOINT ferry_hold").await?;
            let last = async {
                self.batch(&format!(
                    "DROP TABLE IF EXISTS pg_temp.ferry_held; CREATE TEMP TABLE ferry_held AS SELECT DISTINCT ON ({k}) * FROM {hold} WHERE {SEQ} > {after} ORDER BY {k}, {SEQ} DESC",
                    k = keys.join(", ")
                ))
                .await?;
                let on: Vec<String> = keys.iter().map(|c| format!("t.{c} = s.{c}")).collect();
                self.exec(&format!("DELETE FROM {only} t USING pg_temp.ferry_held s WHERE {} AND s.{OP} = 'd'", on.join(" AND "))).await?;
                self.exec(&upsert.replace("{rows}", &format!("SELECT {col_list} FROM pg_temp.ferry_held WHERE {OP} = 'u'"))).await?;
                self.batch("DROP TABLE pg_temp.ferry_held").await
            }
            .await;
            match last {
                Ok(()) => self.batch("RELEASE SAVEPOINT ferry_hold").await?,
                Err(e) if e.sqlstate.as_deref() == Some("23505") => {
                    self.batch("ROLLBACK TO SAVEPOINT ferry_hold").await?;
                    tracing::info!("paused table {target}: unique conflict applying the held changes at once; replaying them in order");
                    let on: Vec<String> = keys.iter().map(|c| format!("{c} = r.{c}")).collect();
                    let values: Vec<String> = cols.iter().map(|c| format!("r.{c}")).collect();
                    let body = format!(
                        "DECLARE r record; BEGIN FOR r IN SELECT * FROM {hold} WHERE {SEQ} > {after} ORDER BY {SEQ} LOOP \
                         IF r.{OP} = 'd' THEN DELETE FROM {only} WHERE {}; ELSE {}; END IF; END LOOP; END",
                        on.join(" AND "),
                        upsert.replace("{rows}", &format!("VALUES ({})", values.join(", ")))
                    );
                    self.exec(&format!("DO {}", dollar_quoted(&body))).await.map_err(ctx)?;
                }
                Err(e) => return Err(ctx(e)),
            }
        }
        self.batch(&format!("DROP TABLE {hold}")).await?;
        self.client.execute("DELETE FROM ferry.table_controls WHERE target_schema = $1 AND table_name = $2", &[&schema, &table]).await?;
        self.client
            .execute("UPDATE ferry.sync_tables SET status = 'streaming' WHERE target_schema = $1 AND table_name = $2 AND status = 'paused'", &[&schema, &table])
            .await?;
        Ok(held)
    }

    /// Drops every hold of `schema` (a new full load starts its sync again).
    pub(crate) async fn drop_holds(&self, schema: &str) -> Result<(), TargetError> {
        let rows = self.client.query("SELECT hold_table FROM ferry.table_controls WHERE target_schema = $1 AND hold_table IS NOT NULL", &[&schema]).await?;
        for r in rows {
            self.batch(&format!("DROP TABLE IF EXISTS ferry.{}", quote_ident(r.get(0)))).await?;
        }
        self.client.execute("DELETE FROM ferry.table_controls WHERE target_schema = $1", &[&schema]).await?;
        Ok(())
    }
}

/// `body` as a dollar-quoted string whose tag it does not contain.
fn dollar_quoted(body: &str) -> String {
    let mut tag = "$ferry$".to_string();
    let mut n = 0;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$ferry{n}$");
    }
    format!("{tag}{body}{tag}")
}

#[cfg(test)]
mod tests {
    use super::dollar_quoted;

    #[test]
    fn dollar_quoting_picks_a_tag_the_body_does_not_hold() {
        assert_eq!(dollar_quoted("BEGIN END"), "$ferry$BEGIN END$ferry$");
        assert_eq!(dollar_quoted("x \"a$ferry$b\""), "$ferry1$x \"a$ferry$b\"$ferry1$");
    }
}
