//! A PostgreSQL source's views, materialized views, functions, procedures, aggregates, triggers
//! and rules, and the objects another source's converter made PostgreSQL of (MySQL views and
//! triggers: `Plan::objects`), created on the target after the load ([`create_objects`]).
//!
//! Guarantees and why:
//! - **Created or listed, never dropped in silence.** Each object either exists on the target
//!   afterwards or is reported with the server's error (and the run is not OK).
//! - **In dependency order** without reading `pg_depend`: the objects are run in passes, and one
//!   whose dependency is not there yet (a view over a view, a trigger calling a function) fails
//!   and comes back in the next pass; the passes end when one creates nothing more.
//! - **In the target schema.** The definitions were read with the search path on the source
//!   schema (names in it unqualified, a routine's own name stripped of it); they run with the
//!   search path on the target schema, so a renamed schema holds them. Names qualified by hand
//!   inside routine bodies are kept as written. Converted objects name the target schema
//!   themselves; each one's statements (a trigger's function and the trigger) run as one.
//! - Triggers come after the data, so the load never fires them; sync applies with
//!   `session_replication_role = replica` where the role may (triggers and rules then stay quiet).
//! - An object that exists already (a rerun that kept the schema) counts as there.
//! - `--schema-only` creates all but the triggers; `--data-only` creates them all (those made
//!   already count as there), so no trigger exists while rows are copied in.

use crate::report::StepFailure;
use ferry_model::{ConvertedObject, ObjectKind, SourceObject};
use ferry_plan::Plan;
use ferry_target_postgres::{quote_ident, PgTarget};

/// What [`create_objects`] did: the objects made (or found) and those PostgreSQL refused.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ObjectsReport {
    /// `view adults`, `function f`…: created now, or there already.
    pub created: Vec<String>,
    /// The SQL of each refused object, with the last error the server gave.
    pub failed: Vec<StepFailure>,
}

/// One object to create: its name for the report and its SQL.
struct Pending {
    label: String,
    sql: String,
}

impl Pending {
    /// A PostgreSQL source's own object, naming tables and columns as the plan renamed them.
    fn native(o: &SourceObject, schema: &ferry_model::Schema, names: &dyn ferry_model::TargetNames) -> Self {
        let label = match &o.table {
            Some(t) => format!("{} {} (on {t})", o.kind.label(), o.name),
            None => format!("{} {}", o.kind.label(), o.name),
        };
        let sql = match o.kind {
            ObjectKind::View | ObjectKind::Trigger | ObjectKind::Policy | ObjectKind::Inheritance => crate::rename::renamed(&o.sql, schema, names),
            _ => o.sql.clone(),
        };
        Pending { label, sql }
    }

    fn converted(o: &ConvertedObject) -> Self {
        Pending { label: o.label(), sql: o.statements.join(";\n") }
    }
}

/// Creates the plan's native and converted objects in the target schema (see the module note);
/// without `triggers` (a schema-only run, before any data) the triggers wait for the run that
/// loads the data.
pub async fn create_objects(target: &PgTarget, plan: &Plan, triggers: bool) -> ObjectsReport {
    let schema = &plan.inputs.schema;
    let wanted = |k: ObjectKind| triggers || k != ObjectKind::Trigger;
    let names = plan.names();
    let mut pending: Vec<Pending> = schema.objects.iter().filter(|o| o.native(schema) && wanted(o.kind)).map(|o| Pending::native(o, schema, &names)).collect();
    pending.extend(plan.objects.iter().filter(|o| !o.statements.is_empty() && wanted(o.kind)).map(Pending::converted));
    let mut report = ObjectsReport::default();
    if pending.is_empty() {
        return report;
    }
    if let Err(e) = target.batch(&format!("SET search_path = {}, public", quote_ident(&plan.target_schema))).await {
        report.failed = pending.iter().map(|o| StepFailure { statement: o.sql.clone(), error: format!("{}: {e}", o.label) }).collect();
        return report;
    }
    loop {
        let before = report.created.len();
        let mut refused = Vec::new();
        for o in std::mem::take(&mut pending) {
            match target.batch(&o.sql).await {
                Ok(()) => report.created.push(o.label),
                Err(e) if matches!(e.sqlstate.as_deref(), Some("42P07" | "42710" | "42723")) => report.created.push(o.label),
                Err(e) => refused.push((o, e.to_string())),
            }
        }
        if refused.is_empty() {
            break;
        }
        // A pass that made nothing new: what is left cannot be made.
        if report.created.len() == before {
            report.failed = refused.into_iter().map(|(o, e)| StepFailure { statement: o.sql, error: format!("{}: {e}", o.label) }).collect();
            break;
        }
        pending = refused.into_iter().map(|(o, _)| o).collect();
    }
    let _ = target.batch("RESET search_path").await;
    report
}
