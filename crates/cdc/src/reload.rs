//! Online reload of one table (`ferry reload TABLE [--where …]`) while sync keeps streaming every
//! table, this one included.
//!
//! Guarantee, kept by [`Reloader`] with the engine loop: no change is lost and no stale row
//! overwrites a newer one. The table is re-read chunk by chunk (its stored chunk plan), each
//! chunk in a source snapshot whose position S in the change log is known. The chunk's rows are
//! held until the stream has reached S exactly: every source transaction that committed at or
//! before S is applied first (the chunk already holds its effect), then the chunk replaces the
//! rows it covers on the target (its rows upserted, covered rows it lacks deleted), then the
//! first transaction after S. So the table equals the source at S for the chunk's keys, and every
//! later change follows. The chunk, its progress and the batch position commit in one target
//! transaction: after a crash the reload goes on at the first chunk not recorded, in a new
//! snapshot. Sources that can give each chunk such a snapshot ([`CdcSource::reloads_online`],
//! [`CdcSource::chunk_source`]: MySQL's snapshot at its binlog position, PostgreSQL's temporary
//! slot per chunk at its consistent point) can reload; the others are refused with why. A held
//! chunk asks the stream for a commit past it ([`ferry_model::cdc::ChangeStream::nudge`]), so an
//! idle source does not keep it waiting.
//!
//! Continuous verify (`ferry sync --verify-every`) is the same chunk walk in compare mode
//! ([`Reloader::verifier`]): at the moment the target holds exactly the source at the chunk's
//! position, the chunk is compared with the target rows it covers instead of written — a
//! difference found there is real, never a change still in flight.

use crate::batch::TableApply;
use ferry_model::cdc::CdcSource;
use ferry_model::cdc::LogPosition;
use ferry_model::{ChunkRange, Row, Source};
use ferry_target_postgres::apply::{ApplyBatch, ReloadStep, TableBatch};
use ferry_target_postgres::sync_state::Reload;
use ferry_target_postgres::{quote_ident, PgTarget, TargetError};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Rows per reload chunk (held in memory until the stream reaches the chunk's position).
pub const RELOAD_CHUNK_ROWS: u64 = 5_000;

/// A chunk read, waiting for the stream to reach its position.
pub(crate) struct Held {
    pub at: LogPosition,
    pub rows: Vec<Row>,
    pub range: ChunkRange,
    /// The chunk's set-aside cells (None: the table has no column that sets cells aside).
    pub cells: Option<Vec<ferry_target_postgres::quarantine::QuarantineRow>>,
}

pub(crate) struct Reloader {
    pub table: String,
    /// Continuous verify (`ferry sync --verify-every`): the chunk is compared with the target
    /// when the stream is exactly at its position, not written.
    pub verify: bool,
    source_table: String,
    filter: Option<String>,
    chunks: Vec<ChunkRange>,
    next: usize,
    pub held: Option<Held>,
}

/// How often the engine looks for a new reload request.
pub(crate) const POLL: Duration = Duration::from_secs(1);

impl Reloader {
    /// Takes up `req` (planning its chunks unless stored). Err: the reload cannot run (the
    /// caller records why).
    pub(crate) async fn start<C: CdcSource>(
        source: &C,
        target: &PgTarget,
        schema: &str,
        req: Reload,
        tables: &HashMap<String, TableApply>,
    ) -> Result<Reloader, String> {
        let t = tables.values().find(|t| t.plan.target.name == req.table).ok_or_else(|| format!("table {} is not synced in schema \"{schema}\"", req.table))?;
        if let Some(why) = Self::refusal(source, t) {
            return Err(why);
        }
        let chunks: Vec<ChunkRange> = match &req.chunk_plan {
            Some(p) => serde_json::from_str(p).map_err(|e| format!("unreadable chunk plan of the reload: {e}"))?,
            None => {
                let snap = source.chunk_source(std::slice::from_ref(&t.plan.source)).await.map_err(|e| e.to_string())?;
                let c = snap.plan_chunks(&t.plan.source, RELOAD_CHUNK_ROWS).await.map_err(|e| e.to_string())?;
                if c.iter().any(|r| matches!(r, ChunkRange::Pages { .. })) {
                    return Err(format!("table {} has no integer key to read chunks by", req.table));
                }
                target.start_reload(schema, &req.table, &serde_json::to_string(&c).expect("chunks serialise")).await.map_err(|e| e.to_string())?;
                c
            }
        };
        Ok(Reloader {
            table: req.table,
            verify: false,
            source_table: t.plan.source.name.clone(),
            filter: req.filter,
            next: req.chunks_done.max(0) as usize,
            chunks,
            held: None,
        })
    }

    /// A verify pass over one table (nothing stored: a pass that stops is simply run again).
    pub(crate) async fn verifier<C: CdcSource>(source: &C, t: &TableApply) -> Result<Reloader, String> {
        let snap = source.chunk_source(std::slice::from_ref(&t.plan.source)).await.map_err(|e| e.to_string())?;
        let chunks = snap.plan_chunks(&t.plan.source, RELOAD_CHUNK_ROWS).await.map_err(|e| e.to_string())?;
        Ok(Reloader { table: t.plan.target.name.clone(), verify: true, source_table: t.plan.source.name.clone(), filter: None, next: 0, chunks, held: None })
    }

    /// Whether this source can read chunks at a position its stream reaches by a commit.
    pub(crate) fn supported<C: CdcSource>(source: &C) -> bool {
        source.reloads_online()
    }

    /// Why table `t` cannot be reloaded online, if it cannot: the one check a reload and an
    /// include (which asks a reload) both make.
    pub(crate) fn refusal<C: CdcSource>(source: &C, t: &TableApply) -> Option<String> {
        let table = &t.plan.target.name;
        if !Self::supported(source) {
            return Some("this source cannot reload a table online yet (its snapshots do not carry a position the change stream reaches by a commit); run `ferry migrate --if-exists drop` and `ferry sync` for the schema".into());
        }
        if t.key.is_empty() {
            return Some(format!("table {table} has no key: a reload cannot tell which target rows a chunk replaces"));
        }
        if t.plan.converter.quarantine {
            return Some(format!(
                "table {table} sets cells aside (ferry.quarantine): a reload cannot yet clear the entries of the rows it deletes; run `ferry migrate` for the schema again"
            ));
        }
        None
    }

    /// Chunks done and in all.
    pub(crate) fn progress(&self) -> (u64, u64) {
        (self.next as u64, self.chunks.len() as u64)
    }

    pub(crate) fn finished(&self) -> bool {
        self.held.is_none() && self.next >= self.chunks.len()
    }

    /// Reads the next chunk in a fresh snapshot and holds it.
    pub(crate) async fn read_next<C: CdcSource>(&mut self, source: &C, tables: &HashMap<String, TableApply>) -> Result<(), String> {
        let Some(range) = self.chunks.get(self.next).cloned() else { return Ok(()) };
        let t = tables.get(&self.source_table).ok_or_else(|| format!("table {} is no longer synced", self.table))?;
        let snap = source.chunk_source(std::slice::from_ref(&t.plan.source)).await.map_err(|e| e.to_string())?;
        let (mut readers, at) = snap.open_snapshot(1).await.map_err(|e| e.to_string())?;
        let at = at.position.ok_or("the source's snapshot has no log position")?;
        let at = crate::own_position(source, at).map_err(|e| e.to_string())?;
        let mut reader = readers.pop().ok_or("no snapshot reader")?;
        let raw = ferry_model::read_rows(&mut reader, &t.plan.source, &range).await.map_err(|e| e.to_string())?;
        let mut stats = ferry_plan::ConversionStats::default();
        let mut rows = Vec::with_capacity(raw.len());
        for (n, row) in raw.into_iter().enumerate() {
            rows.push(t.plan.converter.convert(row, n as u64 + 1, &mut stats).map_err(|e| format!("table {}, {}: {}", self.table, e.key, e.message))?);
        }
        let cells = t.plan.converter.quarantine.then(|| t.plan.quarantine_rows(&stats.quarantined));
        self.held = Some(Held { at, rows, range, cells });
        Ok(())
    }

    /// The held chunk as a batch at the committed position `at` (the stream has reached the
    /// chunk's position): its rows replace the rows it covers.
    pub(crate) fn batch(
        &mut self,
        schema: &str,
        at: &LogPosition,
        tables: &HashMap<String, TableApply>,
        reshape: Option<std::sync::Arc<ferry_target_postgres::reshape::Reshape>>,
    ) -> Option<ApplyBatch> {
        let held = self.held.take()?;
        let t = tables.get(&self.source_table)?;
        let key_col = t.key.first().map(|&k| quote_ident(&t.plan.target.columns[k].name)).unwrap_or_default();
        let range = match &held.range {
            ChunkRange::IntKey { .. } => held.range.key_condition(&key_col).unwrap_or_default().trim_start().trim_start_matches("WHERE").trim().to_string(),
            _ => String::new(),
        };
        let range = if range.is_empty() { "true".to_string() } else { range };
        let cover = match &self.filter {
            Some(f) => format!("({range}) AND ({f})"),
            None => range,
        };
        self.next += 1;
        let rows = held.rows.len() as i64;
        let tb = TableBatch {
            table: t.plan.target.name.clone(),
            columns: t.plan.target.columns.iter().map(|c| c.name.clone()).collect(),
            key: t.key.clone(),
            conflict: t.conflict.clone(),
            binary: t.plan.binary.clone(),
            upserts: held.rows,
            quarantine: held.cells,
            replace: Some(cover),
            only: self.filter.clone(),
            ..Default::default()
        };
        Some(ApplyBatch {
            schema: schema.to_string(),
            from: at.clone(),
            to: at.clone(),
            transactions: 0,
            source_time: 0,
            tables: vec![tb],
            stops: Vec::new(),
            ddl: Vec::new(),
            not_synced: Vec::new(),
            schema_ddl: Vec::new(),
            source_model: None,
            reshape,
            reload: Some(ReloadStep { table: self.table.clone(), chunks_done: self.next as i32, rows, done: self.next >= self.chunks.len() }),
        })
    }
}

/// When the engine last looked for a reload request.
pub(crate) struct Poll(pub Instant);

impl Poll {
    pub(crate) fn due(&mut self) -> bool {
        if self.0.elapsed() >= POLL {
            self.0 = Instant::now();
            true
        } else {
            false
        }
    }
}

/// Records that a reload cannot go on.
pub(crate) async fn fail(target: &PgTarget, schema: &str, table: &str, why: &str) -> Result<(), TargetError> {
    tracing::error!("reload of {table} failed: {why}");
    target.finish_reload(schema, table, Some(why)).await
}
