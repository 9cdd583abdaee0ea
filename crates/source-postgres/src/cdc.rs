//! PostgreSQL change data capture: a publication of the synced tables, a logical replication
//! slot (pgoutput), and the stream decoded into neutral [`ChangeEvent`]s.
//!
//! Why no change is lost or applied twice at the hand-off: the slot is created with an exported
//! snapshot (`CREATE_REPLICATION_SLOT … (SNAPSHOT 'export')`) and every full-load reader imports
//! that snapshot, so the load sees exactly the transactions committed before the slot's
//! consistent point and the stream starts exactly there. Afterwards a [`ChangeEvent::Commit`]
//! carries each transaction's end LSN; the engine commits it with the rows, and only then is it
//! confirmed to the server ([`ChangeStream::confirm`]), so the slot never releases WAL ferry
//! has not applied. A restart streams from the target's committed LSN (the server resumes at
//! the slot's confirmed position, which is never later). Keepalive positions are never
//! confirmed: they may lie past transactions the server has not decoded and sent yet, and a
//! restart would skip those (the SIGKILL test caught exactly that).
//!
//! Replica identity: a table without a primary key needs `REPLICA IDENTITY FULL` on the source
//! (else PostgreSQL refuses the application's own UPDATE/DELETE once the table is published);
//! preflight says so. Unchanged TOAST values come from the old row when the identity is FULL;
//! otherwise such an update stops the table with what to do.

use crate::pgoutput::{self, Cell, Message, Tuple};
use crate::replication::{CopyMessage, ReplConn};
use crate::{source_error, PgSource};
use ferry_model::cdc::{CdcSource, ChangeEvent, ChangeStream, LogPosition, PreflightCheck, RowChange, SchemaChange};
use ferry_model::{ErrorKind, Row, SourceError, Table, Value};
use ferry_target_postgres::ident::quote_ident;
use ferry_target_postgres::TargetError;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The kind of PostgreSQL positions ([`LogPosition::kind`]).
pub const POSITION_KIND: &str = "postgres";

/// An LSN as a position: text as PostgreSQL prints it (`1/6B374D48`), ordered by its value.
pub fn lsn_position(lsn: u64) -> LogPosition {
    LogPosition::new(POSITION_KIND, format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff), lsn.to_be_bytes().to_vec())
}

/// Reads `X/Y` back.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// The LSN of a position of this source.
pub fn lsn_of(p: &LogPosition) -> Result<u64, SourceError> {
    let lsn = if p.kind == POSITION_KIND || p.is_legacy() { parse_lsn(&p.text) } else { None };
    lsn.ok_or_else(|| {
        SourceError::new(ErrorKind::Definite, format!("position {p} ({}) is not a PostgreSQL LSN", if p.kind.is_empty() { "legacy" } else { &p.kind }))
    })
}

/// A PostgreSQL source's CDC: its slot and publication (one pair per sync job).
pub struct PgCdc {
    pub source: Arc<PgSource>,
    pub slot: String,
}

impl PgCdc {
    pub fn publication(&self) -> String {
        self.slot.clone()
    }

    /// Drops the slot and the publication (cutover, or a new full load).
    pub async fn drop_slot(&self) -> Result<(), SourceError> {
        let c = self.source.conn().await?;
        let q = |e: tokio_postgres::Error| source_error(TargetError::from(e).context("dropping ferry's replication slot"));
        c.client.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", &[&self.slot]).await.map_err(q)?;
        c.batch(&format!("DROP PUBLICATION IF EXISTS {}", quote_ident(&self.publication()))).await.map_err(source_error)?;
        Ok(())
    }

    /// Creates the publication of `tables` (replacing an earlier one of this job).
    pub async fn create_publication(&self, tables: &[Table]) -> Result<(), SourceError> {
        let c = self.source.conn().await?;
        let list: Vec<String> = tables.iter().map(|t| format!("{}.{}", quote_ident(&self.source.schema), quote_ident(&t.name))).collect();
        let sql = format!(
            "DROP PUBLICATION IF EXISTS {p}; CREATE PUBLICATION {p} FOR TABLE {} WITH (publish_via_partition_root = true)",
            list.join(", "),
            p = quote_ident(&self.publication())
        );
        c.batch(&sql).await.map_err(|e| source_error(e.context("creating ferry's publication")))
    }
}

/// Bytes of WAL slot `slot` keeps on the source (None when unknown).
async fn retained(c: &ferry_target_postgres::PgTarget, slot: &str) -> Option<u64> {
    let r = c
        .client
        .query_opt("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1", &[&slot])
        .await
        .ok()??;
    r.get::<_, Option<i64>>(0).map(|b| b.max(0) as u64)
}

/// Creates the slot with an exported snapshot on `conn` (which must stay open, idle, until
/// every reader imported the snapshot): returns (consistent point, snapshot name). A temporary
/// slot (a reload chunk's) goes with `conn`; its consistent point is the chunk's position: the
/// snapshot holds exactly the transactions whose commit ends at or before it.
pub async fn create_slot_exporting(conn: &mut ReplConn, slot: &str, server_version: i32, temporary: bool) -> Result<(u64, String), SourceError> {
    let kind = if temporary { "TEMPORARY LOGICAL" } else { "LOGICAL" };
    if !temporary {
        let _ = conn.simple_query(&format!("DROP_REPLICATION_SLOT {}", quote_ident(slot))).await;
    }
    let sql = if server_version >= 150000 {
        format!("CREATE_REPLICATION_SLOT {} {kind} pgoutput (SNAPSHOT 'export')", quote_ident(slot))
    } else {
        format!("CREATE_REPLICATION_SLOT {} {kind} pgoutput EXPORT_SNAPSHOT", quote_ident(slot))
    };
    let rows = conn.simple_query(&sql).await?;
    let row = rows.first().ok_or_else(|| SourceError::new(ErrorKind::Definite, "CREATE_REPLICATION_SLOT returned nothing"))?;
    let lsn = row.get(1).cloned().flatten().and_then(|s| parse_lsn(&s)).ok_or_else(|| SourceError::new(ErrorKind::Definite, "no consistent point"))?;
    let snapshot = row.get(2).cloned().flatten().ok_or_else(|| SourceError::new(ErrorKind::Definite, "no exported snapshot"))?;
    Ok((lsn, snapshot))
}

impl CdcSource for PgCdc {
    type Stream = PgChangeStream;
    type Snapshot = PgSource;

    fn position_kind(&self) -> &'static str {
        POSITION_KIND
    }

    fn parse_position(&self, text: &str) -> Option<LogPosition> {
        parse_lsn(text).map(lsn_position)
    }

    /// Only a slot created at the load's own snapshot holds the changes after it.
    fn reuses_finished_load(&self) -> bool {
        false
    }

    /// The publication, then a source whose snapshot is the one the new slot exports.
    async fn prepare_full_load(&self, tables: &[Table]) -> Result<Arc<PgSource>, SourceError> {
        self.create_publication(tables).await?;
        Ok(Arc::new(self.source.with_slot(self.slot.clone())))
    }

    /// The slot skips WAL of other tables: the stream's end at the stop point is the proof.
    fn commits_reach_every_position(&self) -> bool {
        false
    }

    /// A temporary slot per chunk gives its snapshot an exact position (its consistent point),
    /// and a heartbeat message a commit past it (PostgreSQL 14 on; before, the next change to a
    /// published table).
    fn reloads_online(&self) -> bool {
        true
    }

    /// The sync's own slot and publication stay as they are: the chunk's snapshot is a
    /// temporary slot's.
    async fn chunk_source(&self, _tables: &[Table]) -> Result<Arc<PgSource>, SourceError> {
        Ok(Arc::new(self.source.with_temporary_slot(format!("{}_chunk", self.slot))))
    }

    async fn sequence_values(&self, names: &[String]) -> Result<Vec<(String, Option<i64>)>, SourceError> {
        self.source.sequence_values(names).await
    }

    async fn release(&self) -> Result<Option<String>, SourceError> {
        self.drop_slot().await?;
        Ok(Some(format!("replication slot and publication {} dropped on the source", self.slot)))
    }

    async fn preflight(&self) -> Result<Vec<PreflightCheck>, SourceError> {
        let c = self.source.conn().await?;
        let q = |e: tokio_postgres::Error| source_error(TargetError::from(e).context("reading the source's replication settings"));
        let r = c
            .client
            .query_one(
                "SELECT current_setting('wal_level'), current_setting('max_replication_slots')::int, current_setting('max_wal_senders')::int, \
                        (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), \
                        (SELECT count(*) FROM pg_replication_slots)::int",
                &[],
            )
            .await
            .map_err(q)?;
        let mut checks = Vec::new();
        let mut check = |name: &str, ok: bool, detail: String, warning_only: bool| checks.push(PreflightCheck { name: name.into(), ok, detail, warning_only });
        let wal: String = r.get(0);
        check(
            "wal_level=logical",
            wal == "logical",
            if wal == "logical" { "logical".into() } else { format!("wal_level={wal}: set wal_level = logical in postgresql.conf and restart the source") },
            false,
        );
        let (slots, senders, used): (i32, i32, i32) = (r.get(1), r.get(2), r.get(4));
        check(
            "replication slots free",
            slots > used && senders > 0,
            format!(
                "{used} of max_replication_slots={slots} used, max_wal_senders={senders}{}",
                if slots > used { "" } else { ": raise max_replication_slots" }
            ),
            false,
        );
        let repl: bool = r.get::<_, Option<bool>>(3).unwrap_or(false);
        check(
            "REPLICATION privilege",
            repl,
            if repl { "the source user may stream".into() } else { "ALTER ROLE <source user> REPLICATION (and grant SELECT on the tables)".into() },
            false,
        );
        // Key-less tables need REPLICA IDENTITY FULL once published.
        let rows = c
            .client
            .query(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relreplident = 'd' \
                 AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) ORDER BY 1",
                &[&self.source.schema],
            )
            .await
            .map_err(q)?;
        let missing: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        check(
            "replica identity",
            missing.is_empty(),
            if missing.is_empty() {
                "every table has a key or REPLICA IDENTITY FULL".into()
            } else {
                format!(
                    "tables without a primary key need REPLICA IDENTITY FULL, or the application's UPDATE/DELETE on them fail once they are published: {}",
                    missing
                        .iter()
                        .map(|t| format!("ALTER TABLE {}.{} REPLICA IDENTITY FULL;", quote_ident(&self.source.schema), quote_ident(t)))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            },
            false,
        );
        Ok(checks)
    }

    async fn current_position(&self) -> Result<LogPosition, SourceError> {
        let c = self.source.conn().await?;
        let r = c.client.query_one("SELECT pg_current_wal_lsn()::text", &[]).await.map_err(|e| source_error(TargetError::from(e)))?;
        Ok(lsn_position(parse_lsn(&r.get::<_, String>(0)).unwrap_or(0)))
    }

    async fn stream(&self, from: &LogPosition, tables: Vec<Table>, until_caught_up: bool) -> Result<PgChangeStream, SourceError> {
        let sql = self.source.conn().await?;
        let version: i32 =
            sql.client.query_one("SELECT current_setting('server_version_num')::int", &[]).await.map_err(|e| source_error(TargetError::from(e)))?.get(0);
        let from = lsn_of(from)?;
        let stop_at = if until_caught_up { Some(lsn_of(&self.current_position().await?)?) } else { None };
        let mut conn = ReplConn::connect(&self.source.url).await?;
        conn.start_replication(&self.slot, from, &self.publication(), version >= 140000).await?;
        // Caught up means: past a marker written now. The server's keepalive positions cannot
        // say it (they may run ahead of what it has decoded and sent).
        let stop_token = if until_caught_up && version >= 140000 {
            let token = format!("{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
            match sql.client.execute("SELECT pg_logical_emit_message(true, 'ferry_caught_up', $1::text)", &[&token]).await {
                Ok(_) => Some(token),
                Err(e) => {
                    tracing::warn!("cannot write the caught-up marker ({e}); judging by the server's WAL position instead");
                    None
                }
            }
        } else {
            None
        };
        Ok(PgChangeStream {
            conn,
            sql,
            schema: self.source.schema.clone(),
            tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
            relations: HashMap::new(),
            pending: VecDeque::new(),
            in_transaction: false,
            committed: from,
            flushed: from,
            stop_at,
            last_status: Instant::now(),
            retained_at: Instant::now() - Duration::from_secs(60),
            slot: self.slot.clone(),
            heartbeat_at: Instant::now(),
            heartbeats: version >= 140000,
            stop_token,
            marker_seen: false,
            reached: false,
        })
    }
}

/// One relation as pgoutput described it: its name and, per relation column, our column index.
struct Relation {
    table: String,
    columns: Vec<Option<usize>>,
}

pub struct PgChangeStream {
    conn: ReplConn,
    sql: ferry_target_postgres::PgTarget,
    schema: String,
    tables: HashMap<String, Table>,
    relations: HashMap<u32, Relation>,
    pending: VecDeque<ChangeEvent>,
    in_transaction: bool,
    committed: u64,
    /// The last position confirmed to the server (committed on the target).
    flushed: u64,
    /// `until_caught_up`: the WAL end when the stream opened.
    stop_at: Option<u64>,
    last_status: Instant,
    retained_at: Instant,
    slot: String,
    /// When ferry last wrote a heartbeat message into the source's WAL.
    heartbeat_at: Instant,
    /// The server streams logical messages (14+) and may write them (cleared when refused).
    heartbeats: bool,
    /// `until_caught_up` on 14+: the marker ferry wrote when the stream opened; the stream ends
    /// after the transaction carrying it.
    stop_token: Option<String>,
    marker_seen: bool,
    reached: bool,
}

impl PgChangeStream {
    fn decode_err(&self, what: impl std::fmt::Display) -> SourceError {
        SourceError::new(ErrorKind::Definite, format!("logical replication at {}: {what}", lsn_position(self.committed)))
    }

    /// A tuple as a row of our table (columns by name), unchanged TOAST values filled.
    fn row(&self, rel: &Relation, mut tuple: Tuple, old: Option<&Tuple>) -> Result<Row, SourceError> {
        if !tuple.fill_unchanged(old) {
            return Err(SourceError::new(
                ErrorKind::BadData,
                format!(
                    "table {}: an update left a large (TOASTed) value unchanged and the source did not send it: ALTER TABLE {}.{} REPLICA IDENTITY FULL on the source, then `ferry migrate` the table again",
                    rel.table,
                    quote_ident(&self.schema),
                    quote_ident(&rel.table)
                ),
            ));
        }
        let t = &self.tables[&rel.table];
        let mut row: Row = vec![Value::Null; t.columns.len()];
        for (i, cell) in tuple.0.into_iter().enumerate() {
            if let Some(Some(at)) = rel.columns.get(i) {
                row[*at] = match cell {
                    Cell::Text(s) => Value::Text(s),
                    _ => Value::Null,
                };
            }
        }
        Ok(row)
    }

    async fn handle(&mut self, data: bytes::Bytes) -> Result<(), SourceError> {
        let msg = pgoutput::decode(data).map_err(|e| self.decode_err(e))?;
        match msg {
            Message::Begin { .. } => self.in_transaction = true,
            Message::Commit { end_lsn, time_us } => {
                self.in_transaction = false;
                self.committed = end_lsn;
                if self.marker_seen {
                    self.reached = true;
                }
                let secs = ((time_us + crate::replication::PG_EPOCH_OFFSET_US) / 1_000_000).max(0) as u64;
                self.pending.push_back(ChangeEvent::Commit { position: lsn_position(end_lsn), time: secs });
            }
            Message::Relation { id, namespace, name, columns, .. } => {
                if namespace != self.schema {
                    return Ok(());
                }
                let Some(t) = self.tables.get(&name) else {
                    self.relations.remove(&id);
                    return Ok(());
                };
                let mut map = Vec::new();
                for c in &columns {
                    match t.column_index(&c.name) {
                        Some(i) => map.push(Some(i)),
                        // A generated column is not sent; any other unknown column is drift.
                        None => {
                            return Err(self.decode_err(format!(
                                "table {name} has a column {} that ferry's model lacks (the table changed on the source): run `ferry migrate` for it again",
                                c.name
                            )))
                        }
                    }
                }
                self.relations.insert(id, Relation { table: name, columns: map });
            }
            Message::Insert { relation, new } => {
                let Some(rel) = self.relations.get(&relation) else { return Ok(()) };
                let row = self.row(rel, new, None)?;
                let table = rel.table.clone();
                self.pending.push_back(ChangeEvent::Row { table, change: RowChange::Insert(row) });
            }
            Message::Update { relation, old, key_only, new } => {
                let Some(rel) = self.relations.get(&relation) else { return Ok(()) };
                let full_old = old.as_ref().filter(|_| !key_only);
                let after = self.row(rel, new, full_old)?;
                // Without an old image the key did not change: the new row is also the old key.
                let before = match (&old, key_only) {
                    (Some(o), false) => self.row(rel, o.clone(), None)?,
                    (Some(k), true) => {
                        let mut b = after.clone();
                        let key_row = self.row(rel, Tuple(k.0.iter().map(|c| if *c == Cell::Unchanged { Cell::Null } else { c.clone() }).collect()), None)?;
                        for (i, c) in rel.columns.iter().enumerate() {
                            if let (Some(at), Some(Cell::Text(_))) = (c, k.0.get(i)) {
                                b[*at] = key_row[*at].clone();
                            }
                        }
                        b
                    }
                    (None, _) => after.clone(),
                };
                let table = rel.table.clone();
                self.pending.push_back(ChangeEvent::Row { table, change: RowChange::Update { before, after } });
            }
            Message::Delete { relation, old, .. } => {
                let Some(rel) = self.relations.get(&relation) else { return Ok(()) };
                let row = self.row(rel, Tuple(old.0.into_iter().map(|c| if c == Cell::Unchanged { Cell::Null } else { c }).collect()), None)?;
                let table = rel.table.clone();
                self.pending.push_back(ChangeEvent::Row { table, change: RowChange::Delete(row) });
            }
            Message::Truncate { relations } => {
                for id in relations {
                    if let Some(rel) = self.relations.get(&id) {
                        let table = rel.table.clone();
                        self.pending.push_back(ChangeEvent::Ddl {
                            table: Some(table.clone()),
                            statement: format!("TRUNCATE {table}"),
                            change: SchemaChange::Truncate,
                        });
                    }
                }
            }
            Message::Logical { prefix, content } => {
                if prefix == "ferry_caught_up" && self.stop_token.as_deref().map(str::as_bytes) == Some(content.as_slice()) {
                    self.marker_seen = true;
                }
            }
            Message::Other => {}
        }
        Ok(())
    }

    /// Reads until an event is pending; false when the stream ended.
    async fn fill(&mut self) -> Result<bool, SourceError> {
        while self.pending.is_empty() {
            if self.reached {
                return Ok(false);
            }
            // Ask the server where its WAL ends now and then (keepalive reply), and keep it
            // informed of what ferry holds.
            if self.last_status.elapsed() > Duration::from_millis(if self.stop_at.is_some() { 100 } else { 1000 }) {
                self.send_status(true).await?;
            }
            let msg = match tokio::time::timeout(Duration::from_millis(200), self.conn.next_copy()).await {
                Err(_) => continue,
                Ok(m) => m?,
            };
            match msg {
                None => return Ok(false),
                Some(CopyMessage::XLogData { data, .. }) => self.handle(data).await?,
                Some(CopyMessage::KeepAlive { end, reply }) => {
                    if reply {
                        self.send_status(false).await?;
                    }
                    if !self.in_transaction {
                        // Without a marker (PostgreSQL 13), the server's WAL end is the best sign.
                        if self.stop_token.is_none() && self.stop_at.is_some_and(|s| end >= s) {
                            return Ok(false);
                        }
                        let backlog = if self.retained_at.elapsed() > Duration::from_secs(5) {
                            self.retained_at = Instant::now();
                            retained(&self.sql, &self.slot).await
                        } else {
                            None
                        };
                        self.pending.push_back(ChangeEvent::Heartbeat { position: lsn_position(end.max(self.committed)), backlog_bytes: backlog });
                        self.heartbeat(false).await;
                    }
                }
            }
        }
        Ok(true)
    }

    /// Keeps an idle slot advancing: while the published tables are quiet, other activity of the
    /// source still fills the WAL the slot retains, and only a commit ferry receives and applies
    /// may be confirmed (never a keepalive position). So every 10 s of quiet ferry writes a
    /// transactional logical message (`pg_logical_emit_message`, no table needed); it arrives as
    /// an empty transaction, commits with its position and is confirmed like any other.
    /// `now`: at once (a reload chunk waits for a commit past its position), not after 10 s.
    async fn heartbeat(&mut self, now: bool) {
        if !self.heartbeats || self.stop_at.is_some() || (!now && self.heartbeat_at.elapsed() < Duration::from_secs(10)) {
            return;
        }
        self.heartbeat_at = Instant::now();
        if let Err(e) = self.sql.client.execute("SELECT pg_logical_emit_message(true, 'ferry_heartbeat', '')", &[]).await {
            tracing::warn!("heartbeat message refused ({e}); the slot advances only with changes to the published tables");
            self.heartbeats = false;
        }
    }

    async fn send_status(&mut self, ask_reply: bool) -> Result<(), SourceError> {
        self.last_status = Instant::now();
        self.conn.status(self.confirmed_flush(), ask_reply).await
    }

    fn confirmed_flush(&self) -> u64 {
        self.flushed
    }
}

impl ChangeStream for PgChangeStream {
    /// A heartbeat message now (it commits past every position so far).
    async fn nudge(&mut self) {
        self.heartbeat(true).await;
    }

    async fn next(&mut self) -> Result<Option<ChangeEvent>, SourceError> {
        if !self.fill().await? {
            return Ok(None);
        }
        Ok(self.pending.pop_front())
    }

    fn set_table(&mut self, table: Table) {
        self.tables.insert(table.name.clone(), table);
    }

    fn forget_table(&mut self, name: &str) {
        self.tables.remove(name);
        self.relations.retain(|_, r| r.table != name);
    }

    async fn confirm(&mut self, position: &LogPosition) -> Result<(), SourceError> {
        let lsn = lsn_of(position)?;
        if lsn > self.flushed {
            self.flushed = lsn;
            self.send_status(false).await?;
        }
        Ok(())
    }
}

/// The slot name of a sync job (derived like the MySQL server_id: one per target schema).
pub fn slot_name(key: u32) -> String {
    format!("ferry_{key:08x}")
}
