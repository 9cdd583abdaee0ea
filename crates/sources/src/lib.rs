//! The source registry (sqlx's `AnyDriver` idea): [`SOURCES`] says which crate reads which URL
//! scheme and what it can do; [`connect`] opens the source a URL names as one [`AnySource`],
//! which implements every source trait by handing each call to the engine's own crate, so the
//! engines (`load`, `verify`, `cdc`) and the binary drive any source without naming one.
//!
//! Adding a source: its crate, a [`Registered`] entry, a variant in `AnySource`/`AnyReader`
//! (and `AnyCdc`/`AnyStream` once it has a change stream) and its arm in [`each!`] (and
//! `each!`) — nothing in the engines (they see only the traits and [`Capabilities`]).

pub mod catalog;

use ferry_model::canonical::{Canon, ColumnText};
use ferry_model::cdc::{CdcSource, ChangeEvent, ChangeStream, LogPosition, PreflightCheck};
use ferry_model::{
    ByteSender, ChunkRange, Column, ErrorKind, Probe, RowSender, Schema, SnapshotPosition, SnapshotReader, Source, SourceError, Table, TableSelection,
    VerifySource,
};
use ferry_source_mssql::live::cdc::{MsCdc, MsChangeStream};
use ferry_source_mssql::{MsReader, MsScriptReader, MsScriptSource, MsSource};
use ferry_source_mysql::binlog::{MySqlCdc, MySqlChangeStream};
use ferry_source_mysql::{MySqlReader, MySqlSource};
use ferry_source_postgres::cdc::{PgCdc, PgChangeStream};
use ferry_source_postgres::{PgReader, PgSource};
use ferry_source_sqlite::cdc::{SqliteCdc, SqliteChangeStream};
use ferry_source_sqlite::{SqliteReader, SqliteSource};
use std::sync::Arc;

/// What a source can do, declared once; engines and the binary ask this instead of the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// How its change stream is read (`binlog`, `pgoutput`); None: no `ferry sync` yet.
    pub cdc: Option<&'static str>,
    /// Verify hashes computed in the source's SQL (no row leaves the source to be compared).
    pub hash_in_sql: bool,
    /// Every reader of a load shares one snapshot.
    pub shared_snapshot: bool,
    /// Chunks can travel as PostgreSQL binary COPY data untouched.
    pub raw_copy: bool,
    /// Cutover can stop the source's writes itself (`--read-only-source`).
    pub read_only: bool,
}

/// One registered source.
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    /// The kind positions and state name it by.
    pub kind: &'static str,
    /// URL schemes it reads (`scheme://…`).
    pub schemes: &'static [&'static str],
    /// What users call it.
    pub name: &'static str,
    /// An example URL, for messages.
    pub example: &'static str,
    pub capabilities: Capabilities,
}

/// Every source ferry reads.
pub const SOURCES: &[Registered] = &[
    Registered {
        kind: ferry_source_mysql::binlog::POSITION_KIND,
        schemes: &["mysql", "mariadb"],
        name: "MySQL/MariaDB",
        example: "mysql://user@host:3306/database",
        capabilities: Capabilities { cdc: Some("binlog"), hash_in_sql: true, shared_snapshot: true, raw_copy: false, read_only: true },
    },
    Registered {
        kind: ferry_source_postgres::cdc::POSITION_KIND,
        schemes: &["postgres", "postgresql"],
        name: "PostgreSQL",
        example: "postgres://user@host:5432/database?schema=public",
        capabilities: Capabilities { cdc: Some("pgoutput"), hash_in_sql: true, shared_snapshot: true, raw_copy: true, read_only: false },
    },
    Registered {
        kind: ferry_source_mssql::live::KIND,
        schemes: &["mssql", "sqlserver"],
        name: "SQL Server",
        example: "mssql://user@host:1433/database?schema=dbo",
        // No snapshot is shared between SQL Server connections (one per reader).
        capabilities: Capabilities { cdc: Some("cdc"), hash_in_sql: false, shared_snapshot: false, raw_copy: false, read_only: false },
    },
    Registered {
        kind: ferry_source_mssql::KIND,
        schemes: &["mssql-script"],
        name: "SQL Server T-SQL script",
        example: "mssql-script:path/to/schema-and-data.sql",
        capabilities: Capabilities { cdc: None, hash_in_sql: false, shared_snapshot: true, raw_copy: false, read_only: false },
    },
    Registered {
        kind: ferry_source_sqlite::KIND,
        schemes: &["sqlite"],
        name: "SQLite",
        example: "sqlite:///abs/path/app.db",
        capabilities: Capabilities { cdc: Some("triggers"), hash_in_sql: false, shared_snapshot: true, raw_copy: false, read_only: false },
    },
];

/// The registered source reading `url`, by its scheme (`scheme://…`, or `sqlite:file.db`).
pub fn registered(url: &str) -> Option<&'static Registered> {
    let scheme = url.split_once(':')?.0.to_ascii_lowercase();
    SOURCES.iter().find(|r| r.schemes.contains(&scheme.as_str()))
}

/// `url` is a PostgreSQL URL (also the form of every target).
pub fn is_postgres(url: &str) -> bool {
    registered(url).is_some_and(|r| r.kind == ferry_source_postgres::cdc::POSITION_KIND)
}

/// The error for a URL no registered source reads.
pub fn unknown_scheme(url: &str) -> SourceError {
    let known: Vec<String> = SOURCES.iter().map(|r| format!("{} ({})", r.example, r.name)).collect();
    SourceError::new(ErrorKind::Definite, format!("source {}: no source reads this URL; give one of: {}", ferry_model::redact_url(url), known.join(", ")))
}

/// Opens the source `url` names.
pub async fn connect(url: &str) -> Result<AnySource, SourceError> {
    connect_with(url, ferry_model::CellRules::default()).await
}

/// Opens the source `url` names, which introspects and reads under the user's cell `rules`
/// (sources whose declared types describe every cell ignore them).
pub async fn connect_with(url: &str, rules: ferry_model::CellRules) -> Result<AnySource, SourceError> {
    let r = registered(url).ok_or_else(|| unknown_scheme(url))?;
    match r.kind {
        ferry_source_mysql::binlog::POSITION_KIND => {
            let url = format!("mysql://{}", url.split_once("://").map(|(_, rest)| rest).unwrap_or(url));
            Ok(AnySource::MySql(Arc::new(MySqlSource::connect(&url).await?)))
        }
        ferry_source_postgres::cdc::POSITION_KIND => Ok(AnySource::Postgres(Arc::new(PgSource::connect(url).await?))),
        ferry_source_sqlite::KIND => Ok(AnySource::Sqlite(Arc::new(SqliteSource::connect_with(url, rules).await?))),
        ferry_source_mssql::KIND => Ok(AnySource::MsScript(Arc::new(MsScriptSource::connect(url)?))),
        ferry_source_mssql::live::KIND => {
            let url = format!("mssql://{}", url.split_once("://").map(|(_, rest)| rest).unwrap_or(url));
            Ok(AnySource::MsSql(Arc::new(MsSource::connect_with(&url, rules).await?)))
        }
        _ => Err(unknown_scheme(url)),
    }
}

/// A source of any registered kind.
pub enum AnySource {
    MySql(Arc<MySqlSource>),
    Postgres(Arc<PgSource>),
    Sqlite(Arc<SqliteSource>),
    MsScript(Arc<MsScriptSource>),
    MsSql(Arc<MsSource>),
}

/// A snapshot reader of any registered source.
pub enum AnyReader {
    MySql(MySqlReader),
    Postgres(PgReader),
    Sqlite(SqliteReader),
    MsScript(MsScriptReader),
    MsSql(MsReader),
}

/// The change capture of any registered source.
pub enum AnyCdc {
    MySql(MySqlCdc),
    Postgres(PgCdc),
    Sqlite(SqliteCdc),
    MsSql(MsCdc),
}

/// A change stream of any registered source.
pub enum AnyStream {
    MySql(MySqlChangeStream),
    Postgres(PgChangeStream),
    Sqlite(SqliteChangeStream),
    MsSql(MsChangeStream),
}

/// [`each!`] for the enums every source has a variant in (`AnySource`, `AnyReader`); the change
/// capture enums hold only the sources with a change stream.
macro_rules! each_source {
    ($value:expr, $any:ident, $s:ident => $body:expr) => {
        match $value {
            $any::MySql($s) => $body,
            $any::Postgres($s) => $body,
            $any::Sqlite($s) => $body,
            $any::MsScript($s) => $body,
            $any::MsSql($s) => $body,
        }
    };
}

/// Runs `$body` with `$s` bound to the inner value of `$value`, an `$any` enum, whatever its source.
macro_rules! each {
    ($value:expr, $any:ident, $s:ident => $body:expr) => {
        match $value {
            $any::MySql($s) => $body,
            $any::Postgres($s) => $body,
            $any::Sqlite($s) => $body,
            $any::MsSql($s) => $body,
        }
    };
}

impl AnySource {
    pub fn registered(&self) -> &'static Registered {
        let kind = match self {
            AnySource::MySql(_) => ferry_source_mysql::binlog::POSITION_KIND,
            AnySource::Postgres(_) => ferry_source_postgres::cdc::POSITION_KIND,
            AnySource::Sqlite(_) => ferry_source_sqlite::KIND,
            AnySource::MsScript(_) => ferry_source_mssql::KIND,
            AnySource::MsSql(_) => ferry_source_mssql::live::KIND,
        };
        SOURCES.iter().find(|r| r.kind == kind).expect("every source is registered")
    }

    pub fn capabilities(&self) -> Capabilities {
        self.registered().capabilities
    }

    /// The change capture of sync job `job` (a number stable per target schema): MySQL reads as
    /// replica `server_id` (default `job`), PostgreSQL through the job's slot, SQLite through
    /// its change-log triggers. Err for a source without a change stream, saying so.
    pub fn cdc(&self, job: u32, server_id: Option<u32>) -> Result<AnyCdc, SourceError> {
        Ok(match self {
            AnySource::MySql(s) => AnyCdc::MySql(MySqlCdc { source: s.clone(), server_id: server_id.unwrap_or(job) }),
            AnySource::Postgres(s) => AnyCdc::Postgres(PgCdc { source: s.clone(), slot: ferry_source_postgres::cdc::slot_name(job) }),
            AnySource::Sqlite(s) => AnyCdc::Sqlite(SqliteCdc { source: s.clone() }),
            AnySource::MsScript(_) => {
                return Err(SourceError::new(
                    ErrorKind::Definite,
                    "a T-SQL script has no change stream: `ferry migrate` loads it (sync needs the live SQL Server)",
                ))
            }
            AnySource::MsSql(s) => AnyCdc::MsSql(MsCdc { source: s.clone() }),
        })
    }

    /// Closes the source's connections now (instead of when the last reference goes).
    pub async fn close(self) {
        if let AnySource::MySql(s) = self {
            if let Ok(s) = Arc::try_unwrap(s) {
                s.disconnect().await;
            }
        }
    }
}

impl SnapshotReader for AnyReader {
    async fn read(&mut self, table: &Table, range: &ChunkRange, tx: RowSender) -> Result<u64, SourceError> {
        each_source!(self, AnyReader, r => r.read(table, range, tx).await)
    }

    fn supports_raw(&self) -> bool {
        each_source!(self, AnyReader, r => r.supports_raw())
    }

    async fn read_raw(
        &mut self,
        table: &Table,
        columns: &[usize],
        range: &ChunkRange,
        tx: ByteSender,
        bytes: &std::sync::atomic::AtomicU64,
    ) -> Result<(), SourceError> {
        each_source!(self, AnyReader, r => r.read_raw(table, columns, range, tx, bytes).await)
    }
}

impl Source for AnySource {
    type Reader = AnyReader;

    async fn introspect(&self, select: TableSelection<'_>) -> Result<Schema, SourceError> {
        each_source!(self, AnySource, s => s.introspect(select).await)
    }

    async fn probe(&self, table: &str, column: &str, probe: Probe) -> Result<u64, SourceError> {
        each_source!(self, AnySource, s => s.probe(table, column, probe).await)
    }

    async fn probe_table(&self, table: &str, probes: &[(String, Probe)]) -> Result<Vec<u64>, SourceError> {
        each_source!(self, AnySource, s => s.probe_table(table, probes).await)
    }

    async fn plan_chunks(&self, table: &Table, rows_per_chunk: u64) -> Result<Vec<ChunkRange>, SourceError> {
        each_source!(self, AnySource, s => s.plan_chunks(table, rows_per_chunk).await)
    }

    async fn open_snapshot(&self, readers: usize) -> Result<(Vec<AnyReader>, SnapshotPosition), SourceError> {
        match self {
            AnySource::MySql(s) => s.open_snapshot(readers).await.map(|(r, p)| (r.into_iter().map(AnyReader::MySql).collect(), p)),
            AnySource::Postgres(s) => s.open_snapshot(readers).await.map(|(r, p)| (r.into_iter().map(AnyReader::Postgres).collect(), p)),
            AnySource::Sqlite(s) => s.open_snapshot(readers).await.map(|(r, p)| (r.into_iter().map(AnyReader::Sqlite).collect(), p)),
            AnySource::MsScript(s) => s.open_snapshot(readers).await.map(|(r, p)| (r.into_iter().map(AnyReader::MsScript).collect(), p)),
            AnySource::MsSql(s) => s.open_snapshot(readers).await.map(|(r, p)| (r.into_iter().map(AnyReader::MsSql).collect(), p)),
        }
    }

    fn convert_objects(&self, schema: &Schema, names: &dyn ferry_model::TargetNames) -> Vec<ferry_model::ConvertedObject> {
        each_source!(self, AnySource, s => s.convert_objects(schema, names))
    }
}

impl VerifySource for AnySource {
    fn canonical_expr(&self, column: &Column, canon: Canon) -> String {
        each_source!(self, AnySource, s => s.canonical_expr(column, canon))
    }

    fn set_aside_exprs(&self, column: &Column) -> Option<[String; 2]> {
        each_source!(self, AnySource, s => s.set_aside_exprs(column))
    }

    fn quote(&self, ident: &str) -> String {
        each_source!(self, AnySource, s => s.quote(ident))
    }

    fn key_bound_exprs(&self, quoted_column: &str) -> [String; 2] {
        each_source!(self, AnySource, s => s.key_bound_exprs(quoted_column))
    }

    async fn key_bounds(&self, table: &Table, column: &str, range: &ChunkRange) -> Result<(Option<i128>, Option<i128>), SourceError> {
        each_source!(self, AnySource, s => s.key_bounds(table, column, range).await)
    }

    async fn chunk_hash(&self, table: &Table, exprs: &[ColumnText], range: &ChunkRange) -> Result<(u64, String), SourceError> {
        each_source!(self, AnySource, s => s.chunk_hash(table, exprs, range).await)
    }

    async fn canonical_rows(&self, table: &Table, exprs: &[String], range: &ChunkRange) -> Result<Vec<Vec<Option<String>>>, SourceError> {
        each_source!(self, AnySource, s => s.canonical_rows(table, exprs, range).await)
    }

    async fn read_keys(&self, table: &Table, key_exprs: &[String], keys: &[Vec<String>], tx: RowSender) -> Result<u64, SourceError> {
        each_source!(self, AnySource, s => s.read_keys(table, key_exprs, keys, tx).await)
    }

    async fn evaluate(&self, expr: &str) -> Result<Option<String>, SourceError> {
        each_source!(self, AnySource, s => s.evaluate(expr).await)
    }
}

impl ChangeStream for AnyStream {
    async fn next(&mut self) -> Result<Option<ChangeEvent>, SourceError> {
        each!(self, AnyStream, s => s.next().await)
    }

    fn set_table(&mut self, table: Table) {
        each!(self, AnyStream, s => s.set_table(table))
    }

    fn forget_table(&mut self, name: &str) {
        each!(self, AnyStream, s => s.forget_table(name))
    }

    fn holds_large_buffers(&self) -> bool {
        each!(self, AnyStream, s => s.holds_large_buffers())
    }

    async fn confirm(&mut self, position: &LogPosition) -> Result<(), SourceError> {
        each!(self, AnyStream, s => s.confirm(position).await)
    }

    async fn nudge(&mut self) {
        each!(self, AnyStream, s => s.nudge().await)
    }
}

impl CdcSource for AnyCdc {
    type Stream = AnyStream;
    type Snapshot = AnySource;

    fn position_kind(&self) -> &'static str {
        each!(self, AnyCdc, c => c.position_kind())
    }

    fn parse_position(&self, text: &str) -> Option<LogPosition> {
        each!(self, AnyCdc, c => c.parse_position(text))
    }

    async fn setup(&self, tables: &[Table]) -> Result<Option<String>, SourceError> {
        each!(self, AnyCdc, c => c.setup(tables).await)
    }

    async fn preflight(&self) -> Result<Vec<PreflightCheck>, SourceError> {
        each!(self, AnyCdc, c => c.preflight().await)
    }

    async fn current_position(&self) -> Result<LogPosition, SourceError> {
        each!(self, AnyCdc, c => c.current_position().await)
    }

    async fn stream(&self, from: &LogPosition, tables: Vec<Table>, until_caught_up: bool) -> Result<AnyStream, SourceError> {
        match self {
            AnyCdc::MySql(c) => c.stream(from, tables, until_caught_up).await.map(AnyStream::MySql),
            AnyCdc::Postgres(c) => c.stream(from, tables, until_caught_up).await.map(AnyStream::Postgres),
            AnyCdc::Sqlite(c) => c.stream(from, tables, until_caught_up).await.map(AnyStream::Sqlite),
            AnyCdc::MsSql(c) => c.stream(from, tables, until_caught_up).await.map(AnyStream::MsSql),
        }
    }

    fn reuses_finished_load(&self) -> bool {
        each!(self, AnyCdc, c => c.reuses_finished_load())
    }

    async fn prepare_full_load(&self, tables: &[Table]) -> Result<Arc<AnySource>, SourceError> {
        Ok(Arc::new(match self {
            AnyCdc::MySql(c) => AnySource::MySql(c.prepare_full_load(tables).await?),
            AnyCdc::Postgres(c) => AnySource::Postgres(c.prepare_full_load(tables).await?),
            AnyCdc::Sqlite(c) => AnySource::Sqlite(c.prepare_full_load(tables).await?),
            AnyCdc::MsSql(c) => AnySource::MsSql(c.prepare_full_load(tables).await?),
        }))
    }

    fn commits_reach_every_position(&self) -> bool {
        each!(self, AnyCdc, c => c.commits_reach_every_position())
    }

    fn reloads_online(&self) -> bool {
        each!(self, AnyCdc, c => c.reloads_online())
    }

    async fn backlog(&self, committed: &LogPosition) -> Result<Option<(u64, String)>, SourceError> {
        each!(self, AnyCdc, c => c.backlog(committed).await)
    }

    async fn chunk_source(&self, tables: &[Table]) -> Result<Arc<AnySource>, SourceError> {
        Ok(Arc::new(match self {
            AnyCdc::MySql(c) => AnySource::MySql(c.chunk_source(tables).await?),
            AnyCdc::Postgres(c) => AnySource::Postgres(c.chunk_source(tables).await?),
            AnyCdc::Sqlite(c) => AnySource::Sqlite(c.chunk_source(tables).await?),
            AnyCdc::MsSql(c) => AnySource::MsSql(c.chunk_source(tables).await?),
        }))
    }

    async fn set_read_only(&self) -> Result<String, SourceError> {
        each!(self, AnyCdc, c => c.set_read_only().await)
    }

    async fn sequence_values(&self, names: &[String]) -> Result<Vec<(String, Option<i64>)>, SourceError> {
        each!(self, AnyCdc, c => c.sequence_values(names).await)
    }

    async fn release(&self) -> Result<Option<String>, SourceError> {
        each!(self, AnyCdc, c => c.release().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_find_their_source_by_scheme() {
        assert_eq!(registered("mariadb://u@h/db").map(|r| r.kind), Some("mysql"));
        assert_eq!(registered("POSTGRESQL://u@h/db").map(|r| r.kind), Some("postgres"));
        assert!(registered("oracle://u@h/db").is_none());
        assert_eq!(registered("sqlite:app.db").map(|r| r.kind), Some("sqlite"));
        assert_eq!(registered("sqlite:///var/app.db").map(|r| r.kind), Some("sqlite"));
        let e = unknown_scheme("oracle://u:secret@h/db").to_string();
        assert!(e.contains("mysql://") && e.contains("postgres://") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn every_kind_is_registered_once() {
        let mut kinds: Vec<&str> = SOURCES.iter().map(|r| r.kind).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), SOURCES.len());
    }
}
