//! TLS without a proxy (rustls): the certificate chain and its key are read from PEM files, and
//! read again whenever the files change, so a renewed certificate is served to new connections
//! without a restart. ALPN offers HTTP/2 and HTTP/1.1.
//!
//! A file that cannot be read or parsed at start is an error; later, the certificate being
//! served stays in place and the failure is logged (never the key's content).

use rustls::crypto::ring::{default_provider, sign::any_supported_type};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Where the certificate chain and its private key are (PEM).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How often the files are read again to see whether they changed.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

fn read(path: &Path, what: &str) -> std::io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("reading the TLS {what} {}: {e}", path.display()))
    })
}

fn parse(cert_pem: &[u8], key_pem: &[u8]) -> std::io::Result<Arc<CertifiedKey>> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("the TLS certificate file is not PEM certificates ({e})")))?;
    if chain.is_empty() {
        return Err(invalid("the TLS certificate file holds no certificate".into()));
    }
    // The key's own bytes never reach a message: only what kind of failure it was.
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| invalid("the TLS key file holds no PEM private key".into()))?;
    let signing = any_supported_type(&key)
        .map_err(|_| invalid("the TLS private key is of an unsupported kind".into()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|_| invalid("the TLS private key does not belong to the certificate".into()))?;
    Ok(Arc::new(certified))
}

/// The certificate being served, replaced when the files change.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

/// Whether the files hold a usable certificate chain and its key (for `spine doctor`).
pub fn check(files: &TlsFiles) -> std::io::Result<()> {
    parse(&read(&files.cert, "certificate")?, &read(&files.key, "key")?).map(|_| ())
}

/// A TLS acceptor serving the certificate in `files`, and the task that reloads it (stopped
/// when the returned handle is dropped or aborted).
pub fn acceptor(
    files: &TlsFiles,
) -> std::io::Result<(tokio_rustls::TlsAcceptor, tokio::task::JoinHandle<()>)> {
    let (cert_pem, key_pem) = (read(&files.cert, "certificate")?, read(&files.key, "key")?);
    let certified = parse(&cert_pem, &key_pem)?;
    let resolver = Arc::new(Reloading { current: RwLock::new(certified) });
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut loaded = (cert_pem, key_pem);
    let files = files.clone();
    let reload = tokio::spawn(async move {
        loop {
            tokio::time::sleep(RELOAD_EVERY).await;
            let (cert_pem, key_pem) = match (
                read(&files.cert, "certificate"),
                read(&files.key, "key"),
            ) {
                (Ok(c), Ok(k)) => (c, k),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "the TLS files could not be read; serving the certificate loaded before");
                    continue;
                }
            };
            if (&cert_pem, &key_pem) == (&loaded.0, &loaded.1) {
                continue;
            }
            match parse(&cert_pem, &key_pem) {
                Ok(certified) => {
                    if let Ok(mut current) = resolver.current.write() {
                        *current = certified;
                    }
                    loaded = (cert_pem, key_pem);
                    tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                }
                // A renewal caught halfway (the certificate written, the key not yet) parses
                // as a mismatch: the next look, once both are written, takes them.
                Err(e) => {
                    tracing::warn!(error = %e, "the changed TLS files are not usable yet; serving the certificate loaded before")
                }
            }
        }
    });
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), reload))
}
