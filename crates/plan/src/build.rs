//! Building the plan. Every problem that would stop a migration (unknown table or column in a
//! rule, a type without mapping, two source names landing on one target name) is collected and
//! reported together, before anything is written, so one run of `ferry plan` shows them all.

use crate::assessment::{Assessment, Severity, TableSummary};
use crate::config::{ColumnRule, Config, DefaultRule, EnumStyle, IdentifierCase, TableRule, ZeroDatePolicy};
use crate::convert::{ColumnConversion, Conversion, RowConverter};
use crate::naming::{apply_case, like, target_name, NameAllocator};
use crate::typemap::{self, ColumnProbes, ZeroDates};
use ferry_model::{Column, DataType, DefaultValue, IndexKind, ObjectKind, Probe, Schema, Table, UserTypeKind};
use ferry_target_postgres::copy_binary::BinaryKind;
use ferry_target_postgres::ddl::*;
use ferry_target_postgres::ident::{quote_ident, quote_literal, truncate_ident};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Answers to data probes: rows failing the probe, by (table, column, probe).
pub type ProbeAnswers = HashMap<(String, String, Probe), u64>;

#[derive(Debug, Clone)]
pub struct PlanError {
    pub problems: Vec<String>,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "the plan has {} problem(s); nothing was written:", self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanError {}

pub struct PlanInput<'a> {
    pub schema: &'a Schema,
    pub config: &'a Config,
    pub probes: &'a ProbeAnswers,
    /// The target database has the PostGIS extension.
    pub postgis: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TablePlan {
    #[serde(skip)]
    pub source: Table,
    pub source_name: String,
    pub target: PgTable,
    pub converter: RowConverter,
    /// The source's next AUTO_INCREMENT value: identity restarts at least here.
    pub auto_increment_floor: Option<u64>,
    /// Binary COPY encoders, one per target column; `None` when a column's type (a user
    /// override) has none, and the table is loaded in the text format.
    pub binary: Option<Vec<BinaryKind>>,
}

impl TablePlan {
    /// `COPY "schema"."table" ("a", "b") FROM STDIN [(FORMAT binary)]`.
    pub fn copy_sql(&self, binary: bool) -> String {
        let cols: Vec<String> = self.target.columns.iter().map(|c| quote_ident(&c.name)).collect();
        format!("COPY {} ({}) FROM STDIN{}", self.target.qualified(), cols.join(", "), if binary { " (FORMAT binary)" } else { "" })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub source_database: String,
    pub target_schema: String,
    pub enums: Vec<PgEnum>,
    /// Domains of a PostgreSQL source, created after the enums.
    pub domains: Vec<PgDomain>,
    /// Free sequences of a PostgreSQL source, created before the tables (defaults call them).
    pub sequences: Vec<PgSequence>,
    pub tables: Vec<TablePlan>,
    pub assessment: Assessment,
    /// A Citus target's distribution (`[target.citus]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citus: Option<crate::citus::CitusPlan>,
    /// What the plan was made from, so it can be made again for a changed source schema
    /// ([`Plan::rebuilt`], used by sync when the source runs DDL).
    #[serde(skip)]
    pub inputs: PlanInputs,
}

/// The inputs of a plan, owned.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    pub schema: Schema,
    pub config: Config,
    pub probes: ProbeAnswers,
    pub postgis: bool,
}

impl Plan {
    /// The plan for `schema` (the source after some DDL) under the same rules, probe answers
    /// (columns without one map as if unprobed) and target.
    pub fn rebuilt(&self, schema: Schema) -> Result<Plan, PlanError> {
        build(PlanInput { schema: &schema, config: &self.inputs.config, probes: &self.inputs.probes, postgis: self.inputs.postgis })
    }

    /// The probe answers as a list (JSON cannot key a map by a tuple).
    pub fn probe_list(&self) -> Vec<(String, String, ferry_model::Probe, u64)> {
        let mut v: Vec<_> = self.inputs.probes.iter().map(|((t, c, p), n)| (t.clone(), c.clone(), *p, *n)).collect();
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        v
    }

    pub fn probes_from_list(list: Vec<(String, String, ferry_model::Probe, u64)>) -> ProbeAnswers {
        list.into_iter().map(|(t, c, p, n)| ((t, c, p), n)).collect()
    }

    /// The plan of source table `name`.
    pub fn table(&self, name: &str) -> Option<&TablePlan> {
        self.tables.iter().find(|t| t.source.name == name)
    }
}

impl TablePlan {
    /// Rows can travel as the source's own binary COPY data: every copied column keeps its
    /// PostgreSQL type unconverted, and none is an array of a type of the source schema (binary
    /// arrays carry their element type's OID, which differs between databases).
    pub fn raw_copy_eligible(&self) -> bool {
        self.converter.columns.iter().all(|c| {
            matches!(c.conversion, crate::convert::Conversion::Identity)
                && matches!(&self.source.columns[c.source_index].data_type, DataType::Native { name, user_type } if !(*user_type && name.ends_with("[]")))
        })
    }

    /// The target column that source column `name` lands in.
    pub fn target_column_of(&self, name: &str) -> Option<&str> {
        let i = self.source.column_index(name)?;
        let at = self.converter.columns.iter().position(|c| c.source_index == i)?;
        Some(self.target.columns[at].name.as_str())
    }
}

/// The identifier rule in force: the config's, else `preserve` for a PostgreSQL source and
/// `lower` for the others.
pub fn identifier_case(config: &Config, schema: &Schema) -> IdentifierCase {
    config.rules.identifiers.unwrap_or(if schema.server_version.starts_with("PostgreSQL") { IdentifierCase::Preserve } else { IdentifierCase::Lower })
}

/// The include/exclude rules as a predicate over source table names.
pub fn select_tables(config: &Config) -> impl Fn(&str) -> bool + Sync + '_ {
    move |name: &str| config.rules.include.iter().any(|p| like(p, name)) && !config.rules.exclude.iter().any(|p| like(p, name))
}

/// Storage engines whose tables are in a consistent snapshot (MySQL/MariaDB); a PostgreSQL
/// source reports none.
const TRANSACTIONAL_ENGINES: [&str; 4] = ["InnoDB", "XtraDB", "ROCKSDB", "TokuDB"];

/// The table's storage engine when it is not transactional (so not in a consistent snapshot).
pub fn non_transactional(t: &Table) -> Option<&str> {
    t.engine.as_deref().filter(|e| !TRANSACTIONAL_ENGINES.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The zero-date policy in force for a column: its own rule, else `rules.zero_dates`.
pub fn zero_date_policy(config: &Config, table: &str, column: &str) -> ZeroDatePolicy {
    column_rule(config, table, column).and_then(|r| r.zero_dates).unwrap_or(config.rules.zero_dates)
}

fn column_rule<'c>(config: &'c Config, table: &str, column: &str) -> Option<&'c ColumnRule> {
    find_rule(config, table).and_then(|r| r.columns.get(column))
}

/// The data probes the type map needs: tinyint(1) columns under `auto`, TIME columns,
/// `bigint unsigned` columns (do their values fit a bigint?), and temporal columns whose zero
/// dates would fail the load (policy `error`) or a NOT NULL (policy `null`).
pub fn probes_needed(schema: &Schema, config: &Config) -> Vec<(String, String, Probe)> {
    let mut out = Vec::new();
    for t in &schema.tables {
        for c in &t.columns {
            let crule = column_rule(config, &t.name, &c.name);
            if crule.and_then(|c| c.type_.as_ref()).is_some() || c.generated.is_some() {
                continue;
            }
            if c.data_type.is_temporal() {
                match zero_date_policy(config, &t.name, &c.name) {
                    ZeroDatePolicy::Error => out.push((t.name.clone(), c.name.clone(), Probe::ZeroDates)),
                    ZeroDatePolicy::Null if !c.nullable => out.push((t.name.clone(), c.name.clone(), Probe::ZeroDates)),
                    _ => {}
                }
            }
            match c.data_type {
                DataType::Enum { .. } => out.push((t.name.clone(), c.name.clone(), Probe::InvalidEnum)),
                // VARBINARY (at most 64 KB a value) is always probed; BLOBs, whose scan reads
                // every stored byte, only when the rule asks to turn them into text.
                DataType::Varbinary { .. } if t.estimated_rows > 0 => out.push((t.name.clone(), c.name.clone(), Probe::NotUtf8Text)),
                DataType::Blob { .. } if t.estimated_rows > 0 && config.rules.utf8_binary == crate::config::Utf8Binary::Text => {
                    out.push((t.name.clone(), c.name.clone(), Probe::NotUtf8Text))
                }
                DataType::Int { bytes: 8, unsigned: true, .. } if !c.auto_increment => out.push((t.name.clone(), c.name.clone(), Probe::AboveBigint)),
                DataType::Int { bytes: 1, unsigned: false, display_width: Some(1) } if config.rules.tinyint1 == crate::config::Tinyint1::Auto => {
                    out.push((t.name.clone(), c.name.clone(), Probe::NotZeroOrOne))
                }
                DataType::Time { .. } => out.push((t.name.clone(), c.name.clone(), Probe::OutsideDay)),
                _ => {}
            }
        }
    }
    out
}

fn find_rule<'c>(config: &'c Config, table: &str) -> Option<&'c TableRule> {
    config.tables.get(table)
}

pub fn build(input: PlanInput<'_>) -> Result<Plan, PlanError> {
    let PlanInput { schema: source_model, config, probes, postgis } = input;
    // Which tables are planned is decided here, once, for every caller: a source may read only
    // the selected tables (the same `select_tables`), and sync's model of the source — kept from
    // when it started — loses a table excluded since.
    let selected = select_tables(config);
    let filtered;
    let schema = if source_model.tables.iter().all(|t| selected(&t.name)) {
        source_model
    } else {
        filtered = Schema { tables: source_model.tables.iter().filter(|t| selected(&t.name)).cloned().collect(), ..source_model.clone() };
        &filtered
    };
    let rules = &config.rules;
    let case = identifier_case(config, schema);
    let mut problems: Vec<String> = Vec::new();
    let mut a = Assessment { source: schema.name.clone(), source_server: schema.server_version.clone(), ..Default::default() };

    // Rules must name tables and columns that exist among the selected tables.
    for (tname, rule) in &config.tables {
        match schema.table(tname) {
            None => problems.push(format!(
                "rule [tables.\"{tname}\"] names a table that is not among the selected tables of source database `{}` (check the name, its case, and rules.include/exclude)",
                schema.name
            )),
            Some(t) => {
                for cname in rule.columns.keys() {
                    if t.column(cname).is_none() {
                        problems.push(format!(
                            "rule [tables.\"{tname}\".columns.\"{cname}\"] names a column that table `{tname}` does not have"
                        ));
                    }
                }
            }
        }
    }
    if schema.tables.is_empty() {
        problems.push(format!(
            "no table of source database `{}` is selected (rules.include = {:?}, rules.exclude = {:?})",
            schema.name, rules.include, rules.exclude
        ));
    }

    let target_schema = truncate_ident(&config.target.schema.clone().unwrap_or_else(|| apply_case(case, &schema.name)));
    a.target_schema = target_schema.clone();

    // Table names: collisions are errors; the user must rename.
    let mut table_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut tname_of: HashMap<String, String> = HashMap::new();
    for t in &schema.tables {
        let rename = find_rule(config, &t.name).and_then(|r| r.rename.as_deref());
        let n = target_name(case, &t.name, rename);
        table_names.entry(n.clone()).or_default().push(t.name.clone());
        tname_of.insert(t.name.clone(), n);
    }
    for (target, sources) in collisions(&table_names) {
        problems.push(format!("tables {sources} all become \"{target}\" in PostgreSQL; rename all but one with [tables.\"<name>\"] rename = \"…\""));
    }

    // pg_class holds tables and indexes, pg_type holds tables' row types and enums: one
    // allocator each, with the table names reserved first.
    let mut relnames = NameAllocator::new();
    let mut typenames = NameAllocator::new();
    for n in table_names.keys() {
        relnames.reserve(n);
        typenames.reserve(n);
    }

    let mut enums = Vec::new();
    let mut tables = Vec::new();
    // A PostgreSQL source's enum and domain types, recreated under their own names.
    let user = UserTypes::new(schema, &target_schema);
    let mut domains = Vec::new();
    for ut in &schema.types {
        match &ut.kind {
            UserTypeKind::Enum { values } => {
                typenames.reserve(&ut.name);
                enums.push(PgEnum { schema: target_schema.clone(), name: ut.name.clone(), values: values.clone() });
            }
            UserTypeKind::Domain { base, not_null, default, checks } => {
                typenames.reserve(&ut.name);
                domains.push(PgDomain {
                    schema: target_schema.clone(),
                    name: ut.name.clone(),
                    base: user.qualify_type(base),
                    not_null: *not_null,
                    default: default.as_deref().map(|d| user.qualify_casts(d)),
                    checks: checks.iter().map(|c| user.qualify_casts(c)).collect(),
                });
            }
        }
    }
    // Free sequences: created under their own names before the tables that call them.
    let sequences: Vec<PgSequence> = schema
        .sequences
        .iter()
        .map(|q| {
            relnames.reserve(&q.name);
            PgSequence { schema: target_schema.clone(), def: q.clone() }
        })
        .collect();
    for d in &mut domains {
        d.default = d.default.take().map(|e| qualify_sequences(&e, &sequences));
    }
    let mut ci_columns: BTreeMap<String, Vec<String>> = BTreeMap::new();

    for t in &schema.tables {
        let rule = find_rule(config, &t.name);
        let tname = tname_of[&t.name].clone();
        if tname != t.name && rule.and_then(|r| r.rename.as_ref()).is_none() && case == IdentifierCase::Preserve {
            a.push(Severity::Info, &t.name, format!("renamed to \"{tname}\" (cut to 63 bytes)"));
        } else if tname != t.name && tname != t.name.to_lowercase() {
            a.push(Severity::Info, &t.name, format!("renamed to \"{tname}\""));
        }

        if let Some(engine) = non_transactional(t) {
            a.push(
                Severity::Warning,
                &t.name,
                format!("{engine} table: not transactional, so the load's consistent snapshot does not cover it — rows written while it is read may be missing or also arrive by sync; load it while nothing writes to it, or ALTER TABLE … ENGINE=InnoDB first"),
            );
        }

        // Columns.
        let mut col_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut cname_of: HashMap<String, String> = HashMap::new();
        let mut renamed = Vec::new();
        for c in &t.columns {
            let crule = rule.and_then(|r| r.columns.get(&c.name));
            if crule.and_then(|r| r.default.as_ref()) == Some(&DefaultRule::Keep(true)) {
                problems.push(format!(
                    "rule [tables.\"{}\".columns.\"{}\"] default = true: give a PostgreSQL expression (default = \"…\") or default = false for none",
                    t.name, c.name
                ));
            }
            let n = target_name(case, &c.name, crule.and_then(|r| r.rename.as_deref()));
            if n != c.name && n != c.name.to_lowercase() {
                renamed.push(format!("{}→{}", c.name, n));
            }
            col_names.entry(n.clone()).or_default().push(c.name.clone());
            cname_of.insert(c.name.clone(), n);
        }
        for (target, sources) in collisions(&col_names) {
            problems.push(format!(
                "table `{}`: columns {sources} all become \"{target}\"; rename with [tables.\"{}\".columns.\"<name>\"] rename = \"…\"",
                t.name, t.name
            ));
        }
        if !renamed.is_empty() {
            a.push(Severity::Info, &t.name, format!("columns renamed: {}", renamed.join(", ")));
        }

        let mut columns = Vec::new();
        let mut conversions = Vec::new();
        let mut on_update_now = Vec::new();
        let mut generated = Vec::new();
        for (i, c) in t.columns.iter().enumerate() {
            let obj = format!("{}.{}", t.name, c.name);
            let cname = cname_of[&c.name].clone();
            // A PostgreSQL source's generated column stays generated: the target computes it from
            // the same expression, so it is neither read nor copied.
            if let (Some(expr), DataType::Native { name, .. }) = (&c.generated, &c.data_type) {
                let ty = match user.pg_type(name) {
                    PgType::Custom(s) => s,
                    other => other.to_string(),
                };
                generated.push(PgGenerated { name: cname, ty, expression: user.qualify_casts(expr) });
                continue;
            }
            let crule = rule.and_then(|r| r.columns.get(&c.name));
            let override_ty = crule.and_then(|r| r.type_.clone());
            // Zero dates: the column's policy, and whether its target column must accept NULL.
            let zpolicy = zero_date_policy(config, &t.name, &c.name);
            let zero_rows = probes.get(&(t.name.clone(), c.name.clone(), Probe::ZeroDates)).copied().unwrap_or(0);
            let zero_default = c.data_type.is_temporal() && matches!(&c.default, Some(DefaultValue::ZeroDate(_)));
            let text_override = override_ty.as_deref().is_some_and(typemap::is_text_type);
            let mut nullable = c.nullable;
            if c.data_type.is_temporal() && !text_override {
                if zpolicy == ZeroDatePolicy::Null && !c.nullable && (zero_rows > 0 || zero_default) {
                    nullable = true;
                    let why = if zero_rows > 0 { format!("{zero_rows} rows hold zero dates") } else { "its default is a zero date".to_string() };
                    a.push(
                        Severity::Warning,
                        &obj,
                        format!("NOT NULL dropped: {why}, written as NULL (zero_dates = \"null\"); zero_dates = \"-infinity\" keeps NOT NULL"),
                    );
                }
                if zpolicy == ZeroDatePolicy::Error && zero_rows > 0 {
                    a.push(Severity::Action, &obj, format!(
                        "{zero_rows} rows hold zero or partial dates, which PostgreSQL has no value for: the table fails to load under zero_dates = \"error\"; set [tables.\"{}\".columns.\"{}\"] zero_dates (or rules.zero_dates) to \"-infinity\" (keeps NOT NULL) or \"null\", or override the type to text",
                        t.name, c.name
                    ));
                }
            }
            let zero = ZeroDates { policy: zpolicy, nullable };
            if let Some(n) = probes.get(&(t.name.clone(), c.name.clone(), Probe::InvalidEnum)).copied().filter(|n| *n > 0) {
                a.push(Severity::Action, &obj, format!(
                    "{n} rows hold MySQL's invalid ENUM value '' (what MySQL stores for a value not in the list): the table fails to load; override [tables.\"{}\".columns.\"{}\"] type = \"text\" to keep them, or fix the data",
                    t.name, c.name
                ));
            }
            let (ty, conversion) = if let Some(o) = override_ty {
                a.push(Severity::Info, &obj, format!("{} → {o} (type override)", c.source_type));
                let conv = typemap::override_conversion(c, &o, zero);
                (PgType::Custom(o), conv)
            } else {
                let enum_type = match (&c.data_type, rules.enums) {
                    (DataType::Native { name, user_type: true }, _) => Some(user.pg_type(name)),
                    (DataType::Enum { values }, EnumStyle::Type) => {
                        let name = typenames.allocate(&format!("{tname}_{cname}"));
                        enums.push(PgEnum { schema: target_schema.clone(), name: name.clone(), values: values.clone() });
                        Some(PgType::Named { schema: target_schema.clone(), name })
                    }
                    _ => None,
                };
                let p = ColumnProbes {
                    not_zero_or_one: probes.get(&(t.name.clone(), c.name.clone(), Probe::NotZeroOrOne)).copied(),
                    outside_day: probes.get(&(t.name.clone(), c.name.clone(), Probe::OutsideDay)).copied(),
                    above_bigint: probes.get(&(t.name.clone(), c.name.clone(), Probe::AboveBigint)).copied(),
                    not_utf8_text: probes.get(&(t.name.clone(), c.name.clone(), Probe::NotUtf8Text)).copied(),
                };
                match typemap::map_column(c, rules, p, enum_type, postgis, zero) {
                    Ok(m) => {
                        if let Some(note) = m.note {
                            let sev = if matches!(c.data_type, DataType::Geometry { .. }) && !postgis { Severity::Warning } else { Severity::Info };
                            a.push(sev, &obj, note);
                        }
                        (m.ty, m.conversion)
                    }
                    Err(e) => {
                        problems.push(format!("column `{}`.`{}`: {e}", t.name, c.name));
                        (PgType::Text, Conversion::Identity)
                    }
                }
            };
            if let (DataType::Enum { values }, EnumStyle::Check) = (&c.data_type, rules.enums) {
                let _ = values; // the CHECK is rendered below with the other checks
            }
            let identity = c.auto_increment
                && (matches!(ty, PgType::SmallInt | PgType::Integer | PgType::BigInt)
                    || matches!(&ty, PgType::Custom(n) if matches!(n.as_str(), "smallint" | "integer" | "bigint")));
            if c.auto_increment && !identity {
                a.push(Severity::Warning, &obj, format!("AUTO_INCREMENT dropped: {ty} cannot be an identity column"));
            }
            let default = match crule.and_then(|r| r.default.as_ref()) {
                Some(DefaultRule::Expression(e)) => {
                    a.push(Severity::Info, &obj, format!("default {e} (column rule)"));
                    Some(e.clone())
                }
                Some(DefaultRule::Keep(_)) => None,
                None if identity => None,
                None => {
                    let zp = if text_override { ZeroDatePolicy::Error } else { zpolicy };
                    let d = pg_default(c, &ty, zp, nullable, &obj, &mut a);
                    // A PostgreSQL source's default may cast to its own types (`'ok'::mood`).
                    match (&c.default, d) {
                        (Some(DefaultValue::Native(_)), Some(d)) => Some(qualify_sequences(&user.qualify_casts(&d), &sequences)),
                        (_, d) => d,
                    }
                }
            };
            if c.on_update_current_timestamp {
                on_update_now.push(cname.clone());
                a.push(Severity::Info, &obj, "ON UPDATE CURRENT_TIMESTAMP → a BEFORE UPDATE trigger (disabled during ferry's own apply)");
            }
            if let Some(g) = &c.generated {
                a.push(Severity::Warning, &obj, format!("generated column copied as a plain column; its expression is not kept: {g}"));
            }
            if c.data_type.is_textual() && c.case_insensitive {
                ci_columns.entry(c.collation.clone().unwrap_or_else(|| "case-insensitive".into())).or_default().push(format!("{}.{}", t.name, c.name));
            }
            columns.push(PgColumn { name: cname, ty, nullable, default, identity, comment: c.comment.clone() });
            conversions.push(ColumnConversion { source_index: i, conversion });
        }

        let col = |n: &str| cname_of.get(n).cloned().unwrap_or_else(|| n.to_string());

        // Primary key.
        let primary_key =
            t.primary_key.as_ref().map(|pk| PgKey { name: relnames.allocate(&format!("{tname}_pkey")), columns: pk.columns.iter().map(|c| col(c)).collect() });
        if primary_key.is_none() {
            let how = if t.row_identity().is_some() {
                "a NOT NULL unique key will identify rows"
            } else {
                "rows cannot be identified by a key (verify compares whole tables, sync needs full-row matching)"
            };
            a.push(Severity::Warning, &t.name, format!("no primary key: {how}"));
        }

        // Indexes.
        let mut indexes = Vec::new();
        for ix in &t.indexes {
            let obj = format!("{} index {}", t.name, ix.name);
            if ix.columns.iter().any(|c| c.name.is_empty()) {
                a.push(Severity::Action, &obj, "functional index not converted: recreate it with a PostgreSQL expression");
                continue;
            }
            // MySQL index names are per table (prefixed with it here); a PostgreSQL source's are
            // already unique in the schema and stay as they are.
            let name = if schema.server_version.starts_with("PostgreSQL") {
                relnames.allocate(&ix.name)
            } else {
                relnames.allocate(&format!("{tname}_{}", apply_case(case, &ix.name)))
            };
            match ix.kind {
                IndexKind::FullText => {
                    let parts: Vec<String> = ix.columns.iter().map(|c| format!("coalesce({}, '')", quote_ident(&col(&c.name)))).collect();
                    indexes.push(PgIndex {
                        name,
                        unique: false,
                        method: "gin".into(),
                        elements: vec![format!("(to_tsvector('simple'::regconfig, {}))", parts.join(" || ' ' || "))],
                    });
                    a.push(
                        Severity::Warning,
                        &obj,
                        "FULLTEXT → GIN index on to_tsvector('simple', …): rewrite MATCH … AGAINST as to_tsvector(…) @@ websearch_to_tsquery(…)",
                    );
                }
                IndexKind::Spatial => {
                    if postgis {
                        indexes.push(PgIndex {
                            name,
                            unique: false,
                            method: "gist".into(),
                            elements: ix.columns.iter().map(|c| quote_ident(&col(&c.name))).collect(),
                        });
                        a.push(Severity::Info, &obj, "SPATIAL → GiST index");
                    } else {
                        a.push(Severity::Action, &obj, "SPATIAL index not created: the target has no PostGIS (the column is WKB bytea)");
                    }
                }
                IndexKind::BTree | IndexKind::Hash => {
                    // A prefix part becomes an expression on the prefix (`left(col, n)`, bytes by
                    // `substring`): an index on the whole value could exceed btree's row size.
                    let mut elements = Vec::new();
                    for c in &ix.columns {
                        let q = quote_ident(&col(&c.name));
                        let mut e = match c.prefix {
                            Some(n) => {
                                let binary = t
                                    .column(&c.name)
                                    .map(|c| matches!(c.data_type, DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::Blob { .. }))
                                    .unwrap_or(false);
                                if binary {
                                    format!("(substring({q} from 1 for {n}))")
                                } else {
                                    format!("(left({q}, {n}))")
                                }
                            }
                            None => q,
                        };
                        if c.descending {
                            e.push_str(" DESC");
                        }
                        elements.push(e);
                    }
                    if ix.kind == IndexKind::Hash {
                        a.push(Severity::Info, &obj, "HASH index → btree");
                    }
                    let pg = PgIndex { name, unique: ix.unique, method: "btree".into(), elements };
                    if ix.columns.iter().any(|c| c.prefix.is_some()) {
                        if ix.unique {
                            // Unique on a prefix is a different rule than unique on the value,
                            // and no ON CONFLICT can name it: a person decides.
                            a.push_sql(
                                Severity::Action,
                                &obj,
                                "UNIQUE prefix index not created: MySQL enforces uniqueness of the first n characters only; run this if that is the rule the application needs",
                                pg_index_sql(&target_schema, &tname, &pg),
                            );
                            continue;
                        }
                        a.push(
                            Severity::Info,
                            &obj,
                            "prefix index → index on the prefix expression (left(column, n)); queries use it through the same expression",
                        );
                    }
                    indexes.push(pg);
                }
            }
        }

        // Foreign keys: only to tables in the plan.
        let mut fk_names = NameAllocator::new();
        let mut foreign_keys = Vec::new();
        for fk in &t.foreign_keys {
            let obj = format!("{} foreign key {}", t.name, fk.name);
            if fk.ref_schema.is_some() || !tname_of.contains_key(&fk.ref_table) {
                a.push(Severity::Warning, &obj, format!("not created: it references `{}`, which is not migrated", fk.ref_table));
                continue;
            }
            let ref_table = schema.table(&fk.ref_table).unwrap();
            let rrule = find_rule(config, &fk.ref_table);
            let ref_columns =
                fk.ref_columns.iter().map(|c| target_name(case, c, rrule.and_then(|r| r.columns.get(c)).and_then(|r| r.rename.as_deref()))).collect();
            let _ = ref_table;
            foreign_keys.push(PgForeignKey {
                name: fk_names.allocate(&apply_case(case, &fk.name)),
                columns: fk.columns.iter().map(|c| col(c)).collect(),
                ref_schema: target_schema.clone(),
                ref_table: tname_of[&fk.ref_table].clone(),
                ref_columns,
                on_delete: fk.on_delete.sql().into(),
                on_update: fk.on_update.sql().into(),
            });
        }

        // Indexes and foreign keys of single partitions, on the target's partitions.
        let mut partition_indexes = Vec::new();
        let mut partition_foreign_keys = Vec::new();
        for po in &t.partition_objects {
            let pname = apply_case(case, &po.partition);
            for ix in &po.indexes {
                let elements = ix.columns.iter().map(|c| format!("{}{}", quote_ident(&col(&c.name)), if c.descending { " DESC" } else { "" })).collect();
                partition_indexes.push((
                    pname.clone(),
                    PgIndex { name: relnames.allocate(&apply_case(case, &ix.name)), unique: ix.unique, method: "btree".into(), elements },
                ));
                a.push(Severity::Info, format!("{} partition {} index {}", t.name, po.partition, ix.name), "index of one partition: created on that partition");
            }
            let mut names = NameAllocator::new();
            for fk in &po.foreign_keys {
                let obj = format!("{} partition {} foreign key {}", t.name, po.partition, fk.name);
                if fk.ref_schema.is_some() || !tname_of.contains_key(&fk.ref_table) {
                    a.push(Severity::Warning, &obj, format!("not created: it references `{}`, which is not migrated", fk.ref_table));
                    continue;
                }
                let rrule = find_rule(config, &fk.ref_table);
                partition_foreign_keys.push((
                    pname.clone(),
                    PgForeignKey {
                        name: names.allocate(&apply_case(case, &fk.name)),
                        columns: fk.columns.iter().map(|c| col(c)).collect(),
                        ref_schema: target_schema.clone(),
                        ref_table: tname_of[&fk.ref_table].clone(),
                        ref_columns: fk
                            .ref_columns
                            .iter()
                            .map(|c| target_name(case, c, rrule.and_then(|r| r.columns.get(c)).and_then(|r| r.rename.as_deref())))
                            .collect(),
                        on_delete: fk.on_delete.sql().into(),
                        on_update: fk.on_update.sql().into(),
                    },
                ));
            }
        }

        // CHECK constraints: identifiers translated, the rest tried as written.
        let mut checks = Vec::new();
        for ch in &t.checks {
            checks.push(PgCheck {
                name: fk_names.allocate(&apply_case(case, &ch.name)),
                expression: user.qualify_casts(&translate_expression(&ch.expression, &col)),
            });
            a.push(
                Severity::Info,
                format!("{} check {}", t.name, ch.name),
                "CHECK translated (identifiers only); if PostgreSQL rejects it the migrate report lists it",
            );
        }
        if rules.enums == EnumStyle::Check {
            for c in &t.columns {
                if let DataType::Enum { values } = &c.data_type {
                    let vals: Vec<String> = values.iter().map(|v| quote_literal(v)).collect();
                    checks.push(PgCheck {
                        name: fk_names.allocate(&format!("{}_check", col(&c.name))),
                        expression: format!("{} IN ({})", quote_ident(&col(&c.name)), vals.join(", ")),
                    });
                }
            }
        }

        a.tables.push(TableSummary {
            source: t.name.clone(),
            target: tname.clone(),
            columns: columns.len(),
            estimated_rows: t.estimated_rows,
            primary_key: primary_key.is_some(),
            indexes: indexes.len(),
            foreign_keys: foreign_keys.len(),
        });
        tables.push(TablePlan {
            source: t.clone(),
            source_name: t.name.clone(),
            target: PgTable {
                schema: target_schema.clone(),
                name: tname,
                columns,
                primary_key,
                indexes,
                foreign_keys,
                checks,
                on_update_now,
                comment: t.comment.clone(),
                generated,
                key_in_one_step: t.partitioned_by.is_some(),
                partition_by: t.partitioned_by.clone(),
                partitions: t.partitions.iter().map(|(n, b)| (apply_case(case, n), b.clone())).collect(),
                partition_indexes,
                partition_foreign_keys,
            },
            converter: RowConverter {
                columns: conversions,
                key: t
                    .row_identity()
                    .map(|k| {
                        k.columns.iter().filter_map(|c| t.column_index(c).map(|i| crate::convert::KeyColumn { name: c.clone(), source_index: i })).collect()
                    })
                    .unwrap_or_default(),
            },
            auto_increment_floor: t.auto_increment,
            binary: None,
        });
        let last = tables.last_mut().unwrap();
        last.binary = last.target.columns.iter().map(|c| BinaryKind::for_type(&c.ty)).collect();
    }

    unify_foreign_key_types(&mut tables, config, &mut a);

    if !ci_columns.is_empty() {
        let total: usize = ci_columns.values().map(Vec::len).sum();
        let listed: Vec<String> = ci_columns.iter().map(|(coll, cols)| format!("{coll}: {}", cols.join(", "))).collect();
        a.push(
            Severity::Warning,
            "collations",
            format!(
                "{total} text columns use case-insensitive collations ({}): PostgreSQL compares case-sensitively, so equality, unique keys and ORDER BY can behave differently; consider citext or a nondeterministic ICU collation where it matters",
                listed.join("; ")
            ),
        );
    }

    for o in &schema.objects {
        let msg = match o.kind {
            ObjectKind::View => "view not migrated: port its SQL to PostgreSQL",
            ObjectKind::Trigger => "trigger not migrated: rewrite as a PL/pgSQL trigger function",
            ObjectKind::Procedure => "stored procedure not migrated: rewrite in PL/pgSQL",
            ObjectKind::Function => "stored function not migrated: rewrite in PL/pgSQL",
            ObjectKind::Event => "event not migrated: schedule it with pg_cron or an external scheduler",
            ObjectKind::Index => "index not created (expression, partial or GIN/GiST): run its SQL on the target after the load",
            ObjectKind::Constraint => "constraint not created (exclusion): add it on the target after the load",
            ObjectKind::Sequence => "sequence not migrated (no column owns it): create it and set its value on the target",
            ObjectKind::Inheritance => "table inheritance not carried: the child is a table of its own on the target (its rows only); run this to restore it",
            ObjectKind::Rule => "rule not migrated: recreate it on the target (or rewrite it as a trigger)",
        };
        let object = match &o.table {
            Some(t) => format!("{} {} (on {t})", o.kind.label(), o.name),
            None => format!("{} {}", o.kind.label(), o.name),
        };
        a.push_sql(Severity::Action, object, msg, o.sql.clone());
    }

    let mut plan = Plan {
        source_database: schema.name.clone(),
        target_schema,
        enums,
        domains,
        sequences,
        tables,
        assessment: a,
        citus: None,
        inputs: PlanInputs { schema: source_model.clone(), config: config.clone(), probes: probes.clone(), postgis },
    };
    if let Some(c) = &config.target.citus {
        problems.extend(crate::citus::classify(&mut plan, c));
    }
    if !problems.is_empty() {
        return Err(PlanError { problems });
    }
    Ok(plan)
}

/// A referencing column takes the target type of the key it references, where the two mapped
/// apart: a `bigint unsigned` foreign key to a `bigint unsigned AUTO_INCREMENT` key (bigint
/// identity) becomes `bigint` too — PostgreSQL refuses a foreign key between `numeric` and
/// `bigint` — and one whose key stayed `numeric(20,0)` follows it. Values outside the new type
/// are refused with their key (they could not match the referenced key anyway). Columns with a
/// type rule keep the user's type.
fn unify_foreign_key_types(tables: &mut [TablePlan], config: &Config, a: &mut Assessment) {
    let mut changes: Vec<(usize, usize, PgType, Conversion, String)> = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        for fk in &t.source.foreign_keys {
            let Some(rt) = tables.iter().find(|r| r.source.name == fk.ref_table && fk.ref_schema.is_none()) else { continue };
            for (c, rc) in fk.columns.iter().zip(&fk.ref_columns) {
                if column_rule(config, &t.source.name, c).and_then(|r| r.type_.as_ref()).is_some() {
                    continue;
                }
                let (Some(si), Some(rsi)) = (t.source.column_index(c), rt.source.column_index(rc)) else { continue };
                let (Some(ci), Some(rci)) =
                    (t.converter.columns.iter().position(|x| x.source_index == si), rt.converter.columns.iter().position(|x| x.source_index == rsi))
                else {
                    continue;
                };
                let (mine, theirs) = (&t.target.columns[ci].ty, &rt.target.columns[rci].ty);
                let unsigned64 = matches!(t.source.columns[si].data_type, DataType::Int { bytes: 8, unsigned: true, .. });
                let conv = match (mine, theirs) {
                    (PgType::Numeric(Some((20, 0))), PgType::BigInt) if unsigned64 => Conversion::UnsignedToBigint,
                    (PgType::BigInt, PgType::Numeric(Some((20, 0)))) if unsigned64 => Conversion::Identity,
                    _ => continue,
                };
                let note = format!(
                    "{} → {theirs}: takes the type of the key it references (`{}`.`{rc}`), so the foreign key {} can be created",
                    t.source.columns[si].source_type, fk.ref_table, fk.name
                );
                changes.push((ti, ci, theirs.clone(), conv, note));
            }
        }
    }
    for (ti, ci, ty, conv, note) in changes {
        let t = &mut tables[ti];
        a.items.retain(|i| {
            !(i.object == format!("{}.{}", t.source.name, t.source.columns[t.converter.columns[ci].source_index].name) && i.message.contains("unsigned"))
        });
        a.push(Severity::Info, format!("{}.{}", t.source.name, t.source.columns[t.converter.columns[ci].source_index].name), note);
        t.target.columns[ci].ty = ty;
        t.converter.columns[ci].conversion = conv;
        t.binary = t.target.columns.iter().map(|c| BinaryKind::for_type(&c.ty)).collect();
    }
}

/// The enum and domain types of a PostgreSQL source, and how a type or expression naming them
/// reads in the target schema.
struct UserTypes {
    names: Vec<(String, bool)>,
    target_schema: String,
}

impl UserTypes {
    fn new(schema: &Schema, target_schema: &str) -> Self {
        UserTypes {
            names: schema.types.iter().map(|t| (t.name.clone(), matches!(t.kind, UserTypeKind::Enum { .. }))).collect(),
            target_schema: target_schema.to_string(),
        }
    }

    /// `mood` → the enum type (binary COPY sends its label as text); `posint` and arrays →
    /// the qualified name, loaded in the text format.
    fn pg_type(&self, name: &str) -> PgType {
        let base = name.trim_end_matches("[]");
        match self.names.iter().find(|(n, _)| n == base) {
            Some((_, true)) if base == name => PgType::Named { schema: self.target_schema.clone(), name: base.to_string() },
            Some(_) => PgType::Custom(format!("{}{}", quote_ident_q(&self.target_schema, base), &name[base.len()..])),
            None => PgType::Custom(name.to_string()),
        }
    }

    fn qualify_type(&self, ty: &str) -> String {
        match self.pg_type(ty) {
            PgType::Custom(s) => s,
            other => other.to_string(),
        }
    }

    /// `'x'::mood` → `'x'::"target"."mood"` for the source's user types.
    fn qualify_casts(&self, expr: &str) -> String {
        let mut out = expr.to_string();
        for (n, _) in &self.names {
            let pat = format!("::{n}");
            let mut result = String::new();
            let mut rest = out.as_str();
            while let Some(i) = rest.find(&pat) {
                let after = &rest[i + pat.len()..];
                let boundary = after.chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                result.push_str(&rest[..i]);
                if boundary {
                    result.push_str("::");
                    result.push_str(&quote_ident_q(&self.target_schema, n));
                } else {
                    result.push_str(&pat);
                }
                rest = after;
            }
            result.push_str(rest);
            out = result;
        }
        out
    }
}

/// `nextval('t_id_seq'::regclass)` → `nextval('"app"."t_id_seq"'::regclass)`: a PostgreSQL
/// source's defaults name its free sequences as seen from the source schema; on the target the
/// name must carry the target schema (a regclass literal is resolved when the table is created).
fn qualify_sequences(expr: &str, sequences: &[PgSequence]) -> String {
    let mut out = expr.to_string();
    for q in sequences {
        let target = format!("{}::regclass", quote_literal(&q.qualified()));
        for seen in [format!("'{}'::regclass", q.name().replace('\'', "''")), format!("'\"{}\"'::regclass", q.name().replace('"', "\"\"").replace('\'', "''"))]
        {
            out = out.replace(&seen, &target);
        }
    }
    out
}

fn quote_ident_q(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Target names claimed by more than one source name, with those names listed.
fn collisions(names: &BTreeMap<String, Vec<String>>) -> impl Iterator<Item = (&String, String)> {
    names
        .iter()
        .filter(|(_, sources)| sources.len() > 1)
        .map(|(target, sources)| (target, sources.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")))
}

/// Replaces the double-quoted column references of a model expression (see
/// `ferry_model::Check`) with the mapped, quoted target names; string literals are left alone.
fn translate_expression(expr: &str, col: &dyn Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                out.push(c);
                while let Some(x) = chars.next() {
                    out.push(x);
                    if x == '\'' {
                        if chars.peek() == Some(&'\'') {
                            out.push(chars.next().unwrap());
                        } else {
                            break;
                        }
                    }
                }
            }
            '"' => {
                let mut name = String::new();
                while let Some(x) = chars.next() {
                    if x == '"' {
                        if chars.peek() == Some(&'"') {
                            name.push(chars.next().unwrap());
                            continue;
                        }
                        break;
                    }
                    name.push(x);
                }
                out.push_str(&quote_ident(&col(&name)));
            }
            _ => out.push(c),
        }
    }
    out
}

/// `'\x00ff'::bytea`.
fn bytea_literal(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("'\\x{hex}'::bytea")
}

fn is_number(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.parse::<f64>().is_ok() && !s.eq_ignore_ascii_case("nan") && !s.to_ascii_lowercase().contains("inf")
}

fn pg_index_sql(schema: &str, table: &str, ix: &PgIndex) -> String {
    let t = PgTable { schema: schema.to_string(), name: table.to_string(), ..Default::default() };
    t.index_sql(ix)
}

/// Translates a column default into a PostgreSQL expression for the target type; a zero-date
/// literal follows the column's zero-date policy as its values do.
fn pg_default(c: &Column, ty: &PgType, zero: ZeroDatePolicy, nullable: bool, obj: &str, a: &mut Assessment) -> Option<String> {
    let d = c.default.as_ref()?;
    match d {
        DefaultValue::Null => None,
        DefaultValue::CurrentTimestamp => match ty {
            PgType::Date => Some("CURRENT_DATE".into()),
            _ => Some("CURRENT_TIMESTAMP".into()),
        },
        DefaultValue::Native(e) => Some(e.clone()),
        DefaultValue::NewUuid if matches!(ty, PgType::Uuid) => Some("gen_random_uuid()".into()),
        DefaultValue::NewUuid => Some("gen_random_uuid()::text".into()),
        DefaultValue::CurrentDate => Some("CURRENT_DATE".into()),
        DefaultValue::Expression(e) => {
            a.push(Severity::Action, obj, format!("default expression not converted: {e}"));
            None
        }
        DefaultValue::ZeroDate(v) if matches!(ty, PgType::Date | PgType::Timestamp(_) | PgType::TimestampTz(_)) => {
            match zero {
                ZeroDatePolicy::NegInfinity => {
                    a.push(Severity::Info, obj, format!("zero-date default '{v}' → '-infinity' (zero_dates = \"-infinity\")"));
                    return Some(format!("'-infinity'::{}", if matches!(ty, PgType::Date) { "date" } else if matches!(ty, PgType::TimestampTz(_)) { "timestamptz" } else { "timestamp" }));
                }
                ZeroDatePolicy::Null => {
                    a.push(Severity::Info, obj, format!("zero-date default '{v}' → NULL (zero_dates = \"null\")"));
                }
                ZeroDatePolicy::Error if nullable => {
                    a.push(Severity::Warning, obj, format!("zero-date default '{v}' dropped: PostgreSQL has no zero date (zero_dates = \"-infinity\" makes it '-infinity')"));
                }
                ZeroDatePolicy::Error => a.push(Severity::Action, obj, format!(
                    "zero-date default '{v}' dropped on a NOT NULL column: inserts that omit the column will fail; set zero_dates = \"-infinity\" (default '-infinity'), or a default rule"
                )),
            }
            None
        }
        // A zero date kept as text (a type override).
        DefaultValue::ZeroDate(v) => Some(quote_literal(v)),
        DefaultValue::Literal(v) => match ty {
            PgType::Boolean => match v.trim() {
                "0" => Some("false".into()),
                "1" => Some("true".into()),
                other => {
                    a.push(Severity::Warning, obj, format!("default {other} dropped: not a boolean"));
                    None
                }
            },
            PgType::SmallInt | PgType::Integer | PgType::BigInt | PgType::Numeric(_) | PgType::Real | PgType::Double => {
                if is_number(v) {
                    Some(v.trim().to_string())
                } else {
                    a.push(Severity::Warning, obj, format!("default {v:?} dropped: not a number"));
                    None
                }
            }
            // An instant's literal is in UTC (the model's convention).
            PgType::TimestampTz(_) => Some(format!("{}::timestamptz", quote_literal(&format!("{v}+00")))),
            PgType::Bit(n) => {
                // A bit default is its number: cast it through bigint, which keeps its
                // rightmost n bits.
                let raw = v.trim();
                match raw.parse::<u64>().ok() {
                    // Spelled as PostgreSQL prints it back, so `diff` and verify's structure
                    // check see the default they planned.
                    Some(x) => Some(format!("(({})::bigint)::bit({n})", x as i64)),
                    None => {
                        a.push(Severity::Warning, obj, format!("default {raw} dropped: not a bit value"));
                        None
                    }
                }
            }
            PgType::Array(_) => {
                let items: Vec<String> =
                    if v.is_empty() { vec![] } else { v.split(',').map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))).collect() };
                Some(quote_literal(&format!("{{{}}}", items.join(","))))
            }
            // Bytes as a hex literal: the value may hold NULs (a BINARY(n) default is padded
            // with them), which no text literal can carry.
            PgType::Bytea => Some(bytea_literal(v.as_bytes())),
            _ => Some(quote_literal(v)),
        },
    }
}

impl Plan {
    /// Everything `migrate` will run, in order, as one script (the `ferry plan` output).
    pub fn ddl_script(&self) -> String {
        let mut s = String::new();
        s.push_str("-- ferry plan: DDL in the order `ferry migrate` runs it\n\n-- 1. before the load\n");
        s.push_str(&format!("{};\n", create_schema_sql(&self.target_schema)));
        for e in &self.enums {
            s.push_str(&format!("{};\n", e.create_sql()));
        }
        for d in &self.domains {
            s.push_str(&format!("{};\n", d.create_sql()));
        }
        for q in &self.sequences {
            s.push_str(&format!("{};\n", q.create_sql()));
            if let Some(v) = q.setval_sql() {
                s.push_str(&format!("{v};\n"));
            }
        }
        for t in &self.tables {
            s.push_str(&format!("\n{};\n", t.target.create_sql()));
        }
        if let Some(c) = &self.citus {
            s.push_str("\n-- Citus: reference and distributed tables, before the load\n");
            for stmt in &c.statements {
                s.push_str(&format!("{stmt};\n"));
            }
        }
        s.push_str("\n-- 2. COPY of every table\n");
        for t in &self.tables {
            s.push_str(&format!("-- {}\n", t.copy_sql(t.binary.is_some())));
        }
        s.push_str("\n-- 3. after the load: keys, indexes, constraints, sequences, triggers, comments\n");
        for t in &self.tables {
            for stmt in self.post_load(t) {
                s.push_str(&format!("{stmt};\n"));
            }
        }
        for t in &self.tables {
            for fk in t.target.foreign_key_steps() {
                s.push_str(&format!("{};\n{};\n", fk.add, fk.validate));
            }
        }
        s
    }

    /// Per-table statements after the load, except foreign keys (which need every table's keys).
    pub fn post_load(&self, t: &TablePlan) -> Vec<String> {
        let mut out = self.index_builds(t);
        out.extend(self.after_indexes(t));
        out
    }

    /// Index builds of a table after its load; they may run concurrently with each other.
    pub fn index_builds(&self, t: &TablePlan) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((index, _)) = t.target.primary_key_index_sql() {
            out.push(index);
        }
        for ix in &t.target.indexes {
            out.push(t.target.index_sql(ix));
        }
        out.extend(t.target.partition_index_sql());
        out
    }

    /// What follows a table's index builds, in order: the primary key adopting its index,
    /// checks, identity restarts, triggers, comments, statistics.
    pub fn after_indexes(&self, t: &TablePlan) -> Vec<String> {
        let mut out = Vec::new();
        match t.target.primary_key_index_sql() {
            Some((_, attach)) => out.push(attach),
            None => out.extend(t.target.primary_key_sql()),
        }
        for c in &t.target.checks {
            out.push(t.target.check_sql(c));
            out.push(t.target.validate_sql(&c.name));
        }
        out.extend(t.target.restart_identity_sql(t.auto_increment_floor));
        out.extend(t.target.on_update_trigger_sql());
        out.extend(t.target.comment_sql());
        out.push(format!("ANALYZE {}", t.target.qualified()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::*;

    fn col(name: &str, dt: DataType) -> Column {
        let st = format!("{dt:?}");
        Column::new(name, dt, st)
    }

    fn schema() -> Schema {
        Schema {
            name: "Shop".into(),
            server_version: "MariaDB 10.11".into(),
            tables: vec![Table {
                name: "OrderLine".into(),
                columns: vec![
                    Column { auto_increment: true, nullable: false, ..col("OrderLineId", DataType::Int { bytes: 4, unsigned: true, display_width: None }) },
                    col("Status", DataType::Enum { values: vec!["new".into(), "done".into()] }),
                    col("Flags", DataType::Set { values: vec!["a".into(), "b".into()] }),
                    Column { default: Some(DefaultValue::ZeroDate("0000-00-00 00:00:00".into())), ..col("ShippedAt", DataType::DateTime { fsp: 0 }) },
                    col("Active", DataType::Int { bytes: 1, unsigned: false, display_width: Some(1) }),
                ],
                primary_key: Some(Key { name: "PRIMARY".into(), columns: vec!["OrderLineId".into()] }),
                ..Default::default()
            }],
            objects: vec![SourceObject { kind: ObjectKind::View, name: "v".into(), table: None, sql: "CREATE VIEW v AS SELECT 1".into() }],
            types: vec![],
            sequences: vec![],
        }
    }

    fn plan_with(config: &Config, probes: &ProbeAnswers) -> Result<Plan, PlanError> {
        let s = schema();
        build(PlanInput { schema: &s, config, probes, postgis: false })
    }

    #[test]
    fn snake_case_plan() {
        let mut config = Config::default();
        config.rules.identifiers = Some(IdentifierCase::SnakeCase);
        let probed = ProbeAnswers::from([(("OrderLine".to_string(), "Active".to_string(), Probe::NotZeroOrOne), 0)]);
        let p = plan_with(&config, &probed).unwrap();
        assert_eq!(p.target_schema, "shop");
        let t = &p.tables[0].target;
        assert_eq!(t.name, "order_line");
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["order_line_id", "status", "flags", "shipped_at", "active"]);
        assert_eq!(t.columns[0].ty, PgType::BigInt);
        assert!(t.columns[0].identity);
        assert_eq!(t.columns[1].ty.to_string(), "\"shop\".\"order_line_status\"");
        assert_eq!(t.columns[2].ty.to_string(), "text[]");
        assert_eq!(t.columns[3].default, None, "zero-date default is dropped");
        assert_eq!(t.columns[4].ty, PgType::Boolean, "probed: every value 0/1");
        let unprobed = plan_with(&config, &ProbeAnswers::new()).unwrap();
        assert_eq!(unprobed.tables[0].target.columns[4].ty, PgType::SmallInt, "not probed (added during sync): the type that holds any value");
        assert!(p.assessment.items.iter().any(|i| i.severity == Severity::Action && i.sql.is_some()));
        assert!(p.ddl_script().contains("CREATE TYPE \"shop\".\"order_line_status\" AS ENUM ('new', 'done')"));
    }

    #[test]
    fn tinyint_probe_keeps_smallint() {
        let mut probes = ProbeAnswers::new();
        probes.insert(("OrderLine".into(), "Active".into(), Probe::NotZeroOrOne), 3);
        let p = plan_with(&Config::default(), &probes).unwrap();
        assert_eq!(p.tables[0].target.columns[4].ty, PgType::SmallInt);
        assert!(p.assessment.items.iter().any(|i| i.message.contains("3 rows")));
    }

    #[test]
    fn rule_problems_are_collected() {
        let config = Config::from_toml(
            "[tables.Nope]\nrename = \"x\"\n[tables.OrderLine.columns.Missing]\ntype = \"text\"\n[tables.OrderLine.columns.Flags]\nrename = \"status\"",
        )
        .unwrap();
        let e = plan_with(&config, &ProbeAnswers::new()).unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e}");
        assert!(e.to_string().contains("Nope"));
        assert!(e.to_string().contains("Missing"));
        assert!(e.to_string().contains("all become \"status\""));
    }

    #[test]
    fn unsupported_type_needs_override() {
        let mut s = schema();
        s.tables[0].columns.push(col("Addr", DataType::Unsupported { name: "inet6".into() }));
        let cfg = Config::default();
        let e = build(PlanInput { schema: &s, config: &cfg, probes: &ProbeAnswers::new(), postgis: false }).unwrap_err();
        assert!(e.to_string().contains("`OrderLine`.`Addr`: type `inet6` has no mapping"), "{e}");
        let cfg = Config::from_toml("[tables.OrderLine.columns.Addr]\ntype = \"inet\"").unwrap();
        let p = build(PlanInput { schema: &s, config: &cfg, probes: &ProbeAnswers::new(), postgis: false }).unwrap();
        assert_eq!(p.tables[0].target.columns[5].ty.to_string(), "inet");
    }

    #[test]
    fn check_expressions_get_target_identifiers() {
        let f = |c: &str| c.to_lowercase();
        assert_eq!(
            translate_expression("\"Qty\" > 0 and \"Qty\" < \"MaxQty\" and note <> '\"Qty\"'", &f),
            "\"qty\" > 0 and \"qty\" < \"maxqty\" and note <> '\"Qty\"'"
        );
    }
}
