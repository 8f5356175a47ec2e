//! `tls_server_config` turned into a rustls server configuration (ring as the crypto provider):
//! the certificate chain and key (files or inline PEM), the TLS versions (1.2 and 1.3; rustls has no
//! older ones), and client certificates (`client_auth_type`: `NoClientCert`,
//! `VerifyClientCertIfGiven` or `RequireAndVerifyClientCert`, verified against `client_ca_file`).
//! The two Go policies that accept a certificate without verifying it (`RequestClientCert`,
//! `RequireAnyClientCert`) are refused: they authenticate nobody.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::Deserialize;
use sockdoc_core::reap::config::file::{read_text, MAX_CONFIG_BYTES};

use super::WebConfigError;

/// `tls_server_config` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsFile {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    cipher_suites: Option<serde_norway::Value>,
    curve_preferences: Option<serde_norway::Value>,
    client_allowed_sans: Option<serde_norway::Value>,
}

/// The built TLS side: the acceptor, and whether it demands client certificates.
#[derive(Clone)]
pub(crate) struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub client_certs_required: bool,
}

const AUTH_TYPES: &str = "NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert";
const VERSIONS: &str = "TLS12, TLS13";

/// Where one PEM value comes from: inline text, or a file (relative to the config's directory).
fn pem(
    inline: &Option<String>,
    file: &Option<PathBuf>,
    dir: &Path,
) -> Result<Option<Vec<u8>>, WebConfigError> {
    if let Some(text) = inline {
        return Ok(Some(text.as_bytes().to_vec()));
    }
    let Some(f) = file else {
        return Ok(None);
    };
    let path = dir.join(f);
    let text =
        read_text(&path, MAX_CONFIG_BYTES).map_err(|error| WebConfigError::File { path, error })?;
    Ok(Some(text.into_bytes()))
}

/// The TLS versions rustls speaks, oldest first.
const ALL_VERSIONS: [&SupportedProtocolVersion; 2] =
    [&rustls::version::TLS12, &rustls::version::TLS13];

/// A version's place in [`ALL_VERSIONS`].
fn version(v: &Option<String>, key: &str, config: &Path) -> Result<Option<usize>, WebConfigError> {
    match v.as_deref() {
        None => Ok(None),
        Some("TLS12") => Ok(Some(0)),
        Some("TLS13") => Ok(Some(1)),
        Some(other) => Err(WebConfigError::BadValue {
            path: config.to_path_buf(),
            key: format!("tls_server_config.{key}"),
            value: other.to_string(),
            allowed: VERSIONS.into(),
        }),
    }
}

impl Tls {
    /// Build from the file's section; `config` is the file (for messages), `dir` its directory.
    pub(crate) fn build(t: &TlsFile, config: &Path, dir: &Path) -> Result<Tls, WebConfigError> {
        let path = || config.to_path_buf();
        for (key, set) in [
            ("cipher_suites", t.cipher_suites.is_some()),
            ("curve_preferences", t.curve_preferences.is_some()),
            ("client_allowed_sans", t.client_allowed_sans.is_some()),
        ] {
            if set {
                return Err(WebConfigError::Unsupported {
                    path: path(),
                    key: format!("tls_server_config.{key}"),
                });
            }
        }
        let needs = |key: &str, needs: &str| WebConfigError::Needs {
            path: path(),
            key: format!("tls_server_config.{key}"),
            needs: needs.to_string(),
        };
        let both = |a: bool, b: bool, key: &str| {
            if a && b {
                Err(needs(key, &format!("{key} or {key}_file, not both")))
            } else {
                Ok(())
            }
        };
        let min = version(&t.min_version, "min_version", config)?.unwrap_or(0);
        let max = version(&t.max_version, "max_version", config)?.unwrap_or(1);
        let versions = ALL_VERSIONS.get(min..=max).unwrap_or_default();
        if versions.is_empty() {
            return Err(needs("min_version", "min_version <= max_version"));
        }
        let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
        let (verify, required) = match auth {
            "NoClientCert" => (None, false),
            "VerifyClientCertIfGiven" => (Some(false), false),
            "RequireAndVerifyClientCert" => (Some(true), true),
            other => {
                return Err(WebConfigError::BadValue {
                    path: path(),
                    key: "tls_server_config.client_auth_type".into(),
                    value: other.to_string(),
                    allowed: AUTH_TYPES.into(),
                })
            }
        };
        both(t.cert.is_some(), t.cert_file.is_some(), "cert")?;
        both(t.key.is_some(), t.key_file.is_some(), "key")?;
        both(
            t.client_ca.is_some(),
            t.client_ca_file.is_some(),
            "client_ca",
        )?;
        let cert = pem(&t.cert, &t.cert_file, dir)?
            .ok_or_else(|| needs("cert_file", "a server certificate (cert_file)"))?;
        let key = pem(&t.key, &t.key_file, dir)?
            .ok_or_else(|| needs("key_file", "the certificate's private key (key_file)"))?;
        let no_pem = |key: &str, key_wanted: bool| WebConfigError::NoPem {
            path: path(),
            key: format!("tls_server_config.{key}"),
            key_wanted,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(no_pem("cert_file", false));
        }
        let private = PrivateKeyDer::from_pem_slice(&key).map_err(|_| no_pem("key_file", true))?;
        // ring: it builds with a C compiler alone, where aws-lc needs a much larger C build. rustls
        // marks ring's provider deprecated only because it has no post-quantum key exchange, which a
        // scrape of socket counts does not need.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_err = |e: String| WebConfigError::Tls {
            path: path(),
            error: e,
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| tls_err(e.to_string()))?;
        let ca = pem(&t.client_ca, &t.client_ca_file, dir)?;
        let builder = match (verify, ca) {
            (None, None) => builder.with_no_client_auth(),
            (None, Some(_)) => {
                return Err(needs(
                    "client_ca_file",
                    "client_auth_type RequireAndVerifyClientCert (or VerifyClientCertIfGiven)",
                ))
            }
            (Some(_), None) => {
                return Err(needs(
                    "client_auth_type",
                    "client_ca_file (the CA that signs client certificates)",
                ))
            }
            (Some(required), Some(ca)) => {
                builder.with_client_cert_verifier(verifier(&ca, required, provider, config)?)
            }
        };
        let mut server = builder
            .with_single_cert(chain, private)
            .map_err(|e| tls_err(e.to_string()))?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        server.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            client_certs_required: required,
        })
    }
}

/// The verifier of client certificates signed by the CA in `ca` (PEM); `required`: a client without
/// one is refused.
fn verifier(
    ca: &[u8],
    required: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
    config: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, WebConfigError> {
    let tls_err = |e: String| WebConfigError::Tls {
        path: config.to_path_buf(),
        error: e,
    };
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca).filter_map(Result::ok) {
        roots.add(c).map_err(|e| tls_err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(WebConfigError::NoPem {
            path: config.to_path_buf(),
            key: "tls_server_config.client_ca_file".into(),
            key_wanted: false,
        });
    }
    let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let v = if required {
        v
    } else {
        v.allow_unauthenticated()
    };
    v.build().map_err(|e| tls_err(e.to_string()))
}
