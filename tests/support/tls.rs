//! TLS in front of a test broker: [`TlsProxy`] terminates TLS (optionally requiring a client
//! certificate) and forwards the plain bytes to tansu, as a TLS-terminating load balancer in
//! front of Kafka does. tansu 0.6 cannot serve TLS itself: its `--cert` and `--key` options
//! are declared in one clap group, so giving both is refused, and it needs both.
//!
//! The certificates are fixtures in `tests/fixtures/tls` (see its README).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, crypto};

/// A file in `tests/fixtures/tls`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// The text of a file in `tests/fixtures/tls`.
pub fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

/// Whether the proxy asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Server-authenticated TLS only.
    None,
    /// Mutual TLS: a client certificate signed by `ca.pem` is required.
    Required,
}

/// A TLS listener on `127.0.0.1:port` that forwards every connection to `upstream`.
pub struct TlsProxy {
    accept: JoinHandle<()>,
}

impl TlsProxy {
    /// Listens on `port` with `server.pem` (signed by `ca.pem`).
    pub async fn start(port: u16, upstream: String, auth: ClientAuth) -> TlsProxy {
        let provider = Arc::new(crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS protocol versions");
        let builder = match auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Required => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(fixture("ca.pem")).expect("ca.pem") {
                    roots
                        .add(cert.expect("a CA certificate"))
                        .expect("adding the CA");
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .expect("a client certificate verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
            .expect("server.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("the server certificate");
        let key = PrivateKeyDer::from_pem_file(fixture("server-key.pem")).expect("server-key.pem");
        let config = builder
            .with_single_cert(certs, key)
            .expect("a TLS server configuration");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("listening on {port}: {e}"));
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    // A failed handshake (wrong CA on the client's side, no client
                    // certificate) just closes the connection, as a broker would.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsProxy { accept }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
