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
            if b.is_empty() {
                a.to_string()
            } else {
                format!("{a}.{b}")
            }
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
            let inner: Vec<String> = items.iter().map(|i| canonical(i).unwrap_or_else(|| "NULL".into())).collect();
            format!("{{{}}}", inner.join(","))
        }
        // What the target holds.
        Value::Quarantined(q) => return canonical(&q.value),
    })
}

/// A row's key as one text (a JSON array of its values' canonical texts, `["7"]`): how
/// `ferry.quarantine` names the row of a set-aside cell, written the same by the load, by sync
/// and by verify.
pub fn row_key_text<'a>(key: impl IntoIterator<Item = &'a Value>) -> String {
    key_text(key.into_iter().map(canonical))
}

/// [`row_key_text`] from the key's canonical texts (what verify reads from the source).
pub fn key_text(texts: impl IntoIterator<Item = Option<String>>) -> String {
    serde_json::Value::Array(texts.into_iter().map(|t| t.map(serde_json::Value::String).unwrap_or(serde_json::Value::Null)).collect()).to_string()
}

fn format_full(d: &crate::value::DateTime) -> String {
    format!("{} {:02}:{:02}:{:02}.{:06}", d.date, d.hour, d.minute, d.second, d.micros)
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

/// The hash `verify` sums per chunk: the first 60 bits of the SHA-256 of the row's canonical text,
/// which is every column's text (nullable columns: prefixed with `v`, NULL as `n`; see
/// [`ColumnText`]) joined by U+001F, NULLs of NOT NULL columns left out as `CONCAT_WS` does. Each
/// database computes the same in SQL; this is the reference, used where ferry hashes rows itself.
pub fn row_hash<'a>(parts: impl IntoIterator<Item = (Option<&'a str>, bool)>) -> u64 {
    let mut text = RowText::default();
    for (p, nullable) in parts {
        text.push(p.map(str::as_bytes), nullable);
    }
    text.hash()
}

/// A row's canonical text built piece by piece (the rule of [`row_hash`]), in a buffer reused
/// across rows ([`RowText::clear`]): what a source that hashes in ferry streams its texts into.
#[derive(Debug, Default)]
pub struct RowText {
    text: Vec<u8>,
    pieces: usize,
}

impl RowText {
    pub fn clear(&mut self) {
        self.text.clear();
        self.pieces = 0;
    }

    /// Adds one column's canonical text (None: NULL) of a nullable or NOT NULL column.
    pub fn push(&mut self, piece: Option<&[u8]>, nullable: bool) {
        let (prefix, body): (&[u8], &[u8]) = match (piece, nullable) {
            (Some(p), true) => (b"v", p),
            (None, true) => (b"n", b""),
            (Some(p), false) => (b"", p),
            (None, false) => return,
        };
        if self.pieces > 0 {
            self.text.push(0x1f);
        }
        self.pieces += 1;
        self.text.extend_from_slice(prefix);
        self.text.extend_from_slice(body);
    }

    pub fn hash(&self) -> u64 {
        hash_text(&self.text)
    }
}

/// First 60 bits (15 hex digits) of the SHA-256 of `text`. SHA-256 rather than MD5: every
/// engine has it (PostgreSQL `sha256`, MySQL/MariaDB `SHA2`) and MariaDB computes it four times
/// faster than its `MD5`, which was half the source's cost of a verify.
pub fn hash_text(text: &[u8]) -> u64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(text);
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]) >> 4
}

/// The canonical text of a JSON document for `verify`: object members sorted by key (bytewise,
/// the last of duplicate keys kept, as `jsonb` does), no white space, every number as `d.dddE±n`
/// with its exact digits (`1`, `1.0` and `10e-1` are all `1.0E0`), strings escaped as `jsonb`
/// prints them (only `"`, `\\` and control characters; `"\u00e9"` and `"é"` are one string).
/// Both sides' document texts (MySQL's as stored, PostgreSQL's `jsonb` output) go through it.
/// Text that is not JSON is returned as is.
pub fn json_canonical(text: &str) -> String {
    let mut p = JsonScan { text, s: text.as_bytes(), i: 0 };
    let mut out = String::with_capacity(text.len());
    match p.value(&mut out) {
        Some(()) if p.rest_is_blank() => out,
        _ => text.to_string(),
    }
}

struct JsonScan<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl<'a> JsonScan<'a> {
    fn blank(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn rest_is_blank(&mut self) -> bool {
        self.blank();
        self.i == self.s.len()
    }
    fn peek(&mut self) -> Option<u8> {
        self.blank();
        self.s.get(self.i).copied()
    }
    /// A string token, verbatim with its quotes.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.i;
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return self.text.get(start..self.i);
                }
                _ => self.i += 1,
            }
        }
        None
    }
    fn value(&mut self, out: &mut String) -> Option<()> {
        match self.peek()? {
            b'{' => {
                self.i += 1;
                // Members' values go to one scratch buffer; keys stay slices of the input.
                let mut scratch = String::new();
                let mut members: Vec<(std::borrow::Cow<'a, str>, &'a str, std::ops::Range<usize>)> = Vec::new();
                if self.peek()? == b'}' {
                    self.i += 1;
                } else {
                    loop {
                        self.peek()?;
                        let key = self.string()?;
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.i += 1;
                        let start = scratch.len();
                        self.value(&mut scratch)?;
                        let inner = &key[1..key.len() - 1];
                        let decoded = if inner.contains('\\') {
                            std::borrow::Cow::Owned(serde_json::from_str::<String>(key).ok()?)
                        } else {
                            std::borrow::Cow::Borrowed(inner)
                        };
                        members.push((decoded, key, start..scratch.len()));
                        match self.peek()? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                // Sorted by the decoded key's bytes; a duplicate key keeps its last value.
                members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                members.dedup_by(|later, earlier| {
                    if later.0 == earlier.0 {
                        std::mem::swap(later, earlier);
                        true
                    } else {
                        false
                    }
                });
                out.push('{');
                for (n, (_, k, v)) in members.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    push_json_string(out, k)?;
                    out.push(':');
                    out.push_str(&scratch[v.clone()]);
                }
                out.push('}');
            }
            b'[' => {
                self.i += 1;
                out.push('[');
                if self.peek()? == b']' {
                    self.i += 1;
                } else {
                    loop {
                        self.value(out)?;
                        match self.peek()? {
                            b',' => {
                                self.i += 1;
                                out.push(',');
                            }
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                out.push(']');
            }
            b'"' => push_json_string(out, self.string()?)?,
            b't' | b'f' | b'n' => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphabetic() {
                    self.i += 1;
                }
                let word = self.text.get(start..self.i)?;
                if !matches!(word, "true" | "false" | "null") {
                    return None;
                }
                out.push_str(word);
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && matches!(self.s[self.i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    self.i += 1;
                }
                json_number(out, self.text.get(start..self.i)?)?;
            }
        }
        Some(())
    }
}

/// A string token (with its quotes) as `jsonb` prints it: escapes decoded, then only `"`, `\\`
/// and control characters escaped (`\n`-style where JSON has a short form, else `\u00xx`).
fn push_json_string(out: &mut String, token: &str) -> Option<()> {
    if !token.contains('\\') {
        out.push_str(token);
        return Some(());
    }
    let decoded: String = serde_json::from_str(token).ok()?;
    out.push('"');
    for ch in decoded.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    Some(())
}

/// A JSON number as `d.dddE±n` with exactly its significant digits (`-0.00120` → `-1.2E-3`),
/// appended to `out`.
fn json_number(out: &mut String, tok: &str) -> Option<()> {
    use std::fmt::Write;
    let (neg, body) = match tok.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, tok),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(k) => (&body[..k], body[k + 1..].trim_start_matches('+').parse::<i64>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The significant digits run over int then frac; find them without joining the two.
    let digit = |k: usize| if k < int.len() { int.as_bytes()[k] } else { frac.as_bytes()[k - int.len()] };
    let n = int.len() + frac.len();
    let Some(first) = (0..n).find(|&k| digit(k) != b'0') else {
        out.push_str("0.0E0");
        return Some(());
    };
    let last = (0..n).rev().find(|&k| digit(k) != b'0').unwrap_or(first);
    if neg {
        out.push('-');
    }
    out.push(digit(first) as char);
    out.push('.');
    if last == first {
        out.push('0');
    }
    for k in first + 1..=last {
        out.push(digit(k) as char);
    }
    write!(out, "E{}", int.len() as i64 - 1 - first as i64 + exp).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Date, DateTime};

    #[test]
    fn streamed_row_hash_is_row_hash() {
        let cols =
            [ColumnText { sql: "a".into(), nullable: false, json: false }, ColumnText { sql: "j".into(), nullable: true, json: true }, ColumnText::sql("b")];
        let s = StreamedRowHash::new(&cols, |run| run.iter().map(|c| c.sql.clone()).collect::<Vec<_>>().join("+")).unwrap();
        assert_eq!(s.select, ["a", "j", "b"]);
        let mut buf = Vec::new();
        // Runs arrive as the database joined them ("vx": nullable b = 'x').
        let h = s.hash([Some(&b"1"[..]), Some(&br#"{"b": 1, "a": "\u00e9"}"#[..]), Some(&b"vx"[..])], &mut buf);
        assert_eq!(h, row_hash([(Some("1"), false), (Some(r#"{"a":"é","b":1.0E0}"#), true), (Some("x"), true)]));
        let h = s.hash([Some(&b"1"[..]), None, Some(&b"vx"[..])], &mut buf);
        assert_eq!(h, row_hash([(Some("1"), false), (None, true), (Some("x"), true)]));
        assert!(StreamedRowHash::new(&cols[..1], |_| String::new()).is_none(), "no JSON: the database hashes");
    }

    #[test]
    fn json_canonical_sorts_keys_and_unifies_numbers_and_escapes() {
        // Keys sorted bytewise, numbers as d.dddE±n (MariaDB's JSON_NORMALIZE form); strings as jsonb prints them.
        assert_eq!(json_canonical(r#"{"sku": "SKU-1", "qty": 2, "gift": false}"#), r#"{"gift":false,"qty":2.0E0,"sku":"SKU-1"}"#);
        assert_eq!(
            json_canonical(r#"{"b": [1, 1.50, -0.00120, 1e3, 0], "a": {"z": null, "y": "x\"y"}}"#),
            r#"{"a":{"y":"x\"y","z":null},"b":[1.0E0,1.5E0,-1.2E-3,1.0E3,0.0E0]}"#
        );
        assert_eq!(json_canonical(r#"{"aa": 1, "b": 2}"#), r#"{"aa":1.0E0,"b":2.0E0}"#, "bytewise, not jsonb's length-first order");
        assert_eq!(json_canonical(r#"{"a": 1, "a": 2}"#), r#"{"a":2.0E0}"#, "a duplicate key keeps its last value");
        assert_eq!(json_canonical(r#"{"\u0062": 1, "a": 2, "c": 3}"#), r#"{"a":2.0E0,"b":1.0E0,"c":3.0E0}"#, "escaped keys sort and print decoded");
        assert_eq!(json_canonical(r#"["\u00e9\/\u0001\n", "é/"]"#), r#"["é/\u0001\n","é/"]"#, "escapes as jsonb prints them");
        assert_eq!(json_canonical(r#"{"k": "\"q\" \\"}"#), r#"{"k":"\"q\" \\"}"#);
        assert_eq!(json_canonical("[]"), "[]");
        assert_eq!(json_canonical("{}"), "{}");
        assert_eq!(json_canonical("123.4500"), "1.2345E2");
        assert_eq!(json_canonical("not json"), "not json");
        assert_eq!(json_canonical("[1,"), "[1,");
    }

    #[test]
    fn row_hash_matches_sql() {
        // SELECT CONV(SUBSTR(SHA2(CONCAT_WS(CHAR(31), 'v1', 'n', 'vx'), 256), 1, 15), 16, 10)
        assert_eq!(row_hash([(Some("1"), true), (None, true), (Some("x"), true)]), 160462759973508131);
        // CONCAT_WS leaves NULLs out: the same as CONCAT_WS(CHAR(31), '1', 'vx')
        assert_eq!(row_hash([(Some("1"), false), (None, false), (Some("x"), true)]), hash_text(b"1\x1fvx"));
        // sha256("") = e3b0c44298fc1c149afb…
        assert_eq!(hash_text(b""), 0xe3b0c44298fc1c1);
    }

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Canon {
    /// Plain decimal integer text.
    Integer,
    /// `t`/`f` (a 0/1 integer on one side, a boolean on the other).
    Bool,
    /// Decimal text: with exactly `scale` fractional digits where both sides hold that scale
    /// (the plain text each prints), else without trailing fractional zeros.
    Decimal { scale: Option<u32> },
    /// Text as stored (CHAR without trailing pad).
    Text,
    /// Lower-case hex.
    Bytes,
    /// `YYYY-MM-DD`; `zero`: what a zero date on the source counts as (the zero-date rule).
    Date { zero: ZeroAs },
    /// `YYYY-MM-DD HH:MM:SS` plus the fraction without trailing zeros (`.5`, none for a whole
    /// second), instants in UTC: what PostgreSQL's `timestamp` text output prints, which is ~3×
    /// cheaper than `to_char`. `digits`: the source column's fractional precision.
    DateTime { zero: ZeroAs, digits: u8 },
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
    /// JSON: each side's SQL gives the document's text and ferry canonicalises it
    /// ([`json_canonical`]); no engine prints JSON canonically at a price worth paying.
    Json,
}

/// What a source's zero or partial date (`0000-00-00`) is compared as: the value the zero-date
/// rule writes for it on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ZeroAs {
    /// As read (the load refuses it, so a target never holds one).
    Kept,
    /// `zero_dates = "null"`.
    Null,
    /// `zero_dates = "-infinity"`.
    NegInfinity,
}

/// One column's canonical text in a database's SQL, and whether it can be NULL. Row texts
/// prefix nullable columns' texts with `v` (NULL: `n`); NOT NULL columns go in as they are, which
/// spares the source an expression per column (a NULL there still changes the row text).
#[derive(Debug, Clone)]
pub struct ColumnText {
    pub sql: String,
    pub nullable: bool,
    /// The SQL gives a JSON document's text, which ferry canonicalises ([`json_canonical`]).
    pub json: bool,
}

impl ColumnText {
    /// A nullable SQL-canonical column.
    pub fn sql(sql: impl Into<String>) -> Self {
        ColumnText { sql: sql.into(), nullable: true, json: false }
    }
}

/// One selected item of a row-hashing query that ferry finishes itself (tables with JSON
/// columns): a run of SQL-canonical columns already joined by the database's row text, or one
/// JSON document.
#[derive(Debug, Clone, Copy)]
enum HashItem {
    Joined,
    Json { nullable: bool },
}

/// Row hashing for a table with JSON columns. Each database selects, per row, the runs of
/// SQL-canonical columns joined (by its own row-text SQL) and each JSON document's text; ferry
/// canonicalises the documents and hashes the assembled row text with [`hash_text`], so the hash
/// is exactly the one [`row_hash`] defines, on both sides.
#[derive(Debug, Clone)]
pub struct StreamedRowHash {
    /// The SQL expressions to select, in order.
    pub select: Vec<String>,
    items: Vec<HashItem>,
}

impl StreamedRowHash {
    /// `None` when no column is JSON (the database hashes rows itself). `joined` renders one run
    /// of columns as the database's row text.
    pub fn new(exprs: &[ColumnText], joined: impl Fn(&[ColumnText]) -> String) -> Option<Self> {
        if !exprs.iter().any(|e| e.json) {
            return None;
        }
        let (mut select, mut items, mut run) = (Vec::new(), Vec::new(), Vec::new());
        for e in exprs {
            if e.json {
                if !run.is_empty() {
                    select.push(joined(&run));
                    items.push(HashItem::Joined);
                    run.clear();
                }
                select.push(e.sql.clone());
                items.push(HashItem::Json { nullable: e.nullable });
            } else {
                run.push(e.clone());
            }
        }
        if !run.is_empty() {
            select.push(joined(&run));
            items.push(HashItem::Joined);
        }
        Some(StreamedRowHash { select, items })
    }

    /// The hash of one row, from the values of [`Self::select`] in order (None = NULL; bytes as
    /// the database sent them). `buf` is scratch space reused between rows.
    pub fn hash<'a>(&self, values: impl IntoIterator<Item = Option<&'a [u8]>>, buf: &mut Vec<u8>) -> u64 {
        buf.clear();
        let mut first = true;
        for (item, v) in self.items.iter().zip(values) {
            // As concat_ws: pieces joined by U+001F, a NULL piece (NOT NULL column) left out.
            let (prefix, body): (&[u8], std::borrow::Cow<[u8]>) = match (item, v) {
                (HashItem::Joined, Some(t)) => (b"", t.into()),
                (HashItem::Json { nullable }, Some(doc)) => {
                    let canonical = match std::str::from_utf8(doc) {
                        Ok(text) => json_canonical(text).into_bytes().into(),
                        Err(_) => doc.into(),
                    };
                    (if *nullable { b"v" } else { b"" }, canonical)
                }
                (HashItem::Json { nullable: true }, None) => (b"n", (&b""[..]).into()),
                (_, None) => continue,
            };
            if !first {
                buf.push(0x1f);
            }
            first = false;
            buf.extend_from_slice(prefix);
            buf.extend_from_slice(&body);
        }
        hash_text(buf)
    }
}

/// The (min, max) integer pair of a one-row `canonical_rows` answer (`key_bounds`).
pub fn parse_bounds(rows: &[Vec<Option<String>>]) -> (Option<i128>, Option<i128>) {
    let parse = |v: Option<&Option<String>>| v.and_then(|s| s.as_deref()).and_then(|s| s.trim().parse::<i128>().ok());
    rows.first().map(|r| (parse(r.first()), parse(r.get(1)))).unwrap_or((None, None))
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
                Canon::Json => json_canonical(a) == json_canonical(b),
                Canon::Decimal { .. } => normalize_decimal(a) == normalize_decimal(b),
                _ => a == b,
            },
            _ => false,
        }
    }
}
