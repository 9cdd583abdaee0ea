//! Citus targets: which tables are distributed (by which column, colocated with which table),
//! which are reference tables, which stay local — decided before anything is written, because
//! Citus needs `create_distributed_table` / `create_reference_table` on the empty tables, before
//! the load, in an order that lets foreign keys exist.
//!
//! What is checked and why (Citus rules, stated in its documentation):
//! - every primary key and unique key of a distributed table contains the distribution column
//!   (uniqueness is enforced per shard); a table that breaks this is classified **needs the
//!   column added** with the key named, and `ferry migrate` refuses to start until the config or
//!   the source changes;
//! - a foreign key from a distributed table goes to a reference table, or to a distributed table
//!   colocated with it through the distribution column; from a reference table only to another
//!   reference table. Other foreign keys are refused the same way.
//! - Order: reference tables first (those referenced by others before them), then distributed
//!   tables, each after the table it is colocated with.

use crate::assessment::Severity;
use crate::config::CitusConfig;
use crate::{Plan, TablePlan};
use ferry_target_postgres::ident::quote_literal;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CitusRole {
    Distributed { column: String, colocate_with: Option<String> },
    Reference,
    Local,
}

/// One table's classification for the assessment.
#[derive(Debug, Clone, Serialize)]
pub struct CitusTable {
    pub table: String,
    pub role: CitusRole,
    /// `ready`, `needs the column added`, `reference`, `local`, or `refused`.
    pub class: String,
    /// Why a table is not ready, with what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
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
        self.tables.iter().filter_map(|t| t.problem.as_ref().map(|p| format!("table {}: {p}", t.table))).collect()
    }
}

/// Classifies the plan's tables and orders the Citus calls; unknown names in the config are
/// plan problems (returned).
pub fn classify(plan: &mut Plan, cfg: &CitusConfig) -> Vec<String> {
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
    let roles: Vec<(String, CitusRole)> = plan.tables.iter().map(|t| (t.target.name.clone(), role_of(t))).collect();
    let role = |target: &str| roles.iter().find(|(n, _)| n == target).map(|(_, r)| r.clone()).unwrap_or(CitusRole::Local);
    let mut out = CitusPlan::default();
    for t in &plan.tables {
        let r = role(&t.target.name);
        let mut problem = None;
        let mut class = match &r {
            CitusRole::Reference => "reference".to_string(),
            CitusRole::Local => "local".to_string(),
            CitusRole::Distributed { .. } => "ready".to_string(),
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
            if let Some((what, _)) = keys.iter().find(|(_, cols)| !cols.contains(column)) {
                class = "needs the column added".into();
                problem = Some(format!(
                    "its {what} does not contain the distribution column {column}: Citus enforces uniqueness per shard, so add {column} to the key on the source (or distribute by a key column, or make the table a reference table)"
                ));
            }
            if let Some(c) = colocate_with {
                if !matches!(role(c), CitusRole::Distributed { .. }) {
                    problems.push(format!("[target.citus.distributed] table `{}`: colocate_with `{c}` is not a distributed table", t.source.name));
                }
            }
        }
        // Foreign keys Citus accepts.
        if problem.is_none() {
            for fk in &t.target.foreign_keys {
                let to = role(&fk.ref_table);
                let ok = match (&r, &to) {
                    (CitusRole::Local, _) => true,
                    (_, CitusRole::Reference) => true,
                    (CitusRole::Reference, _) => false,
                    (CitusRole::Distributed { column, colocate_with }, CitusRole::Distributed { column: rc, colocate_with: rcw }) => {
                        let colocated = colocate_with.as_deref() == Some(fk.ref_table.as_str())
                            || rcw.as_deref() == Some(t.target.name.as_str())
                            || (colocate_with.is_some() && colocate_with == rcw)
                            || fk.ref_table == t.target.name;
                        let through = fk.columns.iter().zip(&fk.ref_columns).any(|(a, b)| a == column && b == rc);
                        colocated && through
                    }
                    (CitusRole::Distributed { .. }, CitusRole::Local) => false,
                };
                if !ok {
                    class = "refused".into();
                    problem = Some(format!(
                        "foreign key {} → {} is not allowed by Citus between a {} table and a {} table: make {} a reference table, colocate the two tables and include the distribution column in the key, or drop the foreign key",
                        fk.name,
                        fk.ref_table,
                        label(&r),
                        label(&to),
                        fk.ref_table
                    ));
                    break;
                }
            }
        }
        out.tables.push(CitusTable { table: t.target.name.clone(), role: r, class, problem });
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
            out.statements.push(format!("SELECT create_distributed_table({}, {}{colo})", quote_literal(&t.target.qualified()), quote_literal(column)));
            placed.push(t.target.name.clone());
        }
    }
    for ct in &out.tables {
        let (sev, msg) = match (&ct.role, &ct.problem) {
            (_, Some(p)) => (Severity::Action, format!("citus: {} — {p}", ct.class)),
            (CitusRole::Distributed { column, colocate_with }, None) => (
                Severity::Info,
                format!("citus: ready — distributed by {column}{}", colocate_with.as_ref().map(|c| format!(", colocated with {c}")).unwrap_or_default()),
            ),
            (CitusRole::Reference, None) => (Severity::Info, "citus: reference table (a copy on every node)".into()),
            (CitusRole::Local, None) => (Severity::Info, "citus: local table (on the coordinator only)".into()),
        };
        plan.assessment.push(sev, &ct.table, msg);
    }
    for t in plan.tables.iter_mut() {
        if out.tables.iter().any(|c| c.table == t.target.name && c.role != CitusRole::Local) {
            t.target.key_in_one_step = true;
        }
    }
    plan.citus = Some(out);
    problems
}

fn label(r: &CitusRole) -> &'static str {
    match r {
        CitusRole::Distributed { .. } => "distributed",
        CitusRole::Reference => "reference",
        CitusRole::Local => "local",
    }
}
