//! A PostgreSQL source's own object SQL (views, triggers, policies) with the tables and columns
//! the plan renamed given their target names ([`renamed`]), so a view over a renamed table is
//! made over it and not refused.
//!
//! Guarantees and why:
//! - **Untouched unless a name it uses was renamed.** Definitions are PostgreSQL's own text
//!   (`pg_get_viewdef`, `pg_get_triggerdef`): rewriting one that needs nothing could only lose
//!   something, so the text is parsed and printed again only when it names a renamed table or
//!   column.
//! - **Tables by relation, columns by the tables in the statement.** A relation whose last name
//!   part is a renamed table (unqualified, or qualified by the source schema) takes the target
//!   name; a column reference takes a new name only when every table the statement uses that
//!   has such a column renames it the same way — otherwise it is left, and PostgreSQL's refusal
//!   (with its error) lists the object rather than a guess creating a wrong one.
//! - SQL sqlparser cannot read is kept as written.

use ferry_model::{Schema, TargetNames};
use sqlparser::ast::{visit_expressions_mut, visit_relations_mut, Expr, Ident, ObjectName, ObjectNamePart, SelectItem, SetExpr, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

/// `sql` with renamed tables and columns (see the module note).
pub fn renamed(sql: &str, schema: &Schema, names: &dyn TargetNames) -> String {
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else { return sql.to_string() };
    let tables = tables_used(&statements, schema);
    let renamed_table = |t: &str| names.table(t).is_some_and(|n| n != t);
    // Column name → its one new name across the statement's tables (None: ambiguous).
    let mut columns: HashMap<String, Option<String>> = HashMap::new();
    for t in &tables {
        let Some(table) = schema.table(t) else { continue };
        for c in &table.columns {
            let target = names.column(t, &c.name).map(|c| c.name).unwrap_or_else(|| c.name.clone());
            columns
                .entry(c.name.clone())
                .and_modify(|e| {
                    if e.as_deref() != Some(target.as_str()) {
                        *e = None
                    }
                })
                .or_insert(Some(target));
        }
    }
    columns.retain(|k, v| v.as_deref().is_some_and(|n| n != k));
    if !tables.iter().any(|t| renamed_table(t)) && columns.is_empty() {
        return sql.to_string();
    }
    let rename_relation = |name: &mut ObjectName| {
        let parts: Vec<String> = name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_default()).collect();
        let (qualifier, last) = match parts.as_slice() {
            [t] => (None, t.clone()),
            [q, t] => (Some(q.clone()), t.clone()),
            _ => return,
        };
        if qualifier.as_deref().is_some_and(|q| q != schema.name) || schema.table(&last).is_none() {
            return;
        }
        if let Some(target) = names.table(&last).filter(|n| *n != last) {
            let n = name.0.len();
            name.0[n - 1] = ObjectNamePart::Identifier(Ident::with_quote('"', target));
        }
    };
    for s in statements.iter_mut() {
        // A view keeps its output column names: a renamed column it shows is aliased back.
        if let Statement::CreateView(v) = s {
            keep_output_names(&mut v.query.body, &columns);
        }
        let _ = visit_relations_mut(s, |name| {
            rename_relation(name);
            ControlFlow::<()>::Continue(())
        });
        if let Statement::CreateTrigger(t) = s {
            rename_relation(&mut t.table_name);
        }
        if let Statement::CreatePolicy(p) = s {
            rename_relation(&mut p.table_name);
        }
        let _ = visit_expressions_mut(s, |e| {
            match e {
                Expr::Identifier(i) => {
                    if let Some(Some(n)) = columns.get(&i.value) {
                        *i = Ident::with_quote('"', n.clone());
                    }
                }
                Expr::CompoundIdentifier(parts) => {
                    // `t.c`: the table part is renamed like a relation, the column by the map.
                    let n = parts.len();
                    if n >= 2 {
                        if let Some(Some(c)) = columns.get(&parts[n - 1].value) {
                            parts[n - 1] = Ident::with_quote('"', c.clone());
                        }
                        if let Some(t) = names.table(&parts[n - 2].value).filter(|t| *t != parts[n - 2].value && schema.table(&parts[n - 2].value).is_some()) {
                            parts[n - 2] = Ident::with_quote('"', t);
                        }
                    }
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }
    statements.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(";\n")
}

/// `SELECT t.owner` → `SELECT t.owner AS owner` where `owner` is renamed (the rename then
/// applies to the expression only).
fn keep_output_names(body: &mut SetExpr, columns: &HashMap<String, Option<String>>) {
    match body {
        SetExpr::Select(sel) => {
            for item in sel.projection.iter_mut() {
                let SelectItem::UnnamedExpr(e) = item else { continue };
                let last = match e {
                    Expr::Identifier(i) => i.clone(),
                    Expr::CompoundIdentifier(p) => match p.last() {
                        Some(i) => i.clone(),
                        None => continue,
                    },
                    _ => continue,
                };
                if columns.contains_key(&last.value) {
                    *item = SelectItem::ExprWithAlias { expr: e.clone(), alias: last };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            keep_output_names(left, columns);
            keep_output_names(right, columns);
        }
        SetExpr::Query(q) => keep_output_names(&mut q.body, columns),
        _ => {}
    }
}

/// The source tables a statement names (as relations, or as a trigger's or policy's table).
fn tables_used(statements: &[Statement], schema: &Schema) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |name: &ObjectName| {
        if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
            if schema.table(&last.value).is_some() {
                out.insert(last.value.clone());
            }
        }
    };
    for s in statements {
        let _ = sqlparser::ast::visit_relations(s, |name| {
            add(name);
            ControlFlow::<()>::Continue(())
        });
        match s {
            Statement::CreateTrigger(t) => add(&t.table_name),
            Statement::CreatePolicy(p) => add(&p.table_name),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::{Column, DataType, Table, TargetColumn};

    struct Names;
    impl TargetNames for Names {
        fn schema(&self) -> &str {
            "live"
        }
        fn table(&self, t: &str) -> Option<String> {
            match t {
                "account" => Some("accounts".into()),
                "audit" => Some("audit".into()),
                _ => None,
            }
        }
        fn column(&self, t: &str, c: &str) -> Option<TargetColumn> {
            let name = match (t, c) {
                ("account", "owner") => "owner_name",
                (_, c) => c,
            };
            Some(TargetColumn { name: name.into(), boolean: false })
        }
        fn ident(&self, n: &str) -> String {
            n.into()
        }
        fn ferry_session(&self) -> &str {
            "true"
        }
    }

    fn schema() -> Schema {
        let col = |n: &str| Column::new(n, DataType::Text { max_bytes: 65535 }, "text");
        Schema {
            name: "app".into(),
            tables: vec![
                Table { name: "account".into(), columns: vec![col("id"), col("owner")], ..Default::default() },
                Table { name: "audit".into(), columns: vec![col("id"), col("what")], ..Default::default() },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn a_view_over_a_renamed_table_names_it_and_its_renamed_columns() {
        let sql = "CREATE VIEW v AS SELECT a.id, a.owner FROM account a WHERE owner <> 'x'";
        assert_eq!(
            renamed(sql, &schema(), &Names),
            "CREATE VIEW v AS SELECT a.id, a.\"owner_name\" AS owner FROM \"accounts\" a WHERE \"owner_name\" <> 'x'",
            "the view still shows `owner`"
        );
        let trigger = "CREATE TRIGGER t AFTER INSERT ON app.account FOR EACH ROW EXECUTE FUNCTION f()";
        assert!(renamed(trigger, &schema(), &Names).contains("ON app.\"accounts\""));
    }

    #[test]
    fn sql_that_names_nothing_renamed_is_kept_as_written() {
        let sql = "CREATE VIEW w AS SELECT id ,  what FROM audit";
        assert_eq!(renamed(sql, &schema(), &Names), sql);
        assert_eq!(
            renamed("CREATE RULE r AS ON DELETE TO account DO INSTEAD NOTHING", &schema(), &Names),
            "CREATE RULE r AS ON DELETE TO account DO INSTEAD NOTHING",
            "unreadable: kept"
        );
    }
}
