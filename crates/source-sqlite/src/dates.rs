//! SQLite's four date forms read into ferry's values, as SQLite's own date functions read them:
//! ISO 8601 text (`YYYY-MM-DD[ T]HH:MM[:SS[.fff…]]`, an optional `Z` or `±HH:MM` that
//! [`parse_text`] applies to give UTC), unix seconds and milliseconds, and julian day numbers
//! ([`from_unix_ms`], [`from_julian`]: to the millisecond, as SQLite computes them). Verify's
//! canonical text is computed by SQLite itself (`strftime`), so a slip here shows as a difference.

use ferry_model::{Date, DateTime};

/// Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date-time `ms` milliseconds after 1970-01-01 00:00:00 UTC.
pub fn from_unix_ms(ms: i64) -> Option<DateTime> {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(DateTime {
        date: Date { year, month, day },
        hour: (rest / 3_600_000) as u8,
        minute: (rest / 60_000 % 60) as u8,
        second: (rest / 1000 % 60) as u8,
        micros: (rest % 1000) as u32 * 1000,
    })
}

/// Julian day number `jd` as SQLite reads it: rounded to the millisecond.
pub fn from_julian(jd: f64) -> Option<DateTime> {
    if !jd.is_finite() {
        return None;
    }
    let ijd = (jd * 86_400_000.0 + 0.5) as i64;
    from_unix_ms(ijd - 210_866_760_000_000)
}

/// Unix seconds as a real, as SQLite's `'unixepoch'` reads it: rounded to the millisecond.
pub fn from_unix_seconds_real(s: f64) -> Option<DateTime> {
    if !s.is_finite() {
        return None;
    }
    from_unix_ms(((s * 1000.0 + 210_866_760_000_000.0) + 0.5) as i64 - 210_866_760_000_000)
}

fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = s.get(at..at + n)?;
    part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0u32, |a, d| a * 10 + (d - b'0') as u32))
}

/// An ISO 8601 text in UTC (an offset applied), fractions beyond microseconds truncated.
pub fn parse_text(text: &str) -> Option<DateTime> {
    parse_text_zoned(text).map(|(d, _)| d)
}

/// [`parse_text`], and whether the text named its zone (`Z`, `±HH:MM`).
pub fn parse_text_zoned(text: &str) -> Option<(DateTime, bool)> {
    let s = text.trim().as_bytes();
    let year = digits(s, 0, 4)? as i32;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (digits(s, 5, 2)? as u8, digits(s, 8, 2)? as u8);
    let date = Date { year, month, day };
    if !date.is_valid() {
        return None;
    }
    let mut dt = DateTime { date, hour: 0, minute: 0, second: 0, micros: 0 };
    let mut i = 10;
    if matches!(s.get(i), Some(b' ' | b'T' | b't')) && s.get(i + 1).is_some_and(u8::is_ascii_digit) {
        dt.hour = digits(s, i + 1, 2)? as u8;
        if s.get(i + 3) != Some(&b':') {
            return None;
        }
        dt.minute = digits(s, i + 4, 2)? as u8;
        i += 6;
        if s.get(i) == Some(&b':') {
            dt.second = digits(s, i + 1, 2)? as u8;
            i += 3;
            if s.get(i) == Some(&b'.') {
                i += 1;
                let start = i;
                while s.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let frac = &s[start..i];
                let mut micros = 0u32;
                for k in 0..6 {
                    micros = micros * 10 + frac.get(k).map(|d| (d - b'0') as u32).unwrap_or(0);
                }
                dt.micros = micros;
            }
        }
        if dt.hour > 23 || dt.minute > 59 || dt.second > 59 {
            return None;
        }
    }
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    let zoned = s.get(i).is_some();
    let offset_minutes: i64 = match s.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == s.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let h = digits(s, i + 1, 2)? as i64;
            let m = if s.get(i + 3) == Some(&b':') { digits(s, i + 4, 2)? } else { digits(s, i + 3, 2)? } as i64;
            let len = if s.get(i + 3) == Some(&b':') { 6 } else { 5 };
            if i + len != s.len() || h > 14 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return None,
    };
    if offset_minutes == 0 {
        return Some((dt, zoned));
    }
    let ms = (days_from_civil(dt.date.year, dt.date.month, dt.date.day) * 86_400 + dt.hour as i64 * 3600 + dt.minute as i64 * 60 + dt.second as i64
        - offset_minutes * 60)
        * 1000;
    let mut out = from_unix_ms(ms)?;
    out.micros = dt.micros;
    Some((out, true))
}

/// Digits after the seconds' `.` of an ISO text.
pub fn fraction_digits(text: &str) -> u8 {
    match text.find('.') {
        Some(i) => text[i + 1..].bytes().take_while(u8::is_ascii_digit).count().min(255) as u8,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(d: Option<DateTime>) -> String {
        d.map(|d| d.to_string()).unwrap_or_else(|| "none".into())
    }

    #[test]
    fn iso_texts_read_as_sqlite_reads_them() {
        assert_eq!(text(parse_text("2009-01-01 00:00:00")), "2009-01-01 00:00:00");
        assert_eq!(text(parse_text("2009-01-01")), "2009-01-01 00:00:00");
        assert_eq!(text(parse_text("2009-01-01T10:20")), "2009-01-01 10:20:00");
        assert_eq!(text(parse_text("2009-01-01 10:20:30.5")), "2009-01-01 10:20:30.500000");
        assert_eq!(text(parse_text("2009-01-01 10:20:30.1234567")), "2009-01-01 10:20:30.123456");
        assert_eq!(text(parse_text("2009-01-01 01:00:00+02:00")), "2008-12-31 23:00:00");
        assert_eq!(text(parse_text("2009-01-01 23:30:00-01:00Z")), "none");
        assert_eq!(text(parse_text("2009-01-01 23:30:00Z")), "2009-01-01 23:30:00");
        assert_eq!(text(parse_text("2009-02-30")), "none");
        assert_eq!(text(parse_text("yesterday")), "none");
    }

    #[test]
    fn numbers_read_as_unix_times_and_julian_days() {
        assert_eq!(text(from_unix_ms(0)), "1970-01-01 00:00:00");
        assert_eq!(text(from_unix_ms(1_700_000_000_123)), "2023-11-14 22:13:20.123000");
        assert_eq!(text(from_unix_ms(-1000)), "1969-12-31 23:59:59");
        assert_eq!(text(from_julian(2_451_545.0)), "2000-01-01 12:00:00");
        assert_eq!(text(from_julian(2_440_587.5)), "1970-01-01 00:00:00");
        assert_eq!(text(from_unix_seconds_real(1.5)), "1970-01-01 00:00:01.500000");
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
