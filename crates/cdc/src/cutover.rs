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
//! - **Caught up means caught up.** Where every log position is reached by a commit the stream
//!   yields (`CdcSource::commits_reach_every_position`), the committed position must reach the
//!   stop point taken before catching up; elsewhere the stream's own end at that point is the proof.
//! - The whole sequence is [`run`]; each step is also callable on its own.
//! - The stop position is recorded in `ferry.sync_state` (status `cut over`) by [`record`], only
//!   after the final verify found the target equal and every constraint valid: a later `ferry
//!   sync` of the schema refuses to run from an old position by mistake, and a migration is
//!   never marked finished without its proof.

use crate::{SyncError, SyncOptions};
use ferry_model::cdc::{CdcSource, LogPosition};
use ferry_model::VerifySource;
use ferry_plan::Plan;
use ferry_target_postgres::ident::quote_ident;
use ferry_target_postgres::state::SyncState;
use ferry_target_postgres::PgTarget;
use ferry_verify::{VerifyOptions, VerifyReport};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

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

/// How `ferry cutover` runs.
pub struct CutoverOptions {
    /// Let ferry stop the source's writes first (where the source can: `CdcSource::set_read_only`).
    pub read_only_source: bool,
    /// Give up catching up after this long (nothing is finalised then).
    pub timeout: Duration,
    pub verify: VerifyOptions,
}

/// What `ferry cutover` did.
#[derive(Debug, Serialize)]
pub struct CutoverReport {
    pub schema: String,
    /// The position every change up to which is applied.
    pub position: String,
    /// What ferry did to stop the source's writes, if asked.
    pub source_read_only: Option<String>,
    pub finalize: FinalizeReport,
    /// Free sequences set past the source's.
    pub sequences_carried: Vec<String>,
    pub verify: VerifyReport,
    /// What the source released once cut over (a replication slot), if anything.
    pub released: Option<String>,
    /// Cut over: caught up, every constraint valid and the target equal to the source.
    pub ok: bool,
}

/// The whole cutover: stop writes (if asked), catch up, finalize, carry sequences, verify, and
/// only when all of it held, record the cutover and release the source's sync resources.
pub async fn run<C: CdcSource, S: VerifySource>(
    cdc: Arc<C>,
    source: Arc<S>,
    target_url: &str,
    plan: Arc<Plan>,
    opts: &CutoverOptions,
    say: &(dyn Fn(String) + Sync),
) -> Result<CutoverReport, SyncError> {
    let schema = plan.target_schema.clone();
    let target = PgTarget::connect(target_url).await?;
    target.ensure_state().await?;
    if target.sync_position(&schema).await?.is_none() {
        return Err(SyncError::Refused(format!("schema \"{schema}\" has no sync to cut over: run `ferry sync` first")));
    }
    if target.sync_state_status(&schema).await? == Some(SyncState::CutOver) {
        return Err(SyncError::Refused(format!("schema \"{schema}\" was already cut over")));
    }
    // A paused table's target lags its source by the changes held for it, an excluded one by
    // every change since.
    let held_back: Vec<String> =
        target.table_controls(&schema).await?.into_iter().filter(|c| c.status != "failed").map(|c| format!("{} {}", c.table, c.status)).collect();
    if !held_back.is_empty() {
        return Err(SyncError::Refused(format!(
            "schema \"{schema}\" has tables held back ({}): `ferry resume` or `ferry include` them (and let sync catch them up) before the cutover",
            held_back.join(", ")
        )));
    }
    drop(target);
    let source_read_only = if opts.read_only_source {
        let done = cdc.set_read_only().await?;
        say(done.clone());
        Some(done)
    } else {
        None
    };
    let at = catch_up(cdc.clone(), target_url, &plan, opts.timeout, say).await?;
    say("2/4 setting identities past the source's ids and validating constraints".into());
    let finalize = finalize(target_url, &plan, &at).await?;
    let names: Vec<String> = plan.sequences.iter().map(|q| q.name().to_string()).collect();
    let sequences_carried = if names.is_empty() { Vec::new() } else { carry_sequences(target_url, &plan, &cdc.sequence_values(&names).await?).await? };
    if !sequences_carried.is_empty() {
        say(format!("sequences set past the source's: {}", sequences_carried.join(", ")));
    }
    say(format!("3/4 caught up to {at}; verifying"));
    let verify = ferry_verify::verify(source, target_url, plan.clone(), &opts.verify).await?;
    ferry_target_postgres::state::keep_report(target_url, &schema, "verify", &serde_json::to_string(&verify).expect("report serialises")).await;
    let ok = verify.equal && finalize.constraint_failures.is_empty();
    // Only a cutover that holds is recorded (and the source's resources released): otherwise
    // sync can go on and cutover can run again.
    let mut released = None;
    if ok {
        record(target_url, &schema, &at).await?;
        released = cdc.release().await?;
        if let Some(r) = &released {
            say(r.clone());
        }
    }
    Ok(CutoverReport { schema, position: at.to_string(), source_read_only, finalize, sequences_carried, verify, released, ok })
}

/// Cutover step 1: applies every change up to the source's end of log as of now (see the module
/// note for what proves it).
pub async fn catch_up<C: CdcSource>(
    cdc: Arc<C>,
    target_url: &str,
    plan: &Arc<Plan>,
    timeout: Duration,
    say: &(dyn Fn(String) + Sync),
) -> Result<LogPosition, SyncError> {
    let stop_at = cdc.current_position().await?;
    say(format!("1/4 applying every change up to {stop_at}"));
    let exact = cdc.commits_reach_every_position();
    let opts = SyncOptions { until_caught_up: true, retry_for: timeout, ..Default::default() };
    let synced = tokio::time::timeout(timeout, crate::sync(cdc.clone(), target_url, plan.clone(), &opts)).await.map_err(|_| {
        SyncError::Refused(format!("catching up took longer than --timeout {}s; nothing was finalised: run `ferry cutover` again", timeout.as_secs()))
    })??;
    if !synced.stopped.is_empty() {
        let list: Vec<String> = synced.stopped.iter().map(|(t, e)| format!("table {t} stopped: {e}")).collect();
        return Err(SyncError::Refused(format!("{}\n{} table(s) stopped during sync: fix them before cutting over", list.join("\n"), synced.stopped.len())));
    }
    let target = PgTarget::connect(target_url).await?;
    let at = target.sync_position(&plan.target_schema).await?.ok_or_else(|| SyncError::NotStarted(plan.target_schema.clone()))?;
    let at = crate::own_position(&*cdc, at)?;
    if exact && at < stop_at {
        return Err(SyncError::Refused(format!("sync reached {at}, not the cutover point {stop_at}; run `ferry cutover` again")));
    }
    Ok(at)
}

impl CutoverReport {
    /// The report as `ferry cutover` prints it; `target` is the (redacted) target URL.
    pub fn render_text(&self, target: &str) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let schema = &self.schema;
        let _ = writeln!(out, "cutover of schema \"{schema}\" at {}:", self.position);
        let _ = writeln!(out, "  identities set past the source's ids: {}", self.finalize.identities.len());
        let _ = writeln!(out, "  constraints validated: {}", self.finalize.constraints_validated.len());
        for (t, c, e) in &self.finalize.constraint_failures {
            let _ = writeln!(out, "  constraint {t}.{c} FAILED validation: {e}");
        }
        if let Some(r) = &self.released {
            let _ = writeln!(out, "  {r}");
        }
        let _ = writeln!(out, "  verify: {}", if self.verify.equal { "target equals source" } else { "DIFFERENCES (below)" });
        if !self.verify.equal {
            out.push_str(&self.verify.render_text());
        }
        if self.ok {
            let _ = writeln!(
                out,
                "\n4/4 next: point the application at the target ({target}, schema \"{schema}\"){}; the source is no longer synced.",
                if self.source_read_only.is_some() { "; the source stays read-only" } else { "; keep the application stopped on the source" }
            );
        } else {
            let _ = writeln!(out, "\nnot cut over: fix what is listed above, then run `ferry cutover` again (sync can continue meanwhile)");
        }
        out
    }
}
