//! Command-line flags.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ferry", version, about = "Move a live database into PostgreSQL, with proof that nothing was lost")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct Common {
    /// TOML config with source, target and rules (see README).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Source URL, e.g. mysql://user@host:3306/database, postgres://user@host/db?schema=app or
    /// sqlite:///path/app.db (password: FERRY_SOURCE_PASSWORD).
    #[arg(long, env = "FERRY_SOURCE_URL", hide_env_values = true)]
    pub source: Option<String>,
    /// Target URL, e.g. postgres://user@host:5432/database (password: FERRY_TARGET_PASSWORD).
    #[arg(long, env = "FERRY_TARGET_URL", hide_env_values = true)]
    pub target: Option<String>,
    /// Target schema (default: the source database name, after the identifier rule).
    #[arg(long)]
    pub schema: Option<String>,
}

/// `90s`, `30m`, `2h` (or plain seconds).
fn duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("{s}: give a number and a unit, e.g. 30m"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s}: the unit is s, m or h")),
    };
    Ok(std::time::Duration::from_secs(secs.max(1)))
}

#[derive(Clone, Copy, ValueEnum)]
pub enum IfExistsArg {
    Fail,
    Drop,
    Truncate,
}

impl From<IfExistsArg> for ferry_plan::config::IfExists {
    fn from(a: IfExistsArg) -> Self {
        match a {
            IfExistsArg::Fail => Self::Fail,
            IfExistsArg::Drop => Self::Drop,
            IfExistsArg::Truncate => Self::Truncate,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Auto,
    Text,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum ErdFormat {
    Mermaid,
    Dot,
    Svg,
}

#[derive(Subcommand)]
pub enum Command {
    /// Prove the target equals the source: chunked checksums computed in both databases,
    /// bisection to the differing rows, row-level diff; `--repair` fixes what differs.
    Verify {
        #[command(flatten)]
        common: Common,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Apply the differences (insert / update / delete by key) to the target, then verify again.
        #[arg(long)]
        repair: bool,
        /// Also run every converted view on both sides and compare the rows they return.
        #[arg(long)]
        objects: bool,
        /// Rows per checksum chunk (default: the migrate chunk size).
        #[arg(long)]
        chunk_rows: Option<u64>,
        /// Chunks compared at once (default: the migrate workers, 4).
        #[arg(long)]
        workers: Option<usize>,
        /// Print nothing but errors and the differences.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Full load plus change data capture: migrate (unless a sync of the schema already runs),
    /// then apply the source's binlog continuously, exactly once.
    Sync {
        #[command(flatten)]
        common: Common,
        /// Stop once every change up to the end of the source's binlog is applied.
        #[arg(long)]
        until_caught_up: bool,
        /// The replica server_id ferry reads the binlog as (must be unused; default: derived from the target database and schema).
        #[arg(long)]
        server_id: Option<u32>,
        /// Row changes per target transaction at most (whole source transactions always).
        #[arg(long)]
        batch_rows: Option<usize>,
        /// Print only errors and the final report.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Run the preflight checks only.
        #[arg(long)]
        check: bool,
        /// Prepare the source for capture first, for sources whose capture writes to them
        /// (SQLite: change-log triggers and a log table in the file; `ferry cutover` removes them).
        #[arg(long)]
        setup: bool,
        /// Serve the live status page at http://ADDR/ (e.g. 127.0.0.1:8080), with its events at
        /// /events, the same numbers as JSON at /status.json and Prometheus metrics at /metrics.
        #[arg(long, value_name = "ADDR", alias = "metrics-addr")]
        http: Option<String>,
        /// Continuous verify: compare every table with the source this often (`30m`, `90s`, `2h`),
        /// chunk by chunk, each chunk at the very position the target has committed — a difference
        /// is real, never a change in flight (on the page, `/status.json`, `/metrics` and the log).
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        verify_every: Option<std::time::Duration>,
        /// Warn when the source keeps more than this many MB of log for the sync (PostgreSQL slot WAL).
        #[arg(long, default_value_t = 1024)]
        warn_backlog_mb: u64,
        /// Keep retrying a server that stays unreachable for this many seconds, then give up
        /// (saying so; the next run resumes).
        #[arg(long, default_value_t = 600, value_name = "SECONDS")]
        retry_for: u64,
    },
    /// Compare two schemas: Missing (in A, not B), Unexpected (in B, not A), Changed. A MySQL
    /// database compared with a PostgreSQL one is taken as ferry would convert it.
    Diff {
        /// Reference database URL (mysql://… or postgres://…).
        a: String,
        /// Compared database URL.
        b: String,
        /// Config with the rules a MySQL side is converted under (identifiers, enums, renames…).
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// PostgreSQL schema of A (default: the config's target schema, else the MySQL database name of the other side, else public).
        #[arg(long)]
        a_schema: Option<String>,
        /// PostgreSQL schema of B (same defaults).
        #[arg(long)]
        b_schema: Option<String>,
        /// Constraint and index names must match too (generated names are ignored by default).
        #[arg(long)]
        strict_names: bool,
        /// Print the differences as JSON.
        #[arg(long)]
        json: bool,
        /// Print the SQL that turns B (PostgreSQL) into A instead of the report.
        #[arg(long)]
        sql: bool,
        /// With --sql: also drop what only B has.
        #[arg(long)]
        allow_drop: bool,
    },
    /// Entity-relationship diagram of chosen tables: Mermaid (default), Graphviz DOT, or SVG.
    Erd {
        /// Database URL (mysql://… or postgres://…).
        url: String,
        /// PostgreSQL schema (default: public, or the config's target schema).
        #[arg(long)]
        schema: Option<String>,
        /// Tables to draw: SQL LIKE patterns (`%` any run), comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
        /// Also draw neighbours up to N relations away.
        #[arg(long, default_value_t = 0)]
        depth: usize,
        #[arg(long, value_enum, default_value_t = ErdFormat::Mermaid)]
        format: ErdFormat,
        /// Do not infer relations from column names.
        #[arg(long)]
        no_infer: bool,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
    },
    /// Write a complete, commented ferry.toml from what the source holds: every table with its
    /// row estimate, every rule with its choices, the columns the assessment flags as commented
    /// overrides (and, active, the overrides the data needs to load).
    Init {
        /// Source URL (password: FERRY_SOURCE_PASSWORD; never written to the file).
        #[arg(long, env = "FERRY_SOURCE_URL", hide_env_values = true)]
        source: String,
        /// Target URL (optional; password: FERRY_TARGET_PASSWORD; never written to the file).
        #[arg(long, env = "FERRY_TARGET_URL", hide_env_values = true)]
        target: Option<String>,
        /// Target schema (default: the source database name, after the identifier rule).
        #[arg(long)]
        schema: Option<String>,
        /// Where to write the config (`-`: standard output).
        #[arg(long, short = 'o', default_value = "ferry.toml")]
        output: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// Also suggest a Citus distribution ([target.citus]) that the plan accepts.
        #[arg(long)]
        citus: bool,
        /// Print what was found (the config, tables, flagged columns) as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (e.g. `ferry completions bash > /etc/bash_completion.d/ferry`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print ferry's man page (roff; e.g. `ferry man > /usr/local/share/man/man1/ferry.1`).
    Man,
    /// One self-contained HTML page: the plan's assessment, the last migrate and verify
    /// summaries, and the ER diagram of the target (inline SVG).
    Report {
        #[command(flatten)]
        common: Common,
        /// Where to write the page.
        #[arg(long, value_name = "FILE")]
        html: PathBuf,
    },
    /// Finish the migration: apply every change up to the source's current end of log, set every
    /// identity past the source's ids, validate constraints, record the final position, verify.
    Cutover {
        #[command(flatten)]
        common: Common,
        /// Make the source read-only first (SET GLOBAL read_only = ON; needs SUPER or READ_ONLY ADMIN).
        #[arg(long)]
        read_only_source: bool,
        /// Give up when catching up takes longer than this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        #[arg(long)]
        server_id: Option<u32>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sync position, lag and per-table counters, read from the target's state schema.
    Status {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        json: bool,
        /// Serve the live status page from the state tables at http://ADDR/ (when no sync runs
        /// with --http), refreshed every second, until interrupted.
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
    },
    /// Run your own SQL steps (the hand-written part of a final hop) on the target, statement
    /// by statement in one transaction: per statement its rows, a sample of the rows it
    /// changed, and errors with their line and column.
    Run {
        /// The SQL file.
        file: PathBuf,
        #[command(flatten)]
        common: Common,
        /// Roll everything back at the end (every statement still runs, each under a savepoint).
        #[arg(long)]
        dry_run: bool,
        /// Changed rows shown per statement.
        #[arg(long, default_value_t = 3)]
        sample: usize,
        #[arg(long)]
        json: bool,
    },
    /// Reload one table of a running sync (all rows, or those matching --where) while it keeps
    /// streaming: chunk by chunk, each in a source snapshot applied exactly where the stream
    /// reaches it; target rows the source no longer has are deleted.
    Reload {
        /// The table (source or target name).
        table: String,
        #[command(flatten)]
        common: Common,
        /// Only rows for which this PostgreSQL condition over the table's target columns holds.
        #[arg(long = "where", value_name = "CONDITION")]
        filter: Option<String>,
        /// Wait until the running sync has finished the reload, and print how it went.
        #[arg(long)]
        wait: bool,
    },
    /// Pause one table of a running sync: its changes are held in order (in schema `ferry`)
    /// while the other tables keep streaming, until `ferry resume`.
    Pause {
        /// The table (source or target name).
        table: String,
        #[command(flatten)]
        common: Common,
        /// Wait until the running sync has paused it (or refused, saying why).
        #[arg(long)]
        wait: bool,
    },
    /// Resume a paused table: the running sync applies the changes held for it, in one
    /// transaction, and streams it again.
    Resume {
        /// The table (source or target name).
        table: String,
        #[command(flatten)]
        common: Common,
        /// Wait until the running sync has applied what it held.
        #[arg(long)]
        wait: bool,
    },
    /// Exclude one table from a running sync: its changes are skipped from now on (its target
    /// rows stay as they are; its source DDL still applies) until `ferry include`.
    Exclude {
        /// The table (source or target name).
        table: String,
        #[command(flatten)]
        common: Common,
        /// Wait until the running sync has excluded it (or refused, saying why).
        #[arg(long)]
        wait: bool,
    },
    /// Include an excluded table again: it streams from now on and is reloaded (online, while
    /// every table streams), so the changes it missed reach it.
    Include {
        /// The table (source or target name).
        table: String,
        #[command(flatten)]
        common: Common,
        /// Wait until the reload that brings it up to date has finished.
        #[arg(long)]
        wait: bool,
    },
    /// Print the PostgreSQL DDL and the assessment; writes nothing.
    Plan {
        #[command(flatten)]
        common: Common,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Create the schema, load the data, then build keys, indexes, constraints and sequences.
    Migrate {
        #[command(flatten)]
        common: Common,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Print nothing but errors.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// What to do with planned tables that already exist in the target.
        #[arg(long, value_enum)]
        if_exists: Option<IfExistsArg>,
        /// Reader/writer lanes working at once (default 4).
        #[arg(long)]
        workers: Option<usize>,
        /// Continue an interrupted load of the same target schema from its last committed chunk.
        #[arg(long)]
        resume: bool,
        /// Rows per chunk for tables split by key ranges (default 250000).
        #[arg(long)]
        chunk_rows: Option<u64>,
        /// COPY format: auto (binary where every column allows it) or text.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Create the schema, tables, keys, indexes and constraints, and load no rows.
        #[arg(long, conflicts_with_all = ["data_only", "resume"])]
        schema_only: bool,
        /// Load the rows into existing tables (checked against the plan first; tables holding
        /// rows need --if-exists truncate).
        #[arg(long)]
        data_only: bool,
    },
}
