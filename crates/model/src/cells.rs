//! Rules for stored cells a source's declared types do not describe (SQLite, where any cell
//! may hold any storage class): what the user chose for each column, handed to the source
//! before it introspects ([`CellRules::for_column`]), so the type it chooses and what its
//! reader does with a cell that does not fit follow the user's rule rather than a guess.
//! Neutral: the config crate fills them, a source reads them; no dialect here.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Cells whose storage class the declared type does not hold (`'toto'` in an INTEGER column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OddCells {
    /// The column takes a type that holds every stored value (INTEGER holding text → text),
    /// said in the plan.
    #[default]
    Widen,
    /// The column keeps the declared type; each odd cell is NULL on the target and its raw
    /// value is kept in `ferry.quarantine` (table, key, column, value, reason), counted in the
    /// report and checked by verify. A NOT NULL column holding odd cells loses NOT NULL.
    Quarantine,
}

/// Stored text PostgreSQL text cannot hold (bytes that are not UTF-8, a NUL).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadText {
    /// The column becomes `bytea`, every byte kept (said in the plan).
    #[default]
    Bytea,
    /// The column stays text; a load meeting such a cell stops the table naming table, column
    /// and row.
    Error,
    /// The column stays text; each bad sequence (and NUL) becomes U+FFFD, the raw cell is kept
    /// in `ferry.quarantine` and counted.
    Replace,
}

/// How a date column's numeric cells are read (ISO 8601 texts are always dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum DateForm {
    /// Only ISO 8601 texts are dates; numbers are odd cells.
    #[serde(rename = "iso")]
    Iso,
    /// Seconds since 1970-01-01 UTC.
    #[serde(rename = "unixepoch")]
    UnixSeconds,
    /// Milliseconds since 1970-01-01 UTC.
    #[serde(rename = "unixepoch-ms")]
    UnixMillis,
    /// Julian day numbers (SQLite's `julianday()`).
    #[serde(rename = "julianday")]
    Julian,
}

impl DateForm {
    /// The `Column::stored_as` name of numeric cells in this form (None: numbers are not dates).
    pub fn stored_as(self) -> Option<&'static str> {
        match self {
            DateForm::Iso => None,
            DateForm::UnixSeconds => Some("unixepoch"),
            DateForm::UnixMillis => Some("unixepoch-ms"),
            DateForm::Julian => Some("julianday"),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DateForm::Iso => "iso",
            DateForm::UnixSeconds => "unixepoch",
            DateForm::UnixMillis => "unixepoch-ms",
            DateForm::Julian => "julianday",
        }
    }
}

/// One column's rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellRule {
    pub odd_cells: OddCells,
    pub bad_text: BadText,
    /// Forces how the column's cells are read as dates (even a column declared INTEGER).
    pub date_form: Option<DateForm>,
    /// The user overrode the column's type to a text type: a source that has a text form of
    /// its own for the value reads that (SQL Server date-times keep their 100 ns digit).
    pub read_as_text: bool,
    /// Keep a SQL Server `datetimeoffset`'s offset in a companion column `<name>_offset`.
    pub keep_offset: bool,
    /// The user overrode the column's type to `json`/`jsonb`: a SQL Server `sql_variant` is read
    /// as the document `{"type": its base type, "value": its text}`.
    pub read_as_json: bool,
}

/// Every column's rules: a default and per-column exceptions, by source table and column name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellRules {
    pub default: CellRule,
    pub columns: BTreeMap<(String, String), CellRule>,
}

impl CellRules {
    pub fn for_column(&self, table: &str, column: &str) -> CellRule {
        self.columns.get(&(table.to_string(), column.to_string())).copied().unwrap_or(self.default)
    }
}
