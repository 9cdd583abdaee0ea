//! Snapshot reads. Every reader holds a read transaction on one state of the file
//! ([`open_snapshot`]): on a WAL file the first reader's snapshot is opened by the others
//! (`sqlite3_snapshot_open`), or, where the WAL holds no transaction yet (SQLite takes no
//! snapshot then), a reader joins only if it still finds the WAL empty; on a rollback-journal file every reader takes its shared lock
//! before any can be refused one, and while any shared lock is held no writer can commit, so all
//! read the state of the first lock. A reader that cannot join (a writer is waiting to commit)
//! is dropped and the load runs with fewer — never with one that sees another state.
//!
//! Cells are converted by [`convert`] from their stored class into the column's profiled type;
//! a cell that has no lossless reading (one written after the profile) is a definite error
//! naming table, column and row — never nulled or rounded.

use crate::dates;
use crate::{blocking, map_error, quote_ident, SqliteSource};
use ferry_model::{ChunkRange, Column, DataType, ErrorKind, Row, RowSender, SnapshotPosition, SnapshotReader, SourceError, Table, Value};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// A batch ends at 2,000 rows or 1 MB, whichever comes first: the load's row channel holds a
/// few batches, so wide rows (blobs) travel one or two at a time and a lane's memory stays a
/// few megabytes above its largest row.
const BATCH_ROWS: usize = 2000;
const BATCH_BYTES: usize = 1 << 20;

/// The integer column chunks split on: the rowid alias or a one-column integer primary key.
pub fn chunk_key(table: &Table) -> Option<String> {
    let pk = table.primary_key.as_ref().filter(|k| k.columns.len() == 1)?;
    let c = table.column(&pk.columns[0])?;
    matches!(c.data_type, DataType::Int { .. }).then(|| c.name.clone())
}

pub fn is_number(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// A real's shortest text that reads back to the same double (no exponent).
pub fn real_text(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        format!("{x}")
    }
}

/// Integer and fractional digits of a plain decimal text (`-0012.50` → 2 and 1: leading and
/// trailing zeros do not count), what numeric(p,s) must hold.
pub fn decimal_digits(text: &str) -> (usize, usize) {
    let digits = text.trim().trim_start_matches(['-', '+']);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    (int.trim_start_matches('0').len(), frac.trim_end_matches('0').len())
}

/// The ` WHERE …` clause of `range`.
pub fn range_condition(range: &ChunkRange) -> Result<String, SourceError> {
    let column = match range {
        ChunkRange::IntKey { column, .. } => quote_ident(column),
        _ => String::new(),
    };
    range.key_condition(&column).ok_or_else(|| SourceError::new(ErrorKind::Definite, format!("a SQLite source cannot read chunk {range:?}")))
}

fn utf8(b: &[u8]) -> Result<String, String> {
    match std::str::from_utf8(b) {
        Ok(s) if s.contains('\0') => Err("the text holds a NUL character, which PostgreSQL text cannot store; override the column type to bytea".into()),
        Ok(s) => Ok(s.to_string()),
        Err(e) => Err(format!("the text is not UTF-8 ({e}); override the column type to bytea to keep its bytes")),
    }
}

fn later(what: &str, col: &Column) -> String {
    format!(
        "holds {what}, which the column's profile did not find (written after the plan?): {} cannot hold it; run `ferry plan` again",
        type_name(&col.data_type)
    )
}

fn type_name(t: &DataType) -> &'static str {
    match t {
        DataType::Int { .. } => "an integer column",
        DataType::Bool => "a boolean column",
        DataType::Double { .. } => "a double precision column",
        DataType::Decimal { .. } => "a numeric column",
        DataType::Date => "a date column",
        DataType::DateTime { .. } | DataType::Timestamp { .. } => "a timestamp column",
        DataType::Json => "a JSON column",
        _ => "the column",
    }
}

fn describe(v: &ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => format!("the integer {i}"),
        ValueRef::Real(f) => format!("the real {f}"),
        ValueRef::Text(t) => format!("the text '{}'", String::from_utf8_lossy(&t[..t.len().min(40)])),
        ValueRef::Blob(b) => format!("a {}-byte BLOB", b.len()),
    }
}

/// A cell's storage class and its raw text as `ferry.quarantine` keeps it (and verify derives
/// it from the stored cell in SQLite's SQL, `verify::raw_expr`): numbers as text, UTF-8 text
/// without NUL as itself, other bytes as `X'…'` hex.
pub fn raw_cell(v: &ValueRef<'_>) -> (&'static str, String) {
    let hex = |b: &[u8]| format!("X'{}'", b.iter().map(|x| format!("{x:02X}")).collect::<String>());
    match v {
        ValueRef::Null => ("null", String::new()),
        ValueRef::Integer(i) => ("integer", i.to_string()),
        ValueRef::Real(f) => ("real", real_text(*f)),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) if !s.contains('\0') => ("text", s.to_string()),
            _ => ("text", hex(t)),
        },
        ValueRef::Blob(b) => ("blob", hex(b)),
    }
}

/// `bytes` as text with each sequence that is not UTF-8, and each NUL, replaced by U+FFFD.
pub fn replace_bad_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}")
}

/// A stored cell as a value of `col`'s profiled type. A cell the type cannot hold is an error,
/// unless the column's rule sets it aside (`Value::Quarantined`): `quarantine` → NULL on the
/// target, `replace_bad_text` → its text with the bad bytes replaced.
pub fn convert(col: &Column, v: ValueRef<'_>) -> Result<Value, String> {
    match convert_cell(col, v) {
        Err(reason) if col.quarantine || (col.replace_bad_text && is_bad_text(col, &v)) => {
            let (class, raw) = raw_cell(&v);
            let value = match v {
                ValueRef::Text(t) | ValueRef::Blob(t) if col.replace_bad_text && is_bad_text(col, &v) => Value::Text(replace_bad_text(t)),
                _ => Value::Null,
            };
            let reason = if matches!(value, Value::Text(_)) { format!("{reason} (replaced by U+FFFD: invalid_text = \"replace\")") } else { reason };
            Ok(Value::Quarantined(Box::new(ferry_model::Quarantined { value, class: class.into(), raw, reason })))
        }
        r => r,
    }
}

/// `v` is text (or a blob) that a text column cannot hold: not UTF-8, or with a NUL.
fn is_bad_text(col: &Column, v: &ValueRef<'_>) -> bool {
    matches!(col.data_type, DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. })
        && matches!(v, ValueRef::Text(t) | ValueRef::Blob(t) if std::str::from_utf8(t).map_or(true, |s| s.contains('\0')))
}

fn convert_cell(col: &Column, v: ValueRef<'_>) -> Result<Value, String> {
    use ValueRef as V;
    if let V::Null = v {
        return Ok(Value::Null);
    }
    let odd = || later(&describe(&v), col);
    Ok(match &col.data_type {
        DataType::Int { .. } => match v {
            V::Integer(i) => Value::Int(i),
            _ => return Err(odd()),
        },
        DataType::Bool => match v {
            V::Integer(i @ (0 | 1)) => Value::Int(i),
            _ => return Err(odd()),
        },
        DataType::Double { .. } | DataType::Float { .. } => match v {
            V::Integer(i) if i.unsigned_abs() <= 1 << 53 => Value::Double(i as f64),
            V::Real(f) => Value::Double(f),
            _ => return Err(odd()),
        },
        DataType::Decimal { precision, scale, .. } => {
            let text = match v {
                V::Integer(i) => i.to_string(),
                V::Real(f) if f.is_finite() => real_text(f),
                V::Text(t) if std::str::from_utf8(t).is_ok_and(is_number) => String::from_utf8_lossy(t).trim().to_string(),
                _ => return Err(odd()),
            };
            if *precision <= 1000 {
                let (int, frac) = decimal_digits(&text);
                if frac > *scale as usize || int > (*precision - *scale) as usize {
                    return Err(format!("holds {text}, which numeric({precision},{scale}) cannot hold exactly; run `ferry plan` again (the profile widens the column) or override its type"));
                }
            }
            Value::Decimal(text)
        }
        DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. } => match v {
            V::Text(t) | V::Blob(t) => Value::Text(utf8(t)?),
            V::Integer(i) => Value::Text(i.to_string()),
            V::Real(f) => Value::Text(real_text(f)),
            V::Null => Value::Null,
        },
        DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::Blob { .. } => match v {
            V::Blob(b) | V::Text(b) => Value::Bytes(b.to_vec()),
            V::Integer(i) => Value::Bytes(i.to_string().into_bytes()),
            V::Real(f) => Value::Bytes(real_text(f).into_bytes()),
            V::Null => Value::Null,
        },
        DataType::Json => match v {
            // Under a quarantine rule a text that is not JSON is set aside here, before
            // PostgreSQL would refuse the whole chunk.
            V::Text(t) if col.quarantine && serde_json::from_slice::<serde_json::Value>(t).is_err() => return Err("holds a text that is not valid JSON".into()),
            V::Text(t) => Value::Json(utf8(t)?),
            _ => return Err(odd()),
        },
        DataType::Date => match v {
            V::Text(t) => match std::str::from_utf8(t).ok().and_then(dates::parse_text) {
                Some(d) if d.hour == 0 && d.minute == 0 && d.second == 0 && d.micros == 0 => Value::Date(d.date),
                _ => return Err(odd()),
            },
            _ => return Err(odd()),
        },
        DataType::DateTime { .. } | DataType::Timestamp { .. } => {
            let d = match v {
                V::Text(t) => std::str::from_utf8(t).ok().and_then(dates::parse_text),
                V::Integer(i) => match col.stored_as.as_deref() {
                    Some("unixepoch") => i.checked_mul(1000).and_then(dates::from_unix_ms),
                    Some("unixepoch-ms") => dates::from_unix_ms(i),
                    Some("julianday") => dates::from_julian(i as f64),
                    _ => None,
                },
                V::Real(f) => match col.stored_as.as_deref() {
                    Some("unixepoch") => dates::from_unix_seconds_real(f),
                    Some("unixepoch-ms") => dates::from_unix_ms(f.round() as i64),
                    Some("julianday") => dates::from_julian(f),
                    _ => None,
                },
                _ => None,
            };
            let d = d.ok_or_else(odd)?;
            if matches!(col.data_type, DataType::Timestamp { .. }) {
                Value::Timestamp(d)
            } else {
                Value::DateTime(d)
            }
        }
        other => return Err(format!("a SQLite source does not produce {other:?}")),
    })
}

/// One reader: a read-only connection inside its read transaction.
pub struct SqliteReader {
    conn: Option<Connection>,
}

/// Reads `sql`'s rows (the table's columns, then the rowid where there is one) into batches.
pub(crate) fn read_rows(conn: &Connection, table: &Table, sql: &str, with_rowid: bool, tx: &RowSender) -> Result<u64, SourceError> {
    let ctx = |e: rusqlite::Error| map_error(e).context(format!("reading table `{}`", table.name));
    let mut st = conn.prepare(sql).map_err(ctx)?;
    let mut rows = st.query([]).map_err(ctx)?;
    let n = table.columns.len();
    let (mut batch, mut bytes, mut count): (Vec<Row>, usize, u64) = (Vec::with_capacity(BATCH_ROWS), 0, 0);
    while let Some(r) = rows.next().map_err(ctx)? {
        count += 1;
        let mut vals = Vec::with_capacity(n);
        let mut failure = None;
        for (i, col) in table.columns.iter().enumerate() {
            let raw = r.get_ref(i).map_err(ctx)?;
            bytes += match raw {
                ValueRef::Text(b) | ValueRef::Blob(b) => b.len() + 8,
                _ => 8,
            };
            match convert(col, raw) {
                Ok(v) => vals.push(v),
                Err(msg) => {
                    failure.get_or_insert((i, msg));
                    vals.push(Value::Null);
                }
            }
        }
        if let Some((i, msg)) = failure {
            let at = match (table.row_identity(), with_rowid) {
                (None, true) => format!("rowid {}", r.get::<_, i64>(n).map_err(ctx)?),
                _ => table.describe_row(&vals, count),
            };
            return Err(SourceError::new(ErrorKind::BadData, format!("table `{}`, column `{}`, {at}: {msg}", table.name, table.columns[i].name)));
        }
        batch.push(vals);
        if batch.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
            bytes = 0;
            if tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS))).is_err() {
                return Ok(count);
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(count)
}

/// `SELECT` of `table`'s columns with `condition`, and its rowid (to name a row in a message)
/// where no key identifies rows — such a table is never WITHOUT ROWID, which needs a primary key.
pub(crate) fn select_sql(table: &Table, condition: &str) -> (String, bool) {
    let with_rowid = table.row_identity().is_none();
    let mut cols: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
    if with_rowid {
        cols.push("_rowid_".into());
    }
    if cols.is_empty() {
        cols.push("NULL".into());
    }
    (format!("SELECT {} FROM {}{condition}", cols.join(", "), quote_ident(&table.name)), with_rowid)
}

impl SnapshotReader for SqliteReader {
    async fn read(&mut self, table: &Table, range: &ChunkRange, tx: RowSender) -> Result<u64, SourceError> {
        let conn = self.conn.take().ok_or_else(|| SourceError::new(ErrorKind::Definite, "a SQLite reader was used after a failed read"))?;
        let (sql, with_rowid) = select_sql(table, &range_condition(range)?);
        let table = table.clone();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let r = read_rows(&conn, &table, &sql, with_rowid, &tx);
            (conn, r)
        })
        .await
        .map_err(|e| SourceError::new(ErrorKind::Definite, format!("a SQLite reader failed: {e}")))?;
        self.conn = Some(conn);
        result
    }
}

/// A read outside any transaction: a new connection learns only from I/O that the file is in
/// WAL mode, which the snapshot calls need it to know.
fn touch(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)).map(|_| ())
}

/// Starts `conn`'s read transaction (its first read takes the snapshot or the shared lock).
fn begin_read(conn: &Connection) -> rusqlite::Result<()> {
    touch(conn)?;
    conn.execute_batch("BEGIN DEFERRED")?;
    touch(conn)
}

/// Opens up to `readers` readers on one state of the file; see the module note.
pub async fn open_snapshot(source: &SqliteSource, readers: usize) -> Result<(Vec<SqliteReader>, SnapshotPosition), SourceError> {
    let mut conns = Vec::new();
    for _ in 0..readers.max(1) {
        conns.push(source.open()?);
    }
    blocking(move || {
        let first = &conns[0];
        let mode: String = first.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(map_error)?;
        let wal = mode.eq_ignore_ascii_case("wal");
        begin_read(first).map_err(map_error)?;
        // The change log's last seq, in the first reader's transaction: where a sync starts.
        let log_position = SqliteSource::snapshot_seq(first)?;
        let mut joined = vec![conns.remove(0)];
        if wal {
            match Snapshot::get(&joined[0]) {
                Ok(snap) => {
                    for c in conns {
                        if snap.open(&c).is_ok() {
                            joined.push(c);
                        }
                    }
                }
                // SQLite takes no snapshot of a WAL no transaction was written to since it was
                // created (the file as checkpointed). While the first reader reads without the
                // WAL, no checkpoint can reset it either, so a reader that finds it still empty
                // sees the first one's state: nothing was committed in between.
                Err(_) => {
                    for c in conns {
                        if begin_read(&c).is_ok() && Snapshot::get(&c).is_err() {
                            joined.push(c);
                        }
                    }
                }
            }
        } else {
            for c in conns {
                // A writer waiting to commit makes a new shared lock wait: do not wait long,
                // read with the readers that joined.
                c.busy_timeout(std::time::Duration::from_millis(200)).map_err(map_error)?;
                if begin_read(&c).is_ok() {
                    c.busy_timeout(std::time::Duration::from_secs(30)).map_err(map_error)?;
                    joined.push(c);
                }
            }
        }
        let n = joined.len();
        let note = if wal {
            format!("{n} readers share one WAL snapshot of the file")
        } else {
            format!("{n} readers hold shared locks on the file (rollback journal): its writers wait until the load ends")
        };
        tracing::info!("{note}");
        let position = SnapshotPosition { position: log_position, gtid: None, consistent: true, note: None, readers: Some(note) };
        Ok((joined.into_iter().map(|c| SqliteReader { conn: Some(c) }).collect(), position))
    })
    .await
}

/// A WAL read snapshot (`sqlite3_snapshot_get`), freed when dropped.
struct Snapshot(*mut rusqlite::ffi::sqlite3_snapshot);

impl Snapshot {
    /// The snapshot `conn`'s open read transaction sees.
    fn get(conn: &Connection) -> Result<Snapshot, SourceError> {
        let mut p = std::ptr::null_mut();
        // SAFETY: the handle is valid while `conn` lives; the schema name is a NUL-terminated
        // literal; `p` receives a snapshot we own and free in Drop.
        let rc = unsafe { rusqlite::ffi::sqlite3_snapshot_get(conn.handle(), c"main".as_ptr(), &mut p) };
        if rc != rusqlite::ffi::SQLITE_OK {
            return Err(SourceError::new(ErrorKind::Definite, format!("sqlite3_snapshot_get failed (code {rc})")));
        }
        Ok(Snapshot(p))
    }

    /// Starts `conn`'s read transaction on this snapshot.
    fn open(&self, conn: &Connection) -> Result<(), SourceError> {
        touch(conn).map_err(map_error)?;
        conn.execute_batch("BEGIN DEFERRED").map_err(map_error)?;
        // SAFETY: as in `get`; the snapshot outlives the call.
        let rc = unsafe { rusqlite::ffi::sqlite3_snapshot_open(conn.handle(), c"main".as_ptr(), self.0) };
        if rc != rusqlite::ffi::SQLITE_OK {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(SourceError::new(ErrorKind::Transient, format!("sqlite3_snapshot_open failed (code {rc})")));
        }
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)).map_err(map_error)?;
        Ok(())
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // SAFETY: the pointer came from sqlite3_snapshot_get and is freed once.
        unsafe { rusqlite::ffi::sqlite3_snapshot_free(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: DataType) -> Column {
        Column::new("c", t, "x")
    }

    #[test]
    fn cells_convert_losslessly_or_not_at_all() {
        let dec = col(DataType::Decimal { precision: 10, scale: 2, unsigned: false });
        assert_eq!(convert(&dec, ValueRef::Real(0.99)).unwrap(), Value::Decimal("0.99".into()));
        assert_eq!(convert(&dec, ValueRef::Integer(5)).unwrap(), Value::Decimal("5".into()));
        assert!(convert(&dec, ValueRef::Real(0.125)).unwrap_err().contains("numeric(10,2)"));
        let int = col(DataType::Int { bytes: 4, unsigned: false, display_width: None });
        assert!(convert(&int, ValueRef::Text(b"toto")).unwrap_err().contains("'toto'"));
        let text = col(DataType::Text { max_bytes: u64::MAX });
        assert_eq!(convert(&text, ValueRef::Real(0.1 + 0.2)).unwrap(), Value::Text("0.30000000000000004".into()));
        assert!(convert(&text, ValueRef::Text(b"a\0b")).unwrap_err().contains("NUL"));
        assert!(convert(&text, ValueRef::Text(&[0xff, 0x41])).unwrap_err().contains("not UTF-8"));
        let mut ts = col(DataType::Timestamp { fsp: 0 });
        ts.stored_as = Some("unixepoch".into());
        assert_eq!(convert(&ts, ValueRef::Integer(86_400)).unwrap().to_string(), Value::Timestamp(dates::from_unix_ms(86_400_000).unwrap()).to_string());
        assert!(matches!(convert(&ts, ValueRef::Text(b"2001-02-03 04:05:06")).unwrap(), Value::Timestamp(_)));
        assert_eq!(real_text(1e20), "100000000000000000000");
        assert_eq!(decimal_digits("-0012.50"), (2, 1));
        assert_eq!(decimal_digits("0"), (0, 0));
        assert!(convert(&dec, ValueRef::Integer(123_456_789)).unwrap_err().contains("numeric(10,2)"), "9 integer digits do not fit 10,2");
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;

    #[test]
    fn wal_readers_share_the_first_readers_snapshot() {
        let path = std::env::temp_dir().join(format!("ferry_snap_{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let w = Connection::open(&path).unwrap();
        w.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);").unwrap();
        let src = SqliteSource { path: path.clone(), rules: Default::default() };
        let first = src.open().unwrap();
        first.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0)).unwrap();
        begin_read(&first).unwrap();
        let snap = Snapshot::get(&first).unwrap();
        w.execute_batch("INSERT INTO t VALUES (2);").unwrap();
        let second = src.open().unwrap();
        snap.open(&second).unwrap();
        let n: i64 = second.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "the second reader sees the first one's snapshot, not the later insert");
        drop((first, second, snap, w));

        // The last connection closed: the WAL was checkpointed away, so no snapshot can be
        // taken; readers still join while nothing is written.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (readers, _) = rt.block_on(open_snapshot(&src, 3)).unwrap();
        assert_eq!(readers.len(), 3);
    }
}
