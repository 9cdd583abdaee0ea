//! Neutral values: what a source reads a cell into before the plan converts it for the target.
//! Values keep everything the source said, including what the target cannot hold (zero dates,
//! year 0, NUL characters): deciding what to do with those is the plan's job, never the reader's.

use std::fmt;

/// A calendar date as the source stores it. MySQL allows zero parts (`0000-00-00`, `2020-05-00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// True for a date with a zero month or day, or year 0 (which PostgreSQL has no name for).
    pub fn is_zero_or_partial(&self) -> bool {
        self.year == 0 || self.month == 0 || self.day == 0
    }
    /// Month and day are in range for the month (leap years included).
    pub fn is_valid(&self) -> bool {
        if self.is_zero_or_partial() || self.month > 12 {
            return false;
        }
        let leap = (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0;
        let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        self.day as u32 <= days[self.month as usize - 1]
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Date and time of day with microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub micros: u32,
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:02}:{:02}:{:02}", self.date, self.hour, self.minute, self.second)?;
        if self.micros != 0 {
            write!(f, ".{:06}", self.micros)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Exact decimal as text, e.g. `-12.50`.
    Decimal(String),
    Text(String),
    Bytes(Vec<u8>),
    Date(Date),
    /// Date and time without time zone.
    DateTime(DateTime),
    /// An instant, in UTC.
    Timestamp(DateTime),
    /// A signed duration in microseconds (MySQL TIME).
    Duration(i64),
    Json(String),
    /// Bit string, most significant bit first, as '0'/'1' characters.
    Bits(String),
    Array(Vec<Value>),
    /// A stored cell the column's type cannot hold, set aside by the column's rule instead of
    /// stopping the table: the target gets `value` (NULL, or the text with invalid bytes
    /// replaced) and `ferry.quarantine` the raw cell (`RowConverter` moves it there).
    Quarantined(Box<Quarantined>),
}

/// A cell set aside: what the target gets, the cell as stored, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    /// What the target column gets (NULL, or a replacement).
    pub value: Value,
    /// The cell's storage class on the source (`integer`, `real`, `text`, `blob`).
    pub class: String,
    /// The cell as stored: numbers and UTF-8 text as text, other bytes as `X'…'` hex.
    pub raw: String,
    pub reason: String,
}

pub type Row = Vec<Value>;

impl Value {
    /// About how many bytes the value holds in memory (its own size plus what it owns): what
    /// buffers bound themselves by.
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Value>()
            + match self {
                Value::Decimal(s) | Value::Text(s) | Value::Json(s) | Value::Bits(s) => s.len(),
                Value::Bytes(b) => b.len(),
                Value::Array(vs) => vs.iter().map(Value::heap_size).sum(),
                Value::Quarantined(q) => q.value.heap_size() + q.raw.len() + q.reason.len(),
                _ => 0,
            }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// A short name of the variant for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::UInt(_) => "uint",
            Value::Float(_) => "float",
            Value::Double(_) => "double",
            Value::Decimal(_) => "decimal",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Date(_) => "date",
            Value::DateTime(_) => "datetime",
            Value::Timestamp(_) => "timestamp",
            Value::Duration(_) => "duration",
            Value::Json(_) => "json",
            Value::Bits(_) => "bits",
            Value::Array(_) => "array",
            Value::Quarantined(_) => "quarantined",
        }
    }
}

/// Formats a duration in microseconds as `[-]H:MM:SS[.ffffff]` (hours may exceed 24).
pub fn format_duration(micros: i64) -> String {
    let neg = micros < 0;
    let m = micros.unsigned_abs();
    let (secs, frac) = (m / 1_000_000, m % 1_000_000);
    let mut s = format!("{}{:02}:{:02}:{:02}", if neg { "-" } else { "" }, secs / 3600, (secs / 60) % 60, secs % 60);
    if frac != 0 {
        s.push_str(&format!(".{frac:06}"));
    }
    s
}

/// Renders a value for messages: short, never more than 64 characters.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Value::Null => "NULL".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Double(x) => x.to_string(),
            Value::Decimal(s) | Value::Json(s) | Value::Bits(s) => s.clone(),
            Value::Text(s) => format!("'{s}'"),
            Value::Bytes(b) => {
                let hex: String = b.iter().take(24).map(|x| format!("{x:02x}")).collect();
                format!("0x{hex}{}", if b.len() > 24 { "…" } else { "" })
            }
            Value::Date(d) => format!("'{d}'"),
            Value::DateTime(d) | Value::Timestamp(d) => format!("'{d}'"),
            Value::Duration(m) => format!("'{}'", format_duration(*m)),
            Value::Array(v) => format!("[{} items]", v.len()),
            Value::Quarantined(q) => format!("{} ({} {}, quarantined)", q.value, q.class, q.raw),
        };
        if s.chars().count() > 64 {
            let cut: String = s.chars().take(61).collect();
            write!(f, "{cut}…")
        } else {
            f.write_str(&s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_past_a_day_and_negative() {
        assert_eq!(format_duration(0), "00:00:00");
        assert_eq!(format_duration(-(838 * 3600 + 59 * 60 + 59) * 1_000_000), "-838:59:59");
        assert_eq!(format_duration(25 * 3600 * 1_000_000 + 5), "25:00:00.000005");
    }

    #[test]
    fn date_validity() {
        assert!(Date { year: 2024, month: 2, day: 29 }.is_valid());
        assert!(!Date { year: 2023, month: 2, day: 29 }.is_valid());
        assert!(!Date { year: 0, month: 0, day: 0 }.is_valid());
        assert!(Date { year: 2020, month: 5, day: 0 }.is_zero_or_partial());
    }

    #[test]
    fn display_is_bounded() {
        let long = Value::Text("x".repeat(500));
        assert!(long.to_string().chars().count() <= 64);
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: days since 1970-01-01 → (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod calendar_tests {
    use super::*;

    #[test]
    fn civil_days_round_trip() {
        for z in [-719_468i64, -1, 0, 1, 10_957, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m as i64, d as i64), z, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
