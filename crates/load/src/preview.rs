//! `ferry plan` and the final hop: every mapping checked by the target, and a preview of what it
//! makes of a few rows — without leaving anything behind.
//!
//! Guarantee, kept by [`check_reshape`]: everything happens in one target transaction that is
//! rolled back. The landing tables that do not exist yet are created in it; those without rows
//! get a sample read from the source (a few rows of the tables the mappings are driven by, up to
//! [`LOOKUP_SAMPLE`] rows of the tables they look values up in), converted by the plan's own
//! converters; then the target creates every reshaped table (the server's own errors, with the
//! mapping named) and evaluates each mapping on the sample.

use crate::prepare::create_statements;
use crate::LoadError;
use ferry_model::{ChunkRange, Source};
use ferry_plan::{ConversionStats, Plan, TablePlan};
use ferry_target_postgres::reshape::Sample;
use ferry_target_postgres::{copy_text, quote_ident, PgTarget, TargetError};
use std::collections::BTreeSet;

/// Rows read from a table the mappings look values up in (merged lookup sources, `table`
/// lookups): enough for the sampled rows to find their codes in small lookup tables.
pub const LOOKUP_SAMPLE: usize = 1000;

/// Checks every mapping of `plan.reshape` on the target and, with `rows` > 0, previews each on
/// a sample (read from `source` where the landing table holds no rows yet). Writes nothing.
pub async fn check_reshape<S: Source>(source: Option<&S>, target: &PgTarget, plan: &Plan, rows: usize) -> Result<Vec<Sample>, LoadError> {
    let Some(r) = &plan.reshape else { return Ok(Vec::new()) };
    let names: Vec<String> = plan.tables.iter().map(|t| t.target.name.clone()).collect();
    let existing: Vec<String> = target
        .client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2)",
            &[&plan.target_schema, &names],
        )
        .await
        .map_err(TargetError::from)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut stmts: Vec<(String, String)> = plan.extensions.iter().map(|e| (format!("extension {e}"), ferry_plan::build::create_extension_sql(e))).collect();
    stmts.push((format!("schema \"{}\"", plan.target_schema), format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&plan.target_schema))));
    stmts.extend(create_statements(plan, &existing, true));
    // Which landing tables the mappings read: driving ones, and ones only looked up in.
    let driving: BTreeSet<&str> =
        r.tables.iter().flat_map(|t| t.parts.iter().map(|p| p.from.as_str())).chain(r.pivots.iter().map(|p| p.from.as_str())).collect();
    let looked_up: BTreeSet<&str> = r
        .tables
        .iter()
        .flat_map(|t| t.parts.iter().flat_map(|p| p.deps.iter().map(|d| d.table.as_str())))
        .chain(r.tables.iter().filter(|t| t.lookup).flat_map(|t| t.parts.iter().map(|p| p.from.as_str())))
        .filter(|t| !driving.contains(t) || r.tables.iter().any(|x| x.lookup && x.parts.iter().any(|p| p.from == *t)))
        .collect();
    target.batch("BEGIN").await?;
    let result = async {
        target.ensure_state_in_transaction().await?;
        for (what, sql) in &stmts {
            target.batch(sql).await.map_err(|e| e.context(format!("creating landing {what} for the check")))?;
        }
        if let (Some(source), true) = (source, rows > 0) {
            let mut reader = None;
            for t in plan.tables.iter().filter(|t| driving.contains(t.target.name.as_str()) || looked_up.contains(t.target.name.as_str())) {
                let empty: bool = target.client.query_one(&format!("SELECT NOT EXISTS (SELECT 1 FROM {})", t.target.qualified()), &[]).await?.get(0);
                if !empty {
                    continue;
                }
                if reader.is_none() {
                    let (mut readers, _) = source.open_snapshot(1).await.map_err(|e| TargetError::new(e.kind, e.message))?;
                    reader = readers.pop();
                }
                let Some(reader) = reader.as_mut() else { break };
                let limit = if looked_up.contains(t.target.name.as_str()) { LOOKUP_SAMPLE } else { rows * 10 };
                sample_into(source, reader, target, t, limit).await?;
            }
        }
        target.reshape_check_in_transaction(r).await?;
        if rows > 0 {
            target.reshape_preview(r, rows).await
        } else {
            Ok(Vec::new())
        }
    }
    .await;
    let _ = target.batch("ROLLBACK").await;
    result.map_err(|e| LoadError::Reshape(e.to_string()))
}

/// A table read whole for a sample (it has no key to read a first chunk by) has at most this
/// many rows; a bigger one is left without a sample.
const WHOLE_TABLE_LIMIT: u64 = 100_000;

/// Copies up to `limit` rows of `t` from the source (its first chunk of about that size) into
/// its landing table, through the plan's converter. A large table without an integer key (one
/// chunk only) is read whole only up to [`WHOLE_TABLE_LIMIT`] rows, else left empty.
async fn sample_into<S: Source>(source: &S, reader: &mut S::Reader, target: &PgTarget, t: &TablePlan, limit: usize) -> Result<(), TargetError> {
    let src = |e: ferry_model::SourceError| TargetError::new(e.kind, e.message);
    let range = source.plan_chunks(&t.source, limit as u64).await.map_err(src)?.into_iter().next().unwrap_or(ChunkRange::All);
    if matches!(range, ChunkRange::All) && t.source.estimated_rows > WHOLE_TABLE_LIMIT {
        return Ok(());
    }
    let mut kept = ferry_model::read_rows(reader, &t.source, &range).await.map_err(src)?;
    kept.truncate(limit);
    let mut stats = ConversionStats::default();
    let mut buf = Vec::new();
    let mut refused = 0;
    for (i, row) in kept.into_iter().enumerate() {
        // A row the converter refuses is left out of the sample (said below); the load would
        // stop the table naming it.
        let Ok(converted) = t.converter.convert(row, i as u64 + 1, &mut stats) else {
            refused += 1;
            continue;
        };
        let mut one = Vec::new();
        if copy_text::encode_row(&converted, &mut one).is_ok() {
            buf.extend_from_slice(&one);
        } else {
            refused += 1;
        }
    }
    if refused > 0 {
        tracing::warn!("preview of {}: {refused} sampled rows left out, the load would refuse them (run `ferry migrate` to see which)", t.target.qualified());
    }
    let (btx, brx) = tokio::sync::mpsc::channel(1);
    let _ = btx.send(Ok(bytes::Bytes::from(buf))).await;
    drop(btx);
    target.copy_in(&t.copy_sql(false), brx).await?;
    Ok(())
}
