//! MySQL and MariaDB as a ferry source: introspection from `information_schema`, snapshot reads
//! over the binary protocol (exact floats, zero dates kept as they are) and data probes.

mod dialect;
mod error;
mod introspect;
mod read;
mod types;

pub use dialect::Dialect;
pub use error::map_error;

use ferry_model::{ErrorKind, Probe, RowSender, Schema, Source, SourceError, Table, TableSelection};
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

impl MySqlSource {
    /// Connects to `url` (`mysql://user:pass@host:port/database`) and checks that the database
    /// exists and is readable. Errors name the host and database, never the password.
    pub async fn connect(url: &str) -> Result<Self, SourceError> {
        let opts = mysql_async::Opts::from_url(url)
            .map_err(|e| SourceError::new(ErrorKind::Definite, format!("bad MySQL URL: {e}")))?;
        let database = opts.db_name().map(str::to_string).filter(|d| !d.is_empty()).ok_or_else(|| {
            SourceError::new(
                ErrorKind::Definite,
                "the MySQL source URL names no database: add it as the path, e.g. mysql://user@host:3306/sakila",
            )
        })?;
        let where_ = format!("MySQL source {}:{} database `{}`", opts.ip_or_hostname(), opts.tcp_port(), database);
        let opts = mysql_async::OptsBuilder::from_opts(opts)
            .init(vec![
                "SET NAMES utf8mb4",
                "SET time_zone = '+00:00'",
                // A reader blocked by a slow writer must not be cut off by the server.
                "SET SESSION net_write_timeout = 3600",
                "SET SESSION net_read_timeout = 3600",
            ])
            .pool_opts(mysql_async::PoolOpts::default().with_constraints(
                mysql_async::PoolConstraints::new(0, 32).expect("valid pool constraints"),
            ));
        let pool = mysql_async::Pool::new(opts);
        let mut conn = pool.get_conn().await.map_err(|e| map_error(e).context(&where_))?;
        let version: Option<String> =
            conn.query_first("SELECT VERSION()").await.map_err(|e| map_error(e).context(&where_))?;
        let dialect = Dialect::from_version(&version.unwrap_or_default());
        let exists: Option<String> = conn
            .query_first(format!(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
                quote_str(&database)
            ))
            .await
            .map_err(|e| map_error(e).context(&where_))?;
        if exists.is_none() {
            return Err(SourceError::new(
                ErrorKind::NotFound,
                format!("{where_}: the database does not exist or this user has no privilege on it"),
            ));
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

impl Source for MySqlSource {
    async fn introspect(&self, select: TableSelection<'_>) -> Result<Schema, SourceError> {
        introspect::introspect(self, select).await
    }

    async fn probe(&self, table: &str, column: &str, probe: Probe) -> Result<u64, SourceError> {
        let col = quote_ident(column);
        let cond = match probe {
            Probe::NotZeroOrOne => format!("{col} NOT IN (0, 1)"),
            Probe::OutsideDay => format!("({col} < '00:00:00' OR {col} >= '24:00:00')"),
        };
        let sql = format!(
            "SELECT COUNT(*) FROM {}.{} WHERE {cond}",
            quote_ident(&self.database),
            quote_ident(table)
        );
        let mut conn = self.conn().await?;
        let n: Option<u64> = conn
            .query_first(sql)
            .await
            .map_err(|e| map_error(e).context(format!("probing `{table}`.`{column}`")))?;
        Ok(n.unwrap_or(0))
    }

    async fn read_table(&self, table: &Table, tx: RowSender) -> Result<u64, SourceError> {
        read::read_table(self, table, tx).await
    }
}
