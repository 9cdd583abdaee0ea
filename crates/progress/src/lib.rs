//! Progress: indicatif bars (one per table plus an overall bar with rows/s and ETA) on a
//! terminal, a plain line every few seconds otherwise, nothing with `--quiet`. Counts come from
//! one place (the engine calls [`Progress::rows`]) and feed every display alike. Shared by
//! `migrate` ("loading") and `verify` ("verifying").

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars on a terminal, lines otherwise.
    Auto,
    /// Periodic plain lines on stderr.
    Lines,
    Quiet,
}

/// Receives what the bars show, for other displays (the live page of a sync): the tables with
/// their estimates, rows as they are counted, a table finished.
pub trait Observer: Send + Sync + std::fmt::Debug {
    fn started(&self, tables: &[(String, u64)]);
    fn rows(&self, table: &str, rows: u64);
    fn done(&self, table: &str);
}

pub struct Progress {
    observer: Option<Arc<dyn Observer>>,
    totals: Vec<u64>,
    done: Vec<AtomicU64>,
    names: Vec<String>,
    bars: Option<(MultiProgress, Vec<ProgressBar>, ProgressBar)>,
    lines: bool,
    started: Instant,
    /// What the busy tables are doing, for the plain lines ("loading", "verifying").
    verb: &'static str,
}

impl Progress {
    /// `tables`: (name, estimated rows) per table.
    pub fn new(verb: &'static str, mode: ProgressMode, tables: &[(String, u64)]) -> Arc<Progress> {
        Self::observed(verb, mode, tables, None)
    }

    /// [`Progress::new`], also telling `observer` every count.
    pub fn observed(verb: &'static str, mode: ProgressMode, tables: &[(String, u64)], observer: Option<Arc<dyn Observer>>) -> Arc<Progress> {
        if let Some(o) = &observer {
            o.started(tables);
        }
        let tty = std::io::stderr().is_terminal();
        let bars = if mode == ProgressMode::Auto && tty {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            let style = ProgressStyle::with_template("{prefix:>28} [{bar:30}] {human_pos:>11}/{human_len:11} {rps:>14} eta {eta}")
                .unwrap()
                .with_key("rps", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} rows/s", s.per_sec());
                })
                .progress_chars("=> ");
            let total: u64 = tables.iter().map(|t| t.1).sum();
            let overall = mp.add(ProgressBar::new(total.max(1)));
            overall.set_style(style.clone());
            overall.set_prefix("all tables");
            let per: Vec<ProgressBar> = tables
                .iter()
                .map(|(n, rows)| {
                    let b = mp.add(ProgressBar::new((*rows).max(1)));
                    b.set_style(style.clone());
                    b.set_prefix(n.chars().take(28).collect::<String>());
                    b
                })
                .collect();
            Some((mp, per, overall))
        } else {
            None
        };
        Arc::new(Progress {
            observer,
            totals: tables.iter().map(|t| t.1).collect(),
            done: tables.iter().map(|_| AtomicU64::new(0)).collect(),
            names: tables.iter().map(|t| t.0.clone()).collect(),
            bars,
            lines: mode == ProgressMode::Lines || (mode == ProgressMode::Auto && !tty),
            started: Instant::now(),
            verb,
        })
    }

    pub fn rows(&self, table: usize, n: u64) {
        let now = self.done[table].fetch_add(n, Ordering::Relaxed) + n;
        if let Some(o) = &self.observer {
            o.rows(&self.names[table], n);
        }
        if let Some((_, per, overall)) = &self.bars {
            if now > per[table].length().unwrap_or(0) {
                per[table].set_length(now);
            }
            per[table].inc(n);
            overall.inc(n);
        }
    }

    pub fn table_done(&self, table: usize) {
        if let Some(o) = &self.observer {
            o.done(&self.names[table]);
        }
        if let Some((_, per, _)) = &self.bars {
            per[table].finish();
        }
    }

    pub fn finish(&self) {
        if let Some((mp, per, overall)) = &self.bars {
            overall.finish();
            for b in per {
                b.finish();
            }
            let _ = mp.clear();
        }
    }

    fn line(&self) -> String {
        let done: u64 = self.done.iter().map(|d| d.load(Ordering::Relaxed)).sum();
        let total: u64 = self.totals.iter().sum();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let busy: Vec<&str> = self
            .names
            .iter()
            .zip(&self.done)
            .zip(&self.totals)
            .filter(|((_, d), t)| {
                let d = d.load(Ordering::Relaxed);
                d > 0 && d < **t
            })
            .map(|((n, _), _)| n.as_str())
            .take(4)
            .collect();
        format!(
            "progress: {done} of ~{total} rows ({:.0}%), {:.0} rows/s, {:.0}s{}",
            if total > 0 { (done as f64 / total as f64 * 100.0).min(100.0) } else { 100.0 },
            done as f64 / secs,
            secs,
            if busy.is_empty() { String::new() } else { format!("; {} {}", self.verb, busy.join(", ")) }
        )
    }

    /// Prints a line every `every` until the returned guard is dropped (lines mode only).
    pub fn ticker(self: &Arc<Self>, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        if !self.lines {
            return None;
        }
        let me = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", me.line());
            }
        }))
    }

    /// Prints a one-off message without breaking the bars.
    pub fn println(&self, msg: &str) {
        match &self.bars {
            Some((mp, _, _)) => {
                let _ = mp.println(msg);
            }
            None if self.lines => eprintln!("{msg}"),
            None => {}
        }
    }
}
