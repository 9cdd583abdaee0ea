//! SQL Server's types in the neutral model ([`data_type`]) and a script's literals as values of
//! them ([`value`]). A literal a column's type cannot hold is an error naming it, never a NULL.

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
        DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. } | DataType::Xml | DataType::Uuid => Value::Text(s.to_string()),
        DataType::Date => Value::Date(date(s).ok_or_else(|| format!("'{s}' for a date"))?),
        DataType::DateTime { .. } => Value::DateTime(datetime(s).ok_or_else(|| format!("'{s}' for a datetime"))?),
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
    }
}
