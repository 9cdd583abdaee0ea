//! Reading MySQL column types into neutral [`DataType`]s, and MySQL default expressions into
//! neutral [`DefaultValue`]s.

use crate::dialect::Dialect;
use ferry_model::{DataType, DefaultValue};

/// The `information_schema.COLUMNS` fields a type depends on.
pub struct ColumnTypeInfo<'a> {
    pub data_type: &'a str,
    pub column_type: &'a str,
    pub char_max_len: Option<u64>,
    pub octet_len: Option<u64>,
    pub precision: Option<u64>,
    pub scale: Option<u64>,
    pub datetime_precision: Option<u64>,
}

/// Parses `enum('a','b''c')` / `set(...)` value lists.
pub fn parse_value_list(column_type: &str) -> Vec<String> {
    let Some(open) = column_type.find('(') else { return vec![] };
    let body = &column_type[open + 1..column_type.rfind(')').unwrap_or(column_type.len())];
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut v = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    v.push('\'');
                }
                '\'' => break,
                '\\' => {
                    if let Some(n) = chars.next() {
                        v.push(n)
                    }
                }
                c => v.push(c),
            }
        }
        out.push(v);
    }
    out
}

fn display_width(column_type: &str) -> Option<u32> {
    let open = column_type.find('(')?;
    let close = column_type[open..].find(')')? + open;
    column_type[open + 1..close].trim().parse().ok()
}

pub fn data_type(info: &ColumnTypeInfo<'_>) -> DataType {
    let dt = info.data_type.to_ascii_lowercase();
    let ct = info.column_type.to_ascii_lowercase();
    let unsigned = ct.contains("unsigned");
    let fsp = info.datetime_precision.unwrap_or(0).min(6) as u8;
    let len = info.char_max_len.unwrap_or(0).min(u32::MAX as u64) as u32;
    let int = |bytes| DataType::Int { bytes, unsigned, display_width: display_width(&ct) };
    match dt.as_str() {
        "tinyint" => int(1),
        "smallint" => int(2),
        "mediumint" => int(3),
        "int" | "integer" => int(4),
        "bigint" => int(8),
        "bool" | "boolean" => DataType::Bool,
        "decimal" | "numeric" | "fixed" => {
            DataType::Decimal { precision: info.precision.unwrap_or(10) as u32, scale: info.scale.unwrap_or(0) as u32, unsigned }
        }
        "float" => DataType::Float { unsigned },
        "double" | "real" | "double precision" => DataType::Double { unsigned },
        "char" => DataType::Char { len },
        "varchar" => DataType::Varchar { len },
        "tinytext" | "text" | "mediumtext" | "longtext" => DataType::Text { max_bytes: info.octet_len.unwrap_or(u32::MAX as u64) },
        "binary" => DataType::Binary { len },
        "varbinary" => DataType::Varbinary { len },
        "tinyblob" | "blob" | "mediumblob" | "longblob" => DataType::Blob { max_bytes: info.octet_len.or(info.char_max_len).unwrap_or(u32::MAX as u64) },
        "date" => DataType::Date,
        "time" => DataType::Time { fsp },
        "datetime" => DataType::DateTime { fsp },
        "timestamp" => DataType::Timestamp { fsp },
        "year" => DataType::Year,
        "json" => DataType::Json,
        "enum" => DataType::Enum { values: parse_value_list(info.column_type) },
        "set" => DataType::Set { values: parse_value_list(info.column_type) },
        "bit" => DataType::Bit { len: info.precision.unwrap_or(1) as u32 },
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon" | "geometrycollection" | "geomcollection" => {
            DataType::Geometry { kind: dt.clone(), srid: None }
        }
        "uuid" => DataType::Uuid,
        _ => DataType::Unsupported { name: info.column_type.to_string() },
    }
}

/// A MySQL collation compares case-insensitively (`utf8mb4_general_ci`, `latin1_swedish_ci`;
/// `_bin`, `_cs` and `_as_cs` do not).
pub fn case_insensitive(collation: Option<&str>) -> bool {
    collation.is_some_and(|c| c.to_ascii_lowercase().ends_with("_ci"))
}

/// A MySQL zero or partial date literal (`0000-00-00`, `2020-00-10 00:00:00`).
fn is_zero_date_literal(v: &str) -> bool {
    let date = v.trim().split([' ', 'T']).next().unwrap_or("");
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3 && parts.iter().any(|p| !p.is_empty() && p.chars().all(|c| c == '0'))
}

/// MySQL's spellings of a default, in neutral terms: `uuid()` and `curdate()` by meaning, a zero
/// date of a temporal column as such, a bit literal `b'101'` as its number.
pub fn neutral_default(d: DefaultValue, data_type: &DataType) -> DefaultValue {
    match d {
        DefaultValue::Expression(e) => match e.trim().to_ascii_lowercase().as_str() {
            "uuid()" => DefaultValue::NewUuid,
            "curdate()" | "current_date()" | "current_date" => DefaultValue::CurrentDate,
            _ => DefaultValue::Expression(e),
        },
        DefaultValue::Literal(v) if data_type.is_temporal() && is_zero_date_literal(&v) => DefaultValue::ZeroDate(v),
        DefaultValue::Literal(v) if matches!(data_type, DataType::Bit { .. }) => {
            let raw = v.trim();
            let bits = raw.strip_prefix("b'").or_else(|| raw.strip_prefix("B'")).and_then(|r| r.strip_suffix('\''));
            match bits.map(|b| u64::from_str_radix(b, 2)) {
                Some(Ok(n)) => DefaultValue::Literal(n.to_string()),
                _ => DefaultValue::Literal(v),
            }
        }
        other => other,
    }
}

/// A MySQL expression with its backquoted identifiers as standard double-quoted ones (the
/// model's form), string literals untouched.
pub fn standard_quoting(expr: &str) -> String {
    use ferry_model::sqltext::{rewrite_identifiers, standard_identifier, Quoting};
    rewrite_identifiers(expr, Quoting { identifier: '`', backslash_escapes: true }, &standard_identifier)
}

/// Reads `COLUMN_DEFAULT` (+ `EXTRA`) into a neutral default.
pub fn default_value(dialect: &Dialect, raw: Option<&str>, extra: &str, data_type: &DataType) -> Option<DefaultValue> {
    raw_default(dialect, raw?, extra, data_type).map(|d| neutral_default(d, data_type))
}

fn raw_default(dialect: &Dialect, raw: &str, extra: &str, data_type: &DataType) -> Option<DefaultValue> {
    let extra = extra.to_ascii_lowercase();
    let is_now = |s: &str| {
        let l = s.trim().to_ascii_lowercase();
        l.starts_with("current_timestamp") || l.starts_with("now(") || l == "localtimestamp" || l.starts_with("localtimestamp(")
    };
    if dialect.quoted_defaults() {
        if raw.eq_ignore_ascii_case("NULL") {
            return Some(DefaultValue::Null);
        }
        if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
            return Some(DefaultValue::Literal(unquote(&raw[1..raw.len() - 1])));
        }
        if is_now(raw) {
            return Some(DefaultValue::CurrentTimestamp);
        }
        // Bare numbers are literals; anything else is an expression.
        if raw.parse::<f64>().is_ok() || raw.starts_with("b'") {
            return Some(DefaultValue::Literal(raw.to_string()));
        }
        return Some(DefaultValue::Expression(raw.to_string()));
    }
    // MySQL: literals bare, expressions flagged DEFAULT_GENERATED.
    if is_now(raw) && (data_type.is_temporal() || extra.contains("default_generated")) {
        return Some(DefaultValue::CurrentTimestamp);
    }
    if extra.contains("default_generated") {
        return Some(DefaultValue::Expression(raw.to_string()));
    }
    Some(DefaultValue::Literal(raw.to_string()))
}

fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some(o) => out.push(o),
                None => {}
            },
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info<'a>(dt: &'a str, ct: &'a str) -> ColumnTypeInfo<'a> {
        ColumnTypeInfo { data_type: dt, column_type: ct, char_max_len: None, octet_len: None, precision: None, scale: None, datetime_precision: None }
    }

    #[test]
    fn enum_values_with_quotes() {
        assert_eq!(parse_value_list("enum('a','b''c','d,e')"), vec!["a", "b'c", "d,e"]);
        assert_eq!(parse_value_list("set('x')"), vec!["x"]);
    }

    #[test]
    fn ints_keep_width_and_sign() {
        assert_eq!(data_type(&info("tinyint", "tinyint(1)")), DataType::Int { bytes: 1, unsigned: false, display_width: Some(1) });
        assert_eq!(data_type(&info("bigint", "bigint(20) unsigned")), DataType::Int { bytes: 8, unsigned: true, display_width: Some(20) });
        assert!(matches!(data_type(&info("inet6", "inet6")), DataType::Unsupported { .. }));
    }

    #[test]
    fn mariadb_defaults() {
        let d = Dialect::from_version("10.11.6-MariaDB");
        let t = DataType::Varchar { len: 5 };
        assert_eq!(default_value(&d, Some("'it''s'"), "", &t), Some(DefaultValue::Literal("it's".into())));
        assert_eq!(default_value(&d, Some("NULL"), "", &t), Some(DefaultValue::Null));
        assert_eq!(
            default_value(&d, Some("current_timestamp()"), "on update current_timestamp()", &DataType::Timestamp { fsp: 0 }),
            Some(DefaultValue::CurrentTimestamp)
        );
        assert_eq!(default_value(&d, Some("0"), "", &t), Some(DefaultValue::Literal("0".into())));
        assert_eq!(default_value(&d, Some("uuid()"), "", &t), Some(DefaultValue::NewUuid));
        assert_eq!(default_value(&d, None, "", &t), None);
    }

    #[test]
    fn mysql_defaults() {
        let d = Dialect::from_version("8.0.36");
        let t = DataType::Timestamp { fsp: 0 };
        assert_eq!(default_value(&d, Some("CURRENT_TIMESTAMP"), "DEFAULT_GENERATED", &t), Some(DefaultValue::CurrentTimestamp));
        assert_eq!(default_value(&d, Some("abc"), "", &DataType::Varchar { len: 5 }), Some(DefaultValue::Literal("abc".into())));
    }
}

#[cfg(test)]
mod neutral_tests {
    use super::*;

    #[test]
    fn mysql_defaults_become_neutral() {
        let dt = DataType::DateTime { fsp: 0 };
        assert_eq!(neutral_default(DefaultValue::Literal("0000-00-00 00:00:00".into()), &dt), DefaultValue::ZeroDate("0000-00-00 00:00:00".into()));
        assert_eq!(neutral_default(DefaultValue::Literal("2020-01-02".into()), &dt), DefaultValue::Literal("2020-01-02".into()));
        assert_eq!(neutral_default(DefaultValue::Expression("UUID()".into()), &DataType::Char { len: 36 }), DefaultValue::NewUuid);
        assert_eq!(neutral_default(DefaultValue::Expression("curdate()".into()), &DataType::Date), DefaultValue::CurrentDate);
        assert_eq!(neutral_default(DefaultValue::Literal("b'101'".into()), &DataType::Bit { len: 3 }), DefaultValue::Literal("5".into()));
    }

    #[test]
    fn check_identifiers_become_standard_quoted() {
        assert_eq!(standard_quoting("`Qty` > 0 and `a``b` <> 'it''s `x`'"), "\"Qty\" > 0 and \"a`b\" <> 'it''s `x`'");
        assert_eq!(standard_quoting("`q\"` = 'a\\'b'"), "\"q\"\"\" = 'a\\'b'");
        assert!(case_insensitive(Some("utf8mb4_0900_ai_ci")) && !case_insensitive(Some("utf8mb4_bin")) && !case_insensitive(None));
    }
}
