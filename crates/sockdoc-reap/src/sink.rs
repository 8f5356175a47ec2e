//! Where the daemon's JSON records go, and the records it writes itself (start, config, netns, spare,
//! defer, error, stop); the kill and keepalive records are the treat path's, written ahead through
//! the same sink. Shapes: docs/json-schema.md ("reap").

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use sockdoc_act::audit::{now_rfc3339, AuditLog, Journal};
use sockdoc_core::reap::Config;

use crate::error::ReapError;

/// Where action records go: standard output (journald under systemd) or an append-only file.
pub enum Sink<'a> {
    Out(&'a mut dyn Write),
    File(AuditLog),
}

/// Write-ahead records of acts: synced to disk in the file, flushed on standard output.
impl Journal for Sink<'_> {
    fn commit(&mut self, records: &[String]) -> std::io::Result<()> {
        match self {
            Sink::Out(w) => {
                for r in records {
                    writeln!(w, "{r}")?;
                }
                w.flush()
            }
            Sink::File(log) => log.append_durable(records),
        }
    }

    fn concurrent(&mut self) -> Option<&mut (dyn Journal + Send)> {
        match self {
            Sink::Out(_) => None,
            Sink::File(log) => log.concurrent(),
        }
    }
}

/// A sink and the `schema` its records carry.
pub(crate) struct Records<'a> {
    pub sink: Sink<'a>,
    pub schema: u32,
}

impl Records<'_> {
    /// Write `v` with its `schema` and `time`.
    pub fn write(&mut self, mut v: Value) -> Result<(), ReapError> {
        if let Some(o) = v.as_object_mut() {
            o.insert("schema".into(), json!(self.schema));
            o.insert("time".into(), json!(now_rfc3339()));
        }
        let text = v.to_string();
        match &mut self.sink {
            Sink::Out(w) => writeln!(w, "{text}").map_err(ReapError::Output),
            Sink::File(log) => log.append(&text).map_err(|source| ReapError::Log {
                path: log.path().to_path_buf(),
                synced: false,
                source,
            }),
        }
    }

    /// Make what was written durable (synced) or visible (flushed).
    pub fn flush(&mut self) -> Result<(), ReapError> {
        match &mut self.sink {
            Sink::Out(w) => w.flush().map_err(ReapError::Output),
            Sink::File(log) => log.sync().map_err(|source| ReapError::Log {
                path: log.path().to_path_buf(),
                synced: true,
                source,
            }),
        }
    }

    /// The action log's path (`None`: standard output).
    pub fn path(&self) -> Option<&Path> {
        match &self.sink {
            Sink::Out(_) => None,
            Sink::File(log) => Some(log.path()),
        }
    }
}

impl Journal for Records<'_> {
    fn commit(&mut self, records: &[String]) -> std::io::Result<()> {
        self.sink.commit(records)
    }

    fn concurrent(&mut self) -> Option<&mut (dyn Journal + Send)> {
        self.sink.concurrent()
    }
}

/// The rules as the start and config records list them.
pub(crate) fn rules(cfg: &Config) -> Vec<Value> {
    cfg.rules
        .iter()
        .map(|r| json!({"name": r.name, "selector": r.selector_text, "dry_run": r.dry_run}))
        .collect()
}
