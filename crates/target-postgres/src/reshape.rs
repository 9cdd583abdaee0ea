//! The final hop's second stage: the tables of a reshaped target design, each computed by
//! PostgreSQL from the 1:1 landing tables (docs/architecture.md, "The mapping layer").
//!
//! Guarantees, and the function that keeps each:
//! - **One expression language, one evaluator.** Every target row is a row of a PostgreSQL
//!   `SELECT` over one landing table (alias `s`): in the load ([`PgTarget::reshape_load`]), in
//!   sync ([`Refresh`]) and in verify ([`PgTarget::reshape_verify`]) the same text
//!   ([`part_select`], [`pivot_select`]) is evaluated by the same server.
//! - **Checked before any row moves.** [`PgTarget::reshape_check`] creates every target table
//!   from its mapping and explains every statement inside a transaction it rolls back: an
//!   unknown column or a type error is the server's own message, with the mapping named.
//! - **Exact incremental refresh.** For each landing table a batch changes, [`Refresh::collect`]
//!   gathers the refresh keys of the target rows its changed rows contribute to — once on the
//!   landing as it was before the batch and once after — so a row leaving a filter, moving to
//!   another key or changing a lookup's value reaches every target row it touched on either
//!   image. [`Refresh::apply`] deletes those target rows and selects them again through the
//!   mapping, inside the apply transaction: the target never holds a landing state the batch
//!   did not commit.
//! - **Stable ids.** A merged lookup's ids live in `ferry.reshape_ids`, keyed by (target table,
//!   source table, original id), filled before the rows that use them in the same transaction
//!   and never reused: a row referencing a lookup row gets the same id in load, sync and reruns.
//! - **Nothing silent.** A lookup that finds no id, a pivot cell with two answers, a pivot row
//!   without a form or attribute: [`Part::checks`] / [`pivot_checks`] stop the load or the
//!   refresh naming the landing key; verify runs the same checks.
//! - **Identifiers from data are safe and stable.** [`sanitize`] (byte limit, reserved words,
//!   collisions resolved with a short hash); the names are kept in `ferry.reshape_names`, so a
//!   form or attribute keeps its table or column across runs and in sync.

use crate::conn::PgTarget;
use crate::error::TargetError;
use crate::ident::{qualified, quote_ident, quote_literal};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// The whole second stage of one landing schema.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reshape {
    /// The landing schema (the 1:1 plan's target schema).
    pub landing: String,
    /// Target tables in dependency order (merged lookups first).
    pub tables: Vec<ReshapeTable>,
    pub pivots: Vec<Pivot>,
    /// `COMMENT ON` every target table and column with its provenance.
    pub comments: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReshapeTable {
    pub schema: String,
    pub name: String,
    pub columns: Vec<ReshapeColumn>,
    pub primary_key: Vec<String>,
    pub unique: Vec<Vec<String>>,
    pub foreign_keys: Vec<ReshapeFk>,
    /// Columns that identify the rows one landing row contributes to (the primary key, or for a
    /// merged lookup its (source table, original id)).
    pub refresh_key: Vec<String>,
    /// One per landing table that fills this table.
    pub parts: Vec<Part>,
    pub comment: String,
    /// A merged lookup table: its `id` comes from `ferry.reshape_ids`.
    pub lookup: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReshapeColumn {
    pub name: String,
    /// A cast applied to every part's expression (`None`: the type PostgreSQL derives).
    pub type_: Option<String>,
    pub comment: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReshapeFk {
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

/// One landing table's contribution to a target table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Part {
    /// The mapping's name in the config, for messages.
    pub mapping: String,
    /// Landing table read as `s`, and its key (to name rows).
    pub from: String,
    pub source_key: Vec<String>,
    /// One SQL expression over `s` per column of the table.
    pub exprs: Vec<String>,
    pub filter: Option<String>,
    /// One expression over `s` per refresh-key column.
    pub key_exprs: Vec<String>,
    /// Lookup ids this part needs, filled before its rows.
    pub ids: Vec<IdFill>,
    pub checks: Vec<Check>,
    /// Landing tables whose changes touch this part's rows.
    pub deps: Vec<Dep>,
}

/// Ids of a merged lookup: one per distinct non-null `original` of `from`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IdFill {
    /// The merged lookup table, qualified (the id map's first key column).
    pub lookup: String,
    pub source_table: String,
    /// An expression over `s` (its natural type orders the new ids).
    pub original: String,
}

/// A condition over `s` that must not hold for any row of the part.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Check {
    pub column: String,
    pub bad: String,
    /// What it means, for the error.
    pub what: String,
}

/// Changes of landing table `table` touch the part's rows for which `affected` holds; in it,
/// `{keys}` is the temporary table of the changed rows' keys (columns `key`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dep {
    pub table: String,
    pub key: Vec<String>,
    pub affected: String,
}

/// An EAV table pivoted: one row per entity, one column per attribute, one table per form (or
/// one `jsonb` document per entity and form).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pivot {
    pub mapping: String,
    pub from: String,
    pub source_key: Vec<String>,
    /// Landing columns naming the entity (the target key), with their SQL types.
    pub entity: Vec<(String, String)>,
    /// The landing column whose values choose the table; `None`: one table, [`Pivot::table`].
    pub group: Option<String>,
    pub attribute: String,
    pub value: String,
    /// The value column's type (every attribute column has it).
    pub value_type: String,
    /// Target schema of the form tables, and the prefix of their names.
    pub schema: String,
    pub prefix: String,
    /// The single table's name (no `group`, or `jsonb`).
    pub table: String,
    /// One `jsonb` document per entity (and form, kept in a `form` column) instead of columns.
    pub jsonb: bool,
    pub filter: Option<String>,
}

/// The key of the changed rows of a landing table inside a refresh.
pub fn keys_table(landing_table: &str) -> String {
    format!("pg_temp.{}", quote_ident(&format!("ferry_k_{landing_table}")))
}

fn affected_table(i: usize) -> String {
    format!("pg_temp.{}", quote_ident(&format!("ferry_a_{i}")))
}

fn pivot_affected_table(i: usize) -> String {
    format!("pg_temp.{}", quote_ident(&format!("ferry_p_{i}")))
}

fn cols(names: &[String]) -> String {
    names.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
}

fn list(exprs: &[String]) -> String {
    exprs.iter().map(|e| format!("({e})")).collect::<Vec<_>>().join(", ")
}

impl ReshapeTable {
    pub fn qualified(&self) -> String {
        qualified(&self.schema, &self.name)
    }
    /// How the table is named in messages and `ferry.sync_tables`: `schema.table`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}

/// The rows of `part`, shaped like `table`, restricted by `restrict` (SQL over `s`).
pub fn part_select(landing: &str, table: &ReshapeTable, part: &Part, restrict: &str) -> String {
    let exprs: Vec<String> = table
        .columns
        .iter()
        .zip(&part.exprs)
        .map(|(c, e)| match &c.type_ {
            Some(t) => format!("CAST(({e}) AS {t}) AS {}", quote_ident(&c.name)),
            None => format!("({e}) AS {}", quote_ident(&c.name)),
        })
        .collect();
    format!("SELECT {} FROM {} AS s WHERE ({}) AND ({restrict})", exprs.join(", "), qualified(landing, &part.from), part.filter.as_deref().unwrap_or("true"))
}

fn restrict_to_affected(part: &Part, affected: &str) -> String {
    format!("({}) IN (SELECT * FROM {affected})", list(&part.key_exprs))
}

fn id_fill_sql(landing: &str, part: &Part, f: &IdFill, restrict: &str) -> String {
    format!(
        "INSERT INTO ferry.reshape_ids (lookup, source_table, original_id) SELECT {}, {}, (o)::text FROM \
         (SELECT DISTINCT ({}) AS o FROM {} AS s WHERE ({restrict})) x WHERE o IS NOT NULL ORDER BY o ON CONFLICT DO NOTHING",
        quote_literal(&f.lookup),
        quote_literal(&f.source_table),
        f.original,
        qualified(landing, &part.from)
    )
}

/// A row's landing key as one text (`1, A`), to name it in an error.
fn key_text(source_key: &[String]) -> String {
    let key: Vec<String> = source_key.iter().map(|k| format!("(s.{})::text", quote_ident(k))).collect();
    if key.is_empty() {
        "''".to_string()
    } else {
        format!("concat_ws(', ', {})", key.join(", "))
    }
}

fn check_sql(landing: &str, part: &Part, c: &Check, restrict: &str) -> String {
    let key = key_text(&part.source_key);
    format!(
        "SELECT {key} FROM {} AS s WHERE ({}) AND ({}) AND ({restrict}) LIMIT 5",
        qualified(landing, &part.from),
        part.filter.as_deref().unwrap_or("true"),
        c.bad
    )
}

/// Words PostgreSQL reserves (SQL Key Words appendix, "reserved" in the PostgreSQL column):
/// a name from data that is one gets a trailing `_`, so it can be used unquoted.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

fn short_hash(s: &str) -> String {
    // FNV-1a, 64 bits, shown as 6 hex digits: stable across runs and releases.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:06x}", h & 0xff_ffff)
}

fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A PostgreSQL identifier for a name taken from data: lower case, letters, digits and `_`
/// (every other run of characters one `_`), not starting with a digit, not a reserved word,
/// at most 63 bytes; when it is too long or already in `taken`, its first bytes, `_` and a
/// short hash of the original. The result is added to `taken`.
pub fn sanitize(original: &str, taken: &mut HashSet<String>) -> String {
    let mut out = String::new();
    for c in original.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut base = out.trim_matches('_').to_string();
    if base.is_empty() {
        base = "x".into();
    }
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        base = format!("_{base}");
    }
    if RESERVED.contains(&base.as_str()) {
        base.push('_');
    }
    let hashed = |salt: u32| {
        let h = if salt == 0 { short_hash(original) } else { short_hash(&format!("{original}\u{0}{salt}")) };
        format!("{}_{h}", cut_bytes(&base, 63 - 7))
    };
    let mut name = if base.len() > 63 { hashed(0) } else { base.clone() };
    let mut salt = 0;
    while taken.contains(&name) {
        name = hashed(salt);
        salt += 1;
    }
    taken.insert(name.clone());
    name
}

/// The current names of a pivot's tables and columns (from `ferry.reshape_names`).
#[derive(Debug, Default, Clone)]
pub struct PivotNames {
    /// form → table name ("" for the single table).
    pub tables: BTreeMap<String, String>,
    /// (form, attribute) → column name, in the order the columns were added.
    pub columns: Vec<(String, String, String)>,
}

impl PivotNames {
    fn columns_of(&self, form: &str) -> Vec<(&str, &str)> {
        self.columns.iter().filter(|(f, _, _)| f == form).map(|(_, a, c)| (a.as_str(), c.as_str())).collect()
    }
}

/// The rows of one form's table (`form` = `None`: the single table), restricted by `restrict`.
pub fn pivot_select(landing: &str, p: &Pivot, form: Option<&str>, names: &PivotNames, restrict: &str) -> String {
    let entity: Vec<String> = p.entity.iter().map(|(c, _)| format!("s.{}", quote_ident(c))).collect();
    let mut select = entity.clone();
    let mut group_by = entity.clone();
    let mut wh = vec![format!("({})", p.filter.as_deref().unwrap_or("true")), format!("({restrict})")];
    if let (Some(g), Some(f)) = (&p.group, form) {
        wh.push(format!("s.{} = {}", quote_ident(g), quote_literal(f)));
    }
    let attr = format!("s.{}", quote_ident(&p.attribute));
    let value = format!("s.{}", quote_ident(&p.value));
    if p.jsonb {
        if let Some(g) = &p.group {
            select.push(format!("s.{} AS form", quote_ident(g)));
            group_by.push(format!("s.{}", quote_ident(g)));
        }
        select.push(format!("jsonb_object_agg({attr}, {value}) AS document"));
    } else {
        for (a, c) in names.columns_of(form.unwrap_or("")) {
            select.push(format!("(array_agg({value}) FILTER (WHERE {attr} = {}))[1] AS {}", quote_literal(a), quote_ident(c)));
        }
    }
    format!("SELECT {} FROM {} AS s WHERE {} GROUP BY {}", select.join(", "), qualified(landing, &p.from), wh.join(" AND "), group_by.join(", "))
}

/// Conditions that must not hold on a pivot's rows: (what, SQL returning up to 5 keys).
pub fn pivot_checks(landing: &str, p: &Pivot, restrict: &str) -> Vec<(String, String)> {
    let src = qualified(landing, &p.from);
    let filter = p.filter.as_deref().unwrap_or("true");
    let key = key_text(&p.source_key);
    let entity: Vec<String> = p.entity.iter().map(|(c, _)| format!("s.{}", quote_ident(c))).collect();
    let mut cell = entity.clone();
    if let Some(g) = &p.group {
        cell.push(format!("s.{}", quote_ident(g)));
    }
    cell.push(format!("s.{}", quote_ident(&p.attribute)));
    let mut out = vec![
        (
            format!("two or more answers for one cell (entity, {}attribute)", if p.group.is_some() { "form, " } else { "" }),
            format!(
                "SELECT min({key}) || ' and ' || max({key}) FROM {src} AS s WHERE ({filter}) AND ({restrict}) GROUP BY {} HAVING count(*) > 1 LIMIT 5",
                cell.join(", ")
            ),
        ),
        (
            "no attribute name".into(),
            format!("SELECT {key} FROM {src} AS s WHERE ({filter}) AND ({restrict}) AND s.{} IS NULL LIMIT 5", quote_ident(&p.attribute)),
        ),
    ];
    if let Some(g) = &p.group {
        out.push(("no form value".into(), format!("SELECT {key} FROM {src} AS s WHERE ({filter}) AND ({restrict}) AND s.{} IS NULL LIMIT 5", quote_ident(g))));
    }
    out
}

/// The provenance comment of a pivot's attribute column.
fn attribute_comment(landing: &str, p: &Pivot, attr: &str) -> String {
    format!("ferry: attribute {} of {landing}.{} ({} = value)", quote_literal(attr), p.from, p.value)
}

/// A reshape step that refused: which mapping and table, and the server's error.
fn step_error(what: &str, e: TargetError) -> TargetError {
    e.context(what)
}

/// A mapping's preview: landing rows as stored, and the rows the mapping makes of them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    pub table: String,
    pub mapping: String,
    pub from: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// What [`PgTarget::compare_sets`] found.
pub(crate) struct SetComparison {
    pub only_a: i64,
    pub only_b: i64,
    pub rows_b: i64,
    pub samples: Vec<String>,
}

/// One target table's outcome in a load or verify.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReshapeResult {
    /// `schema.table`.
    pub table: String,
    pub rows: i64,
    pub error: Option<String>,
    /// Verify: rows only the mapping has / only the target has, and a few of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<String>,
    /// Pivot names chosen (original → name), for the report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<(String, String)>,
}

impl PgTarget {
    /// Creates (or, with `drop`, recreates) the target tables without rows or foreign keys.
    async fn reshape_create(&self, r: &Reshape, drop: bool) -> Result<(), TargetError> {
        let mut schemas: Vec<&str> = r.tables.iter().map(|t| t.schema.as_str()).chain(r.pivots.iter().map(|p| p.schema.as_str())).collect();
        schemas.sort();
        schemas.dedup();
        for s in schemas {
            self.exec(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(s))).await?;
        }
        if drop {
            for t in r.tables.iter().rev() {
                self.exec(&format!("DROP TABLE IF EXISTS {} CASCADE", t.qualified())).await?;
            }
            for p in &r.pivots {
                let names = self.pivot_names(p).await?;
                for t in names.tables.values() {
                    self.exec(&format!("DROP TABLE IF EXISTS {} CASCADE", qualified(&p.schema, t))).await?;
                }
                if p.group.is_none() || p.jsonb {
                    self.exec(&format!("DROP TABLE IF EXISTS {} CASCADE", qualified(&p.schema, &p.table))).await?;
                }
            }
        }
        for t in &r.tables {
            let what = format!("mapping {} → table {}", t.parts.iter().map(|p| p.mapping.as_str()).collect::<Vec<_>>().join(", "), t.label());
            let first = t.parts.first().ok_or_else(|| TargetError::new(ferry_model::ErrorKind::Definite, format!("{what}: no source table fills it")))?;
            let sql = format!("CREATE TABLE {} AS {} WITH NO DATA", t.qualified(), part_select(&r.landing, t, first, "false"));
            self.exec(&sql).await.map_err(|e| step_error(&format!("{what} (mapping {})", first.mapping), e))?;
            if !t.primary_key.is_empty() {
                self.exec(&format!("ALTER TABLE {} ADD PRIMARY KEY ({})", t.qualified(), cols(&t.primary_key))).await.map_err(|e| step_error(&what, e))?;
            }
            for u in &t.unique {
                self.exec(&format!("ALTER TABLE {} ADD UNIQUE ({})", t.qualified(), cols(u))).await.map_err(|e| step_error(&what, e))?;
            }
            for p in &t.parts {
                let pw = format!("{what} (mapping {}, from landing table {})", p.mapping, p.from);
                self.exec(&format!("EXPLAIN INSERT INTO {} ({}) {}", t.qualified(), cols(&t.column_names()), part_select(&r.landing, t, p, "true")))
                    .await
                    .map_err(|e| step_error(&pw, e))?;
                for f in &p.ids {
                    self.exec(&format!("EXPLAIN {}", id_fill_sql(&r.landing, p, f, "true"))).await.map_err(|e| step_error(&pw, e))?;
                }
                for c in &p.checks {
                    self.exec(&format!("EXPLAIN {}", check_sql(&r.landing, p, c, "true")))
                        .await
                        .map_err(|e| step_error(&format!("{pw}, column {}", c.column), e))?;
                }
            }
            if r.comments {
                self.exec(&format!("COMMENT ON TABLE {} IS {}", t.qualified(), quote_literal(&t.comment))).await?;
                for c in &t.columns {
                    self.exec(&format!("COMMENT ON COLUMN {}.{} IS {}", t.qualified(), quote_ident(&c.name), quote_literal(&c.comment))).await?;
                }
            }
        }
        for p in &r.pivots {
            let what = format!("pivot {} (from landing table {})", p.mapping, p.from);
            for (_, sql) in pivot_checks(&r.landing, p, "true") {
                self.exec(&format!("EXPLAIN {sql}")).await.map_err(|e| step_error(&what, e))?;
            }
            if p.jsonb || p.group.is_none() {
                self.pivot_table(&r.landing, p, None, &p.table.clone(), r.comments).await.map_err(|e| step_error(&what, e))?;
            }
        }
        Ok(())
    }

    /// Creates a pivot's table for `form` (empty; columns are added as attributes appear).
    async fn pivot_table(&self, landing: &str, p: &Pivot, form: Option<&str>, name: &str, comments: bool) -> Result<(), TargetError> {
        let t = qualified(&p.schema, name);
        let empty = PivotNames::default();
        self.exec(&format!("CREATE TABLE IF NOT EXISTS {t} AS {} WITH NO DATA", pivot_select(landing, p, form, &empty, "false"))).await?;
        let mut key: Vec<String> = p.entity.iter().map(|(c, _)| c.clone()).collect();
        if p.jsonb && p.group.is_some() {
            key.push("form".into());
        }
        self.exec(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {}::regclass AND contype = 'p') THEN ALTER TABLE {t} ADD PRIMARY KEY ({}); END IF; END $$",
            quote_literal(&t),
            cols(&key)
        ))
        .await?;
        if comments {
            let what = match form {
                Some(f) => format!("ferry: pivot of {}.{} where {} = {}", landing, p.from, p.group.as_deref().unwrap_or(""), quote_literal(f)),
                None => format!("ferry: pivot of {}.{}", landing, p.from),
            };
            self.exec(&format!("COMMENT ON TABLE {t} IS {}", quote_literal(&what))).await?;
        }
        Ok(())
    }

    /// Makes the rows of `table` that `affected` names ((columns, temporary table of their
    /// values); None: every row) equal to `rows` (SELECTs shaped like `columns`): a row no
    /// longer given is deleted, a new one inserted, a changed one updated on its `key` — and
    /// an unchanged one not written at all, so a changed answer is an update of that row only.
    async fn converge(
        &self,
        table: &str,
        columns: &[String],
        key: &[String],
        affected: Option<(Vec<String>, String)>,
        rows: &[String],
    ) -> Result<(), TargetError> {
        let list = cols(columns);
        self.exec(&format!("DROP TABLE IF EXISTS pg_temp.ferry_rows; CREATE TEMP TABLE ferry_rows AS SELECT {list} FROM {table} WITH NO DATA")).await?;
        for sql in rows {
            self.exec(&format!("INSERT INTO pg_temp.ferry_rows ({list}) {sql}")).await?;
        }
        let same_key: Vec<String> = key.iter().map(|c| format!("n.{c} = t.{c}", c = quote_ident(c))).collect();
        let scope = match &affected {
            Some((acols, a)) => {
                let on: Vec<String> = acols.iter().map(|c| format!("t.{}", quote_ident(c))).collect();
                format!("({}) IN (SELECT {} FROM {a}) AND ", on.join(", "), cols(acols))
            }
            None => String::new(),
        };
        self.exec(&format!("DELETE FROM {table} t WHERE {scope}NOT EXISTS (SELECT 1 FROM pg_temp.ferry_rows n WHERE {})", same_key.join(" AND "))).await?;
        let others: Vec<&String> = columns.iter().filter(|c| !key.contains(c)).collect();
        let action = if others.is_empty() {
            "NOTHING".to_string()
        } else {
            let sets: Vec<String> = others.iter().map(|c| format!("{c} = EXCLUDED.{c}", c = quote_ident(c))).collect();
            let old: Vec<String> = others.iter().map(|c| format!("t.{}", quote_ident(c))).collect();
            let new: Vec<String> = others.iter().map(|c| format!("EXCLUDED.{}", quote_ident(c))).collect();
            // Compared as text: every type has one, not every type has an equality operator.
            format!("UPDATE SET {} WHERE ROW({})::text IS DISTINCT FROM ROW({})::text", sets.join(", "), old.join(", "), new.join(", "))
        };
        self.exec(&format!("INSERT INTO {table} AS t ({list}) SELECT {list} FROM pg_temp.ferry_rows ON CONFLICT ({}) DO {action}", cols(key))).await
    }

    /// Gives a recreated pivot its known tables and columns back (names stay as stored, so a
    /// form or attribute keeps its table or column across runs), before new ones are discovered.
    async fn pivot_restore(&self, landing: &str, p: &Pivot, comments: bool) -> Result<(), TargetError> {
        if p.jsonb {
            return Ok(());
        }
        let names = self.pivot_names(p).await?;
        for (form, table) in &names.tables {
            self.pivot_table(landing, p, Some(form), table, comments).await?;
        }
        for (form, attr, c) in &names.columns {
            let table = if p.group.is_some() { names.tables.get(form).cloned().unwrap_or_default() } else { p.table.clone() };
            if table.is_empty() {
                continue;
            }
            let t = qualified(&p.schema, &table);
            self.exec(&format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {} {}", quote_ident(c), p.value_type)).await?;
            if comments {
                self.exec(&format!("COMMENT ON COLUMN {t}.{} IS {}", quote_ident(c), quote_literal(&attribute_comment(landing, p, attr)))).await?;
            }
        }
        Ok(())
    }

    /// The stored names of a pivot's tables and columns.
    pub async fn pivot_names(&self, p: &Pivot) -> Result<PivotNames, TargetError> {
        let rows =
            self.client.query("SELECT kind, form, original, name FROM ferry.reshape_names WHERE pivot = $1 ORDER BY seq", &[&p.qualified_name()]).await?;
        let mut n = PivotNames::default();
        for r in rows {
            let (kind, form, original, name): (String, String, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
            if kind == "table" {
                n.tables.insert(original, name);
            } else {
                n.columns.push((form, original, name));
            }
        }
        Ok(n)
    }

    /// Gives every form and attribute among `restrict`'s rows a table and a column (new ones
    /// created, named by [`sanitize`] and stored). Returns the names, and the new ones.
    async fn pivot_discover(&self, landing: &str, p: &Pivot, restrict: &str, comments: bool) -> Result<(PivotNames, Vec<(String, String)>), TargetError> {
        let mut names = self.pivot_names(p).await?;
        let group = p.group.as_ref().map(|g| format!("s.{}", quote_ident(g))).unwrap_or_else(|| "''".into());
        let sql = format!(
            "SELECT DISTINCT ({group})::text, (s.{})::text FROM {} AS s WHERE ({}) AND ({restrict}) AND s.{} IS NOT NULL ORDER BY 1, 2",
            quote_ident(&p.attribute),
            qualified(landing, &p.from),
            p.filter.as_deref().unwrap_or("true"),
            quote_ident(&p.attribute)
        );
        let rows = self.client.query(&sql, &[]).await?;
        let mut added = Vec::new();
        let key = p.qualified_name();
        for r in rows {
            let (form, attr): (Option<String>, String) = (r.get(0), r.get(1));
            let Some(form) = form else { continue }; // refused by the checks
            if p.jsonb {
                continue;
            }
            let table = match (p.group.is_some(), names.tables.get(&form)) {
                (false, _) => p.table.clone(),
                (true, Some(t)) => t.clone(),
                (true, None) => {
                    let mut taken: HashSet<String> = self.relation_names(&p.schema).await?;
                    let t = sanitize(&format!("{}{form}", p.prefix), &mut taken);
                    self.pivot_table(landing, p, Some(&form), &t, comments).await?;
                    self.client
                        .execute("INSERT INTO ferry.reshape_names (pivot, kind, form, original, name) VALUES ($1, 'table', '', $2, $3)", &[&key, &form, &t])
                        .await?;
                    if comments {
                        let c = format!("ferry: form {} of {landing}.{}", quote_literal(&form), p.from);
                        self.exec(&format!("COMMENT ON TABLE {} IS {}", qualified(&p.schema, &t), quote_literal(&c))).await?;
                    }
                    added.push((form.clone(), t.clone()));
                    names.tables.insert(form.clone(), t.clone());
                    t
                }
            };
            if names.columns.iter().any(|(f, a, _)| f == &form && a == &attr) {
                continue;
            }
            let mut taken: HashSet<String> = p.entity.iter().map(|(c, _)| c.clone()).collect();
            taken.extend(names.columns.iter().filter(|(f, _, _)| f == &form).map(|(_, _, c)| c.clone()));
            let c = sanitize(&attr, &mut taken);
            let t = qualified(&p.schema, &table);
            self.exec(&format!("ALTER TABLE {t} ADD COLUMN {} {}", quote_ident(&c), p.value_type)).await?;
            if comments {
                let note = attribute_comment(landing, p, &attr);
                self.exec(&format!("COMMENT ON COLUMN {t}.{} IS {}", quote_ident(&c), quote_literal(&note))).await?;
            }
            self.client
                .execute("INSERT INTO ferry.reshape_names (pivot, kind, form, original, name) VALUES ($1, 'column', $2, $3, $4)", &[&key, &form, &attr, &c])
                .await?;
            added.push((format!("{form}: {attr}"), c.clone()));
            names.columns.push((form.clone(), attr, c));
        }
        Ok((names, added))
    }

    async fn relation_names(&self, schema: &str) -> Result<HashSet<String>, TargetError> {
        let rows =
            self.client.query("SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1", &[&schema]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The pivot's target tables: (form or `None`, qualified name).
    fn pivot_targets(p: &Pivot, names: &PivotNames) -> Vec<(Option<String>, String)> {
        if p.jsonb || p.group.is_none() {
            vec![(None, qualified(&p.schema, &p.table))]
        } else {
            names.tables.iter().map(|(f, t)| (Some(f.clone()), qualified(&p.schema, t))).collect()
        }
    }

    /// Runs the checks of one part (or pivot) over `restrict`; an error names rows by key.
    async fn run_checks(&self, checks: Vec<(String, String)>, what: &str) -> Result<(), TargetError> {
        for (meaning, sql) in checks {
            let rows = self.client.query(&sql, &[]).await.map_err(|e| TargetError::from(e).context(what))?;
            if !rows.is_empty() {
                let keys: Vec<String> = rows.iter().map(|r| r.get::<_, Option<String>>(0).unwrap_or_default()).collect();
                return Err(TargetError::new(
                    ferry_model::ErrorKind::BadData,
                    format!("{what}: {meaning} — source key {}{}", keys.join("; "), if keys.len() == 5 { "; …" } else { "" }),
                ));
            }
        }
        Ok(())
    }

    fn part_checks(landing: &str, t: &ReshapeTable, p: &Part, restrict: &str) -> Vec<(String, String)> {
        p.checks.iter().map(|c| (format!("column {}.{}: {}", t.label(), c.column, c.what), check_sql(landing, p, c, restrict))).collect()
    }

    /// Fails with the server's own error, naming the mapping, when a mapping cannot run on the
    /// landing tables as planned (they must exist, rows or not). Writes nothing.
    pub async fn reshape_check(&self, r: &Reshape) -> Result<(), TargetError> {
        self.batch("BEGIN").await?;
        let result = self.reshape_check_in_transaction(r).await;
        let _ = self.batch("ROLLBACK").await;
        result
    }

    /// A few rows of each mapping before (the landing rows, as stored) and after (what the
    /// mapping makes of exactly those rows), evaluated inside the caller's transaction after
    /// [`PgTarget::reshape_check_in_transaction`] (which must roll back: ids and pivot
    /// columns are created for the sample).
    pub async fn reshape_preview(&self, r: &Reshape, rows: usize) -> Result<Vec<Sample>, TargetError> {
        let mut out = Vec::new();
        for t in &r.tables {
            for p in &t.parts {
                for f in &p.ids {
                    self.exec(&id_fill_sql(&r.landing, p, f, "true")).await?;
                }
            }
        }
        let texts = |sql: String| async move {
            self.client.query(&sql, &[]).await.map(|rs| rs.iter().map(|r| r.get::<_, Option<String>>(0).unwrap_or_default()).collect::<Vec<_>>())
        };
        for t in &r.tables {
            for p in &t.parts {
                let order = if p.source_key.is_empty() {
                    "1".to_string()
                } else {
                    p.source_key.iter().map(|k| format!("s.{}", quote_ident(k))).collect::<Vec<_>>().join(", ")
                };
                let from = qualified(&r.landing, &p.from);
                let picked = format!("SELECT s.ctid FROM {from} AS s ORDER BY {order} LIMIT {rows}");
                let before = texts(format!("SELECT s::text FROM {from} AS s WHERE s.ctid IN ({picked}) ORDER BY {order}")).await?;
                let after = texts(format!("SELECT m::text FROM ({}) m ORDER BY 1", part_select(&r.landing, t, p, &format!("s.ctid IN ({picked})")))).await?;
                out.push(Sample { table: t.label(), mapping: p.mapping.clone(), from: p.from.clone(), before, after });
            }
        }
        for p in &r.pivots {
            let from = qualified(&r.landing, &p.from);
            let entity: Vec<String> = p.entity.iter().map(|(c, _)| format!("s.{}", quote_ident(c))).collect();
            let restrict = format!("({}) IN (SELECT DISTINCT {} FROM {from} AS s ORDER BY 1 LIMIT {rows})", entity.join(", "), entity.join(", "));
            let before = texts(format!("SELECT s::text FROM {from} AS s WHERE {restrict} ORDER BY {} LIMIT {}", entity.join(", "), rows * 8)).await?;
            let (names, _) = self.pivot_discover(&r.landing, p, &restrict, false).await?;
            let mut after = Vec::new();
            for (form, t) in Self::pivot_targets(p, &names) {
                for row in texts(format!("SELECT m::text FROM ({}) m ORDER BY 1", pivot_select(&r.landing, p, form.as_deref(), &names, &restrict))).await? {
                    after.push(format!("{}: {row}", t.replace('"', "")));
                }
            }
            out.push(Sample {
                table: format!("{}.{}", p.schema, if p.table.is_empty() { format!("{}*", p.prefix) } else { p.table.clone() }),
                mapping: p.mapping.clone(),
                from: p.from.clone(),
                before,
                after,
            });
        }
        Ok(out)
    }

    /// [`PgTarget::reshape_check`] inside the caller's transaction (which must roll back).
    pub async fn reshape_check_in_transaction(&self, r: &Reshape) -> Result<(), TargetError> {
        self.reshape_create(r, true).await
    }

    /// Creates the target tables of `r` and fills them from the landing tables, each table in
    /// its own transaction, then adds their foreign keys. With `drop`, existing tables are
    /// recreated. Returns one result per table (a failed one does not stop the others).
    pub async fn reshape_load(&self, r: &Reshape, drop: bool) -> Result<Vec<ReshapeResult>, TargetError> {
        self.batch("BEGIN").await?;
        if let Err(e) = self.reshape_create(r, drop).await {
            let _ = self.batch("ROLLBACK").await;
            return Err(e);
        }
        self.batch("COMMIT").await?;
        let mut out = Vec::new();
        let mut failed: HashSet<String> = HashSet::new();
        for t in &r.tables {
            let mut res = ReshapeResult { table: t.label(), ..Default::default() };
            self.batch("BEGIN").await?;
            let filled = async {
                let mut rows = 0;
                for p in &t.parts {
                    let what = format!("mapping {} → {}", p.mapping, t.label());
                    for f in &p.ids {
                        self.exec(&id_fill_sql(&r.landing, p, f, "true")).await.map_err(|e| step_error(&what, e))?;
                    }
                    self.run_checks(Self::part_checks(&r.landing, t, p, "true"), &what).await?;
                    let sql = format!("INSERT INTO {} ({}) {}", t.qualified(), cols(&t.column_names()), part_select(&r.landing, t, p, "true"));
                    rows += self.client.execute(&sql, &[]).await.map_err(|e| step_error(&what, TargetError::from(e)))? as i64;
                }
                Ok::<_, TargetError>(rows)
            }
            .await;
            match filled {
                Ok(n) => {
                    self.batch("COMMIT").await?;
                    res.rows = n;
                }
                Err(e) => {
                    let _ = self.batch("ROLLBACK").await;
                    failed.insert(t.label());
                    res.error = Some(e.to_string());
                }
            }
            out.push(res);
        }
        for p in &r.pivots {
            let mut res = ReshapeResult {
                table: format!("{}.{}", p.schema, if p.jsonb || p.group.is_none() { p.table.clone() } else { format!("{}*", p.prefix) }),
                ..Default::default()
            };
            self.batch("BEGIN").await?;
            let filled = async {
                let what = format!("pivot {} (from landing table {})", p.mapping, p.from);
                self.run_checks(pivot_checks(&r.landing, p, "true"), &what).await?;
                self.pivot_restore(&r.landing, p, r.comments).await?;
                let (names, added) = self.pivot_discover(&r.landing, p, "true", r.comments).await?;
                let mut rows = 0;
                for (form, t) in Self::pivot_targets(p, &names) {
                    let sql = format!("INSERT INTO {t} {}", pivot_select(&r.landing, p, form.as_deref(), &names, "true"));
                    rows += self.client.execute(&sql, &[]).await.map_err(|e| step_error(&what, TargetError::from(e)))? as i64;
                }
                Ok::<_, TargetError>((rows, added))
            }
            .await;
            match filled {
                Ok((n, added)) => {
                    self.batch("COMMIT").await?;
                    res.rows = n;
                    res.names = added;
                }
                Err(e) => {
                    let _ = self.batch("ROLLBACK").await;
                    res.error = Some(e.to_string());
                }
            }
            out.push(res);
        }
        for t in &r.tables {
            for fk in &t.foreign_keys {
                if failed.contains(&t.label()) || failed.contains(&format!("{}.{}", fk.ref_schema, fk.ref_table)) {
                    continue;
                }
                let sql = format!(
                    // Deferred: a refresh deletes and re-selects referenced rows inside one
                    // transaction, and the references hold at its end.
                    "ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES {} ({}) DEFERRABLE INITIALLY DEFERRED",
                    t.qualified(),
                    cols(&fk.columns),
                    qualified(&fk.ref_schema, &fk.ref_table),
                    cols(&fk.ref_columns)
                );
                if let Err(e) = self.exec(&sql).await {
                    if let Some(res) = out.iter_mut().find(|o| o.table == t.label()) {
                        res.error.get_or_insert(e.to_string());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Compares every target table with its mapping evaluated now, in this server: rows the
    /// mapping gives that the table lacks (`missing`) and rows the table has that the mapping
    /// does not give (`extra`), each column compared by its text. Runs the checks too.
    pub async fn reshape_verify(&self, r: &Reshape) -> Result<Vec<ReshapeResult>, TargetError> {
        // One snapshot for the landing and the target tables.
        self.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        let result = async {
            let mut out = Vec::new();
            for t in &r.tables {
                let mut res = ReshapeResult { table: t.label(), ..Default::default() };
                let mut checks = Vec::new();
                for p in &t.parts {
                    checks.extend(Self::part_checks(&r.landing, t, p, "true"));
                }
                if let Err(e) = self.run_checks(checks, &t.label()).await {
                    res.error = Some(e.to_string());
                }
                let mapping: Vec<String> = t.parts.iter().map(|p| part_select(&r.landing, t, p, "true")).collect();
                let text_cols: Vec<String> = t.columns.iter().map(|c| format!("({})::text", quote_ident(&c.name))).collect();
                let union = mapping.iter().map(|m| format!("SELECT {} FROM ({m}) m", text_cols.join(", "))).collect::<Vec<_>>().join(" UNION ALL ");
                let target = format!("SELECT {} FROM {}", text_cols.join(", "), t.qualified());
                self.compare(&union, &target, &t.column_names(), &mut res).await?;
                out.push(res);
            }
            for p in &r.pivots {
                let names = self.pivot_names(p).await?;
                let what = format!("pivot {}", p.mapping);
                let check_error = self.run_checks(pivot_checks(&r.landing, p, "true"), &what).await.err();
                // Forms or attributes the target has no table or column for yet.
                let group = p.group.as_ref().map(|g| format!("s.{}", quote_ident(g))).unwrap_or_else(|| "''".into());
                let unknown = self
                    .client
                    .query(
                        &format!(
                            "SELECT DISTINCT ({group})::text, (s.{a})::text FROM {} AS s WHERE ({}) AND s.{a} IS NOT NULL",
                            qualified(&r.landing, &p.from),
                            p.filter.as_deref().unwrap_or("true"),
                            a = quote_ident(&p.attribute)
                        ),
                        &[],
                    )
                    .await?;
                let missing_names: Vec<String> = if p.jsonb {
                    Vec::new()
                } else {
                    unknown
                        .iter()
                        .map(|row| (row.get::<_, Option<String>>(0).unwrap_or_default(), row.get::<_, String>(1)))
                        .filter(|(f, a)| !names.columns.iter().any(|(nf, na, _)| nf == f && na == a))
                        .map(|(f, a)| if p.group.is_some() { format!("{f}: {a}") } else { a })
                        .collect()
                };
                for (form, t) in Self::pivot_targets(p, &names) {
                    let label = t.replace('"', "");
                    let mut res = ReshapeResult { table: label, error: check_error.as_ref().map(|e| e.to_string()), ..Default::default() };
                    let cols_of: Vec<String> = self
                        .client
                        .query(
                            "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                            &[&t],
                        )
                        .await?
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    let text_cols: Vec<String> = cols_of.iter().map(|c| format!("({})::text", quote_ident(c))).collect();
                    let mapping = format!("SELECT {} FROM ({}) m", text_cols.join(", "), pivot_select(&r.landing, p, form.as_deref(), &names, "true"));
                    let target = format!("SELECT {} FROM {t}", text_cols.join(", "));
                    self.compare(&mapping, &target, &cols_of, &mut res).await?;
                    out.push(res);
                }
                if !missing_names.is_empty() {
                    out.push(ReshapeResult {
                        table: format!("{}.{}*", p.schema, p.prefix),
                        error: Some(format!("{what}: attributes without a target column: {}", missing_names.join(", "))),
                        ..Default::default()
                    });
                }
            }
            Ok::<_, TargetError>(out)
        }
        .await;
        let _ = self.batch("COMMIT").await;
        result
    }

    async fn compare(&self, mapping: &str, target: &str, columns: &[String], res: &mut ReshapeResult) -> Result<(), TargetError> {
        let c = self
            .compare_sets(mapping, target, columns, ("missing", "extra"))
            .await
            .map_err(|e| e.context(format!("comparing {} with its mapping", res.table)))?;
        res.missing = Some(c.only_a);
        res.extra = Some(c.only_b);
        res.rows = c.rows_b;
        res.samples = c.samples;
        Ok(())
    }

    /// Compares two SELECTs shaped like `columns` (each column as text): rows only the first
    /// gives, rows only the second gives (`EXCEPT ALL` both ways, so duplicates count), the
    /// second's rows, and up to three rows of each difference labelled `labels`, shown whole.
    /// Shared by reshape verify and continuous verify ([`PgTarget::compare_chunk`]).
    pub(crate) async fn compare_sets(&self, a: &str, b: &str, columns: &[String], labels: (&str, &str)) -> Result<SetComparison, TargetError> {
        let row_text = |alias: &str| {
            format!(
                "concat_ws(', ', {})",
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{} || '=' || coalesce({alias}.c{i}, 'NULL')", quote_literal(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let aliased = |sql: &str| {
            let names: Vec<String> = (0..columns.len()).map(|i| format!("c{i}")).collect();
            format!("SELECT * FROM ({sql}) x ({})", names.join(", "))
        };
        let (m, t) = (aliased(a), aliased(b));
        let q = format!(
            "WITH missing AS ({m} EXCEPT ALL {t}), extra AS ({t} EXCEPT ALL {m}) \
             SELECT (SELECT count(*) FROM missing), (SELECT count(*) FROM extra), (SELECT count(*) FROM ({t}) a), \
             ARRAY(SELECT {} || ': ' || {} FROM missing x LIMIT 3) || ARRAY(SELECT {} || ': ' || {} FROM extra x LIMIT 3)",
            quote_literal(labels.0),
            row_text("x"),
            quote_literal(labels.1),
            row_text("x")
        );
        let row = self.client.query_one(&q, &[]).await?;
        Ok(SetComparison { only_a: row.get(0), only_b: row.get(1), rows_b: row.get(2), samples: row.get(3) })
    }
}

impl Pivot {
    /// The pivot's key in `ferry.reshape_names`: target schema and mapping name.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.mapping)
    }
}

/// Keeps the reshaped tables exact inside one apply transaction: [`Refresh::collect`] before
/// the batch's landing changes and after them, then [`Refresh::apply`].
pub struct Refresh<'a> {
    r: &'a Reshape,
    /// Landing tables of the batch that some mapping reads: (name, key columns).
    tables: Vec<(String, Vec<String>)>,
    /// Target tables (index into `r.tables`) and pivots to refresh completely (a TRUNCATE, or
    /// stopped by an earlier failed refresh: rebuilt whole from the landing, then streaming again).
    full_tables: HashSet<usize>,
    full_pivots: HashSet<usize>,
    /// Labels of the target tables an earlier refresh stopped.
    stopped: HashSet<String>,
    /// Target tables and pivots this batch reaches (only these are refreshed).
    reached: HashSet<usize>,
    reached_pivots: HashSet<usize>,
}

impl<'a> Refresh<'a> {
    /// Prepares the refresh of `changed` landing tables ((name, key columns, key rows, truncated)),
    /// COPYing the changed keys into temporary tables. None when no mapping reads any of them.
    pub async fn start(target: &PgTarget, r: &'a Reshape, changed: Vec<ChangedKeys<'_>>) -> Result<Option<Refresh<'a>>, TargetError> {
        let read: HashSet<&str> = r
            .tables
            .iter()
            .flat_map(|t| t.parts.iter().flat_map(|p| p.deps.iter().map(|d| d.table.as_str())))
            .chain(r.pivots.iter().map(|p| p.from.as_str()))
            .collect();
        let changed: Vec<ChangedKeys> = changed.into_iter().filter(|c| read.contains(c.table.as_str())).collect();
        if changed.is_empty() {
            return Ok(None);
        }
        let stopped: HashSet<String> = target
            .client
            .query("SELECT table_name FROM ferry.sync_tables WHERE target_schema = $1 AND status = 'stopped'", &[&r.landing])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let full_tables = r.tables.iter().enumerate().filter(|(_, t)| stopped.contains(&t.label())).map(|(i, _)| i).collect();
        let full_pivots = r.pivots.iter().enumerate().filter(|(_, p)| stopped.contains(&format!("{}.{}", p.schema, p.mapping))).map(|(i, _)| i).collect();
        let mut rf = Refresh { r, tables: Vec::new(), full_tables, full_pivots, stopped, reached: HashSet::new(), reached_pivots: HashSet::new() };
        for c in &changed {
            let keys = keys_table(&c.table);
            let key_cols = cols(&c.key);
            target
                .batch(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {key_cols} FROM {} WITH NO DATA; TRUNCATE {keys}",
                    quote_ident(&format!("ferry_k_{}", c.table)),
                    qualified(&r.landing, &c.table)
                ))
                .await?;
            target.copy_keys(&keys, c).await?;
            if c.truncated {
                for (i, t) in r.tables.iter().enumerate() {
                    if t.parts.iter().any(|p| p.deps.iter().any(|d| d.table == c.table)) {
                        rf.full_tables.insert(i);
                    }
                }
                for (i, p) in r.pivots.iter().enumerate() {
                    if p.from == c.table {
                        rf.full_pivots.insert(i);
                    }
                }
            }
            rf.tables.push((c.table.clone(), c.key.clone()));
        }
        // Only the target tables the batch's landing tables reach (or a full rebuild) are
        // refreshed: the others are not touched at all.
        let changed_tables: HashSet<&str> = changed.iter().map(|c| c.table.as_str()).collect();
        rf.reached = r
            .tables
            .iter()
            .enumerate()
            .filter(|(i, t)| rf.full_tables.contains(i) || t.parts.iter().any(|p| p.deps.iter().any(|d| changed_tables.contains(d.table.as_str()))))
            .map(|(i, _)| i)
            .collect();
        rf.reached_pivots =
            r.pivots.iter().enumerate().filter(|(i, p)| rf.full_pivots.contains(i) || changed_tables.contains(p.from.as_str())).map(|(i, _)| i).collect();
        for (i, t) in r.tables.iter().enumerate().filter(|(i, _)| rf.reached.contains(i)) {
            let a = affected_table(i);
            target
                .batch(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {} FROM {} WITH NO DATA; TRUNCATE {a}",
                    quote_ident(&format!("ferry_a_{i}")),
                    cols(&t.refresh_key),
                    t.qualified()
                ))
                .await?;
        }
        for (i, p) in r.pivots.iter().enumerate().filter(|(i, _)| rf.reached_pivots.contains(i)) {
            let a = pivot_affected_table(i);
            let entity: Vec<String> = p.entity.iter().map(|(c, _)| c.clone()).collect();
            target
                .batch(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {} FROM {} WITH NO DATA; TRUNCATE {a}",
                    quote_ident(&format!("ferry_p_{i}")),
                    cols(&entity),
                    qualified(&r.landing, &p.from)
                ))
                .await?;
        }
        Ok(Some(rf))
    }

    /// Adds the refresh keys the changed landing rows give now (call before and after the
    /// batch's landing changes).
    pub async fn collect(&self, target: &PgTarget) -> Result<(), TargetError> {
        let r = self.r;
        for (i, t) in r.tables.iter().enumerate() {
            for p in &t.parts {
                for d in &p.deps {
                    if !self.tables.iter().any(|(n, _)| n == &d.table) {
                        continue;
                    }
                    let affected = d.affected.replace("{keys}", &keys_table(&d.table));
                    target
                        .exec(&format!(
                            "INSERT INTO {} SELECT DISTINCT {} FROM {} AS s WHERE {affected}",
                            affected_table(i),
                            list(&p.key_exprs),
                            qualified(&r.landing, &p.from)
                        ))
                        .await
                        .map_err(|e| e.context(format!("mapping {} → {}", p.mapping, t.label())))?;
                }
            }
        }
        for (i, p) in r.pivots.iter().enumerate() {
            let Some((_, key)) = self.tables.iter().find(|(n, _)| n == &p.from) else { continue };
            let entity: Vec<String> = p.entity.iter().map(|(c, _)| format!("s.{}", quote_ident(c))).collect();
            let on_key: Vec<String> = key.iter().map(|k| format!("s.{}", quote_ident(k))).collect();
            target
                .exec(&format!(
                    "INSERT INTO {} SELECT DISTINCT {} FROM {} AS s WHERE ({}) IN (SELECT * FROM {})",
                    pivot_affected_table(i),
                    entity.join(", "),
                    qualified(&r.landing, &p.from),
                    on_key.join(", "),
                    keys_table(&p.from)
                ))
                .await?;
        }
        Ok(())
    }

    /// A stopped target table was rebuilt whole: it streams again.
    async fn healed(&self, target: &PgTarget, label: &str) -> Result<(), TargetError> {
        if self.stopped.contains(label) {
            target
                .client
                .execute(
                    "UPDATE ferry.sync_tables SET status = 'streaming', last_error = NULL WHERE target_schema = $1 AND table_name = $2",
                    &[&self.r.landing, &label],
                )
                .await?;
        }
        Ok(())
    }

    /// Deletes and re-selects the affected target rows, table by table in dependency order,
    /// each under a savepoint. Returns the tables that failed (label, error); the caller marks
    /// them stopped. Transient errors end the whole transaction.
    pub async fn apply(&self, target: &PgTarget) -> Result<Vec<(String, String)>, TargetError> {
        let r = self.r;
        let mut failed = Vec::new();
        for (i, t) in r.tables.iter().enumerate() {
            if !self.reached.contains(&i) {
                continue;
            }
            let full = self.full_tables.contains(&i);
            let a = affected_table(i);
            if !full && !target.client.query_one(&format!("SELECT EXISTS (SELECT 1 FROM {a})"), &[]).await?.get::<_, bool>(0) {
                continue;
            }
            target.batch("SAVEPOINT ferry_reshape").await?;
            let done = async {
                let mut rows = Vec::new();
                for p in &t.parts {
                    let restrict = if full { "true".to_string() } else { restrict_to_affected(p, &a) };
                    for f in &p.ids {
                        target.exec(&id_fill_sql(&r.landing, p, f, &restrict)).await?;
                    }
                    target.run_checks(PgTarget::part_checks(&r.landing, t, p, &restrict), &format!("mapping {} → {}", p.mapping, t.label())).await?;
                    rows.push(part_select(&r.landing, t, p, &restrict));
                }
                let affected = (!full).then(|| (t.refresh_key.clone(), a.clone()));
                target.converge(&t.qualified(), &t.column_names(), &t.refresh_key, affected, &rows).await
            }
            .await
            .map_err(|e| e.context(format!("refreshing {}", t.label())));
            match done {
                Ok(()) => {
                    target.batch("RELEASE SAVEPOINT ferry_reshape").await?;
                    self.healed(target, &t.label()).await?;
                }
                Err(e) if e.kind == ferry_model::ErrorKind::Transient => return Err(e),
                Err(e) => {
                    target.batch("ROLLBACK TO SAVEPOINT ferry_reshape").await?;
                    failed.push((t.label(), e.to_string()));
                }
            }
        }
        for (i, p) in r.pivots.iter().enumerate() {
            if !self.reached_pivots.contains(&i) {
                continue;
            }
            let full = self.full_pivots.contains(&i);
            let a = pivot_affected_table(i);
            if !full && !target.client.query_one(&format!("SELECT EXISTS (SELECT 1 FROM {a})"), &[]).await?.get::<_, bool>(0) {
                continue;
            }
            let entity: Vec<String> = p.entity.iter().map(|(c, _)| c.clone()).collect();
            let restrict = if full {
                "true".to_string()
            } else {
                format!("({}) IN (SELECT * FROM {a})", entity.iter().map(|c| format!("s.{}", quote_ident(c))).collect::<Vec<_>>().join(", "))
            };
            target.batch("SAVEPOINT ferry_reshape").await?;
            let done = async {
                let what = format!("pivot {} (from landing table {})", p.mapping, p.from);
                target.run_checks(pivot_checks(&r.landing, p, &restrict), &what).await?;
                let (names, _) = target.pivot_discover(&r.landing, p, &restrict, r.comments).await?;
                let mut key = entity.clone();
                if p.jsonb && p.group.is_some() {
                    key.push("form".into());
                }
                for (form, t) in PgTarget::pivot_targets(p, &names) {
                    let mut columns = entity.clone();
                    if p.jsonb {
                        if p.group.is_some() {
                            columns.push("form".into());
                        }
                        columns.push("document".into());
                    } else {
                        columns.extend(names.columns_of(form.as_deref().unwrap_or("")).into_iter().map(|(_, c)| c.to_string()));
                    }
                    let rows = [pivot_select(&r.landing, p, form.as_deref(), &names, &restrict)];
                    let affected = (!full).then(|| (entity.clone(), a.clone()));
                    target.converge(&t, &columns, &key, affected, &rows).await?;
                }
                Ok::<_, TargetError>(())
            }
            .await;
            match done {
                Ok(()) => {
                    target.batch("RELEASE SAVEPOINT ferry_reshape").await?;
                    self.healed(target, &format!("{}.{}", p.schema, p.mapping)).await?;
                }
                Err(e) if e.kind == ferry_model::ErrorKind::Transient => return Err(e),
                Err(e) => {
                    target.batch("ROLLBACK TO SAVEPOINT ferry_reshape").await?;
                    failed.push((format!("{}.{}", p.schema, p.mapping), e.to_string()));
                }
            }
        }
        Ok(failed)
    }
}

/// The changed keys of one landing table in a batch.
pub struct ChangedKeys<'b> {
    pub table: String,
    pub key: Vec<String>,
    pub batch: &'b crate::apply::TableBatch,
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_makes_safe_stable_names() {
        let mut taken = HashSet::new();
        assert_eq!(sanitize("First Name?", &mut taken), "first_name");
        assert_eq!(sanitize("first-name", &mut taken), format!("first_name_{}", short_hash("first-name")));
        assert_eq!(sanitize("Select", &mut taken), "select_");
        assert_eq!(sanitize("2nd visit", &mut taken), "_2nd_visit");
        assert_eq!(sanitize("¿Qué edad?", &mut taken), "qué_edad");
        assert_eq!(sanitize("!!!", &mut taken), "x");
        let long = "ü".repeat(40); // 80 bytes
        let n = sanitize(&long, &mut taken);
        assert!(n.len() <= 63, "{n}");
        assert!(n.ends_with(&short_hash(&long)));
        // The same input, sanitised again against the same names, gets a different free name.
        let again = sanitize(&long, &mut taken);
        assert_ne!(again, n);
        assert!(again.len() <= 63);
    }

    #[test]
    fn part_select_casts_and_restricts() {
        let t = ReshapeTable {
            schema: "crm".into(),
            name: "customer".into(),
            columns: vec![
                ReshapeColumn { name: "id".into(), type_: None, comment: String::new() },
                ReshapeColumn { name: "name".into(), type_: Some("varchar(80)".into()), comment: String::new() },
            ],
            ..Default::default()
        };
        let p = Part {
            from: "tblcust".into(),
            exprs: vec!["s.\"cust_id\"".into(), "initcap(cust_nm)".into()],
            filter: Some("del_flg = 0".into()),
            key_exprs: vec!["s.\"cust_id\"".into()],
            ..Default::default()
        };
        assert_eq!(
            part_select("landing", &t, &p, &restrict_to_affected(&p, "pg_temp.a")),
            "SELECT (s.\"cust_id\") AS \"id\", CAST((initcap(cust_nm)) AS varchar(80)) AS \"name\" FROM \"landing\".\"tblcust\" AS s \
             WHERE (del_flg = 0) AND (((s.\"cust_id\")) IN (SELECT * FROM pg_temp.a))"
        );
    }
}
