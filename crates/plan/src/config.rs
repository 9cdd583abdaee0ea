//! The user's configuration (`ferry.toml`): where to read, where to write, and the rules that
//! shape the target. The same [`Config`] drives `plan`, `migrate` and (later) CDC apply, so a
//! table or column is transformed identically whichever path carries its rows.
//!
//! ```toml
//! [source]
//! url = "mysql://ferry@db1:3306/shop"
//! [target]
//! url = "postgres://ferry@pg1/app"
//! schema = "shop"                   # default: the source database name, per identifier rule
//! [rules]
//! include = ["%"]                   # LIKE patterns: % any run, _ one character
//! exclude = ["tmp\\_%"]
//! identifiers = "snake_case"        # lower (default for MySQL) | snake_case | preserve (default for PostgreSQL)
//! zero_dates = "null"               # error (default) | null | -infinity
//! enums = "type"                    # type (default) | check
//! tinyint1 = "auto"                 # auto (default) | boolean | smallint
//! [tables.Customer]
//! rename = "client"
//! [tables.Customer.columns.Email]
//! rename = "email_address"
//! type = "citext"
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub source: Endpoint,
    #[serde(default)]
    pub target: TargetConfig,
    #[serde(default)]
    pub rules: Rules,
    /// Per-table rules, keyed by the source table name.
    #[serde(default)]
    pub tables: BTreeMap<String, TableRule>,
    #[serde(default)]
    pub migrate: MigrateConfig,
    #[serde(default)]
    pub hooks: HooksConfig,
    /// The final hop: target tables of a new design computed from the landing tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reshape: Option<ReshapeConfig>,
    /// What `verify --objects` checks beyond the converted views.
    #[serde(default)]
    pub checks: ChecksConfig,
}

/// `[checks]`: calls of converted functions `verify --objects` runs on both sides.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    /// Expressions calling the source's functions, as the source writes them
    /// (`"get_customer_balance(1, '2005-08-01')"`); the target runs the same text with the
    /// search path on the target schema.
    #[serde(default)]
    pub calls: Vec<String>,
}

/// `[reshape]`: the target's own design, each table a mapping over the 1:1 landing tables
/// (`target.schema`), computed by PostgreSQL in migrate, kept exact by sync, proven by verify.
/// Expressions are PostgreSQL SQL over the landing table's columns (their landing names, as
/// `ferry plan` shows them); `s` is the row's table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReshapeConfig {
    /// `COMMENT ON` every target table and column naming its source and expression.
    #[serde(default = "yes")]
    pub comments: bool,
    /// Words of generated names replaced (`cust = "customer"`, `nm = "name"`): the rule for
    /// names `[[reshape.schemas]]` and pivots derive, and for columns a mapping takes whole.
    #[serde(default)]
    pub words: BTreeMap<String, String>,
    /// Whole landing tables by pattern into a schema, names by the word rule.
    #[serde(default)]
    pub schemas: Vec<SchemaRule>,
    /// Merged lookup tables: many source lookup tables → one table with stable new ids.
    #[serde(default)]
    pub lookups: BTreeMap<String, LookupConfig>,
    /// Target tables (or parts of one: several mappings may share `into`), by mapping name.
    #[serde(default)]
    pub tables: BTreeMap<String, MappingConfig>,
    /// Entity-attribute-value tables pivoted.
    #[serde(default)]
    pub pivots: BTreeMap<String, PivotConfig>,
}

fn yes() -> bool {
    true
}

/// `{ tables = ["tblCust%"], schema = "crm", strip_prefix = "tbl" }`: each matching landing table
/// (not used by any other mapping) becomes `schema.<name>`, every column kept.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRule {
    /// LIKE patterns over source table names.
    #[serde(deserialize_with = "one_or_many")]
    pub tables: Vec<String>,
    pub schema: String,
    /// Cut from the start of table names (case-insensitive) before the word rule.
    pub strip_prefix: Option<String>,
}

/// `[reshape.lookups.<name>]`: one target table `into` (`id`, `kind`, `source_table`,
/// `original_id`, `name`, `description`) filled from every source table in `sources`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LookupConfig {
    /// `schema.table`.
    pub into: String,
    #[serde(default)]
    pub sources: BTreeMap<String, LookupSource>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LookupSource {
    /// The column holding the original id (integer or character code).
    pub id: String,
    /// Expressions for the name and description.
    pub name: String,
    pub description: Option<String>,
    /// The `kind` value (default: the source table's name).
    pub kind: Option<String>,
}

/// `[reshape.tables.<name>]`: rows of one landing table into a target table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// `schema.table`; default: the mapping's name.
    pub into: Option<String>,
    /// The source table (source or landing name).
    pub from: String,
    /// Only rows for which this holds (in sync: a row starting or stopping to match becomes
    /// an insert or a delete).
    #[serde(rename = "where")]
    pub where_: Option<String>,
    /// Target key columns; default: the columns that copy the source key.
    #[serde(default)]
    pub key: Vec<String>,
    /// Target columns in order: an expression, or a table (`column` + `map`, `lookup`, `table`).
    #[serde(default, deserialize_with = "ordered", serialize_with = "ordered_out")]
    pub columns: Vec<(String, ColumnMapping)>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ColumnMapping {
    Expr(String),
    Detail(Box<ColumnDetail>),
}

/// One target column in detail. `expr` alone, or `column` with `map` (value map), `lookup` (a
/// merged lookup's id for the code in `column`, from lookup source table `source`), or
/// `table` + `match` + `value` (a value of another landing table's row).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDetail {
    pub expr: Option<String>,
    pub column: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<BTreeMap<String, String>>,
    /// A value the map does not hold: `error` (default), `null` or `keep`.
    #[serde(rename = "else")]
    pub else_: Option<String>,
    pub lookup: Option<String>,
    pub source: Option<String>,
    pub table: Option<String>,
    #[serde(rename = "match")]
    pub match_: Option<String>,
    pub value: Option<String>,
}

/// `[reshape.pivots.<name>]`: an EAV table → a table per form with a column per attribute (or
/// a `jsonb` document per entity).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PivotConfig {
    pub from: String,
    /// Columns naming the entity: the target key.
    #[serde(deserialize_with = "one_or_many")]
    pub entity: Vec<String>,
    /// One table per value of this column (`prefix` + the value, sanitised).
    pub form: Option<String>,
    pub attribute: String,
    pub value: String,
    /// Target schema (form tables), or `schema.table` (one table: no `form`, or `jsonb`).
    pub into: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub jsonb: bool,
    #[serde(rename = "where")]
    pub where_: Option<String>,
}

fn ordered_out<S: serde::Serializer, T: Serialize>(v: &[(String, T)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, x) in v {
        m.serialize_entry(k, x)?;
    }
    m.end()
}

/// A TOML table as its entries in document order.
fn ordered<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<(String, T)>, D::Error> {
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
        type Value = Vec<(String, T)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a table of columns")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, T>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(V(std::marker::PhantomData))
}

/// `[hooks]`: SQL files run on the target at four stages of `ferry migrate`, each file in its
/// own transaction (so no `BEGIN`/`COMMIT` inside, nor statements that refuse a transaction,
/// like `CREATE INDEX CONCURRENTLY`). A stage takes one file or a list; relative paths are read
/// from the config file's folder.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// Before the schema is created (it may not exist yet).
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub before_schema: Vec<String>,
    /// Once the planned tables exist, empty, before their keys and indexes.
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub after_schema: Vec<String>,
    /// Before the first row is read.
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub before_data: Vec<String>,
    /// Once every row is loaded and every key, index and foreign key is built.
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub after_data: Vec<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub url: Option<String>,
    /// Target schema; default: the source database name after the identifier rule.
    pub schema: Option<String>,
    /// A Citus target: which tables are distributed (and by what) or reference tables.
    #[serde(default)]
    pub citus: Option<CitusConfig>,
}

/// `[target.citus]`: tables by source name. Tables in neither list stay local (on the
/// coordinator).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CitusConfig {
    /// Copied to every node (small lookup tables that distributed tables reference).
    #[serde(default)]
    pub reference: Vec<String>,
    /// Sharded by a column: `orders = { column = "customer_id", colocate_with = "customers" }`.
    #[serde(default)]
    pub distributed: BTreeMap<String, DistributedTable>,
    /// Foreign-key actions Citus cannot run (`ON UPDATE CASCADE / SET NULL / SET DEFAULT`, `ON
    /// DELETE SET NULL / SET DEFAULT` on a key holding the distribution column) become `NO
    /// ACTION` on the target, each listed as an action item. Off: the plan refuses such keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub downgrade_fk_actions: bool,
    /// Schema-based sharding: the whole target schema becomes one Citus distributed schema
    /// (`citus_schema_distribute`): every table one shard, all of them on one node, colocated —
    /// for multi-tenant databases with a schema per tenant. Not with `reference` / `distributed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub schema_based: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DistributedTable {
    /// The distribution column (source name).
    pub column: String,
    /// Another distributed table (source name) whose shards this one shares.
    pub colocate_with: Option<String>,
    /// Add the distribution column to the target's primary and unique keys (and to the foreign
    /// keys that reference them from colocated tables) when the source cannot change: Citus
    /// enforces uniqueness per shard. The source key alone is then no longer unique-checked by
    /// the target (the assessment says so); sync still applies by the source key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extend_key: bool,
    /// Shards of this table (`create_distributed_table(…, shard_count => n)`); default: Citus's
    /// `citus.shard_count`. Not with `colocate_with` (colocated tables share the shards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierCase {
    /// `CustomerId` → `customerid`.
    #[default]
    Lower,
    /// `CustomerId` → `customer_id` (pgloader's `snake_case`).
    SnakeCase,
    /// Kept exactly (and therefore quoted in every query).
    Preserve,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroDatePolicy {
    /// A zero or partial date (`0000-00-00`, `2020-00-10`) stops the table with an error naming
    /// table, column and key.
    #[default]
    Error,
    /// Such a date becomes NULL (counted in the report). A NOT NULL column the plan's probe
    /// found zero dates in loses its NOT NULL (said in the assessment); a zero-date default
    /// becomes no default.
    Null,
    /// Such a date becomes `-infinity` (counted), which PostgreSQL dates and timestamps hold: NOT
    /// NULL columns stay NOT NULL, a zero-date default becomes `DEFAULT '-infinity'`, and every
    /// zero date stays distinguishable from real dates and from NULL.
    #[serde(rename = "-infinity")]
    NegInfinity,
}

impl ZeroDatePolicy {
    pub fn label(self) -> &'static str {
        match self {
            ZeroDatePolicy::Error => "error",
            ZeroDatePolicy::Null => "null",
            ZeroDatePolicy::NegInfinity => "-infinity",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnumStyle {
    /// A PostgreSQL enum type per ENUM column.
    #[default]
    Type,
    /// `text` with a CHECK listing the values.
    Check,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tinyint1 {
    /// boolean when every stored value is 0 or 1 (probed), else smallint.
    #[default]
    Auto,
    Boolean,
    Smallint,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IfExists {
    /// Stop when a planned table already exists in the target.
    #[default]
    Fail,
    /// Drop planned tables (and ferry's enum types) and create them again.
    Drop,
    /// Keep existing tables, empty them, load again.
    Truncate,
}

fn default_include() -> Vec<String> {
    vec!["%".into()]
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Unset: `lower` for MySQL sources, `preserve` for PostgreSQL sources (their names are
    /// already PostgreSQL names; a mixed-case one was quoted on purpose).
    #[serde(default)]
    pub identifiers: Option<IdentifierCase>,
    #[serde(default)]
    pub zero_dates: ZeroDatePolicy,
    #[serde(default)]
    pub enums: EnumStyle,
    #[serde(default)]
    pub tinyint1: Tinyint1,
    /// JSON objects with a key twice (`{"a":1,"a":2}`: MySQL reads the first, jsonb keeps the
    /// last): `error` (default; the table stops naming the key) or `last` (jsonb's meaning,
    /// counted). A column overridden to `json` or `text` keeps the document as written.
    #[serde(default)]
    pub json_duplicate_keys: JsonDuplicates,
    /// VARBINARY/BLOB columns whose every stored value is UTF-8 text (probed): `bytea`
    /// (default; the plan says which columns could be text) or `text` (they become text, each
    /// value checked on the way).
    #[serde(default)]
    pub utf8_binary: Utf8Binary,
    /// Text columns the source compares case-insensitively (MySQL `*_ci`, SQL Server `*_CI_*`,
    /// SQLite `NOCASE`): `keep` (default; the plan warns that PostgreSQL compares
    /// case-sensitively) or `citext` (they become `citext`, the extension created with the
    /// schema; a `varchar(n)`'s length is not enforced by citext, the plan says which).
    #[serde(default)]
    pub case_insensitive: CaseInsensitive,
    /// SQLite cells whose storage class the declared type does not hold (`'toto'` in an
    /// INTEGER column): `widen` (default; the column takes a type that holds them all, said in
    /// the plan) or `quarantine` (the declared type stays; such cells are NULL on the target and
    /// kept raw in `ferry.quarantine`, counted).
    #[serde(default)]
    pub odd_cells: ferry_model::OddCells,
    /// SQLite text that PostgreSQL text cannot hold (not UTF-8, a NUL): `bytea` (default; the
    /// column keeps every byte), `error` (the column stays text and such a row stops the table,
    /// naming it) or `replace` (each bad sequence becomes U+FFFD, the raw cell kept in
    /// `ferry.quarantine`, counted).
    #[serde(default)]
    pub invalid_text: ferry_model::BadText,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseInsensitive {
    #[default]
    Keep,
    Citext,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Utf8Binary {
    #[default]
    Bytea,
    Text,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonDuplicates {
    #[default]
    Error,
    Last,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            include: default_include(),
            exclude: vec![],
            identifiers: None,
            zero_dates: ZeroDatePolicy::default(),
            enums: EnumStyle::default(),
            tinyint1: Tinyint1::default(),
            json_duplicate_keys: JsonDuplicates::default(),
            utf8_binary: Utf8Binary::default(),
            case_insensitive: CaseInsensitive::default(),
            odd_cells: Default::default(),
            invalid_text: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TableRule {
    pub rename: Option<String>,
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnRule>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    pub rename: Option<String>,
    /// A PostgreSQL type to use instead of the mapped one, e.g. `text`, `inet`, `numeric(30,4)`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// The column's default on the target: a PostgreSQL expression (`"''"`, `"now()"`,
    /// `"'\\x00'::bytea"`), or `false` for none. Unset: the source's default, translated.
    #[serde(default)]
    pub default: Option<DefaultRule>,
    /// This column's zero dates, overriding `rules.zero_dates`.
    #[serde(default)]
    pub zero_dates: Option<ZeroDatePolicy>,
    /// This column's odd cells (SQLite), overriding `rules.odd_cells`.
    #[serde(default)]
    pub odd_cells: Option<ferry_model::OddCells>,
    /// This column's invalid text (SQLite), overriding `rules.invalid_text`.
    #[serde(default)]
    pub invalid_text: Option<ferry_model::BadText>,
    /// How the column's numbers are read as dates (SQLite): `iso` (only ISO 8601 texts are
    /// dates), `unixepoch`, `unixepoch-ms` or `julianday`; makes the column a timestamp even
    /// when declared INTEGER or REAL. Unset: recognised from the values of date-typed columns.
    #[serde(default)]
    pub date_form: Option<ferry_model::DateForm>,
    /// A SQL Server `datetimeoffset` column's offset kept too, in a `smallint` column
    /// `<name>_offset` beside it (minutes east of UTC, as written); the column itself holds the
    /// instant.
    #[serde(default)]
    pub keep_offset: Option<bool>,
}

/// `default = "expr"` or `default = false`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DefaultRule {
    Expression(String),
    /// `false`: no default (`true` is refused when the plan is built).
    Keep(bool),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateConfig {
    #[serde(default)]
    pub if_exists: IfExists,
    /// Reader/writer lanes working at once.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Rows per chunk when a table is split by key ranges.
    #[serde(default = "default_chunk_rows")]
    pub chunk_rows: u64,
    /// `auto` (binary COPY where possible) or `text`.
    #[serde(default)]
    pub format: CopyFormatConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyFormatConfig {
    #[default]
    Auto,
    Text,
}

fn default_workers() -> usize {
    4
}

fn default_chunk_rows() -> u64 {
    250_000
}

impl Default for MigrateConfig {
    fn default() -> Self {
        MigrateConfig { if_exists: IfExists::default(), workers: default_workers(), chunk_rows: default_chunk_rows(), format: CopyFormatConfig::default() }
    }
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The cell rules the source reads before it introspects (SQLite's profile and reader).
    pub fn cell_rules(&self) -> ferry_model::CellRules {
        let default = ferry_model::CellRule {
            odd_cells: self.rules.odd_cells,
            bad_text: self.rules.invalid_text,
            date_form: None,
            read_as_text: false,
            keep_offset: false,
            read_as_json: false,
        };
        let mut columns = BTreeMap::new();
        for (table, t) in &self.tables {
            for (column, c) in &t.columns {
                let text = c.type_.as_deref().is_some_and(crate::typemap::is_text_type);
                let keep_offset = c.keep_offset == Some(true);
                let json = c.type_.as_deref().is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("json"));
                if c.odd_cells.is_some() || c.invalid_text.is_some() || c.date_form.is_some() || text || keep_offset || json {
                    let rule = ferry_model::CellRule {
                        odd_cells: c.odd_cells.unwrap_or(default.odd_cells),
                        bad_text: c.invalid_text.unwrap_or(default.bad_text),
                        date_form: c.date_form,
                        read_as_text: text,
                        keep_offset,
                        read_as_json: json,
                    };
                    columns.insert((table.clone(), column.clone()), rule);
                }
            }
        }
        ferry_model::CellRules { default, columns }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_example() {
        let c = Config::from_toml(
            r#"
            [source]
            url = "mysql://u@h/db"
            [target]
            schema = "app"
            [rules]
            exclude = ["tmp%"]
            identifiers = "snake_case"
            zero_dates = "null"
            [tables.Customer]
            rename = "client"
            [tables.Customer.columns.Email]
            type = "text"
            [migrate]
            if_exists = "drop"
            "#,
        )
        .unwrap();
        assert_eq!(c.rules.include, vec!["%"]);
        assert_eq!(c.rules.identifiers, Some(IdentifierCase::SnakeCase));
        assert_eq!(c.tables["Customer"].columns["Email"].type_.as_deref(), Some("text"));
        assert_eq!(c.migrate.if_exists, IfExists::Drop);
    }

    #[test]
    fn reshape_columns_keep_their_order() {
        let c: Config = toml::from_str(
            r#"
            [reshape.tables."crm.customer"]
            from = "tblCust"
            where = "del_flg = 0"
            columns = { zeta = "cust_id", alpha = "initcap(cust_nm)", status = { column = "st", map = { A = "active" } } }
            [reshape.tables.second]
            from = "t"
            [reshape.tables.second.columns]
            b = "1"
            a = { expr = "2", type = "int" }
            "#,
        )
        .unwrap();
        let r = c.reshape.unwrap();
        let names: Vec<&str> = r.tables["crm.customer"].columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "status"]);
        let names: Vec<&str> = r.tables["second"].columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert!(r.comments);
        assert!(matches!(&r.tables["crm.customer"].columns[2].1, ColumnMapping::Detail(d) if d.map.as_ref().unwrap()["A"] == "active"));
    }

    #[test]
    fn hooks_take_one_file_or_a_list() {
        let c = Config::from_toml("[hooks]\nbefore_schema = \"a.sql\"\nafter_data = [\"b.sql\", \"c.sql\"]").unwrap();
        assert_eq!(c.hooks.before_schema, vec!["a.sql"]);
        assert_eq!(c.hooks.after_data, vec!["b.sql", "c.sql"]);
        assert!(c.hooks.after_schema.is_empty());
        assert!(Config::from_toml("[hooks]\nbefore_lunch = \"a.sql\"").is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Config::from_toml("[rules]\nincluded = [\"x\"]").unwrap_err();
        assert!(e.contains("included"), "{e}");
    }

    #[test]
    fn cell_rules_take_the_column_rule_over_the_default() {
        let c = Config::from_toml(
            "[rules]\nodd_cells = \"quarantine\"\n[tables.t.columns.s]\ninvalid_text = \"replace\"\n[tables.t.columns.d]\ndate_form = \"unixepoch\"\n",
        )
        .unwrap();
        let rules = c.cell_rules();
        let s = rules.for_column("t", "s");
        assert_eq!((s.odd_cells, s.bad_text, s.date_form), (ferry_model::OddCells::Quarantine, ferry_model::BadText::Replace, None));
        assert_eq!(rules.for_column("t", "d").date_form, Some(ferry_model::DateForm::UnixSeconds));
        let other = rules.for_column("u", "x");
        assert_eq!((other.odd_cells, other.bad_text), (ferry_model::OddCells::Quarantine, ferry_model::BadText::Bytea));
    }
}
