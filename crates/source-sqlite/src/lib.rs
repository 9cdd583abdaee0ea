//! SQLite as a source: one database file, opened read-only (plan, migrate and verify never write
//! to it).
//!
//! Guarantees and why:
//! - **Types from the stored values.** A SQLite column's declared type only sets an affinity and
//!   any cell may hold any storage class, so introspection profiles every column
//!   ([`profile::Profile`], one pass per table) and [`profile::choose`] picks the type that holds
//!   every stored value: a VARCHAR(20) holding 40-character strings becomes `text`, an INTEGER
//!   column holding `'toto'` becomes `text`, dates are recognised in each of SQLite's four forms.
//!   Each such decision travels as [`ferry_model::Column::profile_note`] and the plan shows it,
//!   so nothing changes type silently.
//! - **One snapshot.** Every reader of a load holds a read transaction on the same state of the
//!   file ([`read::open_snapshot`]): in WAL mode the first reader's snapshot is opened by the
//!   others (`sqlite3_snapshot_open`); in rollback-journal mode the readers' shared locks forbid
//!   any commit from the first lock on, so all see the state at that instant.
//! - **Nothing converted twice the same way.** The reader converts stored cells in Rust
//!   ([`read::convert`]); verify's canonical texts come from SQLite's own functions over the
//!   stored cells ([`verify::canonical_expr`]), so a conversion bug shows up as a difference.
//!
//! URLs: `sqlite:///abs/path.db`, `sqlite:relative.db`, `sqlite://relative.db`.

pub mod cdc;
mod dates;
mod ddl;
mod introspect;
pub mod profile;
mod read;
mod verify;

use ferry_model::{split_int_range, CellRules, ChunkRange, ErrorKind, Probe, Schema, SnapshotPosition, Source, SourceError, Table, TableSelection};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

pub use read::SqliteReader;

/// The kind positions and state name this source by.
pub const KIND: &str = "sqlite";

/// The table SQLite sync keeps its change log in (never migrated).
pub const CHANGE_LOG: &str = "_ferry_changes";

/// A SQLite database file.
pub struct SqliteSource {
    path: PathBuf,
    /// The user's rules for cells the declared types do not describe.
    pub(crate) rules: CellRules,
}

/// `name` quoted for SQLite (standard double quotes).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `s` as a SQLite string literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The file a `sqlite:` URL names.
pub fn url_path(url: &str) -> Result<PathBuf, SourceError> {
    let rest = url
        .split_once(':')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("sqlite"))
        .map(|(_, rest)| rest)
        .ok_or_else(|| SourceError::new(ErrorKind::Definite, format!("{url}: not a sqlite: URL (sqlite:///abs/path.db or sqlite:relative.db)")))?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let rest = rest.split_once('?').map(|(p, _)| p).unwrap_or(rest);
    if rest.is_empty() {
        return Err(SourceError::new(ErrorKind::Definite, format!("{url}: the URL names no file (sqlite:///abs/path.db or sqlite:relative.db)")));
    }
    Ok(PathBuf::from(ferry_model::percent_decode(rest)))
}

pub(crate) fn map_error(e: rusqlite::Error) -> SourceError {
    use rusqlite::ErrorCode as C;
    let kind = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => ErrorKind::Transient,
        Some(C::CannotOpen) => ErrorKind::NotFound,
        Some(C::PermissionDenied | C::ReadOnly) => ErrorKind::Privilege,
        _ => ErrorKind::Definite,
    };
    SourceError::new(kind, e.to_string())
}

/// Runs blocking SQLite work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, SourceError> + Send + 'static) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| SourceError::new(ErrorKind::Definite, format!("a SQLite task failed: {e}")))?
}

impl SqliteSource {
    /// Opens `url`'s file read-only, checking it is a SQLite database.
    pub async fn connect(url: &str) -> Result<Self, SourceError> {
        Self::connect_with(url, CellRules::default()).await
    }

    /// As [`SqliteSource::connect`], introspecting and reading under the user's cell `rules`.
    pub async fn connect_with(url: &str, rules: CellRules) -> Result<Self, SourceError> {
        let path = url_path(url)?;
        let s = SqliteSource { path, rules };
        let p = s.path.clone();
        let conn = s.open()?;
        blocking(move || {
            conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
                .map_err(|e| map_error(e).context(format!("{}: not a readable SQLite database", p.display())))
        })
        .await?;
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new read-only connection with ferry's functions registered.
    pub(crate) fn open(&self) -> Result<Connection, SourceError> {
        if !self.path.exists() {
            return Err(SourceError::new(ErrorKind::NotFound, format!("{}: no such SQLite file", self.path.display())));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| map_error(e).context(self.path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(map_error)?;
        verify::register_functions(&conn).map_err(map_error)?;
        Ok(conn)
    }
}

impl Source for SqliteSource {
    type Reader = SqliteReader;

    async fn introspect(&self, select: TableSelection<'_>) -> Result<Schema, SourceError> {
        let conn = self.open()?;
        let name = self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "main".into());
        // The selection is not 'static: decide it here, then profile off the async threads.
        let names = introspect::table_names(&conn)?;
        let chosen: Vec<String> = names.into_iter().filter(|n| select(n)).collect();
        let rules = self.rules.clone();
        blocking(move || introspect::introspect(&conn, &name, &chosen, &rules)).await
    }

    /// The profile answered every question at introspection; SQLite declares no probes.
    async fn probe(&self, table: &str, column: &str, probe: Probe) -> Result<u64, SourceError> {
        Err(SourceError::new(
            ErrorKind::Definite,
            format!("table `{table}`, column `{column}`: a SQLite source is not probed ({probe:?}); its profile chose the type"),
        ))
    }

    async fn plan_chunks(&self, table: &Table, rows_per_chunk: u64) -> Result<Vec<ChunkRange>, SourceError> {
        let Some(key) = read::chunk_key(table) else { return Ok(vec![ChunkRange::All]) };
        let conn = self.open()?;
        let t = table.name.clone();
        let (min, max, rows) = blocking(move || {
            let sql = format!("SELECT min({k}), max({k}), count(*) FROM {}", quote_ident(&t), k = quote_ident(&key));
            conn.query_row(&sql, [], |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, i64>(2)?))).map_err(map_error)
        })
        .await?;
        let (Some(min), Some(max)) = (min, max) else { return Ok(vec![ChunkRange::All]) };
        let parts = (rows as u64).div_ceil(rows_per_chunk.max(1)).max(1);
        let column = read::chunk_key(table).expect("checked above");
        Ok(split_int_range(&column, min as i128, max as i128, parts))
    }

    async fn open_snapshot(&self, readers: usize) -> Result<(Vec<SqliteReader>, SnapshotPosition), SourceError> {
        read::open_snapshot(self, readers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_file() {
        assert_eq!(url_path("sqlite:///tmp/a.db").unwrap(), PathBuf::from("/tmp/a.db"));
        assert_eq!(url_path("sqlite:rel/a.db").unwrap(), PathBuf::from("rel/a.db"));
        assert_eq!(url_path("SQLITE://rel.db?mode=ro").unwrap(), PathBuf::from("rel.db"));
        assert_eq!(url_path("sqlite:///tmp/my%20app.db").unwrap(), PathBuf::from("/tmp/my app.db"));
        assert!(url_path("sqlite:").is_err());
        assert!(url_path("mysql://h/db").is_err());
    }
}
