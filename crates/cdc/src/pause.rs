//! `ferry pause` / `ferry resume` inside the running sync: requests are taken up between two
//! batches, never inside one.
//!
//! Guarantee, kept by [`take_requests`] with `ferry_target_postgres::hold`: a paused table's
//! changes are held in source order in the same transactions that advance the position, and a
//! resume applies them in one transaction between batches, so pausing loses and reorders
//! nothing. The batch under way is committed first: changes before the request reach the table,
//! changes after it are held. What cannot be held as well as applied is refused with why
//! (recorded on the request, which `ferry pause --wait` prints): a stopped table, a table under
//! reload, a schema with `[reshape]` (its reshaped tables are refreshed from the landing tables
//! in each batch), set-aside cells (`ferry.quarantine` is written with the rows), and a Citus
//! table whose target key extends the source's.

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
    /// The reload under way, if any (its table cannot pause).
    pub reloading: Option<&'a str>,
    /// Continuous verify's table under way: dropped when that table pauses.
    pub checker: &'a mut Option<Reloader>,
}

/// Takes up the pause and resume requests of the schema; `paused` becomes the set of paused
/// target tables (kept by the caller: reloads and continuous verify skip them).
pub(crate) async fn take_requests(sink: &Sink<'_>, e: Engine<'_>, paused: &mut HashSet<String>) -> Result<(), SyncError> {
    let (target, schema) = (sink.target, sink.schema);
    let holds = target.holds(schema).await?;
    let now: HashSet<String> = holds.iter().filter(|h| h.status == "paused" || h.status == "resuming").map(|h| h.table.clone()).collect();
    if let Some(m) = e.monitor {
        for h in holds.iter().filter(|h| now.contains(&h.table) && !paused.contains(&h.table)) {
            m.emit(Event::Paused { table: h.table.clone(), held: h.held.max(0) as u64 });
        }
        // Resumed elsewhere: by a DDL statement on it (`PgTarget::release_for_ddl`).
        for t in paused.iter().filter(|t| !now.contains(*t)) {
            m.emit(Event::Resumed { table: t.clone(), applied: 0 });
        }
    }
    *paused = now;
    for h in holds {
        match h.status.as_str() {
            "pausing" => {
                let t = e.tables.values().find(|t| t.plan.target.name == h.table);
                if let Some(why) = refusal(sink, &h.table, t, e.stopped, e.reloading) {
                    tracing::warn!("pause of {} refused: {why}", h.table);
                    target.refuse_pause(schema, &h.table, &why).await?;
                    continue;
                }
                let t = t.expect("refused when missing");
                flush(sink, e.tables, e.batch, e.stopped, e.report, e.monitor).await?;
                let columns: Vec<String> = t.plan.target.columns.iter().map(|c| c.name.clone()).collect();
                let key: Vec<String> = t.key.iter().map(|&k| columns[k].clone()).collect();
                target.pause_table(schema, &h.table, &columns, &key).await?;
                if e.checker.as_ref().is_some_and(|c| c.table == h.table) {
                    *e.checker = None;
                }
                tracing::info!("paused {}: its changes are held until `ferry resume`", h.table);
                paused.insert(h.table.clone());
                if let Some(m) = e.monitor {
                    m.emit(Event::Paused { table: h.table.clone(), held: 0 });
                }
            }
            "resuming" => {
                flush(sink, e.tables, e.batch, e.stopped, e.report, e.monitor).await?;
                let applied = target.resume_table(schema, &h.table).await?;
                tracing::info!("resumed {}: {applied} held changes applied", h.table);
                paused.remove(&h.table);
                if let Some(m) = e.monitor {
                    m.emit(Event::Resumed { table: h.table.clone(), applied: applied.max(0) as u64 });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why `table` cannot pause now, if it cannot.
fn refusal(sink: &Sink<'_>, table: &str, t: Option<&TableApply>, stopped: &HashSet<String>, reloading: Option<&str>) -> Option<String> {
    let Some(t) = t else {
        return Some(format!("table {table} is not synced in schema \"{}\"", sink.schema));
    };
    if stopped.contains(&t.plan.source.name) {
        return Some(format!("table {table} is stopped (it takes no changes to hold): see `ferry status`, then `ferry reload` it"));
    }
    if reloading == Some(table) {
        return Some(format!("a reload of table {table} is under way: pause it after the reload"));
    }
    if sink.reshape.is_some() {
        return Some(
            "this schema has a [reshape] section: its reshaped tables are refreshed from the landing tables in every batch, so a landing table cannot pause"
                .into(),
        );
    }
    if t.plan.converter.quarantine {
        return Some(format!("table {table} sets cells aside (ferry.quarantine is written with its rows): it cannot pause"));
    }
    if !t.conflict.is_empty() {
        return Some(format!("table {table}'s target key extends the source's (a distributed Citus table): it cannot pause"));
    }
    None
}
