//! Views, triggers and routines in the plan: the names a source's code converter is given
//! ([`PlanNames`], built from the planned tables so converted code names exactly what the load
//! creates), the converted objects the plan carries ([`Plan::attach_objects`]), and the
//! assessment's per-kind count of converted / converted with warnings / not converted
//! ([`code_counts`]), as AWS SCT reports it.
//!
//! Guarantees: every source object is counted exactly once — converted (a PostgreSQL source's
//! own objects, or a converter's output without warnings), converted with warnings, or not
//! converted (an action item naming the construct that stopped it, or the reason none was tried).

use crate::assessment::{Assessment, Item, Severity};
use crate::build::Plan;
use crate::config::IdentifierCase;
use crate::naming::apply_case;
use ferry_model::{ConvertedObject, ObjectKind, Outcome, Schema, TargetColumn, TargetNames};
use ferry_target_postgres::ddl::PgType;
use serde::Serialize;
use std::collections::HashMap;

/// The plan's names for a converter: tables and columns as planned, the rest by the identifier rule.
pub struct PlanNames {
    schema: String,
    case: IdentifierCase,
    tables: HashMap<String, (String, HashMap<String, TargetColumn>)>,
}

impl TargetNames for PlanNames {
    fn schema(&self) -> &str {
        &self.schema
    }
    fn table(&self, table: &str) -> Option<String> {
        self.find(table).map(|(t, _)| t.clone())
    }
    fn column(&self, table: &str, column: &str) -> Option<TargetColumn> {
        let (_, cols) = self.find(table)?;
        cols.get(column).or_else(|| cols.iter().find(|(k, _)| k.eq_ignore_ascii_case(column)).map(|(_, v)| v)).cloned()
    }
    fn ident(&self, name: &str) -> String {
        apply_case(self.case, name)
    }
    fn ferry_session(&self) -> &str {
        ferry_target_postgres::conn::APPLYING
    }
}

impl PlanNames {
    /// MySQL compares table names as the server's `lower_case_table_names` says, and column
    /// names case-insensitively: an exact match first, then one ignoring ASCII case.
    fn find(&self, table: &str) -> Option<&(String, HashMap<String, TargetColumn>)> {
        self.tables.get(table).or_else(|| self.tables.iter().find(|(k, _)| k.eq_ignore_ascii_case(table)).map(|(_, v)| v))
    }
}

/// Objects converted per kind, for the assessment.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CodeCount {
    /// `view`, `trigger`, `function`…
    pub kind: String,
    pub converted: usize,
    pub with_warnings: usize,
    pub not_converted: usize,
}

/// The kinds of object code conversion is about (indexes and constraints ferry does not create
/// are not code and are not counted).
fn is_code(kind: ObjectKind) -> bool {
    matches!(kind, ObjectKind::View | ObjectKind::Trigger | ObjectKind::Function | ObjectKind::Procedure | ObjectKind::Event | ObjectKind::Rule)
}

/// Counts every code object of `schema` once: converted ones by their outcome, a PostgreSQL
/// source's own objects as converted, the rest as not converted.
pub fn code_counts(schema: &Schema, converted: &[ConvertedObject]) -> Vec<CodeCount> {
    let mut out: Vec<CodeCount> = Vec::new();
    for o in schema.objects.iter().filter(|o| is_code(o.kind)) {
        let outcome = match converted.iter().find(|c| c.kind == o.kind && c.name == o.name && c.table == o.table) {
            Some(c) => c.outcome(),
            None if o.native(schema) => Outcome::Converted,
            None => Outcome::NotConverted,
        };
        let label = o.kind.label();
        let at = match out.iter().position(|c| c.kind == label) {
            Some(i) => i,
            None => {
                out.push(CodeCount { kind: label.to_string(), ..Default::default() });
                out.len() - 1
            }
        };
        match outcome {
            Outcome::Converted => out[at].converted += 1,
            Outcome::Warnings => out[at].with_warnings += 1,
            Outcome::NotConverted => out[at].not_converted += 1,
        }
    }
    out
}

impl Plan {
    /// The names a converter of this plan's source objects is given.
    pub fn names(&self) -> PlanNames {
        let tables = self
            .tables
            .iter()
            .map(|t| {
                let cols = t
                    .converter
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let tc = &t.target.columns[i];
                        (t.source.columns[c.source_index].name.clone(), TargetColumn { name: tc.name.clone(), boolean: tc.ty == PgType::Boolean })
                    })
                    .collect();
                (t.source.name.clone(), (t.target.name.clone(), cols))
            })
            .collect();
        PlanNames { schema: self.target_schema.clone(), case: crate::build::identifier_case(&self.inputs.config, &self.inputs.schema), tables }
    }

    /// Takes a converter's output: the objects `migrate` creates after the load, and the
    /// assessment's items and counts for them (an action item becomes a note or a warning, or
    /// names the construct that stopped it).
    pub fn attach_objects(&mut self, converted: Vec<ConvertedObject>) {
        for c in &converted {
            let label = c.label();
            let Some(item) = self.assessment.items.iter_mut().find(|i| i.object == label && i.severity == Severity::Action) else { continue };
            *item = conversion_item(c, item);
        }
        self.assessment.code = code_counts(&self.inputs.schema, &converted);
        self.objects = converted;
    }
}

fn conversion_item(c: &ConvertedObject, listed: &Item) -> Item {
    let sql = Some(if c.statements.is_empty() { listed.sql.clone().unwrap_or_default() } else { c.statements.join(";\n\n") + ";" });
    let (severity, message) = match c.outcome() {
        Outcome::Converted => (Severity::Info, "converted to PostgreSQL; created on the target after the load".to_string()),
        Outcome::Warnings => (Severity::Warning, format!("converted to PostgreSQL with warnings (review): {}", c.warnings.join("; "))),
        Outcome::NotConverted => {
            (Severity::Action, format!("{} — not converted: {}", listed.message, c.refused.as_deref().unwrap_or("no converter for this kind of object")))
        }
    };
    Item { severity, object: listed.object.clone(), message, sql }
}

impl Assessment {
    /// The per-kind counts as lines, or nothing when the source has no code objects.
    pub(crate) fn render_code(&self) -> String {
        let mut s = String::new();
        if self.code.is_empty() {
            return s;
        }
        s.push_str("\nCode objects (converted / with warnings / not converted):\n");
        for c in &self.code {
            s.push_str(&format!("  {:<12} {:>4} / {:>4} / {:>4}\n", c.kind, c.converted, c.with_warnings, c.not_converted));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::SourceObject;

    fn obj(kind: ObjectKind, name: &str) -> SourceObject {
        SourceObject { kind, name: name.into(), table: None, sql: String::new() }
    }

    #[test]
    fn every_code_object_is_counted_once_by_its_outcome() {
        let schema = Schema {
            objects: vec![
                obj(ObjectKind::View, "a"),
                obj(ObjectKind::View, "b"),
                obj(ObjectKind::View, "c"),
                obj(ObjectKind::Index, "i"),
                obj(ObjectKind::Function, "f"),
            ],
            ..Default::default()
        };
        let conv = |name: &str, warnings: Vec<String>, refused: Option<String>| ConvertedObject {
            kind: ObjectKind::View,
            name: name.into(),
            table: None,
            statements: if refused.is_some() { vec![] } else { vec!["CREATE VIEW x AS SELECT 1".into()] },
            warnings,
            refused,
            view: None,
        };
        let converted = vec![conv("a", vec![], None), conv("b", vec!["w".into()], None), conv("c", vec![], Some("function X".into()))];
        let counts = code_counts(&schema, &converted);
        assert_eq!(
            counts,
            vec![
                CodeCount { kind: "view".into(), converted: 1, with_warnings: 1, not_converted: 1 },
                CodeCount { kind: "function".into(), converted: 0, with_warnings: 0, not_converted: 1 },
            ],
            "indexes are not code; an object no converter tried is not converted"
        );
    }
}
