//! Preparing the target before the load: schema, enum types and bare tables, after dropping or
//! emptying what exists as `--if-exists` says, in one transaction.

use crate::LoadError;
use ferry_plan::config::IfExists;
use ferry_plan::{Plan, TablePlan};
use ferry_target_postgres::ddl::create_schema_sql;
use ferry_target_postgres::{qualified, PgTarget, TargetError};

/// Creates the schema, enum types and bare tables (after dropping or emptying what exists, as
/// `if_exists` says), in one transaction: either all of it is in place or none.
pub async fn prepare_target(target: &PgTarget, plan: &Plan, if_exists: IfExists) -> Result<(), LoadError> {
    let names: Vec<String> = plan.tables.iter().map(|t| t.target.name.clone()).collect();
    let rows = target
        .client
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind IN ('r', 'p')",
            &[&plan.target_schema, &names],
        )
        .await
        .map_err(TargetError::from)?;
    let existing: Vec<String> = rows.iter().map(|r| r.get(0)).collect();

    let mut sql = String::from("BEGIN;\n");
    sql.push_str(&format!("{};\n", create_schema_sql(&plan.target_schema)));
    match if_exists {
        IfExists::Fail if !existing.is_empty() => {
            return Err(LoadError::Exists { schema: plan.target_schema.clone(), tables: existing });
        }
        IfExists::Fail => {}
        IfExists::Drop => {
            for t in &plan.tables {
                if existing.contains(&t.target.name) {
                    sql.push_str(&format!("DROP TABLE {} CASCADE;\n", t.target.qualified()));
                }
            }
            for d in &plan.domains {
                sql.push_str(&format!("DROP DOMAIN IF EXISTS {} CASCADE;\n", qualified(&d.schema, &d.name)));
            }
            for e in &plan.enums {
                sql.push_str(&format!("DROP TYPE IF EXISTS {} CASCADE;\n", qualified(&e.schema, &e.name)));
            }
        }
        IfExists::Truncate => {
            let mut to_truncate = Vec::new();
            for t in &plan.tables {
                if !existing.contains(&t.target.name) {
                    continue;
                }
                check_shape(target, t).await?;
                to_truncate.push(t.target.qualified());
                // ferry rebuilds its own keys and indexes after the load.
                for fk in &t.target.foreign_keys {
                    sql.push_str(&format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};\n", t.target.qualified(), ferry_target_postgres::quote_ident(&fk.name)));
                }
            }
            for t in &plan.tables {
                if !existing.contains(&t.target.name) {
                    continue;
                }
                let q = t.target.qualified();
                for c in &t.target.checks {
                    sql.push_str(&format!("ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {};\n", ferry_target_postgres::quote_ident(&c.name)));
                }
                if let Some(pk) = &t.target.primary_key {
                    sql.push_str(&format!("ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {} CASCADE;\n", ferry_target_postgres::quote_ident(&pk.name)));
                }
                for ix in &t.target.indexes {
                    sql.push_str(&format!("DROP INDEX IF EXISTS {};\n", qualified(&t.target.schema, &ix.name)));
                }
                for stmt in t.target.on_update_trigger_sql().iter().skip(1) {
                    let _ = stmt;
                    let func = ferry_target_postgres::ident::truncate_ident(&format!("{}_on_update", t.target.name));
                    sql.push_str(&format!("DROP TRIGGER IF EXISTS {} ON {q};\n", ferry_target_postgres::quote_ident(&func)));
                }
            }
            if !to_truncate.is_empty() {
                sql.push_str(&format!("TRUNCATE {};\n", to_truncate.join(", ")));
            }
        }
    }
    let keep = if_exists == IfExists::Truncate;
    for e in &plan.enums {
        if keep {
            sql.push_str(&format!(
                "DO $ferry$ BEGIN {}; EXCEPTION WHEN duplicate_object THEN NULL; END $ferry$;\n",
                e.create_sql()
            ));
        } else {
            sql.push_str(&format!("{};\n", e.create_sql()));
        }
    }
    for d in &plan.domains {
        if keep {
            sql.push_str(&format!("DO $ferry$ BEGIN {}; EXCEPTION WHEN duplicate_object THEN NULL; END $ferry$;\n", d.create_sql()));
        } else {
            sql.push_str(&format!("{};\n", d.create_sql()));
        }
    }
    for t in &plan.tables {
        if keep && existing.contains(&t.target.name) {
            continue;
        }
        sql.push_str(&format!("{};\n", t.target.create_sql()));
    }
    sql.push_str("COMMIT;\n");
    if let Err(e) = target.batch(&sql).await {
        let _ = target.batch("ROLLBACK").await;
        return Err(LoadError::Target(e.context(format!(
            "creating schema \"{}\" and its tables (nothing was created)",
            plan.target_schema
        ))));
    }
    // Citus: distribute the empty tables before any row arrives (rows then go to the shards).
    if let Some(c) = &plan.citus {
        if !keep {
            for stmt in &c.statements {
                target.exec(stmt).await.map_err(|e| LoadError::Target(e.context("distributing tables on Citus")))?;
            }
        }
    }
    Ok(())
}

/// Under `--if-exists truncate`, an existing table must have the planned columns.
async fn check_shape(target: &PgTarget, t: &TablePlan) -> Result<(), LoadError> {
    let rows = target
        .client
        .query(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            &[&t.target.qualified()],
        )
        .await
        .map_err(TargetError::from)?;
    let have: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for c in &t.target.columns {
        if !have.contains(&c.name) {
            return Err(LoadError::Shape { table: t.target.qualified(), problem: format!("has no column \"{}\"", c.name) });
        }
    }
    Ok(())
}

