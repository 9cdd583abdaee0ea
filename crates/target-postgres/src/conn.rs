//! A connection to the target: DDL, queries and COPY. One `PgTarget` is one session; the loader
//! opens one per writer.

use crate::error::TargetError;
use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls};

pub struct PgTarget {
    pub client: Client,
    task: tokio::task::JoinHandle<()>,
    /// The role may set `session_replication_role` (set by `try_replica_role`): apply sets it
    /// for each of its transactions.
    pub(crate) replica: std::sync::atomic::AtomicBool,
    /// Tables of the database with inheritance children (not partitions), qualified as
    /// `qualified()` writes them: read once, on first use ([`PgTarget::only`]).
    parents: Box<tokio::sync::OnceCell<std::collections::HashSet<String>>>,
}

impl Drop for PgTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The setting a ferry session carries, and the test that opens every trigger function ferry
/// creates: `IF` it holds, the trigger returns at once (`RETURN NEW`, `OLD` or `NULL`).
pub const APPLYING: &str = "current_setting('ferry.applying', true) = 'on'";

impl PgTarget {
    /// `qualified` as ferry's reads, deletes and truncates name it: `ONLY "s"."t"` for a table
    /// with inheritance children (a source's INHERITS, carried), so its children's rows — which
    /// are the children's own, on both sides — are neither compared, deleted nor emptied with
    /// the parent's; the name as it is otherwise (a partitioned table's rows are its
    /// partitions', which ONLY would leave out). The parents are read on first use: inheritance
    /// is made after the load, before any verify or change is applied.
    pub async fn only(&self, qualified: &str) -> Result<String, TargetError> {
        let parents = self
            .parents
            .get_or_try_init(|| async {
                let rows = self
                    .client
                    .query(
                        "SELECT DISTINCT n.nspname::text, p.relname::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent \
                         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = p.relnamespace \
                         WHERE NOT c.relispartition AND p.relkind = 'r'",
                        &[],
                    )
                    .await?;
                Ok::<_, TargetError>(rows.iter().map(|r| crate::ident::qualified(r.get::<_, &str>(0), r.get::<_, &str>(1))).collect())
            })
            .await?;
        Ok(if parents.contains(qualified) { format!("ONLY {qualified}") } else { qualified.to_string() })
    }

    /// Ends the transaction the caller began: COMMIT after `result` went well, ROLLBACK
    /// otherwise (the error is the one returned).
    pub(crate) async fn end_transaction<T>(&self, result: Result<T, TargetError>) -> Result<T, TargetError> {
        match result {
            Ok(v) => {
                self.batch("COMMIT").await?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK").await;
                Err(e)
            }
        }
    }

    /// Connects to `url`; the error names host, port and database, never the password.
    /// Every ferry session sets [`APPLYING`]: triggers ferry creates (converted ones,
    /// `ON UPDATE CURRENT_TIMESTAMP`) skip ferry's own writes — the load, apply and repair
    /// copy what the source's triggers already did — whatever the role may set.
    pub async fn connect(url: &str) -> Result<PgTarget, TargetError> {
        Self::connect_as(url, "target").await
    }

    /// Connects to `url` as `role` (`source` or `target`, said in errors).
    pub async fn connect_as(url: &str, role: &str) -> Result<PgTarget, TargetError> {
        let (url, tls) = crate::tls::PgTls::split(url).map_err(|e| e.context(format!("PostgreSQL {role} URL")))?;
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| TargetError::new(ferry_model::ErrorKind::Definite, format!("bad PostgreSQL URL: {e}")))?;
        config.ssl_mode(tls.tokio_mode());
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(s) => s.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = config.get_dbname().or(config.get_user()).unwrap_or("postgres").to_string();
        let ctx = |e: tokio_postgres::Error| TargetError::from(e).context(format!("PostgreSQL {role} {host}:{port} database \"{db}\""));
        let (client, task) = match tls.client_config()? {
            None => {
                let (client, connection) = config.connect(NoTls).await.map_err(ctx)?;
                (
                    client,
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!("connection ended: {e}");
                        }
                    }),
                )
            }
            Some(rustls_config) => {
                let connector = tokio_postgres_rustls::MakeRustlsConnect::new((*rustls_config).clone());
                let (client, connection) = config.connect(connector).await.map_err(ctx)?;
                (
                    client,
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!("connection ended: {e}");
                        }
                    }),
                )
            }
        };
        let t = PgTarget { client, task, replica: Default::default(), parents: Default::default() };
        t.batch(
            "SET client_min_messages = warning; SET timezone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET ferry.applying = 'on'",
        )
        .await?;
        Ok(t)
    }

    /// Runs one or more statements with the simple protocol.
    pub async fn batch(&self, sql: &str) -> Result<(), TargetError> {
        self.client.batch_execute(sql).await.map_err(TargetError::from)
    }

    /// Runs one statement, naming it in the error.
    pub async fn exec(&self, sql: &str) -> Result<(), TargetError> {
        self.client.batch_execute(sql).await.map_err(|e| {
            let first = sql.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
            TargetError::from(e).context(format!("running `{}`", first.chars().take(160).collect::<String>()))
        })
    }

    /// Starts a `COPY … FROM STDIN` and feeds it chunks from `rx` until the channel closes, then
    /// commits it. An `Err` chunk aborts the COPY (nothing of it is kept) and is returned.
    /// Returns the number of rows PostgreSQL reports.
    pub async fn copy_in(&self, copy_sql: &str, mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, String>>) -> Result<u64, TargetError> {
        let sink = self.client.copy_in::<_, Bytes>(copy_sql).await?;
        futures_util::pin_mut!(sink);
        while let Some(chunk) = rx.recv().await {
            match chunk {
                Ok(chunk) => sink.send(chunk).await?,
                // Dropping the sink unfinished sends CopyFail: the statement rolls back.
                Err(reason) => return Err(TargetError::new(ferry_model::ErrorKind::BadData, reason)),
            }
        }
        Ok(sink.finish().await?)
    }

    pub async fn server_version(&self) -> Result<String, TargetError> {
        let row = self.client.query_one("SHOW server_version", &[]).await?;
        Ok(row.get(0))
    }

    /// True when an extension is installed in the target database.
    pub async fn has_extension(&self, name: &str) -> Result<bool, TargetError> {
        let row = self.client.query_opt("SELECT 1 FROM pg_extension WHERE extname = $1", &[&name]).await?;
        Ok(row.is_some())
    }
}
