//! Source defaults as PostgreSQL defaults. Guarantee: a default is either rendered so that
//! PostgreSQL stores the value the source would have (bytes as hex literals, bits through
//! bigint, instants in UTC, zero dates by the zero-date rule), or left out with an assessment
//! item saying why — never rendered into something else silently ([`pg_default`]).

use crate::assessment::{Assessment, Severity};
use crate::config::ZeroDatePolicy;
use ferry_model::{Column, DefaultValue};
use ferry_target_postgres::ddl::PgType;
use ferry_target_postgres::ident::quote_literal;

/// `'\x00ff'::bytea`.
pub(super) fn bytea_literal(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("'\\x{hex}'::bytea")
}

pub(super) fn is_number(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.parse::<f64>().is_ok() && !s.eq_ignore_ascii_case("nan") && !s.to_ascii_lowercase().contains("inf")
}

/// Translates a column default into a PostgreSQL expression for the target type; a zero-date
/// literal follows the column's zero-date policy as its values do.
pub(super) fn pg_default(c: &Column, ty: &PgType, zero: ZeroDatePolicy, nullable: bool, obj: &str, a: &mut Assessment) -> Option<String> {
    let d = c.default.as_ref()?;
    match d {
        DefaultValue::Null => None,
        DefaultValue::CurrentTimestamp => match ty {
            PgType::Date => Some("CURRENT_DATE".into()),
            _ => Some("CURRENT_TIMESTAMP".into()),
        },
        DefaultValue::Native(e) => Some(e.clone()),
        DefaultValue::NewUuid if matches!(ty, PgType::Uuid) => Some("gen_random_uuid()".into()),
        DefaultValue::NewUuid => Some("gen_random_uuid()::text".into()),
        DefaultValue::CurrentDate => Some("CURRENT_DATE".into()),
        DefaultValue::Expression(e) => {
            a.push(Severity::Action, obj, format!("default expression not converted: {e}"));
            None
        }
        DefaultValue::ZeroDate(v) if matches!(ty, PgType::Date | PgType::Timestamp(_) | PgType::TimestampTz(_)) => {
            match zero {
                ZeroDatePolicy::NegInfinity => {
                    a.push(Severity::Info, obj, format!("zero-date default '{v}' → '-infinity' (zero_dates = \"-infinity\")"));
                    return Some(format!("'-infinity'::{}", if matches!(ty, PgType::Date) { "date" } else if matches!(ty, PgType::TimestampTz(_)) { "timestamptz" } else { "timestamp" }));
                }
                ZeroDatePolicy::Null => {
                    a.push(Severity::Info, obj, format!("zero-date default '{v}' → NULL (zero_dates = \"null\")"));
                }
                ZeroDatePolicy::Error if nullable => {
                    a.push(Severity::Warning, obj, format!("zero-date default '{v}' dropped: PostgreSQL has no zero date (zero_dates = \"-infinity\" makes it '-infinity')"));
                }
                ZeroDatePolicy::Error => a.push(Severity::Action, obj, format!(
                    "zero-date default '{v}' dropped on a NOT NULL column: inserts that omit the column will fail; set zero_dates = \"-infinity\" (default '-infinity'), or a default rule"
                )),
            }
            None
        }
        // A zero date kept as text (a type override).
        DefaultValue::ZeroDate(v) => Some(quote_literal(v)),
        DefaultValue::Literal(v) => match ty {
            PgType::Boolean => match v.trim() {
                "0" => Some("false".into()),
                "1" => Some("true".into()),
                other => {
                    a.push(Severity::Warning, obj, format!("default {other} dropped: not a boolean"));
                    None
                }
            },
            PgType::SmallInt | PgType::Integer | PgType::BigInt | PgType::Numeric(_) | PgType::Real | PgType::Double => {
                if is_number(v) {
                    Some(v.trim().to_string())
                } else {
                    a.push(Severity::Warning, obj, format!("default {v:?} dropped: not a number"));
                    None
                }
            }
            // An instant's literal is in UTC (the model's convention).
            PgType::TimestampTz(_) => Some(format!("{}::timestamptz", quote_literal(&format!("{v}+00")))),
            PgType::Bit(n) => {
                // A bit default is its number: cast it through bigint, which keeps its
                // rightmost n bits.
                let raw = v.trim();
                match raw.parse::<u64>().ok() {
                    // Spelled as PostgreSQL prints it back, so `diff` and verify's structure
                    // check see the default they planned.
                    Some(x) => Some(format!("(({})::bigint)::bit({n})", x as i64)),
                    None => {
                        a.push(Severity::Warning, obj, format!("default {raw} dropped: not a bit value"));
                        None
                    }
                }
            }
            PgType::Array(_) => {
                let items: Vec<String> =
                    if v.is_empty() { vec![] } else { v.split(',').map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))).collect() };
                Some(quote_literal(&format!("{{{}}}", items.join(","))))
            }
            // Bytes as a hex literal: the value may hold NULs (a BINARY(n) default is padded
            // with them), which no text literal can carry.
            PgType::Bytea => Some(bytea_literal(v.as_bytes())),
            _ => Some(quote_literal(v)),
        },
    }
}
