//! `ferry erd`: entity-relationship diagrams of chosen tables, as Mermaid `erDiagram` (renders on
//! GitHub), Graphviz DOT, or SVG through the `dot` program.
//!
//! What is drawn and why:
//! - **Tables**: those matching `--tables` (SQL LIKE patterns, `%` any run), plus their
//!   neighbours up to `--depth` relations away (declared or inferred, either direction).
//! - **Relations**: declared foreign keys as solid lines; relations inferred from names (a
//!   column `customer_id` or `CustomerId` in a table without a foreign key on it, and a table
//!   `customer` whose single-column primary key is `customer_id` or `id`) as dashed lines
//!   labelled `inferred`, so a schema without declared keys still shows its shape and nobody
//!   mistakes a guess for a constraint.
//! - **Cardinality**: the parent side is exactly one when every referencing column is NOT NULL,
//!   else zero or one; the child side is zero or one when the referencing columns are unique in
//!   the child (a one-to-one), else zero or many.

use ferry_model::catalog::{Catalog, CatalogTable};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

pub mod report;

#[derive(Debug, Clone)]
pub struct ErdOptions {
    /// LIKE patterns over table names; empty: every table.
    pub tables: Vec<String>,
    /// Neighbours to add, in relations.
    pub depth: usize,
    /// Draw relations inferred from column names.
    pub infer: bool,
}

impl Default for ErdOptions {
    fn default() -> Self {
        ErdOptions { tables: vec![], depth: 0, infer: true }
    }
}

/// One relation: `child.columns` refer to `parent.parent_columns`.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub child: String,
    pub columns: Vec<String>,
    pub parent: String,
    pub parent_columns: Vec<String>,
    pub label: String,
    pub inferred: bool,
    /// Every referencing column is NOT NULL: the parent side is exactly one.
    pub mandatory: bool,
    /// The referencing columns are unique in the child: one-to-one.
    pub one_to_one: bool,
}

/// The tables and relations of a diagram.
#[derive(Debug, Clone)]
pub struct Diagram<'a> {
    pub tables: Vec<&'a CatalogTable>,
    pub relations: Vec<Relation>,
}

pub use ferry_model::like;

/// Every relation of the catalog: declared, then inferred (when `infer`).
pub fn relations(cat: &Catalog, infer: bool) -> Vec<Relation> {
    let mut out = Vec::new();
    for t in &cat.tables {
        let mandatory = |cols: &[String]| cols.iter().all(|c| t.column(c).is_some_and(|c| !c.nullable));
        for f in &t.foreign_keys {
            out.push(Relation {
                child: t.name.clone(),
                columns: f.columns.clone(),
                parent: f.ref_table.clone(),
                parent_columns: f.ref_columns.clone(),
                label: f.name.clone(),
                inferred: false,
                mandatory: mandatory(&f.columns),
                one_to_one: t.is_unique(&f.columns),
            });
        }
    }
    if !infer {
        return out;
    }
    let norm = |s: &str| s.to_lowercase().replace('_', "");
    let by_name: HashMap<String, &CatalogTable> = cat.tables.iter().map(|t| (norm(&t.name), t)).collect();
    for t in &cat.tables {
        for c in &t.columns {
            let n = norm(&c.name);
            let Some(stem) = n.strip_suffix("id").filter(|s| !s.is_empty()) else { continue };
            if t.foreign_keys.iter().any(|f| f.columns.len() == 1 && f.columns[0] == c.name) {
                continue;
            }
            // The table itself (its own key) is not a relation.
            if t.primary_key.as_ref().is_some_and(|k| k.columns.len() == 1 && k.columns[0] == c.name) && norm(&t.name) == stem {
                continue;
            }
            let Some(parent) = by_name.get(stem) else { continue };
            let Some(pk) = parent.primary_key.as_ref().filter(|k| k.columns.len() == 1) else { continue };
            let pkn = norm(&pk.columns[0]);
            if pkn != n && pkn != "id" {
                continue;
            }
            out.push(Relation {
                child: t.name.clone(),
                columns: vec![c.name.clone()],
                parent: parent.name.clone(),
                parent_columns: pk.columns.clone(),
                label: "inferred".into(),
                inferred: true,
                mandatory: !c.nullable,
                one_to_one: t.is_unique(std::slice::from_ref(&c.name)),
            });
        }
    }
    out
}

/// The tables `opts` selects and the relations among them.
pub fn select<'a>(cat: &'a Catalog, opts: &ErdOptions) -> Diagram<'a> {
    let all = relations(cat, opts.infer);
    let mut chosen: BTreeSet<String> =
        cat.tables.iter().filter(|t| opts.tables.is_empty() || opts.tables.iter().any(|p| like(p, &t.name))).map(|t| t.name.clone()).collect();
    for _ in 0..opts.depth {
        let mut next = chosen.clone();
        for r in &all {
            if chosen.contains(&r.child) || chosen.contains(&r.parent) {
                next.insert(r.child.clone());
                next.insert(r.parent.clone());
            }
        }
        if next == chosen {
            break;
        }
        chosen = next;
    }
    let tables: Vec<&CatalogTable> = cat.tables.iter().filter(|t| chosen.contains(&t.name)).collect();
    let relations = all.into_iter().filter(|r| chosen.contains(&r.child) && chosen.contains(&r.parent)).collect();
    Diagram { tables, relations }
}

fn entity(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// A type in Mermaid's attribute-type alphabet (letters, digits, `_-()[]`).
fn mermaid_type(ty: &str) -> String {
    let short = ty
        .replace("character varying", "varchar")
        .replace("timestamp without time zone", "timestamp")
        .replace("timestamp with time zone", "timestamptz")
        .replace("time without time zone", "time")
        .replace("double precision", "double")
        .replace("character(", "char(");
    let short = match short.split_once(") without time zone") {
        Some((a, _)) => format!("{a})"),
        None => short,
    };
    short
}

/// The type slot and, when the type does not fit Mermaid's alphabet (`numeric(18,2)`, a schema-
/// qualified name), the exact type for the comment: never a mangled type name.
fn mermaid_type_parts(ty: &str) -> (String, Option<String>) {
    let short = mermaid_type(ty);
    let fits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-()[]".contains(c));
    if fits(&short) {
        return (short, None);
    }
    let base: String = short.split('(').next().unwrap_or_default().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    (if base.is_empty() { "type".into() } else { base }, Some(short))
}

impl Diagram<'_> {
    fn key_marks(t: &CatalogTable, column: &str) -> Vec<&'static str> {
        let mut m = vec![];
        if t.primary_key.as_ref().is_some_and(|k| k.columns.iter().any(|c| c == column)) {
            m.push("PK");
        }
        if t.foreign_keys.iter().any(|f| f.columns.iter().any(|c| c == column)) {
            m.push("FK");
        }
        if t.uniques.iter().any(|u| u.columns.len() == 1 && u.columns[0] == column) {
            m.push("UK");
        }
        m
    }

    /// Mermaid `erDiagram`.
    pub fn mermaid(&self) -> String {
        let mut s = String::from("erDiagram\n");
        for t in &self.tables {
            let _ = writeln!(s, "    {} {{", entity(&t.name));
            for c in &t.columns {
                let marks = Self::key_marks(t, &c.name);
                let (ty, exact) = mermaid_type_parts(&c.ty);
                let _ = write!(s, "        {ty} {}", entity(&c.name));
                if !marks.is_empty() {
                    let _ = write!(s, " {}", marks.join(","));
                }
                let comment: Vec<String> = exact.into_iter().chain((!c.nullable).then(|| "NOT NULL".to_string())).collect();
                if !comment.is_empty() {
                    let _ = write!(s, " \"{}\"", comment.join(", ").replace('"', "'"));
                }
                s.push('\n');
            }
            s.push_str("    }\n");
        }
        for r in &self.relations {
            let parent = if r.mandatory { "||" } else { "|o" };
            let child = if r.one_to_one { "o|" } else { "o{" };
            let line = if r.inferred { ".." } else { "--" };
            let label = if r.inferred { format!("inferred: {}", r.columns.join(", ")) } else { r.columns.join(", ") };
            let _ = writeln!(s, "    {} {parent}{line}{child} {} : \"{}\"", entity(&r.parent), entity(&r.child), label.replace('"', "'"));
        }
        s
    }

    /// Graphviz DOT: tables as HTML-like labels, relations from child to parent.
    pub fn dot(&self) -> String {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let mut s = String::from(
            "digraph erd {\n    graph [rankdir=LR, fontname=\"Helvetica\", bgcolor=\"white\"];\n    node [shape=plain, fontname=\"Helvetica\", fontsize=10];\n    edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n",
        );
        for t in &self.tables {
            let _ = write!(
                s,
                "    \"{}\" [label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\" cellpadding=\"4\"><tr><td bgcolor=\"#2f6fb3\" colspan=\"3\"><font color=\"white\"><b>{}</b></font></td></tr>",
                esc(&t.name),
                esc(&t.name)
            );
            for c in &t.columns {
                let marks = Self::key_marks(t, &c.name).join(" ");
                let name = if t.primary_key.as_ref().is_some_and(|k| k.columns.contains(&c.name)) { format!("<u>{}</u>", esc(&c.name)) } else { esc(&c.name) };
                let _ = write!(
                    s,
                    "<tr><td align=\"left\" port=\"{}\">{name}</td><td align=\"left\">{}{}</td><td>{}</td></tr>",
                    esc(&c.name),
                    esc(&c.ty),
                    if c.nullable { "" } else { " NOT NULL" },
                    esc(&marks)
                );
            }
            s.push_str("</table>>];\n");
        }
        for r in &self.relations {
            let head = if r.mandatory { "teetee" } else { "teeodot" };
            let tail = if r.one_to_one { "teeodot" } else { "crowodot" };
            let style = if r.inferred { ", style=dashed, label=\"inferred\"" } else { "" };
            let _ = writeln!(
                s,
                "    \"{}\" -> \"{}\" [dir=both, arrowhead={head}, arrowtail={tail}, tooltip=\"{} ({}) → {} ({})\"{style}];",
                esc(&r.child),
                esc(&r.parent),
                esc(&r.child),
                esc(&r.columns.join(", ")),
                esc(&r.parent),
                esc(&r.parent_columns.join(", "))
            );
        }
        s.push_str("}\n");
        s
    }
}

/// SVG from DOT through Graphviz `dot`. Err says how to install it when it is missing.
pub fn svg(dot: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|_| "SVG needs Graphviz's `dot` program, which is not installed: apt-get install graphviz (or use --format mermaid or dot)".to_string())?;
    child.stdin.take().unwrap().write_all(dot.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("dot failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::catalog::*;

    fn col(name: &str, nullable: bool) -> CatalogColumn {
        CatalogColumn { name: name.into(), ty: "integer".into(), nullable, default: None, identity: false }
    }

    fn cat() -> Catalog {
        let pk = |c: &str| Some(Constraint { name: "pk".into(), columns: vec![c.into()] });
        Catalog {
            tables: vec![
                CatalogTable { name: "customer".into(), columns: vec![col("customer_id", false)], primary_key: pk("customer_id"), ..Default::default() },
                CatalogTable {
                    name: "orders".into(),
                    columns: vec![col("id", false), col("customer_id", false), col("store_id", true)],
                    primary_key: pk("id"),
                    foreign_keys: vec![CatalogForeignKey {
                        name: "fk_cust".into(),
                        columns: vec!["customer_id".into()],
                        ref_table: "customer".into(),
                        ref_columns: vec!["customer_id".into()],
                        on_delete: "NO ACTION".into(),
                        on_update: "NO ACTION".into(),
                    }],
                    ..Default::default()
                },
                CatalogTable { name: "store".into(), columns: vec![col("id", false)], primary_key: pk("id"), ..Default::default() },
                CatalogTable { name: "audit".into(), columns: vec![col("id", false)], primary_key: pk("id"), ..Default::default() },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn declared_and_inferred_relations_with_cardinality() {
        let c = cat();
        let d = select(&c, &ErdOptions { tables: vec!["orders".into()], depth: 1, infer: true });
        let names: Vec<&str> = d.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["customer", "orders", "store"], "neighbours at depth 1, not audit");
        let m = d.mermaid();
        assert!(m.contains("customer ||--o{ orders : \"customer_id\""), "{m}");
        assert!(m.contains("store |o..o{ orders : \"inferred: store_id\""), "{m}");
        let dot = d.dot();
        assert!(dot.contains("style=dashed, label=\"inferred\""), "{dot}");
        let only = select(&c, &ErdOptions { tables: vec!["ord%".into()], depth: 0, infer: true });
        assert_eq!(only.tables.len(), 1);
        assert!(only.relations.is_empty());
    }

    #[test]
    fn mermaid_keeps_type_names_whole() {
        assert_eq!(mermaid_type_parts("numeric(18,0)"), ("numeric".to_string(), Some("numeric(18,0)".to_string())));
        assert_eq!(mermaid_type_parts("character varying(40)"), ("varchar(40)".to_string(), None));
        assert_eq!(mermaid_type_parts("\"app\".\"mood\""), ("_app___mood_".to_string(), Some("\"app\".\"mood\"".to_string())));
    }
}
