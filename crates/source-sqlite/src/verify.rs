//! The SQLite side of `verify`. SQLite has no SHA-256 in SQL, so the canonical texts are
//! computed in SQLite's SQL ([`canonical_expr`]), streamed to ferry and hashed there with the
//! reference rule (`ferry_model::canonical::RowText`, as `row_hash`; the registry declares `hash_in_sql: false`): the chunk hashes equal
//! the target's for equal data, and nothing else changes for the engine.
//!
//! The texts come from SQLite's own functions over the stored cells (`strftime` for every date
//! form, `printf` for decimals at their scale, `hex`), not from the reader's conversion, so a
//! reader that converted a cell wrongly shows up as a difference. One function is ferry's,
//! registered on every connection ([`register_functions`]): the shortest exact text of a REAL
//! (SQLite prints 15 digits, which does not identify a double).

use crate::read::{range_condition, read_rows, real_text, select_sql};
use crate::{blocking, map_error, quote_ident, quote_literal, SqliteSource};
use ferry_model::canonical::{json_canonical, Canon, ColumnText, RowText};
use ferry_model::{ChunkRange, Column, DataType, RowSender, SourceError, Table};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// Registers `ferry_real_text(x)` on `conn`.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("ferry_real_text", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Real(f) => Some(real_text(f)),
            ValueRef::Integer(i) => Some(i.to_string()),
            ValueRef::Null => None,
            ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        })
    })
    .map(|_| ())?;
    // Whether a cell's bytes are UTF-8 without NUL, what PostgreSQL text holds (a check, not a
    // conversion: the canonical text stays SQLite's).
    conn.create_scalar_function("ferry_utf8_ok", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) | ValueRef::Blob(t) => std::str::from_utf8(t).is_ok_and(|s| !s.contains('\0')),
            _ => true,
        })
    })?;
    conn.create_scalar_function("ferry_is_number", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) => std::str::from_utf8(t).is_ok_and(crate::read::is_number),
            ValueRef::Integer(_) | ValueRef::Real(_) => true,
            _ => false,
        })
    })?;
    // The declared replacement of `invalid_text = "replace"` (the raw cell is checked against
    // ferry.quarantine separately, see `set_aside_exprs`).
    conn.create_scalar_function("ferry_utf8_replace", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) | ValueRef::Blob(t) => Some(crate::read::replace_bad_text(t)),
            _ => None,
        })
    })
    .map(|_| ())
}

/// SQLite's SQL for "the cell of `col` is one its type holds" (what the reader converts rather
/// than sets aside), from the stored cell's class and SQLite's own date functions.
fn fits_expr(col: &Column) -> String {
    // A NULL from a date function is "does not fit", never unknown (NOT NULL is NULL).
    format!("coalesce({}, 0)", fits_raw(col))
}

fn fits_raw(col: &Column) -> String {
    let c = &quote_ident(&col.name);
    let iso = format!("(typeof({c}) = 'text' AND {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND julianday({c}) IS NOT NULL)");
    match &col.data_type {
        DataType::Int { .. } => format!("typeof({c}) = 'integer'"),
        DataType::Bool => format!("(typeof({c}) = 'integer' AND {c} IN (0, 1))"),
        DataType::Double { .. } | DataType::Float { .. } => format!("(typeof({c}) = 'real' OR (typeof({c}) = 'integer' AND abs({c}) <= 9007199254740992))"),
        DataType::Decimal { .. } => format!("(typeof({c}) IN ('integer', 'real') OR (typeof({c}) = 'text' AND ferry_is_number({c})))"),
        DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. } => format!("ferry_utf8_ok({c})"),
        DataType::Json => format!("(typeof({c}) = 'text' AND ferry_utf8_ok({c}) AND json_valid({c}))"),
        DataType::Date => format!("({iso} AND strftime('%H:%M:%f', {c}) = '00:00:00.000')"),
        DataType::DateTime { .. } | DataType::Timestamp { .. } => {
            let number = match col.stored_as.as_deref() {
                Some("unixepoch") => format!("strftime('%Y', {c}, 'unixepoch')"),
                Some("unixepoch-ms") => format!("strftime('%Y', {c} / 1000.0, 'unixepoch')"),
                Some("julianday") => format!("strftime('%Y', {c})"),
                _ => "0".into(),
            };
            format!("({iso} OR (typeof({c}) IN ('integer', 'real') AND {number} BETWEEN '0000' AND '9999'))")
        }
        _ => "1".into(),
    }
}

/// SQLite's SQL for "the cell of `col` is set aside" by the column's rule (None: it sets none).
fn set_aside_condition(col: &Column) -> Option<String> {
    let c = &quote_ident(&col.name);
    let text = matches!(col.data_type, DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. });
    let bad_text = format!("(typeof({c}) IN ('text', 'blob') AND NOT ferry_utf8_ok({c}))");
    match (col.quarantine, col.replace_bad_text && text) {
        (true, _) => Some(format!("({c} IS NOT NULL AND NOT {})", fits_expr(col))),
        (false, true) => Some(bad_text),
        (false, false) => None,
    }
}

/// The storage class and raw text of a set-aside cell of `col`, as ferry.quarantine keeps them
/// (`read::raw_cell`), in SQLite's SQL; NULL for cells not set aside.
pub fn set_aside_exprs(col: &Column) -> Option<[String; 2]> {
    let cond = set_aside_condition(col)?;
    let c = &quote_ident(&col.name);
    let hex = format!("'X''' || hex({c}) || ''''");
    let raw = format!(
        "CASE typeof({c}) WHEN 'integer' THEN CAST({c} AS TEXT) WHEN 'real' THEN ferry_real_text({c}) \
         WHEN 'text' THEN CASE WHEN ferry_utf8_ok({c}) THEN {c} ELSE {hex} END ELSE {hex} END"
    );
    Some([format!("CASE WHEN {cond} THEN typeof({c}) END"), format!("CASE WHEN {cond} THEN {raw} END")])
}

/// The text SQLite's `strftime` gives for a date cell of a column stored as `stored_as` with
/// `digits` fractional digits, with the fraction as PostgreSQL's `timestamp` text prints it (no
/// trailing zeros).
fn datetime_text(c: &str, stored_as: Option<&str>, digits: u8) -> String {
    let trimmed = |x: String| format!("rtrim(rtrim({x}, '0'), '.')");
    let numeric = match stored_as {
        Some("unixepoch") => trimmed(format!("strftime('%Y-%m-%d %H:%M:%f', {c}, 'unixepoch')")),
        Some("unixepoch-ms") => trimmed(format!("strftime('%Y-%m-%d %H:%M:%f', {c} / 1000.0, 'unixepoch')")),
        Some("julianday") => trimmed(format!("strftime('%Y-%m-%d %H:%M:%f', {c})")),
        _ => "NULL".into(),
    };
    // Text of a column stored to the millisecond at most: strftime reads it whole.
    if digits <= 3 {
        return format!("CASE typeof({c}) WHEN 'text' THEN {} ELSE {numeric} END", trimmed(format!("strftime('%Y-%m-%d %H:%M:%f', {c})")));
    }
    // Finer text: the seconds from strftime, the fraction's digits from the text itself
    // (strftime keeps milliseconds only), up to microseconds.
    let f = format!("substr({c}, instr({c}, '.') + 1)");
    let run = format!("substr({f}, 1, min(6, length({f}) - length(ltrim({f}, '0123456789'))))");
    let frac = format!("CASE WHEN instr({c}, '.') > 0 AND rtrim({run}, '0') <> '' THEN '.' || rtrim({run}, '0') ELSE '' END");
    format!("CASE typeof({c}) WHEN 'text' THEN strftime('%Y-%m-%d %H:%M:%S', {c}) || {frac} ELSE {numeric} END")
}

/// The canonical text of `col` in SQLite's SQL: what the target holds for each stored cell —
/// NULL for a cell the column's rule sets aside, the replacement for bad text under
/// `invalid_text = "replace"` (the raw cells are compared with ferry.quarantine separately).
pub fn canonical_expr(col: &Column, canon: Canon) -> String {
    let text = canonical_stored(col, canon);
    let c = &quote_ident(&col.name);
    // Bad text is the only cell a text column does not hold: replaced, it is never NULL.
    if col.replace_bad_text && matches!(col.data_type, DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. }) {
        format!("CASE WHEN typeof({c}) IN ('text', 'blob') AND NOT ferry_utf8_ok({c}) THEN ferry_utf8_replace({c}) ELSE {text} END")
    } else if col.quarantine {
        format!("CASE WHEN {c} IS NULL OR {} THEN {text} END", fits_expr(col))
    } else {
        text
    }
}

/// The canonical text of a cell `col`'s type holds, in SQLite's SQL.
fn canonical_stored(col: &Column, canon: Canon) -> String {
    let c = &quote_ident(&col.name);
    // `hex(NULL)` is '' and `printf('%.2f', NULL)` is '0.00': NULL stays NULL first.
    let not_null = |e: String| format!("CASE WHEN {c} IS NULL THEN NULL ELSE {e} END");
    match canon {
        Canon::Integer => format!("CAST({c} AS TEXT)"),
        Canon::Bool => format!("CASE {c} WHEN 0 THEN 'f' WHEN 1 THEN 't' ELSE CAST({c} AS TEXT) END"),
        Canon::Decimal { scale: Some(0) } => not_null(format!("CASE typeof({c}) WHEN 'integer' THEN CAST({c} AS TEXT) ELSE printf('%.0f', {c}) END")),
        Canon::Decimal { scale: Some(s) } => not_null(format!(
            "CASE typeof({c}) WHEN 'integer' THEN CAST({c} AS TEXT) || '.{zeros}' ELSE printf('%.{s}f', {c}) END",
            zeros = "0".repeat(s as usize)
        )),
        Canon::Decimal { scale: None } | Canon::Float => format!("ferry_real_text({c})"),
        Canon::Text | Canon::Set | Canon::Json => format!("CASE typeof({c}) WHEN 'real' THEN ferry_real_text({c}) ELSE CAST({c} AS TEXT) END"),
        Canon::Bytes | Canon::Geometry { .. } => not_null(format!("lower(hex(CASE typeof({c}) WHEN 'real' THEN ferry_real_text({c}) ELSE {c} END))")),
        Canon::Date { .. } => match col.stored_as.as_deref() {
            Some(s @ ("unixepoch" | "unixepoch-ms" | "julianday")) => format!("substr({}, 1, 10)", datetime_text(c, Some(s), 3)),
            _ => format!("date({c})"),
        },
        Canon::DateTime { digits, .. } => datetime_text(c, col.stored_as.as_deref(), digits),
        Canon::Duration | Canon::Bits { .. } => format!("CAST({c} AS TEXT)"),
    }
}

/// A result cell as text (the canonical expressions give text; numbers as their text).
fn cell_text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(real_text(f)),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}

fn query_texts(conn: &Connection, sql: &str, what: &str, mut each: impl FnMut(Vec<Option<String>>)) -> Result<(), SourceError> {
    let ctx = |e: rusqlite::Error| map_error(e).context(what.to_string());
    let mut st = conn.prepare(sql).map_err(ctx)?;
    let n = st.column_count();
    let mut rows = st.query([]).map_err(ctx)?;
    while let Some(r) = rows.next().map_err(ctx)? {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(cell_text(r.get_ref(i).map_err(ctx)?));
        }
        each(out);
    }
    Ok(())
}

impl ferry_model::VerifySource for SqliteSource {
    fn canonical_expr(&self, column: &Column, canon: Canon) -> String {
        canonical_expr(column, canon)
    }

    fn quote(&self, ident: &str) -> String {
        quote_ident(ident)
    }

    fn set_aside_exprs(&self, column: &Column) -> Option<[String; 2]> {
        set_aside_exprs(column)
    }

    async fn chunk_hash(&self, table: &Table, exprs: &[ColumnText], range: &ChunkRange) -> Result<(u64, String), SourceError> {
        let select: Vec<String> = if exprs.is_empty() { vec!["''".into()] } else { exprs.iter().map(|e| e.sql.clone()).collect() };
        let sql = format!("SELECT {} FROM {}{}", select.join(", "), quote_ident(&table.name), range_condition(range)?);
        let conn = self.open()?;
        let exprs = exprs.to_vec();
        let what = format!("verifying `{}`", table.name);
        blocking(move || {
            let ctx = |e: rusqlite::Error| map_error(e).context(what.clone());
            let mut st = conn.prepare(&sql).map_err(ctx)?;
            let mut rows = st.query([]).map_err(ctx)?;
            let (mut count, mut sum, mut text) = (0u64, 0u128, RowText::default());
            while let Some(r) = rows.next().map_err(ctx)? {
                count += 1;
                text.clear();
                for (i, e) in exprs.iter().enumerate() {
                    let v = r.get_ref(i).map_err(ctx)?;
                    let owned;
                    let piece: Option<&[u8]> = match v {
                        ValueRef::Null => None,
                        ValueRef::Text(t) | ValueRef::Blob(t) if !e.json => Some(t),
                        other => {
                            owned = cell_text(other).map(|t| if e.json { json_canonical(&t) } else { t });
                            owned.as_deref().map(str::as_bytes)
                        }
                    };
                    text.push(piece, e.nullable);
                }
                sum += text.hash() as u128;
            }
            Ok((count, sum.to_string()))
        })
        .await
    }

    async fn canonical_rows(&self, table: &Table, exprs: &[String], range: &ChunkRange) -> Result<Vec<Vec<Option<String>>>, SourceError> {
        let sql = format!(
            "SELECT {} FROM {}{}",
            if exprs.is_empty() { "''".to_string() } else { exprs.join(", ") },
            quote_ident(&table.name),
            range_condition(range)?
        );
        let conn = self.open()?;
        let what = format!("verifying `{}`", table.name);
        blocking(move || {
            let mut out = Vec::new();
            query_texts(&conn, &sql, &what, |row| out.push(row))?;
            Ok(out)
        })
        .await
    }

    async fn read_keys(&self, table: &Table, key_exprs: &[String], keys: &[Vec<String>], tx: RowSender) -> Result<u64, SourceError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let conn = self.open()?;
        let table = table.clone();
        let key_tuple = format!("({})", key_exprs.join(", "));
        let lists: Vec<String> = keys.iter().map(|k| format!("({})", k.iter().map(|v| quote_literal(v)).collect::<Vec<_>>().join(", "))).collect();
        blocking(move || {
            let mut n = 0;
            for part in lists.chunks(500) {
                let (sql, with_rowid) = select_sql(&table, &format!(" WHERE {key_tuple} IN (VALUES {})", part.join(", ")));
                n += read_rows(&conn, &table, &sql, with_rowid, &tx)?;
            }
            Ok(n)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(conn: &Connection, expr: &str) -> Option<String> {
        conn.query_row(&format!("SELECT {expr} FROM t"), [], |r| Ok(cell_text(r.get_ref(0)?))).unwrap()
    }

    #[test]
    fn canonical_texts_are_what_postgresql_prints() {
        let conn = Connection::open_in_memory().unwrap();
        register_functions(&conn).unwrap();
        let check = |decl: &str, stored: Option<&str>, value: &str, canon: Canon, want: Option<&str>| {
            conn.execute_batch(&format!("DROP TABLE IF EXISTS t; CREATE TABLE t (c {decl}); INSERT INTO t VALUES ({value});")).unwrap();
            let mut col = Column::new("c", ferry_model::DataType::Text { max_bytes: 0 }, decl);
            col.stored_as = stored.map(str::to_string);
            assert_eq!(eval(&conn, &canonical_expr(&col, canon)).as_deref(), want, "{decl} {value}");
        };
        let dt = Canon::DateTime { zero: ferry_model::canonical::ZeroAs::Kept, digits: 6 };
        check("NUMERIC(10,2)", None, "0.99", Canon::Decimal { scale: Some(2) }, Some("0.99"));
        check("NUMERIC(10,2)", None, "5", Canon::Decimal { scale: Some(2) }, Some("5.00"));
        check("DATETIME", None, "'2009-01-01 00:00:00'", dt, Some("2009-01-01 00:00:00"));
        check("DATETIME", None, "'2009-01-01T10:00:00.120+01:00'", dt, Some("2009-01-01 09:00:00.12"));
        check("DATETIME", None, "'2009-01-01 10:00:00.1234567'", dt, Some("2009-01-01 10:00:00.123456"));
        let ms = Canon::DateTime { zero: ferry_model::canonical::ZeroAs::Kept, digits: 3 };
        check("DATETIME", None, "'2009-01-01T10:00:00.120+01:00'", ms, Some("2009-01-01 09:00:00.12"));
        check("DATETIME", None, "'2009-01-01 10:00:00'", ms, Some("2009-01-01 10:00:00"));
        check("DATETIME", Some("unixepoch"), "86401", ms, Some("1970-01-02 00:00:01"));
        check("DATETIME", Some("unixepoch"), "86401", dt, Some("1970-01-02 00:00:01"));
        check("DATETIME", Some("unixepoch-ms"), "1700000000123", dt, Some("2023-11-14 22:13:20.123"));
        check("DATETIME", Some("julianday"), "2451545.0", dt, Some("2000-01-01 12:00:00"));
        check("REAL", None, "0.1 + 0.2", Canon::Float, Some("0.30000000000000004"));
        check("BLOB", None, "x'00ff'", Canon::Bytes, Some("00ff"));
        check("BOOLEAN", None, "1", Canon::Bool, Some("t"));
        check("", None, "0.5", Canon::Text, Some("0.5"));
        for canon in
            [Canon::Bytes, Canon::Decimal { scale: Some(2) }, Canon::Decimal { scale: Some(0) }, Canon::Float, Canon::Bool, Canon::Integer, Canon::Text, dt]
        {
            check("", None, "NULL", canon, None);
        }
        check("DATETIME", Some("unixepoch"), "NULL", dt, None);
    }
}
