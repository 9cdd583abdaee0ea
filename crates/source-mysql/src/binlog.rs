//! The MySQL/MariaDB change stream: the binlog, read as a replica (mysql_async's binlog stream),
//! decoded into neutral [`ChangeEvent`]s.
//!
//! Why no change is lost or applied twice at the snapshot hand-off: the full load reads every
//! table inside transactions opened under `FLUSH TABLES WITH READ LOCK`, and the binlog position
//! is read under that same lock (`open_snapshot`). Every transaction committed before that
//! position is in the snapshot, none after it; the stream starts exactly at that position, so
//! each later transaction arrives once. After that, a [`ChangeEvent::Commit`] is emitted only at
//! a transaction's end (XID, or `COMMIT` for non-transactional engines, or a DDL statement),
//! carrying the position just after it; the consumer commits that position with the rows, and a
//! restart streams from it: the next event is the next transaction's first.
//!
//! Rows are decoded by the table's column list in binlog order (`binlog_row_image=FULL` makes
//! every image complete). The binlog's own encodings are mapped to the snapshot reader's first
//! ([`binlog_value`]): ENUM indexes to labels, SET bitmasks to lists, TIMESTAMP seconds since the
//! epoch to UTC date-times, YEAR 0 — so a value converts identically on both paths.

use crate::{error::map_error, MySqlSource};
use ferry_model::cdc::{ChangeEvent, ChangeStream, LogPosition, PreflightCheck, RowChange};
use ferry_model::{DataType, ErrorKind, SourceError, Table};
use futures_util::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Value as MyValue};
use std::collections::{HashMap, VecDeque};

/// Seconds between heartbeats the source sends while idle.
const HEARTBEAT_SECS: u64 = 1;

impl MySqlSource {
    /// The server's variables CDC depends on, as named checks.
    pub async fn preflight(&self, server_id: u32) -> Result<Vec<PreflightCheck>, SourceError> {
        let mut conn = self.conn().await?;
        let vars: Vec<(String, String)> = conn
            .query(
                "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image', \
                 'binlog_row_metadata', 'server_id', 'gtid_mode', 'expire_logs_days', 'binlog_expire_logs_seconds', \
                 'binlog_row_value_options', 'gtid_binlog_pos')",
            )
            .await
            .map_err(|e| map_error(e).context("reading the source's replication settings"))?;
        let var = |n: &str| vars.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
        let mut checks = Vec::new();
        let mut check = |name: &str, ok: bool, detail: String, warning_only: bool| checks.push(PreflightCheck { name: name.into(), ok, detail, warning_only });
        let log_bin = var("log_bin").unwrap_or_default();
        check(
            "binlog enabled",
            log_bin.eq_ignore_ascii_case("ON"),
            if log_bin.eq_ignore_ascii_case("ON") { "log_bin=ON".into() } else { "log_bin is OFF: start the server with log_bin (and server_id) set".into() },
            false,
        );
        let format = var("binlog_format").unwrap_or_default();
        check(
            "binlog_format=ROW",
            format.eq_ignore_ascii_case("ROW"),
            if format.eq_ignore_ascii_case("ROW") {
                "ROW".into()
            } else {
                format!("binlog_format={format}: set binlog_format=ROW (SET GLOBAL binlog_format=ROW and in the server config)")
            },
            false,
        );
        let image = var("binlog_row_image").unwrap_or_else(|| "FULL".into());
        check(
            "binlog_row_image=FULL",
            image.eq_ignore_ascii_case("FULL"),
            if image.eq_ignore_ascii_case("FULL") {
                "FULL".into()
            } else {
                format!("binlog_row_image={image}: set binlog_row_image=FULL so updates and deletes carry whole rows")
            },
            false,
        );
        if let Some(meta) = var("binlog_row_metadata") {
            check(
                "binlog_row_metadata=FULL",
                meta.eq_ignore_ascii_case("FULL"),
                if meta.eq_ignore_ascii_case("FULL") {
                    "FULL".into()
                } else {
                    format!("binlog_row_metadata={meta}: FULL is recommended (column names and signedness in every table map)")
                },
                true,
            );
        }
        if let Some(opts) = var("binlog_row_value_options") {
            let partial = opts.to_ascii_uppercase().contains("PARTIAL_JSON");
            check(
                "no partial JSON updates",
                !partial,
                if partial {
                    "binlog_row_value_options=PARTIAL_JSON: set it to '' so JSON updates carry whole documents".into()
                } else {
                    "whole JSON documents".into()
                },
                false,
            );
        }
        // Non-transactional tables are outside every consistent snapshot: the full load may see
        // rows of writes it also streams (or miss some), so they need a quiet source.
        let plain: Vec<String> = conn
            .exec(
                "SELECT CONCAT(TABLE_NAME, ' (', ENGINE, ')') FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' \
                 AND ENGINE NOT IN ('InnoDB', 'XtraDB', 'ROCKSDB', 'TokuDB') ORDER BY TABLE_NAME",
                (self.database.clone(),),
            )
            .await
            .unwrap_or_default();
        check(
            "transactional tables",
            plain.is_empty(),
            if plain.is_empty() {
                "every table is transactional (in the consistent snapshot)".into()
            } else {
                format!(
                    "not transactional, so not in the consistent snapshot: {}; load them while nothing writes to them (or convert them: ALTER TABLE … ENGINE=InnoDB)",
                    plain.join(", ")
                )
            },
            true,
        );
        let own: u32 = var("server_id").and_then(|v| v.parse().ok()).unwrap_or(0);
        let replicas: Vec<mysql_async::Row> = conn.query("SHOW SLAVE HOSTS").await.unwrap_or_default();
        let taken = replicas.iter().any(|r| r.get::<u32, _>(0) == Some(server_id));
        // A registered replica with our id may be ferry's own earlier (killed) run, whose dump
        // thread the server replaces when we register: a warning, not a refusal.
        check(
            "server_id free",
            server_id != own && !taken,
            if server_id == own {
                format!("ferry's server_id {server_id} is the source's own: pass --server-id with another number")
            } else if taken {
                format!("a replica with server_id {server_id} is registered: ferry's own earlier run, or another replica — if another, pass --server-id with a free number")
            } else {
                format!("ferry reads as replica {server_id} (source is {own})")
            },
            server_id != own,
        );
        let retention = binlog_retention(var("binlog_expire_logs_seconds").as_deref(), var("expire_logs_days").as_deref());
        check("binlog retention", true, retention, true);
        let gtid = var("gtid_mode").map(|m| format!("gtid_mode={m}")).or_else(|| var("gtid_binlog_pos").map(|p| format!("MariaDB GTID position {p}")));
        check("GTID", true, gtid.unwrap_or_else(|| "no GTID (file and offset positions are used)".into()), true);
        // Privileges, by trying what sync does (roles and wildcard grants count as the server
        // sees them): reading the binlog position needs REPLICATION CLIENT (MariaDB ≥ 10.5:
        // BINLOG MONITOR), reading events needs REPLICATION SLAVE.
        let denied = |e: &mysql_async::Error| matches!(e, mysql_async::Error::Server(s) if s.code == 1227 || s.code == 1045 || s.code == 1142);
        let client = match conn.query_drop("SHOW MASTER STATUS").await {
            Ok(()) => Ok(()),
            Err(e) if denied(&e) => Err(e.to_string()),
            Err(_) => Ok(()),
        };
        let slave = match conn.query_drop("SHOW BINLOG EVENTS LIMIT 1").await {
            Ok(()) => Ok(()),
            Err(e) if denied(&e) => Err(e.to_string()),
            // Not a privilege problem (e.g. no binlog): the binlog checks above say so.
            Err(_) => Ok(()),
        };
        check(
            "replication privileges",
            client.is_ok() && slave.is_ok(),
            match (&client, &slave) {
                (Ok(()), Ok(())) => "REPLICATION SLAVE and REPLICATION CLIENT".into(),
                _ => format!(
                    "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO the source user (MariaDB ≥ 10.5: BINLOG MONITOR for the client part){}",
                    [client.err(), slave.err()].into_iter().flatten().map(|e| format!("; the server said: {e}")).collect::<String>()
                ),
            },
            false,
        );
        Ok(checks)
    }

    /// Stops writes on the source for cutover (`SET GLOBAL read_only = ON`).
    pub async fn set_read_only(&self) -> Result<(), SourceError> {
        let mut conn = self.conn().await?;
        conn.query_drop("SET GLOBAL read_only = ON").await.map_err(|e| map_error(e).context("making the source read-only (needs SUPER or READ_ONLY ADMIN)"))
    }

    /// Where the binlog stands now (`SHOW MASTER STATUS` on `conn`), None without a binlog.
    pub(crate) async fn master_status(conn: &mut mysql_async::Conn) -> Result<Option<LogPosition>, mysql_async::Error> {
        let row: Option<mysql_async::Row> = conn.query_first("SHOW MASTER STATUS").await?;
        Ok(row.and_then(|row| {
            let file: Option<String> = row.get(0);
            Some(position(&file?, row.get::<u64, _>(1).unwrap_or(4)))
        }))
    }

    /// The binlog's current end (`SHOW MASTER STATUS`).
    pub async fn current_position(&self) -> Result<LogPosition, SourceError> {
        let mut conn = self.conn().await?;
        let at = Self::master_status(&mut conn).await.map_err(|e| map_error(e).context("reading the binlog position"))?;
        at.ok_or_else(|| SourceError::new(ErrorKind::Definite, "the source has no binlog (log_bin is OFF)"))
    }

    /// Opens the binlog at `from` as replica `server_id`.
    pub async fn binlog_stream(&self, from: &LogPosition, tables: Vec<Table>, server_id: u32, until_caught_up: bool) -> Result<MySqlChangeStream, SourceError> {
        let (file, pos) = coordinates(from)?;
        let mut conn = self.conn().await?;
        let ctx = |e: mysql_async::Error| map_error(e).context(format!("opening the binlog at {from}"));
        let charset: Option<String> = conn
            .exec_first("SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", (self.database.as_str(),))
            .await
            .map_err(ctx)?;
        conn.query_drop(format!("SET @master_heartbeat_period = {}", HEARTBEAT_SECS * 1_000_000_000)).await.map_err(ctx)?;
        let mut request = BinlogStreamRequest::new(server_id).with_filename(file.as_bytes()).with_pos(pos);
        if until_caught_up {
            request = request.with_non_blocking();
        }
        let stream = conn.get_binlog_stream(request).await.map_err(ctx)?;
        Ok(MySqlChangeStream {
            stream,
            database: self.database.clone(),
            charset,
            tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
            file,
            committed: from.clone(),
            in_transaction: false,
            largest_event: 0,
            pending: VecDeque::new(),
        })
    }
}

/// A running binlog stream, yielding neutral events.
pub struct MySqlChangeStream {
    stream: mysql_async::BinlogStream,
    database: String,
    /// The database's default character set (for text columns added without one).
    charset: Option<String>,
    tables: HashMap<String, Table>,
    /// The binlog file being read (rotate events move it).
    file: String,
    /// The position after the last complete transaction.
    committed: LogPosition,
    /// Row events were seen since the last commit.
    in_transaction: bool,
    /// The largest event read on this connection (its read buffer keeps that size).
    largest_event: u32,
    pending: VecDeque<ChangeEvent>,
}

impl MySqlChangeStream {
    fn decode_err(&self, what: impl std::fmt::Display) -> SourceError {
        SourceError::new(ErrorKind::Definite, format!("binlog at {}: {what}", self.committed))
    }

    /// Reads events until at least one neutral event is pending (or the stream ends).
    async fn fill(&mut self) -> Result<bool, SourceError> {
        while self.pending.is_empty() {
            let Some(event) = self.stream.next().await else { return Ok(false) };
            let event = event.map_err(|e| map_error(e).context(format!("reading the binlog after {}", self.committed)))?;
            let header = event.header();
            let data = event.read_data().map_err(|e| self.decode_err(format!("undecodable event: {e}")))?;
            let end = position(&self.file, header.log_pos() as u64);
            self.largest_event = self.largest_event.max(header.event_size());
            match data {
                Some(EventData::RotateEvent(r)) => {
                    let name = r.name();
                    // The opening rotate names the file we asked for (checksum bytes may trail it).
                    self.file = if name.starts_with(self.file.as_str()) && !self.file.is_empty() { self.file.clone() } else { binlog_file_name(&name) };
                    if !self.in_transaction {
                        self.committed = position(&self.file, r.position());
                    }
                }
                Some(EventData::XidEvent(_)) => self.commit(end, header.timestamp()),
                Some(EventData::QueryEvent(q)) => {
                    let sql = q.query().trim().to_string();
                    if sql.eq_ignore_ascii_case("BEGIN") {
                        continue;
                    }
                    if sql.eq_ignore_ascii_case("COMMIT") {
                        self.commit(end, header.timestamp());
                        continue;
                    }
                    // DDL (and statements of other databases): its own transaction.
                    if q.schema() == self.database || sql.contains(&format!("`{}`.", self.database)) {
                        for (table, change) in crate::ddl::parse(&sql, &self.tables, self.charset.as_deref()) {
                            self.pending.push_back(ChangeEvent::Ddl { table, statement: sql.clone(), change });
                        }
                    }
                    self.commit(end, header.timestamp());
                }
                Some(EventData::HeartbeatEvent) if !self.in_transaction => {
                    self.pending.push_back(ChangeEvent::Heartbeat { position: self.committed.clone(), backlog_bytes: None });
                }
                Some(EventData::RowsEvent(rows)) => self.rows(&rows)?,
                _ => {}
            }
        }
        Ok(true)
    }

    fn commit(&mut self, end: LogPosition, time: u32) {
        self.in_transaction = false;
        self.committed = end.clone();
        self.pending.push_back(ChangeEvent::Commit { position: end, time: time as u64 });
    }

    fn rows(&mut self, rows: &RowsEventData<'_>) -> Result<(), SourceError> {
        self.in_transaction = true;
        let Some(tme) = self.stream.get_tme(rows.table_id()) else {
            return Err(self.decode_err(format!("rows for unknown table id {}", rows.table_id())));
        };
        if tme.database_name() != self.database {
            return Ok(());
        }
        let name = tme.table_name().into_owned();
        let Some(table) = self.tables.get(&name) else { return Ok(()) };
        // What cannot be decoded stops this table only (a TableError event), never the stream.
        let stop = |error: String| ChangeEvent::TableError { table: name.clone(), error };
        if tme.columns_count() as usize != table.columns.len() {
            self.pending.push_back(stop(format!(
                "table `{name}` has {} columns in the binlog but {} in ferry's model; the table changed without a DDL ferry saw — run `ferry migrate` for it again",
                tme.columns_count(),
                table.columns.len()
            )));
            return Ok(());
        }
        let key_columns: Vec<usize> = table.row_identity().map(|k| k.columns.iter().filter_map(|c| table.column_index(c)).collect()).unwrap_or_default();
        let mut out = Vec::new();
        let decoded: Result<(), SourceError> = (|| {
            for row in rows.rows(tme) {
                let (before, after) = row.map_err(|e| SourceError::new(ErrorKind::Definite, format!("binlog row of `{name}`: {e}")))?;
                // `key_only`: a before image (update, delete) of a table with a key is only ever
                // used for its key, so its other columns are not decoded (memory stays one row
                // image per change, not two, for wide rows).
                let conv = |r: mysql_async::binlog::row::BinlogRow, key_only: bool| -> Result<ferry_model::Row, SourceError> {
                    r.unwrap()
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let col = &table.columns[i];
                            if key_only && !key_columns.contains(&i) {
                                return Ok(ferry_model::Value::Null);
                            }
                            binlog_column_value(col, v)
                                .map_err(|m| SourceError::new(ErrorKind::BadData, format!("table `{name}`, column `{}` (binlog): {m}", col.name)))
                        })
                        .collect()
                };
                let keyed = !key_columns.is_empty();
                let change = match (before, after) {
                    (None, Some(a)) => RowChange::Insert(conv(a, false)?),
                    (Some(b), Some(a)) => RowChange::Update { before: conv(b, keyed)?, after: conv(a, false)? },
                    (Some(b), None) => RowChange::Delete(conv(b, keyed)?),
                    (None, None) => continue,
                };
                out.push(ChangeEvent::Row { table: name.clone(), change });
            }
            Ok(())
        })();
        match decoded {
            Ok(()) => self.pending.extend(out),
            Err(e) => self.pending.push_back(stop(e.message)),
        }
        Ok(())
    }
}

/// An event above this size leaves the connection's read buffer that large (mysql_async never
/// shrinks it): the stream asks to be reopened once the event's transaction is committed.
const LARGE_EVENT_BYTES: u32 = 32 << 20;

impl ChangeStream for MySqlChangeStream {
    fn holds_large_buffers(&self) -> bool {
        self.largest_event > LARGE_EVENT_BYTES
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
    }
}

/// A rotate event's file name. The fake rotate that opens a stream arrives before the format
/// description, so its checksum is not stripped and trails the name: binlog names are always
/// `base.NNNNNN`, so the name ends where the digits after the last dot end.
fn binlog_file_name(raw: &str) -> String {
    match raw.rfind('.') {
        Some(dot) => {
            let digits = raw[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
            raw[..dot + 1 + digits].to_string()
        }
        None => raw.to_string(),
    }
}

/// [`binlog_value`] plus the column's character set: the binlog holds text in the column's own
/// charset, where the snapshot reader gets the server's conversion to utf8mb4.
pub fn binlog_column_value(col: &ferry_model::Column, v: BinlogValue<'static>) -> Result<ferry_model::Value, String> {
    let text_type = matches!(col.data_type, DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. });
    let v = match (v, col.charset.as_deref()) {
        (BinlogValue::Value(MyValue::Bytes(b)), Some(cs)) if text_type => match crate::charset::decoder(cs) {
            crate::charset::Decoder::Utf8 => BinlogValue::Value(MyValue::Bytes(b)),
            _ => BinlogValue::Value(MyValue::Bytes(crate::charset::decode_column(cs, &b)?.into_bytes())),
        },
        (v, _) => v,
    };
    binlog_value(&col.data_type, v)
}

/// Maps a binlog value to what the snapshot reader gets for the same column, then converts it
/// the same way ([`crate::read::convert`]).
pub fn binlog_value(dt: &DataType, v: BinlogValue<'static>) -> Result<ferry_model::Value, String> {
    let v = match v {
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(_) => MyValue::try_from(v).map_err(|e| format!("JSON document: {e}"))?,
        BinlogValue::JsonDiff(_) => return Err("partial JSON update: set binlog_row_value_options='' on the source".into()),
    };
    let v = match (dt, v) {
        (_, MyValue::NULL) => MyValue::NULL,
        (DataType::Enum { values }, MyValue::Int(i)) => {
            let label = if i == 0 { String::new() } else { values.get(i as usize - 1).cloned().ok_or_else(|| format!("ENUM index {i} out of range"))? };
            MyValue::Bytes(label.into_bytes())
        }
        (DataType::Set { values }, MyValue::Bytes(mask)) => {
            let bits = mask.iter().rev().fold(0u64, |acc, b| (acc << 8) | *b as u64);
            let chosen: Vec<&str> = values.iter().enumerate().filter(|(i, _)| bits >> i & 1 == 1).map(|(_, v)| v.as_str()).collect();
            MyValue::Bytes(chosen.join(",").into_bytes())
        }
        // BINARY(n) is logged without its trailing zero bytes; reads return them.
        (DataType::Binary { len }, MyValue::Bytes(mut b)) => {
            if b.len() < *len as usize {
                b.resize(*len as usize, 0);
            }
            MyValue::Bytes(b)
        }
        // MEDIUMINT arrives zero-extended from 24 bits.
        (DataType::Int { bytes: 3, unsigned: false, .. }, MyValue::Int(i)) if i > 0x7F_FFFF => MyValue::Int(i - 0x100_0000),
        // YEAR 0 (0000) arrives as 1900, a value YEAR cannot hold otherwise.
        (DataType::Year, MyValue::Bytes(b)) if b == b"1900" => MyValue::Int(0),
        (DataType::Timestamp { .. }, MyValue::Bytes(b)) => epoch_to_datetime(std::str::from_utf8(&b).map_err(|_| "bad TIMESTAMP")?)?,
        (DataType::Timestamp { .. }, MyValue::Int(secs)) => epoch_to_datetime(&secs.to_string())?,
        (_, v) => v,
    };
    crate::read::convert(dt, v)
}

/// `seconds[.micros]` since the epoch → a UTC date-time value (0 is MySQL's zero TIMESTAMP).
fn epoch_to_datetime(text: &str) -> Result<MyValue, String> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
    let secs: i64 = secs.parse().map_err(|_| format!("bad TIMESTAMP {text:?}"))?;
    let micros: u32 = format!("{frac:0<6}")[..6].parse().map_err(|_| format!("bad TIMESTAMP {text:?}"))?;
    if secs == 0 && micros == 0 {
        return Ok(MyValue::Date(0, 0, 0, 0, 0, 0, 0));
    }
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = ferry_model::value::civil_from_days(days);
    Ok(MyValue::Date(y as u16, m, d, (rem / 3600) as u8, (rem % 3600 / 60) as u8, (rem % 60) as u8, micros))
}

/// The kind of MySQL/MariaDB positions ([`LogPosition::kind`]).
pub const POSITION_KIND: &str = "mysql";

/// A binlog position: text `file:offset` (as MySQL prints it), ordered by the file's index (its
/// numeric extension, so `binlog.000010` follows `binlog.000009`), then the offset.
pub fn position(file: &str, pos: u64) -> LogPosition {
    let index: u64 = file.rsplit('.').next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut order = index.to_be_bytes().to_vec();
    order.extend(pos.to_be_bytes());
    LogPosition::new(POSITION_KIND, format!("{file}:{pos}"), order)
}

/// Reads `file:offset` back.
pub fn parse_position(text: &str) -> Option<LogPosition> {
    let (file, pos) = text.rsplit_once(':')?;
    if file.is_empty() || file.contains('/') {
        return None;
    }
    Some(position(file, pos.parse().ok()?))
}

/// The binlog file and offset of a position of this source.
fn coordinates(p: &LogPosition) -> Result<(String, u64), SourceError> {
    let parsed =
        if p.kind == POSITION_KIND || p.is_legacy() { p.text.rsplit_once(':').and_then(|(f, o)| Some((f.to_string(), o.parse().ok()?))) } else { None };
    parsed.ok_or_else(|| {
        SourceError::new(ErrorKind::Definite, format!("position {p} ({}) is not a MySQL binlog position", if p.kind.is_empty() { "legacy" } else { &p.kind }))
    })
}

/// How long the source keeps binlogs, from `binlog_expire_logs_seconds` and `expire_logs_days`.
fn binlog_retention(seconds: Option<&str>, days: Option<&str>) -> String {
    match (seconds, days) {
        (Some(s), _) if s != "0" => format!("binlogs kept {s} s"),
        (_, Some(d)) if d != "0" && !d.starts_with("0.0") => format!("binlogs kept {d} days"),
        _ => "binlogs are never purged automatically".into(),
    }
}

/// Bytes of the binlogs `logs` (name, size; names order as their sequence numbers) after
/// offset `pos` of file `file`.
fn binlog_after(logs: impl Iterator<Item = (String, u64)>, file: &str, pos: u64) -> u64 {
    logs.map(|(name, size)| match name.as_str().cmp(file) {
        std::cmp::Ordering::Greater => size,
        std::cmp::Ordering::Equal => size.saturating_sub(pos),
        std::cmp::Ordering::Less => 0,
    })
    .sum()
}

/// A MySQL source read as replica `server_id`: ferry's [`CdcSource`] for MySQL/MariaDB.
pub struct MySqlCdc {
    pub source: std::sync::Arc<MySqlSource>,
    pub server_id: u32,
}

impl ferry_model::cdc::CdcSource for MySqlCdc {
    type Stream = MySqlChangeStream;
    type Snapshot = MySqlSource;
    fn position_kind(&self) -> &'static str {
        POSITION_KIND
    }
    fn parse_position(&self, text: &str) -> Option<LogPosition> {
        parse_position(text)
    }
    async fn preflight(&self) -> Result<Vec<PreflightCheck>, SourceError> {
        self.source.preflight(self.server_id).await
    }
    async fn current_position(&self) -> Result<LogPosition, SourceError> {
        self.source.current_position().await
    }
    async fn stream(&self, from: &LogPosition, tables: Vec<Table>, until_caught_up: bool) -> Result<MySqlChangeStream, SourceError> {
        self.source.binlog_stream(from, tables, self.server_id, until_caught_up).await
    }
    /// The binlog keeps every change after a finished load's snapshot position.
    fn reuses_finished_load(&self) -> bool {
        true
    }
    /// Nothing to prepare: the load's snapshot reads its binlog position under the global read lock.
    async fn prepare_full_load(&self, _tables: &[Table]) -> Result<std::sync::Arc<MySqlSource>, SourceError> {
        Ok(self.source.clone())
    }
    /// Every binlog event ends in a commit (or a DDL) the stream yields.
    fn commits_reach_every_position(&self) -> bool {
        true
    }
    /// The binlog after the committed position (`SHOW BINARY LOGS`): the rest of its file and
    /// every later file, whatever their tables; and how long the source keeps binlogs (the
    /// headroom a stopped sync has before what it needs is purged).
    async fn backlog(&self, committed: &LogPosition) -> Result<Option<(u64, String)>, SourceError> {
        let (file, pos) = coordinates(committed)?;
        let mut conn = self.source.conn().await?;
        let logs: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await.map_err(|e| map_error(e).context("listing the binlogs"))?;
        let logs = logs.into_iter().filter_map(|r| Some((r.get::<String, _>(0)?, r.get::<u64, _>(1)?)));
        let bytes = binlog_after(logs, &file, pos);
        // SHOW works on MySQL and MariaDB alike (information_schema's copy is MariaDB's only).
        let vars: Vec<(String, String)> =
            conn.query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_expire_logs_seconds', 'expire_logs_days')").await.unwrap_or_default();
        let var = |n: &str| vars.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
        let kept = match (var("binlog_expire_logs_seconds"), var("expire_logs_days")) {
            (None, None) => String::new(),
            (s, d) => format!(" ({})", binlog_retention(s, d)),
        };
        Ok(Some((bytes, format!("of binlog not applied yet{kept}"))))
    }
    async fn set_read_only(&self) -> Result<String, SourceError> {
        self.source.set_read_only().await?;
        Ok("source set read-only (SET GLOBAL read_only = ON)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binlog_encodings_match_reads() {
        let mi = DataType::Int { bytes: 3, unsigned: false, display_width: None };
        assert_eq!(binlog_value(&mi, BinlogValue::Value(MyValue::Int(0x80_0000))).unwrap(), ferry_model::Value::Int(-8_388_608));
        assert_eq!(binlog_value(&mi, BinlogValue::Value(MyValue::Int(5))).unwrap(), ferry_model::Value::Int(5));
        let bin = DataType::Binary { len: 4 };
        assert_eq!(binlog_value(&bin, BinlogValue::Value(MyValue::Bytes(vec![0, 0xff]))).unwrap(), ferry_model::Value::Bytes(vec![0, 0xff, 0, 0]));
        let mut latin1 = ferry_model::Column::new("c", DataType::Varchar { len: 9 }, "varchar(9)");
        latin1.charset = Some("latin1".into());
        assert_eq!(
            binlog_column_value(&latin1, BinlogValue::Value(MyValue::Bytes(b"caf\xe9 \x80".to_vec()))).unwrap(),
            ferry_model::Value::Text("café €".into())
        );
    }

    #[test]
    fn the_backlog_is_the_rest_of_the_file_and_every_later_one() {
        let logs = || [("binlog.000001".to_string(), 500u64), ("binlog.000002".to_string(), 800), ("binlog.000003".to_string(), 100)].into_iter();
        assert_eq!(binlog_after(logs(), "binlog.000002", 300), 600);
        assert_eq!(binlog_after(logs(), "binlog.000003", 100), 0);
    }

    #[test]
    fn rotate_names_lose_a_trailing_checksum() {
        assert_eq!(binlog_file_name("binlog.000001]\u{9}\u{3}x"), "binlog.000001");
        assert_eq!(binlog_file_name("mysql-bin.000123"), "mysql-bin.000123");
    }

    #[test]
    fn epoch_seconds_become_utc_date_times() {
        assert_eq!(epoch_to_datetime("0").unwrap(), MyValue::Date(0, 0, 0, 0, 0, 0, 0));
        assert_eq!(epoch_to_datetime("1").unwrap(), MyValue::Date(1970, 1, 1, 0, 0, 1, 0));
        assert_eq!(epoch_to_datetime("951782400.5").unwrap(), MyValue::Date(2000, 2, 29, 0, 0, 0, 500_000));
        assert_eq!(epoch_to_datetime("2147483647.000001").unwrap(), MyValue::Date(2038, 1, 19, 3, 14, 7, 1));
    }

    #[test]
    fn enum_indexes_and_set_masks_become_labels() {
        let e = DataType::Enum { values: vec!["a".into(), "b".into()] };
        assert_eq!(binlog_value(&e, BinlogValue::Value(MyValue::Int(2))).unwrap(), ferry_model::Value::Text("b".into()));
        assert_eq!(binlog_value(&e, BinlogValue::Value(MyValue::Int(0))).unwrap(), ferry_model::Value::Text("".into()));
        let s = DataType::Set { values: (0..10).map(|i| format!("v{i}")).collect() };
        assert_eq!(binlog_value(&s, BinlogValue::Value(MyValue::Bytes(vec![0b101, 0b10]))).unwrap(), ferry_model::Value::Text("v0,v2,v9".into()));
        assert_eq!(binlog_value(&DataType::Year, BinlogValue::Value(MyValue::Bytes(b"1900".to_vec()))).unwrap(), ferry_model::Value::Int(0));
    }
}
