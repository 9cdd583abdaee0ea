//! Target errors, classified by SQLSTATE into what the caller can do.

use ferry_model::ErrorKind;
use std::fmt;

#[derive(Debug, Clone, thiserror::Error)]
pub struct TargetError {
    pub kind: ErrorKind,
    pub message: String,
    pub sqlstate: Option<String>,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl TargetError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TargetError { kind, message: message.into(), sqlstate: None }
    }
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

pub fn kind_of_sqlstate(code: &str) -> ErrorKind {
    match code {
        "42501" => ErrorKind::Privilege,
        "28P01" | "28000" => ErrorKind::Authentication,
        "3D000" | "42P01" | "3F000" | "42704" => ErrorKind::NotFound,
        "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" | "53300" => ErrorKind::Transient,
        c if c.starts_with("08") || c.starts_with("53") => ErrorKind::Transient,
        c if c.starts_with("22") || c.starts_with("23") => ErrorKind::BadData,
        _ => ErrorKind::Definite,
    }
}

impl From<tokio_postgres::Error> for TargetError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code().to_string();
            let kind = kind_of_sqlstate(&code);
            let mut msg = format!("PostgreSQL error {code}: {}", db.message());
            if let Some(d) = db.detail() {
                msg.push_str(&format!(" ({d})"));
            }
            if let Some(w) = db.where_() {
                msg.push_str(&format!(" [{}]", w.lines().next().unwrap_or_default()));
            }
            if kind == ErrorKind::Privilege {
                msg.push_str(" — grant the target user CREATE on the database (and on the target schema if it exists)");
            }
            return TargetError { kind, message: msg, sqlstate: Some(code) };
        }
        let text = e.to_string();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        let mut detail = String::new();
        while let Some(s) = src {
            detail = s.to_string();
            src = s.source();
        }
        let kind = if detail.contains("refused") || detail.contains("resolve") || detail.contains("lookup") {
            ErrorKind::Unreachable
        } else if e.is_closed() || text.contains("connection") || text.contains("timed out") {
            ErrorKind::Transient
        } else {
            ErrorKind::Definite
        };
        let message = if detail.is_empty() || text.contains(&detail) { text } else { format!("{text}: {detail}") };
        TargetError { kind, message: format!("PostgreSQL: {message}"), sqlstate: None }
    }
}
