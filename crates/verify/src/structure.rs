//! The structure half of "equal": every object the plan promised — tables, columns with their
//! types, nullability and defaults, primary keys, unique keys, foreign keys, checks, indexes
//! (those of single partitions too), enum types, sequences — exists on the target as planned.
//! Data equal but a foreign key missing is not a finished migration: `migrate` is not OK and
//! `verify` is not EQUAL while [`unmet_structure`] lists anything. The comparison is `ferry
//! diff`'s (generated names ignored, expressions normalised), against the plan's own catalog.

use ferry_plan::Plan;
use ferry_target_postgres::{PgTarget, TargetError};

/// What the plan promised that the target lacks or holds differently, one line each.
pub async fn unmet_structure(target: &PgTarget, plan: &Plan) -> Result<Vec<String>, TargetError> {
    let mut expected = ferry_plan::catalog::from_plan(plan);
    normalise_defaults(target, plan, &mut expected).await?;
    let actual = target.read_catalog(&plan.target_schema).await?;
    let mut out = ferry_diff::unmet(&expected, &actual);
    for t in &plan.tables {
        out.extend(target.missing_partition_objects(&t.target).await?);
    }
    Ok(out)
}

/// The planned types, defaults, generation expressions and checks as PostgreSQL itself prints
/// them back
/// (`'"app"."t_id_seq"'::regclass` is stored as `'app.t_id_seq'::regclass`, casts gain
/// parentheses…): each table's planned columns are created as a temporary table inside a
/// transaction that is rolled back, and `pg_get_expr` reads what PostgreSQL made of them. A
/// table whose columns PostgreSQL refuses keeps the planned text.
pub async fn normalise_defaults(target: &PgTarget, plan: &Plan, cat: &mut ferry_model::catalog::Catalog) -> Result<(), TargetError> {
    use ferry_target_postgres::ident::quote_ident;
    for t in &plan.tables {
        let pt = &t.target;
        let mut parts: Vec<String> = pt
            .columns
            .iter()
            .map(|c| match &c.default {
                Some(d) if !c.identity => format!("{} {} DEFAULT {d}", quote_ident(&c.name), c.ty),
                _ => format!("{} {}", quote_ident(&c.name), c.ty),
            })
            .collect();
        parts.extend(pt.generated.iter().map(|g| format!("{} {} GENERATED ALWAYS AS ({}) STORED", quote_ident(&g.name), g.ty, g.expression)));
        parts.extend(pt.checks.iter().map(|c| format!("CONSTRAINT {} CHECK ({})", quote_ident(&c.name), c.expression)));
        target.batch("BEGIN").await?;
        let read = async {
            target.batch(&format!("CREATE TEMP TABLE ferry_normalise ({}) ON COMMIT DROP", parts.join(", "))).await?;
            target
                .client
                .query(
                    "SELECT 'd', a.attname::text, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum \
                     WHERE d.adrelid = 'pg_temp.ferry_normalise'::regclass \
                     UNION ALL SELECT 'c', conname::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'pg_temp.ferry_normalise'::regclass AND contype = 'c' \
                     UNION ALL SELECT 't', attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
                     WHERE attrelid = 'pg_temp.ferry_normalise'::regclass AND attnum > 0 AND NOT attisdropped",
                    &[],
                )
                .await
                .map_err(TargetError::from)
        }
        .await;
        target.batch("ROLLBACK").await?;
        let Ok(rows) = read else { continue };
        if let Some(ct) = cat.tables.iter_mut().find(|c| c.name == pt.name) {
            for r in rows {
                let (kind, name, expr): (String, String, String) = (r.get(0), r.get(1), r.get(2));
                if kind == "t" {
                    if let Some(c) = ct.columns.iter_mut().find(|c| c.name == name) {
                        c.ty = ferry_target_postgres::catalog::unqualify_type(&expr, &plan.target_schema);
                    }
                } else if kind == "d" {
                    if let Some(c) = ct.columns.iter_mut().find(|c| c.name == name) {
                        c.default = Some(ferry_model::catalog::canonical_default(&expr));
                    }
                } else if let Some(c) = ct.checks.iter_mut().find(|c| c.name == name) {
                    let body = expr.trim_start_matches("CHECK ").trim_end_matches(" NOT VALID");
                    c.expression = ferry_target_postgres::catalog::canonical_check(body);
                }
            }
        }
    }
    Ok(())
}
