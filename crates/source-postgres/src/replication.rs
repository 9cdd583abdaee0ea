//! A thin replication-protocol connection (`replication=database`): what logical decoding needs
//! and tokio-postgres does not offer — `CREATE_REPLICATION_SLOT … (SNAPSHOT 'export')` and
//! `START_REPLICATION … LOGICAL` with its CopyBoth stream and standby status updates. Message
//! framing and authentication (cleartext, MD5, SCRAM-SHA-256) come from `postgres-protocol`;
//! this module only sequences them.

use bytes::{Buf, BufMut, BytesMut};
use ferry_model::{ErrorKind, SourceError};
use ferry_target_postgres::ident::quote_ident;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::{backend, frontend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Microseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
pub const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// The connection's byte stream: plain TCP or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync> Io for T {}

pub struct ReplConn {
    sock: Box<dyn Io>,
    buf: BytesMut,
}

/// One message of the CopyBoth stream.
pub enum CopyMessage {
    /// WAL data: its start LSN, the server's WAL end, and the pgoutput message.
    XLogData { start: u64, end: u64, data: bytes::Bytes },
    /// Keepalive: the server's WAL end, and whether it wants an answer now.
    KeepAlive { end: u64, reply: bool },
}

fn transient(what: impl std::fmt::Display) -> SourceError {
    SourceError::new(ErrorKind::Transient, format!("PostgreSQL replication connection: {what}"))
}

fn io(e: std::io::Error) -> SourceError {
    let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused { ErrorKind::Unreachable } else { ErrorKind::Transient };
    SourceError::new(kind, format!("PostgreSQL replication connection: {e}"))
}

/// SSLRequest, then the TLS handshake when the server agrees (the same `sslmode` rules as every
/// other PostgreSQL connection, `ferry_target_postgres::tls`).
async fn negotiate_tls(mut tcp: TcpStream, host: &str, tls: &ferry_target_postgres::tls::PgTls) -> Result<Box<dyn Io>, SourceError> {
    let definite = |m: String| SourceError::new(ErrorKind::Definite, format!("PostgreSQL replication connection: {m}"));
    let Some(config) = tls.client_config().map_err(|e| definite(e.to_string()))? else { return Ok(Box::new(tcp)) };
    let mut out = BytesMut::new();
    frontend::ssl_request(&mut out);
    tcp.write_all(&out).await.map_err(io)?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.map_err(io)?;
    if answer[0] != b'S' {
        if tls.mode.required() {
            return Err(definite("the server does not offer TLS, and sslmode requires it".into()));
        }
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| definite(format!("host {host}: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| SourceError::new(ErrorKind::Definite, format!("PostgreSQL replication connection: TLS: {e}")))?;
    Ok(Box::new(stream))
}

impl ReplConn {
    /// Connects to `url` (postgres://user[:password]@host[:port]/db) in replication mode.
    pub async fn connect(url: &str) -> Result<ReplConn, SourceError> {
        let (url, tls) = ferry_target_postgres::tls::PgTls::split(url).map_err(|e| SourceError::new(ErrorKind::Definite, e.to_string()))?;
        let config: tokio_postgres::Config = url.parse().map_err(|e| SourceError::new(ErrorKind::Definite, format!("bad PostgreSQL URL: {e}")))?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres").to_string();
        let db = config.get_dbname().unwrap_or(&user).to_string();
        let password = config.get_password().map(|p| p.to_vec());
        let tcp = TcpStream::connect((host.as_str(), port)).await.map_err(io)?;
        let sock = negotiate_tls(tcp, &host, &tls).await?;
        let mut c = ReplConn { sock, buf: BytesMut::with_capacity(64 * 1024) };
        let mut out = BytesMut::new();
        frontend::startup_message(
            [("user", user.as_str()), ("database", db.as_str()), ("replication", "database"), ("application_name", "ferry"), ("client_encoding", "UTF8")],
            &mut out,
        )
        .map_err(io)?;
        c.send(&out).await?;
        let mut scram: Option<ScramSha256> = None;
        loop {
            match c.next_message().await? {
                Raw::Message(backend::Message::AuthenticationOk) => {}
                Raw::Message(backend::Message::AuthenticationCleartextPassword) => {
                    let pw = password.clone().ok_or_else(|| SourceError::new(ErrorKind::Authentication, "the source asks for a password"))?;
                    let mut out = BytesMut::new();
                    frontend::password_message(&pw, &mut out).map_err(io)?;
                    c.send(&out).await?;
                }
                Raw::Message(backend::Message::AuthenticationMd5Password(body)) => {
                    let pw = password.clone().ok_or_else(|| SourceError::new(ErrorKind::Authentication, "the source asks for a password"))?;
                    let hash = postgres_protocol::authentication::md5_hash(user.as_bytes(), &pw, body.salt());
                    let mut out = BytesMut::new();
                    frontend::password_message(hash.as_bytes(), &mut out).map_err(io)?;
                    c.send(&out).await?;
                }
                Raw::Message(backend::Message::AuthenticationSasl(_)) => {
                    let pw = password.clone().ok_or_else(|| SourceError::new(ErrorKind::Authentication, "the source asks for a password"))?;
                    let s = ScramSha256::new(&pw, ChannelBinding::unsupported());
                    let mut out = BytesMut::new();
                    frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut out).map_err(io)?;
                    c.send(&out).await?;
                    scram = Some(s);
                }
                Raw::Message(backend::Message::AuthenticationSaslContinue(body)) => {
                    let s = scram.as_mut().ok_or_else(|| transient("unexpected SASL message"))?;
                    s.update(body.data()).map_err(|e| SourceError::new(ErrorKind::Authentication, format!("SCRAM: {e}")))?;
                    let mut out = BytesMut::new();
                    frontend::sasl_response(s.message(), &mut out).map_err(io)?;
                    c.send(&out).await?;
                }
                Raw::Message(backend::Message::AuthenticationSaslFinal(body)) => {
                    let s = scram.as_mut().ok_or_else(|| transient("unexpected SASL message"))?;
                    s.finish(body.data()).map_err(|e| SourceError::new(ErrorKind::Authentication, format!("SCRAM: {e}")))?;
                }
                Raw::Message(backend::Message::ReadyForQuery(_)) => return Ok(c),
                Raw::Message(backend::Message::ErrorResponse(body)) => return Err(server_error(body, "connecting for replication")),
                _ => {}
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SourceError> {
        self.sock.write_all(bytes).await.map_err(io)?;
        // TLS buffers what it writes: flush, or the server never sees the message.
        self.sock.flush().await.map_err(io)
    }

    /// Reads one backend message (CopyBothResponse, which postgres-protocol does not parse, is
    /// recognised here).
    async fn next_message(&mut self) -> Result<Raw, SourceError> {
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
                if self.buf.len() > len {
                    if self.buf[0] == b'W' {
                        self.buf.advance(len + 1);
                        return Ok(Raw::CopyBoth);
                    }
                    if let Some(m) = backend::Message::parse(&mut self.buf).map_err(io)? {
                        return Ok(Raw::Message(m));
                    }
                }
            }
            let n = self.sock.read_buf(&mut self.buf).await.map_err(io)?;
            if n == 0 {
                return Err(transient("the server closed the connection"));
            }
        }
    }

    /// Runs a replication command; returns its rows as text.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, SourceError> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).map_err(io)?;
        self.send(&out).await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.next_message().await? {
                Raw::Message(backend::Message::DataRow(body)) => {
                    let buf = body.buffer();
                    let mut row = Vec::new();
                    let mut ranges = body.ranges();
                    while let Some(r) = fallible_iterator::FallibleIterator::next(&mut ranges).map_err(io)? {
                        row.push(r.map(|r| String::from_utf8_lossy(&buf[r]).into_owned()));
                    }
                    rows.push(row);
                }
                Raw::Message(backend::Message::ErrorResponse(body)) => error = Some(server_error(body, sql)),
                Raw::Message(backend::Message::ReadyForQuery(_)) => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// `START_REPLICATION SLOT … LOGICAL from (pgoutput options)`; the connection then streams.
    /// `messages`: also stream logical decoding messages (PostgreSQL 14+), which is how ferry's
    /// heartbeat transactions reach it.
    pub async fn start_replication(&mut self, slot: &str, from: u64, publication: &str, messages: bool) -> Result<(), SourceError> {
        let sql = format!(
            "START_REPLICATION SLOT {} LOGICAL {} (proto_version '1', publication_names '{}'{})",
            quote_ident(slot),
            crate::cdc::lsn_position(from),
            publication.replace('\'', "''"),
            if messages { ", messages 'true'" } else { "" }
        );
        let mut out = BytesMut::new();
        frontend::query(&sql, &mut out).map_err(io)?;
        self.send(&out).await?;
        loop {
            match self.next_message().await? {
                Raw::CopyBoth => return Ok(()),
                Raw::Message(backend::Message::ErrorResponse(body)) => return Err(server_error(body, &sql)),
                _ => {}
            }
        }
    }

    /// The next message of the stream; None when the server ended it.
    pub async fn next_copy(&mut self) -> Result<Option<CopyMessage>, SourceError> {
        loop {
            match self.next_message().await? {
                Raw::Message(backend::Message::CopyData(body)) => {
                    let mut d = bytes::Bytes::copy_from_slice(body.data());
                    match d.first() {
                        Some(b'w') if d.len() >= 25 => {
                            d.advance(1);
                            let start = d.get_u64();
                            let end = d.get_u64();
                            let _time = d.get_i64();
                            return Ok(Some(CopyMessage::XLogData { start, end, data: d }));
                        }
                        Some(b'k') if d.len() >= 18 => {
                            d.advance(1);
                            let end = d.get_u64();
                            let _time = d.get_i64();
                            let reply = d.get_u8() == 1;
                            return Ok(Some(CopyMessage::KeepAlive { end, reply }));
                        }
                        _ => {}
                    }
                }
                Raw::Message(backend::Message::CopyDone) => return Ok(None),
                Raw::Message(backend::Message::ErrorResponse(body)) => return Err(server_error(body, "streaming changes")),
                _ => {}
            }
        }
    }

    /// Standby status update: everything up to `flushed` is durably applied on the target, so
    /// the server may recycle the WAL before it; `reply`: ask for a keepalive (the server's WAL
    /// end) right away.
    pub async fn status(&mut self, flushed: u64, reply: bool) -> Result<(), SourceError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros() as i64 - PG_EPOCH_OFFSET_US;
        let mut body = BytesMut::with_capacity(34);
        body.put_u8(b'r');
        body.put_u64(flushed);
        body.put_u64(flushed);
        body.put_u64(flushed);
        body.put_i64(now);
        body.put_u8(reply as u8);
        let mut out = BytesMut::new();
        out.put_u8(b'd');
        out.put_i32(4 + body.len() as i32);
        out.extend_from_slice(&body);
        self.send(&out).await
    }
}

enum Raw {
    Message(backend::Message),
    CopyBoth,
}

fn server_error(body: backend::ErrorResponseBody, what: &str) -> SourceError {
    let mut code = String::new();
    let mut message = String::new();
    let mut fields = body.fields();
    while let Ok(Some(f)) = fallible_iterator::FallibleIterator::next(&mut fields) {
        match f.type_() {
            b'C' => code = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            _ => {}
        }
    }
    // 55006: the slot is still held by a connection the server has not seen die (a killed run).
    let kind = if code == "55006" { ErrorKind::Transient } else { ferry_target_postgres::error::kind_of_sqlstate(&code) };
    let hint = match code.as_str() {
        "42501" => " — the source user needs the REPLICATION attribute (ALTER ROLE … REPLICATION)",
        "55000" => " — the source needs wal_level = logical (and a restart)",
        "53400" => " — raise max_replication_slots / max_wal_senders on the source",
        _ => "",
    };
    SourceError::new(kind, format!("PostgreSQL error {code} ({what}): {message}{hint}"))
}
