//! COPY text-format encoding: pure functions from neutral values to the bytes PostgreSQL's
//! `COPY … FROM STDIN` reads (tab-separated, `\N` for NULL, backslash escapes). Every value is
//! written in a form PostgreSQL parses back to exactly the same datum: floats in shortest
//! round-trip form, timestamps with all six fractional digits, instants with an explicit `+00`.
//! A value PostgreSQL cannot store (a NUL character in text) is an error, never altered.

use ferry_model::value::format_duration;
use ferry_model::Value;
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("contains a NUL character (0x00), which PostgreSQL text cannot store; override the column type to bytea or clean the data")]
    Nul,
    #[error("year {0} cannot be written as a PostgreSQL date")]
    BadYear(i32),
}

/// Appends one row (without the trailing newline checks: it adds `\n`). On error returns the
/// index of the offending column.
pub fn encode_row(row: &[Value], out: &mut Vec<u8>) -> Result<(), (usize, EncodeError)> {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        encode_value(v, out).map_err(|e| (i, e))?;
    }
    out.push(b'\n');
    Ok(())
}

pub fn encode_value(v: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match v {
        Value::Null => out.extend_from_slice(b"\\N"),
        // The converter unwraps these; what the target gets is the replacement.
        Value::Quarantined(q) => return encode_value(&q.value, out),
        other => {
            let mut s = String::new();
            text_of(other, &mut s)?;
            escape_into(&s, out)?;
        }
    }
    Ok(())
}

/// The PostgreSQL input text of a non-NULL value (before COPY escaping).
pub fn text_of(v: &Value, s: &mut String) -> Result<(), EncodeError> {
    match v {
        Value::Null => s.push_str("NULL"),
        Value::Quarantined(q) => return text_of(&q.value, s),
        Value::Bool(b) => s.push(if *b { 't' } else { 'f' }),
        Value::Int(i) => write!(s, "{i}").unwrap(),
        Value::UInt(u) => write!(s, "{u}").unwrap(),
        Value::Float(f) => float(*f as f64, Some(*f), s),
        Value::Double(d) => float(*d, None, s),
        Value::Decimal(d) => s.push_str(d),
        Value::Text(t) | Value::Json(t) => s.push_str(t),
        Value::Bytes(b) => {
            s.reserve(2 + b.len() * 2);
            s.push_str("\\x");
            for x in b {
                write!(s, "{x:02x}").unwrap();
            }
        }
        Value::Date(d) => date(d, s)?,
        Value::DateTime(d) => datetime(d, s)?,
        Value::Timestamp(d) => {
            datetime(d, s)?;
            s.push_str("+00");
        }
        Value::Duration(m) => s.push_str(&format_duration(*m)),
        Value::Bits(b) => s.push_str(b),
        Value::Array(items) => {
            s.push('{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                if item.is_null() {
                    s.push_str("NULL");
                    continue;
                }
                let mut e = String::new();
                text_of(item, &mut e)?;
                s.push('"');
                for c in e.chars() {
                    if c == '"' || c == '\\' {
                        s.push('\\');
                    }
                    s.push(c);
                }
                s.push('"');
            }
            s.push('}');
        }
    }
    Ok(())
}

fn float(x: f64, single: Option<f32>, s: &mut String) {
    if x.is_nan() {
        s.push_str("NaN");
    } else if x.is_infinite() {
        s.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        match single {
            Some(f) => write!(s, "{f:e}").unwrap(),
            None => write!(s, "{x:e}").unwrap(),
        }
    }
}

fn date(d: &ferry_model::Date, s: &mut String) -> Result<(), EncodeError> {
    if d.year < 1 {
        return Err(EncodeError::BadYear(d.year));
    }
    write!(s, "{:04}-{:02}-{:02}", d.year, d.month, d.day).unwrap();
    Ok(())
}

fn datetime(d: &ferry_model::DateTime, s: &mut String) -> Result<(), EncodeError> {
    date(&d.date, s)?;
    write!(s, " {:02}:{:02}:{:02}.{:06}", d.hour, d.minute, d.second, d.micros).unwrap();
    Ok(())
}

fn escape_into(s: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.reserve(s.len());
    for &b in s.as_bytes() {
        match b {
            0 => return Err(EncodeError::Nul),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::{Date, DateTime};

    fn enc(v: Value) -> String {
        let mut out = Vec::new();
        encode_value(&v, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_text() {
        assert_eq!(enc(Value::Text("a\tb\\c\nd\re".into())), "a\\tb\\\\c\\nd\\re");
        assert_eq!(enc(Value::Null), "\\N");
        assert_eq!(enc(Value::Text("\\N".into())), "\\\\N");
        let mut out = Vec::new();
        assert_eq!(encode_value(&Value::Text("a\0b".into()), &mut out), Err(EncodeError::Nul));
    }

    #[test]
    fn bytes_are_hex_with_escaped_backslash() {
        assert_eq!(enc(Value::Bytes(vec![0, 255, 16])), "\\\\x00ff10");
    }

    #[test]
    fn floats_round_trip() {
        assert_eq!(enc(Value::Float(3.4028235e38)), "3.4028235e38");
        assert_eq!(enc(Value::Double(f64::NAN)), "NaN");
        assert_eq!(enc(Value::Double(-1.5e-300)), "-1.5e-300");
        let x: f64 = enc(Value::Double(0.1 + 0.2)).parse().unwrap();
        assert_eq!(x, 0.1 + 0.2);
    }

    #[test]
    fn temporal_values() {
        let d = DateTime { date: Date { year: 2020, month: 2, day: 29 }, hour: 23, minute: 59, second: 59, micros: 5 };
        assert_eq!(enc(Value::DateTime(d)), "2020-02-29 23:59:59.000005");
        assert_eq!(enc(Value::Timestamp(d)), "2020-02-29 23:59:59.000005+00");
        assert_eq!(enc(Value::Duration(-3_600_000_000)), "-01:00:00");
        let mut out = Vec::new();
        assert!(encode_value(&Value::Date(Date { year: 0, month: 1, day: 1 }), &mut out).is_err());
    }

    #[test]
    fn arrays_quote_elements() {
        let v = Value::Array(vec![Value::Text("a,b".into()), Value::Text("q\"\\".into()), Value::Null]);
        assert_eq!(enc(v), "{\"a,b\",\"q\\\\\"\\\\\\\\\",NULL}");
    }

    #[test]
    fn rows_are_tab_separated() {
        let mut out = Vec::new();
        encode_row(&[Value::Int(1), Value::Null, Value::Bool(true)], &mut out).unwrap();
        assert_eq!(out, b"1\t\\N\tt\n");
    }
}
