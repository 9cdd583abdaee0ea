//! Value conversion, the last step every row takes before it is written: the same
//! [`RowConverter`] serves the full load and (later) CDC apply, so a value lands identically
//! whichever path carries it. A value the target cannot represent is either converted by an
//! explicit rule the user chose (zero dates → NULL) and counted, or refused with a message naming
//! the column; it is never altered silently.

use crate::config::ZeroDatePolicy;
use ferry_model::{Row, Value};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    /// Written as read.
    Identity,
    /// 0/1 integers to boolean; any other value is an error.
    IntToBool,
    /// Dates, date-times and instants: zero or partial dates follow the policy.
    Temporal { policy: ZeroDatePolicy, nullable: bool },
    /// Comma-separated SET text to a text array.
    SetToArray,
    /// ENUM value checked against the declared list (MySQL's '' error value is refused).
    Enum { values: Vec<String> },
    /// A geometry (EWKB bytes, the model's form) as hex text for PostGIS; a bytea column takes
    /// the EWKB bytes as they are (PostGIS reads them later).
    GeometryEwkb,
    /// Unsigned 64-bit into a signed bigint (AUTO_INCREMENT keys): above 2^63-1 is an error.
    UnsignedToBigint,
    /// A JSON document into jsonb: a NUL (`\u0000`, which jsonb cannot hold) is refused naming
    /// the column type that can; a key given twice in one object follows the rule.
    Jsonb { duplicates: crate::config::JsonDuplicates },
    /// Bytes of a binary column into text (`rules.utf8_binary = "text"`): UTF-8 without NUL, or an
    /// error naming the key.
    BytesToText,
    /// A date or date-time written as the source prints it (a text type override): zero dates
    /// pass as `0000-00-00 00:00:00`; `fsp` fractional digits, as MySQL prints them.
    TemporalText { fsp: u8 },
}

/// What conversions did to a table's rows: reported per table.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ConversionStats {
    /// Zero or partial dates written as NULL under `zero_dates = "null"`.
    pub zero_dates_nulled: u64,
    /// Zero or partial dates written as `-infinity` under `zero_dates = "-infinity"`.
    pub zero_dates_infinity: u64,
    /// JSON documents with a duplicate key, kept with the last value (`json_duplicate_keys = "last"`).
    pub json_duplicate_keys: u64,
    /// Cells the source set aside by the column's rule (`Value::Quarantined`): NULL or a
    /// replacement on the target, the raw cell for `ferry.quarantine`. The writer takes them
    /// into the same transaction as the rows; the report counts them.
    #[serde(skip)]
    pub quarantined: Vec<QuarantinedCell>,
}

/// One set-aside cell of a converted row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedCell {
    /// Index of the target column (in the converter's output row).
    pub column: usize,
    /// The row's key (`ferry_model::canonical::row_key_text`), or `row #n` for a table without one.
    pub key: String,
    /// What the target column got, as text (None: NULL).
    pub written: Option<String>,
    pub class: String,
    pub raw: String,
    pub reason: String,
}

impl Conversion {
    pub fn apply(&self, v: Value, stats: &mut ConversionStats) -> Result<Value, String> {
        if v.is_null() {
            return Ok(v);
        }
        match self {
            Conversion::Identity => Ok(v),
            Conversion::IntToBool => match v {
                Value::Int(0) | Value::UInt(0) => Ok(Value::Bool(false)),
                Value::Int(1) | Value::UInt(1) => Ok(Value::Bool(true)),
                Value::Bool(b) => Ok(Value::Bool(b)),
                other => {
                    Err(format!("value {other} is not 0 or 1, so it cannot become boolean; set rules.tinyint1 = \"smallint\" or override the column type"))
                }
            },
            Conversion::Temporal { policy, nullable } => {
                let date = match &v {
                    Value::Date(d) => *d,
                    Value::DateTime(d) | Value::Timestamp(d) => d.date,
                    _ => return Ok(v),
                };
                if date.is_valid() {
                    return Ok(v);
                }
                let what = if date.is_zero_or_partial() { "zero or partial date" } else { "invalid date" };
                match (policy, nullable) {
                    (ZeroDatePolicy::Null, true) => {
                        stats.zero_dates_nulled += 1;
                        Ok(Value::Null)
                    }
                    (ZeroDatePolicy::NegInfinity, _) => {
                        stats.zero_dates_infinity += 1;
                        Ok(Value::Text("-infinity".into()))
                    }
                    (ZeroDatePolicy::Null, false) => Err(format!(
                        "{what} {v} in a NOT NULL column the plan found no zero dates in (it arrived later); set zero_dates = \"-infinity\" for the column (keeps NOT NULL), or make the target column nullable and reload the table"
                    )),
                    (ZeroDatePolicy::Error, _) => Err(format!(
                        "{what} {v} has no PostgreSQL equivalent; set rules.zero_dates (or the column's zero_dates) to \"-infinity\" (keeps NOT NULL) or \"null\" (counted either way), override the column type to text, or fix the data"
                    )),
                }
            }
            Conversion::SetToArray => match v {
                Value::Text(s) if s.is_empty() => Ok(Value::Array(vec![])),
                Value::Text(s) => Ok(Value::Array(s.split(',').map(|x| Value::Text(x.to_string())).collect())),
                other => Err(format!("unexpected {} value for a SET", other.kind())),
            },
            Conversion::Enum { values } => match &v {
                Value::Text(s) if values.iter().any(|x| x == s) => Ok(v),
                other => Err(format!(
                    "value {other} is not one of the ENUM's values (MySQL stores '' for invalid input); override the column type to text or fix the data"
                )),
            },
            Conversion::GeometryEwkb => match v {
                Value::Bytes(b) => Ok(Value::Text(b.iter().map(|x| format!("{x:02x}")).collect())),
                other => Err(format!("unexpected {} value for a geometry", other.kind())),
            },
            Conversion::Jsonb { duplicates } => {
                let text = match &v {
                    Value::Json(t) | Value::Text(t) => t.as_str(),
                    _ => return Ok(v),
                };
                let found = json_oddities(text);
                if found.nul {
                    return Err("the JSON document holds a NUL character (\\u0000), which jsonb cannot store; override the column type to json (keeps the text as written) or text".into());
                }
                if let Some(key) = found.duplicate {
                    match duplicates {
                        crate::config::JsonDuplicates::Error => {
                            return Err(format!(
                                "the JSON document has the key {key:?} twice in one object: MySQL reads the first value, jsonb keeps the last; set rules.json_duplicate_keys = \"last\" (counted) or override the column type to json (keeps the text as written)"
                            ))
                        }
                        crate::config::JsonDuplicates::Last => stats.json_duplicate_keys += 1,
                    }
                }
                Ok(v)
            }
            Conversion::BytesToText => match v {
                Value::Bytes(b) => match String::from_utf8(b) {
                    Ok(s) if !s.contains('\0') => Ok(Value::Text(s)),
                    Ok(_) => {
                        Err("the bytes hold a NUL, which text cannot: this column cannot be text (rules.utf8_binary = \"bytea\" or a type override to bytea)"
                            .into())
                    }
                    Err(e) => Err(format!(
                        "the bytes are not UTF-8 (at byte {}): this column cannot be text (rules.utf8_binary = \"bytea\" or a type override to bytea)",
                        e.utf8_error().valid_up_to()
                    )),
                },
                other => Ok(other),
            },
            Conversion::TemporalText { fsp } => Ok(match &v {
                Value::Date(d) => Value::Text(d.to_string()),
                Value::DateTime(d) | Value::Timestamp(d) => {
                    let mut s = format!("{} {:02}:{:02}:{:02}", d.date, d.hour, d.minute, d.second);
                    if *fsp > 0 {
                        let digits = format!("{:06}", d.micros);
                        s.push('.');
                        s.push_str(&digits[..(*fsp as usize).min(6)]);
                    }
                    Value::Text(s)
                }
                _ => v,
            }),
            Conversion::UnsignedToBigint => match v {
                Value::UInt(u) if u > i64::MAX as u64 => Err(format!("value {u} exceeds bigint; override the column type to numeric(20,0)")),
                Value::UInt(u) => Ok(Value::Int(u as i64)),
                other => Ok(other),
            },
        }
    }
}

/// What jsonb would change in a document: a NUL anywhere in a string, or the first key given
/// twice in one object.
#[derive(Debug, Default)]
pub struct JsonOddities {
    pub nul: bool,
    pub duplicate: Option<String>,
}

/// Scans `text` with serde_json (a document that does not parse is left to PostgreSQL, which
/// names it).
pub fn json_oddities(text: &str) -> JsonOddities {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Scan<'a>(&'a mut JsonOddities);
    impl<'de> DeserializeSeed<'de> for Scan<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Scan<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            // Keys borrowed from the document where it has no escapes (no allocation), compared
            // linearly: objects are small, and this runs for every JSON value of a load.
            let mut keys: Vec<std::borrow::Cow<'de, str>> = Vec::new();
            while let Some(k) = map.next_key_seed(Key)? {
                self.0.nul |= k.contains('\0');
                if keys.contains(&k) {
                    if self.0.duplicate.is_none() {
                        self.0.duplicate = Some(k.into_owned());
                    }
                } else {
                    keys.push(k);
                }
                map.next_value_seed(Scan(&mut *self.0))?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Scan(&mut *self.0))?.is_some() {}
            Ok(())
        }
        fn visit_str<E>(self, s: &str) -> Result<(), E> {
            self.0.nul |= s.contains('\0');
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    /// An object key, borrowed when the document allows it.
    struct Key;
    impl<'de> DeserializeSeed<'de> for Key {
        type Value = std::borrow::Cow<'de, str>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl<'de> Visitor<'de> for Key {
        type Value = std::borrow::Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a key")
        }
        fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
            Ok(std::borrow::Cow::Borrowed(s))
        }
        fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
            Ok(std::borrow::Cow::Owned(s.to_string()))
        }
    }
    let mut found = JsonOddities::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let _ = Scan(&mut found).deserialize(&mut de);
    found
}

/// One target column's recipe: which source column feeds it and how.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnConversion {
    pub source_index: usize,
    pub conversion: Conversion,
}

/// A column of the row's key, for naming rows in messages.
#[derive(Debug, Clone, Serialize)]
pub struct KeyColumn {
    pub name: String,
    pub source_index: usize,
}

/// Turns a source row into a target row.
#[derive(Debug, Clone, Serialize)]
pub struct RowConverter {
    pub columns: Vec<ColumnConversion>,
    /// The source key (primary key, else a NOT NULL unique key); empty when the table has none.
    pub key: Vec<KeyColumn>,
    /// The source may set cells aside (`Value::Quarantined`, a column with a quarantine or
    /// replace rule): rows are searched for them.
    #[serde(default)]
    pub quarantine: bool,
}

/// A row the converter refused: which target column, why, and which row.
#[derive(Debug, Clone)]
pub struct RowError {
    pub column: usize,
    pub message: String,
    /// `key (id)=(7)` or `row #12`.
    pub key: String,
}

impl RowConverter {
    fn describe(&self, vals: &[Value], ordinal: u64) -> String {
        if self.key.is_empty() {
            return format!("row #{ordinal} (the table has no key)");
        }
        let names: Vec<&str> = self.key.iter().map(|k| k.name.as_str()).collect();
        let vals: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
        format!("key ({})=({})", names.join(", "), vals.join(", "))
    }

    /// Names an already converted (target-order) row by its key, for errors after conversion.
    pub fn describe_target_row(&self, row: &[Value], ordinal: u64) -> String {
        let vals: Vec<Value> = self
            .key
            .iter()
            .map(|k| self.columns.iter().position(|c| c.source_index == k.source_index).and_then(|i| row.get(i).cloned()).unwrap_or(Value::Null))
            .collect();
        self.describe(&vals, ordinal)
    }

    /// Converts one row; `ordinal` (1-based position in the read) names key-less rows. Cells
    /// the source set aside are unwrapped to what the target gets and listed in
    /// `stats.quarantined` (only once the whole row converted).
    pub fn convert(&self, mut row: Row, ordinal: u64, stats: &mut ConversionStats) -> Result<Row, RowError> {
        if !self.quarantine {
            return self.convert_cells(row, ordinal, stats);
        }
        let mut set_aside = Vec::new();
        for (i, v) in row.iter_mut().enumerate() {
            if let Value::Quarantined(_) = v {
                let Value::Quarantined(q) = std::mem::replace(v, Value::Null) else { unreachable!() };
                let q = *q;
                *v = q.value;
                let written = ferry_model::canonical::canonical(v);
                set_aside.push((i, QuarantinedCell { column: 0, key: String::new(), written, class: q.class, raw: q.raw, reason: q.reason }));
            }
        }
        let out = self.convert_cells(row, ordinal, stats)?;
        if !set_aside.is_empty() {
            let key = if self.key.is_empty() {
                format!("row #{ordinal}")
            } else {
                let at = |k: &KeyColumn| self.columns.iter().position(|c| c.source_index == k.source_index).and_then(|i| out.get(i));
                ferry_model::canonical::row_key_text(self.key.iter().map(|k| at(k).unwrap_or(&Value::Null)))
            };
            for (source_index, mut cell) in set_aside {
                // A set-aside cell of a column the target does not have is not written anywhere.
                if let Some(column) = self.columns.iter().position(|c| c.source_index == source_index) {
                    cell.column = column;
                    cell.key = key.clone();
                    stats.quarantined.push(cell);
                }
            }
        }
        Ok(out)
    }

    fn convert_cells(&self, mut row: Row, ordinal: u64, stats: &mut ConversionStats) -> Result<Row, RowError> {
        // Target columns in source order (the usual case): convert in place, no new row.
        if row.len() == self.columns.len() && self.columns.iter().enumerate().all(|(i, c)| c.source_index == i) {
            for (i, c) in self.columns.iter().enumerate() {
                if matches!(c.conversion, Conversion::Identity) {
                    continue;
                }
                let v = std::mem::replace(&mut row[i], Value::Null);
                let keep = self.key.iter().any(|k| k.source_index == i).then(|| v.clone());
                match c.conversion.apply(v, stats) {
                    Ok(v) => row[i] = v,
                    Err(message) => {
                        if let Some(k) = keep {
                            row[i] = k;
                        }
                        let vals: Vec<Value> = self.key.iter().map(|k| row[k.source_index].clone()).collect();
                        return Err(RowError { column: i, message, key: self.describe(&vals, ordinal) });
                    }
                }
            }
            return Ok(row);
        }
        let mut out = Vec::with_capacity(self.columns.len());
        for (i, c) in self.columns.iter().enumerate() {
            let v = std::mem::replace(&mut row[c.source_index], Value::Null);
            // Keep a copy of key values only while they may still be needed for a message.
            let keep = self.key.iter().any(|k| k.source_index == c.source_index).then(|| v.clone());
            match c.conversion.apply(v, stats) {
                Ok(v) => out.push(v),
                Err(message) => {
                    if let Some(k) = keep {
                        row[c.source_index] = k;
                    }
                    // Restore already converted key values from their originals where converted.
                    for (j, done) in self.columns.iter().enumerate().take(i) {
                        if self.key.iter().any(|k| k.source_index == done.source_index) {
                            row[done.source_index] = out[j].clone();
                        }
                    }
                    let vals: Vec<Value> = self.key.iter().map(|k| row[k.source_index].clone()).collect();
                    return Err(RowError { column: i, message, key: self.describe(&vals, ordinal) });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::{Date, DateTime};

    #[test]
    fn zero_dates_follow_policy() {
        let zero = Value::DateTime(DateTime { date: Date { year: 0, month: 0, day: 0 }, hour: 0, minute: 0, second: 0, micros: 0 });
        let mut st = ConversionStats::default();
        let err = Conversion::Temporal { policy: ZeroDatePolicy::Error, nullable: true }.apply(zero.clone(), &mut st);
        assert!(err.unwrap_err().contains("zero_dates"));
        let ok = Conversion::Temporal { policy: ZeroDatePolicy::Null, nullable: true }.apply(zero.clone(), &mut st).unwrap();
        assert_eq!(ok, Value::Null);
        assert_eq!(st.zero_dates_nulled, 1);
        assert!(Conversion::Temporal { policy: ZeroDatePolicy::Null, nullable: false }.apply(zero.clone(), &mut st).is_err());
        let inf = Conversion::Temporal { policy: ZeroDatePolicy::NegInfinity, nullable: false }.apply(zero.clone(), &mut st).unwrap();
        assert_eq!(inf, Value::Text("-infinity".into()));
        assert_eq!(st.zero_dates_infinity, 1);
        assert_eq!(Conversion::TemporalText { fsp: 0 }.apply(zero.clone(), &mut st).unwrap(), Value::Text("0000-00-00 00:00:00".into()));
        assert_eq!(Conversion::TemporalText { fsp: 3 }.apply(zero, &mut st).unwrap(), Value::Text("0000-00-00 00:00:00.000".into()));
        let feb30 = Value::Date(Date { year: 2021, month: 2, day: 30 });
        assert!(Conversion::Temporal { policy: ZeroDatePolicy::Error, nullable: true }.apply(feb30, &mut st).is_err());
    }

    #[test]
    fn json_nul_and_duplicate_keys_are_found() {
        assert_eq!(json_oddities(r#"{"a":1,"b":{"a":2}}"#).duplicate, None);
        assert_eq!(json_oddities(r#"{"a":1,"b":[{"c":1,"c":2}]}"#).duplicate.as_deref(), Some("c"));
        assert!(json_oddities(r#"["x\u0000y"]"#).nul);
        assert!(!json_oddities(r#"["x\\u0000y"]"#).nul, "an escaped backslash is no NUL");
        let mut st = ConversionStats::default();
        let dup = Value::Json(r#"{"a":1,"a":2}"#.into());
        assert!(Conversion::Jsonb { duplicates: crate::config::JsonDuplicates::Error }.apply(dup.clone(), &mut st).unwrap_err().contains("\"a\" twice"));
        assert!(Conversion::Jsonb { duplicates: crate::config::JsonDuplicates::Last }.apply(dup, &mut st).is_ok());
        assert_eq!(st.json_duplicate_keys, 1);
    }

    #[test]
    fn sets_and_bools() {
        let mut st = ConversionStats::default();
        assert_eq!(
            Conversion::SetToArray.apply(Value::Text("a,b".into()), &mut st).unwrap(),
            Value::Array(vec![Value::Text("a".into()), Value::Text("b".into())])
        );
        assert_eq!(Conversion::SetToArray.apply(Value::Text("".into()), &mut st).unwrap(), Value::Array(vec![]));
        assert_eq!(Conversion::IntToBool.apply(Value::Int(1), &mut st).unwrap(), Value::Bool(true));
        assert!(Conversion::IntToBool.apply(Value::Int(2), &mut st).is_err());
    }

    #[test]
    fn set_aside_cells_are_unwrapped_listed_with_their_key_and_dropped_columns_skipped() {
        let conv = RowConverter {
            // Target: id, s (source column 1, `n`, is not on the target).
            columns: vec![
                ColumnConversion { source_index: 0, conversion: Conversion::Identity },
                ColumnConversion { source_index: 2, conversion: Conversion::Identity },
            ],
            key: vec![KeyColumn { name: "id".into(), source_index: 0 }],
            quarantine: true,
        };
        let aside = |value: Value, raw: &str| {
            Value::Quarantined(Box::new(ferry_model::Quarantined { value, class: "text".into(), raw: raw.into(), reason: "odd".into() }))
        };
        let mut st = ConversionStats::default();
        let row = conv.convert(vec![Value::Int(2), aside(Value::Null, "toto"), aside(Value::Text("\u{FFFD}A".into()), "X'FF41'")], 1, &mut st).unwrap();
        assert_eq!(row, vec![Value::Int(2), Value::Text("\u{FFFD}A".into())]);
        assert_eq!(st.quarantined.len(), 1, "the dropped column's cell is written nowhere");
        let q = &st.quarantined[0];
        assert_eq!((q.column, q.key.as_str(), q.written.as_deref(), q.raw.as_str()), (1, "[\"2\"]", Some("\u{FFFD}A"), "X'FF41'"));
        // A row that fails to convert lists nothing.
        let bad = RowConverter { columns: vec![ColumnConversion { source_index: 0, conversion: Conversion::IntToBool }], ..conv.clone() };
        let mut st = ConversionStats::default();
        assert!(bad.convert(vec![Value::Int(5), aside(Value::Null, "x")], 1, &mut st).is_err());
        assert!(st.quarantined.is_empty());
    }
}
