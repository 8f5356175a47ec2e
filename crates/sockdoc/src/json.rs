//! The JSON schema (version 1) of `--json` output; documented in docs/json-schema.md. Keys are stable:
//! add, never rename or remove, without raising `schema`.

use std::net::IpAddr;

use serde::Serialize;
use sockdoc_core::service::{Lookup, Services};
use sockdoc_diag::{Socket, TimerKind};
use sockdoc_proc::{Netns, NsHolder, SocketOwners};

pub const SCHEMA: u32 = 1;

/// A whole document, pretty-printed, then a newline.
pub fn write_pretty(out: &mut dyn std::io::Write, doc: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    writeln!(out)
}

#[derive(Serialize)]
pub struct JNetns<'a> {
    pub inode: u64,
    /// First name under /run/netns, if any.
    pub name: Option<&'a str>,
    pub names: &'a [String],
    /// A process inside it, when known.
    pub pid: Option<u32>,
    /// The namespace sockdoc itself runs in.
    pub current: bool,
    /// Who lives in it (`--all-netns`): a container, a pod or a systemd service; null when
    /// unknown or nobody in particular.
    pub holder: Option<JHolder>,
}

/// Who lives in a namespace, typed by kind.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JHolder {
    Container {
        runtime: &'static str,
        id: String,
        name: Option<String>,
    },
    Pod {
        uid: String,
        /// `namespace/name`, when the node could say.
        name: Option<String>,
    },
    Unit {
        name: String,
    },
}

impl JHolder {
    fn new(h: &NsHolder) -> JHolder {
        match h {
            NsHolder::Container { runtime, id, name } => JHolder::Container {
                runtime: runtime.name(),
                id: id.clone(),
                name: name.clone(),
            },
            NsHolder::Pod { uid, name } => JHolder::Pod {
                uid: uid.clone(),
                name: name.clone(),
            },
            NsHolder::Unit(u) => JHolder::Unit { name: u.clone() },
        }
    }
}

impl<'a> JNetns<'a> {
    pub fn new(n: &'a Netns) -> JNetns<'a> {
        JNetns {
            inode: n.inode,
            name: n.names.first().map(String::as_str),
            names: &n.names,
            pid: n.pid,
            current: n.current,
            holder: n.holder.as_ref().map(JHolder::new),
        }
    }
}

#[derive(Serialize)]
pub struct JEnd {
    pub ip: IpAddr,
    pub port: u16,
}

#[derive(Serialize)]
pub struct JTimer {
    pub kind: &'static str,
    pub expires_ms: u32,
    pub count: u8,
}

#[derive(Serialize)]
pub struct JTcpInfo {
    /// Time since the last data or ACK; null for listeners.
    pub idle_ms: Option<u32>,
    pub last_data_sent_ms: u32,
    pub last_data_recv_ms: u32,
    pub last_ack_recv_ms: u32,
    pub retransmits: u8,
    pub probes: u8,
    pub backoff: u8,
    pub total_retrans: u32,
    pub rtt_us: u32,
    pub unacked: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
}

#[derive(Serialize)]
pub struct JProcess<'a> {
    pub pid: u32,
    pub fd: u32,
    pub name: &'a str,
    pub cmdline: &'a str,
}

#[derive(Serialize)]
pub struct JSocket<'a> {
    pub proto: &'static str,
    pub family: &'static str,
    pub state: &'static str,
    pub ss_state: &'static str,
    pub local: JEnd,
    pub remote: JEnd,
    pub ifindex: u32,
    pub inode: u32,
    pub uid: u32,
    pub cookie: u64,
    pub recv_q: u32,
    pub send_q: u32,
    pub timer: Option<JTimer>,
    pub tcp_info: Option<JTcpInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<Vec<JProcess<'a>>>,
    /// Present when the census named services (a service column or filter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<JService<'a>>,
    /// `first_seen` and `age_ms` (list and ghosts): from the recorder's first-seen index.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub age: Option<JAge>,
}

/// When `sockdoc record` first saw a socket (RFC 3339) and its least age; null when it has not.
#[derive(Serialize)]
pub struct JAge {
    pub first_seen: Option<String>,
    pub age_ms: Option<u64>,
}

/// A socket's cgroup as people name it. All but `cgroup_id` are null for a socket without a
/// cgroup (id 0) or a cgroup the tree does not hold.
#[derive(Serialize)]
pub struct JService<'a> {
    pub cgroup_id: u64,
    pub cgroup: Option<&'a str>,
    pub unit: Option<&'a str>,
    pub slice: Option<&'a str>,
    pub container: Option<JContainer<'a>>,
    pub pod: Option<JPod<'a>>,
}

#[derive(Serialize)]
pub struct JContainer<'a> {
    pub runtime: &'static str,
    pub id: &'a str,
    pub name: Option<&'a str>,
}

#[derive(Serialize)]
pub struct JPod<'a> {
    pub uid: &'a str,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

impl<'a> JService<'a> {
    pub fn new(cgroup_id: u64, services: &'a Services) -> JService<'a> {
        let found = match services.get(cgroup_id) {
            Lookup::Found(s) => Some(s),
            Lookup::NoCgroup | Lookup::Unknown(_) => None,
        };
        JService {
            cgroup_id,
            cgroup: found.map(|s| s.path.as_str()),
            unit: found.and_then(|s| s.unit.as_deref()),
            slice: found.and_then(|s| s.slice.as_deref()),
            container: found
                .and_then(|s| s.container.as_ref())
                .map(|c| JContainer {
                    runtime: c.runtime.name(),
                    id: &c.id,
                    name: c.name.as_deref(),
                }),
            pod: found.and_then(|s| s.pod.as_ref()).map(|p| JPod {
                uid: &p.uid,
                namespace: p.name.as_ref().map(|n| n.namespace.as_str()),
                name: p.name.as_ref().map(|n| n.name.as_str()),
            }),
        }
    }
}

impl<'a> JSocket<'a> {
    pub fn new(s: &Socket, owners: Option<&'a SocketOwners>) -> JSocket<'a> {
        JSocket {
            proto: s.proto.name(),
            family: s.family.name(),
            state: s.state.key(),
            ss_state: s.state.ss_name(),
            local: JEnd {
                ip: s.local_ip(),
                port: s.local_port,
            },
            remote: JEnd {
                ip: s.remote_ip(),
                port: s.remote_port,
            },
            ifindex: s.ifindex,
            inode: s.inode,
            uid: s.uid,
            cookie: s.cookie,
            recv_q: s.recv_q,
            send_q: s.send_q,
            timer: (s.timer.kind != TimerKind::Off).then(|| JTimer {
                kind: s.timer.kind.name(),
                expires_ms: s.timer.expires_ms,
                count: s.timer.count,
            }),
            tcp_info: s.tcp.map(|t| JTcpInfo {
                idle_ms: s.idle_ms(),
                last_data_sent_ms: t.last_data_sent_ms,
                last_data_recv_ms: t.last_data_recv_ms,
                last_ack_recv_ms: t.last_ack_recv_ms,
                retransmits: t.retransmits,
                probes: t.probes,
                backoff: t.backoff,
                total_retrans: t.total_retrans,
                rtt_us: t.rtt_us,
                unacked: t.unacked,
                bytes_acked: t.bytes_acked,
                bytes_received: t.bytes_received,
            }),
            processes: owners.map(|o| {
                o.owners(s.inode)
                    .map(|ow| {
                        let p = o.process(ow.pid);
                        JProcess {
                            pid: ow.pid,
                            fd: ow.fd,
                            name: p.map_or("", |p| p.name.as_str()),
                            cmdline: p.map_or("", |p| p.cmdline.as_str()),
                        }
                    })
                    .collect()
            }),
            service: None,
            age: None,
        }
    }

    /// The socket with its age, from the recorder's index.
    pub fn with_age(mut self, s: &Socket, ages: Option<&crate::age::Ages>) -> JSocket<'a> {
        self.age = ages.map(|a| {
            let (first_seen, age_ms) = a.json(s);
            JAge { first_seen, age_ms }
        });
        self
    }

    /// The socket with its service, when the census named services.
    pub fn with_service(mut self, s: &Socket, services: Option<&'a Services>) -> JSocket<'a> {
        self.service = services.map(|v| JService::new(s.cgroup_id, v));
        self
    }
}

/// Where judged evidence came from (`--from`, `analyze`, `diff`): the `source` block, absent for the
/// live kernel.
#[derive(Serialize)]
pub struct JSource<'a> {
    /// Each file read and what it was read as.
    pub files: Vec<JSourceFile<'a>>,
    pub host: Option<&'a str>,
    pub kernel: Option<&'a str>,
    /// When it was taken, as the evidence says.
    pub taken: Option<&'a str>,
    /// Files of a directory or archive left aside, with why.
    pub ignored: Vec<JIgnored>,
    /// Lines no reader could take: how many, and the first few.
    pub unread: JUnread<'a>,
    /// What the evidence could not tell, per namespace in order (`timers`, `tcp_info`, ...).
    pub unknown: Vec<Vec<&'static str>>,
}

#[derive(Serialize)]
pub struct JSourceFile<'a> {
    pub path: String,
    pub format: &'a str,
    pub lines: u64,
    pub skipped: u64,
}

#[derive(Serialize)]
pub struct JIgnored {
    pub path: String,
    pub why: String,
}

#[derive(Serialize)]
pub struct JUnread<'a> {
    pub count: u64,
    pub first: Vec<JUnreadLine<'a>>,
}

#[derive(Serialize)]
pub struct JUnreadLine<'a> {
    pub path: String,
    pub line: u64,
    pub text: &'a str,
}

/// The `source` block of the evidence `--from` named; `None` for the live kernel.
pub fn source() -> Option<JSource<'static>> {
    crate::scope::evidence().map(JSource::new)
}

impl<'a> JSource<'a> {
    pub fn new(e: &'a sockdoc_evidence::Evidence) -> JSource<'a> {
        let s = &e.source;
        JSource {
            files: s
                .files
                .iter()
                .map(|f| JSourceFile {
                    path: f.path.display().to_string(),
                    format: &f.format,
                    lines: f.taken,
                    skipped: f.skipped,
                })
                .collect(),
            host: s.host.as_deref(),
            kernel: s.kernel.as_deref(),
            taken: s.taken.as_deref(),
            ignored: s
                .ignored
                .iter()
                .map(|(p, why)| JIgnored {
                    path: p.display().to_string(),
                    why: why.clone(),
                })
                .collect(),
            unread: JUnread {
                count: e.unread.count,
                first: e
                    .unread
                    .first
                    .iter()
                    .map(|(p, line, text)| JUnreadLine {
                        path: p.display().to_string(),
                        line: *line,
                        text,
                    })
                    .collect(),
            },
            unknown: e.namespaces.iter().map(|n| n.known.missing()).collect(),
        }
    }
}
