//! Connections to a live SQL Server: the URL (`mssql://user@host:1433/database?schema=dbo`),
//! the TDS login through tiberius (SQL login, TLS by rustls) and the driver's errors sorted by
//! what the caller can do about them ([`map_error`]).
//!
//! Guarantees and why:
//! - **The password is never printed**: every message names host, port and database
//!   ([`MsUrl::describe`]), never the URL itself.
//! - **TLS as the server's drivers offer it** ([`Encrypt`]): `prefer` (the default) encrypts
//!   whenever the server can, `required` fails rather than send a query in clear, `login` only
//!   protects the login, `off` never encrypts; `trust_server_certificate=true` skips the chain
//!   check (self-signed servers), `ca=/path.pem` trusts one CA.

use ferry_model::{ErrorKind, SourceError};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

/// One TDS connection.
pub type MsClient = Client<Compat<TcpStream>>;

/// How much of the connection TLS protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encrypt {
    /// Everything when the server can, else nothing (the default).
    Prefer,
    /// Everything, or no connection.
    Required,
    /// The login packet only (TDS' `ENCRYPT_OFF`).
    Login,
    /// Nothing.
    Off,
}

/// A parsed `mssql://` URL.
#[derive(Debug, Clone)]
pub struct MsUrl {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    /// The source schemas (`?schema=dbo`), `dbo` when none is given.
    pub schemas: Vec<String>,
    pub encrypt: Encrypt,
    pub trust_cert: bool,
    pub ca: Option<String>,
    /// `prefer` found a server that cannot encrypt: later connections go in clear at once.
    plain: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How long `prefer` waits for a TLS handshake: a server without TLS never answers it.
const TLS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn definite(msg: impl Into<String>) -> SourceError {
    SourceError::new(ErrorKind::Definite, msg.into())
}

impl MsUrl {
    /// Parses `mssql://user[:password]@host[:port]/database[?schema=dbo&encrypt=…&trust_server_certificate=true&ca=…]`.
    pub fn parse(text: &str) -> Result<MsUrl, SourceError> {
        let u = url::Url::parse(text).map_err(|e| definite(format!("bad SQL Server URL ({e}); give mssql://user@host:1433/database?schema=dbo")))?;
        // Percent-decoding only: a `+` in a password is a plus (form decoding would make it a space).
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let database = decode(u.path().trim_start_matches('/'));
        if database.is_empty() {
            return Err(definite("the SQL Server source URL names no database: add it as the path, e.g. mssql://sa@host:1433/Chinook"));
        }
        let mut url = MsUrl {
            host: u.host_str().unwrap_or("localhost").trim_matches(|c| c == '[' || c == ']').to_string(),
            port: u.port().unwrap_or(1433),
            user: decode(u.username()),
            password: u.password().map(decode).unwrap_or_default(),
            database,
            schemas: vec![],
            encrypt: Encrypt::Prefer,
            trust_cert: false,
            ca: None,
            plain: Default::default(),
        };
        for (k, v) in u.query_pairs() {
            match k.to_ascii_lowercase().as_str() {
                "schema" => url.schemas.extend(v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty())),
                "encrypt" => {
                    url.encrypt = match v.to_ascii_lowercase().as_str() {
                        "prefer" | "on" | "optional" => Encrypt::Prefer,
                        "required" | "true" | "yes" | "mandatory" | "strict" => Encrypt::Required,
                        "login" => Encrypt::Login,
                        "off" | "false" | "no" | "disable" => Encrypt::Off,
                        other => return Err(definite(format!("encrypt={other}: give prefer, required, login or off"))),
                    }
                }
                "trust_server_certificate" | "trustservercertificate" => url.trust_cert = matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1"),
                "ca" | "sslrootcert" => url.ca = Some(v.into_owned()),
                other => {
                    return Err(definite(format!(
                        "the SQL Server URL has an unknown parameter `{other}` (known: schema, encrypt, trust_server_certificate, ca)"
                    )))
                }
            }
        }
        if url.schemas.is_empty() {
            url.schemas.push("dbo".into());
        }
        Ok(url)
    }

    /// Names the server for messages (no password).
    pub fn describe(&self) -> String {
        format!("SQL Server source {}:{} database [{}]", self.host, self.port, self.database)
    }

    fn config(&self, encrypt: Encrypt) -> Config {
        let mut c = Config::new();
        c.host(&self.host);
        c.port(self.port);
        c.database(&self.database);
        c.application_name("ferry");
        c.authentication(AuthMethod::sql_server(&self.user, &self.password));
        // tiberius panics on `On` against a server that cannot encrypt: `prefer` asks for
        // `Required` and falls back to none on a TLS failure ([`MsUrl::connect`]).
        c.encryption(match encrypt {
            Encrypt::Prefer => EncryptionLevel::Required,
            Encrypt::Required => EncryptionLevel::Required,
            Encrypt::Login => EncryptionLevel::Off,
            Encrypt::Off => EncryptionLevel::NotSupported,
        });
        // `prefer` checks no certificate (libpq's prefer neither): it only keeps eavesdroppers
        // out; give `ca` or `encrypt=required` to authenticate the server.
        if self.trust_cert || (encrypt == Encrypt::Prefer && self.ca.is_none()) {
            c.trust_cert();
        } else if let Some(ca) = &self.ca {
            c.trust_cert_ca(ca);
        }
        c
    }

    /// Opens one connection (following one routing redirect, as Azure SQL sends).
    pub async fn connect(&self) -> Result<MsClient, SourceError> {
        use std::sync::atomic::Ordering;
        let mut prefer = self.encrypt == Encrypt::Prefer && !self.plain.load(Ordering::Relaxed);
        let mut config = self.config(if self.plain.load(Ordering::Relaxed) { Encrypt::Off } else { self.encrypt });
        for _ in 0..3 {
            let tcp = TcpStream::connect(config.get_addr())
                .await
                .map_err(|e| SourceError::new(ErrorKind::Unreachable, format!("{}: cannot connect: {e}", self.describe())))?;
            let _ = tcp.set_nodelay(true);
            let login = Client::connect(config.clone(), tcp.compat_write());
            // tiberius starts a TLS handshake even when the server said it cannot encrypt; such
            // a server never answers it, so `prefer` gives the handshake a deadline.
            let result = if prefer {
                match tokio::time::timeout(TLS_WAIT, login).await {
                    Ok(r) => r,
                    Err(_) => Err(tiberius::error::Error::Tls("no TLS handshake answer".into())),
                }
            } else {
                login.await
            };
            match result {
                Ok(c) => return Ok(c),
                Err(tiberius::error::Error::Routing { host, port }) => {
                    config.host(&host);
                    config.port(port);
                }
                // `prefer`: a server that cannot encrypt at all is read in clear, as libpq's prefer does.
                Err(e) if prefer && matches!(&e, tiberius::error::Error::Tls(_) | tiberius::error::Error::Io { .. }) => {
                    tracing::warn!("{}: the server does not encrypt ({e}); encrypt=prefer: reading it without TLS (encrypt=required refuses)", self.describe());
                    prefer = false;
                    self.plain.store(true, Ordering::Relaxed);
                    config = self.config(Encrypt::Off);
                }
                Err(e) => return Err(map_error(e).context(self.describe())),
            }
        }
        Err(definite(format!("{}: the server redirected the login twice", self.describe())))
    }
}

/// A tiberius error as a [`SourceError`] of the right kind.
pub fn map_error(e: tiberius::error::Error) -> SourceError {
    use tiberius::error::Error as E;
    let kind = match &e {
        E::Io { .. } => ErrorKind::Transient,
        E::Server(t) => match t.code() {
            // Login failed; cannot open the database the login requested.
            18456 | 18452 | 4060 => ErrorKind::Authentication,
            // Permission denied.
            229 | 230 | 297 | 300 => ErrorKind::Privilege,
            // Invalid object / column name.
            208 | 207 => ErrorKind::NotFound,
            // Deadlock victim, lock timeout, snapshot update conflict, server shutting down.
            1205 | 1222 | 3960 | 6005 | 40613 | 40501 | 40197 => ErrorKind::Transient,
            _ => ErrorKind::Definite,
        },
        E::Tls(_) => ErrorKind::Definite,
        _ => ErrorKind::Definite,
    };
    let msg = match &e {
        E::Server(t) => format!("SQL Server error {}: {}", t.code(), t.message()),
        other => other.to_string(),
    };
    SourceError::new(kind, msg)
}

/// Quotes an identifier with brackets.
pub fn quote_ident(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

/// Quotes a string literal as an N'…' Unicode literal.
pub fn quote_str(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_schemas_and_tls_and_never_print_the_password() {
        let u = MsUrl::parse("mssql://sa:p%40s+s@db.example:14330/Chinook?schema=dbo,Sales&encrypt=required&trust_server_certificate=true").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.user.as_str(), u.password.as_str(), u.database.as_str()), ("db.example", 14330, "sa", "p@s+s", "Chinook"));
        assert_eq!(u.schemas, ["dbo", "Sales"]);
        assert_eq!(u.encrypt, Encrypt::Required);
        assert!(u.trust_cert);
        assert!(!u.describe().contains("p@s+s"));
        let d = MsUrl::parse("mssql://sa@h/db").unwrap();
        assert_eq!((d.port, d.schemas.clone(), d.encrypt), (1433, vec!["dbo".to_string()], Encrypt::Prefer));
        assert!(MsUrl::parse("mssql://sa@h/").unwrap_err().message.contains("names no database"));
        assert!(MsUrl::parse("mssql://sa@h/db?encrypt=maybe").is_err());
        assert!(MsUrl::parse("mssql://sa@h/db?tls=1").unwrap_err().message.contains("unknown parameter"));
        assert_eq!(quote_ident("a]b"), "[a]]b]");
        assert_eq!(quote_str("it's"), "N'it''s'");
    }
}
