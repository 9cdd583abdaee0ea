//! One source table planned into one target table: names, columns (type map, zero-date rule,
//! defaults), keys, indexes (prefix and full-text forms), foreign keys to planned tables only,
//! partition-level objects and checks. Every choice that changes meaning is an assessment
//! item; every rule that cannot hold is a problem, collected, not the first one thrown
//! ([`Planner::plan_table`]).

use super::defaults::pg_default;
use super::expr::{qualify_sequences, translate_expression, UserTypes};
use super::{collisions, find_rule, non_transactional, pg_index_sql, zero_date_policy, ProbeAnswers, TablePlan};
use crate::assessment::{Assessment, Severity, TableSummary};
use crate::config::TableRule;
use crate::config::{Config, DefaultRule, EnumStyle, IdentifierCase, ZeroDatePolicy};
use crate::convert::{ColumnConversion, Conversion, RowConverter};
use crate::naming::{apply_case, target_name, NameAllocator};
use crate::typemap::{self, ColumnProbes, ZeroDates};
use ferry_model::{DataType, DefaultValue, IndexKind, Probe, Schema, Table};
use ferry_target_postgres::copy_binary::BinaryKind;
use ferry_target_postgres::ddl::*;
use ferry_target_postgres::ident::{quote_ident, quote_literal};
use std::collections::{BTreeMap, HashMap};

/// What planning one table shares with the whole plan: the inputs, the names already taken and
/// what the plan collects (assessment, problems, enum types, case-insensitive columns).
pub(super) struct Planner<'a> {
    pub schema: &'a Schema,
    pub config: &'a Config,
    pub probes: &'a ProbeAnswers,
    pub postgis: bool,
    pub case: IdentifierCase,
    pub target_schema: String,
    /// Source table → target table name, for every planned table.
    pub tname_of: HashMap<String, String>,
    pub user: UserTypes,
    pub sequences: Vec<PgSequence>,
    pub a: Assessment,
    pub problems: Vec<String>,
    pub relnames: NameAllocator,
    pub typenames: NameAllocator,
    pub enums: Vec<PgEnum>,
    pub ci_columns: BTreeMap<String, Vec<String>>,
}

impl Planner<'_> {
    /// Plans source table `t`.
    pub fn plan_table(&mut self, t: &Table) -> TablePlan {
        let rule = find_rule(self.config, &t.name);
        let (case, tname) = (self.case, self.tname_of[&t.name].clone());
        if tname != t.name && rule.and_then(|r| r.rename.as_ref()).is_none() && case == IdentifierCase::Preserve {
            self.a.push(Severity::Info, &t.name, format!("renamed to \"{tname}\" (cut to 63 bytes)"));
        } else if tname != t.name && tname != t.name.to_lowercase() {
            self.a.push(Severity::Info, &t.name, format!("renamed to \"{tname}\""));
        }

        if let Some(engine) = non_transactional(t) {
            self.a.push(
                Severity::Warning,
                &t.name,
                format!("{engine} table: not transactional, so the load's consistent snapshot does not cover it — rows written while it is read may be missing or also arrive by sync; load it while nothing writes to it, or ALTER TABLE … ENGINE=InnoDB first"),
            );
        }

        let PlannedColumns { cname_of, columns, conversions, on_update_now, generated } = self.plan_columns(t, rule, &tname);
        let col = |n: &str| cname_of.get(n).cloned().unwrap_or_else(|| n.to_string());
        // Primary key.
        let primary_key = t
            .primary_key
            .as_ref()
            .map(|pk| PgKey { name: self.relnames.allocate(&format!("{tname}_pkey")), columns: pk.columns.iter().map(|c| col(c)).collect() });
        if primary_key.is_none() {
            let how = if t.row_identity().is_some() {
                "a NOT NULL unique key will identify rows"
            } else {
                "rows cannot be identified by a key (verify compares whole tables, sync needs full-row matching)"
            };
            self.a.push(Severity::Warning, &t.name, format!("no primary key: {how}"));
        }

        let indexes = self.plan_indexes(t, &tname, &col);
        let (foreign_keys, mut fk_names) = self.plan_foreign_keys(t, &col);
        let (partition_indexes, partition_foreign_keys) = self.plan_partition_objects(t, &col);
        let checks = self.plan_checks(t, &col, &mut fk_names);
        self.a.tables.push(TableSummary {
            source: t.name.clone(),
            target: tname.clone(),
            columns: columns.len(),
            estimated_rows: t.estimated_rows,
            primary_key: primary_key.is_some(),
            indexes: indexes.len(),
            foreign_keys: foreign_keys.len(),
        });
        let mut plan = TablePlan {
            source: t.clone(),
            source_name: t.name.clone(),
            target: PgTable {
                schema: self.target_schema.clone(),
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
                citus_table: false,
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
                quarantine: t.columns.iter().any(|c| c.quarantine || c.replace_bad_text),
            },
            auto_increment_floor: t.auto_increment,
            binary: None,
        };
        plan.binary = plan.target.columns.iter().map(|c| BinaryKind::for_type(&c.ty)).collect();
        plan
    }

    fn plan_columns(&mut self, t: &Table, rule: Option<&TableRule>, tname: &str) -> PlannedColumns {
        let Planner { config, probes, postgis, case, target_schema, user, sequences, a, problems, typenames, enums, ci_columns, .. } = self;
        let (config, probes, postgis, case): (&Config, &ProbeAnswers, bool, IdentifierCase) = (config, probes, *postgis, *case);
        let rules = &config.rules;
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
            // A computed column the source translated (SQL Server) is computed by the target
            // too, unless a rule gives it a type of its own (then its values are copied).
            if let (Some(pg), None) = (&c.generated_postgres, rule.and_then(|r| r.columns.get(&c.name)).and_then(|r| r.type_.as_ref())) {
                let zero = ZeroDates { policy: ZeroDatePolicy::Error, nullable: true };
                if let Ok(m) = typemap::map_column(c, rules, typemap::ColumnProbes::default(), None, postgis, zero) {
                    let expression = translate_expression(pg, &|n: &str| cname_of.get(n).cloned().unwrap_or_else(|| n.to_string()));
                    a.push(Severity::Info, &obj, format!("computed column → generated column (STORED), computed by PostgreSQL: {expression}"));
                    generated.push(PgGenerated { name: cname, ty: m.ty.to_string(), expression });
                    continue;
                }
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
            if let Some(n) = probes.get(&(t.name.clone(), c.name.clone(), Probe::BeyondMicroseconds)).copied().filter(|n| *n > 0) {
                if !text_override {
                    a.push(Severity::Action, &obj, format!(
                        "{n} rows hold a digit beyond the microsecond (100 ns), which PostgreSQL cannot keep: the table fails to load rather than round it; override [tables.\"{}\".columns.\"{}\"] type = \"text\" to keep every digit, or round the values on the source",
                        t.name, c.name
                    ));
                }
            }
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
                if let Some(note) = &c.profile_note {
                    a.push(Severity::Warning, &obj, note.clone());
                }
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
                    let d = pg_default(c, &ty, zp, nullable, &obj, a);
                    // A PostgreSQL source's default may cast to its own types (`'ok'::mood`).
                    match (&c.default, d) {
                        (Some(DefaultValue::Native(_)), Some(d)) => Some(qualify_sequences(&user.qualify_casts(&d), sequences)),
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
            if c.data_type.is_textual() && c.case_insensitive && ty != PgType::Custom("citext".into()) {
                ci_columns.entry(c.collation.clone().unwrap_or_else(|| "case-insensitive".into())).or_default().push(format!("{}.{}", t.name, c.name));
            }
            columns.push(PgColumn { name: cname, ty, nullable, default, identity, comment: c.comment.clone() });
            conversions.push(ColumnConversion { source_index: i, conversion });
        }

        PlannedColumns { cname_of, columns, conversions, on_update_now, generated }
    }

    fn plan_indexes(&mut self, t: &Table, tname: &str, col: &dyn Fn(&str) -> String) -> Vec<PgIndex> {
        let Planner { schema, postgis, case, target_schema, a, relnames, .. } = self;
        let (schema, postgis, case): (&Schema, bool, IdentifierCase) = (schema, *postgis, *case);
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
                        include: vec![],
                        predicate: None,
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
                            include: vec![],
                            predicate: None,
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
                    let include = ix.include.iter().map(|c| quote_ident(&col(c))).collect();
                    let predicate = ix.filter.as_ref().map(|f| translate_expression(f, &col));
                    if ix.filter.is_some() {
                        a.push(
                            Severity::Info,
                            &obj,
                            "filtered index → partial index (identifiers translated; if PostgreSQL rejects the condition the migrate report lists it)",
                        );
                    }
                    let pg = PgIndex { name, unique: ix.unique, method: "btree".into(), elements, include, predicate };
                    if ix.columns.iter().any(|c| c.prefix.is_some()) {
                        if ix.unique {
                            // Unique on a prefix is a different rule than unique on the value,
                            // and no ON CONFLICT can name it: a person decides.
                            a.push_sql(
                                Severity::Action,
                                &obj,
                                "UNIQUE prefix index not created: MySQL enforces uniqueness of the first n characters only; run this if that is the rule the application needs",
                                pg_index_sql(target_schema, tname, &pg),
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

        indexes
    }

    fn plan_foreign_keys(&mut self, t: &Table, col: &dyn Fn(&str) -> String) -> (Vec<PgForeignKey>, NameAllocator) {
        let Planner { schema, config, case, target_schema, tname_of, a, .. } = self;
        let (schema, config, case): (&Schema, &Config, IdentifierCase) = (schema, config, *case);
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
                not_valid: fk.not_valid,
            });
            if fk.not_valid {
                a.push(Severity::Warning, &obj, "created NOT VALID: the source does not trust it (untrusted or disabled), so existing rows are not checked; VALIDATE it once they are clean");
            }
        }

        (foreign_keys, fk_names)
    }

    fn plan_partition_objects(&mut self, t: &Table, col: &dyn Fn(&str) -> String) -> PartitionObjects {
        let Planner { config, case, target_schema, tname_of, a, relnames, .. } = self;
        let (config, case): (&Config, IdentifierCase) = (config, *case);
        // Indexes and foreign keys of single partitions, on the target's partitions.
        let mut partition_indexes = Vec::new();
        let mut partition_foreign_keys = Vec::new();
        for po in &t.partition_objects {
            let pname = apply_case(case, &po.partition);
            for ix in &po.indexes {
                let elements = ix.columns.iter().map(|c| format!("{}{}", quote_ident(&col(&c.name)), if c.descending { " DESC" } else { "" })).collect();
                partition_indexes.push((
                    pname.clone(),
                    PgIndex {
                        name: relnames.allocate(&apply_case(case, &ix.name)),
                        unique: ix.unique,
                        method: "btree".into(),
                        elements,
                        include: vec![],
                        predicate: None,
                    },
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
                        not_valid: fk.not_valid,
                    },
                ));
            }
        }

        (partition_indexes, partition_foreign_keys)
    }

    fn plan_checks(&mut self, t: &Table, col: &dyn Fn(&str) -> String, fk_names: &mut NameAllocator) -> Vec<PgCheck> {
        let Planner { case, user, a, config, .. } = self;
        let (case, config): (IdentifierCase, &Config) = (*case, config);
        let rules = &config.rules;
        // CHECK constraints: identifiers translated, the rest tried as written.
        let mut checks = Vec::new();
        for ch in &t.checks {
            checks.push(PgCheck {
                name: fk_names.allocate(&apply_case(case, &ch.name)),
                expression: user.qualify_casts(&translate_expression(&ch.expression, &col)),
                not_valid: ch.not_valid,
            });
            if ch.not_valid {
                a.push(Severity::Warning, format!("{} check {}", t.name, ch.name), "created NOT VALID: the source does not trust it (untrusted or disabled)");
            }
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
                        not_valid: false,
                    });
                }
            }
        }

        checks
    }
}

/// Indexes and foreign keys of single partitions: (partition, object).
type PartitionObjects = (Vec<(String, PgIndex)>, Vec<(String, PgForeignKey)>);

/// The columns of one planned table.
struct PlannedColumns {
    /// Source column → target column name.
    cname_of: HashMap<String, String>,
    columns: Vec<PgColumn>,
    conversions: Vec<ColumnConversion>,
    on_update_now: Vec<String>,
    generated: Vec<PgGenerated>,
}
