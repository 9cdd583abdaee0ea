//! The canonical [`Catalog`] of a plan (the MySQL schema as ferry would create it in
//! PostgreSQL: what `ferry diff mysql://… postgres://…` compares against the live target) and of
//! a MySQL schema as it is (for MySQL-to-MySQL diffs and ERDs of a source).

use crate::Plan;
use ferry_model::catalog::*;
use ferry_model::{DefaultValue, Schema};
use ferry_target_postgres::catalog::{canonical_check, index_part, unqualify_type};

/// The plan's target tables, enums and (as names only) the source's views.
pub fn from_plan(plan: &Plan) -> Catalog {
    let schema = &plan.target_schema;
    // The source's product (`MariaDB`, `SQL Server`, `SQLite`) as the plan converted it.
    let product = plan.assessment.source_server.split_whitespace().next().filter(|p| !p.is_empty()).unwrap_or("source").to_ascii_lowercase();
    let product = match product.as_str() {
        "sql" => "sql server".to_string(),
        "mariadb" | "mysql" => "mysql".to_string(),
        _ => product,
    };
    let mut cat = Catalog { engine: format!("{product} as postgresql"), schema: plan.source_database.clone(), ..Default::default() };
    for tp in &plan.tables {
        let t = &tp.target;
        let mut ct = CatalogTable { name: t.name.clone(), comment: t.comment.clone(), ..Default::default() };
        for c in &t.columns {
            ct.columns.push(CatalogColumn {
                name: c.name.clone(),
                // A type rule's spelling (`varchar(10)`) as PostgreSQL prints it back.
                ty: unqualify_type(
                    &match &c.ty {
                        ferry_target_postgres::ddl::PgType::Custom(s) => {
                            ferry_target_postgres::ddl::PgType::parse_known(s).map(|t| t.to_string()).unwrap_or_else(|| s.clone())
                        }
                        t => t.to_string(),
                    },
                    schema,
                ),
                nullable: c.nullable,
                default: if c.identity { None } else { c.default.as_deref().map(canonical_default) },
                identity: c.identity,
            });
        }
        for g in &t.generated {
            ct.columns.push(CatalogColumn {
                name: g.name.clone(),
                ty: unqualify_type(&g.ty, schema),
                nullable: true,
                default: Some(canonical_default(&g.expression)),
                identity: false,
            });
        }
        ct.primary_key = t.primary_key.as_ref().map(|k| Constraint { name: k.name.clone(), columns: k.columns.clone() });
        for ix in &t.indexes {
            let columns: Vec<String> = ix.elements.iter().map(|e| index_part(e.trim_end_matches(" DESC"))).collect();
            let plain = ix.elements.iter().all(|e| !e.starts_with('('));
            if ix.unique && plain && ix.predicate.is_none() {
                ct.uniques.push(Constraint { name: ix.name.clone(), columns });
            } else {
                ct.indexes.push(CatalogIndex { name: ix.name.clone(), columns, unique: ix.unique, method: ix.method.clone(), predicate: ix.predicate.clone() });
            }
        }
        for fk in &t.foreign_keys {
            ct.foreign_keys.push(CatalogForeignKey {
                name: fk.name.clone(),
                columns: fk.columns.clone(),
                ref_table: fk.ref_table.clone(),
                ref_columns: fk.ref_columns.clone(),
                on_delete: fk.on_delete.clone(),
                on_update: fk.on_update.clone(),
            });
        }
        for ch in &t.checks {
            ct.checks.push(CatalogCheck { name: ch.name.clone(), expression: canonical_check(&ch.expression) });
        }
        cat.tables.push(ct);
    }
    for e in &plan.enums {
        cat.enums.push(CatalogEnum { name: e.name.clone(), values: e.values.clone() });
    }
    cat.sequences = plan.sequences.iter().map(|q| q.name().to_string()).collect();
    cat.sequences.sort();
    for o in &plan.inputs.schema.objects {
        if o.kind == ferry_model::ObjectKind::View {
            // Only its presence compares (PostgreSQL rewrites a view's text as it stores it);
            // a converted view carries its CREATE for a fix-up script.
            let converted = plan.objects.iter().find(|c| c.kind == o.kind && c.name == o.name).filter(|c| !c.statements.is_empty());
            cat.views.push(CatalogView {
                name: converted
                    .and_then(|c| c.view.as_ref())
                    .map(|v| v.target.clone())
                    .unwrap_or_else(|| crate::naming::apply_case(crate::build::identifier_case(&plan.inputs.config, &plan.inputs.schema), &o.name)),
                definition: String::new(),
                create: converted.map(|c| c.statements.join(";\n")),
                promised: converted.is_some() || o.native(&plan.inputs.schema),
            });
        }
    }
    cat.tables.sort_by(|a, b| a.name.cmp(&b.name));
    cat
}

/// A MySQL schema as it is: MySQL's own type spelling, keys, indexes and views.
pub fn from_source(s: &Schema) -> Catalog {
    let mut cat = Catalog { engine: "mysql".into(), schema: s.name.clone(), ..Default::default() };
    for t in &s.tables {
        let mut ct = CatalogTable { name: t.name.clone(), comment: t.comment.clone(), ..Default::default() };
        for c in &t.columns {
            let default = match &c.default {
                None | Some(DefaultValue::Null) => None,
                Some(DefaultValue::Literal(v)) => Some(if v.parse::<f64>().is_ok() { v.clone() } else { format!("'{}'", v.replace('\'', "''")) }),
                Some(DefaultValue::CurrentTimestamp) => Some("current_timestamp".into()),
                Some(DefaultValue::CurrentDate) => Some("current_date".into()),
                Some(DefaultValue::NewUuid) => Some("uuid()".into()),
                Some(DefaultValue::ZeroDate(v)) => Some(format!("'{}'", v.replace('\'', "''"))),
                Some(DefaultValue::Expression(e)) | Some(DefaultValue::Native(e)) => Some(canonical_default(e)),
            };
            ct.columns.push(CatalogColumn {
                name: c.name.clone(),
                ty: c.source_type.to_ascii_lowercase(),
                nullable: c.nullable,
                default: if c.auto_increment { None } else { default },
                identity: c.auto_increment,
            });
        }
        ct.primary_key = t.primary_key.as_ref().map(|k| Constraint { name: k.name.clone(), columns: k.columns.clone() });
        for ix in &t.indexes {
            let columns: Vec<String> = ix
                .columns
                .iter()
                .map(|c| match c.prefix {
                    Some(n) => format!("{}({n})", c.name),
                    None => c.name.clone(),
                })
                .collect();
            let kind = format!("{:?}", ix.kind).to_ascii_lowercase();
            if ix.unique && ix.columns.iter().all(|c| c.prefix.is_none()) {
                ct.uniques.push(Constraint { name: ix.name.clone(), columns });
            } else {
                ct.indexes.push(CatalogIndex { name: ix.name.clone(), columns, unique: ix.unique, method: kind, predicate: None });
            }
        }
        for fk in &t.foreign_keys {
            ct.foreign_keys.push(CatalogForeignKey {
                name: fk.name.clone(),
                columns: fk.columns.clone(),
                ref_table: fk.ref_table.clone(),
                ref_columns: fk.ref_columns.clone(),
                on_delete: fk.on_delete.sql().into(),
                on_update: fk.on_update.sql().into(),
            });
        }
        for ch in &t.checks {
            ct.checks.push(CatalogCheck { name: ch.name.clone(), expression: canonical_check(&ch.expression) });
        }
        cat.tables.push(ct);
    }
    for o in &s.objects {
        if o.kind == ferry_model::ObjectKind::View {
            cat.views.push(CatalogView { name: o.name.clone(), definition: canonical_expression(&o.sql), create: None, promised: false });
        }
    }
    cat.tables.sort_by(|a, b| a.name.cmp(&b.name));
    cat
}
