//! MySQL and MariaDB as a ferry source: introspection from `information_schema`, snapshot reads
//! over the binary protocol (exact floats, zero dates kept as they are) and data probes.

pub mod binlog;
pub mod charset;
pub mod code;
mod ddl;
mod dialect;
mod error;
mod geometry;
mod introspect;
mod read;
pub mod tls;
mod types;
pub mod verify;

pub use ddl::table_of;
pub use dialect::Dialect;
pub use error::map_error;

use ferry_model::{
    split_int_range, ChunkRange, DataType, ErrorKind, Probe, RowSender, Schema, SnapshotPosition, SnapshotReader, Source, SourceError, Table, TableSelection,
};
use mysql_async::prelude::Queryable;

/// A connection pool to one MySQL/MariaDB database.
pub struct MySqlSource {
    pool: mysql_async::Pool,
    database: String,
    dialect: Dialect,
}

/// Quotes an identifier with backticks.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Quotes a string literal for MySQL.
pub(crate) fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// What mysql_async says when TLS was asked of a server that does not offer it.
const NO_TLS: &str = "server does not have this capability";

impl MySqlSource {
    /// Connects to `url` (`mysql://user:pass@host:port/database`) and checks that the database
    /// exists and is readable. Errors name the host and database, never the password.
    pub async fn connect(url: &str) -> Result<Self, SourceError> {
        let (url, tls) = tls::MyTls::split(url)?;
        match Self::connect_with(&url, tls.ssl_opts(), tls.mode).await {
            // PREFERRED: plaintext only when the server offers no TLS at all.
            Err(e) if tls.mode == tls::SslMode::Preferred && e.message.contains(NO_TLS) => Self::connect_with(&url, None, tls.mode).await,
            // VERIFY_CA: mysql_async 0.37 fails to skip the host-name check with rustls 0.23 (it
            // matches an error text rustls no longer prints). The name error comes only after
            // the chain verified, so the chain is trusted: connect again checking the name the
            // certificate does hold.
            Err(e) if tls.mode == tls::SslMode::VerifyCa => match tls::certificate_name(&e.message) {
                Some(name) => Self::connect_with(&url, tls.ssl_opts().map(|o| o.with_danger_tls_hostname_override(Some(name))), tls.mode).await,
                None => Err(e),
            },
            other => other,
        }
    }

    async fn connect_with(url: &str, ssl: Option<mysql_async::SslOpts>, mode: tls::SslMode) -> Result<Self, SourceError> {
        let opts = mysql_async::Opts::from_url(url).map_err(|e| SourceError::new(ErrorKind::Definite, format!("bad MySQL URL: {e}")))?;
        let database = opts.db_name().map(str::to_string).filter(|d| !d.is_empty()).ok_or_else(|| {
            SourceError::new(ErrorKind::Definite, "the MySQL source URL names no database: add it as the path, e.g. mysql://user@host:3306/sakila")
        })?;
        let where_ = format!("MySQL source {}:{} database `{}`", opts.ip_or_hostname(), opts.tcp_port(), database);
        let prefer_socket = opts.prefer_socket();
        let opts = mysql_async::OptsBuilder::from_opts(opts)
            .ssl_opts(ssl)
            // A required TLS must not be traded for the server's local socket (mysql_async
            // switches to it for localhost otherwise).
            .prefer_socket(prefer_socket && !matches!(mode, tls::SslMode::Required | tls::SslMode::VerifyCa | tls::SslMode::VerifyIdentity))
            .init(vec![
                "SET NAMES utf8mb4",
                "SET time_zone = '+00:00'",
                // A reader blocked by a slow writer must not be cut off by the server.
                "SET SESSION net_write_timeout = 3600",
                "SET SESSION net_read_timeout = 3600",
            ])
            .pool_opts(mysql_async::PoolOpts::default().with_constraints(mysql_async::PoolConstraints::new(0, 32).expect("valid pool constraints")));
        let pool = mysql_async::Pool::new(opts);
        let mut conn = pool.get_conn().await.map_err(|e| map_error(e).context(&where_))?;
        let version: Option<String> = conn.query_first("SELECT VERSION()").await.map_err(|e| map_error(e).context(&where_))?;
        let dialect = Dialect::from_version(&version.unwrap_or_default());
        let exists: Option<String> = conn
            .query_first(format!("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}", quote_str(&database)))
            .await
            .map_err(|e| map_error(e).context(&where_))?;
        if exists.is_none() {
            return Err(SourceError::new(ErrorKind::NotFound, format!("{where_}: the database does not exist or this user has no privilege on it")));
        }
        Ok(MySqlSource { pool, database, dialect })
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    pub(crate) async fn conn(&self) -> Result<mysql_async::Conn, SourceError> {
        self.pool.get_conn().await.map_err(map_error)
    }

    pub async fn disconnect(self) {
        let _ = self.pool.disconnect().await;
    }
}

/// One connection inside the consistent snapshot.
pub struct MySqlReader {
    conn: mysql_async::Conn,
    database: String,
}

impl SnapshotReader for MySqlReader {
    async fn read(&mut self, table: &Table, range: &ChunkRange, tx: RowSender) -> Result<u64, SourceError> {
        read::read_range(&mut self.conn, &self.database, table, range, tx).await
    }
}

impl Source for MySqlSource {
    type Reader = MySqlReader;

    async fn introspect(&self, select: TableSelection<'_>) -> Result<Schema, SourceError> {
        introspect::introspect(self, select).await
    }

    async fn probe(&self, table: &str, column: &str, probe: Probe) -> Result<u64, SourceError> {
        Ok(self.probe_table(table, &[(column.to_string(), probe)]).await?[0])
    }

    /// One scan of the table answers all its probes: `SUM(condition)` per probe.
    async fn probe_table(&self, table: &str, probes: &[(String, Probe)]) -> Result<Vec<u64>, SourceError> {
        if probes.is_empty() {
            return Ok(vec![]);
        }
        let sums: Vec<String> = probes
            .iter()
            .map(|(column, probe)| {
                let col = quote_ident(column);
                let cond = match probe {
                    Probe::NotZeroOrOne => format!("{col} NOT IN (0, 1)"),
                    Probe::OutsideDay => format!("({col} < '00:00:00' OR {col} >= '24:00:00')"),
                    Probe::AboveBigint => format!("{col} > 9223372036854775807"),
                    Probe::ZeroDates => format!("(YEAR({col}) = 0 OR MONTH({col}) = 0 OR DAYOFMONTH({col}) = 0)"),
                    Probe::InvalidEnum => format!("({col} + 0) = 0"),
                    Probe::NotUtf8Text => format!("(NOT ({col} <=> CAST(CONVERT({col} USING utf8mb4) AS BINARY)) OR INSTR({col}, X'00') > 0)"),
                    // MySQL keeps at most microseconds.
                    Probe::BeyondMicroseconds => "0".to_string(),
                };
                format!("CAST(COALESCE(SUM({cond}), 0) AS UNSIGNED)")
            })
            .collect();
        let sql = format!("SELECT {} FROM {}.{}", sums.join(", "), quote_ident(&self.database), quote_ident(table));
        let mut conn = self.conn().await?;
        let row: Option<mysql_async::Row> = conn.query_first(sql).await.map_err(|e| map_error(e).context(format!("probing the values of `{table}`")))?;
        let row = row.ok_or_else(|| SourceError::new(ErrorKind::Definite, format!("probing `{table}` returned no row")))?;
        Ok((0..probes.len()).map(|i| row.get::<Option<u64>, _>(i).flatten().unwrap_or(0)).collect())
    }

    async fn plan_chunks(&self, table: &Table, rows_per_chunk: u64) -> Result<Vec<ChunkRange>, SourceError> {
        let pk = match &table.primary_key {
            Some(k) if k.columns.len() == 1 => k.columns[0].clone(),
            _ => return Ok(vec![ChunkRange::All]),
        };
        let is_int = matches!(table.column(&pk).map(|c| &c.data_type), Some(DataType::Int { .. }));
        if !is_int || table.estimated_rows <= rows_per_chunk {
            return Ok(vec![ChunkRange::All]);
        }
        let mut conn = self.conn().await?;
        let row: Option<(Option<String>, Option<String>)> = conn
            .query_first(format!(
                "SELECT CAST(MIN({c}) AS CHAR), CAST(MAX({c}) AS CHAR) FROM {}.{}",
                quote_ident(&self.database),
                quote_ident(&table.name),
                c = quote_ident(&pk)
            ))
            .await
            .map_err(|e| map_error(e).context(format!("sizing table `{}`", table.name)))?;
        let (Some(Some(min)), Some(Some(max))) = (row.as_ref().map(|r| r.0.clone()), row.as_ref().map(|r| r.1.clone())) else {
            return Ok(vec![ChunkRange::All]);
        };
        let (min, max): (i128, i128) = match (min.parse(), max.parse()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Ok(vec![ChunkRange::All]),
        };
        let parts = table.estimated_rows.div_ceil(rows_per_chunk.max(1));
        Ok(split_int_range(&pk, min, max, parts))
    }

    /// `FLUSH TABLES WITH READ LOCK` stops writes for the instant it takes every reader to
    /// `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the binlog position to be read; then
    /// `UNLOCK TABLES`. Every reader therefore sees the database exactly as of that binlog
    /// position, which is where CDC will start. Without the RELOAD privilege the lock is
    /// refused: each reader is then consistent on its own only, and the report says so.
    async fn open_snapshot(&self, readers: usize) -> Result<(Vec<MySqlReader>, SnapshotPosition), SourceError> {
        let mut lock = self.conn().await?;
        let mut note = None;
        let locked = match lock.query_drop("FLUSH TABLES WITH READ LOCK").await {
            Ok(()) => true,
            Err(e) => {
                note = Some(format!(
                    "no global read lock ({}): each reader is consistent on its own, not with the others; grant RELOAD for one snapshot",
                    map_error(e)
                ));
                false
            }
        };
        let mut out = Vec::with_capacity(readers);
        let opened: Result<(), SourceError> = async {
            for _ in 0..readers.max(1) {
                let mut c = self.conn().await?;
                c.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ").await.map_err(map_error)?;
                c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY").await.map_err(map_error)?;
                out.push(MySqlReader { conn: c, database: self.database.clone() });
            }
            Ok(())
        }
        .await;
        let position = MySqlSource::master_status(&mut lock).await.ok().flatten();
        let gtid_sql = if self.dialect.mariadb { "SELECT @@gtid_binlog_pos" } else { "SELECT @@gtid_executed" };
        let gtid: Option<String> = lock.query_first(gtid_sql).await.ok().flatten().filter(|g: &String| !g.is_empty());
        if locked {
            lock.query_drop("UNLOCK TABLES").await.map_err(map_error)?;
        }
        opened.map_err(|e| e.context("opening the snapshot"))?;
        let consistent = locked || readers <= 1;
        Ok((out, SnapshotPosition { position, gtid, consistent, note: if consistent { None } else { note }, readers: None }))
    }

    fn convert_objects(&self, schema: &Schema, names: &dyn ferry_model::TargetNames) -> Vec<ferry_model::ConvertedObject> {
        code::convert_objects(schema, names)
    }
}
