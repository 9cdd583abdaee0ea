//! `ferry sync`: applies the source's change stream to the target, exactly once, in batches of
//! whole source transactions.
//!
//! Guarantees and why:
//! - **No gap, no repeat.** The stream starts at the position committed in `ferry.sync_state`
//!   (after the full load: the snapshot's own position, see `ferry_source_mysql::binlog`). Changes
//!   are buffered until a source transaction's commit event and only then join the batch, so a
//!   batch always holds whole source transactions. A batch's rows, the position after its last
//!   transaction, its counters and its `ferry.sync_log` row commit in one target transaction
//!   ([`PgTarget::apply_batch`]); after any crash the committed position is exactly where the
//!   applied changes end.
//! - **Order.** Within a batch, each table's changes are folded in source order into the final
//!   state of each key (upsert or delete; a key update is a delete of the old key and an upsert
//!   of the new one), so applying a table's deletes and upserts in any order gives the state the
//!   source had at the batch's last commit. DDL and TRUNCATE flush the batch first and apply alone.
//!   One exception: rows trading values of another unique key inside a batch (a swap) conflict
//!   when folded; that table's changes are then replayed one by one in source order, through the
//!   same intermediate states the source accepted (see `TableBatch::sequence`).
//! - **DDL.** The source's dialect parses each statement into a neutral [`SchemaChange`]; the
//!   engine applies it to its model of the source, rebuilds the plan under the same rules (type
//!   map, renames, include/exclude) and turns the old and new target tables into in-place
//!   statements ([`ferry_target_postgres::alter`]), which commit with the statement's position
//!   and the new model (`ferry.sync_state.source_model`). A restart therefore decodes the
//!   binlog after the committed position by the shapes the source had there, not by today's
//!   (which may be further on). A statement that cannot be translated stops only its table.
//! - **Errors.** Transient errors (either server restarting, network) drop the in-memory batch and
//!   restart from the committed position with backoff. A definite error in one table (a value the
//!   target refuses, a DDL ferry cannot translate, an update to a table without key) stops that
//!   table only — recorded in `ferry.sync_tables` with the error and what to do — and the other
//!   tables keep flowing.
//! - **Tables without a key** take inserts; an update or delete there stops the table (there is
//!   no reliable row identity to apply it by).

use ferry_model::cdc::{CdcSource, ChangeEvent, ChangeStream, LogPosition, RowChange, SchemaChange};
use ferry_model::{ErrorKind, SourceError};
use ferry_plan::Plan;
use ferry_target_postgres::apply::{ApplyBatch, TableBatch};
use ferry_target_postgres::{PgTarget, TargetError};
mod batch;
mod controls;
pub mod cutover;
mod ddl;
pub mod reload;
pub mod start;

use batch::{table_applies, Batch, TableApply};
use ddl::{DdlContext, StreamChange};
pub use ferry_monitor::{Event, Monitor, TableCounts};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("sync of schema \"{0}\" never started: `ferry sync` starts it (after the full load)")]
    NotStarted(String),
    #[error("schema \"{0}\" was cut over at {1}: its sync is finished; `ferry migrate` and `ferry sync` start a new one")]
    CutOver(String, String),
    #[error("gave up after retrying for {seconds} s ({retries} attempts); the last error: {last}\nnothing is lost: fix the server or the network, then run `ferry sync` again — it resumes from the last committed transaction")]
    GaveUp { seconds: u64, retries: u64, last: Box<SyncError> },
    #[error(transparent)]
    Load(#[from] ferry_load::LoadError),
    #[error(transparent)]
    Verify(#[from] ferry_verify::VerifyError),
    /// Sync cannot start or go on as asked; the text says what to do.
    #[error("{0}")]
    Refused(String),
    /// The full load that starts a sync failed (the report, as text, says where).
    #[error("the full load failed; sync not started\n{0}")]
    FullLoadFailed(String),
}

impl SyncError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SyncError::Source(e) => e.kind,
            SyncError::Target(e) => e.kind,
            SyncError::Load(e) => e.kind(),
            SyncError::Verify(e) => e.kind(),
            SyncError::NotStarted(_) | SyncError::CutOver(..) | SyncError::GaveUp { .. } | SyncError::Refused(_) | SyncError::FullLoadFailed(_) => {
                ErrorKind::Definite
            }
        }
    }
    fn transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::Transient | ErrorKind::Unreachable)
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Flush a batch once it holds this many row changes…
    pub batch_rows: usize,
    /// …or about this many bytes of rows (whole transactions always: one larger than this is
    /// applied alone), so memory stays bounded by the widest transaction, not by the batch…
    pub batch_bytes: usize,
    /// …or once its oldest transaction waited this long.
    pub max_delay: Duration,
    /// Stop when the stream reaches the end of the source's log (tests, cutover).
    pub until_caught_up: bool,
    /// Give up after this long of consecutive transient failures.
    pub retry_for: Duration,
    /// Where the engine reports what it does (the live page, `/status.json`, `/metrics`).
    pub monitor: Option<Arc<Monitor>>,
    /// Continuous verify: a pass over every table this often (`--verify-every`), each chunk
    /// compared with the source at the position the target has just committed.
    pub verify_every: Option<Duration>,
    /// Warn when the source keeps more log than this for ferry (a PostgreSQL slot's WAL can grow
    /// without bound while sync stalls).
    pub warn_backlog_bytes: u64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            batch_rows: 20_000,
            batch_bytes: 64 << 20,
            max_delay: Duration::from_millis(200),
            until_caught_up: false,
            retry_for: Duration::from_secs(600),
            monitor: None,
            verify_every: None,
            warn_backlog_bytes: 1 << 30,
        }
    }
}

/// What one `sync` run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncReport {
    pub transactions: u64,
    pub rows: u64,
    pub batches: u64,
    pub position: String,
    pub retries: u64,
    /// Tables stopped by a definite error, with the error.
    pub stopped: Vec<(String, String)>,
}

/// A stored position as `source` owns it: one of its kind as is; one stored by a release before
/// positions had kinds, read again from its text by the source; any other refused (the schema's
/// sync was started from a different kind of source).
pub fn own_position<S: CdcSource>(source: &S, p: LogPosition) -> Result<LogPosition, SyncError> {
    if p.kind == source.position_kind() {
        return Ok(p);
    }
    if p.is_legacy() {
        if let Some(owned) = source.parse_position(&p.text) {
            return Ok(owned);
        }
    }
    Err(SyncError::Refused(format!(
        "the stored sync position {p} is not a {} position: this schema's sync was started from another source; `ferry migrate --if-exists drop` and `ferry sync` start a new one",
        source.position_kind()
    )))
}

/// How often the engine asks the source how much log it holds for this sync.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// Runs sync until the stream ends (`until_caught_up`) or a definite error; retries transient
/// errors from the committed position.
pub async fn sync<S: CdcSource>(source: Arc<S>, target_url: &str, plan: Arc<Plan>, opts: &SyncOptions) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let mut backoff = Duration::from_millis(200);
    let mut failing_since: Option<Instant> = None;
    loop {
        match run_once(&*source, target_url, &plan, opts, &mut report).await {
            Ok(()) => return Ok(report),
            Err(e) if e.transient() => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > opts.retry_for {
                    return Err(SyncError::GaveUp { seconds: since.elapsed().as_secs(), retries: report.retries, last: Box::new(e) });
                }
                report.retries += 1;
                if let Some(m) = &opts.monitor {
                    m.emit(Event::Retry);
                }
                tracing::warn!("sync: {e}; retrying from the committed position in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

async fn run_once<S: CdcSource>(source: &S, target_url: &str, plan: &Plan, opts: &SyncOptions, report: &mut SyncReport) -> Result<(), SyncError> {
    let schema = plan.target_schema.clone();
    let target = PgTarget::connect(target_url).await?;
    target.try_replica_role().await;
    let from = own_position(source, target.sync_position(&schema).await?.ok_or_else(|| SyncError::NotStarted(schema.clone()))?)?;
    if target.sync_state_status(&schema).await? == Some(ferry_target_postgres::state::SyncState::CutOver) {
        return Err(SyncError::CutOver(schema.clone(), from.to_string()));
    }
    let mut stopped: HashSet<String> = HashSet::new();
    let stopped_targets: HashSet<String> = target.stopped_sync_tables(&schema).await?.into_iter().collect();
    // The source as of the committed position: the model the last DDL left (the source itself
    // may be further on), or, on the first run, the plan's own.
    let mut current: Plan = match target.sync_model(&schema).await? {
        Some((model, probes)) => {
            let model: ferry_model::Schema = serde_json::from_str(&model).map_err(|e| model_error(&schema, e))?;
            let probes = serde_json::from_str(&probes).map_err(|e| model_error(&schema, e))?;
            let mut base = plan.clone();
            base.inputs.probes = Plan::probes_from_list(probes);
            base.rebuilt(model).map_err(|e| SyncError::Source(SourceError::new(ErrorKind::Definite, e.to_string())))?
        }
        None => {
            let model = serde_json::to_string(&plan.inputs.schema).expect("schema serialises");
            let probes = serde_json::to_string(&plan.probe_list()).expect("probes serialise");
            target.set_sync_model(&schema, &model, &probes).await?;
            plan.clone()
        }
    };
    for t in &current.tables {
        if stopped_targets.contains(&t.target.name) {
            stopped.insert(t.source.name.clone());
        }
    }
    let mut tables = table_applies(&current);
    // The final hop's mappings, refreshed in each batch's transaction.
    let mut sink = Sink { target: &target, schema: &schema, reshape: current.reshape.clone().map(Arc::new) };
    let streamed: Vec<ferry_model::Table> = current.tables.iter().filter(|t| !stopped.contains(&t.source.name)).map(|t| t.source.clone()).collect();
    let mut stream = source.stream(&from, streamed, opts.until_caught_up).await?;
    let mut batch = Batch::new(from.clone());
    let mut txn: Vec<(String, RowChange)> = Vec::new();
    let mut ddl: Vec<(Option<String>, String, SchemaChange)> = Vec::new();
    // Tables whose changes in the current source transaction could not be decoded.
    let mut undecodable: Vec<(String, String)> = Vec::new();
    let mut confirmed = from.clone();
    // An online reload (`ferry reload`), and when the engine last looked for one.
    let mut reloader: Option<reload::Reloader> = None;
    let mut poll = reload::Poll(Instant::now() - reload::POLL);
    // Continuous verify: the tables of the pass under way, and when the next pass starts.
    let mut checker: Option<reload::Reloader> = None;
    let mut to_check: std::collections::VecDeque<String> = Default::default();
    let mut next_pass = Instant::now();
    // Paused and excluded tables (`ferry pause`, `ferry exclude`), and when the engine last
    // looked for such requests. Excluded tables are known before the first event.
    let mut controlled = controls::Controlled { excluded: excluded_tables(&target, &schema).await?, ..Default::default() };
    if let Some(m) = &opts.monitor {
        for t in &controlled.excluded {
            m.emit(Event::Excluded { table: t.clone() });
        }
    }
    let mut control_poll = reload::Poll(Instant::now() - reload::POLL);
    // How much log the source holds after the committed position, read every few seconds for
    // the page and the metrics (PostgreSQL reports its slot's with each heartbeat instead).
    let mut backlog_at = Instant::now() - BACKLOG_EVERY;
    loop {
        // What the target committed, the source may forget.
        if batch.from != confirmed {
            stream.confirm(&batch.from).await?;
            confirmed = batch.from.clone();
        }
        if let (Some(m), true) = (&opts.monitor, backlog_at.elapsed() >= BACKLOG_EVERY) {
            backlog_at = Instant::now();
            match source.backlog(&batch.from).await {
                Ok(Some((bytes, what))) => m.emit(Event::Backlog { bytes, what }),
                Ok(None) => {}
                Err(e) => tracing::debug!("the source's backlog: {e}"),
            }
        }
        // Pause, resume, exclude and include requests, between batches (see `controls`).
        if control_poll.due() {
            let reloading = reloader.as_ref().map(|r| r.table.clone());
            let cannot_reload = |t: &TableApply| reload::Reloader::refusal(source, t);
            let engine = controls::Engine {
                tables: &tables,
                batch: &mut batch,
                stopped: &mut stopped,
                report,
                monitor: opts.monitor.as_deref(),
                reloading: reloading.as_deref(),
                checker: &mut checker,
                cannot_reload: &cannot_reload,
            };
            controls::take_requests(&sink, engine, &mut controlled).await?;
        }
        // Reload: take up a request, read its next chunk, and apply a held chunk once the
        // stream has reached its position (see `reload`).
        if reloader.is_none() && poll.due() {
            if let Some(req) = target.next_reload(&schema).await? {
                let name = req.table.clone();
                let held_back = if controlled.paused.contains(&name) {
                    Some("the table is paused: `ferry resume` it first (its held changes are applied), then reload it")
                } else if controlled.excluded.contains(&name) {
                    Some("the table is excluded from the sync: `ferry include` it (which reloads it)")
                } else {
                    None
                };
                if let Some(why) = held_back {
                    reload::fail(&target, &schema, &name, why).await?;
                    continue;
                }
                match reload::Reloader::start(source, &target, &schema, req, &tables).await {
                    Ok(r) => reloader = Some(r),
                    Err(why) => reload::fail(&target, &schema, &name, &why).await?,
                }
            }
        }
        if let Some(r) = reloader.as_mut() {
            if stopped.iter().any(|s| tables.get(s).is_some_and(|t| t.plan.target.name == r.table)) {
                reload::fail(&target, &schema, &r.table.clone(), "the table stopped during the reload").await?;
                reloader = None;
            } else if r.held.is_none() && !r.finished() {
                match r.read_next(source, &tables).await {
                    // The chunk waits for the first commit past its position.
                    Ok(()) => stream.nudge().await,
                    Err(why) => {
                        reload::fail(&target, &schema, &r.table.clone(), &why).await?;
                        reloader = None;
                    }
                }
            }
        }
        if let (Some(every), true) = (opts.verify_every, reload::Reloader::supported(source)) {
            if checker.is_none() && reloader.is_none() {
                if to_check.is_empty() && Instant::now() >= next_pass {
                    to_check = tables
                        .iter()
                        .filter(|(n, t)| !stopped.contains(*n) && !t.key.is_empty() && !controlled.holds_back(&t.plan.target.name))
                        .map(|(n, _)| n.clone())
                        .collect();
                    next_pass = Instant::now() + every;
                }
                if let Some(name) = to_check.pop_front() {
                    if let Some(t) = tables.get(&name).filter(|t| !controlled.holds_back(&t.plan.target.name)) {
                        match reload::Reloader::verifier(source, t).await {
                            Ok(c) => checker = Some(c),
                            Err(why) => tracing::warn!("continuous verify of {name}: {why}"),
                        }
                    }
                }
            }
            // One chunk read at a time, and not while a reload reads.
            if let Some(c) = checker.as_mut().filter(|c| c.held.is_none() && !c.finished()) {
                if reloader.as_ref().is_none_or(|r| r.held.is_none()) {
                    match c.read_next(source, &tables).await {
                        Ok(()) => stream.nudge().await,
                        Err(why) => {
                            tracing::warn!("continuous verify of {}: {why}", c.table);
                            checker = None;
                        }
                    }
                }
            }
        }
        for slot in [&mut reloader, &mut checker] {
            if slot.as_ref().is_some_and(|r| r.held.as_ref().is_some_and(|h| batch.to >= h.at)) {
                flush(&sink, &tables, &mut batch, &mut stopped, report, opts.monitor.as_deref()).await?;
                apply_reload(&sink, &tables, &batch, slot.as_mut().expect("held"), opts.monitor.as_deref()).await?;
            }
            if slot.as_ref().is_some_and(|r| r.finished()) {
                let done = slot.take().expect("finished");
                if done.verify {
                    if let Some(m) = &opts.monitor {
                        m.emit(Event::VerifyPass { table: done.table });
                    }
                }
            }
        }
        let mut wait = match batch.oldest {
            Some(t) => opts.max_delay.saturating_sub(t.elapsed()),
            None => Duration::from_secs(3600),
        };
        // Wake up for reload requests and for a held chunk while the source is idle.
        wait = wait.min(reload::POLL);
        let event = match tokio::time::timeout(wait, stream.next()).await {
            Err(_) => {
                flush(&sink, &tables, &mut batch, &mut stopped, report, opts.monitor.as_deref()).await?;
                continue;
            }
            Ok(e) => e?,
        };
        match event {
            None => {
                flush(&sink, &tables, &mut batch, &mut stopped, report, opts.monitor.as_deref()).await?;
                if opts.until_caught_up {
                    // The last batch is committed: the source may forget it too.
                    if batch.from != confirmed {
                        stream.confirm(&batch.from).await?;
                    }
                    return Ok(());
                }
                // A streaming connection only ends when the server closed it (restart, kill).
                return Err(SyncError::Source(SourceError::new(ErrorKind::Transient, "the source closed the change stream")));
            }
            Some(ChangeEvent::Row { table, change }) => txn.push((table, change)),
            // Its changes of this transaction go; the table stops with the batch (below).
            Some(ChangeEvent::TableError { table, error }) => {
                txn.retain(|(name, _)| *name != table);
                undecodable.push((table, error));
            }
            Some(ChangeEvent::Ddl { table, statement, change }) => {
                // An excluded table takes no change, a truncate included (its schema changes
                // still apply: the shape follows the source while it is out).
                if matches!(change, SchemaChange::Truncate) && table.as_ref().is_some_and(|t| excluded_source(&tables, &controlled, t)) {
                    continue;
                }
                // A TRUNCATE inside a transaction: the table's earlier rows of it are gone.
                if let (SchemaChange::Truncate, Some(t)) = (&change, &table) {
                    txn.retain(|(name, _)| name != t);
                }
                flush(&sink, &tables, &mut batch, &mut stopped, report, opts.monitor.as_deref()).await?;
                ddl.push((table, statement, change));
            }
            Some(ChangeEvent::Commit { position, time }) => {
                // A held reload chunk goes before the first transaction after its position.
                for slot in [&mut reloader, &mut checker] {
                    if slot.as_ref().is_some_and(|r| r.held.as_ref().is_some_and(|h| position > h.at)) {
                        flush(&sink, &tables, &mut batch, &mut stopped, report, opts.monitor.as_deref()).await?;
                        apply_reload(&sink, &tables, &batch, slot.as_mut().expect("held"), opts.monitor.as_deref()).await?;
                    }
                }
                for (table, error) in undecodable.drain(..) {
                    if !excluded_source(&tables, &controlled, &table) {
                        batch.stop_table(&tables, &table, error, &mut stopped);
                    }
                }
                txn.retain(|(name, _)| !stopped.contains(name) && !excluded_source(&tables, &controlled, name));
                if !ddl.is_empty() {
                    for (table, statement, change) in ddl.drain(..) {
                        let mut ctx = DdlContext { plan: &mut current, batch: &mut batch, stopped: &mut stopped };
                        for change in ctx.apply(table, &statement, change) {
                            match change {
                                StreamChange::Set(t) => stream.set_table(*t),
                                StreamChange::Forget(n) => stream.forget_table(&n),
                            }
                        }
                    }
                    tables = table_applies(&current);
                    sink.reshape = current.reshape.clone().map(Arc::new);
                    batch.source_model = Some(serde_json::to_string(&current.inputs.schema).expect("schema serialises"));
                    // Rows the same source transaction wrote after its DDL (PostgreSQL: TRUNCATE
                    // then inserts) follow it.
                    batch.fold_transaction(&tables, txn.drain(..), &mut stopped);
                    batch.commit(position, time);
                    flush(&sink, &tables, &mut batch, &mut stopped, report, opts.monitor.as_deref()).await?;
                    // A rename carries an exclusion to the new name (in the batch's transaction):
                    // the next rows must already see it.
                    controlled.excluded = excluded_tables(&target, &schema).await?;
                    continue;
                }
                batch.fold_transaction(&tables, txn.drain(..), &mut stopped);
                batch.commit(position, time);
                if stream.holds_large_buffers() {
                    // Its buffers go before the batch is applied; the new stream starts where
                    // the batch ends (the position of this commit).
                    drop(stream);
                    flush(&sink, &tables, &mut batch, &mut stopped, report, opts.monitor.as_deref()).await?;
                    let streamed = current.tables.iter().filter(|t| !stopped.contains(&t.source.name)).map(|t| t.source.clone()).collect();
                    stream = source.stream(&batch.from, streamed, opts.until_caught_up).await?;
                    tracing::debug!("change stream reopened at {} to release the buffers of a large event", batch.from);
                    continue;
                }
                if batch.rows >= opts.batch_rows || batch.bytes >= opts.batch_bytes {
                    flush(&sink, &tables, &mut batch, &mut stopped, report, opts.monitor.as_deref()).await?;
                }
            }
            // Only applied commits are ever confirmed to the source: a heartbeat's position may lie
            // past changes the source has not sent yet, so it is not confirmed.
            Some(ChangeEvent::Heartbeat { backlog_bytes, .. }) => {
                if batch.transactions == 0 {
                    target.sync_heartbeat(&schema, backlog_bytes).await?;
                    if let Some(b) = backlog_bytes.filter(|b| *b > opts.warn_backlog_bytes) {
                        tracing::warn!(
                            "the source keeps {} MB of log for this sync (above {} MB): a stalled or slow sync makes it grow; `ferry cutover` or dropping the sync releases it",
                            b >> 20,
                            opts.warn_backlog_bytes >> 20
                        );
                    }
                    if let Some(m) = &opts.monitor {
                        m.emit(Event::Idle);
                        if let Some(b) = backlog_bytes {
                            m.emit(Event::Backlog { bytes: b, what: "kept by the source for this sync".into() });
                        }
                    }
                }
            }
        }
    }
}

/// The target tables `ferry exclude` took out of the sync of `schema`.
async fn excluded_tables(target: &PgTarget, schema: &str) -> Result<HashSet<String>, SyncError> {
    Ok(target.table_controls(schema).await?.into_iter().filter(|r| r.status == "excluded" || r.status == "including").map(|r| r.table).collect())
}

/// Whether the source table `name` is excluded from the sync (`ferry exclude`).
fn excluded_source(tables: &HashMap<String, TableApply>, c: &controls::Controlled, name: &str) -> bool {
    !c.excluded.is_empty() && tables.get(name).is_some_and(|t| c.excluded.contains(&t.plan.target.name))
}

/// Applies (reload) or compares (continuous verify) the held chunk at the committed position
/// (the batch was just flushed: the target holds exactly the source at the chunk's position).
async fn apply_reload(
    sink: &Sink<'_>,
    tables: &HashMap<String, TableApply>,
    batch: &Batch,
    r: &mut reload::Reloader,
    monitor: Option<&Monitor>,
) -> Result<(), SyncError> {
    let table = r.table.clone();
    if r.verify {
        if let Some(b) = r.batch(sink.schema, &batch.to, tables, None) {
            let (missing, extra, samples) = sink.target.compare_chunk(sink.schema, &b.tables[0]).await?;
            if missing + extra > 0 {
                tracing::warn!("continuous verify: {table} differs from the source in {} rows ({})", missing + extra, samples.join("; "));
            }
            if let Some(m) = monitor {
                m.emit(Event::VerifyChunk { table, differences: (missing + extra) as u64, samples });
            }
        }
        return Ok(());
    }
    if let Some(b) = r.batch(sink.schema, &batch.to, tables, sink.reshape.clone()) {
        let failed = sink.target.apply_batch(&b).await?;
        if let Some((_, e)) = failed.first() {
            reload::fail(sink.target, sink.schema, &table, e).await?;
        }
        if let (Some(m), Some(step)) = (monitor, &b.reload) {
            let (done, all) = r.progress();
            m.emit(Event::Reload { table, chunks_done: done, chunks: all, rows: step.rows as u64, done: step.done || !failed.is_empty() });
        }
    }
    Ok(())
}

/// Where a batch goes: the target, its (landing) schema, and the final hop's mappings over it.
struct Sink<'a> {
    target: &'a PgTarget,
    schema: &'a str,
    reshape: Option<Arc<ferry_target_postgres::reshape::Reshape>>,
}

async fn flush(
    sink: &Sink<'_>,
    tables: &HashMap<String, TableApply>,
    batch: &mut Batch,
    stopped: &mut HashSet<String>,
    report: &mut SyncReport,
    monitor: Option<&Monitor>,
) -> Result<(), SyncError> {
    let (target, schema) = (sink.target, sink.schema);
    if batch.transactions == 0 {
        return Ok(());
    }
    let mut parts = Vec::new();
    let mut rows = 0u64;
    let mut names: Vec<String> = batch.tables.keys().chain(batch.truncate.iter()).cloned().collect();
    // A flush with DDL ran through the DDL's own flush first: only the DDL's truncates remain.
    names.sort();
    names.dedup();
    for name in names {
        let Some(t) = tables.get(&name) else { continue };
        let mut tb = TableBatch {
            table: t.plan.target.name.clone(),
            columns: t.plan.target.columns.iter().map(|c| c.name.clone()).collect(),
            key: t.key.clone(),
            conflict: t.conflict.clone(),
            binary: t.plan.binary.clone(),
            truncate: batch.truncate.contains(&name),
            ..Default::default()
        };
        if let Some(f) = batch.tables.remove(&name) {
            tb.inserts = f.inserts;
            tb.updates = f.updates;
            tb.deletes_count = f.deletes;
            tb.zero_dates_nulled = f.stats.zero_dates_nulled as i64;
            tb.zero_dates_infinity = f.stats.zero_dates_infinity as i64;
            tb.json_duplicate_keys = f.stats.json_duplicate_keys as i64;
            if t.plan.converter.quarantine {
                // One entry per column and row: the last version's (appended rows may repeat a key).
                let mut cells: Vec<_> = f.cells.into_values().flatten().chain(f.appended_cells).collect();
                let mut seen = HashSet::new();
                cells.reverse();
                cells.retain(|c| seen.insert((c.column, c.key.clone())));
                tb.quarantine = Some(t.plan.quarantine_rows(&cells));
            }
            rows += (f.inserts + f.updates + f.deletes) as u64;
            tb.upserts = f.appends;
            tb.sequence = f.sequence;
            let mut by_key = f.by_key;
            for k in f.order {
                if let Some((upsert, row)) = by_key.remove(&k) {
                    if upsert {
                        tb.upserts.push(row)
                    } else {
                        tb.deletes.push(row)
                    }
                }
            }
        }
        parts.push(tb);
    }
    let b = ApplyBatch {
        schema: schema.to_string(),
        from: batch.from.clone(),
        to: batch.to.clone(),
        transactions: batch.transactions,
        source_time: batch.time,
        tables: parts,
        stops: std::mem::take(&mut batch.stops),
        ddl: std::mem::take(&mut batch.ddl),
        not_synced: std::mem::take(&mut batch.not_synced),
        schema_ddl: std::mem::take(&mut batch.schema_ddl),
        source_model: batch.source_model.take(),
        reshape: sink.reshape.clone(),
        reload: None,
    };
    report.stopped.extend(b.stops.iter().cloned());
    let started = Instant::now();
    let newly_stopped = target.apply_batch(&b).await?;
    if let Some(m) = monitor {
        let counts: Vec<TableCounts> = b
            .tables
            .iter()
            .map(|t| TableCounts { table: t.table.clone(), inserts: t.inserts as u64, updates: t.updates as u64, deletes: t.deletes_count as u64 })
            .collect();
        let ddl: Vec<String> = b.ddl.iter().cloned().chain(b.schema_ddl.iter().map(|d| d.rename_to.clone().unwrap_or_else(|| d.table.clone()))).collect();
        m.emit(Event::Batch {
            transactions: b.transactions as u64,
            position: b.to.to_string(),
            source_time: b.source_time,
            apply_seconds: started.elapsed().as_secs_f64(),
            tables: counts,
            ddl,
        });
        for (t, e) in b.stops.iter().chain(newly_stopped.iter()) {
            m.emit(Event::Stopped { table: t.clone(), error: e.clone() });
        }
    }
    for (table, msg) in newly_stopped {
        if let Some(src) = tables
            .values()
            .find(|t| t.plan.target.name == table || b.schema_ddl.iter().any(|d| d.table == table && d.rename_to.as_deref() == Some(&t.plan.target.name)))
        {
            stopped.insert(src.plan.source.name.clone());
        }
        tracing::error!("sync stopped table {table}: {msg}");
        report.stopped.push((table, msg));
    }
    report.transactions += batch.transactions as u64;
    report.rows += rows;
    report.batches += 1;
    report.position = batch.to.to_string();
    *batch = Batch::new(batch.to.clone());
    Ok(())
}

/// A sync's stored status (`ferry status`) as the live page's view: what `ferry status --http`
/// serves when no sync runs. Counters are the state tables' totals across runs.
pub fn status_view(st: &ferry_target_postgres::sync_state::SyncStatus) -> ferry_monitor::View {
    use ferry_monitor::{TableState as S, TableView};
    use ferry_target_postgres::state::{SyncState, TableState};
    let cut_over = st.status == SyncState::CutOver;
    let tables = st
        .tables
        .iter()
        .map(|t| {
            let state = match t.status {
                _ if cut_over => S::CutOver,
                TableState::Stopped | TableState::NotSynced | TableState::Dropped => S::Stopped,
                TableState::Streaming => S::Streaming,
                TableState::Paused => S::Paused,
                TableState::Excluded => S::Excluded,
            };
            let error = match t.status {
                TableState::NotSynced | TableState::Dropped => Some(t.last_error.clone().unwrap_or_else(|| t.status.to_string())),
                _ => t.last_error.clone(),
            };
            let view = TableView {
                state,
                full_load_rows: t.full_load_rows.max(0) as u64,
                inserts: t.inserts.max(0) as u64,
                updates: t.updates.max(0) as u64,
                deletes: t.deletes.max(0) as u64,
                ddl: t.ddl.max(0) as u64,
                error,
                held: t.held.unwrap_or(0).max(0) as u64,
                ..Default::default()
            };
            (t.table.clone(), view)
        })
        .collect();
    ferry_monitor::View {
        state: if cut_over { "cut over".into() } else { String::new() },
        position: st.position.clone(),
        lag_seconds: st.lag_seconds.unwrap_or(0.0),
        transactions: st.transactions.max(0) as u64,
        rows: st.tables.iter().map(|t| (t.inserts + t.updates + t.deletes).max(0) as u64).sum(),
        backlog_bytes: st.source_backlog_bytes.map(|b| b.max(0) as u64),
        backlog_what: "WAL held by the slot".into(),
        tables,
        ..Default::default()
    }
}

fn model_error(schema: &str, e: serde_json::Error) -> SyncError {
    SyncError::Source(SourceError::new(
        ErrorKind::Definite,
        format!("ferry.sync_state holds a source model for schema \"{schema}\" this ferry cannot read ({e}): run `ferry migrate` and `ferry sync` again"),
    ))
}
