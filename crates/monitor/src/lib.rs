//! The live view of a running sync. The engine reports everything it does as typed [`Event`]s
//! through one call ([`Monitor::emit`]); the [`View`] they add up to is what every reader shows:
//! the Prometheus text ([`prometheus`]), the JSON status and the live page with server-sent
//! events ([`serve`], axum). One state, so the page, `/status.json` and `/metrics` show the same
//! numbers for the same moment (each reader takes one [`Monitor::view`] snapshot). The page's
//! buttons (reload, pause, resume a table) go to [`Actions`] the caller supplies
//! ([`serve_with_actions`]); only requests with the page's [`ACTION_HEADER`] are taken.
//!
//! Values change only when the engine says so: a batch's counts are emitted after its target
//! transaction commits, so no reader ever shows a change the target does not hold. Throughput is
//! kept per 10-second bucket over the last 15 minutes ([`HISTORY_BUCKETS`]), per table and
//! overall.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds per throughput bucket, and buckets kept (15 minutes).
pub const BUCKET_SECONDS: u64 = 10;
pub const HISTORY_BUCKETS: usize = 90;

/// A table's state as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TableState {
    /// The full load is copying it.
    Loading,
    /// Loaded; changes are applied as they come.
    #[default]
    Streaming,
    /// A definite error stopped it (the error says which and what to do).
    Stopped,
    /// `ferry reload` is re-reading it while its changes keep streaming.
    Reloading,
    /// `ferry pause`: its changes are held in order until `ferry resume`.
    Paused,
    /// `ferry exclude`: its changes are skipped until `ferry include` (which reloads it).
    Excluded,
    /// The schema was cut over: sync is finished.
    CutOver,
}

/// One table's change counts in a committed batch.
#[derive(Debug, Clone, Default)]
pub struct TableCounts {
    pub table: String,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
}

/// Everything the engine reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// A full load starts: its tables with their estimated rows.
    LoadStarted {
        tables: Vec<(String, u64)>,
    },
    /// Rows of a table were loaded (committed chunks).
    LoadRows {
        table: String,
        rows: u64,
    },
    LoadDone {
        table: String,
    },
    /// A batch committed on the target.
    Batch {
        transactions: u64,
        position: String,
        source_time: u64,
        apply_seconds: f64,
        tables: Vec<TableCounts>,
        ddl: Vec<String>,
    },
    /// A definite error stopped a table.
    Stopped {
        table: String,
        error: String,
    },
    /// Sync restarted from the committed position after a transient error.
    Retry,
    /// The source is idle (a heartbeat with nothing to apply): lag is 0.
    Idle,
    /// How much change log the source keeps for this sync (binlog, WAL held by the slot…).
    Backlog {
        bytes: u64,
        what: String,
    },
    /// Continuous verify compared one chunk of a table with the source at the same position.
    VerifyChunk {
        table: String,
        differences: u64,
        samples: Vec<String>,
    },
    /// A verify pass over a table ended.
    VerifyPass {
        table: String,
    },
    /// `ferry pause` took effect: the table's changes are held from now on (`held` so far).
    Paused {
        table: String,
        held: u64,
    },
    /// `ferry resume` took effect: the held changes were applied and the table streams again.
    Resumed {
        table: String,
        applied: u64,
    },
    /// `ferry exclude` took effect: the table's changes are skipped from now on.
    Excluded {
        table: String,
    },
    /// `ferry include` took effect: it streams again (a reload brings what it missed).
    Included {
        table: String,
    },
    /// A reload of the table moved on (chunks done of all, rows of the last chunk) or ended.
    Reload {
        table: String,
        chunks_done: u64,
        chunks: u64,
        rows: u64,
        done: bool,
    },
}

/// One table as every reader shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableView {
    pub state: TableState,
    pub full_load_rows: u64,
    /// The full load's estimate (0: not loaded by this process).
    pub full_load_total: u64,
    /// Loading: seconds to go at the table's rate so far (rows left over rows per second since
    /// its first rows; None before them or without an estimate).
    pub eta_seconds: Option<u64>,
    /// When its first loaded rows were reported (unix seconds).
    #[serde(skip)]
    pub load_started: Option<f64>,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
    pub ddl: u64,
    pub error: Option<String>,
    /// Paused: the source changes held for it so far (applied when it resumes).
    pub held: u64,
    /// Changes per bucket, oldest first: (bucket start, unix seconds; changes).
    pub history: VecDeque<(u64, u64)>,
    /// A reload under way: chunks done, chunks in all, rows reloaded by this process.
    pub reload: Option<(u64, u64, u64)>,
    /// Continuous verify: passes finished, the differences the last one found (rows only one
    /// side has, each way), and a few of their keys.
    pub verify_passes: u64,
    pub verify_differences: Option<u64>,
    /// Differences found by every pass so far, summed (0: no pass ever found one).
    pub verify_differences_total: u64,
    pub verify_samples: Vec<String>,
    /// Differences of the pass under way.
    #[serde(skip)]
    pub pending_differences: u64,
    #[serde(skip)]
    pub pending_samples: Vec<String>,
}

/// The whole sync as every reader shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct View {
    /// `loading`, `streaming`, `stopped tables`, `tables held back` (paused or excluded) or `cut over`.
    pub state: String,
    /// When this view was taken (unix seconds, fractional).
    pub at: f64,
    pub position: String,
    pub lag_seconds: f64,
    /// Unix seconds of the last event (the page marks itself stale when it stops moving).
    pub last_event: f64,
    pub transactions: u64,
    pub rows: u64,
    pub batches: u64,
    pub retries: u64,
    pub last_apply_seconds: f64,
    pub backlog_bytes: Option<u64>,
    pub backlog_what: String,
    pub history: VecDeque<(u64, u64)>,
    pub tables: BTreeMap<String, TableView>,
}

/// The state events add up to; shared by the engine (emit) and the readers (view).
#[derive(Default)]
pub struct Monitor {
    view: Mutex<View>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Monitor")
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

fn add_history(h: &mut VecDeque<(u64, u64)>, at: f64, n: u64) {
    let bucket = (at as u64) / BUCKET_SECONDS * BUCKET_SECONDS;
    match h.back_mut() {
        Some((b, c)) if *b == bucket => *c += n,
        _ => h.push_back((bucket, n)),
    }
    while h.front().is_some_and(|(b, _)| *b + BUCKET_SECONDS * HISTORY_BUCKETS as u64 <= bucket) {
        h.pop_front();
    }
}

impl Monitor {
    /// The one place the engine reports to.
    pub fn emit(&self, e: Event) {
        let mut v = self.view.lock().unwrap();
        let at = now();
        v.last_event = at;
        match e {
            Event::LoadStarted { tables } => {
                for (t, total) in tables {
                    let tv = v.tables.entry(t).or_default();
                    tv.state = TableState::Loading;
                    tv.full_load_total = total;
                }
            }
            Event::LoadRows { table, rows } => {
                let tv = v.tables.entry(table).or_default();
                let started = *tv.load_started.get_or_insert(at);
                tv.full_load_rows += rows;
                tv.eta_seconds = eta(tv.full_load_rows, tv.full_load_total, at - started);
                add_history(&mut tv.history, at, rows);
                add_history(&mut v.history, at, rows);
            }
            Event::LoadDone { table } => {
                let tv = v.tables.entry(table).or_default();
                tv.eta_seconds = None;
                if tv.state == TableState::Loading {
                    tv.state = TableState::Streaming;
                }
            }
            Event::Batch { transactions, position, source_time, apply_seconds, tables, ddl } => {
                v.transactions += transactions;
                v.batches += 1;
                v.position = position;
                v.last_apply_seconds = apply_seconds;
                v.lag_seconds = if source_time > 0 { (at - source_time as f64).max(0.0) } else { 0.0 };
                for t in tables {
                    let n = t.inserts + t.updates + t.deletes;
                    v.rows += n;
                    add_history(&mut v.history, at, n);
                    let tv = v.tables.entry(t.table).or_default();
                    tv.inserts += t.inserts;
                    tv.updates += t.updates;
                    tv.deletes += t.deletes;
                    if tv.state == TableState::Paused {
                        tv.held += n;
                    }
                    add_history(&mut tv.history, at, n);
                }
                for t in ddl {
                    v.tables.entry(t).or_default().ddl += 1;
                }
            }
            Event::Stopped { table, error } => {
                let tv = v.tables.entry(table).or_default();
                tv.state = TableState::Stopped;
                tv.error = Some(error);
            }
            Event::VerifyChunk { table, differences, samples } => {
                let tv = v.tables.entry(table).or_default();
                tv.pending_differences += differences;
                tv.pending_samples.extend(samples);
                tv.pending_samples.truncate(6);
            }
            Event::VerifyPass { table } => {
                let tv = v.tables.entry(table).or_default();
                tv.verify_passes += 1;
                tv.verify_differences_total += tv.pending_differences;
                tv.verify_differences = Some(std::mem::take(&mut tv.pending_differences));
                tv.verify_samples = std::mem::take(&mut tv.pending_samples);
            }
            Event::Reload { table, chunks_done, chunks, rows, done } => {
                let tv = v.tables.entry(table).or_default();
                tv.state = if done { TableState::Streaming } else { TableState::Reloading };
                let so_far = tv.reload.map(|r| r.2).unwrap_or(0) + rows;
                tv.reload = (!done).then_some((chunks_done, chunks, so_far));
            }
            Event::Paused { table, held } => {
                let tv = v.tables.entry(table).or_default();
                tv.state = TableState::Paused;
                tv.held = held;
            }
            Event::Resumed { table, .. } => {
                let tv = v.tables.entry(table).or_default();
                if tv.state == TableState::Paused {
                    tv.state = TableState::Streaming;
                }
                tv.held = 0;
            }
            Event::Excluded { table } => v.tables.entry(table).or_default().state = TableState::Excluded,
            Event::Included { table } => {
                let tv = v.tables.entry(table).or_default();
                if tv.state == TableState::Excluded {
                    tv.state = TableState::Streaming;
                }
            }
            Event::Retry => v.retries += 1,
            Event::Idle => v.lag_seconds = 0.0,
            Event::Backlog { bytes, what } => {
                v.backlog_bytes = Some(bytes);
                v.backlog_what = what;
            }
        }
    }

    /// Replaces the whole view (`ferry status --http`: built from the state tables).
    pub fn replace(&self, mut view: View) {
        view.last_event = now();
        *self.view.lock().unwrap() = view;
    }

    /// One consistent snapshot.
    pub fn view(&self) -> View {
        let mut v = self.view.lock().unwrap().clone();
        v.at = now();
        v.state = overall_state(&v);
        v
    }
}

/// The full load's counts (the same the progress bars show) become events.
impl ferry_progress::Observer for Monitor {
    fn started(&self, tables: &[(String, u64)]) {
        self.emit(Event::LoadStarted { tables: tables.to_vec() });
    }
    fn rows(&self, table: &str, rows: u64) {
        self.emit(Event::LoadRows { table: table.to_string(), rows });
    }
    fn done(&self, table: &str) {
        self.emit(Event::LoadDone { table: table.to_string() });
    }
}

/// Seconds left for `total - done` rows at the rate `done` took `elapsed` seconds; None without
/// a rate yet, or when the estimate is passed (the total was an estimate).
fn eta(done: u64, total: u64, elapsed: f64) -> Option<u64> {
    if done == 0 || elapsed <= 0.0 || total <= done {
        return None;
    }
    Some(((total - done) as f64 * elapsed / done as f64).ceil() as u64)
}

fn overall_state(v: &View) -> String {
    if v.state == "cut over" {
        return v.state.clone();
    }
    if v.tables.values().any(|t| t.state == TableState::Loading) {
        "loading".into()
    } else if v.tables.values().any(|t| t.state == TableState::Stopped) {
        "stopped tables".into()
    } else if v.tables.values().any(|t| t.state == TableState::Paused || t.state == TableState::Excluded) {
        "tables held back".into()
    } else if v.tables.values().all(|t| t.state == TableState::CutOver) && !v.tables.is_empty() {
        "cut over".into()
    } else {
        "streaming".into()
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The Prometheus text exposition format of a view.
pub fn prometheus(v: &View) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric("ferry_sync_transactions_total", "counter", "Source transactions applied.", v.transactions.to_string());
    metric("ferry_sync_row_changes_total", "counter", "Row changes applied (before folding).", v.rows.to_string());
    metric("ferry_sync_batches_total", "counter", "Target transactions committed.", v.batches.to_string());
    metric("ferry_sync_retries_total", "counter", "Restarts from the committed position after a transient error.", v.retries.to_string());
    metric("ferry_sync_lag_seconds", "gauge", "Source commit to target commit of the last batch (0 when idle).", v.lag_seconds.to_string());
    metric("ferry_sync_last_apply_seconds", "gauge", "Time the last batch took to apply.", v.last_apply_seconds.to_string());
    if let Some(b) = v.backlog_bytes {
        metric("ferry_sync_backlog_bytes", "gauge", "Change log the source keeps for this sync.", b.to_string());
    }
    let _ = writeln!(out, "# HELP ferry_sync_position_info The committed source position.\n# TYPE ferry_sync_position_info gauge");
    let _ = writeln!(out, "ferry_sync_position_info{{position=\"{}\"}} 1", escape(&v.position));
    let _ = writeln!(out, "# HELP ferry_sync_table_changes_total Row changes applied per table.\n# TYPE ferry_sync_table_changes_total counter");
    for (t, c) in &v.tables {
        for (op, n) in [("insert", c.inserts), ("update", c.updates), ("delete", c.deletes)] {
            let _ = writeln!(out, "ferry_sync_table_changes_total{{table=\"{}\",op=\"{op}\"}} {n}", escape(t));
        }
    }
    let _ = writeln!(
        out,
        "# HELP ferry_sync_table_full_load_rows Rows of the table's full load copied by this process.\n# TYPE ferry_sync_table_full_load_rows gauge"
    );
    for (t, c) in &v.tables {
        let _ = writeln!(out, "ferry_sync_table_full_load_rows{{table=\"{}\"}} {}", escape(t), c.full_load_rows);
    }
    let _ = writeln!(out, "# HELP ferry_sync_table_ddl_total Source DDL statements on the table.\n# TYPE ferry_sync_table_ddl_total counter");
    for (t, c) in &v.tables {
        let _ = writeln!(out, "ferry_sync_table_ddl_total{{table=\"{}\"}} {}", escape(t), c.ddl);
    }
    let _ = writeln!(
        out,
        "# HELP ferry_sync_table_verify_differences Rows the last continuous-verify pass found different.\n# TYPE ferry_sync_table_verify_differences gauge"
    );
    for (t, c) in &v.tables {
        if let Some(d) = c.verify_differences {
            let _ = writeln!(out, "ferry_sync_table_verify_differences{{table=\"{}\"}} {d}", escape(t));
        }
    }
    let _ = writeln!(out, "# HELP ferry_sync_table_stopped 1 when a definite error stopped the table.\n# TYPE ferry_sync_table_stopped gauge");
    for (t, c) in &v.tables {
        let _ = writeln!(out, "ferry_sync_table_stopped{{table=\"{}\"}} {}", escape(t), u8::from(c.state == TableState::Stopped));
    }
    let _ = writeln!(out, "# HELP ferry_sync_table_held_changes Changes held for a paused table (0: not paused).\n# TYPE ferry_sync_table_held_changes gauge");
    for (t, c) in &v.tables {
        let _ = writeln!(out, "ferry_sync_table_held_changes{{table=\"{}\"}} {}", escape(t), c.held);
    }
    out
}

/// The page: self-contained (inline style and script, no fetch but its own `/events`).
pub const PAGE: &str = include_str!("page.html");

/// The page with `view` in it (shown before the first event arrives).
pub fn page(view: &View, actions: bool) -> String {
    // Inside a <script>: `</` would end it.
    let json = serde_json::to_string(view).unwrap_or_else(|_| "null".into()).replace("</", "<\\/");
    PAGE.replace("/*INITIAL_VIEW*/null", &json).replace("/*ACTIONS*/false", if actions { "true" } else { "false" })
}

/// What the page's buttons ask of the running sync, per table (`POST /tables/{table}/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `ferry reload TABLE` (the whole table).
    Reload,
    /// `ferry pause TABLE`.
    Pause,
    /// `ferry resume TABLE`.
    Resume,
    /// `ferry exclude TABLE`.
    Exclude,
    /// `ferry include TABLE`.
    Include,
}

impl Action {
    fn parse(text: &str) -> Option<Action> {
        match text {
            "reload" => Some(Action::Reload),
            "pause" => Some(Action::Pause),
            "resume" => Some(Action::Resume),
            "exclude" => Some(Action::Exclude),
            "include" => Some(Action::Include),
            _ => None,
        }
    }
}

/// Carries out an action on a table (the request goes to the target's state, where the running
/// sync takes it up): Ok(what was asked), or Err(why not).
pub type Actions = std::sync::Arc<dyn Fn(String, Action) -> futures_util::future::BoxFuture<'static, Result<String, String>> + Send + Sync>;

/// The header a request for an action must carry. A browser sends a custom header across
/// origins only after a CORS preflight, which this server never grants: another site open in the
/// same browser cannot press the buttons (cross-site request forgery).
pub const ACTION_HEADER: &str = "x-ferry-action";

/// Serves the page (`/`), its server-sent events (`/events`, one view a second), `/status.json`
/// and `/metrics` on `listener` until the process ends.
pub async fn serve(monitor: std::sync::Arc<Monitor>, listener: tokio::net::TcpListener) {
    serve_with_actions(monitor, listener, None).await
}

/// [`serve`], and with `actions` the page's buttons (reload, pause, resume, exclude, include a
/// table) and their `POST /tables/{table}/{action}` endpoint.
pub async fn serve_with_actions(monitor: std::sync::Arc<Monitor>, listener: tokio::net::TcpListener, actions: Option<Actions>) {
    use axum::http::StatusCode;
    use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
    use axum::response::{Html, IntoResponse};
    use axum::routing::{get, post};
    use futures_util::StreamExt;
    let m = monitor.clone();
    let events = move || {
        let m = m.clone();
        async move {
            let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(std::time::Duration::from_secs(1)));
            let stream = ticks.map(move |_| {
                let json = serde_json::to_string(&m.view()).unwrap_or_default();
                Ok::<_, std::convert::Infallible>(SseEvent::default().event("view").data(json))
            });
            Sse::new(stream).keep_alive(KeepAlive::default())
        }
    };
    let (m0, m1, m2) = (monitor.clone(), monitor.clone(), monitor.clone());
    let with_actions = actions.is_some();
    let act = move |axum::extract::Path((table, action)): axum::extract::Path<(String, String)>, headers: axum::http::HeaderMap| {
        let actions = actions.clone();
        async move {
            let Some(actions) = actions else {
                return (StatusCode::NOT_FOUND, "this page takes no actions (no sync runs here)".to_string());
            };
            if headers.get(ACTION_HEADER).is_none() {
                return (StatusCode::FORBIDDEN, format!("an action needs the {ACTION_HEADER} header (the page's buttons send it)"));
            }
            let Some(action) = Action::parse(&action) else {
                return (StatusCode::NOT_FOUND, format!("no action {action:?}: reload, pause, resume, exclude or include"));
            };
            match actions(table, action).await {
                Ok(said) => (StatusCode::OK, said),
                Err(why) => (StatusCode::CONFLICT, why),
            }
        }
    };
    let app = axum::Router::new()
        .route("/", get(move || async move { Html(page(&m0.view(), with_actions)) }))
        .route("/tables/{table}/{action}", post(act))
        .route("/events", get(events))
        .route("/status.json", get(move || async move { axum::Json(m1.view()) }))
        .route(
            "/metrics",
            get(move || async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], prometheus(&m2.view())).into_response() }),
        );
    let _ = axum::serve(listener, app).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_add_up_to_one_view_every_reader_shows() {
        let m = Monitor::default();
        m.emit(Event::LoadStarted { tables: vec![("a\"b".into(), 10), ("c".into(), 5)] });
        m.emit(Event::LoadRows { table: "a\"b".into(), rows: 10 });
        assert_eq!(m.view().state, "loading");
        m.emit(Event::LoadDone { table: "a\"b".into() });
        m.emit(Event::LoadDone { table: "c".into() });
        m.emit(Event::Batch {
            transactions: 3,
            position: "binlog.000001:1234".into(),
            source_time: 0,
            apply_seconds: 0.01,
            tables: vec![TableCounts { table: "a\"b".into(), inserts: 2, updates: 1, deletes: 0 }],
            ddl: vec!["a\"b".into()],
        });
        m.emit(Event::Stopped { table: "c".into(), error: "bad value".into() });
        let v = m.view();
        assert_eq!(v.state, "stopped tables");
        assert_eq!((v.transactions, v.rows, v.batches), (3, 3, 1));
        assert_eq!(v.tables["a\"b"].full_load_rows, 10);
        assert_eq!(v.history.iter().map(|(_, n)| n).sum::<u64>(), 13);
        let text = prometheus(&v);
        assert!(text.contains("ferry_sync_transactions_total 3\n"), "{text}");
        assert!(text.contains("ferry_sync_row_changes_total 3\n"));
        assert!(text.contains("ferry_sync_table_changes_total{table=\"a\\\"b\",op=\"insert\"} 2\n"), "{text}");
        assert!(text.contains("ferry_sync_table_ddl_total{table=\"a\\\"b\"} 1\n"));
        assert!(text.contains("ferry_sync_table_stopped{table=\"c\"} 1\n"));
        assert!(text.contains("ferry_sync_table_full_load_rows{table=\"a\\\"b\"} 10\n"));
        assert!(text.contains("ferry_sync_position_info{position=\"binlog.000001:1234\"} 1\n"));
    }

    #[test]
    fn history_keeps_fifteen_minutes_of_buckets() {
        let mut h = VecDeque::new();
        for i in 0..200u64 {
            add_history(&mut h, (1_000_000 + i * BUCKET_SECONDS) as f64, 1);
        }
        assert_eq!(h.len(), HISTORY_BUCKETS);
        add_history(&mut h, (1_000_000 + 199 * BUCKET_SECONDS + 1) as f64, 4);
        assert_eq!(h.back(), Some(&(1_000_000 + 199 * BUCKET_SECONDS, 5)));
    }

    #[test]
    fn a_loading_tables_eta_is_the_rows_left_at_its_rate_so_far() {
        assert_eq!(eta(250, 1000, 10.0), Some(30));
        assert_eq!(eta(0, 1000, 10.0), None, "no rate yet");
        assert_eq!(eta(1200, 1000, 10.0), None, "past the estimate");
        let m = Monitor::default();
        m.emit(Event::LoadStarted { tables: vec![("t".into(), 1000)] });
        m.emit(Event::LoadRows { table: "t".into(), rows: 100 });
        assert_eq!(m.view().tables["t"].eta_seconds, None, "the first rows start the clock");
        m.emit(Event::LoadDone { table: "t".into() });
        assert_eq!(m.view().tables["t"].eta_seconds, None);
    }
}
