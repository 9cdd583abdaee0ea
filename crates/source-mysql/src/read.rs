//! Snapshot reads: one `SELECT` of all columns per chunk over the binary protocol, streamed row
//! by row into bounded batches. The binary protocol keeps floats exact and delivers zero dates
//! and TIME durations as the server stores them, so the plan (not the reader) decides what to do
//! with values PostgreSQL cannot hold. Nothing is dropped here: a value the reader cannot even
//! decode (invalid UTF-8 in a text column) is a definite error naming table, column and key.

use crate::{error::map_error, quote_ident};
use ferry_model::{ChunkRange, DataType, Date, DateTime, ErrorKind, Row, RowSender, SourceError, Table, Value};
use mysql_async::{prelude::Queryable, Value as MyValue};

const BATCH_ROWS: usize = 2000;
const BATCH_BYTES: usize = 4 << 20;

/// The `WHERE` clause of a chunk; MySQL plans only key ranges (a page range is refused, never
/// read as something else).
pub fn range_condition(range: &ChunkRange) -> Result<String, SourceError> {
    let column = match range {
        ChunkRange::IntKey { column, .. } => quote_ident(column),
        _ => String::new(),
    };
    range.key_condition(&column).ok_or_else(|| SourceError::new(ferry_model::ErrorKind::Definite, format!("a MySQL source cannot read chunk {range:?}")))
}

pub async fn read_range(conn: &mut mysql_async::Conn, database: &str, table: &Table, range: &ChunkRange, tx: RowSender) -> Result<u64, SourceError> {
    read_where(conn, database, table, &range_condition(range)?, tx).await
}

/// Reads all columns of the rows matching `condition` (a ` WHERE …` clause or empty).
pub async fn read_where(conn: &mut mysql_async::Conn, database: &str, table: &Table, condition: &str, tx: RowSender) -> Result<u64, SourceError> {
    let cols: Vec<String> = table
        .columns
        .iter()
        .map(|c| if c.data_type.is_textual() { crate::charset::select_expr(&quote_ident(&c.name), c.charset.as_deref()) } else { quote_ident(&c.name) })
        .collect();
    let sql = format!("SELECT {} FROM {}.{}{condition}", cols.join(", "), quote_ident(database), quote_ident(&table.name));
    let ctx = |e: SourceError| e.context(format!("reading table `{}`", table.name));
    let mut result = conn.exec_iter(sql, ()).await.map_err(|e| ctx(map_error(e)))?;
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH_ROWS);
    let mut bytes = 0usize;
    let mut count = 0u64;
    while let Some(row) = result.next().await.map_err(|e| ctx(map_error(e)))? {
        count += 1;
        let raw = row.unwrap();
        let mut vals = Vec::with_capacity(raw.len());
        let mut failure = None;
        for (i, v) in raw.into_iter().enumerate() {
            bytes += approx_size(&v);
            match convert_column(&table.columns[i], v) {
                Ok(v) => vals.push(v),
                Err(msg) => {
                    failure.get_or_insert((i, msg));
                    vals.push(Value::Null);
                }
            }
        }
        if let Some((i, msg)) = failure {
            return Err(SourceError::new(
                ErrorKind::BadData,
                format!("table `{}`, column `{}`, {}: {msg}", table.name, table.columns[i].name, table.describe_row(&vals, count)),
            ));
        }
        batch.push(vals);
        if batch.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
            bytes = 0;
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
            if tx.send(full).await.is_err() {
                // The writer stopped (it reports its own error); stop reading.
                return Ok(count);
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
    Ok(count)
}

fn approx_size(v: &MyValue) -> usize {
    match v {
        MyValue::Bytes(b) => b.len() + 8,
        _ => 8,
    }
}

fn utf8(b: Vec<u8>) -> Result<String, String> {
    String::from_utf8(b).map_err(|e| {
        let pos = e.utf8_error().valid_up_to();
        format!("invalid UTF-8 at byte {pos}; fix the data or override the column type to bytea")
    })
}

fn bytes_text(v: &MyValue) -> Option<&[u8]> {
    match v {
        MyValue::Bytes(b) => Some(b),
        _ => None,
    }
}

/// [`convert`] for a column: text of a legacy charset arrives as its stored bytes
/// (`charset::select_expr`) and is decoded here, strictly.
pub fn convert_column(col: &ferry_model::Column, v: MyValue) -> Result<Value, String> {
    if col.data_type.is_textual() {
        if let (Some(cs), MyValue::Bytes(b)) = (col.charset.as_deref().filter(|cs| crate::charset::read_raw(Some(cs))), &v) {
            return Ok(Value::Text(crate::charset::decode_column(cs, b)?));
        }
    }
    convert(&col.data_type, v)
}

/// Converts one binary-protocol value into a neutral value for a column of type `dt`.
pub fn convert(dt: &DataType, v: MyValue) -> Result<Value, String> {
    if let MyValue::NULL = v {
        return Ok(Value::Null);
    }
    Ok(match dt {
        DataType::Bool | DataType::Int { .. } | DataType::Year => match v {
            MyValue::Int(i) => Value::Int(i),
            MyValue::UInt(u) => Value::UInt(u),
            MyValue::Bytes(ref b) => {
                let s = std::str::from_utf8(b).map_err(|_| "integer is not text".to_string())?;
                if let Ok(i) = s.parse::<i64>() {
                    Value::Int(i)
                } else {
                    Value::UInt(s.parse::<u64>().map_err(|_| format!("bad integer {s:?}"))?)
                }
            }
            other => return Err(format!("unexpected {other:?} for an integer")),
        },
        DataType::Decimal { .. } => match v {
            MyValue::Bytes(b) => Value::Decimal(utf8(b)?),
            MyValue::Int(i) => Value::Decimal(i.to_string()),
            MyValue::UInt(u) => Value::Decimal(u.to_string()),
            MyValue::Double(d) => Value::Decimal(d.to_string()),
            other => return Err(format!("unexpected {other:?} for a decimal")),
        },
        DataType::Float { .. } => match v {
            MyValue::Float(f) => Value::Float(f),
            MyValue::Double(d) => Value::Float(d as f32),
            ref b => Value::Float(parse_text(b)?),
        },
        DataType::Double { .. } => match v {
            MyValue::Double(d) => Value::Double(d),
            MyValue::Float(f) => Value::Double(f as f64),
            ref b => Value::Double(parse_text(b)?),
        },
        DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. } | DataType::Enum { .. } | DataType::Set { .. } | DataType::Uuid => match v {
            MyValue::Bytes(b) => Value::Text(utf8(b)?),
            other => Value::Text(other.as_sql(true).trim_matches('\'').to_string()),
        },
        DataType::Json => match v {
            MyValue::Bytes(b) => Value::Json(utf8(b)?),
            other => return Err(format!("unexpected {other:?} for JSON")),
        },
        DataType::Geometry { .. } => match v {
            MyValue::Bytes(b) => Value::Bytes(crate::geometry::to_ewkb(&b)?),
            other => return Err(format!("unexpected {other:?} for a geometry")),
        },
        DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::Blob { .. } => match v {
            MyValue::Bytes(b) => Value::Bytes(b),
            other => return Err(format!("unexpected {other:?} for binary data")),
        },
        DataType::Bit { len } => match v {
            MyValue::Bytes(b) => Value::Bits(bits(&b, *len)),
            MyValue::UInt(u) => Value::Bits(bits(&u.to_be_bytes(), *len)),
            MyValue::Int(i) => Value::Bits(bits(&i.to_be_bytes(), *len)),
            other => return Err(format!("unexpected {other:?} for BIT")),
        },
        DataType::Date | DataType::DateTime { .. } | DataType::Timestamp { .. } => match v {
            MyValue::Date(y, mo, d, h, mi, s, us) => {
                let date = Date { year: y as i32, month: mo, day: d };
                let dt_ = DateTime { date, hour: h, minute: mi, second: s, micros: us };
                match dt {
                    DataType::Date => Value::Date(date),
                    DataType::DateTime { .. } => Value::DateTime(dt_),
                    _ => Value::Timestamp(dt_),
                }
            }
            other => return Err(format!("unexpected {other:?} for a date")),
        },
        DataType::Time { .. } => match v {
            MyValue::Time(neg, days, h, mi, s, us) => {
                let micros = (((days as i64 * 24 + h as i64) * 60 + mi as i64) * 60 + s as i64) * 1_000_000 + us as i64;
                Value::Duration(if neg { -micros } else { micros })
            }
            other => return Err(format!("unexpected {other:?} for TIME")),
        },
        DataType::Unsupported { .. } | DataType::Native { .. } => match v {
            MyValue::Bytes(b) => match String::from_utf8(b) {
                Ok(s) => Value::Text(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            },
            other => Value::Text(other.as_sql(true).trim_matches('\'').to_string()),
        },
        // Types MySQL never reports (other sources' types).
        DataType::DateTimeOffset { .. } | DataType::Money { .. } | DataType::Xml | DataType::Mixed { .. } => {
            return Err(format!("a MySQL column cannot be of type {dt:?}"));
        }
    })
}

fn parse_text<T: std::str::FromStr>(v: &MyValue) -> Result<T, String> {
    let b = bytes_text(v).ok_or_else(|| format!("unexpected {v:?}"))?;
    let s = std::str::from_utf8(b).map_err(|_| "number is not text".to_string())?;
    s.trim().parse().map_err(|_| format!("bad number {s:?}"))
}

/// The lowest `len` bits of a big-endian byte string, most significant first.
fn bits(b: &[u8], len: u32) -> String {
    let total = b.len() * 8;
    let len = (len as usize).min(total.max(len as usize));
    let mut s = String::with_capacity(len);
    for i in 0..len {
        // bit i counted from the most significant of the last `len` bits
        let pos = total as isize - len as isize + i as isize;
        let bit = if pos < 0 { false } else { (b[pos as usize / 8] >> (7 - pos as usize % 8)) & 1 == 1 };
        s.push(if bit { '1' } else { '0' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_strings() {
        assert_eq!(bits(&[0b0000_0101], 3), "101");
        assert_eq!(bits(&[0x01, 0x00], 10), "0100000000");
        assert_eq!(bits(&[0xff], 8), "11111111");
    }

    #[test]
    fn times_become_signed_durations() {
        let v = convert(&DataType::Time { fsp: 0 }, MyValue::Time(true, 34, 22, 59, 59, 0)).unwrap();
        assert_eq!(v, Value::Duration(-(838 * 3600 + 59 * 60 + 59) * 1_000_000));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(convert(&DataType::Varchar { len: 3 }, MyValue::Bytes(vec![0xff, 0xfe])).is_err());
    }
}
