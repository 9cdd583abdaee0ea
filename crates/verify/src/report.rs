//! The verify report: per table rows compared, status, differences by kind with sample keys.

use ferry_plan::{Plan, TablePlan};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    Equal,
    Differs,
    MissingTable,
    /// No usable key: compared as a whole (count + hash).
    EqualWithoutKey,
    DiffersWithoutKey,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableVerify {
    pub source: String,
    pub target: String,
    pub status: TableStatus,
    pub source_rows: u64,
    pub target_rows: u64,
    pub chunks: u64,
    pub bisections: u64,
    /// Rows compared one by one (ranges whose hashes differed, split down to the leaf size).
    pub rows_diffed: u64,
    pub missing: u64,
    pub extra: u64,
    pub changed: u64,
    /// Changed rows per column.
    pub changed_columns: BTreeMap<String, u64>,
    pub sample_missing: Vec<String>,
    pub sample_extra: Vec<String>,
    pub sample_changed: Vec<(String, Vec<String>)>,
    pub repaired: u64,
    /// Cells the source's column rules set aside, compared with `ferry.quarantine`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<QuarantineVerify>,
    /// The result before `--repair`, when it repaired this table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_repair: Option<Box<TableVerify>>,
    pub seconds: f64,
    #[serde(skip)]
    pub diff_keys: Vec<Vec<String>>,
}

impl TableVerify {
    pub fn new(t: &TablePlan) -> Self {
        TableVerify {
            source: t.source_name.clone(),
            target: t.target.name.clone(),
            status: TableStatus::Equal,
            source_rows: 0,
            target_rows: 0,
            chunks: 0,
            bisections: 0,
            rows_diffed: 0,
            missing: 0,
            extra: 0,
            changed: 0,
            changed_columns: BTreeMap::new(),
            sample_missing: vec![],
            sample_extra: vec![],
            sample_changed: vec![],
            repaired: 0,
            quarantine: None,
            before_repair: None,
            seconds: 0.0,
            diff_keys: vec![],
        }
    }
}

/// A table's set-aside cells: those the source holds now (by its own SQL) against those
/// `ferry.quarantine` lists, as (column, storage class, raw value) multisets.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuarantineVerify {
    pub source_cells: u64,
    pub listed: u64,
    /// On the source, not listed (`column: raw`), a sample.
    pub unlisted: Vec<String>,
    /// Listed, not on the source, a sample.
    pub stale: Vec<String>,
}

impl QuarantineVerify {
    pub fn equal(&self) -> bool {
        self.unlisted.is_empty() && self.stale.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub source_database: String,
    pub target_schema: String,
    /// True when every table is equal (after repair, when repairing) and the target holds every
    /// object the plan promised ([`VerifyReport::structure`] is empty).
    pub equal: bool,
    pub tables: Vec<TableVerify>,
    /// Objects the plan promised that the target lacks or holds differently.
    pub structure: Vec<String>,
    pub rows_compared: u64,
    pub seconds: f64,
    /// The final hop's tables, each compared with its mapping evaluated on the landing tables.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reshape: Vec<ferry_target_postgres::reshape::ReshapeResult>,
    /// Converted views, each run on both sides (`--objects`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<crate::objects::ObjectVerify>,
}

impl VerifyReport {
    /// Adds the reshaped tables' comparison: EQUAL needs each of them equal to its mapping
    /// and free of check failures.
    pub fn add_reshape(&mut self, results: Vec<ferry_target_postgres::reshape::ReshapeResult>) {
        self.equal &= results.iter().all(|r| r.error.is_none() && r.missing == Some(0) && r.extra == Some(0));
        self.reshape = results;
    }

    /// Adds the converted views' comparison: EQUAL needs each to return the same rows.
    pub fn add_objects(&mut self, objects: Vec<crate::objects::ObjectVerify>) {
        self.equal &= objects.iter().all(|o| o.equal);
        self.objects = objects;
    }

    pub fn new(plan: &Plan, tables: Vec<TableVerify>, structure: Vec<String>, seconds: f64) -> Self {
        VerifyReport {
            source_database: plan.source_database.clone(),
            target_schema: plan.target_schema.clone(),
            equal: structure.is_empty()
                && tables.iter().all(|t| {
                    matches!(t.status, TableStatus::Equal | TableStatus::EqualWithoutKey) && t.quarantine.as_ref().is_none_or(QuarantineVerify::equal)
                }),
            structure,
            rows_compared: tables.iter().map(|t| t.source_rows).sum(),
            tables,
            seconds,
            reshape: Vec::new(),
            objects: Vec::new(),
        }
    }

    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "verify {} → schema \"{}\": {} tables, {} rows compared in {:.2}s — {}",
            self.source_database,
            self.target_schema,
            self.tables.len(),
            self.rows_compared,
            self.seconds,
            if self.equal { "EQUAL" } else { "DIFFERENCES FOUND" }
        );
        let _ = writeln!(s, "  {:<32} {:>10} {:>10} {:>8} {:>8} {:>8}  status", "table", "source", "target", "missing", "extra", "changed");
        for t in &self.tables {
            let status = match t.status {
                TableStatus::Equal if t.repaired > 0 => format!("equal after repairing {} rows", t.repaired),
                TableStatus::Equal => "equal".into(),
                TableStatus::Differs => "DIFFERS".into(),
                TableStatus::MissingTable => "MISSING in target".into(),
                TableStatus::EqualWithoutKey => "equal (compared without key)".into(),
                TableStatus::DiffersWithoutKey => "DIFFERS (compared without key: no row detail)".into(),
            };
            let status = match &t.quarantine {
                Some(q) if !q.equal() => format!("{status}, QUARANTINE DIFFERS ({} set aside on the source, {} listed)", q.source_cells, q.listed),
                Some(q) if q.source_cells > 0 => format!("{status}, {} cells set aside (in ferry.quarantine)", q.source_cells),
                _ => status,
            };
            let shown = t.before_repair.as_deref().unwrap_or(t);
            let _ = writeln!(
                s,
                "  {:<32} {:>10} {:>10} {:>8} {:>8} {:>8}  {status}",
                t.target, shown.source_rows, shown.target_rows, shown.missing, shown.extra, shown.changed
            );
        }
        if !self.reshape.is_empty() {
            let _ = writeln!(s, "  reshaped tables, each against its mapping over the landing tables:");
            for r in &self.reshape {
                let status = match (&r.error, r.missing.unwrap_or(0) + r.extra.unwrap_or(0)) {
                    (Some(_), _) => "CHECK FAILED",
                    (None, 0) if r.missing.is_some() => "equal",
                    (None, 0) => "NOT COMPARED",
                    _ => "DIFFERS",
                };
                let _ =
                    writeln!(s, "  {:<32} {:>10} {:>10} {:>8} {:>8} {:>8}  {status}", r.table, "", r.rows, r.missing.unwrap_or(0), r.extra.unwrap_or(0), "");
            }
            for r in &self.reshape {
                if let Some(e) = &r.error {
                    let _ = writeln!(s, "\n{}: {e}", r.table);
                }
                if !r.samples.is_empty() {
                    let _ = writeln!(s, "\n{} (rows by the mapping vs the table):\n  {}", r.table, r.samples.join("\n  "));
                }
            }
        }
        if !self.objects.is_empty() {
            let _ = writeln!(s, "  views and calls, each run on both sides:");
            for o in &self.objects {
                let status = if o.equal { "equal" } else { "DIFFERS" };
                let _ = writeln!(s, "  {:<32} {:>10} {:>10} {:>8} {:>8} {:>8}  {status}", o.object, o.source_rows, o.target_rows, "", "", "");
            }
            for o in self.objects.iter().filter(|o| o.detail.is_some()) {
                let _ = writeln!(s, "\n{}: {}", o.object, o.detail.as_deref().unwrap_or_default());
                for x in &o.samples {
                    let _ = writeln!(s, "  {x}");
                }
            }
        }
        if !self.structure.is_empty() {
            let _ = writeln!(s, "\nstructure: {} planned object(s) missing or different on the target:", self.structure.len());
            for p in &self.structure {
                let _ = writeln!(s, "  {p}");
            }
        }
        for t in &self.tables {
            if let Some(q) = t.quarantine.as_ref().filter(|q| !q.equal()) {
                let _ = writeln!(s, "\n{} (ferry.quarantine):", t.target);
                if !q.unlisted.is_empty() {
                    let _ = writeln!(s, "  set aside on the source, not in ferry.quarantine: {}", q.unlisted.join("; "));
                }
                if !q.stale.is_empty() {
                    let _ = writeln!(s, "  in ferry.quarantine, not set aside on the source: {}", q.stale.join("; "));
                }
            }
        }
        for t in &self.tables {
            let d = t.before_repair.as_deref().unwrap_or(t);
            if d.missing + d.extra + d.changed == 0 {
                continue;
            }
            let _ = writeln!(s, "\n{}:", t.target);
            if !d.sample_missing.is_empty() {
                let _ = writeln!(s, "  missing in target (key): {}", d.sample_missing.join("; "));
            }
            if !d.sample_extra.is_empty() {
                let _ = writeln!(s, "  extra in target (key): {}", d.sample_extra.join("; "));
            }
            for (k, cols) in &d.sample_changed {
                let _ = writeln!(s, "  changed (key {k}): {}", cols.join(", "));
            }
        }
        s
    }
}
