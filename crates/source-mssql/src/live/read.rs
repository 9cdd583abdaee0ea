//! Rows of a live SQL Server table as the model's values.
//!
//! Guarantees and why:
//! - **Exact values or an error naming the row** ([`value_of`]): `money` is read as
//!   `decimal(19,4)` (the driver would hand it over as a float), `datetime`'s 1/300-second ticks
//!   become the milliseconds SQL Server itself shows, and a `datetime2(7)` / `time(7)` value
//!   with a non-zero 100 ns digit stops the table naming its key (PostgreSQL keeps microseconds:
//!   rounding it would change the value silently; override the column's type to text to keep it).
//! - **Types the driver should not see raw are converted server-side** ([`select_expr`]):
//!   `sql_variant` and `hierarchyid` as text, spatial types as WKB, the deprecated
//!   `text`/`ntext`/`image` as their `max` types.

use super::conn::{map_error, quote_ident, MsClient};
use ferry_model::value::{civil_from_days, days_from_civil};
use ferry_model::{Column, DataType, Date, DateTime, Row, RowSender, SourceError, Table, Value};
use futures_util::TryStreamExt;
use tiberius::ColumnData;

/// Rows a reader sends at once.
pub const BATCH: usize = 2000;

/// The system type of a column, from its T-SQL spelling (`nvarchar(40)` → `nvarchar`).
pub fn base_type(col: &Column) -> &str {
    col.source_type.split('(').next().unwrap_or(&col.source_type).trim()
}

/// `Column::stored_as` of a companion column holding the offset of the `datetimeoffset`
/// column named after the prefix (`keep_offset`): it exists on the target only.
pub const TZ_OFFSET: &str = "tzoffset:";

/// `Column::stored_as` of a `sql_variant` read as `{"type": …, "value": …}` (a json override).
pub const VARIANT_JSON: &str = "variant-json";

/// The T-SQL expression the reader selects for `col`.
pub fn select_expr(col: &Column) -> String {
    if let Some(of) = col.stored_as.as_deref().and_then(|s| s.strip_prefix(TZ_OFFSET)) {
        return format!("DATEPART(tzoffset, {})", quote_ident(of));
    }
    let c = quote_ident(&col.name);
    if col.stored_as.as_deref() == Some(VARIANT_JSON) {
        return format!(
            "CASE WHEN {c} IS NULL THEN NULL ELSE N'{{\"type\":\"' + CAST(SQL_VARIANT_PROPERTY({c}, 'BaseType') AS nvarchar(128)) + N'\",\"value\":\"' + STRING_ESCAPE(CONVERT(nvarchar(max), {c}), 'json') + N'\"}}' END"
        );
    }
    if col.stored_as.as_deref() == Some("text") {
        // Overridden to text: SQL Server's own text, every digit (ODBC canonical, style 121).
        return format!("CONVERT(varchar(40), {c}, 121)");
    }
    if matches!(col.data_type, ferry_model::DataType::Unsupported { .. }) {
        // A CLR type the driver cannot decode (it panics on what it does not know): its bytes.
        return format!("CAST({c} AS varbinary(max))");
    }
    match base_type(col) {
        "money" => format!("CAST({c} AS decimal(19, 4))"),
        "smallmoney" => format!("CAST({c} AS decimal(10, 4))"),
        "sql_variant" => format!("CONVERT(nvarchar(max), {c})"),
        "hierarchyid" => format!("{c}.ToString()"),
        "geometry" | "geography" => format!("{c}.STAsBinary()"),
        "text" => format!("CAST({c} AS varchar(max))"),
        "ntext" => format!("CAST({c} AS nvarchar(max))"),
        "image" => format!("CAST({c} AS varbinary(max))"),
        _ => c,
    }
}

/// The T-SQL type a key column's sampled bounds are cast back to, for the key types
/// [`ferry_model::ChunkRange::Keyset`] chunks by (text round-trips exactly for them); None for
/// others (integers chunk by value; floats and binaries are read whole).
pub fn keyset_type(col: &Column) -> Option<String> {
    let base = base_type(col);
    matches!(
        base,
        "uniqueidentifier"
            | "char"
            | "varchar"
            | "nchar"
            | "nvarchar"
            | "date"
            | "datetime2"
            | "datetimeoffset"
            | "datetime"
            | "smalldatetime"
            | "decimal"
            | "numeric"
    )
    .then(|| col.source_type.clone())
    .filter(|t| !t.ends_with("(max)"))
}

/// A keyset range's ` WHERE …`, compared by SQL Server in its own order; `table` gives the
/// key column's type. None for other ranges.
fn keyset_condition(table: &Table, range: &ferry_model::ChunkRange) -> Result<Option<String>, SourceError> {
    let ferry_model::ChunkRange::Keyset { column, lo, hi } = range else { return Ok(None) };
    let col =
        table.column(column).ok_or_else(|| SourceError::new(ferry_model::ErrorKind::Definite, format!("table {}: no key column {column}", table.name)))?;
    let ty = keyset_type(col)
        .ok_or_else(|| SourceError::new(ferry_model::ErrorKind::Definite, format!("table {}: column {column} does not chunk by keys", table.name)))?;
    let q = quote_ident(column);
    let mut parts = Vec::new();
    if let Some(l) = lo {
        parts.push(format!("{q} > CAST({} AS {ty})", super::conn::quote_str(l)));
    }
    if let Some(h) = hi {
        parts.push(format!("{q} <= CAST({} AS {ty})", super::conn::quote_str(h)));
    }
    Ok(Some(if parts.is_empty() { String::new() } else { format!(" WHERE {}", parts.join(" AND ")) }))
}

/// The ` WHERE …` selecting `range` of `table` (empty for the whole table).
pub fn range_condition(table: &Table, range: &ferry_model::ChunkRange) -> Result<String, SourceError> {
    if let Some(c) = keyset_condition(table, range)? {
        return Ok(c);
    }
    let column = match range {
        ferry_model::ChunkRange::IntKey { column, .. } => quote_ident(column),
        _ => String::new(),
    };
    range.key_condition(&column).ok_or_else(|| SourceError::new(ferry_model::ErrorKind::Definite, "a page range on a SQL Server table"))
}

/// `SELECT` of every column of `table` in `schema`, with `condition` (` WHERE …` or empty).
pub fn select_sql(schema: &str, table: &Table, condition: &str) -> String {
    let cols: Vec<String> = table.columns.iter().map(select_expr).collect();
    format!("SELECT {} FROM {}.{}{condition}", cols.join(", "), quote_ident(schema), quote_ident(&table.name))
}

/// Days from 0001-01-01 (TDS `date`) and from 1900-01-01 (`datetime`) to the Unix epoch's day count.
fn epoch_0001() -> i64 {
    days_from_civil(1, 1, 1)
}
fn epoch_1900() -> i64 {
    days_from_civil(1900, 1, 1)
}

fn date_of(unix_days: i64) -> Date {
    let (y, m, d) = civil_from_days(unix_days);
    Date { year: y as i32, month: m, day: d }
}

fn datetime_of(unix_days: i64, micros_of_day: i64) -> DateTime {
    let days = unix_days + micros_of_day.div_euclid(86_400_000_000);
    let us = micros_of_day.rem_euclid(86_400_000_000);
    let secs = us / 1_000_000;
    DateTime { date: date_of(days), hour: (secs / 3600) as u8, minute: (secs / 60 % 60) as u8, second: (secs % 60) as u8, micros: (us % 1_000_000) as u32 }
}

/// A TDS `time` (increments of 10^-scale s) as microseconds; Err for a non-zero 100 ns digit.
fn micros_of(increments: u64, scale: u8) -> Result<i64, String> {
    let hundred_ns = increments as i128 * 10i128.pow(7u32.saturating_sub(scale as u32));
    if hundred_ns % 10 != 0 {
        return Err("a 100 ns digit PostgreSQL cannot hold (it keeps microseconds); override the column's type to text to keep it".into());
    }
    Ok((hundred_ns / 10) as i64)
}

/// A decimal's text from its unscaled value and scale.
pub(crate) fn decimal_text(value: i128, scale: u8) -> String {
    let neg = value < 0;
    let digits = value.unsigned_abs().to_string();
    let s = scale as usize;
    let body = if s == 0 {
        digits
    } else {
        let padded = format!("{digits:0>width$}", width = s + 1);
        let (int, frac) = padded.split_at(padded.len() - s);
        format!("{int}.{frac}")
    };
    format!("{}{body}", if neg { "-" } else { "" })
}

/// One cell as a value of `col`'s type.
pub fn value_of(cell: ColumnData<'static>, col: &Column) -> Result<Value, String> {
    use ColumnData as C;
    let ty = &col.data_type;
    Ok(match cell {
        C::U8(None) | C::I16(None) | C::I32(None) | C::I64(None) | C::F32(None) | C::F64(None) | C::Bit(None) | C::String(None) | C::Guid(None) => Value::Null,
        C::Binary(None) | C::Numeric(None) | C::Xml(None) | C::DateTime(None) | C::SmallDateTime(None) | C::Time(None) | C::Date(None) => Value::Null,
        C::DateTime2(None) | C::DateTimeOffset(None) => Value::Null,
        C::U8(Some(v)) => Value::Int(v as i64),
        C::I16(Some(v)) => Value::Int(v as i64),
        C::I32(Some(v)) => Value::Int(v as i64),
        C::I64(Some(v)) => Value::Int(v),
        C::F32(Some(v)) => Value::Float(v),
        C::F64(Some(v)) => Value::Double(v),
        C::Bit(Some(b)) => Value::Bool(b),
        C::String(Some(s)) if *ty == DataType::Json => Value::Json(s.into_owned()),
        C::String(Some(s)) => Value::Text(s.into_owned()),
        C::Guid(Some(g)) => Value::Text(g.hyphenated().to_string()),
        C::Binary(Some(b)) => Value::Bytes(b.into_owned()),
        C::Numeric(Some(n)) => Value::Decimal(decimal_text(n.value(), n.scale())),
        C::Xml(Some(x)) => Value::Text(x.as_ref().to_string()),
        C::DateTime(Some(d)) => {
            // 1/300-second ticks, rounded to the millisecond SQL Server shows (.000, .003, .007).
            let ms = (d.seconds_fragments() as i64 * 20 + 3) / 6;
            Value::DateTime(datetime_of(epoch_1900() + d.days() as i64, ms * 1000))
        }
        C::SmallDateTime(Some(d)) => Value::DateTime(datetime_of(epoch_1900() + d.days() as i64, d.seconds_fragments() as i64 * 60_000_000)),
        C::Date(Some(d)) => Value::Date(date_of(epoch_0001() + d.days() as i64)),
        C::Time(Some(t)) => Value::Duration(micros_of(t.increments(), t.scale())?),
        C::DateTime2(Some(d)) => Value::DateTime(datetime_of(epoch_0001() + d.date().days() as i64, micros_of(d.time().increments(), d.time().scale())?)),
        C::DateTimeOffset(Some(d)) => {
            // TDS carries the instant in UTC and the offset beside it.
            let dt = d.datetime2();
            let at = datetime_of(epoch_0001() + dt.date().days() as i64, micros_of(dt.time().increments(), dt.time().scale())?);
            match ty {
                DataType::DateTimeOffset { .. } | DataType::Timestamp { .. } => Value::Timestamp(at),
                _ => Value::DateTime(at),
            }
        }
    })
}

/// Converts one driver row, naming the table, column and row on a value that cannot be carried.
pub fn row_of(table: &Table, cells: tiberius::Row, ordinal: u64) -> Result<Row, SourceError> {
    let mut row = Vec::with_capacity(table.columns.len());
    let mut bad = None;
    for (cell, col) in cells.into_iter().zip(&table.columns) {
        match value_of(cell, col) {
            Ok(v) => row.push(v),
            Err(e) => {
                bad.get_or_insert((col.name.clone(), e));
                row.push(Value::Null);
            }
        }
    }
    match bad {
        None => Ok(row),
        Some((column, e)) => Err(SourceError::bad_data(format!("table {}, column {column}, {}: {e}", table.name, table.describe_row(&row, ordinal)))),
    }
}

/// Streams the rows `sql` selects (every column of `table`, in order) in batches to `tx`.
pub async fn stream_rows(client: &mut MsClient, table: &Table, sql: &str, tx: &RowSender) -> Result<u64, SourceError> {
    let ctx = |e: tiberius::error::Error| map_error(e).context(format!("reading table {}", table.name));
    let mut stream = client.simple_query(sql).await.map_err(ctx)?.into_row_stream();
    let (mut n, mut batch) = (0u64, Vec::with_capacity(BATCH));
    while let Some(r) = stream.try_next().await.map_err(ctx)? {
        batch.push(row_of(table, r, n)?);
        n += 1;
        if batch.len() == BATCH && tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).await.is_err() {
            return Ok(n);
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiberius::time::{Date as TDate, DateTime as TDateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};

    fn txt(v: Value) -> String {
        ferry_model::canonical::canonical(&v).unwrap()
    }

    fn col(ty: DataType, source: &str) -> Column {
        Column::new("c", ty, source)
    }

    #[test]
    fn every_type_of_the_map_reads_exactly_at_its_limits() {
        let int = |b| col(DataType::Int { bytes: b, unsigned: b == 1, display_width: None }, "int");
        assert_eq!(value_of(ColumnData::U8(Some(255)), &int(1)).unwrap(), Value::Int(255));
        assert_eq!(value_of(ColumnData::I16(Some(i16::MIN)), &int(2)).unwrap(), Value::Int(-32768));
        assert_eq!(value_of(ColumnData::I64(Some(i64::MAX)), &int(8)).unwrap(), Value::Int(i64::MAX));
        assert_eq!(value_of(ColumnData::I32(None), &int(4)).unwrap(), Value::Null);
        assert_eq!(value_of(ColumnData::Bit(Some(true)), &col(DataType::Bool, "bit")).unwrap(), Value::Bool(true));
        let money = col(DataType::Money { bytes: 8 }, "money");
        // money is selected as decimal(19, 4): its limits arrive exactly.
        let n = tiberius::numeric::Numeric::new_with_scale(-9_223_372_036_854_775_808, 4);
        assert_eq!(value_of(ColumnData::Numeric(Some(n)), &money).unwrap(), Value::Decimal("-922337203685477.5808".into()));
        let small = tiberius::numeric::Numeric::new_with_scale(5, 4);
        assert_eq!(value_of(ColumnData::Numeric(Some(small)), &money).unwrap(), Value::Decimal("0.0005".into()));
        let dec = col(DataType::Decimal { precision: 38, scale: 0, unsigned: false }, "decimal(38, 0)");
        assert_eq!(decimal_text(-5, 1), "-0.5", "tiberius' Display would print 0.-5");
        let big = tiberius::numeric::Numeric::new_with_scale(99_999_999_999_999_999_999_999_999_999_999_999_999, 0);
        assert_eq!(value_of(ColumnData::Numeric(Some(big)), &dec).unwrap(), Value::Decimal("9".repeat(38)));
        assert_eq!(value_of(ColumnData::F64(Some(f64::MAX)), &col(DataType::Double { unsigned: false }, "float")).unwrap(), Value::Double(f64::MAX));
        assert_eq!(value_of(ColumnData::F32(Some(1.5)), &col(DataType::Float { unsigned: false }, "real")).unwrap(), Value::Float(1.5));
    }

    #[test]
    fn guids_read_in_their_text_order_lower_case() {
        // SQL Server stores the first three groups little-endian; the driver hands over the
        // GUID as SQL Server prints it, and ferry writes that text.
        let g = tiberius::Uuid::parse_str("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap();
        assert_eq!(
            value_of(ColumnData::Guid(Some(g)), &col(DataType::Uuid, "uniqueidentifier")).unwrap(),
            Value::Text("6f9619ff-8b86-d011-b42d-00c04fc964ff".into())
        );
    }

    #[test]
    fn dates_and_times_keep_every_digit_or_refuse() {
        let dt = |ty| col(ty, "datetime2(7)");
        // 0001-01-01 and 9999-12-31 23:59:59.999999
        let lo = DateTime2::new(TDate::new(0), Time::new(0, 7));
        assert_eq!(value_of(ColumnData::DateTime2(Some(lo)), &dt(DataType::DateTime { fsp: 7 })).map(txt).unwrap(), "0001-01-01 00:00:00");
        let hi = DateTime2::new(TDate::new(3_652_058), Time::new(863_999_999_990, 7));
        assert_eq!(value_of(ColumnData::DateTime2(Some(hi)), &dt(DataType::DateTime { fsp: 7 })).map(txt).unwrap(), "9999-12-31 23:59:59.999999");
        // A 100 ns digit is refused, never rounded.
        let odd = DateTime2::new(TDate::new(0), Time::new(1, 7));
        assert!(value_of(ColumnData::DateTime2(Some(odd)), &dt(DataType::DateTime { fsp: 7 })).unwrap_err().contains("100 ns"));
        assert!(value_of(ColumnData::Time(Some(Time::new(1_234_567, 7))), &col(DataType::Time { fsp: 7 }, "time(7)")).is_err());
        assert_eq!(value_of(ColumnData::Time(Some(Time::new(1_234_560, 7))), &col(DataType::Time { fsp: 7 }, "time(7)")).unwrap(), Value::Duration(123_456));
        assert_eq!(value_of(ColumnData::Time(Some(Time::new(15, 1))), &col(DataType::Time { fsp: 1 }, "time(1)")).unwrap(), Value::Duration(1_500_000));
        // datetime: 1/300 s ticks show as .000/.003/.007; the last tick of a day carries.
        let d = |ticks| value_of(ColumnData::DateTime(Some(TDateTime::new(0, ticks))), &col(DataType::DateTime { fsp: 3 }, "datetime")).map(txt).unwrap();
        assert_eq!(d(1), "1900-01-01 00:00:00.003");
        assert_eq!(d(2), "1900-01-01 00:00:00.007");
        assert_eq!(d(300), "1900-01-01 00:00:01");
        assert_eq!(d(25_919_999), "1900-01-01 23:59:59.997");
        let before = value_of(ColumnData::DateTime(Some(TDateTime::new(-1, 0))), &col(DataType::DateTime { fsp: 3 }, "datetime")).unwrap();
        assert_eq!(txt(before), "1899-12-31 00:00:00");
        let small = value_of(ColumnData::SmallDateTime(Some(SmallDateTime::new(1, 61))), &col(DataType::DateTime { fsp: 0 }, "smalldatetime")).unwrap();
        assert_eq!(txt(small), "1900-01-02 01:01:00");
        assert_eq!(value_of(ColumnData::Date(Some(TDate::new(738_884))), &col(DataType::Date, "date")).map(txt).unwrap(), "2023-12-31");
        // datetimeoffset: the instant in UTC (the offset is not kept; the plan says so).
        let at = DateTimeOffset::new(DateTime2::new(TDate::new(738_884), Time::new(36_000_000_000, 7)), 120);
        let v = value_of(ColumnData::DateTimeOffset(Some(at)), &col(DataType::DateTimeOffset { fsp: 7 }, "datetimeoffset(7)")).unwrap();
        assert_eq!(v, Value::Timestamp(DateTime { date: Date { year: 2023, month: 12, day: 31 }, hour: 1, minute: 0, second: 0, micros: 0 }));
    }

    #[test]
    fn keyset_ranges_compare_in_the_servers_order_through_casts() {
        let t = Table { name: "T".into(), columns: vec![Column::new("g", DataType::Uuid, "uniqueidentifier")], ..Default::default() };
        let r = ferry_model::ChunkRange::Keyset { column: "g".into(), lo: Some("6F9619FF-8B86-D011-B42D-00C04FC964FF".into()), hi: None };
        assert_eq!(range_condition(&t, &r).unwrap(), " WHERE [g] > CAST(N'6F9619FF-8B86-D011-B42D-00C04FC964FF' AS uniqueidentifier)");
        let both = ferry_model::ChunkRange::Keyset { column: "g".into(), lo: Some("a".into()), hi: Some("b".into()) };
        assert!(range_condition(&t, &both).unwrap().contains("AND [g] <= CAST(N'b' AS uniqueidentifier)"));
        assert_eq!(keyset_type(&Column::new("v", DataType::Text { max_bytes: 1 }, "nvarchar(max)")), None, "a max type is no key");
        assert_eq!(keyset_type(&Column::new("f", DataType::Double { unsigned: false }, "float")), None);
    }

    #[test]
    fn types_the_driver_must_not_see_raw_are_converted_by_the_server() {
        let c = |src: &str| Column::new("v", DataType::Text { max_bytes: 1 }, src);
        assert_eq!(select_expr(&c("sql_variant")), "CONVERT(nvarchar(max), [v])");
        assert_eq!(select_expr(&c("hierarchyid")), "[v].ToString()");
        assert_eq!(select_expr(&c("money")), "CAST([v] AS decimal(19, 4))");
        assert_eq!(select_expr(&c("nvarchar(40)")), "[v]");
        assert_eq!(select_expr(&Column::new("u", DataType::Unsupported { name: "myclr".into() }, "myclr")), "CAST([u] AS varbinary(max))");
        let mut dt = Column::new("at", DataType::DateTime { fsp: 7 }, "datetime2(7)");
        dt.stored_as = Some("text".into());
        assert_eq!(select_expr(&dt), "CONVERT(varchar(40), [at], 121)", "a date-time overridden to text keeps its 100 ns digit");
        assert_eq!(value_of(ColumnData::String(Some("2020-01-01 00:00:00.1234567".into())), &dt).unwrap(), Value::Text("2020-01-01 00:00:00.1234567".into()));
    }
}
