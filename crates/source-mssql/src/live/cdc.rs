//! `ferry sync` from SQL Server's change data capture: each table's capture instance is polled
//! with `cdc.fn_cdc_get_all_changes_<instance>(from, to, N'all update old')`.
//!
//! Guarantees and why:
//! - **Source transaction order, whole transactions** ([`changes`]): rows of every table are
//!   merged by `__$start_lsn` (the commit LSN: one per source transaction), then `__$seqval` and
//!   `__$operation`; each LSN's rows end with one `Commit` at that LSN, and an update's before
//!   (3) and after (4) rows become one update. A poll that had to stop early (a bounded read)
//!   keeps only transactions it read whole ([`MsChangeStream::poll`]).
//! - **Exactly once across restarts**: the position is the commit LSN of the last transaction
//!   applied, committed with its rows by the engine; a restart reads from the LSN after it
//!   (`sys.fn_cdc_increment_lsn`).
//! - **Never a silent gap** ([`purged`]): a saved LSN older than what the cleanup job kept for a
//!   capture instance (`sys.fn_cdc_get_min_lsn`), or a capture instance created after it, stops
//!   that table with "reload it"; a DDL change recorded in `cdc.ddl_history` stops the table
//!   at that LSN with what to do (SQL Server's capture instance keeps the old column list).
//! - **Idle progress**: with nothing of ours to apply, the stream still commits the LSN it read
//!   up to (at most every few seconds), so the cleanup job's low-water mark never overtakes it
//!   and cutover can prove it caught up.
//! - **The snapshot hand-off**: the full load of a sync reads the maximum LSN *before* its first
//!   table is scanned ([`super::MsSource::open_snapshot`]); every change after it is replayed
//!   over the loaded rows, which the engine applies by key (upsert / delete), so a change the
//!   snapshot already holds is applied again to the same effect.
//!
//! Written against SQL Server's documentation; Babelfish (ferry's TDS stand-in) has no change
//! data capture, so only the functions below ran in tests, on recorded rows.

use super::conn::{map_error, quote_ident, quote_str, MsClient};
use super::read::{select_expr, value_of};
use super::MsSource;
use ferry_model::cdc::{CdcSource, ChangeEvent, ChangeStream, LogPosition, PreflightCheck, RowChange};
use ferry_model::{ErrorKind, Row, Source, SourceError, Table};
use futures_util::TryStreamExt;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tiberius::ColumnData;

/// Rows one poll reads of one table at most (a larger source transaction is read whole).
const POLL_ROWS: usize = 20_000;
/// How often an idle stream commits the LSN it read up to.
const IDLE_COMMIT: Duration = Duration::from_secs(5);

fn definite(msg: impl Into<String>) -> SourceError {
    SourceError::new(ErrorKind::Definite, msg.into())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// An LSN (`binary(10)`) as a position: `0x0000002A000001F40003`, ordered by its bytes.
pub fn position(lsn: &[u8]) -> LogPosition {
    LogPosition::new(super::KIND, format!("0x{}", hex(lsn)), lsn.to_vec())
}

pub fn parse_position(text: &str) -> Option<LogPosition> {
    let h = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))?;
    if h.len() != 20 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..20).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok()).collect();
    bytes.map(|b| position(&b))
}

/// One row of a capture instance's change function.
#[derive(Debug, Clone, PartialEq)]
pub struct CdcRow {
    pub table: String,
    pub lsn: Vec<u8>,
    pub seqval: Vec<u8>,
    /// 1 delete, 2 insert, 3 update (before), 4 update (after).
    pub operation: i32,
    /// Seconds since the Unix epoch of the transaction's commit.
    pub time: u64,
    pub row: Row,
}

/// Change rows of any tables → events in source transaction order, a `Commit` after each LSN.
pub fn changes(mut rows: Vec<CdcRow>) -> Result<Vec<ChangeEvent>, String> {
    rows.sort_by(|a, b| (&a.lsn, &a.seqval, a.operation).cmp(&(&b.lsn, &b.seqval, b.operation)));
    let mut out = Vec::new();
    let mut before: Option<CdcRow> = None;
    let mut i = 0;
    while i < rows.len() {
        let r = rows[i].clone();
        i += 1;
        match r.operation {
            1 => out.push(ChangeEvent::Row { table: r.table.clone(), change: RowChange::Delete(r.row.clone()) }),
            2 => out.push(ChangeEvent::Row { table: r.table.clone(), change: RowChange::Insert(r.row.clone()) }),
            3 => {
                if before.is_some() {
                    return Err(format!("table {}: two update-before rows in a row at LSN 0x{}", r.table, hex(&r.lsn)));
                }
                before = Some(r.clone());
            }
            4 => {
                let b = before.take().filter(|b| b.table == r.table && b.seqval == r.seqval && b.lsn == r.lsn).ok_or_else(|| {
                    format!(
                        "table {}: an update without its before image at LSN 0x{} (was the capture instance read with N'all update old'?)",
                        r.table,
                        hex(&r.lsn)
                    )
                })?;
                out.push(ChangeEvent::Row { table: r.table.clone(), change: RowChange::Update { before: b.row, after: r.row.clone() } });
            }
            other => return Err(format!("table {}: unknown __$operation {other}", r.table)),
        }
        let last_of_lsn = rows.get(i).is_none_or(|n| n.lsn != r.lsn);
        if last_of_lsn {
            if let Some(b) = &before {
                return Err(format!("table {}: an update's before image without its after image at LSN 0x{}", b.table, hex(&b.lsn)));
            }
            out.push(ChangeEvent::Commit { position: position(&r.lsn), time: r.time });
        }
    }
    Ok(out)
}

/// Whether changes from `from_lsn` on are still held by a capture instance whose validity
/// starts at `min_lsn`: Some(message) when some are gone.
pub fn purged(table: &str, instance: &str, from_lsn: &[u8], min_lsn: &[u8]) -> Option<String> {
    (min_lsn > from_lsn).then(|| {
        format!(
            "SQL Server no longer holds the changes of table {table} after the saved position: capture instance {instance} starts at 0x{} (its cleanup job purged older changes, or it was created later); reload the table (`ferry reload {table}`)",
            hex(min_lsn)
        )
    })
}

/// The statements that enable change data capture for `tables` of `schema` (printed by the
/// preflight and by errors).
pub fn enable_statements(schema: &str, tables: &[String]) -> Vec<String> {
    tables
        .iter()
        .map(|t| {
            format!(
                "EXEC sys.sp_cdc_enable_table @source_schema = {}, @source_name = {}, @role_name = NULL, @supports_net_changes = 0;",
                quote_str(schema),
                quote_str(t)
            )
        })
        .collect()
}

/// The change capture of one SQL Server source.
pub struct MsCdc {
    pub source: Arc<MsSource>,
}

fn binary(r: &tiberius::Row, i: usize) -> Option<Vec<u8>> {
    match r.cells().nth(i).map(|(_, c)| c) {
        Some(ColumnData::Binary(Some(b))) => Some(b.to_vec()),
        _ => None,
    }
}

async fn rows_of(c: &mut MsClient, sql: &str) -> Result<Vec<tiberius::Row>, SourceError> {
    c.simple_query(sql).await.map_err(map_error)?.into_first_result().await.map_err(map_error)
}

impl MsSource {
    /// The current maximum LSN of change data capture (None: CDC not enabled on the database).
    pub(crate) async fn max_lsn(c: &mut MsClient) -> Result<Option<Vec<u8>>, SourceError> {
        let rows = rows_of(c, "SELECT sys.fn_cdc_get_max_lsn()").await?;
        Ok(rows.first().and_then(|r| binary(r, 0)).filter(|b| b.iter().any(|x| *x != 0)))
    }

    /// Each table's newest capture instance: table → (instance, its captured column names).
    async fn capture_instances(&self, c: &mut MsClient) -> Result<HashMap<String, (String, Vec<String>)>, SourceError> {
        let sql = format!(
            "SELECT t.name, ct.capture_instance, cc.column_name FROM cdc.change_tables ct \
             JOIN sys.tables t ON t.object_id = ct.source_object_id JOIN sys.schemas s ON s.schema_id = t.schema_id \
             JOIN cdc.captured_columns cc ON cc.object_id = ct.object_id \
             WHERE s.name = {} ORDER BY t.name, ct.create_date DESC, cc.column_ordinal",
            quote_str(&self.schema)
        );
        let rows = rows_of(c, &sql).await?;
        let mut out: HashMap<String, (String, Vec<String>)> = HashMap::new();
        for r in &rows {
            let (Some(t), Some(inst), Some(col)) = (super::text(r, 0), super::text(r, 1), super::text(r, 2)) else { continue };
            let e = out.entry(t).or_insert_with(|| (inst.clone(), Vec::new()));
            // The newest instance comes first; an older one's columns are not mixed in.
            if e.0 == inst {
                e.1.push(col);
            }
        }
        Ok(out)
    }

    /// Tables of `tables` without a capture instance covering every column, with why.
    async fn uncaptured(&self, c: &mut MsClient, tables: &[Table]) -> Result<Vec<(String, String)>, SourceError> {
        let instances = self.capture_instances(c).await?;
        let mut out = Vec::new();
        for t in tables {
            match instances.get(&t.name) {
                None => out.push((t.name.clone(), "no capture instance".to_string())),
                Some((inst, cols)) => {
                    // A keep_offset companion is read from its datetimeoffset column.
                    let missing: Vec<&str> = t
                        .columns
                        .iter()
                        .filter(|c| !c.stored_as.as_deref().is_some_and(|s| s.starts_with(super::read::TZ_OFFSET)))
                        .filter(|c| !cols.iter().any(|x| x.eq_ignore_ascii_case(&c.name)))
                        .map(|c| c.name.as_str())
                        .collect();
                    if !missing.is_empty() {
                        out.push((t.name.clone(), format!("capture instance {inst} does not capture {}", missing.join(", "))));
                    }
                }
            }
        }
        Ok(out)
    }
}

impl CdcSource for MsCdc {
    type Stream = MsChangeStream;
    type Snapshot = MsSource;

    fn position_kind(&self) -> &'static str {
        super::KIND
    }

    fn parse_position(&self, text: &str) -> Option<LogPosition> {
        parse_position(text)
    }

    async fn preflight(&self) -> Result<Vec<PreflightCheck>, SourceError> {
        let s = &self.source;
        let mut c = s.client().await?;
        let mut checks = Vec::new();
        let check = |name: &str, ok: bool, detail: String, warning_only: bool| PreflightCheck { name: name.into(), ok, detail, warning_only };
        let db = rows_of(
            &mut c,
                            "SELECT CAST(SERVERPROPERTY('EngineEdition') AS int), CAST(SERVERPROPERTY('Edition') AS nvarchar(128)), CAST(is_cdc_enabled AS int), recovery_model_desc, CAST(snapshot_isolation_state AS int), \
                 CAST(HAS_PERMS_BY_NAME(N'cdc', N'SCHEMA', N'SELECT') AS int) FROM sys.databases WHERE name = DB_NAME()",
        )
        .await?;
        let r = db.first().ok_or_else(|| definite("sys.databases has no row for the current database"))?;
        let engine = super::int(r, 0).unwrap_or(0);
        let edition = super::text(r, 1).unwrap_or_default();
        checks.push(check(
            "edition",
            engine != 4,
            if engine == 4 {
                format!(
                    "{edition}: Express has no SQL Server Agent, so no change data capture; use Standard, Enterprise, Developer or Azure SQL Managed Instance"
                )
            } else {
                edition
            },
            false,
        ));
        let enabled = super::int(r, 2) == Some(1);
        let dbname = s.url.database.clone();
        checks.push(check(
            "change data capture on the database",
            enabled,
            if enabled { "enabled".into() } else { format!("not enabled: run `USE [{dbname}]; EXEC sys.sp_cdc_enable_db;` (sysadmin)") },
            false,
        ));
        checks.push(check(
            "recovery model",
            true,
            format!("{} (capture reads the log in any model; the log is kept until captured)", super::text(r, 3).unwrap_or_default()),
            true,
        ));
        let snapshot = super::int(r, 4) == Some(1);
        checks.push(check(
            "snapshot isolation",
            snapshot,
            if snapshot {
                "allowed: each reader of the full load reads one instant".into()
            } else {
                format!("not allowed: the full load reads committed rows; `ALTER DATABASE [{dbname}] SET ALLOW_SNAPSHOT_ISOLATION ON` lets it read snapshots")
            },
            true,
        ));
        let perm = super::int(r, 5) == Some(1);
        checks.push(check(
            "permission",
            perm,
            if perm {
                "SELECT on schema cdc".into()
            } else {
                "this login cannot read schema cdc: add it to db_owner, or to the gating role given to sp_cdc_enable_table, or GRANT SELECT ON SCHEMA::cdc"
                    .into()
            },
            false,
        ));
        if enabled {
            let agent = rows_of(&mut c, "SELECT status_desc FROM sys.dm_server_services WHERE servicename LIKE N'SQL Server Agent%'").await;
            match agent {
                Ok(rows) => {
                    let status = rows.first().and_then(|r| super::text(r, 0)).unwrap_or_else(|| "not found".into());
                    let ok = status.eq_ignore_ascii_case("running");
                    checks.push(check(
                        "SQL Server Agent",
                        ok,
                        if ok {
                            "running: the capture and cleanup jobs run".into()
                        } else {
                            format!("{status}: the capture job runs in SQL Server Agent; start it, or no change reaches the change tables")
                        },
                        false,
                    ));
                }
                Err(_) => checks.push(check(
                    "SQL Server Agent",
                    false,
                    "cannot tell (needs VIEW SERVER STATE): make sure SQL Server Agent runs the cdc capture job".into(),
                    true,
                )),
            }
            let tables = s.introspect(&|_| true).await?.tables;
            let missing = s.uncaptured(&mut c, &tables).await?;
            checks.push(check(
                "capture instances",
                missing.is_empty(),
                if missing.is_empty() {
                    format!("every table of schema [{}] is captured with all its columns", s.schema)
                } else {
                    let names: Vec<String> = missing.iter().map(|(t, _)| t.clone()).collect();
                    format!(
                        "{} — enable them (`ferry sync` needs every table it copies): {}",
                        missing.iter().map(|(t, why)| format!("{t}: {why}")).collect::<Vec<_>>().join("; "),
                        enable_statements(&s.schema, &names).join(" ")
                    )
                },
                false,
            ));
        }
        s.give_back(c).await;
        Ok(checks)
    }

    async fn current_position(&self) -> Result<LogPosition, SourceError> {
        let mut c = self.source.client().await?;
        let lsn =
            MsSource::max_lsn(&mut c).await?.ok_or_else(|| definite("change data capture is not enabled on this database: run `EXEC sys.sp_cdc_enable_db`"))?;
        self.source.give_back(c).await;
        Ok(position(&lsn))
    }

    async fn stream(&self, from: &LogPosition, tables: Vec<Table>, until_caught_up: bool) -> Result<MsChangeStream, SourceError> {
        let from = parse_position(&from.text).ok_or_else(|| definite(format!("not a SQL Server LSN: {from}")))?.order;
        let mut c = self.source.url.connect().await?;
        let instances = self.source.capture_instances(&mut c).await?;
        let mut pending = VecDeque::new();
        let mut known = HashMap::new();
        for t in tables {
            match (t.row_identity().is_some(), instances.get(&t.name)) {
                (false, _) => pending.push_back(ChangeEvent::TableError {
                    table: t.name.clone(),
                    error: "the table has no primary key or unique key, so its changes cannot be applied by key: add one (and a capture instance), or exclude the table".into(),
                }),
                (true, None) => pending.push_back(ChangeEvent::TableError {
                    table: t.name.clone(),
                    error: format!("no capture instance: {}", enable_statements(&self.source.schema, std::slice::from_ref(&t.name)).join(" ")),
                }),
                (true, Some((inst, _))) => {
                    known.insert(t.name.clone(), Captured { table: t, instance: inst.clone() });
                }
            }
        }
        Ok(MsChangeStream {
            schema: self.source.schema.clone(),
            tables: Arc::new(known),
            from,
            until_caught_up,
            pending,
            client: Some(Box::new(c)),
            inflight: None,
            idle_since: None,
            last_idle_commit: Instant::now(),
        })
    }

    fn reuses_finished_load(&self) -> bool {
        false
    }

    async fn prepare_full_load(&self, tables: &[Table]) -> Result<Arc<MsSource>, SourceError> {
        let mut c = self.source.client().await?;
        if MsSource::max_lsn(&mut c).await?.is_none() {
            return Err(definite(format!(
                "change data capture is not enabled on database [{}]: run `EXEC sys.sp_cdc_enable_db` there (see `ferry sync --check`)",
                self.source.url.database
            )));
        }
        let missing = self.source.uncaptured(&mut c, tables).await?;
        self.source.give_back(c).await;
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|(t, _)| t.clone()).collect();
            return Err(definite(format!(
                "tables without change data capture: {}; run {}",
                missing.iter().map(|(t, why)| format!("{t} ({why})")).collect::<Vec<_>>().join(", "),
                enable_statements(&self.source.schema, &names).join(" ")
            )));
        }
        Ok(Arc::new(self.source.for_sync_load()))
    }

    /// The stream commits the LSN it read up to even when none of our tables changed.
    fn commits_reach_every_position(&self) -> bool {
        true
    }

    fn reloads_online(&self) -> bool {
        false
    }

    async fn sequence_values(&self, names: &[String]) -> Result<Vec<(String, Option<i64>)>, SourceError> {
        let mut c = self.source.client().await?;
        let rows = super::query(&mut c, super::catalog::SEQUENCES, &self.source.schema).await?;
        self.source.give_back(c).await;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let name = super::text(r, 0)?;
                names.contains(&name).then(|| (name, super::text(r, 8).and_then(|v| v.trim().split('.').next().and_then(|x| x.parse().ok()))))
            })
            .collect())
    }
}

#[derive(Clone)]
struct Captured {
    table: Table,
    instance: String,
}

/// A poll running on its own task, with the connection it owns.
type Inflight = tokio::task::JoinHandle<(Box<MsClient>, Result<Polled, SourceError>)>;

/// The stream of one sync: polls every capture instance.
pub struct MsChangeStream {
    schema: String,
    tables: Arc<HashMap<String, Captured>>,
    /// The LSN of the last transaction handed out (the stream reads after it).
    from: Vec<u8>,
    until_caught_up: bool,
    pending: VecDeque<ChangeEvent>,
    client: Option<Box<MsClient>>,
    /// The poll under way, kept here so a `next` the engine cancels loses nothing.
    inflight: Option<Inflight>,
    idle_since: Option<Instant>,
    last_idle_commit: Instant,
}

struct Polled {
    events: Vec<ChangeEvent>,
    /// The LSN everything up to which was read (the last event's, or the polled maximum).
    read_to: Option<Vec<u8>>,
    /// Whether any row of ours was read.
    rows: bool,
    stopped: Vec<String>,
}

impl MsChangeStream {
    async fn poll(c: &mut MsClient, schema: &str, tables: &HashMap<String, Captured>, from: &[u8]) -> Result<Polled, SourceError> {
        let Some(max) = MsSource::max_lsn(c).await? else {
            return Err(definite("change data capture was disabled on the source database"));
        };
        if max.as_slice() <= from {
            return Ok(Polled { events: vec![], read_to: None, rows: false, stopped: vec![] });
        }
        let lo =
            rows_of(c, &format!("SELECT sys.fn_cdc_increment_lsn(0x{})", hex(from))).await?.first().and_then(|r| binary(r, 0)).unwrap_or_else(|| from.to_vec());
        match Self::read_range(c, schema, tables, &lo, &max, Some(POLL_ROWS)).await? {
            // One source transaction larger than a poll: read up to its LSN whole.
            Read::Cut(at) => match Self::read_range(c, schema, tables, &lo, &at, None).await? {
                Read::Done(p) => Ok(p),
                Read::Cut(_) => Err(definite("an unbounded read was cut")),
            },
            Read::Done(p) => Ok(p),
        }
    }

    /// Reads the changes with commit LSNs in `lo..=to`, at most `limit` rows per table:
    /// `Cut(lsn)` when no whole transaction fit.
    async fn read_range(
        c: &mut MsClient,
        schema: &str,
        tables: &HashMap<String, Captured>,
        lo: &[u8],
        to: &[u8],
        limit: Option<usize>,
    ) -> Result<Read, SourceError> {
        let (lo, max) = (lo.to_vec(), to.to_vec());
        let mut rows = Vec::new();
        let mut stopped = Vec::new();
        let mut errors: Vec<(Vec<u8>, ChangeEvent)> = Vec::new();
        // The first LSN a table's bounded read did not reach: only transactions before the
        // smallest such cut are complete for every table.
        let mut cut: Option<Vec<u8>> = None;
        for (name, cap) in tables {
            let min = rows_of(c, &format!("SELECT sys.fn_cdc_get_min_lsn({})", quote_str(&cap.instance)))
                .await?
                .first()
                .and_then(|r| binary(r, 0))
                .unwrap_or_default();
            if let Some(msg) = purged(name, &cap.instance, &lo, &min) {
                stopped.push(name.clone());
                errors.push((lo.clone(), ChangeEvent::TableError { table: name.clone(), error: msg }));
                continue;
            }
            // A schema change of the table stops it at its LSN.
            let ddl = rows_of(
                c,
                &format!(
                    "SELECT TOP (1) h.ddl_lsn, h.ddl_command FROM cdc.ddl_history h JOIN cdc.change_tables ct ON ct.object_id = h.object_id \
                     WHERE ct.capture_instance = {} AND h.ddl_lsn >= 0x{} AND h.ddl_lsn <= 0x{} ORDER BY h.ddl_lsn",
                    quote_str(&cap.instance),
                    hex(&lo),
                    hex(&max)
                ),
            )
            .await?;
            let ddl_at = ddl.first().and_then(|r| binary(r, 0).map(|l| (l, super::text(r, 1).unwrap_or_default())));
            let cols: Vec<String> = cap.table.columns.iter().map(select_expr).collect();
            let sql = format!(
                "SELECT {} __$start_lsn, __$seqval, __$operation, \
                 CAST(DATEDIFF(second, '19700101', DATEADD(second, DATEDIFF(second, GETDATE(), GETUTCDATE()), sys.fn_cdc_map_lsn_to_time(__$start_lsn))) AS bigint), {} \
                 FROM cdc.{}(0x{}, 0x{}, N'all update old') ORDER BY __$start_lsn, __$seqval, __$operation",
                limit.map(|n| format!("TOP ({n})")).unwrap_or_default(),
                cols.join(", "),
                quote_ident(&format!("fn_cdc_get_all_changes_{}", cap.instance)),
                hex(&lo),
                hex(&max)
            );
            let ctx = |e: tiberius::error::Error| map_error(e).context(format!("reading the changes of table {name} ({})", cap.instance));
            let mut stream = c.simple_query(&sql).await.map_err(ctx)?.into_row_stream();
            let mut n = 0usize;
            let mut last_lsn = None;
            while let Some(r) = stream.try_next().await.map_err(ctx)? {
                n += 1;
                let cells: Vec<ColumnData<'static>> = r.into_iter().collect();
                let lsn = match &cells[0] {
                    ColumnData::Binary(Some(b)) => b.to_vec(),
                    _ => return Err(definite(format!("table {name}: a change row without __$start_lsn"))),
                };
                if ddl_at.as_ref().is_some_and(|(d, _)| lsn.as_slice() >= d.as_slice()) {
                    continue;
                }
                let seqval = match &cells[1] {
                    ColumnData::Binary(Some(b)) => b.to_vec(),
                    _ => Vec::new(),
                };
                let operation = match &cells[2] {
                    ColumnData::I32(Some(o)) => *o,
                    _ => 0,
                };
                let time = match &cells[3] {
                    ColumnData::I64(Some(t)) => (*t).max(0) as u64,
                    _ => 0,
                };
                let mut row = Vec::with_capacity(cap.table.columns.len());
                for (cell, col) in cells.into_iter().skip(4).zip(&cap.table.columns) {
                    match value_of(cell, col) {
                        Ok(v) => row.push(v),
                        Err(e) => {
                            stopped.push(name.clone());
                            errors.push((
                                lsn.clone(),
                                ChangeEvent::TableError { table: name.clone(), error: format!("column {}, change at LSN 0x{}: {e}", col.name, hex(&lsn)) },
                            ));
                            break;
                        }
                    }
                }
                if stopped.contains(name) {
                    break;
                }
                last_lsn = Some(lsn.clone());
                rows.push(CdcRow { table: name.clone(), lsn, seqval, operation, time, row });
            }
            if Some(n) == limit {
                if let Some(l) = last_lsn {
                    cut = Some(match cut {
                        Some(c) if c <= l => c,
                        _ => l,
                    });
                }
            }
            if let Some((at, command)) = ddl_at {
                if !stopped.contains(name) {
                    stopped.push(name.clone());
                    let stmt = enable_statements(schema, std::slice::from_ref(name)).join(" ").replace(
                        "@supports_net_changes = 0;",
                        &format!("@supports_net_changes = 0, @capture_instance = N'{}_v2';", cap.instance.replace('\'', "''")),
                    );
                    errors.push((
                        at,
                        ChangeEvent::TableError {
                            table: name.clone(),
                            error: format!(
                                "a schema change on the source ({}): SQL Server's capture instance {} keeps the old columns; enable a second one ({stmt}), apply the change to the target table, then `ferry reload {name}`",
                                command.trim(),
                                cap.instance
                            ),
                        },
                    ));
                }
            }
        }
        assemble(rows, errors, cut, max, stopped)
    }
}

/// One poll's rows of every table → its events: only transactions before the `cut` (the first
/// LSN a bounded read may not have read whole), in commit order, each table error placed
/// before the first transaction at or after its LSN. `Cut` when no whole transaction fit.
fn assemble(
    mut rows: Vec<CdcRow>,
    mut errors: Vec<(Vec<u8>, ChangeEvent)>,
    cut: Option<Vec<u8>>,
    max: Vec<u8>,
    stopped: Vec<String>,
) -> Result<Read, SourceError> {
    let read_to = match &cut {
        Some(c) => {
            rows.retain(|r| r.lsn < *c);
            errors.retain(|(at, _)| at < c);
            rows.iter().map(|r| r.lsn.clone()).max()
        }
        None => Some(max),
    };
    if let (Some(at), true) = (cut, rows.is_empty()) {
        return Ok(Read::Cut(at));
    }
    let any_rows = !rows.is_empty();
    let mut events = changes(rows).map_err(definite)?;
    for (at, e) in errors {
        // Before the first transaction at or after the error's LSN, i.e. after the commit
        // preceding it.
        let i = events
            .iter()
            .position(|ev| matches!(ev, ChangeEvent::Commit { position, .. } if position.order >= at))
            .map(|i| events[..i].iter().rposition(|ev| matches!(ev, ChangeEvent::Commit { .. })).map(|p| p + 1).unwrap_or(0));
        events.insert(i.unwrap_or(events.len()), e);
    }
    Ok(Read::Done(Polled { events, read_to, rows: any_rows, stopped }))
}

enum Read {
    Done(Polled),
    Cut(Vec<u8>),
}

impl ChangeStream for MsChangeStream {
    async fn next(&mut self) -> Result<Option<ChangeEvent>, SourceError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            if self.inflight.is_none() {
                let mut c = self.client.take().ok_or_else(|| definite("the SQL Server change stream failed earlier"))?;
                let (schema, tables, from) = (self.schema.clone(), self.tables.clone(), self.from.clone());
                self.inflight = Some(tokio::spawn(async move {
                    let r = Self::poll(&mut c, &schema, &tables, &from).await;
                    (c, r)
                }));
            }
            let done = self.inflight.as_mut().expect("a poll is under way").await;
            self.inflight = None;
            let (c, polled) = done.map_err(|e| definite(format!("the SQL Server change stream failed: {e}")))?;
            self.client = Some(c);
            let polled = polled?;
            if !polled.stopped.is_empty() {
                let tables = Arc::make_mut(&mut self.tables);
                for n in &polled.stopped {
                    tables.remove(n);
                }
            }
            let had_events = !polled.events.is_empty();
            self.pending.extend(polled.events);
            if let Some(to) = polled.read_to {
                if polled.rows {
                    // The last transaction's commit is the position.
                    self.from = self
                        .pending
                        .iter()
                        .rev()
                        .find_map(|e| match e {
                            ChangeEvent::Commit { position, .. } => Some(position.order.clone()),
                            _ => None,
                        })
                        .unwrap_or(to);
                    self.idle_since = None;
                    continue;
                }
                // Nothing of ours: commit the LSN read up to now and then, so the cleanup job's
                // low-water mark never passes the saved position.
                if to > self.from && (self.until_caught_up || self.last_idle_commit.elapsed() >= IDLE_COMMIT) {
                    self.from = to.clone();
                    self.last_idle_commit = Instant::now();
                    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                    self.pending.push_back(ChangeEvent::Commit { position: position(&to), time });
                    continue;
                }
            }
            if had_events {
                continue;
            }
            if self.until_caught_up {
                return Ok(None);
            }
            let first = self.idle_since.is_none();
            let since = *self.idle_since.get_or_insert_with(Instant::now);
            if first || since.elapsed() >= Duration::from_secs(1) {
                self.idle_since = Some(Instant::now());
                return Ok(Some(ChangeEvent::Heartbeat { position: position(&self.from), backlog_bytes: None }));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn set_table(&mut self, table: Table) {
        if let Some(c) = Arc::make_mut(&mut self.tables).get_mut(&table.name) {
            c.table = table;
        }
    }

    fn forget_table(&mut self, name: &str) {
        Arc::make_mut(&mut self.tables).remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::Value;

    fn lsn(n: u8) -> Vec<u8> {
        let mut v = vec![0u8; 10];
        v[9] = n;
        v
    }

    fn row(table: &str, l: u8, seq: u8, op: i32, id: i64, v: &str) -> CdcRow {
        CdcRow {
            table: table.into(),
            lsn: lsn(l),
            seqval: lsn(seq),
            operation: op,
            time: 1_700_000_000 + l as u64,
            row: vec![Value::Int(id), Value::Text(v.into())],
        }
    }

    #[test]
    fn change_rows_become_transactions_in_commit_order() {
        // Two tables, read one after the other (as the poll does), merged by commit LSN.
        let rows = vec![
            row("b", 7, 1, 2, 1, "b1"),
            row("a", 5, 2, 3, 1, "old"),
            row("a", 5, 1, 2, 2, "new row"),
            row("a", 5, 2, 4, 1, "new"),
            row("a", 9, 1, 1, 2, "new row"),
        ];
        let ev = changes(rows).unwrap();
        let shape: Vec<String> = ev
            .iter()
            .map(|e| match e {
                ChangeEvent::Row { table, change: RowChange::Insert(r) } => format!("{table} insert {:?}", r[0]),
                ChangeEvent::Row { table, change: RowChange::Update { before, after } } => format!("{table} update {:?}→{:?}", before[1], after[1]),
                ChangeEvent::Row { table, change: RowChange::Delete(r) } => format!("{table} delete {:?}", r[0]),
                ChangeEvent::Commit { position, time } => format!("commit {} @{time}", position.text),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "a insert Int(2)",
                "a update Text(\"old\")→Text(\"new\")",
                "commit 0x00000000000000000005 @1700000005",
                "b insert Int(1)",
                "commit 0x00000000000000000007 @1700000007",
                "a delete Int(2)",
                "commit 0x00000000000000000009 @1700000009",
            ]
        );
    }

    #[test]
    fn a_bounded_poll_keeps_whole_transactions_and_places_table_errors_by_lsn() {
        // Table a's read stopped at its limit inside LSN 7: only LSNs before 7 are whole.
        let rows = vec![row("a", 5, 1, 2, 1, "x"), row("b", 6, 1, 2, 2, "y"), row("a", 7, 1, 2, 3, "part"), row("b", 8, 1, 2, 4, "later")];
        let err = |l: u8| (lsn(l), ChangeEvent::TableError { table: "c".into(), error: format!("at {l}") });
        let Read::Done(p) = assemble(rows, vec![err(6), err(9)], Some(lsn(7)), lsn(9), vec!["c".into()]).unwrap() else { panic!("whole transactions fit") };
        let shape: Vec<String> = p
            .events
            .iter()
            .map(|e| match e {
                ChangeEvent::Row { table, .. } => format!("row {table}"),
                ChangeEvent::Commit { position, .. } => format!("commit {}", position.order[9]),
                ChangeEvent::TableError { error, .. } => error.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(shape, ["row a", "commit 5", "at 6", "row b", "commit 6"], "LSN 7 on waits for the next poll; the error at 9 too");
        assert_eq!(p.read_to, Some(lsn(6)), "the position stays before the cut");
        // Nothing whole before the cut: read that transaction alone.
        assert!(matches!(assemble(vec![row("a", 7, 1, 2, 3, "part")], vec![], Some(lsn(7)), lsn(9), vec![]).unwrap(), Read::Cut(c) if c == lsn(7)));
        // No cut: everything up to the polled maximum is read.
        let Read::Done(p) = assemble(vec![], vec![], None, lsn(9), vec![]).unwrap() else { panic!() };
        assert_eq!((p.read_to, p.rows), (Some(lsn(9)), false));
    }

    #[test]
    fn an_update_needs_both_images() {
        assert!(changes(vec![row("a", 5, 1, 4, 1, "new")]).unwrap_err().contains("without its before image"));
        assert!(changes(vec![row("a", 5, 1, 3, 1, "old")]).unwrap_err().contains("without its after image"));
    }

    #[test]
    fn a_purged_range_stops_the_table_with_reload_it() {
        assert_eq!(purged("t", "dbo_t", &lsn(9), &lsn(5)), None, "the instance still holds everything after the position");
        assert_eq!(purged("t", "dbo_t", &lsn(9), &lsn(9)), None);
        let msg = purged("t", "dbo_t", &lsn(5), &lsn(9)).unwrap();
        assert!(msg.contains("ferry reload t") && msg.contains("0x00000000000000000009"), "{msg}");
    }

    #[test]
    fn positions_are_lsns_in_byte_order() {
        let p = parse_position("0x0000002A000001F40003").unwrap();
        assert_eq!(p.order, vec![0, 0, 0, 0x2a, 0, 0, 1, 0xf4, 0, 3]);
        assert_eq!(p.text, "0x0000002A000001F40003");
        assert!(position(&lsn(1)) < position(&lsn(2)));
        assert!(parse_position("binlog.000001:4").is_none());
        assert!(enable_statements("dbo", &["T".into()])[0].contains("@source_name = N'T'"));
    }
}
