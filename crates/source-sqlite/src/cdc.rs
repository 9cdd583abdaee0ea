//! Sync by triggers. SQLite has no change log a reader can follow, so `ferry sync --setup`
//! (the only step that writes to the file besides draining the log)
//! ([`SqliteCdc::install`]) installs on each synced table `AFTER INSERT/UPDATE/DELETE` triggers that append the changed
//! row's key to [`CHANGE_LOG`] (`seq INTEGER PRIMARY KEY AUTOINCREMENT`, table, key as a JSON
//! array of SQL literals from `quote()`, so any storage class — blobs included — is kept and a
//! trigger can never fail the application's write).
//!
//! Guarantees and why:
//! - **Hand-off.** Triggers first, then the full load, whose snapshot reads the log's last
//!   `seq` in the same read transaction as the rows ([`crate::read::open_snapshot`]). Writes are
//!   serialised and AUTOINCREMENT never reuses a value, so every change the snapshot does not
//!   contain has a larger `seq`; one it does contain and that is replayed is harmless (below).
//! - **Idempotent replay.** The stream ([`SqliteChangeStream::poll`]) reads a batch of log rows
//!   and, in the same read transaction, each logged key's *current* row: present → upsert that
//!   row, absent → delete the key. Applying a key's current state twice changes nothing, so
//!   replaying log rows the target already holds (after the hand-off or a crash) is exact.
//! - **Exactly once.** A batch ends with one commit at its last `seq`, which the engine stores
//!   in the target transaction of the batch's rows; log rows are deleted only after the target
//!   committed them ([`SqliteChangeStream::confirm`]), so a kill anywhere loses nothing.
//!   A source transaction larger than a batch may be seen in two batches (each converges to the
//!   same final rows).
//! - **Schema changes** (`pragma schema_version` moved): each synced table is read again
//!   ([`schema_change`]); added, dropped and renamed columns and added or dropped indexes become
//!   the model's ALTER operations, applied under the plan's rules like MySQL DDL, before the
//!   batch's rows (read in the new shape); a changed declared type or key stops only that table,
//!   saying to load it again.
//! - No loop guard is needed: ferry writes only the log table, which has no triggers.
//!   `ferry cutover` ([`SqliteCdc::release`]) drops the triggers and the log.

use crate::read::convert;
use crate::{blocking, map_error, quote_ident, quote_literal, SqliteSource, CHANGE_LOG, KIND};
use ferry_model::cdc::{CdcSource, ChangeEvent, ChangeStream, LogPosition, PreflightCheck, RowChange, SchemaChange};
use ferry_model::{AlterOp, ColumnPosition, ErrorKind, SourceError, Table, Value};
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Log rows read per batch.
const POLL_ROWS: usize = 5000;

/// The position after log row `seq`.
pub fn position(seq: i64) -> LogPosition {
    LogPosition::new(KIND, seq.to_string(), (seq.max(0) as u64).to_be_bytes().to_vec())
}

pub fn parse_position(text: &str) -> Option<LogPosition> {
    text.trim().parse::<i64>().ok().filter(|s| *s >= 0).map(position)
}

fn seq_of(p: &LogPosition) -> Result<i64, SourceError> {
    p.text.parse().map_err(|_| SourceError::new(ErrorKind::Definite, format!("{}: not a SQLite change-log position", p.text)))
}

/// The change capture of one SQLite file.
pub struct SqliteCdc {
    pub source: Arc<SqliteSource>,
}

fn trigger_name(table: &str, op: char) -> String {
    quote_ident(&format!("_ferry_{table}_{op}"))
}

/// The triggers that log `table`'s changes (none for a table without key: nothing could
/// identify its rows).
pub fn trigger_sql(table: &Table) -> Vec<String> {
    let Some(key) = table.row_identity() else { return Vec::new() };
    let t = quote_ident(&table.name);
    let name = quote_literal(&table.name);
    let key_of = |row: &str| format!("json_array({})", key.columns.iter().map(|c| format!("quote({row}.{})", quote_ident(c))).collect::<Vec<_>>().join(", "));
    let same = key.columns.iter().map(|c| format!("OLD.{q} IS NEW.{q}", q = quote_ident(c))).collect::<Vec<_>>().join(" AND ");
    let log = quote_ident(CHANGE_LOG);
    vec![
        format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER INSERT ON {t} BEGIN INSERT INTO {log} (tbl, key) VALUES ({name}, {}); END",
            trigger_name(&table.name, 'i'),
            key_of("NEW")
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER UPDATE ON {t} BEGIN INSERT INTO {log} (tbl, key) SELECT {name}, {} WHERE NOT ({same}); INSERT INTO {log} (tbl, key) VALUES ({name}, {}); END",
            trigger_name(&table.name, 'u'),
            key_of("OLD"),
            key_of("NEW")
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {t} BEGIN INSERT INTO {log} (tbl, key) VALUES ({name}, {}); END",
            trigger_name(&table.name, 'd'),
            key_of("OLD")
        ),
    ]
}

/// A SQL literal as `quote()` writes it, back to its value.
pub fn parse_literal(s: &str) -> Option<SqlValue> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("NULL") {
        return Some(SqlValue::Null);
    }
    if let Some(hex) = s.strip_prefix("X'").or_else(|| s.strip_prefix("x'")).and_then(|r| r.strip_suffix('\'')) {
        if hex.len() % 2 != 0 {
            return None;
        }
        return (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect::<Option<Vec<u8>>>().map(SqlValue::Blob);
    }
    if let Some(body) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(SqlValue::Text(body.replace("''", "'")));
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(SqlValue::Integer(i));
    }
    s.parse::<f64>().ok().map(SqlValue::Real)
}

fn has_log(conn: &Connection) -> Result<bool, SourceError> {
    crate::introspect::has_table(conn, CHANGE_LOG)
}

fn last_seq(conn: &Connection) -> Result<i64, SourceError> {
    if !has_log(conn)? {
        return Ok(0);
    }
    conn.query_row("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0)", [CHANGE_LOG], |r| r.get(0)).map_err(map_error)
}

impl SqliteSource {
    /// A read-write connection: only for installing the triggers, draining the log and removing both.
    fn open_rw(&self) -> Result<Connection, SourceError> {
        let conn = Connection::open_with_flags(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| map_error(e).context(format!("{}: opening for writing (sync keeps its change log in the file)", self.path.display())))?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(map_error)?;
        Ok(conn)
    }

    /// The change log's last sequence number now (0: none yet), read by `conn`'s transaction.
    pub(crate) fn snapshot_seq(conn: &Connection) -> Result<Option<LogPosition>, SourceError> {
        if !has_log(conn)? {
            return Ok(None);
        }
        last_seq(conn).map(|s| Some(position(s)))
    }
}

impl SqliteCdc {
    /// Installs the change log and every table's triggers (idempotent); says what it did.
    pub async fn install(&self, tables: &[Table]) -> Result<String, SourceError> {
        let conn = self.source.open_rw()?;
        let tables = tables.to_vec();
        blocking(move || {
            let mut sql = vec![format!(
                "CREATE TABLE IF NOT EXISTS {} (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, key TEXT NOT NULL)",
                quote_ident(CHANGE_LOG)
            )];
            let mut keyless = Vec::new();
            for t in &tables {
                let s = trigger_sql(t);
                if s.is_empty() {
                    keyless.push(t.name.clone());
                }
                sql.extend(s);
            }
            let script = format!("BEGIN IMMEDIATE; {}; COMMIT;", sql.join("; "));
            conn.execute_batch(&script).map_err(|e| map_error(e).context("installing the change-log triggers"))?;
            let mut said = format!("change log {CHANGE_LOG} and triggers on {} tables installed", tables.len() - keyless.len());
            if !keyless.is_empty() {
                said.push_str(&format!("; not captured (no primary key or NOT NULL unique key): {}", keyless.join(", ")));
            }
            Ok(said)
        })
        .await
    }

    async fn installed(&self) -> Result<(bool, Vec<String>), SourceError> {
        let conn = self.source.open()?;
        blocking(move || {
            let log = has_log(&conn)?;
            let mut st = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '\\_ferry\\_%' ESCAPE '\\'").map_err(map_error)?;
            let names = st.query_map([], |r| r.get::<_, String>(0)).map_err(map_error)?.collect::<Result<Vec<_>, _>>().map_err(map_error)?;
            Ok((log, names))
        })
        .await
    }
}

impl CdcSource for SqliteCdc {
    type Stream = SqliteChangeStream;
    type Snapshot = SqliteSource;

    fn position_kind(&self) -> &'static str {
        KIND
    }

    fn parse_position(&self, text: &str) -> Option<LogPosition> {
        parse_position(text)
    }

    async fn setup(&self, tables: &[Table]) -> Result<Option<String>, SourceError> {
        self.install(tables).await.map(Some)
    }

    async fn preflight(&self) -> Result<Vec<PreflightCheck>, SourceError> {
        let (log, triggers) = self.installed().await?;
        let mut checks = vec![PreflightCheck {
            name: "change log".into(),
            ok: log && !triggers.is_empty(),
            detail: if log && !triggers.is_empty() {
                format!("{CHANGE_LOG} and {} triggers installed", triggers.len())
            } else {
                "no change-log triggers in the file: run `ferry sync --setup` once (it writes triggers and a log table into the file)".into()
            },
            warning_only: false,
        }];
        let writable = self.source.open_rw().is_ok();
        checks.push(PreflightCheck {
            name: "file writable".into(),
            ok: writable,
            detail: if writable {
                "ferry can drain the change log".into()
            } else {
                format!("{} is not writable: sync deletes the log rows it applied", self.source.path.display())
            },
            warning_only: false,
        });
        let conn = self.source.open()?;
        let mode: String = blocking(move || conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(map_error)).await?;
        let wal = mode.eq_ignore_ascii_case("wal");
        checks.push(PreflightCheck {
            name: "journal mode".into(),
            ok: wal,
            detail: if wal {
                "WAL: the load and the stream never block the application's writers".into()
            } else {
                format!("{mode}: the full load's readers make the application's writers wait until it ends; `PRAGMA journal_mode = WAL` avoids it")
            },
            warning_only: true,
        });
        Ok(checks)
    }

    async fn current_position(&self) -> Result<LogPosition, SourceError> {
        let conn = self.source.open()?;
        blocking(move || last_seq(&conn).map(position)).await
    }

    async fn stream(&self, from: &LogPosition, tables: Vec<Table>, until_caught_up: bool) -> Result<SqliteChangeStream, SourceError> {
        let from = seq_of(from)?;
        let conn = self.source.open()?;
        let writer = self.source.open_rw()?;
        let schema_version = blocking(move || {
            let v: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).map_err(map_error)?;
            Ok((conn, v))
        })
        .await?;
        let keyless: Vec<String> = tables.iter().filter(|t| t.row_identity().is_none()).map(|t| t.name.clone()).collect();
        let pending = keyless
            .iter()
            .map(|t| ChangeEvent::TableError {
                table: t.clone(),
                error: "the table has no primary key or NOT NULL unique key, so its changes cannot be captured: add a key and run `ferry sync --setup`, or exclude it".into(),
            })
            .collect();
        Ok(SqliteChangeStream {
            tables: Arc::new(tables.into_iter().filter(|t| t.row_identity().is_some()).map(|t| (t.name.clone(), t)).collect()),
            from,
            until_caught_up,
            pending,
            conn: Some(schema_version.0),
            inflight: None,
            writer: Some(writer),
            // Not the file's version: the first poll compares every table's model (the plan's,
            // from before this run) with the file, so a change made while ferry was stopped is seen.
            schema_version: schema_version.1.wrapping_add(1),
            idle_since: None,
            rules: Arc::new(self.source.rules.clone()),
        })
    }

    fn reuses_finished_load(&self) -> bool {
        false
    }

    async fn prepare_full_load(&self, _tables: &[Table]) -> Result<Arc<SqliteSource>, SourceError> {
        let (log, triggers) = self.installed().await?;
        if !log || triggers.is_empty() {
            return Err(SourceError::new(
                ErrorKind::Definite,
                "no change-log triggers in the file: run `ferry sync --setup` first (it writes triggers and a log table into the file)",
            ));
        }
        Ok(self.source.clone())
    }

    fn commits_reach_every_position(&self) -> bool {
        true
    }

    /// A read transaction's snapshot holds exactly the changes logged up to the log's sequence
    /// in it (a change and its log row commit together), and the stream replays the log in
    /// sequence order: a reload chunk read in one is placed exactly.
    fn reloads_online(&self) -> bool {
        true
    }

    async fn release(&self) -> Result<Option<String>, SourceError> {
        let (_, triggers) = self.installed().await?;
        let conn = self.source.open_rw()?;
        let n = triggers.len();
        blocking(move || {
            let mut sql: Vec<String> = triggers.iter().map(|t| format!("DROP TRIGGER IF EXISTS {}", quote_ident(t))).collect();
            sql.push(format!("DROP TABLE IF EXISTS {}", quote_ident(CHANGE_LOG)));
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {}; COMMIT;", sql.join("; ")))
                .map_err(|e| map_error(e).context("removing the change-log triggers"))?;
            Ok(Some(format!("removed {n} change-log triggers and {CHANGE_LOG} from the SQLite file")))
        })
        .await
    }
}

/// The stream of one sync: polls the change log.
pub struct SqliteChangeStream {
    /// Shared with the poll under way (a poll copies it only when the file's schema changed).
    tables: Arc<HashMap<String, Table>>,
    from: i64,
    until_caught_up: bool,
    pending: VecDeque<ChangeEvent>,
    conn: Option<Connection>,
    /// The poll under way. Kept here, not in `next`'s future, so a `next` cancelled by the
    /// engine's timeout loses nothing: the next call awaits the same poll.
    inflight: Option<tokio::task::JoinHandle<(Connection, Result<Polled, SourceError>)>>,
    writer: Option<Connection>,
    schema_version: i64,
    idle_since: Option<Instant>,
    /// The user's cell rules: a table read again after a schema change follows them too.
    rules: Arc<ferry_model::CellRules>,
}

struct Polled {
    events: Vec<ChangeEvent>,
    last: Option<i64>,
    schema_version: i64,
    stopped: Vec<String>,
    /// The tables as the file now defines them, where a schema change altered one.
    tables: Option<HashMap<String, Table>>,
}

impl SqliteChangeStream {
    /// One batch of log rows after `from`, each as its key's current row (see the module note).
    fn poll(conn: &Connection, known: &HashMap<String, Table>, from: i64, known_version: i64, rules: &ferry_model::CellRules) -> Result<Polled, SourceError> {
        conn.execute_batch("BEGIN DEFERRED").map_err(map_error)?;
        let result = (|| {
            let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).map_err(map_error)?;
            let mut events = Vec::new();
            let mut stopped = Vec::new();
            let mut altered: Option<HashMap<String, Table>> = None;
            let mut ddl = false;
            if version != known_version {
                let names = crate::introspect::table_names(conn)?;
                let mut synced: Vec<String> = known.keys().cloned().collect();
                synced.sort();
                let mut changed = Vec::new();
                for name in synced {
                    let t = &known[&name];
                    if !names.contains(&name) {
                        events.push(ChangeEvent::Ddl {
                            table: Some(name.clone()),
                            statement: format!("table `{name}` is gone from the file"),
                            change: SchemaChange::DropTable,
                        });
                        stopped.push(name.clone());
                        ddl = true;
                        continue;
                    }
                    match schema_change(conn, t, rules)? {
                        TableChange::Same => {}
                        TableChange::Altered(ops, now) => {
                            events.push(ChangeEvent::Ddl {
                                table: Some(name.clone()),
                                statement: format!("schema change of `{name}` read from the file: {}", describe_ops(&ops)),
                                change: SchemaChange::Alter(ops),
                            });
                            changed.push(now);
                            ddl = true;
                        }
                        TableChange::Stop(error) => {
                            stopped.push(name.clone());
                            events.push(ChangeEvent::TableError { table: name.clone(), error });
                        }
                    }
                }
                if !changed.is_empty() {
                    let mut now = known.clone();
                    for t in changed {
                        now.insert(t.name.clone(), *t);
                    }
                    altered = Some(now);
                }
            }
            let mut st = conn
                .prepare_cached(&format!("SELECT seq, tbl, key FROM {} WHERE seq > ?1 ORDER BY seq LIMIT {POLL_ROWS}", quote_ident(CHANGE_LOG)))
                .map_err(map_error)?;
            let log: Vec<(i64, String, String)> =
                st.query_map([from], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(map_error)?.collect::<Result<_, _>>().map_err(map_error)?;
            let mut last = None;
            for (seq, tbl, key) in log {
                last = Some(seq);
                let Some(t) = altered.as_ref().unwrap_or(known).get(&tbl).filter(|_| !stopped.contains(&tbl)) else { continue };
                match current_row(conn, t, &key) {
                    Ok(change) => events.push(ChangeEvent::Row { table: tbl, change }),
                    Err(error) => {
                        stopped.push(tbl.clone());
                        events.push(ChangeEvent::TableError { table: tbl, error });
                    }
                }
            }
            // A schema change without log rows still commits (at the same position), so the
            // engine applies it now.
            let last = last.or(if ddl { Some(from) } else { None });
            Ok(Polled { events, last, schema_version: version, stopped, tables: altered })
        })();
        let _ = conn.execute_batch("COMMIT");
        result
    }
}

/// What changed in `t`'s definition in the file, as the model's ALTER operations, and the
/// table after them; Err for a change the stream cannot follow (a column's declared type, the
/// table's key), which stops the table. Columns SQLite adds go last; one dropped and one added
/// in the same place with the same declared type is a rename.
/// What the file's definition of a synced table says now.
enum TableChange {
    Same,
    /// These operations, giving this table.
    Altered(Vec<AlterOp>, Box<Table>),
    /// A change the stream cannot follow: the table stops with this.
    Stop(String),
}

fn schema_change(conn: &Connection, t: &Table, rules: &ferry_model::CellRules) -> Result<TableChange, SourceError> {
    if !crate::introspect::shape_differs(conn, t)? {
        return Ok(TableChange::Same);
    }
    let now = crate::introspect::introspect(conn, "", std::slice::from_ref(&t.name), rules)?;
    let Some(now) = now.tables.into_iter().next() else { return Ok(TableChange::Same) };
    for c in &t.columns {
        if let Some(n) = now.column(&c.name) {
            if !n.source_type.eq_ignore_ascii_case(&c.source_type) {
                return Ok(TableChange::Stop(format!(
                    "column `{}` changed its declared type on the source ({} → {}): load the table again (`ferry migrate` for it) and restart sync",
                    c.name, c.source_type, n.source_type
                )));
            }
        }
    }
    if t.row_identity().map(|k| &k.columns) != now.row_identity().map(|k| &k.columns) {
        return Ok(TableChange::Stop("the table's key changed on the source: load it again (`ferry migrate` for it) and restart sync".into()));
    }
    let was: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    let dropped: Vec<&str> = was.iter().copied().filter(|c| now.column(c).is_none()).collect();
    let added: Vec<&ferry_model::Column> = now.columns.iter().filter(|c| !was.contains(&c.name.as_str())).collect();
    let mut ops = Vec::new();
    let renamed = dropped.len() == 1
        && added.len() == 1
        && t.column_index(dropped[0]) == now.column_index(&added[0].name)
        && t.column(dropped[0]).is_some_and(|c| c.source_type.eq_ignore_ascii_case(&added[0].source_type));
    if renamed {
        ops.push(AlterOp::RenameColumn { from: dropped[0].to_string(), to: added[0].name.clone() });
    } else {
        ops.extend(dropped.iter().map(|c| AlterOp::DropColumn(c.to_string())));
        ops.extend(added.iter().map(|c| AlterOp::AddColumn { column: (*c).clone(), position: ColumnPosition::Unchanged }));
    }
    // Indexes a dropped column took with it are gone already.
    let after_columns = match t.altered(&ops) {
        Ok(a) => a,
        Err(e) => return Ok(TableChange::Stop(format!("the table's definition changed in a way ferry cannot follow ({e}): load it again and restart sync"))),
    };
    for ix in &after_columns.indexes {
        if !now.indexes.iter().any(|n| n.name == ix.name) {
            ops.push(AlterOp::DropIndex(ix.name.clone()));
        }
    }
    for ix in &now.indexes {
        if !after_columns.indexes.iter().any(|n| n.name == ix.name) {
            ops.push(AlterOp::AddIndex(ix.clone()));
        }
    }
    if ops.is_empty() {
        return Ok(TableChange::Same);
    }
    match t.altered(&ops) {
        Ok(after) => Ok(TableChange::Altered(ops, Box::new(after))),
        Err(e) => Ok(TableChange::Stop(format!("the table's definition changed in a way ferry cannot follow ({e}): load it again and restart sync"))),
    }
}

fn describe_ops(ops: &[AlterOp]) -> String {
    ops.iter()
        .map(|op| match op {
            AlterOp::AddColumn { column, .. } => format!("ADD COLUMN {}", column.name),
            AlterOp::DropColumn(c) => format!("DROP COLUMN {c}"),
            AlterOp::RenameColumn { from, to } => format!("RENAME COLUMN {from} TO {to}"),
            AlterOp::ModifyColumn { name, .. } => format!("MODIFY {name}"),
            AlterOp::AddIndex(ix) => format!("CREATE INDEX {}", ix.name),
            AlterOp::DropIndex(ix) => format!("DROP INDEX {ix}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The logged key's row as it is now: an upsert of it, or the key's delete.
fn current_row(conn: &Connection, t: &Table, key: &str) -> Result<RowChange, String> {
    let key_cols = &t.row_identity().expect("streamed tables have a key").columns;
    let literals: Vec<String> = serde_json::from_str(key).map_err(|e| format!("unreadable change-log key {key:?}: {e}"))?;
    let values: Vec<SqlValue> =
        literals.iter().map(|l| parse_literal(l).ok_or_else(|| format!("unreadable key literal {l:?} in the change log"))).collect::<Result<_, _>>()?;
    if values.len() != key_cols.len() {
        return Err(format!("the change log's key {key} does not fit the table's key ({})", key_cols.join(", ")));
    }
    let cols: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let cond: Vec<String> = key_cols.iter().enumerate().map(|(i, c)| format!("{} IS ?{}", quote_ident(c), i + 1)).collect();
    let sql = format!("SELECT {} FROM {} WHERE {}", cols.join(", "), quote_ident(&t.name), cond.join(" AND "));
    let mut st = conn.prepare_cached(&sql).map_err(|e| e.to_string())?;
    let mut rows = st.query(rusqlite::params_from_iter(values.iter())).map_err(|e| e.to_string())?;
    if let Some(r) = rows.next().map_err(|e| e.to_string())? {
        let mut row = Vec::with_capacity(t.columns.len());
        for (i, c) in t.columns.iter().enumerate() {
            let v = r.get_ref(i).map_err(|e| e.to_string())?;
            row.push(convert(c, v).map_err(|m| format!("column `{}`, key {key}: {m}", c.name))?);
        }
        return Ok(RowChange::Insert(row));
    }
    let mut row = vec![Value::Null; t.columns.len()];
    for (k, v) in key_cols.iter().zip(&values) {
        let i = t.column_index(k).ok_or_else(|| format!("key column `{k}` is not in the table"))?;
        row[i] = convert(&t.columns[i], v.into()).map_err(|m| format!("column `{k}`, key {key}: {m}"))?;
    }
    Ok(RowChange::Delete(row))
}

impl ChangeStream for SqliteChangeStream {
    async fn next(&mut self) -> Result<Option<ChangeEvent>, SourceError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            if self.inflight.is_none() {
                let conn = self.conn.take().ok_or_else(|| SourceError::new(ErrorKind::Definite, "the SQLite change stream failed earlier"))?;
                let (tables, from, version, rules) = (self.tables.clone(), self.from, self.schema_version, self.rules.clone());
                self.inflight = Some(tokio::task::spawn_blocking(move || {
                    let p = Self::poll(&conn, &tables, from, version, &rules);
                    (conn, p)
                }));
            }
            let done = self.inflight.as_mut().expect("a poll is under way").await;
            self.inflight = None;
            let (conn, polled) = done.map_err(|e| SourceError::new(ErrorKind::Definite, format!("the SQLite change stream failed: {e}")))?;
            self.conn = Some(conn);
            let polled = polled?;
            self.schema_version = polled.schema_version;
            if let Some(now) = polled.tables {
                self.tables = Arc::new(now);
            }
            if !polled.stopped.is_empty() {
                let tables = Arc::make_mut(&mut self.tables);
                for t in &polled.stopped {
                    tables.remove(t);
                }
            }
            self.pending.extend(polled.events);
            match polled.last {
                Some(seq) => {
                    self.from = seq;
                    self.idle_since = None;
                    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                    self.pending.push_back(ChangeEvent::Commit { position: position(seq), time });
                }
                None if self.pending.is_empty() => {
                    if self.until_caught_up {
                        return Ok(None);
                    }
                    let first = self.idle_since.is_none();
                    let since = *self.idle_since.get_or_insert_with(Instant::now);
                    if first || since.elapsed() >= Duration::from_secs(1) {
                        self.idle_since = Some(Instant::now());
                        return Ok(Some(ChangeEvent::Heartbeat { position: position(self.from), backlog_bytes: None }));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None => {}
            }
        }
    }

    fn set_table(&mut self, table: Table) {
        if table.row_identity().is_some() {
            Arc::make_mut(&mut self.tables).insert(table.name.clone(), table);
        }
    }

    fn forget_table(&mut self, name: &str) {
        Arc::make_mut(&mut self.tables).remove(name);
    }

    /// The target committed everything up to `position`: its log rows go.
    async fn confirm(&mut self, position: &LogPosition) -> Result<(), SourceError> {
        let seq = seq_of(position)?;
        let Some(writer) = self.writer.take() else { return Ok(()) };
        let (writer, result) = tokio::task::spawn_blocking(move || {
            let r = writer.execute(&format!("DELETE FROM {} WHERE seq <= ?1", quote_ident(CHANGE_LOG)), [seq]);
            (writer, r)
        })
        .await
        .map_err(|e| SourceError::new(ErrorKind::Definite, format!("draining the SQLite change log failed: {e}")))?;
        self.writer = Some(writer);
        match result.map_err(map_error) {
            Ok(_) => Ok(()),
            // The application holds the write lock: the rows go with the next confirm.
            Err(e) if e.kind.is_transient() => Ok(()),
            Err(e) => Err(e.context("draining the SQLite change log")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_literals_read_back_to_their_values() {
        assert_eq!(parse_literal("NULL"), Some(SqlValue::Null));
        assert_eq!(parse_literal("42"), Some(SqlValue::Integer(42)));
        assert_eq!(parse_literal("-1.5"), Some(SqlValue::Real(-1.5)));
        assert_eq!(parse_literal("'it''s'"), Some(SqlValue::Text("it's".into())));
        assert_eq!(parse_literal("X'00FF'"), Some(SqlValue::Blob(vec![0, 255])));
        assert_eq!(parse_literal("X'0'"), None);
        assert_eq!(parse_position("17").unwrap(), position(17));
        assert!(position(9) < position(10));
    }

    #[test]
    fn triggers_log_keys_of_every_change_and_both_keys_of_a_key_change() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER, v BLOB, PRIMARY KEY (a, b)) WITHOUT ROWID;").unwrap();
        let mut table = Table { name: "t".into(), ..Default::default() };
        for c in ["a", "b", "v"] {
            table.columns.push(ferry_model::Column { nullable: c == "v", ..ferry_model::Column::new(c, ferry_model::DataType::Text { max_bytes: 0 }, "") });
        }
        table.primary_key = Some(ferry_model::Key { name: "pk".into(), columns: vec!["a".into(), "b".into()] });
        conn.execute_batch(&format!("CREATE TABLE {} (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, key TEXT NOT NULL);", quote_ident(CHANGE_LOG)))
            .unwrap();
        for s in trigger_sql(&table) {
            conn.execute_batch(&s).unwrap();
        }
        conn.execute_batch("INSERT INTO t VALUES ('x''y', 1, x'00'); UPDATE t SET v = x'01'; UPDATE t SET b = 2; DELETE FROM t;").unwrap();
        let mut st = conn.prepare("SELECT key FROM _ferry_changes ORDER BY seq").unwrap();
        let keys: Vec<String> = st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        assert_eq!(keys, [r#"["'x''y'","1"]"#, r#"["'x''y'","1"]"#, r#"["'x''y'","1"]"#, r#"["'x''y'","2"]"#, r#"["'x''y'","2"]"#]);
    }
}
