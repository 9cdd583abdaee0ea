//! The dialect-neutral heart of ferry: the schema model every source introspects into, the neutral
//! [`Value`] every source reads into, the canonical text form used to compare values across
//! engines, and the [`Source`] trait every source implements. This crate knows no database.

pub mod canonical;
pub mod catalog;
pub mod cdc;
pub mod cells;
pub mod code;
pub mod error;
pub mod schema;
pub mod source;
pub mod sqltext;
pub mod value;

pub use cells::{BadText, CellRule, CellRules, DateForm, OddCells};
pub use code::{ConvertedObject, Outcome, TargetColumn, TargetNames, ViewCheck};
pub use error::{ErrorKind, SourceError};
pub use schema::*;
pub use source::{
    read_rows, split_int_range, ByteSender, ChunkRange, Probe, RowBatch, RowSender, SnapshotPosition, SnapshotReader, Source, TableSelection, VerifySource,
};
pub use value::{Date, DateTime, Quarantined, Row, Value};

/// A connection URL with its password replaced by `***`, for messages and reports.
pub fn redact_url(url: &str) -> String {
    /// Keywords whose values are secrets, in URL query strings and libpq DSNs alike.
    fn secret(key: &str) -> bool {
        matches!(key.trim().to_ascii_lowercase().as_str(), "password" | "pass" | "pwd" | "sslpassword" | "passwd")
    }
    let Some(scheme_end) = url.find("://") else {
        // A libpq keyword/value string: `host=h user=u password='p q'`.
        if !url.contains('=') {
            return url.to_string();
        }
        let mut out = String::with_capacity(url.len());
        let mut rest = url;
        while let Some(eq) = rest.find('=') {
            let before = rest[..eq].trim_end();
            let key = &before[before.rfind(char::is_whitespace).map(|i| i + 1).unwrap_or(0)..];
            out.push_str(&rest[..=eq]);
            let after = rest[eq + 1..].trim_start();
            out.push_str(&rest[eq + 1..rest.len() - after.len()]);
            let value_len = if let Some(body) = after.strip_prefix('\'') {
                let mut i = 0;
                let b = body.as_bytes();
                while i < b.len() && b[i] != b'\'' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                (i + 2).min(after.len())
            } else {
                after.find(char::is_whitespace).unwrap_or(after.len())
            };
            out.push_str(if secret(key) { "***" } else { &after[..value_len] });
            rest = &after[value_len..];
        }
        out.push_str(rest);
        return out;
    };
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], Some(&url[q + 1..])),
        None => (url, None),
    };
    let rest = &head[scheme_end + 3..];
    let mut out = match rest.rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{}{}:***{}", &head[..scheme_end + 3], &rest[..colon], &rest[at..]),
            None => head.to_string(),
        },
        None => head.to_string(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if secret(&k.replace("%20", " ")) => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// `%XX` escapes of a URL query value decoded (invalid escapes kept as written); the TLS file
/// paths of both sources' URLs go through it.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(x) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact_url("mysql://root:s3cr@t@h:1/db"), "mysql://root:***@h:1/db");
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            super::redact_url("postgres://u@h/db?schema=app&password=p%40ss&sslmode=require"),
            "postgres://u@h/db?schema=app&password=***&sslmode=require"
        );
        assert_eq!(super::redact_url("postgres://u:x@h/db?PASSWORD=y"), "postgres://u:***@h/db?PASSWORD=***");
        assert_eq!(super::redact_url("host=h user=u password=secret dbname=d"), "host=h user=u password=*** dbname=d");
        assert_eq!(super::redact_url("host=h password = 'a \\' b' dbname=d"), "host=h password = *** dbname=d");
    }
}
