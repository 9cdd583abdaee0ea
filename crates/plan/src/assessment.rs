//! The assessment: what converted as is, what changed meaning, and what needs a person.

use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Converted, with a change worth knowing.
    Info,
    /// Converted, but behaviour differs; review.
    Warning,
    /// Not migrated by ferry: a person must port it.
    Action,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub severity: Severity,
    /// `table`, `table.column`, `view v`…
    pub object: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    pub source: String,
    pub target: String,
    pub columns: usize,
    pub estimated_rows: u64,
    pub primary_key: bool,
    pub indexes: usize,
    pub foreign_keys: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Assessment {
    pub source: String,
    pub source_server: String,
    pub target_schema: String,
    pub tables: Vec<TableSummary>,
    pub items: Vec<Item>,
    /// Views, triggers, routines…: how many of each kind were converted, converted with
    /// warnings, not converted ([`crate::objects::code_counts`]).
    #[serde(default)]
    pub code: Vec<crate::objects::CodeCount>,
}

impl Assessment {
    pub fn push(&mut self, severity: Severity, object: impl Into<String>, message: impl Into<String>) {
        self.items.push(Item { severity, object: object.into(), message: message.into(), sql: None });
    }
    pub fn push_sql(&mut self, severity: Severity, object: impl Into<String>, message: impl Into<String>, sql: String) {
        self.items.push(Item { severity, object: object.into(), message: message.into(), sql: Some(sql) });
    }
    pub fn count(&self, s: Severity) -> usize {
        self.items.iter().filter(|i| i.severity == s).count()
    }

    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let cols: usize = self.tables.iter().map(|t| t.columns).sum();
        let _ = writeln!(
            s,
            "Assessment: {} ({}) → schema \"{}\": {} tables, {} columns; {} notes, {} warnings, {} action items",
            self.source,
            self.source_server,
            self.target_schema,
            self.tables.len(),
            cols,
            self.count(Severity::Info),
            self.count(Severity::Warning),
            self.count(Severity::Action)
        );
        let _ = writeln!(s, "\n  {:<32} {:<32} {:>7} {:>10} {:>4} {:>5} {:>4}", "source table", "target table", "columns", "est. rows", "pk", "index", "fk");
        for t in &self.tables {
            let _ = writeln!(
                s,
                "  {:<32} {:<32} {:>7} {:>10} {:>4} {:>5} {:>4}",
                t.source,
                t.target,
                t.columns,
                t.estimated_rows,
                if t.primary_key { "yes" } else { "NO" },
                t.indexes,
                t.foreign_keys
            );
        }
        s.push_str(&self.render_code());
        for (sev, title) in [
            (Severity::Action, "Action items (not migrated; port by hand)"),
            (Severity::Warning, "Warnings (migrated; behaviour differs)"),
            (Severity::Info, "Notes (converted)"),
        ] {
            let items: Vec<&Item> = self.items.iter().filter(|i| i.severity == sev).collect();
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(s, "\n{title}:");
            for i in items {
                let _ = writeln!(s, "  - {}: {}", i.object, i.message);
                if let Some(sql) = &i.sql {
                    for line in sql.lines() {
                        let _ = writeln!(s, "      | {line}");
                    }
                }
            }
        }
        s
    }
}
