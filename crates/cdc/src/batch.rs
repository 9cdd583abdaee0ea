//! Folding a batch of whole source transactions: per table, the final state of each key.
//!
//! Guarantee: applying a folded table's deletes and upserts in any order gives the state the
//! source had at the batch's last commit ([`Batch::fold_transaction`]). Why: each key keeps only
//! its last change (upsert or delete, in source order); a key update is a delete of the old key
//! and an upsert of the new one, so deletes and upserts of one table touch distinct keys. Tables
//! without a key take inserts only (appended in order); their update or delete stops the table.
//! Tables with a unique index besides the key also keep every change in order
//! (`Folded::sequence`) for apply's replay when two rows trade a unique value inside a batch.
//! A change a table cannot take stops only that table, recorded with the batch.

use ferry_model::cdc::{LogPosition, RowChange};
use ferry_model::{Row, Value};
use ferry_plan::convert::{ConversionStats, QuarantinedCell};
use ferry_plan::{Plan, TablePlan};
use ferry_target_postgres::apply::SchemaDdl;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// One table's plan as apply needs it.
pub(crate) struct TableApply {
    pub(crate) plan: TablePlan,
    /// Target column indexes of the key.
    pub(crate) key: Vec<usize>,
    /// The table has a unique index besides the key: keep changes in order for the fallback.
    pub(crate) sequenced: bool,
    /// Target column indexes of the target's primary key when it is not the source key
    /// (Citus `extend_key`); empty otherwise. See `TableBatch::conflict`.
    pub(crate) conflict: Vec<usize>,
}

/// One table's folded changes since the last flush.
#[derive(Default)]
pub(crate) struct Folded {
    /// Key text → final state (true: upsert, false: delete) and row, in first-seen order.
    pub(crate) by_key: HashMap<String, (bool, Row)>,
    pub(crate) order: Vec<String>,
    /// Inserts of a table without key.
    pub(crate) appends: Vec<Row>,
    /// Every change in order (tables with other unique keys only; see `TableBatch::sequence`).
    pub(crate) sequence: Vec<(bool, Row)>,
    pub(crate) stats: ConversionStats,
    /// Cells set aside in each key's final row (none for a final delete), and in appended rows.
    pub(crate) cells: HashMap<String, Vec<QuarantinedCell>>,
    pub(crate) appended_cells: Vec<QuarantinedCell>,
    pub(crate) inserts: i64,
    pub(crate) updates: i64,
    pub(crate) deletes: i64,
}

/// Whole source transactions folded since the last flush.
pub(crate) struct Batch {
    pub(crate) from: LogPosition,
    pub(crate) to: LogPosition,
    pub(crate) transactions: i32,
    pub(crate) time: u64,
    pub(crate) rows: usize,
    /// About how many bytes the folded rows hold (`Value::heap_size`): a batch of a few huge
    /// rows flushes as soon as a bounded batch of many small ones would.
    pub(crate) bytes: usize,
    pub(crate) oldest: Option<Instant>,
    pub(crate) tables: HashMap<String, Folded>,
    pub(crate) truncate: HashSet<String>,
    /// Tables to mark stopped, DDL to count (target names) and tables created on the source
    /// that are not synced (source names), all recorded in the batch's transaction.
    pub(crate) stops: Vec<(String, String)>,
    pub(crate) ddl: Vec<String>,
    pub(crate) not_synced: Vec<(String, String)>,
    pub(crate) schema_ddl: Vec<SchemaDdl>,
    pub(crate) source_model: Option<String>,
}

impl Batch {
    pub(crate) fn new(from: LogPosition) -> Self {
        Batch {
            to: from.clone(),
            from,
            transactions: 0,
            time: 0,
            rows: 0,
            bytes: 0,
            oldest: None,
            tables: HashMap::new(),
            truncate: HashSet::new(),
            stops: Vec::new(),
            ddl: Vec::new(),
            not_synced: Vec::new(),
            schema_ddl: Vec::new(),
            source_model: None,
        }
    }

    pub(crate) fn commit(&mut self, position: LogPosition, time: u64) {
        self.to = position;
        self.time = time;
        self.transactions += 1;
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Stops source table `table` with `error` (recorded with the batch, in the target
    /// transaction of its position, so a restart neither repeats nor forgets it).
    pub(crate) fn stop_table(&mut self, tables: &HashMap<String, TableApply>, table: &str, error: String, stopped: &mut HashSet<String>) {
        if stopped.contains(table) {
            return;
        }
        let Some(t) = tables.get(table) else { return };
        stopped.insert(table.to_string());
        self.tables.remove(table);
        self.stops.push((t.plan.target.name.clone(), error));
    }

    /// Folds one source transaction's changes; a change a table cannot take stops that table,
    /// recorded with the batch (same target transaction as its position).
    pub(crate) fn fold_transaction(
        &mut self,
        tables: &HashMap<String, TableApply>,
        changes: impl Iterator<Item = (String, RowChange)>,
        stopped: &mut HashSet<String>,
    ) {
        for (table, change) in changes {
            if stopped.contains(&table) {
                continue;
            }
            let Some(t) = tables.get(&table) else { continue };
            if let Err(msg) = self.fold(t, change) {
                self.stop_table(tables, &table, msg, stopped);
            }
        }
    }

    /// Folds one change into its table's final states. Err: the table must stop (message).
    fn fold(&mut self, t: &TableApply, change: RowChange) -> Result<(), String> {
        let name = t.plan.source.name.clone();
        let convert = |row: Row, stats: &mut ConversionStats| {
            t.plan
                .converter
                .convert(row, 0, stats)
                .map_err(|e| format!("table {}, column {}, {}: {}", t.plan.target.name, t.plan.target.columns[e.column].name, e.key, e.message))
        };
        let key_of = |row: &Row| -> String { t.key.iter().map(|&i| key_text(&row[i])).collect::<Vec<_>>().join("\u{1f}") };
        self.bytes += match &change {
            RowChange::Insert(r) | RowChange::Delete(r) => r.iter().map(Value::heap_size).sum::<usize>(),
            RowChange::Update { before, after } => before.iter().chain(after).map(Value::heap_size).sum(),
        };
        let f = self.tables.entry(name).or_default();
        self.rows += 1;
        // Zero dates written as NULL are counted per table (reported in ferry.sync_tables).
        let mut counted = std::mem::take(&mut f.stats);
        let result = Self::fold_into(f, t, change, &convert, &key_of, &mut counted);
        f.stats = counted;
        result
    }

    fn fold_into(
        f: &mut Folded,
        t: &TableApply,
        change: RowChange,
        convert: &dyn Fn(Row, &mut ConversionStats) -> Result<Row, String>,
        key_of: &dyn Fn(&Row) -> String,
        stats: &mut ConversionStats,
    ) -> Result<(), String> {
        // The set-aside cells of the row just converted: kept with its key's final state.
        let cells = |stats: &mut ConversionStats| std::mem::take(&mut stats.quarantined);
        if t.key.is_empty() {
            return match change {
                RowChange::Insert(row) => {
                    f.inserts += 1;
                    f.appends.push(convert(row, stats)?);
                    let c = cells(stats);
                    f.appended_cells.extend(c);
                    Ok(())
                }
                _ => Err(format!(
                    "table {} has no primary key or NOT NULL unique key, so an update or delete cannot be applied: add a key on the source and run `ferry migrate` for it again, or exclude the table",
                    t.plan.target.name
                )),
            };
        }
        let set = |f: &mut Folded, key: String, upsert: bool, row: Row, set_aside: Vec<QuarantinedCell>| {
            if t.sequenced {
                f.sequence.push((upsert, row.clone()));
            }
            if !f.by_key.contains_key(&key) {
                f.order.push(key.clone());
            }
            if set_aside.is_empty() {
                f.cells.remove(&key);
            } else {
                f.cells.insert(key.clone(), set_aside);
            }
            f.by_key.insert(key, (upsert, row));
        };
        match change {
            RowChange::Insert(row) => {
                f.inserts += 1;
                let row = convert(row, stats)?;
                let c = cells(stats);
                set(f, key_of(&row), true, row, c);
            }
            RowChange::Update { before, after } => {
                f.updates += 1;
                let before = convert(before, stats)?;
                cells(stats);
                let after = convert(after, stats)?;
                let c = cells(stats);
                let (kb, ka) = (key_of(&before), key_of(&after));
                if kb != ka {
                    set(f, kb, false, before, Vec::new());
                }
                set(f, ka, true, after, c);
            }
            RowChange::Delete(row) => {
                f.deletes += 1;
                let row = convert(row, stats)?;
                cells(stats);
                set(f, key_of(&row), false, row, Vec::new());
            }
        }
        Ok(())
    }
}

/// A key value as map text: variant and value, so 1 (int) and '1' (text) stay apart.
fn key_text(v: &Value) -> String {
    format!("{v:?}")
}

pub(crate) fn table_applies(plan: &Plan) -> HashMap<String, TableApply> {
    plan.tables
        .iter()
        .map(|t| {
            let key: Vec<usize> = t.converter.key.iter().filter_map(|k| t.converter.columns.iter().position(|c| c.source_index == k.source_index)).collect();
            let sequenced = t.target.indexes.iter().any(|i| i.unique);
            let conflict: Vec<usize> =
                t.target.primary_key.iter().flat_map(|pk| pk.columns.iter().filter_map(|c| t.target.columns.iter().position(|x| &x.name == c))).collect();
            let conflict = if conflict.len() > key.len() && key.iter().all(|k| conflict.contains(k)) { conflict } else { Vec::new() };
            (t.source.name.clone(), TableApply { plan: t.clone(), key, sequenced, conflict })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::{Column, DataType, Index, IndexColumn, IndexKind, Key, Schema, Table};

    fn int(name: &str) -> Column {
        Column { nullable: false, ..Column::new(name, DataType::Int { bytes: 4, unsigned: false, display_width: None }, "int") }
    }

    /// `acct` (key `id`, unique `code`) and the key-less `log`.
    fn schema() -> Schema {
        Schema {
            name: "app".into(),
            server_version: "test".into(),
            tables: vec![
                Table {
                    name: "acct".into(),
                    columns: vec![int("id"), int("code"), Column::new("note", DataType::Varchar { len: 20 }, "varchar(20)")],
                    primary_key: Some(Key { name: "PRIMARY".into(), columns: vec!["id".into()] }),
                    indexes: vec![Index {
                        name: "code".into(),
                        columns: vec![IndexColumn { name: "code".into(), prefix: None, descending: false }],
                        unique: true,
                        kind: IndexKind::BTree,
                        comment: None,
                        filter: None,
                        include: vec![],
                    }],
                    ..Default::default()
                },
                Table { name: "log".into(), columns: vec![int("at"), Column::new("what", DataType::Text { max_bytes: 65535 }, "text")], ..Default::default() },
            ],
            objects: vec![],
            types: vec![],
            sequences: vec![],
            probes: ferry_model::Probe::all(),
            native_objects: false,
            view_columns: Vec::new(),
        }
    }

    fn applies(config: &ferry_plan::Config) -> HashMap<String, TableApply> {
        let schema = schema();
        let plan = ferry_plan::build(ferry_plan::PlanInput { schema: &schema, config, probes: &Default::default(), postgis: false }).expect("plan");
        table_applies(&plan)
    }

    fn tables() -> HashMap<String, TableApply> {
        applies(&ferry_plan::Config::default())
    }

    /// Citus `extend_key`: changes still fold by the source key, and apply gets the target's
    /// wider key to insert on (after deleting the row whose distribution value moved).
    #[test]
    fn extend_key_keeps_the_source_key_and_hands_apply_the_target_key() {
        use ferry_plan::config::{CitusConfig, DistributedTable};
        let mut config = ferry_plan::Config::default();
        let acct = DistributedTable { column: "code".into(), extend_key: true, ..Default::default() };
        config.target.citus = Some(CitusConfig { distributed: [("acct".to_string(), acct)].into(), ..Default::default() });
        let t = &applies(&config)["acct"];
        assert_eq!(t.key, vec![0], "folded by id, the source key");
        assert_eq!(t.conflict, vec![0, 1], "inserted on (id, code), the target key");
        assert!(tables()["acct"].conflict.is_empty(), "without extend_key the keys are one");
    }

    fn acct(id: i64, code: i64, note: &str) -> Row {
        vec![Value::Int(id), Value::Int(code), Value::Text(note.into())]
    }

    fn fold(tables: &HashMap<String, TableApply>, changes: Vec<(&str, RowChange)>) -> (Batch, HashSet<String>) {
        let mut batch = Batch::new(LogPosition::legacy("start"));
        let mut stopped = HashSet::new();
        batch.fold_transaction(tables, changes.into_iter().map(|(t, c)| (t.to_string(), c)), &mut stopped);
        (batch, stopped)
    }

    /// The final (upsert?, id) per key, in first-seen order.
    fn finals(b: &Batch, table: &str) -> Vec<(bool, Value)> {
        let f = &b.tables[table];
        f.order.iter().map(|k| (f.by_key[k].0, f.by_key[k].1[0].clone())).collect()
    }

    #[test]
    fn a_key_change_is_a_delete_of_the_old_key_and_an_upsert_of_the_new() {
        let t = tables();
        let (b, stopped) = fold(
            &t,
            vec![
                ("acct", RowChange::Insert(acct(1, 10, "a"))),
                ("acct", RowChange::Update { before: acct(1, 10, "a"), after: acct(2, 10, "a") }),
                ("acct", RowChange::Update { before: acct(2, 10, "a"), after: acct(2, 10, "b") }),
            ],
        );
        assert!(stopped.is_empty());
        assert_eq!(finals(&b, "acct"), vec![(false, Value::Int(1)), (true, Value::Int(2))]);
        let f = &b.tables["acct"];
        assert_eq!(f.by_key[&f.order[1]].1[2], Value::Text("b".into()), "the last state of key 2");
        assert_eq!((f.inserts, f.updates, f.deletes), (1, 2, 0), "counters count source events, not folded rows");
    }

    #[test]
    fn insert_then_delete_of_one_key_folds_to_the_delete() {
        let t = tables();
        let (b, _) = fold(&t, vec![("acct", RowChange::Insert(acct(5, 50, "x"))), ("acct", RowChange::Delete(acct(5, 50, "x")))]);
        assert_eq!(finals(&b, "acct"), vec![(false, Value::Int(5))]);
    }

    #[test]
    fn a_swap_of_unique_values_keeps_every_change_in_source_order() {
        let t = tables();
        assert!(t["acct"].sequenced, "acct has a unique index besides its key");
        let (b, _) = fold(
            &t,
            vec![
                ("acct", RowChange::Update { before: acct(1, 10, ""), after: acct(1, 0, "") }),
                ("acct", RowChange::Update { before: acct(2, 20, ""), after: acct(2, 10, "") }),
                ("acct", RowChange::Update { before: acct(1, 0, ""), after: acct(1, 20, "") }),
            ],
        );
        let seq: Vec<(bool, Value, Value)> = b.tables["acct"].sequence.iter().map(|(u, r)| (*u, r[0].clone(), r[1].clone())).collect();
        assert_eq!(
            seq,
            vec![(true, Value::Int(1), Value::Int(0)), (true, Value::Int(2), Value::Int(10)), (true, Value::Int(1), Value::Int(20))],
            "replayable through the states the source went through"
        );
        assert_eq!(finals(&b, "acct").len(), 2, "folded: one final state per key");
    }

    #[test]
    fn a_keyless_table_appends_inserts_and_stops_on_an_update_alone() {
        let t = tables();
        let log = |at: i64, what: &str| vec![Value::Int(at), Value::Text(what.into())];
        let (b, stopped) = fold(
            &t,
            vec![
                ("log", RowChange::Insert(log(1, "a"))),
                ("log", RowChange::Insert(log(1, "a"))),
                ("acct", RowChange::Insert(acct(1, 10, "kept"))),
                ("log", RowChange::Update { before: log(1, "a"), after: log(2, "b") }),
                ("log", RowChange::Insert(log(3, "after the stop"))),
                ("acct", RowChange::Insert(acct(2, 20, "kept too"))),
            ],
        );
        assert_eq!(stopped, HashSet::from(["log".to_string()]));
        assert!(!b.tables.contains_key("log"), "the stopped table's changes leave the batch");
        assert_eq!(b.stops.len(), 1);
        assert!(b.stops[0].1.contains("no primary key"), "{}", b.stops[0].1);
        assert_eq!(finals(&b, "acct").len(), 2, "the other table streams on");
    }

    #[test]
    fn duplicate_inserts_of_a_keyless_table_are_both_kept() {
        let t = tables();
        let log = vec![Value::Int(1), Value::Text("same".into())];
        let (b, _) = fold(&t, vec![("log", RowChange::Insert(log.clone())), ("log", RowChange::Insert(log))]);
        assert_eq!(b.tables["log"].appends.len(), 2);
    }

    #[test]
    fn a_batch_counts_the_bytes_it_holds() {
        let t = tables();
        let wide = "x".repeat(1 << 20);
        let (b, _) = fold(
            &t,
            vec![("acct", RowChange::Insert(acct(1, 10, &wide))), ("acct", RowChange::Update { before: acct(1, 10, &wide), after: acct(1, 10, &wide) })],
        );
        assert!(b.bytes >= 3 << 20, "three images of a 1 MB value: {}", b.bytes);
    }
}
