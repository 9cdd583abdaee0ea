//! The canonical text form of a value: one string per value such that two values are equal as
//! data exactly when their canonical forms are equal, whatever engine they came from. `verify`
//! compares rows through it and tests use it to compare a source with its target.
//!
//! Rules: integers and decimals in plain decimal notation with no leading `+` and no trailing
//! fractional zeros (`1.10` → `1.1`, `-0` → `0`); floats in shortest round-trip form; booleans `t`/`f`;
//! text as is; bytes as lower-case hex with a `\x` prefix; dates `YYYY-MM-DD`; date-times
//! `YYYY-MM-DD HH:MM:SS[.ffffff]` with trailing fractional zeros removed; instants the same in UTC
//! with a `Z`; durations `[-]H:MM:SS[.f]`; JSON re-serialised with sorted keys; arrays as
//! `{a,b}` of canonical elements. NULL has no canonical text (`None`).

use crate::value::{format_duration, Value};

/// Normalises a decimal string: no `+`, no leading zeros, no trailing fractional zeros, no `-0`.
pub fn normalize_decimal(s: &str) -> String {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut out = String::new();
    if neg && !(int == "0" && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

fn trim_fraction(s: String) -> String {
    match s.split_once('.') {
        Some((a, b)) => {
            let b = b.trim_end_matches('0');
            if b.is_empty() { a.to_string() } else { format!("{a}.{b}") }
        }
        None => s,
    }
}

/// JSON with object keys sorted and no insignificant white space.
pub fn normalize_json(s: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(s) {
        // serde_json's default map is ordered by key.
        Ok(v) => v.to_string(),
        Err(_) => s.to_string(),
    }
}

pub fn canonical(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => if *b { "t" } else { "f" }.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(x) => canonical_float(*x as f64, Some(*x)),
        Value::Double(x) => canonical_float(*x, None),
        Value::Decimal(s) => normalize_decimal(s),
        Value::Text(s) => s.clone(),
        Value::Bytes(b) => {
            let mut s = String::with_capacity(2 + b.len() * 2);
            s.push_str("\\x");
            for x in b {
                s.push_str(&format!("{x:02x}"));
            }
            s
        }
        Value::Date(d) => d.to_string(),
        Value::DateTime(d) => trim_fraction(format_full(d)),
        Value::Timestamp(d) => format!("{}Z", trim_fraction(format_full(d))),
        Value::Duration(m) => trim_fraction(format_duration(*m)),
        Value::Json(s) => normalize_json(s),
        Value::Bits(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> =
                items.iter().map(|i| canonical(i).unwrap_or_else(|| "NULL".into())).collect();
            format!("{{{}}}", inner.join(","))
        }
    })
}

fn format_full(d: &crate::value::DateTime) -> String {
    format!(
        "{} {:02}:{:02}:{:02}.{:06}",
        d.date, d.hour, d.minute, d.second, d.micros
    )
}

fn canonical_float(x: f64, single: Option<f32>) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    // Shortest text that round-trips, at the value's own precision.
    match single {
        Some(f) => format!("{f}"),
        None => format!("{x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Date, DateTime};

    #[test]
    fn decimals_normalise() {
        assert_eq!(normalize_decimal("1.10"), "1.1");
        assert_eq!(normalize_decimal("-0.00"), "0");
        assert_eq!(normalize_decimal("+007.5"), "7.5");
        assert_eq!(normalize_decimal("100"), "100");
        assert_eq!(normalize_decimal("-.5"), "-0.5");
    }

    #[test]
    fn json_key_order_does_not_matter() {
        assert_eq!(normalize_json(r#"{"b": 1, "a": [1, 2]}"#), normalize_json(r#"{"a":[1,2],"b":1}"#));
    }

    #[test]
    fn datetimes_drop_trailing_zero_fraction() {
        let d = DateTime { date: Date { year: 2020, month: 1, day: 2 }, hour: 3, minute: 4, second: 5, micros: 120000 };
        assert_eq!(canonical(&Value::DateTime(d)).unwrap(), "2020-01-02 03:04:05.12");
        assert_eq!(canonical(&Value::Timestamp(DateTime { micros: 0, ..d })).unwrap(), "2020-01-02 03:04:05Z");
    }

    #[test]
    fn floats_round_trip() {
        assert_eq!(canonical(&Value::Float(3.4028235e38)).unwrap(), "340282350000000000000000000000000000000");
        assert_eq!(canonical(&Value::Double(0.1)).unwrap(), "0.1");
        assert_eq!(canonical(&Value::Double(-0.0)).unwrap(), "0");
    }
}

/// How `verify` compares one column: the canonical text both databases compute in SQL (hashed
/// there); where the texts of a row differ, [`Canon::texts_equal`] decides whether the values do
/// (floats and JSON, whose engines may print equal values differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canon {
    /// Plain decimal integer text.
    Integer,
    /// `t`/`f` (a 0/1 integer on one side, a boolean on the other).
    Bool,
    /// Decimal text without trailing fractional zeros.
    Decimal,
    /// Text as stored (CHAR without trailing pad).
    Text,
    /// Lower-case hex.
    Bytes,
    /// `YYYY-MM-DD`; `zero_null`: zero dates count as NULL (rules.zero_dates = "null").
    Date { zero_null: bool },
    /// `YYYY-MM-DD HH:MM:SS.ffffff` (instants in UTC).
    DateTime { zero_null: bool },
    /// Signed microseconds.
    Duration,
    /// Comma-separated members.
    Set,
    /// '0'/'1' string of the column's length.
    Bits { len: u32 },
    /// WKB as lower-case hex.
    Geometry { postgis: bool },
    /// A float: both sides print shortest round-trip digits, but in different notations, so
    /// the texts may differ for equal values; rows are then compared as f64 here.
    Float,
    /// JSON: both sides normalise (sorted keys, numbers in one notation) as far as their SQL
    /// allows; rows whose texts still differ are compared here after full normalisation.
    Json,
}

impl Canon {
    /// Compares two canonical texts (None = NULL) of one column: exactly, except floats (as
    /// f64) and JSON (normalised), whose SQL texts can differ for equal values.
    pub fn texts_equal(self, a: Option<&str>, b: Option<&str>) -> bool {
        if a == b {
            return true;
        }
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => match self {
                Canon::Float => match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
                    (Ok(x), Ok(y)) => x == y || (x.is_nan() && y.is_nan()),
                    _ => a == b,
                },
                Canon::Json => normalize_json(a) == normalize_json(b),
                Canon::Decimal => normalize_decimal(a) == normalize_decimal(b),
                _ => a == b,
            },
            _ => false,
        }
    }
}
