//! The snapshot → CDC hand-off and the whole `ferry sync` job, for any source.
//!
//! Guarantee: streaming starts at exactly the source position where the full load's data ends,
//! so no change is lost or applied twice across the hand-off ([`start`]). The source declares
//! how (`CdcSource::reuses_finished_load`, `CdcSource::prepare_full_load`):
//! - a source whose log keeps every change after a snapshot (MySQL's binlog) may start from the
//!   position of a *finished* `ferry migrate` (the continuous-migration case); otherwise a full
//!   load runs now in a snapshot the source prepared (PostgreSQL: the one its new replication
//!   slot exports) and the sync starts at that snapshot's position;
//! - a load a killed run left half done is redone from scratch, never resumed: a resumed load
//!   reads its remaining chunks in a later snapshot, so no single position fits all its rows;
//! - a snapshot that was not consistent across readers starts no sync.
//!
//! [`run`] is the job around it: the schema's sync lock for the run's lifetime
//! (`PgTarget::lock_sync`), the start when the schema has no sync yet, then [`crate::sync`].

use crate::{own_position, sync, SyncError, SyncOptions, SyncReport};
use ferry_load::{migrate, MigrateOptions, MigrateReport};
use ferry_model::cdc::CdcSource;
use ferry_model::SnapshotPosition;
use ferry_plan::config::IfExists;
use ferry_plan::Plan;
use ferry_target_postgres::state::LoadState;
use ferry_target_postgres::PgTarget;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The number of the sync job of `schema` in `target_url`: the replica id a MySQL source sees
/// (unless `--server-id` says otherwise) and a PostgreSQL source's slot name. Derived from the target database and
/// schema (FNV-1a), so one sync job keeps its id across restarts and two jobs reading the same
/// source (into different schemas or targets) do not collide; kept in 2^20..2^31, clear of the
/// small ids servers are usually given.
pub fn job_id(target_url: &str, schema: &str) -> u32 {
    let key = format!("{}|{schema}", ferry_model::redact_url(target_url));
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    (1 << 20) + h % ((1 << 31) - (1 << 20))
}

/// How a sync job runs.
pub struct SyncJob<'a> {
    pub target_url: &'a str,
    pub plan: Arc<Plan>,
    /// The source as stored in the state tables (redacted URL).
    pub label: &'a str,
    /// How a full load that starts the sync runs (`if_exists` is overridden for ferry's own
    /// unfinished tables; `resume` is never used).
    pub migrate: MigrateOptions,
    pub sync: SyncOptions,
    /// Progress lines for the user (the binary prints them or not).
    pub say: &'a (dyn Fn(String) + Sync),
}

/// What a sync job did.
#[derive(Debug, serde::Serialize)]
pub struct JobReport {
    /// The full load that started the sync in this run, if one ran.
    pub full_load: Option<MigrateReport>,
    pub sync: SyncReport,
    /// Tables an earlier run stopped that are still stopped (and still planned).
    pub stopped_earlier: Vec<String>,
}

/// Runs a sync job: the schema's sync lock (held on its own session until the job ends — or the
/// process, when a signal interrupts it), the start when the schema has no sync yet, streaming.
pub async fn run<C: CdcSource>(cdc: Arc<C>, job: &SyncJob<'_>) -> Result<JobReport, SyncError> {
    let schema = &job.plan.target_schema;
    let target = PgTarget::connect(job.target_url).await?;
    target.ensure_state().await?;
    let lock = PgTarget::connect(job.target_url).await?;
    lock.lock_sync(schema).await?;
    let full_load = if target.sync_position(schema).await?.is_none() { start(&*cdc, &target, job).await? } else { None };
    if !job.sync.until_caught_up {
        (job.say)(format!("streaming changes into schema \"{schema}\" (Ctrl-C stops; the next run resumes)"));
    }
    let report = sync(cdc, job.target_url, job.plan.clone(), &job.sync).await?;
    let stopped_earlier = PgTarget::connect(job.target_url)
        .await?
        .stopped_sync_tables(schema)
        .await?
        .into_iter()
        .filter(|t| !report.stopped.iter().any(|(s, _)| s == t))
        // A stopped table the rules now exclude is no longer this sync's.
        .filter(|t| job.plan.tables.iter().any(|p| p.target.name == *t))
        .collect();
    drop(lock);
    Ok(JobReport { full_load, sync: report, stopped_earlier })
}

/// Starts the sync of the job's schema at a full load's snapshot position (see the module note);
/// returns the full load's report when one ran.
pub async fn start<C: CdcSource>(cdc: &C, target: &PgTarget, job: &SyncJob<'_>) -> Result<Option<MigrateReport>, SyncError> {
    let plan = &job.plan;
    let schema = &plan.target_schema;
    let run = target.load_run(schema).await?;
    let mut finished = run.as_ref().filter(|r| r.status == LoadState::Done && cdc.reuses_finished_load()).and_then(|r| r.snapshot.clone());
    // A finished load whose tables are no longer on the target (the schema dropped by hand)
    // cannot start a sync: streaming into missing tables would skip their rows. Load again.
    if finished.is_some() {
        let mut missing = Vec::new();
        for t in &plan.tables {
            if !target.table_exists(&t.target.qualified()).await? {
                missing.push(t.target.qualified());
            }
        }
        if !missing.is_empty() {
            (job.say)(format!(
                "the finished load of schema \"{schema}\" is no longer on the target ({} of its tables are missing: {}{}): loading it again",
                missing.len(),
                missing.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if missing.len() > 5 { ", …" } else { "" }
            ));
            finished = None;
        }
    }
    let (snapshot, full_load) = match finished {
        Some(json) => {
            let snapshot: SnapshotPosition =
                serde_json::from_str(&json).map_err(|e| SyncError::Refused(format!("reading the stored snapshot position of schema \"{schema}\": {e}")))?;
            (snapshot, None)
        }
        None => {
            // Tables of an earlier load of this schema that cannot start the sync are ferry's own: replace them.
            let earlier = run.is_some();
            (job.say)(format!(
                "full load of {} tables into schema \"{schema}\"{}, then streaming changes",
                plan.tables.len(),
                if run.as_ref().is_some_and(|r| r.status != LoadState::Done) { " (again from scratch: the earlier load did not finish)" } else { "" }
            ));
            let tables: Vec<ferry_model::Table> = plan.tables.iter().map(|t| t.source.clone()).collect();
            let source = cdc.prepare_full_load(&tables).await?;
            let opts = MigrateOptions { if_exists: if earlier { IfExists::Drop } else { job.migrate.if_exists }, resume: false, ..job.migrate.clone() };
            let report = migrate(source, job.label, job.target_url, plan.clone(), &opts).await?;
            // `ferry report` shows the sync's full load as the migrate it is.
            ferry_target_postgres::state::keep_report(job.target_url, schema, "migrate", &serde_json::to_string(&report).expect("report serialises")).await;
            if !report.ok {
                return Err(SyncError::FullLoadFailed(report.render_text()));
            }
            (report.snapshot.clone(), Some(report))
        }
    };
    if !snapshot.consistent {
        let note = snapshot.note.unwrap_or_default();
        if note.starts_with("resumed load") {
            return Err(SyncError::Refused(format!(
                "the full load was resumed ({note}), so no single source position fits all its rows; sync needs a load in one snapshot: run `ferry migrate --if-exists drop` (without --resume), then `ferry sync`"
            )));
        }
        return Err(SyncError::Refused(format!(
            "the full load's snapshot was not consistent ({note}); sync needs one position for every table: grant RELOAD and run `ferry migrate --if-exists drop`"
        )));
    }
    let at = snapshot.position.ok_or_else(|| SyncError::Refused("the source reported no log position for the snapshot (MySQL: is log_bin on?)".into()))?;
    let at = own_position(cdc, at)?;
    let mut loaded: BTreeMap<String, i64> = plan.tables.iter().map(|t| (t.target.name.clone(), 0)).collect();
    for (table, _, rows, _) in target.done_chunks(schema).await? {
        *loaded.entry(table).or_default() += rows;
    }
    target.start_sync(schema, job.label, &at, &loaded.into_iter().collect::<Vec<_>>()).await?;
    Ok(full_load)
}

#[cfg(test)]
mod tests {
    #[test]
    fn job_ids_differ_per_job_and_stay_per_job() {
        let a = super::job_id("postgres://u:secret@h/db", "s1");
        assert_eq!(a, super::job_id("postgres://u:other@h/db", "s1"), "the password is not part of the job");
        assert_ne!(a, super::job_id("postgres://u@h/db", "s2"));
        assert!((1 << 20..1 << 31).contains(&a));
    }
}
