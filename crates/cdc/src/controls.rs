//! `ferry pause` / `resume` / `exclude` / `include` inside the running sync: requests
//! (`ferry_target_postgres::controls`) are taken up between two batches, never inside one — the
//! batch under way is committed first, so changes before a request are treated as before it.
//!
//! Guarantees, kept by [`take_requests`]:
//! - **Pause loses and reorders nothing.** A paused table's changes are held in source order in
//!   the same transactions that advance the position (`ferry_target_postgres::hold`), and resume
//!   applies them in one transaction between batches.
//! - **Exclude is said, not silent.** An excluded table's changes are skipped on purpose from the
//!   batch after the request on (its source DDL still applies, so its shape follows the source);
//!   it shows as excluded everywhere, cutover refuses while it is, and include brings it back with
//!   a reload of the whole table (the DBLog chunks of `reload`), so the rows it missed come back
//!   and none is stale. Sources that cannot reload online refuse include with why.
//! - What cannot be held, skipped or brought back as well as applied is refused with why
//!   (recorded on the request, which `--wait` prints): a stopped table, a table under reload, a
//!   schema with `[reshape]` (its reshaped tables are refreshed from the landing tables in each
//!   batch), a pause of a table that sets cells aside (`ferry.quarantine` is written with the rows)
//!   or of a Citus table whose target key extends the source's.

use crate::batch::{Batch, TableApply};
use crate::reload::Reloader;
use crate::{flush, Event, Monitor, Sink, SyncError, SyncReport};
use std::collections::{HashMap, HashSet};

/// The engine's state a request touches.
pub(crate) struct Engine<'a> {
    pub tables: &'a HashMap<String, TableApply>,
    pub batch: &'a mut Batch,
    pub stopped: &'a mut HashSet<String>,
    pub report: &'a mut SyncReport,
    pub monitor: Option<&'a Monitor>,
    /// The reload under way, if any (its table takes no request).
    pub reloading: Option<&'a str>,
    /// Continuous verify's table under way: dropped when that table pauses or is excluded.
    pub checker: &'a mut Option<Reloader>,
    /// Why a table cannot be reloaded online (which include needs), if it cannot.
    pub cannot_reload: &'a (dyn Fn(&TableApply) -> Option<String> + Sync),
}

/// The tables a request took out of the stream, by target name.
#[derive(Default)]
pub(crate) struct Controlled {
    pub paused: HashSet<String>,
    pub excluded: HashSet<String>,
}

impl Controlled {
    /// Whether continuous verify and reloads leave `target_table` alone.
    pub(crate) fn holds_back(&self, target_table: &str) -> bool {
        self.paused.contains(target_table) || self.excluded.contains(target_table)
    }
}

/// Takes up the requests of the schema and brings `c` up to date (kept by the caller).
pub(crate) async fn take_requests(sink: &Sink<'_>, e: Engine<'_>, c: &mut Controlled) -> Result<(), SyncError> {
    let (target, schema) = (sink.target, sink.schema);
    let controls = target.table_controls(schema).await?;
    let with = |states: &[&str]| -> HashSet<String> { controls.iter().filter(|r| states.contains(&r.status.as_str())).map(|r| r.table.clone()).collect() };
    let (paused, excluded) = (with(&["paused", "resuming"]), with(&["excluded", "including"]));
    if let Some(m) = e.monitor {
        for r in controls.iter().filter(|r| paused.contains(&r.table) && !c.paused.contains(&r.table)) {
            m.emit(Event::Paused { table: r.table.clone(), held: r.held.max(0) as u64 });
        }
        // Resumed elsewhere: by a DDL statement on it (`PgTarget::release_for_ddl`).
        for t in c.paused.iter().filter(|t| !paused.contains(*t)) {
            m.emit(Event::Resumed { table: t.clone(), applied: 0 });
        }
        for t in excluded.iter().filter(|t| !c.excluded.contains(*t)) {
            m.emit(Event::Excluded { table: t.clone() });
        }
    }
    (c.paused, c.excluded) = (paused, excluded);
    for r in controls {
        let t = e.tables.values().find(|t| t.plan.target.name == r.table);
        let (table, status) = (r.table.clone(), r.status.clone());
        let refuse = |why: String| async move {
            let asked = ferry_target_postgres::controls::Control::asked_by(&status).map(|c| c.as_str()).unwrap_or("request");
            tracing::warn!("{asked} of {table} refused: {why}");
            target.refuse_control(schema, &table, &why).await
        };
        match r.status.as_str() {
            "pausing" => {
                if let Some(why) = refusal(sink, &r.table, t, e.stopped, e.reloading, true) {
                    refuse(why).await?;
                    continue;
                }
                let t = t.expect("refused when missing");
                flush(sink, e.tables, e.batch, e.stopped, e.report, e.monitor).await?;
                let columns: Vec<String> = t.plan.target.columns.iter().map(|c| c.name.clone()).collect();
                let key: Vec<String> = t.key.iter().map(|&k| columns[k].clone()).collect();
                target.pause_table(schema, &r.table, &columns, &key).await?;
                if e.checker.as_ref().is_some_and(|ch| ch.table == r.table) {
                    *e.checker = None;
                }
                tracing::info!("paused {}: its changes are held until `ferry resume`", r.table);
                c.paused.insert(r.table.clone());
                if let Some(m) = e.monitor {
                    m.emit(Event::Paused { table: r.table.clone(), held: 0 });
                }
            }
            "resuming" => {
                flush(sink, e.tables, e.batch, e.stopped, e.report, e.monitor).await?;
                let applied = target.resume_table(schema, &r.table).await?;
                tracing::info!("resumed {}: {applied} held changes applied", r.table);
                c.paused.remove(&r.table);
                if let Some(m) = e.monitor {
                    m.emit(Event::Resumed { table: r.table.clone(), applied: applied.max(0) as u64 });
                }
            }
            "excluding" => {
                if let Some(why) = refusal(sink, &r.table, t, e.stopped, e.reloading, false) {
                    refuse(why).await?;
                    continue;
                }
                flush(sink, e.tables, e.batch, e.stopped, e.report, e.monitor).await?;
                target.exclude_table(schema, &r.table).await?;
                if e.checker.as_ref().is_some_and(|ch| ch.table == r.table) {
                    *e.checker = None;
                }
                tracing::warn!("excluded {}: its changes are skipped from now on, until `ferry include` (which reloads it)", r.table);
                c.excluded.insert(r.table.clone());
                if let Some(m) = e.monitor {
                    m.emit(Event::Excluded { table: r.table.clone() });
                }
            }
            "including" => {
                // Include is a reload: what would refuse the reload refuses the include (else the
                // table would stream again without the rows it missed).
                if let Some(why) = t.and_then(|t| (e.cannot_reload)(t)) {
                    refuse(format!("{why} (an included table is reloaded to get the changes it missed)")).await?;
                    continue;
                }
                flush(sink, e.tables, e.batch, e.stopped, e.report, e.monitor).await?;
                target.include_table(schema, &r.table).await?;
                tracing::info!("included {}: it streams again, and a reload brings the rows it missed", r.table);
                c.excluded.remove(&r.table);
                if let Some(m) = e.monitor {
                    m.emit(Event::Included { table: r.table.clone() });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why `table` cannot pause (or be excluded) now, if it cannot.
fn refusal(sink: &Sink<'_>, table: &str, t: Option<&TableApply>, stopped: &HashSet<String>, reloading: Option<&str>, pause: bool) -> Option<String> {
    let Some(t) = t else {
        return Some(format!("table {table} is not synced in schema \"{}\"", sink.schema));
    };
    if stopped.contains(&t.plan.source.name) {
        return Some(format!("table {table} is stopped (it takes no changes): see `ferry status`"));
    }
    if reloading == Some(table) {
        return Some(format!("a reload of table {table} is under way: ask again after it"));
    }
    if sink.reshape.is_some() {
        return Some("this schema has a [reshape] section: its reshaped tables are refreshed from the landing tables in every batch, so a landing table cannot be held back".into());
    }
    if pause && t.plan.converter.quarantine {
        return Some(format!("table {table} sets cells aside (ferry.quarantine is written with its rows): it cannot pause"));
    }
    if pause && !t.conflict.is_empty() {
        return Some(format!("table {table}'s target key extends the source's (a distributed Citus table): it cannot pause"));
    }
    None
}
