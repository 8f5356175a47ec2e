//! The record of one interval: per namespace the state counts and the doctor's findings of that
//! minute, each with its words in every language sockdoc speaks, its numbers and its breakdown rows,
//! so that `--at` shows them exactly as they were. A zstd-compressed JSON document
//! (`minutes/<YYYYMMDDTHHMMSSZ>.json.zst`, format in docs/record.md), written atomically.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as JValue};
use sockdoc_core::doctor::{Finding, Value};
use sockdoc_core::i18n::{self, Lang};
use sockdoc_diag::{Proto, Socket, State};

/// The `format` of every minute record.
pub const FORMAT: &str = "sockdoc minute";
pub const VERSION: u32 = 1;
/// A record may not decompress past this (a damaged file would otherwise be believed).
const MAX_BYTES: u64 = 64 << 20;

/// One interval of the recorder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Minute {
    pub format: String,
    pub version: u32,
    /// When the census ended, RFC 3339 UTC.
    pub taken: String,
    /// The same, milliseconds since the epoch.
    pub taken_ms: u64,
    pub census_ms: u64,
    /// The full snapshot taken with this census (its file name under `snapshots/`), if one was.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Sockets the first-seen index holds after this scan, and the cookies it saw first.
    #[serde(default)]
    pub indexed: u64,
    #[serde(default)]
    pub first_seen: u64,
    /// When the tcp_info the findings rest on was read (ms since the epoch, as `taken_ms`): this
    /// census's own time when it read tcp_info, else the last reading's, carried (idle times aged
    /// since). `None` in a record of an older version, which read it with every census.
    #[serde(default)]
    pub tcp_info_ms: Option<u64>,
    pub namespaces: Vec<NsMinute>,
}

/// One namespace's minute.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NsMinute {
    pub label: String,
    /// TCP and UDP sockets by state (the kernel's state keys: `established`, `close-wait`...).
    pub tcp: BTreeMap<String, u64>,
    pub udp: BTreeMap<String, u64>,
    pub findings: Vec<RecordedFinding>,
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A finding as the doctor gave it that minute.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedFinding {
    pub id: String,
    /// `info`, `warning`, `critical`.
    pub severity: String,
    /// Its words by language (`en`, `zh`).
    pub words: BTreeMap<String, Words>,
    /// Key numbers, as `doctor --json` shows them under `evidence`.
    pub evidence: BTreeMap<String, i64>,
    /// Breakdown rows, as `doctor --json` shows them under `groups`.
    pub groups: Vec<Map<String, JValue>>,
}

/// A finding's words in one language.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Words {
    pub title: String,
    pub detail: String,
    pub why: String,
    pub fix: Vec<String>,
}

impl RecordedFinding {
    /// `f` with its words in every language.
    pub fn of(f: &Finding) -> RecordedFinding {
        let words = [(Lang::En, "en"), (Lang::Zh, "zh")]
            .into_iter()
            .map(|(lang, key)| {
                let w = i18n::finding(lang, &f.evidence);
                (
                    key.to_string(),
                    Words {
                        title: w.title,
                        detail: w.detail,
                        why: w.why,
                        fix: w.fix,
                    },
                )
            })
            .collect();
        RecordedFinding {
            id: f.id.to_string(),
            severity: f.severity.name().to_string(),
            words,
            evidence: f
                .numbers()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            groups: f
                .groups()
                .into_iter()
                .map(|row| {
                    row.0
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), json_value(&v)))
                        .collect()
                })
                .collect(),
        }
    }

    /// Its words in `lang` (English when the record has none in it).
    pub fn words(&self, lang: Lang) -> Words {
        let key = match lang {
            Lang::En => "en",
            Lang::Zh => "zh",
        };
        self.words
            .get(key)
            .or_else(|| self.words.get("en"))
            .cloned()
            .unwrap_or_default()
    }
}

fn json_value(v: &Value) -> JValue {
    serde_json::to_value(v).unwrap_or(JValue::Null)
}

/// TCP and UDP counts of `sockets` by state key.
pub fn state_counts(sockets: &[Socket]) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut tcp = [0u64; 12];
    let mut udp = [0u64; 12];
    for s in sockets {
        let c = if s.proto == Proto::Tcp {
            &mut tcp
        } else {
            &mut udp
        };
        c[(s.state as usize).min(11)] += 1;
    }
    let named = |c: &[u64; 12]| {
        State::ALL
            .iter()
            .filter(|s| c[**s as usize] > 0)
            .map(|s| (s.key().to_string(), c[*s as usize]))
            .collect()
    };
    (named(&tcp), named(&udp))
}

/// The bytes of `m` as a file holds them.
pub fn encode(m: &Minute) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(m).map_err(std::io::Error::other)?;
    zstd::bulk::compress(&json, 3)
}

/// Why a minute record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MinuteError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: damaged or cut short ({why})")]
    Damaged { path: String, why: String },
}

/// Read the minute record at `path`.
pub fn read(path: &Path) -> Result<Minute, MinuteError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| MinuteError::Io {
        path: name.clone(),
        source,
    })?;
    let damaged = |why: String| MinuteError::Damaged {
        path: name.clone(),
        why,
    };
    let mut json = Vec::new();
    zstd::stream::Decoder::new(file)
        .map_err(|e| damaged(e.to_string()))?
        .take(MAX_BYTES)
        .read_to_end(&mut json)
        .map_err(|e| damaged(e.to_string()))?;
    let m: Minute = serde_json::from_slice(&json).map_err(|e| damaged(e.to_string()))?;
    if m.format != FORMAT {
        return Err(damaged(format!("format '{}'", m.format)));
    }
    if m.version > VERSION {
        return Err(damaged(format!(
            "written by a newer sockdoc (minute format {}; this one reads up to {VERSION})",
            m.version
        )));
    }
    Ok(m)
}
