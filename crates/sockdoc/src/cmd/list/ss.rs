//! `sockdoc ss`: the sockets as ss prints them. `[Netid] State Recv-Q Send-Q Local Address:Port
//! Peer Address:Port Process`, the address right-aligned against its port; then, as ss adds them,
//! `users:(("name",pid=N,fd=N),...)` (-p), `timer:(kind,time,retrans)` (-o), `uid:N ino:N sk:HEX`
//! (-e), and a second line of tcp_info (-i).

use std::fmt::Write as _;
use std::io::Write;

use sockdoc_diag::{Family, Socket, TimerKind};

use super::habits::SsFlags;
use super::Who;
use crate::fmt::timer;
use crate::table::Spec;

/// The columns before the last (the process and everything ss appends after it).
const HEADERS: [&str; 8] = [
    "Netid",
    "State",
    "Recv-Q",
    "Send-Q",
    "Local Address:",
    "Port",
    "Peer Address:",
    "Port",
];

/// ss's alignment: addresses right against their port, the rest left; no space after `Address:`.
fn spec(i: usize, header: bool) -> Spec {
    Spec {
        header: if header { HEADERS[i].len() } else { 0 },
        right: matches!(i, 4 | 6),
        flexible: matches!(i, 4 | 6),
        tight: matches!(i, 4 | 6),
    }
}

/// Cell `c` of `s` (`c` < 8; the tail is [`tail`]).
fn cell(out: &mut String, c: usize, s: &Socket) {
    let _ = match c {
        0 => write!(out, "{}", s.proto.name()),
        1 => write!(out, "{}", s.state.ss_name()),
        2 => write!(out, "{}", s.recv_q),
        3 => write!(out, "{}", s.send_q),
        4 | 6 => {
            let ip = if c == 4 { s.local_ip() } else { s.remote_ip() };
            match s.family {
                Family::V4 => write!(out, "{ip}:"),
                Family::V6 => write!(out, "[{ip}]:"),
            }
        }
        _ => match if c == 5 { s.local_port } else { s.remote_port } {
            0 => write!(out, "*"),
            port => write!(out, "{port}"),
        },
    };
}

/// What ss appends after the columns: users, timer, uid/inode/cookie.
fn tail(out: &mut String, flags: SsFlags, s: &Socket, who: Who<'_>) {
    if flags.processes {
        if let Some(o) = who.owners {
            let mut first = true;
            for ow in o.owners(s.inode) {
                out.push_str(if first { "users:((" } else { ",(" });
                first = false;
                let name = o.process(ow.pid).map_or("?", |p| p.name.as_str());
                let _ = write!(out, "\"{name}\",pid={},fd={})", ow.pid, ow.fd);
            }
            if !first {
                out.push(')');
            }
        }
    }
    let sep = |out: &mut String| {
        if !out.is_empty() {
            out.push(' ');
        }
    };
    if flags.timers && s.timer.kind != TimerKind::Off {
        sep(out);
        let _ = write!(out, "timer:({})", timer(&s.timer));
    }
    if flags.extended {
        sep(out);
        if s.uid != 0 {
            let _ = write!(out, "uid:{} ", s.uid);
        }
        let _ = write!(out, "ino:{} sk:{:x}", s.inode, s.cookie);
    }
}

/// The second line of `-i`: the tcp_info sockdoc reads, in ss's words.
fn info_line(out: &mut String, s: &Socket) {
    let Some(t) = s.tcp else {
        return;
    };
    let _ = writeln!(
        out,
        "\t rtt:{:.3} retrans:{}/{} unacked:{} bytes_acked:{} bytes_received:{} lastsnd:{} \
         lastrcv:{} lastack:{}",
        f64::from(t.rtt_us) / 1000.0,
        t.retransmits,
        t.total_retrans,
        t.unacked,
        { t.bytes_acked },
        { t.bytes_received },
        t.last_data_sent_ms,
        t.last_data_recv_ms,
        t.last_ack_recv_ms,
    );
}

/// `sockets` as ss prints them under `flags`; a header line unless `header` is false.
pub fn write(
    out: &mut dyn Write,
    flags: SsFlags,
    sockets: &[Socket],
    who: Who<'_>,
    header: bool,
) -> std::io::Result<()> {
    let first = usize::from(!flags.netid);
    let cols: Vec<usize> = (first..8).collect();
    let specs: Vec<Spec> = cols
        .iter()
        .map(|&c| spec(c, header))
        .chain([Spec {
            header: 0,
            right: false,
            flexible: false,
            tight: false,
        }])
        .collect();
    let mut buf = String::with_capacity(256);
    let mut table = super::text::measure(specs, sockets.len(), |row, i| match cols.get(i) {
        Some(&c) => {
            buf.clear();
            cell(&mut buf, c, &sockets[row]);
            buf.len()
        }
        None => 0,
    });
    let mut line = String::with_capacity(256);
    if header {
        table.start();
        for (i, &c) in cols.iter().enumerate() {
            table.cell(&mut line, i, HEADERS[c]);
        }
        table.cell(&mut line, cols.len(), "Process");
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    for s in sockets {
        line.clear();
        table.start();
        for (i, &c) in cols.iter().enumerate() {
            buf.clear();
            cell(&mut buf, c, s);
            table.cell(&mut line, i, &buf);
        }
        buf.clear();
        tail(&mut buf, flags, s, who);
        table.cell(&mut line, cols.len(), &buf);
        line.push('\n');
        if flags.info {
            info_line(&mut line, s);
        }
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}
