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

    // (what it creates or changes, statement): run one by one in one transaction, so an error
    // names its object and shows its statement, and either all of it is in place or none.
    let mut stmts: Vec<(String, String)> =
        plan.extensions.iter().map(|e| (format!("extension {e} (its types are planned)"), ferry_plan::build::create_extension_sql(e))).collect();
    stmts.push((format!("schema \"{}\"", plan.target_schema), create_schema_sql(&plan.target_schema)));
    let mut push = |what: String, sql: String| stmts.push((what, sql));
    match if_exists {
        IfExists::Fail if !existing.is_empty() => {
            return Err(LoadError::Exists { schema: plan.target_schema.clone(), tables: existing });
        }
        IfExists::Fail => {}
        IfExists::Drop => {
            for t in &plan.tables {
                if existing.contains(&t.target.name) {
                    push(format!("table {}", t.target.qualified()), format!("DROP TABLE {} CASCADE", t.target.qualified()));
                }
            }
            for d in &plan.domains {
                push(format!("domain {}", qualified(&d.schema, &d.name)), format!("DROP DOMAIN IF EXISTS {} CASCADE", qualified(&d.schema, &d.name)));
            }
            for e in &plan.enums {
                push(format!("type {}", qualified(&e.schema, &e.name)), format!("DROP TYPE IF EXISTS {} CASCADE", qualified(&e.schema, &e.name)));
            }
            for q in &plan.sequences {
                push(format!("sequence {}", q.qualified()), format!("DROP SEQUENCE IF EXISTS {} CASCADE", q.qualified()));
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
                    push(
                        format!("foreign key {} of {}", fk.name, t.target.qualified()),
                        format!("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}", t.target.qualified(), ferry_target_postgres::quote_ident(&fk.name)),
                    );
                }
            }
            for t in &plan.tables {
                if !existing.contains(&t.target.name) {
                    continue;
                }
                let q = t.target.qualified();
                for c in &t.target.checks {
                    push(
                        format!("check {} of {q}", c.name),
                        format!("ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {}", ferry_target_postgres::quote_ident(&c.name)),
                    );
                }
                if let Some(pk) = &t.target.primary_key {
                    push(
                        format!("primary key of {q}"),
                        format!("ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {} CASCADE", ferry_target_postgres::quote_ident(&pk.name)),
                    );
                }
                for ix in t.target.indexes.iter().chain(t.target.partition_indexes.iter().map(|(_, ix)| ix)) {
                    push(format!("index {}", qualified(&t.target.schema, &ix.name)), format!("DROP INDEX IF EXISTS {}", qualified(&t.target.schema, &ix.name)));
                }
                if !t.target.on_update_now.is_empty() {
                    let func = ferry_target_postgres::ident::truncate_ident(&format!("{}_on_update", t.target.name));
                    push(format!("trigger {func} of {q}"), format!("DROP TRIGGER IF EXISTS {} ON {q}", ferry_target_postgres::quote_ident(&func)));
                }
            }
            if !to_truncate.is_empty() {
                push(format!("tables {}", to_truncate.join(", ")), format!("TRUNCATE {}", to_truncate.join(", ")));
            }
        }
    }
    stmts.extend(create_statements(plan, &existing, if_exists == IfExists::Truncate));
    target.batch("BEGIN").await.map_err(|e| LoadError::Target(e.context("starting the schema transaction")))?;
    for (what, sql) in &stmts {
        if let Err(e) = target.batch(sql).await {
            let _ = target.batch("ROLLBACK").await;
            return Err(LoadError::Target(
                e.context(format!("creating {what} in schema \"{}\" (nothing was created); the statement was:\n{sql}\n", plan.target_schema)),
            ));
        }
    }
    if let Err(e) = target.batch("COMMIT").await {
        return Err(LoadError::Target(e.context(format!("committing schema \"{}\" and its tables (nothing was created)", plan.target_schema))));
    }
    // Citus: distribute the empty tables before any row arrives (rows then go to the shards).
    if let Some(c) = &plan.citus {
        if if_exists != IfExists::Truncate {
            for stmt in &c.statements {
                target.exec(stmt).await.map_err(|e| LoadError::Target(e.context("distributing tables on Citus")))?;
            }
        }
    }
    Ok(())
}

/// Types, sequences and the tables not in `existing`; with `keep`, a type that exists stays
/// (its tables use it).
pub(crate) fn create_statements(plan: &Plan, existing: &[String], keep: bool) -> Vec<(String, String)> {
    let mut stmts = Vec::new();
    let mut push = |what: String, sql: String| stmts.push((what, sql));
    let maybe =
        |sql: String| if keep { format!("DO $ferry$ BEGIN {sql}; EXCEPTION WHEN duplicate_object OR duplicate_table THEN NULL; END $ferry$") } else { sql };
    for e in &plan.enums {
        push(format!("enum type {}", qualified(&e.schema, &e.name)), maybe(e.create_sql()));
    }
    for d in &plan.domains {
        push(format!("domain {}", qualified(&d.schema, &d.name)), maybe(d.create_sql()));
    }
    for q in &plan.sequences {
        push(format!("sequence {}", q.qualified()), maybe(q.create_sql()));
        if let Some(v) = q.setval_sql() {
            push(format!("sequence {}", q.qualified()), v);
        }
    }
    for t in &plan.tables {
        if keep && existing.contains(&t.target.name) {
            continue;
        }
        push(format!("table {} (source `{}`)", t.target.qualified(), t.source_name), t.target.create_sql());
    }
    stmts
}

/// Under `--if-exists truncate`, an existing table must have the planned columns.
async fn check_shape(target: &PgTarget, t: &TablePlan) -> Result<(), LoadError> {
    let rows = target
        .client
        .query("SELECT a.attname FROM pg_attribute a WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped", &[&t.target.qualified()])
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
