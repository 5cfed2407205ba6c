//! The system's trusted certificates and the TLS configuration of outbound HTTPS, each built once per process.
//! Loading and parsing the system's certificates is the slow part of building a TLS client (tens of milliseconds,
//! more in a debug build), and every `reqwest::Client` built its own: one per integration, sixteen per daemon start.

use rustls::RootCertStore;
use std::sync::{Arc, OnceLock};

/// The system's CA certificates (`rustls-native-certs`: the distribution's bundle, or `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`), loaded on first use and kept for the life of the process. Empty if none was found.
pub fn native_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            Arc::new(roots)
        })
        .clone()
}

/// The TLS configuration every integration's HTTP client uses: the system's roots, the chain and the host name
/// verified, aws-lc-rs (the one crypto provider of the build), TLS 1.2 and 1.3.
pub fn https_client_config() -> rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("aws-lc-rs supports TLS 1.2 and 1.3")
                .with_root_certificates(native_roots())
                .with_no_client_auth()
        })
        .clone()
}

/// A `reqwest` client builder over [`https_client_config`]: every HTTP client the program (and its tests) builds
/// starts here.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(https_client_config())
}

/// A client with [`http_client_builder`]'s defaults.
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().expect("HTTP client")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// An HTTPS server on localhost for one connection, with a self-signed certificate for `localhost` (no system
    /// root vouches for it). Its port.
    fn self_signed_server() -> u16 {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone()], key)
                .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((tcp, _)) = listener.accept() {
                let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(Arc::new(config)).unwrap(), tcp);
                let mut request = [0u8; 1024];
                // The handshake happens in the first read; a client that refuses the certificate ends it there.
                if tls.read(&mut request).is_ok() {
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                }
            }
        });
        port
    }

    #[tokio::test]
    async fn a_certificate_that_no_trusted_root_signed_is_refused() {
        let port = self_signed_server();
        let err = http_client()
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .expect_err("a self-signed certificate is not trusted");
        let chain: Vec<String> = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .map(|e| e.to_string())
            .collect();
        assert!(
            chain.iter().any(|e| e.contains("UnknownIssuer")),
            "refused for its issuer: {chain:?}"
        );
    }

    #[test]
    fn the_systems_roots_are_loaded_once() {
        let roots = native_roots();
        assert!(
            !roots.is_empty(),
            "this machine has the distribution's CA certificates (Debian's ca-certificates)"
        );
        assert!(Arc::ptr_eq(&roots, &native_roots()), "the same store, not loaded again");
    }
}
