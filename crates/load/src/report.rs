//! The migrate report: per table rows, bytes, seconds and errors; text for people, JSON for
//! machines.

use ferry_model::SnapshotPosition;
use ferry_plan::{Plan, TablePlan};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize)]
pub struct StepFailure {
    pub statement: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub source: String,
    pub target: String,
    pub rows: u64,
    pub bytes: u64,
    /// Wall time from this table's first chunk starting to its last finishing (this run).
    pub seconds: f64,
    /// Time spent in this table's chunks, summed over lanes.
    pub lane_seconds: f64,
    pub rows_per_second: f64,
    /// Chunks loaded by this run.
    pub chunks: u64,
    pub post_load_seconds: f64,
    pub zero_dates_nulled: u64,
    /// Zero dates written as `-infinity` (zero_dates = "-infinity").
    pub zero_dates_infinity: u64,
    /// JSON documents with a duplicate key loaded with the last value (json_duplicate_keys = "last").
    pub json_duplicate_keys: u64,
    /// Cells set aside by a column's rule into `ferry.quarantine` (NULL or replaced on the target).
    #[serde(default)]
    pub quarantined: u64,
    /// The source table's engine when it is not transactional: read outside the snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_snapshot: Option<String>,
    /// The load error: the table is empty in the target.
    pub error: Option<String>,
    /// Keys, indexes, constraints… that could not be created.
    pub failures: Vec<StepFailure>,
}

impl TableReport {
    pub fn empty(t: &TablePlan) -> Self {
        TableReport {
            source: t.source_name.clone(),
            target: t.target.name.clone(),
            rows: 0,
            bytes: 0,
            seconds: 0.0,
            lane_seconds: 0.0,
            rows_per_second: 0.0,
            chunks: 0,
            post_load_seconds: 0.0,
            zero_dates_nulled: 0,
            zero_dates_infinity: 0,
            json_duplicate_keys: 0,
            quarantined: 0,
            outside_snapshot: ferry_plan::non_transactional(&t.source).map(str::to_string),
            error: None,
            failures: vec![],
        }
    }

    pub fn finish_rates(&mut self) {
        self.rows_per_second = if self.seconds > 0.0 { self.rows as f64 / self.seconds } else { 0.0 };
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub source_database: String,
    pub target_schema: String,
    /// True when every table loaded and every key, index and constraint was created, and the
    /// target holds every object of the plan as planned (`structure` is empty).
    pub ok: bool,
    pub tables: Vec<TableReport>,
    /// Planned objects the target lacks or holds differently after the run.
    pub structure: Vec<String>,
    pub total_rows: u64,
    pub total_bytes: u64,
    /// Wall time of the load phase (schema + data).
    pub load_seconds: f64,
    /// Wall time of the whole run.
    pub seconds: f64,
    pub rows_per_second: f64,
    /// The source snapshot the data was read in, and its position in the change stream.
    pub snapshot: SnapshotPosition,
    /// Which parts ran: `all`, `schema-only` or `data-only`.
    pub scope: crate::Scope,
    /// The SQL hooks that ran, in order, with their time (a failed one has its error).
    pub hooks: Vec<crate::hooks::HookRun>,
    /// What the run did beyond the plan or left as it found it (data-only: foreign keys kept,
    /// tables emptied).
    pub notes: Vec<String>,
    /// The final hop's tables (`[reshape]`), filled from the landing tables after the load.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reshape: Vec<ferry_target_postgres::reshape::ReshapeResult>,
    /// A PostgreSQL source's views, routines, triggers and rules created after the load.
    pub objects: crate::objects::ObjectsReport,
}

impl MigrateReport {
    pub fn new(plan: &Plan, tables: Vec<TableReport>, structure: Vec<String>, snapshot: SnapshotPosition, load_seconds: f64, seconds: f64) -> Self {
        let ok = structure.is_empty() && tables.iter().all(|t| t.error.is_none() && t.failures.is_empty());
        let total_rows = tables.iter().map(|t| t.rows).sum();
        MigrateReport {
            source_database: plan.source_database.clone(),
            target_schema: plan.target_schema.clone(),
            ok,
            structure,
            total_rows,
            total_bytes: tables.iter().map(|t| t.bytes).sum(),
            tables,
            load_seconds,
            seconds,
            rows_per_second: if load_seconds > 0.0 { total_rows as f64 / load_seconds } else { 0.0 },
            snapshot,
            scope: crate::Scope::All,
            hooks: vec![],
            notes: vec![],
            reshape: vec![],
            objects: Default::default(),
        }
    }

    pub fn render_text(&self) -> String {
        let mut s = String::new();
        if self.scope == crate::Scope::SchemaOnly {
            let _ = writeln!(
                s,
                "\nmigrate --schema-only {} → schema \"{}\": {} tables with their keys, indexes and constraints, no rows, in {:.2}s — {}",
                self.source_database,
                self.target_schema,
                self.tables.len(),
                self.seconds,
                if self.ok { "OK" } else { "WITH ERRORS" }
            );
        } else {
            let _ = writeln!(
                s,
                "\nmigrate{} {} → schema \"{}\": {} tables, {} rows, {:.1} MB in {:.2}s (data {:.2}s, {:.0} rows/s) — {}",
                if self.scope == crate::Scope::DataOnly { " --data-only" } else { "" },
                self.source_database,
                self.target_schema,
                self.tables.len(),
                self.total_rows,
                self.total_bytes as f64 / 1e6,
                self.seconds,
                self.load_seconds,
                self.rows_per_second,
                if self.ok { "OK" } else { "WITH ERRORS" }
            );
        }
        for h in &self.hooks {
            let status = match &h.error {
                None => "ok".to_string(),
                Some(e) => format!("FAILED, rolled back: {e}"),
            };
            let _ = writeln!(s, "  hook {:<13} {} {:.2}s {status}", h.stage.label(), h.file, h.seconds);
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        if !self.objects.created.is_empty() || !self.objects.failed.is_empty() {
            let _ = writeln!(s, "  views, routines, triggers and rules: {} created, {} refused", self.objects.created.len(), self.objects.failed.len());
            for f in &self.objects.failed {
                let _ = writeln!(s, "    FAILED: {}", f.error);
            }
        }
        let readers = self.snapshot.readers.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
        match (&self.snapshot.position, self.snapshot.consistent) {
            (Some(p), true) => {
                let _ = writeln!(
                    s,
                    "  source snapshot: consistent at log position {p}{}{readers}",
                    self.snapshot.gtid.as_ref().map(|g| format!(", GTID {g}")).unwrap_or_default()
                );
            }
            (None, true) if !readers.is_empty() => {
                let _ = writeln!(s, "  source snapshot: consistent{readers}");
            }
            (_, false) => {
                let _ = writeln!(s, "  source snapshot: NOT consistent across readers — {}", self.snapshot.note.clone().unwrap_or_default());
            }
            _ => {}
        }
        let _ = writeln!(s, "  {:<32} {:>10} {:>12} {:>8} {:>8}  status", "table", "rows", "bytes", "load s", "index s");
        for t in &self.tables {
            let status = match (&t.error, t.failures.len()) {
                (Some(_), _) if t.rows > 0 => format!("FAILED ({} rows of committed chunks loaded, the rest missing: fix, then --resume)", t.rows),
                (Some(_), _) => "FAILED (table is empty)".to_string(),
                (None, 0) if t.zero_dates_nulled + t.zero_dates_infinity + t.json_duplicate_keys + t.quarantined > 0 => {
                    let mut parts = Vec::new();
                    if t.zero_dates_nulled > 0 {
                        parts.push(format!("{} zero dates → NULL", t.zero_dates_nulled));
                    }
                    if t.zero_dates_infinity > 0 {
                        parts.push(format!("{} zero dates → -infinity", t.zero_dates_infinity));
                    }
                    if t.json_duplicate_keys > 0 {
                        parts.push(format!("{} JSON documents with a duplicate key (last kept)", t.json_duplicate_keys));
                    }
                    if t.quarantined > 0 {
                        parts.push(format!("{} cells set aside in ferry.quarantine", t.quarantined));
                    }
                    format!("ok, {}", parts.join(", "))
                }
                (None, 0) => "ok".to_string(),
                (None, n) => format!("loaded, {n} step(s) failed"),
            };
            let status = match &t.outside_snapshot {
                Some(engine) => format!("{status} (read outside the snapshot: {engine})"),
                None => status,
            };
            let _ = writeln!(s, "  {:<32} {:>10} {:>12} {:>8.2} {:>8.2}  {status}", t.target, t.rows, t.bytes, t.seconds, t.post_load_seconds);
        }
        for t in &self.tables {
            if let Some(e) = &t.error {
                let _ = writeln!(s, "\nerror: {e}");
            }
            for f in &t.failures {
                let _ = writeln!(s, "\nerror in table {}: {}\n  statement: {}", t.target, f.error, f.statement.lines().next().unwrap_or_default());
            }
        }
        if !self.reshape.is_empty() {
            let _ = writeln!(s, "\n  reshaped (from the landing schema \"{}\"):", self.target_schema);
            for r in &self.reshape {
                let status = if r.error.is_some() { "FAILED" } else { "ok" };
                let _ = writeln!(s, "  {:<32} {:>10}  {status}", r.table, r.rows);
                for (original, name) in &r.names {
                    let _ = writeln!(s, "    {original} → {name}");
                }
            }
            for r in self.reshape.iter().filter(|r| r.error.is_some()) {
                let _ = writeln!(s, "\nerror in {}: {}", r.table, r.error.as_deref().unwrap_or_default());
            }
        }
        if !self.structure.is_empty() {
            let _ = writeln!(s, "\nstructure: {} planned object(s) missing or different on the target:", self.structure.len());
            for p in &self.structure {
                let _ = writeln!(s, "  {p}");
            }
        }
        if !self.ok {
            let _ = writeln!(s, "\nThe target is incomplete where marked above. Fix the cause, then run `ferry migrate` again with --if-exists drop.");
        }
        s
    }
}
