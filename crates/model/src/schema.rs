//! The neutral schema model: what a source database holds, described without any dialect's
//! syntax. Sources fill it by introspection; `plan` turns it into a PostgreSQL plan.

use serde::{Deserialize, Serialize};

/// One source database (MySQL database, PostgreSQL schema, SQLite file…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Schema {
    pub name: String,
    /// Product and version as the server reports it, e.g. `MariaDB 10.11.6`.
    pub server_version: String,
    pub tables: Vec<Table>,
    /// Views, triggers, routines and events: listed as action items, or (`native_objects`)
    /// created on the target after the load.
    pub objects: Vec<SourceObject>,
    /// The views, functions, procedures, aggregates, triggers and rules among `objects` are
    /// PostgreSQL's own SQL, written for `search_path` = this schema (a PostgreSQL source): the
    /// target creates them after the load ([`SourceObject::native`]).
    #[serde(default)]
    pub native_objects: bool,
    /// The output columns of the source's views (name, then columns as a table's are
    /// described), for `verify --objects`; sources that convert no views leave it empty.
    #[serde(default)]
    pub view_columns: Vec<(String, Vec<Column>)>,
    /// Enum and domain types of the source schema its columns use (PostgreSQL sources).
    #[serde(default)]
    pub types: Vec<UserType>,
    /// Sequences no column owns (defaults may call them: `nextval('t_id_seq')`).
    #[serde(default)]
    pub sequences: Vec<Sequence>,
    /// The questions about stored values this source's data can fail ([`crate::Probe`]),
    /// declared by the source: MySQL can hold zero dates, out-of-list ENUMs, durations beyond a
    /// day…; a source whose types promise what PostgreSQL's do declares none, and the plan asks
    /// it nothing. A model stored without the list is asked everything.
    #[serde(default = "crate::source::Probe::all")]
    pub probes: Vec<crate::source::Probe>,
}

/// A free-standing sequence, as the source defines it and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    pub name: String,
    /// `smallint`, `integer` or `bigint`.
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cache: i64,
    pub cycle: bool,
    /// The last value handed out, `None` when never called.
    pub last_value: Option<i64>,
}

/// Indexes and foreign keys defined on one partition only (not inherited from its parent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PartitionObjects {
    pub partition: String,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
}

/// A type defined in the source schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserType {
    pub name: String,
    pub kind: UserTypeKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UserTypeKind {
    Enum {
        values: Vec<String>,
    },
    /// `CREATE DOMAIN name AS base [NOT NULL] [DEFAULT d] [CHECK …]`, PostgreSQL text.
    Domain {
        base: String,
        not_null: bool,
        default: Option<String>,
        checks: Vec<String>,
    },
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
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
    /// A PostgreSQL partitioned table: its `PARTITION BY` clause (pg_get_partkeydef).
    #[serde(default)]
    pub partitioned_by: Option<String>,
    /// Its partitions: name and bound (`FOR VALUES FROM (…) TO (…)`, `DEFAULT`).
    #[serde(default)]
    pub partitions: Vec<(String, String)>,
    /// Storage engine or access method where the source has one (InnoDB, MyISAM…).
    pub engine: Option<String>,
    /// Indexes and foreign keys of single partitions.
    #[serde(default)]
    pub partition_objects: Vec<PartitionObjects>,
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
                let vals: Vec<String> =
                    key.columns.iter().map(|c| self.column_index(c).and_then(|i| row.get(i)).map(|v| v.to_string()).unwrap_or_default()).collect();
                format!("key ({})=({})", key.columns.join(", "), vals.join(", "))
            }
            None => format!("row #{ordinal} (the table has no key)"),
        }
    }

    /// The columns that identify a row: the primary key, else the first unique key whose columns
    /// are all NOT NULL. `None` for a table without a usable key.
    pub fn row_identity(&self) -> Option<&Key> {
        self.primary_key.as_ref().or_else(|| self.unique_keys.iter().find(|k| k.columns.iter().all(|c| self.column(c).map(|c| !c.nullable).unwrap_or(false))))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The same expression in PostgreSQL's SQL (column references standard double-quoted
    /// source names), where the source could translate it: the target computes the column
    /// (`GENERATED ALWAYS AS (…) STORED`) and its values are not copied.
    #[serde(default)]
    pub generated_postgres: Option<String>,
    pub charset: Option<String>,
    /// The source's collation name, as the source spells it (shown in reports).
    pub collation: Option<String>,
    /// The collation compares case-insensitively (MySQL `*_ci`, SQL Server `*_CI_*`, SQLite
    /// `NOCASE`): the source decides, the plan only warns about the difference.
    #[serde(default)]
    pub case_insensitive: bool,
    pub comment: Option<String>,
    /// How the source stores the values where the declared type does not say (SQLite date
    /// columns: `unixepoch`, `unixepoch-ms` or `julianday` for numeric cells, text always
    /// ISO 8601): the reader and verify's canonical text both follow it.
    #[serde(default)]
    pub stored_as: Option<String>,
    /// What the source learned from the stored values that the declared type does not say, and
    /// the type it chose because of it (SQLite: "declared VARCHAR(20), holds values up to 40
    /// characters → text"): the plan shows it as a warning.
    #[serde(default)]
    pub profile_note: Option<String>,
    /// A stored cell the type cannot hold is set aside (`Value::Quarantined`, NULL on the
    /// target, the raw cell in `ferry.quarantine`) instead of stopping the table.
    #[serde(default)]
    pub quarantine: bool,
    /// Stored text that is not UTF-8 or holds a NUL is written with each bad sequence replaced
    /// by U+FFFD (and the raw cell set aside, counted) instead of stopping the table.
    #[serde(default)]
    pub replace_bad_text: bool,
}

impl Column {
    /// A nullable column without default or any other attribute.
    pub fn new(name: impl Into<String>, data_type: DataType, source_type: impl Into<String>) -> Column {
        Column {
            name: name.into(),
            data_type,
            source_type: source_type.into(),
            nullable: true,
            default: None,
            auto_increment: false,
            on_update_current_timestamp: false,
            generated: None,
            charset: None,
            collation: None,
            case_insensitive: false,
            comment: None,
            stored_as: None,
            profile_note: None,
            quarantine: false,
            replace_bad_text: false,
            generated_postgres: None,
        }
    }
}

/// A column type, neutral: what values it can hold, not how a dialect spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DataType {
    Bool,
    /// Integer of `bytes` storage bytes (1, 2, 3, 4, 8). `display_width` keeps MySQL's
    /// `tinyint(1)` hint.
    Int {
        bytes: u8,
        unsigned: bool,
        display_width: Option<u32>,
    },
    Decimal {
        precision: u32,
        scale: u32,
        unsigned: bool,
    },
    Float {
        unsigned: bool,
    },
    Double {
        unsigned: bool,
    },
    /// Fixed-length character string of `len` characters.
    Char {
        len: u32,
    },
    Varchar {
        len: u32,
    },
    /// Character large object of at most `max_bytes` bytes.
    Text {
        max_bytes: u64,
    },
    Binary {
        len: u32,
    },
    Varbinary {
        len: u32,
    },
    Blob {
        max_bytes: u64,
    },
    Date,
    /// Time of day or duration (MySQL TIME spans -838:59:59 to 838:59:59). `fsp` everywhere:
    /// fractional-second digits, 0 to 9 (SQL Server keeps 7, 100 ns; PostgreSQL 6).
    Time {
        fsp: u8,
    },
    /// Date and time without time zone.
    DateTime {
        fsp: u8,
    },
    /// An instant: date and time stored as UTC.
    Timestamp {
        fsp: u8,
    },
    /// An instant stored with the UTC offset it was written with (SQL Server `datetimeoffset`):
    /// values travel as the instant; the offset itself has no PostgreSQL column type.
    DateTimeOffset {
        fsp: u8,
    },
    /// A currency amount of `bytes` storage (SQL Server `money` 8, `smallmoney` 4): exact, four
    /// decimal places.
    Money {
        bytes: u8,
    },
    /// An XML document.
    Xml,
    Year,
    Json,
    Enum {
        values: Vec<String>,
    },
    Set {
        values: Vec<String>,
    },
    Bit {
        len: u32,
    },
    /// Spatial type (`geometry`, `point`, …) with its SRID when the column has one.
    Geometry {
        kind: String,
        srid: Option<u32>,
    },
    Uuid,
    /// A PostgreSQL source's type, carried over as written (`integer[]`, `inet`, `tstzrange`,
    /// `numeric(10,2)`): the target has the very same type. `user_type`: an enum or domain of the
    /// source schema (see [`Schema::types`]), created in the target schema first.
    Native {
        name: String,
        user_type: bool,
    },
    /// A column whose cells may each hold a different storage class (SQLite: the declared type
    /// only sets an affinity). A source must profile the stored values and choose a type before
    /// planning; one left like this is refused by the plan, naming the column.
    Mixed {
        declared: String,
    },
    /// A type ferry does not know; carried only with a user override.
    Unsupported {
        name: String,
    },
}

impl DataType {
    pub fn is_temporal(&self) -> bool {
        matches!(self, DataType::Date | DataType::DateTime { .. } | DataType::Timestamp { .. } | DataType::DateTimeOffset { .. })
    }
    pub fn is_textual(&self) -> bool {
        matches!(self, DataType::Char { .. } | DataType::Varchar { .. } | DataType::Text { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum DefaultValue {
    /// An explicit `DEFAULT NULL`.
    Null,
    /// A literal, unquoted, as text (`'abc'` is `abc`, `0.00` is `0.00`; a bit value as its
    /// decimal number; an instant in UTC).
    Literal(String),
    /// `CURRENT_TIMESTAMP` / `now()` with its fractional precision.
    CurrentTimestamp,
    /// Today's date (MySQL `curdate()`, SQL Server `CAST(getdate() AS date)`).
    CurrentDate,
    /// A new random UUID per row (MySQL `uuid()`, SQL Server `newid()`).
    NewUuid,
    /// A zero or partial date (`0000-00-00`, `2020-00-10`), as the source spelled it: the
    /// plan's zero-date rule decides what it becomes.
    ZeroDate(String),
    /// Any other expression, in the source dialect.
    Expression(String),
    /// An expression already in PostgreSQL (a PostgreSQL source): used as written.
    Native(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    BTree,
    Hash,
    FullText,
    Spatial,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexColumn {
    pub name: String,
    /// MySQL prefix index length in characters (or bytes for binary columns).
    pub prefix: Option<u32>,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<IndexColumn>,
    pub unique: bool,
    pub kind: IndexKind,
    pub comment: Option<String>,
    /// Non-key columns carried in the index (SQL Server `INCLUDE`), PostgreSQL's `INCLUDE` too.
    #[serde(default)]
    pub include: Vec<String>,
    /// A filtered (partial) index's condition, column references in standard double quotes.
    #[serde(default)]
    pub filter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    /// The referenced database/schema when it differs from the table's own.
    pub ref_schema: Option<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_delete: FkAction,
    pub on_update: FkAction,
    /// The source does not vouch for the existing rows (SQL Server: untrusted or disabled): the
    /// target creates it `NOT VALID`, so new rows are checked and old ones are not.
    #[serde(default)]
    pub not_valid: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// The check expression: SQL whose column references are standard double-quoted
    /// identifiers (`"qty" > 0`; the source rewrites its own quoting) so the plan can rename them;
    /// the rest as the source wrote it (functions may still need translating).
    pub expression: String,
    /// As [`ForeignKey::not_valid`]: created `NOT VALID` (existing rows unchecked).
    #[serde(default)]
    pub not_valid: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    View,
    Trigger,
    Procedure,
    Function,
    Event,
    /// An index ferry does not create (expression, partial, GIN/GiST…): its SQL to run.
    Index,
    /// A constraint ferry does not create (exclusion).
    Constraint,
    /// A sequence no column owns.
    Sequence,
    /// Table inheritance (`INHERITS`): the child is loaded as a table of its own (its rows
    /// only), then made a child again (`ALTER TABLE … INHERIT`, a native object).
    Inheritance,
    /// A rewrite rule (`CREATE RULE`).
    Rule,
    /// Row-level security: a table's `ENABLE ROW LEVEL SECURITY` or one of its policies.
    Policy,
    /// Extended planner statistics (`CREATE STATISTICS`).
    Statistics,
    /// A virtual table (SQLite FTS, R*Tree…): its module has no PostgreSQL equivalent.
    VirtualTable,
    /// A composite, range or base type ferry does not create (enums and domains it does).
    Type,
    /// A foreign table (its server and options).
    ForeignTable,
    /// An operator or operator class.
    Operator,
    /// A collation.
    Collation,
    /// A text search configuration or dictionary.
    TextSearch,
    /// An encoding conversion.
    Conversion,
    /// A statement of a script source that is neither schema nor data ferry carries (or that
    /// could not be read), with its text.
    Statement,
}

impl ObjectKind {
    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::View => "view",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Function => "function",
            ObjectKind::Event => "event",
            ObjectKind::Index => "index",
            ObjectKind::Constraint => "constraint",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Inheritance => "inheritance",
            ObjectKind::Rule => "rule",
            ObjectKind::Policy => "row security",
            ObjectKind::Statistics => "statistics",
            ObjectKind::VirtualTable => "virtual table",
            ObjectKind::Type => "type",
            ObjectKind::ForeignTable => "foreign table",
            ObjectKind::Operator => "operator",
            ObjectKind::Collation => "collation",
            ObjectKind::TextSearch => "text search",
            ObjectKind::Conversion => "conversion",
            ObjectKind::Statement => "statement",
        }
    }
}

/// A schema object ferry does not migrate but reports with its SQL, for the user to port (or,
/// from a PostgreSQL source, creates after the load: [`SourceObject::native`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceObject {
    pub kind: ObjectKind,
    pub name: String,
    /// The table it belongs to (triggers).
    pub table: Option<String>,
    pub sql: String,
}

impl SourceObject {
    /// Created on the target after the load (in a schema whose objects are PostgreSQL's own):
    /// views, functions, procedures, aggregates, triggers, rules, row security, statistics and
    /// table inheritance; the rest stays listed.
    pub fn native(&self, schema: &Schema) -> bool {
        schema.native_objects
            && matches!(
                self.kind,
                ObjectKind::View
                    | ObjectKind::Function
                    | ObjectKind::Procedure
                    | ObjectKind::Trigger
                    | ObjectKind::Rule
                    | ObjectKind::Policy
                    | ObjectKind::Statistics
                    | ObjectKind::Inheritance
            )
    }
}

/// SQL LIKE: `%` any run, `_` one character, a backslash escapes; ASCII case-insensitive. The one
/// matcher of table patterns (rules, `ferry erd --tables`, `ferry diff` selections).
pub fn like(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some('_') => !s.is_empty() && go(&p[1..], &s[1..]),
            Some('\\') if p.len() > 1 => !s.is_empty() && p[1].eq_ignore_ascii_case(&s[0]) && go(&p[2..], &s[1..]),
            Some(c) => !s.is_empty() && c.eq_ignore_ascii_case(&s[0]) && go(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    go(&p, &s)
}

/// One change an `ALTER TABLE` makes, in neutral terms (the source dialect's parser fills it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlterOp {
    AddColumn {
        column: Column,
        position: ColumnPosition,
    },
    DropColumn(String),
    RenameColumn {
        from: String,
        to: String,
    },
    /// MODIFY / CHANGE: column `name` becomes `column` (whose name may differ: a rename).
    ModifyColumn {
        name: String,
        column: Column,
        position: ColumnPosition,
    },
    AddIndex(Index),
    DropIndex(String),
}

/// Where an added or modified column goes (MySQL's `FIRST` / `AFTER c`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ColumnPosition {
    /// Where it was (modify) or last (add).
    Unchanged,
    First,
    After(String),
}

impl Table {
    /// The table after `ops`, applied in order as the source applies them: a dropped column
    /// leaves every key, index and foreign key it was part of (an index left without columns
    /// goes), a renamed one is renamed in them too. Err names what does not fit (a column that
    /// does not exist, or one added twice): the source would have refused the statement, so ferry's
    /// model of the table is not the source's.
    pub fn altered(&self, ops: &[AlterOp]) -> Result<Table, String> {
        let mut t = self.clone();
        for op in ops {
            match op {
                AlterOp::AddColumn { column, position } => {
                    if t.column(&column.name).is_some() {
                        return Err(format!("column `{}` already exists in ferry's model of `{}`", column.name, t.name));
                    }
                    let at = t.position_for(position, t.columns.len())?;
                    t.columns.insert(at, column.clone());
                }
                AlterOp::DropColumn(name) => {
                    let i = t.existing(name)?;
                    t.columns.remove(i);
                    t.forget_column(name);
                }
                AlterOp::RenameColumn { from, to } => {
                    let i = t.existing(from)?;
                    t.columns[i].name = to.clone();
                    t.rename_column(from, to);
                }
                AlterOp::ModifyColumn { name, column, position } => {
                    let i = t.existing(name)?;
                    if column.name != *name && t.column(&column.name).is_some() {
                        return Err(format!("column `{}` already exists in ferry's model of `{}`", column.name, t.name));
                    }
                    let mut c = column.clone();
                    // MODIFY does not touch AUTO_INCREMENT's key membership; the key columns stay.
                    if c.comment.is_none() {
                        c.comment = t.columns[i].comment.clone();
                    }
                    t.columns.remove(i);
                    let at = match position {
                        ColumnPosition::Unchanged => i,
                        p => t.position_for(p, i)?,
                    };
                    t.columns.insert(at, c);
                    if column.name != *name {
                        t.rename_column(name, &column.name);
                    }
                }
                AlterOp::AddIndex(ix) => {
                    for c in &ix.columns {
                        t.existing(&c.name)?;
                    }
                    if ix.unique && ix.columns.iter().all(|c| c.prefix.is_none()) {
                        t.unique_keys.push(Key { name: ix.name.clone(), columns: ix.columns.iter().map(|c| c.name.clone()).collect() });
                    }
                    t.indexes.push(ix.clone());
                }
                AlterOp::DropIndex(name) => {
                    t.indexes.retain(|i| &i.name != name);
                    t.unique_keys.retain(|k| &k.name != name);
                }
            }
        }
        Ok(t)
    }

    fn existing(&self, name: &str) -> Result<usize, String> {
        self.column_index(name).ok_or_else(|| format!("column `{name}` is not in ferry's model of `{}`", self.name))
    }

    fn position_for(&self, p: &ColumnPosition, unchanged: usize) -> Result<usize, String> {
        Ok(match p {
            ColumnPosition::Unchanged => unchanged,
            ColumnPosition::First => 0,
            ColumnPosition::After(c) => self.existing(c)? + 1,
        })
    }

    fn forget_column(&mut self, name: &str) {
        let keep = |cols: &mut Vec<String>| cols.retain(|c| c != name);
        if let Some(pk) = &mut self.primary_key {
            keep(&mut pk.columns);
            if pk.columns.is_empty() {
                self.primary_key = None;
            }
        }
        for k in &mut self.unique_keys {
            keep(&mut k.columns);
        }
        self.unique_keys.retain(|k| !k.columns.is_empty());
        for ix in &mut self.indexes {
            ix.columns.retain(|c| c.name != name);
        }
        self.indexes.retain(|i| !i.columns.is_empty());
        self.foreign_keys.retain(|f| !f.columns.iter().any(|c| c == name));
    }

    fn rename_column(&mut self, from: &str, to: &str) {
        let ren = |c: &mut String| {
            if c == from {
                *c = to.to_string();
            }
        };
        if let Some(pk) = &mut self.primary_key {
            pk.columns.iter_mut().for_each(ren);
        }
        for k in &mut self.unique_keys {
            k.columns.iter_mut().for_each(ren);
        }
        for ix in &mut self.indexes {
            ix.columns.iter_mut().for_each(|c| ren(&mut c.name));
        }
        for f in &mut self.foreign_keys {
            f.columns.iter_mut().for_each(ren);
        }
    }
}

#[cfg(test)]
mod alter_tests {
    use super::*;

    fn col(name: &str) -> Column {
        Column::new(name, DataType::Int { bytes: 4, unsigned: false, display_width: None }, "int")
    }

    fn table() -> Table {
        Table {
            name: "t".into(),
            columns: vec![col("id"), col("a"), col("b")],
            primary_key: Some(Key { name: "PRIMARY".into(), columns: vec!["id".into()] }),
            indexes: vec![Index {
                name: "ab".into(),
                columns: vec![
                    IndexColumn { name: "a".into(), prefix: None, descending: false },
                    IndexColumn { name: "b".into(), prefix: None, descending: false },
                ],
                unique: false,
                kind: IndexKind::BTree,
                comment: None,
                filter: None,
                include: vec![],
            }],
            ..Default::default()
        }
    }

    fn names(t: &Table) -> Vec<&str> {
        t.columns.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn columns_are_added_dropped_renamed_and_moved_like_mysql_does() {
        let t = table()
            .altered(&[
                AlterOp::AddColumn { column: col("z"), position: ColumnPosition::Unchanged },
                AlterOp::AddColumn { column: col("f"), position: ColumnPosition::First },
                AlterOp::AddColumn { column: col("x"), position: ColumnPosition::After("id".into()) },
            ])
            .unwrap();
        assert_eq!(names(&t), ["f", "id", "x", "a", "b", "z"]);
        let t = t
            .altered(&[
                AlterOp::DropColumn("a".into()),
                AlterOp::RenameColumn { from: "b".into(), to: "bb".into() },
                AlterOp::ModifyColumn { name: "id".into(), column: col("key"), position: ColumnPosition::Unchanged },
            ])
            .unwrap();
        assert_eq!(names(&t), ["f", "key", "x", "bb", "z"]);
        assert_eq!(t.primary_key.as_ref().unwrap().columns, ["key"], "renamed in the key");
        assert_eq!(t.indexes[0].columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["bb"], "dropped from the index, renamed in it");
        let t = t.altered(&[AlterOp::DropColumn("bb".into())]).unwrap();
        assert!(t.indexes.is_empty(), "an index without columns goes");
    }

    #[test]
    fn ops_that_do_not_fit_the_model_are_refused() {
        assert!(table().altered(&[AlterOp::DropColumn("nope".into())]).unwrap_err().contains("`nope`"));
        assert!(table().altered(&[AlterOp::AddColumn { column: col("a"), position: ColumnPosition::Unchanged }]).is_err());
        assert!(table().altered(&[AlterOp::AddColumn { column: col("c"), position: ColumnPosition::After("zz".into()) }]).is_err());
    }
}
