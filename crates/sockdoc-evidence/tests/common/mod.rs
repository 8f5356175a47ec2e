//! What the evidence tests share: a scratch directory removed on drop (also when a test fails),
//! and the states and keepalive timers of a namespace as `ss` itself shows them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sockdoc_evidence::NsEvidence;
use sockdoc_lab::{Netns, Proto};

/// A scratch directory under the system's temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("sdev-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }

    /// Write `text` to `name` inside; its path.
    pub fn write(&self, name: &str, text: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// (proto, state key) → count, as `ss` shows the namespace now.
pub fn ss_counts(ns: &Netns) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for s in sockdoc_lab::ss::snapshot_quick(ns).expect("ss") {
        let proto = match s.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        *m.entry((proto.to_string(), s.state.sockdoc_name().to_string()))
            .or_default() += 1;
    }
    m
}

/// The same count of what the evidence read.
pub fn ev_counts(ns: &NsEvidence) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for s in &ns.sockets {
        *m.entry((s.proto.name().to_string(), s.state.key().to_string()))
            .or_default() += 1;
    }
    m
}

/// Local ports of sockets with a keepalive timer, sorted.
pub fn ss_keepalive_ports(ns: &Netns) -> Vec<u16> {
    let mut v: Vec<u16> = sockdoc_lab::ss::snapshot_quick(ns)
        .expect("ss")
        .iter()
        .filter(|s| s.timer.as_ref().is_some_and(|t| t.kind == "keepalive"))
        .map(|s| s.local.socket_addr().port())
        .collect();
    v.sort_unstable();
    v
}

pub fn ev_keepalive_ports(ns: &NsEvidence) -> Vec<u16> {
    let mut v: Vec<u16> = ns
        .sockets
        .iter()
        .filter(|s| s.has_keepalive_timer())
        .map(|s| s.local_port)
        .collect();
    v.sort_unstable();
    v
}
