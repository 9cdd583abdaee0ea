//! `ferry diff A B`: what B lacks (Missing), what B has that A does not (Unexpected), and what
//! both have but differently (Changed) — tables, columns (type, nullability, default, identity),
//! primary keys, unique constraints, foreign keys, checks, indexes, views, sequences and enum types
//! — and the SQL that turns B into A.
//!
//! Guarantees and why:
//! - **No noise from generated names.** Constraints and indexes are matched by what they are
//!   (columns, referenced table and columns, expression, method), not by name: `PK_Album` and
//!   `album_pkey` are the same key. `--strict-names` reports a name that differs as a change.
//! - **Canonical values.** Both catalogs arrive in the canonical forms of
//!   [`ferry_model::catalog`] (types as PostgreSQL prints them, defaults without literal casts,
//!   unique indexes and unique constraints alike), so equal schemas compare equal whatever wrote
//!   them.
//! - **The fix-up script converges.** [`SchemaDiff::fixup_sql`] creates and alters first, in
//!   dependency order (enum types, tables, columns, keys, indexes, checks, then foreign keys once
//!   every key they reference exists, then views), and drops last, only with `allow_drop`;
//!   running it on B and diffing again yields no differences (tested on Sakila and Chinook).

use ferry_model::catalog::*;
use ferry_target_postgres::ident::{quote_ident, quote_literal};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Constraint and index names must match too.
    pub strict_names: bool,
}

/// One object present on one side only.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Item {
    pub kind: &'static str,
    /// The table it belongs to (columns, keys, indexes…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub name: String,
    /// What it is, in one line (`character varying(40) NOT NULL`, `(artist_id) → artist (artist_id)`).
    pub definition: String,
}

/// One property of an object both sides have, with each side's value.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub name: String,
    pub property: &'static str,
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub engine: String,
    pub schema: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SchemaDiff {
    pub a: Side,
    pub b: Side,
    /// In A, not in B.
    pub missing: Vec<Item>,
    /// In B, not in A.
    pub unexpected: Vec<Item>,
    pub changed: Vec<Change>,
    /// Comparisons skipped, and why (e.g. view definitions across engines).
    pub notes: Vec<String>,
}

impl SchemaDiff {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.changed.is_empty()
    }

    /// Liquibase-shaped text report.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "A (reference): {} `{}`", self.a.engine, self.a.schema);
        let _ = writeln!(s, "B (compared):  {} `{}`", self.b.engine, self.b.schema);
        let obj = |kind: &str, table: &Option<String>, name: &str| match table {
            Some(t) => format!("{kind} {t}.{name}"),
            None => format!("{kind} {name}"),
        };
        for (title, items) in [("Missing (in A, not in B)", &self.missing), ("Unexpected (in B, not in A)", &self.unexpected)] {
            let _ = writeln!(s, "\n{title}: {}", if items.is_empty() { "none".to_string() } else { items.len().to_string() });
            for i in items {
                let _ = writeln!(s, "  {}  {}", obj(i.kind, &i.table, &i.name), i.definition);
            }
        }
        let _ = writeln!(s, "\nChanged: {}", if self.changed.is_empty() { "none".to_string() } else { self.changed.len().to_string() });
        for c in &self.changed {
            let _ = writeln!(s, "  {} {}: A {} | B {}", obj(c.kind, &c.table, &c.name), c.property, c.a, c.b);
        }
        for n in &self.notes {
            let _ = writeln!(s, "\nnote: {n}");
        }
        let _ = writeln!(
            s,
            "\n{}",
            if self.is_empty() {
                "No differences.".to_string()
            } else {
                format!("{} difference(s).", self.missing.len() + self.unexpected.len() + self.changed.len())
            }
        );
        s
    }
}

fn cols(c: &[String]) -> String {
    format!("({})", c.join(", "))
}

fn column_definition(c: &CatalogColumn) -> String {
    let mut s = c.ty.clone();
    if c.identity {
        s.push_str(" identity");
    }
    if let Some(d) = &c.default {
        let _ = write!(s, " DEFAULT {d}");
    }
    if !c.nullable {
        s.push_str(" NOT NULL");
    }
    s
}

fn fk_definition(f: &CatalogForeignKey) -> String {
    format!("{} → {} {} ON DELETE {} ON UPDATE {}", cols(&f.columns), f.ref_table, cols(&f.ref_columns), f.on_delete, f.on_update)
}

fn index_definition(i: &CatalogIndex) -> String {
    let mut s = format!("{}{} {}", if i.unique { "unique " } else { "" }, i.method, cols(&i.columns));
    if let Some(p) = &i.predicate {
        let _ = write!(s, " WHERE {p}");
    }
    s
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// Compares A (the reference) with B.
pub fn diff(a: &Catalog, b: &Catalog, opts: &DiffOptions) -> SchemaDiff {
    let mut d = SchemaDiff {
        a: Side { engine: a.engine.clone(), schema: a.schema.clone() },
        b: Side { engine: b.engine.clone(), schema: b.schema.clone() },
        missing: vec![],
        unexpected: vec![],
        changed: vec![],
        notes: vec![],
    };
    let cross_engine = a.engine != b.engine;
    for ta in &a.tables {
        match b.table(&ta.name) {
            None => d.missing.push(Item { kind: "table", table: None, name: ta.name.clone(), definition: format!("{} columns", ta.columns.len()) }),
            Some(tb) => table(&mut d, ta, tb, opts),
        }
    }
    for tb in &b.tables {
        if a.table(&tb.name).is_none() {
            d.unexpected.push(Item { kind: "table", table: None, name: tb.name.clone(), definition: format!("{} columns", tb.columns.len()) });
        }
    }
    for va in &a.views {
        match b.views.iter().find(|v| v.name == va.name) {
            None => d.missing.push(Item { kind: "view", table: None, name: va.name.clone(), definition: String::new() }),
            Some(vb) if !cross_engine && !va.definition.is_empty() && va.definition != vb.definition => d.changed.push(Change {
                kind: "view",
                table: None,
                name: va.name.clone(),
                property: "definition",
                a: va.definition.clone(),
                b: vb.definition.clone(),
            }),
            Some(_) => {}
        }
    }
    for vb in &b.views {
        if !a.views.iter().any(|v| v.name == vb.name) {
            d.unexpected.push(Item { kind: "view", table: None, name: vb.name.clone(), definition: String::new() });
        }
    }
    if cross_engine && !a.views.is_empty() {
        d.notes.push(format!("view definitions are not compared across engines ({} vs {}): only their presence", a.engine, b.engine));
    }
    for s in &a.sequences {
        if !b.sequences.contains(s) {
            d.missing.push(Item { kind: "sequence", table: None, name: s.clone(), definition: String::new() });
        }
    }
    for s in &b.sequences {
        if !a.sequences.contains(s) {
            d.unexpected.push(Item { kind: "sequence", table: None, name: s.clone(), definition: String::new() });
        }
    }
    for ea in &a.enums {
        match b.enums.iter().find(|e| e.name == ea.name) {
            None => d.missing.push(Item { kind: "enum", table: None, name: ea.name.clone(), definition: ea.values.join(", ") }),
            Some(eb) if eb.values != ea.values => d.changed.push(Change {
                kind: "enum",
                table: None,
                name: ea.name.clone(),
                property: "values",
                a: ea.values.join(", "),
                b: eb.values.join(", "),
            }),
            Some(_) => {}
        }
    }
    for eb in &b.enums {
        if !a.enums.iter().any(|e| e.name == eb.name) {
            d.unexpected.push(Item { kind: "enum", table: None, name: eb.name.clone(), definition: eb.values.join(", ") });
        }
    }
    d
}

fn table(d: &mut SchemaDiff, ta: &CatalogTable, tb: &CatalogTable, opts: &DiffOptions) {
    let t = Some(ta.name.clone());
    for ca in &ta.columns {
        match tb.column(&ca.name) {
            None => d.missing.push(Item { kind: "column", table: t.clone(), name: ca.name.clone(), definition: column_definition(ca) }),
            Some(cb) => {
                let mut change =
                    |property, a: String, b: String| d.changed.push(Change { kind: "column", table: t.clone(), name: ca.name.clone(), property, a, b });
                if ca.ty != cb.ty {
                    change("type", ca.ty.clone(), cb.ty.clone());
                }
                if ca.nullable != cb.nullable {
                    let n = |x: bool| if x { "NULL" } else { "NOT NULL" }.to_string();
                    change("nullability", n(ca.nullable), n(cb.nullable));
                }
                if ca.identity != cb.identity {
                    let n = |x: bool| if x { "identity" } else { "not identity" }.to_string();
                    change("identity", n(ca.identity), n(cb.identity));
                }
                if ca.default != cb.default && !(ca.identity && cb.identity) {
                    let n = |x: &Option<String>| x.clone().unwrap_or_else(|| "(none)".into());
                    change("default", n(&ca.default), n(&cb.default));
                }
            }
        }
    }
    for cb in &tb.columns {
        if ta.column(&cb.name).is_none() {
            d.unexpected.push(Item { kind: "column", table: t.clone(), name: cb.name.clone(), definition: column_definition(cb) });
        }
    }
    match (&ta.primary_key, &tb.primary_key) {
        (Some(pa), None) => d.missing.push(Item { kind: "primary key", table: t.clone(), name: pa.name.clone(), definition: cols(&pa.columns) }),
        (None, Some(pb)) => d.unexpected.push(Item { kind: "primary key", table: t.clone(), name: pb.name.clone(), definition: cols(&pb.columns) }),
        (Some(pa), Some(pb)) => {
            if pa.columns != pb.columns {
                d.changed.push(Change {
                    kind: "primary key",
                    table: t.clone(),
                    name: pa.name.clone(),
                    property: "columns",
                    a: cols(&pa.columns),
                    b: cols(&pb.columns),
                });
            }
            if opts.strict_names && pa.name != pb.name {
                d.changed.push(Change {
                    kind: "primary key",
                    table: t.clone(),
                    name: pa.name.clone(),
                    property: "name",
                    a: pa.name.clone(),
                    b: pb.name.clone(),
                });
            }
        }
        (None, None) => {}
    }
    // Unique constraints: by column set.
    matched(d, &t, "unique", &ta.uniques, &tb.uniques, |x, y| sorted(&x.columns) == sorted(&y.columns), |x| cols(&x.columns), |x| &x.name, |_, _| vec![], opts);
    matched(
        d,
        &t,
        "foreign key",
        &ta.foreign_keys,
        &tb.foreign_keys,
        |x, y| x.columns == y.columns && x.ref_table == y.ref_table && x.ref_columns == y.ref_columns,
        fk_definition,
        |x| &x.name,
        |x, y| {
            let mut v = vec![];
            if x.on_delete != y.on_delete {
                v.push(("on delete", x.on_delete.clone(), y.on_delete.clone()));
            }
            if x.on_update != y.on_update {
                v.push(("on update", x.on_update.clone(), y.on_update.clone()));
            }
            v
        },
        opts,
    );
    matched(
        d,
        &t,
        "check",
        &ta.checks,
        &tb.checks,
        |x, y| loose_expression(&x.expression) == loose_expression(&y.expression),
        |x| x.expression.clone(),
        |x| &x.name,
        |_, _| vec![],
        opts,
    );
    matched(
        d,
        &t,
        "index",
        &ta.indexes,
        &tb.indexes,
        |x, y| {
            let parts = |i: &CatalogIndex| i.columns.iter().map(|c| loose_expression(c)).collect::<Vec<_>>();
            parts(x) == parts(y)
                && x.unique == y.unique
                && x.method == y.method
                && x.predicate.as_deref().map(loose_expression) == y.predicate.as_deref().map(loose_expression)
        },
        index_definition,
        |x| &x.name,
        |_, _| vec![],
        opts,
    );
}

/// Pairs objects by content (`same`), reports the unpaired, and for pairs the properties
/// `props` finds different (plus the name under `strict_names`).
#[allow(clippy::too_many_arguments)]
fn matched<T>(
    d: &mut SchemaDiff,
    table: &Option<String>,
    kind: &'static str,
    a: &[T],
    b: &[T],
    same: impl Fn(&T, &T) -> bool,
    definition: impl Fn(&T) -> String,
    name: impl Fn(&T) -> &String,
    props: impl Fn(&T, &T) -> Vec<(&'static str, String, String)>,
    opts: &DiffOptions,
) {
    let mut used = vec![false; b.len()];
    for x in a {
        // Prefer the same name among equal contents.
        let pick = (0..b.len()).filter(|&i| !used[i] && same(x, &b[i])).min_by_key(|&i| name(&b[i]) != name(x));
        match pick {
            None => d.missing.push(Item { kind, table: table.clone(), name: name(x).clone(), definition: definition(x) }),
            Some(i) => {
                used[i] = true;
                for (property, va, vb) in props(x, &b[i]) {
                    d.changed.push(Change { kind, table: table.clone(), name: name(x).clone(), property, a: va, b: vb });
                }
                if opts.strict_names && name(x) != name(&b[i]) {
                    d.changed.push(Change { kind, table: table.clone(), name: name(x).clone(), property: "name", a: name(x).clone(), b: name(&b[i]).clone() });
                }
            }
        }
    }
    for (i, y) in b.iter().enumerate() {
        if !used[i] {
            d.unexpected.push(Item { kind, table: table.clone(), name: name(y).clone(), definition: definition(y) });
        }
    }
}

mod fixup;
pub use fixup::FixupError;

/// What `expected` (a plan's catalog) promised that `actual` (the live target) lacks or holds
/// differently: missing tables, columns, keys, foreign keys, checks, indexes, enum types and
/// sequences, and changed types, nullability, defaults, key columns and definitions — one line
/// each, for `migrate` (its OK needs none) and `verify` (EQUAL needs none). Names are compared
/// as `diff` does (generated names ignored), views only where ferry creates them (converted
/// ones and a PostgreSQL source's own; their text is not compared), and
/// what the target has beyond the plan is not a broken promise.
pub fn unmet(expected: &Catalog, actual: &Catalog) -> Vec<String> {
    let d = diff(expected, actual, &DiffOptions::default());
    let obj = |kind: &str, table: &Option<String>, name: &str| match table {
        Some(t) => format!("{kind} {t}.{name}"),
        None => format!("{kind} {name}"),
    };
    let mut out: Vec<String> = d
        .missing
        .iter()
        .filter(|m| m.kind != "view" || expected.views.iter().any(|v| v.name == m.name && v.promised))
        .map(|m| format!("missing {}{}", obj(m.kind, &m.table, &m.name), if m.definition.is_empty() { String::new() } else { format!(" ({})", m.definition) }))
        .collect();
    out.extend(
        d.changed
            .iter()
            .filter(|c| c.kind != "view" && c.property != "name")
            .map(|c| format!("{} {}: planned {} | found {}", obj(c.kind, &c.table, &c.name), c.property, c.a, c.b)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pk_name: &str, fk_name: &str, on_delete: &str) -> CatalogTable {
        CatalogTable {
            name: "track".into(),
            columns: vec![
                CatalogColumn { name: "id".into(), ty: "integer".into(), nullable: false, default: None, identity: true },
                CatalogColumn { name: "album_id".into(), ty: "integer".into(), nullable: true, default: None, identity: false },
            ],
            primary_key: Some(Constraint { name: pk_name.into(), columns: vec!["id".into()] }),
            foreign_keys: vec![CatalogForeignKey {
                name: fk_name.into(),
                columns: vec!["album_id".into()],
                ref_table: "album".into(),
                ref_columns: vec!["id".into()],
                on_delete: on_delete.into(),
                on_update: "NO ACTION".into(),
            }],
            indexes: vec![CatalogIndex {
                name: "ix".into(),
                columns: vec!["lower((name)::text)".into()],
                unique: false,
                method: "btree".into(),
                predicate: None,
            }],
            ..Default::default()
        }
    }

    fn cat(t: CatalogTable, engine: &str) -> Catalog {
        Catalog { engine: engine.into(), schema: "s".into(), tables: vec![t], ..Default::default() }
    }

    #[test]
    fn generated_names_are_no_difference_unless_strict() {
        let mut other = table("track_pkey", "track_album_id_fkey", "NO ACTION");
        other.indexes[0].name = "track_lower_idx".into();
        other.indexes[0].columns = vec!["lower(name)".into()];
        let (a, b) = (cat(table("PK_Track", "FK_TrackAlbumId", "NO ACTION"), "postgresql"), cat(other, "postgresql"));
        assert!(diff(&a, &b, &DiffOptions::default()).is_empty());
        let strict = diff(&a, &b, &DiffOptions { strict_names: true });
        let props: Vec<(&str, &str)> = strict.changed.iter().map(|c| (c.kind, c.property)).collect();
        assert_eq!(props, [("primary key", "name"), ("foreign key", "name"), ("index", "name")]);
        let sql = strict.fixup_sql(&a, &b, false).unwrap();
        assert!(sql.contains("ALTER TABLE \"s\".\"track\" RENAME CONSTRAINT \"track_pkey\" TO \"PK_Track\""), "{sql}");
        assert!(sql.contains("ALTER INDEX \"s\".\"track_lower_idx\" RENAME TO \"ix\""), "{sql}");
    }

    #[test]
    fn a_changed_foreign_key_action_is_dropped_and_added_again() {
        let (a, b) = (cat(table("p", "f", "CASCADE"), "postgresql"), cat(table("p", "g", "NO ACTION"), "postgresql"));
        let d = diff(&a, &b, &DiffOptions::default());
        assert_eq!(d.changed.len(), 1);
        assert_eq!((d.changed[0].property, d.changed[0].a.as_str(), d.changed[0].b.as_str()), ("on delete", "CASCADE", "NO ACTION"));
        let sql = d.fixup_sql(&a, &b, false).unwrap();
        assert!(sql.contains("DROP CONSTRAINT \"g\";\nALTER TABLE \"s\".\"track\" ADD CONSTRAINT \"f\" FOREIGN KEY (\"album_id\")"), "{sql}");
        let mysql = cat(table("p", "f", "CASCADE"), "mysql");
        assert!(d.fixup_sql(&a, &mysql, false).is_err(), "the script is for a PostgreSQL B");
    }
}
