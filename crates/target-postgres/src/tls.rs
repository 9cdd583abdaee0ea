//! TLS for PostgreSQL connections (target, source and the source's replication connection),
//! with libpq's `sslmode` meanings, on rustls:
//!
//! | sslmode | encrypts | checks the certificate chain | checks the host name |
//! |---|---|---|---|
//! | `disable` | never | – | – |
//! | `allow`, `prefer` (default) | when the server offers TLS | no | no |
//! | `require` | always | only when `sslrootcert` is given (as libpq does) | no |
//! | `verify-ca` | always | yes, against `sslrootcert` (or `system`) | no |
//! | `verify-full` | always | yes | yes |
//!
//! `sslcert` + `sslkey` add a client certificate. The parameters are taken out of the URL (or
//! keyword string) by [`PgTls::split`] — tokio-postgres knows only `disable|prefer|require` —
//! and [`PgTls::client_config`] builds the rustls configuration that enforces them; `allow` is
//! served as `prefer` (TLS first, then plaintext), the safer order.

use crate::error::TargetError;
use ferry_model::ErrorKind;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, TargetError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(TargetError::new(ErrorKind::Definite, format!("sslmode={other}: give disable, allow, prefer, require, verify-ca or verify-full")))
            }
        })
    }

    /// The server must speak TLS (no plaintext fallback).
    pub fn required(self) -> bool {
        matches!(self, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// The TLS settings of one PostgreSQL URL.
#[derive(Debug, Clone, Default)]
pub struct PgTls {
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of trusted roots, or `system` for the bundled web roots.
    pub root_cert: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
}

const KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

impl PgTls {
    /// Takes the TLS parameters out of `url` (a `postgres://` URL or a libpq keyword string):
    /// the URL without them, and the settings.
    pub fn split(url: &str) -> Result<(String, PgTls), TargetError> {
        let mut found: Vec<(String, String)> = Vec::new();
        let rest = if url.contains("://") {
            match url.split_once('?') {
                None => url.to_string(),
                Some((head, query)) => {
                    let kept: Vec<&str> = query
                        .split('&')
                        .filter(|kv| match kv.split_once('=') {
                            Some((k, v)) if KEYS.contains(&k) => {
                                found.push((k.to_string(), ferry_model::percent_decode(v)));
                                false
                            }
                            _ => true,
                        })
                        .collect();
                    if kept.is_empty() {
                        head.to_string()
                    } else {
                        format!("{head}?{}", kept.join("&"))
                    }
                }
            }
        } else {
            let kept: Vec<&str> = url
                .split_whitespace()
                .filter(|kv| match kv.split_once('=') {
                    Some((k, v)) if KEYS.contains(&k) => {
                        found.push((k.to_string(), v.trim_matches('\'').to_string()));
                        false
                    }
                    _ => true,
                })
                .collect();
            kept.join(" ")
        };
        let mut tls = PgTls::default();
        for (k, v) in found {
            match k.as_str() {
                "sslmode" => tls.mode = SslMode::parse(&v)?,
                "sslrootcert" => tls.root_cert = Some(v),
                "sslcert" => tls.client_cert = Some(v),
                _ => tls.client_key = Some(v),
            }
        }
        if tls.client_cert.is_some() != tls.client_key.is_some() {
            return Err(TargetError::new(ErrorKind::Definite, "give sslcert and sslkey together (a client certificate and its key)"));
        }
        if matches!(tls.mode, SslMode::VerifyCa | SslMode::VerifyFull) && tls.root_cert.is_none() {
            return Err(TargetError::new(
                ErrorKind::Definite,
                format!(
                    "sslmode={}: give sslrootcert=<PEM file of the CA> (or sslrootcert=system)",
                    if tls.mode == SslMode::VerifyCa { "verify-ca" } else { "verify-full" }
                ),
            ));
        }
        Ok((rest, tls))
    }

    /// The mode tokio-postgres runs the handshake in.
    pub fn tokio_mode(&self) -> tokio_postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        }
    }

    /// The rustls client configuration enforcing the mode; `None` for `disable`.
    pub fn client_config(&self) -> Result<Option<Arc<ClientConfig>>, TargetError> {
        if self.mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let bad = |what: String| TargetError::new(ErrorKind::Definite, what);
        let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| bad(format!("TLS: {e}")))?;
        let check_chain = matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull) || (self.mode == SslMode::Require && self.root_cert.is_some());
        let verifier: Arc<dyn ServerCertVerifier> = if check_chain {
            let mut roots = RootCertStore::empty();
            match self.root_cert.as_deref() {
                Some("system") | None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                Some(path) => {
                    let certs: Vec<CertificateDer<'static>> =
                        CertificateDer::pem_file_iter(path).and_then(|it| it.collect()).map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
                    if certs.is_empty() {
                        return Err(bad(format!("sslrootcert {path}: no certificate in the file")));
                    }
                    for c in certs {
                        roots.add(c).map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
                    }
                }
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| bad(format!("TLS roots: {e}")))?;
            Arc::new(ChainVerifier { inner: webpki, check_name: self.mode == SslMode::VerifyFull })
        } else {
            Arc::new(EncryptOnly { provider: provider.clone() })
        };
        let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
        let config = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let certs: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_file_iter(cert).and_then(|it| it.collect()).map_err(|e| bad(format!("sslcert {cert}: {e}")))?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(format!("sslkey {key}: {e}")))?;
                builder.with_client_auth_cert(certs, key).map_err(|e| bad(format!("client certificate: {e}")))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Some(Arc::new(config)))
    }
}

/// `verify-ca` / `verify-full`: the chain must lead to a trusted root; the host name must match
/// only under `verify-full`.
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) if !self.check_name => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `prefer` / `require` without a root certificate: encrypted, the server's certificate not
/// checked (libpq's meaning; the handshake signatures still are).
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        unparsable_is_unchecked(rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms))
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        unparsable_is_unchecked(rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms))
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Under `prefer` / `require` the certificate is not checked, so one webpki cannot parse (an
/// X.509 v1 certificate, as Citus generates at `CREATE EXTENSION citus`: `UnsupportedCertVersion`)
/// is accepted as libpq accepts it. This loses nothing: whoever could present such a
/// certificate could present any self-signed one. A signature that parses and does not match
/// still fails.
fn unparsable_is_unchecked(r: Result<HandshakeSignatureValid, rustls::Error>) -> Result<HandshakeSignatureValid, rustls::Error> {
    match r {
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(_) | CertificateError::BadEncoding)) => Ok(HandshakeSignatureValid::assertion()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_leave_the_url_and_keep_their_meaning() {
        let (url, tls) = PgTls::split("postgres://u@h/db?schema=app&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem").unwrap();
        assert_eq!(url, "postgres://u@h/db?schema=app");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert.as_deref(), Some("/tmp/ca.pem"));
        let (url, tls) = PgTls::split("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!((url.as_str(), tls.mode), ("postgres://u@h/db", SslMode::Require));
        assert_eq!(PgTls::split("postgres://u@h/db").unwrap().1.mode, SslMode::Prefer, "prefer by default");
        let (kw, tls) = PgTls::split("host=h sslmode=disable dbname=d").unwrap();
        assert_eq!((kw.as_str(), tls.mode), ("host=h dbname=d", SslMode::Disable));
        assert!(PgTls::split("postgres://h/db?sslmode=verify-ca").unwrap_err().to_string().contains("sslrootcert"));
        assert!(PgTls::split("postgres://h/db?sslmode=bogus").is_err());
        assert!(PgTls::split("postgres://h/db?sslcert=/c.pem").is_err(), "a certificate needs its key");
    }
}
