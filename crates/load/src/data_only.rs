//! `migrate --data-only`: load into tables that already exist (made by `--schema-only`, by the
//! application's own migrations, or by hand), after checking them against the plan.
//!
//! Guarantees:
//! - **Checked first, nothing written when it cannot load** ([`prepare`], first): the target is
//!   compared with the plan's catalog the way `ferry diff` compares (types as PostgreSQL prints
//!   them). A planned table or column that is missing, a column of another type, or a NOT NULL
//!   column without default that the plan does not fill stops the run before anything is
//!   written, each listed. Other differences (a missing index, another default) do not stop the
//!   load; the final structure check reports them, so the run is not OK while they remain.
//! - **Never drops a table, never loads into rows it did not read** ([`prepare`]): tables that
//!   hold rows are refused unless `--if-exists truncate`; `drop` is refused.
//! - **Same result as one migrate**: the target's foreign keys that the plan also has (same
//!   columns and referenced table and columns) are dropped before the load and re-created from
//!   the plan after it (`NOT VALID`, then validated), as a whole migrate adds them; this survives
//!   a kill, because the resumed run adds the plan's foreign keys at its end. Foreign keys the
//!   plan does not have are left in place (said in the report's notes). Keys and indexes stay:
//!   the rows are loaded under them. After the load: sequences and identities past the loaded
//!   values, statistics.

use crate::LoadError;
use ferry_model::catalog::Catalog;
use ferry_plan::config::IfExists;
use ferry_plan::Plan;
use ferry_target_postgres::{quote_ident, PgTarget, TargetError};

/// What in `actual` keeps the planned rows out: missing tables and columns, other column types,
/// NOT NULL columns without default the rows do not fill.
fn blockers(expected: &Catalog, actual: &Catalog) -> Vec<String> {
    let d = ferry_diff::diff(expected, actual, &ferry_diff::DiffOptions::default());
    let mut out = Vec::new();
    for m in &d.missing {
        match (m.kind, &m.table) {
            ("table", _) => out.push(format!("table \"{}\" does not exist (run `ferry migrate --schema-only` first)", m.name)),
            ("column", Some(t)) => out.push(format!("table \"{t}\" has no column \"{}\" ({})", m.name, m.definition)),
            _ => {}
        }
    }
    for c in d.changed.iter().filter(|c| c.kind == "column" && c.property == "type") {
        out.push(format!("column \"{}\".\"{}\" is {} on the target, the plan loads {}", c.table.as_deref().unwrap_or_default(), c.name, c.b, c.a));
    }
    for t in &expected.tables {
        let Some(at) = actual.table(&t.name) else { continue };
        for c in at.columns.iter().filter(|c| t.column(&c.name).is_none() && !c.nullable && c.default.is_none() && !c.identity) {
            out.push(format!("column \"{}\".\"{}\" is NOT NULL without a default and not in the plan: no row would fill it", t.name, c.name));
        }
    }
    out
}

/// Checks the existing tables against the plan (Err: every problem that keeps the rows out,
/// nothing written), then makes them ready for the load in one transaction: refuses tables with
/// rows (or empties them under `--if-exists truncate`) and drops the foreign keys the plan
/// re-creates after the load. Returns notes for the report.
pub async fn prepare(target: &PgTarget, plan: &Plan, if_exists: IfExists) -> Result<Vec<String>, LoadError> {
    if if_exists == IfExists::Drop {
        return Err(LoadError::DataOnlyDrop);
    }
    let mut expected = ferry_plan::catalog::from_plan(plan);
    ferry_verify::structure::normalise_defaults(target, plan, &mut expected).await?;
    let actual = target.read_catalog(&plan.target_schema).await?;
    let problems = blockers(&expected, &actual);
    if !problems.is_empty() {
        return Err(LoadError::DataOnly { schema: plan.target_schema.clone(), problems });
    }
    let mut with_rows = Vec::new();
    for t in &plan.tables {
        let q = t.target.qualified();
        let row = target.client.query_one(&format!("SELECT EXISTS (SELECT 1 FROM {q})"), &[]).await.map_err(TargetError::from)?;
        if row.get::<_, bool>(0) {
            with_rows.push(q);
        }
    }
    if !with_rows.is_empty() && if_exists != IfExists::Truncate {
        return Err(LoadError::DataOnlyRows(with_rows));
    }
    let mut stmts = Vec::new();
    let mut notes = Vec::new();
    for t in &plan.tables {
        let (Some(et), Some(at)) = (expected.table(&t.target.name), actual.table(&t.target.name)) else { continue };
        for fk in &at.foreign_keys {
            let planned = et.foreign_keys.iter().any(|p| p.columns == fk.columns && p.ref_table == fk.ref_table && p.ref_columns == fk.ref_columns);
            if planned {
                stmts.push(format!("ALTER TABLE {} DROP CONSTRAINT {}", t.target.qualified(), quote_ident(&fk.name)));
            } else {
                notes.push(format!(
                    "foreign key {} of {} is not in the plan: kept in place during the load (rows of {} must arrive after the rows they reference)",
                    fk.name,
                    t.target.qualified(),
                    t.target.name
                ));
            }
        }
    }
    if !with_rows.is_empty() {
        stmts.push(format!("TRUNCATE {}", with_rows.join(", ")));
        notes.push(format!("emptied before the load (--if-exists truncate): {}", with_rows.join(", ")));
    }
    target.batch("BEGIN").await?;
    for s in &stmts {
        if let Err(e) = target.exec(s).await {
            let _ = target.batch("ROLLBACK").await;
            return Err(LoadError::Target(e.context(format!("preparing schema \"{}\" for --data-only (nothing was changed)", plan.target_schema))));
        }
    }
    target.batch("COMMIT").await?;
    Ok(notes)
}

/// After a data-only load: what a whole migrate does once the rows are in, beyond the keys and
/// indexes that exist already — sequences and identities past the loaded values, statistics.
pub fn after_load(t: &ferry_plan::TablePlan) -> Vec<String> {
    let mut out = t.target.restart_identity_sql(t.auto_increment_floor);
    out.push(format!("ANALYZE {}", t.target.qualified()));
    out
}

/// Sequences no column owns, set past the source's value again (their tables were loaded).
pub fn sequence_steps(plan: &Plan) -> Vec<String> {
    plan.sequences.iter().filter_map(|q| q.setval_sql()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::catalog::{CatalogColumn, CatalogTable};

    fn col(name: &str, ty: &str, nullable: bool) -> CatalogColumn {
        CatalogColumn { name: name.into(), ty: ty.into(), nullable, default: None, identity: false }
    }

    fn cat(tables: Vec<CatalogTable>) -> Catalog {
        Catalog { engine: "postgresql".into(), schema: "s".into(), tables, views: vec![], sequences: vec![], enums: vec![] }
    }

    fn table(name: &str, columns: Vec<CatalogColumn>) -> CatalogTable {
        CatalogTable { name: name.into(), columns, primary_key: None, uniques: vec![], foreign_keys: vec![], checks: vec![], indexes: vec![], comment: None }
    }

    #[test]
    fn data_only_refuses_missing_tables_columns_other_types_and_unfilled_not_null_columns() {
        let expected = cat(vec![table("a", vec![col("id", "integer", false), col("v", "text", true)]), table("b", vec![col("id", "integer", false)])]);
        let actual = cat(vec![table("a", vec![col("id", "bigint", false), col("extra", "text", false)])]);
        let b = blockers(&expected, &actual);
        assert!(b.iter().any(|l| l.contains("table \"b\" does not exist")), "{b:?}");
        assert!(b.iter().any(|l| l.contains("table \"a\" has no column \"v\"")), "{b:?}");
        assert!(b.iter().any(|l| l.contains("\"a\".\"id\" is bigint on the target, the plan loads integer")), "{b:?}");
        assert!(b.iter().any(|l| l.contains("\"a\".\"extra\" is NOT NULL without a default")), "{b:?}");
        assert_eq!(b.len(), 4, "{b:?}");
    }

    #[test]
    fn data_only_accepts_extra_nullable_columns_and_other_indexes() {
        let expected = cat(vec![table("a", vec![col("id", "integer", false)])]);
        let actual = cat(vec![table("a", vec![col("id", "integer", false), col("note", "text", true)])]);
        assert!(blockers(&expected, &actual).is_empty());
    }
}
