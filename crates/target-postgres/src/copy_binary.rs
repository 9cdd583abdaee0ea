//! PostgreSQL's binary COPY format: pure functions from neutral values to bytes.
//!
//! Each column gets a [`BinaryKind`] from its target type once, at plan time; encoding a value
//! is then a match on (kind, value) that writes the field's length and its bytes in the form the
//! type's `_recv` function reads. Everything is exact: numerics are converted digit by digit
//! from their decimal text (never through a float), timestamps are microseconds since
//! 2000-01-01, floats are their IEEE bits. A value that does not fit its column (an integer out
//! of range, an invalid UUID) is an error, never altered. A target type without a binary
//! encoder here (a user's `type = "…"` override) makes the table use the text format instead.

use crate::ddl::PgType;
use ferry_model::{Date, DateTime, Value};

pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
pub const TRAILER: &[u8] = &[0xff, 0xff];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Numeric,
    Float4,
    Float8,
    /// text, varchar, char, enum labels, json.
    Text,
    Jsonb,
    Bytea,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Bit,
    TextArray,
    /// PostGIS: EWKB bytes.
    Geometry,
}

impl BinaryKind {
    /// The encoder for a target type, or `None` when only the text format can carry it.
    pub fn for_type(t: &PgType) -> Option<BinaryKind> {
        Some(match t {
            PgType::Boolean => BinaryKind::Bool,
            PgType::SmallInt => BinaryKind::Int2,
            PgType::Integer => BinaryKind::Int4,
            PgType::BigInt => BinaryKind::Int8,
            PgType::Numeric(_) => BinaryKind::Numeric,
            PgType::Real => BinaryKind::Float4,
            PgType::Double => BinaryKind::Float8,
            PgType::Char(_) | PgType::Varchar(_) | PgType::Text | PgType::Json | PgType::Named { .. } => BinaryKind::Text,
            PgType::Jsonb => BinaryKind::Jsonb,
            PgType::Bytea => BinaryKind::Bytea,
            PgType::Date => BinaryKind::Date,
            PgType::Time(_) => BinaryKind::Time,
            PgType::Timestamp(_) => BinaryKind::Timestamp,
            PgType::TimestampTz(_) => BinaryKind::TimestampTz,
            PgType::Interval(_) => BinaryKind::Interval,
            PgType::Uuid => BinaryKind::Uuid,
            PgType::Bit(_) | PgType::VarBit(_) => BinaryKind::Bit,
            PgType::Array(inner) if matches!(**inner, PgType::Text) => BinaryKind::TextArray,
            PgType::Geometry => BinaryKind::Geometry,
            // citext's binary form is text's.
            PgType::Custom(n) if n.trim().eq_ignore_ascii_case("citext") => BinaryKind::Text,
            PgType::Array(_) | PgType::Custom(_) => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error("contains a NUL character (0x00), which PostgreSQL text cannot store; override the column type to bytea or clean the data")]
    Nul,
    #[error("value {value} does not fit {kind:?}{}", remedy(*kind))]
    OutOfRange { value: String, kind: BinaryKind },
    #[error("a {value} value cannot be written to a {kind:?} column")]
    Mismatch { value: &'static str, kind: BinaryKind },
    #[error("{0:?} is not a valid decimal number")]
    BadNumeric(String),
    #[error("{0:?} is not a valid UUID")]
    BadUuid(String),
    #[error("date {0} cannot be written to PostgreSQL")]
    BadDate(String),
}

/// Appends one tuple: field count, then each field.
pub fn encode_row(kinds: &[BinaryKind], row: &[Value], out: &mut Vec<u8>) -> Result<(), (usize, BinaryError)> {
    out.extend_from_slice(&(row.len() as i16).to_be_bytes());
    for (i, (k, v)) in kinds.iter().zip(row).enumerate() {
        encode_field(*k, v, out).map_err(|e| (i, e))?;
    }
    Ok(())
}

/// Appends one field: its length (-1 for NULL) and its bytes.
pub fn encode_field(kind: BinaryKind, v: &Value, out: &mut Vec<u8>) -> Result<(), BinaryError> {
    // The converter unwraps these; what the target gets is the replacement.
    if let Value::Quarantined(q) = v {
        return encode_field(kind, &q.value, out);
    }
    if v.is_null() {
        out.extend_from_slice(&(-1i32).to_be_bytes());
        return Ok(());
    }
    let len_at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    if let Err(e) = encode_body(kind, v, out) {
        out.truncate(len_at);
        return Err(e);
    }
    let len = (out.len() - len_at - 4) as i32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// What to do about a value its column cannot hold, where there is something to say.
fn remedy(kind: BinaryKind) -> &'static str {
    match kind {
        BinaryKind::Time => {
            " (PostgreSQL's time holds 00:00:00 to 24:00:00; the plan chose it because no stored value was outside the day): set the column's type = \"interval\" in the config, then reload the table (`ferry migrate --if-exists drop`)"
        }
        BinaryKind::Int8 => " (above 2^63-1): set the column's type = \"numeric(20,0)\", then reload the table",
        _ => "",
    }
}

fn range(v: &Value, kind: BinaryKind) -> BinaryError {
    BinaryError::OutOfRange { value: v.to_string(), kind }
}

fn int_of(v: &Value, kind: BinaryKind) -> Result<i128, BinaryError> {
    match v {
        Value::Int(i) => Ok(*i as i128),
        Value::UInt(u) => Ok(*u as i128),
        Value::Bool(b) => Ok(*b as i128),
        Value::Decimal(s) if !s.contains('.') => s.trim().parse().map_err(|_| BinaryError::BadNumeric(s.clone())),
        other => Err(BinaryError::Mismatch { value: other.kind(), kind }),
    }
}

fn text_bytes(s: &str, out: &mut Vec<u8>) -> Result<(), BinaryError> {
    if s.as_bytes().contains(&0) {
        return Err(BinaryError::Nul);
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn encode_body(kind: BinaryKind, v: &Value, out: &mut Vec<u8>) -> Result<(), BinaryError> {
    use BinaryKind as K;
    match kind {
        K::Bool => match v {
            Value::Bool(b) => out.push(*b as u8),
            Value::Int(0) | Value::UInt(0) => out.push(0),
            Value::Int(1) | Value::UInt(1) => out.push(1),
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Int2 => {
            let i = int_of(v, kind)?;
            let x = i16::try_from(i).map_err(|_| range(v, kind))?;
            out.extend_from_slice(&x.to_be_bytes());
        }
        K::Int4 => {
            let i = int_of(v, kind)?;
            let x = i32::try_from(i).map_err(|_| range(v, kind))?;
            out.extend_from_slice(&x.to_be_bytes());
        }
        K::Int8 => {
            let i = int_of(v, kind)?;
            let x = i64::try_from(i).map_err(|_| range(v, kind))?;
            out.extend_from_slice(&x.to_be_bytes());
        }
        K::Numeric => match v {
            Value::Decimal(s) => numeric(s, out)?,
            Value::Int(i) => numeric_int(i.unsigned_abs(), *i < 0, out),
            Value::UInt(u) => numeric_int(*u, false, out),
            Value::Double(d) if d.is_nan() => numeric("NaN", out)?,
            Value::Double(d) => numeric(&format!("{d}"), out)?,
            Value::Float(f) => numeric(&format!("{f}"), out)?,
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Float4 => match v {
            Value::Float(f) => out.extend_from_slice(&f.to_be_bytes()),
            Value::Double(d) => out.extend_from_slice(&(*d as f32).to_be_bytes()),
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Float8 => match v {
            Value::Double(d) => out.extend_from_slice(&d.to_be_bytes()),
            Value::Float(f) => out.extend_from_slice(&(*f as f64).to_be_bytes()),
            Value::Int(i) => out.extend_from_slice(&(*i as f64).to_be_bytes()),
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Text => match v {
            Value::Text(s) | Value::Json(s) | Value::Decimal(s) | Value::Bits(s) => text_bytes(s, out)?,
            other => {
                // Anything else is written in its PostgreSQL text form.
                let mut s = String::new();
                crate::copy_text::text_of(other, &mut s).map_err(|_| BinaryError::Mismatch { value: other.kind(), kind })?;
                text_bytes(&s, out)?
            }
        },
        K::Jsonb => match v {
            Value::Json(s) | Value::Text(s) => {
                out.push(1);
                text_bytes(s, out)?
            }
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Bytea | K::Geometry => match v {
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Text(s) if kind == K::Geometry => out.extend_from_slice(&hex_decode(s).ok_or_else(|| range(v, kind))?),
            Value::Text(s) => out.extend_from_slice(s.as_bytes()),
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Date => match v {
            Value::Date(d) => out.extend_from_slice(&(pg_days(d)? as i32).to_be_bytes()),
            // zero_dates = "-infinity": PostgreSQL's DATEVAL_NOBEGIN.
            Value::Text(s) if s == "-infinity" => out.extend_from_slice(&i32::MIN.to_be_bytes()),
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Time => match v {
            Value::Duration(m) if (0..86_400_000_000).contains(m) => out.extend_from_slice(&m.to_be_bytes()),
            Value::Duration(_) => return Err(range(v, kind)),
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Timestamp | K::TimestampTz => match v {
            Value::DateTime(d) | Value::Timestamp(d) => out.extend_from_slice(&pg_micros(d)?.to_be_bytes()),
            Value::Date(d) => out.extend_from_slice(&(pg_days(d)? * 86_400_000_000).to_be_bytes()),
            // zero_dates = "-infinity": PostgreSQL's DT_NOBEGIN.
            Value::Text(s) if s == "-infinity" => out.extend_from_slice(&i64::MIN.to_be_bytes()),
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Interval => match v {
            Value::Duration(m) => {
                out.extend_from_slice(&m.to_be_bytes());
                out.extend_from_slice(&0i32.to_be_bytes());
                out.extend_from_slice(&0i32.to_be_bytes());
            }
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Uuid => match v {
            Value::Text(s) => {
                let hex: String = s.chars().filter(|c| *c != '-').collect();
                let b = hex_decode(&hex).filter(|b| b.len() == 16).ok_or_else(|| BinaryError::BadUuid(s.clone()))?;
                out.extend_from_slice(&b);
            }
            Value::Bytes(b) if b.len() == 16 => out.extend_from_slice(b),
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::Bit => match v {
            Value::Bits(s) => {
                out.extend_from_slice(&(s.len() as i32).to_be_bytes());
                let mut byte = 0u8;
                for (i, c) in s.bytes().enumerate() {
                    if c == b'1' {
                        byte |= 0x80 >> (i % 8);
                    } else if c != b'0' {
                        return Err(range(v, kind));
                    }
                    if i % 8 == 7 {
                        out.push(byte);
                        byte = 0;
                    }
                }
                if s.len() % 8 != 0 {
                    out.push(byte);
                }
            }
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
        K::TextArray => match v {
            Value::Array(items) => {
                const TEXT_OID: i32 = 25;
                let has_null = items.iter().any(Value::is_null) as i32;
                if items.is_empty() {
                    out.extend_from_slice(&0i32.to_be_bytes());
                    out.extend_from_slice(&0i32.to_be_bytes());
                    out.extend_from_slice(&TEXT_OID.to_be_bytes());
                } else {
                    out.extend_from_slice(&1i32.to_be_bytes());
                    out.extend_from_slice(&has_null.to_be_bytes());
                    out.extend_from_slice(&TEXT_OID.to_be_bytes());
                    out.extend_from_slice(&(items.len() as i32).to_be_bytes());
                    out.extend_from_slice(&1i32.to_be_bytes());
                    for item in items {
                        encode_field(K::Text, item, out)?;
                    }
                }
            }
            other => return Err(BinaryError::Mismatch { value: other.kind(), kind }),
        },
    }
    Ok(())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Days between PostgreSQL's epoch (2000-01-01) and `d`.
fn pg_days(d: &Date) -> Result<i64, BinaryError> {
    if !d.is_valid() {
        return Err(BinaryError::BadDate(d.to_string()));
    }
    Ok(ferry_model::value::days_from_civil(d.year as i64, d.month as i64, d.day as i64) - 10_957)
}

fn pg_micros(d: &DateTime) -> Result<i64, BinaryError> {
    let days = pg_days(&d.date)?;
    Ok(((days * 24 + d.hour as i64) * 60 + d.minute as i64) * 60_000_000 + d.second as i64 * 1_000_000 + d.micros as i64)
}

/// Writes a decimal string as PostgreSQL's binary numeric: base-10000 digits with a weight,
/// a sign and the display scale (the number of fractional digits given).
pub fn numeric(s: &str, out: &mut Vec<u8>) -> Result<(), BinaryError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("nan") {
        out.extend_from_slice(&[0, 0, 0, 0, 0xC0, 0, 0, 0]);
        return Ok(());
    }
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if numeric_plain(body, neg, out) {
        return Ok(());
    }
    let bad = || BinaryError::BadNumeric(s.to_string());
    // Exponent form (1.5e3) from float sources.
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty()) || !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // All digits with the decimal point position, shifted by the exponent.
    let mut digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect();
    let mut point = int_part.len() as i64 + exp as i64; // digits before the decimal point
    let mut dscale = (frac_part.len() as i64 - exp as i64).max(0);
    if point < 0 {
        let pad = (-point) as usize;
        digits.splice(0..0, std::iter::repeat_n(0, pad));
        point = 0;
    }
    while (digits.len() as i64) < point {
        digits.push(0);
    }
    if dscale > 16383 {
        dscale = 16383;
    }
    // Align to base-10000 groups: pad the integer part on the left to a multiple of 4 and the
    // fraction on the right.
    let lead = ((4 - point % 4) % 4) as usize;
    digits.splice(0..0, std::iter::repeat_n(0, lead));
    let int_groups = (point as usize + lead) / 4;
    while !digits.len().is_multiple_of(4) {
        digits.push(0);
    }
    let mut groups: Vec<i16> = digits.chunks(4).map(|c| c.iter().fold(0i16, |a, d| a * 10 + *d as i16)).collect();
    let mut weight = int_groups as i64 - 1;
    // Strip leading zero groups (each lowers the weight) and trailing zero groups.
    let first = groups.iter().position(|g| *g != 0);
    match first {
        None => groups.clear(),
        Some(f) => {
            groups.drain(..f);
            weight -= f as i64;
            while groups.last() == Some(&0) {
                groups.pop();
            }
        }
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign: u16 = if neg && !groups.is_empty() { 0x4000 } else { 0 };
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(dscale as i16).to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

/// An integer as binary numeric (scale 0), without going through text.
fn numeric_int(mut v: u64, neg: bool, out: &mut Vec<u8>) {
    let mut groups = [0i16; 5];
    let mut n = 0;
    while v > 0 {
        groups[n] = (v % 10_000) as i16;
        v /= 10_000;
        n += 1;
    }
    // groups are least significant first; drop trailing zero groups (they only set the weight).
    let weight = n as i16 - 1;
    let mut low = 0;
    while low < n && groups[low] == 0 {
        low += 1;
    }
    let ndigits = n - low;
    out.extend_from_slice(&(ndigits as i16).to_be_bytes());
    out.extend_from_slice(&(if ndigits == 0 { 0 } else { weight }).to_be_bytes());
    out.extend_from_slice(&(if neg && ndigits > 0 { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for g in groups[low..n].iter().rev() {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

/// The common case without allocation: plain `digits[.digits]` of moderate length. Returns
/// false (having written nothing) for anything else, which the general path handles.
fn numeric_plain(body: &str, neg: bool, out: &mut Vec<u8>) -> bool {
    let b = body.as_bytes();
    if b.is_empty() || b.len() > 120 {
        return false;
    }
    let dot = b.iter().position(|&c| c == b'.');
    let (int, frac) = match dot {
        Some(d) => (&b[..d], &b[d + 1..]),
        None => (b, &b[..0]),
    };
    if (int.is_empty() && frac.is_empty()) || !int.iter().all(u8::is_ascii_digit) || !frac.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // Skip leading zeros of the integer part; they change nothing.
    let int = &int[int.iter().position(|&c| c != b'0').unwrap_or(int.len())..];
    let mut groups = [0i16; 64];
    let mut n = 0usize;
    let lead = (4 - int.len() % 4) % 4;
    let int_groups = (int.len() + lead) / 4;
    // Integer groups (the first padded on the left, so the integer part ends on a group
    // boundary), then fraction groups (the last padded on the right, below).
    let mut acc: i16 = 0;
    let mut k = lead;
    for &c in int.iter().chain(frac) {
        acc = acc * 10 + (c - b'0') as i16;
        k += 1;
        if k == 4 {
            groups[n] = acc;
            n += 1;
            acc = 0;
            k = 0;
        }
    }
    if k > 0 {
        for _ in k..4 {
            acc *= 10;
        }
        groups[n] = acc;
        n += 1;
    }
    let mut weight = int_groups as i32 - 1;
    let mut first = 0;
    while first < n && groups[first] == 0 {
        first += 1;
        weight -= 1;
    }
    let mut last = n;
    while last > first && groups[last - 1] == 0 {
        last -= 1;
    }
    let ndigits = last - first;
    if ndigits == 0 {
        weight = 0;
    }
    let sign: u16 = if neg && ndigits > 0 { 0x4000 } else { 0 };
    out.extend_from_slice(&(ndigits as i16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(frac.len() as i16).to_be_bytes());
    for g in &groups[first..last] {
        out.extend_from_slice(&g.to_be_bytes());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_numerics_match_the_text_path() {
        for (v, neg) in [(0u64, false), (1, false), (10000, false), (123456789, true), (u64::MAX, false), (100000000, false)] {
            let mut a = Vec::new();
            numeric_int(v, neg, &mut a);
            let mut b = Vec::new();
            numeric(&format!("{}{v}", if neg { "-" } else { "" }), &mut b).unwrap();
            assert_eq!(a, b, "{v}");
        }
    }

    /// The fast path and the general path agree.
    #[test]
    fn plain_numerics_match_the_general_path() {
        for s in ["0", "0.00", "1", "12345.678", "10000", "0.0001", "0.00001", "18446744073709551615", "007.50", ".5", "5.", "99999999.99"] {
            let mut fast = Vec::new();
            assert!(numeric_plain(s, false, &mut fast), "{s}");
            let mut general = Vec::new();
            numeric(&format!("{s}e0"), &mut general).unwrap();
            assert_eq!(fast, general, "{s}");
        }
    }

    fn num(s: &str) -> (i16, i16, u16, i16, Vec<i16>) {
        let mut out = Vec::new();
        numeric(s, &mut out).unwrap();
        let r = |i: usize| i16::from_be_bytes([out[i], out[i + 1]]);
        let n = r(0);
        let digits = (0..n as usize).map(|k| r(8 + 2 * k)).collect();
        (n, r(2), r(4) as u16, r(6), digits)
    }

    #[test]
    fn numerics_in_base_10000() {
        assert_eq!(num("0"), (0, 0, 0, 0, vec![]));
        assert_eq!(num("0.00"), (0, 0, 0, 2, vec![]));
        assert_eq!(num("1"), (1, 0, 0, 0, vec![1]));
        assert_eq!(num("-12345.678"), (3, 1, 0x4000, 3, vec![1, 2345, 6780]));
        assert_eq!(num("10000"), (1, 1, 0, 0, vec![1]));
        assert_eq!(num("0.0001"), (1, -1, 0, 4, vec![1]));
        assert_eq!(num("0.00001"), (1, -2, 0, 5, vec![1000]));
        assert_eq!(num("18446744073709551615"), (5, 4, 0, 0, vec![1844, 6744, 737, 955, 1615]));
        assert_eq!(num("1.5e3"), (1, 0, 0, 0, vec![1500]));
        assert_eq!(num("-0.00"), (0, 0, 0, 2, vec![]));
        assert!(numeric("1.2.3", &mut Vec::new()).is_err());
        assert!(numeric("", &mut Vec::new()).is_err());
    }

    #[test]
    fn dates_count_from_2000() {
        assert_eq!(pg_days(&Date { year: 2000, month: 1, day: 1 }).unwrap(), 0);
        assert_eq!(pg_days(&Date { year: 1999, month: 12, day: 31 }).unwrap(), -1);
        assert_eq!(pg_days(&Date { year: 2024, month: 2, day: 29 }).unwrap(), 8825);
        assert!(pg_days(&Date { year: 0, month: 0, day: 0 }).is_err());
    }

    #[test]
    fn fields_and_nulls() {
        let mut out = Vec::new();
        encode_field(BinaryKind::Int4, &Value::Null, &mut out).unwrap();
        encode_field(BinaryKind::Int2, &Value::Int(-2), &mut out).unwrap();
        assert_eq!(out, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0xff, 0xfe]);
        let mut out = Vec::new();
        assert!(encode_field(BinaryKind::Int2, &Value::Int(40000), &mut out).is_err());
        assert!(out.is_empty(), "a failed field leaves nothing behind");
        let mut out = Vec::new();
        encode_field(BinaryKind::Bit, &Value::Bits("1000000001".into()), &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 6, 0, 0, 0, 10, 0x80, 0x40]);
        let mut out = Vec::new();
        encode_field(BinaryKind::Text, &Value::Text("a\0".into()), &mut out).unwrap_err();
    }

    /// Random values of every kind never panic the encoder (a cheap fuzz run on every test).
    #[test]
    fn random_values_never_panic() {
        let mut seed = 0x9E3779B97F4A7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let kinds = [
            BinaryKind::Bool,
            BinaryKind::Int2,
            BinaryKind::Int4,
            BinaryKind::Int8,
            BinaryKind::Numeric,
            BinaryKind::Float4,
            BinaryKind::Float8,
            BinaryKind::Text,
            BinaryKind::Jsonb,
            BinaryKind::Bytea,
            BinaryKind::Date,
            BinaryKind::Time,
            BinaryKind::Timestamp,
            BinaryKind::TimestampTz,
            BinaryKind::Interval,
            BinaryKind::Uuid,
            BinaryKind::Bit,
            BinaryKind::TextArray,
            BinaryKind::Geometry,
        ];
        let alphabet = b"0123456789.-+eE abcxyz\0";
        for _ in 0..200_000 {
            let r = next();
            let s: String = (0..(r % 24)).map(|i| alphabet[((r >> (i * 2)) % alphabet.len() as u64) as usize] as char).collect();
            let date = Date { year: (next() % 12000) as i32 - 1000, month: (next() % 14) as u8, day: (next() % 33) as u8 };
            let v = match next() % 12 {
                0 => Value::Int(next() as i64),
                1 => Value::UInt(next()),
                2 => Value::Decimal(s),
                3 => Value::Text(s),
                4 => Value::Double(f64::from_bits(next())),
                5 => Value::Float(f32::from_bits(next() as u32)),
                6 => Value::Date(date),
                7 => Value::DateTime(DateTime { date, hour: (next() % 30) as u8, minute: 0, second: 0, micros: (next() % 2_000_000) as u32 }),
                8 => Value::Duration(next() as i64),
                9 => Value::Bits(s),
                10 => Value::Array(vec![Value::Text(s), Value::Null]),
                _ => Value::Bytes(s.into_bytes()),
            };
            let mut out = Vec::new();
            let _ = encode_field(kinds[(r % kinds.len() as u64) as usize], &v, &mut out);
        }
    }
}
