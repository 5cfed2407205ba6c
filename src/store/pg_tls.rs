//! PostgreSQL over TLS with rustls: `sslmode` and `sslrootcert` in the PostgreSQL URL, as libpq spells them.
//!
//! - `disable`, `prefer` (tokio-postgres' default when the URL has no `sslmode`): no TLS, as before this module.
//!   Note that `prefer` does **not** try TLS first as libpq does; ask for `require` or stricter to get TLS.
//! - `require`: TLS, the server's certificate is not checked (encryption without authentication; libpq does the
//!   same unless a root certificate is given — here `sslrootcert` with `require` checks the chain, as libpq's
//!   `verify-ca`).
//! - `verify-ca`: TLS, the certificate must chain to a trusted root (`sslrootcert`, or the system's roots).
//! - `verify-full`: as `verify-ca`, and the certificate must name the host the URL connects to.
//!
//! Connections are made with `tokio_postgres::connect` and `tokio-postgres-rustls`, then handed to diesel-async
//! (`AsyncPgConnection::try_from_client_and_connection`). The crypto provider is aws-lc-rs, chosen explicitly,
//! so another provider compiled into the binary cannot make rustls ambiguous.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(v: &str) -> Result<SslMode, String> {
        Ok(match v {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other:?} is not supported: use disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS settings of a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTls {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

impl PgTls {
    /// Reads `sslmode` and `sslrootcert` from the URL. Returns the URL to give tokio-postgres (without
    /// `sslrootcert`, which it does not know, and with `sslmode=require` for the verifying modes) and the settings.
    pub fn from_url(url: &str) -> Result<(String, PgTls), String> {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut mode = SslMode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => mode = SslMode::parse(v)?,
                Some(("sslrootcert", "")) => return Err("sslrootcert is empty".into()),
                Some(("sslrootcert", v)) => root_cert = Some(PathBuf::from(v)),
                _ => kept.push(pair.to_string()),
            }
        }
        if matches!(mode, SslMode::Disable | SslMode::Prefer) {
            kept.push(format!("sslmode={}", mode.as_str()));
        } else {
            kept.push("sslmode=require".into());
        }
        Ok((format!("{base}?{}", kept.join("&")), PgTls { mode, root_cert }))
    }

    pub fn uses_tls(&self) -> bool {
        !matches!(self.mode, SslMode::Disable | SslMode::Prefer)
    }

    /// The rustls connector for this mode (`None`: no TLS). Reads the root certificates.
    pub fn connector(&self) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, String> {
        if !self.uses_tls() {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verify_chain = self.mode != SslMode::Require || self.root_cert.is_some();
        let verifier: Arc<dyn ServerCertVerifier> = if verify_chain {
            let roots = self.roots()?;
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("PostgreSQL TLS: {e}"))?;
            if self.mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        } else {
            Arc::new(NoVerification(provider.clone()))
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("PostgreSQL TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
    }

    /// The trusted roots: `sslrootcert`'s certificates, or the system's (the process's one store,
    /// [`crate::tls::native_roots`]).
    fn roots(&self) -> Result<Arc<RootCertStore>, String> {
        let Some(path) = &self.root_cert else {
            let roots = crate::tls::native_roots();
            if roots.is_empty() {
                return Err(format!(
                    "sslmode={} needs trusted roots: set sslrootcert=<file> or install the system's CA certificates",
                    self.mode.as_str()
                ));
            }
            return Ok(roots);
        };
        let mut roots = RootCertStore::empty();
        let pem = std::fs::read(path).map_err(|e| format!("sslrootcert {}: cannot read it: {e}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("sslrootcert {}: not a PEM certificate: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("sslrootcert {}: no certificate in it", path.display()));
        }
        Ok(Arc::new(roots))
    }
}

/// `verify-ca`: the chain must be trusted; the name in the certificate is not compared with the host.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require`: any certificate is accepted (the handshake's signatures are still checked).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
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
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sslmode_and_sslrootcert() {
        let (url, tls) =
            PgTls::from_url("postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x").unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x&sslmode=require");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/ca.pem")));
        let (url, tls) = PgTls::from_url("postgres://u@h/db").unwrap();
        assert_eq!(
            (url.as_str(), tls.mode),
            ("postgres://u@h/db?sslmode=prefer", SslMode::Prefer)
        );
        assert!(!tls.uses_tls());
        assert!(PgTls::from_url("postgres://u@h/db?sslmode=disable").unwrap().1.mode == SslMode::Disable);
    }

    #[test]
    fn refuses_unknown_modes() {
        let err = PgTls::from_url("postgres://u@h/db?sslmode=allow-anything").unwrap_err();
        assert!(err.contains("sslmode") && err.contains("verify-full"), "{err}");
        assert!(PgTls::from_url("postgres://u@h/db?sslrootcert=").is_err());
    }
}
