//! `ferry verify`: proves the target equals the source, table by table, and finds every
//! differing row.
//!
//! How equality is proven without moving rows: both databases compute, in their own SQL, the
//! same canonical text of every row (per column: integers and decimals as text at their scale,
//! text as stored, bytes as hex, dates and times in one fixed format in UTC, durations in
//! microseconds, sets comma-separated, bits as 0/1, geometry as WKB hex — through the same
//! renames, type mapping and zero-date rule as `migrate`, so a renamed column or a widened type
//! compares equal), hash each row (first 60 bits of SHA-256) and return, per key range, the row count
//! and the sum of the hashes. The sum does not depend on row order; equal data give equal sums,
//! and a difference changes the sum except with probability about 2^-60.
//!
//! Where a range differs, it is split in two by key and each half compared again (bisection),
//! down to ranges of at most `LEAF_ROWS` rows; those are fetched as canonical texts from both
//! sides and diffed by key: missing in the target, extra in the target, or changed (with the
//! columns that differ). Texts that differ are compared once more as values
//! ([`Canon::texts_equal`]): floats as f64 (engines print the same double differently), decimals
//! without trailing zeros, JSON re-normalised — so an equal value never reports as changed.
//!
//! JSON documents are the one thing no engine canonicalises cheaply in SQL; for tables with JSON
//! columns both sides stream per row the SQL-canonical text of the other columns and each
//! document's text, and ferry canonicalises the documents and hashes the rows itself with the
//! same function ([`ferry_model::canonical::StreamedRowHash`]). Verify installs nothing and
//! writes nothing in either database, except with `--repair`.
//!
//! Against a target a running `ferry sync` keeps changing ([`LiveSync`]), a difference may be a
//! change still in flight. A table that differs is then compared again once the sync has applied
//! the source up to a position read after the comparison ([`recheck_live`]), up to
//! [`LiveSync::rounds`] times; only keys that differ in every round are reported (a change in
//! flight has reached the target by the next round, a real difference stays).
//!
//! `--repair` deletes the differing keys from the target and inserts the source's rows through
//! the same row converter as `migrate`, in one transaction per table, then verifies the table
//! again. Tables without a usable key are compared as a whole (count + hash) and reported as
//! "compared without key".

pub mod objects;
mod report;
pub mod structure;

pub use report::{QuarantineVerify, TableStatus, TableVerify, VerifyReport};

use bytes::Bytes;
use ferry_model::canonical::{Canon, ColumnText, ZeroAs};
use ferry_model::{ChunkRange, DataType, ErrorKind, SourceError, VerifySource};
use ferry_plan::config::ZeroDatePolicy;
use ferry_plan::convert::Conversion;
use ferry_plan::{Plan, TablePlan};
use ferry_progress::{Progress, ProgressMode};
use ferry_target_postgres::ddl::PgType;
use ferry_target_postgres::verify as pgv;
use ferry_target_postgres::{copy_text, quote_ident, PgTarget, TargetError};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Ranges at most this big are diffed row by row instead of split further.
pub const LEAF_ROWS: u64 = 2000;
/// Sample keys kept per kind of difference in the report.
const SAMPLES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Target(#[from] TargetError),
}

impl VerifyError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            VerifyError::Source(e) => e.kind,
            VerifyError::Target(e) => e.kind,
        }
    }
}

/// A sync running against the target being verified: where the source's log is now, and how
/// far the target has applied it.
#[derive(Clone)]
pub struct LiveSync {
    /// The source's log position now (`CdcSource::current_position`).
    pub source_position: std::sync::Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, Result<ferry_model::cdc::LogPosition, SourceError>> + Send + Sync>,
    /// Comparisons of a differing table in all (the first included).
    pub rounds: usize,
    /// How long to wait for the sync to reach a position before reporting what differs then.
    pub wait: std::time::Duration,
}

impl std::fmt::Debug for LiveSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LiveSync {{ rounds: {}, wait: {:?} }}", self.rounds, self.wait)
    }
}

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub target_url: String,
    /// Chunks compared at once.
    pub workers: usize,
    pub chunk_rows: u64,
    pub repair: bool,
    pub postgis: bool,
    pub zero_dates: ZeroDatePolicy,
    pub progress: ProgressMode,
    /// A sync is applying changes to the target meanwhile: differing tables are re-checked.
    pub live: Option<LiveSync>,
    /// Also compare every converted view's rows on both sides (`--objects`).
    pub objects: bool,
}

/// How one column is compared.
fn canon_of(t: &TablePlan, i: usize, postgis: bool) -> Canon {
    let cc = &t.converter.columns[i];
    let src = &t.source.columns[cc.source_index];
    let zero = match cc.conversion {
        Conversion::Temporal { policy: ZeroDatePolicy::Null, .. } => ZeroAs::Null,
        Conversion::Temporal { policy: ZeroDatePolicy::NegInfinity, .. } => ZeroAs::NegInfinity,
        _ => ZeroAs::Kept,
    };
    canon_for(&src.data_type, &t.target.columns[i].ty, zero, postgis)
}

/// How a source value of `data_type` stored as target type `ty` is compared.
pub(crate) fn canon_for(data_type: &DataType, ty: &PgType, zero: ZeroAs, postgis: bool) -> Canon {
    let ty = match ty {
        PgType::Custom(s) => PgType::parse_known(s).unwrap_or_else(|| PgType::Custom(s.clone())),
        ty => ty.clone(),
    };
    // A type override to text (or one ferry does not know) compares the stored text.
    if matches!(ty, PgType::Custom(_) | PgType::Text | PgType::Varchar(_) | PgType::Char(_))
        && !matches!(data_type, DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. } | DataType::Enum { .. } | DataType::Uuid)
    {
        return Canon::Text;
    }
    match data_type {
        DataType::Bool => Canon::Bool,
        DataType::Int { .. } if matches!(ty, PgType::Boolean) => Canon::Bool,
        DataType::Int { .. } | DataType::Year => Canon::Integer,
        DataType::Decimal { scale, .. } => Canon::Decimal {
            scale: match ty {
                PgType::Numeric(Some((_, s))) if s == *scale => Some(*scale),
                PgType::SmallInt | PgType::Integer | PgType::BigInt if *scale == 0 => Some(0),
                _ => None,
            },
        },
        DataType::Float { .. } | DataType::Double { .. } => Canon::Float,
        DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. } | DataType::Enum { .. } | DataType::Uuid => Canon::Text,
        DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::Blob { .. } => Canon::Bytes,
        DataType::Date => Canon::Date { zero },
        // Every stored digit on both sides (a source's 100 ns digit the target lost shows).
        DataType::DateTime { fsp } | DataType::Timestamp { fsp } | DataType::DateTimeOffset { fsp } => Canon::DateTime { zero, digits: *fsp },
        DataType::Money { .. } => Canon::Decimal { scale: if matches!(ty, PgType::Numeric(Some((_, 4)))) { Some(4) } else { None } },
        DataType::Xml | DataType::Mixed { .. } => Canon::Text,
        DataType::Time { .. } => Canon::Duration,
        DataType::Json => Canon::Json,
        DataType::Set { .. } => Canon::Set,
        DataType::Bit { len } => Canon::Bits { len: *len },
        DataType::Geometry { .. } => Canon::Geometry { postgis },
        DataType::Unsupported { .. } | DataType::Native { .. } => Canon::Text,
    }
}

/// The SQL both sides run for one table.
struct TableSql {
    /// Canonical key texts (source, target).
    key_src: Vec<String>,
    key_tgt: Vec<ColumnText>,
    /// What `--repair` compares key texts with (source, target): the bare column where the
    /// database compares it with the canonical text as a literal correctly (so the key's index
    /// serves), else the canonical expression.
    key_match_src: Vec<String>,
    key_match_tgt: Vec<String>,
    /// Canonical texts of every column (source, target), their names and kinds.
    src: Vec<ColumnText>,
    tgt: Vec<ColumnText>,
    names: Vec<String>,
    canons: Vec<Canon>,
    /// Target column of the chunking key.
    chunk_column: Option<String>,
}

fn table_sql<S: VerifySource>(source: &S, t: &TablePlan, postgis: bool) -> TableSql {
    let mut s = TableSql {
        key_src: vec![],
        key_tgt: vec![],
        key_match_src: vec![],
        key_match_tgt: vec![],
        src: vec![],
        tgt: vec![],
        names: vec![],
        canons: vec![],
        chunk_column: None,
    };
    for i in 0..t.target.columns.len() {
        let canon = canon_of(t, i, postgis);
        let src_col = &t.source.columns[t.converter.columns[i].source_index];
        let tgt_col = quote_ident(&t.target.columns[i].name);
        s.src.push(ColumnText { sql: source.canonical_expr(src_col, canon), nullable: src_col.nullable, json: canon == Canon::Json });
        s.tgt.push(pgv::canonical_expr(&tgt_col, canon, src_col.nullable));
        s.names.push(t.target.columns[i].name.clone());
        s.canons.push(canon);
    }
    for k in &t.converter.key {
        if let Some(i) = t.converter.columns.iter().position(|c| c.source_index == k.source_index) {
            let canon = canon_of(t, i, postgis);
            let src_col = &t.source.columns[k.source_index];
            let (sc, tc) = (source.quote(&k.name), quote_ident(&t.target.columns[i].name));
            s.key_src.push(source.canonical_expr(src_col, canon));
            s.key_tgt.push(pgv::canonical_expr(&tc, canon, src_col.nullable));
            let literal_ok = matches!(canon, Canon::Integer | Canon::Decimal { .. } | Canon::Text | Canon::Date { .. } | Canon::DateTime { .. });
            s.key_match_src.push(if literal_ok { sc } else { s.key_src.last().unwrap().clone() });
            s.key_match_tgt.push(if literal_ok || canon == Canon::Bool { tc } else { s.key_tgt.last().unwrap().sql.clone() });
        }
    }
    if let Some(pk) = &t.source.primary_key {
        if pk.columns.len() == 1 {
            if let Some(i) = t.converter.columns.iter().position(|c| t.source.columns[c.source_index].name == pk.columns[0]) {
                if matches!(t.source.columns[t.converter.columns[i].source_index].data_type, DataType::Int { .. }) {
                    s.chunk_column = Some(t.target.columns[i].name.clone());
                }
            }
        }
    }
    s
}

/// Differences found in one table.
#[derive(Default, Clone)]
struct Diffs {
    missing: Vec<Vec<String>>,
    extra: Vec<Vec<String>>,
    changed: Vec<(Vec<String>, Vec<String>)>,
}

/// Verifies every table of the plan (and repairs when asked).
pub async fn verify<S: VerifySource>(source: Arc<S>, target_url: &str, plan: Arc<Plan>, opts: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let started = Instant::now();
    let target = PgTarget::connect(target_url).await?;
    let progress = Progress::new("verifying", opts.progress, &plan.tables.iter().map(|t| (t.target.name.clone(), t.source.estimated_rows)).collect::<Vec<_>>());
    let ticker = progress.ticker(std::time::Duration::from_secs(5));
    let result = verify_all(&*source, &target, &plan, opts, &progress).await;
    if let Some(t) = ticker {
        t.abort();
    }
    progress.finish();
    let tables = result?;
    let structure = structure::unmet_structure(&target, &plan).await?;
    let mut report = VerifyReport::new(&plan, tables, structure, started.elapsed().as_secs_f64());
    if opts.objects {
        report.add_objects(objects::verify_objects(&*source, &target, &plan, opts.postgis).await?);
    }
    // The landing is proven against the source above; each reshaped table is proven against
    // its mapping evaluated on that landing, in the target itself.
    if let Some(r) = &plan.reshape {
        let mut results = target.reshape_verify(r).await?;
        // --repair: reshaped tables that differ, or whose landing rows were repaired, are
        // rebuilt whole from the landing (they are derived from it alone), then proven again.
        let differs = results.iter().any(|x| x.error.is_some() || x.missing != Some(0) || x.extra != Some(0));
        if opts.repair && (differs || report.tables.iter().any(|t| t.repaired > 0)) {
            let rebuilt = target.reshape_load(r, true).await?;
            if let Some(failed) = rebuilt.iter().find_map(|x| x.error.as_ref()) {
                tracing::error!("rebuilding the reshaped tables for --repair: {failed}");
            }
            results = target.reshape_verify(r).await?;
        }
        report.add_reshape(results);
        report.seconds = started.elapsed().as_secs_f64();
    }
    Ok(report)
}

async fn verify_all<S: VerifySource>(
    source: &S,
    target: &PgTarget,
    plan: &Plan,
    opts: &VerifyOptions,
    progress: &Progress,
) -> Result<Vec<TableVerify>, VerifyError> {
    let mut tables = Vec::new();
    for (i, t) in plan.tables.iter().enumerate() {
        let (mut r, diffs) = verify_table_diffs(source, target, t, opts, (progress, i)).await?;
        if let (Some(live), TableStatus::Differs) = (&opts.live, r.status) {
            r = recheck_live(source, target, &plan.target_schema, t, opts, live, (progress, i), r, diffs).await?;
        }
        if opts.repair && r.status == TableStatus::Differs {
            let diffs = std::mem::take(&mut r.diff_keys);
            let repaired = repair_table(source, target, t, opts, &diffs).await?;
            progress.println(&format!("{}: repaired {repaired} rows, verifying again", t.target.qualified()));
            let mut again = verify_table(source, target, t, opts, (progress, i)).await?;
            again.repaired = repaired;
            again.before_repair = Some(Box::new(r));
            r = again;
        }
        progress.table_done(i);
        tables.push(r);
    }
    Ok(tables)
}

/// A differing table of a live sync, compared again after the sync has applied the source up to
/// a position read after the last comparison: keys that differed every time are reported, with
/// the last comparison's values; none left, the table is equal. Should the sync not get there
/// within [`LiveSync::wait`], what differs then is reported as it is.
#[allow(clippy::too_many_arguments)]
async fn recheck_live<S: VerifySource>(
    source: &S,
    target: &PgTarget,
    schema: &str,
    t: &TablePlan,
    opts: &VerifyOptions,
    live: &LiveSync,
    progress: (&Progress, usize),
    mut r: TableVerify,
    mut persistent: Diffs,
) -> Result<TableVerify, VerifyError> {
    for _ in 1..live.rounds.max(1) {
        let at = (live.source_position)().await?;
        let deadline = Instant::now() + live.wait;
        loop {
            match target.sync_position(schema).await? {
                Some(p) if p >= at => break,
                _ if Instant::now() >= deadline => {
                    progress.0.println(&format!(
                        "{}: the running sync did not reach the source's position {at} within {:?}; reporting what differs now",
                        t.target.qualified(),
                        live.wait
                    ));
                    return Ok(r);
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
        let (again, diffs) = verify_table_diffs(source, target, t, opts, progress).await?;
        let seen: std::collections::HashSet<&Vec<String>> =
            persistent.missing.iter().chain(&persistent.extra).chain(persistent.changed.iter().map(|(k, _)| k)).collect();
        let kept = Diffs {
            missing: diffs.missing.iter().filter(|k| seen.contains(k)).cloned().collect(),
            extra: diffs.extra.iter().filter(|k| seen.contains(k)).cloned().collect(),
            changed: diffs.changed.iter().filter(|(k, _)| seen.contains(k)).cloned().collect(),
        };
        r = again;
        summarize(&mut r, kept.clone());
        persistent = kept;
        if r.status == TableStatus::Equal {
            break;
        }
    }
    Ok(r)
}

/// `progress`: the display and this table's index in it.
async fn verify_table<S: VerifySource>(
    source: &S,
    target: &PgTarget,
    t: &TablePlan,
    opts: &VerifyOptions,
    progress: (&Progress, usize),
) -> Result<TableVerify, VerifyError> {
    Ok(verify_table_diffs(source, target, t, opts, progress).await?.0)
}

/// The table's comparison, and the differences it found (key by key).
async fn verify_table_diffs<S: VerifySource>(
    source: &S,
    target: &PgTarget,
    t: &TablePlan,
    opts: &VerifyOptions,
    progress: (&Progress, usize),
) -> Result<(TableVerify, Diffs), VerifyError> {
    let started = Instant::now();
    let mut r = TableVerify::new(t);
    let qualified = t.target.qualified();
    if !target.table_exists(&qualified).await? {
        r.status = TableStatus::MissingTable;
        return Ok((r, Diffs::default()));
    }
    let sql = table_sql(source, t, opts.postgis);
    if sql.key_src.is_empty() {
        // No usable key: the whole table, count and hash over every column.
        let (a, b) = tokio::join!(source.chunk_hash(&t.source, &sql.src, &ChunkRange::All), target.chunk_hash(&qualified, &sql.tgt, ""));
        let ((sc, sh), (tc, th)) = (a?, b?);
        r.source_rows = sc;
        r.target_rows = tc;
        r.chunks = 1;
        progress.0.rows(progress.1, sc);
        r.status = if sc == tc && sh == th { TableStatus::EqualWithoutKey } else { TableStatus::DiffersWithoutKey };
        r.quarantine = verify_quarantine(source, target, t, &sql, opts.chunk_rows).await?;
        r.seconds = started.elapsed().as_secs_f64();
        return Ok((r, Diffs::default()));
    }
    let ranges = match (&sql.chunk_column, &t.source.primary_key) {
        // A table small enough for one chunk comes back as `All`; as an open key range it can
        // still be bisected when it differs, instead of being diffed row by row whole.
        (Some(_), Some(pk)) => source
            .plan_chunks(&t.source, opts.chunk_rows.max(1))
            .await?
            .into_iter()
            .map(|r| match r {
                ChunkRange::All => ChunkRange::IntKey { column: pk.columns[0].clone(), lo: None, hi: None },
                r => r,
            })
            .collect(),
        _ => vec![ChunkRange::All],
    };
    // Chunks in parallel, each on its own target connection.
    let results: Vec<Result<RangeResult, VerifyError>> = futures_util::stream::iter(ranges.into_iter().map(|range| {
        let sql = &sql;
        async move {
            let conn = PgTarget::connect(&opts.target_url).await?;
            // Chunks already run in parallel; parallel workers per chunk only add overhead.
            conn.batch("SET max_parallel_workers_per_gather = 0").await?;
            verify_range(source, &conn, t, sql, range, progress).await
        }
    }))
    .buffer_unordered(opts.workers.max(1))
    .collect()
    .await;
    let mut diffs = Diffs::default();
    for res in results {
        let rr = res?;
        r.source_rows += rr.source_rows;
        r.target_rows += rr.target_rows;
        r.chunks += rr.chunks;
        r.bisections += rr.bisections;
        r.rows_diffed += rr.rows_diffed;
        diffs.missing.extend(rr.diffs.missing);
        diffs.extra.extend(rr.diffs.extra);
        diffs.changed.extend(rr.diffs.changed);
    }
    summarize(&mut r, diffs.clone());
    r.quarantine = verify_quarantine(source, target, t, &sql, opts.chunk_rows).await?;
    r.seconds = started.elapsed().as_secs_f64();
    Ok((r, diffs))
}

/// Counts, samples, changed columns, status and keys of `r` from `diffs`.
fn summarize(r: &mut TableVerify, mut diffs: Diffs) {
    diffs.missing.sort_by(|a, b| key_order(a, b));
    diffs.extra.sort_by(|a, b| key_order(a, b));
    diffs.changed.sort_by(|a, b| key_order(&a.0, &b.0));
    r.missing = diffs.missing.len() as u64;
    r.extra = diffs.extra.len() as u64;
    r.changed = diffs.changed.len() as u64;
    r.sample_missing = diffs.missing.iter().take(SAMPLES).map(|k| k.join(",")).collect();
    r.sample_extra = diffs.extra.iter().take(SAMPLES).map(|k| k.join(",")).collect();
    r.sample_changed = diffs.changed.iter().take(SAMPLES).map(|(k, c)| (k.join(","), c.clone())).collect();
    let mut cols: BTreeMap<String, u64> = BTreeMap::new();
    for (_, c) in &diffs.changed {
        for name in c {
            *cols.entry(name.clone()).or_default() += 1;
        }
    }
    r.changed_columns = cols;
    r.status = if r.missing + r.extra + r.changed == 0 { TableStatus::Equal } else { TableStatus::Differs };
    r.diff_keys = diffs.missing.into_iter().chain(diffs.extra).chain(diffs.changed.into_iter().map(|(k, _)| k)).collect();
}

/// The cells `t`'s column rules set aside on the source now (by the source's own SQL over the
/// stored cells) against the entries of `ferry.quarantine`, as multisets of (target column, row
/// key, storage class, raw value): each set-aside cell must be listed under its row with the
/// value it holds, and nothing else. A table without a key is compared without the row key (its
/// entries are named by load position). Read chunk by chunk like the rows, so memory does not
/// grow with the table. None: no column of `t` sets cells aside.
async fn verify_quarantine<S: VerifySource>(
    source: &S,
    target: &PgTarget,
    t: &TablePlan,
    sql: &TableSql,
    chunk_rows: u64,
) -> Result<Option<QuarantineVerify>, VerifyError> {
    let keys = sql.key_src.len();
    let mut columns = Vec::new();
    let mut exprs = sql.key_src.clone();
    for c in &t.source.columns {
        if let (Some([class, raw]), Some(target_column)) = (source.set_aside_exprs(c), t.target_column_of(&c.name)) {
            columns.push(target_column.to_string());
            exprs.push(class);
            exprs.push(raw);
        }
    }
    if columns.is_empty() {
        return Ok(None);
    }
    let ranges = source.plan_chunks(&t.source, chunk_rows.max(1)).await?;
    let mut on_source: BTreeMap<(String, String, String, String), i64> = BTreeMap::new();
    for range in &ranges {
        for row in source.canonical_rows(&t.source, &exprs, range).await? {
            let key = if keys > 0 { ferry_model::canonical::key_text(row[..keys].iter().cloned()) } else { String::new() };
            for (i, column) in columns.iter().enumerate() {
                if let (Some(class), Some(raw)) = (&row[keys + 2 * i], &row[keys + 2 * i + 1]) {
                    *on_source.entry((column.clone(), key.clone(), class.clone(), raw.clone())).or_default() += 1;
                }
            }
        }
    }
    let source_cells = on_source.values().sum::<i64>() as u64;
    let listed = target.quarantine_of(&t.target.schema, &t.target.name).await?;
    let mut q = QuarantineVerify { source_cells, listed: listed.len() as u64, ..Default::default() };
    let shown = |column: &str, key: &str, raw: &str| if key.is_empty() { format!("{column}: {raw}") } else { format!("{column} {key}: {raw}") };
    for (column, key, class, raw) in listed {
        let key = if keys > 0 { key } else { String::new() };
        match on_source.get_mut(&(column.clone(), key.clone(), class, raw.clone())) {
            Some(n) if *n > 0 => *n -= 1,
            _ => q.stale.push(shown(&column, &key, &raw)),
        }
    }
    for ((column, key, _, raw), n) in on_source {
        for _ in 0..n {
            q.unlisted.push(shown(&column, &key, &raw));
        }
    }
    q.unlisted.truncate(SAMPLES);
    q.stale.truncate(SAMPLES);
    Ok(Some(q))
}

/// Orders keys column by column, numerically where both texts are integers (so 2 < 10).
fn key_order(a: &[String], b: &[String]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.parse::<i128>(), y.parse::<i128>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            _ => x.cmp(y),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

#[derive(Default)]
struct RangeResult {
    source_rows: u64,
    target_rows: u64,
    chunks: u64,
    bisections: u64,
    rows_diffed: u64,
    diffs: Diffs,
}

/// Compares one key range: hashes on both sides at once; on a mismatch, halves (bisection) down
/// to `LEAF_ROWS`, then diffs the rows.
async fn verify_range<S: VerifySource>(
    source: &S,
    target: &PgTarget,
    t: &TablePlan,
    sql: &TableSql,
    range: ChunkRange,
    progress: (&Progress, usize),
) -> Result<RangeResult, VerifyError> {
    let mut out = RangeResult::default();
    let mut stack = vec![range];
    let qualified = t.target.qualified();
    while let Some(range) = stack.pop() {
        let cond = match &sql.chunk_column {
            Some(c) => pgv::range_condition(&range, c),
            None => String::new(),
        };
        let (a, b) = tokio::join!(source.chunk_hash(&t.source, &sql.src, &range), target.chunk_hash(&qualified, &sql.tgt, &cond));
        let ((sc, sh), (tc, th)) = (a?, b?);
        out.chunks += 1;
        if sc == tc && sh == th {
            out.source_rows += sc;
            out.target_rows += tc;
            progress.0.rows(progress.1, sc);
            continue;
        }
        if sc.max(tc) > LEAF_ROWS {
            if let Some((lo, hi)) = split(&range, source, target, t, sql).await? {
                out.bisections += 1;
                stack.push(hi);
                stack.push(lo);
                continue;
            }
        }
        out.source_rows += sc;
        out.target_rows += tc;
        progress.0.rows(progress.1, sc);
        out.rows_diffed += sc.max(tc);
        diff_rows(source, target, t, sql, &range, &cond, &mut out.diffs).await?;
    }
    Ok(out)
}

/// Splits an integer-key range at the midpoint of the keys present on either side.
async fn split<S: VerifySource>(
    range: &ChunkRange,
    source: &S,
    target: &PgTarget,
    t: &TablePlan,
    sql: &TableSql,
) -> Result<Option<(ChunkRange, ChunkRange)>, VerifyError> {
    let ChunkRange::IntKey { column, lo, hi } = range else { return Ok(None) };
    let tcol = sql.chunk_column.as_deref().unwrap_or_default();
    // Bounds of the keys actually present, on both sides.
    let (s_min, s_max) = source.key_bounds(&t.source, column, range).await?;
    let q = quote_ident(tcol);
    let t_rows = target
        .canonical_rows(
            &t.target.qualified(),
            &[ColumnText::sql(format!("min({q})::text")), ColumnText::sql(format!("max({q})::text"))],
            &pgv::range_condition(range, tcol),
        )
        .await?;
    let parse = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<i128>().ok());
    let mins = [s_min, t_rows.first().and_then(|r| parse(&r[0]))];
    let maxs = [s_max, t_rows.first().and_then(|r| parse(&r[1]))];
    let (Some(min), Some(max)) = (mins.iter().flatten().min().copied(), maxs.iter().flatten().max().copied()) else { return Ok(None) };
    if max <= min {
        return Ok(None);
    }
    let mid = min + (max - min) / 2;
    Ok(Some((ChunkRange::IntKey { column: column.clone(), lo: *lo, hi: Some(mid) }, ChunkRange::IntKey { column: column.clone(), lo: Some(mid), hi: *hi })))
}

fn by_key(rows: Vec<Vec<Option<String>>>, nkey: usize) -> BTreeMap<Vec<String>, Vec<Option<String>>> {
    rows.into_iter()
        .map(|mut r| {
            let rest = r.split_off(nkey);
            (r.into_iter().map(|k| k.unwrap_or_else(|| "NULL".into())).collect(), rest)
        })
        .collect()
}

async fn diff_rows<S: VerifySource>(
    source: &S,
    target: &PgTarget,
    t: &TablePlan,
    sql: &TableSql,
    range: &ChunkRange,
    cond: &str,
    diffs: &mut Diffs,
) -> Result<(), VerifyError> {
    let nkey = sql.key_src.len();
    let mut se = sql.key_src.clone();
    se.extend(sql.src.iter().map(|c| c.sql.clone()));
    let mut te = sql.key_tgt.clone();
    te.extend(sql.tgt.iter().cloned());
    let qualified = t.target.qualified();
    let (a, b) = tokio::join!(source.canonical_rows(&t.source, &se, range), target.canonical_rows(&qualified, &te, cond));
    let s = by_key(a?, nkey);
    let tg = by_key(b?, nkey);
    for (k, sv) in &s {
        match tg.get(k) {
            None => diffs.missing.push(k.clone()),
            Some(tv) => {
                let cols: Vec<String> =
                    (0..sql.names.len()).filter(|&i| !sql.canons[i].texts_equal(sv[i].as_deref(), tv[i].as_deref())).map(|i| sql.names[i].clone()).collect();
                if !cols.is_empty() {
                    diffs.changed.push((k.clone(), cols));
                }
            }
        }
    }
    for k in tg.keys() {
        if !s.contains_key(k) {
            diffs.extra.push(k.clone());
        }
    }
    Ok(())
}

/// Deletes the differing keys from the target and copies the source's rows for them, in one
/// transaction. Returns the number of keys repaired.
async fn repair_table<S: VerifySource>(source: &S, target: &PgTarget, t: &TablePlan, opts: &VerifyOptions, keys: &[Vec<String>]) -> Result<u64, VerifyError> {
    if keys.is_empty() {
        return Ok(0);
    }
    let sql = table_sql(source, t, opts.postgis);
    let mut rows = Vec::new();
    for batch in keys.chunks(500) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let read = source.read_keys(&t.source, &sql.key_match_src, batch, tx);
        let collect = async {
            let mut out = Vec::new();
            while let Some(b) = rx.recv().await {
                out.extend(b);
            }
            out
        };
        let (res, got) = tokio::join!(read, collect);
        res?;
        rows.extend(got);
    }
    let mut buf = Vec::new();
    let mut stats = ferry_plan::ConversionStats::default();
    for (n, row) in rows.into_iter().enumerate() {
        let converted = t
            .converter
            .convert(row, n as u64 + 1, &mut stats)
            .map_err(|e| SourceError::new(ErrorKind::BadData, format!("repairing {}: {}: {}", t.target.qualified(), e.key, e.message)))?;
        copy_text::encode_row(&converted, &mut buf)
            .map_err(|(_, e)| SourceError::new(ErrorKind::BadData, format!("repairing {}: {e}", t.target.qualified())))?;
    }
    let tuples: Vec<String> =
        keys.iter().map(|k| format!("({})", k.iter().map(|v| ferry_target_postgres::quote_literal(v)).collect::<Vec<_>>().join(", "))).collect();
    let qualified = t.target.qualified();
    target.batch("BEGIN").await?;
    let result = async {
        // ferry's own writes do not fire the target's triggers or FK checks (as in CDC apply).
        target.batch("SAVEPOINT r").await?;
        if target.batch(ferry_target_postgres::apply::REPLICA_LOCAL).await.is_err() {
            target.batch("ROLLBACK TO SAVEPOINT r").await?;
        }
        target.batch("RELEASE SAVEPOINT r").await?;
        for chunk in tuples.chunks(1000) {
            target.exec(&format!("DELETE FROM {} WHERE ({}) IN ({})", target.only(&qualified).await?, sql.key_match_tgt.join(", "), chunk.join(", "))).await?;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(Ok(Bytes::from(buf))).await.ok();
        drop(tx);
        target.copy_in(&t.copy_sql(false), rx).await?;
        target.batch("COMMIT").await
    }
    .await;
    if let Err(e) = result {
        let _ = target.batch("ROLLBACK").await;
        return Err(e.into());
    }
    Ok(keys.len() as u64)
}
