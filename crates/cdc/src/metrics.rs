//! Prometheus metrics of a running sync (`ferry sync --metrics-addr 127.0.0.1:9187`), in the text
//! exposition format at `GET /metrics`.
//!
//! The counters are this process's (since it started); `ferry status` shows the totals the
//! state schema keeps across runs. Values are updated after each batch commits, so a scrape
//! never shows a change the target does not hold. Lag is the time from the source's commit of
//! the batch's last transaction to the target's commit (second resolution: binlog timestamps),
//! and 0 while the source is idle (heartbeats).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct State {
    transactions: u64,
    rows: u64,
    batches: u64,
    retries: u64,
    lag_seconds: f64,
    last_apply_seconds: f64,
    position: String,
    /// Per target table: inserts, updates, deletes, DDL, stopped.
    tables: BTreeMap<String, [u64; 5]>,
}

/// Shared by the engine (writer) and the HTTP endpoint (reader).
#[derive(Default)]
pub struct Metrics {
    state: Mutex<State>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// One table's change counts in a committed batch.
pub struct TableCounts {
    pub table: String,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
}

impl Metrics {
    pub(crate) fn batch(&self, transactions: u64, position: String, source_time: u64, apply_seconds: f64, tables: &[TableCounts], ddl: &[String]) {
        let mut s = self.state.lock().unwrap();
        s.transactions += transactions;
        s.batches += 1;
        s.position = position;
        s.last_apply_seconds = apply_seconds;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        s.lag_seconds = if source_time > 0 { (now - source_time as f64).max(0.0) } else { 0.0 };
        for t in tables {
            s.rows += t.inserts + t.updates + t.deletes;
            let e = s.tables.entry(t.table.clone()).or_default();
            e[0] += t.inserts;
            e[1] += t.updates;
            e[2] += t.deletes;
        }
        for t in ddl {
            s.tables.entry(t.clone()).or_default()[3] += 1;
        }
    }

    pub(crate) fn stopped(&self, table: &str) {
        self.state.lock().unwrap().tables.entry(table.to_string()).or_default()[4] = 1;
    }

    pub(crate) fn retry(&self) {
        self.state.lock().unwrap().retries += 1;
    }

    pub(crate) fn idle(&self) {
        self.state.lock().unwrap().lag_seconds = 0.0;
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let s = self.state.lock().unwrap();
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        metric("ferry_sync_transactions_total", "counter", "Source transactions applied.", s.transactions.to_string());
        metric("ferry_sync_row_changes_total", "counter", "Row changes applied (before folding).", s.rows.to_string());
        metric("ferry_sync_batches_total", "counter", "Target transactions committed.", s.batches.to_string());
        metric("ferry_sync_retries_total", "counter", "Restarts from the committed position after a transient error.", s.retries.to_string());
        metric("ferry_sync_lag_seconds", "gauge", "Source commit to target commit of the last batch (0 when idle).", s.lag_seconds.to_string());
        metric("ferry_sync_last_apply_seconds", "gauge", "Time the last batch took to apply.", s.last_apply_seconds.to_string());
        let _ = writeln!(out, "# HELP ferry_sync_position_info The committed source position.\n# TYPE ferry_sync_position_info gauge");
        let _ = writeln!(out, "ferry_sync_position_info{{position=\"{}\"}} 1", escape(&s.position));
        let _ = writeln!(out, "# HELP ferry_sync_table_changes_total Row changes applied per table.\n# TYPE ferry_sync_table_changes_total counter");
        for (t, c) in &s.tables {
            for (op, v) in [("insert", c[0]), ("update", c[1]), ("delete", c[2])] {
                let _ = writeln!(out, "ferry_sync_table_changes_total{{table=\"{}\",op=\"{op}\"}} {v}", escape(t));
            }
        }
        let _ = writeln!(out, "# HELP ferry_sync_table_ddl_total Source DDL statements on the table.\n# TYPE ferry_sync_table_ddl_total counter");
        for (t, c) in &s.tables {
            let _ = writeln!(out, "ferry_sync_table_ddl_total{{table=\"{}\"}} {}", escape(t), c[3]);
        }
        let _ = writeln!(out, "# HELP ferry_sync_table_stopped 1 when a definite error stopped the table.\n# TYPE ferry_sync_table_stopped gauge");
        for (t, c) in &s.tables {
            let _ = writeln!(out, "ferry_sync_table_stopped{{table=\"{}\"}} {}", escape(t), c[4]);
        }
        out
    }

    /// Serves `GET /metrics` on `listener` until the process ends.
    pub async fn serve(self: std::sync::Arc<Self>, listener: tokio::net::TcpListener) {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { continue };
            let me = self.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = if path == "/metrics" { ("200 OK", me.render()) } else { ("404 Not Found", "ferry serves /metrics\n".to_string()) };
                let head =
                    format!("HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_exposition_format() {
        let m = Metrics::default();
        m.batch(3, "binlog.000001:1234".into(), 0, 0.01, &[TableCounts { table: "a\"b".into(), inserts: 2, updates: 1, deletes: 0 }], &["a\"b".into()]);
        m.stopped("c");
        let text = m.render();
        assert!(text.contains("ferry_sync_transactions_total 3\n"), "{text}");
        assert!(text.contains("ferry_sync_row_changes_total 3\n"));
        assert!(text.contains("ferry_sync_table_changes_total{table=\"a\\\"b\",op=\"insert\"} 2\n"), "{text}");
        assert!(text.contains("ferry_sync_table_ddl_total{table=\"a\\\"b\"} 1\n"));
        assert!(text.contains("ferry_sync_table_stopped{table=\"c\"} 1\n"));
        assert!(text.contains("ferry_sync_position_info{position=\"binlog.000001:1234\"} 1\n"));
    }
}
