//! The live SQL Server side of `verify`: each column's canonical text computed by SQL Server
//! from the stored value ([`canonical_expr`]: `CONVERT` styles 23/121 for dates, style 2 hex
//! for bytes, `SWITCHOFFSET` to UTC for `datetimeoffset`, the GUID's own text), streamed to
//! ferry and hashed there with the reference rule (`ferry_model::canonical::RowText`; the
//! registry declares `hash_in_sql: false`), so the reader's conversion is never what verify
//! compares: a value the load changed shows as a difference.
//!
//! Where T-SQL has no function for the canonical notation, ferry finishes the server's exact
//! text or bytes (never the reader's value): trailing fractional zeros dropped, floats printed
//! shortest from their stored IEEE bytes (`CAST(… AS binary(8))`), binaries in hex, CHAR pad. The
//! expression carries that step as a leading comment ([`Finish`]), which SQL ignores.

use super::conn::{map_error, quote_ident, quote_str};
use super::read::{base_type, range_condition, select_expr};
use super::MsSource;
use ferry_model::canonical::{Canon, ColumnText, RowText};
use ferry_model::{ChunkRange, Column, DataType, RowSender, SourceError, Table, Value};
use futures_util::TryStreamExt;
use tiberius::ColumnData;

/// What ferry does to the server's text of an expression before hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    None,
    /// Drop trailing fractional zeros (and a bare `.`).
    Trim,
    /// A double's 17 digits → shortest round-trip text.
    Double,
    /// A real's 9 digits → shortest round-trip text.
    Real,
    /// The stored bytes → lower-case hex (T-SQL's `CONVERT(…, 2)` is not everywhere: Babelfish
    /// lacks it; the bytes themselves are exact).
    Hex,
    /// A CHAR's pad spaces dropped (as PostgreSQL's `bpchar::text`; T-SQL's RTRIM would do, but
    /// Babelfish's turns nchar into a code-page string).
    Pad,
}

const TRIM: &str = "/*ferry:trim*/";
const DOUBLE: &str = "/*ferry:double*/";
const REAL: &str = "/*ferry:real*/";
const HEX: &str = "/*ferry:hex*/";
const PAD: &str = "/*ferry:pad*/";

impl Finish {
    pub fn of(expr: &str) -> Finish {
        if expr.starts_with(TRIM) {
            Finish::Trim
        } else if expr.starts_with(DOUBLE) {
            Finish::Double
        } else if expr.starts_with(REAL) {
            Finish::Real
        } else if expr.starts_with(HEX) {
            Finish::Hex
        } else if expr.starts_with(PAD) {
            Finish::Pad
        } else {
            Finish::None
        }
    }

    pub fn apply(self, text: String) -> String {
        match self {
            Finish::None | Finish::Hex => text,
            Finish::Trim if text.contains('.') => text.trim_end_matches('0').trim_end_matches('.').to_string(),
            Finish::Trim => text,
            Finish::Pad => text.trim_end_matches(' ').to_string(),
            Finish::Double => text.trim().parse::<f64>().map(pg_float_text).unwrap_or(text),
            // The target compares a real as the double it is (`real::float8`).
            Finish::Real => text.trim().parse::<f32>().map(|x| pg_float_text(x as f64)).unwrap_or(text),
        }
    }
}

/// A double as the target's verify prints it (`float8::text` with `e+` written `e`): the
/// shortest round-trip digits, in exponent form below 1e-4 and from 1e15 on (two exponent digits
/// at least), so equal values hash alike on both sides.
pub fn pg_float_text(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    if !(-4..15).contains(&exp) {
        let sign = if exp < 0 { "-" } else { "" };
        return format!("{neg}{mantissa}e{sign}{:02}", exp.abs());
    }
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    format!("{neg}{body}")
}

/// The canonical text of `col` in T-SQL (see the module note for the finishing step).
pub fn canonical_expr(col: &Column, canon: Canon) -> String {
    let c = quote_ident(&col.name);
    let base = base_type(col);
    match canon {
        Canon::Integer => format!("CONVERT(varchar(40), {})", select_expr(col)),
        Canon::Bool => format!("CASE WHEN {c} = 1 THEN 't' WHEN {c} = 0 THEN 'f' END"),
        Canon::Decimal { scale: Some(s) }
            if matches!(base, "money" | "smallmoney") || !matches!(col.data_type, DataType::Decimal { scale, .. } if scale == s) =>
        {
            format!("CONVERT(varchar(60), CAST({c} AS decimal(38, {s})))")
        }
        Canon::Decimal { scale: Some(_) } => format!("CONVERT(varchar(60), {c})"),
        Canon::Decimal { scale: None } => format!("{TRIM}CONVERT(varchar(60), {c})"),
        Canon::Text if col.stored_as.as_deref() == Some("text") => select_expr(col),
        Canon::Text => match base {
            "char" | "nchar" => format!("{PAD}{c}"),
            "uniqueidentifier" => format!("LOWER(CONVERT(char(36), {c}))"),
            "xml" | "sql_variant" | "ntext" => format!("CONVERT(nvarchar(max), {c})"),
            "text" => format!("CONVERT(varchar(max), {c})"),
            "hierarchyid" => format!("{c}.ToString()"),
            _ => c,
        },
        Canon::Bytes => {
            let v = match base {
                "geometry" | "geography" => format!("{c}.STAsBinary()"),
                _ => format!("CAST({c} AS varbinary(max))"),
            };
            format!("{HEX}{v}")
        }
        Canon::Date { .. } => format!("CONVERT(char(10), {c}, 23)"),
        Canon::DateTime { .. } => {
            let utc = match base {
                "datetimeoffset" => format!("CAST(SWITCHOFFSET({c}, '+00:00') AS datetime2(7))"),
                // 1/300-second ticks to the millisecond, as the target holds them.
                "datetime" => format!("CAST({c} AS datetime2(3))"),
                _ => format!("CAST({c} AS datetime2(7))"),
            };
            format!("{TRIM}CONVERT(varchar(27), {utc}, 121)")
        }
        Canon::Duration => {
            format!("CONVERT(varchar(30), CAST(DATEDIFF(second, CAST('00:00:00' AS time), {c}) AS bigint) * 1000000 + DATEPART(microsecond, {c}))")
        }
        // The stored IEEE bytes (big-endian), exact on every version (`CONVERT(…, 3)`, the
        // lossless text, is 2016+).
        Canon::Float if base == "real" => format!("{REAL}CAST({c} AS binary(4))"),
        Canon::Float => format!("{DOUBLE}CAST({c} AS binary(8))"),
        Canon::Json if col.stored_as.as_deref() == Some(super::read::VARIANT_JSON) => select_expr(col),
        Canon::Json | Canon::Set | Canon::Bits { .. } | Canon::Geometry { .. } => format!("CONVERT(nvarchar(max), {c})"),
    }
}

/// A result cell as its finished canonical text.
fn finished(cell: &ColumnData<'static>, finish: Finish) -> Option<String> {
    match (cell, finish) {
        (ColumnData::Binary(b), Finish::Hex) => b.as_ref().map(|b| b.iter().map(|x| format!("{x:02x}")).collect()),
        (ColumnData::Binary(b), Finish::Double) => b.as_ref().and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok()).map(|b| pg_float_text(f64::from_be_bytes(b))),
        (ColumnData::Binary(b), Finish::Real) => {
            b.as_ref().and_then(|b| <[u8; 4]>::try_from(b.as_ref()).ok()).map(|b| pg_float_text(f32::from_be_bytes(b) as f64))
        }
        (c, f) => cell_text(c).map(|t| f.apply(t)),
    }
}

/// A result cell as text (what `CONVERT` gave, or an integer bound).
fn cell_text(cell: &ColumnData<'static>) -> Option<String> {
    use ColumnData as C;
    match cell {
        C::String(s) => s.as_ref().map(|s| s.to_string()),
        C::U8(v) => v.map(|x| x.to_string()),
        C::I16(v) => v.map(|x| x.to_string()),
        C::I32(v) => v.map(|x| x.to_string()),
        C::I64(v) => v.map(|x| x.to_string()),
        C::Bit(v) => v.map(|b| if b { "1" } else { "0" }.to_string()),
        // tiberius' own Display prints negative fractions wrongly (`0.-5`).
        C::Numeric(n) => n.map(|n| super::read::decimal_text(n.value(), n.scale())),
        C::Guid(g) => g.map(|g| g.hyphenated().to_string()),
        other => Some(format!("{other:?}")),
    }
}

impl MsSource {
    /// Streams the finished canonical texts `exprs` of every row of `range` into `each`.
    async fn each_text_row(&self, table: &Table, exprs: &[String], range: &ChunkRange, mut each: impl FnMut(Vec<Option<String>>)) -> Result<(), SourceError> {
        let finish: Vec<Finish> = exprs.iter().map(|e| Finish::of(e)).collect();
        let select = if exprs.is_empty() { "1".to_string() } else { exprs.join(", ") };
        let sql = format!("SELECT {select} FROM {}.{}{}", quote_ident(&self.schema), quote_ident(&table.name), range_condition(table, range)?);
        let ctx = |e: tiberius::error::Error| map_error(e).context(format!("verifying table {}", table.name));
        let mut client = self.client().await?;
        {
            let mut stream = client.simple_query(&sql).await.map_err(ctx)?.into_row_stream();
            while let Some(row) = stream.try_next().await.map_err(ctx)? {
                let texts = row.into_iter().take(exprs.len()).zip(&finish).map(|(c, f)| finished(&c, *f)).collect();
                each(texts);
            }
        }
        self.give_back(client).await;
        Ok(())
    }
}

impl ferry_model::VerifySource for MsSource {
    fn canonical_expr(&self, column: &Column, canon: Canon) -> String {
        canonical_expr(column, canon)
    }

    fn quote(&self, ident: &str) -> String {
        quote_ident(ident)
    }

    async fn chunk_hash(&self, table: &Table, exprs: &[ColumnText], range: &ChunkRange) -> Result<(u64, String), SourceError> {
        let sql: Vec<String> = exprs.iter().map(|e| e.sql.clone()).collect();
        let (mut count, mut sum, mut text) = (0u64, 0u128, RowText::default());
        self.each_text_row(table, &sql, range, |row| {
            text.clear();
            for (t, e) in row.iter().zip(exprs) {
                if e.json {
                    let doc = t.as_deref().map(ferry_model::canonical::json_canonical);
                    text.push(doc.as_deref().map(str::as_bytes), e.nullable);
                } else {
                    text.push(t.as_deref().map(str::as_bytes), e.nullable);
                }
            }
            count += 1;
            sum += text.hash() as u128;
        })
        .await?;
        Ok((count, sum.to_string()))
    }

    async fn canonical_rows(&self, table: &Table, exprs: &[String], range: &ChunkRange) -> Result<Vec<Vec<Option<String>>>, SourceError> {
        let mut out = Vec::new();
        self.each_text_row(table, exprs, range, |r| out.push(r)).await?;
        Ok(out)
    }

    async fn read_keys(&self, table: &Table, key_exprs: &[String], keys: &[Vec<String>], tx: RowSender) -> Result<u64, SourceError> {
        if keys.is_empty() {
            return Ok(0);
        }
        // Exact texts are matched by the server; a finished one (a trimmed date-time key) only
        // by ferry, on the finished text.
        let wanted: std::collections::HashSet<&Vec<String>> = keys.iter().collect();
        let exact: Vec<usize> = (0..key_exprs.len()).filter(|&i| Finish::of(&key_exprs[i]) == Finish::None).collect();
        let mut sent = 0u64;
        let cols: Vec<String> = table.columns.iter().map(select_expr).chain(key_exprs.iter().cloned()).collect();
        let finish: Vec<Finish> = key_exprs.iter().map(|e| Finish::of(e)).collect();
        for part in keys.chunks(200) {
            let cond = if exact.is_empty() {
                String::new()
            } else {
                let tuples: Vec<String> = part
                    .iter()
                    .map(|k| format!("({})", exact.iter().map(|&i| format!("{} = {}", key_exprs[i], quote_str(&k[i]))).collect::<Vec<_>>().join(" AND ")))
                    .collect();
                format!(" WHERE {}", tuples.join(" OR "))
            };
            let sql = format!("SELECT {} FROM {}.{}{cond}", cols.join(", "), quote_ident(&self.schema), quote_ident(&table.name));
            let ctx = |e: tiberius::error::Error| map_error(e).context(format!("repairing table {}", table.name));
            let mut rows = Vec::new();
            let mut client = self.client().await?;
            {
                let mut stream = client.simple_query(&sql).await.map_err(ctx)?.into_row_stream();
                let n = table.columns.len();
                while let Some(r) = stream.try_next().await.map_err(ctx)? {
                    let cells: Vec<ColumnData<'static>> = r.into_iter().collect();
                    let key: Vec<String> = cells[n..].iter().zip(&finish).map(|(c, f)| finished(c, *f).unwrap_or_default()).collect();
                    if !wanted.contains(&key) {
                        continue;
                    }
                    let values = cells.into_iter().take(n).zip(&table.columns).map(|(c, col)| super::read::value_of(c, col));
                    let row: Result<Vec<Value>, String> = values.collect();
                    rows.push(row.map_err(|e| SourceError::bad_data(format!("table {}, key {key:?}: {e}", table.name)))?);
                }
            }
            self.give_back(client).await;
            sent += rows.len() as u64;
            if !rows.is_empty() && tx.send(rows).await.is_err() {
                break;
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_text_is_finished_to_the_canonical_form() {
        assert_eq!(Finish::Trim.apply("2009-01-01 00:00:00.0000000".into()), "2009-01-01 00:00:00");
        assert_eq!(Finish::Trim.apply("2009-01-01 10:00:00.5000000".into()), "2009-01-01 10:00:00.5");
        assert_eq!(Finish::Trim.apply("120".into()), "120", "no fraction, nothing trimmed");
        assert_eq!(Finish::Double.apply("1.0000000000000001e-001".into()), "0.1");
        assert_eq!(Finish::Double.apply("1.7976931348623157e+308".into()), "1.7976931348623157e308");
        assert_eq!(Finish::Real.apply("3.40282347e+038".into()), "3.4028234663852886e38");
        assert_eq!(pg_float_text(3.4e38f32 as f64), "3.3999999521443642e38");
        assert_eq!(pg_float_text(1e15), "1e15");
        assert_eq!(pg_float_text(123456789012345.0), "123456789012345");
        assert_eq!(pg_float_text(0.0001), "0.0001");
        assert_eq!(pg_float_text(0.00001), "1e-05");
        assert_eq!(pg_float_text(-1.5), "-1.5");
        assert_eq!(pg_float_text(1.0), "1");
        assert_eq!(pg_float_text(2.5e-308), "2.5e-308");
        assert_eq!(Finish::Pad.apply("日本  ".into()), "日本");
        // SQL Server pads style 3 to the column width; Babelfish prints 121 without trailing zeros.
        assert_eq!(Finish::Double.apply(" 1.7976931348623157e+308      ".into()), "1.7976931348623157e308");
        assert_eq!(Finish::Trim.apply("2020-02-29 23:30:00.25".into()), "2020-02-29 23:30:00.25");
        assert_eq!(finished(&ColumnData::Binary(Some(vec![0xde, 0xad, 0x00].into())), Finish::Hex).as_deref(), Some("dead00"));
        // What SQL Server gives for CAST(1.7976931348623157e308 AS binary(8)) and CAST(3.4e38 AS real) AS binary(4)).
        assert_eq!(
            finished(&ColumnData::Binary(Some(vec![127, 239, 255, 255, 255, 255, 255, 255].into())), Finish::Double).as_deref(),
            Some("1.7976931348623157e308")
        );
        assert_eq!(finished(&ColumnData::Binary(Some(vec![127, 127, 201, 158].into())), Finish::Real).as_deref(), Some("3.3999999521443642e38"));
        let col = |ty, src: &str| Column::new("v", ty, src);
        assert!(canonical_expr(&col(DataType::DateTime { fsp: 3 }, "datetime"), Canon::DateTime { zero: ferry_model::canonical::ZeroAs::Kept, digits: 3 })
            .contains("datetime2(3)"));
        assert_eq!(Finish::of(&canonical_expr(&col(DataType::Double { unsigned: false }, "float"), Canon::Float)), Finish::Double);
        assert_eq!(canonical_expr(&col(DataType::Uuid, "uniqueidentifier"), Canon::Text), "LOWER(CONVERT(char(36), [v]))");
        assert_eq!(
            canonical_expr(&col(DataType::Money { bytes: 8 }, "money"), Canon::Decimal { scale: Some(4) }),
            "CONVERT(varchar(60), CAST([v] AS decimal(38, 4)))"
        );
    }
}
