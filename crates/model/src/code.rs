//! The seam between a source's code converter (views, triggers, routines written in its dialect)
//! and the plan: the converter asks [`TargetNames`] what the plan calls each table and column on
//! the target, and answers with [`ConvertedObject`]s — PostgreSQL statements, the warnings a
//! reviewer must read, or the construct that stopped the conversion. Neutral: no dialect here.

use crate::schema::{Column, ObjectKind};
use serde::{Deserialize, Serialize};

/// A target column as code sees it: its name and whether it holds a boolean (a MySQL
/// `tinyint(1)` that the plan made `boolean` is tested as such; one kept numeric is `<> 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    pub name: String,
    pub boolean: bool,
}

/// What the plan calls the source's objects on the target.
pub trait TargetNames: Sync {
    /// The target schema everything lands in.
    fn schema(&self) -> &str;
    /// The target table source table `table` became; None: not migrated (excluded, unknown).
    fn table(&self, table: &str) -> Option<String>;
    /// The target column source column `table`.`column` became.
    fn column(&self, table: &str, column: &str) -> Option<TargetColumn>;
    /// A SQL condition true in ferry's own target sessions (load, apply, repair): a converted
    /// trigger returns at once when it holds, so ferry's copies of rows the source's triggers
    /// already produced are not produced twice.
    fn ferry_session(&self) -> &str;
    /// Any other identifier the converter names (view columns, aliases, a view's or trigger's
    /// own name) under the plan's identifier rule.
    fn ident(&self, name: &str) -> String;
}

/// How far a conversion got, as AWS SCT counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Converted with nothing to review.
    Converted,
    /// Converted; the warnings say where behaviour may differ.
    Warnings,
    /// Not converted: `refused` names the construct.
    NotConverted,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Converted => "converted",
            Outcome::Warnings => "converted with warnings",
            Outcome::NotConverted => "not converted",
        }
    }
}

/// One source object after conversion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvertedObject {
    pub kind: ObjectKind,
    /// Its source name.
    pub name: String,
    /// The source table it belongs to (triggers).
    pub table: Option<String>,
    /// PostgreSQL statements that create it, in order (a trigger: its function, then itself).
    /// Empty when not converted.
    pub statements: Vec<String>,
    /// Where the converted object may behave differently, one sentence each.
    pub warnings: Vec<String>,
    /// The construct that stopped the conversion (`function TIMESTAMPDIFF`, `cursor`…).
    pub refused: Option<String>,
    /// A converted view: what `verify --objects` compares.
    pub view: Option<ViewCheck>,
}

impl ConvertedObject {
    pub fn outcome(&self) -> Outcome {
        if self.refused.is_some() || self.statements.is_empty() {
            Outcome::NotConverted
        } else if self.warnings.is_empty() {
            Outcome::Converted
        } else {
            Outcome::Warnings
        }
    }

    /// `view film_list`, `trigger ins_film (on film)`: the assessment's name of it.
    pub fn label(&self) -> String {
        match &self.table {
            Some(t) => format!("{} {} (on {t})", self.kind.label(), self.name),
            None => format!("{} {}", self.kind.label(), self.name),
        }
    }
}

/// A converted view, as `verify --objects` reads it on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewCheck {
    /// Its name on the target (in the target schema).
    pub target: String,
    /// Its output columns as the source describes them (source names and types), in order;
    /// the target view has the same columns in the same order.
    pub columns: Vec<Column>,
    /// Its target column names, in the same order.
    pub target_columns: Vec<String>,
    /// The view orders its rows (a top-level ORDER BY): compared in order, not as a set.
    pub ordered: bool,
    /// Output columns that aggregate values into one text in no defined order (MySQL's
    /// `GROUP_CONCAT` without ORDER BY follows its join order, PostgreSQL's `string_agg` its
    /// own), with their separator: compared as the multiset of their parts.
    #[serde(default)]
    pub unordered_lists: Vec<(usize, String)>,
}
