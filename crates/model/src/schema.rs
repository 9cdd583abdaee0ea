//! The neutral schema model: what a source database holds, described without any dialect's
//! syntax. Sources fill it by introspection; `plan` turns it into a PostgreSQL plan.

use serde::Serialize;

/// One source database (MySQL database, PostgreSQL schema, SQLite file…).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Schema {
    pub name: String,
    /// Product and version as the server reports it, e.g. `MariaDB 10.11.6`.
    pub server_version: String,
    pub tables: Vec<Table>,
    /// Views, triggers, routines and events: not migrated, listed as action items.
    pub objects: Vec<SourceObject>,
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: Option<Key>,
    pub unique_keys: Vec<Key>,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
    pub checks: Vec<Check>,
    pub comment: Option<String>,
    /// The next AUTO_INCREMENT value the source would hand out, when it has one.
    pub auto_increment: Option<u64>,
    /// The source's row estimate (statistics, not a count).
    pub estimated_rows: u64,
    /// Storage engine or access method where the source has one (InnoDB, MyISAM…).
    pub engine: Option<String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
    /// Names the row for a message: `(film_id)=(12)` by its key, else by its position in the read.
    pub fn describe_row(&self, row: &[crate::Value], ordinal: u64) -> String {
        match self.row_identity() {
            Some(key) => {
                let vals: Vec<String> = key
                    .columns
                    .iter()
                    .map(|c| self.column_index(c).and_then(|i| row.get(i)).map(|v| v.to_string()).unwrap_or_default())
                    .collect();
                format!("key ({})=({})", key.columns.join(", "), vals.join(", "))
            }
            None => format!("row #{ordinal} (the table has no key)"),
        }
    }

    /// The columns that identify a row: the primary key, else the first unique key whose columns
    /// are all NOT NULL. `None` for a table without a usable key.
    pub fn row_identity(&self) -> Option<&Key> {
        self.primary_key.as_ref().or_else(|| {
            self.unique_keys.iter().find(|k| {
                k.columns.iter().all(|c| self.column(c).map(|c| !c.nullable).unwrap_or(false))
            })
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    /// The type exactly as the source spells it, e.g. `int(10) unsigned`.
    pub source_type: String,
    pub nullable: bool,
    pub default: Option<DefaultValue>,
    pub auto_increment: bool,
    /// MySQL `ON UPDATE CURRENT_TIMESTAMP`.
    pub on_update_current_timestamp: bool,
    /// A generated (computed) column's expression, in the source dialect.
    pub generated: Option<String>,
    pub charset: Option<String>,
    pub collation: Option<String>,
    pub comment: Option<String>,
}

/// A column type, neutral: what values it can hold, not how a dialect spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DataType {
    Bool,
    /// Integer of `bytes` storage bytes (1, 2, 3, 4, 8). `display_width` keeps MySQL's
    /// `tinyint(1)` hint.
    Int { bytes: u8, unsigned: bool, display_width: Option<u32> },
    Decimal { precision: u32, scale: u32, unsigned: bool },
    Float { unsigned: bool },
    Double { unsigned: bool },
    /// Fixed-length character string of `len` characters.
    Char { len: u32 },
    Varchar { len: u32 },
    /// Character large object of at most `max_bytes` bytes.
    Text { max_bytes: u64 },
    Binary { len: u32 },
    Varbinary { len: u32 },
    Blob { max_bytes: u64 },
    Date,
    /// Time of day or duration (MySQL TIME spans -838:59:59 to 838:59:59).
    Time { fsp: u8 },
    /// Date and time without time zone.
    DateTime { fsp: u8 },
    /// An instant: date and time stored as UTC.
    Timestamp { fsp: u8 },
    Year,
    Json,
    Enum { values: Vec<String> },
    Set { values: Vec<String> },
    Bit { len: u32 },
    /// Spatial type (`geometry`, `point`, …) with its SRID when the column has one.
    Geometry { kind: String, srid: Option<u32> },
    Uuid,
    /// A type ferry does not know; carried only with a user override.
    Unsupported { name: String },
}

impl DataType {
    pub fn is_temporal(&self) -> bool {
        matches!(self, DataType::Date | DataType::DateTime { .. } | DataType::Timestamp { .. })
    }
    pub fn is_textual(&self) -> bool {
        matches!(self, DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum DefaultValue {
    /// An explicit `DEFAULT NULL`.
    Null,
    /// A literal, unquoted, as text (`'abc'` is `abc`, `0.00` is `0.00`).
    Literal(String),
    /// `CURRENT_TIMESTAMP` / `now()` with its fractional precision.
    CurrentTimestamp,
    /// Any other expression, in the source dialect.
    Expression(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Key {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    BTree,
    Hash,
    FullText,
    Spatial,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexColumn {
    pub name: String,
    /// MySQL prefix index length in characters (or bytes for binary columns).
    pub prefix: Option<u32>,
    pub descending: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<IndexColumn>,
    pub unique: bool,
    pub kind: IndexKind,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FkAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl FkAction {
    pub fn parse(s: &str) -> Option<FkAction> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "NO ACTION" => FkAction::NoAction,
            "RESTRICT" => FkAction::Restrict,
            "CASCADE" => FkAction::Cascade,
            "SET NULL" => FkAction::SetNull,
            "SET DEFAULT" => FkAction::SetDefault,
            _ => return None,
        })
    }
    pub fn sql(self) -> &'static str {
        match self {
            FkAction::NoAction => "NO ACTION",
            FkAction::Restrict => "RESTRICT",
            FkAction::Cascade => "CASCADE",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    /// The referenced database/schema when it differs from the table's own.
    pub ref_schema: Option<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_delete: FkAction,
    pub on_update: FkAction,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    /// The check expression in the source dialect.
    pub expression: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    View,
    Trigger,
    Procedure,
    Function,
    Event,
}

impl ObjectKind {
    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::View => "view",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Function => "function",
            ObjectKind::Event => "event",
        }
    }
}

/// A schema object ferry does not migrate but reports with its SQL, for the user to port.
#[derive(Debug, Clone, Serialize)]
pub struct SourceObject {
    pub kind: ObjectKind,
    pub name: String,
    /// The table it belongs to (triggers).
    pub table: Option<String>,
    pub sql: String,
}
