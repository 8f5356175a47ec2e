//! The web configuration file (`--web.config.file`), in node_exporter's format (Prometheus'
//! exporter-toolkit): TLS (`tls_server_config`: a certificate and key, optionally client certificates
//! verified against a CA), basic authentication (`basic_auth_users`: bcrypt hashes) and extra response
//! headers (`http_server_config.headers`). One file serves node_exporter and sockdoc alike.
//!
//! [`WebConfig::load`] reads it whole at start (and again when the caller asks, on SIGHUP): every
//! file it names is read and checked then, so a bad certificate, key or hash is one line at start,
//! never a failed scrape later. Keys sockdoc does not implement (`cipher_suites`,
//! `curve_preferences`, `client_allowed_sans`, `rate_limit`) are refused by name rather than ignored:
//! a security setting that silently does nothing would be worse than none. Relative paths are taken
//! from the file's directory, as exporter-toolkit does. It only reads files; [`tls`] builds the
//! rustls configuration and [`auth`] checks passwords.

pub(crate) mod auth;
mod error;
pub(crate) mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use sockdoc_core::reap::config::file::{read_text, MAX_CONFIG_BYTES};

pub use error::WebConfigError;

use auth::Users;

/// The file as written (YAML); every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    tls_server_config: Option<tls::TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<serde_norway::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    /// HTTP/2: sockdoc answers HTTP/1.1 only (one request per connection), whatever this says.
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// The response headers `http_server_config.headers` may set (exporter-toolkit's list).
const HEADERS: [&str; 5] = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

/// A loaded web configuration: what the endpoint needs to answer, checked.
#[derive(Clone)]
pub struct WebConfig {
    path: PathBuf,
    tls: Option<tls::Tls>,
    users: Option<Arc<Users>>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls.is_some())
            .field("client_certs", &self.client_certs_required())
            .field("basic_auth", &self.users.is_some())
            .finish()
    }
}

impl WebConfig {
    /// Read and check `path` and every file it names.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = read_text(path, MAX_CONFIG_BYTES).map_err(|error| WebConfigError::File {
            path: path.to_path_buf(),
            error,
        })?;
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| WebConfigError::Yaml {
                path: path.to_path_buf(),
                error: e.to_string(),
            })?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let bad = |key: &str| WebConfigError::Unsupported {
            path: path.to_path_buf(),
            key: key.to_string(),
        };
        if file.rate_limit.is_some() {
            return Err(bad("rate_limit"));
        }
        let tls = match &file.tls_server_config {
            Some(t) => Some(tls::Tls::build(t, path, dir)?),
            None => None,
        };
        let users = match file.basic_auth_users {
            Some(u) if !u.is_empty() => Some(Arc::new(Users::new(u, path)?)),
            _ => None,
        };
        let mut headers = Vec::new();
        let http = file.http_server_config.unwrap_or_default();
        let _ = http.http2;
        for (name, value) in http.headers.unwrap_or_default() {
            let key = format!("http_server_config.headers.{name}");
            let Some(known) = HEADERS.iter().find(|h| h.eq_ignore_ascii_case(&name)) else {
                return Err(WebConfigError::BadValue {
                    path: path.to_path_buf(),
                    key,
                    value: name,
                    allowed: HEADERS.join(", "),
                });
            };
            if value.is_empty() {
                continue;
            }
            let v = HeaderValue::from_str(&value).map_err(|_| WebConfigError::BadValue {
                path: path.to_path_buf(),
                key: key.clone(),
                value: value.clone(),
                allowed: "printable ASCII".into(),
            })?;
            headers.push((HeaderName::from_static(lower(known)), v));
        }
        Ok(WebConfig {
            path: path.to_path_buf(),
            tls,
            users,
            headers,
        })
    }

    /// Read the same file again (SIGHUP).
    pub fn reload(&self) -> Result<WebConfig, WebConfigError> {
        WebConfig::load(&self.path)
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when connections are TLS.
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// True when every client must present a certificate the CA signed.
    pub fn client_certs_required(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.client_certs_required)
    }

    /// True when requests need a user and password.
    pub fn basic_auth(&self) -> bool {
        self.users.is_some()
    }

    /// True when the endpoint is encrypted and every client must prove who it is (a password or a
    /// client certificate): listening on every interface is then no exposure.
    pub fn secured(&self) -> bool {
        self.tls() && (self.basic_auth() || self.client_certs_required())
    }

    pub(crate) fn acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.tls.as_ref().map(|t| t.acceptor.clone())
    }

    pub(crate) fn users(&self) -> Option<&Arc<Users>> {
        self.users.as_ref()
    }

    pub(crate) fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }
}

/// The lower-case (static) form of one of [`HEADERS`], as `HeaderName::from_static` wants it.
fn lower(h: &str) -> &'static str {
    match h {
        "Content-Security-Policy" => "content-security-policy",
        "X-Frame-Options" => "x-frame-options",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "strict-transport-security",
    }
}
