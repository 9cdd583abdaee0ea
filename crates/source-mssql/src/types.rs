//! SQL Server's types in the neutral model ([`data_type`]) and a script's literals as values of
//! them ([`value`]). A literal a column's type cannot hold is an error naming it, never a NULL.

use ferry_model::value::{civil_from_days, days_from_civil};
use ferry_model::{DataType, Date, DateTime, Value};
use sqlparser::ast::{CharacterLength, DataType as T, ExactNumberInfo, Expr, UnaryOperator, Value as V};

/// A T-SQL column type as the model's.
pub fn data_type(t: &T) -> Result<DataType, String> {
    let len = |l: &Option<CharacterLength>| match l {
        Some(CharacterLength::IntegerLength { length, .. }) => Some(*length as u32),
        Some(CharacterLength::Max) => None,
        None => Some(1),
    };
    let text = |chars: Option<u32>, fixed: bool| match chars {
        None => DataType::Text { max_bytes: 2_147_483_647 },
        Some(n) if fixed => DataType::Char { len: n },
        Some(n) => DataType::Varchar { len: n },
    };
    Ok(match t {
        T::Bit(_) => DataType::Bool,
        T::TinyInt(_) | T::TinyIntUnsigned(_) => DataType::Int { bytes: 1, unsigned: true, display_width: None },
        T::SmallInt(_) => DataType::Int { bytes: 2, unsigned: false, display_width: None },
        T::Int(_) | T::Integer(_) => DataType::Int { bytes: 4, unsigned: false, display_width: None },
        T::BigInt(_) => DataType::Int { bytes: 8, unsigned: false, display_width: None },
        T::Decimal(i) | T::Numeric(i) | T::Dec(i) => {
            let (precision, scale) = match i {
                ExactNumberInfo::None => (18, 0),
                ExactNumberInfo::Precision(p) => (*p as u32, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p as u32, *s as u32),
            };
            DataType::Decimal { precision, scale, unsigned: false }
        }
        T::Real => DataType::Float { unsigned: false },
        T::Float(_) | T::Double(_) | T::DoublePrecision => DataType::Double { unsigned: false },
        T::Char(l) | T::Character(l) => text(len(l), true),
        T::Varchar(l) | T::Nvarchar(l) | T::CharacterVarying(l) | T::CharVarying(l) => text(len(l), false),
        T::Text => DataType::Text { max_bytes: 2_147_483_647 },
        T::Binary(n) => DataType::Binary { len: n.unwrap_or(1) as u32 },
        T::Varbinary(_) => DataType::Blob { max_bytes: 2_147_483_647 },
        T::Date => DataType::Date,
        T::Datetime(_) => DataType::DateTime { fsp: 3 },
        T::Time(p, _) => DataType::Time { fsp: p.unwrap_or(7).min(7) as u8 },
        T::Uuid => DataType::Uuid,
        // SSMS brackets type names (`[nvarchar](40)`): read again without the brackets.
        T::Custom(name, args) if name.to_string().starts_with('[') && !args.iter().any(|a| a.starts_with('[')) => {
            let bare = name.to_string().replace(['[', ']'], "");
            let text = if args.is_empty() { bare.clone() } else { format!("{bare}({})", args.join(", ")) };
            match sqlparser::parser::Parser::new(&sqlparser::dialect::MsSqlDialect {}).try_with_sql(&text).and_then(|mut p| p.parse_data_type()) {
                Ok(t) if !matches!(&t, T::Custom(n, _) if n.to_string().starts_with('[')) => return data_type(&t),
                _ => return Err(format!("type {text}")),
            }
        }
        T::Custom(name, args) => {
            let n = name.to_string().trim_matches(|c| c == '[' || c == ']').to_ascii_lowercase();
            let n = n.rsplit('.').next().unwrap_or(&n).trim_matches(|c| c == '[' || c == ']').to_string();
            let p = args.first().and_then(|a| a.parse::<u8>().ok());
            match n.as_str() {
                "nchar" => text(args.first().and_then(|a| a.parse().ok()).or(Some(1)), true),
                "nvarchar" => text(args.first().and_then(|a| if a.eq_ignore_ascii_case("max") { None } else { a.parse().ok() }), false),
                "ntext" => DataType::Text { max_bytes: 2_147_483_647 },
                "datetime2" => DataType::DateTime { fsp: p.unwrap_or(7).min(7) },
                "smalldatetime" => DataType::DateTime { fsp: 0 },
                "datetimeoffset" => DataType::DateTimeOffset { fsp: p.unwrap_or(7).min(7) },
                "money" => DataType::Money { bytes: 8 },
                "smallmoney" => DataType::Money { bytes: 4 },
                "uniqueidentifier" => DataType::Uuid,
                "image" => DataType::Blob { max_bytes: 2_147_483_647 },
                "xml" => DataType::Xml,
                "tinyint" => DataType::Int { bytes: 1, unsigned: true, display_width: None },
                other => return Err(format!("type {other}")),
            }
        }
        other => return Err(format!("type {other}")),
    })
}

/// A literal of the script as a value of `ty`.
pub fn value(e: &Expr, ty: &DataType) -> Result<Value, String> {
    // `CAST(N'2009-01-01T00:00:00.000' AS DateTime)`, `CAST(0.99 AS Numeric(10, 2))`: how SSMS
    // writes values; the column's type governs.
    if let Expr::Cast { expr, .. } = e {
        return value(expr, ty);
    }
    let (negative, e) = match e {
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => (true, expr.as_ref()),
        Expr::UnaryOp { op: UnaryOperator::Plus, expr } => (false, expr.as_ref()),
        e => (false, e),
    };
    let Expr::Value(v) = e else { return Err(format!("the expression {e}")) };
    let sign = if negative { "-" } else { "" };
    match (&v.value, ty) {
        (V::Null, _) => Ok(Value::Null),
        (V::Number(n, _), DataType::Bool) => match n.as_str() {
            "0" => Ok(Value::Bool(false)),
            "1" => Ok(Value::Bool(true)),
            other => Err(format!("{other} for a bit")),
        },
        (V::Number(n, _), DataType::Int { .. }) => format!("{sign}{n}").parse::<i64>().map(Value::Int).map_err(|_| format!("{sign}{n} for an integer")),
        (V::Number(n, _), DataType::Decimal { .. } | DataType::Money { .. }) => Ok(Value::Decimal(format!("{sign}{n}"))),
        (V::Number(n, _), DataType::Double { .. } | DataType::Float { .. }) => {
            format!("{sign}{n}").parse::<f64>().map(Value::Double).map_err(|_| format!("{sign}{n} for a float"))
        }
        (V::SingleQuotedString(s) | V::NationalStringLiteral(s), t) => string(s, t),
        (V::HexStringLiteral(h), DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::Blob { .. }) => hex(h).map(Value::Bytes),
        (V::Number(n, _), DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::Blob { .. }) if n.starts_with("0x") || n.starts_with("0X") => {
            hex(&n[2..]).map(Value::Bytes)
        }
        (other, t) => Err(format!("{other} for {t:?}")),
    }
}

fn hex(h: &str) -> Result<Vec<u8>, String> {
    if !h.len().is_multiple_of(2) {
        return Err(format!("0x{h}: an odd number of hex digits"));
    }
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| format!("0x{h}"))).collect()
}

fn string(s: &str, t: &DataType) -> Result<Value, String> {
    Ok(match t {
        DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. } | DataType::Xml => Value::Text(s.to_string()),
        // A GUID's letters carry no data: written and compared in lower case, as uuid prints.
        DataType::Uuid => {
            let g = s.trim().trim_matches(|c| c == '{' || c == '}').to_ascii_lowercase();
            let shape = g.len() == 36 && g.bytes().enumerate().all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() });
            if !shape {
                return Err(format!("'{s}' for a uniqueidentifier"));
            }
            Value::Text(g)
        }
        DataType::Date => Value::Date(date(s).ok_or_else(|| format!("'{s}' for a date"))?),
        DataType::DateTime { .. } => Value::DateTime(datetime(s).ok_or_else(|| format!("'{s}' for a datetime"))?),
        DataType::DateTimeOffset { .. } => Value::Timestamp(offset_datetime(s).ok_or_else(|| format!("'{s}' for a datetimeoffset"))?),
        DataType::Time { .. } => Value::Duration(time_of_day(s).ok_or_else(|| format!("'{s}' for a time"))?),
        DataType::Decimal { .. } | DataType::Money { .. } if s.trim().parse::<f64>().is_ok() => Value::Decimal(s.trim().to_string()),
        DataType::Int { .. } => Value::Int(s.trim().parse().map_err(|_| format!("'{s}' for an integer"))?),
        DataType::Bool => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => Value::Bool(true),
            "0" | "false" => Value::Bool(false),
            other => return Err(format!("'{other}' for a bit")),
        },
        other => return Err(format!("'{s}' for {other:?}")),
    })
}

/// `YYYY-MM-DD`, `YYYY/M/D`, `YYYY.MM.DD` or `YYYYMMDD`: the forms SQL Server reads as
/// year-month-day whatever its DATEFORMAT (a four-digit year first). Others are refused, not
/// guessed.
fn date(s: &str) -> Option<Date> {
    let s = s.trim();
    let (y, m, d) = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        (&s[..4], &s[4..6], &s[6..8])
    } else {
        let mut it = s.splitn(3, ['-', '/', '.']);
        let y = it.next()?;
        if y.len() != 4 {
            return None;
        }
        (y, it.next()?, it.next()?)
    };
    Some(Date { year: y.parse().ok()?, month: m.parse().ok()?, day: d.parse().ok()? })
}

/// `YYYY-MM-DD[ T]HH:MM[:SS[.fffffff]]`, or a date alone (midnight). A fraction finer than a
/// microsecond is refused rather than rounded (the model holds microseconds).
fn datetime(s: &str) -> Option<DateTime> {
    let s = s.trim();
    let (d, t) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, "00:00:00"),
    };
    let date = date(d)?;
    let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
    let mut it = hms.split(':');
    let hour = it.next()?.parse().ok()?;
    let minute = it.next()?.parse().ok()?;
    let second = it.next().unwrap_or("0").parse().ok()?;
    if frac.len() > 6 && frac[6..].bytes().any(|b| b != b'0') {
        return None;
    }
    let micros = if frac.is_empty() { 0 } else { format!("{:0<6}", &frac[..frac.len().min(6)]).parse().ok()? };
    Some(DateTime { date, hour, minute, second, micros })
}

/// `HH:MM[:SS[.fffffff]]` as microseconds since midnight (a SQL Server TIME is a time of day).
fn time_of_day(s: &str) -> Option<i64> {
    let (hms, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    let mut it = hms.split(':');
    let (h, m): (i64, i64) = (it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    let sec: i64 = it.next().unwrap_or("0").parse().ok()?;
    if h > 23 || m > 59 || sec > 59 || (frac.len() > 6 && frac[6..].bytes().any(|b| b != b'0')) {
        return None;
    }
    let micros: i64 = if frac.is_empty() { 0 } else { format!("{:0<6}", &frac[..frac.len().min(6)]).parse().ok()? };
    Some(((h * 60 + m) * 60 + sec) * 1_000_000 + micros)
}

/// `YYYY-MM-DD HH:MM:SS[.f] ±HH:MM` as the instant in UTC.
fn offset_datetime(s: &str) -> Option<DateTime> {
    let s = s.trim();
    let at = s.rfind(['+', '-']).filter(|&i| i > 10)?;
    let (local, off) = (s[..at].trim(), &s[at..]);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let (oh, om) = off[1..].split_once(':')?;
    let offset_min = sign * (oh.trim().parse::<i64>().ok()? * 60 + om.trim().parse::<i64>().ok()?);
    let dt = datetime(local)?;
    let days = days_from_civil(dt.date.year.into(), dt.date.month.into(), dt.date.day.into());
    let minutes = days * 1440 + i64::from(dt.hour) * 60 + i64::from(dt.minute) - offset_min;
    let (day, min) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
    let (year, month, day) = civil_from_days(day);
    Some(DateTime { date: Date { year: year as i32, month, day }, hour: (min / 60) as u8, minute: (min % 60) as u8, second: dt.second, micros: dt.micros })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MsSqlDialect;
    use sqlparser::parser::Parser;

    fn ty(s: &str) -> DataType {
        data_type(&Parser::new(&MsSqlDialect {}).try_with_sql(s).unwrap().parse_data_type().unwrap()).unwrap()
    }

    #[test]
    fn tsql_types_map_to_the_model() {
        assert_eq!(ty("NVARCHAR(160)"), DataType::Varchar { len: 160 });
        assert_eq!(ty("NVARCHAR(MAX)"), DataType::Text { max_bytes: 2_147_483_647 });
        assert_eq!(ty("NUMERIC(10,2)"), DataType::Decimal { precision: 10, scale: 2, unsigned: false });
        assert_eq!(ty("DATETIME"), DataType::DateTime { fsp: 3 });
        assert_eq!(ty("DATETIME2(7)"), DataType::DateTime { fsp: 7 });
        assert_eq!(ty("BIT"), DataType::Bool);
        assert_eq!(ty("MONEY"), DataType::Money { bytes: 8 });
        assert_eq!(ty("UNIQUEIDENTIFIER"), DataType::Uuid);
    }

    #[test]
    fn literals_become_values_of_the_column_type_or_an_error() {
        let lit = |s: &str| Parser::new(&MsSqlDialect {}).try_with_sql(s).unwrap().parse_expr().unwrap();
        assert_eq!(value(&lit("N'Antônio'"), &DataType::Varchar { len: 10 }).unwrap(), Value::Text("Antônio".into()));
        assert_eq!(value(&lit("-5"), &DataType::Int { bytes: 4, unsigned: false, display_width: None }).unwrap(), Value::Int(-5));
        assert_eq!(value(&lit("0.99"), &DataType::Decimal { precision: 10, scale: 2, unsigned: false }).unwrap(), Value::Decimal("0.99".into()));
        let dt = value(&lit("'2009-01-01T00:00:00'"), &DataType::DateTime { fsp: 3 }).unwrap();
        assert_eq!(ferry_model::canonical::canonical(&dt).unwrap(), "2009-01-01 00:00:00");
        assert!(value(&lit("'2009-01-01 10:00:00.1234567'"), &DataType::DateTime { fsp: 7 }).is_err(), "a 100 ns digit is not rounded away");
        assert!(value(&lit("'abc'"), &DataType::Int { bytes: 4, unsigned: false, display_width: None }).is_err());
        let slashed = value(&lit("'1962/2/18'"), &DataType::DateTime { fsp: 3 }).unwrap();
        assert_eq!(ferry_model::canonical::canonical(&slashed).unwrap(), "1962-02-18 00:00:00");
        assert!(value(&lit("'2/18/1962'"), &DataType::DateTime { fsp: 3 }).is_err(), "month-first depends on DATEFORMAT: refused");
        let at = value(&lit("'2020-03-01 01:30:00.25 +02:00'"), &DataType::DateTimeOffset { fsp: 7 }).unwrap();
        assert_eq!(ferry_model::canonical::canonical(&at).unwrap(), "2020-02-29 23:30:00.25Z", "the instant, in UTC, across a leap day");
        assert_eq!(value(&lit("'13:05:09.5'"), &DataType::Time { fsp: 3 }).unwrap(), Value::Duration(47_109_500_000));
        assert!(value(&lit("'24:00:00'"), &DataType::Time { fsp: 0 }).is_err());
    }
}
