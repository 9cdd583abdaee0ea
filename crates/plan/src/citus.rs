//! Citus targets: which tables are distributed (by which column, colocated with which table),
//! which are reference tables, which stay local — decided before anything is written, because
//! Citus needs `create_distributed_table` / `create_reference_table` on the empty tables, before
//! the load, in an order that lets foreign keys exist.
//!
//! What is checked and why (Citus rules, stated in its documentation and seen on Citus 13.2);
//! every problem of a table is reported at once, each with what to do:
//! - every primary key and unique key of a distributed table contains the distribution column
//!   (uniqueness is enforced per shard); a table that breaks this is classified **needs the
//!   column added** with the key named — unless `extend_key` adds the column to the target's
//!   keys (and to the foreign keys that reference them from colocated tables) in
//!   [`extend_keys`];
//! - a foreign key from a distributed table goes to a reference table, or to a distributed table
//!   colocated with it through the distribution column; from a reference table only to another
//!   reference table; from a local table not to a distributed table (Citus accepts it but
//!   enforces it one way only). Other foreign keys are refused;
//! - a foreign key holding the distribution column cannot `ON UPDATE CASCADE / SET NULL / SET
//!   DEFAULT` nor `ON DELETE SET NULL / SET DEFAULT` (refused, or `NO ACTION` with an action item
//!   when `downgrade_fk_actions` is on);
//! - identities of distributed tables are `bigint` (an `integer` one fails on inserts routed
//!   through a worker): widened, and said;
//! - `ON UPDATE CURRENT_TIMESTAMP` triggers are created with `citus.enable_unsafe_triggers`
//!   (they only set a column of their own row);
//! - Order: reference tables first (those referenced by others before them), then distributed
//!   tables, each after the table it is colocated with.

use crate::assessment::Severity;
use crate::config::CitusConfig;
use crate::{Plan, TablePlan};
use ferry_target_postgres::copy_binary::BinaryKind;
use ferry_target_postgres::ddl::PgType;
use ferry_target_postgres::ident::{quote_ident, quote_literal};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CitusRole {
    Distributed {
        column: String,
        colocate_with: Option<String>,
    },
    Reference,
    Local,
    /// In a distributed schema (`schema_based`): one shard, colocated with the schema's tables.
    Schema,
}

/// One table's classification for the assessment.
#[derive(Debug, Clone, Serialize)]
pub struct CitusTable {
    pub table: String,
    pub role: CitusRole,
    /// `ready`, `needs the column added`, `reference`, `local`, or `refused`.
    pub class: String,
    /// Why a table is not ready, each with what to do (all of them, not the first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The Citus part of a plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CitusPlan {
    pub tables: Vec<CitusTable>,
    /// `SELECT create_reference_table(…)` / `create_distributed_table(…)` in dependency order.
    pub statements: Vec<String>,
}

impl CitusPlan {
    /// The tables that stop a migrate, with their problems.
    pub fn refusals(&self) -> Vec<String> {
        self.tables.iter().flat_map(|t| t.problems.iter().map(move |p| format!("table {}: {p}", t.table))).collect()
    }
}

/// Classifies the plan's tables and orders the Citus calls; unknown names in the config are
/// plan problems (returned).
pub fn classify(plan: &mut Plan, cfg: &CitusConfig) -> Vec<String> {
    if cfg.schema_based {
        return schema_based(plan, cfg);
    }
    let mut problems = Vec::new();
    let by_source = |name: &str| plan.tables.iter().find(|t| t.source.name == name);
    for n in cfg.reference.iter().chain(cfg.distributed.keys()) {
        if by_source(n).is_none() {
            problems.push(format!("[target.citus] names table `{n}`, which is not among the selected source tables"));
        }
    }
    let role_of = |t: &TablePlan| -> CitusRole {
        if cfg.reference.contains(&t.source.name) {
            return CitusRole::Reference;
        }
        match cfg.distributed.get(&t.source.name) {
            Some(d) => CitusRole::Distributed {
                column: t.target_column_of(&d.column).map(str::to_string).unwrap_or_else(|| d.column.clone()),
                colocate_with: d
                    .colocate_with
                    .as_ref()
                    .map(|c| plan.tables.iter().find(|x| &x.source.name == c).map(|x| x.target.name.clone()).unwrap_or_else(|| c.clone())),
            },
            None => CitusRole::Local,
        }
    };
    for (n, d) in &cfg.distributed {
        if d.shard_count.is_some() && d.colocate_with.is_some() {
            problems.push(format!("[target.citus.distributed] table `{n}`: shard_count and colocate_with together — colocated tables share their shards; give shard_count to `{}` only", d.colocate_with.as_deref().unwrap_or_default()));
        }
        if d.shard_count == Some(0) {
            problems.push(format!("[target.citus.distributed] table `{n}`: shard_count must be at least 1"));
        }
    }
    let roles: Vec<(String, CitusRole)> = plan.tables.iter().map(|t| (t.target.name.clone(), role_of(t))).collect();
    let role = |target: &str| roles.iter().find(|(n, _)| n == target).map(|(_, r)| r.clone()).unwrap_or(CitusRole::Local);
    let notes = extend_keys(plan, cfg, &roles);
    let mut out = CitusPlan::default();
    let mut downgraded: Vec<(usize, usize, String)> = Vec::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        let r = role(&t.target.name);
        let mut table_problems: Vec<String> = Vec::new();
        let mut class = match &r {
            CitusRole::Reference => "reference".to_string(),
            CitusRole::Local => "local".to_string(),
            CitusRole::Distributed { .. } => "ready".to_string(),
            CitusRole::Schema => "schema-distributed".to_string(),
        };
        if let CitusRole::Distributed { column, colocate_with } = &r {
            if !t.target.columns.iter().any(|c| &c.name == column) {
                problems.push(format!("[target.citus.distributed] table `{}`: no column `{column}` to distribute by", t.source.name));
            }
            // Keys must contain the distribution column.
            let mut keys: Vec<(String, Vec<String>)> = Vec::new();
            if let Some(pk) = &t.target.primary_key {
                keys.push((format!("primary key ({})", pk.columns.join(", ")), pk.columns.clone()));
            }
            for ix in t.target.indexes.iter().filter(|i| i.unique) {
                let cols: Vec<String> = ix.elements.iter().map(|e| e.trim_matches('"').to_string()).collect();
                keys.push((format!("unique index {} ({})", ix.name, cols.join(", ")), cols));
            }
            for (what, _) in keys.iter().filter(|(_, cols)| !cols.contains(column)) {
                class = "needs the column added".into();
                table_problems.push(format!(
                    "its {what} does not contain the distribution column {column}: Citus enforces uniqueness per shard, so add {column} to the key on the source, or set `extend_key = true` for the table in [target.citus.distributed] to add it on the target only (or distribute by a key column, or make the table a reference table)"
                ));
            }
            if let Some(c) = colocate_with {
                if !matches!(role(c), CitusRole::Distributed { .. }) {
                    problems.push(format!("[target.citus.distributed] table `{}`: colocate_with `{c}` is not a distributed table", t.source.name));
                }
            }
        }
        // Foreign keys Citus accepts.
        for (fi, fk) in t.target.foreign_keys.iter().enumerate() {
            let to = role(&fk.ref_table);
            let ok = match (&r, &to) {
                (CitusRole::Local, CitusRole::Distributed { .. }) => false,
                (CitusRole::Local, _) => true,
                (_, CitusRole::Reference) => true,
                (CitusRole::Reference, _) => false,
                (CitusRole::Distributed { column, colocate_with }, CitusRole::Distributed { column: rc, colocate_with: rcw }) => {
                    let through = fk.columns.iter().zip(&fk.ref_columns).any(|(a, b)| a == column && b == rc);
                    (fk.ref_table == t.target.name || colocated(&t.target.name, colocate_with, &fk.ref_table, rcw)) && through
                }
                (CitusRole::Distributed { .. }, CitusRole::Local) => false,
                // Only in a distributed schema, where every table is (see `schema_based`).
                (CitusRole::Schema, _) | (_, CitusRole::Schema) => true,
            };
            if !ok {
                if class == "ready" || class == "local" || class == "reference" {
                    class = "refused".into();
                }
                if let (CitusRole::Distributed { column, colocate_with }, CitusRole::Distributed { colocate_with: rcw, .. }) = (&r, &to) {
                    if colocated(&t.target.name, colocate_with, &fk.ref_table, rcw) {
                        table_problems.push(format!(
                            "foreign key {} → {} does not include the distribution column {column}: Citus needs a foreign key between colocated tables to go through it — set `extend_key = true` for both tables to add it to the keys on the target, or drop the foreign key",
                            fk.name, fk.ref_table
                        ));
                        continue;
                    }
                }
                let why = if matches!((&r, &to), (CitusRole::Local, CitusRole::Distributed { .. })) {
                    " (Citus accepts it but checks it one way only: deleting a referenced row succeeds while local rows still point at it)"
                } else {
                    ""
                };
                table_problems.push(format!(
                    "foreign key {} → {} is not allowed by Citus between a {} table and a {} table{why}: make {} a reference table, colocate the two tables and include the distribution column in the key, or drop the foreign key",
                    fk.name,
                    fk.ref_table,
                    label(&r),
                    label(&to),
                    if matches!(r, CitusRole::Local) { t.target.name.as_str() } else { fk.ref_table.as_str() }
                ));
                continue;
            }
            // Actions Citus cannot run on a key holding the distribution column.
            if let CitusRole::Distributed { column, .. } = &r {
                if fk.columns.contains(column) {
                    let bad_update = !matches!(fk.on_update.as_str(), "NO ACTION" | "RESTRICT" | "");
                    let bad_delete = matches!(fk.on_delete.as_str(), "SET NULL" | "SET DEFAULT");
                    for (what, bad, action) in [("ON UPDATE", bad_update, &fk.on_update), ("ON DELETE", bad_delete, &fk.on_delete)] {
                        if !bad {
                            continue;
                        }
                        if cfg.downgrade_fk_actions {
                            downgraded.push((ti, fi, what.to_string()));
                        } else {
                            if class == "ready" {
                                class = "refused".into();
                            }
                            table_problems.push(format!(
                                "foreign key {} → {} has {what} {action} and holds the distribution column {column}, which Citus cannot run: set `downgrade_fk_actions = true` in [target.citus] to keep the key with {what} NO ACTION on the target (listed as an action item), or change the key on the source",
                                fk.name, fk.ref_table
                            ));
                        }
                    }
                }
            }
        }
        out.tables.push(CitusTable { table: t.target.name.clone(), role: r, class, problems: table_problems });
    }
    for (ti, fi, what) in downgraded {
        let t = &mut plan.tables[ti];
        let fk = &mut t.target.foreign_keys[fi];
        let was = if what == "ON UPDATE" {
            std::mem::replace(&mut fk.on_update, "NO ACTION".into())
        } else {
            std::mem::replace(&mut fk.on_delete, "NO ACTION".into())
        };
        let msg = format!(
            "citus: foreign key {} → {}: {what} {was} became {what} NO ACTION (Citus cannot run it on a key holding the distribution column; downgrade_fk_actions) — the application must do what the action did",
            fk.name, fk.ref_table
        );
        let name = t.target.name.clone();
        plan.assessment.push(Severity::Action, &name, msg);
    }
    // Identities of distributed tables are bigint.
    let mut widened = Vec::new();
    for t in plan.tables.iter_mut() {
        if !matches!(role(&t.target.name), CitusRole::Distributed { .. }) {
            continue;
        }
        let mut changed = false;
        for c in t.target.columns.iter_mut().filter(|c| c.identity && matches!(c.ty, PgType::SmallInt | PgType::Integer)) {
            widened.push((t.target.name.clone(), format!("citus: identity column {} widened to bigint (Citus needs bigint identities on distributed tables: inserts routed through a worker fail otherwise)", c.name)));
            c.ty = PgType::BigInt;
            changed = true;
        }
        if changed {
            t.binary = t.target.columns.iter().map(|c| BinaryKind::for_type(&c.ty)).collect();
        }
    }
    for (name, msg) in widened.into_iter().chain(notes) {
        plan.assessment.push(Severity::Info, &name, msg);
    }
    // Reference tables, referenced ones first; then distributed, each after its colocation.
    let mut done: Vec<String> = Vec::new();
    let refs: Vec<&TablePlan> = plan.tables.iter().filter(|t| role(&t.target.name) == CitusRole::Reference).collect();
    while done.len() < refs.len() {
        let before = done.len();
        for t in &refs {
            if done.contains(&t.target.name) {
                continue;
            }
            let waits = t
                .target
                .foreign_keys
                .iter()
                .any(|f| f.ref_table != t.target.name && refs.iter().any(|r| r.target.name == f.ref_table) && !done.contains(&f.ref_table));
            if !waits {
                out.statements.push(format!("SELECT create_reference_table({})", quote_literal(&t.target.qualified())));
                done.push(t.target.name.clone());
            }
        }
        if done.len() == before {
            // A cycle among reference tables: any order works once all are reference tables.
            let rest: Vec<&&TablePlan> = refs.iter().filter(|t| !done.contains(&t.target.name)).collect();
            for t in rest {
                out.statements.push(format!("SELECT create_reference_table({})", quote_literal(&t.target.qualified())));
                done.push(t.target.name.clone());
            }
        }
    }
    let dist: Vec<(&TablePlan, String, Option<String>)> = plan
        .tables
        .iter()
        .filter_map(|t| match role(&t.target.name) {
            CitusRole::Distributed { column, colocate_with } => Some((t, column, colocate_with)),
            _ => None,
        })
        .collect();
    let mut placed: Vec<String> = Vec::new();
    for _ in 0..=dist.len() {
        for (t, column, colocate) in &dist {
            if placed.contains(&t.target.name) || colocate.as_ref().is_some_and(|c| !placed.contains(c) && dist.iter().any(|(x, _, _)| &x.target.name == c)) {
                continue;
            }
            let colo = match colocate {
                Some(c) => format!(
                    ", colocate_with => {}",
                    quote_literal(&format!("{}.{}", ferry_target_postgres::ident::quote_ident(&t.target.schema), ferry_target_postgres::ident::quote_ident(c)))
                ),
                None => String::new(),
            };
            let shards = cfg.distributed.get(&t.source.name).and_then(|d| d.shard_count).map(|n| format!(", shard_count => {n}")).unwrap_or_default();
            out.statements.push(format!("SELECT create_distributed_table({}, {}{colo}{shards})", quote_literal(&t.target.qualified()), quote_literal(column)));
            placed.push(t.target.name.clone());
        }
    }
    for ct in &out.tables {
        for p in &ct.problems {
            plan.assessment.push(Severity::Action, &ct.table, format!("citus: {} — {p}", ct.class));
        }
        if !ct.problems.is_empty() {
            continue;
        }
        let msg = match &ct.role {
            CitusRole::Distributed { column, colocate_with } => {
                format!("citus: ready — distributed by {column}{}", colocate_with.as_ref().map(|c| format!(", colocated with {c}")).unwrap_or_default())
            }
            CitusRole::Reference => "citus: reference table (a copy on every node)".into(),
            CitusRole::Local => "citus: local table (on the coordinator only)".into(),
            CitusRole::Schema => "citus: schema-distributed".into(),
        };
        plan.assessment.push(Severity::Info, &ct.table, msg);
    }
    for t in plan.tables.iter_mut() {
        if out.tables.iter().any(|c| c.table == t.target.name && c.role != CitusRole::Local) {
            t.target.key_in_one_step = true;
            t.target.citus_table = true;
        }
    }
    plan.citus = Some(out);
    problems
}

/// Tables `a` and `b` (with their `colocate_with`) share shards: one names the other, or both
/// name the same table.
fn colocated(a: &str, a_with: &Option<String>, b: &str, b_with: &Option<String>) -> bool {
    a_with.as_deref() == Some(b) || b_with.as_deref() == Some(a) || (a_with.is_some() && a_with == b_with)
}

fn label(r: &CitusRole) -> &'static str {
    match r {
        CitusRole::Schema => "schema-distributed",
        CitusRole::Distributed { .. } => "distributed",
        CitusRole::Reference => "reference",
        CitusRole::Local => "local",
    }
}

/// `extend_key`: adds each such distributed table's distribution column to its target primary
/// and unique keys, then to the foreign keys that reference those keys from distributed tables
/// (their own distribution column, which colocation pairs with it). Returns the notes for the
/// assessment (table, text). The source key is untouched: sync still folds and applies by it
/// (apply deletes a row whose distribution value moved before inserting it again).
fn extend_keys(plan: &mut Plan, cfg: &CitusConfig, roles: &[(String, CitusRole)]) -> Vec<(String, String)> {
    let mut notes = Vec::new();
    // (table, old key columns, distribution column) of every extended key.
    let mut extended: Vec<(String, Vec<String>, String)> = Vec::new();
    for t in plan.tables.iter_mut() {
        if !cfg.distributed.get(&t.source.name).is_some_and(|d| d.extend_key) {
            continue;
        }
        let Some((_, CitusRole::Distributed { column, .. })) = roles.iter().find(|(n, _)| n == &t.target.name) else { continue };
        if let Some(pk) = t.target.primary_key.as_mut().filter(|pk| !pk.columns.contains(column)) {
            extended.push((t.target.name.clone(), pk.columns.clone(), column.clone()));
            pk.columns.push(column.clone());
            notes.push((
                t.target.name.clone(),
                format!("citus: primary key extended to ({}) on the target only (extend_key): the target no longer checks that ({}) alone is unique — the source still does", pk.columns.join(", "), extended.last().map(|e| e.1.join(", ")).unwrap_or_default()),
            ));
        }
        for ix in t.target.indexes.iter_mut().filter(|i| i.unique) {
            let cols: Vec<String> = ix.elements.iter().map(|e| e.trim_matches('"').to_string()).collect();
            if !cols.contains(column) {
                extended.push((t.target.name.clone(), cols.clone(), column.clone()));
                ix.elements.push(quote_ident(column));
                notes.push((t.target.name.clone(), format!("citus: unique index {} extended with {column} on the target only (extend_key)", ix.name)));
            }
        }
    }
    for t in plan.tables.iter_mut() {
        let Some((_, CitusRole::Distributed { column: own, .. })) = roles.iter().find(|(n, _)| n == &t.target.name) else { continue };
        for fk in t.target.foreign_keys.iter_mut() {
            let Some((_, _, their)) = extended.iter().find(|(table, cols, _)| table == &fk.ref_table && cols == &fk.ref_columns) else { continue };
            // Already through the distribution columns, or own column used for another one
            // (adding it twice would fail): left as is for `classify` to judge.
            if fk.ref_columns.contains(their) || fk.columns.contains(own) {
                continue;
            }
            fk.columns.push(own.clone());
            fk.ref_columns.push(their.clone());
            notes.push((
                t.target.name.clone(),
                format!(
                    "citus: foreign key {} → {} now ({}) → ({}), matching the extended key (extend_key)",
                    fk.name,
                    fk.ref_table,
                    fk.columns.join(", "),
                    fk.ref_columns.join(", ")
                ),
            ));
        }
    }
    notes
}

/// `schema_based`: the target schema is distributed as a whole after its tables exist. Every
/// table lands on one node with the others, so their keys and foreign keys need nothing; the
/// ON UPDATE triggers are created as on other Citus tables. Identities are not widened here
/// (single-shard tables; inserts routed through a worker were not tried).
fn schema_based(plan: &mut Plan, cfg: &CitusConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if !cfg.reference.is_empty() || !cfg.distributed.is_empty() {
        problems.push(
            "[target.citus] schema_based = true distributes the whole schema: leave `reference` and `distributed` empty (or use them without schema_based)"
                .into(),
        );
    }
    let mut out = CitusPlan::default();
    for t in plan.tables.iter_mut() {
        t.target.key_in_one_step = true;
        t.target.citus_table = true;
        out.tables.push(CitusTable { table: t.target.name.clone(), role: CitusRole::Schema, class: "schema-distributed".into(), problems: vec![] });
    }
    out.statements.push(format!("SELECT citus_schema_distribute({})", quote_literal(&quote_ident(&plan.target_schema))));
    let names: Vec<String> = plan.tables.iter().map(|t| t.target.name.clone()).collect();
    for n in names {
        plan.assessment.push(
            Severity::Info,
            &n,
            format!("citus: schema-distributed — one shard, on one node with the other tables of schema {}", plan.target_schema),
        );
    }
    plan.citus = Some(out);
    problems
}
