//! One text dump, read line by line: the format of each section is told by its header line or
//! the command line before it, else by the first line that reads as one (never by the file's
//! name), and can change within the file. Sections of other namespaces open with:
//!
//! - `netns: NAME` (what `ip -all netns exec CMD` prints before each namespace's output),
//! - `== NAME ==` or `--- NAME ---` (any number of `=`/`-`, two at least; sockdoc's own
//!   `== namespace NAME [net:…] ==` gives NAME),
//! - a command line `ip netns exec NAME ss ...` (with or without a shell prompt before it).
//!
//! A command line also tells what follows: `ss -tan state established` gives the state of lines
//! without a State column; `-o`, `-p`, `-e`, `-i` say timers, owners, inodes and tcp_info were
//! asked for (so none shown means none there); `-a` without a filter says every state is listed.
//! Without one, every state is taken as listed when listeners and other states both appear.
//! Lines no reader takes go to [`Unread`]; a file of which no line reads is
//! [`EvidenceError::Unknown`].

use sockdoc_proc::conntrack_table;
use std::io::BufRead;
use std::path::Path;

use sockdoc_diag::State;
use sockdoc_proc::counters::Counters;
use sockdoc_proc::sockstat::SockStat;

use crate::collect::{Batch, Collector, Rank};
use crate::lines::{looks_like_text, Lines};
use crate::netstat::{self, Columns};
use crate::procnet::{self, Tables};
use crate::settings;
use crate::ss::{self, SsHints};
use crate::words::{self, Command, Tool};
use crate::{EvidenceError, NotEvidence, Provenance, SourceFile, Unread, SNIFF_BYTES};

/// What the current section's lines are.
#[derive(Clone, Debug)]
enum Fmt {
    None,
    Ss(SsHints),
    Netstat(Columns),
    /// netstat's UNIX-socket section: read, left aside.
    NetstatOther,
    NetstatS(String),
    ProcNet(Option<bool>),
    Tables,
    Snmp6,
    SockStat,
    Sysctl,
    /// `/proc/net/nf_conntrack`, `conntrack -L`.
    Conntrack,
    Limits,
}

/// What the caller knows of a file before reading it (a sosreport's file name tells the command
/// that made it; `proc/PID/limits` tells whose limits).
#[derive(Clone, Debug, Default)]
pub(crate) struct Context {
    pub label: String,
    pub command: Option<Command>,
    pub pid: Option<u32>,
}

struct Reader<'a> {
    col: &'a mut Collector,
    label: String,
    /// The file's own label, back after an `ip netns exec` command when a plain command follows.
    base: String,
    label_from_cmd: bool,
    cmd: Option<Command>,
    fmt: Fmt,
    batch: Option<Batch>,
    /// The last line was a socket of another family: its continuation lines go with it.
    last_other: bool,
    seen_listen: bool,
    seen_other: bool,
    taken: u64,
    skipped: u64,
    formats: Vec<String>,
    superseded: bool,
    tables: Tables,
    netstat_s: Counters,
    sockstat: Option<SockStat>,
    pid: Option<u32>,
    unread: Unread,
    /// The file read, for [`crate::Provenance`].
    path: &'a Path,
    /// Sysctls were read in this section.
    sysctls: bool,
}

/// Read one text dump into `col`.
pub(crate) fn read_text<R: BufRead>(
    mut r: R,
    path: &Path,
    ctx: Context,
    col: &mut Collector,
) -> Result<(), EvidenceError> {
    let io = |e| EvidenceError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let head = r.fill_buf().map_err(io)?;
    if head.is_empty() {
        return Err(EvidenceError::Empty {
            path: path.to_path_buf(),
        });
    }
    if !looks_like_text(&head[..head.len().min(1024)]) {
        return Err(EvidenceError::Binary {
            path: path.to_path_buf(),
        });
    }
    let mut rd = Reader {
        col,
        base: ctx.label.clone(),
        label_from_cmd: false,
        label: ctx.label,
        fmt: Fmt::None,
        cmd: None,
        batch: None,
        last_other: false,
        seen_listen: false,
        seen_other: false,
        taken: 0,
        skipped: 0,
        formats: Vec::new(),
        superseded: false,
        tables: Tables::default(),
        netstat_s: Counters::default(),
        sockstat: None,
        pid: ctx.pid,
        unread: Unread::default(),
        path,
        sysctls: false,
    };
    if let Some(c) = ctx.command {
        rd.command(c);
    }
    // Only the head is read until something in it reads as a known format (SNIFF_BYTES).
    let mut lines = Lines::new(r.take(SNIFF_BYTES));
    let mut sniffing = true;
    let mut first_line = None;
    while let Some((n, cut, line)) = lines.next_line().map_err(io)? {
        if first_line.is_none() && !line.iter().all(u8::is_ascii_whitespace) {
            first_line = Some(String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned());
        }
        if cut || !rd.line(line) {
            let text = String::from_utf8_lossy(line);
            rd.unread.note(path, n, &text);
        }
        if sniffing && rd.taken > 0 {
            sniffing = false;
            lines.get_mut().set_limit(u64::MAX);
        }
    }
    let head_only = sniffing && lines.get_mut().limit() == 0;
    rd.finish(path, first_line, head_only)
}

impl Reader<'_> {
    /// Take one line; false when nothing could read it.
    fn line(&mut self, b: &[u8]) -> bool {
        if b.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        if self.hot(b) {
            return true;
        }
        let Ok(line) = std::str::from_utf8(b) else {
            return false;
        };
        self.structure(line) || self.data(line) || self.sniff(b, line)
    }

    /// The socket tables, read first: they are nearly every line of a large dump.
    fn hot(&mut self, b: &[u8]) -> bool {
        let indented = b[0] == b' ' || b[0] == b'\t';
        match &self.fmt {
            Fmt::Ss(h) => {
                let h = *h;
                if indented && (self.last_other || self.batch.is_some()) && !starts_socket(b) {
                    if self.last_other {
                        self.skipped += 1;
                    } else if let Some(batch) = self.batch.as_mut() {
                        ss::continuation(b, batch);
                        self.taken += 1;
                    }
                    return true;
                }
                let batch = self.batch.get_or_insert_with(|| Batch::new(Rank::Ss));
                match ss::line(b, &h, batch) {
                    Some(ss::Line::Socket) => {
                        self.after_socket();
                        true
                    }
                    Some(ss::Line::Other) => {
                        self.last_other = true;
                        self.skipped += 1;
                        true
                    }
                    None => false,
                }
            }
            Fmt::Netstat(c) => {
                let c = *c;
                let batch = self.batch.get_or_insert_with(|| {
                    let mut b = Batch::new(Rank::Netstat);
                    b.known.timers = c.timer;
                    b.known.owners = c.program;
                    b.known.inodes = c.user_inode;
                    b.known.uids = c.user_inode;
                    b.inodes = c.user_inode;
                    b
                });
                match netstat::line(b, &c, batch) {
                    Some(netstat::Line::Socket) => {
                        self.after_socket();
                        true
                    }
                    Some(netstat::Line::Other) => {
                        self.skipped += 1;
                        true
                    }
                    None => false,
                }
            }
            Fmt::ProcNet(udp) => {
                let udp = *udp;
                let batch = self.batch.get_or_insert_with(|| Batch::new(Rank::ProcNet));
                if procnet::line(b, udp, batch).is_some() {
                    self.after_socket();
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    fn after_socket(&mut self) {
        self.taken += 1;
        self.last_other = false;
        if let Some(s) = self.batch.as_ref().and_then(|b| b.sockets.last()) {
            if s.state == State::Listen {
                self.seen_listen = true;
            } else {
                self.seen_other = true;
            }
        }
    }

    /// Section headers, command lines and table headers.
    fn structure(&mut self, line: &str) -> bool {
        if let Some(name) = words::section(line) {
            self.flush();
            self.label = name.clone();
            self.base = name;
            self.label_from_cmd = false;
            self.cmd = None;
            self.fmt = Fmt::None;
            self.taken += 1;
            return true;
        }
        if let Some(c) = words::command(line) {
            self.command(c);
            self.taken += 1;
            return true;
        }
        let fmt = if is_ss_header(line) {
            let mut h = self.ss_hints();
            if line.trim_start().starts_with("Netid") || line.contains("State") {
                // A State column: no filter state applies.
                h.state = None;
            }
            self.note_format("ss");
            Fmt::Ss(h)
        } else if let Some(c) = netstat::header(line) {
            self.note_format("netstat");
            Fmt::Netstat(c)
        } else if line.starts_with("Active Internet connections") {
            self.fmt = Fmt::None;
            self.taken += 1;
            return true;
        } else if line.starts_with("Active ") && line.contains("sockets") {
            Fmt::NetstatOther
        } else if let Some(udp) = procnet::header(line) {
            self.note_format(if udp {
                "/proc/net/udp"
            } else {
                "/proc/net/tcp"
            });
            Fmt::ProcNet(Some(udp))
        } else if line.starts_with("Limit ") && line.contains("Soft Limit") {
            self.note_format("limits");
            Fmt::Limits
        } else {
            return false;
        };
        self.flush();
        self.fmt = fmt;
        self.taken += 1;
        true
    }

    fn command(&mut self, c: Command) {
        self.flush();
        if let Some(ns) = &c.netns {
            self.label = ns.clone();
            self.label_from_cmd = true;
        } else if self.label_from_cmd {
            self.label = self.base.clone();
            self.label_from_cmd = false;
        }
        self.note_format(&c.text);
        self.fmt = match c.tool {
            Tool::Ss => Fmt::None,
            Tool::NetstatS => Fmt::NetstatS(String::new()),
            Tool::Netstat | Tool::Other => Fmt::None,
        };
        self.cmd = Some(c);
        if let Some(Tool::Ss) = self.cmd.as_ref().map(|c| c.tool) {
            self.fmt = Fmt::Ss(self.ss_hints());
        }
    }

    fn ss_hints(&self) -> SsHints {
        let c = self.cmd.as_ref();
        SsHints {
            state: c.and_then(|c| c.state),
            udp_only: c.is_some_and(|c| c.has('u') && !c.has('t')),
        }
    }

    /// A line of the current non-socket format.
    fn data(&mut self, line: &str) -> bool {
        let ok = match &mut self.fmt {
            Fmt::NetstatOther => {
                self.skipped += 1;
                return true;
            }
            Fmt::NetstatS(group) => {
                if let Some(g) = settings::netstat_s_section(line) {
                    *group = g.to_string();
                    true
                } else {
                    let g = group.clone();
                    settings::netstat_s_line(&g, line, &mut self.netstat_s)
                }
            }
            Fmt::Tables => self.tables.line(line),
            Fmt::Snmp6 => {
                let ok = procnet::is_snmp6(line);
                if ok {
                    self.tables.counters.add_snmp6(line);
                }
                ok
            }
            Fmt::SockStat => {
                procnet::sockstat(line, self.sockstat.get_or_insert_with(Default::default))
            }
            Fmt::Sysctl => self.sysctl(line),
            Fmt::Conntrack => self.conntrack(line),
            Fmt::Limits => self.limits(line),
            _ => false,
        };
        if ok {
            self.taken += 1;
        }
        ok
    }

    fn sysctl(&mut self, line: &str) -> bool {
        let ns = self.col.ns(&self.label);
        let (taken, setting) = settings::sysctl_into(ns, line);
        self.sysctls |= setting;
        taken
    }

    fn conntrack(&mut self, line: &str) -> bool {
        settings::conntrack_into(self.col.ns(&self.label), line)
    }

    fn limits(&mut self, line: &str) -> bool {
        let pid = self.pid;
        settings::limits_into(self.col.ns(&self.label), pid, line)
    }

    /// A line that starts a format by itself (no header, no command line before it).
    fn sniff(&mut self, b: &[u8], line: &str) -> bool {
        let fmt = if netstat::line(b, &Columns::default(), &mut Batch::new(Rank::Netstat)).is_some()
        {
            self.note_format("netstat");
            Fmt::Netstat(Columns::default())
        } else if ss::line(b, &SsHints::default(), &mut Batch::new(Rank::Ss)).is_some() {
            self.note_format("ss");
            Fmt::Ss(self.ss_hints())
        } else if procnet::line(b, None, &mut Batch::new(Rank::ProcNet)).is_some() {
            self.note_format("/proc/net/tcp");
            Fmt::ProcNet(None)
        } else if procnet::is_table_header(line) {
            self.note_format("/proc/net/netstat");
            Fmt::Tables
        } else if procnet::is_snmp6(line) {
            self.note_format("/proc/net/snmp6");
            Fmt::Snmp6
        } else if line.starts_with("sockets: used") || line.starts_with("TCP6: inuse") {
            self.note_format("/proc/net/sockstat");
            Fmt::SockStat
        } else if conntrack_table::add_line(&mut Default::default(), line)
            || settings::conntrack_stats(line, &mut None)
        {
            self.note_format("conntrack table");
            Fmt::Conntrack
        } else if settings::sysctl_line(line).is_some() {
            self.note_format("sysctl -a");
            Fmt::Sysctl
        } else if settings::nofile(line).is_some() {
            self.note_format("limits");
            Fmt::Limits
        } else if matches!(self.fmt, Fmt::None) && settings::netstat_s_section(line).is_some() {
            self.note_format("netstat -s");
            Fmt::NetstatS(String::new())
        } else {
            return false;
        };
        let same_kind = std::mem::discriminant(&fmt) == std::mem::discriminant(&self.fmt);
        if !same_kind {
            self.flush();
            self.fmt = fmt;
        }
        self.hot(b) || self.data(line)
    }

    fn note_format(&mut self, f: &str) {
        if !self.formats.iter().any(|x| x == f) {
            self.formats.push(f.to_string());
        }
    }

    /// The socket batch and counters of the section so far join their namespace.
    fn flush(&mut self) {
        let tables = std::mem::take(&mut self.tables.counters);
        let netstat_s = std::mem::take(&mut self.netstat_s);
        let sockstat = self.sockstat.take();
        let batch = self.batch.take().map(|b| self.settle(b));
        let form = self.form();
        let (path, sysctls) = (self.path, std::mem::take(&mut self.sysctls));
        let ns = self.col.ns(&self.label);
        let from = &mut ns.provenance;
        if sysctls {
            Provenance::note(&mut from.sysctls, &form, path);
        }
        if !tables.is_empty() || !netstat_s.is_empty() {
            Provenance::note(&mut from.counters, &form, path);
        }
        if !tables.is_empty() {
            ns.add_counters(&tables);
        }
        if !netstat_s.is_empty() {
            ns.add_counters(&netstat_s);
        }
        if let Some(s) = sockstat {
            ns.kernel().sockstat = s;
        }
        if let Some(b) = batch {
            if !ns.add(b, &form, path) {
                self.superseded = true;
            }
        }
        self.seen_listen = false;
        self.seen_other = false;
        self.last_other = false;
    }

    /// What the section was read as: the command typed before it, else its format.
    fn form(&self) -> String {
        if let Some(c) = &self.cmd {
            return c.text.clone();
        }
        match self.fmt {
            Fmt::Ss(_) => "ss",
            Fmt::Netstat(_) | Fmt::NetstatOther => "netstat",
            Fmt::NetstatS(_) => "netstat -s",
            Fmt::ProcNet(Some(true)) => "/proc/net/udp",
            Fmt::ProcNet(_) => "/proc/net/tcp",
            Fmt::Tables => "/proc/net/netstat",
            Fmt::Snmp6 => "/proc/net/snmp6",
            Fmt::SockStat => "/proc/net/sockstat",
            Fmt::Sysctl => "sysctl -a",
            Fmt::Limits => "limits",
            Fmt::Conntrack => "conntrack",
            Fmt::None => "",
        }
        .to_string()
    }

    /// What the section's command and lines tell about the batch.
    fn settle(&self, mut b: Batch) -> Batch {
        let c = self.cmd.as_ref();
        let flag = |f: char| c.is_some_and(|c| c.has(f));
        let k = &mut b.known;
        match b.rank {
            Rank::ProcNet => {
                k.timers = true;
                k.inodes = true;
                k.uids = true;
                b.inodes = true;
            }
            Rank::Ss | Rank::Netstat => {
                k.timers |= flag('o');
                k.tcp_info |= flag('i') && b.rank == Rank::Ss;
                k.owners |= flag('p');
                if b.rank == Rank::Ss && flag('e') {
                    k.inodes = true;
                    k.uids = true;
                    b.inodes = true;
                }
            }
        }
        k.all_states = match c {
            Some(c) if b.rank != Rank::ProcNet => c.has('a') && !c.filtered,
            _ => b.rank == Rank::ProcNet || (self.seen_listen && self.seen_other),
        };
        b
    }

    /// The file is read: its sockets and counters join their namespaces, or, when nothing in it
    /// read, why (`head_only`: only its first [`SNIFF_BYTES`] were read).
    fn finish(
        mut self,
        path: &Path,
        first: Option<String>,
        head_only: bool,
    ) -> Result<(), EvidenceError> {
        self.flush();
        if self.taken == 0 {
            let Some(first) = first else {
                return Err(EvidenceError::Empty {
                    path: path.to_path_buf(),
                });
            };
            // Drop the namespace made for nothing.
            let label = self.label.clone();
            self.col
                .namespaces
                .retain(|n| !(n.label == label && n.is_empty()));
            return Err(EvidenceError::Unknown {
                path: path.to_path_buf(),
                why: if head_only {
                    NotEvidence::Head(first)
                } else {
                    NotEvidence::FirstLine(first)
                },
            });
        }
        let mut format = self.formats.join(", ");
        if self.superseded {
            format.push_str(
                " (its sockets left aside: a richer dump of the same namespace was read)",
            );
        }
        self.col.source.files.push(SourceFile {
            path: path.to_path_buf(),
            format,
            taken: self.taken,
            skipped: self.skipped,
        });
        self.col.unread.count += self.unread.count;
        for u in self.unread.first {
            if self.col.unread.first.len() < crate::UNREAD_KEPT {
                self.col.unread.first.push(u);
            }
        }
        Ok(())
    }
}

/// `ss`'s header: `Netid State Recv-Q ...`, `State Recv-Q ...`, or `Recv-Q Send-Q ...` (no State
/// column: a `state` filter).
fn is_ss_header(line: &str) -> bool {
    let t = line.trim_start();
    (t.starts_with("Netid") || t.starts_with("State") || t.starts_with("Recv-Q"))
        && t.contains("Local Address")
}

/// An indented line that is a socket line after all (hand-indented pastes).
fn starts_socket(b: &[u8]) -> bool {
    let t = b.trim_ascii_start();
    t.starts_with(b"tcp ") || t.starts_with(b"udp ") || t.starts_with(b"ESTAB ")
}
