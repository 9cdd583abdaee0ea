//! `ferry cutover`: the last steps before the application moves to the target.
//!
//! The caller first stops the application's writes (or lets ferry make the source read-only),
//! applies every change up to the source's end of log (`sync` with `until_caught_up`), then
//! [`finalize`] here, then a final verify. What `finalize` guarantees and why:
//! - **Every identity continues past every id the source ever handed out.** Sync applies rows
//!   with their source ids, so the target's identity sequences stay where the full load left
//!   them; each is set to the larger of the table's current maximum + 1 and the source's next
//!   AUTO_INCREMENT value (ids of deleted rows are not reused).
//! - **Every foreign key is validated.** Keys created `NOT VALID` (so the load did not wait for
//!   them) are validated now; one that fails names its table and constraint.
//! - The stop position is recorded in `ferry.sync_state` (status `cut over`) by [`record`], only
//!   after the final verify found the target equal and every constraint valid: a later `ferry
//!   sync` of the schema refuses to run from an old position by mistake, and a migration is
//!   never marked finished without its proof.

use crate::SyncError;
use ferry_model::cdc::LogPosition;
use ferry_plan::Plan;
use ferry_target_postgres::ident::quote_ident;
use ferry_target_postgres::PgTarget;
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct FinalizeReport {
    /// Identity columns set past their maximum: (table, column).
    pub identities: Vec<(String, String)>,
    /// Foreign keys and checks validated now: (table, constraint).
    pub constraints_validated: Vec<(String, String)>,
    /// Constraints that failed validation: (table, constraint, error).
    pub constraint_failures: Vec<(String, String, String)>,
}

/// Sets identities and validates foreign keys (the position is recorded by [`record`], once the
/// final verify holds).
pub async fn finalize(target_url: &str, plan: &Plan, position: &LogPosition) -> Result<FinalizeReport, SyncError> {
    let target = PgTarget::connect(target_url).await?;
    let mut report = FinalizeReport::default();
    for t in &plan.tables {
        for sql in t.target.restart_identity_sql(t.auto_increment_floor) {
            target.exec(&sql).await?;
        }
        for c in t.target.columns.iter().filter(|c| c.identity) {
            report.identities.push((t.target.name.clone(), c.name.clone()));
        }
    }
    let pending = target
        .client
        .query(
            "SELECT c.relname::text, k.conname::text FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND k.contype IN ('f', 'c') AND NOT k.convalidated ORDER BY 1, 2",
            &[&plan.target_schema],
        )
        .await
        .map_err(ferry_target_postgres::TargetError::from)?;
    for r in pending {
        let (table, name): (String, String) = (r.get(0), r.get(1));
        let sql = format!("ALTER TABLE {}.{} VALIDATE CONSTRAINT {}", quote_ident(&plan.target_schema), quote_ident(&table), quote_ident(&name));
        match target.exec(&sql).await {
            Ok(()) => report.constraints_validated.push((table, name)),
            Err(e) if e.kind == ferry_model::ErrorKind::Transient => return Err(e.into()),
            Err(e) => report.constraint_failures.push((table, name, e.to_string())),
        }
    }
    let _ = position;
    Ok(report)
}

/// Sets each free sequence of the plan past where the source's stands now (`values`: name and
/// last value handed out): sync carries rows, not sequences, so an application calling
/// `nextval` on the target after cutover must not get a value the source already gave.
pub async fn carry_sequences(target_url: &str, plan: &Plan, values: &[(String, Option<i64>)]) -> Result<Vec<String>, SyncError> {
    let target = PgTarget::connect(target_url).await?;
    let mut set = Vec::new();
    for q in &plan.sequences {
        let Some((_, Some(v))) = values.iter().find(|(n, _)| n == q.name()) else { continue };
        let sql = format!(
            "SELECT setval({seq}, greatest({v}, (SELECT CASE WHEN is_called THEN last_value ELSE {v} END FROM {q})), true)",
            seq = ferry_target_postgres::ident::quote_literal(&q.qualified()),
            q = q.qualified()
        );
        target.exec(&sql).await?;
        set.push(q.name().to_string());
    }
    Ok(set)
}

/// Records the cutover (`ferry status` shows `cut over`; sync refuses to run on). Called only
/// after every step held — identities, constraints and the final verify — so a migration is
/// never marked finished without its proof; until then `ferry cutover` can simply run again.
pub async fn record(target_url: &str, schema: &str, position: &LogPosition) -> Result<(), SyncError> {
    let target = PgTarget::connect(target_url).await?;
    target.record_cutover(schema, position).await?;
    Ok(())
}
