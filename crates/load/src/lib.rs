//! The migrate engine: create the target schema, load every table, then build keys, indexes,
//! constraints, sequences and triggers.
//!
//! Guarantees:
//! - Nothing is skipped silently. A row the plan refuses stops its table with an error naming
//!   table, column and key; COPY is aborted, so the table holds no partial data, and the report
//!   says which tables are complete and which are not.
//! - A table's COPY is one statement: it lands whole or not at all. A transient failure
//!   (connection lost, server restarting) retries the table from the start with backoff, which
//!   cannot duplicate rows because the aborted COPY left none.
//! - Re-running with the same config gives the same result: `--if-exists drop` recreates the
//!   planned tables, `truncate` keeps their definitions but empties them and rebuilds ferry's
//!   keys, indexes and constraints, `fail` (default) refuses to touch existing tables.
//! - Foreign keys are added `NOT VALID` after every table is loaded, then validated; a key that
//!   fails validation (orphan rows in the source) stays `NOT VALID` and is reported.

mod report;

pub use report::{MigrateReport, StepFailure, TableReport};

use bytes::Bytes;
use ferry_model::{ErrorKind, Source};
use ferry_plan::config::IfExists;
use ferry_plan::{ConversionStats, Plan, TablePlan};
use ferry_target_postgres::copy_text::encode_row;
use ferry_target_postgres::ddl::create_schema_sql;
use ferry_target_postgres::{qualified, PgTarget, TargetError};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("the target schema \"{schema}\" already has planned tables ({}); re-run with --if-exists drop (recreate) or --if-exists truncate (reload)", tables.join(", "))]
    Exists { schema: String, tables: Vec<String> },
    #[error("--if-exists truncate: table {table} exists but {problem}; use --if-exists drop")]
    Shape { table: String, problem: String },
}

impl LoadError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LoadError::Target(e) => e.kind,
            _ => ErrorKind::Definite,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub if_exists: IfExists,
    pub workers: usize,
    /// Print a line per finished table on stderr.
    pub progress: bool,
}

/// Runs the whole migration. Returns the report even when some tables failed (its `ok` says so);
/// returns `Err` only when nothing could be started (connection, privilege, existing tables).
pub async fn migrate<S: Source>(
    source: Arc<S>,
    target_url: &str,
    plan: Arc<Plan>,
    opts: &MigrateOptions,
) -> Result<MigrateReport, LoadError> {
    let started = Instant::now();
    let target = PgTarget::connect(target_url).await?;
    prepare_target(&target, &plan, opts.if_exists).await?;

    // Load tables, `workers` at a time.
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.workers.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..plan.tables.len() {
        let (source, plan, sem, url) = (source.clone(), plan.clone(), sem.clone(), target_url.to_string());
        let progress = opts.progress;
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let t = &plan.tables[i];
            let r = load_table_with_retry(&*source, &url, t).await;
            if progress {
                match &r.error {
                    None => eprintln!(
                        "loaded {:<40} {:>10} rows {:>12} bytes {:>8.2}s",
                        t.target.qualified(),
                        r.rows,
                        r.bytes,
                        r.seconds
                    ),
                    Some(e) => eprintln!("FAILED {}: {e}", t.target.qualified()),
                }
            }
            (i, r)
        });
    }
    let mut reports: Vec<Option<TableReport>> = vec![None; plan.tables.len()];
    while let Some(res) = set.join_next().await {
        let (i, r) = res.expect("table task panicked");
        reports[i] = Some(r);
    }
    let mut reports: Vec<TableReport> = reports.into_iter().map(|r| r.unwrap()).collect();

    // Keys, indexes, checks, identities, triggers, comments: per table, in parallel.
    let mut set = tokio::task::JoinSet::new();
    for (i, r) in reports.iter().enumerate() {
        if r.error.is_some() {
            continue;
        }
        let (plan, url) = (plan.clone(), target_url.to_string());
        set.spawn(async move {
            let _ = &plan;
            let t = &plan.tables[i];
            let started = Instant::now();
            let mut failures = Vec::new();
            match PgTarget::connect(&url).await {
                Ok(conn) => {
                    let _ = conn.batch("SET maintenance_work_mem = '256MB'").await;
                    for stmt in plan.post_load(t) {
                        if let Err(e) = conn.exec(&stmt).await {
                            failures.push(StepFailure { statement: stmt, error: e.message });
                        }
                    }
                }
                Err(e) => failures.push(StepFailure { statement: "connect".into(), error: e.message }),
            }
            (i, failures, started.elapsed().as_secs_f64())
        });
    }
    while let Some(res) = set.join_next().await {
        let (i, failures, secs) = res.expect("post-load task panicked");
        reports[i].post_load_seconds = secs;
        reports[i].failures.extend(failures);
    }

    // Foreign keys need every referenced key in place.
    let failed: Vec<String> = reports.iter().filter(|r| r.error.is_some()).map(|r| r.target.clone()).collect();
    for (i, t) in plan.tables.iter().enumerate() {
        for fk in &t.target.foreign_keys {
            if failed.contains(&t.target.name) || failed.contains(&fk.ref_table) {
                reports[i].failures.push(StepFailure {
                    statement: t.target.foreign_key_sql(fk),
                    error: "skipped: a table it joins failed to load".into(),
                });
                continue;
            }
            let add = t.target.foreign_key_sql(fk);
            if let Err(e) = target.exec(&add).await {
                reports[i].failures.push(StepFailure { statement: add, error: e.message });
                continue;
            }
            let validate = t.target.validate_sql(&fk.name);
            if let Err(e) = target.exec(&validate).await {
                reports[i].failures.push(StepFailure {
                    statement: validate,
                    error: format!("{} — the constraint exists NOT VALID: fix the orphan rows, then VALIDATE it", e.message),
                });
            }
        }
    }
    let _ = target.batch(&format!("ANALYZE {}", plan.tables.iter().map(|t| t.target.qualified()).collect::<Vec<_>>().join(", "))).await;

    Ok(MigrateReport::new(&plan, reports, started.elapsed().as_secs_f64()))
}

/// Creates the schema, enum types and bare tables (after dropping or emptying what exists, as
/// `if_exists` says), in one transaction: either all of it is in place or none.
async fn prepare_target(target: &PgTarget, plan: &Plan, if_exists: IfExists) -> Result<(), LoadError> {
    let names: Vec<String> = plan.tables.iter().map(|t| t.target.name.clone()).collect();
    let rows = target
        .client
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind IN ('r', 'p')",
            &[&plan.target_schema, &names],
        )
        .await
        .map_err(TargetError::from)?;
    let existing: Vec<String> = rows.iter().map(|r| r.get(0)).collect();

    let mut sql = String::from("BEGIN;\n");
    sql.push_str(&format!("{};\n", create_schema_sql(&plan.target_schema)));
    match if_exists {
        IfExists::Fail if !existing.is_empty() => {
            return Err(LoadError::Exists { schema: plan.target_schema.clone(), tables: existing });
        }
        IfExists::Fail => {}
        IfExists::Drop => {
            for t in &plan.tables {
                if existing.contains(&t.target.name) {
                    sql.push_str(&format!("DROP TABLE {} CASCADE;\n", t.target.qualified()));
                }
            }
            for e in &plan.enums {
                sql.push_str(&format!("DROP TYPE IF EXISTS {} CASCADE;\n", qualified(&e.schema, &e.name)));
            }
        }
        IfExists::Truncate => {
            let mut to_truncate = Vec::new();
            for t in &plan.tables {
                if !existing.contains(&t.target.name) {
                    continue;
                }
                check_shape(target, t).await?;
                to_truncate.push(t.target.qualified());
                // ferry rebuilds its own keys and indexes after the load.
                for fk in &t.target.foreign_keys {
                    sql.push_str(&format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};\n", t.target.qualified(), ferry_target_postgres::quote_ident(&fk.name)));
                }
            }
            for t in &plan.tables {
                if !existing.contains(&t.target.name) {
                    continue;
                }
                let q = t.target.qualified();
                for c in &t.target.checks {
                    sql.push_str(&format!("ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {};\n", ferry_target_postgres::quote_ident(&c.name)));
                }
                if let Some(pk) = &t.target.primary_key {
                    sql.push_str(&format!("ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {} CASCADE;\n", ferry_target_postgres::quote_ident(&pk.name)));
                }
                for ix in &t.target.indexes {
                    sql.push_str(&format!("DROP INDEX IF EXISTS {};\n", qualified(&t.target.schema, &ix.name)));
                }
                for stmt in t.target.on_update_trigger_sql().iter().skip(1) {
                    let _ = stmt;
                    let func = ferry_target_postgres::ident::truncate_ident(&format!("{}_on_update", t.target.name));
                    sql.push_str(&format!("DROP TRIGGER IF EXISTS {} ON {q};\n", ferry_target_postgres::quote_ident(&func)));
                }
            }
            if !to_truncate.is_empty() {
                sql.push_str(&format!("TRUNCATE {};\n", to_truncate.join(", ")));
            }
        }
    }
    let keep = if_exists == IfExists::Truncate;
    for e in &plan.enums {
        if keep {
            sql.push_str(&format!(
                "DO $ferry$ BEGIN {}; EXCEPTION WHEN duplicate_object THEN NULL; END $ferry$;\n",
                e.create_sql()
            ));
        } else {
            sql.push_str(&format!("{};\n", e.create_sql()));
        }
    }
    for t in &plan.tables {
        if keep && existing.contains(&t.target.name) {
            continue;
        }
        sql.push_str(&format!("{};\n", t.target.create_sql()));
    }
    sql.push_str("COMMIT;\n");
    if let Err(e) = target.batch(&sql).await {
        let _ = target.batch("ROLLBACK").await;
        return Err(LoadError::Target(e.context(format!(
            "creating schema \"{}\" and its tables (nothing was created)",
            plan.target_schema
        ))));
    }
    Ok(())
}

/// Under `--if-exists truncate`, an existing table must have the planned columns.
async fn check_shape(target: &PgTarget, t: &TablePlan) -> Result<(), LoadError> {
    let rows = target
        .client
        .query(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            &[&t.target.qualified()],
        )
        .await
        .map_err(TargetError::from)?;
    let have: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for c in &t.target.columns {
        if !have.contains(&c.name) {
            return Err(LoadError::Shape { table: t.target.qualified(), problem: format!("has no column \"{}\"", c.name) });
        }
    }
    Ok(())
}

async fn load_table_with_retry<S: Source>(source: &S, url: &str, t: &TablePlan) -> TableReport {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let started = Instant::now();
        match load_table(source, url, t).await {
            Ok((rows, bytes, stats)) => {
                return TableReport::loaded(t, rows, bytes, started.elapsed().as_secs_f64(), stats);
            }
            Err((kind, msg)) if kind.is_transient() && attempt < 4 => {
                tracing::warn!("{}: {msg}; retrying (attempt {attempt})", t.target.qualified());
                tokio::time::sleep(Duration::from_millis(500 * (1 << attempt))).await;
            }
            Err((_, msg)) => return TableReport::failed(t, msg, started.elapsed().as_secs_f64()),
        }
    }
}

/// Copies one table: a reader task streams source batches, this task converts and encodes them,
/// and the COPY task sends them. All channels are bounded, so memory does not grow with the table.
async fn load_table<S: Source>(
    source: &S,
    url: &str,
    t: &TablePlan,
) -> Result<(u64, u64, ConversionStats), (ErrorKind, String)> {
    let target = PgTarget::connect(url).await.map_err(|e| (e.kind, e.message))?;
    let (row_tx, mut row_rx) = tokio::sync::mpsc::channel(4);
    let (byte_tx, byte_rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(4);
    let copy_sql = t.copy_sql();
    let copy = target.copy_in(&copy_sql, byte_rx);
    let read = source.read_table(&t.source, row_tx);
    let enc_tx = byte_tx.clone();
    let encode = async move {
        let byte_tx = enc_tx;
        let mut stats = ConversionStats::default();
        let mut bytes = 0u64;
        let mut ordinal = 0u64;
        let mut buf = Vec::with_capacity(1 << 20);
        while let Some(batch) = row_rx.recv().await {
            for row in batch {
                ordinal += 1;
                let key = t.source.describe_row(&row, ordinal);
                let converted = t.converter.convert(row, &mut stats).map_err(|e| {
                    let col = &t.source.columns[t.converter.columns[e.column].source_index].name;
                    format!("table `{}`, column `{col}`, {key}: {}", t.source.name, e.message)
                })?;
                if let Err((i, e)) = encode_row(&converted, &mut buf) {
                    let col = &t.source.columns[t.converter.columns[i].source_index].name;
                    return Err(format!("table `{}`, column `{col}`, {key}: {e}", t.source.name));
                }
            }
            if buf.len() >= 1 << 19 {
                bytes += buf.len() as u64;
                let chunk = Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(1 << 20)));
                if byte_tx.send(Ok(chunk)).await.is_err() {
                    return Err("the COPY stopped".into());
                }
            }
        }
        if !buf.is_empty() {
            bytes += buf.len() as u64;
            if byte_tx.send(Ok(Bytes::from(buf))).await.is_err() {
                return Err("the COPY stopped".into());
            }
        }
        Ok((bytes, stats))
    };
    // The COPY is finished only when both the read and the encoding succeeded; otherwise it is
    // aborted, so a failed table never keeps part of its rows.
    let read_and_encode = async move {
        let (r, e) = tokio::join!(read, encode);
        let failure = match (&r, &e) {
            (Err(re), _) => Some(re.message.clone()),
            (_, Err(ee)) => Some(ee.clone()),
            _ => None,
        };
        if let Some(f) = failure {
            let _ = byte_tx.send(Err(f)).await;
        }
        drop(byte_tx);
        (r, e)
    };
    let ((read_res, encode_res), copy_res) = tokio::join!(read_and_encode, copy);
    if let Err(e) = read_res {
        return Err((e.kind, e.message));
    }
    let (bytes, stats) = encode_res.map_err(|m| (ErrorKind::BadData, m))?;
    match copy_res {
        Ok(rows) => Ok((rows, bytes, stats)),
        Err(e) => Err((e.kind, e.message)),
    }
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    #[error(transparent)]
    Source(#[from] ferry_model::SourceError),
    #[error(transparent)]
    Plan(#[from] ferry_plan::PlanError),
}

/// Introspects the selected tables, runs the data probes the type map needs, and builds the
/// plan. Reads the source only.
pub async fn make_plan<S: Source>(
    source: &S,
    config: &ferry_plan::Config,
    postgis: bool,
) -> Result<Plan, PlanningError> {
    let select = ferry_plan::select_tables(config);
    let schema = source.introspect(&select).await?;
    let mut answers = ferry_plan::ProbeAnswers::new();
    for (table, column, probe) in ferry_plan::probes_needed(&schema, config) {
        let n = source.probe(&table, &column, probe).await?;
        answers.insert((table, column, probe), n);
    }
    Ok(ferry_plan::build(ferry_plan::PlanInput { schema: &schema, config, probes: &answers, postgis })?)
}
