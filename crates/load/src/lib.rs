//! The migrate engine: create the target schema, load every table in parallel chunks, then build
//! keys, indexes, constraints, sequences and triggers.
//!
//! Guarantees:
//! - **One consistent snapshot.** All readers are opened inside one source snapshot (for
//!   MySQL: a brief global read lock while each reader starts a consistent-snapshot transaction
//!   and the binlog position is read), so the loaded data is the source as of one instant, and
//!   that instant's position is stored for the CDC hand-off.
//! - **Exactly once per chunk.** A large table is split into disjoint key ranges that together
//!   cover it. Each chunk is one COPY committed in the same target transaction as its row in
//!   `ferry.load_chunks`; a crash leaves every chunk either loaded and recorded or neither, and
//!   `--resume` loads exactly the unrecorded ones (with the chunk plan stored at the start).
//! - **Bounded memory.** Readers, encoders and COPY writers are joined by bounded channels: a
//!   fast reader waits for a slow writer, so memory does not grow with table size.
//! - **Nothing skipped silently.** A row the plan refuses aborts its chunk's COPY and stops its
//!   table with an error naming table, column and key; the report marks the table incomplete.
//!   A transient failure (connection lost) retries the chunk with backoff; the aborted COPY left
//!   nothing behind, so the retry cannot duplicate rows.
//! - **Same config, same result.** `--if-exists drop` recreates the planned tables, `truncate`
//!   empties them and rebuilds ferry's keys and indexes, `fail` (default) refuses.
//! - Foreign keys are added `NOT VALID` after every table is loaded, then validated; one that
//!   fails validation stays `NOT VALID` and is reported.
//! - **Parts of a run add up to the whole.** `--schema-only` creates everything but the rows
//!   (keys, indexes and foreign keys on the empty tables); `--data-only` ([`data_only`]) loads into
//!   the existing tables after checking them against the plan; the two in sequence leave the
//!   target as one whole migrate does. SQL hooks ([`hooks`]) run around the stages.

mod chunk;
pub mod data_only;
pub mod hooks;
mod makeplan;
pub mod objects;
mod prepare;
pub mod preview;
mod rename;
mod report;
pub mod script;

pub use ferry_progress::ProgressMode;
pub use makeplan::{make_plan, PlanningError};
pub use preview::check_reshape;
pub use report::{MigrateReport, StepFailure, TableReport};

use ferry_model::{ChunkRange, ErrorKind, Source};
use ferry_plan::config::IfExists;
use ferry_plan::{ConversionStats, Plan};
use ferry_progress::Progress;
use ferry_target_postgres::{PgTarget, TargetError};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Source(#[from] ferry_model::SourceError),
    #[error("the target schema \"{schema}\" already has planned tables ({}); re-run with --if-exists drop (recreate) or --if-exists truncate (reload)", tables.join(", "))]
    Exists { schema: String, tables: Vec<String> },
    #[error("--if-exists truncate: table {table} exists but {problem}; use --if-exists drop")]
    Shape { table: String, problem: String },
    #[error("--resume: {0}")]
    Resume(String),
    #[error("the Citus plan has {} problem(s); nothing was written:\n  - {}", .0.len(), .0.join("\n  - "))]
    Citus(Vec<String>),
    #[error("{0}; nothing was written")]
    CitusTarget(String),
    #[error("hook {stage} ({file}) failed and was rolled back; nothing after it ran: {error}")]
    Hook { stage: &'static str, file: String, error: String },
    #[error("--data-only: the tables of schema \"{schema}\" cannot take the planned rows; nothing was written:\n  - {}", problems.join("\n  - "))]
    DataOnly { schema: String, problems: Vec<String> },
    #[error("--data-only keeps the existing tables: use --if-exists truncate (empty them) or fail (the default), not drop")]
    DataOnlyDrop,
    #[error("--data-only: these tables already hold rows: {}; re-run with --if-exists truncate to empty them first", .0.join(", "))]
    DataOnlyRows(Vec<String>),
    #[error("the reshape mappings cannot run on the target; nothing was loaded: {0}")]
    Reshape(String),
    #[error("--schema-only loads no rows: there is nothing to resume")]
    SchemaOnlyResume,
}

impl LoadError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LoadError::Target(e) => e.kind,
            LoadError::Source(e) => e.kind,
            _ => ErrorKind::Definite,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// Binary COPY where every column has an encoder, text otherwise.
    Auto,
    /// Always the text format.
    Text,
}

/// Which parts of a migrate run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Schema, rows, then keys, indexes and constraints.
    #[default]
    All,
    /// Everything but the rows.
    SchemaOnly,
    /// The rows, into existing tables checked against the plan.
    DataOnly,
}

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub if_exists: IfExists,
    /// Reader/writer lanes working at once.
    pub workers: usize,
    pub progress: ProgressMode,
    /// Continue the interrupted run for this target schema instead of starting over.
    pub resume: bool,
    /// Target size of a chunk, in rows.
    pub chunk_rows: u64,
    pub format: CopyFormat,
    pub scope: Scope,
    /// SQL files to run at their stages.
    pub hooks: Vec<hooks::Hook>,
    /// Told every count the progress display shows (a sync's live page).
    pub observer: Option<Arc<dyn ferry_progress::Observer>>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            if_exists: IfExists::Fail,
            workers: 4,
            progress: ProgressMode::Quiet,
            resume: false,
            chunk_rows: 250_000,
            format: CopyFormat::Auto,
            scope: Scope::All,
            hooks: vec![],
            observer: None,
        }
    }
}

/// One unit of work: a chunk of one table.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub table: usize,
    pub chunk_id: i32,
    pub range: ChunkRange,
}

/// What a finished chunk reports.
pub(crate) struct ChunkDone {
    pub table: usize,
    pub rows: u64,
    pub bytes: u64,
    pub started: Instant,
    pub seconds: f64,
    pub stats: ConversionStats,
    pub error: Option<String>,
}

/// Runs the whole migration. Returns the report even when some tables failed (its `ok` says so);
/// returns `Err` only when nothing could be started (connection, privilege, existing tables).
pub async fn migrate<S: Source>(
    source: Arc<S>,
    source_label: &str,
    target_url: &str,
    plan: Arc<Plan>,
    opts: &MigrateOptions,
) -> Result<MigrateReport, LoadError> {
    let started = Instant::now();
    if let Some(refused) = plan.citus.as_ref().map(|c| c.refusals()).filter(|r| !r.is_empty()) {
        return Err(LoadError::Citus(refused));
    }
    let target = PgTarget::connect(target_url).await?;
    if plan.citus.is_some() {
        if let Some(why) = target.citus_not_ready().await? {
            return Err(LoadError::CitusTarget(why));
        }
    }
    target.ensure_state().await?;
    let schema = plan.target_schema.clone();
    let mut hook_runs: Vec<hooks::HookRun> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    macro_rules! stage {
        ($stage:expr) => {{
            let runs = hooks::run_stage(&target, &opts.hooks, $stage).await;
            let failed = hooks::failure(&runs);
            hook_runs.extend(runs);
            if let Some(e) = failed {
                return Err(e);
            }
        }};
    }

    if opts.scope == Scope::SchemaOnly {
        if opts.resume {
            return Err(LoadError::SchemaOnlyResume);
        }
        stage!(hooks::Stage::BeforeSchema);
        prepare::prepare_target(&target, &plan, opts.if_exists).await?;
        stage!(hooks::Stage::AfterSchema);
        let mut reports: Vec<TableReport> = plan.tables.iter().map(TableReport::empty).collect();
        let load_seconds = started.elapsed().as_secs_f64();
        build_structure(&target, target_url, &plan, &mut reports, opts).await;
        let objects = objects::create_objects(&target, &plan, false).await;
        // The reshaped tables too, empty (a --data-only run fills them).
        let reshaped = match &plan.reshape {
            Some(r) => target.reshape_load(r, opts.if_exists != IfExists::Fail).await?,
            None => Vec::new(),
        };
        let structure = structure_check(&target, &plan).await;
        let snapshot = ferry_model::SnapshotPosition { note: Some("schema only: no rows were read".into()), ..Default::default() };
        let mut report = MigrateReport::new(&plan, reports, structure, snapshot, load_seconds, started.elapsed().as_secs_f64());
        report.scope = Scope::SchemaOnly;
        report.ok &= reshaped.iter().all(|r| r.error.is_none()) && objects.failed.is_empty();
        report.reshape = reshaped;
        report.objects = objects;
        report.hooks = hook_runs;
        return Ok(report);
    }

    // The chunk plan: new, or the stored one when resuming.
    let mut previous: HashMap<usize, (u64, u64)> = HashMap::new();
    let (chunks, done) = if opts.resume {
        let run =
            target.load_run(&schema).await?.ok_or_else(|| LoadError::Resume(format!("no load of schema \"{schema}\" to resume; run without --resume")))?;
        if run.status == ferry_target_postgres::state::LoadState::Done {
            return Err(LoadError::Resume(format!("the load of schema \"{schema}\" already finished; run without --resume to load again")));
        }
        let stored: HashMap<String, Vec<ChunkRange>> =
            serde_json::from_str(&run.chunk_plan).map_err(|e| LoadError::Resume(format!("unreadable chunk plan in ferry.load_runs: {e}")))?;
        let mut chunks = Vec::new();
        for t in &plan.tables {
            let c = stored.get(&t.target.name).cloned().ok_or_else(|| {
                LoadError::Resume(format!(
                    "table {} is not in the interrupted run; the config changed, so start over with --if-exists drop",
                    t.target.qualified()
                ))
            })?;
            chunks.push(c);
        }
        let done = target.done_chunks(&schema).await?;
        for (tname, _, rows, bytes) in &done {
            if let Some(i) = plan.tables.iter().position(|t| &t.target.name == tname) {
                let e = previous.entry(i).or_default();
                e.0 += *rows as u64;
                e.1 += *bytes as u64;
            }
        }
        (chunks, ferry_target_postgres::state::done_set(&done))
    } else {
        if opts.scope == Scope::DataOnly {
            notes = data_only::prepare(&target, &plan, opts.if_exists).await?;
        } else {
            stage!(hooks::Stage::BeforeSchema);
            prepare::prepare_target(&target, &plan, opts.if_exists).await?;
            stage!(hooks::Stage::AfterSchema);
        }
        if let Some(r) = &plan.reshape {
            target.reshape_check(r).await.map_err(|e| LoadError::Reshape(e.to_string()))?;
        }
        let mut chunks = Vec::new();
        for t in &plan.tables {
            chunks.push(source.plan_chunks(&t.source, opts.chunk_rows.max(1)).await?);
        }
        let stored: HashMap<String, Vec<ChunkRange>> = plan.tables.iter().zip(&chunks).map(|(t, c)| (t.target.name.clone(), c.clone())).collect();
        target.start_run(&schema, source_label, &serde_json::to_string(&stored).expect("chunk plan serialises")).await?;
        (chunks, Default::default())
    };

    // The queue: biggest tables first, so the long poles start early.
    let mut order: Vec<usize> = (0..plan.tables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(plan.tables[i].source.estimated_rows));
    let mut queue = VecDeque::new();
    for &i in &order {
        for (c, range) in chunks[i].iter().enumerate() {
            if !done.contains(&(plan.tables[i].target.name.clone(), c as i32)) {
                queue.push_back(Job { table: i, chunk_id: c as i32, range: range.clone() });
            }
        }
    }
    let pending_chunks: Vec<usize> = (0..plan.tables.len()).map(|i| queue.iter().filter(|j| j.table == i).count()).collect();
    stage!(hooks::Stage::BeforeData);

    let progress = Progress::observed(
        "loading",
        opts.progress,
        &plan.tables.iter().map(|t| (t.target.name.clone(), t.source.estimated_rows)).collect::<Vec<_>>(),
        opts.observer.clone(),
    );
    for (i, (rows, _)) in &previous {
        progress.rows(*i, *rows);
    }
    let ticker = progress.ticker(Duration::from_secs(5));

    // Lanes: one snapshot reader and one target connection each, pulling chunks off the queue.
    let lanes = opts.workers.max(1).min(queue.len().max(1));
    let (readers, mut snapshot) = source.open_snapshot(lanes).await?;
    if opts.resume {
        // The chunks loaded before the interruption were read in an earlier snapshot: no one
        // change-stream position fits every row, so `ferry sync` must not start from this load.
        snapshot.consistent = false;
        snapshot.note = Some("resumed load: its chunks were read in two or more snapshots".into());
    }
    target.set_run_snapshot(&schema, &serde_json::to_value(&snapshot).unwrap()).await?;
    if let Some(note) = &snapshot.note {
        progress.println(&format!("warning: {note}"));
    }
    let queue = Arc::new(Mutex::new(queue));
    let failed: Arc<Mutex<HashMap<usize, String>>> = Arc::default();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<ChunkDone>();
    let mut set = tokio::task::JoinSet::new();
    for reader in readers {
        let lane = chunk::Lane {
            source: source.clone(),
            reader,
            plan: plan.clone(),
            target_url: target_url.to_string(),
            queue: queue.clone(),
            failed: failed.clone(),
            done: done_tx.clone(),
            progress: progress.clone(),
            binary: opts.format == CopyFormat::Auto,
        };
        set.spawn(lane.run());
    }
    drop(done_tx);

    let mut reports: Vec<TableReport> = plan.tables.iter().map(TableReport::empty).collect();
    for (i, (rows, bytes)) in &previous {
        reports[*i].rows = *rows;
        reports[*i].bytes = *bytes;
    }
    let mut remaining = pending_chunks.clone();
    let mut spans: Vec<Option<(Instant, Instant)>> = vec![None; plan.tables.len()];
    while let Some(d) = done_rx.recv().await {
        let end = d.started + Duration::from_secs_f64(d.seconds);
        let span = spans[d.table].get_or_insert((d.started, end));
        span.0 = span.0.min(d.started);
        span.1 = span.1.max(end);
        let r = &mut reports[d.table];
        r.seconds = (span.1 - span.0).as_secs_f64();
        r.rows += d.rows;
        r.bytes += d.bytes;
        r.lane_seconds += d.seconds;
        r.chunks += 1;
        r.zero_dates_nulled += d.stats.zero_dates_nulled;
        r.zero_dates_infinity += d.stats.zero_dates_infinity;
        r.json_duplicate_keys += d.stats.json_duplicate_keys;
        r.quarantined += d.stats.quarantined.len() as u64;
        if let Some(e) = d.error {
            r.error.get_or_insert(e);
        }
        remaining[d.table] -= 1;
        if remaining[d.table] == 0 {
            progress.table_done(d.table);
        }
    }
    while set.join_next().await.is_some() {}
    for (i, e) in failed.lock().unwrap().iter() {
        reports[*i].error.get_or_insert(e.clone());
    }
    if let Some(t) = ticker {
        t.abort();
    }
    progress.finish();
    for r in &mut reports {
        r.finish_rates();
    }
    let load_seconds = started.elapsed().as_secs_f64();

    let mut sequence_failures = Vec::new();
    if opts.scope == Scope::DataOnly {
        sequence_failures = after_data_only(&target, target_url, &plan, &mut reports, opts).await;
    } else {
        build_structure(&target, target_url, &plan, &mut reports, opts).await;
    }
    // Views, routines, triggers and rules (a PostgreSQL source's own, or converted), over the
    // complete tables.
    let objects = objects::create_objects(&target, &plan, true).await;
    // The final hop, from the complete landing tables; the user's own SQL steps come after.
    let mut reshaped = Vec::new();
    if let Some(r) = &plan.reshape {
        if reports.iter().all(|t| t.error.is_none()) {
            // Derived from the landing alone: a --data-only run (after --schema-only made them)
            // and --if-exists drop / truncate recreate them.
            let recreate = opts.scope == Scope::DataOnly || opts.if_exists != IfExists::Fail;
            reshaped = target.reshape_load(r, recreate).await?;
        } else {
            notes.push("the reshaped tables were not filled: some landing tables failed to load".into());
        }
    }
    let after = hooks::run_stage(&target, &opts.hooks, hooks::Stage::AfterData).await;
    hook_runs.extend(after);

    // OK means every planned object exists as planned, not only that no statement failed.
    let structure = structure_check(&target, &plan).await;
    let mut report = MigrateReport::new(&plan, reports, structure, snapshot, load_seconds, started.elapsed().as_secs_f64());
    report.scope = opts.scope;
    report.ok &= hook_runs.iter().all(|h| h.error.is_none()) && sequence_failures.is_empty() && reshaped.iter().all(|r| r.error.is_none());
    report.ok &= plan.reshape.is_none() || !reshaped.is_empty();
    report.reshape = reshaped;
    report.ok &= objects.failed.is_empty();
    report.objects = objects;
    notes.extend(sequence_failures);
    report.notes = notes;
    report.hooks = hook_runs;
    if report.tables.iter().all(|t| t.error.is_none()) {
        target.set_run_status(&schema, ferry_target_postgres::state::LoadState::Done).await?;
    }
    Ok(report)
}

/// OK means every planned object exists as planned, not only that no statement failed.
async fn structure_check(target: &PgTarget, plan: &Plan) -> Vec<String> {
    match ferry_verify::structure::unmet_structure(target, plan).await {
        Ok(s) => s,
        Err(e) => vec![format!("the target's catalog could not be read to check the structure: {e}")],
    }
}

/// Keys, indexes, constraints, sequences and triggers of every table that loaded (all tables
/// of a schema-only run), then the foreign keys between them.
async fn build_structure(target: &PgTarget, target_url: &str, plan: &Plan, reports: &mut [TableReport], opts: &MigrateOptions) {
    // Index builds (primary keys included) of every loaded table, `workers` at a time, each on
    // its own connection; then per table the steps that need them.
    let ok_tables: Vec<usize> = (0..reports.len()).filter(|&i| reports[i].error.is_none()).collect();
    let steps: Vec<(usize, String)> = ok_tables.iter().flat_map(|&i| plan.index_builds(&plan.tables[i]).into_iter().map(move |s| (i, s))).collect();
    let results = run_parallel(target_url, &post_load_session(plan), steps, opts.workers, opts.resume).await;
    for (i, secs, failure) in results {
        reports[i].post_load_seconds += secs;
        reports[i].failures.extend(failure);
    }
    let steps: Vec<(usize, Vec<String>)> = ok_tables.iter().map(|&i| (i, plan.after_indexes(&plan.tables[i]))).collect();
    let results = run_parallel_sequences(target_url, &post_load_session(plan), steps, opts.workers, opts.resume).await;
    for (i, secs, failures) in results {
        reports[i].post_load_seconds += secs;
        reports[i].failures.extend(failures);
    }

    add_foreign_keys(target, plan, reports, opts.resume).await;
}

/// A data-only load's end: the plan's foreign keys (dropped before the load) added again, then
/// sequences and identities past the loaded values and statistics.
/// Returns the sequences that could not be set, one line each.
async fn after_data_only(target: &PgTarget, target_url: &str, plan: &Plan, reports: &mut [TableReport], opts: &MigrateOptions) -> Vec<String> {
    let ok_tables: Vec<usize> = (0..reports.len()).filter(|&i| reports[i].error.is_none()).collect();
    let steps: Vec<(usize, Vec<String>)> = ok_tables.iter().map(|&i| (i, data_only::after_load(&plan.tables[i]))).collect();
    let results = run_parallel_sequences(target_url, &post_load_session(plan), steps, opts.workers, opts.resume).await;
    for (i, secs, failures) in results {
        reports[i].post_load_seconds += secs;
        reports[i].failures.extend(failures);
    }
    let mut failed = Vec::new();
    for stmt in data_only::sequence_steps(plan) {
        if let Err(e) = target.exec(&stmt).await {
            failed.push(format!("FAILED: {} — {}", stmt, e.message));
        }
    }
    add_foreign_keys(target, plan, reports, true).await;
    failed
}

/// Foreign keys need every referenced key in place: added `NOT VALID`, then validated. One that
/// exists already (a resumed run, or a data-only load that kept it) counts as added when
/// `tolerate_existing`.
async fn add_foreign_keys(target: &PgTarget, plan: &Plan, reports: &mut [TableReport], tolerate_existing: bool) {
    let failed_tables: Vec<String> = reports.iter().filter(|r| r.error.is_some()).map(|r| r.target.clone()).collect();
    for (i, t) in plan.tables.iter().enumerate() {
        for fk in t.target.foreign_key_steps() {
            if failed_tables.contains(&t.target.name) || failed_tables.contains(&fk.ref_table) {
                reports[i].failures.push(StepFailure { statement: fk.add, error: "skipped: a table it joins failed to load".into() });
                continue;
            }
            let add = fk.add;
            if let Err(e) = target.exec(&add).await {
                if !(tolerate_existing && already_exists(&e)) {
                    reports[i].failures.push(StepFailure { statement: add, error: e.message });
                    continue;
                }
            }
            let Some(validate) = fk.validate else { continue };
            if let Err(e) = target.exec(&validate).await {
                reports[i].failures.push(StepFailure {
                    statement: validate,
                    error: format!("{} — the constraint exists NOT VALID: fix the orphan rows, then VALIDATE it", e.message),
                });
            }
        }
    }
}

/// Runs independent statements, `workers` at a time, each on its own connection. Returns
/// (table, seconds, failure) per statement.
async fn run_parallel(url: &str, session: &str, steps: Vec<(usize, String)>, workers: usize, resume: bool) -> Vec<(usize, f64, Option<StepFailure>)> {
    let seqs = steps.into_iter().map(|(i, s)| (i, vec![s])).collect();
    run_parallel_sequences(url, session, seqs, workers, resume).await.into_iter().map(|(i, secs, mut f)| (i, secs, f.pop())).collect()
}

/// Runs sequences of statements (each sequence in order on one connection), `workers`
/// sequences at a time. A failed statement is reported and the sequence goes on.
/// The settings of each post-load connection: more memory for index builds, and on Citus a
/// bounded fan-out to the workers (each of `workers` connections builds a distributed table's
/// shard indexes over at most [`CITUS_POST_LOAD_POOL`] connections per worker).
fn post_load_session(plan: &Plan) -> String {
    let mut s = "SET maintenance_work_mem = '256MB'".to_string();
    if plan.citus.is_some() {
        s.push_str(&format!("; SET citus.max_adaptive_executor_pool_size = {CITUS_POST_LOAD_POOL}"));
    }
    s
}

/// See [`post_load_session`] (measured in docs/benchmarks.md).
const CITUS_POST_LOAD_POOL: usize = 4;

async fn run_parallel_sequences(
    url: &str,
    session: &str,
    seqs: Vec<(usize, Vec<String>)>,
    workers: usize,
    resume: bool,
) -> Vec<(usize, f64, Vec<StepFailure>)> {
    let sem = Arc::new(tokio::sync::Semaphore::new(workers.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, stmts) in seqs {
        let (sem, url, session) = (sem.clone(), url.to_string(), session.to_string());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let started = Instant::now();
            let mut failures = Vec::new();
            match PgTarget::connect(&url).await {
                Ok(conn) => {
                    let _ = conn.batch(&session).await;
                    for stmt in stmts {
                        if let Err(e) = conn.exec(&stmt).await {
                            // A resumed run may find what the interrupted one already built.
                            if resume && already_exists(&e) {
                                continue;
                            }
                            failures.push(StepFailure { statement: stmt, error: e.message });
                        }
                    }
                }
                Err(e) => failures.push(StepFailure { statement: "connect".into(), error: e.message }),
            }
            (i, started.elapsed().as_secs_f64(), failures)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.expect("post-load task panicked"));
    }
    out
}

/// An error that means "the interrupted run already did this": a relation, object or primary
/// key that exists, or an index a constraint already adopted (`ADD CONSTRAINT … USING INDEX`
/// after a kill between that statement and the run's end).
fn already_exists(e: &TargetError) -> bool {
    matches!(e.sqlstate.as_deref(), Some("42P07") | Some("42710") | Some("42P16"))
        || (e.sqlstate.as_deref() == Some("55000") && e.message.contains("already associated with a constraint"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_an_interrupted_run_finished_count_as_done() {
        let err = |code: &str, msg: &str| TargetError { kind: ferry_model::ErrorKind::Definite, message: msg.into(), sqlstate: Some(code.into()) };
        assert!(already_exists(&err("42P07", "relation \"big_pkey\" already exists")));
        assert!(already_exists(&err("55000", "PostgreSQL error 55000: index \"big_pkey\" is already associated with a constraint")));
        assert!(!already_exists(&err("55000", "PostgreSQL error 55000: cannot ALTER TABLE because it is being used")));
        assert!(!already_exists(&err("23505", "could not create unique index")));
    }
}
