//! The target schema as PostgreSQL will hold it, and the SQL that creates it.
//!
//! Order matters for speed and correctness, so rendering is split by phase: schema, enum types
//! and bare tables before the load; primary keys, unique and secondary indexes, foreign keys
//! (`NOT VALID`, then `VALIDATE`), identity restarts, triggers and comments after it. Building
//! indexes after COPY is several times faster than maintaining them row by row, and adding FKs
//! `NOT VALID` first lets the validation run without blocking writers.

use crate::ident::{qualified, quote_ident, quote_literal};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum PgType {
    Boolean,
    SmallInt,
    Integer,
    BigInt,
    Numeric(Option<(u32, u32)>),
    Real,
    Double,
    Char(u32),
    Varchar(Option<u32>),
    Text,
    Bytea,
    Date,
    Time(u8),
    Timestamp(u8),
    TimestampTz(u8),
    Interval(u8),
    Json,
    Jsonb,
    Uuid,
    Bit(u32),
    VarBit(Option<u32>),
    Geometry,
    /// A user-defined type in the target schema (enum types).
    Named {
        schema: String,
        name: String,
    },
    Array(Box<PgType>),
    /// A type written by the user in an override, used as written.
    Custom(String),
}

impl From<PgType> for String {
    fn from(t: PgType) -> String {
        t.to_string()
    }
}

fn frac(f: &mut fmt::Formatter<'_>, base: &str, p: u8, suffix: &str) -> fmt::Result {
    if p == 6 {
        write!(f, "{base}{suffix}")
    } else {
        write!(f, "{base}({p}){suffix}")
    }
}

impl PgType {
    /// The built-in type a user-written type name denotes (`numeric`, `decimal(12,2)`, `text`,
    /// `varchar(20)`, `bigint`, `jsonb`, …), when ferry knows it; `None` for anything else.
    pub fn parse_known(s: &str) -> Option<PgType> {
        let s = s.trim().to_ascii_lowercase();
        let (base, args) = match s.split_once('(') {
            Some((b, rest)) => (b.trim().to_string(), Some(rest.trim_end_matches(')').to_string())),
            None => (s.clone(), None),
        };
        let nums: Option<Vec<u32>> = args.as_ref().map(|a| a.split(',').map(|x| x.trim().parse().ok()).collect::<Option<Vec<u32>>>()).unwrap_or(Some(vec![]));
        let nums = nums?;
        Some(match (base.as_str(), nums.as_slice()) {
            ("boolean" | "bool", []) => PgType::Boolean,
            ("smallint" | "int2", []) => PgType::SmallInt,
            ("integer" | "int" | "int4", []) => PgType::Integer,
            ("bigint" | "int8", []) => PgType::BigInt,
            ("numeric" | "decimal", []) => PgType::Numeric(None),
            ("numeric" | "decimal", [p]) => PgType::Numeric(Some((*p, 0))),
            ("numeric" | "decimal", [p, s]) => PgType::Numeric(Some((*p, *s))),
            ("real" | "float4", []) => PgType::Real,
            ("double precision" | "float8", []) => PgType::Double,
            ("text", []) => PgType::Text,
            ("varchar" | "character varying", []) => PgType::Varchar(None),
            ("varchar" | "character varying", [n]) => PgType::Varchar(Some(*n)),
            ("char" | "character" | "bpchar", [n]) => PgType::Char(*n),
            ("bytea", []) => PgType::Bytea,
            ("date", []) => PgType::Date,
            ("json", []) => PgType::Json,
            ("jsonb", []) => PgType::Jsonb,
            ("uuid", []) => PgType::Uuid,
            _ => return None,
        })
    }
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgType::Boolean => f.write_str("boolean"),
            PgType::SmallInt => f.write_str("smallint"),
            PgType::Integer => f.write_str("integer"),
            PgType::BigInt => f.write_str("bigint"),
            PgType::Numeric(None) => f.write_str("numeric"),
            PgType::Numeric(Some((p, s))) => write!(f, "numeric({p},{s})"),
            PgType::Real => f.write_str("real"),
            PgType::Double => f.write_str("double precision"),
            PgType::Char(n) => write!(f, "character({n})"),
            PgType::Varchar(None) => f.write_str("character varying"),
            PgType::Varchar(Some(n)) => write!(f, "character varying({n})"),
            PgType::Text => f.write_str("text"),
            PgType::Bytea => f.write_str("bytea"),
            PgType::Date => f.write_str("date"),
            PgType::Time(p) => frac(f, "time", *p, " without time zone"),
            PgType::Timestamp(p) => frac(f, "timestamp", *p, " without time zone"),
            PgType::TimestampTz(p) => frac(f, "timestamp", *p, " with time zone"),
            PgType::Interval(p) => frac(f, "interval", *p, ""),
            PgType::Json => f.write_str("json"),
            PgType::Jsonb => f.write_str("jsonb"),
            PgType::Uuid => f.write_str("uuid"),
            PgType::Bit(n) => write!(f, "bit({n})"),
            PgType::VarBit(None) => f.write_str("bit varying"),
            PgType::VarBit(Some(n)) => write!(f, "bit varying({n})"),
            PgType::Geometry => f.write_str("geometry"),
            PgType::Named { schema, name } => f.write_str(&qualified(schema, name)),
            PgType::Array(t) => write!(f, "{t}[]"),
            PgType::Custom(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PgColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: PgType,
    pub nullable: bool,
    /// A PostgreSQL default expression, ready to paste.
    pub default: Option<String>,
    /// `GENERATED BY DEFAULT AS IDENTITY`.
    pub identity: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgKey {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgIndex {
    pub name: String,
    pub unique: bool,
    /// `btree`, `gin`, `gist`.
    pub method: String,
    /// Rendered index elements: quoted columns or parenthesised expressions, with `DESC`.
    pub elements: Vec<String>,
    /// Quoted non-key columns (`INCLUDE (…)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// A partial index's condition (`WHERE …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_delete: String,
    pub on_update: String,
    /// Left `NOT VALID` (the source does not vouch for the existing rows): never validated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_valid: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgCheck {
    pub name: String,
    pub expression: String,
    /// As [`PgForeignKey::not_valid`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_valid: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PgTable {
    pub schema: String,
    pub name: String,
    pub columns: Vec<PgColumn>,
    pub primary_key: Option<PgKey>,
    pub indexes: Vec<PgIndex>,
    pub foreign_keys: Vec<PgForeignKey>,
    pub checks: Vec<PgCheck>,
    /// Columns maintained like MySQL's `ON UPDATE CURRENT_TIMESTAMP` (by a trigger).
    pub on_update_now: Vec<String>,
    pub comment: Option<String>,
    /// Generated columns of a PostgreSQL source, computed by the target (never copied).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated: Vec<PgGenerated>,
    /// `PARTITION BY …` of a partitioned table (PostgreSQL sources), and its partitions
    /// (name, `FOR VALUES …` / `DEFAULT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_by: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<(String, String)>,
    /// The key takes one `ADD PRIMARY KEY` instead of a unique index the constraint adopts:
    /// partitioned tables cannot adopt one, Citus tables take it in one statement (it
    /// propagates to the shards).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key_in_one_step: bool,
    /// A Citus distributed or reference table: its `ON UPDATE CURRENT_TIMESTAMP` trigger is
    /// created with `citus.enable_unsafe_triggers` (Citus refuses triggers on such tables
    /// otherwise; this one only sets a column of the row it fires for, which is safe per shard).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub citus_table: bool,
    /// Indexes and foreign keys of single partitions: (partition name, definition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_indexes: Vec<(String, PgIndex)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_foreign_keys: Vec<(String, PgForeignKey)>,
}

/// One foreign key to add after the load: the `ADD … NOT VALID`, its `VALIDATE`, and the table
/// it references (the step is skipped when that table failed to load).
#[derive(Debug, Clone)]
pub struct FkStep {
    pub add: String,
    /// None for a key left `NOT VALID` on purpose ([`PgForeignKey::not_valid`]).
    pub validate: Option<String>,
    pub ref_table: String,
}

/// A free-standing sequence of the source (its definition and where it stands), created in
/// `schema` before the tables whose defaults call it.
#[derive(Debug, Clone, Serialize)]
pub struct PgSequence {
    pub schema: String,
    #[serde(flatten)]
    pub def: ferry_model::Sequence,
}

impl PgSequence {
    pub fn name(&self) -> &str {
        &self.def.name
    }
    pub fn qualified(&self) -> String {
        qualified(&self.schema, &self.def.name)
    }
    pub fn create_sql(&self) -> String {
        format!(
            "CREATE SEQUENCE {} AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {}{}",
            self.qualified(),
            self.def.data_type,
            self.def.increment,
            self.def.min,
            self.def.max,
            self.def.start,
            self.def.cache,
            if self.def.cycle { " CYCLE" } else { " NO CYCLE" }
        )
    }
    /// `SELECT setval(…)` to where the source stands, when it was ever called.
    pub fn setval_sql(&self) -> Option<String> {
        self.def.last_value.map(|v| format!("SELECT setval({}, {v}, true)", quote_literal(&self.qualified())))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PgEnum {
    pub schema: String,
    pub name: String,
    pub values: Vec<String>,
}

impl PgTable {
    pub fn qualified(&self) -> String {
        qualified(&self.schema, &self.name)
    }

    /// `CREATE TABLE` with columns, defaults, NOT NULL and identity; keys come later.
    pub fn create_sql(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let mut s = format!("    {} {}", quote_ident(&c.name), c.ty);
                if c.identity {
                    s.push_str(" GENERATED BY DEFAULT AS IDENTITY");
                } else if let Some(d) = &c.default {
                    s.push_str(&format!(" DEFAULT {d}"));
                }
                if !c.nullable {
                    s.push_str(" NOT NULL");
                }
                s
            })
            .chain(self.generated.iter().map(|g| format!("    {} {} GENERATED ALWAYS AS ({}) STORED", quote_ident(&g.name), g.ty, g.expression)))
            .collect();
        let mut sql = format!("CREATE TABLE {} (\n{}\n)", self.qualified(), cols.join(",\n"));
        if let Some(p) = &self.partition_by {
            sql.push_str(&format!(" PARTITION BY {p}"));
            for (name, bound) in &self.partitions {
                sql.push_str(&format!(";\nCREATE TABLE {} PARTITION OF {} {bound}", qualified(&self.schema, name), self.qualified()));
            }
        }
        sql
    }

    pub fn primary_key_sql(&self) -> Option<String> {
        self.primary_key
            .as_ref()
            .map(|pk| format!("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})", self.qualified(), quote_ident(&pk.name), list(&pk.columns)))
    }

    /// The primary key in two steps, so its index can be built alongside the other indexes
    /// (`ALTER TABLE … ADD PRIMARY KEY` would lock them out): a unique index, then the
    /// constraint adopting it, which is instant.
    pub fn primary_key_index_sql(&self) -> Option<(String, String)> {
        if self.key_in_one_step {
            return None;
        }
        self.primary_key.as_ref().map(|pk| {
            (
                format!("CREATE UNIQUE INDEX {} ON {} USING btree ({})", quote_ident(&pk.name), self.qualified(), list(&pk.columns)),
                format!("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}", self.qualified(), quote_ident(&pk.name), quote_ident(&pk.name)),
            )
        })
    }

    pub fn index_sql(&self, i: &PgIndex) -> String {
        let mut s = format!(
            "CREATE {}INDEX {} ON {} USING {} ({})",
            if i.unique { "UNIQUE " } else { "" },
            quote_ident(&i.name),
            self.qualified(),
            i.method,
            i.elements.join(", ")
        );
        if !i.include.is_empty() {
            s.push_str(&format!(" INCLUDE ({})", i.include.join(", ")));
        }
        if let Some(p) = &i.predicate {
            s.push_str(&format!(" WHERE {p}"));
        }
        s
    }

    /// The same table's partition `name` (same schema), for statements on one partition.
    pub fn partition(&self, name: &str) -> PgTable {
        PgTable { schema: self.schema.clone(), name: name.to_string(), ..Default::default() }
    }

    /// `CREATE INDEX` of every index of single partitions.
    pub fn partition_index_sql(&self) -> Vec<String> {
        self.partition_indexes.iter().map(|(p, ix)| self.partition(p).index_sql(ix)).collect()
    }

    /// Every foreign key of the table and of its single partitions, in order.
    pub fn foreign_key_steps(&self) -> Vec<FkStep> {
        let step = |t: &PgTable, fk: &PgForeignKey| FkStep {
            add: t.foreign_key_sql(fk),
            validate: (!fk.not_valid).then(|| t.validate_sql(&fk.name)),
            ref_table: fk.ref_table.clone(),
        };
        let mut out: Vec<FkStep> = self.foreign_keys.iter().map(|fk| step(self, fk)).collect();
        out.extend(self.partition_foreign_keys.iter().map(|(p, fk)| step(&self.partition(p), fk)));
        out
    }

    pub fn foreign_key_sql(&self, fk: &PgForeignKey) -> String {
        format!(
            "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {} NOT VALID",
            self.qualified(),
            quote_ident(&fk.name),
            list(&fk.columns),
            qualified(&fk.ref_schema, &fk.ref_table),
            list(&fk.ref_columns),
            fk.on_delete,
            fk.on_update
        )
    }

    pub fn validate_sql(&self, constraint: &str) -> String {
        format!("ALTER TABLE {} VALIDATE CONSTRAINT {}", self.qualified(), quote_ident(constraint))
    }

    pub fn check_sql(&self, c: &PgCheck) -> String {
        format!("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) NOT VALID", self.qualified(), quote_ident(&c.name), c.expression)
    }

    /// COMMENT statements for the table and its columns.
    pub fn comment_sql(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(c) = &self.comment {
            out.push(format!("COMMENT ON TABLE {} IS {}", self.qualified(), quote_literal(c)));
        }
        for col in &self.columns {
            if let Some(c) = &col.comment {
                out.push(format!("COMMENT ON COLUMN {}.{} IS {}", self.qualified(), quote_ident(&col.name), quote_literal(c)));
            }
        }
        out
    }

    /// Statements that put every identity column's sequence past the loaded maximum (and past
    /// `floor`, the source's next AUTO_INCREMENT value, when known).
    pub fn restart_identity_sql(&self, floor: Option<u64>) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| c.identity)
            .map(|c| {
                let col = quote_ident(&c.name);
                format!(
                    "SELECT setval(pg_get_serial_sequence({}, {}), GREATEST(COALESCE((SELECT max({col}) FROM {}), 0) + 1, {}), false)",
                    quote_literal(&self.qualified()),
                    quote_literal(&c.name),
                    self.qualified(),
                    floor.unwrap_or(1).max(1)
                )
            })
            .collect()
    }

    /// A trigger that refreshes `ON UPDATE CURRENT_TIMESTAMP` columns the way MySQL does: when
    /// the row changed and the statement did not set the column itself.
    pub fn on_update_trigger_sql(&self) -> Vec<String> {
        if self.on_update_now.is_empty() {
            return vec![];
        }
        let func_name = crate::ident::truncate_ident(&format!("{}_on_update", self.name));
        let func = qualified(&self.schema, &func_name);
        let sets: String = self
            .on_update_now
            .iter()
            .map(|c| {
                let c = quote_ident(c);
                format!("    IF NEW.{c} IS NOT DISTINCT FROM OLD.{c} THEN NEW.{c} := CURRENT_TIMESTAMP; END IF;\n")
            })
            .collect();
        let mut out = vec![
            format!(
                "CREATE OR REPLACE FUNCTION {func}() RETURNS trigger LANGUAGE plpgsql AS $ferry$\nBEGIN\n  IF {} THEN\n    RETURN NEW;\n  END IF;\n  IF NEW IS DISTINCT FROM OLD THEN\n{sets}  END IF;\n  RETURN NEW;\nEND\n$ferry$", crate::conn::APPLYING
            ),
            format!("CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {func}()", quote_ident(&func_name), self.qualified()),
        ];
        if self.citus_table {
            // Its own statement: Citus passes a statement's whole text on to the workers, which
            // take one command at a time.
            out.insert(1, "SET citus.enable_unsafe_triggers = on".into());
        }
        out
    }
}

impl PgTable {
    /// Removes the `ON UPDATE CURRENT_TIMESTAMP` trigger and its function (of this table's
    /// name), from table `on` (its current qualified name).
    pub fn drop_on_update_trigger_sql(&self, on: &str) -> Vec<String> {
        if self.on_update_now.is_empty() {
            return vec![];
        }
        let func_name = crate::ident::truncate_ident(&format!("{}_on_update", self.name));
        vec![
            format!("DROP TRIGGER IF EXISTS {} ON {on}", quote_ident(&func_name)),
            format!("DROP FUNCTION IF EXISTS {}()", qualified(&self.schema, &func_name)),
        ]
    }
}

/// `name type GENERATED ALWAYS AS (expression) STORED`.
#[derive(Debug, Clone, Serialize)]
pub struct PgGenerated {
    pub name: String,
    pub ty: String,
    pub expression: String,
}

/// A domain of a PostgreSQL source, recreated in the target schema.
#[derive(Debug, Clone, Serialize)]
pub struct PgDomain {
    pub schema: String,
    pub name: String,
    /// The base type as PostgreSQL prints it (user types already qualified).
    pub base: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// CHECK expressions (`VALUE > 0`).
    pub checks: Vec<String>,
}

impl PgDomain {
    pub fn create_sql(&self) -> String {
        let mut s = format!("CREATE DOMAIN {} AS {}", qualified(&self.schema, &self.name), self.base);
        if let Some(d) = &self.default {
            s.push_str(&format!(" DEFAULT {d}"));
        }
        if self.not_null {
            s.push_str(" NOT NULL");
        }
        for c in &self.checks {
            s.push_str(&format!(" CHECK ({c})"));
        }
        s
    }
}

impl PgEnum {
    pub fn create_sql(&self) -> String {
        let vals: Vec<String> = self.values.iter().map(|v| quote_literal(v)).collect();
        format!("CREATE TYPE {} AS ENUM ({})", qualified(&self.schema, &self.name), vals.join(", "))
    }
}

pub fn create_schema_sql(schema: &str) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema))
}

fn list(cols: &[String]) -> String {
    cols.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_type_names_parse() {
        assert_eq!(PgType::parse_known("NUMERIC"), Some(PgType::Numeric(None)));
        assert_eq!(PgType::parse_known("decimal(12, 2)"), Some(PgType::Numeric(Some((12, 2)))));
        assert_eq!(PgType::parse_known("varchar(20)"), Some(PgType::Varchar(Some(20))));
        assert_eq!(PgType::parse_known("citext"), None);
        assert_eq!(PgType::parse_known("numeric(x)"), None);
    }

    fn table() -> PgTable {
        PgTable {
            schema: "app".into(),
            name: "Order".into(),
            columns: vec![
                PgColumn { name: "id".into(), ty: PgType::BigInt, nullable: false, default: None, identity: true, comment: None },
                PgColumn {
                    name: "at".into(),
                    ty: PgType::TimestampTz(0),
                    nullable: true,
                    default: Some("CURRENT_TIMESTAMP".into()),
                    identity: false,
                    comment: Some("it's".into()),
                },
            ],
            primary_key: Some(PgKey { name: "Order_pkey".into(), columns: vec!["id".into()] }),
            indexes: vec![],
            foreign_keys: vec![],
            checks: vec![],
            on_update_now: vec!["at".into()],
            comment: None,
            generated: vec![],
            partition_by: None,
            partitions: vec![],
            key_in_one_step: false,
            citus_table: false,
            ..Default::default()
        }
    }

    #[test]
    fn renders_create_table() {
        let sql = table().create_sql();
        assert_eq!(
            sql,
            "CREATE TABLE \"app\".\"Order\" (\n    \"id\" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n    \"at\" timestamp(0) with time zone DEFAULT CURRENT_TIMESTAMP\n)"
        );
        assert_eq!(table().primary_key_sql().unwrap(), "ALTER TABLE \"app\".\"Order\" ADD CONSTRAINT \"Order_pkey\" PRIMARY KEY (\"id\")");
        assert_eq!(table().comment_sql(), vec!["COMMENT ON COLUMN \"app\".\"Order\".\"at\" IS 'it''s'"]);
    }

    #[test]
    fn renders_types() {
        assert_eq!(PgType::Timestamp(6).to_string(), "timestamp without time zone");
        assert_eq!(PgType::Numeric(Some((20, 0))).to_string(), "numeric(20,0)");
        assert_eq!(PgType::Array(Box::new(PgType::Text)).to_string(), "text[]");
        assert_eq!(PgType::Named { schema: "s".into(), name: "film_rating".into() }.to_string(), "\"s\".\"film_rating\"");
    }

    #[test]
    fn on_update_trigger_only_when_needed() {
        let t = table();
        let sql = t.on_update_trigger_sql();
        assert_eq!(sql.len(), 2);
        assert!(sql[0].contains("NEW.\"at\" := CURRENT_TIMESTAMP"));
        let mut t2 = table();
        t2.on_update_now.clear();
        assert!(t2.on_update_trigger_sql().is_empty());
    }
}
