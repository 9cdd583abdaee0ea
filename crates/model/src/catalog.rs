//! A database's schema as `ferry diff` compares it and `ferry erd` draws it: tables with
//! columns, keys, foreign keys, checks and indexes, plus views, sequences and enum types — each
//! value already in one canonical text form, so two catalogs compare by plain equality.
//!
//! Producers (a live PostgreSQL catalog, a MySQL schema as ferry would convert it, a MySQL schema
//! as it is) fill it in the same canonical forms: types as PostgreSQL's `format_type` spells them
//! (or MySQL's `COLUMN_TYPE` for MySQL-to-MySQL), defaults without literal casts, identifiers
//! unquoted. [`canonical_default`] and [`canonical_expression`] are the shared normalisers.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Catalog {
    /// Where it was read: `postgresql`, `mysql`, or `<source> as postgresql` (converted by the plan:
    /// `mysql as postgresql` for MySQL and MariaDB, `sql server as postgresql`).
    pub engine: String,
    /// The PostgreSQL schema or MySQL database.
    pub schema: String,
    pub tables: Vec<CatalogTable>,
    pub views: Vec<CatalogView>,
    pub sequences: Vec<String>,
    pub enums: Vec<CatalogEnum>,
}

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&CatalogTable> {
        self.tables.iter().find(|t| t.name == name)
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CatalogTable {
    pub name: String,
    pub columns: Vec<CatalogColumn>,
    pub primary_key: Option<Constraint>,
    pub uniques: Vec<Constraint>,
    pub foreign_keys: Vec<CatalogForeignKey>,
    pub checks: Vec<CatalogCheck>,
    /// Indexes that back no constraint.
    pub indexes: Vec<CatalogIndex>,
    pub comment: Option<String>,
}

impl CatalogTable {
    pub fn column(&self, name: &str) -> Option<&CatalogColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
    /// The column set is unique (primary key or unique constraint or unique index).
    pub fn is_unique(&self, columns: &[String]) -> bool {
        let same = |cols: &[String]| cols.len() == columns.len() && cols.iter().all(|c| columns.contains(c));
        self.primary_key.as_ref().is_some_and(|k| same(&k.columns))
            || self.uniques.iter().any(|k| same(&k.columns))
            || self.indexes.iter().any(|i| i.unique && i.predicate.is_none() && same(&i.columns))
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CatalogColumn {
    pub name: String,
    /// Canonical type text (`character varying(40)`, `integer`, `"app"."mood"` → `mood`).
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
    /// Canonical default expression ([`canonical_default`]); identity columns have none.
    pub default: Option<String>,
    /// An identity or auto-increment column (serial's `nextval` default counts too).
    pub identity: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Constraint {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CatalogForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    /// `NO ACTION`, `CASCADE`, …
    pub on_delete: String,
    pub on_update: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CatalogCheck {
    pub name: String,
    /// Canonical expression ([`canonical_expression`]).
    pub expression: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CatalogIndex {
    pub name: String,
    /// Column names, or canonical expressions for expression parts.
    pub columns: Vec<String>,
    pub unique: bool,
    /// `btree`, `gin`, …
    pub method: String,
    /// Partial index predicate (canonical expression).
    pub predicate: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CatalogView {
    pub name: String,
    /// Canonical definition text (whitespace folded); empty when only the view's presence
    /// compares (a plan's view converted from another dialect).
    pub definition: String,
    /// The statement that creates it, for a fix-up script (a plan's converted view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create: Option<String>,
    /// A plan's view ferry creates (converted, or a PostgreSQL source's own): its absence on
    /// the target is a broken promise (`diff::unmet`).
    #[serde(skip)]
    pub promised: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CatalogEnum {
    pub name: String,
    pub values: Vec<String>,
}

/// An expression in one canonical text: whitespace runs folded to one space, no space inside
/// parentheses, identifiers unquoted where quoting is not needed, keywords and function names
/// lower case outside string literals.
pub fn canonical_expression(e: &str) -> String {
    let mut out = String::with_capacity(e.len());
    let mut chars = e.trim().chars().peekable();
    let mut space = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                if space {
                    out.push(' ');
                    space = false;
                }
                out.push('\'');
                while let Some(c) = chars.next() {
                    out.push(c);
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            out.push(chars.next().unwrap());
                            continue;
                        }
                        break;
                    }
                }
            }
            '"' | '`' => {
                let close = c;
                let mut ident = String::new();
                for c in chars.by_ref() {
                    if c == close {
                        break;
                    }
                    ident.push(c);
                }
                if space {
                    out.push(' ');
                    space = false;
                }
                out.push_str(&ident.to_lowercase());
            }
            c if c.is_whitespace() => space = !out.is_empty() && !out.ends_with('('),
            ')' | ',' => {
                space = false;
                out.push(c);
                if c == ',' {
                    space = true;
                }
            }
            c => {
                if space {
                    out.push(' ');
                    space = false;
                }
                out.extend(c.to_lowercase());
            }
        }
    }
    out
}

/// A default in canonical text: literal casts dropped (`'x'::character varying` → `'x'`,
/// `'0'::numeric` → `0`), parenthesised negatives unwrapped, `now()` spelled
/// `current_timestamp`, the rest as [`canonical_expression`].
pub fn canonical_default(d: &str) -> String {
    let mut e = d.trim().to_string();
    // `('x'::text)` and `(-1)`: outer parentheses around a literal.
    while e.starts_with('(') && e.ends_with(')') && !e[1..e.len() - 1].contains('(') {
        e = e[1..e.len() - 1].trim().to_string();
    }
    // A quoted literal followed by casts.
    if e.starts_with('\'') {
        let mut end = None;
        let b: Vec<char> = e.chars().collect();
        let mut i = 1;
        while i < b.len() {
            if b[i] == '\'' {
                if b.get(i + 1) == Some(&'\'') {
                    i += 2;
                    continue;
                }
                end = Some(i);
                break;
            }
            i += 1;
        }
        if let Some(end) = end {
            let rest: String = b[end + 1..].iter().collect();
            if rest.is_empty() || rest.starts_with("::") {
                let lit: String = b[..=end].iter().collect();
                let inner = &lit[1..lit.len() - 1];
                // A number written as a string literal is the number.
                if !inner.is_empty() && inner.parse::<f64>().is_ok() && !inner.contains(['e', 'E', ' ']) {
                    return inner.to_string();
                }
                return lit;
            }
        }
    }
    if let Some((value, _)) = e.split_once("::") {
        if value.trim().parse::<f64>().is_ok() {
            return value.trim().to_string();
        }
    }
    let c = canonical_expression(&e);
    match c.as_str() {
        "now()" | "current_timestamp()" | "localtimestamp" | "localtimestamp()" | "transaction_timestamp()" => "current_timestamp".into(),
        "curdate()" | "current_date()" => "current_date".into(),
        "true" | "false" => c,
        _ => c,
    }
}

/// An expression reduced for matching across writers: type casts (`::text`,
/// `::character varying`), parentheses and whitespace removed. PostgreSQL prints an expression
/// it stored with casts and parentheses its author never wrote; two expressions equal in this
/// form are the same expression for a diff.
pub fn loose_expression(e: &str) -> String {
    let c = canonical_expression(e);
    let b: Vec<char> = c.chars().collect();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let ch = b[i];
        if ch == '\'' {
            in_str = !in_str;
            out.push(ch);
            i += 1;
            continue;
        }
        if in_str {
            out.push(ch);
            i += 1;
            continue;
        }
        if ch == ':' && b.get(i + 1) == Some(&':') {
            i += 2;
            // The type name: words, a (n[,m]) modifier, [] suffixes.
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '"' || (b[i] == ' ' && b.get(i + 1).is_some_and(|n| n.is_alphabetic()))) {
                i += 1;
            }
            if b.get(i) == Some(&'(')
                && b[i..].iter().position(|&x| x == ')').is_some_and(|p| b[i + 1..i + p].iter().all(|x| x.is_ascii_digit() || *x == ',' || *x == ' '))
            {
                i += b[i..].iter().position(|&x| x == ')').unwrap() + 1;
            }
            while b.get(i) == Some(&'[') && b.get(i + 1) == Some(&']') {
                i += 2;
            }
            continue;
        }
        if ch == '(' || ch == ')' || ch.is_whitespace() {
            i += 1;
            continue;
        }
        out.push(ch);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn loose_expressions_match_what_postgresql_prints_back() {
        let written = "to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || coalesce(description, ''))";
        let printed = "to_tsvector('simple'::regconfig, (coalesce(title, ''::character varying)::text || ' '::text) || coalesce(description, ''::text))";
        assert_eq!(super::loose_expression(written), super::loose_expression(printed));
        assert_eq!(super::loose_expression("amount > (0)::numeric(10,2)"), super::loose_expression("amount > 0"));
        assert_ne!(super::loose_expression("a > 0"), super::loose_expression("a > 1"));
    }

    use super::*;

    #[test]
    fn defaults_compare_without_casts_and_spelling() {
        assert_eq!(canonical_default("'G'::mpaa_rating"), "'G'");
        assert_eq!(canonical_default("'it''s'::character varying"), "'it''s'");
        assert_eq!(canonical_default("'0'::numeric"), "0");
        assert_eq!(canonical_default("0.00"), "0.00");
        assert_eq!(canonical_default("(-1)"), "-1");
        assert_eq!(canonical_default("now()"), "current_timestamp");
        assert_eq!(canonical_default("CURRENT_TIMESTAMP"), "current_timestamp");
        assert_eq!(canonical_default("'2006-02-15 04:34:33'::timestamp without time zone"), "'2006-02-15 04:34:33'");
        assert_eq!(canonical_default("gen_random_uuid()"), "gen_random_uuid()");
    }

    #[test]
    fn expressions_fold_spacing_quotes_and_case() {
        assert_eq!(canonical_expression("(\"rating\" IN ('G', 'PG'))"), "(rating in ('G', 'PG'))");
        assert_eq!(canonical_expression("( `a`  >  0 )"), "(a > 0)");
    }
}
