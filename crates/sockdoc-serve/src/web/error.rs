//! Why a web configuration file was refused: one line each, in the caller's language
//! ([`WebConfigError::words`]); its `Display` is the English line. Exit codes are the caller's: a file
//! that cannot be read is [`WebConfigError::File`], everything else is a usage error.

use std::fmt;
use std::path::{Path, PathBuf};

use sockdoc_core::i18n::serve::{text, ServeMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_core::reap::config::file::FileError;

/// Why a web configuration was not loaded.
#[derive(Debug)]
pub enum WebConfigError {
    /// The file, or a certificate or key it names, cannot be read.
    File { path: PathBuf, error: FileError },
    /// Not YAML of the expected shape (an unknown key, a wrong type).
    Yaml { path: PathBuf, error: String },
    /// A key of the format that sockdoc does not implement.
    Unsupported { path: PathBuf, key: String },
    /// A value not among those allowed.
    BadValue {
        path: PathBuf,
        key: String,
        value: String,
        allowed: String,
    },
    /// A key that needs another one.
    Needs {
        path: PathBuf,
        key: String,
        needs: String,
    },
    /// A PEM file (or inline value) without the certificate or private key expected.
    NoPem {
        path: PathBuf,
        key: String,
        key_wanted: bool,
    },
    /// The certificate, key or CA cannot be used together (rustls' reason).
    Tls { path: PathBuf, error: String },
    /// A `basic_auth_users` entry that is not a bcrypt hash.
    Hash { path: PathBuf, user: String },
}

impl WebConfigError {
    /// The unreadable file's error, when that is the failure (the caller's exit code depends on it).
    pub fn file_error(&self) -> Option<(&Path, &FileError)> {
        match self {
            WebConfigError::File { path, error } => Some((path, error)),
            _ => None,
        }
    }

    /// The line in `lang`.
    pub fn words(&self, lang: Lang) -> String {
        let t = |m: ServeMsg, args: &[&str]| text(lang, m, args);
        let shown = |p: &Path| p.display().to_string();
        match self {
            WebConfigError::File { path, error } => error.words(lang, path),
            WebConfigError::Yaml { path, error } => t(ServeMsg::WebYaml, &[&shown(path), error]),
            WebConfigError::Unsupported { path, key } => {
                t(ServeMsg::WebUnsupported, &[&shown(path), key])
            }
            WebConfigError::BadValue {
                path,
                key,
                value,
                allowed,
            } => t(ServeMsg::WebBadValue, &[&shown(path), key, value, allowed]),
            WebConfigError::Needs { path, key, needs } => {
                t(ServeMsg::WebNeeds, &[&shown(path), key, needs])
            }
            WebConfigError::NoPem {
                path,
                key,
                key_wanted,
            } => {
                let m = if *key_wanted {
                    ServeMsg::WebNoKey
                } else {
                    ServeMsg::WebNoCert
                };
                t(m, &[&shown(path), key])
            }
            WebConfigError::Tls { path, error } => t(ServeMsg::WebTls, &[&shown(path), error]),
            WebConfigError::Hash { path, user } => t(ServeMsg::WebHash, &[&shown(path), user]),
        }
    }
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words(Lang::En))
    }
}

impl std::error::Error for WebConfigError {}
