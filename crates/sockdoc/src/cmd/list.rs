//! `sockdoc list`: one line per socket — ss-like columns plus owner, timer and idle time — or JSON.
//! Text is written straight into one buffer per line: at a million sockets the printing is the cost.

use std::fmt::Write as _;
use std::io::Write;

use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_core::service::{name_text, NamePart, Services};
use sockdoc_diag::{Family, Socket};
use sockdoc_proc::SocketOwners;

use sockdoc_core::session::{Needs, Refresh, Sample};

use crate::age::Ages;
use crate::census;
use crate::cli::{Global, ListArgs};
use crate::error::{Exit, Failure};
use crate::fmt::{duration_ms, timer};
use crate::json::{JNetns, JSocket, SCHEMA};
use crate::report::{Done, Report};
use crate::scope;

/// `sockdoc list --help` text after the options.
pub fn long_help() -> String {
    format!(
        "Examples:\n  \
         # ss -aoen | grep :21 | grep ESTAB\n  \
         sockdoc list state established '( sport = :21 )'\n  \
         # connections the kernel will never reap\n  \
         sockdoc list -p state established '!keepalive'\n  \
         # lsof -p PID + ls -l /proc/PID/fd\n  \
         sockdoc list -p proc vsftpd and 'idle > 1h'\n  \
         sockdoc list -o local,peer,timer,idle,process dst 10.0.0.0/8\n  \
         # which unit holds what\n  \
         sockdoc list -o local,peer,state,unit,container unit nginx\n\n{}",
        sockdoc_core::filter::help_text()
    )
}

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
    Age,
}

impl Col {
    fn parse(w: &str) -> Option<Col> {
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

    fn header(self) -> &'static str {
        match self {
            Col::Netid => "Netid",
            Col::State => "State",
            Col::RecvQ => "Recv-Q",
            Col::SendQ => "Send-Q",
            Col::Local => "Local",
            Col::Peer => "Peer",
            Col::Process => "Process",
            Col::Timer => "Timer",
            Col::Idle => "Idle",
            Col::Inode => "Inode",
            Col::Uid => "Uid",
            Col::Cookie => "Cookie",
            Col::Ifindex => "If",
            Col::Rtt => "RTT",
            Col::Retrans => "Retrans",
            Col::Unacked => "Unacked",
            Col::BytesAcked => "BytesAcked",
            Col::BytesReceived => "BytesRecv",
            Col::Cmdline => "Cmdline",
            Col::Unit => "Unit",
            Col::Container => "Container",
            Col::Pod => "Pod",
            Col::Cgroup => "Cgroup",
            Col::Age => "Age",
        }
    }

    /// The service name the column shows (the census names the sockets' cgroups for it).
    fn service_part(self) -> Option<NamePart> {
        Some(match self {
            Col::Unit => NamePart::Unit,
            Col::Container => NamePart::Container,
            Col::Pod => NamePart::Pod,
            Col::Cgroup => NamePart::Cgroup,
            _ => return None,
        })
    }

    fn needs_owners(self) -> bool {
        matches!(self, Col::Process | Col::Cmdline)
    }

    fn needs_tcp_info(self) -> bool {
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

fn columns(lang: Lang, a: &ListArgs) -> Result<Vec<Col>, Failure> {
    if a.columns.is_empty() {
        let mut c = vec![
            Col::Netid,
            Col::State,
            Col::RecvQ,
            Col::SendQ,
            Col::Local,
            Col::Peer,
            Col::Timer,
            Col::Idle,
        ];
        if a.processes {
            c.push(Col::Process);
        }
        return Ok(c);
    }
    a.columns
        .iter()
        .filter(|w| !w.is_empty())
        .map(|w| Col::parse(w).ok_or_else(|| Failure::usage(text(lang, Msg::UnknownColumn, &[w]))))
        .collect()
}

/// One namespace's sockets as a listing shows them.
pub struct NsSockets {
    pub sample: Sample,
    /// Extra numbers for the JSON entry (ghosts' threshold).
    pub extra: Vec<(&'static str, u64)>,
}

/// The sockets of every namespace looked at, ready to print: `list`, and `ghosts` with its suspects.
pub struct SocketsReport {
    pub command: &'static str,
    /// The JSON key of the socket array (`sockets`, `suspects`).
    pub key: &'static str,
    pub cols: Vec<Col>,
    pub header: bool,
    /// Title each namespace (`--all-netns`, or one that is not the caller's).
    pub label_ns: bool,
    /// Show owners (a column or `-p` asked for them).
    pub show_owners: bool,
    /// Show services in the JSON (the census named them for a column or a filter).
    pub show_services: bool,
    /// Connection ages from the recorder's index.
    pub ages: Ages,
    pub namespaces: Vec<NsSockets>,
}

impl SocketsReport {
    /// What of `s`'s owners and services the report shows.
    fn who<'a>(&'a self, s: &'a Sample) -> Who<'a> {
        Who {
            owners: s.owner_map().filter(|_| self.show_owners),
            services: s.services.as_ref().filter(|_| self.show_services),
            ages: Some(&self.ages),
        }
    }
}

/// What a listing shows of who holds each socket: processes (`-p`), services (their columns).
#[derive(Clone, Copy, Default)]
pub(crate) struct Who<'a> {
    pub owners: Option<&'a SocketOwners>,
    pub services: Option<&'a Services>,
    pub ages: Option<&'a Ages>,
}

impl Report for SocketsReport {
    fn text(&self, out: &mut dyn Write, lang: Lang) -> std::io::Result<()> {
        for n in &self.namespaces {
            let s = &n.sample;
            // `-H` is rows only, as `ss -H` is: no banner for the one namespace looked at
            // (`--all-netns` keeps them: they tell the namespaces apart).
            if self.label_ns || (!s.ns.current && self.header) {
                writeln!(out, "{}", text(lang, Msg::Namespace, &[&s.ns.label()]))?;
            }
            let who = self.who(s);
            write_text(out, &self.cols, &s.sockets, who, self.header)?;
        }
        Ok(())
    }

    fn json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write!(
            out,
            "{{\"schema\":{SCHEMA},\"command\":\"{}\",\"namespaces\":[",
            self.command
        )?;
        for (i, n) in self.namespaces.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            let s = &n.sample;
            let who = self.who(s);
            write_json_ns(out, &s.ns, &s.sockets, who, &s.notes, self.key, &n.extra)?;
        }
        out.write_all(b"]")?;
        // Where the evidence came from (`--from`); absent for the live kernel.
        if let Some(source) = crate::json::source() {
            out.write_all(b",\"source\":")?;
            serde_json::to_writer(&mut *out, &source)?;
        }
        out.write_all(b"}\n")
    }
}

pub fn run(g: &Global, a: &ListArgs) -> Result<Done, Failure> {
    let lang = g.lang();
    let cols = columns(lang, a)?;
    let want_owners = a.processes || cols.iter().any(|c| c.needs_owners());
    let want_info = g.json || cols.iter().any(|c| c.needs_tcp_info());
    let want_services = cols.iter().any(|c| c.service_part().is_some());
    let scope = scope::resolve(g)?;
    let needs = Needs {
        owners: want_owners,
        tcp_info: want_info,
        cgroups: want_services,
    };
    let plan = census::plan(&scope, &a.select, &a.filter, needs)?;
    let wanted_owners = plan.owners;
    let mut session = census::session(lang, scope, plan, Refresh::PerRun)?;
    let samples = session.samples().map_err(Failure::census)?;
    let denied = samples
        .iter()
        .find_map(|s| s.owner_map())
        .map_or(0, |o| o.stats.denied);
    let mut notes = session.take_notes();
    notes.extend(samples.iter().flat_map(|s| s.notes.iter().cloned()));
    let ages = if g.json || cols.contains(&Col::Age) {
        let mut said = Vec::new();
        let ages = crate::age::Ages::read(lang, &a.history, scope::ages_to(), &mut said);
        // Only a column asked for is worth a line about its source.
        if cols.contains(&Col::Age) {
            notes.extend(said);
        }
        ages
    } else {
        Ages::none(lang)
    };
    scope::print_notes(g.lang(), &notes, wanted_owners, denied);
    let report = SocketsReport {
        command: "list",
        key: "sockets",
        cols,
        header: !a.no_header,
        label_ns: g.all_netns,
        show_owners: want_owners,
        show_services: true,
        ages,
        namespaces: samples
            .into_iter()
            .map(|sample| NsSockets {
                sample,
                extra: Vec::new(),
            })
            .collect(),
    };
    Ok(Done::new(report, Exit::Ok))
}

/// One namespace's entry: `{"netns":..,<extra>,"notes":[..],"<key>":[sockets]}`, streamed.
pub(crate) fn write_json_ns(
    out: &mut dyn Write,
    ns: &sockdoc_proc::Netns,
    sockets: &[Socket],
    who: Who<'_>,
    notes: &[String],
    key: &str,
    extra: &[(&str, u64)],
) -> std::io::Result<()> {
    out.write_all(b"{\"netns\":")?;
    serde_json::to_writer(&mut *out, &JNetns::new(ns))?;
    for (k, v) in extra {
        write!(out, ",\"{k}\":{v}")?;
    }
    out.write_all(b",\"notes\":")?;
    serde_json::to_writer(&mut *out, notes)?;
    write!(out, ",\"{key}\":[")?;
    for (i, s) in sockets.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")?;
        let j = JSocket::new(s, who.owners)
            .with_service(s, who.services)
            .with_age(s, who.ages);
        serde_json::to_writer(&mut *out, &j)?;
    }
    out.write_all(b"]}")
}

/// Widths of the text columns; addresses widen only when IPv6 is present.
fn width(c: Col, v6: bool) -> usize {
    match c {
        Col::Netid => 5,
        Col::State => 10,
        Col::RecvQ | Col::SendQ => 6,
        Col::Local | Col::Peer if v6 => 47,
        Col::Local | Col::Peer => 21,
        Col::Timer => 26,
        Col::Idle => 7,
        Col::Inode | Col::Uid | Col::Ifindex => 8,
        Col::Cookie => 16,
        Col::Rtt => 9,
        Col::Retrans | Col::Unacked => 7,
        Col::BytesAcked | Col::BytesReceived => 12,
        Col::Process | Col::Cmdline => 0,
        Col::Unit | Col::Pod => 24,
        Col::Container => 16,
        Col::Cgroup => 40,
        Col::Age => 38,
    }
}

pub(crate) fn write_text(
    out: &mut dyn Write,
    cols: &[Col],
    sockets: &[Socket],
    who: Who<'_>,
    header: bool,
) -> std::io::Result<()> {
    let v6 = sockets.iter().any(|s| s.family == Family::V6);
    let mut line = String::with_capacity(256);
    if header {
        for (i, c) in cols.iter().enumerate() {
            push_cell(
                &mut line,
                c.header(),
                width(*c, v6),
                i + 1 == cols.len(),
                is_numeric(*c),
            );
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    let mut cell = String::with_capacity(64);
    for s in sockets {
        line.clear();
        for (i, c) in cols.iter().enumerate() {
            cell.clear();
            cell_text(&mut cell, *c, s, who);
            push_cell(
                &mut line,
                &cell,
                width(*c, v6),
                i + 1 == cols.len(),
                is_numeric(*c),
            );
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn is_numeric(c: Col) -> bool {
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

fn push_cell(line: &mut String, text: &str, w: usize, last: bool, right: bool) {
    if last {
        line.push_str(text);
        return;
    }
    let pad = w.saturating_sub(text.chars().count());
    if right {
        line.extend(std::iter::repeat_n(' ', pad));
        line.push_str(text);
    } else {
        line.push_str(text);
        line.extend(std::iter::repeat_n(' ', pad));
    }
    line.push(' ');
}

/// `127.0.0.1:80`, `[::1]:80`, `*` for port 0.
fn endpoint(out: &mut String, s: &Socket, local: bool) {
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

fn cell_text(out: &mut String, c: Col, s: &Socket, who: Who<'_>) {
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
