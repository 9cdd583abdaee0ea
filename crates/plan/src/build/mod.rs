//! Building the plan. Every problem that would stop a migration (unknown table or column in a
//! rule, a type without mapping, two source names landing on one target name) is collected and
//! reported together, before anything is written, so one run of `ferry plan` shows them all.

mod defaults;
mod expr;
mod script;
pub use script::create_extension_sql;
mod table;

use crate::assessment::{Assessment, Severity};
use crate::config::{ColumnRule, Config, IdentifierCase, TableRule, ZeroDatePolicy};
use crate::convert::{Conversion, RowConverter};
use crate::naming::{apply_case, like, target_name, NameAllocator};
use expr::{qualify_sequences, UserTypes};
use ferry_model::{DataType, ObjectKind, Probe, Schema, Table, UserTypeKind};
use ferry_target_postgres::copy_binary::BinaryKind;
use ferry_target_postgres::ddl::*;
use ferry_target_postgres::ident::{quote_ident, truncate_ident};
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
    /// Extensions the plan's column types need (`citext`), created first if missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    /// The final hop (`[reshape]`): target tables computed from the landing tables above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reshape: Option<ferry_target_postgres::reshape::Reshape>,
    /// The source's views, triggers and routines its converter turned into PostgreSQL
    /// ([`Plan::attach_objects`]): `migrate` creates them after the load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ferry_model::ConvertedObject>,
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

    /// Set-aside `cells` of converted rows as rows of `ferry.quarantine` (target names).
    pub fn quarantine_rows(&self, cells: &[crate::convert::QuarantinedCell]) -> Vec<ferry_target_postgres::quarantine::QuarantineRow> {
        cells
            .iter()
            .map(|c| ferry_target_postgres::quarantine::QuarantineRow {
                table: self.target.name.clone(),
                column: self.target.columns[c.column].name.clone(),
                key: c.key.clone(),
                class: c.class.clone(),
                raw: c.raw.clone(),
                reason: c.reason.clone(),
                written: c.written.clone(),
            })
            .collect()
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
    let declared = |p: &Probe| schema.probes.contains(p);
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
            if let DataType::DateTime { fsp } | DataType::Timestamp { fsp } | DataType::DateTimeOffset { fsp } | DataType::Time { fsp } = c.data_type {
                if fsp > 6 && t.estimated_rows > 0 {
                    out.push((t.name.clone(), c.name.clone(), Probe::BeyondMicroseconds));
                }
            }
        }
    }
    // Only what the source declared its data can fail.
    out.retain(|(_, _, p)| declared(p));
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
                for (cname, crule) in &rule.columns {
                    match t.column(cname) {
                        None => problems.push(format!(
                            "rule [tables.\"{tname}\".columns.\"{cname}\"] names a column that table `{tname}` does not have"
                        )),
                        // The source adds the companion column; one that did not cannot keep it.
                        Some(c) if crule.keep_offset == Some(true) && !(matches!(c.data_type, DataType::DateTimeOffset { .. }) && t.column(&format!("{cname}_offset")).is_some()) => {
                            problems.push(format!(
                                "rule [tables.\"{tname}\".columns.\"{cname}\"] keep_offset: only a SQL Server datetimeoffset column read from a live server keeps its offset (this is {})",
                                c.source_type
                            ))
                        }
                        Some(_) => {}
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
    let ci_columns: BTreeMap<String, Vec<String>> = BTreeMap::new();

    let mut planner =
        table::Planner { schema, config, probes, postgis, case, target_schema, tname_of, user, sequences, a, problems, relnames, typenames, enums, ci_columns };
    let mut tables: Vec<TablePlan> = schema.tables.iter().map(|t| planner.plan_table(t)).collect();
    let table::Planner { target_schema, sequences, mut a, mut problems, enums, ci_columns, .. } = planner;

    unify_foreign_key_types(&mut tables, config, &mut a);

    if !ci_columns.is_empty() {
        let total: usize = ci_columns.values().map(Vec::len).sum();
        let listed: Vec<String> = ci_columns.iter().map(|(coll, cols)| format!("{coll}: {}", cols.join(", "))).collect();
        a.push(
            Severity::Warning,
            "collations",
            format!(
                "{total} text columns use case-insensitive collations ({}): PostgreSQL compares case-sensitively, so equality, unique keys and ORDER BY can behave differently; rules.case_insensitive = \"citext\" makes them citext, or use a nondeterministic ICU collation where it matters",
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
            ObjectKind::Constraint => {
                "constraint not created (exclusion, or a CHECK using functions PostgreSQL lacks): port it and add it on the target after the load"
            }
            ObjectKind::Sequence => "sequence not migrated (no column owns it): create it and set its value on the target",
            ObjectKind::Inheritance => {
                "table inheritance: the child is loaded as a table of its own (its rows only), then made a child again with this statement"
            }
            ObjectKind::Rule => "rule not migrated: recreate it on the target (or rewrite it as a trigger)",
            ObjectKind::Policy => "row-level security not migrated: enable it and recreate the policy on the target",
            ObjectKind::Statistics => "extended statistics not migrated: recreate them on the target and ANALYZE",
            ObjectKind::VirtualTable => {
                "virtual table not migrated (its module is SQLite's): use PostgreSQL full-text search (tsvector + GIN) or an extension instead"
            }
            ObjectKind::Type => "type not migrated: create it on the target before migrating (a table or routine using it needs it)",
            ObjectKind::ForeignTable => "foreign table not migrated: create its server and user mapping on the target, then the table",
            ObjectKind::Operator => "operator not migrated: create it (and its function) on the target",
            ObjectKind::Collation => "collation not migrated: create it on the target before migrating (columns and indexes may use it)",
            ObjectKind::TextSearch => "text search object not migrated: create it on the target",
            ObjectKind::Conversion => "encoding conversion not migrated: create it on the target",
            ObjectKind::Statement => "statement of the script not migrated (neither schema nor data ferry carries): port it by hand if it matters",
        };
        let object = match &o.table {
            Some(t) => format!("{} {} (on {t})", o.kind.label(), o.name),
            None => format!("{} {}", o.kind.label(), o.name),
        };
        if o.native(schema) {
            // PostgreSQL's own SQL: `migrate` creates it after the load and lists it if refused.
            a.push_sql(Severity::Info, object, "created on the target after the load (the migrate report lists it if PostgreSQL refuses it)", o.sql.clone());
            continue;
        }
        a.push_sql(Severity::Action, object, msg, o.sql.clone());
    }

    a.code = crate::objects::code_counts(schema, &[]);
    let extensions = extensions_needed(&tables);
    let mut plan = Plan {
        source_database: schema.name.clone(),
        target_schema,
        enums,
        domains,
        sequences,
        tables,
        assessment: a,
        citus: None,
        extensions,
        reshape: None,
        objects: Vec::new(),
        inputs: PlanInputs { schema: source_model.clone(), config: config.clone(), probes: probes.clone(), postgis },
    };
    if let Some(c) = &config.target.citus {
        problems.extend(crate::citus::classify(&mut plan, c));
    }
    if let Some(r) = &config.reshape {
        plan.reshape = crate::reshape::plan_reshape(r, &plan.tables, &plan.target_schema, &mut problems);
    }
    if !problems.is_empty() {
        return Err(PlanError { problems });
    }
    Ok(plan)
}

/// The extensions whose types the planned columns use: `citext` (by the case-insensitive rule
/// or a type override).
fn extensions_needed(tables: &[TablePlan]) -> Vec<String> {
    let citext = tables.iter().flat_map(|t| &t.target.columns).any(|c| matches!(&c.ty, PgType::Custom(n) if n.trim().eq_ignore_ascii_case("citext")));
    if citext {
        vec!["citext".into()]
    } else {
        Vec::new()
    }
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

/// Target names claimed by more than one source name, with those names listed.
fn collisions(names: &BTreeMap<String, Vec<String>>) -> impl Iterator<Item = (&String, String)> {
    names
        .iter()
        .filter(|(_, sources)| sources.len() > 1)
        .map(|(target, sources)| (target, sources.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")))
}

fn pg_index_sql(schema: &str, table: &str, ix: &PgIndex) -> String {
    let t = PgTable { schema: schema.to_string(), name: table.to_string(), ..Default::default() };
    t.index_sql(ix)
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
            probes: Probe::all(),
            native_objects: false,
            view_columns: Vec::new(),
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
    fn a_100ns_digit_is_probed_counted_and_an_override_to_text_clears_it() {
        let mut s = schema();
        s.tables[0].estimated_rows = 10;
        s.tables[0].columns.push(col("Placed", DataType::DateTime { fsp: 7 }));
        let cfg = Config::default();
        let asked = probes_needed(&s, &cfg);
        assert!(asked.contains(&("OrderLine".into(), "Placed".into(), Probe::BeyondMicroseconds)), "{asked:?}");
        let probes = ProbeAnswers::from([(("OrderLine".to_string(), "Placed".to_string(), Probe::BeyondMicroseconds), 3)]);
        let p = build(PlanInput { schema: &s, config: &cfg, probes: &probes, postgis: false }).unwrap();
        assert!(
            p.assessment.items.iter().any(|i| i.severity == Severity::Action && i.message.starts_with("3 rows hold a digit beyond the microsecond")),
            "{:?}",
            p.assessment.items
        );
        let text = Config::from_toml("[tables.OrderLine.columns.Placed]\ntype = \"text\"").unwrap();
        let p = build(PlanInput { schema: &s, config: &text, probes: &probes, postgis: false }).unwrap();
        assert!(!p.assessment.items.iter().any(|i| i.message.contains("beyond the microsecond") && i.severity == Severity::Action));
        assert!(text.cell_rules().for_column("OrderLine", "Placed").read_as_text, "the source is told to read its own text");
    }

    #[test]
    fn keep_offset_needs_the_companion_column_the_source_adds() {
        let mut s = schema();
        s.tables[0].columns.push(col("At", DataType::DateTimeOffset { fsp: 7 }));
        let cfg = Config::from_toml("[tables.OrderLine.columns.At]\nkeep_offset = true").unwrap();
        assert!(cfg.cell_rules().for_column("OrderLine", "At").keep_offset);
        let e = build(PlanInput { schema: &s, config: &cfg, probes: &ProbeAnswers::new(), postgis: false }).unwrap_err();
        assert!(e.to_string().contains("keep_offset"), "a source that did not add At_offset cannot keep it: {e}");
        s.tables[0]
            .columns
            .push(Column { stored_as: Some("tzoffset:At".into()), ..col("At_offset", DataType::Int { bytes: 2, unsigned: false, display_width: None }) });
        let p = build(PlanInput { schema: &s, config: &cfg, probes: &ProbeAnswers::new(), postgis: false }).unwrap();
        assert!(p.tables[0].target.columns.iter().any(|c| c.name == "at_offset" && c.ty == PgType::SmallInt));
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
}
