//! Turning one rendered table into another in place: the statements sync runs when the source
//! changes a table's shape (and that a schema diff can print as a fix-up script).
//!
//! Guarantees and why:
//! - **Data is kept.** A column the source renamed is renamed (never dropped and added), a
//!   changed type is converted in place (`ALTER COLUMN … TYPE … USING`), an enum type gains its new
//!   labels with `ALTER TYPE … ADD VALUE`; only columns the source dropped are dropped.
//! - **Existing rows get what the source gave them.** An added `NOT NULL` column without a
//!   default is filled with MySQL's implicit default (0, '', the first enum label) the way the
//!   source filled it, then the default is removed again; a column added with a default gets it
//!   on every existing row on both sides.
//! - **What cannot be done in place is refused, not approximated**: a changed primary key, enum
//!   labels removed or reordered, an identity column added to a table that has rows (the target
//!   cannot number them in the source's order). The caller stops the table with the reason.
//! - Indexes are compared by definition, not by name: an index whose definition is unchanged is
//!   kept (renamed if its generated name changed with the table's); a changed one is rebuilt.

use crate::ddl::{PgEnum, PgTable, PgType};
use crate::ident::{qualified, quote_ident, quote_literal};

/// Statements that make `old` (as it is in the target) into `new`. `renamed`: columns the source
/// renamed, as (old target name, new target name). `old_enums` / `new_enums`: the enum types of
/// the old and new plans (only those of this table's columns are touched). Types change through
/// text (`USING c::text::new`), the one cast every pair of mapped types has.
pub fn alter_table_sql(old: &PgTable, new: &PgTable, renamed: &[(String, String)], old_enums: &[PgEnum], new_enums: &[PgEnum]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let t = new.qualified();
    if old.name != new.name {
        out.push(format!("ALTER TABLE {} RENAME TO {}", old.qualified(), quote_ident(&new.name)));
    }
    // The old columns under their names after the renames.
    let mut cols: Vec<crate::ddl::PgColumn> = old.columns.clone();
    for (from, to) in renamed {
        if from == to {
            continue;
        }
        if let Some(c) = cols.iter_mut().find(|c| &c.name == from) {
            out.push(format!("ALTER TABLE {t} RENAME COLUMN {} TO {}", quote_ident(from), quote_ident(to)));
            c.name = to.clone();
        }
    }
    // The primary key must be the same columns (its name may follow the table's).
    let rename = |n: &String| renamed.iter().find(|(f, _)| f == n).map(|(_, to)| to.clone()).unwrap_or_else(|| n.clone());
    let old_pk: Option<Vec<String>> = old.primary_key.as_ref().map(|k| k.columns.iter().map(rename).collect());
    let new_pk: Option<Vec<String>> = new.primary_key.as_ref().map(|k| k.columns.clone());
    if old_pk != new_pk {
        return Err(format!(
            "the primary key changed ({} → {}): sync applies rows by their key",
            old_pk.map(|k| k.join(", ")).unwrap_or_else(|| "none".into()),
            new_pk.map(|k| k.join(", ")).unwrap_or_else(|| "none".into())
        ));
    }
    if let (Some(o), Some(n)) = (&old.primary_key, &new.primary_key) {
        if o.name != n.name {
            out.push(format!("ALTER TABLE {t} RENAME CONSTRAINT {} TO {}", quote_ident(&o.name), quote_ident(&n.name)));
        }
    }
    // Enum types new columns or new types need, before the columns use them.
    let enum_of = |ty: &PgType, enums: &[PgEnum]| -> Option<PgEnum> {
        match ty {
            PgType::Named { name, .. } => enums.iter().find(|e| &e.name == name).cloned(),
            _ => None,
        }
    };
    for c in &new.columns {
        let Some(ne) = enum_of(&c.ty, new_enums) else { continue };
        match old_enums.iter().find(|e| e.name == ne.name) {
            None => out.push(ne.create_sql()),
            Some(oe) if oe.values != ne.values => {
                if oe.values.iter().any(|v| !ne.values.contains(v)) {
                    return Err(format!("enum labels of column {} were removed: PostgreSQL cannot drop enum labels in place", c.name));
                }
                // New labels go where the source put them (BEFORE the next existing one).
                for (i, v) in ne.values.iter().enumerate() {
                    if oe.values.contains(v) {
                        continue;
                    }
                    let place = ne.values[i + 1..].iter().find(|n| oe.values.contains(n)).map(|n| format!(" BEFORE {}", quote_literal(n))).unwrap_or_default();
                    out.push(format!("ALTER TYPE {} ADD VALUE IF NOT EXISTS {}{place}", qualified(&ne.schema, &ne.name), quote_literal(v)));
                }
                let kept: Vec<&String> = ne.values.iter().filter(|v| oe.values.contains(v)).collect();
                if kept.iter().map(|s| s.as_str()).ne(oe.values.iter().map(|s| s.as_str())) {
                    return Err(format!("enum labels of column {} were reordered: PostgreSQL cannot reorder enum labels in place", c.name));
                }
            }
            Some(_) => {}
        }
    }
    // Dropped columns.
    for c in &cols {
        if !new.columns.iter().any(|n| n.name == c.name) {
            out.push(format!("ALTER TABLE {t} DROP COLUMN {}", quote_ident(&c.name)));
        }
    }
    // Added and changed columns.
    for n in &new.columns {
        let q = quote_ident(&n.name);
        match cols.iter().find(|c| c.name == n.name) {
            None => {
                let mut s = format!("ALTER TABLE {t} ADD COLUMN {q} {}", n.ty);
                if n.identity {
                    return Err(format!(
                        "column {} was added as AUTO_INCREMENT: the source numbered existing rows in its own order, which the target cannot reproduce",
                        n.name
                    ));
                }
                match (&n.default, n.nullable) {
                    (Some(d), _) => s.push_str(&format!(" DEFAULT {d}")),
                    (None, false) => {
                        if let Some(fill) = implicit_default(&n.ty, enum_of(&n.ty, new_enums).as_ref()) {
                            s.push_str(&format!(" DEFAULT {fill}"));
                            out.push(format!("{s} NOT NULL"));
                            out.push(format!("ALTER TABLE {t} ALTER COLUMN {q} DROP DEFAULT"));
                            continue;
                        }
                    }
                    _ => {}
                }
                if !n.nullable {
                    s.push_str(" NOT NULL");
                }
                out.push(s);
            }
            Some(o) => {
                if o.ty != n.ty {
                    out.push(format!("ALTER TABLE {t} ALTER COLUMN {q} TYPE {} USING {q}::text::{}", n.ty, n.ty));
                }
                if o.identity != n.identity {
                    out.push(if n.identity {
                        format!("ALTER TABLE {t} ALTER COLUMN {q} ADD GENERATED BY DEFAULT AS IDENTITY")
                    } else {
                        format!("ALTER TABLE {t} ALTER COLUMN {q} DROP IDENTITY IF EXISTS")
                    });
                }
                if o.default != n.default && !n.identity {
                    out.push(match &n.default {
                        Some(d) => format!("ALTER TABLE {t} ALTER COLUMN {q} SET DEFAULT {d}"),
                        None => format!("ALTER TABLE {t} ALTER COLUMN {q} DROP DEFAULT"),
                    });
                }
                if o.nullable != n.nullable {
                    out.push(format!("ALTER TABLE {t} ALTER COLUMN {q} {} NOT NULL", if n.nullable { "DROP" } else { "SET" }));
                }
            }
        }
        let old_comment = cols.iter().find(|c| c.name == n.name).and_then(|c| c.comment.clone());
        if old_comment != n.comment {
            out.push(format!("COMMENT ON COLUMN {t}.{q} IS {}", n.comment.as_deref().map(quote_literal).unwrap_or_else(|| "NULL".into())));
        }
    }
    // Indexes, by definition (elements after renames, uniqueness, method).
    let renamed_elements = |ix: &crate::ddl::PgIndex| -> Vec<String> {
        ix.elements
            .iter()
            .map(|e| {
                let mut e = e.clone();
                for (from, to) in renamed {
                    e = e.replace(&quote_ident(from), &quote_ident(to));
                }
                e
            })
            .collect()
    };
    let mut unmatched_new: Vec<&crate::ddl::PgIndex> = new.indexes.iter().collect();
    for o in &old.indexes {
        let elements = renamed_elements(o);
        // A dropped column takes its indexes with it in PostgreSQL.
        let lost_column =
            cols.iter().filter(|c| !new.columns.iter().any(|n| n.name == c.name)).any(|c| elements.iter().any(|e| e.contains(&quote_ident(&c.name))));
        let same = unmatched_new.iter().position(|n| n.unique == o.unique && n.method == o.method && n.elements == elements && !lost_column);
        match same {
            Some(i) => {
                let n = unmatched_new.remove(i);
                if n.name != o.name {
                    out.push(format!("ALTER INDEX {} RENAME TO {}", qualified(&new.schema, &o.name), quote_ident(&n.name)));
                }
            }
            None if !lost_column => out.push(format!("DROP INDEX IF EXISTS {}", qualified(&new.schema, &o.name))),
            None => {}
        }
    }
    for n in unmatched_new {
        out.push(new.index_sql(n));
    }
    // CHECKs (enum CHECKs follow their labels), by name.
    for o in &old.checks {
        if !new.checks.iter().any(|n| n.name == o.name && n.expression == o.expression) {
            out.push(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}", quote_ident(&o.name)));
        }
    }
    for n in &new.checks {
        if !old.checks.iter().any(|o| o.name == n.name && o.expression == n.expression) {
            out.push(new.check_sql(n));
            if !n.not_valid {
                out.push(new.validate_sql(&n.name));
            }
        }
    }
    // ON UPDATE CURRENT_TIMESTAMP triggers follow the columns and the table's name.
    if old.on_update_now != new.on_update_now || old.name != new.name {
        out.extend(old.drop_on_update_trigger_sql(&t));
        out.extend(new.on_update_trigger_sql());
    }
    if old.comment != new.comment {
        out.push(format!("COMMENT ON TABLE {t} IS {}", new.comment.as_deref().map(quote_literal).unwrap_or_else(|| "NULL".into())));
    }
    Ok(out)
}

/// What MySQL puts in existing rows for a NOT NULL column added without a default.
fn implicit_default(ty: &PgType, en: Option<&PgEnum>) -> Option<String> {
    Some(match ty {
        PgType::Boolean => "false".into(),
        PgType::SmallInt | PgType::Integer | PgType::BigInt | PgType::Numeric(_) | PgType::Real | PgType::Double => "0".into(),
        PgType::Char(_) | PgType::Varchar(_) | PgType::Text => "''".into(),
        PgType::Bytea => "'\\x'::bytea".into(),
        PgType::Named { .. } => quote_literal(en?.values.first()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::{PgCheck, PgColumn, PgIndex, PgKey};

    fn col(name: &str, ty: PgType, nullable: bool) -> PgColumn {
        PgColumn { name: name.into(), ty, nullable, default: None, identity: false, comment: None }
    }

    fn table(name: &str, cols: Vec<PgColumn>) -> PgTable {
        PgTable {
            schema: "s".into(),
            name: name.into(),
            columns: cols,
            primary_key: Some(PgKey { name: format!("{name}_pkey"), columns: vec!["id".into()] }),
            indexes: vec![PgIndex {
                name: format!("{name}_iv"),
                unique: false,
                method: "btree".into(),
                elements: vec!["\"v\"".into()],
                include: vec![],
                predicate: None,
            }],
            foreign_keys: vec![],
            checks: vec![],
            on_update_now: vec![],
            comment: None,
            generated: vec![],
            partition_by: None,
            partitions: vec![],
            key_in_one_step: false,
            citus_table: false,
            ..Default::default()
        }
    }

    #[test]
    fn columns_are_renamed_added_dropped_and_changed_in_place() {
        let old = table("t", vec![col("id", PgType::Integer, false), col("v", PgType::Varchar(Some(20)), true), col("gone", PgType::Text, true)]);
        let mut new = table("t", vec![col("id", PgType::Integer, false), col("w", PgType::Varchar(Some(50)), false), col("n", PgType::Integer, false)]);
        new.indexes[0].elements = vec!["\"w\"".into()];
        let sql = alter_table_sql(&old, &new, &[("v".into(), "w".into())], &[], &[]).unwrap();
        assert_eq!(
            sql,
            [
                r#"ALTER TABLE "s"."t" RENAME COLUMN "v" TO "w""#,
                r#"ALTER TABLE "s"."t" DROP COLUMN "gone""#,
                r#"ALTER TABLE "s"."t" ALTER COLUMN "w" TYPE character varying(50) USING "w"::text::character varying(50)"#,
                r#"ALTER TABLE "s"."t" ALTER COLUMN "w" SET NOT NULL"#,
                r#"ALTER TABLE "s"."t" ADD COLUMN "n" integer DEFAULT 0 NOT NULL"#,
                r#"ALTER TABLE "s"."t" ALTER COLUMN "n" DROP DEFAULT"#,
            ],
            "the index on the renamed column is kept"
        );
    }

    #[test]
    fn a_renamed_table_keeps_its_indexes_under_new_names() {
        let old = table("t", vec![col("id", PgType::Integer, false), col("v", PgType::Text, true)]);
        let new = table("u", vec![col("id", PgType::Integer, false), col("v", PgType::Text, true)]);
        let sql = alter_table_sql(&old, &new, &[], &[], &[]).unwrap();
        assert_eq!(
            sql,
            [
                r#"ALTER TABLE "s"."t" RENAME TO "u""#,
                r#"ALTER TABLE "s"."u" RENAME CONSTRAINT "t_pkey" TO "u_pkey""#,
                r#"ALTER INDEX "s"."t_iv" RENAME TO "u_iv""#,
            ]
        );
    }

    #[test]
    fn enum_labels_are_added_in_place_and_removals_refused() {
        let ty = PgType::Named { schema: "s".into(), name: "t_k".into() };
        let e = |v: &[&str]| vec![PgEnum { schema: "s".into(), name: "t_k".into(), values: v.iter().map(|s| s.to_string()).collect() }];
        let t = table("t", vec![col("id", PgType::Integer, false), col("v", PgType::Text, true), col("k", ty, true)]);
        let sql = alter_table_sql(&t, &t, &[], &e(&["a", "c"]), &e(&["a", "b", "c", "d"])).unwrap();
        assert_eq!(sql, [r#"ALTER TYPE "s"."t_k" ADD VALUE IF NOT EXISTS 'b' BEFORE 'c'"#, r#"ALTER TYPE "s"."t_k" ADD VALUE IF NOT EXISTS 'd'"#]);
        assert!(alter_table_sql(&t, &t, &[], &e(&["a", "c"]), &e(&["a"])).unwrap_err().contains("removed"));
        assert!(alter_table_sql(&t, &t, &[], &e(&["a", "c"]), &e(&["c", "a"])).unwrap_err().contains("reordered"));
    }

    #[test]
    fn key_changes_and_new_identity_columns_are_refused() {
        let old = table("t", vec![col("id", PgType::Integer, false), col("v", PgType::Text, true)]);
        let mut new = old.clone();
        new.primary_key.as_mut().unwrap().columns = vec!["v".into()];
        assert!(alter_table_sql(&old, &new, &[], &[], &[]).unwrap_err().contains("primary key"));
        let mut new = old.clone();
        new.columns.push(PgColumn { identity: true, ..col("seq", PgType::BigInt, false) });
        assert!(alter_table_sql(&old, &new, &[], &[], &[]).unwrap_err().contains("AUTO_INCREMENT"));
        let mut new = old.clone();
        new.checks.push(PgCheck { name: "c".into(), expression: "v <> ''".into(), not_valid: false });
        let sql = alter_table_sql(&old, &new, &[], &[], &[]).unwrap();
        assert!(sql[0].contains("ADD CONSTRAINT \"c\" CHECK") && sql[1].contains("VALIDATE"), "{sql:?}");
    }
}
