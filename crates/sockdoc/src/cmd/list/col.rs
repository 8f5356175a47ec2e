//! The columns of a listing: their names (`-o`/`--columns`, CSV), headers (in the user's language,
//! or ss's English ones), what each needs from the census, and the text of each cell.

use std::fmt::Write as _;

use sockdoc_core::i18n::table::{header, Header};
use sockdoc_core::i18n::Lang;
use sockdoc_core::service::{name_text, NamePart};
use sockdoc_diag::{Family, Socket};

use super::Who;
use crate::fmt::{duration_ms, timer};

/// A column of the text output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Col {
    Netid,
    State,
    RecvQ,
    SendQ,
    Local,
    Peer,
    Process,
    Timer,
    Idle,
    Inode,
    Uid,
    Cookie,
    Ifindex,
    Rtt,
    Retrans,
    Unacked,
    BytesAcked,
    BytesReceived,
    Cmdline,
    Unit,
    Container,
    Pod,
    Cgroup,
    /// How long the connection has been known: first seen by `sockdoc record`.
    Age,
}

impl Col {
    pub fn parse(w: &str) -> Option<Col> {
        Some(match w {
            "netid" | "proto" => Col::Netid,
            "state" => Col::State,
            "recvq" | "recv-q" => Col::RecvQ,
            "sendq" | "send-q" => Col::SendQ,
            "local" => Col::Local,
            "peer" | "remote" => Col::Peer,
            "process" | "proc" => Col::Process,
            "timer" => Col::Timer,
            "idle" => Col::Idle,
            "inode" | "ino" => Col::Inode,
            "uid" => Col::Uid,
            "cookie" | "sk" => Col::Cookie,
            "ifindex" | "dev" => Col::Ifindex,
            "rtt" => Col::Rtt,
            "retrans" => Col::Retrans,
            "unacked" => Col::Unacked,
            "bytes-acked" => Col::BytesAcked,
            "bytes-received" => Col::BytesReceived,
            "cmdline" => Col::Cmdline,
            "unit" => Col::Unit,
            "container" => Col::Container,
            "pod" => Col::Pod,
            "cgroup" => Col::Cgroup,
            "age" => Col::Age,
            _ => return None,
        })
    }

    /// The column's name in `--columns` and in a CSV header row.
    pub fn key(self) -> &'static str {
        match self {
            Col::Netid => "netid",
            Col::State => "state",
            Col::RecvQ => "recvq",
            Col::SendQ => "sendq",
            Col::Local => "local",
            Col::Peer => "peer",
            Col::Process => "process",
            Col::Timer => "timer",
            Col::Idle => "idle",
            Col::Inode => "inode",
            Col::Uid => "uid",
            Col::Cookie => "cookie",
            Col::Ifindex => "ifindex",
            Col::Rtt => "rtt",
            Col::Retrans => "retrans",
            Col::Unacked => "unacked",
            Col::BytesAcked => "bytes-acked",
            Col::BytesReceived => "bytes-received",
            Col::Cmdline => "cmdline",
            Col::Unit => "unit",
            Col::Container => "container",
            Col::Pod => "pod",
            Col::Cgroup => "cgroup",
            Col::Age => "age",
        }
    }

    /// The header of the column in `lang` (English: the names ss prints).
    pub fn header(self, lang: Lang) -> &'static str {
        let h = match self {
            Col::Netid => Header::Netid,
            Col::State => Header::State,
            Col::RecvQ => Header::RecvQ,
            Col::SendQ => Header::SendQ,
            Col::Local => Header::Local,
            Col::Peer => Header::Peer,
            Col::Process => Header::Process,
            Col::Timer => Header::Timer,
            Col::Idle => Header::Idle,
            Col::Inode => Header::Inode,
            Col::Uid => Header::Uid,
            Col::Cookie => Header::Cookie,
            Col::Ifindex => Header::Ifindex,
            Col::Rtt => Header::Rtt,
            Col::Retrans => Header::Retrans,
            Col::Unacked => Header::Unacked,
            Col::BytesAcked => Header::BytesAcked,
            Col::BytesReceived => Header::BytesReceived,
            Col::Cmdline => Header::Cmdline,
            Col::Unit => Header::Unit,
            Col::Container => Header::Container,
            Col::Pod => Header::Pod,
            Col::Cgroup => Header::Cgroup,
            Col::Age => Header::Age,
        };
        header(lang, h)
    }

    /// Whether a cell may be long and varies from row to row (addresses, names): such a column is
    /// sized by most rows, not the longest, and gives way first to the terminal's width.
    pub fn flexible(self) -> bool {
        matches!(
            self,
            Col::Local
                | Col::Peer
                | Col::Process
                | Col::Cmdline
                | Col::Unit
                | Col::Container
                | Col::Pod
                | Col::Cgroup
                | Col::Timer
                | Col::Age
        )
    }

    /// The service name the column shows (the census names the sockets' cgroups for it).
    pub fn service_part(self) -> Option<NamePart> {
        Some(match self {
            Col::Unit => NamePart::Unit,
            Col::Container => NamePart::Container,
            Col::Pod => NamePart::Pod,
            Col::Cgroup => NamePart::Cgroup,
            _ => return None,
        })
    }

    pub fn needs_owners(self) -> bool {
        matches!(self, Col::Process | Col::Cmdline)
    }

    pub fn needs_tcp_info(self) -> bool {
        matches!(
            self,
            Col::Idle
                | Col::Rtt
                | Col::Retrans
                | Col::Unacked
                | Col::BytesAcked
                | Col::BytesReceived
        )
    }
}

pub(crate) fn is_numeric(c: Col) -> bool {
    matches!(
        c,
        Col::RecvQ
            | Col::SendQ
            | Col::Inode
            | Col::Uid
            | Col::Retrans
            | Col::Unacked
            | Col::BytesAcked
            | Col::BytesReceived
    )
}

/// `127.0.0.1:80`, `[::1]:80`, `*` for port 0.
pub(crate) fn endpoint(out: &mut String, s: &Socket, local: bool) {
    let (ip, port) = if local {
        (s.local_ip(), s.local_port)
    } else {
        (s.remote_ip(), s.remote_port)
    };
    let _ = match s.family {
        Family::V4 => write!(out, "{ip}"),
        Family::V6 => write!(out, "[{ip}]"),
    };
    if port == 0 {
        out.push_str(":*");
    } else {
        let _ = write!(out, ":{port}");
    }
}

pub(crate) fn cell_text(out: &mut String, c: Col, s: &Socket, who: Who<'_>) {
    if let Some(part) = c.service_part() {
        out.push_str(&name_text(who.services, s.cgroup_id, part));
        return;
    }
    let owners = who.owners;
    let _ = match c {
        Col::Netid => write!(out, "{}", s.proto.name()),
        Col::State => write!(out, "{}", s.state.ss_name()),
        Col::RecvQ => write!(out, "{}", s.recv_q),
        Col::SendQ => write!(out, "{}", s.send_q),
        Col::Local => {
            endpoint(out, s, true);
            Ok(())
        }
        Col::Peer => {
            endpoint(out, s, false);
            Ok(())
        }
        Col::Timer => write!(out, "{}", timer(&s.timer)),
        Col::Idle => match s.idle_ms() {
            Some(ms) => write!(out, "{}", duration_ms(u64::from(ms))),
            None => write!(out, "-"),
        },
        Col::Inode => write!(out, "{}", s.inode),
        Col::Uid => write!(out, "{}", s.uid),
        Col::Cookie => write!(out, "{:x}", s.cookie),
        Col::Ifindex => write!(out, "{}", s.ifindex),
        Col::Rtt => match s.tcp {
            Some(t) if t.rtt_us > 0 => write!(out, "{:.1}ms", f64::from(t.rtt_us) / 1000.0),
            _ => write!(out, "-"),
        },
        Col::Retrans => match s.tcp {
            Some(t) => write!(out, "{}", t.total_retrans),
            None => write!(out, "-"),
        },
        Col::Unacked => match s.tcp {
            Some(t) => write!(out, "{}", t.unacked),
            None => write!(out, "-"),
        },
        Col::BytesAcked => match s.tcp {
            Some(t) => write!(out, "{}", { t.bytes_acked }),
            None => write!(out, "-"),
        },
        Col::BytesReceived => match s.tcp {
            Some(t) => write!(out, "{}", { t.bytes_received }),
            None => write!(out, "-"),
        },
        Col::Age => match who.ages {
            Some(a) => write!(out, "{}", a.text(s)),
            None => write!(out, "-"),
        },
        // Written above.
        Col::Unit | Col::Container | Col::Pod | Col::Cgroup => Ok(()),
        Col::Process | Col::Cmdline => {
            let mut first = true;
            if let Some(o) = owners {
                for ow in o.owners(s.inode) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    let p = o.process(ow.pid);
                    if c == Col::Process {
                        let name = p.map_or("?", |p| p.name.as_str());
                        let _ = write!(out, "{name}/{}:{}", ow.pid, ow.fd);
                    } else {
                        out.push_str(p.map_or("?", |p| p.cmdline.as_str()));
                    }
                }
            }
            if first {
                out.push('-');
            }
            Ok(())
        }
    };
}
