//! TLS for MySQL/MariaDB connections (snapshot readers and the binlog stream share the pool's
//! options), with the MySQL client's `ssl-mode` meanings, on rustls (mysql_async's
//! `rustls-tls`):
//!
//! | ssl-mode | encrypts | checks the chain (`ssl-ca`) | checks the host name |
//! |---|---|---|---|
//! | `DISABLED` | never | – | – |
//! | `PREFERRED` (default) | when the server offers TLS | no | no |
//! | `REQUIRED` | always | no | no |
//! | `VERIFY_CA` | always | yes | no |
//! | `VERIFY_IDENTITY` | always | yes | yes |
//!
//! `ssl-cert` + `ssl-key` add a client certificate. [`MyTls::split`] takes the parameters
//! (`ssl-mode` or `ssl_mode`, any case) out of the URL, since mysql_async refuses unknown ones;
//! [`MyTls::ssl_opts`] gives the options that enforce them. `PREFERRED` falls back to plaintext
//! only when the server does not offer TLS at all (`MySqlSource::connect`).

use ferry_model::{ErrorKind, SourceError};
use mysql_async::{ClientIdentity, SslOpts};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disabled,
    #[default]
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

#[derive(Debug, Clone, Default)]
pub struct MyTls {
    pub mode: SslMode,
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl MyTls {
    /// The URL without its TLS parameters, and the settings they gave.
    pub fn split(url: &str) -> Result<(String, MyTls), SourceError> {
        let bad = |m: String| SourceError::new(ErrorKind::Definite, m);
        let mut tls = MyTls::default();
        let Some((head, query)) = url.split_once('?') else { return Ok((url.to_string(), tls)) };
        let mut kept = Vec::new();
        for kv in query.split('&') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = ferry_model::percent_decode(v);
            match k.to_ascii_lowercase().replace('_', "-").as_str() {
                "ssl-mode" | "sslmode" => {
                    tls.mode = match v.to_ascii_uppercase().replace('-', "_").as_str() {
                        "DISABLED" => SslMode::Disabled,
                        "PREFERRED" => SslMode::Preferred,
                        "REQUIRED" => SslMode::Required,
                        "VERIFY_CA" => SslMode::VerifyCa,
                        "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
                        _ => return Err(bad(format!("ssl-mode={v}: give DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"))),
                    }
                }
                "ssl-ca" => tls.ca = Some(v),
                "ssl-cert" => tls.cert = Some(v),
                "ssl-key" => tls.key = Some(v),
                _ => kept.push(kv),
            }
        }
        if tls.cert.is_some() != tls.key.is_some() {
            return Err(bad("give ssl-cert and ssl-key together (a client certificate and its key)".into()));
        }
        if matches!(tls.mode, SslMode::VerifyCa | SslMode::VerifyIdentity) && tls.ca.is_none() {
            return Err(bad("ssl-mode=VERIFY_CA / VERIFY_IDENTITY: give ssl-ca=<PEM file of the CA>".into()));
        }
        let url = if kept.is_empty() { head.to_string() } else { format!("{head}?{}", kept.join("&")) };
        Ok((url, tls))
    }

    /// The options enforcing the mode; `None` for `DISABLED`.
    pub fn ssl_opts(&self) -> Option<SslOpts> {
        if self.mode == SslMode::Disabled {
            return None;
        }
        let verify_chain = matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyIdentity);
        let mut o = SslOpts::default().with_danger_accept_invalid_certs(!verify_chain).with_danger_skip_domain_validation(self.mode != SslMode::VerifyIdentity);
        if let Some(ca) = &self.ca {
            o = o.with_root_certs(vec![PathBuf::from(ca).into()]).with_disable_built_in_roots(true);
        }
        if let (Some(c), Some(k)) = (&self.cert, &self.key) {
            o = o.with_client_identity(Some(ClientIdentity::new(PathBuf::from(c).into(), PathBuf::from(k).into())));
        }
        Some(o)
    }
}

/// The DNS name a server certificate holds, from rustls' "not valid for name" error
/// (`certificate is only valid for DnsName("db1")`).
pub fn certificate_name(message: &str) -> Option<String> {
    let at = message.find("only valid for DnsName(\"")? + "only valid for DnsName(\"".len();
    let end = message[at..].find('"')?;
    Some(message[at..at + end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_parameters_leave_the_url() {
        let (url, tls) = MyTls::split("mysql://u@h:3306/db?ssl-mode=VERIFY_IDENTITY&ssl-ca=%2Fca.pem&prefer_socket=false").unwrap();
        assert_eq!(url, "mysql://u@h:3306/db?prefer_socket=false");
        assert_eq!((tls.mode, tls.ca.as_deref()), (SslMode::VerifyIdentity, Some("/ca.pem")));
        assert_eq!(MyTls::split("mysql://u@h/db?ssl_mode=required").unwrap().1.mode, SslMode::Required);
        assert_eq!(MyTls::split("mysql://u@h/db").unwrap().1.mode, SslMode::Preferred);
        assert!(MyTls::split("mysql://u@h/db?ssl-mode=VERIFY_CA").is_err());
        assert!(MyTls::ssl_opts(&MyTls { mode: SslMode::Disabled, ..Default::default() }).is_none());
        assert_eq!(
            certificate_name("invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid for DnsName(\"localhost\")")
                .as_deref(),
            Some("localhost")
        );
    }
}
