//! The type map: one neutral source type → one PostgreSQL type and the value conversion it
//! needs. `docs/type-mapping.md` documents this table; a column rule `type = "…"` overrides it.

use crate::config::{Rules, Tinyint1, ZeroDatePolicy};
use crate::convert::Conversion;
use ferry_model::{Column, DataType};
use ferry_target_postgres::ddl::PgType;

/// What the data probes found for a column (counts of rows breaking an assumption).
#[derive(Debug, Clone, Copy, Default)]
pub struct ColumnProbes {
    pub not_zero_or_one: Option<u64>,
    pub outside_day: Option<u64>,
    /// `bigint unsigned` values above 2^63-1.
    pub above_bigint: Option<u64>,
    /// Binary values that are not UTF-8 text.
    pub not_utf8_text: Option<u64>,
}

/// How a temporal column's zero dates are written: the policy in force for it and whether its
/// target column accepts NULL.
#[derive(Debug, Clone, Copy)]
pub struct ZeroDates {
    pub policy: ZeroDatePolicy,
    pub nullable: bool,
}

pub struct Mapped {
    pub ty: PgType,
    pub conversion: Conversion,
    /// Why the meaning changed, for the assessment (empty when it did not).
    pub note: Option<String>,
}

/// Maps a column. `enum_type` is the target enum type to use for ENUM columns (None with
/// `enums = "check"`); `postgis` says whether the target has PostGIS.
pub fn map_column(col: &Column, rules: &Rules, probes: ColumnProbes, enum_type: Option<PgType>, postgis: bool, zero: ZeroDates) -> Result<Mapped, String> {
    let m = |ty, conversion| Ok(Mapped { ty, conversion, note: None });
    let noted = |ty, conversion, note: String| Ok(Mapped { ty, conversion, note: Some(note) });
    match &col.data_type {
        DataType::Bool => m(PgType::Boolean, Conversion::IntToBool),
        DataType::Int { bytes: 1, unsigned: false, display_width: Some(1) } => match rules.tinyint1 {
            Tinyint1::Boolean => noted(PgType::Boolean, Conversion::IntToBool, "tinyint(1) → boolean (rules.tinyint1 = \"boolean\")".into()),
            Tinyint1::Smallint => m(PgType::SmallInt, Conversion::Identity),
            Tinyint1::Auto => match probes.not_zero_or_one {
                Some(0) => noted(PgType::Boolean, Conversion::IntToBool, "tinyint(1) → boolean: every stored value is 0 or 1".into()),
                // No answer: the column appeared after the plan (DDL during sync), so nothing
                // proves its future values are 0/1 — the type that holds them all.
                None => noted(
                    PgType::SmallInt,
                    Conversion::Identity,
                    "tinyint(1) kept as smallint: its values were not probed (the column appeared during sync); set rules.tinyint1 = \"boolean\" to convert"
                        .into(),
                ),
                Some(n) => {
                    noted(PgType::SmallInt, Conversion::Identity, format!("tinyint(1) kept as smallint, not boolean: {n} rows hold values other than 0/1"))
                }
            },
        },
        DataType::Int { bytes, unsigned, .. } => {
            let (ty, widened) = match (bytes, unsigned) {
                (1, _) | (2, false) => (PgType::SmallInt, false),
                (2, true) => (PgType::Integer, true),
                (3, _) | (4, false) => (PgType::Integer, false),
                (4, true) => (PgType::BigInt, true),
                (8, false) => (PgType::BigInt, false),
                (8, true) if col.auto_increment => {
                    return noted(
                        PgType::BigInt,
                        Conversion::UnsignedToBigint,
                        "bigint unsigned AUTO_INCREMENT → bigint identity (values above 2^63-1 are refused)".into(),
                    )
                }
                (8, true) => match probes.above_bigint {
                    Some(0) => {
                        return noted(
                            PgType::BigInt,
                            Conversion::UnsignedToBigint,
                            format!("{} → bigint: every stored value fits (probed); a later value above 2^63-1 is refused with its key — override the type to numeric(20,0) if the column may hold one", col.source_type),
                        )
                    }
                    _ => (PgType::Numeric(Some((20, 0))), true),
                },
                _ => (PgType::BigInt, false),
            };
            if widened {
                noted(ty.clone(), Conversion::Identity, format!("{} → {ty} to hold the unsigned range", col.source_type))
            } else {
                m(ty, Conversion::Identity)
            }
        }
        DataType::Decimal { precision, scale, .. } => {
            if *precision > 1000 {
                m(PgType::Numeric(None), Conversion::Identity)
            } else {
                m(PgType::Numeric(Some((*precision, *scale))), Conversion::Identity)
            }
        }
        DataType::Float { .. } => m(PgType::Real, Conversion::Identity),
        DataType::Double { .. } => m(PgType::Double, Conversion::Identity),
        DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. }
            if col.case_insensitive && rules.case_insensitive == crate::config::CaseInsensitive::Citext =>
        {
            let length = match &col.data_type {
                DataType::Char { len } | DataType::Varchar { len } => format!("; its length ({len}) is not enforced by citext"),
                _ => String::new(),
            };
            noted(
                PgType::Custom("citext".into()),
                Conversion::Identity,
                format!("{} compares case-insensitively → citext (rules.case_insensitive = \"citext\"){length}", col.source_type),
            )
        }
        DataType::Char { len } => m(PgType::Char((*len).max(1)), Conversion::Identity),
        DataType::Varchar { len } => m(PgType::Varchar(Some((*len).max(1))), Conversion::Identity),
        DataType::Text { .. } => m(PgType::Text, Conversion::Identity),
        DataType::Varbinary { .. } | DataType::Blob { .. } if probes.not_utf8_text == Some(0) => match rules.utf8_binary {
            crate::config::Utf8Binary::Text => noted(
                PgType::Text,
                Conversion::BytesToText,
                format!(
                    "{} → text: every stored value is UTF-8 text (probed; rules.utf8_binary = \"text\"); a later non-UTF-8 value is refused with its key",
                    col.source_type
                ),
            ),
            crate::config::Utf8Binary::Bytea => noted(
                PgType::Bytea,
                Conversion::Identity,
                format!(
                    "{} → bytea; every stored value is UTF-8 text (probed): rules.utf8_binary = \"text\" (or a type override) makes it text",
                    col.source_type
                ),
            ),
        },
        DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::Blob { .. } => m(PgType::Bytea, Conversion::Identity),
        DataType::Date => m(PgType::Date, temporal(zero)),
        DataType::DateTime { fsp } if *fsp > 6 => noted(PgType::Timestamp(6), temporal(zero), beyond_microseconds(*fsp)),
        DataType::Timestamp { fsp } if *fsp > 6 => noted(PgType::TimestampTz(6), temporal(zero), beyond_microseconds(*fsp)),
        DataType::DateTime { fsp } => m(PgType::Timestamp(*fsp), temporal(zero)),
        DataType::Timestamp { fsp } => m(PgType::TimestampTz(*fsp), temporal(zero)),
        DataType::DateTimeOffset { fsp } => {
            let offset = "datetimeoffset → timestamptz: the instant is kept, the offset it was written with is not (keep_offset = true on the column keeps it in a column <name>_offset)";
            let note = if *fsp > 6 { format!("{offset}; {}", beyond_microseconds(*fsp)) } else { offset.to_string() };
            noted(PgType::TimestampTz((*fsp).min(6)), temporal(zero), note)
        }
        DataType::Money { bytes } => noted(
            PgType::Numeric(Some((if *bytes == 4 { 10 } else { 19 }, 4))),
            Conversion::Identity,
            format!("{} → numeric: exact, four decimal places (PostgreSQL's money type formats by locale)", col.source_type),
        ),
        DataType::Xml => m(PgType::Custom("xml".into()), Conversion::Identity),
        DataType::Mixed { declared } => Err(format!(
            "cells of several storage classes (declared `{declared}`): the source did not settle on a type; add a rule [tables.<table>.columns.<column>] type = \"<postgres type>\""
        )),
        DataType::Time { fsp } if *fsp > 6 => noted(PgType::Time(6), Conversion::Identity, beyond_microseconds(*fsp)),
        DataType::Time { fsp } => match probes.outside_day {
            Some(0) => m(PgType::Time(*fsp), Conversion::Identity),
            None => noted(
                PgType::Interval(*fsp),
                Conversion::Identity,
                "time → interval: its values were not probed (the column appeared during sync) and MySQL TIME spans ±838 hours".into(),
            ),
            Some(n) => {
                noted(PgType::Interval(*fsp), Conversion::Identity, format!("time → interval: {n} rows are negative or ≥ 24:00:00, outside PostgreSQL's time"))
            }
        },
        DataType::Year => m(PgType::SmallInt, Conversion::Identity),
        DataType::Json => m(PgType::Jsonb, Conversion::Jsonb { duplicates: rules.json_duplicate_keys }),
        DataType::Enum { values } => match enum_type {
            Some(t) => m(t, Conversion::Enum { values: values.clone() }),
            None => m(PgType::Text, Conversion::Enum { values: values.clone() }),
        },
        DataType::Set { .. } => {
            noted(PgType::Array(Box::new(PgType::Text)), Conversion::SetToArray, "SET → text[] (queries using FIND_IN_SET must become = ANY(...))".into())
        }
        DataType::Bit { len } => m(PgType::Bit((*len).max(1)), Conversion::Identity),
        DataType::Geometry { .. } => {
            if postgis {
                m(PgType::Geometry, Conversion::GeometryEwkb)
            } else {
                noted(
                    PgType::Bytea,
                    Conversion::Identity,
                    "geometry → bytea holding EWKB (WKB with the SRID when it is not 0, as PostGIS reads it): the target has no PostGIS (CREATE EXTENSION postgis, then migrate again for a geometry column, or ALTER COLUMN … TYPE geometry USING ST_GeomFromEWKB(col))".into(),
                )
            }
        }
        DataType::Uuid => m(PgType::Uuid, Conversion::Identity),
        // A PostgreSQL source's own type: the same type (a user type as the plan qualified it).
        DataType::Native { name, .. } => m(enum_type.unwrap_or_else(|| PgType::Custom(name.clone())), Conversion::Identity),
        DataType::Unsupported { name } => Err(format!("type `{name}` has no mapping; add a rule [tables.<table>.columns.<column>] type = \"<postgres type>\"")),
    }
}

/// The note for fractions finer than PostgreSQL's microsecond.
fn beyond_microseconds(fsp: u8) -> String {
    format!("{fsp} fractional-second digits → 6 (PostgreSQL keeps microseconds): a value with digits beyond the microsecond is refused with its key, never rounded silently; override type = \"text\" to keep them")
}

fn temporal(zero: ZeroDates) -> Conversion {
    Conversion::Temporal { policy: zero.policy, nullable: zero.nullable }
}

/// The override type is a character type: values travel as the source prints them.
pub fn is_text_type(pg_type: &str) -> bool {
    let l = pg_type.trim().to_ascii_lowercase();
    l == "text" || l == "citext" || l.starts_with("varchar") || l.starts_with("character varying") || l.starts_with("char") || l.starts_with("character")
}

/// Conversion to use when the user overrides the type: the value is written in its PostgreSQL
/// text form and PostgreSQL casts it; temporal values still obey the zero-date policy (or, to a
/// text type, travel as the source prints them, zero dates included), and SETs still become
/// arrays when the override is an array type.
pub fn override_conversion(col: &Column, pg_type: &str, zero: ZeroDates) -> Conversion {
    match &col.data_type {
        DataType::Date if is_text_type(pg_type) => Conversion::TemporalText { fsp: 0 },
        DataType::DateTime { fsp } | DataType::Timestamp { fsp } if is_text_type(pg_type) => Conversion::TemporalText { fsp: *fsp },
        DataType::Date | DataType::DateTime { .. } | DataType::Timestamp { .. } => temporal(zero),
        DataType::Set { .. } if pg_type.trim_end().ends_with("[]") => Conversion::SetToArray,
        // Bytes become their UTF-8 text, or the row is refused naming its key — never the
        // `\x…` hex form a bytea prints as.
        DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::Blob { .. } if is_text_type(pg_type) => Conversion::BytesToText,
        DataType::Geometry { .. } if pg_type.to_ascii_lowercase().starts_with("geometry") => Conversion::GeometryEwkb,
        _ => Conversion::Identity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_column_overridden_to_text_converts_its_bytes_not_their_hex() {
        let zero = ZeroDates { policy: ZeroDatePolicy::Error, nullable: true };
        let blob = Column::new("b", DataType::Blob { max_bytes: 65535 }, "blob");
        assert!(matches!(override_conversion(&blob, "text", zero), Conversion::BytesToText));
        assert!(matches!(override_conversion(&blob, "varchar(20)", zero), Conversion::BytesToText));
        assert!(matches!(override_conversion(&blob, "bytea", zero), Conversion::Identity));
    }

    #[test]
    fn datetimeoffset_7_says_both_the_lost_offset_and_the_lost_digit() {
        let zero = ZeroDates { policy: ZeroDatePolicy::Error, nullable: true };
        let col = Column::new("at", DataType::DateTimeOffset { fsp: 7 }, "datetimeoffset(7)");
        let m = map_column(&col, &Rules::default(), ColumnProbes::default(), None, false, zero).unwrap();
        assert_eq!(m.ty, PgType::TimestampTz(6));
        let note = m.note.unwrap();
        assert!(note.contains("offset it was written with is not") && note.contains("7 fractional-second digits"), "{note}");
    }

    #[test]
    fn case_insensitive_text_becomes_citext_only_by_the_rule() {
        let zero = ZeroDates { policy: ZeroDatePolicy::Error, nullable: true };
        let col = Column { case_insensitive: true, ..Column::new("name", DataType::Varchar { len: 40 }, "varchar(40)") };
        let mut rules = Rules::default();
        let kept = map_column(&col, &rules, ColumnProbes::default(), None, false, zero).unwrap();
        assert_eq!(kept.ty, PgType::Varchar(Some(40)));
        rules.case_insensitive = crate::config::CaseInsensitive::Citext;
        let ci = map_column(&col, &rules, ColumnProbes::default(), None, false, zero).unwrap();
        assert_eq!(ci.ty, PgType::Custom("citext".into()));
        assert!(ci.note.unwrap().contains("length (40)"));
        let cs = Column::new("code", DataType::Varchar { len: 4 }, "varchar(4)");
        assert_eq!(map_column(&cs, &rules, ColumnProbes::default(), None, false, zero).unwrap().ty, PgType::Varchar(Some(4)));
    }
}
